/* verify: random inputs for a problem, the FFTW reference, device buffers, and the two
 * checks every candidate goes through: verify (poisoned output, relative L2 error against the
 * fp64 reference) and time (warm-up, CUDA events, L2 scrubbed between runs, median and
 * spread). Callers: the tuner, the GPU tests, the benchmarks. One thread at a time. */
#ifndef FC_VERIFY_H
#define FC_VERIFY_H

#include "plan.h"

typedef struct fc_testdata {
  fftconv_problem p;
  int op;                     /* the op (shape.h) whose reference ref is */
  size_t n;                   /* B * H * L */
  int64_t klen;               /* K */
  double *u, *pre, *post;     /* host, rounded to the I/O dtype; gates NULL when absent */
  double *k, *d;              /* host, rounded to fp32; d NULL when absent */
  double *ref;                /* the fp64 reference output */
  CUdeviceptr du, dpre, dpost, dk, dd, dy, dkhat, dscrub, dws;
  size_t khat_bytes, scrub_bytes, ws_bytes; /* dws: the plan's workspace, grown on demand */
  /* op backward: the gradient of y (host dy_host, device ddy_in), the fp64 reference
     gradients (du, dpre, dpost, dk, dd; NULL where the problem has no such output; ref stays
     NULL) and the device outputs they are checked against */
  double *dy_host, *gref[5];
  CUdeviceptr ddy_in, dgrad[5];
  size_t grad_n[5];
  double grad_err[5]; /* the last fc_verify_backward's error of each (-1: not an output) */
} fc_testdata;

/* Random inputs (uniform in [-1, 1), never zeros; the filter scaled by 1/sqrt(K)) from seed.
   FC_TD_REFERENCE keeps them on the host with the fp64 reference output (for checks);
   FC_TD_DEVICE uploads them. Device data without a reference (timing a large shape) is
   generated in chunks and keeps no host copy. */
enum { FC_TD_REFERENCE = 1, FC_TD_DEVICE = 2 };
fftconv_status fc_testdata_make(const fftconv_problem *p, uint64_t seed, int flags,
                                fc_testdata *t, fc_err *e);
/* The same; with g, FC_TD_DEVICE data without FC_TD_REFERENCE is drawn on g's device (a
   hash of the index: fast for the large shapes that are only timed). */
fftconv_status fc_testdata_make_on(const fc_gpu *g, const fftconv_problem *p, uint64_t seed,
                                   int flags, fc_testdata *t, fc_err *e);
/* The same for an op (shape.h): ref is the op table's reference (fc_op_def.reference; the
   FFTW one for forward). fc_testdata_make_on is this for FC_OP_FORWARD. */
fftconv_status fc_testdata_make_op(const fc_gpu *g, int op, const fftconv_problem *p,
                                   uint64_t seed, int flags, fc_testdata *t, fc_err *e);
void fc_testdata_free(fc_testdata *t);

/* prepare_filter into a poisoned k_hat, forward into a NaN-poisoned y, relative L2 error of
   y against the reference (+inf if any element is NaN or unwritten). A plan of op backward
   is run backward into NaN-poisoned outputs (every one the problem has) and the error is the
   largest of the five gradients'. */
fftconv_status fc_verify_plan(const fftconv_plan *pl, fc_testdata *t, double *rel_err, fc_err *e);

/* The backward of pl (a forward plan's, or a backward plan itself) on t (made for op
   backward) into NaN-poisoned outputs: the largest relative error of the gradients the
   problem has; each one's in t->grad_err (du, dpre, dpost, dk, dd), to say which. */
fftconv_status fc_verify_backward(const fftconv_plan *pl, fc_testdata *t, double *rel_err,
                                  fc_err *e);

/* One forward of pl on t's device buffers (u, gates, k_hat, y; the workspace allocated as
   the plan needs), on the default stream. */
fftconv_status fc_testdata_forward(const fftconv_plan *pl, fc_testdata *t, fc_err *e);

typedef struct fc_timing {
  double median_ms, p10_ms, p90_ms;
  int runs;
} fc_timing;
/* forward (backward, for a plan of that op, every output asked for) timed with CUDA events,
   `runs` times after `warmup`, the L2 scrubbed before each. */
fftconv_status fc_time_plan(const fftconv_plan *pl, fc_testdata *t, int warmup, int runs,
                            fc_timing *out, fc_err *e);

/* Each forward launch of the plan alone (after one whole forward, so that its inputs hold
   data), timed the same way: out[i] for launch i of the manifest, zero for prepare launches.
   With fc_manifest_launch_bytes, what each pass of a multi-pass kernel costs. */
fftconv_status fc_time_launches(const fftconv_plan *pl, fc_testdata *t, int warmup, int runs,
                                fc_timing out[FC_MAX_LAUNCHES], fc_err *e);
/* The same method for any sequence of launches: fn(arg) enqueues one run on the default
   stream. The L2 is scrubbed through t's scrub buffer before each run. */
typedef fftconv_status (*fc_run_fn)(void *arg, fc_err *e);
fftconv_status fc_time_call(fc_run_fn fn, void *arg, fc_testdata *t, int warmup, int runs,
                            fc_timing *out, fc_err *e);

/* Accuracy bound for an I/O dtype: fp32 1e-5, fp16 1e-3, bf16 8e-3. */
double fc_tolerance(fftconv_dtype d);

/* The bytes that must move (u, gates and y once each) and the floor time at `gbps` GB/s. */
double fc_floor_ms(const fftconv_problem *p, double gbps);
/* The same for an op: backward moves u, dy and du, and each gate and its gradient (dk and dd
   are per head: not counted). */
double fc_floor_ms_op(const fftconv_problem *p, int op, double gbps);

#endif
