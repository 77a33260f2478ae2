/* export: a cache's winners as a bundle of fatbins (see export.h and bundle.h). */
#include "export.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "cache.h"
#include "compile.h"
#include "emit.h"
#include "fatbin.h"
#include "export_int.h"
#include "gpu.h"

static void say(const xstate *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const xstate *x, const char *fmt, ...) {
  if (!x->o->log) return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof line) /* a long cache string: cut, and the line still ends */
    memcpy(line + sizeof line - 5, "...\n", 5);
  /* template names, parameters and logs come from the cache: never a terminal escape */
  fc_write_escaped(x->o->log, line, strlen(line));
  fflush(x->o->log);
}

/* ---- architectures ---- */

static int known_arch(int sm) { return fc_device_info_for_arch(sm, NULL); }

static void known_list(char *buf, size_t len) {
  size_t k = 0;
  buf[0] = 0;
  for (int sm = 50; sm < 200; sm++)
    if (known_arch(sm)) {
      int w = snprintf(buf + k, len - k, "%ssm_%d", k ? ", " : "", sm);
      if (w > 0 && (size_t)w < len - k) k += (size_t)w;
    }
}

static int add_arch(xstate *x, const char *norm, int sm) {
  for (int i = 0; i < x->narch; i++)
    if (!strcmp(x->arch[i], norm)) return 1;
  if (x->narch == MAX_ARCHS) return 0;
  int at = x->narch++;
  while (at > 0 && x->arch_sm[at - 1] > sm) { /* ascending */
    x->arch_sm[at] = x->arch_sm[at - 1];
    memcpy(x->arch[at], x->arch[at - 1], 16);
    at--;
  }
  x->arch_sm[at] = sm;
  snprintf(x->arch[at], 16, "%s", norm);
  return 1;
}

/* Another cubin architecture of --arch for compute capability sm than norm (sm_90 for
   sm_90a): their kernels would be one, so the bundle would claim a cubin it lacks. */
static const char *same_capability(const xstate *x, const char *norm, int sm) {
  for (int i = 0; i < x->narch; i++)
    if (x->arch_sm[i] == sm && strcmp(x->arch[i], norm)) return x->arch[i];
  return NULL;
}

/* --arch: sm_XY (a cubin) and compute_XY (PTX), comma-separated. */
static fftconv_status parse_archs(xstate *x, const char *list, fc_err *e) {
  char known[512];
  known_list(known, sizeof known);
  char *copy = strdup(list);
  if (!copy) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  fftconv_status st = FFTCONV_OK;
  int any = 0;
  for (char *save = NULL, *a = strtok_r(copy, ",", &save); a && st == FFTCONV_OK;
       a = strtok_r(NULL, ",", &save)) {
    int ptx = !strncmp(a, "compute_", 8), sm = 0;
    char norm[16];
    const char *twin = NULL;
    any = 1;
    if (!fc_arch_normalize(ptx ? a + 8 : a, norm, &sm) || !known_arch(sm))
      st = fc_fail(e, FFTCONV_ERR_INVALID, "--arch: '%s' is not an architecture this build "
                   "knows (sm_XY for a cubin, compute_XY for PTX; known: %s)", a, known);
    else if (ptx && x->ptx_sm && x->ptx_sm != sm)
      st = fc_fail(e, FFTCONV_ERR_INVALID, "--arch: one PTX architecture at most (compute_%d "
                   "and %s)", x->ptx_sm, a);
    else if (ptx)
      x->ptx_sm = sm;
    else if ((twin = same_capability(x, norm, sm)))
      st = fc_fail(e, FFTCONV_ERR_INVALID, "--arch: %s and %s are both compute capability "
                   "%d.%d, and the cache keeps one kernel a capability: give one of them", twin,
                   norm, sm / 10, sm % 10);
    else if (!add_arch(x, norm, sm))
      st = fc_fail(e, FFTCONV_ERR_INVALID, "--arch: at most %d architectures", MAX_ARCHS);
  }
  free(copy);
  if (st == FFTCONV_OK && !any)
    st = fc_fail(e, FFTCONV_ERR_INVALID, "--arch: empty (give e.g. sm_80,sm_90; known: %s)",
                 known);
  return st;
}

