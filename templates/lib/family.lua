-- lib/family.lua: what the kernel families' check() and default() share: that the parameters
-- are the problem's, that a block fits the device, and the heuristic's pick of the best-scored
-- valid candidate.
local common = {}

-- The parameters are this problem's: its FFT size, I/O dtype, gates and op.
function common.matches(problem, params)
  if params.fft_size ~= problem.fft_size then return false, "fft_size differs from the problem's" end
  return common.matches_io(problem, params)
end

-- The same without the FFT size, for a family whose transform is not the problem's (overlap_tc's
-- segments): the I/O dtype, the gates and the op.
function common.matches_io(problem, params)
  if params.dtype ~= problem.dtype then return false, "dtype differs from the problem's" end
  if params.pre_gate ~= problem.pre_gate or params.post_gate ~= problem.post_gate then
    return false, "gates differ from the problem's"
  end
  -- parameters without op are forward's (every forward candidate's table predates the op)
  if (params.op or "forward") ~= (problem.op or "forward") then
    return false, string.format("parameters for op %s, the problem is %s", params.op or "forward",
      problem.op or "forward")
  end
  return true
end

-- The problem's taps: filter_len, or seqlen when it is 0.
function common.taps(problem)
  return problem.filter_len ~= 0 and problem.filter_len or problem.seqlen
end

-- A candidate made for the problem's length and taps (direct's, overlap_tc's: their grids and
-- halos are the problem's own) is this problem's.
function common.matches_taps(problem, params)
  if params.seqlen ~= problem.seqlen then
    return false, string.format("seqlen: %s, the problem's length is %d", tostring(params.seqlen),
      problem.seqlen)
  end
  local k = common.taps(problem)
  if params.taps ~= k then
    return false, string.format("taps: %s, the problem's filter has %d", tostring(params.taps), k)
  end
  return true
end

-- A block of `threads` threads with `smem` bytes of dynamic shared memory fits the device:
-- its own opt-in shared-memory limit and its threads per block.
function common.fits(device, smem, threads)
  if smem > device.smem_optin then
    return false, string.format("needs %d bytes of shared memory, the device allows %d",
      smem, device.smem_optin)
  end
  if threads > device.max_threads then
    return false, string.format("%d threads, the device allows %d", threads, device.max_threads)
  end
  return true
end

-- Whether `split` shares of a head's work, each a spectrum of n fp32 complex bins and a sum
-- (manifest.backward_shares: two workspace regions, each aligned to 256 bytes, as
-- src/runtime/kernel.h's FC_WORKSPACE_ALIGN), fit the workspace bound of one row
-- (problem.ws_one_row): the shares do not shrink with the batch, so this is what lets a kernel
-- tuned at one batch run at every other.
local WS_ALIGN = 256
function common.shares_fit(problem, split, n)
  return split * (8 * n + 4) + 2 * WS_ALIGN <= (problem.ws_one_row or 0)
end

-- For default(): the candidate of the family's full space that check() accepts with the
-- lowest score(params) (the first of equal ones); nil and the first refusal's reason when
-- check() accepts none, which the caller reports as FFTCONV_ERR_UNSUPPORTED.
function common.best(family, problem, device, score)
  local best, best_score, why
  for _, params in ipairs(family.space(problem, device)) do
    local ok, reason = family.check(problem, device, params)
    if ok then
      local s = score(params)
      if not best or s < best_score then best, best_score = params, s end
    else
      why = why or reason
    end
  end
  if not best then return nil, why or "no candidate" end
  return best
end

return common
