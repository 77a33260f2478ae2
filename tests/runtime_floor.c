/* runtime-floor: a program built from the runtime layers alone (src/runtime and src/store,
 * every object of them, with libfftconv_rt's fftconv_ctx_create) and nothing else: no SQLite,
 * no Lua, no NVRTC, no FFTW, no search. It plans a problem from a bundle and says what it got:
 *
 *   runtime-floor BUNDLE     -> "planned: <describe>" or "no plan: <reason>", exit 0 / 1
 *
 * Its link is the test: the build fails if a runtime object needs the tuning side or the
 * cache. On a machine without a GPU it reports the missing driver (or, first, a bad bundle). */
#include <stdio.h>

#include "fftconv.h"

int main(int argc, char **argv) {
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.bundle_path = argc > 1 ? argv[1] : NULL;
  o.policy = FFTCONV_POLICY_TUNED_ONLY;
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(&o, &c) != FFTCONV_OK) {
    printf("no plan: %s\n", fftconv_ctx_error(NULL));
    return 1;
  }
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = 2048;
  p.mode = FFTCONV_CIRCULAR;
  p.dtype = FFTCONV_FP16;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  fftconv_plan *pl = NULL;
  int ok = fftconv_plan_create(c, &p, &pl) == FFTCONV_OK;
  printf(ok ? "planned: %s\n" : "no plan: %s\n", ok ? fftconv_plan_describe(pl) : fftconv_ctx_error(c));
  fftconv_plan_destroy(pl);
  fftconv_ctx_destroy(c);
  return ok ? 0 : 1;
}
