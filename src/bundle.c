/* bundle: a bundle of fatbins as a store (see bundle.h). */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel.h"
#include "shape.h"

#define BUNDLE_MAX_ARCHS 8

typedef struct bundle_module {
  char file[128];
  const void *data; /* the fatbin: owned (read from a file) or the image's */
  size_t size;
  int ncubins;
  char cubins[BUNDLE_MAX_ARCHS][16];
  char ptx[16];     /* "" when none */
  char tmpl[64];
  int revision;
  char hash[17];
  char *params;
  fc_manifest manifest;
  int runs;         /* a cubin or the PTX runs on the device (always 1 when sm was 0) */
} bundle_module;

typedef struct bundle_entry {
  char key[256];
  fftconv_problem p;
  int module;
  char device[256];
  int sm;
  double median_ms;
} bundle_entry;

struct fc_bundle {
  char where[4096];   /* the directory, or "compiled-in bundle" */
  char mpath[4200];   /* the manifest's name in messages */
  int owns_data;
  int nmod, nent;
  bundle_module *mod;
  bundle_entry *ent;
  char desc[4800];
};

int fc_arch_runs_on(const char *arch, int sm) {
  if (!arch || sm <= 0) return 0;
  int ptx = strncmp(arch, "compute_", 8) == 0;
  char norm[16];
  int v = 0;
  if (!fc_arch_normalize(ptx ? arch + 8 : arch, norm, &v)) return 0;
  char suffix = norm[strlen(norm) - 1];
  if (suffix == 'a') return v == sm;                       /* arch-specific: that one only */
  if (ptx) return v <= sm;                                 /* the driver compiles it up */
  return v / 10 == sm / 10 && v % 10 <= sm % 10;           /* sm_80 runs on 86, not on 90 */
}

/* ---- reading ---- */

/* s for a message: at most max bytes of it, control characters and backslashes escaped (\n,
   \x1b), "..." where it was cut. A manifest's strings are its writer's, or an attacker's: a
   message never carries a terminal escape, or a megabyte of one. */
static const char *esc(char *out, size_t len, const char *s, size_t max) {
  size_t o = 0, i = 0;
  if (!s) s = "(none)";
  for (; s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    char one[8] = {(char)c, 0};
    if (c == '\\') snprintf(one, sizeof one, "\\\\");
    else if (c == '\n') snprintf(one, sizeof one, "\\n");
    else if (c == '\t') snprintf(one, sizeof one, "\\t");
    else if (c < 0x20 || c == 0x7f) snprintf(one, sizeof one, "\\x%02x", c);
    size_t k = strlen(one);
    if (o + k + 4 > len) break; /* room for "..." */
    memcpy(out + o, one, k);
    o += k;
  }
  if (s[i]) memcpy(out + o, "...", 3), o += 3;
  out[o] = 0;
  return out;
}
/* A string of the manifest's, for one message (the buffer lives to the end of the statement) */
#define ESC(s) esc((char[200]){0}, 200, (s), 120)

/* What a file that is not a regular one is, for the refusal. */
static const char *kind_of(mode_t m) {
  return S_ISDIR(m)    ? "a directory"
         : S_ISLNK(m)  ? "a symbolic link"
         : S_ISFIFO(m) ? "a FIFO (named pipe)"
         : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
                       : "of an unknown kind";
}

/* Opens path to read as a regular file. lstat first, so that a symbolic link, a FIFO, a
   device or a directory is refused without being opened (opening a FIFO blocks, opening a
   device may act, a link may lead out of the bundle; nothing of a link's target is looked at,
   so no message tells its size); then O_NOFOLLOW|O_NONBLOCK, and fstat must show the same
   regular file, so that one swapped in between is refused too. The descriptor and *size, or
   -1 with the reason in why ("is a FIFO (named pipe), not a regular file"). */
static int open_regular(const char *path, int64_t *size, char *why, size_t wlen) {
  struct stat ls, fs;
  if (lstat(path, &ls) != 0) {
    snprintf(why, wlen, "%s", strerror(errno));
    return -1;
  }
  if (S_ISDIR(ls.st_mode)) { /* strerror's words: what a reader of the old message expects */
    snprintf(why, wlen, "%s", strerror(EISDIR));
    return -1;
  }
  if (S_ISLNK(ls.st_mode)) {
    snprintf(why, wlen, "is a symbolic link: refused (a bundle's files are read only as "
             "regular files, never through a link)");
    return -1;
  }
  if (!S_ISREG(ls.st_mode)) {
    snprintf(why, wlen, "is %s, not a regular file: refused", kind_of(ls.st_mode));
    return -1;
  }
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, wlen, "%s", errno == ELOOP ? "became a symbolic link while it was opened: "
             "refused" : strerror(errno));
    return -1;
  }
  if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode) || fs.st_dev != ls.st_dev ||
      fs.st_ino != ls.st_ino) {
    snprintf(why, wlen, "was replaced while it was opened: refused");
    close(fd);
    return -1;
  }
  *size = (int64_t)fs.st_size;
  return fd;
}

