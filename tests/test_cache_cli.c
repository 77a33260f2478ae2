/* fftconv-cache as a user meets it, against caches this test fills through the API: list
   (winners, every measurement, filters, the device's bandwidth and % of floor), show
   (details, a dropped binary, --source emitted again and checked against its hash), prune
   (what this build no longer trusts goes, winners are recomputed, the rest is slimmed, an
   old fat cache shrinks and it says by how much), merge (newer measurements win, slim caches
   and bandwidths come along, damaged files are refused untouched) and usage errors (exit
   status 2, the bad word named). */
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
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "gpu.h"

static char dir[64], path[128], other[128];
static char hash[17], nvrtc[16];


static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-cachecli-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(path, sizeof path, "%s/cache.db", dir);
  snprintf(other, sizeof other, "%s/other.db", dir);
  /* what this build trusts, as fftconv-cache computes it */
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  fc_template_info info;
  cr_assert_eq(fc_emit_info(m, "monarch_fp32", &info, &e), FFTCONV_OK, "%s", e.msg);
  snprintf(hash, sizeof hash, "%s", info.hash);
  fc_emit_close(m);
  int maj, min;
  fc_nvrtc_version(&maj, &min);
  snprintf(nvrtc, sizeof nvrtc, "%d.%d", maj, min);
}

static void teardown(void) { rm_tree(dir); }

TestSuite(cache_cli, .init = setup, .fini = teardown);

static int run(const char *args, char *out, size_t len) {
  return run_tool("FFTCONV_CACHE_BIN", CACHE_BIN, args, out, len);
}

/* runs `fftconv-cache --cache path ARGS` */
static int runc(const char *p, const char *args, char *out, size_t len) {
  char a[1024];
  snprintf(a, sizeof a, "--cache %s %s", p, args);
  return run(a, out, len);
}

static int64_t sql_int(const char *p, const char *sql) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static fc_device_info device(const char *name, int sm) {
  fc_device_info d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "%s", name);
  d.sm = sm;
  d.sms = 132;
  d.driver_version = 13000;
  return d;
}

static fftconv_problem problem(int64_t b, int64_t h, int64_t l) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.dtype = FFTCONV_FP16;
  return p;
}

static const char SOURCE[] = "// template: monarch_fp32\nextern \"C\" __global__ void fftconv_fwd() {}\n";

static int64_t put_kernel(fc_cache *c, const char *h, const char *params, const char *nv, int sm) {
  static const unsigned char cubin[64] = {1, 2, 3};
  fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = 4, .hash = h, .params = params,
                       .sm = sm, .nvrtc = nv, .source = SOURCE, .cubin = cubin,
                       .cubin_size = sizeof cubin, .log = "", .registers = 72, .smem_static = 0,
                       .stack = 16, .spill_stores = 8, .spill_loads = 12,
                       .compile_seconds = 0.4};
  fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 256, 20480, 2, "fftconv_prep", 128, 512, 1,
                         4097, 0, "monarch_fp32.v1");
  int64_t id = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  return id;
}

static void put_meas(fc_cache *c, const fc_device_info *d, int sm, const char *nv,
                     const fftconv_problem *p, int64_t k, const char *status, double ms) {
  fc_cache_config cfg = {d, sm, nv};
  fc_cache_measurement m = {.problem = p, .kernel_id = k, .status = status,
                            .message = strcmp(status, "ok") ? "rel err 3.2e-01 > 1e-03" : NULL,
                            .median_ms = ms, .p10_ms = ms, .p90_ms = ms, .runs = 20,
                            .rel_err = 2e-4, .rigor = "measure"};
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
}

static int64_t win(fc_cache *c, const fc_device_info *d, const char *nv, const fftconv_problem *p,
                   const char *h) {
  fc_cache_config cfg = {d, d->sm, nv};
  int64_t k = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_update_winner(c, &cfg, p, &h, 1, &k, &e), FFTCONV_OK, "%s", e.msg);
  return k;
}

/* The cache the tests look at:
     P1 = B8.H64.L4096: k1 ok 1.5 (winner), k2 verify-failed;
     P2 = B4.H64.L1000: k3 (a stale template) ok 0.5, the winner by the stale rule; k1 ok 2.5;
     P1 on an A100 with k4 (another NVRTC), its only measurement. */
