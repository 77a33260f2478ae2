/* A cache file damaged by hand or by another program, as its readers meet it: every row of a
   cache this test fills through the API is overwritten, one column at a time, with what a
   damaged or hostile file can hold (an unreadable launch manifest, text where a blob belongs,
   out-of-range shapes, a winner naming a kernel that is gone, very long strings), and every
   reader runs on it: fc_cache_get_kernel, list, lookups, slim and prune counts through the
   API, and `fftconv-cache list`, `show`, `export` and `prune --dry-run` as a user runs them.
   None may crash (the tools run as child processes: a crash is an exit status, not a lost
   test run); a row that cannot be read is reported with the kernel it belongs to and exit
   status 1; export leaves nothing behind; and the file is never modified by a reader. */
#include <criterion/criterion.h>

#include "run_tool.h"
#include "tree.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"

static char dir[64], path[128];
static const char *HASH = "0123456789abcdef";


static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-hostile-cache-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(path, sizeof path, "%s/cache.db", dir);
}

static void teardown(void) { rm_tree(dir); }

TestSuite(cache_hostile, .init = setup, .fini = teardown);

static fc_device_info device(const char *name, int sm) {
  fc_device_info d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "%s", name);
  d.sm = sm;
  d.sms = 132;
  d.driver_version = 13000;
  return d;
}

static fftconv_problem problem(int64_t l) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 8;
  p.heads = 64;
  p.seqlen = l;
  p.dtype = FFTCONV_FP16;
  return p;
}

/* Two kernels, kernel 1 the winner of both problems on the H100. */
static void fill(void) {
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90);
  fc_cache_config cfg = {&h100, 90, "13.0"};
  static const unsigned char cubin[64] = {0x7f, 'E', 'L', 'F'};
  int64_t kid[2];
  for (int i = 0; i < 2; i++) {
    fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = 4, .hash = HASH,
                         .params = i ? "{\"seqs\":2}" : "{\"seqs\":1}", .sm = 90,
                         .nvrtc = "13.0", .source = "// kernel", .cubin = cubin,
                         .cubin_size = sizeof cubin, .log = "ptxas", .registers = 64};
    fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 256, 20480, 2, "fftconv_prep", 128, 512,
                           1, 4097, 0, "monarch_fp32.v1");
    cr_assert_eq(fc_cache_put_kernel(c, &k, &kid[i], &e), FFTCONV_OK, "%s", e.msg);
  }
  for (int p = 0; p < 2; p++) {
    fftconv_problem pr = problem(p ? 2048 : 4096);
    for (int k = 0; k < 2; k++) {
      fc_cache_measurement m = {.problem = &pr, .kernel_id = kid[k], .status = "ok",
                                .median_ms = 1.0 + k, .p10_ms = 0.9, .p90_ms = 1.1, .runs = 20,
                                .rel_err = 1e-4, .rigor = "measure"};
      cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
    }
    int64_t w = 0;
    cr_assert_eq(fc_cache_update_winner(c, &cfg, &pr, &HASH, 1, &w, &e), FFTCONV_OK, "%s",
                 e.msg);
    cr_assert_eq(w, kid[0]);
  }
  fc_cache_close(c);
}

/* Runs SQL on the file as another program would (no checks, no triggers of ours). */
static void damage(const char *sql) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
  sqlite3_close(db);
}

/* The file's bytes, with its WAL folded in, as a fingerprint: readers must not change it. */
static uint64_t fingerprint(void) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  sqlite3_close(db);
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  uint64_t h = 1469598103934665603ull;
  int ch;
  while ((ch = fgetc(f)) != EOF) h = (h ^ (unsigned)ch) * 1099511628211ull;
  fclose(f);
  return h;
}

/* Runs fftconv-cache on the file; whatever the file holds, its output carries no control
   byte but line breaks and tabs (strings from the cache are escaped as they are printed). */
static int runc(const char *args, char *out, size_t len) {
  char a[1024];
  snprintf(a, sizeof a, "--cache %s %s", path, args);
  int st = run_tool("FFTCONV_CACHE_BIN", CACHE_BIN, a, out, len);
  for (const unsigned char *c = (const unsigned char *)out; *c; c++)
    cr_assert(*c >= 0x20 || *c == '\n' || *c == '\t', "fftconv-cache %s printed byte 0x%02x: %s",
              args, *c, out);
  return st;
}

/* Nothing but the cache and its side files in the directory: export left nothing. */
static void nothing_left(const char *what) {
  DIR *d = opendir(dir);
  cr_assert(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *n = de->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..") || !strncmp(n, "cache.db", 8)) continue;
    cr_assert(0, "%s left %s behind", what, n);
  }
  closedir(d);
}

