/* search: enumerate, compile in parallel, verify on a miniature, time, choose, store. */
#include "search.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "candidate.h"
#include "sample.h"
#include "trial.h"

/* --emit-dir: what proves that a file there is one fftconv-tune wrote (the first bytes of
   every file it writes), so that a later run replaces only such a file. A source begins with
   the emitter's own header; a log gets this line before it. */
#define EMIT_SOURCE_HEAD "/* fftconv generated kernel: do not edit."
#define EMIT_LOG_HEAD "/* fftconv-tune --emit-dir: NVRTC log */\n"

static int emitted_here(int dirfd, const char *name) {
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat sb;
  char head[64] = {0};
  int ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read(fd, head, sizeof head - 1) > 0;
  close(fd);
  return ok && (!strncmp(head, EMIT_SOURCE_HEAD, strlen(EMIT_SOURCE_HEAD)) ||
                !strncmp(head, EMIT_LOG_HEAD, strlen(EMIT_LOG_HEAD)));
}

static int write_text(int fd, const char *a, const char *b) {
  const char *parts[2] = {a, b};
  for (int k = 0; k < 2; k++)
    for (size_t n = parts[k] ? strlen(parts[k]) : 0, off = 0; off < n;) {
      ssize_t w = write(fd, parts[k] + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return 0;
      off += (size_t)w;
    }
  return 1;
}

/* Writes DIR/NAME_III.EXT: under a temporary name created anew in DIR (never through a link),
   then renamed into place, replacing only a file this tool wrote there before. */
static fftconv_status write_file(const char *dir, const char *name, int i, const char *ext,
                                 const char *text, fc_err *e) {
  char base[256], tmp[320];
  snprintf(base, sizeof base, "%.200s_%03d.%s", name, i, ext);
  snprintf(tmp, sizeof tmp, ".%s.partial-%ld", base, (long)getpid());
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fc_fail(e, FFTCONV_ERR_IO, "--emit-dir %s: %s", dir, strerror(errno));
  struct stat sb;
  if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !emitted_here(dfd, base)) {
    close(dfd);
    return fc_fail(e, FFTCONV_ERR_IO, "--emit-dir %s: %s exists and is not a file "
                   "fftconv-tune wrote: not replaced (give a new or empty directory)", dir, base);
  }
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  int ok = fd >= 0 && write_text(fd, strcmp(ext, "log") ? NULL : EMIT_LOG_HEAD, text);
  int err = errno;
  if (fd >= 0 && close(fd) != 0 && ok) ok = 0, err = errno;
  if (ok && renameat(dfd, tmp, dfd, base) != 0) ok = 0, err = errno;
  if (!ok && fd >= 0) unlinkat(dfd, tmp, 0);
  close(dfd);
  return ok ? FFTCONV_OK
            : fc_fail(e, FFTCONV_ERR_IO, "--emit-dir %s: cannot write %s: %s", dir, base,
                      strerror(err));
}

void fc_search_defaults(fc_rigor r, fc_search_opts *o) {
  memset(o, 0, sizeof *o);
  o->rigor = r;
  o->op = FC_OP_FORWARD;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  o->jobs = cpus > 0 ? (int)cpus : 1;
  /* >= 20 runs: the winner must have been timed that often (fc_search_run) */
  o->runs = 30;
  o->warmup = 5;
  if (r == FC_RIGOR_MEASURE) {
    o->quick_runs = 3;
    o->finalists = FC_CACHE_FINALISTS; /* the cache keeps their cubins */
    /* bench/NOTES.md: on the H200 the default set went from 609 s to 158 s with these, every
       winner within 1.2% of the full search's */
    o->screen = 1.5;
    o->cutoff = 1.5;
  }
}

static int is_ok(const fc_result *r) { return r->status == FC_RESULT_OK; }

static int stopping(const fc_search_opts *o) {
  return (o->stop && *o->stop) || (o->deadline > 0 && fc_now() > o->deadline);
}

/* The kernel row for a candidate (compiled or not). */
static fc_cache_kernel kernel_row(const fc_search_opts *o, const fc_result *r) {
  /* resources: of the main launch's entry (the first forward one, or backward one) */
  const fc_launch *fw = fc_manifest_main(&r->src.manifest);
  const fc_entry_info *fe = fw ? fc_binary_entry(&r->bin, fw->entry) : NULL;
  fc_cache_kernel k = {
      .tmpl = r->src.info.name, .revision = r->src.info.revision, .hash = r->src.info.hash,
      .params = r->params, .sm = o->cfg->sm, .nvrtc = o->cfg->nvrtc, .source = r->src.source,
      .cubin = r->bin.cubin, .cubin_size = r->bin.cubin_size, .ptx = r->bin.ptx,
      .log = r->bin.log, .registers = fe ? fe->registers : 0,
      .smem_static = fe ? fe->smem_static : 0, .stack = fe ? fe->stack : 0,
      .spill_stores = fe ? fe->spill_stores : 0, .spill_loads = fe ? fe->spill_loads : 0,
      .compile_seconds = r->bin.seconds, .manifest = r->src.manifest};
  return k;
}

