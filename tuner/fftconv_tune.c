/* fftconv-tune: tune a GPU once. For each problem (from flags, a problem-set file, or the
 * built-in default set) enumerate a family's candidates, compile them in parallel with NVRTC,
 * verify each against the fp64 reference, time the ones that pass, and store every result and
 * the winner in the SQLite cache that libfftconv consults. Resumable: what the cache already
 * holds for this configuration is skipped. Without a GPU (or with --dry-run) it compiles every
 * candidate for --arch and reports any compile failure with its log; with no arguments on a
 * machine without a GPU, only a quick sample of them (the quick check, below). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "problem_file.h"
#include "search.h"
#include "trusted.h"

static const char *usage_text =
    "usage: fftconv-tune [options]\n"
    "\n"
    "Tunes convolution kernels for this GPU and stores every result in the kernel cache that\n"
    "libfftconv consults. With no problem flags it tunes the default set (FlashFFTConv's\n"
    "benchmark shapes: B=64 H=768, gated, fp16 and bf16, N = 256 ... 32768, circular with L=N\n"
    "and causal with L=N/2; see --list-set default) on device 0 into the default cache;\n"
    "--set long tunes the long shapes (N = 64K ... 4M, FlashFFTConv's reduced batches).\n"
    "Each candidate is compiled with NVRTC, verified against an fp64 FFTW reference on an odd\n"
    "shape (B<=3, H<=5, NaN-poisoned output) and only then timed on the full shape (CUDA\n"
    "events, L2 scrubbed, median of --runs). A run can be stopped (Ctrl-C, --budget) and\n"
    "resumed: what the cache holds for this GPU, driver, NVRTC and template is skipped.\n"
    "Without a GPU driver and with no problem flags, --rigor or --dry-run it checks in about a\n"
    "minute that the kernels compile (each family's default choice for the default set, and a\n"
    "sample of every family's space for one problem), says that nothing was tuned and why, and\n"
    "prints the command of the full check. Otherwise, without a driver or with --dry-run, it\n"
    "compiles every candidate of --rigor (default exhaustive) for --arch instead.\n"
    "\n"
    "problem (one problem; omit all of these for the default set):\n"
    "  --seqlen L        sequence length\n"
    "  --batch B         batch size (default 8)\n"
    "  --heads H         heads, i.e. channels (default 64)\n"
    "  --dtype T         I/O dtype: fp32, fp16 or bf16 (default fp16)\n"
    "  --mode M          causal (FFT size >= L+K-1) or circular (FFT size L) (default causal)\n"
    "  --filter-len K    filter length, 1..L (default L)\n"
    "  --freq-keep F     keep the lowest F frequency bins of the filter (default all)\n"
    "  --pregate         multiply u by a pre gate\n"
    "  --postgate        multiply the result by a post gate\n"
    "  --skip-d          add the D * u skip term\n"
    "  --problems FILE   a problem set: one problem a line, written with the flags above;\n"
    "                    '#' starts a comment\n"
    "  --set NAME        a named problem set: default (the default) or long\n"
    "  --list-set NAME   print a named set in that format and exit (--list-default: the\n"
    "                    default set)\n"
    "search:\n"
    "  --rigor R         estimate (the built-in choice only), sample (the built-in choice and\n"
    "                    candidates until every factorization and parameter value has appeared,\n"
    "                    each timed fully; a quick check), measure (a pruned space; the\n"
    "                    fastest after 3 runs each are timed again; the default) or\n"
    "                    exhaustive (everything; the default of compile-only checks)\n"
    "  --budget SECONDS  start no new candidate after this long; the rest waits for a resume\n"
    "  --cache PATH      the kernel cache (default $FFTCONV_CACHE, else\n"
    "                    $XDG_CACHE_HOME/fftconv/cache.db, else ~/.cache/fftconv/cache.db)\n"
    "  --template NAME   search one kernel family only (monarch_tc: tensor cores, fp16 and\n"
    "                    bf16; monarch_fp32: CUDA cores, every dtype; both up to N = 32K;\n"
    "                    monarch_long: 64K to 4M in three passes through a workspace;\n"
    "                    monarch_cluster: 64K and 128K in one pass over a thread-block\n"
    "                    cluster, sm_90); default: every family that can run the problem\n"
    "  --device N        CUDA device ordinal (default 0)\n"
    "  --arch sm_XY      compile target, sm_XY or sm_XYa for the arch-specific instructions\n"
    "                    (default: the device's; sm_90 without a GPU)\n"
    "  --jobs J          parallel NVRTC compilations (default: online CPUs)\n"
    "  --runs R          timed runs of each finalist, >= 20 (default 30)\n"
    "  --screen F        rigor measure with several families: time each family's default\n"
    "                    first and do not search a family whose default is over F times the\n"
    "                    fastest default (default 1.5; 0: search every family fully)\n"
    "  --warmup W        untimed runs first (default 5)\n"
    "  --dry-run         compile only, do not touch the GPU or the cache\n"
    "  --emit-dir DIR    write every candidate's CUDA source and NVRTC log into DIR\n"
    "output:\n"
    "  --table           print every candidate of every problem\n"
    "  --json            print the summary as JSON on stdout\n"
    "  --quiet           no progress\n"
    "  -h, --help        this text\n"
    "\n"
    "exit status: 0 success, 1 a candidate failed to compile, a problem has no verified kernel\n"
    "or no candidate at all (the families' reasons are printed), the cache could not be used\n"
    "(not a cache, not writable: said before any work, GPU or not) or NVRTC could not be\n"
    "loaded, 2 bad usage or a bad problem file, 3 a tuning run was asked for (a problem,\n"
    "--problems, --set, --rigor, --device, --cache, --budget, --runs, --warmup or --screen,\n"
    "without --dry-run) and the GPU could not be used: the compile-only check ran instead and\n"
    "nothing was tuned (with no arguments, the quick check's 0), 130 interrupted (every\n"
    "finished measurement is kept).\n";

static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig) {
  stop_flag = 1;
  signal(sig, SIG_DFL); /* a second Ctrl-C ends it at once */
}

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fftconv-tune: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(see fftconv-tune --help)\n");
  va_end(ap);
  return 2;
}

/* A user's text fit for a message (fc_quote): one at a time, as die_usage is. */
static const char *quoted(const char *s) {
  static char buf[160];
  return fc_quote(s, 100, buf, sizeof buf);
}

/* ---- problems ---- */

