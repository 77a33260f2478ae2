/* fftconv.h: public interface of libfftconv, fused FFT convolutions on NVIDIA GPUs.
 *
 * What is computed (see README.md):
 *     v = pre * u                    (v = u without a pre gate)
 *     z = (v conv k)[0:L] + D * v    (causal linear, or circular, convolution)
 *     y = post * z                   (y = z without a post gate)
 * u, pre, post, y: (B, H, L) row-major in the I/O dtype; k: (H, K) fp32; D: (H) fp32.
 *
 * Every function that can fail returns a status; the detail is kept per thread
 * (fftconv_ctx_error). The library never exits and never prints. libcuda is loaded at run
 * time: without a driver, fftconv_ctx_create fails with FFTCONV_ERR_NO_DRIVER and says why.
 * So is NVRTC, on the first compilation: without it a plan that needs compiling fails with
 * FFTCONV_ERR_NO_COMPILER.
 * Device pointers are plain addresses (CUdeviceptr cast to void *, or a framework's data
 * pointer). Streams are CUstream / cudaStream_t values; NULL is the default stream.
 */
#ifndef FFTCONV_H
#define FFTCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fftconv_status {
  FFTCONV_OK = 0,
  FFTCONV_ERR_INVALID,     /* a bad argument or problem field; the message names it */
  FFTCONV_ERR_NO_DRIVER,   /* libcuda could not be loaded or initialised */
  FFTCONV_ERR_NO_DEVICE,   /* no such device ordinal */
  FFTCONV_ERR_CUDA,        /* a driver API call failed; the message has the CUDA error name */
  FFTCONV_ERR_COMPILE,     /* NVRTC rejected generated source; the message has its log */
  FFTCONV_ERR_TEMPLATE,    /* a kernel template failed; the message has file and line */
  FFTCONV_ERR_UNSUPPORTED, /* no kernel for this problem on this device */
  FFTCONV_ERR_NOMEM,       /* host or device memory exhausted */
  FFTCONV_ERR_IO,          /* a file could not be read or written */
  FFTCONV_ERR_NO_COMPILER  /* NVRTC (libnvrtc.so.13) could not be loaded: nothing can be
                              compiled; the message says what was tried */
} fftconv_status;

typedef enum fftconv_dtype { FFTCONV_FP32 = 0, FFTCONV_FP16, FFTCONV_BF16 } fftconv_dtype;
typedef enum fftconv_mode { FFTCONV_CAUSAL = 0, FFTCONV_CIRCULAR } fftconv_mode;

/* The problem. Start from fftconv_problem_init, then set fields. Each field's range and
   default are stated once, in the library's field table (src/runtime/fields.c):
   fftconv_problem_check's message names the field and its allowed range; README.md ("What
   is computed") gives them in words. */
typedef struct fftconv_problem {
  size_t size;        /* sizeof(fftconv_problem), set by fftconv_problem_init: checked by the
                         library, so that a binding built against another version is refused */
  int64_t batch;      /* B */
  int64_t heads;      /* H */
  int64_t seqlen;     /* L; its range depends on mode and dtype */
  int64_t filter_len; /* K; K < L is a partial convolution, 0 means K = L */
  int64_t freq_keep;  /* F: keep filter bins f with min(f, N - f) < F; 0 keeps all (dense) */
  fftconv_dtype dtype;
  fftconv_mode mode;
  int pre_gate;       /* 1: u is multiplied by pre before the convolution */
  int post_gate;      /* 1: the result is multiplied by post */
  int skip_d;         /* 1: the D * v skip term is present (D given to prepare_filter) */
} fftconv_problem;

/* Sets size and every field to its default (the field table's). */
void fftconv_problem_init(fftconv_problem *p);

/* Checks every field. On failure writes a message naming the field, its value and the
   allowed range into msg (if msg) and returns FFTCONV_ERR_INVALID. */
fftconv_status fftconv_problem_check(const fftconv_problem *p, char *msg, size_t msglen);

/* FFT size N: circular L; causal the smallest power of two >= max(256, L + K - 1).
   Returns 0 for an invalid problem. */
int64_t fftconv_problem_fft_size(const fftconv_problem *p);