/* Exactly n bytes of fd, malloc'd and NUL-terminated; closes fd. 0, or -1 with why (the file
   is shorter or grew while it was read), or -2 when out of memory. */
static int read_exactly(int fd, size_t n, char **out, char *why, size_t wlen) {
  *out = NULL;
  char *buf = malloc(n + 1);
  if (!buf) {
    close(fd);
    return -2;
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r < 0) snprintf(why, wlen, "cannot be read: %s", strerror(errno));
      else snprintf(why, wlen, "shrank while it was read (%zu of %zu bytes)", got, n);
      free(buf);
      close(fd);
      return -1;
    }
    got += (size_t)r;
  }
  char extra;
  ssize_t r;
  while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR) {
  }
  close(fd);
  if (r != 0) {
    snprintf(why, wlen, "%s while it was read (it was %zu bytes)",
             r > 0 ? "grew" : "could not be read to its end", n);
    free(buf);
    return -1;
  }
  buf[n] = 0;
  *out = buf;
  return 0;
}

/* The manifest at path (named mname in messages), its size checked before anything is
   allocated: *json NUL-terminated, *n its length. */
static fftconv_status read_manifest(const char *path, const char *mname, char **json, size_t *n,
                                    fc_err *e) {
  char why[256];
  int64_t size = 0;
  *json = NULL;
  int fd = open_regular(path, &size, why, sizeof why);
  if (fd < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s%s", mname, why,
                   errno == ENOENT ? " (not an fftconv bundle: fftconv-cache export writes one)"
                                   : "");
  if (size == 0) {
    close(fd);
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is empty (not an fftconv bundle manifest)",
                   mname);
  }
  if (size > FC_BUNDLE_MAX_MANIFEST) {
    close(fd);
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is %" PRId64 " bytes, more than a manifest "
                   "may be (%lld bytes, 64 MiB): not read", mname, size, FC_BUNDLE_MAX_MANIFEST);
  }
  int r = read_exactly(fd, (size_t)size, json, why, sizeof why);
  if (r == -2) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if (r < 0) return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", mname, why);
  *n = (size_t)size;
  return FFTCONV_OK;
}

static const char *col_text(sqlite3_stmt *s, int i);

/* The manifest's head: a JSON object with "format": "fftconv-bundle" and an integer "version"
   of 1 or more, returned in *version (a newer one is the caller's to refuse). */
static fftconv_status manifest_head(sqlite3 *db, const char *json, size_t jn, const char *mname,
                                    int64_t *version, fc_err *e) {
  if (jn == 0)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is empty (not an fftconv bundle manifest)",
                   mname);
  if (strlen(json) != jn)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not JSON (it holds a NUL byte at offset "
                   "%zu)", mname, strlen(json));
  /* SQLite's JSON functions end a string at an escaped NUL ("a\u0000b" reads as "a"): a
     name or a key would be read as another, so the text holding one is refused whole */
  for (size_t i = 0; i + 5 < jn; i++)
    if (json[i] == '\\' && (json[i + 1] | 0x20) == 'u' && !strncmp(json + i + 2, "0000", 4))
      return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: holds an escaped NUL character (\\u0000 at "
                     "offset %zu): refused", mname, i);
    else if (json[i] == '\\')
      i++; /* the escaped character: "\\\\u0000" is a backslash and text */
  sqlite3_stmt *s = NULL;
  fftconv_status st = FFTCONV_OK;
  /* json_valid in a statement of its own: the other functions raise an error on malformed
     text wherever they appear in a statement, CASE or not */
  if (sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &s, NULL) != SQLITE_OK ||
      (sqlite3_bind_text(s, 1, json, (int)jn, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not JSON (%s)", mname, sqlite3_errmsg(db));
  } else if (!sqlite3_column_int(s, 0)) {
    int blank = 1;
    for (size_t i = 0; i < jn && blank; i++) blank = strchr(" \t\r\n", json[i]) != NULL;
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", mname,
                 blank ? "is empty (only white space; not an fftconv bundle manifest)"
                       : "is not JSON (malformed)");
  }
  sqlite3_finalize(s);
  s = NULL;
  if (st != FFTCONV_OK) return st;
  const char *q = "SELECT json_type(?1),"
                  " CASE WHEN json_type(?1) = 'object' THEN json_type(?1,'$.format') END,"
                  " CASE WHEN json_type(?1) = 'object' THEN json_extract(?1,'$.format') END,"
                  " CASE WHEN json_type(?1) = 'object' THEN json_type(?1,'$.version') END,"
                  " CASE WHEN json_type(?1) = 'object' THEN json_extract(?1,'$.version') END";
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
      (sqlite3_bind_text(s, 1, json, (int)jn, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not JSON (%s)", mname, sqlite3_errmsg(db));
  } else {
    const char *type = col_text(s, 0), *ftype = col_text(s, 1), *format = col_text(s, 2);
    const char *vtype = col_text(s, 3);
    *version = sqlite3_column_int64(s, 4);
    if (!type || strcmp(type, "object"))
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not an fftconv bundle manifest (JSON %s%s, "
                   "not an object)", mname, type && !strcmp(type, "array") ? "an " : "",
                   type ? type : "?");
    else if (!ftype || strcmp(ftype, "text") || !format || strcmp(format, FC_BUNDLE_FORMAT))
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not an fftconv bundle manifest (no "
                   "\"format\": \"" FC_BUNDLE_FORMAT "\"%s%s%s)", mname,
                   format ? "; its format is \"" : "", format ? ESC(format) : "",
                   format ? "\"" : "");
    else if (!vtype || strcmp(vtype, "integer") || *version < 1)
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has no format \"version\" (a positive integer)",
                   mname);
  }
  sqlite3_finalize(s);
  return st;
}

