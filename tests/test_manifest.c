/* test_manifest: the launch manifest's JSON form, its checks and its sizes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "shape.h"

static fc_manifest two(void) {
  fc_manifest m;
  fc_manifest_two_launch(&m, "fftconv_fwd", 256, 20480, 2, "fftconv_prep", 128, 0, 1, 4097, 0,
                         "monarch_fp32.v1");
  return m;
}

Test(manifest, two_launch_round_trips) {
  fc_manifest m = two(), back;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_check(&m, &e), FFTCONV_OK, "%s", e.msg);
  char *j = fc_manifest_json(&m);
  cr_assert_not_null(j);
  cr_assert_eq(fc_manifest_parse(j, &back, &e), FFTCONV_OK, "%s: %s", e.msg, j);
  cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parse(json(m)) differs from m: %s", j);
  char *j2 = fc_manifest_json(&back);
  cr_assert_str_eq(j, j2);
  cr_assert(strstr(j, "\"args\":[\"u\",\"pre\",\"post\",\"k_hat\",\"y\",\"rows\",\"L\",\"H\"]"), "%s", j);
  cr_assert_eq(fc_manifest_filter_bytes(&m, 5), 5 * 4097 * 8);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 100, 7), 0);
  cr_assert_eq(fc_manifest_max_smem(&m, FC_PHASE_FORWARD), 20480);
  free(j);
  free(j2);
}

/* Keys in byte order, as json.lua writes them, empty lists as {}, defaults omitted. */
Test(manifest, template_form) {
  const char *j =
      "{\"filter\":{\"layout\":\"x\",\"per_head\":64},\"launches\":[{\"args\":[\"u\",\"y\","
      "\"ws:a\",\"rows\"],\"block\":[128,1,1],\"cluster\":[2,1,1],\"entry\":\"f\",\"grid\":{"
      "\"over\":\"rows\",\"per\":1},\"phase\":\"forward\",\"reads\":[\"u\"],\"smem\":0,"
      "\"writes\":[\"y\",\"ws:a\"]}],\"version\":1,\"workspace\":[{\"fixed\":10,\"name\":\"a\","
      "\"per_row\":1000},{\"fixed\":0,\"name\":\"b\",\"per_row\":8}]}";
  fc_manifest m;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(j, &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.nlaunch, 1);
  cr_assert_eq(m.launch[0].cluster[0], 2);
  cr_assert_eq(m.launch[0].grid_y, 1);
  cr_assert_eq(m.launch[0].args[2], FC_ARG_WS);
  cr_assert_eq(m.nws, 2);
  /* region a: 10 + 3 * 1000 = 3010 -> 3072; b starts there: 3072 + 24 -> 3328 */
  cr_assert_eq(m.ws[0].per_head, 0); /* absent: 0 */
  cr_assert_eq(fc_manifest_workspace_offset(&m, 3, 5, 1), 3072);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 3, 5), 3328);
  const char *empty = "{\"filter\":{\"layout\":\"x\",\"per_head\":8},\"launches\":[{\"args\":{},"
                      "\"block\":[1,1,1],\"entry\":\"f\",\"grid\":{\"over\":\"one\",\"per\":1},"
                      "\"phase\":\"forward\",\"reads\":{},\"smem\":0,\"writes\":{}}],"
                      "\"version\":1,\"workspace\":{}}";
  cr_assert_eq(fc_manifest_parse(empty, &m, &e), FFTCONV_OK, "%s", e.msg);
}

static void refused(const char *json, const char *why) {
  fc_manifest m;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(json, &m, &e), FFTCONV_ERR_INVALID, "accepted: %s", json);
  cr_assert(strstr(e.msg, why), "message '%s' lacks '%s'", e.msg, why);
}

#define L0 "{\"version\":1,\"launches\":[{\"entry\":\"f\",\"phase\":\"forward\",\"grid\":{\"over\":\"rows\",\"per\":1},"
#define L1 "\"block\":[64,1,1],\"smem\":0,\"args\":[\"u\",\"y\"],\"reads\":[\"u\"],\"writes\":[\"y\"]}],"
#define TAIL "\"workspace\":[],\"filter\":{\"layout\":\"x\",\"per_head\":8,\"fixed\":0}}"

