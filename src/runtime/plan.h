/* plan: the runtime. Contexts, plans from a stored kernel (a bundle, then the cache), the
 * problem's check against the device, prepare_filter and forward through the generic
 * launcher. No search, verification, reference, Lua, NVRTC or SQLite: the cache backend and
 * what a context does on a miss are hooks (fc_ctx_hooks) plugged in by fftconv_ctx_create:
 * libfftconv's (src/tune/policy.c) passes the SQLite cache and the miss policies,
 * libfftconv_rt's (src/store/ctx_rt.c) passes neither and plans from bundles only.
 *
 * Threads: a context may be used from several threads at once. Its lock guards the module
 * list, the stores (the cache's SQLite connection) and the policies' state (the template
 * engine); plans are immutable once created and may run concurrently from any thread (each
 * makes the context's device current). The error detail is per thread (fc_thread_err). */
#ifndef FC_PLAN_H
#define FC_PLAN_H

#include <pthread.h>

#include "fftconv.h"
#include "gpu.h"
#include "kernel.h"
#include "launch.h"
#include "shape.h"
#include "store_if.h"

/* A module loaded from a stored kernel, shared by the context's plans. A list, so that a
   plan's pointer stays valid while other threads add modules. */
typedef struct fc_ctx_module {
  int64_t kernel_id; /* the cache row it was loaded from; a bundle's module i: -1 - i */
  fc_module mod;
  struct fc_ctx_module *next;
} fc_ctx_module;

/* What fftconv_plan_create does when no stored kernel fits: e holds the detail. */
typedef fftconv_status (*fc_miss_fn)(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out,
                                     fc_err *e);

/* What a context gets from the layers above the runtime. Every member may be NULL. */
typedef struct fc_ctx_hooks {
  /* The bundle of bundle_path or bundle_image (exactly one given), read and checked, as a
     store; its failure is fftconv_ctx_create's. NULL: this library reads no bundle. */
  fftconv_status (*bundle_open)(const char *path, const fftconv_bundle_image *img,
                                fc_store **out, fc_err *e);
  /* The cache's default path into buf (FFTCONV_OK), or why there is none in e. */
  fftconv_status (*cache_default_path)(char *buf, size_t len, fc_err *e);
  /* The cache at path, opened read-only, as a store; on failure e says why (then the context
     has no cache: a miss). NULL: this library has no cache backend. */
  fftconv_status (*cache_open)(const char *path, fc_store **out, fc_err *e);
  /* Without cache_open: why there is no cache, for fftconv_ctx_cache ("none (WHY)"). */
  const char *no_cache;
  fc_miss_fn miss;      /* the miss policies (fftconv_policy); NULL: stored kernels only */
  /* Words the error of a miss that no policy answers (tuned-only, or no miss); NULL: the
     runtime's own, which names the fftconv-tune command that would tune the problem. */
  fc_miss_fn no_kernel;
} fc_ctx_hooks;

struct fftconv_ctx {
  fc_gpu gpu;
  int sm;                        /* compile target's compute capability */
  char arch[16];                 /* compile target, "sm_90" or "sm_90a" */
  char device[320];
  fftconv_policy policy;
  fc_ctx_hooks hooks;            /* the cache backend and the miss policies */
  void *upper;                   /* the policies' state (the template engine) */
  void (*upper_free)(void *);
  pthread_mutex_t lock;          /* mods, store, upper */
  fc_store *bundle;              /* the bundle, consulted first; NULL when there is none */
  char bundle_desc[4800];        /* what it is, or "none" */
  fc_store *store;               /* the cache, read-only; NULL when there is none */
  char cache_path[4096];         /* where it is (or would be) */
  char cache_desc[4400];         /* path, or why there is no cache */
  char nvrtc[16];                /* "13.0", or "none" without NVRTC: any version is trusted */
  int nhashes;                   /* the embedded templates' current hashes: what is trusted */
  const char *const *hashes;     /* fc_trusted_hashes' */
  fc_ctx_module *mods;           /* modules loaded from the cache */
};

struct fftconv_plan {
  fftconv_ctx *ctx;
  fc_shape shape;
  fc_manifest manifest;
  fc_module mod;
  int owns_module; /* 0: the module belongs to the context's module list */
  char tmpl[64];
  char *params;    /* canonical JSON */
  char *describe;
  /* A forward plan's backward (fftconv_backward): a plan of op backward for the same problem,
     found or built with the forward, or NULL with bwd_status and bwd_why saying why not.
     bwd_khat_offset: where its filter spectrum starts in k_hat (0: it shares the forward's
     layout). A plan of op backward (the tuner's candidates) is its own backward. */
  struct fftconv_plan *bwd;
  fftconv_status bwd_status;
  char *bwd_why;
  int64_t bwd_khat_offset;
};

/* This thread's error detail: what fftconv_ctx_error returns. */
fc_err *fc_thread_err(void);

/* A context with the given hooks (NULL: none; no cache, no miss policy) and NVRTC version
   ("none" when absent). */
fftconv_status fc_ctx_open(const fftconv_ctx_options *o, const fc_ctx_hooks *hooks,
                           const char *nvrtc, fftconv_ctx **out, fc_err *e);

/* The shape of p, checked against the device's memory. */
fftconv_status fc_ctx_shape(fftconv_ctx *c, const fftconv_problem *p, fc_shape *s, fc_err *e);
/* The same for an op (shape.h); fc_ctx_shape is this for FC_OP_FORWARD. */
fftconv_status fc_ctx_shape_op(fftconv_ctx *c, int op, const fftconv_problem *p, fc_shape *s,
                               fc_err *e);

/* A plan running `cubin` (its own module) with manifest m; describe reads
   "<tmpl> r<rev> (<hash>) <params> [<rung>; <arch>]". */
fftconv_status fc_plan_from_cubin(fftconv_ctx *c, const fc_shape *s, const fc_manifest *m,
                                  const void *cubin, const char *tmpl, int rev,
                                  const char *hash, const char *params, const char *rung,
                                  const char *arch, fftconv_plan **out, fc_err *e);

/* fftconv_forward after its checks of a: a's buffers and workspace bound by name, then the
   forward launches (only < 0) or launch `only` of the manifest alone (the tuner times each
   pass of a multi-pass kernel so, fc_time_launches). */
fftconv_status fc_plan_launch(const fftconv_plan *p, const fftconv_args *a, int only,
                              CUstream s, fc_err *e);

/* The store configuration of the context (device, arch, NVRTC version). */
fc_store_config fc_ctx_cache_config(const fftconv_ctx *c);

/* Device bytes a problem's I/O needs (u, gates and y and the filter tensors); -1 when that
   count overflows int64 (never for a problem fftconv_problem_check accepts). */
int64_t fc_problem_device_bytes(const fftconv_problem *p);

/* The fftconv-tune command line that tunes p, into b (for messages). */
void fc_tune_command(const fftconv_problem *p, const char *cache, fc_str *b);

#endif
