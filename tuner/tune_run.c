/* tune_run.c: a tuning run of fftconv-tune: the device or the compile-only target, the cache,
 * and the search of each problem, with what is printed and stored after each. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tune.h"

volatile sig_atomic_t tune_stop_flag;

static void on_sigint(int sig) {
  tune_stop_flag = 1;
  signal(sig, SIG_DFL); /* a second Ctrl-C ends it at once */
}

/* The parent directory of path into dir. */
static void parent_dir(const char *path, char *dir, size_t len) {
  snprintf(dir, len, "%s", path);
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = 0; /* "a/b/" is "a/b" */
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, len, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
}

/* Whether a tuning run could write the cache at path (NULL: the default, resolved into
   buf), found without writing anything: the tuner without a GPU stores nothing, yet says at
   once what a run on the machine with one would fail on. A file that is there must be a
   regular file that opens as an fftconv cache (read-only, any schema version: nothing is
   migrated) and may be written, as its directory; a missing one needs its nearest existing
   ancestor to be a directory that may be written (fc_cache_open would create the rest).
   0 with e set when not. Root passes every permission check here; fc_cache_open, on the
   machine with the GPU, is the last word, and refuses before any work too. */
static int cache_usable(const char *path, char *buf, size_t len, fc_err *e) {
  if (path) snprintf(buf, len, "%s", path);
  else if (fc_cache_default_path(buf, len, e) != FFTCONV_OK) return 0;
  if (!buf[0]) return fc_fail(e, FFTCONV_ERR_INVALID, "cache path: '' is empty"), 0;
  char dir[4096], q[520];
  fc_quote(buf, 500, q, sizeof q);
  struct stat sb;
  if (stat(buf, &sb) == 0) {
    if (!S_ISREG(sb.st_mode))
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s is not an fftconv cache: not a regular file",
                     q), 0;
    if (sb.st_size > 0) { /* an empty file is one a run makes a cache of */
      fc_cache *c = NULL;
      if (fc_cache_open(buf, FC_CACHE_READ_ANY_VERSION, &c, e) != FFTCONV_OK) return 0;
      fc_cache_close(c);
    }
    if (access(buf, W_OK) != 0)
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: %s", q, strerror(errno)), 0;
    parent_dir(buf, dir, sizeof dir);
  } else if (errno == ENOENT) {
    /* the nearest ancestor that exists: a run creates the directories below it */
    parent_dir(buf, dir, sizeof dir);
    while (stat(dir, &sb) != 0 && errno == ENOENT && strcmp(dir, ".") && strcmp(dir, "/")) {
      char up[4096];
      parent_dir(dir, up, sizeof up);
      snprintf(dir, sizeof dir, "%s", up);
    }
    if (stat(dir, &sb) != 0)
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s cannot be created: %s: %s", q, dir,
                     strerror(errno)), 0;
    if (!S_ISDIR(sb.st_mode))
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s cannot be created: %s is not a directory", q,
                     dir), 0;
  } else {
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", q, strerror(errno)), 0;
  }
  if (access(dir, W_OK | X_OK) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: its directory %s: %s", q, dir,
                   strerror(errno)), 0;
  return 1;
}

static int load_problems(tune_run *r) {
  const tune_args *a = r->a;
  if (a->have_problem_flag ? !plist_add(&r->pl, &a->one)
                           : !a->problems && !tune_fill_set(a->set < 0 ? 0 : a->set, &r->pl))
    return r->rc = tune_oom();
  if (a->problems && !tune_read_problems(a->problems, &r->pl)) return r->rc = 2;
  return 0;
}

