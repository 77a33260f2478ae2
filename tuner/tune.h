/* tune.h: the pieces of fftconv-tune shared between its files (tuner/): the options, the
 * problem list, what a run holds and what it found for each problem. Private to the tuner. */
#ifndef FFTCONV_TUNE_H
#define FFTCONV_TUNE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "cache.h"
#include "problem_file.h"
#include "search.h"
#include "trusted.h"

/* ---- options (tune_args.c) ---- */

typedef struct tune_args {
  fftconv_problem one; /* the problem given by flags */
  const char *tmpl, *arch, *emit_dir, *problems, *cache_path;
  const char *only[16]; /* --only: texts every searched candidate's parameters contain */
  int nonly;
  fc_rigor rigor;
  int have_rigor;
  unsigned ops; /* --op: bit 1 << fc_op of each op to tune (default forward and backward) */
  int ops_given; /* --op was given: the quick check tunes forward only unless asked */
  /* -1: not given; fc_search_defaults decides */
  int64_t device, jobs, runs, warmup, budget;
  double screen;
  int dry, quiet, table, json, have_problem_flag, list_set, set;
  /* Whether a tuning run was asked for: a problem, --set, or a flag that only tuning uses.
     Without a usable GPU (and without --dry-run) such a run exits 3 after the compile-only
     check; the bare command's quick check exits 0 (the README's first command). */
  int tune_asked;
} tune_args;

/* Parses the command line into a. Returns -1 to go on, else the exit status (0 after --help,
   2 after a message on bad usage). */
int tune_parse_args(int argc, char **argv, tune_args *a);
int tune_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A user's text fit for a message (fc_quote): one at a time, as tune_die_usage is. */
const char *tune_quoted(const char *s);
int tune_oom(void);

/* ---- problem sets (tune_sets.c) ---- */

typedef struct plist {
  fftconv_problem *p;
  int n, cap;
} plist;

int plist_add(plist *l, const fftconv_problem *p);
/* The named problem sets (--set, --list-set): the index of name, or -1. */
int tune_find_set(const char *name);
const char *tune_set_name(int set);
/* Fills l with the set; 0 when out of memory. */
int tune_fill_set(int set, plist *l);
/* --list-set: prints the set; the exit status. */
int tune_list_set(int set);
/* A problem-set file (problem_file.h). Returns 0 (message printed) if bad. */
int tune_read_problems(const char *path, plist *l);

/* ---- the quick check (tune_quick.c) ---- */

typedef struct quick {
  int on;
  char why[512];   /* fftconv_ctx_create's reason */
  int nset, nsame; /* problems in the set, and those whose kernels an earlier one has */
  int sample;      /* index of the sampled problem in the reduced list, -1 if none */
  int exhaustive;  /* candidates the full compile-only check of the set compiles */
  int kernels;     /* compiled by this run (failed included), and their compile times */
  int failed;
  double seconds, t0;
} quick;

int quick_reduce(quick *q, plist *l, const fc_device_info *dev, const char *tmpl);
void quick_count(quick *q, const fc_search *sr);
void quick_report(const quick *q, const char *sample_key, const char *target, int64_t jobs,
                  const char *tmpl, const char *arch, const char *set);

/* ---- output (tune_output.c) ---- */

/* What the run found for one problem. */
typedef struct summary {
  char key[256];
  char *params;
  fc_manifest manifest; /* the winner's launch manifest, when params is set */
  char *why; /* nothing to run, and why */
  int op; /* the fc_op searched */
  double ms, floor_ms;
  int n, measured, cached, failed, not_run, screened, reused, cut;
  int64_t kernel;
} summary;

/* The progress line's state. */
typedef struct prog {
  int tty, quiet, problem, nproblems;
  double t0;
  const char *key;
} prog;

void fmt_secs(double s, char *buf, size_t n);
void on_progress(void *arg, int done, int total, const fc_result *r);
void print_table(const fc_search *sr, double floor_ms);
void print_passes(fftconv_ctx *ctx, const fftconv_problem *p, int op, const fc_search *sr,
                  const char *params);

/* ---- the run (tune_run.c) ---- */

/* Everything a run holds; tune_run_free releases it. */
typedef struct tune_run {
  const tune_args *a;
  int sm;
  char target[16]; /* --arch as NVRTC takes it, e.g. sm_90a */
  int dry, rc, nwin, budget_hit;
  int no_gpu; /* a tuning run was asked for and the GPU cannot be used: exit status 3 */
  fc_rigor rigor;
  int64_t jobs;
  plist pl;
  int nops, ops[8]; /* the ops tuned for each problem, in order; r->sum[pi * nops + i] */
  fftconv_ctx *ctx;
  fc_cache *cache;
  summary *sum;
  fc_bin_memo *memo;
  fc_device_info dev;
  quick q;
  char cpath[4096];
  char nvrtc[16];
  fc_cache_config cfg;
  double gbps;
  int gbps_new;
  const char *const *hashes;
  int nhashes;
  FILE *out; /* with --json, stdout carries only the JSON */
  prog g;
} tune_run;

extern volatile sig_atomic_t tune_stop_flag;

/* The problems, the GPU (or the compile-only target), the cache and the header lines: 0 to go
   on, else (message printed) the run ends with r->rc. */
int tune_run_setup(tune_run *r);
/* Searches, stores and reports each problem; then the closing lines (and --json's summary). */
void tune_run_problems(tune_run *r);
void tune_run_finish(tune_run *r);
void tune_print_json(const tune_run *r);
void tune_run_free(tune_run *r);

#endif
