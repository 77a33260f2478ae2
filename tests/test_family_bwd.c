/* The backward of the kernel families on the CPU: what each family's backward refuses and
   why, that forward and backward candidates never mix, the backward manifest (its phase, its
   arguments by name, the prepare launch and filter layout it shares with the forward), the
   tensor-core backward's built-in choice, monarch_long's backward manifest (its per-head
   workspace) and range, and overlap_tc's backward (its space, manifest and compile). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "emit.h"
#include "gpu.h"
#include "kernel.h"
#include "shape.h"

static fftconv_problem problem(int64_t n, fftconv_dtype dt) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 3;
  p.heads = 5;
  p.seqlen = n;
  p.mode = FFTCONV_CIRCULAR;
  p.dtype = dt;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  return p;
}

static fc_emit *em;
static fc_device_info dev;
static void open_emit(void) {
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&em, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(fc_device_info_for_arch(90, &dev));
}
static void close_emit(void) { fc_emit_close(em); }
TestSuite(family_bwd, .init = open_emit, .fini = close_emit);

/* monarch_fp32's backward: the built-in choice up to 16K; at 32K its two sequences and the
   batch sum (12N + 8 bytes) exceed sm_90's shared memory, and it says so. */
Test(family_bwd, fp32_default_and_its_limit) {
  fc_err e = {{0}};
  char *params = NULL;
  fftconv_problem p = problem(16384, FFTCONV_FP16);
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(params, "\"op\":\"backward\"") && strstr(params, "\"seqs\":2"), "%s", params);
  fc_kernel_src src = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_fp32", params, &dev, &src, &e), FFTCONV_OK, "%s",
               e.msg);
  cr_assert_eq(src.manifest.launch[1].smem, 12 * 16384 + 8);
  fc_kernel_src_free(&src);
  free(params);
  p = problem(32768, FFTCONV_FP16);
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "needs 393224 bytes of shared memory, the device allows"), "%s", e.msg);
}

