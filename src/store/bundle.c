/* bundle: a bundle of fatbins as a store (see bundle.h). */
#include "bundle.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_int.h"
#include "fields.h"
#include "json.h"
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
  fc_op op;         /* "op", "forward" when absent */
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

/* What a JSON type is called in messages ("an object"). */
static const char *jtype(fc_json_type t) {
  const fc_json v = {.type = t};
  return fc_json_what(&v);
}

/* One element of "modules" or "entries": every refusal names the element and the field
   ("entries[3].device") and says what was expected. */
typedef struct jrow {
  fc_bundle *b;
  fc_err *e;
  const fc_json_doc *d;
  const fc_json *obj;       /* the element, an object */
  const char *const *names; /* the fields; "shape.batch" is a member of a member */
  char where[40];           /* "modules[3]" */
} jrow;

/* Field k, or NULL when it is missing. */
static const fc_json *field(const jrow *r, int k) {
  const char *name = r->names[k], *dot = strchr(name, '.');
  if (!dot) return fc_json_get(r->d, r->obj, name);
  char outer[32];
  snprintf(outer, sizeof outer, "%.*s", (int)(dot - name), name);
  return fc_json_get(r->d, fc_json_get(r->d, r->obj, outer), dot + 1);
}

/* Field k as a string of min (0 or 1) to max bytes. */
static fftconv_status get_text(jrow *r, int k, size_t min, size_t max, const char **out) {
  const fc_json *t = field(r, k);
  const char *name = r->names[k];
  char what[64];
  snprintf(what, sizeof what, "a string of %s%zu characters", min ? "1 to " : "at most ", max);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, name, what);
  if (t->type != FC_JSON_STRING)
    return bad(r->b, r->e, "%s.%s is %s, not %s", r->where, name, fc_json_what(t), what);
  const char *v = t->s;
  size_t n = t->n;
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
  const fc_json *t = field(r, k);
  const char *name = r->names[k];
  char what[80] = "an integer";
  if (lo != INT64_MIN || hi != INT64_MAX)
    snprintf(what, sizeof what, "an integer from %" PRId64 " to %" PRId64, lo, hi);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, name, what);
  if (t->type != FC_JSON_INT)
    return bad(r->b, r->e, "%s.%s is %s, not an integer", r->where, name, fc_json_what(t));
  if (t->big)
    return bad(r->b, r->e, "%s.%s is a number past 64 bits, not %s", r->where, name, what);
  *v = t->i;
  if (*v > hi && hi_why)
    return bad(r->b, r->e, "%s.%s is %" PRId64 ", more than %s (%" PRId64 ")", r->where, name,
               *v, hi_why, hi);
  if (*v < lo || *v > hi)
    return bad(r->b, r->e, "%s.%s is %" PRId64 ", not from %" PRId64 " to %" PRId64, r->where,
               name, *v, lo, hi);
  return FFTCONV_OK;
}

/* Field k present and of JSON type want (an object, an array): *out. */
static fftconv_status get_typed(jrow *r, int k, fc_json_type want, const fc_json **out) {
  const fc_json *t = field(r, k);
  if (!t) return bad(r->b, r->e, "%s has no \"%s\" (%s)", r->where, r->names[k], jtype(want));
  if (t->type != want)
    return bad(r->b, r->e, "%s.%s is %s, not %s", r->where, r->names[k], fc_json_what(t),
               jtype(want));
  *out = t;
  return FFTCONV_OK;
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
   a string is read) into m. */