/* A module's file name, as the manifest gives it: a plain name in the bundle's directory. NULL
   when good, else what is wrong with it. */
static const char *bad_file_name(const char *f, size_t bytes) {
  if (!f) return "is not a string";
  if (strlen(f) != bytes) return "holds a NUL character";
  if (!f[0]) return "is empty (a file name in the bundle)";
  if (bytes > 127) return "is longer than 127 bytes";
  if (strchr(f, '/')) return "holds a '/' (a file name in the bundle, not a path)";
  if (f[0] == '.') return "starts with '.' (a plain file name in the bundle)";
  for (const char *p = f; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return "holds a control character";
  if (!strcmp(f, FC_BUNDLE_MANIFEST)) return "is the manifest's own name";
  return NULL;
}

/* fc_bundle_probe and fc_bundle_probe_files: names NULL for the first. */
static fftconv_status probe(const char *dir, char ***names, int *nnames, fc_err *e) {
  if (names) *names = NULL, *nnames = 0;
  if (!dir || !dir[0]) return fc_fail(e, FFTCONV_ERR_IO, "bundle: no directory given");
  char d[4096], mname[4400];
  size_t dl = strlen(dir);
  if (dl >= sizeof d) return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: the path is too long", ESC(dir));
  memcpy(d, dir, dl + 1);
  while (dl > 1 && d[dl - 1] == '/') d[--dl] = 0; /* "b/" would make lstat follow a link b */
  esc(mname, sizeof mname, d, 4000);
  struct stat sb;
  if (lstat(d, &sb) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", mname, strerror(errno));
  if (S_ISLNK(sb.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is a symbolic link, not a bundle's directory",
                   mname);
  if (!S_ISDIR(sb.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is %s, not a bundle's directory", mname,
                   S_ISREG(sb.st_mode) ? "a regular file" : kind_of(sb.st_mode));
  char path[4200];
  snprintf(path, sizeof path, "%s/" FC_BUNDLE_MANIFEST, d);
  snprintf(mname + strlen(mname), sizeof mname - strlen(mname), "/" FC_BUNDLE_MANIFEST);
  char *json = NULL;
  size_t jn = 0;
  fftconv_status st = read_manifest(path, mname, &json, &jn, e);
  sqlite3 *db = NULL;
  if (st == FFTCONV_OK && sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "bundle: cannot open an in-memory SQLite connection");
  int64_t version = 0;
  if (st == FFTCONV_OK) st = manifest_head(db, json, jn, mname, &version, e);
  sqlite3_stmt *s = NULL;
  if (st == FFTCONV_OK && names) {
    const char *q = "SELECT json_type(?1,'$.modules'), json_array_length(?1,'$.modules')";
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
        (sqlite3_bind_text(s, 1, json, (int)jn, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: cannot be read: %s", mname, sqlite3_errmsg(db));
    } else {
      const char *t = col_text(s, 0);
      int64_t n = sqlite3_column_int64(s, 1);
      if (!t || strcmp(t, "array"))
        st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has no \"modules\" array", mname);
      else if (n > FC_BUNDLE_MAX_MODULES)
        st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has %" PRId64 " modules, more than a bundle "
                     "may hold (%d)", mname, n, FC_BUNDLE_MAX_MODULES);
      else if (!(*names = calloc((size_t)(n ? n : 1), sizeof **names)))
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
    }
    sqlite3_finalize(s);
    s = NULL;
    q = "SELECT key, json_extract(value,'$.file') FROM json_each(?1,'$.modules') ORDER BY key";
    if (st == FFTCONV_OK && sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: cannot be read: %s", mname, sqlite3_errmsg(db));
    if (st == FFTCONV_OK) sqlite3_bind_text(s, 1, json, (int)jn, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (st == FFTCONV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      int i = *nnames;
      const char *f = col_text(s, 1), *why = bad_file_name(f, (size_t)sqlite3_column_bytes(s, 1));
      if (why)
        st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: modules[%d].file %s%s%s%s", mname, i, why,
                     f ? " (\"" : "", f ? ESC(f) : "", f ? "\")" : "");
      else if (!((*names)[i] = strdup(f)))
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
      else
        (*nnames)++;
    }
    if (st == FFTCONV_OK && rc != SQLITE_DONE)
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: cannot be read: %s", mname, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    if (st != FFTCONV_OK && *names) {
      for (int i = 0; i < *nnames; i++) free((*names)[i]);
      free(*names);
      *names = NULL;
      *nnames = 0;
    }
  }
  if (db) sqlite3_close(db);
  free(json);
  return st;
}

fftconv_status fc_bundle_probe(const char *dir, fc_err *e) { return probe(dir, NULL, NULL, e); }

fftconv_status fc_bundle_probe_files(const char *dir, char ***names, int *n, fc_err *e) {
  return probe(dir, names, n, e);
}

static fftconv_status bad(fc_bundle *b, fc_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fftconv_status bad(fc_bundle *b, fc_err *e, const char *fmt, ...) {
  char what[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", b->mpath, what);
}

/* The whole file at path, malloc'd (NUL-terminated; *n without it). NULL with errno set. */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    errno = EISDIR;
    return NULL;
  }
  fc_str s = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) fc_str_addn(&s, chunk, got);
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (err || s.oom) {
    fc_str_free(&s);
    errno = err ? err : ENOMEM;
    return NULL;
  }
  if (!s.s) fc_str_addn(&s, "", 0);
  *n = s.len;
  return s.s;
}

static const char *col_text(sqlite3_stmt *s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_TEXT ? (const char *)sqlite3_column_text(s, i)
                                                  : NULL;
}

/* An integer column; 0 when it is not one. */
static int col_int(sqlite3_stmt *s, int i, int64_t *v) {
  if (sqlite3_column_type(s, i) != SQLITE_INTEGER) return 0;
  *v = sqlite3_column_int64(s, i);
  return 1;
}

static int copy_text(char *dst, size_t len, const char *src) {
  if (!src || strlen(src) >= len) return 0;
  memcpy(dst, src, strlen(src) + 1);
  return 1;
}

static void hash_hex(const void *data, size_t n, char out[17]) {
  snprintf(out, 17, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, data, n));
}

/* A module's fatbin: from the directory or from the image. */
static fftconv_status module_data(fc_bundle *b, const char *dir, const fftconv_bundle_image *img,
                                  bundle_module *m, fc_err *e) {
  if (img) {
    for (int i = 0; i < img->nfiles; i++)
      if (img->files[i].name && !strcmp(img->files[i].name, m->file)) {
        m->data = img->files[i].data;
        m->size = img->files[i].size;
        return FFTCONV_OK;
      }
    return bad(b, e, "module %s is missing: the compiled-in bundle has no file of that name",
               m->file);
  }
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, m->file);
  size_t n = 0;
  char *data = slurp(path, &n);
  if (!data)
    return bad(b, e, "module %s is missing or unreadable (%s: %s)", m->file, path,
               strerror(errno));
  m->data = data;
  m->size = n;
  return FFTCONV_OK;
}

