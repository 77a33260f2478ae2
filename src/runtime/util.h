/* util: small pieces every module uses: error text, a growable string, hashing, timing.
   Internal to libfftconv and its tools. */
#ifndef FC_UTIL_H
#define FC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fftconv.h"

/* An error detail buffer. Modules write into one they are handed; callers read .msg. */
typedef struct fc_err {
  char msg[8192];
} fc_err;

/* Formats into e (if e) and returns s, so that `return fc_fail(e, FFTCONV_ERR_X, "...")`. */
fftconv_status fc_fail(fc_err *e, fftconv_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable NUL-terminated string. Zero-initialise ({0}) before use; free with fc_str_free.
   On allocation failure .oom is set and further appends are ignored. */
typedef struct fc_str {
  char *s;
  size_t len, cap;
  int oom;
} fc_str;

void fc_str_add(fc_str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fc_str_addv(fc_str *b, const char *fmt, va_list ap);
void fc_str_addn(fc_str *b, const char *s, size_t n);
void fc_str_free(fc_str *b);

/* Strictly a whole decimal integer from lo to hi: an optional '-' and digits, nothing else
   (no space, '+', "0x" or trailing text), so that no flag means a number it was not given.
   1 with *out set; else 0, *out untouched, and (msg not NULL) msg says "'TEXT' is not an
   integer from LO to HI" (">= LO" when hi is INT64_MAX), TEXT as fc_quote gives it. Both
   tools parse every integer flag and the problem files' values with it. */
int fc_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out, char *msg, size_t len);

/* Text from a user or a file, fit to be quoted in a message: printable ASCII as is, any
   other byte as \xNN, at most max bytes of s (then "..."), so that a message never carries
   control sequences or a megabyte of one word. Returns buf. */
const char *fc_quote(const char *s, size_t max, char *buf, size_t len);

/* Writes n bytes of s to f as text for a terminal: a control byte other than a line break or
   a tab (a terminal escape, a carriage return, DEL) as \xNN, every other byte as it is. For
   output that carries strings from a cache or a bundle, which another program may have
   written. */
void fc_write_escaped(FILE *f, const char *s, size_t n);

/* 64-bit FNV-1a, chainable: h = fc_hash64(h, data, n), starting from FC_HASH64_INIT. */
#define FC_HASH64_INIT 0xcbf29ce484222325ull
uint64_t fc_hash64(uint64_t h, const void *data, size_t n);

/* Monotonic wall-clock seconds. */
double fc_now(void);

/* IEEE half and bfloat16 conversions (round to nearest even), for host-side data. */
uint16_t fc_f32_to_f16(float f);
float fc_f16_to_f32(uint16_t h);
uint16_t fc_f32_to_bf16(float f);
float fc_bf16_to_f32(uint16_t h);

/* Deterministic random numbers (splitmix64 / xoshiro-style), uniform in [-1, 1). */
typedef struct fc_rng {
  uint64_t s;
} fc_rng;
double fc_rng_uniform(fc_rng *r);

#endif
