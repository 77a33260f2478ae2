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


class FlashDepthWiseConv1d(torch.nn.Module):
    """FlashFFTConv's FlashDepthWiseConv1d on fftconv: the same constructor and forward.

    FlashDepthWiseConv1d(channels, kernel_size, padding, weights, bias, is_bhl=True,
    device=None, dtype=None): weights (channels, kernel_size) (or (channels, 1, kernel_size),
    as torch.nn.Conv1d keeps them), bias (channels,), both kept as parameters. forward(x):
    x (B, channels, L) (is_bhl) or (B, L, channels); the result is torch.nn.functional.conv1d(x,
    weights, bias, padding=padding, groups=channels), of length L + 2 padding - kernel_size + 1,
    in the layout and dtype of x. On CUDA it runs fftconv's causal convolution of x padded on
    both sides with the flipped taps, whose outputs from kernel_size - 1 on are conv1d's
    (padding = kernel_size - 1, the causal depthwise convolution Hyena blocks use, pads the
    right side only), then adds the bias; with autograd in x, weights and bias. The filter
    taps are fp32 in fftconv (the weights are cast for the call, gradients flow back). Off
    CUDA it is conv1d itself."""

    def __init__(self, channels, kernel_size, padding, weights, bias, is_bhl=True, device=None,
                 dtype=None):
        super().__init__()
        for name, v in (("channels", channels), ("kernel_size", kernel_size),
                        ("padding", padding)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
        if channels < 1 or kernel_size < 1 or padding < 0:
            raise ValueError(f"channels {channels}, kernel_size {kernel_size}, padding {padding}:"
                             " channels and kernel_size must be >= 1, padding >= 0")
        w = torch.as_tensor(weights).detach()
        if w.dim() == 3 and w.shape[1] == 1:
            w = w[:, 0]
        if tuple(w.shape) != (channels, kernel_size):
            raise ValueError(f"weights: shape {tuple(weights.shape)}, must be (channels, "
                             f"kernel_size) = ({channels}, {kernel_size})")
        b = torch.as_tensor(bias).detach()
        if tuple(b.shape) != (channels,):
            raise ValueError(f"bias: shape {tuple(b.shape)}, must be (channels,) = ({channels},)")
        kw = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        self.d, self.k, self.padding, self.is_bhl = channels, kernel_size, padding, is_bhl
        self.weights = torch.nn.Parameter(w.clone().to(**kw).contiguous())
        self.bias = torch.nn.Parameter(b.clone().to(**kw).contiguous())

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            raise TypeError("x: expected a tensor of shape (B, channels, L)"
                            + ("" if self.is_bhl else " as (B, L, channels)"))
        u = x if self.is_bhl else x.transpose(1, 2)
        if u.shape[1] != self.d:
            raise ValueError(f"x: {u.shape[1]} channels, this module has {self.d}")
        K, P, L = self.k, self.padding, u.shape[-1]
        if L + 2 * P < K:
            raise ValueError(f"x: length L = {L} with padding {P} is shorter than kernel_size {K}")
        if not u.is_cuda:
            y = torch.nn.functional.conv1d(u, self.weights.unsqueeze(1).to(u.dtype),
                                           self.bias.to(u.dtype), padding=P, groups=self.d)
        else:
            y = depthwise(u, self.weights, self.bias, P)
        return y if self.is_bhl else y.transpose(1, 2)


def depthwise(u, weights, bias, padding, conv=None):
    """conv1d(u, weights, bias, padding, groups=H) through a causal convolution (conv, default
    fftconv's fft_conv): u (B, H, L), weights (H, K). With u_p, u padded by `padding` on both
    sides, conv1d's output t is sum_j w[j] u_p[t + j] = (flip(w) * u_p)[t + K - 1], the causal
    convolution at t + K - 1; the left padding's first K - 1 zeros are the causal convolution's
    own, so only the rest is padded."""
    from .ops import fft_conv
    conv = conv or fft_conv
    K = weights.shape[-1]
    left, right = padding - (K - 1), padding
    up = u
    if left > 0 or right > 0:
        up = torch.nn.functional.pad(u, (max(left, 0), right)).contiguous()
    # lags at or past the padded length reach no output: fft_conv takes K <= L
    k = torch.flip(weights, (-1,)).float()[..., :up.shape[-1]].contiguous()
    y = conv(up.contiguous(), k, causal=True)
    if left < 0:  # less padding than the causal K - 1: drop the outputs it would not have
        y = y[..., -left:]
    return y + bias.to(y.dtype)[None, :, None]


def _fft_reference(x, k, n, keep=None):
    """FlashFFTConv's sparse_conv.py formula: irfft(rfft(x, n) * rfft(k, n), n)[..., :L] in
    fp32 (bins from keep on zeroed), in x's dtype: what the two modules below compute where
    fftconv's FFT sizes cannot (off CUDA, L not a power of two, K > L)."""
    L = x.shape[-1]
    kf = torch.fft.rfft(k.float(), n=n)
    if keep is not None:
        kf = kf * (torch.arange(kf.shape[-1], device=kf.device) < keep)
    return torch.fft.irfft(torch.fft.rfft(x.float(), n=n) * kf, n=n)[..., :L].to(x.dtype)


def _positive_int(name, v):
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{name}: {v}, must be >= 1")


class PartialFFTConv(torch.nn.Module):
    """FlashFFTConv's PartialFFTConv (its sparse_conv.py) on fftconv: the same constructor and
    forward. forward(x, k): x (B, H, L), k (H, K); the causal convolution of x with the first
    N_partial taps of k (FlashFFTConv's FFT of size 2L), in x's dtype, differentiable in x and
    k. On CUDA with those taps at most L it is fftconv's causal convolution with a filter of
    min(N_partial, K) taps (the `direct` family's for 64 or fewer, `overlap_tc`'s by
    overlap-save for up to 16384 and L/4, once tuned; rows past 2M with such filters too);
    otherwise the formula itself in fp32 torch.fft (taps past L wrap in a 2L-point FFT)."""

    def __init__(self, N_partial):
        super().__init__()
        _positive_int("N_partial", N_partial)
        self.N_partial = N_partial

    def forward(self, x, k):
        L = x.shape[-1]
        kk = k[..., :self.N_partial]
        if not x.is_cuda or kk.shape[-1] > L:
            return _fft_reference(x, kk, 2 * L)
        from .ops import fft_conv
        return fft_conv(x.contiguous(), kk.float().contiguous(), causal=True)


class FrequencySparseFFTConv(torch.nn.Module):
    """FlashFFTConv's FrequencySparseFFTConv (its sparse_conv.py) on fftconv: the same
    constructor and forward. forward(x, k): x (B, H, L), k (H, K); the convolution through an
    FFT of size 2L with the filter's bins from N_partial // 2 on zeroed, cut to L, in x's
    dtype, differentiable in x and k. When 2L is the FFT size fftconv's causal problem takes (L
    a power of two, 2 <= K <= L) it is fft_conv(x, k, causal=True, freq_keep=N_partial // 2)
    (the kernels skip no work yet: issue 21); otherwise the formula itself in fp32 torch.fft."""

    def __init__(self, N_partial):
        super().__init__()
        _positive_int("N_partial", N_partial)
        self.N_partial = N_partial

    def forward(self, x, k):
        L, K, keep = x.shape[-1], k.shape[-1], self.N_partial // 2
        if (not x.is_cuda or L & (L - 1) or not 2 <= K <= L or 2 * L > MAX_SEQLEN
                or keep == 0):  # freq_keep 0 would keep every bin
            return _fft_reference(x, k, 2 * L, keep)
        from .ops import fft_conv
        return fft_conv(x.contiguous(), k.float().contiguous(), causal=True,
                        freq_keep=min(keep, L + 1))
