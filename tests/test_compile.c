/* compile: NVRTC to cubin and PTX, the ptxas report, errors, threads, and a machine without
   NVRTC. Needs no GPU. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

static const char *k_scale =
    "extern \"C\" __global__ void scale2(float2 *x, int n, float a) {\n"
    "  extern __shared__ float2 buf[];\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  buf[threadIdx.x] = i < n ? x[i] : make_float2(0.f, 0.f);\n"
    "  __syncthreads();\n"
    "  float2 v = buf[blockDim.x - 1 - threadIdx.x];\n"
    "  if (i < n) x[i] = make_float2(v.x * a, v.y * a);\n"
    "}\n"
    "extern \"C\" __global__ void stat(float *x) {\n"
    "  __shared__ float s[100];\n"
    "  s[threadIdx.x % 100] = x[threadIdx.x];\n"
    "  __syncthreads();\n"
    "  x[threadIdx.x] = s[99 - threadIdx.x % 100];\n"
    "}\n";

static void check_scale(const char *arch, int sm) {
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_scale, "scale.cu", arch, 0, &b, &e), FFTCONV_OK, "%s: %s", arch,
               e.msg);
  cr_assert_gt(b.cubin_size, 4);
  cr_assert(memcmp(b.cubin, "\x7f" "ELF", 4) == 0, "cubin is not an ELF image");
  cr_assert_null(b.ptx);
  cr_assert_not_null(b.log);
  cr_assert_eq(b.sm, sm);
  cr_assert_str_eq(b.arch, arch[0] == 's' ? arch : "sm_90");
  cr_assert_geq(b.seconds, 0.0);
  cr_assert_eq(b.nentries, 2, "log was:\n%s", b.log);
  const fc_entry_info *x = fc_binary_entry(&b, "scale2");
  cr_assert_not_null(x, "log was:\n%s", b.log);
  cr_assert_str_eq(x->name, "scale2");
  cr_assert_gt(x->registers, 0);
  cr_assert_eq(x->smem_static, 0);
  cr_assert_eq(x->spill_stores, 0);
  const fc_entry_info *st = fc_binary_entry(&b, "stat");
  cr_assert_not_null(st);
  cr_assert_eq(st->smem_static, 400, "log was:\n%s", b.log);
  cr_assert_null(fc_binary_entry(&b, "nosuch"));
  char want[64];
  snprintf(want, sizeof want, "for '%s'", b.arch);
  cr_assert_not_null(strstr(b.log, want), "log was:\n%s", b.log);
  fc_binary_free(&b);
  cr_assert_null(b.cubin);
}

Test(compile, sm80) { check_scale("sm_80", 80); }
Test(compile, sm90) { check_scale("sm_90", 90); }
Test(compile, sm90_short_name) { check_scale("90", 90); }
Test(compile, sm90a) { check_scale("sm_90a", 90); }

Test(compile, ptx) {
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_scale, "scale.cu", "sm_90", 1, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_not_null(b.ptx);
  cr_assert_eq(b.ptx_size, strlen(b.ptx));
  cr_assert_not_null(strstr(b.ptx, ".entry scale2"));
  cr_assert_not_null(strstr(b.ptx, ".target sm_90"));
  cr_assert_gt(b.cubin_size, 0);
  fc_binary_free(&b);
}

Test(compile, syntax_error) {
  const char *bad =
      "extern \"C\" __global__ void k(float *x) {\n"
      "  float y = 1.0f;\n"
      "  x[0] = y +;\n"
      "}\n";
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(bad, "bad.cu", "sm_90", 0, &b, &e), FFTCONV_ERR_COMPILE);
  cr_assert_not_null(strstr(e.msg, "NVRTC failed to compile bad.cu for sm_90"), "%s", e.msg);
  cr_assert_not_null(strstr(e.msg, "bad.cu(3)"), "%s", e.msg);
  cr_assert_not_null(strstr(e.msg, "error"), "%s", e.msg);
  cr_assert_not_null(b.log);
  cr_assert_not_null(strstr(b.log, "bad.cu(3)"), "%s", b.log);
  cr_assert_null(b.cubin);
  cr_assert_eq(b.nentries, 0);
  fc_binary_free(&b);
}

Test(compile, long_error_log_is_cut) {
  /* Hundreds of errors: the message must stay within fc_err and say it was cut. */
  fc_str src = {0};
  fc_str_add(&src, "extern \"C\" __global__ void k(float *x) {\n");
  for (int i = 0; i < 400; i++) fc_str_add(&src, "  x[%d] = undefined_name_%d;\n", i, i);
  fc_str_add(&src, "}\n");
  cr_assert_not(src.oom);
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(src.s, "long.cu", "sm_90", 0, &b, &e), FFTCONV_ERR_COMPILE);
  cr_assert_lt(strlen(e.msg), sizeof e.msg);
  cr_assert_not_null(strstr(e.msg, "long.cu(2)"), "%s", e.msg);
  cr_assert_not_null(strstr(e.msg, "log truncated"), "%s", e.msg);
  cr_assert_gt(strlen(b.log), sizeof e.msg);
  fc_binary_free(&b);
  fc_str_free(&src);
}

