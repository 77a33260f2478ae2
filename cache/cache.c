/* cache: the SQLite kernel cache (see cache.h). Schema and migrations, the open-time checks
 * that keep a foreign or damaged file untouched, and the queries.
 *
 * Shape of every write (after fossil's cache.c): BEGIN IMMEDIATE, so the write lock is taken
 * up front and a busy writer waits in the busy handler instead of failing half-way; then one
 * `done:` label that commits when everything went well and rolls back otherwise. Statements
 * are prepared once per fc_cache (cache_stmt) and reset after every use, so an idle fc_cache
 * holds no read snapshot and lookup costs no SQL parsing. Nothing here prints or exits: the
 * caller decides what a cache error means (for the runtime, a miss). */
#include "cache.h"
#include "gpu.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_VERSION 3
#define CACHE_BUSY_MS 10000
#define CACHE_STR(x) CACHE_STR2(x)
#define CACHE_STR2(x) #x

/* ---- schema ---- */

/* Version 1, as it was created: kept verbatim because files of this version exist and the
   migration below starts from exactly this. */
static const char cache_schema_v1[] =
    "CREATE TABLE devices (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  model TEXT NOT NULL,             -- the driver's device name\n"
    "  sms INTEGER NOT NULL,            -- multiprocessor count (tells MIG slices apart)\n"
    "  driver_version INTEGER NOT NULL, -- CUDA driver version, e.g. 13000\n"
    "  sm INTEGER NOT NULL,             -- compute capability, major*10 + minor\n"
    "  smem_optin INTEGER NOT NULL,     -- opt-in shared memory per block, bytes\n"
    "  l2_bytes INTEGER NOT NULL,       -- L2 cache, bytes\n"
    "  total_mem INTEGER NOT NULL,      -- device memory, bytes\n"
    "  created REAL NOT NULL,           -- unix seconds when first seen\n"
    "  UNIQUE (model, sms, driver_version)\n"
    ");\n"
    "CREATE TABLE kernels (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  template TEXT NOT NULL,          -- template name, e.g. monarch_fp32\n"
    "  revision INTEGER NOT NULL,       -- the template's hand-bumped revision\n"
    "  hash TEXT NOT NULL,              -- FNV-1a 64 (16 hex) of the template and lib/ text\n"
    "  params TEXT NOT NULL,            -- canonical JSON parameters\n"
    "  sm INTEGER NOT NULL,             -- compile target, major*10 + minor\n"
    "  nvrtc TEXT NOT NULL,             -- NVRTC version that compiled it, e.g. 13.0\n"
    "  source TEXT NOT NULL,            -- CUDA source with its header comment\n"
    "  cubin BLOB,                      -- NULL when compilation failed\n"
    "  ptx TEXT,                        -- NULL unless asked for\n"
    "  log TEXT,                        -- NVRTC log with the ptxas report\n"
    "  registers INTEGER,               -- per thread, forward entry\n"
    "  smem_static INTEGER,             -- static shared memory, bytes\n"
    "  stack INTEGER,                   -- stack frame, bytes\n"
    "  spill_stores INTEGER,            -- bytes\n"
    "  spill_loads INTEGER,             -- bytes\n"
    "  compile_seconds REAL,            -- NVRTC wall time\n"
    "  threads INTEGER NOT NULL,        -- forward kernel: threads per block\n"
    "  smem INTEGER NOT NULL,           -- forward kernel: dynamic shared memory, bytes\n"
    "  seqs INTEGER NOT NULL,           -- forward kernel: rows per block\n"
    "  prep_threads INTEGER NOT NULL,   -- prepare kernel: threads per block\n"
    "  prep_smem INTEGER NOT NULL,      -- prepare kernel: dynamic shared memory, bytes\n"
    "  prep_seqs INTEGER NOT NULL,      -- prepare kernel: heads per block\n"
    "  khat INTEGER NOT NULL,           -- float2 values of k_hat per head\n"
    "  fwd_entry TEXT NOT NULL,         -- forward entry point name\n"
    "  prep_entry TEXT NOT NULL,        -- prepare entry point name\n"
    "  created REAL NOT NULL,           -- unix seconds\n"
    "  UNIQUE (hash, params, sm, nvrtc)\n"
    ");\n"
    "CREATE TABLE measurements (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved (never 0)\n"
    "  freq_keep INTEGER NOT NULL,      -- F, 0 for dense\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the candidate\n"
    "  status TEXT NOT NULL,            -- ok, compile-failed, verify-failed, launch-failed\n"
    "  message TEXT,                    -- why it failed, or NULL\n"
    "  median_ms REAL,                  -- NULL unless timed\n"
    "  p10_ms REAL,                     -- 10th percentile\n"
    "  p90_ms REAL,                     -- 90th percentile\n"
    "  runs INTEGER NOT NULL,           -- timed runs behind the figures\n"
    "  rel_err REAL,                    -- relative L2 error of verification; NULL: none/NaN\n"
    "  measured_at REAL NOT NULL,       -- unix seconds; merge keeps the later\n"
    "  UNIQUE (device, problem_key, kernel)\n"
    ");\n"
    "CREATE TABLE winners (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B (the shape columns serve nearest-shape lookup)\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved\n"
    "  freq_keep INTEGER NOT NULL,      -- F\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the fastest\n"
    "  median_ms REAL NOT NULL,         -- its median\n"
    "  chosen_at REAL NOT NULL,         -- unix seconds of the last recomputation\n"
    "  UNIQUE (device, problem_key)\n"
    ");\n";

/* Version 2 as it was created (tests build old files with it). */
static const char cache_schema_v2[] =
    "CREATE TABLE devices (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  model TEXT NOT NULL,             -- the driver's device name\n"
    "  sms INTEGER NOT NULL,            -- multiprocessor count (tells MIG slices apart)\n"
    "  driver_version INTEGER NOT NULL, -- CUDA driver version, e.g. 13000\n"
    "  sm INTEGER NOT NULL,             -- compute capability, major*10 + minor\n"
    "  smem_optin INTEGER NOT NULL,     -- opt-in shared memory per block, bytes\n"
    "  l2_bytes INTEGER NOT NULL,       -- L2 cache, bytes\n"
    "  total_mem INTEGER NOT NULL,      -- device memory, bytes\n"
    "  created REAL NOT NULL,           -- unix seconds when first seen\n"
    "  UNIQUE (model, sms, driver_version)\n"
    ");\n"
    "CREATE TABLE kernels (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  template TEXT NOT NULL,          -- template name, e.g. monarch_fp32\n"
    "  revision INTEGER NOT NULL,       -- the template's hand-bumped revision\n"
    "  hash TEXT NOT NULL,              -- FNV-1a 64 (16 hex) of the template and lib/ text\n"
    "  params TEXT NOT NULL,            -- canonical JSON parameters\n"
    "  sm INTEGER NOT NULL,             -- compile target, major*10 + minor\n"
    "  nvrtc TEXT NOT NULL,             -- NVRTC version that compiled it, e.g. 13.0\n"
    "  source TEXT NOT NULL,            -- CUDA source with its header comment\n"
    "  cubin BLOB,                      -- NULL when compilation failed\n"
    "  ptx TEXT,                        -- NULL unless asked for\n"
    "  log TEXT,                        -- NVRTC log with the ptxas report\n"
    "  registers INTEGER,               -- per thread, forward entry\n"
    "  smem_static INTEGER,             -- static shared memory, bytes\n"
    "  stack INTEGER,                   -- stack frame, bytes\n"
    "  spill_stores INTEGER,            -- bytes\n"
    "  spill_loads INTEGER,             -- bytes\n"
    "  compile_seconds REAL,            -- NVRTC wall time\n"
    "  threads INTEGER NOT NULL,        -- forward kernel: threads per block\n"
    "  smem INTEGER NOT NULL,           -- forward kernel: dynamic shared memory, bytes\n"
    "  seqs INTEGER NOT NULL,           -- forward kernel: rows per block\n"
    "  prep_threads INTEGER NOT NULL,   -- prepare kernel: threads per block\n"
    "  prep_smem INTEGER NOT NULL,      -- prepare kernel: dynamic shared memory, bytes\n"
    "  prep_seqs INTEGER NOT NULL,      -- prepare kernel: heads per block\n"
    "  khat INTEGER NOT NULL,           -- float2 values of k_hat per head\n"
    "  khat_table INTEGER NOT NULL DEFAULT 0, -- float2 values of shared tables before them\n"
    "  fwd_entry TEXT NOT NULL,         -- forward entry point name\n"
    "  prep_entry TEXT NOT NULL,        -- prepare entry point name\n"
    "  created REAL NOT NULL,           -- unix seconds\n"
    "  UNIQUE (hash, params, sm, nvrtc)\n"
    ");\n"
    "CREATE TABLE measurements (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved (never 0)\n"
    "  freq_keep INTEGER NOT NULL,      -- F, 0 for dense\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the candidate\n"
    "  status TEXT NOT NULL,            -- ok, compile-failed, verify-failed, launch-failed\n"
    "  message TEXT,                    -- why it failed, or NULL\n"
    "  median_ms REAL,                  -- NULL unless timed\n"
    "  p10_ms REAL,                     -- 10th percentile\n"
    "  p90_ms REAL,                     -- 90th percentile\n"
    "  runs INTEGER NOT NULL,           -- timed runs behind the figures\n"
    "  rel_err REAL,                    -- relative L2 error of verification; NULL: none/NaN\n"
    "  rigor TEXT,                      -- estimate, measure, exhaustive; NULL: from schema 1\n"
    "  measured_at REAL NOT NULL,       -- unix seconds; merge keeps the later\n"
    "  UNIQUE (device, problem_key, kernel)\n"
    ");\n"
    "CREATE TABLE winners (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B (the shape columns serve nearest-shape lookup)\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved\n"
    "  freq_keep INTEGER NOT NULL,      -- F\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the fastest\n"
    "  median_ms REAL NOT NULL,         -- its median\n"
    "  chosen_at REAL NOT NULL,         -- unix seconds of the last recomputation\n"
    "  UNIQUE (device, problem_key)\n"
    ");\n"
    /* show and the cascades of prune look measurements and winners up by kernel */
    "CREATE INDEX measurements_kernel ON measurements(kernel);\n"
    "CREATE INDEX winners_kernel ON winners(kernel);\n"
    /* nearest-shape lookup: everything that must be equal, then the columns it ranks the
       few candidates by, so that the scan never leaves the index */
    "CREATE INDEX winners_shape ON winners(device, fft_size, dtype, mode, pre_gate, post_gate,"
    " skip_d, freq_keep, batch, heads, seqlen, filter_len, median_ms, kernel);\n";

