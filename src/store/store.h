/* store: where the runtime finds a tuned kernel. A store answers one question, lookup: the
 * trusted winner for a problem on the running configuration, exact or of the nearest shape.
 * The SQLite cache is one backend (fc_cache_store, cache/lookup.c); an exported bundle of
 * fatbins (fc_bundle_store, bundle.h) is the other, behind the same three calls. Backends build an fc_store from
 * a table of functions (fc_store_new) and share the nearest-shape rule (fc_rank_nearest), so
 * that every backend picks the same neighbour. */
#ifndef FC_STORE_H
#define FC_STORE_H

#include "cache.h"

typedef struct fc_store fc_store;

/* hit and found as fc_cache_lookup's, for a resolved shape (nothing is checked again);
   hashes: the trusted template hashes (fc_trusted_hashes). */
fftconv_status fc_store_lookup(fc_store *s, const fc_cache_config *cfg, const fc_shape *sh,
                               const char *const *hashes, int nhashes, fc_cache_hit *hit,
                               int *found, fc_err *e);
const char *fc_store_describe(const fc_store *s); /* e.g. "cache /path/cache.db" */
void fc_store_close(fc_store *s);                 /* accepts NULL; closes what it owns */

/* The SQLite cache as a store; the store owns c from then on (fc_store_close closes it).
   NULL when out of memory (c is closed then too). */
fc_store *fc_cache_store(fc_cache *c);

/* ---- for backends ---- */

typedef struct fc_store_ops {
  fftconv_status (*lookup)(void *impl, const fc_cache_config *cfg, const fc_shape *sh,
                           const char *const *hashes, int nhashes, fc_cache_hit *hit,
                           int *found, fc_err *e);
  const char *(*describe)(const void *impl);
  void (*close)(void *impl);
} fc_store_ops;
/* NULL when out of memory (impl is not closed then). */
fc_store *fc_store_new(const fc_store_ops *ops, void *impl);

/* Nearest shape (rank.c). A candidate is the problem a winner was tuned for. It can stand in
   for `want` when it has the same FFT size, dtype, mode, gates, D flag, freq_keep and filter
   relation (K == L or not); among those the nearest is the closest in log(B*H), then in
   seqlen, then the faster (median_ms), then the smaller id: a total order, so the choice
   never depends on the order of c. Returns its index, or -1 when none can stand in. */
typedef struct fc_rank_candidate {
  fftconv_problem shape; /* filter_len 0 means seqlen, as in a problem */
  double median_ms;
  int64_t id;            /* the backend's id of the winner's kernel */
} fc_rank_candidate;
int fc_rank_nearest(const fftconv_problem *want, const fc_rank_candidate *c, int n);
/* The same for an op: ops[i] is the op candidate i was tuned for, and only one of op `op`
   stands in; ops NULL: the backend kept only op's candidates (the cache does, in SQL).
   fc_rank_nearest is fc_rank_nearest_op(FC_OP_FORWARD, want, c, NULL, n), for backends that
   hold forward shapes alone. The fields that must match are fields.c's FC_RANK_MATCH ones. */
int fc_rank_nearest_op(int op, const fftconv_problem *want, const fc_rank_candidate *c,
                       const int *ops, int n);

#endif
