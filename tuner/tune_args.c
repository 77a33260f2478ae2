/* tune_args.c: fftconv-tune's command line: the usage text, the options and their checks. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "families.h"
#include "fields.h"
#include "problem_file.h"
#include "shape.h"
#include "tune.h"

static const char *usage_head =
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
    "problem (one problem; omit all of these for the default set):\n";

/* The problem's flags follow, from the field table (fc_problem_flags_help), then the sets. */
static const char *usage_sets =
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
    "                    $XDG_CACHE_HOME/fftconv/cache.db, else ~/.cache/fftconv/cache.db)\n";

/* --template's entry follows, from the families' declarations (usage_families). */
static const char *usage_tail =
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
    "  --only TEXT       search only candidates whose parameters (JSON, as --table and the\n"
    "                    cache show them) contain TEXT, e.g. '\"seq\":true'; repeat it to\n"
    "                    ask for several (up to 16), each must be there\n"
    "output:\n"
    "  --table           print every candidate of every problem\n"
    "  --json            print the summary as JSON on stdout\n"
    "  --quiet           no progress\n"
    "  -h, --help        this text\n"
    "\n"
    "exit status: 0 success, 1 a candidate failed to compile, a problem has no verified kernel\n"
    "or no candidate at all (the families' reasons are printed), the cache could not be used\n"
    "(not a cache, not writable: said before any work, GPU or not) or NVRTC could not be\n"
    "loaded, or a candidate's fault lost the GPU context (the run stops there; run it again\n"
    "to resume after that candidate), 2 bad usage or a bad problem file, 3 a tuning run was\n"
    "asked for (a problem, --problems, --set, --rigor, --device, --cache, --budget, --runs,\n"
    "--warmup or --screen, without --dry-run) and the GPU could not be used: the compile-only\n"
    "check ran instead and nothing was tuned (with no arguments, the quick check's 0), 130\n"
    "interrupted (every finished measurement is kept).\n";

/* The ops fc_op_find knows, comma-separated. */
static void known_ops(char *buf, size_t len) {
  size_t k = 0;
  buf[0] = 0;
  for (int op = 0; op < fc_op_count(); op++) {
    int w = snprintf(buf + k, len - k, "%s%s", k ? ", " : "", fc_op_name((fc_op)op));
    if (w > 0 && (size_t)w < len - k) k += (size_t)w;
  }
}

/* An FFT size as the help writes it: 256, 64K, 4M. */
static void size_text(int64_t n, char *buf, size_t len) {
  if (n >= 1048576 && n % 1048576 == 0) snprintf(buf, len, "%" PRId64 "M", n / 1048576);
  else if (n >= 1024 && n % 1024 == 0) snprintf(buf, len, "%" PRId64 "K", n / 1024);
  else snprintf(buf, len, "%" PRId64, n);
}

/* Prints text from column 20 on (22 for the lines after the first), words wrapped within 94
   columns. */
static void wrapped(FILE *f, const char *text) {
  enum { INDENT = 20, WIDTH = 94 };
  int col = 0, lines = 0;
  while (*text) {
    size_t w = strcspn(text, " ");
    if (col && col + 1 + (int)w > WIDTH) col = 0, fputc('\n', f);
    if (!col) col = fprintf(f, "%*s%.*s", INDENT + 2 * (lines++ > 0), "", (int)w, text);
    else col += fprintf(f, " %.*s", (int)w, text);
    text += w;
    text += strspn(text, " ");
  }
  fputc('\n', f);
}

/* --template's entry: the families of the build, each as it declares itself (families.h). */
static void usage_families(FILE *f) {
  fputs("  --template NAME   search one kernel family only; default: every family that can run\n"
        "                    the problem. The families of this build:\n", f);
  static const char *const dtypes[] = {"fp32", "fp16", "bf16"};
  for (int i = 0; i < fc_nfamilies; i++) {
    const fc_family_decl *d = &fc_families[i];
    char line[1024], lo[32], hi[32];
    size_text(d->min_n, lo, sizeof lo);
    size_text(d->max_n, hi, sizeof hi);
    int k = d->max_taps
                ? snprintf(line, sizeof line, "%s: %s; rows of any length with at most %lld taps,",
                           d->name, d->doc, (long long)d->max_taps)
                : snprintf(line, sizeof line, "%s: %s; N = %s to %s,", d->name, d->doc, lo, hi);
    for (int t = 0; t < 3; t++)
      if (d->dtypes & 1u << t && k > 0 && (size_t)k < sizeof line)
        k += snprintf(line + k, sizeof line - (size_t)k, " %s", dtypes[t]);
    if (k > 0 && (size_t)k < sizeof line)
      k += snprintf(line + k, sizeof line - (size_t)k, ", sm_%d and later", d->min_sm);
    if (d->retired[0] && k > 0 && (size_t)k < sizeof line)
      snprintf(line + k, sizeof line - (size_t)k, "; searched only when named: %s", d->retired);
    wrapped(f, line);
  }
}