static struct { int64_t k1, k2, k3, k4; } ids;

static void fill(void) {
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90), a100 = device("NVIDIA A100", 80);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fftconv_problem p1 = problem(8, 64, 4096), p2 = problem(4, 64, 1000);
  ids.k1 = put_kernel(c, hash, "{\"factors\":[16,16,8],\"seqs\":2}", nvrtc, 90);
  ids.k2 = put_kernel(c, hash, "{\"factors\":[64,32],\"seqs\":1}", nvrtc, 90);
  ids.k3 = put_kernel(c, "00000000deadbeef", "{\"factors\":[32,32],\"seqs\":1}", nvrtc, 90);
  ids.k4 = put_kernel(c, hash, "{\"factors\":[16,16,8],\"seqs\":2}", "11.0", 80);
  put_meas(c, &h100, 90, nvrtc, &p1, ids.k1, "ok", 1.5);
  put_meas(c, &h100, 90, nvrtc, &p1, ids.k2, "verify-failed", 0.9);
  put_meas(c, &h100, 90, nvrtc, &p2, ids.k3, "ok", 0.5);
  put_meas(c, &h100, 90, nvrtc, &p2, ids.k1, "ok", 2.5);
  put_meas(c, &a100, 80, "11.0", &p1, ids.k4, "ok", 3.0);
  cr_assert_eq(win(c, &h100, nvrtc, &p1, hash), ids.k1);
  cr_assert_eq(win(c, &h100, nvrtc, &p2, "00000000deadbeef"), ids.k3);
  cr_assert_eq(win(c, &a100, "11.0", &p1, hash), ids.k4);
  fc_cache_close(c);
}

