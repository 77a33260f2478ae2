/* emit: the sandboxed Lua 5.4 state that runs kernel templates (contract in emit.h).
 *
 * Every entry point from C runs one C "body" function under lua_pcall with a message handler
 * (emit_run), so a Lua error, including one raised by the C API itself (memory, a
 * metamethod), ends at that pcall and becomes an fc_err; nothing longjmps past it. Results
 * that need malloc'd memory are kept in an emit_call the caller frees on failure.
 *
 * The sandbox follows the shape of redis's script_lua.c: only base, string, table and math;
 * no file access (dofile, loadfile), no output (print, warn), text-only `load` with an
 * explicit environment, a `require` limited to the embedded templates/lib/, and a locked
 * global table so that a template touching io/os/debug fails with a clean message instead of
 * a nil call. A count hook enforces an instruction budget per call; pcall and xpcall are
 * wrapped so that a template cannot swallow the budget error and keep looping. The hook
 * never fires inside C, so the string library's pattern functions are replaced by ones that
 * charge their matching steps to the same budget (pattern.c). The allocator caps the state's
 * memory and notes where the template was when it refused. Every error names the template
 * file and line, a non-string error object and running out of memory included. */
#include "emit_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

/* Registry keys. */
static const char EMIT_MODULES[] = "fftconv.modules";     /* require cache */
static const char EMIT_TEMPLATES[] = "fftconv.templates"; /* loaded template tables */
/* Its address marks a module whose chunk is running (a second require is a cycle). */
static const char EMIT_LOADING = 0;

fc_emit *emit_self(lua_State *L) { return *(fc_emit **)lua_getextraspace(L); }

/* ---- allocation, budget, errors ---- */

/* "file:line:" of the innermost Lua function at stack level `level` or above, into buf ("" if
   none). Reads the call stack only: it allocates nothing. */
static void emit_locate(lua_State *L, int level, char *buf, size_t len) {
  lua_Debug ar;
  buf[0] = 0;
  for (; lua_getstack(L, level, &ar); level++)
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      snprintf(buf, len, "%s:%d:", ar.short_src, ar.currentline);
      return;
    }
}

static void *emit_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  fc_emit *m = ud;
  size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
  if (nsize == 0) {
    free(ptr);
    m->mem -= old;
    return NULL;
  }
  if (nsize > old && m->mem - old + nsize > m->mem_limit) {
    /* Lua raises the refusal as a memory error, which runs no message handler: note where
       the template is now. Up to Lua 5.4.4 the call stack is consistent at every allocation;
       later versions move the stack with its pointers made relative, so there only a new
       object (ptr NULL, never the stack) is a safe moment to look. */
    m->refused = 1;
    if (m->call && (LUA_VERSION_RELEASE_NUM <= 50404 || !ptr))
      emit_locate(m->L, 0, m->refused_at, sizeof m->refused_at);
    return NULL;
  }
  void *q = realloc(ptr, nsize);
  if (!q) return NULL;
  m->mem = m->mem - old + nsize;
  return q;
}

static void emit_hook(lua_State *L, lua_Debug *ar) {
  fc_emit *m = emit_self(L);
  m->used += m->step;
  if (m->used <= m->budget) return;
  m->exceeded = 1;
  /* Level 0 inside a count hook is the running Lua function: the message names its line. */
  luaL_where(L, 0);
  lua_pushfstring(L, "instruction budget of %I exceeded", (lua_Integer)m->budget);
  lua_concat(L, 2);
  lua_error(L);
}

/* The matching steps of the string library's pattern functions (pattern.c), charged to the
   call's budget. Level 1 is the Lua code that called the string function. */
static void emit_charge(lua_State *L, int64_t steps) {
  fc_emit *m = emit_self(L);
  m->used += steps;
  if (m->used <= m->budget) return;
  m->exceeded = 1;
  luaL_where(L, 1);
  lua_pushfstring(L, "instruction budget of %I exceeded (in pattern matching)",
                  (lua_Integer)m->budget);
  lua_concat(L, 2);
  lua_error(L);
}

/* Like lua.c's msghandler: make the error a string, then add where it came from. error()
   gives a position only to a string, so any other error object gets the template's. */
