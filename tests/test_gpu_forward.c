/* GPU: forward against the fp64 FFTW reference through the public API (prepare_filter into a
   poisoned k_hat, forward into a NaN-poisoned y), random inputs, on the grid: N in {256, 1024,
   4096, 32768}, both modes, every dtype, gates and D on and off, B x H in {1x1, 3x5, 8x64};
   a causal L that is not a power of two, a partial filter, frequency-sparse filters; every
   candidate of monarch_fp32 for two problems, and of monarch_tc at every FFT size, both modes,
   fp16 and bf16. Skips with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"

/* Every dtype, gates+D on and off, three shapes, for one N and mode. */
static void grid(int64_t n, fftconv_mode mode) {
  fftconv_ctx *c = ctx_or_skip();
  static const int64_t shapes[][2] = {{1, 1}, {3, 5}, {8, 64}};
  for (int dt = 0; dt < 3; dt++)
    for (int g = 0; g < 2; g++)
      for (int s = 0; s < 3; s++) {
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = shapes[s][0];
        p.heads = shapes[s][1];
        p.mode = mode;
        p.seqlen = mode == FFTCONV_CIRCULAR ? n : n / 2;
        p.dtype = (fftconv_dtype)dt;
        p.pre_gate = p.post_gate = p.skip_d = g;
        check_problem(c, &p, (uint64_t)(n * 100 + dt * 10 + g * 3 + s));
      }
  fftconv_ctx_destroy(c);
}

#define GRID(n)                                                      \
  Test(gpu_forward, n##_causal) { grid(n, FFTCONV_CAUSAL); }         \
  Test(gpu_forward, n##_circular) { grid(n, FFTCONV_CIRCULAR); }
GRID(256)
GRID(1024)
GRID(4096)
GRID(32768)

/* L = 1000 (N = 2048), partial K = 17, and frequency-sparse filters, every dtype. */
Test(gpu_forward, odd_lengths_partial_and_sparse) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = 0; dt < 3; dt++) {
    fftconv_problem p;
    fftconv_problem_init(&p);
    p.batch = 3;
    p.heads = 5;
    p.seqlen = 1000;
    p.dtype = (fftconv_dtype)dt;
    p.pre_gate = p.post_gate = p.skip_d = 1;
    check_problem(c, &p, 11);
    p.filter_len = 17; /* partial: N = 1024 */
    check_problem(c, &p, 12);
    p.filter_len = 0;
    p.freq_keep = 37; /* sparse */
    check_problem(c, &p, 13);
    p.mode = FFTCONV_CIRCULAR;
    p.seqlen = 4096;
    p.freq_keep = 1;
    check_problem(c, &p, 14);
    p.filter_len = 100;
    p.freq_keep = 2049;
    check_problem(c, &p, 15);
  }
  fftconv_ctx_destroy(c);
}

/* The check must be able to fail: a filter spectrum prepared for other filter values gives a
   large error, and an unwritten (poisoned) output is caught as NaN. */
Test(gpu_forward, verification_can_fail) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = 1000;
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(c));
  fc_testdata t;
  fc_err e = {{0}};
  cr_assert_eq(fc_testdata_make(&p, 5, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK, "%s", e.msg);
  double err;
  cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_lt(err, 1e-5);
  for (size_t i = 0; i < (size_t)(p.heads * p.seqlen); i++) t.ref[i] *= 1.001; /* head 0 rows */
  cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_gt(err, 1e-5, "a wrong reference went unnoticed: %.3e", err);
  /* A forward that writes nothing: y stays NaN. */
  fftconv_args a;
  fftconv_args_init(&a);
  a.u = (void *)t.du;
  a.k_hat = (void *)t.dkhat;
  cr_assert_eq(fftconv_forward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "y: NULL"), "%s", fftconv_ctx_error(c));
  fc_testdata_free(&t);
  fftconv_plan_destroy(pl);
  fftconv_ctx_destroy(c);
}

/* Argument errors from the public API name the argument. */
Test(gpu_forward, argument_errors) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.pre_gate = p.skip_d = 1;
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(c));
  fftconv_args a = {.u = (void *)16, .k_hat = (void *)16, .y = (void *)16};
  cr_assert_eq(fftconv_forward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "args: size is 0, this library's fftconv_args has"),
            "%s", fftconv_ctx_error(c));
  a.size = sizeof a;
  cr_assert_eq(fftconv_forward(pl, &a, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "pre: NULL"), "%s", fftconv_ctx_error(c));
  cr_assert_eq(fftconv_prepare_filter(pl, (void *)16, NULL, (void *)16, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "d: NULL"), "%s", fftconv_ctx_error(c));
  fftconv_plan_destroy(pl);
  p.batch = (int64_t)1 << 18;
  p.heads = (int64_t)1 << 19; /* 2^37 rows of 1024: far beyond any device */
  cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "bytes of device memory"), "%s", fftconv_ctx_error(c));
  p.batch = (int64_t)1 << 20; /* 2^49 elements: refused before any size is computed */
  cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(c), "is more than 2^48 elements"), "%s",
            fftconv_ctx_error(c));
  fftconv_ctx_destroy(c);
}

static void every_candidate(fftconv_problem p) {
  fftconv_ctx *c = ctx_or_skip();
  every_candidate_in(c, "monarch_fp32", p);
  fftconv_ctx_destroy(c);
}

/* The tensor-core family, every variant, at one FFT size, dtype and mode (causal with an L
   that is not a multiple of 8), fp16 with gates and D, bf16 without, B = 3 and H = 5. One test
   each, so that a short device call can run a size in slices (`gpu_candidates_tc/4096_*`). */
