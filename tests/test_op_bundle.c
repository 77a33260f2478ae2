/* test_op_bundle: the bundle READER's side of the op. test_op takes an op other than forward
 * through the key, the cache, the ranking and the manifest export writes; here a bundle whose
 * manifest that same writer (fc_export_manifest_text) produced, with entries of forward and of
 * the test op, is opened by fc_bundle_open and looked up through the store interface: every
 * lookup, exact or of the nearest shape, takes only the entries of the wanted shape's op, and
 * an entry of an op no one registered is refused by name. */
#include <criterion/criterion.h>
#include "tree.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "export_int.h"
#include "gpu.h"
#include "kernel.h"
#include "shape.h"
#include "store.h"

#define HASH "0123456789abcdef"
#define OP_NAME "test_bwd"
#define DEVICE "NVIDIA H100"
#define NMOD 3

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/fftconv-op-bundle-XXXXXX");
  cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}
static void teardown(void) { rm_tree(dir); }
TestSuite(op_bundle, .init = setup, .fini = teardown, .timeout = 60);

/* The test op (test_op.c's), and a second one no entry is of; registered once per process. */
static const char *const op_args[] = {"u", "y", "rows", "L", NULL};
static const char *const op_phases[] = {"forward", NULL};
static const fc_op_def test_def = {OP_NAME, op_args, op_phases, NULL};
static const fc_op_def none_def = {"test_none", op_args, op_phases, NULL};

static int op_of(const fc_op_def *d) {
  int op = fc_op_find(d->name);
  if (op >= 0) return op;
  fc_err e = {{0}};
  op = fc_op_register(d, &e);
  cr_assert_gt(op, 0, "%s", e.msg);
  return op;
}

/* S, or S with another batch: H=64, L=4096, fp16, causal. */
static fftconv_problem problem(int64_t batch) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = batch, p.heads = 64, p.seqlen = 4096, p.dtype = FFTCONV_FP16;
  p.mode = FFTCONV_CAUSAL;
  return p;
}

/* The three modules: each its own template or parameters, and fatbin bytes of its own, so a
   hit says which module it is. */
static const char *const mod_tmpl[NMOD] = {"monarch_fp32", "test_bwd_family", "test_bwd_family"};
static const char *const mod_params[NMOD] = {"{\"threads\":256}", "{\"threads\":128}",
                                             "{\"threads\":64}"};
static char fatbin[NMOD][40];
/* A fixed workspace for module 2's kernel (0: none): the bounds test's. */
static int64_t mod2_ws_fixed;

/* A winner of the bundle: the op named in its key ("forward": none), its batch, its module
   and its time. Winners are in module order, as export sorts them. */
typedef struct winner {
  const char *op;
  int64_t batch;
  int module;
  double ms;
} winner;

/* The three entries: forward S on module 0 (the fastest, so that a lookup that let it in
   would take it on a tie), the test op's S on module 1 and its B=16 on module 2. third_op
   names the op of the third ("ghost": an op no one registered). */
static void winners(winner w[3], const char *third_op) {
  w[0] = (winner){"forward", 8, 0, 0.5};
  w[1] = (winner){OP_NAME, 8, 1, 0.7};
  w[2] = (winner){third_op, 16, 2, 0.9};
}

static void spit(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f, "open %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* Writes dir/name as export would: the fatbins, and manifest.json as fc_export_manifest_text
   writes it for the winners (third_op: see winners). Returns the manifest's text (malloc'd). */
