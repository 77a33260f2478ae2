/* GPU: the backward pass (fftconv_backward) through the public API against the fp64 reference
   (fc_reference_backward): random inputs (never zeros), NaN-poisoned outputs and k_hat, odd
   shapes (B = 3, H = 5, L not a power of two, K < L, F > 0, D), every dtype, both modes, every
   combination of the outputs asked for (one not asked for stays poisoned); dk and dd the same
   bits on two runs; the refusals. Skips with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "gpu_check.h"
#include "run_tool.h"
#include "reference.h"
#include "sample.h"

enum { O_DU = 1, O_DPRE = 2, O_DPOST = 4, O_DK = 8, O_DD = 16, O_ALL = 31 };

typedef struct bwd_case {
  fftconv_problem p;
  size_t n, nk;           /* B*H*L, H*K */
  double *u, *pre, *post, *dy, *k, *d;
  double *ref[5];         /* du dpre dpost (n), dk (nk), dd (H) */
  CUdeviceptr du_in, dpre_in, dpost_in, ddy, dk_in, dd_in, khat, ws;
  CUdeviceptr out[5];
  size_t out_bytes[5];
} bwd_case;

static double rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  double v = (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
  return fabs(v) < 1e-3 ? 0.5 : v;
}

static double round_dt(fftconv_dtype dt, double v) {
  if (dt == FFTCONV_FP16) return fc_f16_to_f32(fc_f32_to_f16((float)v));
  if (dt == FFTCONV_BF16) return fc_bf16_to_f32(fc_f32_to_bf16((float)v));
  return (float)v;
}

static double *host_random(uint64_t *s, size_t n, fftconv_dtype dt, double scale) {
  double *a = malloc(n * sizeof *a);
  cr_assert(a);
  for (size_t i = 0; i < n; i++) a[i] = round_dt(dt, rnd(s) * scale);
  return a;
}

static CUdeviceptr upload(const double *a, size_t n, fftconv_dtype dt) {
  size_t es = (size_t)fftconv_dtype_size(dt);
  void *h = malloc(n * es);
  cr_assert(h);
  for (size_t i = 0; i < n; i++) {
    if (dt == FFTCONV_FP32) ((float *)h)[i] = (float)a[i];
    else if (dt == FFTCONV_FP16) ((uint16_t *)h)[i] = fc_f32_to_f16((float)a[i]);
    else ((uint16_t *)h)[i] = fc_f32_to_bf16((float)a[i]);
  }
  CUdeviceptr d = 0;
  cr_assert_eq(fc_cu.MemAlloc(&d, n * es), CUDA_SUCCESS);
  cr_assert_eq(fc_cu.MemcpyHtoD(d, h, n * es), CUDA_SUCCESS);
  free(h);
  return d;
}

static double *download(CUdeviceptr d, size_t n, fftconv_dtype dt) {
  size_t es = (size_t)fftconv_dtype_size(dt);
  void *h = malloc(n * es);
  double *a = malloc(n * sizeof *a);
  cr_assert(h && a);
  cr_assert_eq(fc_cu.MemcpyDtoH(h, d, n * es), CUDA_SUCCESS);
  for (size_t i = 0; i < n; i++)
    a[i] = dt == FFTCONV_FP32   ? ((float *)h)[i]
           : dt == FFTCONV_FP16 ? fc_f16_to_f32(((uint16_t *)h)[i])
                                : fc_bf16_to_f32(((uint16_t *)h)[i]);
  free(h);
  return a;
}

