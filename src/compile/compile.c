/* compile: NVRTC. CUDA source to a cubin for one sm_XY[a] (PTX on request), the log kept and the
 * per-entry resource figures read from the ptxas report NVRTC puts in the log.
 *
 * NVRTC is loaded with dlopen on first use, not linked: an application that plans only from a
 * tuned cache never compiles, and must start where the toolkit is not installed. Like the
 * driver (gpu.c) it is loaded once per process and the outcome, failure message included,
 * remembered.
 *
 * Thread-safe: each call owns its nvrtcProgram and everything it allocates; the only shared
 * state is the function table, written once inside pthread_once. */
#include "compile.h"

#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <nvrtc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The NVRTC entry points this file uses (names without the nvrtc prefix). __typeof__ ties each
   member to nvrtc.h's own declaration, so a signature cannot drift from the header's. */
typedef struct nvrtc_api {
  __typeof__(nvrtcVersion) *Version;
  __typeof__(nvrtcGetErrorString) *GetErrorString;
  __typeof__(nvrtcGetNumSupportedArchs) *GetNumSupportedArchs;
  __typeof__(nvrtcGetSupportedArchs) *GetSupportedArchs;
  __typeof__(nvrtcCreateProgram) *CreateProgram;
  __typeof__(nvrtcDestroyProgram) *DestroyProgram;
  __typeof__(nvrtcCompileProgram) *CompileProgram;
  __typeof__(nvrtcGetProgramLogSize) *GetProgramLogSize;
  __typeof__(nvrtcGetProgramLog) *GetProgramLog;
  __typeof__(nvrtcGetPTXSize) *GetPTXSize;
  __typeof__(nvrtcGetPTX) *GetPTX;
  __typeof__(nvrtcGetCUBINSize) *GetCUBINSize;
  __typeof__(nvrtcGetCUBIN) *GetCUBIN;
} nvrtc_api;

#define NVRTC_SYM(member) {offsetof(nvrtc_api, member), "nvrtc" #member}
static const struct {
  size_t offset;
  const char *name;
} nvrtc_syms[] = {
    NVRTC_SYM(Version),       NVRTC_SYM(GetErrorString),    NVRTC_SYM(GetNumSupportedArchs),
    NVRTC_SYM(GetSupportedArchs), NVRTC_SYM(CreateProgram), NVRTC_SYM(DestroyProgram),
    NVRTC_SYM(CompileProgram), NVRTC_SYM(GetProgramLogSize), NVRTC_SYM(GetProgramLog),
    NVRTC_SYM(GetPTXSize),    NVRTC_SYM(GetPTX),            NVRTC_SYM(GetCUBINSize),
    NVRTC_SYM(GetCUBIN),
};

/* Written inside pthread_once and read only after it. */
static nvrtc_api nv;
static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT;
static fftconv_status nvrtc_load_status;
static fc_err nvrtc_load_err;

#define NVRTC_ADVICE "install the CUDA toolkit's NVRTC or plan from a tuned cache"

/* NVRTC opens libnvrtc-builtins.so.X.Y by soname on its first compilation, which fails when
   NVRTC itself was found outside the loader's path (seen: "failed to open
   libnvrtc-builtins.so.13.0"). The loader answers a soname with a library already loaded, so
   the one beside libnvrtc is loaded now, if it is there; if not, NVRTC says so when it
   compiles. */
static void nvrtc_preload_builtins(void *in_libnvrtc) { /* any address inside libnvrtc */
  Dl_info di;
  int ma = 0, mi = 0;
  if (!dladdr(in_libnvrtc, &di) || !di.dli_fname || nv.Version(&ma, &mi) != NVRTC_SUCCESS)
    return;
  const char *slash = strrchr(di.dli_fname, '/');
  if (!slash) return;
  char path[4096];
  snprintf(path, sizeof path, "%.*s/libnvrtc-builtins.so.%d.%d", (int)(slash - di.dli_fname),
           di.dli_fname, ma, mi);
  dlopen(path, RTLD_NOW | RTLD_LOCAL); /* kept for the life of the process, like libnvrtc */
}

