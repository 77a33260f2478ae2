/* cache lookup: the runtime's question, a trusted winner for a problem: the exact problem
 * key first, else the nearest shape. Reads only. */
#include "cache_int.h"
#include "store.h"

#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A trusted winner and what running it needs of its kernel row. */
static void gen_hit(fc_str *b, const char *which) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_winners, "w", CC_NOLOOKUP);
  fc_str_add(b, ", ");
  cache_sql_cols(b, &cache_kernels, "k", CC_NOLOOKUP);
  fc_str_add(b, " FROM devices d JOIN winners w ON w.device = d.id "
                "JOIN kernels k ON k.id = w.kernel WHERE " CACHE_DEV " AND k.sm = :sm "
                "AND k.cubin IS NOT NULL AND " CACHE_TRUST " AND %s", which);
}
static void gen_hit_exact(fc_str *b) { gen_hit(b, "w.problem_key = :key"); }
static void gen_hit_id(fc_str *b) { gen_hit(b, "w.id = :id"); }

/* The candidates of nearest-shape lookup: same op and N, every must-match field of the field
   table (fields.c: dtype, mode, gates, D, F) equal and the same K == L relation, from the
   covering index alone (no key, no bookkeeping). cache_near ranks them in C with
   fc_rank_nearest_op, the rule every store shares, and Q_HIT_ID applies the trust rule. */
static void gen_near(fc_str *b) {
  fc_str_add(b, "SELECT ");
  cache_sql_cols(b, &cache_winners, "w", CC_KEY | CC_NOLOOKUP);
  fc_str_add(b, " FROM devices d JOIN winners w ON w.device = d.id WHERE " CACHE_DEV
                " AND w.op = :op AND w.fft_size = :n");
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    if (f->rank == FC_RANK_MATCH) fc_str_add(b, " AND w.%s = :%s", f->name, f->name);
    if (f->rank == FC_RANK_FULL) fc_str_add(b, " AND (w.%s = w.seqlen) = :%s", f->name, f->name);
  }
}

const cache_gen_fn cache_lookup_gen[CACHE_NSTMT] = {
    [Q_HIT_EXACT] = gen_hit_exact, [Q_HIT_ID] = gen_hit_id, [Q_NEAR] = gen_near};
const char *const cache_lookup_sql[CACHE_NSTMT] = {NULL};

/* ---- lookup ---- */

void fc_cache_hit_free(fc_cache_hit *h) { fc_store_hit_free(h); }

/* Copies the current row of hit query q into hit. */
static fftconv_status cache_hit_read(fc_cache *c, int q, fc_cache_hit *h, fc_err *e) {
  sqlite3_stmt *s = c->st[q];
  cache_win_row w = {0};
  fc_cache_kernel_row k = {0};
  memset(h, 0, sizeof *h);
  fftconv_status st = cache_read_row(s, &cache_winners, cache_map(c, q, &cache_winners, "w"),
                                     &w, e);
  if (st == FFTCONV_OK)
    st = cache_read_row(s, &cache_kernels, cache_map(c, q, &cache_kernels, "k"), &k, e);
  if (st != FFTCONV_OK) return st;
  h->kernel_id = w.kernel;
  cache_copy(h->problem_key, sizeof h->problem_key, w.sh.key);
  h->median_ms = w.median_ms;
  cache_copy(h->tmpl, sizeof h->tmpl, k.k.tmpl);
  h->revision = k.k.revision;
  cache_copy(h->hash, sizeof h->hash, k.k.hash);
  h->manifest = k.k.manifest;
  h->params = k.k.params ? strdup(k.k.params) : NULL;
  h->cubin = malloc(k.k.cubin_size ? k.k.cubin_size : 1);
  if (!h->params || !h->cubin) {
    fc_cache_hit_free(h);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a cached kernel");
  }
  if (k.k.cubin_size) memcpy(h->cubin, k.k.cubin, k.k.cubin_size);
  h->cubin_size = k.k.cubin_size;
  return FFTCONV_OK;
}

/* A nearest-shape candidate: the winner row and the shape it was tuned for. */
typedef struct cache_cand {
  fc_rank_candidate r;
  int64_t winner; /* its row id, for Q_HIT_ID */
} cache_cand;

