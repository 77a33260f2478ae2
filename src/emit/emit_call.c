/* emit_call: the entry points that run a template's functions (info, space, default,
 * layout and emit) and the translation of problems, devices, parameters and manifests
 * between C and Lua. Each runs a body under emit_run (emit.c). */
#include "emit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "shape.h"

/* ---- C -> Lua ---- */

static void emit_setint(lua_State *L, const char *k, int64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* The problem table a template sees: every field of fields.c by its name (filter_len
   resolved; enums by name, flags as booleans), fft_size, op, the op's name, and ws_one_row,
   the workspace bound of one row (fc_workspace_most_one_row). */
static void emit_push_problem(lua_State *L, const fftconv_problem *p, fc_op op) {
  lua_createtable(L, 0, FC_NFIELDS + 3);
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    int64_t v = fc_field_resolved(p, f);
    if (f->type == FC_FIELD_INT64) lua_pushinteger(L, (lua_Integer)v);
    else if (f->type == FC_FIELD_FLAG) lua_pushboolean(L, (int)v);
    else lua_pushstring(L, fc_field_enum_name(f, v));
    lua_setfield(L, -2, f->name);
  }
  emit_setint(L, "fft_size", fftconv_problem_fft_size(p));
  emit_setint(L, "ws_one_row", fc_workspace_most_one_row(p, op));
  lua_pushstring(L, fc_op_name(op));
  lua_setfield(L, -2, "op");
}

static void emit_push_device(lua_State *L, const fc_device_info *d) {
  lua_createtable(L, 0, 12);
  lua_pushlstring(L, d->name, strnlen(d->name, sizeof d->name));
  lua_setfield(L, -2, "name");
  char arch[16];
  lua_pushstring(L, fc_device_arch(d, arch)); /* "sm_90a": may a template use wgmma? */
  lua_setfield(L, -2, "arch");
  emit_setint(L, "sm", d->sm);
  emit_setint(L, "sms", d->sms);
  emit_setint(L, "smem_optin", d->smem_optin);
  emit_setint(L, "smem_per_sm", d->smem_per_sm);
  emit_setint(L, "regs_per_block", d->regs_per_block);
  emit_setint(L, "regs_per_sm", d->regs_per_sm);
  emit_setint(L, "max_threads", d->max_threads);
  emit_setint(L, "l2_bytes", d->l2_bytes);
  emit_setint(L, "total_mem", d->total_mem);
  emit_setint(L, "driver_version", d->driver_version);
}

static void emit_push_json(lua_State *L) {
  lua_pushcfunction(L, emit_require);
  lua_pushliteral(L, "lib.json");
  lua_call(L, 1, 1);
}

/* json.encode(value at vidx) -> malloc'd text. what says whose value it is. */
static char *emit_encode(lua_State *L, emit_call *c, int jidx, int vidx, const char *what) {
  lua_getfield(L, jidx, "encode");
  lua_pushvalue(L, vidx);
  int st = lua_pcall(L, 1, 1, 0);
  if (st != LUA_OK) {
    if (c->m->exceeded) lua_error(L);
    if (st == LUA_ERRMEM) c->oom = 1;
    emit_raise(L, "template '%s': %s: %s", c->t->name, what, lua_tostring(L, -1));
  }
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  if (!s || strlen(s) != n)
    emit_raise(L, "template '%s': %s: json.encode did not return a string", c->t->name, what);
  char *r = malloc(n + 1);
  if (!r) emit_oom(L, c);
  memcpy(r, s, n + 1);
  lua_pop(L, 1);
  return r;
}

/* json.decode(c->params): errors here are the caller's. */
static void emit_decode(lua_State *L, emit_call *c, int jidx) {
  lua_getfield(L, jidx, "decode");
  lua_pushstring(L, c->params);
  int st = lua_pcall(L, 1, 1, 0);
  if (st != LUA_OK) {
    if (c->m->exceeded) lua_error(L);
    if (st == LUA_ERRMEM) c->oom = 1;
    c->invalid = 1;
    emit_raise(L, "params: %s", lua_tostring(L, -1));
  }
  if (!lua_istable(L, -1) || lua_rawlen(L, -1) > 0) { /* json.lua decodes [..] to a sequence */
    c->invalid = 1;
    emit_raise(L, "params: expected a JSON object, got %s", c->params);
  }
}