Test(cache_cli, help_and_usage_errors) {
  static char out[1 << 16];
  cr_assert_eq(run("--help", out, sizeof out), 0);
  const char *words[] = {"list", "show", "prune", "merge", "--cache", "--device", "--problem",
                         "--all", "--source", "--dry-run", "OTHER_PATH", "KERNEL_ID",
                         FC_CACHE_ENV, "NVRTC", "VACUUM", "Exit status"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    cr_assert(strstr(out, words[i]), "--help does not mention %s", words[i]);
  struct { const char *args, *expect; } cases[] = {
      {"", "needs a command"},
      {"frobnicate", "unknown command 'frobnicate'"},
      {"--bogus list", "unknown option '--bogus'"},
      {"list --cache", "--cache needs a value"},
      {"list --bogus", "list: unknown option '--bogus'"},
      {"list extra", "list: unexpected argument 'extra'"},
      {"list --device", "list: --device needs a value"},
      {"list --problem", "list: --problem needs a value"},
      {"show", "show: needs a KERNEL_ID"},
      {"show abc", "show: bad kernel id 'abc'"},
      {"show 0", "show: bad kernel id '0'"},
      {"show 12x", "show: bad kernel id '12x'"},
      {"show 99999999999999999999999",
       "show: kernel id '99999999999999999999999' is out of range (1 to 9223372036854775807)"},
      {"show -99999999999999999999999", "show: unknown option '-99999999999999999999999'"},
      {"show 1 2", "show: unexpected argument '2'"},
      {"show 1 --bogus", "show: unknown option '--bogus'"},
      {"prune --now", "prune: unknown option '--now'"},
      {"prune extra", "prune: unexpected argument 'extra'"},
      {"merge", "merge: needs OTHER_PATH"},
      {"merge a b", "merge: unexpected argument 'b'"},
      {"merge --fast a", "merge: unknown option '--fast'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(run(cases[i].args, out, sizeof out), 2, "'%s': exit status; %s", cases[i].args,
                 out);
    /* the whole output: the message, then where to look */
    char line[512];
    snprintf(line, sizeof line, "fftconv-cache: %s*", cases[i].expect);
    const char *want[] = {line, "(fftconv-cache --help lists the commands)", NULL};
    expect_lines(cases[i].args, out, want);
  }
  /* a missing cache is not a usage error: status 1 and the path */
  cr_assert_eq(runc(path, "list", out, sizeof out), 1);
  cr_assert(strstr(out, "no cache at") && strstr(out, path), "%s", out);
}

Test(cache_cli, list_winners_and_measurements) {
  fill();
  static char out[1 << 16];
  cr_assert_eq(runc(path, "list", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "device NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, driver 13.0)"), "%s", out);
  cr_assert(strstr(out, "device NVIDIA A100 (sm_80"), "%s", out);
  cr_assert(strstr(out, "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod"), "%s", out);
  cr_assert(strstr(out, "factors=16,16,8 seqs=2"), "the parameter summary: %s", out);
  cr_assert(strstr(out, "1.5000"), "%s", out);
  cr_assert(strstr(out, "3 winners"), "%s", out);
  cr_assert_null(strstr(out, "verify-failed"), "a failure is not a winner: %s", out);

  cr_assert_eq(runc(path, "list --all", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "verify-failed"), "%s", out);
  cr_assert(strstr(out, "rel err 3.2e-01 > 1e-03"), "the failure's message: %s", out);
  cr_assert(strstr(out, "5 measurements"), "%s", out);
  char star[32];
  snprintf(star, sizeof star, "%6" PRId64 "* monarch_fp32", ids.k1);
  cr_assert(strstr(out, star), "the winner is marked '%s': %s", star, out);

  cr_assert_eq(runc(path, "list --device a100", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "1 winner\n") && strstr(out, "A100") && !strstr(out, "H100"), "%s", out);
  cr_assert_eq(runc(path, "list --all --problem L1000 --device H100", out, sizeof out), 0);
  cr_assert(strstr(out, "2 measurements"), "%s", out);
  cr_assert_eq(runc(path, "list --device V100", out, sizeof out), 0);
  cr_assert(strstr(out, "no winners match"), "%s", out);

  /* the default path comes from FFTCONV_CACHE */
  char cmd[2048];
  snprintf(cmd, sizeof cmd, FC_CACHE_ENV "=%s %s list --problem L4096 2>&1", path,
           getenv("FFTCONV_CACHE_BIN") ? getenv("FFTCONV_CACHE_BIN") : CACHE_BIN);
  FILE *f = popen(cmd, "r");
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s", out);
  cr_assert(strstr(out, "2 winners"), "%s", out);
}

Test(cache_cli, show_a_kernel) {
  fill();
  static char out[1 << 16];
  char args[64];
  snprintf(args, sizeof args, "show %" PRId64, ids.k1);
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  const char *want[] = {"template   monarch_fp32 revision 4 hash ", hash,
                        "{\"factors\":[16,16,8],\"seqs\":2}", "sm_90, NVRTC ", nvrtc,
                        "72 registers", "spills 8 B stored / 12 B loaded", "cubin 64 bytes",
                        "fftconv_fwd (forward): grid rows/2, 256 threads, 20480 B smem",
                        "fftconv_prep (prepare): grid heads/1, 128 threads, 512 B smem",
                        "filter monarch_fp32.v1: 0 B + 32776 B a head", "B8.H64.L4096", "B4.H64.L1000", "WINNER",
                        "median 1.5000 ms", "of 20 runs", "measure"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert(strstr(out, want[i]), "'%s' not in:\n%s", want[i], out);
  cr_assert_null(strstr(out, "__global__"), "the source only with --source");
  char h[17];
  snprintf(h, sizeof h, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, SOURCE, strlen(SOURCE)));
  cr_assert(strstr(out, "source     hash ") && strstr(out, h), "its source's hash: %s", out);

  /* k2 won nothing and is no finalist (it failed): slimming drops its cubin, show says so */
  fc_cache *c = NULL;
  fc_err e = {{0}};
  fc_cache_slimmed sl;
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_slim(c, FC_CACHE_FINALISTS, 0, &sl, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(sl.binaries, 1);
  fc_cache_close(c);
  snprintf(args, sizeof args, "show %" PRId64, ids.k2);
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "binary     dropped ") && strstr(out, "neither a winner nor a finalist"),
            "%s", out);
  cr_assert(strstr(out, "72 registers") && strstr(out, "verify-failed"), "the rest stays: %s",
            out);

  cr_assert_eq(runc(path, "show 999", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "no kernel 999 in cache") && strstr(out, path), "%s", out);
}

