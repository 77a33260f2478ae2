/* cache store: what the tuner writes: kernels, devices and their bandwidth, measurements,
 * and the winner recomputed from them. Every write is one BEGIN IMMEDIATE transaction. Rows
 * are bound through the column tables (columns.c), by name. */
#include "cache_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A row whose earlier compilation failed, or whose binary slimming dropped, takes the
   outputs of one that succeeded. */
static void gen_kernel_put(fc_str *b) {
  cache_sql_insert(b, &cache_kernels);
  fc_str_add(b, "DO UPDATE SET ");
  cache_sql_set(b, &cache_kernels, CC_OUTPUT, 0);
  fc_str_add(b, ", source_hash = coalesce(kernels.source_hash, excluded.source_hash) "
                "WHERE kernels.cubin IS NULL AND excluded.cubin IS NOT NULL");
}

static void gen_kernel_id(fc_str *b) { cache_sql_find(b, &cache_kernels); }

/* A device seen again keeps its row; a copy bandwidth it lacks is taken (merge). */
static void gen_device_put(fc_str *b) {
  cache_sql_insert(b, &cache_devices);
  fc_str_add(b, "DO UPDATE SET copy_gbps = excluded.copy_gbps "
                "WHERE devices.copy_gbps IS NULL AND excluded.copy_gbps IS NOT NULL");
}

static void gen_device_id(fc_str *b) { cache_sql_find(b, &cache_devices); }

/* Every column but the key is the measurement's (the shape follows from the key). */
static void gen_meas_put(fc_str *b) {
  cache_sql_insert(b, &cache_measurements);
  fc_str_add(b, "DO UPDATE SET ");
  cache_sql_set(b, &cache_measurements, 0, CC_ID | CC_KEY);
}

/* The fastest trusted ok measurement of (device, problem); :sm NULL means the device's own
   arch (prune and merge, which have no running configuration). */
static void gen_best(fc_str *b) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_measurements, "m", 0);
  fc_str_add(b, " FROM measurements m JOIN kernels k ON k.id = m.kernel "
                "JOIN devices d ON d.id = m.device "
                "WHERE m.device = :dev AND m.problem_key = :key AND m.status = 'ok' "
                "AND m.median_ms IS NOT NULL AND k.cubin IS NOT NULL "
                "AND k.sm = coalesce(:sm, d.sm) AND " CACHE_TRUST
                " ORDER BY m.median_ms, m.kernel LIMIT 1");
}

static void gen_winner_put(fc_str *b) {
  cache_sql_insert(b, &cache_winners);
  fc_str_add(b, "DO UPDATE SET ");
  cache_sql_set(b, &cache_winners, 0, CC_ID | CC_KEY);
}

const cache_gen_fn cache_store_gen[CACHE_NSTMT] = {
    [Q_KERNEL_PUT] = gen_kernel_put, [Q_KERNEL_ID] = gen_kernel_id,
    [Q_DEVICE_PUT] = gen_device_put, [Q_DEVICE_ID] = gen_device_id,
    [Q_MEAS_PUT] = gen_meas_put,     [Q_BEST] = gen_best,
    [Q_WINNER_PUT] = gen_winner_put,
};

const char *const cache_store_sql[CACHE_NSTMT] = {
    [Q_BANDWIDTH_PUT] = "UPDATE devices SET copy_gbps = :copy_gbps WHERE id = :id",
    [Q_BANDWIDTH_GET] = "SELECT copy_gbps FROM devices WHERE model = :model AND sms = :sms "
                        "AND driver_version = :driver_version",
    [Q_MEASURED] = "SELECT 1 FROM devices d JOIN measurements m ON m.device = d.id "
                   "JOIN kernels k ON k.id = m.kernel WHERE " CACHE_DEV
                   " AND m.problem_key = :key AND k.hash = :hash AND k.params = :params "
                   "AND k.sm = :sm AND k.nvrtc = :nvrtc LIMIT 1",
    [Q_WINNER_DEL] = "DELETE FROM winners WHERE device = :device AND problem_key = :problem_key",
};

/* Runs a statement that answers one id (0: no row). */
static fftconv_status cache_id_of(fc_cache *c, int q, const cache_table *t, const void *row,
                                  const char *what, int64_t *id, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  if ((st = cache_bind_row(s, t, row, e)) == FFTCONV_OK) {
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = cache_sqlfail(c, rc, what, e);
  }
  sqlite3_reset(s);
  return st;
}

