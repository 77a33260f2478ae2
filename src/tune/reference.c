/* reference: the CPU reference in double precision (see reference.h). The FFT path is what
 * verify.c compares kernels against; the direct path is the definition the FFT path is
 * tested against, so the two share nothing but input validation. */
#include "reference.h"
#include "shape.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t ref_planner = PTHREAD_MUTEX_INITIALIZER;

/* Shared checks of both paths; fills the sizes on success. */
typedef struct ref_dims {
  int64_t B, H, L, K, N;
} ref_dims;

/* yname/ywhat name the (B, H, L) array the caller requires besides the inputs: the forward's
   output y, or the backward's upstream gradient dy. */
static fftconv_status ref_validate(const fftconv_problem *p, const fc_ref_inputs *in,
                                   const double *y, const char *yname, const char *ywhat,
                                   ref_dims *dm, fc_err *e) {
  char msg[512];
  if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s", msg);
  if (!in) return fc_fail(e, FFTCONV_ERR_INVALID, "inputs: NULL");
  if (!in->u) return fc_fail(e, FFTCONV_ERR_INVALID, "u: NULL (the input (B, H, L) is required)");
  if (!in->k) return fc_fail(e, FFTCONV_ERR_INVALID, "k: NULL (the filter (H, K) is required)");
  if (!y)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s: NULL (the %s (B, H, L) is required)", yname,
                   ywhat);
  dm->B = p->batch;
  dm->H = p->heads;
  dm->L = p->seqlen;
  dm->K = fc_filter_len(p);
  dm->N = fftconv_problem_fft_size(p);
  return FFTCONV_OK;
}

/* v[n] of row r: the pre gate applied on the fly, so no copy of v is kept. */
static inline double ref_v(const fc_ref_inputs *in, size_t i) {
  return in->pre ? in->pre[i] * in->u[i] : in->u[i];
}

/* z -> y for one row: D term, then the post gate; both act on the whole row in place. */
static void ref_finish_row(const fc_ref_inputs *in, int64_t h, size_t base, int64_t L,
                           double *y) {
  if (in->d) {
    double dh = in->d[h];
    for (int64_t n = 0; n < L; n++) y[base + n] += dh * ref_v(in, base + n);
  }
  if (in->post)
    for (int64_t n = 0; n < L; n++) y[base + n] *= in->post[base + n];
}

fftconv_status fc_reference(const fftconv_problem *p, const fc_ref_inputs *in, double *y,
                            fc_err *e) {
  ref_dims dm;
  fftconv_status st = ref_validate(p, in, y, "y", "output", &dm, e);
  if (st != FFTCONV_OK) return st;
  const int64_t N = dm.N, NB = N / 2 + 1, L = dm.L, K = dm.K;
  /* Bins of the half spectrum at or above F are dropped; the r2c half spectrum holds f in
     [0, N/2], where min(f, N - f) = f, and the other half follows by symmetry. */
  const int64_t keep = p->freq_keep > 0 && p->freq_keep < NB ? p->freq_keep : NB;

  double *x = fftw_malloc(sizeof(double) * (size_t)N);
  fftw_complex *xf = fftw_malloc(sizeof(fftw_complex) * (size_t)NB);
  fftw_complex *kf = fftw_malloc(sizeof(fftw_complex) * (size_t)NB);
  fftw_plan fwd = NULL, inv = NULL;
  if (!x || !xf || !kf) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "reference: cannot allocate FFT buffers of size %lld",
                 (long long)N);
    goto done;
  }
  /* One pair of plans on fixed buffers serves the filters and every row. FFTW's planner is
     not thread-safe (fftw_execute is): contexts on several threads may verify at once. */
  pthread_mutex_lock(&ref_planner);
  fwd = fftw_plan_dft_r2c_1d((int)N, x, xf, FFTW_ESTIMATE);
  inv = fftw_plan_dft_c2r_1d((int)N, xf, x, FFTW_ESTIMATE);
  pthread_mutex_unlock(&ref_planner);
  if (!fwd || !inv) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "reference: FFTW could not plan size %lld",
                 (long long)N);
    goto done;
  }
  const double scale = 1.0 / (double)N;
  /* Heads outermost so one filter spectrum is live at a time, computed once per head. */
  for (int64_t h = 0; h < dm.H; h++) {
    memcpy(x, in->k + (size_t)h * (size_t)K, sizeof(double) * (size_t)K);
    memset(x + K, 0, sizeof(double) * (size_t)(N - K));
    fftw_execute(fwd);
    /* The 1/N normalisation is folded into the filter so rows need no extra pass. */
    for (int64_t f = 0; f < NB; f++) {
      kf[f][0] = f < keep ? xf[f][0] * scale : 0.0;
      kf[f][1] = f < keep ? xf[f][1] * scale : 0.0;
    }
    for (int64_t b = 0; b < dm.B; b++) {
      size_t base = ((size_t)b * (size_t)dm.H + (size_t)h) * (size_t)L;
      for (int64_t n = 0; n < L; n++) x[n] = ref_v(in, base + n);
      memset(x + L, 0, sizeof(double) * (size_t)(N - L));
      fftw_execute(fwd);
      for (int64_t f = 0; f < NB; f++) {
        double re = xf[f][0] * kf[f][0] - xf[f][1] * kf[f][1];
        double im = xf[f][0] * kf[f][1] + xf[f][1] * kf[f][0];
        xf[f][0] = re;
        xf[f][1] = im;
      }
      fftw_execute(inv); /* c2r overwrites xf, which is refilled for the next row anyway */
      memcpy(y + base, x, sizeof(double) * (size_t)L);
      ref_finish_row(in, h, base, L, y);
    }
  }
  st = FFTCONV_OK;
