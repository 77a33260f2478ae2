/* test_op: an op other than forward, implemented only by a test family, through every layer
 * that carries the op: its key, the problem table a template sees (problem.op), the cache
 * (store, winner, exact and nearest lookup), the nearest-shape rule, the bundle manifest
 * export writes, and the migration of a schema-4 cache, whose rows all become forward rows. */
#include <criterion/criterion.h>
#include "tree.h"
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "emit.h"
#include "export_int.h"
#include "gpu.h"
#include "shape.h"
#include "store.h"

#define HASH "0123456789abcdef"
#define OP_NAME "test_bwd"

static char dir[64], path[128];

static void tmp_setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-op-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  snprintf(path, sizeof path, "%s/cache.db", dir);
}
static void tmp_teardown(void) { rm_tree(dir); }
TestSuite(op, .init = tmp_setup, .fini = tmp_teardown);

static fftconv_status zero_reference(const fftconv_problem *p, const struct fc_ref_inputs *in,
                                     double *y, fc_err *e) {
  (void)in, (void)e;
  memset(y, 0, (size_t)(p->batch * p->heads * p->seqlen) * sizeof *y);
  return FFTCONV_OK;
}

/* The test op, registered once per process. */
static int test_op(void) {
  static const char *const args[] = {"u", "y", "rows", "L", NULL};
  static const char *const phases[] = {"forward", NULL};
  static const fc_op_def def = {OP_NAME, args, phases, zero_reference};
  int op = fc_op_find(OP_NAME);
  if (op >= 0) return op;
  fc_err e = {{0}};
  op = fc_op_register(&def, &e);
  cr_assert_gt(op, 0, "%s", e.msg);
  cr_assert_eq(fc_op_register(&def, &e), -1, "a name is registered once");
  cr_assert(strstr(e.msg, "exists already"), "%s", e.msg);
  return op;
}

static fftconv_problem problem(int64_t b, int64_t h, int64_t l) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = b, p.heads = h, p.seqlen = l, p.dtype = FFTCONV_FP16;
  return p;
}

/* A family that implements the test op and nothing else. */
static const char FAMILY[] =
    "local T = {name = \"test_bwd_family\", revision = 1, doc = \"the test op only\"}\n"
    "T.runs = {ops = {\"" OP_NAME "\"}, dtypes = {\"fp16\"}, modes = {\"causal\", \"circular\"},\n"
    "          fft_size = {min = 256, max = 65536}, min_sm = 70, fallback = false}\n"
    "local function runs(problem)\n"
    "  if problem.op ~= \"" OP_NAME "\" then return nil, \"runs " OP_NAME ", not \" .. problem.op end\n"
    "  return {threads = 128, n = problem.fft_size}\n"
    "end\n"
    "function T.space(problem, device)\n"
    "  local p = runs(problem)\n"
    "  return p and {p} or {}\n"
    "end\n"
    "function T.check(problem, device, params) return true end\n"
    "T.default = function(problem, device) return runs(problem) end\n"
    "function T.layout(params, device)\n"
    "  return {threads = params.threads, smem = 0, seqs = 1, prep_threads = 64, prep_smem = 0,\n"
    "          prep_seqs = 1, khat = 8}\n"
    "end\n"
    "function T.emit(params)\n"
    "  return 'extern \"C\" __global__ void fftconv_fwd() {}\\n'\n"
    "end\n"
    "return T\n";

