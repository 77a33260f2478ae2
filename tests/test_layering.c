/* test_layering: the layers of the library, read from CMakeLists.txt itself (the
 * FC_LAYER_<layer>_SOURCES and FC_LAYER_<layer>_USES lists, FC_RUNTIME_LAYERS and
 * FC_TUNING_LAYERS, the programs' add_executable lists, and other FC_*_SOURCES lists, whose
 * files belong to their folder's layer: libfftconv_rt's context), checked against the sources:
 *  (a) every .c and .h under src/, cache/ and tuner/ belongs to a layer or a program;
 *  (b) each #include "x.h" of a layer's file resolves, as the compiler resolves it (the
 *      includer's folder, then the folders of the layers it USES), to a header of a layer its
 *      layer USES: the include rule;
 *  (c) no include cycle among modules (x.c, x.h and its private x_int.h);
 *  (d) the runtime layers reach no tuning layer, by their USES lists or by includes;
 *  (e) no file over 800 lines and no function over 150 lines in src/, cache/ and tuner/;
 *  (f) no two source files under src/, cache/, tuner/, tests/, tools/, fuzz/ and bench/
 *      share a name.
 * Each check runs on a model of the tree (struct tree) that the self-tests plant a violation
 * into, so that none of them can pass by checking nothing. When the CMake lists change, the
 * test follows them. The build links the runtime's objects alone into a program as well
 * (runtime-floor), which proves (d) of symbols; this test says which include broke it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAXL = 16, MAXU = 16, MAXF = 256, MAXI = 48, MAXP = 64, FILE_LINES = 800, FN_LINES = 150 };

typedef struct layer {
  char name[32];
  char dir[128];             /* the folder of its sources, relative to the source tree */
  char uses[MAXU][32];
  int nuses;
  char sources[64][128];
  int nsources;
  int runtime, tuning;       /* listed in FC_RUNTIME_LAYERS / FC_TUNING_LAYERS */
} layer;

typedef struct file {
  char path[160];  /* relative: src/runtime/plan.c */
  char dir[128];
  char name[64];   /* plan.c */
  char module[64]; /* plan (x_int.h is module x) */
  int layer;       /* index, PROGRAM, or NONE */
  int lines;
  char inc[MAXI][64];
  int ninc;
  int to[MAXI];    /* the file each include resolves to, -1 if none in the tree */
  int off[MAXI];   /* found only off the include path (another folder of the tree) */
} file;
enum { PROGRAM = -2, NONE = -1 };

typedef struct tree {
  layer l[MAXL];
  int nl;
  char programs[MAXP][160]; /* the sources of add_executable, relative */
  int np;
  char extra[MAXP][160];    /* other FC_*_SOURCES lists (libfftconv_rt's context): their
                               folder's layer */
  int nx;
  file f[MAXF];
  int nf;
} tree;

/* Violations, one a line. */
typedef struct report {
  int n;
  char text[8192];
} report;

