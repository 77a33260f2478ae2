/* fields: the table of fftconv_problem's fields (see fields.h) and the ranges that depend on
 * other fields. */
#include "fields.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shape.h"

static int is_pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

/* seqlen by mode: what this build's families run for the dtype and the filter (shape.h): the
   dense families any filter up to their largest FFT, the families with a taps limit (direct,
   overlap_tc) longer rows with a short filter. */
static int seqlen_check(const fftconv_problem *p, char *msg, size_t len) {
  int64_t min_n = fc_supported_min_n(p->dtype, 0), max_n = fc_supported_max_n(p->dtype, 0);
  /* filter_len is checked after seqlen: one out of range is taken as 1 tap here, so that its
     own check reports it */
  int64_t K = p->filter_len == 0 ? p->seqlen
              : p->filter_len >= 1 && p->filter_len <= p->seqlen ? p->filter_len : 1;
  int64_t taps = fc_taps_limit(p->dtype, (int)p->mode);
  int64_t max_k = fc_supported_max_n_taps(p->dtype, 0, (int)p->mode, K);
  int64_t max_t = taps ? fc_supported_max_n_taps(p->dtype, 0, (int)p->mode, taps) : 0;
  char more[160] = "";
  if (max_t > max_n) {
    int64_t most = p->mode == FFTCONV_CIRCULAR ? max_t : max_t / 2;
    snprintf(more, sizeof more, "; up to 2^%d with filter_len at most %" PRId64,
             63 - __builtin_clzll((unsigned long long)most), taps);
  }
  if (p->mode == FFTCONV_CIRCULAR) {
    if (!is_pow2(p->seqlen) || p->seqlen < min_n || p->seqlen > max_k) {
      if (msg)
        snprintf(msg, len, "seqlen: %" PRId64 " is not supported in circular mode (a power of "
                 "two from %" PRId64 " to %" PRId64 "%s)", p->seqlen, min_n, max_n, more);
      return 0;
    }
  } else {
    /* the dense families: L <= N/2 for their largest N, as they take any filter; past that, a
       family with a taps limit whose FFT sizes (the problem's) reach L + K - 1 */
    if (p->seqlen <= max_n / 2) return 1;
    if (max_k > max_n && p->seqlen <= max_k) {
      int64_t n = min_n;
      while (n < p->seqlen + K - 1 && n <= max_k) n *= 2;
      if (n <= max_k) return 1;
    }
    if (msg)
      snprintf(msg, len, "seqlen: %" PRId64 " is out of range in causal mode (1 to %" PRId64
               ": the FFT size 2L must be at most %" PRId64 "%s; filter_len is %" PRId64 ")",
               p->seqlen, max_n / 2, max_n, more, K);
    return 0;
  }
  return 1;
}

static int filter_len_check(const fftconv_problem *p, char *msg, size_t len) {
  if (p->filter_len >= 0 && p->filter_len <= p->seqlen) return 1;
  if (msg)
    snprintf(msg, len, "filter_len: %" PRId64 " is out of range (1 to seqlen = %" PRId64
             ", or 0 for seqlen)", p->filter_len, p->seqlen);
  return 0;
}

static int freq_keep_check(const fftconv_problem *p, char *msg, size_t len) {
  int64_t n = fc_fft_size_of(p);
  if (n > fc_supported_max_n(p->dtype, 0) && p->freq_keep != 0) {
    if (msg)
      snprintf(msg, len, "freq_keep: %" PRId64 " is out of range: must be 0 (all) when the FFT "
               "size N = %" PRId64 " is past %" PRId64 ", which only short and partial filters "
               "run", p->freq_keep, n, fc_supported_max_n(p->dtype, 0));
    return 0;
  }
  if (p->freq_keep >= 0 && p->freq_keep <= n / 2 + 1) return 1;
  if (msg)
    snprintf(msg, len, "freq_keep: %" PRId64 " is out of range (1 to N/2 + 1 = %" PRId64
             " for FFT size N = %" PRId64 ", or 0 for all)", p->freq_keep, n / 2 + 1, n);
  return 0;
}