static int emit_msgh(lua_State *L) {
  fc_emit *m = emit_self(L);
  const char *msg;
  if (lua_type(L, 1) == LUA_TSTRING) {
    msg = lua_tostring(L, 1);
  } else {
    char where[300];
    emit_locate(L, 1, where, sizeof where);
    if (!where[0] && m->call && m->call->t)
      snprintf(where, sizeof where, "template '%s':", m->call->t->name);
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_pushfstring(L, "%s%s%s", where, where[0] ? " " : "", lua_tostring(L, -1));
    else if (lua_type(L, 1) == LUA_TNUMBER)
      msg = lua_pushfstring(L, "%s%s%s", where, where[0] ? " " : "", luaL_tolstring(L, 1, NULL));
    else
      msg = lua_pushfstring(L, "%s%serror object is a %s value, not a string", where,
                            where[0] ? " " : "", luaL_typename(L, 1));
  }
  if (m->plain) return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Raises an error from C code of this file; its text is complete without a traceback. */
int emit_raise(lua_State *L, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  emit_self(L)->plain = 1;
  lua_pushstring(L, buf);
  return lua_error(L);
}

int emit_oom(lua_State *L, emit_call *c) {
  c->oom = 1;
  return emit_raise(L, "template '%s': out of memory", c->t ? c->t->name : "?");
}

static int emit_step(const fc_emit *m) {
  return m->budget < EMIT_HOOK_STEP ? (int)m->budget : EMIT_HOOK_STEP;
}

/* Runs body(c) protected, with a fresh budget. */
fftconv_status emit_run(fc_emit *m, lua_CFunction body, emit_call *c, fc_err *e) {
  lua_State *L = m->L;
  m->used = 0;
  m->exceeded = 0;
  m->plain = 0;
  m->call = c;
  m->refused = 0;
  m->refused_at[0] = 0;
  m->step = emit_step(m);
  lua_sethook(L, emit_hook, LUA_MASKCOUNT, m->step); /* also restarts the hook's counter */
  lua_settop(L, 0);
  lua_pushcfunction(L, emit_msgh);
  lua_pushcfunction(L, body);
  lua_pushlightuserdata(L, c);
  int st = lua_pcall(L, 1, 0, 1);
  fftconv_status s = FFTCONV_OK;
  if (st != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(no error message)";
    /* The sandbox's cap: a memory error, or the "not enough memory" that the auxiliary
       library's buffers raise as an ordinary error. */
    int capped = m->refused && (st == LUA_ERRMEM || !strncmp(msg, "not enough memory", 17));
    if (capped && m->refused_at[0])
      s = fc_fail(e, FFTCONV_ERR_NOMEM, "%s out of memory (template '%s' reached the sandbox's "
                  "limit of %zu MiB)", m->refused_at, c->t ? c->t->name : "?", m->mem_limit >> 20);
    else if (capped)
      s = fc_fail(e, FFTCONV_ERR_NOMEM, "template '%s': out of memory (the sandbox's limit of "
                  "%zu MiB)", c->t ? c->t->name : "?", m->mem_limit >> 20);
    else if (st == LUA_ERRMEM || c->oom)
      s = fc_fail(e, FFTCONV_ERR_NOMEM, "%s%s", msg, c->oom ? "" : " (Lua memory exhausted)");
    else
      s = fc_fail(e, c->invalid ? FFTCONV_ERR_INVALID : FFTCONV_ERR_TEMPLATE, "%s", msg);
  }
  lua_settop(L, 0);
  m->call = NULL;
  return s;
}

/* ---- sandbox functions ---- */

static int emit_global_index(lua_State *L) {
  return luaL_error(L, "undeclared global '%s'", luaL_tolstring(L, 2, NULL));
}

static int emit_global_newindex(lua_State *L) {
  return luaL_error(L, "assignment to undeclared global '%s'", luaL_tolstring(L, 2, NULL));
}

/* load(chunk [, chunkname [, mode [, env]]]): text chunks only, and env is required so that a
   loaded chunk never silently shares the template globals. */
static int emit_load(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "=(load)");
  const char *mode = luaL_optstring(L, 3, "t");
  if (!strchr(mode, 't')) return luaL_error(L, "load: only text chunks are allowed (mode 't')");
  luaL_checktype(L, 4, LUA_TTABLE);
  if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2; /* nil, message: as the standard load */
  }
  lua_pushvalue(L, 4);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  return 1;
}

/* pcall/xpcall around the original (upvalue 1): once the budget is spent, a caught error is
   raised again, so a loop around pcall cannot outrun the budget. */
