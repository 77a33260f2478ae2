/* problem_file: problems in the tuner's flag form (see problem_file.h). */
#include "problem_file.h"

#include "fields.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fc_problem_defaults(fftconv_problem *p) {
  fftconv_problem_init(p);
  for (int i = 0; i < FC_NFIELDS; i++) fc_field_set(p, &fc_fields[i], fc_fields[i].flag_default);
}

int fc_problem_flag_arg(const char *name) {
  const fc_field *f = fc_field_by_flag(name);
  return f ? f->flag_arg != NULL : -1;
}

void fc_problem_flags_help(fc_str *b) {
  for (int i = 0; i < FC_NFIELDS; i++) {
    const fc_field *f = &fc_fields[i];
    char left[40];
    snprintf(left, sizeof left, "--%s%s%s", f->flag, f->flag_arg ? " " : "",
             f->flag_arg ? f->flag_arg : "");
    fc_str_add(b, "  %-16s  %s\n", left, f->help);
  }
}

int fc_problem_flag(fftconv_problem *p, const char *name, const char *arg, char *msg,
                    size_t len) {
  const fc_field *f = fc_field_by_flag(name);
  if (!f) return 0;
  char q[160];
  if (f->flag_arg && !arg) {
    snprintf(msg, len, "--%s needs a value", name);
    return -1;
  }
  int64_t v = 1;
  if (f->type == FC_FIELD_DTYPE || f->type == FC_FIELD_MODE) {
    if (!fc_field_enum_find(f, arg, &v)) {
      char names[64];
      snprintf(msg, len, "--%s: '%s' is not one of %s", name, fc_quote(arg, 100, q, sizeof q),
               fc_field_enum_list(f, names, sizeof names));
      return -1;
    }
  } else if (f->type == FC_FIELD_INT64) {
    /* The upper bounds are fftconv_problem_check's, which names the field and its range; the
       lower bound is the static one, 0 where the range depends on other fields. */
    char why[256];
    if (!fc_parse_int(arg, f->min > f->max ? 0 : f->min, INT64_MAX, &v, why, sizeof why)) {
      snprintf(msg, len, "--%s: %s", name, why);
      return -1;
    }
  }
  fc_field_set(p, f, v);
  return 1;
}

/* One line (NUL-terminated, in a buffer of its own) into p; *words counts its words. */
static fftconv_status parse_line(char *line, const char *where, fftconv_problem *p, int *words,
                                 fc_err *e) {
  char msg[512], q[160];
  fc_problem_defaults(p);
  char *hash = strchr(line, '#');
  if (hash) *hash = 0;
  *words = 0;
  for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w;
       w = strtok_r(NULL, " \t\r", &save)) {
    (*words)++;
    int takes = w[0] == '-' && w[1] == '-' ? fc_problem_flag_arg(w + 2) : -1;
    if (takes < 0)
      return fc_fail(e, FFTCONV_ERR_INVALID, "%s'%s' is not a problem flag", where,
                     fc_quote(w, 100, q, sizeof q));
    char *arg = takes ? strtok_r(NULL, " \t\r", &save) : NULL;
    if (fc_problem_flag(p, w + 2, arg, msg, sizeof msg) < 0)
      return fc_fail(e, FFTCONV_ERR_INVALID, "%s%s", where, msg);
  }
  if (!*words) return FFTCONV_OK;
  if (!p->seqlen) return fc_fail(e, FFTCONV_ERR_INVALID, "%s--seqlen is required", where);
  if (fftconv_problem_check(p, msg, sizeof msg) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s%s", where, msg);
  return FFTCONV_OK;
}

