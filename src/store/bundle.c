/* bundle: a bundle of fatbins as a store (see bundle.h). */
#include "bundle.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_int.h"
#include "kernel.h"
#include "shape.h"

typedef struct bundle_module {
  char file[128];
  const void *data; /* the fatbin: owned (read from a file) or the image's */
  size_t size;
  int ncubins;
  char cubins[FC_BUNDLE_MAX_CUBINS][16];
  char ptx[16];     /* "" when none */
  char tmpl[FC_BUNDLE_MAX_TEMPLATE + 1];
  int revision;
  char hash[17];
  char *params;
  fc_manifest manifest;
  int runs;         /* a cubin or the PTX runs on the device (always 1 when sm was 0) */
} bundle_module;

typedef struct bundle_entry {
  char key[FC_BUNDLE_MAX_KEY + 1];
  fftconv_problem p;
  int module;
  char device[FC_BUNDLE_MAX_DEVICE + 1];
  int sm;
  double median_ms;
} bundle_entry;

struct fc_bundle {
  char where[4096];   /* the directory, or "compiled-in bundle" */
  char mpath[4200];   /* the manifest's path */
  char mname[4400];   /* the same for messages: control characters escaped */
  int owns_data;
  int64_t total;      /* the fatbins' bytes so far, against FC_BUNDLE_MAX_TOTAL */
  int nmod, nent;
  int cap_mod, cap_ent; /* the arrays' lengths: the manifest's counts, within the limits */
  bundle_module *mod;
  bundle_entry *ent;
  char desc[4800];
};

int fc_arch_runs_on(const char *arch, int sm) {
  if (!arch || sm <= 0) return 0;
  int ptx = strncmp(arch, "compute_", 8) == 0;
  char norm[16];
  int v = 0;
  if (!fc_arch_normalize(ptx ? arch + 8 : arch, norm, &v)) return 0;
  char suffix = norm[strlen(norm) - 1];
  if (suffix == 'a') return v == sm;                       /* arch-specific: that one only */
  if (ptx) return v <= sm;                                 /* the driver compiles it up */
  return v / 10 == sm / 10 && v % 10 <= sm % 10;           /* sm_80 runs on 86, not on 90 */
}

/* ---- reading (the files and the manifest's head: bundle_file.c) ---- */

static fftconv_status bad(fc_bundle *b, fc_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fftconv_status bad(fc_bundle *b, fc_err *e, const char *fmt, ...) {
  char what[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", b->mname, what);
}


static void hash_hex(const void *data, size_t n, char out[17]) {
  snprintf(out, 17, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, data, n));
}

/* What a JSON type (json_type's word; NULL: absent) is called in messages. */
static const char *jtype(const char *t) {
  static const char *const names[][2] = {
      {"text", "a string"},   {"integer", "an integer"}, {"real", "a number with a fraction"},
      {"array", "an array"},  {"object", "an object"},   {"null", "null"},
      {"true", "a boolean"}, {"false", "a boolean"}};
  for (size_t i = 0; t && i < sizeof names / sizeof *names; i++)
    if (!strcmp(t, names[i][0])) return names[i][1];
  return t ? "of an unknown type" : "missing";
}

/* One element of "modules" or "entries" as a statement row reads it: column 0 its index,
   1 its JSON type, then for field k its type (2 + 2k) and value (3 + 2k). Every refusal
   names the element and the field ("entries[3].device") and says what was expected. */
typedef struct jrow {
  fc_bundle *b;
  fc_err *e;
  sqlite3_stmt *s;
  const char *const *names; /* the fields, as in the statement */
  char where[40];           /* "modules[3]" */
} jrow;

static const char *ftype(const jrow *r, int k) { return fc_bundle_col_text(r->s, 2 + 2 * k); }

/* Field k as a string of min (0 or 1) to max bytes. */
static fftconv_status get_text(jrow *r, int k, size_t min, size_t max, const char **out) {
  const char *t = ftype(r, k), *name = r->names[k];
  char what[64];
  snprintf(what, sizeof what, "a string of %s%zu characters", min ? "1 to " : "at most ", max);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, name, what);
  if (strcmp(t, "text"))
    return bad(r->b, r->e, "%s.%s is %s, not %s", r->where, name, jtype(t), what);
  const char *v = (const char *)sqlite3_column_text(r->s, 3 + 2 * k);
  size_t n = (size_t)sqlite3_column_bytes(r->s, 3 + 2 * k);
  if (!v) return fc_fail(r->e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if (n < min) return bad(r->b, r->e, "%s.%s is empty (%s)", r->where, name, what);
  if (n > max)
    return bad(r->b, r->e, "%s.%s is %zu characters, at most %zu", r->where, name, n, max);
  /* a bundle's names and keys are printed later (plan descriptions, describe): a control
     character in one is refused here rather than escaped at every place it is shown */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return bad(r->b, r->e, "%s.%s holds a control character (\"%s\")", r->where, name, ESC(v));
  *out = v;
  return FFTCONV_OK;
}

/* Field k as an integer from lo to hi; hi_why, when given, says why hi is the most. */
static fftconv_status get_int(jrow *r, int k, int64_t lo, int64_t hi, const char *hi_why,
                              int64_t *v) {
  const char *t = ftype(r, k), *name = r->names[k];
  char what[80] = "an integer";
  if (lo != INT64_MIN || hi != INT64_MAX)
    snprintf(what, sizeof what, "an integer from %" PRId64 " to %" PRId64, lo, hi);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, name, what);
  if (strcmp(t, "integer"))
    return bad(r->b, r->e, "%s.%s is %s, not an integer", r->where, name, jtype(t));
  *v = sqlite3_column_int64(r->s, 3 + 2 * k);
  if (*v == INT64_MAX || *v == INT64_MIN) /* where SQLite saturates one that does not fit */
    return bad(r->b, r->e, "%s.%s is a number past 64 bits, not %s", r->where, name, what);
  if (*v > hi && hi_why)
    return bad(r->b, r->e, "%s.%s is %" PRId64 ", more than %s (%" PRId64 ")", r->where, name,
               *v, hi_why, hi);
  if (*v < lo || *v > hi)
    return bad(r->b, r->e, "%s.%s is %" PRId64 ", not from %" PRId64 " to %" PRId64, r->where,
               name, *v, lo, hi);
  return FFTCONV_OK;
}

