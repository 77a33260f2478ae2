/* The tensor-core family on the CPU: check() refuses what the family cannot run, with a
   reason; default() says why it cannot run a problem instead of failing; the exhaustive space
   holds every variant; emission is deterministic. (Compiling the space: test_compile_sample,
   and test_compile_all for all of it.) */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "gpu.h"
#include "shape.h"

#define FAMILY "monarch_tc"

static fftconv_problem problem(int64_t n, fftconv_dtype dt) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 64;
  p.heads = 768;
  p.seqlen = n;
  p.mode = FFTCONV_CIRCULAR;
  p.dtype = dt;
  p.pre_gate = p.post_gate = 1;
  return p;
}

/* Counts the candidates check() accepts and those refused with a reason containing why. */
static void count(fc_emit *em, const fftconv_problem *p, const fc_device_info *dev, int *valid,
                  int *because, const char *why) {
  fc_candidate *c = NULL;
  int n = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_space(em, FAMILY, p, dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  *valid = *because = 0;
  for (int i = 0; i < n; i++) {
    *valid += !c[i].reason;
    *because += c[i].reason && strstr(c[i].reason, why) != NULL;
  }
  fc_candidates_free(c, n);
}

/* fp32 I/O, pre-Ampere devices and too little shared memory are refused with reasons, and
   default() then reports the reason as FFTCONV_ERR_UNSUPPORTED. */
Test(family_tc, check_refuses_with_reasons) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  int valid, because;
  fftconv_problem p = problem(4096, FFTCONV_FP32);
  count(em, &p, &dev, &valid, &because, "fp16 or bf16");
  cr_assert_eq(valid, 0);
  cr_assert_gt(because, 0);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "fp16 or bf16"), "%s", e.msg);

  p = problem(4096, FFTCONV_BF16);
  fc_device_info old = dev;
  old.sm = 75;
  count(em, &p, &old, &valid, &because, "sm_80");
  cr_assert_eq(valid, 0);
  cr_assert_gt(because, 0);

  /* N = 32768 needs 128 KB a pair: a 64 KB device has nothing. */
  p = problem(32768, FFTCONV_FP16);
  count(em, &p, &dev, &valid, &because, "shared memory");
  cr_assert_gt(valid, 0);
  dev.smem_optin = 65536;
  count(em, &p, &dev, &valid, &because, "shared memory");
  cr_assert_eq(valid, 0);
  cr_assert_gt(because, 0);
  cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_ERR_UNSUPPORTED);
  fc_emit_close(em);
}

/* The default is a valid candidate at every size, both modes, both half dtypes; its factors
   multiply to N; the measure space is a pruned subset of the exhaustive one. */
Test(family_tc, default_valid_and_measure_subset) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int64_t n = 256; n <= 32768; n *= 2)
      for (int mode = 0; mode < 2; mode++) {
        fftconv_problem p = problem(n, (fftconv_dtype)dt);
        p.batch = 3;
        p.heads = 5;
        if (mode == 0) p.mode = FFTCONV_CAUSAL, p.seqlen = n / 2 - 3;
        char *params = NULL;
        cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
        fc_candidate *all = NULL, *some = NULL;
        int na = 0, ns = 0, found = 0;
        cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &all, &na, &e), FFTCONV_OK);
        cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_MEASURE, &some, &ns, &e), FFTCONV_OK);
        for (int i = 0; i < na; i++) found += !all[i].reason && !strcmp(all[i].params, params);
        cr_assert_eq(found, 1, "default %s is not a valid candidate", params);
        cr_assert_lt(ns, na);
        for (int i = 0; i < ns; i++) {
          int in = 0;
          for (int j = 0; j < na; j++) in += !strcmp(some[i].params, all[j].params);
          cr_assert_eq(in, 1, "%s is not in the exhaustive space", some[i].params);
        }
        fc_candidates_free(all, na);
        fc_candidates_free(some, ns);
        free(params);
      }
  fc_emit_close(em);
}

/* The heuristic choice (no cache) is what the tuned winners of the main job share on the H100
   and H200 (bench/RESULTS.md): factors of at most 16 below 32K, fewest passes, 16 first; 32^3
   and 16 warps at 32K; 4 warps at 256 and 4096; one head's pairs in consecutive blocks where a
   block has one pair. Fewest passes first (32x32 at 1K) ran up to 2.5x slower. */
