/* reference: the CPU reference in double precision, through FFTW, implementing exactly the
 * semantics of fftconv.h (causal/circular, partial filters, frequency-sparse masks, gates, D).
 * fc_reference_direct is the O(L*K) definition the FFT path is tested against.
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

/* ||got - ref|| / ||ref||; +inf when any got is NaN or infinite. */
double fc_rel_l2(const double *ref, const double *got, size_t n);

#endif
