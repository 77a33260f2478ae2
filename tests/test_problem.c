/* Problem validation: every bad field gives a message naming it, its value and the range;
   FFT sizes and keys; a context on a machine without a driver says why it cannot open; the
   names of the policy enums (policy.h) and a rigor's search settings. */
#include <criterion/criterion.h>
#include <string.h>

#include "fftconv.h"
#include "search.h"

static fftconv_problem good(void) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = 1000;
  return p;
}

static void expect_bad(fftconv_problem p, const char *field, const char *range) {
  char msg[512] = "";
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_ERR_INVALID, "%s accepted", field);
  cr_assert(strncmp(msg, field, strlen(field)) == 0, "message '%s' does not start with '%s'", msg, field);
  cr_assert(strstr(msg, range), "message '%s' lacks the range '%s'", msg, range);
  cr_assert_eq(fftconv_problem_fft_size(&p), 0);
}

Test(problem, good_problems_pass) {
  fftconv_problem p = good();
  char msg[256] = "untouched";
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 32768;
  cr_assert_eq(fftconv_problem_check(&p, NULL, 0), FFTCONV_OK);
  p.seqlen = 4194304; /* the long family's largest FFT */
  cr_assert_eq(fftconv_problem_check(&p, NULL, 0), FFTCONV_OK);
  p.mode = FFTCONV_CAUSAL;
  p.seqlen = 2097152;
  cr_assert_eq(fftconv_problem_check(&p, NULL, 0), FFTCONV_OK);
  p.seqlen = 100003;
  cr_assert_eq(fftconv_problem_check(&p, NULL, 0), FFTCONV_OK);
}

Test(problem, each_bad_field_is_named) {
  fftconv_problem p = good();
  p.batch = 0;
  expect_bad(p, "batch", ">= 1");
  p = good();
  p.heads = -4;
  expect_bad(p, "heads", ">= 1");
  p = good();
  p.seqlen = 0;
  expect_bad(p, "seqlen", ">= 1");
  p = good();
  p.seqlen = 2097153;
  expect_bad(p, "seqlen", "1 to 2097152");
  p = good();
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 1000;
  expect_bad(p, "seqlen", "power of two from 256 to 4194304");
  p.seqlen = 8388608;
  expect_bad(p, "seqlen", "power of two from 256 to 4194304");
  p.seqlen = 100000;
  expect_bad(p, "seqlen", "power of two from 256 to 4194304");
  p = good();
  p.filter_len = 1001;
  expect_bad(p, "filter_len", "1 to seqlen = 1000");
  p.filter_len = -1;
  expect_bad(p, "filter_len", "1 to seqlen");
  p = good();
  p.freq_keep = 1026; /* N = 2048 */
  expect_bad(p, "freq_keep", "1 to N/2 + 1 = 1025");
  p = good();
  p.dtype = (fftconv_dtype)7;
  expect_bad(p, "dtype", "fp32, fp16, bf16");
  p = good();
  p.mode = (fftconv_mode)3;
  expect_bad(p, "mode", "causal, circular");
  p = good();
  p.post_gate = 2;
  expect_bad(p, "gate flags", "0 or 1");
  p = good();
  p.batch = (int64_t)1 << 30;
  p.heads = (int64_t)1 << 20;
  expect_bad(p, "batch x heads", "2^40");
}

Test(problem, fft_size) {
  fftconv_problem p = good();
  cr_assert_eq(fftconv_problem_fft_size(&p), 2048); /* L + K - 1 = 1999 */
  p.filter_len = 17;
  cr_assert_eq(fftconv_problem_fft_size(&p), 1024); /* 1016 */
  p.seqlen = 10;
  p.filter_len = 3;
  cr_assert_eq(fftconv_problem_fft_size(&p), 256); /* the smallest size */
  p.seqlen = 16384;
  p.filter_len = 0;
  cr_assert_eq(fftconv_problem_fft_size(&p), 32768);
  p.seqlen = 1000000;
  p.filter_len = 4099; /* L + K - 1 = 1004098 */
  cr_assert_eq(fftconv_problem_fft_size(&p), 1048576);
  p.seqlen = 2097152;
  p.filter_len = 0;
  cr_assert_eq(fftconv_problem_fft_size(&p), 4194304);
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 4096;
  cr_assert_eq(fftconv_problem_fft_size(&p), 4096);
}

Test(problem, key_is_canonical) {
  fftconv_problem p = good();
  p.dtype = FFTCONV_BF16;
  p.pre_gate = 1;
  p.skip_d = 1;
  char key[256];
  int n = fftconv_problem_key(&p, key, sizeof key);
  cr_assert_str_eq(key, "B3.H5.L1000.K1000.F0.bf16.causal.pre.nopost.d");
  cr_assert_eq(n, (int)strlen(key));
  p.filter_len = 1000; /* K = 0 and K = L are the same problem */
  fftconv_problem_key(&p, key, sizeof key);
  cr_assert_str_eq(key, "B3.H5.L1000.K1000.F0.bf16.causal.pre.nopost.d");
}

