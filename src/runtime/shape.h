/* shape: a problem checked once at the API edge and resolved into the record every module
 * takes: the operation, the filter length K, the FFT size N, the rows B * H and the key under
 * which its kernels are tuned and stored. Also the families' supported sizes, which the
 * problem check reports. Runtime layer: no Lua, no NVRTC. */
#ifndef FC_SHAPE_H
#define FC_SHAPE_H

#include <stdint.h>

#include "fftconv.h"
#include "util.h"

/* The operation a kernel computes for a problem: an index into the op table (ops.c). Forward
   is built in; the backward pass will add its own kernels for the same problem. A non-forward
   op's key is "<op>:" before the problem key; the cache, the ranking, the emission problem
   table (problem.op), verification, the search and export all carry it. */
typedef int fc_op;
#define FC_OP_FORWARD 0
#define FC_OP_BACKWARD 1 /* fftconv_backward: built in beside forward */
#define FC_MAX_OPS 8

struct fc_ref_inputs; /* reference.h (tuning layer) */
/* An op's fp64 reference: y from the inputs (src/tune/reference.h's form). */
typedef fftconv_status (*fc_op_reference_fn)(const fftconv_problem *p,
                                             const struct fc_ref_inputs *in, double *y,
                                             fc_err *e);
typedef struct fc_op_def {
  const char *name;          /* "forward"; a C identifier */
  /* The kernel arguments (kernel.h's table, by name) and phases its launches may use, each
     list NULL-terminated; NULL: any. */
  const char *const *args;
  const char *const *phases;
  /* What verification compares against. NULL: the built-in FFTW reference of forward
     (fc_reference), which the runtime layer cannot name: it links no FFTW. */
  fc_op_reference_fn reference;
} fc_op_def;

/* The op's entry, or NULL when there is none. */
const fc_op_def *fc_op_get(fc_op op);
int fc_op_count(void);
const char *fc_op_name(fc_op op); /* "forward"; "?" for none */
/* The op named `name`, or -1 when there is none (NULL included). */
int fc_op_find(const char *name);
/* The op name a shape key carries: the text before ':', or "forward" for a key without one
   (a forward key is the bare problem key); "?" when it does not fit. Into buf; returns buf.
   For rows that hold only the key (cache listings, exports). */
const char *fc_key_op_name(const char *key, char *buf, size_t len);
/* Whether a launch manifest (kernel.h) uses only the arguments ("ws" for any workspace
   region) and phases of op's entry: FFTCONV_ERR_TEMPLATE naming the launch and the name. The
   search checks every candidate's manifest against the op it searches for. */
struct fc_manifest;
fftconv_status fc_op_check_manifest(fc_op op, const struct fc_manifest *m, fc_err *e);
/* Internal: adds an op (tests add one that only a test family implements). d must outlive
   the process's use of it. Returns its index, or -1 with e set (a bad or taken name, or
   FC_MAX_OPS reached). Not thread-safe: call before any context or search uses ops. */
int fc_op_register(const fc_op_def *d, fc_err *e);

typedef struct fc_shape {
  fftconv_problem p; /* as given, with filter_len resolved to K */
  fc_op op;          /* index into the op table */
  int64_t rows;      /* B * H */
  int64_t K;         /* filter length */
  int64_t N;         /* FFT size */
  char key[256];     /* forward: fftconv_problem_key; another op: "<op>:" before it */
} fc_shape;

/* The most elements B x H x L a problem may have (fftconv_problem_check): 2^48 keeps every
   count of its bytes, and of a kernel's workspace, far inside int64. */
#define FC_MAX_ELEMENTS (INT64_C(1) << 48)

/* The most a kernel's manifest may ask for an FFT size n (what fftconv_problem_filter_bytes
   and fftconv_problem_workspace_bytes promise): a filter spectrum of fixed + H * per_head
   bytes, the forward's layouts (monarch_tc's "half": 12n + 8 a head) and the backward's
   (monarch_tc's "pair": 8n, monarch_fp32's: 4n + 8 a head) each within these, the fixed
   part monarch_fp32's twiddles (4n) or, up to n = 32K, monarch_tc's twiddle tables (8 bytes
   for each of n + n/n_1 + ... positions, under 9.2n: lib/tc_layout.lua), and a
   workspace of fixed + rows * per_row + H * per_head: the forward's, monarch_long's fp32 half
   pairs (4n a row); the backward's, a complex fp32 row a row and its partial sums (8n +
   n/16) and, for a reduction over the batch, a complex fp32 spectrum a head (8n); up to
   n = FC_SPLIT_MAX_N, four of them and their four sums of g * v (monarch_tc's split: a
   head's batch in up to FC_SPLIT_MAX shares, a spectrum each, at any batch, so that a kernel
   tuned at B = 64 runs at B = 1). */
