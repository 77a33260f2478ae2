/* Fuzz target: the cache's row readers (cache/columns.c and what reads through it), against
 * rows a damaged or hostile cache file can hold. A cache is made once, with two devices, two
 * kernels, their measurements and winners written through the API; each input is a list of
 * column overwrites, applied with plain SQL (as another program could have written them),
 * then the readers run as the tools and the runtime run them: a kernel read back (show,
 * export), every measurement and winner listed (list), lookups exact and nearest (plan_create),
 * the bandwidth, and the counts of slim and prune (--dry-run). The rows are then restored.
 *
 * An input is a sequence of records, each: table (1 byte), column (1 byte), row (1 byte),
 * type (1 byte: integer, real, text, blob, NULL), length (1 byte), that many bytes of value
 * (an integer or real is its decimal text). A write the schema refuses (NOT NULL, UNIQUE) is
 * skipped: such a file is not a cache this build wrote, and the schema check refuses it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cache_int.h"
#include "shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tables[] = {"devices", "kernels", "measurements", "winners"};
#define NT 4
static char cols[NT][40][32];
static int ncols[NT];
static fc_cache *cache;
static fc_device_info dev[2];
static fftconv_problem probs[2];
static const char *hash = "0123456789abcdef";

static void die(const char *what, const char *msg) {
  fprintf(stderr, "fuzz_cache_rows setup: %s: %s\n", what, msg);
  abort();
}

static void exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(cache->db, sql, NULL, NULL, &err) != SQLITE_OK) die(sql, err ? err : "?");
}

static char path[128];

/* The scratch cache goes with the process: closed (SQLite then removes its WAL and shared
   memory files), then removed. */
static void cleanup(void) {
  fc_cache_close(cache);
  cache = NULL;
  unlink(path);
}

static void setup(void) {
  snprintf(path, sizeof path, "/tmp/fftconv-fuzz-rows-%ld.db", (long)getpid());
  unlink(path);
  fc_err e = {{0}};
  if (fc_cache_open(path, 1, &cache, &e) != FFTCONV_OK) die("open", e.msg);
  atexit(cleanup);
  fc_cache_set_busy_timeout(cache, 10);
  exec("PRAGMA synchronous = OFF"); /* a scratch file: speed over durability */
  static const unsigned char cubin[64] = {0x7f, 'E', 'L', 'F'};
  int64_t kid[2];
  for (int i = 0; i < 2; i++) {
    snprintf(dev[i].name, sizeof dev[i].name, i ? "NVIDIA A100" : "NVIDIA H100");
    dev[i].sm = i ? 80 : 90;
    dev[i].sms = 132 - 24 * i;
    dev[i].driver_version = 13000;
    fc_cache_kernel k = {.tmpl = "monarch_fp32", .revision = 4, .hash = hash,
                         .params = i ? "{\"a\":2}" : "{\"a\":1}", .sm = 90, .nvrtc = "13.0",
                         .source = "// kernel", .cubin = cubin, .cubin_size = sizeof cubin,
                         .log = "ptxas", .registers = 64, .compile_seconds = 0.5};
    fc_manifest_two_launch(&k.manifest, "fftconv_fwd", 256, 20480, 2, "fftconv_prep", 128,
                           512, 1, 4097, 0, "monarch_fp32.v1");
    if (fc_cache_put_kernel(cache, &k, &kid[i], &e) != FFTCONV_OK) die("kernel", e.msg);
    fftconv_problem_init(&probs[i]);
    probs[i].batch = 8;
    probs[i].heads = 64;
    probs[i].seqlen = i ? 2048 : 4096;
    probs[i].dtype = FFTCONV_FP16;
  }
  for (int d = 0; d < 2; d++)
    for (int p = 0; p < 2; p++)
      for (int k = 0; k < 2; k++) {
        fc_cache_config cfg = {&dev[d], 90, "13.0"};
        fc_cache_measurement m = {.problem = &probs[p], .kernel_id = kid[k], .status = "ok",
                                  .median_ms = 1.0 + k, .p10_ms = 0.9, .p90_ms = 1.1,
                                  .runs = 20, .rel_err = 1e-4, .rigor = "measure"};
        if (fc_cache_put_measurement(cache, &cfg, &m, &e) != FFTCONV_OK) die("meas", e.msg);
        if (!k) {
          int64_t w = 0;
          if (fc_cache_update_winner(cache, &cfg, &probs[p], &hash, 1, &w, &e) != FFTCONV_OK)
            die("winner", e.msg);
        }
      }
  for (int t = 0; t < NT; t++) {
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TEMP TABLE saved_%s AS SELECT * FROM main.%s", tables[t],
             tables[t]);
    exec(sql);
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", tables[t]);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(cache->db, sql, -1, &s, NULL) != SQLITE_OK) die("columns", sql);
    while (sqlite3_step(s) == SQLITE_ROW && ncols[t] < 40)
      snprintf(cols[t][ncols[t]++], 32, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
  }
}