Test(manifest, refusals) {
  fc_manifest m;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(L0 L1 TAIL, &m, &e), FFTCONV_OK, "%s", e.msg);
  refused(NULL, "none");
  refused("", "expected '{'");
  refused(L0 L1 TAIL "x", "text after");
  refused("{\"version\":2,\"launches\":[{\"entry\":\"f\",\"phase\":\"forward\",\"grid\":{\"over\":\"rows\",\"per\":1}," L1 TAIL,
          "version 2");
  refused(L0 "\"block\":[64,1,1],\"smem\":0,\"args\":[\"u\",\"q\"],\"reads\":[],\"writes\":[]}]," TAIL,
          "'q' is not an argument");
  refused(L0 "\"block\":[64,1,1],\"smem\":0,\"args\":[\"u\",\"y\"],\"reads\":[\"rows\"],\"writes\":[]}]," TAIL,
          "'rows' is not a buffer");
  refused(L0 "\"block\":[64,1,1],\"smem\":0,\"args\":[\"u\",\"y\"],\"reads\":[],\"writes\":[\"u\"]}]," TAIL,
          "writes an input");
  refused(L0 "\"block\":[64,1,1],\"smem\":0,\"args\":[\"u\"],\"reads\":[],\"writes\":[\"y\"]}]," TAIL,
          "not one of its arguments");
  refused(L0 "\"block\":[2048,1,1],\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "1 to 1024 threads");
  refused(L0 "\"block\":[64,1,1],\"cluster\":[32,1,1],\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "at most 16");
  /* factors whose product overflows int: each is bounded before it is multiplied (a fuzzer
     found the product computed first, undefined behaviour under UBSan) */
  refused(L0 "\"block\":[64,1,1],\"cluster\":[1,16,888888881],\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "at most 16");
  refused(L0 "\"block\":[1,65536,65536],\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "1 to 1024 threads");
  refused(L0 L1 "\"workspace\":[],\"filter\":{\"layout\":\"f\\\\\\\\f\",\"per_head\":8,\"fixed\":0}}",
          "holds a character other than");
  refused(L0 L1 "\"workspace\":[],\"filter\":{\"layout\":\"a\\\"b\",\"per_head\":8,\"fixed\":0}}",
          "holds a character other than");
  refused(L0 "\"block\":[64,1,1],\"smem\":-1,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "outside");
  refused(L0 "\"block\":[64,1,1],\"smem\":0,\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL,
          "repeated key \"smem\"");
  refused(L0 "\"smem\":0,\"args\":[],\"reads\":[],\"writes\":[]}]," TAIL, "needs entry");
  refused("{\"version\":1,\"launches\":[{\"entry\":\"9f\",\"phase\":\"forward\",\"grid\":{\"over\":\"rows\",\"per\":1}," L1 TAIL,
          "not a C identifier");
  refused("{\"version\":1,\"launches\":[{\"entry\":\"f\",\"phase\":\"prepare\",\"grid\":{\"over\":\"rows\",\"per\":1}," L1 TAIL,
          "a prepare launch");
  refused("{\"version\":1,\"launches\":[]," TAIL, "1 to 8");
  refused(L0 L1 "\"workspace\":[],\"filter\":{\"layout\":\"\",\"per_head\":8}}", "no name");
  refused(L0 L1 "\"filter\":{\"layout\":\"x\",\"per_head\":8}, \"extra\":1}", "unknown or repeated key \"extra\"");
}

Test(manifest, describe) {
  fc_manifest m = two();
  fc_str b = {0};
  fc_manifest_describe(&m, "  ", &b);
  cr_assert(strstr(b.s, "  fftconv_prep (prepare): grid heads/1, 128 threads, 0 B smem; k d -> k_hat\n"), "%s", b.s);
  cr_assert(strstr(b.s, "  fftconv_fwd (forward): grid rows/2, 256 threads, 20480 B smem; u pre post k_hat -> y\n"), "%s", b.s);
  cr_assert(strstr(b.s, "filter monarch_fp32.v1: 0 B + 32776 B a head"), "%s", b.s);
  fc_str_free(&b);
}

/* A region of bytes a head (per_head, a backward's reduction over the batch): read, written
   only when not 0, described, sized fixed + rows * per_row + heads * per_head. */
#define PH_HEAD                                                                              \
  "{\"filter\":{\"layout\":\"x\",\"per_head\":64},\"launches\":[{\"args\":[\"u\",\"y\","  \
  "\"ws:a\",\"ws:b\",\"rows\"],\"block\":[128,1,1],\"entry\":\"f\",\"grid\":{\"over\":"     \
  "\"rows\",\"per\":1},\"phase\":\"forward\",\"reads\":[\"u\",\"ws:a\"],\"smem\":0,"        \
  "\"writes\":[\"y\",\"ws:a\",\"ws:b\"]}],\"version\":1,\"workspace\":"

Test(manifest, workspace_per_head) {
  const char *j = PH_HEAD "[{\"fixed\":10,\"name\":\"a\",\"per_head\":100,\"per_row\":1000},"
                          "{\"fixed\":0,\"name\":\"b\",\"per_row\":8}]}";
  fc_manifest m, back;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(j, &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.nws, 2);
  cr_assert_eq(m.ws[0].per_head, 100);
  cr_assert_eq(m.ws[1].per_head, 0); /* absent: 0 */
  /* rows 3, heads 2: region a 10 + 3 * 1000 + 2 * 100 = 3210 -> 3328; b there, 24 -> 3584 */
  cr_assert_eq(fc_manifest_region_bytes(&m, 3, 2, 0), 3210);
  cr_assert_eq(fc_manifest_region_bytes(&m, 3, 2, 1), 24);
  cr_assert_eq(fc_manifest_region_bytes(&m, 3, 2, 2), -1); /* no such region */
  cr_assert_eq(fc_manifest_workspace_offset(&m, 3, 2, 0), 0);
  cr_assert_eq(fc_manifest_workspace_offset(&m, 3, 2, 1), 3328);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 3, 2), 3584);
  /* the heads move it: 2 more heads are 200 more bytes of a, past the next 256 */
  cr_assert_eq(fc_manifest_workspace_offset(&m, 3, 4, 1), 3584);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 3, 0), 3072 + 256);

  /* written back only where not 0, and read back the same */
  char *out = fc_manifest_json(&m);
  cr_assert_not_null(out);
  cr_assert(strstr(out, "\"workspace\":[{\"name\":\"a\",\"per_row\":1000,\"fixed\":10,"
                        "\"per_head\":100},{\"name\":\"b\",\"per_row\":8,\"fixed\":0}]"),
            "%s", out);
  cr_assert_eq(fc_manifest_parse(out, &back, &e), FFTCONV_OK, "%s: %s", e.msg, out);
  cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parse(json(m)) differs from m: %s", out);
  free(out);

  /* described with " + P B a head" only where there is one */
  fc_str b = {0};
  fc_manifest_describe(&m, "  ", &b);
  cr_assert(strstr(b.s, "  workspace a: 10 B + 1000 B a row + 100 B a head\n"), "%s", b.s);
  cr_assert(strstr(b.s, "  workspace b: 0 B + 8 B a row\n"), "%s", b.s);
  fc_str_free(&b);

  /* the bytes a launch moves count the heads' share of a region it reads and writes */
  fc_shape s;
  memset(&s, 0, sizeof s);
  fftconv_problem_init(&s.p);
  s.p.batch = 3, s.p.heads = 2, s.p.seqlen = 16, s.p.dtype = FFTCONV_FP32;
  s.rows = 6, s.K = 16, s.N = 16;
  int64_t with = fc_manifest_launch_bytes(&m, 0, &s);
  m.ws[0].per_head = 0;
  int64_t without = fc_manifest_launch_bytes(&m, 0, &s);
  cr_assert_gt(without, 0);
  cr_assert_eq(with - without, 2 * 2 * 100, "%lld vs %lld", (long long)with, (long long)without);
}