/* ---- bodies: one per entry point, run by emit_run ---- */

static int emit_info_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  emit_push_template(L, c);
  emit_fill_info(L, c, lua_gettop(L), c->info);
  return 0;
}

static int emit_decl_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  emit_push_template(L, c);
  *c->decl = c->t->decl;
  return 0;
}

/* check(problem, device, params) in a body whose stack holds the template at 2, the problem
   at 3, the device at 4 and the parameters at pidx: NULL when it accepts them, else its
   reason (malloc'd). what names the parameters in an error. */
static char *emit_run_check(lua_State *L, emit_call *c, int pidx, const char *what) {
  lua_getfield(L, 2, "check");
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, pidx);
  lua_call(L, 3, 2);
  int ok = lua_gettop(L) - 1;
  if (!lua_isboolean(L, ok))
    emit_raise(L, "template '%s': check() on %s must return true or false, reason; got %s",
               c->t->name, what, luaL_typename(L, ok));
  char *reason = NULL;
  if (!lua_toboolean(L, ok)) {
    const char *r = lua_type(L, ok + 1) == LUA_TSTRING ? lua_tostring(L, ok + 1)
                                                        : "rejected by check() without a reason";
    if (!(reason = strdup(r))) emit_oom(L, c);
  }
  lua_pop(L, 2);
  return reason;
}

static int emit_space_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  const char *tn = c->t->name;
  emit_push_template(L, c);      /* 2 */
  emit_push_problem(L, c->p, c->op);    /* 3 */
  emit_push_device(L, c->d);     /* 4 */
  emit_push_json(L);             /* 5 */
  lua_getfield(L, 2, "space");
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushstring(L, c->rigor);
  lua_call(L, 3, 1); /* 6 */
  if (!lua_istable(L, 6))
    emit_raise(L, "template '%s': space() must return an array of parameter tables, got %s", tn,
               luaL_typename(L, 6));
  lua_Unsigned n = lua_rawlen(L, 6);
  if (n > EMIT_MAX_CANDIDATES)
    emit_raise(L, "template '%s': space() returned %llu candidates (at most %d)", tn,
               (unsigned long long)n, EMIT_MAX_CANDIDATES);
  if (n == 0) return 0;
  c->cands = calloc((size_t)n, sizeof *c->cands);
  if (!c->cands) emit_oom(L, c);
  c->ncands = (int)n;
  for (int i = 1; i <= (int)n; i++) {
    char what[64];
    snprintf(what, sizeof what, "space() candidate %d", i);
    if (lua_rawgeti(L, 6, i) != LUA_TTABLE) /* 7 */
      emit_raise(L, "template '%s': %s is %s, not a table", tn, what, luaL_typename(L, 7));
    /* Encoded before check() sees it: the JSON is what space() proposed. */
    c->cands[i - 1].params = emit_encode(L, c, 5, 7, what);
    c->cands[i - 1].reason = emit_run_check(L, c, 7, what);
    lua_settop(L, 6);
  }
  return 0;
}

/* check() on c->params; a rejection's reason into c->unsupported. */
static int emit_check_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  emit_push_template(L, c);   /* 2 */
  emit_push_problem(L, c->p, c->op); /* 3 */
  emit_push_device(L, c->d);  /* 4 */
  emit_push_json(L);          /* 5 */
  emit_decode(L, c, 5);       /* 6 */
  c->unsupported = emit_run_check(L, c, 6, "params");
  return 0;
}

static int emit_default_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  emit_push_template(L, c);   /* 2 */
  emit_push_problem(L, c->p, c->op); /* 3 */
  emit_push_device(L, c->d);  /* 4 */
  emit_push_json(L);          /* 5 */
  lua_getfield(L, 2, "default");
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_call(L, 2, 2); /* 6, 7 */
  if (lua_isnil(L, 6)) { /* nil, reason: the family cannot run this problem */
    const char *why = lua_isstring(L, 7) ? lua_tostring(L, 7) : "no reason given";
    c->unsupported = strdup(why);
    if (!c->unsupported) {
      c->oom = 1;
      emit_raise(L, "out of memory");
    }
    return 0;
  }
  lua_settop(L, 6);
  if (!lua_istable(L, 6))
    emit_raise(L, "template '%s': default() must return a parameter table, got %s", c->t->name,
               luaL_typename(L, 6));
  c->json = emit_encode(L, c, 5, 6, "default()");
  return 0;
}

