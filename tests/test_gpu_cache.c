/* GPU: the tuner and the runtime through a real cache file. fftconv-tune tunes a small
   problem set; a second run measures nothing new; a program linking libfftconv then gets the
   tuned winner (a hit loads the stored cubin), the nearest shape's winner for another batch
   size, a clear error under the tuned-only policy for an untuned problem, and correct
   results from each; a candidate that faults stops the search without failing the ones after
   it. Skips with a message where no GPU is present. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "emit.h"
#include "gpu_check.h"
#include "plan.h"
#include "search.h"
#include "verify.h"

static char dir[] = "/tmp/fftconv-gpucache-XXXXXX";
static char cache[256], set[256];

static int run_tune(const char *extra, char *out, size_t len) {
  const char *bin = getenv("FFTCONV_TUNE");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s --cache %s --problems %s --rigor measure --runs 20 --quiet --json %s 2>/dev/null",
           bin ? bin : TUNE_BIN, cache, set, extra);
  FILE *f = popen(cmd, "r");
  cr_assert(f);
  size_t n = fread(out, 1, len - 1, f);
  out[n] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Sum of an integer field over the JSON summary's problems. */
static int sum_field(const char *json, const char *field) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", field);
  int total = 0;
  for (const char *p = json; (p = strstr(p, pat)); p += strlen(pat)) total += atoi(p + strlen(pat));
  return total;
}

static void check_plan(fftconv_ctx *c, const fftconv_problem *p, const char *rung) {
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, p, &pl), FFTCONV_OK, "%s", fftconv_ctx_error(c));
  cr_assert(strstr(fftconv_plan_describe(pl), rung), "expected %s: %s", rung,
            fftconv_plan_describe(pl));
  fc_testdata t;
  fc_err e = {{0}};
  cr_assert_eq(fc_testdata_make(p, 77, FC_TD_REFERENCE | FC_TD_DEVICE, &t, &e), FFTCONV_OK, "%s", e.msg);
  double err;
  cr_assert_eq(fc_verify_plan(pl, &t, &err, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(err <= fc_tolerance(p->dtype), "%s: error %.3e", fftconv_plan_describe(pl), err);
  fc_testdata_free(&t);
  fftconv_plan_destroy(pl);
}

Test(gpu_cache, tune_twice_then_use_the_winner) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) != FFTCONV_OK)
    cr_skip_test("no GPU: %s", fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(probe);
  cr_assert(mkdtemp(dir));
  snprintf(cache, sizeof cache, "%s/cache.db", dir);
  snprintf(set, sizeof set, "%s/set.txt", dir);
  FILE *f = fopen(set, "w");
  fprintf(f, "--seqlen 1000 --batch 4 --heads 96 --dtype fp16 --pregate --postgate --skip-d\n"
             "--seqlen 4096 --batch 4 --heads 96 --dtype bf16 --mode circular\n");
  fclose(f);

  static char out[1 << 16];
  cr_assert_eq(run_tune("", out, sizeof out), 0, "first run: %s", out);
  int measured = sum_field(out, "measured"), cached = sum_field(out, "cached");
  cr_assert_gt(measured, 10, "%s", out);
  cr_assert_eq(cached, 0, "%s", out);
  cr_assert(strstr(out, "\"winner\""), "%s", out);
  /* the winner's launch manifest, as stored */
  cr_assert(strstr(out, "\"manifest\":{\"version\":1,\"launches\":[{\"entry\":"), "%s", out);
  cr_log_info("first run: %d measured", measured);

  cr_assert_eq(run_tune("", out, sizeof out), 0, "second run: %s", out);
  cr_assert_eq(sum_field(out, "measured"), 0, "the second run measured again: %s", out);
  cr_assert_eq(sum_field(out, "cached"), measured, "%s", out);

  fftconv_ctx_options o;
  fftconv_ctx_options_init(&o);
  o.cache_path = cache;
  o.policy = FFTCONV_POLICY_TUNED_ONLY;
  fftconv_ctx *c = NULL;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK, "%s", fftconv_ctx_error(NULL));
  cr_assert_str_eq(fftconv_ctx_cache(c), cache);

  fftconv_problem p;
  fftconv_problem_init(&p);
  p.seqlen = 1000;
  p.batch = 4;
  p.heads = 96;
  p.dtype = FFTCONV_FP16;
  p.pre_gate = p.post_gate = p.skip_d = 1;
  check_plan(c, &p, "[tuned");
  check_plan(c, &p, "[tuned"); /* again: the module is shared */
  /* one module for each direction (the tuner tunes both), loaded once and shared */
  cr_assert(c->mods && c->mods->next && !c->mods->next->next, "two modules, shared");
  p.batch = 3; /* another shape with the same N, dtype, mode and flags */
  p.heads = 5;
  check_plan(c, &p, "[nearest: tuned for B4.H96.L1000");

  p.dtype = FFTCONV_FP32; /* not tuned */
  fftconv_plan *pl = NULL;
  cr_assert_eq(fftconv_plan_create(c, &p, &pl), FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(fftconv_ctx_error(c), "run: fftconv-tune --batch 3 --heads 5 --seqlen 1000 --dtype fp32"),
            "%s", fftconv_ctx_error(c));
  fftconv_ctx_destroy(c);

  o.policy = FFTCONV_POLICY_FALLBACK;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK);
  check_plan(c, &p, "[heuristic");
  fftconv_ctx_destroy(c);

  o.policy = FFTCONV_POLICY_QUICK_TUNE;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK);
  check_plan(c, &p, "[quick-tune");
  fftconv_ctx_destroy(c);
  o.policy = FFTCONV_POLICY_TUNED_ONLY; /* the quick tune was stored */
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK);
  check_plan(c, &p, "[tuned");
  fftconv_ctx_destroy(c);

  /* A corrupt cache is a miss, never a wrong kernel or a crash. */
  char bad[300];
  snprintf(bad, sizeof bad, "%s/bad.db", dir);
  f = fopen(bad, "w");
  fputs("this is not a database\n", f);
  fclose(f);
  o.cache_path = bad;
  o.policy = FFTCONV_POLICY_FALLBACK;
  cr_assert_eq(fftconv_ctx_create(&o, &c), FFTCONV_OK);
  cr_assert(strstr(fftconv_ctx_cache(c), "none ("), "%s", fftconv_ctx_cache(c));
  check_plan(c, &p, "[heuristic");
  fftconv_ctx_destroy(c);

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* The search's economies, observable in --json: with --screen 1 every family but the one
   with the fastest default is screened out; the second problem of one FFT size compiles
   nothing the first compiled; the floor comes from the measured copy bandwidth. */
