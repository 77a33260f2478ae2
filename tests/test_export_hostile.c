/* fftconv-cache export against careless and hostile input (issue 17), without a GPU.
 *
 * One small cache (a kernel NVRTC compiled for sm_90, with its PTX: no export here compiles)
 * and one bundle exported from it (the prototype of "an earlier bundle") serve:
 *  - the sweep: a table of bad inputs (flags, names, paths, what is at --out and --c-source),
 *    each run in a directory of its own and checked for its exit status, its message, that no
 *    file in that directory changed (a snapshot of names, kinds, modes, inodes, sizes, times
 *    and contents before and after) and that no .partial-/.old- name is left; and the good
 *    inputs beside them (--out DIR/, --force over an earlier bundle or an empty directory,
 *    C names that compile with -Wall -Werror), each leaving exactly what it names changed;
 *  - the races: an export paused just before its renames (FFTCONV_EXPORT_TEST_PAUSE) while
 *    another export, or a file, takes its --out or --c-source; two exports started together;
 *    both with and without renameat2's flags (FFTCONV_EXPORT_TEST_NO_RENAMEAT2);
 *  - signals: SIGTERM, SIGINT and SIGHUP sent to a paused export, which leaves nothing;
 *  - what a cache row carries into the files: a template name holding C code, parameters
 *    that are not a JSON object. */
#include <criterion/criterion.h>

#include "run_tool.h"
#include "tree.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "gpu.h"
#include "trusted.h"
#include "util.h"

static char dir[64], cache_db[128], proto[128], proto_c[128];


static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-hostile-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(cache_db, sizeof cache_db, "%s/cache.db", dir);
  snprintf(proto, sizeof proto, "%s/proto", dir);
  snprintf(proto_c, sizeof proto_c, "%s/proto.c", dir);
}

static void teardown(void) { rm_tree(dir); }

TestSuite(export_hostile, .init = setup, .fini = teardown);

static const char *tool(void) {
  const char *bin = getenv("FFTCONV_CACHE_BIN");
  return bin ? bin : CACHE_BIN;
}

/* ---- the cache and the prototype bundle ---- */

/* A cache at db with one winner: monarch_fp32's default kernel for an H200, compiled for
   sm_90 with its PTX. */
static void small_cache(const char *db) {
  char nvrtc[16];
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  snprintf(d.name, sizeof d.name, "NVIDIA H200");
  d.driver_version = 13000;
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 2;
  p.heads = 4;
  p.seqlen = 1024;
  p.dtype = FFTCONV_FP32;
  p.mode = FFTCONV_CIRCULAR;
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "monarch_fp32", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  fc_kernel_src src = {0};
  cr_assert_eq(fc_emit_kernel(m, "monarch_fp32", params, &d, &src, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
  fc_binary bin = {0};
  cr_assert_eq(fc_compile(src.source, src.name, "sm_90", 1, &bin, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache *c = NULL;
  cr_assert_eq(fc_cache_open(db, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = src.info.revision,
                       .hash = src.info.hash, .params = params, .sm = 90, .nvrtc = nvrtc,
                       .source = src.source, .cubin = bin.cubin, .cubin_size = bin.cubin_size,
                       .ptx = bin.ptx, .log = "", .manifest = src.manifest};
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config cfg = {&d, 90, nvrtc};
  fc_cache_measurement ms = {.problem = &p, .kernel_id = id, .status = "ok", .median_ms = 0.5,
                             .p10_ms = 0.5, .p90_ms = 0.5, .runs = 20, .rel_err = 1e-5,
                             .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &ms, &e), FFTCONV_OK, "%s", e.msg);
  int64_t kid = 0;
  cr_assert_eq(fc_cache_update_winner(c, &cfg, &p, &k.hash, 1, &kid, &e), FFTCONV_OK, "%s",
               e.msg);
  cr_assert_eq(kid, id);
  fc_cache_close(c);
  free(params);
  fc_kernel_src_free(&src);
  fc_binary_free(&bin);
}

/* Runs "cd cwd && [env] fftconv-cache --cache db export ARGS" (killed after 60 s: a hang is a
   failure) into out; returns its exit status (124: it hung). */
static int export_in(const char *cwd, const char *env, const char *db, const char *args,
                     char *out, size_t len) {
  char cmd[16384];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s timeout 60 %s --cache %s export %s 2>&1", cwd,
           env ? env : "", tool(), db, args);
  FILE *f = popen(cmd, "r");
  cr_assert(f, "popen %s", cmd);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_proto(void) {
  small_cache(cache_db);
  static char out[16384];
  char args[512];
  snprintf(args, sizeof args, "--out %s --c-source %s", proto, proto_c);
  cr_assert_eq(export_in(dir, NULL, cache_db, args, out, sizeof out), 0, "%s", out);
}

/* ---- what a directory holds ---- */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line an entry under root (rel its path there), sorted: kind, mode, inode, and for a
   file its size, time and FNV-1a of its bytes, for a link its target. A directory's times are
   left out (export may add and remove its own temporary names in it), and so are those
   temporary names (leftover() looks for them), and skip's names ("b,x.c", relative to root, or
   NULL) and what is under them. */
static int skipped(const char *rel, const char *skip);

static void snap(const char *root, const char *rel, const char *skip, fc_str *out) {
  char path[2048];
  snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
  DIR *d = opendir(path);
  cr_assert(d, "%s: %s", path, strerror(errno));
  char *names[512];
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 512)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) names[n++] = strdup(de->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_names);
  for (int i = 0; i < n; i++) {
    char r[2048], p[4096];
    snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
    free(names[i]);
    if (skipped(r, skip) || strstr(r, ".partial-")) continue;
    snprintf(p, sizeof p, "%s/%s", root, r);
    struct stat sb;
    cr_assert_eq(lstat(p, &sb), 0, "%s", p);
    fc_str_add(out, "%s %o %lu", r, (unsigned)sb.st_mode, (unsigned long)sb.st_ino);
    if (S_ISREG(sb.st_mode)) {
      fc_str_add(out, " %lld %lld.%09ld", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
                 sb.st_mtim.tv_nsec);
      FILE *f = fopen(p, "rb");
      uint64_t h = FC_HASH64_INIT;
      char buf[4096];
      size_t k;
      while (f && (k = fread(buf, 1, sizeof buf, f)) > 0) h = fc_hash64(h, buf, k);
      if (f) fclose(f);
      fc_str_add(out, " %016" PRIx64, h);
    } else if (S_ISLNK(sb.st_mode)) {
      char t[1024];
      ssize_t k = readlink(p, t, sizeof t - 1);
      t[k > 0 ? k : 0] = 0;
      fc_str_add(out, " -> %s", t);
    }
    fc_str_add(out, "\n");
    if (S_ISDIR(sb.st_mode) && (sb.st_mode & 0500) == 0500) snap(root, r, skip, out);
  }
}

/* The first name under root that is one of export's temporary names, or NULL. */
static const char *leftover(const char *root) {
  static char found[1024];
  DIR *d = opendir(root);
  if (!d) return NULL;
  struct dirent *de;
  const char *r = NULL;
  while (!r && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, de->d_name);
    if (strstr(de->d_name, ".partial-") || strstr(de->d_name, ".old-")) {
      snprintf(found, sizeof found, "%s", p);
      r = found;
    } else if (de->d_type == DT_DIR) {
      r = leftover(p);
    }
  }
  closedir(d);
  return r;
}