fftconv_status fc_problem_file_parse(const char *text, size_t len, const char *name,
                                     fftconv_problem **out, int *count, fc_err *e) {
  *out = NULL;
  *count = 0;
  char qname[520];
  fc_quote(name ? name : "(problems)", 500, qname, sizeof qname);
  if (!text) text = "", len = 0;
  if (len > FC_PROBLEM_FILE_MAX_BYTES) /* so that every count below stays small */
    return fc_fail(e, FFTCONV_ERR_INVALID, "%s is %zu bytes; a problem-set file may have at most "
                   "%d (16 MiB)", qname, len, FC_PROBLEM_FILE_MAX_BYTES);
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3; /* a byte-order mark */
  char *line = NULL; /* a copy of the current line, for strtok_r */
  int lineno = 0, n = 0, ncap = 0;
  fftconv_problem *list = NULL;
  fftconv_status st = FFTCONV_OK;
  while (st == FFTCONV_OK && p < end) {
    lineno++;
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
    size_t ll = (size_t)(stop - p);
    char where[600];
    snprintf(where, sizeof where, "%s:%d: ", qname, lineno);
    if (ll > FC_PROBLEM_LINE_MAX) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "%sis %zu bytes long; a line may have at most %d",
                   where, ll, FC_PROBLEM_LINE_MAX);
      break;
    }
    /* strtok_r would stop at a NUL and drop the rest of the line without a word */
    if (memchr(p, 0, ll)) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "%sholds a NUL byte", where);
      break;
    }
    if (!line && !(line = malloc(FC_PROBLEM_LINE_MAX + 1))) {
      st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory reading %s", qname);
      break;
    }
    memcpy(line, p, ll);
    line[ll] = 0;
    p = nl ? nl + 1 : end;
    fftconv_problem pr;
    int words = 0;
    st = parse_line(line, where, &pr, &words, e);
    if (st != FFTCONV_OK || !words) continue;
    if (n == FC_PROBLEM_FILE_MAX_PROBLEMS) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "%smore than %d problems; split the set", where,
                   FC_PROBLEM_FILE_MAX_PROBLEMS);
      break;
    }
    if (n == ncap) {
      ncap = ncap ? 2 * ncap : 16;
      if (ncap > FC_PROBLEM_FILE_MAX_PROBLEMS) ncap = FC_PROBLEM_FILE_MAX_PROBLEMS;
      fftconv_problem *q = realloc(list, (size_t)ncap * sizeof *q);
      if (!q) {
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory reading %s", qname);
        break;
      }
      list = q;
    }
    list[n++] = pr;
  }
  free(line);
  if (st == FFTCONV_OK && n == 0) st = fc_fail(e, FFTCONV_ERR_IO, "%s holds no problem", qname);
  if (st != FFTCONV_OK) {
    free(list);
    return st;
  }
  *out = list;
  *count = n;
  return FFTCONV_OK;
}

/* What a file that is not a regular file is, for the message refusing it. */
static const char *file_kind(mode_t m) {
  return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

fftconv_status fc_problem_file_read(const char *path, fftconv_problem **out, int *count,
                                    fc_err *e) {
  *out = NULL;
  *count = 0;
  char qp[520];
  fc_quote(path, 500, qp, sizeof qp);
  /* stat first: opening a device may do something (a tape rewinds, a FIFO waits for a
     writer); then the descriptor's own fstat, which is what is read */
  struct stat sb;
  if (stat(path, &sb) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", qp, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return fc_fail(e, FFTCONV_ERR_IO, "--problems %s: is %s, not a problem-set file", qp,
                   file_kind(sb.st_mode));
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", qp, strerror(errno));
  fftconv_status st = FFTCONV_OK;
  char *buf = NULL;
  size_t got = 0;
  if (fstat(fd, &sb) != 0) {
    st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", qp, strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) { /* replaced between stat and open */
    st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: is %s, not a problem-set file", qp,
                 file_kind(sb.st_mode));
  } else if (sb.st_size > FC_PROBLEM_FILE_MAX_BYTES) {
    st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: is %lld bytes; a problem-set file may have "
                 "at most %d (16 MiB)", qp, (long long)sb.st_size, FC_PROBLEM_FILE_MAX_BYTES);
  } else {
    /* Read to the end, not just st_size bytes: a file may grow meanwhile (and /proc's say 0).
       One byte past the limit is enough to know it is too large. */
    size_t cap = (size_t)sb.st_size + 1;
    if (!(buf = malloc(cap))) st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory reading %s", qp);
    while (st == FFTCONV_OK) {
      if (got == cap) {
        if (cap > FC_PROBLEM_FILE_MAX_BYTES) {
          st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: grew past %d bytes (16 MiB) while "
                       "read; a problem-set file may have at most that", qp,
                       FC_PROBLEM_FILE_MAX_BYTES);
          break;
        }
        size_t ncap = cap > FC_PROBLEM_FILE_MAX_BYTES / 2 ? (size_t)FC_PROBLEM_FILE_MAX_BYTES + 1
                                                          : 2 * cap;
        char *b = realloc(buf, ncap);
        if (!b) {
          st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory reading %s", qp);
          break;
        }
        buf = b;
        cap = ncap;
      }
      ssize_t r = read(fd, buf + got, cap - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", qp, strerror(errno));
        break;
      }
      if (r == 0) break;
      got += (size_t)r;
    }
  }
  close(fd);
  if (st == FFTCONV_OK) st = fc_problem_file_parse(buf, got, path, out, count, e);
  free(buf);
  return st;
}