static fftconv_status store_kernel(const fc_search_opts *o, fc_result *r, fc_err *e) {
  if (!o->cache) return FFTCONV_OK;
  fc_cache_kernel k = kernel_row(o, r);
  return fc_cache_put_kernel(o->cache, &k, &r->kernel_id, e);
}

static fftconv_status store_measurement(const fc_search_opts *o, const fftconv_problem *p,
                                        const fc_result *r, fc_err *e) {
  if (!o->cache || !fc_result_status_measured(r->status)) return FFTCONV_OK;
  /* an ok candidate's kernel goes in again with it: another tuner sharing the cache may
     have slimmed its row since store_kernel, and a winner needs its cubin */
  fc_cache_kernel k = kernel_row(o, r);
  fc_cache_measurement m = {
      .problem = p, .op = o->op, .kernel_id = r->kernel_id,
      .status = fc_result_status_name(r->status),
      .message = r->detail[0] ? r->detail : NULL, .median_ms = is_ok(r) ? r->t.median_ms : NAN,
      .p10_ms = is_ok(r) ? r->t.p10_ms : NAN, .p90_ms = is_ok(r) ? r->t.p90_ms : NAN,
      .runs = r->t.runs, .rel_err = r->err, .rigor = fc_rigor_name(o->rigor),
      .kernel = is_ok(r) ? &k : NULL};
  return fc_cache_put_measurement(o->cache, o->cfg, &m, e);
}

/* The error that ends a search whose context a candidate's fault lost: the candidates after
   it would all fail. What was measured is stored; a run again (resume) skips r, stored as
   failed, and measures the rest. */
static fftconv_status context_lost_error(fc_search *s, const fc_search_opts *o,
                                         const fftconv_problem *p, const fc_result *r,
                                         fc_err *e) {
  s->context_lost = 1;
  char key[256];
  fftconv_problem_key(p, key, sizeof key);
  return fc_fail(e, FFTCONV_ERR_CUDA,
                 "%s: candidate %s of %s faulted: %.300s; the search stops here (every later "
                 "launch would fail); what was measured is kept%s", key, r->params,
                 r->src.info.name, r->detail,
                 o->cache ? ", and a run again resumes after it (it is stored as failed)" : "");
}

static int by_median(const void *a, const void *b) {
  const fc_result *x = *(fc_result *const *)a, *y = *(fc_result *const *)b;
  return (x->t.median_ms > y->t.median_ms) - (x->t.median_ms < y->t.median_ms);
}

