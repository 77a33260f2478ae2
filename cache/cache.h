/* cache: the SQLite kernel cache. One file holds devices (with their measured copy
 * bandwidth), compiled kernels (a hash of the source, cubin, PTX, resources, launch manifest),
 * every measurement of every candidate (failures included) and the winners. Owns the schema
 * (PRAGMA application_id, user_version = schema version, migrations from every older
 * version), WAL, a busy timeout, and writes in BEGIN IMMEDIATE transactions. A broken,
 * foreign or newer-schema file is reported and never modified.
 *
 * It stays small: the source is not stored (emission is deterministic; fc_cache_source emits
 * it again and checks it against the stored hash), and fc_cache_slim drops the cubin, PTX and
 * log of every kernel that is neither a winner nor a finalist of some problem, keeping its
 * measurements (resume needs them) and its resources.
 *
 * Keys:
 *   kernel       (template hash, params JSON, arch sm, NVRTC version)
 *   device       (model, SM count, driver version)
 *   measurement  (device, problem key, kernel)
 *   winner       (device, problem key)
 * "Trusted" for the running configuration means: the kernel's template hash is the embedded
 * template's current hash, its NVRTC version is the running NVRTC's, its arch is the device's
 * compile target, and the measurement was made on a device row with the same model, SM count
 * and driver version. Older rows are kept but never used by lookup or resume.
 *
 * Callers: plan.c (lookup, read-only), the tuner (writes), fftconv-cache. One fc_cache per
 * thread; several processes may share a file. */
#ifndef FC_CACHE_H
#define FC_CACHE_H

#include <stdint.h>

#include "fftconv.h"
#include "kernel.h"
#include "shape.h"
#include "store.h"
#include "util.h"

#define FC_CACHE_ENV "FFTCONV_CACHE" /* overrides the default path */
/* The largest value (text or blob) a cache connection reads or writes, in bytes: a cubin is
   well under 1 MB. A damaged or hostile file with a larger value gets FFTCONV_ERR_IO ("string
   or blob too big") from the statement that meets it, before anything is copied out of it. */
#define FC_CACHE_MAX_VALUE (64 << 20)

typedef struct fc_cache fc_cache;

/* The default path: $FFTCONV_CACHE, else $XDG_CACHE_HOME/fftconv/cache.db, else
   $HOME/.cache/fftconv/cache.db. */
fftconv_status fc_cache_default_path(char *buf, size_t len, fc_err *e);

/* Opens path (NULL: the default). writable: creates the file and its directory if missing,
   migrates an older schema; a file that cannot be written is FFTCONV_ERR_IO "cache PATH is
   read-only: ...". Read-only: a missing file is FFTCONV_ERR_IO "no cache at PATH". Any file
   that is not an fftconv cache (garbage, truncated, another application_id) or has a newer
   schema is FFTCONV_ERR_IO with a message naming the path and the reason, and is left as it
   is. */
fftconv_status fc_cache_open(const char *path, int writable, fc_cache **out, fc_err *e);
/* writable = this: read-only, and a file of an older schema is opened as it is, unmigrated.
   Only for counting what fc_cache_prune would do (its dry run reads no column that an older
   schema lacks); anything else may fail on such a file. fftconv-cache prune --dry-run. */
#define FC_CACHE_READ_ANY_VERSION 2
void fc_cache_close(fc_cache *c); /* accepts NULL */
const char *fc_cache_path(const fc_cache *c);
int fc_cache_schema_version(void); /* the version this build writes */

/* What the cache needs of the running configuration: the store's (store.h). */
typedef fc_store_config fc_cache_config;

typedef struct fc_cache_kernel {
  const char *tmpl;      /* template name */
  int revision;
  const char *hash;      /* template hash, 16 hex */
  const char *params;    /* canonical JSON */
  int sm;
  const char *nvrtc;
  const char *source;    /* put: required, and only its hash is stored; read: NULL unless a
                            schema-2 file stored it and it was not slimmed since */
  const char *source_hash; /* read: FNV-1a 64 (16 hex) of the emitted source (computed from
                            source when a schema-2 row has only that); put: ignored */
  const void *cubin;     /* NULL when compilation failed, or dropped by fc_cache_slim */
  size_t cubin_size;
  const char *ptx;       /* may be NULL */
  const char *log;       /* NVRTC log, may be NULL */
  int registers, smem_static, stack, spill_stores, spill_loads;
  double compile_seconds;
  fc_manifest manifest;  /* its launches; put: must pass fc_manifest_check */
} fc_cache_kernel;

/* Inserts the kernel or finds the existing row with the same key; *id is its row id. An
   existing row without a cubin (its compilation failed, or fc_cache_slim dropped it) takes
   this one's cubin, PTX and log. */
