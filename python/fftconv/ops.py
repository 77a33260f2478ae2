"""fft_conv as torch custom ops: the forward (y and the filter spectrum k_hat, computed once a
call and shared with the backward), the backward (each gradient only when its input needs
it), their fake implementations (shapes from the problem alone: no GPU needed) and the
autograd registration. Runs on the caller's current CUDA stream; workspace and k_hat come
from torch's caching allocator; nothing waits on the host."""
import ctypes as C
from typing import List, Optional, Tuple

import torch

from . import _capi, _runtime

IO_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def _stream(device):
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    return raw(device) if raw is not None else torch.cuda.current_stream(device).cuda_stream


def _ptr(t):
    return None if t is None else t.data_ptr()


def _problem(u, k, pre, post, has_d, causal, freq_keep):
    B, H, L = u.shape
    return _capi.problem(B, H, L, k.shape[1], freq_keep, IO_DTYPES[u.dtype], causal,
                         pre is not None, post is not None, has_d)


# ---- the forward ----

@torch.library.custom_op("fftconv::conv_fwd", mutates_args=(), device_types="cuda")
def conv_fwd(u: torch.Tensor, k: torch.Tensor, pre: Optional[torch.Tensor],
             post: Optional[torch.Tensor], d: Optional[torch.Tensor], causal: bool,
             freq_keep: int) -> Tuple[torch.Tensor, torch.Tensor]:
    p = _problem(u, k, pre, post, d is not None, causal, freq_keep)
    dev = u.device.index
    plan, ctx = _runtime.plan(dev, p, torch.cuda.is_current_stream_capturing())
    L = _capi.lib()
    s = _stream(dev)
    k_hat = torch.empty(_capi.filter_bytes(p), dtype=torch.uint8, device=u.device)
    _capi.check(L.fftconv_prepare_filter(plan, k.data_ptr(), _ptr(d), k_hat.data_ptr(), s), ctx,
                "fftconv_prepare_filter")
    y = torch.empty_like(u)
    a = _capi.Args()
    L.fftconv_args_init(C.byref(a))
    a.u, a.pre, a.post, a.k_hat, a.y = u.data_ptr(), _ptr(pre), _ptr(post), k_hat.data_ptr(), y.data_ptr()
    nws = L.fftconv_plan_workspace_bytes(plan)
    ws = torch.empty(nws, dtype=torch.uint8, device=u.device) if nws else None
    a.workspace, a.workspace_bytes = _ptr(ws), nws
    _capi.check(L.fftconv_forward(plan, C.byref(a), s), ctx, "fftconv_forward")
    return y, k_hat


@conv_fwd.register_fake
def _(u, k, pre, post, d, causal, freq_keep):
    if all(isinstance(x, int) for x in (*u.shape, k.shape[1])):
        nbytes = _capi.filter_bytes(_problem(u, k, pre, post, d is not None, causal, freq_keep))
    else:  # symbolic shapes (torch.compile dynamic=True): the library sizes it at run time
        nbytes = torch.library.get_ctx().new_dynamic_size()
    return torch.empty_like(u), u.new_empty((nbytes,), dtype=torch.uint8)


# ---- the backward ----

