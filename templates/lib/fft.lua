-- lib/fft.lua: shared pieces of the FFT kernel families: factorizations, digit reversal,
-- straight-line radix-2 DFTs in registers, dense DFT tables, exact float literals.
local fft = {}

function fft.log2(n)
  local k = 0
  while (1 << k) < n do k = k + 1 end
  assert((1 << k) == n, "not a power of two: " .. tostring(n))
  return k
end

-- The distinct values of factors, in increasing order.
function fft.distinct(factors)
  local seen, out = {}, {}
  for _, f in ipairs(factors) do
    if not seen[f] then seen[f] = true; out[#out + 1] = f end
  end
  table.sort(out)
  return out
end

-- Every ordered tuple of `order` factors drawn from sizes whose product is m.
function fft.factorizations(m, sizes, order)
  local out = {}
  local function walk(rest, left, acc)
    if left == 0 then
      if rest == 1 then out[#out + 1] = { table.unpack(acc) } end
      return
    end
    for _, f in ipairs(sizes) do
      if rest % f == 0 then
        acc[#acc + 1] = f
        walk(rest // f, left - 1, acc)
        acc[#acc] = nil
      end
    end
  end
  walk(m, order, {})
  return out
end

-- A float literal that rounds to the nearest float of v.
function fft.flit(v)
  if v == 0 then return "0.0f" end
  return string.format("%.9ef", v)
end

-- exp(sign * 2 pi i * j / n) as a cf literal.
function fft.root(j, n, sign)
  local a = sign * 2 * math.pi * j / n
  local c, s = math.cos(a), math.sin(a)
  -- Exact values where the angle is a multiple of pi/4 keep the symmetric ones symmetric.
  if (8 * j) % n == 0 then
    local q = (8 * j // n * (sign < 0 and -1 or 1)) % 8
    local r = math.sqrt(0.5)
    local tab = { { 1, 0 }, { r, r }, { 0, 1 }, { -r, r }, { -1, 0 }, { -r, -r }, { 0, -1 }, { r, -r } }
    c, s = tab[q + 1][1], tab[q + 1][2]
  end
  return c, s
end

-- Digit position: the forward in-place passes leave frequency k at
-- sum_i digit_i(k) * stride_i, digit_i(k) = (k >> shift_i) & (f_i - 1).
function fft.digit_pos_expr(factors, var)
  local m = 1
  for _, f in ipairs(factors) do m = m * f end
  local terms, shift, block = {}, 0, m
  for _, f in ipairs(factors) do
    local stride = block // f
    terms[#terms + 1] = string.format("(((%s >> %d) & %d) * %d)", var, shift, f - 1, stride)
    shift = shift + fft.log2(f)
    block = stride
  end
  return table.concat(terms, " + ")
end

-- Straight-line in-place radix-2 DIF DFT of size r on the register array `a` (cf[r]),
-- natural order out. sign = -1 forward, +1 inverse (unnormalised).
function fft.radix2_body(r, sign, indent)
  indent = indent or "  "
  local lines = {}
  local function emit(s) lines[#lines + 1] = indent .. s end
  local span = r // 2
  while span >= 1 do
    for g = 0, r - 1, 2 * span do
      for j = 0, span - 1 do
        local i1, i2 = g + j, g + j + span
        local twiddle
        if j == 0 then
          twiddle = "t"
        elseif 4 * j == 2 * span then -- multiply by sign * i
          twiddle = sign < 0 and "cf{t.i, -t.r}" or "cf{-t.i, t.r}"
        else
          local c, s = fft.root(j, 2 * span, sign)
          twiddle = string.format("cmul(t, cf{%s, %s})", fft.flit(c), fft.flit(s))
        end
        emit(string.format("{ cf t = csub(a[%d], a[%d]); a[%d] = cadd(a[%d], a[%d]); a[%d] = %s; }",
          i1, i2, i1, i1, i2, i2, twiddle))
      end
    end
    span = span // 2
  end
  local bits = fft.log2(r)
  for k = 0, r - 1 do
    local b = 0
    for i = 0, bits - 1 do
      if (k >> i) & 1 == 1 then b = b | (1 << (bits - 1 - i)) end
    end
    if b > k then emit(string.format("{ cf t = a[%d]; a[%d] = a[%d]; a[%d] = t; }", k, k, b, b)) end
  end
  return table.concat(lines, "\n")
end

-- The r roots exp(sign 2 pi i j / r) as a comma-separated cf initialiser list.
function fft.root_table(r, sign)
  local items = {}
  for j = 0, r - 1 do
    local c, s = fft.root(j, r, sign)
    items[#items + 1] = string.format("cf{%s, %s}", fft.flit(c), fft.flit(s))
  end
  return table.concat(items, ", ")
end

return fft