static void case_make(bwd_case *c, const fftconv_problem *p, uint64_t seed) {
  memset(c, 0, sizeof *c);
  c->p = *p;
  int64_t K = fc_filter_len(p);
  c->n = (size_t)(p->batch * p->heads * p->seqlen);
  c->nk = (size_t)(p->heads * K);
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
  c->u = host_random(&s, c->n, p->dtype, 1.0);
  c->pre = p->pre_gate ? host_random(&s, c->n, p->dtype, 1.0) : NULL;
  c->post = p->post_gate ? host_random(&s, c->n, p->dtype, 1.0) : NULL;
  c->dy = host_random(&s, c->n, p->dtype, 1.0);
  c->k = host_random(&s, c->nk, FFTCONV_FP32, 1.0 / sqrt((double)K));
  c->d = p->skip_d ? host_random(&s, (size_t)p->heads, FFTCONV_FP32, 1.0) : NULL;
  size_t counts[5] = {c->n, c->n, c->n, c->nk, (size_t)p->heads};
  for (int i = 0; i < 5; i++) c->ref[i] = malloc(counts[i] * sizeof(double));
  fc_ref_inputs in = {c->u, c->pre, c->post, c->k, c->d};
  fc_ref_grads g = {c->ref[0], p->pre_gate ? c->ref[1] : NULL, p->post_gate ? c->ref[2] : NULL,
                    c->ref[3], p->skip_d ? c->ref[4] : NULL};
  fc_err e = {{0}};
  cr_assert_eq(fc_reference_backward(p, &in, c->dy, &g, &e), FFTCONV_OK, "%s", e.msg);
  c->du_in = upload(c->u, c->n, p->dtype);
  c->dpre_in = p->pre_gate ? upload(c->pre, c->n, p->dtype) : 0;
  c->dpost_in = p->post_gate ? upload(c->post, c->n, p->dtype) : 0;
  c->ddy = upload(c->dy, c->n, p->dtype);
  c->dk_in = upload(c->k, c->nk, FFTCONV_FP32);
  c->dd_in = p->skip_d ? upload(c->d, (size_t)p->heads, FFTCONV_FP32) : 0;
  size_t es = (size_t)fftconv_dtype_size(p->dtype);
  size_t bytes[5] = {c->n * es, c->n * es, c->n * es, c->nk * 4, (size_t)p->heads * 4};
  for (int i = 0; i < 5; i++) {
    c->out_bytes[i] = bytes[i];
    cr_assert_eq(fc_cu.MemAlloc(&c->out[i], bytes[i]), CUDA_SUCCESS);
  }
}

static void case_free(bwd_case *c) {
  free(c->u), free(c->pre), free(c->post), free(c->dy), free(c->k), free(c->d);
  for (int i = 0; i < 5; i++) {
    free(c->ref[i]);
    if (c->out[i]) fc_cu.MemFree(c->out[i]);
  }
  CUdeviceptr d[] = {c->du_in, c->dpre_in, c->dpost_in, c->ddy, c->dk_in, c->dd_in, c->khat, c->ws};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
    if (d[i]) fc_cu.MemFree(d[i]);
}

/* The outputs of `mask` the problem can have. */
static int possible(const fftconv_problem *p, int mask) {
  if (!p->pre_gate) mask &= ~O_DPRE;
  if (!p->post_gate) mask &= ~O_DPOST;
  if (!p->skip_d) mask &= ~O_DD;
  return mask;
}

static void args_for(bwd_case *c, int mask, fftconv_backward_args *a) {
  fftconv_backward_args_init(a);
  a->u = (void *)c->du_in;
  a->pre = (void *)c->dpre_in;
  a->post = (void *)c->dpost_in;
  a->dy = (void *)c->ddy;
  a->k_hat = (void *)c->khat;
  a->du = mask & O_DU ? (void *)c->out[0] : NULL;
  a->dpre = mask & O_DPRE ? (void *)c->out[1] : NULL;
  a->dpost = mask & O_DPOST ? (void *)c->out[2] : NULL;
  a->dk = mask & O_DK ? (float *)c->out[3] : NULL;
  a->dd = mask & O_DD ? (float *)c->out[4] : NULL;
  a->workspace = (void *)c->ws;
}

/* Plans p, prepares the filter into a poisoned k_hat and allocates the workspace. */
static fftconv_plan *case_plan(fftconv_ctx *ctx, bwd_case *c, const char *key) {
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(ctx, &c->p, &pl), FFTCONV_OK, "%s: %s", key,
               fftconv_ctx_error(ctx));
  cr_assert_eq(fftconv_plan_backward_status(pl), FFTCONV_OK, "%s: %s (%s)", key,
               fftconv_ctx_error(ctx), fftconv_plan_describe(pl));
  size_t kb = fftconv_plan_filter_bytes(pl), wb = fftconv_plan_backward_workspace_bytes(pl);
  cr_assert_eq(fc_cu.MemAlloc(&c->khat, kb), CUDA_SUCCESS);
  cr_assert_eq(fc_cu.MemsetD8(c->khat, 0xff, kb), CUDA_SUCCESS);
  if (wb) cr_assert_eq(fc_cu.MemAlloc(&c->ws, wb), CUDA_SUCCESS);
  cr_assert_eq(fftconv_prepare_filter(pl, (void *)c->dk_in, (void *)c->dd_in, (void *)c->khat,
                                      NULL), FFTCONV_OK, "%s", fftconv_ctx_error(ctx));
  return pl;
}

