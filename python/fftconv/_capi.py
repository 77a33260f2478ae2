"""The C API of libfftconv (src/runtime/fftconv.h) through ctypes: its structs, the library's
location and loading, and statuses turned into Python exceptions.

No torch here: the library is found and loaded on first use (never at import), so that the
package imports on any machine; one without libfftconv gets an error saying where it looked.
"""
import ctypes as C
import ctypes.util
import glob
import os
import sys
import threading

DTYPES = {"fp32": 0, "fp16": 1, "bf16": 2}
CAUSAL, CIRCULAR = 0, 1
POLICY_FALLBACK = 0
OP_FORWARD, OP_BACKWARD = 0, 1

# fftconv_status, by value
STATUS = ["OK", "ERR_INVALID", "ERR_NO_DRIVER", "ERR_NO_DEVICE", "ERR_CUDA", "ERR_COMPILE",
          "ERR_TEMPLATE", "ERR_UNSUPPORTED", "ERR_NOMEM", "ERR_IO", "ERR_NO_COMPILER"]
ERR_INVALID = 1


class Problem(C.Structure):
    _fields_ = [("size", C.c_size_t), ("batch", C.c_int64), ("heads", C.c_int64),
                ("seqlen", C.c_int64), ("filter_len", C.c_int64), ("freq_keep", C.c_int64),
                ("dtype", C.c_int), ("mode", C.c_int), ("pre_gate", C.c_int),
                ("post_gate", C.c_int), ("skip_d", C.c_int)]


class CtxOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("device", C.c_int), ("arch", C.c_char_p),
                ("cache_path", C.c_char_p), ("no_cache", C.c_int), ("policy", C.c_int),
                ("bundle_path", C.c_char_p), ("bundle_image", C.c_void_p)]


class Args(C.Structure):
    _fields_ = [("size", C.c_size_t), ("u", C.c_void_p), ("pre", C.c_void_p),
                ("post", C.c_void_p), ("k_hat", C.c_void_p), ("y", C.c_void_p),
                ("workspace", C.c_void_p), ("workspace_bytes", C.c_size_t)]


class BackwardArgs(C.Structure):
    _fields_ = [("size", C.c_size_t), ("u", C.c_void_p), ("pre", C.c_void_p),
                ("post", C.c_void_p), ("dy", C.c_void_p), ("k_hat", C.c_void_p),
                ("du", C.c_void_p), ("dpre", C.c_void_p), ("dpost", C.c_void_p),
                ("dk", C.c_void_p), ("dd", C.c_void_p),
                ("workspace", C.c_void_p), ("workspace_bytes", C.c_size_t)]


class FFTConvError(RuntimeError):
    """A libfftconv call failed; `status` is its fftconv_status name."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = STATUS[status] if 0 <= status < len(STATUS) else str(status)


def package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def candidates():
    """Where libfftconv.so is looked for, in order: $FFTCONV_LIB, then the package's lib/."""
    out = []
    env = os.environ.get("FFTCONV_LIB")
    if env:
        out.append(env)
    out.append(os.path.join(package_dir(), "lib", "libfftconv.so"))
    return out


_SIGNATURES = {
    # name: (restype, argtypes)
    "fftconv_problem_init": (None, [C.POINTER(Problem)]),
    "fftconv_problem_check": (C.c_int, [C.POINTER(Problem), C.c_char_p, C.c_size_t]),
    "fftconv_problem_filter_bytes": (C.c_size_t, [C.POINTER(Problem)]),
    "fftconv_problem_workspace_bytes": (C.c_size_t, [C.POINTER(Problem), C.c_int]),
    "fftconv_problem_fft_size": (C.c_int64, [C.POINTER(Problem)]),
    "fftconv_ctx_options_init": (None, [C.POINTER(CtxOptions)]),
    "fftconv_ctx_create": (C.c_int, [C.POINTER(CtxOptions), C.POINTER(C.c_void_p)]),
    "fftconv_ctx_destroy": (None, [C.c_void_p]),
    "fftconv_ctx_error": (C.c_char_p, [C.c_void_p]),
    "fftconv_ctx_device": (C.c_char_p, [C.c_void_p]),
    "fftconv_ctx_cache": (C.c_char_p, [C.c_void_p]),
    "fftconv_plan_create": (C.c_int, [C.c_void_p, C.POINTER(Problem), C.POINTER(C.c_void_p)]),
    "fftconv_plan_destroy": (None, [C.c_void_p]),
    "fftconv_plan_describe": (C.c_char_p, [C.c_void_p]),
    "fftconv_plan_filter_bytes": (C.c_size_t, [C.c_void_p]),
    "fftconv_plan_workspace_bytes": (C.c_size_t, [C.c_void_p]),
    "fftconv_plan_backward_workspace_bytes": (C.c_size_t, [C.c_void_p]),
    "fftconv_plan_backward_status": (C.c_int, [C.c_void_p]),
    "fftconv_prepare_filter": (C.c_int, [C.c_void_p, C.c_void_p, C.c_void_p, C.c_void_p,
                                         C.c_void_p]),
    "fftconv_prepare_filter_sized": (C.c_int, [C.c_void_p, C.c_void_p, C.c_void_p,
                                               C.c_void_p, C.c_size_t, C.c_void_p]),
    "fftconv_prepare_filter_forward": (C.c_int, [C.c_void_p, C.c_void_p, C.c_void_p,
                                                 C.c_void_p, C.c_void_p]),
    "fftconv_plan_forward_filter_bytes": (C.c_size_t, [C.c_void_p]),
    "fftconv_args_init": (None, [C.POINTER(Args)]),
    "fftconv_forward": (C.c_int, [C.c_void_p, C.POINTER(Args), C.c_void_p]),
    "fftconv_plan_forward_launches": (C.c_int, [C.c_void_p]),
    "fftconv_plan_launch_name": (C.c_char_p, [C.c_void_p, C.c_int]),
    "fftconv_plan_launch_bytes": (C.c_int64, [C.c_void_p, C.c_int]),
    "fftconv_forward_launch": (C.c_int, [C.c_void_p, C.POINTER(Args), C.c_int, C.c_void_p]),
    "fftconv_backward_args_init": (None, [C.POINTER(BackwardArgs)]),
    "fftconv_backward": (C.c_int, [C.c_void_p, C.POINTER(BackwardArgs), C.c_void_p]),
}

