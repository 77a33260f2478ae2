/* fftconv-cache export and bundles, without a GPU.
 *
 * export: from a cache filled through the store API with kernels NVRTC compiled for sm_80 and
 * sm_90 (an "A100" and an "H200" winner), the bundle reads back (fc_bundle_open: manifest and
 * every fatbin's size and hash), lists every winner, and each fatbin holds cubins for sm_80
 * and sm_90 and the PTX of sm_80, as cuobjdump reads them; the default architectures are the
 * tuned ones (same bytes as --arch sm_80,sm_90); a kernel whose family refuses an
 * architecture is left out there with the family's reason; fatbinary builds the same contents where
 * nvFatbin is missing; --compress ptx leaves the cubins plain (more bytes, same contents); a kernel whose template changed since is left
 * out where it would have to be compiled again, and export says so; exporting twice gives the
 * same bytes; --c-source compiles with the C compiler and links into a program that opens it
 * through the public API.
 * Refusals: export's (no cache, garbage, nothing matches, unknown arch, output exists or cannot
 * be written, bad usage) with exit status 1 or 2, and the reader's (missing or unreadable
 * path, not JSON, newer format, truncated or missing fatbin, nothing for this GPU), each with
 * its message naming the file. */
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

#include "bundle.h"
#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "gpu.h"
#include "shape.h"
#include "trusted.h"

static char dir[64], cache_db[128];


static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-export-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(cache_db, sizeof cache_db, "%s/cache.db", dir);
}

static void teardown(void) { rm_tree(dir); }

TestSuite(export, .init = setup, .fini = teardown);

/* fftconv-cache --cache cache_db ARGS */
static int runc(const char *args, char *out, size_t len) {
  char a[2048];
  snprintf(a, sizeof a, "--cache %s %s", cache_db, args);
  return run_tool("FFTCONV_CACHE_BIN", CACHE_BIN, a, out, len);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "open %s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)sz + 1);
  cr_assert(b && fread(b, 1, (size_t)sz, f) == (size_t)sz);
  b[sz] = 0;
  fclose(f);
  if (n) *n = (size_t)sz;
  return b;
}

static void spit(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "open %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static fc_device_info device(const char *name, int sm) {
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(sm, &d));
  snprintf(d.name, sizeof d.name, "%s", name);
  d.driver_version = 13000;
  return d;
}

static fftconv_problem problem(int64_t b, int64_t h, int64_t l, fftconv_dtype dt,
                               fftconv_mode mode) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.dtype = dt;
  p.mode = mode;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  return p;
}

static char nvrtc[16];

/* The family's default kernel for p on d, compiled for d's arch, stored as the winner of p on
   d (hash: the template's, or a stale one). Returns the kernel's id. */
