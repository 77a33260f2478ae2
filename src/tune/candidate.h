/* candidate: plans from kernels emitted and compiled in this process (the tuner's
 * candidates, the heuristic choice), and the context's template engine. Above the runtime:
 * needs Lua and NVRTC. */
#ifndef FC_CANDIDATE_H
#define FC_CANDIDATE_H

#include "compile.h"
#include "emit.h"
#include "plan.h"

/* The context's template engine (opened on first call). The caller holds it alone: the
   tuner's one thread, or a policy under the context's lock. */
fftconv_status fc_ctx_emit(fftconv_ctx *c, fc_emit **out);

/* The device as templates see it: the context's compile target. */
fc_device_info fc_ctx_device(const fftconv_ctx *c);

/* A plan for a resolved shape from emitted source and its compiled binary. */
fftconv_status fc_plan_from_src(fftconv_ctx *c, const fc_shape *s, const fc_kernel_src *src,
                                const fc_binary *bin, const char *rung, fftconv_plan **out,
                                fc_err *e);

/* The same from a problem, resolved here (the tuner's path). rung says where the
   choice came from ("heuristic", "tuned", "candidate"). */
fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out);
/* The same for an op (shape.h). */
fftconv_status fc_plan_from_binary_op(fftconv_ctx *c, int op, const fftconv_problem *p,
                                      const fc_kernel_src *src, const fc_binary *bin,
                                      const char *rung, fftconv_plan **out);

#endif
