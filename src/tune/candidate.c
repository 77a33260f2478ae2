/* candidate: plans from emitted and compiled kernels (see candidate.h). */
#include "candidate.h"

#include <stdio.h>

static void emit_free(void *em) { fc_emit_close(em); }

fftconv_status fc_ctx_emit(fftconv_ctx *c, fc_emit **out) {
  if (!c->upper) {
    fc_emit *em;
    fftconv_status st = fc_emit_open(&em, fc_thread_err());
    if (st != FFTCONV_OK) return st;
    c->upper = em;
    c->upper_free = emit_free;
  }
  *out = c->upper;
  return FFTCONV_OK;
}

/* The device as templates see it: the compile target's arch. */
fc_device_info fc_ctx_device(const fftconv_ctx *c) {
  fc_device_info dev = c->gpu.info;
  dev.sm = c->sm;
  snprintf(dev.arch, sizeof dev.arch, "%s", c->arch);
  return dev;
}

fftconv_status fc_plan_from_src(fftconv_ctx *c, const fc_shape *s, const fc_kernel_src *src,
                                const fc_binary *bin, const char *rung, fftconv_plan **out,
                                fc_err *e) {
  return fc_plan_from_cubin(c, s, &src->manifest, bin->cubin, src->info.name,
                            src->info.revision, src->info.hash, src->params, rung, bin->arch,
                            out, e);
}

fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out) {
  return fc_plan_from_binary_op(c, FC_OP_FORWARD, p, src, bin, rung, out);
}

fftconv_status fc_plan_from_binary_op(fftconv_ctx *c, int op, const fftconv_problem *p,
                                      const fc_kernel_src *src, const fc_binary *bin,
                                      const char *rung, fftconv_plan **out) {
  fc_err *e = fc_thread_err();
  fc_shape s;
  fftconv_status st = fc_ctx_shape_op(c, op, p, &s, e);
  if (st != FFTCONV_OK) return st;
  return fc_plan_from_src(c, &s, src, bin, rung, out, e);
}

