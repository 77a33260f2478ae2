/* GPU: long sequences (FFT sizes 64K to 4M) against the fp64 FFTW reference through the
   public API: prepare_filter into a NaN-poisoned k_hat, forward with a NaN-poisoned workspace
   into a NaN-poisoned y, random inputs. N = 64K, 256K, 1M and 4M, both modes, fp16 and bf16
   (fp32 at 64K and 1M), B = 3, H = 5 (B = H = 1 at 4M), gates and D on and off; causal
   L = 100,003 and 1,000,000; a partial filter (K = 4099 at N = 1M); and every candidate of
   the long family at 64K and 1M and of the cluster family at 64K and 128K, fp16, with the
   tuner's verification; the forward's launches one at a time (fftconv_forward_launch) giving
   the forward's y bit for bit; row groups giving the ungrouped y bit for bit; and one problem
   past 2^31 elements (direct and overlap_tc). Skips
   with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"

static fftconv_problem problem(int64_t b, int64_t h, int64_t l, fftconv_mode mode,
                               fftconv_dtype dt, int gates) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.mode = mode;
  p.dtype = dt;
  p.pre_gate = p.post_gate = p.skip_d = gates;
  return p;
}

/* Both modes, fp16 and bf16 (and fp32 when with_fp32), gates and D on and off. */
static void grid(int64_t n, int64_t b, int64_t h, int with_fp32) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = with_fp32 ? FFTCONV_FP32 : FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int g = 0; g < 2; g++) {
        fftconv_problem p = problem(b, h, mode ? n : n / 2, (fftconv_mode)mode,
                                    (fftconv_dtype)dt, g);
        check_problem(c, &p, (uint64_t)(n + dt * 10 + mode * 3 + g));
      }
  fftconv_ctx_destroy(c);
}

Test(gpu_long, n64k) { grid(65536, 3, 5, 1); }
Test(gpu_long, n256k) { grid(262144, 3, 5, 0); }
Test(gpu_long, n1m) { grid(1048576, 3, 5, 1); }
Test(gpu_long, n4m) { grid(4194304, 1, 1, 0); }

/* Causal lengths that are no power of two, and a partial filter. */
Test(gpu_long, odd_lengths_and_partial_filter) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p = problem(3, 5, 100003, FFTCONV_CAUSAL, FFTCONV_FP16, 1);
  check_problem(c, &p, 1);
  p = problem(3, 5, 1000000, FFTCONV_CAUSAL, FFTCONV_BF16, 1);
  check_problem(c, &p, 2);
  p = problem(3, 5, 1000000, FFTCONV_CAUSAL, FFTCONV_FP16, 0);
  p.filter_len = 4099;
  cr_assert_eq(fftconv_problem_fft_size(&p), 1048576);
  check_problem(c, &p, 3);
  p = problem(2, 3, 1048576, FFTCONV_CIRCULAR, FFTCONV_FP32, 1);
  p.filter_len = 4099;
  p.freq_keep = 5000;
  check_problem(c, &p, 4);
  fftconv_ctx_destroy(c);
}

/* The forward's launches one at a time through the public API (what bench_torch.py times
   each pass with): p's plan verified whole first (its y kept), then y and the workspace
   poisoned and the launches run in order by fftconv_forward_launch give the same y, bit for
   bit; each launch is named and moves bytes; an index out of range is refused, naming it and
   the range. Returns the count of launches. */
