/* export_int: what export.c (choosing and compiling the images) and export_write.c (the
 * bundle's files: manifest, fatbins, C source) share. */
#ifndef FC_EXPORT_INT_H
#define FC_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cache.h"
#include "compile.h"
#include "export.h"
#include "kernel.h"

#define MAX_ARCHS 8

/* A winner that matched the filters. */
typedef struct xwin {
  char *key, *device, *tmpl, *hash, *params;
  fftconv_problem p;
  int64_t kernel_id;
  int revision, sm, sms, driver, device_sm;
  double median_ms;
  int module;
  char *mjson;      /* its launch manifest (JSON) */
  void *cubin;      /* its kernel's cubin and PTX as the cache holds them (NULL: none), read
                       with the manifest; plan_module takes them over */
  size_t cubin_size;
  char *ptx;
} xwin;

/* One image of a module: the cached cubin, or a compilation. */
typedef struct ximage {
  int arch_sm;
  char arch[16];
  int want_cubin, want_ptx;
  void *cubin;
  size_t cubin_size;
  char *ptx;
  size_t ptx_size;
  char *source;      /* to compile; NULL when the cache has what is needed */
  fc_binary bin;
  fftconv_status st;
  fc_err err;
} ximage;

/* One kernel: template, hash, params and launches alike. */
typedef struct xmod {
  int first;         /* its first winner (sorted) */
  fc_manifest manifest;
  int nimg;
  ximage img[MAX_ARCHS + 1];
  char ptx_arch[16]; /* "compute_80" or "" */
  int ncubins;
  char cubins[MAX_ARCHS][16];
  char file[128];
  void *fatbin;
  size_t fatbin_size;
} xmod;

typedef struct xstate {
  const fc_export_opts *o;
  fc_export_result *r;
  fc_cache *cache;
  xwin *w;
  int nw, capw;
  xmod *m;
  int nm;
  int narch;
  int arch_sm[MAX_ARCHS];
  char arch[MAX_ARCHS][16];
  int ptx_sm;        /* the PTX's arch, 0: none */
  int nomem;
  int unholdable;    /* winners left out: a string of theirs a bundle cannot hold */
} xstate;

/* A path export writes (--out, --c-source): as the user gave it (every message names it so),
   split into its directory (held open: every step after the checks works from it) and its
   last name, what was there when it was checked, and the temporary name made beside it. */
typedef struct xtarget {
  const char *flag;      /* "--out" */
  const char *given;
  char path[4096];       /* given, trailing slashes dropped ("b/" is b) */
  char dir[4096];        /* its directory ("." when it names none) */
  char base[256];        /* its last name */
  int dirfd;             /* dir, open; -1 */
  int existed;           /* something was at base when checked (a link included) */
  struct stat st;        /* and which (lstat) */
  char tmp[300];         /* the temporary name made in dir ("": none yet) */
  char old_at[300];      /* where what was at base went when it was swapped out ("": not) */
  int placed;            /* 1: the new file is at base */
} xtarget;

/* Where export writes and what it may replace, from the checks before any work to the
   renames that put the bundle (then the C file) in place. */
typedef struct xplace {
  xtarget out, c;
  int has_c, force;
  int reg;               /* 1: registered for fc_export_cleanup_on_signal */
  int oldfd;             /* the bundle being replaced (--force), open; -1 */
  char **named;          /* the files its manifest names: with manifest.json, all that it
                            may hold and all that is removed of it */
  int nnamed;
  int tmpfd;             /* the partial directory, open; -1 */
  const char **files;    /* the names written in it, for the cleanup (fixed capacity: a signal
                            handler may read it) */
  int nfiles, capfiles;
} xplace;

/* manifest.json's text for the modules that got a fatbin (bundle.h has the format). */
void fc_export_manifest_text(const xstate *x, fc_str *b);
/* Whether every winner's parameters and launch manifest are JSON objects, as the manifest
   pastes them: a cache row must not add keys of its own to it. */
fftconv_status fc_export_check_json(const xstate *x, fc_err *e);
/* The checks before any work: --out and --c-source split and their directories opened; what
   is at each may be replaced (--force) only when export wrote it: a directory (never a link)
   whose manifest.json reads as an fftconv bundle and that holds nothing its manifest does not
   name, or an empty one; a regular C file that starts with export's header. Nothing is
   written. */
fftconv_status fc_export_prepare(const fc_export_opts *o, xplace *pl, fc_err *e);
/* Makes the partial directory beside --out (OUT.partial-PID), registered for the signal
   cleanup. */
fftconv_status fc_export_begin(xplace *pl, fc_err *e);
/* Room for n files in the partial directory; before the first fc_export_put_file. */
fftconv_status fc_export_reserve(xplace *pl, int n, fc_err *e);
/* Writes one new file of the bundle (name: the caller's, which stays valid) in the partial
   directory. */
fftconv_status fc_export_put_file(xplace *pl, const char *name, const void *data, size_t n,
                                  fc_err *e);
/* The partial directory's path, for reading the bundle back. */
void fc_export_partial_path(const xplace *pl, char *buf, size_t len);
/* The bundle as C source, written to a temporary name beside --c-source. */
fftconv_status fc_export_write_c(xplace *pl, const xstate *x, const char *manifest, size_t mlen,
                                 const char *name, fc_err *e);
/* Puts the bundle, then the C file, in place: never over anything that appeared meanwhile;
   with --force swapped atomically with what was checked, which is removed only after, file
   by file. A failure puts back what was there. SIGINT, SIGTERM and SIGHUP wait meanwhile. */
fftconv_status fc_export_commit(xplace *pl, fc_err *e);
/* Removes what export made and did not put in place, closes what prepare opened. */
void fc_export_finish(xplace *pl);
/* A test's hook: with $FFTCONV_EXPORT_TEST_PAUSE set to a path, creates that file and waits
   (up to 2 minutes) until it is removed: the moment a test signals the export, or puts
   something where it writes. */
void fc_export_test_pause(void);

#endif
