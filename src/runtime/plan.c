/* plan: contexts, plans from stored kernels, prepare_filter and forward (the runtime; see
 * plan.h). */
#include "plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "trusted.h"

static _Thread_local fc_err thread_err;

fc_err *fc_thread_err(void) { return &thread_err; }

void fftconv_ctx_options_init(fftconv_ctx_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
}

void fftconv_args_init(fftconv_args *a) {
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
}

void fftconv_backward_args_init(fftconv_backward_args *a) {
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
}

/* The context's cache: the store of hooks->cache_open, or none with the reason in
   c->cache_desc. A cache that cannot be opened is a miss, not an error. */
static fftconv_status open_cache(fftconv_ctx *c, const fftconv_ctx_options *o, fc_err *e) {
  const fc_ctx_hooks *h = &c->hooks;
  fc_err ce = {{0}};
  if (o->no_cache) {
    snprintf(c->cache_desc, sizeof c->cache_desc, "none (disabled)");
    return FFTCONV_OK;
  }
  if (!h->cache_open) {
    const char *why = h->no_cache ? h->no_cache : "this library has no cache backend";
    if (o->cache_path)
      snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.2000s; cache_path %.2000s is not "
               "read)", why, o->cache_path);
    else
      snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.4000s)", why);
    return FFTCONV_OK;
  }
  if (o->cache_path) {
    snprintf(c->cache_path, sizeof c->cache_path, "%s", o->cache_path);
  } else if (!h->cache_default_path ||
             h->cache_default_path(c->cache_path, sizeof c->cache_path, &ce) != FFTCONV_OK) {
    c->cache_path[0] = 0;
    snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.4000s)",
             h->cache_default_path ? ce.msg : "no default path");
    return FFTCONV_OK;
  }
  fftconv_status st = h->cache_open(c->cache_path, &c->store, &ce);
  if (st == FFTCONV_ERR_NOMEM) return fc_fail(e, st, "%s", ce.msg);
  if (st == FFTCONV_OK)
    snprintf(c->cache_desc, sizeof c->cache_desc, "%s", c->cache_path);
  else
    snprintf(c->cache_desc, sizeof c->cache_desc, "none (%.4000s)", ce.msg);
  return FFTCONV_OK;
}

fftconv_status fc_ctx_open(const fftconv_ctx_options *o, const fc_ctx_hooks *hooks,
                           const char *nvrtc, fftconv_ctx **out, fc_err *e) {
  fftconv_ctx_options def;
  if (!o) {
    fftconv_ctx_options_init(&def);
    o = &def;
  }
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "out: NULL");
  *out = NULL;
  if (o->size != sizeof *o)
    return fc_fail(e, FFTCONV_ERR_INVALID, "options: size is %zu, this library's "
                   "fftconv_ctx_options has %zu bytes (start from fftconv_ctx_options_init)",
                   o->size, sizeof *o);
  if (o->bundle_path && o->bundle_image)
    return fc_fail(e, FFTCONV_ERR_INVALID, "bundle_path and bundle_image: give one bundle, "
                   "not both");
  /* A bundle is read and checked before the driver is asked for anything, so that a bad one
     is reported on any machine. */
  fc_store *bundle = NULL;
  if (o->bundle_path || o->bundle_image) {
    if (!hooks || !hooks->bundle_open)
      return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "bundle: this program reads no bundle");
    fftconv_status bs = hooks->bundle_open(o->bundle_path, o->bundle_image, &bundle, e);
    if (bs != FFTCONV_OK) return bs;
  }
  fftconv_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    fc_store_close(bundle);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  fftconv_status st = fc_gpu_open(o->device, &c->gpu, e);
  if (st == FFTCONV_OK && bundle) st = fc_store_set_device(bundle, c->gpu.info.sm, e);
  if (st != FFTCONV_OK) {
    if (c->gpu.ctx) fc_gpu_close(&c->gpu);
    fc_store_close(bundle);
    free(c);
    return st;
  }
  snprintf(c->bundle_desc, sizeof c->bundle_desc, "%s", bundle ? fc_store_describe(bundle)
                                                               : "none");
  c->bundle = bundle;
  const fc_device_info *d = &c->gpu.info;
  c->sm = d->sm;
  fc_device_arch(d, c->arch);
  if (o->arch && !fc_arch_normalize(o->arch, c->arch, &c->sm)) {
    fc_store_close(c->bundle);
    fc_gpu_close(&c->gpu);
    free(c);
    return fc_fail(e, FFTCONV_ERR_INVALID, "arch: '%s' is not an architecture (expected sm_XY "
                   "or sm_XYa, e.g. sm_90 or sm_90a)", o->arch);
  }
  pthread_mutex_init(&c->lock, NULL);
  snprintf(c->device, sizeof c->device, "%s (sm_%d, %d SMs, driver %d.%d)", d->name, d->sm,
           d->sms, d->driver_version / 1000, d->driver_version % 1000 / 10);
  c->policy = o->policy;
  if (hooks) c->hooks = *hooks;
  snprintf(c->nvrtc, sizeof c->nvrtc, "%s", nvrtc ? nvrtc : "none");
  /* What the cache may be trusted for: the embedded templates as they are now. */
  c->nhashes = fc_trusted_hashes(&c->hashes);
  if ((st = open_cache(c, o, e)) != FFTCONV_OK) {
    fftconv_ctx_destroy(c);
    return st;
  }
  *out = c;
  return FFTCONV_OK;
}