done:
  pthread_mutex_lock(&ref_planner);
  if (fwd) fftw_destroy_plan(fwd);
  if (inv) fftw_destroy_plan(inv);
  pthread_mutex_unlock(&ref_planner);
  fftw_free(x);
  fftw_free(xf);
  fftw_free(kf);
  return st;
}

/* The direct path refuses frequency-sparse problems: the mask has no O(L*K) form. F = N/2 + 1
   keeps every bin, so it is the dense convolution and is computed. */
static fftconv_status direct_refuse_sparse(const fftconv_problem *p, const ref_dims *dm,
                                           fc_err *e) {
  if (p->freq_keep > 0 && p->freq_keep < dm->N / 2 + 1)
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "freq_keep: %lld makes the problem frequency-sparse, which the direct "
                   "reference does not compute (use fc_reference)",
                   (long long)p->freq_keep);
  return FFTCONV_OK;
}

/* z = (v conv k)[0:L] of one row by direct summation, into z[0:L]. */
static void direct_conv_row(const fc_ref_inputs *in, const double *kh, size_t base, int64_t L,
                            int64_t K, int circular, double *z) {
  for (int64_t n = 0; n < L; n++) {
    double acc = 0.0;
    if (circular) {
      for (int64_t j = 0; j < K; j++) {
        int64_t m = n - j;
        if (m < 0) m += L; /* K <= L, so one wrap suffices */
        acc += kh[j] * ref_v(in, base + (size_t)m);
      }
    } else {
      int64_t jmax = n < K - 1 ? n : K - 1;
      for (int64_t j = 0; j <= jmax; j++) acc += kh[j] * ref_v(in, base + (size_t)(n - j));
    }
    z[n] = acc;
  }
}

fftconv_status fc_reference_direct(const fftconv_problem *p, const fc_ref_inputs *in, double *y,
                                   fc_err *e) {
  ref_dims dm;
  fftconv_status st = ref_validate(p, in, y, "y", "output", &dm, e);
  if (st != FFTCONV_OK) return st;
  st = direct_refuse_sparse(p, &dm, e);
  if (st != FFTCONV_OK) return st;
  const int circular = p->mode == FFTCONV_CIRCULAR;
  for (int64_t r = 0; r < dm.B * dm.H; r++) {
    int64_t h = r % dm.H;
    size_t base = (size_t)r * (size_t)dm.L;
    direct_conv_row(in, in->k + (size_t)h * (size_t)dm.K, base, dm.L, dm.K, circular, y + base);
    ref_finish_row(in, h, base, dm.L, y);
  }
  return FFTCONV_OK;
}

/* ---- backward ---- */

/* The backward's checks beyond the forward's: dy, the outputs, and the input each gradient
   needs. Fills the sizes on success. */
