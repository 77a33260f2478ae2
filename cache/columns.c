/* cache columns: every column of every table, once. A table's descriptors name each column,
 * its type and the field of the C row struct it maps to; they drive binding (named
 * parameters, :column), reading (by result column name, looked up once per statement) and the
 * column lists of the generated statements (inserts, upserts, the merge's copies). The
 * CREATE text of each schema version stays literal in schema.c: it is history. */
#include "cache_int.h"

#include "fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL(T, name, type, field, flags) {name, type, offsetof(T, field), 0, flags}
#define COLN(T, name, type, field, aux, flags) {name, type, offsetof(T, field), aux, flags}

static const cache_col device_cols[] = {
    COL(cache_device_row, "id", CT_INT64, id, CC_ID),
    COLN(cache_device_row, "model", CT_CHARS, d.name, sizeof ((cache_device_row *)0)->d.name,
         CC_KEY),
    COL(cache_device_row, "sms", CT_INT, d.sms, CC_KEY),
    COL(cache_device_row, "driver_version", CT_INT, d.driver_version, CC_KEY),
    COL(cache_device_row, "sm", CT_INT, d.sm, 0),
    COL(cache_device_row, "smem_optin", CT_INT, d.smem_optin, 0),
    COL(cache_device_row, "l2_bytes", CT_INT64, d.l2_bytes, 0),
    COL(cache_device_row, "total_mem", CT_INT64, d.total_mem, 0),
    COL(cache_device_row, "copy_gbps", CT_REAL, copy_gbps, 0),
    COL(cache_device_row, "created", CT_REAL, created, 0),
};

/* CC_OUTPUT: what a compilation produces; a row without a cubin takes another's. */
static const cache_col kernel_cols[] = {
    COL(fc_cache_kernel_row, "id", CT_INT64, id, CC_ID),
    COL(fc_cache_kernel_row, "template", CT_TEXT, k.tmpl, 0),
    COL(fc_cache_kernel_row, "revision", CT_INT, k.revision, 0),
    COL(fc_cache_kernel_row, "hash", CT_TEXT, k.hash, CC_KEY),
    COL(fc_cache_kernel_row, "params", CT_TEXT, k.params, CC_KEY),
    COL(fc_cache_kernel_row, "sm", CT_INT, k.sm, CC_KEY),
    COL(fc_cache_kernel_row, "nvrtc", CT_TEXT, k.nvrtc, CC_KEY),
    COL(fc_cache_kernel_row, "source", CT_TEXT, k.source, CC_NOLOOKUP),
    COL(fc_cache_kernel_row, "source_hash", CT_TEXT, k.source_hash, 0),
    COLN(fc_cache_kernel_row, "cubin", CT_BLOB, k.cubin,
         offsetof(fc_cache_kernel_row, k.cubin_size), CC_OUTPUT | CC_LAUNCH),
    COL(fc_cache_kernel_row, "ptx", CT_TEXT, k.ptx, CC_OUTPUT | CC_NOLOOKUP),
    COL(fc_cache_kernel_row, "log", CT_TEXT, k.log, CC_OUTPUT | CC_NOLOOKUP),
    COL(fc_cache_kernel_row, "binary_dropped", CT_REAL, binary_dropped, CC_OUTPUT),
    COL(fc_cache_kernel_row, "registers", CT_INT, k.registers, CC_OUTPUT),
    COL(fc_cache_kernel_row, "smem_static", CT_INT, k.smem_static, CC_OUTPUT),
    COL(fc_cache_kernel_row, "stack", CT_INT, k.stack, CC_OUTPUT),
    COL(fc_cache_kernel_row, "spill_stores", CT_INT, k.spill_stores, CC_OUTPUT),
    COL(fc_cache_kernel_row, "spill_loads", CT_INT, k.spill_loads, CC_OUTPUT),
    COL(fc_cache_kernel_row, "compile_seconds", CT_REAL, k.compile_seconds, CC_OUTPUT),
    COL(fc_cache_kernel_row, "manifest", CT_MANIFEST, k.manifest, CC_LAUNCH),
    COL(fc_cache_kernel_row, "created", CT_REAL, created, 0),
};

/* The problem shape stored beside a problem key, in measurements and winners alike: the key,
   the op, every field of the problem (fields.h's FC_PROBLEM_FIELDS, by its name and type;
   filter_len resolved) and the FFT size. */
