-- monarch_tc: the fused FFT convolution with every DFT stage of the Monarch decomposition run
-- on tensor cores (mma.sync m16n8k16, fp16 or bf16 operands, fp32 accumulation; sm_80+).
--
-- Real input, "pair" strategy: rows (2b, h) and (2b + 1, h) share the head's filter, so they
-- travel as one complex sequence x = u_a + i u_b; the convolution with a real filter is linear,
-- so Re and Im of the result are the two rows' outputs, with no post-processing.
--
-- Shared memory holds each pair as two planes (real, imaginary) of N operand values, in 16-byte
-- chunks XOR-swizzled so that 8 rows at any power-of-two stride hit 8 different bank groups.
-- The N-point FFT, N = n_1 ... n_p (n_i in 8, 16, 32), runs as p in-place passes:
--   pass i < p ("column" pass): n_i-point DFTs at stride S_i = N / (n_1 ... n_i); the complex
--     DFT matrix, embedded as a real 2n x 2n matrix in 16 x 16 blocks [[C, -S], [S, C]], is the
--     mma A operand (held in registers for the whole kernel); the data is the B operand, read
--     with ldmatrix.trans; twiddles W^(k r) are applied to the fp32 accumulators.
--   pass p ("row" pass, stride 1): the data is the A operand and the same registers serve as
--     the B operand (the DFT matrix is symmetric). Its accumulators are multiplied by the
--     filter spectrum and turned straight into the A operand of the inverse row pass, without
--     a trip through shared memory.
-- The inverse runs as conj(F conj(.)): after the filter product the data is kept conjugated,
-- so the inverse passes use the forward matrices and twiddles; the last store undoes it.
-- Every pass, forward and inverse, scales by 1/sqrt(n_i) (folded into its DFT matrix), so
-- values stay near the input's magnitude in fp16 and the 1/N of the inverse is accounted for.
-- Causal mode with L <= N/2: the first pass skips the products on the zero half of the padded
-- input and the last pass skips the outputs past L.
-- k_hat (from the prep kernel) holds, per head, the N spectrum bins of the zero-padded filter in
-- the digit-reversed order the forward passes leave them in, masked, plus D.
local fft = require "lib.fft"
local tpl = require "lib.tpl"
local io_ = require "lib.io"

local family = {
  name = "monarch_tc",
  revision = 1,
  doc = "fused Monarch FFT convolution, DFT stages as fp16/bf16 tensor-core products "
    .. "(mma.sync m16n8k16, fp32 accumulation)",
}

local SIZES = { 8, 16, 32 }
local ORDERS = { 2, 3, 4 }
local WARPS = { 4, 8, 16 }
local PAIRS = { 1, 2, 4, 8 }
local MAX_REGS = 255