/* A forward candidate is refused for a backward problem and the other way round. */
Test(family_bwd, ops_never_mix) {
  fc_err e = {{0}};
  fftconv_problem p = problem(1024, FFTCONV_FP16);
  char *fwd = NULL, *bwd = NULL, *reason = NULL;
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_FORWARD, &p, &dev, &fwd, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_BACKWARD, &p, &dev, &bwd, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_check_op(em, "monarch_fp32", FC_OP_BACKWARD, &p, &dev, fwd, &reason, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(reason && strstr(reason, "parameters for op forward, the problem is backward"),
            "%s", reason ? reason : "(accepted)");
  free(reason);
  reason = NULL;
  cr_assert_eq(fc_emit_check_op(em, "monarch_fp32", FC_OP_FORWARD, &p, &dev, bwd, &reason, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(reason && strstr(reason, "parameters for op backward, the problem is forward"),
            "%s", reason ? reason : "(accepted)");
  free(reason);
  free(fwd);
  free(bwd);
}

/* The backward manifest: a prepare launch like the forward's (the same filter layout, so one
   prepared k_hat serves both) and fftconv_bwd over heads with the backward's arguments. */
Test(family_bwd, manifest_of_the_backward) {
  fc_err e = {{0}};
  fftconv_problem p = problem(2048, FFTCONV_BF16);
  char *fwd = NULL, *bwd = NULL;
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_FORWARD, &p, &dev, &fwd, &e), FFTCONV_OK);
  cr_assert_eq(fc_emit_default_op(em, "monarch_fp32", FC_OP_BACKWARD, &p, &dev, &bwd, &e), FFTCONV_OK);
  fc_kernel_src f = {0}, b = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_fp32", fwd, &dev, &f, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(em, "monarch_fp32", bwd, &dev, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(b.manifest.filter_layout, f.manifest.filter_layout);
  cr_assert_eq(b.manifest.filter_per_head, f.manifest.filter_per_head);
  cr_assert_eq(b.manifest.nlaunch, 2);
  cr_assert_eq(b.manifest.launch[0].phase, FC_PHASE_PREPARE);
  const fc_launch *l = &b.manifest.launch[1];
  cr_assert_str_eq(l->entry, "fftconv_bwd");
  cr_assert_eq(l->phase, FC_PHASE_BACKWARD);
  cr_assert_eq(l->over, FC_OVER_HEADS);
  static const char *const want[] = {"u", "pre", "post", "dy", "k_hat", "du", "dpre", "dpost",
                                     "dk", "dd", "rows", "L", "H", "K", "F"};
  cr_assert_eq(l->nargs, 15);
  for (int i = 0; i < 15; i++) cr_assert_str_eq(fc_arg_name(l->args[i], &b.manifest), want[i]);
  cr_assert_eq(fc_op_check_manifest(FC_OP_BACKWARD, &b.manifest, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_op_check_manifest(FC_OP_FORWARD, &b.manifest, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(b.source, "fftconv_bwd(") && !strstr(b.source, "fftconv_fwd("), "one kernel");
  cr_assert(strstr(f.source, "fftconv_fwd(") && !strstr(f.source, "fftconv_bwd("), "one kernel");
  fc_kernel_src_free(&f);
  fc_kernel_src_free(&b);
  free(fwd);
  free(bwd);
}

/* monarch_tc's backward: its space is valid for fp16 and bf16 up to 8K with the batch sum in
   shared memory, and up to 16K with it in the workspace (acc "ws"); the built-in choice up to
   16K (factors of at most 16, fewest passes: 16x16x16 at 4096, 2 warps up to 512, 8 from 2048 and 16 at
   16K, the sum in shared memory below 8K and in the workspace from there); refused for fp32
   I/O and at 32K. */
Test(family_bwd, tc_backward_default_and_its_limits) {
  fc_err e = {{0}};
  char *params = NULL;
  fftconv_problem p = problem(4096, FFTCONV_FP16);
  cr_assert_eq(fc_emit_default_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(params, "\"factors\":[16,16,16]") && strstr(params, "\"warps\":8") &&
                strstr(params, "\"op\":\"backward\""), "%s", params);
  cr_assert_null(strstr(params, "\"acc\""), "%s", params);
  free(params);
  params = NULL;
  p = problem(256, FFTCONV_FP16); /* 2 warps a block up to 512 (bench/NOTES.md 27) */
  cr_assert_eq(fc_emit_default_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(params, "\"warps\":2"), "%s", params);
  free(params);
  params = NULL;
  int64_t ws_sizes[] = {8192, 16384};
  const char *ws_warps[] = {"\"warps\":8", "\"warps\":16"};
  for (int s = 0; s < 2; s++) {
    p = problem(ws_sizes[s], FFTCONV_FP16);
    cr_assert_eq(fc_emit_default_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, &params, &e),
                 FFTCONV_OK, "%s", e.msg);
    cr_assert(strstr(params, "\"acc\":\"ws\"") && strstr(params, ws_warps[s]), "%s", params);
    free(params);
    params = NULL;
  }
  int64_t sizes[] = {4096, 8192, 16384, 32768};
  int valid[4] = {0, 0, 0, 0}, valid_smem[4] = {0, 0, 0, 0}, valid_seq[4] = {0, 0, 0, 0};
  for (int s = 0; s < 4; s++) {
    p = problem(sizes[s], FFTCONV_BF16);
    fc_candidate *c = NULL;
    int n = 0;
    cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev,
                                  FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK, "%s", e.msg);
    for (int i = 0; i < n; i++) {
      if (!c[i].reason) valid[s]++;
      if (!c[i].reason && !strstr(c[i].params, "\"acc\":\"ws\"")) valid_smem[s]++;
      if (!c[i].reason && strstr(c[i].params, "\"seq\":true")) valid_seq[s]++;
      cr_assert(strstr(c[i].params, "\"op\":\"backward\""), "%s", c[i].params);
    }
    fc_candidates_free(c, n);
  }
  cr_assert(valid_smem[0] > 0 && valid_smem[1] > 0, "%d, %d", valid_smem[0], valid_smem[1]);
  cr_assert_eq(valid_smem[2], 0, "16K: the planes and the batch sum exceed shared memory");
  cr_assert_gt(valid[2], 0, "16K: the batch sum in the workspace fits");
  cr_assert_eq(valid[3] - valid_seq[3], 0, "32K: two units' planes alone exceed shared memory");
  cr_assert_gt(valid_seq[3], 0, "32K: one unit at a time (seq) fits");
  cr_assert(valid_seq[0] == 0 && valid_seq[1] == 0, "seq only where two units do not fit");
  /* the workspace variant's manifest: a per-head region the launch writes, its last argument */
  p = problem(16384, FFTCONV_FP16);
  fc_candidate *c16 = NULL;
  int n16 = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c16, &n16, &e), FFTCONV_OK, "%s", e.msg);
  int i16 = 0;
  while (i16 < n16 && (c16[i16].reason || strstr(c16[i16].params, "p_smem"))) i16++;
  cr_assert_lt(i16, n16);
  fc_kernel_src ks = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_tc", c16[i16].params, &dev, &ks, &e), FFTCONV_OK, "%s",
               e.msg);
  const fc_launch *bl = &ks.manifest.launch[1];
  cr_assert_eq(ks.manifest.nws, 1);
  cr_assert_eq(ks.manifest.ws[0].per_head, 8 * 16384);
  cr_assert_eq(ks.manifest.ws[0].per_row, 0);
  cr_assert_eq(bl->args[bl->nargs - 1], FC_ARG_WS);
  cr_assert(bl->writes & (1u << FC_ARG_WS));
  cr_assert(strstr(ks.source, "float2 *__restrict__ pws"), "the kernel takes the sum's region");
  fc_kernel_src_free(&ks);
  /* with p_smem, the region holds only the bins past it, and shared memory the rest: as much
     as fits beside the planes (16K's planes are 128 KiB) */
  int ip = 0;
  while (ip < n16 && (c16[ip].reason || !strstr(c16[ip].params, "\"p_smem\""))) ip++;
  cr_assert_lt(ip, n16, "16K: a candidate keeps part of the sum in shared memory");
  int p_smem = atoi(strstr(c16[ip].params, "\"p_smem\":") + strlen("\"p_smem\":"));
  cr_assert(p_smem > 0 && p_smem < 16384, "%s", c16[ip].params);
  cr_assert_eq(fc_emit_kernel(em, "monarch_tc", c16[ip].params, &dev, &ks, &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_eq(ks.manifest.ws[0].per_head, 8 * (16384 - p_smem));
  cr_assert_eq(ks.manifest.launch[1].smem, 131072 + 8 * p_smem);
  cr_assert_leq(ks.manifest.launch[1].smem, dev.smem_optin);
  fc_kernel_src_free(&ks);
  fc_candidates_free(c16, n16);
  /* the main job's search ("measure") has the workspace's sum from 8K on, not below */
  int64_t msizes[3] = {4096, 8192, 16384};
  for (int s = 0; s < 3; s++) {
    p = problem(msizes[s], FFTCONV_FP16);
    cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_MEASURE,
                                  &c16, &n16, &e), FFTCONV_OK, "%s", e.msg);
    int ws = 0, ok = 0;
    for (int i = 0; i < n16; i++) {
      ws += strstr(c16[i].params, "\"acc\":\"ws\"") != NULL;
      ok += !c16[i].reason;
    }
    cr_assert(s == 0 ? ws == 0 : ws > 0 && ws < n16 && ok > 0, "N = %lld: %d of %d with acc "
              "\"ws\", %d valid", (long long)msizes[s], ws, n16, ok);
    fc_candidates_free(c16, n16);
  }
  p = problem(4096, FFTCONV_FP32);
  fc_candidate *c = NULL;
  int n = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_MEASURE, &c,
                                &n, &e), FFTCONV_OK, "%s", e.msg);
  for (int i = 0; i < n; i++)
    cr_assert(c[i].reason && strstr(c[i].reason, "need fp16 or bf16"), "%s",
              c[i].reason ? c[i].reason : "(accepted)");
  fc_candidates_free(c, n);
}

