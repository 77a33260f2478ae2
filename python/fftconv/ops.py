"""fft_conv as torch ops, defined with torch.library: the forward (y and the filter spectrum
k_hat, computed once a call and shared with the backward), the backward (each gradient only
when its input needs it), their fake implementations (shapes from the problem alone: no GPU
needed) and the autograd registration. Runs on the caller's current CUDA stream; workspace
and k_hat come from torch's caching allocator; nothing waits on the host.

Two forward ops share one implementation: conv_fwd, with the autograd registration, when an
input requires grad, and conv_fwd_infer, without it, otherwise: the Python autograd kernel
costs about 4 us a call even when nothing requires grad (bench/NOTES.md, experiment 16)."""
import ctypes as C
import threading

import torch

from . import _capi, _runtime

IO_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
_F32 = torch.float32

_lib = torch.library.Library("fftconv", "DEF")
_FWD_SCHEMA = ("(Tensor u, Tensor k, Tensor? pre, Tensor? post, Tensor? d, bool causal, "
               "int freq_keep) -> (Tensor, Tensor)")
_lib.define("conv_fwd" + _FWD_SCHEMA)
_lib.define("conv_fwd_infer" + _FWD_SCHEMA)
_lib.define("conv_bwd(Tensor dy, Tensor u, Tensor k_hat, Tensor? pre, Tensor? post, "
            "int filter_len, bool has_d, bool causal, int freq_keep, bool[] needs) -> "
            "(Tensor, Tensor, Tensor, Tensor, Tensor)")

_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def _stream(device):
    if _raw_stream is not None:
        return _raw_stream(device)
    return torch.cuda.current_stream(device).cuda_stream


def _ptr(t):
    return None if t is None else t.data_ptr()


_capturing = getattr(torch._C, "_cuda_isCurrentStreamCapturing",
                     torch.cuda.is_current_stream_capturing)


def _shape(device, B, H, L, K, F, dtype, causal, pre, post, has_d):
    fields = (B, H, L, K, F, IO_DTYPES[dtype], causal, pre, post, has_d)
    s = _runtime.lookup(device, fields)
    if s is None:  # the first call of this shape: the plan is made (never during a capture)
        s = _runtime.shape(device, fields, _capturing())
    return s


_tls = threading.local()  # each thread's args structs (filled in full by every call), scratch
_SCRATCH_MOST = 1 << 22


def _scratch(dev, stream, nbytes, device):
    """This thread's k_hat scratch on (device, stream), for the plain call, where k_hat lives
    only between its two launches: reused from call to call (torch.empty costs about 2 us;
    the launches of one thread on one stream run in order, so a reuse waits for the last
    use), at most 4 MiB; None (allocate) for more, or during a CUDA graph capture."""
    if nbytes > _SCRATCH_MOST or _capturing():
        return None
    try:
        cache = _tls.scratch
    except AttributeError:
        cache = _tls.scratch = {}
    t = cache.get((dev, stream))
    if t is None or t.numel() < nbytes:
        t = cache[(dev, stream)] = torch.empty(max(nbytes, 1 << 16), dtype=torch.uint8,
                                               device=device)
    return t


def _args(name, struct, init):
    """This thread's args struct `name` (struct, set up by the C init function named init)
    and a reference to it, made on the thread's first call."""
    try:
        return getattr(_tls, name)
    except AttributeError:
        a = struct()
        getattr(_capi.lib(), init)(C.byref(a))
        setattr(_tls, name, (a, C.byref(a)))
        return getattr(_tls, name)


# ---- the forward ----

