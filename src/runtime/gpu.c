/* gpu: the CUDA driver API through dlopen, device discovery, the primary context, modules.
 *
 * libcuda is never linked: every program must start (and say clearly why it cannot run
 * kernels) on a machine with only the toolkit. The driver is loaded once per process; the
 * outcome, failure message included, is remembered so that later calls answer at once. */
#include "gpu.h"

#include <ctype.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fc_cuda_api fc_cu;

/* The exported symbol for each member. cuda.h #defines many API names to versioned symbols
   (cuMemAlloc -> cuMemAlloc_v2); dlsym needs the exported name, and it must be the version
   whose signature cuda.h declares. `older` is tried when `name` is absent: a driver older
   than the headers may export only the earlier symbol with the same signature. */
typedef struct gpu_sym {
  size_t offset; /* of the member in fc_cuda_api */
  const char *name;
  const char *older;
} gpu_sym;

#define GPU_SYM(member, sym) {offsetof(fc_cuda_api, member), sym, NULL}
#define GPU_SYM2(member, sym, old) {offsetof(fc_cuda_api, member), sym, old}

static const gpu_sym gpu_syms[] = {
    GPU_SYM(Init, "cuInit"),
    GPU_SYM(DriverGetVersion, "cuDriverGetVersion"),
    GPU_SYM(DeviceGetCount, "cuDeviceGetCount"),
    GPU_SYM(DeviceGet, "cuDeviceGet"),
    GPU_SYM(DeviceGetName, "cuDeviceGetName"),
    GPU_SYM(DeviceGetAttribute, "cuDeviceGetAttribute"),
    GPU_SYM(DeviceTotalMem, "cuDeviceTotalMem_v2"),
    GPU_SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
    GPU_SYM(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
    GPU_SYM(CtxSetCurrent, "cuCtxSetCurrent"),
    GPU_SYM(CtxSynchronize, "cuCtxSynchronize"),
    GPU_SYM(MemGetInfo, "cuMemGetInfo_v2"),
    GPU_SYM(MemAlloc, "cuMemAlloc_v2"),
    GPU_SYM(MemFree, "cuMemFree_v2"),
    GPU_SYM(MemcpyHtoD, "cuMemcpyHtoD_v2"),
    GPU_SYM(MemcpyDtoH, "cuMemcpyDtoH_v2"),
    GPU_SYM(MemcpyDtoD, "cuMemcpyDtoD_v2"),
    GPU_SYM(MemsetD32, "cuMemsetD32_v2"),
    GPU_SYM(MemsetD8, "cuMemsetD8_v2"),
    GPU_SYM(MemsetD8Async, "cuMemsetD8Async"),
    GPU_SYM(ModuleLoadData, "cuModuleLoadData"),
    GPU_SYM(ModuleUnload, "cuModuleUnload"),
    GPU_SYM(ModuleGetFunction, "cuModuleGetFunction"),
    GPU_SYM(FuncSetAttribute, "cuFuncSetAttribute"),
    GPU_SYM(FuncGetAttribute, "cuFuncGetAttribute"),
    GPU_SYM(LaunchKernel, "cuLaunchKernel"),
    GPU_SYM(LaunchKernelEx, "cuLaunchKernelEx"),
    GPU_SYM(OccupancyMaxActiveClusters, "cuOccupancyMaxActiveClusters"),
    GPU_SYM(StreamCreate, "cuStreamCreate"),
    GPU_SYM(StreamDestroy, "cuStreamDestroy_v2"),
    GPU_SYM(StreamSynchronize, "cuStreamSynchronize"),
    GPU_SYM(EventCreate, "cuEventCreate"),
    GPU_SYM(EventDestroy, "cuEventDestroy_v2"),
    GPU_SYM(EventRecord, "cuEventRecord"),
    GPU_SYM(EventSynchronize, "cuEventSynchronize"),
    /* _v2 arrived with CUDA 12.8 drivers; the older symbol has the same signature. */
    GPU_SYM2(EventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime"),
    GPU_SYM(GetErrorName, "cuGetErrorName"),
    GPU_SYM(GetErrorString, "cuGetErrorString"),
};

/* Set inside pthread_once and read only after it (or through gpu_names_ready). */
static pthread_once_t gpu_once = PTHREAD_ONCE_INIT;
static fftconv_status gpu_load_status;
static fc_err gpu_load_err;
/* fc_cuda_check may run on a thread that never called fc_cuda_load (or while another thread
   is loading), so whether GetErrorName may be used is published with release/acquire. */
static atomic_int gpu_names_ready;

/* Names for the codes most worth naming when the driver's own table is not available. */
static const char *gpu_fallback_name(CUresult r) {
  switch (r) {
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
    case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
    case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
    case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
    case CUDA_ERROR_NO_BINARY_FOR_GPU: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
    case CUDA_ERROR_ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    default: return NULL;
  }
}

/* Writes "CUDA_ERROR_X (description)" into buf. */
static void gpu_describe(CUresult r, char *buf, size_t len) {
  const char *name = NULL, *desc = NULL;
  if (atomic_load_explicit(&gpu_names_ready, memory_order_acquire)) {
    if (fc_cu.GetErrorName(r, &name) != CUDA_SUCCESS) name = NULL;
    if (fc_cu.GetErrorString(r, &desc) != CUDA_SUCCESS) desc = NULL;
  }
  if (!name) name = gpu_fallback_name(r);
  if (name)
    snprintf(buf, len, "%s (%s)", name, desc ? desc : "no description available");
  else
    snprintf(buf, len, "CUDA error %d (%s)", (int)r, desc ? desc : "unknown to this build");
}

static void gpu_load_once(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    gpu_load_status = fc_fail(&gpu_load_err, FFTCONV_ERR_NO_DRIVER,
                              "no CUDA driver: libcuda.so.1 could not be loaded (%s)",
                              why ? why : "no reason given");
    return;
  }
  fc_cuda_api api;
  memset(&api, 0, sizeof api);
  for (size_t i = 0; i < sizeof gpu_syms / sizeof gpu_syms[0]; i++) {
    const gpu_sym *s = &gpu_syms[i];
    void *p = dlsym(lib, s->name);
    if (!p && s->older) p = dlsym(lib, s->older);
    if (!p) {
      gpu_load_status = fc_fail(&gpu_load_err, FFTCONV_ERR_NO_DRIVER,
                                "no CUDA driver: libcuda.so.1 has no symbol %s (the driver is "
                                "older than CUDA %d.%d, which this build expects)",
                                s->name, CUDA_VERSION / 1000, CUDA_VERSION % 1000 / 10);
      dlclose(lib);
      return;
    }
    /* POSIX guarantees object and function pointers convert; memcpy keeps ISO C quiet. */
    memcpy((char *)&api + s->offset, &p, sizeof p);
  }
  fc_cu = api;
  /* The library stays loaded for the life of the process: fc_cu points into it. */
  atomic_store_explicit(&gpu_names_ready, 1, memory_order_release);

  CUresult r = fc_cu.Init(0);
  if (r != CUDA_SUCCESS) {
    char what[512];
    gpu_describe(r, what, sizeof what);
    gpu_load_status =
        fc_fail(&gpu_load_err,
                r == CUDA_ERROR_NO_DEVICE ? FFTCONV_ERR_NO_DEVICE : FFTCONV_ERR_NO_DRIVER,
                "cuInit failed: %s", what);
    return;
  }
  gpu_load_status = FFTCONV_OK;
}

fftconv_status fc_cuda_load(fc_err *e) {
  pthread_once(&gpu_once, gpu_load_once);
  if (gpu_load_status != FFTCONV_OK && e) snprintf(e->msg, sizeof e->msg, "%s", gpu_load_err.msg);
  return gpu_load_status;
}

fftconv_status fc_cuda_check(CUresult r, const char *what, fc_err *e) {
  if (r == CUDA_SUCCESS) return FFTCONV_OK;
  char desc[512];
  gpu_describe(r, desc, sizeof desc);
  return fc_fail(e, r == CUDA_ERROR_OUT_OF_MEMORY ? FFTCONV_ERR_NOMEM : FFTCONV_ERR_CUDA,
                 "%s: %s", what ? what : "CUDA driver call", desc);
}

/* Reads one attribute; `what` names it in the error. */
static fftconv_status gpu_attr(CUdevice dev, CUdevice_attribute a, const char *what, int *out,
                               fc_err *e) {
  CUresult r = fc_cu.DeviceGetAttribute(out, a, dev);
  if (r != CUDA_SUCCESS) {
    char call[128];
    snprintf(call, sizeof call, "cuDeviceGetAttribute(%s)", what);
    return fc_cuda_check(r, call, e);
  }
  return FFTCONV_OK;
}

static fftconv_status gpu_fill_info(CUdevice dev, fc_device_info *d, fc_err *e) {
  memset(d, 0, sizeof *d);
  FC_CU(e, fc_cu.DeviceGetName(d->name, (int)sizeof d->name - 1, dev));
  int major = 0, minor = 0, l2 = 0;
  struct {
    CUdevice_attribute a;
    const char *what;
    int *out;
  } attrs[] = {
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR", &major},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR", &minor},
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT", &d->sms},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
       "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN", &d->smem_optin},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
       "MAX_SHARED_MEMORY_PER_MULTIPROCESSOR", &d->smem_per_sm},
      {CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, "MAX_REGISTERS_PER_BLOCK",
       &d->regs_per_block},
      {CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, "MAX_REGISTERS_PER_MULTIPROCESSOR",
       &d->regs_per_sm},
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "MAX_THREADS_PER_BLOCK", &d->max_threads},
      {CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, "L2_CACHE_SIZE", &l2},
  };
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
    fftconv_status s = gpu_attr(dev, attrs[i].a, attrs[i].what, attrs[i].out, e);
    if (s != FFTCONV_OK) return s;
  }
  d->sm = major * 10 + minor;
  snprintf(d->arch, sizeof d->arch, "sm_%d", d->sm); /* the plain target: runs on this device */
  d->l2_bytes = l2;
  size_t total = 0;
  FC_CU(e, fc_cu.DeviceTotalMem(&total, dev));
  d->total_mem = (int64_t)total;
  FC_CU(e, fc_cu.DriverGetVersion(&d->driver_version));
  return FFTCONV_OK;
}

