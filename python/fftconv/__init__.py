"""fftconv: long FFT convolutions on NVIDIA GPUs, tuned for the GPU at hand.

    import fftconv
    y = fftconv.fft_conv(u, k, pre, post, D, causal=True)   # differentiable, torch.compile-able
    conv = fftconv.FlashFFTConv(seqlen, dtype=torch.bfloat16)  # FlashFFTConv's module, drop-in
    short = fftconv.FlashDepthWiseConv1d(H, 3, 2, w, b)  # its depthwise conv1d module, drop-in

Tune once per GPU with `python -m fftconv.tune`; plans come from that cache, or from a bundle
(fftconv.use_bundle(path) or $FFTCONV_BUNDLE). libfftconv.so is the package's own copy, or
$FFTCONV_LIB. torch is needed for fft_conv and FlashFFTConv (pip install fftconv[torch]).
"""
from ._capi import FFTConvError
from ._runtime import use_bundle

__version__ = "0.1.0"
__all__ = ["fft_conv", "FlashFFTConv", "FlashDepthWiseConv1d", "PartialFFTConv",
           "FrequencySparseFFTConv", "use_bundle", "FFTConvError", "problem_sizes"]


def problem_sizes(batch, heads, seqlen, *, filter_len=None, freq_keep=None, dtype="fp16",
                  causal=True, pre=False, post=False, D=False):
    """Bytes of k_hat and of the forward's and backward's workspace every plan of the problem
    needs, with no GPU: {"filter": ..., "forward": ..., "backward": ...}."""
    from . import _capi
    p = _capi.problem(batch, heads, seqlen, filter_len or seqlen, freq_keep or 0, dtype, causal,
                      pre, post, D)
    return {"filter": _capi.filter_bytes(p),
            "forward": _capi.workspace_bytes(p, _capi.OP_FORWARD),
            "backward": _capi.workspace_bytes(p, _capi.OP_BACKWARD)}


def __getattr__(name):  # torch is imported only when the torch parts are used
    if name in ("fft_conv", "check_inputs"):
        from . import ops
        value = getattr(ops, name)
    elif name == "FlashFFTConv":
        from .module import FlashFFTConv as value
    elif name in ("FlashDepthWiseConv1d", "PartialFFTConv", "FrequencySparseFFTConv"):
        from . import module
        value = getattr(module, name)
    else:
        raise AttributeError(f"module 'fftconv' has no attribute {name!r}")
    globals()[name] = value  # found once: later lookups skip this function
    return value
