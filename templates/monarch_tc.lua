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
    ops = { "forward" },
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
  ok, why = common.fits(device, layout.smem_bytes(params), threads)
  if not ok then return false, why end
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
  return manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.warps * 32, smem = layout.smem_bytes(params),
            per = params.real == "half" and params.pairs or 2 * params.pairs },
    filter = { layout = filter_layout(params), fixed = 0,
               per_head = manifest.FLOAT2 * layout.khat_per_head(params) },
  })
end

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
    ${include(rows.load)}
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
    ${include(rows.store)}
    __syncthreads();
  }
}

${include(prep.kernel)}
]==]

function family.emit(params)
  local ok, why = choices_valid(params)
  if not ok then error(why, 0) end
  local n = layout.points(params)
  local env = {
    layout = layout, ops = ops, dft = dft, rows = rows, half = half, prep = prep,
    n = n, nr = params.fft_size, pairs = params.pairs, warps = params.warps,
    passes = dft.passes(params.factors, n), radices = fft.distinct(params.factors),
    n1 = params.factors[1], real = params.real, khat = layout.khat_per_head(params),
    pos_k = fft.digit_pos_expr(params.factors, "k"), prep_threads = PREP_THREADS,
    smem_layout = params.smem, load = params.load, group = params.group,
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16", fold = layout.fold(n),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype),
  }
  for k, v in pairs(prep.names(params)) do env[k] = v end
  return tpl.render(KERNEL, env, "=templates/monarch_tc.lua (KERNEL text)")
end

return family