/* Appends cl[0..n) of family tmpl to (*all, *fam, *nall); frees cl (its strings move). */
static fftconv_status append(fc_candidate **all, const char ***fam, int *nall, fc_candidate *cl,
                             int n, const char *tmpl, fc_err *e) {
  fc_candidate *a = realloc(*all, (size_t)(*nall + n + 1) * sizeof *a);
  if (a) *all = a;
  const char **f = a ? realloc(*fam, (size_t)(*nall + n + 1) * sizeof *f) : NULL;
  if (f) *fam = f;
  if (!a || !f) {
    fc_candidates_free(cl, n);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  for (int i = 0; i < n; i++) a[*nall + i] = cl[i], f[*nall + i] = tmpl;
  *nall += n;
  free(cl);
  return FFTCONV_OK;
}

static void why_add(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_add(char *why, size_t len, const char *fmt, ...) {
  size_t k = strlen(why);
  if (k && k + 2 < len) memcpy(why + k, "; ", 3), k += 2;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why + k, len - k, fmt, ap);
  va_end(ap);
}

static int by_reason(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends to why the reason family tmpl has nothing to run, when none of its n candidates cl
   passed check(): the most common of check()'s reasons, or default()'s when space() proposed
   none. */
static void why_none(fc_emit *em, const char *tmpl, int op, const fftconv_problem *p,
                     const fc_device_info *dev, const fc_candidate *cl, int n, char *why,
                     size_t len) {
  for (int i = 0; i < n; i++)
    if (!cl[i].reason) return;
  if (n <= 0) {
    fc_err de = {{0}};
    char *params = NULL;
    if (fc_emit_default_op(em, tmpl, op, p, dev, &params, &de) == FFTCONV_ERR_UNSUPPORTED)
      why_add(why, len, "%s: space() proposes no candidate; %s", tmpl, de.msg);
    else
      why_add(why, len, "%s: space() proposes no candidate", tmpl);
    free(params);
    return;
  }
  const char **r = malloc((size_t)n * sizeof *r);
  if (!r) {
    why_add(why, len, "%s: check() rejects all %d candidates", tmpl, n);
    return;
  }
  for (int i = 0; i < n; i++) r[i] = cl[i].reason;
  qsort(r, (size_t)n, sizeof *r, by_reason);
  int best = 0, best_n = 0, distinct = 0;
  for (int i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && !strcmp(r[j], r[i]); j++) {}
    distinct++;
    if (j - i > best_n) best = i, best_n = j - i;
  }
  if (distinct == 1)
    why_add(why, len, "%s: check() rejects all %d candidates: %s", tmpl, n, r[best]);
  else
    why_add(why, len, "%s: check() rejects all %d candidates, %d of them because: %s", tmpl, n,
            best_n, r[best]);
  free(r);
}

/* The candidates of cl whose parameters contain every text of o->only, moved to its front (the
   others freed); their count. Says so in why when none of tmpl's does. */
static int keep_only(const fc_search_opts *o, fc_candidate *cl, int n, const char *tmpl,
                     char *why, size_t len) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    int all = 1;
    for (int j = 0; j < o->nonly && all; j++) all = strstr(cl[i].params, o->only[j]) != NULL;
    if (all) {
      cl[k++] = cl[i];
    } else {
      free(cl[i].params);
      free(cl[i].reason);
    }
  }
  if (!k && n) why_add(why, len, "%s: none of its %d candidates has every --only text", tmpl, n);
  return k;
}

/* The candidates of one family, or of every family when o->tmpl is NULL, of the families that
   declare o->op (runs.ops) and, unless o->tmpl names one, are not retired (runs.retired):
   space() for measure/exhaustive, its sample (sample.h) for sample, default() alone for
   estimate (a family that cannot run the problem contributes nothing). fam[i] names candidate i's family.
   why (len bytes) gets the reason of each family that contributes nothing runnable. */
static fftconv_status candidates(fc_emit *em, const fftconv_problem *p, const fc_device_info *dev,
                                 const fc_search_opts *o, fc_candidate **all, const char ***fam,
                                 int *nall, char *why, size_t len, fc_err *e) {
  *all = NULL, *fam = NULL, *nall = 0;
  int nt = o->tmpl ? 1 : fc_emit_template_count(em);
  int estimate = o->rigor == FC_RIGOR_ESTIMATE;
  int sample = o->rigor == FC_RIGOR_SAMPLE;
  for (int t = 0; t < nt; t++) {
    const char *tmpl = o->tmpl ? o->tmpl : fc_emit_template_name(em, t);
    fc_candidate *cl = NULL;
    int n = 0;
    fc_family_decl decl;
    fftconv_status st = fc_emit_declaration(em, tmpl, &decl, e);
    if (st == FFTCONV_OK && !(decl.ops & 1u << o->op)) { /* not a family of this op */
      why_add(why, len, "%s: declares no %s kernel (runs.ops)", tmpl, fc_op_name((fc_op)o->op));
      continue;
    }
    if (st == FFTCONV_OK && decl.retired[0] && !o->tmpl) { /* searched only when named */
      why_add(why, len, "%s: retired from the search (--template %s searches it): %s", tmpl, tmpl,
              decl.retired);
      continue;
    }
    if (st == FFTCONV_OK && !estimate) {
      st = sample ? fc_sample_space_op(em, tmpl, o->op, p, dev, &cl, &n, e)
                  : fc_emit_space_op(em, tmpl, o->op, p, dev, o->rigor, &cl, &n, e);
      if (st == FFTCONV_OK) why_none(em, tmpl, o->op, p, dev, cl, n, why, len);
    } else if (st == FFTCONV_OK) {
      char *params = NULL;
      st = fc_emit_default_op(em, tmpl, o->op, p, dev, &params, e);
      if (st == FFTCONV_ERR_UNSUPPORTED && !o->tmpl) {
        why_add(why, len, "%s", e ? e->msg : tmpl);
        continue;
      }
      if (st == FFTCONV_OK && !(cl = calloc(1, sizeof *cl))) {
        free(params);
        st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
      }
      if (st == FFTCONV_OK) cl[0].params = params, n = 1;
    }
    if (st == FFTCONV_OK && o->nonly) n = keep_only(o, cl, n, tmpl, why, len);
    if (st == FFTCONV_OK) st = append(all, fam, nall, cl, n, tmpl, e);
    if (st != FFTCONV_OK) {
      fc_candidates_free(*all, *nall);
      free(*fam);
      *all = NULL, *fam = NULL, *nall = 0;
      return st;
    }
  }
  return FFTCONV_OK;
}

