"""libfftconv contexts (one per CUDA device) and plans (one per device, problem and bundle),
created on first use and kept for the life of the process.

A plan comes from the tuned cache in its default place (~/.cache/fftconv/cache.db, or
$FFTCONV_CACHE), or from a bundle (use_bundle, or $FFTCONV_BUNDLE); a miss falls back to the
built-in choice and warns once, with the command that tunes. A plan is never created while a
CUDA graph is being captured: the first call of a shape must run before the capture.
"""
import ctypes as C
import os
import threading
import warnings

from . import _capi

_lock = threading.Lock()
_ctxs = {}    # (device index, bundle) -> ctx
_shapes = {}  # (device index, bundle, problem's fields) -> Shape
_bundle = os.environ.get("FFTCONV_BUNDLE") or None
_warned = False


def use_bundle(path):
    """Plans made from now on come from the bundle at path (fftconv-cache export's output)
    before the cache; None goes back to the cache alone. Plans already made are kept."""
    global _bundle
    if path is not None and not os.path.exists(path):
        raise ValueError(f"use_bundle: {path}: no such file or directory")
    _bundle = os.fspath(path) if path is not None else None


def context(device):
    with _lock:
        k = (device, _bundle)
        if k not in _ctxs:
            L = _capi.lib()
            o = _capi.CtxOptions()
            L.fftconv_ctx_options_init(C.byref(o))
            o.device = device
            o.policy = _capi.POLICY_FALLBACK
            if _bundle:
                o.bundle_path = _bundle.encode()
            ctx = C.c_void_p()
            st = L.fftconv_ctx_create(C.byref(o), C.byref(ctx))
            _capi.check(st, None, f"fftconv context on cuda:{device}")
            _ctxs[k] = ctx
        return _ctxs[k]


class Shape:
    """What one problem on one device needs, found once: its plan (with its context) and the
    bytes of its filter spectrum and of each direction's workspace."""
    __slots__ = ("plan", "ctx", "filter_bytes", "fwd_filter_bytes", "fwd_ws", "bwd_ws",
                 "bwd_status")


def lookup(device, fields):
    """The Shape already made for fields on device, or None."""
    return _shapes.get((device, _bundle, fields))


def shape(device, fields, capturing):
    """The Shape of the problem whose _capi.problem arguments are fields, on device: a dict
    lookup after the first call, which makes the plan (never during a CUDA graph capture)."""
    k = (device, _bundle, fields)
    s = _shapes.get(k)
    if s is not None:
        return s
    if capturing:
        raise RuntimeError(
            "fftconv: no plan yet for this shape on cuda:%d, and a plan cannot be made while a "
            "CUDA graph is being captured (it compiles or loads a kernel): run the call once "
            "before the capture" % device)
    p = _capi.problem(*fields)
    ctx = context(device)
    with _lock:
        s = _shapes.get(k)
        if s is None:
            L = _capi.lib()
            out = C.c_void_p()
            _capi.check(L.fftconv_plan_create(ctx, C.byref(p), C.byref(out)), ctx, "fftconv plan")
            s = Shape()
            s.plan, s.ctx = out, ctx
            s.filter_bytes = _capi.filter_bytes(p)
            s.fwd_filter_bytes = L.fftconv_plan_forward_filter_bytes(out)
            s.fwd_ws = L.fftconv_plan_workspace_bytes(out)
            s.bwd_ws = L.fftconv_plan_backward_workspace_bytes(out)
            s.bwd_status = L.fftconv_plan_backward_status(out)
            _shapes[k] = s
            _warn_untuned(p, L.fftconv_plan_describe(out).decode())
    return s


def _warn_untuned(p, desc):
    global _warned
    if "[heuristic" not in desc or _warned:
        return
    _warned = True  # once a process
    dt = [k for k, v in _capi.DTYPES.items() if v == p.dtype][0]
    mode = "causal" if p.mode == _capi.CAUSAL else "circular"
    warnings.warn(
        "fftconv: no tuned kernel for this shape on this GPU; using the built-in choice. Tune "
        f"once with: python -m fftconv.tune --batch {p.batch} --heads {p.heads} --seqlen "
        f"{p.seqlen} --dtype {dt} --mode {mode}" + (" --pregate" if p.pre_gate else "")
        + (" --postgate" if p.post_gate else "") + (" --skip-d" if p.skip_d else "")
        + (f" --filter-len {p.filter_len}" if p.filter_len not in (0, p.seqlen) else "")
        + (f" --freq-keep {p.freq_keep}" if p.freq_keep else "")
        + " (or with no flags for the default set)", RuntimeWarning, stacklevel=4)
