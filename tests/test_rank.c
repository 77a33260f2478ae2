/* Nearest-shape ranking (fc_rank_nearest): only candidates of the problem's class can stand
   in; the closest in log(B*H) wins, then in seqlen, then the faster, then the smaller id; and
   the answer does not depend on the candidates' order. */
#include <criterion/criterion.h>

#include "store.h"

static fftconv_problem problem(int64_t b, int64_t h, int64_t l) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.seqlen = l;
  p.dtype = FFTCONV_FP16;
  return p;
}

static fc_rank_candidate cand(fftconv_problem p, double ms, int64_t id) {
  return (fc_rank_candidate){p, ms, id};
}

/* Every rotation of c picks the candidate with id `want_id`. */
static void expect_in_any_order(const fftconv_problem *want, const fc_rank_candidate *c, int n,
                                int64_t want_id) {
  fc_rank_candidate r[16];
  cr_assert_leq(n, 16);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < n; i++) r[i] = c[(i + k) % n];
    int i = fc_rank_nearest(want, r, n);
    cr_assert_geq(i, 0, "rotation %d: nothing chosen", k);
    cr_assert_eq(r[i].id, want_id, "rotation %d: chose id %lld", k, (long long)r[i].id);
  }
}

Test(rank, nothing_to_choose_from) {
  fftconv_problem p = problem(8, 64, 4096);
  fc_rank_candidate c = cand(p, 1, 1);
  cr_assert_eq(fc_rank_nearest(&p, NULL, 0), -1);
  cr_assert_eq(fc_rank_nearest(&p, &c, 0), -1);
  cr_assert_eq(fc_rank_nearest(NULL, &c, 1), -1);
  cr_assert_eq(fc_rank_nearest(&p, &c, 1), 0, "its own shape stands in");
}

Test(rank, only_the_same_class_stands_in) {
  fftconv_problem p = problem(8, 64, 4096);
  fc_rank_candidate c[8];
  int n = 0;
  fftconv_problem q = p;
  q.seqlen = 8192; /* another FFT size */
  c[n++] = cand(q, 1, 1);
  q = p;
  q.dtype = FFTCONV_BF16;
  c[n++] = cand(q, 1, 2);
  q = p;
  q.mode = FFTCONV_CIRCULAR;
  c[n++] = cand(q, 1, 3);
  q = p;
  q.pre_gate = 1;
  c[n++] = cand(q, 1, 4);
  q = p;
  q.post_gate = 1;
  c[n++] = cand(q, 1, 5);
  q = p;
  q.skip_d = 1;
  c[n++] = cand(q, 1, 6);
  q = p;
  q.freq_keep = 16;
  c[n++] = cand(q, 1, 7);
  q = p;
  q.filter_len = 100; /* a partial filter is another class than K == L */
  c[n++] = cand(q, 1, 8);
  cr_assert_eq(fc_rank_nearest(&p, c, n), -1);
  /* K == L written as 0 or as L is one class */
  q = p;
  q.filter_len = q.seqlen;
  fc_rank_candidate same = cand(q, 1, 9);
  cr_assert_eq(fc_rank_nearest(&p, &same, 1), 0);
  /* partial filters of different lengths are one class too */
  fftconv_problem part = p;
  part.filter_len = 300;
  cr_assert_eq(fc_rank_nearest(&part, &c[7], 1), 0);
}

Test(rank, closest_in_log_rows_then_seqlen) {
  fftconv_problem p = problem(8, 64, 1000); /* 512 rows, causal N = 2048 */
  fc_rank_candidate c[] = {
      cand(problem(1, 64, 1000), 0.1, 1),  /* 64 rows: ratio 8 */
      cand(problem(8, 192, 1000), 0.9, 2), /* 1536 rows: ratio 3 */
      cand(problem(4, 64, 1000), 0.9, 3),  /* 256 rows: ratio 2 */
      cand(problem(8, 64, 600), 0.9, 4),   /* same rows, |dL| 400 */
      cand(problem(8, 64, 1024), 0.9, 5),  /* same rows, |dL| 24 */
  };
  expect_in_any_order(&p, c, 5, 5);
  expect_in_any_order(&p, c, 4, 4);
  expect_in_any_order(&p, c, 3, 3);
  /* log distance, not difference: 256 rows are 256 away and 900 rows 388 away, but 900 is
     the nearer in log (ratio 1.76 against 2) */
  fc_rank_candidate d[] = {cand(problem(4, 64, 1000), 0.1, 1),
                           cand(problem(9, 100, 1000), 0.9, 2)};
  expect_in_any_order(&p, d, 2, 2);
}

Test(rank, ties_go_to_the_faster_then_the_smaller_id) {
  fftconv_problem p = problem(8, 64, 4096); /* 512 rows */
  /* 256 and 1024 rows are equally far in log(B*H) and have the same seqlen: the median
     breaks the tie, then the id */
  fc_rank_candidate c[] = {cand(problem(4, 64, 4096), 0.5, 7),
                           cand(problem(16, 64, 4096), 0.4, 9),
                           cand(problem(2, 128, 4096), 0.4, 8)};
  expect_in_any_order(&p, c, 3, 8);
  c[2].median_ms = 0.5;
  expect_in_any_order(&p, c, 3, 9);
  c[1].median_ms = 0.5;
  expect_in_any_order(&p, c, 3, 7);
}
