/* plan: contexts and plans, the launch of a family's two kernels (see the kernel ABI in
 * emit.h). Internal entry points for the tuner, which builds plans from candidates it has
 * emitted and compiled itself. A context is used from one thread at a time; a finished plan
 * may be run from any thread that has the context's device current. */
#ifndef FC_PLAN_H
#define FC_PLAN_H

#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "fftconv.h"
#include "gpu.h"

#define FC_MAX_TEMPLATES 16

typedef struct fc_ctx_module {
  int64_t kernel_id; /* the cache row it was loaded from */
  fc_module mod;
} fc_ctx_module;

struct fftconv_ctx {
  fc_gpu gpu;
  int sm;          /* compile target's compute capability (the cache's key) */
  char arch[16];   /* compile target as NVRTC takes it: "sm_90", or "sm_90a" when asked */
  fc_emit *emit;   /* opened on first use */
  fc_err err;
  char device[320];
  fftconv_policy policy;
  fc_cache *cache;               /* read-only, NULL when there is none */
  char cache_path[4096];         /* where it is (or would be) */
  char cache_desc[4400];         /* path, or why there is no cache */
  char nvrtc[16];                /* "13.0", or "none" when NVRTC cannot be loaded */
  int nhashes;                   /* the embedded templates' current hashes: what is trusted */
  char hashes[FC_MAX_TEMPLATES][17];
  const char *hashp[FC_MAX_TEMPLATES];
  fc_ctx_module *mods;           /* modules loaded from the cache, shared by plans */
  int nmods, capmods;
};

struct fftconv_plan {
  fftconv_ctx *ctx;
  fftconv_problem prob;
  int64_t fft_size, rows;
  fc_module mod;
  int owns_module; /* 0: the module belongs to the context's module cache */
  fc_layout layout;
  char tmpl[64];
  char *params;   /* canonical JSON */
  char *describe;
};

/* The context's template engine (opened on first call). */
fftconv_status fc_ctx_emit(fftconv_ctx *c, fc_emit **out);

/* A plan from emitted source and its compiled binary (the tuner's path). rung says where the
   choice came from ("heuristic", "tuned", "candidate"). */
fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out);

/* The cache configuration of the context (device, arch, NVRTC version). */
fc_cache_config fc_ctx_cache_config(const fftconv_ctx *c);

/* Device bytes a problem's I/O needs (u, gates, y and the filter tensors). */
int64_t fc_problem_device_bytes(const fftconv_problem *p);

#endif
