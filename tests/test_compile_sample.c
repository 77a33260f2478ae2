/* The sampled compile check CI runs (the exhaustive sweep is test_compile_all, label
   compile-all): for every family and for sm_80 and sm_90, at every FFT size from 256 to 4M
   (the default set's sizes and the long set's),
   - the default choice of each of fftconv-tune's default problems of that size (B=64, H=768,
     gated, fp16 and bf16) that the family runs, and
   - the sample (sample.h: the default plus candidates until every factorization and every
     value of every other parameter has appeared) of one problem of that size, whose dtype,
     gates and mode rotate with the size so that each dtype the family runs and each
     combination of gates appear,
   compile with NVRTC and carry both entries; the same for the backward of every family that
   declares it (op backward). New families are covered without a change here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_space.h"
#include "emit.h"
#include "gpu.h"
#include "sample.h"
#include "shape.h"

static fftconv_problem problem(int64_t n, int dtype, int pre, int post, int causal) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 64;
  p.heads = 768;
  p.dtype = (fftconv_dtype)dtype;
  p.mode = causal ? FFTCONV_CAUSAL : FFTCONV_CIRCULAR;
  p.seqlen = causal ? n / 2 : n; /* the same FFT size either way */
  p.pre_gate = pre;
  p.post_gate = post;
  return p;
}

typedef struct plist {
  char *p[4096];
  int n;
} plist;

/* Adds params (taking it) unless the list has it already. */
static void add(plist *l, char *params) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->p[i], params)) {
      free(params);
      return;
    }
  cr_assert_lt(l->n, 4096);
  l->p[l->n++] = params;
}

static void compile_sampled(int sm) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(sm, &dev));
  for (int t = 0; t < fc_emit_template_count(em); t++) {
    const char *fam = fc_emit_template_name(em, t);
    int sampled = 0, defaults = 0, total = 0;
    int64_t i = 0;
    for (int64_t n = 256; n <= 4194304; n *= 2, i++) {
      plist *l = calloc(1, sizeof *l);
      for (int op = FC_OP_FORWARD; op <= FC_OP_BACKWARD; op++) {
        int runs[3], nrun = 0;
        for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++) {
          fftconv_problem p = problem(n, dt, 1, 1, 0);
          char *params = NULL;
          fftconv_status st = fc_emit_default_op(em, fam, op, &p, &dev, &params, &e);
          if (st == FFTCONV_ERR_UNSUPPORTED) continue;
          cr_assert_eq(st, FFTCONV_OK, "%s N=%lld op %d: %s", fam, (long long)n, op, e.msg);
          runs[nrun++] = dt;
          if (dt == FFTCONV_FP32) free(params); /* not in the default set */
          else add(l, params), defaults++;
        }
        if (nrun) {
          int g = (int)(i % 4);
          fftconv_problem p = problem(n, runs[(i + i / 4) % nrun], g & 1, g >> 1, (int)(i / 2) % 2);
          fc_candidate *c = NULL;
          int nc = 0;
          cr_assert_eq(fc_sample_space_op(em, fam, op, &p, &dev, &c, &nc, &e), FFTCONV_OK, "%s",
                       e.msg);
          cr_assert_gt(nc, 0, "%s N=%lld op %d: an empty sample", fam, (long long)n, op);
          sampled += nc;
          for (int j = 0; j < nc; j++) add(l, strdup(c[j].params));
          fc_candidates_free(c, nc);
        }
      }
      char what[32];
      snprintf(what, sizeof what, "N=%lld", (long long)n);
      total += compile_list(em, fam, l->p, l->n, &dev, what);
      for (int j = 0; j < l->n; j++) free(l->p[j]);
      free(l);
    }
    cr_log_info("%s sm_%d: %d kernels compiled (%d sampled, %d defaults)", fam, sm, total,
                sampled, defaults);
  }
  fc_emit_close(em);
}

Test(compile_sample, sm80) { compile_sampled(80); }
Test(compile_sample, sm90) { compile_sampled(90); }

/* Every `every`-th valid candidate of monarch_tc's exhaustive space for p and op whose
   parameters hold `want` (NULL: any), compiled with NVRTC; at least one when `must`. How many. */
static int compile_every(fc_emit *em, int op, const fftconv_problem *p, const fc_device_info *dev,
                         const char *want, int every, int must, const char *what) {
  fc_err e = {{0}};
  fc_candidate *c = NULL;
  int nc = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", op, p, dev, FC_RIGOR_EXHAUSTIVE, &c, &nc, &e),
               FFTCONV_OK, "%s", e.msg);
  plist *l = calloc(1, sizeof *l);
  for (int j = 0, valid = 0; j < nc; j++)
    if (!c[j].reason && (!want || strstr(c[j].params, want)) && valid++ % every == 0)
      add(l, strdup(c[j].params));
  fc_candidates_free(c, nc);
  if (must) cr_assert_gt(l->n, 0, "%s: no candidate", what);
  int total = l->n ? compile_list(em, "monarch_tc", l->p, l->n, dev, what) : 0;
  for (int j = 0; j < l->n; j++) free(l->p[j]);
  free(l);
  return total;
}

/* monarch_tc's backward, more widely than the samples above (the default and a covering
   sample at each size): every third valid candidate of its
   exhaustive space at each size it runs, 256 to 16K (there, the workspace sum only), both
   dtypes and modes, gated or not. */
Test(compile_sample, tc_backward) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  int total = 0;
  for (int64_t n = 256, i = 0; n <= 16384; n *= 2, i++) { /* 16K: the workspace sum only */
    fftconv_problem p = problem(n, i % 2 ? FFTCONV_BF16 : FFTCONV_FP16, (int)(i % 2), 1, (int)i % 2);
    char what[32];
    snprintf(what, sizeof what, "backward N=%lld", (long long)n);
    total += compile_every(em, FC_OP_BACKWARD, &p, &dev, NULL, 3, 1, what);
  }
  cr_log_info("monarch_tc backward: %d kernels compiled", total);
  fc_emit_close(em);
}

/* monarch_tc's banded candidates (a low-pass mask, freq_keep N/8, no D): every tenth valid one
   of its exhaustive space at each size, 256 to 32K, both dtypes and modes, for sm_90. */
Test(compile_sample, tc_band) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  int total = 0;
  for (int64_t n = 256, i = 0; n <= 32768; n *= 2, i++) {
    fftconv_problem p = problem(n, i % 2 ? FFTCONV_BF16 : FFTCONV_FP16, 1, (int)(i % 2), (int)(i / 2) % 2);
    p.freq_keep = n / 8;
    char what[32];
    snprintf(what, sizeof what, "band N=%lld", (long long)n);
    total += compile_every(em, FC_OP_FORWARD, &p, &dev, "\"band\"", 10, n >= 1024, what);
  }
  cr_log_info("monarch_tc banded: %d kernels compiled", total);
  fc_emit_close(em);
}
