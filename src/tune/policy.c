/* policy: fftconv_ctx_create with the miss policies, the heuristic compile and the quick tune
 * (see policy.h). */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "candidate.h"
#include "families.h"
#include "search.h"

enum { MAX_FALLBACKS = 64 };

/* The heuristic fallback's families, in the order they declare (runs.fallback, families.h):
   the first whose default() can run the problem is compiled. Returns how many (<= max). */
static int fallback_families(const fc_family_decl **out, int max) {
  int n = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *f = &fc_families[i];
    if (!f->fallback || n == max) continue;
    int k = n++;
    for (; k > 0 && out[k - 1]->fallback > f->fallback; k--) out[k] = out[k - 1];
    out[k] = f;
  }
  return n;
}

/* Tunes s now (rigor measure, few runs), storing into the cache when it can be written. */
static fftconv_status quick_tune(fftconv_ctx *c, const fc_shape *sh, fftconv_plan **out,
                                 fc_err *e) {
  fc_cache *w = NULL;
  fc_err ce = {{0}};
  if (c->cache_path[0]) fc_cache_open(c->cache_path, 1, &w, &ce); /* unwritable: not stored */
  fc_cache_config cfg = fc_ctx_cache_config(c);
  fc_device_info dev = fc_ctx_device(c);
  fc_search_opts o;
  fc_search_defaults(FC_RIGOR_MEASURE, &o);
  o.op = sh->op;
  o.jobs = 8, o.runs = 20, o.warmup = 2, o.finalists = 2; /* few runs: the caller waits */
  o.cache = w, o.cfg = &cfg;
  fc_search s;
  fftconv_status st = fc_search_run(c, &sh->p, &dev, &o, &s, e);
  if (st == FFTCONV_OK && s.best < 0)
    st = s.n ? fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "quick tune: no candidate verified")
             : fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "quick tune: no candidate: %s", s.why);
  if (st == FFTCONV_OK) {
    fc_result *r = &s.r[s.best];
    st = fc_plan_from_src(c, sh, &r->src, &r->bin, "quick-tune", out, e);
    if (st == FFTCONV_OK && w) {
      int64_t kid;
      fc_err ue = {{0}};
      fc_cache_update_winner_op(w, &cfg, sh->op, &sh->p, c->hashes, c->nhashes, &kid, &ue);
      fc_cache_slimmed sl; /* as the tuner does: binaries of winners and finalists only */
      fc_cache_slim(w, FC_CACHE_FINALISTS, 0, &sl, &ue);
    }
  }
  fc_search_free(&s);
  fc_cache_close(w);
  return st;
}

/* The built-in heuristic choice of the first family that runs the problem, compiled now. */
static fftconv_status heuristic(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out,
                                fc_err *e) {
  fc_emit *em;
  fftconv_status st = fc_ctx_emit(c, &em);
  if (st != FFTCONV_OK) return st;
  char *params = NULL;
  fc_kernel_src src = {0};
  fc_binary bin = {0};
  fc_device_info dev = fc_ctx_device(c);
  const char *tmpl = NULL;
  const fc_family_decl *order[MAX_FALLBACKS];
  int nf = fallback_families(order, MAX_FALLBACKS);
  for (int i = 0; i < nf; i++) {
    tmpl = order[i]->name;
    st = fc_emit_default_op(em, tmpl, s->op, &s->p, &dev, &params, e);
    if (st != FFTCONV_ERR_UNSUPPORTED || i == nf - 1) break;
  }
  if (st == FFTCONV_OK) st = fc_emit_kernel(em, tmpl, params, &dev, &src, e);
  if (st == FFTCONV_OK) st = fc_compile(src.source, src.name, c->arch, 0, &bin, e);
  if (st == FFTCONV_OK) st = fc_plan_from_src(c, s, &src, &bin, "heuristic", out, e);
  free(params);
  fc_kernel_src_free(&src);
  fc_binary_free(&bin);
  return st;
}

fftconv_status fc_policy_miss(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out, fc_err *e) {
  /* a quick tune verifies against the forward reference only: other ops take the heuristic */
  if (c->policy == FFTCONV_POLICY_QUICK_TUNE && s->op == FC_OP_FORWARD) return quick_tune(c, s, out, e);
  return heuristic(c, s, out, e);
}

/* The SQLite cache at path, read-only, as the context's store. */
static fftconv_status open_cache_store(const char *path, fc_store **out, fc_err *e) {
  fc_cache *cache = NULL;
  *out = NULL;
  fftconv_status st = fc_cache_open(path, 0, &cache, e);
  if (st != FFTCONV_OK) return st == FFTCONV_ERR_NOMEM ? FFTCONV_ERR_IO : st; /* a miss */
  if (!(*out = fc_cache_store(cache))) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  return FFTCONV_OK;
}

fftconv_status fftconv_ctx_create(const fftconv_ctx_options *o, fftconv_ctx **out) {
  static const fc_ctx_hooks hooks = {.bundle_open = fc_bundle_open_store,
                                     .cache_default_path = fc_cache_default_path,
                                     .cache_open = open_cache_store,
                                     .miss = fc_policy_miss};
  char nvrtc[16];
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc); /* "none" without NVRTC */
  return fc_ctx_open(o, &hooks, nvrtc, out, fc_thread_err());
}