/* The readers of the API on the file: no crash, and a failure has a message. */
static void api_readers(int64_t *bad_kernel) {
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 0, &c, &e), FFTCONV_OK, "%s", e.msg);
  *bad_kernel = 0;
  for (int64_t id = 1; id <= 3; id++) {
    fc_cache_kernel_row row;
    int found = 0;
    memset(&e, 0, sizeof e);
    fftconv_status st = fc_cache_get_kernel(c, id, &row, &found, &e);
    if (st != FFTCONV_OK) {
      cr_assert(e.msg[0], "kernel %" PRId64 ": refused without a message", id);
      char want[64];
      snprintf(want, sizeof want, "kernel %" PRId64, id);
      cr_assert(strstr(e.msg, want), "the message names the kernel: %s", e.msg);
      cr_assert(!found && !row.k.tmpl && !row.k.cubin, "a refused row is zeroed");
      *bad_kernel = id;
    }
    fc_cache_kernel_row_free(&row);
  }
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90);
  fc_cache_config cfg = {&h100, 90, "13.0"};
  for (int i = 0; i < 3; i++) {
    fftconv_problem p = problem(i == 1 ? 2048 : 4096);
    if (i == 2) p.batch = 3; /* nearest shape */
    fc_cache_hit hit;
    int found = 0;
    if (fc_cache_lookup(c, &cfg, &p, &HASH, 1, &hit, &found, &e) == FFTCONV_OK && found)
      fc_cache_hit_free(&hit);
  }
  fc_cache_slimmed sl;
  fc_cache_slim(c, 4, 1, &sl, &e);
  fc_cache_counts removed;
  fc_cache_prune(c, &HASH, 1, "13.0", 1, &removed, &e);
  fc_cache_close(c);
}

typedef struct damage_case {
  const char *what, *sql;
  int unreadable_kernel; /* the kernel that can no longer be read (1 is the winner), or 0 */
} damage_case;

static const damage_case cases[] = {
    {"an empty launch manifest", "UPDATE kernels SET manifest = '' WHERE id = 1", 1},
    {"an empty manifest object", "UPDATE kernels SET manifest = '{}' WHERE id = 1", 1},
    {"a manifest that is not JSON", "UPDATE kernels SET manifest = 'garbage' WHERE id = 1", 1},
    {"a manifest cut short", "UPDATE kernels SET manifest = substr(manifest, 1, 40) WHERE id = 1",
     1},
    {"a manifest as a blob", "UPDATE kernels SET manifest = x'00ff00' WHERE id = 1", 1},
    {"a manifest as a number", "UPDATE kernels SET manifest = 42 WHERE id = 1", 1},
    {"a manifest of 1 MB", "UPDATE kernels SET manifest = '{\"version\":1,\"launches\":[' || "
     "replace(hex(zeroblob(262144)), '00', '{},') || '{}]}' WHERE id = 1", 1},
    {"a manifest nested deep", "UPDATE kernels SET manifest = replace(hex(zeroblob(5000)), "
     "'00', '[') WHERE id = 1", 1},
    {"a manifest of 100 launches", "UPDATE kernels SET manifest = '{\"version\":1,\"launches\":[' "
     "|| replace(hex(zeroblob(99)), '00', '{\"entry\":\"a\"},') || '{\"entry\":\"a\"}]}' "
     "WHERE id = 1", 1},
    {"an unreadable manifest on a loser", "UPDATE kernels SET manifest = '' WHERE id = 2", 2},
    {"a cubin stored as text", "UPDATE kernels SET cubin = 'not a cubin' WHERE id = 1", 0},
    {"a cubin of zero bytes", "UPDATE kernels SET cubin = x'' WHERE id = 1", 0},
    {"a huge log", "UPDATE kernels SET log = hex(zeroblob(1000000)) WHERE id = 1", 0},
    {"a cubin past the cache's limit", "UPDATE kernels SET cubin = zeroblob(70000000) "
     "WHERE id = 1", 1},
    {"a manifest past the cache's limit", "UPDATE kernels SET manifest = "
     "hex(zeroblob(40000000)) WHERE id = 2", 2},
    {"parameters that are not JSON", "UPDATE kernels SET params = '{\"seqs\":' WHERE id = 1", 0},
    {"a template name with quotes and code",
     "UPDATE kernels SET template = 'x\"; int main(void){return 7;} //' WHERE id = 1", 0},
    {"terminal escapes in strings", "UPDATE kernels SET template = 'monarch' || char(27) || "
     "'[2J' || char(13), params = '{\"a\":\"' || char(27) || ']0;x' || char(7) || '\"}' "
     "WHERE id = 1;"
     "UPDATE devices SET model = 'GPU' || char(27) || '[31m'; UPDATE measurements SET "
     "message = char(27) || 'c', status = 'verify-failed' WHERE id = 2", 0},
    {"a very long template name", "UPDATE kernels SET template = hex(zeroblob(5000)) WHERE id = 1",
     0},
    {"a negative revision", "UPDATE kernels SET revision = -5 WHERE id = 1", 0},
    {"a hash of the wrong length", "UPDATE kernels SET hash = 'abc' WHERE id = 1", 0},
    {"a register count past int", "UPDATE kernels SET registers = 9223372036854775807", 0},
    {"a real where an integer belongs", "UPDATE kernels SET sm = 90.5", 0},
    {"a device name of 10 kB", "UPDATE devices SET model = hex(zeroblob(5000))", 0},
    {"a device with no SMs", "UPDATE devices SET sms = 0, sm = -1", 0},
    {"a NaN bandwidth", "UPDATE devices SET copy_gbps = 'NaN'", 0},
    {"a dtype this build does not know", "UPDATE winners SET dtype = 'fp8';"
     "UPDATE measurements SET dtype = 'fp8'", 0},
    {"a mode this build does not know", "UPDATE winners SET mode = 'acausal'", 0},
    {"a negative seqlen", "UPDATE winners SET seqlen = -4096, fft_size = -1", 0},
    {"sizes past int64 products", "UPDATE winners SET batch = 9223372036854775807, "
     "heads = 9223372036854775807, seqlen = 4611686018427387904", 0},
    {"a zero batch", "UPDATE winners SET batch = 0, heads = 0", 0},
    {"a problem key of 10 kB",
     "UPDATE winners SET problem_key = hex(zeroblob(5000)) WHERE id = 1", 0},
    {"a winner naming a kernel that is gone",
     "PRAGMA foreign_keys = OFF; UPDATE winners SET kernel = 999 WHERE id = 1", 0},
    {"a NaN median", "UPDATE winners SET median_ms = 'NaN'; UPDATE measurements SET "
     "median_ms = -1e308", 0},
    {"a status this build does not know", "UPDATE measurements SET status = 'weird', "
     "message = hex(zeroblob(3000))", 0},
    {"a measurement of a device that is gone",
     "PRAGMA foreign_keys = OFF; UPDATE measurements SET device = 77", 0},
};