/* Runs Q_HIT_EXACT (id 0) or Q_HIT_ID: the hit, if trusted. */
static fftconv_status cache_hit_get(fc_cache *c, const fc_cache_config *cfg, const char *list,
                                    const char *key, int64_t id, fc_cache_hit *hit, int *found,
                                    fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, id ? Q_HIT_ID : Q_HIT_EXACT, &st, e);
  if (!s) return st;
  cache_bind_dev(s, cfg);
  cache_nbind_int(s, ":sm", cfg->sm);
  cache_nbind_text(s, ":hashes", list);
  cache_nbind_text(s, ":nvrtc", cfg->nvrtc);
  if (id)
    cache_nbind_int(s, ":id", id);
  else
    cache_nbind_text(s, ":key", key);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    if ((st = cache_hit_read(c, id ? Q_HIT_ID : Q_HIT_EXACT, hit, e)) == FFTCONV_OK) *found = 1;
  } else if (rc != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "looking a kernel up", e);
  }
  sqlite3_reset(s);
  return st;
}

/* The nearest shape's trusted winner: candidates ranked, then the first that passes the
   trust rule (usually the first) and whose kernel fits the shape's bounds (its workspace at
   this batch: a kernel tuned at B = 64 may ask for more than B = 1 is promised; plan creation
   would refuse it, so a farther neighbour, or a miss, is the answer). */
static fftconv_status cache_near(fc_cache *c, const fc_cache_config *cfg, const fc_shape *rs,
                                 const cache_shape *sh, const char *list, fc_cache_hit *hit,
                                 int *found, fc_err *e) {
  const fftconv_problem *p = &rs->p;
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, Q_NEAR, &st, e);
  if (!s) return st;
  cache_bind_dev(s, cfg);
  cache_nbind_text(s, ":op", fc_op_name(sh->op));
  cache_nbind_int(s, ":n", sh->n);
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    char name[64];
    snprintf(name, sizeof name, ":%s", f->name);
    int64_t v = fc_field_resolved(&sh->p, f);
    if (f->rank == FC_RANK_FULL)
      cache_nbind_int(s, name, v == p->seqlen);
    else if (f->rank != FC_RANK_MATCH)
      continue;
    else if (f->type == FC_FIELD_DTYPE || f->type == FC_FIELD_MODE)
      cache_nbind_text(s, name, fc_field_enum_name(f, v));
    else
      cache_nbind_int(s, name, v);
  }
  const short *map = cache_map(c, Q_NEAR, &cache_winners, "w");
  cache_cand stack[64], *v = stack;
  fc_rank_candidate rstack[64], *rv = rstack;
  int n = 0, cap = (int)(sizeof stack / sizeof stack[0]);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == cap) {
      cache_cand *bigger = malloc(2 * (size_t)cap * sizeof *bigger);
      if (!bigger) {
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
        break;
      }
      memcpy(bigger, v, (size_t)n * sizeof *v);
      if (v != stack) free(v);
      v = bigger;
      cap *= 2;
    }
    cache_win_row w = {0};
    fftconv_problem_init(&w.sh.p); /* the columns fill the fields; size marks it a problem */
    if ((st = cache_read_row(s, &cache_winners, map, &w, e)) != FFTCONV_OK) break;
    v[n++] = (cache_cand){{w.sh.p, w.median_ms, w.kernel}, w.id};
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "looking up nearest shapes", e);
  sqlite3_reset(s);
  if (st == FFTCONV_OK && n > (int)(sizeof rstack / sizeof rstack[0]) &&
      !(rv = malloc((size_t)n * sizeof *rv)))
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  for (int i = 0; st == FFTCONV_OK && i < n; i++) rv[i] = v[i].r;
  /* the nearest first; one that fails the trust rule leaves the running */
  while (st == FFTCONV_OK && !*found) {
    int i = fc_rank_nearest_op(sh->op, p, rv, NULL, n); /* Q_NEAR kept only sh->op's */
    if (i < 0) break;
    st = cache_hit_get(c, cfg, list, NULL, v[i].winner, hit, found, e);
    fc_err be = {{0}};
    if (st == FFTCONV_OK && *found && !fc_manifest_within_bounds(&hit->manifest, rs->op, rs, &be)) {
      fc_cache_hit_free(hit);
      memset(hit, 0, sizeof *hit);
      *found = 0;
    }
    v[i] = v[--n];
    rv[i] = rv[n];
  }
  if (v != stack) free(v);
  if (rv != rstack) free(rv);
  return st;
}