#define CT_OF_FC_FIELD_INT64 CT_INT64
#define CT_OF_FC_FIELD_DTYPE CT_DTYPE
#define CT_OF_FC_FIELD_MODE CT_MODE
#define CT_OF_FC_FIELD_FLAG CT_INT
#define SHAPE_FIELD(name, type) {#name, CT_OF_##type, offsetof(SHAPE_T, sh.p.name), 0, 0},
#define SHAPE_COLS(T)                                                                        \
  COLN(T, "problem_key", CT_CHARS, sh.key, sizeof ((T *)0)->sh.key, CC_KEY),                 \
  COL(T, "op", CT_OP, sh.op, 0), FC_PROBLEM_FIELDS(SHAPE_FIELD)                              \
  COL(T, "fft_size", CT_INT64, sh.n, 0)

#define SHAPE_T cache_meas_row
static const cache_col measurement_cols[] = {
    COL(cache_meas_row, "id", CT_INT64, id, CC_ID),
    COL(cache_meas_row, "device", CT_INT64, device, CC_KEY),
    SHAPE_COLS(cache_meas_row),
    COL(cache_meas_row, "kernel", CT_INT64, kernel, CC_KEY),
    COL(cache_meas_row, "status", CT_TEXT, status, 0),
    COL(cache_meas_row, "message", CT_TEXT, message, 0),
    COL(cache_meas_row, "median_ms", CT_REAL, median_ms, 0),
    COL(cache_meas_row, "p10_ms", CT_REAL, p10_ms, 0),
    COL(cache_meas_row, "p90_ms", CT_REAL, p90_ms, 0),
    COL(cache_meas_row, "runs", CT_INT, runs, 0),
    COL(cache_meas_row, "rel_err", CT_REAL, rel_err, 0),
    COL(cache_meas_row, "rigor", CT_TEXT, rigor, 0),
    COL(cache_meas_row, "measured_at", CT_REAL, measured_at, 0),
};

#undef SHAPE_T
#define SHAPE_T cache_win_row
static const cache_col winner_cols[] = {
    COL(cache_win_row, "id", CT_INT64, id, CC_ID),
    COL(cache_win_row, "device", CT_INT64, device, CC_KEY),
    SHAPE_COLS(cache_win_row),
    COL(cache_win_row, "kernel", CT_INT64, kernel, 0),
    COL(cache_win_row, "median_ms", CT_REAL, median_ms, 0),
    COL(cache_win_row, "chosen_at", CT_REAL, chosen_at, CC_NOLOOKUP),
};

#undef SHAPE_T

#define TABLE(idx, name, cols) {idx, name, cols, (int)(sizeof cols / sizeof cols[0])}
const cache_table cache_devices = TABLE(0, "devices", device_cols);
const cache_table cache_kernels = TABLE(1, "kernels", kernel_cols);
const cache_table cache_measurements = TABLE(2, "measurements", measurement_cols);
const cache_table cache_winners = TABLE(3, "winners", winner_cols);

/* ---- statements from the tables ---- */

void cache_sql_cols(fc_str *b, const cache_table *t, const char *alias, int skip) {
  int first = 1;
  for (int i = 0; i < t->n; i++) {
    const cache_col *c = &t->col[i];
    if (c->flags & skip) continue;
    if (alias)
      fc_str_add(b, "%s%s.%s AS \"%s.%s\"", first ? "" : ", ", alias, c->name, alias, c->name);
    else
      fc_str_add(b, "%s%s", first ? "" : ", ", c->name);
    first = 0;
  }
}

/* lhs.name = rhs.name for every column with a flag of want (0: any) and none of skip, joined
   by sep. */
static void cache_sql_eq(fc_str *b, const cache_table *t, int want, int skip, const char *lhs,
                         const char *rhs, const char *sep) {
  int first = 1;
  for (int i = 0; i < t->n; i++) {
    int f = t->col[i].flags;
    if ((want && !(f & want)) || (f & skip)) continue;
    fc_str_add(b, "%s%s%s = %s%s", first ? "" : sep, lhs, t->col[i].name, rhs, t->col[i].name);
    first = 0;
  }
}

void cache_sql_insert(fc_str *b, const cache_table *t) {
  fc_str_add(b, "INSERT INTO %s (", t->name);
  cache_sql_cols(b, t, NULL, CC_ID);
  fc_str_add(b, ") VALUES (");
  int first = 1;
  for (int i = 0; i < t->n; i++) {
    if (t->col[i].flags & CC_ID) continue;
    fc_str_add(b, "%s:%s", first ? "" : ", ", t->col[i].name);
    first = 0;
  }
  fc_str_add(b, ") ON CONFLICT (");
  first = 1;
  for (int i = 0; i < t->n; i++) {
    if (!(t->col[i].flags & CC_KEY)) continue;
    fc_str_add(b, "%s%s", first ? "" : ", ", t->col[i].name);
    first = 0;
  }
  fc_str_add(b, ") ");
}

