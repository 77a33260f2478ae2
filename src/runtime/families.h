/* families: every kernel family of the build and what it declares it runs, generated at build
 * time (tools/gen_families.c, into the build directory) from the `runs` table each template
 * returns (templates/<name>.lua; src/emit/family_decl.c reads and checks it). The runtime has
 * no Lua: the problem check's supported sizes (fc_supported_min_n/max_n) and the heuristic
 * fallback's order read this table. Runtime layer. */
#ifndef FC_FAMILIES_H
#define FC_FAMILIES_H

#include <stdint.h>

typedef struct fc_family_decl {
  char name[64];   /* templates/<name>.lua */
  char doc[256];   /* its doc line */
  unsigned ops;    /* bit 1 << fc_op of each op it runs */
  unsigned dtypes; /* bit 1 << fftconv_dtype of each I/O dtype */
  unsigned modes;  /* bit 1 << fftconv_mode of each mode */
  int64_t min_n, max_n; /* the FFT sizes, powers of two */
  int64_t max_taps; /* 0: any filter; else it runs only filters of at most this many taps (and
                       then max_n is the problem's FFT size, for long causal rows) */
  int min_sm;      /* the oldest compute capability, x10 (80: sm_80) */
  int fallback;    /* the heuristic fallback's order, 1 first; 0: not a fallback */
  char retired[256]; /* "": searched; else why the tuner's search leaves it out unless
                        --template names it (measured never to win, bench/NOTES.md) */
} fc_family_decl;

/* The families in name order (the order fc_emit lists templates). */
extern const fc_family_decl fc_families[];
extern const int fc_nfamilies;

#endif
