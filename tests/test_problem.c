/* Problem validation: every bad field gives a message naming it, its value and the range;
   byte counts that never wrap; strict integers; problem files parsed from memory;
   FFT sizes and keys; a context on a machine without a driver says why it cannot open; the
   names of the policy enums (policy.h) and a rigor's search settings. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fftconv.h"
#include "kernel.h"
#include "plan.h"
#include "problem_file.h"
#include "search.h"
#include "verify.h"

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

/* Causal rows past the dense families' FFT sizes run with a short or partial filter (direct up
   to 64 taps, overlap_tc up to 16384 for 16-bit I/O): the check takes them, names the filter
   in its refusals, refuses a frequency mask there, and the size bounds stay those of the
   short transforms (no N-sized spectrum or workspace for a 64M row). */
Test(problem, long_rows_with_short_filters) {
  fftconv_problem p = good();
  p.dtype = FFTCONV_FP16;
  p.batch = 1;
  p.heads = 768;
  p.seqlen = (int64_t)64 << 20;
  p.filter_len = 16384;
  char msg[512] = "";
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  cr_assert_eq(fftconv_problem_fft_size(&p), (int64_t)128 << 20);
  size_t fb = fftconv_problem_filter_bytes(&p);
  cr_assert(fb > 0 && fb < ((size_t)1 << 30), "filter bytes %zu", fb);
  cr_assert_eq(fftconv_problem_workspace_bytes(&p, FFTCONV_OP_FORWARD), 0);
  p.filter_len = 16385;
  expect_bad(p, "seqlen", "with filter_len at most 16384");
  p.filter_len = 0;
  expect_bad(p, "seqlen", "1 to 2097152");
  p.filter_len = 3;
  p.seqlen = 4500000; /* N = 8M, past the dense families: direct */
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  p.freq_keep = 5;
  expect_bad(p, "freq_keep", "must be 0");
  p.freq_keep = 0;
  p.dtype = FFTCONV_FP32; /* only direct runs fp32 past 2M */
  p.filter_len = 64;
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  p.filter_len = 65;
  expect_bad(p, "seqlen", "with filter_len at most 64");
  /* circular: a power of two past 4M with a short filter (direct wraps) */
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 8388608;
  p.filter_len = 7;
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  p.filter_len = 100;
  expect_bad(p, "seqlen", "power of two from 256 to 4194304");
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
  /* with no plan: sizes 0, the prepares refuse, naming the plan */
  cr_assert_eq(fftconv_plan_filter_bytes(NULL), 0);
  cr_assert_eq(fftconv_plan_forward_filter_bytes(NULL), 0);
  cr_assert_eq(fftconv_prepare_filter_forward(NULL, (void *)16, NULL, (void *)16, NULL),
               FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(NULL), "plan: NULL"), "%s", fftconv_ctx_error(NULL));
  /* the passes of no plan: none, no name, no bytes, and a launch refused naming the plan */
  cr_assert_eq(fftconv_plan_forward_launches(NULL), 0);
  cr_assert_null(fftconv_plan_launch_name(NULL, 0));
  cr_assert_eq(fftconv_plan_launch_bytes(NULL, 0), -1);
  fftconv_args a;
  fftconv_args_init(&a);
  cr_assert_eq(fftconv_forward_launch(NULL, &a, 0, NULL), FFTCONV_ERR_INVALID);
  cr_assert(strstr(fftconv_ctx_error(NULL), "plan: NULL"), "%s", fftconv_ctx_error(NULL));
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

/* Every byte count of a problem the check accepts fits in int64 (issue 17, 11): B x H x L is
   limited to 2^48 elements, and the size functions say -1 rather than wrap. Before, rows 2^40
   of seqlen 2^21 passed the check and fc_problem_device_bytes wrapped, so the device-memory
   check could pass a problem that cannot fit. */
