/* pattern: Lua 5.4 string patterns with a step budget (contract in pattern.h).
 *
 * A backtracking matcher over the pattern text, like the reference implementation's: one
 * recursive call per item that may need to be retried (a capture, an optional or repeated
 * item), straight-line progress otherwise. Each call, each extra character a repetition
 * takes and each character a %b or a back-reference scans counts as a step. */
#include "pattern.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>

#define PAT_ESC '%'
#define PAT_SPECIALS "^$*+?.([%-"
#define PAT_MAXCAPTURES 32  /* LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200    /* nested calls before "pattern too complex", as Lua */
#define PAT_CHARGE_EVERY 4096
#define PAT_UNFINISHED (-1) /* capture length: still open */
#define PAT_POSITION (-2)   /* capture length: a position capture, () */

typedef struct pat_state {
  lua_State *L;
  const char *src, *src_end; /* the subject */
  const char *pat_end;
  int depth; /* nested calls left */
  int level; /* captures open or closed */
  struct {
    const char *init;
    ptrdiff_t len;
  } cap[PAT_MAXCAPTURES];
  int64_t steps; /* not yet charged */
  fc_pattern_charge charge;
} pat_state;

static unsigned char uc(char c) { return (unsigned char)c; }

static void pat_count(pat_state *ms, int64_t n) {
  ms->steps += n;
  if (ms->steps >= PAT_CHARGE_EVERY) {
    int64_t n2 = ms->steps;
    ms->steps = 0;
    ms->charge(ms->L, n2);
  }
}

static void pat_settle(pat_state *ms) {
  int64_t n = ms->steps;
  ms->steps = 0;
  if (n) ms->charge(ms->L, n);
}

static void pat_init(pat_state *ms, lua_State *L, fc_pattern_charge charge, const char *s,
                     size_t ls, const char *p, size_t lp) {
  ms->L = L;
  ms->src = s;
  ms->src_end = s + ls;
  ms->pat_end = p + lp;
  ms->steps = 0;
  ms->charge = charge;
}

static void pat_reset(pat_state *ms) {
  ms->level = 0;
  ms->depth = PAT_MAXDEPTH;
}

/* %a, %d, ... (upper case: the complement); any other character stands for itself. */
static int pat_class(int c, int cl) {
  int r;
  switch (tolower(cl)) {
  case 'a': r = isalpha(c); break;
  case 'c': r = iscntrl(c); break;
  case 'd': r = isdigit(c); break;
  case 'g': r = isgraph(c); break;
  case 'l': r = islower(c); break;
  case 'p': r = ispunct(c); break;
  case 's': r = isspace(c); break;
  case 'u': r = isupper(c); break;
  case 'w': r = isalnum(c); break;
  case 'x': r = isxdigit(c); break;
  case 'z': r = c == 0; break; /* deprecated since 5.2, still accepted */
  default: return cl == c;
  }
  r = r != 0;
  return isupper(cl) ? !r : r;
}

/* Whether c is in the set [..] from p (its '[') to close (its ']'). */
static int pat_set(int c, const char *p, const char *close) {
  int in = 1;
  if (p[1] == '^') {
    in = 0;
    p++;
  }
  while (++p < close) {
    if (*p == PAT_ESC) {
      p++;
      if (pat_class(c, uc(*p))) return in;
    } else if (p[1] == '-' && p + 2 < close) {
      if (uc(p[0]) <= c && c <= uc(p[2])) return in;
      p += 2;
    } else if (uc(*p) == c) {
      return in;
    }
  }
  return !in;
}

