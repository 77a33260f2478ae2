-- lib/tc_rows.lua: monarch_tc's rows between global memory and the shared planes. A block
-- moves its units' rows in 16-byte chunks of 8 samples (vec: one 16-byte load or store, else
-- sample by sample, zero past L), times the pre gate on the way in and the post gate on the
-- way out; with cp.async (load "async") the next group's rows are staged while this one
-- computes. Names the text uses: pre_gate, post_gate, op_ptx, real, load.
local tpl = require "lib.tpl"

local rows = {}
local own = {} -- the names the pieces below see beside the template's

-- The chunk-to-row decode of a "pair" block: chunk i, of `chunks` chunks a row, is samples
-- n0 .. n0+7 of plane pl of the block's unit q (plane 0: row (2 bp, h), plane 1: row
-- (2 bp + 1, h)); with `row`, also the unit's pair c and the row's batch b, whose sample n0
-- is at row_offset in u, pre, post and y.
-- `from`: the plane position of the first chunk (0 but for seg's stores).
-- With `seg` (overlap_tc) the unit is segment pair sp = grp0 + q of row `row` (SPR pairs a
-- row), plane pl segment 2 sp + pl, and plane position n0 (from `from`) is sequence position
-- t0: segment j's N samples start at j SEG - (N - SEG), its last SEG outputs are its own.
own.decode = tpl.piece([==[
@ if seg then
const int q = i / (2 * ${chunks}), pl = (i / ${chunks}) & 1;
const int n0 = ${from} + (i % ${chunks}) * 8;
@   if row then
const long long sp = grp0 + q, t0 = (2 * sp + pl) * SEG - (N - SEG) + n0;
@   end
@ else
const int q = i / (2 * ${chunks}), pl = (i / ${chunks}) & 1, n0 = (i % ${chunks}) * 8;
@   if row then
const long long c = c0 + q, b = 2 * pair_bp(c, BP, H) + pl;
@   end
@ end
]==], "=templates/lib/tc_rows.lua (decode)")
own.row_offset = "(b * H + pair_head(c, BP, H)) * L + n0"

-- The forward's "pair" decode (not seg): `sh` is log2 of the chunks a plane (a power of two),
-- so q, pl and n0 are shifts and masks, and with `row` the row's offset comes from rbase (the
-- group's table, rows.bases), not from a division by H per chunk (bench/NOTES.md, 22a).
own.decode_fast = tpl.piece([==[
const int q = i >> (${sh} + 1), pl = (i >> ${sh}) & 1, n0 = (i & ((1 << ${sh}) - 1)) * 8;
@ if row then
const long long base = i < total ? rbase[2 * q + pl] : -1;  // -1: no row
@ end
]==], "=templates/lib/tc_rows.lua (decode_fast)")

-- The group's row offsets for decode_fast (plane pl of unit q at 2 q + pl; -1: no such row),
-- and with band_d each row's D: written by 2 PAIRS threads, then a barrier. The forward
-- kernel points rbase (and rowd) into shared memory after the planes.
rows.bases = tpl.piece([==[
if (threadIdx.x < 2 * PAIRS) {
  const int q = threadIdx.x >> 1, pl = threadIdx.x & 1;
  const long long c = c0 + q, b = 2 * pair_bp(c, BP, H) + pl;
  const bool ok = c < pairs && b < B;
  rbase[threadIdx.x] = ok ? (b * H + pair_head(c, BP, H)) * L : -1;
@ if band_d then
  rowd[threadIdx.x] = ok ? k_hat[pair_head(c, BP, H) * N + ${passes[#passes].r // 2}].x : 0.0f;
@ end
}
__syncthreads();
]==], "=templates/lib/tc_rows.lua (bases)")

-- load8 (and the backward's load8g): eight samples of x at gi, times a gate when `gated`, as
-- operands. Names: fn, x, gate (the parameters' names), gated.
own.load8_fn = tpl.piece([==[
// Samples n0 .. n0+7 of a row at gi, times the ${gate} gate, as eight operands; zeros past L.
// vec: 16-byte loads (L a multiple of 8, aligned pointers), else one sample at a time.
static __device__ __forceinline__ uint4 ${fn}(const io_t *__restrict__ ${x},
                                              const io_t *__restrict__ ${gate}, long long gi, int n0,
                                              int L, bool vec) {
  if (vec) {
@ if gated then
    return mul8(*(const uint4 *)(${x} + gi), *(const uint4 *)(${gate} + gi));
@ else
    return *(const uint4 *)(${x} + gi);
@ end
  }
  float f[8];
#pragma unroll
  for (int k = 0; k < 8; k++) {
    f[k] = 0.0f;
    if (n0 + k < L) {
@ if gated then
      f[k] = ld(${x}, gi + k) * ld(${gate}, gi + k);
@ else
      f[k] = ld(${x}, gi + k);
@ end
    }
  }
  return uint4{pack2(f[0], f[1]), pack2(f[2], f[3]), pack2(f[4], f[5]), pack2(f[6], f[7])};
}
]==], "=templates/lib/tc_rows.lua (load8_fn)")
rows.load8_fn = own.load8_fn

-- Gated products of operands; load8 and store8, one chunk between a row and eight operands.
rows.functions = tpl.piece([==[
// Products of operand pairs, rounded once (as the fp32 product rounded to ${op} would be).
static __device__ __forceinline__ u32 mul2(u32 a, u32 b) {
  u32 r;
  asm("fma.rn.${op_ptx}x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(0x80008000u));
  return r;
}
static __device__ __forceinline__ uint4 mul8(uint4 x, uint4 p) {
  return uint4{mul2(x.x, p.x), mul2(x.y, p.y), mul2(x.z, p.z), mul2(x.w, p.w)};
}

${include(load8_fn, {fn = "load8", x = "u", gate = "pre", gated = pre_gate})}

@ if direction ~= "backward" then
// Eight operands s, times the post gate, to samples n0 .. n0+7 at gi; none past L.
static __device__ __forceinline__ void store8(io_t *__restrict__ y, const io_t *__restrict__ post,
                                              long long gi, int n0, int L, bool vec, uint4 s) {
  if (vec) {
@ if post_gate then
    s = mul8(s, *(const uint4 *)(post + gi));
@ end
    *(uint4 *)(y + gi) = s;
    return;
  }
  const u32 w[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
  for (int k = 0; k < 8; k++)
    if (n0 + k < L) {
      const float2 t2 = unpack2(w[k / 2]);
      const float f = k & 1 ? t2.y : t2.x;
@ if post_gate then
      st(y, gi + k, f * ld(post, gi + k));
@ else
      st(y, gi + k, f);
@ end
    }
}
@ end

#define UNROLL 4
]==], "=templates/lib/tc_rows.lua (functions)", own)

-- load "async": staging the next group's rows with cp.async.
rows.stage = tpl.piece([==[
// load "async": the next group's rows are copied into a staging area behind the planes with
// 16-byte cp.async while the current group computes. Staging holds u, then pre, for every
// (pair, plane, chunk) in that order.
#define STAGE_OFF (PAIRS * PAIR_BYTES)
#define STAGE_PRE (PAIRS * 4 * N)
static __device__ __forceinline__ void cp16(u32 dst, const void *src, u32 bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes)
               : "memory");
}
@ if seg then
// Starts copying group grp's segments of row `row`; chunks outside the row (or segment pairs
// past its last) are zero-filled.
static __device__ __forceinline__ void stage(u32 sb, long long row, long long grp,
                                             const io_t *u, const io_t *pre, int L, int zchunks) {
  const long long grp0 = grp * PAIRS;
  const int total = PAIRS * 2 * zchunks;
  for (int i = threadIdx.x; i < total; i += THREADS) {
    ${include(decode, {chunks = "zchunks", row = true, from = 0})}
    const bool ok = sp < SPR && t0 >= 0 && t0 < L;
    const long long gi = ok ? row * L + t0 : 0;
@ else
// Starts copying group grp's rows; chunks past L or past the last row are zero-filled.
static __device__ __forceinline__ void stage(u32 sb, long long grp, const io_t *u, const io_t *pre,
                                             long long pairs, long long B, long long BP, int H,
                                             int L, int zchunks) {
  const long long c0 = grp * PAIRS;
  const int total = PAIRS * 2 * zchunks;
  for (int i = threadIdx.x; i < total; i += THREADS) {
    ${include(decode, {chunks = "zchunks", row = true, from = 0})}
    const bool ok = c < pairs && b < B && n0 < L;
    const long long gi = ok ? ${row_offset} : 0;
@ end
    cp16(sb + STAGE_OFF + i * 16, u + gi, ok ? 16 : 0);
@   if pre_gate then
    cp16(sb + STAGE_OFF + STAGE_PRE + i * 16, pre + gi, ok ? 16 : 0);
@   end
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
}
]==], "=templates/lib/tc_rows.lua (stage)", own)

-- The load of a group's rows into the planes with plain loads: "half" puts a row's even
-- samples in the real plane and its odd ones in the imaginary plane; "pair" a pair's two rows.
own.load_plain = tpl.piece([==[
@ if real == "half" then
{
  // 16 bytes of the row (8 samples) give 4 even samples (real plane) and 4 odd ones.
  const int total = PAIRS * 2 * zchunks;
  for (int i0 = threadIdx.x; i0 < total; i0 += THREADS * UNROLL) {
    uint4 v[UNROLL];
#pragma unroll
    for (int e = 0; e < UNROLL; e++) {
      const int i = i0 + e * THREADS;
      v[e] = uint4{0u, 0u, 0u, 0u};
      const int q = i / (2 * zchunks), n0 = (i % (2 * zchunks)) * 8;
      const long long c = c0 + q;
      if (i < total && c < pairs && n0 < L) {
        const long long gi = c * L + n0;
        v[e] = load8(u, pre, gi, n0, L, vec);
      }
    }
#pragma unroll
    for (int e = 0; e < UNROLL; e++) {
      const int i = i0 + e * THREADS;
      if (i < total) {
        const int q = i / (2 * zchunks), m0 = (i % (2 * zchunks)) * 4;
        unsigned char *pb = smem + q * PAIR_BYTES + swz(m0);
        *(uint2 *)pb = uint2{__byte_perm(v[e].x, v[e].y, 0x5410), __byte_perm(v[e].z, v[e].w, 0x5410)};
        *(uint2 *)(pb + PLANE_BYTES) = uint2{__byte_perm(v[e].x, v[e].y, 0x7632),
                                             __byte_perm(v[e].z, v[e].w, 0x7632)};
      }
    }
  }
}
@ else
{
  const int total = PAIRS * 2 * zchunks;
  for (int i0 = threadIdx.x; i0 < total; i0 += THREADS * UNROLL) {
    uint4 v[UNROLL];
#pragma unroll
    for (int e = 0; e < UNROLL; e++) {
      const int i = i0 + e * THREADS;
      v[e] = uint4{0u, 0u, 0u, 0u};
@ if seg then
      ${include(decode, {chunks = "zchunks", row = true, from = 0})}
      if (i < total && sp < SPR && t0 >= 0 && t0 < L) v[e] = load8(u, pre, row * L + t0, (int)t0, L, vec);
@ else
      ${include(decode_fast, {sh = "zsh", row = true})}
      if (i < total && base >= 0 && n0 < L) v[e] = load8(u, pre, base + n0, n0, L, vec);
@ end
    }
#pragma unroll
    for (int e = 0; e < UNROLL; e++) {
      const int i = i0 + e * THREADS;
      if (i < total) {
@ if seg then
        ${include(decode, {chunks = "zchunks", row = false, from = 0})}
@ else
        ${include(decode_fast, {sh = "zsh", row = false})}
@ end
        *(uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = v[e];
      }
    }
  }
}
@ end
]==], "=templates/lib/tc_rows.lua (load_plain)", own)

-- The load of a group's rows into the planes: from the staging area when cp.async staged
-- them (aligned rows, vec), else with plain loads.
rows.load = tpl.piece([==[
@ if load == "async" then
if (vec) {
  asm volatile("cp.async.wait_all;" ::: "memory");
  __syncthreads();
  const int total = PAIRS * 2 * zchunks;
  for (int i = threadIdx.x; i < total; i += THREADS) {
@   if seg then
    ${include(decode, {chunks = "zchunks", row = false, from = 0})}
@   else
    ${include(decode_fast, {sh = "zsh", row = false})}
@   end
@   if pre_gate then
    const uint4 v = mul8(*(const uint4 *)(smem + STAGE_OFF + i * 16),
                         *(const uint4 *)(smem + STAGE_OFF + STAGE_PRE + i * 16));
@   else
    const uint4 v = *(const uint4 *)(smem + STAGE_OFF + i * 16);
@   end
    *(uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = v;
  }
  __syncthreads();  // the staging area is free and the planes are complete
@   if seg then
  if (grp + gridDim.y < NG) stage(sb, row, grp + gridDim.y, u, pre, L, zchunks);
@   else
  if ((grp + gridDim.x) * PAIRS < pairs)
    stage(sb, grp + gridDim.x, u, pre, pairs, B, BP, H, L, zchunks);
@   end
} else
${include(load_plain)}
@ else
${include(load_plain)}
@ end
]==], "=templates/lib/tc_rows.lua (load)", own)

-- The store of a group's results from the planes to y.
rows.store = tpl.piece([==[
@ if real == "half" then
// Store: samples 2m and 2m+1 are the real part and minus the imaginary part (the data is
// kept conjugated) of z[m], times the post gate.
{
  const int lchunks = L >= NR ? NR / 8 : (L + 7) / 8;
  const int total = PAIRS * lchunks;
  for (int i = threadIdx.x; i < total; i += THREADS) {
    const int q = i / lchunks, n0 = (i % lchunks) * 8;
    const long long c = c0 + q;
    if (c >= pairs) continue;
    const long long gi = c * L + n0;
    const unsigned char *pb = smem + q * PAIR_BYTES + swz(n0 / 2);
    const uint2 re = *(const uint2 *)pb, im = *(const uint2 *)(pb + PLANE_BYTES);
    const uint2 ni = uint2{im.x ^ 0x80008000u, im.y ^ 0x80008000u};
    const uint4 s = uint4{__byte_perm(re.x, ni.x, 0x5410), __byte_perm(re.x, ni.x, 0x7632),
                          __byte_perm(re.y, ni.y, 0x5410), __byte_perm(re.y, ni.y, 0x7632)};
    store8(y, post, gi, n0, L, vec, s);
  }
}
@ else
// Store: the real plane to row (2 bp, h), minus the imaginary one (the data is kept
// conjugated) to (2 bp + 1, h), times the post gate.
{
@ if seg then
  // overlap_tc: each segment's last SEG outputs, up to L
  const int lchunks = SEG / 8;
  const int total = PAIRS * 2 * lchunks;
@ else
  // chunks a plane: N/16 (every output below L <= N/2) or N/8, a power of two; past L skipped
  const int ssh = L <= N / 2 ? ${logn_pts - 4} : ${logn_pts - 3};
  const int total = PAIRS * 2 << ssh;
@ end
  for (int i = threadIdx.x; i < total; i += THREADS) {
@ if seg then
    ${include(decode, {chunks = "lchunks", row = true, from = "(N - SEG)"})}
    if (sp >= SPR || t0 >= L) continue;
    const long long gi = row * L + t0;
@ else
    ${include(decode_fast, {sh = "ssh", row = true})}
    if (base < 0 || n0 >= L) continue;
    const long long gi = base + n0;
@ end
    const uint4 s = *(const uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0));
    const u32 neg = pl ? 0x80008000u : 0u;  // the sign bits of both halves
@ if band_d then
    // a banded row pass with D: D v added here (D from k_hat's bin N/2, outside the band)
    const uint4 z = add_dv(uint4{s.x ^ neg, s.y ^ neg, s.z ^ neg, s.w ^ neg},
                           load8(u, pre, gi, n0, L, vec), rowd[2 * q + pl]);
    store8(y, post, gi, n0, L, vec, z);
@ else
    store8(y, post, gi, ${seg and "(int)t0" or "n0"}, L, vec, uint4{s.x ^ neg, s.y ^ neg, s.z ^ neg, s.w ^ neg});
@ end
  }
}
@ end
]==], "=templates/lib/tc_rows.lua (store)", own)

return rows