static void nvrtc_load_once(void) {
  /* FFTCONV_NVRTC names the library (a path or a soname) and is the only one tried: a test
     points it at a missing file to be a machine without the toolkit. Otherwise this major
     version's soname on the loader's path, then the same file where CMake found the toolkit
     (/usr/local/cuda is often not on the loader's path), and last the unversioned name, which
     only development installs have. */
  const char *env = getenv("FFTCONV_NVRTC");
  const char *names[3];
  int n = 0;
  if (env && env[0]) {
    names[n++] = env;
  } else {
    names[n++] = "libnvrtc.so.13";
#ifdef FFTCONV_NVRTC_DIR
    names[n++] = FFTCONV_NVRTC_DIR "/libnvrtc.so.13";
#endif
    names[n++] = "libnvrtc.so";
  }
  void *lib = NULL;
  char why[1024] = "";
  for (int i = 0; i < n && !lib; i++) {
    lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib && i == 0) { /* the first reason is the one that explains the rest */
      const char *d = dlerror();
      snprintf(why, sizeof why, "%s", d ? d : "no reason given");
    }
  }
  if (!lib) {
    fc_str also = {0};
    for (int i = 1; i < n; i++)
      fc_str_add(&also, "%s%s", i > 1 ? " and " : "; also tried ", names[i]);
    nvrtc_load_status =
        fc_fail(&nvrtc_load_err, FFTCONV_ERR_NO_COMPILER,
                "no NVRTC: %s%s could not be loaded (%s%s); " NVRTC_ADVICE, names[0],
                env && env[0] ? " (FFTCONV_NVRTC)" : "", why, also.s ? also.s : "");
    fc_str_free(&also);
    return;
  }
  nvrtc_api api;
  memset(&api, 0, sizeof api);
  for (size_t i = 0; i < sizeof nvrtc_syms / sizeof nvrtc_syms[0]; i++) {
    void *f = dlsym(lib, nvrtc_syms[i].name);
    if (!f) {
      nvrtc_load_status = fc_fail(&nvrtc_load_err, FFTCONV_ERR_NO_COMPILER,
                                  "no NVRTC: the library loaded as %s has no symbol %s (it is "
                                  "older than this build expects); " NVRTC_ADVICE,
                                  env && env[0] ? env : "libnvrtc", nvrtc_syms[i].name);
      dlclose(lib);
      return;
    }
    /* POSIX guarantees object and function pointers convert; memcpy keeps ISO C quiet. */
    memcpy((char *)&api + nvrtc_syms[i].offset, &f, sizeof f);
  }
  nv = api; /* the library stays loaded for the life of the process: nv points into it */
  nvrtc_preload_builtins(dlsym(lib, "nvrtcVersion"));
  nvrtc_load_status = FFTCONV_OK;
}

fftconv_status fc_nvrtc_load(fc_err *e) {
  pthread_once(&nvrtc_once, nvrtc_load_once);
  if (nvrtc_load_status != FFTCONV_OK && e)
    snprintf(e->msg, sizeof e->msg, "%s", nvrtc_load_err.msg);
  return nvrtc_load_status;
}

/* `--ptxas-options=--verbose` makes NVRTC append the ptxas report to the program log (checked
   with NVRTC 13.0). No fast-math options: kernels must match the reference closely. */
#define NVRTC_PTXAS_VERBOSE "--ptxas-options=--verbose"

