/* test_reference_backward: the fp64 backward reference (gradients of sum(y * dy)) against
 * the forward reference: adjoint identities using the forward's linearity in each input
 * alone, central finite differences, the FFT path against the direct sums, refusals, and
 * outputs written exactly where asked. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

enum { TB_PRE = 1, TB_POST = 2, TB_D = 4, TB_ALL = 7 };

/* A problem with owned inputs, dy, and one set of gradient buffers for everything it has. */
typedef struct tb_case {
  fftconv_problem p;
  int64_t L, K, H, nu, nk;
  double *u, *pre, *post, *k, *d, *dy;
  double *du, *dpre, *dpost, *dk, *dd;
  fc_ref_inputs in;
  fc_ref_grads g;
} tb_case;

static double *tb_alloc(int64_t n) {
  double *a = calloc((size_t)n, sizeof(double));
  cr_assert_not_null(a);
  return a;
}

/* Random values kept away from zero, so a dropped term cannot pass by luck. */
static double *tb_random(fc_rng *r, int64_t n) {
  double *a = tb_alloc(n);
  for (int64_t i = 0; i < n; i++) {
    double x = fc_rng_uniform(r);
    a[i] = x < 0 ? x - 0.1 : x + 0.1;
  }
  return a;
}

static void tb_setup(tb_case *c, fftconv_mode mode, int64_t L, int64_t K, int64_t F, int flags,
                     uint64_t seed) {
  memset(c, 0, sizeof *c);
  fftconv_problem_init(&c->p);
  c->p.batch = 3;
  c->p.heads = 5;
  c->p.seqlen = L;
  c->p.filter_len = K;
  c->p.freq_keep = F;
  c->p.mode = mode;
  c->p.pre_gate = !!(flags & TB_PRE);
  c->p.post_gate = !!(flags & TB_POST);
  c->p.skip_d = !!(flags & TB_D);
  char msg[512];
  cr_assert_eq(fftconv_problem_check(&c->p, msg, sizeof msg), FFTCONV_OK, "%s", msg);
  c->L = L;
  c->K = K ? K : L;
  c->H = c->p.heads;
  c->nu = c->p.batch * c->H * L;
  c->nk = c->H * c->K;
  fc_rng r = {seed};
  c->u = tb_random(&r, c->nu);
  c->k = tb_random(&r, c->nk);
  c->dy = tb_random(&r, c->nu);
  c->du = tb_alloc(c->nu);
  c->dk = tb_alloc(c->nk);
  c->g.du = c->du;
  c->g.dk = c->dk;
  if (flags & TB_PRE) {
    c->pre = tb_random(&r, c->nu);
    c->g.dpre = c->dpre = tb_alloc(c->nu);
  }
  if (flags & TB_POST) {
    c->post = tb_random(&r, c->nu);
    c->g.dpost = c->dpost = tb_alloc(c->nu);
  }
  if (flags & TB_D) {
    c->d = tb_random(&r, c->H);
    c->g.dd = c->dd = tb_alloc(c->H);
  }
  c->in = (fc_ref_inputs){c->u, c->pre, c->post, c->k, c->d};
}

