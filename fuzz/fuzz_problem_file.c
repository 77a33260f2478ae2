/* Fuzz target: the problem-set reader (problem_file.h) that fftconv-tune --problems and
 * fftconv-cache export --problems share. Whatever the bytes, it returns problems that pass
 * fftconv_problem_check, or an error with a message, and no sanitizer report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "problem_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[128];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/fftconv-fuzz-problems-%ld.txt", (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  fftconv_problem *p = NULL;
  int n = -1;
  fc_err e = {{0}};
  if (fc_problem_file_read(path, &p, &n, &e) == FFTCONV_OK) {
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
  return 0;
}