static char *nvrtc_strdup(const char *s) {
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

/* Returns the program log (malloc'd, possibly ""), or NULL when out of memory. */
static char *nvrtc_log(nvrtcProgram prog) {
  size_t n = 0;
  if (nv.GetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return nvrtc_strdup("");
  char *log = malloc(n + 1);
  if (!log) return NULL;
  if (nv.GetProgramLog(prog, log) != NVRTC_SUCCESS) log[0] = 0;
  log[n] = 0;
  return log;
}

/* Whether NVRTC can target sm; writes the supported list ("sm_75 sm_80 ...") into list. */
static int nvrtc_arch_supported(int sm, char *list, size_t len) {
  int n = 0;
  list[0] = 0;
  if (nv.GetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0) return 0;
  int *archs = malloc((size_t)n * sizeof *archs);
  if (!archs) return 0;
  int found = 0;
  if (nv.GetSupportedArchs(archs) == NVRTC_SUCCESS) {
    size_t used = 0;
    for (int i = 0; i < n; i++) {
      if (archs[i] == sm) found = 1;
      if (used < len) {
        int w = snprintf(list + used, len - used, "%ssm_%d", i ? " " : "", archs[i]);
        if (w > 0) used += (size_t)w;
      }
    }
  }
  free(archs);
  return found;
}

/* Finds "<number><suffix>" in line (e.g. " registers") and reads the number before it. */
static int nvrtc_number_before(const char *line, const char *suffix, int *out) {
  const char *p = strstr(line, suffix);
  if (!p) return 0;
  const char *d = p;
  while (d > line && isdigit((unsigned char)d[-1])) d--;
  if (d == p) return 0;
  *out = (int)strtol(d, NULL, 10);
  return 1;
}

/* The quoted name after `key` ("Compiling entry function 'k' ..."). */
static int nvrtc_quoted(const char *line, const char *key, char *name, size_t len) {
  const char *p = strstr(line, key);
  if (!p) return 0;
  p += strlen(key);
  const char *q = strchr(p, '\'');
  if (!q) return 0;
  size_t n = (size_t)(q - p);
  if (n >= len) n = len - 1;
  memcpy(name, p, n);
  name[n] = 0;
  return 1;
}

static int nvrtc_find_entry(const fc_binary *b, const char *name) {
  for (int i = 0; i < b->nentries; i++)
    if (strcmp(b->entries[i].name, name) == 0) return i;
  return -1;
}

/* Reads the ptxas report, which looks like
     ptxas info    : Compiling entry function 'k' for 'sm_90'
     ptxas info    : Function properties for k
     ptxas         .     1600 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
     ptxas info    : Used 32 registers, used 1 barriers, 400 bytes smem, 360 bytes cmem[0]
   Figures are matched by their suffix, not their position, because the order and the set of
   items on a line have changed between CUDA releases. Properties of non-entry functions
   (noinline callees) are skipped: only entries can be launched. */
static void nvrtc_parse_report(const char *log, fc_binary *b) {
  int cur = -1;   /* entry whose "Used ..." line comes next */
  int props = -1; /* entry whose "bytes stack frame" line comes next */
  const char *p = log;
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char line[512];
    if (n >= sizeof line) n = sizeof line - 1;
    memcpy(line, p, n);
    line[n] = 0;
    p = end ? end + 1 : p + strlen(p);
    if (!strstr(line, "ptxas")) continue;

    char name[sizeof b->entries[0].name];
    if (nvrtc_quoted(line, "Compiling entry function '", name, sizeof name)) {
      cur = nvrtc_find_entry(b, name);
      if (cur < 0 && b->nentries < FC_MAX_ENTRIES) {
        cur = b->nentries++;
        memset(&b->entries[cur], 0, sizeof b->entries[cur]);
        snprintf(b->entries[cur].name, sizeof b->entries[cur].name, "%s", name);
      }
      props = -1;
      continue;
    }
    const char *fp = strstr(line, "Function properties for ");
    if (fp) {
      fp += strlen("Function properties for ");
      snprintf(name, sizeof name, "%s", fp);
      size_t k = strlen(name);
      while (k > 0 && isspace((unsigned char)name[k - 1])) name[--k] = 0;
      props = nvrtc_find_entry(b, name);
      continue;
    }
    if (strstr(line, "bytes stack frame")) {
      if (props >= 0) {
        fc_entry_info *x = &b->entries[props];
        nvrtc_number_before(line, " bytes stack frame", &x->stack);
        nvrtc_number_before(line, " bytes spill stores", &x->spill_stores);
        nvrtc_number_before(line, " bytes spill loads", &x->spill_loads);
      }
      props = -1;
      continue;
    }
    if (strstr(line, "Used ") && cur >= 0) {
      fc_entry_info *x = &b->entries[cur];
      nvrtc_number_before(line, " registers", &x->registers);
      nvrtc_number_before(line, " bytes smem", &x->smem_static);
    }
  }
}

/* "NVRTC failed to compile <name> for <arch>:\n<log>", the log cut at a line boundary when
   it does not fit: the first errors are the ones that explain the rest. */
static fftconv_status nvrtc_compile_error(fc_err *e, const char *name, const char *arch,
                                          const char *log, const char *what) {
  if (!e) return FFTCONV_ERR_COMPILE;
  int head = snprintf(e->msg, sizeof e->msg, "NVRTC failed to compile %s for %s%s%s:\n",
                      name, arch, what ? ": " : "", what ? what : "");
  if (head < 0 || (size_t)head >= sizeof e->msg) return FFTCONV_ERR_COMPILE;
  size_t room = sizeof e->msg - (size_t)head - 1;
  size_t n = strlen(log);
  if (n <= room) {
    memcpy(e->msg + head, log, n + 1);
    return FFTCONV_ERR_COMPILE;
  }
  char tail[96];
  int tn = snprintf(tail, sizeof tail, "\n... (log truncated; %zu bytes in all)", n);
  size_t keep = room - (size_t)(tn > 0 ? tn : 0);
  while (keep > 0 && log[keep - 1] != '\n') keep--;
  if (keep == 0) keep = room - (size_t)(tn > 0 ? tn : 0);
  memcpy(e->msg + head, log, keep);
  snprintf(e->msg + head + keep, sizeof e->msg - (size_t)head - keep, "%s", tail);
  return FFTCONV_ERR_COMPILE;
}

/* One NVRTC compile for `arch` ("sm_90a" or "compute_90a"). On success *prog is the compiled
   program; the log is always handed back through *log. */
static nvrtcResult nvrtc_run(const char *source, const char *name, const char *arch,
                             int verbose, nvrtcProgram *prog, char **log) {
  *log = NULL;
  nvrtcResult r = nv.CreateProgram(prog, source, name, 0, NULL, NULL);
  if (r != NVRTC_SUCCESS) return r;
  char archopt[64];
  snprintf(archopt, sizeof archopt, "--gpu-architecture=%s", arch);
  const char *opts[3] = {archopt, "-std=c++17", NVRTC_PTXAS_VERBOSE};
  r = nv.CompileProgram(*prog, verbose ? 3 : 2, opts);
  *log = nvrtc_log(*prog);
  return r;
}

/* PTX of a compiled program (malloc'd), or NULL when it has none. */
static char *nvrtc_ptx(nvrtcProgram prog, size_t *size) {
  size_t n = 0;
  if (nv.GetPTXSize(prog, &n) != NVRTC_SUCCESS || n <= 1) return NULL;
  char *ptx = malloc(n + 1);
  if (!ptx) return NULL;
  if (nv.GetPTX(prog, ptx) != NVRTC_SUCCESS) {
    free(ptx);
    return NULL;
  }
  ptx[n] = 0;
  *size = strlen(ptx);
  return ptx;
}

static fftconv_status nvrtc_compile(const char *source, const char *name, const char *target,
                                    int want_ptx, fc_binary *out, fc_err *e) {
  if (!out) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_compile: out is NULL");
  memset(out, 0, sizeof *out);
  out->log = nvrtc_strdup("");
  if (!out->log) return fc_fail(e, FFTCONV_ERR_NOMEM, "fc_compile: out of host memory");
  if (!source) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_compile: source is NULL");
  if (!name || !name[0]) name = "fftconv.cu";
  const char *arch = out->arch;
  int sm = 0;
  if (!fc_arch_normalize(target, out->arch, &sm))
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "fc_compile: '%s' is not an architecture (expected sm_XY or sm_XYa, e.g. "
                   "sm_90a)", target ? target : "(null)");
  out->sm = sm;
  fftconv_status ls = fc_nvrtc_load(e);
  if (ls != FFTCONV_OK) return ls;

  char archs[512];
  if (!nvrtc_arch_supported(sm, archs, sizeof archs)) {
    int major = 0, minor = 0;
    fc_nvrtc_version(&major, &minor);
    return fc_fail(e, FFTCONV_ERR_INVALID,
                   "%s is not an architecture NVRTC %d.%d can compile for (it supports: %s)",
                   arch, major, minor, archs[0] ? archs : "none reported");
  }

  double t0 = fc_now();
  nvrtcProgram prog = NULL;
  char *log = NULL;
  nvrtcResult r = nvrtc_run(source, name, arch, 1, &prog, &log);
  if (log) {
    free(out->log);
    out->log = log;
  }
  fftconv_status s = FFTCONV_OK;
  if (r == NVRTC_ERROR_OUT_OF_MEMORY) {
    s = fc_fail(e, FFTCONV_ERR_NOMEM, "NVRTC ran out of memory compiling %s for %s", name,
                arch);
  } else if (r == NVRTC_ERROR_COMPILATION) {
    s = nvrtc_compile_error(e, name, arch, out->log, NULL);
  } else if (r != NVRTC_SUCCESS) {
    s = nvrtc_compile_error(e, name, arch, out->log, nv.GetErrorString(r));
  }

  if (s == FFTCONV_OK) {
    size_t n = 0;
    r = nv.GetCUBINSize(prog, &n);
    if (r != NVRTC_SUCCESS || n == 0) {
      s = nvrtc_compile_error(e, name, arch, out->log,
                              r != NVRTC_SUCCESS ? nv.GetErrorString(r) : "no cubin produced");
    } else if (!(out->cubin = malloc(n))) {
      s = fc_fail(e, FFTCONV_ERR_NOMEM, "fc_compile: no memory for a %zu-byte cubin", n);
    } else if ((r = nv.GetCUBIN(prog, out->cubin)) != NVRTC_SUCCESS) {
      s = nvrtc_compile_error(e, name, arch, out->log, nv.GetErrorString(r));
    } else {
      out->cubin_size = n;
    }
  }

  if (s == FFTCONV_OK && want_ptx) {
    /* NVRTC 13 keeps the PTX of a compile for a real sm_XY; older releases may not, so
       when it is missing compile again for the virtual architecture. */
    out->ptx = nvrtc_ptx(prog, &out->ptx_size);
    if (!out->ptx) {
      nvrtcProgram vprog = NULL;
      char *vlog = NULL, varch[32];
      snprintf(varch, sizeof varch, "compute_%s", arch + 3); /* sm_90a -> compute_90a */
      r = nvrtc_run(source, name, varch, 0, &vprog, &vlog);
      if (r == NVRTC_SUCCESS) out->ptx = nvrtc_ptx(vprog, &out->ptx_size);
      if (!out->ptx)
        s = nvrtc_compile_error(e, name, arch, vlog ? vlog : "",
                                r != NVRTC_SUCCESS ? nv.GetErrorString(r) : "no PTX produced");
      free(vlog);
      if (vprog) nv.DestroyProgram(&vprog);
    }
  }

  if (prog) nv.DestroyProgram(&prog);
  if (s == FFTCONV_OK) nvrtc_parse_report(out->log, out);
  out->seconds = fc_now() - t0;
  if (s != FFTCONV_OK) {
    /* Keep the log for the caller; drop half-made outputs. */
    free(out->cubin);
    free(out->ptx);
    out->cubin = NULL;
    out->ptx = NULL;
    out->cubin_size = out->ptx_size = 0;
  }
  return s;
}