enum { O_SEQ = 256, O_BATCH, O_HEADS, O_DTYPE, O_MODE, O_K, O_F, O_PRE, O_POST, O_D,
       O_PROBLEMS, O_LISTDEF, O_SET, O_LISTSET, O_RIGOR, O_BUDGET, O_CACHE, O_TMPL, O_DEV, O_ARCH, O_JOBS,
       O_RUNS, O_WARM, O_DRY, O_EMIT, O_TABLE, O_JSON, O_QUIET, O_SCREEN };
static const struct option opts[] = {
    {"seqlen", 1, 0, O_SEQ},       {"batch", 1, 0, O_BATCH},     {"heads", 1, 0, O_HEADS},
    {"dtype", 1, 0, O_DTYPE},      {"mode", 1, 0, O_MODE},       {"filter-len", 1, 0, O_K},
    {"freq-keep", 1, 0, O_F},      {"pregate", 0, 0, O_PRE},     {"postgate", 0, 0, O_POST},
    {"skip-d", 0, 0, O_D},         {"problems", 1, 0, O_PROBLEMS},
    {"list-default", 0, 0, O_LISTDEF}, {"set", 1, 0, O_SET},  {"list-set", 1, 0, O_LISTSET},
    {"rigor", 1, 0, O_RIGOR}, {"budget", 1, 0, O_BUDGET},
    {"cache", 1, 0, O_CACHE},      {"template", 1, 0, O_TMPL},   {"device", 1, 0, O_DEV},
    {"arch", 1, 0, O_ARCH},        {"jobs", 1, 0, O_JOBS},       {"runs", 1, 0, O_RUNS},
    {"warmup", 1, 0, O_WARM},      {"dry-run", 0, 0, O_DRY},     {"emit-dir", 1, 0, O_EMIT},
    {"table", 0, 0, O_TABLE},      {"json", 0, 0, O_JSON},       {"quiet", 0, 0, O_QUIET},
    {"screen", 1, 0, O_SCREEN},
    {"help", 0, 0, 'h'},           {0, 0, 0, 0}};

static const char *opt_name(int o) {
  for (const struct option *x = opts; x->name; x++)
    if (x->val == o) return x->name;
  return "?";
}

/* Applies one problem flag to p; 0 if o is not a problem flag, -1 (message printed) if bad. */
static int problem_flag(fftconv_problem *p, int o, const char *arg, const char *where) {
  if (o < O_SEQ || o > O_D) return 0;
  char msg[512];
  if (fc_problem_flag(p, opt_name(o), arg, msg, sizeof msg) < 0) {
    die_usage("%s%s", where, msg);
    return -1;
  }
  return 1;
}

typedef struct plist {
  fftconv_problem *p;
  int n, cap;
} plist;

static int plist_add(plist *l, const fftconv_problem *p) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    fftconv_problem *q = realloc(l->p, (size_t)cap * sizeof *q);
    if (!q) return 0;
    l->p = q;
    l->cap = cap;
  }
  l->p[l->n++] = *p;
  return 1;
}

/* FlashFFTConv's benchmark shapes: gated, fp16 and bf16, N 256 ... 32K, both modes. */
static int default_set(plist *l) {
  for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int64_t n = 256; n <= 32768; n *= 2) {
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 64;
        p.heads = 768;
        p.dtype = (fftconv_dtype)dt;
        p.mode = mode ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
        p.seqlen = mode ? n : n / 2;
        p.pre_gate = p.post_gate = 1;
        if (!plist_add(l, &p)) return 0;
      }
  return 1;
}

/* The long shapes of the benchmark: gated, fp16 and bf16, N 64K ... 4M, both modes, with
   FlashFFTConv's reduced batches (B = 8, H = 768 at 64K halving to 16 at 4M). */
static int long_set(plist *l) {
  for (int dt = FFTCONV_FP16; dt <= FFTCONV_BF16; dt++)
    for (int mode = 0; mode < 2; mode++)
      for (int i = 0; i < 7; i++) {
        static const int64_t heads[7] = {768, 384, 192, 96, 48, 32, 16};
        int64_t n = INT64_C(65536) << i, h = heads[i];
        fftconv_problem p;
        fftconv_problem_init(&p);
        p.batch = 8;
        p.heads = h;
        p.dtype = (fftconv_dtype)dt;
        p.mode = mode ? FFTCONV_CIRCULAR : FFTCONV_CAUSAL;
        p.seqlen = mode ? n : n / 2;
        p.pre_gate = p.post_gate = 1;
        if (!plist_add(l, &p)) return 0;
      }
  return 1;
}

/* The named problem sets: --set and --list-set. */
static const struct {
  const char *name, *doc;
  int (*fill)(plist *);
} sets[] = {
    {"default", "FlashFFTConv's benchmark shapes up to 32K (B=64 H=768)", default_set},
    {"long", "the long shapes, 64K to 4M, with FlashFFTConv's reduced batches", long_set},
};

static int find_set(const char *name) {
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    if (!strcmp(sets[i].name, name)) return (int)i;
  return -1;
}

static void print_problem_flags(FILE *f, const fftconv_problem *p) {
  fprintf(f, "--seqlen %" PRId64 " --batch %" PRId64 " --heads %" PRId64 " --dtype %s --mode %s",
          p->seqlen, p->batch, p->heads, fftconv_dtype_name(p->dtype), fftconv_mode_name(p->mode));
  if (p->filter_len && p->filter_len != p->seqlen) fprintf(f, " --filter-len %" PRId64, p->filter_len);
  if (p->freq_keep) fprintf(f, " --freq-keep %" PRId64, p->freq_keep);
  if (p->pre_gate) fputs(" --pregate", f);
  if (p->post_gate) fputs(" --postgate", f);
  if (p->skip_d) fputs(" --skip-d", f);
  fputc('\n', f);
}

/* A problem-set file (problem_file.h). Returns 0 (message printed) if bad. */
static int read_problems(const char *path, plist *l) {
  fftconv_problem *ps = NULL;
  int n = 0;
  fc_err e;
  fftconv_status st = fc_problem_file_read(path, &ps, &n, &e);
  if (st == FFTCONV_ERR_INVALID) die_usage("%s", e.msg);
  else if (st != FFTCONV_OK) fprintf(stderr, "fftconv-tune: %s\n", e.msg);
  int ok = st == FFTCONV_OK;
  for (int i = 0; ok && i < n; i++)
    if (!plist_add(l, &ps[i])) {
      fprintf(stderr, "fftconv-tune: out of memory reading %s\n", path);
      ok = 0;
    }
  free(ps);
  return ok;
}