/* monarch_tc's seq backward (one unit in shared memory, v's transforms and then g's, Zv kept
   in the workspace for P): at 32K, where two units do not fit; its manifest (the sum's region
   and Zv's, in the kernel's argument order; one unit's planes and p_smem bins of shared
   memory); in the main job's space the exhaustive tuning's leaders (16 warps, factors of at
   most 16, the most p_smem) and the built-in choice the first of them (bench/NOTES.md 33);
   refused with split or in the forward. */
Test(family_bwd, tc_seq_backward_at_32k) {
  fc_err e = {{0}};
  fftconv_problem p = problem(32768, FFTCONV_FP16);
  fc_candidate *c = NULL;
  int n = 0, valid = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_MEASURE, &c,
                                &n, &e), FFTCONV_OK, "%s", e.msg);
  for (int i = 0; i < n; i++) {
    if (c[i].reason) continue;
    valid++;
    cr_assert(strstr(c[i].params, "\"seq\":true") && strstr(c[i].params, "\"warps\":16") &&
              strstr(c[i].params, "\"p_smem\":"), "%s", c[i].params);
    const char *f = strstr(c[i].params, "\"factors\":[");
    cr_assert(f && !memchr(f, '3', (size_t)(strchr(f, ']') - f)), "no 32-point pass: %s",
              c[i].params);
  }
  cr_assert_eq(valid, 4, "the orders of 16x16x16x8: %d", valid);
  fc_candidates_free(c, n);
  char *params = NULL;
  cr_assert_eq(fc_emit_default_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(params, "\"factors\":[16,16,16,8]") && strstr(params, "\"seq\":true") &&
            strstr(params, "\"warps\":16") && strstr(params, "\"p_smem\":"), "%s", params);
  free(params);
  /* one size down, where two units fit, the built-in choice is not seq */
  p = problem(16384, FFTCONV_FP16);
  cr_assert_eq(fc_emit_default_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(!strstr(params, "\"seq\""), "%s", params);
  free(params);
  p = problem(32768, FFTCONV_FP16);
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  int plain = -1, with_p = -1;
  for (int i = 0; i < n; i++) {
    if (c[i].reason) continue;
    cr_assert(strstr(c[i].params, "\"seq\":true") && strstr(c[i].params, "\"pairs\":1"), "%s",
              c[i].params);
    if (strstr(c[i].params, "\"p_smem\"")) with_p = i;
    else plain = i;
  }
  cr_assert(plain >= 0 && with_p >= 0);
  fc_kernel_src ks = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_tc", c[plain].params, &dev, &ks, &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_eq(ks.manifest.nws, 2);
  cr_assert_str_eq(ks.manifest.ws[0].name, "p");
  cr_assert_eq(ks.manifest.ws[0].per_head, 8 * 32768);
  cr_assert_str_eq(ks.manifest.ws[1].name, "zw");
  cr_assert_eq(ks.manifest.ws[1].per_head, 8 * 32768);
  cr_assert_eq(ks.manifest.launch[1].smem, 131072, "one unit's planes");
  cr_assert(strstr(ks.source, "float2 *__restrict__ pws, float2 *__restrict__ zws)") &&
            strstr(ks.source, "row_pass_seq<") && strstr(ks.source, ", false>(") &&
            strstr(ks.source, ", true>(") &&
            !strstr(ks.source, "row_pass_bwd<"), "the kernel takes both regions, in order");
  fc_kernel_src_free(&ks);
  cr_assert_eq(fc_emit_kernel(em, "monarch_tc", c[with_p].params, &dev, &ks, &e), FFTCONV_OK,
               "%s", e.msg);
  int p_smem = atoi(strstr(c[with_p].params, "\"p_smem\":") + strlen("\"p_smem\":"));
  cr_assert_eq(ks.manifest.ws[0].per_head, 8 * (32768 - p_smem));
  cr_assert_eq(ks.manifest.launch[1].smem, 131072 + 8 * p_smem);
  cr_assert_leq(ks.manifest.launch[1].smem, dev.smem_optin);
  fc_kernel_src_free(&ks);
  /* refusals: with split, in the forward */
  const char *at = strstr(c[plain].params, "\"seq\":true");
  char q[1024], *why = NULL;
  snprintf(q, sizeof q, "%.*s\"seq\":true,\"split\":2%s", (int)(at - c[plain].params),
           c[plain].params, at + strlen("\"seq\":true"));
  cr_assert_eq(fc_emit_check_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, q, &why, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert(why && strstr(why, "seq"), "%s: %s", q, why ? why : "(accepted)");
  free(why);
  fc_candidates_free(c, n);
}

/* monarch_tc's split: a head's batch cut into shares, a block each (grid.y), each writing its
   share of P and dd to the workspace, and fftconv_bdk adding them; at most one share a row
   pair (B = 3 has 2: split 4 is refused with the range), and the shares' slot holds the
   workspace part of P when acc is "ws" (no region of its own). */
Test(family_bwd, tc_split_shares_and_their_sum) {
  fc_err e = {{0}};
  fftconv_problem p = problem(1024, FFTCONV_FP16);
  p.batch = 16;
  fc_candidate *c = NULL;
  int n = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  int seen = 0;
  for (int i = 0; i < n; i++) {
    const char *sp = strstr(c[i].params, "\"split\":");
    if (c[i].reason || !sp) continue;
    int split = atoi(sp + strlen("\"split\":"));
    int ws = strstr(c[i].params, "\"acc\":\"ws\"") != NULL;
    fc_kernel_src ks = {0};
    cr_assert_eq(fc_emit_kernel(em, "monarch_tc", c[i].params, &dev, &ks, &e), FFTCONV_OK, "%s",
                 e.msg);
    cr_assert_eq(ks.manifest.nlaunch, 3, "%s", c[i].params);
    cr_assert_eq(ks.manifest.launch[1].grid_y, split);
    cr_assert_str_eq(ks.manifest.launch[2].entry, "fftconv_bdk");
    cr_assert_eq(ks.manifest.nws, 2, "%s: part and vgp only", c[i].params);
    cr_assert_eq(ks.manifest.ws[0].per_head, (int64_t)split * 8 * 1024);
    cr_assert_eq(ks.manifest.ws[1].per_head, (int64_t)split * 4);
    cr_assert(strstr(ks.source, "fftconv_bdk(") && !strstr(ks.source, "pws"), "%s", c[i].params);
    cr_assert(!ws || strstr(ks.source, "part + blk * N + P_SMEM"), "%s", c[i].params);
    fc_kernel_src_free(&ks);
    seen |= 1 << split;
  }
  cr_assert_eq(seen, 1 << 2 | 1 << 4, "split 2 and 4 both valid at B = 16: %x", seen);
  /* more than 4 shares, or any past N = 4096, would leave the workspace bound
     (fftconv_problem_workspace_bytes) at a small batch: refused, saying so */
  for (int k = 0; k < n; k++) {
    const char *sp = strstr(c[k].params, "\"split\":4");
    if (c[k].reason || !sp) continue;
    char *edited = strdup(c[k].params), *why = NULL;
    edited[sp - c[k].params + strlen("\"split\":")] = '8';
    cr_assert_eq(fc_emit_check_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, edited, &why, &e),
                 FFTCONV_OK, "%s", e.msg);
    cr_assert(why && strstr(why, "split: its shares' workspace, 8 x (8N + 4) bytes a head, must "
                            "fit the backward's workspace bound of one row"),
              "%s: %s", edited, why ? why : "(accepted)");
    free(why);
    free(edited);
    break;
  }
  fc_candidates_free(c, n);
  p.batch = 3;
  cr_assert_eq(fc_emit_space_op(em, "monarch_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  int refused = 0;
  for (int i = 0; i < n; i++)
    if (strstr(c[i].params, "\"split\":4")) {
      cr_assert(c[i].reason && strstr(c[i].reason, "split: 2 to the batch's 2 row pairs"), "%s",
                c[i].reason ? c[i].reason : c[i].params);
      refused++;
    }
  cr_assert_gt(refused, 0);
  fc_candidates_free(c, n);
}

/* monarch_long's backward: the built-in choice from 32K (where its forward does not run) to
   4M; four backward launches after the forward's two prepare launches (a layout of its own
   split), a complex row and the column sums a row and one spectrum a head of workspace. */
Test(family_bwd, long_backward_manifest_and_range) {
  fc_err e = {{0}};
  char *params = NULL;
  fftconv_problem p = problem(32768, FFTCONV_FP16);
  cr_assert_neq(fc_emit_default_op(em, "monarch_long", FC_OP_FORWARD, &p, &dev, &params, &e),
                FFTCONV_OK);
  free(params);
  params = NULL;
  cr_assert_eq(fc_emit_default_op(em, "monarch_long", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  free(params);
  params = NULL;
  p = problem(1 << 20, FFTCONV_BF16);
  char *fwd = NULL;
  cr_assert_eq(fc_emit_default_op(em, "monarch_long", FC_OP_FORWARD, &p, &dev, &fwd, &e), FFTCONV_OK);
  cr_assert_eq(fc_emit_default_op(em, "monarch_long", FC_OP_BACKWARD, &p, &dev, &params, &e),
               FFTCONV_OK, "%s", e.msg);
  fc_kernel_src f = {0}, b = {0};
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", fwd, &dev, &f, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(em, "monarch_long", params, &dev, &b, &e), FFTCONV_OK, "%s", e.msg);
  const fc_manifest *m = &b.manifest;
  cr_assert_eq(m->nlaunch, 6);
  /* the backward's default split (rows of 2048) is not the forward's (4096): the plan keeps
     both spectra (plan.c, attach_backward); a layout is named by its split */
  cr_assert_str_eq(f.manifest.filter_layout, "monarch_long.full.256x4096");
  cr_assert_str_eq(m->filter_layout, "monarch_long.full.512x2048");
  const char *entries[] = {"fftconv_prep_cols", "fftconv_prep_rows", "fftconv_bcols_fwd",
                           "fftconv_brows", "fftconv_bcols_inv", "fftconv_bdk"};
  for (int i = 0; i < 6; i++) {
    cr_assert_str_eq(m->launch[i].entry, entries[i]);
    cr_assert_eq(m->launch[i].phase, i < 2 ? FC_PHASE_PREPARE : FC_PHASE_BACKWARD);
  }
  int64_t n = 1 << 20;
  cr_assert_eq(m->nws, 3);
  cr_assert_eq(m->ws[0].per_row, 8 * n);
  cr_assert(m->ws[1].per_row > 0 && m->ws[1].per_row <= n / 16);
  cr_assert_eq(m->ws[2].per_head, 8 * n);
  cr_assert_eq(m->ws[2].per_row, 0);
  /* past 4096 points a row the row pass's four rows do not fit: none of those candidates */
  fc_candidate *c = NULL;
  int nc = 0;
  cr_assert_eq(fc_emit_space_op(em, "monarch_long", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &nc, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_gt(nc, 0);
  for (int i = 0; i < nc; i++) cr_assert_null(strstr(c[i].params, "\"n2\":8192"), "%s", c[i].params);
  fc_candidates_free(c, nc);
  fc_kernel_src_free(&f);
  fc_kernel_src_free(&b);
  free(fwd);
  free(params);
}

/* overlap_tc's backward: segment sizes whose three units and sum P fit (M = 2048 to 8192 at
   K = 1024; none at K = 8000, whose segments need M = 16384); split sized to the heads; its
   refusals; a manifest with fftconv_bdk and the shares' workspace exactly when split > 1; a
   built-in choice (the tuner's where a dense family runs the problem, past them one from the
   space with the most shares); and a candidate of every segment size and share count
   compiles. */
Test(family_bwd, overlap_backward_space_manifest_and_compile) {
  fc_err e = {{0}};
  fftconv_problem p = problem(1000000, FFTCONV_FP16);
  p.mode = FFTCONV_CAUSAL;
  p.batch = 8;
  p.heads = 48;
  p.filter_len = 1024;
  fc_candidate *c = NULL;
  int n = 0;
  cr_assert_eq(fc_emit_space_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  int sizes = 0, splits = 0, valid = 0;
  for (int i = 0; i < n; i++) {
    const int m = atoi(strstr(c[i].params, "\"fft_size\":") + 11);
    const char *sp = strstr(c[i].params, "\"split\":");
    cr_assert(strstr(c[i].params, "\"op\":\"backward\""), "%s", c[i].params);
    cr_assert(m >= 2048 && m <= 8192, "%s: three units and P fit up to M = 8192", c[i].params);
    cr_assert(!strstr(c[i].params, "\"pairs\"") && !strstr(c[i].params, "\"load\""), "%s",
              c[i].params);
    sizes |= m;
    if (sp) splits |= atoi(sp + 8);
    valid += !c[i].reason;
  }
  cr_assert_eq(sizes, 2048 | 4096 | 8192, "%x", sizes);
  /* 48 heads: shares up to 32 (48 x 32 >= 8 blocks on each of sm_90's 132 SMs), every power
     of two from 2 */
  cr_assert_eq(splits, 2 | 4 | 8 | 16 | 32, "%x", splits);
  cr_assert_gt(valid, 20);
  int first = 0;
  while (c[first].reason) first++;
  /* refusals name the field */
  struct { const char *from, *to, *why; } bad[] = {
      {"\"op\":\"backward\"", "\"op\":\"backward\",\"pairs\":1", "pairs and load are the forward's"},
      {"\"op\":\"backward\"", "\"op\":\"backward\",\"split\":3", "split: the shares of a head's work"},
      {"\"warps\":4", "\"warps\":16", "warps: 4 or 8"},
  };
  for (int b = 0; b < 3; b++) {
    char q[1024], *why = NULL;
    const char *at = strstr(c[first].params, bad[b].from);
    cr_assert(at, "%s", c[first].params);
    snprintf(q, sizeof q, "%.*s%s%s", (int)(at - c[first].params), c[first].params, bad[b].to,
             at + strlen(bad[b].from));
    cr_assert_eq(fc_emit_check_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev, q, &why, &e),
                 FFTCONV_OK, "%s", e.msg);
    cr_assert(why && strstr(why, bad[b].why), "%s: %s", q, why ? why : "accepted");
    free(why);
  }
  /* the manifest: bdk and the shares' workspace with split, neither without */
  int compiled = 0, seen_m = 0, seen_split = 0;
  for (int i = 0; i < n; i++) {
    if (c[i].reason) continue;
    const int m = atoi(strstr(c[i].params, "\"fft_size\":") + 11);
    const char *sp = strstr(c[i].params, "\"split\":");
    const int split = sp ? atoi(sp + 8) : 1;
    if ((seen_m & m) && (seen_split & split)) continue; /* one of each size and share count */
    seen_m |= m, seen_split |= split;
    fc_kernel_src ks = {0};
    cr_assert_eq(fc_emit_kernel(em, "overlap_tc", c[i].params, &dev, &ks, &e), FFTCONV_OK, "%s",
                 e.msg);
    const fc_manifest *mf = &ks.manifest;
    cr_assert_eq(mf->launch[1].over, FC_OVER_HEADS);
    cr_assert_str_eq(mf->launch[1].entry, "fftconv_bwd");
    cr_assert_eq(mf->launch[1].grid_y, split);
    cr_assert_eq(mf->filter_per_head, 8 * m);
    cr_assert(!strncmp(mf->filter_layout, "monarch_tc.pair.", 16), "%s", mf->filter_layout);
    if (split > 1) {
      cr_assert_eq(mf->nlaunch, 3, "%s", c[i].params);
      cr_assert_str_eq(mf->launch[2].entry, "fftconv_bdk");
      cr_assert_eq(mf->nws, 2);
      cr_assert_eq(mf->ws[0].per_head, (int64_t)split * 8 * m);
      cr_assert_eq(mf->ws[1].per_head, (int64_t)split * 4);
    } else {
      cr_assert_eq(mf->nlaunch, 2, "%s", c[i].params);
      cr_assert_eq(mf->nws, 0);
    }
    fc_binary bin = {0};
    cr_assert_eq(fc_compile(ks.source, ks.name, "sm_90", 0, &bin, &e), FFTCONV_OK, "%s: %s",
                 c[i].params, e.msg);
    fc_binary_free(&bin);
    fc_kernel_src_free(&ks);
    compiled++;
  }
  cr_assert_geq(compiled, 5);
  cr_log_info("overlap_tc backward: %d candidates compiled", compiled);
  /* the built-in choice: the tuner's where the dense families run the problem (N = 1M here),
     past them (L = 5M, N = 8M) one of the space with the most shares it offers */
  char *dflt = NULL;
  cr_assert_eq(fc_emit_default_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev, &dflt, &e),
               FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "the tuner's choice where the dense families run"), "%s", e.msg);
  fftconv_problem q = p;
  q.seqlen = 5000000;
  fc_candidate *cq = NULL;
  int nq = 0;
  cr_assert_eq(fc_emit_space_op(em, "overlap_tc", FC_OP_BACKWARD, &q, &dev, FC_RIGOR_EXHAUSTIVE,
                                &cq, &nq, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_default_op(em, "overlap_tc", FC_OP_BACKWARD, &q, &dev, &dflt, &e),
               FFTCONV_OK, "%s", e.msg);
  int in_space = 0, most = 1;
  for (int i = 0; i < nq; i++) {
    if (cq[i].reason) continue;
    in_space += !strcmp(cq[i].params, dflt);
    const char *sp = strstr(cq[i].params, "\"split\":");
    if (sp && atoi(sp + 8) > most) most = atoi(sp + 8);
  }
  cr_assert_eq(in_space, 1, "%s is not a candidate", dflt);
  const char *dsp = strstr(dflt, "\"split\":");
  cr_assert_eq(dsp ? atoi(dsp + 8) : 1, most, "%s: not the most shares (%d)", dflt, most);
  free(dflt);
  fc_candidates_free(cq, nq);
  fc_candidates_free(c, n);
  /* one tap: dk is the fp32 sum of g * v (dd's), P is not summed, with and without shares;
     two taps keep P */
  for (int taps = 1; taps <= 2; taps++) {
    p.filter_len = taps;
    cr_assert_eq(fc_emit_space_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_MEASURE, &c,
                                  &n, &e), FFTCONV_OK, "%s", e.msg);
    int one = 0, shared = 0;
    for (int i = 0; i < n; i++) {
      if (c[i].reason) continue;
      fc_kernel_src ks = {0};
      cr_assert_eq(fc_emit_kernel(em, "overlap_tc", c[i].params, &dev, &ks, &e), FFTCONV_OK,
                   "%s", e.msg);
      const int tap1 = strstr(ks.source, "const bool sum = false;") != NULL;
      cr_assert_eq(tap1, taps == 1, "%d taps: %s", taps, c[i].params);
      cr_assert_eq(strstr(ks.source, "if (dd || dk) vg += dot_vg(") != NULL, taps == 1);
      if (strstr(c[i].params, "\"split\":")) {
        cr_assert_eq(strstr(ks.source, "if (dk) dk[h] = t;") != NULL, taps == 1, "%s",
                     c[i].params);
        shared++;
      }
      if (taps == 1 && one++ < 2) { /* two of them compiled */
        fc_binary bin = {0};
        cr_assert_eq(fc_compile(ks.source, ks.name, "sm_90", 0, &bin, &e), FFTCONV_OK, "%s: %s",
                     c[i].params, e.msg);
        fc_binary_free(&bin);
      }
      fc_kernel_src_free(&ks);
    }
    cr_assert_gt(shared, 0, "%d taps: no candidate with shares", taps);
    fc_candidates_free(c, n);
  }
  /* 8000 taps: segments need M = 16384, whose three units and P pass sm_90's shared memory */
  p.filter_len = 8000;
  cr_assert_eq(fc_emit_space_op(em, "overlap_tc", FC_OP_BACKWARD, &p, &dev, FC_RIGOR_EXHAUSTIVE,
                                &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 0);
  fc_candidates_free(c, n);
}
