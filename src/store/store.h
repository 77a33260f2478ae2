/* store: where the runtime finds a tuned kernel, as the store layer sees it: the store
 * interface (store_if.h, in the runtime, which plans from it) and the nearest-shape rule
 * every backend shares (fc_rank_nearest), so that every backend picks the same neighbour.
 * An exported bundle of fatbins (fc_bundle_store, bundle.h) is one backend; the SQLite cache
 * (fc_cache_store, cache/cache.h) is the other, plugged in from above (fc_ctx_hooks,
 * plan.h): this header and the runtime know no backend's header. */
#ifndef FC_STORE_H
#define FC_STORE_H

#include "fftconv.h"
#include "store_if.h"

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