static const char *const out_names[5] = {"du", "dpre", "dpost", "dk", "dd"};

/* Runs the backward for `mask` into poisoned outputs; each asked for within its bound, each
   not asked for still poisoned. Returns the worst relative error. */
static double run_mask(fftconv_plan *pl, bwd_case *c, int mask, const char *key) {
  for (int i = 0; i < 5; i++)
    cr_assert_eq(fc_cu.MemsetD8(c->out[i], 0xff, c->out_bytes[i]), CUDA_SUCCESS);
  fftconv_backward_args a;
  args_for(c, mask, &a);
  a.workspace_bytes = fftconv_plan_backward_workspace_bytes(pl);
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_OK, "%s: %s", key,
               fftconv_ctx_error(pl->ctx));
  cr_assert_eq(fc_cu.CtxSynchronize(), CUDA_SUCCESS, "%s", key);
  double tol = fc_tolerance(c->p.dtype), worst = 0;
  size_t counts[5] = {c->n, c->n, c->n, c->nk, (size_t)c->p.heads};
  for (int i = 0; i < 5; i++) {
    fftconv_dtype dt = i < 3 ? c->p.dtype : FFTCONV_FP32;
    double *got = download(c->out[i], counts[i], dt);
    if (mask & (1 << i)) {
      double err = fc_rel_l2(c->ref[i], got, counts[i]);
      /* dk and dd are sums over the batch in fp32 of inputs in the I/O dtype: the I/O
         dtype's bound, and fp32's (1e-5) for fp32 I/O */
      cr_assert(err <= tol, "%s: %s relative error %.3e > %.0e (outputs 0x%x) with %s", key,
                out_names[i], err, tol, mask, fftconv_plan_describe(pl));
      if (err > worst) worst = err;
    } else {
      for (size_t j = 0; j < counts[i]; j++)
        cr_assert(isnan(got[j]), "%s: %s[%zu] = %g written though not asked for (outputs 0x%x)",
                  key, out_names[i], j, got[j], mask);
    }
    free(got);
  }
  return worst;
}

static void check_backward(fftconv_ctx *ctx, const fftconv_problem *p, uint64_t seed,
                           int every_mask) {
  char key[256];
  fftconv_problem_key(p, key, sizeof key);
  bwd_case c;
  case_make(&c, p, seed);
  fftconv_plan *pl = case_plan(ctx, &c, key);
  double worst = run_mask(pl, &c, possible(p, O_ALL), key);
  if (every_mask)
    for (int m = 1; m < O_ALL; m++)
      if (possible(p, m) == m) run_mask(pl, &c, m, key);
  cr_log_info("%s: worst gradient error %.2e with %s", key, worst, fftconv_plan_describe(pl));
  fftconv_plan_destroy(pl);
  case_free(&c);
}

static fftconv_problem odd_problem(fftconv_dtype dt, fftconv_mode mode) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.mode = mode;
  p.seqlen = mode == FFTCONV_CAUSAL ? 1000 : 1024;
  p.dtype = dt;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  return p;
}

/* A partial filter past the dense families' largest FFT (L = 4.2M, K = 1024: N = 8M): with no
   tuned kernel the built-in choice for the backward is overlap_tc's (before it declined, and
   only K <= 64 had a backward there). */
Test(gpu_backward, partial_past_the_dense_families, .timeout = 300) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 1;
  p.heads = 2;
  p.mode = FFTCONV_CAUSAL;
  p.seqlen = 4200001;
  p.filter_len = 1024;
  p.dtype = FFTCONV_FP16;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  bwd_case bc;
  case_make(&bc, &p, 91);
  fftconv_plan *pl = case_plan(c, &bc, key);
  const char *d = fftconv_plan_describe(pl);
  cr_assert(strstr(d, "backward: overlap_tc"), "%s: %s", key, d);
  double worst = run_mask(pl, &bc, possible(&p, O_ALL), key);
  cr_log_info("%s: worst gradient error %.2e with %s", key, worst, d);
  fftconv_plan_destroy(pl);
  case_free(&bc);
  fftconv_ctx_destroy(c);
}

/* Every dtype, both modes, gates and D; every combination of outputs for fp32. */
Test(gpu_backward, odd_shapes_every_dtype_and_output) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = 0; dt < 3; dt++)
    for (int mode = 0; mode < 2; mode++) {
      fftconv_problem p = odd_problem((fftconv_dtype)dt, (fftconv_mode)mode);
      check_backward(c, &p, (uint64_t)(dt * 10 + mode), dt == FFTCONV_FP32);
    }
  fftconv_ctx_destroy(c);
}

