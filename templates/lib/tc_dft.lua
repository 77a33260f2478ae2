-- lib/tc_dft.lua: monarch_tc's DFT passes on tensor cores. The DFT matrix of each radix lives
-- in registers as mma fragments (Dft<R>); a column pass reads the data as the B operand with
-- ldmatrix.trans, the row pass as the A operand, multiplies by the filter spectrum and runs
-- the inverse row DFT on the product without a trip through shared memory. Every pass ends in
-- the same epilogue: twiddle its outputs and store them to the planes.
local tpl = require "lib.tpl"

local dft = {}

-- The passes of an in-place FFT of `size` points with these factors: radix r at stride s.
function dft.passes(factors, size)
  local out, stride = {}, size
  for _, f in ipairs(factors) do
    stride = stride // f
    out[#out + 1] = { r = f, s = stride }
  end
  return out
end

-- The twiddle-and-store epilogue of a pass: its outputs z0, z1 at positions j and j + 1 of the
-- plane, from a column pass's accumulators (pass "col": its 16 x 8 tile mi) or a row pass's
-- (pass "row": fragment cc, half hr), times twiddle<TN, TS> (a column pass of the forward
-- FFT applies its own, W_RS^(k r), straight from k and r), stored as operands to both planes.
dft.epilogue = tpl.piece([==[
@ if pass == "col" then
const u32 j = j0 + (8 * mi + g) * S + 2 * t;
float2 z0 = {acc[0], acc[2]}, z1 = {acc[1], acc[3]};
@ else
const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
float2 z0 = {acc[2 * cc][2 * hr], acc[2 * cc + 1][2 * hr]};
float2 z1 = {acc[2 * cc][2 * hr + 1], acc[2 * cc + 1][2 * hr + 1]};
@ end
@ if twiddle == "table" then
if constexpr (TN != 0) {  // a column pass's own (TN == R, TS == S) or forward pass TN's
  const float4 w = tw_pair<TN * TS>(tw, j);
  z0 = cmul(z0, float2{w.x, w.y});
  z1 = cmul(z1, float2{w.z, w.w});
}
@ elseif pass == "col" then
if constexpr (TN == R && TS == S) {  // this pass's own twiddle: W_{RS}^(k r)
  const u32 k = 8 * mi + g, r = j0 % S + 2 * t;
  z0 = cmul(z0, root<R * S>(k * r));
  z1 = cmul(z1, root<R * S>(k * (r + 1)));
} else if constexpr (TN != 0) {
  z0 = cmul(z0, twiddle<TN, TS>(j));
  z1 = cmul(z1, twiddle<TN, TS>(j + 1));
}
@ else
z0 = cmul(z0, twiddle<TN, TS>(j));
z1 = cmul(z1, twiddle<TN, TS>(j + 1));
@ end
@ if pass == "col" and twiddle == "table" then
const u32 sj = swz_join(s0, lst[mi]);  // swz(j)
@ else
const u32 sj = swz(j);
@ end
sts32(pb + sj, pack2(z0.x, z1.x));
sts32(pb + PLANE_BYTES + sj, pack2(z0.y, z1.y));
]==], "=templates/lib/tc_dft.lua (epilogue)")

-- A 16-row tile of unit q's planes (rows r0 .. r0+15, from pb) read as A fragments a with
-- ldmatrix.
dft.row_load = tpl.piece([==[
u32 a[R / 8][4];
#pragma unroll
for (int ki = 0; ki < R / 8; ki++)
  ldsm4(a[ki], pb + (lane >> 4) * PLANE_BYTES +
                   swz((r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * R + 8 * ki));
]==], "=templates/lib/tc_dft.lua (row_load)")

-- Which tile a row-pass task is: unit q, rows r0 .. r0+15; its head's filter bins kp and its
-- planes pb.
dft.row_task = tpl.piece([==[
const u32 q = task / TILES, r0 = (task % TILES) * 16;
const float2 *__restrict__ kp = k_hat + pair_head(c0 + q, BP, H) * N;
const u32 pb = sb + q * PAIR_BYTES;
]==], "=templates/lib/tc_dft.lua (row_task)")

-- The row DFT of such a tile: its A fragments times the DFT matrix d, into the accumulators acc.
dft.row_tile = tpl.piece([==[
${include(row_load)}
float acc[R / 4][4];
row_dft(acc, a, d);
]==], "=templates/lib/tc_dft.lua (row_tile)", { row_load = dft.row_load })

-- The end of a row-pass tile: its accumulators acc (every output column) through the
-- epilogue, back where the tile was read.
dft.row_store = tpl.piece([==[
__syncwarp();  // the tile is stored where it was read: every lane's ldmatrix is done
#pragma unroll
for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
  for (int hr = 0; hr < 2; hr++) {
    ${include(epilogue, {pass = "row"})}
  }
]==], "=templates/lib/tc_dft.lua (row_store)", { epilogue = dft.epilogue })

-- Roots and twiddles, the DFT matrices, the column pass, the row DFT and the row pass.
dft.functions = tpl.piece([==[
// W_B^e = exp(-2 pi i e / B) for 0 <= e < B, from an angle in (-pi, pi].
template <int B>
static __device__ __forceinline__ float2 root(u32 e) {
  const int ee = e > B / 2 ? (int)e - B : (int)e;
  float s, c;
  __sincosf((-6.28318530717958647692f / B) * (float)ee, &s, &c);
  return float2{c, s};
}
// The twiddle of position j for a pass of TN-point DFTs at stride TS.
template <int TN, int TS>
static __device__ __forceinline__ float2 twiddle(u32 j) {
  return root<TN * TS>(((j / TS) % TN) * (j % TS));
}
@ if twiddle == "table" then
// The twiddles of positions j and j + 1 (j even) for the passes whose twiddles repeat every
// M = TN TS positions, from their table in the filter buffer (lib/tc_layout.lua,
// twiddle_tables): one 16-byte load in place of two sines and cosines.
template <u32 M>
static __device__ __forceinline__ float4 tw_pair(const float2 *__restrict__ tw, u32 j) {
  constexpr u32 OFF =
@   for _, t in ipairs(tw_tables) do
      M == ${t.m} ? ${t.off} :
@   end
      ~0u;
  static_assert(OFF != ~0u, "a twiddle table for every column pass");
  return __ldg((const float4 *)(tw + OFF + (j & (M - 1))));
}
@ end

// exp(-2 pi i k j / R) / sqrt(R) for inputs j and j + 1, as operand pairs (c, s, -s).
template <int R>
static __device__ __forceinline__ void dft_pair(int k, int j, u32 &c, u32 &s, u32 &ns) {
  constexpr float SC = R == 8 ? 0.353553390593f : R == 16 ? 0.25f : 0.176776695297f;
  float s0, c0, s1, c1;
  sincospif(-2.0f * (float)((k * j) % R) / R, &s0, &c0);
  sincospif(-2.0f * (float)((k * (j + 1)) % R) / R, &s1, &c1);
  c = pack2(c0 * SC, c1 * SC);
  s = pack2(s0 * SC, s1 * SC);
  ns = pack2(-s0 * SC, -s1 * SC);
}

// The R-point DFT matrix exp(-2 pi i k j / R) / sqrt(R) as mma fragments: block (mi, ki) of the real
// embedding [[C, -S], [S, C]] (rows: Re out 8mi.., Im out 8mi..; columns: Re in 8ki..,
// Im in 8ki..) is the A fragment {c, s, -s, c}; the same registers give the B fragments of
// its transpose, {c, -s} (Re out) and {s, c} (Im out).
template <int R>
struct Dft {
  u32 c[R / 8][R / 8], s[R / 8][R / 8], ns[R / 8][R / 8];
  __device__ __forceinline__ void init() {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mi = 0; mi < R / 8; mi++)
#pragma unroll
      for (int ki = 0; ki < R / 8; ki++)
        dft_pair<R>(8 * mi + g, 8 * ki + 2 * t, c[mi][ki], s[mi][ki], ns[mi][ki]);
  }
};

// One column pass over every pair of the block, in place: R-point DFTs at stride S within
// blocks of R S. KMAX: 8-row groups of input that may be nonzero; MMAX: 8-row groups of
// output that are needed. Outputs get twiddle<TN, TS> (TN = 0: none).
@ if col_units then
// U: the units it runs on, the block's first U (overlap_tc's backward: its inverse passes
// leave out the third unit, whose spectrum only P reads).
template <int R, int S, int TN, int TS, int U = PAIRS>
@ else
template <int R, int S, int TN, int TS>
@ end
static __device__ __forceinline__ void col_pass(u32 sb, const Dft<R> &d, int kmax, int mmax,
                                                const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / (8 * R);
@ local joined = twiddle == "table"
@ if joined then
  // A task's tile starts at j0, whose bits are apart from those of a row's k S and a column's
  // offset: its addresses join swz(j0) with the lane's parts, computed here once (swz_join).
  u32 lrd[R == 8 ? 1 : R / 16], lst[R / 8];
#pragma unroll
  for (int ki = 0; ki < (R == 8 ? 1 : R / 16); ki++)
    lrd[ki] = swz((R == 8 ? (lane & 7) : 8 * (2 * ki + (lane >> 4)) + (lane & 7)) * S);
#pragma unroll
  for (int mi = 0; mi < R / 8; mi++) lst[mi] = swz((8 * mi + g) * S + 2 * t);
@ end
  for (u32 task = warp; task < ${col_units and "U" or "PAIRS"} * TILES; task += WARPS) {
    const u32 q = task / TILES, rem = task % TILES;
    const u32 j0 = (rem / (S / 8)) * R * S + (rem % (S / 8)) * 8;
    const u32 pb = sb + q * PAIR_BYTES;
@ if joined then
    const u32 s0 = swz(j0);
@ end
@ local rd8 = joined and "swz_join(s0, lrd[0])" or "swz(j0 + (lane & 7) * S)"
@ local rd16 = joined and "swz_join(s0, lrd[ki / 2])"
@   or "swz(j0 + (8 * (ki + (lane >> 4)) + (lane & 7)) * S)"
    u32 b[R / 8][2];
    if constexpr (R == 8) {
      ldsm2t(b[0][0], b[0][1], pb + ((lane >> 3) & 1) * PLANE_BYTES + ${rd8});
    } else {
#pragma unroll
      for (int ki = 0; ki < R / 8; ki += 2) {
        if (ki < kmax) {
          u32 r[4];
          ldsm4t(r, pb + ((lane >> 3) & 1) * PLANE_BYTES +
                        ${rd16});
          b[ki][0] = r[0];
          b[ki][1] = r[1];
          b[(ki + 1) % (R / 8)][0] = r[2];
          b[(ki + 1) % (R / 8)][1] = r[3];
        }
      }
    }
    // The outputs overwrite the rows just read, and ldmatrix has lanes read what other lanes
    // of the warp will write: every lane's reads complete before any lane stores.
    __syncwarp();
#pragma unroll
    for (int mi = 0; mi < R / 8; mi++) {
      if (mi >= mmax) continue;
      float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int ki = 0; ki < R / 8; ki++)
        if (ki < kmax) mma(acc, d.c[mi][ki], d.s[mi][ki], d.ns[mi][ki], d.c[mi][ki], b[ki][0], b[ki][1]);
      ${include(epilogue, {pass = "col"})}
    }
  }
}

// acc = a F for a 16-row tile: the A fragments a (Re and Im of 8 columns per k step) times
// the transposed real embedding; acc[2c] and acc[2c + 1] are Re and Im of outputs 8c.. 8c+7.
template <int R>
static __device__ __forceinline__ void row_dft(float (&acc)[R / 4][4], const u32 (&a)[R / 8][4],
                                               const Dft<R> &d) {
#pragma unroll
  for (int u = 0; u < R / 4; u++) acc[u][0] = acc[u][1] = acc[u][2] = acc[u][3] = 0.0f;
#pragma unroll
  for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
    for (int ki = 0; ki < R / 8; ki++) {
      mma(acc[2 * cc], a[ki][0], a[ki][1], a[ki][2], a[ki][3], d.c[cc][ki], d.ns[cc][ki]);
      mma(acc[2 * cc + 1], a[ki][0], a[ki][1], a[ki][2], a[ki][3], d.s[cc][ki], d.c[cc][ki]);
    }
}

// The row pass: R-point DFTs of contiguous rows, the filter product, conjugation and the
// inverse row DFTs, one 16-row tile per warp at a time. Outputs get twiddle<TN, TS>.
template <int R, int TN, int TS>
static __device__ __forceinline__ void row_pass(u32 sb, const Dft<R> &d,
                                                const float2 *__restrict__ k_hat,
                                                long long c0, long long BP, int H,
                                                const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    ${include(row_task)}
    ${include(row_tile)}
    // y = conj(z k_hat), straight into A fragments: {Re row g, Re row g+8, Im g, Im g+8}.
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
        const float4 kk = *(const float4 *)(kp + j);
        const float zr0 = acc[2 * cc][2 * hr], zi0 = acc[2 * cc + 1][2 * hr];
        const float zr1 = acc[2 * cc][2 * hr + 1], zi1 = acc[2 * cc + 1][2 * hr + 1];
        a[cc][hr] = pack2(zr0 * kk.x - zi0 * kk.y, zr1 * kk.z - zi1 * kk.w);
        a[cc][2 + hr] = pack2(-(zr0 * kk.y + zi0 * kk.x), -(zr1 * kk.w + zi1 * kk.z));
      }
    row_dft(acc, a, d);
    ${include(row_store)}
  }
}
]==], "=templates/lib/tc_dft.lua (functions)",
  { epilogue = dft.epilogue, row_tile = dft.row_tile, row_store = dft.row_store,
    row_task = dft.row_task })