Test(gpu_cache, screen_memo_and_measured_floor) {
  fftconv_ctx *probe = NULL;
  if (fftconv_ctx_create(NULL, &probe) != FFTCONV_OK)
    cr_skip_test("no GPU: %s", fftconv_ctx_error(NULL));
  fftconv_ctx_destroy(probe);
  snprintf(dir, sizeof dir, "/tmp/fftconv-gpucache-XXXXXX");
  cr_assert(mkdtemp(dir));
  snprintf(cache, sizeof cache, "%s/cache.db", dir);
  snprintf(set, sizeof set, "%s/set.txt", dir);
  FILE *f = fopen(set, "w");
  fprintf(f, "--seqlen 4096 --batch 8 --heads 768 --dtype fp16 --mode circular --pregate --postgate\n"
             "--seqlen 2048 --batch 8 --heads 768 --dtype fp16 --mode causal --pregate --postgate\n");
  fclose(f);
  static char out[1 << 16];
  cr_assert_eq(run_tune("--screen 1", out, sizeof out), 0, "%s", out);
  const char *second = strstr(out, "B8.H768.L2048");
  cr_assert(second, "%s", out);
  cr_assert_gt(sum_field(out, "screened"), 0, "nothing screened with --screen 1: %s", out);
  cr_assert_gt(sum_field(second, "reused"), 0, "the causal problem compiled again: %s", out);
  cr_assert_eq(sum_field(out, "failed"), 0, "%s", out);
  const char *bw = strstr(out, "\"copy_gbps\":");
  cr_assert(bw && atof(bw + 12) > 100, "no measured bandwidth: %s", out);
  const char *ff = strstr(out, "\"floor_fraction\":");
  cr_assert(ff && atof(ff + 17) > 0 && atof(ff + 17) <= 1, "floor fraction: %s", out);
  /* Resume with the screen: the screened candidates are not measured the second time either. */
  cr_assert_eq(run_tune("--screen 1", out, sizeof out), 0, "%s", out);
  cr_assert_eq(sum_field(out, "measured"), 0, "the second run measured again: %s", out);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* A family whose second candidate writes to an address no allocation has: the first two are
   verified and stored (the first fails verification: it writes nothing; the second faults and
   loses the context), the search stops there with an error naming the faulting candidate and
   the lost context, and the third is neither run nor stored as failed, so a run again resumes
   with it. */
static const char FAULTY[] =
    "local manifest = require \"lib.manifest\"\n"
    "local T = {name = \"faulty\", revision = 1, doc = \"test: the second candidate faults\"}\n"
    "T.runs = {ops = {\"forward\"}, dtypes = {\"fp16\"}, modes = {\"causal\", \"circular\"},\n"
    "          fft_size = {min = 256, max = 65536}, min_sm = 70, fallback = false}\n"
    "function T.space(problem, device)\n"
    "  local out = {}\n"
    "  for i, fault in ipairs({false, true, false}) do\n"
    "    out[i] = {fft_size = problem.fft_size, dtype = problem.dtype, id = i, fault = fault,\n"
    "              pre_gate = problem.pre_gate, post_gate = problem.post_gate}\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "function T.check(problem, device, params) return true end\n"
    "function T.default(problem, device) return T.space(problem, device)[1] end\n"
    "function T.layout(params, device)\n"
    "  return manifest.prepare_forward({prep = {threads = 32, smem = 0, per = 1},\n"
    "    fwd = {threads = 32, smem = 0, per = 1},\n"
    "    filter = {layout = \"faulty\", per_head = 8, fixed = 0}})\n"
    "end\n"
    "function T.emit(params)\n"
    "  return 'extern \"C\" __global__ void fftconv_prep(const float *k, const float *d, '\n"
    "    .. 'float *k_hat, int H, int K, int F) {}\\n'\n"
    "    .. 'extern \"C\" __global__ void fftconv_fwd(const unsigned short *u, '\n"
    "    .. 'const unsigned short *pre, const unsigned short *post, const float *k_hat, '\n"
    "    .. 'unsigned short *y, long long rows, int L, int H) {\\n'\n"
    "    .. (params.fault and '  *(volatile int *)(1ull << 47) = 1;\\n' or '')\n"
    "    .. '}\\n// candidate ' .. params.id .. '\\n'\n"
    "end\n"
    "return T\n";

Test(gpu_cache, a_faulting_candidate_stops_the_search_and_nothing_after_it_is_stored) {
  fftconv_ctx *c = ctx_or_skip();
  fc_emit *em;
  fc_err e = {{0}};
  cr_assert_eq(fc_ctx_emit(c, &em), FFTCONV_OK);
  cr_assert_eq(fc_emit_add_template(em, "faulty", FAULTY, &e), FFTCONV_OK, "%s", e.msg);
  char fdir[] = "/tmp/fftconv-fault-XXXXXX", fpath[64];
  cr_assert(mkdtemp(fdir));
  snprintf(fpath, sizeof fpath, "%s/cache.db", fdir);
  fc_cache *fc = NULL;
  cr_assert_eq(fc_cache_open(fpath, 1, &fc, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_config cfg = fc_ctx_cache_config(c);
  fc_search_opts o;
  fc_search_defaults(FC_RIGOR_EXHAUSTIVE, &o);
  o.tmpl = "faulty", o.cache = fc, o.cfg = &cfg, o.runs = 20, o.warmup = 1;
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 2, p.heads = 3, p.seqlen = 1024, p.dtype = FFTCONV_FP16;
  fc_search s;
  cr_assert_eq(fc_search_run(c, &p, &c->gpu.info, &o, &s, &e), FFTCONV_ERR_CUDA);
  cr_assert(s.context_lost);
  cr_assert(strstr(e.msg, "\"fault\":true") && strstr(e.msg, "the GPU context is lost") &&
                strstr(e.msg, "resumes after it"), "%s", e.msg);
  cr_assert_eq(s.n, 3);
  cr_assert_eq(s.r[0].status, FC_RESULT_VERIFY_FAILED, "%s", s.r[0].detail);
  cr_assert_eq(s.r[1].status, FC_RESULT_LAUNCH_FAILED, "%s", s.r[1].detail);
  cr_assert_eq(s.r[2].status, FC_RESULT_COMPILED, "not run");
  for (int i = 0; i < 3; i++) {
    int found = -1;
    cr_assert_eq(fc_cache_measured(fc, &cfg, &p, s.r[i].src.info.hash, s.r[i].params, &found,
                                   &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_eq(found, i < 2, "candidate %d: %s", i + 1, found ? "stored" : "not stored");
  }
  fc_search_free(&s);
  fc_cache_close(fc);
  unlink(fpath);
  rmdir(fdir);
  /* the context is gone: destroying it must still return */
  fftconv_ctx_destroy(c);
}