fftconv_status cache_put_row(fc_cache *c, int q, const cache_table *t, const void *row,
                             const char *what, int *changes, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  if ((st = cache_bind_row(s, t, row, e)) == FFTCONV_OK) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
      st = fc_fail(e, FFTCONV_ERR_INVALID, "cache %s: %s: no such kernel or device", c->path,
                   what);
    else if (rc != SQLITE_DONE)
      st = cache_sqlfail(c, rc, what, e);
    else if (changes)
      *changes = sqlite3_changes(c->db);
  }
  sqlite3_reset(s);
  return st;
}

/* ---- kernels ---- */

fftconv_status cache_kernel_id(fc_cache *c, const fc_cache_kernel_row *k, int64_t *id,
                               fc_err *e) {
  return cache_id_of(c, Q_KERNEL_ID, &cache_kernels, k, "finding a kernel", id, e);
}

static fftconv_status cache_kernel_check(const fc_cache_kernel *k, fc_err *e) {
  if (!k->tmpl || !k->hash || !k->params || !k->nvrtc || !k->source)
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "cache kernel: template, hash, params, nvrtc and source are required");
  fc_err me = {{0}};
  if (fc_manifest_check(&k->manifest, &me) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache kernel %s %s: %s", k->tmpl, k->params, me.msg);
  return FFTCONV_OK;
}

fftconv_status cache_kernel_store(fc_cache *c, const fc_cache_kernel_row *k, int64_t *id,
                                  fc_err *e) {
  fc_cache_kernel_row r = *k;
  char hash[17];
  if (r.k.source) { /* the source itself is not kept: emission is deterministic */
    cache_source_hash(r.k.source, strlen(r.k.source), hash);
    r.k.source_hash = hash;
    r.k.source = NULL;
  }
  fftconv_status st = cache_put_row(c, Q_KERNEL_PUT, &cache_kernels, &r, "storing a kernel",
                                    NULL, e);
  if (st == FFTCONV_OK) st = cache_kernel_id(c, &r, id, e);
  return st;
}

/* The row a tuner stores for k: created now, its binary not dropped. */
static fc_cache_kernel_row cache_new_kernel(const fc_cache_kernel *k) {
  fc_cache_kernel_row r = {.k = *k, .created = cache_wall(), .binary_dropped = NAN};
  return r;
}

fftconv_status fc_cache_put_kernel(fc_cache *c, const fc_cache_kernel *k, int64_t *id,
                                   fc_err *e) {
  if (!c || !k || !id) return fc_fail(e, FFTCONV_ERR_INVALID, "cache put_kernel: NULL argument");
  *id = 0;
  fftconv_status st = cache_kernel_check(k, e);
  if (st != FFTCONV_OK) return st;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  fc_cache_kernel_row r = cache_new_kernel(k);
  st = cache_kernel_store(c, &r, id, e);
  return cache_end(c, st, e);
}

/* ---- devices ---- */

fftconv_status cache_device_id(fc_cache *c, const cache_device_row *d, int64_t *id, int *added,
                               fc_err *e) {
  int64_t had = 0;
  fftconv_status st = cache_id_of(c, Q_DEVICE_ID, &cache_devices, d, "finding a device", &had, e);
  if (st == FFTCONV_OK && (!had || isfinite(d->copy_gbps)))
    st = cache_put_row(c, Q_DEVICE_PUT, &cache_devices, d, "storing a device", NULL, e);
  if (st == FFTCONV_OK && !had)
    st = cache_id_of(c, Q_DEVICE_ID, &cache_devices, d, "finding a device", id, e);
  else
    *id = had;
  if (st == FFTCONV_OK && !*id)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: a device row vanished", c->path);
  if (added) *added = st == FFTCONV_OK && !had;
  return st;
}

/* The device row of cfg, created if missing (inside the caller's write transaction). */
static fftconv_status cache_device(fc_cache *c, const fc_cache_config *cfg, int64_t *id,
                                   fc_err *e) {
  cache_device_row d = {.d = *cfg->dev, .copy_gbps = NAN, .created = cache_wall()};
  return cache_device_id(c, &d, id, NULL, e);
}

