-- monarch_long: the FFT convolution for long sequences (FFT sizes 64K to 4M) in three passes
-- through a workspace, fp32 arithmetic on CUDA cores; runs on every sm_70+ GPU.
--
-- N = N1 * N2 (the four-step FFT): sample n = n1 N2 + n2 sits at row n1, column n2 of an
-- N1 x N2 matrix; frequency k = k1 + N1 k2 at row k1, column k2.
--   pass A (fftconv_cols_fwd): a block takes `tile` columns of a pair of rows and runs the
--     N1-point DFTs down them (pre gate fused), times the twiddles W_N^(n2 k1) / N1, into the
--     workspace Z[k1][n2];
--   pass B (fftconv_rows): a block takes workspace rows k1 and N1 - k1 of a pair, runs the
--     N2-point DFTs along them, multiplies by the filter spectra and runs the inverse DFTs;
--   pass C (fftconv_cols_inv): the inverse twiddles and the N1-point inverse DFTs down the
--     columns, post gate fused, into y.
-- Real input, "pair" strategy: rows 2p and 2p + 1 (any heads) travel as one complex sequence
-- z = u_a + i u_b. Their spectra are separated in pass B, where bin k and its mirror N - k
-- (row N1 - k1, or row k1 itself for k1 = 0 and N1/2) are in the same block:
-- Y = ((Z + conj Z~) K_a + (Z - conj Z~) K_b) / 2, whose inverse is y_a + i y_b.
-- Causal mode (L <= N/2): pass A reads only the rows below L, pass C writes only those.
-- The workspace holds a pair's N complex values in fp32, or in the I/O dtype ("half": half
-- the traffic; pass A's 1/N1 keeps fp16 values within the inputs' range).
-- k_hat: lib/long_parts.lua's (shared with monarch_cluster), written by two prepare launches.
--
-- The backward (op "backward", README "The backward pass") is the same passes in the other
-- direction, on the same spectrum. A row travels alone, as x = v + i g (v = pre u, g = post
-- dy), so that one complex transform carries both of its real sequences:
--   pass A (fftconv_bcols_fwd): the forward's pass A for that one row, and the block's sum of
--     g v (dd's share of its columns: in the time domain, since the same sum taken over P's
--     bins loses about sqrt(L) times more to rounding) into vg;
--   pass B (fftconv_brows): a block per head and workspace rows a, N1 - a, over the batch in
--     order: the row DFTs, V and G separated with the mirror bins, W = K V + i conj(K) G
--     (whose inverse is (z + D v) + i dv: both real) and P += conj(V) G in shared memory (each
--     bin owned by one thread, so the sum is in a fixed order), the inverse DFTs back in place;
--     after the batch, P masked as the filter was and its inverse row DFTs into the per-head
--     workspace p;
--   pass C (fftconv_bcols_inv): the forward's pass C: dpost = dy (z + D v), du = dv pre and
--     dpre = dv u below L;
--   pass D (fftconv_bdk): P's inverse twiddles and column DFTs: dk, the first K lags; dd, the
--     head's vg over the batch and the columns, added in order.
-- An output not asked for is not written, and inputs only it needs are not read.
local tpl = require "lib.tpl"
local common = require "lib.family"
local stockham = require "lib.stockham"
local parts = require "lib.long_parts"

