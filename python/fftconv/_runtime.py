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
_plans = {}   # (device index, bundle, problem key) -> plan
_bundle = os.environ.get("FFTCONV_BUNDLE") or None
_warned = set()


def use_bundle(path):
    """Plans made from now on come from the bundle at path (fftconv-cache export's output)
    before the cache; None goes back to the cache alone. Plans already made are kept."""
    global _bundle
    if path is not None and not os.path.exists(path):
        raise ValueError(f"use_bundle: {path}: no such file or directory")
    _bundle = os.fspath(path) if path is not None else None


def current_bundle():
    """The bundle plans are made from now (None: the cache alone)."""
    return _bundle


def _key(p):
    return (p.batch, p.heads, p.seqlen, p.filter_len, p.freq_keep, p.dtype, p.mode, p.pre_gate,
            p.post_gate, p.skip_d)


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


def plan(device, p, capturing):
    """The plan of problem p on device; made once (never during a CUDA graph capture)."""
    k = (device, _bundle, _key(p))
    pl = _plans.get(k)
    if pl is not None:
        return pl
    if capturing:
        raise RuntimeError(
            "fftconv: no plan yet for this shape on cuda:%d, and a plan cannot be made while a "
            "CUDA graph is being captured (it compiles or loads a kernel): run the call once "
            "before the capture" % device)
    ctx = context(device)
    with _lock:
        pl = _plans.get(k)
        if pl is None:
            L = _capi.lib()
            out = C.c_void_p()
            st = L.fftconv_plan_create(ctx, C.byref(p), C.byref(out))
            _capi.check(st, ctx, "fftconv plan")
            pl = (out, ctx)
            _plans[k] = pl
            desc = L.fftconv_plan_describe(out).decode()
            _warn_untuned(p, desc)
    return pl


def _warn_untuned(p, desc):
    if "[heuristic" not in desc:
        return
    sig = (p.dtype, p.mode, p.seqlen)
    if _warned:
        return  # once a process
    _warned.add(sig)
    dt = [k for k, v in _capi.DTYPES.items() if v == p.dtype][0]
    mode = "causal" if p.mode == _capi.CAUSAL else "circular"
    warnings.warn(
        "fftconv: no tuned kernel for this shape on this GPU; using the built-in choice. Tune "
        f"once with: python -m fftconv.tune --batch {p.batch} --heads {p.heads} --seqlen "
        f"{p.seqlen} --dtype {dt} --mode {mode}" + (" --pregate" if p.pre_gate else "")
        + (" --postgate" if p.post_gate else "") + (" --skip-d" if p.skip_d else "")
        + " (or with no flags for the default set)", RuntimeWarning, stacklevel=4)


def describe(device, p):
    """fftconv_plan_describe of the plan for p on device (made if needed)."""
    pl, _ = plan(device, p, False)
    return _capi.lib().fftconv_plan_describe(pl).decode()
