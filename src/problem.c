/* problem: the canonical problem descriptor, its validation and its cache key. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fftconv.h"

#define FC_MIN_N 256
#define FC_MAX_N 32768

void fftconv_problem_init(fftconv_problem *p) {
  memset(p, 0, sizeof *p);
  p->batch = 1;
  p->heads = 1;
  p->seqlen = 1024;
  p->dtype = FFTCONV_FP32;
  p->mode = FFTCONV_CAUSAL;
}

static int is_pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

static int64_t filter_len(const fftconv_problem *p) {
  return p->filter_len == 0 ? p->seqlen : p->filter_len;
}

int64_t fftconv_problem_fft_size(const fftconv_problem *p) {
  if (fftconv_problem_check(p, NULL, 0) != FFTCONV_OK) return 0;
  if (p->mode == FFTCONV_CIRCULAR) return p->seqlen;
  int64_t need = p->seqlen + filter_len(p) - 1, n = FC_MIN_N;
  while (n < need) n *= 2;
  return n;
}

#define BAD(...)                                     \
  do {                                               \
    if (msg) snprintf(msg, msglen, __VA_ARGS__);     \
    return FFTCONV_ERR_INVALID;                      \
  } while (0)

fftconv_status fftconv_problem_check(const fftconv_problem *p, char *msg, size_t msglen) {
  if (!p) BAD("problem: NULL");
  if (p->batch < 1) BAD("batch: %" PRId64 " is out of range (must be >= 1)", p->batch);
  if (p->heads < 1) BAD("heads: %" PRId64 " is out of range (must be >= 1)", p->heads);
  if (p->batch > INT64_MAX / p->heads || p->batch * p->heads > (INT64_C(1) << 40))
    BAD("batch x heads: %" PRId64 " x %" PRId64 " is too many rows (at most 2^40)", p->batch,
        p->heads);
  if ((unsigned)p->dtype > FFTCONV_BF16)
    BAD("dtype: %d is not one of fp32, fp16, bf16", (int)p->dtype);
  if ((unsigned)p->mode > FFTCONV_CIRCULAR)
    BAD("mode: %d is not one of causal, circular", (int)p->mode);
  if (p->seqlen < 1) BAD("seqlen: %" PRId64 " is out of range (must be >= 1)", p->seqlen);
  if (p->mode == FFTCONV_CIRCULAR) {
    if (!is_pow2(p->seqlen) || p->seqlen < FC_MIN_N || p->seqlen > FC_MAX_N)
      BAD("seqlen: %" PRId64 " is not supported in circular mode (a power of two from %d to %d)",
          p->seqlen, FC_MIN_N, FC_MAX_N);
  } else if (p->seqlen > FC_MAX_N / 2) {
    BAD("seqlen: %" PRId64 " is out of range in causal mode (1 to %d: the FFT size 2L must be "
        "at most %d)", p->seqlen, FC_MAX_N / 2, FC_MAX_N);
  }
  if (p->filter_len < 0 || p->filter_len > p->seqlen)
    BAD("filter_len: %" PRId64 " is out of range (1 to seqlen = %" PRId64 ", or 0 for seqlen)",
        p->filter_len, p->seqlen);
  int64_t n = FC_MIN_N;
  if (p->mode == FFTCONV_CIRCULAR) {
    n = p->seqlen;
  } else {
    while (n < p->seqlen + filter_len(p) - 1) n *= 2;
  }
  if (p->freq_keep < 0 || p->freq_keep > n / 2 + 1)
    BAD("freq_keep: %" PRId64 " is out of range (1 to N/2 + 1 = %" PRId64
        " for FFT size N = %" PRId64 ", or 0 for all)", p->freq_keep, n / 2 + 1, n);
  if ((p->pre_gate | p->post_gate | p->skip_d) & ~1)
    BAD("gate flags: pre_gate=%d post_gate=%d skip_d=%d (each must be 0 or 1)", p->pre_gate,
        p->post_gate, p->skip_d);
  return FFTCONV_OK;
}

int fftconv_problem_key(const fftconv_problem *p, char *buf, size_t len) {
  return snprintf(buf, len, "B%" PRId64 ".H%" PRId64 ".L%" PRId64 ".K%" PRId64 ".F%" PRId64
                  ".%s.%s.%s.%s.%s", p->batch, p->heads, p->seqlen, filter_len(p), p->freq_keep,
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
