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
--
-- The backward (op "backward") cuts the rows the same way, a block per head (and share of its
-- work) over its rows' segment pairs; see its kernel text.
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
local bwd = require "lib.tc_bwd"

local MAX_TAPS = 16384

local family = {
  name = "overlap_tc",
  revision = 1,
  doc = "partial causal filters (K <= 16384) by overlap-save, segment FFTs of size M on "
    .. "tensor cores (monarch_tc's passes)",
  runs = {
    ops = { "forward", "backward" },
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
local DENSE_MAX_N = 4194304 -- the largest FFT a dense family runs (monarch_long's)
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

-- The backward's segment pairs a row: its dv outputs lie N - SEG before its z outputs, so the
-- segments reach L + N - SEG.
local function bwd_seg_pairs(params)
  -- ceil((L + EDGE) / SEG) with EDGE = N - SEG
  local segs = (params.seqlen + params.fft_size - 1) // params.segment
  return (segs + 1) // 2
end

-- The backward's shared memory: three units (v, g, and g's own samples, for dk) and the sum P,
-- N fp32 complex bins.
local function bwd_smem(m)
  return layout.smem_bytes({ fft_size = m, pairs = 3, smem = "swizzle", real = "pair" }) + 8 * m
end

-- The backward's shares a head (split, a power of two): its work is batch x segment pairs,
-- cut so that the grid has about BWD_PER_SM blocks a streaming multiprocessor, no share empty
-- on the problem's batch; measure takes that and a quarter of it. A head's shares (a spectrum
-- of M fp32 complex bins and a sum each, two workspace regions) stay within the workspace
-- bound of one row (problem.ws_one_row), so that a kernel tuned at one batch runs at every
-- other: at B = 1 the bound has a row a head, and the shares do not shrink with the batch.
local BWD_PER_SM, MAX_SPLIT = 8, 256
local function bwd_splits(problem, device, params, measure)
  local items, blocks = problem.batch * bwd_seg_pairs(params), BWD_PER_SM * (device.sms or 128)
  local top = 1
  while top < MAX_SPLIT and top * 2 <= items and top * problem.heads < blocks
      and common.shares_fit(problem, top * 2, params.fft_size) do
    top = top * 2
  end
  local out = {}
  if measure then
    if top >= 4 then out[#out + 1] = top // 4 end
    out[#out + 1] = top
  else
    local sp = 1
    while sp <= top do
      out[#out + 1] = sp
      sp = sp * 2
    end
  end
  return out
end

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

-- The backward's candidates: the segment sizes whose block fits (three units and P: M up to
-- 8192 on a 227 KB device), the factorizations, 4 or 8 warps, and the shares a head.
local function backward_space(problem, device, measure)
  local k, out = taps_of(problem), {}
  local ms = {}
  for _, m in ipairs(sizes(problem)) do
    if bwd_smem(m) <= device.smem_optin and (not measure or #ms < 2) then ms[#ms + 1] = m end
  end
  for _, m in ipairs(ms) do
    local orders = measure and (m >= 8192 and { 2, 3, 4 } or { 2, 3 }) or ORDERS
    for _, order in ipairs(orders) do
      for _, factors in ipairs(fft.factorizations(m, SIZES, order)) do
        for _, warps in ipairs({ 4, 8 }) do
          local c = {
            fft_size = m, segment = segment_of(m, k), seqlen = problem.seqlen, taps = k,
            factors = factors, warps = warps, op = "backward", dtype = problem.dtype,
            pre_gate = problem.pre_gate, post_gate = problem.post_gate,
          }
          for _, split in ipairs(bwd_splits(problem, device, c, measure)) do
            local cs = {}
            for key, v in pairs(c) do cs[key] = v end
            cs.split = split > 1 and split or nil
            out[#out + 1] = cs
          end
        end
      end
    end
  end
  return out
end

function family.space(problem, device, rigor)
  local k = taps_of(problem)
  if problem.mode ~= "causal" or problem.freq_keep ~= 0 or taps_refusal(problem) then
    return {}
  end
  local measure = rigor == "measure"
  if (problem.op or "forward") == "backward" then return backward_space(problem, device, measure) end
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

-- The backward's own choices: no pairs or load (one segment pair a block at a time), 4 or 8
-- warps, split a power of two (absent: 1), and a block that fits.
local function check_backward(device, params)
  if params.pairs ~= nil or params.load ~= nil then
    return false, "pairs and load are the forward's (the backward takes one segment pair at a time)"
  end
  if params.warps ~= 4 and params.warps ~= 8 then return false, "warps: 4 or 8" end
  local split = params.split
  if split ~= nil and (math.type(split) ~= "integer" or split < 2 or split > MAX_SPLIT
      or split & (split - 1) ~= 0) then
    return false, string.format("split: the shares of a head's work, a power of two from 2 to %d "
      .. "(absent: 1)", MAX_SPLIT)
  end
  local threads = params.warps * 32
  local ok, why = common.fits(device, bwd_smem(params.fft_size), threads)
  if not ok then return false, why .. " (the backward's three units and its sum P)" end
  local np = params.factors[#params.factors]
  ok, why = layout.check_regs(layout.regs_estimate(params) + np, threads, device)
  if not ok then return false, why end
  local tiles = params.fft_size // np // 16
  if params.warps > tiles and params.warps > 4 then
    return false, string.format("%d warps but only %d row-pass tiles", params.warps, tiles)
  end
  return true
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
  if math.type(params.warps) ~= "integer" or params.warps < 1 then
    return false, "warps: a positive integer"
  end
  if params.op == "backward" then return check_backward(device, params) end
  if params.split ~= nil then return false, "split is the backward's" end
  if params.pairs ~= 1 and params.pairs ~= 2 and params.pairs ~= 4 then
    return false, "pairs: 1, 2 or 4 segment pairs a block"
  end
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
  -- The backward's, past the dense families' largest FFT (monarch_long's runs.fft_size.max),
  -- where without it only K <= 64 (direct) has one: the same segment size where its three
  -- units fit a block, 8 warps, and the most shares the space offers (the grid nearest 8
  -- blocks an SM). Every candidate of the five verification problems passed on the H100 with
  -- the one-tap variant (bench/NOTES.md 30); it has not been timed against the dense
  -- backward, so where that runs it stays the tuner's choice.
  local backward = problem.op == "backward"
  if backward and problem.fft_size <= DENSE_MAX_N then
    return nil, "overlap_tc's backward is the tuner's choice where the dense families run the "
      .. "problem (N <= " .. DENSE_MAX_N .. "): it has not been timed against their backward"
  end
  local target = 1024
  while target < 4 * k and target < MAX_M do target = target * 2 end
  return common.best(family, problem, device, function(params)
    local maxf = 0
    for _, f in ipairs(params.factors) do maxf = math.max(maxf, f) end
    return math.abs(fft.log2(params.fft_size) - fft.log2(target)) * 10000
      + #params.factors * 100 + maxf + math.abs(params.warps - 8)
      + (backward and -fft.log2(params.split or 1) / 16
         or math.abs(params.pairs * params.fft_size - 4096) / 1024)
  end)
end

-- Prepare: monarch_tc's, a block a head (the spectrum of the taps at size M, shared with
-- monarch_tc's kernels of the same factors). Forward: a block per row and group of segment
-- pairs (grid.y groups, looping when a row has more).
function family.layout(params, device)
  local filter = { layout = "monarch_tc.pair." .. table.concat(params.factors, "x"), fixed = 0,
                   per_head = manifest.FLOAT2 * params.fft_size }
  if params.op == "backward" then
    -- a block per head and share of its work (grid.y); with shares, fftconv_bdk after it
    local m = manifest.prepare_backward({
      prep = { threads = PREP_THREADS, smem = 0, per = 1 },
      bwd = { threads = params.warps * 32, smem = bwd_smem(params.fft_size), per = 1 },
      filter = filter,
    })
    return manifest.backward_shares(m, params.split or 1, params.fft_size, params.warps * 32)
  end
  local m = manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.warps * 32, smem = layout.smem_bytes(params), per = 1 },
    filter = filter,
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

@ if direction == "backward" then
// The backward. Segment j's window is the N samples from j SEG - EDGE (zero before 0 and from
// L on), EDGE = N - SEG >= K - 1; a block takes head h's segment pairs, row after row of its
// share of the batch, two segments as the real and imaginary planes of three units: v = pre u
// (unit 0) and g = post dy (unit 1) over the window, and g's own samples, the window's last
// SEG (unit 2; zero elsewhere). The passes are monarch_tc's backward (lib/tc_bwd.lua) at size
// N: z = v * k is right at the window's last SEG positions (no wrap reaches them), the
// segment's own outputs, and dv = the correlation of g with k at its first SEG positions
// (N - K + 1 of them see no wrap), the outputs EDGE before them; so each sample's z and dv are
// written once, by one segment, and the segments reach L + EDGE. P adds conj(Zv) times the
// spectrum of g's own samples: the segment's terms g[t] v[t - j], j < K <= EDGE + 1, with no
// wrap and no sample counted twice, so dk is P's inverse below K as in monarch_tc; dd sums
// g v over the own samples. Unit 2 takes no inverse passes. With SPLIT > 1 a head's work
// (batch x segment pairs) is cut into SPLIT shares, a block each, added by fftconv_bdk.
#define P_SMEM N  // P in shared memory, after the units
#define SPLIT ${split}
#define SEG ${segment}     // a segment's own outputs
#define EDGE (N - SEG)     // the window's samples before them
#define SPR ${spr}LL       // segment pairs a row

${include(bwd.helpers)}

${include(bwd.row_pass)}

${include(bwd.entry)}
  const u32 sb = (u32)__cvta_generic_to_shared(smem);
  const int h = blockIdx.x;
  const long long blk = (long long)h * SPLIT + blockIdx.y;  // this block's share of head h
  float2 *const Ps = (float2 *)(smem + PAIRS * PAIR_BYTES);
  float2 *const Pg = nullptr;  // P_SMEM = N: no part of P in the workspace
  const unsigned long long keep = l2_keep();
  const long long B = rows / H, work = B * SPR;
  const long long w0 = work * blockIdx.y / SPLIT, w1 = work * (blockIdx.y + 1) / SPLIT;
  const float2 *__restrict__ const tw = nullptr;  // twiddles from sines and cosines
  const float2 *__restrict__ kp = k_hat + (long long)h * N;
  const int kmax = ${n1} / 8;  // windows are whole
  const bool vec = (L & 7) == 0 &&
                   (((unsigned long long)u | (unsigned long long)pre | (unsigned long long)post |
                     (unsigned long long)dy | (unsigned long long)du | (unsigned long long)dpre |
                     (unsigned long long)dpost) & 15) == 0;
  ${include(dft.matrices)}
@ if tap1 then
  const bool sum = false;  // one tap: dk is the fp32 sum of g * v (as dd), P is not needed
@ else
  const bool sum = dk != 0;
@ end
  // an input only an output not asked for needs may be NULL: not read
  const bool need_v = dpost || dk || dd, need_g = du || dpre || dk || dd;
  for (int j = threadIdx.x; j < N && sum; j += THREADS) Ps[j] = float2{0.0f, 0.0f};
  float vg = 0.0f;
  for (long long w = w0; w < w1; w++) {
    const long long b = w / SPR, sp = w % SPR, row = b * H + h;
    for (int i = threadIdx.x; i < 2 * (N / 8); i += THREADS) {
      const int pl = i >> ${logn - 3}, n0 = (i & (N / 8 - 1)) * 8;
      const long long t0 = (2 * sp + pl) * SEG - EDGE + n0;
      uint4 v = uint4{0u, 0u, 0u, 0u}, gv = v, go = v;
      if (t0 >= 0 && t0 < L) {
        const long long gi = row * L + t0;
        if (need_v) v = load8(u, pre, gi, (int)t0, L, vec);
        if (need_g) gv = load8g(dy, post, gi, (int)t0, L, vec);
        if (n0 >= EDGE) {  // the segment's own samples
          if (sum) go = gv;
          if (${tap1 and "dd || dk" or "dd"}) vg += dot_vg(u, pre, dy, post, gi, (int)t0, L, vec);
        }
      }
      *(uint4 *)(smem + pl * PLANE_BYTES + swz(n0)) = v;
      *(uint4 *)(smem + PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = gv;
      *(uint4 *)(smem + 2 * PAIR_BYTES + pl * PLANE_BYTES + swz(n0)) = go;
    }
    __syncthreads();
    ${include(dft.cols_forward)}
@ local last, prev = passes[#passes], passes[#passes - 1]
    row_pass_bwd<${last.r}, ${prev.r}, ${prev.s}>(sb, d${last.r}, kp, Ps, Pg, sum, keep, tw);
    __syncthreads();
    ${include(dft.cols_inverse)}
    // Store: z from unit 0's last SEG positions, dv from unit 1's first SEG, both kept
    // conjugated (the imaginary plane negated); samples outside the row skipped.
    for (int i = threadIdx.x; i < 2 * (SEG / 8); i += THREADS) {
      const int pl = i / (SEG / 8), n0 = (i % (SEG / 8)) * 8;
      const long long tz = (2 * sp + pl) * SEG + n0, tv = tz - EDGE;
      const u32 neg = pl ? 0x80008000u : 0u;
      if (dpost && tz < L) {
        uint4 z = *(const uint4 *)(smem + pl * PLANE_BYTES + swz(EDGE + n0));
        z = uint4{z.x ^ neg, z.y ^ neg, z.z ^ neg, z.w ^ neg};
        store8m(dpost, dy, row * L + tz, (int)tz, L, vec, z);
      }
      if ((du || dpre) && tv >= 0 && tv < L) {
        uint4 d = *(const uint4 *)(smem + PAIR_BYTES + pl * PLANE_BYTES + swz(n0));
        d = uint4{d.x ^ neg, d.y ^ neg, d.z ^ neg, d.w ^ neg};
        const long long gi = row * L + tv;
        ${include(bwd.store_dv, {gi = "gi", n = "(int)tv", d = "d"})}
      }
    }
    __syncthreads();
  }
  ${include(bwd.tail)}
}
@ if split > 1 then

${include(bwd.bdk)}
@ end
@ else
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
@ end

${include(prep.kernel)}
]==]

function family.emit(params)
  local n = params.fft_size
  local backward = params.op == "backward"
  local split = params.split or 1
  local env = {
    layout = layout, ops = ops, dft = dft, rows = rows, prep = prep,
    n = n, nr = n, pairs = backward and 3 or params.pairs, warps = params.warps,
    passes = dft.passes(params.factors, n), radices = fft.distinct(params.factors),
    n1 = params.factors[1], real = "pair", khat = n, prep_threads = PREP_THREADS,
    smem_layout = "swizzle", load = params.load or "plain", group = "seg", seg = true, band_d = false,
    twiddle = "sincos", -- its k_hat (monarch_tc's layout without tables) holds no twiddle tables
    segment = params.segment, spr = backward and bwd_seg_pairs(params) or seg_pairs(params),
    ng = not backward and groups(params) or nil, split = split, bwd = bwd, own_g = true,
    dk_x = false,
    tap1 = backward and params.taps == 1,
    ws_args = split > 1 and ", float2 *__restrict__ part, float *__restrict__ vgp" or "",
    logn = fft.log2(n),
    op = params.dtype, op_ptx = params.dtype == "fp16" and "f16" or "bf16",
    cvt = params.dtype == "fp16" and "f16" or "bf16", fold = layout.fold(n),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype), direction = backward and "backward" or "forward",
    col_units = backward and 2 or false, -- the backward's unit 2 takes no inverse passes
  }
  for k, v in pairs(prep.names(params)) do env[k] = v end
  return tpl.render(KERNEL, env, "=templates/overlap_tc.lua (KERNEL text)")
end

return family