/* K < L, F > 0, no gates or no D, another N; every output combination. */
Test(gpu_backward, partial_sparse_and_ungated) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = 0; dt < 3; dt++) {
    fftconv_problem p = odd_problem((fftconv_dtype)dt, FFTCONV_CAUSAL);
    p.filter_len = 300;
    check_backward(c, &p, 40 + (uint64_t)dt, 1);
    p.filter_len = 0;
    p.freq_keep = 101;
    check_backward(c, &p, 50 + (uint64_t)dt, 0);
    p.freq_keep = 0;
    p.pre_gate = 0;
    p.skip_d = 0;
    check_backward(c, &p, 60 + (uint64_t)dt, 1);
    p.post_gate = 0;
    p.pre_gate = 1;
    p.seqlen = 3001; /* N = 8192 */
    check_backward(c, &p, 70 + (uint64_t)dt, 0);
    p = odd_problem((fftconv_dtype)dt, FFTCONV_CIRCULAR);
    p.seqlen = 256;
    p.filter_len = 77;
    p.freq_keep = 40;
    check_backward(c, &p, 80 + (uint64_t)dt, 0);
  }
  fftconv_ctx_destroy(c);
}

/* dk and dd: the same bits on two runs (fixed-order sums, no atomics). */
Test(gpu_backward, dk_and_dd_are_deterministic) {
  fftconv_ctx *ctx = ctx_or_skip();
  fftconv_problem p = odd_problem(FFTCONV_FP16, FFTCONV_CAUSAL);
  p.batch = 16;
  p.heads = 7;
  p.seqlen = 4000;
  bwd_case c;
  case_make(&c, &p, 5);
  fftconv_plan *pl = case_plan(ctx, &c, "determinism");
  fftconv_backward_args a;
  args_for(&c, O_ALL, &a);
  a.workspace_bytes = fftconv_plan_backward_workspace_bytes(pl);
  void *first[2] = {malloc(c.out_bytes[3]), malloc(c.out_bytes[4])};
  void *again[2] = {malloc(c.out_bytes[3]), malloc(c.out_bytes[4])};
  for (int run = 0; run < 2; run++) {
    cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_OK, "%s", fftconv_ctx_error(ctx));
    for (int i = 0; i < 2; i++)
      cr_assert_eq(fc_cu.MemcpyDtoH(run ? again[i] : first[i], c.out[3 + i], c.out_bytes[3 + i]),
                   CUDA_SUCCESS);
  }
  cr_assert_eq(memcmp(first[0], again[0], c.out_bytes[3]), 0, "dk differs between two runs");
  cr_assert_eq(memcmp(first[1], again[1], c.out_bytes[4]), 0, "dd differs between two runs");
  for (int i = 0; i < 2; i++) free(first[i]), free(again[i]);
  fftconv_plan_destroy(pl);
  case_free(&c);
  fftconv_ctx_destroy(ctx);
}

/* fftconv_prepare_filter_sized into a buffer of the problem's bound (what a framework sizes
   before a plan exists): every byte is a function of k and d (two buffers poisoned
   differently come out equal, the rest zero), the backward runs from it, and a buffer smaller
   than the plan's is refused by name. At a size whose two directions share one layout (1000,
   monarch_tc) and at one where they do not (N = 32K: the forward on tensor cores, the backward monarch_long). */