/* ---- the sweep ---- */

typedef struct xcase {
  const char *setup; /* sh, run in the case's directory ($PROTO, $PROTO_C: the prototype) */
  const char *args;  /* export's, from the case's directory */
  int rc;            /* the exit status wanted */
  const char *want;  /* in the output */
  const char *made;  /* rc 0: what it writes ("b,x.c": a bundle, a C file that must compile) */
  const char *env;   /* before the command, e.g. a test switch */
} xcase;

#define FIFO_BUNDLE "mkdir b && cp $PROTO/*.fatbin b/ && mkfifo b/manifest.json"
#define WEBAPP "mkdir b && echo '{\"name\":\"webapp\",\"version\":\"1.0\"}' > b/manifest.json" \
               " && echo '<html>' > b/index.html"
#define LONG50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG250 LONG50 LONG50 LONG50 LONG50 LONG50

static const xcase cases[] = {
    /* usage: exit 2, the flag and the rule named */
    {"", "--out", 2, "--out needs a value", NULL, NULL},
    {"", "--out ''", 2, "--out needs a value", NULL, NULL},
    {"", "--out .", 2, "--out .: names no new directory", NULL, NULL},
    {"", "--out ..", 2, "--out ..: names no new directory", NULL, NULL},
    {"", "--out /", 2, "--out /: names no new directory", NULL, NULL},
    {"mkdir b", "--out b/. --force", 2, "--out b/.: names no new directory", NULL, NULL},
    {"mkdir b", "--out b/.. --force", 2, "--out b/..: names no new directory", NULL, NULL},
    {"", "--out " LONG250, 2, "--out: its last name is longer than 200 bytes", NULL, NULL},
    {"", "--out x/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/"
         LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/" LONG250 "/"
         LONG250 "/" LONG250 "/" LONG250 "/" LONG250,
     2, "--out: the path is longer than 4095 bytes", NULL, NULL},
    {"", "--out b --arch sm_90,sm_90a", 2,
     "--arch: sm_90 and sm_90a are both compute capability 9.0", NULL, NULL},
    {"", "--out b --arch sm_90a,sm_90", 2,
     "--arch: sm_90a and sm_90 are both compute capability 9.0", NULL, NULL},
    {"", "--out b --arch sm_90,sm_90f", 2, "both compute capability 9.0", NULL, NULL},
    {"", "--out b --arch sm_99", 2, "--arch: 'sm_99' is not an architecture this build knows",
     NULL, NULL},
    {"", "--out b --arch 'sm_90;touch pwned'", 2, "--arch: 'sm_90;touch pwned' is not an", NULL,
     NULL},
    {"", "--out b --arch ,", 2, "--arch: empty", NULL, NULL},
    {"", "--out b --arch compute_80,compute_90", 2, "--arch: one PTX architecture at most",
     NULL, NULL},
    {"", "--out b --c-name int", 2, "--c-name: 'int' is a C keyword", NULL, NULL},
    {"", "--out b --c-name _Alignas", 2, "--c-name: '_Alignas' is a C keyword", NULL, NULL},
    {"", "--out b --c-name while", 2, "--c-name: 'while' is a C keyword", NULL, NULL},
    {"", "--out b --c-name bool", 2, "--c-name: 'bool' is a C keyword", NULL, NULL},
    {"", "--out b --c-name static_assert", 2, "is a C keyword", NULL, NULL},
    {"", "--out b --c-name asm", 2, "--c-name: 'asm' is a C keyword", NULL, NULL},
    {"", "--out b --c-name _Foo", 2, "--c-name: '_Foo' begins with '_': such names are reserved",
     NULL, NULL},
    {"", "--out b --c-name a__b", 2, "--c-name: 'a__b' holds \"__\"", NULL, NULL},
    {"", "--out b --c-name fftconv_ctx_create", 2,
     "--c-name: 'fftconv_ctx_create' begins with fftconv, the library's prefix", NULL, NULL},
    {"", "--out b --c-name fftconv_bundle_image", 2, "the library's prefix", NULL, NULL},
    {"", "--out b --c-name FFTCONV_BUNDLE_IMAGE_VERSION", 2, "the library's prefix", NULL, NULL},
    {"", "--out b --c-name fc_plan_create", 2, "begins with fc_, the library's internal prefix",
     NULL, NULL},
    {"", "--out b --c-name size_t", 2, "--c-name: 'size_t' ends in _t", NULL, NULL},
    {"", "--out b --c-name NULL", 2, "--c-name: 'NULL' is already defined", NULL, NULL},
    {"", "--out b --c-name main", 2, "--c-name: 'main' is already defined", NULL, NULL},
    {"", "--out b --c-name INT8_MAX", 2, "is reserved for stdint.h's macros", NULL, NULL},
    {"", "--out b --c-name 9x", 2, "--c-name: '9x' is not a C identifier", NULL, NULL},
    {"", "--out b --c-name a-b", 2, "--c-name: 'a-b' is not a C identifier", NULL, NULL},
    {"", "--out b --c-name 'x;int y'", 2, "is not a C identifier", NULL, NULL},
    {"", "--out b --c-name " LONG250, 2, "is longer than 128 characters", NULL, NULL},
    {"", "--out b --c-source b", 2, "--c-source b and --out b are the same path", NULL, NULL},
    {"", "--out b/ --c-source b", 2, "--c-source b and --out b/ are the same path", NULL, NULL},
    {"", "--out b --c-source ./b", 2, "--c-source ./b and --out b are the same path", NULL, NULL},
    {"", "--out b --c-source b/x.c", 2, "--c-source b/x.c is inside --out b", NULL, NULL},
    {"cp -r $PROTO b", "--out b --force --c-source b/../b/x.c", 2, "is inside --out b", NULL,
     NULL},
    {"cp -r $PROTO b && ln -s b alias", "--out b --force --c-source alias/x.c", 2,
     "--c-source alias/x.c is inside --out b", NULL, NULL},
    {"mkdir b", "--out b --force --c-source b/x.c", 2, "--c-source b/x.c is inside --out b",
     NULL, NULL},
    {"", "--out b --c-source b.partial-1/x.c", 2, "inside a temporary directory of --out b",
     NULL, NULL},
    {"mkdir x", "--out b --c-source x/", 2, "--c-source x/: ends in '/'", NULL, NULL},
    {"", "--out b --jobs 0", 2, "--jobs: '0' is not an integer", NULL, NULL},
    {"", "--out b --compress fast", 2, "--compress takes all or ptx", NULL, NULL},
    {"", "--out b --frobnicate", 2, "unknown option '--frobnicate'", NULL, NULL},
    /* what is at --out: exit 1, nothing of it touched */
    {"echo mine > b", "--out b", 1, "--out b exists (give --force to replace it)", NULL, NULL},
    {"echo mine > b", "--out b --force", 1, "--out b exists and is a regular file, not a bundle's "
     "directory: not replaced, even with --force", NULL, NULL},
    {"mkdir b && echo mine > b/keep.txt", "--out b --force", 1,
     "--out b exists and is not a bundle (no manifest.json in it): not replaced", NULL, NULL},
    {WEBAPP, "--out b --force", 1, "--out b exists and is not a bundle export wrote (", NULL,
     NULL},
    {WEBAPP, "--out b/ --force", 1, "--out b/ exists and is not a bundle export wrote", NULL,
     NULL},
    {"mkdir b && echo garbage > b/manifest.json", "--out b --force", 1,
     "is not a bundle export wrote", NULL, NULL},
    {"mkdir b && : > b/manifest.json", "--out b --force", 1, "is not a bundle export wrote",
     NULL, NULL},
    {"mkdir b && echo '{\"format\":\"other\",\"version\":1,\"modules\":[]}' > b/manifest.json",
     "--out b --force", 1, "is not a bundle export wrote", NULL, NULL},
    {"mkdir b && ln -s $PROTO/manifest.json b/manifest.json", "--out b --force", 1,
     "is not a bundle export wrote", NULL, NULL},
    {"mkdir -p b/manifest.json", "--out b --force", 1, "is not a bundle export wrote", NULL,
     NULL},
    {FIFO_BUNDLE, "--out b --force", 1, "is not a bundle export wrote", NULL, NULL},
    {"echo victim > victim && mkdir b && echo '{\"format\":\"fftconv-bundle\",\"version\":1,"
     "\"modules\":[{\"file\":\"../victim\"}],\"entries\":[]}' > b/manifest.json",
     "--out b --force", 1, "is not a bundle export wrote", NULL, NULL},
    {"cp -r $PROTO b && echo notes > b/notes.txt", "--out b --force", 1,
     "--out b is a bundle, but it holds 'notes.txt', which its manifest does not name: not "
     "replaced, even with --force", NULL, NULL},
    {"cp -r $PROTO b && mkdir b/sub", "--out b --force", 1, "it holds 'sub', which its manifest "
     "does not name", NULL, NULL},
    {"cp -r $PROTO b && f=$(ls b/*.fatbin | head -1) && mv $f own.fatbin && ln -s ../own.fatbin $f",
     "--out b --force", 1, "is a symbolic link", NULL, NULL},
    {"cp -r $PROTO real && ln -s real b", "--out b --force", 1,
     "--out b is a symbolic link: not replaced, even with --force", NULL, NULL},
    {"cp -r $PROTO real && ln -s real b", "--out b/ --force", 1,
     "--out b/ is a symbolic link: not replaced, even with --force", NULL, NULL},
    {"cp -r $PROTO real && ln -s real b", "--out b", 1, "--out b exists (give --force", NULL,
     NULL},
    {"ln -s nowhere b", "--out b", 1, "--out b exists (give --force", NULL, NULL},
    {"ln -s nowhere b", "--out b --force", 1, "--out b is a symbolic link", NULL, NULL},
    {"mkfifo b", "--out b --force", 1, "--out b exists and is a FIFO", NULL, NULL},
    {"", "--out nowhere/b", 1, "--out nowhere/b: cannot use its directory nowhere: No such file",
     NULL, NULL},
    {"echo mine > f", "--out f/b", 1, "--out f/b: cannot use its directory f: Not a directory",
     NULL, NULL},
    /* what is at --c-source */
    {"echo mine > x.c", "--out b --c-source x.c", 1, "--c-source x.c exists (give --force to "
     "replace it)", NULL, NULL},
    {"echo mine > x.c", "--out b --c-source x.c --force", 1, "--c-source x.c exists and is not a "
     "C file export wrote", NULL, NULL},
    {"echo mine > real.c && ln -s real.c x.c", "--out b --c-source x.c --force", 1,
     "--c-source x.c is a symbolic link: not replaced", NULL, NULL},
    {"cp $PROTO_C real.c && ln -s real.c x.c", "--out b --c-source x.c --force", 1,
     "--c-source x.c is a symbolic link: not replaced", NULL, NULL},
    {"ln -s made.c x.c", "--out b --c-source x.c", 1, "--c-source x.c is a symbolic link", NULL,
     NULL},
    {"mkdir x.c", "--out b --c-source x.c --force", 1, "--c-source x.c exists and is a directory",
     NULL, NULL},
    {"mkfifo x.c", "--out b --c-source x.c --force", 1, "--c-source x.c exists and is a FIFO",
     NULL, NULL},
    {"", "--out b --c-source nowhere/x.c", 1, "--c-source nowhere/x.c: cannot use its directory "
     "nowhere", NULL, NULL},
    /* a failure after the checks: nothing replaced, an empty directory keeps its mode */
    {"mkdir b && chmod 0751 b", "--out b --force --problem B1.H1.L8.K8.F0.fp32.circular", 1,
     "no winner in cache", NULL, NULL},
    {"cp -r $PROTO b && cp $PROTO_C x.c", "--out b --force --c-source x.c --problem none", 1,
     "no winner in cache", NULL, NULL},
    /* the good inputs beside them */
    {"", "--out newb/", 0, "wrote newb/", "newb", NULL},
    {"mkdir b && chmod 0751 b", "--out b --force", 0, "wrote b", "b", NULL},
    {"cp -r $PROTO b", "--out b --force", 0, "wrote b", "b", NULL},
    {"mkdir b && echo old > b/k007_gone.fatbin && echo '{\"format\":\"fftconv-bundle\","
     "\"version\":1,\"modules\":[{\"file\":\"k007_gone.fatbin\"},{\"file\":\"k008_absent.fatbin\""
     "}],\"entries\":[]}' > b/manifest.json", "--out b/ --force", 0, "wrote b/", "b", NULL},
    {"", "--out b --c-source x.c", 0, "C source x.c", "b,x.c", NULL},
    {"cp -r $PROTO b && cp $PROTO_C x.c", "--out b --force --c-source x.c", 0, "wrote b",
     "b,x.c", NULL},
    {"", "--out b --c-source x.c --c-name my_kernels", 0, "wrote b", "b,x.c", NULL},
    {"", "--out b --c-source x.c --c-name int_", 0, "wrote b", "b,x.c", NULL},
    {"", "--out b --c-source x.c --c-name Bundle2", 0, "wrote b", "b,x.c", NULL},
    {"", "--out b --arch sm_90,90", 0, "wrote b", "b", NULL},
    /* the same without renameat2's flags */
    {"", "--out b --c-source x.c", 0, "wrote b", "b,x.c", "FFTCONV_EXPORT_TEST_NO_RENAMEAT2=1"},
    {"cp -r $PROTO b && cp $PROTO_C x.c", "--out b --force --c-source x.c", 0, "wrote b",
     "b,x.c", "FFTCONV_EXPORT_TEST_NO_RENAMEAT2=1"},
    {"cp -r $PROTO b && echo notes > b/notes.txt", "--out b --force", 1,
     "which its manifest does not name", NULL, "FFTCONV_EXPORT_TEST_NO_RENAMEAT2=1"},
};