/* The GPU, or (none) the compile-only check instead; the cache a run on the GPU writes. */
static int open_gpu(tune_run *r, fc_err *e) {
  const tune_args *a = r->a;
  fftconv_ctx_options co;
  fftconv_ctx_options_init(&co);
  co.device = (int)a->device;
  co.arch = a->arch;
  co.no_cache = 1; /* the tuner opens the cache itself, for writing */
  if (fftconv_ctx_create(&co, &r->ctx) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: no GPU to tune on: %s\n", fftconv_ctx_error(NULL));
    /* The first command of a newcomer without a GPU: the quick check, not two hours. */
    r->q.on = !a->have_rigor && !a->have_problem_flag && !a->problems;
    snprintf(r->q.why, sizeof r->q.why, "%s", fftconv_ctx_error(NULL));
    r->no_gpu = a->tune_asked;
    /* Nothing will be stored, but a cache the run could not use is said now, before the
       check, not on the machine with the GPU; the file is not created or changed. */
    char cp[4096];
    if (r->no_gpu && !cache_usable(a->cache_path, cp, sizeof cp, e)) {
      fprintf(stderr, "fftconv-tune: cannot write the cache: %s\n", e->msg);
      return r->rc = 1;
    }
    if (r->q.on)
      fprintf(stderr, "fftconv-tune: nothing will be tuned; checking instead that the kernels "
                      "compile (%s--dry-run --rigor exhaustive%s%s checks every candidate)\n",
              a->set <= 0 ? "about a minute; " : "", a->set > 0 ? " --set " : "",
              a->set > 0 ? tune_set_name(a->set) : "");
    else
      fprintf(stderr, "fftconv-tune: running the compile-only check instead (--dry-run)\n");
    r->dry = 1;
    return 0;
  }
  /* Before any long work (the bandwidth, the compiles): a cache that cannot be written ends
     the run now, and fc_cache_open leaves a file that is not a cache as it is. */
  if (a->cache_path) snprintf(r->cpath, sizeof r->cpath, "%s", a->cache_path);
  else if (fc_cache_default_path(r->cpath, sizeof r->cpath, e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: %s\n", e->msg);
    return r->rc = 1;
  }
  if (fc_cache_open(r->cpath, 1, &r->cache, e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: cannot write the cache: %s\n", e->msg);
    return r->rc = 1;
  }
  return 0;
}

/* The device, or the published limits of --arch for a compile-only check; the rigor and the
   jobs that were not given. */
static int pick_device(tune_run *r) {
  const tune_args *a = r->a;
  if (r->ctx) {
    r->dev = r->ctx->gpu.info;
    if (!r->sm) r->sm = r->dev.sm;
  } else {
    if (!r->sm) r->sm = 90;
    if (!fc_device_info_for_arch(r->sm, &r->dev)) {
      fprintf(stderr, "fftconv-tune: no published limits for sm_%d; choose --arch\n", r->sm);
      return r->rc = 2;
    }
  }
  r->dev.sm = r->sm;
  if (!r->target[0]) snprintf(r->target, sizeof r->target, "sm_%d", r->sm);
  snprintf(r->dev.arch, sizeof r->dev.arch, "%s", r->target);
  r->rigor = a->rigor;
  if (!a->have_rigor) r->rigor = r->q.on ? FC_RIGOR_ESTIMATE
                                : r->dry ? FC_RIGOR_EXHAUSTIVE /* everything */
                                         : FC_RIGOR_MEASURE;
  r->jobs = a->jobs;
  if (r->jobs < 0) { /* not given: the searches' default, which the header line reports */
    fc_search_opts d;
    fc_search_defaults(r->rigor, &d);
    r->jobs = d.jobs;
  }
  return 0;
}

/* The memory floor's bandwidth: measured once per device and kept in its cache row. */
static void bandwidth(tune_run *r, fc_err *e) {
  r->gbps = NAN;
  if (!r->ctx) return;
  if (r->cache && fc_cache_get_bandwidth(r->cache, &r->cfg, &r->gbps, e) != FFTCONV_OK)
    r->gbps = NAN;
  if (isfinite(r->gbps)) return;
  if (fc_gpu_copy_bandwidth((size_t)1 << 30, 11, &r->gbps, e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: cannot measure the copy bandwidth: %s\n", e->msg);
    r->gbps = NAN;
  } else {
    r->gbps_new = 1;
    if (r->cache && fc_cache_put_bandwidth(r->cache, &r->cfg, r->gbps, e) != FFTCONV_OK)
      fprintf(stderr, "fftconv-tune: %s\n", e->msg);
  }
}

static void print_header(tune_run *r) {
  FILE *out = r->out;
  fprintf(out, "device   %s%s\n", r->ctx ? fftconv_ctx_device(r->ctx) : r->dev.name,
          r->dry ? " [compile only]" : "");
  fprintf(out, "compile  %s, NVRTC %s, %" PRId64 " jobs; rigor %s%s\n", r->target, r->nvrtc,
          r->jobs, fc_rigor_name(r->rigor),
          r->q.on && r->q.sample >= 0 ? " (each family's default choice), sample for one problem"
                                      : "");
  if (r->cache) fprintf(out, "cache    %s\n", r->cpath);
  if (isfinite(r->gbps))
    fprintf(out, "copy     %.0f GB/s device-to-device, read + write (%s): the floor's bandwidth\n",
            r->gbps, r->gbps_new ? "measured now" : "measured earlier, from the cache");
  fprintf(out, "problems %d", r->pl.n);
  if (r->q.nsame) fprintf(out, " (%d more of the set need the same kernels)", r->q.nsame);
  fputc('\n', out);
  fflush(out);
}

int tune_run_setup(tune_run *r) {
  const tune_args *a = r->a;
  r->dry = a->dry;
  if (load_problems(r)) return r->rc;
  r->nops = 0;
  for (int op = 0; op < fc_op_count() && op < 8; op++)
    if (a->ops & 1u << op) r->ops[r->nops++] = op;
  fc_err e = {{0}};
  if (!r->dry && open_gpu(r, &e)) return r->rc;
  if (pick_device(r)) return r->rc;
  if (r->q.on && !quick_reduce(&r->q, &r->pl, &r->dev, a->tmpl))
    return r->rc = 1; /* quick_reduce said why */
  if (r->q.on && !a->ops_given) r->nops = 1; /* the quick check: forward's kernels */
  fc_nvrtc_version_text(r->nvrtc, sizeof r->nvrtc);
  r->cfg = (fc_cache_config){&r->dev, r->sm, r->nvrtc};
  bandwidth(r, &e);
  r->nhashes = fc_trusted_hashes(&r->hashes);
  r->out = a->json ? stderr : stdout; /* with --json, stdout carries only the JSON */
  print_header(r);
  signal(SIGINT, on_sigint);
  r->g = (prog){isatty(2), a->quiet, 0, r->pl.n, fc_now(), ""};
  r->q.t0 = r->g.t0;
  if (!(r->sum = calloc((size_t)r->pl.n * (size_t)r->nops, sizeof *r->sum)))
    return r->rc = tune_oom();
  /* Kernels compiled for one problem serve the next ones of the same FFT size. */
  if (!r->dry) r->memo = fc_bin_memo_new((size_t)1 << 30);
  return 0;
}

/* The search's settings for problem pi: the rigor's, then what was asked for. */
static void search_opts(tune_run *r, int pi, int op, fc_search_opts *so) {
  const tune_args *a = r->a;
  fc_search_defaults(r->q.on && pi == r->q.sample ? FC_RIGOR_SAMPLE : r->rigor, so);
  so->tmpl = a->tmpl, so->jobs = (int)r->jobs, so->op = op;
  if (a->runs >= 0) so->runs = (int)a->runs;
  if (a->warmup >= 0) so->warmup = (int)a->warmup;
  if (a->screen >= 0) so->screen = a->screen;
  so->memo = r->memo, so->emit_dir = a->emit_dir, so->cache = r->cache, so->cfg = &r->cfg;
  so->only = a->only, so->nonly = a->nonly;
  so->stop = &tune_stop_flag, so->deadline = a->budget ? r->g.t0 + (double)a->budget : 0;
  so->progress = on_progress, so->progress_arg = &r->g;
}

/* The search's counts into S, and its compile failures said. */
static void tally(tune_run *r, const fftconv_problem *p, summary *S, const fc_search *sr) {
  if (r->q.on) quick_count(&r->q, sr);
  S->n = sr->n;
  S->cached = sr->cached;
  S->not_run = sr->not_run;
  S->screened = sr->screened;
  S->reused = sr->reused;
  S->cut = sr->cut;
  S->floor_ms = isfinite(r->gbps) ? fc_floor_ms_op(p, S->op, r->gbps) : NAN;
  for (int i = 0; i < sr->n; i++) {
    fc_result_status st = sr->r[i].status;
    if (fc_result_status_measured(st)) S->measured++;
    if (fc_result_status_measured(st) && st != FC_RESULT_OK) S->failed++;
  }
  if (sr->screen_note[0] && !r->a->quiet)
    fprintf(stderr, "%s: screened out %s\n", S->key, sr->screen_note);
  if (sr->compile_failures) {
    r->rc = 1;
    for (int i = 0; i < sr->n; i++)
      if (sr->r[i].status == FC_RESULT_COMPILE_FAILED)
        fprintf(stderr, "\n%s: candidate %d %s failed to compile:\n%s\n", S->key, i,
                sr->r[i].params, sr->r[i].detail);
  }
}

/* The winner into S: from the cache (over everything it trusts for this problem, earlier runs
   too), else from this search. */
static void winner(tune_run *r, const fftconv_problem *p, summary *S, const fc_search *sr) {
  fc_err e = {{0}};
  if (r->cache) {
    if (fc_cache_update_winner_op(r->cache, &r->cfg, S->op, p, r->hashes, r->nhashes,
                                  &S->kernel, &e) != FFTCONV_OK) {
      fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
      r->rc = 1;
    }
    /* Then keep binaries only for winners and finalists, so the file never grows large: the
       other candidates' cubins go, their measurements stay (resume needs them). */
    fc_cache_slimmed sl;
    if (fc_cache_slim(r->cache, FC_CACHE_FINALISTS, 0, &sl, &e) != FFTCONV_OK) {
      fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
      r->rc = 1;
    }
    fc_cache_hit h = {0};
    fc_shape sh;
    int found = 0;
    if (S->kernel && fc_shape_resolve(p, S->op, &sh, &e) == FFTCONV_OK &&
        fc_cache_lookup_shape(r->cache, &r->cfg, &sh, r->hashes, r->nhashes, &h, &found, &e) ==
            FFTCONV_OK &&
        found && h.exact) {
      S->params = strdup(h.params);
      S->manifest = h.manifest;
      S->ms = h.median_ms;
      r->nwin++;
    }
    fc_cache_hit_free(&h);
  } else if (!r->dry && sr->best >= 0) {
    S->params = strdup(sr->r[sr->best].params);
    S->manifest = sr->r[sr->best].src.manifest;
    S->ms = sr->r[sr->best].t.median_ms;
    r->nwin++;
  }
}

/* The problem's line, and for a single problem its table, winner and passes. */
static void report(tune_run *r, const fftconv_problem *p, const summary *S, const fc_search *sr,
                   const fc_search_opts *so) {
  FILE *out = r->out;
  const tune_args *a = r->a;
  if (r->g.tty && !a->quiet) fputc('\n', stderr);
  fprintf(out, "%-55s ", S->key);
  if (!sr->n)
    fprintf(out, "no candidate: %s\n", S->why ? S->why : "out of memory");
  else if (r->dry)
    fprintf(out, "compiled %d of %d for %s%s\n", sr->n - sr->compile_failures, sr->n, r->target,
            so->rigor == r->rigor ? "" : " (sample)");
  else if (S->params)
    fprintf(out, "%8.4f ms  %5.1f%% of floor  (%d new, %d cached, %d failed%s%s)\n", S->ms,
            isfinite(S->floor_ms) ? 100 * S->floor_ms / S->ms : NAN, S->measured, S->cached,
            S->failed,
            S->screened ? ", family screen left some out" : "",
            S->not_run ? ", some not run" : "");
  else
    fprintf(out, "no verified kernel (%d new, %d cached, %d failed%s)\n", S->measured,
            S->cached, S->failed, S->not_run ? ", some not run" : "");
  if (sr->n && (a->table || (r->pl.n == 1 && !a->json))) print_table(sr, S->floor_ms);
  if (r->pl.n == 1 && S->params && !a->json) {
    printf("\nwinner   %s\n", S->params);
    fc_str d = {0};
    fc_manifest_describe(&S->manifest, "launch   ", &d);
    if (d.s) fputs(d.s, stdout);
    fc_str_free(&d);
    if (r->ctx && !r->dry) print_passes(r->ctx, p, so->op, sr, S->params);
  }
  fflush(out);
}

/* Problem pi's op oi: searched, stored, reported. 1 when the run must stop. */
static int run_problem(tune_run *r, int pi, int oi) {
  fftconv_problem *p = &r->pl.p[pi];
  summary *S = &r->sum[pi * r->nops + oi];
  S->op = r->ops[oi];
  fc_shape sh; /* the key under which the op's kernels are stored: forward's is the problem's */
  if (fc_shape_resolve(p, S->op, &sh, NULL) == FFTCONV_OK)
    snprintf(S->key, sizeof S->key, "%s", sh.key);
  else
    fftconv_problem_key(p, S->key, sizeof S->key);
  if (r->a->budget && fc_now() > r->g.t0 + (double)r->a->budget) {
    r->budget_hit = r->pl.n - pi;  /* problems, each with its ops */
    return 1;
  }
  r->g.problem = pi;
  r->g.key = S->key;
  fc_search_opts so;
  search_opts(r, pi, S->op, &so);
  fc_search sr;
  fc_err e = {{0}};
  fftconv_status sst = fc_search_run(r->dry ? NULL : r->ctx, p, &r->dev, &so, &sr, &e);
  /* A backward tuned beside its forward (--op both) that no family runs yet is not a
     failure: the forward stands, and the line says why there is no backward. With --template
     and rigor estimate the search says so as an error (the family's default() refuses):
     that is the same answer, an empty search with its reason. */
  int beside = S->op == FC_OP_BACKWARD && r->nops > 1;
  if (sst == FFTCONV_ERR_UNSUPPORTED && beside) {
    fc_search_free(&sr);
    snprintf(sr.why, sizeof sr.why, "%.1000s", e.msg);
    sst = FFTCONV_OK;
  }
  if (sst != FFTCONV_OK) {
    if (r->g.tty && !r->a->quiet) fputc('\n', stderr);
    fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
    int lost = sr.context_lost;
    fc_search_free(&sr);
    r->rc = 1;
    /* the cache cannot be written, or the GPU context is lost: stop, keep what is stored */
    return sst == FFTCONV_ERR_IO || lost;
  }
  tally(r, p, S, &sr);
  winner(r, p, S, &sr);
  int no_backward = !sr.n && beside;
  if (!r->dry && !S->params && !tune_stop_flag && !S->not_run && !no_backward)
    r->rc = r->rc ? r->rc : 1;
  if (!sr.n) { /* nothing checked or tuned: a failure, with the families' reasons */
    S->why = strdup(sr.why[0] ? sr.why : "no kernel family proposed one");
    if (!no_backward) r->rc = r->rc ? r->rc : 1;
  }
  report(r, p, S, &sr, &so);
  fc_search_free(&sr);
  return 0;
}

void tune_run_problems(tune_run *r) {
  /* a problem's ops together, so that a run cut short has both directions of what it did */
  for (int pi = 0; pi < r->pl.n && !tune_stop_flag; pi++)
    for (int oi = 0; oi < r->nops && !tune_stop_flag; oi++)
      if (run_problem(r, pi, oi)) return;
}

void tune_run_finish(tune_run *r) {
  const tune_args *a = r->a;
  if (r->cache) {
    /* Slimming after each problem leaves free pages behind: give them back once. */
    int64_t before = 0, after = 0;
    fc_err ce = {{0}};
    if (fc_cache_compact(r->cache, 0.25, &before, &after, &ce) != FFTCONV_OK)
      fprintf(stderr, "fftconv-tune: the cache was not compacted: %s\n", ce.msg);
    else if (!a->quiet)
      fprintf(stderr, "cache    %s: %.1f MB%s\n", r->cpath, (double)after / 1e6,
              after < before ? " (compacted)" : "");
  }
  if (r->budget_hit)
    fprintf(stderr, "fftconv-tune: the %" PRId64 " s budget is spent; %d problems not started "
                    "(run the same command again to go on)\n", a->budget, r->budget_hit);
  if (r->q.on && !tune_stop_flag && !r->budget_hit)
    quick_report(&r->q, r->q.sample >= 0 ? r->sum[r->q.sample * r->nops].key : "", r->target, r->jobs,
                 a->tmpl, a->arch, tune_set_name(a->set < 0 ? 0 : a->set));
  if (r->no_gpu && !tune_stop_flag) {
    if (!r->q.on)
      fprintf(stderr, "fftconv-tune: nothing was tuned: no GPU (%s); the compile-only check ran "
                      "instead. To tune, run fftconv-tune on a machine with an NVIDIA GPU and its "
                      "driver.\n", r->q.why);
    r->rc = 3;
  }
  if (tune_stop_flag) {
    fprintf(stderr, "\nfftconv-tune: interrupted; every finished measurement is kept in %s; "
                    "run the same command again to resume\n", r->cpath[0] ? r->cpath : "(no cache)");
    r->rc = 130;
  }
  if (a->json) tune_print_json(r);
}

void tune_run_free(tune_run *r) {
  for (int i = 0; r->sum && i < r->pl.n * r->nops; i++) free(r->sum[i].params), free(r->sum[i].why);
  free(r->sum);
  free(r->pl.p);
  fc_bin_memo_free(r->memo);
  fc_cache_close(r->cache);
  fftconv_ctx_destroy(r->ctx);
}
