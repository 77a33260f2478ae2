-- overlap_tc: partial convolutions (a causal filter of K taps, K much shorter than L: at most
-- L/4 and 16384) by overlap-save, each segment's FFT on tensor cores with monarch_tc's passes.
--
-- The row is cut into segments of SEG = M - (K - 1 rounded up to 8) outputs. Segment j reads
-- the M samples of v = pre * u that end with its own, positions j SEG - (M - SEG) to
-- (j + 1) SEG - 1 (zero before 0 and from L on), takes their M-point circular convolution
-- with the K taps, and keeps its last SEG outputs: those no wrap reaches, since
-- M - SEG >= K - 1. Every segment is transformed on chip, so u and the gates are read once
-- (plus the M - SEG overlap, from L2 while the previous segment's block is in flight) and y
-- written once: the memory floor is in reach, and L is not bound to a power-of-two FFT, so a
-- causal row can be as long as memory allows.
--
-- The kernel is monarch_tc's forward ("pair" strategy, swizzled planes, plain loads or the
-- next group's segments staged with cp.async (load "async"); the pieces under lib/tc_*): the unit of a block is a pair of consecutive segments of one row, as the
-- real and imaginary planes (they share the row's filter). Blocks take a row's segment pairs in
-- order (the grid is rows x groups, the linear block index row-major), so that neighbours,
-- which share their overlap, run together. k_hat is monarch_tc's spectrum for FFT size M.
-- M (fft_size of the parameters; the problem's own FFT size is not used) is searched.
local fft = require "lib.fft"
local tpl = require "lib.tpl"
local io_ = require "lib.io"
local common = require "lib.family"
local manifest = require "lib.manifest"
local layout = require "lib.tc_layout"
local ops = require "lib.tc_ops"
local dft = require "lib.tc_dft"
local rows = require "lib.tc_rows"
local prep = require "lib.tc_prep"

local MAX_TAPS = 16384

local family = {
  name = "overlap_tc",
  revision = 1,
  doc = "partial causal filters (K <= 16384) by overlap-save, segment FFTs of size M on "
    .. "tensor cores (monarch_tc's passes)",
  runs = {
    ops = { "forward" },
    dtypes = { "fp16", "bf16" },
    modes = { "causal" },
    fft_size = { min = 256, max = 1099511627776 }, -- the problem's: any length
    max_taps = MAX_TAPS, -- ... with a filter of at most this many taps
    min_sm = 80,
    fallback = 3, -- the heuristic fallback tries families in this order
  },
}

local SIZES = { 8, 16, 32 }
local ORDERS = { 2, 3, 4 }
local MIN_M, MAX_M = 256, 32768
local MAX_GRID_Y = 65535
local PREP_THREADS = 256

local taps_of = common.taps

-- Why the problem's filter is not a partial one overlap_tc runs (at most MAX_TAPS taps and
-- L/4), or nil.
local function taps_refusal(problem)
  local k = taps_of(problem)
  if k > MAX_TAPS then
    return string.format("filter_len: %d taps, overlap_tc runs 1 to %d", k, MAX_TAPS)
  end
  if 4 * k > problem.seqlen then
    return string.format("filter_len: %d taps of a row of %d, overlap_tc runs partial "
      .. "filters, at most L/4 taps (a longer filter is the dense FFT's)", k, problem.seqlen)
  end
end

-- The outputs a segment of M samples keeps with K taps.
local function segment_of(m, k) return m - (k - 1 + 7) // 8 * 8 end

-- Segment pairs a row, and groups of `pairs` of them (a block's work at a time).
local function seg_pairs(params)
  local segs = (params.seqlen + params.segment - 1) // params.segment
  return (segs + 1) // 2
end
local function groups(params) return (seg_pairs(params) + params.pairs - 1) // params.pairs end

-- The segment sizes worth trying: M a power of two from 256 to 32768 whose segment keeps at
-- least half of it, up to the first that holds the whole row in one segment.
local function sizes(problem)
  local k, out = taps_of(problem), {}
  local m = MIN_M
  while m <= MAX_M do
    local seg = segment_of(m, k)
    if 2 * seg >= m then
      out[#out + 1] = m
      if seg >= problem.seqlen then break end
    end
    m = m * 2
  end
  return out
end

function family.space(problem, device, rigor)
  local k = taps_of(problem)
  if problem.mode ~= "causal" or problem.freq_keep ~= 0 or taps_refusal(problem)
      or (problem.op or "forward") ~= "forward" then
    return {}
  end
  local measure = rigor == "measure"
  local ms = sizes(problem)
  if measure and #ms > 3 then ms = { ms[1], ms[2], ms[3] } end
  local out = {}
  for _, m in ipairs(ms) do
    local orders = measure and (m >= 8192 and { 2, 3, 4 } or { 2, 3 }) or ORDERS
    local warpss = m >= 16384 and { 4, 8, 16 } or { 4, 8 }
    for _, order in ipairs(orders) do
      for _, factors in ipairs(fft.factorizations(m, SIZES, order)) do
        for _, warps in ipairs(warpss) do
          for _, pairs in ipairs({ 1, 2, 4 }) do
            for _, load in ipairs(pairs <= 2 and warps <= 8 and { "plain", "async" } or { "plain" }) do
              if pairs == 1 or pairs * m <= 16384 then
                out[#out + 1] = {
                  fft_size = m, segment = segment_of(m, k), seqlen = problem.seqlen, taps = k,
                  factors = factors, warps = warps, pairs = pairs, dtype = problem.dtype,
                  pre_gate = problem.pre_gate, post_gate = problem.post_gate,
                  load = load == "async" and "async" or nil,
                }
              end
            end
          end
        end
      end
    end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = layout.check_device(params, device)
  if not ok then return false, why end
  ok, why = common.matches_io(problem, params)
  if not ok then return false, why end
  if problem.mode ~= "causal" then return false, "mode: overlap-save runs causal problems only" end
  if problem.freq_keep ~= 0 then
    return false, "freq_keep: a frequency mask is not a partial filter (overlap_tc takes F = 0)"
  end
  local k = taps_of(problem)
  local refused = taps_refusal(problem)
  if refused then return false, refused end
  ok, why = common.matches_taps(problem, params)
  if not ok then return false, why end
  local m = params.fft_size
  if math.type(m) ~= "integer" or m < MIN_M or m > MAX_M or m & (m - 1) ~= 0 then
    return false, string.format("fft_size: the segment FFT, a power of two from %d to %d",
      MIN_M, MAX_M)
  end
  if params.segment ~= segment_of(m, k) or 2 * params.segment < m then
    return false, string.format("segment: M - (K - 1 rounded up to 8) = %d, at least M/2 (%d)",
      segment_of(m, k), m // 2)
  end
  ok, why = layout.check_factors(params)
  if not ok then return false, why end
  local threads = params.warps * 32
  ok, why = common.fits(device, layout.smem_bytes(params), threads)
  if not ok then return false, why end
  ok, why = layout.check_regs(layout.regs_estimate(params), threads, device)
  if not ok then return false, why end
  local np = params.factors[#params.factors]
  local row_tasks = params.pairs * m // np // 16
  if params.warps > row_tasks and params.warps > 4 then
    return false, string.format("%d warps but only %d row-pass tiles", params.warps, row_tasks)
  end
  if params.load ~= nil and params.load ~= "async" then
    return false, "load: \"async\" (cp.async staging of the next group) or absent (plain loads)"
  end
  if params.pairs ~= 1 and params.pairs ~= 2 and params.pairs ~= 4 then
    return false, "pairs: 1, 2 or 4 segment pairs a block"
  end
  if params.pairs > 1 and params.pairs > seg_pairs(params) then
    return false, "more segment pairs a block than a row has"
  end
  return true
end

-- The built-in choice: M the power of two nearest 4K (at least 1024), so a segment keeps
-- about 3/4 of what it reads; then monarch_tc's: fewest passes, smallest largest factor,
-- 8 warps, about 4096 points a block.
function family.default(problem, device)
  local k = taps_of(problem)
  local refused = taps_refusal(problem)
  if refused then return nil, refused end
  local target = 1024
  while target < 4 * k and target < MAX_M do target = target * 2 end
  return common.best(family, problem, device, function(params)
    local maxf = 0
    for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
    return math.abs(fft.log2(params.fft_size) - fft.log2(target)) * 10000
      + #params.factors * 100 + maxf + math.abs(params.warps - 8)
      + math.abs(params.pairs * params.fft_size - 4096) / 1024
  end)
end

-- Prepare: monarch_tc's, a block a head (the spectrum of the taps at size M, shared with
-- monarch_tc's kernels of the same factors). Forward: a block per row and group of segment
-- pairs (grid.y groups, looping when a row has more).
function family.layout(params, device)
  local m = manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.warps * 32, smem = layout.smem_bytes(params), per = 1 },
    filter = { layout = "monarch_tc.pair." .. table.concat(params.factors, "x"), fixed = 0,
               per_head = manifest.FLOAT2 * params.fft_size },
  })
  m.launches[2].grid.y = math.min(MAX_GRID_Y, groups(params))
  return m
end

local KERNEL = [==[
${io_functions}

${include(layout.defines)}

${include(ops.functions)}

${include(layout.planes)}

${include(dft.functions)}

${include(rows.functions)}

#define SEG ${segment}  // outputs a segment keeps: the last SEG of its N
#define SPR ${spr}LL    // segment pairs a row
#define NG ${ng}LL      // groups of PAIRS segment pairs a row
@ if load == "async" then

${include(rows.stage)}
@ end

// The grid is rows x G (G = gridDim.y groups at a time); block (x, y) is number
// x + y * rows in launch order, and takes row id / G and group id % G (then every G-th group
// after it), so that consecutive blocks take consecutive segments of one row.
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const float2 *__restrict__ k_hat,
            io_t *__restrict__ y, long long rows, int L, int H) {
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  const long long id = (long long)blockIdx.y * gridDim.x + blockIdx.x;
  const long long row = id / gridDim.y, BP = SPR;
  const int kmax = ${n1} / 8, zchunks = N / 8;  // segments are whole: no zero half to skip
  const float2 *__restrict__ const tw = nullptr;  // twiddles from sines and cosines
  const bool vec = (L & 7) == 0 && (((unsigned long long)u | (unsigned long long)pre |
                                     (unsigned long long)post | (unsigned long long)y) & 15) == 0;
@ if load == "async" then
  if (vec && id % gridDim.y < NG) stage(sb, row, id % gridDim.y, u, pre, L, zchunks);
@ end
  ${include(dft.matrices)}
  for (long long grp = id % gridDim.y; grp < NG; grp += gridDim.y) {
    const long long grp0 = grp * PAIRS, c0 = row * SPR + grp0;
    // Load: segment 2 sp into the real plane, 2 sp + 1 into the imaginary one.
    ${include(rows.load)}
    __syncthreads();
    ${include(dft.cols_forward)}
@ local last, prev = passes[#passes], passes[#passes - 1]
    row_pass<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, k_hat, c0, BP, H, tw);
    __syncthreads();
    ${include(dft.cols_inverse)}
    ${include(rows.store)}
    __syncthreads();
  }
}

${include(prep.kernel)}
]==]

function family.emit(params)
  local n = params.fft_size
  local env = {
    layout = layout, ops = ops, dft = dft, rows = rows, prep = prep,
    n = n, nr = n, pairs = params.pairs, warps = params.warps,
    passes = dft.passes(params.factors, n), radices = fft.distinct(params.factors),
    n1 = params.factors[1], real = "pair", khat = n, prep_threads = PREP_THREADS,
    smem_layout = "swizzle", load = params.load or "plain", group = "seg", seg = true, band_d = false,
    twiddle = "sincos", -- its k_hat (monarch_tc's layout without tables) holds no twiddle tables
    segment = params.segment, spr = seg_pairs(params), ng = groups(params),
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16", fold = layout.fold(n),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype), direction = "forward", col_units = false,
  }
  for k, v in pairs(prep.names(params)) do env[k] = v end
  return tpl.render(KERNEL, env, "=templates/overlap_tc.lua (KERNEL text)")
end

return family
