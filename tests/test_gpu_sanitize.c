/* GPU: compute-sanitizer's four tools (memcheck, racecheck, synccheck, initcheck) over one
   kernel of each family at a small, a middle and the largest FFT size, plus the tensor-core
   family's code paths that its default does not take (one row as N/2 complex points, cp.async
   loads, one-head blocks, padded shared memory). Each run is sanitize-child (one prepare and
   one forward, checked against the fp64 reference) under one tool; a case fails on any error
   or warning a tool reports, or if the child fails. Skips with a message where there is no GPU
   or no compute-sanitizer ($COMPUTE_SANITIZER, else PATH, else /usr/local/cuda/bin). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fftconv.h"

static const char *tools[] = {"memcheck", "racecheck", "synccheck", "initcheck"};

static const char *sanitizer_or_skip(void) {
  static char path[4096];
  const char *env = getenv("COMPUTE_SANITIZER");
  if (env && access(env, X_OK) == 0) return env;
  FILE *f = popen("command -v compute-sanitizer 2>/dev/null", "r");
  path[0] = 0;
  if (f) {
    if (!fgets(path, sizeof path, f)) path[0] = 0;
    pclose(f);
  }
  path[strcspn(path, "\n")] = 0;
  if (path[0] && access(path, X_OK) == 0) return path;
  if (access("/usr/local/cuda/bin/compute-sanitizer", X_OK) == 0)
    return "/usr/local/cuda/bin/compute-sanitizer";
  cr_skip_test("no compute-sanitizer ($COMPUTE_SANITIZER, PATH, /usr/local/cuda/bin)");
  return NULL;
}

static void gpu_or_skip(void) {
  fftconv_ctx *c = NULL;
  if (fftconv_ctx_create(NULL, &c) != FFTCONV_OK)
    cr_skip_test("no GPU: %s", fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(c);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
  if (s) s[got] = 0;
  fclose(f);
  return s;
}

/* Runs the child under all four tools at once and checks every report. */
static void sanitize(const char *args) {
  const char *cs = sanitizer_or_skip();
  gpu_or_skip();
  const char *child = getenv("FFTCONV_SANITIZE_CHILD");
  if (!child) child = SANITIZE_CHILD;
  char dir[] = "/tmp/fftconv-sanitize-XXXXXX";
  cr_assert(mkdtemp(dir));
  char cmd[8192];
  size_t k = 0;
  for (int t = 0; t < 4; t++)
    k += (size_t)snprintf(cmd + k, sizeof cmd - k,
                          "(%s --tool %s --print-limit 20 --error-exitcode 86 %s %s > %s/%s.log "
                          "2>&1; echo $? > %s/%s.rc) & ",
                          cs, tools[t], child, args, dir, tools[t], dir, tools[t]);
  snprintf(cmd + k, sizeof cmd - k, "wait");
  cr_assert_eq(system(cmd), 0, "could not run: %s", cmd);
  for (int t = 0; t < 4; t++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.rc", dir, tools[t]);
    char *rc = slurp(path);
    snprintf(path, sizeof path, "%s/%s.log", dir, tools[t]);
    char *log = slurp(path);
    cr_log_info("%s under %s:\n%s", args, tools[t], log);
    /* The summary line must say nothing was found, and no report line may appear. */
    const char *clean = t == 1 ? "RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"
                               : "ERROR SUMMARY: 0 errors";
    cr_expect(atoi(rc) == 0, "%s under %s: exit status %s\n%s", args, tools[t], rc, log);
    cr_expect(strstr(log, "\nok ") || !strncmp(log, "ok ", 3),
              "%s under %s: the child did not finish:\n%s", args, tools[t], log);
    cr_expect(strstr(log, clean), "%s under %s: not clean:\n%s", args, tools[t], log);
    cr_expect(!strstr(log, "========= Warning") && !strstr(log, "========= Error") &&
                  !strstr(log, "========= Invalid") && !strstr(log, "========= Uninitialized"),
              "%s under %s: reports:\n%s", args, tools[t], log);
    free(rc);
    free(log);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.rc", dir, tools[t]);
    unlink(path);
  }
  rmdir(dir);
}

