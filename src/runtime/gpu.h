/* gpu: the CUDA driver API, loaded at run time with dlopen("libcuda.so.1"), so that every
 * program and CPU test starts on a machine with no driver and says so clearly.
 * Owns: the function table fc_cu, device discovery (fc_device_info), the primary context and
 * the copy-bandwidth measurement. Modules and launches: launch.h. Every failure is reported with the CUDA error name.
 * Callers: plan.c, launch.c, verify.c, the tuner, benchmarks, GPU tests. Runtime layer. */
#ifndef FC_GPU_H
#define FC_GPU_H

#include <cuda.h>

#include "fftconv.h"
#include "kernel.h"
#include "util.h"

/* The driver entry points the project uses (names as in cuda.h, without the cu prefix). */
typedef struct fc_cuda_api {
  CUresult (*Init)(unsigned int);
  CUresult (*DriverGetVersion)(int *);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*DeviceGetName)(char *, int, CUdevice);
  CUresult (*DeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
  CUresult (*DeviceTotalMem)(size_t *, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*DevicePrimaryCtxRelease)(CUdevice);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*CtxSynchronize)(void);
  CUresult (*MemGetInfo)(size_t *, size_t *);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*MemsetD32)(CUdeviceptr, unsigned int, size_t);
  CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*ModuleLoadData)(CUmodule *, const void *);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*FuncSetAttribute)(CUfunction, CUfunction_attribute, int);
  CUresult (*FuncGetAttribute)(int *, CUfunction_attribute, CUfunction);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, CUstream, void **, void **);
  CUresult (*LaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **, void **);
  CUresult (*OccupancyMaxActiveClusters)(int *, CUfunction, const CUlaunchConfig *);
  CUresult (*StreamCreate)(CUstream *, unsigned int);
  CUresult (*StreamDestroy)(CUstream);
  CUresult (*StreamSynchronize)(CUstream);
  CUresult (*EventCreate)(CUevent *, unsigned int);
  CUresult (*EventDestroy)(CUevent);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*EventSynchronize)(CUevent);
  CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*GetErrorName)(CUresult, const char **);
  CUresult (*GetErrorString)(CUresult, const char **);
} fc_cuda_api;

extern fc_cuda_api fc_cu; /* valid after fc_cuda_load returned FFTCONV_OK */

/* dlopen + dlsym + cuInit, once per process (thread-safe). Without a driver:
   FFTCONV_ERR_NO_DRIVER, "no CUDA driver: libcuda.so.1 could not be loaded (<dlerror>)". */
fftconv_status fc_cuda_load(fc_err *e);

/* Turns a CUresult into a status and message "<what>: CUDA_ERROR_X (<description>)". */
fftconv_status fc_cuda_check(CUresult r, const char *what, fc_err *e);
/* Evaluates a driver call; on failure returns from the enclosing function with its status. */
#define FC_CU(e, call)                                                   \
  do {                                                                   \
    CUresult fc_r_ = (call);                                             \
    if (fc_r_ != CUDA_SUCCESS) return fc_cuda_check(fc_r_, #call, (e));  \
  } while (0)

/* A device and its primary context. */
typedef struct fc_gpu {
  CUdevice dev;
  CUcontext ctx;
  int ordinal;
  fc_device_info info;
} fc_gpu;

/* Loads the driver, opens device `ordinal` (FFTCONV_ERR_NO_DEVICE naming how many there are),
   retains its primary context and makes it current on the calling thread. */
fftconv_status fc_gpu_open(int ordinal, fc_gpu *g, fc_err *e);
void fc_gpu_close(fc_gpu *g); /* releases the primary context; accepts a zeroed g */
fftconv_status fc_gpu_bind(const fc_gpu *g, fc_err *e); /* make current on this thread */

/* The device-to-device copy bandwidth of the current context's device, in GB/s counting bytes
   read plus written: the median of `runs` timed copies of `bytes` (after one untimed copy).
   The memory floor of a problem is its bytes over this. */
fftconv_status fc_gpu_copy_bandwidth(size_t bytes, int runs, double *gbps, fc_err *e);

/* Device facts from an arch name alone, for compile-only work without a GPU: sm_80 -> an
   A100's limits, sm_90 -> an H100's, others the smallest of their generation (arch "sm_<sm>";
   set it to "sm_90a" for the arch-specific target). 0 if unknown. */
int fc_device_info_for_arch(int sm, fc_device_info *out);

#endif