static int emit_pcall(lua_State *L) {
  fc_emit *m = emit_self(L);
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  if (m->exceeded)
    return luaL_error(L, "instruction budget of %I exceeded", (lua_Integer)m->budget);
  return lua_gettop(L);
}

static const emit_lib *emit_find_lib(const fc_emit *m, const char *modname) {
  char path[256];
  size_t n = strlen(modname);
  if (strncmp(modname, "lib.", 4) != 0 || n + 5 > sizeof path) return NULL;
  for (size_t i = 0; i < n; i++) path[i] = modname[i] == '.' ? '/' : modname[i];
  memcpy(path + n, ".lua", 5);
  for (int i = 0; i < m->nlib; i++)
    if (strcmp(m->lib[i].path, path) == 0) return &m->lib[i];
  return NULL;
}

/* require "lib.x": templates/lib/x.lua of the embedded set, run once per state. */
int emit_require(lua_State *L) {
  fc_emit *m = emit_self(L);
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, EMIT_MODULES); /* 2 */
  lua_getfield(L, 2, name);                         /* 3 */
  if (lua_touserdata(L, 3) == (void *)&EMIT_LOADING)
    return luaL_error(L, "circular require of '%s'", name);
  if (!lua_isnil(L, 3)) return 1;
  lua_pop(L, 1);
  const emit_lib *lib = emit_find_lib(m, name);
  if (!lib)
    return luaL_error(L, "module '%s' not found (require loads only lib.* from templates/lib/)",
                      name);
  char chunk[300];
  snprintf(chunk, sizeof chunk, "@templates/%s", lib->path);
  if (luaL_loadbufferx(L, lib->text, lib->len, chunk, "t") != LUA_OK) return lua_error(L);
  lua_pushlightuserdata(L, (void *)&EMIT_LOADING);
  lua_setfield(L, 2, name);
  lua_pushvalue(L, 1);
  /* Protected so that a failed load does not leave the module marked as loading; the error
     then continues unchanged. */
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushnil(L);
    lua_setfield(L, 2, name);
    return lua_error(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

static int emit_setup_body(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->name; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, EMIT_MODULES);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, EMIT_TEMPLATES);

  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  /* File access and output; warn is output too. */
  static const char *const drop[] = {"dofile", "loadfile", "print", "warn", NULL};
  for (int i = 0; drop[i]; i++) {
    lua_pushnil(L);
    lua_setfield(L, g, drop[i]);
  }
  /* math.random is seeded from the clock: generated code must not depend on it. */
  lua_getfield(L, g, LUA_MATHLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "random");
  lua_pushnil(L);
  lua_setfield(L, -2, "randomseed");
  lua_pop(L, 1);
  lua_getfield(L, g, LUA_STRLIBNAME); /* also the strings' __index */
  fc_pattern_install(L, -1, emit_charge);
  lua_pop(L, 1);
  lua_pushcfunction(L, emit_load);
  lua_setfield(L, g, "load");
  lua_pushcfunction(L, emit_require);
  lua_setfield(L, g, "require");
  static const char *const wrap[] = {"pcall", "xpcall", NULL};
  for (int i = 0; wrap[i]; i++) {
    lua_getfield(L, g, wrap[i]);
    lua_pushcclosure(L, emit_pcall, 1);
    lua_setfield(L, g, wrap[i]);
  }
  /* Lock: __metatable keeps getmetatable/setmetatable from lifting it. */
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, emit_global_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, emit_global_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, g);
  return 0;
}

/* ---- templates ---- */

static int emit_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof(((emit_tmpl *)0)->name)) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

emit_tmpl *emit_find(const fc_emit *m, const char *name) {
  for (int i = 0; i < m->ntmpl; i++)
    if (strcmp(m->tmpl[i].name, name) == 0) return &m->tmpl[i];
  return NULL;
}

fftconv_status emit_unknown(const fc_emit *m, const char *name, fc_err *e) {
  fc_str b = {0};
  for (int i = 0; i < m->ntmpl; i++) fc_str_add(&b, "%s%s", i ? ", " : "", m->tmpl[i].name);
  if (b.oom) {
    fc_str_free(&b);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  }
  fftconv_status s = fc_fail(e, FFTCONV_ERR_INVALID, "unknown template '%s' (have: %s)", name,
                             b.s ? b.s : "none");
  fc_str_free(&b);
  return s;
}

