/* cache_int: what the parts of the cache share. The cache is split by job: history.c (the
 * schema of every version), schema.c (open, create, migrate), store.c (the tuner's writes),
 * lookup.c (the runtime's lookup), admin.c (read back, list, slim, prune, merge, compact),
 * columns.c (every table's columns, once) and db.c (the SQLite plumbing they all use).
 * Private to cache/.
 *
 * Shape of every write (after fossil's cache.c): BEGIN IMMEDIATE, so the write lock is taken
 * up front and a busy writer waits in the busy handler instead of failing half-way; then one
 * `done:` label that commits when everything went well and rolls back otherwise. Statements
 * are prepared once per fc_cache (cache_stmt) and reset after every use, so an idle fc_cache
 * holds no read snapshot and lookup costs no SQL parsing. Nothing here prints or exits: the
 * caller decides what a cache error means (for the runtime, a miss). */
#ifndef FC_CACHE_INT_H
#define FC_CACHE_INT_H

#include <sqlite3.h>

#include "cache.h"

#define CACHE_VERSION 5
#define CACHE_BUSY_MS 10000

/* The device of the running configuration, as a join condition on d. */
#define CACHE_DEV "d.model = :model AND d.sms = :sms AND d.driver_version = :driver"
/* Trusted kernel k: :hashes is ",h1,h2,...," (hashes are hex, never hold a comma). */
/* A NULL :nvrtc (a runtime without NVRTC, which compiles nothing) trusts every version. */
#define CACHE_TRUST "instr(:hashes, ',' || k.hash || ',') > 0 AND (:nvrtc IS NULL OR k.nvrtc = :nvrtc)"
enum {
  Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK,
  Q_KERNEL_PUT, Q_KERNEL_ID, Q_KERNEL_GET,
  Q_DEVICE_PUT, Q_DEVICE_ID, Q_BANDWIDTH_PUT, Q_BANDWIDTH_GET,
  Q_MEAS_PUT, Q_MEASURED,
  Q_BEST, Q_WINNER_PUT, Q_WINNER_DEL,
  Q_HIT_EXACT, Q_HIT_ID, Q_NEAR,
  Q_LIST_WINNERS, Q_LIST_ALL,
  Q_PRUNE_COUNT, Q_PRUNE_LOST, Q_PRUNE_DEL_KERNELS, Q_PRUNE_DEL_DEVICES,
  Q_SLIM_COUNT, Q_SLIM_BINARIES, Q_SLIM_SOURCES,
  Q_MERGE_MEAS_AT,
  CACHE_NSTMT
};


/* Each part's statements, indexed by the enum above (NULL where another part owns it): the
   text, or a function that builds it from the column tables (columns.c). */
typedef void (*cache_gen_fn)(fc_str *sql);
extern const char *const cache_db_sql[CACHE_NSTMT], *const cache_store_sql[CACHE_NSTMT],
    *const cache_lookup_sql[CACHE_NSTMT], *const cache_admin_sql[CACHE_NSTMT];
extern const cache_gen_fn cache_store_gen[CACHE_NSTMT], cache_lookup_gen[CACHE_NSTMT],
    cache_admin_gen[CACHE_NSTMT];

/* ---- columns.c: the tables' columns ---- */

typedef enum cache_ctype {
  CT_TEXT,     /* const char *: bound as is; read, points into the statement's row */
  CT_CHARS,    /* char[aux] */
  CT_INT,      /* int */
  CT_INT64,    /* int64_t */
  CT_REAL,     /* double; NaN and infinities are stored as NULL, NULL reads as NaN */
  CT_BLOB,     /* const void *, with its size_t at offset aux */
  CT_MANIFEST, /* fc_manifest, stored as its JSON text */
  CT_DTYPE,    /* fftconv_dtype, stored by name */
  CT_MODE,     /* fftconv_mode, stored by name */
  CT_OP,       /* cache_shape.op only: stored by name; a name this process does not know
                  reads -1 and is written back as its key's prefix */
} cache_ctype;

enum {
  CC_ID = 1,     /* the row id: never inserted */
  CC_KEY = 2,    /* part of the table's UNIQUE key: what an upsert conflicts on */
  CC_OUTPUT = 4, /* kernels: an output of compilation (a row without a cubin takes another's) */
  CC_NOLOOKUP = 8, /* not read by lookup: large (source, PTX, log) or bookkeeping */
  CC_LAUNCH = 16   /* kernels: what launching needs (cubin, manifest); list skips it */
};

typedef struct cache_col {
  const char *name;
  cache_ctype type;
  size_t off; /* of the field in the table's row struct */
  size_t aux; /* CT_CHARS: the array's size; CT_BLOB: the offset of its size */
  int flags;
} cache_col;

#define CACHE_NTABLES 4
#define CACHE_MAXCOLS 32
typedef struct cache_table {
  int index; /* 0 .. CACHE_NTABLES - 1 */
  const char *name;
  const cache_col *col;
  int n;
} cache_table;

/* The problem's key and the shape stored beside it (filter_len resolved: never 0). */
typedef struct cache_shape {
  char key[256];
  int op;    /* fc_op (shape.h) */
  fftconv_problem p;
  int64_t n; /* FFT size */
} cache_shape;

/* The row structs of the tables (kernels: fc_cache_kernel_row of cache.h). */
typedef struct cache_device_row {
  int64_t id;
  fc_device_info d; /* name, sms, driver_version, sm, smem_optin, l2_bytes, total_mem */
  double copy_gbps, created;
} cache_device_row;

typedef struct cache_meas_row {
  int64_t id, device;
  cache_shape sh;
  int64_t kernel;
  const char *status, *message;
  double median_ms, p10_ms, p90_ms;
  int runs;
  double rel_err;
  const char *rigor;
  double measured_at;
} cache_meas_row;