/* A report is whole when every entry it names was named once and has its "Used N registers"
   line. Seen on the H100 with 16 concurrent compilations: a log without its report (1 of 94). */
static int nvrtc_report_whole(const fc_binary *b) {
  int named = 0;
  for (const char *p = b->log; (p = strstr(p, "Compiling entry function '")); p++) named++;
  if (b->nentries == 0 || named != b->nentries) return 0;
  for (int i = 0; i < b->nentries; i++)
    if (b->entries[i].registers <= 0) return 0;
  return 1;
}

/* Compilations share the lock; a retry takes it alone, so that its ptxas report cannot be
   disturbed by another compilation in flight. */
static pthread_rwlock_t nvrtc_lock = PTHREAD_RWLOCK_INITIALIZER;

fftconv_status fc_compile(const char *source, const char *name, const char *arch, int want_ptx,
                          fc_binary *out, fc_err *e) {
  pthread_rwlock_rdlock(&nvrtc_lock);
  fftconv_status s = nvrtc_compile(source, name, arch, want_ptx, out, e);
  pthread_rwlock_unlock(&nvrtc_lock);
  if (s == FFTCONV_OK && !nvrtc_report_whole(out)) {
    fc_binary_free(out);
    pthread_rwlock_wrlock(&nvrtc_lock);
    s = nvrtc_compile(source, name, arch, want_ptx, out, e);
    pthread_rwlock_unlock(&nvrtc_lock);
  }
  return s;
}

