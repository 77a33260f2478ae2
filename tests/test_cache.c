/* test_cache: the SQLite kernel cache through its API, against real files under /tmp:
   schema creation, migration from versions 1 and 2 and refusal of newer versions; kernel and
   measurement keys; the trust rule of winners, lookup and resume; nearest-shape lookup and
   its speed; slimming (winners and finalists keep their cubins, resume still skips, a cache
   of the default set's size stays under 25 MB); the source emitted again and checked
   against its hash; the device's copy bandwidth; two processes writing one file; damaged,
   foreign and read-only files, which must be refused with their bytes untouched. */
#include <criterion/criterion.h>

#include "tree.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "emit.h"
#include "store.h"
#include "gpu.h"

/* ---- helpers ---- */

#define HASH "0123456789abcdef"
#define HASH_OLD "fedcba9876543210"

static char dir[64], path[128];

/* A fresh directory per test; removed (files first) at the end. */
static void tmp_setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-cache-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(path, sizeof path, "%s/cache.db", dir);
}


static void tmp_teardown(void) {
  chmod(dir, 0755);
  rm_tree(dir);
}

TestSuite(cache, .init = tmp_setup, .fini = tmp_teardown);

static fc_device_info h100(void) {
  fc_device_info d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "NVIDIA H100 80GB HBM3");
  d.sm = 90;
  d.sms = 132;
  d.smem_optin = 232448;
  d.l2_bytes = 52428800;
  d.total_mem = INT64_C(85899345920);
  d.driver_version = 13000;
  return d;
}

static fc_cache *open_cache(const char *p, int writable) {
  fc_cache *c = NULL;
  fc_err e = {{0}};
  fftconv_status st = fc_cache_open(p, writable, &c, &e);
  cr_assert_eq(st, FFTCONV_OK, "open %s (writable %d): %s", p, writable, e.msg);
  cr_assert_not_null(c);
  return c;
}

static fftconv_problem problem(int64_t b, int64_t h, int64_t l, fftconv_dtype dt) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.dtype = dt;
  return p;
}

static unsigned char cubin_bytes[4096];

/* A kernel of template hash `hash` whose params say `tag`; cubin NULL for a failed compile. */
static fc_cache_kernel kernel(const char *hash, const char *params, const char *nvrtc, int sm,
                              int compiled) {
  for (size_t i = 0; i < sizeof cubin_bytes; i++) cubin_bytes[i] = (unsigned char)(i * 7 + 3);
  fc_cache_kernel k = {
      .tmpl = "monarch_fp32", .revision = 3, .hash = hash, .params = params, .sm = sm,
      .nvrtc = nvrtc, .source = "// template: monarch_fp32\nextern \"C\" __global__ void f() {}\n",
      .cubin = compiled ? cubin_bytes : NULL, .cubin_size = compiled ? sizeof cubin_bytes : 0,
      .ptx = compiled ? ".version 9.0" : NULL, .log = "ptxas info: 40 registers",
      .registers = 40, .smem_static = 16, .stack = 8, .spill_stores = 4, .spill_loads = 2,
      .compile_seconds = 0.25};
  fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 128, 8192, 2, "fftconv_prep", 64, 1024, 1,
                         2049, 96, "monarch_fp32.v1");
  return k;
}

static int64_t put_kernel(fc_cache *c, const fc_cache_kernel *k) {
  int64_t id = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_kernel(c, k, &id, &e), FFTCONV_OK, "put_kernel: %s", e.msg);
  cr_assert_gt(id, 0);
  return id;
}

static void put_meas(fc_cache *c, const fc_cache_config *cfg, const fftconv_problem *p,
                     int64_t kid, const char *status, double median) {
  fc_cache_measurement m = {.problem = p, .kernel_id = kid, .status = status,
                            .message = strcmp(status, "ok") ? "it failed" : NULL,
                            .median_ms = median, .p10_ms = median * 0.98,
                            .p90_ms = median * 1.03, .runs = 30, .rel_err = 2e-7,
                            .rigor = "measure"};
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_measurement(c, cfg, &m, &e), FFTCONV_OK, "put_measurement: %s",
               e.msg);
}

static int64_t winner(fc_cache *c, const fc_cache_config *cfg, const fftconv_problem *p,
                      const char *hash) {
  const char *hashes[] = {hash};
  int64_t kid = -1;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_update_winner(c, cfg, p, hashes, 1, &kid, &e), FFTCONV_OK,
               "update_winner: %s", e.msg);
  return kid;
}

static int lookup(fc_cache *c, const fc_cache_config *cfg, const fftconv_problem *p,
                  const char *hash, fc_cache_hit *hit) {
  const char *hashes[] = {"aaaaaaaaaaaaaaaa", hash};
  int found = -1;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_lookup(c, cfg, p, hashes, 2, hit, &found, &e), FFTCONV_OK, "lookup: %s",
               e.msg);
  return found;
}

/* A query on the file through SQLite itself, answering one integer. */
static int64_t sql_int(const char *p, const char *sql) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
               sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static void sql_exec(const char *p, const char *sql) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
  sqlite3_close(db);
}

static unsigned char *read_file(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb");
  cr_assert(f, "%s: %s", p, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void write_file(const char *p, const void *b, size_t n) {
  FILE *f = fopen(p, "wb");
  cr_assert(f);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

/* A cache with one device, a kernel, a measurement and a winner. */
static void fill_small(const char *p) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(p, 1);
  fc_cache_kernel k = kernel(HASH, "{\"seqs\":2}", "13.0", 90, 1);
  fftconv_problem pr = problem(8, 64, 4096, FFTCONV_FP16);
  put_meas(c, &cfg, &pr, put_kernel(c, &k), "ok", 1.5);
  cr_assert_gt(winner(c, &cfg, &pr, HASH), 0);
  fc_cache_close(c);
}

/* The open must fail with FFTCONV_ERR_IO, name the path and say `why`. */
static void expect_refused(const char *p, int writable, const char *why) {
  fc_cache *c = (fc_cache *)&c;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(p, writable, &c, &e), FFTCONV_ERR_IO, "opened %s (writable %d)",
               p, writable);
  cr_assert_null(c);
  cr_assert(strstr(e.msg, p), "the message does not name the path: %s", e.msg);
  cr_assert(strstr(e.msg, why), "'%s' not in: %s", why, e.msg);
}

/* ---- schema ---- */

/* A problem field added to the field table after a file was written has no column there
   (simulated: one dropped): a read-only open names it, a writable one adds it, its value in the
   rows already there fftconv_problem_init's default; no schema version is needed for it. */
Test(cache, a_field_added_later_gets_its_column_on_a_writable_open) {
  fc_cache *c = open_cache(path, 1);
  fc_cache_kernel k = kernel("0123456789abcdef", "{\"a\":1}", "13.0", 90, 1);
  put_kernel(c, &k);
  fc_cache_close(c);
  sql_exec(path, "ALTER TABLE measurements DROP COLUMN heads");
  const char *has = "SELECT count(*) FROM pragma_table_info('measurements') WHERE name = 'heads'";
  cr_assert_eq(sql_int(path, has), 0);
  expect_refused(path, 0, "has no column for the problem field heads");
  c = open_cache(path, 1);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM pragma_table_info('measurements') "
                             "WHERE name = 'heads' AND dflt_value = '1' AND \"notnull\" = 1"), 1);
  c = open_cache(path, 0); /* read-only: now it has every column */
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 1, "a row was lost");
}

Test(cache, creates_its_directory_and_schema_then_reopens) {
  char deep[256];
  snprintf(deep, sizeof deep, "%s/a/b/cache.db", dir);
  setenv(FC_CACHE_ENV, deep, 1);
  char def[512];
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_default_path(def, sizeof def, &e), FFTCONV_OK);
  cr_assert_str_eq(def, deep);
  fc_cache *c = open_cache(NULL, 1); /* the default path, mkdir -p'd */
  cr_assert_str_eq(fc_cache_path(c), deep);
  fc_cache_close(c);
  cr_assert_eq(sql_int(deep, "PRAGMA application_id"), FC_CACHE_APP_ID);
  cr_assert_eq(sql_int(deep, "PRAGMA user_version"), 5);
  cr_assert_eq(fc_cache_schema_version(), 5);
  cr_assert_eq(sql_int(deep, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                             "name IN ('devices', 'kernels', 'measurements', 'winners')"), 4);
  cr_assert_eq(sql_int(deep, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                             "name = 'winners_shape'"), 1);
  cr_assert_eq(sql_int(deep, "SELECT count(*) FROM pragma_journal_mode WHERE "
                             "journal_mode = 'wal'"), 1);
  c = open_cache(deep, 0);
  fc_cache_close(c);
  c = open_cache(deep, 1);
  fc_cache_close(c);

  /* without FFTCONV_CACHE: XDG_CACHE_HOME, then HOME */
  unsetenv(FC_CACHE_ENV);
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  cr_assert_eq(fc_cache_default_path(def, sizeof def, &e), FFTCONV_OK);
  cr_assert_str_eq(def, "/x/cache/fftconv/cache.db");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  cr_assert_eq(fc_cache_default_path(def, sizeof def, &e), FFTCONV_OK);
  cr_assert_str_eq(def, "/home/u/.cache/fftconv/cache.db");
  cr_assert_eq(fc_cache_default_path(def, 8, &e), FFTCONV_ERR_IO);

  expect_refused(path, 0, "no cache at"); /* read-only never creates */
  cr_assert(!exists(path));
}