static void say(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(report *r, const char *fmt, ...) {
  size_t k = strlen(r->text);
  va_list ap;
  va_start(ap, fmt);
  if (k + 2 < sizeof r->text) {
    r->text[k++] = '\n';
    vsnprintf(r->text + k, sizeof r->text - k, fmt, ap);
  }
  va_end(ap);
  r->n++;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_not_null(s);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

/* ---- CMakeLists.txt ---- */

static layer *layer_named(tree *t, const char *name, int add) {
  for (int i = 0; i < t->nl; i++)
    if (!strcmp(t->l[i].name, name)) return &t->l[i];
  if (!add) return NULL;
  cr_assert_lt(t->nl, MAXL);
  layer *l = &t->l[t->nl++];
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  return l;
}

/* One command's arguments: what follows "cmd(" up to ")", split at white space. */
static int args(const char *p, char out[][128], int max) {
  int n = 0;
  while (*p && *p != ')') {
    p += strspn(p, " \t\r\n");
    size_t w = strcspn(p, " \t\r\n)");
    if (w && n < max) snprintf(out[n++], 128, "%.*s", (int)w, p);
    p += w;
  }
  return n;
}

static void take_set(tree *t, char a[][128], int n) {
  const char *v = a[0];
  size_t k = strlen(v);
  if (!strcmp(v, "FC_RUNTIME_LAYERS") || !strcmp(v, "FC_TUNING_LAYERS")) {
    for (int i = 1; i < n; i++) {
      layer *l = layer_named(t, a[i], 1);
      if (v[3] == 'R') l->runtime = 1;
      else l->tuning = 1;
    }
    return;
  }
  if (strncmp(v, "FC_LAYER_", 9)) {
    if (!strncmp(v, "FC_", 3) && k > 11 && !strcmp(v + k - 8, "_SOURCES"))
      for (int i = 1; i < n; i++)
        if (a[i][0] != '$' && t->nx < MAXP) snprintf(t->extra[t->nx++], 160, "%s", a[i]);
    return;
  }
  int src = k > 17 && !strcmp(v + k - 8, "_SOURCES"), uses = k > 14 && !strcmp(v + k - 5, "_USES");
  if (!src && !uses) return;
  char name[32];
  snprintf(name, sizeof name, "%.*s", (int)(k - 9 - (src ? 8 : 5)), v + 9);
  layer *l = layer_named(t, name, 1);
  for (int i = 1; i < n; i++) {
    if (a[i][0] == '$') continue; /* generated in the build directory */
    if (uses && l->nuses < MAXU) snprintf(l->uses[l->nuses++], 32, "%s", a[i]);
    if (src && l->nsources < 64) snprintf(l->sources[l->nsources++], 128, "%s", a[i]);
  }
  if (src && l->nsources) {
    const char *s = l->sources[0], *slash = strrchr(s, '/');
    snprintf(l->dir, sizeof l->dir, "%.*s", slash ? (int)(slash - s) : 1, slash ? s : ".");
  }
}

/* The layers and programs of a CMakeLists.txt text (comments dropped). */
static void parse_cmake(tree *t, const char *text) {
  t->nl = t->np = t->nx = 0;
  char *s = strdup(text);
  cr_assert_not_null(s);
  for (char *c = s; *c; c++)
    if (*c == '#')
      while (*c && *c != '\n') *c++ = ' ';
  static char a[256][128];
  for (const char *p = s; (p = strpbrk(p, "sa"));) {
    int set = !strncmp(p, "set(", 4), exe = !strncmp(p, "add_executable(", 15);
    int start = p == s || strchr(" \t\r\n", p[-1]);
    if (!start || (!set && !exe)) {
      p++;
      continue;
    }
    p += set ? 4 : 15;
    int n = args(p, a, 256);
    if (set && n) take_set(t, a, n);
    for (int i = 1; exe && i < n; i++)
      if (t->np < MAXP && strlen(a[i]) > 2 && !strcmp(a[i] + strlen(a[i]) - 2, ".c"))
        snprintf(t->programs[t->np++], 160, "%s", a[i]);
  }
  free(s);
}

/* ---- the files ---- */

static int ends(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static int find_file(const tree *t, const char *dir, const char *name) {
  for (int i = 0; i < t->nf; i++)
    if (!strcmp(t->f[i].dir, dir) && !strcmp(t->f[i].name, name)) return i;
  return -1;
}

static int uses(const tree *t, int from, int to) {
  if (from == to) return 1;
  for (int u = 0; u < t->l[from].nuses; u++)
    if (!strcmp(t->l[from].uses[u], t->l[to].name)) return 1;
  return 0;
}

/* Adds a file of the tree with its text: its lines and includes. */
static file *add_file(tree *t, const char *path, const char *text) {
  cr_assert_lt(t->nf, MAXF);
  file *f = &t->f[t->nf++];
  memset(f, 0, sizeof *f);
  snprintf(f->path, sizeof f->path, "%s", path);
  const char *slash = strrchr(path, '/');
  snprintf(f->dir, sizeof f->dir, "%.*s", (int)(slash - path), path);
  snprintf(f->name, sizeof f->name, "%s", slash + 1);
  size_t n = strlen(f->name) - 2;
  if (n > 4 && !strncmp(f->name + n - 4, "_int", 4)) n -= 4;
  memcpy(f->module, f->name, n < sizeof f->module ? n : sizeof f->module - 1);
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
    f->lines++;
    char inc[64];
    if (sscanf(line, " # include \"%63[^\"]\"", inc) == 1 && f->ninc < MAXI)
      snprintf(f->inc[f->ninc++], 64, "%s", inc);
    p = nl ? nl + 1 : p + strlen(p);
  }
  return f;
}

/* Each file's layer: its .c listed in a layer's sources or a program's, a header with its
   .c's, else its folder's layer (or program). Then each include resolved. */
static void assign(tree *t) {
  for (int i = 0; i < t->nf; i++) {
    file *f = &t->f[i];
    f->layer = NONE;
    char c[160];
    snprintf(c, sizeof c, "%.*s.c", (int)strlen(f->path) - 2, f->path);
    if (ends(f->name, "_int.h")) snprintf(c, sizeof c, "%.*s.c", (int)strlen(f->path) - 6, f->path);
    for (int l = 0; l < t->nl && f->layer == NONE; l++)
      for (int k = 0; k < t->l[l].nsources; k++)
        if (!strcmp(t->l[l].sources[k], f->path) || !strcmp(t->l[l].sources[k], c)) f->layer = l;
    for (int p = 0; p < t->np && f->layer == NONE; p++)
      if (!strcmp(t->programs[p], f->path) || !strcmp(t->programs[p], c)) f->layer = PROGRAM;
    int extra = 0;
    for (int x = 0; x < t->nx; x++) extra |= !strcmp(t->extra[x], f->path);
    if (f->layer != NONE || (ends(f->name, ".c") && !extra)) continue;
    for (int l = 0; l < t->nl && f->layer == NONE; l++)
      if (!strcmp(t->l[l].dir, f->dir)) f->layer = l;
    for (int p = 0; p < t->np && f->layer == NONE; p++)
      if (!strncmp(t->programs[p], f->dir, strlen(f->dir)) &&
          t->programs[p][strlen(f->dir)] == '/' && !strchr(t->programs[p] + strlen(f->dir) + 1, '/'))
        f->layer = PROGRAM;
  }
  /* as the compiler does: the includer's folder, then its include directories (the folders
     of the layers its layer USES; a program sees every layer) */
  for (int i = 0; i < t->nf; i++) {
    file *f = &t->f[i];
    for (int k = 0; k < f->ninc; k++) {
      int to = find_file(t, f->dir, f->inc[k]);
      for (int l = 0; l < t->nl && to < 0 && f->layer != NONE; l++)
        if (f->layer == PROGRAM || uses(t, f->layer, l)) to = find_file(t, t->l[l].dir, f->inc[k]);
      f->off[k] = to < 0;
      for (int j = 0; j < t->nf && to < 0; j++)
        if (!strcmp(t->f[j].name, f->inc[k])) to = j; /* in the tree, off the include path */
      f->to[k] = to;
    }
  }
}

static void walk(tree *t, const char *root, const char *rel, int recurse) {
  char dpath[700];
  snprintf(dpath, sizeof dpath, "%s/%s", root, rel);
  DIR *d = opendir(dpath);
  cr_assert(d, "%s", dpath);
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char r[160], full[700];
    if ((size_t)snprintf(r, sizeof r, "%s/%.100s", rel, e->d_name) >= sizeof r) continue;
    snprintf(full, sizeof full, "%s/%s", root, r);
    struct stat st;
    if (stat(full, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (recurse) walk(t, root, r, 1);
      continue;
    }
    if (!ends(e->d_name, ".c") && !ends(e->d_name, ".h")) continue;
    char *text = slurp(full);
    cr_assert_not_null(text, "%s", full);
    add_file(t, r, text);
    free(text);
  }
  closedir(d);
}

/* The tree of SOURCE_DIR: its CMake lists, and every .c and .h of src/, cache/ and tuner/. */
static tree *load(void) {
  static tree t;
  memset(&t, 0, sizeof t);
  char *cm = slurp(SOURCE_DIR "/CMakeLists.txt");
  cr_assert_not_null(cm);
  parse_cmake(&t, cm);
  free(cm);
  walk(&t, SOURCE_DIR, "src", 1);
  walk(&t, SOURCE_DIR, "cache", 1);
  walk(&t, SOURCE_DIR, "tuner", 1);
  assign(&t);
  return &t;
}

/* ---- the checks ---- */

/* (a) and the lists themselves: every layer has sources, a folder and a side. */
static void check_membership(const tree *t, report *r) {
  for (int l = 0; l < t->nl; l++)
    if (!t->l[l].nsources || t->l[l].runtime == t->l[l].tuning)
      say(r, "layer %s: %s", t->l[l].name,
          !t->l[l].nsources ? "no FC_LAYER_*_SOURCES"
                            : "must be in exactly one of FC_RUNTIME_LAYERS and FC_TUNING_LAYERS");
  for (int i = 0; i < t->nf; i++)
    if (t->f[i].layer == NONE)
      say(r, "%s belongs to no layer's FC_LAYER_*_SOURCES (or its folder) and no program",
          t->f[i].path);
}

/* (b) the include rule: what a layer's file includes is a header of a layer it USES (a
   program may include any layer's headers, and its own folder's). */
static void check_includes(const tree *t, report *r) {
  for (int i = 0; i < t->nf; i++) {
    const file *f = &t->f[i];
    for (int k = 0; k < f->ninc; k++) {
      int to = f->to[k];
      if (to < 0 || f->layer == NONE) continue; /* a generated or system header; a stray */
      const file *h = &t->f[to];
      if (!f->off[k] && (f->layer == PROGRAM || (h->layer >= 0 && uses(t, f->layer, h->layer))))
        continue;
      char list[256] = "";
      for (int u = 0; f->layer >= 0 && u < t->l[f->layer].nuses; u++)
        snprintf(list + strlen(list), sizeof list - strlen(list), " %s", t->l[f->layer].uses[u]);
      say(r, "%s (%s) includes \"%s\" (%s, %s), which is not in a layer it USES (%s%s)",
          f->path, f->layer >= 0 ? t->l[f->layer].name : "a program", f->inc[k], h->path,
          h->layer >= 0 ? t->l[h->layer].name : h->layer == PROGRAM ? "a program" : "no layer",
          f->layer >= 0 ? "USES:" : "a program's own folder and the layers", list);
    }
  }
}

/* Modules and their edges, for (c). */
static int module_of(const tree *t, int i, char names[][64], int *nm) {
  for (int m = 0; m < *nm; m++)
    if (!strcmp(names[m], t->f[i].module)) return m;
  snprintf(names[*nm], 64, "%s", t->f[i].module);
  return (*nm)++;
}

static int dfs(int v, int nm, unsigned char edge[][MAXF], int *state, int *stack, int *depth,
               char names[][64], char *path, size_t len) {
  state[v] = 1;
  stack[(*depth)++] = v;
  for (int w = 0; w < nm; w++) {
    if (!edge[v][w]) continue;
    if (state[w] == 1) {
      int k = 0;
      while (stack[k] != w) k++;
      for (; k < *depth; k++)
        snprintf(path + strlen(path), len - strlen(path), "%s -> ", names[stack[k]]);
      snprintf(path + strlen(path), len - strlen(path), "%s", names[w]);
      return 1;
    }
    if (!state[w] && dfs(w, nm, edge, state, stack, depth, names, path, len)) return 1;
  }
  (*depth)--;
  state[v] = 2;
  return 0;
}

/* (c) no include cycle; extra: one more edge "a" -> "b" between modules (the self-test). */
static void check_cycles(const tree *t, const char *extra_a, const char *extra_b, report *r) {
  static char names[MAXF][64];
  static unsigned char edge[MAXF][MAXF];
  int nm = 0, state[MAXF] = {0}, stack[MAXF], depth = 0;
  memset(edge, 0, sizeof edge);
  int a = -1, b = -1;
  for (int i = 0; i < t->nf; i++) {
    int from = module_of(t, i, names, &nm);
    if (extra_a && !strcmp(names[from], extra_a)) a = from;
    if (extra_b && !strcmp(names[from], extra_b)) b = from;
    for (int k = 0; k < t->f[i].ninc; k++)
      if (t->f[i].to[k] >= 0) {
        int to = module_of(t, t->f[i].to[k], names, &nm);
        if (to != from) edge[from][to] = 1;
      }
  }
  if (a >= 0 && b >= 0) edge[a][b] = 1;
  char path[2048] = "";
  for (int v = 0; v < nm; v++)
    if (!state[v] && dfs(v, nm, edge, state, stack, &depth, names, path, sizeof path)) {
      say(r, "include cycle: %s", path);
      return;
    }
}

/* (d) the runtime layers reach no tuning layer: by USES, and by what their files include. */
static void check_runtime(const tree *t, report *r) {
  for (int l = 0; l < t->nl; l++) {
    if (!t->l[l].runtime) continue;
    for (int u = 0; u < t->nl; u++)
      if (t->l[u].tuning && uses(t, l, u))
        say(r, "runtime layer %s USES tuning layer %s", t->l[l].name, t->l[u].name);
  }
  for (int i = 0; i < t->nf; i++) {
    if (t->f[i].layer < 0 || !t->l[t->f[i].layer].runtime) continue;
    int seen[MAXF] = {0}, queue[MAXF], qh = 0, qt = 0, by[MAXF];
    seen[i] = 1;
    queue[qt++] = i;
    while (qh < qt) {
      int v = queue[qh++];
      for (int k = 0; k < t->f[v].ninc; k++) {
        int w = t->f[v].to[k];
        if (w < 0 || seen[w]) continue;
        seen[w] = 1, by[w] = v, queue[qt++] = w;
        if (t->f[w].layer >= 0 && t->l[t->f[w].layer].tuning) {
          say(r, "runtime file %s reaches %s (tuning layer %s), included by %s", t->f[i].path,
              t->f[w].path, t->l[t->f[w].layer].name, t->f[by[w]].path);
          return;
        }
      }
    }
  }
}

/* Functions over max lines in text: a definition starting at column 0 (an identifier, then a
   '(' before the line that ends with '{'), its body ending at a '}' at column 0. */
static void long_functions(const char *path, const char *text, int max, report *r) {
  int ln = 0, cand = -1, body = -1;
  char name[64] = "";
  for (const char *p = text; *p; ln++) {
    const char *nl = strchr(p, '\n');
    int n = (int)(nl ? nl - p : (long)strlen(p));
    while (n > 0 && strchr(" \t\r", p[n - 1])) n--;
    if (body >= 0) {
      if (p[0] == '}') {
        if (ln - body + 1 > max) say(r, "%s: %s() is %d lines (at most %d)", path, name,
                                     ln - body + 1, max);
        body = cand = -1;
      }
    } else {
      const char *paren = memchr(p, '(', (size_t)n);
      if (cand < 0 && n && (p[0] == '_' || (p[0] >= 'a' && p[0] <= 'z') ||
                            (p[0] >= 'A' && p[0] <= 'Z')) && paren && strncmp(p, "typedef", 7)) {
        const char *s = paren;
        while (s > p && s[-1] == ' ') s--;
        const char *e = s;
        while (s > p && (s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z') ||
                         (s[-1] >= 'A' && s[-1] <= 'Z') || (s[-1] >= '0' && s[-1] <= '9')))
          s--;
        snprintf(name, sizeof name, "%.*s", (int)(e - s), s);
        cand = ln;
      }
      if (cand >= 0 && n && p[n - 1] == '{') body = cand;
      else if (cand >= 0 && (!n || p[n - 1] == ';' || p[n - 1] == '}')) cand = -1;
    }
    p = nl ? nl + 1 : p + strlen(p);
  }
}

/* (e) the sizes. */
static void check_sizes(const tree *t, report *r) {
  for (int i = 0; i < t->nf; i++) {
    if (t->f[i].lines > FILE_LINES)
      say(r, "%s is %d lines (at most %d)", t->f[i].path, t->f[i].lines, FILE_LINES);
    char full[700];
    snprintf(full, sizeof full, "%s/%s", SOURCE_DIR, t->f[i].path);
    char *text = slurp(full);
    if (!text) continue; /* planted by a self-test */
    long_functions(t->f[i].path, text, FN_LINES, r);
    free(text);
  }
}

/* (f) a source file's name is unique across the folders of the project's C. */
static void check_names(const tree *t, report *r) {
  for (int i = 0; i < t->nf; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(t->f[i].name, t->f[j].name))
        say(r, "%s and %s share a name", t->f[j].path, t->f[i].path);
}

static tree *load_all_names(void) {
  static tree t;
  memset(&t, 0, sizeof t);
  static const char *const dirs[] = {"src", "cache", "tuner", "tests", "tools", "fuzz", "bench"};
  for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) walk(&t, SOURCE_DIR, dirs[d], 1);
  return &t;
}

/* ---- the tree as it is ---- */

Test(layering, the_cmake_lists_are_read) {
  tree *t = load();
  cr_assert_geq(t->nl, 5, "only %d layers in CMakeLists.txt", t->nl);
  int rt = 0, tu = 0, files = 0;
  for (int l = 0; l < t->nl; l++) rt += t->l[l].runtime, tu += t->l[l].tuning;
  for (int i = 0; i < t->nf; i++) files += t->f[i].layer >= 0;
  cr_assert(rt && tu, "no runtime or no tuning layer listed");
  cr_assert_gt(files, 40, "only %d files in layers", files);
  layer *runtime = layer_named(t, "runtime", 0);
  cr_assert(runtime && runtime->runtime && !strcmp(runtime->dir, "src/runtime"));
  cr_assert_gt(t->np, 2, "the programs' add_executable lists were not read");
}

Test(layering, every_file_belongs_to_a_layer_or_program) {
  report r = {0};
  check_membership(load(), &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, includes_follow_the_uses_lists) {
  report r = {0};
  check_includes(load(), &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, no_include_cycle) {
  report r = {0};
  check_cycles(load(), NULL, NULL, &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, runtime_reaches_no_tuning_layer) {
  report r = {0};
  check_runtime(load(), &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, no_file_over_800_lines_or_function_over_150) {
  report r = {0};
  check_sizes(load(), &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, no_two_source_files_share_a_name) {
  report r = {0};
  tree *t = load_all_names();
  cr_assert_gt(t->nf, 80);
  check_names(t, &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

/* ---- each check finds a violation planted into the model ---- */

static const char planted_cmake[] =
    "# a comment: set(FC_LAYER_ghost_SOURCES ghost/g.c)\n"
    "set(FC_LAYER_low_SOURCES src/low/a.c src/low/b.c ${GENERATED_C})\n"
    "set(FC_LAYER_low_USES low)\n"
    "set(FC_LAYER_high_SOURCES src/high/h.c)\n"
    "set(FC_LAYER_high_USES high low)\n"
    "set(FC_RUNTIME_LAYERS low)\n"
    "set(FC_TUNING_LAYERS high)\n"
    "add_executable(prog tools_x/main.c\n  tools_x/opts.c)\n";

static tree *planted(void) {
  static tree t;
  memset(&t, 0, sizeof t);
  parse_cmake(&t, planted_cmake);
  add_file(&t, "src/low/a.c", "#include \"a.h\"\n#include \"b.h\"\n#include <stdio.h>\n");
  add_file(&t, "src/low/a.h", "#include \"generated.h\"\n");
  add_file(&t, "src/low/b.c", "#include \"b.h\"\n");
  add_file(&t, "src/low/b.h", "");
  add_file(&t, "src/high/h.c", "#include \"h.h\"\n#include \"a.h\"\n");
  add_file(&t, "src/high/h.h", "");
  add_file(&t, "tools_x/main.c", "#include \"opts.h\"\n#include \"h.h\"\n");
  add_file(&t, "tools_x/opts.c", "#include \"opts.h\"\n");
  add_file(&t, "tools_x/opts.h", "");
  return &t;
}

static void all_checks(tree *t, report *r) {
  assign(t);
  check_membership(t, r);
  check_includes(t, r);
  check_cycles(t, NULL, NULL, r);
  check_runtime(t, r);
  check_names(t, r);
}

Test(layering, the_planted_tree_is_clean) {
  tree *t = planted();
  cr_assert_eq(t->nl, 2, "the comment's layer was read, or a layer missed");
  cr_assert_str_eq(t->l[0].dir, "src/low");
  cr_assert_eq(t->l[0].nsources, 2, "${...} is generated, not a source");
  cr_assert_eq(t->np, 2);
  report r = {0};
  all_checks(t, &r);
  cr_assert_eq(r.n, 0, "%s", r.text);
}

Test(layering, a_planted_stray_file_is_found) {
  tree *t = planted();
  add_file(t, "src/low/stray.c", "");
  add_file(t, "src/nowhere/n.h", "");
  report r = {0};
  all_checks(t, &r);
  cr_assert(r.n == 2 && strstr(r.text, "src/low/stray.c belongs to no layer") &&
                strstr(r.text, "src/nowhere/n.h belongs to no layer"), "%s", r.text);
}

Test(layering, a_planted_include_against_the_rule_is_found) {
  tree *t = planted();
  add_file(t, "src/low/c.h", "#include \"h.h\"\n"); /* low does not USE high */
  report r = {0};
  assign(t);
  check_includes(t, &r);
  cr_assert(r.n == 1 && strstr(r.text, "src/low/c.h (low) includes \"h.h\" (src/high/h.h, high)"),
            "%s", r.text);
}

Test(layering, a_planted_cycle_is_found) {
  tree *t = planted();
  report r = {0};
  assign(t);
  check_cycles(t, "b", "a", &r); /* a includes b; plant b -> a */
  cr_assert(r.n == 1 && strstr(r.text, "include cycle: ") && strstr(r.text, "a -> b -> a"),
            "%s", r.text);
}

Test(layering, a_planted_runtime_reach_is_found) {
  tree *t = planted();
  snprintf(t->l[0].uses[t->l[0].nuses++], 32, "high"); /* low USES high */
  add_file(t, "src/low/d.c", "#include \"h.h\"\n");
  snprintf(t->l[0].sources[t->l[0].nsources++], 128, "src/low/d.c");
  report r = {0};
  assign(t);
  check_runtime(t, &r);
  cr_assert(r.n == 2 && strstr(r.text, "runtime layer low USES tuning layer high") &&
                strstr(r.text, "runtime file src/low/d.c reaches src/high/h.h (tuning layer "
                               "high), included by src/low/d.c"), "%s", r.text);
}

Test(layering, planted_long_functions_are_found) {
  char *text = malloc(64 * 1024);
  cr_assert_not_null(text);
  size_t k = (size_t)sprintf(text, "static int ok(void) {\n  return 0;\n}\n"
                                   "int proto(int a,\n          int b);\n"
                                   "static const struct { int (*f)(void); } table[] = {\n"
                                   "    {ok},\n};\n"
                                   "static int\nlong_one(int a,\n         int b) {\n");
  for (int i = 0; i < 148; i++) k += (size_t)sprintf(text + k, "  a += b;\n");
  k += (size_t)sprintf(text + k, "}\nint fits(void) {\n");
  for (int i = 0; i < 148; i++) k += (size_t)sprintf(text + k, "  x();\n");
  sprintf(text + k, "}\n");
  report r = {0};
  long_functions("planted.c", text, FN_LINES, &r);
  /* long_one: 2 lines of signature from column 0, 148 of body, the brace: 151; fits: 150 */
  cr_assert(r.n == 1 && strstr(r.text, "planted.c: long_one() is 151 lines (at most 150)"),
            "%s", r.text);
  free(text);
}

Test(layering, a_planted_long_file_and_shared_name_are_found) {
  tree *t = planted();
  t->f[0].lines = FILE_LINES + 1;
  add_file(t, "src/high/a.c", "");
  snprintf(t->l[1].sources[t->l[1].nsources++], 128, "src/high/a.c");
  report r = {0};
  check_sizes(t, &r);
  check_names(t, &r);
  cr_assert(r.n == 2 && strstr(r.text, "src/low/a.c is 801 lines (at most 800)") &&
                strstr(r.text, "src/low/a.c and src/high/a.c share a name"), "%s", r.text);
}