const char *fftconv_ctx_cache(const fftconv_ctx *c) { return c ? c->cache_desc : ""; }

const char *fftconv_ctx_bundle(const fftconv_ctx *c) { return c ? c->bundle_desc : ""; }

fc_store_config fc_ctx_cache_config(const fftconv_ctx *c) {
  /* Without NVRTC no kernel can be compiled, so any NVRTC's kernels are trusted. */
  fc_store_config cfg = {&c->gpu.info, c->sm, strcmp(c->nvrtc, "none") ? c->nvrtc : NULL};
  return cfg;
}

void fftconv_ctx_destroy(fftconv_ctx *c) {
  if (!c) return;
  for (fc_ctx_module *m = c->mods, *next; m; m = next) {
    next = m->next;
    fc_module_unload(&m->mod);
    free(m);
  }
  fc_store_close(c->store);
  fc_store_close(c->bundle);
  if (c->upper_free) c->upper_free(c->upper);
  fc_gpu_close(&c->gpu);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

const char *fftconv_ctx_error(const fftconv_ctx *c) { return thread_err.msg; }

const char *fftconv_ctx_device(const fftconv_ctx *c) { return c ? c->device : ""; }

int64_t fc_problem_device_bytes(const fftconv_problem *p) {
  /* Checked: fftconv_problem_check keeps a problem's counts far from 2^63 (FC_MAX_ELEMENTS),
     but a size that wrapped would pass the device-memory check below. */
  int64_t n, io, kb, db, total;
  if (__builtin_mul_overflow(p->batch, p->heads, &n) || __builtin_mul_overflow(n, p->seqlen, &n) ||
      __builtin_mul_overflow(n, (int64_t)fftconv_dtype_size(p->dtype) *
                                    (2 + p->pre_gate + p->post_gate), &io) ||
      __builtin_mul_overflow(p->heads, fc_filter_len(p), &kb) ||
      __builtin_mul_overflow(kb, 4, &kb) || __builtin_mul_overflow(p->heads, 4, &db) ||
      __builtin_add_overflow(io, kb, &total) || __builtin_add_overflow(total, db, &total))
    return -1;
  return total;
}

fftconv_status fc_ctx_shape(fftconv_ctx *c, const fftconv_problem *p, fc_shape *s, fc_err *e) {
  return fc_ctx_shape_op(c, FC_OP_FORWARD, p, s, e);
}

fftconv_status fc_ctx_shape_op(fftconv_ctx *c, int op, const fftconv_problem *p, fc_shape *s,
                               fc_err *e) {
  fftconv_status st = fc_shape_resolve(p, op, s, e);
  if (st != FFTCONV_OK) return st;
  int64_t need = fc_problem_device_bytes(&s->p), have = c->gpu.info.total_mem;
  if (need < 0)
    return fc_fail(e, FFTCONV_ERR_INVALID, "problem: its tensors' bytes (batch x heads x seqlen "
                   "= %" PRId64 " x %" PRId64 " x %" PRId64 ") do not fit in 64 bits",
                   s->p.batch, s->p.heads, s->p.seqlen);
  if (have > 0 && need > have)
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "problem: needs %" PRId64 " bytes of device memory for its tensors, the "
                   "device has %" PRId64, need, have);
  int64_t max_n = fc_supported_max_n_taps(s->p.dtype, c->sm, (int)s->p.mode, s->K);
  if (s->N > max_n)
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "problem: FFT size %" PRId64 " is beyond what "
                   "this build runs for %s on %s with %" PRId64 " taps (at most %" PRId64 ")",
                   s->N, fftconv_dtype_name(s->p.dtype), c->arch, s->K, max_n);
  return FFTCONV_OK;
}

