/* export_write: a bundle's files (see export.h and bundle.h): manifest.json and the C source
 * of --c-source, and putting them in place. Every step after the checks works from the
 * directories it opened then (the *at calls), never follows a link at a name it writes
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, renames that move names, not what they point to), creates
 * exclusively (O_EXCL) and removes only names it made or that a bundle's manifest names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "export_int.h"
#include "fields.h"

#ifndef FFTCONV_VERSION
#define FFTCONV_VERSION "unknown"
#endif

/* The first line of every C file export writes: what --force looks for before it replaces one. */
#define C_HEADER "/* fftconv bundle, written by fftconv-cache export: do not edit.\n"

/* ---- writing ---- */

static void json_str(fc_str *b, const char *s) {
  fc_str_add(b, "\"");
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\') fc_str_add(b, "\\%c", *p);
    else if (*p < 0x20) fc_str_add(b, "\\u%04x", *p);
    else fc_str_addn(b, (const char *)p, 1);
  }
  fc_str_add(b, "\"");
}

void fc_export_manifest_text(const xstate *x, fc_str *b) {
  fc_str_add(b, "{\"format\":\"" FC_BUNDLE_FORMAT "\",\"version\":%d,\"generator\":\"fftconv "
             FFTCONV_VERSION "\",\n\"modules\":[", FC_BUNDLE_VERSION);
  int written = 0;
  for (int i = 0; i < x->nm; i++) {
    const xmod *m = &x->m[i];
    if (!m->fatbin) continue;
    const xwin *w = &x->w[m->first];
    char h[17];
    snprintf(h, sizeof h, "%016" PRIx64, fc_hash64(FC_HASH64_INIT, m->fatbin, m->fatbin_size));
    fc_str_add(b, "%s\n{\"file\":", written++ ? "," : "");
    json_str(b, m->file);
    fc_str_add(b, ",\"bytes\":%zu,\"fnv1a64\":\"%s\",\"cubins\":[", m->fatbin_size, h);
    for (int k = 0; k < m->ncubins; k++) fc_str_add(b, "%s\"%s\"", k ? "," : "", m->cubins[k]);
    fc_str_add(b, "],\"ptx\":");
    if (m->ptx_arch[0]) json_str(b, m->ptx_arch);
    else fc_str_add(b, "null");
    fc_str_add(b, ",\"template\":");
    json_str(b, w->tmpl);
    fc_str_add(b, ",\"revision\":%d,\"hash\":", w->revision);
    json_str(b, w->hash);
    fc_str_add(b, ",\"params\":%s,\"launch\":%s}", w->params, w->mjson);
  }
  fc_str_add(b, "],\n\"entries\":[");
  /* module indices as written: modules without a fatbin are skipped */
  int idx = 0, n = 0;
  for (int i = 0; i < x->nm; i++) {
    const xmod *m = &x->m[i];
    if (!m->fatbin) continue;
    int end = i + 1 < x->nm ? x->m[i + 1].first : x->nw;
    for (int k = m->first; k < end; k++) {
      const xwin *w = &x->w[k];
      const fftconv_problem *p = &w->p;
      char op[40];
      fc_str_add(b, "%s\n{\"problem\":", n++ ? "," : "");
      json_str(b, w->key);
      fc_str_add(b, ",\"op\":");
      json_str(b, fc_key_op_name(w->key, op, sizeof op));
      fc_str_add(b, ",\"module\":%d,\"shape\":", idx);
      fc_fields_json(p, b);
      fc_str_add(b, ",\"filter_layout\":");
      json_str(b, m->manifest.filter_layout);
      /* no overflow: the manifest reader bounds each region's bytes by INT64_MAX / 4 */
      _Static_assert(FC_MAX_WORKSPACE <= 4, "the sums below need a bound of INT64_MAX / 4 a region");
      int64_t per_row = 0, fixed = 0, per_head = 0;
      for (int r = 0; r < m->manifest.nws; r++) {
        per_row += m->manifest.ws[r].per_row;
        fixed += m->manifest.ws[r].fixed;
        per_head += m->manifest.ws[r].per_head;
      }
      fc_str_add(b, ",\"workspace_per_row\":%" PRId64 ",\"workspace_fixed\":%" PRId64,
                 per_row, fixed);
      /* only when not 0: an entry without it is byte for byte what it was before */
      if (per_head) fc_str_add(b, ",\"workspace_per_head\":%" PRId64, per_head);
      fc_str_add(b, ",\"device\":");
      json_str(b, w->device);
      fc_str_add(b, ",\"sms\":%d,\"driver\":%d,\"sm\":%d,\"median_ms\":%.6f}", w->sms, w->driver,
                 w->device_sm, isfinite(w->median_ms) ? w->median_ms : 0.0);
    }
    idx++;
  }
  fc_str_add(b, "]}\n");
}

