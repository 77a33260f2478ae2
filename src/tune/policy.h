/* policy: what a context does when the cache has no kernel for a problem, above the runtime:
 * the built-in heuristic choice compiled on the spot, or a quick tune (fftconv_policy). The
 * public fftconv_ctx_create plugs them, with the SQLite cache as the context's store, into
 * the runtime's context (fc_ctx_open, fc_ctx_hooks). */
#ifndef FC_POLICY_H
#define FC_POLICY_H

#include "cache.h"
#include "plan.h"

/* The miss policy fftconv_ctx_create installs. */
fftconv_status fc_policy_miss(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out, fc_err *e);

#endif
