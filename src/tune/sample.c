/* sample: the default plus a greedy cover of every parameter value. */
#include "sample.h"

#include <stdlib.h>
#include <string.h>

/* The distinct "key=value" texts seen so far; ids are indices. */
typedef struct values {
  char **v;
  int n, cap;
} values;

static int value_id(values *s, const char *text, size_t len) {
  for (int i = 0; i < s->n; i++)
    if (!strncmp(s->v[i], text, len) && s->v[i][len] == 0) return i;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    char **v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  char *t = malloc(len + 1);
  if (!t) return -1;
  memcpy(t, text, len);
  t[len] = 0;
  s->v[s->n] = t;
  return s->n++;
}

/* The end of the JSON string starting at s (on its opening quote): one past the closing quote,
   or NULL. */
static const char *skip_string(const char *s) {
  for (s++; *s && *s != '"'; s++)
    if (*s == '\\' && !*++s) return NULL;
  return *s ? s + 1 : NULL;
}

/* The end of the JSON value starting at s: a string, or anything up to the ',' or '}' that
   closes it at depth 0 (arrays and objects nest). NULL if the text ends first. */
static const char *skip_value(const char *s) {
  if (*s == '"') return skip_string(s);
  int depth = 0;
  for (; *s; s++) {
    if (*s == '"') {
      if (!(s = skip_string(s))) return NULL;
      s--;
    } else if (*s == '[' || *s == '{') {
      depth++;
    } else if (*s == ']' || *s == '}') {
      if (depth == 0) return s;
      depth--;
    } else if (*s == ',' && depth == 0) {
      return s;
    }
  }
  return depth == 0 ? s : NULL;
}

/* Appends the value ids of a flat JSON object's members ("key":value as one text) to ids
   (room for cap); returns how many, or -1 (not an object, or no memory: *oom says which). */
static int object_values(const char *json, values *s, int *ids, int cap, int *oom) {
  const char *p = json;
  int n = 0;
  if (*p++ != '{') return -1;
  if (*p == '}') return 0;
  for (;;) {
    const char *start = p;
    if (*p != '"' || !(p = skip_string(p)) || *p++ != ':') return -1;
    const char *v = p;
    if (!(p = skip_value(v)) || p == v) return -1;
    if (n == cap) return -1;
    int id = value_id(s, start, (size_t)(p - start));
    if (id < 0) return *oom = 1, -1;
    ids[n++] = id;
    if (*p == '}') return p[1] ? -1 : n;
    if (*p++ != ',') return -1;
  }
}

static int by_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

enum { MAX_KEYS = 64 };

fftconv_status fc_sample(const fc_candidate *c, int n, const char *dflt, int **pick, int *npick,
                         fc_err *e) {
  *pick = NULL;
  *npick = 0;
  values vs = {0};
  int *ids = calloc((size_t)n * MAX_KEYS + 1, sizeof *ids);
  int *nids = calloc((size_t)n + 1, sizeof *nids);
  int *out = calloc((size_t)n + 1, sizeof *out);
  char *chosen = calloc((size_t)n + 1, 1), *shown = NULL;
  fftconv_status st = FFTCONV_OK;
  int k = 0;
  if (!ids || !nids || !out || !chosen) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    if (c[i].reason) continue;
    int oom = 0;
    nids[i] = object_values(c[i].params, &vs, ids + (size_t)i * MAX_KEYS, MAX_KEYS, &oom);
    if (nids[i] < 0) {
      st = oom ? fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory")
               : fc_fail(e, FFTCONV_ERR_INVALID,
                         "sample: candidate %d is not a flat JSON object of at most %d keys: %.200s",
                         i, MAX_KEYS, c[i].params);
      goto done;
    }
  }
  if (!(shown = calloc((size_t)vs.n + 1, 1))) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  int first = -1;
  for (int i = 0; dflt && i < n && first < 0; i++)
    if (!c[i].reason && !strcmp(c[i].params, dflt)) first = i;
  for (int best = first;;) {
    if (best >= 0) {
      chosen[best] = 1;
      out[k++] = best;
      for (int j = 0; j < nids[best]; j++) shown[ids[(size_t)best * MAX_KEYS + j]] = 1;
    }
    int gain = 0;
    best = -1;
    for (int i = 0; i < n; i++) {
      if (c[i].reason || chosen[i]) continue;
      int g = 0;
      for (int j = 0; j < nids[i]; j++) g += !shown[ids[(size_t)i * MAX_KEYS + j]];
      if (g > gain) gain = g, best = i;
    }
    if (best < 0) break;
  }
  qsort(out, (size_t)k, sizeof *out, by_int);
done:
  for (int i = 0; i < vs.n; i++) free(vs.v[i]);
  free(vs.v);
  free(ids);
  free(nids);
  free(chosen);
  free(shown);
  if (st != FFTCONV_OK) {
    free(out);
    return st;
  }
  *pick = out;
  *npick = k;
  return FFTCONV_OK;
}

fftconv_status fc_sample_space(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                               const fc_device_info *d, fc_candidate **out, int *n, fc_err *e) {
  return fc_sample_space_op(m, tmpl, 0, p, d, out, n, e);
}

fftconv_status fc_sample_space_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                  const fc_device_info *d, fc_candidate **out, int *n,
                                  fc_err *e) {
  *out = NULL;
  *n = 0;
  fc_candidate *c = NULL;
  int nc = 0, valid = 0, *pick = NULL, npick = 0;
  char *dflt = NULL;
  fftconv_status st = fc_emit_space_op(m, tmpl, op, p, d, FC_RIGOR_EXHAUSTIVE, &c, &nc, e);
  if (st != FFTCONV_OK) return st;
  for (int i = 0; i < nc; i++) valid += !c[i].reason;
  /* No default: the family cannot run the problem, and then nothing in its space is valid
     either (an error with valid candidates is the template's bug, reported). */
  st = fc_emit_default_op(m, tmpl, op, p, d, &dflt, e);
  if (st != FFTCONV_OK && (st == FFTCONV_ERR_UNSUPPORTED || !valid)) st = FFTCONV_OK;
  if (st == FFTCONV_OK) st = fc_sample(c, nc, dflt, &pick, &npick, e);
  fc_candidate *s = NULL;
  if (st == FFTCONV_OK && !(s = calloc((size_t)npick + 1, sizeof *s)))
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  if (st == FFTCONV_OK) {
    for (int j = 0; j < npick; j++) { /* move the chosen ones' strings */
      s[j] = c[pick[j]];
      c[pick[j]].params = NULL;
    }
    *out = s;
    *n = npick;
  }
  free(pick);
  free(dflt);
  fc_candidates_free(c, nc);
  return st;
}
