/* problem: the canonical problem descriptor, its validation, its resolved shape, its cache
 * key, and the sizes the families of this build run. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "families.h"
#include "fftconv.h"
#include "fields.h"
#include "kernel.h"
#include "shape.h"

/* The families of the build (families.h, from their declarations): the smallest or largest
   FFT size of those that run dtype (-1: any) on sm (0: any) in mode (-1: any) a filter of K
   taps (0: those that run any filter, and no others). */
static int64_t supported(int dtype, int sm, int want_max, int mode, int64_t K) {
  int64_t best = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *f = &fc_families[i];
    if ((dtype >= 0 && !(f->dtypes & 1u << dtype)) || (sm && sm < f->min_sm)) continue;
    if ((mode >= 0 && !(f->modes & 1u << mode)) || (f->max_taps && (!K || K > f->max_taps)))
      continue;
    int64_t v = want_max ? f->max_n : f->min_n;
    if (!best || (want_max ? v > best : v < best)) best = v;
  }
  return best;
}

int64_t fc_supported_min_n(int dtype, int sm) { return supported(dtype, sm, 0, -1, 0); }
int64_t fc_supported_max_n(int dtype, int sm) { return supported(dtype, sm, 1, -1, 0); }
int64_t fc_supported_max_n_taps(int dtype, int sm, int mode, int64_t K) {
  return supported(dtype, sm, 1, mode, K);
}

int64_t fc_taps_limit(int dtype, int mode) {
  int64_t most = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *f = &fc_families[i];
    if (f->max_taps > most && f->dtypes & 1u << dtype && f->modes & 1u << mode) most = f->max_taps;
  }
  return most;
}

int64_t fc_bound_n(const fftconv_problem *p, int64_t n) {
  return n > fc_supported_max_n(p->dtype, 0) ? FC_TAPS_FAMILY_MAX_N : n;
}

void fftconv_problem_init(fftconv_problem *p) {
  memset(p, 0, sizeof *p);
  p->size = sizeof *p;
  for (int i = 0; i < FC_NFIELDS; i++) fc_field_set(p, &fc_fields[i], fc_fields[i].init_default);
}

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

/* Every count below is far inside int64: a checked problem has B*H*L <= 2^48. */
size_t fftconv_problem_filter_bytes(const fftconv_problem *p) {
  if (fftconv_problem_check(p, NULL, 0) != FFTCONV_OK) return 0;
  int64_t n = fc_bound_n(p, fc_fft_size_of(p)), h = p->heads;
  /* the forward's layout, then the backward's when it is another (plan.c, attach_backward) */
  int64_t fwd = FC_FILTER_FIXED_MAX(n) + h * FC_FILTER_PER_HEAD_MAX(FC_OP_FORWARD, n);
  int64_t bwd = FC_FILTER_FIXED_MAX(n) + h * FC_FILTER_PER_HEAD_MAX(FC_OP_BACKWARD, n);
  return (size_t)(fc_workspace_align(fwd) + bwd);
}

/* The most workspace any kernel of op (FC_OP_FORWARD or FC_OP_BACKWARD) may ask for at FFT
   size n: what fftconv_problem_workspace_bytes promises and plan creation holds to. */
static int64_t workspace_most(const fftconv_problem *p, int op, int64_t n, int64_t rows,
                              int64_t heads) {
  if (n > fc_supported_max_n(p->dtype, 0)) /* only the families with a taps limit run it */
    return op == FC_OP_FORWARD
               ? 0 /* one region, aligned as a manifest's regions are */
               : fc_workspace_align(rows * FC_TAPS_WORKSPACE_PER_ROW_MAX(p->seqlen, fc_filter_len(p)));
  return FC_WORKSPACE_FIXED_MAX(op, n) + rows * FC_WORKSPACE_PER_ROW_MAX(op, n) +
         heads * FC_WORKSPACE_PER_HEAD_MAX(op, n);
}