/* Field k present and of JSON type want ("object", "array"). */
static fftconv_status get_typed(jrow *r, int k, const char *want) {
  const char *t = ftype(r, k);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, r->names[k], jtype(want));
  if (strcmp(t, want))
    return bad(r->b, r->e, "%s.%s is %s, not %s", r->where, r->names[k], jtype(t), jtype(want));
  return FFTCONV_OK;
}

/* SELECT key, type, then each field's json_type and json_extract (lazily: an element that is
   not an object has no fields), FROM json_each(?1, array). */
static fftconv_status prepare_rows(fc_bundle *b, sqlite3 *db, const char *array,
                                   const char *const *names, int n, sqlite3_stmt **s, fc_err *e) {
  fc_str q = {0};
  fc_str_add(&q, "SELECT key, type");
  for (int k = 0; k < n; k++)
    fc_str_add(&q, ", CASE WHEN type = 'object' THEN json_type(value,'$.%s') END,"
               " CASE WHEN type = 'object' THEN json_extract(value,'$.%s') END", names[k],
               names[k]);
  fc_str_add(&q, " FROM json_each(?1,'$.%s') ORDER BY key", array);
  if (q.oom) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  fftconv_status st = FFTCONV_OK;
  if (sqlite3_prepare_v2(db, q.s, -1, s, NULL) != SQLITE_OK)
    st = bad(b, e, "cannot read its %s: %s", array, sqlite3_errmsg(db));
  fc_str_free(&q);
  return st;
}

/* Whether every character of s is a lowercase hexadecimal digit. */
static int all_hex(const char *s) {
  for (; *s; s++)
    if (!strchr("0123456789abcdef", *s)) return 0;
  return 1;
}

/* A module's fatbin, of the bytes the manifest declares: from the image, or from the
   directory, where it must be a regular file (no link, FIFO or device) whose size is compared
   before a byte of it is read. */
static fftconv_status module_data(fc_bundle *b, const char *dir, const fftconv_bundle_image *img,
                                  bundle_module *m, int64_t bytes, fc_err *e) {
  if (b->total + bytes > FC_BUNDLE_MAX_TOTAL)
    return bad(b, e, "its fatbins come to more than a bundle may hold (%lld bytes, 2 GiB) by "
               "module %s: not read", FC_BUNDLE_MAX_TOTAL, m->file);
  b->total += bytes;
  if (img) {
    for (int i = 0; i < img->nfiles; i++) /* the names were checked by image_check */
      if (!strcmp(img->files[i].name, m->file)) {
        if ((int64_t)img->files[i].size != bytes)
          return bad(b, e, "module %s is %zu bytes, the manifest says %" PRId64 " (truncated or "
                     "replaced)", m->file, img->files[i].size, bytes);
        m->data = img->files[i].data;
        m->size = img->files[i].size;
        return FFTCONV_OK;
      }
    return bad(b, e, "module %s is missing: the compiled-in bundle has no file of that name",
               m->file);
  }
  char path[4400], why[256];
  snprintf(path, sizeof path, "%s/%s", dir, m->file);
  int64_t size = 0;
  int refused = 0;
  int fd = fc_bundle_open_regular(path, &size, &refused, why, sizeof why);
  if (fd < 0 && refused) return bad(b, e, "module %s %s", m->file, why);
  if (fd < 0)
    return bad(b, e, "module %s is missing or unreadable (%s: %s)", m->file,
               ESC(path), why);
  if (size != bytes) {
    close(fd);
    return bad(b, e, "module %s is %" PRId64 " bytes, the manifest says %" PRId64 " (truncated "
               "or replaced): not read", m->file, size, bytes);
  }
  char *data = NULL;
  int r = fc_bundle_read_exactly(fd, (size_t)bytes, &data, why, sizeof why);
  if (r == -2) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if (r < 0) return bad(b, e, "module %s %s", m->file, why);
  m->data = data;
  m->size = (size_t)bytes;
  return FFTCONV_OK;
}

