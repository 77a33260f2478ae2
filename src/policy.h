/* policy: what a context does when the cache has no kernel for a problem, above the runtime:
 * the built-in heuristic choice compiled on the spot, or a quick tune. Also the tuner's way
 * to make a plan from a candidate it emitted and compiled itself. Needs Lua and NVRTC. */
#ifndef FC_POLICY_H
#define FC_POLICY_H

#include "compile.h"
#include "emit.h"
#include "plan.h"

/* The context's template engine (opened on first call). The caller holds it alone: the
   tuner's one thread, or a policy under the context's lock. */
fftconv_status fc_ctx_emit(fftconv_ctx *c, fc_emit **out);

/* A plan from emitted source and its compiled binary (the tuner's path). rung says where the
   choice came from ("heuristic", "tuned", "candidate"). */
fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out);

#endif
