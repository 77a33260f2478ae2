/* json: the one JSON reader, a cursor and a tree over one lexer (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lexer: strings and numbers of text[p, end) ---- */

typedef struct lex {
  const char *p, *end;
  const char *what; /* why it stopped, at p */
} lex;

enum { ESC_QUOTE_ONLY, ESC_ALL, ESC_ALL_NUL }; /* fc_json_cur.escapes 0, 1; the tree */

static int at(const lex *x) { return x->p < x->end ? (unsigned char)*x->p : 0; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int hex4(lex *x, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++, x->p++) {
    int c = at(x), d = is_digit(c) ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f'
                                                   ? (c | 0x20) - 'a' + 10 : -1;
    if (d < 0) return x->what = "expected four hexadecimal digits after \\u", 0;
    *v = *v << 4 | (unsigned)d;
  }
  return 1;
}

/* The code point of a \u escape (x->p after the 'u'), a surrogate pair joined. */
static int unicode_escape(lex *x, unsigned *cp) {
  unsigned hi, lo;
  const char *start = x->p - 2;
  if (!hex4(x, &hi)) return 0;
  if (hi >= 0xdc00 && hi <= 0xdfff) return x->p = start, x->what = "lone surrogate in \\u escape", 0;
  if (hi < 0xd800 || hi > 0xdbff) return *cp = hi, 1;
  if (at(x) != '\\' || x->p + 1 >= x->end || x->p[1] != 'u')
    return x->p = start, x->what = "lone surrogate in \\u escape", 0;
  x->p += 2;
  if (!hex4(x, &lo)) return 0;
  if (lo < 0xdc00 || lo > 0xdfff) return x->p = start, x->what = "lone surrogate in \\u escape", 0;
  *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
  return 1;
}

