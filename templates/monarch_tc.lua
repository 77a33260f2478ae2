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
--
-- The kernel text is composed of pieces under lib/: tc_layout (sizes and shared-memory
-- addressing), tc_ops (register and shared-memory primitives), tc_dft (the DFT passes),
-- tc_rows (rows between global memory and the planes), tc_half (the "half" strategy's
-- passes) and tc_prep (the prepare kernel); the forward kernel below strings them together.
local fft = require "lib.fft"
local tpl = require "lib.tpl"
local io_ = require "lib.io"
local common = require "lib.family"
local manifest = require "lib.manifest"
local layout = require "lib.tc_layout"
local ops = require "lib.tc_ops"
local dft = require "lib.tc_dft"
local rows = require "lib.tc_rows"
local half = require "lib.tc_half"
local prep = require "lib.tc_prep"

local family = {
  name = "monarch_tc",
  revision = 2,
  doc = "fused Monarch FFT convolution, DFT stages as fp16/bf16 tensor-core products "
    .. "(mma.sync m16n8k16, fp32 accumulation)",
  -- What the family runs, read by C (src/emit/family_decl.c; README, "Adding a kernel
  -- family"): the runtime's table of families is generated from it at build time.
  runs = {
    ops = { "forward", "backward" },
    dtypes = { "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 256, max = 32768 }, -- powers of two
    min_sm = 80,
    fallback = 1, -- the heuristic fallback tries families in this order
  },
}

local SIZES = { 8, 16, 32 }
local ORDERS = { 2, 3, 4 }
local WARPS = { 4, 8, 16 }
local PAIRS = { 1, 2, 4, 8 }
local MAX_REGS = 255

local PREP_THREADS = 256 -- the prepare kernel's block: its launch bounds and its launch

-- Registers a thread needs, roughly: the DFT matrices (3 (n/8)^2 each), the row pass's
-- operands and accumulators, addressing.
local function regs_estimate(params)
  local r = 0
  for _, f in ipairs(fft.distinct(params.factors)) do r = r + 3 * (f // 8) ^ 2 end
  local np = params.factors[#params.factors]
  return math.tointeger(r + 2.5 * np + 48)
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
-- The backward (op "backward"): a block per head over its batch pairs, v and g as the block's
-- two units (see the kernel text). Its candidates: the factorizations and 4 or 8 warps, and
-- where the batch sum lives: in shared memory (no `acc`), or in a per-head workspace region
-- (acc = "ws": L2-resident, 8N bytes a head; it frees 8N bytes of shared memory, so N = 16K
-- runs and smaller blocks fit more to an SM); the other choices are the base ones.
local function backward_space(problem, rigor)
  local n, out = problem.fft_size, {}
  local orders = rigor == "measure" and (n >= 8192 and { 2, 3, 4 } or { 2, 3 }) or ORDERS
  -- the main job's search ("measure") has the workspace's sum from 8K, where shared memory
  -- starts to bind (at 16K it is the only place); below, the sum in shared memory won every
  -- time it was timed and the search stays half as long
  local accs = (rigor ~= "measure" or n >= 8192) and { false, "ws" } or { false }
  for _, order in ipairs(orders) do
    for _, factors in ipairs(fft.factorizations(n, SIZES, order)) do
      for _, warps in ipairs({ 4, 8 }) do
        for _, acc in ipairs(accs) do
          out[#out + 1] = {
            fft_size = n, factors = factors, warps = warps, pairs = 2, real = "pair",
            smem = "swizzle", load = "plain", group = "row", op = "backward",
            dtype = problem.dtype, pre_gate = problem.pre_gate, post_gate = problem.post_gate,
            acc = acc or nil,
          }
        end
      end
    end
  end
  return out
end

-- The backward's shared memory: its two units' planes, and the batch sum's N fp32 complex
-- bins unless they are in the workspace.
local function backward_smem(params)
  return layout.smem_bytes(params) + (params.acc == "ws" and 0 or 8 * params.fft_size)
end

function family.space(problem, device, rigor)
  if problem.op == "backward" then return backward_space(problem, rigor) end
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
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  ok, why = choices_valid(params)
  if not ok then return false, why end
  if params.real == "half" and (params.load ~= "plain" or params.group ~= "row") then
    return false, "real \"half\" runs with plain loads and row grouping only"
  end
  local pts, prod = layout.points(params), 1
  for _, f in ipairs(params.factors) do
    if f ~= 8 and f ~= 16 and f ~= 32 then return false, "factors must be 8, 16 or 32" end
    prod = prod * f
  end
  if prod ~= pts or #params.factors < 2 then
    return false, string.format("factors must be two or more and multiply to %d", pts)
  end
  local np = params.factors[#params.factors]
  if pts // np < 16 then return false, "the row pass needs 16 rows or more" end
  local threads = params.warps * 32
  local backward = params.op == "backward"
  if backward and (params.pairs ~= 2 or params.real ~= "pair" or params.load ~= "plain"
                   or params.group ~= "row" or params.smem ~= "swizzle") then
    return false, "the backward runs two units (v and g), \"pair\", plain loads, row grouping "
      .. "and swizzled shared memory"
  end
  if params.acc ~= nil and not (backward and params.acc == "ws") then
    return false, "acc is the backward's, and only \"ws\" (absent: shared memory)"
  end
  ok, why = common.fits(device, backward and backward_smem(params) or layout.smem_bytes(params),
                        threads)
  if not ok then return false, why end
  -- The compiler fits a block's threads into the register file, spilling a little if it
  -- must; more than 40% over that cap would spill too much.
  local regs = regs_estimate(params) + (backward and np or 0) -- the backward keeps g's row
  local cap = math.min(MAX_REGS, device.regs_per_block // threads)
  if regs > 1.4 * cap or regs > MAX_REGS then
    return false, string.format("about %d registers a thread; %d threads get at most %d",
      regs, threads, cap)
  end
  -- Warps with nothing to do in the row pass are wasted, except in the smallest block.
  local row_tasks = (backward and 1 or params.pairs) * pts // np // 16
  if params.warps > row_tasks and params.warps > WARPS[1] then
    return false, string.format("%d warps but only %d row-pass tiles", params.warps, row_tasks)
  end
  local pairs_total = ((problem.batch + 1) // 2) * problem.heads
  if params.real == "half" then pairs_total = problem.batch * problem.heads end
  if not backward and params.pairs > 1 and params.pairs > pairs_total then
    return false, "more pairs per block than row pairs"
  end
  return true
end

-- The heuristic choice: fewest passes, smallest largest factor, 8 warps, one pair per block
-- unless the block would be tiny. nil, reason when the family cannot run the problem.
-- The backward's: factors of at most 16 (the winners on the H100 at 256 to 8192, bench/NOTES.md
-- section 13), fewest passes among those, 4 warps below N = 2048 and 8 from there.
function family.default(problem, device)
  if problem.op == "backward" then
    local warps = problem.fft_size >= 2048 and 8 or 4
    local best, why = common.best(family, problem, device, function(params)
      local maxf = 0
      for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
      return math.abs(maxf - 16) * 10 + #params.factors + math.abs(params.warps - warps)
        + (params.acc and 1000 or 0)
    end)
    -- the batch sum in the workspace has not run on a GPU yet: searched (verified first), not
    -- the built-in choice
    if best and best.acc then
      return nil, "the tensor-core backward with its batch sum in the workspace is chosen by "
        .. "tuning only (fftconv-tune --op backward)"
    end
    return best, why
  end
  return common.best(family, problem, device, function(params)
    local maxf = 0
    for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
    return #params.factors * 100 + maxf + math.abs(params.warps - 8)
      + math.abs(params.pairs * problem.fft_size - 4096) / 1024
      + ((params.load == "plain" and params.smem == "swizzle" and params.group == "row"
          and params.real == "pair") and 0 or 1000)
  end)
end

-- The filter layout's name says which kernels can share one prepared spectrum: "pair" holds
-- the bins in the order its forward passes leave them, which the factorization decides;
-- "half" holds them in natural order, after the prep kernel's scratch.
local function filter_layout(params)
  if params.real == "half" then return "monarch_tc.half" end
  return "monarch_tc.pair." .. table.concat(params.factors, "x")
end

-- Prepare: a block of PREP_THREADS a head. Forward: a block of `warps` warps per `pairs`
-- units, two rows a unit for "pair", one for "half".
function family.layout(params, device)
  if params.op == "backward" then
    local m = manifest.prepare_backward({
      prep = { threads = PREP_THREADS, smem = 0, per = 1 },
      bwd = { threads = params.warps * 32, smem = backward_smem(params), per = 1 },
      filter = { layout = filter_layout(params), fixed = 0,
                 per_head = manifest.FLOAT2 * layout.khat_per_head(params) },
    })
    if params.acc == "ws" then -- the batch sum: a head's N fp32 complex bins
      local l = m.launches[2]
      l.args[#l.args + 1] = "ws:p"
      l.writes[#l.writes + 1] = "ws:p"
      m.workspace = { { name = "p", per_row = 0, per_head = 8 * params.fft_size, fixed = 0 } }
    end
    return m
  end
  return manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.warps * 32, smem = layout.smem_bytes(params),
            per = params.real == "half" and params.pairs or 2 * params.pairs },
    filter = { layout = filter_layout(params), fixed = 0,
               per_head = manifest.FLOAT2 * layout.khat_per_head(params) },
  })
end

-- What both kernels run, forward and backward alike: the DFT matrices in registers, the
-- forward column passes (the first skips the zero top half of a causal input) and the inverse
-- ones (the last computes only the outputs below L).
local dft_matrices = tpl.piece([==[
@ for _, r in ipairs(radices) do
Dft<${r}> d${r};
d${r}.init();
@ end
]==], "=templates/monarch_tc.lua (dft_matrices)")
local cols_forward = tpl.piece([==[
@ for i = 1, #passes - 1 do
@   local p = passes[i]
col_pass<${p.r}, ${p.s}, ${p.r}, ${p.s}>(sb, d${p.r}, ${i == 1 and "kmax" or p.r // 8}, ${p.r // 8});
__syncthreads();
@ end
]==], "=templates/monarch_tc.lua (cols_forward)")
local cols_inverse = tpl.piece([==[
@ for i = #passes - 1, 1, -1 do
@   local p = passes[i]
@   if i > 1 then
col_pass<${p.r}, ${p.s}, ${passes[i - 1].r}, ${passes[i - 1].s}>(sb, d${p.r}, ${p.r // 8}, ${p.r // 8});
@   else
col_pass<${p.r}, ${p.s}, 0, 1>(sb, d${p.r}, ${p.r // 8}, kmax);
@   end
__syncthreads();
@ end
]==], "=templates/monarch_tc.lua (cols_inverse)")

local KERNEL = [==[
${io_functions}

${include(layout.defines)}

${include(ops.functions)}

${include(layout.planes)}

${include(dft.functions)}

${include(rows.functions)}
@ if real == "half" then

${include(half.passes)}
@ end
@ if load == "async" then

${include(rows.stage)}
@ end

@ if direction == "backward" then
// The backward. A block per head h takes its batch pairs in order: unit 0 holds v = pre * u
// and unit 1 g = post * dy of rows (2 bp, h) and (2 bp + 1, h) as the real and imaginary
// planes. The forward passes run on both units; the row pass takes each 16-row tile of both,
// adds conj(Zv) Zg into the batch sum P (fp32, in the passes' bin order, each bin owned by
// one lane of one task: the same lane on every pair, so the sum runs in a fixed order), and
// sends Zv k (z, with D v) and Zg conj(k) (dv, with D g: the adjoint) through the inverse
// row DFTs; the inverse passes follow. Re of the inverse of conj(Xv) Xg is the sum of the two
// rows' correlations of v and g, so after the batch dk is the real part of P's inverse (an
// fp32 radix-2 transform in natural order, the frequency mask applied), and dd the sum of
// g * v from the inputs in fp32 (each thread's in a fixed order, then a fixed tree). An
// output that is NULL is not written.

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

// Eight operands s times m (m NULL: s itself) to samples n0 .. n0+7 at gi; none past L.
static __device__ __forceinline__ void store8m(io_t *__restrict__ y, const io_t *__restrict__ m,
                                               long long gi, int n0, int L, bool vec, uint4 s) {
  if (vec) {
    *(uint4 *)(y + gi) = m ? mul8(s, *(const uint4 *)(m + gi)) : s;
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

// The backward's row pass over the tiles of both units (see above); acc: whether dk is wanted.
template <int R, int TN, int TS>
static __device__ __forceinline__ void row_pass_bwd(u32 sb, const Dft<R> &d,
                                                    const float2 *__restrict__ kp, float2 *P,
                                                    bool sum) {
  const u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  constexpr u32 TILES = N / R / 16;
  for (u32 task = warp; task < TILES; task += WARPS) {
    const u32 r0 = task * 16;
    float zg[R / 4][4];
    {
      // unit 1: g's spectrum Zg, kept; conj(Zg conj(k)) = conj(Zg) k through the inverse
      const u32 pb = sb + PAIR_BYTES;
      ${include(dft.row_tile)}
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
          const float4 kk = *(const float4 *)(kp + j);
          const float zr0 = acc[2 * cc][2 * hr], zi0 = acc[2 * cc + 1][2 * hr];
          const float zr1 = acc[2 * cc][2 * hr + 1], zi1 = acc[2 * cc + 1][2 * hr + 1];
          zg[2 * cc][2 * hr] = zr0, zg[2 * cc + 1][2 * hr] = zi0;
          zg[2 * cc][2 * hr + 1] = zr1, zg[2 * cc + 1][2 * hr + 1] = zi1;
          a[cc][hr] = pack2(zr0 * kk.x + zi0 * kk.y, zr1 * kk.z + zi1 * kk.w);
          a[cc][2 + hr] = pack2(zr0 * kk.y - zi0 * kk.x, zr1 * kk.w - zi1 * kk.z);
        }
      row_dft(acc, a, d);
      __syncwarp();  // the tile is stored where it was read: every lane's ldmatrix is done
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          ${include(dft.epilogue, {pass = "row"})}
        }
    }
    {
      // unit 0: v's spectrum Zv; P += conj(Zv) Zg; conj(Zv k) through the inverse
      const u32 pb = sb;
      ${include(dft.row_tile)}
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          const u32 j = (r0 + g + 8 * hr) * R + 8 * cc + 2 * t;
          const float4 kk = *(const float4 *)(kp + j);
          const float zr0 = acc[2 * cc][2 * hr], zi0 = acc[2 * cc + 1][2 * hr];
          const float zr1 = acc[2 * cc][2 * hr + 1], zi1 = acc[2 * cc + 1][2 * hr + 1];
          if (sum) {
            const float gr0 = zg[2 * cc][2 * hr], gi0 = zg[2 * cc + 1][2 * hr];
            const float gr1 = zg[2 * cc][2 * hr + 1], gi1 = zg[2 * cc + 1][2 * hr + 1];
            float4 p = *(float4 *)(P + j);
            p.x += zr0 * gr0 + zi0 * gi0, p.y += zr0 * gi0 - zi0 * gr0;
            p.z += zr1 * gr1 + zi1 * gi1, p.w += zr1 * gi1 - zi1 * gr1;
            *(float4 *)(P + j) = p;
          }
          a[cc][hr] = pack2(zr0 * kk.x - zi0 * kk.y, zr1 * kk.z - zi1 * kk.w);
          a[cc][2 + hr] = pack2(-(zr0 * kk.y + zi0 * kk.x), -(zr1 * kk.w + zi1 * kk.z));
        }
      row_dft(acc, a, d);
      __syncwarp();
#pragma unroll
      for (int cc = 0; cc < R / 8; cc++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
          ${include(dft.epilogue, {pass = "row"})}
        }
    }
  }
}

extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const io_t *__restrict__ dy,
            const float2 *__restrict__ k_hat, io_t *__restrict__ du, io_t *__restrict__ dpre,
            io_t *__restrict__ dpost, float *__restrict__ dk, float *__restrict__ dd,
@   if acc == "ws" then
            long long rows, int L, int H, int K, int F, float2 *__restrict__ pws) {
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  // the batch sum in the workspace (each bin read and written by one thread only)
  float2 *P = pws + (long long)blockIdx.x * N;
@   else
            long long rows, int L, int H, int K, int F) {
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  float2 *P = (float2 *)(smem + 2 * PAIR_BYTES);
@   end
  const int h = blockIdx.x;
  const long long B = rows / H, BP = (B + 1) / 2;
  const float2 *__restrict__ kp = k_hat + (long long)h * N;
  // Causal with L <= N/2: the top half of the first pass's input is zero.
  const bool zero_top = L <= N / 2;
  const int kmax = zero_top && ${n1} >= 16 ? ${n1} / 16 : ${n1} / 8;
  const int zchunks = zero_top && ${n1} >= 16 ? N / 16 : N / 8;
  const bool vec = (L & 7) == 0 &&
                   (((unsigned long long)u | (unsigned long long)pre | (unsigned long long)post |
                     (unsigned long long)dy | (unsigned long long)du | (unsigned long long)dpre |
                     (unsigned long long)dpost) & 15) == 0;
  ${include(dft_matrices)}
  const bool sum = dk != 0;
  // an input only an output not asked for needs may be NULL: not read
  const bool need_v = dpost || dk || dd, need_g = du || dpre || dk || dd;
  for (int j = threadIdx.x; j < N && sum; j += THREADS) P[j] = float2{0.0f, 0.0f};
  float vg = 0.0f;
  for (long long bp = 0; bp < BP; bp++) {
    for (int i = threadIdx.x; i < 2 * zchunks; i += THREADS) {
      const int pl = i / zchunks, n0 = (i % zchunks) * 8;
      const long long b = 2 * bp + pl;
      uint4 v = uint4{0u, 0u, 0u, 0u}, gv = uint4{0u, 0u, 0u, 0u};
      if (b < B && n0 < L) {
        const long long gi = (b * H + h) * L + n0;
        if (need_v) v = load8(u, pre, gi, n0, L, vec);
        if (need_g) gv = load8g(dy, post, gi, n0, L, vec);
        if (dd) vg += dot_vg(u, pre, dy, post, gi, n0, L, vec);
      }
      *(uint4 *)(smem + pl * PLANE_BYTES + swz(n0)) = v;
      *(uint4 *)(smem + PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = gv;
    }
    __syncthreads();
    ${include(cols_forward)}
@   local last, prev = passes[#passes], passes[#passes - 1]
    row_pass_bwd<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, kp, P, sum);
    __syncthreads();
    ${include(cols_inverse)}
    // Store: z (unit 0) and dv (unit 1), kept conjugated: the imaginary plane negated.
    const int lchunks = L >= N ? N / 8 : (L + 7) / 8;
    for (int i = threadIdx.x; i < 2 * lchunks; i += THREADS) {
      const int pl = i / lchunks, n0 = (i % lchunks) * 8;
      const long long b = 2 * bp + pl;
      if (b >= B) continue;
      const long long gi = (b * H + h) * L + n0;
      const u32 neg = pl ? 0x80008000u : 0u;
      uint4 z = *(const uint4 *)(smem + pl * PLANE_BYTES + swz(n0));
      uint4 w = *(const uint4 *)(smem + PAIR_BYTES + pl * PLANE_BYTES + swz(n0));
      z = uint4{z.x ^ neg, z.y ^ neg, z.z ^ neg, z.w ^ neg};
      w = uint4{w.x ^ neg, w.y ^ neg, w.z ^ neg, w.w ^ neg};
      if (dpost) store8m(dpost, dy, gi, n0, L, vec, z);
@   if pre_gate then
      if (du) store8m(du, pre, gi, n0, L, vec, w);
@   else
      if (du) store8m(du, nullptr, gi, n0, L, vec, w);
@   end
      if (dpre) store8m(dpre, u, gi, n0, L, vec, w);
    }
    __syncthreads();
  }
  if (sum) {
    // dk: the inverse of P in natural order (bins of the mask kept), by radix-2 steps on X
    float2 *X = (float2 *)smem;
    for (int j = threadIdx.x; j < N; j += THREADS) {
      const int f = ${freq_expr};
      const int fm = f < N - f ? f : N - f;
      X[__brev((unsigned)f) >> (32 - ${logn})] = (F == 0 || fm < F) ? P[j] : float2{0.0f, 0.0f};
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
  }
  if (dd) {
@   if acc == "ws" then
    float *red = (float *)smem; // the planes are free after the batch
@   else
    float *red = (float *)P;
@   end
    red[threadIdx.x] = vg;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) dd[h] = red[0];
  }
}
@ else
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
  ${include(dft_matrices)}
  for (long long grp = blockIdx.x; grp * PAIRS < pairs; grp += gridDim.x) {
    const long long c0 = grp * PAIRS;
    // Load: row (2 bp, h) into the real plane, (2 bp + 1, h) into the imaginary one.
    ${include(rows.load)}
    __syncthreads();
    ${include(cols_forward)}
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
    ${include(cols_inverse)}
    ${include(rows.store)}
    __syncthreads();
  }
}
@ end

${include(prep.kernel)}
]==]

function family.emit(params)
  local ok, why = choices_valid(params)
  if not ok then error(why, 0) end
  local n = layout.points(params)
  local env = {
    layout = layout, ops = ops, dft = dft, rows = rows, half = half, prep = prep,
    dft_matrices = dft_matrices, cols_forward = cols_forward, cols_inverse = cols_inverse,
    n = n, nr = params.fft_size, pairs = params.pairs, warps = params.warps,
    passes = dft.passes(params.factors, n), radices = fft.distinct(params.factors),
    n1 = params.factors[1], real = params.real, khat = layout.khat_per_head(params),
    pos_k = fft.digit_pos_expr(params.factors, "k"), prep_threads = PREP_THREADS,
    smem_layout = params.smem, load = params.load, group = params.group,
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16", fold = layout.fold(n),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype), direction = params.op or "forward",
    acc = params.acc or "smem",
    logn = fft.log2(params.fft_size),
  }
  for k, v in pairs(prep.names(params)) do env[k] = v end
  return tpl.render(KERNEL, env, "=templates/monarch_tc.lua (KERNEL text)")
end

return family
