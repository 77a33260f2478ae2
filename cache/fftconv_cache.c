/* fftconv-cache: look into, clean and combine fftconv kernel caches.
   Exit status: 0 done, 1 the cache or a file failed, 2 a usage error or bad input (a problem
   file that cannot be used, as fftconv-tune says too). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "export.h"
#include "problem_file.h"
#include "trusted.h"
#include "verify.h"

#define EXIT_USAGE 2
#define FINALISTS CACHE_MAIN_STR(FC_CACHE_FINALISTS)
#define CACHE_MAIN_STR(x) CACHE_MAIN_STR2(x)
#define CACHE_MAIN_STR2(x) #x

static const char usage[] =
    "usage: fftconv-cache [--cache PATH] COMMAND [ARGS]\n"
    "\n"
    "Looks into, cleans, combines and exports the SQLite cache that fftconv-tune fills\n"
    "and that libfftconv reads at plan creation.\n"
    "\n"
    "Commands:\n"
    "  list [--device TEXT] [--problem TEXT] [--all]\n"
    "      The winners: device (with its measured copy bandwidth), problem key, kernel id,\n"
    "      template, median ms, % of floor (the time to move the problem's bytes at that\n"
    "      bandwidth over the median; - when the bandwidth is unknown), parameters.\n"
    "      --all lists every measurement instead, failures included, with its status\n"
    "      (a * marks the winner). --device keeps devices whose model contains TEXT\n"
    "      (case-insensitive); --problem keeps problem keys that contain TEXT.\n"
    "  show KERNEL_ID [--manifest] [--source]\n"
    "      One kernel: template, revision, hash, parameters, arch, NVRTC version, registers,\n"
    "      shared memory, spills, its launches (grid, block, shared memory, arguments), its\n"
    "      binary (or when it was dropped), and every measurement of it. --manifest adds\n"
    "      the launch manifest as stored (JSON). --source prints only its CUDA source (to save\n"
    "      it: > kernel.cu): the cache keeps a hash of it, and the text is emitted again\n"
    "      from the embedded template and checked against that hash; a kernel of a template\n"
    "      that has changed since cannot be emitted again, and show says so.\n"
    "  prune [--dry-run]\n"
    "      Removes every kernel that this build can no longer trust: its template's hash\n"
    "      is not the hash of any template embedded in this build, or it was compiled by\n"
    "      another NVRTC version than the one this build loads. Its measurements and any\n"
    "      winner it was go with it, then every device left with no measurement. Winners\n"
    "      lost are recomputed from the measurements that remain (trusted kernels compiled\n"
    "      for the device's own arch). Then it slims the cache: the stored source of every\n"
    "      kernel goes (older caches kept it), and the cubin, PTX and log of every kernel\n"
    "      that is neither a winner nor one of the " FINALISTS " fastest ok measurements of\n"
    "      a problem on a device (measurements, resources and layout stay: resuming a\n"
    "      tuning run skips them, and fftconv-tune compiles a kernel again when it needs\n"
    "      it). Then VACUUM shrinks the file. --dry-run only counts what would go and how\n"
    "      many bytes that frees, and writes nothing (an older cache is counted as it is,\n"
    "      not migrated).\n"
    "  merge OTHER_PATH\n"
    "      Copies the devices, kernels and measurements of the cache OTHER_PATH (read, never\n"
    "      written) into this one, in one transaction. Rows with the same key are stored\n"
    "      once; a measurement replaces this cache's only if it was measured later. Then\n"
    "      the winner of every problem that received a measurement is recomputed, with the\n"
    "      trust rule of prune, and the cache is slimmed as prune slims it (no VACUUM).\n"
    "  export --out DIR [--device TEXT] [--problem KEY] [--problems FILE] [--arch LIST]\n"
    "         [--no-ptx] [--compress all|ptx] [--c-source FILE] [--c-name NAME] [--force]\n"
    "         [--jobs N]\n"
    "      Writes the winners as a bundle that libfftconv plans from with no compiler, no\n"
    "      cache file and no tuning (fftconv_ctx_options.bundle_path): DIR/manifest.json and\n"
    "      one fatbin a kernel, holding a cubin for each architecture of --arch and the PTX\n"
    "      of the lowest (which the driver compiles for newer GPUs). --arch takes sm_XY\n"
    "      (cubins) and compute_XY (the PTX's architecture; alone: a PTX-only bundle);\n"
    "      default: the architectures the winners were tuned on. A kernel is compiled\n"
    "      again from its template and parameters for an architecture it was not tuned\n"
    "      on, when its family accepts every problem it serves there; otherwise it is left\n"
    "      out for that architecture, and export says so. --device keeps the winners of\n"
    "      devices whose model contains TEXT; --problem keeps one problem key (as list\n"
    "      shows it); --problems keeps the problems of a problem-set file (fftconv-tune's\n"
    "      form: one problem a line, as flags). --no-ptx leaves the PTX out. --compress\n"
    "      all (default) compresses cubins and PTX; ptx leaves the cubins plain: a bundle\n"
    "      2.4 to 2.6 times larger whose modules load 3 times faster. --c-source\n"
    "      also writes the bundle as a C file (byte arrays and a fftconv_bundle_image named\n"
    "      NAME, default fftconv_bundle) to compile into an application\n"
    "      (fftconv_ctx_options.bundle_image), so it ships no files at all. DIR (and FILE)\n"
    "      must not exist, unless --force, which replaces only what export wrote: a\n"
    "      bundle's directory (never a link) that holds nothing but manifest.json and the\n"
    "      files it names, or an empty directory; a C file that starts with export's\n"
    "      header. A failure, or SIGINT or SIGTERM, leaves both as they were. --jobs:\n"
    "      compile threads (default: one per core).\n"
    "\n"
    "Options:\n"
    "  --cache PATH   the cache file; default $" FC_CACHE_ENV ", else\n"
    "                 $XDG_CACHE_HOME/fftconv/cache.db, else ~/.cache/fftconv/cache.db\n"
    "  --help         this text\n"
    "\n"
    "Exit status: 0 done, 1 the cache or a file could not be used, 2 a usage error or a\n"
    "problem file that cannot be used (missing, not a regular file, a bad line: as in\n"
    "fftconv-tune).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fftconv-cache: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(fftconv-cache --help lists the commands)\n");
  va_end(ap);
  return EXIT_USAGE;
}

static int fail(const fc_err *e) {
  fprintf(stderr, "fftconv-cache: %s\n", e->msg);
  return 1;
}

/* {"a":1,"b":[16,16,8],"c":"x"} -> a=1 b=16,16,8 c=x: the parameters at a glance. */
static void params_summary(const char *json, char *out, size_t len) {
  size_t n = 0;
  int depth = 0;
  for (const char *p = json ? json : ""; *p && n + 1 < len; p++) {
    char ch = *p;
    if (ch == '{' || ch == '[') {
      if (depth++ == 0) continue;
    } else if (ch == '}' || ch == ']') {
      if (--depth == 0) continue;
    }
    if (ch == '"' || ((ch == '[' || ch == ']') && depth >= 1)) continue;
    if (depth == 1 && ch == ':') ch = '=';
    else if (depth == 1 && ch == ',') ch = ' ';
    out[n++] = ch;
  }
  out[n] = 0;
}

