/* rt-forward: libfftconv_rt on a GPU, end to end. Linked against libfftconv_rt alone (and
 * libdl, for the device memory it hands the library: the library takes device addresses), it
 * plans a problem from a bundle, prepares the filter, runs the forward pass on random inputs
 * and checks the result against the convolution summed directly in double precision:
 *
 *   rt-forward BUNDLE L B   fp32, circular, seqlen L, batch B, H = 5, gates and D
 *
 * Prints the plan's description, the largest error relative to the output's largest value,
 * and "ok" (exit 0) when it is under 1e-4; exit 1 on a larger error or any failure, with the
 * reason. test_gpu_bundle runs it on the bundles it exports (exact and nearest shape). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fftconv.h"

/* The driver calls used, with their CUDA 12/13 signatures (CUdeviceptr is 64 bits). */
static int (*cu_init)(unsigned);
static int (*cu_dev_get)(int *, int);
static int (*cu_retain)(void **, int);
static int (*cu_set)(void *);
static int (*cu_alloc)(unsigned long long *, size_t);
static int (*cu_htod)(unsigned long long, const void *, size_t);
static int (*cu_dtoh)(void *, unsigned long long, size_t);
static int (*cu_sync)(void);

static int load_cuda(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return 0;
  *(void **)&cu_init = dlsym(h, "cuInit");
  *(void **)&cu_dev_get = dlsym(h, "cuDeviceGet");
  *(void **)&cu_retain = dlsym(h, "cuDevicePrimaryCtxRetain");
  *(void **)&cu_set = dlsym(h, "cuCtxSetCurrent");
  *(void **)&cu_alloc = dlsym(h, "cuMemAlloc_v2");
  *(void **)&cu_htod = dlsym(h, "cuMemcpyHtoD_v2");
  *(void **)&cu_dtoh = dlsym(h, "cuMemcpyDtoH_v2");
  *(void **)&cu_sync = dlsym(h, "cuCtxSynchronize");
  return cu_init && cu_dev_get && cu_retain && cu_set && cu_alloc && cu_htod && cu_dtoh && cu_sync;
}

/* A device copy of n floats (host NULL: uninitialised, poisoned by the caller). */
static unsigned long long dev(const float *host, size_t n) {
  unsigned long long d = 0;
  if (cu_alloc(&d, n * sizeof(float) + 1) != 0) return 0;
  if (host && cu_htod(d, host, n * sizeof(float)) != 0) return 0;
  return d;
}

static float *rnd(size_t n, float lo, float hi) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; x && i < n; i++) x[i] = lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
  return x;
}

int main(int argc, char **argv) {
  if (argc != 4 || atoll(argv[2]) < 1 || atoll(argv[3]) < 1) {
    fprintf(stderr, "usage: rt-forward BUNDLE L B\n");
    return 2;
  }
  const int64_t L = atoll(argv[2]), B = atoll(argv[3]), H = 5;
  if (!load_cuda() || cu_init(0) != 0) {
    printf("rt-forward: no CUDA driver\n");
    return 1;
  }
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.bundle_path = argv[1];
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(&o, &c) != FFTCONV_OK) {
    printf("rt-forward: %s\n", fftconv_ctx_error(NULL));
    return 1;
  }
  int d0;
  void *pctx;
  if (cu_dev_get(&d0, 0) || cu_retain(&pctx, d0) || cu_set(pctx)) {
    printf("rt-forward: cannot make device 0's context current\n");
    return 1;
  }
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = B, p.heads = H, p.seqlen = L, p.mode = FFTCONV_CIRCULAR, p.dtype = FFTCONV_FP32;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  fftconv_plan *pl = NULL;
  if (fftconv_plan_create(c, &p, &pl) != FFTCONV_OK) {
    printf("rt-forward: %s\n", fftconv_ctx_error(c));
    return 1;
  }
  printf("plan: %s\n", fftconv_plan_describe(pl));
  size_t n = (size_t)(B * H * L);
  srand(18);
  float *u = rnd(n, -1, 1), *pre = rnd(n, 0.5f, 1.5f), *post = rnd(n, 0.5f, 1.5f);
  float *k = rnd((size_t)(H * L), -0.05f, 0.05f), *D = rnd((size_t)H, -1, 1);
  float *y = malloc(n * sizeof *y);
  size_t kh = fftconv_plan_filter_bytes(pl), ws = fftconv_plan_workspace_bytes(pl);
  unsigned long long du = dev(u, n), dpre = dev(pre, n), dpost = dev(post, n),
                     dk = dev(k, (size_t)(H * L)), dD = dev(D, (size_t)H), dy = dev(NULL, n),
                     dkh = dev(NULL, kh / sizeof(float) + 1),
                     dws = ws ? dev(NULL, ws / sizeof(float) + 1) : 0;
  for (size_t i = 0; i < n; i++) y[i] = NAN; /* poisoned output */
  cu_htod(dy, y, n * sizeof(float));
  fftconv_args a;
  fftconv_args_init(&a);
  a.u = (void *)du, a.pre = (void *)dpre, a.post = (void *)dpost, a.k_hat = (void *)dkh;
  a.y = (void *)dy, a.workspace = (void *)dws, a.workspace_bytes = ws;
  if (fftconv_prepare_filter(pl, (void *)dk, (void *)dD, (void *)dkh, NULL) != FFTCONV_OK ||
      fftconv_forward(pl, &a, NULL) != FFTCONV_OK) {
    printf("rt-forward: %s\n", fftconv_ctx_error(c));
    return 1;
  }
  if (cu_sync() != 0 || cu_dtoh(y, dy, n * sizeof(float)) != 0) {
    printf("rt-forward: the kernels failed\n");
    return 1;
  }
  double worst = 0, ymax = 0;
  double *v = malloc((size_t)L * sizeof *v);
  for (int64_t r = 0; r < B * H; r++) {
    int64_t h = r % H;
    const float *ur = u + r * L, *pr = pre + r * L, *qr = post + r * L, *kr = k + h * L;
    for (int64_t t = 0; t < L; t++) v[t] = (double)pr[t] * ur[t];
    for (int64_t t = 0; t < L; t++) {
      double z = 0;
      for (int64_t s = 0; s < L; s++) z += v[s] * kr[(t - s + L) % L];
      double want = qr[t] * (z + D[h] * v[t]), got = y[r * L + t];
      double err = isnan(got) ? INFINITY : fabs(got - want);
      if (err > worst) worst = err;
      if (fabs(want) > ymax) ymax = fabs(want);
    }
  }
  double rel = worst / (ymax > 0 ? ymax : 1);
  printf("B=%lld H=%lld L=%lld fp32 circular gated: max error %.3g of max |y| %.3g: %s\n",
         (long long)B, (long long)H, (long long)L, rel, ymax, rel < 1e-4 ? "ok" : "WRONG");
  fftconv_plan_destroy(pl);
  fftconv_ctx_destroy(c);
  return rel < 1e-4 ? 0 : 1;
}
