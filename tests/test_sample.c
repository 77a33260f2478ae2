/* The sampler: the default plus a greedy cover of every parameter value, deterministic; on the
   real families, every value of every key of the valid exhaustive space (each factorization
   as a whole) appears in the sample of each FFT size, and the sample holds the default. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "gpu.h"
#include "sample.h"
#include "search.h"
#include "shape.h"

static fc_candidate cand(const char *params, const char *reason) {
  fc_candidate c = {strdup(params), reason ? strdup(reason) : NULL};
  return c;
}

Test(sample, greedy_cover_from_the_default) {
  fc_candidate c[] = {
      cand("{\"a\":1,\"f\":[8,8],\"s\":\"x\"}", NULL),
      cand("{\"a\":2,\"f\":[8,8],\"s\":\"x\"}", NULL),
      cand("{\"a\":1,\"f\":[8,16],\"s\":\"y\"}", NULL),
      cand("{\"a\":3,\"f\":[16,8],\"s\":\"x\"}", "refused"), /* never chosen */
      cand("{\"a\":2,\"f\":[16,8],\"s\":\"y\"}", NULL),
      cand("{\"a\":2,\"f\":[8,16],\"s\":\"y\"}", NULL),
  };
  int n = sizeof c / sizeof *c, *pick = NULL, np = 0;
  fc_err e = {{0}};
  /* Default c[1] (a=2, f=[8,8], x); then c[2] shows a=1, [8,16], y (3 new) and c[4] [16,8]. */
  cr_assert_eq(fc_sample(c, n, c[1].params, &pick, &np, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(np, 3);
  cr_assert_eq(pick[0], 1);
  cr_assert_eq(pick[1], 2);
  cr_assert_eq(pick[2], 4);
  free(pick);
  /* Without a default the first best candidate starts; a=3 exists only in a refused one. */
  cr_assert_eq(fc_sample(c, n, NULL, &pick, &np, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(np, 3);
  cr_assert_eq(pick[0], 0);
  cr_assert_eq(pick[1], 2); /* c[4] (3 new) came second, then c[2] before c[5] (a tie) */
  cr_assert_eq(pick[2], 4);
  free(pick);
  /* A default that is not a valid candidate is not added. */
  cr_assert_eq(fc_sample(c, n, c[3].params, &pick, &np, &e), FFTCONV_OK, "%s", e.msg);
  for (int i = 0; i < np; i++) cr_assert_neq(pick[i], 3);
  free(pick);
  /* Nothing valid: an empty sample. */
  cr_assert_eq(fc_sample(c + 3, 1, NULL, &pick, &np, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(np, 0);
  free(pick);
  for (int i = 0; i < n; i++) free(c[i].params), free(c[i].reason);
}

Test(sample, strings_with_escapes_and_bad_json) {
  fc_candidate c[] = {
      cand("{\"k\":\"a,\\\"}b\",\"n\":[1,[2,3]]}", NULL),
      cand("{\"k\":\"a\",\"n\":[1,[2,3]]}", NULL),
      cand("{\"k\":\"a,\\\"}b\",\"n\":[1,[2,4]]}", NULL),
  };
  int *pick = NULL, np = 0;
  fc_err e = {{0}};
  cr_assert_eq(fc_sample(c, 3, NULL, &pick, &np, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(np, 3, "\"a,\\\"}b\" and \"a\" are two values, [1,[2,3]] and [1,[2,4]] too");
  free(pick);
  const char *bad[] = {"", "[1,2]", "{\"k\":}", "{\"k\":1", "{\"k\":1}x", "{k:1}", "{\"k\":[1,2}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    fc_candidate b = cand(bad[i], NULL);
    cr_assert_eq(fc_sample(&b, 1, NULL, &pick, &np, &e), FFTCONV_ERR_INVALID, "'%s' accepted",
                 bad[i]);
    cr_assert_null(pick);
    free(b.params);
  }
  for (int i = 0; i < 3; i++) free(c[i].params);
}

/* The "key":value members of a flat canonical object, found independently of sample.c: a
   value ends at the ',' or '}' outside brackets and strings. */
static int members(const char *json, char out[][128], int cap) {
  int n = 0, depth = 0, str = 0;
  const char *start = json + 1;
  for (const char *p = json + 1; *p; p++) {
    if (str) {
      if (*p == '\\') p++;
      else if (*p == '"') str = 0;
      continue;
    }
    if (*p == '"') str = 1;
    else if (*p == '[') depth++;
    else if (*p == ']') depth--;
    else if ((*p == ',' || *p == '}') && depth == 0) {
      cr_assert_lt(n, cap);
      snprintf(out[n++], 128, "%.*s", (int)(p - start), start);
      start = p + 1;
    }
  }
  return n;
}

static int sample_has(const fc_candidate *s, int ns, const char *member) {
  for (int i = 0; i < ns; i++) {
    char m[32][128];
    int k = members(s[i].params, m, 32);
    for (int j = 0; j < k; j++)
      if (!strcmp(m[j], member)) return 1;
  }
  return 0;
}

Test(sample, families_every_value_default_and_deterministic) {
  fc_emit *em = NULL, *other = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_open(&other, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  for (int t = 0; t < fc_emit_template_count(em); t++) {
    const char *fam = fc_emit_template_name(em, t);
    for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++)
      for (int64_t n = 256; n <= 32768; n *= 2) {
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 3, p.heads = 5, p.seqlen = n, p.mode = FFTCONV_CIRCULAR;
        p.dtype = (fftconv_dtype)dt;
        p.pre_gate = 1;
        fc_candidate *all = NULL, *s = NULL, *s2 = NULL;
        int na = 0, ns = 0, ns2 = 0, valid = 0;
        cr_assert_eq(fc_emit_space(em, fam, &p, &dev, FC_RIGOR_EXHAUSTIVE, &all, &na, &e), FFTCONV_OK, "%s", e.msg);
        cr_assert_eq(fc_sample_space(em, fam, &p, &dev, &s, &ns, &e), FFTCONV_OK, "%s", e.msg);
        cr_assert_eq(fc_sample_space(other, fam, &p, &dev, &s2, &ns2, &e), FFTCONV_OK);
        cr_assert_eq(ns, ns2, "%s N=%lld: the sample differs between two states", fam,
                     (long long)n);
        for (int i = 0; i < ns; i++) {
          cr_assert_str_eq(s[i].params, s2[i].params);
          cr_assert_null(s[i].reason);
        }
        for (int i = 0; i < na; i++) {
          if (all[i].reason) continue;
          valid++;
          char m[32][128];
          int k = members(all[i].params, m, 32);
          for (int j = 0; j < k; j++)
            cr_assert(sample_has(s, ns, m[j]), "%s N=%lld: %s is in the space, not the sample",
                      fam, (long long)n, m[j]);
        }
        int in = 0; /* a subset of the valid space, in its order */
        for (int i = 0, j = 0; i < ns; i++) {
          while (j < na && strcmp(all[j].params, s[i].params)) j++;
          in += j < na && !all[j].reason;
        }
        cr_assert_eq(in, ns, "%s N=%lld: the sample is not an ordered subset", fam, (long long)n);
        char *dflt = NULL;
        if (valid) {
          cr_assert_eq(fc_emit_default(em, fam, &p, &dev, &dflt, &e), FFTCONV_OK, "%s", e.msg);
          int found = 0;
          for (int i = 0; i < ns; i++) found += !strcmp(s[i].params, dflt);
          cr_assert_eq(found, 1, "%s N=%lld: default %s not in the sample", fam, (long long)n, dflt);
          cr_assert_lt(ns, valid + 1);
        } else {
          cr_assert_eq(ns, 0, "%s N=%lld dtype %d: sampled an empty space", fam, (long long)n, dt);
        }
        free(dflt);
        fc_candidates_free(all, na);
        fc_candidates_free(s, ns);
        fc_candidates_free(s2, ns2);
      }
  }
  fc_emit_close(em);
  fc_emit_close(other);
}

/* The search tunes one op (fc_search_opts.op, forward by default) and refuses one that is not
   an op before any template runs. */
Test(sample, search_refuses_an_unknown_op) {
  fc_search_opts o;
  fc_search_defaults(FC_RIGOR_ESTIMATE, &o);
  cr_assert_eq(o.op, FC_OP_FORWARD);
  o.op = fc_op_count();
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  fftconv_problem p;
  fftconv_problem_init(&p);
  fc_search s;
  fc_err e = {{0}};
  cr_assert_eq(fc_search_run(NULL, &p, &dev, &o, &s, &e), FFTCONV_ERR_INVALID);
  char want[64];
  snprintf(want, sizeof want, "op: %d is unknown", fc_op_count());
  cr_assert(strstr(e.msg, want), "%s", e.msg);
  fc_search_free(&s);
}