static fftconv_status bwd_validate(const fftconv_problem *p, const fc_ref_inputs *in,
                                   const double *dy, const fc_ref_grads *out, ref_dims *dm,
                                   fc_err *e) {
  fftconv_status st = ref_validate(p, in, dy, "dy", "upstream gradient", dm, e);
  if (st != FFTCONV_OK) return st;
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "grads: NULL (the outputs are required)");
  if (out->dpre && (!p->pre_gate || !in->pre))
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "dpre: asked for without a pre gate (pre_gate = %d, pre %s)", p->pre_gate,
                   in->pre ? "given" : "NULL");
  if (out->dpost && (!p->post_gate || !in->post))
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "dpost: asked for without a post gate (post_gate = %d, post %s)",
                   p->post_gate, in->post ? "given" : "NULL");
  if (out->dd && (!p->skip_d || !in->d))
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "dd: asked for without a D term (skip_d = %d, d %s)", p->skip_d,
                   in->d ? "given" : "NULL");
  return FFTCONV_OK;
}

/* g = dy * post (dy without a post gate) of one row, into g[0:L]. */
static void bwd_g_row(const fc_ref_inputs *in, const double *dy, size_t base, int64_t L,
                      double *g) {
  for (int64_t n = 0; n < L; n++)
    g[n] = in->post ? dy[base + n] * in->post[base + n] : dy[base + n];
}

/* From dv of one row (the convolution's adjoint, D g not yet added): du, dpre, and the D term
   added in place. */
static void bwd_finish_dv(const fc_ref_inputs *in, const fc_ref_grads *out, int64_t h,
                          size_t base, int64_t L, const double *g, double *dv) {
  for (int64_t n = 0; n < L; n++) {
    if (in->d) dv[n] += in->d[h] * g[n];
    if (out->du) out->du[base + n] = in->pre ? dv[n] * in->pre[base + n] : dv[n];
    if (out->dpre) out->dpre[base + n] = dv[n] * in->u[base + n];
  }
}

/* dpost = dy * (z + D v) of one row, z in z[0:L]. */
static void bwd_dpost_row(const fc_ref_inputs *in, const double *dy, const fc_ref_grads *out,
                          int64_t h, size_t base, int64_t L, const double *z) {
  for (int64_t n = 0; n < L; n++) {
    double zn = z[n];
    if (in->d) zn += in->d[h] * ref_v(in, base + n);
    out->dpost[base + n] = dy[base + n] * zn;
  }
}

/* sum over t of g * v of one row: its share of dd[h]. */
static double bwd_gv_row(const fc_ref_inputs *in, size_t base, int64_t L, const double *g) {
  double s = 0.0;
  for (int64_t n = 0; n < L; n++) s += g[n] * ref_v(in, base + n);
  return s;
}

/* The FFT path's buffers: plans on x <-> xf as in the forward, the masked filter spectrum kf
   (1/N folded in), the row spectra vf and gf, the dk accumulator kacc, and rows g and dv. */
typedef struct bwd_fft {
  int64_t N, NB, L, K, keep;
  double *x, *g, *dv;
  fftw_complex *xf, *kf, *vf, *gf, *kacc;
  fftw_plan fwd, inv;
} bwd_fft;

/* The r2c spectrum of src[0:n] zero-padded to N, into dst. */
static void bwd_spectrum(bwd_fft *w, const double *src, int64_t n, fftw_complex *dst) {
  memcpy(w->x, src, sizeof(double) * (size_t)n);
  memset(w->x + n, 0, sizeof(double) * (size_t)(w->N - n));
  fftw_execute(w->fwd);
  memcpy(dst, w->xf, sizeof(fftw_complex) * (size_t)w->NB);
}

/* x = c2r of a * (conj(b) when conj_b, else b), bin by bin; a and b are not changed. */
static void bwd_product_inverse(bwd_fft *w, const fftw_complex *a, const fftw_complex *b,
                                int conj_b) {
  const double sb = conj_b ? -1.0 : 1.0;
  for (int64_t f = 0; f < w->NB; f++) {
    double br = b[f][0], bi = sb * b[f][1];
    w->xf[f][0] = a[f][0] * br - a[f][1] * bi;
    w->xf[f][1] = a[f][0] * bi + a[f][1] * br;
  }
  fftw_execute(w->inv);
}