static void fmt_time(double t, char *buf, size_t len) {
  if (!isfinite(t)) {
    snprintf(buf, len, "-");
    return;
  }
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void fmt_ms(double v, char *buf, size_t len) {
  if (isfinite(v))
    snprintf(buf, len, "%.4f", v);
  else
    snprintf(buf, len, "-");
}

/* Bytes of a file with its -wal beside it (what the cache takes on disk); 0 when missing. */
static int64_t file_size(const char *path) {
  char wal[4200];
  struct stat sb;
  int64_t n = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
  snprintf(wal, sizeof wal, "%s-wal", path);
  if (stat(wal, &sb) == 0) n += (int64_t)sb.st_size;
  return n;
}

static void fmt_bytes(int64_t n, char *buf, size_t len) {
  if (n >= 1000000)
    snprintf(buf, len, "%.1f MB", (double)n / 1e6);
  else if (n >= 1000)
    snprintf(buf, len, "%.1f kB", (double)n / 1e3);
  else
    snprintf(buf, len, "%" PRId64 " bytes", n);
}

/* ---- list ---- */

typedef struct list_state {
  int all, rows;
  char device[512]; /* the device whose rows are being printed */
} list_state;

static int list_row(const fc_cache_entry *r, void *arg) {
  list_state *ls = arg;
  char dev[512], med[32], sum[256], pct[32] = "-";
  snprintf(dev, sizeof dev, "%s (sm_%d, %d SMs, driver %d.%d)", r->device, r->device_sm, r->sms,
           r->driver_version / 1000, r->driver_version % 1000 / 10);
  if (strcmp(dev, ls->device)) {
    char bw[64] = "copy bandwidth not measured";
    if (isfinite(r->copy_gbps)) snprintf(bw, sizeof bw, "copy bandwidth %.1f GB/s", r->copy_gbps);
    printf("%sdevice %s, %s\n", ls->rows ? "\n" : "", dev, bw);
    if (ls->all)
      printf("  %-52s %7s %-14s %-15s %10s %7s %9s  %s\n", "problem", "kernel", "template",
             "status", "median_ms", "%floor", "rel_err", "params / message");
    else
      printf("  %-52s %7s %-14s %10s %7s  %s\n", "problem", "kernel", "template", "median_ms",
             "%floor", "params");
    snprintf(ls->device, sizeof ls->device, "%s", dev);
  }
  fmt_ms(r->median_ms, med, sizeof med);
  params_summary(r->params, sum, sizeof sum);
  /* the memory floor at the device's own copy bandwidth, for a timed ok row */
  if (!strcmp(r->status, "ok") && isfinite(r->median_ms) && r->median_ms > 0 &&
      isfinite(r->copy_gbps) && r->copy_gbps > 0)
    snprintf(pct, sizeof pct, "%.1f%%", 100 * fc_floor_ms(&r->problem, r->copy_gbps) /
                                            r->median_ms);
  if (ls->all) {
    char err[32] = "-";
    if (isfinite(r->rel_err)) snprintf(err, sizeof err, "%.1e", r->rel_err);
    printf("  %-52s %6" PRId64 "%s %-14s %-15s %10s %7s %9s  %s\n", r->problem_key,
           r->kernel_id, r->winner ? "*" : " ", r->tmpl, r->status, med, pct, err,
           r->message && *r->message ? r->message : sum);
  } else {
    printf("  %-52s %7" PRId64 " %-14s %10s %7s  %s\n", r->problem_key, r->kernel_id, r->tmpl,
           med, pct, sum);
  }
  ls->rows++;
  return 0;
}

static int cmd_list(const char *path, int argc, char **argv) {
  fc_cache_filter f = {0};
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--all")) {
      f.all = 1;
    } else if (!strcmp(argv[i], "--device") || !strcmp(argv[i], "--problem")) {
      if (i + 1 >= argc) return usage_error("list: %s needs a value", argv[i]);
      if (argv[i][2] == 'd')
        f.device = argv[++i];
      else
        f.problem = argv[++i];
    } else {
      return usage_error("list: %s '%s'", argv[i][0] == '-' ? "unknown option"
                                                            : "unexpected argument", argv[i]);
    }
  }
  fc_err e;
  fc_cache *c;
  if (fc_cache_open(path, 0, &c, &e) != FFTCONV_OK) return fail(&e);
  list_state ls = {.all = f.all};
  fftconv_status st = fc_cache_list(c, &f, list_row, &ls, &e);
  if (st == FFTCONV_OK && ls.rows == 0)
    printf("no %s%s in cache %s\n", f.all ? "measurements" : "winners",
           f.device || f.problem ? " match" : "", fc_cache_path(c));
  else if (st == FFTCONV_OK)
    printf("\n%d %s%s\n", ls.rows, f.all ? "measurement" : "winner", ls.rows == 1 ? "" : "s");
  fc_cache_close(c);
  return st == FFTCONV_OK ? 0 : fail(&e);
}

