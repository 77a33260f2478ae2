-- lib/manifest.lua: launch manifests (src/kernel.h) as the Lua tables layout() returns.
local manifest = {}

manifest.FLOAT2 = 8 -- bytes of a float2, the unit of the filter spectra

-- A workspace region as layout() returns it in `workspace`: a name (a C identifier, the
-- "ws:NAME" arguments') and its bytes, fixed + rows * per_row + heads * per_head, each term
-- optional (0). per_head is what is kept once a head (a backward's fp32 spectrum summed over
-- the batch); it is left out when 0, as the manifest's JSON leaves it (src/runtime/kernel.h).
function manifest.region(name, bytes)
  local r = { name = name, per_row = bytes.per_row or 0, fixed = bytes.fixed or 0 }
  if (bytes.per_head or 0) ~= 0 then r.per_head = bytes.per_head end
  return r
end

-- The launches of the first kernel ABI, in launch order: fftconv_prep, a block per `per`
-- heads, turns the filter k (and D) into the spectrum k_hat; fftconv_fwd, a block per `per`
-- rows, convolves. m = { prep = { threads, smem, per }, fwd = { threads, smem, per },
-- filter = { layout, per_head, fixed } }, filter sizes in bytes; kernels whose filter layout
-- has the same name can share one prepared spectrum.
function manifest.prepare_forward(m)
  return {
    version = 1,
    launches = {
      { entry = "fftconv_prep", phase = "prepare", grid = { over = "heads", per = m.prep.per },
        block = { m.prep.threads, 1, 1 }, smem = m.prep.smem,
        args = { "k", "d", "k_hat", "H", "K", "F" }, reads = { "k", "d" }, writes = { "k_hat" } },
      { entry = "fftconv_fwd", phase = "forward", grid = { over = "rows", per = m.fwd.per },
        block = { m.fwd.threads, 1, 1 }, smem = m.fwd.smem,
        args = { "u", "pre", "post", "k_hat", "y", "rows", "L", "H" },
        reads = { "u", "pre", "post", "k_hat" }, writes = { "y" } },
    },
    workspace = {},
    filter = { layout = m.filter.layout, per_head = m.filter.per_head, fixed = m.filter.fixed },
  }
end

-- The launches of the backward: fftconv_prep as the forward's (the same spectrum, so one
-- prepared k_hat serves both directions), then fftconv_bwd, a block per `per` heads, looping
-- over the batch. m = { prep = {...}, bwd = { threads, smem, per }, filter = {...} }.
function manifest.prepare_backward(m)
  local t = manifest.prepare_forward({ prep = m.prep, fwd = m.bwd, filter = m.filter })
  t.launches[2] = {
    entry = "fftconv_bwd", phase = "backward", grid = { over = "heads", per = m.bwd.per },
    block = { m.bwd.threads, 1, 1 }, smem = m.bwd.smem,
    args = { "u", "pre", "post", "dy", "k_hat", "du", "dpre", "dpost", "dk", "dd", "rows", "L",
             "H", "K", "F" },
    reads = { "u", "pre", "post", "dy", "k_hat" },
    writes = { "du", "dpre", "dpost", "dk", "dd" } }
  return t
end

-- A backward whose head's work is cut into `split` blocks (grid.y): each writes its share of
-- P (n fp32 complex bins) and of dd to the workspace ("part", "vgp"), and fftconv_bdk, a block
-- of `threads` a head, adds them in share order into dk and dd.
function manifest.backward_shares(t, split, n, threads)
  local l = t.launches[2]
  l.grid.y = split
  if split <= 1 then return t end
  l.args[#l.args + 1] = "ws:part"
  l.args[#l.args + 1] = "ws:vgp"
  l.writes = { "du", "dpre", "dpost", "ws:part", "ws:vgp" }
  t.workspace[#t.workspace + 1] = { name = "part", per_row = 0, fixed = 0, per_head = split * 8 * n }
  t.workspace[#t.workspace + 1] = { name = "vgp", per_row = 0, fixed = 0, per_head = split * 4 }
  t.launches[3] = {
    entry = "fftconv_bdk", phase = "backward", grid = { over = "heads", per = 1 },
    block = { threads, 1, 1 }, smem = 8 * n,
    args = { "ws:part", "ws:vgp", "dk", "dd", "H", "K", "F" },
    reads = { "ws:part", "ws:vgp" }, writes = { "dk", "dd" } }
  return t
end

return manifest
