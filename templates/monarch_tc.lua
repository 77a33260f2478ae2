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
local bwd = require "lib.tc_bwd"

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
    fallback = 2, -- the heuristic fallback tries families in this order
  },
}

local SIZES = { 8, 16, 32 }
local ORDERS = { 2, 3, 4 }
local WARPS = { 4, 8, 16 }
local PAIRS = { 1, 2, 4, 8 }

local PREP_THREADS = 256 -- the prepare kernel's block: its launch bounds and its launch

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

-- A frequency band (params.band; README, "Frequency-sparse filters"): a low-pass mask F keeps
-- the row pass's columns c < a and c >= R - a, a = ceil(F R / N) (R its radix), so the forward
-- kernel computes and reads only `band` groups of 8 slots (4 columns at each end a group).
-- D, which prepare_filter adds to every bin, is taken off the band's bins and D v added at the
-- store instead (params.skip_d: the problem has D).
-- The fewest groups that hold the mask's columns, or nil without a mask.
local function band_need(problem, params)
  local f, n, r = problem.freq_keep, params.fft_size, params.factors[#params.factors]
  if f == 0 then return nil end
  return ((f * r + n - 1) // n + 3) // 4
end

-- The factors whose DFT matrices the kernel holds: with a band the row pass has its own.
local function radix_users(params)
  if not params.band then return params.factors end
  return { table.unpack(params.factors, 1, #params.factors - 1) }
end

-- Why `params.band` cannot serve the problem, or nil.
local function band_refusal(problem, params)
  local b, r = params.band, params.factors[#params.factors]
  if math.type(b) ~= "integer" or b < 1 then
    return "band: the groups of 8 row-pass columns kept, a positive integer (absent: every column)"
  end
  if params.op == "backward" or params.real ~= "pair" then
    return "band: the forward kernel with real \"pair\" only"
  end
  if b >= r // 8 then
    return string.format("band: %d groups of 8 are every column of the %d-point row pass (at "
      .. "most %d)", b, r, r // 8 - 1)
  end
  if problem.freq_keep == 0 then return "band: the problem keeps every frequency (freq_keep 0)" end
  if (params.skip_d == true) ~= problem.skip_d then
    return "band: skip_d differs from the problem's (with D the band adds D v at the store)"
  end
  local need = band_need(problem, params)
  if b < need then
    return string.format("band: freq_keep %d keeps %d columns at each end of the %d-point row "
      .. "pass; %d groups hold %d", problem.freq_keep,
      (problem.freq_keep * r + params.fft_size - 1) // params.fft_size, r, b, 4 * b)
  end
  return nil
end

-- The variants beside the base one (swizzled shared memory, plain loads, consecutive heads in a
-- block): cp.async double buffering of the next group's rows; a block's pairs from one head (its
-- filter bins read once for all of them); padded instead of swizzled shared memory. They are
-- tried with the middle block shapes only (4 or 8 warps; 1 or 2 pairs, 2 or 4 for "head").
local VARIANTS = {
  { smem = "swizzle", load = "async", group = "row", pairs = { 1, 2 } },
  { smem = "swizzle", load = "plain", group = "head", pairs = { 1, 2, 4 } },
  { smem = "swizzle", load = "async", group = "head", pairs = { 2, 4 } },
  { smem = "pad", load = "plain", group = "row", pairs = { 1, 2 } },
}

-- rigor "measure" prunes to what has won on the H100 (bench/NOTES.md): two or three passes
-- (four from N = 8192, where 32-point stages cost registers), 4 or 8 warps (16 from 16384),
-- blocks of at most 16384 points unless a single pair is bigger, of the variants only
-- group "head" with one pair a block, and "half" only for an odd batch.
-- The backward (op "backward"): a block per head over its batch pairs, v and g as the block's
-- two units (see the kernel text). Its candidates: the factorizations; 4 or 8 warps (16 too
-- from N = 16384; 2 or 4 up to 512, where a pass has two to four tiles and the registers
-- (86-128 a thread) hold an SM to 16 warps, half of them idle in blocks of 4: 2 won the 256
-- backward by 1.47-1.55x on the H100, bench/NOTES.md 27); where the batch sum P lives: in
-- shared memory (no `acc`), or (acc = "ws") its first p_smem bins there and the rest in a
-- per-head workspace region kept in L2, with p_smem the most that leaves room for 1, 2 or 3
-- blocks an SM (0 included: N = 16K runs, and smaller blocks fit more to an SM); and split,
-- the blocks a head's batch is cut into (1, 2 or 4 below 8K: more blocks in flight, where one
-- a head leaves the last wave part empty).
-- The other choices are the base ones. The main job's search ("measure") has the workspace's
-- sum from 8K, where shared memory starts to bind (below, the sum in shared memory won every
-- time it was timed), no 4 warps at 16K, one p_smem (the most beside a block alone on its SM
-- where the whole sum does not fit there, else 0) and split 1 or 4 up to 2K only: what won
-- (bench/NOTES.md, experiments 18 and 19).
-- The most bins of the sum (whole row tiles, at most n) that fit beside the planes when
-- `blocks` blocks share an SM.
local function p_smem_fit(n, factors, planes, device, blocks)
  local tile = 16 * factors[#factors]
  local room = math.min(device.smem_optin, device.smem_per_sm // blocks - 1024) - planes
  return math.max(0, math.min(n, room // 8 // tile * tile))
end

local function p_smem_choices(n, factors, planes, device)
  local out, seen = {}, {}
  for blocks = 1, 3 do
    local p = p_smem_fit(n, factors, planes, device, blocks)
    if p < n and not seen[p] then out[#out + 1], seen[p] = p, true end
  end
  if not seen[0] then out[#out + 1] = 0 end
  return out
end

-- Where the space offers twiddle "table" beside the computed twiddles (bench/NOTES.md, 23, on
-- the H200): "pair" kernels whose factors are all at most 16 and N at most 8192. There the
-- tables won on most block shapes (1.03x at 1K, 1.12x at 8K causal, 1.15x for the 4K
-- backward's winner); with a 32-point pass the variant's registers cut the blocks an SM holds
-- (0.62x to 0.85x), and at 32K the first table (256 KB) does not stay in L1 (0.93x). Both
-- variants are searched where it is offered: neither won every shape.
local function table_offered(params)
  if params.real ~= "pair" or params.fft_size > 8192 then return false end
  for _, f in ipairs(params.factors) do
    if f > 16 then return false end
  end
  return true
end

-- Each candidate of `out` that table_offered() takes, again with twiddle "table".
local function add_tables(out)
  for i = 1, #out do
    if table_offered(out[i]) then
      local c = {}
      for k, v in pairs(out[i]) do c[k] = v end
      c.twiddle = "table"
      out[#out + 1] = c
    end
  end
end

local function backward_space(problem, device, rigor)
  local n, out = problem.fft_size, {}
  local measure = rigor == "measure"
  local orders = measure and (n >= 8192 and { 2, 3, 4 } or { 2, 3 }) or ORDERS
  local accs = (not measure or n >= 8192) and { false, "ws" } or { false }
  local warpss = n <= 512 and { 2, 4 } or n < 16384 and { 4, 8 } or measure and { 8, 16 }
    or { 4, 8, 16 }
  local splits = n >= 8192 and { 1 } or not measure and { 1, 2, 4 } or n <= 2048 and { 1, 4 }
    or { 1 }
  local function p_choices(factors, planes)
    if not measure then return p_smem_choices(n, factors, planes, device) end
    -- what won on the H100 (experiment 19): as much as fits beside the planes of a block alone
    -- on its SM (16K), else none (8K, where two or three blocks an SM beat a bigger share)
    local p = p_smem_fit(n, factors, planes, device, 1)
    return { p < n and p or 0 }
  end
  for _, order in ipairs(orders) do
    for _, factors in ipairs(fft.factorizations(n, SIZES, order)) do
      local base = {
        fft_size = n, factors = factors, pairs = 2, real = "pair", smem = "swizzle",
        load = "plain", group = "row", op = "backward", dtype = problem.dtype,
        pre_gate = problem.pre_gate, post_gate = problem.post_gate,
      }
      local planes = layout.smem_bytes(base)
      for _, warps in ipairs(warpss) do
        for _, acc in ipairs(accs) do
          for _, p_smem in ipairs(acc and p_choices(factors, planes) or { false }) do
            for _, split in ipairs(splits) do
              local c = {}
              for k, v in pairs(base) do c[k] = v end
              c.warps, c.acc = warps, acc or nil
              c.p_smem = (p_smem and p_smem > 0) and p_smem or nil
              c.split = split > 1 and split or nil
              out[#out + 1] = c
            end
          end
        end
      end
    end
  end
  -- seq (one unit in shared memory, v's transforms and then g's; Zv kept in the workspace for
  -- P) where two units do not fit a block, the batch sum in the workspace: every kind from 16K
  -- in the exhaustive space; in the main job's, at 32K (where nothing else fits), what the
  -- exhaustive tuning at 32K ranked first on the H100 and H200 (bench/NOTES.md 33): 16 warps
  -- (1.5x faster than 8), factors of at most 16, the most p_smem beside a block alone.
  if n >= (measure and 32768 or 16384) then
    for _, order in ipairs(ORDERS) do
      for _, factors in ipairs(fft.factorizations(n, SIZES, order)) do
        local maxf = 0
        for _, f in ipairs(factors) do maxf = math.max(maxf, f) end
        local base = {
          fft_size = n, factors = factors, pairs = 1, real = "pair", smem = "swizzle",
          load = "plain", group = "row", op = "backward", dtype = problem.dtype,
          pre_gate = problem.pre_gate, post_gate = problem.post_gate, seq = true, acc = "ws",
        }
        local planes = layout.smem_bytes(base)
        local p_smems = p_smem_choices(n, factors, planes, device)
        if measure then p_smems = { p_smems[1] } end
        for _, warps in ipairs(measure and { 16 } or { 8, 16 }) do
          for _, p_smem in ipairs((not measure or maxf <= 16) and p_smems or {}) do
            local c = {}
            for k, v in pairs(base) do c[k] = v end
            c.warps, c.p_smem = warps, p_smem > 0 and p_smem or nil
            out[#out + 1] = c
          end
        end
      end
    end
  end
  add_tables(out)
  return out
end

-- The forward's shared memory: the planes (and staging), then for "pair" the group's row
-- offsets (rows.bases: 8 bytes a row) and with a band and D each row's D (4 bytes a row), in
-- the dynamic allocation (a static array beside a 48 KB dynamic one would pass the limit that
-- needs no opt-in).
local function forward_smem(params)
  local s = layout.smem_bytes(params)
  if params.real == "half" then return s end
  return s + 16 * params.pairs + ((params.band and params.skip_d) and 8 * params.pairs or 0)
end

-- The backward's shared memory: its two units' planes, and the batch sum's N fp32 complex
-- bins unless they are in the workspace.
local function backward_smem(params)
  return layout.smem_bytes(params)
    + 8 * (params.acc == "ws" and (params.p_smem or 0) or params.fft_size)
end

function family.space(problem, device, rigor)
  if problem.op == "backward" then return backward_space(problem, device, rigor) end
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
    -- consecutive blocks on one head keep its k_hat in L2 (bench/NOTES.md, 22): that, not
    -- cp.async (which the profiled winners never took), is the variant measured
    variants = { { smem = "swizzle", load = "plain", group = "head", pairs = { 1 } } }
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
  add_tables(out)
  -- A low-pass mask: each "pair" candidate also with the fewest groups of its band.
  if problem.freq_keep > 0 then
    for i = 1, #out do
      local c = out[i]
      local need = c.real == "pair" and band_need(problem, c)
      if need and need < c.factors[#c.factors] // 8 then
        local b = {}
        for k, v in pairs(c) do b[k] = v end
        b.band = need
        b.skip_d = problem.skip_d or nil
        out[#out + 1] = b
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
  local ok, why = layout.check_device(params, device)
  if not ok then return false, why end
  ok, why = common.matches(problem, params)
  if not ok then return false, why end
  ok, why = choices_valid(params)
  if not ok then return false, why end
  if params.twiddle ~= nil and (params.twiddle ~= "table" or params.real ~= "pair") then
    return false, "twiddle: \"table\" (read from tables in the filter buffer) with real "
      .. "\"pair\" only; absent: computed where used"
  end
  if params.real == "half" and (params.load ~= "plain" or params.group ~= "row") then
    return false, "real \"half\" runs with plain loads and row grouping only"
  end
  ok, why = layout.check_factors(params)
  if not ok then return false, why end
  local pts, np = layout.points(params), params.factors[#params.factors]
  local threads = params.warps * 32
  local backward = params.op == "backward"
  if params.seq ~= nil and not (backward and params.seq == true and params.split == nil) then
    return false, "seq: true (the backward's units one after the other) or absent; not with split"
  end
  if backward and (params.pairs ~= (params.seq and 1 or 2) or params.real ~= "pair"
                   or params.load ~= "plain" or params.group ~= "row"
                   or params.smem ~= "swizzle") then
    return false, "the backward runs two units (v and g; with seq one, v's then g's: pairs 1), "
      .. "\"pair\", plain loads, row grouping and swizzled shared memory"
  end
  if params.acc ~= nil and not (backward and params.acc == "ws") then
    return false, "acc is the backward's, and only \"ws\" (absent: shared memory)"
  end
  if (params.p_smem ~= nil or params.split ~= nil) and not backward then
    return false, "p_smem and split are the backward's"
  end
  if params.p_smem ~= nil and (params.acc ~= "ws" or math.type(params.p_smem) ~= "integer"
      or params.p_smem < 0 or params.p_smem >= n
      or params.p_smem % (16 * params.factors[#params.factors]) ~= 0) then
    return false, "p_smem: the batch sum's bins in shared memory with acc \"ws\", whole row "
      .. "tiles (16 times the last factor) below N"
  end
  local bp = (problem.batch + 1) // 2
  -- A head's shares (a spectrum of N fp32 complex bins and a sum each, whatever the batch)
  -- stay within the workspace bound of one row, problem.ws_one_row (src/runtime/shape.h: four
  -- shares a head up to N = 4096, none past it), so that a kernel tuned at B = 64 runs at B = 1.
  if params.split ~= nil and (math.type(params.split) ~= "integer"
      or not common.shares_fit(problem, params.split, n)) then
    return false, string.format("split: its shares' workspace, %s x (8N + 4) bytes a head, "
      .. "must fit the backward's workspace bound of one row (%d bytes at N = %d: "
      .. "fftconv_problem_workspace_bytes at B = 1, H = 1); absent: 1", tostring(params.split),
      problem.ws_one_row or 0, n)
  end
  if params.split ~= nil and (params.split < 2 or params.split > bp) then
    return false, string.format("split: 2 to the batch's %d row pairs (absent: 1)", bp)
  end
  ok, why = common.fits(device, backward and backward_smem(params) or forward_smem(params),
                        threads)
  if not ok then return false, why end
  local regs = layout.regs_estimate(params) + (backward and np or 0) -- g's row too
  if params.skip_d ~= nil and params.band == nil then
    return false, "skip_d: a band's parameter (the dense kernels take D in k_hat)"
  end
  if params.band ~= nil then
    why = band_refusal(problem, params)
    if why then return false, why end
    -- the row pass's own fragments, for the band's slots only
    local only_row = true
    for i = 1, #params.factors - 1 do only_row = only_row and params.factors[i] ~= np end
    regs = regs + 6 * params.band * (np // 8) - (only_row and 3 * (np // 8) ^ 2 or 0)
  end
  ok, why = layout.check_regs(regs, threads, device)
  if not ok then return false, why end
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

-- The heuristic choice, what the forward's tuned winners share (bench/RESULTS.md: the main
-- job's on the H100 and H200, 256 to 32K, both modes): factors of at most 16 below N = 32K,
-- fewest passes among those, in non-increasing order (16x8x8, 16x16x8x8: the winners' row
-- pass, the last, is the smallest from 1K to 16K); at 32K three
-- 32-point passes and 16 warps; 4 warps at 256 and 4096, 8 elsewhere; one pair per block
-- unless the block would be tiny (about 4096 points a block), and with one pair a block
-- consecutive blocks on one head (group "head": its k_hat read from L2; the 4K and 8K causal
-- winners on the H100 and H200, bench/NOTES.md 22 and 23, where it gave 1.46x over "row" at
-- 4K with another change). Before (fewest passes first:
-- 32x32 at 1K, 8x32x32 at 8K, 8 warps) it ran 1.14x to 2.47x slower than the tuned winners
-- on the H100. nil, reason when the family cannot run the problem.
-- The backward's: factors of at most 16 (the winners on the H100 at 256 to 8192, bench/NOTES.md
-- section 13), fewest passes among those, 2 warps up to N = 512 (section 27), 4 below N = 2048,
-- 8 from there and 16 from 16384 (section 19), and the batch sum in the workspace from N = 8192
-- (where it won every time it was timed, section 18; at 16K shared memory cannot hold it).
-- Both take the twiddle tables where the space offers them (section 23). At 32K, where only seq
-- fits, the backward's is seq with 16 warps, factors of at most 16 in non-increasing order and
-- the most p_smem: the exhaustive tuning's first on the H100 and H200 (section 33).
local function ascents(factors)
  local a = 0
  for i = 2, #factors do a = a + (factors[i] > factors[i - 1] and 1 or 0) end
  return a
end

function family.default(problem, device)
  if problem.op == "backward" then
    local n = problem.fft_size
    local warps = n >= 16384 and 16 or n >= 2048 and 8 or n > 512 and 4 or 2
    local ws = problem.fft_size >= 8192
    return common.best(family, problem, device, function(params)
      local maxf = 0
      for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
      return math.abs(maxf - 16) * 10 + #params.factors + math.abs(params.warps - warps)
        + (((params.acc == "ws") ~= ws) and 1000 or 0) - (params.twiddle and 0.5 or 0)
        + (params.seq and 100 + ascents(params.factors) - (params.p_smem and 0.5 or 0) or 0)
    end)
  end
  local n = problem.fft_size
  local warps = n >= 32768 and 16 or (n <= 256 or n == 4096) and 4 or 8
  return common.best(family, problem, device, function(params)
    local maxf = 0
    for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
    return ((maxf > 16 and n < 32768) and 500 or 0) + #params.factors * 100 + maxf
      + ascents(params.factors) + math.abs(params.warps - warps)
      + math.abs(params.pairs * problem.fft_size - 4096) / 1024
      + ((params.load == "plain" and params.smem == "swizzle" and params.real == "pair"
          and (params.group == "row" or params.pairs == 1)) and 0 or 1000)
      + (((params.pairs == 1) == (params.group == "head")) and 0 or 0.25)
      - (params.band and 50 or 0) - (params.twiddle and 0.5 or 0)
  end)
end

-- Where a kernel's twiddles come from: with twiddle "table" the filter buffer starts with the
-- tables (lib/tc_layout.lua, twiddle_tables) and the heads' bins follow them; else (nullptr)
-- each is a sine and a cosine computed where it is used.
local tw_split = tpl.piece([==[
@ if twiddle == "table" then
const float2 *__restrict__ const tw = k_hat;  // the twiddle tables, then the heads' bins
k_hat += ${tw_entries};
@ else
const float2 *__restrict__ const tw = nullptr;  // twiddles from sines and cosines
@ end
]==], "=templates/monarch_tc.lua (tw_split)")

-- The filter layout's name says which kernels can share one prepared spectrum: "pair" holds
-- the bins in the order its forward passes leave them, which the factorization decides;
-- "half" holds them in natural order, after the prep kernel's scratch.
local function filter_layout(params)
  if params.real == "half" then return "monarch_tc.half" end
  return "monarch_tc.pair." .. table.concat(params.factors, "x")
    .. (params.twiddle == "table" and ".tw" or "")
end

-- The filter buffer's fixed part: the twiddle tables, if any.
local function filter_fixed(params)
  local _, entries = layout.twiddle_tables(params)
  return manifest.FLOAT2 * entries
end

-- Prepare: a block of PREP_THREADS a head. Forward: a block of `warps` warps per `pairs`
-- units, two rows a unit for "pair", one for "half".
function family.layout(params, device)
  if params.op == "backward" then
    local m = manifest.prepare_backward({
      prep = { threads = PREP_THREADS, smem = 0, per = 1 },
      bwd = { threads = params.warps * 32, smem = backward_smem(params), per = 1 },
      filter = { layout = filter_layout(params), fixed = filter_fixed(params),
                 per_head = manifest.FLOAT2 * layout.khat_per_head(params) },
    })
    local n, split = params.fft_size, params.split or 1
    local l = m.launches[2]
    m.workspace = {}
    if params.acc == "ws" and split == 1 then -- the batch sum's bins past p_smem
      l.args[#l.args + 1] = "ws:p"
      l.writes[#l.writes + 1] = "ws:p"
      m.workspace[#m.workspace + 1] = { name = "p", per_row = 0, fixed = 0,
                                        per_head = 8 * (n - (params.p_smem or 0)) }
    end
    if params.seq then -- Zv of the pair in flight, for P (seq: v's transforms before g's)
      l.args[#l.args + 1] = "ws:zw"
      l.writes[#l.writes + 1] = "ws:zw"
      m.workspace[#m.workspace + 1] = { name = "zw", per_row = 0, fixed = 0, per_head = 8 * n }
    end
    -- with split > 1 each block's share of P (all of it) and dd; fftconv_bdk adds them up
    return manifest.backward_shares(m, split, n, params.warps * 32)
  end
  return manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.warps * 32, smem = forward_smem(params),
            per = params.real == "half" and params.pairs or 2 * params.pairs },
    filter = { layout = filter_layout(params), fixed = filter_fixed(params),
               per_head = manifest.FLOAT2 * layout.khat_per_head(params) },
  })
end


local KERNEL = [==[
${io_functions}

${include(layout.defines)}

${include(ops.functions)}

${include(layout.planes)}

${include(dft.functions)}
@ if band > 0 then

${include(dft.band_functions)}
@ end

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
// output that is NULL is not written. With SPLIT > 1 a head's batch is cut into SPLIT shares,
// a block each (more blocks in flight where a head's batch in one block leaves the GPU's last
// wave part empty); each writes its share of P and of dd to the workspace and fftconv_bdk
// adds them in share order, so the result is the same on every run.
#define P_SMEM ${p_smem}
#define SPLIT ${split}

${include(bwd.helpers)}

@   if seq then
${include(bwd.row_pass_seq)}
@   else
${include(bwd.row_pass)}
@   end

${include(bwd.entry)}
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  const int h = blockIdx.x;
  // this block's share of head h's batch (SPLIT blocks a head, blockIdx.y the share)
  const long long blk = (long long)h * SPLIT + blockIdx.y;
  // the batch sum P: its first P_SMEM bins in shared memory after the planes, the rest in the
  // workspace (each bin read and written by one thread only)
  float2 *const Ps = (float2 *)(smem + ${seq and 1 or 2} * PAIR_BYTES);
@   if acc == "ws" and split > 1 then
  float2 *const Pg = part + blk * N + P_SMEM; // the share's own slot holds the rest
@   elseif acc == "ws" then
  float2 *const Pg = pws + blk * (N - P_SMEM);
@   else
  float2 *const Pg = nullptr;
@   end
  const unsigned long long keep = l2_keep();
  const long long B = rows / H, BP = (B + 1) / 2;
  const long long bp0 = BP * blockIdx.y / SPLIT, bp1 = BP * (blockIdx.y + 1) / SPLIT;
  ${include(tw_split)}
  const float2 *__restrict__ kp = k_hat + (long long)h * N;
  // Causal with L <= N/2: the top half of the first pass's input is zero.
  const bool zero_top = L <= N / 2;
  const int kmax = zero_top && ${n1} >= 16 ? ${n1} / 16 : ${n1} / 8;
  const int zchunks = zero_top && ${n1} >= 16 ? N / 16 : N / 8;
  const int zsh = zero_top && ${n1} >= 16 ? ${logn - 4} : ${logn - 3};  // log2(zchunks)
  const bool vec = (L & 7) == 0 &&
                   (((unsigned long long)u | (unsigned long long)pre | (unsigned long long)post |
                     (unsigned long long)dy | (unsigned long long)du | (unsigned long long)dpre |
                     (unsigned long long)dpost) & 15) == 0;
  ${include(dft_matrices)}
  const bool sum = dk != 0;
  // an input only an output not asked for needs may be NULL: not read
  const bool need_v = dpost || dk || dd, need_g = du || dpre || dk || dd;
  for (int j = threadIdx.x; j < N && sum; j += THREADS) {
    if (j < P_SMEM) Ps[j] = float2{0.0f, 0.0f};
    else Pg[j - P_SMEM] = float2{0.0f, 0.0f};
  }
  float vg = 0.0f;
@   if seq then
  // seq: one unit in shared memory. v's transforms first (z, and Zv kept in zw for P), then
  // g's (dv, and P += conj(Zv) Zg); the stores as below, each from the one unit.
  float2 *const zw = zws + blk * N;
  for (long long bp = bp0; bp < bp1; bp++) {
    for (int ph = 0; ph < 2; ph++) {
      for (int i = threadIdx.x; i < 2 * zchunks; i += THREADS) {
        const int pl = i >> zsh, n0 = (i & (zchunks - 1)) * 8;
        const long long b = 2 * bp + pl;
        uint4 x = uint4{0u, 0u, 0u, 0u};
        if (b < B && n0 < L) {
          const long long gi = (b * H + h) * L + n0;
          if (ph == 0 && need_v) x = load8(u, pre, gi, n0, L, vec);
          if (ph == 1 && need_g) x = load8g(dy, post, gi, n0, L, vec);
          if (ph == 0 && dd) vg += dot_vg(u, pre, dy, post, gi, n0, L, vec);
        }
        *(uint4 *)(smem + pl * PLANE_BYTES + swz(n0)) = x;
      }
      __syncthreads();
      ${include(cols_forward)}
@     local last, prev = passes[#passes], passes[#passes - 1]
      if (ph == 0) row_pass_seq<${last.r}, ${prev.r}, ${prev.s}, false>(sb, d${last.r}, kp, zw, Ps, Pg, sum, keep, tw);
      else row_pass_seq<${last.r}, ${prev.r}, ${prev.s}, true>(sb, d${last.r}, kp, zw, Ps, Pg, sum, keep, tw);
      __syncthreads();
      ${include(cols_inverse)}
      const int ssh = L <= N / 2 ? ${logn - 4} : ${logn - 3};
      for (int i = threadIdx.x; i < 2 << ssh; i += THREADS) {
        const int pl = i >> ssh, n0 = (i & ((1 << ssh) - 1)) * 8;
        const long long b = 2 * bp + pl;
        if (b >= B || n0 >= L) continue;
        const long long gi = (b * H + h) * L + n0;
        const u32 neg = pl ? 0x80008000u : 0u;
        uint4 w = *(const uint4 *)(smem + pl * PLANE_BYTES + swz(n0));
        w = uint4{w.x ^ neg, w.y ^ neg, w.z ^ neg, w.w ^ neg};
        if (ph == 0) {
          if (dpost) store8m(dpost, dy, gi, n0, L, vec, w);
        } else {
          ${include(bwd.store_dv, {gi = "gi", n = "n0", d = "w"})}
        }
      }
      __syncthreads();
    }
  }
@   else
  for (long long bp = bp0; bp < bp1; bp++) {
    for (int i = threadIdx.x; i < 2 * zchunks; i += THREADS) {
      const int pl = i >> zsh, n0 = (i & (zchunks - 1)) * 8;  // no division per chunk
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
    row_pass_bwd<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, kp, Ps, Pg, sum, keep, tw);
    __syncthreads();
    ${include(cols_inverse)}
    // Store: z (unit 0) and dv (unit 1), kept conjugated: the imaginary plane negated.
    // N/16 chunks a plane hold every output below L <= N/2, else N/8; those past L skipped
    const int ssh = L <= N / 2 ? ${logn - 4} : ${logn - 3};
    for (int i = threadIdx.x; i < 2 << ssh; i += THREADS) {
      const int pl = i >> ssh, n0 = (i & ((1 << ssh) - 1)) * 8;
      const long long b = 2 * bp + pl;
      if (b >= B || n0 >= L) continue;
      const long long gi = (b * H + h) * L + n0;
      const u32 neg = pl ? 0x80008000u : 0u;
      uint4 z = *(const uint4 *)(smem + pl * PLANE_BYTES + swz(n0));
      uint4 w = *(const uint4 *)(smem + PAIR_BYTES + pl * PLANE_BYTES + swz(n0));
      z = uint4{z.x ^ neg, z.y ^ neg, z.z ^ neg, z.w ^ neg};
      w = uint4{w.x ^ neg, w.y ^ neg, w.z ^ neg, w.w ^ neg};
      if (dpost) store8m(dpost, dy, gi, n0, L, vec, z);
      ${include(bwd.store_dv, {gi = "gi", n = "n0", d = "w"})}
    }
    __syncthreads();
  }
@   end
  ${include(bwd.tail)}
}
@   if split > 1 then

${include(bwd.bdk)}
@   end
@ else
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const float2 *__restrict__ k_hat,
            io_t *__restrict__ y, long long rows, int L, int H) {
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  ${include(tw_split)}
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
@ if real ~= "half" then
  const int zsh = zero_top && ${n1} >= 16 ? ${logn_pts - 4} : ${logn_pts - 3};  // log2(zchunks)
  // the group's row offsets (rows.bases), and with a band and D each row's D, after the planes
  long long *const rbase = (long long *)(smem + ${rbase_off});
@   if band_d then
  float *const rowd = (float *)(smem + ${rbase_off} + 16 * PAIRS);
@   end
@ end
  const bool vec = (L & 7) == 0 && (((unsigned long long)u | (unsigned long long)pre |
                                     (unsigned long long)post | (unsigned long long)y) & 15) == 0;
@ if load == "async" then
  if (vec && blockIdx.x * (long long)PAIRS < pairs)
    stage(sb, blockIdx.x, u, pre, pairs, B, BP, H, L, zchunks);
@ end
  ${include(dft_matrices)}
@ if band > 0 then
  DftBand<${passes[#passes].r}, ${band}> dband;
  dband.init();
@ end
  for (long long grp = blockIdx.x; grp * PAIRS < pairs; grp += gridDim.x) {
    const long long c0 = grp * PAIRS;
@ if real ~= "half" then
    ${include(rows.bases)}
@ end
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
    row_inv_half<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, tw);
@ elseif band > 0 then
    row_pass_band<${last.r}, ${band}, ${prev.r}, ${prev.s}>(sb, dband, k_hat, c0, BP, H, tw);
@ else
    row_pass<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, k_hat, c0, BP, H, tw);
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
    dft_matrices = dft.matrices, cols_forward = dft.cols_forward, cols_inverse = dft.cols_inverse,
    dk_transform = bwd.dk_transform, bwd = bwd, own_g = false, col_units = false, tap1 = false,
    n = n, nr = params.fft_size, pairs = params.pairs, warps = params.warps,
    passes = dft.passes(params.factors, n), radices = fft.distinct(radix_users(params)),
    band = params.band or 0, band_d = params.band ~= nil and params.skip_d == true,
    n1 = params.factors[1], real = params.real, khat = layout.khat_per_head(params),
    pos_k = fft.digit_pos_expr(params.factors, "k"), prep_threads = PREP_THREADS,
    smem_layout = params.smem, load = params.load, group = params.group, seg = false,
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16", fold = layout.fold(n),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype), direction = params.op or "forward",
    acc = params.acc or "smem",
    p_smem = params.acc == "ws" and (params.p_smem or 0) or params.fft_size,
    split = params.split or 1, seq = params.seq == true,
    -- seq's shared memory is one unit and part of P, under dk's 8N: dk's transform runs in
    -- the Zv region, free after the batch (global memory, L2)
    dk_x = params.seq and "zw" or false,
    ws_args = ((params.acc == "ws" and (params.split or 1) == 1) and ", float2 *__restrict__ pws"
               or "")
      .. (params.seq and ", float2 *__restrict__ zws" or "")
      .. ((params.split or 1) > 1 and ", float2 *__restrict__ part, float *__restrict__ vgp" or ""),
    logn = fft.log2(params.fft_size), logn_pts = fft.log2(n), rbase_off = layout.smem_bytes(params),
    twiddle = params.twiddle or "sincos", tw_split = tw_split,
  }
  env.tw_tables, env.tw_entries = layout.twiddle_tables(params)
  for k, v in pairs(prep.names(params)) do env[k] = v end
  return tpl.render(KERNEL, env, "=templates/monarch_tc.lua (KERNEL text)")
end

return family
