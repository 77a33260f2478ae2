/* GPU: shipping tuned kernels. fftconv-tune tunes three problems; fftconv-cache exports them
 * three ways: cubins for sm_80 and sm_90 with the PTX of sm_80, PTX only (compute_80, which
 * the driver compiles), and a --c-source file built into a shared object. Then, for each, a
 * process of its own (plan-child) with no cache and NVRTC hidden from the loader plans every
 * problem from the bundle, exact and nearest shape, runs forward with NaN-poisoned outputs and
 * checks it against the fp64 reference; NVRTC is never loaded. rt-forward, a program linked
 * against libfftconv_rt alone, plans from the first bundle and checks its forward pass too.
 * Skips with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fftconv.h"
#include "shipped.h"
#include "run_tool.h"

static char dir[] = "/tmp/fftconv-gpubundle-XXXXXX";
static char cache[256];
static char out[1 << 16];

/* The problems tuned (rigor estimate). */
static const char problems[] =
    "--seqlen 2048 --batch 3 --heads 5 --dtype fp16 --mode circular --pregate --postgate --skip-d\n"
    "--seqlen 4093 --batch 3 --heads 5 --dtype bf16 --pregate --postgate --skip-d\n"
    "--seqlen 1024 --batch 3 --heads 5 --dtype fp32 --mode circular --pregate --postgate --skip-d\n";

static void tune_or_skip(void) {
  tune_set_or_skip(dir, problems, TUNE_BIN, cache, sizeof cache);
}

static void export(const char *args) {
  char a[1024];
  snprintf(a, sizeof a, "--cache %s export %s", cache, args);
  cr_assert_eq(run_tool("FFTCONV_CACHE_BIN", CACHE_BIN, a, out, sizeof out), 0,
               "fftconv-cache %s:\n%s", a, out);
  cr_log_info("fftconv-cache %s:\n%s", a, out);
}

/* plan-child with no cache and NVRTC hidden, planning from `from` (--bundle DIR or --image
   LIB): every problem from the bundle, verified. */
static void plan_from(const char *what, const char *from) {
  char libs[300], cmd[4096];
  hidden_path(dir, libs, sizeof libs);
  const char *child = getenv("FFTCONV_PLAN_CHILD");
  snprintf(cmd, sizeof cmd,
           "LD_LIBRARY_PATH=%s FFTCONV_NVRTC=%s/no-such-libnvrtc.so %s %s none "
           "2048:circular:fp16:3:5 2048:circular:fp16:4:7 8192:causal:bf16:3:5 "
           "8192:causal:bf16:2:3 1024:circular:fp32:3:5 2>&1",
           libs, dir, child ? child : PLAN_CHILD, from);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  pclose(f);
  cr_log_info("%s:\n%s", what, out);
  const char *const want[] = {
      "ok monarch_* \\[bundle: tuned on *; k0*.fatbin; sm_90\\] err=*",
      "ok monarch_* \\[bundle: nearest, tuned for B3.H5.L2048.*\\] err=*",
      "ok monarch_* \\[bundle: tuned on *\\] err=*",
      "ok monarch_* \\[bundle: nearest, tuned for B3.H5.L4093.*\\] err=*",
      "ok monarch_* \\[bundle: tuned on *\\] err=*",
      "nvrtc loaded: no",
      "nvrtc reachable: *", /* the system may have it: FFTCONV_NVRTC points the library away */
      NULL};
  expect_lines(what, out, want);
  /* the backward was tuned and exported too: planned from the bundle and verified */
  cr_expect(strstr(out, "; backward: monarch_fp32 r") && strstr(out, "bwd_err="),
            "%s: no backward from the bundle:\n%s", what, out);
}

/* rt-forward, linked against libfftconv_rt alone (no SQLite, Lua, NVRTC or FFTW in the
   process), plans 1024 fp32 circular from `bundle` for batch b and checks forward against the
   directly summed convolution. */
static void rt_forward(const char *bundle, int b, const char *rung) {
  const char *bin = getenv("FFTCONV_RT_FORWARD");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 1024 %d 2>&1", bin ? bin : RT_FORWARD, bundle, b);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  int rc = pclose(f);
  cr_log_info("%s:\n%s", cmd, out);
  cr_assert_eq(rc, 0, "%s:\n%s", cmd, out);
  cr_assert(strstr(out, rung), "%s: no '%s' in:\n%s", cmd, rung, out);
  cr_assert(strstr(out, ": ok\n"), "%s:\n%s", cmd, out);
}

Test(gpu_bundle, tuned_exported_and_run_without_nvrtc, .timeout = 900) {
  tune_or_skip();
  char args[1024], path[512];
  snprintf(args, sizeof args, "--out %s/full --arch sm_80,sm_90", dir);
  export(args);
  cr_assert(strstr(out, "cubins for sm_80, sm_90, PTX of the lowest"), "%s", out);
  snprintf(path, sizeof path, "--bundle %s/full", dir);
  plan_from("cubins sm_80, sm_90 and PTX", path);
  snprintf(path, sizeof path, "%s/full", dir);
  rt_forward(path, 3, "[bundle: tuned on ");
  rt_forward(path, 2, "[bundle: nearest, tuned for B3.H5.L1024.");

  snprintf(args, sizeof args, "--out %s/ptx --arch compute_80", dir);
  export(args);
  snprintf(path, sizeof path, "--bundle %s/ptx", dir);
  plan_from("PTX only, compiled by the driver", path);

  snprintf(args, sizeof args, "--out %s/csrc --c-source %s/bundle.c", dir, dir);
  export(args);
  const char *cc = getenv("FFTCONV_CC");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s -shared -fPIC -o %s/libbundle.so %s/bundle.c -I%s 2>&1",
           cc ? cc : C_COMPILER, dir, dir, getenv("FFTCONV_INCLUDE") ? getenv("FFTCONV_INCLUDE")
                                                                   : SOURCE_DIR "/src/runtime");
  FILE *f = popen(cmd, "r");
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  cr_assert_eq(pclose(f), 0, "%s:\n%s", cmd, out);
  snprintf(path, sizeof path, "--image %s/libbundle.so", dir);
  plan_from("the --c-source bundle, compiled", path);
}
