-- monarch_long: the FFT convolution for long sequences (FFT sizes 64K to 4M) in three passes
-- through a workspace, fp32 arithmetic on CUDA cores; runs on every sm_70+ GPU.
--
-- N = N1 * N2 (the four-step FFT): sample n = n1 N2 + n2 sits at row n1, column n2 of an
-- N1 x N2 matrix; frequency k = k1 + N1 k2 at row k1, column k2.
--   pass A (fftconv_cols_fwd): a block takes `tile` columns of a pair of rows and runs the
--     N1-point DFTs down them (pre gate fused), times the twiddles W_N^(n2 k1) / N1, into the
--     workspace Z[k1][n2];
--   pass B (fftconv_rows): a block takes workspace rows k1 and N1 - k1 of a pair, runs the
--     N2-point DFTs along them, multiplies by the filter spectra and runs the inverse DFTs;
--   pass C (fftconv_cols_inv): the inverse twiddles and the N1-point inverse DFTs down the
--     columns, post gate fused, into y.
-- Real input, "pair" strategy: rows 2p and 2p + 1 (any heads) travel as one complex sequence
-- z = u_a + i u_b. Their spectra are separated in pass B, where bin k and its mirror N - k
-- (row N1 - k1, or row k1 itself for k1 = 0 and N1/2) are in the same block:
-- Y = ((Z + conj Z~) K_a + (Z - conj Z~) K_b) / 2, whose inverse is y_a + i y_b.
-- Causal mode (L <= N/2): pass A reads only the rows below L, pass C writes only those.
-- The workspace holds a pair's N complex values in fp32, or in the I/O dtype ("half": half
-- the traffic; pass A's 1/N1 keeps fp16 values within the inputs' range).
-- k_hat: lib/long_parts.lua's (shared with monarch_cluster), written by two prepare launches.
local tpl = require "lib.tpl"
local common = require "lib.family"
local stockham = require "lib.stockham"
local parts = require "lib.long_parts"