static void restore(void) {
  cache_reset_all(cache); /* the readers' statements must not hold the tables */
  exec("PRAGMA foreign_keys = OFF");
  exec("BEGIN");
  for (int t = NT - 1; t >= 0; t--) {
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM main.%s", tables[t]);
    exec(sql);
  }
  for (int t = 0; t < NT; t++) {
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO main.%s SELECT * FROM saved_%s", tables[t],
             tables[t]);
    exec(sql);
  }
  exec("COMMIT");
}

static int list_fn(const fc_cache_entry *r, void *arg) {
  (void)arg;
  /* what list prints: every string is read */
  size_t n = 0;
  const char *s[] = {r->device, r->problem_key, r->tmpl, r->hash, r->params, r->nvrtc,
                     r->status, r->message, r->rigor};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) n += s[i] ? strlen(s[i]) : 0;
  return n == (size_t)-1;
}

static void read_all(void) {
  fc_err e = {{0}};
  for (int64_t id = 1; id <= 3; id++) {
    fc_cache_kernel_row row;
    int found = 0;
    fftconv_status st = fc_cache_get_kernel(cache, id, &row, &found, &e);
    if (st == FFTCONV_OK && found) {
      char *j = fc_manifest_json(&row.k.manifest);
      free(j);
    } else if (st != FFTCONV_OK && !e.msg[0]) {
      fprintf(stderr, "get_kernel failed without a message\n");
      abort();
    }
    fc_cache_kernel_row_free(&row);
  }
  fc_cache_filter all = {.all = 1}, winners = {0};
  fc_cache_list(cache, &all, list_fn, NULL, &e);
  fc_cache_list(cache, &winners, list_fn, NULL, &e);
  for (int d = 0; d < 2; d++) {
    fc_cache_config cfg = {&dev[d], 90, "13.0"};
    for (int p = 0; p < 3; p++) {
      fftconv_problem q = probs[p % 2];
      if (p == 2) q.batch = 3, q.heads = 5; /* nearest shape */
      fc_cache_hit hit;
      int found = 0;
      if (fc_cache_lookup(cache, &cfg, &q, &hash, 1, &hit, &found, &e) == FFTCONV_OK && found)
        fc_cache_hit_free(&hit);
    }
    double gbps;
    fc_cache_get_bandwidth(cache, &cfg, &gbps, &e);
  }
  fc_cache_slimmed sl;
  fc_cache_slim(cache, 4, 1, &sl, &e);
  fc_cache_counts removed;
  fc_cache_prune(cache, &hash, 1, "13.0", 1, &removed, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!cache) setup();
  size_t i = 0;
  int writes = 0;
  exec("BEGIN");
  while (i + 5 <= size && writes < 32) {
    int t = data[i] % NT, c = data[i + 1] % ncols[t], row = 1 + data[i + 2] % 3,
        type = data[i + 3] % 5;
    size_t len = data[i + 4];
    i += 5;
    if (len > size - i) len = size - i;
    const char *v = (const char *)data + i;
    i += len;
    if (!strcmp(cols[t][c], "id")) continue; /* row ids are the keys rows are restored by */
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE main.%s SET \"%s\" = ?1 WHERE id = %d", tables[t],
             cols[t][c], row);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(cache->db, sql, -1, &s, NULL) != SQLITE_OK) continue;
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(len < 63 ? len : 63), v);
    switch (type) {
    case 0: sqlite3_bind_int64(s, 1, strtoll(num, NULL, 0)); break;
    case 1: sqlite3_bind_double(s, 1, strtod(num, NULL)); break;
    case 2: sqlite3_bind_text(s, 1, v, (int)len, SQLITE_TRANSIENT); break;
    case 3: sqlite3_bind_blob(s, 1, v, (int)len, SQLITE_TRANSIENT); break;
    default: sqlite3_bind_null(s, 1); break;
    }
    sqlite3_step(s);
    sqlite3_finalize(s);
    writes++;
  }
  exec("COMMIT");
  read_all();
  restore();
  return 0;
}
