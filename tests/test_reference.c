/* test_reference: the FFTW reference against the direct sums, known filters (impulses,
 * shifts), linearity, frequency-sparse masks against a naive DFT, fc_rel_l2 and errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

enum { TR_PRE = 1, TR_POST = 2, TR_D = 4 };

/* A test case: the problem plus owned input and output arrays. */
typedef struct tr_case {
  fftconv_problem p;
  int64_t K, rows;
  double *u, *pre, *post, *k, *d, *y, *y2;
  fc_ref_inputs in;
} tr_case;

static double *tr_alloc(int64_t n) {
  double *a = calloc((size_t)n, sizeof(double));
  cr_assert_not_null(a);
  return a;
}

/* Random values kept away from zero, so a path that drops a term cannot pass by luck. */
static void tr_fill(fc_rng *r, double *a, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double x = fc_rng_uniform(r);
    a[i] = x < 0 ? x - 0.1 : x + 0.1;
  }
}

static void tr_setup(tr_case *c, fftconv_mode mode, int64_t B, int64_t H, int64_t L, int64_t K,
                     int64_t F, int flags, uint64_t seed) {
  memset(c, 0, sizeof *c);
  fftconv_problem_init(&c->p);
  c->p.batch = B;
  c->p.heads = H;
  c->p.seqlen = L;
  c->p.filter_len = K;
  c->p.freq_keep = F;
  c->p.mode = mode;
  c->p.pre_gate = !!(flags & TR_PRE);
  c->p.post_gate = !!(flags & TR_POST);
  c->p.skip_d = !!(flags & TR_D);
  cr_assert_eq(fftconv_problem_check(&c->p, NULL, 0), FFTCONV_OK);
  c->K = K ? K : L;
  c->rows = B * H;
  fc_rng r = {seed};
  c->u = tr_alloc(c->rows * L);
  tr_fill(&r, c->u, c->rows * L);
  c->k = tr_alloc(H * c->K);
  tr_fill(&r, c->k, H * c->K);
  if (flags & TR_PRE) {
    c->pre = tr_alloc(c->rows * L);
    tr_fill(&r, c->pre, c->rows * L);
  }
  if (flags & TR_POST) {
    c->post = tr_alloc(c->rows * L);
    tr_fill(&r, c->post, c->rows * L);
  }
  if (flags & TR_D) {
    c->d = tr_alloc(H);
    tr_fill(&r, c->d, H);
  }
  c->y = tr_alloc(c->rows * L);
  c->y2 = tr_alloc(c->rows * L);
  c->in = (fc_ref_inputs){c->u, c->pre, c->post, c->k, c->d};
}

static void tr_free(tr_case *c) {
  free(c->u);
  free(c->pre);
  free(c->post);
  free(c->k);
  free(c->d);
  free(c->y);
  free(c->y2);
}

static double tr_v(const tr_case *c, int64_t i) {
  return c->pre ? c->pre[i] * c->u[i] : c->u[i];
}

/* y expected from z: the D term and post gate applied by hand. */
static double tr_finish(const tr_case *c, int64_t r, int64_t n, double z) {
  int64_t i = r * c->p.seqlen + n, h = r % c->p.heads;
  if (c->d) z += c->d[h] * tr_v(c, i);
  if (c->post) z *= c->post[i];
  return z;
}