local family = {
  name = "monarch_long",
  revision = 2,
  doc = "long sequences (64K..4M): three passes through a workspace, fp32 on CUDA cores",
  -- What the family runs, read by C (src/emit/family_decl.c; README, "Adding a kernel
  -- family"): the runtime's table of families is generated from it at build time.
  runs = {
    ops = { "forward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 65536, max = 4194304 }, -- powers of two
    min_sm = 70,
    fallback = 3, -- the heuristic fallback tries families in this order
  },
}

local N2S = { 512, 1024, 2048, 4096, 8192 }
local TILES = { 8, 16, 32 }
local THREADS = { 128, 256, 512 }
local THREADS_ROWS = { 256, 512, 1024 }
local MAX_REGS_CF = 32 -- complex registers a thread may hold in one FFT stage

local function n1_of(params) return params.fft_size // params.n2 end
local function ws_bytes(params) return params.ws == "fp32" and 8 or 4 end
local function cols_smem(params) return n1_of(params) * params.tile * 8 end
local function rows_smem(params) return 2 * parts.row_stride(params.n2) * 8 end

function family.space(problem, device, rigor)
  local n = problem.fft_size
  local out = {}
  if n < parts.MIN_N or n > parts.MAX_N then return out end
  local wss = problem.dtype == "fp32" and { "fp32" } or { "fp32", "half" }
  local tiles, tcs, trs = TILES, THREADS, THREADS_ROWS
  if rigor == "measure" then tiles, tcs, trs = { 16, 32 }, { 256, 512 }, { 512, 1024 } end
  for _, n2 in ipairs(N2S) do
    local n1 = n // n2
    if n1 >= 16 and n1 <= 2048 then
      for _, tile in ipairs(tiles) do
        for _, tc in ipairs(tcs) do
          for _, tr in ipairs(trs) do
            for _, ws in ipairs(wss) do
              out[#out + 1] = {
                fft_size = n, n2 = n2, tile = tile, threads_cols = tc, threads_rows = tr,
                ws = ws, dtype = problem.dtype, pre_gate = problem.pre_gate,
                post_gate = problem.post_gate,
              }
            end
          end
        end
      end
    end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local n = params.fft_size
  why = parts.split_refusal(n, params.n2)
  if why then return false, why end
  if params.ws ~= "fp32" and params.ws ~= "half" then return false, "ws must be fp32 or half" end
  if params.ws == "half" and params.dtype == "fp32" then
    return false, "a half workspace needs fp16 or bf16 I/O"
  end
  local n2, n1 = params.n2, n1_of(params)
  if params.tile < 1 or params.tile > n2 or params.tile & (params.tile - 1) ~= 0 then
    return false, "tile must be a power of two at most n2"
  end
  if device.sm < 70 then return false, "needs sm_70 or newer" end
  ok, why = common.fits(device, cols_smem(params), params.threads_cols)
  if not ok then return false, "column passes: " .. why end
  ok, why = common.fits(device, rows_smem(params), params.threads_rows)
  if not ok then return false, "row pass: " .. why end
  local rc = stockham.regs(n1, params.tile, params.threads_cols)
  if rc > MAX_REGS_CF then
    return false, string.format("column FFT holds %d complex values a thread (at most %d)", rc,
      MAX_REGS_CF)
  end
  local rr = stockham.regs(n2, 2, params.threads_rows)
  if rr > MAX_REGS_CF // 2 then
    return false, string.format("row FFT holds %d complex values a thread (at most %d)", rr,
      MAX_REGS_CF // 2)
  end
  return true
end

-- The heuristic: rows of 4096 (or the nearest), 16 columns a block, 256 threads for the
-- column passes and 512 for the row pass, fp32 workspace.
function family.default(problem, device)
  return common.best(family, problem, device, function(params)
    local d = math.abs(math.log(params.n2, 2) - 12)
    return d * 100 + math.abs(params.tile - 16) + math.abs(params.threads_cols - 256) / 16
      + math.abs(params.threads_rows - 512) / 16 + (params.ws == "fp32" and 0 or 1000)
  end)
end

function family.layout(params, device)
  local n, n2, n1 = params.fft_size, params.n2, n1_of(params)
  local half_pair = n * ws_bytes(params) // 2
  local tc, tr = params.threads_cols, params.threads_rows
  return parts.manifest(n1, n2, {
      { entry = "fftconv_cols_fwd", phase = "forward", grid = { over = "rows", per = 2, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "u", "pre", "ws:z", "rows", "L" }, reads = { "u", "pre" }, writes = { "ws:z" } },
      { entry = "fftconv_rows", phase = "forward", grid = { over = "rows", per = 2, y = n1 // 2 + 1 },
        block = { tr, 1, 1 }, smem = rows_smem(params),
        args = { "k_hat", "ws:z", "rows", "H" }, reads = { "k_hat", "ws:z" }, writes = { "ws:z" } },
      { entry = "fftconv_cols_inv", phase = "forward", grid = { over = "rows", per = 2, y = n2 // params.tile },
        block = { tc, 1, 1 }, smem = cols_smem(params),
        args = { "ws:z", "post", "y", "rows", "L" }, reads = { "ws:z", "post" }, writes = { "y" } },
    }, { { name = "z", per_row = half_pair, fixed = half_pair } })
end

local KERNEL = [[
#define TILE ${tile}
#define TC ${tc}
#define TR ${tr}

// The workspace: complex values in ${ws_doc}.
@ if ws == "fp32" then
typedef cf ws_t;
static __device__ __forceinline__ cf ldw(const ws_t *p, long long i) { return p[i]; }
static __device__ __forceinline__ void stw(ws_t *p, long long i, cf v) { p[i] = v; }
@ else
typedef unsigned int ws_t;
static __device__ __forceinline__ cf ldw(const ws_t *p, long long i) {
  unsigned int w = p[i];
  const io_t h[2] = {(io_t)(w & 0xffffu), (io_t)(w >> 16)};
  return cf{ld(h, 0), ld(h, 1)};
}
static __device__ __forceinline__ void stw(ws_t *p, long long i, cf v) {
  io_t h[2];
  st(h, 0, v.r);
  st(h, 1, v.i);
  p[i] = (unsigned int)h[0] | ((unsigned int)h[1] << 16);
}
@ end

${fft_cols_fwd}

${fft_cols_inv}

${fft_rows_fwd}

${fft_rows_inv}

// Pass A: rows 2p and 2p+1 as z = u_a + i u_b; N1-point DFTs down columns
// n2 in [blockIdx.y TILE, +TILE), times W_N^(n2 k1) / N1, into Z[p][k1][n2].
extern "C" __global__ void __launch_bounds__(TC)
fftconv_cols_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre, ws_t *__restrict__ z,
                 long long rows, int L) {
  extern __shared__ cf s[];
  const long long r0 = 2 * (long long)blockIdx.x, r1 = r0 + 1;
  const bool two = r1 < rows;
  const int c0 = blockIdx.y * TILE;
  load_cols<TILE, TC>(s, u, pre, r0, two, c0, L);
  __syncthreads();
  fft_cols_fwd(s);
  ws_t *zp = z + (long long)blockIdx.x * N;
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int k1 = i / TILE, n2 = c0 + i % TILE;
    stw(zp, (long long)k1 * N2 + n2, cscale(cmul(s[i], twiddle(k1 * n2, -1.0f)), 1.0f / N1));
  }
}

// Pass B: workspace rows a = blockIdx.y and b = N1 - a (b = a for a = 0 and N1/2) of pair p:
// N2-point DFTs, the spectra of the two real rows separated and multiplied by their heads'
// filters, inverse DFTs, back in place.
extern "C" __global__ void __launch_bounds__(TR)
fftconv_rows(const cf *__restrict__ k_hat, ws_t *__restrict__ z, long long rows, int H) {
  extern __shared__ cf s[];
  const int a = blockIdx.y, b = (N1 - a) & (N1 - 1);
  const long long r0 = 2 * (long long)blockIdx.x, r1 = r0 + 1 < rows ? r0 + 1 : r0;
  const cf *k0 = k_hat + (r0 % H) * (long long)N, *k1p = k_hat + (r1 % H) * (long long)N;
  ws_t *zp = z + (long long)blockIdx.x * N;
  for (int i = threadIdx.x; i < 2 * N2; i += TR) {
    int q = i / N2, e = i % N2;
    s[q * RSTRIDE + PAD(e)] = ldw(zp, (long long)(q ? b : a) * N2 + e);
  }
  __syncthreads();
  fft_rows_fwd(s);
  filter_pair(s, s + RSTRIDE, a, b, k0, k1p, threadIdx.x, TR);
  __syncthreads();
  fft_rows_inv(s);
  for (int i = threadIdx.x; i < 2 * N2; i += TR) {
    int q = i / N2, e = i % N2;
    if (q == 0 || b != a) stw(zp, (long long)(q ? b : a) * N2 + e, s[q * RSTRIDE + PAD(e)]);
  }
}

// Pass C: times W_N^(-n2 k1), N1-point inverse DFTs down the columns; Re to row 2p, Im to
// row 2p+1, below L, times the post gate.
extern "C" __global__ void __launch_bounds__(TC)
fftconv_cols_inv(const ws_t *__restrict__ z, const io_t *__restrict__ post, io_t *__restrict__ y,
                 long long rows, int L) {
  extern __shared__ cf s[];
  const long long r0 = 2 * (long long)blockIdx.x, r1 = r0 + 1;
  const bool two = r1 < rows;
  const int c0 = blockIdx.y * TILE;
  const ws_t *zp = z + (long long)blockIdx.x * N;
  for (int i = threadIdx.x; i < N1 * TILE; i += TC) {
    int k1 = i / TILE, n2 = c0 + i % TILE;
    s[i] = cmul(ldw(zp, (long long)k1 * N2 + n2), twiddle(k1 * n2, 1.0f));
  }
  __syncthreads();
  fft_cols_inv(s);
  store_cols<TILE, TC>(s, post, y, r0, two, c0, L);
}

]]

function family.emit(params)
  local n, n2 = params.fft_size, params.n2
  local n1 = n // n2
  local tc, tr, tile = params.threads_cols, params.threads_rows, params.tile
  local env = parts.env(params, n2, {
    tile = tile, tc = tc, tr = tr, ws = params.ws,
    ws_doc = params.ws == "fp32" and "fp32" or (params.dtype .. " (the I/O dtype)"),
    fft_cols_fwd = stockham.fn("fft_cols_fwd", n1, tile, tile, 1, tc, -1),
    fft_cols_inv = stockham.fn("fft_cols_inv", n1, tile, tile, 1, tc, 1),
    fft_rows_fwd = stockham.fn("fft_rows_fwd", n2, 2, 1, parts.row_stride(n2), tr, -1, true),
    fft_rows_inv = stockham.fn("fft_rows_inv", n2, 2, 1, parts.row_stride(n2), tr, 1, true),
  })
  return tpl.render(parts.COMMON .. KERNEL .. parts.PREP, env,
    "=templates/monarch_long.lua (lib/long_parts COMMON, KERNEL, PREP)")
end

return family
