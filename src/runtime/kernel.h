/* kernel: the kernel ABI. What a family's kernels need of the device (fc_device_info), and
 * the launch manifest a template's layout() returns: the launches in order, their grids,
 * blocks, shared memory and clusters, the arguments each takes by name, the workspace and
 * the filter spectrum. The manifest is stored as one JSON text (fc_manifest_json) and read
 * back by fc_manifest_parse; the generic launcher (launch.h) runs it. No Lua, no NVRTC, no
 * driver: every layer may include this header.
 *
 * Manifest JSON, version 1 (keys in this order; every key required):
 *   {"version":1,
 *    "launches":[{"entry":"fftconv_fwd", "phase":"forward"|"prepare",
 *                 "grid":{"over":"rows"|"heads"|"one","per":P,"y":Y,"z":Z},
 *                 "block":[X,Y,Z], "smem":BYTES, "cluster":[X,Y,Z],
 *                 "args":[NAME...], "reads":[BUFFER...], "writes":[BUFFER...]}, ...],
 *    "workspace":[{"name":"a","per_row":BYTES,"fixed":BYTES[,"per_head":BYTES]}, ...],
 *    "filter":{"layout":"NAME","per_head":BYTES,"fixed":BYTES}[,"row_group":G]
 *    [,"row_order":"rows"|"head"]}
 *   grid.x = ceil(count / per), count = B*H ("rows"), H ("heads") or 1 ("one").
 *   Argument names (fc_arg): buffers u pre post y k d k_hat, the backward's dy du dpre dpost
 *   dk dd, and "ws:NAME" (a workspace region,
 *   at an offset the launcher resolves); scalars rows (long long) and L H K F N (int).
 *   reads and writes name the buffers a launch reads and writes; each must be an argument.
 *   A cluster other than [1,1,1] is launched with cuLaunchKernelEx; grid.x must be a multiple
 *   of cluster[0] (and y, z of theirs).
 *   A workspace region is `fixed + rows * per_row + H * per_head` bytes; per_head (optional,
 *   default 0, written only when not 0) is for what is kept once a head, e.g. a backward's
 *   fp32 spectrum summed over the batch.
 *   The filter spectrum (k_hat) is `fixed + H * per_head` bytes in the named layout: kernels
 *   with the same layout name can share one prepared spectrum.
 *   row_group (optional, written only when not 0): the launches of every phase but prepare
 *   run over the rows in groups of G rows, all of a group's launches before the next group's
 *   (so that a workspace of G rows can stay in the L2 cache between them). For a group,
 *   `rows` is its row count (G, the last one fewer) and `row0` (long long) its first row: a
 *   kernel's row r is row row0 + r of the order below; the workspace is sized for
 *   min(G, B*H) rows and each group uses it from the start. G is even and a multiple of every
 *   such launch's grid.per, and those launches are all over rows.
 *   row_order (optional, written only when "head"): "rows" (the default) runs the rows in
 *   memory order; "head" runs a head's B rows one after another: row x of the order is row
 *   (x % B) * H + x / B of u, the gates and y. The scalar `major` (int) is B for "head" and
 *   1 for "rows", so that a kernel maps x to (x % major) * H + x / major either way (in 32
 *   bits: the launcher refuses head-major rows past 2^32 - 1). */
#ifndef FC_KERNEL_H
#define FC_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "fftconv.h"
#include "util.h"

/* What a template needs to know of the device. Filled by gpu.c from the driver, or from an
   arch name alone for compile-only work (fc_device_info_for_arch). */
typedef struct fc_device_info {
  char name[256];
  int sm;               /* compute capability as major*10 + minor, e.g. 90 */
  int sms;              /* multiprocessors */
  int smem_optin;       /* opt-in shared memory per block, bytes */
  int smem_per_sm;      /* shared memory per multiprocessor, bytes */
  int regs_per_block;
  int regs_per_sm;
  int max_threads;      /* per block */
  int64_t l2_bytes;
  int64_t total_mem;    /* bytes of device memory */
  int driver_version;   /* e.g. 13000; 0 when there is no device */
  char arch[16];        /* compile target, e.g. "sm_90", or "sm_90a" for Hopper-only
                           instructions (wgmma, setmaxnreg); "" means sm_<sm> */
} fc_device_info;

/* d's compile target, written into out and returned: d->arch, or "sm_<sm>" when it is "". */
const char *fc_device_arch(const fc_device_info *d, char out[16]);
/* An architecture name in the form NVRTC takes: "sm_90", "sm_90a", "90" and "90a" (and the
   family-specific "sm_100f") become "sm_90", "sm_90a", ... in out, and *sm the compute
   capability (90). Returns 1; for anything else (NULL, "compute_90", "sm_9", "sm_90x") 0, with
   out "" and *sm 0. The suffix is kept: sm_90a code runs only on sm_90 itself. */
