/* The sizes a problem alone answers (fftconv_problem_filter_bytes, _workspace_bytes), with no
   GPU: every kernel a family can choose, forward and backward, at every FFT size and both I/O
   dtype kinds, needs no more than they promise (what plan creation enforces); refusals. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "gpu.h"
#include "kernel.h"
#include "sample.h"
#include "shape.h"

static fftconv_problem problem(int64_t n, fftconv_dtype dt, int causal, int64_t b, int64_t h) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b;
  p.heads = h;
  p.dtype = dt;
  p.mode = causal ? FFTCONV_CAUSAL : FFTCONV_CIRCULAR;
  p.seqlen = causal ? n / 2 : n;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  return p;
}

/* The manifest of params within the bounds of p's shape for op; returns 1 when checked. */
static int within(fc_emit *em, const char *fam, int op, const fftconv_problem *p,
                  const fc_device_info *dev, const char *params) {
  fc_err e = {{0}};
  fc_kernel_src src = {0};
  cr_assert_eq(fc_emit_kernel(em, fam, params, dev, &src, &e), FFTCONV_OK, "%s: %s", params,
               e.msg);
  fc_shape s;
  cr_assert_eq(fc_shape_resolve(p, op, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(fc_manifest_within_bounds(&src.manifest, op, &s, &e), "%s %s %s: %s", fam,
            fc_op_name(op), params, e.msg);
  /* and so within what the public queries say for the problem */
  int64_t f = fc_manifest_filter_bytes(&src.manifest, p->heads);
  cr_assert_leq(f, (int64_t)fftconv_problem_filter_bytes(p), "%s %s", fam, params);
  int64_t w = fc_manifest_workspace_bytes(&src.manifest, s.rows, p->heads);
  cr_assert_leq(w, (int64_t)fftconv_problem_workspace_bytes(
                       p, op == FC_OP_FORWARD ? FFTCONV_OP_FORWARD : FFTCONV_OP_BACKWARD),
                "%s %s", fam, params);
  fc_kernel_src_free(&src);
  return 1;
}

Test(sizes, every_family_default_and_sample_within_the_problem_bounds) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  int checked[2] = {0, 0};
  for (int t = 0; t < fc_emit_template_count(em); t++) {
    const char *fam = fc_emit_template_name(em, t);
    for (int64_t n = 256; n <= 4194304; n *= 2)
      for (int op = FC_OP_FORWARD; op <= FC_OP_BACKWARD; op++)
        for (int dt = FFTCONV_FP32; dt <= FFTCONV_FP16; dt++) {
          fftconv_problem p = problem(n, (fftconv_dtype)dt, (int)(n / 256) % 2, 3, 5);
          char *params = NULL;
          if (fc_emit_default_op(em, fam, op, &p, &dev, &params, &e) != FFTCONV_OK) continue;
          checked[op] += within(em, fam, op, &p, &dev, params);
          free(params);
          fc_candidate *c = NULL;
          int nc = 0;
          cr_assert_eq(fc_sample_space_op(em, fam, op, &p, &dev, &c, &nc, &e), FFTCONV_OK, "%s",
                       e.msg);
          for (int i = 0; i < nc; i++) checked[op] += within(em, fam, op, &p, &dev, c[i].params);
          fc_candidates_free(c, nc);
        }
  }
  /* a backward that only the search chooses (monarch_tc's declines to be the default): its
     whole searched space */
  for (int64_t n = 256; n <= 32768; n *= 2)
    for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++) {
      fftconv_problem p = problem(n, (fftconv_dtype)dt, (int)(n / 256) % 2, 3, 5);
      fc_candidate *c = NULL;
      int nc = 0;
      cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev,
                                    FC_RIGOR_MEASURE, &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
      for (int i = 0; i < nc; i++)
        if (!c[i].reason) checked[1] += within(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev,
                                               c[i].params);
      fc_candidates_free(c, nc);
    }
  fc_emit_close(em);
  cr_assert_gt(checked[0], 100, "forward: %d kernels checked", checked[0]);
  cr_assert_gt(checked[1], 10, "backward: %d kernels checked", checked[1]);
  cr_log_info("%d forward and %d backward kernels within the bounds", checked[0], checked[1]);
}