static size_t utf8(unsigned cp, char *b) {
  if (cp < 0x80) return b[0] = (char)cp, 1;
  if (cp < 0x800) return b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), 2;
  if (cp < 0x10000) {
    b[0] = (char)(0xe0 | cp >> 12);
    b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  b[0] = (char)(0xf0 | cp >> 18);
  b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  b[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* One escape (x->p after the backslash) into b: its bytes, or 0 with x->what. */
static size_t escape(lex *x, int escapes, char *b) {
  int d = at(x);
  x->p++;
  if (escapes == ESC_QUOTE_ONLY) {
    if (d != '"' && d != '\\') return x->what = "unsupported string escape", 0;
    return b[0] = (char)d, 1;
  }
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *k = d ? strchr(from, d) : NULL;
  if (k) return b[0] = to[k - from], 1;
  if (d != 'u') return x->p--, x->what = "unsupported string escape", 0;
  unsigned cp;
  if (!unicode_escape(x, &cp)) return 0;
  if (!cp && escapes != ESC_ALL_NUL) return x->what = "escaped NUL (\\u0000) in a string", 0;
  return utf8(cp, b);
}

/* A string at x->p (its opening quote) into out (cap bytes with the NUL), *n its bytes. */
static int lex_string(lex *x, int escapes, char *out, size_t cap, size_t *n) {
  size_t len = 0;
  x->p++;
  while (x->p < x->end && *x->p != '"') {
    char b[4];
    unsigned char c = (unsigned char)*x->p++;
    size_t k = 1;
    b[0] = (char)c;
    if (c == '\\' && !(k = escape(x, escapes, b))) return 0;
    if (c < 0x20) return x->what = "control character in string", 0;
    if (len + k >= cap) return x->what = "string too long", 0;
    memcpy(out + len, b, k);
    len += k;
  }
  if (x->p >= x->end) return x->what = "expected '\"'", 0;
  x->p++;
  out[len] = 0;
  *n = len;
  return 1;
}

/* The digits of an integer b[0, n) (an optional '-'): *v, or 0 when past 64 bits (*v is
   then the nearest of INT64_MIN and INT64_MAX). */
static int int_of(const char *b, size_t n, int64_t *v) {
  int neg = n && b[0] == '-';
  uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (size_t i = (size_t)neg; i < n; i++) {
    unsigned d = (unsigned)(b[i] - '0');
    if (u > (lim - d) / 10) {
      *v = neg ? INT64_MIN : INT64_MAX;
      return 0;
    }
    u = u * 10 + d;
  }
  *v = neg ? (int64_t)(0 - u) : (int64_t)u;
  return 1;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* b[0, n) as a double, read in the C locale ("0.5" whatever the program's locale). */
static double double_of(const char *b, size_t n) {
  char small[64], *t = n < sizeof small ? small : malloc(n + 1);
  if (!t) return 0;
  memcpy(t, b, n);
  t[n] = 0;
  pthread_once(&c_locale_once, c_locale_init);
  double d = c_locale ? strtod_l(t, NULL, c_locale) : strtod(t, NULL);
  if (t != small) free(t);
  return d;
}

/* ---- the cursor ---- */

int fc_json_fail(fc_json_cur *r, const char *what) {
  if (!r->failed)
    fc_fail(r->e, FFTCONV_ERR_INVALID, "%s: %s at byte %td", r->who ? r->who : "JSON", what,
            r->p - r->s);
  r->failed = 1;
  return 0;
}

void fc_json_ws(fc_json_cur *r) {
  while (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r') r->p++;
}

int fc_json_expect(fc_json_cur *r, char c) {
  fc_json_ws(r);
  if (*r->p != c) {
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return fc_json_fail(r, what);
  }
  r->p++;
  return 1;
}

int fc_json_peek(fc_json_cur *r, char c) {
  fc_json_ws(r);
  return *r->p == c;
}

int fc_json_string(fc_json_cur *r, char *out, size_t cap) {
  if (!fc_json_expect(r, '"')) return 0;
  r->p--;
  if (!r->end) r->end = r->p + strlen(r->p);
  lex x = {r->p, r->end, NULL};
  size_t n;
  int ok = lex_string(&x, r->escapes ? ESC_ALL : ESC_QUOTE_ONLY, out, cap, &n);
  r->p = x.p;
  return ok ? 1 : fc_json_fail(r, x.what);
}

int fc_json_int(fc_json_cur *r, int64_t lo, int64_t hi, int64_t *out) {
  fc_json_ws(r);
  const char *b = r->p;
  if (*r->p == '-') r->p++;
  if (!is_digit(*r->p)) return fc_json_fail(r, "expected an integer");
  while (is_digit(*r->p)) r->p++;
  if (*r->p == '.' || *r->p == 'e' || *r->p == 'E') return fc_json_fail(r, "expected an integer");
  int64_t v;
  if (r->p - b > 19 || !int_of(b, (size_t)(r->p - b), &v)) return fc_json_fail(r, "integer too large");
  if (v < lo || v > hi) {
    r->p = b;
    char what[96];
    snprintf(what, sizeof what, "%" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", v, lo, hi);
    return fc_json_fail(r, what);
  }
  *out = v;
  return 1;
}

int fc_json_object(fc_json_cur *r, fc_json_field_fn field, void *arg) {
  if (!fc_json_expect(r, '{')) return 0;
  for (int k = 0; !fc_json_peek(r, '}'); k++) {
    char key[FC_JSON_CUR_KEY];
    if (k && !fc_json_expect(r, ',')) return 0;
    const char *at_key = r->p;
    if (!fc_json_string(r, key, sizeof key) || !fc_json_expect(r, ':')) return 0;
    int ok = field(r, key, arg);
    if (ok < 0) {
      r->p = at_key;
      char what[80];
      snprintf(what, sizeof what, "unknown or repeated key \"%s\"", key);
      return fc_json_fail(r, what);
    }
    if (!ok) return 0;
  }
  return fc_json_expect(r, '}');
}

/* ---- the tree ---- */

struct fc_json_doc {
  const char *text;
  fc_json *v;
  size_t n, cap;
  char *strings; /* every decoded string and key: never longer than its text */
  size_t used;
};

typedef struct parser {
  fc_json_doc *d;
  lex x;
  const char *s;
  fc_json_limits lim;
  int status;
  char *why;
  size_t wlen;
} parser;

static int p_fail(parser *ps, int status, const char *what) {
  if (ps->status == FC_JSON_OK) {
    ps->status = status;
    snprintf(ps->why, ps->wlen, "%s at byte %td", what, ps->x.p - ps->s);
  }
  return 0;
}

static void p_ws(parser *ps) {
  for (int c; (c = at(&ps->x)) == ' ' || c == '\t' || c == '\r' || c == '\n';) ps->x.p++;
}

/* A new value at the current position: its index, or -1. */
static int32_t p_new(parser *ps, fc_json_type t) {
  fc_json_doc *d = ps->d;
  if (d->n >= ps->lim.max_values) {
    char what[64];
    snprintf(what, sizeof what, "more than %zu values", ps->lim.max_values);
    return p_fail(ps, FC_JSON_TOO_MANY, what), -1;
  }
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 64;
    fc_json *v = realloc(d->v, cap * sizeof *v);
    if (!v) return p_fail(ps, FC_JSON_NOMEM, "out of memory"), -1;
    d->v = v, d->cap = cap;
  }
  fc_json *v = &d->v[d->n];
  memset(v, 0, sizeof *v);
  v->type = t;
  v->off = (size_t)(ps->x.p - ps->s);
  v->first = v->next = -1;
  return (int32_t)d->n++;
}

/* A string into the document's string space: its text, *n its bytes. */
static const char *p_string(parser *ps, size_t *n) {
  char *out = ps->d->strings + ps->d->used;
  if (!lex_string(&ps->x, ESC_ALL_NUL, out, (size_t)(ps->x.end - ps->s) + 1 - ps->d->used, n))
    return p_fail(ps, FC_JSON_MALFORMED, ps->x.what), NULL;
  ps->d->used += *n + 1;
  return out;
}

static int p_value(parser *ps, int depth, int32_t *out);

/* The members of the array or object v (at its opening bracket). */
static int p_members(parser *ps, int depth, int32_t v) {
  int object = *ps->x.p == '{';
  char close = object ? '}' : ']';
  int32_t last = -1;
  size_t count = 0;
  ps->x.p++;
  p_ws(ps);
  if (at(&ps->x) == close) return ps->x.p++, 1;
  for (;;) {
    const char *key = NULL;
    size_t kn = 0, keep_n = ps->d->n, keep_used = ps->d->used;
    p_ws(ps);
    if (object) {
      if (at(&ps->x) != '"') return p_fail(ps, FC_JSON_MALFORMED, "expected a key (a string)");
      if (!(key = p_string(ps, &kn))) return 0;
      p_ws(ps);
      if (at(&ps->x) != ':') return p_fail(ps, FC_JSON_MALFORMED, "expected ':'");
      ps->x.p++;
    }
    int32_t m;
    if (!p_value(ps, depth + 1, &m)) return 0;
    if (count++ >= ps->lim.max_members) { /* read, not kept */
      ps->d->n = keep_n, ps->d->used = keep_used;
    } else {
      ps->d->v[m].key = key, ps->d->v[m].key_n = kn;
      if (last < 0) ps->d->v[v].first = m;
      else ps->d->v[last].next = m;
      last = m;
    }
    p_ws(ps);
    int c = at(&ps->x);
    ps->x.p++;
    if (c == close) break;
    if (c != ',') {
      ps->x.p--;
      return p_fail(ps, FC_JSON_MALFORMED, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  ps->d->v[v].n = count;
  return 1;
}

static int p_number(parser *ps, int32_t v) {
  lex *x = &ps->x;
  const char *b = x->p;
  int real = 0;
  if (at(x) == '-') x->p++;
  if (!is_digit(at(x))) return p_fail(ps, FC_JSON_MALFORMED, "expected a value");
  if (at(x) == '0') x->p++;
  else
    while (is_digit(at(x))) x->p++;
  if (at(x) == '.') {
    x->p++, real = 1;
    if (!is_digit(at(x))) return p_fail(ps, FC_JSON_MALFORMED, "expected a digit after '.'");
    while (is_digit(at(x))) x->p++;
  }
  if (at(x) == 'e' || at(x) == 'E') {
    x->p++, real = 1;
    if (at(x) == '+' || at(x) == '-') x->p++;
    if (!is_digit(at(x))) return p_fail(ps, FC_JSON_MALFORMED, "expected a digit in the exponent");
    while (is_digit(at(x))) x->p++;
  }
  fc_json *j = &ps->d->v[v];
  j->type = real ? FC_JSON_REAL : FC_JSON_INT;
  j->d = double_of(b, (size_t)(x->p - b));
  if (!real) j->big = !int_of(b, (size_t)(x->p - b), &j->i);
  return 1;
}

static int p_value(parser *ps, int depth, int32_t *out) {
  p_ws(ps);
  int c = at(&ps->x);
  if ((c == '{' || c == '[') && depth > ps->lim.max_depth) {
    char what[64];
    snprintf(what, sizeof what, "nesting deeper than %d", ps->lim.max_depth);
    return p_fail(ps, FC_JSON_MALFORMED, what);
  }
  int32_t v = p_new(ps, FC_JSON_NULL);
  if (v < 0) return 0;
  *out = v;
  int ok = 1;
  static const struct { const char *word; fc_json_type t; } words[] = {
      {"null", FC_JSON_NULL}, {"true", FC_JSON_TRUE}, {"false", FC_JSON_FALSE}};
  if (c == '{' || c == '[') {
    ps->d->v[v].type = c == '{' ? FC_JSON_OBJECT : FC_JSON_ARRAY;
    ok = p_members(ps, depth, v);
  } else if (c == '"') {
    const char *s = p_string(ps, &ps->d->v[v].n);
    ps->d->v[v].type = FC_JSON_STRING;
    ps->d->v[v].s = s;
    ok = s != NULL;
  } else if (c == '-' || is_digit(c)) {
    ok = p_number(ps, v);
  } else {
    size_t k = 0;
    while (k < 3 && !((size_t)(ps->x.end - ps->x.p) >= strlen(words[k].word) &&
                      !memcmp(ps->x.p, words[k].word, strlen(words[k].word))))
      k++;
    if (k == 3) return p_fail(ps, FC_JSON_MALFORMED, c ? "expected a value" : "expected a value, "
                              "not the end of the text");
    ps->d->v[v].type = words[k].t;
    ps->x.p += strlen(words[k].word);
  }
  if (ok) ps->d->v[v].len = (size_t)(ps->x.p - ps->s) - ps->d->v[v].off;
  return ok;
}

int fc_json_parse(const char *text, size_t n, const fc_json_limits *lim, fc_json_doc **out,
                  char *why, size_t wlen) {
  *out = NULL;
  if (wlen) why[0] = 0;
  const char *nul = memchr(text, 0, n);
  if (nul) {
    snprintf(why, wlen, "a NUL byte at byte %td", nul - text);
    return FC_JSON_MALFORMED;
  }
  fc_json_doc *d = calloc(1, sizeof *d);
  if (d) d->strings = malloc(n + 1);
  if (!d || !d->strings) {
    fc_json_free(d);
    snprintf(why, wlen, "out of memory");
    return FC_JSON_NOMEM;
  }
  d->text = text;
  parser ps = {d, {text, text + n, NULL}, text, *lim, FC_JSON_OK, why, wlen};
  int32_t root;
  if (p_value(&ps, 1, &root)) {
    p_ws(&ps);
    if (ps.x.p < ps.x.end) p_fail(&ps, FC_JSON_MALFORMED, "text after the value");
  }
  if (ps.status != FC_JSON_OK) {
    fc_json_free(d);
    return ps.status;
  }
  *out = d;
  return FC_JSON_OK;
}

void fc_json_free(fc_json_doc *d) {
  if (!d) return;
  free(d->v);
  free(d->strings);
  free(d);
}

const fc_json *fc_json_root(const fc_json_doc *d) { return d && d->n ? &d->v[0] : NULL; }

const fc_json *fc_json_first(const fc_json_doc *d, const fc_json *v) {
  return v && (v->type == FC_JSON_ARRAY || v->type == FC_JSON_OBJECT) && v->first >= 0
             ? &d->v[v->first] : NULL;
}

const fc_json *fc_json_next(const fc_json_doc *d, const fc_json *m) {
  return m && m->next >= 0 ? &d->v[m->next] : NULL;
}

const fc_json *fc_json_get(const fc_json_doc *d, const fc_json *v, const char *key) {
  if (!v || v->type != FC_JSON_OBJECT) return NULL;
  size_t kn = strlen(key);
  for (const fc_json *m = fc_json_first(d, v); m; m = fc_json_next(d, m))
    if (m->key_n == kn && !memcmp(m->key, key, kn)) return m;
  return NULL;
}

char *fc_json_compact(const fc_json_doc *d, const fc_json *v) {
  char *out = malloc(v->len + 1);
  if (!out) return NULL;
  const char *t = d->text + v->off;
  size_t o = 0;
  int in_string = 0;
  for (size_t i = 0; i < v->len; i++) {
    char c = t[i];
    if (in_string) {
      out[o++] = c;
      if (c == '\\' && i + 1 < v->len) out[o++] = t[++i];
      else if (c == '"') in_string = 0;
    } else if (!strchr(" \t\r\n", c)) {
      out[o++] = c;
      in_string = c == '"';
    }
  }
  out[o] = 0;
  return out;
}

const char *fc_json_what(const fc_json *v) {
  if (!v) return "missing";
  switch (v->type) {
  case FC_JSON_NULL: return "null";
  case FC_JSON_FALSE:
  case FC_JSON_TRUE: return "a boolean";
  case FC_JSON_INT: return "an integer";
  case FC_JSON_REAL: return "a number with a fraction";
  case FC_JSON_STRING: return "a string";
  case FC_JSON_ARRAY: return "an array";
  default: return "an object";
  }
}
