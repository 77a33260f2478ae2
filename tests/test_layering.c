/* test_layering: the module structure of src/ and cache/, read from the sources.
 *  - no cycle among modules (a module is x.h with x.c and its private x_int.h; an edge is an
 *    #include "y.h");
 *  - the runtime (plans, the launcher, store lookups and what they stand on) reaches no
 *    module of the tuning side (Lua, NVRTC, the reference, verification, search, policies);
 *  - no file in src/ or cache/ is over 800 lines.
 * The build links the runtime's objects alone into a program as well (runtime-floor), which
 * proves the same of symbols; this test says which include broke the rule. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXM 96

/* The runtime: what an application that plans from a cache needs. */
static const char *const runtime[] = {"fftconv", "util", "problem", "shape", "rigor", "kernel", "manifest",
                                      "json", "templates", "gpu", "launch", "plan", "store_if", "cache", "schema",
                                      "lookup", "store", "cache_store", "rank", "trusted", "db", "columns", "history", "admin",
                                      "bundle", "bundle_file", "ctx_rt", NULL};
/* What the runtime must not reach. */
static const char *const upper[] = {"emit", "pattern", "compile", "reference", "verify",
                                    "sample", "search", "candidate", "policy", "source", NULL};

static char names[MAXM][64];
static int nm;
static unsigned char edge[MAXM][MAXM];
static int lines_over;
static char over[4096];

/* x_int.h is the private header of module x: part of it. */
static int module(const char *file_base) {
  char name[64];
  size_t n = strlen(file_base);
  snprintf(name, sizeof name, "%.*s", (int)(n > 4 && !strcmp(file_base + n - 4, "_int") ? n - 4 : n),
           file_base);
  for (int i = 0; i < nm; i++)
    if (!strcmp(names[i], name)) return i;
  cr_assert_lt(nm, MAXM);
  snprintf(names[nm], sizeof names[nm], "%s", name);
  return nm++;
}

static void scan_file(const char *dir, const char *file) {
  size_t n = strlen(file);
  if (n < 3 || (strcmp(file + n - 2, ".c") && strcmp(file + n - 2, ".h"))) return;
  char path[1024], base[64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  snprintf(base, sizeof base, "%.*s", (int)(n - 2), file);
  if (!strcmp(base, "fftconv_cache") || !strcmp(base, "fftconv_tune"))
    return; /* programs, not modules */
  int from = module(base);
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s", path);
  char line[4096];
  int count = 0;
  while (fgets(line, sizeof line, f)) {
    count++;
    char inc[64];
    if (sscanf(line, "#include \"%63[^.\"].h\"", inc) == 1) {
      int to = module(inc);
      if (to != from) edge[from][to] = 1;
    }
  }
  fclose(f);
  if (count > 800) {
    lines_over++;
    snprintf(over + strlen(over), sizeof over - strlen(over), " %s (%d)", path, count);
  }
}

static void scan(void) {
  static const char *const dirs[] = {SOURCE_DIR "/src/runtime", SOURCE_DIR "/src/store",
                                     SOURCE_DIR "/src/emit",    SOURCE_DIR "/src/compile",
                                     SOURCE_DIR "/src/tune",    SOURCE_DIR "/src/export",
                                     SOURCE_DIR "/cache"};
  nm = 0;
  memset(edge, 0, sizeof edge);
  for (int d = 0; d < (int)(sizeof dirs / sizeof *dirs); d++) {
    DIR *dh = opendir(dirs[d]);
    cr_assert(dh, "%s", dirs[d]);
    for (struct dirent *de; (de = readdir(dh));) scan_file(dirs[d], de->d_name);
    closedir(dh);
  }
}

static int in(const char *const *list, const char *name) {
  for (; *list; list++)
    if (!strcmp(*list, name)) return 1;
  return 0;
}

/* Depth-first search for a cycle; on finding one, its path in `path`. */
static int state[MAXM], stack[MAXM], depth;
static int dfs(int v, char *path, size_t len) {
  state[v] = 1;
  stack[depth++] = v;
  for (int w = 0; w < nm; w++) {
    if (!edge[v][w]) continue;
    if (state[w] == 1) {
      int k = 0;
      while (stack[k] != w) k++;
      for (; k < depth; k++) snprintf(path + strlen(path), len - strlen(path), "%s -> ", names[stack[k]]);
      snprintf(path + strlen(path), len - strlen(path), "%s", names[w]);
      return 1;
    }
    if (!state[w] && dfs(w, path, len)) return 1;
  }
  depth--;
  state[v] = 2;
  return 0;
}

Test(layering, no_include_cycle) {
  scan();
  int edges = 0;
  for (int i = 0; i < nm; i++)
    for (int j = 0; j < nm; j++) edges += edge[i][j];
  cr_assert_gt(nm, 15, "only %d modules found: is SOURCE_DIR right?", nm);
  cr_assert_gt(edges, 20);
  memset(state, 0, sizeof state);
  depth = 0;
  char path[2048] = "";
  for (int v = 0; v < nm; v++)
    if (!state[v]) cr_assert(!dfs(v, path, sizeof path), "include cycle: %s", path);
}

Test(layering, runtime_reaches_no_tuning_module) {
  scan();
  int nrt = 0;
  for (int v = 0; v < nm; v++) {
    if (!in(runtime, names[v])) continue;
    nrt++;
    /* everything v reaches; the message names the module that includes the upper one */
    int seen[MAXM] = {0}, queue[MAXM], qh = 0, qt = 0;
    seen[v] = 1;
    queue[qt++] = v;
    while (qh < qt) {
      int u = queue[qh++];
      for (int w = 0; w < nm; w++)
        if (edge[u][w] && !seen[w]) {
          seen[w] = 1;
          queue[qt++] = w;
          cr_assert(!in(upper, names[w]), "runtime module %s reaches %s (included by %s)",
                    names[v], names[w], names[u]);
        }
    }
  }
  cr_assert_geq(nrt, 8, "only %d runtime modules found", nrt);
}

Test(layering, no_file_over_800_lines) {
  scan();
  cr_assert_eq(lines_over, 0, "over 800 lines:%s", over);
}

/* The checker itself: a cycle planted in the graph is found. */
Test(layering, a_planted_cycle_is_found) {
  scan();
  int a = module("plan"), b = module("search");
  edge[a][b] = edge[b][a] = 1;
  memset(state, 0, sizeof state);
  depth = 0;
  char path[2048] = "";
  int found = 0;
  for (int v = 0; v < nm && !found; v++)
    if (!state[v]) found = dfs(v, path, sizeof path);
  cr_assert(found && strstr(path, "plan") && strstr(path, "search"), "%s", path);
}