static void tb_free(tb_case *c) {
  double *all[] = {c->u, c->pre, c->post, c->k, c->d, c->dy, c->du, c->dpre, c->dpost, c->dk,
                   c->dd};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void tb_backward(tb_case *c) {
  fc_err e = {{0}};
  cr_assert_eq(fc_reference_backward(&c->p, &c->in, c->dy, &c->g, &e), FFTCONV_OK, "%s", e.msg);
}

static double tb_dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* sum(y * dy) of the forward on the inputs `in`. */
static double tb_objective(const tb_case *c, const fc_ref_inputs *in) {
  double *y = tb_alloc(c->nu);
  fc_err e = {{0}};
  cr_assert_eq(fc_reference(&c->p, in, y, &e), FFTCONV_OK, "%s", e.msg);
  double s = tb_dot(y, c->dy, c->nu);
  free(y);
  return s;
}

/* The configurations every gradient test runs: both modes, K < L, a sparse mask, D, gates on
   and off, odd L in causal mode (circular needs a power of two of at least 256). */
typedef struct tb_config {
  fftconv_mode mode;
  int64_t L, K, F;
  int flags;
} tb_config;
static const tb_config tb_configs[] = {
    {FFTCONV_CAUSAL, 37, 11, 0, TB_ALL},   {FFTCONV_CAUSAL, 37, 11, 9, TB_ALL},
    {FFTCONV_CAUSAL, 100, 0, 0, TB_PRE | TB_D}, {FFTCONV_CAUSAL, 100, 23, 17, TB_POST | TB_D},
    {FFTCONV_CAUSAL, 37, 37, 0, 0},        {FFTCONV_CIRCULAR, 256, 40, 0, TB_ALL},
    {FFTCONV_CIRCULAR, 256, 256, 7, TB_ALL}, {FFTCONV_CIRCULAR, 256, 17, 0, TB_PRE},
    {FFTCONV_CIRCULAR, 256, 100, 30, TB_POST}};
#define TB_NCONFIGS (sizeof tb_configs / sizeof tb_configs[0])

static void tb_setup_config(tb_case *c, size_t i) {
  const tb_config *f = &tb_configs[i];
  tb_setup(c, f->mode, f->L, f->K, f->F, f->flags, 4242u + 17u * i);
}

static void tb_check_adjoint(size_t cfg, const char *what, double lhs, double rhs) {
  cr_assert(fabs(lhs) > 1e-6, "config %zu %s: <dy, J delta> = %g is degenerate", cfg, what,
            lhs);
  double rel = fabs(lhs - rhs) / fabs(lhs);
  cr_assert(rel < 1e-10, "config %zu %s: <dy, J delta> = %.17g but <grad, delta> = %.17g (rel %g)",
            cfg, what, lhs, rhs, rel);
}

/* y is linear in each of u, pre, post alone; in k alone once the D term is removed (dk does
   not depend on D); and y(D) - y(no D) = post * D v is linear in D. So <dy, J delta> is the
   objective at the input delta, exactly, with no finite-difference error. */
Test(reference_backward, adjoint_identity_each_input) {
  for (size_t i = 0; i < TB_NCONFIGS; i++) {
    tb_case c;
    tb_setup_config(&c, i);
    tb_backward(&c);
    fc_rng r = {9000u + i};
    double *du = tb_random(&r, c.nu), *dk = tb_random(&r, c.nk), *dh = tb_random(&r, c.H);
    fc_ref_inputs in = c.in;
    in.u = du;
    tb_check_adjoint(i, "u", tb_objective(&c, &in), tb_dot(c.du, du, c.nu));
    in = c.in;
    in.d = NULL;
    in.k = dk;
    tb_check_adjoint(i, "k", tb_objective(&c, &in), tb_dot(c.dk, dk, c.nk));
    if (c.pre) {
      in = c.in;
      in.pre = du;
      tb_check_adjoint(i, "pre", tb_objective(&c, &in), tb_dot(c.dpre, du, c.nu));
    }
    if (c.post) {
      in = c.in;
      in.post = du;
      tb_check_adjoint(i, "post", tb_objective(&c, &in), tb_dot(c.dpost, du, c.nu));
    }
    if (c.d) {
      in = c.in;
      in.d = dh;
      double with = tb_objective(&c, &in);
      in.d = NULL;
      tb_check_adjoint(i, "d", with - tb_objective(&c, &in), tb_dot(c.dd, dh, c.H));
    }
    free(du);
    free(dk);
    free(dh);
    tb_free(&c);
  }
}

/* Central differences of sum(y * dy) in a few components of one input array x (n long),
   which `in` points at and which is perturbed in place and restored. */
static void tb_fd_array(const tb_case *c, size_t cfg, const char *what, double *x,
                        const double *grad, int64_t n, fc_rng *r) {
  const double step = 1e-6;
  const double scale = sqrt(tb_dot(grad, grad, n) / (double)n);
  for (int t = 0; t < 5; t++) {
    int64_t j = (int64_t)((fc_rng_uniform(r) * 0.5 + 0.5) * (double)n);
    if (j >= n) j = n - 1;
    if (j < 0) j = 0;
    const double x0 = x[j];
    x[j] = x0 + step;
    double fp = tb_objective(c, &c->in);
    x[j] = x0 - step;
    double fm = tb_objective(c, &c->in);
    x[j] = x0;
    double fd = (fp - fm) / (2.0 * step);
    cr_assert(fabs(fd - grad[j]) <= 1e-6 * (fabs(grad[j]) + scale),
              "config %zu d%s[%lld]: finite difference %.12g, gradient %.12g", cfg, what,
              (long long)j, fd, grad[j]);
  }
}

Test(reference_backward, finite_differences) {
  for (size_t i = 0; i < TB_NCONFIGS; i++) {
    tb_case c;
    tb_setup_config(&c, i);
    tb_backward(&c);
    fc_rng r = {777u + i};
    tb_fd_array(&c, i, "u", c.u, c.du, c.nu, &r);
    tb_fd_array(&c, i, "k", c.k, c.dk, c.nk, &r);
    if (c.pre) tb_fd_array(&c, i, "pre", c.pre, c.dpre, c.nu, &r);
    if (c.post) tb_fd_array(&c, i, "post", c.post, c.dpost, c.nu, &r);
    if (c.d) tb_fd_array(&c, i, "d", c.d, c.dd, c.H, &r);
    tb_free(&c);
  }
}

/* The FFT path against the direct sums, every output, on dense problems (F = 0 and the
   all-bins F = N/2 + 1, which the direct path computes too). */
Test(reference_backward, fft_matches_direct) {
  for (size_t i = 0; i < TB_NCONFIGS; i++) {
    for (int dense_f = 0; dense_f < 2; dense_f++) {
      tb_case c, d;
      tb_setup_config(&c, i);
      tb_setup_config(&d, i);
      int64_t F = dense_f ? fftconv_problem_fft_size(&c.p) / 2 + 1 : 0;
      c.p.freq_keep = d.p.freq_keep = F;
      tb_backward(&c);
      fc_err e = {{0}};
      d.in = c.in; /* the same inputs; d's own gradient buffers */
      cr_assert_eq(fc_reference_backward_direct(&d.p, &d.in, c.dy, &d.g, &e), FFTCONV_OK, "%s",
                   e.msg);
      const struct { const char *name; const double *a, *b; int64_t n; } outs[] = {
          {"du", c.du, d.du, c.nu},       {"dk", c.dk, d.dk, c.nk},
          {"dpre", c.dpre, d.dpre, c.nu}, {"dpost", c.dpost, d.dpost, c.nu},
          {"dd", c.dd, d.dd, c.H}};
      for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        if (!outs[o].a) continue;
        double err = fc_rel_l2(outs[o].b, outs[o].a, (size_t)outs[o].n);
        cr_assert(err < 1e-12, "config %zu F=%lld %s: rel err %g", i, (long long)F,
                  outs[o].name, err);
      }
      tb_free(&c);
      tb_free(&d);
    }
  }
}

