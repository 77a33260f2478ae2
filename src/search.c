/* search: enumerate, compile in parallel, verify on a miniature, time, choose. */
#include "search.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static fftconv_status write_sources(const char *dir, const fc_search *s, fc_err *e) {
  if (mkdir(dir, 0777) && errno != EEXIST)
    return fc_fail(e, FFTCONV_ERR_IO, "emit dir %s: %s", dir, strerror(errno));
  for (int i = 0; i < s->n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%03d.cu", dir, s->r[i].src.info.name, i);
    FILE *f = fopen(path, "w");
    int ok = f && fputs(s->r[i].src.source, f) >= 0;
    if (f && fclose(f)) ok = 0;
    if (!ok) return fc_fail(e, FFTCONV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return FFTCONV_OK;
}

static void verify_and_time(fftconv_ctx *ctx, const fftconv_problem *p,
                            const fftconv_problem *mini, fc_testdata *small, fc_testdata *full,
                            const fc_search_opts *o, fc_result *r) {
  double tol = fc_tolerance(p->dtype);
  fc_err e = {{0}};
  fftconv_plan *vp = NULL, *tp = NULL;
  r->err = INFINITY;
  fftconv_status st = fc_plan_from_binary(ctx, mini, &r->src, &r->bin, "candidate", &vp);
  if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
  else st = fc_verify_plan(vp, small, &r->err, &e);
  if (st == FFTCONV_OK && !(r->err <= tol)) {
    r->status = "verify-failed";
    snprintf(r->detail, sizeof r->detail, "relative error %.2e > %.0e", r->err, tol);
  } else if (st == FFTCONV_OK) {
    st = fc_plan_from_binary(ctx, p, &r->src, &r->bin, "candidate", &tp);
    if (st != FFTCONV_OK) snprintf(e.msg, sizeof e.msg, "%s", fftconv_ctx_error(ctx));
    else st = fc_time_plan(tp, full, o->warmup, o->runs, &r->t, &e);
    if (st == FFTCONV_OK) r->status = "ok";
  }
  if (st != FFTCONV_OK) {
    r->status = "launch-failed";
    snprintf(r->detail, sizeof r->detail, "%.500s", e.msg);
    fc_cu.CtxSynchronize(); /* clear a pending asynchronous error before the next */
  }
  fftconv_plan_destroy(vp);
  fftconv_plan_destroy(tp);
}

fftconv_status fc_search_run(fftconv_ctx *ctx, const fftconv_problem *p,
                             const fc_device_info *dev, const fc_search_opts *o, fc_search *s,
                             fc_err *e) {
  memset(s, 0, sizeof *s);
  s->best = -1;
  fc_emit *em = NULL;
  fc_candidate *cl = NULL;
  int ncl = 0;
  fftconv_status st = ctx ? fc_ctx_emit(ctx, &em) : fc_emit_open(&em, e);
  if (st != FFTCONV_OK) {
    if (ctx) fc_fail(e, st, "%s", fftconv_ctx_error(ctx));
    return st;
  }
  if ((st = fc_emit_space(em, o->tmpl, p, dev, &cl, &ncl, e)) != FFTCONV_OK) goto done;
  s->r = calloc((size_t)(ncl ? ncl : 1), sizeof *s->r);
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
    if ((st = fc_emit_kernel(em, o->tmpl, cl[i].params, dev, &r->src, e)) != FFTCONV_OK)
      goto done;
    r->params = strdup(cl[i].params);
    s->n++;
  }
  if (o->emit_dir && (st = write_sources(o->emit_dir, s, e)) != FFTCONV_OK) goto done;

  double t0 = fc_now();
  const char **srcs = calloc((size_t)s->n + 1, sizeof *srcs);
  const char **names = calloc((size_t)s->n + 1, sizeof *names);
  fc_binary *bins = calloc((size_t)s->n + 1, sizeof *bins);
  fftconv_status *cst = calloc((size_t)s->n + 1, sizeof *cst);
  if (!srcs || !names || !bins || !cst) {
    free(srcs), free(names), free(bins), free(cst);
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  for (int i = 0; i < s->n; i++) srcs[i] = s->r[i].src.source, names[i] = s->r[i].src.name;
  fc_compile_all(srcs, names, s->n, dev->sm, o->jobs, bins, cst);
  for (int i = 0; i < s->n; i++) {
    s->r[i].bin = bins[i];
    if (cst[i] != FFTCONV_OK) {
      s->r[i].status = "compile-failed";
      snprintf(s->r[i].detail, sizeof s->r[i].detail, "%s: %.480s",
               fftconv_status_string(cst[i]), bins[i].log ? bins[i].log : "");
    }
  }
  free(srcs), free(names), free(bins), free(cst);
  s->compile_seconds = fc_now() - t0;
  for (int i = 0; o->emit_dir && i < s->n; i++) { /* the NVRTC log beside each source */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%03d.log", o->emit_dir, s->r[i].src.info.name, i);
    FILE *f = fopen(path, "w");
    const char *log = s->r[i].bin.log ? s->r[i].bin.log : s->r[i].detail;
    if (!f || fputs(log, f) < 0 || fclose(f)) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
      goto done;
    }
  }
  for (int i = 0; i < s->n; i++) s->compile_failures += s->r[i].status != NULL;
  if (!ctx) goto done;

  fftconv_problem mini = *p;
  mini.batch = p->batch < 3 ? p->batch : 3;
  mini.heads = p->heads < 5 ? p->heads : 5;
  fc_testdata small, full;
  if ((st = fc_testdata_make(&mini, 1, FC_TD_REFERENCE | FC_TD_DEVICE, &small, e)) != FFTCONV_OK)
    goto done;
  if ((st = fc_testdata_make(p, 2, FC_TD_DEVICE, &full, e)) != FFTCONV_OK) {
    fc_testdata_free(&small);
    goto done;
  }
  for (int i = 0; i < s->n; i++) {
    fc_result *r = &s->r[i];
    if (!r->status) verify_and_time(ctx, p, &mini, &small, &full, o, r);
    if (r->status && !strcmp(r->status, "ok") &&
        (s->best < 0 || r->t.median_ms < s->r[s->best].t.median_ms))
      s->best = i;
    if (o->progress)
      fprintf(o->progress, "[%d/%d] %-14s %8.4f ms  %s\n", i + 1, s->n, r->status,
              r->status && !strcmp(r->status, "ok") ? r->t.median_ms : NAN, r->params);
  }
  fc_testdata_free(&small);
  fc_testdata_free(&full);
done:
  fc_candidates_free(cl, ncl);
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