#define FC_FILTER_FIXED_MAX(n) ((n) <= 32768 ? 10 * (n) : 4 * (n))
#define FC_FILTER_PER_HEAD_MAX(op, n) ((op) == FC_OP_FORWARD ? 12 * (n) + 8 : 8 * (n) + 8)
#define FC_WORKSPACE_FIXED_MAX(op, n) ((op) == FC_OP_FORWARD ? 4 * (n) + 1024 : 0)
#define FC_WORKSPACE_PER_ROW_MAX(op, n) ((op) == FC_OP_FORWARD ? 4 * (n) : 8 * (n) + (n) / 16)
#define FC_SPLIT_MAX 4
#define FC_SPLIT_MAX_N 4096
#define FC_WORKSPACE_PER_HEAD_MAX(op, n)                                                   \
  ((op) == FC_OP_FORWARD ? 0                                                               \
   : (n) <= FC_SPLIT_MAX_N ? FC_SPLIT_MAX * (8 * (n) + 4)                                  \
                           : 8 * (n))
/* The most workspace a kernel of op may ask for p's shape at one row (B = 1, H = 1). The
   bounds grow with rows and heads alike, so a kernel whose workspace grows with the heads
   alone (a share of a head's work each, as overlap_tc's split) and stays within this (less
   the alignment of its regions) is within them at every batch: one tuned at B = 64 runs at
   B = 1. Templates see it as the problem's ws_one_row. */
int64_t fc_workspace_most_one_row(const fftconv_problem *p, int op);
/* Whether manifest m of op for shape s is within those bounds; 0 with e saying which. */
struct fc_manifest;
int fc_manifest_within_bounds(const struct fc_manifest *m, int op, const fc_shape *s,
                              fc_err *e);

/* K: filter_len, or seqlen when filter_len is 0. */
int64_t fc_filter_len(const fftconv_problem *p);

/* The FFT size of a problem already checked (no check: for lookups and ranking, which see
   only checked shapes). */
int64_t fc_fft_size_of(const fftconv_problem *p);

/* Checks p (fftconv_problem_check) and resolves it. On failure e names the field. */
fftconv_status fc_shape_resolve(const fftconv_problem *p, fc_op op, fc_shape *s, fc_err *e);

/* The smallest and largest FFT size any family of this build runs (for dtype; -1: any dtype)
   on compute capability sm (0: any); 0 when none. From a table of the families in problem.c:
   their templates decide the details through check(), the table says what to expect before
   any template runs, for problem checks and messages. */
int64_t fc_supported_min_n(int dtype, int sm);
int64_t fc_supported_max_n(int dtype, int sm);
/* The largest FFT size of a problem in mode (-1: any) with a filter of K taps that a family
   runs, those with a taps limit (runs.max_taps: direct, overlap_tc) included: they run causal
   rows past the dense families' FFT sizes, their own transforms being short. 0 when none. */
int64_t fc_supported_max_n_taps(int dtype, int sm, int mode, int64_t K);

/* The most taps a family with a taps limit runs for dtype in mode; 0 when none has one. */
int64_t fc_taps_limit(int dtype, int mode);

/* The largest FFT a family with a taps limit transforms (overlap_tc's segments; direct's
   taps are fewer): what the size bounds below use for a problem whose FFT size n is past
   every dense family's, which only those families run. */
#define FC_TAPS_FAMILY_MAX_N INT64_C(32768)
/* The workspace a row of a problem past the dense families may need with K taps of a row of
   L: direct's backward, each tile's K lag sums in fp32 (tiles of at least 1024 outputs). */
#define FC_TAPS_WORKSPACE_PER_ROW_MAX(L, K) (4 * (K) * (((L) + 1023) / 1024))
/* The FFT size the spectrum bounds use for problem p of FFT size n: n, or
   FC_TAPS_FAMILY_MAX_N past the dense families' largest (the workspace bound is then
   FC_TAPS_WORKSPACE_PER_ROW_MAX a row, and none for the forward). */
int64_t fc_bound_n(const fftconv_problem *p, int64_t n);

#endif