/* Reads layout field k of the table at idx as an integer in [lo, hi]. */
static int64_t emit_layout_int(lua_State *L, emit_call *c, int idx, const char *k, int64_t lo,
                               int64_t hi) {
  int isint = 0;
  lua_Integer v = 0;
  if (lua_getfield(L, idx, k) == LUA_TNUMBER) v = lua_tointegerx(L, -1, &isint);
  if (!isint)
    emit_raise(L, "template '%s': layout() field '%s' must be an integer, got %s", c->t->name, k,
               lua_type(L, -1) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1));
  if (v < lo || v > hi)
    emit_raise(L, "template '%s': layout() field '%s' is %lld, outside [%lld, %lld]", c->t->name,
               k, (long long)v, (long long)lo, (long long)hi);
  lua_pop(L, 1);
  return v;
}

static void emit_layout_entry(lua_State *L, emit_call *c, int idx, const char *k, char *out,
                              size_t cap, const char *dflt) {
  int ty = lua_getfield(L, idx, k);
  const char *s = dflt;
  if (ty != LUA_TNIL) {
    if (ty != LUA_TSTRING)
      emit_raise(L, "template '%s': layout() field '%s' must be a string, got %s", c->t->name, k,
                 luaL_typename(L, -1));
    s = lua_tostring(L, -1);
    int ok = s[0] && strlen(s) < cap && !(s[0] >= '0' && s[0] <= '9');
    for (const char *q = s; ok && *q; q++)
      ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
           *q == '_';
    if (!ok)
      emit_raise(L, "template '%s': layout() field '%s' is '%s', not a C identifier of < %d chars",
                 c->t->name, k, s, (int)cap);
  }
  snprintf(out, cap, "%s", s);
  lua_pop(L, 1);
}

static int emit_kernel_body(lua_State *L) {
  emit_call *c = lua_touserdata(L, 1);
  fc_kernel_src *ks = c->ks;
  const char *tn = c->t->name;
  emit_push_template(L, c);  /* 2 */
  emit_push_json(L);         /* 3 */
  emit_push_device(L, c->d); /* 4 */
  emit_decode(L, c, 3);      /* 5 */
  c->json = emit_encode(L, c, 3, 5, "params");
  if (strstr(c->json, "*/"))
    emit_raise(L, "template '%s': params contain \"*/\", which would end the header comment: %s",
               tn, c->json);

  lua_getfield(L, 2, "layout");
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 4);
  lua_call(L, 2, 1); /* 6 */
  if (!lua_istable(L, 6))
    emit_raise(L, "template '%s': layout() must return a table, got %s", tn, luaL_typename(L, 6));
  lua_getfield(L, 6, "launches");
  int full = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (full) { /* a manifest: validated by the same reader that reads it back from the cache */
    char *mj = emit_encode(L, c, 3, 6, "layout()");
    fc_err me;
    fftconv_status mst = fc_manifest_parse(mj, &ks->manifest, &me);
    free(mj);
    if (mst != FFTCONV_OK) emit_raise(L, "template '%s': layout(): %s", tn, me.msg);
  } else { /* the two-launch shorthand of the first kernel ABI */
    char fwd[64], prep[64], filter[64];
    int threads = (int)emit_layout_int(L, c, 6, "threads", 1, 1024);
    int smem = (int)emit_layout_int(L, c, 6, "smem", 0, INT32_MAX);
    int seqs = (int)emit_layout_int(L, c, 6, "seqs", 1, INT32_MAX);
    int prep_threads = (int)emit_layout_int(L, c, 6, "prep_threads", 1, 1024);
    int prep_smem = (int)emit_layout_int(L, c, 6, "prep_smem", 0, INT32_MAX);
    int prep_seqs = (int)emit_layout_int(L, c, 6, "prep_seqs", 1, INT32_MAX);
    int64_t khat = emit_layout_int(L, c, 6, "khat", 0, INT64_MAX / 16);
    lua_getfield(L, 6, "khat_table"); /* optional: shared tables ahead of the heads' bins */
    int has_table = !lua_isnil(L, -1);
    lua_pop(L, 1);
    int64_t table = has_table ? emit_layout_int(L, c, 6, "khat_table", 0, INT64_MAX / 16) : 0;
    emit_layout_entry(L, c, 6, "fwd_entry", fwd, sizeof fwd, "fftconv_fwd");
    emit_layout_entry(L, c, 6, "prep_entry", prep, sizeof prep, "fftconv_prep");
    snprintf(filter, sizeof filter, "%s", tn);
    fc_manifest_two_launch(&ks->manifest, fwd, threads, smem, seqs, prep, prep_threads,
                           prep_smem, prep_seqs, khat, table, filter);
  }

  /* emit() gets parameters fresh from the text: whatever layout() did to its copy cannot
     reach the code. */
  emit_decode(L, c, 3); /* 7 */
  c->invalid = 0;
  lua_getfield(L, 2, "emit");
  lua_insert(L, 7);
  lua_call(L, 1, 1); /* 7 */
  if (lua_type(L, 7) != LUA_TSTRING)
    emit_raise(L, "template '%s': emit() must return a string, got %s", tn, luaL_typename(L, 7));
  size_t n;
  const char *text = lua_tolstring(L, 7, &n);
  if (strlen(text) != n) emit_raise(L, "template '%s': emit() output contains a NUL byte", tn);

  emit_fill_info(L, c, 2, &ks->info);
  snprintf(ks->name, sizeof ks->name, "%s.cu", tn);
  char *mj = fc_manifest_json(&ks->manifest);
  if (!mj) emit_oom(L, c);
  fc_str b = {0};
  fc_str_add(&b,
             "/* fftconv generated kernel: do not edit.\n"
             " * template: %s revision %d hash %s\n"
             " * params: %s\n"
             " * manifest: %s\n"
             " */\n",
             tn, ks->info.revision, ks->info.hash, c->json, mj);
  free(mj);
  fc_str_addn(&b, text, n);
  if (b.oom) {
    fc_str_free(&b);
    emit_oom(L, c);
  }
  ks->source = b.s;
  if (!(ks->params = strdup(c->json))) emit_oom(L, c);
  return 0;
}

