#!/usr/bin/env python3
"""bench_torch.py: libfftconv driven from PyTorch tensors, against PyTorch's own FFT
convolutions measured in the same run on the same inputs.

The operation is the gated convolution y = post * ((pre * u) conv k), fp16 or bf16 I/O,
B x H rows. For each length it times, with CUDA events after warm-up and a 256 MiB L2 scrub
before each run (median, 10th and 90th percentile of --runs):
  fftconv   libfftconv's plan for the problem (tuned from --cache, or as --policy says)
  rfft32    torch.fft.rfft/irfft in fp32 with the filter spectrum computed once
  torch.fft the same with the filter spectrum computed on every call (FlashFFTConv's
            PyTorch baseline does this)
and prints ms, the ratio of each baseline's time to fftconv's, the fraction of the memory
floor (u, pre, post read and y written once, over the copy bandwidth measured in this run)
and each method's relative L2 error against a float64 torch reference on the first rows.

  python3 bench/bench_torch.py --lib build/libfftconv.so --cache /tmp/tuned.db
"""
import argparse
import ctypes as C
import math
import os
import sys


class Problem(C.Structure):
    _fields_ = [("batch", C.c_int64), ("heads", C.c_int64), ("seqlen", C.c_int64),
                ("filter_len", C.c_int64), ("freq_keep", C.c_int64), ("dtype", C.c_int),
                ("mode", C.c_int), ("pre_gate", C.c_int), ("post_gate", C.c_int),
                ("skip_d", C.c_int)]


class CtxOptions(C.Structure):
    _fields_ = [("device", C.c_int), ("arch", C.c_char_p), ("cache_path", C.c_char_p),
                ("no_cache", C.c_int), ("policy", C.c_int)]


class Args(C.Structure):
    _fields_ = [("u", C.c_void_p), ("pre", C.c_void_p), ("post", C.c_void_p),
                ("k_hat", C.c_void_p), ("y", C.c_void_p)]


DTYPES = {"fp32": 0, "fp16": 1, "bf16": 2}
MODES = {"causal": 0, "circular": 1}
POLICIES = {"fallback": 0, "tuned-only": 1, "quick-tune": 2}


class FFTConv:
    """A thin ctypes binding of src/fftconv.h."""

    def __init__(self, path):
        lib = C.CDLL(path)
        lib.fftconv_ctx_create.argtypes = [C.POINTER(CtxOptions), C.POINTER(C.c_void_p)]
        lib.fftconv_ctx_error.restype = C.c_char_p
        lib.fftconv_ctx_error.argtypes = [C.c_void_p]
        lib.fftconv_ctx_device.restype = C.c_char_p
        lib.fftconv_ctx_device.argtypes = [C.c_void_p]
        lib.fftconv_ctx_cache.restype = C.c_char_p
        lib.fftconv_ctx_cache.argtypes = [C.c_void_p]
        lib.fftconv_ctx_destroy.argtypes = [C.c_void_p]
        lib.fftconv_problem_init.argtypes = [C.POINTER(Problem)]
        lib.fftconv_plan_create.argtypes = [C.c_void_p, C.POINTER(Problem), C.POINTER(C.c_void_p)]
        lib.fftconv_plan_describe.restype = C.c_char_p
        lib.fftconv_plan_describe.argtypes = [C.c_void_p]
        lib.fftconv_plan_filter_bytes.restype = C.c_size_t
        lib.fftconv_plan_filter_bytes.argtypes = [C.c_void_p]
        lib.fftconv_plan_destroy.argtypes = [C.c_void_p]
        lib.fftconv_prepare_filter.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_void_p,
                                               C.c_void_p]
        lib.fftconv_forward.argtypes = [C.c_void_p, C.POINTER(Args), C.c_void_p]
        self.lib = lib

    def context(self, cache=None, policy="fallback"):
        o = CtxOptions(0, None, cache.encode() if cache else None, 0, POLICIES[policy])
        ctx = C.c_void_p()
        if self.lib.fftconv_ctx_create(C.byref(o), C.byref(ctx)) != 0:
            raise RuntimeError(self.lib.fftconv_ctx_error(None).decode())
        return ctx

    def plan(self, ctx, batch, heads, seqlen, dtype, mode, pre=True, post=True):
        p = Problem()
        self.lib.fftconv_problem_init(C.byref(p))
        p.batch, p.heads, p.seqlen = batch, heads, seqlen
        p.dtype, p.mode = DTYPES[dtype], MODES[mode]
        p.pre_gate, p.post_gate = int(pre), int(post)
        plan = C.c_void_p()
        if self.lib.fftconv_plan_create(ctx, C.byref(p), C.byref(plan)) != 0:
            raise RuntimeError(self.lib.fftconv_ctx_error(ctx).decode())
        return plan

    def check(self, ctx, status, what):
        if status != 0:
            raise RuntimeError(f"{what}: {self.lib.fftconv_ctx_error(ctx).decode()}")


