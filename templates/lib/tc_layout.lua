-- lib/tc_layout.lua: monarch_tc's shared-memory layout. Each unit of a block (a row pair, or a
-- row for real "half") holds two planes (real, imaginary) of N 2-byte operands, in 16-byte
-- chunks that are XOR-swizzled (or padded) so that 8 rows at a power-of-two stride hit 8
-- different bank groups; behind the planes, a cp.async staging area or the "half" scratch.
-- Here are the sizes the template checks and launches with, and the CUDA that addresses them.
local fft = require "lib.fft"
local tpl = require "lib.tpl"

local layout = {}

-- The complex points the passes transform: N for "pair", N/2 for "half".
function layout.points(params)
  return params.real == "half" and params.fft_size // 2 or params.fft_size
end

-- The shared memory a block needs, per unit (a row pair, or a row for "half"): two planes of
-- 2-byte operands (plus 1/8 with padding); with cp.async loads a staging area for the next
-- group's u and pre rows; for "half" an fp32 scratch of the row pass's output.
function layout.smem_bytes(params)
  local n = layout.points(params)
  local plane = params.smem == "pad" and 2 * n + n // 4 or 2 * n
  local stage = params.load == "async" and 4 * n * (params.pre_gate and 2 or 1) or 0
  local scratch = params.real == "half" and 8 * n or 0
  return params.pairs * (2 * plane + stage + scratch)
end

-- k_hat a head, in float2 values: "pair", the N bins in the passes' order; "half", N values of
-- scratch for the prep kernel's transform, then bins 0 .. N/2 in natural order.
function layout.khat_per_head(params)
  local n = params.fft_size
  return params.real == "half" and n + n // 2 + 1 or n
end

