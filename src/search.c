/* search: enumerate, compile in parallel, verify on a miniature, time, choose, store. */
#include "search.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sample.h"

static fftconv_status write_file(const char *dir, const char *name, int i, const char *ext,
                                 const char *text, fc_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s_%03d.%s", dir, name, i, ext);
  FILE *f = fopen(path, "w");
  int ok = f && fputs(text ? text : "", f) >= 0;
  if (f && fclose(f)) ok = 0;
  return ok ? FFTCONV_OK : fc_fail(e, FFTCONV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

static int is_ok(const fc_result *r) { return r->status && !strcmp(r->status, "ok"); }

static int stopping(const fc_search_opts *o) {
  return (o->stop && *o->stop) || (o->deadline > 0 && fc_now() > o->deadline);
}

/* The kernel row for a candidate (compiled or not). */
static fftconv_status store_kernel(const fc_search_opts *o, fc_result *r, fc_err *e) {
  if (!o->cache) return FFTCONV_OK;
  const fc_entry_info *fe = fc_binary_entry(&r->bin, r->src.fwd_entry);
  fc_cache_kernel k = {
      .tmpl = r->src.info.name, .revision = r->src.info.revision, .hash = r->src.info.hash,
      .params = r->params, .sm = o->cfg->sm, .nvrtc = o->cfg->nvrtc, .source = r->src.source,
      .cubin = r->bin.cubin, .cubin_size = r->bin.cubin_size, .ptx = r->bin.ptx,
      .log = r->bin.log, .registers = fe ? fe->registers : 0,
      .smem_static = fe ? fe->smem_static : 0, .stack = fe ? fe->stack : 0,
      .spill_stores = fe ? fe->spill_stores : 0, .spill_loads = fe ? fe->spill_loads : 0,
      .compile_seconds = r->bin.seconds, .layout = r->src.layout,
      .fwd_entry = r->src.fwd_entry, .prep_entry = r->src.prep_entry};
  return fc_cache_put_kernel(o->cache, &k, &r->kernel_id, e);
}

static fftconv_status store_measurement(const fc_search_opts *o, const fftconv_problem *p,
                                        const fc_result *r, fc_err *e) {
  if (!o->cache || !r->status || !strcmp(r->status, "not-run") || !strcmp(r->status, "cached"))
    return FFTCONV_OK;
  fc_cache_measurement m = {
      .problem = p, .kernel_id = r->kernel_id, .status = r->status,
      .message = r->detail[0] ? r->detail : NULL, .median_ms = is_ok(r) ? r->t.median_ms : NAN,
      .p10_ms = is_ok(r) ? r->t.p10_ms : NAN, .p90_ms = is_ok(r) ? r->t.p90_ms : NAN,
      .runs = r->t.runs, .rel_err = r->err, .rigor = o->rigor ? o->rigor : "exhaustive"};
  return fc_cache_put_measurement(o->cache, o->cfg, &m, e);
}

/* Verifies r on the miniature; "ok" (not yet timed) when it passes. */
static void verify(fftconv_ctx *ctx, const fftconv_problem *mini, fc_testdata *small,
                   fc_result *r) {
  double tol = fc_tolerance(mini->dtype);
  fc_err e = {{0}};
  fftconv_plan *vp = NULL;
  r->err = INFINITY;
  fftconv_status st = fc_plan_from_binary(ctx, mini, &r->src, &r->bin, "candidate", &vp);
  if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
  else st = fc_verify_plan(vp, small, &r->err, &e);
  if (st != FFTCONV_OK) {
    r->status = "launch-failed";
    snprintf(r->detail, sizeof r->detail, "%.500s", e.msg);
    fc_cu.CtxSynchronize(); /* clear a pending asynchronous error before the next */
  } else if (!(r->err <= tol)) {
    r->status = "verify-failed";
    snprintf(r->detail, sizeof r->detail, "relative error %.2e > %.0e", r->err, tol);
  } else {
    r->status = "ok";
  }
  fftconv_plan_destroy(vp);
}

static void timeit(fftconv_ctx *ctx, const fftconv_problem *p, fc_testdata *full, int warmup,
                   int runs, fc_result *r) {
  fc_err e = {{0}};
  fftconv_plan *tp = NULL;
  fftconv_status st = fc_plan_from_binary(ctx, p, &r->src, &r->bin, "candidate", &tp);
  if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
  else st = fc_time_plan(tp, full, warmup, runs, &r->t, &e);
  if (st != FFTCONV_OK) {
    r->status = "launch-failed";
    snprintf(r->detail, sizeof r->detail, "%.500s", e.msg);
    fc_cu.CtxSynchronize();
  }
  fftconv_plan_destroy(tp);
}

static int by_median(const void *a, const void *b) {
  const fc_result *x = *(fc_result *const *)a, *y = *(fc_result *const *)b;
  return (x->t.median_ms > y->t.median_ms) - (x->t.median_ms < y->t.median_ms);
}

/* Appends cl[0..n) of family tmpl to (*all, *fam, *nall); frees cl (its strings move). */
static fftconv_status append(fc_candidate **all, const char ***fam, int *nall, fc_candidate *cl,
                             int n, const char *tmpl, fc_err *e) {
  fc_candidate *a = realloc(*all, (size_t)(*nall + n + 1) * sizeof *a);
  if (a) *all = a;
  const char **f = a ? realloc(*fam, (size_t)(*nall + n + 1) * sizeof *f) : NULL;
  if (f) *fam = f;
  if (!a || !f) {
    fc_candidates_free(cl, n);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  for (int i = 0; i < n; i++) a[*nall + i] = cl[i], f[*nall + i] = tmpl;
  *nall += n;
  free(cl);
  return FFTCONV_OK;
}

/* The candidates of one family, or of every family when o->tmpl is NULL: space() for
   measure/exhaustive, its sample (sample.h) for sample, default() alone for estimate (a
   family that cannot run the problem contributes nothing). fam[i] names candidate i's family. */
static fftconv_status candidates(fc_emit *em, const fftconv_problem *p, const fc_device_info *dev,
                                 const fc_search_opts *o, fc_candidate **all, const char ***fam,
                                 int *nall, fc_err *e) {
  *all = NULL, *fam = NULL, *nall = 0;
  int nt = o->tmpl ? 1 : fc_emit_template_count(em);
  int estimate = o->rigor && !strcmp(o->rigor, "estimate");
  int sample = o->rigor && !strcmp(o->rigor, "sample");
  for (int t = 0; t < nt; t++) {
    const char *tmpl = o->tmpl ? o->tmpl : fc_emit_template_name(em, t);
    fc_candidate *cl = NULL;
    int n = 0;
    fftconv_status st;
    if (!estimate) {
      st = sample ? fc_sample_space(em, tmpl, p, dev, &cl, &n, e)
                  : fc_emit_space(em, tmpl, p, dev, o->rigor, &cl, &n, e);
    } else {
      char *params = NULL;
      st = fc_emit_default(em, tmpl, p, dev, &params, e);
      if (st == FFTCONV_ERR_UNSUPPORTED && !o->tmpl) continue;
      if (st == FFTCONV_OK && !(cl = calloc(1, sizeof *cl))) {
        free(params);
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      }
      if (st == FFTCONV_OK) cl[0].params = params, n = 1;
    }
    if (st == FFTCONV_OK) st = append(all, fam, nall, cl, n, tmpl, e);
    if (st != FFTCONV_OK) {
      fc_candidates_free(*all, *nall);
      free(*fam);
      *all = NULL, *fam = NULL, *nall = 0;
      return st;
    }
  }
  return FFTCONV_OK;
}

fftconv_status fc_search_run(fftconv_ctx *ctx, const fftconv_problem *p,
                             const fc_device_info *dev, const fc_search_opts *o, fc_search *s,
                             fc_err *e) {
  memset(s, 0, sizeof *s);
  s->best = -1;
  fc_emit *em = NULL;
  fc_candidate *cl = NULL;
  const char **fam = NULL;
  int ncl = 0, done = 0;
  fc_testdata small = {0}, full = {0};
  fc_result **order = NULL;
  fftconv_status st = ctx ? fc_ctx_emit(ctx, &em) : fc_emit_open(&em, e);
  if (st != FFTCONV_OK) {
    if (ctx) fc_fail(e, st, "%s", fftconv_ctx_error(ctx));
    return st;
  }
  if ((st = candidates(em, p, dev, o, &cl, &fam, &ncl, e)) != FFTCONV_OK) goto done;
  s->r = calloc((size_t)ncl + 1, sizeof *s->r);
  if (!s->r) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  for (int i = 0; i < ncl; i++) {
    if (cl[i].reason) {
      s->skipped++;
      continue;
    }
    fc_result *r = &s->r[s->n];
    if ((st = fc_emit_kernel(em, fam[i], cl[i].params, dev, &r->src, e)) != FFTCONV_OK)
      goto done;
    r->params = strdup(r->src.params);
    s->n++;
    if (ctx && o->cache) { /* resume: measured before under this configuration */
      int found = 0;
      if ((st = fc_cache_measured(o->cache, o->cfg, p, r->src.info.hash, r->params, &found, e)) !=
          FFTCONV_OK)
        goto done;
      if (found) r->status = "cached", s->cached++;
    }
  }
  if (o->emit_dir && mkdir(o->emit_dir, 0777) && errno != EEXIST) {
    st = fc_fail(e, FFTCONV_ERR_IO, "emit dir %s: %s", o->emit_dir, strerror(errno));
    goto done;
  }
  for (int i = 0; o->emit_dir && i < s->n; i++)
    if ((st = write_file(o->emit_dir, s->r[i].src.info.name, i, "cu", s->r[i].src.source, e)))
      goto done;

  /* Past the budget or interrupted: nothing more starts, the rest waits for a resume. */
  if (ctx && stopping(o)) {
    for (int i = 0; i < s->n; i++)
      if (!s->r[i].status) s->r[i].status = "not-run", s->not_run++;
    s->interrupted = o->stop && *o->stop;
    goto done;
  }

  /* Compile what is not cached, in parallel. */
  double t0 = fc_now();
  const char **srcs = calloc((size_t)s->n + 1, sizeof *srcs);
  const char **names = calloc((size_t)s->n + 1, sizeof *names);
  fc_binary *bins = calloc((size_t)s->n + 1, sizeof *bins);
  fftconv_status *cst = calloc((size_t)s->n + 1, sizeof *cst);
  int *idx = calloc((size_t)s->n + 1, sizeof *idx), nc = 0;
  if (!srcs || !names || !bins || !cst || !idx) {
    free(srcs), free(names), free(bins), free(cst), free(idx);
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  for (int i = 0; i < s->n; i++)
    if (!s->r[i].status) idx[nc] = i, srcs[nc] = s->r[i].src.source, names[nc++] = s->r[i].src.name;
  fc_compile_all(srcs, names, nc, dev->sm, o->jobs, bins, cst);
  for (int j = 0; j < nc; j++) {
    fc_result *r = &s->r[idx[j]];
    r->bin = bins[j];
    if (cst[j] != FFTCONV_OK) {
      r->status = "compile-failed";
      s->compile_failures++;
      snprintf(r->detail, sizeof r->detail, "%s: %.480s", fftconv_status_string(cst[j]),
               bins[j].log ? bins[j].log : "");
    }
  }
  free(srcs), free(names), free(bins), free(cst), free(idx);
  s->compile_seconds = fc_now() - t0;
  for (int i = 0; o->emit_dir && i < s->n; i++)
    if (s->r[i].bin.log &&
        (st = write_file(o->emit_dir, s->r[i].src.info.name, i, "log", s->r[i].bin.log, e)))
      goto done;
  if (!ctx) goto done;

  /* Store the kernels, verify every compiled one on the miniature. */
  fftconv_problem mini = *p;
  mini.batch = p->batch < 3 ? p->batch : 3;
  mini.heads = p->heads < 5 ? p->heads : 5;
  if ((st = fc_testdata_make(&mini, 1, FC_TD_REFERENCE | FC_TD_DEVICE, &small, e)) ||
      (st = fc_testdata_make_on(&ctx->gpu, p, 2, FC_TD_DEVICE, &full, e)))
    goto done;
  int total = s->n - s->cached;
  for (int i = 0; i < s->n; i++) {
    fc_result *r = &s->r[i];
    if (r->status && !strcmp(r->status, "cached")) continue;
    if (!r->status && stopping(o)) r->status = "not-run";
    if (!r->status) verify(ctx, &mini, &small, r);
    if (r->status && !strcmp(r->status, "not-run")) {
      s->not_run++;
      continue;
    }
    if ((st = store_kernel(o, r, e)) != FFTCONV_OK) goto done;
    if (!is_ok(r)) {
      if ((st = store_measurement(o, p, r, e)) != FFTCONV_OK) goto done;
      if (o->progress) o->progress(o->progress_arg, ++done, total, r);
    }
  }

  /* Time: everything with `runs`, or (measure) a quick round and the finalists again. */
  int measure = o->rigor && !strcmp(o->rigor, "measure") && o->quick_runs > 0;
  order = calloc((size_t)s->n + 1, sizeof *order);
  if (!order) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  int nok = 0;
  for (int i = 0; i < s->n; i++) {
    fc_result *r = &s->r[i];
    if (!is_ok(r)) continue;
    if (stopping(o)) {
      r->status = "not-run";
      s->not_run++;
      continue;
    }
    timeit(ctx, p, &full, measure ? 1 : o->warmup, measure ? o->quick_runs : o->runs, r);
    if (is_ok(r)) order[nok++] = r;
    if (!measure || !is_ok(r)) {
      if ((st = store_measurement(o, p, r, e)) != FFTCONV_OK) goto done;
      if (o->progress) o->progress(o->progress_arg, ++done, total, r);
    }
  }
  if (measure) {
    qsort(order, (size_t)nok, sizeof *order, by_median);
    for (int j = 0; j < nok; j++) {
      fc_result *r = order[j];
      if (j < o->finalists && !stopping(o)) timeit(ctx, p, &full, o->warmup, o->runs, r);
      if ((st = store_measurement(o, p, r, e)) != FFTCONV_OK) goto done;
      if (o->progress) o->progress(o->progress_arg, ++done, total, r);
    }
  }
  for (int i = 0; i < s->n; i++) /* the winner: fully timed, verified */
    if (is_ok(&s->r[i]) && s->r[i].t.runs >= (o->runs < 20 ? o->runs : 20) &&
        (s->best < 0 || s->r[i].t.median_ms < s->r[s->best].t.median_ms))
      s->best = i;
  s->interrupted = o->stop && *o->stop;
done:
  free(order);
  fc_testdata_free(&small);
  fc_testdata_free(&full);
  fc_candidates_free(cl, ncl);
  free(fam);
  if (!ctx) fc_emit_close(em);
  return st;
}

void fc_search_free(fc_search *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->r[i].params);
    fc_kernel_src_free(&s->r[i].src);
    fc_binary_free(&s->r[i].bin);
  }
  free(s->r);
  memset(s, 0, sizeof *s);
  s->best = -1;
}