Test(op, the_key_carries_the_op_and_forward_keys_do_not_change) {
  int op = test_op();
  fftconv_problem p = problem(8, 64, 4096);
  fc_shape f, b;
  fc_err e = {{0}};
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_FORWARD, &f, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_shape_resolve(&p, op, &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(f.key, "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod");
  cr_assert_str_eq(b.key, OP_NAME ":B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod");
  char name[32];
  cr_assert_str_eq(fc_key_op_name(f.key, name, sizeof name), "forward");
  cr_assert_str_eq(fc_key_op_name(b.key, name, sizeof name), OP_NAME);
  cr_assert_eq(fc_shape_resolve(&p, 99, &b, &e), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(fc_op_name(op), OP_NAME);
  cr_assert_eq(fc_op_get(op)->reference, zero_reference);
  cr_assert_null(fc_op_get(FC_OP_FORWARD)->reference, "forward's is FFTW's, in the tuner");
}

Test(op, a_template_sees_problem_op) {
  int op = test_op();
  fc_emit *m;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_open(&m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_emit_add_template(m, "test_bwd_family", FAMILY, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  fftconv_problem p = problem(8, 64, 4096);
  char *params = NULL;
  cr_assert_eq(fc_emit_default_op(m, "test_bwd_family", op, &p, &d, &params, &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_str_eq(params, "{\"n\":8192,\"threads\":128}");
  free(params);
  cr_assert_eq(fc_emit_default(m, "test_bwd_family", &p, &d, &params, &e),
               FFTCONV_ERR_UNSUPPORTED);
  cr_assert(strstr(e.msg, "runs " OP_NAME ", not forward"), "%s", e.msg);
  fc_candidate *c = NULL;
  int n = -1;
  cr_assert_eq(fc_emit_space_op(m, "test_bwd_family", op, &p, &d, FC_RIGOR_MEASURE, &c, &n, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 1);
  fc_candidates_free(c, n);
  cr_assert_eq(fc_emit_space(m, "test_bwd_family", &p, &d, FC_RIGOR_MEASURE, &c, &n, &e),
               FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 0, "forward: no candidate");
  fc_candidates_free(c, n);
  /* a built-in family is told the op too, and a bad op is refused */
  cr_assert_eq(fc_emit_default_op(m, "monarch_fp32", 77, &p, &d, &params, &e), FFTCONV_ERR_INVALID);
  fc_emit_close(m);
}

Test(op, rank_takes_only_the_same_op) {
  int op = test_op();
  fftconv_problem want = problem(8, 64, 4096);
  fc_rank_candidate c[] = {{problem(8, 64, 4096), 1.0, 1}, {problem(4, 64, 4096), 1.0, 2}};
  int ops[] = {FC_OP_FORWARD, op};
  cr_assert_eq(fc_rank_nearest_op(op, &want, c, ops, 2), 1, "the nearer one is forward");
  cr_assert_eq(fc_rank_nearest_op(FC_OP_FORWARD, &want, c, ops, 2), 0);
  int fwd[] = {FC_OP_FORWARD, FC_OP_FORWARD};
  cr_assert_eq(fc_rank_nearest_op(op, &want, c, fwd, 2), -1);
  cr_assert_eq(fc_rank_nearest_op(op, &want, c, NULL, 2), 0, "NULL: the backend filtered");
  cr_assert_eq(fc_rank_nearest(&want, c, 2), 0);
}

static unsigned char cubin[64] = {1, 2, 3};

static fc_cache_kernel kernel(void) {
  fc_cache_kernel k = {.tmpl = "test_bwd_family", .revision = 1, .hash = HASH,
                       .params = "{\"threads\":128}", .sm = 90, .nvrtc = "13.0",
                       .source = "// test\n", .cubin = cubin, .cubin_size = sizeof cubin,
                       .log = ""};
  fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 128, 0, 1, "fftconv_prep", 64, 0, 1, 8, 0,
                         "test_bwd_family.v1");
  return k;
}

static int lookup(fc_cache *c, const fc_cache_config *cfg, int op, const fftconv_problem *p,
                  fc_cache_hit *hit) {
  fc_shape s;
  fc_err e = {{0}};
  cr_assert_eq(fc_shape_resolve(p, op, &s, &e), FFTCONV_OK, "%s", e.msg);
  const char *hashes[] = {HASH};
  int found = -1;
  cr_assert_eq(fc_cache_lookup_shape(c, cfg, &s, hashes, 1, hit, &found, &e), FFTCONV_OK, "%s",
               e.msg);
  return found;
}

static int64_t sql_int(const char *p, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

Test(op, the_cache_stores_and_finds_by_op) {
  int op = test_op();
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  snprintf(d.name, sizeof d.name, "NVIDIA H100");
  d.driver_version = 13000;
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache_kernel k = kernel();
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fftconv_problem p = problem(8, 64, 4096);
  fc_cache_measurement m = {.problem = &p, .op = op, .kernel_id = id, .status = "ok",
                            .median_ms = 0.5, .p10_ms = 0.5, .p90_ms = 0.5, .runs = 20,
                            .rel_err = 0, .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
  int found = 0;
  cr_assert_eq(fc_cache_measured_op(c, &cfg, op, &p, HASH, k.params, &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 1);
  cr_assert_eq(fc_cache_measured(c, &cfg, &p, HASH, k.params, &found, &e), FFTCONV_OK);
  cr_assert_eq(found, 0, "not measured for forward");
  const char *hashes[] = {HASH};
  int64_t kid = 0;
  cr_assert_eq(fc_cache_update_winner_op(c, &cfg, op, &p, hashes, 1, &kid, &e), FFTCONV_OK,
               "%s", e.msg);
  cr_assert_eq(kid, id);
  cr_assert_eq(fc_cache_update_winner(c, &cfg, &p, hashes, 1, &kid, &e), FFTCONV_OK);
  cr_assert_eq(kid, 0, "forward has no winner");

  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, op, &p, &hit), 1);
  cr_assert_eq(hit.exact, 1);
  cr_assert_str_eq(hit.problem_key, OP_NAME ":B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod");
  fc_cache_hit_free(&hit);
  cr_assert_eq(lookup(c, &cfg, FC_OP_FORWARD, &p, &hit), 0, "the op's winner is not forward's");
  fftconv_problem q = problem(4, 64, 4096);
  cr_assert_eq(lookup(c, &cfg, op, &q, &hit), 1, "the nearest shape of the same op");
  cr_assert_eq(hit.exact, 0);
  fc_cache_hit_free(&hit);
  cr_assert_eq(lookup(c, &cfg, FC_OP_FORWARD, &q, &hit), 0, "no nearest of another op");
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners WHERE op = '" OP_NAME "'"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE op = '" OP_NAME "'"), 1);
}

/* A schema-4 file as that build wrote it: its rows become forward rows. */
Test(op, a_schema_4_cache_migrates_with_every_row_forward) {
  test_op();
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  const char *v4 = fc_cache_schema_sql(4);
  cr_assert_not_null(v4);
  cr_assert_null(strstr(v4, " op TEXT"), "version 4 had no op");
  cr_assert(strstr(fc_cache_schema_sql(5), " op TEXT"));
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, v4, NULL, NULL, &err), SQLITE_OK, "%s", err);
  fc_manifest mf;
  fc_manifest_two_launch(&mf, "fftconv_fwd", 128, 0, 1, "fftconv_prep", 64, 0, 1, 8, 0, "x.v1");
  char *mj = fc_manifest_json(&mf);
  char sql[8192];
  const char *key = "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod";
  const char *shape = "8, 64, 4096, 4096, 0, 8192, 'fp16', 'causal', 0, 0, 0";
  const char *cols = "batch, heads, seqlen, filter_len, freq_keep, fft_size, dtype, mode, "
                     "pre_gate, post_gate, skip_d";
  snprintf(sql, sizeof sql,
      "PRAGMA application_id = %d; PRAGMA user_version = 4; PRAGMA journal_mode = WAL;"
      "INSERT INTO devices (id, model, sms, driver_version, sm, smem_optin, l2_bytes, total_mem,"
      "  created) VALUES (1, 'NVIDIA H100', 132, 13000, 90, 232448, 52428800, 85899345920, 1);"
      "INSERT INTO kernels (id, template, revision, hash, params, sm, nvrtc, cubin, log,"
      "  manifest, created) VALUES (1, 'monarch_fp32', 3, '" HASH "', '{}', 90, '13.0',"
      "  x'00112233', '', '%s', 1);"
      "INSERT INTO measurements (id, device, problem_key, %s, kernel, status, median_ms, runs,"
      "  measured_at) VALUES (1, 1, '%s', %s, 1, 'ok', 0.75, 20, 1);"
      "INSERT INTO winners (id, device, problem_key, %s, kernel, median_ms, chosen_at)"
      "  VALUES (1, 1, '%s', %s, 1, 0.75, 1);",
      FC_CACHE_APP_ID, mj, cols, key, shape, cols, key, shape);
  free(mj);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err);
  sqlite3_close(db);

  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(path, 0, &c, &e), FFTCONV_ERR_IO, "a reader does not migrate");
  cr_assert(strstr(e.msg, "schema version 4"), "%s", e.msg);
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(sql_int(path, "PRAGMA user_version"), 5);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE op = 'forward'"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners WHERE op = 'forward'"), 1);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  snprintf(d.name, sizeof d.name, "NVIDIA H100");
  d.sms = 132;
  d.driver_version = 13000;
  fc_cache_config cfg = {&d, 90, "13.0"};
  fftconv_problem p = problem(8, 64, 4096);
  fc_cache_hit hit;
  cr_assert_eq(lookup(c, &cfg, FC_OP_FORWARD, &p, &hit), 1, "the old winner is forward's");
  cr_assert_eq(hit.exact, 1);
  fc_cache_hit_free(&hit);
  fftconv_problem q = problem(4, 64, 4096);
  cr_assert_eq(lookup(c, &cfg, FC_OP_FORWARD, &q, &hit), 1, "and stands in for a near shape");
  fc_cache_hit_free(&hit);
  cr_assert_eq(lookup(c, &cfg, test_op(), &p, &hit), 0, "not for another op");
  fc_cache_close(c);
}

