/* problem: the canonical problem descriptor, its validation, its resolved shape, its cache
 * key, and the sizes the families of this build run. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "families.h"
#include "fftconv.h"
#include "shape.h"

/* The families of the build (families.h, from their declarations): the smallest or largest
   FFT size of those that run dtype (-1: any) on sm (0: any). */
static int64_t supported(int dtype, int sm, int want_max) {
  int64_t best = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *f = &fc_families[i];
    if ((dtype >= 0 && !(f->dtypes & 1u << dtype)) || (sm && sm < f->min_sm)) continue;
    int64_t v = want_max ? f->max_n : f->min_n;
    if (!best || (want_max ? v > best : v < best)) best = v;
  }
  return best;
}

int64_t fc_supported_min_n(int dtype, int sm) { return supported(dtype, sm, 0); }
int64_t fc_supported_max_n(int dtype, int sm) { return supported(dtype, sm, 1); }

void fftconv_problem_init(fftconv_problem *p) {
  memset(p, 0, sizeof *p);
  p->size = sizeof *p;
  p->batch = 1;
  p->heads = 1;
  p->seqlen = 1024;
  p->dtype = FFTCONV_FP32;
  p->mode = FFTCONV_CAUSAL;
}

static int is_pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

int64_t fc_filter_len(const fftconv_problem *p) {
  return p->filter_len == 0 ? p->seqlen : p->filter_len;
}

/* The FFT size of a problem whose seqlen and filter_len are in range. */
static int64_t fft_size(const fftconv_problem *p, int64_t min_n) {
  if (p->mode == FFTCONV_CIRCULAR) return p->seqlen;
  int64_t need = p->seqlen + fc_filter_len(p) - 1, n = min_n;
  while (n < need) n *= 2;
  return n;
}

int64_t fc_fft_size_of(const fftconv_problem *p) {
  return fft_size(p, fc_supported_min_n(p->dtype, 0));
}

int64_t fftconv_problem_fft_size(const fftconv_problem *p) {
  if (fftconv_problem_check(p, NULL, 0) != FFTCONV_OK) return 0;
  return fc_fft_size_of(p);
}

#define BAD(...)                                     \
  do {                                               \
    if (msg) snprintf(msg, msglen, __VA_ARGS__);     \
    return FFTCONV_ERR_INVALID;                      \
  } while (0)

fftconv_status fftconv_problem_check(const fftconv_problem *p, char *msg, size_t msglen) {
  if (!p) BAD("problem: NULL");
  if (p->size != sizeof *p)
    BAD("problem: size is %zu, this library's fftconv_problem has %zu bytes (start from "
        "fftconv_problem_init)", p->size, sizeof *p);
  if (p->batch < 1) BAD("batch: %" PRId64 " is out of range (must be >= 1)", p->batch);
  if (p->heads < 1) BAD("heads: %" PRId64 " is out of range (must be >= 1)", p->heads);
  /* The kernels take H as a 32-bit int (launch.c); a larger one would reach them cut. */
  if (p->heads > INT32_MAX)
    BAD("heads: %" PRId64 " is out of range (1 to 2147483647: the kernels take H as a 32-bit "
        "int)", p->heads);
  if (p->batch > INT64_MAX / p->heads || p->batch * p->heads > (INT64_C(1) << 40))
    BAD("batch x heads: %" PRId64 " x %" PRId64 " is too many rows (at most 2^40)", p->batch,
        p->heads);
  if ((unsigned)p->dtype > FFTCONV_BF16)
    BAD("dtype: %d is not one of fp32, fp16, bf16", (int)p->dtype);
  if ((unsigned)p->mode > FFTCONV_CIRCULAR)
    BAD("mode: %d is not one of causal, circular", (int)p->mode);
  if (p->seqlen < 1) BAD("seqlen: %" PRId64 " is out of range (must be >= 1)", p->seqlen);
  /* The range is what this build's families run for the dtype (shape.h). */
  int64_t min_n = fc_supported_min_n(p->dtype, 0), max_n = fc_supported_max_n(p->dtype, 0);
  if (p->mode == FFTCONV_CIRCULAR) {
    if (!is_pow2(p->seqlen) || p->seqlen < min_n || p->seqlen > max_n)
      BAD("seqlen: %" PRId64 " is not supported in circular mode (a power of two from %" PRId64
          " to %" PRId64 ")", p->seqlen, min_n, max_n);
  } else if (p->seqlen > max_n / 2) {
    BAD("seqlen: %" PRId64 " is out of range in causal mode (1 to %" PRId64 ": the FFT size 2L "
        "must be at most %" PRId64 ")", p->seqlen, max_n / 2, max_n);
  }
  if (p->filter_len < 0 || p->filter_len > p->seqlen)
    BAD("filter_len: %" PRId64 " is out of range (1 to seqlen = %" PRId64 ", or 0 for seqlen)",
        p->filter_len, p->seqlen);
  int64_t n = fft_size(p, min_n);
  if (p->freq_keep < 0 || p->freq_keep > n / 2 + 1)
    BAD("freq_keep: %" PRId64 " is out of range (1 to N/2 + 1 = %" PRId64
        " for FFT size N = %" PRId64 ", or 0 for all)", p->freq_keep, n / 2 + 1, n);
  /* Every byte count of the problem is an int64 (fc_problem_device_bytes, a kernel's workspace
     of rows x bytes a row, the memory floor): B x H x L elements, at most 2^40 x 2^22 by the
     checks above, could pass 2^63 once counted in bytes. 2^48 elements (a tensor of 512 TiB
     in fp16) is beyond any device and leaves every such count far from overflow. */
  int64_t elems;
  if (__builtin_mul_overflow(p->batch * p->heads, p->seqlen, &elems) || elems > FC_MAX_ELEMENTS)
    BAD("batch x heads x seqlen: %" PRId64 " x %" PRId64 " x %" PRId64 " is more than 2^48 "
        "elements (the most a problem may have, so that its sizes in bytes fit in 64 bits)",
        p->batch, p->heads, p->seqlen);
  if ((p->pre_gate | p->post_gate | p->skip_d) & ~1)
    BAD("gate flags: pre_gate=%d post_gate=%d skip_d=%d (each must be 0 or 1)", p->pre_gate,
        p->post_gate, p->skip_d);
  return FFTCONV_OK;
}

