/* reference: the CPU reference in double precision (see reference.h). The FFT path is what
 * verify.c compares kernels against; the direct path is the definition the FFT path is
 * tested against, so the two share nothing but input validation. */
#include "reference.h"
#include "shape.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static pthread_mutex_t ref_planner = PTHREAD_MUTEX_INITIALIZER;

/* Shared checks of both paths; fills the sizes on success. */
typedef struct ref_dims {
  int64_t B, H, L, K, N;
} ref_dims;

static fftconv_status ref_validate(const fftconv_problem *p, const fc_ref_inputs *in,
                                   const double *y, ref_dims *dm, fc_err *e) {
  char msg[512];
  if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s", msg);
  if (!in) return fc_fail(e, FFTCONV_ERR_INVALID, "inputs: NULL");
  if (!in->u) return fc_fail(e, FFTCONV_ERR_INVALID, "u: NULL (the input (B, H, L) is required)");
  if (!in->k) return fc_fail(e, FFTCONV_ERR_INVALID, "k: NULL (the filter (H, K) is required)");
  if (!y) return fc_fail(e, FFTCONV_ERR_INVALID, "y: NULL (the output (B, H, L) is required)");
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
  fftconv_status st = ref_validate(p, in, y, &dm, e);
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

fftconv_status fc_reference_direct(const fftconv_problem *p, const fc_ref_inputs *in, double *y,
                                   fc_err *e) {
  ref_dims dm;
  fftconv_status st = ref_validate(p, in, y, &dm, e);
  if (st != FFTCONV_OK) return st;
  const int64_t L = dm.L, K = dm.K;
  /* F = N/2 + 1 keeps every bin, so it is the dense convolution and is computed here too. */
  if (p->freq_keep > 0 && p->freq_keep < dm.N / 2 + 1)
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "freq_keep: %lld makes the problem frequency-sparse, which the direct "
                   "reference does not compute (use fc_reference)",
                   (long long)p->freq_keep);
  const int circular = p->mode == FFTCONV_CIRCULAR;
  for (int64_t r = 0; r < dm.B * dm.H; r++) {
    int64_t h = r % dm.H;
    size_t base = (size_t)r * (size_t)L;
    const double *kh = in->k + (size_t)h * (size_t)K;
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
      y[base + n] = acc;
    }
    ref_finish_row(in, h, base, L, y);
  }
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
