/* launch: a kernel's module and the generic launcher. A module holds one function per launch
 * of the manifest (dynamic shared memory limits raised, cluster sizes checked against the
 * device); fc_launch_phase runs a phase's launches in order, binding each launch's arguments
 * by name from the buffers, the shape and the workspace (regions at the offsets the manifest
 * gives). A launch with a cluster goes through cuLaunchKernelEx. Runtime layer. */
#ifndef FC_LAUNCH_H
#define FC_LAUNCH_H

#include <cuda.h>

#include "kernel.h"
#include "shape.h"

typedef struct fc_module {
  CUmodule mod;
  int n;
  CUfunction fn[FC_MAX_LAUNCHES]; /* fn[i] runs manifest launch i */
} fc_module;

/* Loads cubin and finds entries[i] (NULL or "": skipped, fn[i] NULL) with smem[i] bytes of
   dynamic shared memory; the driver must be loaded and a context current. */
fftconv_status fc_module_load_entries(const void *cubin, int n, const char *const *entries,
                                      const int *smem, fc_module *m, fc_err *e);
/* The module of a manifest: every launch's entry; with a cluster, checks that the device can
   run at least one cluster of that size with the launch's block and shared memory. */
fftconv_status fc_module_load(const void *cubin, const fc_manifest *mf, fc_module *m, fc_err *e);
void fc_module_unload(fc_module *m); /* accepts NULL and a zeroed module */

/* The device addresses a phase may bind, indexed by fc_arg (workspace regions are filled in
   by the launcher from `workspace`). */
typedef struct fc_buffers {
  CUdeviceptr p[FC_ARG_COUNT]; /* scalars' slots unused */
} fc_buffers;

/* Grid of launch l for shape s: x = ceil(count / per) rounded up to a multiple of the
   cluster's x, y and z as the manifest gives. 0 when x would exceed 2^31 - 1. */
int64_t fc_launch_grid_x(const fc_launch *l, const fc_shape *s);

/* Runs every launch of `phase` in manifest order on stream st. */
fftconv_status fc_launch_phase(const fc_manifest *mf, const fc_module *m, fc_phase phase,
                               const fc_shape *s, const fc_buffers *b, CUdeviceptr workspace,
                               CUstream st, fc_err *e);
/* Runs launch `index` of mf alone (for timing one pass of several). */
fftconv_status fc_launch_only(const fc_manifest *mf, const fc_module *m, int index,
                              const fc_shape *s, const fc_buffers *b, CUdeviceptr workspace,
                              CUstream st, fc_err *e);

#endif
