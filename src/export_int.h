/* export_int: what export.c (choosing and compiling the images) and export_write.c (the
 * bundle's files: manifest, fatbins, C source) share. */
#ifndef FC_EXPORT_INT_H
#define FC_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

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
} xstate;

/* manifest.json's text for the modules that got a fatbin (bundle.h has the format). */
void fc_export_manifest_text(const xstate *x, fc_str *b);
/* The bundle as C source at path (written beside it, then renamed into place). */
fftconv_status fc_export_write_c(const xstate *x, const char *manifest, size_t mlen,
                                 const char *path, const char *name, fc_err *e);
/* Writes n bytes to path: 1 when all were written and the file closed cleanly. */
int fc_export_write_all(const char *path, const void *data, size_t n);
/* Whether path (an existing directory) is a bundle export wrote, or empty: what --force may
   replace. */
int fc_export_replaceable(const char *path);
/* Removes a directory of plain files (a bundle, or a partial one). */
void fc_export_remove_dir(const char *path);

#endif
