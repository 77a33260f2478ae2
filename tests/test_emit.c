/* test_emit: the template sandbox, the C <-> Lua translation and templates/lib/json.lua. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "emit.h"
#include "shape.h"

/* ---- helpers ---- */

static fc_emit *open_emit(void) {
  fc_emit *m = NULL;
  fc_err e = {{0}};
  fftconv_status s = fc_emit_open(&m, &e);
  cr_assert_eq(s, FFTCONV_OK, "fc_emit_open: %s", e.msg);
  cr_assert_not_null(m);
  return m;
}

static fftconv_problem test_problem(void) {
  fftconv_problem p;
  fftconv_problem_init(&p);
  p.batch = 2;
  p.heads = 8;
  p.seqlen = 1024;
  p.filter_len = 0;
  p.dtype = FFTCONV_FP16;
  p.pre_gate = 1;
  return p;
}

static fc_device_info test_device(void) {
  fc_device_info d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "Test GPU");
  d.sm = 90;
  d.sms = 132;
  d.smem_optin = 232448;
  d.smem_per_sm = 233472;
  d.regs_per_block = 65536;
  d.regs_per_sm = 65536;
  d.max_threads = 1024;
  d.l2_bytes = 52428800;
  d.total_mem = INT64_C(85899345920);
  d.driver_version = 13000;
  return d;
}

static void add(fc_emit *m, const char *name, const char *text) {
  fc_err e = {{0}};
  fftconv_status s = fc_emit_add_template(m, name, text, &e);
  cr_assert_eq(s, FFTCONV_OK, "add %s: %s", name, e.msg);
}

/* What a test template declares it runs (family_decl.h); one line, so that the line numbers
   of the templates' errors stay where the tests expect them. */
#define RUNS                                                                                  \
  "runs = {ops = {'forward'}, dtypes = {'fp32', 'fp16'}, modes = {'causal'},"                  \
  " fft_size = {min = 512, max = 8192}, min_sm = 75, fallback = false}"

/* A well-behaved template; its emit() builds a trivial kernel from the params. */
static const char GOOD[] =
    "local json = require \"lib.json\"\n"
    "local T = {name = \"good\", revision = 3, doc = \"a test template\", " RUNS "}\n"
    "function T.space(problem, device)\n"
    "  local out = {}\n"
    "  for _, t in ipairs({64, 128, 2048}) do\n"
    "    out[#out + 1] = {threads = t, seqs = 2, tile = {1, 2, 3}, tag = \"x\"}\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "function T.check(problem, device, params)\n"
    "  if params.threads > device.max_threads then\n"
    "    return false, string.format(\"threads %d > max_threads %d\", params.threads,\n"
    "                                device.max_threads)\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "function T.default(problem, device)\n"
    "  return {threads = 128, seqs = 2, tile = {1, 2, 3}, tag = \"x\"}\n"
    "end\n"
    "function T.layout(params, device)\n"
    "  return {threads = params.threads, smem = params.threads * 32, seqs = params.seqs,\n"
    "          prep_threads = 64, prep_smem = 0, prep_seqs = 1, khat = 513}\n"
    "end\n"
    "function T.emit(params)\n"
    "  return string.format('extern \"C\" __global__ void fftconv_fwd() { /* %d %s */ }\\n',\n"
    "                       params.threads, json.encode(params.tile))\n"
    "end\n"
    "return T\n";

/* A template whose function `fn` has body `body` starting on line 3 of the file. */
static void add_body(fc_emit *m, const char *name, const char *fn, const char *body) {
  char text[4096];
  snprintf(text, sizeof text,
           "local T = {name = \"%s\", revision = 1, doc = \"d\", " RUNS "}\n"
           "function T.%s(a, b, c)\n"
           "%s\n"
           "end\n"
           "T.space = T.space or function() return {} end\n"
           "T.check = T.check or function() return true end\n"
           "T.default = T.default or function() return {} end\n"
           "T.layout = T.layout or function()\n"
           "  return {threads = 1, smem = 0, seqs = 1, prep_threads = 1, prep_smem = 0,\n"
           "          prep_seqs = 1, khat = 1}\n"
           "end\n"
           "T.emit = T.emit or function() return '' end\n"
           "return T\n",
           name, fn, body);
  add(m, name, text);
}

/* Runs default() of a template and expects a template error mentioning `want`. */
static void expect_default_error(fc_emit *m, const char *name, const char *want) {
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  fftconv_status s = fc_emit_default(m, name, &p, &d, &params, &e);
  cr_assert_eq(s, FFTCONV_ERR_TEMPLATE, "%s: status %d, msg %s", name, s, e.msg);
  cr_assert_null(params);
  cr_assert(strstr(e.msg, want), "%s: wanted '%s' in: %s", name, want, e.msg);
}

/* ---- json.lua, in a plain Lua state ---- */

static lua_State *json_state(void) {
  lua_State *L = luaL_newstate();
  cr_assert_not_null(L);
  luaL_openlibs(L);
  const fc_embedded_file *f = fc_embedded_templates;
  while (f->path && strcmp(f->path, "lib/json.lua") != 0) f++;
  cr_assert_not_null(f->path, "lib/json.lua is not embedded");
  cr_assert_eq(luaL_loadbufferx(L, f->text, (size_t)f->len, "@templates/lib/json.lua", "t"),
               LUA_OK, "%s", lua_tostring(L, -1));
  cr_assert_eq(lua_pcall(L, 0, 1, 0), LUA_OK, "%s", lua_tostring(L, -1));
  lua_setglobal(L, "json");
  return L;
}

/* Runs a Lua expression returning one string; *ok says whether it raised. */
static char *lua_eval(lua_State *L, const char *expr, int *ok) {
  char code[2048];
  snprintf(code, sizeof code, "return %s", expr);
  cr_assert_eq(luaL_loadstring(L, code), LUA_OK, "%s", lua_tostring(L, -1));
  *ok = lua_pcall(L, 0, 1, 0) == LUA_OK;
  const char *s = lua_tostring(L, -1);
  char *r = strdup(s ? s : "(not a string)");
  lua_pop(L, 1);
  return r;
}

static void json_is(lua_State *L, const char *expr, const char *want) {
  int ok;
  char *got = lua_eval(L, expr, &ok);
  cr_expect(ok, "%s raised: %s", expr, got);
  cr_expect_str_eq(got, want, "%s", expr);
  free(got);
}

static void json_fails(lua_State *L, const char *expr, const char *want) {
  int ok;
  char *got = lua_eval(L, expr, &ok);
  cr_expect(!ok, "%s did not raise (gave %s)", expr, got);
  cr_expect(strstr(got, want), "%s: wanted '%s' in: %s", expr, want, got);
  free(got);
}

Test(json, encode_canonical) {
  lua_State *L = json_state();
  json_is(L, "json.encode({b = 1, a = {1, 2, 3}, c = 'x\"\\n', d = true, e = 1.5, f = 2.0})",
          "{\"a\":[1,2,3],\"b\":1,\"c\":\"x\\\"\\n\",\"d\":true,\"e\":1.5,\"f\":2}");
  /* byte order, not locale order: upper case before lower case, shorter prefix first */
  json_is(L, "json.encode({b = 0, B = 0, a = 0, aa = 0, _ = 0})",
          "{\"B\":0,\"_\":0,\"a\":0,\"aa\":0,\"b\":0}");
  json_is(L, "json.encode({})", "{}");
  json_is(L, "json.encode({x = {}, y = {{}}})", "{\"x\":{},\"y\":[{}]}");
  json_is(L, "json.encode(0.1)", "0.10000000000000001");
  json_is(L, "json.encode(-0.0)", "0");
  json_is(L, "json.encode(1e300)", "1.0000000000000001e+300");
  json_is(L, "json.encode(math.mininteger)", "-9223372036854775808");
  json_is(L, "json.encode('\\1\\127/\\\\')", "\"\\u0001\\u007f/\\\\\"");
  json_is(L, "json.encode({json.null, false})", "[null,false]");
  lua_close(L);
}