fftconv_status fc_cache_put_kernel(fc_cache *c, const fc_cache_kernel *k, int64_t *id, fc_err *e);

typedef struct fc_cache_measurement {
  const fftconv_problem *problem;
  int op;                /* the problem's op (shape.h); 0: forward */
  int64_t kernel_id;
  const char *status;    /* "ok", "compile-failed", "verify-failed", "launch-failed" */
  const char *message;   /* why, or NULL */
  double median_ms, p10_ms, p90_ms;
  int runs;
  double rel_err;        /* on the verification shape; NaN/inf stored as NULL */
  const char *rigor;     /* "estimate", "measure", "exhaustive" */
  const fc_cache_kernel *kernel; /* optional: the kernel again, stored as by
                            fc_cache_put_kernel in the same transaction (kernel_id is then its
                            row's). Another tuner sharing the file may have slimmed the row of
                            a candidate compiled minutes ago; an ok measurement stored with its
                            kernel leaves that kernel with a cubin, so that it can win. */
} fc_cache_measurement;

/* Inserts or replaces the measurement of (device of cfg, problem key, kernel), in its own
   BEGIN IMMEDIATE transaction: a measurement is kept as soon as this returns. */
fftconv_status fc_cache_put_measurement(fc_cache *c, const fc_cache_config *cfg,
                                        const fc_cache_measurement *m, fc_err *e);

/* Has (device of cfg, problem, kernel key (hash, params, cfg->sm, cfg->nvrtc)) a measurement
   already, of any status? For resuming. */
fftconv_status fc_cache_measured(fc_cache *c, const fc_cache_config *cfg,
                                 const fftconv_problem *p, const char *hash, const char *params,
                                 int *found, fc_err *e);

/* The same for an op (shape.h); fc_cache_measured is this for FC_OP_FORWARD. */
fftconv_status fc_cache_measured_op(fc_cache *c, const fc_cache_config *cfg, int op,
                                    const fftconv_problem *p, const char *hash,
                                    const char *params, int *found, fc_err *e);

/* Recomputes the winner of (device of cfg, problem): the trusted "ok" measurement with the
   smallest median whose kernel has a cubin (trusted: kernel hash in `hashes` (n of them; the
   current template hashes), kernel nvrtc/sm as cfg). No such measurement: no winner row.
   *kernel_id 0 then. */
fftconv_status fc_cache_update_winner(fc_cache *c, const fc_cache_config *cfg,
                                      const fftconv_problem *p, const char *const *hashes,
                                      int nhashes, int64_t *kernel_id, fc_err *e);
/* The same for an op; fc_cache_update_winner is this for FC_OP_FORWARD. */
fftconv_status fc_cache_update_winner_op(fc_cache *c, const fc_cache_config *cfg, int op,
                                         const fftconv_problem *p, const char *const *hashes,
                                         int nhashes, int64_t *kernel_id, fc_err *e);

/* A trusted winner for the problem on cfg's device: the exact problem key first, else the
   winner of the nearest shape with the same FFT size, dtype, mode, gates, D flag, filter
   length relation (K == L or not) and freq_keep, differing in batch, heads or seqlen (closest
   in log(B*H), then in seqlen). A winner whose cubin is missing is not a hit. */
typedef fc_store_hit fc_cache_hit; /* the store's hit (store.h) */
fftconv_status fc_cache_lookup(fc_cache *c, const fc_cache_config *cfg,
                               const fftconv_problem *p, const char *const *hashes, int nhashes,
                               fc_cache_hit *hit, int *found, fc_err *e);
void fc_cache_hit_free(fc_cache_hit *h); /* fc_store_hit_free */
/* The same for a shape resolved already (fc_shape_resolve): the runtime's path, which checks
   the problem once, at the API edge. */
fftconv_status fc_cache_lookup_shape(fc_cache *c, const fc_cache_config *cfg, const fc_shape *s,
                                     const char *const *hashes, int nhashes, fc_cache_hit *hit,
                                     int *found, fc_err *e);

/* The measured copy bandwidth of cfg's device (GB/s, read + write), kept in its device row. */
fftconv_status fc_cache_put_bandwidth(fc_cache *c, const fc_cache_config *cfg, double gbps, fc_err *e);
/* *gbps is NaN when the device row is missing or has none. Works on a read-only open. */
fftconv_status fc_cache_get_bandwidth(fc_cache *c, const fc_cache_config *cfg, double *gbps, fc_err *e);

/* How many of a problem's fastest ok measurements keep their kernel's cubin besides the
   winner: the tuner's finalist count (rigor measure times this many again with --runs). */
#define FC_CACHE_FINALISTS 4