Test(compile, unknown_arch) {
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_scale, "scale.cu", "sm_12", 0, &b, &e), FFTCONV_ERR_INVALID);
  cr_assert_not_null(strstr(e.msg, "sm_12"), "%s", e.msg);
  cr_assert_not_null(strstr(e.msg, "sm_90"), "supported list missing: %s", e.msg);
  cr_assert_not_null(b.log);
  cr_assert_null(b.cubin);
  fc_binary_free(&b);
}

Test(compile, spills_reported) {
  /* At most 32 registers (1024 threads x 2 blocks per SM) and a dynamically indexed array of
     128 floats: the array must live in local memory (stack frame), and NVRTC 13 also spills. */
  const char *src =
      "extern \"C\" __global__ void __launch_bounds__(1024, 2)\n"
      "heavy(float2 *x, int n, int j) {\n"
      "  float2 a[64];\n"
      "  for (int i = 0; i < 64; i++) a[i] = x[i * n + threadIdx.x];\n"
      "  float2 acc = a[j & 63];\n"
      "  for (int i = 0; i < 64; i++) { acc.x += a[(i * j) & 63].y; acc.y -= a[i].x; }\n"
      "  x[threadIdx.x] = acc;\n"
      "}\n";
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(src, "heavy.cu", "sm_90", 0, &b, &e), FFTCONV_OK, "%s", e.msg);
  const fc_entry_info *x = fc_binary_entry(&b, "heavy");
  cr_assert_not_null(x, "log was:\n%s", b.log);
  cr_assert_geq(x->stack, 64 * 8, "log was:\n%s", b.log);
  cr_assert_gt(x->registers, 0);
  cr_assert_leq(x->registers, 32, "launch bounds ignored? log was:\n%s", b.log);
  /* The parsed figures are the ones in the report, whatever the compiler chose. */
  char want[160];
  snprintf(want, sizeof want,
           "%d bytes stack frame, %d bytes spill stores, %d bytes spill loads", x->stack,
           x->spill_stores, x->spill_loads);
  cr_assert_not_null(strstr(b.log, want), "parsed \"%s\"; log was:\n%s", want, b.log);
  snprintf(want, sizeof want, "Used %d registers", x->registers);
  cr_assert_not_null(strstr(b.log, want), "log was:\n%s", b.log);
  fc_binary_free(&b);
}

typedef struct {
  fc_binary b;
  fftconv_status s;
  fc_err e;
} compile_job;

static void *compile_thread(void *arg) {
  compile_job *j = arg;
  j->s = fc_compile(k_scale, "scale.cu", "sm_90", 1, &j->b, &j->e);
  return NULL;
}

Test(compile, threads) {
  enum { N = 4 };
  static compile_job jobs[N];
  pthread_t t[N];
  for (int i = 0; i < N; i++) cr_assert_eq(pthread_create(&t[i], NULL, compile_thread, &jobs[i]), 0);
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(jobs[i].s, FFTCONV_OK, "thread %d: %s", i, jobs[i].e.msg);
    cr_assert_eq(jobs[i].b.cubin_size, jobs[0].b.cubin_size);
    cr_assert(memcmp(jobs[i].b.cubin, jobs[0].b.cubin, jobs[0].b.cubin_size) == 0,
              "thread %d produced a different cubin", i);
    cr_assert_str_eq(jobs[i].b.ptx, jobs[0].b.ptx);
    cr_assert_eq(jobs[i].b.nentries, 2);
  }
  for (int i = 0; i < N; i++) fc_binary_free(&jobs[i].b);
}