/* Inserts name (or finds it) keeping the array sorted. */
static emit_tmpl *emit_insert(fc_emit *m, const char *name) {
  int i = 0;
  while (i < m->ntmpl && strcmp(m->tmpl[i].name, name) < 0) i++;
  if (i < m->ntmpl && strcmp(m->tmpl[i].name, name) == 0) return &m->tmpl[i];
  if (m->ntmpl == m->captmpl) {
    int cap = m->captmpl ? 2 * m->captmpl : 16;
    emit_tmpl *t = realloc(m->tmpl, (size_t)cap * sizeof *t);
    if (!t) return NULL;
    m->tmpl = t;
    m->captmpl = cap;
  }
  memmove(&m->tmpl[i + 1], &m->tmpl[i], (size_t)(m->ntmpl - i) * sizeof *m->tmpl);
  m->ntmpl++;
  memset(&m->tmpl[i], 0, sizeof m->tmpl[i]);
  snprintf(m->tmpl[i].name, sizeof m->tmpl[i].name, "%s", name);
  return &m->tmpl[i];
}

static void emit_field(lua_State *L, emit_call *c, int idx, const char *field, int type) {
  int got = lua_getfield(L, idx, field);
  if (got == LUA_TNIL)
    emit_raise(L, "template '%s' (templates/%s.lua): field '%s' is missing", c->t->name,
               c->t->name, field);
  if (got != type || (type == LUA_TNUMBER && !lua_isinteger(L, -1)))
    emit_raise(L, "template '%s' (templates/%s.lua): field '%s' must be %s, got %s", c->t->name,
               c->t->name, field,
               type == LUA_TNUMBER ? "an integer"
               : type == LUA_TSTRING ? "a string"
                                     : "a function",
               luaL_typename(L, -1));
}

/* Pushes the template's table, running its file the first time. */
void emit_push_template(lua_State *L, emit_call *c) {
  emit_tmpl *t = c->t;
  lua_getfield(L, LUA_REGISTRYINDEX, EMIT_TEMPLATES);
  if (t->loaded) {
    lua_getfield(L, -1, t->name);
    lua_remove(L, -2);
    return;
  }
  char chunk[96];
  snprintf(chunk, sizeof chunk, "@templates/%s.lua", t->name);
  if (luaL_loadbufferx(L, t->text, t->len, chunk, "t") != LUA_OK) lua_error(L);
  lua_call(L, 0, 1);
  int idx = lua_gettop(L);
  if (!lua_istable(L, idx))
    emit_raise(L, "template '%s' (templates/%s.lua): must return a table, returned %s", t->name,
               t->name, luaL_typename(L, idx));
  emit_field(L, c, idx, "name", LUA_TSTRING);
  if (strcmp(lua_tostring(L, -1), t->name) != 0)
    emit_raise(L, "template '%s' (templates/%s.lua): field 'name' is '%s', not the file name",
               t->name, t->name, lua_tostring(L, -1));
  emit_field(L, c, idx, "revision", LUA_TNUMBER);
  lua_Integer rev = lua_tointeger(L, -1);
  if (rev < 0 || rev > INT32_MAX)
    emit_raise(L, "template '%s' (templates/%s.lua): field 'revision' is out of range (%lld)",
               t->name, t->name, (long long)rev);
  emit_field(L, c, idx, "doc", LUA_TSTRING);
  static const char *const fns[] = {"space", "check", "default", "layout", "emit", NULL};
  for (int i = 0; fns[i]; i++) emit_field(L, c, idx, fns[i], LUA_TFUNCTION);
  char msg[512];
  if (fc_family_decl_read(L, idx, t->name, &t->decl, msg, sizeof msg)) emit_raise(L, "%s", msg);
  lua_settop(L, idx);
  lua_pushvalue(L, idx);
  lua_setfield(L, idx - 1, t->name);
  lua_remove(L, idx - 1);
  t->revision = (int)rev;
  t->loaded = 1;
}

static void emit_hash(const fc_emit *m, const emit_tmpl *t, char out[17]) {
  uint64_t h = fc_hash64(FC_HASH64_INIT, t->text, t->len);
  for (int i = 0; i < m->nlib; i++) h = fc_hash64(h, m->lib[i].text, m->lib[i].len);
  snprintf(out, 17, "%016" PRIx64, h);
}