Test(gpu_backward, a_sized_filter_buffer_is_every_byte_written) {
  fftconv_ctx *ctx = ctx_or_skip();
  int64_t lens[2] = {1000, 16000};
  for (int i = 0; i < 2; i++) {
    fftconv_problem p = odd_problem(FFTCONV_FP16, FFTCONV_CAUSAL);
    p.seqlen = lens[i];
    bwd_case c;
    case_make(&c, &p, 11 + (uint64_t)i);
    fftconv_plan *pl = case_plan(ctx, &c, "sized");
    size_t need = fftconv_plan_filter_bytes(pl), total = fftconv_problem_filter_bytes(&p);
    cr_assert(total >= need, "the problem's bound %zu is below the plan's %zu", total, need);
    CUdeviceptr buf[2];
    unsigned char *host[2];
    for (int j = 0; j < 2; j++) {
      cr_assert_eq(fc_cu.MemAlloc(&buf[j], total), CUDA_SUCCESS);
      cr_assert_eq(fc_cu.MemsetD8(buf[j], j ? 0x5a : 0xff, total), CUDA_SUCCESS);
      cr_assert_eq(fftconv_prepare_filter_sized(pl, (void *)c.dk_in, (void *)c.dd_in,
                                                (void *)buf[j], total, NULL),
                   FFTCONV_OK, "%s", fftconv_ctx_error(ctx));
      host[j] = malloc(total);
      cr_assert(host[j]);
      cr_assert_eq(fc_cu.MemcpyDtoH(host[j], buf[j], total), CUDA_SUCCESS);
    }
    for (size_t b = 0; b < total; b++)
      cr_assert_eq(host[0][b], host[1][b], "L = %lld: byte %zu of %zu (the plan's %zu) depends "
                   "on what the buffer held (%s)", (long long)lens[i], b, total, need,
                   fftconv_plan_describe(pl));
    for (size_t b = need; b < total; b++) cr_assert_eq(host[0][b], 0, "byte %zu not zeroed", b);
    cr_assert_eq(fc_cu.MemFree(c.khat), CUDA_SUCCESS);
    c.khat = buf[0];
    run_mask(pl, &c, O_ALL, "sized");
    cr_assert_eq(fftconv_prepare_filter_sized(pl, (void *)c.dk_in, (void *)c.dd_in,
                                              (void *)buf[1], need - 1, NULL),
                 FFTCONV_ERR_INVALID);
    cr_assert(strstr(fftconv_ctx_error(ctx), "k_hat_bytes"), "%s", fftconv_ctx_error(ctx));
    cr_log_info("L = %lld: %zu of %zu bytes hold spectra (%s)", (long long)lens[i], need, total,
                fftconv_plan_describe(pl));
    cr_assert_eq(fc_cu.MemFree(buf[1]), CUDA_SUCCESS);
    for (int j = 0; j < 2; j++) free(host[j]);
    fftconv_plan_destroy(pl);
    case_free(&c);
  }
  fftconv_ctx_destroy(ctx);
}

/* Bad arguments are refused with the field named, before anything runs. */
Test(gpu_backward, refusals_name_the_argument) {
  fftconv_ctx *ctx = ctx_or_skip();
  fftconv_problem p = odd_problem(FFTCONV_FP32, FFTCONV_CAUSAL);
  p.pre_gate = 0;
  bwd_case c;
  case_make(&c, &p, 9);
  fftconv_plan *pl = case_plan(ctx, &c, "refusals");
  fftconv_backward_args a;
  args_for(&c, O_ALL & ~O_DPRE, &a);
  a.size = 8;
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(ctx), "args: size is 8"), "%s", fftconv_ctx_error(ctx));
  args_for(&c, O_ALL & ~O_DPRE, &a);
  a.dy = NULL;
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(ctx), "dy: NULL"), "%s", fftconv_ctx_error(ctx));
  args_for(&c, O_ALL & ~O_DPRE, &a);
  a.dpre = (void *)c.out[1];
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(ctx), "dpre: asked for, but the problem has no pre gate"),
            "%s", fftconv_ctx_error(ctx));
  args_for(&c, O_DK, &a);
  a.u = NULL;
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(ctx), "u: NULL, but dk is asked for"), "%s",
            fftconv_ctx_error(ctx));
  args_for(&c, O_DU, &a);
  a.post = NULL;
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(ctx), "post: NULL, but the problem has a post gate and du"),
            "%s", fftconv_ctx_error(ctx));
  /* du alone reads neither u nor (without a pre gate) pre: NULL is fine */
  args_for(&c, O_DU, &a);
  a.u = NULL;
  a.workspace_bytes = fftconv_plan_backward_workspace_bytes(pl);
  cr_assert_eq(fftconv_backward(pl, &a, NULL), FFTCONV_OK, "%s", fftconv_ctx_error(ctx));
  cr_assert_eq(fc_cu.CtxSynchronize(), CUDA_SUCCESS);
  cr_assert_eq(fftconv_plan_backward_status(NULL), FFTCONV_ERR_INVALID);
  fftconv_plan_destroy(pl);
  case_free(&c);
  fftconv_ctx_destroy(ctx);
}

/* A plan whose backward cannot be found (a tuned-only context whose cache holds the forward
   alone: every N has a backward family now) still runs its forward; the backward says why it
   cannot run, naming the command that tunes it, and so does describe. */