typedef struct cache_win_row {
  int64_t id, device;
  cache_shape sh;
  int64_t kernel;
  double median_ms, chosen_at;
} cache_win_row;

extern const cache_table cache_devices, cache_kernels, cache_measurements, cache_winners;

/* SQL from a table: its columns ("a.x AS \"a.x\"" with an alias, so that reading finds them
   by that name), skipping those with a flag of skip; INSERT INTO t (..) VALUES (:..) ON
   CONFLICT (key) (the caller adds the action); "x = excluded.x" for the columns with a flag
   of want (0: every column) and none of skip; SELECT id FROM t WHERE key = :key. */
void cache_sql_cols(fc_str *b, const cache_table *t, const char *alias, int skip);
void cache_sql_insert(fc_str *b, const cache_table *t);
void cache_sql_set(fc_str *b, const cache_table *t, int want, int skip);
void cache_sql_find(fc_str *b, const cache_table *t);
/* Binds every column of row whose :name the statement has. */
fftconv_status cache_bind_row(sqlite3_stmt *s, const cache_table *t, const void *row, fc_err *e);
/* map[i]: the result column named (alias.)name of t's column i, or -1. */
void cache_map_cols(sqlite3_stmt *s, const cache_table *t, const char *alias, short *map);
/* The map of prepared statement q, found on first use and kept with it. */
const short *cache_map(fc_cache *c, int q, const cache_table *t, const char *alias);
/* Reads the mapped columns of the current row into row (others are left as they are). Text
   and blobs point into the statement until its next step or reset; cache_row_own copies
   them (then cache_row_free frees them). */
fftconv_status cache_read_row(sqlite3_stmt *s, const cache_table *t, const short *map, void *row,
                              fc_err *e);
fftconv_status cache_row_own(const cache_table *t, void *row, fc_err *e);
void cache_row_free(const cache_table *t, void *row);

struct fc_cache {
  sqlite3 *db;
  int writable;
  int busy_ms;
  char path[4096];
  sqlite3_stmt *st[CACHE_NSTMT];
  short map[CACHE_NSTMT][CACHE_NTABLES][CACHE_MAXCOLS];
  unsigned char mapped[CACHE_NSTMT][CACHE_NTABLES];
};

/* ---- history.c ---- */
extern const char cache_schema_v5[]; /* what a new file gets: version CACHE_VERSION */
/* cache_migrations[v] takes a file from version v to v + 1 */
extern const char *const cache_migrations[CACHE_VERSION];

/* ---- db.c ---- */
double cache_wall(void);
fftconv_status cache_sqlfail(fc_cache *c, int rc, const char *what, fc_err *e);
sqlite3_stmt *cache_stmt(fc_cache *c, int q, fftconv_status *st, fc_err *e);
void cache_reset_all(fc_cache *c);
int cache_param(sqlite3_stmt *s, const char *name);
void cache_bind_text(sqlite3_stmt *s, int i, const char *v);
void cache_bind_real(sqlite3_stmt *s, int i, double v);
void cache_nbind_text(sqlite3_stmt *s, const char *name, const char *v);
void cache_nbind_int(sqlite3_stmt *s, const char *name, int64_t v);
double cache_col_real(sqlite3_stmt *s, int i);
const char *cache_col_text(sqlite3_stmt *s, int i);
void cache_copy(char *dst, size_t len, const char *src);
void cache_source_hash(const char *source, size_t n, char out[17]);
fftconv_status cache_run(fc_cache *c, int q, const char *what, fc_err *e);
fftconv_status cache_begin(fc_cache *c, int write, fc_err *e);
fftconv_status cache_end(fc_cache *c, fftconv_status st, fc_err *e);
fftconv_status cache_hash_list(const char *const *hashes, int n, fc_str *out, fc_err *e);
fftconv_status cache_check_cfg(const fc_cache *c, const fc_cache_config *cfg, fc_err *e);
void cache_bind_dev(sqlite3_stmt *s, const fc_cache_config *cfg);
fftconv_status cache_pragma_int(fc_cache *c, const char *sql, int64_t *v, fc_err *e);

/* ---- store.c ---- */
fftconv_status cache_shape_of(int op, const fftconv_problem *p, cache_shape *sh, fc_err *e);
/* The row id of a kernel (0: none) and of a device by their keys, inside the caller's
   transaction. A missing device is created (*added 1); a device without a copy bandwidth
   takes d's. */
fftconv_status cache_kernel_id(fc_cache *c, const fc_cache_kernel_row *k, int64_t *id,
                               fc_err *e);
fftconv_status cache_device_id(fc_cache *c, const cache_device_row *d, int64_t *id, int *added,
                               fc_err *e);
/* Runs write statement q with row bound; *changes (if given): the rows it changed. */
fftconv_status cache_put_row(fc_cache *c, int q, const cache_table *t, const void *row,
                             const char *what, int *changes, fc_err *e);
/* Stores k (or finds its row), inside the caller's write transaction: k->k.source is not
   stored, its hash (k->k.source_hash when the source is NULL) is. */
fftconv_status cache_kernel_store(fc_cache *c, const fc_cache_kernel_row *k, int64_t *id,
                                  fc_err *e);
/* Recomputes the winner of (dev, key) inside the caller's write transaction. sm <= 0: the
   device's own arch. *kernel_id (if given): the winner, 0 for none (and no row). */
fftconv_status cache_rewin(fc_cache *c, int64_t dev, const char *key, const char *hashes,
                           const char *nvrtc, int sm, int64_t *kernel_id, fc_err *e);

#endif
