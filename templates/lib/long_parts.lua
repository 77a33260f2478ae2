-- lib/long_parts.lua: what the long-sequence families (monarch_long, monarch_cluster) share:
-- the four-step split N = N1 x N2 and its twiddles, complex fp32 arithmetic, the padded row
-- layout, the filter product of a row and its mirror row, and the filter spectrum with its two
-- prepare launches (all N bins of each head in the [k1][k2] layout, fp32 complex, masked, plus
-- D, over N2), so that both families share one prepared spectrum.
local fft = require "lib.fft"
local io_ = require "lib.io"
local stockham = require "lib.stockham"

local parts = {}

parts.MIN_N, parts.MAX_N = 65536, 4194304
-- The prepare launches' shape, the same for every candidate of a split: columns a block of
-- the column launch (at most 64 KB of shared memory), threads of each.
function parts.prep_tile(n1) return math.max(1, math.min(16, 8192 // n1)) end
parts.PREP_TC, parts.PREP_TR = 256, 512

-- A padded row of n2 complex values: one spare every 16 (see stockham.fn).
function parts.row_stride(n2) return n2 + n2 // 16 end

-- Why the split N = N1 x n2 cannot be used (nil when it can): N in the long range (from
-- min_n when given), n2 a power of two of at least 64 dividing N, N1 at least 16.
function parts.split_refusal(n, n2, min_n)
  min_n = min_n or parts.MIN_N
  if n < min_n or n > parts.MAX_N then
    return string.format("FFT size %d is outside %d..%d", n, min_n, parts.MAX_N)
  end
  if n2 < 64 or n % n2 ~= 0 or n2 & (n2 - 1) ~= 0 then
    return "n2 must be a power of two dividing the FFT size"
  end
  if n // n2 < 16 then return "N1 = N / n2 must be at least 16" end
  return nil
end

-- The filter spectrum of the split, and the two prepare launches writing it.
function parts.filter(n1, n2)
  return { layout = string.format("monarch_long.full.%dx%d", n1, n2), per_head = 8 * n1 * n2, fixed = 0 }
end
function parts.prep_launches(n1, n2)
  local tile = parts.prep_tile(n1)
  return {
    { entry = "fftconv_prep_cols", phase = "prepare",
      grid = { over = "heads", per = 1, y = n2 // tile },
      block = { parts.PREP_TC, 1, 1 }, smem = n1 * tile * 8,
      args = { "k", "k_hat", "H", "K" }, reads = { "k" }, writes = { "k_hat" } },
    { entry = "fftconv_prep_rows", phase = "prepare", grid = { over = "heads", per = 1, y = n1 },
      block = { parts.PREP_TR, 1, 1 }, smem = parts.row_stride(n2) * 8,
      args = { "d", "k_hat", "H", "F" }, reads = { "d", "k_hat" }, writes = { "k_hat" } },
  }
end

-- A family's whole manifest: the two prepare launches, then its forward launches, its
-- workspace regions and the shared filter spectrum.
function parts.manifest(n1, n2, forward, workspace)
  local launches = parts.prep_launches(n1, n2)
  for _, l in ipairs(forward) do launches[#launches + 1] = l end
  return { version = 1, launches = launches, workspace = workspace, filter = parts.filter(n1, n2) }
end

-- The names COMMON and PREP use: n, n1, n2, the I/O functions, the DFTs of both lengths and
-- the prepare's FFTs; extra names are added to the table.
function parts.env(params, n2, extra)
  local n = params.fft_size
  local n1 = n // n2
  local ptile, ptc, ptr = parts.prep_tile(n1), parts.PREP_TC, parts.PREP_TR
  local env = {
    n = n, n1 = n1, n2 = n2, ptile = ptile, ptc = ptc, ptr = ptr,
    rstride = parts.row_stride(n2), two_pi_over_n = fft.flit(2 * math.pi / n),
    io_functions = io_.functions(params.dtype) .. "\n" .. io_.cvt(params.dtype),
    dfts = stockham.dfts({ n1, n2 }),
    fft_pcols_fwd = stockham.fn("fft_pcols_fwd", n1, ptile, ptile, 1, ptc, -1),
    fft_prow_fwd = stockham.fn("fft_prow_fwd", n2, 1, 1, parts.row_stride(n2), ptr, -1, true),
    pre_gate = params.pre_gate, post_gate = params.post_gate,
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

parts.COMMON = [[
// Complex fp32 arithmetic.
struct __align__(8) cf { float r, i; };
static __device__ __forceinline__ cf cadd(cf a, cf b) { return cf{a.r + b.r, a.i + b.i}; }
static __device__ __forceinline__ cf csub(cf a, cf b) { return cf{a.r - b.r, a.i - b.i}; }
static __device__ __forceinline__ cf cmul(cf a, cf b) { return cf{a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r}; }
static __device__ __forceinline__ cf cconj(cf a) { return cf{a.r, -a.i}; }
static __device__ __forceinline__ cf cscale(cf a, float s) { return cf{a.r * s, a.i * s}; }

${io_functions}

#define N ${n}
#define N1 ${n1}
#define N2 ${n2}

// W_N^(sign m), m < N, with the angle reduced to [-pi, pi] for the fast sine and cosine
// (absolute error below 4e-7 there).
static __device__ __forceinline__ cf twiddle(int m, float sign) {
  float sn, cs;
  __sincosf(sign * ${two_pi_over_n} * (float)(m > N / 2 ? m - N : m), &sn, &cs);
  return cf{cs, sn};
}

// Rows of N2 values padded by one element every 16: element e of a row at PAD(e), rows
// RSTRIDE apart (lib/stockham.lua says why 16).
#define RSTRIDE ${rstride}
#define PAD(e) ((e) + ((e) >> 4))

// The filter product of workspace rows a and b = N1 - a of a pair after their forward DFTs
// (b = a for a = 0 and N1/2), held at ra and rb (padded), in place. Bin (a, e) has its mirror
// N - k at (b, N2 - 1 - e), or for a = 0 at (0, (N2 - e) mod N2); one thread takes both, as
//   Y[k] = ((Z[k] + conj Z[N-k]) K_a[k] + (Z[k] - conj Z[N-k]) K_b[k]) / 2
// (Z = X_a + i X_b: the two real rows' spectra separated and filtered by their own heads'
// k0 and k1), and at N - k the same with the roles swapped, which, the filters being real
// (K[N-k] = conj K[k], the mask symmetric, D real), is conj(A - B) for Y[k] = A + B: the
// mirror's spectrum is not read (bench/NOTES.md 40), so only rows a <= N1/2 of k_hat are.
// Slots t < N2 cover the pairs of a != b; slots t <= N2/2 those of a == b.
static __device__ __forceinline__ void filter_pair(cf *ra, cf *rb, int a, int b,
                                                   const cf *__restrict__ k0,
                                                   const cf *__restrict__ k1, int tid, int nthr) {
  cf *rm = a == b ? ra : rb;
  const bool same = k0 == k1; // one head's two rows: Y = Z K, nothing to separate
  for (int t = tid; t < (a == b ? N2 / 2 + 1 : N2); t += nthr) {
    int e = t, me = a == 0 ? (N2 - e) & (N2 - 1) : N2 - 1 - e;
    if (a == b && a != 0 && e == N2 / 2) continue; // row N1/2: slots below N2/2 pair them all
    long long f0 = (long long)a * N2 + e;
    if (same) { // Y[k] = Z[k] K[k], Y[N-k] = Z[N-k] conj K[k]
      const cf k = k0[f0], zm = rm[PAD(me)];
      const cf z = ra[PAD(e)];
      rm[PAD(me)] = cmul(zm, cconj(k));
      ra[PAD(e)] = cmul(z, k); // last: a bin that is its own mirror takes Z K
      continue;
    }
    cf z0 = ra[PAD(e)], z1 = cconj(rm[PAD(me)]);
    cf A = cscale(cmul(cadd(z0, z1), k0[f0]), 0.5f), B = cscale(cmul(csub(z0, z1), k1[f0]), 0.5f);
    ra[PAD(e)] = cadd(A, B);
    rm[PAD(me)] = cconj(csub(A, B));
  }
}

// The column passes wait on their global loads (bench/NOTES.md 37): a thread issues the loads
// of NB of its elements, all of them, before it uses any, so that NB times more bytes are in
// flight than with one element's loads at a time. Past the end of the data a load is not
// issued and reads as zero (the predicate, not a branch, keeps the loads together).
// NB = LDB, or a thread's CNT / NT elements when it has fewer (a batch slot past the tile only
// costs instructions and registers: at N1 = 16, one element a thread, LDB slots made the
// column passes 1.6-1.7x slower).
#define LDB 8
#define NB_OF(cnt, nt) (((cnt) + (nt) - 1) / (nt) < LDB ? ((cnt) + (nt) - 1) / (nt) : LDB)

// Element k of a batch from i0 of the column tile [c0, c0 + WID) of row r0, NT threads: its
// slot i in the tile (n1 WID + j), whether it exists and lies below L (in), and its index
// g = r0 L + n in the rows.
struct col_el { int i; bool in; long long g; };
template <int WID, int NT>
static __device__ __forceinline__ col_el col_el_at(int i0, int k, int c0, long long r0, int L) {
  const int i = i0 + k * NT, n = (i / WID) * N2 + c0 + i % WID;
  return col_el{i, i < N1 * WID && n < L, r0 * L + n};
}

// Columns c0 .. c0 + WID of rows r0 and r0 + d1 (two: the second exists) below L, pre gate
// fused, as z = u_a + i u_b into s (element (n1, j) at n1 WID + j); zero past L.
template <int WID, int NT>
static __device__ __forceinline__ void load_cols(cf *s, const io_t *__restrict__ u,
                                                 const io_t *__restrict__ pre, long long r0,
                                                 bool two, int c0, int L, long long d1 = 1) {
  const long long dl = d1 * L;
  constexpr int CNT = N1 * WID, NB = NB_OF(CNT, NT);
  for (int i0 = threadIdx.x; i0 < CNT; i0 += NB * NT) {
    io_t a[NB], b[NB];
@ if pre_gate then
    io_t pa[NB], pb[NB];
@ end
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<WID, NT>(i0, k, c0, r0, L);
      a[k] = e.in ? u[e.g] : (io_t)0;
      b[k] = e.in && two ? u[e.g + dl] : (io_t)0;
@ if pre_gate then
      pa[k] = e.in ? pre[e.g] : (io_t)0;
      pb[k] = e.in && two ? pre[e.g + dl] : (io_t)0;
@ end
    }
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const int i = i0 + k * NT;
@ if pre_gate then
      if (i < CNT) s[i] = cf{cvt(a[k]) * cvt(pa[k]), cvt(b[k]) * cvt(pb[k])};
@ else
      if (i < CNT) s[i] = cf{cvt(a[k]), cvt(b[k])};
@ end
    }
  }
}

// The inverse of load_cols: Re to row r0, Im to row r0 + d1, below L, times the post gate
// (its loads batched as load_cols's).
template <int WID, int NT>
static __device__ __forceinline__ void store_cols(const cf *s, const io_t *__restrict__ post,
                                                  io_t *__restrict__ y, long long r0, bool two,
                                                  int c0, int L, long long d1 = 1) {
  const long long dl = d1 * L;
  constexpr int CNT = N1 * WID, NB = NB_OF(CNT, NT);
  for (int i0 = threadIdx.x; i0 < CNT; i0 += NB * NT) {
@ if post_gate then
    io_t pa[NB], pb[NB];
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<WID, NT>(i0, k, c0, r0, L);
      pa[k] = e.in ? post[e.g] : (io_t)0;
      pb[k] = e.in && two ? post[e.g + dl] : (io_t)0;
    }
@ end
#pragma unroll
    for (int k = 0; k < NB; k++) {
      const col_el e = col_el_at<WID, NT>(i0, k, c0, r0, L);
      if (!e.in) continue;
      const cf v = s[e.i];
@ if post_gate then
      st(y, e.g, v.r * cvt(pa[k]));
      if (two) st(y, e.g + dl, v.i * cvt(pb[k]));
@ else
      st(y, e.g, v.r);
      if (two) st(y, e.g + dl, v.i);
@ end
    }
  }
}

${dfts}
]]

parts.PREP = [[
${fft_pcols_fwd}

${fft_prow_fwd}

// Prepare, columns: head h's filter (zero past K) as a complex sequence, N1-point DFTs down
// columns n2 in [blockIdx.y PTILE, +PTILE), times W_N^(n2 k1) / N1, into k_hat[h] ([k1][n2]).
extern "C" __global__ void __launch_bounds__(${ptc})
fftconv_prep_cols(const float *__restrict__ k, cf *__restrict__ k_hat, int H, int K) {
  extern __shared__ cf s[];
  const int h = blockIdx.x, c0 = blockIdx.y * ${ptile};
  for (int i = threadIdx.x; i < N1 * ${ptile}; i += ${ptc}) {
    int n = (i / ${ptile}) * N2 + c0 + i % ${ptile};
    s[i] = cf{n < K ? k[(long long)h * K + n] : 0.0f, 0.0f};
  }
  __syncthreads();
  fft_pcols_fwd(s);
  cf *kp = k_hat + (long long)h * N;
  for (int i = threadIdx.x; i < N1 * ${ptile}; i += ${ptc}) {
    int k1 = i / ${ptile}, n2 = c0 + i % ${ptile};
    kp[(long long)k1 * N2 + n2] = cscale(cmul(s[i], twiddle(k1 * n2, -1.0f)), 1.0f / N1);
  }
}

// Prepare, rows: row k1 of head h, N2-point DFT in place: bin f = k1 + N1 k2 of the filter
// spectrum, kept when min(f, N - f) < F (F = 0: all), plus D, over N2 (the forward passes
// scale by 1/N1 and leave the inverse unnormalised).
extern "C" __global__ void __launch_bounds__(${ptr})
fftconv_prep_rows(const float *__restrict__ d, cf *__restrict__ k_hat, int H, int F) {
  extern __shared__ cf s[];
  const int h = blockIdx.x, k1 = blockIdx.y;
  cf *kp = k_hat + (long long)h * N + (long long)k1 * N2;
  for (int i = threadIdx.x; i < N2; i += ${ptr}) s[PAD(i)] = kp[i];
  __syncthreads();
  fft_prow_fwd(s);
  const float dd = d ? d[h] : 0.0f;
  for (int e = threadIdx.x; e < N2; e += ${ptr}) {
    int f = k1 + N1 * e, g = f < N - f ? f : N - f;
    cf x = (F == 0 || g < F) ? cscale(s[PAD(e)], (float)N1) : cf{0.0f, 0.0f};
    kp[e] = cscale(cf{x.r + dd, x.i}, 1.0f / N2);
  }
}
]]

return parts