/* A plan for s running manifest m, its module not yet set. */
static fftconv_status plan_new(fftconv_ctx *c, const fc_shape *s, const fc_manifest *m,
                               const char *tmpl, int rev, const char *hash, const char *params,
                               const char *rung, const char *arch, fftconv_plan **out,
                               fc_err *e) {
  *out = NULL;
  for (int i = 0; i < m->nlaunch; i++)
    if (!fc_launch_grid_x(&m->launch[i], s))
      return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "batch x heads: %" PRId64 " rows need more "
                     "than 2^31 - 1 blocks in launch %s", s->rows, m->launch[i].entry);
  if (fc_manifest_workspace_bytes(m, s->rows, s->p.heads) < 0 ||
      fc_manifest_filter_bytes(m, s->p.heads) < 0)
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "%s: its workspace or filter spectrum for %" PRId64
                   " rows of %" PRId64 " heads is more bytes than 64 bits count", tmpl, s->rows,
                   s->p.heads);
  fc_err be = {{0}};
  if (!fc_manifest_within_bounds(m, s->op, s, &be))
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "%s (%s): %s", tmpl, fc_op_name(s->op), be.msg);
  fftconv_plan *pl = calloc(1, sizeof *pl);
  if (!pl) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  pl->ctx = c;
  pl->shape = *s;
  pl->manifest = *m;
  snprintf(pl->tmpl, sizeof pl->tmpl, "%s", tmpl);
  pl->params = strdup(params ? params : "{}");
  fc_str d = {0};
  fc_str_add(&d, "%s r%d (%s) %s [%s; %s]", tmpl, rev, hash, params ? params : "{}", rung, arch);
  pl->describe = d.s;
  if (!pl->params || !pl->describe) {
    fftconv_plan_destroy(pl);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  *out = pl;
  return FFTCONV_OK;
}

fftconv_status fc_plan_from_cubin(fftconv_ctx *c, const fc_shape *s, const fc_manifest *m,
                                  const void *cubin, const char *tmpl, int rev,
                                  const char *hash, const char *params, const char *rung,
                                  const char *arch, fftconv_plan **out, fc_err *e) {
  fftconv_plan *pl;
  fftconv_status st = plan_new(c, s, m, tmpl, rev, hash, params, rung, arch, &pl, e);
  if (st != FFTCONV_OK) return st;
  pl->owns_module = 1;
  st = fc_gpu_bind(&c->gpu, e);
  if (st == FFTCONV_OK) st = fc_module_load(cubin, m, &pl->mod, e);
  if (st != FFTCONV_OK) {
    fftconv_plan_destroy(pl);
    return st;
  }
  *out = pl;
  return FFTCONV_OK;
}

/* The module of a cache row, loaded once per context. The caller holds c->lock and has made
   the context current on its thread (fftconv_plan_create). */
static fftconv_status cached_module(fftconv_ctx *c, int64_t kernel_id, const void *cubin,
                                    const fc_manifest *mf, fc_module **out, fc_err *e) {
  for (fc_ctx_module *m = c->mods; m; m = m->next)
    if (m->kernel_id == kernel_id) {
      *out = &m->mod;
      return FFTCONV_OK;
    }
  fc_ctx_module *m = calloc(1, sizeof *m);
  if (!m) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  fftconv_status st = fc_module_load(cubin, mf, &m->mod, e);
  if (st != FFTCONV_OK) {
    free(m);
    return st;
  }
  m->kernel_id = kernel_id;
  m->next = c->mods;
  c->mods = m;
  *out = &m->mod;
  return FFTCONV_OK;
}

/* The stored kernel for s, if the store (the bundle or the cache) has one: *out stays NULL
   on a miss. A cache error is a miss; its message is kept for the tuned-only error. The
   caller holds c->lock. */
