/* launch: modules of a manifest and the generic launcher (see launch.h). */
#include "launch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gpu.h"

/* Finds `entry` and raises its dynamic shared memory limit when it needs more than the 48 KB
   every kernel gets without opting in. */
static fftconv_status module_entry(CUmodule mod, const char *entry, int smem, CUfunction *out,
                                   fc_err *e) {
  char what[256];
  *out = NULL;
  if (!entry || !entry[0]) return FFTCONV_OK;
  CUresult r = fc_cu.ModuleGetFunction(out, mod, entry);
  if (r != CUDA_SUCCESS) {
    snprintf(what, sizeof what, "cuModuleGetFunction(\"%s\")", entry);
    return fc_cuda_check(r, what, e);
  }
  if (smem > 48 * 1024) {
    r = fc_cu.FuncSetAttribute(*out, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
    if (r != CUDA_SUCCESS) {
      snprintf(what, sizeof what,
               "cuFuncSetAttribute(\"%s\", MAX_DYNAMIC_SHARED_SIZE_BYTES, %d bytes)", entry,
               smem);
      return fc_cuda_check(r, what, e);
    }
  }
  return FFTCONV_OK;
}

fftconv_status fc_module_load_entries(const void *cubin, int n, const char *const *entries,
                                      const int *smem, fc_module *m, fc_err *e) {
  if (!m) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_module_load: m is NULL");
  memset(m, 0, sizeof *m);
  if (!cubin) return fc_fail(e, FFTCONV_ERR_INVALID, "fc_module_load: no cubin");
  if (n < 0 || n > FC_MAX_LAUNCHES)
    return fc_fail(e, FFTCONV_ERR_INVALID, "fc_module_load: %d entries (0 to %d)", n,
                   FC_MAX_LAUNCHES);
  fftconv_status s = fc_cuda_load(e);
  if (s != FFTCONV_OK) return s;
  FC_CU(e, fc_cu.ModuleLoadData(&m->mod, cubin));
  for (int i = 0; i < n && s == FFTCONV_OK; i++)
    s = module_entry(m->mod, entries[i], smem[i], &m->fn[i], e);
  if (s != FFTCONV_OK) {
    fc_module_unload(m);
    return s;
  }
  m->n = n;
  return FFTCONV_OK;
}

static int cluster_size(const fc_launch *l) { return l->cluster[0] * l->cluster[1] * l->cluster[2]; }

/* The cuLaunchKernelEx configuration of launch l with a grid of gx x gy x gz blocks. */
static void cluster_config(const fc_launch *l, unsigned gx, unsigned gy, unsigned gz, CUstream st,
                           CUlaunchConfig *cfg, CUlaunchAttribute *at) {
  memset(at, 0, sizeof *at);
  at->id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  at->value.clusterDim.x = (unsigned)l->cluster[0];
  at->value.clusterDim.y = (unsigned)l->cluster[1];
  at->value.clusterDim.z = (unsigned)l->cluster[2];
  memset(cfg, 0, sizeof *cfg);
  cfg->gridDimX = gx;
  cfg->gridDimY = gy;
  cfg->gridDimZ = gz;
  cfg->blockDimX = (unsigned)l->block[0];
  cfg->blockDimY = (unsigned)l->block[1];
  cfg->blockDimZ = (unsigned)l->block[2];
  cfg->sharedMemBytes = (unsigned)l->smem;
  cfg->hStream = st;
  cfg->attrs = at;
  cfg->numAttrs = 1;
}

/* The device must be able to schedule one cluster of l; above 8 blocks (the portable size)
   the function must opt in first. */
static fftconv_status check_cluster(CUfunction f, const fc_launch *l, fc_err *e) {
  char what[160];
  CUresult r = CUDA_SUCCESS;
  if (cluster_size(l) > 8)
    r = fc_cu.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
  CUlaunchAttribute at;
  CUlaunchConfig cfg;
  cluster_config(l, (unsigned)l->cluster[0], (unsigned)l->cluster[1], (unsigned)l->cluster[2],
                 NULL, &cfg, &at);
  int count = 0;
  if (r == CUDA_SUCCESS) r = fc_cu.OccupancyMaxActiveClusters(&count, f, &cfg);
  snprintf(what, sizeof what, "cluster %dx%dx%d of %s", l->cluster[0], l->cluster[1],
           l->cluster[2], l->entry);
  if (r != CUDA_SUCCESS) return fc_cuda_check(r, what, e);
  if (count < 1)
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "%s: the device cannot run one cluster of this "
                   "size with %d threads and %d B of shared memory a block", what,
                   l->block[0] * l->block[1] * l->block[2], l->smem);
  return FFTCONV_OK;
}

fftconv_status fc_module_load(const void *cubin, const fc_manifest *mf, fc_module *m, fc_err *e) {
  const char *entries[FC_MAX_LAUNCHES];
  int smem[FC_MAX_LAUNCHES];
  for (int i = 0; i < mf->nlaunch; i++) {
    entries[i] = mf->launch[i].entry;
    smem[i] = mf->launch[i].smem;
  }
  fftconv_status s = fc_module_load_entries(cubin, mf->nlaunch, entries, smem, m, e);
  for (int i = 0; i < mf->nlaunch && s == FFTCONV_OK; i++)
    if (cluster_size(&mf->launch[i]) > 1) s = check_cluster(m->fn[i], &mf->launch[i], e);
  if (s != FFTCONV_OK) fc_module_unload(m);
  return s;
}

void fc_module_unload(fc_module *m) {
  if (!m) return;
  if (m->mod) fc_cu.ModuleUnload(m->mod);
  memset(m, 0, sizeof *m);
}

