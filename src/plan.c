/* plan: contexts, plans, prepare_filter and forward. */
#include "plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

/* The heuristic fallback's families, in order of preference: the first whose default() can
   run the problem is compiled. */
static const char *const fallback_families[] = {"monarch_tc", "monarch_fp32"};

static _Thread_local fc_err create_err;

void fftconv_ctx_options_init(fftconv_ctx_options *o) {
  memset(o, 0, sizeof *o);
}

fftconv_status fftconv_ctx_create(const fftconv_ctx_options *o, fftconv_ctx **out) {
  fftconv_ctx_options def;
  if (!o) {
    fftconv_ctx_options_init(&def);
    o = &def;
  }
  if (!out) return fc_fail(&create_err, FFTCONV_ERR_INVALID, "out: NULL");
  *out = NULL;
  fftconv_ctx *c = calloc(1, sizeof *c);
  if (!c) return fc_fail(&create_err, FFTCONV_ERR_NOMEM, "out of host memory");
  fftconv_status st = fc_gpu_open(o->device, &c->gpu, &create_err);
  if (st != FFTCONV_OK) {
    free(c);
    return st;
  }
  c->sm = c->gpu.info.sm;
  fc_device_arch(&c->gpu.info, c->arch);
  if (o->arch) {
    if (!fc_arch_normalize(o->arch, c->arch, &c->sm)) {
      fc_gpu_close(&c->gpu);
      free(c);
      return fc_fail(&create_err, FFTCONV_ERR_INVALID,
                     "arch: '%s' is not an architecture (expected sm_XY, e.g. sm_90)", o->arch);
    }
  }
  const fc_device_info *d = &c->gpu.info;
  snprintf(c->device, sizeof c->device, "%s (sm_%d, %d SMs, driver %d.%d)", d->name, d->sm,
           d->sms, d->driver_version / 1000, d->driver_version % 1000 / 10);
  c->policy = o->policy;
  /* "none" without NVRTC: no cached kernel matches it yet (the trust key has the version) */
  fc_nvrtc_version_text(c->nvrtc, sizeof c->nvrtc);
  /* What the cache may be trusted for: the embedded templates as they are now. */
  for (const fc_embedded_file *f = fc_embedded_templates; f->path; f++) {
    size_t n = strlen(f->path);
    if (!strncmp(f->path, "lib/", 4) || n < 5 || c->nhashes == FC_MAX_TEMPLATES) continue;
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)(n - 4), f->path);
    if (fc_template_hash(name, c->hashes[c->nhashes], NULL) == FFTCONV_OK)
      c->hashp[c->nhashes] = c->hashes[c->nhashes], c->nhashes++;
  }
  /* A cache that cannot be opened is a miss: the reason is kept for describe and errors. */
  fc_err ce = {{0}};
  if (o->no_cache) {
    snprintf(c->cache_desc, sizeof c->cache_desc, "none (disabled)");
  } else if (o->cache_path) {
    snprintf(c->cache_path, sizeof c->cache_path, "%s", o->cache_path);
  } else if (fc_cache_default_path(c->cache_path, sizeof c->cache_path, &ce) != FFTCONV_OK) {
    snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.4000s)", ce.msg);
  }
  if (c->cache_path[0]) {
    if (fc_cache_open(c->cache_path, 0, &c->cache, &ce) == FFTCONV_OK)
      snprintf(c->cache_desc, sizeof c->cache_desc, "%s", c->cache_path);
    else
      snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.4000s)", ce.msg);
  }
  *out = c;
  return FFTCONV_OK;
}

const char *fftconv_ctx_cache(const fftconv_ctx *c) { return c ? c->cache_desc : ""; }

fc_cache_config fc_ctx_cache_config(const fftconv_ctx *c) {
  fc_cache_config cfg = {&c->gpu.info, c->sm, c->nvrtc};
  return cfg;
}