/* What fc_cache_slim and fc_cache_prune dropped (or, dry run, would drop). */
typedef struct fc_cache_slimmed {
  int64_t binaries;      /* kernels whose cubin, PTX and log were dropped */
  int64_t sources;       /* kernels whose stored source (schema 2) was dropped */
  int64_t bytes;         /* bytes of source, cubin, PTX and log dropped; VACUUM gives back
                            about this much (and prune's removed kernels' bytes) */
} fc_cache_slimmed;

/* Keeps binaries only for what can be used. A kernel is kept whole when it is the winner of
   some (device, problem) or a finalist of one: among that (device, problem)'s ok
   measurements, one of the `finalists` fastest (by median, then kernel id; every kernel,
   trusted or not). Every other kernel loses its cubin, PTX and log (binary_dropped records
   when); its row, resources, manifest and measurements stay, so resume still skips it and
   fc_cache_put_kernel restores the cubin when a later run compiles it again. A kernel whose
   compilation failed keeps its log. The stored source of every kernel (schema 2) is dropped,
   its hash kept. One BEGIN IMMEDIATE transaction; no VACUUM (the pages are reused by later
   writes; fc_cache_prune gives them back). The tuner runs it after each problem's winner.
   dry_run: counts only (works on a read-only open). */
fftconv_status fc_cache_slim(fc_cache *c, int finalists, int dry_run, fc_cache_slimmed *out,
                             fc_err *e);

/* The SQLite cache as a store (store.h); the store owns c from then on (fc_store_close
   closes it). NULL when out of memory (c is closed then too). */
fc_store *fc_cache_store(fc_cache *c);

/* Gives back the file's free pages (VACUUM, then the WAL truncated) when they are at least
   `min_fraction` of it (0: always); *before and *after are the file's bytes (either may be
   NULL). Slimming leaves free pages that later writes reuse, so the tuner compacts once at
   the end of a run. FFTCONV_ERR_IO "cache PATH is busy" when another connection holds it. */
fftconv_status fc_cache_compact(fc_cache *c, double min_fraction, int64_t *before,
                                int64_t *after, fc_err *e);

/* The kernel's CUDA source into *source (malloc'd): the stored text when there is one, else
   emitted again through the embedded template (emission is deterministic) for the kernel's
   params and arch, and checked against source_hash. FFTCONV_ERR_UNSUPPORTED with the reason
   when it cannot be emitted again (its template is not embedded in this build or its hash is
   not the embedded template's: the template changed since); FFTCONV_ERR_IO when the emitted
   text does not hash to source_hash (or the row has no hash to check it against). */
fftconv_status fc_cache_source(const fc_cache_kernel *k, char **source, fc_err *e);

/* ---- for fftconv-cache, the tuner and tests ---- */

/* What fc_cache_open does beyond the contract above:
   - a read-only open of a file with an older schema is FFTCONV_ERR_IO "cache PATH has schema
     version N; open it writable once (...) to migrate it": the runtime never writes;
   - a new file is built under a temporary name beside PATH and linked into place, so that
     concurrent creators and readers see no file or a complete cache;
   - writable: journal_mode WAL, synchronous NORMAL (a committed write survives a crash of
     the process; a power cut may lose the last few, which is a miss); read-only: a WAL file
     in a directory where its -shm cannot be created is read as immutable when no -wal file
     exists beside it. */

/* How long a statement waits for another process's lock before it fails with FFTCONV_ERR_IO
   "cache PATH is busy: ..." (default 10000 ms; tests shorten it). */
void fc_cache_set_busy_timeout(fc_cache *c, int ms);

/* The schema history: the CREATE script of schema `version` (1 .. fc_cache_schema_version())
   as that version created it, or NULL. Version 1 lacked kernels.khat_table,
   measurements.rigor and the indexes on measurements(kernel), winners(kernel) and the
   nearest-shape columns of winners. Version 2 kept every kernel's source (NOT NULL) and had
   no kernels.source_hash, kernels.binary_dropped or devices.copy_gbps. Version 3 kept the
   launch layout of the first kernel ABI in ten columns (threads, smem, seqs, prep_threads,
   prep_smem, prep_seqs, khat, khat_table, fwd_entry, prep_entry) where version 4 keeps one
   launch manifest (kernels.manifest, JSON). Opening an older file writable migrates it in
   one BEGIN IMMEDIATE transaction; only the step to 4 rewrites rows (each kernel gets the
   manifest of its two launches, fc_manifest_two_launch with filter layout
   "<template>.v1"); old rows keep their source until fc_cache_slim or prune drops it.
   Tests build old files with it. */
const char *fc_cache_schema_sql(int version);
#define FC_CACHE_APP_ID 1178824310 /* PRAGMA application_id of every fftconv cache: "FCnv" */

