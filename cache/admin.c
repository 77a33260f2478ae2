/* cache admin: what fftconv-cache and the tuner's housekeeping do: read a kernel back and
 * list, slim, prune, merge and compact. */
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
#include "gpu.h"

static void gen_kernel_get(fc_str *b) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_kernels, NULL, 0);
  fc_str_add(b, " FROM kernels WHERE id = :id");
}

/* Listing: the device, the kernel (without what only running it needs), the measurement and
   (winners) the winner, each read by its own column table. */
static void gen_list_from(fc_str *b, int winners) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_devices, "d", 0);
  fc_str_add(b, ", ");
  cache_sql_cols(b, &cache_kernels, "k", CC_NOLOOKUP | CC_LAUNCH);
  fc_str_add(b, ", ");
  cache_sql_cols(b, &cache_measurements, "m", 0);
  if (winners) {
    fc_str_add(b, ", ");
    cache_sql_cols(b, &cache_winners, "w", 0);
  }
  fc_str_add(b, ", %s AS winner ", winners ? "1" : "w.id IS NOT NULL");
}
#define CACHE_LIST_WHERE(a)                                                        \
  "(:device IS NULL OR instr(lower(d.model), lower(:device)) > 0) "                \
  "AND (:problem IS NULL OR instr(" a ".problem_key, :problem) > 0) "              \
  "AND (:kernel = 0 OR k.id = :kernel)"
static void gen_list_winners(fc_str *b) {
  gen_list_from(b, 1);
  fc_str_add(b, "FROM winners w JOIN devices d ON d.id = w.device "
                "JOIN kernels k ON k.id = w.kernel LEFT JOIN measurements m ON "
                "m.device = w.device AND m.problem_key = w.problem_key AND m.kernel = w.kernel "
                "WHERE " CACHE_LIST_WHERE("w")
                " ORDER BY d.model, d.sms, d.driver_version, w.problem_key");
}
static void gen_list_all(fc_str *b) {
  gen_list_from(b, 0);
  fc_str_add(b, "FROM measurements m JOIN devices d ON d.id = m.device "
                "JOIN kernels k ON k.id = m.kernel LEFT JOIN winners w ON w.device = m.device "
                "AND w.problem_key = m.problem_key AND w.kernel = m.kernel "
                "WHERE " CACHE_LIST_WHERE("m")
                " ORDER BY d.model, d.sms, d.driver_version, m.problem_key, "
                "m.median_ms IS NULL, m.median_ms, k.id");
}

/* Stale kernel k: its template hash is not in :hashes (",h1,h2,...,") or its NVRTC is not
   :nvrtc. */
#define CACHE_STALE "NOT (instr(:hashes, ',' || k.hash || ',') > 0 AND k.nvrtc = :nvrtc)"
/* The bytes of a column over a group (text counted in bytes, not characters). */
#define CACHE_BYTES(col) "total(length(CAST(" col " AS BLOB)))"
/* Kernel k stays: always, or (prune's dry run, :hashes set) when prune would keep it. */
#define CACHE_LIVE "(:hashes IS NULL OR NOT " CACHE_STALE ")"
/* What slimming keeps whole: every winner's kernel, and the :finalists fastest ok
   measurements' kernels of each (device, problem). */
#define CACHE_KEEP                                                                           \
  "WITH ranked AS (SELECT m.kernel, row_number() OVER (PARTITION BY m.device, m.problem_key " \
  "ORDER BY m.median_ms, m.kernel) AS r FROM measurements m JOIN kernels k ON k.id = m.kernel " \
  "WHERE m.status = 'ok' AND m.median_ms IS NOT NULL AND " CACHE_LIVE "), "                  \
  "keep AS (SELECT kernel FROM ranked WHERE r <= :finalists UNION SELECT kernel FROM winners) "
#define CACHE_DROP "k.cubin IS NOT NULL AND k.id NOT IN (SELECT kernel FROM keep)"