static fftconv_status plan_from_store(fftconv_ctx *c, fc_store *store, const fc_shape *s,
                                      fftconv_plan **out, fc_err *e) {
  fc_store_config cfg = fc_ctx_cache_config(c);
  fc_store_hit h = {0};
  int found = 0;
  fc_err ce = {{0}};
  if (fc_store_lookup(store, &cfg, s, c->hashes, c->nhashes, &h, &found, &ce) != FFTCONV_OK) {
    if (store == c->bundle) return fc_fail(e, FFTCONV_ERR_IO, "%s", ce.msg);
    snprintf(c->cache_desc, sizeof c->cache_desc, "%s (lookup failed: %.250s)", c->cache_path,
             ce.msg);
  }
  fftconv_status st = FFTCONV_OK;
  if (found) {
    fc_module *mod = NULL;
    st = cached_module(c, h.kernel_id, h.cubin, &h.manifest, &mod, e);
    if (st != FFTCONV_OK && store == c->bundle) {
      char why[2048];
      snprintf(why, sizeof why, "%.2000s", e->msg);
      st = fc_fail(e, st, "bundle %.2000s: loading the kernel of %s (%s): %s", c->bundle_desc,
                   h.problem_key, h.rung, why);
    }
    char rung[320];
    if (h.rung[0]) snprintf(rung, sizeof rung, "%s", h.rung);
    else if (h.exact) snprintf(rung, sizeof rung, "tuned: %.3f ms", h.median_ms);
    else snprintf(rung, sizeof rung, "nearest: tuned for %s", h.problem_key);
    if (st == FFTCONV_OK)
      st = plan_new(c, s, &h.manifest, h.tmpl, h.revision, h.hash, h.params, rung, c->arch, out, e);
    if (st == FFTCONV_OK) (*out)->mod = *mod; /* owned by the context */
  }
  fc_store_hit_free(&h);
  return st;
}

void fc_tune_command(const fftconv_problem *p, const char *cache, fc_str *b) {
  fc_str_add(b, "fftconv-tune");
  fc_fields_flags(p, b);
  if (cache && cache[0]) fc_str_add(b, " --cache %s", cache);
}

/* The plan of a resolved shape (any op): the bundle, then the cache, then the miss policy. */
static fftconv_status plan_for_shape(fftconv_ctx *c, const fc_shape *s, fftconv_plan **out,
                                     fc_err *e) {
  fftconv_status st;
  for (int i = 0; i < 2; i++) { /* the bundle first, then the cache */
    fc_store *store = i ? c->store : c->bundle;
    if (!store) continue;
    pthread_mutex_lock(&c->lock);
    st = plan_from_store(c, store, s, out, e);
    pthread_mutex_unlock(&c->lock);
    if (st != FFTCONV_OK || *out) return st;
  }
  if (c->policy == FFTCONV_POLICY_TUNED_ONLY || !c->hooks.miss) {
    if (c->hooks.no_kernel) return c->hooks.no_kernel(c, s, out, e);
    fc_str cmd = {0};
    fc_tune_command(&s->p, c->cache_path, &cmd);
    if (s->op != FC_OP_FORWARD) fc_str_add(&cmd, " --op %s", fc_op_name(s->op));
    fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "no tuned kernel for %s on %s in %s%s%scache %s (%s); "
            "run: %s", s->key, c->device, c->bundle ? "bundle " : "",
            c->bundle ? c->bundle_desc : "", c->bundle ? " or " : "", c->cache_desc,
            c->hooks.miss ? "tuned kernels only" : "this program plans from the cache only",
            cmd.s ? cmd.s : "fftconv-tune");
    fc_str_free(&cmd);
    return FFTCONV_ERR_UNSUPPORTED;
  }
  pthread_mutex_lock(&c->lock); /* the policies share the context's template engine */
  st = c->hooks.miss(c, s, out, e);
  pthread_mutex_unlock(&c->lock);
  return st;
}

/* The backward of forward plan pl, found or built as the forward was; its absence is kept
   with the reason, not returned: the forward plan stands. Then the description of both. */
