/* export: the winners of a cache as a bundle (bundle.h) of fatbins, for fftconv-cache export.
 * For each exported kernel, a cubin for every target architecture: the cached cubin where
 * the kernel was tuned for that architecture, else the kernel emitted again from its template
 * and parameters for that architecture (when the family's check() accepts every problem it
 * serves there, and its launches are the same) and compiled by NVRTC; plus the PTX of the
 * lowest architecture, which the driver compiles for GPUs newer than every cubin. Fatbins are
 * built by fatbin.h. The directory is written under a temporary name and renamed into place,
 * so a failed export leaves what was there before. Same cache and options, same bytes.
 * Tuning side of the library. */
#ifndef FC_EXPORT_H
#define FC_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "fftconv.h"
#include "util.h"

typedef struct fc_export_opts {
  const char *cache_path;      /* NULL: the default cache */
  const char *out;             /* the bundle directory to write */
  const char *device;          /* keep winners of devices whose model contains this
                                  (case-insensitive); NULL: all */
  const char *problem;         /* keep only this problem key; NULL: all */
  const char *const *keys;     /* keep only these problem keys (--problems); NULL: all */
  int nkeys;
  const char *archs;           /* "sm_80,sm_90" (cubins) and compute_XY (PTX); NULL: the
                                  architectures the winners were tuned on */
  int no_ptx;                  /* 1: no PTX unless an arch in archs asks for it */
  int plain_cubins;            /* 1: cubins uncompressed (--compress ptx): faster module loads,
                                  a bundle 2.4 to 2.6 times larger */
  const char *c_source;        /* also write the bundle as C source here; NULL: no */
  const char *c_name;          /* its fftconv_bundle_image's name; NULL: "fftconv_bundle" */
  int force;                   /* replace an existing bundle or C file */
  int jobs;                    /* compile threads; <= 0: one per core */
  FILE *log;                   /* progress and what was left out, or NULL */
} fc_export_opts;

typedef struct fc_export_result {
  int winners;                 /* winners that matched */
  int entries;                 /* entries written */
  int modules;                 /* fatbins written */
  int compiled;                /* NVRTC compilations run */
  int left_out;                /* (kernel, architecture) pairs left out */
  int64_t bytes;               /* bytes of the bundle (manifest and fatbins) */
  double seconds;
} fc_export_result;

/* Writes the bundle. FFTCONV_ERR_INVALID: a bad option (an unknown architecture, a bad C
   name), the message naming it; FFTCONV_ERR_IO: the cache is missing or not a cache, nothing
   matches the filters, the output exists (without force) or cannot be written;
   FFTCONV_ERR_NO_COMPILER: a kernel must be compiled and there is no NVRTC, or no fatbin
   tool. */
fftconv_status fc_export(const fc_export_opts *o, fc_export_result *r, fc_err *e);

#endif