/* The mask matters to the gradients: a sparse problem's dk and du differ from the dense
   ones, so the tests above exercise it (and the direct path refuses it). */
Test(reference_backward, sparse_mask_changes_the_gradients) {
  tb_case c, d;
  tb_setup(&c, FFTCONV_CAUSAL, 37, 11, 9, TB_ALL, 31);
  tb_setup(&d, FFTCONV_CAUSAL, 37, 11, 0, TB_ALL, 31);
  tb_backward(&c);
  tb_backward(&d);
  cr_assert(fc_rel_l2(d.dk, c.dk, (size_t)c.nk) > 1e-3);
  cr_assert(fc_rel_l2(d.du, c.du, (size_t)c.nu) > 1e-3);
  /* dd does not see the mask: the D term is not masked. */
  cr_assert(fc_rel_l2(d.dd, c.dd, (size_t)c.H) < 1e-13);
  tb_free(&c);
  tb_free(&d);
}

typedef fftconv_status (*tb_fn)(const fftconv_problem *, const fc_ref_inputs *, const double *,
                                 const fc_ref_grads *, fc_err *);
static const tb_fn tb_fns[2] = {fc_reference_backward, fc_reference_backward_direct};

/* A refused call names the output and writes nothing. */
static void tb_refused(tb_fn fn, const fftconv_problem *p, const fc_ref_inputs *in,
                       const double *dy, const fc_ref_grads *g, const char *prefix,
                       const double *watch, int64_t n) {
  fc_err e = {{0}};
  cr_assert_eq(fn(p, in, dy, g, &e), FFTCONV_ERR_INVALID, "%s expected refused", prefix);
  cr_assert(strncmp(e.msg, prefix, strlen(prefix)) == 0, "want '%s...', got: %s", prefix, e.msg);
  for (int64_t i = 0; watch && i < n; i++)
    cr_assert(watch[i] == 12345.0, "refused call wrote du[%lld]", (long long)i);
}