Test(gpu_backward, a_plan_without_backward_says_why, .timeout = 300) {
  fftconv_ctx *probe = ctx_or_skip();
  fftconv_ctx_destroy(probe);
  char dir[] = "/tmp/fc-bwd-XXXXXX", cache[64], args[256], out[1 << 14];
  cr_assert(mkdtemp(dir));
  snprintf(cache, sizeof cache, "%s/c.db", dir);
  snprintf(args, sizeof args, "--cache %s --op forward --batch 1 --heads 1 --seqlen 1000 "
           "--rigor estimate --quiet", cache);
  cr_assert_eq(run_tool("FFTCONV_TUNE", TUNE_BIN, args, out, sizeof out), 0, "%s", out);
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.cache_path = cache;
  o.policy = FFTCONV_POLICY_TUNED_ONLY;
  fftconv_ctx *ctx = NULL;
  cr_assert_eq(fftconv_ctx_create(&o, &ctx), FFTCONV_OK, "%s", fftconv_ctx_error(NULL));
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 1;
  p.heads = 1;
  p.seqlen = 1000;
  p.dtype = FFTCONV_FP16; /* the tuner's default */
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(ctx, &p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(ctx));
  cr_assert_neq(fftconv_plan_backward_status(pl), FFTCONV_OK);
  cr_assert(strstr(fftconv_ctx_error(ctx), "plan has no backward kernel: ") &&
            strstr(fftconv_ctx_error(ctx), "fftconv-tune"), "%s", fftconv_ctx_error(ctx));
  cr_assert(strstr(fftconv_plan_describe(pl), "; backward: none ("), "%s",
            fftconv_plan_describe(pl));
  fftconv_backward_args a;
  fftconv_backward_args_init(&a);
  a.dy = a.k_hat = a.u = (void *)1;
  a.du = (void *)1;
  cr_assert_neq(fftconv_backward(pl, &a, NULL), FFTCONV_OK);
  cr_assert(strstr(fftconv_ctx_error(ctx), "plan has no backward kernel: "), "%s",
            fftconv_ctx_error(ctx));
  fftconv_plan_destroy(pl);
  fftconv_ctx_destroy(ctx);
  unlink(cache);
  rmdir(dir);
}

/* Every candidate of a family's backward space (what the tuner may choose) against the fp64
   gradients through the tuner's own verification (fc_verify_plan of a backward plan: every
   output the problem has, NaN-poisoned). A candidate over the bound is logged with each
   gradient's error and counted, not fatal, so that one run reports every failure; the count
   is returned for the test to assert on after all its problems. */
static int every_backward_candidate_of(fftconv_ctx *c, const char *family, fftconv_problem p,
                                       fc_rigor rigor) {
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  fc_emit *em;
  fc_err e = {{0}};
  cr_assert_eq(fc_ctx_emit(c, &em), FFTCONV_OK);
  fc_candidate *cl;
  int ncl;
  if (rigor == FC_RIGOR_SAMPLE)
    cr_assert_eq(fc_sample_space_op(em, family, FC_OP_BACKWARD, &p, &c->gpu.info, &cl, &ncl, &e),
                 FFTCONV_OK, "%s", e.msg);
  else
    cr_assert_eq(fc_emit_space_op(em, family, FC_OP_BACKWARD, &p, &c->gpu.info, rigor, &cl, &ncl,
                                  &e), FFTCONV_OK, "%s", e.msg);
  fc_testdata t;
  cr_assert_eq(fc_testdata_make_op(&c->gpu, FC_OP_BACKWARD, &p, 21, FC_TD_REFERENCE | FC_TD_DEVICE,
                                   &t, &e), FFTCONV_OK, "%s", e.msg);
  int n = 0, bad = 0;
  double worst = 0;
  for (int i = 0; i < ncl; i++) {
    if (cl[i].reason) continue;
    fc_kernel_src src = {0};
    fc_binary bin = {0};
    cr_assert_eq(fc_emit_kernel(em, family, cl[i].params, &c->gpu.info, &src, &e), FFTCONV_OK,
                 "%s", e.msg);
    cr_assert_eq(fc_compile(src.source, src.name, c->arch, 0, &bin, &e), FFTCONV_OK,
                 "%s: %s", cl[i].params, e.msg);
    fftconv_plan *pl;
    cr_assert_eq(fc_plan_from_binary_op(c, FC_OP_BACKWARD, &p, &src, &bin, "candidate", &pl),
                 FFTCONV_OK, "%s", fftconv_ctx_error(c));
    double err = INFINITY;
    cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
    if (!(err <= fc_tolerance(p.dtype))) {
      cr_log_error("%s: %s: worst gradient error %.3e (du %.2e, dpre %.2e, dpost %.2e, dk %.2e, "
                   "dD %.2e; -1: not an output)", key, cl[i].params, err, t.grad_err[0],
                   t.grad_err[1], t.grad_err[2], t.grad_err[3], t.grad_err[4]);
      bad++;
    }
    if (!(err <= worst)) worst = err;
    fftconv_plan_destroy(pl);
    fc_binary_free(&bin);
    fc_kernel_src_free(&src);
    n++;
  }
  cr_assert_gt(n, 0, "%s: no %s backward candidate", key, family);
  cr_log_info("%s: %d %s backward candidates, worst error %.2e, %d over the bound", key, n,
              family, worst, bad);
  fc_testdata_free(&t);
  fc_candidates_free(cl, ncl);
  return bad;
}