Test(json, encode_errors) {
  lua_State *L = json_state();
  json_fails(L, "json.encode({a = {1, 0/0}})", "non-finite number");
  json_fails(L, "json.encode({a = {1, 0/0}})", "at $.a[2]");
  json_fails(L, "json.encode(math.huge)", "non-finite");
  json_fails(L, "json.encode({[1] = 1, [3] = 3})", "sparse array");
  json_fails(L, "json.encode({1, x = 2})", "both string and integer keys");
  json_fails(L, "json.encode({[1.5] = 1})", "key of type number");
  json_fails(L, "json.encode({f = print})", "cannot encode a function value at $.f");
  json_fails(L, "(function() local t = {} t.t = t return json.encode(t) end)()", "contains itself");
  lua_close(L);
}

Test(json, round_trip) {
  lua_State *L = json_state();
  static const char *const canon[] = {
      "{\"a\":[1,2,3],\"b\":{\"c\":-4,\"d\":[]},\"e\":\"\\u0001\\\"\\\\\",\"f\":false}",
      "[1.5,-2.25,1e+100,0.10000000000000001,9223372036854775807]",
      "{\"\":null,\"x\":[[[]]],\"y\":true}",
      "\"caf\xc3\xa9\"",
      "-7",
  };
  for (size_t i = 0; i < sizeof canon / sizeof *canon; i++) {
    /* the text goes in as a Lua global to avoid quoting it again */
    lua_pushstring(L, canon[i]);
    lua_setglobal(L, "s");
    const char *want = canon[i];
    /* {"d":[]} decodes to an empty table, which encodes as {} */
    if (i == 0) want = "{\"a\":[1,2,3],\"b\":{\"c\":-4,\"d\":{}},\"e\":\"\\u0001\\\"\\\\\",\"f\":false}";
    if (i == 2) want = "{\"\":null,\"x\":[[{}]],\"y\":true}";
    json_is(L, "json.encode(json.decode(s))", want);
    json_is(L, "json.encode(json.decode(json.encode(json.decode(s))))", want);
  }
  /* non-canonical input becomes canonical */
  json_is(L, "json.encode(json.decode(' { \"b\" : 2.0 , \"a\" :\\n[ 1e2, -0 ] } '))",
          "{\"a\":[100,0],\"b\":2}");
  json_is(L, "math.type(json.decode('2.0'))", "integer");
  json_is(L, "math.type(json.decode('2.5'))", "float");
  json_is(L, "json.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\/\\\\n\"')", "\xc3\xa9\xf0\x9f\x98\x80/\n");
  lua_close(L);
}

Test(json, decode_error_offsets) {
  lua_State *L = json_state();
  json_fails(L, "json.decode('{\"a\":1,}')", "expected a string key, got '}' at offset 7");
  json_fails(L, "json.decode('[1 2]')", "expected ',' or ']', got '2' at offset 3");
  json_fails(L, "json.decode('\"abc')", "unterminated string at offset 0");
  json_fails(L, "json.decode('{\"a\":1} x')", "unexpected trailing 'x' at offset 8");
  json_fails(L, "json.decode('01')", "at offset 1");
  json_fails(L, "json.decode('nul')", "unexpected 'n' at offset 0");
  json_fails(L, "json.decode('{\"a\":1,\"a\":2}')", "duplicate key \"a\" at offset 7");
  json_fails(L, "json.decode('[1.]')", "expected a digit after '.'");
  json_fails(L, "json.decode('1e999')", "number out of range at offset 0");
  json_fails(L, "json.decode('\"\\\\ud800\"')", "unpaired high surrogate at offset 1");
  json_fails(L, "json.decode('\"a\\tb\"')", "control character in string at offset 2");
  json_fails(L, "json.decode('')", "unexpected end of input at offset 0");
  json_fails(L, "json.decode(string.rep('[', 200))", "nesting deeper than");
  json_fails(L, "json.decode(5)", "expected a string");
  lua_close(L);
}

/* ---- a valid template ---- */

static char *expected_source(fc_emit *m, const char *json, int threads, const char *tile) {
  fc_template_info info;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_info(m, "good", &info, &e), FFTCONV_OK, "%s", e.msg);
  fc_manifest mf;
  fc_manifest_two_launch(&mf, "fftconv_fwd", threads, threads * 32, 2, "fftconv_prep", 64, 0, 1,
                         513, 0, "good");
  char *mj = fc_manifest_json(&mf);
  char *buf = malloc(8192);
  snprintf(buf, 8192,
           "/* fftconv generated kernel: do not edit.\n"
           " * template: good revision 3 hash %s\n"
           " * params: %s\n"
           " * manifest: %s\n"
           " */\n"
           "extern \"C\" __global__ void fftconv_fwd() { /* %d %s */ }\n",
           info.hash, json, mj, threads, tile);
  free(mj);
  return buf;
}