Test(reference_backward, refusals_name_the_output) {
  tb_case c;
  tb_setup(&c, FFTCONV_CAUSAL, 37, 11, 0, 0, 5); /* no gates, no D */
  double *buf = tb_alloc(c.nu), *hb = tb_alloc(c.H);
  for (int64_t i = 0; i < c.nu; i++) c.du[i] = 12345.0;
  for (int f = 0; f < 2; f++) {
    fc_ref_grads g = {.du = c.du, .dpre = buf};
    tb_refused(tb_fns[f], &c.p, &c.in, c.dy, &g, "dpre:", c.du, c.nu);
    g = (fc_ref_grads){.du = c.du, .dpost = buf};
    tb_refused(tb_fns[f], &c.p, &c.in, c.dy, &g, "dpost:", c.du, c.nu);
    g = (fc_ref_grads){.du = c.du, .dd = hb};
    tb_refused(tb_fns[f], &c.p, &c.in, c.dy, &g, "dd:", c.du, c.nu);
    /* The flag without the input is refused too: the gradient would be of another forward. */
    fftconv_problem p = c.p;
    p.pre_gate = p.post_gate = p.skip_d = 1;
    g = (fc_ref_grads){.du = c.du, .dpre = buf};
    tb_refused(tb_fns[f], &p, &c.in, c.dy, &g, "dpre:", c.du, c.nu);
    g = (fc_ref_grads){.du = c.du, .dpost = buf};
    tb_refused(tb_fns[f], &p, &c.in, c.dy, &g, "dpost:", c.du, c.nu);
    g = (fc_ref_grads){.du = c.du, .dd = hb};
    tb_refused(tb_fns[f], &p, &c.in, c.dy, &g, "dd:", c.du, c.nu);
    g = (fc_ref_grads){.du = c.du};
    tb_refused(tb_fns[f], &c.p, &c.in, NULL, &g, "dy:", c.du, c.nu);
    tb_refused(tb_fns[f], &c.p, &c.in, c.dy, NULL, "grads:", NULL, 0);
    fc_ref_inputs in = c.in;
    in.k = NULL;
    tb_refused(tb_fns[f], &c.p, &in, c.dy, &g, "k:", c.du, c.nu);
    fftconv_problem bad = c.p;
    bad.filter_len = 38;
    tb_refused(tb_fns[f], &bad, &c.in, c.dy, &g, "filter_len:", c.du, c.nu);
    /* A NULL error buffer is allowed. */
    cr_assert_eq(tb_fns[f](&c.p, &c.in, c.dy, NULL, NULL), FFTCONV_ERR_INVALID);
  }
  fftconv_problem sparse = c.p;
  sparse.freq_keep = 5;
  fc_ref_grads g = {.du = c.du};
  tb_refused(fc_reference_backward_direct, &sparse, &c.in, c.dy, &g, "freq_keep:", c.du, c.nu);
  fc_err e = {{0}};
  cr_assert_eq(fc_reference_backward(&sparse, &c.in, c.dy, &g, &e), FFTCONV_OK, "%s", e.msg);
  free(buf);
  free(hb);
  tb_free(&c);
}

/* Each output asked alone, the others NULL, into a poisoned buffer with a guard tail: it is
   written whole, equal to the all-outputs run, and nothing past its end. */
static void tb_alone(tb_fn fn, tb_case *c, int which, const double *want, int64_t n) {
  const int64_t guard = 8;
  double *buf = tb_alloc(n + guard);
  for (int64_t i = 0; i < n + guard; i++) buf[i] = NAN;
  fc_ref_grads g = {0};
  double **slots[5] = {&g.du, &g.dpre, &g.dpost, &g.dk, &g.dd};
  *slots[which] = buf;
  fc_err e = {{0}};
  cr_assert_eq(fn(&c->p, &c->in, c->dy, &g, &e), FFTCONV_OK, "%s", e.msg);
  for (int64_t i = 0; i < n; i++)
    cr_assert(isfinite(buf[i]), "output %d alone: [%lld] not written", which, (long long)i);
  for (int64_t i = n; i < n + guard; i++)
    cr_assert(isnan(buf[i]), "output %d alone: wrote past the end at %lld", which, (long long)i);
  double err = fc_rel_l2(want, buf, (size_t)n);
  cr_assert(err < 1e-14, "output %d alone differs from the full run: rel err %g", which, err);
  free(buf);
}

Test(reference_backward, only_the_asked_outputs_are_written) {
  const fftconv_mode modes[2] = {FFTCONV_CAUSAL, FFTCONV_CIRCULAR};
  const int64_t Ls[2] = {37, 256};
  for (int m = 0; m < 2; m++)
    for (int f = 0; f < 2; f++) {
      tb_case c;
      tb_setup(&c, modes[m], Ls[m], 11, 0, TB_ALL, 50u + (uint64_t)m);
      fc_err e = {{0}};
      cr_assert_eq(tb_fns[f](&c.p, &c.in, c.dy, &c.g, &e), FFTCONV_OK, "%s", e.msg);
      const double *want[5] = {c.du, c.dpre, c.dpost, c.dk, c.dd};
      const int64_t n[5] = {c.nu, c.nu, c.nu, c.nk, c.H};
      for (int w = 0; w < 5; w++) tb_alone(tb_fns[f], &c, w, want[w], n[w]);
      /* Nothing asked: nothing to do, and still OK. */
      fc_ref_grads none = {0};
      cr_assert_eq(tb_fns[f](&c.p, &c.in, c.dy, &none, &e), FFTCONV_OK, "%s", e.msg);
      tb_free(&c);
    }
}