/* Version 3 as a fresh file gets it. Must describe the same tables as version 1 followed by
   every migration (a test compares the two column by column); new columns go last in a
   migration, so they may sit anywhere here. */
static const char cache_schema_v3[] =
    "CREATE TABLE devices (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  model TEXT NOT NULL,             -- the driver's device name\n"
    "  sms INTEGER NOT NULL,            -- multiprocessor count (tells MIG slices apart)\n"
    "  driver_version INTEGER NOT NULL, -- CUDA driver version, e.g. 13000\n"
    "  sm INTEGER NOT NULL,             -- compute capability, major*10 + minor\n"
    "  smem_optin INTEGER NOT NULL,     -- opt-in shared memory per block, bytes\n"
    "  l2_bytes INTEGER NOT NULL,       -- L2 cache, bytes\n"
    "  total_mem INTEGER NOT NULL,      -- device memory, bytes\n"
    "  copy_gbps REAL,                  -- device-to-device copy, GB/s read + written\n"
    "  created REAL NOT NULL,           -- unix seconds when first seen\n"
    "  UNIQUE (model, sms, driver_version)\n"
    ");\n"
    "CREATE TABLE kernels (\n"
    "  id INTEGER PRIMARY KEY,          -- row id, referenced by measurements and winners\n"
    "  template TEXT NOT NULL,          -- template name, e.g. monarch_fp32\n"
    "  revision INTEGER NOT NULL,       -- the template's hand-bumped revision\n"
    "  hash TEXT NOT NULL,              -- FNV-1a 64 (16 hex) of the template and lib/ text\n"
    "  params TEXT NOT NULL,            -- canonical JSON parameters\n"
    "  sm INTEGER NOT NULL,             -- compile target, major*10 + minor\n"
    "  nvrtc TEXT NOT NULL,             -- NVRTC version that compiled it, e.g. 13.0\n"
    "  source TEXT,                     -- CUDA source; NULL: not kept (re-emitted on demand)\n"
    "  source_hash TEXT,                -- FNV-1a 64 (16 hex) of the emitted source text\n"
    "  cubin BLOB,                      -- NULL: compilation failed, or binary_dropped\n"
    "  ptx TEXT,                        -- NULL unless asked for\n"
    "  log TEXT,                        -- NVRTC log with the ptxas report\n"
    "  binary_dropped REAL,             -- unix seconds when slimming dropped cubin, PTX, log\n"
    "  registers INTEGER,               -- per thread, forward entry\n"
    "  smem_static INTEGER,             -- static shared memory, bytes\n"
    "  stack INTEGER,                   -- stack frame, bytes\n"
    "  spill_stores INTEGER,            -- bytes\n"
    "  spill_loads INTEGER,             -- bytes\n"
    "  compile_seconds REAL,            -- NVRTC wall time\n"
    "  threads INTEGER NOT NULL,        -- forward kernel: threads per block\n"
    "  smem INTEGER NOT NULL,           -- forward kernel: dynamic shared memory, bytes\n"
    "  seqs INTEGER NOT NULL,           -- forward kernel: rows per block\n"
    "  prep_threads INTEGER NOT NULL,   -- prepare kernel: threads per block\n"
    "  prep_smem INTEGER NOT NULL,      -- prepare kernel: dynamic shared memory, bytes\n"
    "  prep_seqs INTEGER NOT NULL,      -- prepare kernel: heads per block\n"
    "  khat INTEGER NOT NULL,           -- float2 values of k_hat per head\n"
    "  khat_table INTEGER NOT NULL DEFAULT 0, -- float2 values of shared tables before them\n"
    "  fwd_entry TEXT NOT NULL,         -- forward entry point name\n"
    "  prep_entry TEXT NOT NULL,        -- prepare entry point name\n"
    "  created REAL NOT NULL,           -- unix seconds\n"
    "  UNIQUE (hash, params, sm, nvrtc)\n"
    ");\n"
    "CREATE TABLE measurements (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved (never 0)\n"
    "  freq_keep INTEGER NOT NULL,      -- F, 0 for dense\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the candidate\n"
    "  status TEXT NOT NULL,            -- ok, compile-failed, verify-failed, launch-failed\n"
    "  message TEXT,                    -- why it failed, or NULL\n"
    "  median_ms REAL,                  -- NULL unless timed\n"
    "  p10_ms REAL,                     -- 10th percentile\n"
    "  p90_ms REAL,                     -- 90th percentile\n"
    "  runs INTEGER NOT NULL,           -- timed runs behind the figures\n"
    "  rel_err REAL,                    -- relative L2 error of verification; NULL: none/NaN\n"
    "  rigor TEXT,                      -- estimate, measure, exhaustive; NULL: from schema 1\n"
    "  measured_at REAL NOT NULL,       -- unix seconds; merge keeps the later\n"
    "  UNIQUE (device, problem_key, kernel)\n"
    ");\n"
    "CREATE TABLE winners (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE, -- measured on\n"
    "  problem_key TEXT NOT NULL,       -- fftconv_problem_key\n"
    "  batch INTEGER NOT NULL,          -- B (the shape columns serve nearest-shape lookup)\n"
    "  heads INTEGER NOT NULL,          -- H\n"
    "  seqlen INTEGER NOT NULL,         -- L\n"
    "  filter_len INTEGER NOT NULL,     -- K, resolved\n"
    "  freq_keep INTEGER NOT NULL,      -- F\n"
    "  fft_size INTEGER NOT NULL,       -- N\n"
    "  dtype TEXT NOT NULL,             -- fp32, fp16, bf16\n"
    "  mode TEXT NOT NULL,              -- causal, circular\n"
    "  pre_gate INTEGER NOT NULL,       -- 0 or 1\n"
    "  post_gate INTEGER NOT NULL,      -- 0 or 1\n"
    "  skip_d INTEGER NOT NULL,         -- 0 or 1\n"
    "  kernel INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE, -- the fastest\n"
    "  median_ms REAL NOT NULL,         -- its median\n"
    "  chosen_at REAL NOT NULL,         -- unix seconds of the last recomputation\n"
    "  UNIQUE (device, problem_key)\n"
    ");\n"
    /* show and the cascades of prune look measurements and winners up by kernel */
    "CREATE INDEX measurements_kernel ON measurements(kernel);\n"
    "CREATE INDEX winners_kernel ON winners(kernel);\n"
    /* nearest-shape lookup: everything that must be equal, then the columns it ranks the
       few candidates by, so that the scan never leaves the index */
    "CREATE INDEX winners_shape ON winners(device, fft_size, dtype, mode, pre_gate, post_gate,"
    " skip_d, freq_keep, batch, heads, seqlen, filter_len, median_ms, kernel);\n";

/* Version 1 -> 2: the k_hat table size (templates that keep twiddle tables in k_hat), the
   search rigor of a measurement, and the indexes nearest-shape lookup and prune need. */
static const char cache_migrate_v2[] =
    "ALTER TABLE kernels ADD COLUMN khat_table INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE measurements ADD COLUMN rigor TEXT;\n"
    "CREATE INDEX measurements_kernel ON measurements(kernel);\n"
    "CREATE INDEX winners_kernel ON winners(kernel);\n"
    "CREATE INDEX winners_shape ON winners(device, fft_size, dtype, mode, pre_gate, post_gate,"
    " skip_d, freq_keep, batch, heads, seqlen, filter_len, median_ms, kernel);\n";