/* ---- show ---- */

typedef struct show_state {
  int rows;
  char device[512];
} show_state;

static int show_row(const fc_cache_entry *r, void *arg) {
  show_state *ss = arg;
  char dev[512], med[32], p10[32], p90[32], at[64], err[32] = "-";
  snprintf(dev, sizeof dev, "%s (sm_%d, %d SMs, driver %d.%d)", r->device, r->device_sm, r->sms,
           r->driver_version / 1000, r->driver_version % 1000 / 10);
  if (strcmp(dev, ss->device)) {
    printf("  on %s\n", dev);
    snprintf(ss->device, sizeof ss->device, "%s", dev);
  }
  fmt_ms(r->median_ms, med, sizeof med);
  fmt_ms(r->p10_ms, p10, sizeof p10);
  fmt_ms(r->p90_ms, p90, sizeof p90);
  fmt_time(r->measured_at, at, sizeof at);
  if (isfinite(r->rel_err)) snprintf(err, sizeof err, "%.1e", r->rel_err);
  printf("    %-52s %-15s median %s ms (p10 %s, p90 %s) of %d runs, rel err %s, %s, %s%s\n",
         r->problem_key, r->status, med, p10, p90, r->runs, err, r->rigor ? r->rigor : "-", at,
         r->winner ? ", WINNER" : "");
  if (r->message && *r->message) printf("      %s\n", r->message);
  ss->rows++;
  return 0;
}

