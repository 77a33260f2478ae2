/* family_decl: reads and checks a template's `runs` declaration (family_decl.h). */
#include "family_decl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fftconv.h"
#include "shape.h"

/* The names a declaration may use, by enum value; the ops' are the op table's (ops.c), the
   built-in ones and any an op registered (a test family's). */
_Static_assert(FC_MAX_OPS <= 32, "ops are bits of fc_family_decl.ops");
static const char *const dtype_names[] = {"fp32", "fp16", "bf16"};
_Static_assert(FFTCONV_FP32 == 0 && FFTCONV_FP16 == 1 && FFTCONV_BF16 == 2, "dtype names");
static const char *const mode_names[] = {"causal", "circular"};
_Static_assert(FFTCONV_CAUSAL == 0 && FFTCONV_CIRCULAR == 1, "mode names");

static const char *const fields[] = {"ops",      "dtypes",   "modes",   "fft_size", "min_sm",
                                     "fallback", "max_taps", "retired", NULL};

enum { MAX_N_LOG2 = 40, MIN_SM = 10, MAX_SM = 1000, MAX_RANK = 100 };

typedef struct reader {
  lua_State *L;
  const char *name;
  char *msg;
  size_t len;
} reader;

static int fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader *r, const char *fmt, ...) {
  int k = snprintf(r->msg, r->len, "template '%s' (templates/%s.lua): ", r->name, r->name);
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < r->len) vsnprintf(r->msg + k, r->len - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

/* Pushes t[key] of the table at idx, without metamethods. */
static int raw_field(lua_State *L, int idx, const char *key) {
  idx = lua_absindex(L, idx);
  lua_pushstring(L, key);
  return lua_rawget(L, idx);
}

/* A list of names, each one of names[0..n): the set of their indices as bits. */
static int name_set(reader *r, int idx, const char *field, const char *const *names, int n,
                    unsigned *out) {
  lua_State *L = r->L;
  char allowed[128] = "";
  for (int i = 0; i < n; i++)
    snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", i ? ", " : "",
             names[i]);
  int t = raw_field(L, idx, field);
  lua_Integer len = t == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
  if (t != LUA_TTABLE || len < 1) {
    lua_pop(L, 1);
    return fail(r, "field 'runs.%s' must be a non-empty list of %s, got %s", field, allowed,
                t == LUA_TTABLE ? "an empty table" : lua_typename(L, t));
  }
  *out = 0;
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, -1, i);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int k = 0;
    while (s && k < n && strcmp(s, names[k])) k++;
    if (!s || k == n) {
      int rc = fail(r, "field 'runs.%s': entry %lld is %s%.40s%s, not one of %s", field,
                    (long long)i, s ? "'" : "a ", s ? s : lua_typename(L, lua_type(L, -1)), s ? "'" : "",
                    allowed);
      lua_pop(L, 2);
      return rc;
    }
    *out |= 1u << k;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/* An integer field of the table at idx in [lo, hi]; what it is for in `what`. */
static int int_field(reader *r, int idx, const char *field, const char *path, lua_Integer lo,
                     lua_Integer hi, const char *what, lua_Integer *out) {
  lua_State *L = r->L;
  int t = raw_field(L, idx, field);
  int ok = t == LUA_TNUMBER && lua_isinteger(L, -1);
  *out = ok ? lua_tointeger(L, -1) : 0;
  if (!ok || *out < lo || *out > hi) {
    char got[64];
    if (ok) snprintf(got, sizeof got, "%lld", (long long)*out);
    else snprintf(got, sizeof got, "%s", t == LUA_TNUMBER ? "a fraction" : lua_typename(L, t));
    lua_pop(L, 1);
    return fail(r, "field '%s' must be %s from %lld to %lld, got %s", path, what, (long long)lo,
                (long long)hi, got);
  }
  lua_pop(L, 1);
  return 0;
}

static int is_pow2(lua_Integer x) { return x > 0 && (x & (x - 1)) == 0; }

static int fft_sizes(reader *r, int idx, fc_family_decl *d) {
  lua_State *L = r->L;
  int t = raw_field(L, idx, "fft_size");
  if (t != LUA_TTABLE) {
    lua_pop(L, 1);
    return fail(r, "field 'runs.fft_size' must be a table { min = N, max = N }, got %s",
                lua_typename(L, t));
  }
  lua_Integer lo, hi, top = (lua_Integer)1 << MAX_N_LOG2;
  int rc = int_field(r, -1, "min", "runs.fft_size.min", 2, top, "a power of two", &lo);
  if (!rc) rc = int_field(r, -1, "max", "runs.fft_size.max", 2, top, "a power of two", &hi);
  lua_pop(L, 1);
  if (rc) return rc;
  if (!is_pow2(lo)) return fail(r, "field 'runs.fft_size.min' must be a power of two, got %lld",
                                (long long)lo);
  if (!is_pow2(hi) || hi < lo)
    return fail(r, "field 'runs.fft_size.max' must be a power of two from min (%lld) to %lld, "
                   "got %lld", (long long)lo, (long long)top, (long long)hi);
  d->min_n = lo, d->max_n = hi;
  return 0;
}