fftconv_status fc_gpu_open(int ordinal, fc_gpu *g, fc_err *e) {
  if (!g) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_gpu_open: g is NULL");
  memset(g, 0, sizeof *g);
  fftconv_status s = fc_cuda_load(e);
  if (s != FFTCONV_OK) return s;
  int count = 0;
  FC_CU(e, fc_cu.DeviceGetCount(&count));
  if (ordinal < 0 || ordinal >= count)
    return fc_fail(e, FFTCONV_ERR_NO_DEVICE, "device %d does not exist (%d device%s)", ordinal,
                   count, count == 1 ? "" : "s");
  CUdevice dev;
  FC_CU(e, fc_cu.DeviceGet(&dev, ordinal));
  CUcontext ctx = NULL;
  FC_CU(e, fc_cu.DevicePrimaryCtxRetain(&ctx, dev));
  /* From here a failure must release the retained context. */
  CUresult r = fc_cu.CtxSetCurrent(ctx);
  if (r != CUDA_SUCCESS) {
    fc_cu.DevicePrimaryCtxRelease(dev);
    return fc_cuda_check(r, "cuCtxSetCurrent", e);
  }
  s = gpu_fill_info(dev, &g->info, e);
  if (s != FFTCONV_OK) {
    fc_cu.DevicePrimaryCtxRelease(dev);
    memset(g, 0, sizeof *g);
    return s;
  }
  g->dev = dev;
  g->ctx = ctx;
  g->ordinal = ordinal;
  return FFTCONV_OK;
}

