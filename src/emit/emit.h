/* emit: the sandboxed Lua 5.4 state that runs kernel templates and returns CUDA source.
 *
 * Owns: the embedded template files (templates/ at build time), the sandbox (base, string,
 * table and math only; no io, os, debug, package; text-only chunk loading; reads and writes
 * of undeclared globals are errors; an instruction budget per call) and the translation
 * between C (problem, device, JSON parameter text) and Lua tables.
 * Callers: plan.c and the tuner. One fc_emit per thread: a Lua state is not shared.
 *
 * A template file templates/<name>.lua returns a table:
 *   name      string, equal to the file name without .lua
 *   revision  integer, bumped by hand when generated code or its launch manifest changes
 *             meaning (the hash already changes with any text)
 *   doc       one line
 *   runs      what it runs: ops, dtypes, modes, fft_size, min_sm, fallback (family_decl.h)
 *   space(problem, device, rigor)   -> array of parameter tables: every candidate for rigor
 *                                      "exhaustive", a pruned set for "measure"
 *   check(problem, device, params)  -> true | false, reason   (invalid is a skip, not an error)
 *   default(problem, device)        -> parameter table: the built-in heuristic choice, or
 *                                      nil, reason when the family cannot run the problem
 *   layout(params, device)          -> the launch manifest (kernel.h), as a Lua table of the
 *                                      same shape as its JSON form; or the two-launch
 *                                      shorthand { threads, smem, seqs, prep_threads,
 *                                      prep_smem, prep_seqs, khat, [khat_table], [fwd_entry],
 *                                      [prep_entry] } (filter layout named after the template)
 *   emit(params)                    -> CUDA source text (without the header comment)
 * Parameter tables hold numbers, strings, booleans and arrays of numbers; they cross into C
 * as canonical JSON (keys sorted, no spaces), via templates/lib/json.lua.
 * `require "lib.x"` inside a template loads templates/lib/x.lua from the embedded set.
 * Lua randomises its string hashes per state, so pairs() order differs between states:
 * templates must not let it reach emitted text (json.encode sorts keys).
 * Bad parameter JSON is FFTCONV_ERR_INVALID with the byte offset; the header shows the
 * canonical form.
 *
 * The kernel ABI is the manifest's (kernel.h): each launch names its entry, grid, block,
 * shared memory, cluster and its arguments in order. The shorthand's two launches are
 *   <prep_entry>(const float *k, const float *d, float2 *k_hat, int H, int K, int F)
 *     grid: ceil(H / prep_seqs) blocks of prep_threads, prep_smem bytes. d may be NULL.
 *   <fwd_entry>(const void *u, const void *pre, const void *post, const float2 *k_hat,
 *        void *y, long long rows, int L, int H)
 *     grid: ceil(rows / seqs) blocks of `threads`, `smem` bytes of dynamic shared memory;
 *     rows = B * H; row r is (b, h) with h = r % H.
 *   k_hat holds khat_table float2 values (shared tables), then `khat` float2 values per head.
 */
#ifndef FC_EMIT_H
#define FC_EMIT_H

#include <stdint.h>

#include "families.h"
#include "fftconv.h"
#include "kernel.h"
#include "rigor.h"
#include "templates.h"
#include "util.h"



typedef struct fc_emit fc_emit;

fftconv_status fc_emit_open(fc_emit **out, fc_err *e);
void fc_emit_close(fc_emit *m); /* accepts NULL */
/* Lua VM instructions one call may run before it is stopped (default 200 million; a value
   <= 0 restores the default). */
void fc_emit_set_budget(fc_emit *m, int64_t instructions);
/* Bytes the Lua state may hold (default 1 GiB; 0 restores the default). Past it a call fails
   with FFTCONV_ERR_NOMEM and a message naming the template file and line. */
void fc_emit_set_memory_limit(fc_emit *m, size_t bytes);
/* Adds or replaces templates/<name>.lua with text, as if it had been embedded (tests use
   this for misbehaving templates). */