-- The twiddle tables (params.twiddle "table", "pair" only): one a column pass i of the N-point
-- FFT, M_i = n_i S_i fp32 complex values W_M^((e / S_i) (e % S_i)), e < M_i, the twiddle of
-- every output position j with j % M_i = e (its own in the forward, the next inverse pass's
-- and the row pass's too). Largest first, so the first starts the filter buffer and every
-- table is 16-byte aligned (M_i is even). Returns the list of {m, r, s, off} and the total.
function layout.twiddle_tables(params)
  if params.twiddle ~= "table" then return {}, 0 end
  local stride, out, off = params.fft_size, {}, 0
  for i = 1, #params.factors - 1 do
    local r = params.factors[i]
    stride = stride // r
    out[#out + 1] = { m = r * stride, r = r, s = stride, off = off }
    off = off + r * stride
  end
  assert(stride == params.factors[#params.factors])
  return out, off
end

-- The swizzle's fold3(c >> 3) for chunk indices of log2(n / 8) bits: the XOR of the 3-bit
-- groups above the lowest.
function layout.fold(n)
  local cbits, terms = fft.log2(n // 8), {}
  for sh = 3, cbits - 1, 3 do terms[#terms + 1] = string.format("(c >> %d)", sh) end
  return #terms > 0 and "(" .. table.concat(terms, " ^ ") .. ") & 7u" or "0u"
end

-- Registers a thread needs, roughly: the DFT matrices (3 (n/8)^2 each), the row pass's
-- operands and accumulators, addressing.
function layout.regs_estimate(params)
  local r = 0
  for _, f in ipairs(fft.distinct(params.factors)) do r = r + 3 * (f // 8) ^ 2 end
  local np = params.factors[#params.factors]
  return math.tointeger(r + 2.5 * np + 48)
end

-- The device and I/O a tensor-core kernel needs: fp16 or bf16 operands, mma.sync m16n8k16 with
-- fp32 accumulation (sm_80). true, or false and the reason.
function layout.check_device(params, device)
  if params.dtype ~= "fp16" and params.dtype ~= "bf16" then
    return false, "tensor-core kernels need fp16 or bf16 I/O, not " .. tostring(params.dtype)
  end
  if device.sm < 80 then
    return false, string.format("mma.sync m16n8k16 with fp32 accumulation needs sm_80, not sm_%d",
      device.sm)
  end
  return true
end

-- The compiler fits a block's threads into the register file, spilling a little if it must;
-- more than 40% over that cap (or over 255 a thread) would spill too much. true, or false and
-- the reason, for about `regs` registers a thread in blocks of `threads`.
local MAX_REGS = 255
function layout.check_regs(regs, threads, device)
  local cap = math.min(MAX_REGS, device.regs_per_block // threads)
  if regs > 1.4 * cap or regs > MAX_REGS then
    return false, string.format("about %d registers a thread; %d threads get at most %d",
      regs, threads, cap)
  end
  return true
end

-- The factorization: two or more factors of 8, 16 or 32 whose product is the points, and a
-- row pass of 16 rows or more. true, or false and the reason.
function layout.check_factors(params)
  local pts, prod = layout.points(params), 1
  for _, f in ipairs(params.factors) do
    if f ~= 8 and f ~= 16 and f ~= 32 then return false, "factors must be 8, 16 or 32" end
    prod = prod * f
  end
  if prod ~= pts or #params.factors < 2 then
    return false, string.format("factors must be two or more and multiply to %d", pts)
  end
  if pts // params.factors[#params.factors] < 16 then
    return false, "the row pass needs 16 rows or more"
  end
  return true
end

-- The sizes as macros: N, NR, PAIRS, WARPS, THREADS, PLANE_BYTES, PAIR_BYTES.
layout.defines = tpl.piece([==[
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
]==], "=templates/lib/tc_layout.lua (defines)")

-- Addressing: swz(j), the byte offset of operand j in a plane; the dynamic shared memory; which
-- head and batch pair a unit holds (group "row" or "head").
layout.planes = tpl.piece([==[
@ if smem_layout == "pad" then
// Byte offset of operand j in a plane: 16 bytes of padding after every 8 chunks of 16 bytes,
// so 8 chunks at a stride of 8 chunks land in different bank groups (other strides conflict).
static __device__ __forceinline__ u32 swz(u32 j) {
  const u32 c = j >> 3;
  return ((c + (c >> 3)) << 4) | ((j & 7) << 1);
}
// swz(a | b) for a and b with no bit in common, from swz(a) and swz(b): padding adds up.
static __device__ __forceinline__ u32 swz_join(u32 sa, u32 sb) { return sa + sb; }
@ else
// Byte offset of operand j in a plane: chunk c = j / 8 becomes c ^ fold3(c >> 3), fold3 the
// XOR of its 3-bit groups, so 8 chunks at any power-of-two chunk stride land in 8 different
// 128-byte bank groups.
static __device__ __forceinline__ u32 swz(u32 j) {
  const u32 c = j >> 3;
  return ((c ^ (${fold})) << 4) | ((j & 7) << 1);
}
// swz(a | b) for a and b with no bit in common, from swz(a) and swz(b): the swizzle is linear
// over GF(2) (shifts, masks and XORs), so a pass computes a lane's part once and a task's once.
static __device__ __forceinline__ u32 swz_join(u32 sa, u32 sb) { return sa ^ sb; }
@ end

extern __shared__ __align__(16) unsigned char smem[];
@ if direction ~= "backward" then
static __device__ __forceinline__ unsigned char *smem_base() { return smem; }

// Pair c holds batches 2 bp and 2 bp + 1 of head h (BP = ceil(B / 2) pairs a head).
@ if group == "seg" then
// group "seg" (overlap_tc): unit c is segment pair c % BP of row c / BP (BP: segment pairs a
// row), so its head is that row's.
static __device__ __forceinline__ long long pair_head(long long c, long long BP, int H) { return (c / BP) % H; }
@ elseif group == "head" then
// group "head": consecutive pairs share a head, so a block's pairs read the same filter bins.
static __device__ __forceinline__ long long pair_head(long long c, long long BP, int H) { return c / BP; }
static __device__ __forceinline__ long long pair_bp(long long c, long long BP, int H) { return c % BP; }
@ else
// group "row": consecutive pairs are consecutive heads, as the rows are laid out.
static __device__ __forceinline__ long long pair_head(long long c, long long BP, int H) { return c % H; }
static __device__ __forceinline__ long long pair_bp(long long c, long long BP, int H) { return c / H; }
@ end
@ end
]==], "=templates/lib/tc_layout.lua (planes)")

return layout