static fftconv_status read_modules(fc_bundle *b, sqlite3 *db, const char *json, const char *dir,
                                   const fftconv_bundle_image *img, fc_err *e) {
  static const char q[] =
      "SELECT m.key, json_extract(m.value,'$.file'), json_extract(m.value,'$.bytes'),"
      " json_extract(m.value,'$.fnv1a64'), json_extract(m.value,'$.ptx'),"
      " json_extract(m.value,'$.template'), json_extract(m.value,'$.revision'),"
      " json_extract(m.value,'$.hash'), json(json_extract(m.value,'$.params')),"
      " json(json_extract(m.value,'$.launch')), json_type(m.value,'$.cubins'),"
      " (SELECT json_group_array(c.value) FROM json_each(m.value,'$.cubins') c)"
      " FROM json_each(?1,'$.modules') m ORDER BY m.key";
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
    return bad(b, e, "cannot read its modules: %s", sqlite3_errmsg(db));
  sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
  fftconv_status st = FFTCONV_OK;
  int rc;
  while (st == FFTCONV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    int i = b->nmod++; /* fewer than the array's length: sized by bundle_arrays */
    bundle_module *m = &b->mod[i];
    int64_t bytes = -1, rev = 0;
    const char *file = col_text(s, 1), *fnv = col_text(s, 3), *ptx = col_text(s, 4);
    const char *params = col_text(s, 8), *launch = col_text(s, 9), *ctype = col_text(s, 10);
    if (!copy_text(m->file, sizeof m->file, file) || strchr(file, '/') || file[0] == '.') {
      st = bad(b, e, "modules[%d] has no usable \"file\" (a file name in the bundle)", i);
    } else if (!col_int(s, 2, &bytes) || bytes < 0 || !fnv || strlen(fnv) != 16) {
      st = bad(b, e, "modules[%d] (%s) lacks its \"bytes\" or \"fnv1a64\"", i, m->file);
    } else if (!copy_text(m->tmpl, sizeof m->tmpl, col_text(s, 5)) || !col_int(s, 6, &rev) ||
               !copy_text(m->hash, sizeof m->hash, col_text(s, 7)) || !params || !launch) {
      st = bad(b, e, "modules[%d] (%s) lacks its \"template\", \"revision\", \"hash\", "
               "\"params\" or \"launch\"", i, m->file);
    } else if (!ctype || strcmp(ctype, "array") || (ptx && strncmp(ptx, "compute_", 8))) {
      st = bad(b, e, "modules[%d] (%s): \"cubins\" must be an array of sm_XY and \"ptx\" "
               "compute_XY or null", i, m->file);
    }
    if (st != FFTCONV_OK) break;
    m->revision = (int)rev;
    if (ptx) copy_text(m->ptx, sizeof m->ptx, ptx);
    if (!(m->params = strdup(params))) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
      break;
    }
    /* the cubins' archs: a JSON array of strings, rebuilt by json_group_array */
    const char *arr = col_text(s, 11);
    for (const char *p = arr ? strchr(arr, '"') : NULL; p && st == FFTCONV_OK;
         p = strchr(p, '"')) {
      const char *end = strchr(p + 1, '"');
      char one[16], norm[16];
      int v;
      if (!end || end - p - 1 >= (int)sizeof one || m->ncubins == BUNDLE_MAX_ARCHS) break;
      snprintf(one, sizeof one, "%.*s", (int)(end - p - 1), p + 1);
      if (!fc_arch_normalize(one, norm, &v) || strncmp(one, "sm_", 3))
        st = bad(b, e, "modules[%d] (%s): \"%s\" is not an architecture (sm_XY)", i, m->file,
                 one);
      else
        snprintf(m->cubins[m->ncubins++], 16, "%s", norm);
      p = end + 1;
    }
    if (st != FFTCONV_OK) break;
    if (!m->ncubins && !m->ptx[0]) {
      st = bad(b, e, "module %s holds neither a cubin nor PTX", m->file);
      break;
    }
    fc_err me = {{0}};
    if (fc_manifest_parse(launch, &m->manifest, &me) != FFTCONV_OK) {
      st = bad(b, e, "module %s: its launch manifest is not valid: %s", m->file, me.msg);
      break;
    }
    if ((st = module_data(b, dir, img, m, e)) != FFTCONV_OK) break;
    char h[17];
    hash_hex(m->data, m->size, h);
    if ((int64_t)m->size != bytes)
      st = bad(b, e, "module %s is %zu bytes, the manifest says %" PRId64 " (truncated or "
               "replaced)", m->file, m->size, bytes);
    else if (strcmp(h, fnv))
      st = bad(b, e, "module %s does not match its hash (FNV-1a %s, the manifest says %s): "
               "it was altered", m->file, h, fnv);
    m->runs = 1;
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = bad(b, e, "cannot read its modules: %s", sqlite3_errmsg(db));
  sqlite3_finalize(s);
  return st;
}

