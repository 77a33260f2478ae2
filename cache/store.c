/* cache store: what the tuner writes: kernels, devices and their bandwidth, measurements,
 * and the winner recomputed from them. Every write is one BEGIN IMMEDIATE transaction. */
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

const char *const cache_store_sql[CACHE_NSTMT] = {
    /* A row whose earlier compilation failed, or whose binary slimming dropped, takes the
       outputs of one that succeeded. */
    [Q_KERNEL_PUT] =
        "INSERT INTO kernels (" CACHE_KCOLS ") VALUES (" CACHE_KVALS ") "
        "ON CONFLICT (hash, params, sm, nvrtc) DO UPDATE SET cubin = excluded.cubin, "
        "ptx = excluded.ptx, log = excluded.log, registers = excluded.registers, "
        "smem_static = excluded.smem_static, stack = excluded.stack, "
        "spill_stores = excluded.spill_stores, spill_loads = excluded.spill_loads, "
        "compile_seconds = excluded.compile_seconds, binary_dropped = excluded.binary_dropped, "
        "source_hash = coalesce(kernels.source_hash, excluded.source_hash) "
        "WHERE kernels.cubin IS NULL AND excluded.cubin IS NOT NULL",
    [Q_KERNEL_ID] = "SELECT id FROM kernels WHERE hash = ?1 AND params = ?2 AND sm = ?3 "
                    "AND nvrtc = ?4",
    [Q_DEVICE_PUT] = "INSERT INTO devices (model, sms, driver_version, sm, smem_optin, "
                     "l2_bytes, total_mem, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                     "ON CONFLICT (model, sms, driver_version) DO NOTHING",
    [Q_DEVICE_ID] = "SELECT id FROM devices WHERE model = ?1 AND sms = ?2 "
                    "AND driver_version = ?3",
    [Q_BANDWIDTH_PUT] = "UPDATE devices SET copy_gbps = ?2 WHERE id = ?1",
    [Q_BANDWIDTH_GET] = "SELECT copy_gbps FROM devices WHERE model = ?1 AND sms = ?2 "
                        "AND driver_version = ?3",
    [Q_MEAS_PUT] = "INSERT INTO measurements (" CACHE_MCOLS ") VALUES (" CACHE_MVALS ") "
                   "ON CONFLICT (device, problem_key, kernel) DO UPDATE SET " CACHE_MSET,
    [Q_MEASURED] = "SELECT 1 FROM devices d JOIN measurements m ON m.device = d.id "
                   "JOIN kernels k ON k.id = m.kernel WHERE " CACHE_DEV
                   " AND m.problem_key = :key AND k.hash = :hash AND k.params = :params "
                   "AND k.sm = :sm AND k.nvrtc = :nvrtc LIMIT 1",
    /* The fastest trusted ok measurement of (device, problem); :sm NULL means the device's
       own arch (prune and merge, which have no running configuration). */
    [Q_BEST] = "SELECT m.kernel, m.median_ms, m.batch, m.heads, m.seqlen, m.filter_len, "
               "m.freq_keep, m.fft_size, m.dtype, m.mode, m.pre_gate, m.post_gate, m.skip_d "
               "FROM measurements m JOIN kernels k ON k.id = m.kernel "
               "JOIN devices d ON d.id = m.device "
               "WHERE m.device = :dev AND m.problem_key = :key AND m.status = 'ok' "
               "AND m.median_ms IS NOT NULL AND k.cubin IS NOT NULL "
               "AND k.sm = coalesce(:sm, d.sm) AND " CACHE_TRUST
               " ORDER BY m.median_ms, m.kernel LIMIT 1",
    [Q_WINNER_PUT] = "INSERT INTO winners (device, problem_key, batch, heads, seqlen, "
                     "filter_len, freq_keep, fft_size, dtype, mode, pre_gate, post_gate, "
                     "skip_d, kernel, median_ms, chosen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                     "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
                     "ON CONFLICT (device, problem_key) DO UPDATE SET kernel = excluded.kernel, "
                     "median_ms = excluded.median_ms, chosen_at = excluded.chosen_at",
    [Q_WINNER_DEL] = "DELETE FROM winners WHERE device = ?1 AND problem_key = ?2",
};

/* ---- kernels ---- */