/* One row (b, h) of the FFT path; the dk spectrum is accumulated in kacc, dd returned. */
static double bwd_fft_row(bwd_fft *w, const fc_ref_inputs *in, const double *dy,
                          const fc_ref_grads *out, int64_t h, size_t base) {
  const int64_t L = w->L;
  bwd_g_row(in, dy, base, L, w->g);
  if (out->dpost || out->dk) {
    for (int64_t n = 0; n < L; n++) w->dv[n] = ref_v(in, base + n); /* dv as scratch */
    bwd_spectrum(w, w->dv, L, w->vf);
  }
  if (out->du || out->dpre || out->dk) bwd_spectrum(w, w->g, L, w->gf);
  if (out->dpost) {
    bwd_product_inverse(w, w->vf, w->kf, 0); /* z, as the forward computes it */
    bwd_dpost_row(in, dy, out, h, base, L, w->x);
  }
  if (out->du || out->dpre) {
    bwd_product_inverse(w, w->gf, w->kf, 1); /* the adjoint: correlation with the filter */
    memcpy(w->dv, w->x, sizeof(double) * (size_t)L);
    bwd_finish_dv(in, out, h, base, L, w->g, w->dv);
  }
  if (out->dk)
    for (int64_t f = 0; f < w->NB; f++) { /* conj(V) G */
      w->kacc[f][0] += w->vf[f][0] * w->gf[f][0] + w->vf[f][1] * w->gf[f][1];
      w->kacc[f][1] += w->vf[f][0] * w->gf[f][1] - w->vf[f][1] * w->gf[f][0];
    }
  return out->dd ? bwd_gv_row(in, base, L, w->g) : 0.0;
}

/* One head: its masked filter spectrum, every batch row, then dk[h] and dd[h]. */
static void bwd_fft_head(bwd_fft *w, const ref_dims *dm, const fc_ref_inputs *in,
                         const double *dy, const fc_ref_grads *out, int64_t h) {
  const double scale = 1.0 / (double)w->N;
  bwd_spectrum(w, in->k + (size_t)h * (size_t)w->K, w->K, w->kf);
  for (int64_t f = 0; f < w->NB; f++) {
    w->kf[f][0] = f < w->keep ? w->kf[f][0] * scale : 0.0;
    w->kf[f][1] = f < w->keep ? w->kf[f][1] * scale : 0.0;
  }
  memset(w->kacc, 0, sizeof(fftw_complex) * (size_t)w->NB);
  double dd = 0.0;
  for (int64_t b = 0; b < dm->B; b++)
    dd += bwd_fft_row(w, in, dy, out, h, ((size_t)b * (size_t)dm->H + (size_t)h) * (size_t)w->L);
  if (out->dd) out->dd[h] = dd;
  if (out->dk) {
    /* The mask is its own adjoint (real, symmetric in f and N - f): masked, normalised. */
    for (int64_t f = 0; f < w->NB; f++) {
      w->xf[f][0] = f < w->keep ? w->kacc[f][0] * scale : 0.0;
      w->xf[f][1] = f < w->keep ? w->kacc[f][1] * scale : 0.0;
    }
    fftw_execute(w->inv);
    memcpy(out->dk + (size_t)h * (size_t)w->K, w->x, sizeof(double) * (size_t)w->K);
  }
}

fftconv_status fc_reference_backward(const fftconv_problem *p, const fc_ref_inputs *in,
                                     const double *dy, const fc_ref_grads *out, fc_err *e) {
  ref_dims dm;
  fftconv_status st = bwd_validate(p, in, dy, out, &dm, e);
  if (st != FFTCONV_OK) return st;
  bwd_fft w = {.N = dm.N, .NB = dm.N / 2 + 1, .L = dm.L, .K = dm.K};
  /* Half-spectrum bins at or above F are dropped, as in fc_reference. */
  w.keep = p->freq_keep > 0 && p->freq_keep < w.NB ? p->freq_keep : w.NB;
  const size_t cb = sizeof(fftw_complex) * (size_t)w.NB;
  w.x = fftw_malloc(sizeof(double) * (size_t)w.N);
  w.g = fftw_malloc(sizeof(double) * (size_t)w.L);
  w.dv = fftw_malloc(sizeof(double) * (size_t)w.L);
  w.xf = fftw_malloc(cb);
  w.kf = fftw_malloc(cb);
  w.vf = fftw_malloc(cb);
  w.gf = fftw_malloc(cb);
  w.kacc = fftw_malloc(cb);
  if (!w.x || !w.g || !w.dv || !w.xf || !w.kf || !w.vf || !w.gf || !w.kacc) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM,
                 "reference backward: cannot allocate FFT buffers of size %lld", (long long)w.N);
    goto done;
  }
  pthread_mutex_lock(&ref_planner);
  w.fwd = fftw_plan_dft_r2c_1d((int)w.N, w.x, w.xf, FFTW_ESTIMATE);
  w.inv = fftw_plan_dft_c2r_1d((int)w.N, w.xf, w.x, FFTW_ESTIMATE);
  pthread_mutex_unlock(&ref_planner);
  if (!w.fwd || !w.inv) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "reference backward: FFTW could not plan size %lld",
                 (long long)w.N);
    goto done;
  }
  for (int64_t h = 0; h < dm.H; h++) bwd_fft_head(&w, &dm, in, dy, out, h);
  st = FFTCONV_OK;