void fc_gpu_close(fc_gpu *g) {
  if (!g) return;
  /* ctx is set only by a successful open, which implies the driver is loaded. */
  if (g->ctx) fc_cu.DevicePrimaryCtxRelease(g->dev);
  memset(g, 0, sizeof *g);
}

fftconv_status fc_gpu_bind(const fc_gpu *g, fc_err *e) {
  if (!g || !g->ctx) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_gpu_bind: the device is not open");
  FC_CU(e, fc_cu.CtxSetCurrent(g->ctx));
  return FFTCONV_OK;
}

/* Published limits per architecture (CUDA C++ Programming Guide, "Technical
   Specifications per Compute Capability"). Shared memory and register limits are the same
   for every chip of an arch; SM count, L2 and memory are those of the named part. */
typedef struct gpu_arch_limits {
  int sm;
  const char *part;
  int sms;
  int smem_optin, smem_per_sm;
  int64_t l2_bytes, total_mem;
} gpu_arch_limits;

#define GPU_KB 1024
#define GPU_MB (1024 * 1024)
#define GPU_GB (1024LL * 1024 * 1024)

static const gpu_arch_limits gpu_archs[] = {
    {70, "V100", 80, 96 * GPU_KB, 96 * GPU_KB, 6 * GPU_MB, 16 * GPU_GB},
    {75, "T4", 40, 64 * GPU_KB, 64 * GPU_KB, 4 * GPU_MB, 16 * GPU_GB},
    {80, "A100", 108, 163 * GPU_KB, 164 * GPU_KB, 40 * GPU_MB, 40 * GPU_GB},
    {86, "A10", 72, 99 * GPU_KB, 100 * GPU_KB, 6 * GPU_MB, 24 * GPU_GB},
    {87, "Jetson AGX Orin", 16, 163 * GPU_KB, 164 * GPU_KB, 4 * GPU_MB, 32 * GPU_GB},
    {89, "L4", 58, 99 * GPU_KB, 100 * GPU_KB, 48 * GPU_MB, 24 * GPU_GB},
    {90, "H100", 132, 227 * GPU_KB, 228 * GPU_KB, 50 * GPU_MB, 80 * GPU_GB},
    {100, "B200", 148, 227 * GPU_KB, 228 * GPU_KB, 126 * GPU_MB, 180 * GPU_GB},
    {103, "B300", 148, 227 * GPU_KB, 228 * GPU_KB, 126 * GPU_MB, 270 * GPU_GB},
    {120, "RTX 5090", 170, 99 * GPU_KB, 100 * GPU_KB, 96 * GPU_MB, 32 * GPU_GB},
    {121, "GB10", 48, 99 * GPU_KB, 100 * GPU_KB, 24 * GPU_MB, 128 * GPU_GB},
};