/* b->mod and b->ent, zeroed, as long as the manifest's "modules" and "entries" arrays. */
static fftconv_status bundle_arrays(fc_bundle *b, sqlite3 *db, const char *json, fc_err *e) {
  sqlite3_stmt *s = NULL;
  const char *q = "SELECT json_type(?1,'$.modules'), json_array_length(?1,'$.modules'),"
                  " json_type(?1,'$.entries'), json_array_length(?1,'$.entries')";
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
      (sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
    fftconv_status st = bad(b, e, "cannot be read: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return st;
  }
  const char *mt = col_text(s, 0), *et = col_text(s, 2);
  int64_t nm = sqlite3_column_int64(s, 1), ne = sqlite3_column_int64(s, 3);
  int arrays = mt && et && !strcmp(mt, "array") && !strcmp(et, "array");
  sqlite3_finalize(s);
  if (!arrays || nm > INT_MAX / 2 || ne > INT_MAX / 2)
    return bad(b, e, "has no \"modules\" and \"entries\" arrays");
  b->mod = calloc((size_t)(nm ? nm : 1), sizeof *b->mod);
  b->ent = calloc((size_t)(ne ? ne : 1), sizeof *b->ent);
  if (!b->mod || !b->ent) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  return FFTCONV_OK;
}

static int dtype_of(const char *s, fftconv_dtype *d) {
  for (int i = FFTCONV_FP32; i <= FFTCONV_BF16; i++)
    if (s && !strcmp(s, fftconv_dtype_name((fftconv_dtype)i))) {
      *d = (fftconv_dtype)i;
      return 1;
    }
  return 0;
}

static fftconv_status read_entries(fc_bundle *b, sqlite3 *db, const char *json, fc_err *e) {
  static const char q[] =
      "SELECT key, json_extract(value,'$.problem'), json_extract(value,'$.module'),"
      " json_extract(value,'$.shape.batch'), json_extract(value,'$.shape.heads'),"
      " json_extract(value,'$.shape.seqlen'), json_extract(value,'$.shape.filter_len'),"
      " json_extract(value,'$.shape.freq_keep'), json_extract(value,'$.shape.dtype'),"
      " json_extract(value,'$.shape.mode'), json_extract(value,'$.shape.pre_gate'),"
      " json_extract(value,'$.shape.post_gate'), json_extract(value,'$.shape.skip_d'),"
      " json_extract(value,'$.device'), json_extract(value,'$.sm'),"
      " json_extract(value,'$.median_ms')"
      " FROM json_each(?1,'$.entries') ORDER BY key";
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
    return bad(b, e, "cannot read its entries: %s", sqlite3_errmsg(db));
  sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
  fftconv_status st = FFTCONV_OK;
  int rc;
  while (st == FFTCONV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    int i = b->nent++; /* fewer than the array's length: sized by bundle_arrays */
    bundle_entry *x = &b->ent[i];
    int64_t v[9] = {0}, mod = -1, sm = 0;
    int ok = copy_text(x->key, sizeof x->key, col_text(s, 1)) && col_int(s, 2, &mod);
    for (int k = 0; k < 5; k++) ok = ok && col_int(s, 3 + k, &v[k]);
    for (int k = 0; k < 3; k++) ok = ok && col_int(s, 10 + k, &v[5 + k]);
    ok = ok && copy_text(x->device, sizeof x->device, col_text(s, 13)) && col_int(s, 14, &sm);
    fftconv_problem *p = &x->p;
    fftconv_problem_init(p);
    const char *mode = col_text(s, 9);
    ok = ok && dtype_of(col_text(s, 8), &p->dtype) && mode &&
         (!strcmp(mode, "causal") || !strcmp(mode, "circular"));
    if (!ok) {
      st = bad(b, e, "entries[%d] lacks a field (problem, module, shape, device, sm) or has "
               "one of the wrong type", i);
      break;
    }
    p->batch = v[0];
    p->heads = v[1];
    p->seqlen = v[2];
    p->filter_len = v[3];
    p->freq_keep = v[4];
    p->mode = strcmp(mode, "causal") ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
    p->pre_gate = v[5] != 0;
    p->post_gate = v[6] != 0;
    p->skip_d = v[7] != 0;
    x->sm = (int)sm;
    x->median_ms = sqlite3_column_double(s, 15);
    char msg[512], key[256];
    if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK) {
      st = bad(b, e, "entries[%d] (%s): its shape is not a valid problem: %s", i, x->key, msg);
    } else if (fftconv_problem_key(p, key, sizeof key), strcmp(key, x->key)) {
      st = bad(b, e, "entries[%d]: its key %s is not its shape's (%s)", i, x->key, key);
    } else if (mod < 0 || mod >= b->nmod) {
      st = bad(b, e, "entries[%d] (%s) names module %" PRId64 ", and the bundle has %d", i,
               x->key, mod, b->nmod);
    }
    x->module = (int)mod;
  }
  if (st == FFTCONV_OK && rc != SQLITE_DONE)
    st = bad(b, e, "cannot read its entries: %s", sqlite3_errmsg(db));
  sqlite3_finalize(s);
  return st;
}

