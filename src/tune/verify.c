/* verify: random problem data, reference, poisoned checks and event timing. */
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "compile.h"
#include "reference.h"

double fc_tolerance(fftconv_dtype d) {
  return d == FFTCONV_FP32 ? 1e-5 : d == FFTCONV_FP16 ? 1e-3 : 8e-3;
}

double fc_floor_ms_op(const fftconv_problem *p, int op, double gbps) {
  if (op != FC_OP_BACKWARD) return fc_floor_ms(p, gbps);
  /* u and dy read, du written; each gate read and its gradient written */
  double bytes = (double)p->batch * (double)p->heads * (double)p->seqlen *
                 fftconv_dtype_size(p->dtype) * (3 + 2 * p->pre_gate + 2 * p->post_gate);
  return bytes / (gbps * 1e9) * 1e3;
}

double fc_floor_ms(const fftconv_problem *p, double gbps) {
  /* in double: a cache row's problem is not checked, and an int64 product could wrap */
  double bytes = (double)p->batch * (double)p->heads * (double)p->seqlen *
                 fftconv_dtype_size(p->dtype) *
                 (2 + p->pre_gate + p->post_gate);
  return bytes / (gbps * 1e9) * 1e3;
}

static double round_to(fftconv_dtype dt, double v) {
  if (dt == FFTCONV_FP16) return fc_f16_to_f32(fc_f32_to_f16((float)v));
  if (dt == FFTCONV_BF16) return fc_bf16_to_f32(fc_f32_to_bf16((float)v));
  return (float)v;
}

static double draw(fc_rng *r, fftconv_dtype dt, double scale) {
  double v = fc_rng_uniform(r);
  if (fabs(v) < 1e-3) v = 0.5; /* never zero: unwritten outputs must not hide */
  return round_to(dt, v * scale);
}

static double *random_array(fc_rng *r, size_t n, fftconv_dtype dt, double scale) {
  double *a = malloc(n * sizeof *a);
  if (!a) return NULL;
  for (size_t i = 0; i < n; i++) a[i] = draw(r, dt, scale);
  return a;
}

static void store(void *h, size_t i, fftconv_dtype dt, double v) {
  if (dt == FFTCONV_FP32) ((float *)h)[i] = (float)v;
  else if (dt == FFTCONV_FP16) ((uint16_t *)h)[i] = fc_f32_to_f16((float)v);
  else ((uint16_t *)h)[i] = fc_f32_to_bf16((float)v);
}

/* Timing data needs no host copy: a hash of the index, uniform in [-1, 1) and never zero,
   written on the device (a B=64 H=768 N=32K problem is 1.6 G values a tensor). */
static const char *fill_src =
    "extern \"C\" __global__ void fill(void *p, unsigned long long n, int dt, unsigned long long seed, float scale) {\n"
    "  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;\n"
    "       i += (unsigned long long)gridDim.x * blockDim.x) {\n"
    "    unsigned long long z = (i + seed) * 0x9e3779b97f4a7c15ull;\n"
    "    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; z = (z ^ (z >> 27)) * 0x94d049bb133111ebull; z ^= z >> 31;\n"
    "    float v = (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;\n"
    "    if (v > -1e-3f && v < 1e-3f) v = 0.5f;\n"
    "    v *= scale;\n"
    "    if (dt == 0) ((float *)p)[i] = v;\n"
    "    else if (dt == 1) { unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(v)); ((unsigned short *)p)[i] = h; }\n"
    "    else { unsigned short h; asm(\"cvt.rn.bf16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(v)); ((unsigned short *)p)[i] = h; }\n"
    "  }\n}\n";

typedef struct fill_mod {
  CUcontext ctx;
  CUmodule mod;
  CUfunction fn;
} fill_mod;
static fill_mod fills[8];
static pthread_mutex_t fill_mu = PTHREAD_MUTEX_INITIALIZER;