/* Module i's "cubins" (an array of at most FC_BUNDLE_MAX_CUBINS strings sm_XY, counted before
   a string is read) into m. c: SELECT type, value FROM json_each(?1). */
static fftconv_status read_cubins(fc_bundle *b, sqlite3 *db, sqlite3_stmt *c, const char *arr,
                                  int i, bundle_module *m, fc_err *e) {
  sqlite3_stmt *n = NULL;
  int64_t count = -1;
  if (sqlite3_prepare_v2(db, "SELECT json_array_length(?1)", -1, &n, NULL) == SQLITE_OK &&
      (sqlite3_bind_text(n, 1, arr, -1, SQLITE_STATIC), sqlite3_step(n)) == SQLITE_ROW)
    count = sqlite3_column_int64(n, 0);
  sqlite3_finalize(n);
  if (count < 0) return bad(b, e, "cannot read modules[%d].cubins: %s", i, sqlite3_errmsg(db));
  if (count > FC_BUNDLE_MAX_CUBINS)
    return bad(b, e, "modules[%d].cubins names %" PRId64 " architectures, at most %d", i, count,
               FC_BUNDLE_MAX_CUBINS);
  sqlite3_reset(c);
  sqlite3_bind_text(c, 1, arr, -1, SQLITE_STATIC);
  fftconv_status st = FFTCONV_OK;
  int rc;
  for (int k = 0; st == FFTCONV_OK && (rc = sqlite3_step(c)) == SQLITE_ROW; k++) {
    const char *t = fc_bundle_col_text(c, 0), *one = fc_bundle_col_text(c, 1);
    char norm[16];
    int v;
    if (!t || strcmp(t, "text"))
      st = bad(b, e, "modules[%d].cubins[%d] is %s, not a string (sm_XY)", i, k, jtype(t));
    else if (strlen(one) >= 16 || strncmp(one, "sm_", 3) || !fc_arch_normalize(one, norm, &v))
      st = bad(b, e, "modules[%d].cubins[%d] is \"%s\", not an architecture (sm_XY)", i, k,
               ESC(one));
    else if (m->ncubins < FC_BUNDLE_MAX_CUBINS) /* counted above: always */
      snprintf(m->cubins[m->ncubins++], 16, "%s", norm);
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = bad(b, e, "cannot read modules[%d].cubins: %s", i, sqlite3_errmsg(db));
  sqlite3_reset(c);
  return st;
}

enum { MF_FILE, MF_BYTES, MF_FNV, MF_CUBINS, MF_PTX, MF_TEMPLATE, MF_REVISION, MF_HASH,
       MF_PARAMS, MF_LAUNCH, MF_N };
static const char *const mod_fields[MF_N] = {"file", "bytes", "fnv1a64", "cubins", "ptx",
                                              "template", "revision", "hash", "params",
                                              "launch"};

/* Module r's fields into m, each checked: its fatbin is not yet read. */
static fftconv_status module_fields(jrow *r, sqlite3 *db, sqlite3_stmt *cub, int i,
                                    bundle_module *m, int64_t *bytes, const char **fnv) {
  fc_bundle *b = r->b;
  fc_err *e = r->e;
  const char *type = fc_bundle_col_text(r->s, 1), *v = NULL;
  if (!type || strcmp(type, "object"))
    return bad(b, e, "%s is %s, not an object", r->where, jtype(type));
  fftconv_status st = get_text(r, MF_FILE, 1, sizeof m->file - 1, &v);
  if (st != FFTCONV_OK) return st;
  const char *why = fc_bundle_bad_file_name(v, strlen(v));
  if (why) return bad(b, e, "%s.file %s (\"%s\")", r->where, why, ESC(v));
  memcpy(m->file, v, strlen(v) + 1);
  if ((st = get_int(r, MF_BYTES, 1, FC_BUNDLE_MAX_FATBIN, "a fatbin may be", bytes)) != FFTCONV_OK)
    return st;
  if ((st = get_text(r, MF_FNV, 1, 64, fnv)) != FFTCONV_OK) return st;
  if (strlen(*fnv) != 16 || !all_hex(*fnv))
    return bad(b, e, "%s.fnv1a64 is \"%s\", not 16 lowercase hexadecimal digits (the FNV-1a "
               "64 hash of its fatbin)", r->where, ESC(*fnv));
  const char *pt = ftype(r, MF_PTX);
  if (pt && strcmp(pt, "null")) {
    char norm[16];
    int ver;
    if ((st = get_text(r, MF_PTX, 1, 15, &v)) != FFTCONV_OK) return st;
    if (strncmp(v, "compute_", 8) || !fc_arch_normalize(v + 8, norm, &ver))
      return bad(b, e, "%s.ptx is \"%s\", not an architecture (compute_XY) or null", r->where,
                 ESC(v));
    memcpy(m->ptx, v, strlen(v) + 1);
  }
  if ((st = get_text(r, MF_TEMPLATE, 1, sizeof m->tmpl - 1, &v)) != FFTCONV_OK) return st;
  memcpy(m->tmpl, v, strlen(v) + 1);
  int64_t rev = 0;
  if ((st = get_int(r, MF_REVISION, 0, INT_MAX, NULL, &rev)) != FFTCONV_OK) return st;
  m->revision = (int)rev;
  if ((st = get_text(r, MF_HASH, 1, sizeof m->hash - 1, &v)) != FFTCONV_OK) return st;
  memcpy(m->hash, v, strlen(v) + 1);
  if ((st = get_typed(r, MF_PARAMS, "object")) != FFTCONV_OK) return st;
  if (!(m->params = strdup((const char *)sqlite3_column_text(r->s, 3 + 2 * MF_PARAMS))))
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if ((st = get_typed(r, MF_CUBINS, "array")) != FFTCONV_OK) return st;
  if ((st = read_cubins(b, db, cub, (const char *)sqlite3_column_text(r->s, 3 + 2 * MF_CUBINS),
                        i, m, e)) != FFTCONV_OK)
    return st;
  if (!m->ncubins && !m->ptx[0]) return bad(b, e, "module %s holds neither a cubin nor PTX", m->file);
  if ((st = get_typed(r, MF_LAUNCH, "object")) != FFTCONV_OK) return st;
  fc_err me = {{0}};
  if (fc_manifest_parse((const char *)sqlite3_column_text(r->s, 3 + 2 * MF_LAUNCH), &m->manifest,
                        &me) != FFTCONV_OK)
    return bad(b, e, "module %s: its launch manifest is not valid: %s", m->file, ESC(me.msg));
  return FFTCONV_OK;
}

static fftconv_status read_modules(fc_bundle *b, sqlite3 *db, const char *json, const char *dir,
                                   const fftconv_bundle_image *img, fc_err *e) {
  sqlite3_stmt *s = NULL, *cub = NULL;
  fftconv_status st = prepare_rows(b, db, "modules", mod_fields, MF_N, &s, e);
  if (st == FFTCONV_OK &&
      sqlite3_prepare_v2(db, "SELECT type, value FROM json_each(?1) ORDER BY key", -1, &cub,
                         NULL) != SQLITE_OK)
    st = bad(b, e, "cannot read its modules: %s", sqlite3_errmsg(db));
  if (st == FFTCONV_OK) sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
  int rc = SQLITE_DONE;
  while (st == FFTCONV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (b->nmod == b->cap_mod) { /* json_each gave more than json_array_length counted */
      st = bad(b, e, "cannot read its modules: more than it counted");
      break;
    }
    int i = b->nmod++;
    bundle_module *m = &b->mod[i];
    jrow r = {b, e, s, mod_fields, {0}};
    snprintf(r.where, sizeof r.where, "modules[%d]", i);
    int64_t bytes = 0;
    const char *fnv = NULL;
    if ((st = module_fields(&r, db, cub, i, m, &bytes, &fnv)) != FFTCONV_OK) break;
    char want[17];
    snprintf(want, sizeof want, "%s", fnv); /* the row's text goes with the next step */
    if ((st = module_data(b, dir, img, m, bytes, e)) != FFTCONV_OK) break;
    char h[17];
    hash_hex(m->data, m->size, h);
    if (strcmp(h, want))
      st = bad(b, e, "module %s does not match its hash (FNV-1a %s, the manifest says %s): "
               "it was altered", m->file, h, want);
    m->runs = 1;
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = bad(b, e, "cannot read its modules: %s", sqlite3_errmsg(db));
  sqlite3_finalize(s);
  sqlite3_finalize(cub);
  return st;
}

/* b->mod and b->ent, zeroed, as long as the manifest's "modules" and "entries" arrays: their
   types and lengths are checked against the limits before anything is allocated. */
static fftconv_status bundle_arrays(fc_bundle *b, sqlite3 *db, const char *json, fc_err *e) {
  sqlite3_stmt *s = NULL;
  const char *q = "SELECT json_type(?1,'$.modules'), json_array_length(?1,'$.modules'),"
                  " json_type(?1,'$.entries'), json_array_length(?1,'$.entries')";
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
      (sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
    fftconv_status st = bad(b, e, "cannot be read: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return st;
  }
  const char *mt = fc_bundle_col_text(s, 0), *et = fc_bundle_col_text(s, 2);
  int64_t nm = sqlite3_column_int64(s, 1), ne = sqlite3_column_int64(s, 3);
  char mts[40], ets[40];
  snprintf(mts, sizeof mts, "%s", jtype(mt));
  snprintf(ets, sizeof ets, "%s", jtype(et));
  int marr = mt && !strcmp(mt, "array"), earr = et && !strcmp(et, "array");
  sqlite3_finalize(s);
  if (!marr || !earr)
    return bad(b, e, "has no \"modules\" and \"entries\" arrays (\"%s\" is %s)",
               marr ? "entries" : "modules", marr ? ets : mts);
  if (nm > FC_BUNDLE_MAX_MODULES)
    return bad(b, e, "has %" PRId64 " modules, more than a bundle may hold (%d): not read", nm,
               FC_BUNDLE_MAX_MODULES);
  if (ne > FC_BUNDLE_MAX_ENTRIES)
    return bad(b, e, "has %" PRId64 " entries, more than a bundle may hold (%d): not read", ne,
               FC_BUNDLE_MAX_ENTRIES);
  b->mod = calloc((size_t)(nm ? nm : 1), sizeof *b->mod);
  b->ent = calloc((size_t)(ne ? ne : 1), sizeof *b->ent);
  if (!b->mod || !b->ent) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  b->cap_mod = (int)nm;
  b->cap_ent = (int)ne;
  return FFTCONV_OK;
}

static int dtype_of(const char *s, fftconv_dtype *d) {
  for (int i = FFTCONV_FP32; i <= FFTCONV_BF16; i++)
    if (s && !strcmp(s, fftconv_dtype_name((fftconv_dtype)i))) {
      *d = (fftconv_dtype)i;
      return 1;
    }
  return 0;
}

enum { EF_PROBLEM, EF_MODULE, EF_SHAPE, EF_BATCH, EF_HEADS, EF_SEQLEN, EF_FILTER_LEN,
       EF_FREQ_KEEP, EF_DTYPE, EF_MODE, EF_PRE_GATE, EF_POST_GATE, EF_SKIP_D, EF_DEVICE, EF_SM,
       EF_MEDIAN, EF_N };
static const char *const ent_fields[EF_N] = {
    "problem",     "module",          "shape",          "shape.batch",     "shape.heads",
    "shape.seqlen", "shape.filter_len", "shape.freq_keep", "shape.dtype",     "shape.mode",
    "shape.pre_gate", "shape.post_gate", "shape.skip_d",  "device",          "sm",
    "median_ms"};

/* Entry r's fields into x, each checked. */
static fftconv_status entry_fields(jrow *r, bundle_entry *x) {
  fc_bundle *b = r->b;
  fc_err *e = r->e;
  const char *type = fc_bundle_col_text(r->s, 1), *v = NULL;
  if (!type || strcmp(type, "object"))
    return bad(b, e, "%s is %s, not an object", r->where, jtype(type));
  fftconv_status st = get_text(r, EF_PROBLEM, 1, sizeof x->key - 1, &v);
  if (st != FFTCONV_OK) return st;
  memcpy(x->key, v, strlen(v) + 1);
  int64_t mod = 0;
  if ((st = get_int(r, EF_MODULE, 0, INT_MAX, NULL, &mod)) != FFTCONV_OK) return st;
  if (mod >= b->nmod)
    return bad(b, e, "%s (%s) names module %" PRId64 ", and the bundle has %d", r->where,
               ESC(x->key), mod, b->nmod);
  x->module = (int)mod;
  if ((st = get_typed(r, EF_SHAPE, "object")) != FFTCONV_OK) return st;
  fftconv_problem *p = &x->p;
  fftconv_problem_init(p);
  int64_t *dims[] = {&p->batch, &p->heads, &p->seqlen, &p->filter_len, &p->freq_keep};
  for (int k = 0; k < 5; k++) /* their ranges are fftconv_problem_check's, below */
    if ((st = get_int(r, EF_BATCH + k, INT64_MIN, INT64_MAX, NULL, dims[k])) != FFTCONV_OK)
      return st;
  if ((st = get_text(r, EF_DTYPE, 1, 15, &v)) != FFTCONV_OK) return st;
  if (!dtype_of(v, &p->dtype))
    return bad(b, e, "%s.shape.dtype is \"%s\", not fp32, fp16 or bf16", r->where, ESC(v));
  if ((st = get_text(r, EF_MODE, 1, 15, &v)) != FFTCONV_OK) return st;
  if (strcmp(v, "causal") && strcmp(v, "circular"))
    return bad(b, e, "%s.shape.mode is \"%s\", not causal or circular", r->where, ESC(v));
  p->mode = strcmp(v, "causal") ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
  int64_t g[3];
  for (int k = 0; k < 3; k++)
    if ((st = get_int(r, EF_PRE_GATE + k, 0, 1, NULL, &g[k])) != FFTCONV_OK) return st;
  p->pre_gate = (int)g[0];
  p->post_gate = (int)g[1];
  p->skip_d = (int)g[2];
  if ((st = get_text(r, EF_DEVICE, 0, sizeof x->device - 1, &v)) != FFTCONV_OK) return st;
  memcpy(x->device, v, strlen(v) + 1);
  int64_t sm = 0;
  if ((st = get_int(r, EF_SM, 0, 9999, NULL, &sm)) != FFTCONV_OK) return st;
  x->sm = (int)sm;
  const char *mt = ftype(r, EF_MEDIAN);
  double ms = sqlite3_column_double(r->s, 3 + 2 * EF_MEDIAN);
  if (!mt)
    return bad(b, e, "%s has no \"median_ms\" (a time in milliseconds: a number, 0 or more)",
               r->where);
  if (strcmp(mt, "integer") && strcmp(mt, "real"))
    return bad(b, e, "%s.median_ms is %s, not a time in milliseconds (a number, 0 or more)",
               r->where, jtype(mt));
  if (!(ms >= 0 && ms <= 1e300))
    return bad(b, e, "%s.median_ms is %g, not a time in milliseconds (a number, 0 or more)",
               r->where, ms);
  x->median_ms = ms;
  char msg[512], key[256];
  if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
    return bad(b, e, "%s (%s): its shape is not a valid problem: %s", r->where, ESC(x->key), msg);
  fftconv_problem_key(p, key, sizeof key);
  if (strcmp(key, x->key))
    return bad(b, e, "%s: its key %s is not its shape's (%s)", r->where, ESC(x->key), key);
  return FFTCONV_OK;
}

static fftconv_status read_entries(fc_bundle *b, sqlite3 *db, const char *json, fc_err *e) {
  sqlite3_stmt *s = NULL;
  fftconv_status st = prepare_rows(b, db, "entries", ent_fields, EF_N, &s, e);
  if (st == FFTCONV_OK) sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
  int rc = SQLITE_DONE;
  while (st == FFTCONV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (b->nent == b->cap_ent) {
      st = bad(b, e, "cannot read its entries: more than it counted");
      break;
    }
    int i = b->nent++;
    jrow r = {b, e, s, ent_fields, {0}};
    snprintf(r.where, sizeof r.where, "entries[%d]", i);
    st = entry_fields(&r, &b->ent[i]);
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = bad(b, e, "cannot read its entries: %s", sqlite3_errmsg(db));
  sqlite3_finalize(s);
  return st;
}

/* The archs a bundle holds, for describe and the refusal: "cubins sm_80, sm_90; PTX
   compute_80". */
static void bundle_archs(const fc_bundle *b, fc_str *out) {
  char seen[32][16];
  int n = 0;
  for (int pass = 0; pass < 2; pass++) {
    int first = 1;
    for (int i = 0; i < b->nmod; i++)
      for (int k = 0; k < (pass ? 1 : b->mod[i].ncubins); k++) {
        const char *a = pass ? b->mod[i].ptx : b->mod[i].cubins[k];
        int dup = !a[0];
        for (int j = 0; j < n && !dup; j++) dup = !strcmp(seen[j], a);
        if (dup || n == 32) continue;
        snprintf(seen[n++], 16, "%s", a);
        fc_str_add(out, "%s%s%s", first ? (pass && out->len ? "; " : "") : ", ",
                   first ? (pass ? "PTX " : "cubins ") : "", a);
        first = 0;
      }
  }
  if (!out->len) fc_str_add(out, "nothing");
}

#define IMG "compiled-in bundle: its image "

/* A compiled-in image's own fields, before any of its memory is read past what they promise:
   its version, its manifest's pointer and size (no NUL inside the size it gives), its files'
   count, pointers, names and sizes. */
static fftconv_status image_check(const fftconv_bundle_image *img, fc_err *e) {
  if (img->version > FFTCONV_BUNDLE_IMAGE_VERSION)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "is of version %d, newer than this library reads (%d):"
                   " use a libfftconv as new as the fftconv-cache that wrote it", img->version,
                   FFTCONV_BUNDLE_IMAGE_VERSION);
  if (img->version < 1)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "is of version %d, which is no version (this library "
                   "reads %d): not a bundle image fftconv-cache wrote", img->version,
                   FFTCONV_BUNDLE_IMAGE_VERSION);
  if (!img->manifest)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has no manifest (its manifest is NULL)");
  if (img->manifest_size == 0)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has an empty manifest (manifest_size 0)");
  if (img->manifest_size > (size_t)FC_BUNDLE_MAX_MANIFEST)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has a manifest_size of %zu bytes, more than a "
                   "manifest may be (%lld bytes, 64 MiB)", img->manifest_size,
                   FC_BUNDLE_MAX_MANIFEST);
  const char *nul = memchr(img->manifest, 0, img->manifest_size);
  if (nul)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has a manifest_size of %zu bytes, and its manifest's "
                   "text ends at %zu: the two do not match", img->manifest_size,
                   (size_t)(nul - img->manifest));
  if (img->nfiles < 0 || img->nfiles > FC_BUNDLE_MAX_MODULES)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has nfiles %d, not from 0 to %d", img->nfiles,
                   FC_BUNDLE_MAX_MODULES);
  if (img->nfiles && !img->files)
    return fc_fail(e, FFTCONV_ERR_IO, IMG "has %d files and no array of them (files is NULL)",
                   img->nfiles);
  for (int i = 0; i < img->nfiles; i++) {
    const fftconv_bundle_file *f = &img->files[i];
    if (!f->name) return fc_fail(e, FFTCONV_ERR_IO, IMG "has files[%d] without a name (NULL)", i);
    size_t n = strnlen(f->name, 128);
    const char *why = n == 128 ? "is longer than 127 bytes" : fc_bundle_bad_file_name(f->name, n);
    if (why)
      return fc_fail(e, FFTCONV_ERR_IO, IMG "has files[%d] whose name %s (\"%s\")", i, why,
                     fc_bundle_esc((char[200]){0}, 200, f->name, 120));
    if (!f->data && f->size)
      return fc_fail(e, FFTCONV_ERR_IO, IMG "has files[%d] (%s) of %zu bytes without data "
                     "(NULL)", i, f->name, f->size);
    if (f->size > (size_t)FC_BUNDLE_MAX_FATBIN)
      return fc_fail(e, FFTCONV_ERR_IO, IMG "has files[%d] (%s) of %zu bytes, more than a "
                     "fatbin may be (%lld)", i, f->name, f->size, FC_BUNDLE_MAX_FATBIN);
  }
  return FFTCONV_OK;
}

