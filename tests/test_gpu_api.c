/* gpu: the driver loader, error text, device facts, module loading and a real launch.
 * Passes on a machine without a driver (checking how that is reported) and on a GPU
 * machine (checking the device path end to end). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "compile.h"
#include "gpu.h"
#include "launch.h"

/* Two entries, as the first kernel ABI had them. */
static fftconv_status load2(const void *cubin, const char *a, const char *b, int sa, int sb,
                            fc_module *m, fc_err *e) {
  const char *names[2] = {a, b};
  int smem[2] = {sa, sb};
  return fc_module_load_entries(cubin, 2, names, smem, m, e);
}

Test(gpu_api, load_is_remembered) {
  fc_err e1 = {{0}}, e2 = {{0}};
  fftconv_status s1 = fc_cuda_load(&e1);
  fftconv_status s2 = fc_cuda_load(&e2);
  cr_assert_eq(s1, s2);
  cr_assert_str_eq(e1.msg, e2.msg);
  cr_assert_eq(fc_cuda_load(NULL), s1);
  if (s1 == FFTCONV_OK) return;
  cr_assert(s1 == FFTCONV_ERR_NO_DRIVER || s1 == FFTCONV_ERR_NO_DEVICE, "status %d: %s", s1,
            e1.msg);
  int clear = strncmp(e1.msg, "no CUDA driver", 14) == 0 ||
              strncmp(e1.msg, "cuInit failed: CUDA_ERROR_", 26) == 0;
  cr_assert(clear, "unclear message: %s", e1.msg);
  if (strncmp(e1.msg, "no CUDA driver: libcuda.so.1 could not", 38) == 0)
    cr_assert_not_null(strstr(e1.msg, "be loaded (libcuda"), "%s", e1.msg); /* dlerror */
}

Test(gpu_api, no_driver_paths_fail_cleanly) {
  fc_err e = {{0}};
  if (fc_cuda_load(&e) == FFTCONV_OK) cr_skip_test("a driver is present");
  fc_gpu g;
  memset(&g, 0xab, sizeof g);
  fftconv_status s = fc_gpu_open(0, &g, &e);
  cr_assert(s == FFTCONV_ERR_NO_DRIVER || s == FFTCONV_ERR_NO_DEVICE);
  cr_assert_null(g.ctx, "a failed open must leave g closeable");
  fc_gpu_close(&g);
  fc_module m;
  const unsigned char img[4] = {0x7f, 'E', 'L', 'F'};
  cr_assert_eq(load2(img, "a", "b", 0, 0, &m, &e), s);
  cr_assert_null(m.mod);
  fc_module_unload(&m);
  cr_assert_eq(fc_gpu_bind(&g, &e), FFTCONV_ERR_INVALID);
}

