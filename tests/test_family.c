/* The kernel family on the CPU: the default candidate of every dtype, with and without gates,
   compiles with NVRTC for sm_80 and sm_90; emission is deterministic and self-describing;
   check() uses the device's own shared-memory limit; the heuristic default is always a valid
   candidate. (Compiling the space: test_compile_sample, and test_compile_all for all of it.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "emit.h"
#include "gpu.h"
#include "shape.h"

#define FAMILY "monarch_fp32"

static fftconv_problem problem(int64_t n, fftconv_dtype dt, int gates) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 64;
  p.heads = 768;
  p.seqlen = n;
  p.mode = FFTCONV_CIRCULAR;
  p.dtype = dt;
  p.pre_gate = p.post_gate = p.skip_d = gates;
  return p;
}

/* Every dtype, with and without gates: the default candidate compiles for both archs. */
Test(family, dtypes_and_gates_compile) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  for (int sm = 80; sm <= 90; sm += 10) {
    fc_device_info dev;
    fc_device_info_for_arch(sm, &dev);
    for (int dt = 0; dt < 3; dt++)
      for (int g = 0; g < 2; g++) {
        fftconv_problem p = problem(1024, (fftconv_dtype)dt, g);
        char *params = NULL;
        fc_kernel_src s = {0};
        fc_binary b = {0};
        cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
        cr_assert_eq(fc_emit_kernel(em, FAMILY, params, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
        cr_assert_eq(fc_compile(s.source, s.name, dev.arch, 0, &b, &e), FFTCONV_OK, "%s", e.msg);
        free(params);
        fc_kernel_src_free(&s);
        fc_binary_free(&b);
      }
  }
  fc_emit_close(em);
}

Test(family, emission_is_deterministic_and_self_describing) {
  fc_emit *a = NULL, *b = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&a, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_open(&b, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(4096, FFTCONV_BF16, 1);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(a, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
  fc_kernel_src s1 = {0}, s2 = {0};
  cr_assert_eq(fc_emit_kernel(a, FAMILY, params, &dev, &s1, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(b, FAMILY, params, &dev, &s2, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(s1.source, s2.source);
  fc_template_info ti;
  cr_assert_eq(fc_emit_info(a, FAMILY, &ti, &e), FFTCONV_OK);
  char line[256];
  snprintf(line, sizeof line, " * template: %s revision %d hash %s\n", FAMILY, ti.revision, ti.hash);
  cr_assert(strstr(s1.source, line), "missing '%s' in\n%.400s", line, s1.source);
  cr_assert(strstr(s1.source, params), "the header does not carry the parameters");
  cr_assert(strstr(s1.source, "\"dtype\":\"bf16\""));
  cr_assert_eq(strlen(ti.hash), 16);
  free(params);
  fc_kernel_src_free(&s1);
  fc_kernel_src_free(&s2);
  fc_emit_close(a);
  fc_emit_close(b);
}

/* check() uses the device's own limit: a 64 KB device cannot hold N = 32768 (128 KB a row). */
Test(family, check_uses_the_device_shared_memory_limit) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(32768, FFTCONV_FP16, 0);
  for (int small = 0; small < 2; small++) {
    if (small) dev.smem_optin = 65536;
    fc_candidate *c = NULL;
    int n = 0, valid = 0, smem_reason = 0;
    cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK, "%s", e.msg);
    for (int i = 0; i < n; i++) {
      valid += !c[i].reason;
      smem_reason += c[i].reason && strstr(c[i].reason, "shared memory") != NULL;
    }
    if (small) {
      cr_assert_eq(valid, 0);
      cr_assert_gt(smem_reason, 0);
      char *params = NULL;
      cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_ERR_UNSUPPORTED);
      cr_assert(strstr(e.msg, "shared memory"), "%s", e.msg);
    } else {
      cr_assert_gt(valid, 0);
    }
    fc_candidates_free(c, n);
  }
  fc_emit_close(em);
}

/* Where no parameters are valid, default() returns nil and a reason, which the emit layer
   reports as FFTCONV_ERR_UNSUPPORTED naming the family and the reason (it used to fail an
   assert, which reads as a broken template): here a device with 512 bytes of shared memory,
   half of what one sequence of the smallest FFT needs (N = 256: 1 KB), for every dtype. */
Test(family, default_says_why_when_nothing_is_valid) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  dev.smem_optin = 512;
  for (int dt = 0; dt < 3; dt++) {
    fftconv_problem p = problem(256, (fftconv_dtype)dt, 1);
    char *params = NULL;
    cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_ERR_UNSUPPORTED,
                 "%s", e.msg);
    cr_assert_null(params);
    cr_assert(strstr(e.msg, "monarch_fp32") && strstr(e.msg, "cannot run this problem") &&
                  strstr(e.msg, "bytes of shared memory, the device allows 512"),
              "%s", e.msg);
  }
  fc_emit_close(em);
}

/* layout() returns the full manifest: prepare then forward, both with the candidate's
   threads and sequences a block and its shared memory (seqs rows of N/2 complex fp32 values),
   and a filter layout shared by every candidate of the FFT size: the twiddle table (M = N/2
   values), then M + 1 bins a head. */
Test(family, manifest_of_a_known_candidate) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(80, &dev);
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, FAMILY,
                              "{\"dft\":\"radix\",\"dtype\":\"fp32\",\"factors\":[16,32],"
                              "\"fft_size\":1024,\"post_gate\":false,\"pre_gate\":true,"
                              "\"seqs\":2,\"threads\":128}",
                              &dev, &s, &e),
               FFTCONV_OK, "%s", e.msg);
  const fc_manifest *m = &s.manifest;
  cr_assert_eq(m->nlaunch, 2);
  static const char *entry[] = {"fftconv_prep", "fftconv_fwd"};
  for (int i = 0; i < 2; i++) {
    const fc_launch *l = &m->launch[i];
    cr_assert_str_eq(l->entry, entry[i]);
    cr_assert_eq(l->phase, i ? FC_PHASE_FORWARD : FC_PHASE_PREPARE);
    cr_assert_eq(l->over, i ? FC_OVER_ROWS : FC_OVER_HEADS);
    cr_assert_eq(l->per, 2);
    cr_assert(l->block[0] == 128 && l->block[1] == 1 && l->block[2] == 1);
    cr_assert_eq(l->smem, 2 * 512 * 8);
    cr_assert_eq(l->nargs, i ? 8 : 6);
  }
  cr_assert_eq(m->launch[0].writes, 1u << FC_ARG_KHAT);
  cr_assert_eq(m->launch[1].writes, 1u << FC_ARG_Y);
  cr_assert_str_eq(m->filter_layout, "monarch_fp32.half");
  cr_assert_eq(m->filter_per_head, 513 * 8);
  cr_assert_eq(m->filter_fixed, 512 * 8);
  fc_kernel_src_free(&s);
  fc_emit_close(em);
}