local family = {
  name = "monarch_long",
  revision = 6,
  doc = "long sequences (64K..4M): three passes through a workspace, fp32 on CUDA cores",
  -- What the family runs, read by C (src/emit/family_decl.c; README, "Adding a kernel
  -- family"): the runtime's table of families is generated from it at build time.
  runs = {
    ops = { "forward", "backward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 32768, max = 4194304 }, -- powers of two: the backward's from 32K,
                                                -- the forward's from 64K (BWD_MIN_N)
    min_sm = 70,
    fallback = 5, -- the heuristic fallback tries families in this order
  },
}

local N2S = { 512, 1024, 2048, 4096, 8192 }
local N2S_BWD = { 512, 1024, 2048, 4096 } -- the backward's row pass holds four rows
-- The backward also runs N = 32K, where the one-block families have none.
local BWD_MIN_N = 32768
local function min_n(op) return op == "backward" and BWD_MIN_N or parts.MIN_N end
local TILES = { 8, 16, 32 }
local THREADS = { 128, 256, 512 }
local THREADS_ROWS = { 256, 512, 1024 }
local MAX_REGS_CF = 32 -- complex registers a thread may hold in one FFT stage

local function n1_of(params) return params.fft_size // params.n2 end
local function ws_bytes(params) return params.ws == "fp32" and 8 or 4 end
local function cols_smem(params) return n1_of(params) * params.tile * 8 end
local function rows_smem(params)
  -- the backward's also holds P's two rows
  return (params.op == "backward" and 4 or 2) * parts.row_stride(params.n2) * 8
end

function family.space(problem, device, rigor)
  local n = problem.fft_size
  local out = {}
  if n < min_n(problem.op) or n > parts.MAX_N then return out end
  local backward = problem.op == "backward"
  local wss = (problem.dtype == "fp32" or backward) and { "fp32" } or { "fp32", "half" }
  local tiles, tcs, trs = TILES, THREADS, THREADS_ROWS
  if rigor == "measure" then tiles, tcs, trs = { 16, 32 }, { 256, 512 }, { 512, 1024 } end
  for _, n2 in ipairs(backward and N2S_BWD or N2S) do
    local n1 = n // n2
    if n1 >= 16 and n1 <= 2048 then
      for _, tile in ipairs(tiles) do
        for _, tc in ipairs(tcs) do
          for _, tr in ipairs(trs) do
            for _, ws in ipairs(wss) do
              for _, order in ipairs(backward and { "rows" } or { "rows", "head" }) do
                local groups = { 0 }
                if not backward then groups = family.groups(problem, device, ws, order) end
                -- measure (the default rigor): memory order without groups, head-major
                -- without and with the half-L2 group; exhaustive: every one
                if rigor == "measure" then
                  groups = order == "head" and { groups[1], groups[2] } or { 0 }
                end
                for _, g in ipairs(groups) do
                  out[#out + 1] = {
                    fft_size = n, n2 = n2, tile = tile, threads_cols = tc, threads_rows = tr,
                    ws = ws, dtype = problem.dtype, pre_gate = problem.pre_gate,
                    post_gate = problem.post_gate, op = backward and "backward" or nil,
                    group = g > 0 and g or nil, order = order == "head" and "head" or nil,
                  }
                end
              end
            end
          end
        end
      end
    end
  end
  return out
end

-- The forward's row groups worth trying (0: none): the largest numbers of rows whose
-- workspace takes at most a half and a quarter of the L2 cache, where that is fewer rows than
-- the problem has (README, "Row groups and order"): even (pairs), and in head order whole
-- heads (a multiple of B, so that a group reads its heads' spectra once).
function family.groups(problem, device, ws, order)
  local out = { 0 }
  local per_row = problem.fft_size * (ws == "fp32" and 8 or 4) // 2
  local b = problem.batch or 0
  local rows = b * (problem.heads or 0)
  local unit = 2
  if order == "head" then unit = b % 2 == 0 and b or 2 * b end
  local l2 = device.l2_bytes or 0
  for _, share in ipairs({ 2, 4 }) do
    local g = unit > 0 and l2 // share // per_row // unit * unit or 0
    if g >= 2 and g < rows and g ~= out[#out] then out[#out + 1] = g end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local n = params.fft_size
  why = parts.split_refusal(n, params.n2, min_n(params.op))
  if why then return false, why end
  if params.ws ~= "fp32" and params.ws ~= "half" then return false, "ws must be fp32 or half" end
  if params.order ~= nil and params.order ~= "rows" and params.order ~= "head" then
    return false, "order must be rows or head"
  end
  if params.op == "backward" and params.order == "head" then
    return false, "the backward runs its rows in memory order"
  end
  if params.group ~= nil then
    if params.op == "backward" then return false, "the backward runs without row groups" end
    if math.type(params.group) ~= "integer" or params.group < 2 or params.group % 2 ~= 0 then
      return false, "group must be an even number of rows, at least 2"
    end
  end
  if params.ws == "half" and params.dtype == "fp32" then
    return false, "a half workspace needs fp16 or bf16 I/O"
  end
  if params.op == "backward" then
    if params.ws ~= "fp32" then return false, "the backward's workspace is fp32" end
    if params.n2 > 4096 then return false, "the backward's rows are at most 4096 long" end
  end
  local n2, n1 = params.n2, n1_of(params)
  if params.tile < 1 or params.tile > n2 or params.tile & (params.tile - 1) ~= 0 then
    return false, "tile must be a power of two at most n2"
  end
  if device.sm < 70 then return false, "needs sm_70 or newer" end
  ok, why = common.fits(device, cols_smem(params), params.threads_cols)
  if not ok then return false, "column passes: " .. why end
  ok, why = common.fits(device, rows_smem(params), params.threads_rows)
  if not ok then return false, "row pass: " .. why end
  local rc = stockham.regs(n1, params.tile, params.threads_cols)
  if rc > MAX_REGS_CF then
    return false, string.format("column FFT holds %d complex values a thread (at most %d)", rc,
      MAX_REGS_CF)
  end
  local rr = stockham.regs(n2, 2, params.threads_rows)
  if rr > MAX_REGS_CF // 2 then
    return false, string.format("row FFT holds %d complex values a thread (at most %d)", rr,
      MAX_REGS_CF // 2)
  end
  return true
end

-- The heuristic: rows of 4096 (the backward's: 2048, whose four rows leave room for three
-- blocks an SM) or the nearest, 256 threads for the column passes and 512 for the row pass,
-- fp32 workspace. The forward's columns are at least 32 long (at 64K: 32 x 2048, not
-- 16 x 4096, whose one radix-16 stage keeps 16 of a block's threads busy) and a column block
-- holds at least 1024 values (tile 32 at N1 = 32, else 16): a block of 16 x 16 moves 3 KB,
-- so that launching blocks, not moving bytes, set the pace (bench/NOTES.md 41).
function family.default(problem, device)
  local fwd = problem.op ~= "backward"
  local best_n2 = fwd and 12 or 11
  return common.best(family, problem, device, function(params)
    local n1 = n1_of(params)
    local d = math.abs(math.log(params.n2, 2) - best_n2)
    if fwd and n1 < 32 then d = d + 10 end
    local tile = 16
    if fwd then tile = math.max(16, math.min(32, 1024 // n1)) end
    return d * 100 + math.abs(params.tile - tile) + math.abs(params.threads_cols - 256) / 16
      + math.abs(params.threads_rows - 512) / 16 + (params.ws == "fp32" and 0 or 1000)
      + (params.group and 1000 or 0) + (params.order == "head" and 1000 or 0)
  end)
end

-- The backward's passes (see the top): z, a row's N complex values; vg, a row's sums of g v,
-- one a column block; p, a head's P.
local function backward_layout(params)
  local n, n2, n1 = params.fft_size, params.n2, n1_of(params)
  local tc, tr = params.threads_cols, params.threads_rows
  local outs = { "du", "dpre", "dpost", "dk", "dd" }
  return parts.manifest(n1, n2, {
      { entry = "fftconv_bcols_fwd", phase = "backward", grid = { over = "rows", per = 1, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "u", "pre", "post", "dy", "ws:z", "ws:vg", outs[1], outs[2], outs[3], outs[4],
                 outs[5], "rows", "L" },
        reads = { "u", "pre", "post", "dy" }, writes = { "ws:z", "ws:vg" } },
      { entry = "fftconv_brows", phase = "backward", grid = { over = "heads", per = 1, y = n1 // 2 + 1 },
        block = { tr, 1, 1 }, smem = rows_smem(params),
        args = { "k_hat", "ws:z", "ws:p", "rows", "H", "F" },
        reads = { "k_hat", "ws:z" }, writes = { "ws:z", "ws:p" } },
      { entry = "fftconv_bcols_inv", phase = "backward", grid = { over = "rows", per = 1, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "ws:z", "u", "pre", "dy", "du", "dpre", "dpost", "rows", "L" },
        reads = { "ws:z", "u", "pre", "dy" }, writes = { "du", "dpre", "dpost" } },
      { entry = "fftconv_bdk", phase = "backward", grid = { over = "heads", per = 1, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "ws:p", "ws:vg", "dk", "dd", "rows", "H", "K" },
        reads = { "ws:p", "ws:vg" }, writes = { "dk", "dd" } },
    }, { { name = "z", per_row = 8 * n, fixed = 0 },
         { name = "vg", per_row = 4 * (n2 // params.tile), fixed = 0 },
         { name = "p", per_row = 0, per_head = 8 * n, fixed = 0 } })
end

function family.layout(params, device)
  if params.op == "backward" then
    if params.group then error("the backward runs without row groups (group)", 0) end
    if params.order == "head" then error("the backward runs its rows in memory order (order)", 0) end
    return backward_layout(params)
  end
  local n, n2, n1 = params.fft_size, params.n2, n1_of(params)
  local half_pair = n * ws_bytes(params) // 2
  local tc, tr = params.threads_cols, params.threads_rows
  local m = parts.manifest(n1, n2, {
      { entry = "fftconv_cols_fwd", phase = "forward", grid = { over = "rows", per = 2, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "u", "pre", "ws:z", "rows", "row0", "major", "H", "L" }, reads = { "u", "pre" },
        writes = { "ws:z" } },
      { entry = "fftconv_rows", phase = "forward", grid = { over = "rows", per = 2, y = n1 // 2 + 1 },
        block = { tr, 1, 1 }, smem = rows_smem(params),
        args = { "k_hat", "ws:z", "rows", "row0", "major", "H" }, reads = { "k_hat", "ws:z" },
        writes = { "ws:z" } },
      { entry = "fftconv_cols_inv", phase = "forward", grid = { over = "rows", per = 2, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "ws:z", "post", "y", "rows", "row0", "major", "H", "L" },
        reads = { "ws:z", "post" }, writes = { "y" } },
    }, { { name = "z", per_row = half_pair, fixed = half_pair } })
  m.row_group = params.group
  if params.order == "head" then m.row_order = "head" end
  return m
end

local KERNEL = [[
#define TILE ${tile}
#define TC ${tc}
#define TR ${tr}

// The workspace: complex values in ${ws_doc}.
// wcvt(w): a workspace value already loaded, as complex fp32.
@ if ws == "fp32" then
typedef cf ws_t;
static __device__ __forceinline__ cf wcvt(ws_t w) { return w; }
static __device__ __forceinline__ void stw(ws_t *p, long long i, cf v) { p[i] = v; }
@ else
typedef unsigned int ws_t;
static __device__ __forceinline__ cf wcvt(ws_t w) {
  return cf{cvt((io_t)(w & 0xffffu)), cvt((io_t)(w >> 16))};
}
static __device__ __forceinline__ void stw(ws_t *p, long long i, cf v) {
  io_t h[2];
  st(h, 0, v.r);
  st(h, 1, v.i);
  p[i] = (unsigned int)h[0] | ((unsigned int)h[1] << 16);
}
@ end
static __device__ __forceinline__ cf ldw(const ws_t *p, long long i) { return wcvt(p[i]); }

// Workspace columns [c0, c0 + TILE) of one row (or pair) times W_N^(-n2 k1) into s, the
// loads of NB elements issued together (as load_cols's).
static __device__ __forceinline__ void load_ws_cols(cf *s, const ws_t *__restrict__ zp, int c0) {
  constexpr int CNT = N1 * TILE, NB = NB_OF(CNT, TC);
  for (int i0 = threadIdx.x; i0 < CNT; i0 += NB * TC) {
    ws_t w[NB];
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const int i = i0 + k * TC;
      if (i < CNT) w[k] = zp[(long long)(i / TILE) * N2 + c0 + i % TILE];
    }
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const int i = i0 + k * TC, k1 = i / TILE, n2 = c0 + i % TILE;
      if (i < CNT) s[i] = cmul(wcvt(w[k]), twiddle(k1 * n2, 1.0f));
    }
  }
}

// The column passes' blocks: the grid is (rows or pairs, N2 / TILE) as the manifest gives it,
// but a block's number in launch order, x fastest, is read tile fastest: the blocks that run
// together take neighbouring column tiles of one row (or pair), so that together they read
// and write whole rows (whole DRAM pages) instead of one short segment of many rows each.
struct col_block { long long r; int c0; };
static __device__ __forceinline__ col_block col_block_of() {
  const unsigned long long b = blockIdx.x + (unsigned long long)gridDim.x * blockIdx.y;
  return col_block{(long long)(b / (N2 / TILE)), (int)(b % (N2 / TILE)) * TILE};
}

// The rows in the order the candidate runs them (README, "Row groups and order"): row x of
// the order (x = row0 + the launch's row) is row (x % major) H + x / major of u, the gates
// and y; major is B when a head's rows run one after another (order "head"), else 1.
// (In 32 bits: the launcher refuses head-major rows past 2^32, and a 64-bit division's
// subroutine would hold registers in every pass.)
static __device__ __forceinline__ long long row_at(long long x, int major, int H) {
  const unsigned ux = (unsigned)x, um = (unsigned)major;
  return major == 1 ? x : (long long)(ux % um) * H + ux / um;
}

// A column block's pair (rows 2p and 2p + 1 of the launch, p = cb.r): the first's row r0 in
// u, the gates and y, the second's distance from it (d1), and whether it exists.
struct col_pair { long long r0, d1; bool two; };
static __device__ __forceinline__ col_pair col_pair_of(long long p, long long rows,
                                                       long long row0, int major, int H) {
  const bool two = 2 * p + 1 < rows;
  const long long r0 = row_at(row0 + 2 * p, major, H);
  return col_pair{r0, two ? row_at(row0 + 2 * p + 1, major, H) - r0 : 1, two};
}

${fft_cols_fwd}

${fft_cols_inv}

${fft_rows_fwd}

${fft_rows_inv}

@ if op == "backward" then
// Whether filter bin f (< N) is kept by the frequency mask F (0: all).
static __device__ __forceinline__ bool kept(int f, int F) {
  return F == 0 || (f < N - f ? f : N - f) < F;
}

// The backward's product of workspace rows a and b = N1 - a (b = a for a = 0 and N1/2) of one
// row x = v + i g after their forward DFTs, at ra and rb (padded), in place; P's rows at pa
// and pb. One thread takes bin k = (a, e) and its mirror N - k (as filter_pair):
//   V = (X[k] + conj X[N-k]) / 2, G = (X[k] - conj X[N-k]) / 2i,
//   W[k] = K V + i conj(K) G, W[N-k] = conj(K V) + i conj(conj(K) G), P[k] += conj(V) G and
//   P[N-k] += its conjugate (v, g and k real: their spectra are Hermitian). A bin that is its
//   own mirror (k = 0, N/2) is written and summed once.
static __device__ __forceinline__ void bwd_pair(cf *ra, cf *rb, cf *pa, cf *pb, int a, int b,
                                                const cf *__restrict__ kh, int tid, int nthr) {
  cf *rm = a == b ? ra : rb, *pm = a == b ? pa : pb;
  for (int t = tid; t < (a == b ? N2 / 2 + 1 : N2); t += nthr) {
    int e = t, me = a == 0 ? (N2 - e) & (N2 - 1) : N2 - 1 - e;
    if (a == b && a != 0 && e == N2 / 2) continue; // row N1/2: slots below N2/2 pair them all
    cf z0 = ra[PAD(e)], z1 = cconj(rm[PAD(me)]);
    cf v = cscale(cadd(z0, z1), 0.5f), d = csub(z0, z1);
    cf g = cf{0.5f * d.i, -0.5f * d.r};
    cf k = kh[(long long)a * N2 + e];
    cf y = cmul(k, v), dv = cmul(cconj(k), g);
    cf pk = cmul(cconj(v), g);
    ra[PAD(e)] = cf{y.r - dv.i, y.i + dv.r};
    pa[PAD(e)] = cadd(pa[PAD(e)], pk);
    if (rm != ra || me != e) {
      rm[PAD(me)] = cf{y.r + dv.i, dv.r - y.i};
      pm[PAD(me)] = cadd(pm[PAD(me)], cconj(pk));
    }
  }
}

// Pass A of the backward: row r as x = v + i g (v read only when dpost, dk or dd is asked for;
// g only when du, dpre, dk or dd is); N1-point DFTs down columns n2 in [c0, c0 + TILE)
// (col_block_of), times W_N^(n2 k1) / N1, into Z[r][k1][n2]; when dd is asked for, the block's
// sum of g v (each thread's in order, then its warp's by shuffles, then the warps' in order)
// into vg[r][c0 / TILE].
extern "C" __global__ void __launch_bounds__(TC)
fftconv_bcols_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
                  const io_t *__restrict__ post, const io_t *__restrict__ dy,
                  ws_t *__restrict__ z, float *__restrict__ vg, const io_t *du,
                  const io_t *dpre, const io_t *dpost, const float *dk, const float *dd,
                  long long rows, int L) {
  extern __shared__ cf s[];
  __shared__ float wsum[TC / 32];
  const col_block cb = col_block_of();
  const long long r = cb.r;
  const int c0 = cb.c0;
  const bool need_v = dpost || dk || dd, need_g = du || dpre || dk || dd;
  float t = 0.0f;
  constexpr int CNT = N1 * TILE, NB = NB_OF(CNT, TC);
  for (int i0 = threadIdx.x; i0 < CNT; i0 += NB * TC) { // loads batched as load_cols's
    io_t a[NB], d[NB];
@   if pre_gate then
    io_t pa[NB];
@   end
@   if post_gate then
    io_t pd[NB];
@   end
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<TILE, TC>(i0, k, c0, r, L);
      const bool iv = e.in && need_v, ig = e.in && need_g;
      a[k] = iv ? u[e.g] : (io_t)0;
      d[k] = ig ? dy[e.g] : (io_t)0;
@   if pre_gate then
      pa[k] = iv ? pre[e.g] : (io_t)0;
@   end
@   if post_gate then
      pd[k] = ig ? post[e.g] : (io_t)0;
@   end
    }
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const int i = i0 + k * TC;
      if (i >= CNT) continue;
@   if pre_gate then
      const float xr = cvt(a[k]) * cvt(pa[k]);
@   else
      const float xr = cvt(a[k]);
@   end
@   if post_gate then
      const float xi = cvt(d[k]) * cvt(pd[k]);
@   else
      const float xi = cvt(d[k]);
@   end
      t += xr * xi;
      s[i] = cf{xr, xi};
    }
  }
  if (dd) {
    for (int o = 16; o > 0; o /= 2) t += __shfl_down_sync(0xffffffffu, t, o);
    if (threadIdx.x % 32 == 0) wsum[threadIdx.x / 32] = t;
  }
  __syncthreads();
  if (dd && threadIdx.x == 0) {
    float b = 0.0f;
    for (int w = 0; w < TC / 32; w++) b += wsum[w];
    vg[r * (N2 / TILE) + c0 / TILE] = b;
  }
  fft_cols_fwd(s);
  ws_t *zp = z + r * N;
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int k1 = i / TILE, n2 = c0 + i % TILE;
    stw(zp, (long long)k1 * N2 + n2, cscale(cmul(s[i], twiddle(k1 * n2, -1.0f)), 1.0f / N1));
  }
}

// Pass B of the backward: head h = blockIdx.x, workspace rows a = blockIdx.y and b = N1 - a,
// rows b H + h for b = 0 .. B-1 in order (see bwd_pair); then P masked, through the inverse
// row DFTs, into p[h].
extern "C" __global__ void __launch_bounds__(TR)
fftconv_brows(const cf *__restrict__ k_hat, ws_t *__restrict__ z, cf *__restrict__ p,
              long long rows, int H, int F) {
  extern __shared__ cf s[];
  cf *acc = s + 2 * RSTRIDE;
  const int h = blockIdx.x, a = blockIdx.y, b = (N1 - a) & (N1 - 1);
  const long long B = rows / H;
  const cf *kh = k_hat + (long long)h * N;
  for (int i = threadIdx.x; i < 2 * RSTRIDE; i += TR) acc[i] = cf{0.0f, 0.0f};
  for (long long bi = 0; bi < B; bi++) {
    ws_t *zp = z + (bi * H + h) * (long long)N;
    for (int i = threadIdx.x; i < 2 * N2; i += TR) {
      int q = i / N2, e = i % N2;
      s[q * RSTRIDE + PAD(e)] = ldw(zp, (long long)(q ? b : a) * N2 + e);
    }
    __syncthreads();
    fft_rows_fwd(s);
    bwd_pair(s, s + RSTRIDE, acc, acc + RSTRIDE, a, b, kh, threadIdx.x, TR);
    __syncthreads();
    fft_rows_inv(s);
    for (int i = threadIdx.x; i < 2 * N2; i += TR) {
      int q = i / N2, e = i % N2;
      if (q == 0 || b != a) stw(zp, (long long)(q ? b : a) * N2 + e, s[q * RSTRIDE + PAD(e)]);
    }
    __syncthreads();
  }
  for (int e = threadIdx.x; e < N2; e += TR) {
    if (!kept(a + N1 * e, F)) acc[PAD(e)] = cf{0.0f, 0.0f};
    if (!kept(b + N1 * e, F)) acc[RSTRIDE + PAD(e)] = cf{0.0f, 0.0f};
  }
  __syncthreads();
  fft_rows_inv(acc);
  cf *pp = p + (long long)h * N;
  for (int i = threadIdx.x; i < 2 * N2; i += TR) {
    int q = i / N2, e = i % N2;
    if (q == 0 || b != a) pp[(long long)(q ? b : a) * N2 + e] = acc[q * RSTRIDE + PAD(e)];
  }
}

// Pass C of the backward: times W_N^(-n2 k1), N1-point inverse DFTs down the columns: Re is
// z + D v, Im is dv; below L, dpost = dy (z + D v), du = dv pre, dpre = dv u.
extern "C" __global__ void __launch_bounds__(TC)
fftconv_bcols_inv(const ws_t *__restrict__ z, const io_t *__restrict__ u,
                  const io_t *__restrict__ pre, const io_t *__restrict__ dy,
                  io_t *__restrict__ du, io_t *__restrict__ dpre, io_t *__restrict__ dpost,
                  long long rows, int L) {
  extern __shared__ cf s[];
  if (!du && !dpre && !dpost) return;
  const col_block cb = col_block_of();
  const long long r = cb.r;
  const int c0 = cb.c0;
  const ws_t *zp = z + r * N;
  load_ws_cols(s, zp, c0);
  __syncthreads();
  fft_cols_inv(s);
  constexpr int CNT = N1 * TILE, NB = NB_OF(CNT, TC);
  for (int i0 = threadIdx.x; i0 < CNT; i0 += NB * TC) { // loads batched as load_cols's
    io_t dv[NB], uv[NB];
@   if pre_gate then
    io_t pv[NB];
@   end
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<TILE, TC>(i0, k, c0, r, L);
      dv[k] = e.in && dpost ? dy[e.g] : (io_t)0;
      uv[k] = e.in && dpre ? u[e.g] : (io_t)0;
@   if pre_gate then
      pv[k] = e.in && du ? pre[e.g] : (io_t)0;
@   end
    }
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<TILE, TC>(i0, k, c0, r, L);
      if (!e.in) continue;
      const cf x = s[e.i];
      if (dpost) st(dpost, e.g, cvt(dv[k]) * x.r);
@   if pre_gate then
      if (du) st(du, e.g, x.i * cvt(pv[k]));
@   else
      if (du) st(du, e.g, x.i);
@   end
      if (dpre) st(dpre, e.g, x.i * cvt(uv[k]));
    }
  }
}

// Pass D of the backward: head h = blockIdx.x's P (inverse row DFTs done) times W_N^(-n2 k1),
// N1-point inverse DFTs down columns [blockIdx.y TILE, +TILE): dk, the first K lags, times
// N1 / N2 (P's bins carry pass A's 1/N1 twice; the inverse is 1/N); dd = the head's vg over
// the batch and the column blocks, in order.
extern "C" __global__ void __launch_bounds__(TC)
fftconv_bdk(const cf *__restrict__ p, const float *__restrict__ vg, float *__restrict__ dk,
            float *__restrict__ dd, long long rows, int H, int K) {
  extern __shared__ cf s[];
  const int h = blockIdx.x, c0 = blockIdx.y * TILE;
  const float scale = (float)N1 / (float)N2;
  if (dd && blockIdx.y == 0 && threadIdx.x == 0) {
    float t = 0.0f;
    for (long long r = h; r < rows; r += H)
      for (int c = 0; c < N2 / TILE; c++) t += vg[r * (N2 / TILE) + c];
    dd[h] = t;
  }
  if (!dk || c0 >= K) return; // every lag of these columns is past K
  const cf *pp = p + (long long)h * N;
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int k1 = i / TILE, n2 = c0 + i % TILE;
    s[i] = cmul(pp[(long long)k1 * N2 + n2], twiddle(k1 * n2, 1.0f));
  }
  __syncthreads();
  fft_cols_inv(s);
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int n = (i / TILE) * N2 + c0 + i % TILE;
    if (n < K) dk[(long long)h * K + n] = s[i].r * scale;
  }
}
@ else
// Pass A: rows 2p and 2p+1 as z = u_a + i u_b; N1-point DFTs down columns
// n2 in [c0, c0 + TILE) (col_block_of), times W_N^(n2 k1) / N1, into Z[p][k1][n2].
extern "C" __global__ void __launch_bounds__(TC)
fftconv_cols_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre, ws_t *__restrict__ z,
                 long long rows, long long row0, int major, int H, int L) {
  extern __shared__ cf s[];
  const col_block cb = col_block_of();
  const col_pair pr = col_pair_of(cb.r, rows, row0, major, H);
  const int c0 = cb.c0;
  load_cols<TILE, TC>(s, u, pre, pr.r0, pr.two, c0, L, pr.d1);
  __syncthreads();
  fft_cols_fwd(s);
  ws_t *zp = z + cb.r * N;
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int k1 = i / TILE, n2 = c0 + i % TILE;
    stw(zp, (long long)k1 * N2 + n2, cscale(cmul(s[i], twiddle(k1 * n2, -1.0f)), 1.0f / N1));
  }
}

// Pass B: workspace rows a = blockIdx.y and b = N1 - a (b = a for a = 0 and N1/2) of pair p:
// N2-point DFTs, the spectra of the two real rows separated and multiplied by their heads'
// filters, inverse DFTs, back in place. Rows are counted from row0, the first of the row
// group (0 without one): a row's head is row_at(row0 + r) % H.
extern "C" __global__ void __launch_bounds__(TR)
fftconv_rows(const cf *__restrict__ k_hat, ws_t *__restrict__ z, long long rows, long long row0,
             int major, int H) {
  extern __shared__ cf s[];
  const int a = blockIdx.y, b = (N1 - a) & (N1 - 1);
  const long long r0 = 2 * (long long)blockIdx.x, r1 = r0 + 1 < rows ? r0 + 1 : r0;
  const cf *k0 = k_hat + (row_at(row0 + r0, major, H) % H) * (long long)N;
  const cf *k1p = k_hat + (row_at(row0 + r1, major, H) % H) * (long long)N;
  ws_t *zp = z + (long long)blockIdx.x * N;
  for (int i = threadIdx.x; i < 2 * N2; i += TR) {
    int q = i / N2, e = i % N2;
    s[q * RSTRIDE + PAD(e)] = ldw(zp, (long long)(q ? b : a) * N2 + e);
  }
  __syncthreads();
  fft_rows_fwd(s);
  filter_pair(s, s + RSTRIDE, a, b, k0, k1p, threadIdx.x, TR);
  __syncthreads();
  fft_rows_inv(s);
  for (int i = threadIdx.x; i < 2 * N2; i += TR) {
    int q = i / N2, e = i % N2;
    if (q == 0 || b != a) stw(zp, (long long)(q ? b : a) * N2 + e, s[q * RSTRIDE + PAD(e)]);
  }
}

// Pass C: times W_N^(-n2 k1), N1-point inverse DFTs down the columns; Re to row 2p, Im to
// row 2p+1, below L, times the post gate.
extern "C" __global__ void __launch_bounds__(TC)
fftconv_cols_inv(const ws_t *__restrict__ z, const io_t *__restrict__ post, io_t *__restrict__ y,
                 long long rows, long long row0, int major, int H, int L) {
  extern __shared__ cf s[];
  const col_block cb = col_block_of();
  const col_pair pr = col_pair_of(cb.r, rows, row0, major, H);
  const int c0 = cb.c0;
  const ws_t *zp = z + cb.r * N;
  load_ws_cols(s, zp, c0);
  __syncthreads();
  fft_cols_inv(s);
  store_cols<TILE, TC>(s, post, y, pr.r0, pr.two, c0, L, pr.d1);
}
@ end

]]

function family.emit(params)
  local n, n2 = params.fft_size, params.n2
  local n1 = n // n2
  local tc, tr, tile = params.threads_cols, params.threads_rows, params.tile
  local env = parts.env(params, n2, {
    tile = tile, tc = tc, tr = tr, ws = params.ws, op = params.op or "forward",
    ws_doc = params.ws == "fp32" and "fp32" or (params.dtype .. " (the I/O dtype)"),
    fft_cols_fwd = stockham.fn("fft_cols_fwd", n1, tile, tile, 1, tc, -1),
    fft_cols_inv = stockham.fn("fft_cols_inv", n1, tile, tile, 1, tc, 1),
    fft_rows_fwd = stockham.fn("fft_rows_fwd", n2, 2, 1, parts.row_stride(n2), tr, -1, true),
    fft_rows_inv = stockham.fn("fft_rows_inv", n2, 2, 1, parts.row_stride(n2), tr, 1, true),
  })
  return tpl.render(parts.COMMON .. KERNEL .. parts.PREP, env,
    "=templates/monarch_long.lua (lib/long_parts COMMON, KERNEL, PREP)")
end

return family