static int64_t tuned_op(fc_cache *c, const fc_device_info *d, const fftconv_problem *p,
                        const char *tmpl, const char *stale_hash, int op) {
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  char *params = NULL;
  cr_assert_eq(fc_emit_default_op(m, tmpl, op, p, d, &params, &e), FFTCONV_OK, "%s", e.msg);
  fc_kernel_src src = {0};
  cr_assert_eq(fc_emit_kernel(m, tmpl, params, d, &src, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
  char arch[16];
  snprintf(arch, sizeof arch, "sm_%d", d->sm);
  fc_binary bin = {0};
  cr_assert_eq(fc_compile(src.source, src.name, arch, 0, &bin, &e), FFTCONV_OK, "%s", e.msg);
  const char *hash = stale_hash ? stale_hash : src.info.hash;
  fc_cache_kernel k = {.tmpl = tmpl, .revision = src.info.revision, .hash = hash,
                       .params = params, .sm = d->sm, .nvrtc = nvrtc, .source = src.source,
                       .cubin = bin.cubin, .cubin_size = bin.cubin_size, .log = "",
                       .manifest = src.manifest};
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config cfg = {d, d->sm, nvrtc};
  fc_cache_measurement ms = {.problem = p, .op = op, .kernel_id = id, .status = "ok", .median_ms = 0.25,
                             .p10_ms = 0.24, .p90_ms = 0.26, .runs = 20, .rel_err = 1e-4,
                             .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &ms, &e), FFTCONV_OK, "%s", e.msg);
  const char *const *hashes;
  int nh = fc_trusted_hashes(&hashes);
  const char *with_stale[16];
  for (int i = 0; i < nh && i < 15; i++) with_stale[i] = hashes[i];
  with_stale[nh < 15 ? nh : 15] = hash;
  int64_t kid = 0;
  cr_assert_eq(fc_cache_update_winner_op(c, &cfg, op, p, with_stale, nh < 15 ? nh + 1 : 16, &kid,
                                         &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(kid, id, "winner of %s", tmpl);
  free(params);
  fc_kernel_src_free(&src);
  fc_binary_free(&bin);
  return id;
}

static int64_t tuned(fc_cache *c, const fc_device_info *d, const fftconv_problem *p,
                     const char *tmpl, const char *stale_hash) {
  return tuned_op(c, d, p, tmpl, stale_hash, FC_OP_FORWARD);
}

/* The cache of the export tests, with real cubins: an fp16 causal problem tuned on an H200
   (sm_90) and on an A100 (sm_80), an fp32 circular one on the H200, and an fp32 one whose
   kernel was made by a template that has changed since (sm_90 only). */
static void real_cache(void) {
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(cache_db, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info h200 = device("NVIDIA H200", 90), a100 = device("NVIDIA A100-SXM4-80GB", 80);
  fftconv_problem p1 = problem(3, 5, 1000, FFTCONV_FP16, FFTCONV_CAUSAL);
  fftconv_problem p2 = problem(3, 5, 4096, FFTCONV_FP32, FFTCONV_CIRCULAR);
  fftconv_problem p3 = problem(4, 5, 2048, FFTCONV_FP32, FFTCONV_CIRCULAR);
  tuned(c, &h200, &p1, "monarch_tc", NULL);
  tuned(c, &a100, &p1, "monarch_tc", NULL);
  tuned(c, &h200, &p2, "monarch_fp32", NULL);
  tuned(c, &h200, &p3, "monarch_fp32", "00000000deadbeef");
  fc_cache_close(c);
}

/* The modules of a bundle's manifest: "file cubins ptx" a line, through SQLite's JSON. */
static void modules_of(const char *bundle, char *out, size_t len) {
  char mp[512];
  snprintf(mp, sizeof mp, "%s/manifest.json", bundle);
  char *json = slurp(mp, NULL);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT json_extract(value,'$.file'),"
               " json_extract(value,'$.cubins'), ifnull(json_extract(value,'$.ptx'),'-')"
               " FROM json_each(?1,'$.modules') ORDER BY key", -1, &s, NULL), SQLITE_OK);
  sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
  size_t k = 0;
  out[0] = 0;
  while (sqlite3_step(s) == SQLITE_ROW)
    k += (size_t)snprintf(out + k, len - k, "%s %s %s\n", sqlite3_column_text(s, 0),
                          sqlite3_column_text(s, 1), sqlite3_column_text(s, 2));
  sqlite3_finalize(s);
  sqlite3_close(db);
  free(json);
}

/* What a fatbin holds, as cuobjdump reads its headers: "elf sm_80 ptx sm_80 ..." (each
   "Fatbin elf code:" or "Fatbin ptx code:" block's kind and arch). */
static void cuobjdump_list(const char *fatbin, char *out, size_t len) {
  cr_assert(CUOBJDUMP[0], "cuobjdump was not found at build time (.ci/deps installs NVIDIA's "
            "wheel into .deps/; the toolkit's bin has it where it is whole)");
  char cmd[1024], raw[16384];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", CUOBJDUMP, fatbin);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t n = fread(raw, 1, sizeof raw - 1, f);
  raw[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s: %s", cmd, raw);
  size_t k = 0;
  out[0] = 0;
  const char *kind = NULL;
  for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strcmp(line, "Fatbin elf code:")) kind = "elf";
    else if (!strcmp(line, "Fatbin ptx code:")) kind = "ptx";
    else if (kind && !strncmp(line, "arch = ", 7)) {
      k += (size_t)snprintf(out + k, len - k, "%s%s %s", k ? " " : "", kind, line + 7);
      kind = NULL;
    }
  }
}

static void same_files(const char *a, const char *b) {
  DIR *d = opendir(a);
  cr_assert(d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
    snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
    size_t na, nb;
    char *x = slurp(pa, &na), *y = slurp(pb, &nb);
    cr_assert(na == nb && !memcmp(x, y, na), "%s and %s differ: export is not deterministic",
              pa, pb);
    free(x);
    free(y);
    n++;
  }
  closedir(d);
  cr_assert_gt(n, 1);
}

/* A backward winner is exported for every architecture its family accepts, checked as the
   backward it is (it was once checked as a forward and left out for sm_80 and the PTX:
   "parameters for op backward, the problem is forward"). */
Test(export, a_backward_kernel_for_every_arch, .timeout = 600) {
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(cache_db, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info h100 = device("NVIDIA H100 80GB HBM3", 90);
  fftconv_problem p = problem(3, 5, 1000, FFTCONV_FP16, FFTCONV_CAUSAL);
  tuned_op(c, &h100, &p, "monarch_fp32", NULL, FC_OP_BACKWARD);
  fc_cache_close(c);
  static char out[65536];
  char args[1024], b[256];
  snprintf(b, sizeof b, "%s/bwd", dir);
  snprintf(args, sizeof args, "export --out %s --arch sm_90,sm_80", b);
  cr_assert_eq(runc(args, out, sizeof out), 0, "%s", out);
  cr_assert(!strstr(out, "left out"), "%s", out);
  char mp[512];
  snprintf(mp, sizeof mp, "%s/manifest.json", b);
  char *json = slurp(mp, NULL);
  cr_assert(strstr(json, "\"op\":\"backward\""), "%s", json);
  free(json);
  char mods[4096];
  modules_of(b, mods, sizeof mods);
  cr_assert(strstr(mods, "[\"sm_80\",\"sm_90\"] compute_80"), "%s", mods);
}

Test(export, bundle_for_sm80_and_sm90_with_ptx, .timeout = 600) {
  real_cache();
  static char out[65536];
  char args[1024], b1[256], b2[256], csrc[256];
  snprintf(b1, sizeof b1, "%s/b1", dir);
  snprintf(b2, sizeof b2, "%s/b2", dir);
  snprintf(csrc, sizeof csrc, "%s/bundle.c", dir);
  snprintf(args, sizeof args, "export --out %s --arch sm_90,sm_80", b1);
  cr_assert_eq(runc(args, out, sizeof out), 0, "%s", out);
  /* the stale kernel: kept for sm_90, where the cache has its cubin; left out for sm_80 and
     for the PTX, which would need its template as it was */
  cr_assert(strstr(out, "left out: monarch_fp32 ") && strstr(out, " for sm_80: its template is "
            "not this build's (it changed since it was tuned)"), "%s", out);
  cr_assert(strstr(out, " for compute_90: its template is not this build's"), "%s", out);
  cr_assert(strstr(out, "wrote "), "%s", out);
  cr_assert(strstr(out, "for 4 entries"), "%s", out);

  fc_bundle *b = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open(b1, NULL, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_entries(b), 4, "every winner is an entry");
  int nmod = fc_bundle_modules(b);
  cr_assert(nmod >= 3 && nmod <= 4, "%d modules", nmod);
  cr_assert_eq(fc_bundle_set_device(b, 90, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_set_device(b, 86, &e), FFTCONV_OK, "sm_80 cubins run on 8.6: %s", e.msg);
  cr_assert_eq(fc_bundle_set_device(b, 120, &e), FFTCONV_OK, "the PTX runs on 12.0: %s", e.msg);
  fc_bundle_close(b);

  char mods[4096];
  modules_of(b1, mods, sizeof mods);
  int full = 0, stale = 0;
  char *save = NULL;
  for (char *line = strtok_r(mods, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char file[128], cubins[64], ptx[32];
    cr_assert_eq(sscanf(line, "%127s %63s %31s", file, cubins, ptx), 3, "%s", line);
    char path[512], list[8192];
    snprintf(path, sizeof path, "%s/%s", b1, file);
    cuobjdump_list(path, list, sizeof list);
    if (!strcmp(cubins, "[\"sm_80\",\"sm_90\"]")) {
      cr_assert_str_eq(ptx, "compute_80", "%s", line);
      cr_assert_str_eq(list, "elf sm_80 elf sm_90 ptx sm_80", "%s holds: %s", file, list);
      full++;
    } else {
      cr_assert_str_eq(cubins, "[\"sm_90\"]", "%s", line);
      cr_assert_str_eq(ptx, "-", "%s", line);
      cr_assert_str_eq(list, "elf sm_90", "%s holds: %s", file, list);
      stale++;
    }
  }
  cr_assert(full >= 2 && stale == 1, "%d whole modules, %d stale:\n%s", full, stale, mods);

  /* the default architectures are those tuned on (sm_80 and sm_90), and the same inputs give
     the same bytes */
  snprintf(args, sizeof args, "export --out %s --c-source %s", b2, csrc);
  cr_assert_eq(runc(args, out, sizeof out), 0, "%s", out);
  same_files(b1, b2);

  cr_assert(strstr(out, "fatbins by nvFatbin "), "%s", out);
  /* without nvFatbin, the toolkit's fatbinary program builds the same contents */
  char b3[256];
  snprintf(b3, sizeof b3, "%s/b3", dir);
  snprintf(args, sizeof args, "export --out %s", b3);
  setenv("FFTCONV_NVFATBIN", "none", 1);
  int rc = runc(args, out, sizeof out);
  unsetenv("FFTCONV_NVFATBIN");
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "fatbins by fatbinary ("), "%s", out);
  modules_of(b3, mods, sizeof mods);
  save = NULL;
  for (char *line = strtok_r(mods, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char file[128], cubins[64], ptx[32], path[512], list[8192];
    cr_assert_eq(sscanf(line, "%127s %63s %31s", file, cubins, ptx), 3, "%s", line);
    snprintf(path, sizeof path, "%s/%s", b3, file);
    cuobjdump_list(path, list, sizeof list);
    cr_assert_str_eq(list, strcmp(ptx, "-") ? "elf sm_80 elf sm_90 ptx sm_80" : "elf sm_90",
                     "%s (fatbinary) holds: %s", file, list);
  }
  cr_assert_eq(fc_bundle_open(b3, NULL, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_entries(b), 4);
  fc_bundle_close(b);

  /* --compress ptx: the same images, the cubins left plain (a larger bundle) */
  char b4[256];
  snprintf(b4, sizeof b4, "%s/b4", dir);
  snprintf(args, sizeof args, "export --out %s --compress ptx", b4);
  cr_assert_eq(runc(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "; PTX compressed"), "%s", out);
  int64_t packed = 0, plain = 0;
  modules_of(b4, mods, sizeof mods);
  save = NULL;
  for (char *line = strtok_r(mods, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char file[128], path[512], list[8192];
    struct stat sa, sb;
    cr_assert_eq(sscanf(line, "%127s", file), 1);
    snprintf(path, sizeof path, "%s/%s", b4, file);
    cuobjdump_list(path, list, sizeof list);
    cr_assert(strstr(list, "elf sm_90"), "%s (plain cubins) holds: %s", file, list);
    cr_assert_eq(stat(path, &sa), 0);
    snprintf(path, sizeof path, "%s/%s", b1, file);
    cr_assert_eq(stat(path, &sb), 0);
    plain += sa.st_size;
    packed += sb.st_size;
  }
  cr_assert_gt(plain, packed + packed / 4, "plain cubins %" PRId64 " bytes, compressed %" PRId64,
               plain, packed);

  /* the C source compiles and links into a program that opens it through the public API */
  char prog[256], cmd[2048];
  snprintf(prog, sizeof prog, "%s/prog", dir);
  snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Werror %s -o %s %s/tests/bundle_image_main.c %s "
           "-I%s/src/runtime -L%s -lfftconv -Wl,-rpath,%s 2>&1", C_COMPILER, TEST_CFLAGS, prog,
           SOURCE_DIR, csrc, SOURCE_DIR, BUILD_DIR, BUILD_DIR);
  FILE *f = popen(cmd, "r");
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s:\n%s", cmd, out);
  snprintf(cmd, sizeof cmd, "%s 2>&1", prog);
  f = popen(cmd, "r");
  n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s", out);
  cr_assert(strstr(out, "image ") && !strstr(out, "I/O error"), "%s", out);
}

/* ---- export's refusals, on a cache with one fake winner (they come before compiling) ---- */

static void fake_cache(void) {
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(cache_db, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info h200 = device("NVIDIA H200", 90);
  const char *const *hashes;
  fc_trusted_hashes(&hashes);
  static const unsigned char cubin[64] = {1, 2, 3};
  fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = 1, .hash = hashes[0],
                       .params = "{\"seqs\":1}", .sm = 90, .nvrtc = nvrtc, .source = "x",
                       .cubin = cubin, .cubin_size = sizeof cubin, .log = ""};
  fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 256, 0, 1, "fftconv_prep", 128, 0, 1,
                         4097, 0, "monarch_fp32.v1");
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fftconv_problem p = problem(8, 64, 4096, FFTCONV_FP32, FFTCONV_CIRCULAR);
  fc_cache_config cfg = {&h200, 90, nvrtc};
  fc_cache_measurement ms = {.problem = &p, .kernel_id = id, .status = "ok", .median_ms = 1,
                             .p10_ms = 1, .p90_ms = 1, .runs = 20, .rel_err = 1e-4,
                             .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &ms, &e), FFTCONV_OK, "%s", e.msg);
  int64_t kid = 0;
  cr_assert_eq(fc_cache_update_winner(c, &cfg, &p, &k.hash, 1, &kid, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_close(c);
}

static void refused(const char *cache, const char *args, int status, const char *want) {
  static char out[16384];
  char a[2048];
  snprintf(a, sizeof a, "--cache %s %s", cache, args);
  int rc = run_tool("FFTCONV_CACHE_BIN", CACHE_BIN, a, out, sizeof out);
  cr_assert_eq(rc, status, "fftconv-cache %s: status %d, wanted %d:\n%s", a, rc, status, out);
  cr_assert(strstr(out, want), "fftconv-cache %s: wanted '%s' in:\n%s", a, want, out);
}

Test(export, refusals) {
  fake_cache();
  char args[1024], garbage[256], b[256], file[512], set[256];
  snprintf(b, sizeof b, "%s/bundle", dir);
  snprintf(garbage, sizeof garbage, "%s/garbage.db", dir);
  spit(garbage, "this is not a database, just text that is long enough......", 60);
  snprintf(args, sizeof args, "export --out %s", b);
  refused("/nonexistent/cache.db", args, 1, "no cache at /nonexistent/cache.db");
  refused(garbage, args, 1, "is not an fftconv cache");
  snprintf(args, sizeof args, "export --out %s --problem B1.H1.L256.K256.F0.fp16.causal", b);
  refused(cache_db, args, 1, "no winner in cache ");
  refused(cache_db, args, 1, "matches --problem 'B1.H1.L256.K256.F0.fp16.causal'");
  snprintf(args, sizeof args, "export --out %s --device A100", b);
  refused(cache_db, args, 1, "matches --device 'A100'");
  snprintf(args, sizeof args, "export --out %s --arch sm_99", b);
  refused(cache_db, args, 2, "--arch: 'sm_99' is not an architecture this build knows");
  snprintf(args, sizeof args, "export --out %s --arch compute_80,compute_90", b);
  refused(cache_db, args, 2, "one PTX architecture at most");
  refused(cache_db, "export", 2, "export: needs --out DIR");
  snprintf(args, sizeof args, "export --out %s --jobs 0", b);
  refused(cache_db, args, 2, "--jobs: '0' is not an integer");
  snprintf(args, sizeof args, "export --out %s --c-name 9x", b);
  refused(cache_db, args, 2, "--c-name: '9x' is not a C identifier");
  snprintf(args, sizeof args, "export --out %s --compress cubins", b);
  refused(cache_db, args, 2, "export: --compress takes all or ptx");
  snprintf(args, sizeof args, "export --out %s --bogus", b);
  refused(cache_db, args, 2, "export: unknown option '--bogus'");
  /* a problem-set file: its problems' keys, or its bad line */
  snprintf(set, sizeof set, "%s/set.txt", dir);
  spit(set, "--seqlen 4096 --batch 3\n--frobnicate\n", 36);
  snprintf(args, sizeof args, "export --out %s --problems %s", b, set);
  refused(cache_db, args, 2, "set.txt:2: '--frobnicate' is not a problem flag");
  spit(set, "--seqlen 4096 --batch 3\n", 24);
  refused(cache_db, args, 1, "matches --problems (1 problem)");
  /* the output: exists, is not a bundle, cannot be written */
  cr_assert_eq(mkdir(b, 0777), 0);
  snprintf(file, sizeof file, "%s/keep.txt", b);
  spit(file, "mine", 4);
  snprintf(args, sizeof args, "export --out %s", b);
  refused(cache_db, args, 1, "--out ");
  refused(cache_db, args, 1, " exists (give --force to replace it)");
  snprintf(args, sizeof args, "export --out %s --force", b);
  refused(cache_db, args, 1, "exists and is not a bundle (no manifest.json in it): not replaced");
  struct stat sb;
  cr_assert_eq(stat(file, &sb), 0, "--force left a directory that is not a bundle alone");
  refused(cache_db, "export --out /nonexistent/dir/bundle", 1,
          "--out /nonexistent/dir/bundle: cannot use its directory /nonexistent/dir: No such "
          "file or directory");
  snprintf(args, sizeof args, "export --out %s/b2 --c-source %s", dir, file);
  refused(cache_db, args, 1, "--c-source ");
  refused(cache_db, args, 1, "keep.txt exists (give --force to replace it)");
}

/* ---- the reader's refusals, on a bundle written here by hand ---- */

static const char fatbin[] = "not a real fatbin: the reader checks only its size and hash";

/* A one-kernel bundle at dir/name with manifest text built from the format given (its
   version, the module's cubins and ptx); returns its path. */
static const char *hand_bundle(const char *name, int version, const char *cubins,
                               const char *ptx) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  cr_assert_eq(mkdir(path, 0777), 0);
  char p[512];
  snprintf(p, sizeof p, "%s/k000_monarch_fp32.fatbin", path);
  spit(p, fatbin, sizeof fatbin);
  fc_manifest m;
  fc_manifest_two_launch(&m, "fftconv_fwd", 256, 0, 1, "fftconv_prep", 128, 0, 1, 4097, 0,
                         "monarch_fp32.v1");
  char *mj = fc_manifest_json(&m);
  static char json[8192];
  snprintf(json, sizeof json,
           "{\"format\":\"fftconv-bundle\",\"version\":%d,\"generator\":\"test\",\"modules\":["
           "{\"file\":\"k000_monarch_fp32.fatbin\",\"bytes\":%zu,\"fnv1a64\":\"%016" PRIx64 "\","
           "\"cubins\":%s,\"ptx\":%s,\"template\":\"monarch_fp32\",\"revision\":1,"
           "\"hash\":\"0123456789abcdef\",\"params\":{\"seqs\":1},\"launch\":%s}],"
           "\"entries\":[{\"problem\":\"B8.H64.L4096.K4096.F0.fp32.circular.pre.post.d\","
           "\"module\":0,\"shape\":{\"batch\":8,\"heads\":64,\"seqlen\":4096,\"filter_len\":4096,"
           "\"freq_keep\":0,\"dtype\":\"fp32\",\"mode\":\"circular\",\"pre_gate\":1,"
           "\"post_gate\":1,\"skip_d\":1},\"filter_layout\":\"monarch_fp32.v1\","
           "\"workspace_per_row\":0,\"workspace_fixed\":0,\"device\":\"NVIDIA H200\","
           "\"sms\":132,\"driver\":13000,\"sm\":90,\"median_ms\":1.0}]}",
           version, sizeof fatbin, fc_hash64(FC_HASH64_INIT, fatbin, sizeof fatbin), cubins, ptx,
           mj);
  free(mj);
  snprintf(p, sizeof p, "%s/manifest.json", path);
  spit(p, json, strlen(json));
  char *kept = strdup(path); /* the test's life: not freed */
  cr_assert(kept);
  return kept;
}

static void open_fails(const char *path, const char *want) {
  fc_bundle *b = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open(path, NULL, &b, &e), FFTCONV_ERR_IO, "%s opened", path);
  cr_assert_null(b);
  cr_assert(strstr(e.msg, want), "wanted '%s' in: %s", want, e.msg);
}

Test(export, bad_bundles_are_refused_with_the_file_and_the_reason) {
  const char *good = hand_bundle("good", 1, "[\"sm_90\"]", "null");
  fc_bundle *b = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open(good, NULL, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_entries(b), 1);
  cr_assert_eq(fc_bundle_set_device(b, 90, &e), FFTCONV_OK, "%s", e.msg);
  /* neither a cubin for this GPU nor PTX */
  cr_assert_eq(fc_bundle_set_device(b, 80, &e), FFTCONV_ERR_IO);
  cr_assert(strstr(e.msg, "good/manifest.json: holds nothing this GPU can run: neither a cubin "
                   "for sm_80 nor PTX at or below it (it holds cubins sm_90)"), "%s", e.msg);
  fc_bundle_close(b);
  char p[512];
  snprintf(p, sizeof p, "%s/manifest.json", good);
  cr_assert_eq(fc_bundle_open(p, NULL, &b, &e), FFTCONV_OK, "the manifest's path: %s", e.msg);
  fc_bundle_close(b);
  const char *ptx = hand_bundle("ptx", 1, "[]", "\"compute_80\"");
  cr_assert_eq(fc_bundle_open(ptx, NULL, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_bundle_set_device(b, 90, &e), FFTCONV_OK, "PTX for 8.0 runs on 9.0: %s", e.msg);
  cr_assert_eq(fc_bundle_set_device(b, 75, &e), FFTCONV_ERR_IO, "not on 7.5");
  fc_bundle_close(b);

  snprintf(p, sizeof p, "%s/nowhere", dir);
  open_fails(p, "nowhere: No such file or directory");
  snprintf(p, sizeof p, "%s/empty", dir);
  mkdir(p, 0777);
  open_fails(p, "empty/manifest.json: No such file or directory (not an fftconv bundle");
  snprintf(p, sizeof p, "%s/isdir", dir);
  mkdir(p, 0777);
  snprintf(p, sizeof p, "%s/isdir/manifest.json", dir);
  mkdir(p, 0777);
  snprintf(p, sizeof p, "%s/isdir", dir);
  open_fails(p, "isdir/manifest.json: Is a directory");

  const char *nj = hand_bundle("notjson", 1, "[\"sm_90\"]", "null");
  snprintf(p, sizeof p, "%s/manifest.json", nj);
  spit(p, "{\"format\": \"fftconv-bundle\", \"version\": 1,", 42);
  open_fails(nj, "notjson/manifest.json: is not JSON");
  snprintf(p, sizeof p, "%s/manifest.json", nj);
  spit(p, "{\"format\":\"fftconv-bundle\",\"version\":1,\"modules\":{},\"entries\":[]}", 65);
  open_fails(nj, "notjson/manifest.json: has no \"modules\" and \"entries\" arrays");
  const char *newer = hand_bundle("newer", 2, "[\"sm_90\"]", "null");
  open_fails(newer, "newer/manifest.json: has format version 2, newer than this library reads (1)");
  const char *trunc = hand_bundle("truncated", 1, "[\"sm_90\"]", "null");
  snprintf(p, sizeof p, "%s/k000_monarch_fp32.fatbin", trunc);
  cr_assert_eq(truncate(p, 10), 0);
  open_fails(trunc, "module k000_monarch_fp32.fatbin is 10 bytes, the manifest says");
  const char *gone = hand_bundle("gone", 1, "[\"sm_90\"]", "null");
  snprintf(p, sizeof p, "%s/k000_monarch_fp32.fatbin", gone);
  cr_assert_eq(unlink(p), 0);
  open_fails(gone, "module k000_monarch_fp32.fatbin is missing or unreadable");
  const char *altered = hand_bundle("altered", 1, "[\"sm_90\"]", "null");
  snprintf(p, sizeof p, "%s/k000_monarch_fp32.fatbin", altered);
  char flipped[sizeof fatbin];
  memcpy(flipped, fatbin, sizeof fatbin);
  flipped[3] ^= 1;
  spit(p, flipped, sizeof flipped);
  open_fails(altered, "does not match its hash");

  /* through the public API, on any machine: the bundle is read before the driver is asked */
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.bundle_path = trunc;
  fftconv_ctx *c = NULL;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_ERR_IO);
  cr_assert(strstr(fftconv_ctx_error(NULL), "truncated/manifest.json: module "
                   "k000_monarch_fp32.fatbin is 10 bytes"), "%s", fftconv_ctx_error(NULL));
  fftconv_bundle_image img = {FFTCONV_BUNDLE_IMAGE_VERSION + 1, "{}", 2, 0, NULL};
  o.bundle_path = NULL;
  o.bundle_image = &img;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_ERR_IO);
  cr_assert(strstr(fftconv_ctx_error(NULL), "compiled-in bundle: its image is of version 2"),
            "%s", fftconv_ctx_error(NULL));
  o.bundle_path = good;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(NULL), "give one bundle, not both"));
}