/* The bundle manifest export writes: each entry says its op. */
Test(op, export_writes_the_op_of_each_entry) {
  int op = test_op();
  fc_shape f, b;
  fftconv_problem p = problem(8, 64, 4096);
  cr_assert_eq(fc_shape_resolve(&p, FC_OP_FORWARD, &f, NULL), FFTCONV_OK);
  cr_assert_eq(fc_shape_resolve(&p, op, &b, NULL), FFTCONV_OK);
  xwin w[2] = {{.key = f.key, .device = "NVIDIA H100", .tmpl = "monarch_fp32", .hash = HASH,
                .params = "{}", .p = f.p, .mjson = "{}"},
               {.key = b.key, .device = "NVIDIA H100", .tmpl = "test_bwd_family", .hash = HASH,
                .params = "{}", .p = b.p, .mjson = "{}", .module = 1}};
  static xmod m[2];
  static char bytes[4] = "abc";
  for (int i = 0; i < 2; i++) {
    m[i].first = i;
    m[i].fatbin = bytes;
    m[i].fatbin_size = sizeof bytes;
    snprintf(m[i].file, sizeof m[i].file, "k%03d.fatbin", i);
  }
  xstate x = {.w = w, .nw = 2, .m = m, .nm = 2};
  fc_str t = {0};
  fc_export_manifest_text(&x, &t);
  cr_assert(strstr(t.s, "{\"problem\":\"B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod\","
                        "\"op\":\"forward\",\"module\":0,\"shape\":{\"batch\":8,\"heads\":64,"
                        "\"seqlen\":4096,\"filter_len\":4096,\"freq_keep\":0,\"dtype\":\"fp16\","
                        "\"mode\":\"causal\",\"pre_gate\":0,\"post_gate\":0,\"skip_d\":0"),
            "%s", t.s);
  cr_assert(strstr(t.s, "{\"problem\":\"" OP_NAME ":B8.H64.L4096.K4096.F0.fp16.causal.nopre."
                        "nopost.nod\",\"op\":\"" OP_NAME "\",\"module\":1,"), "%s", t.s);
  fc_str_free(&t);
}