/* ---- the winners ---- */

static char *dup_or(xstate *x, const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) x->nomem = 1;
  return d;
}

/* Whether s fits a bundle's string field of at most max bytes: not empty, no control byte
   (the bundle reader refuses such a field; a damaged or hostile cache can hold one). */
static int holdable(const char *s, size_t max) {
  if (!s || !*s || strlen(s) > max) return 0;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c < 0x20 || *c == 0x7f) return 0;
  return 1;
}

static int collect(const fc_cache_entry *r, void *arg) {
  xstate *x = arg;
  const fc_export_opts *o = x->o;
  if (o->problem && strcmp(o->problem, r->problem_key)) return 0;
  if (o->keys) {
    int in = 0;
    for (int i = 0; i < o->nkeys && !in; i++) in = !strcmp(o->keys[i], r->problem_key);
    if (!in) return 0;
  }
  /* the limits of the bundle reader's fields (bundle.c): checked here, so that such a winner
     is left out by name instead of failing the read-back of the whole bundle */
  const char *bad = !holdable(r->tmpl, FC_BUNDLE_MAX_TEMPLATE)        ? "its template name"
                    : !holdable(r->device, FC_BUNDLE_MAX_DEVICE)       ? "its device name"
                    : !holdable(r->problem_key, FC_BUNDLE_MAX_KEY)     ? "its problem key"
                                                                       : NULL;
  if (bad) {
    say(x, "left out: the winner of %.100s on %.100s (kernel %" PRId64 "): %s is empty, too "
        "long or holds a control byte, which a bundle cannot hold\n",
        r->problem_key ? r->problem_key : "?", r->device ? r->device : "?", r->kernel_id, bad);
    x->unholdable++;
    return 0;
  }
  if (x->nw == x->capw) {
    int cap = x->capw ? 2 * x->capw : 32;
    xwin *w = realloc(x->w, (size_t)cap * sizeof *w);
    if (!w) {
      x->nomem = 1;
      return 1;
    }
    x->w = w;
    x->capw = cap;
  }
  xwin *w = &x->w[x->nw++];
  memset(w, 0, sizeof *w);
  w->key = dup_or(x, r->problem_key);
  w->device = dup_or(x, r->device);
  w->tmpl = dup_or(x, r->tmpl);
  w->hash = dup_or(x, r->hash);
  w->params = dup_or(x, r->params);
  w->p = r->problem;
  w->kernel_id = r->kernel_id;
  w->revision = r->revision;
  w->sm = r->sm;
  w->sms = r->sms;
  w->driver = r->driver_version;
  w->device_sm = r->device_sm;
  w->median_ms = r->median_ms;
  return x->nomem;
}

static int cmp_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* Kernels first (template, params, hash, launches), then the problem and the device: the
   order of modules and entries in the bundle. */
static int cmp_win(const void *pa, const void *pb) {
  const xwin *a = pa, *b = pb;
  int c;
  if ((c = cmp_str(a->tmpl, b->tmpl)) || (c = cmp_str(a->params, b->params)) ||
      (c = cmp_str(a->hash, b->hash)) || (c = cmp_str(a->mjson, b->mjson)) ||
      (c = cmp_str(a->key, b->key)) || (c = cmp_str(a->device, b->device)))
    return c;
  return (a->sm > b->sm) - (a->sm < b->sm);
}

static int same_kernel(const xwin *a, const xwin *b) {
  return !cmp_str(a->tmpl, b->tmpl) && !cmp_str(a->params, b->params) &&
         !cmp_str(a->hash, b->hash) && !cmp_str(a->mjson, b->mjson);
}

/* ---- compiling what the cache lacks ---- */

typedef struct xjobs {
  ximage **img;
  const char **names;
  int n, next;
  pthread_mutex_t lock;
} xjobs;

static void *compile_worker(void *arg) {
  xjobs *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->lock);
    int i = j->next++;
    pthread_mutex_unlock(&j->lock);
    if (i >= j->n) return NULL;
    ximage *im = j->img[i];
    im->st = fc_compile(im->source, j->names[i], im->arch, im->want_ptx, &im->bin, &im->err);
  }
}