Test(cache_hostile, every_reader_survives_a_damaged_row, .timeout = 300) {
  static char out[1 << 17];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const damage_case *dc = &cases[i];
    remove(path);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
    fill();
    damage(dc->sql);
    uint64_t before = fingerprint();
    int64_t bad = 0;
    api_readers(&bad);
    cr_assert_eq(bad, dc->unreadable_kernel, "%s: kernel %" PRId64 " refused", dc->what, bad);

    int st = runc("list", out, sizeof out);
    cr_assert(st == 0 || st == 1, "%s: list exits %d: %s", dc->what, st, out);
    st = runc("list --all", out, sizeof out);
    cr_assert(st == 0 || st == 1, "%s: list --all exits %d: %s", dc->what, st, out);
    for (int k = 1; k <= 2; k++) {
      char args[64], want[32];
      snprintf(args, sizeof args, "show %d", k);
      snprintf(want, sizeof want, "kernel %d", k);
      st = runc(args, out, sizeof out);
      if (dc->unreadable_kernel == k) {
        cr_assert_eq(st, 1, "%s: show exits %d: %s", dc->what, st, out);
        cr_assert(strstr(out, want) &&
                  (strstr(out, "launch manifest") || strstr(out, "larger than 64 MB")),
                  "%s: show names the kernel and what is wrong: %s", dc->what, out);
      } else {
        cr_assert(st == 0 || st == 1, "%s: show exits %d: %s", dc->what, st, out);
      }
    }
    st = runc("prune --dry-run", out, sizeof out);
    cr_assert(st == 0 || st == 1, "%s: prune --dry-run exits %d: %s", dc->what, st, out);
    char args[256];
    snprintf(args, sizeof args, "export --out %s/bundle --arch sm_90 --no-ptx", dir);
    st = runc(args, out, sizeof out);
    cr_assert(st == 0 || st == 1, "%s: export exits %d: %s", dc->what, st, out);
    if (dc->unreadable_kernel == 1) {
      cr_assert_eq(st, 1, "%s: export of an unreadable winner fails: %s", dc->what, out);
      cr_assert(strstr(out, "kernel 1"), "%s: export names the kernel: %s", dc->what, out);
    }
    if (st != 0) nothing_left(dc->what);
    snprintf(args, sizeof args, "%s/bundle", dir);
    rm_tree(args);
    cr_assert_eq(fingerprint(), before, "%s: a reader changed the file", dc->what);
  }
}

/* The first defect of the hardening issue, alone: a kernel row whose manifest cannot be
   read was freed through pointers into SQLite's buffer (a crash in show and export). */
Test(cache_hostile, an_unreadable_manifest_is_reported_not_freed) {
  fill();
  damage("UPDATE kernels SET manifest = '{}' WHERE id = 1");
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 0, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_kernel_row row;
  int found = 1;
  cr_assert_eq(fc_cache_get_kernel(c, 1, &row, &found, &e), FFTCONV_ERR_IO);
  cr_assert_eq(found, 0);
  cr_assert(strstr(e.msg, "kernel 1") && strstr(e.msg, "launch manifest"), "%s", e.msg);
  fc_cache_kernel_row_free(&row);
  /* the connection is still usable: the other kernel reads */
  cr_assert_eq(fc_cache_get_kernel(c, 2, &row, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(found, 1);
  fc_cache_kernel_row_free(&row);
  fc_cache_close(c);
}
