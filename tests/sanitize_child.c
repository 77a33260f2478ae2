/* sanitize-child: runs one kernel of one family once, for test_gpu_sanitize to run under
 * compute-sanitizer. The kernel is the family's default choice for the problem (or the
 * parameters given), emitted, compiled with NVRTC, then prepare_filter and forward on random
 * inputs with B=3, H=5, gates and D, checked against the fp64 reference.
 *
 *   sanitize-child [--backward] FAMILY N MODE DTYPE [TEXT...]
 *
 * --backward runs the family's backward kernel instead (fftconv_backward, every output),
 * checked against the fp64 reference gradients.
 * With TEXT arguments the kernel is the first candidate of the family's exhaustive space whose
 * parameter JSON contains every TEXT (e.g. '"real":"half"'), instead of the default.
 * MODE circular runs L = N; causal runs L = N/2 - 3 (not a multiple of 8, so the scalar I/O
 * paths run too); causal8 runs L = N/2 (the vector paths). The direct family runs a filter of
 * 7 taps (it takes short filters only), overlap_tc one of 100 (partial filters only). A
 * TEXT naming "band" (monarch_tc's banded row pass) runs the mask freq_keep = N/8; one naming
 * "taps":K runs a filter of K taps (overlap_tc's one-tap variant: '"taps":1'). A TEXT that
 * starts with ',' is not matched but added to the chosen parameters (',"group":4': monarch_long
 * in row groups of 4 rows, which the space of 15 rows does not hold).
 * Prints "ok ..." and exits 0 when the result is within tolerance; 1 with a
 * message on any failure; 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidate.h"
#include "verify.h"

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "sanitize-child: %s: %s\n", what, msg);
  return 1;
}

int main(int argc, char **argv) {
  int op = FC_OP_FORWARD;
  if (argc > 1 && !strcmp(argv[1], "--backward")) {
    op = FC_OP_BACKWARD;
    argv++, argc--;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: sanitize-child [--backward] FAMILY N circular|causal|causal8 "
                    "fp32|fp16|bf16 [TEXT...]\n");
    return 2;
  }
  const char *family = argv[1];
  long long n = atoll(argv[2]);
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  const int even = !strcmp(argv[3], "causal8");
  p.mode = even || !strcmp(argv[3], "causal") ? FFTCONV_CAUSAL : FFTCONV_CIRCULAR;
  p.seqlen = p.mode == FFTCONV_CAUSAL ? n / 2 - (even ? 0 : 3) : n;
  p.dtype = !strcmp(argv[4], "fp32") ? FFTCONV_FP32
            : !strcmp(argv[4], "bf16") ? FFTCONV_BF16 : FFTCONV_FP16;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  if (!strcmp(family, "direct")) p.filter_len = 7; /* short filters only */
  if (!strcmp(family, "overlap_tc")) p.filter_len = 100; /* partial filters only */
  for (int a = 5; a < argc; a++) {
    if (strstr(argv[a], "\"band\"")) p.freq_keep = n / 8; /* a low-pass mask */
    const char *t = strstr(argv[a], "\"taps\":");
    if (t) p.filter_len = atoll(t + 7); /* another filter length */
  }
  char msg[512];
  if (fftconv_problem_check(&p, msg, sizeof msg) != FFTCONV_OK) return fail("problem", msg);

  fftconv_ctx *ctx = NULL;
  if (fftconv_ctx_create(NULL, &ctx) != FFTCONV_OK) return fail("no GPU", fftconv_ctx_error(NULL));
  fc_emit *em = NULL;
  if (fc_ctx_emit(ctx, &em) != FFTCONV_OK) return fail("templates", fftconv_ctx_error(ctx));
  fc_err e = {{0}};
  char *params = NULL;
  int match = 0; /* TEXTs to match (not added) */
  for (int a = 5; a < argc; a++) match += argv[a][0] != ',';
  if (!match && fc_emit_default_op(em, family, op, &p, &ctx->gpu.info, &params, &e) != FFTCONV_OK)
    return fail(family, e.msg);
  if (match) {
    fc_candidate *cl = NULL;
    int ncl = 0;
    if (fc_emit_space_op(em, family, op, &p, &ctx->gpu.info, FC_RIGOR_EXHAUSTIVE, &cl, &ncl, &e) != FFTCONV_OK)
      return fail(family, e.msg);
    for (int i = 0; i < ncl && !params; i++) {
      int all = !cl[i].reason;
      for (int a = 5; a < argc && all; a++)
        all = argv[a][0] == ',' || strstr(cl[i].params, argv[a]) != NULL;
      if (all) params = strdup(cl[i].params);
    }
    fc_candidates_free(cl, ncl);
    if (!params) return fail(family, "no candidate of the space has those parameters");
  }
  for (int a = 5; a < argc; a++) {
    if (argv[a][0] != ',') continue;
    size_t n0 = strlen(params);
    char *more = malloc(n0 + strlen(argv[a]) + 1);
    if (!more || n0 < 2) return fail(family, "out of memory");
    memcpy(more, params, n0 - 1); /* without its closing brace */
    strcpy(more + n0 - 1, argv[a]);
    strcat(more, "}");
    free(params);
    params = more;
  }
  fc_kernel_src src = {0};
  if (fc_emit_kernel(em, family, params, &ctx->gpu.info, &src, &e) != FFTCONV_OK)
    return fail(family, e.msg);
  fc_binary bin = {0};
  if (fc_compile(src.source, src.name, ctx->arch, 0, &bin, &e) != FFTCONV_OK)
    return fail("compile", e.msg);
  fftconv_plan *pl = NULL;
  if (fc_plan_from_binary_op(ctx, op, &p, &src, &bin, "sanitize", &pl) != FFTCONV_OK)
    return fail("plan", fftconv_ctx_error(ctx));
  fc_testdata t;
  if (fc_testdata_make_op(ctx ? &ctx->gpu : NULL, op, &p, 7, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e) != FFTCONV_OK)
    return fail("test data", e.msg);
  double err = INFINITY;
  if (fc_verify_plan(pl, &t, &err, &e) != FFTCONV_OK) return fail("run", e.msg);
  char key[256];
  fftconv_problem_key(&p, key, sizeof key);
  if (!(err <= fc_tolerance(p.dtype))) {
    snprintf(msg, sizeof msg, "%s: relative error %.3e over %.0e", key, err, fc_tolerance(p.dtype));
    return fail(family, msg);
  }
  printf("ok %s%s %s err %.2e %s\n", family, op == FC_OP_BACKWARD ? " backward" : "", key, err,
         src.params);
  fc_testdata_free(&t);
  fftconv_plan_destroy(pl);
  fc_binary_free(&bin);
  fc_kernel_src_free(&src);
  free(params);
  fftconv_ctx_destroy(ctx);
  return 0;
}