const char *const cache_admin_sql[CACHE_NSTMT] = {
    [Q_SLIM_COUNT] =
        CACHE_KEEP "SELECT b.n, b.bytes, s.n, s.bytes FROM "
        "(SELECT count(*) AS n, " CACHE_BYTES("k.cubin") " + " CACHE_BYTES("k.ptx") " + "
        CACHE_BYTES("k.log") " AS bytes FROM kernels k WHERE " CACHE_DROP " AND " CACHE_LIVE
        ") b, (SELECT count(*) AS n, " CACHE_BYTES("k.source") " AS bytes FROM kernels k "
        "WHERE k.source IS NOT NULL AND " CACHE_LIVE ") s",
    [Q_SLIM_BINARIES] =
        CACHE_KEEP "UPDATE kernels AS k SET cubin = NULL, ptx = NULL, log = NULL, "
        "binary_dropped = :now WHERE " CACHE_DROP,
    [Q_SLIM_SOURCES] =
        "UPDATE kernels SET source_hash = coalesce(source_hash, fftconv_source_hash(source)), "
        "source = NULL WHERE source IS NOT NULL",
    [Q_PRUNE_COUNT] =
        "SELECT (SELECT count(*) FROM kernels k WHERE " CACHE_STALE "), "
        "(SELECT count(*) FROM measurements m JOIN kernels k ON k.id = m.kernel WHERE "
        CACHE_STALE "), "
        "(SELECT count(*) FROM winners w JOIN kernels k ON k.id = w.kernel WHERE "
        CACHE_STALE "), "
        "(SELECT count(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM measurements m "
        "JOIN kernels k ON k.id = m.kernel WHERE m.device = d.id AND NOT (" CACHE_STALE "))), "
        "(SELECT " CACHE_BYTES("k.cubin") " + " CACHE_BYTES("k.ptx") " + " CACHE_BYTES("k.log")
        " + " CACHE_BYTES("k.source") " FROM kernels k WHERE " CACHE_STALE ")",
    [Q_PRUNE_DEL_KERNELS] = "DELETE FROM kernels WHERE id IN (SELECT k.id FROM kernels k "
                            "WHERE " CACHE_STALE ")",
    [Q_PRUNE_DEL_DEVICES] = "DELETE FROM devices WHERE NOT EXISTS (SELECT 1 FROM "
                            "measurements m WHERE m.device = devices.id)",
    [Q_MERGE_MEAS_AT] = "SELECT measured_at FROM measurements WHERE device = :device "
                        "AND problem_key = :problem_key AND kernel = :kernel",
};

static void gen_prune_lost(fc_str *b) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_winners, "w", 0);
  fc_str_add(b, " FROM winners w JOIN kernels k ON k.id = w.kernel WHERE " CACHE_STALE
                " ORDER BY w.device, w.problem_key");
}

const cache_gen_fn cache_admin_gen[CACHE_NSTMT] = {
    [Q_KERNEL_GET] = gen_kernel_get,     [Q_LIST_WINNERS] = gen_list_winners,
    [Q_LIST_ALL] = gen_list_all,         [Q_PRUNE_LOST] = gen_prune_lost,
};

void fc_cache_kernel_row_free(fc_cache_kernel_row *r) {
  if (!r) return;
  cache_row_free(&cache_kernels, r);
  memset(r, 0, sizeof *r);
}