/* The fill kernel of the current context, compiled once per process and context. */
static fftconv_status fill_fn(const fc_gpu *g, CUfunction *fn, fc_err *e) {
  pthread_mutex_lock(&fill_mu);
  fftconv_status st = FFTCONV_OK;
  int i = 0;
  while (i < 8 && fills[i].ctx && fills[i].ctx != g->ctx) i++;
  if (i == 8) {
    st = fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "test data: more than 8 devices");
  } else if (!fills[i].ctx) {
    fc_binary b = {0};
    char arch[16];
    st = fc_compile(fill_src, "fftconv_fill.cu", fc_device_arch(&g->info, arch), 0, &b, e);
    CUresult r = CUDA_SUCCESS;
    if (st == FFTCONV_OK) r = fc_cu.ModuleLoadData(&fills[i].mod, b.cubin);
    if (st == FFTCONV_OK && r == CUDA_SUCCESS)
      r = fc_cu.ModuleGetFunction(&fills[i].fn, fills[i].mod, "fill");
    if (st == FFTCONV_OK && r != CUDA_SUCCESS) st = fc_cuda_check(r, "loading the fill kernel", e);
    if (st == FFTCONV_OK) fills[i].ctx = g->ctx;
    fc_binary_free(&b);
  }
  if (st == FFTCONV_OK) *fn = fills[i].fn;
  pthread_mutex_unlock(&fill_mu);
  return st;
}