fftconv_status fc_cache_lookup(fc_cache *c, const fc_cache_config *cfg,
                               const fftconv_problem *p, const char *const *hashes, int nhashes,
                               fc_cache_hit *hit, int *found, fc_err *e) {
  if (hit) memset(hit, 0, sizeof *hit);
  if (found) *found = 0;
  fc_shape s;
  fftconv_status st = fc_shape_resolve(p, FC_OP_FORWARD, &s, e);
  if (st != FFTCONV_OK) return st;
  return fc_cache_lookup_shape(c, cfg, &s, hashes, nhashes, hit, found, e);
}

fftconv_status fc_cache_lookup_shape(fc_cache *c, const fc_cache_config *cfg, const fc_shape *s,
                                     const char *const *hashes, int nhashes, fc_cache_hit *hit,
                                     int *found, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!hit || !found || !s) return fc_fail(e, FFTCONV_ERR_INVALID, "cache lookup: NULL argument");
  memset(hit, 0, sizeof *hit);
  *found = 0;
  cache_shape sh = {.op = s->op, .p = s->p, .n = s->N};
  snprintf(sh.key, sizeof sh.key, "%s", s->key);
  /* the trusted-hash list on the stack: lookup sits on plan_create's path */
  char buf[1024];
  fc_str hl = {0};
  const char *list = buf;
  if (nhashes >= 0 && (size_t)nhashes * 18 + 2 <= sizeof buf) {
    size_t n = 1;
    buf[0] = ',';
    for (int i = 0; i < nhashes; i++) {
      size_t len = hashes && hashes[i] ? strlen(hashes[i]) : 0;
      if (!len || len > 16 || strchr(hashes[i], ','))
        return fc_fail(e, FFTCONV_ERR_INVALID, "hashes[%d]: not a template hash", i);
      memcpy(buf + n, hashes[i], len);
      n += len;
      buf[n++] = ',';
    }
    buf[n] = 0;
  } else {
    if ((st = cache_hash_list(hashes, nhashes, &hl, e)) != FFTCONV_OK) goto out;
    list = hl.s;
  }
  st = cache_hit_get(c, cfg, list, sh.key, 0, hit, found, e);
  if (st == FFTCONV_OK && *found)
    hit->exact = 1;
  else if (st == FFTCONV_OK)
    st = cache_near(c, cfg, s, &sh, list, hit, found, e);
out:
  fc_str_free(&hl);
  return st;
}


/* ---- the cache as a store ---- */

typedef struct cache_store {
  fc_cache *c;
  char desc[4200];
} cache_store;

static fftconv_status cache_store_lookup(void *impl, const fc_cache_config *cfg,
                                         const fc_shape *s, const char *const *hashes,
                                         int nhashes, fc_cache_hit *hit, int *found, fc_err *e) {
  return fc_cache_lookup_shape(((cache_store *)impl)->c, cfg, s, hashes, nhashes, hit, found, e);
}

static const char *cache_store_describe(const void *impl) {
  return ((const cache_store *)impl)->desc;
}

static void cache_store_close(void *impl) {
  cache_store *s = impl;
  fc_cache_close(s->c);
  free(s);
}

fc_store *fc_cache_store(fc_cache *c) {
  static const fc_store_ops ops = {cache_store_lookup, cache_store_describe, cache_store_close,
                                   NULL};
  cache_store *s = c ? malloc(sizeof *s) : NULL;
  fc_store *out = s ? fc_store_new(&ops, s) : NULL;
  if (!out) {
    free(s);
    fc_cache_close(c);
    return NULL;
  }
  s->c = c;
  snprintf(s->desc, sizeof s->desc, "cache %s", c->path);
  return out;
}
