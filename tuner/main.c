/* fftconv-tune: enumerate a family's candidates for one problem, compile them in parallel with
 * NVRTC, verify each on the GPU against the fp64 reference, time the ones that pass and print
 * a table with the winner. Without a GPU (or with --dry-run) it compiles every candidate for
 * --arch and reports any compile failure with its log. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "emit.h"
#include "gpu.h"
#include "plan.h"
#include "search.h"

static const char *usage_text =
    "usage: fftconv-tune [options]\n"
    "\n"
    "Finds the fastest correct kernel for one convolution problem on this GPU: enumerates the\n"
    "template family's candidates, compiles them with NVRTC in parallel, verifies each against\n"
    "an fp64 FFTW reference (odd shape B<=3, H<=5, NaN-poisoned output), times those that pass\n"
    "(CUDA events, L2 scrubbed, median of --runs) and prints a table with the winner.\n"
    "Without a GPU driver, or with --dry-run, it compiles every candidate for --arch instead.\n"
    "\n"
    "problem:\n"
    "  --seqlen L        sequence length (default 4096)\n"
    "  --batch B         batch size (default 8)\n"
    "  --heads H         heads, i.e. channels (default 64)\n"
    "  --dtype T         I/O dtype: fp32, fp16 or bf16 (default fp16)\n"
    "  --mode M          causal (FFT size >= L+K-1) or circular (FFT size L) (default causal)\n"
    "  --filter-len K    filter length, 1..L (default L)\n"
    "  --freq-keep F     keep the lowest F frequency bins of the filter (default all)\n"
    "  --pregate         multiply u by a pre gate\n"
    "  --postgate        multiply the result by a post gate\n"
    "  --skip-d          add the D * u skip term\n"
    "search:\n"
    "  --template NAME   kernel family (default monarch_fp32)\n"
    "  --device N        CUDA device ordinal (default 0)\n"
    "  --arch sm_XY      compile target (default: the device's; sm_90 without a GPU)\n"
    "  --jobs J          parallel NVRTC compilations (default: online CPUs)\n"
    "  --runs R          timed runs per candidate, >= 20 (default 30)\n"
    "  --warmup W        untimed runs first (default 5)\n"
    "  --dry-run         compile only, do not touch the GPU\n"
    "  --emit-dir DIR    write every candidate's CUDA source and NVRTC log into DIR\n"
    "  --quiet           no progress lines\n"
    "  -h, --help        this text\n"
    "\n"
    "exit status: 0 success, 1 a candidate failed to compile or none verified, 2 bad usage,\n"
    "3 the GPU could not be used for a real run.\n";

/* Prints a usage error and returns the usage exit status. */
static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fftconv-tune: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(see fftconv-tune --help)\n");
  va_end(ap);
  return 2;
}

static int parse_i64(const char *flag, const char *s, int64_t lo, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < lo) return 0;
  *out = v;
  (void)flag;
  return 1;
}

/* "factors=16x16x64 dft=radix seqs=1 threads=256" from the JSON, for the table. */
static void summarize(const char *json, char *out, size_t len) {
  const char *f = strstr(json, "\"factors\":[");
  char fac[64] = "?";
  if (f) {
    f += 11;
    size_t j = 0;
    for (; *f && *f != ']' && j + 2 < sizeof fac; f++) fac[j++] = *f == ',' ? 'x' : *f;
    fac[j] = 0;
  }
  char dft[16] = "?";
  const char *d = strstr(json, "\"dft\":\"");
  if (d) sscanf(d + 7, "%15[^\"]", dft);
  int seqs = 0, threads = 0;
  const char *s = strstr(json, "\"seqs\":");
  if (s) seqs = atoi(s + 7);
  const char *t = strstr(json, "\"threads\":");
  if (t) threads = atoi(t + 10);
  snprintf(out, len, "%-10s %-6s %4d %4d", fac, dft, seqs, threads);
}

