/* gpu_check.h: what the GPU forward tests share: a context or a skip with a message where no
   GPU is present, and one problem planned through the public API and checked against the fp64
   reference (poisoned k_hat, workspace and y; random inputs), asserting the dtype's
   tolerance. */
#ifndef FC_TEST_GPU_CHECK_H
#define FC_TEST_GPU_CHECK_H

#include <criterion/criterion.h>
#include <math.h>

#include "candidate.h"
#include "verify.h"

static inline fftconv_ctx *ctx_or_skip(void) {
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(NULL, &c) != FFTCONV_OK)
    cr_skip_test("no GPU: %s", fftconv_ctx_error(NULL));
  return c;
}

/* The relative error of p's plan on inputs from seed; logged with the plan at info level. */
static inline double check_problem(fftconv_ctx *c, const fftconv_problem *p, uint64_t seed) {
  char key[256];
  fftconv_problem_key(p, key, sizeof key);
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, p, &pl), FFTCONV_OK, "%s: %s", key, fftconv_ctx_error(c));
  fc_testdata t;
  fc_err e = {{0}};
  cr_assert_eq(fc_testdata_make(p, seed, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK,
               "%s: %s", key, e.msg);
  double err = INFINITY;
  cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s: %s", key, e.msg);
  cr_assert(err <= fc_tolerance(p->dtype), "%s: relative error %.3e > %.0e with %s", key, err,
            fc_tolerance(p->dtype), fftconv_plan_describe(pl));
  cr_log_info("%s: error %.2e with %s", key, err, fftconv_plan_describe(pl));
  fc_testdata_free(&t);
  fftconv_plan_destroy(pl);
  return err;
}

#endif