void fftconv_ctx_destroy(fftconv_ctx *c) {
  if (!c) return;
  for (int i = 0; i < c->nmods; i++) fc_module_unload(&c->mods[i].mod);
  free(c->mods);
  fc_cache_close(c->cache);
  fc_emit_close(c->emit);
  fc_gpu_close(&c->gpu);
  free(c);
}

const char *fftconv_ctx_error(const fftconv_ctx *c) { return c ? c->err.msg : create_err.msg; }

const char *fftconv_ctx_device(const fftconv_ctx *c) { return c ? c->device : ""; }

fftconv_status fc_ctx_emit(fftconv_ctx *c, fc_emit **out) {
  if (!c->emit) {
    fftconv_status st = fc_emit_open(&c->emit, &c->err);
    if (st != FFTCONV_OK) return st;
  }
  *out = c->emit;
  return FFTCONV_OK;
}

int64_t fc_problem_device_bytes(const fftconv_problem *p) {
  int64_t n = p->batch * p->heads * p->seqlen;
  int64_t io = n * fftconv_dtype_size(p->dtype) * (2 + p->pre_gate + p->post_gate);
  int64_t k = p->filter_len ? p->filter_len : p->seqlen;
  return io + p->heads * k * 4 + p->heads * 4;
}

static fftconv_status check_for_device(fftconv_ctx *c, const fftconv_problem *p) {
  fftconv_status st = fftconv_problem_check(p, c->err.msg, sizeof c->err.msg);
  if (st != FFTCONV_OK) return st;
  int64_t need = fc_problem_device_bytes(p), have = c->gpu.info.total_mem;
  if (have > 0 && need > have)
    return fc_fail(&c->err, FFTCONV_ERR_INVALID,
                   "problem: needs %" PRId64 " bytes of device memory for its tensors, the "
                   "device has %" PRId64, need, have);
  return FFTCONV_OK;
}

/* A plan for p running the kernel (tmpl, rev, hash, params) with layout lo, its module not yet
   set; describe reads "<tmpl> r<rev> (<hash>) <params> [<rung>; sm_<sm>]". */
