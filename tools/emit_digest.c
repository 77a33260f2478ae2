/* emit-digest: one line per candidate of every family for every problem of a problem-set
 * file (the tuner's --problems format) and both ops (forward, then backward), exhaustive
 * rigor, for a compile target: the op, the template, the parameters, the FNV-1a 64 of the emitted CUDA (the header comment's template
 * hash blanked, so that a change of a template's text that changes no code shows as none)
 * and of the launch manifest, and the default choice of each family. A structural change must
 * leave this list unchanged; see README.md, "Refactoring without changing a kernel".
 * Usage: emit-digest PROBLEMS [sm_90] > digest.txt */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "gpu.h"
#include "problem_file.h"
#include "shape.h"

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

/* The source with every occurrence of the template hash blanked. */
static uint64_t source_digest(const char *src, const char *hash) {
  size_t n = strlen(src), hl = strlen(hash);
  char *t = malloc(n + 1);
  if (!t) return 0;
  memcpy(t, src, n + 1);
  for (char *p = hl ? strstr(t, hash) : NULL; p; p = strstr(p + hl, hash)) memset(p, '#', hl);
  uint64_t h = fnv(t, n);
  free(t);
  return h;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: emit-digest PROBLEMS [sm_XY]\n");
    return 2;
  }
  fc_err e = {{0}};
  fftconv_problem *ps = NULL;
  int np = 0;
  if (fc_problem_file_read(argv[1], &ps, &np, &e) != FFTCONV_OK) {
    fprintf(stderr, "emit-digest: %s\n", e.msg);
    return 2;
  }
  int sm = 90;
  if (argc == 3 && sscanf(argv[2], "sm_%d", &sm) != 1) {
    fprintf(stderr, "emit-digest: bad arch %s\n", argv[2]);
    return 2;
  }
  fc_device_info dev;
  fc_device_info_for_arch(sm, &dev);
  fc_emit *em = NULL;
  if (fc_emit_open(&em, &e) != FFTCONV_OK) {
    fprintf(stderr, "emit-digest: %s\n", e.msg);
    return 1;
  }
  int bad = 0;
  long count = 0;
  for (int i = 0; i < np; i++) {
    char pkey[256];
    fftconv_problem_key(&ps[i], pkey, sizeof pkey);
    for (int t = 0; t < 2 * fc_emit_template_count(em); t++) {
      const int op = t & 1 ? FC_OP_BACKWARD : FC_OP_FORWARD;
      const char *tmpl = fc_emit_template_name(em, t / 2);
      char key[300];
      snprintf(key, sizeof key, "%s %s", pkey, op ? "backward" : "forward");
      char *def = NULL;
      fc_err de = {{0}};
      fftconv_status ds = fc_emit_default_op(em, tmpl, op, &ps[i], &dev, &def, &de);
      printf("%s %s default %s\n", key, tmpl, ds == FFTCONV_OK ? def : fftconv_status_string(ds));
      free(def);
      fc_candidate *c = NULL;
      int n = 0;
      if (fc_emit_space_op(em, tmpl, op, &ps[i], &dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e) !=
          FFTCONV_OK) {
        printf("%s %s space-error %s\n", key, tmpl, e.msg);
        bad = 1;
        continue;
      }
      for (int j = 0; j < n; j++) {
        if (c[j].reason) {
          printf("%s %s %s skip %s\n", key, tmpl, c[j].params, c[j].reason);
          continue;
        }
        fc_kernel_src src = {0};
        if (fc_emit_kernel(em, tmpl, c[j].params, &dev, &src, &e) != FFTCONV_OK) {
          printf("%s %s %s emit-error %s\n", key, tmpl, c[j].params, e.msg);
          bad = 1;
          continue;
        }
        char *mj = fc_manifest_json(&src.manifest);
        printf("%s %s %s src %016" PRIx64 " manifest %016" PRIx64 "\n", key, tmpl, c[j].params,
               source_digest(src.source, src.info.hash), mj ? fnv(mj, strlen(mj)) : 0);
        free(mj);
        fc_kernel_src_free(&src);
        count++;
      }
      fc_candidates_free(c, n);
    }
  }
  fprintf(stderr, "emit-digest: %ld candidates emitted for %d problems\n", count, np);
  fc_emit_close(em);
  free(ps);
  return bad;
}