Test(cache_cli, prune_removes_what_this_build_cannot_trust) {
  fill();
  static char out[1 << 16];
  char q0[256];
  cr_assert_eq(runc(path, "prune --dry-run", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "would remove 2 kernels, 2 measurements, 2 winners, 1 devices"), "%s",
            out);
  cr_assert(strstr(out, hash) && strstr(out, nvrtc), "says what it trusts: %s", out);
  /* k2 (failed, no winner) loses its 64-byte cubin; k3 and k4 go whole, 64 bytes each */
  cr_assert(strstr(out, "would drop the binaries of 1 kernels (neither a winner nor a "
                        "finalist) and the stored source of 0"), "%s", out);
  cr_assert(strstr(out, "would free 192 bytes of the "), "%s", out);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 4, "--dry-run wrote");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE cubin IS NULL"), 0);

  cr_assert_eq(runc(path, "prune", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "removed    2 kernels, 2 measurements, 2 winners, 1 devices"), "%s",
            out);
  cr_assert(strstr(out, "recomputed 1 winners"), "%s", out);
  cr_assert(strstr(out, "dropped    the binaries of 1 kernels"), "%s", out);
  cr_assert(strstr(out, "freed      192 bytes: the file went from "), "%s", out);
  snprintf(q0, sizeof q0, "SELECT cubin IS NULL FROM kernels WHERE id = %" PRId64, ids.k2);
  cr_assert_eq(sql_int(path, q0), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 2);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 3);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM devices"), 1);
  /* P2 lost its stale winner and got the trusted k1 back */
  char q[256];
  snprintf(q, sizeof q, "SELECT count(*) FROM winners WHERE kernel = %" PRId64, ids.k1);
  cr_assert_eq(sql_int(path, q), 2);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners"), 2);
  cr_assert_eq(runc(path, "prune", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "removed    0 kernels, 0 measurements, 0 winners, 0 devices"), "%s", out);
  cr_assert(strstr(out, "dropped    the binaries of 0 kernels"), "%s", out);
}

