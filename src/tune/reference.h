/* reference: the CPU reference in double precision, through FFTW, implementing exactly the
 * semantics of fftconv.h (causal/circular, partial filters, frequency-sparse masks, gates, D).
 * fc_reference_direct is the O(L*K) definition the FFT path is tested against;
 * fc_reference_backward and fc_reference_backward_direct are the same pair for the gradients.
 * Not thread-safe (FFTW planning): call from one thread. Callers: verify.c, tests. */
#ifndef FC_REFERENCE_H
#define FC_REFERENCE_H

#include <stddef.h>

#include "fftconv.h"
#include "util.h"

/* Inputs as doubles, already rounded to the I/O dtype by the caller. */
typedef struct fc_ref_inputs {
  const double *u;    /* (B, H, L) */
  const double *pre;  /* (B, H, L) or NULL when the problem has no pre gate */
  const double *post; /* (B, H, L) or NULL when the problem has no post gate */
  const double *k;    /* (H, K) */
  const double *d;    /* (H) or NULL when the problem has no D term */
} fc_ref_inputs;

/* y: (B, H, L). */
fftconv_status fc_reference(const fftconv_problem *p, const fc_ref_inputs *in, double *y,
                            fc_err *e);
/* The same by direct summation; frequency-sparse problems are refused (INVALID). */
fftconv_status fc_reference_direct(const fftconv_problem *p, const fc_ref_inputs *in, double *y,
                                   fc_err *e);

/* The backward pass: the gradients of the scalar sum(y * dy), dy (B, H, L), with respect to
   the inputs. With g = dy * post (dy without a post gate):
     dpost = dy * (z + D v);  dv = adjoint of the masked, truncated convolution applied to g,
     plus D g;  du = dv * pre (dv without a pre gate);  dpre = dv * u;
     dk[h] = first K lags of the masked correlation of v and g, summed over b;
     dd[h] = sum over b and t of g * v.
   Each non-NULL output is written whole; a NULL one is not wanted and nothing is written for
   it. dpre needs the pre gate, dpost the post gate and dd the D term (the problem's flag and
   the input both): asking for one without it is refused (INVALID, naming the output). */
typedef struct fc_ref_grads {
  double *du, *dpre, *dpost; /* (B, H, L), or NULL: not wanted */
  double *dk;                /* (H, K), or NULL */
  double *dd;                /* (H), or NULL */
} fc_ref_grads;

fftconv_status fc_reference_backward(const fftconv_problem *p, const fc_ref_inputs *in,
                                     const double *dy, const fc_ref_grads *out, fc_err *e);
/* The same by direct O(L*K) summation; frequency-sparse problems are refused (INVALID) as by
   fc_reference_direct. */
fftconv_status fc_reference_backward_direct(const fftconv_problem *p, const fc_ref_inputs *in,
                                            const double *dy, const fc_ref_grads *out,
                                            fc_err *e);

/* ||got - ref|| / ||ref||; +inf when any got is NaN or infinite. */
double fc_rel_l2(const double *ref, const double *got, size_t n);

#endif
