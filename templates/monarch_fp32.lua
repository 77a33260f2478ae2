-- monarch_fp32: the fused FFT convolution through the Monarch (mixed-radix, in-place)
-- decomposition, fp32 arithmetic on CUDA cores. The exact reference on the GPU and the
-- fallback for every shape no faster family covers.
--
-- The N real samples of a row are viewed as M = N/2 complex ones (even + i*odd) and kept in
-- shared memory as M complex fp32 values (4N bytes a row). The M-point FFT runs as p in-place
-- passes, one per factor f_i of M = f_1 ... f_p: pass i does M/f_i DFTs of size f_i at stride
-- M/(f_1...f_i), then twiddles, leaving the spectrum in digit-reversed order. A post-process
-- turns it into the spectrum of the N real samples, multiplies by the filter spectrum and
-- folds it back; the inverse passes run in reverse and leave the result in natural order.
-- k_hat (from the prep kernel) holds a twiddle table W_N^j, j < M, then per head the M + 1
-- filter bins 0..M, scaled by 1/(2N) with the frequency mask and the D term folded in.
--
-- The backward (op "backward", README "The backward pass") is the same passes in the other
-- direction: a block per head takes the rows of every batch in order, transforms v = pre*u
-- and g = post*dy as its two sequences, multiplies v's spectrum by the filter's (z, for dpost)
-- and g's by its conjugate (the adjoint, dv, for du and dpre), runs the inverse passes on
-- both, and adds conj(V) G into a half spectrum in shared memory; after the last batch the
-- inverse passes turn that sum (masked as the filter was) into dk's lags. Every sum over the
-- batch runs in a fixed order in fp32: no atomics, the same bits on every run.
local fft = require "lib.fft"
local tpl = require "lib.tpl"
local io_ = require "lib.io"
local common = require "lib.family"
local manifest = require "lib.manifest"