Test(export, which_architectures_run_where) {
  cr_assert(fc_arch_runs_on("sm_90", 90));
  cr_assert(!fc_arch_runs_on("sm_90", 100));
  cr_assert(!fc_arch_runs_on("sm_90", 80));
  cr_assert(fc_arch_runs_on("sm_80", 86));
  cr_assert(!fc_arch_runs_on("sm_86", 80));
  cr_assert(fc_arch_runs_on("sm_90a", 90));
  cr_assert(!fc_arch_runs_on("sm_90a", 100));
  cr_assert(fc_arch_runs_on("compute_80", 90));
  cr_assert(fc_arch_runs_on("compute_80", 120));
  cr_assert(!fc_arch_runs_on("compute_90", 89));
  cr_assert(!fc_arch_runs_on("compute_90a", 100));
  cr_assert(!fc_arch_runs_on("bogus", 90));
}

/* A kernel whose family refuses the architecture asked for (monarch_cluster needs sm_90's
   clusters) is left out there, with the family's reason; with nothing left, export fails and
   writes nothing. No compilation is reached: the cached cubin is never read. */
Test(export, a_family_that_refuses_an_arch_leaves_its_kernel_out) {
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info h200 = device("NVIDIA H200", 90);
  fftconv_problem p = problem(3, 5, 65536, FFTCONV_FP16, FFTCONV_CIRCULAR);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(em, "monarch_cluster", &p, &h200, &params, &e), FFTCONV_OK, "%s",
               e.msg);
  fc_kernel_src src = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_cluster", params, &h200, &src, &e), FFTCONV_OK, "%s",
               e.msg);
  fc_emit_close(em);
  fc_cache *c = NULL;
  cr_assert_eq(fc_cache_open(cache_db, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  static const unsigned char cubin[64] = {1, 2, 3};
  fc_cache_kernel k = {.tmpl = "monarch_cluster", .revision = src.info.revision,
                       .hash = src.info.hash, .params = params, .sm = 90, .nvrtc = nvrtc,
                       .source = src.source, .cubin = cubin, .cubin_size = sizeof cubin,
                       .log = "", .manifest = src.manifest};
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config cfg = {&h200, 90, nvrtc};
  fc_cache_measurement ms = {.problem = &p, .kernel_id = id, .status = "ok", .median_ms = 1,
                             .p10_ms = 1, .p90_ms = 1, .runs = 20, .rel_err = 1e-4,
                             .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &ms, &e), FFTCONV_OK, "%s", e.msg);
  int64_t kid = 0;
  cr_assert_eq(fc_cache_update_winner(c, &cfg, &p, &k.hash, 1, &kid, &e), FFTCONV_OK, "%s",
               e.msg);
  fc_cache_close(c);
  free(params);
  fc_kernel_src_free(&src);
  static char out[16384];
  char args[512], b[256];
  snprintf(b, sizeof b, "%s/bundle", dir);
  snprintf(args, sizeof args, "export --out %s --arch sm_80 --no-ptx", b);
  cr_assert_eq(runc(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "left out: monarch_cluster {") && strstr(out, "} for sm_80: "),
            "%s", out);
  cr_assert(strstr(out, "nothing to export: every kernel was left out"), "%s", out);
  struct stat sb;
  cr_assert_neq(stat(b, &sb), 0, "a failed export wrote %s", b);
}