void fc_binary_free(fc_binary *b) {
  if (!b) return;
  free(b->cubin);
  free(b->ptx);
  free(b->log);
  memset(b, 0, sizeof *b);
}

fftconv_status fc_binary_copy(const fc_binary *b, fc_binary *out, fc_err *e) {
  *out = *b;
  out->cubin = NULL, out->ptx = NULL, out->log = NULL;
  if (b->cubin && (out->cubin = malloc(b->cubin_size))) memcpy(out->cubin, b->cubin, b->cubin_size);
  if (b->ptx) out->ptx = strdup(b->ptx);
  if (b->log) out->log = strdup(b->log);
  if ((b->cubin && !out->cubin) || (b->ptx && !out->ptx) || (b->log && !out->log)) {
    fc_binary_free(out);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  return FFTCONV_OK;
}

const fc_entry_info *fc_binary_entry(const fc_binary *b, const char *name) {
  if (!b || !name) return NULL;
  int i = nvrtc_find_entry(b, name);
  return i < 0 ? NULL : &b->entries[i];
}

int fc_nvrtc_version(int *major, int *minor) {
  int ma = 0, mi = 0;
  if (fc_nvrtc_load(NULL) != FFTCONV_OK || nv.Version(&ma, &mi) != NVRTC_SUCCESS) ma = mi = 0;
  if (major) *major = ma;
  if (minor) *minor = mi;
  return ma > 0;
}

void fc_nvrtc_version_text(char *buf, size_t len) {
  int ma, mi;
  if (fc_nvrtc_version(&ma, &mi)) snprintf(buf, len, "%d.%d", ma, mi);
  else snprintf(buf, len, "none");
}


typedef struct nvrtc_pool {
  const char *const *src, *const *names;
  fc_binary *bins;
  fftconv_status *st;
  const char *arch;
  int n, next;
  pthread_mutex_t mu;
} nvrtc_pool;

static void *nvrtc_worker(void *arg) {
  nvrtc_pool *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    int i = p->next++;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->n) return NULL;
    p->st[i] = fc_compile(p->src[i], p->names[i], p->arch, 0, &p->bins[i], NULL);
  }
}