/* Version 2 -> 3: a cache that stays small. The source is no longer kept (emission is
   deterministic; a hash of it is), cubin, PTX and log only for what can be used
   (fc_cache_slim marks the rest binary_dropped); and the device's measured copy bandwidth.
   kernels.source also loses its NOT NULL, which ALTER TABLE cannot do: cache_source_nullable
   edits the table's text first. Old rows keep their source until slimmed, which records its
   hash. Every step is O(1): no row is rewritten. */
static const char cache_migrate_v3[] =
    "ALTER TABLE kernels ADD COLUMN source_hash TEXT;\n"
    "ALTER TABLE kernels ADD COLUMN binary_dropped REAL;\n"
    "ALTER TABLE devices ADD COLUMN copy_gbps REAL;\n";

/* migrations[v] takes a file from version v to v + 1 */
static const char *const cache_migrations[CACHE_VERSION] = {NULL, cache_migrate_v2,
                                                            cache_migrate_v3};

const char *fc_cache_schema_sql(int version) {
  switch (version) {
  case 1: return cache_schema_v1;
  case 2: return cache_schema_v2;
  case 3: return cache_schema_v3;
  default: return NULL;
  }
}

int fc_cache_schema_version(void) { return CACHE_VERSION; }

/* ---- prepared statements ---- */

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
/* What a hit needs of the kernel row. */
#define CACHE_HIT                                                                    \
  "SELECT w.kernel, w.problem_key, w.median_ms, k.template, k.revision, k.hash, "      \
  "k.params, k.cubin, k.threads, k.smem, k.seqs, k.prep_threads, k.prep_smem, "       \
  "k.prep_seqs, k.khat, k.khat_table, k.fwd_entry, k.prep_entry "                      \
  "FROM devices d JOIN winners w ON w.device = d.id JOIN kernels k ON k.id = w.kernel " \
  "WHERE " CACHE_DEV " AND k.sm = :sm AND k.cubin IS NOT NULL AND " CACHE_TRUST

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

static const char *const cache_sql[CACHE_NSTMT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
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
    [Q_KERNEL_GET] = "SELECT " CACHE_KCOLS ", id FROM kernels WHERE id = ?1",
    [Q_DEVICE_PUT] = "INSERT INTO devices (model, sms, driver_version, sm, smem_optin, "
                     "l2_bytes, total_mem, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                     "ON CONFLICT (model, sms, driver_version) DO NOTHING",
    [Q_DEVICE_ID] = "SELECT id FROM devices WHERE model = ?1 AND sms = ?2 "
                    "AND driver_version = ?3",
    [Q_BANDWIDTH_PUT] = "UPDATE devices SET copy_gbps = ?2 WHERE id = ?1",
    [Q_BANDWIDTH_GET] = "SELECT copy_gbps FROM devices WHERE model = ?1 AND sms = ?2 "
                        "AND driver_version = ?3",
    [Q_BANDWIDTH_MERGE] = "UPDATE devices SET copy_gbps = ?2 WHERE id = ?1 AND copy_gbps IS NULL",
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
    [Q_HIT_EXACT] = CACHE_HIT " AND w.problem_key = :key",
    [Q_HIT_ID] = CACHE_HIT " AND w.id = :id",
    /* The candidates of nearest-shape lookup: same N, dtype, mode, gates, D, F and K == L
       relation, from the covering index alone. cache_near ranks them in C (cheaper than
       SQLite's sorter, and no math functions needed) and Q_HIT_ID applies the trust rule. */
    [Q_NEAR] = "SELECT w.id, w.batch * w.heads, w.seqlen, w.median_ms, w.kernel "
               "FROM devices d JOIN winners w ON w.device = d.id WHERE " CACHE_DEV
               " AND w.fft_size = :n AND w.dtype = :dtype AND w.mode = :mode "
               "AND w.pre_gate = :pre AND w.post_gate = :post AND w.skip_d = :skipd "
               "AND w.freq_keep = :f AND (w.filter_len = w.seqlen) = :full",
#define CACHE_LIST_COLS                                                                     \
  "d.model, d.sms, d.driver_version, d.sm, m.problem_key, k.id, k.template, k.revision, "  \
  "k.hash, k.params, k.sm, k.nvrtc, m.status, m.message, m.median_ms, m.p10_ms, m.p90_ms, " \
  "m.rel_err, m.runs, m.rigor, m.measured_at"
/* After the winner flag: the device's bandwidth and the problem's shape, of a (m or w). */
#define CACHE_LIST_SHAPE(a)                                                                \
  "d.copy_gbps, " a ".batch, " a ".heads, " a ".seqlen, " a ".filter_len, " a ".freq_keep, " \
  a ".dtype, " a ".mode, " a ".pre_gate, " a ".post_gate, " a ".skip_d"
#define CACHE_LIST_WHERE                                                           \
  "(:device IS NULL OR instr(lower(d.model), lower(:device)) > 0) "                \
  "AND (:problem IS NULL OR instr(m.problem_key, :problem) > 0) "                  \
  "AND (:kernel = 0 OR k.id = :kernel)"
    [Q_LIST_WINNERS] =
        "SELECT d.model, d.sms, d.driver_version, d.sm, w.problem_key, k.id, k.template, "
        "k.revision, k.hash, k.params, k.sm, k.nvrtc, coalesce(m.status, 'ok'), m.message, "
        "w.median_ms, m.p10_ms, m.p90_ms, m.rel_err, coalesce(m.runs, 0), m.rigor, "
        "m.measured_at, 1, " CACHE_LIST_SHAPE("w") " FROM winners w "
        "JOIN devices d ON d.id = w.device "
        "JOIN kernels k ON k.id = w.kernel LEFT JOIN measurements m ON m.device = w.device "
        "AND m.problem_key = w.problem_key AND m.kernel = w.kernel "
        "WHERE (:device IS NULL OR instr(lower(d.model), lower(:device)) > 0) "
        "AND (:problem IS NULL OR instr(w.problem_key, :problem) > 0) "
        "AND (:kernel = 0 OR k.id = :kernel) "
        "ORDER BY d.model, d.sms, d.driver_version, w.problem_key",
    [Q_LIST_ALL] = "SELECT " CACHE_LIST_COLS ", w.id IS NOT NULL, " CACHE_LIST_SHAPE("m")
                   " FROM measurements m "
                   "JOIN devices d ON d.id = m.device JOIN kernels k ON k.id = m.kernel "
                   "LEFT JOIN winners w ON w.device = m.device "
                   "AND w.problem_key = m.problem_key AND w.kernel = m.kernel "
                   "WHERE " CACHE_LIST_WHERE
                   " ORDER BY d.model, d.sms, d.driver_version, m.problem_key, "
                   "m.median_ms IS NULL, m.median_ms, k.id",
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
    [Q_PRUNE_LOST] = "SELECT w.device, w.problem_key FROM winners w "
                     "JOIN kernels k ON k.id = w.kernel WHERE " CACHE_STALE
                     " ORDER BY w.device, w.problem_key",
    [Q_PRUNE_DEL_KERNELS] = "DELETE FROM kernels WHERE id IN (SELECT k.id FROM kernels k "
                            "WHERE " CACHE_STALE ")",
    [Q_PRUNE_DEL_DEVICES] = "DELETE FROM devices WHERE NOT EXISTS (SELECT 1 FROM "
                            "measurements m WHERE m.device = devices.id)",
    [Q_MERGE_DEVICE] = "SELECT id, model, sms, driver_version, sm, smem_optin, l2_bytes, "
                       "total_mem, created, copy_gbps FROM devices ORDER BY id",
    [Q_MERGE_MEAS_AT] = "SELECT measured_at FROM measurements WHERE device = ?1 "
                        "AND problem_key = ?2 AND kernel = ?3",
};

struct fc_cache {
  sqlite3 *db;
  int writable;
  int busy_ms;
  char path[4096];
  sqlite3_stmt *st[CACHE_NSTMT];
};

const char *fc_cache_path(const fc_cache *c) { return c ? c->path : ""; }

static double cache_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The message for a failed SQLite call, by kind: busy and read-only files are the failures a
   user can act on, so they say so. */
static fftconv_status cache_sqlfail(fc_cache *c, int rc, const char *what, fc_err *e) {
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
  default:
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s: %s", c->path, what, msg);
  }
}

/* Statement q, prepared on first use and kept (SQLITE_PREPARE_PERSISTENT) for the life of c. */
static sqlite3_stmt *cache_stmt(fc_cache *c, int q, fftconv_status *st, fc_err *e) {
  if (!c->st[q]) {
    int rc = sqlite3_prepare_v3(c->db, cache_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &c->st[q],
                                NULL);
    if (rc != SQLITE_OK) {
      *st = cache_sqlfail(c, rc, "preparing a query", e);
      c->st[q] = NULL;
      return NULL;
    }
  }
  return c->st[q];
}

/* Resets every statement: none may hold a read snapshot across calls (it would pin the WAL
   and keep other writers' checkpoints from completing). */