_lib = None
_lock = threading.Lock()


def load(path):
    """libfftconv at path (ctypes.CDLL's OSError when it cannot be loaded), its functions'
    prototypes set."""
    handle = C.CDLL(path)
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(handle, name)
        fn.restype, fn.argtypes = res, args
    return handle


NVRTC = "libnvrtc.so.13"  # the major version libfftconv is built for


def _toolkit_dirs():
    home = [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH")]
    roots = [h for h in home if h] + ["/usr/local/cuda"]
    return [os.path.join(r, sub) for r in roots
            for sub in ("lib64", "lib", "targets/x86_64-linux/lib")]


def _wheel_dirs():
    """Where torch's CUDA wheels put their libraries: site-packages/nvidia/<pkg>/lib (cu13:
    nvidia/cu13/lib; older: nvidia/cuda_nvrtc/lib)."""
    out = []
    for base in sys.path:
        for lib_dir in sorted(glob.glob(os.path.join(base or ".", "nvidia", "*", "lib"))):
            out.append(lib_dir)
    return out


def find_nvrtc():
    """The NVRTC to name to libfftconv through FFTCONV_NVRTC, or None where it finds one by
    itself (FFTCONV_NVRTC already set; the loader's path, LD_LIBRARY_PATH or ldconfig, has
    it) or none is anywhere. Looked for in that order: the loader's path, the CUDA toolkit
    ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda), then the copy torch's CUDA wheels carry."""
    if os.environ.get("FFTCONV_NVRTC"):
        return None
    path_dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    if any(os.path.exists(os.path.join(d, NVRTC)) for d in path_dirs):
        return None
    if ctypes.util.find_library("nvrtc"):  # ldconfig's cache
        return None
    for d in _toolkit_dirs() + _wheel_dirs():
        if os.path.exists(os.path.join(d, NVRTC)):
            return os.path.join(d, NVRTC)
    return None


def lib():
    """libfftconv, loaded once; RuntimeError naming every place looked when it is missing.
    NVRTC, which it loads when it first compiles, is pointed at the CUDA toolkit's or torch's
    own copy when the loader cannot find one (find_nvrtc)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            nvrtc = find_nvrtc()
            if nvrtc:
                os.environ["FFTCONV_NVRTC"] = nvrtc
            tried = []
            for path in candidates():
                if not os.path.exists(path):
                    tried.append(f"{path} (no such file)")
                    continue
                try:
                    _lib = load(path)
                except OSError as ex:
                    tried.append(f"{path} ({ex})")
                    continue
                break
            if _lib is None:
                raise RuntimeError("libfftconv.so could not be loaded; tried: " + "; ".join(tried)
                                   + ". Install the package with pip (it carries the library) "
                                   "or set FFTCONV_LIB to a built libfftconv.so.")
    return _lib


def problem(batch, heads, seqlen, filter_len, freq_keep, dtype, causal, pre, post, skip_d):
    """A checked fftconv_problem; ValueError with the library's message (it names the field
    and its allowed range) when a field is out of range."""
    L = lib()
    p = Problem()
    L.fftconv_problem_init(C.byref(p))
    p.batch, p.heads, p.seqlen = batch, heads, seqlen
    p.filter_len, p.freq_keep = filter_len, freq_keep
    p.dtype, p.mode = DTYPES[dtype], CAUSAL if causal else CIRCULAR
    p.pre_gate, p.post_gate, p.skip_d = int(pre), int(post), int(skip_d)
    msg = C.create_string_buffer(512)
    if L.fftconv_problem_check(C.byref(p), msg, len(msg)) != 0:
        raise ValueError(msg.value.decode())
    return p


def filter_bytes(p):
    """Bytes of k_hat every plan of problem p needs (both directions), with no GPU."""
    return int(lib().fftconv_problem_filter_bytes(C.byref(p)))


def workspace_bytes(p, op):
    return int(lib().fftconv_problem_workspace_bytes(C.byref(p), op))


def check(status, ctx, what):
    """Raises FFTConvError with the context's message when status is not FFTCONV_OK."""
    if status != 0:
        detail = lib().fftconv_ctx_error(ctx)
        raise FFTConvError(status, f"{what}: {detail.decode() if detail else STATUS[status]}")