-- A frequency band (the low-pass mask freq_keep F, README "Frequency-sparse filters"): column c
-- of a row-pass row is the frequency digit of weight N / R, the highest, so the mask keeps
-- whole columns: c < a and c >= R - a, a = ceil(F R / N). BAND groups of 8 slots hold the
-- columns c < 4 BAND and c >= R - 4 BAND; the forward row DFTs compute only those outputs, the
-- filter bins only those are read, and the inverse row DFTs take only those inputs (the rest
-- are zero: masked). The DFT fragments for the pruned products are their own registers.
dft.band_functions = tpl.piece([==[
@ if band_d then
// z + d v for eight operands each (the D term the banded row pass leaves out).
static __device__ __forceinline__ uint4 add_dv(uint4 z, uint4 v, float d) {
  const u32 zz[4] = {z.x, z.y, z.z, z.w}, vv[4] = {v.x, v.y, v.z, v.w};
  u32 o[4];
#pragma unroll
  for (int k = 0; k < 4; k++) {
    const float2 a = unpack2(zz[k]), b = unpack2(vv[k]);
    o[k] = pack2(a.x + d * b.x, a.y + d * b.y);
  }
  return uint4{o[0], o[1], o[2], o[3]};
}
@ end
// The column of slot s of a banded row.
template <int R, int BAND>
static __device__ __forceinline__ int band_col(int s) {
  return s < 4 * BAND ? s : R - 8 * BAND + s;
}
// The B fragments of the banded row DFTs: f* the forward's (slot group cc of outputs, input
// group ki), i* the inverse's (output group cc, slot group ki of inputs).
template <int R, int BAND>
struct DftBand {
  u32 fc[BAND][R / 8], fs[BAND][R / 8], fns[BAND][R / 8];
  u32 ic[R / 8][BAND], is[R / 8][BAND], ins[R / 8][BAND];
  __device__ __forceinline__ void init() {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int cc = 0; cc < BAND; cc++)
#pragma unroll
      for (int ki = 0; ki < R / 8; ki++)
        dft_pair<R>(band_col<R, BAND>(8 * cc + g), 8 * ki + 2 * t, fc[cc][ki], fs[cc][ki],
                    fns[cc][ki]);
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int ki = 0; ki < BAND; ki++)
        dft_pair<R>(8 * cc + g, band_col<R, BAND>(8 * ki + 2 * t), ic[cc][ki], is[cc][ki],
                    ins[cc][ki]);
  }
};

// row_pass for a band: the same tiles, BAND / (R / 8) of the forward's and the inverse's
// products and of the filter bins.
template <int R, int BAND, int TN, int TS>
static __device__ __forceinline__ void row_pass_band(u32 sb, const DftBand<R, BAND> &d,
                                                     const float2 *__restrict__ k_hat,
                                                     long long c0, long long BP, int H,
                                                     const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    ${include(row_task)}
    ${include(row_load)}
    float bacc[2 * BAND][4];
#pragma unroll
    for (int u = 0; u < 2 * BAND; u++) bacc[u][0] = bacc[u][1] = bacc[u][2] = bacc[u][3] = 0.0f;
#pragma unroll
    for (int cc = 0; cc < BAND; cc++)
#pragma unroll
      for (int ki = 0; ki < R / 8; ki++) {
        mma(bacc[2 * cc], a[ki][0], a[ki][1], a[ki][2], a[ki][3], d.fc[cc][ki], d.fns[cc][ki]);
        mma(bacc[2 * cc + 1], a[ki][0], a[ki][1], a[ki][2], a[ki][3], d.fs[cc][ki], d.fc[cc][ki]);
      }
    // y = conj(z k_hat) on the band's slots, straight into A fragments. With D, every bin
    // of k_hat holds D beside the masked spectrum (the one at column R/2 of row 0, frequency
    // N/2, outside the band, is D alone): taken off here, D v is added at the store.
@ if band_d then
    const float dd = kp[R / 2].x;
@ end
    u32 b[BAND][4];
#pragma unroll
    for (int cc = 0; cc < BAND; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        const u32 j = (r0 + g + 8 * hr) * R + band_col<R, BAND>(8 * cc + 2 * t);
@ if band_d then
        float4 kk = *(const float4 *)(kp + j);
        kk.x -= dd, kk.z -= dd;
@ else
        const float4 kk = *(const float4 *)(kp + j);
@ end
        const float zr0 = bacc[2 * cc][2 * hr], zi0 = bacc[2 * cc + 1][2 * hr];
        const float zr1 = bacc[2 * cc][2 * hr + 1], zi1 = bacc[2 * cc + 1][2 * hr + 1];
        b[cc][hr] = pack2(zr0 * kk.x - zi0 * kk.y, zr1 * kk.z - zi1 * kk.w);
        b[cc][2 + hr] = pack2(-(zr0 * kk.y + zi0 * kk.x), -(zr1 * kk.w + zi1 * kk.z));
      }
    float acc[R / 4][4];
#pragma unroll
    for (int u = 0; u < R / 4; u++) acc[u][0] = acc[u][1] = acc[u][2] = acc[u][3] = 0.0f;
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int ki = 0; ki < BAND; ki++) {
        mma(acc[2 * cc], b[ki][0], b[ki][1], b[ki][2], b[ki][3], d.ic[cc][ki], d.ins[cc][ki]);
        mma(acc[2 * cc + 1], b[ki][0], b[ki][1], b[ki][2], b[ki][3], d.is[cc][ki], d.ic[cc][ki]);
      }
    ${include(row_store)}
  }
}
]==], "=templates/lib/tc_dft.lua (band_functions)",
  { row_load = dft.row_load, row_store = dft.row_store, row_task = dft.row_task })

