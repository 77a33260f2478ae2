/* compile_space.h: emits every candidate of a family's space that check() accepts for one
   problem and compiles them with NVRTC on two threads, asserting that each compiles, fits
   the device's shared memory and has both entries. Returns how many compiled. Shared by the
   family tests. */
#ifndef FC_TEST_COMPILE_SPACE_H
#define FC_TEST_COMPILE_SPACE_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "compile.h"
#include "emit.h"

static int compile_space(fc_emit *em, const char *family, const fftconv_problem *p,
                         const fc_device_info *dev, const char *rigor) {
  fc_err e = {{0}};
  fc_candidate *c = NULL;
  int nc = 0, nv = 0;
  cr_assert_eq(fc_emit_space(em, family, p, dev, rigor, &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
  fc_kernel_src *src = calloc((size_t)nc + 1, sizeof *src);
  for (int i = 0; i < nc; i++) {
    if (c[i].reason) continue;
    cr_assert_eq(fc_emit_kernel(em, family, c[i].params, dev, &src[nv], &e), FFTCONV_OK,
                 "%s: %s", c[i].params, e.msg);
    cr_assert_leq(src[nv].layout.smem, dev->smem_optin);
    nv++;
  }
  cr_assert_gt(nv, 0, "no valid %s candidate for N=%lld on sm_%d", family,
               (long long)fftconv_problem_fft_size(p), dev->sm);
  const char **srcs = calloc((size_t)nv, sizeof *srcs), **names = calloc((size_t)nv, sizeof *names);
  fc_binary *bins = calloc((size_t)nv, sizeof *bins);
  fftconv_status *st = calloc((size_t)nv, sizeof *st);
  for (int i = 0; i < nv; i++) srcs[i] = src[i].source, names[i] = src[i].name;
  int failed = fc_compile_all(srcs, names, nv, dev->sm, 2, bins, st);
  for (int i = 0; i < nv; i++) {
    cr_assert_eq(st[i], FFTCONV_OK, "%d of %d %s candidates failed for N=%lld sm_%d; %s:\n%s",
                 failed, nv, family, (long long)fftconv_problem_fft_size(p), dev->sm,
                 src[i].params, bins[i].log);
    cr_assert(fc_binary_entry(&bins[i], "fftconv_fwd") && fc_binary_entry(&bins[i], "fftconv_prep"),
              "entries missing from the ptxas report of %s", src[i].params);
    fc_binary_free(&bins[i]);
    fc_kernel_src_free(&src[i]);
  }
  free(srcs), free(names), free(bins), free(st), free(src);
  fc_candidates_free(c, nc);
  return nv;
}

#endif