/* The archs a bundle holds, for describe and the refusal: "cubins sm_80, sm_90; PTX
   compute_80". */
static void bundle_archs(const fc_bundle *b, fc_str *out) {
  char seen[32][16];
  int n = 0;
  for (int pass = 0; pass < 2; pass++) {
    int first = 1;
    for (int i = 0; i < b->nmod; i++)
      for (int k = 0; k < (pass ? 1 : b->mod[i].ncubins); k++) {
        const char *a = pass ? b->mod[i].ptx : b->mod[i].cubins[k];
        int dup = !a[0];
        for (int j = 0; j < n && !dup; j++) dup = !strcmp(seen[j], a);
        if (dup || n == 32) continue;
        snprintf(seen[n++], 16, "%s", a);
        fc_str_add(out, "%s%s%s", first ? (pass && out->len ? "; " : "") : ", ",
                   first ? (pass ? "PTX " : "cubins ") : "", a);
        first = 0;
      }
  }
  if (!out->len) fc_str_add(out, "nothing");
}

fftconv_status fc_bundle_open(const char *path, const fftconv_bundle_image *img,
                              fc_bundle **out, fc_err *e) {
  *out = NULL;
  if (!!path == !!img)
    return fc_fail(e, FFTCONV_ERR_INVALID, "bundle: give a path or a compiled-in image, not %s",
                   path ? "both" : "neither");
  fc_bundle *b = calloc(1, sizeof *b);
  if (!b) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  char *json = NULL;
  size_t jn = 0;
  fftconv_status st = FFTCONV_OK;
  if (img) {
    snprintf(b->where, sizeof b->where, "compiled-in bundle");
    snprintf(b->mpath, sizeof b->mpath, "(compiled in) " FC_BUNDLE_MANIFEST);
    if (img->version != FFTCONV_BUNDLE_IMAGE_VERSION || !img->manifest || img->nfiles < 0 ||
        (img->nfiles && !img->files))
      st = fc_fail(e, FFTCONV_ERR_IO, "compiled-in bundle: its image is of version %d (this "
                   "library reads %d) or lacks its manifest or files", img->version,
                   FFTCONV_BUNDLE_IMAGE_VERSION);
    else if (!(json = strndup(img->manifest, img->manifest_size)))
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    else
      jn = strlen(json);
  } else {
    struct stat sb;
    if (stat(path, &sb) != 0) {
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      snprintf(b->where, sizeof b->where, "%s", path);
      snprintf(b->mpath, sizeof b->mpath, "%s/" FC_BUNDLE_MANIFEST, path);
    } else {
      const char *slash = strrchr(path, '/');
      snprintf(b->where, sizeof b->where, "%.*s", slash ? (int)(slash - path) : 1,
               slash ? path : ".");
      snprintf(b->mpath, sizeof b->mpath, "%s", path);
    }
    if (st == FFTCONV_OK && !(json = slurp(b->mpath, &jn)))
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s%s", b->mpath, strerror(errno),
                   errno == ENOENT ? " (not an fftconv bundle: fftconv-cache export writes "
                                     "one)" : "");
    b->owns_data = 1;
  }
  sqlite3 *db = NULL;
  if (st == FFTCONV_OK && strlen(json) != jn)
    st = bad(b, e, "is not JSON (it holds a NUL byte)");
  if (st == FFTCONV_OK && sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "bundle: cannot open an in-memory SQLite connection");
  if (st == FFTCONV_OK) {
    sqlite3_stmt *s = NULL;
    /* json_valid first: the other functions fail on malformed text */
    const char *q = "SELECT json_valid(?1), CASE WHEN json_valid(?1) THEN json_type(?1) END,"
                    " CASE WHEN json_type(?1) = 'object' THEN json_extract(?1,'$.format') END,"
                    " CASE WHEN json_type(?1) = 'object' THEN json_type(?1,'$.version') END,"
                    " CASE WHEN json_type(?1) = 'object' THEN json_extract(?1,'$.version') END";
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK || (sqlite3_bind_text(s, 1, json,
        -1, SQLITE_STATIC), sqlite3_step(s)) != SQLITE_ROW) {
      st = bad(b, e, "is not JSON (%s)", sqlite3_errmsg(db));
    } else if (!sqlite3_column_int(s, 0)) {
      st = bad(b, e, "is not JSON%s", jn == 0 ? " (it is empty)" : "");
    } else {
      const char *type = col_text(s, 1), *format = col_text(s, 2), *vtype = col_text(s, 3);
      int64_t version = sqlite3_column_int64(s, 4);
      if (!type || strcmp(type, "object") || !format || strcmp(format, FC_BUNDLE_FORMAT))
        st = bad(b, e, "is not an fftconv bundle manifest (no \"format\": \"" FC_BUNDLE_FORMAT
                 "\")");
      else if (!vtype || strcmp(vtype, "integer") || version < 1)
        st = bad(b, e, "has no format \"version\" (a positive integer)");
      else if (version > FC_BUNDLE_VERSION)
        st = bad(b, e, "has format version %" PRId64 ", newer than this library reads (%d): "
                 "use a libfftconv as new as the fftconv-cache that exported it",
                 version, FC_BUNDLE_VERSION);
    }
    sqlite3_finalize(s);
  }
  if (st == FFTCONV_OK) st = bundle_arrays(b, db, json, e);
  if (st == FFTCONV_OK) st = read_modules(b, db, json, b->where, img, e);
  if (st == FFTCONV_OK) st = read_entries(b, db, json, e);
  if (db) sqlite3_close(db);
  free(json);
  fc_str archs = {0};
  if (st == FFTCONV_OK) bundle_archs(b, &archs);
  if (st == FFTCONV_OK && b->nent == 0) st = bad(b, e, "has no entries (nothing was exported)");
  if (st == FFTCONV_OK)
    snprintf(b->desc, sizeof b->desc, "%s (%d kernel%s, %d entr%s; %s)", b->where, b->nmod,
             b->nmod == 1 ? "" : "s", b->nent, b->nent == 1 ? "y" : "ies",
             archs.s ? archs.s : "?");
  fc_str_free(&archs);
  if (st != FFTCONV_OK) {
    fc_bundle_close(b);
    return st;
  }
  *out = b;
  return FFTCONV_OK;
}