static int cmd_show(const char *path, int argc, char **argv) {
  const char *idtext = NULL;
  int source = 0, manifest = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--source"))
      source = 1;
    else if (!strcmp(argv[i], "--manifest"))
      manifest = 1;
    else if (argv[i][0] == '-' && argv[i][1])
      return usage_error("show: unknown option '%s'", argv[i]);
    else if (idtext)
      return usage_error("show: unexpected argument '%s'", argv[i]);
    else
      idtext = argv[i];
  }
  if (!idtext) return usage_error("show: needs a KERNEL_ID (a number that list shows)");
  /* strictly digits (fc_parse_int): no space, '+' or tail that strtoll would let by */
  int64_t v = 0;
  char q[160];
  fc_quote(idtext, 100, q, sizeof q);
  if (!fc_parse_int(idtext, INT64_MIN, INT64_MAX, &v, NULL, 0) && *idtext &&
      strspn(idtext, "0123456789") == strlen(idtext))
    return usage_error("show: kernel id '%s' is out of range (1 to %lld)", q, LLONG_MAX);
  if (v < 1)
    return usage_error("show: bad kernel id '%s' (expected a positive integer, as list shows)",
                       q);
  long long id = v;
  fc_err e;
  fc_cache *c;
  if (fc_cache_open(path, 0, &c, &e) != FFTCONV_OK) return fail(&e);
  fc_cache_kernel_row row;
  int found = 0, rc = 0;
  if (fc_cache_get_kernel(c, id, &row, &found, &e) != FFTCONV_OK) {
    rc = fail(&e);
  } else if (!found) {
    fprintf(stderr, "fftconv-cache: no kernel %lld in cache %s\n", id, fc_cache_path(c));
    rc = 1;
  } else if (source) {
    char *text = NULL;
    if (fc_cache_source(&row.k, &text, &e) != FFTCONV_OK) {
      fprintf(stderr, "fftconv-cache: kernel %lld: %s\n", id, e.msg);
      rc = 1;
    } else {
      fputs(text, stdout);
    }
    free(text);
  } else {
    const fc_cache_kernel *k = &row.k;
    char at[64];
    fmt_time(row.created, at, sizeof at);
    printf("kernel     %" PRId64 "\n", row.id);
    printf("template   %s revision %d hash %s\n", k->tmpl, k->revision, k->hash);
    printf("params     %s\n", k->params);
    printf("arch       sm_%d, NVRTC %s, compiled %s", k->sm, k->nvrtc, at);
    if (isfinite(k->compile_seconds)) printf(" in %.2f s", k->compile_seconds);
    printf("\n");
    if (k->cubin) {
      printf("binary     cubin %zu bytes, PTX %s\n", k->cubin_size, k->ptx ? "kept" : "none");
    } else if (isfinite(row.binary_dropped)) {
      fmt_time(row.binary_dropped, at, sizeof at);
      printf("binary     dropped %s: neither a winner nor a finalist of any problem "
             "(fftconv-tune compiles it again if it needs it)\n", at);
    } else {
      printf("binary     none: compilation failed (the log is kept)\n");
    }
    if (k->source)
      printf("source     stored, %zu bytes (an older cache's; prune drops it)\n",
             strlen(k->source));
    else
      printf("source     hash %s; --source emits it again\n",
             k->source_hash ? k->source_hash : "unknown");
    printf("resources  %d registers/thread, %d B static shared memory, %d B stack, "
           "spills %d B stored / %d B loaded\n", k->registers, k->smem_static, k->stack,
           k->spill_stores, k->spill_loads);
    /* the launches, one line each, then the workspace and the filter spectrum */
    fc_str m = {0};
    fc_manifest_describe(&k->manifest, "", &m);
    for (char *line = m.s, *next; line && *line; line = next) {
      next = strchr(line, '\n');
      if (next) *next++ = 0;
      printf("%s %s\n", line == m.s ? "launch    " : "          ", line);
    }
    fc_str_free(&m);
    if (manifest) {
      char *json = fc_manifest_json(&k->manifest);
      printf("manifest   %s\n", json ? json : "(out of memory)");
      free(json);
    }
    if (!k->cubin && k->log && *k->log) printf("log\n%s\n", k->log);
    printf("measurements\n");
    show_state ss = {0};
    fc_cache_filter f = {.kernel_id = id, .all = 1};
    if (fc_cache_list(c, &f, show_row, &ss, &e) != FFTCONV_OK)
      rc = fail(&e);
    else if (ss.rows == 0)
      printf("  none\n");
  }
  fc_cache_kernel_row_free(&row);
  fc_cache_close(c);
  return rc;
}