fftconv_status fc_bundle_open(const char *path, const fftconv_bundle_image *img,
                              fc_bundle **out, fc_err *e) {
  *out = NULL;
  if (!!path == !!img)
    return fc_fail(e, FFTCONV_ERR_INVALID, "bundle: give a path or a compiled-in image, not %s",
                   path ? "both" : "neither");
  fc_bundle *b = calloc(1, sizeof *b);
  if (!b) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  char *json = NULL;
  size_t jn = 0;
  fftconv_status st = FFTCONV_OK;
  if (img) {
    snprintf(b->where, sizeof b->where, "compiled-in bundle");
    snprintf(b->mpath, sizeof b->mpath, "(compiled in) " FC_BUNDLE_MANIFEST);
    snprintf(b->mname, sizeof b->mname, "%s", b->mpath);
    if ((st = image_check(img, e)) != FFTCONV_OK) {
    } else if (!(json = malloc(img->manifest_size + 1))) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    } else {
      memcpy(json, img->manifest, img->manifest_size);
      json[jn = img->manifest_size] = 0;
    }
  } else {
    struct stat sb;
    if (!path[0] || strlen(path) >= sizeof b->where - 32) {
      st = path[0] ? fc_fail(e, FFTCONV_ERR_IO, "bundle %s: the path is too long", ESC(path))
                   : fc_fail(e, FFTCONV_ERR_IO, "bundle: no path given (an empty string)");
    } else if (stat(path, &sb) != 0) {
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", fc_bundle_esc(b->mname, sizeof b->mname, path, 4096),
                   strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      snprintf(b->where, sizeof b->where, "%s", path);
      snprintf(b->mpath, sizeof b->mpath, "%s/" FC_BUNDLE_MANIFEST, path);
    } else {
      const char *slash = strrchr(path, '/');
      snprintf(b->where, sizeof b->where, "%.*s", slash ? (int)(slash - path) : 1,
               slash ? path : ".");
      if (slash == path) snprintf(b->where, sizeof b->where, "/");
      snprintf(b->mpath, sizeof b->mpath, "%s", path);
    }
    if (st == FFTCONV_OK) {
      fc_bundle_esc(b->mname, sizeof b->mname, b->mpath, 4096);
      st = fc_bundle_read_manifest(b->mpath, b->mname, &json, &jn, e);
    }
    b->owns_data = 1;
  }
  sqlite3 *db = NULL;
  if (st == FFTCONV_OK && sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "bundle: cannot open an in-memory SQLite connection");
  int64_t version = 0;
  char hint[120] = ""; /* a manifest_size short of the text cuts it: say which number to check */
  if (img)
    snprintf(hint, sizeof hint, " (is the image's manifest_size, %zu, the length of its text?)",
             jn);
  if (st == FFTCONV_OK) st = fc_bundle_manifest_head(db, json, jn, b->mname, hint, &version, e);
  if (st == FFTCONV_OK && version > FC_BUNDLE_VERSION)
    st = bad(b, e, "has format version %" PRId64 ", newer than this library reads (%d): "
             "use a libfftconv as new as the fftconv-cache that exported it",
             version, FC_BUNDLE_VERSION);
  if (st == FFTCONV_OK) st = bundle_arrays(b, db, json, e);
  if (st == FFTCONV_OK) st = read_modules(b, db, json, b->where, img, e);
  if (st == FFTCONV_OK) st = read_entries(b, db, json, e);
  if (db) sqlite3_close(db);
  free(json);
  fc_str archs = {0};
  if (st == FFTCONV_OK) bundle_archs(b, &archs);
  if (st == FFTCONV_OK && b->nent == 0) st = bad(b, e, "has no entries (nothing was exported)");
  if (st == FFTCONV_OK)
    snprintf(b->desc, sizeof b->desc, "%s (%d kernel%s, %d entr%s; %s)", b->where, b->nmod,
             b->nmod == 1 ? "" : "s", b->nent, b->nent == 1 ? "y" : "ies",
             archs.s ? archs.s : "?");
  fc_str_free(&archs);
  if (st != FFTCONV_OK) {
    fc_bundle_close(b);
    return st;
  }
  *out = b;
  return FFTCONV_OK;
}