/* A manifest without per_head is written as before the field: no "per_head" in a region. */
Test(manifest, workspace_without_per_head_writes_as_before) {
  const char *j = PH_HEAD "[{\"fixed\":10,\"name\":\"a\",\"per_row\":1000},"
                          "{\"fixed\":0,\"name\":\"b\",\"per_head\":0,\"per_row\":8}]}";
  fc_manifest m;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(j, &m, &e), FFTCONV_OK, "%s", e.msg);
  char *out = fc_manifest_json(&m);
  cr_assert_not_null(out);
  cr_assert(strstr(out, "\"workspace\":[{\"name\":\"a\",\"per_row\":1000,\"fixed\":10},"
                        "{\"name\":\"b\",\"per_row\":8,\"fixed\":0}],\"filter\""),
            "%s", out);
  free(out);
}

Test(manifest, workspace_per_head_refusals) {
  refused(PH_HEAD "[{\"name\":\"a\",\"per_head\":-1}]}", "outside");
  refused(PH_HEAD "[{\"name\":\"a\",\"per_head\":2305843009213693952}]}", "outside"); /* 2^61 */
  refused(PH_HEAD "[{\"name\":\"a\",\"per_head\":1.5}]}", "");
  refused(PH_HEAD "[{\"name\":\"a\",\"per_head\":\"8\"}]}", "");
  refused(PH_HEAD "[{\"name\":\"a\",\"per_head\":8,\"per_head\":8}]}", "repeated key \"per_head\"");
  /* the largest accepted, as per_row's */
  fc_manifest m;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(PH_HEAD "[{\"name\":\"a\",\"per_head\":2305843009213693951},"
                                         "{\"name\":\"b\"}]}", &m, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.ws[0].per_head, INT64_MAX / 4);
}