local function distinct(factors)
  local seen, out = {}, {}
  for _, f in ipairs(factors) do
    if not seen[f] then seen[f] = true; out[#out + 1] = f end
  end
  table.sort(out)
  return out
end

-- Registers a thread needs, roughly: the DFT matrices (3 (n/8)^2 each), the row pass's
-- operands and accumulators, addressing.
local function regs_estimate(params)
  local r = 0
  for _, f in ipairs(distinct(params.factors)) do r = r + 3 * (f // 8) ^ 2 end
  local np = params.factors[#params.factors]
  return math.tointeger(r + 2.5 * np + 48)
end

-- The complex points the passes transform: N for "pair", N/2 for "half".
local function points(params)
  return params.real == "half" and params.fft_size // 2 or params.fft_size
end

-- The shared memory a block needs, per unit (a row pair, or a row for "half"): two planes of
-- 2-byte operands (plus 1/8 with padding); with cp.async loads a staging area for the next
-- group's u and pre rows; for "half" an fp32 scratch of the row pass's output.
local function smem_bytes(params)
  local n = points(params)
  local plane = params.smem == "pad" and 2 * n + n // 4 or 2 * n
  local stage = params.load == "async" and 4 * n * (params.pre_gate and 2 or 1) or 0
  local scratch = params.real == "half" and 8 * n or 0
  return params.pairs * (2 * plane + stage + scratch)
end

-- The named choices: nil when every one is a value the kernel text knows, else a reason.
local CHOICES = { real = { "pair", "half" }, smem = { "swizzle", "pad" }, load = { "plain", "async" },
                  group = { "row", "head" } }
local function choices_valid(params)
  for _, key in ipairs({ "real", "smem", "load", "group" }) do
    local found = false
    for _, v in ipairs(CHOICES[key]) do found = found or params[key] == v end
    if not found then
      return false, string.format("%s must be one of \"%s\", not %s", key,
        table.concat(CHOICES[key], "\", \""), tostring(params[key]))
    end
  end
  return true
end

-- The variants beside the base one (swizzled shared memory, plain loads, consecutive heads in a
-- block): cp.async double buffering of the next group's rows; a block's pairs from one head (its
-- filter bins read once for all of them); padded instead of swizzled shared memory. They are
-- tried with the middle block shapes only (4 or 8 warps; 1 or 2 pairs, 2 or 4 for "head").
local VARIANTS = {
  { smem = "swizzle", load = "async", group = "row", pairs = { 1, 2 } },
  { smem = "swizzle", load = "plain", group = "head", pairs = { 2, 4 } },
  { smem = "swizzle", load = "async", group = "head", pairs = { 2, 4 } },
  { smem = "pad", load = "plain", group = "row", pairs = { 1, 2 } },
}

-- rigor "measure" prunes to what has won on the H100 (bench/NOTES.md): two or three passes
-- (four from N = 8192, where 32-point stages cost registers), 4 or 8 warps (16 from 16384),
-- blocks of at most 16384 points unless a single pair is bigger, of the variants only
-- cp.async loads with one pair a block, and "half" only for an odd batch.
function family.space(problem, device, rigor)
  local n = problem.fft_size
  local orders, warpss, pairss = ORDERS, WARPS, PAIRS
  local variants = VARIANTS
  if rigor == "measure" then
    orders = n >= 8192 and { 2, 3, 4 } or { 2, 3 }
    warpss = n >= 16384 and { 4, 8, 16 } or { 4, 8 }
    pairss = {}
    for _, p in ipairs(PAIRS) do
      if p == 1 or p * n <= 16384 then pairss[#pairss + 1] = p end
    end
    variants = { { smem = "swizzle", load = "async", group = "row", pairs = { 1 } } }
  end
  local out = {}
  local function add(factors, warps, pairs, v)
    out[#out + 1] = {
      fft_size = n, factors = factors, warps = warps, pairs = pairs, real = v.real or "pair",
      smem = v.smem, load = v.load, group = v.group,
      dtype = problem.dtype, pre_gate = problem.pre_gate, post_gate = problem.post_gate,
    }
  end
  local base = { smem = "swizzle", load = "plain", group = "row" }
  for _, order in ipairs(orders) do
    for _, factors in ipairs(fft.factorizations(n, SIZES, order)) do
      for _, warps in ipairs(warpss) do
        for _, pairs in ipairs(pairss) do add(factors, warps, pairs, base) end
      end
      for _, v in ipairs(variants) do
        for _, warps in ipairs(warpss) do
          if warps <= 8 then
            for _, pairs in ipairs(v.pairs) do add(factors, warps, pairs, v) end
          end
        end
      end
    end
  end
  -- "half": each row as N/2 complex points, one row a unit. Timed by "measure" only for an
  -- odd batch, where "pair" leaves the last batch's rows without a partner.
  if rigor ~= "measure" or problem.batch % 2 == 1 then
    local half = { smem = "swizzle", load = "plain", group = "row", real = "half" }
    for _, order in ipairs(orders) do
      for _, factors in ipairs(fft.factorizations(n // 2, SIZES, order)) do
        for _, warps in ipairs({ 4, 8 }) do
          for _, units in ipairs(rigor == "measure" and { 1 } or { 1, 2 }) do
            add(factors, warps, units, half)
          end
        end
      end
    end
  end
  return out
end

function family.check(problem, device, params)
  local n = params.fft_size
  if params.dtype ~= "fp16" and params.dtype ~= "bf16" then
    return false, "tensor-core kernels need fp16 or bf16 I/O, not " .. tostring(params.dtype)
  end
  if device.sm < 80 then
    return false, string.format("mma.sync m16n8k16 with fp32 accumulation needs sm_80, not sm_%d",
      device.sm)
  end
  if n ~= problem.fft_size then return false, "fft_size differs from the problem's" end
  if params.dtype ~= problem.dtype then return false, "dtype differs from the problem's" end
  if params.pre_gate ~= problem.pre_gate or params.post_gate ~= problem.post_gate then
    return false, "gates differ from the problem's"
  end
  local ok, why = choices_valid(params)
  if not ok then return false, why end
  if params.real == "half" and (params.load ~= "plain" or params.group ~= "row") then
    return false, "real \"half\" runs with plain loads and row grouping only"
  end
  local pts, prod = points(params), 1
  for _, f in ipairs(params.factors) do
    if f ~= 8 and f ~= 16 and f ~= 32 then return false, "factors must be 8, 16 or 32" end
    prod = prod * f
  end
  if prod ~= pts or #params.factors < 2 then
    return false, string.format("factors must be two or more and multiply to %d", pts)
  end
  local np = params.factors[#params.factors]
  if pts // np < 16 then return false, "the row pass needs 16 rows or more" end
  local smem = smem_bytes(params)
  if smem > device.smem_optin then
    return false, string.format("needs %d bytes of shared memory, the device allows %d",
      smem, device.smem_optin)
  end
  local threads = params.warps * 32
  if threads > device.max_threads then
    return false, string.format("%d threads, the device allows %d", threads, device.max_threads)
  end
  -- The compiler fits a block's threads into the register file, spilling a little if it
  -- must; more than 40% over that cap would spill too much.
  local regs = regs_estimate(params)
  local cap = math.min(MAX_REGS, device.regs_per_block // threads)
  if regs > 1.4 * cap or regs > MAX_REGS then
    return false, string.format("about %d registers a thread; %d threads get at most %d",
      regs, threads, cap)
  end
  -- Warps with nothing to do in the row pass are wasted, except in the smallest block.
  local row_tasks = params.pairs * pts // np // 16
  if params.warps > row_tasks and params.warps > WARPS[1] then
    return false, string.format("%d warps but only %d row-pass tiles", params.warps, row_tasks)
  end
  local pairs_total = ((problem.batch + 1) // 2) * problem.heads
  if params.real == "half" then pairs_total = problem.batch * problem.heads end
  if params.pairs > 1 and params.pairs > pairs_total then
    return false, "more pairs per block than row pairs"
  end
  return true
end

-- The heuristic choice: fewest passes, smallest largest factor, 8 warps, one pair per block
-- unless the block would be tiny. nil, reason when the family cannot run the problem.
function family.default(problem, device)
  local best, best_score, why
  for _, params in ipairs(family.space(problem, device)) do
    local ok, reason = family.check(problem, device, params)
    if ok then
      local maxf = 0
      for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
      local score = #params.factors * 100 + maxf + math.abs(params.warps - 8)
        + math.abs(params.pairs * problem.fft_size - 4096) / 1024
        + ((params.load == "plain" and params.smem == "swizzle" and params.group == "row"
            and params.real == "pair") and 0 or 1000)
      if not best or score < best_score then best, best_score = params, score end
    else
      why = why or reason
    end
  end
  if not best then return nil, why or "no candidate" end
  return best
end

-- k_hat a head: "pair", the N bins in the passes' order; "half", N values of scratch for the
-- prep kernel's transform, then bins 0 .. N/2 in natural order.
local function khat_per_head(params)
  local n = params.fft_size
  return params.real == "half" and n + n // 2 + 1 or n
end

function family.layout(params, device)
  return {
    threads = params.warps * 32, smem = smem_bytes(params),
    seqs = params.real == "half" and params.pairs or 2 * params.pairs,
    prep_threads = 256, prep_smem = 0, prep_seqs = 1,
    khat = khat_per_head(params), khat_table = 0,
  }
end

local KERNEL = [==[
${io_functions}

#define N ${n}    // complex points the passes transform
#define NR ${nr}  // the real FFT size: N ("pair") or 2N ("half")
#define PAIRS ${pairs}  // units a block: row pairs ("pair") or rows ("half")
#define WARPS ${warps}
#define THREADS (WARPS * 32)
@ if smem_layout == "pad" then
#define PLANE_BYTES (N * 2 + N / 4)  // 16 bytes of padding after every 128
@ else
#define PLANE_BYTES (N * 2)
@ end
#define PAIR_BYTES (2 * PLANE_BYTES)

typedef unsigned int u32;

// Two fp32 values as one register of two ${op} operands (lo in the low half).
static __device__ __forceinline__ u32 pack2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.${cvt}x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
static __device__ __forceinline__ float2 unpack2(u32 v) {
@ if op == "fp16" then
  float lo, hi;
  asm("{.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;}"
      : "=f"(lo), "=f"(hi) : "r"(v));
  return float2{lo, hi};
@ else
  return float2{__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u)};
@ end
}
static __device__ __forceinline__ float2 cmul(float2 a, float2 b) {
  return float2{a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x};
}

// d += a b, m16n8k16, row-major A, column-major B, fp32 accumulators.
static __device__ __forceinline__ void mma(float (&d)[4], u32 a0, u32 a1, u32 a2, u32 a3,
                                           u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.${op_ptx}.${op_ptx}.f32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ void ldsm4(u32 (&r)[4], u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}
static __device__ __forceinline__ void ldsm4t(u32 (&r)[4], u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}
static __device__ __forceinline__ void ldsm2t(u32 &r0, u32 &r1, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
               : "=r"(r0), "=r"(r1) : "r"(addr) : "memory");
}
static __device__ __forceinline__ void sts32(u32 addr, u32 v) {
  asm volatile("st.shared.b32 [%0], %1;" :: "r"(addr), "r"(v) : "memory");
}

@ if smem_layout == "pad" then
// Byte offset of operand j in a plane: 16 bytes of padding after every 8 chunks of 16 bytes,
// so 8 chunks at a stride of 8 chunks land in different bank groups (other strides conflict).
static __device__ __forceinline__ u32 swz(u32 j) {
  const u32 c = j >> 3;
  return ((c + (c >> 3)) << 4) | ((j & 7) << 1);
}
@ else
// Byte offset of operand j in a plane: chunk c = j / 8 becomes c ^ fold3(c >> 3), fold3 the
// XOR of its 3-bit groups, so 8 chunks at any power-of-two chunk stride land in 8 different
// 128-byte bank groups.
static __device__ __forceinline__ u32 swz(u32 j) {
  const u32 c = j >> 3;
  return ((c ^ (${fold})) << 4) | ((j & 7) << 1);
}
@ end

extern __shared__ __align__(16) unsigned char smem[];
static __device__ __forceinline__ unsigned char *smem_base() { return smem; }

// Pair c holds batches 2 bp and 2 bp + 1 of head h (BP = ceil(B / 2) pairs a head).
@ if group == "head" then
// group "head": consecutive pairs share a head, so a block's pairs read the same filter bins.
static __device__ __forceinline__ long long pair_head(long long c, long long BP, int H) { return c / BP; }
static __device__ __forceinline__ long long pair_bp(long long c, long long BP, int H) { return c % BP; }
@ else
// group "row": consecutive pairs are consecutive heads, as the rows are laid out.
static __device__ __forceinline__ long long pair_head(long long c, long long BP, int H) { return c % H; }
static __device__ __forceinline__ long long pair_bp(long long c, long long BP, int H) { return c / H; }
@ end

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
      for (int ki = 0; ki < R / 8; ki++) {
        const int k = 8 * mi + g, j = 8 * ki + 2 * t;
        constexpr float SC = R == 8 ? 0.353553390593f : R == 16 ? 0.25f : 0.176776695297f;
        float s0, c0, s1, c1;
        sincospif(-2.0f * (float)((k * j) % R) / R, &s0, &c0);
        sincospif(-2.0f * (float)((k * (j + 1)) % R) / R, &s1, &c1);
        s0 *= SC, c0 *= SC, s1 *= SC, c1 *= SC;
        c[mi][ki] = pack2(c0, c1);
        s[mi][ki] = pack2(s0, s1);
        ns[mi][ki] = pack2(-s0, -s1);
      }
  }
};

// One column pass over every pair of the block, in place: R-point DFTs at stride S within
// blocks of R S. KMAX: 8-row groups of input that may be nonzero; MMAX: 8-row groups of
// output that are needed. Outputs get twiddle<TN, TS> (TN = 0: none).
template <int R, int S, int TN, int TS>
static __device__ __forceinline__ void col_pass(u32 sb, const Dft<R> &d, int kmax, int mmax) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / (8 * R);
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    const u32 q = task / TILES, rem = task % TILES;
    const u32 j0 = (rem / (S / 8)) * R * S + (rem % (S / 8)) * 8;
    const u32 pb = sb + q * PAIR_BYTES;
    u32 b[R / 8][2];
    if constexpr (R == 8) {
      ldsm2t(b[0][0], b[0][1], pb + ((lane >> 3) & 1) * PLANE_BYTES + swz(j0 + (lane & 7) * S));
    } else {
#pragma unroll
      for (int ki = 0; ki < R / 8; ki += 2) {
        if (ki < kmax) {
          u32 r[4];
          ldsm4t(r, pb + ((lane >> 3) & 1) * PLANE_BYTES +
                        swz(j0 + (8 * (ki + (lane >> 4)) + (lane & 7)) * S));
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
      const u32 j = j0 + (8 * mi + g) * S + 2 * t;
      float2 z0 = {acc[0], acc[2]}, z1 = {acc[1], acc[3]};
      if constexpr (TN == R && TS == S) {  // this pass's own twiddle: W_{RS}^(k r)
        const u32 k = 8 * mi + g, r = j0 % S + 2 * t;
        z0 = cmul(z0, root<R * S>(k * r));
        z1 = cmul(z1, root<R * S>(k * (r + 1)));
      } else if constexpr (TN != 0) {
        z0 = cmul(z0, twiddle<TN, TS>(j));
        z1 = cmul(z1, twiddle<TN, TS>(j + 1));
      }
      sts32(pb + swz(j), pack2(z0.x, z1.x));
      sts32(pb + PLANE_BYTES + swz(j), pack2(z0.y, z1.y));
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
                                                long long c0, long long BP, int H) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < PAIRS * TILES; task += WARPS) {
    const u32 q = task / TILES, r0 = (task % TILES) * 16;
    const float2 *__restrict__ kp = k_hat + pair_head(c0 + q, BP, H) * N;
    const u32 pb = sb + q * PAIR_BYTES;
    u32 a[R / 8][4];
#pragma unroll
    for (int ki = 0; ki < R / 8; ki++)
      ldsm4(a[ki], pb + (lane >> 4) * PLANE_BYTES +
                       swz((r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * R + 8 * ki));
    float acc[R / 4][4];
    row_dft(acc, a, d);
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
    __syncwarp();  // the tile is stored where it was read: every lane's ldmatrix is done
#pragma unroll
    for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
        float2 z0 = {acc[2 * cc][2 * hr], acc[2 * cc + 1][2 * hr]};
        float2 z1 = {acc[2 * cc][2 * hr + 1], acc[2 * cc + 1][2 * hr + 1]};
        z0 = cmul(z0, twiddle<TN, TS>(j));
        z1 = cmul(z1, twiddle<TN, TS>(j + 1));
        sts32(pb + swz(j), pack2(z0.x, z1.x));
        sts32(pb + PLANE_BYTES + swz(j), pack2(z0.y, z1.y));
      }
  }
}

// Products of operand pairs, rounded once (as the fp32 product rounded to ${op} would be).
static __device__ __forceinline__ u32 mul2(u32 a, u32 b) {
  u32 r;
  asm("fma.rn.${op_ptx}x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(0x80008000u));
  return r;
}
static __device__ __forceinline__ uint4 mul8(uint4 x, uint4 p) {
  return uint4{mul2(x.x, p.x), mul2(x.y, p.y), mul2(x.z, p.z), mul2(x.w, p.w)};
}

// Samples n0 .. n0+7 of a row at gi, times the pre gate, as eight operands; zeros past L.
// vec: 16-byte loads (L a multiple of 8, aligned pointers), else one sample at a time.
static __device__ __forceinline__ uint4 load8(const io_t *__restrict__ u,
                                              const io_t *__restrict__ pre, long long gi, int n0,
                                              int L, bool vec) {
  if (vec) {
@ if pre_gate then
    return mul8(*(const uint4 *)(u + gi), *(const uint4 *)(pre + gi));
@ else
    return *(const uint4 *)(u + gi);
@ end
  }
  float f[8];
#pragma unroll
  for (int k = 0; k < 8; k++) {
    f[k] = 0.0f;
    if (n0 + k < L) {
@ if pre_gate then
      f[k] = ld(u, gi + k) * ld(pre, gi + k);
@ else
      f[k] = ld(u, gi + k);
@ end
    }
  }
  return uint4{pack2(f[0], f[1]), pack2(f[2], f[3]), pack2(f[4], f[5]), pack2(f[6], f[7])};
}

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

#define UNROLL 4
@ if real == "half" then

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
    u32 a[R / 8][4];
#pragma unroll
    for (int ki = 0; ki < R / 8; ki++)
      ldsm4(a[ki], pb + (lane >> 4) * PLANE_BYTES +
                       swz((r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * R + 8 * ki));
    float acc[R / 4][4];
    row_dft(acc, a, d);
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
static __device__ __forceinline__ void row_inv_half(u32 sb, const Dft<R> &d) {
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
        const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
        float2 z0 = {acc[2 * cc][2 * hr], acc[2 * cc + 1][2 * hr]};
        float2 z1 = {acc[2 * cc][2 * hr + 1], acc[2 * cc + 1][2 * hr + 1]};
        z0 = cmul(z0, twiddle<TN, TS>(j));
        z1 = cmul(z1, twiddle<TN, TS>(j + 1));
        sts32(pb + swz(j), pack2(z0.x, z1.x));
        sts32(pb + PLANE_BYTES + swz(j), pack2(z0.y, z1.y));
      }
  }
}
@ end
@ if load == "async" then

// load "async": the next group's rows are copied into a staging area behind the planes with
// 16-byte cp.async while the current group computes. Staging holds u, then pre, for every
// (pair, plane, chunk) in that order.
#define STAGE_OFF (PAIRS * PAIR_BYTES)
#define STAGE_PRE (PAIRS * 4 * N)
static __device__ __forceinline__ void cp16(u32 dst, const void *src, u32 bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes)
               : "memory");
}
// Starts copying group grp's rows; chunks past L or past the last row are zero-filled.
static __device__ __forceinline__ void stage(u32 sb, long long grp, const io_t *u, const io_t *pre,
                                             long long pairs, long long B, long long BP, int H,
                                             int L, int zchunks) {
  const long long c0 = grp * PAIRS;
  const int total = PAIRS * 2 * zchunks;
  for (int i = threadIdx.x; i < total; i += THREADS) {
    const int q = i / (2 * zchunks), pl = (i / zchunks) & 1, n0 = (i % zchunks) * 8;
    const long long c = c0 + q, b = 2 * pair_bp(c, BP, H) + pl;
    const bool ok = c < pairs && b < B && n0 < L;
    const long long gi = ok ? (b * H + pair_head(c, BP, H)) * L + n0 : 0;
    cp16(sb + STAGE_OFF + i * 16, u + gi, ok ? 16 : 0);
@   if pre_gate then
    cp16(sb + STAGE_OFF + STAGE_PRE + i * 16, pre + gi, ok ? 16 : 0);
@   end
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
}
@ end

extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const float2 *__restrict__ k_hat,
            io_t *__restrict__ y, long long rows, int L, int H) {
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
@ if real == "half" then
  // Units are rows: unit c is row c, its head c % H (BP, pair_* unused).
  const long long B = rows, BP = 1, pairs = rows;
@ else
  const long long B = rows / H, BP = (B + 1) / 2, pairs = BP * H;
@ end
  // Causal with L <= NR/2: the top half of the first pass's input is zero.
  const bool zero_top = L <= NR / 2;
  const int kmax = zero_top && ${n1} >= 16 ? ${n1} / 16 : ${n1} / 8;
  const int zchunks = zero_top && ${n1} >= 16 ? N / 16 : N / 8;  // chunks the first pass reads
  const bool vec = (L & 7) == 0 && (((unsigned long long)u | (unsigned long long)pre |
                                     (unsigned long long)post | (unsigned long long)y) & 15) == 0;
@ if load == "async" then
  if (vec && blockIdx.x * (long long)PAIRS < pairs)
    stage(sb, blockIdx.x, u, pre, pairs, B, BP, H, L, zchunks);
@ end
@ for _, r in ipairs(radices) do
  Dft<${r}> d${r};
  d${r}.init();
@ end
  for (long long grp = blockIdx.x; grp * PAIRS < pairs; grp += gridDim.x) {
    const long long c0 = grp * PAIRS;
    // Load: row (2 bp, h) into the real plane, (2 bp + 1, h) into the imaginary one.
@ if load == "async" then
    if (vec) {
      asm volatile("cp.async.wait_all;" ::: "memory");
      __syncthreads();
      const int total = PAIRS * 2 * zchunks;
      for (int i = threadIdx.x; i < total; i += THREADS) {
        const int q = i / (2 * zchunks), pl = (i / zchunks) & 1, n0 = (i % zchunks) * 8;
@   if pre_gate then
        const uint4 v = mul8(*(const uint4 *)(smem + STAGE_OFF + i * 16),
                             *(const uint4 *)(smem + STAGE_OFF + STAGE_PRE + i * 16));
@   else
        const uint4 v = *(const uint4 *)(smem + STAGE_OFF + i * 16);
@   end
        *(uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = v;
      }
      __syncthreads();  // the staging area is free and the planes are complete
      if ((grp + gridDim.x) * PAIRS < pairs)
        stage(sb, grp + gridDim.x, u, pre, pairs, B, BP, H, L, zchunks);
    } else
@ end
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
          const int q = i / (2 * zchunks), pl = (i / zchunks) & 1, n0 = (i % zchunks) * 8;
          const long long c = c0 + q, b = 2 * pair_bp(c, BP, H) + pl;
          if (i < total && c < pairs && b < B && n0 < L) {
            const long long gi = (b * H + pair_head(c, BP, H)) * L + n0;
            v[e] = load8(u, pre, gi, n0, L, vec);
          }
        }
#pragma unroll
        for (int e = 0; e < UNROLL; e++) {
          const int i = i0 + e * THREADS;
          if (i < total) {
            const int q = i / (2 * zchunks), pl = (i / zchunks) & 1, n0 = (i % zchunks) * 8;
            *(uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = v[e];
          }
        }
      }
    }
@ end
    __syncthreads();
@ for i = 1, #passes - 1 do
@   local p = passes[i]
    col_pass<${p.r}, ${p.s}, ${p.r}, ${p.s}>(sb, d${p.r}, ${i == 1 and "kmax" or p.r // 8}, ${p.r // 8});
    __syncthreads();
@ end
@ local last, prev = passes[#passes], passes[#passes - 1]
@ if real == "half" then
    row_fwd_half<${last.r}>(sb, d${last.r});
    __syncthreads();
    spectral_pass(k_hat, c0, H);
    __syncthreads();
    row_inv_half<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r});
@ else
    row_pass<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, k_hat, c0, BP, H);
@ end
    __syncthreads();
@ for i = #passes - 1, 1, -1 do
@   local p = passes[i]
@   if i > 1 then
    col_pass<${p.r}, ${p.s}, ${passes[i - 1].r}, ${passes[i - 1].s}>(sb, d${p.r}, ${p.r // 8}, ${p.r // 8});
@   else
    col_pass<${p.r}, ${p.s}, 0, 1>(sb, d${p.r}, ${p.r // 8}, kmax);
@   end
    __syncthreads();
@ end
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
      const int lchunks = L >= N ? N / 8 : (L + 7) / 8;
      const int total = PAIRS * 2 * lchunks;
      for (int i = threadIdx.x; i < total; i += THREADS) {
        const int q = i / (2 * lchunks), pl = (i / lchunks) & 1, n0 = (i % lchunks) * 8;
        const long long c = c0 + q, b = 2 * pair_bp(c, BP, H) + pl;
        if (c >= pairs || b >= B) continue;
        const long long gi = (b * H + pair_head(c, BP, H)) * L + n0;
        const uint4 s = *(const uint4 *)(smem + q * PAIR_BYTES + pl * PLANE_BYTES + swz(n0));
        const u32 neg = pl ? 0x80008000u : 0u;  // the sign bits of both halves
        store8(y, post, gi, n0, L, vec, uint4{s.x ^ neg, s.y ^ neg, s.z ^ neg, s.w ^ neg});
      }
    }
@ end
    __syncthreads();
  }
}

// k_hat for head h: the NR-point DFT of the zero-padded filter, computed in place in the
// head's slice of k_hat (fp32, exact roots), by the forward kernel's passes ("half": after a
// first 2-point pass), so that for "pair" the bins land in the forward kernel's order; then
// masked to min(f, NR - f) < F (F = 0: all), plus D. The passes' 1/sqrt(n_i) scales make up
// the inverse's 1/NR for "pair"; "half" stores bins 0 .. N in natural order after the
// transform, times 1/4 (the spectral pass works with doubled halves, twice).
extern "C" __global__ void __launch_bounds__(256)
fftconv_prep(const float *__restrict__ k, const float *__restrict__ d, float2 *__restrict__ k_hat,
             int H, int K, int F) {
  const int h = blockIdx.x;
  if (h >= H) return;
  float2 *x = k_hat + (long long)h * ${khat};
@ for _, r in ipairs(prep_radices) do
  __shared__ float2 roots${r}[${r}];
  for (int m = threadIdx.x; m < ${r}; m += blockDim.x) {
    double s, c;
    sincospi(-2.0 * m / ${r}, &s, &c);
    roots${r}[m] = float2{(float)c, (float)s};
  }
@ end
  for (int j = threadIdx.x; j < NR; j += blockDim.x)
    x[j] = float2{j < K ? k[(long long)h * K + j] : 0.0f, 0.0f};
  __syncthreads();
@ for i, p in ipairs(prep_passes) do
  // pass ${i}: ${p.r}-point DFTs at stride ${p.s}
  for (int t = threadIdx.x; t < NR / ${p.r}; t += blockDim.x) {
    const int r = t % ${p.s};
    float2 *p = x + (t / ${p.s}) * ${p.r * p.s} + r;
    float2 a[${p.r}];
#pragma unroll
    for (int j = 0; j < ${p.r}; j++) a[j] = p[j * ${p.s}];
    for (int kk = 0; kk < ${p.r}; kk++) {
      float2 acc = a[0];
#pragma unroll
      for (int j = 1; j < ${p.r}; j++) {
        const float2 w = roots${p.r}[(j * kk) % ${p.r}];
        acc.x += a[j].x * w.x - a[j].y * w.y;
        acc.y += a[j].x * w.y + a[j].y * w.x;
      }
@   if p.s > 1 then
      double s, c;
      sincospi(-2.0 * (double)(kk * r) / ${p.r * p.s}, &s, &c);
      acc = cmul(acc, float2{(float)c, (float)s});
@   end
      p[kk * ${p.s}] = acc;
    }
  }
  __syncthreads();
@ end
  const float dd = d ? d[h] : 0.0f;
@ if real == "half" then
  for (int f = threadIdx.x; f <= N; f += blockDim.x) {
    const int fm = f < NR - f ? f : NR - f;
    const float2 v = (F == 0 || fm < F) ? x[${prep_pos_f}] : float2{0.0f, 0.0f};
    x[NR + f] = float2{(v.x + dd) * 0.25f, v.y * 0.25f};
  }
@ else
  for (int j = threadIdx.x; j < N; j += blockDim.x) {
    const int f = ${freq_expr};
    const int fm = f < N - f ? f : N - f;
    float2 v = (F == 0 || fm < F) ? x[j] : float2{0.0f, 0.0f};
    x[j] = float2{v.x + dd, v.y};
  }
@ end
}
]==]

function family.emit(params)
  local ok, why = choices_valid(params)
  if not ok then error(why, 0) end
  local n, nr = points(params), params.fft_size
  local function make_passes(factors, size)
    local out, stride = {}, size
    for _, f in ipairs(factors) do
      stride = stride // f
      out[#out + 1] = { r = f, s = stride }
    end
    return out
  end
  local passes = make_passes(params.factors, n)
  -- The prep kernel transforms all NR points: "half" adds a factor 2 in front.
  local prep_factors = { table.unpack(params.factors) }
  if params.real == "half" then table.insert(prep_factors, 1, 2) end
  local prep_passes = make_passes(prep_factors, nr)
  -- fold3(c >> 3) for chunk indices of log2(N / 8) bits.
  local cbits, terms = fft.log2(n // 8), {}
  for sh = 3, cbits - 1, 3 do terms[#terms + 1] = string.format("(c >> %d)", sh) end
  local fold = #terms > 0 and "(" .. table.concat(terms, " ^ ") .. ") & 7u" or "0u"
  -- The frequency of position j: digit i is (j / S_i) % n_i, weighted by n_1 ... n_(i-1).
  local fterms, w = {}, 1
  for _, p in ipairs(prep_passes) do
    fterms[#fterms + 1] = string.format("((j / %d) %% %d) * %d", p.s, p.r, w)
    w = w * p.r
  end
  return tpl.render(KERNEL, {
    n = n, nr = nr, pairs = params.pairs, warps = params.warps, passes = passes,
    radices = distinct(params.factors), n1 = params.factors[1], real = params.real,
    prep_passes = prep_passes, prep_radices = distinct(prep_factors),
    khat = khat_per_head(params), pos_k = fft.digit_pos_expr(params.factors, "k"),
    prep_pos_f = fft.digit_pos_expr(prep_factors, "f"),
    smem_layout = params.smem, load = params.load, group = params.group,
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16",
    fold = fold, freq_expr = table.concat(fterms, " + "),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype),
  }, "=templates/monarch_tc.lua (KERNEL text)")
end

return family