int64_t fc_workspace_most_one_row(const fftconv_problem *p, int op) {
  if (fftconv_problem_check(p, NULL, 0) != FFTCONV_OK) return 0;
  return workspace_most(p, op == FC_OP_FORWARD ? FC_OP_FORWARD : FC_OP_BACKWARD,
                        fc_fft_size_of(p), 1, 1);
}

size_t fftconv_problem_workspace_bytes(const fftconv_problem *p, fftconv_op op) {
  if (fftconv_problem_check(p, NULL, 0) != FFTCONV_OK) return 0;
  if (op != FFTCONV_OP_FORWARD && op != FFTCONV_OP_BACKWARD) return 0;
  int o = op == FFTCONV_OP_FORWARD ? FC_OP_FORWARD : FC_OP_BACKWARD;
  return (size_t)workspace_most(p, o, fc_fft_size_of(p), p->batch * p->heads, p->heads);
}

int fc_manifest_within_bounds(const fc_manifest *m, int op, const fc_shape *s, fc_err *e) {
  int64_t n = fc_bound_n(&s->p, s->N), o = op == FC_OP_FORWARD ? FC_OP_FORWARD : FC_OP_BACKWARD;
  if (m->filter_fixed > FC_FILTER_FIXED_MAX(n) ||
      m->filter_per_head > FC_FILTER_PER_HEAD_MAX(o, n)) {
    fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "its filter spectrum (%" PRId64 " B + %" PRId64
            " B a head) is more than fftconv_problem_filter_bytes promises for N = %" PRId64
            " (%" PRId64 " B + %" PRId64 " B a head)", m->filter_fixed, m->filter_per_head, n,
            (int64_t)FC_FILTER_FIXED_MAX(n), (int64_t)FC_FILTER_PER_HEAD_MAX(o, n));
    return 0;
  }
  int64_t ws = fc_manifest_workspace_bytes(m, s->rows, s->p.heads);
  int64_t most = workspace_most(&s->p, (int)o, s->N, s->rows, s->p.heads);
  if (ws < 0 || ws > most) {
    fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "its workspace (%" PRId64 " B for %" PRId64 " rows, %"
            PRId64 " heads) is more than fftconv_problem_workspace_bytes promises (%" PRId64
            " B)", ws, s->rows, s->p.heads, most);
    return 0;
  }
  return 1;
}

#define BAD(...)                                     \
  do {                                               \
    if (msg) snprintf(msg, msglen, __VA_ARGS__);     \
    return FFTCONV_ERR_INVALID;                      \
  } while (0)

/* A field's static range (fields.h): 1 in range, else 0 with the message. The flags are
   reported together, after every other field. */
static int field_in_range(const fftconv_problem *p, const fc_field *f, char *msg, size_t msglen) {
  int64_t v = fc_field_get(p, f);
  if (f->min > f->max || f->type == FC_FIELD_FLAG || (v >= f->min && v <= f->max)) return 1;
  if (!msg) return 0;
  char names[64];
  if (f->type != FC_FIELD_INT64)
    snprintf(msg, msglen, "%s: %d is not one of %s", f->name, (int)v,
             fc_field_enum_list(f, names, sizeof names));
  else if (v < f->min)
    snprintf(msg, msglen, "%s: %" PRId64 " is out of range (must be >= %" PRId64 ")", f->name, v,
             f->min);
  else
    snprintf(msg, msglen, "%s: %" PRId64 " is out of range (%" PRId64 " to %" PRId64 ": %s)",
             f->name, v, f->min, f->max, f->max_note);
  return 0;
}