/* A stored kernel, read back. Every pointer member of k (strings, cubin) is malloc'd and
   freed by fc_cache_kernel_row_free. */
typedef struct fc_cache_kernel_row {
  int64_t id;
  fc_cache_kernel k;
  double created;        /* unix seconds */
  double binary_dropped; /* unix seconds when fc_cache_slim dropped the cubin; NaN: never */
} fc_cache_kernel_row;
/* Reads kernel `id`; *found 0 (and *out zeroed) when there is no such row. */
fftconv_status fc_cache_get_kernel(fc_cache *c, int64_t id, fc_cache_kernel_row *out,
                                   int *found, fc_err *e);
void fc_cache_kernel_row_free(fc_cache_kernel_row *r); /* frees members; accepts a zeroed row */

/* One row of fc_cache_list: a measurement (with its device and kernel), or a winner (the
   winner's measurement). Pointers live until the callback returns; NULL reals are NaN. */
typedef struct fc_cache_entry {
  const char *device;    /* model */
  int sms, driver_version, device_sm;
  double copy_gbps;      /* the device's measured copy bandwidth, GB/s; NaN when unknown */
  const char *problem_key;
  fftconv_problem problem; /* the shape behind problem_key (filter_len resolved) */
  int64_t kernel_id;
  const char *tmpl, *hash, *params, *nvrtc;
  int revision, sm;
  const char *status;    /* "ok", "compile-failed", ...; a winner's is "ok" */
  const char *message;   /* NULL when none */
  double median_ms, p10_ms, p90_ms, rel_err;
  int runs;
  const char *rigor;     /* NULL for rows migrated from schema 1 */
  double measured_at;    /* unix seconds; NaN when a winner has lost its measurement */
  int winner;            /* 1: this kernel is the winner of (device, problem) */
} fc_cache_entry;

typedef struct fc_cache_filter {
  const char *device;    /* case-insensitive substring of the device model; NULL: any */
  const char *problem;   /* substring of the problem key; NULL: any */
  int64_t kernel_id;     /* 0: any */
  int all;               /* 0: winners only; 1: every measurement, failures included */
} fc_cache_filter;

/* Calls fn for each matching row, ordered by device, problem key, median; fn returns nonzero
   to stop early. Reads only: works on a read-only open. */
typedef int (*fc_cache_entry_fn)(const fc_cache_entry *r, void *arg);
fftconv_status fc_cache_list(fc_cache *c, const fc_cache_filter *f, fc_cache_entry_fn fn,
                             void *arg, fc_err *e);

/* What prune and merge did (or, dry run, would do). */
typedef struct fc_cache_counts {
  int64_t devices, kernels, measurements, winners;
  int64_t replaced;      /* merge: measurements that replaced an older one of this cache */
  int64_t skipped;       /* merge: measurements not copied, this cache's being as new or newer */
  int64_t rewon;         /* winners recomputed (prune: of problems that lost their winner) */
  fc_cache_slimmed slim; /* prune: what slimming dropped; bytes include the removed kernels' */
} fc_cache_counts;

/* Removes every kernel whose template hash is not in `hashes` or whose NVRTC version is not
   `nvrtc`, with its measurements and any winner it was; then the devices left with no
   measurement. The winners lost are recomputed from what is left (trusted: hash in hashes,
   NVRTC `nvrtc`, arch the device's own). Then slims what is left as fc_cache_slim does with
   FC_CACHE_FINALISTS, all in one transaction, and VACUUMs when anything went. dry_run: counts
   only, writes nothing (works on a read-only open); its slim counts are those of the rows
   that stay, ranked as after the removal, but before the lost winners are recomputed. */
fftconv_status fc_cache_prune(fc_cache *c, const char *const *hashes, int nhashes,
                              const char *nvrtc, int dry_run, fc_cache_counts *removed,
                              fc_err *e);

/* Copies the devices, kernels and measurements of the cache at `other` (opened read-only and
   validated like any cache) into c, in one BEGIN IMMEDIATE transaction: rows with the same
   key are one row (a device without a copy bandwidth takes the other's; a kernel without a
   cubin takes the other's; a kernel's stored source is not copied, its hash is); a
   measurement replaces this cache's only when its measured_at is later.
   Then recomputes the winner of every (device, problem) that received a measurement, with
   the trust rule of fc_cache_prune. counts: devices/kernels/measurements added, replaced,
   skipped, rewon. A file cannot be merged into itself. */
fftconv_status fc_cache_merge(fc_cache *c, const char *other, const char *const *hashes,
                              int nhashes, const char *nvrtc, fc_cache_counts *added,
                              fc_err *e);

#endif