static void tr_run_both(tr_case *c) {
  fc_err e = {{0}};
  cr_assert_eq(fc_reference(&c->p, &c->in, c->y, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_reference_direct(&c->p, &c->in, c->y2, &e), FFTCONV_OK, "%s", e.msg);
}

static void tr_compare(fftconv_mode mode, int64_t L, int64_t K, int flags) {
  tr_case c;
  tr_setup(&c, mode, 3, 5, L, K, 0, flags, 1000u + (uint64_t)(L * 37 + K * 3 + flags));
  tr_run_both(&c);
  double err = fc_rel_l2(c.y2, c.y, (size_t)(c.rows * L));
  cr_assert(err < 1e-12, "%s L=%lld K=%lld flags=%d: rel err %g", fftconv_mode_name(mode),
            (long long)L, (long long)K, flags, err);
  tr_free(&c);
}

Test(reference, fft_matches_direct_causal) {
  const int64_t Ls[] = {1, 7, 100, 256, 1000};
  for (size_t i = 0; i < sizeof Ls / sizeof Ls[0]; i++) {
    const int64_t Ks[] = {1, 17, Ls[i]};
    for (size_t j = 0; j < 3; j++) {
      if (Ks[j] > Ls[i]) continue;
      tr_compare(FFTCONV_CAUSAL, Ls[i], Ks[j], 0);
      tr_compare(FFTCONV_CAUSAL, Ls[i], Ks[j], TR_PRE | TR_POST | TR_D);
    }
  }
  tr_compare(FFTCONV_CAUSAL, 100, 0, TR_D); /* K = 0 means K = L */
}

Test(reference, fft_matches_direct_circular) {
  const int64_t Ls[] = {256, 512};
  for (size_t i = 0; i < 2; i++) {
    const int64_t Ks[] = {1, 17, Ls[i]};
    for (size_t j = 0; j < 3; j++) {
      tr_compare(FFTCONV_CIRCULAR, Ls[i], Ks[j], 0);
      tr_compare(FFTCONV_CIRCULAR, Ls[i], Ks[j], TR_PRE | TR_POST | TR_D);
    }
  }
}

Test(reference, every_gate_combination) {
  for (int flags = 0; flags < 8; flags++) {
    tr_compare(FFTCONV_CAUSAL, 100, 17, flags);
    tr_compare(FFTCONV_CIRCULAR, 256, 40, flags);
  }
}

/* k[h] = delta at `shift`: y = v shifted by `shift` (zeros in front, or wrapped), plus D. */
static void tr_shifted_impulse(fftconv_mode mode, int64_t L, int64_t K, int64_t shift,
                               int flags) {
  tr_case c;
  tr_setup(&c, mode, 3, 5, L, K, 0, flags, 77u + (uint64_t)shift);
  memset(c.k, 0, sizeof(double) * (size_t)(c.p.heads * c.K));
  for (int64_t h = 0; h < c.p.heads; h++) c.k[h * c.K + shift] = 1.0;
  tr_run_both(&c);
  for (int64_t r = 0; r < c.rows; r++)
    for (int64_t n = 0; n < L; n++) {
      double z;
      if (mode == FFTCONV_CIRCULAR)
        z = tr_v(&c, r * L + (n - shift + L) % L);
      else
        z = n >= shift ? tr_v(&c, r * L + n - shift) : 0.0;
      double want = tr_finish(&c, r, n, z);
      int64_t i = r * L + n;
      cr_assert(fabs(c.y[i] - want) < 1e-12, "fft: row %lld n %lld: %.17g vs %.17g",
                (long long)r, (long long)n, c.y[i], want);
      cr_assert(fabs(c.y2[i] - want) < 1e-12, "direct: row %lld n %lld: %.17g vs %.17g",
                (long long)r, (long long)n, c.y2[i], want);
    }
  tr_free(&c);
}

Test(reference, impulse_returns_input) {
  tr_shifted_impulse(FFTCONV_CAUSAL, 100, 17, 0, 0);
  tr_shifted_impulse(FFTCONV_CAUSAL, 100, 100, 0, TR_D);
  tr_shifted_impulse(FFTCONV_CIRCULAR, 256, 256, 0, TR_PRE | TR_POST | TR_D);
}

Test(reference, shifted_impulse_shifts) {
  tr_shifted_impulse(FFTCONV_CAUSAL, 100, 17, 5, 0);
  tr_shifted_impulse(FFTCONV_CAUSAL, 100, 100, 99, TR_PRE | TR_D);
  tr_shifted_impulse(FFTCONV_CIRCULAR, 256, 17, 13, 0);
  tr_shifted_impulse(FFTCONV_CIRCULAR, 256, 256, 200, TR_POST | TR_D);
}

/* Linear in u (gates and D included: y = post * (k conv v + d v), v = pre * u), and linear in
   k when there is no D term (D adds a k-independent part). Checked on a sparse problem too. */
static void tr_linearity(fftconv_mode mode, int64_t L, int64_t K, int64_t F, int flags) {
  tr_case c1, c2;
  tr_setup(&c1, mode, 2, 3, L, K, F, flags, 11);
  tr_setup(&c2, mode, 2, 3, L, K, F, flags, 12);
  const double a = 0.75, b = -1.5;
  const int64_t nu = c1.rows * L, nk = c1.p.heads * c1.K;
  double *mu = tr_alloc(nu), *mk = tr_alloc(nk), *y3 = tr_alloc(nu), *want = tr_alloc(nu);
  for (int64_t i = 0; i < nu; i++) mu[i] = a * c1.u[i] + b * c2.u[i];
  for (int64_t i = 0; i < nk; i++) mk[i] = a * c1.k[i] + b * c2.k[i];
  fc_err e = {{0}};
  for (int pass = 0; pass < 2; pass++) {
    fc_ref_inputs in1 = c1.in, in2 = c1.in, in3 = c1.in;
    if (pass == 0) {
      in2.u = c2.u;
      in3.u = mu;
    } else {
      in1.d = in2.d = in3.d = NULL;
      in2.k = c2.k;
      in3.k = mk;
    }
    cr_assert_eq(fc_reference(&c1.p, &in1, c1.y, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(fc_reference(&c1.p, &in2, c2.y, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(fc_reference(&c1.p, &in3, y3, &e), FFTCONV_OK, "%s", e.msg);
    for (int64_t i = 0; i < nu; i++) want[i] = a * c1.y[i] + b * c2.y[i];
    double err = fc_rel_l2(want, y3, (size_t)nu);
    cr_assert(err < 1e-13, "pass %d F=%lld: rel err %g", pass, (long long)F, err);
  }
  free(mu);
  free(mk);
  free(y3);
  free(want);
  tr_free(&c1);
  tr_free(&c2);
}

Test(reference, linearity) {
  tr_linearity(FFTCONV_CAUSAL, 100, 17, 0, TR_PRE | TR_POST | TR_D);
  tr_linearity(FFTCONV_CIRCULAR, 256, 256, 0, TR_PRE | TR_D);
  tr_linearity(FFTCONV_CAUSAL, 100, 100, 9, TR_PRE | TR_POST | TR_D);
}

Test(reference, sparse_all_bins_equals_dense) {
  /* causal L=100 K=17 -> N=256; circular L=512 -> N=512; causal L=300 K=300 -> N=1024 */
  const struct { fftconv_mode m; int64_t L, K, N; } cs[] = {
      {FFTCONV_CAUSAL, 100, 17, 256},
      {FFTCONV_CIRCULAR, 512, 512, 512},
      {FFTCONV_CAUSAL, 300, 300, 1024}};
  for (size_t i = 0; i < 3; i++) {
    tr_case c;
    tr_setup(&c, cs[i].m, 3, 5, cs[i].L, cs[i].K, cs[i].N / 2 + 1, TR_PRE | TR_POST | TR_D,
             5 + i);
    cr_assert_eq(fftconv_problem_fft_size(&c.p), cs[i].N);
    fc_err e = {{0}};
    cr_assert_eq(fc_reference(&c.p, &c.in, c.y, &e), FFTCONV_OK, "%s", e.msg);
    c.p.freq_keep = 0;
    cr_assert_eq(fc_reference_direct(&c.p, &c.in, c.y2, &e), FFTCONV_OK, "%s", e.msg);
    double err = fc_rel_l2(c.y2, c.y, (size_t)(c.rows * cs[i].L));
    cr_assert(err < 1e-12, "case %zu: rel err %g", i, err);
    /* F = N/2 + 1 is dense, so the direct path computes it too. */
    c.p.freq_keep = cs[i].N / 2 + 1;
    cr_assert_eq(fc_reference_direct(&c.p, &c.in, c.y, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert(fc_rel_l2(c.y2, c.y, (size_t)(c.rows * cs[i].L)) == 0.0);
    tr_free(&c);
  }
}

/* Naive DFT of a real sequence x[0:n] zero-padded to N: re[f], im[f] for f in [0, N). */
static void tr_dft(const double *x, int64_t n, int64_t N, double *re, double *im) {
  for (int64_t f = 0; f < N; f++) {
    double sr = 0, si = 0;
    for (int64_t t = 0; t < n; t++) {
      double ang = -2.0 * M_PI * (double)((f * t) % N) / (double)N;
      sr += x[t] * cos(ang);
      si += x[t] * sin(ang);
    }
    re[f] = sr;
    im[f] = si;
  }
}

Test(reference, sparse_circular_has_no_energy_outside_kept_bins) {
  const int64_t L = 256, F = 7;
  tr_case c;
  tr_setup(&c, FFTCONV_CIRCULAR, 2, 3, L, L, F, 0, 99);
  fc_err e = {{0}};
  cr_assert_eq(fc_reference(&c.p, &c.in, c.y, &e), FFTCONV_OK, "%s", e.msg);
  double *re = tr_alloc(L), *im = tr_alloc(L);
  for (int64_t r = 0; r < c.rows; r++) {
    tr_dft(c.y + r * L, L, L, re, im);
    double in_e = 0, out_e = 0;
    for (int64_t f = 0; f < L; f++) {
      int64_t m = f < L - f ? f : L - f;
      double en = re[f] * re[f] + im[f] * im[f];
      if (m < F)
        in_e += en;
      else
        out_e += en;
    }
    cr_assert(in_e > 1.0, "row %lld: kept bins are empty (%g)", (long long)r, in_e);
    cr_assert(out_e < 1e-24 * in_e, "row %lld: energy %g outside kept bins (kept %g)",
              (long long)r, out_e, in_e);
  }
  free(re);
  free(im);
  tr_free(&c);
}

/* The sparse causal result against the definition with naive DFTs: mask(DFT k) * DFT v. */
Test(reference, sparse_causal_matches_naive_dft) {
  const int64_t L = 100, K = 17, N = 256, F = 10;
  tr_case c;
  tr_setup(&c, FFTCONV_CAUSAL, 2, 3, L, K, F, TR_PRE | TR_POST | TR_D, 123);
  cr_assert_eq(fftconv_problem_fft_size(&c.p), N);
  fc_err e = {{0}};
  cr_assert_eq(fc_reference(&c.p, &c.in, c.y, &e), FFTCONV_OK, "%s", e.msg);
  double *kr = tr_alloc(N), *ki = tr_alloc(N), *vr = tr_alloc(N), *vi = tr_alloc(N);
  double *v = tr_alloc(L);
  for (int64_t r = 0; r < c.rows; r++) {
    int64_t h = r % c.p.heads;
    tr_dft(c.k + h * K, K, N, kr, ki);
    for (int64_t n = 0; n < L; n++) v[n] = tr_v(&c, r * L + n);
    tr_dft(v, L, N, vr, vi);
    for (int64_t n = 0; n < L; n++) {
      double z = 0;
      for (int64_t f = 0; f < N; f++) {
        int64_t m = f < N - f ? f : N - f;
        if (m >= F) continue;
        double pr = vr[f] * kr[f] - vi[f] * ki[f], pi = vr[f] * ki[f] + vi[f] * kr[f];
        double ang = 2.0 * M_PI * (double)((f * n) % N) / (double)N;
        z += pr * cos(ang) - pi * sin(ang);
      }
      c.y2[r * L + n] = tr_finish(&c, r, n, z / (double)N);
    }
  }
  double err = fc_rel_l2(c.y2, c.y, (size_t)(c.rows * L));
  cr_assert(err < 1e-11, "rel err %g", err);
  /* And the mask really changed the result: it differs from the dense one. */
  c.p.freq_keep = 0;
  cr_assert_eq(fc_reference_direct(&c.p, &c.in, c.y2, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(fc_rel_l2(c.y2, c.y, (size_t)(c.rows * L)) > 1e-3);
  free(kr);
  free(ki);
  free(vr);
  free(vi);
  free(v);
  tr_free(&c);
}

Test(reference, rel_l2_edge_cases) {
  const double ref[3] = {3.0, 4.0, 0.0};
  double got[3] = {3.0, 4.0, 0.0};
  cr_assert(fc_rel_l2(ref, got, 3) == 0.0);
  got[1] = 4.5;
  cr_assert(fabs(fc_rel_l2(ref, got, 3) - 0.1) < 1e-15);
  got[2] = NAN;
  cr_assert(isinf(fc_rel_l2(ref, got, 3)) && fc_rel_l2(ref, got, 3) > 0);
  got[2] = -INFINITY;
  cr_assert(isinf(fc_rel_l2(ref, got, 3)) && fc_rel_l2(ref, got, 3) > 0);
  const double zero[2] = {0.0, 0.0}, g2[2] = {3.0, -4.0};
  cr_assert(fabs(fc_rel_l2(zero, g2, 2) - 5.0) < 1e-15);
  cr_assert(fc_rel_l2(zero, zero, 2) == 0.0);
}

Test(reference, errors_name_the_field) {
  tr_case c;
  tr_setup(&c, FFTCONV_CAUSAL, 1, 1, 16, 4, 0, 0, 3);
  fc_err e = {{0}};
  typedef fftconv_status (*ref_fn)(const fftconv_problem *, const fc_ref_inputs *, double *,
                                   fc_err *);
  const ref_fn fns[2] = {fc_reference, fc_reference_direct};
  for (int i = 0; i < 2; i++) {
    fftconv_problem bad = c.p;
    bad.filter_len = 17;
    e.msg[0] = 0;
    cr_assert_eq(fns[i](&bad, &c.in, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strstr(e.msg, "filter_len") != NULL, "%s", e.msg);
    bad = c.p;
    bad.seqlen = 0;
    cr_assert_eq(fns[i](&bad, &c.in, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strstr(e.msg, "seqlen") != NULL, "%s", e.msg);
    fc_ref_inputs in = c.in;
    in.u = NULL;
    cr_assert_eq(fns[i](&c.p, &in, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strncmp(e.msg, "u:", 2) == 0, "%s", e.msg);
    in = c.in;
    in.k = NULL;
    cr_assert_eq(fns[i](&c.p, &in, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strncmp(e.msg, "k:", 2) == 0, "%s", e.msg);
    cr_assert_eq(fns[i](&c.p, NULL, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strstr(e.msg, "inputs") != NULL, "%s", e.msg);
    cr_assert_eq(fns[i](NULL, &c.in, c.y, &e), FFTCONV_ERR_INVALID);
    cr_assert(strstr(e.msg, "problem") != NULL, "%s", e.msg);
    /* A NULL error buffer is allowed. */
    cr_assert_eq(fns[i](&c.p, &in, c.y, NULL), FFTCONV_ERR_INVALID);
  }
  fftconv_problem sparse = c.p;
  sparse.freq_keep = 5;
  cr_assert_eq(fc_reference_direct(&sparse, &c.in, c.y, &e), FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "freq_keep") != NULL, "%s", e.msg);
  cr_assert_eq(fc_reference(&sparse, &c.in, c.y, &e), FFTCONV_OK, "%s", e.msg);
  tr_free(&c);
}