fftconv_status fc_bundle_set_device(fc_bundle *b, int sm, fc_err *e) {
  int runs = 0;
  for (int i = 0; i < b->nmod; i++) {
    bundle_module *m = &b->mod[i];
    m->runs = m->ptx[0] && fc_arch_runs_on(m->ptx, sm);
    for (int k = 0; k < m->ncubins && !m->runs; k++) m->runs = fc_arch_runs_on(m->cubins[k], sm);
    runs += m->runs;
  }
  if (runs) return FFTCONV_OK;
  fc_str archs = {0};
  bundle_archs(b, &archs);
  fftconv_status st = bad(b, e, "holds nothing this GPU can run: neither a cubin for sm_%d nor "
                          "PTX at or below it (it holds %s); export it again with --arch sm_%d",
                          sm, archs.s ? archs.s : "?", sm);
  fc_str_free(&archs);
  return st;
}

void fc_bundle_close(fc_bundle *b) {
  if (!b) return;
  for (int i = 0; i < b->nmod; i++) {
    if (b->owns_data) free((void *)b->mod[i].data);
    free(b->mod[i].params);
  }
  free(b->mod);
  free(b->ent);
  free(b);
}

const char *fc_bundle_describe(const fc_bundle *b) { return b ? b->desc : "none"; }
int fc_bundle_modules(const fc_bundle *b) { return b ? b->nmod : 0; }
int fc_bundle_entries(const fc_bundle *b) { return b ? b->nent : 0; }