/* Fills info from the template table at idx. */
void emit_fill_info(lua_State *L, emit_call *c, int idx, fc_template_info *info) {
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", c->t->name);
  info->revision = c->t->revision;
  lua_getfield(L, idx, "doc");
  snprintf(info->doc, sizeof info->doc, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  emit_hash(c->m, c->t, info->hash);
}

/* ---- public ---- */

static int emit_cmp_lib(const void *a, const void *b) {
  return strcmp(((const emit_lib *)a)->path, ((const emit_lib *)b)->path);
}

fftconv_status fc_emit_open(fc_emit **out, fc_err *e) {
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_open: out is NULL");
  *out = NULL;
  fc_emit *m = calloc(1, sizeof *m);
  if (!m) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  m->budget = EMIT_DEFAULT_BUDGET;
  m->mem_limit = EMIT_MEM_LIMIT;
  fftconv_status s = FFTCONV_OK;

  int nlib = 0;
  for (const fc_embedded_file *f = fc_embedded_templates; f->path; f++) nlib++;
  m->lib = calloc((size_t)nlib + 1, sizeof *m->lib);
  if (!m->lib) {
    s = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
    goto fail;
  }
  for (const fc_embedded_file *f = fc_embedded_templates; f->path; f++) {
    size_t pl = strlen(f->path);
    if (pl < 5 || strcmp(f->path + pl - 4, ".lua") != 0) continue;
    if (strncmp(f->path, "lib/", 4) == 0) {
      m->lib[m->nlib++] = (emit_lib){f->path, f->text, (size_t)f->len};
      continue;
    }
    if (strchr(f->path, '/')) continue; /* only the top level holds templates */
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(pl - 4), f->path);
    if (!emit_name_ok(name)) {
      s = fc_fail(e, FFTCONV_ERR_TEMPLATE,
                  "templates/%s: a template name must be 1-63 of [A-Za-z0-9_-]", f->path);
      goto fail;
    }
    emit_tmpl *t = emit_insert(m, name);
    if (!t) {
      s = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
      goto fail;
    }
    t->text = f->text;
    t->len = (size_t)f->len;
  }
  qsort(m->lib, (size_t)m->nlib, sizeof *m->lib, emit_cmp_lib);

  m->L = lua_newstate(emit_alloc, m);
  if (!m->L) {
    s = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory creating the Lua state");
    goto fail;
  }
  *(fc_emit **)lua_getextraspace(m->L) = m;
  emit_call c = {.m = m};
  s = emit_run(m, emit_setup_body, &c, e);
  if (s != FFTCONV_OK) goto fail;
  *out = m;
  return FFTCONV_OK;
fail:
  fc_emit_close(m);
  return s;
}

void fc_emit_close(fc_emit *m) {
  if (!m) return;
  if (m->L) lua_close(m->L);
  for (int i = 0; i < m->ntmpl; i++) free(m->tmpl[i].owned);
  free(m->tmpl);
  free(m->lib);
  free(m);
}

void fc_emit_set_budget(fc_emit *m, int64_t instructions) {
  if (m) m->budget = instructions > 0 ? instructions : EMIT_DEFAULT_BUDGET;
}

void fc_emit_set_memory_limit(fc_emit *m, size_t bytes) {
  if (m) m->mem_limit = bytes > 0 ? bytes : EMIT_MEM_LIMIT;
}

fftconv_status fc_emit_add_template(fc_emit *m, const char *name, const char *text, fc_err *e) {
  if (!m || !name || !text)
    return fc_fail(e, FFTCONV_ERR_INVALID, "fc_emit_add_template: NULL argument");
  if (!emit_name_ok(name))
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "template name '%s': must be 1-63 characters of [A-Za-z0-9_-]", name);
  size_t n = strlen(text);
  char *cp = malloc(n + 1);
  if (!cp) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  memcpy(cp, text, n + 1);
  emit_tmpl *t = emit_insert(m, name);
  if (!t) {
    free(cp);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  }
  free(t->owned);
  t->owned = cp;
  t->text = cp;
  t->len = n;
  t->loaded = 0; /* the registry's table is the old text's: load again on next use */
  return FFTCONV_OK;
}

int fc_emit_template_count(const fc_emit *m) { return m ? m->ntmpl : 0; }

const char *fc_emit_template_name(const fc_emit *m, int i) {
  if (!m || i < 0 || i >= m->ntmpl) return NULL;
  return m->tmpl[i].name;
}

/* Checks the arguments every template call shares and finds the template. */