Test(gpu_api, check_messages) {
  fc_err e = {{0}};
  cr_assert_eq(fc_cuda_check(CUDA_SUCCESS, "nothing", &e), FFTCONV_OK);
  cr_assert_eq(fc_cuda_check(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(1 TB)", &e),
               FFTCONV_ERR_NOMEM);
  cr_assert_not_null(strstr(e.msg, "cuMemAlloc(1 TB): CUDA_ERROR_OUT_OF_MEMORY ("), "%s", e.msg);
  cr_assert_eq(fc_cuda_check(CUDA_ERROR_INVALID_VALUE, "cuX", &e), FFTCONV_ERR_CUDA);
  cr_assert_not_null(strstr(e.msg, "cuX: CUDA_ERROR_INVALID_VALUE ("), "%s", e.msg);
  cr_assert_eq(fc_cuda_check((CUresult)987654, "cuY", &e), FFTCONV_ERR_CUDA);
  cr_assert_not_null(strstr(e.msg, "cuY: "), "%s", e.msg);
  cr_assert_eq(fc_cuda_check(CUDA_ERROR_LAUNCH_FAILED, "cuZ", NULL), FFTCONV_ERR_CUDA);
}

Test(gpu_api, info_for_arch) {
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  cr_assert_eq(d.sm, 90);
  cr_assert_eq(d.smem_optin, 232448);
  cr_assert_eq(d.smem_per_sm, 233472);
  cr_assert_eq(d.sms, 132);
  cr_assert_eq(d.l2_bytes, 50LL << 20);
  cr_assert_eq(d.regs_per_block, 65536);
  cr_assert_eq(d.max_threads, 1024);
  cr_assert_eq(d.driver_version, 0);
  cr_assert_not_null(strstr(d.name, "sm_90"), "%s", d.name);
  cr_assert_not_null(strstr(d.name, "no device"), "%s", d.name);
  cr_assert(fc_device_info_for_arch(80, &d));
  cr_assert_eq(d.smem_optin, 166912);
  cr_assert_eq(d.smem_per_sm, 167936);
  cr_assert_eq(d.sms, 108);
  cr_assert(fc_device_info_for_arch(70, &d));
  cr_assert_eq(d.smem_optin, 98304);
  cr_assert(fc_device_info_for_arch(75, &d));
  cr_assert_eq(d.smem_optin, 65536);
  cr_assert(fc_device_info_for_arch(86, &d));
  cr_assert_eq(d.smem_optin, 101376);
  cr_assert(fc_device_info_for_arch(89, &d));
  cr_assert_eq(d.smem_optin, 101376);
  cr_assert(fc_device_info_for_arch(100, &d));
  cr_assert_eq(d.smem_optin, 232448);
  cr_assert(fc_device_info_for_arch(120, &d));
  cr_assert_eq(d.smem_optin, 101376);
  cr_assert_eq(fc_device_info_for_arch(12, &d), 0);
  cr_assert_eq(fc_device_info_for_arch(0, NULL), 0);
}

Test(gpu_api, zeroed_structs_are_safe) {
  fc_gpu g;
  memset(&g, 0, sizeof g);
  fc_gpu_close(&g);
  fc_gpu_close(NULL);
  fc_module m;
  memset(&m, 0, sizeof m);
  fc_module_unload(&m);
  fc_module_unload(NULL);
}

/* ---- with a GPU ---- */

static const char *k_fill =
    "extern \"C\" __global__ void fill(unsigned *out, int n, unsigned base) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < n) out[i] = base + 3u * (unsigned)i;\n"
    "}\n"
    /* Needs more than 48 KB of dynamic shared memory: fc_module_load must opt in. */
    "extern \"C\" __global__ void big(unsigned *out, int words) {\n"
    "  extern __shared__ unsigned s[];\n"
    "  for (int i = threadIdx.x; i < words; i += blockDim.x) s[i] = 7u * (unsigned)i;\n"
    "  __syncthreads();\n"
    "  if (threadIdx.x == 0) out[0] = s[words - 1];\n"
    "}\n";

static void open_or_skip(fc_gpu *g) {
  fc_err e = {{0}};
  fftconv_status s = fc_cuda_load(&e);
  if (s != FFTCONV_OK) cr_skip_test("no GPU here: %s", e.msg);
  cr_assert_eq(fc_gpu_open(0, g, &e), FFTCONV_OK, "%s", e.msg);
}

Test(gpu_api, open_device) {
  fc_gpu g;
  open_or_skip(&g);
  cr_assert_geq(g.info.sm, 70);
  cr_assert_gt(g.info.sms, 0);
  cr_assert_geq(g.info.smem_optin, 49152);
  cr_assert_geq(g.info.smem_per_sm, g.info.smem_optin);
  cr_assert_gt(g.info.regs_per_block, 0);
  cr_assert_gt(g.info.regs_per_sm, 0);
  cr_assert_geq(g.info.max_threads, 256);
  cr_assert_gt(g.info.l2_bytes, 0);
  cr_assert_gt(g.info.total_mem, 1LL << 30);
  cr_assert_geq(g.info.driver_version, 11000);
  cr_assert_gt(strlen(g.info.name), 0);
  cr_assert_not_null(g.ctx);
  fc_device_info pub;
  if (fc_device_info_for_arch(g.info.sm, &pub))
    cr_assert_eq(g.info.smem_optin, pub.smem_optin, "published limit differs for %s",
                 g.info.name);

  fc_gpu bad;
  fc_err e = {{0}};
  cr_assert_eq(fc_gpu_open(9999, &bad, &e), FFTCONV_ERR_NO_DEVICE);
  cr_assert_not_null(strstr(e.msg, "device 9999 does not exist ("), "%s", e.msg);
  cr_assert_null(bad.ctx);
  fc_gpu_close(&bad);
  cr_assert_eq(fc_gpu_open(-1, &bad, &e), FFTCONV_ERR_NO_DEVICE);
  fc_gpu_close(&g);
  cr_assert_null(g.ctx);
}

static void *bind_thread(void *arg) {
  const fc_gpu *g = arg;
  fc_err e;
  static fftconv_status result;
  result = fc_gpu_bind(g, &e);
  CUdeviceptr p = 0;
  if (result == FFTCONV_OK && fc_cu.MemAlloc(&p, 256) != CUDA_SUCCESS) result = FFTCONV_ERR_CUDA;
  if (p) fc_cu.MemFree(p);
  return &result;
}

Test(gpu_api, bind_other_thread) {
  fc_gpu g;
  open_or_skip(&g);
  pthread_t t;
  void *r = NULL;
  cr_assert_eq(pthread_create(&t, NULL, bind_thread, &g), 0);
  pthread_join(t, &r);
  cr_assert_eq(*(fftconv_status *)r, FFTCONV_OK);
  fc_gpu_close(&g);
}

Test(gpu_api, compile_load_launch) {
  fc_gpu g;
  open_or_skip(&g);
  fc_err e = {{0}};
  fc_binary b;
  cr_assert_eq(fc_compile(k_fill, "fill.cu", g.info.arch, 0, &b, &e), FFTCONV_OK, "%s", e.msg);

  int big_smem = g.info.smem_optin; /* all of it: well over 48 KB */
  fc_module m;
  cr_assert_eq(load2(b.cubin, "fill", "big", 0, big_smem, &m, &e), FFTCONV_OK, "%s",
               e.msg);
  cr_assert_not_null(m.mod);
  cr_assert_not_null(m.fn[0]);
  cr_assert_not_null(m.fn[1]);

  enum { N = 100, CAP = 128 };
  CUdeviceptr d = 0;
  cr_assert_eq(fc_cuda_check(fc_cu.MemAlloc(&d, CAP * sizeof(unsigned)), "alloc", &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cuda_check(fc_cu.MemsetD32(d, 0xdeadbeefu, CAP), "poison", &e), FFTCONV_OK);

  CUevent t0, t1;
  cr_assert_eq(fc_cu.EventCreate(&t0, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  cr_assert_eq(fc_cu.EventCreate(&t1, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  int n = N;
  unsigned base = 1000;
  void *args[] = {&d, &n, &base};
  cr_assert_eq(fc_cu.EventRecord(t0, NULL), CUDA_SUCCESS);
  CUresult r = fc_cu.LaunchKernel(m.fn[0], 2, 1, 1, 64, 1, 1, 0, NULL, args, NULL);
  cr_assert_eq(fc_cuda_check(r, "launch fill", &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cu.EventRecord(t1, NULL), CUDA_SUCCESS);
  cr_assert_eq(fc_cuda_check(fc_cu.EventSynchronize(t1), "sync", &e), FFTCONV_OK, "%s", e.msg);
  float ms = -1;
  cr_assert_eq(fc_cuda_check(fc_cu.EventElapsedTime(&ms, t0, t1), "elapsed", &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_geq(ms, 0.0f);
  cr_assert_lt(ms, 10000.0f);

  unsigned host[CAP];
  cr_assert_eq(fc_cu.MemcpyDtoH(host, d, sizeof host), CUDA_SUCCESS);
  for (int i = 0; i < N; i++) cr_assert_eq(host[i], base + 3u * (unsigned)i, "element %d", i);
  for (int i = N; i < CAP; i++) cr_assert_eq(host[i], 0xdeadbeefu, "element %d overwritten", i);

  /* The opted-in kernel runs with all its dynamic shared memory. */
  int words = big_smem / 4;
  void *bargs[] = {&d, &words};
  r = fc_cu.LaunchKernel(m.fn[1], 1, 1, 1, 256, 1, 1, (unsigned)big_smem, NULL, bargs, NULL);
  cr_assert_eq(fc_cuda_check(r, "launch big", &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_cuda_check(fc_cu.CtxSynchronize(), "sync", &e), FFTCONV_OK, "%s", e.msg);
  unsigned first = 0;
  cr_assert_eq(fc_cu.MemcpyDtoH(&first, d, sizeof first), CUDA_SUCCESS);
  cr_assert_eq(first, 7u * (unsigned)(words - 1));

  fc_cu.EventDestroy(t0);
  fc_cu.EventDestroy(t1);
  fc_cu.MemFree(d);
  fc_module_unload(&m);
  cr_assert_null(m.mod);

  /* Failures name what went wrong and leave nothing loaded. */
  cr_assert_eq(load2(b.cubin, "nosuch", NULL, 0, 0, &m, &e), FFTCONV_ERR_CUDA);
  cr_assert_not_null(strstr(e.msg, "nosuch"), "%s", e.msg);
  cr_assert_not_null(strstr(e.msg, "CUDA_ERROR_"), "%s", e.msg);
  cr_assert_null(m.mod);
  cr_assert_eq(load2(b.cubin, "fill", "big", 0, 1 << 20, &m, &e), FFTCONV_ERR_CUDA);
  cr_assert_not_null(strstr(e.msg, "1048576"), "%s", e.msg);
  cr_assert_null(m.mod);
  /* Only the forward entry, the other skipped. */
  cr_assert_eq(load2(b.cubin, "fill", "", 0, 0, &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_not_null(m.fn[0]);
  cr_assert_null(m.fn[1]);
  fc_module_unload(&m);

  fc_binary_free(&b);
  fc_gpu_close(&g);
}