/* Sizes that wrap int64 are -1, the heads' term and the sum of the three alike. */
Test(manifest, workspace_per_head_overflow) {
  fc_manifest m;
  memset(&m, 0, sizeof m);
  m.nws = 2;
  m.ws[0].per_head = INT64_MAX / 4;
  /* 3 heads: 3 * (2^61 - 1), aligned up to 3 * 2^61; 5 heads wrap */
  cr_assert_eq(fc_manifest_workspace_offset(&m, 1, 3, 1), 3 * ((int64_t)1 << 61));
  cr_assert_eq(fc_manifest_workspace_offset(&m, 1, 5, 1), -1);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 1, 5), -1);
  cr_assert_eq(fc_manifest_region_bytes(&m, 1, 5, 0), -1);
  /* each product fits, their sum does not: rows * per_row = 2 (2^61 - 1), heads * per_head
     = 3 (2^61 - 1), the sum 5 (2^61 - 1) > 2^63 - 1 */
  m.ws[0].per_row = INT64_MAX / 4;
  m.ws[0].per_head = INT64_MAX / 4;
  cr_assert_eq(fc_manifest_region_bytes(&m, 2, 1, 0), 3 * (INT64_MAX / 4));
  cr_assert_eq(fc_manifest_region_bytes(&m, 2, 3, 0), -1);
  cr_assert_eq(fc_manifest_workspace_offset(&m, 2, 3, 1), -1);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 2, 3), -1);
  /* and the fixed bytes on top: fixed + rows * per_row fits, + heads * per_head wraps */
  m.ws[0].per_row = 0;
  m.ws[0].fixed = INT64_MAX - 10;
  m.ws[0].per_head = 11;
  cr_assert_eq(fc_manifest_region_bytes(&m, 0, 0, 0), INT64_MAX - 10);
  cr_assert_eq(fc_manifest_region_bytes(&m, 0, 1, 0), -1);
  /* negative counts are -1, not a smaller workspace */
  m.ws[0].fixed = 0;
  cr_assert_eq(fc_manifest_region_bytes(&m, 0, -1, 0), -1);
}

/* The main launch (whose entry's resources the tuner reports): the first forward launch, the
   first backward one in a backward kernel, none in a manifest of prepare launches only. */
Test(manifest, main_launch) {
  fc_manifest m;
  fc_manifest_two_launch(&m, "fftconv_fwd", 128, 0, 1, "fftconv_prep", 64, 0, 1, 8, 0, "x");
  cr_assert_eq(fc_manifest_main(&m), &m.launch[1]);
  m.launch[1].phase = FC_PHASE_BACKWARD;
  cr_assert_eq(fc_manifest_main(&m), &m.launch[1]);
  m.nlaunch = 1;
  cr_assert_null(fc_manifest_main(&m));
}

/* Row groups and order (kernel.h): read and written back only where not the default, the
   workspace sized for one group, the bytes a launch moves still the whole problem's; odd
   groups, groups over launches not over rows, groups with a per that does not divide them and
   an unknown order refused, naming the field. */