/* The two directions of a problem (fftconv_forward, fftconv_backward). */
typedef enum fftconv_op { FFTCONV_OP_FORWARD = 0, FFTCONV_OP_BACKWARD } fftconv_op;
/* Sizes from the problem alone, with no GPU and no plan (a framework's shape inference):
   bytes of k_hat that suffice for every plan of p, both directions included (a plan's own
   fftconv_plan_filter_bytes is at most this, often less), and bytes of workspace that
   suffice for op (likewise at least fftconv_plan_workspace_bytes or
   fftconv_plan_backward_workspace_bytes). 0 for a problem fftconv_problem_check refuses. A
   kernel whose manifest would need more is refused at plan creation. With n the FFT size
   (fftconv_problem_fft_size), B the batch and H the heads, the workspace bound is
   fixed + B*H * per_row + H * per_head bytes: forward 4n + 1024 + B*H * 4n; backward
   B*H * (8n + n/16) + H * 8n (a complex fp32 row a row and its partial sums; a complex fp32
   spectrum a head, summed over the batch), with H * 4 * (8n + 4) in place of H * 8n up to
   n = 4096 (up to four shares of a head's batch, a spectrum and a sum each). */
size_t fftconv_problem_filter_bytes(const fftconv_problem *p);
size_t fftconv_problem_workspace_bytes(const fftconv_problem *p, fftconv_op op);

/* Canonical text key, e.g. "B64.H768.L4096.K4096.F0.fp16.circular.pre.post.nod".
   Returns the length it needs (like snprintf). */
int fftconv_problem_key(const fftconv_problem *p, char *buf, size_t len);

const char *fftconv_dtype_name(fftconv_dtype d);   /* "fp32", "fp16", "bf16" */
const char *fftconv_mode_name(fftconv_mode m);     /* "causal", "circular" */
int fftconv_dtype_size(fftconv_dtype d);           /* bytes per element */
const char *fftconv_status_string(fftconv_status s);

/* ---- context: one device, its cache and its miss policy ----
   A context may be used from several threads at once: plan creation is serialised where it
   shares state (the cache connection, the module list, the template engine), and plans may
   be run concurrently. Public structs that a caller fills carry a size (set by their _init
   function) that the library checks. */
typedef struct fftconv_ctx fftconv_ctx;
typedef struct fftconv_plan fftconv_plan;
typedef struct CUstream_st *fftconv_stream; /* the same type as CUstream / cudaStream_t */

/* What fftconv_plan_create does when the cache has no tuned kernel for the problem (neither
   its own winner nor one of the nearest shape: same FFT size, dtype, mode and flags). */
typedef enum fftconv_policy {
  FFTCONV_POLICY_FALLBACK = 0, /* compile the built-in heuristic choice on the spot */
  FFTCONV_POLICY_TUNED_ONLY,   /* production: fail with FFTCONV_ERR_UNSUPPORTED, naming the
                                  fftconv-tune command that would tune it */
  FFTCONV_POLICY_QUICK_TUNE    /* tune the problem now (rigor measure, few runs), store the
                                  result in the cache if it can be written, and use it */
} fftconv_policy;

/* A bundle compiled into the application: what `fftconv-cache export --c-source FILE` writes
   (its manifest and fatbins as byte arrays, and one fftconv_bundle_image naming them). */
typedef struct fftconv_bundle_file {
  const char *name;           /* the file's name in the bundle, e.g. "k000_monarch_tc.fatbin" */
  const unsigned char *data;
  size_t size;
} fftconv_bundle_file;
#define FFTCONV_BUNDLE_IMAGE_VERSION 1
typedef struct fftconv_bundle_image {
  int version;                /* FFTCONV_BUNDLE_IMAGE_VERSION */
  const char *manifest;       /* manifest.json's text */
  size_t manifest_size;
  int nfiles;
  const fftconv_bundle_file *files;
} fftconv_bundle_image;

typedef struct fftconv_ctx_options {
  size_t size;             /* sizeof(fftconv_ctx_options), set by fftconv_ctx_options_init */
  int device;              /* CUDA device ordinal, default 0 */
  const char *arch;        /* compile target such as "sm_90", or "sm_90a" for the device's
                              arch-specific instructions; NULL: the device's own (sm_XY) */
  const char *cache_path;  /* NULL: $FFTCONV_CACHE, else $XDG_CACHE_HOME/fftconv/cache.db,
                              else ~/.cache/fftconv/cache.db */
  int no_cache;            /* 1: consult no cache */
  fftconv_policy policy;
  /* A bundle of precompiled kernels (fftconv-cache export), consulted before the cache:
     bundle_path is its directory (or its manifest.json); bundle_image one compiled in
     (--c-source). At most one of them; NULL: none. A bundle that cannot be used (missing,
     unreadable, truncated, of a newer format, or without a cubin for this GPU or PTX) makes
     fftconv_ctx_create fail with FFTCONV_ERR_IO naming the file and what is wrong. */
  const char *bundle_path;
  const fftconv_bundle_image *bundle_image;
} fftconv_ctx_options;

void fftconv_ctx_options_init(fftconv_ctx_options *o);