/* ---- prune and merge: what this build trusts ---- */

typedef struct trust {
  const char *const *hashes;
  int n;
  char nvrtc[32];
  char names[1024];
} trust;

static void trust_load(trust *t) {
  memset(t, 0, sizeof *t);
  int maj = 0, min = 0;
  fc_nvrtc_version(&maj, &min);
  snprintf(t->nvrtc, sizeof t->nvrtc, "%d.%d", maj, min);
  t->n = fc_trusted_hashes(&t->hashes);
  for (int i = 0; i < t->n; i++) {
    size_t len = strlen(t->names);
    snprintf(t->names + len, sizeof t->names - len, "%s%s %s", i ? ", " : "",
             fc_trusted_template(i), t->hashes[i]);
  }
}

static int cmd_prune(const char *path, int argc, char **argv) {
  int dry = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--dry-run"))
      dry = 1;
    else
      return usage_error("prune: %s '%s'", argv[i][0] == '-' ? "unknown option"
                                                             : "unexpected argument", argv[i]);
  }
  fc_err e;
  trust t;
  trust_load(&t);
  fc_cache *c;
  /* a dry run counts on an older file as it is; the real prune migrates it first */
  if (fc_cache_open(path, dry ? FC_CACHE_READ_ANY_VERSION : 1, &c, &e) != FFTCONV_OK)
    return fail(&e);
  int64_t before = file_size(fc_cache_path(c));
  fc_cache_counts n;
  fftconv_status st = fc_cache_prune(c, t.hashes, t.n, t.nvrtc, dry, &n, &e);
  if (st == FFTCONV_OK) {
    char a[32], b[32];
    printf("trusted    templates %s; NVRTC %s\n", t.names, t.nvrtc);
    printf("%s %" PRId64 " kernels, %" PRId64 " measurements, %" PRId64 " winners, %" PRId64
           " devices from %s\n", dry ? "would remove" : "removed   ", n.kernels, n.measurements,
           n.winners, n.devices, fc_cache_path(c));
    if (!dry && n.winners) printf("recomputed %" PRId64 " winners\n", n.rewon);
    printf("%s the binaries of %" PRId64 " kernels (neither a winner nor a finalist) and the "
           "stored source of %" PRId64 "\n", dry ? "would drop" : "dropped   ", n.slim.binaries,
           n.slim.sources);
    fmt_bytes(n.slim.bytes, a, sizeof a);
    fmt_bytes(before, b, sizeof b);
    if (dry) {
      printf("would free %s of the %s file\n", a, b);
    } else {
      char c2[32];
      fmt_bytes(file_size(fc_cache_path(c)), c2, sizeof c2);
      printf("freed      %s: the file went from %s to %s\n", a, b, c2);
    }
  }
  fc_cache_close(c);
  return st == FFTCONV_OK ? 0 : fail(&e);
}

