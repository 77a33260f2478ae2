/* rigor: the tuner's choices as types. How hard a search looks (fc_rigor) and what became of
 * a candidate (fc_result_status), each with the one name it has wherever it leaves C: the
 * tuner's flags and output, a template's space() argument, the cache's text columns.
 * C code compares the enums; only those boundaries use the names. No Lua, no NVRTC, no
 * driver: every layer may include this header. */
#ifndef FC_RIGOR_H
#define FC_RIGOR_H

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

/* What became of one candidate of a search. A new result starts PENDING; a compile-only
   search leaves the ones that compiled COMPILED. */
typedef enum fc_result_status {
  FC_RESULT_PENDING = 0,      /* "pending": not compiled yet */
  FC_RESULT_COMPILED,         /* "compiled": compiled (or its binary reused), not run */
  FC_RESULT_OK,               /* "ok": verified (then timed) */
  FC_RESULT_COMPILE_FAILED,   /* "compile-failed" */
  FC_RESULT_VERIFY_FAILED,    /* "verify-failed": ran, wrong answer */
  FC_RESULT_LAUNCH_FAILED,    /* "launch-failed": could not be loaded or run */
  FC_RESULT_CACHED,           /* "cached": measured by an earlier run (resume) */
  FC_RESULT_NOT_RUN,          /* "not-run": the budget ran out or the run was interrupted */
  FC_RESULT_SCREENED          /* "screened": its family's default was far behind; not stored */
} fc_result_status;
#define FC_RESULT_STATUS_COUNT 9

/* The name in tables, progress lines and the cache's status column; "?" out of range. */
const char *fc_result_status_name(fc_result_status s);
/* 1 for a measurement of this run, which the cache stores: OK or a failure (compile, verify,
   launch); 0 for one waiting, compiled only, cached, not run or screened. */
int fc_result_status_measured(fc_result_status s);

#endif