/* A family's manifest can name the arguments and phases an op adds (kernel.h's tables): they
   parse, are written back as they were read, and are described by name; the launcher refuses
   what it cannot bind. */
Test(op, a_manifest_names_the_arguments_and_phases_of_a_new_op) {
  fc_err e = {{0}};
  const fc_arg_def dy = {"dz", FC_ARG_BUFFER, NULL}, sc = {"S", FC_ARG_SCALAR, "int"};
  int a_dy = fc_arg_register(&dy, &e), a_s = fc_arg_register(&sc, &e);
  cr_assert_geq(a_dy, FC_ARG_COUNT, "%s", e.msg);
  cr_assert_gt(a_s, a_dy, "%s", e.msg);
  int ph = fc_phase_register("sideways", &e);
  cr_assert_eq(ph, FC_PHASE_BACKWARD + 1, "%s", e.msg);
  cr_assert_eq(fc_arg_register(&dy, &e), -1);
  const fc_arg_def bad = {"T", FC_ARG_SCALAR, "float"};
  cr_assert_eq(fc_arg_register(&bad, &e), -1);
  cr_assert(strstr(e.msg, "int or long long"), "%s", e.msg);
  cr_assert_eq(fc_arg_find("rows"), FC_ARG_ROWS);
  cr_assert_str_eq(fc_arg_get(FC_ARG_ROWS)->ctype, "long long");
  cr_assert(fc_arg_is_buffer(a_dy) && !fc_arg_is_buffer(a_s));
  const char *text =
      "{\"version\":1,\"launches\":[{\"entry\":\"bwd\",\"phase\":\"sideways\",\"grid\":{\"over\":"
      "\"rows\",\"per\":1,\"y\":1,\"z\":1},\"block\":[128,1,1],\"smem\":0,\"cluster\":[1,1,1],"
      "\"args\":[\"dz\",\"u\",\"S\"],\"reads\":[\"u\",\"dz\"],\"writes\":[]},{\"entry\":\"fwd\","
      "\"phase\":\"forward\",\"grid\":{\"over\":\"rows\",\"per\":1,\"y\":1,\"z\":1},\"block\":"
      "[128,1,1],\"smem\":0,\"cluster\":[1,1,1],\"args\":[\"u\",\"y\",\"rows\"],\"reads\":[\"u\"],"
      "\"writes\":[\"y\"]}],\"workspace\":[],\"filter\":{\"layout\":\"t.v1\",\"per_head\":0,"
      "\"fixed\":0}}";
  fc_manifest m;
  cr_assert_eq(fc_manifest_parse(text, &m, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(m.launch[0].phase, ph);
  cr_assert_eq(m.launch[0].args[0], a_dy);
  cr_assert_eq(m.launch[0].args[2], a_s);
  char *back = fc_manifest_json(&m);
  cr_assert_str_eq(back, text);
  free(back);
  fc_str d = {0};
  fc_manifest_describe(&m, "", &d);
  cr_assert(strstr(d.s, "bwd (sideways): grid rows/1, 128 threads, 0 B smem; u dz ->"), "%s", d.s);
  fc_str_free(&d);
  /* the op table says which arguments and phases an op's kernels use */
  cr_assert_eq(fc_op_check_manifest(FC_OP_FORWARD, &m, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "launch bwd is of phase sideways, which op forward does not have"),
            "%s", e.msg);
  m.launch[0].phase = FC_PHASE_FORWARD;
  cr_assert_eq(fc_op_check_manifest(FC_OP_FORWARD, &m, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "takes argument dz, which op forward does not use"), "%s", e.msg);
  static const char *const any_phase[] = {"forward", "sideways", NULL};
  static const fc_op_def loose = {"loose_op", NULL, any_phase, NULL};
  int op = fc_op_register(&loose, &e);
  cr_assert_gt(op, 0, "%s", e.msg);
  cr_assert_eq(fc_op_check_manifest(op, &m, &e), FFTCONV_OK, "%s", e.msg);
  fc_manifest two;
  fc_manifest_two_launch(&two, "f", 128, 0, 1, "p", 64, 0, 1, 8, 0, "x.v1");
  cr_assert_eq(fc_op_check_manifest(FC_OP_FORWARD, &two, &e), FFTCONV_OK, "%s", e.msg);
}

/* A row of an op this process does not know (merged from another build's cache) keeps its
   op: the key says which. */
Test(op, a_merged_row_of_an_unknown_op_keeps_it) {
  int op = test_op();
  char other[160];
  snprintf(other, sizeof other, "%s/other.db", dir);
  fc_cache *c = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_cache_open(other, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  fc_device_info d;
  cr_assert(fc_device_info_for_arch(90, &d));
  snprintf(d.name, sizeof d.name, "NVIDIA H100");
  d.driver_version = 13000;
  fc_cache_config cfg = {&d, 90, "13.0"};
  fc_cache_kernel k = kernel();
  int64_t id = 0;
  cr_assert_eq(fc_cache_put_kernel(c, &k, &id, &e), FFTCONV_OK, "%s", e.msg);
  fftconv_problem p = problem(8, 64, 4096);
  fc_cache_measurement m = {.problem = &p, .op = op, .kernel_id = id, .status = "ok",
                            .median_ms = 0.5, .p10_ms = 0.5, .p90_ms = 0.5, .runs = 20,
                            .rel_err = 0, .rigor = "measure"};
  cr_assert_eq(fc_cache_put_measurement(c, &cfg, &m, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_close(c);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(other, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "UPDATE measurements SET op = 'ghost', problem_key = "
                                "replace(problem_key, '" OP_NAME ":', 'ghost:')",
                            NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  cr_assert_eq(fc_cache_open(path, 1, &c, &e), FFTCONV_OK, "%s", e.msg);
  const char *hashes[] = {HASH};
  fc_cache_counts n;
  cr_assert_eq(fc_cache_merge(c, other, hashes, 1, "13.0", &n, &e), FFTCONV_OK, "%s", e.msg);
  fc_cache_close(c);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM measurements WHERE op = 'ghost' AND "
                             "problem_key LIKE 'ghost:%'"), 1);
  cr_assert_eq(sql_int(path, "SELECT count(*) FROM winners WHERE op = 'ghost'"), 1);
}