/* "gate flags: pre_gate=1 post_gate=2 skip_d=0 (each must be 0 or 1)" when one is not. */
static int flags_in_range(const fftconv_problem *p, char *msg, size_t msglen) {
  int bad = 0;
  for (int i = 0; i < FC_NFIELDS; i++)
    if (fc_fields[i].type == FC_FIELD_FLAG) bad |= (int)fc_field_get(p, &fc_fields[i]) & ~1;
  if (!bad) return 1;
  char list[160] = "";
  size_t n = 0;
  for (int i = 0; i < FC_NFIELDS && n < sizeof list; i++)
    if (fc_fields[i].type == FC_FIELD_FLAG)
      n += (size_t)snprintf(list + n, sizeof list - n, " %s=%d", fc_fields[i].name,
                            (int)fc_field_get(p, &fc_fields[i]));
  if (msg) snprintf(msg, msglen, "gate flags:%s (each must be 0 or 1)", list);
  return 0;
}

fftconv_status fftconv_problem_check(const fftconv_problem *p, char *msg, size_t msglen) {
  if (!p) BAD("problem: NULL");
  if (p->size != sizeof *p)
    BAD("problem: size is %zu, this library's fftconv_problem has %zu bytes (start from "
        "fftconv_problem_init)", p->size, sizeof *p);
  /* every static range first (fields.c), so that the ranges that depend on other fields see
     valid ones */
  for (int i = 0; i < FC_NFIELDS; i++)
    if (!field_in_range(p, &fc_fields[i], msg, msglen)) return FFTCONV_ERR_INVALID;
  if (!flags_in_range(p, msg, msglen)) return FFTCONV_ERR_INVALID;
  if (p->batch > INT64_MAX / p->heads || p->batch * p->heads > (INT64_C(1) << 40))
    BAD("batch x heads: %" PRId64 " x %" PRId64 " is too many rows (at most 2^40)", p->batch,
        p->heads);
  for (int i = 0; i < FC_NFIELDS; i++)
    if (fc_fields[i].dyn_check && !fc_fields[i].dyn_check(p, msg, msglen))
      return FFTCONV_ERR_INVALID;
  /* Every byte count of the problem is an int64 (fc_problem_device_bytes, a kernel's workspace
     of rows x bytes a row, the memory floor): B x H x L elements, at most 2^40 x 2^22 by the
     checks above, could pass 2^63 once counted in bytes. 2^48 elements (a tensor of 512 TiB
     in fp16) is beyond any device and leaves every such count far from overflow. */
  int64_t elems;
  if (__builtin_mul_overflow(p->batch * p->heads, p->seqlen, &elems) || elems > FC_MAX_ELEMENTS)
    BAD("batch x heads x seqlen: %" PRId64 " x %" PRId64 " x %" PRId64 " is more than 2^48 "
        "elements (the most a problem may have, so that its sizes in bytes fit in 64 bits)",
        p->batch, p->heads, p->seqlen);
  return FFTCONV_OK;
}

fftconv_status fc_shape_resolve(const fftconv_problem *p, fc_op op, fc_shape *s, fc_err *e) {
  memset(s, 0, sizeof *s);
  fftconv_status st = fftconv_problem_check(p, e ? e->msg : NULL, e ? sizeof e->msg : 0);
  if (st != FFTCONV_OK) return st;
  if (!fc_op_get(op)) return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", op);
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

/* The parts of fields.h joined by '.', e.g. "B64.H768.L4096.K4096.F0.fp16.circular.pre.post.nod". */
int fftconv_problem_key(const fftconv_problem *p, char *buf, size_t len) {
  int n = 0;
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    int64_t v = fc_field_resolved(p, f);
    if (f->key_when_set && fc_field_get(p, f) == f->init_default) continue;
    const char *dot = n ? "." : "";
    size_t at = (size_t)n < len ? (size_t)n : len, room = len - at;
    char *to = buf ? buf + at : NULL;
    if (!to) room = 0;
    int k;
    if (f->type == FC_FIELD_INT64) k = snprintf(to, room, "%s%s%" PRId64, dot, f->key_on, v);
    else if (f->type == FC_FIELD_FLAG) k = snprintf(to, room, "%s%s", dot, v ? f->key_on : f->key_off);
    else k = snprintf(to, room, "%s%s", dot, fc_field_enum_name(f, v));
    if (k < 0) return k;
    n += k;
  }
  return n;
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