static void cache_reset_all(fc_cache *c) {
  for (int i = 0; i < CACHE_NSTMT; i++)
    if (c->st[i]) sqlite3_reset(c->st[i]);
}

static int cache_param(sqlite3_stmt *s, const char *name) {
  return sqlite3_bind_parameter_index(s, name);
}

static void cache_bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, i);
}

/* NaN and infinities are stored as NULL: SQLite turns NaN into NULL anyway, and an infinite
   median must never sort as a real one. */
static void cache_bind_real(sqlite3_stmt *s, int i, double v) {
  if (isfinite(v))
    sqlite3_bind_double(s, i, v);
  else
    sqlite3_bind_null(s, i);
}

static void cache_nbind_text(sqlite3_stmt *s, const char *name, const char *v) {
  cache_bind_text(s, cache_param(s, name), v);
}

static void cache_nbind_int(sqlite3_stmt *s, const char *name, int64_t v) {
  sqlite3_bind_int64(s, cache_param(s, name), v);
}

static double cache_col_real(sqlite3_stmt *s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static const char *cache_col_text(sqlite3_stmt *s, int i) {
  return (const char *)sqlite3_column_text(s, i);
}

static char *cache_col_dup(sqlite3_stmt *s, int i) {
  const char *t = cache_col_text(s, i);
  return t ? strdup(t) : NULL;
}

static void cache_copy(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
}

/* The hash stored for a kernel's source: FNV-1a 64 of its bytes, 16 hex digits. */
static void cache_source_hash(const char *source, size_t n, char out[17]) {
  snprintf(out, 17, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, source, n));
}

/* Runs a statement that returns no rows (or whose rows do not matter). */
static fftconv_status cache_run(fc_cache *c, int q, const char *what, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, q, &st, e);
  if (!s) return st;
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) st = cache_sqlfail(c, rc, what, e);
  sqlite3_reset(s);
  return st;
}

static fftconv_status cache_begin(fc_cache *c, int write, fc_err *e) {
  return cache_run(c, write ? Q_BEGIN : Q_BEGIN_READ,
                   write ? "starting a write transaction" : "starting a read transaction", e);
}

/* The one way a transaction ends: commit when st is OK, else roll back. Returns the status
   of the whole transaction. */
static fftconv_status cache_end(fc_cache *c, fftconv_status st, fc_err *e) {
  cache_reset_all(c);
  if (!sqlite3_get_autocommit(c->db)) {
    if (st == FFTCONV_OK) st = cache_run(c, Q_COMMIT, "committing", e);
    if (st != FFTCONV_OK && !sqlite3_get_autocommit(c->db))
      cache_run(c, Q_ROLLBACK, "rolling back", NULL);
  }
  return st;
}

/* ",h1,h2,...,": what CACHE_TRUST looks hashes up in. */
static fftconv_status cache_hash_list(const char *const *hashes, int n, fc_str *out,
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

static fftconv_status cache_check_cfg(const fc_cache *c, const fc_cache_config *cfg,
                                      fc_err *e) {
  if (!c) return fc_fail(e, FFTCONV_ERR_INVALID, "cache: NULL");
  if (!cfg || !cfg->dev || !cfg->nvrtc)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache config: NULL device or NVRTC version");
  return FFTCONV_OK;
}

static void cache_bind_dev(sqlite3_stmt *s, const fc_cache_config *cfg) {
  cache_nbind_text(s, ":model", cfg->dev->name);
  cache_nbind_int(s, ":sms", cfg->dev->sms);
  cache_nbind_int(s, ":driver", cfg->dev->driver_version);
}

/* ---- opening ---- */

void fc_cache_set_busy_timeout(fc_cache *c, int ms) {
  if (!c) return;
  c->busy_ms = ms < 0 ? 0 : ms;
  sqlite3_busy_timeout(c->db, c->busy_ms);
}

fftconv_status fc_cache_default_path(char *buf, size_t len, fc_err *e) {
  const char *env = getenv(FC_CACHE_ENV), *xdg = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  int n;
  if (env && *env)
    n = snprintf(buf, len, "%s", env);
  else if (xdg && *xdg)
    n = snprintf(buf, len, "%s/fftconv/cache.db", xdg);
  else if (home && *home)
    n = snprintf(buf, len, "%s/.cache/fftconv/cache.db", home);
  else
    return fc_fail(e, FFTCONV_ERR_IO,
                   "no cache path: set " FC_CACHE_ENV ", XDG_CACHE_HOME or HOME");
  if (n < 0 || (size_t)n >= len)
    return fc_fail(e, FFTCONV_ERR_IO, "the cache path is longer than %zu bytes", len);
  return FFTCONV_OK;
}

/* mkdir -p of the directory that holds path. */
static fftconv_status cache_mkdirs(const char *path, fc_err *e) {
  char dir[4096];
  cache_copy(dir, sizeof dir, path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return FFTCONV_OK;
  *slash = 0;
  for (char *p = dir + 1; ; p++) {
    if (*p != '/' && *p) continue;
    char saved = *p;
    *p = 0;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s: cannot create directory %s: %s", path, dir,
                     strerror(errno));
    *p = saved;
    if (!saved) break;
  }
  return FFTCONV_OK;
}

static uint32_t cache_be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Looks at the file header before SQLite does: a garbage or truncated file must be refused
   without SQLite ever opening it read-write (it could roll back a "hot journal" into it). */
static fftconv_status cache_check_header(const char *path, int64_t size, int writable,
                                         fc_err *e) {
  static const char notours[] = "is not an fftconv cache";
  if (size == 0)
    return writable ? FFTCONV_OK
                    : fc_fail(e, FFTCONV_ERR_IO, "cache %s %s: the file is empty", path, notours);
  FILE *f = fopen(path, "rb");
  if (!f) return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", path, strerror(errno));
  unsigned char h[100];
  size_t got = fread(h, 1, sizeof h, f);
  fclose(f);
  if (got < sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s %s: not an SQLite database (%lld bytes)", path,
                   notours, (long long)size);
  uint32_t page = (uint32_t)h[16] << 8 | h[17];
  if (page == 1) page = 65536;
  if (page < 512 || (page & (page - 1)))
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s %s: bad page size %u in its header", path,
                   notours, page);
  uint32_t app = cache_be32(h + 68);
  if (app != 0 && app != FC_CACHE_APP_ID)
    return fc_fail(e, FFTCONV_ERR_IO,
                   "cache %s %s: it belongs to another application (application_id 0x%08x)",
                   path, notours, app);
  /* With a -wal file the header may legitimately be ahead of the file (a checkpoint cut
     short); without one, a file shorter than its header says was truncated. */
  char wal[4200];
  snprintf(wal, sizeof wal, "%s-wal", path);
  struct stat ws;
  int has_wal = stat(wal, &ws) == 0 && ws.st_size > 0;
  uint32_t pages = cache_be32(h + 28);
  int pages_valid = pages && cache_be32(h + 24) == cache_be32(h + 92);
  if (!has_wal && (size % page || (pages_valid && (int64_t)pages * page > size)))
    return fc_fail(e, FFTCONV_ERR_IO,
                   "cache %s %s: the file is truncated or damaged (%lld bytes; its header "
                   "says %u pages of %u)", path, notours, (long long)size, pages, page);
  return FFTCONV_OK;
}

/* PRAGMAs that answer one integer. */
static fftconv_status cache_pragma_int(fc_cache *c, const char *sql, int64_t *v, fc_err *e) {
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

/* What the file is: application id, schema version, and how many schema objects it has. */
static fftconv_status cache_identify(fc_cache *c, int64_t *app, int64_t *ver, int64_t *objs,
                                     fc_err *e) {
  fftconv_status st = cache_pragma_int(c, "PRAGMA application_id", app, e);
  if (st == FFTCONV_OK) st = cache_pragma_int(c, "PRAGMA user_version", ver, e);
  if (st == FFTCONV_OK) st = cache_pragma_int(c, "SELECT count(*) FROM sqlite_master", objs, e);
  return st;
}

static fftconv_status cache_judge(fc_cache *c, int64_t app, int64_t ver, int64_t objs,
                                  fc_err *e) {
  if (app == 0 && ver == 0 && objs == 0) return FFTCONV_OK; /* empty: ours to create */
  if (app != FC_CACHE_APP_ID)
    return fc_fail(e, FFTCONV_ERR_IO,
                   "cache %s is not an fftconv cache: an SQLite database of another application "
                   "(application_id 0x%08llx, %lld schema objects)", c->path,
                   (unsigned long long)(uint32_t)app, (long long)objs);
  if (ver > CACHE_VERSION)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s has schema version %lld; this build reads up to %d",
                   c->path, (long long)ver, CACHE_VERSION);
  if (ver < 1)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is damaged: schema version %lld", c->path,
                   (long long)ver);
  return FFTCONV_OK;
}