int fc_arch_normalize(const char *in, char out[16], int *sm);

#define FC_MANIFEST_VERSION 1
#define FC_MAX_LAUNCHES 8
#define FC_MAX_ARGS 20
#define FC_MAX_WORKSPACE 4
#define FC_WORKSPACE_ALIGN 256 /* each workspace region starts at a multiple of this */

/* The names a launch's arguments may have. Buffers first (FC_ARG_WS + i is workspace region
   i), then scalars. */
typedef enum fc_arg {
  FC_ARG_U = 0, FC_ARG_PRE, FC_ARG_POST, FC_ARG_Y, FC_ARG_K, FC_ARG_D, FC_ARG_KHAT,
  FC_ARG_WS, /* .. FC_ARG_WS + FC_MAX_WORKSPACE - 1 */
  FC_ARG_ROWS = FC_ARG_WS + FC_MAX_WORKSPACE, FC_ARG_L, FC_ARG_H, FC_ARG_KLEN, FC_ARG_F,
  FC_ARG_N,
  /* the backward's buffers (fftconv_backward_args), after the first ABI's */
  FC_ARG_DY, FC_ARG_DU, FC_ARG_DPRE, FC_ARG_DPOST, FC_ARG_DK, FC_ARG_DD,
  FC_ARG_ROW0,  /* a row group's first row (row_group), long long */
  FC_ARG_MAJOR, /* B when the rows run head-major (row_order "head"), else 1; int */
  FC_ARG_COUNT
} fc_arg;
#define FC_ARG_IS_BUFFER(a) fc_arg_is_buffer(a)

/* The argument table (args.c): the built-in names above, at their enum values, and those an
   op adds (fc_arg_register), from FC_ARG_COUNT on. A buffer is a device pointer; a scalar's
   C type is what the kernel's parameter is declared as. Buffers take a bit of a launch's
   reads/writes masks, so every argument index is below FC_MAX_ARG_DEFS. */
#define FC_MAX_ARG_DEFS 32
typedef enum fc_arg_kind { FC_ARG_BUFFER = 0, FC_ARG_SCALAR } fc_arg_kind;
typedef struct fc_arg_def {
  const char *name;  /* as manifests name it; NULL for a workspace slot ("ws:NAME") */
  fc_arg_kind kind;
  const char *ctype; /* scalars: "long long" or "int"; buffers: NULL */
} fc_arg_def;
const fc_arg_def *fc_arg_get(int a); /* NULL for none (a workspace slot included) */
int fc_arg_count(void);              /* entries, workspace slots included */
int fc_arg_find(const char *name);   /* the index of a named argument, or -1 */
int fc_arg_is_buffer(int a);         /* a buffer or a workspace slot */
/* Internal: adds an argument an op's kernels take. Returns its index, or -1 with e set (a
   bad or taken name, a scalar type other than int and long long, or a full table). */
int fc_arg_register(const fc_arg_def *d, fc_err *e);

/* The phases, by name (args.c): prepare and forward are built in, an op may add its own. A
   manifest names a launch's phase; the plan runs them by index. */
typedef enum fc_phase { FC_PHASE_PREPARE = 0, FC_PHASE_FORWARD, FC_PHASE_BACKWARD } fc_phase;
#define FC_MAX_PHASES 8
extern const char *fc_phase_names[FC_MAX_PHASES];
int fc_phase_count(void);
int fc_phase_find(const char *name); /* -1: none */
/* Internal: adds a phase; its index, or -1 with e set. */
int fc_phase_register(const char *name, fc_err *e);
typedef enum fc_over { FC_OVER_ONE = 0, FC_OVER_ROWS, FC_OVER_HEADS } fc_over;

typedef struct fc_launch {
  char entry[64];        /* a C identifier */
  fc_phase phase;
  fc_over over;
  int per;               /* grid.x = ceil(count / per) */
  int grid_y, grid_z;
  int block[3];
  int smem;              /* dynamic shared memory, bytes */
  int cluster[3];        /* {1, 1, 1}: no cluster */
  int nargs;
  uint8_t args[FC_MAX_ARGS]; /* fc_arg, in the kernel's parameter order */
  uint32_t reads, writes;    /* bit (1u << fc_arg) per buffer */
} fc_launch;