static fftconv_status fill_device(const fc_gpu *g, uint64_t seed, double scale, size_t n,
                                  fftconv_dtype dt, CUdeviceptr *out, fc_err *e) {
  CUfunction fn;
  fftconv_status st = fill_fn(g, &fn, e);
  if (st != FFTCONV_OK) return st;
  FC_CU(e, fc_cu.MemAlloc(out, n * (size_t)fftconv_dtype_size(dt)));
  unsigned long long nn = n, sd = seed;
  int d = (int)dt;
  float sc = (float)scale;
  void *args[] = {out, &nn, &d, &sd, &sc};
  unsigned grid = (unsigned)(g->info.sms > 0 ? g->info.sms * 8 : 1024);
  FC_CU(e, fc_cu.LaunchKernel(fn, grid, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  return FFTCONV_OK;
}

/* A device array of n elements of dtype dt: from host doubles a, or drawn from r when a is
   NULL. Goes through a bounded host buffer. */
static fftconv_status upload(const double *a, fc_rng *r, double scale, size_t n,
                             fftconv_dtype dt, CUdeviceptr *out, fc_err *e) {
  size_t es = (size_t)fftconv_dtype_size(dt), chunk = (size_t)1 << 22;
  void *h = malloc((n < chunk ? n : chunk) * es);
  if (!h) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  CUresult res = fc_cu.MemAlloc(out, n * es);
  for (size_t off = 0; off < n && res == CUDA_SUCCESS; off += chunk) {
    size_t m = n - off < chunk ? n - off : chunk;
    for (size_t i = 0; i < m; i++) store(h, i, dt, a ? a[off + i] : draw(r, dt, scale));
    res = fc_cu.MemcpyHtoD(*out + off * es, h, m * es);
  }
  free(h);
  return res == CUDA_SUCCESS ? FFTCONV_OK : fc_cuda_check(res, "uploading test data", e);
}

/* The outputs of the backward a problem has (du, dpre, dpost, dk, dd), by index. */
static void grad_sizes(fc_testdata *t) {
  const fftconv_problem *p = &t->p;
  size_t n[5] = {t->n, t->n, t->n, (size_t)(p->heads * t->klen), (size_t)p->heads};
  int has[5] = {1, p->pre_gate, p->post_gate, 1, p->skip_d};
  for (int i = 0; i < 5; i++) t->grad_n[i] = has[i] ? n[i] : 0;
}

/* Bytes of an element of gradient i: the I/O dtype's for du, dpre, dpost; fp32 for dk, dd. */
static size_t grad_es(const fc_testdata *t, int i) {
  return i < 3 ? (size_t)fftconv_dtype_size(t->p.dtype) : 4;
}

/* Op backward's host data: dy, and the fp64 gradients of every output the problem has. */
static fftconv_status backward_reference(fc_testdata *t, fc_rng *r, const fc_ref_inputs *in,
                                         fc_err *e) {
  const fftconv_problem *p = &t->p;
  free(t->ref); /* a backward has no y */
  t->ref = NULL;
  if (!(t->dy_host = random_array(r, t->n, p->dtype, 1.0)))
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory for the test data");
  for (int i = 0; i < 5; i++)
    if (t->grad_n[i] && !(t->gref[i] = malloc(t->grad_n[i] * sizeof(double))))
      return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory for the test data");
  fc_ref_grads g = {t->gref[0], t->gref[1], t->gref[2], t->gref[3], t->gref[4]};
  return fc_reference_backward(p, in, t->dy_host, &g, e);
}

/* Op backward's device data: dy (from the host copy, or drawn on g's device) and the
   outputs. */
static fftconv_status backward_buffers(const fc_gpu *g, fc_testdata *t, fc_rng *r,
                                       uint64_t seed, fc_err *e) {
  const fftconv_problem *p = &t->p;
  fftconv_status st;
  if (t->dy_host) st = upload(t->dy_host, r, 1.0, t->n, p->dtype, &t->ddy_in, e);
  else if (g) st = fill_device(g, seed * 4 + 5, 1.0, t->n, p->dtype, &t->ddy_in, e);
  else st = upload(NULL, r, 1.0, t->n, p->dtype, &t->ddy_in, e);
  for (int i = 0; i < 5 && st == FFTCONV_OK; i++)
    if (t->grad_n[i])
      st = fc_cuda_check(fc_cu.MemAlloc(&t->dgrad[i], t->grad_n[i] * grad_es(t, i)),
                         "allocating gradients", e);
  return st;
}

fftconv_status fc_testdata_make(const fftconv_problem *p, uint64_t seed, int flags,
                                fc_testdata *t, fc_err *e) {
  return fc_testdata_make_on(NULL, p, seed, flags, t, e);
}

fftconv_status fc_testdata_make_on(const fc_gpu *g, const fftconv_problem *p, uint64_t seed,
                                   int flags, fc_testdata *t, fc_err *e) {
  return fc_testdata_make_op(g, FC_OP_FORWARD, p, seed, flags, t, e);
}

fftconv_status fc_testdata_make_op(const fc_gpu *g, int op, const fftconv_problem *p,
                                   uint64_t seed, int flags, fc_testdata *t, fc_err *e) {
  memset(t, 0, sizeof *t);
  fftconv_status st = fftconv_problem_check(p, e ? e->msg : NULL, e ? sizeof e->msg : 0);
  if (st != FFTCONV_OK) return st;
  const fc_op_def *od = fc_op_get(op);
  if (!od) return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", op);
  t->p = *p;
  t->op = op;
  t->n = (size_t)(p->batch * p->heads * p->seqlen);
  t->klen = fc_filter_len(p);
  if (op == FC_OP_BACKWARD) grad_sizes(t);
  fc_rng r = {seed * 0x9e3779b97f4a7c15ull + 1};
  size_t nk = (size_t)(p->heads * t->klen);
  double ks = 1.0 / sqrt((double)t->klen);
  if (flags & FC_TD_REFERENCE) {
    t->u = random_array(&r, t->n, p->dtype, 1.0);
    t->pre = p->pre_gate ? random_array(&r, t->n, p->dtype, 1.0) : NULL;
    t->post = p->post_gate ? random_array(&r, t->n, p->dtype, 1.0) : NULL;
    t->k = random_array(&r, nk, FFTCONV_FP32, ks);
    t->d = p->skip_d ? random_array(&r, (size_t)p->heads, FFTCONV_FP32, 1.0) : NULL;
    t->ref = malloc(t->n * sizeof *t->ref);
    if (!t->u || (p->pre_gate && !t->pre) || (p->post_gate && !t->post) || !t->k ||
        (p->skip_d && !t->d) || !t->ref) {
      fc_testdata_free(t);
      return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory for the test data");
    }
    fc_ref_inputs in = {t->u, t->pre, t->post, t->k, t->d};
    /* the op's own reference; forward's and backward's (NULL in the op table) are FFTW's */
    if (op == FC_OP_BACKWARD) st = backward_reference(t, &r, &in, e);
    else st = od->reference ? od->reference(p, &in, t->ref, e) : fc_reference(p, &in, t->ref, e);
  }
  if (st == FFTCONV_OK && (flags & FC_TD_DEVICE) && !(flags & FC_TD_REFERENCE) && g) {
    st = fill_device(g, seed * 4 + 0, 1.0, t->n, p->dtype, &t->du, e);
    if (st == FFTCONV_OK && p->pre_gate)
      st = fill_device(g, seed * 4 + 1, 1.0, t->n, p->dtype, &t->dpre, e);
    if (st == FFTCONV_OK && p->post_gate)
      st = fill_device(g, seed * 4 + 2, 1.0, t->n, p->dtype, &t->dpost, e);
    if (st == FFTCONV_OK) st = fill_device(g, seed * 4 + 3, ks, nk, FFTCONV_FP32, &t->dk, e);
    if (st == FFTCONV_OK && p->skip_d) st = upload(NULL, &r, 1.0, (size_t)p->heads, FFTCONV_FP32, &t->dd, e);
    if (st == FFTCONV_OK)
      st = fc_cuda_check(fc_cu.MemAlloc(&t->dy, t->n * (size_t)fftconv_dtype_size(p->dtype)),
                         "allocating y", e);
  } else if (st == FFTCONV_OK && (flags & FC_TD_DEVICE)) {
    st = upload(t->u, &r, 1.0, t->n, p->dtype, &t->du, e);
    if (st == FFTCONV_OK && p->pre_gate)
      st = upload(t->pre, &r, 1.0, t->n, p->dtype, &t->dpre, e);
    if (st == FFTCONV_OK && p->post_gate)
      st = upload(t->post, &r, 1.0, t->n, p->dtype, &t->dpost, e);
    if (st == FFTCONV_OK) st = upload(t->k, &r, ks, nk, FFTCONV_FP32, &t->dk, e);
    if (st == FFTCONV_OK && p->skip_d)
      st = upload(t->d, &r, 1.0, (size_t)p->heads, FFTCONV_FP32, &t->dd, e);
    if (st == FFTCONV_OK)
      st = fc_cuda_check(fc_cu.MemAlloc(&t->dy, t->n * (size_t)fftconv_dtype_size(p->dtype)),
                         "allocating y", e);
  }
  if (st == FFTCONV_OK && (flags & FC_TD_DEVICE) && op == FC_OP_BACKWARD)
    st = backward_buffers(g, t, &r, seed, e);
  if (st != FFTCONV_OK) fc_testdata_free(t);
  return st;
}

void fc_testdata_free(fc_testdata *t) {
  free(t->dy_host);
  for (int i = 0; i < 5; i++) {
    free(t->gref[i]);
    if (t->dgrad[i]) fc_cu.MemFree(t->dgrad[i]);
  }
  if (t->ddy_in) fc_cu.MemFree(t->ddy_in);
  free(t->u);
  free(t->pre);
  free(t->post);
  free(t->k);
  free(t->d);
  free(t->ref);
  CUdeviceptr dev[] = {t->du, t->dpre, t->dpost, t->dk, t->dd, t->dy, t->dkhat, t->dscrub, t->dws};
  for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
    if (dev[i]) fc_cu.MemFree(dev[i]);
  memset(t, 0, sizeof *t);
}

static fftconv_status ensure(CUdeviceptr *p, size_t *have, size_t need, const char *what,
                             fc_err *e) {
  if (*have >= need) return FFTCONV_OK;
  if (*p) fc_cu.MemFree(*p);
  *p = 0;
  *have = 0;
  FC_CU(e, fc_cu.MemAlloc(p, need));
  *have = need;
  (void)what;
  return FFTCONV_OK;
}

/* The forward arguments of t's device buffers, the workspace allocated for pl. */
static fftconv_status testdata_args(const fftconv_plan *pl, fc_testdata *t, fftconv_args *a,
                                    fc_err *e) {
  fftconv_args_init(a);
  a->u = (void *)t->du;
  a->pre = (void *)t->dpre;
  a->post = (void *)t->dpost;
  a->k_hat = (void *)t->dkhat;
  a->y = (void *)t->dy;
  size_t wb = fftconv_plan_workspace_bytes(pl);
  fftconv_status st = wb ? ensure(&t->dws, &t->ws_bytes, wb, "workspace", e) : FFTCONV_OK;
  a->workspace = (void *)t->dws;
  a->workspace_bytes = t->ws_bytes;
  return st;
}

fftconv_status fc_testdata_forward(const fftconv_plan *pl, fc_testdata *t, fc_err *e) {
  fftconv_args a;
  fftconv_status st = testdata_args(pl, t, &a, e);
  if (st != FFTCONV_OK) return st;
  st = fftconv_forward(pl, &a, NULL);
  if (st != FFTCONV_OK) return fc_fail(e, st, "%s", fftconv_ctx_error(pl->ctx));
  return FFTCONV_OK;
}

/* The backward arguments of t's device buffers: every output the problem has. */
static fftconv_status testdata_bwd_args(const fftconv_plan *pl, fc_testdata *t,
                                        fftconv_backward_args *a, fc_err *e) {
  fftconv_backward_args_init(a);
  a->u = (void *)t->du;
  a->pre = (void *)t->dpre;
  a->post = (void *)t->dpost;
  a->dy = (void *)t->ddy_in;
  a->k_hat = (void *)t->dkhat;
  a->du = (void *)t->dgrad[0];
  a->dpre = (void *)t->dgrad[1];
  a->dpost = (void *)t->dgrad[2];
  a->dk = (float *)t->dgrad[3];
  a->dd = (float *)t->dgrad[4];
  size_t wb = fftconv_plan_backward_workspace_bytes(pl);
  fftconv_status st = wb ? ensure(&t->dws, &t->ws_bytes, wb, "workspace", e) : FFTCONV_OK;
  a->workspace = (void *)t->dws;
  a->workspace_bytes = t->ws_bytes;
  return st;
}

static fftconv_status testdata_backward(const fftconv_plan *pl, fc_testdata *t, fc_err *e) {
  fftconv_backward_args a;
  fftconv_status st = testdata_bwd_args(pl, t, &a, e);
  if (st != FFTCONV_OK) return st;
  st = fftconv_backward(pl, &a, NULL);
  if (st != FFTCONV_OK) return fc_fail(e, st, "%s", fftconv_ctx_error(pl->ctx));
  return FFTCONV_OK;
}

/* Values of dtype dt in h as doubles. */
static void to_doubles(const void *h, size_t n, fftconv_dtype dt, double *out) {
  for (size_t j = 0; j < n; j++)
    out[j] = dt == FFTCONV_FP32   ? ((const float *)h)[j]
             : dt == FFTCONV_FP16 ? fc_f16_to_f32(((const uint16_t *)h)[j])
                                  : fc_bf16_to_f32(((const uint16_t *)h)[j]);
}

/* What every check does first: k_hat and the workspace (ws bytes) allocated and poisoned
   (0xff bytes are NaN in fp32, fp16 and bf16 alike: a pass must write what the next one
   reads), then the filter prepared into k_hat. */
static fftconv_status poisoned_prepare(const fftconv_plan *pl, fc_testdata *t, size_t ws,
                                       fc_err *e) {
  fftconv_status st = ensure(&t->dkhat, &t->khat_bytes, fftconv_plan_filter_bytes(pl), "k_hat", e);
  if (st != FFTCONV_OK) return st;
  FC_CU(e, fc_cu.MemsetD8(t->dkhat, 0xff, t->khat_bytes));
  if (ws) {
    if ((st = ensure(&t->dws, &t->ws_bytes, ws, "workspace", e)) != FFTCONV_OK) return st;
    FC_CU(e, fc_cu.MemsetD8(t->dws, 0xff, ws));
  }
  st = fftconv_prepare_filter(pl, (void *)t->dk, (void *)t->dd, (void *)t->dkhat, NULL);
  return st == FFTCONV_OK ? st : fc_fail(e, st, "%s", fftconv_ctx_error(pl->ctx));
}

/* The relative error of device array d (n values of dtype dt) against ref; +inf when any is
   NaN or unwritten. */
static fftconv_status error_of(CUdeviceptr d, size_t n, fftconv_dtype dt, const double *ref,
                               double *err, fc_err *e) {
  size_t es = (size_t)fftconv_dtype_size(dt);
  void *h = malloc(n * es);
  double *got = malloc(n * sizeof *got);
  if (!h || !got) {
    free(h);
    free(got);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  CUresult r = fc_cu.MemcpyDtoH(h, d, n * es);
  if (r == CUDA_SUCCESS) {
    to_doubles(h, n, dt, got);
    *err = fc_rel_l2(ref, got, n);
  }
  free(h);
  free(got);
  return r == CUDA_SUCCESS ? FFTCONV_OK : fc_cuda_check(r, "downloading a result", e);
}

fftconv_status fc_verify_backward(const fftconv_plan *pl, fc_testdata *t, double *rel_err,
                                  fc_err *e) {
  *rel_err = INFINITY;
  if (!t->dy_host || !t->ddy_in)
    return fc_fail(e, FFTCONV_ERR_INVALID, "test data: made without FC_TD_REFERENCE | "
                   "FC_TD_DEVICE for op backward");
  for (int i = 0; i < 5; i++)
    if (t->dgrad[i])
      FC_CU(e, fc_cu.MemsetD8(t->dgrad[i], 0xff, t->grad_n[i] * grad_es(t, i)));
  fftconv_status st = poisoned_prepare(pl, t, fftconv_plan_backward_workspace_bytes(pl), e);
  if (st == FFTCONV_OK) st = testdata_backward(pl, t, e);
  if (st != FFTCONV_OK) return st;
  FC_CU(e, fc_cu.CtxSynchronize());
  double worst = 0;
  for (int i = 0; i < 5; i++) t->grad_err[i] = -1;
  for (int i = 0; i < 5 && st == FFTCONV_OK; i++) {
    if (!t->grad_n[i]) continue;
    double err = INFINITY;
    st = error_of(t->dgrad[i], t->grad_n[i], i < 3 ? t->p.dtype : FFTCONV_FP32, t->gref[i], &err, e);
    t->grad_err[i] = err;
    if (!(err <= worst)) worst = err; /* NaN and +inf stay */
  }
  if (st == FFTCONV_OK) *rel_err = worst;
  return st;
}

fftconv_status fc_verify_plan(const fftconv_plan *pl, fc_testdata *t, double *rel_err,
                              fc_err *e) {
  *rel_err = INFINITY;
  if (pl->shape.op == FC_OP_BACKWARD) return fc_verify_backward(pl, t, rel_err, e);
  if (!t->ref || !t->du)
    return fc_fail(e, FFTCONV_ERR_INVALID, "test data: made without FC_TD_REFERENCE | FC_TD_DEVICE");
  FC_CU(e, fc_cu.MemsetD8(t->dy, 0xff, t->n * (size_t)fftconv_dtype_size(t->p.dtype)));
  fftconv_status st = poisoned_prepare(pl, t, fftconv_plan_workspace_bytes(pl), e);
  if (st == FFTCONV_OK) st = fc_testdata_forward(pl, t, e);
  if (st != FFTCONV_OK) return st;
  FC_CU(e, fc_cu.CtxSynchronize());
  return error_of(t->dy, t->n, t->p.dtype, t->ref, rel_err, e);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct plan_run {
  const fftconv_plan *pl;
  fc_testdata *t;
} plan_run;

static fftconv_status run_plan(void *arg, fc_err *e) {
  plan_run *r = arg;
  if (r->pl->shape.op == FC_OP_BACKWARD) return testdata_backward(r->pl, r->t, e);
  return fc_testdata_forward(r->pl, r->t, e);
}

fftconv_status fc_time_plan(const fftconv_plan *pl, fc_testdata *t, int warmup, int runs,
                            fc_timing *out, fc_err *e) {
  memset(out, 0, sizeof *out);
  fftconv_status st = ensure(&t->dkhat, &t->khat_bytes, fftconv_plan_filter_bytes(pl), "k_hat", e);
  if (st == FFTCONV_OK &&
      (st = fftconv_prepare_filter(pl, (void *)t->dk, (void *)t->dd, (void *)t->dkhat, NULL)) !=
          FFTCONV_OK)
    fc_fail(e, st, "%s", fftconv_ctx_error(pl->ctx));
  if (st != FFTCONV_OK) return st;
  plan_run r = {pl, t};
  return fc_time_call(run_plan, &r, t, warmup, runs, out, e);
}

typedef struct launch_run {
  const fftconv_plan *pl;
  fc_testdata *t;
  int index;
} launch_run;

static fftconv_status run_launch(void *arg, fc_err *e) {
  launch_run *r = arg;
  fftconv_args a;
  fftconv_status st = testdata_args(r->pl, r->t, &a, e);
  return st == FFTCONV_OK ? fc_plan_launch(r->pl, &a, r->index, NULL, e) : st;
}

fftconv_status fc_time_launches(const fftconv_plan *pl, fc_testdata *t, int warmup, int runs,
                                fc_timing out[FC_MAX_LAUNCHES], fc_err *e) {
  memset(out, 0, FC_MAX_LAUNCHES * sizeof *out);
  fc_timing all;
  /* the whole forward first: the filter prepared, the workspace allocated and filled */
  fftconv_status st = fc_time_plan(pl, t, 1, 1, &all, e);
  for (int i = 0; i < pl->manifest.nlaunch && st == FFTCONV_OK; i++) {
    if (pl->manifest.launch[i].phase != FC_PHASE_FORWARD) continue;
    launch_run r = {pl, t, i};
    st = fc_time_call(run_launch, &r, t, warmup, runs, &out[i], e);
  }
  return st;
}

fftconv_status fc_time_call(fc_run_fn fn, void *arg, fc_testdata *t, int warmup, int runs,
                            fc_timing *out, fc_err *e) {
  memset(out, 0, sizeof *out);
  if (runs < 1) return fc_fail(e, FFTCONV_ERR_INVALID, "runs: %d (must be >= 1)", runs);
  /* Scrub the L2 between runs (256 MiB, over twice any current L2) so small problems are
     not timed out of the cache. */
  fftconv_status st = ensure(&t->dscrub, &t->scrub_bytes, (size_t)256 << 20, "scrub", e);
  if (st != FFTCONV_OK) return st;
  for (int i = 0; i < warmup; i++)
    if ((st = fn(arg, e)) != FFTCONV_OK) return st;
  double *ms = malloc((size_t)runs * sizeof *ms);
  if (!ms) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  CUevent a = NULL, b = NULL;
  CUresult r = fc_cu.EventCreate(&a, 0);
  if (r == CUDA_SUCCESS) r = fc_cu.EventCreate(&b, 0);
  for (int i = 0; i < runs && r == CUDA_SUCCESS && st == FFTCONV_OK; i++) {
    r = fc_cu.MemsetD8(t->dscrub, (unsigned char)i, t->scrub_bytes);
    if (r == CUDA_SUCCESS) r = fc_cu.EventRecord(a, NULL);
    if (r == CUDA_SUCCESS) st = fn(arg, e);
    if (r == CUDA_SUCCESS) r = fc_cu.EventRecord(b, NULL);
    if (r == CUDA_SUCCESS) r = fc_cu.EventSynchronize(b);
    float f = 0;
    if (r == CUDA_SUCCESS) r = fc_cu.EventElapsedTime(&f, a, b);
    ms[i] = f;
  }
  if (a) fc_cu.EventDestroy(a);
  if (b) fc_cu.EventDestroy(b);
  if (r != CUDA_SUCCESS) st = fc_cuda_check(r, "timing", e);
  if (st == FFTCONV_OK) {
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    out->runs = runs;
    out->median_ms = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    out->p10_ms = ms[(runs - 1) / 10];
    out->p90_ms = ms[(runs - 1) - (runs - 1) / 10];
  }
  free(ms);
  return st;
}