static int every_backward_candidate(fftconv_ctx *c, const char *family, fftconv_problem p) {
  return every_backward_candidate_of(c, family, p, FC_RIGOR_EXHAUSTIVE);
}

/* monarch_tc's backward: every candidate at odd shapes, both dtypes and modes (each size up to
   8K has both places for the batch sum), a covering sample at 16K (the workspace's only);
   monarch_fp32's at one size. One test a problem, so that a device call with little time can
   run them in slices (`--filter gpu_backward_candidates/tc_*`) and each says pass or fail. */
static void candidates_verify(const char *family, fftconv_problem p, fc_rigor rigor) {
  fftconv_ctx *c = ctx_or_skip();
  int bad = every_backward_candidate_of(c, family, p, rigor);
  fftconv_ctx_destroy(c);
  cr_assert_eq(bad, 0, "%d candidates over the error bound (logged above)", bad);
}

Test(gpu_backward_candidates, tc_causal_fp16_k300, .timeout = 900) {
  fftconv_problem p = odd_problem(FFTCONV_FP16, FFTCONV_CAUSAL);
  p.filter_len = 300;
  candidates_verify("monarch_tc", p, FC_RIGOR_EXHAUSTIVE);
}

Test(gpu_backward_candidates, tc_circular_bf16_band, .timeout = 900) {
  fftconv_problem p = odd_problem(FFTCONV_BF16, FFTCONV_CIRCULAR);
  p.freq_keep = 100;
  candidates_verify("monarch_tc", p, FC_RIGOR_EXHAUSTIVE);
}

Test(gpu_backward_candidates, tc_8192, .timeout = 900) {
  fftconv_problem p = odd_problem(FFTCONV_FP16, FFTCONV_CAUSAL);
  p.seqlen = 4001; /* N = 8192: the largest the tensor-core backward runs from shared memory */
  p.batch = 4;
  candidates_verify("monarch_tc", p, FC_RIGOR_EXHAUSTIVE);
}

Test(gpu_backward_candidates, tc_16384_sample, .timeout = 900) {
  fftconv_problem p = odd_problem(FFTCONV_BF16, FFTCONV_CAUSAL);
  p.seqlen = 8001; /* N = 16384: only with the batch sum in the workspace (acc "ws") */
  p.filter_len = 5000;
  candidates_verify("monarch_tc", p, FC_RIGOR_SAMPLE);
}

/* N = 32768: only seq fits (one unit in shared memory, Zv in the workspace); a covering sample
   of the exhaustive space, where the main job's search has four of its kernels. */
Test(gpu_backward_candidates, tc_32768_seq, .timeout = 900) {
  fftconv_problem p = odd_problem(FFTCONV_FP16, FFTCONV_CAUSAL);
  p.seqlen = 16001;
  p.filter_len = 10000;
  candidates_verify("monarch_tc", p, FC_RIGOR_SAMPLE);
  p = odd_problem(FFTCONV_BF16, FFTCONV_CIRCULAR);
  p.seqlen = 32768;
  p.freq_keep = 3000;
  candidates_verify("monarch_tc", p, FC_RIGOR_SAMPLE);
}

Test(gpu_backward_candidates, fp32, .timeout = 900) {
  candidates_verify("monarch_fp32", odd_problem(FFTCONV_FP32, FFTCONV_CAUSAL),
                    FC_RIGOR_EXHAUSTIVE);
}

/* The direct family's backward (short filters): every candidate against the fp64 gradients,
   K = 1, 3, 7 and 64 taps, causal at L = 1000 (scalar paths) and 4096 (vector paths) and
   circular at 1024 (both halos wrap), every dtype, gates and D on except for bf16. */