/* ---- kernels and measurements ---- */

Test(cache, kernel_key_deduplicates_and_reads_back) {
  fc_cache *c = open_cache(path, 1);
  fc_cache_kernel k = kernel(HASH, "{\"seqs\":2}", "13.0", 90, 1);
  int64_t a = put_kernel(c, &k), b = put_kernel(c, &k);
  cr_assert_eq(a, b, "the same key stored twice");
  fc_cache_kernel k2 = kernel(HASH, "{\"seqs\":4}", "13.0", 90, 1);
  fc_cache_kernel k3 = kernel(HASH, "{\"seqs\":2}", "12.8", 90, 1);
  fc_cache_kernel k4 = kernel(HASH, "{\"seqs\":2}", "13.0", 80, 1);
  fc_cache_kernel k5 = kernel(HASH_OLD, "{\"seqs\":2}", "13.0", 90, 1);
  int64_t ids[] = {a, put_kernel(c, &k2), put_kernel(c, &k3), put_kernel(c, &k4),
                   put_kernel(c, &k5)};
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++) cr_assert_neq(ids[i], ids[j], "keys %d and %d", i, j);

  fc_cache_kernel_row r;
  int found = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_get_kernel(c, a, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(found, 1);
  cr_assert_eq(r.id, a);
  cr_assert_str_eq(r.k.tmpl, "monarch_fp32");
  cr_assert_eq(r.k.revision, 3);
  cr_assert_str_eq(r.k.hash, HASH);
  cr_assert_str_eq(r.k.params, "{\"seqs\":2}");
  cr_assert_str_eq(r.k.nvrtc, "13.0");
  cr_assert_eq(r.k.sm, 90);
  cr_assert_null(r.k.source, "the source is not stored");
  char want[17];
  snprintf(want, sizeof want, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, k.source, strlen(k.source)));
  cr_assert_str_eq(r.k.source_hash, want, "its FNV-1a 64 is");
  cr_assert(isnan(r.binary_dropped));
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source IS NOT NULL OR "
                             "source_hash IS NULL"), 0);
  cr_assert_eq(r.k.cubin_size, sizeof cubin_bytes);
  cr_assert_eq(memcmp(r.k.cubin, cubin_bytes, sizeof cubin_bytes), 0);
  cr_assert_str_eq(r.k.ptx, ".version 9.0");
  cr_assert_eq(r.k.registers, 40);
  cr_assert_eq(r.k.spill_loads, 2);
  cr_assert_eq(r.k.manifest.nlaunch, 2);
  cr_assert_eq(r.k.manifest.launch[1].smem, 8192);
  cr_assert_eq(r.k.manifest.filter_per_head, 2049 * 8);
  cr_assert_eq(r.k.manifest.filter_fixed, 96 * 8);
  cr_assert_str_eq(r.k.manifest.launch[0].entry, "fftconv_prep");
  fc_cache_kernel same = kernel(HASH, "{}", "13.0", 90, 1);
  cr_assert_eq(memcmp(&r.k.manifest, &same.manifest, sizeof same.manifest), 0,
               "the manifest reads back as it was stored");
  cr_assert_gt(r.created, 1.6e9);
  fc_cache_kernel_row_free(&r);
  cr_assert_eq(fc_cache_get_kernel(c, 999, &r, &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);

  /* a failed compilation, then a successful one of the same key: the row gets the cubin */
  fc_cache_kernel f = kernel(HASH, "{\"seqs\":8}", "13.0", 90, 0);
  int64_t fid = put_kernel(c, &f);
  cr_assert_eq(fc_cache_get_kernel(c, fid, &r, &found, &e), FFTCONV_OK);
  cr_assert_null(r.k.cubin);
  fc_cache_kernel_row_free(&r);
  f = kernel(HASH, "{\"seqs\":8}", "13.0", 90, 1);
  cr_assert_eq(put_kernel(c, &f), fid);
  cr_assert_eq(fc_cache_get_kernel(c, fid, &r, &found, &e), FFTCONV_OK);
  cr_assert_eq(r.k.cubin_size, sizeof cubin_bytes);
  fc_cache_kernel_row_free(&r);

  fc_cache_kernel bad = k;
  bad.source = NULL;
  int64_t id;
  cr_assert_eq(fc_cache_put_kernel(c, &bad, &id, &e), FFTCONV_ERR_INVALID);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 6);
}

static int count_rows(const fc_cache_entry *r, void *arg) {
  fc_cache_entry *last = arg;
  last->runs++;
  last->median_ms = r->median_ms;
  last->rel_err = r->rel_err;
  return 0;
}

Test(cache, measurement_is_replaced_by_key_and_nan_is_null) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  fc_cache_kernel k = kernel(HASH, "{}", "13.0", 90, 1);
  int64_t kid = put_kernel(c, &k);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  put_meas(c, &cfg, &p, kid, "ok", 2.0);
  put_meas(c, &cfg, &p, kid, "ok", 1.25); /* the same key: replaced */
  fc_cache_measurement m = {.problem = &p, .kernel_id = kid, .status = "verify-failed",
                            .message = "rel err NaN", .median_ms = INFINITY,
                            .p10_ms = NAN, .p90_ms = NAN, .rel_err = NAN, .rigor = "estimate"};
  fftconv_problem p2 = p;
  p2.seqlen = 1000;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
  m.problem = &p2;
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);

  fc_cache_entry last = {0};
  fc_cache_filter f = {.all = 1, .problem = "L4096"};
  cr_assert_eq(fc_cache_list(c, &f, count_rows, &last, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(last.runs, 1, "one row per (device, problem, kernel)");
  cr_assert(isnan(last.median_ms) && isnan(last.rel_err), "the failure replaced the ok row");
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 2);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE median_ms IS NULL AND "
                             "rel_err IS NULL AND p10_ms IS NULL"), 2);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM devices"), 1);
  cr_assert_eq(sql_int(path, "SELECT filter_len * 1000000 + fft_size FROM measurements "
                             "WHERE seqlen = 1000"), INT64_C(1000) * 1000000 + 2048);

  /* a measurement of a kernel the cache does not have is refused */
  c = open_cache(path, 1);
  m.kernel_id = 12345;
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "no kernel 12345"), "%s", e.msg);
  fc_cache_close(c);
}