/* ---- measurements and winners ---- */

fftconv_status cache_shape_of(int op, const fftconv_problem *p, cache_shape *sh, fc_err *e) {
  fc_shape s;
  fftconv_status st = fc_shape_resolve(p, op, &s, e);
  if (st != FFTCONV_OK) return st;
  snprintf(sh->key, sizeof sh->key, "%s", s.key);
  sh->op = s.op;
  sh->p = s.p;
  sh->n = s.N;
  return FFTCONV_OK;
}

fftconv_status fc_cache_put_measurement(fc_cache *c, const fc_cache_config *cfg,
                                        const fc_cache_measurement *m, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!m || !m->status) return fc_fail(e, FFTCONV_ERR_INVALID, "measurement: NULL or no status");
  if (m->kernel && (st = cache_kernel_check(m->kernel, e)) != FFTCONV_OK) return st;
  cache_meas_row r = {.kernel = m->kernel_id, .status = m->status, .message = m->message,
                      .median_ms = m->median_ms, .p10_ms = m->p10_ms, .p90_ms = m->p90_ms,
                      .runs = m->runs, .rel_err = m->rel_err, .rigor = m->rigor,
                      .measured_at = cache_wall()};
  if ((st = cache_shape_of(m->op, m->problem, &r.sh, e)) != FFTCONV_OK) return st;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  if ((st = cache_device(c, cfg, &r.device, e)) != FFTCONV_OK) goto done;
  if (m->kernel) {
    fc_cache_kernel_row k = cache_new_kernel(m->kernel);
    if ((st = cache_kernel_store(c, &k, &r.kernel, e)) != FFTCONV_OK) goto done;
  }
  st = cache_put_row(c, Q_MEAS_PUT, &cache_measurements, &r, "storing a measurement", NULL, e);
  if (st == FFTCONV_ERR_INVALID)
    st = fc_fail(e, FFTCONV_ERR_INVALID, "cache %s has no kernel %lld", c->path,
                 (long long)r.kernel);
done:
  return cache_end(c, st, e);
}

fftconv_status fc_cache_measured(fc_cache *c, const fc_cache_config *cfg,
                                 const fftconv_problem *p, const char *hash, const char *params,
                                 int *found, fc_err *e) {
  return fc_cache_measured_op(c, cfg, FC_OP_FORWARD, p, hash, params, found, e);
}

fftconv_status fc_cache_measured_op(fc_cache *c, const fc_cache_config *cfg, int op,
                                    const fftconv_problem *p, const char *hash,
                                    const char *params, int *found, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!found || !hash || !params)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache measured: NULL argument");
  *found = 0;
  cache_shape sh;
  if ((st = cache_shape_of(op, p, &sh, e)) != FFTCONV_OK) return st;
  sqlite3_stmt *s = cache_stmt(c, Q_MEASURED, &st, e);
  if (!s) return st;
  cache_bind_dev(s, cfg);
  cache_nbind_text(s, ":key", sh.key);
  cache_nbind_text(s, ":hash", hash);
  cache_nbind_text(s, ":params", params);
  cache_nbind_int(s, ":sm", cfg->sm);
  cache_nbind_text(s, ":nvrtc", cfg->nvrtc);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *found = 1;
  else if (rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "looking a measurement up", e);
  sqlite3_reset(s);
  return st;
}