static int cmd_merge(const char *path, int argc, char **argv) {
  const char *other = NULL;
  for (int i = 0; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1])
      return usage_error("merge: unknown option '%s'", argv[i]);
    if (other) return usage_error("merge: unexpected argument '%s'", argv[i]);
    other = argv[i];
  }
  if (!other) return usage_error("merge: needs OTHER_PATH, the cache to copy from");
  fc_err e;
  trust t;
  trust_load(&t);
  fc_cache *c;
  /* OTHER first, read-only: a merge from what is not a cache must not create this one */
  if (fc_cache_open(other, 0, &c, &e) != FFTCONV_OK) return fail(&e);
  fc_cache_close(c);
  if (fc_cache_open(path, 1, &c, &e) != FFTCONV_OK) return fail(&e);
  fc_cache_counts n;
  fc_cache_slimmed sl;
  fftconv_status st = fc_cache_merge(c, other, t.hashes, t.n, t.nvrtc, &n, &e);
  if (st == FFTCONV_OK)
    printf("merged %s into %s: %" PRId64 " devices, %" PRId64 " kernels, %" PRId64
           " measurements added, %" PRId64 " replaced by later ones, %" PRId64
           " kept (ours as new or newer); %" PRId64 " winners recomputed\n", other,
           fc_cache_path(c), n.devices, n.kernels, n.measurements, n.replaced, n.skipped,
           n.rewon);
  if (st == FFTCONV_OK && (st = fc_cache_slim(c, FC_CACHE_FINALISTS, 0, &sl, &e)) == FFTCONV_OK &&
      sl.binaries + sl.sources > 0)
    printf("slimmed: dropped the binaries of %" PRId64 " kernels that are no longer a winner or "
           "a finalist\n", sl.binaries);
  fc_cache_close(c);
  /* a cache merged into itself is a usage error: nothing was read or written */
  if (st == FFTCONV_ERR_INVALID) return usage_error("merge: %s", e.msg);
  return st == FFTCONV_OK ? 0 : fail(&e);
}

/* ---- export ---- */

/* SIGINT, SIGTERM, SIGHUP during an export: its temporary files go, then the signal takes
   its default course (SA_RESETHAND; it is re-raised and delivered when the handler returns). */
static void export_signal(int sig) {
  fc_export_cleanup_on_signal();
  raise(sig);
}

static int cmd_export(const char *path, int argc, char **argv) {
  fc_export_opts o = {.cache_path = path, .log = stdout};
  const char *problems = NULL;
  static const char *const valued[] = {"--out", "--device", "--problem", "--problems", "--arch",
                                       "--c-source", "--c-name", "--jobs", NULL};
  const char *jobs = NULL;
  const char **slot[] = {&o.out, &o.device, &o.problem, &problems, &o.archs, &o.c_source,
                         &o.c_name, &jobs};
  for (int i = 0; i < argc; i++) {
    int v = -1;
    for (int k = 0; valued[k]; k++)
      if (!strcmp(argv[i], valued[k])) v = k;
    if (v >= 0) {
      if (i + 1 >= argc || !argv[i + 1][0])
        return usage_error("export: %s needs a value", argv[i]);
      *slot[v] = argv[++i];
    } else if (!strcmp(argv[i], "--force")) {
      o.force = 1;
    } else if (!strcmp(argv[i], "--no-ptx")) {
      o.no_ptx = 1;
    } else if (!strcmp(argv[i], "--compress")) {
      if (i + 1 >= argc || (strcmp(argv[i + 1], "all") && strcmp(argv[i + 1], "ptx")))
        return usage_error("export: --compress takes all or ptx");
      o.plain_cubins = !strcmp(argv[++i], "ptx");
    } else {
      return usage_error("export: %s '%s'", argv[i][0] == '-' ? "unknown option"
                                                              : "unexpected argument", argv[i]);
    }
  }
  if (!o.out) return usage_error("export: needs --out DIR, the bundle directory to write");
  if (jobs) {
    int64_t j;
    char why[256];
    if (!fc_parse_int(jobs, 1, 256, &j, why, sizeof why))
      return usage_error("export: --jobs: %s", why);
    o.jobs = (int)j;
  }
  fc_err e;
  fftconv_problem *ps = NULL;
  int np = 0;
  char **keys = NULL;
  if (problems) {
    fftconv_status st = fc_problem_file_read(problems, &ps, &np, &e);
    /* a problem file that cannot be used is bad input, as fftconv-tune says (exit status 2) */
    if (st == FFTCONV_ERR_INVALID) return usage_error("export: %s", e.msg);
    if (st == FFTCONV_ERR_NOMEM) return fail(&e);
    if (st != FFTCONV_OK) {
      fprintf(stderr, "fftconv-cache: export: %s\n", e.msg);
      return EXIT_USAGE;
    }
    keys = calloc((size_t)np, sizeof *keys);
    for (int i = 0; keys && i < np; i++) {
      char k[256];
      fftconv_problem_key(&ps[i], k, sizeof k);
      keys[i] = strdup(k);
    }
    o.keys = (const char *const *)keys;
    o.nkeys = np;
  }
  fc_export_result r;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = export_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  fftconv_status st = fc_export(&o, &r, &e);
  for (int i = 0; keys && i < np; i++) free(keys[i]);
  free(keys);
  free(ps);
  if (st == FFTCONV_ERR_INVALID) return usage_error("export: %s", e.msg);
  return st == FFTCONV_OK ? 0 : fail(&e);
}