Test(problem, byte_sizes_never_wrap) {
  fftconv_problem p = good();
  p.batch = (int64_t)1 << 20;
  p.heads = (int64_t)1 << 20; /* 2^40 rows: allowed */
  p.seqlen = 2097152;         /* the longest causal problem */
  p.pre_gate = p.post_gate = 1;
  expect_bad(p, "batch x heads x seqlen", "2^48");
  /* the size function itself, unchecked: -1, not a wrapped count */
  cr_assert_eq(fc_problem_device_bytes(&p), -1);
  /* the largest problem accepted: 2^48 elements, counted exactly */
  p.batch = (int64_t)1 << 17;
  p.heads = (int64_t)1 << 10;
  p.seqlen = (int64_t)1 << 21;
  char msg[512] = "";
  cr_assert_eq(fftconv_problem_check(&p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  int64_t io = ((int64_t)1 << 48) * 4 * 4, k = ((int64_t)1 << 10) * ((int64_t)1 << 21) * 4;
  cr_assert_eq(fc_problem_device_bytes(&p), io + k + ((int64_t)1 << 10) * 4);
  p.batch++;
  expect_bad(p, "batch x heads x seqlen", "2^48");
  /* H reaches the kernels as a 32-bit int */
  p = good();
  p.batch = 1;
  p.heads = (int64_t)1 << 31;
  p.seqlen = 256;
  expect_bad(p, "heads", "1 to 2147483647");
  /* a manifest's sizes come from files: rows x bytes a row that wrap are -1 */
  fc_manifest m;
  memset(&m, 0, sizeof m);
  m.nws = 1;
  m.ws[0].per_row = INT64_MAX / 4;
  m.filter_per_head = INT64_MAX / 4;
  cr_assert_eq(fc_manifest_workspace_bytes(&m, (int64_t)1 << 40, 1), -1);
  cr_assert_eq(fc_manifest_workspace_offset(&m, 5, 1, 1), -1);
  cr_assert_eq(fc_manifest_filter_bytes(&m, 5), -1);
  m.ws[0].per_row = 1000;
  m.ws[0].fixed = INT64_MAX - 100; /* the alignment would carry it past */
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 0, 0), -1);
  m.ws[0].fixed = 0;
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 3, 1), 3072);
  /* and the memory floor of an unchecked problem (a cache row) is computed without a wrap */
  p = good();
  p.batch = p.heads = (int64_t)1 << 31;
  p.seqlen = (int64_t)1 << 22;
  cr_assert_gt(fc_floor_ms(&p, 1000), 0);
}

/* fc_parse_int: digits only, to the range, with the message both tools print (issue 17, 16:
   "--device 4294967296" was device 0). */
