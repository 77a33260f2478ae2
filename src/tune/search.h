/* search: one problem's candidates from a family, compiled in parallel with NVRTC, each
 * verified against the fp64 reference on the problem's odd-shaped miniature (B <= 3, H <= 5,
 * so tail blocks are exercised), the ones that pass timed on the full shape, the fastest
 * chosen. An unverified candidate never wins. Without a context it only compiles.
 *
 * Rigor (policy.h), like FFTW's: estimate runs the template's heuristic choice alone; measure a
 * pruned space, every verified candidate timed with quick_runs and the `finalists` fastest
 * timed again with `runs`; exhaustive everything, every candidate with `runs`. sample
 * (a quick check, not a tuning rigor) the default choice plus candidates until every value
 * of every parameter has appeared once (sample.h), every candidate with `runs`.
 * Measure spends less where it cannot change the answer:
 *   - screen: with several families, each family's default is compiled, verified and timed
 *     first; a family whose default is more than `screen` times slower than the fastest
 *     default is not searched further (its candidates are "screened");
 *   - cutoff: a candidate's first quick run more than `cutoff` times the fastest quick median
 *     so far ends its timing (it is stored with that one run and cannot be a finalist);
 *   - memo: a binary compiled for an earlier problem of the run (same template hash,
 *     parameters and arch: the causal and circular problems of one FFT size share kernels)
 *     is reused instead of compiled again.
 * With a cache every kernel and measurement is stored as soon as it exists (failures too),
 * and candidates already measured for this configuration are skipped (resume).
 * Callers: fftconv-tune, the benchmarks. */
#ifndef FC_SEARCH_H
#define FC_SEARCH_H

#include <signal.h>
#include <stdio.h>

#include "cache.h"
#include "candidate.h"
#include "rigor.h"
#include "trial.h"
#include "verify.h"


/* Compiled binaries kept across the problems of one run, keyed by template hash, parameters
   and arch, up to max_bytes of cubins (the oldest go first). Used from one thread. */
typedef struct fc_bin_memo fc_bin_memo;
fc_bin_memo *fc_bin_memo_new(size_t max_bytes); /* NULL when out of memory: no memo */
void fc_bin_memo_free(fc_bin_memo *m);          /* accepts NULL */
/* Called after each candidate (r: its result; done of total), and with r NULL before a
   stage compiles: done candidates so far, `total` then being the number about to compile. */
typedef void (*fc_progress_fn)(void *arg, int done, int total, const fc_result *r);

typedef struct fc_search_opts {
  const char *tmpl;       /* family, e.g. "monarch_fp32"; NULL: every family */
  int op;                 /* the op searched for (shape.h: fc_op_find(name)); 0: forward */
  fc_rigor rigor;
  int jobs;               /* parallel compilations */
  int runs, warmup;       /* timing of finalists (and of everything in exhaustive) */
  int quick_runs;         /* measure: first-round runs */
  int finalists;          /* measure: how many are timed again with `runs` */
  double screen;          /* measure, several families: skip a family whose default is over
                             screen x the fastest default (0: search every family fully) */
  double cutoff;          /* measure: stop timing a candidate whose first run is over cutoff x
                             the fastest quick median so far (0: time every one fully) */
  fc_bin_memo *memo;      /* reuse binaries across problems, or NULL */
  const char *emit_dir;   /* write every candidate's source and NVRTC log here, or NULL */
  const char *const *only; /* search only candidates whose parameters contain every one of */
  int nonly;               /* these texts (fftconv-tune --only); 0: every candidate */
  fc_cache *cache;        /* store results and skip what is measured, or NULL */
  const fc_cache_config *cfg;
  volatile sig_atomic_t *stop; /* set (by a signal handler): finish the candidate, stop */
  double deadline;        /* fc_now() after which no new candidate starts; 0: none */
  fc_progress_fn progress;
  void *progress_arg;
} fc_search_opts;

/* The settings of a search of rigor r, every field: zeroes (no cache, no memo, no limit, every
   family, the forward op) but for the rigor, the timing (runs 30, warmup 5; measure:
   quick_runs 3, the cache's FC_CACHE_FINALISTS finalists, screen 1.5, cutoff 1.5) and jobs (online CPUs). Callers start
   here and set what they were asked for: the one place a rigor becomes numbers. */
void fc_search_defaults(fc_rigor r, fc_search_opts *o);

typedef struct fc_search {
  fc_result *r;
  int n;         /* candidates check() accepted */
  int skipped;   /* candidates check() rejected */
  int best;      /* index of this run's winner, -1 if none */
  int compile_failures, cached, not_run;
  int screened;       /* candidates of families the screen left out */
  int reused;         /* binaries taken from the memo instead of compiled */
  int cut;            /* candidates timed once only (cutoff) */
  char screen_note[512]; /* which families were screened out and why, or "" */
  double compile_seconds;
  int interrupted;
  int context_lost; /* a candidate's fault lost the GPU context: the error names it, and no
                       later search on that context can run (fftconv-tune stops) */
  char why[1024]; /* why each family that proposed no runnable candidate did not (check()'s
                     most common reason, or default()'s), "; "-separated: with n == 0, why
                     there is nothing to run */
} fc_search;

/* ctx NULL: compile-only for dev's arch (fc_device_arch). Fails only on errors that stop it
   (template errors, no memory, no NVRTC, test data, the cache, a candidate's fault that lost
   the context: s->context_lost); candidates' failures are recorded in their results. */
fftconv_status fc_search_run(fftconv_ctx *ctx, const fftconv_problem *p,
                             const fc_device_info *dev, const fc_search_opts *o, fc_search *s,
                             fc_err *e);
void fc_search_free(fc_search *s);

#endif
