/* search: one problem's candidates from a family, compiled in parallel with NVRTC, each
 * verified against the fp64 reference on the problem's odd-shaped miniature (B <= 3, H <= 5,
 * so tail blocks are exercised), the ones that pass timed on the full shape, the fastest
 * chosen. An unverified candidate never wins. Without a context it only compiles.
 * Callers: fftconv-tune, the benchmarks. Progress goes to o->progress only when set. */
#ifndef FC_SEARCH_H
#define FC_SEARCH_H

#include <stdio.h>

#include "verify.h"

typedef struct fc_search_opts {
  const char *tmpl;   /* family, e.g. "monarch_fp32" */
  int jobs;           /* parallel compilations */
  int runs, warmup;   /* timing */
  FILE *progress;     /* a line per candidate, or NULL */
  const char *emit_dir; /* write every candidate's source here, or NULL */
} fc_search_opts;

typedef struct fc_result {
  char *params;       /* canonical JSON */
  fc_kernel_src src;
  fc_binary bin;
  const char *status; /* "ok", "compile-failed", "verify-failed", "launch-failed", or NULL
                         (compiled, not run: compile-only search) */
  char detail[512];   /* why it failed */
  double err;         /* relative L2 error on the miniature */
  fc_timing t;
} fc_result;

typedef struct fc_search {
  fc_result *r;
  int n;         /* candidates check() accepted */
  int skipped;   /* candidates check() rejected */
  int best;      /* index of the winner, -1 if none */
  int compile_failures;
  double compile_seconds;
} fc_search;

/* ctx NULL: compile-only for dev->sm. The search fails only on errors that stop it (template
   errors, no memory, test data); candidates' failures are recorded in their results. */
fftconv_status fc_search_run(fftconv_ctx *ctx, const fftconv_problem *p,
                             const fc_device_info *dev, const fc_search_opts *o, fc_search *s,
                             fc_err *e);
void fc_search_free(fc_search *s);

#endif