/* ---- binaries kept across problems ---- */

typedef struct memo_entry {
  uint64_t h;
  char *key;
  fc_binary bin;
} memo_entry;

struct fc_bin_memo {
  memo_entry *e;
  int n, cap;
  size_t bytes, max_bytes;
};

fc_bin_memo *fc_bin_memo_new(size_t max_bytes) {
  fc_bin_memo *m = calloc(1, sizeof *m);
  if (m) m->max_bytes = max_bytes;
  return m;
}

void fc_bin_memo_free(fc_bin_memo *m) {
  if (!m) return;
  for (int i = 0; i < m->n; i++) free(m->e[i].key), fc_binary_free(&m->e[i].bin);
  free(m->e);
  free(m);
}

/* "hash arch params": what makes two compilations the same (sm_90 and sm_90a differ). */
static char *memo_key(const fc_result *r, const char *arch) {
  size_t n = strlen(r->params) + 48;
  char *k = malloc(n);
  if (k) snprintf(k, n, "%s %s %s", r->src.info.hash, arch, r->params);
  return k;
}

static const fc_binary *memo_find(fc_bin_memo *m, const char *key) {
  uint64_t h = fc_hash64(FC_HASH64_INIT, key, strlen(key));
  for (int i = m->n - 1; i >= 0; i--)
    if (m->e[i].h == h && !strcmp(m->e[i].key, key)) return &m->e[i].bin;
  return NULL;
}

/* Keeps a copy of b under key (taken over); a full memo drops its oldest entries. */
static void memo_put(fc_bin_memo *m, char *key, const fc_binary *b) {
  fc_err e = {{0}};
  if (!key || !b->cubin || b->cubin_size > m->max_bytes || memo_find(m, key)) {
    free(key);
    return;
  }
  int drop = 0;
  while (drop < m->n && m->bytes + b->cubin_size > m->max_bytes) {
    m->bytes -= m->e[drop].bin.cubin_size;
    free(m->e[drop].key);
    fc_binary_free(&m->e[drop].bin);
    drop++;
  }
  if (drop) memmove(m->e, m->e + drop, (size_t)(m->n - drop) * sizeof *m->e), m->n -= drop;
  if (m->n == m->cap) {
    int cap = m->cap ? 2 * m->cap : 256;
    memo_entry *x = realloc(m->e, (size_t)cap * sizeof *x);
    if (!x) {
      free(key);
      return;
    }
    m->e = x, m->cap = cap;
  }
  memo_entry *x = &m->e[m->n];
  if (fc_binary_copy(b, &x->bin, &e) != FFTCONV_OK) {
    free(key);
    return;
  }
  x->key = key;
  x->h = fc_hash64(FC_HASH64_INIT, key, strlen(key));
  m->bytes += b->cubin_size;
  m->n++;
}

/* ---- one search ---- */

/* What the stages of one search share. */
typedef struct run_state {
  fftconv_ctx *ctx;
  const fftconv_problem *p;
  const fc_device_info *dev;
  const fc_search_opts *o;
  fc_search *s;
  fftconv_problem mini;
  fc_testdata small, full;
  int have_data;
  int measure;       /* rigor measure: a quick round, then the finalists */
  int done, total;   /* progress */
  double best_quick; /* fastest quick median so far (measure) */
  fc_result **order; /* verified and quick-timed, for the finalists */
  int nok;
} run_state;