/* Opens the device (its primary context, shared with the CUDA runtime). On failure *out is
   NULL and fftconv_ctx_error(NULL) returns the reason on this thread. In libfftconv_rt, the
   runtime-only library, a context plans from its bundle only: no cache is read and every
   policy fails a miss as FFTCONV_POLICY_TUNED_ONLY does. */
fftconv_status fftconv_ctx_create(const fftconv_ctx_options *o, fftconv_ctx **out);
void fftconv_ctx_destroy(fftconv_ctx *c); /* accepts NULL */
/* The detail of the last failure of a call on this thread (an NVRTC log, a CUDA error name,
   the field that was wrong), whatever the context; c may be NULL (a failed
   fftconv_ctx_create). Each thread has its own. Never NULL. */
const char *fftconv_ctx_error(const fftconv_ctx *c);
/* Device description, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, driver 13.0)". */
const char *fftconv_ctx_device(const fftconv_ctx *c);
/* The cache the context consults and its state, e.g. "/home/u/.cache/fftconv/cache.db" or
   "none (no cache at ...)". */
const char *fftconv_ctx_cache(const fftconv_ctx *c);

/* The bundle the context plans from first, e.g. "/opt/app/kernels (12 kernels, 30 entries;
   cubins sm_80, sm_90; PTX compute_80)", or "none". */
const char *fftconv_ctx_bundle(const fftconv_ctx *c);

/* ---- plans ---- */
/* Chooses a kernel for the problem and loads it. A bundle, when the context has one, is
   consulted first: the problem's own entry, else the nearest shape's (the cache's rule); a
   hit loads its fatbin with the driver alone (a cubin for the GPU, or its PTX compiled by the
   driver) and describe names the rung "bundle: ...". Then the cache: the
   problem's own tuned winner ("tuned"), else the winner of the nearest shape ("nearest");
   a hit loads the stored cubin, with no Lua and no NVRTC, and modules are shared within the
   context. On a miss the context's policy decides: the built-in heuristic choice compiled on
   the spot ("heuristic"), an error, or a quick tune ("quick-tune"). fftconv_plan_describe
   names the rung. The problem is checked first, and against the device's memory. A cache
   that is missing, unreadable or corrupt is a miss, never a wrong kernel. */
fftconv_status fftconv_plan_create(fftconv_ctx *c, const fftconv_problem *p, fftconv_plan **out);
void fftconv_plan_destroy(fftconv_plan *p); /* accepts NULL */
/* Template, revision, parameters and the rung the kernel came from; then, after "; backward: ",
   the same of the backward kernel, or why there is none. */
const char *fftconv_plan_describe(const fftconv_plan *p);
/* Bytes of device memory fftconv_prepare_filter writes (the filter spectrum, in the kernel's
   own layout). */
size_t fftconv_plan_filter_bytes(const fftconv_plan *p);

/* Bytes of device scratch fftconv_forward needs in fftconv_args.workspace (0: none). The
   kernel's launch manifest says how much a row; it is the same for every call of a plan. */
size_t fftconv_plan_workspace_bytes(const fftconv_plan *p);

/* Computes the filter spectrum once per filter: k (H, K) fp32 on the device; d (H) fp32 or
   NULL (needed when the problem has skip_d); k_hat: fftconv_plan_filter_bytes on the device.
   Frequency-sparse masking and the D term are folded into k_hat. */
fftconv_status fftconv_prepare_filter(const fftconv_plan *p, const void *k, const void *d,
                                      void *k_hat, fftconv_stream s);

/* The forward's spectrum alone, for inference: into k_hat of at least
   fftconv_plan_forward_filter_bytes, which fftconv_forward takes and fftconv_backward must
   not (the backward's layout, another family's and maybe a far longer FFT, is not written). */
fftconv_status fftconv_prepare_filter_forward(const fftconv_plan *p, const void *k,
                                              const void *d, void *k_hat, fftconv_stream s);
size_t fftconv_plan_forward_filter_bytes(const fftconv_plan *p);

/* The same into a buffer of k_hat_bytes (at least fftconv_plan_filter_bytes: a framework that
   sizes it before a plan exists takes fftconv_problem_filter_bytes): the bytes that hold no
   spectrum (the alignment between the two directions' layouts and the rest of the buffer) are
   zeroed on s too, so every byte of the buffer is a function of k and d alone. */
fftconv_status fftconv_prepare_filter_sized(const fftconv_plan *p, const void *k, const void *d,
                                            void *k_hat, size_t k_hat_bytes, fftconv_stream s);

