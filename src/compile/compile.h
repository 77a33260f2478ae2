/* compile: NVRTC. CUDA source to a cubin for one sm_XY (and PTX when asked), with the log
 * kept and the per-entry resource figures (registers, shared memory, spills) read from the
 * ptxas report. Thread-safe: the tuner compiles from several threads. Needs no GPU. */
#ifndef FC_COMPILE_H
#define FC_COMPILE_H

#include <stddef.h>

#include "fftconv.h"
#include "kernel.h"
#include "util.h"

#define FC_MAX_ENTRIES 8

typedef struct fc_entry_info {
  char name[64];
  int registers;    /* per thread */
  int smem_static;  /* bytes of static shared memory */
  int stack;        /* bytes of stack frame */
  int spill_stores; /* bytes */
  int spill_loads;  /* bytes */
} fc_entry_info;

typedef struct fc_binary {
  void *cubin;
  size_t cubin_size;
  char *ptx; /* NUL-terminated, only when asked for */
  size_t ptx_size;
  char *log; /* the NVRTC log, never NULL after fc_compile returns (may be "") */
  int sm;        /* compute capability of the target, e.g. 90 */
  char arch[16]; /* the target as compiled for, e.g. "sm_90a" */
  int nentries;
  fc_entry_info entries[FC_MAX_ENTRIES];
  double seconds; /* compile wall time */
} fc_binary;

/* Loads NVRTC (dlopen, once per process; thread-safe): libnvrtc.so.13 from the loader's path,
   then from the toolkit directory found at build time, then libnvrtc.so; $FFTCONV_NVRTC (a
   path or soname), when set, is the only one tried. Without it: FFTCONV_ERR_NO_COMPILER,
   "no NVRTC: libnvrtc.so.13 could not be loaded (<dlerror>...); install ...". Every function
   below loads it itself; call this to ask early. */
fftconv_status fc_nvrtc_load(fc_err *e);

/* Compiles source (program name `name`) for arch, any form fc_arch_normalize accepts
   ("sm_90", "sm_90a", "90a"): NVRTC gets --gpu-architecture=sm_90a, so arch-specific
   instructions (wgmma, setmaxnreg) compile for "sm_90a" and not for "sm_90". On failure returns
   FFTCONV_ERR_COMPILE with the log in e and in out->log (FFTCONV_ERR_INVALID for an arch that
   is not one or that NVRTC does not support, FFTCONV_ERR_NO_COMPILER without NVRTC; out->log
   then ""). */
fftconv_status fc_compile(const char *source, const char *name, const char *arch, int want_ptx,
                          fc_binary *out, fc_err *e);
void fc_binary_free(fc_binary *b); /* accepts NULL; frees the members */
/* A deep copy of b into out (FFTCONV_ERR_NOMEM when memory runs out; out is then zeroed). */
fftconv_status fc_binary_copy(const fc_binary *b, fc_binary *out, fc_err *e);

/* Compiles sources[i] (named names[i]) into bins[i] on `jobs` threads; st[i] is each
   compilation's status and bins[i].log its NVRTC log. Returns how many failed. Sources
   whose code after their leading comment is the same are compiled once (each gets a copy). */
int fc_compile_all(const char *const *sources, const char *const *names, int n,
                   const char *arch, int jobs, fc_binary *bins, fftconv_status *st);
const fc_entry_info *fc_binary_entry(const fc_binary *b, const char *name); /* NULL if absent */

/* NVRTC's version: 1 and e.g. 13, 0; without NVRTC 0 and 0, 0. */
int fc_nvrtc_version(int *major, int *minor);
/* The version as the cache's trust key has it: "13.0", or "none" without NVRTC. */
void fc_nvrtc_version_text(char *buf, size_t len);

#endif