static int launches_one_at_a_time(fftconv_ctx *c, const fftconv_problem *p, uint64_t seed) {
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(c));
  fc_testdata t;
  fc_err e = {{0}};
  cr_assert_eq(fc_testdata_make(p, seed, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK,
               "%s", e.msg);
  double err = INFINITY;
  cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(err <= fc_tolerance(p->dtype), "error %.3e with %s", err, fftconv_plan_describe(pl));
  size_t yb = t.n * (size_t)fftconv_dtype_size(p->dtype);
  unsigned char *whole = malloc(yb), *parts = malloc(yb);
  cr_assert(whole && parts);
  cr_assert_eq(fc_cu.MemcpyDtoH(whole, t.dy, yb), CUDA_SUCCESS);
  cr_assert_eq(fc_cu.MemsetD8(t.dy, 0xff, yb), CUDA_SUCCESS);
  if (t.ws_bytes) cr_assert_eq(fc_cu.MemsetD8(t.dws, 0xff, t.ws_bytes), CUDA_SUCCESS);
  fftconv_args a;
  fftconv_args_init(&a);
  a.u = (void *)t.du, a.pre = (void *)t.dpre, a.post = (void *)t.dpost;
  a.k_hat = (void *)t.dkhat, a.y = (void *)t.dy;
  a.workspace = (void *)t.dws, a.workspace_bytes = t.ws_bytes;
  int n = fftconv_plan_forward_launches(pl);
  cr_assert_geq(n, 1);
  for (int i = 0; i < n; i++) {
    const char *name = fftconv_plan_launch_name(pl, i);
    cr_assert(name && name[0], "launch %d has no name", i);
    cr_assert_gt(fftconv_plan_launch_bytes(pl, i), 0, "launch %d (%s)", i, name);
    cr_assert_eq(fftconv_forward_launch(pl, &a, i, NULL), FFTCONV_OK, "%s",
                 fftconv_ctx_error(c));
  }
  cr_assert_eq(fc_cu.CtxSynchronize(), CUDA_SUCCESS);
  cr_assert_eq(fc_cu.MemcpyDtoH(parts, t.dy, yb), CUDA_SUCCESS);
  cr_assert(!memcmp(whole, parts, yb), "the launches one at a time differ from the forward (%s)",
            fftconv_plan_describe(pl));
  cr_assert_null(fftconv_plan_launch_name(pl, n));
  cr_assert_eq(fftconv_plan_launch_bytes(pl, -1), -1);
  char want[64];
  snprintf(want, sizeof want, "launch: %d, must be 0 to %d", n, n - 1);
  cr_assert_eq(fftconv_forward_launch(pl, &a, n, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), want), "%s", fftconv_ctx_error(c));
  cr_assert_eq(fftconv_forward_launch(pl, &a, -1, NULL), FFTCONV_ERR_INVALID);
  a.y = NULL; /* fftconv_forward's own checks come first */
  cr_assert_eq(fftconv_forward_launch(pl, &a, 0, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "y: NULL"), "%s", fftconv_ctx_error(c));
  free(whole);
  free(parts);
  fc_testdata_free(&t);
  fftconv_plan_destroy(pl);
  return n;
}

/* A multi-pass forward (the long family at 64K, odd causal L) and a one-pass one (4K). */
Test(gpu_long, forward_launches_one_at_a_time) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p = problem(3, 5, 65536, FFTCONV_CIRCULAR, FFTCONV_FP16, 1);
  cr_assert_geq(launches_one_at_a_time(c, &p, 21), 2);
  p = problem(3, 5, 40001, FFTCONV_CAUSAL, FFTCONV_BF16, 1);
  cr_assert_geq(launches_one_at_a_time(c, &p, 22), 2);
  p = problem(3, 5, 4096, FFTCONV_CIRCULAR, FFTCONV_FP16, 1);
  cr_assert_eq(launches_one_at_a_time(c, &p, 23), 1);
  fftconv_ctx_destroy(c);
}

/* Every candidate the long family enumerates (its exhaustive space) verifies. */
static void every_candidate(const char *family, int64_t n, fftconv_mode mode) {
  fftconv_ctx *c = ctx_or_skip();
  /* H = 6 for the cluster family: even H takes its head-ordered cluster order */
  fftconv_problem p = problem(3, strcmp(family, "monarch_cluster") ? 5 : 6,
                              mode == FFTCONV_CIRCULAR ? n : n / 2 - 5, mode, FFTCONV_FP16, 1);
  every_candidate_in(c, family, p);
  fftconv_ctx_destroy(c);
}