Test(emit, kernel_header_and_determinism) {
  fc_emit *m = open_emit();
  add(m, "good", GOOD);
  fc_device_info d = test_device();
  fc_err e = {{0}};
  const char *canon = "{\"seqs\":2,\"tag\":\"x\",\"threads\":128,\"tile\":[1,2,3]}";
  fc_kernel_src k1, k2, k3;
  cr_assert_eq(fc_emit_kernel(m, "good", canon, &d, &k1, &e), FFTCONV_OK, "%s", e.msg);
  char *want = expected_source(m, canon, 128, "[1,2,3]");
  cr_assert_str_eq(k1.source, want);
  cr_assert_str_eq(k1.name, "good.cu");
  const fc_launch *fw = fc_manifest_first(&k1.manifest, FC_PHASE_FORWARD);
  const fc_launch *pr = fc_manifest_first(&k1.manifest, FC_PHASE_PREPARE);
  cr_assert(fw && pr);
  cr_assert_str_eq(fw->entry, "fftconv_fwd");
  cr_assert_str_eq(pr->entry, "fftconv_prep");
  cr_assert_eq(fw->block[0], 128);
  cr_assert_eq(fw->smem, 128 * 32);
  cr_assert_eq(k1.manifest.filter_per_head, 513 * 8);
  cr_assert_str_eq(k1.manifest.filter_layout, "good");
  cr_assert_eq(k1.info.revision, 3);
  cr_assert_str_eq(k1.info.doc, "a test template");
  cr_assert_eq(strlen(k1.info.hash), 16);

  /* non-canonical params text: the header carries the canonical form */
  const char *loose = " {\"tile\": [1, 2.0, 3], \"threads\": 128.0, \"tag\":\"x\", \"seqs\": 2}";
  cr_assert_eq(fc_emit_kernel(m, "good", loose, &d, &k2, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(k2.source, k1.source);

  /* a second instance gives the same bytes */
  fc_emit *m2 = open_emit();
  add(m2, "good", GOOD);
  cr_assert_eq(fc_emit_kernel(m2, "good", canon, &d, &k3, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(k3.source, k1.source);

  free(want);
  fc_kernel_src_free(&k1);
  fc_kernel_src_free(&k2);
  fc_kernel_src_free(&k3);
  fc_kernel_src_free(NULL);
  fc_emit_close(m);
  fc_emit_close(m2);
  fc_emit_close(NULL);
}

Test(emit, space_check_reasons_and_round_trip) {
  fc_emit *m = open_emit();
  add(m, "good", GOOD);
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  fc_candidate *c = NULL;
  int n = 0;
  cr_assert_eq(fc_emit_space(m, "good", &p, &d, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(c[0].params, "{\"seqs\":2,\"tag\":\"x\",\"threads\":64,\"tile\":[1,2,3]}");
  cr_assert_null(c[0].reason);
  cr_assert_null(c[1].reason);
  cr_assert_not_null(c[2].reason);
  cr_assert_str_eq(c[2].reason, "threads 2048 > max_threads 1024");

  /* every accepted candidate's params go through fc_emit_kernel unchanged */
  for (int i = 0; i < 2; i++) {
    fc_kernel_src k;
    cr_assert_eq(fc_emit_kernel(m, "good", c[i].params, &d, &k, &e), FFTCONV_OK, "%s", e.msg);
    char *want = expected_source(m, c[i].params, i ? 128 : 64, "[1,2,3]");
    cr_assert_str_eq(k.source, want);
    free(want);
    fc_kernel_src_free(&k);
  }
  fc_candidates_free(c, n);
  fc_candidates_free(NULL, 0);

  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "good", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"seqs\":2,\"tag\":\"x\",\"threads\":128,\"tile\":[1,2,3]}");
  free(params);
  fc_emit_close(m);
}

Test(emit, problem_and_device_tables) {
  fc_emit *m = open_emit();
  add_body(m, "probe", "default",
           "  local p, d = a, b\n"
           "  return {b = p.batch, h = p.heads, L = p.seqlen, K = p.filter_len, F = p.freq_keep,\n"
           "   N = p.fft_size, dt = p.dtype, mode = p.mode, pre = p.pre_gate, post = p.post_gate,\n"
           "   skip = p.skip_d, name = d.name, sm = d.sm, sms = d.sms, optin = d.smem_optin,\n"
           "   psm = d.smem_per_sm, rb = d.regs_per_block, rs = d.regs_per_sm,\n"
           "   mt = d.max_threads, l2 = d.l2_bytes, mem = d.total_mem, drv = d.driver_version,\n"
           "   ints = math.type(p.batch) .. math.type(d.total_mem)}");
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "probe", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params,
                   "{\"F\":0,\"K\":1024,\"L\":1024,\"N\":2048,\"b\":2,\"drv\":13000,\"dt\":\"fp16\","
                   "\"h\":8,\"ints\":\"integerinteger\",\"l2\":52428800,\"mem\":85899345920,"
                   "\"mode\":\"causal\",\"mt\":1024,\"name\":\"Test GPU\",\"optin\":232448,"
                   "\"post\":false,\"pre\":true,\"psm\":233472,\"rb\":65536,\"rs\":65536,"
                   "\"skip\":false,\"sm\":90,\"sms\":132}");
  free(params);
  fc_emit_close(m);
}

/* ---- errors ---- */

Test(emit, error_names_file_and_line) {
  fc_emit *m = open_emit();
  add_body(m, "bad", "emit", "  local x = 1\n  error(\"boom\")"); /* error() is on line 4 */
  fc_device_info d = test_device();
  fc_err e = {{0}};
  fc_kernel_src k;
  cr_assert_eq(fc_emit_kernel(m, "bad", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE, "%s", e.msg);
  cr_assert(strncmp(e.msg, "templates/bad.lua:4: boom", 25) == 0, "%s", e.msg);
  cr_assert(strstr(e.msg, "stack traceback"), "%s", e.msg);
  cr_assert_null(k.source);

  /* at load time */
  add(m, "bad2", "local T = {}\n\nerror(\"boom\")\nreturn T\n");
  fc_template_info info;
  cr_assert_eq(fc_emit_info(m, "bad2", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strncmp(e.msg, "templates/bad2.lua:3: boom", 26) == 0, "%s", e.msg);

  /* a syntax error */
  add(m, "bad3", "local T = {\nreturn T\n");
  cr_assert_eq(fc_emit_info(m, "bad3", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strncmp(e.msg, "templates/bad3.lua:2:", 21) == 0, "%s", e.msg);

  /* the state still works afterwards */
  add(m, "good", GOOD);
  cr_assert_eq(fc_emit_info(m, "good", &info, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
}

Test(emit, budget_stops_loops) {
  fc_emit *m = open_emit();
  fc_emit_set_budget(m, 1000000);
  add_body(m, "spin", "emit", "  while true do end");
  fc_device_info d = test_device();
  fc_err e = {{0}};
  fc_kernel_src k;
  cr_assert_eq(fc_emit_kernel(m, "spin", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE, "%s", e.msg);
  cr_assert(strncmp(e.msg, "templates/spin.lua:3: instruction budget of 1000000 exceeded", 60) == 0,
            "%s", e.msg);

  /* at load time */
  add(m, "spinload", "local T = {}\nwhile true do end\nreturn T\n");
  fc_template_info info;
  cr_assert_eq(fc_emit_info(m, "spinload", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "templates/spinload.lua:2:"), "%s", e.msg);
  cr_assert(strstr(e.msg, "instruction budget of 1000000 exceeded"), "%s", e.msg);

  /* pcall cannot swallow it */
  add_body(m, "sneaky", "default",
           "  while true do pcall(function() while true do end end) end");
  expect_default_error(m, "sneaky", "instruction budget of 1000000 exceeded");
  add_body(m, "sneaky2", "default",
           "  while true do xpcall(function() while true do end end, function() end) end");
  expect_default_error(m, "sneaky2", "instruction budget of 1000000 exceeded");

  /* the budget is per call: a fresh call gets the full amount again */
  add(m, "good", GOOD);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(fc_emit_info(m, "good", &info, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
}

Test(emit, sandbox) {
  fc_emit *m = open_emit();
  static const struct {
    const char *code, *want;
  } cases[] = {
      {"  io.open('/etc/passwd')", "templates/sb.lua:3: undeclared global 'io'"},
      {"  os.execute('true')", "templates/sb.lua:3: undeclared global 'os'"},
      {"  debug.getinfo(1)", "templates/sb.lua:3: undeclared global 'debug'"},
      {"  dofile('/etc/passwd')", "templates/sb.lua:3: undeclared global 'dofile'"},
      {"  loadfile('/etc/passwd')", "templates/sb.lua:3: undeclared global 'loadfile'"},
      {"  print('hi')", "templates/sb.lua:3: undeclared global 'print'"},
      {"  package.loaded.x = 1", "templates/sb.lua:3: undeclared global 'package'"},
      {"  require 'os'", "templates/sb.lua:3: module 'os' not found"},
      {"  require 'lib.nonesuch'", "templates/sb.lua:3: module 'lib.nonesuch' not found"},
      {"  assert(load(string.dump(function() end), '=x', 't', {}))",
       "attempt to load a binary chunk"},
      {"  load(string.dump(function() end), '=x', 'b', {})", "only text chunks"},
      {"  load('return 1')", "bad argument #4 to 'load' (table expected"},
      {"  leak = 1", "templates/sb.lua:3: assignment to undeclared global 'leak'"},
      {"  setmetatable(_G, nil)", "cannot change a protected metatable"},
      {"  math.random(1)", "attempt to call a nil value (field 'random')"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    add_body(m, "sb", "default", cases[i].code);
    expect_default_error(m, "sb", cases[i].want);
  }
  /* load with an explicit env works and sees only that env */
  add_body(m, "sb", "default",
           "  local f = assert(load('return x + 1', '=chunk', 't', {x = 41}))\n"
           "  return {v = f()}");
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "sb", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"v\":42}");
  free(params);
  fc_emit_close(m);
}

Test(emit, missing_or_bad_fields) {
  fc_emit *m = open_emit();
  fc_template_info info;
  fc_err e = {{0}};
  add(m, "noemit",
      "return {name = 'noemit', revision = 1, doc = 'd', space = print, check = type,\n"
      "  default = type, layout = type}\n");
  /* print is gone, so space is nil too: the first missing field in order is named */
  cr_assert_eq(fc_emit_info(m, "noemit", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "undeclared global 'print'"), "%s", e.msg);
  add(m, "noemit",
      "return {name = 'noemit', revision = 1, doc = 'd', space = type, check = type,\n"
      "  default = type, layout = type}\n");
  cr_assert_eq(fc_emit_info(m, "noemit", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "template 'noemit'") && strstr(e.msg, "field 'emit' is missing"), "%s",
            e.msg);
  add(m, "badrev",
      "return {name = 'badrev', revision = '1', doc = 'd', space = type, check = type,\n"
      "  default = type, layout = type, emit = type}\n");
  cr_assert_eq(fc_emit_info(m, "badrev", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "template 'badrev'") &&
                strstr(e.msg, "field 'revision' must be an integer, got string"),
            "%s", e.msg);
  add(m, "wrongname",
      "return {name = 'other', revision = 1, doc = 'd', space = type, check = type,\n"
      "  default = type, layout = type, emit = type}\n");
  cr_assert_eq(fc_emit_info(m, "wrongname", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "field 'name' is 'other'"), "%s", e.msg);

  /* layout() without khat; emit() returning a number; params with a comment end */
  fc_device_info d = test_device();
  fc_kernel_src k;
  add_body(m, "lay", "layout",
           "  return {threads = 1, smem = 0, seqs = 1, prep_threads = 1, prep_smem = 0,"
           " prep_seqs = 1}");
  cr_assert_eq(fc_emit_kernel(m, "lay", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "layout() field 'khat' must be an integer, got nil"), "%s", e.msg);
  add_body(m, "lay", "layout",
           "  return {threads = 1.5, smem = 0, seqs = 1, prep_threads = 1, prep_smem = 0,"
           " prep_seqs = 1, khat = 1}");
  cr_assert_eq(fc_emit_kernel(m, "lay", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "field 'threads' must be an integer"), "%s", e.msg);
  /* A full manifest: read by the manifest reader, its complaints named. */
  add_body(m, "lay", "layout",
           "  return {version = 1, filter = {layout = 'f', per_head = 16, fixed = 0},\n"
           "    workspace = {{name = 'a', per_row = 64, fixed = 0}},\n"
           "    launches = {{entry = 'k', phase = 'forward', grid = {over = 'rows', per = 1},\n"
           "      block = {32, 1, 1}, smem = 0, cluster = {2, 1, 1},\n"
           "      args = {'u', 'ws:a', 'y', 'rows'}, reads = {'u'}, writes = {'y', 'ws:a'}}}}");
  cr_assert_eq(fc_emit_kernel(m, "lay", "{}", &d, &k, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(k.manifest.nws, 1);
  cr_assert_eq(k.manifest.launch[0].cluster[0], 2);
  cr_assert(strstr(k.source, " * manifest: {\"version\":1,\"launches\":[{\"entry\":\"k\"") &&
                strstr(k.source, "\"args\":[\"u\",\"ws:a\",\"y\",\"rows\"]"),
            "%s", k.source);
  fc_kernel_src_free(&k);
  /* per_head passes through: a literal region's, and lib.manifest's region() (left out at 0) */
  add_body(m, "lay", "layout",
           "  local mf = require 'lib.manifest'\n"
           "  return {version = 1, filter = {layout = 'f', per_head = 16, fixed = 0},\n"
           "    workspace = {{name = 'a', per_row = 64, fixed = 0, per_head = 48},\n"
           "      mf.region('b', {fixed = 8, per_head = 0}), mf.region('c', {per_head = 32})},\n"
           "    launches = {{entry = 'k', phase = 'forward', grid = {over = 'rows', per = 1},\n"
           "      block = {32, 1, 1}, smem = 0, args = {'u', 'ws:a', 'ws:b', 'ws:c', 'y', 'rows'},\n"
           "      reads = {'u'}, writes = {'y', 'ws:a', 'ws:b', 'ws:c'}}}}");
  cr_assert_eq(fc_emit_kernel(m, "lay", "{}", &d, &k, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(k.manifest.nws, 3);
  cr_assert_eq(k.manifest.ws[0].per_head, 48);
  cr_assert_eq(k.manifest.ws[1].per_head, 0);
  cr_assert_eq(k.manifest.ws[1].fixed, 8);
  cr_assert_eq(k.manifest.ws[2].per_head, 32);
  cr_assert_eq(k.manifest.ws[2].per_row, 0);
  cr_assert(strstr(k.source, "{\"name\":\"a\",\"per_row\":64,\"fixed\":0,\"per_head\":48},"
                             "{\"name\":\"b\",\"per_row\":0,\"fixed\":8},"
                             "{\"name\":\"c\",\"per_row\":0,\"fixed\":0,\"per_head\":32}"),
            "%s", k.source);
  fc_kernel_src_free(&k);
  add_body(m, "lay", "layout",
           "  return {version = 1, filter = {layout = 'f', per_head = 16},\n"
           "    launches = {{entry = 'k', phase = 'forward', grid = {over = 'rows', per = 1},\n"
           "      block = {32, 1, 1}, smem = 0, args = {'u', 'y', 'rows'}, reads = {'u'},\n"
           "      writes = {'u'}}}}");
  cr_assert_eq(fc_emit_kernel(m, "lay", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "template 'lay': layout(): manifest: k: writes an input buffer"), "%s",
            e.msg);
  add(m, "num", GOOD);
  char text[sizeof GOOD + 64];
  snprintf(text, sizeof text, "%s", GOOD);
  char *at = strstr(text, "name = \"good\"");
  memcpy(at, "name = \"num\" ", 13);
  at = strstr(text, "function T.emit(params)\n");
  cr_assert_not_null(at);
  snprintf(at, sizeof text - (size_t)(at - text), "function T.emit() return 7 end\nreturn T\n");
  add(m, "num", text);
  const char *ok = "{\"seqs\":2,\"tag\":\"x\",\"threads\":128,\"tile\":[1,2,3]}";
  cr_assert_eq(fc_emit_kernel(m, "num", ok, &d, &k, &e), FFTCONV_ERR_TEMPLATE, "%s", e.msg);
  cr_assert(strstr(e.msg, "emit() must return a string, got number"), "%s", e.msg);
  add(m, "good", GOOD);
  cr_assert_eq(fc_emit_kernel(m, "good", "{\"seqs\":2,\"tag\":\"*/\",\"threads\":1,\"tile\":[1]}",
                              &d, &k, &e),
               FFTCONV_ERR_TEMPLATE);
  cr_assert(strstr(e.msg, "\"*/\""), "%s", e.msg);
  /* bad params text is the caller's error, with the offset */
  cr_assert_eq(fc_emit_kernel(m, "good", "{\"seqs\":2,}", &d, &k, &e), FFTCONV_ERR_INVALID);
  cr_assert(strstr(e.msg, "params: json.decode: expected a string key, got '}' at offset 10"),
            "%s", e.msg);
  cr_assert_eq(fc_emit_kernel(m, "good", "[1]", &d, &k, &e), FFTCONV_ERR_INVALID);
  fc_emit_close(m);
}

Test(emit, unknown_template_and_invalid_problem) {
  fc_emit *m = open_emit();
  add(m, "zeta", GOOD);
  add(m, "alpha", GOOD);
  int n = fc_emit_template_count(m);
  cr_assert_geq(n, 2);
  for (int i = 1; i < n; i++)
    cr_assert_lt(strcmp(fc_emit_template_name(m, i - 1), fc_emit_template_name(m, i)), 0);
  cr_assert_null(fc_emit_template_name(m, n));
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "nope", &p, &d, &params, &e), FFTCONV_ERR_INVALID);
  cr_assert(strncmp(e.msg, "unknown template 'nope' (have: ", 31) == 0, "%s", e.msg);
  cr_assert(strstr(e.msg, "alpha") && strstr(e.msg, "zeta"), "%s", e.msg);
  cr_assert(strstr(e.msg, "alpha") < strstr(e.msg, "zeta"), "%s", e.msg);

  p.batch = 0;
  char want[512];
  fftconv_problem_check(&p, want, sizeof want);
  cr_assert_eq(fc_emit_default(m, "alpha", &p, &d, &params, &e), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(e.msg, want);
  fc_candidate *c = NULL;
  cr_assert_eq(fc_emit_space(m, "alpha", &p, &d, FC_RIGOR_EXHAUSTIVE, &c, &n, &e), FFTCONV_ERR_INVALID);
  cr_assert_str_eq(e.msg, want);
  cr_assert_null(c);

  cr_assert_eq(fc_emit_add_template(m, "../x", "return {}", &e), FFTCONV_ERR_INVALID);
  fc_emit_close(m);
}

Test(emit, info_hash_and_replacement) {
  fc_emit *m = open_emit();
  add(m, "good", GOOD);
  fc_template_info a, b;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_info(m, "good", &a, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(a.name, "good");
  cr_assert_eq(a.revision, 3);

  /* the hash covers the text: an edit changes it, and the new text is what runs */
  char text[sizeof GOOD + 8];
  snprintf(text, sizeof text, "%s", GOOD);
  char *rev = strstr(text, "revision = 3");
  rev[11] = '4';
  add(m, "good", text);
  cr_assert_eq(fc_emit_info(m, "good", &b, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_eq(b.revision, 4);
  cr_assert_str_neq(a.hash, b.hash);
  for (int i = 0; i < 16; i++) cr_assert(strchr("0123456789abcdef", b.hash[i]), "%s", b.hash);
  fc_emit_close(m);
}

/* ---- pattern matching: the sandbox's own string.find/match/gmatch/gsub ---- */

/* A template whose default() runs `code` (Lua statements) as the body of a function f and
   returns {out = f()}. */
static char *pattern_template(const char *name, const char *code) {
  static const char head[] =
      "local T = {name = \"%s\", revision = 1, doc = \"d\", " RUNS "}\n"
      "local function f()\n";
  static const char tail[] =
      "\nend\n"
      "function T.default() return {out = f()} end\n"
      "function T.space() return {} end\n"
      "function T.check() return true end\n"
      "function T.layout() return {} end\n"
      "function T.emit() return '' end\n"
      "return T\n";
  size_t n = sizeof head + strlen(name) + strlen(code) + sizeof tail;
  char *text = malloc(n);
  cr_assert_not_null(text);
  int w = snprintf(text, n, head, name);
  snprintf(text + w, n - (size_t)w, "%s%s", code, tail);
  return text;
}

/* Runs `code` (Lua statements ending in a return of one string) in a plain Lua state with
   the standard string library and in the sandbox; the results must be the same. */
static void same_as_lua(fc_emit *m, const char *code) {
  lua_State *L = json_state();
  size_t n = strlen(code) + 128;
  char *chunk = malloc(n);
  cr_assert_not_null(chunk);
  snprintf(chunk, n, "local function f()\n%s\nend\nreturn json.encode({out = f()})", code);
  cr_assert_eq(luaL_loadstring(L, chunk), LUA_OK, "%s", lua_tostring(L, -1));
  cr_assert_eq(lua_pcall(L, 0, 1, 0), LUA_OK, "%s", lua_tostring(L, -1));
  char *want = strdup(lua_tostring(L, -1));
  lua_close(L);
  free(chunk);

  char *text = pattern_template("pat", code);
  add(m, "pat", text);
  free(text);
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *got = NULL;
  cr_assert_eq(fc_emit_default(m, "pat", &p, &d, &got, &e), FFTCONV_OK, "%s", e.msg);
  if (strcmp(got, want)) { /* name the first result that differs */
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 200 ? i - 200 : 0;
    cr_assert_fail("the sandbox differs from Lua at byte %zu:\nLua:     ...%.400s\nsandbox: ...%.400s",
                   i, want + from, got + from);
  }
  free(want);
  free(got);
}

/* Records every result (or error) of every string function on each {subject, pattern}. */
static const char PATTERN_DRIVER[] =
    "  local R = {}\n"
    "  local function rec(...)\n"
    "    local t = table.pack(...)\n"
    "    for i = 1, t.n do t[i] = tostring(t[i]) end\n"
    "    R[#R + 1] = table.concat(t, ',', 1, t.n)\n"
    "  end\n"
    "  local function gm(s, p, init)\n"
    "    local it, t = string.gmatch(s, p, init), {}\n"
    "    for _ = 1, 40 do\n"
    "      local r = table.pack(pcall(it))\n"
    "      if not r[1] then return 'error: ' .. tostring(r[2]) end\n"
    "      if r.n == 1 then break end\n"
    "      for i = 2, r.n do r[i] = tostring(r[i]) end\n"
    "      t[#t + 1] = table.concat(r, '/', 2, r.n)\n"
    "    end\n"
    "    return table.concat(t, ' ')\n"
    "  end\n"
    "  local function count(...) return select('#', ...) end\n"
    "  for _, c in ipairs(CASES) do\n"
    "    local s, p = c[1], c[2]\n"
    "    rec(pcall(string.find, s, p))\n"
    "    rec(pcall(string.find, s, p, 2))\n"
    "    rec(pcall(string.find, s, p, -3))\n"
    "    rec(pcall(string.find, s, p, 1, true))\n"
    "    rec(pcall(string.match, s, p))\n"
    "    rec(pcall(string.match, s, p, -2))\n"
    "    rec(pcall(gm, s, p))\n"
    "    rec(pcall(gm, s, p, 3))\n"
    "    rec(pcall(string.gsub, s, p, '<%0>'))\n"
    "    rec(pcall(string.gsub, s, p, '%1%%'))\n"
    "    rec(pcall(string.gsub, s, p, {a = 'A', b = false, ['1'] = 7}))\n"
    "    rec(pcall(string.gsub, s, p, count))\n"
    "    rec(pcall(string.gsub, s, p, 'x', 2))\n"
    "    rec(pcall(s.find, s, p))\n" /* as a method, through the strings' metatable */
    "  end\n"
    "  return table.concat(R, '\\n')\n";

static void same_as_lua_on(fc_emit *m, const char *cases) {
  size_t n = strlen(cases) + sizeof PATTERN_DRIVER + 64;
  char *code = malloc(n);
  cr_assert_not_null(code);
  snprintf(code, n, "  local CASES = %s\n%s", cases, PATTERN_DRIVER);
  same_as_lua(m, code);
  free(code);
}

Test(emit, patterns_behave_as_lua) {
  fc_emit *m = open_emit();
  /* The reference manual's examples, each pattern item, anchors, positions and every error. */
  same_as_lua_on(m,
      "{\n"
      "  {'hello world from Lua', '(%w+)'}, {'hello world', '%w+'},\n"
      "  {'hello world from Lua', '(%w+)%s*(%w+)'}, {'$name-$version.tar.gz', '%$(%w+)'},\n"
      "  {'THE (quick) fox', '%((%a+)%)'}, {'key = value', '(%w+)%s*=%s*(%w+)'},\n"
      "  {'one two three', '%a+'}, {'a.c', '.'}, {'abc', ''}, {'', ''}, {'', 'a*'},\n"
      "  {'  x', '^%s*()'}, {'abc', '%w*'}, {'[test]', '%[(.-)%]'}, {'f(a(b)c)d', '%b()'},\n"
      "  {'THE (quick) fox', '%f[%a]%a+'}, {'THE (quick) fox', '%f[%A]'}, {'aaa', '(a*(.)%w(%s*))'},\n"
      "  {'hello', '()ll()'}, {'abc', '(b)'}, {'hello', '^h'}, {'a^b', '^b'}, {'a^b', 'a^'},\n"
      "  {'a$b', 'a$b'}, {'ab', 'b$'}, {'ab', '$'}, {'ab', '^$'}, {'', '^$'}, {'x = 1, y = 22', '(%w+) = (%d+)'},\n"
      "  {'abcabc', '(abc)%1'}, {'abab', '(a)(b)%2'}, {'aa', '()a%1'}, {'abc', '[%a-]+'},\n"
      "  {'a-b]c', '[]-]+'}, {'a^b', '[a^]+'}, {'a-z', '[a-]'}, {'a-z', '[%a-%d]+'},\n"
      "  {'A1 b2_c3', '[%w_]+'}, {'A1 b2', '[^%s]+'}, {'\\0a\\0', '%z'}, {'\\0a\\0', '[\\0]'},\n"
      "  {'\\255\\1x', '[\\1-\\255]+'}, {'\\255', '%A'}, {'a.b', '%.'}, {'tab\\there', '%c'},\n"
      "  {'x:y', '%p'}, {'Ab', '%u%l'}, {'ff 10', '%x+'}, {'  x', '%S'}, {'ab', 'a-b'},\n"
      "  {'aaab', 'a-b'}, {'aaab', 'a*b'}, {'aaab', 'a+b'}, {'aaab', 'a?b'}, {'b', 'a+b'},\n"
      "  {'(())', '%b()'}, {'(()', '%b()'}, {'xx', '%bxx'}, {'abc', '%b'}, {'abc', '%ba'},\n"
      "  {'abc', '%'}, {'abc', '[a'}, {'abc', '[]'}, {'abc', '[^]'}, {'abc', '%f'}, {'abc', '%fa'},\n"
      "  {'abc', '%1'}, {'abc', '(a)%2'}, {'abc', '(a%1)'}, {'abc', '('}, {'abc', ')'},\n"
      "  {'abc', '(()'}, {'abc', 'a)'}, {'abc', '%g+'}, {'ab', '(a)(b)()'},\n"
      "  {string.rep('a', 40), string.rep('(a)', 33)}, {string.rep('a', 40), string.rep('(a)', 32)},\n"
      "  {string.rep('x', 300), string.rep('x?', 198)}, {string.rep('x', 300), string.rep('x?', 199)},\n"
      "  {string.rep('x', 300), string.rep('x?', 200)}, {string.rep('x', 300), string.rep('x?', 201)},\n"
      "  {'line one\\nline two\\n\\nlast', '(.-)\\n'}, {'@if x\\n  y ${z}', '^%s*@(.*)$'},\n"
      "}\n");
  /* Replacement values, counts and bad arguments. */
  same_as_lua(m,
      "  local R = {}\n"
      "  local function rec(...) local t = table.pack(...)\n"
      "    for i = 1, t.n do t[i] = tostring(t[i]) end R[#R + 1] = table.concat(t, ',', 1, t.n) end\n"
      "  rec(pcall(string.gsub, 'abc', '%w', {a = {}}))\n"
      "  rec(pcall(string.gsub, 'abc', '%w', function(c) if c == 'b' then return false end return c:upper() end))\n"
      "  rec(pcall(string.gsub, 'abc', '%w', function() return 1.5 end))\n"
      "  rec(pcall(string.gsub, 'abc', '%w', 42))\n"
      "  rec(pcall(string.gsub, 'abc', '%w', true))\n"
      "  rec(pcall(string.gsub, 'abc', '%w'))\n"
      "  rec(pcall(string.gsub, 'abc', 'b', '%'))\n"
      "  rec(pcall(string.gsub, 'abc', 'b', '%x'))\n"
      "  rec(pcall(string.gsub, 'abc', 'b', '%2'))\n"
      "  rec(pcall(string.gsub, 'abc', '()b', '%1'))\n"
      "  rec(pcall(string.gsub, 'abc', '(b)', '%0%1%%'))\n"
      "  for _, n in ipairs({-1, 0, 1, 2, 10}) do rec(pcall(string.gsub, 'aaa', 'a', 'b', n)) end\n"
      "  rec(pcall(string.gsub, 'aaa', '', '-', 2))\n"
      "  rec(pcall(string.gsub, 'abc', 'b', 'x', 1.5))\n"
      "  rec(pcall(string.find, nil, 'x'))\n"
      "  rec(pcall(string.find, 'x', {}))\n"
      "  rec(pcall(string.find, 'x', 'x', 'y'))\n"
      "  rec(pcall(string.match, 'x'))\n"
      "  rec(pcall(string.gmatch, 'x'))\n"
      "  for _, i in ipairs({-100, -4, -3, -1, 0, 1, 3, 4, 5, 100, math.mininteger, math.maxinteger}) do\n"
      "    rec(pcall(string.find, 'abc', '', i)) rec(pcall(string.find, 'abc', 'c', i, true))\n"
      "    rec(pcall(string.match, 'abc', '()', i))\n"
      "    local t = {} for a in string.gmatch('abc', '()', i) do t[#t + 1] = a end\n"
      "    rec(table.concat(t, ' '))\n"
      "  end\n"
      "  rec(string.find(12345, '3'))\n" /* numbers are strings here too */
      "  rec(string.gsub(1.5, '%.', ','))\n"
      "  return table.concat(R, '\\n')\n");
  /* Random patterns and subjects from a fixed seed, malformed ones included. */
  same_as_lua_on(m,
      "(function()\n"
      "  local seed, C = 12345, {}\n"
      "  local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648\n"
      "    return seed // 65536 % n + 1 end\n"
      "  local atoms = {'a', 'b', '.', '%a', '%d', '%s', '%W', '[ab]', '[^a]', '[a-c]', '[%d.]',\n"
      "    '[]]', '[^]a]', '%b()', '%bab', '%f[%w]', '%f[%W]', '(', ')', '()', '%1', '%2', '^',\n"
      "    '$', '%%', '%', '[', 'x', '-', '1', '%.', '\\0'}\n"
      "  local quants = {'', '', '', '*', '+', '-', '?'}\n"
      "  local chars = {'a', 'b', 'c', '1', '2', ' ', '(', ')', '.', '%', 'x', '-', '\\0', '\\255'}\n"
      "  for _ = 1, 1500 do\n"
      "    local p, s = {}, {}\n"
      "    for j = 1, rnd(6) do p[j] = atoms[rnd(#atoms)] .. quants[rnd(#quants)] end\n"
      "    for j = 1, rnd(13) - 1 do s[j] = chars[rnd(#chars)] end\n"
      "    C[#C + 1] = {table.concat(s), table.concat(p)}\n"
      "  end\n"
      "  return C\n"
      "end)()\n");
  fc_emit_close(m);
}

/* The instruction budget reaches into C pattern matching: a pattern that backtracks for
   ages stops with the budget error at the template line that called it. Without it this
   test hangs until its timeout. */
Test(emit, budget_reaches_pattern_matching, .timeout = 120) {
  fc_emit *m = open_emit();
  fc_emit_set_budget(m, 1000000);
  static const char *const bodies[] = {
      "  local s = string.rep('a', 20000) return {s:find('.-.-.-.-.-b')}",
      "  local s = string.rep('a', 20000) return {string.match(s, '.-.-.-.-.-b')}",
      "  local s = string.rep('a', 20000) for x in s:gmatch('.-.-.-.-.-b') do end",
      "  local s = string.rep('a', 20000) return {s:gsub('.-.-.-.-.-b', '')}",
      "  local s = string.rep('a', 20000) return {s:find('(.*)%1b')}",
      "  local s = string.rep('(', 20000) return {s:find('%b()')}",
      "  local s = string.rep('a', 20000) for i = 1, 100 do pcall(string.find, s, '.-.-.-b') end",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    add_body(m, "pm", "default", bodies[i]);
    expect_default_error(m, "pm", "templates/pm.lua:3: instruction budget of 1000000 exceeded");
  }
  /* A long but linear match stays within the default budget. */
  fc_emit_set_budget(m, 0);
  add_body(m, "pm", "default",
           "  local s = string.rep('x = 1;\\n', 100000)\n"
           "  local n = 0 for line in s:gmatch('(.-)\\n') do n = n + #line end\n"
           "  return {n = n, m = select(2, s:gsub('%s*=%s*', '='))}");
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "pm", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"m\":100000,\"n\":600000}");
  free(params);
  fc_emit_close(m);
}

/* ---- out of memory, and error objects that are not strings ---- */

/* Runs default() of a template and expects FFTCONV_ERR_NOMEM with a message starting with
   `want`. */
static void expect_default_oom(fc_emit *m, const char *name, const char *want) {
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  fc_err e = {{0}};
  char *params = NULL;
  fftconv_status s = fc_emit_default(m, name, &p, &d, &params, &e);
  cr_assert_eq(s, FFTCONV_ERR_NOMEM, "%s: status %d, msg %s", name, s, e.msg);
  cr_assert_null(params);
  cr_assert(strncmp(e.msg, want, strlen(want)) == 0, "%s: wanted '%s...' in: %s", name, want,
            e.msg);
}

Test(emit, out_of_memory_names_file_and_line) {
  fc_emit *m = open_emit();
  fc_emit_set_memory_limit(m, 32 << 20);
  /* a table that grows past the limit, one big string, a string built piece by piece */
  add_body(m, "oom", "default", "  local t = {}\n  for i = 1, 1e8 do t[i] = i end");
  expect_default_oom(m, "oom", "templates/oom.lua:4: out of memory (template 'oom' reached "
                               "the sandbox's limit of 32 MiB)");
  add_body(m, "oom", "default", "  local s = string.rep('x', 1 << 30)");
  expect_default_oom(m, "oom", "templates/oom.lua:3: out of memory");
  add_body(m, "oom", "default",
           "  local s = 'x'\n  for i = 1, 40 do s = s .. s end");
  expect_default_oom(m, "oom", "templates/oom.lua:4: out of memory");
  /* at load time */
  add(m, "oomload", "local T = {}\n\nlocal s = string.rep('x', 1 << 30)\nreturn T\n");
  fc_template_info info;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_info(m, "oomload", &info, &e), FFTCONV_ERR_NOMEM, "%s", e.msg);
  cr_assert(strncmp(e.msg, "templates/oomload.lua:3: out of memory", 38) == 0, "%s", e.msg);
  /* a refusal the template catches is no failure, and the state works afterwards */
  add_body(m, "oom", "default",
           "  local ok, err = pcall(string.rep, 'x', 1 << 30)\n  return {ok = ok}");
  fftconv_problem p = test_problem();
  fc_device_info d = test_device();
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "oom", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"ok\":false}");
  free(params);
  add(m, "good", GOOD);
  cr_assert_eq(fc_emit_info(m, "good", &info, &e), FFTCONV_OK, "%s", e.msg);
  fc_emit_close(m);
}

Test(emit, error_objects_that_are_not_strings) {
  fc_emit *m = open_emit();
  static const struct {
    const char *code, *want;
  } cases[] = {
      {"  local x = 1\n  error({})", "templates/eo.lua:4: error object is a table value, not a string"},
      {"  error()", "templates/eo.lua:3: error object is a nil value, not a string"},
      {"  error(true)", "templates/eo.lua:3: error object is a boolean value, not a string"},
      {"  error(42)", "templates/eo.lua:3: 42"},
      {"  error(setmetatable({}, {__tostring = function() return 'custom' end}))",
       "templates/eo.lua:3: custom"},
      {"  local t = {} t[{}] = nil error(t, 2)", "templates/eo.lua:3: error object is a table"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    add_body(m, "eo", "default", cases[i].code);
    expect_default_error(m, "eo", cases[i].want);
  }
  /* in emit(), and at load time */
  add_body(m, "eo", "emit", "  error({})");
  fc_device_info d = test_device();
  fc_err e = {{0}};
  fc_kernel_src k;
  cr_assert_eq(fc_emit_kernel(m, "eo", "{}", &d, &k, &e), FFTCONV_ERR_TEMPLATE, "%s", e.msg);
  cr_assert(strncmp(e.msg, "templates/eo.lua:3: error object is a table value", 49) == 0, "%s",
            e.msg);
  add(m, "eoload", "local T = {}\n\nerror({})\nreturn T\n");
  fc_template_info info;
  cr_assert_eq(fc_emit_info(m, "eoload", &info, &e), FFTCONV_ERR_TEMPLATE);
  cr_assert(strncmp(e.msg, "templates/eoload.lua:3: error object is a table value", 53) == 0,
            "%s", e.msg);
  fc_emit_close(m);
}

/* A template sees the compile target as device.arch: "sm_90a" when asked, else sm_<sm>. */
Test(emit, device_arch_reaches_lua) {
  static const char ARCHY[] =
      "local T = {name = \"archy\", revision = 1, doc = \"reads device.arch\", " RUNS "}\n"
      "function T.space(problem, device) return {} end\n"
      "function T.check(problem, device, params) return true end\n"
      "function T.default(problem, device) return {arch = device.arch, sm = device.sm} end\n"
      "function T.layout(params, device) return {} end\n"
      "function T.emit(params) return \"\" end\n"
      "return T\n";
  fc_emit *m = open_emit();
  add(m, "archy", ARCHY);
  fftconv_problem p = test_problem();
  fc_device_info d = test_device(); /* arch "": sm_<sm> */
  fc_err e = {{0}};
  char *params = NULL;
  cr_assert_eq(fc_emit_default(m, "archy", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"arch\":\"sm_90\",\"sm\":90}");
  free(params);
  snprintf(d.arch, sizeof d.arch, "sm_90a");
  cr_assert_eq(fc_emit_default(m, "archy", &p, &d, &params, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(params, "{\"arch\":\"sm_90a\",\"sm\":90}");
  free(params);
  fc_emit_close(m);
}

/* ---- what a family declares it runs (family_decl.h) ---- */

/* A new family is one file: added like any template, its declaration is read from it. */
Test(emit, a_new_family_declares_what_it_runs) {
  fc_emit *m = open_emit();
  add(m, "good", GOOD);
  fc_family_decl d;
  fc_err e = {{0}};
  cr_assert_eq(fc_emit_declaration(m, "good", &d, &e), FFTCONV_OK, "%s", e.msg);
  cr_assert_str_eq(d.name, "good");
  cr_assert_str_eq(d.doc, "a test template");
  cr_assert_eq(d.ops, 1u << FC_OP_FORWARD);
  cr_assert_eq(d.dtypes, 1u << FFTCONV_FP32 | 1u << FFTCONV_FP16);
  cr_assert_eq(d.modes, 1u << FFTCONV_CAUSAL);
  cr_assert_eq(d.min_n, 512);
  cr_assert_eq(d.max_n, 8192);
  cr_assert_eq(d.min_sm, 75);
  cr_assert_eq(d.fallback, 0);
  cr_assert_str_eq(d.retired, "", "a family is searched unless it says why not");
  int listed = 0;
  for (int i = 0; i < fc_emit_template_count(m); i++)
    listed |= !strcmp(fc_emit_template_name(m, i), "good");
  cr_assert(listed, "the new family is not listed");
  cr_assert_eq(fc_emit_declaration(m, "nope", &d, &e), FFTCONV_ERR_INVALID);
  fc_emit_close(m);
}

/* A bad declaration is FFTCONV_ERR_TEMPLATE naming the template, the field and what it
   allows; the template is not run. */
Test(emit, bad_declarations_name_the_field) {
  static const char *const ok =
      "ops = {'forward'}, dtypes = {'fp32'}, modes = {'causal'}, "
      "fft_size = {min = 256, max = 1024}, min_sm = 70";
  struct { const char *runs, *want; } cases[] = {
      {NULL, "field 'runs' is missing (what the family runs: ops, dtypes, modes, fft_size, "
             "min_sm, fallback)"},
      {"3", "field 'runs' must be a table, got number"},
      {"{%s, fallback = 1, fallbak = 2}", "field 'runs.fallbak' is not a declaration field"},
      {"{ops = {}, dtypes = {'fp32'}, modes = {'causal'}, fft_size = {min = 256, max = 1024}, "
       "min_sm = 70, fallback = 1}",
       "field 'runs.ops' must be a non-empty list of forward"},
      {"{ops = {'no_such_op'}, dtypes = {'fp32'}, modes = {'causal'}, "
       "fft_size = {min = 256, max = 1024}, min_sm = 70, fallback = 1}",
       "field 'runs.ops': entry 1 is 'no_such_op', not one of forward"},
      {"{ops = {'forward'}, dtypes = {'fp32', 'fp8'}, modes = {'causal'}, "
       "fft_size = {min = 256, max = 1024}, min_sm = 70, fallback = 1}",
       "field 'runs.dtypes': entry 2 is 'fp8', not one of fp32, fp16, bf16"},
      {"{ops = {'forward'}, dtypes = {'fp32'}, modes = {1}, "
       "fft_size = {min = 256, max = 1024}, min_sm = 70, fallback = 1}",
       "field 'runs.modes': entry 1 is a number, not one of causal, circular"},
      {"{ops = {'forward'}, dtypes = {'fp32'}, modes = {'causal'}, min_sm = 70, fallback = 1}",
       "field 'runs.fft_size' must be a table { min = N, max = N }, got nil"},
      {"{ops = {'forward'}, dtypes = {'fp32'}, modes = {'causal'}, "
       "fft_size = {min = 300, max = 1024}, min_sm = 70, fallback = 1}",
       "field 'runs.fft_size.min' must be a power of two, got 300"},
      {"{ops = {'forward'}, dtypes = {'fp32'}, modes = {'causal'}, "
       "fft_size = {min = 1024, max = 512}, min_sm = 70, fallback = 1}",
       "field 'runs.fft_size.max' must be a power of two from min (1024) to 1099511627776, "
       "got 512"},
      {"{ops = {'forward'}, dtypes = {'fp32'}, modes = {'causal'}, "
       "fft_size = {min = 256, max = 1024}, min_sm = 7.5, fallback = 1}",
       "field 'runs.min_sm' must be the compute capability x10 (80: sm_80), an integer from 10 "
       "to 1000, got a fraction"},
      {"{%s, fallback = true}", "field 'runs.fallback' must be false (not a fallback) or the "
                                "fallback order, an integer from 1 to 100, got boolean"},
      {"{%s, fallback = 0}", "field 'runs.fallback' must be false (not a fallback) or the "
                             "fallback order, an integer from 1 to 100, got 0"},
      {"{%s, fallback = false, retired = true}",
       "field 'runs.retired' must be absent (searched) or a string saying why the tuner leaves "
       "the family out, got boolean"},
      {"{%s, fallback = false, retired = ''}",
       "field 'runs.retired' must be one line of 1 to 255 characters, got 0 characters"},
      {"{%s, fallback = false, retired = 'slow\\nslower'}",
       "field 'runs.retired' must be one line of 1 to 255 characters, got 11 characters over "
       "lines"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fc_emit *m = open_emit();
    char runs[512] = "", text[2048];
    if (cases[i].runs) {
      char r[400];
      snprintf(r, sizeof r, cases[i].runs, ok);
      snprintf(runs, sizeof runs, ", runs = %s", r);
    }
    snprintf(text, sizeof text,
             "return {name = 'decl', revision = 1, doc = 'd'%s, space = type, check = type,\n"
             "  default = type, layout = type, emit = type}\n", runs);
    add(m, "decl", text);
    fc_family_decl d;
    fc_err e = {{0}};
    cr_assert_eq(fc_emit_declaration(m, "decl", &d, &e), FFTCONV_ERR_TEMPLATE, "%s", text);
    cr_assert(strstr(e.msg, "template 'decl' (templates/decl.lua): ") &&
                  strstr(e.msg, cases[i].want),
              "case %zu: got '%s', want '%s'", i, e.msg, cases[i].want);
    fc_emit_close(m);
  }
}

/* The runtime's table (families.h, generated at build time by gen-families) is what the
   templates declare, family for family, in the template engine's order. */
Test(emit, runtime_table_is_the_declarations) {
  fc_emit *m = open_emit();
  cr_assert_eq(fc_nfamilies, fc_emit_template_count(m));
  int fallbacks = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *g = &fc_families[i];
    fc_family_decl d;
    fc_err e = {{0}};
    cr_assert_str_eq(g->name, fc_emit_template_name(m, i));
    cr_assert_eq(fc_emit_declaration(m, g->name, &d, &e), FFTCONV_OK, "%s", e.msg);
    cr_assert_str_eq(g->doc, d.doc);
    cr_assert(g->ops == d.ops && g->dtypes == d.dtypes && g->modes == d.modes &&
                  g->min_n == d.min_n && g->max_n == d.max_n && g->min_sm == d.min_sm &&
                  g->fallback == d.fallback && !strcmp(g->retired, d.retired),
              "%s: the generated table differs from the template's declaration", g->name);
    fallbacks += g->fallback > 0;
  }
  cr_assert_geq(fallbacks, 1, "no family is a fallback");
  /* the sizes the problem check reports come from the declarations */
  cr_assert_eq(fc_supported_min_n(-1, 0), 256);
  cr_assert_eq(fc_supported_max_n(FFTCONV_FP16, 80), 32768 * 128);
  cr_assert_eq(fc_supported_max_n(FFTCONV_FP16, 0), 4194304);
  fc_emit_close(m);
}