#define AT(name) offsetof(fftconv_problem, name), sizeof ((fftconv_problem *)0)->name
#define DYN 1, 0 /* min > max: dyn_check checks the whole range */

const fc_field fc_fields[FC_NFIELDS] = {
    [FC_FIELD_batch] = {"batch", FC_FIELD_INT64, AT(batch), 1, INT64_MAX, NULL, ">= 1", NULL,
                        1, 8, "batch", "B", "batch size (default 8)", "batch", "B", NULL,
                        FC_RANK_DISTANCE},
    [FC_FIELD_heads] = {"heads", FC_FIELD_INT64, AT(heads), 1, INT32_MAX,
                        "the kernels take H as a 32-bit int", "1 to 2147483647", NULL, 1, 64,
                        "heads", "H", "heads, i.e. channels (default 64)", "heads", "H", NULL,
                        FC_RANK_DISTANCE},
    /* >= 1 first; the rest by mode, once dtype and mode are known to be valid */
    [FC_FIELD_seqlen] = {"seqlen", FC_FIELD_INT64, AT(seqlen), 1, INT64_MAX, NULL,
                         "circular: a power of two in [256, 4194304]; causal: at most 2097152 "
                         "(longer with a short or partial filter)",
                         seqlen_check, 1024, 0, "seqlen", "L", "sequence length", "seqlen",
                         "L", NULL, FC_RANK_DISTANCE},
    [FC_FIELD_filter_len] = {"filter_len", FC_FIELD_INT64, AT(filter_len), DYN, NULL,
                             "1 to seqlen, or 0 for seqlen", filter_len_check, 0, 0,
                             "filter-len", "K", "filter length, 1..L (default L)",
                             "filter_len", "K", NULL, FC_RANK_FULL},
    [FC_FIELD_freq_keep] = {"freq_keep", FC_FIELD_INT64, AT(freq_keep), DYN, NULL,
                            "1 to N/2 + 1, or 0 for all", freq_keep_check, 0, 0, "freq-keep",
                            "F", "keep the lowest F frequency bins of the filter (default all)",
                            "freq_keep", "F", NULL, FC_RANK_MATCH},
    [FC_FIELD_dtype] = {"dtype", FC_FIELD_DTYPE, AT(dtype), FFTCONV_FP32, FFTCONV_BF16, NULL,
                        "fp32, fp16, bf16", NULL, FFTCONV_FP32, FFTCONV_FP16, "dtype", "T",
                        "I/O dtype: fp32, fp16 or bf16 (default fp16)", "dtype", NULL, NULL,
                        FC_RANK_MATCH},
    [FC_FIELD_mode] = {"mode", FC_FIELD_MODE, AT(mode), FFTCONV_CAUSAL, FFTCONV_CIRCULAR, NULL,
                       "causal, circular", NULL, FFTCONV_CAUSAL, FFTCONV_CAUSAL, "mode", "M",
                       "causal (FFT size >= L+K-1) or circular (FFT size L) (default causal)",
                       "mode", NULL, NULL, FC_RANK_MATCH},
    [FC_FIELD_pre_gate] = {"pre_gate", FC_FIELD_FLAG, AT(pre_gate), 0, 1, NULL, "0 or 1", NULL,
                           0, 0, "pregate", NULL, "multiply u by a pre gate", "pre_gate",
                           "pre", "nopre", FC_RANK_MATCH},
    [FC_FIELD_post_gate] = {"post_gate", FC_FIELD_FLAG, AT(post_gate), 0, 1, NULL, "0 or 1",
                            NULL, 0, 0, "postgate", NULL, "multiply the result by a post gate",
                            "post_gate", "post", "nopost", FC_RANK_MATCH},
    [FC_FIELD_skip_d] = {"skip_d", FC_FIELD_FLAG, AT(skip_d), 0, 1, NULL, "0 or 1", NULL, 0, 0,
                         "skip-d", NULL, "add the D * u skip term", "skip_d", "d", "nod",
                         FC_RANK_MATCH},
};

