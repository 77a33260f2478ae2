-- lib/tc_prep.lua: monarch_tc's prepare kernel, fftconv_prep: the filter spectrum k_hat of a
-- head, in the layout the forward kernel reads (lib/tc_layout.lua, khat_per_head). One block a
-- head of prep_threads threads (the manifest's prepare block: one value serves both).
local fft = require "lib.fft"
local tpl = require "lib.tpl"
local dft = require "lib.tc_dft"

local prep = {}

-- The names the kernel text needs beside the forward kernel's: the passes over all NR points
-- ("half" adds a 2-point pass in front), their radices, where frequency f lands after them
-- and the frequency of position j (digit i is (j / S_i) % n_i, weighted by n_1 ... n_(i-1)).
function prep.names(params)
  local factors = { table.unpack(params.factors) }
  if params.real == "half" then table.insert(factors, 1, 2) end
  local passes = dft.passes(factors, params.fft_size)
  local fterms, w = {}, 1
  for _, p in ipairs(passes) do
    fterms[#fterms + 1] = string.format("((j / %d) %% %d) * %d", p.s, p.r, w)
    w = w * p.r
  end
  return {
    prep_passes = passes, prep_radices = fft.distinct(factors),
    prep_pos_f = fft.digit_pos_expr(factors, "f"), freq_expr = table.concat(fterms, " + "),
  }
end

prep.kernel = tpl.piece([==[
// k_hat for head h: the NR-point DFT of the zero-padded filter, computed in place in the
// head's slice of k_hat (fp32, exact roots), by the forward kernel's passes ("half": after a
// first 2-point pass), so that for "pair" the bins land in the forward kernel's order; then
// masked to min(f, NR - f) < F (F = 0: all), plus D. The passes' 1/sqrt(n_i) scales make up
// the inverse's 1/NR for "pair"; "half" stores bins 0 .. N in natural order after the
// transform, times 1/4 (the spectral pass works with doubled halves, twice).
extern "C" __global__ void __launch_bounds__(${prep_threads})
fftconv_prep(const float *__restrict__ k, const float *__restrict__ d, float2 *__restrict__ k_hat,
             int H, int K, int F) {
  const int h = blockIdx.x;
  if (h >= H) return;
@ if twiddle == "table" then
  // The twiddle tables (lib/tc_layout.lua, twiddle_tables) lead the buffer, from exact roots;
  // the heads' blocks share the entries. The heads' bins follow.
@   for _, t in ipairs(tw_tables) do
  for (int e = h * blockDim.x + threadIdx.x; e < ${t.m}; e += H * blockDim.x) {
    double s, c;
    sincospi(-2.0 * (double)((e / ${t.s}) * (e % ${t.s})) / ${t.m}, &s, &c);
    k_hat[${t.off} + e] = float2{(float)c, (float)s};
  }
@   end
  k_hat += ${tw_entries};
@ end
  float2 *x = k_hat + (long long)h * ${khat};
@ for _, r in ipairs(prep_radices) do
  __shared__ float2 roots${r}[${r}];
  for (int m = threadIdx.x; m < ${r}; m += blockDim.x) {
    double s, c;
    sincospi(-2.0 * m / ${r}, &s, &c);
    roots${r}[m] = float2{(float)c, (float)s};
  }
@ end
  for (int j = threadIdx.x; j < NR; j += blockDim.x)
    x[j] = float2{j < K ? k[(long long)h * K + j] : 0.0f, 0.0f};
  __syncthreads();
@ for i, p in ipairs(prep_passes) do
  // pass ${i}: ${p.r}-point DFTs at stride ${p.s}
  for (int t = threadIdx.x; t < NR / ${p.r}; t += blockDim.x) {
    const int r = t % ${p.s};
    float2 *p = x + (t / ${p.s}) * ${p.r * p.s} + r;
    float2 a[${p.r}];
#pragma unroll
    for (int j = 0; j < ${p.r}; j++) a[j] = p[j * ${p.s}];
    for (int kk = 0; kk < ${p.r}; kk++) {
      float2 acc = a[0];
#pragma unroll
      for (int j = 1; j < ${p.r}; j++) {
        const float2 w = roots${p.r}[(j * kk) % ${p.r}];
        acc.x += a[j].x * w.x - a[j].y * w.y;
        acc.y += a[j].x * w.y + a[j].y * w.x;
      }
@   if p.s > 1 then
      double s, c;
      sincospi(-2.0 * (double)(kk * r) / ${p.r * p.s}, &s, &c);
      acc = cmul(acc, float2{(float)c, (float)s});
@   end
      p[kk * ${p.s}] = acc;
    }
  }
  __syncthreads();
@ end
  const float dd = d ? d[h] : 0.0f;
@ if real == "half" then
  for (int f = threadIdx.x; f <= N; f += blockDim.x) {
    const int fm = f < NR - f ? f : NR - f;
    const float2 v = (F == 0 || fm < F) ? x[${prep_pos_f}] : float2{0.0f, 0.0f};
    x[NR + f] = float2{(v.x + dd) * 0.25f, v.y * 0.25f};
  }
@ else
  for (int j = threadIdx.x; j < N; j += blockDim.x) {
    const int f = ${freq_expr};
    const int fm = f < N - f ? f : N - f;
    float2 v = (F == 0 || fm < F) ? x[j] : float2{0.0f, 0.0f};
    x[j] = float2{v.x + dd, v.y};
  }
@ end
}
]==], "=templates/lib/tc_prep.lua (kernel)")

return prep