Test(cache, measured_answers_resume_for_the_running_configuration) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  fc_cache_kernel k = kernel(HASH, "{\"seqs\":2}", "13.0", 90, 0);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  put_meas(c, &cfg, &p, put_kernel(c, &k), "compile-failed", NAN);
  int found = -1;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1, "a failure counts as measured");
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"seqs\":4}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH_OLD, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  fftconv_problem q = p;
  q.batch = 9;
  cr_assert_eq(fc_cache_measured(c, &cfg, &q, HASH, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  fc_cache_config other = cfg;
  other.nvrtc = "13.1";
  cr_assert_eq(fc_cache_measured(c, &other, &p, HASH, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  other = cfg;
  other.sm = 80;
  cr_assert_eq(fc_cache_measured(c, &other, &p, HASH, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  fc_device_info d2 = d;
  d2.driver_version = 13010;
  other = cfg;
  other.dev = &d2;
  cr_assert_eq(fc_cache_measured(c, &other, &p, HASH, "{\"seqs\":2}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0);
  fc_cache_close(c);
}

/* ---- winners and lookup ---- */

Test(cache, winner_is_the_fastest_trusted_ok_measurement) {
  fc_device_info d = h100(), newdrv = h100();
  newdrv.driver_version = 13010;
  fc_cache_config cfg = {&d, 90, "13.0"}, cfg2 = {&newdrv, 90, "13.0"},
                  cfg_old_nvrtc = {&d, 90, "12.8"}, cfg80 = {&d, 80, "13.0"};
  fc_cache *c = open_cache(path, 1);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache_kernel ka = kernel(HASH, "{\"v\":\"a\"}", "13.0", 90, 1),
                  kb = kernel(HASH, "{\"v\":\"b\"}", "13.0", 90, 1),
                  kc = kernel(HASH_OLD, "{\"v\":\"c\"}", "13.0", 90, 1),
                  kd = kernel(HASH, "{\"v\":\"d\"}", "12.8", 90, 1),
                  ke = kernel(HASH, "{\"v\":\"e\"}", "13.0", 90, 1),
                  kf = kernel(HASH, "{\"v\":\"f\"}", "13.0", 80, 1),
                  kg = kernel(HASH, "{\"v\":\"g\"}", "13.0", 90, 1);
  int64_t a = put_kernel(c, &ka), b = put_kernel(c, &kb), cc = put_kernel(c, &kc),
          dd = put_kernel(c, &kd), ee = put_kernel(c, &ke), ff = put_kernel(c, &kf),
          g = put_kernel(c, &kg);
  put_meas(c, &cfg, &p, a, "ok", 1.00);
  put_meas(c, &cfg, &p, g, "ok", 1.20);
  put_meas(c, &cfg, &p, b, "verify-failed", 0.10);     /* fast and wrong */
  put_meas(c, &cfg, &p, cc, "ok", 0.20);               /* another template hash */
  put_meas(c, &cfg_old_nvrtc, &p, dd, "ok", 0.30);     /* another NVRTC */
  put_meas(c, &cfg2, &p, ee, "ok", 0.40);              /* another driver version */
  put_meas(c, &cfg80, &p, ff, "ok", 0.50);             /* another compile target */
  cr_assert_eq(winner(c, &cfg, &p, HASH), a);
  cr_assert_eq(winner(c, &cfg2, &p, HASH), ee, "the other driver has its own winner");
  cr_assert_eq(winner(c, &cfg, &p, HASH_OLD), cc, "trusted follows the hash list");
  cr_assert_eq(winner(c, &cfg, &p, HASH), a);
  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  cr_assert_eq(hit.kernel_id, a);
  cr_assert_eq(hit.exact, 1);
  cr_assert_float_eq(hit.median_ms, 1.0, 1e-12);
  fc_cache_hit_free(&hit);

  /* a must not stay the winner once it failed; g takes over; then no ok at all: no row */
  put_meas(c, &cfg, &p, a, "launch-failed", NAN);
  cr_assert_eq(winner(c, &cfg, &p, HASH), g);
  put_meas(c, &cfg, &p, g, "verify-failed", NAN);
  cr_assert_eq(winner(c, &cfg, &p, HASH), 0);
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 0);
  fftconv_problem never = problem(1, 1, 256, FFTCONV_FP32);
  fc_device_info unknown = h100();
  snprintf(unknown.name, sizeof unknown.name, "NVIDIA A100");
  fc_cache_config cfgu = {&unknown, 80, "13.0"};
  cr_assert_eq(winner(c, &cfgu, &never, HASH), 0, "a device never seen has no winner");
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners WHERE device = (SELECT id FROM "
                             "devices WHERE driver_version = 13000)"), 0);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 7, "older rows are kept");
}

/* Winners for several shapes of one (N, dtype, mode, flags) class and a few other classes. */
static void fill_shapes(fc_cache *c, const fc_cache_config *cfg, int64_t kid[8]) {
  struct { int64_t b, h, l; } shapes[] = {{1, 1, 4096}, {8, 64, 4096}, {64, 768, 4096},
                                          {8, 64, 3000}, {8, 64, 3900}};
  for (int i = 0; i < 5; i++) {
    char params[64];
    snprintf(params, sizeof params, "{\"shape\":%d}", i);
    fc_cache_kernel k = kernel(HASH, params, "13.0", 90, 1);
    kid[i] = put_kernel(c, &k);
    fftconv_problem p = problem(shapes[i].b, shapes[i].h, shapes[i].l, FFTCONV_FP16);
    put_meas(c, cfg, &p, kid[i], "ok", 1.0 + i);
    cr_assert_eq(winner(c, cfg, &p, HASH), kid[i]);
  }
}

Test(cache, lookup_exact_then_nearest_shape) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  int64_t kid[8];
  fill_shapes(c, &cfg, kid);
  fc_cache_hit hit;

  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  cr_assert_eq(hit.exact, 1);
  cr_assert_eq(hit.kernel_id, kid[1]);
  cr_assert_str_eq(hit.problem_key, "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod");
  cr_assert_str_eq(hit.tmpl, "monarch_fp32");
  cr_assert_str_eq(hit.hash, HASH);
  cr_assert_str_eq(hit.params, "{\"shape\":1}");
  cr_assert_eq(hit.cubin_size, sizeof cubin_bytes);
  cr_assert_eq(memcmp(hit.cubin, cubin_bytes, sizeof cubin_bytes), 0);
  cr_assert_eq(hit.manifest.launch[1].block[0], 128);
  cr_assert_eq(hit.manifest.filter_fixed, 96 * 8);
  cr_assert_str_eq(hit.manifest.launch[1].entry, "fftconv_fwd");
  cr_assert_eq(hit.revision, 3);
  fc_cache_hit_free(&hit);

  struct { int64_t b, h, l; int want; } near[] = {
      {16, 64, 4096, 1},  /* B*H 1024: 512 is 2x away, 49152 48x */
      {2, 1, 4096, 0},    /* 2: 1 is 2x away, 512 256x */
      {32, 768, 4096, 2}, /* 24576: 49152 is 2x away */
      {8, 64, 3500, 4},   /* same rows as 1, 3, 4; L 3900 is nearest (N 8192 for all) */
      {8, 64, 2300, 3},   /* L + K - 1 = 4599: N 8192 still */
  };
  for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
    fftconv_problem q = problem(near[i].b, near[i].h, near[i].l, FFTCONV_FP16);
    cr_assert_eq(lookup(c, &cfg, &q, HASH, &hit), 1, "case %zu", i);
    cr_assert_eq(hit.exact, 0, "case %zu", i);
    cr_assert_eq(hit.kernel_id, kid[near[i].want], "case %zu: got kernel %lld (%s)", i,
                 (long long)hit.kernel_id, hit.problem_key);
    fc_cache_hit_free(&hit);
  }

  /* the cache as a store answers the same */
  fc_cache *sc = open_cache(path, 0);
  fc_store *store = fc_cache_store(sc);
  cr_assert_not_null(store);
  cr_assert(strstr(fc_store_describe(store), path), "%s", fc_store_describe(store));
  for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
    fftconv_problem q = problem(near[i].b, near[i].h, near[i].l, FFTCONV_FP16);
    const char *hashes[] = {HASH};
    int found = 0;
    fc_err e = {{0}};
    fc_shape sq;
    cr_assert_eq(fc_shape_resolve(&q, FC_OP_FORWARD, &sq, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(fc_store_lookup(store, &cfg, &sq, hashes, 1, &hit, &found, &e), FFTCONV_OK,
                 "%s", e.msg);
    cr_assert(found && hit.kernel_id == kid[near[i].want], "store case %zu", i);
    fc_cache_hit_free(&hit);
  }
  fc_store_close(store); /* closes sc */

  /* nothing of another class: N, dtype, mode, gates, D, F, K < L */
  fftconv_problem miss[9];
  for (int i = 0; i < 9; i++) miss[i] = problem(8, 64, 4096, FFTCONV_FP16);
  miss[0].seqlen = 2048;                  /* N 4096 */
  miss[1].dtype = FFTCONV_BF16;
  miss[2].mode = FFTCONV_CIRCULAR;        /* N 4096 as well */
  miss[3].pre_gate = 1;
  miss[4].post_gate = 1;
  miss[5].skip_d = 1;
  miss[6].freq_keep = 100;
  miss[7].filter_len = 1000;              /* partial: K != L (N stays 8192) */
  miss[8].dtype = FFTCONV_FP32;
  for (int i = 0; i < 9; i++) {
    hit.kernel_id = 77;
    cr_assert_eq(lookup(c, &cfg, &miss[i], HASH, &hit), 0, "miss case %d found %s", i,
                 hit.problem_key);
    cr_assert_eq(hit.kernel_id, 0);
    cr_assert_null(hit.params);
  }
  fc_cache_close(c);
}

/* A nearest-shape winner whose kernel does not fit the wanted shape's bounds (its workspace
   at that batch: plan creation would refuse it) is passed over for the next nearest. Kernel A
   (tuned at 128 rows) has a fixed workspace of 100 rows' worth past the forward's fixed bound:
   within it from 100 rows, not at 5. Kernel B (49,152 rows) has none. */
Test(cache, a_nearest_kernel_past_the_shapes_bounds_is_passed_over) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  const int64_t n = 8192; /* causal L = K = 4096 */
  fc_cache_kernel ka = kernel(HASH, "{\"shape\":\"a\"}", "13.0", 90, 1);
  ka.manifest.nws = 1;
  ka.manifest.ws[0] = (fc_workspace_region){"big", 0, 4 * n + 1024 + 100 * 4 * n, 0};
  int64_t a = put_kernel(c, &ka);
  fftconv_problem pa = problem(16, 8, 4096, FFTCONV_FP16);
  put_meas(c, &cfg, &pa, a, "ok", 1.0);
  cr_assert_eq(winner(c, &cfg, &pa, HASH), a);
  fc_cache_kernel kb = kernel(HASH, "{\"shape\":\"b\"}", "13.0", 90, 1);
  int64_t b = put_kernel(c, &kb);
  fftconv_problem pb = problem(64, 768, 4096, FFTCONV_FP16);
  put_meas(c, &cfg, &pb, b, "ok", 1.0);
  cr_assert_eq(winner(c, &cfg, &pb, HASH), b);
  fc_cache_hit hit;
  fftconv_problem q = problem(1, 5, 4096, FFTCONV_FP16); /* A is nearer, but does not fit */
  cr_assert_eq(lookup(c, &cfg, &q, HASH, &hit), 1);
  cr_assert_eq(hit.kernel_id, b, "got %s's kernel", hit.problem_key);
  fc_cache_hit_free(&hit);
  q = problem(32, 8, 4096, FFTCONV_FP16); /* 256 rows: A is nearer and fits */
  cr_assert_eq(lookup(c, &cfg, &q, HASH, &hit), 1);
  cr_assert_eq(hit.kernel_id, a, "got %s's kernel", hit.problem_key);
  fc_cache_hit_free(&hit);
  fc_cache_close(c);
}

Test(cache, lookup_ignores_other_templates_nvrtc_arch_and_devices) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  int64_t kid[8];
  fill_shapes(c, &cfg, kid);
  fc_cache_close(c);
  c = open_cache(path, 0); /* the runtime reads */
  fftconv_problem exact = problem(8, 64, 4096, FFTCONV_FP16),
                  nearp = problem(16, 64, 4096, FFTCONV_FP16);
  fc_cache_hit hit;
  const fftconv_problem *ps[] = {&exact, &nearp};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(lookup(c, &cfg, ps[i], HASH, &hit), 1);
    fc_cache_hit_free(&hit);
    cr_assert_eq(lookup(c, &cfg, ps[i], HASH_OLD, &hit), 0, "template changed since");
    fc_cache_config o = cfg;
    o.nvrtc = "13.1";
    cr_assert_eq(lookup(c, &o, ps[i], HASH, &hit), 0, "another NVRTC");
    o.nvrtc = NULL; /* a runtime without NVRTC compiles nothing: any version's kernel runs */
    cr_assert_eq(lookup(c, &o, ps[i], HASH, &hit), 1, "no NVRTC: any version is trusted");
    fc_cache_hit_free(&hit);
    o = cfg;
    o.sm = 100;
    cr_assert_eq(lookup(c, &o, ps[i], HASH, &hit), 0, "another compile target");
    fc_device_info d2 = d;
    d2.driver_version = 13010;
    o = cfg;
    o.dev = &d2;
    cr_assert_eq(lookup(c, &o, ps[i], HASH, &hit), 0, "another driver");
    d2 = d;
    d2.sms = 114;
    cr_assert_eq(lookup(c, &o, ps[i], HASH, &hit), 0, "another SM count");
    int found = 1;
    fc_err e = {{0}};
    cr_assert_eq(fc_cache_lookup(c, &cfg, ps[i], NULL, 0, &hit, &found, &e), FFTCONV_OK);
    cr_assert_eq(found, 0, "no trusted template at all");
  }
  /* a read-only open cannot write */
  fc_err e = {{0}};
  fc_cache_kernel k = kernel(HASH, "{}", "13.0", 90, 1);
  int64_t id;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_ERR_IO);
  cr_assert(strstr(e.msg, "read-only"), "%s", e.msg);
  fc_cache_close(c);
}