static void run_jobs(xjobs *j, int jobs) {
  if (jobs <= 0) jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  if (jobs > 32) jobs = 32;
  if (jobs > j->n) jobs = j->n;
  pthread_t th[32];
  int started = 0;
  pthread_mutex_init(&j->lock, NULL);
  while (started < jobs && pthread_create(&th[started], NULL, compile_worker, j) == 0) started++;
  if (!started) compile_worker(j);
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  pthread_mutex_destroy(&j->lock);
}

/* Plans module m's images: the cached cubin for each target it was tuned for, a source to
   compile for the others that its family accepts (left out, and said, otherwise), and the
   PTX. */
static fftconv_status plan_module(xstate *x, fc_emit *em, int mi, int nwin, fc_err *e) {
  xmod *m = &x->m[mi];
  const xwin *w0 = &x->w[m->first];
  int ptx_sm = x->ptx_sm;
  for (int a = 0; a < x->narch + 1; a++) {
    int sm;
    char arch[16];
    if (a < x->narch) {
      sm = x->arch_sm[a];
      snprintf(arch, sizeof arch, "%s", x->arch[a]);
    } else {
      if (!ptx_sm) break;
      sm = ptx_sm;
      snprintf(arch, sizeof arch, "sm_%d", sm);
    }
    ximage *im = NULL;
    for (int k = 0; k < m->nimg && !im; k++)
      if (m->img[k].arch_sm == sm) im = &m->img[k];
    if (!im) {
      im = &m->img[m->nimg];
      memset(im, 0, sizeof *im);
      im->arch_sm = sm;
      snprintf(im->arch, sizeof im->arch, "%s", arch);
    }
    int cubin = a < x->narch, ptx = a == x->narch;
    /* the cache's own cubin, when a winner of this kernel was tuned for sm */
    xwin *tuned = NULL;
    for (int k = m->first; k < m->first + nwin && !tuned; k++)
      if (x->w[k].sm == sm && x->w[k].cubin) tuned = &x->w[k];
    if (tuned && cubin && !im->cubin && tuned->cubin) {
      im->cubin = tuned->cubin; /* taken over */
      im->cubin_size = tuned->cubin_size;
      tuned->cubin = NULL;
      if (tuned->ptx && !im->ptx) {
        im->ptx = tuned->ptx;
        im->ptx_size = strlen(tuned->ptx);
        tuned->ptx = NULL;
      }
    }
    im->want_cubin |= cubin;
    im->want_ptx |= ptx;
    int need = (cubin && !im->cubin) || (ptx && !im->ptx);
    if (need && !im->source) {
      /* emitted again for sm: every problem it serves must pass check() there, and its
         launches must be those it was tuned with */
      fc_device_info d;
      fc_device_info_for_arch(sm, &d);
      const char *why = NULL;
      char *reason = NULL;
      fc_err te = {{0}};
      fc_kernel_src src = {0};
      char tmpl_hash[17];
      if (fc_template_hash(w0->tmpl, tmpl_hash, &te) != FFTCONV_OK || strcmp(tmpl_hash, w0->hash))
        why = "its template is not this build's (it changed since it was tuned)";
      for (int k = m->first; !why && k < m->first + nwin; k++) {
        char opname[64]; /* checked for the op it was tuned for (the key says which) */
        int op = fc_op_find(fc_key_op_name(x->w[k].key, opname, sizeof opname));
        if (op < 0)
          why = "its op is not one this build knows";
        else if (fc_emit_check_op(em, w0->tmpl, op, &x->w[k].p, &d, w0->params, &reason, &te) !=
                 FFTCONV_OK)
          why = te.msg;
        else if (reason)
          why = reason;
      }
      if (!why && fc_emit_kernel(em, w0->tmpl, w0->params, &d, &src, &te) != FFTCONV_OK)
        why = te.msg;
      char *mj = why ? NULL : fc_manifest_json(&src.manifest);
      if (!why && (!mj || strcmp(mj, w0->mjson)))
        why = mj ? "its launches there differ from those it was tuned with" : "out of memory";
      if (why) {
        char shown[24];
        snprintf(shown, sizeof shown, "%s%s", ptx ? "compute_" : "", ptx ? arch + 3 : arch);
        say(x, "left out: %s %s for %s: %s\n", w0->tmpl, w0->params, shown, why);
        x->r->left_out++;
        if (cubin) im->want_cubin = 0;
        if (ptx) im->want_ptx = 0;
        if (ptx) ptx_sm = 0;
      } else {
        im->source = src.source;
        src.source = NULL;
      }
      free(mj);
      free(reason);
      fc_kernel_src_free(&src);
    }
    if (im == &m->img[m->nimg] && (im->want_cubin || im->want_ptx || im->cubin)) m->nimg++;
    /* the PTX, by default, is the lowest architecture's that has a cubin */
    if (a == x->narch - 1 && !x->o->no_ptx && !x->ptx_sm) {
      ptx_sm = 0;
      for (int k = 0; k < m->nimg && !ptx_sm; k++)
        if (m->img[k].want_cubin) ptx_sm = m->img[k].arch_sm;
      for (int k = 0; k < m->nimg; k++)
        if (m->img[k].want_cubin && m->img[k].arch_sm < ptx_sm) ptx_sm = m->img[k].arch_sm;
    }
  }
  return FFTCONV_OK;
}

