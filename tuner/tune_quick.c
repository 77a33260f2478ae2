/* tune_quick.c: the quick check.
   fftconv-tune with no problem flags, --problems, --rigor or --dry-run on a machine without a
   GPU: a newcomer's first command. Instead of the two-hour compile-only check of every
   candidate, it compiles each family's default choice for the default problems (once per
   distinct set of kernels) and a sample of every family's space for one of them, then says
   that nothing was tuned, why, and the command of the full check with an estimate of its
   time on this machine. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tune.h"

/* The FFT size of the problem whose space is sampled: its sample (13 candidates today) keeps
   the whole check near a minute on two cores. */
enum { QUICK_SAMPLE_N = 1024 };

/* Drops the problems whose every family's default choice an earlier problem has (the same
   kernels), counts the exhaustive candidates of the whole set, and picks the sampled problem.
   0 (message printed) if a template fails. */
int quick_reduce(quick *q, plist *l, const fc_device_info *dev, const char *tmpl) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  if (fc_emit_open(&em, &e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: %s\n", e.msg);
    return 0;
  }
  int nt = tmpl ? 1 : fc_emit_template_count(em), kept = 0, ok = 1;
  char **sig = calloc((size_t)l->n + 1, sizeof *sig);
  q->nset = l->n;
  q->sample = -1;
  for (int i = 0; ok && sig && i < l->n; i++) {
    fc_str s = {0};
    for (int t = 0; ok && t < nt; t++) {
      const char *name = tmpl ? tmpl : fc_emit_template_name(em, t);
      fc_candidate *c = NULL;
      char *params = NULL;
      int n = 0;
      fftconv_status st =
          fc_emit_space(em, name, &l->p[i], dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e);
      for (int j = 0; j < n; j++) q->exhaustive += !c[j].reason;
      fc_candidates_free(c, n);
      if (st == FFTCONV_OK) st = fc_emit_default(em, name, &l->p[i], dev, &params, &e);
      if (st == FFTCONV_ERR_UNSUPPORTED) st = FFTCONV_OK;
      fc_str_add(&s, "%s:%s;", name, params ? params : "-");
      free(params);
      if (st != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: %s\n", e.msg);
        ok = 0;
      }
    }
    int same = 0;
    for (int j = 0; j < kept && s.s; j++) same |= !strcmp(sig[j], s.s);
    if (same || !s.s) {
      fc_str_free(&s);
      q->nsame++;
      continue;
    }
    if (q->sample < 0 && fftconv_problem_fft_size(&l->p[i]) == QUICK_SAMPLE_N) q->sample = kept;
    sig[kept] = s.s;
    l->p[kept++] = l->p[i];
  }
  if (!sig) ok = 0, tune_oom();
  for (int j = 0; j < kept; j++) free(sig[j]);
  free(sig);
  fc_emit_close(em);
  l->n = kept;
  return ok;
}

void quick_count(quick *q, const fc_search *sr) {
  for (int i = 0; i < sr->n; i++)
    if (sr->r[i].bin.cubin || sr->r[i].status == FC_RESULT_COMPILE_FAILED)
      q->kernels++, q->seconds += sr->r[i].bin.seconds;
  q->failed += sr->compile_failures;
}

void quick_report(const quick *q, const char *sample_key, const char *target, int64_t jobs,
                  const char *tmpl, const char *arch, const char *set) {
  char took[32], full[32];
  fmt_secs(fc_now() - q->t0, took, sizeof took);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int64_t par = jobs < cpus ? jobs : cpus;
  double per = q->kernels ? q->seconds / q->kernels : NAN;
  fmt_secs(q->exhaustive * per / (double)par, full, sizeof full);
  fprintf(stderr, "\nfftconv-tune: nothing was tuned: no GPU (%s).\n", q->why);
  fprintf(stderr, "Instead %d kernels were compiled for %s in %s", q->kernels, target, took);
  if (q->failed) fprintf(stderr, ", and %d of them FAILED (logs above)", q->failed);
  fprintf(stderr, ":\n  each family's default choice for the %d problems of the %s set (%d of them "
                  "need kernels of their own)\n", q->nset, set, q->nset - q->nsame);
  if (sample_key[0])
    fprintf(stderr, "  and a sample of every family's space for %s\n  (its default plus "
                    "candidates until every factorization and parameter value has appeared).\n",
            sample_key);
  /* the command names the set it checked: the default set's needs no --set */
  int other = strcmp(set, "default") != 0;
  fprintf(stderr, "The full compile-only check compiles every candidate of the %s set, %d "
                  "kernels;\nabout %s here (an estimate from this run's %.1f s a kernel on %" PRId64
                  " jobs):\n    fftconv-tune --dry-run --rigor exhaustive%s%s%s%s%s%s\n"
                  "To tune, run fftconv-tune on a machine with an NVIDIA GPU and its driver.\n",
          set, q->exhaustive, full, per, par, other ? " --set " : "", other ? set : "",
          tmpl ? " --template " : "", tmpl ? tmpl : "", arch ? " --arch " : "", arch ? arch : "");
}