static fftconv_status attach_backward(fftconv_ctx *c, const fftconv_problem *p,
                                      fftconv_plan *pl) {
  fc_err be = {{0}};
  fc_shape bs;
  fftconv_status st = fc_ctx_shape_op(c, FC_OP_BACKWARD, p, &bs, &be);
  if (st == FFTCONV_OK) st = plan_for_shape(c, &bs, &pl->bwd, &be);
  fc_str d = {0};
  fc_str_add(&d, "%s; backward: ", pl->describe);
  if (st == FFTCONV_OK) {
    if (strcmp(pl->bwd->manifest.filter_layout, pl->manifest.filter_layout)) {
      int64_t f = fc_manifest_filter_bytes(&pl->manifest, pl->shape.p.heads);
      pl->bwd_khat_offset = fc_workspace_align(f);
    }
    fc_str_add(&d, "%s", pl->bwd->describe);
  } else {
    pl->bwd_status = st;
    pl->bwd_why = strdup(be.msg);
    fc_str_add(&d, "none (%s)", be.msg);
  }
  if (!d.s || (st != FFTCONV_OK && !pl->bwd_why)) {
    fc_str_free(&d);
    return fc_fail(&thread_err, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  free(pl->describe);
  pl->describe = d.s;
  return FFTCONV_OK;
}

fftconv_status fftconv_plan_create(fftconv_ctx *c, const fftconv_problem *p, fftconv_plan **out) {
  fc_err *e = &thread_err;
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "out: NULL");
  *out = NULL;
  if (!c) return fc_fail(e, FFTCONV_ERR_INVALID, "ctx: NULL");
  fc_shape s;
  fftconv_status st = fc_ctx_shape(c, p, &s, e);
  if (st == FFTCONV_OK) st = fc_gpu_bind(&c->gpu, e); /* this thread may be new to the device */
  if (st == FFTCONV_OK) st = plan_for_shape(c, &s, out, e);
  if (st == FFTCONV_OK && (st = attach_backward(c, p, *out)) != FFTCONV_OK) {
    fftconv_plan_destroy(*out);
    *out = NULL;
  }
  return st;
}

void fftconv_plan_destroy(fftconv_plan *p) {
  if (!p) return;
  fftconv_plan_destroy(p->bwd);
  if (p->owns_module) fc_module_unload(&p->mod);
  free(p->params);
  free(p->describe);
  free(p->bwd_why);
  free(p);
}

const char *fftconv_plan_describe(const fftconv_plan *p) { return p ? p->describe : ""; }

size_t fftconv_plan_filter_bytes(const fftconv_plan *p) {
  if (!p) return 0;
  int64_t heads = p->shape.p.heads;
  if (p->bwd && p->bwd_khat_offset)
    return (size_t)(p->bwd_khat_offset + fc_manifest_filter_bytes(&p->bwd->manifest, heads));
  return (size_t)fc_manifest_filter_bytes(&p->manifest, heads);
}

size_t fftconv_plan_workspace_bytes(const fftconv_plan *p) {
  return p ? (size_t)fc_manifest_workspace_bytes(&p->manifest, p->shape.rows,
                                                 p->shape.p.heads)
           : 0;
}

/* Both directions' layouts, or (both = 0) the forward's alone. */
static fftconv_status prepare(const fftconv_plan *p, const void *k, const void *d, void *k_hat,
                              fftconv_stream s, int both) {
  fc_err *e = &thread_err;
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "plan: NULL");
  if (!k) return fc_fail(e, FFTCONV_ERR_INVALID, "k: NULL (the (H, K) fp32 filter is required)");
  if (!k_hat) return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat: NULL");
  if (p->shape.p.skip_d && !d)
    return fc_fail(e, FFTCONV_ERR_INVALID, "d: NULL but the problem has the D term (skip_d)");
  if (!p->shape.p.skip_d) d = NULL;
  fc_buffers b = {{0}};
  b.p[FC_ARG_K] = (CUdeviceptr)k;
  b.p[FC_ARG_D] = (CUdeviceptr)d;
  b.p[FC_ARG_KHAT] = (CUdeviceptr)k_hat;
  fftconv_status st = fc_gpu_bind(&p->ctx->gpu, e);
  if (st == FFTCONV_OK)
    st = fc_launch_phase(&p->manifest, &p->mod, FC_PHASE_PREPARE, &p->shape, &b, 0,
                         (CUstream)s, e);
  if (st == FFTCONV_OK && both && p->bwd && p->bwd_khat_offset) { /* the backward's layout */
    b.p[FC_ARG_KHAT] = (CUdeviceptr)k_hat + (CUdeviceptr)p->bwd_khat_offset;
    st = fc_launch_phase(&p->bwd->manifest, &p->bwd->mod, FC_PHASE_PREPARE, &p->bwd->shape, &b,
                         0, (CUstream)s, e);
  }
  return st;
}