fftconv_status fc_emit_add_template(fc_emit *m, const char *name, const char *text, fc_err *e);

/* The template names (file names under templates/, lib/ excluded), in sorted order. */
int fc_emit_template_count(const fc_emit *m);
const char *fc_emit_template_name(const fc_emit *m, int i);

typedef struct fc_template_info {
  char name[64];
  int revision;
  char doc[256];
  char hash[17]; /* hex FNV-1a 64 of the template's text and every lib/ file */
} fc_template_info;
fftconv_status fc_emit_info(fc_emit *m, const char *tmpl, fc_template_info *out, fc_err *e);
/* What the template declares it runs (its `runs` table, family_decl.h), checked when its file
   is first loaded: a bad declaration is FFTCONV_ERR_TEMPLATE naming the template and field. */
fftconv_status fc_emit_declaration(fc_emit *m, const char *tmpl, fc_family_decl *out,
                                   fc_err *e);

typedef struct fc_candidate {
  char *params; /* canonical JSON */
  char *reason; /* NULL when check() accepted it, else its reason */
} fc_candidate;
/* space() then check() on each. rigor: FC_RIGOR_MEASURE or FC_RIGOR_EXHAUSTIVE (space() gets
   its name); any other is FFTCONV_ERR_INVALID. *out is malloc'd; free with
   fc_candidates_free. */
fftconv_status fc_emit_space(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                             const fc_device_info *d, fc_rigor rigor, fc_candidate **out,
                             int *n, fc_err *e);
void fc_candidates_free(fc_candidate *c, int n);
/* space, default and check for an op other than forward (shape.h): the template sees its name
   as problem.op. The functions without _op are these for FC_OP_FORWARD. */
fftconv_status fc_emit_space_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                const fc_device_info *d, fc_rigor rigor, fc_candidate **out,
                                int *n, fc_err *e);
fftconv_status fc_emit_default_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                  const fc_device_info *d, char **params, fc_err *e);
fftconv_status fc_emit_check_op(fc_emit *m, const char *tmpl, int op, const fftconv_problem *p,
                                const fc_device_info *d, const char *params, char **reason,
                                fc_err *e);
/* default(): the heuristic choice, as canonical JSON in *params (malloc'd);
   FFTCONV_ERR_UNSUPPORTED with the template's reason when it returns nil. */
fftconv_status fc_emit_default(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                               const fc_device_info *d, char **params, fc_err *e);

/* check() on one parameter set: *reason NULL when it accepts them, else its reason
   (malloc'd). For a kernel compiled again for another device (fftconv-cache export). */
fftconv_status fc_emit_check(fc_emit *m, const char *tmpl, const fftconv_problem *p,
                             const fc_device_info *d, const char *params, char **reason,
                             fc_err *e);

typedef struct fc_layout {
  int threads, smem, seqs;                /* forward kernel */
  int prep_threads, prep_smem, prep_seqs; /* prepare kernel */
  int64_t khat;                           /* float2 values of k_hat per head */
  int64_t khat_table;                     /* float2 values before the heads' (tables) */
} fc_layout;

typedef struct fc_kernel_src {
  char *source;        /* header comment + template output, malloc'd */
  char *params;        /* the canonical JSON parameters, malloc'd */
  char name[96];       /* program name for NVRTC logs, e.g. "monarch_fp32.cu" */
  fc_manifest manifest; /* the launches, workspace and filter layout (kernel.h) */
  fc_template_info info;
} fc_kernel_src;
/* layout() and emit() for one parameter set. The source starts with a comment naming the
   template, its revision and hash, and the parameters. Deterministic. */
fftconv_status fc_emit_kernel(fc_emit *m, const char *tmpl, const char *params,
                              const fc_device_info *d, fc_kernel_src *out, fc_err *e);
void fc_kernel_src_free(fc_kernel_src *k); /* accepts NULL; frees the members */


#endif