Test(gpu_long_candidates, n64k_circular) { every_candidate("monarch_long", 65536, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, n64k_causal) { every_candidate("monarch_long", 65536, FFTCONV_CAUSAL); }
Test(gpu_long_candidates, n1m_circular) { every_candidate("monarch_long", 1048576, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, n1m_causal) { every_candidate("monarch_long", 1048576, FFTCONV_CAUSAL); }

/* The plan of monarch_long with `params` (JSON) for p, compiled here, or with the binary
   *reuse when it is not NULL (a candidate whose code is the same: another group or order);
   the binary is kept in *keep when keep is not NULL. */
static fftconv_plan *long_plan(fftconv_ctx *c, const fftconv_problem *p, const char *params,
                               const fc_binary *reuse, fc_binary *keep) {
  fc_emit *em;
  fc_err e = {{0}};
  cr_assert_eq(fc_ctx_emit(c, &em), FFTCONV_OK);
  fc_kernel_src src;
  fc_binary bin = {0};
  fftconv_status st = FFTCONV_OK;
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", params, &c->gpu.info, &src, &e), FFTCONV_OK,
               "%s: %s", params, e.msg);
  if (reuse) {
    cr_assert_eq(fc_binary_copy(reuse, &bin, &e), FFTCONV_OK);
  } else {
    const char *srcs[1] = {src.source}, *names[1] = {src.name};
    fc_compile_all(srcs, names, 1, c->arch, 1, &bin, &st);
    cr_assert_eq(st, FFTCONV_OK, "%s does not compile:\n%s", params, bin.log);
  }
  fftconv_plan *pl = NULL;
  cr_assert_eq(fc_plan_from_binary(c, p, &src, &bin, "candidate", &pl), FFTCONV_OK, "%s",
               fftconv_ctx_error(c));
  fc_kernel_src_free(&src);
  if (keep) *keep = bin;
  else fc_binary_free(&bin);
  return pl;
}

/* Row groups and order (README, "Row groups and order"): the forward's passes run a group
   of G rows at a time through a workspace of G rows, in memory order or head-major. On 15
   rows (B = 3, H = 5: the last group short; head-major, odd B puts pairs across heads as well
   as within one), each order without a group, then with G = 2, 4, 6, 14 and 16 (one group),
   verifies against the fp64 reference, and each group gives y bit for bit as its order
   without groups; the workspace is G rows' (at most 15). */
static void groups_match(fftconv_ctx *c, const fftconv_problem *p, const char *base,
                         uint64_t seed) {
  fc_testdata t;
  fc_err e = {{0}};
  cr_assert_eq(fc_testdata_make(p, seed, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK,
               "%s", e.msg);
  size_t yb = t.n * (size_t)fftconv_dtype_size(p->dtype);
  unsigned char *whole = malloc(yb), *grouped = malloc(yb);
  cr_assert(whole && grouped);
  static const char *orders[] = {"", ",\"order\":\"head\""};
  fc_binary base_bin = {0};
  for (int o = 0; o < 2; o++) {
    char params[512];
    snprintf(params, sizeof params, "{%s%s}", base, orders[o]);
    fftconv_plan *pl = long_plan(c, p, params, o ? &base_bin : NULL, o ? NULL : &base_bin);
    double err = INFINITY;
    cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert(err <= fc_tolerance(p->dtype), "error %.3e with %s", err,
              fftconv_plan_describe(pl));
    cr_assert_eq(fc_cu.MemcpyDtoH(whole, t.dy, yb), CUDA_SUCCESS);
    size_t ws_all = fftconv_plan_workspace_bytes(pl);
    fftconv_plan_destroy(pl);
    static const int groups[] = {2, 4, 6, 14, 16};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
      snprintf(params, sizeof params, "{%s%s,\"group\":%d}", base, orders[o], groups[i]);
      pl = long_plan(c, p, params, &base_bin, NULL); /* the same code: not compiled again */
      cr_assert(strstr(fftconv_plan_describe(pl), "group"), "%s", fftconv_plan_describe(pl));
      size_t ws = fftconv_plan_workspace_bytes(pl);
      if (groups[i] >= 15) cr_assert_eq(ws, ws_all, "G = %d", groups[i]);
      else cr_assert_lt(ws, ws_all, "G = %d: %zu bytes", groups[i], ws);
      err = INFINITY;
      cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
      cr_assert(err <= fc_tolerance(p->dtype), "error %.3e with %s", err,
                fftconv_plan_describe(pl));
      cr_assert_eq(fc_cu.MemcpyDtoH(grouped, t.dy, yb), CUDA_SUCCESS);
      cr_assert(!memcmp(whole, grouped, yb), "G = %d: y differs from the plan without groups "
                "(%s)", groups[i], fftconv_plan_describe(pl));
      fftconv_plan_destroy(pl);
    }
    cr_log_info("%s%s: groups of 2, 4, 6, 14, 16 rows match, error %.2e", base, orders[o], err);
  }
  fc_binary_free(&base_bin);
  free(whole);
  free(grouped);
  fc_testdata_free(&t);
}

Test(gpu_long, row_groups) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p = problem(3, 5, 65536, FFTCONV_CIRCULAR, FFTCONV_FP16, 1);
  groups_match(c, &p, "\"dtype\":\"fp16\",\"fft_size\":65536,\"n2\":2048,\"post_gate\":true,"
               "\"pre_gate\":true,\"threads_cols\":256,\"threads_rows\":512,\"tile\":32,"
               "\"ws\":\"fp32\"", 31);
  p = problem(3, 5, 32763, FFTCONV_CAUSAL, FFTCONV_BF16, 1);
  groups_match(c, &p, "\"dtype\":\"bf16\",\"fft_size\":65536,\"n2\":4096,\"post_gate\":true,"
               "\"pre_gate\":true,\"threads_cols\":256,\"threads_rows\":512,\"tile\":16,"
               "\"ws\":\"half\"", 32);
  p = problem(3, 5, 262144, FFTCONV_CIRCULAR, FFTCONV_FP32, 0);
  groups_match(c, &p, "\"dtype\":\"fp32\",\"fft_size\":262144,\"n2\":4096,\"post_gate\":false,"
               "\"pre_gate\":false,\"threads_cols\":256,\"threads_rows\":512,\"tile\":16,"
               "\"ws\":\"fp32\"", 33);
  fftconv_ctx_destroy(c);
}

