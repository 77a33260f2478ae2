-- direct: short filters (K up to 64 taps) as a time-domain convolution, fp32 arithmetic on
-- CUDA cores, any I/O dtype. The depthwise convolutions Hyena blocks put before the long one
-- have 3 or 4 taps; for them an FFT of the whole row moves and computes far more than the sum
-- of K products an output needs.
--
-- A block takes TILE = threads x per consecutive outputs of one row at a time (a loop over the
-- row's tiles, blockIdx.y first): it stages v = pre * u over the tile and the HALO samples
-- before it (K - 1 rounded up to 8; zero before the row in causal mode, the row's end in
-- circular mode) in shared memory as fp32, skewed by one word every 32 so that the threads'
-- strided reads (a thread's `per` outputs are consecutive) fall in distinct banks; then each
-- thread slides a window of `per` registers down the staged samples, one shared-memory read
-- and `per` multiply-adds a tap, and multiplies by post on the way out. The taps (k, with D
-- folded into tap 0 by the prepare kernel) sit in shared memory, read by every thread at
-- once (a broadcast). Circular mode (L = N) wraps; causal mode (N >= L + K - 1) does not.
-- The frequency mask (freq_keep) is not a short filter: refused.
local tpl = require "lib.tpl"
local io_ = require "lib.io"
local common = require "lib.family"
local manifest = require "lib.manifest"

local family = {
  name = "direct",
  revision = 1,
  doc = "short filters (K <= 64) in the time domain, fp32 on CUDA cores",
  runs = {
    ops = { "forward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 256, max = 4194304 }, -- powers of two
    min_sm = 70,
    fallback = false, -- chosen by tuning only (its default declines: not yet run on a GPU)
  },
}

local MAX_TAPS = 64
local PERS = { 8, 16 }
local THREADS = { 128, 256, 512 }
local PREP_THREADS = 64
local MAX_GRID_Y = 65535

-- The problem's taps: filter_len, or seqlen when it is 0.
local function taps_of(problem)
  return problem.filter_len ~= 0 and problem.filter_len or problem.seqlen
end

local function halo(params) return (params.taps - 1 + 7) // 8 * 8 end

-- Shared memory: the taps, then the staged samples with one skew word every 32.
local function smem_bytes(params)
  local span = params.threads * params.per + halo(params)
  return 4 * (params.taps + span + span // 32 + 1)
end

-- Every block shape, for the taps of the problem; empty when the filter is not short.
function family.space(problem, device, rigor)
  local k = taps_of(problem)
  if k > MAX_TAPS or problem.freq_keep ~= 0 or problem.op == "backward" then return {} end
  local out = {}
  for _, per in ipairs(PERS) do
    for _, threads in ipairs(THREADS) do
      out[#out + 1] = {
        fft_size = problem.fft_size, taps = k, per = per, threads = threads,
        dtype = problem.dtype, pre_gate = problem.pre_gate, post_gate = problem.post_gate,
      }
    end
  end
  return out
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local k = taps_of(problem)
  if problem.freq_keep ~= 0 then
    return false, "freq_keep: a frequency mask is not a short filter (direct takes F = 0)"
  end
  if params.taps ~= k then
    return false, string.format("taps: %s, the problem's filter has %d", tostring(params.taps), k)
  end
  if k > MAX_TAPS then
    return false, string.format("filter_len: %d taps, direct runs 1 to %d", k, MAX_TAPS)
  end
  local per_ok, threads_ok = false, false
  for _, v in ipairs(PERS) do per_ok = per_ok or params.per == v end
  for _, v in ipairs(THREADS) do threads_ok = threads_ok or params.threads == v end
  if not per_ok then return false, "per: 8 or 16 outputs a thread" end
  if not threads_ok then return false, "threads: 128, 256 or 512" end
  return common.fits(device, smem_bytes(params), params.threads)
end

-- Declines until its kernels have run on a GPU: the search still tries every candidate,
-- verifying it first.
function family.default(problem, device)
  local best, why = common.best(family, problem, device, function(params)
    return math.abs(params.threads - 256) + math.abs(params.per - 8)
  end)
  if not best then return nil, why end
  return nil, "the direct kernels are chosen by tuning only (fftconv-tune) until they have run "
    .. "on a GPU"
end

-- The prepare kernel writes a head's taps (fp32, D folded into tap 0); the forward runs a
-- block per row over the row's tiles (grid.y of them at a time).
function family.layout(params, device)
  local tile = params.threads * params.per
  local m = manifest.prepare_forward({
    prep = { threads = PREP_THREADS, smem = 0, per = 1 },
    fwd = { threads = params.threads, smem = smem_bytes(params), per = 1 },
    filter = { layout = "direct.taps" .. params.taps, per_head = 4 * params.taps, fixed = 0 },
  })
  m.launches[2].grid.y = math.min(MAX_GRID_Y, (params.fft_size + tile - 1) // tile)
  return m
end

-- Eight samples at a time, as fp32: loads and stores of 8 aligned elements of the I/O dtype.
local VEC = {
  fp32 = [[
static __device__ __forceinline__ void ld8(const io_t *p, long long i, float f[8]) {
  const float4 a = *(const float4 *)(p + i), b = *(const float4 *)(p + i + 4);
  f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
static __device__ __forceinline__ void st8(io_t *p, long long i, float a, float b, float c,
                                           float d, float e, float f, float g, float h) {
  *(float4 *)(p + i) = float4{a, b, c, d};
  *(float4 *)(p + i + 4) = float4{e, f, g, h};
}]],
  fp16 = [[
static __device__ __forceinline__ float lo16(unsigned w) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)(w & 0xffffu))); return f;
}
static __device__ __forceinline__ float hi16(unsigned w) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)(w >> 16))); return f;
}
static __device__ __forceinline__ unsigned pack16(float a, float b) {
  unsigned short x, y;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(x) : "f"(a));
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(y) : "f"(b));
  return (unsigned)x | ((unsigned)y << 16);
}]],
  bf16 = [[
static __device__ __forceinline__ float lo16(unsigned w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float hi16(unsigned w) { return __uint_as_float(w & 0xffff0000u); }
static __device__ __forceinline__ unsigned pack16(float a, float b) {
  unsigned short x, y;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(x) : "f"(a));
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(y) : "f"(b));
  return (unsigned)x | ((unsigned)y << 16);
}]],
}
local VEC16 = [[
static __device__ __forceinline__ void ld8(const io_t *p, long long i, float f[8]) {
  const uint4 r = *(const uint4 *)(p + i);
  const unsigned w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int k = 0; k < 4; k++) f[2 * k] = lo16(w[k]), f[2 * k + 1] = hi16(w[k]);
}
static __device__ __forceinline__ void st8(io_t *p, long long i, float a, float b, float c,
                                           float d, float e, float f, float g, float h) {
  *(uint4 *)(p + i) = uint4{pack16(a, b), pack16(c, d), pack16(e, f), pack16(g, h)};
}]]