/* Every accepted spelling becomes the one NVRTC takes, and the suffix survives. */
Test(compile, arch_normalize) {
  struct { const char *in, *out; int sm; } ok[] = {
      {"sm_90", "sm_90", 90},   {"sm_90a", "sm_90a", 90}, {"90", "sm_90", 90},
      {"90a", "sm_90a", 90},    {"sm_80", "sm_80", 80},   {"sm_100", "sm_100", 100},
      {"sm_100a", "sm_100a", 100}, {"sm_100f", "sm_100f", 100}, {"120", "sm_120", 120},
      {"sm_12", "sm_12", 12},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    char out[16] = "junk";
    int sm = -1;
    cr_assert_eq(fc_arch_normalize(ok[i].in, out, &sm), 1, "%s", ok[i].in);
    cr_assert_str_eq(out, ok[i].out, "%s", ok[i].in);
    cr_assert_eq(sm, ok[i].sm, "%s", ok[i].in);
  }
  const char *bad[] = {"", "sm_", "sm90", "sm_9", "sm_90x", "sm_90aa", "sm_90A", " 90", "-90",
                       "12345", "sm_1000", "sm_090", "090", "compute_90", "hopper", "sm_90 ",
                       "a90"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char out[16] = "junk";
    int sm = -1;
    cr_assert_eq(fc_arch_normalize(bad[i], out, &sm), 0, "'%s' accepted", bad[i]);
    cr_assert_str_eq(out, "", "%s", bad[i]);
    cr_assert_eq(sm, 0, "%s", bad[i]);
  }
  cr_assert_eq(fc_arch_normalize(NULL, NULL, NULL), 0);
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_scale, "scale.cu", "hopper", 0, &b, &e), FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "'hopper' is not an architecture"), "%s", e.msg);
  fc_binary_free(&b);
}

/* An arch-specific instruction: setmaxnreg exists on sm_90a only. The 'a' must reach NVRTC,
   and without it ptxas must refuse (with its log), not quietly drop the instruction. */
static const char *k_setmaxnreg =
    "extern \"C\" __global__ void __launch_bounds__(128) grow(float *x) {\n"
    "  asm volatile(\"setmaxnreg.inc.sync.aligned.u32 240;\");\n"
    "  x[threadIdx.x] *= 2.0f;\n"
    "}\n";

Test(compile, arch_specific_instruction) {
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_setmaxnreg, "grow.cu", "sm_90a", 1, &b, &e), FFTCONV_OK, "%s",
               e.msg);
  cr_assert_str_eq(b.arch, "sm_90a");
  cr_assert_eq(b.sm, 90);
  cr_assert_gt(b.cubin_size, 0);
  cr_assert(strstr(b.log, "for 'sm_90a'"), "log was:\n%s", b.log);
  cr_assert(strstr(b.ptx, ".target sm_90a"), "%s", b.ptx);
  cr_assert(strstr(b.ptx, "setmaxnreg"), "%s", b.ptx);
  fc_binary_free(&b);
  cr_assert_eq(fc_compile(k_setmaxnreg, "grow.cu", "sm_90", 0, &b, &e), FFTCONV_ERR_COMPILE);
  cr_assert(strstr(e.msg, "NVRTC failed to compile grow.cu for sm_90:"), "%s", e.msg);
  cr_assert(strstr(b.log, "setmaxnreg"), "the log names the instruction:\n%s", b.log);
  cr_assert_null(b.cubin);
  fc_binary_free(&b);
}

Test(compile, version_and_free) {
  int major = -1, minor = -1;
  cr_assert_eq(fc_nvrtc_version(&major, &minor), 1);
  cr_assert_geq(major, 12);
  cr_assert_geq(minor, 0);
  char v[16], want[16];
  fc_nvrtc_version_text(v, sizeof v);
  snprintf(want, sizeof want, "%d.%d", major, minor);
  cr_assert_str_eq(v, want);
  fc_binary_free(NULL);
  fc_binary z;
  memset(&z, 0, sizeof z);
  fc_binary_free(&z);
  cr_assert_null(fc_binary_entry(NULL, "x"));
}

/* A machine without the toolkit: FFTCONV_NVRTC at a missing file. NVRTC is loaded once per
   process, on first use, and Criterion runs each test in a process of its own, so setting
   the variable first is enough. */