Test(cache_cli, merge_copies_keeps_the_newer_and_refuses_bad_files) {
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90);
  fftconv_problem p1 = problem(8, 64, 4096), p3 = problem(2, 16, 256);
  fc_cache *o = NULL;
  fc_err e = {{0}};
  /* the other cache's measurement of (P1, k1) is older than ours: it must not win */
  cr_assert_eq(fc_cache_open(other, 1, &o, &e), FFTCONV_OK, "%s", e.msg);
  int64_t ok1 = put_kernel(o, hash, "{\"factors\":[16,16,8],\"seqs\":2}", nvrtc, 90);
  put_meas(o, &h100, 90, nvrtc, &p1, ok1, "ok", 9.0);
  fill();
  /* then newer ones: k2 fixed and fastest on P1, and a problem we never saw */
  int64_t ok2 = put_kernel(o, hash, "{\"factors\":[64,32],\"seqs\":1}", nvrtc, 90);
  int64_t ok5 = put_kernel(o, hash, "{\"factors\":[16,16],\"seqs\":4}", nvrtc, 90);
  put_meas(o, &h100, 90, nvrtc, &p1, ok2, "ok", 0.7);
  put_meas(o, &h100, 90, nvrtc, &p3, ok5, "ok", 0.01);
  fc_cache_close(o);

  static char out[1 << 16];
  char args[512];
  snprintf(args, sizeof args, "merge %s", other);
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "0 devices, 1 kernels, 1 measurements added, 1 replaced by later ones, "
                        "1 kept (ours as new or newer); 2 winners recomputed"), "%s", out);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels"), 5);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 6);
  char q[256];
  snprintf(q, sizeof q, "SELECT median_ms * 10 FROM measurements WHERE kernel = %" PRId64
           " AND problem_key LIKE 'B8.H64.L4096%%' AND device = (SELECT id FROM devices WHERE "
           "model LIKE '%%H100%%')", ids.k1);
  cr_assert_eq(sql_int(path, q), 15, "the older measurement replaced ours");
  snprintf(q, sizeof q, "SELECT kernel FROM winners WHERE problem_key LIKE 'B8.H64.L4096%%' "
           "AND device = (SELECT id FROM devices WHERE model LIKE '%%H100%%')");
  cr_assert_eq(sql_int(path, q), ids.k2, "the fixed k2 is P1's winner now");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners WHERE problem_key LIKE 'B2.H16%'"), 1);
  cr_assert_eq(runc(path, "list --problem B2.H16", out, sizeof out), 0);
  cr_assert(strstr(out, "0.0100"), "%s", out);

  /* merging again changes nothing */
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "0 kernels, 0 measurements added, 0 replaced"), "%s", out);

  /* refusals: itself, a missing file, a damaged file (left as it is) */
  snprintf(args, sizeof args, "merge %s", path);
  cr_assert_eq(runc(path, args, out, sizeof out), 2, "a usage error: %s", out);
  cr_assert(strstr(out, "into itself"), "%s", out);
  snprintf(args, sizeof args, "merge %s/missing.db", dir);
  cr_assert_eq(runc(path, args, out, sizeof out), 1);
  cr_assert(strstr(out, "no cache at"), "%s", out);
  char bad[128];
  snprintf(bad, sizeof bad, "%s/bad.db", dir);
  FILE *f = fopen(bad, "w");
  fputs("SQLite format 3 but not really; just text that looks like a header to a quick eye\n", f);
  fclose(f);
  snprintf(args, sizeof args, "merge %s", bad);
  cr_assert_eq(runc(path, args, out, sizeof out), 1);
  cr_assert(strstr(out, bad) && strstr(out, "is not an fftconv cache"), "%s", out);
  f = fopen(bad, "r");
  char back[256] = "";
  cr_assert(fgets(back, sizeof back, f));
  fclose(f);
  cr_assert(strstr(back, "just text"), "the bad file changed");
  /* and a damaged target: nothing is done to either */
  snprintf(args, sizeof args, "merge %s", other);
  cr_assert_eq(runc(bad, args, out, sizeof out), 1);
  cr_assert(strstr(out, "is not an fftconv cache"), "%s", out);
}