static void usage(FILE *f) {
  fputs(usage_head, f);
  fc_str flags = {0};
  fc_problem_flags_help(&flags);
  if (flags.s) fputs(flags.s, f);
  fc_str_free(&flags);
  fputs(usage_sets, f);
  usage_families(f);
  char ops[256];
  known_ops(ops, sizeof ops);
  fprintf(f, "  --op NAME         the op to tune: %s, or both (forward and backward, the\n"
             "                    default: training needs both)\n", ops);
  fputs(usage_tail, f);
}

int tune_die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fftconv-tune: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(see fftconv-tune --help)\n");
  va_end(ap);
  return 2;
}

const char *tune_quoted(const char *s) {
  static char buf[160];
  return fc_quote(s, 100, buf, sizeof buf);
}

int tune_oom(void) {
  fprintf(stderr, "fftconv-tune: out of memory\n");
  return 1;
}

/* The problem's flags are the field table's (fields.h): option O_FIELD + i is field i. */
enum { O_FIELD = 256, O_PROBLEMS = O_FIELD + FC_NFIELDS, O_LISTDEF, O_SET, O_LISTSET, O_RIGOR, O_BUDGET, O_CACHE, O_TMPL, O_DEV, O_ARCH, O_JOBS,
       O_RUNS, O_WARM, O_DRY, O_EMIT, O_TABLE, O_JSON, O_QUIET, O_SCREEN, O_OP, O_ONLY };
static const struct option fixed_opts[] = {
    {"problems", 1, 0, O_PROBLEMS},
    {"list-default", 0, 0, O_LISTDEF}, {"set", 1, 0, O_SET},  {"list-set", 1, 0, O_LISTSET},
    {"rigor", 1, 0, O_RIGOR}, {"budget", 1, 0, O_BUDGET},
    {"cache", 1, 0, O_CACHE},      {"template", 1, 0, O_TMPL},   {"device", 1, 0, O_DEV},
    {"arch", 1, 0, O_ARCH},        {"jobs", 1, 0, O_JOBS},       {"runs", 1, 0, O_RUNS},
    {"warmup", 1, 0, O_WARM},      {"dry-run", 0, 0, O_DRY},     {"emit-dir", 1, 0, O_EMIT},
    {"table", 0, 0, O_TABLE},      {"json", 0, 0, O_JSON},       {"quiet", 0, 0, O_QUIET},
    {"screen", 1, 0, O_SCREEN},    {"op", 1, 0, O_OP},           {"only", 1, 0, O_ONLY},
    {"help", 0, 0, 'h'},           {0, 0, 0, 0}};

static struct option opts[FC_NFIELDS + sizeof fixed_opts / sizeof *fixed_opts];

/* getopt's table: the field table's flags, then the tuner's own options. */
static void build_opts(void) {
  for (int i = 0; i < FC_NFIELDS; i++)
    opts[i] = (struct option){fc_fields[i].flag, fc_fields[i].flag_arg ? 1 : 0, 0, O_FIELD + i};
  memcpy(opts + FC_NFIELDS, fixed_opts, sizeof fixed_opts);
}

static const char *opt_name(int o) {
  for (const struct option *x = opts; x->name; x++)
    if (x->val == o) return x->name;
  return "?";
}

/* Applies one problem flag to p; 0 if o is not a problem flag, -1 (message printed) if bad. */
static int problem_flag(fftconv_problem *p, int o, const char *arg, const char *where) {
  if (o < O_FIELD || o >= O_FIELD + FC_NFIELDS) return 0;
  char msg[512];
  if (fc_problem_flag(p, opt_name(o), arg, msg, sizeof msg) < 0) {
    tune_die_usage("%s%s", where, msg);
    return -1;
  }
  return 1;
}

/* Whether name is a kernel family of this build (families.h); known gets the families'
   names, comma-separated. */
static int is_family(const char *name, char *known, size_t len) {
  int found = 0;
  size_t k = 0;
  known[0] = 0;
  for (int i = 0; i < fc_nfamilies; i++) {
    const char *family = fc_families[i].name;
    if (!strcmp(family, name)) found = 1;
    int w = snprintf(known + k, len - k, "%s%s", k ? ", " : "", family);
    if (w > 0 && (size_t)w < len - k) k += (size_t)w;
  }
  return found;
}

/* --device, --jobs, --runs, --warmup, --budget: each to the range its int (or the deadline's
   seconds) holds, with room to spare. -1 to go on, else the exit status. */
static int int_option(tune_args *a, int o, const char *arg) {
  int64_t lo = o == O_RUNS ? 20 : (o == O_DEV || o == O_WARM) ? 0 : 1;
  int64_t hi = o == O_JOBS ? 4096 : o == O_RUNS || o == O_WARM ? 1000000 : INT32_MAX;
  char why[256];
  int64_t v;
  if (!fc_parse_int(arg, lo, hi, &v, why, sizeof why))
    return tune_die_usage("--%s: %s", opt_name(o), why);
  if (o != O_JOBS) a->tune_asked = 1;
  if (o == O_DEV) a->device = v;
  if (o == O_JOBS) a->jobs = v;
  if (o == O_RUNS) a->runs = v;
  if (o == O_WARM) a->warmup = v;
  if (o == O_BUDGET) a->budget = v;
  return -1;
}

