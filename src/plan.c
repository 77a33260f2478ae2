/* plan: contexts, plans, prepare_filter and forward. */
#include "plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TEMPLATE "monarch_fp32"

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
  if (o->arch) {
    c->sm = fc_parse_arch(o->arch);
    if (!c->sm) {
      fc_gpu_close(&c->gpu);
      free(c);
      return fc_fail(&create_err, FFTCONV_ERR_INVALID,
                     "arch: '%s' is not an architecture (expected sm_XY, e.g. sm_90)", o->arch);
    }
  }
  const fc_device_info *d = &c->gpu.info;
  snprintf(c->device, sizeof c->device, "%s (sm_%d, %d SMs, driver %d.%d)", d->name, d->sm,
           d->sms, d->driver_version / 1000, d->driver_version % 1000 / 10);
  *out = c;
  return FFTCONV_OK;
}

void fftconv_ctx_destroy(fftconv_ctx *c) {
  if (!c) return;
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

fftconv_status fc_plan_from_binary(fftconv_ctx *c, const fftconv_problem *p,
                                   const fc_kernel_src *src, const fc_binary *bin,
                                   const char *rung, fftconv_plan **out) {
  *out = NULL;
  fftconv_status st = check_for_device(c, p);
  if (st != FFTCONV_OK) return st;
  fftconv_plan *pl = calloc(1, sizeof *pl);
  if (!pl) return fc_fail(&c->err, FFTCONV_ERR_NOMEM, "out of host memory");
  pl->ctx = c;
  pl->prob = *p;
  pl->fft_size = fftconv_problem_fft_size(p);
  pl->rows = p->batch * p->heads;
  pl->layout = src->layout;
  snprintf(pl->tmpl, sizeof pl->tmpl, "%s", src->info.name);
  /* The parameters are the JSON on the header's "params:" line. */
  const char *ps = strstr(src->source, " * params: ");
  const char *pe = ps ? strchr(ps, '\n') : NULL;
  pl->params = ps && pe ? strndup(ps + 11, (size_t)(pe - ps - 11)) : strdup("{}");
  fc_str d = {0};
  fc_str_add(&d, "%s r%d (%s) %s [%s; sm_%d]", src->info.name, src->info.revision,
             src->info.hash, pl->params ? pl->params : "", rung, bin->sm);
  pl->describe = d.s;
  if (!pl->params || !pl->describe) {
    fftconv_plan_destroy(pl);
    return fc_fail(&c->err, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  if ((pl->rows + src->layout.seqs - 1) / src->layout.seqs > 0x7fffffff) {
    int64_t rows = pl->rows;
    fftconv_plan_destroy(pl);
    return fc_fail(&c->err, FFTCONV_ERR_UNSUPPORTED,
                   "batch x heads: %" PRId64 " rows need more than 2^31 - 1 blocks", rows);
  }
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

fftconv_status fftconv_plan_create(fftconv_ctx *c, const fftconv_problem *p, fftconv_plan **out) {
  if (!out) return FFTCONV_ERR_INVALID;
  *out = NULL;
  if (!c) return FFTCONV_ERR_INVALID;
  fftconv_status st = check_for_device(c, p);
  if (st != FFTCONV_OK) return st;
  fc_emit *em;
  if ((st = fc_ctx_emit(c, &em)) != FFTCONV_OK) return st;
  char *params = NULL;
  fc_kernel_src src = {0};
  fc_binary bin = {0};
  fc_device_info dev = c->gpu.info;
  dev.sm = c->sm;
  st = fc_emit_default(em, DEFAULT_TEMPLATE, p, &dev, &params, &c->err);
  if (st == FFTCONV_OK) st = fc_emit_kernel(em, DEFAULT_TEMPLATE, params, &dev, &src, &c->err);
  if (st == FFTCONV_OK) st = fc_compile(src.source, src.name, c->sm, 0, &bin, &c->err);
  if (st == FFTCONV_OK) st = fc_plan_from_binary(c, p, &src, &bin, "heuristic", out);
  free(params);
  fc_kernel_src_free(&src);
  fc_binary_free(&bin);
  return st;
}

void fftconv_plan_destroy(fftconv_plan *p) {
  if (!p) return;
  fc_module_unload(&p->mod);
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
