/* store_if: the store interface, what the runtime plans from. A store answers one question,
 * lookup: the trusted winner for a problem on the running configuration, exact or of the
 * nearest shape. Backends (a bundle, src/store/bundle.h; the SQLite cache, cache/cache.h)
 * build an fc_store from a table of functions (fc_store_new); the runtime sees only this
 * header, and gets its stores from the layers above (fc_ctx_hooks, plan.h). */
#ifndef FC_STORE_IF_H
#define FC_STORE_IF_H

#include <stddef.h>
#include <stdint.h>

#include "fftconv.h"
#include "kernel.h"
#include "shape.h"
#include "util.h"

/* What a store needs of the running configuration (the cache calls it fc_cache_config). */
typedef struct fc_store_config {
  const fc_device_info *dev; /* model = dev->name, dev->sms, dev->driver_version */
  int sm;                    /* compile target */
  const char *nvrtc;         /* "13.0"; NULL (no NVRTC: nothing is compiled) trusts kernels
                                of every NVRTC version */
} fc_store_config;

/* A lookup's answer: a trusted winner for the problem on the configuration's device, the
   exact problem key first, else the winner of the nearest shape (fc_rank_nearest) among those
   whose kernel fits the shape's bounds (fc_manifest_within_bounds). A winner whose cubin is
   missing is not a hit. (The cache calls it fc_cache_hit.) */
typedef struct fc_store_hit {
  int64_t kernel_id;     /* the backend's id (a bundle's module i: -1 - i) */
  int exact;             /* 1: the problem's own winner; 0: nearest shape */
  char problem_key[256]; /* the key whose winner this is */
  char tmpl[64];
  int revision;
  char hash[17];
  char *params;          /* malloc'd */
  void *cubin;           /* malloc'd */
  size_t cubin_size;
  fc_manifest manifest;  /* its launches */
  double median_ms;
  int cubin_borrowed;    /* 1: cubin belongs to the store (a bundle's fatbin, loaded once at
                            open) and fc_store_hit_free leaves it */
  char rung[320];        /* how the store words the hit for describe, or "" (plan.c words a
                            cache hit) */
} fc_store_hit;
void fc_store_hit_free(fc_store_hit *h); /* frees members; accepts a zeroed hit */

typedef struct fc_store fc_store;

/* hit and found for a resolved shape (nothing is checked again); hashes: the trusted
   template hashes (fc_trusted_hashes). */
fftconv_status fc_store_lookup(fc_store *s, const fc_store_config *cfg, const fc_shape *sh,
                               const char *const *hashes, int nhashes, fc_store_hit *hit,
                               int *found, fc_err *e);
const char *fc_store_describe(const fc_store *s); /* e.g. "cache /path/cache.db" */
void fc_store_close(fc_store *s);                 /* accepts NULL; closes what it owns */
/* Tells the store which compute capability runs its kernels (a bundle skips the modules the
   device cannot run, and fails when it can run none); FFTCONV_OK for a store without the
   notion. */
fftconv_status fc_store_set_device(fc_store *s, int sm, fc_err *e);

/* ---- for backends ---- */

typedef struct fc_store_ops {
  fftconv_status (*lookup)(void *impl, const fc_store_config *cfg, const fc_shape *sh,
                           const char *const *hashes, int nhashes, fc_store_hit *hit,
                           int *found, fc_err *e);
  const char *(*describe)(const void *impl);
  void (*close)(void *impl);
  fftconv_status (*set_device)(void *impl, int sm, fc_err *e); /* NULL: nothing to do */
} fc_store_ops;
/* NULL when out of memory (impl is not closed then). */
fc_store *fc_store_new(const fc_store_ops *ops, void *impl);

#endif