/* Binds k for Q_KERNEL_PUT: the source's hash (hash, 17 bytes) in place of the source. */
static void cache_kernel_bind(sqlite3_stmt *s, const fc_cache_kernel *k, const char *hash,
                              double created) {
  cache_bind_text(s, 1, k->tmpl);
  sqlite3_bind_int(s, 2, k->revision);
  cache_bind_text(s, 3, k->hash);
  cache_bind_text(s, 4, k->params);
  sqlite3_bind_int(s, 5, k->sm);
  cache_bind_text(s, 6, k->nvrtc);
  sqlite3_bind_null(s, 7);
  cache_bind_text(s, 8, hash);
  if (k->cubin)
    sqlite3_bind_blob64(s, 9, k->cubin, k->cubin_size, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, 9);
  cache_bind_text(s, 10, k->ptx);
  cache_bind_text(s, 11, k->log);
  sqlite3_bind_int(s, 12, k->registers);
  sqlite3_bind_int(s, 13, k->smem_static);
  sqlite3_bind_int(s, 14, k->stack);
  sqlite3_bind_int(s, 15, k->spill_stores);
  sqlite3_bind_int(s, 16, k->spill_loads);
  cache_bind_real(s, 17, k->compile_seconds);
  const fc_layout *l = &k->layout;
  sqlite3_bind_int(s, 18, l->threads);
  sqlite3_bind_int(s, 19, l->smem);
  sqlite3_bind_int(s, 20, l->seqs);
  sqlite3_bind_int(s, 21, l->prep_threads);
  sqlite3_bind_int(s, 22, l->prep_smem);
  sqlite3_bind_int(s, 23, l->prep_seqs);
  sqlite3_bind_int64(s, 24, l->khat);
  sqlite3_bind_int64(s, 25, l->khat_table);
  cache_bind_text(s, 26, k->fwd_entry);
  cache_bind_text(s, 27, k->prep_entry);
  cache_bind_real(s, 28, created);
  sqlite3_bind_null(s, 29); /* binary_dropped */
}

fftconv_status cache_kernel_id(fc_cache *c, int q, const char *hash, const char *params,
                                      int sm, const char *nvrtc, int64_t *id, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  cache_bind_text(s, 1, hash);
  cache_bind_text(s, 2, params);
  sqlite3_bind_int(s, 3, sm);
  cache_bind_text(s, 4, nvrtc);
  int rc = sqlite3_step(s);
  *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = cache_sqlfail(c, rc, "finding a kernel", e);
  sqlite3_reset(s);
  return st;
}

static fftconv_status cache_kernel_check(const fc_cache_kernel *k, fc_err *e) {
  if (!k->tmpl || !k->hash || !k->params || !k->nvrtc || !k->source || !k->fwd_entry ||
      !k->prep_entry)
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "cache kernel: template, hash, params, nvrtc, source and entry names are "
                   "required");
  return FFTCONV_OK;
}

/* Stores k (or finds its row) inside the caller's write transaction. */
static fftconv_status cache_kernel_store(fc_cache *c, const fc_cache_kernel *k, int64_t *id,
                                         fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  char hash[17];
  cache_source_hash(k->source, strlen(k->source), hash);
  sqlite3_stmt *s = cache_stmt(c, Q_KERNEL_PUT, &st, e);
  if (!s) return st;
  cache_kernel_bind(s, k, hash, cache_wall());
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return cache_sqlfail(c, rc, "storing a kernel", e);
  return cache_kernel_id(c, Q_KERNEL_ID, k->hash, k->params, k->sm, k->nvrtc, id, e);
}

fftconv_status fc_cache_put_kernel(fc_cache *c, const fc_cache_kernel *k, int64_t *id,
                                   fc_err *e) {
  if (!c || !k || !id) return fc_fail(e, FFTCONV_ERR_INVALID, "cache put_kernel: NULL argument");
  *id = 0;
  fftconv_status st = cache_kernel_check(k, e);
  if (st != FFTCONV_OK) return st;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  st = cache_kernel_store(c, k, id, e);
  return cache_end(c, st, e);
}


/* ---- measurements and winners ---- */

