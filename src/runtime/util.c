/* util: error text, growable strings, hashing, time, half/bfloat16 conversion, random. */
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

fftconv_status fc_fail(fc_err *e, fftconv_status s, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return s;
}

int fc_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out, char *msg, size_t len) {
  int ok = s != NULL, neg = s && *s == '-';
  int64_t v = 0;
  const char *p = s ? s + neg : "";
  if (!*p) ok = 0;
  /* Accumulated negatively: INT64_MIN has no positive counterpart. */
  for (; ok && *p; p++)
    if (*p < '0' || *p > '9' || __builtin_mul_overflow(v, 10, &v) ||
        __builtin_sub_overflow(v, *p - '0', &v))
      ok = 0;
  if (ok && !neg && v == INT64_MIN) ok = 0;
  if (ok && !neg) v = -v;
  if (ok && (v < lo || v > hi)) ok = 0;
  if (ok) {
    *out = v;
    return 1;
  }
  if (msg && len) {
    char q[160];
    fc_quote(s ? s : "", 100, q, sizeof q);
    if (hi == INT64_MAX)
      snprintf(msg, len, "'%s' is not an integer >= %" PRId64, q, lo);
    else
      snprintf(msg, len, "'%s' is not an integer from %" PRId64 " to %" PRId64, q, lo, hi);
  }
  return 0;
}

const char *fc_quote(const char *s, size_t max, char *buf, size_t len) {
  size_t n = 0, i = 0;
  if (!len) return buf;
  for (; s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    if (n + 8 >= len) break; /* room for \xNN, "..." and the NUL */
    if (c >= 0x20 && c < 0x7f) buf[n++] = (char)c;
    else n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
  }
  if (s[i] && n + 4 <= len) memcpy(buf + n, "...", 3), n += 3;
  buf[n] = 0;
  return buf;
}

void fc_write_escaped(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      fprintf(f, "\\x%02x", c);
    else
      fputc(c, f);
  }
}

static int str_reserve(fc_str *b, size_t extra) {
  if (b->oom) return 0;
  if (b->len + extra + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->oom = 1;
    return 0;
  }
  b->s = s;
  b->cap = cap;
  return 1;
}

void fc_str_addv(fc_str *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || !str_reserve(b, (size_t)n)) return;
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void fc_str_add(fc_str *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fc_str_addv(b, fmt, ap);
  va_end(ap);
}

void fc_str_addn(fc_str *b, const char *s, size_t n) {
  if (!str_reserve(b, n)) return;
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

void fc_str_free(fc_str *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

uint64_t fc_hash64(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

double fc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t fc_f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
  if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0)); /* inf, NaN */
  int e = (int)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
  if (e <= 0) {                                    /* subnormal or zero */
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000u;
    int shift = 14 - e;
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* may carry into inf: correct */
  return (uint16_t)(sign | h);
}

float fc_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) return (sign ? -1.0f : 1.0f) * ldexpf((float)man, -24);
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
  return bits_f32(sign | ((exp - 15 + 127) << 23) | (man << 13));
}

uint16_t fc_f32_to_bf16(float f) {
  uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* NaN */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

float fc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

double fc_rng_uniform(fc_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-52 - 1.0;
}