/* The first step from version 2 to 3, inside the migration's transaction: kernels.source
   loses its NOT NULL. ALTER TABLE cannot drop a constraint, and rebuilding the table would
   copy every cubin of a cache that may hold hundreds of MB, so this takes SQLite's documented
   procedure for removing a NOT NULL constraint (sqlite.org/lang_altertable.html, "making
   other kinds of table schema changes"): edit the table's CREATE text in sqlite_master under
   writable_schema and bump schema_version so that every connection re-reads it. The text is
   the one cache_schema_v1 and _v2 wrote; anything else is refused, and the result is read
   back before the transaction can commit. */
static fftconv_status cache_source_nullable(fc_cache *c, fc_err *e) {
  int64_t cookie = 0, notnull = 1;
  char sql[160];
  fftconv_status st = cache_pragma_int(c, "PRAGMA schema_version", &cookie, e);
  if (st != FFTCONV_OK) return st;
  char *err = NULL;
  int rc = sqlite3_exec(c->db, "PRAGMA writable_schema = ON;"
                        "UPDATE sqlite_master SET sql = replace(sql, ' source TEXT NOT NULL,', "
                        "' source TEXT,') WHERE type = 'table' AND name = 'kernels' AND "
                        "instr(sql, ' source TEXT NOT NULL,') > 0",
                        NULL, NULL, &err);
  int changed = rc == SQLITE_OK ? sqlite3_changes(c->db) : 0;
  snprintf(sql, sizeof sql, "PRAGMA schema_version = %lld; PRAGMA writable_schema = OFF",
           (long long)cookie + 1);
  if (rc == SQLITE_OK && changed == 1) rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
  else sqlite3_exec(c->db, "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: migrating to version 3: %s", c->path,
                 err ? err : sqlite3_errmsg(c->db));
  else if (changed != 1)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: migrating to version 3: its kernels table is "
                 "not the one schema version 2 created (no 'source TEXT NOT NULL')", c->path);
  sqlite3_free(err);
  if (st == FFTCONV_OK)
    st = cache_pragma_int(c, "SELECT \"notnull\" FROM pragma_table_info('kernels') "
                          "WHERE name = 'source'", &notnull, e);
  if (st == FFTCONV_OK && notnull != 0)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: migrating to version 3: kernels.source is "
                 "still NOT NULL after the schema edit (is SQLite in defensive mode?)", c->path);
  return st;
}

/* Creates or migrates the schema, in one BEGIN IMMEDIATE transaction. The file is looked at
   again inside it: another process may have created or migrated it since we looked. */
static fftconv_status cache_upgrade(fc_cache *c, fc_err *e) {
  int64_t app = 0, ver = 0, objs = 0;
  char *err = NULL;
  fftconv_status st = cache_begin(c, 1, e);
  if (st != FFTCONV_OK) return st;
  st = cache_identify(c, &app, &ver, &objs, e);
  if (st != FFTCONV_OK) goto done;
  st = cache_judge(c, app, ver, objs, e);
  if (st != FFTCONV_OK) goto done;
  if (objs == 0) {
    if (sqlite3_exec(c->db, cache_schema_v3, NULL, NULL, &err) != SQLITE_OK) goto sqlfail;
    ver = CACHE_VERSION;
  }
  for (; ver < CACHE_VERSION; ver++) {
    if (ver == 2 && (st = cache_source_nullable(c, e)) != FFTCONV_OK) goto done;
    if (sqlite3_exec(c->db, cache_migrations[ver], NULL, NULL, &err) != SQLITE_OK) goto sqlfail;
  }
  /* PRAGMAs take no bound parameters; these are constants of this file. */
  if (sqlite3_exec(c->db,
                   "PRAGMA application_id = " CACHE_STR(FC_CACHE_APP_ID) ";"
                   "PRAGMA user_version = " CACHE_STR(CACHE_VERSION) ";",
                   NULL, NULL, &err) != SQLITE_OK)
    goto sqlfail;
  goto done;
sqlfail:
  st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: creating or migrating the schema to version %d: %s",
               c->path, CACHE_VERSION, err ? err : sqlite3_errmsg(c->db));
done:
  sqlite3_free(err);
  return cache_end(c, st, e);
}

/* file:PATH?immutable=1, with the characters a URI path may not hold escaped. */
static void cache_uri(char *buf, size_t len, const char *path) {
  size_t n = (size_t)snprintf(buf, len, "file:");
  for (const unsigned char *p = (const unsigned char *)path; *p && n + 16 < len; p++) {
    if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' || *p >= 0x7f)
      n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
    else
      buf[n++] = (char)*p;
  }
  snprintf(buf + n, len - n, "?immutable=1");
}

/* fftconv_source_hash(text): cache_source_hash in SQL, for slimming the rows of schema 2
   (NULL for NULL). */
static void cache_sql_source_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return;
  }
  const char *t = (const char *)sqlite3_value_text(argv[0]);
  if (!t) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  char h[17];
  cache_source_hash(t, (size_t)sqlite3_value_bytes(argv[0]), h);
  sqlite3_result_text(ctx, h, 16, SQLITE_TRANSIENT);
}

static fftconv_status cache_connect(fc_cache *c, const char *name, int flags, fc_err *e) {
  int rc = sqlite3_open_v2(name, &c->db, flags, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(c->db, "fftconv_source_hash", 1,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                    cache_sql_source_hash, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    fftconv_status st = cache_sqlfail(c, rc, "opening", e);
    sqlite3_close(c->db);
    c->db = NULL;
    return st;
  }
  sqlite3_extended_result_codes(c->db, 1);
  fc_cache_set_busy_timeout(c, c->busy_ms);
  return FFTCONV_OK;
}

/* Switches to WAL. Unlike other statements this does not wait in the busy handler when
   another connection holds a lock (it needs the file to itself for a moment), so it waits
   here, as long as the busy timeout. It only does work on a file not yet in WAL mode. */
static fftconv_status cache_wal(fc_cache *c, fc_err *e) {
  double deadline = fc_now() + c->busy_ms / 1000.0;
  for (;;) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return FFTCONV_OK;
    if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || fc_now() > deadline)
      return cache_sqlfail(c, rc, "switching to WAL", e);
    usleep(5000);
  }
}

/* A new cache is built under a temporary name beside it and linked into place, so that
   other processes find either no file or a complete cache: several tuners creating the
   same cache at once would otherwise race to turn one empty file into a WAL database. */
static fftconv_status cache_create(fc_cache *c, fc_err *e) {
  char tmp[sizeof c->path + 16], side[sizeof tmp + 8];
  snprintf(tmp, sizeof tmp, "%s.new-XXXXXX", c->path);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: cannot create a file beside it: %s", c->path,
                   strerror(errno));
  close(fd);
  chmod(tmp, 0644); /* as SQLite would have created it; mkstemp makes 0600 */
  fc_cache t = {.busy_ms = c->busy_ms};
  cache_copy(t.path, sizeof t.path, c->path);
  int64_t dummy;
  fftconv_status st = cache_connect(&t, tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, e);
  if (st == FFTCONV_OK) st = cache_pragma_int(&t, "PRAGMA journal_mode = WAL", &dummy, e);
  if (st == FFTCONV_OK) st = cache_upgrade(&t, e);
  for (int i = 0; i < CACHE_NSTMT; i++) sqlite3_finalize(t.st[i]);
  if (sqlite3_close(t.db) != SQLITE_OK && st == FFTCONV_OK)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: closing the new file failed", c->path);
  /* link() never replaces: whoever links first made the cache, and it is as good as ours.
     Where a file system has no hard links, rename() unless one appeared meanwhile (the one
     window left open there). */
  if (st == FFTCONV_OK && link(tmp, c->path) != 0 && errno != EEXIST) {
    int err = errno;
    if (access(c->path, F_OK) != 0 && rename(tmp, c->path) != 0)
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: cannot create it: %s (link: %s)", c->path,
                   strerror(errno), strerror(err));
  }
  unlink(tmp);
  snprintf(side, sizeof side, "%s-wal", tmp);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", tmp);
  unlink(side);
  return st;
}

