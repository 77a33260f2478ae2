/* GPU: long sequences (FFT sizes 64K to 4M) against the fp64 FFTW reference through the
   public API: prepare_filter into a NaN-poisoned k_hat, forward with a NaN-poisoned workspace
   into a NaN-poisoned y, random inputs. N = 64K, 256K, 1M and 4M, both modes, fp16 and bf16
   (fp32 at 64K and 1M), B = 3, H = 5 (B = H = 1 at 4M), gates and D on and off; causal
   L = 100,003 and 1,000,000; a partial filter (K = 4099 at N = 1M); and every candidate of
   the long family at 64K and 1M and of the cluster family at 64K and 128K, fp16, with the
   tuner's verification. Skips with a message
   where no GPU is present. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"

static fftconv_problem problem(int64_t b, int64_t h, int64_t l, fftconv_mode mode,
                               fftconv_dtype dt, int gates) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.mode = mode;
  p.dtype = dt;
  p.pre_gate = p.post_gate = p.skip_d = gates;
  return p;
}

/* Both modes, fp16 and bf16 (and fp32 when with_fp32), gates and D on and off. */
static void grid(int64_t n, int64_t b, int64_t h, int with_fp32) {
  fftconv_ctx *c = ctx_or_skip();
  for (int dt = with_fp32 ? FFTCONV_FP32 : FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int g = 0; g < 2; g++) {
        fftconv_problem p = problem(b, h, mode ? n : n / 2, (fftconv_mode)mode,
                                    (fftconv_dtype)dt, g);
        check_problem(c, &p, (uint64_t)(n + dt * 10 + mode * 3 + g));
      }
  fftconv_ctx_destroy(c);
}

Test(gpu_long, n64k) { grid(65536, 3, 5, 1); }
Test(gpu_long, n256k) { grid(262144, 3, 5, 0); }
Test(gpu_long, n1m) { grid(1048576, 3, 5, 1); }
Test(gpu_long, n4m) { grid(4194304, 1, 1, 0); }

/* Causal lengths that are no power of two, and a partial filter. */
Test(gpu_long, odd_lengths_and_partial_filter) {
  fftconv_ctx *c = ctx_or_skip();
  fftconv_problem p = problem(3, 5, 100003, FFTCONV_CAUSAL, FFTCONV_FP16, 1);
  check_problem(c, &p, 1);
  p = problem(3, 5, 1000000, FFTCONV_CAUSAL, FFTCONV_BF16, 1);
  check_problem(c, &p, 2);
  p = problem(3, 5, 1000000, FFTCONV_CAUSAL, FFTCONV_FP16, 0);
  p.filter_len = 4099;
  cr_assert_eq(fftconv_problem_fft_size(&p), 1048576);
  check_problem(c, &p, 3);
  p = problem(2, 3, 1048576, FFTCONV_CIRCULAR, FFTCONV_FP32, 1);
  p.filter_len = 4099;
  p.freq_keep = 5000;
  check_problem(c, &p, 4);
  fftconv_ctx_destroy(c);
}

/* Every candidate the long family enumerates (its exhaustive space) verifies. */
static void every_candidate(const char *family, int64_t n, fftconv_mode mode) {
  fftconv_ctx *c = ctx_or_skip();
  /* H = 6 for the cluster family: even H takes its head-ordered cluster order */
  fftconv_problem p = problem(3, strcmp(family, "monarch_cluster") ? 5 : 6,
                              mode == FFTCONV_CIRCULAR ? n : n / 2 - 5, mode, FFTCONV_FP16, 1);
  every_candidate_in(c, family, p);
  fftconv_ctx_destroy(c);
}

Test(gpu_long_candidates, n64k_circular) { every_candidate("monarch_long", 65536, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, n64k_causal) { every_candidate("monarch_long", 65536, FFTCONV_CAUSAL); }
Test(gpu_long_candidates, n1m_circular) { every_candidate("monarch_long", 1048576, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, n1m_causal) { every_candidate("monarch_long", 1048576, FFTCONV_CAUSAL); }

/* The cluster family (sm_90: skipped with a message elsewhere) where it fits: 64K and 128K. */
static void every_cluster_candidate(int64_t n, fftconv_mode mode) {
  fftconv_ctx *c = ctx_or_skip();
  int sm = c->gpu.info.sm;
  fftconv_ctx_destroy(c);
  if (sm < 90) cr_skip_test("monarch_cluster needs sm_90, the device is sm_%d", sm);
  every_candidate("monarch_cluster", n, mode);
}
Test(gpu_long_candidates, cluster_64k_circular) { every_cluster_candidate(65536, FFTCONV_CIRCULAR); }
Test(gpu_long_candidates, cluster_64k_causal) { every_cluster_candidate(65536, FFTCONV_CAUSAL); }
Test(gpu_long_candidates, cluster_128k_circular) { every_cluster_candidate(131072, FFTCONV_CIRCULAR); }