/* The device row of cfg, created if missing (inside the caller's write transaction). */
static fftconv_status cache_device(fc_cache *c, const fc_cache_config *cfg, int64_t *id,
                                   fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  const fc_device_info *d = cfg->dev;
  sqlite3_stmt *s = cache_stmt(c, Q_DEVICE_PUT, &st, e);
  if (!s) return st;
  cache_bind_text(s, 1, d->name);
  sqlite3_bind_int(s, 2, d->sms);
  sqlite3_bind_int(s, 3, d->driver_version);
  sqlite3_bind_int(s, 4, d->sm);
  sqlite3_bind_int(s, 5, d->smem_optin);
  sqlite3_bind_int64(s, 6, d->l2_bytes);
  sqlite3_bind_int64(s, 7, d->total_mem);
  sqlite3_bind_double(s, 8, cache_wall());
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return cache_sqlfail(c, rc, "storing a device", e);
  if (!(s = cache_stmt(c, Q_DEVICE_ID, &st, e))) return st;
  cache_bind_text(s, 1, d->name);
  sqlite3_bind_int(s, 2, d->sms);
  sqlite3_bind_int(s, 3, d->driver_version);
  rc = sqlite3_step(s);
  *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  if (rc != SQLITE_ROW) st = cache_sqlfail(c, rc, "finding a device", e);
  sqlite3_reset(s);
  return st;
}

fftconv_status cache_shape_of(const fftconv_problem *p, cache_shape *sh, fc_err *e) {
  char why[512];
  if (!p) return fc_fail(e, FFTCONV_ERR_INVALID, "problem: NULL");
  if (fftconv_problem_check(p, why, sizeof why) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s", why);
  int n = fftconv_problem_key(p, sh->key, sizeof sh->key);
  if (n < 0 || (size_t)n >= sizeof sh->key)
    return fc_fail(e, FFTCONV_ERR_INVALID, "problem key longer than %zu bytes", sizeof sh->key);
  sh->k = p->filter_len ? p->filter_len : p->seqlen;
  sh->n = fftconv_problem_fft_size(p);
  return FFTCONV_OK;
}

fftconv_status fc_cache_put_measurement(fc_cache *c, const fc_cache_config *cfg,
                                        const fc_cache_measurement *m, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!m || !m->status) return fc_fail(e, FFTCONV_ERR_INVALID, "measurement: NULL or no status");
  if (m->kernel && (st = cache_kernel_check(m->kernel, e)) != FFTCONV_OK) return st;
  cache_shape sh;
  if ((st = cache_shape_of(m->problem, &sh, e)) != FFTCONV_OK) return st;
  const fftconv_problem *p = m->problem;
  int64_t dev = 0, kid = m->kernel_id;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  if ((st = cache_device(c, cfg, &dev, e)) != FFTCONV_OK) goto done;
  if (m->kernel && (st = cache_kernel_store(c, m->kernel, &kid, e)) != FFTCONV_OK) goto done;
  sqlite3_stmt *s = cache_stmt(c, Q_MEAS_PUT, &st, e);
  if (!s) goto done;
  sqlite3_bind_int64(s, 1, dev);
  cache_bind_text(s, 2, sh.key);
  sqlite3_bind_int64(s, 3, p->batch);
  sqlite3_bind_int64(s, 4, p->heads);
  sqlite3_bind_int64(s, 5, p->seqlen);
  sqlite3_bind_int64(s, 6, sh.k);
  sqlite3_bind_int64(s, 7, p->freq_keep);
  sqlite3_bind_int64(s, 8, sh.n);
  cache_bind_text(s, 9, fftconv_dtype_name(p->dtype));
  cache_bind_text(s, 10, fftconv_mode_name(p->mode));
  sqlite3_bind_int(s, 11, p->pre_gate);
  sqlite3_bind_int(s, 12, p->post_gate);
  sqlite3_bind_int(s, 13, p->skip_d);
  sqlite3_bind_int64(s, 14, kid);
  cache_bind_text(s, 15, m->status);
  cache_bind_text(s, 16, m->message);
  cache_bind_real(s, 17, m->median_ms);
  cache_bind_real(s, 18, m->p10_ms);
  cache_bind_real(s, 19, m->p90_ms);
  sqlite3_bind_int(s, 20, m->runs);
  cache_bind_real(s, 21, m->rel_err);
  cache_bind_text(s, 22, m->rigor);
  sqlite3_bind_double(s, 23, cache_wall());
  int rc = sqlite3_step(s);
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    st = fc_fail(e, FFTCONV_ERR_INVALID, "cache %s has no kernel %lld", c->path,
                 (long long)kid);
  else if (rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "storing a measurement", e);
done:
  return cache_end(c, st, e);
}

