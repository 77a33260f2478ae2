/* rank: the nearest-shape rule every store backend shares (see store.h). Pure: no I/O. */
#include "store.h"

#include "shape.h"

#include <stdlib.h>

#include "fields.h"

/* Whether c's kernel can run want at all, and was tuned for the same kind of problem: the
   same FFT size, every FC_RANK_MATCH field of fields.c equal, and for FC_RANK_FULL fields the
   same answer to whether the field resolves to seqlen. */
static int same_class(const fftconv_problem *want, const fftconv_problem *c) {
  if (fc_fft_size_of(want) != fc_fft_size_of(c)) return 0;
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    if (f->rank == FC_RANK_MATCH && fc_field_get(want, f) != fc_field_get(c, f)) return 0;
    if (f->rank == FC_RANK_FULL &&
        (fc_field_resolved(want, f) == want->seqlen) != (fc_field_resolved(c, f) == c->seqlen))
      return 0;
  }
  return 1;
}

/* max(rows, R) / min(rows, R): orders like |log rows - log R|, without logarithms. */
static double rows_ratio(const fftconv_problem *want, const fftconv_problem *c) {
  /* in double: a cache row's B and H could wrap an int64 product */
  double a = (double)want->batch * (double)want->heads, b = (double)c->batch * (double)c->heads;
  return a > b ? a / b : b / a;
}

/* In double: a candidate's seqlen comes from a cache row or a bundle, and the difference of
   two hostile int64 values can overflow. */
static double seqlen_gap(const fftconv_problem *want, const fftconv_problem *c) {
  double d = (double)want->seqlen - (double)c->seqlen;
  return d < 0 ? -d : d;
}

/* < 0 when x is nearer to want than y. */
static int nearer(const fftconv_problem *want, const fc_rank_candidate *x,
                  const fc_rank_candidate *y) {
  double rx = rows_ratio(want, &x->shape), ry = rows_ratio(want, &y->shape);
  if (rx != ry) return rx < ry ? -1 : 1;
  double lx = seqlen_gap(want, &x->shape), ly = seqlen_gap(want, &y->shape);
  if (lx != ly) return lx < ly ? -1 : 1;
  if (x->median_ms != y->median_ms) return x->median_ms < y->median_ms ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

int fc_rank_nearest_op(int op, const fftconv_problem *want, const fc_rank_candidate *c,
                       const int *ops, int n) {
  int best = -1;
  for (int i = 0; want && c && i < n; i++)
    if ((!ops || ops[i] == op) && same_class(want, &c[i].shape) &&
        (best < 0 || nearer(want, &c[i], &c[best]) < 0))
      best = i;
  return best;
}

int fc_rank_nearest(const fftconv_problem *want, const fc_rank_candidate *c, int n) {
  return fc_rank_nearest_op(FC_OP_FORWARD, want, c, NULL, n);
}