static int fallback(reader *r, int idx, fc_family_decl *d) {
  lua_State *L = r->L;
  int t = raw_field(L, idx, "fallback");
  int no = t == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (no) {
    d->fallback = 0;
    return 0;
  }
  lua_Integer v;
  if (int_field(r, idx, "fallback", "runs.fallback", 1, MAX_RANK,
                "false (not a fallback) or the fallback order, an integer", &v))
    return -1;
  d->fallback = (int)v;
  return 0;
}

/* max_taps: absent (any filter) or a positive count of taps. */
static int max_taps(reader *r, int idx, fc_family_decl *d) {
  lua_State *L = r->L;
  int t = raw_field(L, idx, "max_taps");
  lua_pop(L, 1);
  if (t == LUA_TNIL) return d->max_taps = 0, 0;
  lua_Integer v;
  if (int_field(r, idx, "max_taps", "runs.max_taps", 1, (lua_Integer)1 << 40,
                "absent (any filter) or the most taps a filter may have, an integer", &v))
    return -1;
  d->max_taps = v;
  return 0;
}

/* retired: absent (the tuner searches the family), or a non-empty line saying why it does not
   unless --template names it. */
static int retired(reader *r, int idx, fc_family_decl *d) {
  lua_State *L = r->L;
  int t = raw_field(L, idx, "retired");
  const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  size_t n = s ? strlen(s) : 0;
  int ok = t == LUA_TNIL || (s && n > 0 && n < sizeof d->retired && !strchr(s, '\n'));
  if (ok && s) memcpy(d->retired, s, n + 1);
  lua_pop(L, 1);
  if (ok) return 0;
  if (s)
    return fail(r, "field 'runs.retired' must be one line of 1 to %zu characters, got %zu "
                   "characters%s", sizeof d->retired - 1, n, strchr(s, '\n') ? " over lines" : "");
  return fail(r, "field 'runs.retired' must be absent (searched) or a string saying why the "
                 "tuner leaves the family out, got %s", lua_typename(L, t));
}

/* Every key of runs is a declaration field: a misspelt one is an error, not ignored. */
static int known_fields(reader *r, int idx) {
  lua_State *L = r->L;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int k = 0;
    const char *s = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    while (s && fields[k] && strcmp(s, fields[k])) k++;
    if (!s || !fields[k]) {
      int rc = fail(r, "field 'runs.%.40s' is not a declaration field (ops, dtypes, modes, "
                       "fft_size, min_sm, fallback, max_taps, retired)", s ? s : "?");
      lua_pop(L, 2);
      return rc;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int read_runs(reader *r, int idx, fc_family_decl *d) {
  lua_Integer sm;
  const char *op_names[FC_MAX_OPS];
  int nops = fc_op_count() < FC_MAX_OPS ? fc_op_count() : FC_MAX_OPS;
  for (int k = 0; k < nops; k++) op_names[k] = fc_op_name(k);
  if (known_fields(r, idx) ||
      name_set(r, idx, "ops", op_names, nops, &d->ops) ||
      name_set(r, idx, "dtypes", dtype_names, 3, &d->dtypes) ||
      name_set(r, idx, "modes", mode_names, 2, &d->modes) || fft_sizes(r, idx, d) ||
      int_field(r, idx, "min_sm", "runs.min_sm", MIN_SM, MAX_SM,
                "the compute capability x10 (80: sm_80), an integer", &sm) ||
      fallback(r, idx, d) || max_taps(r, idx, d) || retired(r, idx, d))
    return -1;
  d->min_sm = (int)sm;
  return 0;
}

int fc_family_decl_read(lua_State *L, int idx, const char *name, fc_family_decl *d, char *msg,
                        size_t len) {
  reader r = {L, name, msg, len};
  memset(d, 0, sizeof *d);
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L), rc = -1;
  snprintf(d->name, sizeof d->name, "%s", name);
  if (raw_field(L, idx, "doc") == LUA_TSTRING)
    snprintf(d->doc, sizeof d->doc, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  int t = raw_field(L, idx, "runs");
  if (t == LUA_TNIL)
    fail(&r, "field 'runs' is missing (what the family runs: ops, dtypes, modes, fft_size, "
             "min_sm, fallback)");
  else if (t != LUA_TTABLE)
    fail(&r, "field 'runs' must be a table, got %s", lua_typename(L, t));
  else
    rc = read_runs(&r, lua_gettop(L), d);
  lua_settop(L, top);
  return rc;
}