fftconv_status fc_cache_open(const char *path, int writable, fc_cache **out, fc_err *e) {
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "out: NULL");
  *out = NULL;
  int any_version = writable == FC_CACHE_READ_ANY_VERSION;
  if (any_version) writable = 0;
  fc_cache *c = calloc(1, sizeof *c);
  if (!c) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  c->writable = writable;
  c->busy_ms = CACHE_BUSY_MS;
  fftconv_status st = FFTCONV_OK;
  if (path) {
    if (!*path || strlen(path) >= sizeof c->path) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "cache path: '%.200s' is empty or too long", path);
      goto fail;
    }
    cache_copy(c->path, sizeof c->path, path);
  } else if ((st = fc_cache_default_path(c->path, sizeof c->path, e)) != FFTCONV_OK) {
    goto fail;
  }

  struct stat sb;
  int exists = stat(c->path, &sb) == 0;
  if (!exists && errno != ENOENT) {
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", c->path, strerror(errno));
    goto fail;
  }
  if (exists && !S_ISREG(sb.st_mode)) {
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is not an fftconv cache: not a regular file",
                 c->path);
    goto fail;
  }
  if (!exists && !writable) {
    st = fc_fail(e, FFTCONV_ERR_IO, "no cache at %s", c->path);
    goto fail;
  }
  if (exists && (st = cache_check_header(c->path, sb.st_size, writable, e)) != FFTCONV_OK)
    goto fail;
  if (writable) {
    /* WAL keeps -wal and -shm files beside the database: the directory must be writable too */
    char dir[4096];
    cache_copy(dir, sizeof dir, c->path);
    char *slash = strrchr(dir, '/');
    if (!slash) cache_copy(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (!exists && (st = cache_mkdirs(c->path, e)) != FFTCONV_OK) goto fail;
    if (exists && access(c->path, W_OK) != 0) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: %s", c->path, strerror(errno));
      goto fail;
    }
    if (access(dir, W_OK | X_OK) != 0) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: its directory %s: %s", c->path,
                   dir, strerror(errno));
      goto fail;
    }
    if (!exists && (st = cache_create(c, e)) != FFTCONV_OK) goto fail;
  }

  int64_t app = 0, ver = 0, objs = 0;
  if (writable) {
    if ((st = cache_connect(c, c->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                            SQLITE_OPEN_NOMUTEX, e)) != FFTCONV_OK)
      goto fail;
    /* SQLite quietly opens a write-protected file read-only (root ignores permission bits,
       so access() alone cannot tell) */
    if (sqlite3_db_readonly(c->db, "main") == 1) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: SQLite could only open it for "
                   "reading", c->path);
      goto fail;
    }
  } else {
    if ((st = cache_connect(c, c->path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, e)) !=
        FFTCONV_OK)
      goto fail;
  }
  char why[1024] = "";
  st = cache_identify(c, &app, &ver, &objs, e);
  if (st != FFTCONV_OK) cache_copy(why, sizeof why, sqlite3_errmsg(c->db));
  if (st != FFTCONV_OK && !writable) {
    /* A WAL file whose -shm cannot be created (read-only directory, no writer around):
       SQLite can read it only as immutable, which is right when there is no -wal either. */
    char wal[4200], uri[8400];
    snprintf(wal, sizeof wal, "%s-wal", c->path);
    if (access(wal, F_OK) != 0) {
      sqlite3_close(c->db);
      c->db = NULL;
      cache_uri(uri, sizeof uri, c->path);
      fc_err e2;
      if (cache_connect(c, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        &e2) == FFTCONV_OK &&
          cache_identify(c, &app, &ver, &objs, &e2) == FFTCONV_OK)
        st = FFTCONV_OK;
    }
  }
  if (st != FFTCONV_OK) {
    /* SQLITE_NOTADB and friends: the header looked right but the rest is not a database */
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is not an fftconv cache or cannot be read: %s",
                 c->path, why);
    goto fail;
  }
  if ((st = cache_judge(c, app, ver, objs, e)) != FFTCONV_OK) goto fail;
  if (!writable) {
    if (objs == 0) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is not an fftconv cache: an empty database",
                   c->path);
      goto fail;
    }
    if (ver < CACHE_VERSION && !any_version) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s has schema version %lld; open it writable "
                   "once (fftconv-tune, fftconv-cache prune) to migrate it to %d", c->path,
                   (long long)ver, CACHE_VERSION);
      goto fail;
    }
  } else {
    /* Only now, with the file known to be ours or empty, may anything write to it. */
    /* NORMAL is durable across a crash of the process (a tuner killed by a bad kernel keeps
       every committed measurement); only a power cut may lose the last few, which is a miss */
    int64_t dummy;
    if ((st = cache_wal(c, e)) != FFTCONV_OK ||
        (st = cache_pragma_int(c, "PRAGMA synchronous = NORMAL", &dummy, e)) != FFTCONV_OK)
      goto fail;
    if (objs == 0 || ver < CACHE_VERSION) {
      if ((st = cache_upgrade(c, e)) != FFTCONV_OK) goto fail;
    }
  }
  {
    char *err = NULL;
    if (sqlite3_exec(c->db, "PRAGMA foreign_keys = ON", NULL, NULL, &err) != SQLITE_OK) {
      st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", c->path, err ? err : "foreign_keys");
      sqlite3_free(err);
      goto fail;
    }
  }
  *out = c;
  return FFTCONV_OK;
fail:
  fc_cache_close(c);
  return st;
}

void fc_cache_close(fc_cache *c) {
  if (!c) return;
  for (int i = 0; i < CACHE_NSTMT; i++) sqlite3_finalize(c->st[i]);
  sqlite3_close(c->db);
  free(c);
}

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

static fftconv_status cache_kernel_id(fc_cache *c, int q, const char *hash, const char *params,
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

void fc_cache_kernel_row_free(fc_cache_kernel_row *r) {
  if (!r) return;
  fc_cache_kernel *k = &r->k;
  free((void *)k->tmpl);
  free((void *)k->hash);
  free((void *)k->params);
  free((void *)k->nvrtc);
  free((void *)k->source);
  free((void *)k->source_hash);
  free((void *)k->cubin);
  free((void *)k->ptx);
  free((void *)k->log);
  free((void *)k->fwd_entry);
  free((void *)k->prep_entry);
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
  sqlite3_bind_int64(s, 1, id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    fc_cache_kernel *k = &out->k;
    k->tmpl = cache_col_dup(s, 0);
    k->revision = sqlite3_column_int(s, 1);
    k->hash = cache_col_dup(s, 2);
    k->params = cache_col_dup(s, 3);
    k->sm = sqlite3_column_int(s, 4);
    k->nvrtc = cache_col_dup(s, 5);
    k->source = cache_col_dup(s, 6);
    k->source_hash = cache_col_dup(s, 7);
    if (!k->source_hash && k->source) { /* a schema-2 row: its hash is computed on demand */
      char h[17];
      cache_source_hash(k->source, (size_t)sqlite3_column_bytes(s, 6), h);
      k->source_hash = strdup(h);
    }
    if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
      size_t n = (size_t)sqlite3_column_bytes(s, 8);
      void *b = malloc(n ? n : 1);
      if (b) memcpy(b, sqlite3_column_blob(s, 8), n);
      k->cubin = b;
      k->cubin_size = n;
    }
    k->ptx = cache_col_dup(s, 9);
    k->log = cache_col_dup(s, 10);
    k->registers = sqlite3_column_int(s, 11);
    k->smem_static = sqlite3_column_int(s, 12);
    k->stack = sqlite3_column_int(s, 13);
    k->spill_stores = sqlite3_column_int(s, 14);
    k->spill_loads = sqlite3_column_int(s, 15);
    k->compile_seconds = cache_col_real(s, 16);
    k->layout.threads = sqlite3_column_int(s, 17);
    k->layout.smem = sqlite3_column_int(s, 18);
    k->layout.seqs = sqlite3_column_int(s, 19);
    k->layout.prep_threads = sqlite3_column_int(s, 20);
    k->layout.prep_smem = sqlite3_column_int(s, 21);
    k->layout.prep_seqs = sqlite3_column_int(s, 22);
    k->layout.khat = sqlite3_column_int64(s, 23);
    k->layout.khat_table = sqlite3_column_int64(s, 24);
    k->fwd_entry = cache_col_dup(s, 25);
    k->prep_entry = cache_col_dup(s, 26);
    out->created = cache_col_real(s, 27);
    out->binary_dropped = cache_col_real(s, 28);
    out->id = sqlite3_column_int64(s, CACHE_KN);
    *found = 1;
    if (!k->tmpl || !k->hash || !k->params || !k->nvrtc || !k->fwd_entry || !k->prep_entry ||
        (sqlite3_column_type(s, 6) != SQLITE_NULL && !k->source) ||
        (sqlite3_column_type(s, 7) != SQLITE_NULL && !k->source_hash) ||
        (k->source && !k->source_hash) ||
        (sqlite3_column_type(s, 8) != SQLITE_NULL && !k->cubin)) {
      fc_cache_kernel_row_free(out);
      *found = 0;
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading kernel %lld",
                   (long long)id);
    }
  } else if (rc != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "reading a kernel", e);
  }
  sqlite3_reset(s);
  return st;
}

/* ---- the source, emitted again ---- */