static fftconv_status emit_prepare(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                                   int need_p, const fc_device_info *d, int need_d,
                                   emit_call *c, fc_err *e) {
  int op = c->op;
  memset(c, 0, sizeof *c);
  c->op = op;
  if (!m) return fc_fail(e, FFTCONV_ERR_INVALID, "emit: NULL fc_emit");
  if (!tmpl) return fc_fail(e, FFTCONV_ERR_INVALID, "emit: NULL template name");
  if (need_p) {
    char msg[512];
    if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
      return fc_fail(e, FFTCONV_ERR_INVALID, "%s", msg);
  }
  if (need_p && !fc_op_get(c->op))
    return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", c->op);
  if (need_d && !d) return fc_fail(e, FFTCONV_ERR_INVALID, "emit: NULL device info");
  c->m = m;
  c->p = p;
  c->d = d;
  c->t = emit_find(m, tmpl);
  if (!c->t) return emit_unknown(m, tmpl, e);
  return FFTCONV_OK;
}

fftconv_status fc_emit_info(fc_emit *m, const char *tmpl, fc_template_info *out, fc_err *e) {
  emit_call c = {0};
  fftconv_status s = emit_prepare(m, tmpl, NULL, 0, NULL, 0, &c, e);
  if (s != FFTCONV_OK) return s;
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_info: out is NULL");
  fc_template_info info;
  c.info = &info;
  s = emit_run(m, emit_info_body, &c, e);
  if (s == FFTCONV_OK) *out = info;
  return s;
}

fftconv_status fc_emit_declaration(fc_emit *m, const char *tmpl, fc_family_decl *out,
                                   fc_err *e) {
  emit_call c = {0};
  fftconv_status s = emit_prepare(m, tmpl, NULL, 0, NULL, 0, &c, e);
  if (s != FFTCONV_OK) return s;
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_declaration: out is NULL");
  fc_family_decl d;
  c.decl = &d;
  s = emit_run(m, emit_decl_body, &c, e);
  if (s == FFTCONV_OK) *out = d;
  return s;
}