void cache_sql_set(fc_str *b, const cache_table *t, int want, int skip) {
  cache_sql_eq(b, t, want, skip, "", "excluded.", ", ");
}

void cache_sql_find(fc_str *b, const cache_table *t) {
  fc_str_add(b, "SELECT id FROM %s WHERE ", t->name);
  cache_sql_eq(b, t, CC_KEY, 0, "", ":", " AND ");
}

/* ---- binding and reading ---- */

#define FIELD(row, c, T) ((T *)((char *)(row) + (c)->off))
#define CFIELD(row, c, T) ((const T *)((const char *)(row) + (c)->off))

fftconv_status cache_bind_row(sqlite3_stmt *s, const cache_table *t, const void *row,
                              fc_err *e) {
  char name[64];
  for (int i = 0; i < t->n; i++) {
    const cache_col *c = &t->col[i];
    snprintf(name, sizeof name, ":%s", c->name);
    int k = sqlite3_bind_parameter_index(s, name);
    if (!k) continue;
    switch (c->type) {
    case CT_TEXT: cache_bind_text(s, k, *CFIELD(row, c, char *)); break;
    case CT_CHARS: cache_bind_text(s, k, CFIELD(row, c, char)); break;
    case CT_INT: sqlite3_bind_int(s, k, *CFIELD(row, c, int)); break;
    case CT_INT64: sqlite3_bind_int64(s, k, *CFIELD(row, c, int64_t)); break;
    case CT_REAL: cache_bind_real(s, k, *CFIELD(row, c, double)); break;
    case CT_BLOB: {
      const void *b = *CFIELD(row, c, void *);
      size_t n = *(const size_t *)((const char *)row + c->aux);
      if (b)
        sqlite3_bind_blob64(s, k, b, n, SQLITE_STATIC);
      else
        sqlite3_bind_null(s, k);
      break;
    }
    case CT_MANIFEST: {
      char *json = fc_manifest_json(CFIELD(row, c, fc_manifest));
      if (!json) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      sqlite3_bind_text(s, k, json, -1, free);
      break;
    }
    case CT_DTYPE: cache_bind_text(s, k, fftconv_dtype_name(*CFIELD(row, c, fftconv_dtype))); break;
    case CT_MODE: cache_bind_text(s, k, fftconv_mode_name(*CFIELD(row, c, fftconv_mode))); break;
    case CT_OP: { /* an op this process does not know (a merged row): the key says which */
      const cache_shape *sh =
          (const cache_shape *)(CFIELD(row, c, char) - offsetof(cache_shape, op));
      char opname[64];
      sqlite3_bind_text(s, k, sh->op >= 0 ? fc_op_name(sh->op)
                                          : fc_key_op_name(sh->key, opname, sizeof opname),
                        -1, SQLITE_TRANSIENT);
      break;
    }
    }
  }
  return FFTCONV_OK;
}

void cache_map_cols(sqlite3_stmt *s, const cache_table *t, const char *alias, short *map) {
  char want[96];
  int n = sqlite3_column_count(s);
  for (int i = 0; i < t->n; i++) {
    map[i] = -1;
    if (alias)
      snprintf(want, sizeof want, "%s.%s", alias, t->col[i].name);
    else
      snprintf(want, sizeof want, "%s", t->col[i].name);
    for (int j = 0; j < n; j++) {
      const char *got = sqlite3_column_name(s, j);
      if (got && !strcmp(got, want)) {
        map[i] = (short)j;
        break;
      }
    }
  }
}

const short *cache_map(fc_cache *c, int q, const cache_table *t, const char *alias) {
  short *map = c->map[q][t->index];
  if (!c->mapped[q][t->index]) {
    cache_map_cols(c->st[q], t, alias, map);
    c->mapped[q][t->index] = 1;
  }
  return map;
}

/* Parsing a manifest's JSON costs about as much as the rest of a cache hit, and a runtime
   looks the same few kernels up again and again: the last manifests read on this thread are
   kept with their text, and the same text gives a copy of the same parse. */
#define MANIFEST_MEMO 4
#define MANIFEST_MEMO_TEXT 2048
typedef struct manifest_memo {
  char text[MANIFEST_MEMO_TEXT]; /* "" when empty */
  fc_manifest m;
} manifest_memo;
static _Thread_local manifest_memo memo[MANIFEST_MEMO];
static _Thread_local int memo_next;