static void free_state(xstate *x) {
  for (int i = 0; i < x->nw; i++) {
    xwin *w = &x->w[i];
    free(w->key);
    free(w->device);
    free(w->tmpl);
    free(w->hash);
    free(w->params);
    free(w->mjson);
    free(w->cubin);
    free(w->ptx);
  }
  free(x->w);
  for (int i = 0; i < x->nm; i++) {
    xmod *m = &x->m[i];
    for (int k = 0; k < m->nimg; k++) {
      free(m->img[k].cubin);
      free(m->img[k].ptx);
      free(m->img[k].source);
      fc_binary_free(&m->img[k].bin);
    }
    free(m->fatbin);
  }
  free(x->m);
  fc_cache_close(x->cache);
}

/* Why s cannot be --c-name (NULL: it can). The C file declares s, s_f0..., s_manifest and
   s_files at file scope, beside fftconv.h and the stddef.h and stdint.h it includes, and must
   compile with -Wall -Werror. */
static const char *c_name_problem(const char *s) {
  static const char *const keywords[] = {
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
      "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
      "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
      "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof",
      "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
      "_Thread_local", /* C23's, and GNU C's asm */ "alignas", "alignof", "bool", "constexpr",
      "false", "nullptr", "static_assert", "thread_local", "true", "typeof", "typeof_unqual",
      "_BitInt", "_Decimal32", "_Decimal64", "_Decimal128", "asm", NULL};
  static const char *const taken[] = {"main", "NULL", "offsetof", "SIZE_MAX", "PTRDIFF_MIN",
                                      "PTRDIFF_MAX", "SIG_ATOMIC_MIN", "SIG_ATOMIC_MAX",
                                      "WCHAR_MIN", "WCHAR_MAX", "WINT_MIN", "WINT_MAX", NULL};
  size_t n = strlen(s);
  if (!n) return "is empty";
  if (!(isalpha((unsigned char)*s) || *s == '_'))
    return "is not a C identifier (letters, digits and '_', not starting with a digit)";
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p >= 0x80)
      return "is not a C identifier (letters, digits and '_', not starting with a digit)";
  if (n > 128) return "is longer than 128 characters";
  for (int i = 0; keywords[i]; i++)
    if (!strcmp(s, keywords[i])) return "is a C keyword";
  if (*s == '_') return "begins with '_': such names are reserved for the C implementation";
  if (strstr(s, "__")) return "holds \"__\": such names are reserved for the C implementation";
  if (!strncasecmp(s, "fc_", 3) || !strcasecmp(s, "fc"))
    return "begins with fc_, the library's internal prefix: its names would clash";
  if (!strncasecmp(s, "fftconv", 7) && strcmp(s, "fftconv_bundle"))
    return "begins with fftconv, the library's prefix (only the default, fftconv_bundle, may): "
           "its names would clash (fftconv_ctx_create, fftconv_bundle_image)";
  if (n >= 2 && !strcmp(s + n - 2, "_t"))
    return "ends in _t: such names are reserved for types (POSIX), as size_t is";
  if ((!strncmp(s, "INT", 3) || !strncmp(s, "UINT", 4)) &&
      ((n > 4 && !strcmp(s + n - 4, "_MAX")) || (n > 4 && !strcmp(s + n - 4, "_MIN")) ||
       (n > 2 && !strcmp(s + n - 2, "_C"))))
    return "is reserved for stdint.h's macros";
  for (int i = 0; taken[i]; i++)
    if (!strcmp(s, taken[i]))
      return "is already defined where the C file is compiled (by stddef.h or stdint.h, which "
             "fftconv.h includes, or as the program's main)";
  return NULL;
}