fftconv_status fc_cache_source(const fc_cache_kernel *k, char **source, fc_err *e) {
  if (source) *source = NULL;
  if (!k || !source || !k->tmpl || !k->hash || !k->params)
    return fc_fail(e, FFTCONV_ERR_INVALID, "cache source: NULL argument or kernel field");
  if (k->source) {
    if (!(*source = strdup(k->source))) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    return FFTCONV_OK;
  }
  static const char cannot[] = "its source is not stored and cannot be emitted again";
  char now[17];
  fc_err te = {{0}};
  if (fc_template_hash(k->tmpl, now, &te) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "%s: template %s is not embedded in this build",
                   cannot, k->tmpl);
  if (strcmp(now, k->hash))
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED,
                   "%s: it was generated by template %s revision %d with hash %s, and this "
                   "build embeds %s with hash %s (the template changed since)",
                   cannot, k->tmpl, k->revision, k->hash, k->tmpl, now);
  if (!k->source_hash)
    return fc_fail(e, FFTCONV_ERR_IO, "%s: the cache has no hash of it to check against",
                   cannot);
  /* the device only reaches layout(), whose result the header shows: the arch's published
     limits, as a compile-only run would use */
  fc_device_info d;
  if (!fc_device_info_for_arch(k->sm, &d)) {
    memset(&d, 0, sizeof d);
    d.sm = k->sm;
  }
  fc_emit *m = NULL;
  fc_kernel_src src = {0};
  fftconv_status st = fc_emit_open(&m, e);
  if (st == FFTCONV_OK && (st = fc_emit_kernel(m, k->tmpl, k->params, &d, &src, &te)) != FFTCONV_OK)
    fc_fail(e, st, "emitting the source of %s %s again: %s", k->tmpl, k->params, te.msg);
  fc_emit_close(m);
  if (st != FFTCONV_OK) return st;
  char h[17];
  cache_source_hash(src.source, strlen(src.source), h);
  if (strcmp(h, k->source_hash)) {
    st = fc_fail(e, FFTCONV_ERR_IO, "the source emitted again from template %s %s hashes to "
                 "%s, not to the stored %s: it is not the text this kernel was compiled from",
                 k->tmpl, k->params, h, k->source_hash);
  } else {
    *source = src.source;
    src.source = NULL;
  }
  fc_kernel_src_free(&src);
  return st;
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

/* The problem's key and the fields stored beside it. */
typedef struct cache_shape {
  char key[256];
  int64_t k, n;
} cache_shape;

static fftconv_status cache_shape_of(const fftconv_problem *p, cache_shape *sh, fc_err *e) {
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
static fftconv_status cache_rewin(fc_cache *c, int64_t dev, const char *key, const char *hashes,
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

/* ---- lookup ---- */

void fc_cache_hit_free(fc_cache_hit *h) {
  if (!h) return;
  free(h->params);
  free(h->cubin);
  h->params = NULL;
  h->cubin = NULL;
  h->cubin_size = 0;
}

/* Copies the current CACHE_HIT row into hit. */
static fftconv_status cache_hit_read(sqlite3_stmt *s, fc_cache_hit *h, fc_err *e) {
  memset(h, 0, sizeof *h);
  h->kernel_id = sqlite3_column_int64(s, 0);
  cache_copy(h->problem_key, sizeof h->problem_key, cache_col_text(s, 1));
  h->median_ms = cache_col_real(s, 2);
  cache_copy(h->tmpl, sizeof h->tmpl, cache_col_text(s, 3));
  h->revision = sqlite3_column_int(s, 4);
  cache_copy(h->hash, sizeof h->hash, cache_col_text(s, 5));
  h->params = cache_col_dup(s, 6);
  size_t n = (size_t)sqlite3_column_bytes(s, 7);
  h->cubin = malloc(n ? n : 1);
  if (!h->params || !h->cubin) {
    fc_cache_hit_free(h);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a cached kernel");
  }
  memcpy(h->cubin, sqlite3_column_blob(s, 7), n);
  h->cubin_size = n;
  h->layout.threads = sqlite3_column_int(s, 8);
  h->layout.smem = sqlite3_column_int(s, 9);
  h->layout.seqs = sqlite3_column_int(s, 10);
  h->layout.prep_threads = sqlite3_column_int(s, 11);
  h->layout.prep_smem = sqlite3_column_int(s, 12);
  h->layout.prep_seqs = sqlite3_column_int(s, 13);
  h->layout.khat = sqlite3_column_int64(s, 14);
  h->layout.khat_table = sqlite3_column_int64(s, 15);
  cache_copy(h->fwd_entry, sizeof h->fwd_entry, cache_col_text(s, 16));
  cache_copy(h->prep_entry, sizeof h->prep_entry, cache_col_text(s, 17));
  return FFTCONV_OK;
}

/* A nearest-shape candidate and its distance to the problem. */
typedef struct cache_cand {
  int64_t id, kernel;
  double ratio;   /* max(rows, R) / min(rows, R): orders like |log rows - log R| */
  int64_t dl;     /* |L - L'| */
  double median;
} cache_cand;

static int cache_cand_cmp(const void *a, const void *b) {
  const cache_cand *x = a, *y = b;
  if (x->ratio != y->ratio) return x->ratio < y->ratio ? -1 : 1;
  if (x->dl != y->dl) return x->dl < y->dl ? -1 : 1;
  if (x->median != y->median) return x->median < y->median ? -1 : 1;
  return (x->kernel > y->kernel) - (x->kernel < y->kernel); /* deterministic to the end */
}

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
    if ((st = cache_hit_read(s, hit, e)) == FFTCONV_OK) *found = 1;
  } else if (rc != SQLITE_DONE) {
    st = cache_sqlfail(c, rc, "looking a kernel up", e);
  }
  sqlite3_reset(s);
  return st;
}

/* The nearest shape's trusted winner: candidates ranked, then the first that passes the
   trust rule (usually the first). */
static fftconv_status cache_near(fc_cache *c, const fc_cache_config *cfg,
                                 const fftconv_problem *p, const cache_shape *sh,
                                 const char *list, fc_cache_hit *hit, int *found, fc_err *e) {
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, Q_NEAR, &st, e);
  if (!s) return st;
  cache_bind_dev(s, cfg);
  cache_nbind_int(s, ":n", sh->n);
  cache_nbind_text(s, ":dtype", fftconv_dtype_name(p->dtype));
  cache_nbind_text(s, ":mode", fftconv_mode_name(p->mode));
  cache_nbind_int(s, ":pre", p->pre_gate);
  cache_nbind_int(s, ":post", p->post_gate);
  cache_nbind_int(s, ":skipd", p->skip_d);
  cache_nbind_int(s, ":f", p->freq_keep);
  cache_nbind_int(s, ":full", sh->k == p->seqlen);
  cache_cand stack[64], *v = stack;
  size_t n = 0, cap = sizeof stack / sizeof stack[0];
  double rows = (double)(p->batch * p->heads);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == cap) {
      cache_cand *bigger = malloc(2 * cap * sizeof *bigger);
      if (!bigger) {
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
        break;
      }
      memcpy(bigger, v, n * sizeof *v);
      if (v != stack) free(v);
      v = bigger;
      cap *= 2;
    }
    double r = (double)sqlite3_column_int64(s, 1);
    int64_t dl = sqlite3_column_int64(s, 2) - p->seqlen;
    v[n++] = (cache_cand){.id = sqlite3_column_int64(s, 0),
                          .kernel = sqlite3_column_int64(s, 4),
                          .ratio = r > rows ? r / rows : rows / r,
                          .dl = dl < 0 ? -dl : dl,
                          .median = sqlite3_column_double(s, 3)};
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = cache_sqlfail(c, rc, "looking up nearest shapes", e);
  sqlite3_reset(s);
  if (st == FFTCONV_OK) qsort(v, n, sizeof *v, cache_cand_cmp);
  for (size_t i = 0; i < n && st == FFTCONV_OK && !*found; i++)
    st = cache_hit_get(c, cfg, list, NULL, v[i].id, hit, found, e);
  if (v != stack) free(v);
  return st;
}