/* Compiles the selected candidates (or takes them from the memo), in parallel. */
static fftconv_status compile_set(run_state *rs, const int *sel, int nsel, fc_err *e) {
  fc_search *s = rs->s;
  const fc_search_opts *o = rs->o;
  char arch[16];
  fc_device_arch(rs->dev, arch);
  double t0 = fc_now();
  const char **srcs = calloc((size_t)nsel + 1, sizeof *srcs);
  const char **names = calloc((size_t)nsel + 1, sizeof *names);
  fc_binary *bins = calloc((size_t)nsel + 1, sizeof *bins);
  fftconv_status *cst = calloc((size_t)nsel + 1, sizeof *cst);
  int *idx = calloc((size_t)nsel + 1, sizeof *idx), nc = 0;
  if (!srcs || !names || !bins || !cst || !idx) {
    free(srcs), free(names), free(bins), free(cst), free(idx);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  /* Without NVRTC nothing can be compiled: that stops the search, with the loader's message,
     rather than failing every candidate with an empty log. */
  fftconv_status ls = nsel > 0 ? fc_nvrtc_load(e) : FFTCONV_OK;
  if (ls != FFTCONV_OK) {
    free(srcs), free(names), free(bins), free(cst), free(idx);
    return ls;
  }
  for (int j = 0; j < nsel; j++) {
    fc_result *r = &s->r[sel[j]];
    if (r->status != FC_RESULT_PENDING) continue; /* cached or screened */
    if (o->memo) {
      char *key = memo_key(r, arch);
      const fc_binary *b = key ? memo_find(o->memo, key) : NULL;
      free(key);
      if (b && fc_binary_copy(b, &r->bin, e) == FFTCONV_OK) {
        r->status = FC_RESULT_COMPILED;
        s->reused++;
        continue;
      }
    }
    idx[nc] = sel[j], srcs[nc] = r->src.source, names[nc++] = r->src.name;
  }
  if (nc && o->progress) o->progress(o->progress_arg, rs->done, nc, NULL);
  fc_compile_all(srcs, names, nc, arch, o->jobs, bins, cst);
  for (int j = 0; j < nc; j++) {
    fc_result *r = &s->r[idx[j]];
    r->bin = bins[j];
    r->status = cst[j] == FFTCONV_OK ? FC_RESULT_COMPILED : FC_RESULT_COMPILE_FAILED;
    if (cst[j] != FFTCONV_OK) {
      s->compile_failures++;
      snprintf(r->detail, sizeof r->detail, "%s: %.480s", fftconv_status_string(cst[j]),
               bins[j].log ? bins[j].log : "");
    } else if (o->memo) {
      memo_put(o->memo, memo_key(r, arch), &r->bin);
    }
  }
  free(srcs), free(names), free(bins), free(cst), free(idx);
  s->compile_seconds += fc_now() - t0;
  return FFTCONV_OK;
}

static void progress(run_state *rs, const fc_result *r) {
  if (rs->o->progress) rs->o->progress(rs->o->progress_arg, ++rs->done, rs->total, r);
}

/* Stores the selected candidates' kernels and verifies each on the miniature; failures are
   stored (and reported) at once. */
static fftconv_status verify_set(run_state *rs, const int *sel, int nsel, fc_err *e) {
  fftconv_status st;
  for (int j = 0; j < nsel; j++) {
    fc_result *r = &rs->s->r[sel[j]];
    if (r->status == FC_RESULT_CACHED || r->status == FC_RESULT_SCREENED) continue;
    if (r->status == FC_RESULT_COMPILED && stopping(rs->o)) r->status = FC_RESULT_NOT_RUN;
    int lost = 0;
    if (r->status == FC_RESULT_COMPILED)
      lost = fc_trial_verify(rs->ctx, rs->o->op, &rs->mini, &rs->small, r);
    if (r->status == FC_RESULT_NOT_RUN) {
      rs->s->not_run++;
      continue;
    }
    if ((st = store_kernel(rs->o, r, e)) != FFTCONV_OK) return st;
    if (!is_ok(r)) {
      if ((st = store_measurement(rs->o, rs->p, r, e)) != FFTCONV_OK) return st;
      progress(rs, r);
    }
    if (lost) return context_lost_error(rs->s, rs->o, rs->p, r, e);
  }
  return FFTCONV_OK;
}

/* Times the verified ones among the selected: with `runs` (stored at once), or (measure) a
   quick round whose results wait for the finalists' round; one clearly out of the race
   (cutoff) is stored after a single run. */
static fftconv_status time_set(run_state *rs, const int *sel, int nsel, fc_err *e) {
  const fc_search_opts *o = rs->o;
  fftconv_status st;
  for (int j = 0; j < nsel; j++) {
    fc_result *r = &rs->s->r[sel[j]];
    if (!is_ok(r)) continue;
    if (stopping(o)) {
      r->status = FC_RESULT_NOT_RUN;
      rs->s->not_run++;
      continue;
    }
    int cut = 0, lost = 0;
    if (rs->measure && o->cutoff > 0 && isfinite(rs->best_quick)) {
      lost = fc_trial_time(rs->ctx, o->op, rs->p, &rs->full, 1, 1, r);
      cut = is_ok(r) && r->t.median_ms > o->cutoff * rs->best_quick;
      if (cut) rs->s->cut++;
    }
    if (!cut && is_ok(r))
      lost = fc_trial_time(rs->ctx, o->op, rs->p, &rs->full, rs->measure ? 1 : o->warmup,
                    rs->measure ? o->quick_runs : o->runs, r);
    if (lost) {
      if ((st = store_measurement(o, rs->p, r, e)) != FFTCONV_OK) return st;
      progress(rs, r);
      return context_lost_error(rs->s, o, rs->p, r, e);
    }
    if (is_ok(r) && !cut) {
      rs->order[rs->nok++] = r;
      if (r->t.median_ms < rs->best_quick) rs->best_quick = r->t.median_ms;
    }
    if (!rs->measure || !is_ok(r) || cut) {
      if ((st = store_measurement(o, rs->p, r, e)) != FFTCONV_OK) return st;
      progress(rs, r);
    }
  }
  return FFTCONV_OK;
}

/* The stored median of an ok measurement of r for this problem on this configuration, or NaN
   (resume: a family's default measured by an earlier run). */
typedef struct cached_ms {
  const fc_search_opts *o;
  const fc_result *r;
  const char *key;
  double ms;
} cached_ms;

static int cached_ms_row(const fc_cache_entry *x, void *arg) {
  cached_ms *c = arg;
  const fc_cache_config *cfg = c->o->cfg;
  if (!strcmp(x->problem_key, c->key) && !strcmp(x->device, cfg->dev->name) &&
      x->sms == cfg->dev->sms && x->driver_version == cfg->dev->driver_version &&
      x->sm == cfg->sm && !strcmp(x->nvrtc, cfg->nvrtc) && !strcmp(x->hash, c->r->src.info.hash) &&
      !strcmp(x->params, c->r->params) &&
      !strcmp(x->status, fc_result_status_name(FC_RESULT_OK))) { /* the cache's name */
    c->ms = x->median_ms;
    return 1;
  }
  return 0;
}

static double default_ms(run_state *rs, const fc_result *r) {
  if (is_ok(r) && r->t.runs > 0) return r->t.median_ms;
  if (r->status != FC_RESULT_CACHED || !rs->o->cache) return NAN;
  fc_shape sh;
  if (fc_shape_resolve(rs->p, rs->o->op, &sh, NULL) != FFTCONV_OK) return NAN;
  cached_ms c = {rs->o, r, sh.key, NAN};
  fc_cache_filter f = {.problem = sh.key, .all = 1};
  fc_err e = {{0}};
  if (fc_cache_list(rs->o->cache, &f, cached_ms_row, &c, &e) != FFTCONV_OK) return NAN;
  return c.ms;
}

/* Emits every candidate check() accepted into s->r (rfam[i] its family) and marks the ones
   this configuration has measured already (resume). */
static fftconv_status emit_all(run_state *rs, fc_emit *em, const fc_candidate *cl,
                               const char **fam, int ncl, const char **rfam, fc_err *e) {
  fc_search *s = rs->s;
  const fc_search_opts *o = rs->o;
  for (int i = 0; i < ncl; i++) {
    if (cl[i].reason) {
      s->skipped++;
      continue;
    }
    fc_result *r = &s->r[s->n];
    fftconv_status st = fc_emit_kernel(em, fam[i], cl[i].params, rs->dev, &r->src, e);
    if (st == FFTCONV_OK) st = fc_op_check_manifest(o->op, &r->src.manifest, e);
    if (st != FFTCONV_OK) return st;
    r->params = strdup(r->src.params);
    rfam[s->n] = fam[i];
    s->n++;
    if (rs->ctx && o->cache) { /* resume: measured before under this configuration */
      int found = 0;
      if ((st = fc_cache_measured_op(o->cache, o->cfg, o->op, rs->p, r->src.info.hash,
                                     r->params, &found, e)) != FFTCONV_OK)
        return st;
      if (found) r->status = FC_RESULT_CACHED, s->cached++;
    }
  }
  return FFTCONV_OK;
}

/* Writes every candidate's source into o->emit_dir, when there is one. */
static fftconv_status emit_sources(const fc_search_opts *o, const fc_search *s, fc_err *e) {
  if (!o->emit_dir) return FFTCONV_OK;
  if (mkdir(o->emit_dir, 0777) && errno != EEXIST)
    return fc_fail(e, FFTCONV_ERR_IO, "emit dir %s: %s", o->emit_dir, strerror(errno));
  for (int i = 0; i < s->n; i++) {
    fftconv_status st = write_file(o->emit_dir, s->r[i].src.info.name, i, "cu",
                                   s->r[i].src.source, e);
    if (st != FFTCONV_OK) return st;
  }
  return FFTCONV_OK;
}

/* The screen's stage 0: isdef[i] when candidate i is its family's default. Returns whether
   the screen applies (several families with a default each). */
static int mark_defaults(run_state *rs, fc_emit *em, const char **rfam, int *isdef) {
  const fc_search_opts *o = rs->o;
  fc_search *s = rs->s;
  if (!rs->ctx || !rs->measure || !(o->screen > 0) || o->tmpl) return 0;
  int families = 0, ndef = 0;
  for (int i = 0; i < s->n; i++) {
    if (i > 0 && !strcmp(rfam[i - 1], rfam[i])) continue; /* a family's candidates are
                                                               contiguous: its first one */
    families++;
    char *dp = NULL;
    fc_err de = {{0}};
    if (fc_emit_default_op(em, rfam[i], o->op, rs->p, rs->dev, &dp, &de) != FFTCONV_OK)
      continue;
    for (int j = 0; j < s->n; j++)
      if (!strcmp(rfam[j], rfam[i]) && !strcmp(s->r[j].params, dp)) isdef[j] = 1;
    free(dp);
  }
  for (int i = 0; i < s->n; i++) ndef += isdef[i];
  return families > 1 && ndef > 1;
}

/* After stage 0: leaves out each family whose default is over `screen` x the fastest
   default, and says so in s->screen_note. */
static void screen_families(run_state *rs, const char **rfam, const int *isdef, double *dms) {
  fc_search *s = rs->s;
  double best = INFINITY;
  for (int i = 0; i < s->n; i++) {
    dms[i] = isdef[i] ? default_ms(rs, &s->r[i]) : NAN;
    if (dms[i] < best) best = dms[i];
  }
  size_t k = 0;
  for (int i = 0; i < s->n && isfinite(best); i++) {
    double ms = dms[i];
    if (!(ms > rs->o->screen * best)) continue;
    int left = 0;
    for (int j = 0; j < s->n; j++)
      if (!isdef[j] && !strcmp(rfam[j], rfam[i]) && s->r[j].status == FC_RESULT_PENDING)
        s->r[j].status = FC_RESULT_SCREENED, left++;
    s->screened += left;
    rs->total -= left;
    int w = snprintf(s->screen_note + k, sizeof s->screen_note - k,
                     "%s%s: default %.4f ms is %.1fx the fastest default (%.4f ms); "
                     "%d candidates not searched", k ? "; " : "", rfam[i], ms, ms / best, best,
                     left);
    if (w > 0 && (size_t)w < sizeof s->screen_note - k) k += (size_t)w;
  }
}

/* Test data, once: the miniature for verification (with the op's reference), the full shape
   for timing. */
static fftconv_status make_data(run_state *rs, fc_err *e) {
  if (rs->have_data) return FFTCONV_OK;
  const fftconv_problem *p = rs->p;
  rs->mini = *p;
  rs->mini.batch = p->batch < 3 ? p->batch : 3;
  rs->mini.heads = p->heads < 5 ? p->heads : 5;
  fftconv_status st = fc_testdata_make_op(NULL, rs->o->op, &rs->mini, 1,
                                          FC_TD_REFERENCE | FC_TD_DEVICE, &rs->small, e);
  if (st == FFTCONV_OK)
    st = fc_testdata_make_op(&rs->ctx->gpu, rs->o->op, p, 2, FC_TD_DEVICE, &rs->full, e);
  rs->have_data = st == FFTCONV_OK;
  return st;
}

/* One stage of the search over the selected candidates: compile (logs into emit_dir), then
   with a device verify and time. */
static fftconv_status run_stage(run_state *rs, const int *sel, int nsel, fc_err *e) {
  const fc_search_opts *o = rs->o;
  fftconv_status st = compile_set(rs, sel, nsel, e);
  for (int j = 0; st == FFTCONV_OK && o->emit_dir && j < nsel; j++) {
    fc_result *r = &rs->s->r[sel[j]];
    if (r->bin.log) st = write_file(o->emit_dir, r->src.info.name, sel[j], "log", r->bin.log, e);
  }
  if (st != FFTCONV_OK || !rs->ctx) return st;
  if ((st = make_data(rs, e)) != FFTCONV_OK) return st;
  if ((st = verify_set(rs, sel, nsel, e)) != FFTCONV_OK) return st;
  return time_set(rs, sel, nsel, e);
}

/* The finalists (measure: the fastest of the quick round, timed again with `runs`), then the
   winner: fully timed, verified. */
static fftconv_status finish(run_state *rs, fc_err *e) {
  const fc_search_opts *o = rs->o;
  fc_search *s = rs->s;
  if (rs->measure) {
    qsort(rs->order, (size_t)rs->nok, sizeof *rs->order, by_median);
    for (int j = 0; j < rs->nok; j++) {
      fc_result *r = rs->order[j];
      int lost = 0;
      if (j < o->finalists && !stopping(o))
        lost = fc_trial_time(rs->ctx, o->op, rs->p, &rs->full, o->warmup, o->runs, r);
      fftconv_status st = store_measurement(o, rs->p, r, e);
      if (st != FFTCONV_OK) return st;
      progress(rs, r);
      if (lost) return context_lost_error(rs->s, o, rs->p, r, e);
    }
  }
  for (int i = 0; i < s->n; i++)
    if (is_ok(&s->r[i]) && s->r[i].t.runs >= (o->runs < 20 ? o->runs : 20) &&
        (s->best < 0 || s->r[i].t.median_ms < s->r[s->best].t.median_ms))
      s->best = i;
  s->interrupted = o->stop && *o->stop;
  return FFTCONV_OK;
}

fftconv_status fc_search_run(fftconv_ctx *ctx, const fftconv_problem *p,
                             const fc_device_info *dev, const fc_search_opts *o, fc_search *s,
                             fc_err *e) {
  memset(s, 0, sizeof *s);
  s->best = -1;
  fc_emit *em = NULL;
  fc_candidate *cl = NULL;
  const char **fam = NULL, **rfam = NULL;
  int ncl = 0;
  int *sel = NULL, *isdef = NULL;
  double *dms = NULL;
  run_state rs = {.ctx = ctx, .p = p, .dev = dev, .o = o, .s = s, .best_quick = INFINITY};
  if (!fc_op_get(o->op)) return fc_fail(e, FFTCONV_ERR_INVALID, "op: %d is unknown", o->op);
  fftconv_status st = ctx ? fc_ctx_emit(ctx, &em) : fc_emit_open(&em, e);
  if (st != FFTCONV_OK) {
    if (ctx) fc_fail(e, st, "%s", fftconv_ctx_error(ctx));
    return st;
  }
  if ((st = candidates(em, p, dev, o, &cl, &fam, &ncl, s->why, sizeof s->why, e)) !=
      FFTCONV_OK)
    goto done;
  s->r = calloc((size_t)ncl + 1, sizeof *s->r);
  rfam = calloc((size_t)ncl + 1, sizeof *rfam);
  sel = calloc((size_t)ncl + 1, sizeof *sel);
  isdef = calloc((size_t)ncl + 1, sizeof *isdef);
  dms = calloc((size_t)ncl + 1, sizeof *dms);
  rs.order = calloc((size_t)ncl + 1, sizeof *rs.order);
  if (!s->r || !rfam || !sel || !isdef || !dms || !rs.order) {
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
    goto done;
  }
  if ((st = emit_all(&rs, em, cl, fam, ncl, rfam, e)) != FFTCONV_OK ||
      (st = emit_sources(o, s, e)) != FFTCONV_OK)
    goto done;

  /* Past the budget or interrupted: nothing more starts, the rest waits for a resume. */
  if (ctx && stopping(o)) {
    for (int i = 0; i < s->n; i++)
      if (s->r[i].status == FC_RESULT_PENDING)
        s->r[i].status = FC_RESULT_NOT_RUN, s->not_run++;
    s->interrupted = o->stop && *o->stop;
    goto done;
  }

  /* The screen: each family's default goes first (stage 0), the rest after (stage 1). */
  rs.measure = o->rigor == FC_RIGOR_MEASURE && o->quick_runs > 0;
  int screen = mark_defaults(&rs, em, rfam, isdef);
  rs.total = s->n - s->cached;
  for (int stage = screen ? 0 : 1; stage < 2; stage++) {
    int nsel = 0;
    for (int i = 0; i < s->n; i++)
      if (!screen || isdef[i] == (stage == 0)) sel[nsel++] = i;
    if ((st = run_stage(&rs, sel, nsel, e)) != FFTCONV_OK) goto done;
    if (ctx && stage == 0) screen_families(&rs, rfam, isdef, dms);
  }
  if (ctx) st = finish(&rs, e);
done:
  free(rs.order);
  free(sel);
  free(isdef);
  free(dms);
  free(rfam);
  fc_testdata_free(&rs.small);
  fc_testdata_free(&rs.full);
  fc_candidates_free(cl, ncl);
  free(fam);
  if (!ctx) fc_emit_close(em);
  return st;
}

void fc_search_free(fc_search *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->r[i].params);
    fc_kernel_src_free(&s->r[i].src);
    fc_binary_free(&s->r[i].bin);
  }
  free(s->r);
  memset(s, 0, sizeof *s);
  s->best = -1;
}
