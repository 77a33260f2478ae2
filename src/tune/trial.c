/* trial: one candidate on the GPU, for the search: verified on the miniature, timed on the
   full shape, and whether its failure lost the context (trial.h). */
#include "trial.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "candidate.h"
#include "plan.h"

#define VERIFY_GROUP 4 /* rows a group when a grouped candidate is verified */

/* After r failed to run: whether the context survived. An error a launch left pending is
   returned by one synchronize and cleared; a fault in the kernel (an illegal address, a trap)
   is sticky and every later call fails, which would fail every candidate after r. Then r's
   detail says so and the search stops (the search's error), r stored as the failure it is. */
static int context_lost(fc_result *r) {
  if (fc_cu.CtxSynchronize() == CUDA_SUCCESS) return 0;
  CUresult again = fc_cu.CtxSynchronize();
  if (again == CUDA_SUCCESS) return 0;
  fc_err why = {{0}};
  fc_cuda_check(again, "cuCtxSynchronize", &why);
  size_t k = strlen(r->detail);
  snprintf(r->detail + k, sizeof r->detail - k, "; the GPU context is lost (%.200s)", why.msg);
  return 1;
}

int fc_trial_verify(fftconv_ctx *ctx, int op, const fftconv_problem *mini, fc_testdata *small,
                    fc_result *r) {
  double tol = fc_tolerance(mini->dtype);
  fc_err e = {{0}};
  fftconv_plan *vp = NULL;
  r->err = INFINITY;
  fftconv_status st = fc_plan_from_binary_op(ctx, op, mini, &r->src, &r->bin, "candidate", &vp);
  if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
  /* A row group is as large as the L2 cache holds, more rows than the miniature has: the
     miniature runs in groups of 4 rows (the last fewer) instead, so that the grouped launches
     (rows and row0 a group's, the workspace reused) are what is verified. */
  if (st == FFTCONV_OK && vp->manifest.row_group > VERIFY_GROUP)
    vp->manifest.row_group = VERIFY_GROUP;
  if (st == FFTCONV_OK) st = fc_verify_plan(vp, small, &r->err, &e);
  int lost = 0;
  if (st != FFTCONV_OK) {
    r->status = FC_RESULT_LAUNCH_FAILED;
    snprintf(r->detail, sizeof r->detail, "%.250s", e.msg);
    lost = context_lost(r);
  } else if (!(r->err <= tol)) {
    r->status = FC_RESULT_VERIFY_FAILED;
    snprintf(r->detail, sizeof r->detail, "relative error %.2e > %.0e", r->err, tol);
  } else {
    r->status = FC_RESULT_OK;
  }
  fftconv_plan_destroy(vp);
  return lost;
}

int fc_trial_time(fftconv_ctx *ctx, int op, const fftconv_problem *p, fc_testdata *full,
                  int warmup, int runs, fc_result *r) {
  fc_err e = {{0}};
  fftconv_plan *tp = NULL;
  fftconv_status st = fc_plan_from_binary_op(ctx, op, p, &r->src, &r->bin, "candidate", &tp);
  if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
  else st = fc_time_plan(tp, full, warmup, runs, &r->t, &e);
  int lost = 0;
  if (st != FFTCONV_OK) {
    r->status = FC_RESULT_LAUNCH_FAILED;
    snprintf(r->detail, sizeof r->detail, "%.250s", e.msg);
    lost = context_lost(r);
  }
  fftconv_plan_destroy(tp);
  return lost;
}