fftconv_status fc_bundle_set_device(fc_bundle *b, int sm, fc_err *e) {
  int runs = 0;
  for (int i = 0; i < b->nmod; i++) {
    bundle_module *m = &b->mod[i];
    m->runs = m->ptx[0] && fc_arch_runs_on(m->ptx, sm);
    for (int k = 0; k < m->ncubins && !m->runs; k++) m->runs = fc_arch_runs_on(m->cubins[k], sm);
    runs += m->runs;
  }
  if (runs) return FFTCONV_OK;
  fc_str archs = {0};
  bundle_archs(b, &archs);
  fftconv_status st = bad(b, e, "holds nothing this GPU can run: neither a cubin for sm_%d nor "
                          "PTX at or below it (it holds %s); export it again with --arch sm_%d",
                          sm, archs.s ? archs.s : "?", sm);
  fc_str_free(&archs);
  return st;
}

void fc_bundle_close(fc_bundle *b) {
  if (!b) return;
  for (int i = 0; i < b->nmod; i++) {
    if (b->owns_data) free((void *)b->mod[i].data);
    free(b->mod[i].params);
  }
  free(b->mod);
  free(b->ent);
  free(b);
}

const char *fc_bundle_describe(const fc_bundle *b) { return b ? b->desc : "none"; }
int fc_bundle_modules(const fc_bundle *b) { return b ? b->nmod : 0; }
int fc_bundle_entries(const fc_bundle *b) { return b ? b->nent : 0; }

