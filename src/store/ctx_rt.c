/* ctx_rt: fftconv_ctx_create of libfftconv_rt, the runtime-only library (README,
 * "libfftconv_rt"). It is built into that library alone, never into libfftconv, whose
 * fftconv_ctx_create (src/tune/policy.c) plugs in the SQLite cache and the miss policies.
 *
 * Here a context plans from a bundle only (bundle_path or bundle_image): there is no cache
 * backend (cache_path is not read; fftconv_ctx_cache says so) and no compiler, so every
 * policy behaves as FFTCONV_POLICY_TUNED_ONLY: a problem the bundle holds no kernel for
 * (exact or of a near shape) fails with FFTCONV_ERR_UNSUPPORTED, naming the problem and what
 * would provide a kernel. */
#include <stdio.h>

#include "bundle.h"
#include "plan.h"

#define RT_NO_CACHE \
  "libfftconv_rt has no cache backend: link libfftconv to plan from a tuned cache"

/* A miss: what the bundle lacks and what would provide it. */
static fftconv_status rt_no_kernel(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out,
                                   fc_err *e) {
  fc_str cmd = {0};
  fc_tune_command(&s->p, NULL, &cmd);
  fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "no tuned kernel for %s on %s in %s%s: libfftconv_rt "
          "plans from bundles only; give it a bundle that holds one (tune it with '%s', then "
          "'fftconv-cache export'), or link libfftconv, which also plans from a tuned cache "
          "and compiles on a miss", s->key, c->device, c->bundle ? "bundle " : "",
          c->bundle ? c->bundle_desc : "no bundle (bundle_path and bundle_image are NULL)",
          cmd.s ? cmd.s : "fftconv-tune");
  fc_str_free(&cmd);
  return FFTCONV_ERR_UNSUPPORTED;
}

fftconv_status fftconv_ctx_create(const fftconv_ctx_options *o, fftconv_ctx **out) {
  static const fc_ctx_hooks hooks = {.bundle_open = fc_bundle_open_store,
                                     .no_cache = RT_NO_CACHE, .no_kernel = rt_no_kernel};
  return fc_ctx_open(o, &hooks, "none", out, fc_thread_err());
}