/* The end of the single-character class at p: one past '.', a character, %x or [set]. */
static const char *pat_item_end(pat_state *ms, const char *p) {
  char c = *p++;
  if (c == PAT_ESC) {
    if (p >= ms->pat_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (c == '[') {
    if (p < ms->pat_end && *p == '^') p++;
    do { /* the first character (even ']') belongs to the set */
      if (p >= ms->pat_end) luaL_error(ms->L, "malformed pattern (missing ']')");
      c = *p++;
      if (c == PAT_ESC && p < ms->pat_end) p++;
    } while (p >= ms->pat_end || *p != ']');
    return p + 1;
  }
  return p;
}

/* Whether the subject character at s is in the class from p to ep. */
static int pat_one(const pat_state *ms, const char *s, const char *p, const char *ep) {
  if (s >= ms->src_end) return 0;
  int c = uc(*s);
  switch (*p) {
  case '.': return 1;
  case PAT_ESC: return pat_class(c, uc(p[1]));
  case '[': return pat_set(c, p, ep - 1);
  default: return uc(*p) == c;
  }
}

static const char *pat_match(pat_state *ms, const char *s, const char *p);

/* %bxy at p (x, y): s must start with x and the match ends after the balancing y. */
static const char *pat_balance(pat_state *ms, const char *s, const char *p) {
  if (p + 1 >= ms->pat_end) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->src_end || *s != p[0]) return NULL;
  const char *start = s;
  int open = 1;
  while (++s < ms->src_end) {
    if (*s == p[1]) {
      if (--open == 0) {
        pat_count(ms, s - start);
        return s + 1;
      }
    } else if (*s == p[0]) {
      open++;
    }
  }
  pat_count(ms, s - start);
  return NULL;
}

/* %1 .. %9: the text of a closed capture again. */
static const char *pat_backref(pat_state *ms, const char *s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= ms->level || ms->cap[l].len == PAT_UNFINISHED)
    luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  if (ms->cap[l].len == PAT_POSITION) return NULL; /* a position is no text */
  size_t len = (size_t)ms->cap[l].len;
  pat_count(ms, (int64_t)(len / 16));
  if ((size_t)(ms->src_end - s) >= len && memcmp(ms->cap[l].init, s, len) == 0) return s + len;
  return NULL;
}

/* The longest run of the item from p to ep at s, then shorter ones, until the rest matches. */
static const char *pat_longest(pat_state *ms, const char *s, const char *p, const char *ep) {
  ptrdiff_t n = 0;
  while (pat_one(ms, s + n, p, ep)) {
    n++;
    pat_count(ms, 1);
  }
  for (; n >= 0; n--) {
    const char *r = pat_match(ms, s + n, ep + 1);
    if (r) return r;
  }
  return NULL;
}

/* The shortest run of the item from p to ep at s that lets the rest match. */
static const char *pat_shortest(pat_state *ms, const char *s, const char *p, const char *ep) {
  for (;;) {
    const char *r = pat_match(ms, s, ep + 1);
    if (r) return r;
    if (!pat_one(ms, s, p, ep)) return NULL;
    s++;
  }
}

static const char *pat_open(pat_state *ms, const char *s, const char *p, ptrdiff_t what) {
  if (ms->level >= PAT_MAXCAPTURES) luaL_error(ms->L, "too many captures");
  ms->cap[ms->level].init = s;
  ms->cap[ms->level].len = what;
  ms->level++;
  const char *r = pat_match(ms, s, p);
  if (!r) ms->level--;
  return r;
}

static const char *pat_close(pat_state *ms, const char *s, const char *p) {
  int l = ms->level - 1;
  while (l >= 0 && ms->cap[l].len != PAT_UNFINISHED) l--;
  if (l < 0) luaL_error(ms->L, "invalid pattern capture");
  ms->cap[l].len = s - ms->cap[l].init;
  const char *r = pat_match(ms, s, p);
  if (!r) ms->cap[l].len = PAT_UNFINISHED;
  return r;
}