/* The cluster family (sm_90: skipped with a message elsewhere) where it fits: 64K and 128K. */
static void every_cluster_candidate(int64_t n, fftconv_mode mode) {
  fftconv_ctx *c = ctx_or_skip();
  int sm = c->gpu.info.sm;
  fftconv_ctx_destroy(c);
  if (sm < 90) cr_skip_test("monarch_cluster needs sm_90, the device is sm_%d", sm);
  every_candidate("monarch_cluster", n, mode);
}
Test(gpu_long_candidates, cluster_64k_circular) { every_cluster_candidate(65536, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, cluster_64k_causal) { every_cluster_candidate(65536, FFTCONV_CAUSAL); }
Test(gpu_long_candidates, cluster_128k_circular) { every_cluster_candidate(131072, FFTCONV_CIRCULAR); }

/* n 16-bit values of buffer d from element i, as doubles. */
static void fetch(CUdeviceptr d, int64_t i, int64_t n, fftconv_dtype dt, double *out) {
  uint16_t buf[1100];
  cr_assert_leq(n, 1100);
  cr_assert_eq(fc_cu.MemcpyDtoH(buf, d + (CUdeviceptr)(2 * i), (size_t)(2 * n)), CUDA_SUCCESS);
  for (int64_t j = 0; j < n; j++)
    out[j] = dt == FFTCONV_BF16 ? fc_bf16_to_f32(buf[j]) : fc_f16_to_f32(buf[j]);
}

/* One problem of B x H x L past 2^31 elements (FlashFFTConv crashes there): 64-bit offsets
   everywhere. B = 1, H = 2, L = 2^30 + 1000, fp16, gated with D: the built-in choice for
   K = 3 (direct) and K = 1024 (overlap_tc), run through the public API into a NaN-poisoned
   y (the spectrum from fftconv_prepare_filter_forward, the inference call), checked at 600
   positions a row (the first, around K, the middle, the last 16 and random
   ones, past element 2^31 in row 1) against the definition summed in fp64. The full fp64
   reference of 2^31 elements would not fit the test's time. */
Test(gpu_long, past_2_31_elements, .timeout = 600) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p = problem(1, 2, ((int64_t)1 << 30) + 1000, FFTCONV_CAUSAL, FFTCONV_FP16, 1);
  if (c->gpu.info.total_mem < ((int64_t)20 << 30)) cr_skip_test("needs 20 GB of device memory");
  static const int64_t taps[] = {3, 1024};
  fc_err e = {{0}};
  for (int ti = 0; ti < 2; ti++) {
    p.filter_len = taps[ti];
    const int64_t K = taps[ti], L = p.seqlen;
    fftconv_plan *pl = NULL;
    cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(c));
    fc_testdata t;
    cr_assert_eq(fc_testdata_make_on(&c->gpu, &p, 7 + (uint64_t)ti, FC_TD_DEVICE, &t, &e),
                 FFTCONV_OK, "%s", e.msg);
    cr_assert_gt(t.n, (size_t)1 << 31);
    cr_assert_eq(fc_cu.MemsetD8(t.dy, 0xff, 2 * t.n), CUDA_SUCCESS); /* NaN */
    /* the forward's spectrum alone (inference), into a NaN-poisoned buffer of its size */
    t.khat_bytes = fftconv_plan_forward_filter_bytes(pl);
    cr_assert(t.khat_bytes > 0 && t.khat_bytes <= fftconv_plan_filter_bytes(pl));
    cr_assert_eq(fc_cu.MemAlloc(&t.dkhat, t.khat_bytes), CUDA_SUCCESS);
    cr_assert_eq(fc_cu.MemsetD8(t.dkhat, 0xff, t.khat_bytes), CUDA_SUCCESS);
    cr_assert_eq(fftconv_prepare_filter_forward(pl, (void *)t.dk, (void *)t.dd, (void *)t.dkhat,
                                                NULL),
                 FFTCONV_OK, "%s", fftconv_ctx_error(c));
    cr_assert_eq(fc_testdata_forward(pl, &t, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(fc_cu.CtxSynchronize(), CUDA_SUCCESS);
    float kf[2 * 1024], df[2];
    cr_assert_eq(fc_cu.MemcpyDtoH(kf, t.dk, sizeof(float) * (size_t)(2 * K)), CUDA_SUCCESS);
    cr_assert_eq(fc_cu.MemcpyDtoH(df, t.dd, sizeof df), CUDA_SUCCESS);
    double num = 0, den = 0, u[1100], pre[1100], post, y;
    uint64_t r = 12345;
    for (int64_t row = 0; row < 2; row++)
      for (int s = 0; s < 600; s++) {
        int64_t pos;
        if (s < 3) pos = s;
        else if (s < 8) pos = K - 3 + s;
        else if (s < 9) pos = L / 2;
        else if (s < 25) pos = L - 1 - (s - 9);
        else pos = (int64_t)((r = r * 6364136223846793005u + 1442695040888963407u) >> 34) % L;
        const int64_t from = pos - K + 1 < 0 ? 0 : pos - K + 1, cnt = pos - from + 1;
        const int64_t base = row * L;
        fetch(t.du, base + from, cnt, p.dtype, u);
        fetch(t.dpre, base + from, cnt, p.dtype, pre);
        fetch(t.dpost, base + pos, 1, p.dtype, &post);
        fetch(t.dy, base + pos, 1, p.dtype, &y);
        double z = df[row] * u[cnt - 1] * pre[cnt - 1];
        for (int64_t j = 0; j < cnt; j++) z += kf[row * K + j] * u[cnt - 1 - j] * pre[cnt - 1 - j];
        const double ref = post * z;
        cr_assert(isfinite(y), "K = %lld: y[%lld] of row %lld is not written (NaN)", (long long)K,
                  (long long)pos, (long long)row);
        num += (y - ref) * (y - ref), den += ref * ref;
      }
    const double err = sqrt(num / den);
    cr_log_info("K = %lld, %zu elements: error %.2e at 1200 positions with %s", (long long)K,
                t.n, err, fftconv_plan_describe(pl));
    cr_assert(err <= fc_tolerance(p.dtype), "K = %lld: relative error %.3e with %s", (long long)K,
              err, fftconv_plan_describe(pl));
    fc_testdata_free(&t);
    fftconv_plan_destroy(pl);
  }
  fftconv_ctx_destroy(c);
}
