/* rt-consumer: a program built against libfftconv_rt alone (the runtime-only library) and the
 * public header, for test_rt_lib. It opens a context on the bundle given (none without an
 * argument) and says what it got, one "key: value" a line:
 *
 *   rt-consumer [BUNDLE]  -> status: N (words)
 *                            message: fftconv_ctx_error(NULL)      when the context failed
 *                            cache: ... / bundle: ... / plan: ...  when it opened
 *
 * Without a GPU driver the context fails with FFTCONV_ERR_NO_DRIVER, after a bad bundle has
 * been refused with FFTCONV_ERR_IO (a bundle is read before the driver is asked). */
#include <fftconv.h>
#include <stdio.h>

int main(int argc, char **argv) {
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.bundle_path = argc > 1 ? argv[1] : NULL;
  o.cache_path = "/nonexistent/cache.db"; /* libfftconv_rt reads no cache: it says so */
  fftconv_ctx *c = NULL;
  fftconv_status st = fftconv_ctx_create(&o, &c);
  printf("status: %d (%s)\n", (int)st, fftconv_status_string(st));
  if (st != FFTCONV_OK) {
    printf("message: %s\n", fftconv_ctx_error(NULL));
    return 0;
  }
  printf("cache: %s\nbundle: %s\n", fftconv_ctx_cache(c), fftconv_ctx_bundle(c));
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 2;
  p.heads = 3;
  p.seqlen = 1000; /* causal, N = 2048: a problem no test bundle holds */
  fftconv_plan *pl = NULL;
  st = fftconv_plan_create(c, &p, &pl);
  printf("plan: %d (%s): %s\n", (int)st, fftconv_status_string(st),
         st == FFTCONV_OK ? fftconv_plan_describe(pl) : fftconv_ctx_error(c));
  fftconv_plan_destroy(pl);
  fftconv_ctx_destroy(c);
  return 0;
}