const void *fc_bundle_module_data(const fc_bundle *b, int i, size_t *size) {
  if (!b || i < 0 || i >= b->nmod) return NULL;
  if (size) *size = b->mod[i].size;
  return b->mod[i].data;
}

/* ---- the store ---- */

/* How well entry x suits the device: its own model first, then its compute capability. */
static int suits(const bundle_entry *x, const fc_cache_config *cfg) {
  return 2 * !strcmp(x->device, cfg->dev->name) + (x->sm == cfg->dev->sm);
}

static fftconv_status bundle_lookup(void *impl, const fc_cache_config *cfg, const fc_shape *sh,
                                    const char *const *hashes, int nhashes, fc_cache_hit *hit,
                                    int *found, fc_err *e) {
  fc_bundle *b = impl;
  memset(hit, 0, sizeof *hit);
  *found = 0;
  int best = -1, bs = -1;
  for (int i = 0; i < b->nent; i++) { /* the problem's own entry */
    const bundle_entry *x = &b->ent[i];
    if (!b->mod[x->module].runs || strcmp(x->key, sh->key)) continue;
    int s = suits(x, cfg);
    if (s > bs || (s == bs && x->median_ms < b->ent[best].median_ms)) best = i, bs = s;
  }
  int exact = best >= 0;
  if (!exact) { /* the nearest shape, among the entries that suit the device best */
    fc_rank_candidate *c = malloc((size_t)(b->nent ? b->nent : 1) * sizeof *c);
    int *idx = malloc((size_t)(b->nent ? b->nent : 1) * sizeof *idx);
    if (!c || !idx) {
      free(c);
      free(idx);
      return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    }
    for (int level = 3; level >= 0 && best < 0; level--) {
      int n = 0;
      for (int i = 0; i < b->nent; i++) {
        const bundle_entry *x = &b->ent[i];
        if (!b->mod[x->module].runs || suits(x, cfg) != level) continue;
        c[n] = (fc_rank_candidate){x->p, x->median_ms, i};
        idx[n++] = i;
      }
      int r = fc_rank_nearest(&sh->p, c, n);
      if (r >= 0) best = idx[r];
    }
    free(c);
    free(idx);
  }
  if (best < 0) return FFTCONV_OK;
  const bundle_entry *x = &b->ent[best];
  const bundle_module *m = &b->mod[x->module];
  hit->kernel_id = -1 - x->module; /* the context's module list: negative ids are a bundle's */
  hit->exact = exact;
  snprintf(hit->problem_key, sizeof hit->problem_key, "%s", x->key);
  snprintf(hit->tmpl, sizeof hit->tmpl, "%s", m->tmpl);
  hit->revision = m->revision;
  snprintf(hit->hash, sizeof hit->hash, "%s", m->hash);
  hit->manifest = m->manifest;
  hit->median_ms = x->median_ms;
  hit->cubin = (void *)m->data;
  hit->cubin_size = m->size;
  hit->cubin_borrowed = 1;
  if (exact)
    snprintf(hit->rung, sizeof hit->rung, "bundle: tuned on %.120s, %.3f ms; %.120s", x->device,
             x->median_ms, m->file);
  else
    snprintf(hit->rung, sizeof hit->rung, "bundle: nearest, tuned for %.100s on %.80s; %.100s",
             x->key, x->device, m->file);
  if (!(hit->params = strdup(m->params))) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory");
  *found = 1;
  return FFTCONV_OK;
}

static const char *bundle_store_describe(const void *impl) {
  return fc_bundle_describe(impl);
}

static void bundle_store_close(void *impl) { fc_bundle_close(impl); }

fc_store *fc_bundle_store(fc_bundle *b) {
  static const fc_store_ops ops = {bundle_lookup, bundle_store_describe, bundle_store_close};
  fc_store *s = fc_store_new(&ops, b);
  if (!s) fc_bundle_close(b);
  return s;
}