local KERNEL = [==[
${io_functions}
${vec_functions}

#define N ${n}
#define K ${taps}
#define PER ${per}
#define THREADS ${threads}
#define TILE (THREADS * PER)
#define HALO ${halo}
#define SPAN (TILE + HALO)

extern __shared__ float smem[];

// Staged sample q (q < SPAN) at a skewed index: a thread's reads, PER apart, hit distinct banks.
static __device__ __forceinline__ int sk(int q) { return q + (q >> 5); }

// The taps of head h: k's K values in fp32, D added to the first (y's D v term is tap 0's).
extern "C" __global__ void __launch_bounds__(${prep_threads})
fftconv_prep(const float *__restrict__ k, const float *__restrict__ d,
             float *__restrict__ k_hat, int H, int Kp, int F) {
  const int h = blockIdx.x;
  for (int j = threadIdx.x; j < K; j += blockDim.x)
    k_hat[(long long)h * K + j] = k[(long long)h * Kp + j] + (j == 0 && d ? d[h] : 0.0f);
}

// y = post * (sum over j < K of tap j times v at t - j), v = pre * u; circular when L = N.
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const float *__restrict__ k_hat,
            io_t *__restrict__ y, long long rows, int L, int H) {
  const long long row = blockIdx.x;
  if (row >= rows) return;
  float *const taps = smem, *const vs = smem + K;
  const int h = (int)(row % H);
  const bool circ = L == N;
  const io_t *__restrict__ ur = u + row * L;
@ if pre_gate then
  const io_t *__restrict__ pr = pre + row * L;
@ end
@ if post_gate then
  const io_t *__restrict__ po = post + row * L;
@ end
  io_t *__restrict__ yr = y + row * L;
  const bool vec = (L & 7) == 0 && (((unsigned long long)u | (unsigned long long)pre |
                                     (unsigned long long)post | (unsigned long long)y) & 15) == 0;
  for (int j = threadIdx.x; j < K; j += THREADS) taps[j] = k_hat[(long long)h * K + j];
  for (long long t0 = (long long)blockIdx.y * TILE; t0 < L; t0 += (long long)gridDim.y * TILE) {
    // Stage v over [t0 - HALO, t0 + TILE), eight samples a thread at a time.
    for (int q = 8 * threadIdx.x; q < SPAN; q += 8 * THREADS) {
      const long long p0 = t0 - HALO + q;
      float f[8];
      if (vec && p0 >= 0 && p0 + 8 <= L) {
        ld8(ur, p0, f);
@ if pre_gate then
        float g[8];
        ld8(pr, p0, g);
#pragma unroll
        for (int i = 0; i < 8; i++) f[i] *= g[i];
@ end
      } else {
#pragma unroll
        for (int i = 0; i < 8; i++) {
          long long p = p0 + i;
          if (p < 0 && circ) p += L;
          f[i] = 0.0f;
          if (p >= 0 && p < L) {
@ if pre_gate then
            f[i] = ld(ur, p) * ld(pr, p);
@ else
            f[i] = ld(ur, p);
@ end
          }
        }
      }
#pragma unroll
      for (int i = 0; i < 8; i++) vs[sk(q + i)] = f[i];
    }
    __syncthreads();
    // Outputs t0 + o, o = base .. base + PER - 1: w[i] is v at o + i - j for tap j.
    const int base = threadIdx.x * PER;
    float acc[PER], w[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) acc[i] = 0.0f, w[i] = vs[sk(HALO + base + i)];
#pragma unroll
    for (int j = 0; j < K; j++) {
      const float kj = taps[j];
#pragma unroll
      for (int i = 0; i < PER; i++) acc[i] += kj * w[i];
      if (j + 1 < K) {
#pragma unroll
        for (int i = PER - 1; i > 0; i--) w[i] = w[i - 1];
        w[0] = vs[sk(HALO + base - j - 1)];
      }
    }
#pragma unroll
    for (int c = 0; c < PER; c += 8) {
      const long long t = t0 + base + c;
      if (t >= L) break;
      if (vec) { // L is a multiple of 8, so are t and t + 8 <= L
@ if post_gate then
        float g[8];
        ld8(po, t, g);
#pragma unroll
        for (int i = 0; i < 8; i++) acc[c + i] *= g[i];
@ end
        st8(yr, t, acc[c], acc[c + 1], acc[c + 2], acc[c + 3], acc[c + 4], acc[c + 5],
            acc[c + 6], acc[c + 7]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; i++)
          if (t + i < L) {
@ if post_gate then
            st(yr, t + i, acc[c + i] * ld(po, t + i));
@ else
            st(yr, t + i, acc[c + i]);
@ end
          }
      }
    }
    __syncthreads();
  }
}
]==]

function family.emit(params)
  local vec = VEC[params.dtype]
  if params.dtype ~= "fp32" then vec = vec .. "\n" .. VEC16 end
  return tpl.render(KERNEL, {
    n = params.fft_size, taps = params.taps, per = params.per, threads = params.threads,
    halo = halo(params), prep_threads = PREP_THREADS, pre_gate = params.pre_gate,
    post_gate = params.post_gate, io_functions = io_.functions(params.dtype),
    vec_functions = vec,
  }, "=templates/direct.lua (KERNEL text)")
end

return family