def _fwd_cuda(u, k, pre, post, d, causal, freq_keep, exposed=True):
    """y and k_hat; exposed=False: k_hat is only this call's scratch (the plain call, which no
    backward follows), so only the forward's spectrum is prepared and nothing is zeroed."""
    B, H, L = u.shape
    dev = u.get_device()
    s = _shape(dev, B, H, L, k.shape[1], freq_keep, u.dtype, causal, pre is not None,
               post is not None, d is not None)
    lib = _capi.lib()
    st = _stream(dev)
    # the problem's bound, so that its size is known with no plan (fake); an op's output has
    # every byte written (those past the plan's spectra zeroed): a function of k and d alone
    if exposed:
        k_hat = torch.empty(s.filter_bytes, dtype=torch.uint8, device=u.device)
        r = lib.fftconv_prepare_filter_sized(s.plan, k.data_ptr(), _ptr(d), k_hat.data_ptr(),
                                             s.filter_bytes, st)
    else:  # the forward's spectrum alone: no backward will read it
        k_hat = _scratch(dev, st, s.fwd_filter_bytes, u.device)
        if k_hat is None:
            k_hat = torch.empty(s.fwd_filter_bytes, dtype=torch.uint8, device=u.device)
        r = lib.fftconv_prepare_filter_forward(s.plan, k.data_ptr(), _ptr(d), k_hat.data_ptr(),
                                               st)
    if r:
        _capi.check(r, s.ctx, "fftconv_prepare_filter")
    y = torch.empty_like(u)
    a, ref = _args("fwd", _capi.Args, "fftconv_args_init")
    a.u, a.pre, a.post, a.k_hat, a.y = u.data_ptr(), _ptr(pre), _ptr(post), k_hat.data_ptr(), y.data_ptr()
    if s.fwd_ws:
        ws = torch.empty(s.fwd_ws, dtype=torch.uint8, device=u.device)
        a.workspace, a.workspace_bytes = ws.data_ptr(), s.fwd_ws
    else:
        a.workspace, a.workspace_bytes = None, 0
    r = lib.fftconv_forward(s.plan, ref, st)
    if r:
        _capi.check(r, s.ctx, "fftconv_forward")
    return y, k_hat


def _fwd_fake(u, k, pre, post, d, causal, freq_keep):
    B, H, L = u.shape
    if all(isinstance(x, int) for x in (B, H, L, k.shape[1])):
        p = _capi.problem(B, H, L, k.shape[1], freq_keep, IO_DTYPES[u.dtype], causal,
                          pre is not None, post is not None, d is not None)
        nbytes = _capi.filter_bytes(p)
    else:  # symbolic shapes (torch.compile dynamic=True): the library sizes it at run time
        nbytes = torch.library.get_ctx().new_dynamic_size()
    return torch.empty_like(u), u.new_empty((nbytes,), dtype=torch.uint8)


for _name in ("conv_fwd", "conv_fwd_infer"):
    _lib.impl(_name, _fwd_cuda, "CUDA")
    torch.library.register_fake("fftconv::" + _name, _fwd_fake, lib=_lib)


# ---- the backward ----

def _bwd_outputs(u, filter_len, needs):
    B, H, Lq = u.shape
    f32 = dict(dtype=torch.float32)
    du = u.new_empty(u.shape) if needs[0] else u.new_empty((0,))
    dk = u.new_empty((H, filter_len), **f32) if needs[1] else u.new_empty((0,), **f32)
    dpre = u.new_empty(u.shape) if needs[2] else u.new_empty((0,))
    dpost = u.new_empty(u.shape) if needs[3] else u.new_empty((0,))
    dd = u.new_empty((H,), **f32) if needs[4] else u.new_empty((0,), **f32)
    return du, dk, dpre, dpost, dd


def _bwd_cuda(dy, u, k_hat, pre, post, filter_len, has_d, causal, freq_keep, needs):
    """needs: whether du, dk, dpre, dpost, dD are wanted; an unwanted one is returned empty."""
    B, H, L = u.shape
    dev = u.get_device()
    s = _shape(dev, B, H, L, filter_len, freq_keep, u.dtype, causal, pre is not None,
               post is not None, has_d)
    lib = _capi.lib()
    if s.bwd_status:  # asked again for the reason, which the context holds for this thread
        _capi.check(lib.fftconv_plan_backward_status(s.plan), s.ctx, "fftconv backward")
    du, dk, dpre, dpost, dd = _bwd_outputs(u, filter_len, needs)
    a, ref = _args("bwd", _capi.BackwardArgs, "fftconv_backward_args_init")
    a.u, a.pre, a.post, a.dy, a.k_hat = u.data_ptr(), _ptr(pre), _ptr(post), dy.data_ptr(), k_hat.data_ptr()
    a.du, a.dk, a.dpre, a.dpost, a.dd = (t.data_ptr() if t.numel() else None
                                         for t in (du, dk, dpre, dpost, dd))
    ws = torch.empty(s.bwd_ws, dtype=torch.uint8, device=u.device) if s.bwd_ws else None
    a.workspace, a.workspace_bytes = _ptr(ws), s.bwd_ws
    r = lib.fftconv_backward(s.plan, ref, _stream(dev))
    if r:
        _capi.check(r, s.ctx, "fftconv_backward")
    return du, dk, dpre, dpost, dd


