/* json: the C side's one JSON reader (RFC 8259), in two forms over one lexer:
 *  - a cursor (fc_json_cur) that reads a text in place, token by token, for a reader that
 *    fills a struct as it goes and reports the byte where the text went wrong (the launch
 *    manifest, manifest.c);
 *  - a tree (fc_json_doc) of a whole text, for a reader that looks members up by name and
 *    says which is missing or of the wrong type (the bundle manifest, src/store/bundle.c).
 * Strings: every escape of JSON, \u included, with surrogate pairs joined into UTF-8 (a lone
 * surrogate is malformed); a raw control character is malformed. Numbers: an integer (no
 * fraction, no exponent) is read exactly, with a flag when it is past 64 bits; any number as
 * a double as well (read in the C locale, whatever the program's). Limits: the depth of
 * nesting and the count of values are the caller's, checked while parsing; every refusal
 * names the byte offset where it happened. Never prints, never exits. Runtime layer. */
#ifndef FC_JSON_H
#define FC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- the cursor ---- */

typedef struct fc_json_cur {
  const char *s, *p; /* the text (NUL-terminated) and the position */
  const char *who;   /* what the text is, for messages: "manifest" */
  fc_err *e;         /* the first failure: "<who>: <what> at byte <offset>" */
  int failed;
  int escapes;       /* 0: a string may hold only \" and \\ ("unsupported string escape");
                        1: every escape of JSON (\u0000 is refused: strings are C strings) */
  const char *end;   /* the text's NUL: NULL until the first string finds it */
} fc_json_cur;

/* Records what went wrong at the current position (once: the first failure is kept) with
   FFTCONV_ERR_INVALID. Returns 0. */
int fc_json_fail(fc_json_cur *r, const char *what);
void fc_json_ws(fc_json_cur *r); /* skips white space */
/* White space, then c ("expected 'c'" otherwise). 1 or 0. */
int fc_json_expect(fc_json_cur *r, char c);
/* White space, then whether c is next (not consumed). */
int fc_json_peek(fc_json_cur *r, char c);
/* A string into out (cap bytes with its NUL; "string too long" past it). 1 or 0. */
int fc_json_string(fc_json_cur *r, char *out, size_t cap);
/* An integer from lo to hi ("expected an integer" for a number with a fraction or an
   exponent, "integer too large" past 64 bits, "V is outside [LO, HI]" at its first byte).
   1 or 0. */
int fc_json_int(fc_json_cur *r, int64_t lo, int64_t hi, int64_t *out);
/* An object: field(r, key, arg) reads the value of each member, keys in any order (a key is
   at most FC_JSON_CUR_KEY - 1 bytes). field returns 1 when it read the value, 0 when it
   failed (r holds why), -1 for a key it does not take: "unknown or repeated key "K"" at the
   key. 1 or 0. */
#define FC_JSON_CUR_KEY 32
typedef int (*fc_json_field_fn)(fc_json_cur *r, const char *key, void *arg);
int fc_json_object(fc_json_cur *r, fc_json_field_fn field, void *arg);

/* ---- the tree ---- */

typedef enum fc_json_type {
  FC_JSON_NULL, FC_JSON_FALSE, FC_JSON_TRUE, FC_JSON_INT, FC_JSON_REAL, FC_JSON_STRING,
  FC_JSON_ARRAY, FC_JSON_OBJECT
} fc_json_type;

/* A value of a document; pointers live as long as the document. */
typedef struct fc_json {
  fc_json_type type;
  int big;           /* INT: past 64 bits (i is INT64_MAX or INT64_MIN then) */
  int64_t i;         /* INT */
  double d;          /* INT and REAL: the number as a double */
  const char *s;     /* STRING: decoded, NUL-terminated (it may hold a NUL: see n) */
  size_t n;          /* STRING: its bytes; ARRAY and OBJECT: their members (those past
                        max_members included, which fc_json_first and _next do not give) */
  const char *key;   /* a member of an object: its key, decoded; else NULL */
  size_t key_n;
  size_t off, len;   /* the value's text in the document: text[off, off + len) */
  int32_t first, next; /* the tree's links (fc_json_first, fc_json_next) */
} fc_json;

typedef struct fc_json_doc fc_json_doc;

/* What fc_json_parse may take: the deepest nesting (1: scalars and one container), the most
   values kept (each member, element and the root count one) and the most members kept of one
   array or object: the members past it are read (the text must be valid) but not kept, and
   the container's n still counts them, so that a reader refuses a count past its own limit
   by name without holding a value for each. */
typedef struct fc_json_limits {
  int max_depth;
  size_t max_values;
  size_t max_members;
} fc_json_limits;

enum { FC_JSON_OK = 0, FC_JSON_MALFORMED = -1, FC_JSON_TOO_MANY = -2, FC_JSON_NOMEM = -3 };
/* Parses text[0, n) (NUL bytes inside it are malformed) into *out. FC_JSON_OK, or one of the
   others with *out NULL and why saying what and where ("expected ':' at byte 12", "nesting
   deeper than 256 at byte 300", "more than 1000 values at byte 5000"). */
int fc_json_parse(const char *text, size_t n, const fc_json_limits *lim, fc_json_doc **out,
                  char *why, size_t wlen);
void fc_json_free(fc_json_doc *d); /* accepts NULL */
const fc_json *fc_json_root(const fc_json_doc *d);
/* The first member of v (an array or an object), the one after m; NULL past the end. */
const fc_json *fc_json_first(const fc_json_doc *d, const fc_json *v);
const fc_json *fc_json_next(const fc_json_doc *d, const fc_json *m);
/* The first member of object v named key; NULL when v is not an object or has none. */
const fc_json *fc_json_get(const fc_json_doc *d, const fc_json *v, const char *key);
/* v's text without the white space between tokens (its strings as written), malloc'd;
   NULL when out of memory. */
char *fc_json_compact(const fc_json_doc *d, const fc_json *v);
/* "a string", "an integer", "a number with a fraction", "an array", "an object", "null",
   "a boolean": v's type in a message; "missing" for NULL. */
const char *fc_json_what(const fc_json *v);

#endif
