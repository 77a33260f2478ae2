"""FlashFFTConv's module, on fftconv: the same constructor and forward, so that model code
changes only its import (from flashfftconv import FlashFFTConv -> from fftconv import
FlashFFTConv)."""
import torch

from .ops import check_inputs, forward

MIN_SEQLEN, MAX_SEQLEN = 256, 4194304


class FlashFFTConv(torch.nn.Module):
    """FlashFFTConv(seqlen, dtype=torch.float16): convolutions of FFT size seqlen.

    forward(u, k, pregate=None, postgate=None): u (B, H, L) of this dtype with L <= seqlen,
    k (H, K) float32 with K <= seqlen; y = postgate * irfft(rfft(pregate * u, seqlen) *
    rfft(k, seqlen))[..., :L], as FlashFFTConv computes it. When L + K - 1 <= seqlen that is
    the causal (linear) convolution and when L = seqlen the circular one, which fftconv runs
    directly; otherwise the inputs are zero-padded to seqlen and the result cut to L (the
    same numbers, more work). Either gate may be given alone. use_32_butterfly is accepted
    for compatibility and ignored: fftconv tunes its own factorization."""

    def __init__(self, seqlen, dtype=torch.float16, use_32_butterfly=True):
        super().__init__()
        if not isinstance(seqlen, int) or isinstance(seqlen, bool):
            raise TypeError(f"seqlen: expected an int, got {type(seqlen).__name__}")
        if not MIN_SEQLEN <= seqlen <= MAX_SEQLEN or seqlen & (seqlen - 1):
            raise ValueError(f"seqlen: {seqlen}, must be a power of two from {MIN_SEQLEN} to "
                             f"{MAX_SEQLEN}")
        if dtype not in (torch.float16, torch.bfloat16):
            raise TypeError(f"dtype: {dtype}, must be torch.float16 or torch.bfloat16")
        self.seqlen, self.dtype, self.use_32_butterfly = seqlen, dtype, use_32_butterfly

    def forward(self, u, k, pregate=None, postgate=None):
        check_inputs(u, k, pregate, postgate, max_k=self.seqlen)
        if u.dtype != self.dtype:
            raise TypeError(f"u: dtype {u.dtype}, this module was made for {self.dtype}")
        n, L, K = self.seqlen, u.shape[-1], k.shape[-1]
        if L > n:
            raise ValueError(f"u: length L = {L} is more than seqlen = {n}")
        if L + K - 1 <= n:
            # causal: taps past L never reach the first L outputs
            kk = k if K <= L else k[:, :L].contiguous()
            return forward(u, kk, pregate, postgate, None, True, 0)
        if L == n:
            return forward(u, k, pregate, postgate, None, False, 0)
        # the wrapped case: zero-padded to seqlen, circular, cut to L
        pad = (0, n - L)
        up = torch.nn.functional.pad(u, pad)
        pre = torch.nn.functional.pad(pregate, pad) if pregate is not None else None
        post = torch.nn.functional.pad(postgate, pad) if postgate is not None else None
        return forward(up, k, pre, post, None, False, 0)[..., :L]