fftconv_status fc_cache_get_kernel(fc_cache *c, int64_t id, fc_cache_kernel_row *out,
                                   int *found, fc_err *e) {
  if (!c || !out || !found) return fc_fail(e, FFTCONV_ERR_INVALID, "cache get_kernel: NULL argument");
  memset(out, 0, sizeof *out);
  *found = 0;
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, Q_KERNEL_GET, &st, e);
  if (!s) return st;
  cache_nbind_int(s, ":id", id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    fc_err re = {{0}};
    st = cache_read_row(s, &cache_kernels, cache_map(c, Q_KERNEL_GET, &cache_kernels, NULL), out,
                        &re);
    char h[17];
    fc_cache_kernel *k = &out->k;
    if (st != FFTCONV_OK) {
      /* its strings and blobs still point into the statement: nothing of the row is ours to
         free, so it is only zeroed */
      memset(out, 0, sizeof *out);
      st = fc_fail(e, st, "cache %s: kernel %lld: %s", c->path, (long long)id, re.msg);
    } else {
      if (!k->source_hash && k->source) { /* a schema-2 row: its hash is computed on demand */
        cache_source_hash(k->source, strlen(k->source), h);
        k->source_hash = h;
      }
      st = cache_row_own(&cache_kernels, out, e); /* on failure it freed what it copied */
      if (st == FFTCONV_OK && (!k->tmpl || !k->hash || !k->params || !k->nvrtc))
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: kernel %lld lacks its key", c->path,
                     (long long)id);
      if (st == FFTCONV_OK)
        *found = 1;
      else
        fc_cache_kernel_row_free(out);
    }
  } else if (rc != SQLITE_DONE) {
    char what[64];
    snprintf(what, sizeof what, "reading kernel %lld", (long long)id);
    st = cache_sqlfail(c, rc, what, e);
  }
  sqlite3_reset(s);
  return st;
}

/* ---- listing ---- */

fftconv_status fc_cache_list(fc_cache *c, const fc_cache_filter *f, fc_cache_entry_fn fn,
                             void *arg, fc_err *e) {
  if (!c || !fn) return fc_fail(e, FFTCONV_ERR_INVALID, "cache list: NULL argument");
  fc_cache_filter none = {0};
  if (!f) f = &none;
  fftconv_status st = FFTCONV_OK;
  int q = f->all ? Q_LIST_ALL : Q_LIST_WINNERS;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  const short *dm = cache_map(c, q, &cache_devices, "d"),
              *km = cache_map(c, q, &cache_kernels, "k"),
              *mm = cache_map(c, q, &cache_measurements, "m"),
              *wm = cache_map(c, q, &cache_winners, "w");
  int winner_col = sqlite3_column_count(s) - 1; /* "winner", last (gen_list_from) */
  cache_nbind_text(s, ":device", f->device);
  cache_nbind_text(s, ":problem", f->problem);
  cache_nbind_int(s, ":kernel", f->kernel_id);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    cache_device_row d = {0};
    fc_cache_kernel_row k = {0};
    cache_meas_row m = {0};
    cache_win_row w = {0};
    fftconv_problem_init(&m.sh.p);
    fftconv_problem_init(&w.sh.p);
    if ((st = cache_read_row(s, &cache_devices, dm, &d, e)) != FFTCONV_OK ||
        (st = cache_read_row(s, &cache_kernels, km, &k, e)) != FFTCONV_OK ||
        (st = cache_read_row(s, &cache_measurements, mm, &m, e)) != FFTCONV_OK ||
        (st = cache_read_row(s, &cache_winners, wm, &w, e)) != FFTCONV_OK)
      break;
    /* a winner's row: its shape and median are the winner's, its measurement may be gone */
    const cache_shape *sh = f->all ? &m.sh : &w.sh;
    fc_cache_entry r = {
        .device = d.d.name, .sms = d.d.sms, .driver_version = d.d.driver_version,
        .device_sm = d.d.sm, .copy_gbps = d.copy_gbps,
        .problem_key = sh->key, .problem = sh->p,
        .kernel_id = k.id, .tmpl = k.k.tmpl, .revision = k.k.revision, .hash = k.k.hash,
        .params = k.k.params, .sm = k.k.sm, .nvrtc = k.k.nvrtc,
        .status = m.status ? m.status : "ok", .message = m.message,
        .median_ms = f->all ? m.median_ms : w.median_ms, .p10_ms = m.p10_ms,
        .p90_ms = m.p90_ms, .rel_err = m.rel_err, .runs = m.runs, .rigor = m.rigor,
        .measured_at = m.measured_at, .winner = sqlite3_column_int(s, winner_col)};
    if (fn(&r, arg)) break;
  }
  if (st == FFTCONV_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "listing", e);
  sqlite3_reset(s);
  return st;
}

/* ---- prune and merge ---- */