int64_t fc_launch_grid_x(const fc_launch *l, const fc_shape *s) {
  int64_t count = l->over == FC_OVER_ROWS ? s->rows : l->over == FC_OVER_HEADS ? s->p.heads : 1;
  int64_t x = (count + l->per - 1) / l->per;
  x = (x + l->cluster[0] - 1) / l->cluster[0] * l->cluster[0];
  return x > 0x7fffffff ? 0 : x;
}

/* Runs the launches of mf for which `want` says yes (phase, or one index): with a row group
   (kernel.h), all of them for the first G rows of the row order, then for the next G, and so
   on, each told its rows and its first row (row0). */
static fftconv_status run_launches(const fc_manifest *mf, const fc_module *m, int phase, int only,
                                   const fc_shape *s, const fc_buffers *b, CUdeviceptr workspace,
                                   CUstream st, fc_err *e) {
  CUdeviceptr buf[FC_ARG_COUNT];
  memcpy(buf, b->p, sizeof buf);
  for (int i = 0; i < mf->nws; i++)
    buf[FC_ARG_WS + i] =
        workspace + (CUdeviceptr)fc_manifest_workspace_offset(mf, s->rows, s->p.heads, i);
  int ints[FC_ARG_COUNT] = {0};
  ints[FC_ARG_L] = (int)s->p.seqlen;
  ints[FC_ARG_H] = (int)s->p.heads;
  ints[FC_ARG_KLEN] = (int)s->K;
  ints[FC_ARG_F] = (int)s->p.freq_keep;
  ints[FC_ARG_N] = (int)s->N;
  ints[FC_ARG_MAJOR] = mf->row_head ? (int)s->p.batch : 1;
  if (mf->row_head && s->rows > (int64_t)UINT32_MAX) /* kernels map head-major rows in 32 bits */
    return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "row_order head: B*H = %" PRId64 " rows, at most "
                   "2^32 - 1 (a candidate in memory order has no such limit)", s->rows);
  /* prepare launches run over the heads once; the others in row groups when there are any */
  int grouped = mf->row_group > 0 &&
                (only >= 0 ? (int)mf->launch[only].phase : phase) != (int)FC_PHASE_PREPARE;
  const int64_t group = grouped ? mf->row_group : s->rows;
  int64_t row0 = 0;
  do { /* once without groups */
    fc_shape gs = *s;
    long long first = row0, rows = s->rows - row0 < group ? s->rows - row0 : group;
    gs.rows = rows;
    for (int i = 0; i < mf->nlaunch; i++) {
      const fc_launch *l = &mf->launch[i];
      if (only >= 0 ? i != only : (int)l->phase != phase) continue;
      if (i >= m->n || !m->fn[i])
        return fc_fail(e, FFTCONV_ERR_INVALID, "launch %s: not in the loaded module", l->entry);
      void *args[FC_MAX_ARGS];
      for (int a = 0; a < l->nargs; a++) {
        int k = l->args[a];
        if (k >= FC_ARG_COUNT) /* an op's own argument (fc_arg_register): nothing binds it yet */
          return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "launch %s: argument '%s' has no binding "
                         "in the launcher", l->entry, fc_arg_name(k, mf));
        args[a] = FC_ARG_IS_BUFFER(k) ? (void *)&buf[k]
                  : k == FC_ARG_ROWS  ? (void *)&rows
                  : k == FC_ARG_ROW0  ? (void *)&first
                                      : (void *)&ints[k];
      }
      int64_t gx = fc_launch_grid_x(l, &gs);
      if (!gx)
        return fc_fail(e, FFTCONV_ERR_UNSUPPORTED, "launch %s: the grid needs more than 2^31 - "
                       "1 blocks", l->entry);
      char what[160];
      snprintf(what, sizeof what, "launch %s (%" PRId64 "x%dx%d blocks of %dx%dx%d, %d B)",
               l->entry, gx, l->grid_y, l->grid_z, l->block[0], l->block[1], l->block[2],
               l->smem);
      CUresult r;
      if (cluster_size(l) == 1) {
        r = fc_cu.LaunchKernel(m->fn[i], (unsigned)gx, (unsigned)l->grid_y, (unsigned)l->grid_z,
                               (unsigned)l->block[0], (unsigned)l->block[1],
                               (unsigned)l->block[2], (unsigned)l->smem, st, args, NULL);
      } else {
        CUlaunchAttribute at;
        CUlaunchConfig cfg;
        cluster_config(l, (unsigned)gx, (unsigned)l->grid_y, (unsigned)l->grid_z, st, &cfg, &at);
        r = fc_cu.LaunchKernelEx(&cfg, m->fn[i], args, NULL);
      }
      if (r != CUDA_SUCCESS) return fc_cuda_check(r, what, e);
    }
    row0 += group;
  } while (grouped && row0 < s->rows);
  return FFTCONV_OK;
}

fftconv_status fc_launch_phase(const fc_manifest *mf, const fc_module *m, fc_phase phase,
                               const fc_shape *s, const fc_buffers *b, CUdeviceptr workspace,
                               CUstream st, fc_err *e) {
  return run_launches(mf, m, (int)phase, -1, s, b, workspace, st, e);
}

fftconv_status fc_launch_only(const fc_manifest *mf, const fc_module *m, int index,
                              const fc_shape *s, const fc_buffers *b, CUdeviceptr workspace,
                              CUstream st, fc_err *e) {
  if (index < 0 || index >= mf->nlaunch)
    return fc_fail(e, FFTCONV_ERR_INVALID, "launch %d: the manifest has %d", index, mf->nlaunch);
  return run_launches(mf, m, -1, index, s, b, workspace, st, e);
}