int fc_device_info_for_arch(int sm, fc_device_info *out) {
  for (size_t i = 0; i < sizeof gpu_archs / sizeof gpu_archs[0]; i++) {
    const gpu_arch_limits *a = &gpu_archs[i];
    if (a->sm != sm) continue;
    if (out) {
      memset(out, 0, sizeof *out);
      snprintf(out->name, sizeof out->name, "sm_%d (no device: published limits, %s)", sm,
               a->part);
      out->sm = sm;
      snprintf(out->arch, sizeof out->arch, "sm_%d", sm);
      out->sms = a->sms;
      out->smem_optin = a->smem_optin;
      out->smem_per_sm = a->smem_per_sm;
      out->regs_per_block = 65536;
      out->regs_per_sm = 65536;
      out->max_threads = 1024;
      out->l2_bytes = a->l2_bytes;
      out->total_mem = a->total_mem;
      out->driver_version = 0;
    }
    return 1;
  }
  return 0;
}

const char *fc_device_arch(const fc_device_info *d, char out[16]) {
  if (d->arch[0]) snprintf(out, 16, "%s", d->arch);
  else snprintf(out, 16, "sm_%d", d->sm);
  return out;
}

/* "sm_" optional, two or three digits without a leading zero, then an optional 'a'
   (arch-specific: sm_90a runs on sm_90 only) or 'f' (family-specific, CUDA 12.9 and later).
   Virtual architectures (compute_90) are not compile targets here: they give no cubin. */