Test(gpu_backward, direct_every_candidate_verifies, .timeout = 900) {
  fftconv_ctx *c = ctx_or_skip();
  int bad = 0;
  static const int64_t taps[] = {1, 3, 7, 64};
  for (int t = 0; t < 4; t++)
    for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++)
      for (int shape = 0; shape < 3; shape++) {
        fftconv_problem p = odd_problem((fftconv_dtype)dt,
                                        shape == 2 ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL);
        p.seqlen = shape == 0 ? 1000 : shape == 1 ? 4096 : 1024;
        p.filter_len = taps[t];
        p.freq_keep = 0;
        p.pre_gate = p.post_gate = p.skip_d = dt != FFTCONV_BF16;
        bad += every_backward_candidate(c, "direct", p);
      }
  fftconv_ctx_destroy(c);
  cr_assert_eq(bad, 0, "%d candidates over the error bound (logged above)", bad);
}

/* overlap_tc's backward (partial causal filters by overlap-save): a covering sample of its
   space (every segment size, factorization, warp count and share count appears) against the
   fp64 gradients, at K = 1 (no edge: the window is the segment), K = 100 at a length the
   segments do not divide (scalar paths), K = 700 close to L/4, and K = 4097, the most its
   largest segment FFT (8192) holds; fp16 and bf16, with and without gates and D. */
Test(gpu_backward, overlap_candidates_verify, .timeout = 900) {
  fftconv_ctx *c = ctx_or_skip();
  int bad = 0;
  static const struct { int64_t seqlen, taps; fftconv_dtype dt; int gated; } shapes[] = {
      {10001, 1, FFTCONV_FP16, 1},   {10001, 100, FFTCONV_BF16, 0},
      {3001, 700, FFTCONV_FP16, 1},  {65536, 1024, FFTCONV_BF16, 1},
      {20000, 4097, FFTCONV_FP16, 0},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    fftconv_problem p = odd_problem(shapes[i].dt, FFTCONV_CAUSAL);
    p.seqlen = shapes[i].seqlen;
    p.filter_len = shapes[i].taps;
    p.freq_keep = 0;
    p.pre_gate = p.post_gate = p.skip_d = shapes[i].gated;
    bad += every_backward_candidate_of(c, "overlap_tc", p, FC_RIGOR_SAMPLE);
  }
  fftconv_ctx_destroy(c);
  cr_assert_eq(bad, 0, "%d candidates over the error bound (logged above)", bad);
}

/* monarch_long's backward (N = 32K .. 4M, the plan's choice there): odd shapes with K < L,
   F > 0 and D in both modes and every dtype, every output combination once; then a sample of
   its space (every split, tile and thread count appears) at two sizes. */
Test(gpu_backward, long_odd_shapes, .timeout = 900) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = 0; dt < 3; dt++) {
    fftconv_problem p = odd_problem((fftconv_dtype)dt, FFTCONV_CAUSAL);
    p.seqlen = 40001; /* N = 131072 */
    p.filter_len = 30001;
    check_backward(c, &p, 90 + (uint64_t)dt, dt == FFTCONV_FP32);
    p = odd_problem((fftconv_dtype)dt, FFTCONV_CIRCULAR);
    p.seqlen = 65536;
    p.freq_keep = 5000;
    p.pre_gate = 0;
    check_backward(c, &p, 95 + (uint64_t)dt, 0);
    p = odd_problem((fftconv_dtype)dt, FFTCONV_CAUSAL);
    p.seqlen = 16001; /* N = 32768: the backward's smallest */
    p.filter_len = 999;
    p.freq_keep = 3000;
    check_backward(c, &p, 85 + (uint64_t)dt, 0);
  }
  fftconv_ctx_destroy(c);
}

Test(gpu_backward, long_candidates_verify, .timeout = 900) {
  fftconv_ctx *c = ctx_or_skip();
  int bad = 0;
  fftconv_problem p = odd_problem(FFTCONV_BF16, FFTCONV_CAUSAL);
  p.seqlen = 32001; /* N = 65536 */
  p.filter_len = 2000;
  bad += every_backward_candidate_of(c, "monarch_long", p, FC_RIGOR_SAMPLE);
  p = odd_problem(FFTCONV_FP16, FFTCONV_CIRCULAR);
  p.batch = 2;
  p.heads = 3;
  p.seqlen = 1 << 20;
  bad += every_backward_candidate_of(c, "monarch_long", p, FC_RIGOR_SAMPLE);
  fftconv_ctx_destroy(c);
  cr_assert_eq(bad, 0, "%d candidates over the error bound (logged above)", bad);
}