/* What the filters were, for "matches nothing". */
static void filters_text(const fc_export_opts *o, fc_str *b) {
  if (o->device) fc_str_add(b, " --device '%s'", o->device);
  if (o->problem) fc_str_add(b, " --problem '%s'", o->problem);
  if (o->keys) fc_str_add(b, " --problems (%d problem%s)", o->nkeys, o->nkeys == 1 ? "" : "s");
}

/* Compiles every image that needs it; a failure leaves that image out, with its reason. */
static fftconv_status compile_missing(xstate *x, fc_err *e) {
  int n = 0;
  for (int i = 0; i < x->nm; i++)
    for (int k = 0; k < x->m[i].nimg; k++) n += x->m[i].img[k].source != NULL;
  if (!n) return FFTCONV_OK;
  xjobs j = {0};
  j.img = calloc((size_t)n, sizeof *j.img);
  j.names = calloc((size_t)n, sizeof *j.names);
  if (!j.img || !j.names) {
    free(j.img);
    free(j.names);
    return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  }
  for (int i = 0; i < x->nm; i++)
    for (int k = 0; k < x->m[i].nimg; k++)
      if (x->m[i].img[k].source) {
        j.img[j.n] = &x->m[i].img[k];
        j.names[j.n++] = x->w[x->m[i].first].tmpl;
      }
  say(x, "compiling %d kernel%s for the architectures they were not tuned on\n", n,
      n == 1 ? "" : "s");
  double t0 = fc_now();
  run_jobs(&j, x->o->jobs);
  x->r->compiled = n;
  fftconv_status st = FFTCONV_OK;
  for (int i = 0; i < n && st == FFTCONV_OK; i++) {
    ximage *im = j.img[i];
    if (im->st == FFTCONV_ERR_NO_COMPILER || im->st == FFTCONV_ERR_NOMEM) {
      st = fc_fail(e, im->st, "%s", im->err.msg);
    } else if (im->st != FFTCONV_OK) {
      say(x, "left out: %s for %s: it did not compile: %.600s\n", j.names[i], im->arch,
          im->err.msg);
      x->r->left_out++;
      im->want_cubin = im->want_ptx = 0;
    } else {
      if (im->want_cubin && !im->cubin) {
        im->cubin = im->bin.cubin;
        im->cubin_size = im->bin.cubin_size;
        im->bin.cubin = NULL;
      }
      if (im->want_ptx && !im->ptx && im->bin.ptx) {
        im->ptx = im->bin.ptx;
        im->ptx_size = im->bin.ptx_size;
        im->bin.ptx = NULL;
      }
    }
  }
  if (st == FFTCONV_OK) say(x, "compiled in %.1f s\n", fc_now() - t0);
  free(j.img);
  free(j.names);
  return st;
}

