/* Fuzz target: the bundle reader (bundle.h), through a compiled-in image so that no file is
 * touched. An input is a manifest followed by the bundle's files, each introduced by a line
 *   @@file NAME
 * (fuzz/corpus/bundle/ holds real bundles in this form: `fuzz/bundle_seed.sh DIR` writes one).
 * Whatever the bytes, opening must succeed or fail with a message and no sanitizer report; a
 * bundle that opens is then asked for devices and for a plan of every problem it holds and of
 * a few it does not, as an application would. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cache.h"
#include "shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILES 64
static const char SEP[] = "\n@@file ";

static const char *find(const char *p, const char *end, const char *what) {
  size_t n = strlen(what);
  for (; p + n <= end; p++)
    if (!memcmp(p, what, n)) return p;
  return NULL;
}

static void lookup(fc_store *s, const fc_device_info *dev, const fftconv_problem *p) {
  fc_shape sh;
  fc_err e = {{0}};
  if (fc_shape_resolve(p, FC_OP_FORWARD, &sh, &e) != FFTCONV_OK) return;
  fc_cache_config cfg = {dev, dev->sm, "13.0"};
  fc_cache_hit hit;
  int found = 0;
  if (fc_store_lookup(s, &cfg, &sh, NULL, 0, &hit, &found, &e) == FFTCONV_OK && found)
    fc_cache_hit_free(&hit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* one copy, NUL-terminated, cut into the manifest and the files in place */
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  const char *end = text + size;
  fftconv_bundle_file files[MAX_FILES];
  char *names[MAX_FILES];
  int n = 0;
  const char *sep = find(text, end, SEP);
  size_t mlen = sep ? (size_t)(sep - text) : size;
  while (sep && n < MAX_FILES) {
    char *name = (char *)sep + sizeof SEP - 1;
    char *nl = memchr(name, '\n', (size_t)(end - name));
    if (!nl) break;
    *nl = 0;
    const char *body = nl + 1;
    sep = find(body, end, SEP);
    names[n] = name;
    files[n] = (fftconv_bundle_file){name, (const unsigned char *)body,
                                     (size_t)((sep ? sep : end) - body)};
    n++;
  }
  text[mlen] = 0; /* the manifest's own text; its size as given, a NUL inside included */
  (void)names;
  fftconv_bundle_image img = {FFTCONV_BUNDLE_IMAGE_VERSION, text, mlen, n, files};
  fc_bundle *b = NULL;
  fc_err e = {{0}};
  if (fc_bundle_open(NULL, &img, &b, &e) != FFTCONV_OK) {
    if (!e.msg[0]) {
      fprintf(stderr, "refused without a message\n");
      abort();
    }
    free(text);
    return 0;
  }
  static const int sms[] = {80, 86, 90};
  for (size_t k = 0; k < sizeof sms / sizeof sms[0]; k++) {
    fc_err de = {{0}};
    fc_bundle_set_device(b, sms[k], &de);
  }
  (void)fc_bundle_describe(b);
  for (int i = 0; i < fc_bundle_modules(b); i++) {
    size_t sz = 0;
    const void *d = fc_bundle_module_data(b, i, &sz);
    if (!d && sz) abort();
  }
  fc_bundle_set_device(b, 90, &e);
  fc_store *s = fc_bundle_store(b); /* owns b from here */
  if (s) {
    fc_device_info dev;
    memset(&dev, 0, sizeof dev);
    snprintf(dev.name, sizeof dev.name, "NVIDIA H100 80GB HBM3");
    dev.sm = 90;
    dev.sms = 132;
    dev.driver_version = 13000;
    static const int64_t lens[] = {1, 1000, 4096, 65536, 1 << 20};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
      for (int dt = FFTCONV_FP32; dt <= FFTCONV_BF16; dt++) {
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 3;
        p.heads = 5;
        p.seqlen = lens[k];
        p.dtype = (fftconv_dtype)dt;
        p.mode = k % 2 ? FFTCONV_CAUSAL : FFTCONV_CIRCULAR;
        p.pre_gate = p.post_gate = 1;
        lookup(s, &dev, &p);
      }
    fc_store_close(s);
  }
  free(text);
  return 0;
}
