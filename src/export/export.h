/* export: the winners of a cache as a bundle (bundle.h) of fatbins, for fftconv-cache export.
 * For each exported kernel, a cubin for every target architecture: the cached cubin where
 * the kernel was tuned for that architecture, else the kernel emitted again from its template
 * and parameters for that architecture (when the family's check() accepts every problem it
 * serves there, and its launches are the same) and compiled by NVRTC; plus the PTX of the
 * lowest architecture, which the driver compiles for GPUs newer than every cubin. Fatbins are
 * built by fatbin.h. Same cache and options, same bytes. Tuning side of the library.
 *
 * What export writes, and what it may replace: the bundle is written in a temporary directory
 * beside --out (OUT.partial-PID) and the C file under a temporary name beside --c-source, then
 * both are renamed into place, never over something that appeared meanwhile. --force replaces
 * only what export wrote: a directory (never a symbolic link) whose manifest.json reads as an
 * fftconv bundle and that holds nothing else than the files its manifest names, or an empty
 * directory; a regular file that starts with export's header. The new bundle is swapped in
 * atomically, then the old one's files are removed one by one (what its manifest names). A
 * failure, or a signal the program hands to fc_export_cleanup_on_signal, leaves the file
 * system as it was. */
#ifndef FC_EXPORT_H
#define FC_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "fftconv.h"
#include "util.h"

typedef struct fc_export_opts {
  const char *cache_path;      /* NULL: the default cache */
  const char *out;             /* the bundle directory to write */
  const char *device;          /* keep winners of devices whose model contains this
                                  (case-insensitive); NULL: all */
  const char *problem;         /* keep only this problem key; NULL: all */
  const char *const *keys;     /* keep only these problem keys (--problems); NULL: all */
  int nkeys;
  const char *archs;           /* "sm_80,sm_90" (cubins) and compute_XY (PTX); NULL: the
                                  architectures the winners were tuned on */
  int no_ptx;                  /* 1: no PTX unless an arch in archs asks for it */
  int plain_cubins;            /* 1: cubins uncompressed (--compress ptx): faster module loads,
                                  a bundle 2.4 to 2.6 times larger */
  const char *c_source;        /* also write the bundle as C source here; NULL: no */
  const char *c_name;          /* its fftconv_bundle_image's name; NULL: "fftconv_bundle" */
  int force;                   /* replace an existing bundle or C file */
  int jobs;                    /* compile threads; <= 0: one per core */
  FILE *log;                   /* progress and what was left out, or NULL */
} fc_export_opts;

typedef struct fc_export_result {
  int winners;                 /* winners that matched */
  int entries;                 /* entries written */
  int modules;                 /* fatbins written */
  int compiled;                /* NVRTC compilations run */
  int left_out;                /* (kernel, architecture) pairs left out */
  int64_t bytes;               /* bytes of the bundle (manifest and fatbins) */
  double seconds;
} fc_export_result;

/* Writes the bundle. FFTCONV_ERR_INVALID: a bad option (an unknown architecture, a bad C
   name, --c-source the same path as --out or inside it, two architectures of one compute
   capability), the message naming it; FFTCONV_ERR_IO: the cache is missing or not a cache,
   nothing matches the filters, the output exists (without force), is not export's to replace
   or cannot be written;
   FFTCONV_ERR_NO_COMPILER: a kernel must be compiled and there is no NVRTC, or no fatbin
   tool. */
fftconv_status fc_export(const fc_export_opts *o, fc_export_result *r, fc_err *e);

/* For the SIGINT and SIGTERM (and SIGHUP) handler of a program that runs fc_export: removes
   the temporary directory and C file of the export in progress, if any. Async-signal-safe (it
   only unlinks); the handler then re-raises the signal (the library never exits). fc_export
   holds these signals back in its thread while it renames into place, so that a signal comes
   before the renames (the temporary files go) or after them (the new files stay). */
void fc_export_cleanup_on_signal(void);

#endif
