/* policy: the tuner's choices as types. How hard a search looks (fc_rigor), with the one name
 * it has wherever it leaves C: the tuner's flags and output, a template's space() argument,
 * the cache's rigor column.
 * C code compares the enums; only those boundaries use the names. No Lua, no NVRTC, no
 * driver: every layer may include this header. */
#ifndef FC_POLICY_H
#define FC_POLICY_H

/* Like FFTW's planner flags, in increasing effort (search.h says what each one runs). */
typedef enum fc_rigor {
  FC_RIGOR_ESTIMATE,  /* "estimate": each family's heuristic choice alone */
  FC_RIGOR_SAMPLE,    /* "sample": a covering sample of the exhaustive space (sample.h) */
  FC_RIGOR_MEASURE,   /* "measure": a pruned space, quick round then finalists */
  FC_RIGOR_EXHAUSTIVE /* "exhaustive": everything */
} fc_rigor;
#define FC_RIGOR_COUNT 4

const char *fc_rigor_name(fc_rigor r); /* "estimate" ... "exhaustive"; "?" out of range */
/* 1 and *out when s is one of the names (exactly), else 0 and *out untouched. */
int fc_rigor_parse(const char *s, fc_rigor *out);

#endif
