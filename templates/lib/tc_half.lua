-- lib/tc_half.lua: monarch_tc's real "half" strategy (each row as N = NR/2 complex points):
-- its forward row pass into an fp32 scratch, the spectral pass (the real row's spectrum times
-- the filter, folded back) and its inverse row pass. Names the text uses: pos_k (where
-- frequency k lands after the forward passes) and khat.
local tpl = require "lib.tpl"
local dft = require "lib.tc_dft"

local half = {}

half.passes = tpl.piece([==[
// real "half": one row of NR real samples is z[m] = x[2m] + i x[2m+1], m < N. The row pass
// writes its DFT Z (fp32) to a scratch area behind the planes; the spectral pass turns Z into
// the inverse's input there; the inverse row pass reads it back.
#define SCRATCH_OFF (PAIRS * PAIR_BYTES)
#define KH ${khat}  // float2 values of k_hat a head: NR of scratch, then bins 0..N

// The forward row pass of "half": R-point DFTs of contiguous rows into scratch.
template <int R>
static __device__ __forceinline__ void row_fwd_half(u32 sb, const Dft<R> &d) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    const u32 q = task / TILES, r0 = (task % TILES) * 16;
    const u32 pb = sb + q * PAIR_BYTES;
    ${include(dft.row_tile)}
    float2 *z = (float2 *)(smem_base() + SCRATCH_OFF) + q * N;
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
        *(float4 *)(z + j) = float4{acc[2 * cc][2 * hr], acc[2 * cc + 1][2 * hr],
                                    acc[2 * cc][2 * hr + 1], acc[2 * cc + 1][2 * hr + 1]};
      }
  }
}

// From Z at k and N - k to the inverse's input at k: the spectrum X of the NR real samples at
// k and k + N, times the filter bins ka and kb, folded back (the 1/4 is in k_hat).
static __device__ __forceinline__ float2 spectral(float2 za, float2 zb, float2 w, float2 ka,
                                                  float2 kb) {
  const float2 e = {za.x + zb.x, za.y - zb.y};           // za + conj(zb)
  const float2 o = {za.y + zb.y, -(za.x - zb.x)};        // -i (za - conj(zb))
  const float2 wo = cmul(w, o);
  const float2 y0 = cmul(float2{e.x + wo.x, e.y + wo.y}, ka);
  const float2 y1 = cmul(float2{e.x - wo.x, e.y - wo.y}, kb);
  const float2 df = {y0.x - y1.x, y0.y - y1.y};
  const float2 dif = {df.x * w.x + df.y * w.y, df.y * w.x - df.x * w.y};  // conj(w) (y0 - y1)
  return float2{y0.x + y1.x - dif.y, y0.y + y1.y + dif.x};
}

// Position of frequency k of the N-point transform after the forward passes.
static __device__ __forceinline__ u32 fpos(u32 k) { return ${pos_k}; }

static __device__ __forceinline__ void spectral_pass(const float2 *__restrict__ k_hat,
                                                     long long c0, int H) {
  for (int i = threadIdx.x; i < PAIRS * (N / 2 + 1); i += THREADS) {
    const int q = i / (N / 2 + 1), k = i % (N / 2 + 1), kk = (N - k) & (N - 1);
    const float2 *__restrict__ kh = k_hat + ((c0 + q) % H) * KH + NR;
    float2 *z = (float2 *)(smem_base() + SCRATCH_OFF) + q * N;
    const float2 zk = z[fpos(k)], zkk = z[fpos(kk)];
    const float2 ck = kh[N - k], ckk = kh[k];
    z[fpos(k)] = spectral(zk, zkk, root<NR>(k), kh[k], float2{ck.x, -ck.y});
    if (kk != k)
      z[fpos(kk)] = spectral(zkk, zk, root<NR>(kk), kh[kk], float2{ckk.x, -ckk.y});
  }
}

// The inverse row pass of "half": conj of the spectral pass's output, R-point DFTs, the
// twiddle of the next inverse pass, into the planes.
template <int R, int TN, int TS>
static __device__ __forceinline__ void row_inv_half(u32 sb, const Dft<R> &d,
                                                    const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    const u32 q = task / TILES, r0 = (task % TILES) * 16;
    const u32 pb = sb + q * PAIR_BYTES;
    const float2 *z = (const float2 *)(smem_base() + SCRATCH_OFF) + q * N;
    u32 a[R / 8][4];
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        const float4 v = *(const float4 *)(z + (r0 + g + 8 * hr) * R + 8 * cc + 2 * t);
        a[cc][hr] = pack2(v.x, v.z);
        a[cc][2 + hr] = pack2(-v.y, -v.w);
      }
    float acc[R / 4][4];
    row_dft(acc, a, d);
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        ${include(dft.epilogue, {pass = "row"})}
      }
  }
}
]==], "=templates/lib/tc_half.lua (passes)", { dft = dft })

return half
