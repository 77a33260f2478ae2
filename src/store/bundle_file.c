/* bundle_file: what the bundle reader (bundle.c) and fc_bundle_probe read with: files opened
   only when they are regular (never a link, FIFO or device), sizes compared before reading,
   and the manifest's head checked (see bundle.h and bundle_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_int.h"

/* s for a message: at most max bytes of it, control characters and backslashes escaped (\n,
   \x1b), "..." where it was cut. A manifest's strings are its writer's, or an attacker's: a
   message never carries a terminal escape, or a megabyte of one. */
const char *fc_bundle_esc(char *out, size_t len, const char *s, size_t max) {
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
   -1 with the reason in why: *refused 1 when the file is there and of the wrong kind ("is a
   FIFO (named pipe), not a regular file: refused"), 0 when it could not be looked at
   (strerror's words, errno kept). */
int fc_bundle_open_regular(const char *path, int64_t *size, int *refused, char *why, size_t wlen) {
  struct stat ls, fs;
  *refused = 0;
  if (lstat(path, &ls) != 0) {
    int err = errno;
    snprintf(why, wlen, "%s", strerror(err));
    errno = err;
    return -1;
  }
  *refused = 1;
  errno = 0;
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
    int err = errno;
    *refused = err == ELOOP;
    snprintf(why, wlen, "%s", err == ELOOP ? "became a symbolic link while it was opened: "
             "refused" : strerror(err));
    errno = err;
    return -1;
  }
  if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode) || fs.st_dev != ls.st_dev ||
      fs.st_ino != ls.st_ino) {
    snprintf(why, wlen, "was replaced while it was opened: refused");
    close(fd);
    errno = 0;
    return -1;
  }
  *size = (int64_t)fs.st_size;
  return fd;
}

/* Exactly n bytes of fd, malloc'd and NUL-terminated; closes fd. 0, or -1 with why (the file
   is shorter or grew while it was read), or -2 when out of memory. */
int fc_bundle_read_exactly(int fd, size_t n, char **out, char *why, size_t wlen) {
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
fftconv_status fc_bundle_read_manifest(const char *path, const char *mname, char **json, size_t *n,
                                    fc_err *e) {
  char why[256];
  int64_t size = 0;
  int refused = 0;
  *json = NULL;
  int fd = fc_bundle_open_regular(path, &size, &refused, why, sizeof why);
  if (fd < 0 && !strncmp(why, "is a directory", 14)) /* strerror's words, as before */
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s (a bundle's manifest is a regular file)",
                   mname, strerror(EISDIR));
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
  int r = fc_bundle_read_exactly(fd, (size_t)size, json, why, sizeof why);
  if (r == -2) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if (r < 0) return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s", mname, why);
  *n = (size_t)size;
  return FFTCONV_OK;
}

/* The root's type as JSON names it, for "is not an fftconv bundle manifest (JSON ...)". */
static const char *json_word(const fc_json *v) {
  static const char *const words[] = {[FC_JSON_NULL] = "null", [FC_JSON_FALSE] = "false",
                                      [FC_JSON_TRUE] = "true", [FC_JSON_INT] = "integer",
                                      [FC_JSON_REAL] = "real", [FC_JSON_STRING] = "text",
                                      [FC_JSON_ARRAY] = "an array", [FC_JSON_OBJECT] = "object"};
  return v ? words[v->type] : "?";
}

/* The manifest's head: a JSON object with "format": "fftconv-bundle" and an integer "version"
   of 1 or more, returned in *version (a newer one is the caller's to refuse). */
fftconv_status fc_bundle_manifest_head(const char *json, size_t jn, const char *mname,
                                       const char *hint, fc_json_doc **doc, int64_t *version,
                                       fc_err *e) {
  *doc = NULL;
  if (jn == 0)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is empty (not an fftconv bundle manifest)",
                   mname);
  if (strlen(json) != jn)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not JSON (it holds a NUL byte at offset "
                   "%zu)", mname, strlen(json));
  /* a name or a key holding a NUL would read as a shorter one wherever it is used as a C
     string: the text holding an escaped NUL is refused whole */
  for (size_t i = 0; i + 5 < jn; i++)
    if (json[i] == '\\' && (json[i + 1] | 0x20) == 'u' && !strncmp(json + i + 2, "0000", 4))
      return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: holds an escaped NUL character (\\u0000 at "
                     "offset %zu): refused", mname, i);
    else if (json[i] == '\\')
      i++; /* the escaped character: "\\\\u0000" is a backslash and text */
  char why[160];
  const fc_json_limits lim = {FC_BUNDLE_JSON_DEPTH, FC_BUNDLE_JSON_VALUES,
                              FC_BUNDLE_MAX_ENTRIES + 1};
  int r = fc_json_parse(json, jn, &lim, doc, why, sizeof why);
  if (r == FC_JSON_NOMEM) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  if (r == FC_JSON_TOO_MANY)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: holds more JSON values than a bundle may "
                   "(%u; %s): not read", mname, FC_BUNDLE_JSON_VALUES, why);
  if (r != FC_JSON_OK) {
    int blank = 1;
    for (size_t i = 0; i < jn && blank; i++) blank = strchr(" \t\r\n", json[i]) != NULL;
    int bom = jn >= 3 && !memcmp(json, "\xef\xbb\xbf", 3); /* an editor's, now and then */
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: %s%s%s%s", mname,
                   blank ? "is empty (only white space; not an fftconv bundle manifest)"
                   : bom ? "is not JSON (it starts with a UTF-8 byte-order mark, which JSON does "
                           "not allow)"
                         : "is not JSON (malformed)", blank || bom ? "" : hint,
                   blank || bom ? "" : ": ", blank || bom ? "" : why);
  }
  const fc_json *root = fc_json_root(*doc);
  const fc_json *format = fc_json_get(*doc, root, "format"), *ver = fc_json_get(*doc, root, "version");
  fftconv_status st = FFTCONV_OK;
  if (root->type != FC_JSON_OBJECT)
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not an fftconv bundle manifest (JSON %s, "
                 "not an object)", mname, json_word(root));
  else if (!format || format->type != FC_JSON_STRING || strcmp(format->s, FC_BUNDLE_FORMAT)) {
    int text = format && format->type == FC_JSON_STRING;
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: is not an fftconv bundle manifest (no "
                 "\"format\": \"" FC_BUNDLE_FORMAT "\"%s%s%s)", mname,
                 text ? "; its format is \"" : "", text ? ESC(format->s) : "", text ? "\"" : "");
  } else if (!ver || ver->type != FC_JSON_INT || ver->i < 1) {
    st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has no format \"version\" (a positive integer)",
                 mname);
  } else {
    *version = ver->i;
  }
  if (st != FFTCONV_OK) {
    fc_json_free(*doc);
    *doc = NULL;
  }
  return st;
}