fftconv_status fc_cache_measured(fc_cache *c, const fc_cache_config *cfg,
                                 const fftconv_problem *p, const char *hash, const char *params,
                                 int *found, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!found || !hash || !params)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache measured: NULL argument");
  *found = 0;
  cache_shape sh;
  if ((st = cache_shape_of(p, &sh, e)) != FFTCONV_OK) return st;
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

/* Recomputes the winner of (dev, key) inside the caller's write transaction. sm <= 0: the
   device's own arch. *kernel_id (if given): the winner, 0 for none (and no row). */
fftconv_status cache_rewin(fc_cache *c, int64_t dev, const char *key, const char *hashes,
                                  const char *nvrtc, int sm, int64_t *kernel_id, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *b = cache_stmt(c, Q_BEST, &st, e), *w = NULL;
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
  if (rc == SQLITE_ROW) {
    if (!(w = cache_stmt(c, Q_WINNER_PUT, &st, e))) goto done;
    sqlite3_bind_int64(w, 1, dev);
    cache_bind_text(w, 2, key);
    for (int i = 2; i <= 12; i++) sqlite3_bind_value(w, i + 1, sqlite3_column_value(b, i));
    sqlite3_bind_int64(w, 14, sqlite3_column_int64(b, 0));
    sqlite3_bind_double(w, 15, sqlite3_column_double(b, 1));
    sqlite3_bind_double(w, 16, cache_wall());
    if (kernel_id) *kernel_id = sqlite3_column_int64(b, 0);
  } else if (rc == SQLITE_DONE) {
    if (!(w = cache_stmt(c, Q_WINNER_DEL, &st, e))) goto done;
    sqlite3_bind_int64(w, 1, dev);
    cache_bind_text(w, 2, key);
  } else {
    st = cache_sqlfail(c, rc, "choosing a winner", e);
    goto done;
  }
  if ((rc = sqlite3_step(w)) != SQLITE_DONE) st = cache_sqlfail(c, rc, "storing a winner", e);
done:
  if (w) sqlite3_reset(w);
  sqlite3_reset(b);
  return st;
}

fftconv_status fc_cache_update_winner(fc_cache *c, const fc_cache_config *cfg,
                                      const fftconv_problem *p, const char *const *hashes,
                                      int nhashes, int64_t *kernel_id, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (kernel_id) *kernel_id = 0;
  cache_shape sh;
  fc_str hl = {0};
  if ((st = cache_shape_of(p, &sh, e)) != FFTCONV_OK) return st;
  if ((st = cache_hash_list(hashes, nhashes, &hl, e)) != FFTCONV_OK) {
    fc_str_free(&hl);
    return st;
  }
  int64_t dev = 0;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) goto out;
  sqlite3_stmt *s = cache_stmt(c, Q_DEVICE_ID, &st, e);
  if (!s) goto done;
  cache_bind_text(s, 1, cfg->dev->name);
  sqlite3_bind_int(s, 2, cfg->dev->sms);
  sqlite3_bind_int(s, 3, cfg->dev->driver_version);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) dev = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "finding a device", e);
    goto done;
  }
  if (dev) /* no device row: nothing was ever measured there, so there is no winner */
    st = cache_rewin(c, dev, sh.key, hl.s, cfg->nvrtc, cfg->sm > 0 ? cfg->sm : -1, kernel_id, e);
done:
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
  int64_t dev = 0;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) return st;
  if ((st = cache_device(c, cfg, &dev, e)) != FFTCONV_OK) goto done;
  sqlite3_stmt *s = cache_stmt(c, Q_BANDWIDTH_PUT, &st, e);
  if (!s) goto done;
  sqlite3_bind_int64(s, 1, dev);
  sqlite3_bind_double(s, 2, gbps);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) st = cache_sqlfail(c, rc, "storing the copy bandwidth", e);
done:
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
  cache_bind_text(s, 1, cfg->dev->name);
  sqlite3_bind_int(s, 2, cfg->dev->sms);
  sqlite3_bind_int(s, 3, cfg->dev->driver_version);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *gbps = cache_col_real(s, 0);
  else if (rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "reading the copy bandwidth", e);
  sqlite3_reset(s);
  return st;
}