fftconv_status fftconv_prepare_filter(const fftconv_plan *p, const void *k, const void *d,
                                      void *k_hat, fftconv_stream s) {
  return prepare(p, k, d, k_hat, s, 1);
}

fftconv_status fftconv_prepare_filter_forward(const fftconv_plan *p, const void *k,
                                              const void *d, void *k_hat, fftconv_stream s) {
  return prepare(p, k, d, k_hat, s, 0);
}

size_t fftconv_plan_forward_filter_bytes(const fftconv_plan *p) {
  return p ? (size_t)fc_manifest_filter_bytes(&p->manifest, p->shape.p.heads) : 0;
}

fftconv_status fftconv_prepare_filter_sized(const fftconv_plan *p, const void *k, const void *d,
                                            void *k_hat, size_t k_hat_bytes, fftconv_stream s) {
  fc_err *e = &thread_err;
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "plan: NULL");
  size_t need = fftconv_plan_filter_bytes(p);
  if (k_hat_bytes < need)
    return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat_bytes: %zu, must be at least "
                   "fftconv_plan_filter_bytes (%zu)", k_hat_bytes, need);
  fftconv_status st = fftconv_prepare_filter(p, k, d, k_hat, s);
  if (st != FFTCONV_OK) return st;
  CUdeviceptr base = (CUdeviceptr)k_hat;
  size_t fwd = (size_t)fc_manifest_filter_bytes(&p->manifest, p->shape.p.heads);
  if (p->bwd && p->bwd_khat_offset && (size_t)p->bwd_khat_offset > fwd)
    FC_CU(e, fc_cu.MemsetD8Async(base + fwd, 0, (size_t)p->bwd_khat_offset - fwd, (CUstream)s));
  if (k_hat_bytes > need)
    FC_CU(e, fc_cu.MemsetD8Async(base + need, 0, k_hat_bytes - need, (CUstream)s));
  return FFTCONV_OK;
}

/* fftconv_forward's checks of p and a. */
static fftconv_status check_forward(const fftconv_plan *p, const fftconv_args *a, fc_err *e) {
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "plan: NULL");
  if (!a) return fc_fail(e, FFTCONV_ERR_INVALID, "args: NULL");
  if (a->size != sizeof *a)
    return fc_fail(e, FFTCONV_ERR_INVALID, "args: size is %zu, this library's fftconv_args "
                   "has %zu bytes (start from fftconv_args_init)", a->size, sizeof *a);
  if (p->shape.op != FC_OP_FORWARD)
    return fc_fail(e, FFTCONV_ERR_INVALID, "plan: its kernel computes %s, not forward",
                   fc_op_name(p->shape.op));
  if (!a->u) return fc_fail(e, FFTCONV_ERR_INVALID, "u: NULL");
  if (!a->y) return fc_fail(e, FFTCONV_ERR_INVALID, "y: NULL");
  if (!a->k_hat) return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat: NULL (see fftconv_prepare_filter)");
  if (p->shape.p.pre_gate && !a->pre)
    return fc_fail(e, FFTCONV_ERR_INVALID, "pre: NULL but the problem has a pre gate");
  if (p->shape.p.post_gate && !a->post)
    return fc_fail(e, FFTCONV_ERR_INVALID, "post: NULL but the problem has a post gate");
  size_t need = fftconv_plan_workspace_bytes(p);
  if (need && (!a->workspace || a->workspace_bytes < need))
    return fc_fail(e, FFTCONV_ERR_INVALID, "workspace: %s %zu bytes, the plan needs %zu (see "
                   "fftconv_plan_workspace_bytes)", a->workspace ? "has" : "NULL,",
                   a->workspace ? a->workspace_bytes : 0, need);
  return FFTCONV_OK;
}

fftconv_status fftconv_forward(const fftconv_plan *p, const fftconv_args *a, fftconv_stream s) {
  fc_err *e = &thread_err;
  fftconv_status st = check_forward(p, a, e);
  return st == FFTCONV_OK ? fc_plan_launch(p, a, -1, (CUstream)s, e) : st;
}

