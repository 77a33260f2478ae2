-- monarch_cluster: the long-sequence convolution in one pass over a thread-block cluster
-- (sm_90): a pair of rows never leaves the chip between its load and its store, so the
-- inputs are read once and the output written once.
--
-- The four-step split N = N1 x N2 of monarch_long, over a cluster of C blocks (blockIdx.y is
-- the block's rank), one cluster a pair of rows (z = u_a + i u_b, any heads):
--   1. each block loads its W = N2/C columns of the N1 x N2 matrix (pre gate fused) into
--      buffer A, runs the N1-point DFTs down them and applies W_N^(n2 k1) / N1;
--   2. cluster barrier; each block pulls, from every block's A through distributed shared
--      memory, the whole rows k1 it owns into buffer B: row pairs {j, N1 - j} (and {0, N1/2})
--      are units, unit u belongs to block u mod C, so a row and its mirror meet in one block;
--   3. N2-point DFTs of its rows, the filter product of each unit (lib/long_parts's
--      filter_pair, the filter spectrum shared with monarch_long), inverse DFTs, in B;
--   4. cluster barrier; each block pulls its columns back from every block's B into A;
--      cluster barrier (no block leaves while another reads its memory); inverse twiddles,
--      N1-point inverse DFTs, post gate, y.
-- Clusters are ordered so that neighbours take the same two heads in different batches and
-- share the filter spectra in L2.
-- Shared memory a block: A (N/C complex fp32) and B (N1/C padded rows), so the sizes that fit
-- are 64K (C = 8 or 16) and 128K (C = 16) on a 227 KB device.
local tpl = require "lib.tpl"
local common = require "lib.family"
local stockham = require "lib.stockham"
local parts = require "lib.long_parts"

local family = {
  name = "monarch_cluster",
  revision = 4,
  doc = "long sequences in one pass over a thread-block cluster (sm_90, distributed shared memory)",
  -- What the family runs, read by C (src/emit/family_decl.c; README, "Adding a kernel
  -- family"): the runtime's table of families is generated from it at build time.
  runs = {
    ops = { "forward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 65536, max = 131072 }, -- powers of two
    min_sm = 90,
    fallback = false, -- not a fallback: the heuristic miss policy never picks it
    -- Out of the tuner's search (issue 22: a family that never wins costs tuning time); still
    -- built, tested and searched when --template names it.
    retired = "never the fastest: tuned, 5.41 ms at 64K and 7.40 ms at 128K against monarch_long's 4.54 and 4.38 ms, and the long set's tuning chose monarch_long at every size (bench/NOTES.md 10 and 26)",
  },
}

local N2S = { 256, 512, 1024, 2048, 4096 }
local CLUSTERS = { 4, 8, 16 }
local THREADS = { 256, 512, 1024 }
local MAX_REGS_CF = 32

local function n1_of(params) return params.fft_size // params.n2 end
local function smem_a(params) return params.fft_size // params.cluster * 8 end
local function smem_b(params)
  return n1_of(params) // params.cluster * parts.row_stride(params.n2) * 8
end
local function smem(params) return smem_a(params) + smem_b(params) end

function family.space(problem, device, rigor)
  local n = problem.fft_size
  local out = {}
  if n < parts.MIN_N or n > parts.MAX_N or device.sm < 90 then return out end
  for _, n2 in ipairs(N2S) do
    for _, c in ipairs(CLUSTERS) do
      for _, t in ipairs(THREADS) do
        out[#out + 1] = {
          fft_size = n, n2 = n2, cluster = c, threads = t, dtype = problem.dtype,
          pre_gate = problem.pre_gate, post_gate = problem.post_gate,
        }
      end
    end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local n, n2, c = params.fft_size, params.n2, params.cluster
  if device.sm < 90 then return false, "thread-block clusters need sm_90 or newer" end
  why = parts.split_refusal(n, n2)
  if why then return false, why end
  if c ~= 4 and c ~= 8 and c ~= 16 then return false, "cluster must be 4, 8 or 16 blocks" end
  local n1 = n // n2
  if (n1 // 2) % c ~= 0 then return false, "the N1/2 row pairs must divide among the blocks" end
  if n2 // c < 8 then return false, "each block needs at least 8 columns" end
  ok, why = common.fits(device, smem(params), params.threads)
  if not ok then return false, why end
  local rc = stockham.regs(n1, n2 // c, params.threads)
  local rr = stockham.regs(n2, n1 // c, params.threads)
  if math.max(rc, rr) > MAX_REGS_CF then
    return false, string.format("an FFT stage holds %d complex values a thread (at most %d)",
      math.max(rc, rr), MAX_REGS_CF)
  end
  return true
end

-- The heuristic: the smallest cluster that fits, rows of 1024 (or the nearest), 512 threads.
function family.default(problem, device)
  return common.best(family, problem, device, function(params)
    return params.cluster * 100 + math.abs(math.log(params.n2, 2) - 10) * 10
      + math.abs(params.threads - 512) / 64
  end)
end

function family.layout(params, device)
  local n, n2 = params.fft_size, params.n2
  local n1 = n // n2
  return parts.manifest(n1, n2, {
      { entry = "fftconv_cluster", phase = "forward",
        grid = { over = "rows", per = 2, y = params.cluster },
        block = { params.threads, 1, 1 }, smem = smem(params), cluster = { 1, params.cluster, 1 },
        args = { "u", "pre", "post", "k_hat", "y", "rows", "L", "H" },
        reads = { "u", "pre", "post", "k_hat" }, writes = { "y" } },
    }, {})
end

local KERNEL = [[
#define C ${cluster}
#define W (N2 / C)          // columns a block owns
#define ROWS (N1 / C)       // rows a block owns in step 3
#define T ${threads}
#define E (N1 * W / T)      // values a thread moves in steps 2 and 4 (ROWS N2 = N1 W)
#define U (E < 4 ? E : 4)

${fft_cols_fwd}

${fft_cols_inv}

${fft_rows_fwd}

${fft_rows_inv}

// Distributed shared memory (PTX: NVRTC sees no CUDA headers).
static __device__ __forceinline__ unsigned smem_addr(const void *p) {
  unsigned r;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
  return r;
}
static __device__ __forceinline__ unsigned remote(unsigned addr, unsigned rank) {
  unsigned r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}
static __device__ __forceinline__ cf ld_remote(unsigned addr) {
  float a, b;
  asm volatile("ld.shared::cluster.v2.f32 {%0, %1}, [%2];" : "=f"(a), "=f"(b) : "r"(addr) : "memory");
  return cf{a, b};
}
static __device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Slot s of block c in step 3 holds row k1: unit u = c + C (s / 2) is rows {u, N1 - u}, or
// {0, N1/2} for u = 0; even slots the first.
static __device__ __forceinline__ int slot_row(int c, int s) {
  int u = c + C * (s >> 1);
  return u == 0 ? ((s & 1) ? N1 / 2 : 0) : ((s & 1) ? N1 - u : u);
}
// The block and slot of row k1.
static __device__ __forceinline__ void row_home(int k1, int *c, int *s) {
  int j = k1 <= N1 / 2 ? k1 : N1 - k1;
  int u = j == N1 / 2 ? 0 : j;
  *c = u % C;
  *s = 2 * (u / C) + ((k1 == u && k1 != N1 / 2) || (u == 0 && k1 == 0) ? 0 : 1);
}

extern "C" __global__ void __launch_bounds__(T)
fftconv_cluster(const io_t *__restrict__ u, const io_t *__restrict__ pre,
                const io_t *__restrict__ post, const cf *__restrict__ k_hat,
                io_t *__restrict__ y, long long rows, int L, int H) {
  extern __shared__ cf s[];
  cf *A = s;                 // N1 x W, element (n1, w) at n1 W + w
  cf *B = s + N1 * W;        // ROWS padded rows of N2
  const int c = blockIdx.y;  // = the rank in the cluster (cluster dims 1 x C x 1)
  // Clusters next to each other take the same two heads in different batches (when H is
  // even), so that the filter spectra they read are shared in L2 rather than read per pair.
  long long p = blockIdx.x;
  if ((H & 1) == 0) {
    long long nb = rows / H;
    p = (p % nb) * (H / 2) + p / nb;
  }
  const long long r0 = 2 * p, r1 = r0 + 1;
  const bool two = r1 < rows;
  const int c0 = c * W;
  // 1. Columns c0 .. c0 + W of both rows, N1-point DFTs, twiddles.
  load_cols<W, T>(A, u, pre, r0, two, c0, L);
  __syncthreads();
  fft_cols_fwd(A);
  for (int i = threadIdx.x; i < N1 * W; i += T) {
    int k1 = i / W, n2 = c0 + i % W;
    A[i] = cscale(cmul(A[i], twiddle(k1 * n2, -1.0f)), 1.0f / N1);
  }
  cluster_sync();
  // 2. Pull the rows this block owns: (k1, n2) is in block n2 / W at k1 W + n2 % W.
  // E values a thread, U remote loads in flight before their stores.
  const unsigned a_base = smem_addr(A);
  for (int j0 = 0; j0 < E; j0 += U) {
    cf v[U];
#pragma unroll
    for (int q = 0; q < U; q++) {
      int i = threadIdx.x + (j0 + q) * T, n2 = i % N2, k1 = slot_row(c, i / N2);
      v[q] = ld_remote(remote(a_base + 8u * (unsigned)(k1 * W + n2 % W), n2 / W));
    }
#pragma unroll
    for (int q = 0; q < U; q++) {
      int i = threadIdx.x + (j0 + q) * T;
      B[(i / N2) * RSTRIDE + PAD(i % N2)] = v[q];
    }
  }
  __syncthreads();
  // 3. Rows: DFTs, the filter product of each unit, inverse DFTs.
  fft_rows_fwd(B);
  const long long rb = two ? r1 : r0;
  const cf *k0 = k_hat + (r0 % H) * (long long)N, *k1p = k_hat + (rb % H) * (long long)N;
  for (int sl = 0; sl < ROWS; sl += 2) {
    int ra = slot_row(c, sl), rb2 = slot_row(c, sl + 1);
    if (ra == 0) { // rows 0 and N1/2: each its own mirror
      filter_pair(B + sl * RSTRIDE, B + sl * RSTRIDE, 0, 0, k0, k1p, threadIdx.x, T);
      filter_pair(B + (sl + 1) * RSTRIDE, B + (sl + 1) * RSTRIDE, N1 / 2, N1 / 2, k0, k1p,
                  threadIdx.x, T);
    } else {
      filter_pair(B + sl * RSTRIDE, B + (sl + 1) * RSTRIDE, ra, rb2, k0, k1p, threadIdx.x, T);
    }
  }
  __syncthreads();
  fft_rows_inv(B);
  cluster_sync();
  // 4. Pull the columns back: row k1 lives in block/slot row_home(k1).
  const unsigned b_base = smem_addr(B);
  for (int j0 = 0; j0 < E; j0 += U) {
    cf v[U];
#pragma unroll
    for (int q = 0; q < U; q++) {
      int i = threadIdx.x + (j0 + q) * T, hc, hs;
      row_home(i / W, &hc, &hs);
      v[q] = ld_remote(remote(b_base + 8u * (unsigned)(hs * RSTRIDE + PAD(c0 + i % W)), hc));
    }
#pragma unroll
    for (int q = 0; q < U; q++) {
      int i = threadIdx.x + (j0 + q) * T;
      A[i] = cmul(v[q], twiddle((i / W) * (c0 + i % W), 1.0f));
    }
  }
  cluster_sync();
  fft_cols_inv(A);
  store_cols<W, T>(A, post, y, r0, two, c0, L);
}
]]

function family.emit(params)
  local n, n2, c, t = params.fft_size, params.n2, params.cluster, params.threads
  local n1 = n // n2
  local w = n2 // c
  local env = parts.env(params, n2, {
    cluster = c, threads = t,
    fft_cols_fwd = stockham.fn("fft_cols_fwd", n1, w, w, 1, t, -1),
    fft_cols_inv = stockham.fn("fft_cols_inv", n1, w, w, 1, t, 1),
    fft_rows_fwd = stockham.fn("fft_rows_fwd", n2, n1 // c, 1, parts.row_stride(n2), t, -1, true),
    fft_rows_inv = stockham.fn("fft_rows_inv", n2, n1 // c, 1, parts.row_stride(n2), t, 1, true),
  })
  return tpl.render(parts.COMMON .. KERNEL .. parts.PREP, env,
    "=templates/monarch_cluster.lua (lib/long_parts COMMON, KERNEL, PREP)")
end

return family