void fc_candidates_free(fc_candidate *c, int n) {
  if (!c) return;
  for (int i = 0; i < n; i++) {
    free(c[i].params);
    free(c[i].reason);
  }
  free(c);
}

fftconv_status fc_emit_space(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                             const fc_device_info *d, fc_rigor rigor, fc_candidate **out,
                             int *n, fc_err *e) {
  return fc_emit_space_op(m, tmpl, FC_OP_FORWARD, p, d, rigor, out, n, e);
}

fftconv_status fc_emit_space_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                const fc_device_info *d, fc_rigor rigor, fc_candidate **out,
                                int *n, fc_err *e) {
  if (out) *out = NULL;
  if (n) *n = 0;
  if (!out || !n) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_space: NULL output");
  if (rigor != FC_RIGOR_MEASURE && rigor != FC_RIGOR_EXHAUSTIVE)
    return fc_fail(e, FFTCONV_ERR_INVALID, "rigor: '%s' is not one of measure, exhaustive",
                   fc_rigor_name(rigor));
  emit_call c = {.op = op};
  fftconv_status s = emit_prepare(m, tmpl, p, 1, d, 1, &c, e);
  if (s != FFTCONV_OK) return s;
  c.rigor = fc_rigor_name(rigor); /* space() takes the name */
  s = emit_run(m, emit_space_body, &c, e);
  if (s != FFTCONV_OK) {
    fc_candidates_free(c.cands, c.ncands);
    return s;
  }
  *out = c.cands;
  *n = c.ncands;
  return FFTCONV_OK;
}

fftconv_status fc_emit_default(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                               const fc_device_info *d, char **params, fc_err *e) {
  return fc_emit_default_op(m, tmpl, FC_OP_FORWARD, p, d, params, e);
}

fftconv_status fc_emit_default_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                  const fc_device_info *d, char **params, fc_err *e) {
  if (!params) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_default: NULL output");
  *params = NULL;
  emit_call c = {.op = op};
  fftconv_status s = emit_prepare(m, tmpl, p, 1, d, 1, &c, e);
  if (s != FFTCONV_OK) return s;
  c.unsupported = NULL;
  s = emit_run(m, emit_default_body, &c, e);
  if (s == FFTCONV_OK && c.unsupported)
    s = fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "template '%s' cannot run this problem: %s", tmpl,
                c.unsupported);
  free(c.unsupported);
  if (s != FFTCONV_OK) {
    free(c.json);
    return s;
  }
  *params = c.json;
  return FFTCONV_OK;
}

fftconv_status fc_emit_check(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                             const fc_device_info *d, const char *params, char **reason,
                             fc_err *e) {
  return fc_emit_check_op(m, tmpl, FC_OP_FORWARD, p, d, params, reason, e);
}

fftconv_status fc_emit_check_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                const fc_device_info *d, const char *params, char **reason,
                                fc_err *e) {
  if (!reason) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_check: NULL output");
  *reason = NULL;
  emit_call c = {.op = op};
  fftconv_status s = emit_prepare(m, tmpl, p, 1, d, 1, &c, e);
  if (s != FFTCONV_OK) return s;
  if (!params) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_check: NULL params");
  c.params = params;
  c.unsupported = NULL;
  s = emit_run(m, emit_check_body, &c, e);
  if (s == FFTCONV_OK) *reason = c.unsupported;
  else free(c.unsupported);
  return s;
}

fftconv_status fc_emit_kernel(fc_emit *m, const char *tmpl, const char *params,
                              const fc_device_info *d, fc_kernel_src *out, fc_err *e) {
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_kernel: NULL output");
  memset(out, 0, sizeof *out);
  emit_call c = {0};
  fftconv_status s = emit_prepare(m, tmpl, NULL, 0, d, 1, &c, e);
  if (s != FFTCONV_OK) return s;
  if (!params) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_kernel: NULL params");
  c.params = params;
  c.ks = out;
  s = emit_run(m, emit_kernel_body, &c, e);
  free(c.json);
  if (s != FFTCONV_OK) {
    fc_kernel_src_free(out);
    memset(out, 0, sizeof *out);
  }
  return s;
}

void fc_kernel_src_free(fc_kernel_src *k) {
  if (!k) return;
  free(k->source);
  free(k->params);
  k->source = NULL;
  k->params = NULL;
}


