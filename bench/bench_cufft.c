/* bench-cufft: the monarch_fp32 family's best candidate against a cuFFT baseline in the same
 * run, on the same inputs, timed the same way (CUDA events, L2 scrubbed, median of --runs).
 *
 * The baseline: pre gate and fp16 -> fp32 (one kernel), cuFFT R2C, one fused pointwise kernel
 * multiplying by the cached filter spectrum, cuFFT C2R, post gate and fp32 -> fp16 (one
 * kernel). fp32 transforms, circular mode, the filter spectrum computed once.
 * Prints the shape, dtype, device, medians with spread, the ratio, and the fraction of the
 * memory floor (u, pre, post read and y written once, over the measured copy bandwidth). */
#include <cufft.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidate.h"
#include "search.h"

static const char *usage_text =
    "usage: bench-cufft [--batch B] [--heads H] [--sizes N,N,...] [--runs R] [--jobs J]\n"
    "  Circular, gated (pre and post), fp16 I/O; defaults B=64 H=768, N=256..32768, R=30.\n";

static const char *baseline_src =
    "static __device__ float h2f(unsigned short h) { float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(h)); return f; }\n"
    "static __device__ unsigned short f2h(float f) { unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h; }\n"
    "struct __align__(8) c2 { float x, y; };\n"
    "extern \"C\" __global__ void pre_k(const unsigned short *u, const unsigned short *pre, float *x, long long n) {\n"
    "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)\n"
    "    x[i] = h2f(u[i]) * h2f(pre[i]);\n}\n"
    "extern \"C\" __global__ void mul_k(c2 *X, const c2 *K, long long rows, int nb, int H) {\n"
    "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < rows * nb; i += (long long)gridDim.x * blockDim.x) {\n"
    "    long long r = i / nb; int f = (int)(i % nb); c2 a = X[i], b = K[(r % H) * nb + f];\n"
    "    X[i] = c2{a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x};\n  }\n}\n"
    "extern \"C\" __global__ void post_k(const float *x, const unsigned short *post, unsigned short *y, long long n, float s) {\n"
    "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)\n"
    "    y[i] = f2h(x[i] * s * h2f(post[i]));\n}\n";

typedef struct baseline {
  CUmodule mod;
  CUfunction pre, mul, post;
  cufftHandle fwd, inv;
  CUdeviceptr x, X, K;
  fc_testdata *t;
  long long rows, n;
  int N, H, nb, grid;
} baseline;

