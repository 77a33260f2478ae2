/* compile_space.h: emits candidates of a family and compiles them with NVRTC on two threads,
   asserting that each compiles, fits the device's shared memory and has every entry of its manifest.
   compile_list takes the parameter sets; compile_space every candidate of a family's space
   that check() accepts for one problem. Both return how many compiled. Shared by the compile
   tests. */
#ifndef FC_TEST_COMPILE_SPACE_H
#define FC_TEST_COMPILE_SPACE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "compile.h"
#include "emit.h"

/* what names the set in failure messages, e.g. "N=4096". */
static inline int compile_list(fc_emit *em, const char *family, char *const *params, int n,
                               const fc_device_info *dev, const char *what) {
  fc_err e = {{0}};
  fc_kernel_src *src = calloc((size_t)n + 1, sizeof *src);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(fc_emit_kernel(em, family, params[i], dev, &src[i], &e), FFTCONV_OK,
                 "%s: %s", params[i], e.msg);
    cr_assert_leq(fc_manifest_max_smem(&src[i].manifest, -1), dev->smem_optin);
  }
  const char **srcs = calloc((size_t)n + 1, sizeof *srcs);
  const char **names = calloc((size_t)n + 1, sizeof *names);
  fc_binary *bins = calloc((size_t)n + 1, sizeof *bins);
  fftconv_status *st = calloc((size_t)n + 1, sizeof *st);
  for (int i = 0; i < n; i++) srcs[i] = src[i].source, names[i] = src[i].name;
  char arch[16];
  int failed = fc_compile_all(srcs, names, n, fc_device_arch(dev, arch), 2, bins, st);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(st[i], FFTCONV_OK, "%d of %d %s candidates failed for %s sm_%d; %s:\n%s",
                 failed, n, family, what, dev->sm, src[i].params, bins[i].log);
    for (int l = 0; l < src[i].manifest.nlaunch; l++)
      cr_assert(fc_binary_entry(&bins[i], src[i].manifest.launch[l].entry),
                "entry %s missing from the ptxas report of %s", src[i].manifest.launch[l].entry,
                src[i].params);
    fc_binary_free(&bins[i]);
    fc_kernel_src_free(&src[i]);
  }
  free(srcs), free(names), free(bins), free(st), free(src);
  return n;
}

static inline int compile_space(fc_emit *em, const char *family, const fftconv_problem *p,
                                const fc_device_info *dev, fc_rigor rigor) {
  fc_err e = {{0}};
  fc_candidate *c = NULL;
  int nc = 0, nv = 0;
  cr_assert_eq(fc_emit_space(em, family, p, dev, rigor, &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
  char **params = calloc((size_t)nc + 1, sizeof *params);
  for (int i = 0; i < nc; i++)
    if (!c[i].reason) params[nv++] = c[i].params;
  char what[32];
  snprintf(what, sizeof what, "N=%lld", (long long)fftconv_problem_fft_size(p));
  cr_assert_gt(nv, 0, "no valid %s candidate for %s on sm_%d", family, what, dev->sm);
  compile_list(em, family, params, nv, dev, what);
  free(params);
  fc_candidates_free(c, nc);
  return nv;
}

#endif