const void *fc_bundle_module_data(const fc_bundle *b, int i, size_t *size) {
  if (!b || i < 0 || i >= b->nmod) return NULL;
  if (size) *size = b->mod[i].size;
  return b->mod[i].data;
}

/* ---- the store ---- */

/* How well entry x suits the device: its own model first, then its compute capability. */
static int suits(const bundle_entry *x, const fc_cache_config *cfg) {
  return 2 * !strcmp(x->device, cfg->dev->name) + (x->sm == cfg->dev->sm);
}

static fftconv_status bundle_lookup(void *impl, const fc_cache_config *cfg, const fc_shape *sh,
                                    const char *const *hashes, int nhashes, fc_cache_hit *hit,
                                    int *found, fc_err *e) {
  fc_bundle *b = impl;
  memset(hit, 0, sizeof *hit);
  *found = 0;
  int best = -1, bs = -1;
  for (int i = 0; i < b->nent; i++) { /* the problem's own entry */
    const bundle_entry *x = &b->ent[i];
    if (!b->mod[x->module].runs || strcmp(x->key, sh->key)) continue;
    int s = suits(x, cfg);
    if (s > bs || (s == bs && x->median_ms < b->ent[best].median_ms)) best = i, bs = s;
  }
  int exact = best >= 0;
  if (!exact) { /* the nearest shape, among the entries that suit the device best */
    fc_rank_candidate *c = malloc((size_t)(b->nent ? b->nent : 1) * sizeof *c);
    int *idx = malloc((size_t)(b->nent ? b->nent : 1) * sizeof *idx);
    if (!c || !idx) {
      free(c);
      free(idx);
      return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    }
    for (int level = 3; level >= 0 && best < 0; level--) {
      int n = 0;
      for (int i = 0; i < b->nent; i++) {
        const bundle_entry *x = &b->ent[i];
        if (!b->mod[x->module].runs || suits(x, cfg) != level) continue;
        c[n] = (fc_rank_candidate){x->p, x->median_ms, i};
        idx[n++] = i;
      }
      int r = fc_rank_nearest(&sh->p, c, n);
      if (r >= 0) best = idx[r];
    }
    free(c);
    free(idx);
  }
  if (best < 0) return FFTCONV_OK;
  const bundle_entry *x = &b->ent[best];
  const bundle_module *m = &b->mod[x->module];
  hit->kernel_id = -1 - x->module; /* the context's module list: negative ids are a bundle's */
  hit->exact = exact;
  snprintf(hit->problem_key, sizeof hit->problem_key, "%s", x->key);
  snprintf(hit->tmpl, sizeof hit->tmpl, "%s", m->tmpl);
  hit->revision = m->revision;
  snprintf(hit->hash, sizeof hit->hash, "%s", m->hash);
  hit->manifest = m->manifest;
  hit->median_ms = x->median_ms;
  hit->cubin = (void *)m->data;
  hit->cubin_size = m->size;
  hit->cubin_borrowed = 1;
  if (exact)
    snprintf(hit->rung, sizeof hit->rung, "bundle: tuned on %.120s, %.3f ms; %.120s", x->device,
             x->median_ms, m->file);
  else
    snprintf(hit->rung, sizeof hit->rung, "bundle: nearest, tuned for %.100s on %.80s; %.100s",
             x->key, x->device, m->file);
  if (!(hit->params = strdup(m->params))) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  *found = 1;
  return FFTCONV_OK;
}

static const char *bundle_store_describe(const void *impl) {
  return fc_bundle_describe(impl);
}

static void bundle_store_close(void *impl) { fc_bundle_close(impl); }

fc_store *fc_bundle_store(fc_bundle *b) {
  static const fc_store_ops ops = {bundle_lookup, bundle_store_describe, bundle_store_close};
  fc_store *s = fc_store_new(&ops, b);
  if (!s) fc_bundle_close(b);
  return s;
}
