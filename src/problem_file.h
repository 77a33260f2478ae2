/* problem_file: problems written as the tuner's flags (--seqlen 4096 --batch 8 --dtype fp16
 * --mode circular --pregate ...), one a line in a problem-set file. fftconv-tune reads its
 * --problems FILE with it and fftconv-cache export its own, so that one file serves both.
 * Tuning side of the library. */
#ifndef FC_PROBLEM_FILE_H
#define FC_PROBLEM_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fftconv.h"
#include "util.h"

/* A problem as a line without a flag starts: B=8, H=64, fp16, causal, no gates, seqlen 0
   (which must be given). */
void fc_problem_defaults(fftconv_problem *p);

/* A whole decimal integer >= lo into *out: 1, or 0 (out untouched) for anything else. */
int fc_parse_i64(const char *s, int64_t lo, int64_t *out);

/* Whether --name is a problem flag: 1 it takes a value, 0 it does not, -1 not one. Problem
   flags: seqlen batch heads dtype mode filter-len freq-keep (values), pregate postgate
   skip-d. */
int fc_problem_flag_arg(const char *name);

/* Applies --name [arg] to p. Returns 1 applied, 0 name is not a problem flag, -1 a bad value:
   msg then says so, e.g. "--dtype: 'fp8' is not one of fp32, fp16, bf16". */
int fc_problem_flag(fftconv_problem *p, const char *name, const char *arg, char *msg,
                    size_t len);

/* Reads a problem-set file: one problem a line in flag form, '#' to the end of a line a
   comment, blank lines skipped. *out is malloc'd. FFTCONV_ERR_IO when the file cannot be
   read or holds no problem ("--problems PATH: No such file or directory", "PATH holds no
   problem"); FFTCONV_ERR_INVALID for a bad line ("PATH:LINE: '--x' is not a problem flag"). */
fftconv_status fc_problem_file_read(const char *path, fftconv_problem **out, int *n, fc_err *e);

#endif