int fc_arch_normalize(const char *in, char out[16], int *sm) {
  if (out) out[0] = 0;
  if (sm) *sm = 0;
  if (!in) return 0;
  const char *s = strncmp(in, "sm_", 3) == 0 ? in + 3 : in;
  int v = 0, digits = 0;
  if (*s == '0') return 0;
  while (isdigit((unsigned char)*s) && digits < 4) {
    v = v * 10 + (*s++ - '0');
    digits++;
  }
  if (digits < 2 || digits > 3) return 0;
  char suffix[2] = {0, 0};
  if (*s == 'a' || *s == 'f') suffix[0] = *s++;
  if (*s) return 0;
  if (out) snprintf(out, 16, "sm_%d%s", v, suffix);
  if (sm) *sm = v;
  return 1;
}

static int gpu_cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

fftconv_status fc_gpu_copy_bandwidth(size_t bytes, int runs, double *gbps, fc_err *e) {
  *gbps = NAN;
  if (runs < 1 || runs > 100 || bytes < 1)
    return fc_fail(e, FFTCONV_ERR_INVALID, "copy bandwidth: runs %d (1 to 100), bytes %zu", runs,
                   bytes);
  CUdeviceptr a = 0, b = 0;
  CUevent s = NULL, t = NULL;
  float ms[100];
  CUresult r = fc_cu.MemAlloc(&a, bytes);
  if (r == CUDA_SUCCESS) r = fc_cu.MemAlloc(&b, bytes);
  if (r == CUDA_SUCCESS) r = fc_cu.MemsetD8(a, 0x5a, bytes); /* nothing measured on zeros */
  if (r == CUDA_SUCCESS) r = fc_cu.EventCreate(&s, 0);
  if (r == CUDA_SUCCESS) r = fc_cu.EventCreate(&t, 0);
  if (r == CUDA_SUCCESS) r = fc_cu.MemcpyDtoD(b, a, bytes);
  for (int i = 0; i < runs && r == CUDA_SUCCESS; i++) {
    r = fc_cu.EventRecord(s, NULL);
    if (r == CUDA_SUCCESS) r = fc_cu.MemcpyDtoD(i % 2 ? a : b, i % 2 ? b : a, bytes);
    if (r == CUDA_SUCCESS) r = fc_cu.EventRecord(t, NULL);
    if (r == CUDA_SUCCESS) r = fc_cu.EventSynchronize(t);
    if (r == CUDA_SUCCESS) r = fc_cu.EventElapsedTime(&ms[i], s, t);
  }
  if (s) fc_cu.EventDestroy(s);
  if (t) fc_cu.EventDestroy(t);
  if (a) fc_cu.MemFree(a);
  if (b) fc_cu.MemFree(b);
  if (r != CUDA_SUCCESS) return fc_cuda_check(r, "copy bandwidth", e);
  qsort(ms, (size_t)runs, sizeof *ms, gpu_cmp_float);
  double med = runs % 2 ? ms[runs / 2] : 0.5 * ((double)ms[runs / 2 - 1] + ms[runs / 2]);
  if (!(med > 0)) return fc_fail(e, FFTCONV_ERR_CUDA, "copy bandwidth: a copy took no time");
  *gbps = 2.0 * (double)bytes / (med * 1e-3) / 1e9;
  return FFTCONV_OK;
}
