-- lib/tc_bwd.lua: the tensor-core backward's pieces, shared by monarch_tc (a block per head
-- over its batch pairs) and overlap_tc (a block per head over its rows' segment pairs): the
-- loads and stores of g, dv and z, the row pass that sums P = conj(Zv) Zg over the block's
-- work and sends z and dv through the inverse row DFTs, dk from P, and fftconv_bdk, which adds
-- the shares of P when a head's work is cut into SPLIT blocks. Names the texts use: P_SMEM,
-- SPLIT (macros of the kernel), freq_expr and logn (dk_transform), own_g (overlap_tc: a third
-- unit holds the samples of g a segment owns, and P takes its spectrum instead of unit 1's),
-- tap1 (overlap_tc with one tap: dk[h] is the sum of g * v, dd's without D, so it is taken
-- from the inputs in fp32 as dd is, and P is not summed; bench/NOTES.md 29).
local tpl = require "lib.tpl"

local bwd = {}

-- The backward's dk: the inverse of P in natural order (the bins of the mask kept), by
-- radix-2 steps on X (8N bytes: shared memory, or dk_x, a workspace region of N bins when the
-- block's shared memory is smaller, as seq's); `bin` sets pj, bin j of P, from where P is.
bwd.dk_transform = tpl.piece([==[
// dk: the inverse of P in natural order (bins of the mask kept), by radix-2 steps on X
float2 *X = ${dk_x or "(float2 *)smem"};
for (int j = threadIdx.x; j < N; j += THREADS) {
  const int f = ${freq_expr};
  const int fm = f < N - f ? f : N - f;
  float2 pj = float2{0.0f, 0.0f};
  if (F == 0 || fm < F) {
    ${bin}
  }
  X[__brev((unsigned)f) >> (32 - ${logn})] = pj;
}
__syncthreads();
for (int len = 2; len <= N; len <<= 1) {
  for (int q = threadIdx.x; q < N / 2; q += THREADS) {
    const int half = len >> 1, k = q % half, i0 = (q / half) * len + k, i1 = i0 + half;
    float sn, cs;
    sincospif(2.0f * (float)k / (float)len, &sn, &cs);
    const float2 a = X[i0], bb = cmul(X[i1], float2{cs, sn});
    X[i0] = float2{a.x + bb.x, a.y + bb.y};
    X[i1] = float2{a.x - bb.x, a.y - bb.y};
  }
  __syncthreads();
}
for (int j = threadIdx.x; j < K; j += THREADS) dk[(long long)h * K + j] = X[j].x;
__syncthreads();
]==], "=templates/lib/tc_bwd.lua (dk_transform)")

-- g's loads (load8g), dd's sum from the inputs (dot_vg), the L2 policies and the stores of
-- eight operands times a gate (store8m).
bwd.helpers = tpl.piece([==[
${include(rows.load8_fn, {fn = "load8g", x = "dy", gate = "post", gated = post_gate})}

// The sum of g * v over samples n0 .. n0+7 at gi (none past L), from the inputs in fp32: the
// products u pre and dy post are not rounded to operands first, so dd carries fp32's error
// alone. The inputs were just loaded for the operands; these loads find them in L1.
static __device__ __forceinline__ float dot_vg(const io_t *__restrict__ u,
                                               const io_t *__restrict__ pre,
                                               const io_t *__restrict__ dy,
                                               const io_t *__restrict__ post, long long gi,
                                               int n0, int L, bool vec) {
  float s = 0.0f;
  if (vec) {
    const uint4 a = *(const uint4 *)(u + gi), b = *(const uint4 *)(dy + gi);
    const u32 x[4] = {a.x, a.y, a.z, a.w}, y[4] = {b.x, b.y, b.z, b.w};
@ if pre_gate then
    const uint4 ga = *(const uint4 *)(pre + gi);
    const u32 xg[4] = {ga.x, ga.y, ga.z, ga.w};
@ end
@ if post_gate then
    const uint4 gb = *(const uint4 *)(post + gi);
    const u32 yg[4] = {gb.x, gb.y, gb.z, gb.w};
@ end
#pragma unroll
    for (int k = 0; k < 4; k++) {
      float2 p = unpack2(x[k]), q = unpack2(y[k]);
@ if pre_gate then
      const float2 pg = unpack2(xg[k]);
      p = float2{p.x * pg.x, p.y * pg.y};
@ end
@ if post_gate then
      const float2 qg = unpack2(yg[k]);
      q = float2{q.x * qg.x, q.y * qg.y};
@ end
      s += p.x * q.x + p.y * q.y;
    }
    return s;
  }
#pragma unroll
  for (int k = 0; k < 8; k++)
    if (n0 + k < L) {
@ if pre_gate then
      const float v = ld(u, gi + k) * ld(pre, gi + k);
@ else
      const float v = ld(u, gi + k);
@ end
@ if post_gate then
      const float g = ld(dy, gi + k) * ld(post, gi + k);
@ else
      const float g = ld(dy, gi + k);
@ end
      s += v * g;
    }
  return s;
}

// L2 policies. What a block keeps across its batch, k_hat and the workspace's part of P, is
// loaded and stored "evict last"; what it reads for the last time (the gates and dy again, for
// the outputs) and what it writes are streamed ("evict first"), so that the first does not
// leave L2 for the second (bench/NOTES.md, section 19).
static __device__ __forceinline__ unsigned long long l2_keep() {
  unsigned long long p;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(p));
  return p;
}
static __device__ __forceinline__ float4 ld_keep(const float2 *a, unsigned long long pol) {
  float4 v;
  asm volatile("ld.global.L2::cache_hint.v4.f32 {%0, %1, %2, %3}, [%4], %5;"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(a), "l"(pol) : "memory");
  return v;
}
static __device__ __forceinline__ void st_keep(float2 *a, float4 v, unsigned long long pol) {
  asm volatile("st.global.L2::cache_hint.v4.f32 [%0], {%1, %2, %3, %4}, %5;"
               :: "l"(a), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w), "l"(pol) : "memory");
}
static __device__ __forceinline__ uint4 ld_stream(const io_t *a) {
  uint4 v;
  asm volatile("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(a) : "memory");
  return v;
}
static __device__ __forceinline__ void st_stream(io_t *a, uint4 v) {
  asm volatile("st.global.cs.v4.u32 [%0], {%1, %2, %3, %4};"
               :: "l"(a), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}

// Eight operands s times m (m NULL: s itself) to samples n0 .. n0+7 at gi; none past L.
static __device__ __forceinline__ void store8m(io_t *__restrict__ y, const io_t *__restrict__ m,
                                               long long gi, int n0, int L, bool vec, uint4 s) {
  if (vec) {
    st_stream(y + gi, m ? mul8(s, ld_stream(m + gi)) : s);
    return;
  }
  const u32 w[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
  for (int k = 0; k < 8; k++)
    if (n0 + k < L) {
      const float2 t2 = unpack2(w[k / 2]);
      const float f = k & 1 ? t2.y : t2.x;
      st(y, gi + k, m ? f * ld(m, gi + k) : f);
    }
}
]==], "=templates/lib/tc_bwd.lua (helpers)")

-- du and dpre from dv's eight operands `d` at gi (sample n): du = dv times pre where there is a
-- pre gate, dpre = dv times u.
bwd.store_dv = tpl.piece([==[
@ if pre_gate then
if (du) store8m(du, pre, ${gi}, ${n}, L, vec, ${d});
@ else
if (du) store8m(du, nullptr, ${gi}, ${n}, L, vec, ${d});
@ end
if (dpre) store8m(dpre, u, ${gi}, ${n}, L, vec, ${d});
]==], "=templates/lib/tc_bwd.lua (store_dv)")

-- What every backward row pass does with bin pair j of a tile (its spectrum in acc, as zr0,
-- zi0, zr1, zi1; cc and hr the fragment's column group and row half): the bins and the
-- filter's kk; conj(Z conj(k)) (g's) or conj(Z k) (v's) into the inverse's fragments a; and
-- P += conj(V) G with V named by vr0 .. vi1 and G the tile's own spectrum or gr0 .. gi1.
local bin = tpl.piece([==[
const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
const float4 kk = ld_keep(kp + j, keep);
const float zr0 = acc[2 * cc][2 * hr], zi0 = acc[2 * cc + 1][2 * hr];
const float zr1 = acc[2 * cc][2 * hr + 1], zi1 = acc[2 * cc + 1][2 * hr + 1];
]==], "=templates/lib/tc_bwd.lua (bin)")
local send_g = tpl.piece([==[
a[cc][hr] = pack2(zr0 * kk.x + zi0 * kk.y, zr1 * kk.z + zi1 * kk.w);
a[cc][2 + hr] = pack2(zr0 * kk.y - zi0 * kk.x, zr1 * kk.w - zi1 * kk.z);
]==], "=templates/lib/tc_bwd.lua (send_g)")
local send_v = tpl.piece([==[
a[cc][hr] = pack2(zr0 * kk.x - zi0 * kk.y, zr1 * kk.z - zi1 * kk.w);
a[cc][2 + hr] = pack2(-(zr0 * kk.y + zi0 * kk.x), -(zr1 * kk.w + zi1 * kk.z));
]==], "=templates/lib/tc_bwd.lua (send_v)")
local p_add = tpl.piece([==[
float4 p = ps ? *(const float4 *)(Ps + j) : ld_keep(Pg + (j - P_SMEM), keep);
p.x += ${vr0} * ${gr0} + ${vi0} * ${gi0}, p.y += ${vr0} * ${gi0} - ${vi0} * ${gr0};
p.z += ${vr1} * ${gr1} + ${vi1} * ${gi1}, p.w += ${vr1} * ${gi1} - ${vi1} * ${gr1};
if (ps) *(float4 *)(Ps + j) = p;
else st_keep(Pg + (j - P_SMEM), p, keep);
]==], "=templates/lib/tc_bwd.lua (p_add)", { gr0 = "gr0", gi0 = "gi0", gr1 = "gr1", gi1 = "gi1" })
local bin_names = { bwd_bin = bin, bwd_send_g = send_g, bwd_send_v = send_v, bwd_p_add = p_add }

-- row_pass_bwd: the row pass of the backward (see the kernels).
bwd.row_pass = tpl.piece([==[
@ if own_g then
// The backward's row pass over the tiles of its units: unit 2's spectrum (g's own samples)
// goes into P only; units 1 (g) and 0 (v) through the filter product and the inverse row DFTs.
@ else
// The backward's row pass over the tiles of both units (see above); acc: whether dk is wanted.
@ end
template <int R, int TN, int TS>
static __device__ __forceinline__ void row_pass_bwd(u32 sb, const Dft<R> &d,
                                                    const float2 *__restrict__ kp, float2 *Ps,
                                                    float2 *Pg, bool sum,
                                                    unsigned long long keep,
                                                    const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  static_assert(P_SMEM % (16 * R) == 0, "P's shared part is whole tiles");
  for (u32 task = warp; task < TILES; task += WARPS) {
    const u32 r0 = task * 16;
    const bool ps = r0 * R < P_SMEM; // this tile's bins of P: in shared memory, or the workspace
    float zg[R / 4][4];
@ if own_g then
    if (sum) {
      // unit 2: the spectrum of g's own samples, kept for P
      const u32 pb = sb + 2 * PAIR_BYTES;
      ${include(dft.row_tile)}
#pragma unroll
      for (int u = 0; u < R / 4; u++)
#pragma unroll
        for (int e = 0; e < 4; e++) zg[u][e] = acc[u][e];
    }
    {
      // unit 1: g's spectrum; conj(Zg conj(k)) = conj(Zg) k through the inverse
@ else
    {
      // unit 1: g's spectrum Zg, kept; conj(Zg conj(k)) = conj(Zg) k through the inverse
@ end
      const u32 pb = sb + PAIR_BYTES;
      ${include(dft.row_tile)}
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          ${include(bwd_bin)}
@ if not own_g then
          zg[2 * cc][2 * hr] = zr0, zg[2 * cc + 1][2 * hr] = zi0;
          zg[2 * cc][2 * hr + 1] = zr1, zg[2 * cc + 1][2 * hr + 1] = zi1;
@ end
          ${include(bwd_send_g)}
        }
      row_dft(acc, a, d);
      ${include(dft.row_store)}
    }
    {
      // unit 0: v's spectrum Zv; P += conj(Zv) Zg; conj(Zv k) through the inverse
      const u32 pb = sb;
      ${include(dft.row_tile)}
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          ${include(bwd_bin)}
          if (sum) {
            const float gr0 = zg[2 * cc][2 * hr], gi0 = zg[2 * cc + 1][2 * hr];
            const float gr1 = zg[2 * cc][2 * hr + 1], gi1 = zg[2 * cc + 1][2 * hr + 1];
            ${include(bwd_p_add, {vr0 = "zr0", vi0 = "zi0", vr1 = "zr1", vi1 = "zi1"})}
          }
          ${include(bwd_send_v)}
        }
      row_dft(acc, a, d);
      ${include(dft.row_store)}
    }
  }
}
]==], "=templates/lib/tc_bwd.lua (row_pass)", bin_names)

-- The sequential backward's row pass (monarch_tc's `seq`: one unit in shared memory, v's
-- transforms and then g's, for N where two units do not fit), row_pass_bwd's units one at a
-- time. G false, v's: Zv into the workspace zw (P's bin order, fp32) when dk is wanted, conj(Zv
-- k) through the inverse row DFTs (z, with D v). G true, g's: P += conj(Zv) Zg with Zv read
-- back from zw, conj(Zg conj(k)) through the inverse (dv, with D g).
bwd.row_pass_seq = tpl.piece([==[
template <int R, int TN, int TS, bool G>
static __device__ __forceinline__ void row_pass_seq(u32 sb, const Dft<R> &d,
                                                    const float2 *__restrict__ kp, float2 *zw,
                                                    float2 *Ps, float2 *Pg, bool sum,
                                                    unsigned long long keep,
                                                    const float2 *__restrict__ tw) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  static_assert(P_SMEM % (16 * R) == 0, "P's shared part is whole tiles");
  for (u32 task = warp; task < TILES; task += WARPS) {
    const u32 r0 = task * 16;
    const bool ps = r0 * R < P_SMEM;
    const u32 pb = sb;
    ${include(dft.row_tile)}
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        ${include(bwd_bin)}
        if constexpr (G) {
          if (sum) {
            const float4 zv = ld_keep(zw + j, keep);
            ${include(bwd_p_add, {vr0 = "zv.x", vi0 = "zv.y", vr1 = "zv.z", vi1 = "zv.w", gr0 = "zr0", gi0 = "zi0", gr1 = "zr1", gi1 = "zi1"})}
          }
          ${include(bwd_send_g)}
        } else {
          if (sum) st_keep(zw + j, float4{zr0, zi0, zr1, zi1}, keep);
          ${include(bwd_send_v)}
        }
      }
    row_dft(acc, a, d);
    ${include(dft.row_store)}
  }
}
]==], "=templates/lib/tc_bwd.lua (row_pass_seq)", bin_names)