/* Matches the pattern from p at s: the end of the match, or NULL. */
static const char *pat_match(pat_state *ms, const char *s, const char *p) {
  if (ms->depth-- == 0) luaL_error(ms->L, "pattern too complex");
  for (;;) {
    pat_count(ms, 1);
    if (p >= ms->pat_end) break;
    if (*p == '(') {
      if (p + 1 < ms->pat_end && p[1] == ')') s = pat_open(ms, s, p + 2, PAT_POSITION);
      else s = pat_open(ms, s, p + 1, PAT_UNFINISHED);
      break;
    }
    if (*p == ')') {
      s = pat_close(ms, s, p + 1);
      break;
    }
    if (*p == '$' && p + 1 == ms->pat_end) { /* elsewhere '$' is itself */
      if (s != ms->src_end) s = NULL;
      break;
    }
    if (*p == PAT_ESC && p + 1 < ms->pat_end) {
      if (p[1] == 'b') {
        s = pat_balance(ms, s, p + 2);
        if (!s) break;
        p += 4;
        continue;
      }
      if (p[1] == 'f') { /* frontier: the previous character not in the set, this one in it */
        p += 2;
        if (p >= ms->pat_end || *p != '[')
          luaL_error(ms->L, "missing '[' after '%%f' in pattern");
        const char *ep = pat_item_end(ms, p);
        int prev = s == ms->src ? 0 : uc(s[-1]);
        int cur = s < ms->src_end ? uc(*s) : 0;
        if (pat_set(prev, p, ep - 1) || !pat_set(cur, p, ep - 1)) {
          s = NULL;
          break;
        }
        p = ep;
        continue;
      }
      if (isdigit(uc(p[1]))) {
        s = pat_backref(ms, s, uc(p[1]));
        if (!s) break;
        p += 2;
        continue;
      }
    }
    /* A single-character class, maybe repeated. */
    const char *ep = pat_item_end(ms, p);
    char q = ep < ms->pat_end ? *ep : 0;
    if (!pat_one(ms, s, p, ep)) {
      if (q == '*' || q == '?' || q == '-') { /* zero repetitions will do */
        p = ep + 1;
        continue;
      }
      s = NULL;
      break;
    }
    if (q == '?') {
      const char *r = pat_match(ms, s + 1, ep + 1);
      if (r) {
        s = r;
        break;
      }
      p = ep + 1;
      continue;
    }
    if (q == '+' || q == '*') {
      s = pat_longest(ms, q == '+' ? s + 1 : s, p, ep);
      break;
    }
    if (q == '-') {
      s = pat_shortest(ms, s, p, ep);
      break;
    }
    s++;
    p = ep;
  }
  ms->depth++;
  return s;
}

/* ---- captures to Lua values ---- */

/* Pushes capture i of the match s..e (the whole match when there are no captures). */
static void pat_push_capture(pat_state *ms, int i, const char *s, const char *e) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(ms->L, s, (size_t)(e - s));
    return;
  }
  ptrdiff_t len = ms->cap[i].len;
  if (len == PAT_UNFINISHED) luaL_error(ms->L, "unfinished capture");
  if (len == PAT_POSITION)
    lua_pushinteger(ms->L, (lua_Integer)(ms->cap[i].init - ms->src) + 1);
  else
    lua_pushlstring(ms->L, ms->cap[i].init, (size_t)len);
}

/* Pushes every capture (the whole match s..e when there is none and s is given). */
static int pat_push_captures(pat_state *ms, const char *s, const char *e) {
  int n = ms->level == 0 && s ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) pat_push_capture(ms, i, s, e);
  return n;
}

/* ---- the library functions ---- */

static fc_pattern_charge pat_charge_of(lua_State *L) {
  return *(fc_pattern_charge *)lua_touserdata(L, lua_upvalueindex(1));
}

/* A 1-based, possibly negative, start position as an offset into a string of length len
   (len + 1 or more: past the end). */
static size_t pat_start(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos - 1;
  if (pos == 0 || pos < -(lua_Integer)len) return 0;
  return len - (size_t)(-pos);
}

static int pat_plain(const char *p, size_t lp) {
  for (size_t i = 0; i < lp; i++)
    if (p[i] && strchr(PAT_SPECIALS, p[i])) return 0;
  return 1;
}

static int pat_find_or_match(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = pat_start(luaL_optinteger(L, 3, 1), ls);
  fc_pattern_charge charge = pat_charge_of(L);
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || pat_plain(p, lp))) {
    charge(L, (int64_t)((ls - init) / 16 + 1));
    const char *r = memmem(s + init, ls - init, p, lp);
    if (r) {
      lua_pushinteger(L, (lua_Integer)(r - s) + 1);
      lua_pushinteger(L, (lua_Integer)(r - s) + (lua_Integer)lp);
      return 2;
    }
    luaL_pushfail(L);
    return 1;
  }
  pat_state ms;
  int anchor = lp > 0 && *p == '^';
  if (anchor) p++, lp--;
  pat_init(&ms, L, charge, s, ls, p, lp);
  const char *s1 = s + init;
  do {
    pat_reset(&ms);
    const char *e = pat_match(&ms, s1, p);
    if (e) {
      pat_settle(&ms);
      if (!find) return pat_push_captures(&ms, s1, e);
      lua_pushinteger(L, (lua_Integer)(s1 - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return pat_push_captures(&ms, NULL, NULL) + 2;
    }
  } while (s1++ < ms.src_end && !anchor);
  pat_settle(&ms);
  luaL_pushfail(L);
  return 1;
}

static int pat_find(lua_State *L) { return pat_find_or_match(L, 1); }
static int pat_match_fn(lua_State *L) { return pat_find_or_match(L, 0); }

/* gmatch's iterator. Upvalues: the charge, the subject, the pattern, and a userdata holding
   where the next search starts and where the last match ended (-1: none yet). */
typedef struct pat_gmatch {
  size_t next;
  ptrdiff_t last;
} pat_gmatch;

static int pat_gmatch_step(lua_State *L) {
  size_t ls, lp;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
  const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
  pat_gmatch *g = lua_touserdata(L, lua_upvalueindex(4));
  pat_state ms;
  pat_init(&ms, L, pat_charge_of(L), s, ls, p, lp);
  for (const char *src = s + g->next; src <= ms.src_end; src++) {
    pat_reset(&ms);
    const char *e = pat_match(&ms, src, p);
    if (e && e - s != g->last) { /* not an empty match where the last one ended */
      g->next = (size_t)(e - s);
      g->last = e - s;
      pat_settle(&ms);
      return pat_push_captures(&ms, src, e);
    }
  }
  pat_settle(&ms);
  return 0;
}

static int pat_gmatch_fn(lua_State *L) {
  size_t ls;
  luaL_checklstring(L, 1, &ls);
  luaL_checkstring(L, 2);
  size_t init = pat_start(luaL_optinteger(L, 3, 1), ls);
  lua_settop(L, 2);
  pat_gmatch *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->next = init > ls ? ls + 1 : init;
  g->last = -1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1); /* charge, s, p, state */
  lua_pushcclosure(L, pat_gmatch_step, 4);
  return 1;
}