/* The heuristic default is a candidate the check accepts, at every size, both modes. */
Test(family, default_is_valid) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  for (int64_t n = 256; n <= 32768; n *= 2)
    for (int mode = 0; mode < 2; mode++) {
      fftconv_problem p = problem(n, FFTCONV_FP16, 1);
      p.batch = 3;
      p.heads = 5;
      if (mode == 0) {
        p.mode = FFTCONV_CAUSAL;
        p.seqlen = n / 2;
      }
      char *params = NULL;
      cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
      fc_candidate *c = NULL;
      int nc = 0, found = 0;
      cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &nc, &e), FFTCONV_OK);
      for (int i = 0; i < nc; i++) found += !c[i].reason && !strcmp(c[i].params, params);
      cr_assert_eq(found, 1, "default %s is not a valid candidate", params);
      fc_candidates_free(c, nc);
      free(params);
    }
  fc_emit_close(em);
}

/* The runtime's Lua-free hash is the engine's, and "measure" is a pruned subset of the space. */
Test(family, template_hash_and_measure_space) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_template_info ti;
  cr_assert_eq(fc_emit_info(em, FAMILY, &ti, &e), FFTCONV_OK, "%s", e.msg);
  char h[17];
  cr_assert_eq(fc_template_hash(FAMILY, h, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(h, ti.hash);
  cr_assert_eq(fc_template_hash("nonesuch", h, &e), FFTCONV_ERR_INVALID);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(8192, FFTCONV_FP16, 1);
  fc_candidate *all = NULL, *some = NULL;
  int na = 0, ns = 0;
  cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &all, &na, &e), FFTCONV_OK);
  cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_MEASURE, &some, &ns, &e), FFTCONV_OK);
  cr_assert_lt(ns, na / 2);
  for (int i = 0; i < ns; i++) {
    int found = 0;
    for (int j = 0; j < na; j++) found += !strcmp(some[i].params, all[j].params);
    cr_assert_eq(found, 1, "%s is not in the exhaustive space", some[i].params);
    cr_assert(strstr(some[i].params, "\"dft\":\"radix\""));
  }
  fc_candidates_free(some, ns);
  /* space() knows measure and exhaustive; the other rigors are the search's own */
  cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_SAMPLE, &some, &ns, &e),
               FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "rigor: 'sample'"), "%s", e.msg);
  cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, (fc_rigor)42, &some, &ns, &e),
               FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "rigor: '?'"), "%s", e.msg);
  fc_candidates_free(all, na);
  fc_emit_close(em);
}