-- fftconv_bwd's entry: the backward's kernel ABI (the manifest's arguments in order; ws_args,
-- the workspace regions the candidate takes).
bwd.entry = tpl.piece([==[
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const io_t *__restrict__ dy,
            const float2 *__restrict__ k_hat, io_t *__restrict__ du, io_t *__restrict__ dpre,
            io_t *__restrict__ dpost, float *__restrict__ dk, float *__restrict__ dd,
            long long rows, int L, int H, int K, int F${ws_args}) {
]==], "=templates/lib/tc_bwd.lua (entry)")

-- The end of fftconv_bwd after its work: this block's share of P (split > 1: to the workspace,
-- for fftconv_bdk; else dk from P here) and of dd (a fixed tree over the threads' sums vg).
bwd.tail = tpl.piece([==[
@   if split > 1 then
// this block's share of P and of dd, summed in share order by fftconv_bdk (the bins past
// P_SMEM are there already)
for (int j = threadIdx.x; j < P_SMEM && sum; j += THREADS) part[blk * N + j] = Ps[j];
@   else
if (sum) {
  ${include(dk_transform, {bin = "pj = j < P_SMEM ? Ps[j] : Pg[j - P_SMEM];"})}
}
@   end
if (${tap1 and "dd || dk" or "dd"}) {
  float *red = (float *)smem; // the planes are free after the batch
  red[threadIdx.x] = vg;
  __syncthreads();
  for (int w = THREADS / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
    __syncthreads();
  }
@   if split > 1 then
  if (threadIdx.x == 0) vgp[blk] = red[0];
@   elseif tap1 then
  if (threadIdx.x == 0 && dd) dd[h] = red[0];
  if (threadIdx.x == 0 && dk) dk[h] = red[0];
@   else
  if (threadIdx.x == 0) dd[h] = red[0];
@   end
}
]==], "=templates/lib/tc_bwd.lua (tail)", { dk_transform = bwd.dk_transform })

-- fftconv_bdk: a block a head adds the SPLIT shares of P (then dk_transform) and of dd.
bwd.bdk = tpl.piece([==[
// dk and dd from the SPLIT shares of each head, added in share order (the same bits every run).
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bdk(const float2 *__restrict__ part, const float *__restrict__ vgp,
            float *__restrict__ dk, float *__restrict__ dd, int H, int K, int F) {
  const int h = blockIdx.x;
@ if tap1 then
  // one tap: dk[h] is dd's sum (the shares of vg), P was not summed
  if ((dd || dk) && threadIdx.x == 0) {
@ else
  if (dk) {
    ${include(dk_transform, {bin = "for (int s = 0; s < SPLIT; s++) { const float2 q = part[((long long)h * SPLIT + s) * N + j]; pj.x += q.x, pj.y += q.y; }"})}
  }
  if (dd && threadIdx.x == 0) {
@ end
    float t = 0.0f;
    for (int s = 0; s < SPLIT; s++) t += vgp[(long long)h * SPLIT + s];
@ if tap1 then
    if (dd) dd[h] = t;
    if (dk) dk[h] = t;
@ else
    dd[h] = t;
@ end
  }
}
]==], "=templates/lib/tc_bwd.lua (bdk)", { dk_transform = bwd.dk_transform })

return bwd