typedef struct fc_workspace_region {
  char name[32];
  int64_t per_row, fixed; /* bytes: fixed + rows * per_row + heads * per_head */
  int64_t per_head;       /* bytes a head (0: none), e.g. a reduction over the batch */
} fc_workspace_region;

typedef struct fc_manifest {
  int nlaunch;
  fc_launch launch[FC_MAX_LAUNCHES];
  int nws;
  fc_workspace_region ws[FC_MAX_WORKSPACE];
  char filter_layout[64];
  int64_t filter_per_head, filter_fixed; /* bytes of k_hat: fixed + H * per_head */
  int64_t row_group; /* rows a group of the non-prepare launches (0: all at once) */
  int row_head;      /* row_order "head": a head's rows one after another */
} fc_manifest;

/* Parses and validates manifest JSON (the form above). FFTCONV_ERR_INVALID with the byte
   offset or the field that is wrong. */
fftconv_status fc_manifest_parse(const char *json, fc_manifest *m, fc_err *e);
/* Checks a manifest built in C: entries, counts, args, reads/writes, clusters. */
fftconv_status fc_manifest_check(const fc_manifest *m, fc_err *e);
/* The canonical JSON text (malloc'd; NULL when out of memory). Parse(json(m)) == m. */
char *fc_manifest_json(const fc_manifest *m);
/* A one-line-per-launch human description, e.g.
   "fftconv_prep (prepare): grid heads/1, 256 threads, 0 B smem; k d -> k_hat", into b. */
void fc_manifest_describe(const fc_manifest *m, const char *indent, fc_str *b);

/* The manifest of the first kernel ABI (schema-3 caches, older templates): a prepare launch
   over heads and a forward launch over rows, with the fixed argument lists
     prep(k, d, k_hat, H, K, F)  and  fwd(u, pre, post, k_hat, y, rows, L, H). */
void fc_manifest_two_launch(fc_manifest *m, const char *fwd_entry, int threads, int smem,
                            int seqs, const char *prep_entry, int prep_threads, int prep_smem,
                            int prep_seqs, int64_t khat, int64_t khat_table,
                            const char *filter_layout);

const char *fc_arg_name(int a, const fc_manifest *m); /* "u", "rows", "ws:a", ... */
const char *fc_phase_name(fc_phase p);                /* "prepare", "forward" */
const char *fc_over_name(fc_over o);                  /* "one", "rows", "heads" */

/* Sizes for a shape: workspace bytes (regions aligned, 0 when none), the offset of region i
   (rows = B * H, heads = H; with a row group, min(G, rows) rows), and the filter spectrum's
   bytes; -1 when the count overflows int64 (a manifest's sizes come from files: plan
   creation refuses such a plan). */
int64_t fc_manifest_workspace_bytes(const fc_manifest *m, int64_t rows, int64_t heads);
int64_t fc_manifest_workspace_offset(const fc_manifest *m, int64_t rows, int64_t heads, int i);
/* Bytes of workspace region i alone: fixed + rows * per_row + heads * per_head (rows as
   given, row group or not), -1 on overflow or for no such region. */
int64_t fc_manifest_region_bytes(const fc_manifest *m, int64_t rows, int64_t heads, int i);
int64_t fc_manifest_filter_bytes(const fc_manifest *m, int64_t heads);
/* The rows the workspace is sized for: min(row_group, rows), or rows without a group. */
int64_t fc_manifest_ws_rows(const fc_manifest *m, int64_t rows);
/* x rounded up to FC_WORKSPACE_ALIGN (where a workspace region, or a second filter layout
   after the first, starts); -1 for x negative or past what int64 rounds. */
int64_t fc_workspace_align(int64_t x);
/* The bytes launch i moves at the least for shape s (struct fc_shape, shape.h): every buffer
   it reads or writes once (twice for both), the filter spectrum and workspace regions at
   their sizes; 0 for no such launch, -1 on overflow. What the tuner prints beside each pass's time. */
struct fc_shape;
int64_t fc_manifest_launch_bytes(const fc_manifest *m, int i, const struct fc_shape *s);
/* The first launch of `phase`, or NULL. */
const fc_launch *fc_manifest_first(const fc_manifest *m, fc_phase phase);
/* The kernel's main launch: its first forward launch, or for a backward kernel (which has
   none) its first backward one; NULL when it has neither. Its entry's registers, shared memory
   and spills are what the tuner reports and stores for the kernel. */
const fc_launch *fc_manifest_main(const fc_manifest *m);
/* The largest dynamic shared memory of any launch of `phase` (-1: of any phase). */
int fc_manifest_max_smem(const fc_manifest *m, int phase);

#endif