static fftconv_status read_cubins(fc_bundle *b, const fc_json_doc *d, const fc_json *arr, int i,
                                  bundle_module *m, fc_err *e) {
  if (arr->n > FC_BUNDLE_MAX_CUBINS)
    return bad(b, e, "modules[%d].cubins names %zu architectures, at most %d", i, arr->n,
               FC_BUNDLE_MAX_CUBINS);
  int k = 0;
  for (const fc_json *c = fc_json_first(d, arr); c; c = fc_json_next(d, c), k++) {
    char norm[16];
    int v;
    if (c->type != FC_JSON_STRING)
      return bad(b, e, "modules[%d].cubins[%d] is %s, not a string (sm_XY)", i, k,
                 fc_json_what(c));
    if (c->n >= 16 || strncmp(c->s, "sm_", 3) || !fc_arch_normalize(c->s, norm, &v))
      return bad(b, e, "modules[%d].cubins[%d] is \"%s\", not an architecture (sm_XY)", i, k,
                 ESC(c->s));
    if (m->ncubins < FC_BUNDLE_MAX_CUBINS) /* counted above: always */
      snprintf(m->cubins[m->ncubins++], 16, "%s", norm);
  }
  return FFTCONV_OK;
}

enum { MF_FILE, MF_BYTES, MF_FNV, MF_CUBINS, MF_PTX, MF_TEMPLATE, MF_REVISION, MF_HASH,
       MF_PARAMS, MF_LAUNCH, MF_N };
static const char *const mod_fields[MF_N] = {"file", "bytes", "fnv1a64", "cubins", "ptx",
                                              "template", "revision", "hash", "params",
                                              "launch"};