Test(problem, names_and_statuses) {
  cr_assert_str_eq(fftconv_dtype_name(FFTCONV_FP16), "fp16");
  cr_assert_str_eq(fftconv_mode_name(FFTCONV_CIRCULAR), "circular");
  cr_assert_eq(fftconv_dtype_size(FFTCONV_BF16), 2);
  cr_assert_str_eq(fftconv_status_string(FFTCONV_ERR_COMPILE), "compile error");
  cr_assert_str_eq(fftconv_status_string((fftconv_status)99), "unknown status");
}

/* On a machine with no driver the context says so; with one, it opens and describes it. */
Test(context, create_says_why_it_cannot_open) {
  fftconv_ctx *c = (fftconv_ctx *)0x1;
  fftconv_status st = fftconv_ctx_create(NULL, &c);
  if (st == FFTCONV_OK) {
    cr_assert(strstr(fftconv_ctx_device(c), "sm_"), "%s", fftconv_ctx_device(c));
    fftconv_ctx_destroy(c);
    fftconv_ctx_options o;
    fftconv_ctx_options_init(&o);
    o.device = 9999;
    cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_ERR_NO_DEVICE);
    cr_assert_null(c);
    cr_assert(strstr(fftconv_ctx_error(NULL), "9999"), "%s", fftconv_ctx_error(NULL));
    return;
  }
  cr_assert(st == FFTCONV_ERR_NO_DRIVER || st == FFTCONV_ERR_NO_DEVICE, "status %d", st);
  cr_assert_null(c);
  cr_assert(strstr(fftconv_ctx_error(NULL), "no CUDA driver") ||
                strstr(fftconv_ctx_error(NULL), "CUDA_ERROR"),
            "%s", fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(NULL);
  fftconv_plan_destroy(NULL);
}

/* Rigor names are the flags' and the cache's words; every name parses back to its value. */
Test(policy, rigor_names_and_defaults) {
  const char *names[] = {"estimate", "sample", "measure", "exhaustive"};
  for (int i = 0; i < FC_RIGOR_COUNT; i++) {
    fc_rigor r = (fc_rigor)-1;
    cr_assert_str_eq(fc_rigor_name((fc_rigor)i), names[i]);
    cr_assert(fc_rigor_parse(names[i], &r));
    cr_assert_eq(r, (fc_rigor)i);
  }
  cr_assert_str_eq(fc_rigor_name((fc_rigor)FC_RIGOR_COUNT), "?");
  fc_rigor r = FC_RIGOR_SAMPLE;
  cr_assert_not(fc_rigor_parse("Measure", &r));
  cr_assert_not(fc_rigor_parse("", &r));
  cr_assert_not(fc_rigor_parse(NULL, &r));
  cr_assert_eq(r, FC_RIGOR_SAMPLE, "a failed parse leaves *out alone");

  /* The one place a rigor becomes numbers: measure screens and cuts, the others time all. */
  fc_search_opts o;
  fc_search_defaults(FC_RIGOR_MEASURE, &o);
  cr_assert_eq(o.rigor, FC_RIGOR_MEASURE);
  cr_assert_eq(o.runs, 30);
  cr_assert_eq(o.warmup, 5);
  cr_assert_eq(o.quick_runs, 3);
  cr_assert_eq(o.finalists, FC_CACHE_FINALISTS);
  cr_assert_float_eq(o.screen, 1.5, 0);
  cr_assert_float_eq(o.cutoff, 1.5, 0);
  cr_assert_geq(o.jobs, 1);
  cr_assert_null(o.cache);
  cr_assert_null(o.tmpl);
  fc_search_defaults(FC_RIGOR_EXHAUSTIVE, &o);
  cr_assert_eq(o.rigor, FC_RIGOR_EXHAUSTIVE);
  cr_assert_eq(o.runs, 30);
  cr_assert_eq(o.quick_runs, 0);
  cr_assert_float_eq(o.screen, 0, 0);
  cr_assert_float_eq(o.cutoff, 0, 0);
}

/* A result's status has the name the tables, progress lines and the cache's status column
   have always shown; only ok and the failures are measurements the cache stores. */
Test(policy, result_status_names) {
  struct { fc_result_status s; const char *name; int measured; } want[] = {
      {FC_RESULT_PENDING, "pending", 0},
      {FC_RESULT_COMPILED, "compiled", 0},
      {FC_RESULT_OK, "ok", 1},
      {FC_RESULT_COMPILE_FAILED, "compile-failed", 1},
      {FC_RESULT_VERIFY_FAILED, "verify-failed", 1},
      {FC_RESULT_LAUNCH_FAILED, "launch-failed", 1},
      {FC_RESULT_CACHED, "cached", 0},
      {FC_RESULT_NOT_RUN, "not-run", 0},
      {FC_RESULT_SCREENED, "screened", 0},
  };
  cr_assert_eq(sizeof want / sizeof *want, FC_RESULT_STATUS_COUNT);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    cr_assert_str_eq(fc_result_status_name(want[i].s), want[i].name);
    cr_assert_eq(fc_result_status_measured(want[i].s), want[i].measured, "%s", want[i].name);
  }
  cr_assert_str_eq(fc_result_status_name((fc_result_status)FC_RESULT_STATUS_COUNT), "?");
  fc_result r;
  memset(&r, 0, sizeof r);
  cr_assert_eq(r.status, FC_RESULT_PENDING, "a zeroed result waits");
}