# FlashFFTConv's times from ../shared/TARGETS.md (same H100 model, B=64 H=768, gated), ms.
# FlashFFTConv is not installed where this runs, so these are quoted, not measured here.
FFC = {
    ("circular", "fp16"): {256: 0.203, 512: 0.257, 1024: 0.377, 2048: 0.729, 4096: 1.484,
                           8192: 3.608, 16384: 12.598, 32768: 27.016},
    ("circular", "bf16"): {256: 0.196, 512: 0.279, 1024: 0.500, 2048: 1.006, 4096: 1.709,
                           8192: 4.067, 16384: 17.603, 32768: 40.696},
    ("causal", "fp16"): {256: 0.178, 1024: 0.337, 4096: 1.438, 8192: 3.630, 16384: 10.88,
                         32768: 25.52},
}


def kernel_summary(desc):
    """'monarch_tc 16x16x16 warps=4 pairs=1 [tuned]' from fftconv_plan_describe's text."""
    import json
    import re
    m = re.match(r"(\S+) r\d+ \(\w+\) (\{.*\}) \[([^;\]]+)", desc)
    if not m:
        return desc
    p = json.loads(m.group(2))
    rest = " ".join(f"{k}={p[k]}" for k in ("warps", "pairs", "seqs", "threads", "dft")
                    if k in p)
    fac = "x".join(map(str, p.get("factors", [])))
    return f"{m.group(1)} {fac} {rest} [{m.group(3).split(':')[0]}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default="build/libfftconv.so", help="path of libfftconv.so")
    ap.add_argument("--cache", help="kernel cache to plan from (default: libfftconv's)")
    ap.add_argument("--policy", choices=POLICIES, default="fallback",
                    help="what plan_create does without a tuned kernel")
    ap.add_argument("--sizes", default="256,1024,4096,8192,16384,32768",
                    help="FFT sizes N (circular L = N, causal L = N/2)")
    ap.add_argument("--modes", default="circular,causal")
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--heads", type=int, default=768)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--check-rows", type=int, default=96,
                    help="rows compared with the float64 reference")
    a = ap.parse_args()

    import torch  # imported here so that --help works without PyTorch

    if not torch.cuda.is_available():
        sys.exit("bench_torch: needs a CUDA device")
    torch.manual_seed(0)
    dev = torch.device("cuda")
    tdt = torch.float16 if a.dtype == "fp16" else torch.bfloat16
    fc = FFTConv(a.lib)
    ctx = fc.context(a.cache, a.policy)
    stream = torch.cuda.current_stream().cuda_stream
    scrub = torch.empty(256 << 20, dtype=torch.uint8, device=dev)

    def timeit(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(a.runs):
            scrub.zero_()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
        times.sort()
        n = len(times)
        return times[n // 2], times[(n - 1) // 10], times[n - 1 - (n - 1) // 10]

    x = torch.empty(1 << 28, dtype=torch.float32, device=dev)  # 1 GiB
    y = torch.empty_like(x)
    ms = timeit(lambda: y.copy_(x))[0]
    gbps = 2 * x.numel() * 4 / (ms * 1e-3) / 1e9
    del x, y
    print(f"device   {fc.lib.fftconv_ctx_device(ctx).decode()}; torch {torch.__version__}")
    print(f"cache    {fc.lib.fftconv_ctx_cache(ctx).decode()} (policy {a.policy})")
    print(f"copy     {gbps:.0f} GB/s device-to-device (read + write): the floor's bandwidth")
    print(f"problem  gated (pre, post), {a.dtype} I/O, B={a.batch} H={a.heads}, median of "
          f"{a.runs} runs, L2 scrubbed\n")
    rows = []
    for mode in a.modes.split(","):
        for n in map(int, a.sizes.split(",")):
            L = n if mode == "circular" else n // 2
            B, H = a.batch, a.heads
            u = torch.randn(B, H, L, device=dev).to(tdt)
            pre = torch.randn(B, H, L, device=dev).to(tdt)
            post = torch.randn(B, H, L, device=dev).to(tdt)
            k = torch.randn(H, L, device=dev) / math.sqrt(L)
            out = torch.empty_like(u)
            plan = fc.plan(ctx, B, H, L, a.dtype, mode)
            desc = fc.lib.fftconv_plan_describe(plan).decode()
            k_hat = torch.empty(fc.lib.fftconv_plan_filter_bytes(plan), dtype=torch.uint8,
                                device=dev)
            fc.check(ctx, fc.lib.fftconv_prepare_filter(plan, k.data_ptr(), None,
                                                          k_hat.data_ptr(), stream), "prepare")
            args = Args(u.data_ptr(), pre.data_ptr(), post.data_ptr(), k_hat.data_ptr(),
                        out.data_ptr())

            def ours():
                fc.check(ctx, fc.lib.fftconv_forward(plan, C.byref(args), stream), "forward")

            k_f = torch.fft.rfft(k, n=n)

            def rfft32():
                v = u.float() * pre.float()
                z = torch.fft.irfft(torch.fft.rfft(v, n=n) * k_f, n=n)[..., :L]
                return (z * post.float()).to(tdt)

            def torch_fft():
                v = u.float() * pre.float()
                z = torch.fft.irfft(torch.fft.rfft(v, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L]
                return (z * post.float()).to(tdt)

            t_ours = timeit(ours)
            t_r32 = timeit(rfft32)
            t_tf = timeit(torch_fft)
            # Accuracy on the first rows against float64.
            ours()
            torch.cuda.synchronize()
            r = min(a.check_rows, B * H)
            uf, pf, qf = (t.reshape(B * H, L)[:r].double() for t in (u, pre, post))
            kf = k.double()[torch.arange(r, device=dev) % H]
            ref = torch.fft.irfft(torch.fft.rfft(uf * pf, n=n) * torch.fft.rfft(kf, n=n), n=n)
            ref = ref[..., :L] * qf

            def err(t):
                d = t.reshape(B * H, L)[:r].double() - ref
                return (d.norm() / ref.norm()).item()

            e_ours, e_r32 = err(out), err(rfft32())
            floor = B * H * L * 8 / (gbps * 1e9) * 1e3
            rows.append((mode, n, L, t_ours, t_r32, t_tf, floor, e_ours, e_r32, desc))
            print(f"{mode:8s} N={n:6d}  fftconv {t_ours[0]:9.4f} ms  rfft32 {t_r32[0]:9.4f}  "
                  f"torch.fft {t_tf[0]:9.4f}  err {e_ours:.1e}", file=sys.stderr)
            fc.lib.fftconv_plan_destroy(plan)
            del u, pre, post, k, out, k_hat, k_f
            torch.cuda.empty_cache()
    print("| mode | N | L | fftconv ms | p10-p90 | rfft32 ms | torch.fft ms | rfft32/fftconv | "
          "torch.fft/fftconv | FlashFFTConv ms (TARGETS.md) | FFC/fftconv | floor ms | "
          "fftconv %floor | err fftconv | err rfft32 | kernel |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    logs = []
    for mode, n, L, to, tr, tt, fl, eo, er, desc in rows:
        ffc = FFC.get((mode, a.dtype), {}).get(n)
        if ffc:
            logs.append(math.log(ffc / to[0]))
        fs = f"{ffc:.3f} | {ffc / to[0]:.2f}x" if ffc else "- | -"
        print(f"| {mode} | {n} | {L} | {to[0]:.4f} | {to[1]:.4f}-{to[2]:.4f} | {tr[0]:.4f} | "
              f"{tt[0]:.4f} | {tr[0] / to[0]:.2f}x | {tt[0] / to[0]:.2f}x | {fs} | {fl:.4f} | "
              f"{100 * fl / to[0]:.1f}% | {eo:.1e} | {er:.1e} | {kernel_summary(desc)} |")
    if logs:
        print(f"\ngeometric mean of FlashFFTConv's time over fftconv's, {len(logs)} shapes: "
              f"{math.exp(sum(logs) / len(logs)):.2f}x; slowest ratio "
              f"{math.exp(min(logs)):.2f}x")
    fc.lib.fftconv_ctx_destroy(ctx)


if __name__ == "__main__":
    main()
