/* Fuzz target: the problem-set reader (problem_file.h) that fftconv-tune --problems and
 * fftconv-cache export --problems share, from memory (fc_problem_file_read opens the file and
 * hands its bytes to the same parser). Whatever the bytes, it returns problems that pass
 * fftconv_problem_check, or an error with a message, and no sanitizer report. The input is
 * given without a terminating NUL, as a file's bytes are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problem_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy, so that a read past the end is a report, not the fuzzer's slack */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  memcpy(text, data, size);
  fftconv_problem *p = NULL;
  int n = -1;
  fc_err e = {{0}};
  if (fc_problem_file_parse(text, size, "fuzz", &p, &n, &e) == FFTCONV_OK) {
    if (n <= 0 || !p) abort();
    for (int i = 0; i < n; i++) {
      char msg[512], key[256];
      if (fftconv_problem_check(&p[i], msg, sizeof msg) != FFTCONV_OK) {
        fprintf(stderr, "problem %d was accepted but fails the check: %s\n", i, msg);
        abort();
      }
      fftconv_problem_key(&p[i], key, sizeof key);
    }
  } else if (!e.msg[0]) {
    fprintf(stderr, "refused without a message\n");
    abort();
  }
  free(p);
  free(text);
  return 0;
}