static fftconv_status launch(CUfunction f, int grid, void **args, fc_err *e) {
  FC_CU(e, fc_cu.LaunchKernel(f, (unsigned)grid, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  return FFTCONV_OK;
}

static fftconv_status baseline_run(void *arg, fc_err *e) {
  baseline *b = arg;
  fftconv_status st;
  void *a1[] = {&b->t->du, &b->t->dpre, &b->x, &b->n};
  if ((st = launch(b->pre, b->grid, a1, e)) != FFTCONV_OK) return st;
  if (cufftExecR2C(b->fwd, (cufftReal *)b->x, (cufftComplex *)b->X) != CUFFT_SUCCESS)
    return fc_fail(e, FFTCONV_ERR_CUDA, "cufftExecR2C failed");
  void *a2[] = {&b->X, &b->K, &b->rows, &b->nb, &b->H};
  if ((st = launch(b->mul, b->grid, a2, e)) != FFTCONV_OK) return st;
  if (cufftExecC2R(b->inv, (cufftComplex *)b->X, (cufftReal *)b->x) != CUFFT_SUCCESS)
    return fc_fail(e, FFTCONV_ERR_CUDA, "cufftExecC2R failed");
  float s = 1.0f / (float)b->N;
  void *a3[] = {&b->x, &b->t->dpost, &b->t->dy, &b->n, &s};
  return launch(b->post, b->grid, a3, e);
}

static fftconv_status baseline_make(baseline *b, fc_testdata *t, const fc_device_info *dev,
                                    fc_err *e) {
  memset(b, 0, sizeof *b);
  b->t = t;
  b->N = (int)t->p.seqlen;
  b->H = (int)t->p.heads;
  b->rows = t->p.batch * t->p.heads;
  b->n = b->rows * b->N;
  b->nb = b->N / 2 + 1;
  b->grid = dev->sms * 8;
  fc_binary bin = {0};
  fftconv_status st = fc_compile(baseline_src, "cufft_baseline.cu", dev->arch, 0, &bin, e);
  if (st != FFTCONV_OK) return st;
  CUresult r = fc_cu.ModuleLoadData(&b->mod, bin.cubin);
  fc_binary_free(&bin);
  if (r != CUDA_SUCCESS) return fc_cuda_check(r, "loading the baseline kernels", e);
  FC_CU(e, fc_cu.ModuleGetFunction(&b->pre, b->mod, "pre_k"));
  FC_CU(e, fc_cu.ModuleGetFunction(&b->mul, b->mod, "mul_k"));
  FC_CU(e, fc_cu.ModuleGetFunction(&b->post, b->mod, "post_k"));
  FC_CU(e, fc_cu.MemAlloc(&b->x, (size_t)b->n * 4));
  FC_CU(e, fc_cu.MemAlloc(&b->X, (size_t)b->rows * b->nb * 8));
  FC_CU(e, fc_cu.MemAlloc(&b->K, (size_t)b->H * b->nb * 8));
  int n = b->N;
  if (cufftPlanMany(&b->fwd, 1, &n, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, (int)b->rows) ||
      cufftPlanMany(&b->inv, 1, &n, NULL, 1, 0, NULL, 1, 0, CUFFT_C2R, (int)b->rows))
    return fc_fail(e, FFTCONV_ERR_CUDA, "cufftPlanMany failed for %lld transforms of %d",
                   b->rows, n);
  /* The cached filter spectrum: R2C of k (H x N), through x. */
  cufftHandle kp;
  if (cufftPlanMany(&kp, 1, &n, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, b->H) ||
      cufftExecR2C(kp, (cufftReal *)t->dk, (cufftComplex *)b->K))
    return fc_fail(e, FFTCONV_ERR_CUDA, "cuFFT failed on the filter");
  cufftDestroy(kp);
  FC_CU(e, fc_cu.CtxSynchronize());
  return FFTCONV_OK;
}

static void baseline_free(baseline *b) {
  if (b->fwd) cufftDestroy(b->fwd);
  if (b->inv) cufftDestroy(b->inv);
  CUdeviceptr p[] = {b->x, b->X, b->K};
  for (int i = 0; i < 3; i++)
    if (p[i]) fc_cu.MemFree(p[i]);
  if (b->mod) fc_cu.ModuleUnload(b->mod);
}

/* Relative L2 difference of two fp16 device arrays over their first n elements. */
static double rel_diff(CUdeviceptr a, CUdeviceptr b, size_t n) {
  uint16_t *ha = malloc(n * 2), *hb = malloc(n * 2);
  double num = 0, den = 0;
  if (ha && hb && !fc_cu.MemcpyDtoH(ha, a, n * 2) && !fc_cu.MemcpyDtoH(hb, b, n * 2))
    for (size_t i = 0; i < n; i++) {
      double x = fc_f16_to_f32(ha[i]), y = fc_f16_to_f32(hb[i]);
      num += (x - y) * (x - y);
      den += y * y;
    }
  else
    num = NAN;
  free(ha);
  free(hb);
  return sqrt(num / den);
}

int main(int argc, char **argv) {
  int64_t batch = 64, heads = 768;
  int runs = 30, jobs = 16;
  int64_t sizes[16] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  int nsizes = 8;
  static const struct option opts[] = {{"batch", 1, 0, 'b'}, {"heads", 1, 0, 'H'},
                                       {"sizes", 1, 0, 's'}, {"runs", 1, 0, 'r'},
                                       {"jobs", 1, 0, 'j'},  {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (o == 'b') batch = atoll(optarg);
    else if (o == 'H') heads = atoll(optarg);
    else if (o == 'r') runs = atoi(optarg);
    else if (o == 'j') jobs = atoi(optarg);
    else if (o == 's') {
      nsizes = 0;
      for (char *t = strtok(optarg, ","); t && nsizes < 16; t = strtok(NULL, ","))
        sizes[nsizes++] = atoll(t);
    } else {
      fputs(usage_text, o == 'h' ? stdout : stderr);
      return o == 'h' ? 0 : 2;
    }
  }
  if (batch < 1 || heads < 1 || runs < 1 || nsizes < 1) {
    fputs(usage_text, stderr);
    return 2;
  }
  fftconv_ctx *ctx = NULL;
  if (fftconv_ctx_create(NULL, &ctx) != FFTCONV_OK) {
    fprintf(stderr, "bench-cufft: needs a GPU: %s\n", fftconv_ctx_error(NULL));
    return 3;
  }
  fc_err e = {{0}};
  double gbps = NAN;
  if (fc_gpu_copy_bandwidth((size_t)1 << 30, 11, &gbps, &e) != FFTCONV_OK) {
    fprintf(stderr, "bench-cufft: %s\n", e.msg);
    return 3;
  }
  printf("device   %s\n", fftconv_ctx_device(ctx));
  printf("copy     %.0f GB/s device-to-device (read + write), the floor's bandwidth\n", gbps);
  printf("problem  circular, fp16 I/O, pre and post gates, B=%lld H=%lld, median of %d runs\n\n",
         (long long)batch, (long long)heads, runs);
  char rows[16][512];
  for (int si = 0; si < nsizes; si++) {
    fftconv_problem p;
    fftconv_problem_init(&p);
    p.batch = batch;
    p.heads = heads;
    p.seqlen = sizes[si];
    p.mode = FFTCONV_CIRCULAR;
    p.dtype = FFTCONV_FP16;
    p.pre_gate = p.post_gate = 1;
    fc_search_opts so;
    fc_search_defaults(FC_RIGOR_EXHAUSTIVE, &so);
    so.tmpl = "monarch_fp32", so.jobs = jobs, so.runs = runs, so.warmup = 3;
    fc_search sr;
    if (fc_search_run(ctx, &p, &ctx->gpu.info, &so, &sr, &e) != FFTCONV_OK || sr.best < 0) {
      fprintf(stderr, "bench-cufft: N=%lld: %s\n", (long long)p.seqlen,
              sr.best < 0 ? "no candidate verified" : e.msg);
      return 1;
    }
    fc_result *w = &sr.r[sr.best];
    fc_testdata t;
    fftconv_plan *pl = NULL;
    baseline b;
    fc_timing tu, tb;
    if (fc_testdata_make_on(&ctx->gpu, &p, 7, FC_TD_DEVICE, &t, &e) ||
        fc_plan_from_binary(ctx, &p, &w->src, &w->bin, "tuned", &pl) ||
        fc_time_plan(pl, &t, 3, runs, &tu, &e) || baseline_make(&b, &t, &ctx->gpu.info, &e) ||
        fc_time_call(baseline_run, &b, &t, 3, runs, &tb, &e)) {
      fprintf(stderr, "bench-cufft: N=%lld: %s %s\n", (long long)p.seqlen, e.msg,
              fftconv_ctx_error(ctx));
      return 1;
    }
    /* Both outputs on the same inputs: ours is in a copy, the baseline's in t.dy. */
    CUdeviceptr ours;
    size_t check = t.n < ((size_t)1 << 22) ? t.n : ((size_t)1 << 22);
    double diff = NAN;
    if (!fc_cu.MemAlloc(&ours, check * 2)) {
      fc_testdata_forward(pl, &t, &e);
      fc_cu.MemcpyDtoD(ours, t.dy, check * 2);
      baseline_run(&b, &e);
      fc_cu.CtxSynchronize();
      diff = rel_diff(ours, t.dy, check);
      fc_cu.MemFree(ours);
    }
    double floor_ms = fc_floor_ms(&p, gbps);
    snprintf(rows[si], sizeof rows[si],
             "| %6lld | %lldx%lld | %8.4f | %.4f-%.4f | %8.4f | %.4f-%.4f | %5.2fx | %7.4f | "
             "%5.1f%% | %5.1f%% | %.1e | %.1e | %s |",
             (long long)p.seqlen, (long long)batch, (long long)heads, tu.median_ms, tu.p10_ms,
             tu.p90_ms, tb.median_ms, tb.p10_ms, tb.p90_ms, tb.median_ms / tu.median_ms,
             floor_ms, 100 * floor_ms / tu.median_ms, 100 * floor_ms / tb.median_ms, w->err,
             diff, w->params);
    fprintf(stderr, "%s\n", rows[si]);
    baseline_free(&b);
    fftconv_plan_destroy(pl);
    fc_testdata_free(&t);
    fc_search_free(&sr);
  }
  printf("| N | BxH | fftconv ms | p10-p90 | cuFFT ms | p10-p90 | speed-up | floor ms | fftconv "
         "%%floor | cuFFT %%floor | err vs fp64 | diff vs cuFFT | winner |\n");
  printf("|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (int si = 0; si < nsizes; si++) printf("%s\n", rows[si]);
  fftconv_ctx_destroy(ctx);
  return 0;
}