/* The long families: no candidate below 64K (nor for monarch_cluster before sm_90), a known
   monarch_long candidate's manifest (two prepare launches, three forward passes through one
   workspace region of a pair's N complex values) and the bytes each pass moves at the least,
   which fftconv-tune prints beside each pass's time. */
Test(family, long_families_manifest_and_pass_bytes) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d80, d90;
  fc_device_info_for_arch(80, &d80);
  fc_device_info_for_arch(90, &d90);
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3, p.heads = 5, p.seqlen = 32768, p.mode = FFTCONV_CIRCULAR, p.dtype = FFTCONV_FP16;
  p.pre_gate = p.post_gate = 1;
  char *params = NULL;
  cr_assert_eq(fc_emit_default(em, "monarch_long", &p, &d90, &params, &e), FFTCONV_ERR_UNSUPPORTED);
  p.seqlen = 65536;
  cr_assert_eq(fc_emit_default(em, "monarch_cluster", &p, &d80, &params, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert_eq(fc_emit_default(em, "monarch_cluster", &p, &d90, &params, &e), FFTCONV_OK, "%s", e.msg);
  free(params);
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_long",
                              "{\"dtype\":\"fp16\",\"fft_size\":65536,\"n2\":1024,\"post_gate\":true,"
                              "\"pre_gate\":true,\"threads_cols\":256,\"threads_rows\":512,"
                              "\"tile\":16,\"ws\":\"half\"}", &d80, &s, &e), FFTCONV_OK, "%s", e.msg);
  const fc_manifest *m = &s.manifest;
  cr_assert_eq(m->nlaunch, 5);
  cr_assert_str_eq(m->launch[2].entry, "fftconv_cols_fwd");
  cr_assert_str_eq(m->launch[3].entry, "fftconv_rows");
  cr_assert_eq(m->launch[3].grid_y, 64 / 2 + 1); /* N1 = 64: row pairs and the two self-mirrors */
  cr_assert_eq(m->nws, 1);
  cr_assert_eq(m->ws[0].per_row, 65536 * 4 / 2); /* half a pair's N values of 4 bytes a row */
  cr_assert_str_eq(m->filter_layout, "monarch_long.full.64x1024");
  fc_shape sh;
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_FORWARD, &sh, &e), FFTCONV_OK, "%s", e.msg);
  int64_t io = 15 * 65536 * 2, ws = 65536 * 2 + 15 * 65536 * 2, kh = 5 * 65536 * 8;
  cr_assert_eq(fc_manifest_launch_bytes(m, 2, &sh), 2 * io + ws);     /* u, pre -> ws */
  cr_assert_eq(fc_manifest_launch_bytes(m, 3, &sh), kh + 2 * ws);     /* k_hat, ws -> ws */
  cr_assert_eq(fc_manifest_launch_bytes(m, 4, &sh), ws + 2 * io);     /* ws, post -> y */
  cr_assert_eq(fc_manifest_launch_bytes(m, 9, &sh), 0);
  fc_kernel_src_free(&s);
  fc_emit_close(em);
}