fftconv_status fc_export_check_json(const xstate *x, fc_err *e) {
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  /* json_type raises an error on malformed text: CASE asks it only of valid JSON */
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END", -1, &s,
                         NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "export: cannot open an in-memory SQLite connection");
  }
  fftconv_status st = FFTCONV_OK;
  for (int i = 0; i < x->nw && st == FFTCONV_OK; i++) {
    const char *what[2] = {x->w[i].params, x->w[i].mjson};
    for (int k = 0; k < 2 && st == FFTCONV_OK; k++) {
      sqlite3_reset(s);
      sqlite3_bind_text(s, 1, what[k] ? what[k] : "", -1, SQLITE_STATIC);
      const unsigned char *t = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
      if (!t || strcmp((const char *)t, "object"))
        st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: winner %s: its kernel's %s not a JSON "
                     "object (a damaged or altered cache): nothing exported",
                     fc_cache_path(x->cache), x->w[i].key,
                     k ? "launch manifest is" : "parameters are");
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return st;
}

/* ---- the signal cleanup ---- */

/* What a handler removes: the partial directory (its files by name) and the C file's
   temporary name. One export at a time is registered (the tool runs one); an fc_export
   running beside it in another thread is not. Written with signals held back, read by
   fc_export_cleanup_on_signal. */
static struct {
  volatile sig_atomic_t dir_on, c_on, nfiles;
  int dirfd, tmpfd, cdirfd;
  char dir[300], ctmp[300];
  const char *const *files;
} reg;
static int reg_busy;

static void hold_signals(sigset_t *old) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &s, old);
}