Test(cache, lookup_is_fast) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  /* 400 kernels, 40 problems x 100 candidates = 4000 measurements, 40 winners */
  int64_t kid[400];
  for (int i = 0; i < 400; i++) {
    char params[64];
    snprintf(params, sizeof params, "{\"factors\":[16,16,%d],\"seqs\":%d}", i % 7, i);
    fc_cache_kernel k = kernel(i % 3 ? HASH : HASH_OLD, params, "13.0", 90, 1);
    kid[i] = put_kernel(c, &k);
  }
  for (int pi = 0; pi < 40; pi++) {
    fftconv_problem p = problem(1 + pi % 10, 64 << (pi / 10), 4096, FFTCONV_FP16);
    for (int j = 0; j < 100; j++)
      put_meas(c, &cfg, &p, kid[(pi * 37 + j) % 400], j % 9 ? "ok" : "verify-failed",
               1.0 + 0.01 * ((j * 13) % 100));
    cr_assert_gt(winner(c, &cfg, &p, HASH), 0);
  }
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 4000);

  c = open_cache(path, 0);
  fftconv_problem exact = problem(3, 64, 4096, FFTCONV_FP16),
                  nearp = problem(3, 100, 4096, FFTCONV_FP16);
  fc_cache_hit hit;
  const int n = 2000;
  double t[2];
  const fftconv_problem *ps[] = {&exact, &nearp};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(lookup(c, &cfg, ps[i], HASH, &hit), 1); /* warm: statements prepared */
    cr_assert_eq(hit.exact, i == 0);
    fc_cache_hit_free(&hit);
    double t0 = fc_now();
    for (int j = 0; j < n; j++) {
      lookup(c, &cfg, ps[i], HASH, &hit);
      fc_cache_hit_free(&hit);
    }
    t[i] = (fc_now() - t0) / n * 1e6;
  }
  cr_log_info("lookup: %.1f us exact, %.1f us nearest shape (400 kernels with %zu-byte cubins, "
              "4000 measurements, 40 winners; mean of %d)", t[0], t[1], sizeof cubin_bytes, n);
  cr_assert_lt(t[0], 500.0);
  cr_assert_lt(t[1], 500.0);
  fc_cache_close(c);
}

/* ---- slimming ---- */

static int has_cubin(const char *p, int64_t kid) {
  char q[128];
  snprintf(q, sizeof q, "SELECT cubin IS NOT NULL FROM kernels WHERE id = %" PRId64, kid);
  return (int)sql_int(p, q);
}

static fc_cache_slimmed slim(fc_cache *c, int finalists, int dry_run) {
  fc_cache_slimmed s;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_slim(c, finalists, dry_run, &s, &e), FFTCONV_OK, "slim: %s", e.msg);
  return s;
}

Test(cache, slimming_keeps_winners_and_finalists_and_resume_still_skips) {
  fc_device_info d = h100(), d2 = h100();
  snprintf(d2.name, sizeof d2.name, "NVIDIA H200");
  fc_cache_config cfg = {&d, 90, "13.0"}, cfg2 = {&d2, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16), q = problem(8, 64, 2048, FFTCONV_FP16);
  int64_t k[8];
  for (int i = 0; i < 8; i++) {
    char params[32];
    snprintf(params, sizeof params, "{\"v\":%d}", i);
    fc_cache_kernel kk = kernel(HASH, params, "13.0", 90, i != 7);
    k[i] = put_kernel(c, &kk);
  }
  /* P on the H100: k0 < k1 < ... by median, k2 fast but wrong, k7 failed to compile */
  for (int i = 0; i < 7; i++)
    put_meas(c, &cfg, &p, k[i], i == 2 ? "verify-failed" : "ok", i == 2 ? 0.1 : 1.0 + 0.1 * i);
  put_meas(c, &cfg, &p, k[7], "compile-failed", NAN);
  /* Q on the H100: k6 then k5 fastest; P on the H200: only k4 */
  put_meas(c, &cfg, &q, k[6], "ok", 0.5);
  put_meas(c, &cfg, &q, k[5], "ok", 0.6);
  put_meas(c, &cfg, &q, k[4], "ok", 0.7);
  put_meas(c, &cfg2, &p, k[4], "ok", 0.9);
  cr_assert_eq(winner(c, &cfg, &p, HASH), k[0]);
  cr_assert_eq(winner(c, &cfg, &q, HASH), k[6]);
  cr_assert_eq(winner(c, &cfg2, &p, HASH), k[4]);

  /* finalists 2: P keeps k0 and k1 (k2 is not ok), Q keeps k6 and k5, the H200's P k4;
     k2 (wrong) and k3 (slow) go */
  fc_cache_slimmed dry = slim(c, 2, 1);
  cr_assert_eq(dry.binaries, 2);
  cr_assert_eq(dry.sources, 0, "this build never stored a source");
  cr_assert_eq(dry.bytes, 2 * ((int64_t)sizeof cubin_bytes + 12 + 24), "cubin, PTX and log");
  cr_assert(has_cubin(path, k[2]) && has_cubin(path, k[3]), "a dry run dropped one");
  fc_cache_slimmed s = slim(c, 2, 0);
  cr_assert_eq(s.binaries, dry.binaries);
  cr_assert_eq(s.bytes, dry.bytes);
  for (int i = 0; i < 8; i++)
    cr_assert_eq(has_cubin(path, k[i]), i != 2 && i != 3 && i != 7, "kernel %d", i);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE ptx IS NULL AND log IS NULL "
                             "AND binary_dropped > 1.6e9"), 2, "PTX and log went too");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE log IS NOT NULL AND "
                             "binary_dropped IS NULL"), 6, "k7's compile log is kept");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 12, "every measurement stays");
  fc_cache_kernel_row r;
  int found = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_get_kernel(c, k[3], &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(found && !r.k.cubin && !r.k.ptx && !r.k.log && isfinite(r.binary_dropped));
  cr_assert_eq(r.k.registers, 40, "the resources stay");
  cr_assert_eq(r.k.manifest.launch[1].smem, 8192);
  fc_cache_kernel_row_free(&r);
  cr_assert_eq(slim(c, 2, 0).binaries, 0, "slimming twice drops nothing more");
  /* finalists 1 drops k1 and k5 as well; the winners k0, k6 and k4 stay */
  cr_assert_eq(slim(c, 1, 0).binaries, 2);
  for (int i = 0; i < 8; i++)
    cr_assert_eq(has_cubin(path, k[i]), i == 0 || i == 4 || i == 6, "kernel %d", i);

  /* resume: a slimmed candidate counts as measured */
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"v\":3}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1);

  /* the winner fails a later run: the next one with a cubin takes over, never a slimmed one */
  put_meas(c, &cfg, &p, k[0], "launch-failed", NAN);
  int64_t w = winner(c, &cfg, &p, HASH);
  cr_assert_eq(w, k[4], "k1 and k3 are faster but have no cubin; k4 has one");
  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  cr_assert(hit.exact && hit.kernel_id == k[4] && hit.cubin_size == sizeof cubin_bytes);
  fc_cache_hit_free(&hit);
  /* a later run compiles k1 again: its row gets the cubin back, and it can win */
  fc_cache_kernel k1 = kernel(HASH, "{\"v\":1}", "13.0", 90, 1);
  cr_assert_eq(put_kernel(c, &k1), k[1]);
  cr_assert(has_cubin(path, k[1]));
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE binary_dropped IS NOT NULL"), 3,
               "k1's mark is gone, k2's, k3's and k5's stay");
  cr_assert_eq(winner(c, &cfg, &p, HASH), k[1]);

  /* a winner whose cubin is missing anyway is a miss, not a crash */
  fftconv_problem b = problem(8, 64, 4096, FFTCONV_BF16);
  put_meas(c, &cfg, &b, k[6], "ok", 2.0);
  cr_assert_eq(winner(c, &cfg, &b, HASH), k[6]);
  fc_cache_close(c);
  char sql[128];
  snprintf(sql, sizeof sql, "UPDATE kernels SET cubin = NULL WHERE id = %" PRId64, k[6]);
  sql_exec(path, sql);
  c = open_cache(path, 0);
  cr_assert_eq(lookup(c, &cfg, &b, HASH, &hit), 0);
  cr_assert_eq(lookup(c, &cfg, &q, HASH, &hit), 0, "Q's winner was k6 too");
  fc_cache_close(c);
}