/* monarch_long's row groups and order (README, "Row groups and order"): the forward's space
   holds each candidate in memory order and head-major, each without a group and with the row
   counts whose workspace takes half and a quarter of the L2 cache (even; head-major, whole
   heads), where the problem has more rows (measure: memory order without groups, head-major
   without and with the half-L2 group); a grouped candidate's manifest says so, its passes
   take row0 and major; odd groups and grouped or head-major backwards are refused. */
Test(family, long_row_groups) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d90;
  fc_device_info_for_arch(90, &d90);
  cr_assert_gt(d90.l2_bytes, 0);
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 8, p.heads = 768, p.seqlen = 65536, p.mode = FFTCONV_CIRCULAR, p.dtype = FFTCONV_FP16;
  fc_candidate *cl;
  int n;
  cr_assert_eq(fc_emit_space(em, "monarch_long", &p, &d90, FC_RIGOR_EXHAUSTIVE, &cl, &n, &e),
               FFTCONV_OK, "%s", e.msg);
  /* fp32 workspace: 256 KB a row at 64K; head order: whole heads, multiples of B = 8 */
  int64_t per = 65536 * 4, l2 = d90.l2_bytes;
  int64_t want[2][2] = {{l2 / 2 / per / 2 * 2, l2 / 4 / per / 2 * 2},
                        {l2 / 2 / per / 8 * 8, l2 / 4 / per / 8 * 8}};
  int none[2] = {0, 0}, with[2][2] = {{0, 0}, {0, 0}};
  for (int i = 0; i < n; i++) {
    if (!strstr(cl[i].params, "\"ws\":\"fp32\"")) continue;
    int head = strstr(cl[i].params, "\"order\":\"head\"") != NULL;
    const char *g = strstr(cl[i].params, "\"group\":");
    if (!g) {
      none[head]++;
      continue;
    }
    long long v = atoll(g + 8);
    cr_assert(v == want[head][0] || v == want[head][1], "%s", cl[i].params);
    with[head][v == want[head][1]]++;
  }
  for (int o = 0; o < 2; o++) {
    cr_assert_gt(none[o], 0);
    for (int k = 0; k < 2; k++)
      cr_assert_eq(with[o][k], none[o], "order %d: %d with group %lld, %d without", o,
                   with[o][k], (long long)want[o][k], none[o]);
  }
  cr_assert_eq(none[0], none[1]);
  fc_candidates_free(cl, n);
  /* measure (the default rigor): memory order without groups, head-major without and with
     the half-L2 group */
  cr_assert_eq(fc_emit_space(em, "monarch_long", &p, &d90, FC_RIGOR_MEASURE, &cl, &n, &e),
               FFTCONV_OK, "%s", e.msg);
  int rows_only = 0, head_none = 0, head_half = 0;
  for (int i = 0; i < n; i++) {
    int head = strstr(cl[i].params, "\"order\":\"head\"") != NULL;
    const char *g = strstr(cl[i].params, "\"group\":");
    cr_assert(head || !g, "%s", cl[i].params);
    if (!head) rows_only++;
    else if (!g) head_none++;
    else if (!strstr(cl[i].params, "\"ws\":\"fp32\"") || atoll(g + 8) == want[1][0]) head_half++;
  }
  cr_assert(rows_only > 0 && rows_only == head_none && head_none == head_half,
            "%d, %d, %d", rows_only, head_none, head_half);
  fc_candidates_free(cl, n);
  /* 15 rows: fewer than any group, so none */
  p.batch = 3, p.heads = 5;
  cr_assert_eq(fc_emit_space(em, "monarch_long", &p, &d90, FC_RIGOR_EXHAUSTIVE, &cl, &n, &e),
               FFTCONV_OK, "%s", e.msg);
  for (int i = 0; i < n; i++) cr_assert_null(strstr(cl[i].params, "group"), "%s", cl[i].params);
  fc_candidates_free(cl, n);

  const char *base = "\"dtype\":\"fp16\",\"fft_size\":65536,\"n2\":2048,\"post_gate\":true,"
                     "\"pre_gate\":true,\"threads_cols\":256,\"threads_rows\":512,\"tile\":32,"
                     "\"ws\":\"fp32\"";
  char params[512];
  fc_kernel_src s = {0};
  snprintf(params, sizeof params, "{%s,\"group\":100}", base);
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s.manifest.row_group, 100);
  cr_assert_eq(s.manifest.row_head, 0);
  cr_assert_str_eq(s.manifest.launch[3].entry, "fftconv_rows");
  int has_row0 = 0;
  for (int a = 0; a < s.manifest.launch[3].nargs; a++) has_row0 |= s.manifest.launch[3].args[a] == FC_ARG_ROW0;
  cr_assert(has_row0);
  fc_kernel_src_free(&s);
  snprintf(params, sizeof params, "{%s}", base);
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s.manifest.row_group, 0);
  char *code = strdup(strstr(s.source, "*/"));
  fc_kernel_src_free(&s);
  snprintf(params, sizeof params, "{%s,\"group\":96,\"order\":\"head\"}", base);
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s.manifest.row_group, 96);
  cr_assert_eq(s.manifest.row_head, 1);
  /* the same code as the candidate without group and order: compiled once (fc_compile_all) */
  cr_assert_str_eq(strstr(s.source, "*/"), code);
  free(code);
  fc_kernel_src_free(&s);
  snprintf(params, sizeof params, "{%s,\"order\":\"head\",\"op\":\"backward\"}", base);
  cr_assert_neq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK);
  cr_assert(strstr(e.msg, "the backward runs its rows in memory order"), "%s", e.msg);
  snprintf(params, sizeof params, "{%s,\"group\":7}", base);
  cr_assert_neq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK);
  cr_assert(strstr(e.msg, "row_group 7 (0, or even"), "%s", e.msg);
  snprintf(params, sizeof params, "{%s,\"group\":8,\"op\":\"backward\"}", base);
  cr_assert_neq(fc_emit_kernel(em, "monarch_long", params, &d90, &s, &e), FFTCONV_OK);
  cr_assert(strstr(e.msg, "the backward runs without row groups"), "%s", e.msg);
  fc_emit_close(em);
}