/* A real monarch_fp32 kernel for an fp32 problem of length n: its params and source. */
static void real_kernel(int64_t n, char **params, fc_kernel_src *src) {
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  fftconv_problem p = problem(8, 64, n);
  p.dtype = FFTCONV_FP32;
  cr_assert_eq(fc_emit_default(m, "monarch_fp32", &p, &d, params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(m, "monarch_fp32", *params, &d, src, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
}

static int64_t put_source(fc_cache *c, const char *h, const char *params, int sm,
                          const char *source) {
  static const unsigned char cubin[64] = {1, 2, 3};
  fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = 4, .hash = h, .params = params,
                       .sm = sm, .nvrtc = nvrtc, .source = source, .cubin = cubin,
                       .cubin_size = sizeof cubin};
  fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 1, 0, 1, "fftconv_prep", 1, 0, 1, 1, 0,
                         "monarch_fp32.v1");
  int64_t id = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  return id;
}

Test(cache_cli, show_source_emits_it_again_and_checks_its_hash) {
  fill();
  char *params;
  fc_kernel_src src = {0};
  real_kernel(4096, &params, &src);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  int64_t good = put_source(c, hash, params, 90, src.source);
  /* the same params under another arch, stored with a hash of some other text */
  int64_t wrong = put_source(c, hash, params, 80, "// not what the template emits\n");
  fc_cache_close(c);

  static char out[1 << 17];
  char args[64];
  snprintf(args, sizeof args, "show %" PRId64 " --source", good);
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert_str_eq(out, src.source, "emitted again, byte for byte");

  snprintf(args, sizeof args, "show %" PRId64 " --source", wrong);
  cr_assert_eq(runc(path, args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "kernel") && strstr(out, "hashes to") &&
            strstr(out, "not the text this kernel was compiled from"), "%s", out);
  cr_assert_null(strstr(out, "__global__"), "no unchecked source is printed: %s", out);

  /* k3 came from a template this build no longer embeds (another hash) */
  snprintf(args, sizeof args, "show %" PRId64 " --source", ids.k3);
  cr_assert_eq(runc(path, args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "cannot be emitted again") && strstr(out, "00000000deadbeef") &&
            strstr(out, hash) && strstr(out, "the template changed since"), "%s", out);
  free(params);
  fc_kernel_src_free(&src);
}

Test(cache_cli, list_shows_the_bandwidth_and_percent_of_floor) {
  fill();
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  /* P1 = B8 H64 L4096 fp16 moves 8*64*4096 * 2 bytes * 2 (u, y): 1 ms at 8.388608 GB/s */
  fc_cache_config cfg = {&h100, 90, nvrtc};
  cr_assert_eq(fc_cache_put_bandwidth(c, &cfg, 8.388608, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_close(c);
  static char out[1 << 16];
  cr_assert_eq(runc(path, "list", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "device NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, driver 13.0), copy "
                        "bandwidth 8.4 GB/s"), "%s", out);
  cr_assert(strstr(out, "device NVIDIA A100 (sm_80, 132 SMs, driver 13.0), copy bandwidth not "
                        "measured"), "%s", out);
  cr_assert(strstr(out, "%floor"), "%s", out);
  cr_assert(strstr(out, "1.5000   66.7%"), "P1's winner: 1 ms of 1.5: %s", out);
  /* P2 = B4 H64 L1000: 1,024,000 bytes, 0.1221 ms of 0.5 */
  cr_assert(strstr(out, "0.5000   24.4%"), "%s", out);
  cr_assert(strstr(out, "3.0000       -"), "the A100's is unknown: %s", out);
  cr_assert_eq(runc(path, "list --all", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "0.9000       -   2.0e-04  rel err"), "only ok rows get one: %s", out);
  cr_assert(strstr(out, "2.5000    4.9%"), "%s", out);
}

/* A file of schema version 2 as an H200's default-set tuning left it, scaled down: every
   kernel's source and cubin. Kernel 1 is a real monarch_fp32 kernel (P1's winner). */
static void old_fat_cache(const char *p, int nkernels, const char *real_params,
                          const char *real_source) {
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, fc_cache_schema_sql(2), NULL, NULL, &err), SQLITE_OK, "%s", err);
  char *sql = sqlite3_mprintf(
      "PRAGMA application_id = %d; PRAGMA user_version = 2; PRAGMA journal_mode = WAL;"
      "INSERT INTO devices VALUES (1, 'NVIDIA H200', 132, 13000, 90, 232448, 52428800, "
      "  150000000000, 1.7e9);"
      "INSERT INTO kernels VALUES (1, 'monarch_fp32', 4, %Q, %Q, 90, %Q, %Q, randomblob(100000), "
      "  NULL, 'ptxas info', 32, 0, 0, 0, 0, 0.5, 256, 4096, 1, 128, 0, 1, 4097, 0, "
      "  'fftconv_fwd', 'fftconv_prep', 1.7e9);",
      FC_CACHE_APP_ID, hash, real_params, nvrtc, real_source);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
  sqlite3_free(sql);
  for (int i = 2; i <= nkernels; i++) {
    sql = sqlite3_mprintf(
        "INSERT INTO kernels VALUES (%d, 'monarch_fp32', 4, %Q, '{\"j\":%d}', 90, %Q, "
        "  '// kernel ' || hex(randomblob(10000)), randomblob(100000), NULL, 'ptxas info', 32, "
        "  0, 0, 0, 0, 0.5, 256, 4096, 1, 128, 0, 1, 4097, 0, 'fftconv_fwd', 'fftconv_prep', "
        "  1.7e9);", i, hash, i, nvrtc);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
    sqlite3_free(sql);
  }
  /* P1 measures the odd kernels, P2 the even ones; the lowest id is the fastest */
  for (int i = 1; i <= nkernels; i++) {
    int l = i % 2 ? 4096 : 2048;
    sql = sqlite3_mprintf(
        "INSERT INTO measurements VALUES (%d, 1, 'B8.H64.L%d.K%d.F0.fp16.causal.nopre.nopost.nod',"
        " 8, 64, %d, %d, 0, %d, 'fp16', 'causal', 0, 0, 0, %d, 'ok', NULL, %f, NULL, NULL, 30, "
        "3e-4, 'measure', 1.7e9);", i, l, l, l, l, 2 * l, i, 1.0 + 0.01 * i);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
    sqlite3_free(sql);
  }
  for (int i = 1; i <= 2; i++) {
    int l = i % 2 ? 4096 : 2048;
    sql = sqlite3_mprintf(
        "INSERT INTO winners VALUES (%d, 1, 'B8.H64.L%d.K%d.F0.fp16.causal.nopre.nopost.nod', 8, "
        "64, %d, %d, 0, %d, 'fp16', 'causal', 0, 0, 0, %d, %f, 1.7e9);", i, l, l, l, l, 2 * l, i,
        1.0 + 0.01 * i);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
    sqlite3_free(sql);
  }
  sqlite3_close(db);
}

static int64_t file_bytes(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

Test(cache_cli, prune_slims_an_old_fat_cache_and_says_how_much) {
  char *params;
  fc_kernel_src src = {0};
  real_kernel(4096, &params, &src);
  old_fat_cache(path, 40, params, src.source);
  int64_t fat = file_bytes(path);
  cr_assert_gt(fat, 40 * 100000, "%lld bytes", (long long)fat);

  /* the dry run counts on the old file as it is, and writes nothing */
  static char out[1 << 17];
  cr_assert_eq(runc(path, "prune --dry-run", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "would remove 0 kernels, 0 measurements, 0 winners, 0 devices"), "%s",
            out);
  /* 20 kernels a problem, 4 of them finalists (the winner first) */
  cr_assert(strstr(out, "would drop the binaries of 32 kernels (neither a winner nor a "
                        "finalist) and the stored source of 40"), "%s", out);
  /* 32 cubins of 100 kB with their 10-byte logs, 39 sources of 10 + 20000 bytes, the real one */
  char freed[64];
  double bytes = 32 * (100000 + 10) + 39 * (10 + 20000) + (double)strlen(src.source);
  snprintf(freed, sizeof freed, "would free %.1f MB of the ", bytes / 1e6);
  cr_assert(strstr(out, freed), "'%s' not in: %s", freed, out);
  cr_assert_eq(sql_int(path, "PRAGMA user_version"), 2, "the dry run migrated");
  cr_assert_eq(file_bytes(path), fat);

  cr_assert_eq(runc(path, "prune", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "dropped    the binaries of 32 kernels (neither a winner nor a "
                        "finalist) and the stored source of 40"), "%s", out);
  snprintf(freed, sizeof freed, "freed      %.1f MB: the file went from ", bytes / 1e6);
  cr_assert(strstr(out, freed), "'%s' not in: %s", freed, out);
  int64_t slim = file_bytes(path);
  cr_assert_lt(slim, 8 * 100000 + 200000, "%lld bytes left of %lld", (long long)slim,
               (long long)fat);
  cr_assert_eq(sql_int(path, "PRAGMA user_version"), 5);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source IS NOT NULL"), 0);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE cubin IS NOT NULL"), 8);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements"), 40, "every measurement stays");

  /* and everything works on it: list, show, show --source (emitted again, and its hash is
     the one prune recorded from the stored text), a second prune */
  cr_assert_eq(runc(path, "list", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "2 winners"), "%s", out);
  cr_assert_eq(runc(path, "show 1 --source", out, sizeof out), 0, "%s", out);
  cr_assert_str_eq(out, src.source);
  cr_assert_eq(runc(path, "show 40", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "binary     dropped"), "%s", out);
  cr_assert_eq(runc(path, "prune", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "dropped    the binaries of 0 kernels (neither a winner nor a "
                        "finalist) and the stored source of 0"), "%s", out);
  free(params);
  fc_kernel_src_free(&src);
}