static char *export_bundle(const char *name, const char *third_op) {
  winner wn[3];
  winners(wn, third_op);
  static char keys[3][300];
  static xwin w[3];
  static xmod m[NMOD];
  memset(w, 0, sizeof w);
  memset(m, 0, sizeof m);
  for (int k = 0; k < NMOD; k++) {
    fc_manifest_two_launch(&m[k].manifest, "fftconv_fwd", 128, 0, 1, "fftconv_prep", 64, 0, 1,
                           8, 0, k ? "test_bwd_family.v1" : "monarch_fp32.v1");
    if (k == 2 && mod2_ws_fixed) {
      m[k].manifest.nws = 1;
      m[k].manifest.ws[0] = (fc_workspace_region){"big", 0, mod2_ws_fixed, 0};
    }
    m[k].first = k; /* one winner a module */
    m[k].ncubins = 1;
    snprintf(m[k].cubins[0], sizeof m[k].cubins[0], "sm_90");
    snprintf(m[k].file, sizeof m[k].file, "k%03d_%s.fatbin", k, mod_tmpl[k]);
    snprintf(fatbin[k], sizeof fatbin[k], "the fatbin of module %d", k);
    m[k].fatbin = fatbin[k];
    m[k].fatbin_size = sizeof fatbin[k];
  }
  for (int i = 0; i < 3; i++) {
    fc_shape s;
    fftconv_problem p = problem(wn[i].batch);
    cr_assert_eq(fc_shape_resolve(&p, FC_OP_FORWARD, &s, NULL), FFTCONV_OK);
    if (strcmp(wn[i].op, "forward")) snprintf(keys[i], sizeof keys[i], "%s:%s", wn[i].op, s.key);
    else snprintf(keys[i], sizeof keys[i], "%s", s.key);
    int k = wn[i].module;
    w[i] = (xwin){.key = keys[i], .device = DEVICE, .tmpl = (char *)mod_tmpl[k],
                  .hash = HASH, .params = (char *)mod_params[k], .p = s.p, .revision = 1,
                  .sm = 90, .sms = 132, .driver = 13000, .device_sm = 90,
                  .median_ms = wn[i].ms, .module = k,
                  .mjson = fc_manifest_json(&m[k].manifest)};
    cr_assert(w[i].mjson);
  }
  xstate x = {.w = w, .nw = 3, .m = m, .nm = NMOD};
  fc_str t = {0};
  fc_export_manifest_text(&x, &t);
  cr_assert(t.s && !t.oom);
  for (int i = 0; i < 3; i++) free(w[i].mjson);
  char path[256], f[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  cr_assert_eq(mkdir(path, 0777), 0, "mkdir %s: %s", path, strerror(errno));
  for (int k = 0; k < NMOD; k++) {
    snprintf(f, sizeof f, "%s/%s", path, m[k].file);
    spit(f, m[k].fatbin, m[k].fatbin_size);
  }
  snprintf(f, sizeof f, "%s/" FC_BUNDLE_MANIFEST, path);
  spit(f, t.s, t.len);
  return t.s;
}

static fc_device_info device;
static fc_store_config config(void) {
  cr_assert(fc_device_info_for_arch(90, &device));
  snprintf(device.name, sizeof device.name, DEVICE);
  device.sms = 132;
  device.driver_version = 13000;
  return (fc_store_config){&device, 90, "13.0"};
}

/* The store's answer for the shape of op with this batch: found, and the hit in *hit. */
static int find(fc_store *s, int op, int64_t batch, fc_store_hit *hit) {
  fftconv_problem p = problem(batch);
  fc_shape sh;
  fc_err e = {{0}};
  cr_assert_eq(fc_shape_resolve(&p, op, &sh, &e), FFTCONV_OK, "%s", e.msg);
  fc_store_config cfg = config();
  const char *hashes[] = {HASH};
  int found = -1;
  cr_assert_eq(fc_store_lookup(s, &cfg, &sh, hashes, 1, hit, &found, &e), FFTCONV_OK, "%s",
               e.msg);
  return found;
}

/* That the hit is module k's, exact or not, for the entry of key. */
static void hit_is(fc_store_hit *hit, int k, int exact, const char *key, const char *what) {
  cr_assert_eq(hit->kernel_id, -1 - k, "%s: module %" PRId64 ", wanted %d (%s)", what,
               -1 - hit->kernel_id, k, hit->problem_key);
  cr_assert_eq(hit->exact, exact, "%s", what);
  cr_assert_str_eq(hit->problem_key, key, "%s", what);
  cr_assert_str_eq(hit->tmpl, mod_tmpl[k], "%s", what);
  cr_assert_str_eq(hit->params, mod_params[k], "%s", what);
  cr_assert_eq(hit->cubin_size, sizeof fatbin[k], "%s", what);
  cr_assert_eq(memcmp(hit->cubin, fatbin[k], sizeof fatbin[k]), 0, "%s: another fatbin", what);
  fc_store_hit_free(hit);
}

#define FWD_S "B8.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod"
#define FWD_B16 "B16.H64.L4096.K4096.F0.fp16.causal.nopre.nopost.nod"

Test(op_bundle, a_lookup_takes_only_the_entries_of_its_op) {
  int op = op_of(&test_def), none = op_of(&none_def);
  char *text = export_bundle("b", OP_NAME);
  /* the writer's entries, as the reader is about to take them */
  cr_assert(strstr(text, "{\"problem\":\"" FWD_S "\",\"op\":\"forward\",\"module\":0,\"shape\":"
                         "{\"batch\":8,"), "%s", text);
  cr_assert(strstr(text, "{\"problem\":\"" OP_NAME ":" FWD_S "\",\"op\":\"" OP_NAME "\","
                         "\"module\":1,\"shape\":{\"batch\":8,"), "%s", text);
  cr_assert(strstr(text, "{\"problem\":\"" OP_NAME ":" FWD_B16 "\",\"op\":\"" OP_NAME "\","
                         "\"module\":2,\"shape\":{\"batch\":16,"), "%s", text);
  free(text);
  char path[256];
  snprintf(path, sizeof path, "%s/b", dir);
  fc_store *s = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open_store(path, NULL, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert(strstr(fc_store_describe(s), "(3 kernels, 3 entries; cubins sm_90)"), "%s",
            fc_store_describe(s));
  cr_assert_eq(fc_store_set_device(s, 90, &e), FFTCONV_OK, "%s", e.msg);
  fc_store_hit hit;
  cr_assert_eq(find(s, FC_OP_FORWARD, 8, &hit), 1);
  hit_is(&hit, 0, 1, FWD_S, "forward S");
  cr_assert_eq(find(s, op, 8, &hit), 1);
  hit_is(&hit, 1, 1, OP_NAME ":" FWD_S, "the test op's S: its own entry, not forward's");
  cr_assert_eq(find(s, op, 16, &hit), 1);
  hit_is(&hit, 2, 1, OP_NAME ":" FWD_B16, "the test op's B=16");
  /* B=12: 768 rows, B=16's 1024 are nearer than B=8's 512 */
  cr_assert_eq(find(s, op, 12, &hit), 1);
  hit_is(&hit, 2, 0, OP_NAME ":" FWD_B16, "the test op's B=12: its nearest");
  /* B=4: the S entries are as near, and forward's is faster: only the test op's may answer */
  cr_assert_eq(find(s, op, 4, &hit), 1);
  hit_is(&hit, 1, 0, OP_NAME ":" FWD_S, "the test op's B=4: not forward's faster S");
  /* forward B=12: the test op's B=16 is nearer; forward's S is the one of its op */
  cr_assert_eq(find(s, FC_OP_FORWARD, 12, &hit), 1);
  hit_is(&hit, 0, 0, FWD_S, "forward B=12: never a test op entry");
  cr_assert_eq(find(s, FC_OP_FORWARD, 16, &hit), 1);
  hit_is(&hit, 0, 0, FWD_S, "forward B=16: the test op's own B=16 is not forward's");
  /* an op no entry is of: a miss, exact or near */
  cr_assert_eq(find(s, none, 8, &hit), 0, "%s", hit.problem_key);
  cr_assert_eq(find(s, none, 16, &hit), 0, "%s", hit.problem_key);
  cr_assert_eq(find(s, none, 12, &hit), 0, "%s", hit.problem_key);
  fc_store_close(s);
}

/* A nearest entry whose kernel does not fit the wanted shape's bounds is passed over (plan
   creation would refuse it): module 2 (the test op's B = 16, 1024 rows) asks for a fixed 60 MB
   of workspace, within the bound of 1024 rows (72 MB at N = 8192) but not of 768 (55 MB), so
   B = 12 takes the farther S entry, and B = 20 still takes B = 16's. */
Test(op_bundle, a_nearest_entry_past_the_shapes_bounds_is_passed_over) {
  int op = op_of(&test_def);
  mod2_ws_fixed = 60000000;
  free(export_bundle("b", OP_NAME));
  char path[256];
  snprintf(path, sizeof path, "%s/b", dir);
  fc_store *s = NULL;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open_store(path, NULL, &s, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(fc_store_set_device(s, 90, &e), FFTCONV_OK, "%s", e.msg);
  fc_store_hit hit;
  cr_assert_eq(find(s, op, 12, &hit), 1);
  hit_is(&hit, 1, 0, OP_NAME ":" FWD_S, "the test op's B=12: B=16's kernel does not fit it");
  cr_assert_eq(find(s, op, 20, &hit), 1);
  hit_is(&hit, 2, 0, OP_NAME ":" FWD_B16, "the test op's B=20: B=16's kernel fits");
  fc_store_close(s);
}

/* An entry of an op this process does not know (here, as export writes it from a key of an
   op "ghost") is refused by name: the bundle is not opened. */
Test(op_bundle, an_entry_of_an_unknown_op_is_refused) {
  op_of(&test_def);
  char *text = export_bundle("ghost", "ghost");
  cr_assert(strstr(text, "{\"problem\":\"ghost:" FWD_B16 "\",\"op\":\"ghost\",\"module\":2,"),
            "%s", text);
  free(text);
  char path[256];
  snprintf(path, sizeof path, "%s/ghost", dir);
  fc_bundle *b = (fc_bundle *)1;
  fc_err e = {{0}};
  cr_assert_eq(fc_bundle_open(path, NULL, &b, &e), FFTCONV_ERR_IO, "%s", e.msg);
  cr_assert_null(b);
  cr_assert(strstr(e.msg, "entries[2].op is \"ghost\", not an op this library knows (forward, ") &&
                strstr(e.msg, ", " OP_NAME ")"), "%s", e.msg);
}