/* One kernel (the family's default) of each family at three sizes. */
Test(gpu_sanitize, fp32_small) { sanitize("monarch_fp32 256 circular fp16"); }
Test(gpu_sanitize, fp32_middle) { sanitize("monarch_fp32 4096 causal bf16"); }
Test(gpu_sanitize, fp32_largest) { sanitize("monarch_fp32 32768 circular fp32"); }
Test(gpu_sanitize, tc_small) { sanitize("monarch_tc 256 circular fp16"); }
Test(gpu_sanitize, tc_middle) { sanitize("monarch_tc 4096 causal bf16"); }
Test(gpu_sanitize, tc_largest) { sanitize("monarch_tc 32768 circular fp16"); }
/* The tensor-core paths the default does not take. */
Test(gpu_sanitize, tc_half) { sanitize("monarch_tc 1024 causal fp16 '\"real\":\"half\"'"); }
Test(gpu_sanitize, tc_async) { sanitize("monarch_tc 1024 circular fp16 '\"load\":\"async\"'"); }
Test(gpu_sanitize, tc_head) { sanitize("monarch_tc 1024 circular bf16 '\"group\":\"head\"'"); }
Test(gpu_sanitize, tc_pad) { sanitize("monarch_tc 1024 causal fp16 '\"smem\":\"pad\"'"); }
/* The long family's three passes and two prepare launches, both workspace precisions. */
Test(gpu_sanitize, long_fp16) { sanitize("monarch_long 65536 circular fp16"); }
Test(gpu_sanitize, long_half_ws) { sanitize("monarch_long 65536 causal bf16 '\"ws\":\"half\"'"); }
/* monarch_long's row groups: groups of 4 rows of 15, the last of 3 (README, "Row groups") */
Test(gpu_sanitize, long_groups) { sanitize("monarch_long 65536 causal fp16 ',\"group\":4'"); }
/* and head-major in groups of 6 (B = 3: pairs within a head and across two) */
Test(gpu_sanitize, long_head) {
  sanitize("monarch_long 65536 circular bf16 ',\"group\":6' ',\"order\":\"head\"'");
}
/* The cluster family: distributed shared memory and cluster barriers. */
Test(gpu_sanitize, cluster_fp16) { sanitize("monarch_cluster 65536 circular fp16"); }
Test(gpu_sanitize, cluster_causal) { sanitize("monarch_cluster 65536 causal bf16 '\"cluster\":16'"); }
Test(gpu_sanitize, long_fp32) { sanitize("monarch_long 65536 circular fp32 '\"tile\":8'"); }
/* the direct family (7 taps): the staged halo, causal and wrapping, scalar and vector paths */
Test(gpu_sanitize, direct_causal) { sanitize("direct 1024 causal fp16 '\"per\":16'"); }
Test(gpu_sanitize, direct_circular) { sanitize("direct 1024 circular bf16 '\"per\":8'"); }
/* its tensor-core forward: the staged rows read by ldmatrix, the outputs through shared memory */
Test(gpu_sanitize, direct_mma_causal) { sanitize("direct 4096 causal fp16 '\"mma\":true' '\"per\":8'"); }
Test(gpu_sanitize, direct_mma_circular) { sanitize("direct 1024 circular bf16 '\"mma\":true' '\"per\":16'"); }
/* overlap_tc (100 taps): segments overlapping the row's start and end, scalar and vector
   paths, a block of one and of two segment pairs, the next group staged with cp.async */
Test(gpu_sanitize, overlap_causal) { sanitize("overlap_tc 8192 causal fp16 '\"fft_size\":256' '\"pairs\":1'"); }
Test(gpu_sanitize, overlap_causal8) { sanitize("overlap_tc 8192 causal8 bf16 '\"fft_size\":512' '\"pairs\":2'"); }
/* monarch_tc's banded row pass (freq_keep N/8): the scalar causal path with 2 pairs a block,
   and the 32-point row pass with cp.async loads. */
