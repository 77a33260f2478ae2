/* problem_file: problems in the tuner's flag form (see problem_file.h). */
#include "problem_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
  const char *name;
  int arg;
} flags[] = {{"seqlen", 1},    {"batch", 1},   {"heads", 1},    {"dtype", 1},
             {"mode", 1},      {"filter-len", 1}, {"freq-keep", 1}, {"pregate", 0},
             {"postgate", 0},  {"skip-d", 0}};

void fc_problem_defaults(fftconv_problem *p) {
  fftconv_problem_init(p);
  p->batch = 8;
  p->heads = 64;
  p->seqlen = 0; /* must be given */
  p->dtype = FFTCONV_FP16;
}

int fc_problem_flag_arg(const char *name) {
  for (size_t i = 0; name && i < sizeof flags / sizeof flags[0]; i++)
    if (!strcmp(flags[i].name, name)) return flags[i].arg;
  return -1;
}

int fc_parse_i64(const char *s, int64_t lo, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < lo) return 0;
  *out = v;
  return 1;
}

int fc_problem_flag(fftconv_problem *p, const char *name, const char *arg, char *msg,
                    size_t len) {
  int takes = fc_problem_flag_arg(name);
  if (takes < 0) return 0;
  if (takes && !arg) {
    snprintf(msg, len, "--%s needs a value", name);
    return -1;
  }
  if (!strcmp(name, "pregate")) p->pre_gate = 1;
  else if (!strcmp(name, "postgate")) p->post_gate = 1;
  else if (!strcmp(name, "skip-d")) p->skip_d = 1;
  else if (!strcmp(name, "dtype")) {
    if (!strcmp(arg, "fp32")) p->dtype = FFTCONV_FP32;
    else if (!strcmp(arg, "fp16")) p->dtype = FFTCONV_FP16;
    else if (!strcmp(arg, "bf16")) p->dtype = FFTCONV_BF16;
    else {
      snprintf(msg, len, "--dtype: '%s' is not one of fp32, fp16, bf16", arg);
      return -1;
    }
  } else if (!strcmp(name, "mode")) {
    if (!strcmp(arg, "causal")) p->mode = FFTCONV_CAUSAL;
    else if (!strcmp(arg, "circular")) p->mode = FFTCONV_CIRCULAR;
    else {
      snprintf(msg, len, "--mode: '%s' is not one of causal, circular", arg);
      return -1;
    }
  } else {
    int64_t lo = (!strcmp(name, "filter-len") || !strcmp(name, "freq-keep")) ? 0 : 1, v;
    if (!fc_parse_i64(arg, lo, &v)) {
      snprintf(msg, len, "--%s: '%s' is not an integer >= %" PRId64, name, arg, lo);
      return -1;
    }
    if (!strcmp(name, "seqlen")) p->seqlen = v;
    else if (!strcmp(name, "batch")) p->batch = v;
    else if (!strcmp(name, "heads")) p->heads = v;
    else if (!strcmp(name, "filter-len")) p->filter_len = v;
    else p->freq_keep = v;
  }
  return 1;
}

fftconv_status fc_problem_file_read(const char *path, fftconv_problem **out, int *count,
                                    fc_err *e) {
  *out = NULL;
  *count = 0;
  FILE *f = fopen(path, "r");
  if (!f) return fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    return fc_fail(e, FFTCONV_ERR_IO, "--problems %s: is a directory, not a problem-set file",
                   path);
  }
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, n = 0, ncap = 0;
  fftconv_problem *list = NULL;
  fftconv_status st = FFTCONV_OK;
  while (st == FFTCONV_OK && getline(&line, &cap, f) >= 0) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    fftconv_problem p;
    fc_problem_defaults(&p);
    char where[600], msg[512];
    snprintf(where, sizeof where, "%.500s:%d: ", path, lineno);
    int words = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); st == FFTCONV_OK && w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
      words++;
      int takes = w[0] == '-' && w[1] == '-' ? fc_problem_flag_arg(w + 2) : -1;
      if (takes < 0) {
        st = fc_fail(e, FFTCONV_ERR_INVALID, "%s'%s' is not a problem flag", where, w);
        break;
      }
      char *arg = takes ? strtok_r(NULL, " \t\r\n", &save) : NULL;
      if (fc_problem_flag(&p, w + 2, arg, msg, sizeof msg) < 0)
        st = fc_fail(e, FFTCONV_ERR_INVALID, "%s%s", where, msg);
    }
    if (st != FFTCONV_OK || !words) continue;
    if (!p.seqlen) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "%s--seqlen is required", where);
    } else if (fftconv_problem_check(&p, msg, sizeof msg) != FFTCONV_OK) {
      st = fc_fail(e, FFTCONV_ERR_INVALID, "%s%s", where, msg);
    } else {
      if (n == ncap) {
        ncap = ncap ? 2 * ncap : 16;
        fftconv_problem *q = realloc(list, (size_t)ncap * sizeof *q);
        if (!q) {
          st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of memory reading %s", path);
          break;
        }
        list = q;
      }
      list[n++] = p;
    }
  }
  if (st == FFTCONV_OK && ferror(f))
    st = fc_fail(e, FFTCONV_ERR_IO, "--problems %s: %s", path, strerror(errno));
  free(line);
  fclose(f);
  if (st == FFTCONV_OK && n == 0) st = fc_fail(e, FFTCONV_ERR_IO, "%s holds no problem", path);
  if (st != FFTCONV_OK) {
    free(list);
    return st;
  }
  *out = list;
  *count = n;
  return FFTCONV_OK;
}