static void release_signals(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

void fc_export_cleanup_on_signal(void) {
  int err = errno;
  if (__atomic_load_n(&reg.dir_on, __ATOMIC_ACQUIRE)) {
    int n = __atomic_load_n(&reg.nfiles, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++) unlinkat(reg.tmpfd, reg.files[i], 0);
    unlinkat(reg.dirfd, reg.dir, AT_REMOVEDIR);
    reg.dir_on = 0;
  }
  if (__atomic_load_n(&reg.c_on, __ATOMIC_ACQUIRE)) {
    unlinkat(reg.cdirfd, reg.ctmp, 0);
    reg.c_on = 0;
  }
  errno = err;
}

/* ---- renames that never replace what they did not check ---- */

/* FFTCONV_EXPORT_TEST_NO_RENAMEAT2=1: the fallbacks below, as on a file system without
   renameat2's flags (a test's switch). */
static int no_rename2(void) {
  const char *v = getenv("FFTCONV_EXPORT_TEST_NO_RENAMEAT2");
  return v && *v && strcmp(v, "0");
}

static int unsupported(int err) {
  return err == EINVAL || err == ENOSYS || err == ENOTSUP || err == EOPNOTSUPP;
}

/* Renames from to to (both in fd), never over anything: RENAME_NOREPLACE or, where the file
   system lacks it, a claim on to made first (mkdir, or a file created exclusively) that the
   rename then replaces, so that what appears at to meanwhile makes it fail (EEXIST). */
static int put_new(int fd, const char *from, const char *to, int isdir) {
  if (!no_rename2()) {
    if (renameat2(fd, from, fd, to, RENAME_NOREPLACE) == 0) return 0;
    if (!unsupported(errno)) return -1;
  }
  if (isdir) {
    if (mkdirat(fd, to, 0700) != 0) return -1;
  } else {
    int c = openat(fd, to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (c < 0) return -1;
    close(c);
  }
  if (renameat(fd, from, fd, to) == 0) return 0;
  int err = errno;
  unlinkat(fd, to, isdir ? AT_REMOVEDIR : 0);
  errno = err;
  return -1;
}

/* Puts t's temporary name at its name and what was there aside (its name then in t->old_at):
   one RENAME_EXCHANGE, or two renames that never replace where the file system lacks it. */
static int swap_in(xtarget *t, int isdir) {
  if (!no_rename2()) {
    if (renameat2(t->dirfd, t->tmp, t->dirfd, t->base, RENAME_EXCHANGE) == 0) {
      snprintf(t->old_at, sizeof t->old_at, "%s", t->tmp);
      return 0;
    }
    if (!unsupported(errno)) return -1;
  }
  snprintf(t->old_at, sizeof t->old_at, "%s.old-%ld", t->base, (long)getpid());
  if (put_new(t->dirfd, t->base, t->old_at, isdir) != 0) {
    t->old_at[0] = 0;
    return -1;
  }
  if (put_new(t->dirfd, t->tmp, t->base, isdir) != 0) {
    int err = errno;
    put_new(t->dirfd, t->old_at, t->base, isdir);
    t->old_at[0] = 0;
    errno = err;
    return -1;
  }
  return 0;
}

/* Undoes t's placing: the new file back at its temporary name, what was there back at its
   name. 0 when done; otherwise t stays placed (the cleanup then leaves both names alone). */
static int unplace(xtarget *t, int isdir) {
  if (!t->placed) return 0;
  int rc;
  if (!t->old_at[0])
    rc = put_new(t->dirfd, t->base, t->tmp, isdir);
  else if (!strcmp(t->old_at, t->tmp))
    rc = renameat2(t->dirfd, t->tmp, t->dirfd, t->base, RENAME_EXCHANGE);
  else
    rc = put_new(t->dirfd, t->base, t->tmp, isdir) || put_new(t->dirfd, t->old_at, t->base, isdir);
  if (rc == 0) {
    t->placed = 0;
    t->old_at[0] = 0;
  }
  return rc;
}

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ---- the checks ---- */

static const char *kind_of(mode_t m) {
  return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link"
       : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
       : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* Splits the path given for flag into t. A file's path (isdir 0) must not end in '/'. */
static fftconv_status split(xtarget *t, const char *flag, const char *given, int isdir,
                            fc_err *e) {
  t->flag = flag;
  t->given = given;
  size_t n = strlen(given);
  if (!n) return fc_fail(e, FFTCONV_ERR_INVALID, "%s: the path is empty", flag);
  if (n >= sizeof t->path)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s: the path is longer than %zu bytes", flag,
                   sizeof t->path - 1);
  if (!isdir && given[n - 1] == '/')
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s %s: ends in '/', as a directory's name does: "
                   "give the path of the file to write", flag, given);
  memcpy(t->path, given, n + 1);
  while (n > 1 && t->path[n - 1] == '/') t->path[--n] = 0;
  char *slash = strrchr(t->path, '/');
  const char *base = slash ? slash + 1 : t->path;
  if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s %s: names no new %s (give a path that ends in "
                   "its name)", flag, given, isdir ? "directory" : "file");
  if (strlen(base) > 200)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s: its last name is longer than 200 bytes", flag);
  snprintf(t->base, sizeof t->base, "%s", base);
  if (!slash)
    snprintf(t->dir, sizeof t->dir, ".");
  else if (slash == t->path)
    snprintf(t->dir, sizeof t->dir, "/");
  else
    snprintf(t->dir, sizeof t->dir, "%.*s", (int)(slash - t->path), t->path);
  return FFTCONV_OK;
}

/* Opens t's directory (O_PATH: creating in it needs no right to list it) and looks at what is
   at its name, without following a link there. */
static fftconv_status look(xtarget *t, fc_err *e) {
  t->dirfd = open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (t->dirfd < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "%s %s: cannot use its directory %s: %s", t->flag,
                   t->given, t->dir, strerror(errno));
  if (fstatat(t->dirfd, t->base, &t->st, AT_SYMLINK_NOFOLLOW) == 0)
    t->existed = 1;
  else if (errno != ENOENT)
    return fc_fail(e, FFTCONV_ERR_IO, "%s %s: %s", t->flag, t->given, strerror(errno));
  return FFTCONV_OK;
}

static int named(const xplace *pl, const char *name) {
  if (!strcmp(name, FC_BUNDLE_MANIFEST)) return 1;
  for (int i = 0; i < pl->nnamed; i++)
    if (!strcmp(pl->named[i], name)) return 1;
  return 0;
}

/* Lists the old bundle's directory (pl->oldfd). Without f, the first entry that is not
   manifest.json or a file its manifest names, or not a regular file, stops the listing with
   the reason in why (-1); with f, such entries are passed over and each other one is passed
   to f. Returns the entries seen. */
static int old_entries(const xplace *pl, char *why, size_t len,
                       void (*f)(const xplace *pl, const char *name)) {
  int d = openat(pl->oldfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dh = d >= 0 ? fdopendir(d) : NULL;
  if (!dh) {
    snprintf(why, len, "cannot list it: %s", strerror(errno));
    if (d >= 0) close(d);
    return -1;
  }
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dh))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    struct stat sb;
    const char *bad = NULL;
    if (!named(pl, de->d_name))
      bad = "which its manifest does not name";
    else if (fstatat(pl->oldfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
      bad = "which cannot be looked at";
    else if (!S_ISREG(sb.st_mode))
      bad = S_ISLNK(sb.st_mode) ? "which is a symbolic link" : "which is not a regular file";
    if (bad && f) continue;
    if (bad) {
      snprintf(why, len, "it holds '%.200s', %s", de->d_name, bad);
      n = -1;
      break;
    }
    if (f) f(pl, de->d_name);
    n++;
  }
  closedir(dh);
  return n;
}

/* --out with --force, something there: a bundle of export's (or an empty directory), or a
   refusal. Opens it as pl->oldfd. */
static fftconv_status check_old_bundle(xplace *pl, fc_err *e) {
  xtarget *t = &pl->out;
  if (S_ISLNK(t->st.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s is a symbolic link: not replaced, even with "
                   "--force (export never writes through a link)", t->given);
  if (!S_ISDIR(t->st.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s exists and is %s, not a bundle's directory: "
                   "not replaced, even with --force", t->given, kind_of(t->st.st_mode));
  struct stat sb;
  pl->oldfd = openat(t->dirfd, t->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (pl->oldfd < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s: cannot open it: %s", t->given, strerror(errno));
  if (fstat(pl->oldfd, &sb) != 0 || !same_file(&sb, &t->st))
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s changed while export looked at it: not "
                   "replaced", t->given);
  char why[512];
  if (faccessat(t->dirfd, t->base, W_OK | X_OK, AT_EACCESS) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s: the old bundle's files cannot be removed "
                   "(%s): not replaced", t->given, strerror(errno));
  if (fstatat(pl->oldfd, FC_BUNDLE_MANIFEST, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
    int err = errno;
    int n = old_entries(pl, why, sizeof why, NULL); /* an empty directory may go */
    if (n == 0) return FFTCONV_OK;
    if (err == ENOENT)
      return fc_fail(e, FFTCONV_ERR_IO, "--out %s exists and is not a bundle (no "
                     FC_BUNDLE_MANIFEST " in it): not replaced, even with --force", t->given);
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s: its " FC_BUNDLE_MANIFEST " cannot be read: %s: "
                   "not replaced", t->given, strerror(err));
  }
  fc_err pe = {{0}};
  fftconv_status st = fc_bundle_probe_files(t->path, &pl->named, &pl->nnamed, &pe);
  if (st == FFTCONV_ERR_NOMEM) return fc_fail(e, st, "%s", pe.msg);
  if (st != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s exists and is not a bundle export wrote (%s): "
                   "not replaced, even with --force", t->given, pe.msg);
  /* the probe went by the path: it must have read the directory checked */
  if (fstatat(t->dirfd, t->base, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !same_file(&sb, &t->st))
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s changed while export looked at it: not "
                   "replaced", t->given);
  if (old_entries(pl, why, sizeof why, NULL) < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s is a bundle, but %s: not replaced, even with "
                   "--force (export removes only the bundle's own files; move the others out)",
                   t->given, why);
  return FFTCONV_OK;
}

/* --c-source with --force, something there: a C file of export's, or a refusal. */
static fftconv_status check_old_c(xplace *pl, fc_err *e) {
  xtarget *t = &pl->c;
  if (S_ISLNK(t->st.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s is a symbolic link: not replaced%s "
                   "(export never writes through a link)", t->given,
                   pl->force ? ", even with --force" : "");
  if (!S_ISREG(t->st.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s exists and is %s: not replaced%s",
                   t->given, kind_of(t->st.st_mode), pl->force ? ", even with --force" : "");
  if (!pl->force)
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s exists (give --force to replace it)",
                   t->given);
  char head[sizeof C_HEADER];
  ssize_t n = -1;
  struct stat sb;
  int fd = openat(t->dirfd, t->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && fstat(fd, &sb) == 0 && same_file(&sb, &t->st) && S_ISREG(sb.st_mode))
    n = read(fd, head, sizeof head - 1);
  if (fd >= 0) close(fd);
  if (n != (ssize_t)sizeof head - 1 || memcmp(head, C_HEADER, sizeof head - 1))
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s exists and is not a C file export wrote "
                   "(it does not start with export's header): not replaced, even with --force",
                   t->given);
  if (faccessat(t->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s cannot be replaced: its directory %s: %s",
                   t->given, t->dir, strerror(errno));
  return FFTCONV_OK;
}

fftconv_status fc_export_prepare(const fc_export_opts *o, xplace *pl, fc_err *e) {
  memset(pl, 0, sizeof *pl);
  pl->out.dirfd = pl->c.dirfd = pl->oldfd = pl->tmpfd = -1;
  pl->force = o->force;
  pl->has_c = o->c_source != NULL;
  fftconv_status st = split(&pl->out, "--out", o->out, 1, e);
  if (st == FFTCONV_OK && pl->has_c) st = split(&pl->c, "--c-source", o->c_source, 0, e);
  if (st != FFTCONV_OK) return st;
  xtarget *t = &pl->out, *c = &pl->c;
  if (pl->has_c) { /* by the names given, before anything is opened */
    size_t n = strlen(t->path);
    if (!strcmp(c->path, t->path))
      return fc_fail(e, FFTCONV_ERR_INVALID, "--c-source %s and --out %s are the same path: "
                     "the C file needs a name of its own", c->given, t->given);
    if (!strncmp(c->path, t->path, n) && (c->path[n] == '/' || !strcmp(t->path, "/")))
      return fc_fail(e, FFTCONV_ERR_INVALID, "--c-source %s is inside --out %s: the bundle's "
                     "directory holds only what export writes there", c->given, t->given);
    if (!strncmp(c->path, t->path, n) && !strncmp(c->path + n, ".partial-", 9) &&
        strchr(c->path + n, '/'))
      return fc_fail(e, FFTCONV_ERR_INVALID, "--c-source %s is inside a temporary directory of "
                     "--out %s", c->given, t->given);
  }
  if ((st = look(t, e)) != FFTCONV_OK) return st;
  if (t->existed && !o->force)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s exists (give --force to replace it)", t->given);
  if (t->existed && (st = check_old_bundle(pl, e)) != FFTCONV_OK) return st;
  if (!pl->has_c) return FFTCONV_OK;
  if ((st = look(c, e)) != FFTCONV_OK) return st;
  /* by what the names lead to: ../b/x.c is inside b, ./b is b */
  struct stat cd, od;
  if (fstat(c->dirfd, &cd) == 0 && t->existed && S_ISDIR(t->st.st_mode) && same_file(&cd, &t->st))
    return fc_fail(e, FFTCONV_ERR_INVALID, "--c-source %s is inside --out %s: the bundle's "
                   "directory holds only what export writes there", c->given, t->given);
  if (fstat(c->dirfd, &cd) == 0 && fstat(t->dirfd, &od) == 0 && same_file(&cd, &od) &&
      !strcmp(c->base, t->base))
    return fc_fail(e, FFTCONV_ERR_INVALID, "--c-source %s and --out %s are the same path: "
                   "the C file needs a name of its own", c->given, t->given);
  if (c->existed && (st = check_old_c(pl, e)) != FFTCONV_OK) return st;
  return FFTCONV_OK;
}

/* ---- writing ---- */

fftconv_status fc_export_begin(xplace *pl, fc_err *e) {
  xtarget *t = &pl->out;
  sigset_t old;
  hold_signals(&old);
  int err = 0, made = 0;
  for (int k = 0; k < 100 && !made; k++) { /* a name no one uses: OUT.partial-PID */
    if (k)
      snprintf(t->tmp, sizeof t->tmp, "%s.partial-%ld-%d", t->base, (long)getpid(), k);
    else
      snprintf(t->tmp, sizeof t->tmp, "%s.partial-%ld", t->base, (long)getpid());
    made = mkdirat(t->dirfd, t->tmp, 0777) == 0;
    err = errno;
    if (!made && err != EEXIST) break;
  }
  if (made) {
    pl->tmpfd = openat(t->dirfd, t->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    err = errno;
    if (pl->tmpfd < 0) unlinkat(t->dirfd, t->tmp, AT_REMOVEDIR);
  }
  if (pl->tmpfd < 0) {
    release_signals(&old);
    fftconv_status st = fc_fail(e, FFTCONV_ERR_IO, "--out %s: cannot create the temporary "
                                "directory %s in %s: %s", t->given, t->tmp, t->dir,
                                strerror(err));
    t->tmp[0] = 0;
    return st;
  }
  if (!__atomic_exchange_n(&reg_busy, 1, __ATOMIC_ACQ_REL)) {
    pl->reg = 1;
    reg.dirfd = t->dirfd;
    reg.tmpfd = pl->tmpfd;
    snprintf(reg.dir, sizeof reg.dir, "%s", t->tmp);
    reg.files = NULL;
    reg.nfiles = 0;
    __atomic_store_n(&reg.dir_on, 1, __ATOMIC_RELEASE);
  }
  release_signals(&old);
  return FFTCONV_OK;
}

fftconv_status fc_export_reserve(xplace *pl, int n, fc_err *e) {
  if (pl->files) return FFTCONV_OK;
  if (!(pl->files = calloc((size_t)(n > 0 ? n : 1), sizeof *pl->files)))
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  pl->capfiles = n;
  if (pl->reg) reg.files = pl->files;
  return FFTCONV_OK;
}

fftconv_status fc_export_put_file(xplace *pl, const char *name, const void *data, size_t n,
                                  fc_err *e) {
  xtarget *t = &pl->out;
  if (pl->nfiles >= pl->capfiles)
    return fc_fail(e, FFTCONV_ERR_IO, "export: more files than reserved (a bug)");
  sigset_t old;
  hold_signals(&old);
  int fd = openat(pl->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  int err = errno;
  if (fd >= 0) {
    pl->files[pl->nfiles++] = name;
    if (pl->reg) __atomic_store_n(&reg.nfiles, pl->nfiles, __ATOMIC_RELEASE);
  }
  release_signals(&old);
  const char *p = data;
  size_t left = n;
  while (fd >= 0 && left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fd >= 0 && close(fd) != 0 && !left) {
    err = errno;
    left = 1;
  }
  if (fd < 0 || left)
    return fc_fail(e, FFTCONV_ERR_IO, "--out %s: cannot write %s/%s: %s", t->given, t->tmp, name,
                   strerror(err));
  return FFTCONV_OK;
}

void fc_export_partial_path(const xplace *pl, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", pl->out.dir, pl->out.tmp);
}

/* A C string literal: every byte that is not printable ASCII as an octal escape, and '?' too
   (no trigraph can form). */
static void c_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\' || *p == '?') fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f) fprintf(f, "\\%03o", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static void c_bytes(FILE *f, const void *data, size_t n) {
  const unsigned char *d = data;
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%u,", i % 24 ? "" : "\n ", d[i]);
}

/* The bundle as C: name is a checked identifier, file names are export's own (k000_x.fatbin,
   from [A-Za-z0-9_.]); nothing else from the cache reaches the text but as bytes. */
static void c_text(FILE *f, const xstate *x, const char *manifest, size_t mlen,
                   const char *name) {
  fprintf(f, C_HEADER " * Compile it into the application and plan from it:\n"
             " *   extern const fftconv_bundle_image %s;\n"
             " *   options.bundle_image = &%s;\n"
             " */\n#include \"fftconv.h\"\n", name, name);
  int nf = 0;
  for (int i = 0; i < x->nm; i++) {
    if (!x->m[i].fatbin) continue;
    fprintf(f, "\nstatic _Alignas(16) const unsigned char %s_f%d[] = {", name, nf++);
    c_bytes(f, x->m[i].fatbin, x->m[i].fatbin_size);
    fprintf(f, "\n};\n");
  }
  fprintf(f, "\nstatic const char %s_manifest[] = {", name);
  c_bytes(f, manifest, mlen);
  fprintf(f, "\n 0};\n\nstatic const fftconv_bundle_file %s_files[] = {\n", name);
  nf = 0;
  for (int i = 0; i < x->nm; i++)
    if (x->m[i].fatbin) {
      fprintf(f, "  {");
      c_string(f, x->m[i].file);
      fprintf(f, ", %s_f%d, sizeof %s_f%d},\n", name, nf, name, nf);
      nf++;
    }
  fprintf(f, "};\n\nextern const fftconv_bundle_image %s;\n"
             "const fftconv_bundle_image %s = {FFTCONV_BUNDLE_IMAGE_VERSION, %s_manifest, %zu, "
             "%d, %s_files};\n", name, name, name, mlen, nf, name);
}

fftconv_status fc_export_write_c(xplace *pl, const xstate *x, const char *manifest, size_t mlen,
                                 const char *name, fc_err *e) {
  xtarget *t = &pl->c;
  sigset_t old;
  hold_signals(&old);
  int fd = -1, err = 0;
  for (int k = 0; k < 100 && fd < 0; k++) {
    if (k)
      snprintf(t->tmp, sizeof t->tmp, "%s.partial-%ld-%d", t->base, (long)getpid(), k);
    else
      snprintf(t->tmp, sizeof t->tmp, "%s.partial-%ld", t->base, (long)getpid());
    fd = openat(t->dirfd, t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    err = errno;
    if (fd < 0 && err != EEXIST) break;
  }
  if (fd >= 0 && pl->reg) {
    reg.cdirfd = t->dirfd;
    snprintf(reg.ctmp, sizeof reg.ctmp, "%s", t->tmp);
    __atomic_store_n(&reg.c_on, 1, __ATOMIC_RELEASE);
  }
  release_signals(&old);
  if (fd < 0) {
    fftconv_status st = fc_fail(e, FFTCONV_ERR_IO, "--c-source %s: cannot create %s in %s: %s",
                                t->given, t->tmp, t->dir, strerror(err));
    t->tmp[0] = 0;
    return st;
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  c_text(f, x, manifest, mlen, name);
  int ok = !ferror(f);
  err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok)
    return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s: cannot write %s: %s", t->given, t->tmp,
                   strerror(err));
  return FFTCONV_OK;
}

/* ---- into place ---- */

static void unlink_old(const xplace *pl, const char *name) { unlinkat(pl->oldfd, name, 0); }

static fftconv_status place_bundle(xplace *pl, fc_err *e) {
  xtarget *t = &pl->out;
  if (t->existed) { /* --force, checked: swapped, and what came out checked again */
    if (swap_in(t, 1) == 0) {
      struct stat sb;
      char why[512] = "it changed while export ran";
      if (fstatat(t->dirfd, t->old_at, &sb, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&sb, &t->st) &&
          old_entries(pl, why, sizeof why, NULL) >= 0) {
        t->placed = 1;
        return FFTCONV_OK;
      }
      t->placed = 1;
      if (unplace(t, 1) != 0)
        return fc_fail(e, FFTCONV_ERR_IO, "--out %s: %s, and putting it back failed (%s): it "
                       "is now at %s/%s", t->given, why, strerror(errno), t->dir, t->tmp);
      return fc_fail(e, FFTCONV_ERR_IO, "--out %s: %s: not replaced", t->given, why);
    }
    if (errno != ENOENT) /* gone meanwhile: the new bundle goes there as to a new path */
      return fc_fail(e, FFTCONV_ERR_IO, "cannot put the bundle at --out %s: %s", t->given,
                     strerror(errno));
  }
  if (put_new(t->dirfd, t->tmp, t->base, 1) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY || errno == ENOTDIR)
      return fc_fail(e, FFTCONV_ERR_IO, "--out %s appeared while export ran (another export?): "
                     "not replaced, nothing written", t->given);
    return fc_fail(e, FFTCONV_ERR_IO, "cannot put the bundle at --out %s: %s", t->given,
                   strerror(errno));
  }
  t->placed = 1;
  t->old_at[0] = 0;
  return FFTCONV_OK;
}

static fftconv_status place_c(xplace *pl, fc_err *e) {
  xtarget *t = &pl->c;
  if (t->existed) {
    if (swap_in(t, 0) == 0) {
      struct stat sb;
      t->placed = 1;
      if (fstatat(t->dirfd, t->old_at, &sb, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&sb, &t->st))
        return FFTCONV_OK;
      unplace(t, 0);
      return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s changed while export ran: not replaced",
                     t->given);
    }
    if (errno != ENOENT)
      return fc_fail(e, FFTCONV_ERR_IO, "cannot put the C file at --c-source %s: %s", t->given,
                     strerror(errno));
  }
  if (put_new(t->dirfd, t->tmp, t->base, 0) != 0) {
    if (errno == EEXIST)
      return fc_fail(e, FFTCONV_ERR_IO, "--c-source %s appeared while export ran: not "
                     "replaced, nothing written", t->given);
    return fc_fail(e, FFTCONV_ERR_IO, "cannot put the C file at --c-source %s: %s", t->given,
                   strerror(errno));
  }
  t->placed = 1;
  t->old_at[0] = 0;
  return FFTCONV_OK;
}

fftconv_status fc_export_commit(xplace *pl, fc_err *e) {
  sigset_t old;
  hold_signals(&old);
  fftconv_status st = place_bundle(pl, e);
  if (st == FFTCONV_OK && pl->has_c && (st = place_c(pl, e)) != FFTCONV_OK &&
      unplace(&pl->out, 1) != 0) {
    char first[sizeof e->msg];
    memcpy(first, e ? e->msg : "", e ? sizeof first : 1);
    fc_fail(e, st, "%s; and the new bundle could not be taken back from --out %s: %s", first,
            pl->out.given, strerror(errno));
  }
  if (st == FFTCONV_OK) { /* both in place: what they replaced goes, the old bundle's own
                             files by name (anything that came into it meanwhile stays) */
    xtarget *t = &pl->out, *c = &pl->c;
    if (t->old_at[0]) {
      char why[512];
      old_entries(pl, why, sizeof why, unlink_old);
      if (unlinkat(t->dirfd, t->old_at, AT_REMOVEDIR) != 0)
        st = fc_fail(e, FFTCONV_ERR_IO, "wrote --out %s, but the bundle it replaced could not "
                     "be removed (%s): it is at %s/%s", t->given, strerror(errno), t->dir,
                     t->old_at);
    }
    if (c->old_at[0] && unlinkat(c->dirfd, c->old_at, 0) != 0 && st == FFTCONV_OK)
      st = fc_fail(e, FFTCONV_ERR_IO, "wrote --c-source %s, but the file it replaced could not "
                   "be removed (%s): it is at %s/%s", c->given, strerror(errno), c->dir,
                   c->old_at);
  }
  if (pl->reg && pl->out.placed) /* no longer a temporary: a handler leaves it */
    __atomic_store_n(&reg.dir_on, 0, __ATOMIC_RELEASE);
  if (pl->reg && pl->c.placed) __atomic_store_n(&reg.c_on, 0, __ATOMIC_RELEASE);
  release_signals(&old);
  return st;
}

void fc_export_finish(xplace *pl) {
  sigset_t old;
  hold_signals(&old);
  xtarget *t = &pl->out, *c = &pl->c;
  if (!t->placed && t->tmp[0] && pl->tmpfd >= 0) {
    for (int i = 0; i < pl->nfiles; i++) unlinkat(pl->tmpfd, pl->files[i], 0);
    unlinkat(t->dirfd, t->tmp, AT_REMOVEDIR);
  }
  if (!c->placed && c->tmp[0]) unlinkat(c->dirfd, c->tmp, 0);
  if (pl->reg) {
    reg.dir_on = reg.c_on = 0;
    reg.files = NULL;
    reg.nfiles = 0;
    __atomic_store_n(&reg_busy, 0, __ATOMIC_RELEASE);
    pl->reg = 0;
  }
  release_signals(&old);
  int fds[] = {t->dirfd, c->dirfd, pl->oldfd, pl->tmpfd};
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0) close(fds[i]);
  t->dirfd = c->dirfd = pl->oldfd = pl->tmpfd = -1;
  for (int i = 0; i < pl->nnamed; i++) free(pl->named[i]);
  free(pl->named);
  free(pl->files);
  pl->named = NULL;
  pl->files = NULL;
}

void fc_export_test_pause(void) {
  const char *p = getenv("FFTCONV_EXPORT_TEST_PAUSE");
  if (!p || !*p) return;
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd >= 0) close(fd);
  struct stat sb;
  for (int i = 0; i < 12000 && stat(p, &sb) == 0; i++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
}
