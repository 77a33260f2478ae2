/* util: small pieces every module uses: error text, a growable string, hashing, timing.
   Internal to libfftconv and its tools. */
#ifndef FC_UTIL_H
#define FC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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