const char *fc_op_name(fc_op op) { return op == FC_OP_FORWARD ? "forward" : "?"; }

int fc_op_find(const char *name) {
  for (int op = 0; name && op < FC_OP_COUNT; op++)
    if (!strcmp(name, fc_op_name((fc_op)op))) return op;
  return -1;
}

fftconv_status fc_shape_resolve(const fftconv_problem *p, fc_op op, fc_shape *s, fc_err *e) {
  memset(s, 0, sizeof *s);
  fftconv_status st = fftconv_problem_check(p, e ? e->msg : NULL, e ? sizeof e->msg : 0);
  if (st != FFTCONV_OK) return st;
  if ((unsigned)op >= FC_OP_COUNT) return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", op);
  s->p = *p;
  s->op = op;
  s->K = s->p.filter_len = fc_filter_len(p);
  s->N = fc_fft_size_of(p);
  s->rows = p->batch * p->heads;
  int n = 0;
  if (op != FC_OP_FORWARD) n = snprintf(s->key, sizeof s->key, "%s:", fc_op_name(op));
  fftconv_problem_key(p, s->key + n, sizeof s->key - (size_t)n);
  return FFTCONV_OK;
}

int fftconv_problem_key(const fftconv_problem *p, char *buf, size_t len) {
  return snprintf(buf, len, "B%" PRId64 ".H%" PRId64 ".L%" PRId64 ".K%" PRId64 ".F%" PRId64
                  ".%s.%s.%s.%s.%s", p->batch, p->heads, p->seqlen, fc_filter_len(p), p->freq_keep,
                  fftconv_dtype_name(p->dtype), fftconv_mode_name(p->mode),
                  p->pre_gate ? "pre" : "nopre", p->post_gate ? "post" : "nopost",
                  p->skip_d ? "d" : "nod");
}

const char *fftconv_dtype_name(fftconv_dtype d) {
  static const char *names[] = {"fp32", "fp16", "bf16"};
  return (unsigned)d <= FFTCONV_BF16 ? names[d] : "?";
}

const char *fftconv_mode_name(fftconv_mode m) {
  return m == FFTCONV_CAUSAL ? "causal" : m == FFTCONV_CIRCULAR ? "circular" : "?";
}

int fftconv_dtype_size(fftconv_dtype d) { return d == FFTCONV_FP32 ? 4 : 2; }

const char *fftconv_status_string(fftconv_status s) {
  static const char *names[] = {
      "ok", "invalid argument", "no CUDA driver", "no such device", "CUDA error",
      "compile error", "template error", "unsupported problem", "out of memory", "I/O error",
      "no compiler (NVRTC)"};
  return (unsigned)s <= FFTCONV_ERR_NO_COMPILER ? names[s] : "unknown status";
}