Test(cache_cli, merge_works_with_slim_caches_and_brings_the_bandwidth) {
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90), a100 = device("NVIDIA A100", 80);
  fftconv_problem p1 = problem(8, 64, 4096), p3 = problem(2, 16, 256);
  fc_err e = {{0}};
  fc_cache_slimmed sl;
  fill();
  fc_cache *c = NULL;
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config ca = {&a100, 80, "11.0"};
  cr_assert_eq(fc_cache_put_bandwidth(c, &ca, 1555.0, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_slim(c, FC_CACHE_FINALISTS, 0, &sl, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(sl.binaries, 1, "k2 (failed) loses its cubin");
  fc_cache_close(c);

  /* theirs: k2 compiled and fastest on P1 (their row has the cubin ours lost), a slimmed k6,
     P3, and bandwidths for both devices */
  cr_assert_eq(fc_cache_open(other, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config ch = {&h100, 90, nvrtc};
  cr_assert_eq(fc_cache_put_bandwidth(c, &ch, 3000.0, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cache_put_bandwidth(c, &ca, 1000.0, &e), FFTCONV_OK, "%s", e.msg);
  int64_t o2 = put_kernel(c, hash, "{\"factors\":[64,32],\"seqs\":1}", nvrtc, 90);
  int64_t o6 = put_kernel(c, hash, "{\"factors\":[8,8,8,8],\"seqs\":1}", nvrtc, 90);
  put_meas(c, &h100, 90, nvrtc, &p1, o2, "ok", 0.7);
  put_meas(c, &h100, 90, nvrtc, &p3, o6, "ok", 0.02);
  for (int i = 0; i < 5; i++) { /* five faster kernels on P3 push o6 out of the finalists */
    char params[64];
    snprintf(params, sizeof params, "{\"factors\":[16,16],\"seqs\":%d}", i + 1);
    put_meas(c, &h100, 90, nvrtc, &p3, put_kernel(c, hash, params, nvrtc, 90), "ok",
             0.01 - 0.001 * i);
  }
  cr_assert_gt(win(c, &h100, nvrtc, &p1, hash), 0);
  cr_assert_gt(win(c, &h100, nvrtc, &p3, hash), 0);
  cr_assert_eq(fc_cache_slim(c, FC_CACHE_FINALISTS, 0, &sl, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(sl.binaries, 2, "o6 and the slowest of the five");
  fc_cache_close(c);

  static char out[1 << 16];
  char args[512];
  snprintf(args, sizeof args, "merge %s", other);
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "0 devices, 6 kernels, 6 measurements added, 1 replaced"), "%s", out);
  char q[256];
  snprintf(q, sizeof q, "SELECT kernel = %" PRId64 " FROM winners WHERE problem_key LIKE "
           "'B8.H64.L4096%%' AND device = (SELECT id FROM devices WHERE model LIKE '%%H100%%')",
           ids.k2);
  cr_assert_eq(sql_int(path, q), 1, "k2 wins P1 now");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners w JOIN kernels k ON k.id = w.kernel "
                             "WHERE k.cubin IS NULL"), 0, "every winner has its cubin");
  snprintf(q, sizeof q, "SELECT cubin IS NOT NULL AND binary_dropped IS NULL FROM kernels "
           "WHERE id = %" PRId64, ids.k2);
  cr_assert_eq(sql_int(path, q), 1, "our slimmed k2 took their cubin");
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM kernels WHERE source IS NOT NULL OR "
                             "source_hash IS NULL"), 0);
  cr_assert_eq(sql_int(path, "SELECT copy_gbps FROM devices WHERE model LIKE '%H100%'"), 3000,
               "ours had none: theirs");
  cr_assert_eq(sql_int(path, "SELECT copy_gbps FROM devices WHERE model LIKE '%A100%'"), 1555,
               "ours had one: ours");
  cr_assert_eq(runc(path, "list --problem B2.H16", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "copy bandwidth 3000.0 GB/s") && strstr(out, "0.0060"), "%s", out);
  snprintf(args, sizeof args, "show %" PRId64, (int64_t)sql_int(path, "SELECT id FROM kernels "
           "WHERE params = '{\"factors\":[8,8,8,8],\"seqs\":1}'"));
  cr_assert_eq(runc(path, args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "binary     dropped"), "their slimmed kernel came slim: %s", out);
  cr_assert(strstr(out, "B2.H16.L256"), "%s", out);
  (void)o6;
}