/* Whether name is a kernel family of this build (templates/<name>.lua, lib/ aside); known
   gets the families' names, comma-separated. */
static int is_family(const char *name, char *known, size_t len) {
  int found = 0;
  size_t k = 0;
  known[0] = 0;
  for (int i = 0; i < fc_trusted_hashes(NULL); i++) {
    const char *family = fc_trusted_template(i);
    if (!strcmp(family, name)) found = 1;
    int w = snprintf(known + k, len - k, "%s%s", k ? ", " : "", family);
    if (w > 0 && (size_t)w < len - k) k += (size_t)w;
  }
  return found;
}

/* The parent directory of path into dir. */
static void parent_dir(const char *path, char *dir, size_t len) {
  snprintf(dir, len, "%s", path);
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = 0; /* "a/b/" is "a/b" */
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, len, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
}

/* Whether a tuning run could write the cache at path (NULL: the default, resolved into
   buf), found without writing anything: the tuner without a GPU stores nothing, yet says at
   once what a run on the machine with one would fail on. A file that is there must be a
   regular file that opens as an fftconv cache (read-only, any schema version: nothing is
   migrated) and may be written, as its directory; a missing one needs its nearest existing
   ancestor to be a directory that may be written (fc_cache_open would create the rest).
   0 with e set when not. Root passes every permission check here; fc_cache_open, on the
   machine with the GPU, is the last word, and refuses before any work too. */
static int cache_usable(const char *path, char *buf, size_t len, fc_err *e) {
  if (path) snprintf(buf, len, "%s", path);
  else if (fc_cache_default_path(buf, len, e) != FFTCONV_OK) return 0;
  if (!buf[0]) return fc_fail(e, FFTCONV_ERR_INVALID, "cache path: '' is empty"), 0;
  char dir[4096], q[520];
  fc_quote(buf, 500, q, sizeof q);
  struct stat sb;
  if (stat(buf, &sb) == 0) {
    if (!S_ISREG(sb.st_mode))
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s is not an fftconv cache: not a regular file",
                     q), 0;
    if (sb.st_size > 0) { /* an empty file is one a run makes a cache of */
      fc_cache *c = NULL;
      if (fc_cache_open(buf, FC_CACHE_READ_ANY_VERSION, &c, e) != FFTCONV_OK) return 0;
      fc_cache_close(c);
    }
    if (access(buf, W_OK) != 0)
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: %s", q, strerror(errno)), 0;
    parent_dir(buf, dir, sizeof dir);
  } else if (errno == ENOENT) {
    /* the nearest ancestor that exists: a run creates the directories below it */
    parent_dir(buf, dir, sizeof dir);
    while (stat(dir, &sb) != 0 && errno == ENOENT && strcmp(dir, ".") && strcmp(dir, "/")) {
      char up[4096];
      parent_dir(dir, up, sizeof up);
      snprintf(dir, sizeof dir, "%s", up);
    }
    if (stat(dir, &sb) != 0)
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s cannot be created: %s: %s", q, dir,
                     strerror(errno)), 0;
    if (!S_ISDIR(sb.st_mode))
      return fc_fail(e, FFTCONV_ERR_IO, "cache %s cannot be created: %s is not a directory", q,
                     dir), 0;
  } else {
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s: %s", q, strerror(errno)), 0;
  }
  if (access(dir, W_OK | X_OK) != 0)
    return fc_fail(e, FFTCONV_ERR_IO, "cache %s is read-only: its directory %s: %s", q, dir,
                   strerror(errno)), 0;
  return 1;
}

static int oom(void) {
  fprintf(stderr, "fftconv-tune: out of memory\n");
  return 1;
}

/* What the run found for one problem. */
typedef struct summary {
  char key[256];
  char *params;
  fc_manifest manifest; /* the winner's launch manifest, when params is set */
  char *why; /* nothing to run, and why */
  double ms, floor_ms;
  int n, measured, cached, failed, not_run, screened, reused, cut;
  int64_t kernel;
} summary;

/* ---- progress ---- */

typedef struct prog {
  int tty, quiet, problem, nproblems;
  double t0;
  const char *key;
} prog;

