/* cache db: the SQLite plumbing every part of the cache uses (see cache_int.h): statements
 * prepared once per fc_cache, transactions, binding and reading values, error messages. */
#include "cache_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const cache_db_sql[CACHE_NSTMT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

double cache_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The message for a failed SQLite call, by kind: busy and read-only files are the failures a
   user can act on, so they say so. */
fftconv_status cache_sqlfail(fc_cache *c, int rc, const char *what, fc_err *e) {
  const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return fc_fail(e, FFTCONV_ERR_IO,
                   "cache %s is busy: another process held its lock for more than %d ms (%s: %s)",
                   c->path, c->busy_ms, what, msg);
  case SQLITE_READONLY:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: %s: %s", c->path, what, msg);
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is damaged: %s: %s", c->path, what, msg);
  case SQLITE_FULL:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: the disk is full: %s: %s", c->path, what, msg);
  case SQLITE_NOMEM:
    return fc_fail(e, FFTCONV_ERR_NOMEM, "cache %s: out of memory: %s", c->path, what);
  case SQLITE_TOOBIG:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is damaged: %s: a value is larger than %d MB, "
                   "the most a cache holds", c->path, what, FC_CACHE_MAX_VALUE >> 20);
  default:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s: %s", c->path, what, msg);
  }
}

/* The text of statement q into b: each job's file owns the statements it runs, as text or as
   a function that builds it from the column tables. */
static void cache_sql_text(int q, fc_str *b) {
  const cache_gen_fn gen = cache_store_gen[q] ? cache_store_gen[q]
                           : cache_lookup_gen[q] ? cache_lookup_gen[q] : cache_admin_gen[q];
  if (gen) {
    gen(b);
    return;
  }
  const char *s = cache_db_sql[q] ? cache_db_sql[q]
                  : cache_store_sql[q] ? cache_store_sql[q]
                  : cache_lookup_sql[q] ? cache_lookup_sql[q] : cache_admin_sql[q];
  fc_str_add(b, "%s", s);
}

/* Statement q, prepared on first use and kept (SQLITE_PREPARE_PERSISTENT) for the life of c. */
sqlite3_stmt *cache_stmt(fc_cache *c, int q, fftconv_status *st, fc_err *e) {
  if (!c->st[q]) {
    fc_str sql = {0};
    cache_sql_text(q, &sql);
    if (sql.oom) {
      fc_str_free(&sql);
      *st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      return NULL;
    }
    int rc = sqlite3_prepare_v3(c->db, sql.s, -1, SQLITE_PREPARE_PERSISTENT, &c->st[q], NULL);
    fc_str_free(&sql);
    if (rc != SQLITE_OK) {
      *st = cache_sqlfail(c, rc, "preparing a query", e);
      c->st[q] = NULL;
      return NULL;
    }
    memset(c->mapped[q], 0, sizeof c->mapped[q]);
  }
  return c->st[q];
}

/* Resets every statement: none may hold a read snapshot across calls (it would pin the WAL
   and keep other writers' checkpoints from completing). */
void cache_reset_all(fc_cache *c) {
  for (int i = 0; i < CACHE_NSTMT; i++)
    if (c->st[i]) sqlite3_reset(c->st[i]);
}

int cache_param(sqlite3_stmt *s, const char *name) {
  return sqlite3_bind_parameter_index(s, name);
}

void cache_bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, i);
}

/* NaN and infinities are stored as NULL: SQLite turns NaN into NULL anyway, and an infinite
   median must never sort as a real one. */
void cache_bind_real(sqlite3_stmt *s, int i, double v) {
  if (isfinite(v))
    sqlite3_bind_double(s, i, v);
  else
    sqlite3_bind_null(s, i);
}

void cache_nbind_text(sqlite3_stmt *s, const char *name, const char *v) {
  cache_bind_text(s, cache_param(s, name), v);
}

void cache_nbind_int(sqlite3_stmt *s, const char *name, int64_t v) {
  sqlite3_bind_int64(s, cache_param(s, name), v);
}

double cache_col_real(sqlite3_stmt *s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

const char *cache_col_text(sqlite3_stmt *s, int i) {
  return (const char *)sqlite3_column_text(s, i);
}


void cache_copy(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
}

/* The hash stored for a kernel's source: FNV-1a 64 of its bytes, 16 hex digits. */
void cache_source_hash(const char *source, size_t n, char out[17]) {
  snprintf(out, 17, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, source, n));
}

/* Runs a statement that returns no rows (or whose rows do not matter). */
fftconv_status cache_run(fc_cache *c, int q, const char *what, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) st = cache_sqlfail(c, rc, what, e);
  sqlite3_reset(s);
  return st;
}

fftconv_status cache_begin(fc_cache *c, int write, fc_err *e) {
  return cache_run(c, write ? Q_BEGIN : Q_BEGIN_READ,
                   write ? "starting a write transaction" : "starting a read transaction", e);
}

/* The one way a transaction ends: commit when st is OK, else roll back. Returns the status
   of the whole transaction. */
fftconv_status cache_end(fc_cache *c, fftconv_status st, fc_err *e) {
  cache_reset_all(c);
  if (!sqlite3_get_autocommit(c->db)) {
    if (st == FFTCONV_OK) st = cache_run(c, Q_COMMIT, "committing", e);
    if (st != FFTCONV_OK && !sqlite3_get_autocommit(c->db))
      cache_run(c, Q_ROLLBACK, "rolling back", NULL);
  }
  return st;
}

/* ",h1,h2,...,": what CACHE_TRUST looks hashes up in. */
fftconv_status cache_hash_list(const char *const *hashes, int n, fc_str *out,
                                      fc_err *e) {
  if (n < 0 || (n > 0 && !hashes)) return fc_fail(e, FFTCONV_ERR_INVALID, "hashes: NULL");
  fc_str_add(out, ",");
  for (int i = 0; i < n; i++) {
    if (!hashes[i] || !*hashes[i] || strchr(hashes[i], ','))
      return fc_fail(e, FFTCONV_ERR_INVALID, "hashes[%d]: '%s' is not a template hash", i,
                     hashes[i] ? hashes[i] : "(null)");
    fc_str_add(out, "%s,", hashes[i]);
  }
  if (out->oom) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  return FFTCONV_OK;
}

fftconv_status cache_check_cfg(const fc_cache *c, const fc_cache_config *cfg,
                                      fc_err *e) {
  if (!c) return fc_fail(e, FFTCONV_ERR_INVALID, "cache: NULL");
  if (!cfg || !cfg->dev)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache config: NULL device");
  return FFTCONV_OK;
}

void cache_bind_dev(sqlite3_stmt *s, const fc_cache_config *cfg) {
  cache_nbind_text(s, ":model", cfg->dev->name);
  cache_nbind_int(s, ":sms", cfg->dev->sms);
  cache_nbind_int(s, ":driver", cfg->dev->driver_version);
}


/* PRAGMAs that answer one integer. */
fftconv_status cache_pragma_int(fc_cache *c, const char *sql, int64_t *v, fc_err *e) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *v = sqlite3_column_int64(s, 0);
    rc = SQLITE_OK;
  }
  fftconv_status st = rc == SQLITE_OK || rc == SQLITE_DONE ? FFTCONV_OK
                                                           : cache_sqlfail(c, rc, sql, e);
  sqlite3_finalize(s);
  return st;
}

