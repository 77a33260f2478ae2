/* gpu_check.h: what the GPU forward tests share: a context or a skip with a message where no
   GPU is present, and one problem planned through the public API and checked against the fp64
   reference (poisoned k_hat, workspace and y; random inputs), asserting the dtype's
   tolerance; and every candidate of a family's exhaustive space for a problem, the same way. */
#ifndef FC_TEST_GPU_CHECK_H
#define FC_TEST_GPU_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

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

/* Every candidate the family enumerates for a problem (the exhaustive space: every variant
   the tuner can choose) verifies, not only the winner. */
/* Every valid candidate of `family` for p whose parameters hold `want` (NULL: all), compiled,
   run into a poisoned output and checked against the fp64 reference. */
static inline void every_candidate_with(fftconv_ctx *c, const char *family, fftconv_problem p,
                                        const char *want) {
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  fc_emit *em;
  fc_err e = {{0}};
  cr_assert_eq(fc_ctx_emit(c, &em), FFTCONV_OK);
  fc_candidate *cl;
  int ncl;
  cr_assert_eq(fc_emit_space(em, family, &p, &c->gpu.info, FC_RIGOR_EXHAUSTIVE, &cl, &ncl, &e), FFTCONV_OK,
               "%s", e.msg);
  fc_kernel_src *src = calloc((size_t)ncl, sizeof *src);
  fc_binary *bin = calloc((size_t)ncl, sizeof *bin);
  fftconv_status *st = calloc((size_t)ncl, sizeof *st);
  int n = 0;
  for (int i = 0; i < ncl; i++)
    if (!cl[i].reason && (!want || strstr(cl[i].params, want))) {
      cr_assert_eq(fc_emit_kernel(em, family, cl[i].params, &c->gpu.info, &src[n], &e),
                   FFTCONV_OK, "%s", e.msg);
      n++;
    }
  const char **srcs = calloc((size_t)n + 1, sizeof *srcs), **names = calloc((size_t)n + 1, sizeof *names);
  for (int i = 0; i < n; i++) srcs[i] = src[i].source, names[i] = src[i].name;
  cr_assert_gt(n, 0, "%s: no %s candidate", key, family);
  fc_compile_all(srcs, names, n, c->arch, 16, bin, st);
  free(srcs), free(names);
  fc_testdata t;
  cr_assert_eq(fc_testdata_make(&p, 99, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK, "%s", e.msg);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_eq(st[i], FFTCONV_OK, "%s: %s does not compile:\n%s", key, src[i].params, bin[i].log);
    fftconv_plan *pl;
    cr_assert_eq(fc_plan_from_binary(c, &p, &src[i], &bin[i], "candidate", &pl), FFTCONV_OK,
                 "%s", fftconv_ctx_error(c));
    double err;
    cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert(err <= fc_tolerance(p.dtype), "%s: %s: error %.3e", key, fftconv_plan_describe(pl), err);
    if (err > worst) worst = err;
    fftconv_plan_destroy(pl);
    fc_kernel_src_free(&src[i]);
    fc_binary_free(&bin[i]);
  }
  cr_log_info("%s: %d %s candidates%s%s verified, worst error %.2e", key, n, family,
              want ? " with " : "", want ? want : "", worst);
  fc_testdata_free(&t);
  free(src);
  free(bin);
  free(st);
  fc_candidates_free(cl, ncl);
}

static inline void every_candidate_in(fftconv_ctx *c, const char *family, fftconv_problem p) {
  every_candidate_with(c, family, p, NULL);
}

#endif
