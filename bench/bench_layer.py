"""bench_layer.py: what the Python package adds to a call, on the GPU: host time per call of
fftconv.fft_conv (no grad: the inference op) against the same two C calls (prepare_filter and
forward) made directly through ctypes on preallocated buffers, at B = H = 1, N = 256 fp16
gated (the issue's shape), and a training step's forward + backward. Medians over 2,000 calls
after 200; the GPU is synchronised once per block of calls, so each number is the host's cost
a call (the kernels are a few microseconds at this size and overlap).

    FFTCONV_LIB=build/libfftconv.so PYTHONPATH=python python3 bench/bench_layer.py
"""
import ctypes as C
import statistics
import sys
import time

import torch

import fftconv
from fftconv import _capi, ops


def per_call_us(fn, n=2000, blocks=5):
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(n // blocks):
            fn()
        out.append((time.perf_counter() - t0) / (n // blocks) * 1e6)
        torch.cuda.synchronize()
    return statistics.median(out), min(out), max(out)


def main():
    dev = torch.device("cuda")
    B, H, L = 1, 1, 256
    u, pre, post = (torch.randn(B, H, L, device=dev, dtype=torch.float16) for _ in range(3))
    k = torch.randn(H, L, device=dev) / 16
    fftconv.fft_conv(u, k, pre, post, causal=False)  # makes the plan
    s = ops._shape(0, B, H, L, L, 0, torch.float16, False, True, True, False)
    assert s.fwd_ws == 0, "the baseline below passes no workspace"
    lib = _capi.lib()
    k_hat = torch.empty(s.filter_bytes, dtype=torch.uint8, device=dev)  # the problem's bound
    y = torch.empty_like(u)
    a = _capi.Args()
    lib.fftconv_args_init(C.byref(a))
    a.u, a.pre, a.post, a.k_hat, a.y = u.data_ptr(), pre.data_ptr(), post.data_ptr(), \
        k_hat.data_ptr(), y.data_ptr()
    stream = torch.cuda.current_stream().cuda_stream
    kp, khp = k.data_ptr(), k_hat.data_ptr()

    def c_api():
        lib.fftconv_prepare_filter(s.plan, kp, None, khp, stream)
        lib.fftconv_forward(s.plan, C.byref(a), stream)

    def layer():
        fftconv.fft_conv(u, k, pre, post, causal=False)

    def op():
        ops.conv_fwd_infer(u, k, pre, post, None, False, 0)

    def checks():
        ops.check_inputs(u, k, pre, post)

    ug, kg = u.clone().requires_grad_(True), k.clone().requires_grad_(True)

    def train_step():
        fftconv.fft_conv(ug, kg, pre, post, causal=False).sum().backward()

    print(f"device {torch.cuda.get_device_name()}; torch {torch.__version__}; python "
          f"{sys.version.split()[0]}; B={B} H={H} L={L} fp16 circular gated; host us a call "
          "(median, min, max of 5 blocks)")
    c = per_call_us(c_api)
    f = per_call_us(layer)
    print(f"C API through ctypes (prepare_filter + forward)  {c[0]:7.2f}  ({c[1]:.2f}-{c[2]:.2f})")
    print(f"fftconv.fft_conv, no grad                         {f[0]:7.2f}  ({f[1]:.2f}-{f[2]:.2f})")
    print(f"the layer's cost over the C API                   {f[0] - c[0]:7.2f}  (target <= 10)")
    o = per_call_us(op)
    print(f"  the same through the dispatcher (conv_fwd_infer) {o[0]:7.2f}  ({o[1]:.2f}-{o[2]:.2f})")
    ch = per_call_us(checks)
    print(f"  of which the input checks                        {ch[0]:7.2f}  ({ch[1]:.2f}-{ch[2]:.2f})")
    # where the layer's time goes, piece by piece
    nb = s.filter_bytes
    pieces = [
        ("torch.empty(k_hat's bytes, uint8, cuda)", lambda: torch.empty(nb, dtype=torch.uint8, device=dev)),
        ("torch.empty_like(u)", lambda: torch.empty_like(u)),
        ("the raw current stream", lambda: ops._stream(0)),
        ("the shape's lookup", lambda: ops._shape(0, B, H, L, L, 0, torch.float16, False, True, True, False)),
        ("whether to call directly", lambda: ops._direct(u, k, pre, post, None)),
        ("fftconv_prepare_filter (ctypes)", lambda: lib.fftconv_prepare_filter(s.plan, kp, None, khp, stream)),
        ("fftconv_prepare_filter_sized (ctypes)", lambda: lib.fftconv_prepare_filter_sized(s.plan, kp, None, khp, nb, stream)),
        ("fftconv_forward (ctypes)", lambda: lib.fftconv_forward(s.plan, C.byref(a), stream)),
    ]
    for name, fn in pieces:
        m = per_call_us(fn)
        print(f"  {name:47s} {m[0]:7.2f}  ({m[1]:.2f}-{m[2]:.2f})")
    t = per_call_us(train_step, n=1000)
    print(f"a training step (forward + sum + backward)        {t[0]:7.2f}  ({t[1]:.2f}-{t[2]:.2f})")


if __name__ == "__main__":
    main()
