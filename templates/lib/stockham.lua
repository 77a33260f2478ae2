-- lib/stockham.lua: complex FFTs in shared memory, fp32 on CUDA cores, for the long-sequence
-- families. A block's threads run `count` transforms of length n at once, in place: element e
-- of transform c lives at s[e * es + c * cs]. Each stage of radix R is the Stockham autosort
-- step (natural order in, natural order out, no digit reversal):
--   butterfly j < n / R of size-so-far Ns reads e = j + r n / R (r < R), multiplies input r by
--   W^(r (j mod Ns)) with W = exp(sign 2 pi i / (Ns R)), runs the R-point DFT, and writes
--   output r to e = (j / Ns) Ns R + (j mod Ns) + r Ns.
-- Every thread reads all of its butterflies' inputs into registers, the block synchronises,
-- then every thread writes; so one buffer serves in place.
local fft = require "lib.fft"

local stockham = {}

-- The radices of n = 2^b: as many 8s as fit, then one 16, 4 or 2 for the rest (last, so that
-- every stage but the first has Ns a multiple of 8: see stockham.fn's padding).
function stockham.radices(n)
  local b = fft.log2(n)
  assert(2 ^ b == n and n >= 2, "FFT length must be a power of two >= 2")
  local out = {}
  local q, r = b // 3, b % 3
  local last
  if r == 1 then
    if q >= 1 then last = 16; q = q - 1 else last = 2 end
  elseif r == 2 then
    last = 4
  end
  for _ = 1, q do out[#out + 1] = 8 end
  out[#out + 1] = last
  return out
end

-- Butterflies a thread holds in one stage: ceil(count * n / R / threads).
function stockham.per_thread(n, count, threads, r)
  return (count * (n // r) + threads - 1) // threads
end

-- Complex registers a thread needs: the largest stage's butterflies times their radix.
function stockham.regs(n, count, threads)
  local most = 0
  for _, r in ipairs(stockham.radices(n)) do
    most = math.max(most, stockham.per_thread(n, count, threads, r) * r)
  end
  return most
end

-- The R-point DFTs in registers each stage calls, for every radix of the lengths in ns:
-- dft<R>_fwd and dft<R>_inv on cf (&a)[R]. Needs cf, cadd, csub and cmul.
function stockham.dfts(ns)
  local seen, out = {}, {}
  for _, n in ipairs(ns) do
    for _, r in ipairs(stockham.radices(n)) do
      if not seen[r] then
        seen[r] = true
        out[#out + 1] = string.format(
          "static __device__ __forceinline__ void dft%d_fwd(cf (&a)[%d]) {\n%s\n}\n" ..
          "static __device__ __forceinline__ void dft%d_inv(cf (&a)[%d]) {\n%s\n}",
          r, r, fft.radix2_body(r, -1), r, r, fft.radix2_body(r, 1))
      end
    end
  end
  return table.concat(out, "\n")
end

-- A device function `name(cf *s)` running the transforms: count of length n, element
-- addressing es and cs as above, `threads` threads, sign -1 (forward) or +1 (inverse,
-- unnormalised); pad: element e sits at e + e / 16 instead (one spare 8-byte slot every 16:
-- a half-warp's 64-bit accesses at unit stride then fill the 16 bank pairs once, and the
-- first stage's writes at stride 8 do too; e + e / 8, used before, put two of every 16
-- unit-stride accesses in one bank pair, 1.8x the ideal wavefronts in monarch_long's row
-- pass, bench/NOTES.md 35). For column transforms
-- (cs = 1) c varies fastest across threads, for row transforms j does, so that neighbouring threads touch neighbouring words. Ends with
-- __syncthreads().
function stockham.fn(name, n, count, es, cs, threads, sign, pad)
  local L = {}
  -- Every address is a per-thread base plus a constant, so that the compiler keeps one
  -- pointer, not R addresses, per butterfly: with padding P(e) = e + e / 16,
  -- P(j + r n/R) = P(j) + r (n/R) 17/16 (n/R a multiple of 16); P(o + r Ns) = P(o) +
  -- r Ns 17/16 for Ns a multiple of 16, P(o) + 8 r + r / 2 for Ns = 8 (o mod 16 < 8, as
  -- o = (j / 8) 8 R + j mod 8 with R even), and P(o) + r for Ns = 1 (o = j R, R = 8 or 16).
  local function padded(x) return pad and (x + x // 16) or x end
  local function base(e)
    if pad then e = string.format("(%s) + ((%s) >> 4)", e, e) end
    return string.format("s + (%s) * %d + c * %d", e, es, cs)
  end
  local function add(s) L[#L + 1] = s end
  add(string.format("static __device__ __forceinline__ void %s(cf *s) {", name))
  local ns = 1
  local dir = sign < 0 and "fwd" or "inv"
  for stage, r in ipairs(stockham.radices(n)) do
    local bf = count * (n // r)
    local m = stockham.per_thread(n, count, threads, r)
    local split = cs == 1
      and string.format("      int c = t %% %d, j = t / %d;", count, count)
      or string.format("      int c = t / %d, j = t %% %d;", n // r, n // r)
    add(string.format("  { // stage %d: radix %d, %d butterflies, %d a thread; Ns = %d", stage,
      r, bf, m, ns))
    add(string.format("    cf v[%d][%d];", m, r))
    add("#pragma unroll")
    add(string.format("    for (int b = 0; b < %d; b++) {", m))
    add(string.format("      int t = threadIdx.x + b * %d;", threads))
    add(string.format("      if (%d %% %d != 0 && t >= %d) break;", bf, threads, bf))
    add(split)
    assert(not pad or (n // r) % 16 == 0, "padded transforms need n / R a multiple of 16")
    add(string.format("      const cf *p = %s;", base("j")))
    add("#pragma unroll")
    add(string.format("      for (int r = 0; r < %d; r++) v[b][r] = p[r * %d];", r,
      padded(n // r) * es))
    add("    }")
    add("    __syncthreads();")
    add("#pragma unroll")
    add(string.format("    for (int b = 0; b < %d; b++) {", m))
    add(string.format("      int t = threadIdx.x + b * %d;", threads))
    add(string.format("      if (%d %% %d != 0 && t >= %d) break;", bf, threads, bf))
    add(split)
    if ns > 1 then
      add(string.format("      int k = j %% %d;", ns))
      add("      float sn, cs_;")
      add(string.format("      __sincosf(%s * (float)k, &sn, &cs_);",
        fft.flit(sign * 2 * math.pi / (ns * r))))
      add("      cf w = cf{cs_, sn}, wr = w;")
      add("#pragma unroll")
      add(string.format("      for (int r = 1; r < %d; r++) { v[b][r] = cmul(v[b][r], wr); wr = cmul(wr, w); }", r))
    else
      add("      int k = 0;")
    end
    add(string.format("      dft%d_%s(v[b]);", r, dir))
    add(string.format("      int o = (j / %d) * %d + k;", ns, ns * r))
    add(string.format("      cf *q = %s;", base("o")))
    if ns == 1 then
      assert(not pad or r == 8 or r == 16, "padded transforms need a first radix of 8 or 16")
      add("#pragma unroll")
      add(string.format("      for (int r = 0; r < %d; r++) q[r * %d] = v[b][r];", r, es))
    elseif pad and ns == 8 then
      assert(r % 2 == 0, "padded transforms need an even radix after Ns = 8")
      add("#pragma unroll")
      add(string.format("      for (int r = 0; r < %d; r++) q[(8 * r + (r >> 1)) * %d] = v[b][r];",
        r, es))
    else
      assert(not pad or ns % 16 == 0)
      add("#pragma unroll")
      add(string.format("      for (int r = 0; r < %d; r++) q[r * %d] = v[b][r];", r,
        padded(ns) * es))
    end
    add("    }")
    add("    __syncthreads();")
    add("  }")
    ns = ns * r
  end
  add("}")
  return table.concat(L, "\n")
end

return stockham