static void tc_grid(int64_t n, fftconv_dtype dt, int circular) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.dtype = dt;
  p.mode = circular ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
  p.seqlen = circular ? n : n / 2 - 3;
  p.pre_gate = p.post_gate = p.skip_d = dt == FFTCONV_FP16;
  every_candidate_in(c, "monarch_tc", p);
  fftconv_ctx_destroy(c);
}

#define TC_GRID(n)                                                                      \
  Test(gpu_candidates_tc, n##_fp16_causal) { tc_grid(n, FFTCONV_FP16, 0); }              \
  Test(gpu_candidates_tc, n##_fp16_circular) { tc_grid(n, FFTCONV_FP16, 1); }            \
  Test(gpu_candidates_tc, n##_bf16_causal) { tc_grid(n, FFTCONV_BF16, 0); }              \
  Test(gpu_candidates_tc, n##_bf16_circular) { tc_grid(n, FFTCONV_BF16, 1); }
TC_GRID(256)
TC_GRID(512)
TC_GRID(1024)
TC_GRID(2048)
TC_GRID(4096)
TC_GRID(8192)
TC_GRID(16384)
TC_GRID(32768)

Test(gpu_candidates, causal_L1000_fp32_all_gates) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = 1000;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  every_candidate(p);
}

Test(gpu_candidates, circular_32768_fp16) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = 32768;
  p.mode = FFTCONV_CIRCULAR;
  p.dtype = FFTCONV_FP16;
  p.pre_gate = p.post_gate = 1;
  every_candidate(p);
}

/* The direct family (short filters in the time domain), every candidate against the fp64
   reference: K = 1, 3, 4, 7, 16 and 64 taps; causal at L = 1000 (not a multiple of a tile, nor
   of 8: the scalar path) and at L = 4096 (the vector path), circular at L = 1024 (the halo
   wraps to the row's end); every dtype, gates and D on for fp16 and fp32, off for bf16;
   B = 3, H = 5. */
static void direct_grid(int64_t taps) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++)
    for (int shape = 0; shape < 3; shape++) {
      fftconv_problem p;
      fftconv_problem_init(&p);
      p.batch = 3;
      p.heads = 5;
      p.dtype = (fftconv_dtype)dt;
      p.mode = shape == 2 ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
      p.seqlen = shape == 0 ? 1000 : shape == 1 ? 4096 : 1024;
      p.filter_len = taps;
      p.pre_gate = p.post_gate = p.skip_d = dt != FFTCONV_BF16;
      every_candidate_in(c, "direct", p);
    }
  fftconv_ctx_destroy(c);
}

#define DIRECT_GRID(k) \
  Test(gpu_candidates_direct, taps_##k) { direct_grid(k); }
DIRECT_GRID(1)
DIRECT_GRID(3)
DIRECT_GRID(4)
DIRECT_GRID(7)
DIRECT_GRID(16)
DIRECT_GRID(64)

/* The overlap-save family (partial causal filters), every candidate against the fp64
   reference, B = 3, H = 5: K = 1 at L = 10,001 (not a multiple of 8 nor of a segment: the
   scalar path), fp16 with gates and D; K = 100 at L = 65,536 (the vector path, several
   segments a row, groups of segment pairs), bf16; K = 1024 at both, bf16 then fp16 gated;
   K = 4099 at 65,536, fp16 gated (a filter is at most L/4 taps). */
static void overlap_check(int64_t taps, int64_t seqlen, fftconv_dtype dt) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.dtype = dt;
  p.seqlen = seqlen;
  p.filter_len = taps;
  p.pre_gate = p.post_gate = p.skip_d = dt == FFTCONV_FP16;
  every_candidate_in(c, "overlap_tc", p);
  fftconv_ctx_destroy(c);
}

Test(gpu_candidates_overlap, taps_1) { overlap_check(1, 10001, FFTCONV_FP16); }
Test(gpu_candidates_overlap, taps_100) { overlap_check(100, 65536, FFTCONV_BF16); }
Test(gpu_candidates_overlap, taps_1024_odd) { overlap_check(1024, 10001, FFTCONV_BF16); }
Test(gpu_candidates_overlap, taps_1024) { overlap_check(1024, 65536, FFTCONV_FP16); }
Test(gpu_candidates_overlap, taps_4099) { overlap_check(4099, 65536, FFTCONV_FP16); }

/* monarch_tc's banded candidates (a low-pass mask: the row pass computes only the columns it
   keeps), every one against the fp64 reference, B = 3, H = 5: F = N/8 at circular 4096, fp16
   gated with D (D v added at the store); F = 1000 at causal L = 4093 (N = 8192: the band's edge columns partly masked), bf16;
   F = 100 at circular 1024, fp16 gated with D; F = 4096 at causal L = 16381 (N = 32768), fp16. */
static void band_check(int64_t seqlen, fftconv_mode mode, int64_t keep, fftconv_dtype dt,
                       int gates) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.dtype = dt;
  p.mode = mode;
  p.seqlen = seqlen;
  p.freq_keep = keep;
  p.pre_gate = p.post_gate = p.skip_d = gates;
  every_candidate_with(c, "monarch_tc", p, "\"band\"");
  fftconv_ctx_destroy(c);
}

Test(gpu_candidates_band, circular_4096) { band_check(4096, FFTCONV_CIRCULAR, 512, FFTCONV_FP16, 1); }
Test(gpu_candidates_band, causal_4093) { band_check(4093, FFTCONV_CAUSAL, 1000, FFTCONV_BF16, 0); }
Test(gpu_candidates_band, circular_1024) { band_check(1024, FFTCONV_CIRCULAR, 100, FFTCONV_FP16, 1); }
Test(gpu_candidates_band, causal_16381) { band_check(16381, FFTCONV_CAUSAL, 4096, FFTCONV_FP16, 0); }