fftconv_status fc_cache_lookup(fc_cache *c, const fc_cache_config *cfg,
                               const fftconv_problem *p, const char *const *hashes, int nhashes,
                               fc_cache_hit *hit, int *found, fc_err *e) {
  fftconv_status st = cache_check_cfg(c, cfg, e);
  if (st != FFTCONV_OK) return st;
  if (!hit || !found) return fc_fail(e, FFTCONV_ERR_INVALID, "cache lookup: NULL argument");
  memset(hit, 0, sizeof *hit);
  *found = 0;
  cache_shape sh;
  if ((st = cache_shape_of(p, &sh, e)) != FFTCONV_OK) return st;
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
    st = cache_near(c, cfg, p, &sh, list, hit, found, e);
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

/* ---- listing ---- */

/* The dtype named by a stored name (fftconv_dtype_name's). */
static void cache_dtype_of(const char *name, fftconv_dtype *dt) {
  const fftconv_dtype all[] = {FFTCONV_FP32, FFTCONV_FP16, FFTCONV_BF16};
  for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
    if (!strcmp(name, fftconv_dtype_name(all[i]))) *dt = all[i];
}

fftconv_status fc_cache_list(fc_cache *c, const fc_cache_filter *f, fc_cache_entry_fn fn,
                             void *arg, fc_err *e) {
  if (!c || !fn) return fc_fail(e, FFTCONV_ERR_INVALID, "cache list: NULL argument");
  fc_cache_filter none = {0};
  if (!f) f = &none;
  fftconv_status st = FFTCONV_OK;
  sqlite3_stmt *s = cache_stmt(c, f->all ? Q_LIST_ALL : Q_LIST_WINNERS, &st, e);
  if (!s) return st;
  cache_nbind_text(s, ":device", f->device);
  cache_nbind_text(s, ":problem", f->problem);
  cache_nbind_int(s, ":kernel", f->kernel_id);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    fc_cache_entry r = {
        .device = cache_col_text(s, 0),
        .sms = sqlite3_column_int(s, 1),
        .driver_version = sqlite3_column_int(s, 2),
        .device_sm = sqlite3_column_int(s, 3),
        .problem_key = cache_col_text(s, 4),
        .kernel_id = sqlite3_column_int64(s, 5),
        .tmpl = cache_col_text(s, 6),
        .revision = sqlite3_column_int(s, 7),
        .hash = cache_col_text(s, 8),
        .params = cache_col_text(s, 9),
        .sm = sqlite3_column_int(s, 10),
        .nvrtc = cache_col_text(s, 11),
        .status = cache_col_text(s, 12),
        .message = cache_col_text(s, 13),
        .median_ms = cache_col_real(s, 14),
        .p10_ms = cache_col_real(s, 15),
        .p90_ms = cache_col_real(s, 16),
        .rel_err = cache_col_real(s, 17),
        .runs = sqlite3_column_int(s, 18),
        .rigor = cache_col_text(s, 19),
        .measured_at = cache_col_real(s, 20),
        .winner = sqlite3_column_int(s, 21),
        .copy_gbps = cache_col_real(s, 22),
    };
    fftconv_problem_init(&r.problem);
    r.problem.batch = sqlite3_column_int64(s, 23);
    r.problem.heads = sqlite3_column_int64(s, 24);
    r.problem.seqlen = sqlite3_column_int64(s, 25);
    r.problem.filter_len = sqlite3_column_int64(s, 26);
    r.problem.freq_keep = sqlite3_column_int64(s, 27);
    cache_dtype_of(cache_col_text(s, 28), &r.problem.dtype);
    r.problem.mode = cache_col_text(s, 29) && !strcmp(cache_col_text(s, 29), "circular")
                         ? FFTCONV_CIRCULAR
                         : FFTCONV_CAUSAL;
    r.problem.pre_gate = sqlite3_column_int(s, 30);
    r.problem.post_gate = sqlite3_column_int(s, 31);
    r.problem.skip_d = sqlite3_column_int(s, 32);
    if (fn(&r, arg)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = cache_sqlfail(c, rc, "listing", e);
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
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    if (!cache_pairs_add(&lost, sqlite3_column_int64(s, 0), cache_col_text(s, 1))) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      goto done;
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
  fftconv_status st = cache_hash_list(hashes, nhashes, &hl, e);
  if (st != FFTCONV_OK) goto out;
  if ((st = fc_cache_open(other, 0, &o, e)) != FFTCONV_OK) goto out;
  /* one snapshot of the other file for the whole copy */
  if ((st = cache_begin(o, 0, e)) != FFTCONV_OK) goto out;
  if ((st = cache_begin(c, 1, e)) != FFTCONV_OK) goto out;

  /* devices */
  if (!(r = cache_stmt(o, Q_MERGE_DEVICE, &st, e))) goto done;
  while (cache_other_step(r, o, "reading devices", &st, e)) {
    sqlite3_stmt *s = cache_stmt(c, Q_DEVICE_PUT, &st, e);
    if (!s) goto done;
    for (int i = 1; i <= 8; i++) sqlite3_bind_value(s, i, sqlite3_column_value(r, i));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
      st = cache_sqlfail(c, rc, "copying a device", e);
      goto done;
    }
    added->devices += sqlite3_changes(c->db);
    if (!(s = cache_stmt(c, Q_DEVICE_ID, &st, e))) goto done;
    for (int i = 1; i <= 3; i++) sqlite3_bind_value(s, i, sqlite3_column_value(r, i));
    rc = sqlite3_step(s);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (!id) {
      st = cache_sqlfail(c, rc, "finding a copied device", e);
      goto done;
    }
    if (sqlite3_column_type(r, 9) != SQLITE_NULL) { /* ours, if we have one; else theirs */
      if (!(s = cache_stmt(c, Q_BANDWIDTH_MERGE, &st, e))) goto done;
      sqlite3_bind_int64(s, 1, id);
      sqlite3_bind_value(s, 2, sqlite3_column_value(r, 9));
      rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) {
        st = cache_sqlfail(c, rc, "copying a device's bandwidth", e);
        goto done;
      }
    }
    if (!cache_idmap_add(&devs, sqlite3_column_int64(r, 0), id)) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      goto done;
    }
  }
  sqlite3_reset(r);
  if (st != FFTCONV_OK) goto done;

  /* kernels: one at a time, so a cache of many cubins never sits in memory at once */
  {
    static const char q[] = "SELECT " CACHE_KCOLS ", id FROM kernels ORDER BY id";
    sqlite3_stmt *k;
    int rc = sqlite3_prepare_v2(o->db, q, -1, &k, NULL);
    if (rc != SQLITE_OK) {
      st = cache_sqlfail(o, rc, "reading kernels", e);
      goto done;
    }
    while (cache_other_step(k, o, "reading kernels", &st, e)) {
      /* the upsert of put_kernel: a new row, or our failed compilation gets their cubin */
      int64_t id = 0, had = 0;
      st = cache_kernel_id(c, Q_KERNEL_ID, cache_col_text(k, 2), cache_col_text(k, 3),
                           sqlite3_column_int(k, 4), cache_col_text(k, 5), &had, e);
      if (st != FFTCONV_OK) break;
      sqlite3_stmt *s = cache_stmt(c, Q_KERNEL_PUT, &st, e);
      if (!s) break;
      for (int i = 0; i < CACHE_KN; i++) sqlite3_bind_value(s, i + 1, sqlite3_column_value(k, i));
      /* the source itself stays behind: its hash is enough to check it when emitted again */
      char h[17];
      sqlite3_bind_null(s, 7);
      if (sqlite3_column_type(k, 7) == SQLITE_NULL && sqlite3_column_type(k, 6) != SQLITE_NULL) {
        const char *src = cache_col_text(k, 6);
        if (!src) {
          sqlite3_reset(s);
          st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
          break;
        }
        cache_source_hash(src, (size_t)sqlite3_column_bytes(k, 6), h);
        cache_bind_text(s, 8, h);
      }
      rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) {
        st = cache_sqlfail(c, rc, "copying a kernel", e);
        break;
      }
      if (had) {
        id = had;
      } else {
        id = sqlite3_last_insert_rowid(c->db);
        added->kernels++;
      }
      if (!cache_idmap_add(&kers, sqlite3_column_int64(k, CACHE_KN), id)) {
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
        break;
      }
    }
    sqlite3_finalize(k);
    if (st != FFTCONV_OK) goto done;
  }

  /* measurements: the later measured_at wins */
  {
    static const char q[] = "SELECT " CACHE_MCOLS " FROM measurements "
                           "ORDER BY device, problem_key, id";
    sqlite3_stmt *m;
    int rc = sqlite3_prepare_v2(o->db, q, -1, &m, NULL);
    if (rc != SQLITE_OK) {
      st = cache_sqlfail(o, rc, "reading measurements", e);
      goto done;
    }
    while (cache_other_step(m, o, "reading measurements", &st, e)) {
      int64_t dev = cache_idmap_get(&devs, sqlite3_column_int64(m, 0));
      int64_t ker = cache_idmap_get(&kers, sqlite3_column_int64(m, 13));
      const char *key = cache_col_text(m, 1);
      double at = sqlite3_column_double(m, 22);
      if (!dev || !ker || !key) {
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s is damaged: a measurement refers to a "
                     "missing device or kernel", other);
        break;
      }
      sqlite3_stmt *s = cache_stmt(c, Q_MERGE_MEAS_AT, &st, e);
      if (!s) break;
      sqlite3_bind_int64(s, 1, dev);
      cache_bind_text(s, 2, key);
      sqlite3_bind_int64(s, 3, ker);
      rc = sqlite3_step(s);
      int have = rc == SQLITE_ROW;
      double mine = have ? sqlite3_column_double(s, 0) : 0;
      sqlite3_reset(s);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = cache_sqlfail(c, rc, "reading a measurement", e);
        break;
      }
      if (have && mine >= at) {
        added->skipped++;
        continue;
      }
      if (!(s = cache_stmt(c, Q_MEAS_PUT, &st, e))) break;
      for (int i = 0; i < 23; i++) sqlite3_bind_value(s, i + 1, sqlite3_column_value(m, i));
      sqlite3_bind_int64(s, 1, dev);
      sqlite3_bind_int64(s, 14, ker);
      rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) {
        st = cache_sqlfail(c, rc, "copying a measurement", e);
        break;
      }
      if (have)
        added->replaced++;
      else
        added->measurements++;
      if (!cache_pairs_add(&touched, dev, key)) {
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
        break;
      }
    }
    sqlite3_finalize(m);
    if (st != FFTCONV_OK) goto done;
  }
  st = cache_rewin_all(c, &touched, hl.s, nvrtc, &added->rewon, e);
  added->winners = added->rewon;
done:
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