Test(family_tc, default_is_what_the_tuned_winners_share) {
  static const struct {
    int64_t n;
    const char *factors, *warps, *group;
  } want[] = {
      {256, "[16,16]", "\"warps\":4", "row"},         {512, "[8,8,8]", "\"warps\":8", "row"},
      {1024, "[16,8,8]", "\"warps\":8", "row"},       {2048, "[16,16,8]", "\"warps\":8", "row"},
      {4096, "[16,16,16]", "\"warps\":4", "head"},    {8192, "[16,8,8,8]", "\"warps\":8", "head"},
      {16384, "[16,16,8,8]", "\"warps\":8", "head"},  {32768, "[32,32,32]", "\"warps\":16", "row"},
  };
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    for (int mode = 0; mode < 2; mode++) {
      fftconv_problem p = problem(want[i].n, FFTCONV_FP16);
      p.batch = 64;
      p.heads = 768;
      if (mode == 0) p.mode = FFTCONV_CAUSAL, p.seqlen = want[i].n / 2;
      char *params = NULL;
      cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
      char f[64], g[32];
      snprintf(f, sizeof f, "\"factors\":%s", want[i].factors);
      snprintf(g, sizeof g, "\"group\":\"%s\"", want[i].group);
      cr_expect(strstr(params, f) && strstr(params, want[i].warps) && strstr(params, g),
                "N = %" PRId64 " %s: %s, not %s %s %s", want[i].n, mode ? "circular" : "causal",
                params, f, want[i].warps, g);
      free(params);
    }
  fc_emit_close(em);
}