local family = {
  name = "monarch_fp32",
  revision = 2,
  doc = "fused Monarch FFT convolution, fp32 arithmetic on CUDA cores (exact fallback)",
  -- What the family runs, read by C (src/emit/family_decl.c; README, "Adding a kernel
  -- family"): the runtime's table of families is generated from it at build time.
  runs = {
    ops = { "forward", "backward" },
    dtypes = { "fp32", "fp16", "bf16" },
    modes = { "causal", "circular" },
    fft_size = { min = 256, max = 32768 }, -- powers of two
    min_sm = 70,
    fallback = 4, -- the heuristic fallback tries families in this order
  },
}

local SIZES = { 8, 16, 32, 64 }
local ORDERS = { 2, 3, 4 }
local SEQS = { 1, 2, 4, 8 }
local THREADS = { 64, 128, 256, 512 }
local DFTS = { "radix", "dense" }

local function maxf(factors)
  local m = 0
  for _, f in ipairs(factors) do m = math.max(m, f) end
  return m
end

-- Registers a thread needs, roughly: the DFT array and some addressing.
local function regs_estimate(params)
  return 2 * maxf(params.factors) + 40
end

-- rigor "measure" prunes to what has won on the H100 (bench/NOTES.md): radix-2 DFTs and one
-- or two sequences per block; "exhaustive" is everything.
function family.space(problem, device, rigor)
  local m = problem.fft_size // 2
  local dfts, seqss = DFTS, SEQS
  if rigor == "measure" then dfts, seqss = { "radix" }, { 1, 2 } end
  -- the backward's two sequences are a row's v and g (and its prep's, two heads)
  local backward = problem.op == "backward"
  if backward then seqss = { 2 } end
  local out = {}
  for _, order in ipairs(ORDERS) do
    for _, factors in ipairs(fft.factorizations(m, SIZES, order)) do
      for _, dft in ipairs(dfts) do
        for _, seqs in ipairs(seqss) do
          for _, threads in ipairs(THREADS) do
            out[#out + 1] = {
              fft_size = problem.fft_size, factors = factors, dft = dft, seqs = seqs,
              threads = threads, dtype = problem.dtype, pre_gate = problem.pre_gate,
              post_gate = problem.post_gate, op = backward and "backward" or nil,
            }
          end
        end
      end
    end
  end
  return out
end

-- Shared memory a block: its sequences' M complex fp32 values each; the backward's also the
-- M + 1 bins of its sum over the batch.
local function smem_bytes(params)
  local m = params.fft_size // 2
  if params.op == "backward" then return (params.seqs * m + m + 1) * 8 end
  return params.seqs * m * 8
end
-- The prep kernel's: its heads' sequences.
local function prep_smem_bytes(params)
  return params.seqs * (params.fft_size // 2) * 8
end

function family.check(problem, device, params)
  local ok, why = common.matches(problem, params)
  if not ok then return false, why end
  local m, prod = params.fft_size // 2, 1
  for _, f in ipairs(params.factors) do prod = prod * f end
  if prod ~= m then return false, "factors do not multiply to N/2" end
  ok, why = common.fits(device, smem_bytes(params), params.threads)
  if not ok then return false, why end
  -- More threads than DFTs in a pass leaves threads idle; the smallest block is always
  -- allowed so that tiny problems (one row of N = 256) still have a kernel.
  local fewest = params.seqs * m // maxf(params.factors)
  if params.threads > fewest and params.threads > THREADS[1] then
    return false, string.format("%d threads but only %d DFTs in the largest-radix pass",
      params.threads, fewest)
  end
  local regs = regs_estimate(params)
  if regs * params.threads > device.regs_per_block then
    return false, string.format("about %d registers x %d threads exceed %d", regs,
      params.threads, device.regs_per_block)
  end
  if params.op == "backward" and params.seqs ~= 2 then
    return false, "the backward transforms two sequences a block (v and g)"
  end
  if params.op ~= "backward" and params.seqs > 1 and params.seqs > problem.batch * problem.heads then
    return false, "more sequences per block than rows"
  end
  return true
end

-- The heuristic choice: few passes of middling radix, radix-2 DFTs, about 32 KB of shared
-- memory a block, 128 threads. nil, reason when no parameters are valid (e.g. a device with
-- less shared memory than one sequence needs).
function family.default(problem, device)
  return common.best(family, problem, device, function(params)
    return #params.factors * 100 + math.abs(maxf(params.factors) - 32)
      + (params.dft == "radix" and 0 or 1000)
      + math.abs(params.seqs * problem.fft_size * 4 - 32768) / 1024
      + math.abs(params.threads - 128) / 16
  end)
end

-- Both kernels run `threads` threads over `seqs` sequences (rows, or heads' filters) a block.
-- The filter layout, the twiddle table W_N^j (j < M) and then bins 0 .. M of each head in
-- natural order, is the same for every candidate of an FFT size.
function family.layout(params, device)
  local m, smem = params.fft_size // 2, smem_bytes(params)
  if params.op == "backward" then
    return manifest.prepare_backward({
      prep = { threads = params.threads, smem = prep_smem_bytes(params), per = params.seqs },
      bwd = { threads = params.threads, smem = smem, per = 1 },
      filter = { layout = "monarch_fp32.half", per_head = manifest.FLOAT2 * (m + 1),
                 fixed = manifest.FLOAT2 * m },
    })
  end
  return manifest.prepare_forward({
    prep = { threads = params.threads, smem = smem, per = params.seqs },
    fwd = { threads = params.threads, smem = smem, per = params.seqs },
    filter = { layout = "monarch_fp32.half", per_head = manifest.FLOAT2 * (m + 1),
               fixed = manifest.FLOAT2 * m },
  })
end

local KERNEL = [[
// Complex fp32 arithmetic.
struct __align__(8) cf { float r, i; };
static __device__ __forceinline__ cf cadd(cf a, cf b) { return cf{a.r + b.r, a.i + b.i}; }
static __device__ __forceinline__ cf csub(cf a, cf b) { return cf{a.r - b.r, a.i - b.i}; }
static __device__ __forceinline__ cf cmul(cf a, cf b) { return cf{a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r}; }
static __device__ __forceinline__ cf cmulc(cf a, cf b) { return cf{a.r * b.r + a.i * b.i, a.i * b.r - a.r * b.i}; }
static __device__ __forceinline__ cf cconj(cf a) { return cf{a.r, -a.i}; }
static __device__ __forceinline__ cf cscale(cf a, float s) { return cf{a.r * s, a.i * s}; }

${io_functions}

#define N ${n}
#define M ${m}
#define SEQS ${seqs}
#define THREADS ${threads}

// W_N^idx for idx < N from the table of W_N^j, j < M (W_N^(j+M) = -W_N^j).
static __device__ __forceinline__ cf tw_table(const cf *__restrict__ tab, int idx) {
  cf w = tab[idx & (M - 1)];
  return idx < M ? w : cf{-w.r, -w.i};
}
// The same computed in double precision, for the prep kernel that writes the table.
static __device__ __forceinline__ cf tw_exact(const cf *__restrict__ tab, int idx) {
  double s, c;
  sincospi(-2.0 * (double)idx / (double)N, &s, &c);
  return cf{(float)c, (float)s};
}

// Position of frequency k after the forward passes (digit reversal).
static __device__ __forceinline__ int fpos(int k) { return ${pos_k}; }

@ if dft == "dense" then
// Output k of the dense R-point DFT of a, with roots w[j] = exp(+-2 pi i j / R).
template <int R>
static __device__ __forceinline__ cf dense_dft(const cf (&a)[R], int k, const cf *w) {
  cf acc = a[0];
#pragma unroll
  for (int j = 1; j < R; j++) {
    cf x = w[(j * k) & (R - 1)];
    acc.r += a[j].r * x.r - a[j].i * x.i;
    acc.i += a[j].r * x.i + a[j].i * x.r;
  }
  return acc;
}
@ end
@ for _, r in ipairs(radices) do
@   if dft == "radix" then
static __device__ __forceinline__ void dft${r}_fwd(cf (&a)[${r}]) {
${fft.radix2_body(r, -1)}
}
static __device__ __forceinline__ void dft${r}_inv(cf (&a)[${r}]) {
${fft.radix2_body(r, 1)}
}
@   else
__constant__ cf roots${r}_fwd[${r}] = {${fft.root_table(r, -1)}};
__constant__ cf roots${r}_inv[${r}] = {${fft.root_table(r, 1)}};
@   end
@ end

@ for _, tw in ipairs({ "tw_table", "tw_exact" }) do
// Forward M-point FFT of every sequence in s, in place, digit-reversed out (${tw}).
static __device__ __forceinline__ void fft_fwd_${tw}(cf *s, const cf *__restrict__ tab) {
@   for i, p in ipairs(passes) do
  // pass ${i}: ${p.r}-point DFTs at stride ${p.stride} within blocks of ${p.block}
  for (int d = threadIdx.x; d < SEQS * (M / ${p.r}); d += THREADS) {
    int q = d / (M / ${p.r}), e = d % (M / ${p.r});
    int r = e % ${p.stride};
    cf *p = s + q * M + (e / ${p.stride}) * ${p.block} + r;
    cf a[${p.r}];
#pragma unroll
    for (int j = 0; j < ${p.r}; j++) a[j] = p[j * ${p.stride}];
@     if dft == "radix" then
    dft${p.r}_fwd(a);
#pragma unroll
    for (int k = 0; k < ${p.r}; k++)
@       if p.stride == 1 then
      p[k] = a[k];
@       else
      p[k * ${p.stride}] = k == 0 ? a[0] : cmul(a[k], ${tw}(tab, r * k * (N / ${p.block})));
@       end
@     else
#pragma unroll 1
    for (int k = 0; k < ${p.r}; k++) {
      cf acc = dense_dft(a, k, roots${p.r}_fwd);
@       if p.stride == 1 then
      p[k] = acc;
@       else
      p[k * ${p.stride}] = k == 0 ? acc : cmul(acc, ${tw}(tab, r * k * (N / ${p.block})));
@       end
    }
@     end
  }
  __syncthreads();
@   end
}
@ end

// Inverse M-point FFT, digit-reversed in, natural order out, unnormalised.
static __device__ __forceinline__ void fft_inv(cf *s, const cf *__restrict__ tab) {
@ for i = #passes, 1, -1 do
@   local p = passes[i]
  // pass ${i} inverse
  for (int d = threadIdx.x; d < SEQS * (M / ${p.r}); d += THREADS) {
    int q = d / (M / ${p.r}), e = d % (M / ${p.r});
    int r = e % ${p.stride};
    cf *p = s + q * M + (e / ${p.stride}) * ${p.block} + r;
    cf a[${p.r}];
#pragma unroll
    for (int j = 0; j < ${p.r}; j++)
@   if p.stride == 1 then
      a[j] = p[j];
@   else
      a[j] = j == 0 ? p[0] : cmulc(p[j * ${p.stride}], tw_table(tab, r * j * (N / ${p.block})));
@   end
@   if dft == "radix" then
    dft${p.r}_inv(a);
#pragma unroll
    for (int k = 0; k < ${p.r}; k++) p[k * ${p.stride}] = a[k];
@   else
#pragma unroll 1
    for (int k = 0; k < ${p.r}; k++) {
      cf acc = dense_dft(a, k, roots${p.r}_inv);
      p[k * ${p.stride}] = acc;
    }
@   end
  }
  __syncthreads();
@ end
}

@ if op == "backward" then
// 2 X[k] and 2 X[k + M], the bins of the N real samples, from their packed M-point spectrum
// Z at k (za) and M - k (zb); w = W_N^k.
static __device__ __forceinline__ void split(cf za, cf zb, cf w, cf &x0, cf &x1) {
  cf e = cadd(za, cconj(zb));
  cf o = csub(za, cconj(zb));
  o = cf{o.i, -o.r};
  cf wo = cmul(w, o);
  x0 = cadd(e, wo);
  x1 = csub(e, wo);
}
// The inverse passes' input at k from the products at bins k (y0) and k + M (y1).
static __device__ __forceinline__ cf fold(cf y0, cf y1, cf w) {
  cf dif = cmulc(csub(y0, y1), w);
  return cf{y0.r + y1.r - dif.i, y0.i + y1.i + dif.r};
}
// Whether filter bin f (< N) is kept by the frequency mask F (0: all).
static __device__ __forceinline__ bool kept(int f, int F) {
  return F == 0 || (f < N - f ? f : N - f) < F;
}

// One block per head h: for b = 0 .. B-1 in order, v = pre*u and g = post*dy of row b*H + h
// as sequences 0 and 1; z (with D*v) = IFFT(V K) and dv (with D*g) = IFFT(G conj(K)); then
// dpost = dy*z, du = dv*pre, dpre = dv*u, and P += conj(V) G over the half spectrum 0..M (in
// s + 2M, each bin owned by one thread). After the batch, dk = the first K lags of IFFT(P)
// masked as the filter was, and dd = the sum of g*v (each thread's in a fixed order, then a
// fixed tree). An output that is NULL is not computed; inputs only it needs are not read.
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_bwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const io_t *__restrict__ dy,
            const cf *__restrict__ k_hat, io_t *__restrict__ du, io_t *__restrict__ dpre,
            io_t *__restrict__ dpost, float *__restrict__ dk, float *__restrict__ dd,
            long long rows, int L, int H, int K, int F) {
  extern __shared__ cf s[];
  float *sv = (float *)s, *sg = (float *)(s + M);
  cf *acc = s + 2 * M;
  const int h = blockIdx.x;
  const long long B = rows / H;
  const cf *tab = k_hat;
  const cf *kh = k_hat + M + (long long)h * (M + 1);
  const bool want_z = dpost != 0, want_dv = du != 0 || dpre != 0;
  const bool want_p = dk != 0, want_vg = dd != 0;
  const bool need_v = want_z || want_p || want_vg, need_g = want_dv || want_p || want_vg;
  float vg = 0.0f;
  if (want_p)
    for (int f = threadIdx.x; f <= M; f += THREADS) acc[f] = cf{0.0f, 0.0f};
  for (long long b = 0; b < B; b++) {
    const long long row = b * H + h;
    for (int n = threadIdx.x; n < N; n += THREADS) {
      float v = 0.0f, g = 0.0f;
      if (n < L) {
        long long i = row * L + n;
        if (need_v) {
          v = ld(u, i);
@   if pre_gate then
          v *= ld(pre, i);
@   end
        }
        if (need_g) {
          g = ld(dy, i);
@   if post_gate then
          g *= ld(post, i);
@   end
        }
      }
      vg += v * g;
      sv[n] = v;
      sg[n] = g;
    }
    __syncthreads();
    fft_fwd_tw_table(s, tab);
    for (int t = threadIdx.x; t < M / 2 + 1; t += THREADS) {
      int k = t, kk = (M - t) & (M - 1);
      cf w = tab[k], ww = tab[kk];
      cf ka = kh[k], kb = k == 0 ? kh[M] : cconj(kh[M - k]);
      cf kka = kh[kk], kkb = cconj(kh[k]);
      cf v0, v1, vv0, vv1, g0, g1, gg0, gg1;
      split(s[fpos(k)], s[fpos(kk)], w, v0, v1);
      split(s[fpos(kk)], s[fpos(k)], ww, vv0, vv1);
      split(s[M + fpos(k)], s[M + fpos(kk)], w, g0, g1);
      split(s[M + fpos(kk)], s[M + fpos(k)], ww, gg0, gg1);
      if (want_p) {
        acc[k] = cadd(acc[k], cmulc(g0, v0));
        if (kk != k) acc[kk] = cadd(acc[kk], cmulc(gg0, vv0));
        if (k == 0) acc[M] = cadd(acc[M], cmulc(g1, v1));
      }
      s[fpos(k)] = fold(cmul(v0, ka), cmul(v1, kb), w);
      s[M + fpos(k)] = fold(cmulc(g0, ka), cmulc(g1, kb), w);
      if (kk != k) {
        s[fpos(kk)] = fold(cmul(vv0, kka), cmul(vv1, kkb), ww);
        s[M + fpos(kk)] = fold(cmulc(gg0, kka), cmulc(gg1, kkb), ww);
      }
    }
    __syncthreads();
    if (want_z || want_dv) fft_inv(s, tab);
    for (int n = threadIdx.x; n < L && (want_z || want_dv); n += THREADS) {
      long long i = row * L + n;
      if (want_z) st(dpost, i, ld(dy, i) * sv[n]);
      float dv = sg[n];
@   if pre_gate then
      if (du) st(du, i, dv * ld(pre, i));
@   else
      if (du) st(du, i, dv);
@   end
      if (dpre) st(dpre, i, dv * ld(u, i));
    }
    __syncthreads();
  }
  if (want_p) {
    // dk: the masked sum's inverse (1/(4N): the split bins are twice the spectrum's)
    const float scale = 1.0f / (4.0f * N);
    for (int k = threadIdx.x; k < M; k += THREADS) {
      cf y0 = kept(k, F) ? cscale(acc[k], scale) : cf{0.0f, 0.0f};
      cf y1 = k == 0 ? acc[M] : cconj(acc[M - k]);
      y1 = kept(k + M, F) ? cscale(y1, scale) : cf{0.0f, 0.0f};
      s[fpos(k)] = fold(y0, y1, tab[k]);
      s[M + k] = cf{0.0f, 0.0f};
    }
    __syncthreads();
    fft_inv(s, tab);
    for (int j = threadIdx.x; j < K; j += THREADS) dk[(long long)h * K + j] = sv[j];
    __syncthreads();
  }
  if (want_vg) {
    sv[threadIdx.x] = vg;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) sv[threadIdx.x] += sv[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) dd[h] = sv[0];
  }
}
@ else
// From Z = FFT_M(even + i odd) at a and M - a to the inverse input at a: the spectrum X of
// the N real samples at a and a + M, times the filter bins ka and kb, folded back.
static __device__ __forceinline__ cf spectral(cf za, cf zb, cf w, cf ka, cf kb) {
  cf e = cadd(za, cconj(zb));
  cf o = csub(za, cconj(zb));
  o = cf{o.i, -o.r};                 // -i (za - conj(zb))
  cf wo = cmul(w, o);
  cf y0 = cmul(cadd(e, wo), ka);
  cf y1 = cmul(csub(e, wo), kb);
  cf dif = cmulc(csub(y0, y1), w);   // conj(w) (y0 - y1)
  return cf{y0.r + y1.r - dif.i, y0.i + y1.i + dif.r};
}

extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_fwd(const io_t *__restrict__ u, const io_t *__restrict__ pre,
            const io_t *__restrict__ post, const cf *__restrict__ k_hat, io_t *__restrict__ y,
            long long rows, int L, int H) {
  extern __shared__ cf s[];
  float *sf = (float *)s;
  const long long row0 = (long long)blockIdx.x * SEQS;
  const cf *tab = k_hat;
  for (int i = threadIdx.x; i < SEQS * N; i += THREADS) {
    int q = i / N, n = i % N;
    long long row = row0 + q;
    float v = 0.0f;
    if (row < rows && n < L) {
      long long g = row * L + n;
      v = ld(u, g);
@ if pre_gate then
      v *= ld(pre, g);
@ end
    }
    sf[i] = v;
  }
  __syncthreads();
  fft_fwd_tw_table(s, tab);
  for (int t = threadIdx.x; t < SEQS * (M / 2 + 1); t += THREADS) {
    int q = t / (M / 2 + 1), k = t % (M / 2 + 1);
    long long row = row0 + q;
    if (row >= rows) continue;
    const cf *kh = k_hat + M + (long long)(row % H) * (M + 1);
    int kk = (M - k) & (M - 1);
    cf *z = s + q * M;
    cf zk = z[fpos(k)], zkk = z[fpos(kk)];
    z[fpos(k)] = spectral(zk, zkk, tab[k], kh[k], k == 0 ? kh[M] : cconj(kh[M - k]));
    if (kk != k) z[fpos(kk)] = spectral(zkk, zk, tab[kk], kh[kk], cconj(kh[k]));
  }
  __syncthreads();
  fft_inv(s, tab);
  for (int i = threadIdx.x; i < SEQS * N; i += THREADS) {
    int q = i / N, n = i % N;
    long long row = row0 + q;
    if (row < rows && n < L) {
      long long g = row * L + n;
      float v = sf[i];
@ if post_gate then
      v *= ld(post, g);
@ end
      st(y, g, v);
    }
  }
}
@ end

// k_hat: the twiddle table (block 0), then per head the bins 0..M of the N-point spectrum
// of the zero-padded filter, masked to min(f, N - f) < F (F = 0: all), plus D, over 2N.
extern "C" __global__ void __launch_bounds__(THREADS)
fftconv_prep(const float *__restrict__ k, const float *__restrict__ d, cf *__restrict__ k_hat,
             int H, int K, int F) {
  extern __shared__ cf s[];
  float *sf = (float *)s;
  const int h0 = blockIdx.x * SEQS;
  if (blockIdx.x == 0)
    for (int j = threadIdx.x; j < M; j += THREADS) k_hat[j] = tw_exact(0, j);
  for (int i = threadIdx.x; i < SEQS * N; i += THREADS) {
    int q = i / N, n = i % N;
    sf[i] = (h0 + q < H && n < K) ? k[(long long)(h0 + q) * K + n] : 0.0f;
  }
  __syncthreads();
  fft_fwd_tw_exact(s, 0);
  const float scale = 1.0f / (2.0f * N);
  for (int t = threadIdx.x; t < SEQS * (M / 2 + 1); t += THREADS) {
    int q = t / (M / 2 + 1), k2 = t % (M / 2 + 1);
    int h = h0 + q;
    if (h >= H) continue;
    cf *kh = k_hat + M + (long long)h * (M + 1);
    float dd = d ? d[h] : 0.0f;
    int kk = (M - k2) & (M - 1);
    cf zk = s[q * M + fpos(k2)], zkk = s[q * M + fpos(kk)];
    cf e = cadd(zk, cconj(zkk));
    cf o = csub(zk, cconj(zkk));
    o = cf{o.i, -o.r};
    // X[j] = (e + W^j o) / 2 for j = k2; X[M - k2] = (conj(e) + W^(M-k2) conj(o)) / 2;
    // X[M] = (e - o) / 2 at k2 = 0.
    cf x = cscale(cadd(e, cmul(tw_exact(0, k2), o)), 0.5f);
    kh[k2] = cf{((F == 0 || k2 < F) ? x.r : 0.0f) * scale + dd * scale,
                ((F == 0 || k2 < F) ? x.i : 0.0f) * scale};
    if (k2 == 0) {
      cf xm = cscale(csub(e, o), 0.5f);
      kh[M] = cf{((F == 0 || M < F) ? xm.r : 0.0f) * scale + dd * scale,
                 ((F == 0 || M < F) ? xm.i : 0.0f) * scale};
    } else if (kk != k2) {
      cf xk = cscale(cadd(cconj(e), cmul(tw_exact(0, kk), cconj(o))), 0.5f);
      kh[kk] = cf{((F == 0 || kk < F) ? xk.r : 0.0f) * scale + dd * scale,
                  ((F == 0 || kk < F) ? xk.i : 0.0f) * scale};
    }
  }
}
]]

function family.emit(params)
  local n = params.fft_size
  local m = n // 2
  local passes, block = {}, m
  for _, f in ipairs(params.factors) do
    passes[#passes + 1] = { r = f, stride = block // f, block = block }
    block = block // f
  end
  local radices = fft.distinct(params.factors)
  return tpl.render(KERNEL, {
    n = n, m = m, seqs = params.seqs, threads = params.threads, dft = params.dft,
    passes = passes, radices = radices, fft = fft,
    pos_k = fft.digit_pos_expr(params.factors, "k"),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
    io_functions = io_.functions(params.dtype), op = params.op or "forward",
  }, "=templates/monarch_fp32.lua (KERNEL text)")
end

return family
