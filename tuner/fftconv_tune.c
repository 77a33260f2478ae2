/* fftconv-tune: tune a GPU once. For each problem (from flags, a problem-set file, or the
 * built-in default set) enumerate a family's candidates, compile them in parallel with NVRTC,
 * verify each against the fp64 reference, time the ones that pass, and store every result and
 * the winner in the SQLite cache that libfftconv consults. Resumable: what the cache already
 * holds for this configuration is skipped. Without a GPU (or with --dry-run) it compiles every
 * candidate for --arch and reports any compile failure with its log; with no arguments on a
 * machine without a GPU, only a quick sample of them (the quick check, below). */
#include <stdio.h>
#include <string.h>

#include "tune.h"

/* The files of the tuner: tune_args.c (the command line), tune_sets.c (the problems),
   tune_run.c (the run), tune_output.c (what is printed), tune_quick.c (the quick check). */

int main(int argc, char **argv) {
  tune_args a;
  int rc = tune_parse_args(argc, argv, &a);
  if (rc >= 0) return rc;
  if (a.list_set >= 0) return tune_list_set(a.list_set);
  tune_run r;
  memset(&r, 0, sizeof r);
  r.a = &a;
  if (a.arch && !fc_arch_normalize(a.arch, r.target, &r.sm))
    return tune_die_usage("--arch: '%s' is not an architecture (expected sm_XY, e.g. sm_90)",
                          tune_quoted(a.arch));
  if (a.have_problem_flag + !!a.problems + (a.set >= 0) > 1)
    return tune_die_usage("give one problem with flags, a file with --problems or a set with "
                          "--set, not two of them");
  fc_err ne = {{0}};
  if (fc_nvrtc_load(&ne) != FFTCONV_OK) { /* every mode compiles: say so once, up front */
    fprintf(stderr, "fftconv-tune: %s\n", ne.msg);
    return 1;
  }
  if (a.have_problem_flag) {
    char msg[512];
    if (!a.one.seqlen) return tune_die_usage("--seqlen is required for a problem given by flags");
    if (fftconv_problem_check(&a.one, msg, sizeof msg) != FFTCONV_OK)
      return tune_die_usage("%s", msg);
  }
  if (!tune_run_setup(&r)) {
    tune_run_problems(&r);
    tune_run_finish(&r);
  }
  tune_run_free(&r);
  return r.rc;
}