/* A direct candidate's kernels, emitted and compiled for sm_90. */
static void compile_direct(fc_emit *em, const fc_device_info *dev, const char *params) {
  fc_err e = {{0}};
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, "direct", params, dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  fc_binary b = {0};
  cr_assert_eq(fc_compile(s.source, s.name, "sm_90", 0, &b, &e), FFTCONV_OK, "%s: %s", params,
               e.msg);
  fc_binary_free(&b);
  fc_kernel_src_free(&s);
}

/* The direct family (short filters, time domain): a space only for K <= 64 taps without a
   frequency mask; check() names the field and its range; the manifest (taps a head as the
   filter, a block per row and tile of the problem's length); the built-in choice; its candidates compile for every dtype, both modes; and its
   backward's manifest and candidates. */
Test(family, direct_short_filters) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(1024, FFTCONV_FP16, 1);
  p.mode = FFTCONV_CAUSAL;
  p.seqlen = 1020; /* N = 2048: 1020 + 7 - 1 > 1024 */
  fc_candidate *c = NULL;
  int n = 0;
  p.filter_len = 65; /* one tap too many: no candidate at all */
  cr_assert_eq(fc_emit_space(em, "direct", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  cr_assert_eq(n, 0);
  fc_candidates_free(c, n);
  p.filter_len = 7;
  p.freq_keep = 100; /* a frequency mask is not a short filter */
  cr_assert_eq(fc_emit_space(em, "direct", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  cr_assert_eq(n, 0);
  fc_candidates_free(c, n);
  p.freq_keep = 0;
  cr_assert_eq(fc_emit_space(em, "direct", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  cr_assert_eq(n, 10, "per 8 or 16, 128 to 512 threads; and on tensor cores 128 or 256");
  int mmas = 0;
  for (int i = 0; i < n; i++) mmas += strstr(c[i].params, "\"mma\":true") != NULL;
  cr_assert_eq(mmas, 4);
  for (int i = 0; i < n; i++) cr_assert_null(c[i].reason, "%s: %s", c[i].params, c[i].reason);
  /* a candidate of 7 taps for a problem of 9 is refused, naming taps */
  char *why = NULL;
  p.filter_len = 9;
  cr_assert_eq(fc_emit_check(em, "direct", &p, &dev, c[0].params, &why, &e), FFTCONV_OK);
  cr_assert(why && strstr(why, "taps: 7, the problem's filter has 9"), "%s", why ? why : "");
  free(why);
  p.filter_len = 7;
  /* a candidate is made for the problem's length: one for 1020 refused for 1019 (N 2048) */
  p.seqlen = 1019;
  cr_assert_eq(fc_emit_check(em, "direct", &p, &dev, c[0].params, &why, &e), FFTCONV_OK);
  cr_assert(why && strstr(why, "seqlen: 1020, the problem's length is 1019"), "%s",
            why ? why : "");
  free(why);
  p.seqlen = 1020;
  /* the built-in choice: 8 outputs a thread, 128 threads at this length; none past 64 taps */
  char *dflt = NULL;
  cr_assert_eq(fc_emit_default(em, "direct", &p, &dev, &dflt, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(dflt, "\"per\":8") && strstr(dflt, "\"threads\":128"), "%s", dflt);
  free(dflt);
  dflt = NULL;
  p.filter_len = 16; /* from 16 taps, fp16: on tensor cores */
  cr_assert_eq(fc_emit_default(em, "direct", &p, &dev, &dflt, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(dflt, "\"mma\":true") && strstr(dflt, "\"per\":8") && !strstr(dflt, "\"lo\""),
            "%s", dflt);
  free(dflt);
  dflt = NULL;
  p.filter_len = 65;
  cr_assert_eq(fc_emit_default(em, "direct", &p, &dev, &dflt, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "filter_len: 65 taps, direct runs 1 to 64"), "%s", e.msg);
  p.filter_len = 7;
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, "direct", c[0].params, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  const fc_manifest *m = &s.manifest;
  cr_assert_eq(m->nlaunch, 2);
  cr_assert_eq(m->launch[0].over, FC_OVER_HEADS);
  cr_assert_eq(m->launch[1].over, FC_OVER_ROWS);
  cr_assert_eq(m->launch[1].per, 1);
  cr_assert_eq(m->launch[1].grid_y, 1, "L = 1020 in one tile of 8 x 128 outputs (not N's 2)");
  cr_assert_str_eq(m->filter_layout, "direct.taps7");
  cr_assert_eq(m->filter_per_head, 7 * 4);
  cr_assert_eq(m->nws, 0);
  fc_kernel_src_free(&s);
  fc_candidates_free(c, n);
  /* every candidate compiles: 1, 4, 7 and 64 taps, every dtype, both modes, gated or not */
  static const int64_t taps[] = {1, 4, 7, 64};
  int compiled = 0;
  for (int t = 0; t < 4; t++)
    for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++) {
      fftconv_problem q = problem(1024, (fftconv_dtype)dt, (t + dt) % 2);
      q.mode = (t + dt) % 2 ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
      q.filter_len = taps[t];
      cr_assert_eq(fc_emit_space(em, "direct", &q, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e),
                   FFTCONV_OK, "%s", e.msg);
      cr_assert_eq(n, dt == FFTCONV_FP32 ? 6 : taps[t] >= 32 ? 14 : 10,
                   "tensor cores for 16-bit I/O only, without lo from 32 taps");
      for (int i = 0; i < n; i += (t == 3 ? 1 : 3)) compile_direct(em, &dev, c[i].params);
      compiled += t == 3 ? n : (n + 2) / 3;
      fc_candidates_free(c, n);
    }
  cr_log_info("direct: %d candidates compiled", compiled);
  /* the backward: the same space under op backward, its manifest (a block per row over its
     tiles writing each tile's lag sums to the workspace, then fftconv_bdk a head), and its
     candidates compile */
  p.filter_len = 7;
  cr_assert_eq(fc_emit_space_op(em, "direct", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE, &c,
                                &n, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 6);
  cr_assert(strstr(c[0].params, "\"op\":\"backward\""), "%s", c[0].params);
  cr_assert_eq(fc_emit_kernel(em, "direct", c[0].params, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_op_check_manifest(FC_OP_BACKWARD, &s.manifest, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s.manifest.nlaunch, 3);
  cr_assert_str_eq(s.manifest.launch[1].entry, "fftconv_bwd");
  cr_assert_eq(s.manifest.launch[1].grid_y, 1);
  cr_assert_str_eq(s.manifest.launch[2].entry, "fftconv_bdk");
  cr_assert_eq(s.manifest.launch[2].over, FC_OVER_HEADS);
  cr_assert_eq(s.manifest.nws, 1);
  cr_assert_eq(s.manifest.ws[0].per_row, 4 * 7 * 1, "7 lags of the row's one tile");
  cr_assert_str_eq(s.manifest.filter_layout, "direct.taps7", "one prepared filter, both ways");
  fc_kernel_src_free(&s);
  for (int i = 0; i < n; i++) compile_direct(em, &dev, c[i].params);
  fc_candidates_free(c, n);
  /* past the dense families (2^31 elements in two rows): the backward's workspace of tile sums
     stays within what fftconv_problem_workspace_bytes promises (found on the GPU: it was 232
     bytes over, the region's alignment) */
  fftconv_problem lp = problem(1024, FFTCONV_FP16, 1);
  lp.mode = FFTCONV_CAUSAL;
  lp.batch = 1, lp.heads = 2, lp.seqlen = ((int64_t)1 << 30) + 1000, lp.filter_len = 3;
  fc_shape sh;
  cr_assert_eq(fc_shape_resolve(&lp, FC_OP_BACKWARD, &sh, &e), FFTCONV_OK, "%s", e.msg);
  char *bp = NULL;
  cr_assert_eq(fc_emit_default_op(em, "direct", FC_OP_BACKWARD, &lp, &dev, &bp, &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(em, "direct", bp, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(fc_manifest_within_bounds(&s.manifest, FC_OP_BACKWARD, &sh, &e), "%s", e.msg);
  fc_kernel_src_free(&s);
  free(bp);
  fc_emit_close(em);
}

/* The overlap-save family (partial causal filters): a space only for causal problems with at
   most 16384 taps and no frequency mask, segment sizes M from 2K (a segment keeps at least
   half of what it reads) up to the first that holds the row; check() names the field and its
   range; the manifest (monarch_tc's spectrum at size M, a block per row and group of segment
   pairs, no workspace); the built-in choice (M near 4K); and candidates of every segment size
   compile, both dtypes, gated or not. */
Test(family, overlap_partial_filters) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(1024, FFTCONV_FP16, 1);
  p.mode = FFTCONV_CAUSAL;
  p.seqlen = 1000000;
  fc_candidate *c = NULL;
  int n = 0;
  p.filter_len = 16385; /* one tap too many */
  cr_assert_eq(fc_emit_space(em, "overlap_tc", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  cr_assert_eq(n, 0);
  fc_candidates_free(c, n);
  p.filter_len = 1024;
  p.freq_keep = 100; /* a frequency mask is not a partial filter */
  cr_assert_eq(fc_emit_space(em, "overlap_tc", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  cr_assert_eq(n, 0);
  fc_candidates_free(c, n);
  p.freq_keep = 0;
  cr_assert_eq(fc_emit_space(em, "overlap_tc", &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK);
  int sizes[6] = {0}, valid = 0;
  for (int i = 0; i < n; i++) {
    int m = 0, seg = 0;
    const char *f = strstr(c[i].params, "\"fft_size\":"), *g = strstr(c[i].params, "\"segment\":");
    cr_assert(f && g, "%s", c[i].params);
    m = atoi(f + 11), seg = atoi(g + 10);
    cr_assert_eq(seg, m - 1024, "%s: K - 1 = 1023 rounded up to 8", c[i].params);
    for (int k = 0; k < 5; k++) sizes[k] += m == 2048 << k;
    valid += !c[i].reason;
  }
  for (int k = 0; k < 5; k++) cr_assert_gt(sizes[k], 0, "M = %d offered", 2048 << k);
  cr_assert_gt(valid, 20);
  /* refusals name the field */
  char *why = NULL;
  int first = 0;
  while (c[first].reason) first++;
  p.filter_len = 1000;
  cr_assert_eq(fc_emit_check(em, "overlap_tc", &p, &dev, c[first].params, &why, &e), FFTCONV_OK);
  cr_assert(why && strstr(why, "taps: 1024, the problem's filter has 1000"), "%s", why ? why : "");
  free(why);
  p.filter_len = 1024;
  p.seqlen = 999999;
  cr_assert_eq(fc_emit_check(em, "overlap_tc", &p, &dev, c[first].params, &why, &e), FFTCONV_OK);
  cr_assert(why && strstr(why, "seqlen: 1000000, the problem's length is 999999"), "%s",
            why ? why : "");
  free(why);
  p.seqlen = 1000000;
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 1048576;
  cr_assert_eq(fc_emit_check(em, "overlap_tc", &p, &dev, c[first].params, &why, &e), FFTCONV_OK);
  cr_assert(why && strstr(why, "mode: overlap-save runs causal problems only"), "%s", why ? why : "");
  free(why);
  p.mode = FFTCONV_CAUSAL;
  p.seqlen = 1000000;
  fc_candidates_free(c, n);
  /* the built-in choice: M = 4096 for 1024 taps (3072 outputs a segment) */
  char *dflt = NULL;
  cr_assert_eq(fc_emit_default(em, "overlap_tc", &p, &dev, &dflt, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(dflt, "\"fft_size\":4096") && strstr(dflt, "\"segment\":3072"), "%s", dflt);
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, "overlap_tc", dflt, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  const fc_manifest *m = &s.manifest;
  cr_assert_eq(m->nlaunch, 2);
  cr_assert_eq(m->launch[1].over, FC_OVER_ROWS);
  /* 1,000,000 / 3072: 326 segments, 163 pairs, in groups of the candidate's pairs */
  cr_assert(m->launch[1].grid_y == 163 || m->launch[1].grid_y == 82 || m->launch[1].grid_y == 41,
            "grid_y %d", m->launch[1].grid_y);
  cr_assert_eq(m->filter_per_head, 8 * 4096);
  cr_assert(!strncmp(m->filter_layout, "monarch_tc.pair.", 16), "%s", m->filter_layout);
  cr_assert_eq(m->nws, 0);
  fc_kernel_src_free(&s);
  free(dflt);
  dflt = NULL;
  p.filter_len = 20000;
  cr_assert_eq(fc_emit_default(em, "overlap_tc", &p, &dev, &dflt, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "filter_len: 20000 taps, overlap_tc runs 1 to 16384"), "%s", e.msg);
  /* candidates of every segment size compile: K = 1, 100 and 16384, fp16 gated and bf16 */
  static const int64_t taps[] = {1, 100, 16384};
  int compiled = 0;
  for (int t = 0; t < 3; t++)
    for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++) {
      fftconv_problem q = problem(1024, (fftconv_dtype)dt, dt == FFTCONV_FP16);
      q.mode = FFTCONV_CAUSAL;
      q.seqlen = 100003;
      q.filter_len = taps[t];
      cr_assert_eq(fc_emit_space(em, "overlap_tc", &q, &dev, FC_RIGOR_MEASURE, &c, &n, &e),
                   FFTCONV_OK, "%s", e.msg);
      int last_m = 0;
      for (int i = 0; i < n; i++) {
        const int mm = atoi(strstr(c[i].params, "\"fft_size\":") + 11);
        if (c[i].reason || mm == last_m) continue; /* one of each size */
        last_m = mm;
        fc_kernel_src ks = {0};
        cr_assert_eq(fc_emit_kernel(em, "overlap_tc", c[i].params, &dev, &ks, &e), FFTCONV_OK,
                     "%s", e.msg);
        fc_binary b = {0};
        cr_assert_eq(fc_compile(ks.source, ks.name, "sm_90", 0, &b, &e), FFTCONV_OK, "%s: %s",
                     c[i].params, e.msg);
        fc_binary_free(&b);
        fc_kernel_src_free(&ks);
        compiled++;
      }
      fc_candidates_free(c, n);
    }
  cr_assert_geq(compiled, 8);
  cr_log_info("overlap_tc: %d candidates compiled", compiled);
  fc_emit_close(em);
}