/* Module r's fields into m, each checked: its fatbin is not yet read. */
static fftconv_status module_fields(jrow *r, int i, bundle_module *m, int64_t *bytes,
                                    const char **fnv) {
  fc_bundle *b = r->b;
  fc_err *e = r->e;
  const char *v = NULL;
  const fc_json *o = NULL;
  if (r->obj->type != FC_JSON_OBJECT)
    return bad(b, e, "%s is %s, not an object", r->where, fc_json_what(r->obj));
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
  const fc_json *pt = field(r, MF_PTX);
  if (pt && pt->type != FC_JSON_NULL) {
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
  if ((st = get_typed(r, MF_PARAMS, FC_JSON_OBJECT, &o)) != FFTCONV_OK) return st;
  if (!(m->params = fc_json_compact(r->d, o)))
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if ((st = get_typed(r, MF_CUBINS, FC_JSON_ARRAY, &o)) != FFTCONV_OK) return st;
  if ((st = read_cubins(b, r->d, o, i, m, e)) != FFTCONV_OK) return st;
  if (!m->ncubins && !m->ptx[0]) return bad(b, e, "module %s holds neither a cubin nor PTX", m->file);
  if ((st = get_typed(r, MF_LAUNCH, FC_JSON_OBJECT, &o)) != FFTCONV_OK) return st;
  char *launch = fc_json_compact(r->d, o);
  if (!launch) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  fc_err me = {{0}};
  st = fc_manifest_parse(launch, &m->manifest, &me);
  free(launch);
  if (st != FFTCONV_OK)
    return bad(b, e, "module %s: its launch manifest is not valid: %s", m->file, ESC(me.msg));
  return FFTCONV_OK;
}

static fftconv_status read_modules(fc_bundle *b, const fc_json_doc *d, const fc_json *arr,
                                   const char *dir, const fftconv_bundle_image *img, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  for (const fc_json *el = fc_json_first(d, arr); el && st == FFTCONV_OK; el = fc_json_next(d, el)) {
    int i = b->nmod++;
    bundle_module *m = &b->mod[i];
    jrow r = {b, e, d, el, mod_fields, {0}};
    snprintf(r.where, sizeof r.where, "modules[%d]", i);
    int64_t bytes = 0;
    const char *fnv = NULL;
    if ((st = module_fields(&r, i, m, &bytes, &fnv)) != FFTCONV_OK) break;
    if ((st = module_data(b, dir, img, m, bytes, e)) != FFTCONV_OK) break;
    char h[17];
    hash_hex(m->data, m->size, h);
    if (strcmp(h, fnv))
      st = bad(b, e, "module %s does not match its hash (FNV-1a %s, the manifest says %s): "
               "it was altered", m->file, h, fnv);
    m->runs = 1;
  }
  return st;
}

/* b->mod and b->ent, zeroed, as long as the manifest's "modules" and "entries" arrays: their
   types and lengths are checked against the limits before anything is allocated. */
static fftconv_status bundle_arrays(fc_bundle *b, const fc_json_doc *d, const fc_json **mods,
                                    const fc_json **ents, fc_err *e) {
  const fc_json *root = fc_json_root(d);
  const fc_json *ma = fc_json_get(d, root, "modules"), *ea = fc_json_get(d, root, "entries");
  int marr = ma && ma->type == FC_JSON_ARRAY, earr = ea && ea->type == FC_JSON_ARRAY;
  if (!marr || !earr)
    return bad(b, e, "has no \"modules\" and \"entries\" arrays (\"%s\" is %s)",
               marr ? "entries" : "modules", fc_json_what(marr ? ea : ma));
  if (ma->n > FC_BUNDLE_MAX_MODULES)
    return bad(b, e, "has %zu modules, more than a bundle may hold (%d): not read", ma->n,
               FC_BUNDLE_MAX_MODULES);
  if (ea->n > FC_BUNDLE_MAX_ENTRIES)
    return bad(b, e, "has %zu entries, more than a bundle may hold (%d): not read", ea->n,
               FC_BUNDLE_MAX_ENTRIES);
  b->mod = calloc(ma->n ? ma->n : 1, sizeof *b->mod);
  b->ent = calloc(ea->n ? ea->n : 1, sizeof *b->ent);
  if (!b->mod || !b->ent) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  *mods = ma;
  *ents = ea;
  return FFTCONV_OK;
}

enum { EF_PROBLEM, EF_MODULE, EF_SHAPE, EF_OP, EF_DEVICE, EF_SM, EF_MEDIAN, EF_N };
static const char *const ent_fields[EF_N] = {"problem", "module", "shape",    "op",
                                             "device",  "sm",     "median_ms"};

/* Problem field k of the shape row r (names "shape.<json name>") into p: an integer (its range
   is fftconv_problem_check's, the caller's), a switch 0 or 1, or an enum's name. A field
   added after the first key (key_when_set) may be absent: an older bundle's entry, whose
   problem had init's default there. */
static fftconv_status shape_field(jrow *r, int k, fftconv_problem *p) {
  const fc_field *f = &fc_fields[k];
  int64_t v = 0;
  fftconv_status st;
  if (f->key_when_set && !field(r, k)) return FFTCONV_OK; /* a field newer than the bundle */
  if (f->type == FC_FIELD_INT64) {
    st = get_int(r, k, INT64_MIN, INT64_MAX, NULL, &v);
  } else if (f->type == FC_FIELD_FLAG) {
    st = get_int(r, k, 0, 1, NULL, &v);
  } else {
    const char *t = NULL;
    if ((st = get_text(r, k, 1, 15, &t)) != FFTCONV_OK) return st;
    if (!fc_field_enum_find(f, t, &v)) {
      char list[64], words[80]; /* "fp32, fp16, bf16" as "fp32, fp16 or bf16" */
      fc_field_enum_list(f, list, sizeof list);
      const char *last = strrchr(list, ',');
      snprintf(words, sizeof words, "%.*s%s%s", last ? (int)(last - list) : (int)strlen(list),
               list, last ? " or" : "", last ? last + 1 : "");
      return bad(r->b, r->e, "%s.%s is \"%s\", not %s", r->where, r->names[k], ESC(t), words);
    }
  }
  if (st == FFTCONV_OK) fc_field_set(p, f, v);
  return st;
}

/* The problem of entry r: its "shape" (every field of the problem) into p, each field
   checked for presence and type; the ranges are fftconv_problem_check's (the caller's). */
static fftconv_status entry_problem(jrow *r, fftconv_problem *p) {
  const fc_json *o = NULL;
  fftconv_status st = get_typed(r, EF_SHAPE, FC_JSON_OBJECT, &o);
  if (st != FFTCONV_OK) return st;
  fftconv_problem_init(p);
  char buf[FC_NFIELDS][48];
  const char *names[FC_NFIELDS];
  for (int k = 0; k < FC_NFIELDS; k++) {
    snprintf(buf[k], sizeof buf[k], "shape.%s", fc_fields[k].json);
    names[k] = buf[k];
  }
  jrow s = *r; /* the same entry, its fields named by the field table */
  s.names = names;
  for (int k = 0; k < FC_NFIELDS && st == FFTCONV_OK; k++) st = shape_field(&s, k, p);
  return st;
}

/* Entry r's "op": optional, "forward" when absent. */
static fftconv_status entry_op(jrow *r, fc_op *op) {
  const char *v = NULL;
  *op = FC_OP_FORWARD;
  if (!field(r, EF_OP)) return FFTCONV_OK;
  fftconv_status st = get_text(r, EF_OP, 1, 31, &v);
  if (st != FFTCONV_OK) return st;
  int found = fc_op_find(v);
  if (found >= 0) {
    *op = (fc_op)found;
    return FFTCONV_OK;
  }
  fc_str known = {0};
  for (int k = 0; k < fc_op_count(); k++) fc_str_add(&known, "%s%s", k ? ", " : "", fc_op_name((fc_op)k));
  st = bad(r->b, r->e, "%s.op is \"%s\", not an op this library knows (%s)", r->where, ESC(v),
           known.s ? known.s : "?");
  fc_str_free(&known);
  return st;
}

/* Entry r's fields into x, each checked. */
static fftconv_status entry_fields(jrow *r, bundle_entry *x) {
  fc_bundle *b = r->b;
  fc_err *e = r->e;
  const char *v = NULL;
  if (r->obj->type != FC_JSON_OBJECT)
    return bad(b, e, "%s is %s, not an object", r->where, fc_json_what(r->obj));
  fftconv_status st = get_text(r, EF_PROBLEM, 1, sizeof x->key - 1, &v);
  if (st != FFTCONV_OK) return st;
  memcpy(x->key, v, strlen(v) + 1);
  int64_t mod = 0;
  if ((st = get_int(r, EF_MODULE, 0, INT_MAX, NULL, &mod)) != FFTCONV_OK) return st;
  if (mod >= b->nmod)
    return bad(b, e, "%s (%s) names module %" PRId64 ", and the bundle has %d", r->where,
               ESC(x->key), mod, b->nmod);
  x->module = (int)mod;
  fftconv_problem *p = &x->p;
  if ((st = entry_problem(r, p)) != FFTCONV_OK) return st;
  if ((st = entry_op(r, &x->op)) != FFTCONV_OK) return st;
  if ((st = get_text(r, EF_DEVICE, 0, sizeof x->device - 1, &v)) != FFTCONV_OK) return st;
  memcpy(x->device, v, strlen(v) + 1);
  int64_t sm = 0;
  if ((st = get_int(r, EF_SM, 0, 9999, NULL, &sm)) != FFTCONV_OK) return st;
  x->sm = (int)sm;
  const fc_json *mt = field(r, EF_MEDIAN);
  if (!mt)
    return bad(b, e, "%s has no \"median_ms\" (a time in milliseconds: a number, 0 or more)",
               r->where);
  if (mt->type != FC_JSON_INT && mt->type != FC_JSON_REAL)
    return bad(b, e, "%s.median_ms is %s, not a time in milliseconds (a number, 0 or more)",
               r->where, fc_json_what(mt));
  double ms = mt->d;
  if (!(ms >= 0 && ms <= 1e300))
    return bad(b, e, "%s.median_ms is %g, not a time in milliseconds (a number, 0 or more)",
               r->where, ms);
  x->median_ms = ms;
  char msg[512];
  if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
    return bad(b, e, "%s (%s): its shape is not a valid problem: %s", r->where, ESC(x->key), msg);
  fc_shape sh;
  fc_shape_resolve(p, x->op, &sh, NULL); /* checked above: it resolves */
  if (strcmp(sh.key, x->key))
    return bad(b, e, "%s: its key %s is not its shape's (%s)", r->where, ESC(x->key), sh.key);
  return FFTCONV_OK;
}

static fftconv_status read_entries(fc_bundle *b, const fc_json_doc *d, const fc_json *arr,
                                   fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  for (const fc_json *el = fc_json_first(d, arr); el && st == FFTCONV_OK; el = fc_json_next(d, el)) {
    int i = b->nent++;
    jrow r = {b, e, d, el, ent_fields, {0}};
    snprintf(r.where, sizeof r.where, "entries[%d]", i);
    st = entry_fields(&r, &b->ent[i]);
  }
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
  int64_t version = 0;
  char hint[120] = ""; /* a manifest_size short of the text cuts it: say which number to check */
  if (img)
    snprintf(hint, sizeof hint, " (is the image's manifest_size, %zu, the length of its text?)",
             jn);
  fc_json_doc *doc = NULL;
  const fc_json *mods = NULL, *ents = NULL;
  if (st == FFTCONV_OK) st = fc_bundle_manifest_head(json, jn, b->mname, hint, &doc, &version, e);
  if (st == FFTCONV_OK && version > FC_BUNDLE_VERSION)
    st = bad(b, e, "has format version %" PRId64 ", newer than this library reads (%d): "
             "use a libfftconv as new as the fftconv-cache that exported it",
             version, FC_BUNDLE_VERSION);
  if (st == FFTCONV_OK) st = bundle_arrays(b, doc, &mods, &ents, e);
  if (st == FFTCONV_OK) st = read_modules(b, doc, mods, b->where, img, e);
  if (st == FFTCONV_OK) st = read_entries(b, doc, ents, e);
  fc_json_free(doc);
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
static int suits(const bundle_entry *x, const fc_store_config *cfg) {
  return 2 * !strcmp(x->device, cfg->dev->name) + (x->sm == cfg->dev->sm);
}

static fftconv_status bundle_lookup(void *impl, const fc_store_config *cfg, const fc_shape *sh,
                                    const char *const *hashes, int nhashes, fc_store_hit *hit,
                                    int *found, fc_err *e) {
  fc_bundle *b = impl;
  memset(hit, 0, sizeof *hit);
  *found = 0;
  int best = -1, bs = -1;
  for (int i = 0; i < b->nent; i++) { /* the problem's own entry */
    const bundle_entry *x = &b->ent[i];
    if (!b->mod[x->module].runs || x->op != sh->op || strcmp(x->key, sh->key)) continue;
    int s = suits(x, cfg);
    if (s > bs || (s == bs && x->median_ms < b->ent[best].median_ms)) best = i, bs = s;
  }
  int exact = best >= 0;
  if (!exact) { /* the nearest shape, among the entries that suit the device best and whose
                   kernel fits the shape's bounds (cache/lookup.c, cache_near) */
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
        fc_err be = {{0}};
        if (!b->mod[x->module].runs || x->op != sh->op || suits(x, cfg) != level ||
            !fc_manifest_within_bounds(&b->mod[x->module].manifest, sh->op, sh, &be))
          continue;
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

static fftconv_status bundle_store_device(void *impl, int sm, fc_err *e) {
  return fc_bundle_set_device(impl, sm, e);
}

fc_store *fc_bundle_store(fc_bundle *b) {
  static const fc_store_ops ops = {bundle_lookup, bundle_store_describe, bundle_store_close,
                                   bundle_store_device};
  fc_store *s = fc_store_new(&ops, b);
  if (!s) fc_bundle_close(b);
  return s;
}

fftconv_status fc_bundle_open_store(const char *path, const fftconv_bundle_image *img,
                                    fc_store **out, fc_err *e) {
  fc_bundle *b = NULL;
  *out = NULL;
  fftconv_status st = fc_bundle_open(path, img, &b, e);
  if (st != FFTCONV_OK) return st;
  if (!(*out = fc_bundle_store(b))) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  return FFTCONV_OK;
}