/* The manifest index of the forward's launch i, or -1. */
static int forward_launch(const fftconv_plan *p, int i) {
  for (int j = 0, n = 0; p && i >= 0 && j < p->manifest.nlaunch; j++)
    if (p->manifest.launch[j].phase == FC_PHASE_FORWARD && n++ == i) return j;
  return -1;
}

int fftconv_plan_forward_launches(const fftconv_plan *p) {
  int n = 0;
  for (int j = 0; p && j < p->manifest.nlaunch; j++)
    n += p->manifest.launch[j].phase == FC_PHASE_FORWARD;
  return n;
}

const char *fftconv_plan_launch_name(const fftconv_plan *p, int i) {
  int j = forward_launch(p, i);
  return j < 0 ? NULL : p->manifest.launch[j].entry;
}

int64_t fftconv_plan_launch_bytes(const fftconv_plan *p, int i) {
  int j = forward_launch(p, i);
  return j < 0 ? -1 : fc_manifest_launch_bytes(&p->manifest, j, &p->shape);
}

fftconv_status fftconv_forward_launch(const fftconv_plan *p, const fftconv_args *a, int i,
                                      fftconv_stream s) {
  fc_err *e = &thread_err;
  fftconv_status st = check_forward(p, a, e);
  if (st != FFTCONV_OK) return st;
  int j = forward_launch(p, i), n = fftconv_plan_forward_launches(p);
  if (j < 0)
    return fc_fail(e, FFTCONV_ERR_INVALID, "launch: %d, must be 0 to %d (the forward runs %d)",
                   i, n - 1, n);
  return fc_plan_launch(p, a, j, (CUstream)s, e);
}

fftconv_status fc_plan_launch(const fftconv_plan *p, const fftconv_args *a, int only,
                              CUstream s, fc_err *e) {
  fc_buffers b = {{0}};
  b.p[FC_ARG_U] = (CUdeviceptr)a->u;
  b.p[FC_ARG_PRE] = p->shape.p.pre_gate ? (CUdeviceptr)a->pre : 0;
  b.p[FC_ARG_POST] = p->shape.p.post_gate ? (CUdeviceptr)a->post : 0;
  b.p[FC_ARG_KHAT] = (CUdeviceptr)a->k_hat;
  b.p[FC_ARG_Y] = (CUdeviceptr)a->y;
  fftconv_status st = fc_gpu_bind(&p->ctx->gpu, e);
  if (st != FFTCONV_OK) return st;
  if (only >= 0)
    return fc_launch_only(&p->manifest, &p->mod, only, &p->shape, &b,
                          (CUdeviceptr)a->workspace, s, e);
  return fc_launch_phase(&p->manifest, &p->mod, FC_PHASE_FORWARD, &p->shape, &b,
                         (CUdeviceptr)a->workspace, s, e);
}

/* The plan that runs p's backward: p itself when its kernel is a backward one. */
static const fftconv_plan *backward_of(const fftconv_plan *p) {
  return p->shape.op == FC_OP_BACKWARD ? p : p->bwd;
}

fftconv_status fftconv_plan_backward_status(const fftconv_plan *p) {
  fc_err *e = &thread_err;
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "plan: NULL");
  if (backward_of(p)) return FFTCONV_OK;
  return fc_fail(e, p->bwd_status ? p->bwd_status : FFTCONV_ERR_UNSUPPORTED,
                 "plan has no backward kernel: %s", p->bwd_why ? p->bwd_why : "not planned");
}

size_t fftconv_plan_backward_workspace_bytes(const fftconv_plan *p) {
  const fftconv_plan *b = p ? backward_of(p) : NULL;
  return b ? (size_t)fc_manifest_workspace_bytes(&b->manifest, b->shape.rows,
                                                 b->shape.p.heads)
           : 0;
}

/* The first output asked for that needs u (dpre, dpost, dk and dd do; du does not), or NULL:
   without one, u is neither required nor read. */
static const char *output_needing_u(const fftconv_backward_args *a) {
  return a->dpre ? "dpre" : a->dpost ? "dpost" : a->dk ? "dk" : a->dd ? "dd" : NULL;
}

