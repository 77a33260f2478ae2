/* sample: a small subset of a family's candidates that still shows every choice once.
 *
 * A family's exhaustive space grows as the product of its parameters' choices; compiling all
 * of it for every size and architecture is what made the CPU tests slow. The sample keeps
 * the family's default choice and adds candidates greedily until every value of every key
 * of the candidates' canonical JSON appears at least once (the "factors" array, like any
 * value, counts as a whole: every factorization is covered). Deterministic: the result
 * depends only on the candidates' order and text.
 * Callers: search.c (rigor "sample"), the sampled compile tests. */
#ifndef FC_SAMPLE_H
#define FC_SAMPLE_H

#include "emit.h"

/* The indices, ascending, of a covering subset of the candidates check() accepted among
   c[0..n): the one whose params equal dflt (when dflt is not NULL and it is there), then, one
   at a time, the candidate that shows the most values not yet shown (the first in c's order
   on a tie), until none shows anything new. *pick is malloc'd (free it); *npick is 0 when no
   candidate is valid. FFTCONV_ERR_INVALID when a candidate's params are not a JSON object. */
fftconv_status fc_sample(const fc_candidate *c, int n, const char *dflt, int **pick, int *npick,
                         fc_err *e);

/* The sampled space of one family for a problem: fc_emit_space (exhaustive), fc_emit_default,
   then fc_sample; *out holds only the chosen candidates (all valid), in the space's order.
   A family that cannot run the problem gives an empty list, not an error. Free *out with
   fc_candidates_free. */
fftconv_status fc_sample_space(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                               const fc_device_info *d, fc_candidate **out, int *n, fc_err *e);
/* The same for an op (shape.h); fc_sample_space is this for forward (0). */
fftconv_status fc_sample_space_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                  const fc_device_info *d, fc_candidate **out, int *n,
                                  fc_err *e);

#endif