/* What a successful case wrote (made: "b" or "b,x.c"): a bundle that opens and holds nothing
   its manifest does not name (an earlier bundle's files are gone), a C file that compiles. */
static void check_made(const char *cwd, const char *made, const char *args) {
  char list[256];
  snprintf(list, sizeof list, "%s", made);
  for (char *save = NULL, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", cwd, m);
    size_t n = strlen(m);
    if (n > 2 && !strcmp(m + n - 2, ".c")) {
      char cmd[4096], out[8192];
      snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Wextra -Werror -fsyntax-only -I%s/src/runtime %s "
               "2>&1", C_COMPILER, SOURCE_DIR, p);
      FILE *f = popen(cmd, "r");
      size_t k = fread(out, 1, sizeof out - 1, f);
      out[k] = 0;
      cr_assert_eq(pclose(f), 0, "export %s: the C file does not compile:\n%s", args, out);
      continue;
    }
    fc_bundle *b = NULL;
    fc_err e = {{0}};
    cr_assert_eq(fc_bundle_open(p, NULL, &b, &e), FFTCONV_OK, "export %s: %s", args, e.msg);
    fc_bundle_close(b);
    char **names = NULL;
    int nn = 0;
    cr_assert_eq(fc_bundle_probe_files(p, &names, &nn, &e), FFTCONV_OK, "%s", e.msg);
    DIR *d = opendir(p);
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
          !strcmp(de->d_name, "manifest.json"))
        continue;
      int in = 0;
      for (int i = 0; i < nn; i++) in |= !strcmp(names[i], de->d_name);
      cr_assert(in, "export %s: %s holds %s, which its manifest does not name", args, m,
                de->d_name);
    }
    closedir(d);
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
  }
}

