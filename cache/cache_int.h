/* cache_int: what the parts of the cache share. The cache is split by job: schema.c (the
 * schema history, open, create, migrate), store.c (the tuner's writes), lookup.c (the
 * runtime's lookup), admin.c (read back, list, slim, prune, merge, compact) and db.c (the
 * SQLite plumbing they all use). Private to cache/.
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

#define CACHE_VERSION 3
#define CACHE_BUSY_MS 10000

/* Columns of a kernel, in the order cache_kernel_bind and cache_kernel_read use. */
#define CACHE_KCOLS                                                                       \
  "template, revision, hash, params, sm, nvrtc, source, source_hash, cubin, ptx, log, "   \
  "registers, smem_static, stack, spill_stores, spill_loads, compile_seconds, threads, "  \
  "smem, seqs, prep_threads, prep_smem, prep_seqs, khat, khat_table, fwd_entry, "         \
  "prep_entry, created, binary_dropped"
#define CACHE_KN 29 /* columns in CACHE_KCOLS */
#define CACHE_KVALS "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20," \
                    "?21,?22,?23,?24,?25,?26,?27,?28,?29"
#define CACHE_MCOLS                                                                   \
  "device, problem_key, batch, heads, seqlen, filter_len, freq_keep, fft_size, dtype, " \
  "mode, pre_gate, post_gate, skip_d, kernel, status, message, median_ms, p10_ms, "   \
  "p90_ms, runs, rel_err, rigor, measured_at"
#define CACHE_MVALS "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20," \
                    "?21,?22,?23"
#define CACHE_MSET                                                                       \
  "status = excluded.status, message = excluded.message, median_ms = excluded.median_ms, " \
  "p10_ms = excluded.p10_ms, p90_ms = excluded.p90_ms, runs = excluded.runs, "            \
  "rel_err = excluded.rel_err, rigor = excluded.rigor, measured_at = excluded.measured_at"
/* The device of the running configuration, as a join condition on d. */
#define CACHE_DEV "d.model = :model AND d.sms = :sms AND d.driver_version = :driver"
/* Trusted kernel k: :hashes is ",h1,h2,...," (hashes are hex, never hold a comma). */
#define CACHE_TRUST "instr(:hashes, ',' || k.hash || ',') > 0 AND k.nvrtc = :nvrtc"
enum {
  Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK,
  Q_KERNEL_PUT, Q_KERNEL_ID, Q_KERNEL_GET,
  Q_DEVICE_PUT, Q_DEVICE_ID, Q_BANDWIDTH_PUT, Q_BANDWIDTH_GET, Q_BANDWIDTH_MERGE,
  Q_MEAS_PUT, Q_MEASURED,
  Q_BEST, Q_WINNER_PUT, Q_WINNER_DEL,
  Q_HIT_EXACT, Q_HIT_ID, Q_NEAR,
  Q_LIST_WINNERS, Q_LIST_ALL,
  Q_PRUNE_COUNT, Q_PRUNE_LOST, Q_PRUNE_DEL_KERNELS, Q_PRUNE_DEL_DEVICES,
  Q_SLIM_COUNT, Q_SLIM_BINARIES, Q_SLIM_SOURCES,
  Q_MERGE_DEVICE, Q_MERGE_MEAS_AT,
  CACHE_NSTMT
};


/* Each part's statements, indexed by the enum above (NULL where another part owns it). */
extern const char *const cache_db_sql[CACHE_NSTMT], *const cache_store_sql[CACHE_NSTMT],
    *const cache_lookup_sql[CACHE_NSTMT], *const cache_admin_sql[CACHE_NSTMT];

struct fc_cache {
  sqlite3 *db;
  int writable;
  int busy_ms;
  char path[4096];
  sqlite3_stmt *st[CACHE_NSTMT];
};

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
char *cache_col_dup(sqlite3_stmt *s, int i);
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
/* The problem's key and the fields stored beside it. */
typedef struct cache_shape {
  char key[256];
  int64_t k, n;
} cache_shape;

fftconv_status cache_shape_of(const fftconv_problem *p, cache_shape *sh, fc_err *e);
fftconv_status cache_kernel_id(fc_cache *c, int q, const char *hash, const char *params,
                               int sm, const char *nvrtc, int64_t *id, fc_err *e);
/* Recomputes the winner of (dev, key) inside the caller's write transaction. sm <= 0: the
   device's own arch. *kernel_id (if given): the winner, 0 for none (and no row). */
fftconv_status cache_rewin(fc_cache *c, int64_t dev, const char *key, const char *hashes,
                           const char *nvrtc, int sm, int64_t *kernel_id, fc_err *e);

#endif