Test(cache, an_ok_measurement_stored_with_its_kernel_keeps_its_cubin) {
  /* two tuners share the file: B compiles k for Q; A finishes a problem and slims, which
     drops k (nothing measured it yet); B's ok measurement brings the cubin back */
  fc_device_info d = h100(), d2 = h100();
  snprintf(d2.name, sizeof d2.name, "NVIDIA H200");
  fc_cache_config cfg = {&d, 90, "13.0"}, cfg2 = {&d2, 90, "13.0"};
  fc_cache *a = open_cache(path, 1), *b = open_cache(path, 1);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache_kernel ka = kernel(HASH, "{\"v\":\"a\"}", "13.0", 90, 1),
                  kb = kernel(HASH, "{\"v\":\"b\"}", "13.0", 90, 1);
  int64_t kid = put_kernel(b, &kb);
  put_meas(a, &cfg, &p, put_kernel(a, &ka), "ok", 1.0);
  cr_assert_gt(winner(a, &cfg, &p, HASH), 0);
  cr_assert_eq(slim(a, FC_CACHE_FINALISTS, 0).binaries, 1);
  cr_assert(!has_cubin(path, kid), "B's candidate lost its cubin");
  fc_cache_measurement m = {.problem = &p, .kernel_id = 0, .status = "ok", .median_ms = 0.5,
                            .p10_ms = 0.5, .p90_ms = 0.5, .runs = 30, .rel_err = 1e-4,
                            .rigor = "measure", .kernel = &kb};
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_measurement(b, &cfg2, &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(has_cubin(path, kid), "the measurement's transaction stored it again");
  cr_assert_eq(winner(b, &cfg2, &p, HASH), kid);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE kernel = "
                             "(SELECT id FROM kernels WHERE params = '{\"v\":\"b\"}')"), 1);
  fc_cache_kernel bad = kb;
  bad.source = NULL;
  m.kernel = &bad;
  cr_assert_eq(fc_cache_put_measurement(b, &cfg2, &m, &e), FFTCONV_ERR_INVALID);
  fc_cache_close(a);
  fc_cache_close(b);
}

/* ---- the source, emitted again ---- */