/* A module's file name, as the manifest gives it: a plain name in the bundle's directory. NULL
   when good, else what is wrong with it. */
const char *fc_bundle_bad_file_name(const char *f, size_t bytes) {
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

/* The file names of a manifest's "modules" (see fc_bundle_probe_files). */
static fftconv_status probe_names(const fc_json_doc *d, const char *mname, char ***names,
                                  int *nnames, fc_err *e) {
  const fc_json *mods = fc_json_get(d, fc_json_root(d), "modules");
  if (!mods || mods->type != FC_JSON_ARRAY)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has no \"modules\" array", mname);
  if (mods->n > FC_BUNDLE_MAX_MODULES)
    return fc_fail(e, FFTCONV_ERR_IO, "bundle %s: has %zu modules, more than a bundle may hold "
                   "(%d)", mname, mods->n, FC_BUNDLE_MAX_MODULES);
  if (!(*names = calloc(mods->n ? mods->n : 1, sizeof **names)))
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
  fftconv_status st = FFTCONV_OK;
  for (const fc_json *m = fc_json_first(d, mods); m && st == FFTCONV_OK; m = fc_json_next(d, m)) {
    int i = *nnames;
    const fc_json *fj = fc_json_get(d, m, "file");
    const char *f = fj && fj->type == FC_JSON_STRING ? fj->s : NULL;
    const char *why = fc_bundle_bad_file_name(f, f ? fj->n : 0);
    if (why)
      st = fc_fail(e, FFTCONV_ERR_IO, "bundle %s: modules[%d].file %s%s%s%s", mname, i, why,
                   f ? " (\"" : "", f ? ESC(f) : "", f ? "\")" : "");
    else if (!((*names)[i] = strdup(f)))
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory reading a bundle");
    else
      (*nnames)++;
  }
  if (st != FFTCONV_OK) {
    for (int i = 0; i < *nnames; i++) free((*names)[i]);
    free(*names);
    *names = NULL;
    *nnames = 0;
  }
  return st;
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
  fc_bundle_esc(mname, sizeof mname, d, 4000);
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
  fftconv_status st = fc_bundle_read_manifest(path, mname, &json, &jn, e);
  int64_t version = 0;
  fc_json_doc *doc = NULL;
  if (st == FFTCONV_OK) st = fc_bundle_manifest_head(json, jn, mname, "", &doc, &version, e);
  if (st == FFTCONV_OK && names) st = probe_names(doc, mname, names, nnames, e);
  fc_json_free(doc);
  free(json);
  return st;
}

fftconv_status fc_bundle_probe(const char *dir, fc_err *e) { return probe(dir, NULL, NULL, e); }

fftconv_status fc_bundle_probe_files(const char *dir, char ***names, int *n, fc_err *e) {
  return probe(dir, names, n, e);
}
