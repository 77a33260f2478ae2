/* The exhaustive compile sweep (ctest label compile-all, registered with
   -DFFTCONV_COMPILE_ALL=ON; hours on two cores, so CI runs test_compile_sample instead): every
   candidate check() accepts in every family's exhaustive space, at every FFT size from 256 to
   4M (the default and the long sets' sizes), for fp16 and bf16 I/O with fftconv-tune's default shape (B=64, H=768, gated),
   compiles with NVRTC for sm_80 and sm_90 and carries both entries. A family that cannot run
   a dtype is left out of it. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "compile_space.h"
#include "emit.h"
#include "gpu.h"

static void compile_everything(fftconv_dtype dt, int sm) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(sm, &dev));
  for (int t = 0; t < fc_emit_template_count(em); t++) {
    const char *fam = fc_emit_template_name(em, t);
    int total = 0;
    for (int64_t n = 256; n <= 4194304; n *= 2) {
      fftconv_problem p;
      fftconv_problem_init(&p);
      p.batch = 64;
      p.heads = 768;
      p.seqlen = n;
      p.mode = FFTCONV_CIRCULAR;
      p.dtype = dt;
      p.pre_gate = p.post_gate = 1;
      char *params = NULL;
      fftconv_status st = fc_emit_default(em, fam, &p, &dev, &params, &e);
      free(params);
      if (st == FFTCONV_ERR_UNSUPPORTED) continue;
      cr_assert_eq(st, FFTCONV_OK, "%s N=%lld: %s", fam, (long long)n, e.msg);
      total += compile_space(em, fam, &p, &dev, FC_RIGOR_EXHAUSTIVE);
    }
    cr_log_info("%s %s sm_%d: %d candidates compiled", fam, fftconv_dtype_name(dt), sm, total);
  }
  fc_emit_close(em);
}

Test(compile_all, fp16_sm80) { compile_everything(FFTCONV_FP16, 80); }
Test(compile_all, fp16_sm90) { compile_everything(FFTCONV_FP16, 90); }
Test(compile_all, bf16_sm80) { compile_everything(FFTCONV_BF16, 80); }
Test(compile_all, bf16_sm90) { compile_everything(FFTCONV_BF16, 90); }