Test(compile, without_nvrtc) {
  setenv("FFTCONV_NVRTC", "/nonexistent/libnvrtc.so.13", 1);
  fc_binary b;
  fc_err e = {{0}};
  cr_assert_eq(fc_compile(k_scale, "scale.cu", "sm_90", 0, &b, &e), FFTCONV_ERR_NO_COMPILER);
  cr_assert(strstr(e.msg, "no NVRTC: /nonexistent/libnvrtc.so.13 (FFTCONV_NVRTC) could not be "
                          "loaded (/nonexistent/libnvrtc.so.13: "), "%s", e.msg);
  cr_assert(strstr(e.msg, "); install the CUDA toolkit's NVRTC or plan from a tuned cache"),
            "%s", e.msg);
  cr_assert_not_null(b.log);
  cr_assert_str_eq(b.log, "");
  cr_assert_null(b.cubin);
  fc_binary_free(&b);
  /* asked again: the same answer, from the remembered outcome */
  fc_err e2 = {{0}};
  cr_assert_eq(fc_nvrtc_load(&e2), FFTCONV_ERR_NO_COMPILER);
  cr_assert_str_eq(e2.msg, e.msg);
  int major = -1, minor = -1;
  cr_assert_eq(fc_nvrtc_version(&major, &minor), 0);
  cr_assert_eq(major, 0);
  cr_assert_eq(minor, 0);
  char v[16];
  fc_nvrtc_version_text(v, sizeof v);
  cr_assert_str_eq(v, "none");
  const char *src[] = {k_scale, k_scale};
  const char *names[] = {"a.cu", "b.cu"};
  fc_binary bins[2] = {{0}};
  fftconv_status st[2];
  cr_assert_eq(fc_compile_all(src, names, 2, "sm_90", 2, bins, st), 2);
  cr_assert(st[0] == FFTCONV_ERR_NO_COMPILER && st[1] == FFTCONV_ERR_NO_COMPILER);
  for (int i = 0; i < 2; i++) fc_binary_free(&bins[i]);
  cr_assert_str_eq(fftconv_status_string(FFTCONV_ERR_NO_COMPILER), "no compiler (NVRTC)");
}

/* fc_compile_all: every source compiled, failures counted and their logs kept per source. */
Test(compile, compile_all_reports_each) {
  const char *src[] = {k_scale, "extern \"C\" __global__ void k() { int x = ; }", k_scale};
  const char *names[] = {"a.cu", "b.cu", "c.cu"};
  fc_binary bins[3] = {{0}};
  fftconv_status st[3];
  cr_assert_eq(fc_compile_all(src, names, 3, "sm_90", 2, bins, st), 1);
  cr_assert_eq(st[0], FFTCONV_OK);
  cr_assert_eq(st[1], FFTCONV_ERR_COMPILE);
  cr_assert_eq(st[2], FFTCONV_OK);
  cr_assert(strstr(bins[1].log, "error"), "%s", bins[1].log);
  cr_assert(bins[0].cubin && bins[2].cubin && !bins[1].cubin);
  for (int i = 0; i < 3; i++) fc_binary_free(&bins[i]);
}

/* fc_compile_all compiles sources whose code after the leading comment is the same once, and
   gives each its own copy: the same cubin bytes at different addresses, each freed alone; a
   source whose code differs (the same comment, another body) is compiled on its own. */
Test(compile, compile_all_shares_same_code) {
  static char a[4096], b[4096], c[4096];
  snprintf(a, sizeof a, "/* params: {\"group\":0} */\n%s", k_scale);
  snprintf(b, sizeof b, "/* params: {\"group\":8} */\n%s", k_scale);
  snprintf(c, sizeof c, "/* params: {\"group\":0} */\n%s", "extern \"C\" __global__ void k() { int x = ; }");
  const char *src[] = {a, b, c, b};
  const char *names[] = {"a.cu", "b.cu", "c.cu", "d.cu"};
  fc_binary bins[4] = {{0}};
  fftconv_status st[4];
  cr_assert_eq(fc_compile_all(src, names, 4, "sm_90", 2, bins, st), 1);
  cr_assert(st[0] == FFTCONV_OK && st[1] == FFTCONV_OK && st[3] == FFTCONV_OK);
  cr_assert_eq(st[2], FFTCONV_ERR_COMPILE);
  cr_assert(strstr(bins[2].log, "error"), "%s", bins[2].log);
  for (int i = 1; i < 4; i += 2) {
    cr_assert(bins[i].cubin && bins[i].cubin != bins[0].cubin);
    cr_assert_eq(bins[i].cubin_size, bins[0].cubin_size);
    cr_assert(!memcmp(bins[i].cubin, bins[0].cubin, bins[0].cubin_size));
  }
  cr_assert(bins[1].cubin != bins[3].cubin);
  for (int i = 0; i < 4; i++) fc_binary_free(&bins[i]);
}