Test(family_tc, emission_is_deterministic_and_self_describing) {
  fc_emit *a = NULL, *b = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&a, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_open(&b, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(80, &dev);
  fftconv_problem p = problem(8192, FFTCONV_BF16);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(a, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
  fc_kernel_src s1 = {0}, s2 = {0};
  cr_assert_eq(fc_emit_kernel(a, FAMILY, params, &dev, &s1, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(b, FAMILY, params, &dev, &s2, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(s1.source, s2.source);
  cr_assert(strstr(s1.source, " * template: monarch_tc revision "));
  cr_assert(strstr(s1.source, params));
  cr_assert(strstr(s1.source, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
  /* The load and store loops decode a chunk with shifts and read the row from the group's
     table (bench/NOTES.md, 22a): the pair's batch is divided out once a group, in `bases`. */
  int divides = 0;
  for (const char *at = s1.source; (at = strstr(at, "pair_bp(c, BP, H)")); at++) divides++;
  cr_assert_eq(divides, 1, "the pair's batch decoded %d times", divides);
  cr_assert(strstr(s1.source, "rbase[2 * q + pl]"));
  /* The filter spectrum is in the kernel's layout: N complex bins a head, after (this default
     is 16x8x8x8 and takes the twiddle tables where the space offers them) the tables. */
  cr_assert_eq(s1.manifest.filter_per_head, 8192 * 8);
  cr_assert(strstr(params, "\"factors\":[16,8,8,8]") && strstr(params, "\"twiddle\":\"table\""),
            "%s", params);
  cr_assert_eq(s1.manifest.filter_fixed, 8 * (8192 + 512 + 64));
  fc_kernel_src_free(&s1);
  /* A kernel with 32-point passes has no tables. */
  const char *no_tab = "{\"dtype\":\"bf16\",\"factors\":[8,32,32],\"fft_size\":8192,"
                       "\"group\":\"row\",\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,"
                       "\"pre_gate\":true,\"real\":\"pair\",\"smem\":\"swizzle\",\"warps\":8}";
  cr_assert_eq(fc_emit_kernel(a, FAMILY, no_tab, &dev, &s1, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s1.manifest.filter_fixed, 0);
  fc_kernel_src_free(&s1);
  /* With twiddle "table" the tables lead the buffer (bench/NOTES.md, 23): one a column pass,
     n_i S_i = N / (n_1 ... n_(i-1)) complex values each, which the prepare kernel writes and
     the passes read in place of sines: 8192 + 8192 / 16 + 8192 / 128 values for 16x8x8x8. */
  const char *tab = "{\"dtype\":\"bf16\",\"factors\":[16,8,8,8],\"fft_size\":8192,"
                    "\"group\":\"row\",\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,"
                    "\"pre_gate\":true,\"real\":\"pair\",\"smem\":\"swizzle\","
                    "\"twiddle\":\"table\",\"warps\":8}";
  cr_assert_eq(fc_emit_kernel(a, FAMILY, tab, &dev, &s1, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s1.manifest.filter_per_head, 8192 * 8);
  cr_assert_eq(s1.manifest.filter_fixed, 8 * (8192 + 512 + 64), "%lld bytes of tables",
               (long long)s1.manifest.filter_fixed);
  cr_assert_str_eq(s1.manifest.filter_layout, "monarch_tc.pair.16x8x8x8.tw");
  cr_assert(strstr(s1.source, "tw_pair<"));
  cr_assert(!strstr(s1.source, "twiddle<TN, TS>(j") && !strstr(s1.source, "root<R * S>(k"),
            "a kernel with tables computes no twiddle");
  cr_assert(strstr(s1.source, "swz_join(s0, lst[mi])"), "its column passes join addresses");
  free(params);
  fc_kernel_src_free(&s1);
  fc_kernel_src_free(&s2);
  fc_emit_close(a);
  fc_emit_close(b);
}

/* The exhaustive space holds every variant the issue names (real-input strategy, cp.async or
   plain loads, padded or swizzled shared memory, filter reuse across a head's pairs), and
   check() refuses values it does not know. */
Test(family_tc, space_holds_every_variant) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(4096, FFTCONV_FP16);
  fc_candidate *c = NULL;
  int n = 0;
  cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  static const char *want[] = {"\"load\":\"async\"", "\"load\":\"plain\"", "\"smem\":\"pad\"",
                               "\"smem\":\"swizzle\"", "\"group\":\"head\"", "\"group\":\"row\"",
                               "\"real\":\"pair\"", "\"real\":\"half\"",
                               "\"factors\":[16,16,16]",
                               "\"factors\":[8,8,8,8]"};
  for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
    int found = 0;
    for (int i = 0; i < n; i++) found += !c[i].reason && strstr(c[i].params, want[w]) != NULL;
    cr_assert_gt(found, 0, "no valid candidate with %s", want[w]);
  }
  fc_candidates_free(c, n);
  char *params = NULL;
  cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
  char *bad = malloc(strlen(params) + 16);
  const char *at = strstr(params, "\"load\":\"plain\"");
  cr_assert(at, "%s", params);
  sprintf(bad, "%.*s\"load\":\"tma\"%s", (int)(at - params), params, at + strlen("\"load\":\"plain\""));
  fc_kernel_src s = {0};
  cr_assert_neq(fc_emit_kernel(em, FAMILY, bad, &dev, &s, &e), FFTCONV_OK, "%s accepted", bad);
  free(bad);
  free(params);
  fc_emit_close(em);
}

/* How many candidates of p's exhaustive space hold `want` in their parameters: valid ones in
   *valid, refused ones in *refused. */
static void with(fc_emit *em, const fftconv_problem *p, const fc_device_info *dev,
                 const char *want, int *valid, int *refused) {
  fc_candidate *c = NULL;
  int n = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_space(em, FAMILY, p, dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK,
               "%s", e.msg);
  *valid = *refused = 0;
  for (int i = 0; i < n; i++)
    if (strstr(c[i].params, want)) c[i].reason ? (*refused)++ : (*valid)++;
  fc_candidates_free(c, n);
}

/* Why check() refuses `params` with one field replaced (`from` by `to`), for p. */
static char *refusal(fc_emit *em, const fftconv_problem *p, const fc_device_info *dev,
                     const char *params, const char *from, const char *to) {
  const char *at = strstr(params, from);
  cr_assert(at, "%s has no %s", params, from);
  char *edited = malloc(strlen(params) + strlen(to) + 1);
  sprintf(edited, "%.*s%s%s", (int)(at - params), params, to, at + strlen(from));
  char *why = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_check(em, FAMILY, p, dev, edited, &why, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(why, "%s accepted", edited);
  free(edited);
  return why;
}

/* A low-pass mask (freq_keep F) gives each "pair" candidate a banded copy: the row pass keeps
   `band` groups of 8 columns (4 at each end), the fewest that hold the columns the mask keeps
   (a = ceil(F R / N) at each end, R the last factor). None without a mask; with D, each says
   skip_d (D v is added at its store). check() refuses a band too narrow for F, one as wide as
   the row, skip_d without a band or unlike the problem's; the default takes a band; the
   banded text has the pruned row pass. */
Test(family_tc, band_for_a_low_pass_mask) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  fftconv_problem p = problem(4096, FFTCONV_FP16);
  int valid, refused;
  with(em, &p, &dev, "\"band\"", &valid, &refused);
  cr_assert_eq(valid + refused, 0, "a band without a mask");
  p.freq_keep = 512; /* N / 8: a = 2 columns of 16, 4 of 32: one group */
  with(em, &p, &dev, "\"band\":1", &valid, &refused);
  cr_assert_gt(valid, 0);
  with(em, &p, &dev, "\"band\":2", &valid, &refused);
  cr_assert_eq(valid + refused, 0, "a band wider than the mask needs");
  int all;
  with(em, &p, &dev, "\"skip_d\"", &valid, &refused);
  cr_assert_eq(valid + refused, 0, "skip_d without D");
  p.skip_d = 1; /* D: the band takes it off its bins and adds D v at the store */
  with(em, &p, &dev, "\"band\"", &all, &refused);
  with(em, &p, &dev, "\"skip_d\":true", &valid, &refused);
  cr_assert(valid > 0 && valid == all, "%d banded candidates, %d with skip_d", all, valid);
  p.skip_d = 0;
  p.freq_keep = 600; /* a = 3 of 16 (one group), 5 of 32 (two: every column but 16) */
  with(em, &p, &dev, "\"factors\":[16,16,16],\"fft_size\":4096,\"group\":\"row\",\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":true,\"real\":\"pair\",\"smem\":\"swizzle\",\"twiddle\":\"table\",\"warps\":4", &valid, &refused);
  cr_assert_eq(valid, 2, "dense and banded 16x16x16");

  char *params = NULL;
  cr_assert_eq(fc_emit_default(em, FAMILY, &p, &dev, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(params, "\"band\":1"), "the default takes no band: %s", params);
  fc_kernel_src s = {0};
  cr_assert_eq(fc_emit_kernel(em, FAMILY, params, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(s.source, "row_pass_band<"), "%s", params);
  fc_kernel_src_free(&s);
  /* with D: the store adds D v, each row's D in shared memory after the row offsets (16 bytes
     and 8 bytes a pair beside the planes) */
  const char *d16 = "{\"band\":1,\"dtype\":\"fp16\",\"factors\":[16,16,16],\"fft_size\":4096,"
                    "\"group\":\"row\",\"load\":\"plain\",\"pairs\":2,\"post_gate\":true,"
                    "\"pre_gate\":true,\"real\":\"pair\",\"skip_d\":true,\"smem\":\"swizzle\","
                    "\"warps\":4}";
  cr_assert_eq(fc_emit_kernel(em, FAMILY, d16, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(s.source, "add_dv("), "%s", d16);
  cr_assert_eq(s.manifest.launch[1].smem, 2 * 4 * 4096 + 2 * (16 + 8), "smem %d",
               s.manifest.launch[1].smem);
  fc_kernel_src_free(&s);

  /* 16x16x16 with F = 600: the band's 4 columns each end hold the mask's 3 */
  const char *dense = "{\"dtype\":\"fp16\",\"factors\":[16,16,16],\"fft_size\":4096,"
                      "\"group\":\"row\",\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,"
                      "\"pre_gate\":true,\"real\":\"pair\",\"smem\":\"swizzle\",\"warps\":4}";
  char *why = refusal(em, &p, &dev, dense, "\"warps\":4", "\"warps\":4,\"band\":2");
  cr_assert(strstr(why, "every column of the 16-point row pass"), "%s", why);
  free(why);
  p.freq_keep = 1500; /* a = 6 of 16: one group holds 4 */
  why = refusal(em, &p, &dev, dense, "\"warps\":4", "\"warps\":4,\"band\":1");
  cr_assert(strstr(why, "freq_keep 1500 keeps 6 columns"), "%s", why);
  free(why);
  why = refusal(em, &p, &dev, dense, "\"warps\":4", "\"warps\":4,\"band\":0");
  cr_assert(strstr(why, "positive integer"), "%s", why);
  free(why);
  why = refusal(em, &p, &dev, dense, "\"warps\":4", "\"warps\":4,\"skip_d\":true");
  cr_assert(strstr(why, "a band's parameter"), "%s", why);
  free(why);
  p.freq_keep = 512;
  p.skip_d = 1;
  why = refusal(em, &p, &dev, dense, "\"warps\":4", "\"warps\":4,\"band\":1");
  cr_assert(strstr(why, "skip_d differs"), "%s", why);
  free(why);
  free(params);
  fc_emit_close(em);
}

/* Checks launch i of a manifest: entry, phase, grid over/per, a 1-D block, smem and the
   kernel's argument list (the first kernel ABI's, by name). */
static void launch_is(const fc_manifest *m, int i, const char *entry, fc_phase phase,
                      fc_over over, int per, int threads, int smem, const char *args) {
  cr_assert_lt(i, m->nlaunch);
  const fc_launch *l = &m->launch[i];
  cr_assert_str_eq(l->entry, entry);
  cr_assert_eq(l->phase, phase, "%s", entry);
  cr_assert_eq(l->over, over, "%s", entry);
  cr_assert_eq(l->per, per, "%s: per %d", entry, l->per);
  cr_assert(l->block[0] == threads && l->block[1] == 1 && l->block[2] == 1, "%s: block %dx%dx%d",
            entry, l->block[0], l->block[1], l->block[2]);
  cr_assert_eq(l->smem, smem, "%s: smem %d", entry, l->smem);
  cr_assert(l->grid_y == 1 && l->grid_z == 1 && l->cluster[0] == 1 && l->cluster[1] == 1 &&
            l->cluster[2] == 1, "%s", entry);
  char got[128] = "";
  for (int a = 0; a < l->nargs; a++) {
    if (a) strcat(got, " ");
    strcat(got, fc_arg_name(l->args[a], m));
  }
  cr_assert_str_eq(got, args);
}

/* layout() returns the full manifest: prepare (a block of 256 threads a head, no shared
   memory) then forward (warps * 32 threads per `pairs` units: two rows a unit for "pair", one
   for "half"), and a filter layout named for what it holds: "pair" in the passes' order of its
   factorization, "half" in natural order after N values of scratch. */
Test(family_tc, manifest_of_known_candidates) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  static const struct {
    const char *params;
    int threads, per, smem;
    const char *filter;
    int64_t per_head;
  } want[] = {
      /* two planes of 8192 fp16 operands (32 KB), a staging area for u and pre (64 KB) and
         the group's two row offsets (16 bytes) */
      {"{\"dtype\":\"fp16\",\"factors\":[16,16,32],\"fft_size\":8192,\"group\":\"row\","
       "\"load\":\"async\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":true,\"real\":\"pair\","
       "\"smem\":\"swizzle\",\"warps\":8}",
       256, 2, 98304 + 16, "monarch_tc.pair.16x16x32", 8192 * 8},
      /* two units of 4096 points: planes (16 KB) and an fp32 scratch (32 KB) each */
      {"{\"dtype\":\"bf16\",\"factors\":[16,16,16],\"fft_size\":8192,\"group\":\"row\","
       "\"load\":\"plain\",\"pairs\":2,\"post_gate\":false,\"pre_gate\":false,\"real\":\"half\","
       "\"smem\":\"swizzle\",\"warps\":4}",
       128, 2, 98304, "monarch_tc.half", (8192 + 4096 + 1) * 8},
  };
  for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
    fc_kernel_src s = {0};
    cr_assert_eq(fc_emit_kernel(em, FAMILY, want[w].params, &dev, &s, &e), FFTCONV_OK, "%s", e.msg);
    const fc_manifest *m = &s.manifest;
    cr_assert_eq(m->nlaunch, 2);
    launch_is(m, 0, "fftconv_prep", FC_PHASE_PREPARE, FC_OVER_HEADS, 1, 256, 0,
              "k d k_hat H K F");
    cr_assert_eq(m->launch[0].reads, 1u << FC_ARG_K | 1u << FC_ARG_D);
    cr_assert_eq(m->launch[0].writes, 1u << FC_ARG_KHAT);
    launch_is(m, 1, "fftconv_fwd", FC_PHASE_FORWARD, FC_OVER_ROWS, want[w].per, want[w].threads,
              want[w].smem, "u pre post k_hat y rows L H");
    cr_assert_eq(m->launch[1].reads,
                 1u << FC_ARG_U | 1u << FC_ARG_PRE | 1u << FC_ARG_POST | 1u << FC_ARG_KHAT);
    cr_assert_eq(m->launch[1].writes, 1u << FC_ARG_Y);
    cr_assert_eq(m->nws, 0);
    cr_assert_str_eq(m->filter_layout, want[w].filter);
    cr_assert_eq(m->filter_per_head, want[w].per_head);
    cr_assert_eq(m->filter_fixed, 0);
    /* the prep kernel's launch bounds are the manifest's block */
    cr_assert(strstr(s.source, "__launch_bounds__(256)\nfftconv_prep("), "%.300s", s.source);
    fc_kernel_src_free(&s);
  }
  fc_emit_close(em);
}

/* Twiddle tables (bench/NOTES.md, 23): offered beside the computed twiddles for "pair"
   kernels of factors at most 16 up to N = 8192, forward and backward; never with a 32-point
   pass, above 8192, or for "half"; check() refuses an unknown value and "half" with one. */
Test(family_tc, twiddle_tables_where_they_won) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  fc_device_info_for_arch(90, &dev);
  int valid, refused;
  fftconv_problem p = problem(4096, FFTCONV_FP16);
  p.batch = 3; /* odd: "half" candidates too */
  with(em, &p, &dev, "\"factors\":[16,16,16],\"fft_size\":4096,\"group\":\"row\",\"load\":"
       "\"plain\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":true,\"real\":\"pair\",\"smem\":"
       "\"swizzle\",\"twiddle\":\"table\"", &valid, &refused);
  cr_assert_gt(valid, 0, "16x16x16 with tables");
  with(em, &p, &dev, "\"twiddle\":\"table\"", &valid, &refused);
  cr_assert_gt(valid, 0);
  int with32 = 0, total = 0;
  {
    fc_candidate *c = NULL;
    int n = 0;
    cr_assert_eq(fc_emit_space(em, FAMILY, &p, &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK,
                 "%s", e.msg);
    for (int i = 0; i < n; i++)
      if (strstr(c[i].params, "\"twiddle\":\"table\"")) {
        total++;
        const char *f = strstr(c[i].params, "\"factors\":["), *end = f ? strchr(f, ']') : NULL;
        cr_assert(end, "%s", c[i].params);
        const char *at = strstr(f, "32");
        with32 += at && at < end;
        cr_assert(strstr(c[i].params, "\"real\":\"pair\""), "%s", c[i].params);
      }
    fc_candidates_free(c, n);
  }
  cr_assert_eq(with32, 0, "no table candidate with a 32-point pass");
  cr_assert_gt(total, 0);
  {
    fc_candidate *c = NULL;
    int n = 0, tables = 0;
    cr_assert_eq(fc_emit_space_op(em, FAMILY, FC_OP_BACKWARD, &p, &dev, FC_RIGOR_MEASURE, &c, &n,
                                  &e), FFTCONV_OK, "%s", e.msg);
    for (int i = 0; i < n; i++) tables += strstr(c[i].params, "\"twiddle\":\"table\"") != NULL;
    fc_candidates_free(c, n);
    cr_assert_gt(tables, 0, "the backward's tables");
  }
  p = problem(16384, FFTCONV_FP16);
  with(em, &p, &dev, "\"twiddle\"", &valid, &refused);
  cr_assert_eq(valid + refused, 0, "none above 8192");

  p = problem(4096, FFTCONV_FP16);
  const char *base = "{\"dtype\":\"fp16\",\"factors\":[16,16,16],\"fft_size\":4096,\"group\":"
                     "\"row\",\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":"
                     "true,\"real\":\"pair\",\"smem\":\"swizzle\",\"twiddle\":\"table\","
                     "\"warps\":4}";
  char *why = refusal(em, &p, &dev, base, "\"twiddle\":\"table\"", "\"twiddle\":\"sines\"");
  cr_assert(strstr(why, "twiddle: \"table\""), "%s", why);
  free(why);
  why = refusal(em, &p, &dev, base, "\"factors\":[16,16,16],\"fft_size\":4096,\"group\":\"row\","
                "\"load\":\"plain\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":true,\"real\":"
                "\"pair\"", "\"factors\":[16,8,16],\"fft_size\":4096,\"group\":\"row\",\"load\":"
                "\"plain\",\"pairs\":1,\"post_gate\":true,\"pre_gate\":true,\"real\":\"half\"");
  cr_assert(strstr(why, "twiddle") && strstr(why, "pair"), "%s", why);
  free(why);
  fc_emit_close(em);
}