_lib.impl("conv_bwd", _bwd_cuda, "CUDA")
torch.library.register_fake(
    "fftconv::conv_bwd",
    lambda dy, u, k_hat, pre, post, filter_len, has_d, causal, freq_keep, needs:
    _bwd_outputs(u, filter_len, needs), lib=_lib)


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
    du, dk, dpre, dpost, dd = torch.ops.fftconv.conv_bwd(dy.contiguous(), u, k_hat, pre, post,
                                                         filter_len, has_d, causal, freq_keep,
                                                         needs)
    return (du if needs[0] else None, dk if needs[1] else None, dpre if needs[2] else None,
            dpost if needs[3] else None, dd if needs[4] else None, None, None)


torch.library.register_autograd("fftconv::conv_fwd", _backward, setup_context=_setup, lib=_lib)

conv_fwd = torch.ops.fftconv.conv_fwd.default
conv_fwd_infer = torch.ops.fftconv.conv_fwd_infer.default
conv_bwd = torch.ops.fftconv.conv_bwd.default


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


def _all_fine(u, k, pre, post, D, max_k):
    """True when CUDA inputs pass every check below, from as few attribute reads as can tell
    (a call's common case); False (or AttributeError) sends them through the checks, which
    say what is wrong."""
    if not (u.is_cuda and k.is_cuda and u.is_contiguous() and k.is_contiguous()):
        return False
    dt, shp, ks = u.dtype, u.shape, k.shape
    if dt not in IO_DTYPES or k.dtype is not _F32 or len(shp) != 3 or len(ks) != 2:
        return False
    dev = u.get_device()
    if ks[0] != shp[1] or not 1 <= ks[1] <= (shp[2] if max_k is None else max_k) or \
            k.get_device() != dev:
        return False
    for g in (pre, post):
        if g is not None and (g.dtype is not dt or g.shape != shp or g.get_device() != dev or
                              not g.is_contiguous()):
            return False
    return D is None or (D.dtype is _F32 and D.dim() == 1 and D.shape[0] == shp[1] and
                         D.get_device() == dev and D.is_contiguous())


def check_inputs(u, k, pre=None, post=None, D=None, max_k=None):
    """The checks fft_conv makes before any work: TypeError or ValueError naming the argument
    and what is allowed. K may be up to max_k (default L)."""
    try:
        if _all_fine(u, k, pre, post, D, max_k):
            return
    except AttributeError:  # not a tensor: said below
        pass
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


_Tensor = torch.Tensor
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)
_function_modes = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: False)
_profiling = getattr(torch._C._autograd, "_profiler_enabled", lambda: False)


def _direct(*tensors):
    """Whether the forward may be run as a plain call, not through the dispatcher: eagerly
    (not traced), on plain CUDA tensors none of which needs a gradient, with nothing that
    watches ops (a torch function or dispatch mode, functorch, the profiler). The result is
    the same; k_hat, seen by no one, comes from a reused scratch and is not zeroed past the
    spectra, which saves about 5 us a call (bench/NOTES.md, 17)."""
    if torch.compiler.is_compiling():
        return False
    grad = torch.is_grad_enabled()
    for t in tensors:
        if t is not None and (type(t) is not _Tensor or (grad and t.requires_grad)):
            return False
    return tensors[0].is_cuda and not (_function_modes() or _dispatch_modes() or
                                       _functorch_active() or _profiling())


def forward(u, k, pre, post, d, causal, freq_keep):
    """y of the forward op that fits: a plain call (_direct), conv_fwd_infer (traced, or
    watched, with no gradient) or conv_fwd (with the autograd registration)."""
    if _direct(u, k, pre, post, d):
        return _fwd_cuda(u, k, pre, post, d, causal, freq_keep, exposed=False)[0]
    return forward_op(u, k, pre, post, d)(u, k, pre, post, d, causal, freq_keep)[0]


def forward_op(*tensors):
    """conv_fwd (with autograd) when an input requires grad, else conv_fwd_infer."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return conv_fwd
    return conv_fwd_infer


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
    return forward(u, k, pre, post, D, bool(causal), int(freq_keep or 0))
