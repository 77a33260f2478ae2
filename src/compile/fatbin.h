/* fatbin: builds a fat binary (cubins for several architectures plus PTX) for the bundles
 * fftconv-cache export writes. The format is NVIDIA's and is written by a tool made for it,
 * never by hand: nvFatbin (libnvfatbin.so.13, loaded at run time with dlopen like libcuda and
 * NVRTC), or, where that library is missing, the toolkit's `fatbinary` program.
 *
 * PTX is always compressed; cubins too when asked (nvFatbin's -compress-all, fatbinary's
 * --compress-all), which makes a bundle less than half its size and its module loads about
 * three times slower (the driver inflates the cubin it picks; bench/NOTES.md, experiment 11).
 * Where nvFatbin is looked for: $FFTCONV_NVFATBIN (a path or soname; then the only one tried,
 * and "none" tries none), else libnvfatbin.so.13 on the loader's path, else the directory
 * CMake found it in at build time (the toolkit's, or the pip wheel's under .deps/). The
 * fallback program: $FFTCONV_FATBINARY, else the toolkit's found at build time, else
 * `fatbinary` on PATH. Tuning side of the library (the runtime only reads fatbins, through
 * the driver). Thread-safe. */
#ifndef FC_FATBIN_H
#define FC_FATBIN_H

#include <stddef.h>

#include "fftconv.h"
#include "util.h"

typedef struct fc_fatbin_image {
  int ptx;           /* 0: a cubin (ELF); 1: PTX text */
  char arch[16];     /* "sm_90" or "sm_90a" (a PTX image's is its virtual arch's number) */
  const void *data;  /* the cubin, or the PTX text (NUL not needed) */
  size_t size;
  const char *ident; /* a name that cuobjdump shows, e.g. "monarch_tc.sm_90" */
} fc_fatbin_image;

/* Builds one fat binary of the n images into *out (malloc'd, *size bytes); compress_cubins:
   compress the cubins as well as the PTX. Same images in the same order give the same bytes. FFTCONV_ERR_NO_COMPILER when neither nvFatbin nor
   fatbinary can be found (the message says what was tried); FFTCONV_ERR_IO when the tool
   rejects an image (its message). */
fftconv_status fc_fatbin_build(const fc_fatbin_image *im, int n, int compress_cubins,
                               void **out, size_t *size, fc_err *e);

/* What fc_fatbin_build uses, e.g. "nvFatbin 13.0 (libnvfatbin.so.13)" or
   "fatbinary (/usr/local/cuda/bin/fatbinary; no nvFatbin: ...)"; into buf. 0 when neither
   is found (buf says what was tried). */
int fc_fatbin_backend(char *buf, size_t len);

#endif