static fftconv_status plan_new(fftconv_ctx *c, const fftconv_problem *p, const fc_layout *lo,
                               const char *tmpl, int rev, const char *hash, const char *params,
                               const char *rung, int sm, fftconv_plan **out) {
  *out = NULL;
  fftconv_status st = check_for_device(c, p);
  if (st != FFTCONV_OK) return st;
  if ((p->batch * p->heads + lo->seqs - 1) / lo->seqs > 0x7fffffff)
    return fc_fail(&c->err, FFTCONV_ERR_UNSUPPORTED,
                   "batch x heads: %" PRId64 " rows need more than 2^31 - 1 blocks",
                   p->batch * p->heads);
  fftconv_plan *pl = calloc(1, sizeof *pl);
  if (!pl) return fc_fail(&c->err, FFTCONV_ERR_NOMEM, "out of host memory");
  pl->ctx = c;
  pl->prob = *p;
  pl->fft_size = fftconv_problem_fft_size(p);
  pl->rows = p->batch * p->heads;
  pl->layout = *lo;
  snprintf(pl->tmpl, sizeof pl->tmpl, "%s", tmpl);
  pl->params = strdup(params ? params : "{}");
  fc_str d = {0};
  fc_str_add(&d, "%s r%d (%s) %s [%s; sm_%d]", tmpl, rev, hash, params ? params : "{}", rung, sm);
  pl->describe = d.s;
  if (!pl->params || !pl->describe) {
    fftconv_plan_destroy(pl);
    return fc_fail(&c->err, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  *out = pl;
  return FFTCONV_OK;
}

fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out) {
  fftconv_plan *pl;
  fftconv_status st = plan_new(c, p, &src->layout, src->info.name, src->info.revision,
                               src->info.hash, src->params, rung, bin->sm, &pl);
  if (st != FFTCONV_OK) return st;
  pl->owns_module = 1;
  st = fc_gpu_bind(&c->gpu, &c->err);
  if (st == FFTCONV_OK)
    st = fc_module_load(bin->cubin, src->fwd_entry, src->prep_entry, src->layout.smem,
                        src->layout.prep_smem, &pl->mod, &c->err);
  if (st != FFTCONV_OK) {
    fftconv_plan_destroy(pl);
    return st;
  }
  *out = pl;
  return FFTCONV_OK;
}

/* The module of a cache row, loaded once per context. */
static fftconv_status cached_module(fftconv_ctx *c, const fc_cache_hit *h, fc_module **out) {
  for (int i = 0; i < c->nmods; i++)
    if (c->mods[i].kernel_id == h->kernel_id) {
      *out = &c->mods[i].mod;
      return FFTCONV_OK;
    }
  if (c->nmods == c->capmods) {
    int cap = c->capmods ? 2 * c->capmods : 8;
    fc_ctx_module *m = realloc(c->mods, (size_t)cap * sizeof *m);
    if (!m) return fc_fail(&c->err, FFTCONV_ERR_NOMEM, "out of host memory");
    c->mods = m;
    c->capmods = cap;
  }
  fc_ctx_module *m = &c->mods[c->nmods];
  memset(m, 0, sizeof *m);
  fftconv_status st = fc_gpu_bind(&c->gpu, &c->err);
  if (st == FFTCONV_OK)
    st = fc_module_load(h->cubin, h->fwd_entry, h->prep_entry, h->layout.smem,
                        h->layout.prep_smem, &m->mod, &c->err);
  if (st != FFTCONV_OK) return st;
  m->kernel_id = h->kernel_id;
  *out = &c->mods[c->nmods++].mod;
  return FFTCONV_OK;
}

/* A plan from a cache hit: the stored cubin, no Lua, no NVRTC. */
static fftconv_status plan_from_hit(fftconv_ctx *c, const fftconv_problem *p,
                                    const fc_cache_hit *h, fftconv_plan **out) {
  fc_module *mod = NULL;
  fftconv_status st = cached_module(c, h, &mod);
  if (st != FFTCONV_OK) return st;
  char rung[320];
  if (h->exact) snprintf(rung, sizeof rung, "tuned: %.3f ms", h->median_ms);
  else snprintf(rung, sizeof rung, "nearest: tuned for %s", h->problem_key);
  st = plan_new(c, p, &h->layout, h->tmpl, h->revision, h->hash, h->params, rung, c->sm, out);
  if (st == FFTCONV_OK) (*out)->mod = *mod; /* owned by the context */
  return st;
}

/* The fftconv-tune command line that tunes p, for messages. */
static void tune_command(const fftconv_problem *p, const char *cache, fc_str *b) {
  fc_str_add(b, "fftconv-tune --seqlen %" PRId64 " --batch %" PRId64 " --heads %" PRId64
                " --dtype %s --mode %s", p->seqlen, p->batch, p->heads,
             fftconv_dtype_name(p->dtype), fftconv_mode_name(p->mode));
  if (p->pre_gate) fc_str_add(b, " --pregate");
  if (p->post_gate) fc_str_add(b, " --postgate");
  if (p->skip_d) fc_str_add(b, " --skip-d");
  if (p->filter_len && p->filter_len != p->seqlen)
    fc_str_add(b, " --filter-len %" PRId64, p->filter_len);
  if (p->freq_keep) fc_str_add(b, " --freq-keep %" PRId64, p->freq_keep);
  if (cache && cache[0]) fc_str_add(b, " --cache %s", cache);
}

/* Tunes p now (rigor measure, few runs), storing into the cache when it can be written. */
static fftconv_status quick_tune(fftconv_ctx *c, const fftconv_problem *p, fftconv_plan **out) {
  fc_cache *w = NULL;
  fc_err ce = {{0}};
  if (c->cache_path[0]) fc_cache_open(c->cache_path, 1, &w, &ce); /* unwritable: not stored */
  fc_cache_config cfg = fc_ctx_cache_config(c);
  fc_device_info dev = c->gpu.info;
  dev.sm = c->sm;
  snprintf(dev.arch, sizeof dev.arch, "%s", c->arch);
  fc_search_opts o;
  fc_search_defaults(FC_RIGOR_MEASURE, &o);
  o.jobs = 8, o.runs = 20, o.warmup = 2, o.finalists = 2; /* few runs: the caller waits */
  o.cache = w, o.cfg = &cfg;
  fc_search s;
  fftconv_status st = fc_search_run(c, p, &dev, &o, &s, &c->err);
  if (st == FFTCONV_OK && s.best < 0)
    st = s.n ? fc_fail(&c->err, FFTCONV_ERR_UNSUPPORTED, "quick tune: no candidate verified")
             : fc_fail(&c->err, FFTCONV_ERR_UNSUPPORTED, "quick tune: no candidate: %s", s.why);
  if (st == FFTCONV_OK) {
    fc_result *r = &s.r[s.best];
    st = fc_plan_from_binary(c, p, &r->src, &r->bin, "quick-tune", out);
    if (st == FFTCONV_OK && w) {
      int64_t kid;
      fc_err ue = {{0}};
      fc_cache_update_winner(w, &cfg, p, c->hashp, c->nhashes, &kid, &ue);
      fc_cache_slimmed sl; /* as the tuner does: binaries of winners and finalists only */
      fc_cache_slim(w, FC_CACHE_FINALISTS, 0, &sl, &ue);
    }
  }
  fc_search_free(&s);
  fc_cache_close(w);
  return st;
}

fftconv_status fftconv_plan_create(fftconv_ctx *c, const fftconv_problem *p, fftconv_plan **out) {
  if (!out) return FFTCONV_ERR_INVALID;
  *out = NULL;
  if (!c) return FFTCONV_ERR_INVALID;
  fftconv_status st = check_for_device(c, p);
  if (st != FFTCONV_OK) return st;
  if (c->cache) {
    fc_cache_config cfg = fc_ctx_cache_config(c);
    fc_cache_hit h = {0};
    int found = 0;
    fc_err ce = {{0}};
    /* A cache error is a miss: the message is kept for TUNED_ONLY's error. */
    if (fc_cache_lookup(c->cache, &cfg, p, c->hashp, c->nhashes, &h, &found, &ce) != FFTCONV_OK)
      snprintf(c->cache_desc, sizeof c->cache_desc, "%s (lookup failed: %.250s)", c->cache_path,
               ce.msg);
    if (found) st = plan_from_hit(c, p, &h, out);
    fc_cache_hit_free(&h);
    if (found) return st;
  }
  if (c->policy == FFTCONV_POLICY_QUICK_TUNE) return quick_tune(c, p, out);
  if (c->policy == FFTCONV_POLICY_TUNED_ONLY) {
    char key[256];
    fftconv_problem_key(p, key, sizeof key);
    fc_str cmd = {0};
    tune_command(p, c->cache_path, &cmd);
    fc_fail(&c->err, FFTCONV_ERR_UNSUPPORTED,
            "no tuned kernel for %s on %s in cache %s (tuned kernels only); run: %s", key,
            c->device, c->cache_desc, cmd.s ? cmd.s : "fftconv-tune");
    fc_str_free(&cmd);
    return FFTCONV_ERR_UNSUPPORTED;
  }
  fc_emit *em;
  if ((st = fc_ctx_emit(c, &em)) != FFTCONV_OK) return st;
  char *params = NULL;
  fc_kernel_src src = {0};
  fc_binary bin = {0};
  fc_device_info dev = c->gpu.info;
  dev.sm = c->sm;
  snprintf(dev.arch, sizeof dev.arch, "%s", c->arch);
  const char *tmpl = NULL;
  int nf = (int)(sizeof fallback_families / sizeof *fallback_families);
  for (int i = 0; i < nf; i++) {
    tmpl = fallback_families[i];
    st = fc_emit_default(em, tmpl, p, &dev, &params, &c->err);
    if (st != FFTCONV_ERR_UNSUPPORTED || i == nf - 1) break;
  }
  if (st == FFTCONV_OK) st = fc_emit_kernel(em, tmpl, params, &dev, &src, &c->err);
  if (st == FFTCONV_OK) st = fc_compile(src.source, src.name, c->arch, 0, &bin, &c->err);
  if (st == FFTCONV_OK) st = fc_plan_from_binary(c, p, &src, &bin, "heuristic", out);
  free(params);
  fc_kernel_src_free(&src);
  fc_binary_free(&bin);
  return st;
}

void fftconv_plan_destroy(fftconv_plan *p) {
  if (!p) return;
  if (p->owns_module) fc_module_unload(&p->mod);
  free(p->params);
  free(p->describe);
  free(p);
}

const char *fftconv_plan_describe(const fftconv_plan *p) { return p ? p->describe : ""; }

size_t fftconv_plan_filter_bytes(const fftconv_plan *p) {
  return (size_t)(p->layout.khat_table + p->prob.heads * p->layout.khat) * 8u;
}

static unsigned blocks(int64_t n, int per) { return (unsigned)((n + per - 1) / per); }

fftconv_status fftconv_prepare_filter(const fftconv_plan *p, const void *k, const void *d,
                                      void *k_hat, fftconv_stream s) {
  if (!p) return FFTCONV_ERR_INVALID;
  fc_err *e = &p->ctx->err;
  if (!k) return fc_fail(e, FFTCONV_ERR_INVALID, "k: NULL (the (H, K) fp32 filter is required)");
  if (!k_hat) return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat: NULL");
  if (p->prob.skip_d && !d)
    return fc_fail(e, FFTCONV_ERR_INVALID, "d: NULL but the problem has the D term (skip_d)");
  if (!p->prob.skip_d) d = NULL;
  CUdeviceptr kk = (CUdeviceptr)k, dd = (CUdeviceptr)d, kh = (CUdeviceptr)k_hat;
  int H = (int)p->prob.heads, K = (int)(p->prob.filter_len ? p->prob.filter_len : p->prob.seqlen);
  int F = (int)p->prob.freq_keep;
  void *args[] = {&kk, &dd, &kh, &H, &K, &F};
  FC_CU(e, fc_cu.LaunchKernel(p->mod.prep, blocks(H, p->layout.prep_seqs), 1, 1,
                              (unsigned)p->layout.prep_threads, 1, 1,
                              (unsigned)p->layout.prep_smem, (CUstream)s, args, NULL));
  return FFTCONV_OK;
}

fftconv_status fftconv_forward(const fftconv_plan *p, const fftconv_args *a, fftconv_stream s) {
  if (!p) return FFTCONV_ERR_INVALID;
  fc_err *e = &p->ctx->err;
  if (!a) return fc_fail(e, FFTCONV_ERR_INVALID, "args: NULL");
  if (!a->u) return fc_fail(e, FFTCONV_ERR_INVALID, "u: NULL");
  if (!a->y) return fc_fail(e, FFTCONV_ERR_INVALID, "y: NULL");
  if (!a->k_hat) return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat: NULL (see fftconv_prepare_filter)");
  if (p->prob.pre_gate && !a->pre)
    return fc_fail(e, FFTCONV_ERR_INVALID, "pre: NULL but the problem has a pre gate");
  if (p->prob.post_gate && !a->post)
    return fc_fail(e, FFTCONV_ERR_INVALID, "post: NULL but the problem has a post gate");
  CUdeviceptr u = (CUdeviceptr)a->u, pre = (CUdeviceptr)a->pre, post = (CUdeviceptr)a->post;
  CUdeviceptr kh = (CUdeviceptr)a->k_hat, y = (CUdeviceptr)a->y;
  long long rows = p->rows;
  int L = (int)p->prob.seqlen, H = (int)p->prob.heads;
  void *args[] = {&u, &pre, &post, &kh, &y, &rows, &L, &H};
  FC_CU(e, fc_cu.LaunchKernel(p->mod.fwd, blocks(p->rows, p->layout.seqs), 1, 1,
                              (unsigned)p->layout.threads, 1, 1, (unsigned)p->layout.smem,
                              (CUstream)s, args, NULL));
  return FFTCONV_OK;
}