Test(gpu_sanitize, band_causal) { sanitize("monarch_tc 4096 causal fp16 '\"band\":1' '\"factors\":[16,16,16]' '\"pairs\":2'"); }
Test(gpu_sanitize, band_async) { sanitize("monarch_tc 4096 circular bf16 '\"band\":1' '\"factors\":[8,16,32]' '\"load\":\"async\"'"); }
Test(gpu_sanitize, overlap_async) { sanitize("overlap_tc 8192 causal8 fp16 '\"load\":\"async\"' '\"pairs\":2'"); }
Test(gpu_sanitize, bwd_direct_causal) { sanitize("--backward direct 1024 causal fp16 '\"per\":8'"); }
Test(gpu_sanitize, bwd_direct_circular) { sanitize("--backward direct 1024 circular fp32 '\"per\":16'"); }
/* the backward (one block per head over the batch; dk's and dd's fixed-order sums) */
Test(gpu_sanitize, bwd_fp32_small) { sanitize("--backward monarch_fp32 256 circular fp16"); }
Test(gpu_sanitize, bwd_fp32_middle) { sanitize("--backward monarch_fp32 4096 causal bf16"); }
Test(gpu_sanitize, bwd_fp32_largest) { sanitize("--backward monarch_fp32 16384 circular fp32"); }
/* the tensor-core backward (searched only: its candidates picked by their parameters) */
Test(gpu_sanitize, bwd_tc_small) { sanitize("--backward monarch_tc 256 circular fp16 '\"op\":\"backward\"'"); }
Test(gpu_sanitize, bwd_tc_middle) { sanitize("--backward monarch_tc 2048 causal bf16 '\"op\":\"backward\"'"); }
Test(gpu_sanitize, bwd_tc_largest) { sanitize("--backward monarch_tc 8192 circular fp16 '\"op\":\"backward\"'"); }
/* the tensor-core backward with its batch sum in the workspace (L2; the only one at 16K) */
Test(gpu_sanitize, bwd_tc_ws_middle) { sanitize("--backward monarch_tc 2048 circular bf16 '\"acc\":\"ws\"'"); }
Test(gpu_sanitize, bwd_tc_ws_largest) { sanitize("--backward monarch_tc 16384 causal fp16 '\"acc\":\"ws\"'"); }
/* the batch sum partly in shared memory (p_smem), and a head's batch in shares (split) with
   fftconv_bdk adding them, the sum in shared memory and in the shares' workspace slots */
Test(gpu_sanitize, bwd_tc_p_smem) { sanitize("--backward monarch_tc 16384 circular bf16 '\"p_smem\"'"); }
Test(gpu_sanitize, bwd_tc_split) { sanitize("--backward monarch_tc 1024 causal fp16 '\"split\":2'"); }
Test(gpu_sanitize, bwd_tc_ws_split) { sanitize("--backward monarch_tc 4096 circular bf16 '\"acc\":\"ws\"' '\"split\":2'"); }
/* the sequential backward at 32K (one unit, Zv through the workspace), with and without part
   of the batch sum in shared memory */
Test(gpu_sanitize, bwd_tc_seq) { sanitize("--backward monarch_tc 32768 causal fp16 '\"seq\":true' '\"warps\":8'"); }
Test(gpu_sanitize, bwd_tc_seq_p_smem) { sanitize("--backward monarch_tc 32768 circular bf16 '\"seq\":true' '\"p_smem\"'"); }
/* overlap_tc's backward (100 taps): three units and P in shared memory, windows over the
   row's start and end, the scalar path with one share a head and the vector path with two
   (fftconv_bdk adds them) */
Test(gpu_sanitize, bwd_overlap) { sanitize("--backward overlap_tc 8192 causal fp16 '\"fft_size\":256'"); }
Test(gpu_sanitize, bwd_overlap_split) { sanitize("--backward overlap_tc 8192 causal8 bf16 '\"fft_size\":512' '\"split\":2'"); }
/* its one-tap variant (K = 1: dk from the fp32 sum of g * v, P not summed), one share a head
   and two */
Test(gpu_sanitize, bwd_overlap_tap1) { sanitize("--backward overlap_tc 8192 causal fp16 '\"taps\":1' '\"fft_size\":256'"); }
Test(gpu_sanitize, bwd_overlap_tap1_split) { sanitize("--backward overlap_tc 8192 causal8 bf16 '\"taps\":1' '\"split\":2'"); }
/* the backward's passes reading the twiddle tables */
Test(gpu_sanitize, bwd_tc_table) { sanitize("--backward monarch_tc 4096 causal fp16 '\"twiddle\":\"table\"'"); }
/* the long backward's four passes (the per-head sum over the batch in the row pass) */
Test(gpu_sanitize, bwd_long_smallest) { sanitize("--backward monarch_long 32768 circular bf16"); }
Test(gpu_sanitize, bwd_long_causal) { sanitize("--backward monarch_long 131072 causal fp16"); }
Test(gpu_sanitize, bwd_long_fp32) { sanitize("--backward monarch_long 65536 circular fp32 '\"n2\":512'"); }