fftconv_status cache_rewin(fc_cache *c, int64_t dev, const char *key, const char *hashes,
                           const char *nvrtc, int sm, int64_t *kernel_id, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *b = cache_stmt(c, Q_BEST, &st, e);
  if (!b) return st;
  if (kernel_id) *kernel_id = 0;
  cache_nbind_int(b, ":dev", dev);
  cache_nbind_text(b, ":key", key);
  if (sm > 0)
    cache_nbind_int(b, ":sm", sm);
  else
    sqlite3_bind_null(b, cache_param(b, ":sm"));
  cache_nbind_text(b, ":hashes", hashes);
  cache_nbind_text(b, ":nvrtc", nvrtc);
  int rc = sqlite3_step(b);
  cache_meas_row m = {0};
  if (rc == SQLITE_ROW &&
      (st = cache_read_row(b, &cache_measurements, cache_map(c, Q_BEST, &cache_measurements, "m"),
                           &m, e)) == FFTCONV_OK) {
    cache_win_row w = {.device = dev, .sh = m.sh, .kernel = m.kernel, .median_ms = m.median_ms,
                       .chosen_at = cache_wall()};
    sqlite3_reset(b); /* the winner's row is copied: the read may end before the write */
    st = cache_put_row(c, Q_WINNER_PUT, &cache_winners, &w, "storing a winner", NULL, e);
    if (st == FFTCONV_OK && kernel_id) *kernel_id = w.kernel;
  } else if (rc == SQLITE_DONE) {
    cache_win_row w = {.device = dev};
    cache_copy(w.sh.key, sizeof w.sh.key, key);
    sqlite3_reset(b);
    st = cache_put_row(c, Q_WINNER_DEL, &cache_winners, &w, "storing a winner", NULL, e);
  } else if (st == FFTCONV_OK) {
    st = cache_sqlfail(c, rc, "choosing a winner", e);
  }
  sqlite3_reset(b);
  return st;
}

fftconv_status fc_cache_update_winner(fc_cache *c, const fc_cache_config *cfg,
                                      const fftconv_problem *p, const char *const *hashes,
                                      int nhashes, int64_t *kernel_id, fc_err *e) {
  return fc_cache_update_winner_op(c, cfg, FC_OP_FORWARD, p, hashes, nhashes, kernel_id, e);
}

fftconv_status fc_cache_update_winner_op(fc_cache *c, const fc_cache_config *cfg, int op,
                                         const fftconv_problem *p, const char *const *hashes,
                                         int nhashes, int64_t *kernel_id, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (kernel_id) *kernel_id = 0;
  cache_shape sh;
  fc_str hl = {0};
  if ((st = cache_shape_of(op, p, &sh, e)) != FFTCONV_OK) return st;
  if ((st = cache_hash_list(hashes, nhashes, &hl, e)) != FFTCONV_OK) {
    fc_str_free(&hl);
    return st;
  }
  int64_t dev = 0;
  cache_device_row d = {.d = *cfg->dev};
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) goto out;
  st = cache_id_of(c, Q_DEVICE_ID, &cache_devices, &d, "finding a device", &dev, e);
  if (st == FFTCONV_OK && dev) /* no device row: nothing was measured there, so no winner */
    st = cache_rewin(c, dev, sh.key, hl.s, cfg->nvrtc, cfg->sm > 0 ? cfg->sm : -1, kernel_id, e);
  st = cache_end(c, st, e);
  if (st != FFTCONV_OK && kernel_id) *kernel_id = 0;
out:
  fc_str_free(&hl);
  return st;
}

/* ---- device bandwidth ---- */

fftconv_status fc_cache_put_bandwidth(fc_cache *c, const fc_cache_config *cfg, double gbps,
                                      fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!(isfinite(gbps) && gbps > 0))
    return fc_fail(e, FFTCONV_ERR_INVALID, "copy bandwidth: %g GB/s is not a positive number",
                   gbps);
  cache_device_row d = {.copy_gbps = gbps};
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  if ((st = cache_device(c, cfg, &d.id, e)) == FFTCONV_OK)
    st = cache_put_row(c, Q_BANDWIDTH_PUT, &cache_devices, &d, "storing the copy bandwidth",
                       NULL, e);
  return cache_end(c, st, e);
}

fftconv_status fc_cache_get_bandwidth(fc_cache *c, const fc_cache_config *cfg, double *gbps,
                                      fc_err *e) {
  if (gbps) *gbps = NAN;
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!gbps) return fc_fail(e, FFTCONV_ERR_INVALID, "cache get_bandwidth: NULL argument");
  sqlite3_stmt *s = cache_stmt(c, Q_BANDWIDTH_GET, &st, e);
  if (!s) return st;
  cache_device_row d = {.d = *cfg->dev};
  if ((st = cache_bind_row(s, &cache_devices, &d, e)) == FFTCONV_OK) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      *gbps = cache_col_real(s, 0);
    else if (rc != SQLITE_DONE)
      st = cache_sqlfail(c, rc, "reading the copy bandwidth", e);
  }
  sqlite3_reset(s);
  return st;
}
