-- direct: short filters (K up to 64 taps) as a time-domain convolution, fp32 arithmetic on
-- CUDA cores, any I/O dtype. The depthwise convolutions Hyena blocks put before the long one
-- have 3 or 4 taps; for them an FFT of the whole row moves and computes far more than the sum
-- of K products an output needs.
--
-- A block takes TILE = threads x per consecutive outputs of one row at a time (a loop over the
-- row's tiles, blockIdx.y first): it stages v = pre * u over the tile and the HALO samples
-- before it (K - 1 rounded up to 8; zero before the row in causal mode, the row's end in
-- circular mode) in shared memory as fp32, skewed by one word every 32 so that the threads'
-- strided reads (a thread's `per` outputs are consecutive) fall in distinct banks; then each
-- thread slides a window of `per` registers down the staged samples, one shared-memory read
-- and `per` multiply-adds a tap, and multiplies by post on the way out. The taps (k, with D
-- folded into tap 0 by the prepare kernel) sit in shared memory, read by every thread at
-- once (a broadcast). Circular mode (L = N) wraps; causal mode (N >= L + K - 1) does not.
-- The frequency mask (freq_keep) is not a short filter: refused.
--
-- The backward (op "backward") runs the same tiles with g = post * dy staged beside v (its
-- halo after the tile): z for dpost, the adjoint dv = sum_j k[j] g[t + j] for du and dpre, and
-- each tile's sums of g[t] v[t - j] a lag into the workspace, which fftconv_bdk adds over the
-- batch in a fixed order into dk and dD (see the kernel text).
local tpl = require "lib.tpl"
local io_ = require "lib.io"
local common = require "lib.family"
local manifest = require "lib.manifest"
local pack16 = require "lib.pack16"
local tc_ops = require "lib.tc_ops"

local family = {
  name = "direct",
  revision = 1,
  doc = "short filters (K <= 64) in the time domain, fp32 on CUDA cores",
  runs = {
    ops = { "forward", "backward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 256, max = 1099511627776 }, -- the problem's: any length ...
    max_taps = 64, -- ... with a filter of at most this many taps
    min_sm = 70,
    fallback = 1, -- the heuristic fallback tries families in this order: taps first
  },
}

local MAX_TAPS = 64
local PERS = { 8, 16 }
local THREADS = { 128, 256, 512 }
local MMA_THREADS = { 128, 256 }
local MMA_HI_ONLY = 32 -- taps from which the tensor-core forward is also offered without lo
local PREP_THREADS = 64
local MAX_GRID_Y = 65535

local taps_of = common.taps

local function halo(params) return (params.taps - 1 + 7) // 8 * 8 end

-- Shared memory: the taps, then the staged samples with one skew word every 32 (the backward:
-- v's and g's, and a warp's partial sums of each lag of dk).
local function staged(params)
  local span = params.threads * params.per + halo(params)
  return span + span // 32 + 1
end
-- The tensor-core forward (params.mma): the taps (fp32, padded to 16 bytes), the staged samples
-- as I/O-dtype operands in rows of 16 (the tile and the H16 = K - 1 rounded up to 16 before
-- it), and the tile's fp32 outputs in rows of 16 at a stride of 20 words.
local function h16(params) return (params.taps - 1 + 15) // 16 * 16 end
local function mma_smem_bytes(params)
  local tile = params.threads * params.per
  return 4 * ((params.taps + 3) // 4 * 4) + 2 * (tile + h16(params)) + 80 * (tile // 16)
end

local function smem_bytes(params)
  if params.mma then return mma_smem_bytes(params) end
  if params.op == "backward" then
    return 4 * (params.taps + 2 * staged(params) + params.threads // 32 * params.taps)
  end
  return 4 * (params.taps + staged(params))
end

-- The tiles of a row: its length over the tile. A candidate is made for the problem's
-- length (params.seqlen), so the grid has no block past the row's end (in causal mode
-- N >= L + K - 1 and half of N's tiles or more would be empty).
local function tiles(params)
  local tile = params.threads * params.per
  return (params.seqlen + tile - 1) // tile
end

-- Every block shape, for the taps of the problem; empty when the filter is not short.
function family.space(problem, device, rigor)
  local k = taps_of(problem)
  if k > MAX_TAPS or problem.freq_keep ~= 0 then return {} end
  local backward = problem.op == "backward"
  local out = {}
  for _, per in ipairs(PERS) do
    for _, threads in ipairs(THREADS) do
      out[#out + 1] = {
        fft_size = problem.fft_size, seqlen = problem.seqlen, taps = k, per = per,
        threads = threads,
        dtype = problem.dtype, pre_gate = problem.pre_gate, post_gate = problem.post_gate,
        op = backward and "backward" or nil,
      }
    end
  end
  -- the tensor-core forward, for 16-bit I/O on sm_80 and later
  if not backward and problem.dtype ~= "fp32" and device.sm >= 80 then
    for _, lo in ipairs(k >= MMA_HI_ONLY and { true, false } or { true }) do
      for _, per in ipairs(PERS) do
        for _, threads in ipairs(MMA_THREADS) do
          local c = {
            fft_size = problem.fft_size, seqlen = problem.seqlen, taps = k, per = per,
            threads = threads, mma = true, dtype = problem.dtype,
            pre_gate = problem.pre_gate, post_gate = problem.post_gate,
          }
          if not lo then c.lo = false end -- absent: hi + lo
          out[#out + 1] = c
        end
      end
    end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local k = taps_of(problem)
  if problem.freq_keep ~= 0 then
    return false, "freq_keep: a frequency mask is not a short filter (direct takes F = 0)"
  end
  ok, why = common.matches_taps(problem, params)
  if not ok then return false, why end
  if k > MAX_TAPS then
    return false, string.format("filter_len: %d taps, direct runs 1 to %d", k, MAX_TAPS)
  end
  local per_ok, threads_ok = false, false
  for _, v in ipairs(PERS) do per_ok = per_ok or params.per == v end
  for _, v in ipairs(THREADS) do threads_ok = threads_ok or params.threads == v end
  if not per_ok then return false, "per: 8 or 16 outputs a thread" end
  if not threads_ok then return false, "threads: 128, 256 or 512" end
  if params.mma then
    if params.dtype == "fp32" then return false, "mma: tensor cores take fp16 or bf16 I/O" end
    if params.op == "backward" then return false, "mma: the forward only" end
    if params.lo == false and params.taps < MMA_HI_ONLY then
      return false, string.format("lo: false is offered from %d taps", MMA_HI_ONLY)
    end
    if device.sm < 80 then
      return false, string.format("mma: needs sm_80 or later, the device is sm_%d", device.sm)
    end
  end
  return common.fits(device, smem_bytes(params), params.threads)
end

-- The built-in choice, from what won on an H100 (bench/NOTES.md, issue 21): 128 threads; on
-- CUDA cores eight outputs a thread; from 16 taps (16-bit I/O) on tensor cores with 16 a
-- thread (8 for rows of 1024 or less, so that a row still fills a tile), the taps' lo kept.
function family.default(problem, device)
  local k = taps_of(problem)
  if k > MAX_TAPS then
    return nil, string.format("filter_len: %d taps, direct runs 1 to %d", k, MAX_TAPS)
  end
  if problem.freq_keep ~= 0 then
    return nil, "freq_keep: a frequency mask is not a short filter (direct takes F = 0)"
  end
  local mma = k >= 16 and problem.dtype ~= "fp32" and problem.op ~= "backward" and device.sm >= 80
  local per = mma and problem.seqlen > 1024 and 16 or 8
  return common.best(family, problem, device, function(params)
    return math.abs(params.threads - 128) + math.abs(params.per - per)
      + ((params.mma or false) ~= mma and 1000 or 0) + (params.lo == false and 1000 or 0)
  end)
end

-- The prepare kernel writes a head's taps (fp32, D folded into tap 0); the forward runs a
-- block per row over the row's tiles (grid.y of them at a time).
-- The backward: a block per row over its tiles (du, dpre, dpost, and each tile's sums of g
-- times v at every lag into the workspace), then fftconv_bdk, a block a head, adds a head's
-- tile sums over the batch in a fixed order into dk (and dD, lag 0's sum: D is tap 0's).
function family.layout(params, device)
  local filter = { layout = "direct.taps" .. params.taps, per_head = 4 * params.taps, fixed = 0 }
  local prep = { threads = PREP_THREADS, smem = 0, per = 1 }
  local run = { threads = params.threads, smem = smem_bytes(params), per = 1 }
  local y = math.min(MAX_GRID_Y, tiles(params))
  if params.op == "backward" then
    local m = manifest.prepare_backward({ prep = prep, bwd = run, filter = filter })
    local l = m.launches[2]
    l.grid = { over = "rows", per = 1, y = y }
    l.args[#l.args + 1] = "ws:part"
    l.writes = { "du", "dpre", "dpost", "ws:part" }
    m.launches[3] = {
      entry = "fftconv_bdk", phase = "backward", grid = { over = "heads", per = 1 },
      block = { params.threads, 1, 1 }, smem = 4 * params.threads,
      args = { "ws:part", "dk", "dd", "rows", "L", "H" },
      reads = { "ws:part" }, writes = { "dk", "dd" } }
    m.workspace = { { name = "part", fixed = 0, per_row = 4 * params.taps * tiles(params) } }
    return m
  end
  local m = manifest.prepare_forward({ prep = prep, fwd = run, filter = filter })
  m.launches[2].grid.y = y
  return m
end

-- Eight samples at a time, as fp32: loads and stores of 8 aligned elements of the I/O dtype
-- (16-bit ones through lib/pack16.lua's pairs).
local vec_functions = tpl.piece([==[
@ if dtype == "fp32" then
static __device__ __forceinline__ void ld8(const io_t *p, long long i, float f[8]) {
  const float4 a = *(const float4 *)(p + i), b = *(const float4 *)(p + i + 4);
  f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
static __device__ __forceinline__ void st8(io_t *p, long long i, float a, float b, float c,
                                           float d, float e, float f, float g, float h) {
  *(float4 *)(p + i) = float4{a, b, c, d};
  *(float4 *)(p + i + 4) = float4{e, f, g, h};
}
@ else
typedef unsigned int u32;
@ if mma then
${include(tc_ops.functions, {op = dtype, cvt = dtype == "fp16" and "f16" or "bf16", op_ptx = dtype == "fp16" and "f16" or "bf16"})}
@ else
${include(pack16.functions, {op = dtype, cvt = dtype == "fp16" and "f16" or "bf16"})}
@ end
static __device__ __forceinline__ void ld8(const io_t *p, long long i, float f[8]) {
  const uint4 r = *(const uint4 *)(p + i);
  const u32 w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int k = 0; k < 4; k++) {
    const float2 t = unpack2(w[k]);
    f[2 * k] = t.x, f[2 * k + 1] = t.y;
  }
}
static __device__ __forceinline__ void st8(io_t *p, long long i, float a, float b, float c,
                                           float d, float e, float f, float g, float h) {
  *(uint4 *)(p + i) = uint4{pack2(a, b), pack2(c, d), pack2(e, f), pack2(g, h)};
}
@ end
]==], "=templates/direct.lua (vec_functions)", { pack16 = pack16, tc_ops = tc_ops })

-- The forward kernels' entry and their row's setup (both variants): the row's pointers, whether
-- 16-byte accesses are possible, and the taps into shared memory (`taps`, declared before).
local fwd_head = tpl.piece([==[
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const float *__restrict__ k_hat,
            io_t *__restrict__ y, long long rows, int L, int H) {
  const long long row = blockIdx.x;
  if (row >= rows) return;
]==], "=templates/direct.lua (fwd_head)")
local fwd_rows = tpl.piece([==[
const int h = (int)(row % H);
const bool circ = L == N;
const io_t *__restrict__ ur = u + row * L;
@ if pre_gate then
const io_t *__restrict__ pr = pre + row * L;
@ end
@ if post_gate then
const io_t *__restrict__ po = post + row * L;
@ end
io_t *__restrict__ yr = y + row * L;
const bool vec = (L & 7) == 0 && (((unsigned long long)u | (unsigned long long)pre |
                                   (unsigned long long)post | (unsigned long long)y) & 15) == 0;
for (int j = threadIdx.x; j < K; j += THREADS) taps[j] = k_hat[(long long)h * K + j];
]==], "=templates/direct.lua (fwd_rows)")

local KERNEL = [==[
${io_functions}
${include(vec_functions)}

#define N ${n}
#define K ${taps}
#define PER ${per}
#define THREADS ${threads}
#define TILE (THREADS * PER)
#define HALO ${halo}
#define SPAN (TILE + HALO)

extern __shared__ float smem[];

// Staged sample q (q < SPAN) at a skewed index: a thread's reads, PER apart, hit distinct banks.
static __device__ __forceinline__ int sk(int q) { return q + (q >> 5); }

// Eight samples of a row, x times the gate m (NULL: none) at p0 .. p0 + 7, as fp32 into f:
// 16-byte loads where all eight are in [0, L) and vec allows; else one at a time, wrapping
// into the row in circular mode and zero outside it otherwise (and everywhere when !on).
static __device__ __forceinline__ void stage8(const io_t *__restrict__ x,
                                              const io_t *__restrict__ m, long long p0, int L,
                                              bool circ, bool vec, bool on, float f[8]) {
  if (on && vec && p0 >= 0 && p0 + 8 <= L) {
    ld8(x, p0, f);
    if (m) {
      float g[8];
      ld8(m, p0, g);
#pragma unroll
      for (int i = 0; i < 8; i++) f[i] *= g[i];
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < 8; i++) {
    long long p = p0 + i;
    if (circ) p = p < 0 ? p + L : p >= L ? p - L : p;
    f[i] = on && p >= 0 && p < L ? (m ? ld(x, p) * ld(m, p) : ld(x, p)) : 0.0f;
  }
}

// Stages x * m (m NULL: none) over [t0 + lo, t0 + lo + TILE + HALO_) (lo = -HALO_ puts the
// halo before the tile, lo = 0 after it), eight samples at a time handed to put(o - lo, f) for
// the samples at t0 + o: zero outside the row in causal mode and wrapped in circular mode
// (everywhere zero when !on). The tile's TILE samples are PER / 8 chunks of eight a thread,
// coalesced; in a tile whose chunks all lie inside the row (every tile but the edges) their
// loads are issued together, before any is used, so that a thread has PER / 8 16-byte loads
// of each array in flight (bench/NOTES.md, issue 21: zeroing the chunks past a causal row's
// end one by one instead made every tile slower).
template <int HALO_, class Put>
static __device__ __forceinline__ void stage_tile(Put put, const io_t *__restrict__ x,
                                                  const io_t *__restrict__ m, long long t0,
                                                  int lo, int L, bool circ, bool vec, bool on) {
  float f[PER / 8][8];
  if (on && vec && t0 + TILE <= L) {
#pragma unroll
    for (int c = 0; c < PER / 8; c++) ld8(x, t0 + 8 * (threadIdx.x + c * THREADS), f[c]);
    if (m) {
      float g[PER / 8][8];
#pragma unroll
      for (int c = 0; c < PER / 8; c++) ld8(m, t0 + 8 * (threadIdx.x + c * THREADS), g[c]);
#pragma unroll
      for (int c = 0; c < PER / 8; c++)
#pragma unroll
        for (int i = 0; i < 8; i++) f[c][i] *= g[c][i];
    }
  } else {
#pragma unroll
    for (int c = 0; c < PER / 8; c++)
      stage8(x, m, t0 + 8 * (threadIdx.x + c * THREADS), L, circ, vec, on, f[c]);
  }
#pragma unroll
  for (int c = 0; c < PER / 8; c++) put(8 * (threadIdx.x + c * THREADS) - lo, f[c]);
  if (8 * threadIdx.x < HALO_) { // the halo: HALO_ / 8 chunks before the tile or after it
    const int o = (lo < 0 ? lo : TILE) + 8 * threadIdx.x;
    float h[8];
    stage8(x, m, t0 + o, L, circ, vec, on, h);
    put(o - lo, h);
  }
}

// Eight fp32 samples into the skewed fp32 staging s at q.
struct put_f32 {
  float *s;
  __device__ __forceinline__ void operator()(int q, const float f[8]) const {
#pragma unroll
    for (int i = 0; i < 8; i++) s[sk(q + i)] = f[i];
  }
};

// The taps of head h: k's K values in fp32, D added to the first (y's D v term is tap 0's).
extern "C" __global__ void __launch_bounds__(${prep_threads})
fftconv_prep(const float *__restrict__ k, const float *__restrict__ d,
             float *__restrict__ k_hat, int H, int Kp, int F) {
  const int h = blockIdx.x;
  for (int j = threadIdx.x; j < K; j += blockDim.x)
    k_hat[(long long)h * K + j] = k[(long long)h * Kp + j] + (j == 0 && d ? d[h] : 0.0f);
}

@ if op == "forward" and mma then
#define H16 ${h16}
#define KS (H16 / 16 + 1)
#define ROWS ((TILE + H16) / 16)
#define UNITS (PER / 8)
#define TAPS_PAD ((K + 3) / 4 * 4)

// The tensor-core forward. With x[q] = v[t0 - H16 + q] staged, output t0 + 16 a + b is
// sum over m < H16 + 16 of x[16 a + m] T[m][b], T[m][b] = k[H16 + b - m] (zero outside the
// taps): a product of W, the staged samples as rows of 16 (W[r][c] = x[16 r + c]), and a
// Toeplitz matrix of the taps, whose k-step s reads rows a + s of W: each 16 x 16 block of
// outputs is KS = H16 / 16 + 1 steps of an ldmatrix and mma.sync m16n8k16 on its two halves.
// The taps are fp32, split into two 16-bit operands (hi + lo) so that the products keep
// their precision (lo = false, offered from 32 taps where the products bind: the hi operand
// alone, the taps rounded to the I/O dtype as cuDNN's conv1d has them); the sums are fp32. The outputs go through shared memory as fp32 (rows of
// 16 at a stride of 20 words) and leave eight at a time, times post, in 16-byte stores.

// W row r's 16-byte half c (the rows' halves swapped every four rows: an ldmatrix's eight
// rows fall in distinct banks), as a byte offset.
static __device__ __forceinline__ u32 xoff(int r, int c) {
  return 32u * r + 16u * (c ^ ((r >> 2) & 1));
}
struct put_x {
  char *xs;
  __device__ __forceinline__ void operator()(int q, const float f[8]) const {
    *(uint4 *)(xs + xoff(q >> 4, (q >> 3) & 1)) =
        uint4{pack2(f[0], f[1]), pack2(f[2], f[3]), pack2(f[4], f[5]), pack2(f[6], f[7])};
  }
};

${include(fwd_head)}
  float *const taps = smem;
  char *const xs = (char *)(smem + TAPS_PAD);
  float *const ys = (float *)(xs + 32 * ROWS);
  const u32 xb = (u32)__cvta_generic_to_shared(xs);
  ${include(fwd_rows)}
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  // B operands: T's rows 16 s + 2 t (+1) and 16 s + 2 t + 8 (+1), column 8 n + g; hi and lo
  u32 bh[KS][2][2], bl[KS][2][2];
#pragma unroll
  for (int s = 0; s < KS; s++)
#pragma unroll
    for (int n = 0; n < 2; n++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int j = H16 + 8 * n + g - (16 * s + 2 * t + 8 * r); // tap of T[m][b]; T[m+1][b]: j - 1
        const float a = j >= 0 && j < K ? taps[j] : 0.0f;
        const float b = j - 1 >= 0 && j - 1 < K ? taps[j - 1] : 0.0f;
        bh[s][n][r] = pack2(a, b);
        const float2 e = unpack2(bh[s][n][r]);
        bl[s][n][r] = pack2(a - e.x, b - e.y);
      }
  for (long long t0 = (long long)blockIdx.y * TILE; t0 < L; t0 += (long long)gridDim.y * TILE) {
    stage_tile<H16>(put_x{xs}, ur, ${pre_gate and "pr" or "nullptr"}, t0, -H16, L, circ, vec,
                    true);
    __syncthreads();
#pragma unroll
    for (int un = 0; un < UNITS; un++) {
      const int ra = 16 * (warp * UNITS + un); // this unit's first row of outputs
      float acc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
      for (int s = 0; s < KS; s++) {
        u32 a[4];
        ldsm4(a, xb + xoff(ra + s + (lane & 15), lane >> 4));
#pragma unroll
        for (int n = 0; n < 2; n++) {
          // T's block (s, n) holds taps H16 + 8 n - 16 s - 15 .. H16 + 8 n - 16 s + 7: none
          // of them (small K) is a block of zeros, skipped
          if (H16 + 8 * n - 16 * s + 7 < 0 || H16 + 8 * n - 16 * s - 15 >= K) continue;
          mma(acc[n], a[0], a[1], a[2], a[3], bh[s][n][0], bh[s][n][1]);
@   if lo then
          mma(acc[n], a[0], a[1], a[2], a[3], bl[s][n][0], bl[s][n][1]);
@   end
        }
      }
#pragma unroll
      for (int n = 0; n < 2; n++) {
        *(float2 *)(ys + 20 * (ra + g) + 8 * n + 2 * t) = float2{acc[n][0], acc[n][1]};
        *(float2 *)(ys + 20 * (ra + g + 8) + 8 * n + 2 * t) = float2{acc[n][2], acc[n][3]};
      }
    }
    __syncthreads();
    // Outputs t0 + o, o = 8 (threadIdx.x + c THREADS): eight at a time, coalesced.
#pragma unroll
    for (int c = 0; c < PER / 8; c++) {
      const int o = 8 * (threadIdx.x + c * THREADS);
      const long long tt = t0 + o;
      const float4 p = *(const float4 *)(ys + 20 * (o >> 4) + (o & 15));
      const float4 q = *(const float4 *)(ys + 20 * (o >> 4) + (o & 15) + 4);
      float acc[8] = {p.x, p.y, p.z, p.w, q.x, q.y, q.z, q.w};
      if (vec && tt + 8 <= L) {
@ if post_gate then
        float gp[8];
        ld8(po, tt, gp);
#pragma unroll
        for (int i = 0; i < 8; i++) acc[i] *= gp[i];
@ end
        st8(yr, tt, acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; i++)
          if (tt + i < L) {
@ if post_gate then
            st(yr, tt + i, acc[i] * ld(po, tt + i));
@ else
            st(yr, tt + i, acc[i]);
@ end
          }
      }
    }
    __syncthreads();
  }
}
@ elseif op == "forward" then
// y = post * (sum over j < K of tap j times v at t - j), v = pre * u; circular when L = N.
${include(fwd_head)}
  float *const taps = smem, *const vs = smem + K;
  ${include(fwd_rows)}
  for (long long t0 = (long long)blockIdx.y * TILE; t0 < L; t0 += (long long)gridDim.y * TILE) {
    // (the grid has a block for each of the row's tiles, up to 65535 of them)
    // Stage v over [t0 - HALO, t0 + TILE).
    stage_tile<HALO>(put_f32{vs}, ur, ${pre_gate and "pr" or "nullptr"}, t0, -HALO, L, circ, vec,
                     true);
    // Outputs t0 + o, o = base .. base + PER - 1: w[i] is v at o + i - j for tap j.
    const int base = threadIdx.x * PER;
    const bool whole = vec && t0 + base + PER <= L; // this thread's outputs: 16-byte stores
@ if post_gate then
    float gp[PER]; // post at the outputs, loaded while the others stage
    if (whole) {
#pragma unroll
      for (int c = 0; c < PER; c += 8) ld8(po, t0 + base + c, gp + c);
    }
@ end
    __syncthreads();
    float acc[PER], w[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) acc[i] = 0.0f, w[i] = vs[sk(HALO + base + i)];
#pragma unroll
    for (int j = 0; j < K; j++) {
      const float kj = taps[j];
#pragma unroll
      for (int i = 0; i < PER; i++) acc[i] += kj * w[i];
      if (j + 1 < K) {
#pragma unroll
        for (int i = PER - 1; i > 0; i--) w[i] = w[i - 1];
        w[0] = vs[sk(HALO + base - j - 1)];
      }
    }
    if (whole) {
#pragma unroll
      for (int c = 0; c < PER; c += 8) {
@ if post_gate then
#pragma unroll
        for (int i = 0; i < 8; i++) acc[c + i] *= gp[c + i];
@ end
        st8(yr, t0 + base + c, acc[c], acc[c + 1], acc[c + 2], acc[c + 3], acc[c + 4],
            acc[c + 5], acc[c + 6], acc[c + 7]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER; i++) {
        const long long t = t0 + base + i;
        if (t < L) {
@ if post_gate then
          st(yr, t, acc[i] * ld(po, t));
@ else
          st(yr, t, acc[i]);
@ end
        }
      }
    }
    __syncthreads();
  }
}
@ else
#define T ${tiles}
#define WARPS (THREADS / 32)

// The backward of one row, a tile at a time: v = pre * u staged over the tile and the HALO
// before it, g = post * dy over the tile and the HALO after it; each thread's PER outputs
// slide two windows, z = sum_j k[j] v[t - j] (dpost = dy z; D is in tap 0) and the adjoint
// dv = sum_j k[j] g[t + j] (du = pre dv, dpre = u dv), and, when dk or dD is asked for, add
// g[t] v[t - j] over their outputs for each lag j, summed over the warp by shuffles and over
// the warps in order into the workspace: part[j][h][b][tile].
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const io_t *__restrict__ dy,
            const float *__restrict__ k_hat, io_t *__restrict__ du, io_t *__restrict__ dpre,
            io_t *__restrict__ dpost, float *__restrict__ dk, float *__restrict__ dd,
            long long rows, int L, int H, int Kp, int F, float *__restrict__ part) {
  const long long row = blockIdx.x;
  if (row >= rows) return;
  const int h = (int)(row % H);
  const long long b = row / H, B = rows / H;
  float *const taps = smem, *const vs = smem + K, *const gs = vs + ${staged};
  float *const red = gs + ${staged};
  const bool circ = L == N;
  const bool sums = dk || dd;
  // an input only an output not asked for needs may be NULL: not read
  const bool need_v = dpost || sums, need_g = du || dpre || sums;
  const long long off = row * L;
  const bool vec = (L & 7) == 0 &&
                   (((unsigned long long)u | (unsigned long long)pre | (unsigned long long)post |
                     (unsigned long long)dy | (unsigned long long)du | (unsigned long long)dpre |
                     (unsigned long long)dpost) & 15) == 0;
  for (int j = threadIdx.x; j < K; j += THREADS) taps[j] = k_hat[(long long)h * K + j];
  const long long TL = (L + TILE - 1) / TILE;
  for (long long tile = blockIdx.y; tile < TL; tile += gridDim.y) {
    const long long t0 = tile * TILE;
    // Stage v over [t0 - HALO, t0 + TILE) and g over [t0, t0 + TILE + HALO).
    stage_tile<HALO>(put_f32{vs}, u + off, ${pre_gate and "pre + off" or "nullptr"}, t0, -HALO, L,
                     circ, vec, need_v);
    stage_tile<HALO>(put_f32{gs}, dy + off, ${post_gate and "post + off" or "nullptr"}, t0, 0, L,
                     circ, vec, need_g);
    __syncthreads();
    const int base = threadIdx.x * PER, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float z[PER], dv[PER], go[PER], wv[PER], wg[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) {
      z[i] = 0.0f, dv[i] = 0.0f;
      wv[i] = vs[sk(HALO + base + i)], wg[i] = gs[sk(base + i)];
      go[i] = t0 + base + i < L ? wg[i] : 0.0f; // g at this thread's outputs, none past L
    }
#pragma unroll
    for (int j = 0; j < K; j++) {
      const float kj = taps[j];
#pragma unroll
      for (int i = 0; i < PER; i++) z[i] += kj * wv[i], dv[i] += kj * wg[i];
      if (sums) {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < PER; i++) s += go[i] * wv[i];
#pragma unroll
        for (int w = 16; w > 0; w >>= 1) s += __shfl_xor_sync(0xffffffffu, s, w);
        if (lane == 0) red[warp * K + j] = s;
      }
      if (j + 1 < K) {
#pragma unroll
        for (int i = PER - 1; i > 0; i--) wv[i] = wv[i - 1];
        wv[0] = vs[sk(HALO + base - j - 1)];
#pragma unroll
        for (int i = 0; i + 1 < PER; i++) wg[i] = wg[i + 1];
        wg[PER - 1] = gs[sk(base + PER + j)];
      }
    }
#pragma unroll
    for (int c = 0; c < PER; c += 8) {
      const long long t = t0 + base + c;
      if (t >= L) break;
      if (vec) { // L is a multiple of 8, so are t and t + 8 <= L
        float m[8], o[8];
        if (dpost) {
          ld8(dy + off, t, m);
#pragma unroll
          for (int i = 0; i < 8; i++) o[i] = z[c + i] * m[i];
          st8(dpost + off, t, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]);
        }
        if (du) {
@ if pre_gate then
          ld8(pre + off, t, m);
#pragma unroll
          for (int i = 0; i < 8; i++) o[i] = dv[c + i] * m[i];
@ else
#pragma unroll
          for (int i = 0; i < 8; i++) o[i] = dv[c + i];
@ end
          st8(du + off, t, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]);
        }
        if (dpre) {
          ld8(u + off, t, m);
#pragma unroll
          for (int i = 0; i < 8; i++) o[i] = dv[c + i] * m[i];
          st8(dpre + off, t, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]);
        }
      } else {
#pragma unroll
        for (int i = 0; i < 8; i++)
          if (t + i < L) {
            if (dpost) st(dpost, off + t + i, z[c + i] * ld(dy, off + t + i));
@ if pre_gate then
            if (du) st(du, off + t + i, dv[c + i] * ld(pre, off + t + i));
@ else
            if (du) st(du, off + t + i, dv[c + i]);
@ end
            if (dpre) st(dpre, off + t + i, dv[c + i] * ld(u, off + t + i));
          }
      }
    }
    if (sums) {
      __syncthreads();
      for (int j = threadIdx.x; j < K; j += THREADS) {
        float s = 0.0f;
        for (int w = 0; w < WARPS; w++) s += red[w * K + j];
        part[(((long long)j * H + h) * B + b) * T + tile] = s;
      }
    }
    __syncthreads();
  }
}

// dk[h][j] and dd[h] (lag 0's sum: D is tap 0's) from the tiles' sums, over the batch and the
// row's tiles in a fixed order: each thread a fixed stride of them, then a fixed tree.
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bdk(const float *__restrict__ part, float *__restrict__ dk, float *__restrict__ dd,
            long long rows, int L, int H) {
  if (!dk && !dd) return;
  const int h = blockIdx.x;
  const long long B = rows / H, TL = (L + TILE - 1) / TILE;
  for (int j = 0; j < (dk ? K : 1); j++) {
    const float *__restrict__ pj = part + ((long long)j * H + h) * B * T;
    float s = 0.0f;
    for (long long q = threadIdx.x; q < B * TL; q += THREADS) s += pj[(q / TL) * T + q % TL];
    smem[threadIdx.x] = s;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) smem[threadIdx.x] += smem[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      if (dk) dk[(long long)h * K + j] = smem[0];
      if (dd && j == 0) dd[h] = smem[0];
    }
    __syncthreads();
  }
}
@ end
]==]

function family.emit(params)
  return tpl.render(KERNEL, {
    n = params.fft_size, taps = params.taps, per = params.per, threads = params.threads,
    halo = halo(params), prep_threads = PREP_THREADS, pre_gate = params.pre_gate,
    post_gate = params.post_gate, io_functions = io_.functions(params.dtype),
    vec_functions = vec_functions, fwd_head = fwd_head, fwd_rows = fwd_rows,
    dtype = params.dtype, op = params.op or "forward",
    staged = staged(params), tiles = tiles(params), mma = params.mma or false, h16 = h16(params),
    lo = params.lo ~= false,
  }, "=templates/direct.lua (KERNEL text)")
end

return family