/* Everything fftconv-cache prints passes through escape_write: the strings it prints come from
   a cache file (template names, parameters, devices, messages, logs), which another program
   may have written, and a control byte in one (a terminal escape sequence, a carriage return)
   is written as \xNN instead of reaching the terminal. Line breaks and tabs pass. */
static ssize_t escape_write(void *cookie, const char *buf, size_t n) {
  fc_write_escaped(cookie, buf, n);
  return (ssize_t)n;
}

/* stream, replaced by one that escapes into the original (which stays open underneath) */
static void escape_stream(FILE **stream, int line_buffered) {
  cookie_io_functions_t io = {.write = escape_write};
  FILE *f = fopencookie(*stream, "w", io);
  if (!f) return; /* unescaped output rather than none */
  setvbuf(f, NULL, line_buffered ? _IOLBF : _IONBF, 0);
  *stream = f;
}

int main(int argc, char **argv) {
  escape_stream(&stdout, 1);
  escape_stream(&stderr, 0);
  const char *path = NULL, *cmd = NULL;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int nrest = 0;
  if (!rest) return 1;
  /* --cache and --help may stand anywhere; the first other word is the command */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      free(rest);
      return 0;
    } else if (!strcmp(argv[i], "--cache")) {
      if (i + 1 >= argc || !*argv[i + 1]) {
        free(rest);
        return usage_error("--cache needs a value (a cache file path)");
      }
      path = argv[++i];
    } else if (!strncmp(argv[i], "--cache=", 8)) {
      if (!argv[i][8]) { /* as --cache "" is */
        free(rest);
        return usage_error("--cache needs a value (a cache file path)");
      }
      path = argv[i] + 8;
    } else if (!cmd) {
      if (argv[i][0] == '-') {
        free(rest);
        return usage_error("unknown option '%s'", argv[i]);
      }
      cmd = argv[i];
    } else {
      rest[nrest++] = argv[i];
    }
  }
  int rc;
  if (!cmd)
    rc = usage_error("needs a command: list, show, prune, merge or export");
  else if (!strcmp(cmd, "list"))
    rc = cmd_list(path, nrest, rest);
  else if (!strcmp(cmd, "show"))
    rc = cmd_show(path, nrest, rest);
  else if (!strcmp(cmd, "prune"))
    rc = cmd_prune(path, nrest, rest);
  else if (!strcmp(cmd, "merge"))
    rc = cmd_merge(path, nrest, rest);
  else if (!strcmp(cmd, "export"))
    rc = cmd_export(path, nrest, rest);
  else
    rc = usage_error("unknown command '%s' (expected list, show, prune, merge or export)", cmd);
  free(rest);
  return rc;
}