/* (device, problem key) pairs whose winner must be recomputed. */
typedef struct cache_pairs {
  struct cache_pair {
    int64_t dev;
    char key[256];
  } *v;
  size_t n, cap;
} cache_pairs;

/* Callers add pairs grouped (ORDER BY device, problem_key), so a repeat is the last one. */
static int cache_pairs_add(cache_pairs *ps, int64_t dev, const char *key) {
  if (ps->n && ps->v[ps->n - 1].dev == dev && !strcmp(ps->v[ps->n - 1].key, key)) return 1;
  if (ps->n == ps->cap) {
    size_t cap = ps->cap ? 2 * ps->cap : 64;
    void *v = realloc(ps->v, cap * sizeof *ps->v);
    if (!v) return 0;
    ps->v = v;
    ps->cap = cap;
  }
  ps->v[ps->n].dev = dev;
  cache_copy(ps->v[ps->n].key, sizeof ps->v[ps->n].key, key);
  ps->n++;
  return 1;
}

static fftconv_status cache_rewin_all(fc_cache *c, const cache_pairs *ps, const char *hashes,
                                      const char *nvrtc, int64_t *rewon, fc_err *e) {
  for (size_t i = 0; i < ps->n; i++) {
    int64_t k = 0;
    fftconv_status st = cache_rewin(c, ps->v[i].dev, ps->v[i].key, hashes, nvrtc, -1, &k, e);
    if (st != FFTCONV_OK) return st;
    if (k) ++*rewon;
  }
  return FFTCONV_OK;
}

/* Slimming inside the caller's transaction: counts into out, then drops unless dry_run.
   hashes (",h1,...,") and nvrtc set: counts as if prune had removed the stale kernels. */
static fftconv_status cache_slim(fc_cache *c, int finalists, int dry_run, const char *hashes,
                                 const char *nvrtc, fc_cache_slimmed *out, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  memset(out, 0, sizeof *out);
  sqlite3_stmt *s = cache_stmt(c, Q_SLIM_COUNT, &st, e);
  if (!s) return st;
  cache_nbind_int(s, ":finalists", finalists);
  cache_nbind_text(s, ":hashes", hashes);
  cache_nbind_text(s, ":nvrtc", nvrtc);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    out->binaries = sqlite3_column_int64(s, 0);
    out->sources = sqlite3_column_int64(s, 2);
    out->bytes = sqlite3_column_int64(s, 1) + sqlite3_column_int64(s, 3);
  }
  sqlite3_reset(s);
  if (rc != SQLITE_ROW) return cache_sqlfail(c, rc, "counting what slimming drops", e);
  if (dry_run) return FFTCONV_OK;
  if (out->binaries) {
    if (!(s = cache_stmt(c, Q_SLIM_BINARIES, &st, e))) return st;
    cache_nbind_int(s, ":finalists", finalists);
    sqlite3_bind_null(s, cache_param(s, ":hashes"));
    sqlite3_bind_null(s, cache_param(s, ":nvrtc"));
    sqlite3_bind_double(s, cache_param(s, ":now"), cache_wall());
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return cache_sqlfail(c, rc, "dropping unused binaries", e);
  }
  if (out->sources)
    st = cache_run(c, Q_SLIM_SOURCES, "dropping stored sources", e);
  return st;
}

fftconv_status fc_cache_slim(fc_cache *c, int finalists, int dry_run, fc_cache_slimmed *out,
                             fc_err *e) {
  if (!c || !out) return fc_fail(e, FFTCONV_ERR_INVALID, "cache slim: NULL argument");
  memset(out, 0, sizeof *out);
  if (finalists < 0)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache slim: finalists %d < 0", finalists);
  fftconv_status st = cache_begin(c, !dry_run, e);
  if (st == FFTCONV_OK) st = cache_slim(c, finalists, dry_run, NULL, NULL, out, e);
  return cache_end(c, st, e);
}