static fftconv_status manifest_read(const char *json, fc_manifest *m, fc_err *e) {
  size_t n = strlen(json);
  for (int i = 0; i < MANIFEST_MEMO; i++)
    if (memo[i].text[0] && !strcmp(memo[i].text, json)) {
      *m = memo[i].m;
      return FFTCONV_OK;
    }
  fftconv_status st = fc_manifest_parse(json, m, e);
  if (st == FFTCONV_OK && n < MANIFEST_MEMO_TEXT) {
    manifest_memo *slot = &memo[memo_next];
    memo_next = (memo_next + 1) % MANIFEST_MEMO;
    memcpy(slot->text, json, n + 1);
    slot->m = *m;
  }
  return st;
}

fftconv_status cache_read_row(sqlite3_stmt *s, const cache_table *t, const short *map, void *row,
                              fc_err *e) {
  for (int i = 0; i < t->n; i++) {
    const cache_col *c = &t->col[i];
    int j = map[i];
    if (j < 0) continue;
    int null = sqlite3_column_type(s, j) == SQLITE_NULL;
    switch (c->type) {
    case CT_TEXT: *FIELD(row, c, const char *) = cache_col_text(s, j); break;
    case CT_CHARS: cache_copy(FIELD(row, c, char), c->aux, cache_col_text(s, j)); break;
    case CT_INT: *FIELD(row, c, int) = sqlite3_column_int(s, j); break;
    case CT_INT64: *FIELD(row, c, int64_t) = sqlite3_column_int64(s, j); break;
    case CT_REAL: *FIELD(row, c, double) = cache_col_real(s, j); break;
    case CT_BLOB:
      *FIELD(row, c, const void *) = null ? NULL : sqlite3_column_blob(s, j);
      *(size_t *)((char *)row + c->aux) = null ? 0 : (size_t)sqlite3_column_bytes(s, j);
      if (!null && !*FIELD(row, c, const void *) && sqlite3_column_bytes(s, j) > 0)
        return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a cached kernel");
      break;
    case CT_MANIFEST: {
      fc_err me = {{0}};
      const char *json = cache_col_text(s, j);
      if (!json || manifest_read(json, FIELD(row, c, fc_manifest), &me) != FFTCONV_OK)
        return fc_fail(e, FFTCONV_ERR_IO, "a kernel's launch manifest cannot be read: %s",
                       json ? me.msg : "none stored");
      break;
    }
    case CT_DTYPE: {
      const char *v = cache_col_text(s, j);
      const fftconv_dtype all[] = {FFTCONV_FP32, FFTCONV_FP16, FFTCONV_BF16};
      for (size_t k = 0; v && k < sizeof all / sizeof all[0]; k++)
        if (!strcmp(v, fftconv_dtype_name(all[k]))) *FIELD(row, c, fftconv_dtype) = all[k];
      break;
    }
    case CT_MODE: {
      const char *v = cache_col_text(s, j);
      *FIELD(row, c, fftconv_mode) = v && !strcmp(v, "circular") ? FFTCONV_CIRCULAR
                                                                  : FFTCONV_CAUSAL;
      break;
    }
    case CT_OP: *FIELD(row, c, int) = fc_op_find(cache_col_text(s, j)); break;
    }
  }
  return FFTCONV_OK;
}

fftconv_status cache_row_own(const cache_table *t, void *row, fc_err *e) {
  int oom = 0;
  for (int i = 0; i < t->n; i++) {
    const cache_col *c = &t->col[i];
    if (c->type == CT_TEXT) {
      const char **f = FIELD(row, c, const char *);
      /* after a failure the rest still point into the statement: dropped, not copied, so
         that cache_row_free below frees only copies */
      if (*f && (oom || !(*f = strdup(*f)))) oom = 1, *f = NULL;
    } else if (c->type == CT_BLOB) {
      const void **f = FIELD(row, c, const void *);
      size_t n = *(size_t *)((char *)row + c->aux);
      if (*f) {
        void *b = oom ? NULL : malloc(n ? n : 1);
        if (b) memcpy(b, *f, n);
        else oom = 1;
        *f = b;
      }
    }
  }
  if (oom) {
    cache_row_free(t, row);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  return FFTCONV_OK;
}

void cache_row_free(const cache_table *t, void *row) {
  for (int i = 0; i < t->n; i++) {
    const cache_col *c = &t->col[i];
    if (c->type == CT_TEXT || c->type == CT_BLOB) {
      void **f = FIELD(row, c, void *);
      free(*f);
      *f = NULL;
    }
  }
}