/* A real monarch_fp32 kernel's params and source for an fp32 problem of length n. */
static void real_kernel(int64_t n, char **params, fc_kernel_src *src) {
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  fftconv_problem p = problem(8, 64, n, FFTCONV_FP32);
  cr_assert_eq(fc_emit_default(m, "monarch_fp32", &p, &d, params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(m, "monarch_fp32", *params, &d, src, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
}

Test(cache, source_is_emitted_again_and_checked_against_its_hash) {
  char *params;
  fc_kernel_src src = {0};
  real_kernel(4096, &params, &src);
  fc_cache *c = open_cache(path, 1);
  fc_cache_kernel k = kernel(src.info.hash, params, "13.0", 90, 1);
  k.source = src.source;
  int64_t good = put_kernel(c, &k);
  k.sm = 80; /* another row, whose stored hash is not that of the text its params emit */
  k.source = "// not what the template emits\n";
  int64_t wrong = put_kernel(c, &k);
  fc_cache_kernel old = kernel(HASH, params, "13.0", 90, 1); /* an older template */
  int64_t stale = put_kernel(c, &old);
  fc_cache_kernel gone = kernel(HASH, params, "13.0", 90, 1);
  gone.tmpl = "monarch_gone";
  gone.hash = "1111111111111111";
  int64_t unknown = put_kernel(c, &gone);
  fc_cache_close(c);
  c = open_cache(path, 0);

  fc_cache_kernel_row r;
  int found;
  char *text = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_get_kernel(c, good, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_null(r.k.source);
  cr_assert_eq(fc_cache_source(&r.k, &text, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(text, src.source, "emitted again, byte for byte");
  free(text);
  fc_cache_kernel_row_free(&r);

  cr_assert_eq(fc_cache_get_kernel(c, wrong, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_source(&r.k, &text, &e), FFTCONV_ERR_IO);
  cr_assert_null(text);
  cr_assert(strstr(e.msg, "hashes to") && strstr(e.msg, r.k.source_hash), "%s", e.msg);
  fc_cache_kernel_row_free(&r);

  cr_assert_eq(fc_cache_get_kernel(c, stale, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_source(&r.k, &text, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "cannot be emitted again") && strstr(e.msg, HASH) &&
            strstr(e.msg, src.info.hash) && strstr(e.msg, "changed since"), "%s", e.msg);
  fc_cache_kernel_row_free(&r);

  cr_assert_eq(fc_cache_get_kernel(c, unknown, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_source(&r.k, &text, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "monarch_gone is not embedded"), "%s", e.msg);
  fc_cache_kernel_row_free(&r);
  fc_cache_close(c);
  free(params);
  fc_kernel_src_free(&src);
}

/* ---- device bandwidth ---- */

typedef struct rows {
  int n;
  double gbps[4];
  fftconv_problem problem[4];
} rows;

static int collect(const fc_cache_entry *r, void *arg) {
  rows *s = arg;
  if (s->n < 4) {
    s->gbps[s->n] = r->copy_gbps;
    s->problem[s->n] = r->problem;
  }
  s->n++;
  return 0;
}

Test(cache, copy_bandwidth_round_trip_and_list_carries_it_with_the_shape) {
  fc_device_info d = h100(), other = h100();
  other.driver_version = 13010;
  fc_cache_config cfg = {&d, 90, "13.0"}, cfg2 = {&other, 90, "13.0"};
  fc_cache *c = open_cache(path, 1);
  double g = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_get_bandwidth(c, &cfg, &g, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(isnan(g), "no device row yet");
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, 3012.5, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, 0, &e), FFTCONV_ERR_INVALID);
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, NAN, &e), FFTCONV_ERR_INVALID);
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, -1, &e), FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "not a positive number"), "%s", e.msg);
  fftconv_problem p = problem(64, 768, 2048, FFTCONV_BF16);
  p.mode = FFTCONV_CIRCULAR;
  p.pre_gate = p.post_gate = 1;
  p.freq_keep = 100;
  fc_cache_kernel k = kernel(HASH, "{}", "13.0", 90, 1);
  int64_t kid = put_kernel(c, &k);
  put_meas(c, &cfg, &p, kid, "ok", 0.5);
  put_meas(c, &cfg2, &p, kid, "ok", 0.6);
  cr_assert_eq(winner(c, &cfg, &p, HASH), kid);
  cr_assert_eq(winner(c, &cfg2, &p, HASH), kid);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM devices"), 2, "the first put made the row");

  c = open_cache(path, 0); /* reads work on a read-only open */
  cr_assert_eq(fc_cache_get_bandwidth(c, &cfg, &g, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_float_eq(g, 3012.5, 1e-9);
  cr_assert_eq(fc_cache_get_bandwidth(c, &cfg2, &g, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(isnan(g), "a device row without a measurement of it");
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, 1.0, &e), FFTCONV_ERR_IO, "read-only");
  fc_cache_close(c);

  c = open_cache(path, 1);
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, 2900.0, &e), FFTCONV_OK, "%s", e.msg);
  for (int all = 0; all < 2; all++) {
    rows s = {0};
    fc_cache_filter f = {.device = "H100", .all = all};
    cr_assert_eq(fc_cache_list(c, &f, collect, &s, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(s.n, 2, "all %d", all);
    /* rows sort by driver: 13000 first */
    cr_assert_float_eq(s.gbps[0], 2900.0, 1e-9, "put again replaces");
    cr_assert(isnan(s.gbps[1]), "13010 has none");
    for (int i = 0; i < 2; i++) {
      const fftconv_problem *q = &s.problem[i];
      cr_assert(q->batch == 64 && q->heads == 768 && q->seqlen == 2048 &&
                q->filter_len == 2048 && q->freq_keep == 100 && q->dtype == FFTCONV_BF16 &&
                q->mode == FFTCONV_CIRCULAR && q->pre_gate && q->post_gate && !q->skip_d,
                "all %d row %d: the shape behind the key", all, i);
    }
  }
  fc_cache_close(c);
}

/* ---- a default-set-sized cache ---- */

/* Stands in for `fftconv-tune` on the default set on an H200 (which left 211 MB before
   slimming): 32 problems (fp16 and bf16, N = 256 ... 32768, circular L = N and causal
   L = N/2, which share their kernel rows) of 60 candidates with 50-100 kB cubins each, stored
   as search.c stores them, the winner chosen and the cache slimmed after each problem. */
Test(cache, a_default_set_sized_cache_stays_under_25_mb) {
  enum { NCAND = 60, MB25 = 25 * 1000 * 1000 };
  fc_device_info d = h100();
  snprintf(d.name, sizeof d.name, "NVIDIA H200");
  fc_cache_config cfg = {&d, 90, "13.0"};
  const char *hashes[] = {HASH};
  static unsigned char cubin[100000];
  fc_rng rng = {7};
  for (size_t i = 0; i < sizeof cubin; i++)
    cubin[i] = (unsigned char)(fc_rng_uniform(&rng) * 127 + 128);
  /* in memory where there is a tmpfs: the sizes are the same, the disk traffic (about 300 MB
     through the WAL) is not worth waiting for */
  char shm[64] = "/dev/shm/fftconv-cache-XXXXXX", db[128], wal[160];
  int in_shm = access("/dev/shm", W_OK) == 0 && mkdtemp(shm);
  snprintf(db, sizeof db, "%s/cache.db", in_shm ? shm : dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  int64_t peak = 0, stored = 0;
  int problems = 0;
  fc_cache *c = open_cache(db, 1);
  fc_err e = {{0}};
  for (int dt = 0; dt < 2; dt++)
    for (int64_t n = 256; n <= 32768; n *= 2)
      for (int mode = 0; mode < 2; mode++) {
        fftconv_problem p = problem(64, 768, mode ? n : n / 2, dt ? FFTCONV_BF16 : FFTCONV_FP16);
        p.mode = mode ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
        p.pre_gate = p.post_gate = 1;
        for (int j = 0; j < NCAND; j++) {
          char params[96];
          snprintf(params, sizeof params, "{\"dtype\":%d,\"fft_size\":%" PRId64 ",\"j\":%d}", dt,
                   n, j);
          int compiled = j % 20 != 7, wrong = j % 20 == 11;
          fc_cache_kernel k = kernel(HASH, params, "13.0", 90, compiled);
          k.cubin = compiled ? cubin : NULL;
          k.cubin_size = compiled ? 50000 + (size_t)((j * 7919 + n) % 50000) : 0;
          int64_t kid = put_kernel(c, &k);
          stored += (int64_t)k.cubin_size;
          double ms = 0.01 * (double)n / 256 * (1 + 0.37 * ((j * 31 + dt) % NCAND) / NCAND);
          fc_cache_measurement m = {
              .problem = &p, .kernel_id = kid,
              .status = !compiled ? "compile-failed" : wrong ? "verify-failed" : "ok",
              .median_ms = compiled && !wrong ? ms : NAN, .p10_ms = ms, .p90_ms = ms,
              .runs = j % 4 ? 3 : 30, .rel_err = 4e-4, .rigor = "measure",
              .kernel = compiled && !wrong ? &k : NULL};
          cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
        }
        int64_t w = 0;
        cr_assert_eq(fc_cache_update_winner(c, &cfg, &p, hashes, 1, &w, &e), FFTCONV_OK, "%s",
                     e.msg);
        cr_assert_gt(w, 0);
        slim(c, FC_CACHE_FINALISTS, 0);
        struct stat a, b;
        int64_t size = (stat(db, &a) == 0 ? a.st_size : 0) + (stat(wal, &b) == 0 ? b.st_size : 0);
        if (size > peak) peak = size;
        problems++;
      }
  cr_assert_eq(problems, 32);
  cr_assert_eq(sql_int(db, "SELECT count(*) FROM measurements"), 32 * NCAND, "all kept");
  cr_assert_eq(sql_int(db, "SELECT count(*) FROM winners w JOIN kernels k ON k.id = w.kernel "
                           "WHERE k.cubin IS NOT NULL"), 32, "every winner has its cubin");
  int64_t kept = sql_int(db, "SELECT count(*) FROM kernels WHERE cubin IS NOT NULL");
  cr_assert_leq(kept, 32 * FC_CACHE_FINALISTS);
  /* resume skips a slimmed candidate */
  cr_assert_eq(sql_int(db, "SELECT binary_dropped IS NOT NULL FROM kernels WHERE params = "
                           "'{\"dtype\":0,\"fft_size\":4096,\"j\":59}'"), 1);
  fftconv_problem p = problem(64, 768, 4096, FFTCONV_FP16);
  p.mode = FFTCONV_CIRCULAR;
  p.pre_gate = p.post_gate = 1;
  int found = 0;
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"dtype\":0,\"fft_size\":4096,\"j\":59}",
                                 &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1);
  /* the tuner compacts at the end of a run: the free pages slimming left go back */
  int64_t before = 0, after = 0;
  cr_assert_eq(fc_cache_compact(c, 0.25, &before, &after, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_lt(after, before, "compacting gave nothing back (%lld bytes)", (long long)before);
  cr_assert_eq(sql_int(db, "SELECT count(*) FROM measurements"), 32 * NCAND, "all kept");
  int64_t again = 0;
  cr_assert_eq(fc_cache_compact(c, 0.25, NULL, &again, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(again, after, "a compact file is left alone");
  fc_cache_close(c);
  struct stat sb;
  cr_assert_eq(stat(db, &sb), 0);
  cr_assert_lt(sb.st_size, MB25);
  cr_log_info("default-set-sized cache: %d problems x %d candidates, %.1f MB of cubins stored, "
              "%lld kept; file %.2f MB after the run (peak %.2f MB with its WAL)",
              problems, NCAND, (double)stored / 1e6, (long long)kept, (double)sb.st_size / 1e6,
              (double)peak / 1e6);
  if (in_shm) {
    const char *sides[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
      char f[192];
      snprintf(f, sizeof f, "%s%s", db, sides[i]);
      remove(f);
    }
    rmdir(shm);
  }
  cr_assert_lt(sb.st_size, MB25);
  cr_assert_lt(peak, MB25, "it never grew large during the run");
}

/* ---- several processes ---- */

static int writer(const char *p, int who) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache *c = NULL;
  fc_err e = {{0}};
  if (fc_cache_open(p, 1, &c, &e) != FFTCONV_OK) {
    fprintf(stderr, "writer %d: %s\n", who, e.msg);
    return 1;
  }
  char params[32];
  snprintf(params, sizeof params, "{\"writer\":%d}", who);
  fc_cache_kernel k = kernel(HASH, params, "13.0", 90, 1);
  int64_t kid;
  if (fc_cache_put_kernel(c, &k, &kid, &e) != FFTCONV_OK) {
    fprintf(stderr, "writer %d: %s\n", who, e.msg);
    return 2;
  }
  for (int i = 0; i < 300; i++) {
    fftconv_problem pr = problem(1 + i, 4, 1024, FFTCONV_FP32);
    fc_cache_measurement m = {.problem = &pr, .kernel_id = kid, .status = "ok",
                              .median_ms = 1 + i, .runs = 20, .rel_err = 1e-7};
    if (fc_cache_put_measurement(c, &cfg, &m, &e) != FFTCONV_OK) {
      fprintf(stderr, "writer %d, measurement %d: %s\n", who, i, e.msg);
      return 3;
    }
    const char *h[] = {HASH};
    int64_t best;
    if (i % 10 == 0 && fc_cache_update_winner(c, &cfg, &pr, h, 1, &best, &e) != FFTCONV_OK) {
      fprintf(stderr, "writer %d, winner %d: %s\n", who, i, e.msg);
      return 4;
    }
  }
  fc_cache_close(c);
  return 0;
}

Test(cache, two_processes_write_one_file) {
  /* both create the file too: neither exists beforehand */
  pid_t pid[2];
  for (int w = 0; w < 2; w++) {
    pid[w] = fork();
    cr_assert_geq(pid[w], 0);
    if (pid[w] == 0) _exit(writer(path, w));
  }
  for (int w = 0; w < 2; w++) {
    int st;
    cr_assert_eq(waitpid(pid[w], &st, 0), pid[w]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed (status %d)", w, st);
  }
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 600);
  cr_assert_eq(sql_int(path, "SELECT count(DISTINCT kernel) FROM measurements"), 2);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM devices"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners"), 30);
}

Test(cache, a_writer_held_past_the_timeout_is_an_error_not_a_crash) {
  fill_small(path);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  fc_cache *c = open_cache(path, 1);
  fc_cache_set_busy_timeout(c, 200);
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache_measurement m = {.problem = &p, .kernel_id = 1, .status = "ok", .median_ms = 1};
  fc_err e = {{0}};
  double t0 = fc_now();
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_ERR_IO);
  cr_assert_geq(fc_now() - t0, 0.15, "it did not wait for the lock");
  cr_assert(strstr(e.msg, "is busy") && strstr(e.msg, path), "%s", e.msg);
  fc_cache_hit hit; /* readers are not blocked by a writer in WAL mode */
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  fc_cache_hit_free(&hit);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_close(c);
}

/* ---- files that are not (or no longer) ours ---- */

/* Both modes refuse the file at p, and leave it byte for byte as it was. */
static void refused_untouched(const char *p, const char *why) {
  size_t n0, n1;
  unsigned char *before = read_file(p, &n0);
  expect_refused(p, 0, why);
  expect_refused(p, 1, why);
  unsigned char *after = read_file(p, &n1);
  cr_assert_eq(n0, n1, "%s changed size", p);
  cr_assert_eq(memcmp(before, after, n0), 0, "%s changed", p);
  char side[256];
  snprintf(side, sizeof side, "%s-wal", p);
  cr_assert(!exists(side), "%s was created", side);
  snprintf(side, sizeof side, "%s-journal", p);
  cr_assert(!exists(side), "%s was created", side);
  free(before);
  free(after);
}

Test(cache, garbage_and_truncated_files_are_refused_untouched) {
  char p[256];
  snprintf(p, sizeof p, "%s/garbage.db", dir);
  unsigned char junk[8192];
  fc_rng rng = {42};
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(fc_rng_uniform(&rng) * 128 + 128);
  write_file(p, junk, sizeof junk);
  refused_untouched(p, "is not an fftconv cache");
  write_file(p, "hello\n", 6);
  refused_untouched(p, "is not an fftconv cache");

  /* a real cache, cut in half, then cut inside its first page */
  fill_small(path);
  size_t n;
  unsigned char *whole = read_file(path, &n);
  cr_assert_gt(n, 8192);
  write_file(p, whole, n / 2);
  refused_untouched(p, "truncated");
  write_file(p, whole, 1000);
  refused_untouched(p, "is not an fftconv cache");
  /* the right size and a real header, but every page after the header is noise */
  {
    unsigned char *noise = malloc(n);
    for (size_t i = 0; i < n; i++) noise[i] = (unsigned char)(fc_rng_uniform(&rng) * 128 + 128);
    memcpy(noise, whole, 100);
    write_file(p, noise, n);
    free(noise);
    size_t n0;
    unsigned char *before = read_file(p, &n0);
    expect_refused(p, 0, "fftconv cache");
    expect_refused(p, 1, "fftconv cache");
    size_t n1;
    unsigned char *after = read_file(p, &n1);
    cr_assert(n0 == n1 && !memcmp(before, after, n0), "noise pages changed");
    free(before);
    free(after);
  }
  free(whole);
  /* an empty file is a fresh cache for a writer, and nothing to read for a reader */
  write_file(p, "", 0);
  expect_refused(p, 0, "is not an fftconv cache");
  fc_cache *c = open_cache(p, 1);
  fc_cache_close(c);
  cr_assert_eq(sql_int(p, "PRAGMA user_version"), 5);
}

Test(cache, foreign_sqlite_files_are_refused_untouched) {
  char p[256];
  snprintf(p, sizeof p, "%s/other.db", dir);
  sql_exec(p, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  refused_untouched(p, "another application");
  remove(p);
  sql_exec(p, "PRAGMA application_id = 1234; CREATE TABLE t (x);");
  refused_untouched(p, "is not an fftconv cache");
}

Test(cache, newer_schema_is_refused_untouched) {
  fill_small(path);
  sql_exec(path, "PRAGMA user_version = 6");
  char want[256];
  snprintf(want, sizeof want, "cache %s has schema version 6; this build reads up to 5", path);
  refused_untouched(path, want);
}

/* ---- migration ---- */

/* Every table's columns (name, type, not null, default) and every index name, sorted. */
static void schema_signature(const char *p, char *out, size_t len) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db,
      "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' ' || "
      "coalesce(c.dflt_value, '-') || ' ' || c.pk FROM sqlite_master m, "
      "pragma_table_info(m.name) c WHERE m.type = 'table' UNION ALL "
      "SELECT 'index ' || name || ' on ' || tbl_name FROM sqlite_master WHERE type = 'index' "
      "ORDER BY 1", -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  size_t n = 0;
  out[0] = 0;
  while (sqlite3_step(s) == SQLITE_ROW)
    n += (size_t)snprintf(out + n, len - n, "%s\n", (const char *)sqlite3_column_text(s, 0));
  cr_assert_lt(n, len);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

Test(cache, version_1_file_is_migrated_with_its_rows) {
  /* a version-1 file as that build wrote it */
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  const char *v1 = fc_cache_schema_sql(1);
  cr_assert_not_null(v1);
  cr_assert_null(strstr(v1, "khat_table"), "version 1 had no khat_table");
  cr_assert_null(fc_cache_schema_sql(6));
  cr_assert_null(fc_cache_schema_sql(0));
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, v1, NULL, NULL, &err), SQLITE_OK, "%s", err);
  char sql[4096];
  snprintf(sql, sizeof sql,
      "PRAGMA application_id = %d; PRAGMA user_version = 1; PRAGMA journal_mode = WAL;"
      "INSERT INTO devices VALUES (1, 'NVIDIA H100 80GB HBM3', 132, 13000, 90, 232448, "
      "  52428800, 85899345920, 1.7e9);"
      "INSERT INTO kernels VALUES (1, 'monarch_fp32', 2, '" HASH "', '{\"old\":1}', 90, "
      "  '13.0', '// v1 source', x'00112233', NULL, '', 32, 0, 0, 0, 0, 0.5, 256, 4096, 1, "
      "  128, 0, 1, 4097, 'fftconv_fwd', 'fftconv_prep', 1.7e9);"
      "INSERT INTO measurements VALUES (1, 1, 'B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost"
      ".nod', 8, 64, 4096, 4096, 0, 8192, 'fp16', 'causal', 0, 0, 0, 1, 'ok', NULL, 0.75, 0.7,"
      "  0.8, 25, 3e-4, 1.7e9);"
      "INSERT INTO winners VALUES (1, 1, 'B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod',"
      "  8, 64, 4096, 4096, 0, 8192, 'fp16', 'causal', 0, 0, 0, 1, 0.75, 1.7e9);",
      FC_CACHE_APP_ID);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
  sqlite3_close(db);

  /* the runtime cannot migrate; it says what to do */
  expect_refused(path, 0, "schema version 1");
  fc_cache *c = open_cache(path, 1);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "PRAGMA user_version"), 5, "migrated through 2, 3 and 4 to 5");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE rigor IS NULL"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source = '// v1 source'"), 1);

  c = open_cache(path, 0);
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1, "the version-1 winner survived");
  cr_assert_eq(hit.exact, 1);
  cr_assert_str_eq(hit.params, "{\"old\":1}");
  cr_assert_eq(hit.cubin_size, 4);
  /* its layout columns became the manifest of its two launches */
  cr_assert_eq(hit.manifest.nlaunch, 2);
  cr_assert_eq(hit.manifest.launch[1].block[0], 256);
  cr_assert_eq(hit.manifest.launch[1].smem, 4096);
  cr_assert_eq(hit.manifest.launch[0].block[0], 128);
  cr_assert_str_eq(hit.manifest.launch[0].entry, "fftconv_prep");
  cr_assert_eq(hit.manifest.filter_per_head, 4097 * 8);
  cr_assert_eq(hit.manifest.filter_fixed, 0, "khat_table: schema 2's default");
  cr_assert_str_eq(hit.manifest.filter_layout, "monarch_fp32.v1");
  cr_assert_float_eq(hit.median_ms, 0.75, 1e-12);
  fc_cache_hit_free(&hit);
  p.batch = 4; /* the nearest-shape path uses the new index */
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  cr_assert_eq(hit.exact, 0);
  fc_cache_hit_free(&hit);
  int found = 0;
  fc_err e = {{0}};
  p.batch = 8;
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"old\":1}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1);
  fc_cache_close(c);

  /* a migrated file has exactly the tables and indexes of a fresh one */
  char fresh[256];
  snprintf(fresh, sizeof fresh, "%s/fresh.db", dir);
  c = open_cache(fresh, 1);
  fc_cache_close(c);
  static char a[16384], b[16384];
  schema_signature(path, a, sizeof a);
  schema_signature(fresh, b, sizeof b);
  cr_assert_str_eq(a, b, "migrated:\n%s\nfresh:\n%s", a, b);
  cr_assert(strstr(b, "kernels.manifest TEXT 1 '' 0"), "%s", b);
  cr_assert_null(strstr(b, "kernels.khat"), "%s", b);
}