/* Whether rel is one of skip's names ("b,x.c"), or under one. */
static int skipped(const char *rel, const char *skip) {
  for (const char *p = skip; p && *p;) {
    size_t n = strcspn(p, ",");
    if (!strncmp(rel, p, n) && (rel[n] == 0 || rel[n] == '/')) return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

/* Every case runs; the failures are listed together at the end. */
Test(export_hostile, a_sweep_of_bad_inputs_changes_nothing, .timeout = 900) {
  make_proto();
  setenv("PROTO", proto, 1);
  setenv("PROTO_C", proto_c, 1);
  int n = (int)(sizeof cases / sizeof cases[0]), bad = 0, good = 0, failed = 0;
  static char out[65536];
  fc_str fails = {0};
  for (int i = 0; i < n; i++) {
    const xcase *c = &cases[i];
    char cwd[256], cmd[4096];
    snprintf(cwd, sizeof cwd, "%s/case%03d", dir, i);
    cr_assert_eq(mkdir(cwd, 0777), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s ; }", cwd, c->setup[0] ? c->setup : ":");
    cr_assert_eq(system(cmd), 0, "case %d: setup failed: %s", i, c->setup);
    fc_str before = {0}, after = {0};
    snap(cwd, "", c->rc == 0 ? c->made : NULL, &before);
    int rc = export_in(cwd, c->env, cache_db, c->args, out, sizeof out);
    snap(cwd, "", c->rc == 0 ? c->made : NULL, &after);
    const char *left = leftover(cwd), *why = NULL;
    if (rc != c->rc)
      why = "its exit status";
    else if (!strstr(out, c->want))
      why = "its message";
    else if ((strstr(out, ".partial-") && !strstr(c->args, ".partial-")) ||
             strstr(out, "AddressSanitizer") || strstr(out, "runtime error"))
      why = "a temporary name or a sanitizer report in its output";
    else if (strcmp(after.s ? after.s : "", before.s ? before.s : ""))
      why = "the files around it changed";
    else if (left)
      why = "a temporary name left";
    if (why) {
      fc_str_add(&fails, "case %d: export %s (after: %s): %s%s%s: exit %d (wanted %d), wanted "
                 "'%s' in:\n%s\n", i, c->args, c->setup, why, left ? " " : "", left ? left : "",
                 rc, c->rc, c->want, out);
      failed++;
    } else if (c->rc == 0) {
      check_made(cwd, c->made, c->args);
      good++;
    } else {
      bad++;
    }
    fc_str_free(&before);
    fc_str_free(&after);
    rm_tree(cwd);
  }
  cr_log_info("%d bad inputs refused and %d good ones written, as wanted; %d failed", bad, good,
              failed);
  cr_assert_eq(failed, 0, "%d of %d cases failed:\n%s", failed, n, fails.s);
  cr_assert_geq(bad, 50);
  fc_str_free(&fails);
}

/* ---- an export held just before its renames ---- */

/* Starts "fftconv-cache --cache db export ARGS" in cwd, paused before its renames (once it has
   written its temporary files); returns its pid once it is there. */
static pid_t start_paused(const char *cwd, const char *args, const char *env, char *ready,
                          size_t len) {
  snprintf(ready, len, "%s/ready-%d", dir, (int)getpid());
  unlink(ready);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (chdir(cwd) != 0) _exit(127);
    setenv("FFTCONV_EXPORT_TEST_PAUSE", ready, 1);
    if (env) setenv(env, "1", 1);
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s --cache %s export %s", tool(), cache_db, args);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  struct stat sb;
  for (int i = 0; i < 3000 && stat(ready, &sb) != 0; i++) {
    int st;
    cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "export %s ended before it paused (status %d)",
                 args, st);
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  cr_assert_eq(stat(ready, &sb), 0, "export %s never paused (is FFTCONV_EXPORT_TEST_PAUSE "
               "this build's?)", args);
  return pid;
}

static int wait_status(pid_t pid) {
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return st;
}

static int has_partial(const char *d) {
  DIR *dh = opendir(d);
  struct dirent *de;
  int n = 0;
  while (dh && (de = readdir(dh))) n += strstr(de->d_name, ".partial-") != NULL;
  if (dh) closedir(dh);
  return n;
}

/* A signal while the export has its temporary bundle and C file: both go, nothing else
   changes (an earlier bundle and C file that --force was replacing included). */
static void signalled(int sig, int force) {
  make_proto();
  char cwd[256], ready[256], cmd[1024];
  snprintf(cwd, sizeof cwd, "%s/work", dir);
  cr_assert_eq(mkdir(cwd, 0777), 0);
  if (force) {
    snprintf(cmd, sizeof cmd, "cd %s && cp -r %s b && cp %s x.c", cwd, proto, proto_c);
    cr_assert_eq(system(cmd), 0);
  }
  fc_str before = {0}, after = {0};
  snap(cwd, "", NULL, &before);
  pid_t pid = start_paused(cwd, force ? "--out b --c-source x.c --force" : "--out b --c-source x.c",
                           NULL, ready, sizeof ready);
  cr_assert_eq(has_partial(cwd), 2, "the paused export has its two temporary names");
  cr_assert_eq(kill(pid, sig), 0);
  int st = wait_status(pid);
  unlink(ready);
  cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sig, "the export ended with status %d, not by "
            "signal %d", st, sig);
  snap(cwd, "", NULL, &after);
  cr_assert_str_eq(after.s ? after.s : "", before.s ? before.s : "", "signal %d changed files",
                   sig);
  cr_assert_null(leftover(cwd), "signal %d left %s", sig, leftover(cwd));
  fc_str_free(&before);
  fc_str_free(&after);
}

Test(export_hostile, sigterm_leaves_nothing, .timeout = 300) { signalled(SIGTERM, 0); }
Test(export_hostile, sigint_leaves_nothing, .timeout = 300) { signalled(SIGINT, 0); }
Test(export_hostile, sighup_leaves_nothing, .timeout = 300) { signalled(SIGHUP, 0); }
Test(export_hostile, sigterm_with_force_leaves_the_old_bundle, .timeout = 300) {
  signalled(SIGTERM, 1);
}

/* Another export takes --out while the first is paused: the first fails and leaves the
   second's bundle as it was. */
static void out_taken_meanwhile(const char *env) {
  make_proto();
  char cwd[256], ready[256];
  snprintf(cwd, sizeof cwd, "%s/work", dir);
  cr_assert_eq(mkdir(cwd, 0777), 0);
  pid_t a = start_paused(cwd, "--out b", env, ready, sizeof ready);
  static char out[16384];
  char e[128];
  snprintf(e, sizeof e, "%s%s", env ? env : "", env ? "=1" : "");
  cr_assert_eq(export_in(cwd, e, cache_db, "--out b --c-name other", out, sizeof out), 0, "%s",
               out);
  fc_str before = {0}, after = {0};
  snap(cwd, "", NULL, &before);
  unlink(ready);
  int st = wait_status(a);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the first export's status %d", st);
  snap(cwd, "", NULL, &after);
  cr_assert_str_eq(after.s, before.s, "the second export's bundle changed:\n%s\nto\n%s", before.s,
                   after.s);
  cr_assert_null(leftover(cwd), "left %s", leftover(cwd));
  fc_str_free(&before);
  fc_str_free(&after);
}

Test(export_hostile, out_taken_meanwhile_is_not_replaced, .timeout = 300) {
  out_taken_meanwhile(NULL);
}
Test(export_hostile, out_taken_meanwhile_without_renameat2, .timeout = 300) {
  out_taken_meanwhile("FFTCONV_EXPORT_TEST_NO_RENAMEAT2");
}

/* --c-source appears while the export is paused: it stays, and the bundle is taken back. */
Test(export_hostile, c_source_taken_meanwhile_takes_the_bundle_back, .timeout = 300) {
  make_proto();
  const char *envs[] = {NULL, "FFTCONV_EXPORT_TEST_NO_RENAMEAT2"};
  for (int k = 0; k < 2; k++) {
    char cwd[256], ready[256], cmd[1024];
    snprintf(cwd, sizeof cwd, "%s/work%d", dir, k);
    cr_assert_eq(mkdir(cwd, 0777), 0);
    pid_t a = start_paused(cwd, "--out b --c-source x.c", envs[k], ready, sizeof ready);
    snprintf(cmd, sizeof cmd, "echo mine > %s/x.c", cwd);
    cr_assert_eq(system(cmd), 0);
    fc_str before = {0}, after = {0};
    snap(cwd, "", NULL, &before);
    unlink(ready);
    int st = wait_status(a);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    snap(cwd, "", NULL, &after);
    cr_assert_str_eq(after.s, before.s, "x.c, or the directory, changed:\n%s\nto\n%s", before.s,
                     after.s);
    cr_assert_null(leftover(cwd), "left %s", leftover(cwd));
    fc_str_free(&before);
    fc_str_free(&after);
  }
}

/* --out is taken while an export that also replaces an earlier C file (--force) is paused:
   it fails, and that C file is as it was (it goes in only after the bundle). */
Test(export_hostile, a_failed_export_keeps_the_c_file, .timeout = 300) {
  make_proto();
  char cwd[256], ready[256], cmd[1024];
  snprintf(cwd, sizeof cwd, "%s/work", dir);
  cr_assert_eq(mkdir(cwd, 0777), 0);
  snprintf(cmd, sizeof cmd, "cp %s %s/x.c", proto_c, cwd);
  cr_assert_eq(system(cmd), 0);
  pid_t a = start_paused(cwd, "--out b --c-source x.c --force --c-name other", NULL, ready,
                         sizeof ready);
  snprintf(cmd, sizeof cmd, "mkdir %s/b && echo mine > %s/b/mine.txt", cwd, cwd);
  cr_assert_eq(system(cmd), 0);
  fc_str before = {0}, after = {0};
  snap(cwd, "", NULL, &before);
  unlink(ready);
  int st = wait_status(a);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
  snap(cwd, "", NULL, &after);
  cr_assert_str_eq(after.s, before.s, "x.c, or b, changed:\n%s\nto\n%s", before.s, after.s);
  cr_assert_null(leftover(cwd), "left %s", leftover(cwd));
  fc_str_free(&before);
  fc_str_free(&after);
}

/* --force: a file put into the old bundle while the export is paused makes it a bundle that
   is not export's alone any more: not replaced, nothing of it removed. */
Test(export_hostile, old_bundle_changed_meanwhile_is_not_replaced, .timeout = 300) {
  make_proto();
  const char *envs[] = {NULL, "FFTCONV_EXPORT_TEST_NO_RENAMEAT2"};
  for (int k = 0; k < 2; k++) {
    char cwd[256], ready[256], cmd[1024];
    snprintf(cwd, sizeof cwd, "%s/work%d", dir, k);
    cr_assert_eq(mkdir(cwd, 0777), 0);
    snprintf(cmd, sizeof cmd, "cp -r %s %s/b", proto, cwd);
    cr_assert_eq(system(cmd), 0);
    pid_t a = start_paused(cwd, "--out b --force", envs[k], ready, sizeof ready);
    snprintf(cmd, sizeof cmd, "echo notes > %s/b/notes.txt", cwd);
    cr_assert_eq(system(cmd), 0);
    fc_str before = {0}, after = {0};
    snap(cwd, "", NULL, &before);
    unlink(ready);
    int st = wait_status(a);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    snap(cwd, "", NULL, &after);
    cr_assert_str_eq(after.s, before.s, "the old bundle changed:\n%s\nto\n%s", before.s, after.s);
    cr_assert_null(leftover(cwd), "left %s", leftover(cwd));
    fc_str_free(&before);
    fc_str_free(&after);
  }
}

/* Two exports to one new path started together, ten times: exactly one writes it. */
Test(export_hostile, two_exports_to_one_path_one_wins, .timeout = 600) {
  make_proto();
  for (int t = 0; t < 10; t++) {
    char cwd[128], cmd[2048], res[256];
    snprintf(cwd, sizeof cwd, "%s/race%d", dir, t);
    cr_assert_eq(mkdir(cwd, 0777), 0);
    snprintf(cmd, sizeof cmd, "cd %s && { %s --cache %s export --out b > a.log 2>&1; echo $? > "
             "a.rc; } & cd %s && { %s --cache %s export --out b --c-name two > b.log 2>&1; "
             "echo $? > b.rc; } & wait", cwd, tool(), cache_db, cwd, tool(), cache_db);
    cr_assert_eq(system(cmd), 0);
    int rc[2];
    for (int k = 0; k < 2; k++) {
      snprintf(res, sizeof res, "%s/%c.rc", cwd, "ab"[k]);
      FILE *f = fopen(res, "r");
      cr_assert(f && fscanf(f, "%d", &rc[k]) == 1);
      fclose(f);
    }
    cr_assert((rc[0] == 0) + (rc[1] == 0) == 1, "trial %d: exit statuses %d and %d", t, rc[0],
              rc[1]);
    snprintf(res, sizeof res, "%s/%c.log", cwd, rc[0] ? 'a' : 'b');
    FILE *f = fopen(res, "r");
    char log[4096] = "";
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = 0;
    fclose(f);
    cr_assert(strstr(log, "--out b exists") || strstr(log, "--out b appeared while export ran"),
              "trial %d: the loser said:\n%s", t, log);
    cr_assert_null(leftover(cwd), "trial %d left %s", t, leftover(cwd));
    char b[300];
    snprintf(b, sizeof b, "%s/b", cwd);
    fc_bundle *bd = NULL;
    fc_err e = {{0}};
    cr_assert_eq(fc_bundle_open(b, NULL, &bd, &e), FFTCONV_OK, "%s", e.msg);
    fc_bundle_close(bd);
  }
}

/* ---- what a cache row carries ---- */

static void sql(const char *db, const char *q, const char *arg) {
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(h, q, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
  sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
  cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(h));
  sqlite3_finalize(s);
  sqlite3_close(h);
}

/* A template name holding C code (one without '/', one with a path and a trigraph): the C
   file holds it only as bytes, compiles with -Wall -Wextra -Werror and defines nothing of it;
   the fatbin's file name is export's own. One with line breaks, which no bundle field may
   hold, is left out by name and, being the only winner, nothing is written. */
Test(export_hostile, a_template_name_is_not_c_code, .timeout = 300) {
  small_cache(cache_db);
  static const char *const evil[] = {
      "x\"};int evil(void){return 1;}static const char*q={\"",
      "x\"};int evil(void){return 1;}/*?\?=*/char*q={\"../../y", NULL};
  for (int k = 0; evil[k]; k++) {
    sql(cache_db, "UPDATE kernels SET template = ?1", evil[k]);
    static char out[16384];
    char args[512], b[256];
    snprintf(b, sizeof b, "%s/b%d", dir, k);
    snprintf(args, sizeof args, "--out b%d --c-source x%d.c --arch sm_90 --no-ptx", k, k);
    cr_assert_eq(export_in(dir, NULL, cache_db, args, out, sizeof out), 0, "%s", out);
    char cmd[2048], obj[256];
    snprintf(obj, sizeof obj, "%s/x%d.o", dir, k);
    snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Wextra -Werror -c -I%s/src/runtime %s/x%d.c -o %s "
             "2>&1 && nm %s", C_COMPILER, SOURCE_DIR, dir, k, obj, obj);
    FILE *f = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    cr_assert_eq(pclose(f), 0, "template name %d: the C file does not compile:\n%s", k, out);
    cr_assert(!strstr(out, "evil"), "the C file defines the cache's code:\n%s", out);
    cr_assert(strstr(out, "fftconv_bundle"), "%s", out);
    DIR *d = opendir(b);
    cr_assert(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
      if (de->d_name[0] == '.') continue;
      for (const char *p = de->d_name; *p; p++)
        cr_assert(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.", *p),
                  "file name '%s'", de->d_name);
      files++;
    }
    closedir(d);
    cr_assert_eq(files, 2);
    fc_bundle *bd = NULL;
    fc_err e = {{0}};
    cr_assert_eq(fc_bundle_open(b, NULL, &bd, &e), FFTCONV_OK, "%s", e.msg);
    fc_bundle_close(bd);
  }
}