/* Appends the replacement string (argument 3) for the match s..e: %0 to %9 and %%. */
static void pat_add_string(pat_state *ms, luaL_Buffer *b, const char *s, const char *e) {
  lua_State *L = ms->L;
  size_t l;
  const char *r = lua_tolstring(L, 3, &l);
  const char *end = r + l;
  while (r < end) {
    const char *esc = memchr(r, PAT_ESC, (size_t)(end - r));
    if (!esc) {
      luaL_addlstring(b, r, (size_t)(end - r));
      break;
    }
    luaL_addlstring(b, r, (size_t)(esc - r));
    char d = esc + 1 < end ? esc[1] : 0;
    if (d == PAT_ESC) {
      luaL_addchar(b, PAT_ESC);
    } else if (d == '0') {
      luaL_addlstring(b, s, (size_t)(e - s));
    } else if (isdigit(uc(d))) {
      pat_push_capture(ms, d - '1', s, e);
      luaL_tolstring(L, -1, NULL); /* a position capture is a number */
      lua_remove(L, -2);
      luaL_addvalue(b);
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", PAT_ESC);
    }
    r = esc + 2;
  }
}

/* Appends the replacement for the match s..e; whether the text changed. */
static int pat_add_value(pat_state *ms, luaL_Buffer *b, const char *s, const char *e, int tr) {
  lua_State *L = ms->L;
  if (tr == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = pat_push_captures(ms, s, e);
    lua_call(L, n, 1);
  } else if (tr == LUA_TTABLE) {
    pat_push_capture(ms, 0, s, e);
    lua_gettable(L, 3);
  } else {
    pat_add_string(ms, b, s, e);
    return 1;
  }
  if (!lua_toboolean(L, -1)) { /* nil or false: keep the original text */
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return 1;
}

static int pat_gsub(lua_State *L) {
  size_t ls, lp;
  const char *src = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  const char *last = NULL;
  int tr = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  int anchor = lp > 0 && *p == '^';
  lua_Integer n = 0;
  int changed = 0;
  luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
                          tr == LUA_TTABLE,
                   3, "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (anchor) p++, lp--;
  pat_state ms;
  pat_init(&ms, L, pat_charge_of(L), src, ls, p, lp);
  while (n < max) {
    pat_reset(&ms);
    const char *e = pat_match(&ms, src, p);
    if (e && e != last) {
      n++;
      changed |= pat_add_value(&ms, &b, src, e, tr);
      src = last = e;
    } else if (src < ms.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  pat_settle(&ms);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

void fc_pattern_install(lua_State *L, int idx, fc_pattern_charge charge) {
  static const luaL_Reg fns[] = {{"find", pat_find},
                                 {"match", pat_match_fn},
                                 {"gmatch", pat_gmatch_fn},
                                 {"gsub", pat_gsub},
                                 {NULL, NULL}};
  idx = lua_absindex(L, idx);
  fc_pattern_charge *u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = charge;
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, idx, f->name);
  }
  lua_pop(L, 1);
}