/* What NVRTC compiles of a source: all after its leading comment, which in a generated
   source holds the template, the parameters and the manifest. */
static const char *code_of(const char *src) {
  const char *end = src && !strncmp(src, "/*", 2) ? strstr(src, "*/") : NULL;
  return end ? end + 2 : src ? src : "";
}

static void compile_pool(const char *const *sources, const char *const *names, int n,
                         const char *arch, int jobs, fc_binary *bins, fftconv_status *st) {
  nvrtc_pool p = {sources, names, bins, st, arch, n, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t th[64];
  int nth = jobs < 1 ? 1 : jobs > 64 ? 64 : jobs, started = 0;
  if (nth > n) nth = n;
  while (started < nth && pthread_create(&th[started], NULL, nvrtc_worker, &p) == 0) started++;
  if (started == 0) nvrtc_worker(&p); /* no threads to be had: compile here */
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

int fc_compile_all(const char *const *sources, const char *const *names, int n,
                   const char *arch, int jobs, fc_binary *bins, fftconv_status *st) {
  /* Sources whose code is the same (candidates that differ only in what the launcher does,
     such as monarch_long's row groups) are compiled once and the binary copied: source i is
     unique source of[i], whose first source is first[j]. */
  size_t m = n > 0 ? (size_t)n : 1;
  int *of = malloc(m * sizeof *of), *first = malloc(m * sizeof *first), nu = 0;
  uint64_t *h = malloc(m * sizeof *h);
  const char **us = calloc(m, sizeof *us), **un = calloc(m, sizeof *un);
  fc_binary *ub = calloc(m, sizeof *ub);
  fftconv_status *ust = calloc(m, sizeof *ust);
  if (!of || !first || !h || !us || !un || !ub || !ust) { /* no memory to share: each alone */
    compile_pool(sources, names, n, arch, jobs, bins, st);
  } else {
    for (int i = 0; i < n; i++) {
      const char *c = code_of(sources[i]);
      h[i] = fc_hash64(FC_HASH64_INIT, c, strlen(c));
      int j = 0;
      while (j < nu && (h[first[j]] != h[i] || strcmp(code_of(sources[first[j]]), c))) j++;
      if (j == nu) first[nu] = i, us[nu] = sources[i], un[nu++] = names[i];
      of[i] = j;
    }
    compile_pool(us, un, nu, arch, jobs, ub, ust);
    for (int i = 0; i < n; i++) {
      int j = of[i];
      fc_err e = {{0}};
      if (first[j] == i) bins[i] = ub[j], st[i] = ust[j]; /* the first takes the binary */
      else st[i] = fc_binary_copy(&ub[j], &bins[i], &e) != FFTCONV_OK ? FFTCONV_ERR_NOMEM : ust[j];
    }
  }
  free(of), free(first), free(h), free(us), free(un), free(ub), free(ust);
  int failed = 0;
  for (int i = 0; i < n; i++) failed += st[i] != FFTCONV_OK;
  return failed;
}
