/* trial: one candidate of a search on the GPU. A candidate's record (fc_result: its
 * parameters, source, binary, status and measurements); fc_trial_verify runs it on the
 * miniature against the fp64 reference (status OK, VERIFY_FAILED with the error, or
 * LAUNCH_FAILED with the reason; err); fc_trial_time times it on the full shape (t, or
 * LAUNCH_FAILED). Both return 1 when the candidate's failure lost the context (a fault in the
 * kernel: every later launch would fail), with detail saying so, and 0 otherwise. Callers: the
 * search (search.h). */
#ifndef FC_TRIAL_H
#define FC_TRIAL_H
#include <stdint.h>
#include "candidate.h"
#include "rigor.h"
#include "verify.h"

typedef struct fc_result {
  char *params;       /* canonical JSON */
  fc_kernel_src src;
  fc_binary bin;
  fc_result_status status; /* rigor.h; a compile-only search leaves COMPILED or
                              COMPILE_FAILED */
  char detail[512];   /* why it failed */
  double err;         /* relative L2 error on the miniature */
  fc_timing t;
  int64_t kernel_id;  /* its cache row, 0 without a cache */
} fc_result;

int fc_trial_verify(fftconv_ctx *ctx, int op, const fftconv_problem *mini, fc_testdata *small,
                    fc_result *r);
int fc_trial_time(fftconv_ctx *ctx, int op, const fftconv_problem *p, fc_testdata *full,
                  int warmup, int runs, fc_result *r);

#endif