done:
  pthread_mutex_lock(&ref_planner);
  if (w.fwd) fftw_destroy_plan(w.fwd);
  if (w.inv) fftw_destroy_plan(w.inv);
  pthread_mutex_unlock(&ref_planner);
  fftw_free(w.x);
  fftw_free(w.g);
  fftw_free(w.dv);
  fftw_free(w.xf);
  fftw_free(w.kf);
  fftw_free(w.vf);
  fftw_free(w.gf);
  fftw_free(w.kacc);
  return st;
}

/* One row of the direct path: dv[m] = sum_j k[j] g[m + j] (m + j < L, or wrapped mod L), and
   dk[h][j] += sum_n g[n] v[n - j] (n >= j, or wrapped): the forward's sums transposed. */
static void bwd_direct_row(const fc_ref_inputs *in, const fc_ref_grads *out, const double *kh,
                           size_t base, int64_t L, int64_t K, int circular, const double *g,
                           double *dv, double *dkh) {
  if (out->du || out->dpre)
    for (int64_t m = 0; m < L; m++) {
      double acc = 0.0;
      for (int64_t j = 0; j < K; j++) {
        int64_t n = m + j;
        if (n >= L) {
          if (!circular) break;
          n -= L; /* K <= L, so one wrap suffices */
        }
        acc += kh[j] * g[n];
      }
      dv[m] = acc;
    }
  if (out->dk)
    for (int64_t j = 0; j < K; j++) {
      double acc = 0.0;
      for (int64_t n = circular ? 0 : j; n < L; n++) {
        int64_t m = n - j;
        if (m < 0) m += L;
        acc += g[n] * ref_v(in, base + (size_t)m);
      }
      dkh[j] += acc;
    }
}

fftconv_status fc_reference_backward_direct(const fftconv_problem *p, const fc_ref_inputs *in,
                                            const double *dy, const fc_ref_grads *out,
                                            fc_err *e) {
  ref_dims dm;
  fftconv_status st = bwd_validate(p, in, dy, out, &dm, e);
  if (st != FFTCONV_OK) return st;
  st = direct_refuse_sparse(p, &dm, e);
  if (st != FFTCONV_OK) return st;
  const int64_t L = dm.L, K = dm.K;
  const int circular = p->mode == FFTCONV_CIRCULAR;
  double *g = malloc(sizeof(double) * (size_t)L), *t = malloc(sizeof(double) * (size_t)L);
  if (!g || !t) {
    free(g);
    free(t);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "reference backward: cannot allocate rows of %lld",
                   (long long)L);
  }
  if (out->dk) memset(out->dk, 0, sizeof(double) * (size_t)(dm.H * K));
  if (out->dd) memset(out->dd, 0, sizeof(double) * (size_t)dm.H);
  for (int64_t r = 0; r < dm.B * dm.H; r++) {
    int64_t h = r % dm.H;
    size_t base = (size_t)r * (size_t)L;
    const double *kh = in->k + (size_t)h * (size_t)K;
    bwd_g_row(in, dy, base, L, g);
    if (out->dpost) {
      direct_conv_row(in, kh, base, L, K, circular, t);
      bwd_dpost_row(in, dy, out, h, base, L, t);
    }
    bwd_direct_row(in, out, kh, base, L, K, circular, g, t,
                   out->dk ? out->dk + (size_t)h * (size_t)K : NULL);
    if (out->du || out->dpre) bwd_finish_dv(in, out, h, base, L, g, t);
    if (out->dd) out->dd[h] += bwd_gv_row(in, base, L, g);
  }
  free(g);
  free(t);
  return FFTCONV_OK;
}

double fc_rel_l2(const double *ref, const double *got, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(got[i])) return INFINITY;
    double dlt = got[i] - ref[i];
    num += dlt * dlt;
    den += ref[i] * ref[i];
  }
  /* An all-zero reference has no scale: the absolute error is the only meaningful figure. */
  if (den == 0.0) return sqrt(num);
  return sqrt(num / den);
}