const fc_field *fc_field_find(const char *name) {
  for (int i = 0; name && i < FC_NFIELDS; i++)
    if (!strcmp(fc_fields[i].name, name)) return &fc_fields[i];
  return NULL;
}

const fc_field *fc_field_by_flag(const char *flag) {
  for (int i = 0; flag && i < FC_NFIELDS; i++)
    if (!strcmp(fc_fields[i].flag, flag)) return &fc_fields[i];
  return NULL;
}

int64_t fc_field_get(const fftconv_problem *p, const fc_field *f) {
  const char *at = (const char *)p + f->offset;
  if (f->type == FC_FIELD_INT64) return *(const int64_t *)at;
  if (f->type == FC_FIELD_FLAG) return *(const int *)at;
  if (f->type == FC_FIELD_DTYPE) return (int64_t)*(const fftconv_dtype *)at;
  return (int64_t)*(const fftconv_mode *)at;
}

void fc_field_set(fftconv_problem *p, const fc_field *f, int64_t v) {
  char *at = (char *)p + f->offset;
  if (f->type == FC_FIELD_INT64) *(int64_t *)at = v;
  else if (f->type == FC_FIELD_FLAG) *(int *)at = (int)v;
  else if (f->type == FC_FIELD_DTYPE) *(fftconv_dtype *)at = (fftconv_dtype)v;
  else *(fftconv_mode *)at = (fftconv_mode)v;
}

int64_t fc_field_resolved(const fftconv_problem *p, const fc_field *f) {
  return f == &fc_fields[FC_FIELD_filter_len] ? fc_filter_len(p) : fc_field_get(p, f);
}

const char *fc_field_enum_name(const fc_field *f, int64_t v) {
  if (f->type == FC_FIELD_DTYPE) return fftconv_dtype_name((fftconv_dtype)v);
  if (f->type == FC_FIELD_MODE) return fftconv_mode_name((fftconv_mode)v);
  return NULL;
}

int fc_field_enum_find(const fc_field *f, const char *name, int64_t *v) {
  if (f->type != FC_FIELD_DTYPE && f->type != FC_FIELD_MODE) return 0;
  for (int64_t i = f->min; name && i <= f->max; i++)
    if (!strcmp(fc_field_enum_name(f, i), name)) {
      *v = i;
      return 1;
    }
  return 0;
}

const char *fc_field_enum_list(const fc_field *f, char *buf, size_t len) {
  size_t n = 0;
  if (len) buf[0] = 0;
  for (int64_t i = f->min; i <= f->max && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i > f->min ? ", " : "",
                          fc_field_enum_name(f, i));
  return buf;
}

void fc_fields_json(const fftconv_problem *p, fc_str *b) {
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    int64_t v = fc_field_get(p, f);
    fc_str_add(b, "%s\"%s\":", i ? "," : "{", f->json);
    if (f->type == FC_FIELD_DTYPE || f->type == FC_FIELD_MODE)
      fc_str_add(b, "\"%s\"", fc_field_enum_name(f, v));
    else
      fc_str_add(b, "%" PRId64, v);
  }
  fc_str_add(b, "}");
}

void fc_fields_flags(const fftconv_problem *p, fc_str *b) {
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    int64_t v = fc_field_get(p, f);
    if (f->type == FC_FIELD_FLAG) {
      if (v) fc_str_add(b, " --%s", f->flag);
    } else if (f->type == FC_FIELD_DTYPE || f->type == FC_FIELD_MODE) {
      fc_str_add(b, " --%s %s", f->flag, fc_field_enum_name(f, v));
    } else {
      fftconv_problem z = *p; /* a value that resolves as 0 does is the default: left out */
      fc_field_set(&z, f, 0);
      if (fc_field_resolved(p, f) != fc_field_resolved(&z, f))
        fc_str_add(b, " --%s %" PRId64, f->flag, v);
    }
  }
}