static void fmt_secs(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
  else if (s < 60) snprintf(buf, n, "%.0fs", s);
  else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void on_progress(void *arg, int done, int total, const fc_result *r) {
  prog *g = arg;
  if (g->quiet) return;
  double frac = (g->problem + (total ? (double)done / total : 1.0)) / g->nproblems;
  double el = fc_now() - g->t0;
  char e1[32], e2[32];
  fmt_secs(el, e1, sizeof e1);
  fmt_secs(frac > 0 ? el / frac - el : NAN, e2, sizeof e2);
  if (g->tty)
    fprintf(stderr, "\r\033[K[%d/%d] %s  candidate %d/%d  %3.0f%%  elapsed %s  ETA %s",
            g->problem + 1, g->nproblems, g->key, done, total, 100 * frac, e1, e2);
  else if (done == total || r->status != FC_RESULT_OK)
    fprintf(stderr, "[%d/%d] %s candidate %d/%d %s%s%.200s\n", g->problem + 1, g->nproblems,
            g->key, done, total, fc_result_status_name(r->status), r->detail[0] ? ": " : "",
            r->detail);
}

/* ---- output ---- */

/* "family factors rest": the family's short name, the factorization as 16x32, and the other
   parameters that vary between candidates (dtype, gates and sizes left out). */
static void summarize(const fc_result *r, char *out, size_t len) {
  const char *json = r->params;
  char fac[64] = "?", rest[128] = "";
  const char *f = strstr(json, "\"factors\":[");
  if (f) {
    f += 11;
    size_t j = 0;
    for (; *f && *f != ']' && j + 2 < sizeof fac; f++) fac[j++] = *f == ',' ? 'x' : *f;
    fac[j] = 0;
  }
  long long n = 0, n2 = 0;
  const char *nv = strstr(json, "\"fft_size\":"), *n2v = strstr(json, "\"n2\":");
  if (!f && nv && n2v && sscanf(nv + 11, "%lld", &n) == 1 && sscanf(n2v + 5, "%lld", &n2) == 1 &&
      n2 > 0)
    snprintf(fac, sizeof fac, "%lldx%lld", n / n2, n2); /* the outer split N1 x N2 */
  static const char *keys[] = {"dft",  "seqs",         "threads",      "warps", "pairs", "real",
                               "load", "threads_cols", "threads_rows", "tile",  "ws",    "cluster", NULL};
  size_t k = 0;
  for (int i = 0; keys[i]; i++) {
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", keys[i]);
    const char *v = strstr(json, pat);
    if (!v) continue;
    v += strlen(pat);
    char val[24] = "?";
    if (*v == '"') sscanf(v + 1, "%23[^\"]", val);
    else sscanf(v, "%23[0-9]", val);
    int w = snprintf(rest + k, sizeof rest - k, "%s%s=%s", k ? " " : "", keys[i], val);
    if (w > 0 && (size_t)w < sizeof rest - k) k += (size_t)w;
  }
  const char *name = r->src.info.name;
  if (!strncmp(name, "monarch_", 8)) name += 8;
  snprintf(out, len, "%-5s %-10s %-26s", name, fac, rest);
}

static void print_table(const fc_search *sr, double floor_ms) {
  printf("\n%4s %-5s %-10s %-26s %5s %6s  %-14s %9s %9s %9s %5s %8s %7s\n", "#", "fam",
         "factors", "parameters", "regs", "spill", "status", "median_ms", "p10_ms", "p90_ms",
         "runs", "rel_err", "floor%");
  for (int i = 0; i < sr->n; i++) {
    const fc_result *c = &sr->r[i];
    char sum[160];
    summarize(c, sum, sizeof sum);
    const fc_launch *fw = fc_manifest_first(&c->src.manifest, FC_PHASE_FORWARD);
    const fc_entry_info *fe = c->bin.cubin && fw ? fc_binary_entry(&c->bin, fw->entry) : NULL;
    printf("%4d %s %5d %6d  %-14s", i, sum, fe ? fe->registers : 0,
           fe ? fe->spill_stores + fe->spill_loads : 0,
           fc_result_status_name(c->status));
    if (c->status == FC_RESULT_OK) {
      char pct[16] = "-";
      if (isfinite(floor_ms)) snprintf(pct, sizeof pct, "%.1f%%", 100.0 * floor_ms / c->t.median_ms);
      printf(" %9.4f %9.4f %9.4f %5d %8.1e %7s", c->t.median_ms, c->t.p10_ms, c->t.p90_ms,
             c->t.runs, c->err, pct);
    }
    else if (c->detail[0])
      printf(" %.200s", c->detail);
    printf("\n");
  }
}

/* For a single problem: each forward launch of the winner alone, timed (5 runs, L2 scrubbed)
   beside the bytes it moves at the least (fc_manifest_launch_bytes), so that a multi-pass
   kernel shows where its time goes. Only when the winner was compiled in this run (its
   binary at hand); a line says why not otherwise. */
static void print_passes(fftconv_ctx *ctx, const fftconv_problem *p, const fc_search *sr,
                         const char *params) {
  const fc_result *w = NULL;
  for (int i = 0; i < sr->n && !w; i++)
    if (sr->r[i].bin.cubin && sr->r[i].params && !strcmp(sr->r[i].params, params)) w = &sr->r[i];
  if (!w) {
    printf("passes   not timed: the winner came from the cache (tune with an empty cache)\n");
    return;
  }
  fftconv_plan *pl = NULL;
  fc_testdata t;
  fc_timing tm[FC_MAX_LAUNCHES];
  fc_err e = {{0}};
  fftconv_status st = fc_plan_from_binary(ctx, p, &w->src, &w->bin, "profile", &pl);
  if (st != FFTCONV_OK) {
    printf("passes   not timed: %s\n", fftconv_ctx_error(ctx));
    return;
  }
  if ((st = fc_testdata_make(p, 7, FC_TD_DEVICE, &t, &e)) == FFTCONV_OK) {
    st = fc_time_launches(pl, &t, 2, 5, tm, &e);
    fc_testdata_free(&t);
  }
  if (st != FFTCONV_OK) {
    printf("passes   not timed: %s\n", e.msg);
  } else {
    double ms = 0, gb = 0;
    for (int i = 0; i < pl->manifest.nlaunch; i++) {
      if (pl->manifest.launch[i].phase != FC_PHASE_FORWARD) continue;
      double b = (double)fc_manifest_launch_bytes(&pl->manifest, i, &pl->shape) / 1e9;
      printf("pass     %-22s %9.4f ms  %8.4f GB moved  %6.0f GB/s\n", pl->manifest.launch[i].entry,
             tm[i].median_ms, b, b / (tm[i].median_ms * 1e-3));
      ms += tm[i].median_ms, gb += b;
    }
    printf("passes   %-22s %9.4f ms  %8.4f GB moved  %6.0f GB/s (each alone, 5 runs)\n", "all",
           ms, gb, gb / (ms * 1e-3));
  }
  fftconv_plan_destroy(pl);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

/* ---- the quick check ----
   fftconv-tune with no problem flags, --problems, --rigor or --dry-run on a machine without a
   GPU: a newcomer's first command. Instead of the two-hour compile-only check of every
   candidate, it compiles each family's default choice for the default problems (once per
   distinct set of kernels) and a sample of every family's space for one of them, then says
   that nothing was tuned, why, and the command of the full check with an estimate of its
   time on this machine. */

/* The FFT size of the problem whose space is sampled: its sample (13 candidates today) keeps
   the whole check near a minute on two cores. */
enum { QUICK_SAMPLE_N = 1024 };

typedef struct quick {
  int on;
  char why[512];   /* fftconv_ctx_create's reason */
  int nset, nsame; /* problems in the set, and those whose kernels an earlier one has */
  int sample;      /* index of the sampled problem in the reduced list, -1 if none */
  int exhaustive;  /* candidates the full compile-only check of the set compiles */
  int kernels;     /* compiled by this run (failed included), and their compile times */
  int failed;
  double seconds, t0;
} quick;

/* Drops the problems whose every family's default choice an earlier problem has (the same
   kernels), counts the exhaustive candidates of the whole set, and picks the sampled problem.
   0 (message printed) if a template fails. */
static int quick_reduce(quick *q, plist *l, const fc_device_info *dev, const char *tmpl) {
  fc_emit *em = NULL;
  fc_err e = {{0}};
  if (fc_emit_open(&em, &e) != FFTCONV_OK) {
    fprintf(stderr, "fftconv-tune: %s\n", e.msg);
    return 0;
  }
  int nt = tmpl ? 1 : fc_emit_template_count(em), kept = 0, ok = 1;
  char **sig = calloc((size_t)l->n + 1, sizeof *sig);
  q->nset = l->n;
  q->sample = -1;
  for (int i = 0; ok && sig && i < l->n; i++) {
    fc_str s = {0};
    for (int t = 0; ok && t < nt; t++) {
      const char *name = tmpl ? tmpl : fc_emit_template_name(em, t);
      fc_candidate *c = NULL;
      char *params = NULL;
      int n = 0;
      fftconv_status st =
          fc_emit_space(em, name, &l->p[i], dev, FC_RIGOR_EXHAUSTIVE, &c, &n, &e);
      for (int j = 0; j < n; j++) q->exhaustive += !c[j].reason;
      fc_candidates_free(c, n);
      if (st == FFTCONV_OK) st = fc_emit_default(em, name, &l->p[i], dev, &params, &e);
      if (st == FFTCONV_ERR_UNSUPPORTED) st = FFTCONV_OK;
      fc_str_add(&s, "%s:%s;", name, params ? params : "-");
      free(params);
      if (st != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: %s\n", e.msg);
        ok = 0;
      }
    }
    int same = 0;
    for (int j = 0; j < kept && s.s; j++) same |= !strcmp(sig[j], s.s);
    if (same || !s.s) {
      fc_str_free(&s);
      q->nsame++;
      continue;
    }
    if (q->sample < 0 && fftconv_problem_fft_size(&l->p[i]) == QUICK_SAMPLE_N) q->sample = kept;
    sig[kept] = s.s;
    l->p[kept++] = l->p[i];
  }
  if (!sig) ok = 0, oom();
  for (int j = 0; j < kept; j++) free(sig[j]);
  free(sig);
  fc_emit_close(em);
  l->n = kept;
  return ok;
}

static void quick_count(quick *q, const fc_search *sr) {
  for (int i = 0; i < sr->n; i++)
    if (sr->r[i].bin.cubin || sr->r[i].status == FC_RESULT_COMPILE_FAILED)
      q->kernels++, q->seconds += sr->r[i].bin.seconds;
  q->failed += sr->compile_failures;
}

static void quick_report(const quick *q, const char *sample_key, const char *target, int64_t jobs,
                         const char *tmpl, const char *arch, const char *set) {
  char took[32], full[32];
  fmt_secs(fc_now() - q->t0, took, sizeof took);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int64_t par = jobs < cpus ? jobs : cpus;
  double per = q->kernels ? q->seconds / q->kernels : NAN;
  fmt_secs(q->exhaustive * per / (double)par, full, sizeof full);
  fprintf(stderr, "\nfftconv-tune: nothing was tuned: no GPU (%s).\n", q->why);
  fprintf(stderr, "Instead %d kernels were compiled for %s in %s", q->kernels, target, took);
  if (q->failed) fprintf(stderr, ", and %d of them FAILED (logs above)", q->failed);
  fprintf(stderr, ":\n  each family's default choice for the %d problems of the %s set (%d of them "
                  "need kernels of their own)\n", q->nset, set, q->nset - q->nsame);
  if (sample_key[0])
    fprintf(stderr, "  and a sample of every family's space for %s\n  (its default plus "
                    "candidates until every factorization and parameter value has appeared).\n",
            sample_key);
  /* the command names the set it checked: the default set's needs no --set */
  int other = strcmp(set, "default") != 0;
  fprintf(stderr, "The full compile-only check compiles every candidate of the %s set, %d "
                  "kernels;\nabout %s here (an estimate from this run's %.1f s a kernel on %" PRId64
                  " jobs):\n    fftconv-tune --dry-run --rigor exhaustive%s%s%s%s%s%s\n"
                  "To tune, run fftconv-tune on a machine with an NVIDIA GPU and its driver.\n",
          set, q->exhaustive, full, per, par, other ? " --set " : "", other ? set : "",
          tmpl ? " --template " : "", tmpl ? tmpl : "", arch ? " --arch " : "", arch ? arch : "");
}

int main(int argc, char **argv) {
  fftconv_problem one;
  fc_problem_defaults(&one);
  const char *tmpl = NULL, *arch = NULL, *emit_dir = NULL, *problems = NULL;
  const char *cache_path = NULL;
  fc_rigor rigor = FC_RIGOR_MEASURE;
  int have_rigor = 0;
  /* -1: not given; fc_search_defaults decides */
  int64_t device = 0, jobs = -1, runs = -1, warmup = -1, budget = 0;
  double screen = -1;
  int dry = 0, quiet = 0, table = 0, json = 0, have_problem_flag = 0, list_set = -1, set = -1;
  /* Whether a tuning run was asked for: a problem, --set, or a flag that only tuning uses.
     Without a usable GPU (and without --dry-run) such a run exits 3 after the compile-only
     check; the bare command's quick check exits 0 (the README's first command). */
  int tune_asked = 0;
  opterr = 0;
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int64_t v;
    int r = problem_flag(&one, o, optarg, "");
    if (r < 0) return 2;
    if (r > 0) {
      have_problem_flag = tune_asked = 1;
      continue;
    }
    switch (o) {
    case 'h': fputs(usage_text, stdout); return 0;
    case O_DEV: case O_JOBS: case O_RUNS: case O_WARM: case O_BUDGET: {
      /* Each to the range its int (or the deadline's seconds) holds, with room to spare. */
      int64_t lo = o == O_RUNS ? 20 : (o == O_DEV || o == O_WARM) ? 0 : 1;
      int64_t hi = o == O_JOBS ? 4096 : o == O_RUNS || o == O_WARM ? 1000000 : INT32_MAX;
      char why[256];
      if (!fc_parse_int(optarg, lo, hi, &v, why, sizeof why))
        return die_usage("--%s: %s", opt_name(o), why);
      if (o != O_JOBS) tune_asked = 1;
      if (o == O_DEV) device = v;
      if (o == O_JOBS) jobs = v;
      if (o == O_RUNS) runs = v;
      if (o == O_WARM) warmup = v;
      if (o == O_BUDGET) budget = v;
      break;
    }
    case O_RIGOR:
      if (!fc_rigor_parse(optarg, &rigor))
        return die_usage("--rigor: '%s' is not one of estimate, sample, measure, exhaustive",
                         quoted(optarg));
      have_rigor = tune_asked = 1;
      break;
    case O_SCREEN: {
      char *end;
      errno = 0;
      screen = strtod(optarg, &end);
      /* a plain decimal: strtod would also take " 2", "0x2" and "2e0" */
      if (errno || *end || end == optarg || optarg[0] < '0' || optarg[0] > '9' ||
          strpbrk(optarg, "xXpPeE") || !(screen == 0 || (screen >= 1 && screen <= 100)))
        return die_usage("--screen: '%s' is not 0 or a number from 1 to 100", quoted(optarg));
      tune_asked = 1;
      break;
    }
    case O_PROBLEMS: problems = optarg, tune_asked = 1; break;
    case O_LISTDEF: list_set = 0; break;
    case O_SET:
    case O_LISTSET: {
      int k = find_set(optarg);
      if (k < 0) return die_usage("--%s: '%s' is not a problem set (known: default, long)",
                                  opt_name(o), quoted(optarg));
      if (o == O_SET) set = k, tune_asked = 1;
      else list_set = k;
      break;
    }
    case O_CACHE:
      if (!*optarg) return die_usage("--cache needs a value (a cache file path)");
      cache_path = optarg, tune_asked = 1;
      break;
    case O_TMPL: tmpl = optarg; break;
    case O_ARCH: arch = optarg; break;
    case O_DRY: dry = 1; break;
    case O_EMIT: emit_dir = optarg; break;
    case O_TABLE: table = 1; break;
    case O_JSON: json = 1; break;
    case O_QUIET: quiet = 1; break;
    default:
      if (optopt && optopt < O_SEQ) {
        char s[2] = {(char)optopt, 0};
        return die_usage("unknown option -%s", s);
      }
      if (optopt >= O_SEQ) return die_usage("--%s needs a value", opt_name(optopt));
      return die_usage("unknown option '%s'", quoted(argv[optind - 1]));
    }
  }
  if (optind < argc) return die_usage("unexpected argument '%s'", quoted(argv[optind]));
  char known[512];
  if (tmpl && !is_family(tmpl, known, sizeof known))
    return die_usage("--template: '%s' is not a kernel family (known: %s)", quoted(tmpl), known);

  if (list_set >= 0) {
    plist l = {0};
    int ok = sets[list_set].fill(&l);
    if (ok) {
      printf("# fftconv-tune's problem set '%s': %s\n", sets[list_set].name, sets[list_set].doc);
      for (int i = 0; i < l.n; i++) print_problem_flags(stdout, &l.p[i]);
    }
    free(l.p);
    return ok ? 0 : oom();
  }
  int sm = 0;
  char target[16] = ""; /* --arch as NVRTC takes it, e.g. sm_90a */
  if (arch && !fc_arch_normalize(arch, target, &sm))
    return die_usage("--arch: '%s' is not an architecture (expected sm_XY, e.g. sm_90)",
                     quoted(arch));
  if (have_problem_flag + !!problems + (set >= 0) > 1)
    return die_usage("give one problem with flags, a file with --problems or a set with --set, "
                     "not two of them");
  fc_err ne = {{0}};
  if (fc_nvrtc_load(&ne) != FFTCONV_OK) { /* every mode compiles: say so once, up front */
    fprintf(stderr, "fftconv-tune: %s\n", ne.msg);
    return 1;
  }
  if (have_problem_flag) {
    char msg[512];
    if (!one.seqlen) return die_usage("--seqlen is required for a problem given by flags");
    if (fftconv_problem_check(&one, msg, sizeof msg) != FFTCONV_OK) return die_usage("%s", msg);
  }

  /* From here on every exit goes through `done`, which frees what is held. */
  int rc = 0, nwin = 0;
  plist pl = {0};
  fftconv_ctx *ctx = NULL;
  fc_cache *cache = NULL;
  summary *sum = NULL;
  fc_bin_memo *memo = NULL;
  if (have_problem_flag ? !plist_add(&pl, &one) : !problems && !sets[set < 0 ? 0 : set].fill(&pl)) {
    rc = oom();
    goto done;
  }
  if (problems && !read_problems(problems, &pl)) {
    rc = 2;
    goto done;
  }

  /* The device, or the published limits of --arch for a compile-only check. */
  fc_err e = {{0}};
  fc_device_info dev;
  quick q = {0};
  int no_gpu = 0; /* a tuning run was asked for and the GPU cannot be used: exit status 3 */
  char cpath[4096] = "";
  if (!dry) {
    fftconv_ctx_options co;
    fftconv_ctx_options_init(&co);
    co.device = (int)device;
    co.arch = arch;
    co.no_cache = 1; /* the tuner opens the cache itself, for writing */
    if (fftconv_ctx_create(&co, &ctx) != FFTCONV_OK) {
      fprintf(stderr, "fftconv-tune: no GPU to tune on: %s\n", fftconv_ctx_error(NULL));
      /* The first command of a newcomer without a GPU: the quick check, not two hours. */
      q.on = !have_rigor && !have_problem_flag && !problems;
      snprintf(q.why, sizeof q.why, "%s", fftconv_ctx_error(NULL));
      no_gpu = tune_asked;
      /* Nothing will be stored, but a cache the run could not use is said now, before the
         check, not on the machine with the GPU; the file is not created or changed. */
      char cp[4096];
      if (no_gpu && !cache_usable(cache_path, cp, sizeof cp, &e)) {
        fprintf(stderr, "fftconv-tune: cannot write the cache: %s\n", e.msg);
        rc = 1;
        goto done;
      }
      if (q.on)
        fprintf(stderr, "fftconv-tune: nothing will be tuned; checking instead that the kernels "
                        "compile (%s--dry-run --rigor exhaustive%s%s checks every candidate)\n",
                set <= 0 ? "about a minute; " : "", set > 0 ? " --set " : "",
                set > 0 ? sets[set].name : "");
      else
        fprintf(stderr, "fftconv-tune: running the compile-only check instead (--dry-run)\n");
      dry = 1;
    } else {
      /* Before any long work (the bandwidth, the compiles): a cache that cannot be written
         ends the run now, and fc_cache_open leaves a file that is not a cache as it is. */
      if (cache_path) snprintf(cpath, sizeof cpath, "%s", cache_path);
      else if (fc_cache_default_path(cpath, sizeof cpath, &e) != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: %s\n", e.msg);
        rc = 1;
        goto done;
      }
      if (fc_cache_open(cpath, 1, &cache, &e) != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: cannot write the cache: %s\n", e.msg);
        rc = 1;
        goto done;
      }
    }
  }
  if (ctx) {
    dev = ctx->gpu.info;
    if (!sm) sm = dev.sm;
  } else {
    if (!sm) sm = 90;
    if (!fc_device_info_for_arch(sm, &dev)) {
      fprintf(stderr, "fftconv-tune: no published limits for sm_%d; choose --arch\n", sm);
      rc = 2;
      goto done;
    }
  }
  dev.sm = sm;
  if (!target[0]) snprintf(target, sizeof target, "sm_%d", sm);
  snprintf(dev.arch, sizeof dev.arch, "%s", target);
  if (!have_rigor) rigor = q.on ? FC_RIGOR_ESTIMATE : dry ? FC_RIGOR_EXHAUSTIVE /* everything */
                                : FC_RIGOR_MEASURE;
  if (jobs < 0) { /* not given: the searches' default, which the header line reports */
    fc_search_opts d;
    fc_search_defaults(rigor, &d);
    jobs = d.jobs;
  }
  if (q.on && !quick_reduce(&q, &pl, &dev, tmpl)) {
    rc = 1; /* quick_reduce said why */
    goto done;
  }
  char nvrtc[16];
  fc_nvrtc_version_text(nvrtc, sizeof nvrtc);

  fc_cache_config cfg = {&dev, sm, nvrtc};
  /* The memory floor's bandwidth: measured once per device and kept in its cache row. */
  double gbps = NAN;
  int gbps_new = 0;
  if (ctx) {
    if (cache && fc_cache_get_bandwidth(cache, &cfg, &gbps, &e) != FFTCONV_OK) gbps = NAN;
    if (!isfinite(gbps)) {
      if (fc_gpu_copy_bandwidth((size_t)1 << 30, 11, &gbps, &e) != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: cannot measure the copy bandwidth: %s\n", e.msg);
        gbps = NAN;
      } else {
        gbps_new = 1;
        if (cache && fc_cache_put_bandwidth(cache, &cfg, gbps, &e) != FFTCONV_OK)
          fprintf(stderr, "fftconv-tune: %s\n", e.msg);
      }
    }
  }
  const char *const *hashes;
  int nhashes = fc_trusted_hashes(&hashes);

  FILE *out = json ? stderr : stdout; /* with --json, stdout carries only the JSON */
  fprintf(out, "device   %s%s\n", ctx ? fftconv_ctx_device(ctx) : dev.name,
          dry ? " [compile only]" : "");
  fprintf(out, "compile  %s, NVRTC %s, %" PRId64 " jobs; rigor %s%s\n", target, nvrtc, jobs,
          fc_rigor_name(rigor),
          q.on && q.sample >= 0 ? " (each family's default choice), sample for one problem" : "");
  if (cache) fprintf(out, "cache    %s\n", cpath);
  if (isfinite(gbps))
    fprintf(out, "copy     %.0f GB/s device-to-device, read + write (%s): the floor's bandwidth\n",
            gbps, gbps_new ? "measured now" : "measured earlier, from the cache");
  fprintf(out, "problems %d", pl.n);
  if (q.nsame) fprintf(out, " (%d more of the set need the same kernels)", q.nsame);
  fputc('\n', out);
  fflush(out);

  signal(SIGINT, on_sigint);
  prog g = {isatty(2), quiet, 0, pl.n, fc_now(), ""};
  q.t0 = g.t0;
  if (!(sum = calloc((size_t)pl.n, sizeof *sum))) {
    rc = oom();
    goto done;
  }
  int budget_hit = 0;
  /* Kernels compiled for one problem serve the next ones of the same FFT size. */
  if (!dry) memo = fc_bin_memo_new((size_t)1 << 30);
  for (int pi = 0; pi < pl.n && !stop_flag; pi++) {
    fftconv_problem *p = &pl.p[pi];
    summary *S = &sum[pi];
    fftconv_problem_key(p, S->key, sizeof S->key);
    if (budget && fc_now() > g.t0 + (double)budget) {
      budget_hit = pl.n - pi;
      break;
    }
    g.problem = pi;
    g.key = S->key;
    /* The rigor's settings, then what was asked for. */
    fc_search_opts so;
    fc_search_defaults(q.on && pi == q.sample ? FC_RIGOR_SAMPLE : rigor, &so);
    so.tmpl = tmpl, so.jobs = (int)jobs;
    if (runs >= 0) so.runs = (int)runs;
    if (warmup >= 0) so.warmup = (int)warmup;
    if (screen >= 0) so.screen = screen;
    so.memo = memo, so.emit_dir = emit_dir, so.cache = cache, so.cfg = &cfg;
    so.stop = &stop_flag, so.deadline = budget ? g.t0 + (double)budget : 0;
    so.progress = on_progress, so.progress_arg = &g;
    fc_search sr;
    fftconv_status sst = fc_search_run(dry ? NULL : ctx, p, &dev, &so, &sr, &e);
    if (sst != FFTCONV_OK) {
      if (g.tty && !quiet) fputc('\n', stderr);
      fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
      fc_search_free(&sr);
      rc = 1;
      if (sst == FFTCONV_ERR_IO) break; /* the cache cannot be written: stop, keep what is stored */
      continue;
    }
    if (q.on) quick_count(&q, &sr);
    S->n = sr.n;
    S->cached = sr.cached;
    S->not_run = sr.not_run;
    S->screened = sr.screened;
    S->reused = sr.reused;
    S->cut = sr.cut;
    S->floor_ms = isfinite(gbps) ? fc_floor_ms(p, gbps) : NAN;
    for (int i = 0; i < sr.n; i++) {
      fc_result_status st = sr.r[i].status;
      if (fc_result_status_measured(st)) S->measured++;
      if (fc_result_status_measured(st) && st != FC_RESULT_OK) S->failed++;
    }
    if (sr.screen_note[0] && !quiet) fprintf(stderr, "%s: screened out %s\n", S->key, sr.screen_note);
    if (sr.compile_failures) {
      rc = 1;
      for (int i = 0; i < sr.n; i++)
        if (sr.r[i].status == FC_RESULT_COMPILE_FAILED)
          fprintf(stderr, "\n%s: candidate %d %s failed to compile:\n%s\n", S->key, i,
                  sr.r[i].params, sr.r[i].detail);
    }
    if (cache) {
      /* The winner over everything the cache trusts for this problem, earlier runs too. */
      if (fc_cache_update_winner(cache, &cfg, p, hashes, nhashes, &S->kernel, &e) != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
        rc = 1;
      }
      /* Then keep binaries only for winners and finalists, so the file never grows large:
         the other candidates' cubins go, their measurements stay (resume needs them). */
      fc_cache_slimmed sl;
      if (fc_cache_slim(cache, FC_CACHE_FINALISTS, 0, &sl, &e) != FFTCONV_OK) {
        fprintf(stderr, "fftconv-tune: %s: %s\n", S->key, e.msg);
        rc = 1;
      }
      fc_cache_hit h = {0};
      int found = 0;
      if (S->kernel &&
          fc_cache_lookup(cache, &cfg, p, hashes, nhashes, &h, &found, &e) == FFTCONV_OK &&
          found && h.exact) {
        S->params = strdup(h.params);
        S->manifest = h.manifest;
        S->ms = h.median_ms;
        nwin++;
      }
      fc_cache_hit_free(&h);
    } else if (!dry && sr.best >= 0) {
      S->params = strdup(sr.r[sr.best].params);
      S->manifest = sr.r[sr.best].src.manifest;
      S->ms = sr.r[sr.best].t.median_ms;
      nwin++;
    }
    if (!dry && !S->params && !stop_flag && !S->not_run) rc = rc ? rc : 1;
    if (!sr.n) { /* nothing checked or tuned: a failure, with the families' reasons */
      S->why = strdup(sr.why[0] ? sr.why : "no kernel family proposed one");
      rc = rc ? rc : 1;
    }
    if (g.tty && !quiet) fputc('\n', stderr);
    fprintf(out, "%-55s ", S->key);
    if (!sr.n)
      fprintf(out, "no candidate: %s\n", S->why ? S->why : "out of memory");
    else if (dry)
      fprintf(out, "compiled %d of %d for %s%s\n", sr.n - sr.compile_failures, sr.n, target,
              so.rigor == rigor ? "" : " (sample)");
    else if (S->params)
      fprintf(out, "%8.4f ms  %5.1f%% of floor  (%d new, %d cached, %d failed%s%s)\n", S->ms,
              isfinite(S->floor_ms) ? 100 * S->floor_ms / S->ms : NAN, S->measured, S->cached,
              S->failed,
              S->screened ? ", family screen left some out" : "",
              S->not_run ? ", some not run" : "");
    else
      fprintf(out, "no verified kernel (%d new, %d cached, %d failed%s)\n", S->measured,
              S->cached, S->failed, S->not_run ? ", some not run" : "");
    if (sr.n && (table || (pl.n == 1 && !json))) print_table(&sr, S->floor_ms);
    if (pl.n == 1 && S->params && !json) {
      printf("\nwinner   %s\n", S->params);
      fc_str d = {0};
      fc_manifest_describe(&S->manifest, "launch   ", &d);
      if (d.s) fputs(d.s, stdout);
      fc_str_free(&d);
      if (ctx && !dry) print_passes(ctx, p, &sr, S->params);
    }
    fflush(out);
    fc_search_free(&sr);
  }
  if (cache) {
    /* Slimming after each problem leaves free pages behind: give them back once. */
    int64_t before = 0, after = 0;
    fc_err ce = {{0}};
    if (fc_cache_compact(cache, 0.25, &before, &after, &ce) != FFTCONV_OK)
      fprintf(stderr, "fftconv-tune: the cache was not compacted: %s\n", ce.msg);
    else if (!quiet)
      fprintf(stderr, "cache    %s: %.1f MB%s\n", cpath, (double)after / 1e6,
              after < before ? " (compacted)" : "");
  }
  if (budget_hit)
    fprintf(stderr, "fftconv-tune: the %" PRId64 " s budget is spent; %d problems not started "
                    "(run the same command again to go on)\n", budget, budget_hit);
  if (q.on && !stop_flag && !budget_hit)
    quick_report(&q, q.sample >= 0 ? sum[q.sample].key : "", target, jobs, tmpl, arch,
                 sets[set < 0 ? 0 : set].name);
  if (no_gpu && !stop_flag) {
    if (!q.on)
      fprintf(stderr, "fftconv-tune: nothing was tuned: no GPU (%s); the compile-only check ran "
                      "instead. To tune, run fftconv-tune on a machine with an NVIDIA GPU and its "
                      "driver.\n", q.why);
    rc = 3;
  }
  if (stop_flag) {
    fprintf(stderr, "\nfftconv-tune: interrupted; every finished measurement is kept in %s; "
                    "run the same command again to resume\n", cpath[0] ? cpath : "(no cache)");
    rc = 130;
  }
  if (json) {
    printf("{\"device\":");
    json_str(stdout, ctx ? fftconv_ctx_device(ctx) : dev.name);
    printf(",\"cache\":");
    json_str(stdout, cpath);
    printf(",\"rigor\":");
    json_str(stdout, fc_rigor_name(rigor));
    printf(",\"nvrtc\":");
    json_str(stdout, nvrtc);
    if (isfinite(gbps)) printf(",\"copy_gbps\":%.1f", gbps);
    printf(",\"interrupted\":%s,\"problems\":[", stop_flag ? "true" : "false");
    for (int i = 0; i < pl.n; i++) {
      summary *S = &sum[i];
      if (!S->key[0]) continue;
      printf("%s{\"key\":", i ? "," : "");
      json_str(stdout, S->key);
      printf(",\"candidates\":%d,\"measured\":%d,\"cached\":%d,\"failed\":%d,\"not_run\":%d,"
             "\"screened\":%d,\"reused\":%d,\"cut\":%d", S->n, S->measured, S->cached, S->failed,
             S->not_run, S->screened, S->reused, S->cut);
      if (S->params) {
        printf(",\"winner\":{\"params\":%s,\"median_ms\":%.6f", S->params, S->ms);
        char *mj = fc_manifest_json(&S->manifest);
        if (mj) printf(",\"manifest\":%s", mj);
        free(mj);
        if (isfinite(S->floor_ms))
          printf(",\"floor_ms\":%.6f,\"floor_fraction\":%.4f", S->floor_ms, S->floor_ms / S->ms);
        printf("}");
      }
      if (S->why) {
        printf(",\"no_candidate\":");
        json_str(stdout, S->why);
      }
      printf("}");
    }
    printf("]}\n");
  }
done:
  for (int i = 0; sum && i < pl.n; i++) free(sum[i].params), free(sum[i].why);
  free(sum);
  free(pl.p);
  fc_bin_memo_free(memo);
  fc_cache_close(cache);
  fftconv_ctx_destroy(ctx);
  return rc;
}
