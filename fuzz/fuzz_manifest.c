/* Fuzz target: the launch manifest reader (kernel.h), which reads the "launch" of every bundle
 * module and the manifest column of every cached kernel. Whatever the bytes, fc_manifest_parse
 * must return without a sanitizer report; what it accepts must pass fc_manifest_check, and its
 * canonical text must parse back to the same manifest (Parse(json(m)) == m). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0; /* the readers see NUL-terminated text: a NUL inside ends it early */
  fc_manifest m, back;
  memset(&m, 0, sizeof m);
  fc_err e = {{0}};
  if (fc_manifest_parse(text, &m, &e) == FFTCONV_OK) {
    fc_err ce = {{0}};
    if (fc_manifest_check(&m, &ce) != FFTCONV_OK) {
      fprintf(stderr, "accepted a manifest that fc_manifest_check refuses: %s\n", ce.msg);
      abort();
    }
    char *json = fc_manifest_json(&m);
    if (json) {
      memset(&back, 0, sizeof back);
      fc_err be = {{0}};
      if (fc_manifest_parse(json, &back, &be) != FFTCONV_OK) {
        fprintf(stderr, "its own text does not parse back: %s\n%s\n", be.msg, json);
        abort();
      }
      char *again = fc_manifest_json(&back);
      if (again && strcmp(again, json)) {
        fprintf(stderr, "not a fixed point:\n%s\n%s\n", json, again);
        abort();
      }
      free(again);
      free(json);
    }
  } else if (!e.msg[0]) {
    fprintf(stderr, "refused without a message\n");
    abort();
  }
  free(text);
  return 0;
}