/* The backward's arguments against the problem: each output asked for has what it needs. */
static fftconv_status check_backward_args(const fftconv_problem *pr,
                                          const fftconv_backward_args *a, fc_err *e) {
  if (!a->dy) return fc_fail(e, FFTCONV_ERR_INVALID, "dy: NULL (the gradient of y is required)");
  if (!a->k_hat)
    return fc_fail(e, FFTCONV_ERR_INVALID, "k_hat: NULL (see fftconv_prepare_filter)");
  if (a->dpre && !pr->pre_gate)
    return fc_fail(e, FFTCONV_ERR_INVALID, "dpre: asked for, but the problem has no pre gate");
  if (a->dpost && !pr->post_gate)
    return fc_fail(e, FFTCONV_ERR_INVALID, "dpost: asked for, but the problem has no post gate");
  if (a->dd && !pr->skip_d)
    return fc_fail(e, FFTCONV_ERR_INVALID, "dd: asked for, but the problem has no D term "
                   "(skip_d)");
  const char *needs_u = output_needing_u(a);
  if (needs_u && !a->u)
    return fc_fail(e, FFTCONV_ERR_INVALID, "u: NULL, but %s is asked for and needs it", needs_u);
  if (pr->pre_gate && !a->pre && (a->du || needs_u))
    return fc_fail(e, FFTCONV_ERR_INVALID, "pre: NULL, but the problem has a pre gate and %s is "
                   "asked for", a->du ? "du" : needs_u);
  if (pr->post_gate && !a->post && (a->du || a->dpre || a->dk || a->dd))
    return fc_fail(e, FFTCONV_ERR_INVALID, "post: NULL, but the problem has a post gate and %s "
                   "is asked for", a->du ? "du" : a->dpre ? "dpre" : a->dk ? "dk" : "dd");
  return FFTCONV_OK;
}

fftconv_status fftconv_backward(const fftconv_plan *p, const fftconv_backward_args *a,
                                fftconv_stream s) {
  fc_err *e = &thread_err;
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "plan: NULL");
  if (!a) return fc_fail(e, FFTCONV_ERR_INVALID, "args: NULL");
  if (a->size != sizeof *a)
    return fc_fail(e, FFTCONV_ERR_INVALID, "args: size is %zu, this library's "
                   "fftconv_backward_args has %zu bytes (start from fftconv_backward_args_init)",
                   a->size, sizeof *a);
  const fftconv_plan *b = backward_of(p);
  if (!b) return fftconv_plan_backward_status(p);
  fftconv_status st = check_backward_args(&p->shape.p, a, e);
  if (st != FFTCONV_OK) return st;
  if (!a->du && !a->dpre && !a->dpost && !a->dk && !a->dd) return FFTCONV_OK; /* nothing asked */
  size_t need = fftconv_plan_backward_workspace_bytes(p);
  if (need && (!a->workspace || a->workspace_bytes < need))
    return fc_fail(e, FFTCONV_ERR_INVALID, "workspace: %s %zu bytes, the backward needs %zu (see "
                   "fftconv_plan_backward_workspace_bytes)", a->workspace ? "has" : "NULL,",
                   a->workspace ? a->workspace_bytes : 0, need);
  const fftconv_problem *pr = &p->shape.p;
  fc_buffers buf = {{0}};
  buf.p[FC_ARG_U] = output_needing_u(a) ? (CUdeviceptr)a->u : 0;
  buf.p[FC_ARG_PRE] = pr->pre_gate ? (CUdeviceptr)a->pre : 0;
  buf.p[FC_ARG_POST] = pr->post_gate ? (CUdeviceptr)a->post : 0;
  buf.p[FC_ARG_DY] = (CUdeviceptr)a->dy;
  buf.p[FC_ARG_KHAT] = (CUdeviceptr)a->k_hat + (CUdeviceptr)(b == p ? 0 : p->bwd_khat_offset);
  buf.p[FC_ARG_DU] = (CUdeviceptr)a->du;
  buf.p[FC_ARG_DPRE] = (CUdeviceptr)a->dpre;
  buf.p[FC_ARG_DPOST] = (CUdeviceptr)a->dpost;
  buf.p[FC_ARG_DK] = (CUdeviceptr)a->dk;
  buf.p[FC_ARG_DD] = (CUdeviceptr)a->dd;
  if ((st = fc_gpu_bind(&p->ctx->gpu, e)) != FFTCONV_OK) return st;
  return fc_launch_phase(&b->manifest, &b->mod, FC_PHASE_BACKWARD, &b->shape, &buf,
                         (CUdeviceptr)a->workspace, (CUstream)s, e);
}