/* The fatbin of each module: its cubins in ascending architecture, then its PTX. */
static fftconv_status build_fatbins(xstate *x, fc_err *e) {
  int written = 0;
  for (int i = 0; i < x->nm; i++) {
    xmod *m = &x->m[i];
    fc_fatbin_image im[MAX_ARCHS + 1];
    char ident[MAX_ARCHS + 1][128];
    int n = 0;
    /* the template's name as file names and fatbin identifiers take it: [A-Za-z0-9_] (a
       cache's names are not trusted to be the templates') */
    char tmpl[101];
    snprintf(tmpl, sizeof tmpl, "%s", x->w[m->first].tmpl);
    for (char *p = tmpl; *p; p++)
      if (!isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80) *p = '_';
    if (!tmpl[0]) snprintf(tmpl, sizeof tmpl, "kernel");
    for (int k = 0; k < m->nimg; k++) { /* images are in ascending arch already */
      ximage *g = &m->img[k];
      if (!g->want_cubin || !g->cubin) continue;
      snprintf(ident[n], sizeof ident[n], "%s.%s", tmpl, g->arch);
      im[n] = (fc_fatbin_image){0, "", g->cubin, g->cubin_size, ident[n]};
      snprintf(im[n].arch, sizeof im[n].arch, "%s", g->arch);
      snprintf(m->cubins[m->ncubins++], 16, "%s", g->arch);
      n++;
    }
    for (int k = 0; k < m->nimg; k++) {
      ximage *g = &m->img[k];
      if (!g->want_ptx || !g->ptx) continue;
      snprintf(ident[n], sizeof ident[n], "%s.compute_%s", tmpl, g->arch + 3);
      im[n] = (fc_fatbin_image){1, "", g->ptx, g->ptx_size, ident[n]};
      snprintf(im[n].arch, sizeof im[n].arch, "%s", g->arch);
      snprintf(m->ptx_arch, sizeof m->ptx_arch, "compute_%s", g->arch + 3);
      n++;
      break;
    }
    if (!n) {
      int end = i + 1 < x->nm ? x->m[i + 1].first : x->nw;
      for (int k = m->first; k < end; k++)
        say(x, "left out: %s (tuned on %s): its kernel has no architecture left to export\n",
            x->w[k].key, x->w[k].device);
      continue;
    }
    fftconv_status st = fc_fatbin_build(im, n, !x->o->plain_cubins, &m->fatbin,
                                        &m->fatbin_size, e);
    if (st != FFTCONV_OK) return st;
    snprintf(m->file, sizeof m->file, "k%03d_%s.fatbin", written++, tmpl);
  }
  return FFTCONV_OK;
}