/* A kernel tuned for one batch serves the problem's other batches (the cache's nearest entry,
   the tuner's miniature of B = 3): every backward candidate the search offers at B = 64 is
   within the bounds at B = 1, 2 and 3 too. monarch_tc's split cuts a head's batch into up to
   4 shares, each a spectrum of the workspace, even where the batch has fewer row pairs. */
Test(sizes, a_kernel_tuned_at_one_batch_is_within_the_bounds_at_smaller_ones) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  static const char *const fams[] = {"monarch_tc", "monarch_fp32"};
  int checked = 0, splits = 0;
  for (size_t f = 0; f < sizeof fams / sizeof *fams; f++)
    for (int64_t n = 256; n <= 32768; n *= 2)
      for (int causal = 0; causal < 2; causal++) {
        fftconv_problem p = problem(n, FFTCONV_FP16, causal, 64, 768);
        fc_candidate *c = NULL;
        int nc = 0;
        cr_assert_eq(fc_emit_space_op(em, fams[f], FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                      &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
        for (int i = 0; i < nc; i++) {
          if (c[i].reason) continue;
          splits += strstr(c[i].params, "\"split\"") != NULL;
          for (int64_t b = 1; b <= 3; b++) {
            fftconv_problem q = problem(n, FFTCONV_FP16, causal, b, b == 2 ? 16 : 5);
            checked += within(em, fams[f], FC_OP_BACKWARD, &q, &dev, c[i].params);
          }
        }
        fc_candidates_free(c, nc);
      }
  fc_emit_close(em);
  cr_assert_gt(splits, 10, "%d candidates with split", splits);
  cr_log_info("%d backward kernels (%d with split) within the bounds at B = 1 to 3", checked,
              splits);
}

/* The same for overlap_tc (partial filters), whose backward cuts a head's work (batch x segment
   pairs) into up to 256 shares, each a spectrum of M points in the workspace: the shares of a
   kernel tuned at B = 64 stay within the bounds of B = 1 to 3, where fewer of them hold work. */
Test(sizes, an_overlap_kernel_tuned_at_one_batch_is_within_the_bounds_at_smaller_ones) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info dev;
  cr_assert(fc_device_info_for_arch(90, &dev));
  static const int64_t lens[] = {10001, 1000000}, taps[] = {100, 4096};
  int checked = 0, big = 0;
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
    for (size_t ki = 0; ki < sizeof taps / sizeof *taps; ki++) {
      /* few heads: the search offers the most shares where the heads alone fill few SMs */
      fftconv_problem p = problem(2 * lens[li], FFTCONV_FP16, 1, 64, 4);
      p.filter_len = taps[ki];
      fc_candidate *c = NULL;
      int nc = 0;
      cr_assert_eq(fc_emit_space_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev,
                                    FC_RIGOR_EXHAUSTIVE, &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
      for (int i = 0; i < nc; i++) {
        if (c[i].reason) continue;
        big += strstr(c[i].params, "\"split\":256") != NULL;
        for (int64_t b = 1; b <= 3; b++) {
          fftconv_problem q = p;
          q.batch = b;
          q.heads = 5;
          checked += within(em, "overlap_tc", FC_OP_BACKWARD, &q, &dev, c[i].params);
        }
      }
      fc_candidates_free(c, nc);
    }
  fc_emit_close(em);
  cr_assert_gt(big, 0, "no candidate with 256 shares: the test no longer reaches the largest");
  cr_log_info("%d overlap_tc backward kernels within the bounds at B = 1 to 3", checked);
}

/* The queries need no GPU and refuse what fftconv_problem_check refuses. */
Test(sizes, the_queries_take_a_problem_alone) {
  fftconv_problem p = problem(4096, FFTCONV_FP16, 1, 64, 768);
  /* N = 4096: the forward's largest layout and the backward's (each after at most 10n of
     twiddle tables), monarch_long's workspace, and
     the backward's: a complex fp32 row and its sums a row and a spectrum a head */
  int64_t n = 4096, h = 768;
  cr_assert_eq(fftconv_problem_filter_bytes(&p),
               (size_t)((10 * n + h * (12 * n + 8) + 255) / 256 * 256 + 10 * n + h * (8 * n + 8)));
  cr_assert_eq(fftconv_problem_workspace_bytes(&p, FFTCONV_OP_FORWARD),
               (size_t)(4 * n + 1024 + 64 * h * 4 * n));
  /* up to N = 4096 a head may hold four shares of its batch (monarch_tc's split) */
  cr_assert_eq(fftconv_problem_workspace_bytes(&p, FFTCONV_OP_BACKWARD),
               (size_t)(64 * h * (8 * n + n / 16) + h * 4 * (8 * n + 4)));
  cr_assert_eq(fftconv_problem_workspace_bytes(&p, (fftconv_op)7), 0);
  p.seqlen = 0;
  cr_assert_eq(fftconv_problem_filter_bytes(&p), 0);
  cr_assert_eq(fftconv_problem_workspace_bytes(&p, FFTCONV_OP_FORWARD), 0);
  p.seqlen = 2048;
  p.size = 3; /* another version's struct */
  cr_assert_eq(fftconv_problem_filter_bytes(&p), 0);
}

/* A manifest is held to those bounds at plan creation (fc_manifest_within_bounds): a
   backward's workspace of 8n + n/16 a row and 8n a head (past N = 4096; up to it four times
   8n + 4) is within them, a byte more a row or a head is not; the forward's has no bytes a
   head to spare beyond its fixed slack. */
Test(sizes, a_workspace_past_the_bounds_is_refused) {
  fftconv_problem p = problem(4096, FFTCONV_FP16, 0, 3, 5);
  fc_err e = {{0}};
  fc_shape s;
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_BACKWARD, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(s.N, 4096);
  fc_manifest m;
  memset(&m, 0, sizeof m);
  m.nws = 2; /* monarch_tc's split 4: four spectra and four sums a head */
  strcpy(m.ws[0].name, "part");
  strcpy(m.ws[1].name, "vgp");
  m.ws[0].per_head = 4 * 8 * 4096;
  m.ws[1].per_head = 4 * 4;
  p.batch = 1;
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_BACKWARD, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e), "%s", e.msg);
  m.ws[0].per_head += 8 * 4096 + 256; /* a fifth share, past what B = 1's rows leave over */
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e));

  p = problem(16384, FFTCONV_FP16, 1, 3, 5);
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_BACKWARD, &s, &e), FFTCONV_OK, "%s", e.msg);
  int64_t n = s.N;
  cr_assert_eq(n, 16384);
  memset(&m, 0, sizeof m);
  m.nws = 1;
  strcpy(m.ws[0].name, "a");
  m.ws[0].per_row = 8 * n + n / 16;
  m.ws[0].per_head = 8 * n;
  cr_assert(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e), "%s", e.msg);
  cr_assert_eq(fc_manifest_workspace_bytes(&m, s.rows, p.heads),
               (int64_t)fftconv_problem_workspace_bytes(&p, FFTCONV_OP_BACKWARD));
  m.ws[0].per_head++;
  e.msg[0] = 0;
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e));
  cr_assert(strstr(e.msg, "its workspace") && strstr(e.msg, "5 heads"), "%s", e.msg);
  m.ws[0].per_head--;
  m.ws[0].per_row++;
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e));
  m.ws[0].per_row--;
  m.ws[0].fixed = 1; /* the backward has no fixed bytes */
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e));
  /* split in two regions, the first a multiple of 256: the same bytes, within */
  m.ws[0].fixed = 0;
  m.nws = 2;
  strcpy(m.ws[1].name, "b");
  m.ws[0].per_head = 0;
  m.ws[1].per_head = 8 * n;
  cr_assert(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e), "%s", e.msg);
  /* a wrap is refused, not taken for a small workspace */
  m.ws[1].per_head = INT64_MAX / 4;
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_BACKWARD, &s, &e));

  /* the forward: monarch_long's 4n a row and 4n fixed within, n a head past it */
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_FORWARD, &s, &e), FFTCONV_OK, "%s", e.msg);
  memset(&m, 0, sizeof m);
  m.nws = 1;
  strcpy(m.ws[0].name, "z");
  m.ws[0].per_row = m.ws[0].fixed = 4 * n;
  cr_assert(fc_manifest_within_bounds(&m, FC_OP_FORWARD, &s, &e), "%s", e.msg);
  m.ws[0].per_head = n;
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_FORWARD, &s, &e));
  /* and the backward's bounds are not the forward's */
  m.ws[0].per_head = 0;
  m.ws[0].fixed = 0;
  m.ws[0].per_row = 8 * n;
  cr_assert_not(fc_manifest_within_bounds(&m, FC_OP_FORWARD, &s, &e));
}