fftconv_status fc_cache_prune(fc_cache *c, const char *const *hashes, int nhashes,
                              const char *nvrtc, int dry_run, fc_cache_counts *removed,
                              fc_err *e) {
  if (!c || !nvrtc || !removed) return fc_fail(e, FFTCONV_ERR_INVALID, "cache prune: NULL argument");
  memset(removed, 0, sizeof *removed);
  fc_str hl = {0};
  cache_pairs lost = {0};
  fftconv_status st = cache_hash_list(hashes, nhashes, &hl, e);
  if (st != FFTCONV_OK) goto out;
  if ((st = cache_begin(c, !dry_run, e)) != FFTCONV_OK) goto out;
  sqlite3_stmt *s = cache_stmt(c, Q_PRUNE_COUNT, &st, e);
  if (!s) goto done;
  cache_nbind_text(s, ":hashes", hl.s);
  cache_nbind_text(s, ":nvrtc", nvrtc);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    st = cache_sqlfail(c, rc, "counting stale rows", e);
    goto done;
  }
  removed->kernels = sqlite3_column_int64(s, 0);
  removed->measurements = sqlite3_column_int64(s, 1);
  removed->winners = sqlite3_column_int64(s, 2);
  removed->devices = sqlite3_column_int64(s, 3);
  int64_t stale_bytes = sqlite3_column_int64(s, 4);
  sqlite3_reset(s);
  if (dry_run) {
    st = cache_slim(c, FC_CACHE_FINALISTS, 1, hl.s, nvrtc, &removed->slim, e);
    removed->slim.bytes += stale_bytes;
    goto done;
  }
  if (removed->kernels + removed->devices == 0) goto slim;

  if (!(s = cache_stmt(c, Q_PRUNE_LOST, &st, e))) goto done;
  cache_nbind_text(s, ":hashes", hl.s);
  cache_nbind_text(s, ":nvrtc", nvrtc);
  const short *wm = cache_map(c, Q_PRUNE_LOST, &cache_winners, "w");
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    cache_win_row w = {0};
    if ((st = cache_read_row(s, &cache_winners, wm, &w, e)) != FFTCONV_OK) goto done;
    if (!cache_pairs_add(&lost, w.device, w.sh.key)) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      goto done;
    }
  }
  if (rc != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "finding winners of stale kernels", e);
    goto done;
  }
  sqlite3_reset(s);
  /* measurements and winners of the kernels go with them: ON DELETE CASCADE */
  if (!(s = cache_stmt(c, Q_PRUNE_DEL_KERNELS, &st, e))) goto done;
  cache_nbind_text(s, ":hashes", hl.s);
  cache_nbind_text(s, ":nvrtc", nvrtc);
  if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "deleting stale kernels", e);
    goto done;
  }
  if ((st = cache_run(c, Q_PRUNE_DEL_DEVICES, "deleting unused devices", e)) != FFTCONV_OK)
    goto done;
  if ((st = cache_rewin_all(c, &lost, hl.s, nvrtc, &removed->rewon, e)) != FFTCONV_OK)
    goto done;
slim: /* after the winners are recomputed: the new ones keep their cubins */
  st = cache_slim(c, FC_CACHE_FINALISTS, 0, NULL, NULL, &removed->slim, e);
  removed->slim.bytes += stale_bytes;
done:
  st = cache_end(c, st, e);
  /* VACUUM cannot run inside a transaction; a failure leaves a correct, larger file */
  if (st == FFTCONV_OK && !dry_run &&
      removed->kernels + removed->devices + removed->slim.binaries + removed->slim.sources > 0) {
    char *err = NULL;
    if (sqlite3_exec(c->db, "VACUUM", NULL, NULL, &err) != SQLITE_OK)
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: pruned, but VACUUM failed: %s", c->path,
                   err ? err : sqlite3_errmsg(c->db));
    sqlite3_free(err);
    /* VACUUM wrote the whole file through the WAL: give that space back too (a reader
       holding the WAL makes this a no-op, which is harmless) */
    if (st == FFTCONV_OK)
      sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  }
out:
  free(lost.v);
  fc_str_free(&hl);
  return st;
}