-- What monarch_tc's kernels (and overlap_tc's) run, forward and backward alike: the DFT
-- matrices in registers, the forward column passes (the first reads `kmax` 8-row groups: a
-- causal input's zero top half is skipped) and the inverse ones (the last computes `kmax`
-- 8-row groups of outputs: those below L). Names: passes, radices.
dft.matrices = tpl.piece([==[
@ for _, r in ipairs(radices) do
Dft<${r}> d${r};
d${r}.init();
@ end
]==], "=templates/lib/tc_dft.lua (matrices)")
dft.cols_forward = tpl.piece([==[
@ for i = 1, #passes - 1 do
@   local p = passes[i]
col_pass<${p.r}, ${p.s}, ${p.r}, ${p.s}>(sb, d${p.r}, ${i == 1 and "kmax" or p.r // 8}, ${p.r // 8}, tw);
__syncthreads();
@ end
]==], "=templates/lib/tc_dft.lua (cols_forward)")
dft.cols_inverse = tpl.piece([==[
@ local inv_units = col_units and ", " .. col_units or ""
@ for i = #passes - 1, 1, -1 do
@   local p = passes[i]
@   if i > 1 then
col_pass<${p.r}, ${p.s}, ${passes[i - 1].r}, ${passes[i - 1].s}${inv_units}>(sb, d${p.r}, ${p.r // 8}, ${p.r // 8}, tw);
@   else
col_pass<${p.r}, ${p.s}, 0, 1${inv_units}>(sb, d${p.r}, ${p.r // 8}, kmax, tw);
@   end
__syncthreads();
@ end
]==], "=templates/lib/tc_dft.lua (cols_inverse)")

return dft
