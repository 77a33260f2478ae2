/* A program built against an installed fftconv (tests/test_install.sh): only the public
   header, the library found through find_package(fftconv) or pkg-config. It validates a long
   problem and an oversized one, and opens a context, which on a machine without a GPU fails
   with the driver's reason instead of exiting. */
#include <fftconv.h>
#include <stdio.h>

int main(void) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.mode = FFTCONV_CIRCULAR;
  p.seqlen = 4194304;
  char msg[256];
  if (fftconv_problem_check(&p, msg, sizeof msg) != FFTCONV_OK) {
    printf("unexpected: %s\n", msg);
    return 1;
  }
  printf("fft size %lld\n", (long long)fftconv_problem_fft_size(&p));
  p.seqlen = 8388608;
  if (fftconv_problem_check(&p, msg, sizeof msg) == FFTCONV_OK) return 1;
  printf("refused: %s\n", msg);
  fftconv_ctx *c = NULL;
  fftconv_status st = fftconv_ctx_create(NULL, &c);
  printf("context: %s\n", st == FFTCONV_OK ? "open" : fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(c);
  return 0;
}