int main(int argc, char **argv) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 8;
  p.heads = 64;
  p.seqlen = 4096;
  p.dtype = FFTCONV_FP16;
  const char *tmpl = "monarch_fp32", *arch = NULL, *emit_dir = NULL;
  int64_t device = 0, jobs = sysconf(_SC_NPROCESSORS_ONLN), runs = 30, warmup = 5;
  int dry = 0, quiet = 0;
  enum { O_SEQ = 256, O_BATCH, O_HEADS, O_DTYPE, O_MODE, O_K, O_F, O_PRE, O_POST, O_D, O_TMPL,
         O_DEV, O_ARCH, O_JOBS, O_RUNS, O_WARM, O_DRY, O_EMIT, O_QUIET };
  static const struct option opts[] = {
      {"seqlen", 1, 0, O_SEQ},     {"batch", 1, 0, O_BATCH},     {"heads", 1, 0, O_HEADS},
      {"dtype", 1, 0, O_DTYPE},    {"mode", 1, 0, O_MODE},       {"filter-len", 1, 0, O_K},
      {"freq-keep", 1, 0, O_F},    {"pregate", 0, 0, O_PRE},     {"postgate", 0, 0, O_POST},
      {"skip-d", 0, 0, O_D},       {"template", 1, 0, O_TMPL},   {"device", 1, 0, O_DEV},
      {"arch", 1, 0, O_ARCH},      {"jobs", 1, 0, O_JOBS},       {"runs", 1, 0, O_RUNS},
      {"warmup", 1, 0, O_WARM},    {"dry-run", 0, 0, O_DRY},     {"emit-dir", 1, 0, O_EMIT},
      {"quiet", 0, 0, O_QUIET},    {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
  opterr = 0;
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    const char *flag = o >= O_SEQ ? opts[o - O_SEQ].name : "";
    int64_t v;
    switch (o) {
    case 'h': fputs(usage_text, stdout); return 0;
    case O_SEQ: case O_BATCH: case O_HEADS: case O_K: case O_F: case O_DEV: case O_JOBS:
    case O_RUNS: case O_WARM: {
      int64_t lo = (o == O_K || o == O_F || o == O_DEV || o == O_WARM) ? 0 : 1;
      if (o == O_RUNS) lo = 20;
      if (!parse_i64(flag, optarg, lo, &v))
        return die_usage("--%s: '%s' is not an integer >= %" PRId64, flag, optarg, lo);
      if (o == O_SEQ) p.seqlen = v;
      if (o == O_BATCH) p.batch = v;
      if (o == O_HEADS) p.heads = v;
      if (o == O_K) p.filter_len = v;
      if (o == O_F) p.freq_keep = v;
      if (o == O_DEV) device = v;
      if (o == O_JOBS) jobs = v;
      if (o == O_RUNS) runs = v;
      if (o == O_WARM) warmup = v;
      break;
    }
    case O_DTYPE:
      if (!strcmp(optarg, "fp32")) p.dtype = FFTCONV_FP32;
      else if (!strcmp(optarg, "fp16")) p.dtype = FFTCONV_FP16;
      else if (!strcmp(optarg, "bf16")) p.dtype = FFTCONV_BF16;
      else return die_usage("--dtype: '%s' is not one of fp32, fp16, bf16", optarg);
      break;
    case O_MODE:
      if (!strcmp(optarg, "causal")) p.mode = FFTCONV_CAUSAL;
      else if (!strcmp(optarg, "circular")) p.mode = FFTCONV_CIRCULAR;
      else return die_usage("--mode: '%s' is not one of causal, circular", optarg);
      break;
    case O_PRE: p.pre_gate = 1; break;
    case O_POST: p.post_gate = 1; break;
    case O_D: p.skip_d = 1; break;
    case O_TMPL: tmpl = optarg; break;
    case O_ARCH: arch = optarg; break;
    case O_DRY: dry = 1; break;
    case O_EMIT: emit_dir = optarg; break;
    case O_QUIET: quiet = 1; break;
    default:
      if (optopt && optopt < O_SEQ) {
        char s[2] = {(char)optopt, 0};
        return die_usage("unknown option -%s", s);
      }
      if (optopt >= O_SEQ) return die_usage("--%s needs a value", opts[optopt - O_SEQ].name);
      return die_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return die_usage("unexpected argument '%s'", argv[optind]);
  if (jobs < 1) jobs = 1;
  char msg[512];
  if (fftconv_problem_check(&p, msg, sizeof msg) != FFTCONV_OK)
    return die_usage("%s", msg);
  int sm = 0;
  if (arch && !(sm = fc_parse_arch(arch)))
    return die_usage("--arch: '%s' is not an architecture (expected sm_XY, e.g. sm_90)", arch);

  /* The device, or the published limits of --arch for a compile-only check. */
  fc_err e = {{0}};
  fftconv_ctx *ctx = NULL;
  fc_device_info dev;
  if (!dry) {
    fftconv_ctx_options co;
    fftconv_ctx_options_init(&co);
    co.device = (int)device;
    co.arch = arch;
    if (fftconv_ctx_create(&co, &ctx) != FFTCONV_OK) {
      fprintf(stderr, "fftconv-tune: no GPU to tune on: %s\n", fftconv_ctx_error(NULL));
      fprintf(stderr, "fftconv-tune: running the compile-only check instead (--dry-run)\n");
      dry = 1;
    }
  }
  if (ctx) {
    dev = ctx->gpu.info;
    if (!sm) sm = dev.sm;
  } else {
    if (!sm) sm = 90;
    if (!fc_device_info_for_arch(sm, &dev)) {
      fprintf(stderr, "fftconv-tune: no published limits for sm_%d; choose --arch\n", sm);
      return 2;
    }
  }
  dev.sm = sm;
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  printf("problem  %s (FFT size %" PRId64 ")\n", key, fftconv_problem_fft_size(&p));
  printf("device   %s%s\n", ctx ? fftconv_ctx_device(ctx) : dev.name, dry ? " [compile only]" : "");
  int nv, nvm;
  fc_nvrtc_version(&nv, &nvm);
  printf("compile  sm_%d, NVRTC %d.%d, %" PRId64 " jobs\n", sm, nv, nvm, jobs);

  fc_search_opts so = {tmpl, (int)jobs, (int)runs, (int)warmup, quiet ? NULL : stderr, emit_dir};
  fc_search sr;
  int rc = 0;
  if (fc_search_run(dry ? NULL : ctx, &p, &dev, &so, &sr, &e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: %s\n", e.msg);
    fc_search_free(&sr);
    fftconv_ctx_destroy(ctx);
    return 1;
  }
  printf("space    %d candidates valid, %d skipped by the template's check\n", sr.n, sr.skipped);
  printf("compiled %d of %d in %.1f s\n", sr.n - sr.compile_failures, sr.n, sr.compile_seconds);
  fc_result *c = sr.r;
  int n = sr.n, best = sr.best;
  for (int i = 0; i < n; i++)
    if (c[i].status && !strcmp(c[i].status, "compile-failed")) {
      fprintf(stderr, "\ncandidate %d %s failed to compile:\n%s\n", i, c[i].params, c[i].detail);
      rc = 1;
    }

  /* The table. */
  double floor_ms = fc_floor_ms(&p, 3000.0);
  printf("\n%4s %-10s %-6s %4s %4s %5s %6s  %-14s %9s %9s %9s %8s %7s\n", "#", "factors", "dft",
         "seqs", "thr", "regs", "spill", "status", "median_ms", "p10_ms", "p90_ms", "rel_err",
         "floor%");
  for (int i = 0; i < n; i++) {
    char sum[96];
    summarize(c[i].params, sum, sizeof sum);
    const fc_entry_info *fe = c[i].bin.cubin ? fc_binary_entry(&c[i].bin, "fftconv_fwd") : NULL;
    printf("%4d %s %5d %6d  %-14s", i, sum, fe ? fe->registers : 0,
           fe ? fe->spill_stores + fe->spill_loads : 0,
           c[i].status ? c[i].status : (dry ? "compiled" : "?"));
    if (c[i].status && !strcmp(c[i].status, "ok"))
      printf(" %9.4f %9.4f %9.4f %8.1e %6.1f%%", c[i].t.median_ms, c[i].t.p10_ms, c[i].t.p90_ms,
             c[i].err, 100.0 * floor_ms / c[i].t.median_ms);
    else if (c[i].detail[0])
      printf(" %.200s", c[i].detail);
    printf("\n");
  }
  if (!dry) {
    if (best >= 0) {
      printf("\nwinner   #%d %s\n         %.4f ms median of %d runs (p10 %.4f, p90 %.4f), "
             "rel err %.1e, %.1f%% of the memory floor (%.4f ms at 3.0 TB/s)\n",
             best, c[best].params, c[best].t.median_ms, c[best].t.runs, c[best].t.p10_ms,
             c[best].t.p90_ms, c[best].err, 100.0 * floor_ms / c[best].t.median_ms, floor_ms);
    } else {
      printf("\nno candidate verified\n");
      rc = 1;
    }
  } else {
    printf("\ncompile-only: %d of %d candidates compiled for sm_%d\n", n - sr.compile_failures,
           n, sm);
  }
  fc_search_free(&sr);
  fftconv_ctx_destroy(ctx);
  return rc;
}
