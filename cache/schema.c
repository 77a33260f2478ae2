/* cache schema: opening, creating and migrating a file (history.c has the schema of every
 * version), and the open-time checks that keep a foreign, damaged or newer file untouched
 * (see cache.h). */
#include "cache_int.h"
#include "fields.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_STR(x) CACHE_STR2(x)
#define CACHE_STR2(x) #x

const char *fc_cache_path(const fc_cache *c) { return c ? c->path : ""; }

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
/* The problem's fields (fields.h) as columns of the shape tables: a field added to the table
   after a file's schema was written has no column there. With add, each missing one is added
   (ALTER TABLE ... ADD COLUMN, its value in every existing row fftconv_problem_init's
   default, which is what the rows meant); without, the first missing one is named in e:
   FFTCONV_ERR_IO, for a read-only open. A new field needs no schema version of its own. */
static fftconv_status cache_field_columns(fc_cache *c, int add, fc_err *e) {
  static const char *const tables[] = {"measurements", "winners"};
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                         -1, &q, NULL) != SQLITE_OK)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", c->path, sqlite3_errmsg(c->db));
  fftconv_status st = FFTCONV_OK;
  for (int t = 0; t < 2 && st == FFTCONV_OK; t++)
    for (int i = 0; i < FC_NFIELDS && st == FFTCONV_OK; i++) {
      const fc_field *f = &fc_fields[i];
      sqlite3_reset(q);
      sqlite3_bind_text(q, 1, tables[t], -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, f->name, -1, SQLITE_STATIC);
      if (sqlite3_step(q) != SQLITE_ROW) {
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", c->path, sqlite3_errmsg(c->db));
        break;
      }
      if (sqlite3_column_int64(q, 0) > 0) continue;
      if (!add) {
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s has no column for the problem field %s (added "
                     "after it was written); open it writable once (fftconv-tune, fftconv-cache "
                     "prune) to add it", c->path, f->name);
        break;
      }
      char sql[256], *err = NULL;
      const char *en = fc_field_enum_name(f, f->init_default);
      if (en)
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s TEXT NOT NULL DEFAULT '%s'",
                 tables[t], f->name, en);
      else
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT %" PRId64,
                 tables[t], f->name, f->init_default);
      if (sqlite3_exec(c->db, sql, NULL, NULL, &err) != SQLITE_OK)
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: adding the column of the problem field %s: %s",
                     c->path, f->name, err ? err : sqlite3_errmsg(c->db));
      sqlite3_free(err);
    }
  sqlite3_finalize(q);
  return st;
}

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
    if (sqlite3_exec(c->db, cache_schema_v5, NULL, NULL, &err) != SQLITE_OK) goto sqlfail;
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

/* fftconv_two_launch_manifest(template, fwd_entry, threads, smem, seqs, prep_entry,
   prep_threads, prep_smem, prep_seqs, khat, khat_table): the launch manifest JSON of a row of
   schema 3 (the first kernel ABI; filter layout "<template>.v1"), for the migration to 4. */
static void cache_sql_two_launch(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *tmpl = (const char *)sqlite3_value_text(argv[0]);
  const char *fwd = (const char *)sqlite3_value_text(argv[1]);
  const char *prep = (const char *)sqlite3_value_text(argv[5]);
  if (!tmpl || !fwd || !prep) {
    sqlite3_result_error(ctx, "a kernel row without template or entry names", -1);
    return;
  }
  char layout[80];
  snprintf(layout, sizeof layout, "%.60s.v1", tmpl);
  fc_manifest m;
  fc_manifest_two_launch(&m, fwd, sqlite3_value_int(argv[2]), sqlite3_value_int(argv[3]),
                         sqlite3_value_int(argv[4]), prep, sqlite3_value_int(argv[6]),
                         sqlite3_value_int(argv[7]), sqlite3_value_int(argv[8]),
                         sqlite3_value_int64(argv[9]), sqlite3_value_int64(argv[10]), layout);
  fc_err e = {{0}};
  if (fc_manifest_check(&m, &e) != FFTCONV_OK) {
    char msg[600];
    snprintf(msg, sizeof msg, "kernel %s: %.500s", tmpl, e.msg);
    sqlite3_result_error(ctx, msg, -1);
    return;
  }
  char *json = fc_manifest_json(&m);
  if (!json) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, json, -1, free);
}

static fftconv_status cache_connect(fc_cache *c, const char *name, int flags, fc_err *e) {
  int rc = sqlite3_open_v2(name, &c->db, flags, NULL);
  const int fl = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(c->db, "fftconv_source_hash", 1, fl, NULL,
                                    cache_sql_source_hash, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(c->db, "fftconv_two_launch_manifest", 11, fl, NULL,
                                    cache_sql_two_launch, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    fftconv_status st = cache_sqlfail(c, rc, "opening", e);
    sqlite3_close(c->db);
    c->db = NULL;
    return st;
  }
  sqlite3_extended_result_codes(c->db, 1);
  /* a limit on every value read: checked by SQLite as it reads a row, before it is copied */
  sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, FC_CACHE_MAX_VALUE);
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
    if (!any_version && (st = cache_field_columns(c, 0, e)) != FFTCONV_OK) goto fail;
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
    /* the write lock only when a column is missing: a writer of the file (a tuner) must not
       hold up every other writable open */
    fc_err probe = {{0}};
    if (cache_field_columns(c, 0, &probe) != FFTCONV_OK &&
        ((st = cache_begin(c, 1, e)) != FFTCONV_OK ||
         (st = cache_end(c, cache_field_columns(c, 1, e), e)) != FFTCONV_OK))
      goto fail;
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