/* --c-name: a C identifier that no symbol of the library takes; the message when not. */
static fftconv_status check_c_name(const char *name, fc_err *e) {
  const char *why = c_name_problem(name);
  if (!why) return FFTCONV_OK;
  char shown[80]; /* the name as given may hold anything: printable ASCII of it */
  size_t k = 0;
  for (const char *p = name; *p && k < 64; p++)
    shown[k++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
  shown[k] = 0;
  return fc_fail(e, FFTCONV_ERR_INVALID, "--c-name: '%s%s' %s", shown, *(name + k) ? "..." : "",
                 why);
}

/* Winner i's kernel: its launches (part of a kernel's identity) and its binaries. */
static fftconv_status read_kernel(xstate *x, int i, fc_err *e) {
  fc_cache_kernel_row row;
  int found = 0;
  fftconv_status st = fc_cache_get_kernel(x->cache, x->w[i].kernel_id, &row, &found, e);
  if (st != FFTCONV_OK) return st;
  if (found) { /* the row malloc'd them: taken over */
    x->w[i].cubin = (void *)row.k.cubin;
    x->w[i].cubin_size = row.k.cubin_size;
    x->w[i].ptx = (char *)row.k.ptx;
    row.k.cubin = NULL;
    row.k.ptx = NULL;
  }
  if (found && !(x->w[i].mjson = fc_manifest_json(&row.k.manifest)))
    st = fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  else if (!found)
    st = fc_fail(e, FFTCONV_ERR_IO, "cache %s: winner %s names kernel %" PRId64 ", which "
                 "it does not have", fc_cache_path(x->cache), x->w[i].key, x->w[i].kernel_id);
  fc_cache_kernel_row_free(&row);
  if (st == FFTCONV_OK && !x->o->archs) {
    char a[16];
    snprintf(a, sizeof a, "sm_%d", x->w[i].sm);
    add_arch(x, a, x->w[i].sm);
  }
  return st;
}

/* The winners the filters select, from the cache, each with its kernel. */
static fftconv_status gather_winners(xstate *x, fc_err *e) {
  const fc_export_opts *o = x->o;
  fftconv_status st = fc_cache_open(o->cache_path, 0, &x->cache, e);
  if (st != FFTCONV_OK) return st;
  fc_cache_filter f = {.device = o->device};
  if ((st = fc_cache_list(x->cache, &f, collect, x, e)) != FFTCONV_OK) return st;
  if (x->nomem) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  if (!x->nw && x->unholdable)
    return fc_fail(e, FFTCONV_ERR_IO, "nothing to export from cache %s: every winner was left "
                   "out (see above)", fc_cache_path(x->cache));
  if (!x->nw) {
    fc_str what = {0};
    filters_text(o, &what);
    st = fc_fail(e, FFTCONV_ERR_IO, "no winner in cache %s%s%s%s", fc_cache_path(x->cache),
                 what.s ? " matches" : " (tune first: fftconv-tune)", what.s ? what.s : "",
                 "");
    fc_str_free(&what);
    return st;
  }
  x->r->winners = x->nw;
  for (int k = 0; o->keys && k < o->nkeys; k++) { /* --problems: say which have no winner */
    int found = 0;
    for (int i = 0; i < x->nw && !found; i++) found = !strcmp(x->w[i].key, o->keys[k]);
    if (!found) say(x, "no winner in the cache for %s: not exported\n", o->keys[k]);
  }
  for (int i = 0; i < x->nw && st == FFTCONV_OK; i++) st = read_kernel(x, i, e);
  if (st == FFTCONV_OK) st = fc_export_check_json(x, e);
  return st;
}

/* Winners sorted so that those of one kernel are adjacent, each group a module; then says
   what will be exported. */
static fftconv_status group_modules(xstate *x, fc_err *e) {
  qsort(x->w, (size_t)x->nw, sizeof *x->w, cmp_win);
  x->m = calloc((size_t)x->nw, sizeof *x->m);
  if (!x->m) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  for (int i = 0; i < x->nw; i++) {
    if (i == 0 || !same_kernel(&x->w[i], &x->w[i - 1])) {
      x->m[x->nm].first = i;
      fc_manifest_parse(x->w[i].mjson, &x->m[x->nm].manifest, NULL);
      x->nm++;
    }
    x->w[i].module = x->nm - 1;
  }
  fc_str archs = {0};
  for (int a = 0; a < x->narch; a++) fc_str_add(&archs, "%s%s", a ? ", " : "", x->arch[a]);
  say(x, "export: %d winner%s of cache %s, %d kernel%s; cubins for %s%s", x->nw,
      x->nw == 1 ? "" : "s", fc_cache_path(x->cache), x->nm, x->nm == 1 ? "" : "s",
      archs.s ? archs.s : "no architecture", x->ptx_sm || !x->o->no_ptx ? ", PTX of " : "");
  if (x->ptx_sm) say(x, "compute_%d\n", x->ptx_sm);
  else if (!x->o->no_ptx) say(x, "the lowest\n");
  else say(x, "\n");
  fc_str_free(&archs);
  return FFTCONV_OK;
}

/* Each module's images (cached or compiled now) into its fatbin. */
static fftconv_status make_fatbins(xstate *x, fc_err *e) {
  fc_emit *em = NULL;
  fftconv_status st = fc_emit_open(&em, e);
  for (int i = 0; i < x->nm && st == FFTCONV_OK; i++) {
    int end = i + 1 < x->nm ? x->m[i + 1].first : x->nw;
    st = plan_module(x, em, i, end - x->m[i].first, e);
  }
  if (st == FFTCONV_OK) st = compile_missing(x, e);
  if (st == FFTCONV_OK) {
    char how[1200];
    fc_fatbin_backend(how, sizeof how);
    say(x, "fatbins by %s; %s compressed\n", how,
        x->o->plain_cubins ? "PTX" : "cubins and PTX");
    st = build_fatbins(x, e);
  }
  fc_emit_close(em);
  return st;
}

/* The fatbins and manifest.json into the partial bundle, which must read back as a bundle;
   then the C source when asked for. mtext gets the manifest's text. */
static fftconv_status write_bundle(xstate *x, xplace *pl, const char *name, fc_str *mtext,
                                   fc_err *e) {
  fc_export_result *r = x->r;
  fftconv_status st = fc_export_reserve(pl, x->nm + 1, e);
  for (int i = 0; i < x->nm && st == FFTCONV_OK; i++) {
    xmod *m = &x->m[i];
    if (!m->fatbin) continue;
    st = fc_export_put_file(pl, m->file, m->fatbin, m->fatbin_size, e);
    r->modules++;
    r->bytes += (int64_t)m->fatbin_size;
    int end = i + 1 < x->nm ? x->m[i + 1].first : x->nw;
    r->entries += end - m->first;
  }
  if (st == FFTCONV_OK && !r->modules)
    st = fc_fail(e, FFTCONV_ERR_IO, "nothing to export: every kernel was left out (see above)");
  if (st != FFTCONV_OK) return st;
  fc_export_manifest_text(x, mtext);
  if (mtext->oom) return fc_fail(e, FFTCONV_ERR_NOMEM, "out of host memory");
  if ((st = fc_export_put_file(pl, FC_BUNDLE_MANIFEST, mtext->s, mtext->len, e)) != FFTCONV_OK)
    return st;
  r->bytes += (int64_t)mtext->len;
  char tmp[8400]; /* what was written must read back as a bundle */
  fc_export_partial_path(pl, tmp, sizeof tmp);
  fc_bundle *b = NULL;
  fc_err be = {{0}};
  if (fc_bundle_open(tmp, NULL, &b, &be) != FFTCONV_OK)
    return fc_fail(e, FFTCONV_ERR_IO, "the bundle written does not read back: %s", be.msg);
  fc_bundle_close(b);
  if (x->o->c_source) st = fc_export_write_c(pl, x, mtext->s, mtext->len, name, e);
  return st;
}

fftconv_status fc_export(const fc_export_opts *o, fc_export_result *r, fc_err *e) {
  fc_export_result dummy;
  if (!r) r = &dummy;
  memset(r, 0, sizeof *r);
  double t0 = fc_now();
  if (!o || !o->out || !o->out[0])
    return fc_fail(e, FFTCONV_ERR_INVALID, "export: needs the bundle directory to write (--out DIR)");
  const char *name = o->c_name ? o->c_name : "fftconv_bundle";
  fftconv_status st = check_c_name(name, e);
  if (st != FFTCONV_OK) return st;
  xstate x = {.o = o, .r = r};
  if (o->archs && (st = parse_archs(&x, o->archs, e)) != FFTCONV_OK) return st;
  xplace pl;
  st = fc_export_prepare(o, &pl, e);
  if (st == FFTCONV_OK) st = fc_export_begin(&pl, e);
  if (st != FFTCONV_OK) {
    fc_export_finish(&pl);
    return st;
  }
  fc_str mtext = {0};
  if ((st = gather_winners(&x, e)) != FFTCONV_OK || (st = group_modules(&x, e)) != FFTCONV_OK ||
      (st = make_fatbins(&x, e)) != FFTCONV_OK ||
      (st = write_bundle(&x, &pl, name, &mtext, e)) != FFTCONV_OK)
    goto done;
  fc_export_test_pause();
  if ((st = fc_export_commit(&pl, e)) != FFTCONV_OK) goto done;
  r->seconds = fc_now() - t0;
  say(&x, "wrote %s: %d kernel%s for %d entr%s, %.2f MB%s%s, in %.1f s\n", o->out, r->modules,
      r->modules == 1 ? "" : "s", r->entries, r->entries == 1 ? "y" : "ies", (double)r->bytes / 1e6,
      o->c_source ? "; C source " : "", o->c_source ? o->c_source : "", r->seconds);
done:
  fc_export_finish(&pl);
  fc_str_free(&mtext);
  free_state(&x);
  return st;
}
