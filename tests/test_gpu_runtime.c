/* GPU: the runtime floor. fftconv-tune fills a cache for two problems; then
 *  - a program that plans from that cache runs with NVRTC hidden from the loader: the tuned
 *    problems plan from stored cubins and verify, an untuned one fails with a clear message
 *    and NVRTC is never loaded (plan-child, in a process of its own);
 *  - one context is used by eight threads at once: tuned, nearest-shape and heuristic plans,
 *    each verified against the fp64 reference, and each thread's error detail its own.
 * Skips with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan.h"
#include "shipped.h"
#include "run_tool.h"
#include "verify.h"

static char dir[] = "/tmp/fftconv-runtime-XXXXXX";
static char cache[256];

/* The problems tuned (rigor estimate). */
static const char problems[] =
    "--seqlen 2048 --batch 3 --heads 5 --dtype fp16 --mode circular --pregate --postgate --skip-d\n"
    "--seqlen 4093 --batch 3 --heads 5 --dtype bf16 --pregate --postgate --skip-d\n";

static void tune_or_skip(void) {
  tune_set_or_skip(dir, problems, TUNE_BIN, cache, sizeof cache);
}

Test(gpu_runtime, plans_and_runs_without_nvrtc) {
  tune_or_skip();
  char libs[300], cmd[2048];
  static char out[1 << 16];
  hidden_path(dir, libs, sizeof libs);
  const char *child = getenv("FFTCONV_PLAN_CHILD");
  snprintf(cmd, sizeof cmd,
           "LD_LIBRARY_PATH=%s FFTCONV_NVRTC=%s/no-such-libnvrtc.so %s %s 2048:circular:fp16:3:5 "
           "2048:circular:fp16:4:7 8192:causal:bf16:3:5 1024:circular:fp16:3:5 2>&1",
           libs, dir, child ? child : PLAN_CHILD, cache);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  pclose(f);
  cr_log_info("%s", out);
  /* 4093 causal is N = 8192: the tuned bf16 problem's nearest shape is 8192:causal (L = 4093). */
  const char *const want[] = {
      "ok monarch_* \\[tuned: *; sm_*\\] err=*",
      "ok monarch_* \\[nearest: tuned for B3.H5.L2048.*\\] err=*",
      "ok monarch_* \\[tuned: *; sm_*\\] err=*",
      "fail B3.H5.L1024.K1024.F0.fp16.circular.pre.post.d no compiler*: no NVRTC: *",
      "nvrtc loaded: no",
      "nvrtc reachable: *",
      NULL};
  expect_lines("plan-child without NVRTC", out, want);
}

typedef struct worker {
  fftconv_ctx *c;
  int id;
  pthread_barrier_t *bar;
  char fail[1024];
  int plans;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  /* Every thread provokes its own error at once: each must read back its own. */
  fftconv_problem bad;
  fftconv_problem_init(&bad);
  bad.heads = -(w->id + 1);
  pthread_barrier_wait(w->bar);
  fftconv_plan *pl = NULL;
  fftconv_status st = fftconv_plan_create(w->c, &bad, &pl);
  char want[64];
  snprintf(want, sizeof want, "heads: %d is out of range", -(w->id + 1));
  pthread_barrier_wait(w->bar);
  if (st != FFTCONV_ERR_INVALID || !strstr(fftconv_ctx_error(w->c), want)) {
    snprintf(w->fail, sizeof w->fail, "thread %d: error detail '%.800s', wanted '%s'", w->id,
             fftconv_ctx_error(w->c), want);
    return NULL;
  }
  /* tuned, nearest shape (another B and H), heuristic (not tuned: compiled on the spot) */
  static const struct { long long n, b, h; int circular, bf16; const char *rung; } probs[] = {
      {2048, 3, 5, 1, 0, "[tuned"}, {2048, 2, 9, 1, 0, "[nearest"}, {4093, 3, 5, 0, 1, "[tuned"},
      {512, 3, 5, 1, 0, "[heuristic"}};
  for (int k = 0; k < 4; k++) {
    int i = (k + w->id) % 4; /* threads start on different problems */
    fftconv_problem p;
    fftconv_problem_init(&p);
    p.seqlen = probs[i].n;
    p.batch = probs[i].b;
    p.heads = probs[i].h;
    p.mode = probs[i].circular ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
    p.dtype = probs[i].bf16 ? FFTCONV_BF16 : FFTCONV_FP16;
    p.pre_gate = p.post_gate = p.skip_d = 1;
    st = fftconv_plan_create(w->c, &p, &pl);
    if (st != FFTCONV_OK) {
      snprintf(w->fail, sizeof w->fail, "thread %d, problem %d: %.900s", w->id, i,
               fftconv_ctx_error(w->c));
      return NULL;
    }
    fc_testdata t;
    fc_err e = {{0}};
    double err = -1;
    /* The test data is uploaded with driver calls of the test's own: they need the context's
       device current on this thread, which the public calls make it on their own. */
    st = fc_gpu_bind(&w->c->gpu, &e);
    if (st == FFTCONV_OK)
      st = fc_testdata_make(&p, 100 + (uint64_t)w->id, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e);
    if (st == FFTCONV_OK) {
      st = fc_verify_plan(pl, &t, &err, &e);
      fc_testdata_free(&t);
    }
    if (st != FFTCONV_OK || !(err <= fc_tolerance(p.dtype)) ||
        !strstr(fftconv_plan_describe(pl), probs[i].rung)) {
      snprintf(w->fail, sizeof w->fail, "thread %d, %.300s: %.400s error %.3e, wanted %s", w->id,
               fftconv_plan_describe(pl), e.msg, err, probs[i].rung);
      fftconv_plan_destroy(pl);
      return NULL;
    }
    fftconv_plan_destroy(pl);
    w->plans++;
  }
  return NULL;
}

Test(gpu_runtime, one_context_many_threads) {
  tune_or_skip();
  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.cache_path = cache;
  fftconv_ctx *c = NULL;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK, "%s", fftconv_ctx_error(NULL));
  enum { T = 8 };
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, T);
  worker w[T];
  pthread_t th[T];
  for (int i = 0; i < T; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].c = c;
    w[i].id = i;
    w[i].bar = &bar;
    cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  int plans = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    cr_expect_str_empty(w[i].fail, "%s", w[i].fail);
    plans += w[i].plans;
  }
  cr_assert_eq(plans, 4 * T);
  /* The tuned problems' modules were loaded once and shared: a forward and a backward kernel
     each (the tuner tunes both directions). */
  int mods = 0;
  for (fc_ctx_module *m = c->mods; m; m = m->next) mods++;
  cr_assert_leq(mods, 4, "%d modules for two tuned problems' four kernels", mods);
  pthread_barrier_destroy(&bar);
  fftconv_ctx_destroy(c);
}