fftconv_status fc_cache_compact(fc_cache *c, double min_fraction, int64_t *before,
                                int64_t *after, fc_err *e) {
  int64_t pages = 0, free_pages = 0, page = 0;
  fftconv_status st = cache_pragma_int(c, "PRAGMA page_count", &pages, e);
  if (st == FFTCONV_OK) st = cache_pragma_int(c, "PRAGMA freelist_count", &free_pages, e);
  if (st == FFTCONV_OK) st = cache_pragma_int(c, "PRAGMA page_size", &page, e);
  if (st != FFTCONV_OK) return st;
  if (before) *before = pages * page;
  if (after) *after = pages * page;
  if (pages == 0 || (double)free_pages < min_fraction * (double)pages || free_pages == 0)
    return FFTCONV_OK;
  char *err = NULL;
  int rc = sqlite3_exec(c->db, "VACUUM", NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    return cache_sqlfail(c, rc, "compacting", e);
  }
  sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  if (after && cache_pragma_int(c, "PRAGMA page_count", &pages, e) == FFTCONV_OK)
    *after = pages * page;
  return FFTCONV_OK;
}

/* One step of reading the other cache. */
static int cache_other_step(sqlite3_stmt *s, fc_cache *o, const char *what, fftconv_status *st,
                            fc_err *e) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) *st = cache_sqlfail(o, rc, what, e);
  return rc == SQLITE_ROW;
}

/* Every row of table t in the other cache, ordered by order (finalized by the caller). */
static sqlite3_stmt *cache_other_rows(fc_cache *o, const cache_table *t, const char *order,
                                      fftconv_status *st, fc_err *e) {
  fc_str sql = {0};
  fc_str_add(&sql, "SELECT ");
  cache_sql_cols(&sql, t, NULL, 0);
  fc_str_add(&sql, " FROM %s ORDER BY %s", t->name, order);
  sqlite3_stmt *s = NULL;
  int rc = sql.oom ? SQLITE_NOMEM : sqlite3_prepare_v2(o->db, sql.s, -1, &s, NULL);
  fc_str_free(&sql);
  if (rc != SQLITE_OK) {
    *st = cache_sqlfail(o, rc, "reading the other cache", e);
    return NULL;
  }
  return s;
}

/* old id -> new id, for the rows of the other cache (ids ascend, so a sorted array). */
typedef struct cache_idmap {
  int64_t (*v)[2];
  size_t n, cap;
} cache_idmap;

static int cache_idmap_add(cache_idmap *m, int64_t from, int64_t to) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 256;
    void *v = realloc(m->v, cap * sizeof *m->v);
    if (!v) return 0;
    m->v = v;
    m->cap = cap;
  }
  m->v[m->n][0] = from;
  m->v[m->n][1] = to;
  m->n++;
  return 1;
}

static int64_t cache_idmap_get(const cache_idmap *m, int64_t from) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (m->v[mid][0] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->n && m->v[lo][0] == from ? m->v[lo][1] : 0;
}