@torch.library.custom_op("fftconv::conv_bwd", mutates_args=(), device_types="cuda")
def conv_bwd(dy: torch.Tensor, u: torch.Tensor, k_hat: torch.Tensor, pre: Optional[torch.Tensor],
             post: Optional[torch.Tensor], filter_len: int, has_d: bool, causal: bool,
             freq_keep: int, needs: List[bool]
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """needs: whether du, dk, dpre, dpost, dD are wanted; an unwanted one is returned empty."""
    B, H, Lq = u.shape
    p = _capi.problem(B, H, Lq, filter_len, freq_keep, IO_DTYPES[u.dtype], causal,
                      pre is not None, post is not None, has_d)
    dev = u.device.index
    plan, ctx = _runtime.plan(dev, p, torch.cuda.is_current_stream_capturing())
    L = _capi.lib()
    _capi.check(L.fftconv_plan_backward_status(plan), ctx, "fftconv backward")
    du, dk, dpre, dpost, dd = _bwd_outputs(u, filter_len, needs)
    a = _capi.BackwardArgs()
    L.fftconv_backward_args_init(C.byref(a))
    a.u, a.pre, a.post, a.dy, a.k_hat = u.data_ptr(), _ptr(pre), _ptr(post), dy.data_ptr(), k_hat.data_ptr()
    a.du, a.dk, a.dpre, a.dpost, a.dd = (t.data_ptr() if t.numel() else None
                                         for t in (du, dk, dpre, dpost, dd))
    nws = L.fftconv_plan_backward_workspace_bytes(plan)
    ws = torch.empty(nws, dtype=torch.uint8, device=u.device) if nws else None
    a.workspace, a.workspace_bytes = _ptr(ws), nws
    _capi.check(L.fftconv_backward(plan, C.byref(a), _stream(dev)), ctx, "fftconv_backward")
    return du, dk, dpre, dpost, dd


def _bwd_outputs(u, filter_len, needs):
    B, H, Lq = u.shape
    f32 = dict(dtype=torch.float32)
    du = u.new_empty(u.shape) if needs[0] else u.new_empty((0,))
    dk = u.new_empty((H, filter_len), **f32) if needs[1] else u.new_empty((0,), **f32)
    dpre = u.new_empty(u.shape) if needs[2] else u.new_empty((0,))
    dpost = u.new_empty(u.shape) if needs[3] else u.new_empty((0,))
    dd = u.new_empty((H,), **f32) if needs[4] else u.new_empty((0,), **f32)
    return du, dk, dpre, dpost, dd


@conv_bwd.register_fake
def _(dy, u, k_hat, pre, post, filter_len, has_d, causal, freq_keep, needs):
    return _bwd_outputs(u, filter_len, needs)


# ---- autograd ----

def _setup(ctx, inputs, output):
    u, k, pre, post, d, causal, freq_keep = inputs
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(u, pre, post, output[1])
    ctx.conv = (k.shape[1], d is not None, causal, freq_keep)


def _backward(ctx, dy, _dk_hat):
    u, pre, post, k_hat = ctx.saved_tensors
    filter_len, has_d, causal, freq_keep = ctx.conv
    g = ctx.needs_input_grad  # u, k, pre, post, d, causal, freq_keep
    needs = [bool(g[0]), bool(g[1]), bool(g[2]) and pre is not None,
             bool(g[3]) and post is not None, bool(g[4]) and has_d]
    if not any(needs):
        return None, None, None, None, None, None, None
    du, dk, dpre, dpost, dd = conv_bwd(dy.contiguous(), u, k_hat, pre, post, filter_len, has_d,
                                       causal, freq_keep, needs)
    return (du if needs[0] else None, dk if needs[1] else None, dpre if needs[2] else None,
            dpost if needs[3] else None, dd if needs[4] else None, None, None)


conv_fwd.register_autograd(_backward, setup_context=_setup)


# ---- the functional op ----

def _tensor(name, t, ndim, what):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {what}, got {type(t).__name__}")
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected {what} ({ndim} dimensions), got shape {tuple(t.shape)}")
    if t.device.type not in ("cuda", "meta"):  # meta: shape inference (no data, no work)
        raise ValueError(f"{name}: must be on a CUDA device, got {t.device}")
    if not t.is_contiguous():
        raise ValueError(f"{name}: must be contiguous (call .contiguous(); fftconv does not copy "
                         "silently)")


def _same(name, t, u, shape=True):
    if t.device != u.device:
        raise ValueError(f"{name}: on {t.device}, but u is on {u.device}: all tensors must be on "
                         "one device")
    if shape and t.shape != u.shape:
        raise ValueError(f"{name}: shape {tuple(t.shape)}, must be u's {tuple(u.shape)}")


def check_inputs(u, k, pre=None, post=None, D=None, max_k=None):
    """The checks fft_conv makes before any work: TypeError or ValueError naming the argument
    and what is allowed. K may be up to max_k (default L)."""
    _tensor("u", u, 3, "of shape (B, H, L)")
    if u.dtype not in IO_DTYPES:
        raise TypeError(f"u: dtype {u.dtype} is not one of float32, float16, bfloat16")
    B, H, L = u.shape
    _tensor("k", k, 2, "of shape (H, K)")
    if k.dtype != torch.float32:
        raise TypeError(f"k: dtype {k.dtype}, must be float32 (filters are kept in fp32)")
    _same("k", k, u, shape=False)
    if k.shape[0] != H:
        raise ValueError(f"k: {k.shape[0]} heads, u has H = {H}")
    if max_k is None and not 1 <= k.shape[1] <= L:
        raise ValueError(f"k: length K = {k.shape[1]}, must be 1 to L = {L}")
    if max_k is not None and not 1 <= k.shape[1] <= max_k:
        raise ValueError(f"k: length K = {k.shape[1]}, must be 1 to seqlen = {max_k}")
    for name, g in (("pre", pre), ("post", post)):
        if g is not None:
            _tensor(name, g, 3, "of shape (B, H, L)")
            _same(name, g, u)
            if g.dtype != u.dtype:
                raise TypeError(f"{name}: dtype {g.dtype}, must be u's ({u.dtype})")
    if D is not None:
        _tensor("D", D, 1, "of shape (H,)")
        _same("D", D, u, shape=False)
        if D.dtype != torch.float32:
            raise TypeError(f"D: dtype {D.dtype}, must be float32")
        if D.shape[0] != H:
            raise ValueError(f"D: {D.shape[0]} heads, u has H = {H}")


def fft_conv(u, k, pre=None, post=None, D=None, *, causal=True, freq_keep=None):
    """y = post * (conv(pre * u, k) + D * (pre * u)), the convolution along the last axis.

    u, pre, post: (B, H, L) CUDA tensors, float16, bfloat16 or float32, contiguous; k: (H, K)
    float32, K <= L; D: (H,) float32. causal=True: the first L outputs of the linear
    convolution; causal=False: the circular one (L a power of two). freq_keep: keep the lowest
    freq_keep frequency bins of the filter (and their mirrors); None keeps all. Differentiable
    in u, k, pre, post and D (each gradient computed only when needed; those of k and D in
    fp32, summed over the batch in a fixed order)."""
    check_inputs(u, k, pre, post, D)
    if freq_keep is not None and (not isinstance(freq_keep, int) or freq_keep < 1):
        raise ValueError(f"freq_keep: {freq_keep!r}, must be None or a positive int")
    y, _ = conv_fwd(u, k, pre, post, D, bool(causal), int(freq_keep or 0))
    return y