Test(problem, strict_integers) {
  struct { const char *s; int64_t lo, hi; int ok; int64_t v; } cases[] = {
      {"0", 0, 10, 1, 0},           {"10", 0, 10, 1, 10},    {"-3", -5, 5, 1, -3},
      {"11", 0, 10, 0, 0},          {"-1", 0, 10, 0, 0},     {"4294967296", 0, INT32_MAX, 0, 0},
      {"", 0, 10, 0, 0},            {"-", -5, 5, 0, 0},      {" 5", 0, 10, 0, 0},
      {"5 ", 0, 10, 0, 0},          {"+5", 0, 10, 0, 0},     {"0x5", 0, 10, 0, 0},
      {"5e0", 0, 10, 0, 0},         {"07", 0, 10, 1, 7},     {"9223372036854775807", 0, INT64_MAX, 1, INT64_MAX},
      {"9223372036854775808", 0, INT64_MAX, 0, 0},
      {"-9223372036854775808", INT64_MIN, 0, 1, INT64_MIN},
      {"-9223372036854775809", INT64_MIN, 0, 0, 0},
      {"99999999999999999999999", 1, INT64_MAX, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int64_t v = 77;
    char msg[256] = "";
    int ok = fc_parse_int(cases[i].s, cases[i].lo, cases[i].hi, &v, msg, sizeof msg);
    cr_assert_eq(ok, cases[i].ok, "'%s'", cases[i].s);
    cr_assert_eq(v, ok ? cases[i].v : 77, "'%s': %lld", cases[i].s, (long long)v);
    if (!ok) cr_assert(strstr(msg, "is not an integer"), "'%s': %s", cases[i].s, msg);
  }
  char msg[256];
  int64_t v;
  fc_parse_int("4294967296", 0, INT32_MAX, &v, msg, sizeof msg);
  cr_assert_str_eq(msg, "'4294967296' is not an integer from 0 to 2147483647");
  fc_parse_int("x", 1, INT64_MAX, &v, msg, sizeof msg);
  cr_assert_str_eq(msg, "'x' is not an integer >= 1");
  fc_parse_int("\033[2J", 1, INT64_MAX, &v, msg, sizeof msg); /* no control sequence echoed */
  cr_assert_str_eq(msg, "'\\x1b[2J' is not an integer >= 1");
  cr_assert_eq(fc_parse_int(NULL, 0, 1, &v, NULL, 0), 0);
}

/* Parses text as a problem file named "set": status, count and message. */
static fftconv_status parse(const char *text, size_t len, int *n, char *msg, size_t msglen) {
  fftconv_problem *ps = (fftconv_problem *)0x1;
  fc_err e = {{0}};
  fftconv_status st = fc_problem_file_parse(text, len, "set", &ps, n, &e);
  snprintf(msg, msglen, "%s", st == FFTCONV_OK ? "" : e.msg);
  if (st != FFTCONV_OK) cr_assert_null(ps);
  free(ps);
  return st;
}

/* The reader of problem files from memory (what a fuzz target calls), issue 17, 15: a UTF-8
   byte-order mark is skipped; a NUL byte is an error naming its line, not the silent end of
   the line; limits are checked before anything is allocated. */
Test(problem_file, parse_from_memory) {
  char msg[8192];
  int n = -1;
  static const char bom[] = "\xef\xbb\xbf--seqlen 256 --dtype fp32\r\n--seqlen 100 # c\n";
  cr_assert_eq(parse(bom, sizeof bom - 1, &n, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  cr_assert_eq(n, 2);
  /* a BOM anywhere else is a word like any other */
  static const char bom2[] = "--seqlen 256\n\xef\xbb\xbf--seqlen 100\n";
  cr_assert_eq(parse(bom2, sizeof bom2 - 1, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(msg, "set:2: '\\xef\\xbb\\xbf--seqlen' is not a problem flag");
  static const char nul[] = "--seqlen 256\n--seqlen 256\0 --dtype fp64\n";
  cr_assert_eq(parse(nul, sizeof nul - 1, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(msg, "set:2: holds a NUL byte");
  cr_assert_eq(parse("", 0, &n, msg, sizeof msg), FFTCONV_ERR_IO);
  cr_assert_str_eq(msg, "set holds no problem");
  cr_assert_eq(parse("# only\n\n  \t\n", 11, &n, msg, sizeof msg), FFTCONV_ERR_IO);
  cr_assert_eq(parse("--seqlen 300", 12, &n, msg, sizeof msg), FFTCONV_OK, "no final newline");
  cr_assert_eq(n, 1);
  struct { const char *text, *msg; } bad[] = {
      {"--seqlen\n", "set:1: --seqlen needs a value"},
      {"--batch 3\n", "set:1: --seqlen is required"},
      {"--seqlen 256 --batch 0\n", "set:1: --batch: '0' is not an integer >= 1"},
      {"--seqlen 256 --batch 99999999999999999999\n",
       "set:1: --batch: '99999999999999999999' is not an integer >= 1"},
      {"--seqlen 256 --heads 4294967296\n", "set:1: heads: 4294967296 is out of range *"},
      {"--seqlen 2097152 --batch 1048576 --heads 1048576\n",
       "set:1: batch x heads x seqlen: 1048576 x 1048576 x 2097152 is more than 2^48 *"},
      {"--seqlen 256 --dtype \033[31mred\n",
       "set:1: --dtype: '\\x1b[31mred' is not one of fp32, fp16, bf16"},
      {"seqlen 256\n", "set:1: 'seqlen' is not a problem flag"},
      {"--seqlen 256 -- \n", "set:1: '--' is not a problem flag"},
      {"--seqlen 256\v--batch 2\n", "set:1: --seqlen: '256\\x0b--batch' is not an integer >= 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cr_assert_eq(parse(bad[i].text, strlen(bad[i].text), &n, msg, sizeof msg),
                 FFTCONV_ERR_INVALID, "%s", bad[i].text);
    /* "...*": the message starts so; else it is the whole message */
    size_t k = strlen(bad[i].msg);
    int same = bad[i].msg[k - 1] == '*' ? !strncmp(msg, bad[i].msg, k - 1) : !strcmp(msg, bad[i].msg);
    cr_assert(same, "'%s': '%s', wanted '%s'", bad[i].text, msg, bad[i].msg);
  }
  /* a word of a megabyte is quoted cut, not whole */
  size_t big = 1 << 16;
  char *w = malloc(big + 1);
  memset(w, 'x', big);
  w[big] = 0;
  cr_assert_eq(parse(w, 60000, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert_lt(strlen(msg), 200, "%s", msg);
  /* a line of the limit is read (and its word refused); one over it is refused by its length,
     before it is copied */
  cr_assert_eq(parse(w, big, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert(!strncmp(msg, "set:1: 'xxx", 11), "65536 bytes are allowed: %s", msg);
  w = realloc(w, big + 2);
  memset(w, ' ', big + 1);
  cr_assert_eq(parse(w, big + 1, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(msg, "set:1: is 65537 bytes long; a line may have at most 65536");
  free(w);
  /* the count of problems is limited too */
  size_t line = strlen("--seqlen 256\n"), lines = FC_PROBLEM_FILE_MAX_PROBLEMS + 1;
  char *many = malloc(line * lines);
  for (size_t i = 0; i < lines; i++) memcpy(many + i * line, "--seqlen 256\n", line);
  cr_assert_eq(parse(many, line * (lines - 1), &n, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  cr_assert_eq(n, FC_PROBLEM_FILE_MAX_PROBLEMS);
  cr_assert_eq(parse(many, line * lines, &n, msg, sizeof msg), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(msg, "set:100001: more than 100000 problems; split the set");
  free(many);
  /* NULL text with no length is an empty set, not a crash */
  cr_assert_eq(parse(NULL, 0, &n, msg, sizeof msg), FFTCONV_ERR_IO);
}