#define RG_HEAD                                                                                \
  "{\"filter\":{\"layout\":\"x\",\"per_head\":64},\"launches\":[{\"args\":[\"u\",\"y\","     \
  "\"ws:a\",\"rows\",\"row0\"],\"block\":[128,1,1],\"entry\":\"f\",\"grid\":{\"over\":"       \
  "\"rows\",\"per\":2},\"phase\":\"forward\",\"reads\":[\"u\"],\"smem\":0,"                 \
  "\"writes\":[\"y\",\"ws:a\"]}],\"version\":1,\"workspace\":[{\"fixed\":0,\"name\":\"a\","  \
  "\"per_row\":1000}]"
Test(manifest, row_group) {
  fc_manifest m, back;
  fc_err e = {{0}};
  cr_assert_eq(fc_manifest_parse(RG_HEAD ",\"row_group\":6}", &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.row_group, 6);
  cr_assert_eq(fc_manifest_ws_rows(&m, 15), 6);
  cr_assert_eq(fc_manifest_ws_rows(&m, 4), 4);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 15, 5), 6000 + 144); /* 6 rows, aligned to 256 */
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 4, 5), 4096);
  cr_assert_eq(fc_manifest_region_bytes(&m, 15, 5, 0), 15000); /* what all groups move */
  char *out = fc_manifest_json(&m);
  cr_assert_not_null(out);
  cr_assert(strstr(out, "},\"row_group\":6}"), "%s", out);
  cr_assert_eq(fc_manifest_parse(out, &back, &e), FFTCONV_OK, "%s: %s", e.msg, out);
  cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parse(json(m)) differs from m: %s", out);
  free(out);
  fc_str b = {0};
  fc_manifest_describe(&m, "  ", &b);
  cr_assert(strstr(b.s, "  row groups of 6 rows"), "%s", b.s);
  fc_str_free(&b);

  /* 0 (or absent) is no group, and is not written */
  cr_assert_eq(fc_manifest_parse(RG_HEAD ",\"row_group\":0}", &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, 15, 5), 15104);
  out = fc_manifest_json(&m);
  cr_assert_not_null(out);
  cr_assert_null(strstr(out, "row_group"), "%s", out);
  free(out);

  /* head-major rows: written back only when "head" */
  cr_assert_eq(fc_manifest_parse(RG_HEAD ",\"row_group\":6,\"row_order\":\"head\"}", &m, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.row_head, 1);
  out = fc_manifest_json(&m);
  cr_assert_not_null(out);
  cr_assert(strstr(out, "\"row_group\":6,\"row_order\":\"head\"}"), "%s", out);
  cr_assert_eq(fc_manifest_parse(out, &back, &e), FFTCONV_OK, "%s: %s", e.msg, out);
  cr_assert_eq(memcmp(&m, &back, sizeof m), 0, "parse(json(m)) differs from m: %s", out);
  free(out);
  fc_manifest_describe(&m, "  ", &b);
  cr_assert(strstr(b.s, "  rows head-major"), "%s", b.s);
  fc_str_free(&b);
  cr_assert_eq(fc_manifest_parse(RG_HEAD ",\"row_order\":\"rows\"}", &m, &e), FFTCONV_OK, "%s",
               e.msg);
  cr_assert_eq(m.row_head, 0);
  out = fc_manifest_json(&m);
  cr_assert_null(strstr(out, "row_order"), "%s", out);
  free(out);
  refused(RG_HEAD ",\"row_order\":\"heads\"}", "row_order 'heads' is not one of rows, head");

  refused(RG_HEAD ",\"row_group\":5}", "row_group 5 (0, or even");
  refused(RG_HEAD ",\"row_group\":-2}", "");
  refused(RG_HEAD ",\"row_group\":2,\"row_group\":2}", "repeated key \"row_group\"");
  /* per 4 does not divide 6; a launch over heads cannot be grouped */
  char j[1024];
  snprintf(j, sizeof j, "%s", RG_HEAD ",\"row_group\":6}");
  char *per = strstr(j, "\"per\":2");
  cr_assert_not_null(per);
  per[6] = '4';
  refused(j, "must be over rows, its grid.per dividing the group");
  snprintf(j, sizeof j, "%s", RG_HEAD ",\"row_group\":6}");
  char *over = strstr(j, "\"rows\",\"per\"");
  cr_assert_not_null(over);
  memcpy(over, "\"one\", ", 7);
  refused(j, "must be over rows");
}