typedef struct fftconv_args {
  size_t size;       /* sizeof(fftconv_args), set by fftconv_args_init */
  const void *u;     /* (B, H, L) I/O dtype */
  const void *pre;   /* (B, H, L) I/O dtype, when the problem has pre_gate, else NULL */
  const void *post;  /* (B, H, L) I/O dtype, when the problem has post_gate, else NULL */
  const void *k_hat; /* from fftconv_prepare_filter */
  void *y;           /* (B, H, L) I/O dtype; may not alias the inputs */
  void *workspace;   /* device scratch of fftconv_plan_workspace_bytes, when that is not 0 */
  size_t workspace_bytes;
} fftconv_args;

void fftconv_args_init(fftconv_args *a); /* zeroes a and sets its size */

/* Runs the convolution; asynchronous on s, allocates nothing: a kernel that needs scratch
   (several passes over long sequences) takes it from a->workspace. */
fftconv_status fftconv_forward(const fftconv_plan *p, const fftconv_args *a, fftconv_stream s);

/* ---- the forward's passes, for profiling ----
   A multi-pass kernel (the long family) runs the forward as several launches. The count of
   them (one for a single-pass kernel, 0 for NULL); for launch i (0-based, in the order
   fftconv_forward runs them) its kernel's entry name and the bytes it moves at the least
   (each operand it reads or writes once: u, the gates and y at the I/O dtype, k_hat, and the
   workspace regions it touches); NULL and -1 for an i out of range. */
int fftconv_plan_forward_launches(const fftconv_plan *p);
const char *fftconv_plan_launch_name(const fftconv_plan *p, int i);
int64_t fftconv_plan_launch_bytes(const fftconv_plan *p, int i);
/* Launch i of fftconv_forward alone, with its checks of a: to time one pass. y holds the
   forward's result only after every launch has run in order (a later pass reads what an
   earlier one left in the workspace). */
fftconv_status fftconv_forward_launch(const fftconv_plan *p, const fftconv_args *a, int i,
                                      fftconv_stream s);

/* ---- the backward pass ----
   With v = pre * u, z = (v conv k)[0:L] + D * v, y = post * z and g = dy * post, the
   gradients of sum(y * dy):
     dpost = dy * z;  dv = (the convolution's adjoint applied to g) + D * g;
     du = dv * pre;  dpre = dv * u;
     dk[h] = sum over b of the first K lags of the correlation of v and g (the frequency mask's
             adjoint folded in);  dD[h] = sum over b and t of g * v.
   z is recomputed, not stored. The same plan and the same prepared k_hat serve both
   directions: fftconv_plan_filter_bytes covers what both need. */
typedef struct fftconv_backward_args {
  size_t size;       /* sizeof(fftconv_backward_args), set by fftconv_backward_args_init */
  const void *u;     /* (B, H, L) I/O dtype: needed for dpre, dpost, dk and dd */
  const void *pre;   /* (B, H, L) when the problem has pre_gate, else NULL */
  const void *post;  /* (B, H, L) when the problem has post_gate, else NULL */
  const void *dy;    /* (B, H, L) I/O dtype: the gradient of y, always needed */
  const void *k_hat; /* from fftconv_prepare_filter with this plan */
  /* The outputs; NULL: not wanted, neither computed nor written (and the inputs only it
     needs may be NULL). du, dpre, dpost: (B, H, L) I/O dtype (dpre only with a pre gate,
     dpost only with a post gate); dk (H, K) and dd (H) fp32 (dd only with the D term), each
     overwritten with the sum over the batch, computed in fp32 in a fixed order: the same bits
     on every run. None may alias another buffer. */
  void *du, *dpre, *dpost;
  float *dk, *dd;
  void *workspace;   /* device scratch of fftconv_plan_backward_workspace_bytes, if not 0 */
  size_t workspace_bytes;
} fftconv_backward_args;

void fftconv_backward_args_init(fftconv_backward_args *a); /* zeroes a and sets its size */

/* Bytes of device scratch fftconv_backward needs (0: none, or no backward kernel). */
size_t fftconv_plan_backward_workspace_bytes(const fftconv_plan *p);

/* FFTCONV_OK when the plan has a backward kernel; otherwise the reason it has none (no
   family runs this problem's backward, no tuned kernel under a tuned-only policy, a failed
   compile) as the status, with the detail in fftconv_ctx_error. */
fftconv_status fftconv_plan_backward_status(const fftconv_plan *p);

/* Runs the backward pass; asynchronous on s, allocates nothing, may run concurrently with
   other calls of the plan. A plan without a backward kernel fails with the reason
   (fftconv_plan_backward_status). */
fftconv_status fftconv_backward(const fftconv_plan *p, const fftconv_backward_args *a,
                                fftconv_stream s);

#ifdef __cplusplus
}
#endif
#endif