Test(cache, version_2_file_is_migrated_in_place_and_slimming_drops_its_sources) {
  /* a version-2 file as that build wrote it: every kernel with its source */
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, fc_cache_schema_sql(2), NULL, NULL, &err), SQLITE_OK, "%s", err);
  cr_assert(strstr(fc_cache_schema_sql(2), "source TEXT NOT NULL"));
  cr_assert_null(strstr(fc_cache_schema_sql(2), "source_hash"));
  cr_assert(strstr(fc_cache_schema_sql(3), "source_hash") &&
            strstr(fc_cache_schema_sql(3), "copy_gbps"));
  static char sql[1 << 16];
  size_t n = (size_t)snprintf(sql, sizeof sql,
      "PRAGMA application_id = %d; PRAGMA user_version = 2; PRAGMA journal_mode = WAL;"
      "INSERT INTO devices VALUES (1, 'NVIDIA H100 80GB HBM3', 132, 13000, 90, 232448, "
      "  52428800, 85899345920, 1.7e9);", FC_CACHE_APP_ID);
  const char *key = "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod";
  /* kernels 1..6 ok with medians 1..6 (1 the winner), 7 failed to compile */
  for (int i = 1; i <= 7; i++) {
    n += (size_t)snprintf(sql + n, sizeof sql - n,
        "INSERT INTO kernels VALUES (%d, 'monarch_fp32', 3, '" HASH "', '{\"k\":%d}', 90, "
        "'13.0', '// the source of kernel %d', %s, NULL, 'ptxas info', 32, 0, 0, 0, 0, 0.5, "
        "256, 4096, 1, 128, 0, 1, 4097, 0, 'fftconv_fwd', 'fftconv_prep', 1.7e9);"
        "INSERT INTO measurements VALUES (%d, 1, '%s', 8, 64, 4096, 4096, 0, 8192, 'fp16', "
        "'causal', 0, 0, 0, %d, '%s', NULL, %s, NULL, NULL, 25, 3e-4, 'measure', 1.7e9);",
        i, i, i, i < 7 ? "zeroblob(10000)" : "NULL", i, key, i, i < 7 ? "ok" : "compile-failed",
        i < 7 ? (char[8]){(char)('0' + i), 0} : "NULL");
  }
  snprintf(sql + n, sizeof sql - n,
      "INSERT INTO winners VALUES (1, 1, '%s', 8, 64, 4096, 4096, 0, 8192, 'fp16', 'causal', "
      "0, 0, 0, 1, 1.0, 1.7e9);", key);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
  sqlite3_close(db);

  expect_refused(path, 0, "schema version 2");
  fc_cache *c = open_cache(path, 1);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "PRAGMA user_version"), 5);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM pragma_integrity_check "
                             "WHERE integrity_check = 'ok'"), 1);
  cr_assert_eq(sql_int(path, "SELECT \"notnull\" FROM pragma_table_info('kernels') "
                             "WHERE name = 'source'"), 0);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source LIKE '// the source%' "
                             "AND source_hash IS NULL AND cubin IS NOT NULL"), 6,
               "the migration rewrites no row: sources and cubins are where they were");
  char fresh[256];
  snprintf(fresh, sizeof fresh, "%s/fresh.db", dir);
  c = open_cache(fresh, 1);
  fc_cache_close(c);
  static char a[16384], b[16384];
  schema_signature(path, a, sizeof a);
  schema_signature(fresh, b, sizeof b);
  cr_assert_str_eq(a, b, "migrated:\n%s\nfresh:\n%s", a, b);

  c = open_cache(path, 1);
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache_kernel_row r;
  int found;
  fc_err e = {{0}};
  char want[17];
  const char *src5 = "// the source of kernel 5";
  snprintf(want, sizeof want, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, src5, strlen(src5)));
  cr_assert_eq(fc_cache_get_kernel(c, 5, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(r.k.source, src5, "an old row keeps its source until slimmed");
  cr_assert_str_eq(r.k.source_hash, want, "and its hash is computed from it");
  char *text = NULL;
  cr_assert_eq(fc_cache_source(&r.k, &text, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(text, src5, "the stored text, as it is");
  free(text);
  fc_cache_kernel_row_free(&r);

  fc_cache_slimmed s = slim(c, FC_CACHE_FINALISTS, 0);
  cr_assert_eq(s.binaries, 2, "kernels 5 and 6");
  cr_assert_eq(s.sources, 7);
  cr_assert_eq(s.bytes, 2 * (10000 + 10) + 7 * (int64_t)strlen(src5));
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source IS NULL AND "
                             "source_hash IS NOT NULL"), 7);
  cr_assert_eq(sql_int(path, "SELECT count(*) * 100 + sum(id) FROM kernels "
                             "WHERE cubin IS NULL AND binary_dropped IS NOT NULL"), 211,
               "kernels 5 and 6 lost their cubins");
  cr_assert_eq(fc_cache_get_kernel(c, 5, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_null(r.k.source);
  cr_assert_str_eq(r.k.source_hash, want, "the hash slimming recorded is the text's");
  fc_cache_kernel_row_free(&r);
  cr_assert_eq(fc_cache_get_kernel(c, 7, &r, &found, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(!r.k.cubin && isnan(r.binary_dropped) && r.k.log, "a failed compile is not slimmed");
  fc_cache_kernel_row_free(&r);
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, "{\"k\":6}", &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1, "resume still skips a slimmed kernel");
  fc_cache_close(c);
  c = open_cache(path, 0);
  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, &p, HASH, &hit), 1);
  cr_assert(hit.exact && hit.kernel_id == 1 && hit.cubin_size == 10000);
  fc_cache_hit_free(&hit);
  fc_cache_close(c);
}

/* ---- read-only files and directories ---- */

/* Checks run as an unprivileged user (root ignores permission bits): a read-only cache in a
   read-only directory is read by the runtime and refused to a writer. Returns 0 when all
   held, else the number of the check that failed (after saying why on stderr). */
static int readonly_checks(const char *p) {
  fc_device_info d = h100();
  fc_cache_config cfg = {&d, 90, "13.0"};
  fftconv_problem pr = problem(8, 64, 4096, FFTCONV_FP16);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  if (fc_cache_open(p, 0, &c, &e) != FFTCONV_OK) {
    fprintf(stderr, "read-only open: %s\n", e.msg);
    return 1;
  }
  const char *h[] = {HASH};
  fc_cache_hit hit;
  int found = 0;
  if (fc_cache_lookup(c, &cfg, &pr, h, 1, &hit, &found, &e) != FFTCONV_OK || !found) {
    fprintf(stderr, "lookup (found %d): %s\n", found, e.msg);
    return 2;
  }
  fc_cache_hit_free(&hit);
  fc_cache_close(c);
  if (fc_cache_open(p, 1, &c, &e) != FFTCONV_ERR_IO) {
    fprintf(stderr, "the writable open succeeded\n");
    return 3;
  }
  char want[256];
  snprintf(want, sizeof want, "cache %s is read-only: ", p);
  if (!strstr(e.msg, want)) {
    fprintf(stderr, "'%s' not in '%s'\n", want, e.msg);
    return 4;
  }
  return 0;
}

Test(cache, read_only_file_and_directory) {
  fill_small(path);
  cr_assert(!exists(strcat(strcpy((char[256]){0}, path), "-wal")), "the writer left a -wal");
  chmod(dir, 0755);
  cr_assert_eq(chmod(path, 0444), 0);
  cr_assert_eq(chmod(dir, 0555), 0); /* not even a -shm can be created beside it */
  size_t n0, n1;
  unsigned char *before = read_file(path, &n0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
    _exit(readonly_checks(path));
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "the child died");
  if (WEXITSTATUS(st) == 77) {
    /* no way to drop root here: at least the read-only open of a WAL file works */
    fc_cache *c = open_cache(path, 0);
    fc_cache_close(c);
    cr_skip_test("cannot drop root privileges to test permission bits");
  }
  cr_assert_eq(WEXITSTATUS(st), 0, "read-only check %d failed (see stderr)", WEXITSTATUS(st));
  unsigned char *after = read_file(path, &n1);
  cr_assert(n0 == n1 && !memcmp(before, after, n0), "the read-only file changed");
  free(before);
  free(after);

  /* a writable file in a read-only directory: WAL cannot work, so a writer is refused */
  chmod(path, 0666);
  pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
    fc_cache *c = NULL;
    fc_err e = {{0}};
    if (fc_cache_open(path, 1, &c, &e) != FFTCONV_ERR_IO) _exit(1);
    if (!strstr(e.msg, "is read-only: its directory")) {
      fprintf(stderr, "%s\n", e.msg);
      _exit(2);
    }
    _exit(0);
  }
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "directory check: status %d", st);
}