static int screen_option(tune_args *a, const char *arg) {
  char *end;
  errno = 0;
  a->screen = strtod(arg, &end);
  /* a plain decimal: strtod would also take " 2", "0x2" and "2e0" */
  if (errno || *end || end == arg || arg[0] < '0' || arg[0] > '9' ||
      strpbrk(arg, "xXpPeE") || !(a->screen == 0 || (a->screen >= 1 && a->screen <= 100)))
    return tune_die_usage("--screen: '%s' is not 0 or a number from 1 to 100", tune_quoted(arg));
  a->tune_asked = 1;
  return -1;
}

static int set_option(tune_args *a, int o, const char *arg) {
  int k = tune_find_set(arg);
  if (k < 0) return tune_die_usage("--%s: '%s' is not a problem set (known: default, long)",
                                   opt_name(o), tune_quoted(arg));
  if (o == O_SET) a->set = k, a->tune_asked = 1;
  else a->list_set = k;
  return -1;
}

static int op_option(tune_args *a, const char *arg) {
  if (!strcmp(arg, "both")) {
    a->ops = 1u << FC_OP_FORWARD | 1u << FC_OP_BACKWARD;
    a->ops_given = 1;
    return -1;
  }
  int op = fc_op_find(arg);
  if (op < 0) {
    char ops[256];
    known_ops(ops, sizeof ops);
    return tune_die_usage("--op: '%s' is not an op (known: %s, or both: forward and backward)",
                          tune_quoted(arg), ops);
  }
  a->ops = 1u << op;
  a->ops_given = 1;
  return -1;
}

/* One option that is not a problem flag: -1 to go on, else the exit status. */
static int option(tune_args *a, int o, char **argv) {
  switch (o) {
  case 'h': usage(stdout); return 0;
  case O_DEV: case O_JOBS: case O_RUNS: case O_WARM: case O_BUDGET:
    return int_option(a, o, optarg);
  case O_RIGOR:
    if (!fc_rigor_parse(optarg, &a->rigor))
      return tune_die_usage("--rigor: '%s' is not one of estimate, sample, measure, exhaustive",
                            tune_quoted(optarg));
    a->have_rigor = a->tune_asked = 1;
    return -1;
  case O_SCREEN: return screen_option(a, optarg);
  case O_PROBLEMS: a->problems = optarg, a->tune_asked = 1; return -1;
  case O_LISTDEF: a->list_set = 0; return -1;
  case O_SET: case O_LISTSET: return set_option(a, o, optarg);
  case O_CACHE:
    if (!*optarg) return tune_die_usage("--cache needs a value (a cache file path)");
    a->cache_path = optarg, a->tune_asked = 1;
    return -1;
  case O_TMPL: a->tmpl = optarg; return -1;
  case O_OP: return op_option(a, optarg);
  case O_ARCH: a->arch = optarg; return -1;
  case O_DRY: a->dry = 1; return -1;
  case O_EMIT: a->emit_dir = optarg; return -1;
  case O_ONLY:
    if (!*optarg) return tune_die_usage("--only needs a text (part of a candidate's parameters)");
    if (a->nonly == (int)(sizeof a->only / sizeof *a->only))
      return tune_die_usage("--only: at most %d texts", (int)(sizeof a->only / sizeof *a->only));
    a->only[a->nonly++] = optarg;
    return -1;
  case O_TABLE: a->table = 1; return -1;
  case O_JSON: a->json = 1; return -1;
  case O_QUIET: a->quiet = 1; return -1;
  default:
    if (optopt && optopt < O_FIELD) {
      char s[2] = {(char)optopt, 0};
      return tune_die_usage("unknown option -%s", s);
    }
    if (optopt >= O_FIELD) return tune_die_usage("--%s needs a value", opt_name(optopt));
    return tune_die_usage("unknown option '%s'", tune_quoted(argv[optind - 1]));
  }
}

int tune_parse_args(int argc, char **argv, tune_args *a) {
  memset(a, 0, sizeof *a);
  fc_problem_defaults(&a->one);
  a->rigor = FC_RIGOR_MEASURE;
  a->ops = 1u << FC_OP_FORWARD | 1u << FC_OP_BACKWARD;
  a->jobs = a->runs = a->warmup = -1;
  a->screen = -1;
  a->list_set = a->set = -1;
  opterr = 0;
  build_opts();
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int r = problem_flag(&a->one, o, optarg, "");
    if (r < 0) return 2;
    if (r > 0) {
      a->have_problem_flag = a->tune_asked = 1;
      continue;
    }
    if ((r = option(a, o, argv)) >= 0) return r;
  }
  if (optind < argc) return tune_die_usage("unexpected argument '%s'", tune_quoted(argv[optind]));
  char known[512];
  if (a->tmpl && !is_family(a->tmpl, known, sizeof known))
    return tune_die_usage("--template: '%s' is not a kernel family (known: %s)",
                          tune_quoted(a->tmpl), known);
  return -1;
}