fftconv_status fc_cache_merge(fc_cache *c, const char *other, const char *const *hashes,
                              int nhashes, const char *nvrtc, fc_cache_counts *added,
                              fc_err *e) {
  if (!c || !other || !nvrtc || !added)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache merge: NULL argument");
  memset(added, 0, sizeof *added);
  struct stat a, b;
  if (stat(other, &b) == 0 && stat(c->path, &a) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cannot merge cache %s into itself", other);
  fc_cache *o = NULL;
  fc_str hl = {0};
  cache_idmap devs = {0}, kers = {0};
  cache_pairs touched = {0};
  sqlite3_stmt *r = NULL;
  short map[CACHE_MAXCOLS];
  fftconv_status st = cache_hash_list(hashes, nhashes, &hl, e);
  if (st != FFTCONV_OK) goto out;
  if ((st = fc_cache_open(other, 0, &o, e)) != FFTCONV_OK) goto out;
  /* one snapshot of the other file for the whole copy */
  if ((st = cache_begin(o, 0, e)) != FFTCONV_OK) goto out;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) goto out;

  /* devices: a device without a copy bandwidth takes theirs (cache_device_id) */
  if (!(r = cache_other_rows(o, &cache_devices, "id", &st, e))) goto done;
  cache_map_cols(r, &cache_devices, NULL, map);
  while (cache_other_step(r, o, "reading devices", &st, e)) {
    cache_device_row d = {0};
    int64_t id = 0;
    int new = 0;
    if ((st = cache_read_row(r, &cache_devices, map, &d, e)) != FFTCONV_OK ||
        (st = cache_device_id(c, &d, &id, &new, e)) != FFTCONV_OK)
      break;
    added->devices += new;
    if (!cache_idmap_add(&devs, d.id, id)) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      break;
    }
  }
  sqlite3_finalize(r);
  r = NULL;
  if (st != FFTCONV_OK) goto done;

  /* kernels: one at a time, so a cache of many cubins never sits in memory at once; the
     upsert of put_kernel (a new row, or our failed compilation gets their cubin), and the
     source itself stays behind: its hash is enough to check it when emitted again */
  if (!(r = cache_other_rows(o, &cache_kernels, "id", &st, e))) goto done;
  cache_map_cols(r, &cache_kernels, NULL, map);
  while (cache_other_step(r, o, "reading kernels", &st, e)) {
    fc_cache_kernel_row k = {0};
    int64_t id = 0, had = 0;
    if ((st = cache_read_row(r, &cache_kernels, map, &k, e)) != FFTCONV_OK ||
        (st = cache_kernel_id(c, &k, &had, e)) != FFTCONV_OK ||
        (st = cache_kernel_store(c, &k, &id, e)) != FFTCONV_OK)
      break;
    if (!had) added->kernels++;
    if (!cache_idmap_add(&kers, k.id, id)) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      break;
    }
  }
  sqlite3_finalize(r);
  r = NULL;
  if (st != FFTCONV_OK) goto done;

  /* measurements: the later measured_at wins */
  if (!(r = cache_other_rows(o, &cache_measurements, "device, problem_key, id", &st, e)))
    goto done;
  cache_map_cols(r, &cache_measurements, NULL, map);
  while (cache_other_step(r, o, "reading measurements", &st, e)) {
    cache_meas_row m = {0};
    if ((st = cache_read_row(r, &cache_measurements, map, &m, e)) != FFTCONV_OK) break;
    m.device = cache_idmap_get(&devs, m.device);
    m.kernel = cache_idmap_get(&kers, m.kernel);
    if (!m.device || !m.kernel || !m.sh.key[0]) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is damaged: a measurement refers to a "
                   "missing device or kernel", other);
      break;
    }
    sqlite3_stmt *s = cache_stmt(c, Q_MERGE_MEAS_AT, &st, e);
    if (!s || (st = cache_bind_row(s, &cache_measurements, &m, e)) != FFTCONV_OK) break;
    int rc = sqlite3_step(s);
    int have = rc == SQLITE_ROW;
    double mine = have ? sqlite3_column_double(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      st = cache_sqlfail(c, rc, "reading a measurement", e);
      break;
    }
    if (have && mine >= m.measured_at) {
      added->skipped++;
      continue;
    }
    if ((st = cache_put_row(c, Q_MEAS_PUT, &cache_measurements, &m, "copying a measurement",
                            NULL, e)) != FFTCONV_OK)
      break;
    if (have)
      added->replaced++;
    else
      added->measurements++;
    if (!cache_pairs_add(&touched, m.device, m.sh.key)) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      break;
    }
  }
  sqlite3_finalize(r);
  r = NULL;
  if (st != FFTCONV_OK) goto done;
  st = cache_rewin_all(c, &touched, hl.s, nvrtc, &added->rewon, e);
  added->winners = added->rewon;
done:
  sqlite3_finalize(r);
  st = cache_end(c, st, e);
out:
  if (o) {
    cache_end(o, FFTCONV_OK, NULL);
    fc_cache_close(o);
  }
  free(devs.v);
  free(kers.v);
  free(touched.v);
  fc_str_free(&hl);
  return st;
}