Test(export_hostile, a_template_name_with_line_breaks_is_left_out, .timeout = 300) {
  small_cache(cache_db);
  sql(cache_db, "UPDATE kernels SET template = ?1", "x\"};\nint evil(void){return 1;}\n");
  static char out[16384];
  cr_assert_eq(export_in(dir, NULL, cache_db, "--out b --c-source x.c --arch sm_90 --no-ptx",
                         out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "left out: the winner of") && strstr(out, "its template name") &&
            strstr(out, "every winner was left out"), "%s", out);
  cr_assert(!strchr(out, '\r') && !strstr(out, "evil(void){return 1;}\n"),
            "the name is printed escaped: %s", out);
  cr_assert_null(leftover(dir), "left %s", leftover(dir));
  char p[300];
  struct stat sb;
  snprintf(p, sizeof p, "%s/b", dir);
  cr_assert_neq(lstat(p, &sb), 0, "the bundle was written");
  snprintf(p, sizeof p, "%s/x.c", dir);
  cr_assert_neq(lstat(p, &sb), 0, "the C file was written");
}

/* Parameters that would add keys of their own to the manifest: refused, nothing written. */
Test(export_hostile, parameters_that_are_not_an_object_are_refused, .timeout = 300) {
  small_cache(cache_db);
  static const char *const bad[] = {"{\"seqs\":1},\"file\":\"../../etc/passwd\"", "[1,2]", "7",
                                    "{\"a\":", "", NULL};
  static char out[16384];
  for (int i = 0; bad[i]; i++) {
    sql(cache_db, "UPDATE kernels SET params = ?1", bad[i]);
    int rc = export_in(dir, NULL, cache_db, "--out b --arch sm_90 --no-ptx", out, sizeof out);
    cr_assert_eq(rc, 1, "params %s: %s", bad[i], out);
    cr_assert(strstr(out, "its kernel's parameters are not a JSON object"), "params %s: %s",
              bad[i], out);
    struct stat sb;
    char b[256];
    snprintf(b, sizeof b, "%s/b", dir);
    cr_assert_neq(lstat(b, &sb), 0);
    cr_assert_null(leftover(dir), "left %s", leftover(dir));
  }
}
