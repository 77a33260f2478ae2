#!/usr/bin/env python3
"""bench_torch.py: libfftconv driven from PyTorch tensors, against PyTorch's own FFT
convolutions measured in the same run on the same inputs.

The operation is the gated convolution y = post * ((pre * u) conv k), fp16 or bf16 I/O,
B x H rows. For each length it times, with CUDA events after warm-up and a 256 MiB L2 scrub
before each run (median, 10th and 90th percentile of --runs):
  fftconv   libfftconv's plan for the problem (tuned from --cache, or as --policy says)
  rfft32    torch.fft.rfft/irfft in fp32 with the filter spectrum computed once
  torch.fft the same with the filter spectrum computed on every call (FlashFFTConv's
            PyTorch baseline does this; --no-torch-fft leaves it out)
  FlashFFTConv  with --flashfftconv: FlashFFTConv(N) on the same tensors, built on the device
            by ../shared/tools/ffc-kit (its directory on PYTHONPATH)
Above N = 32768 the batch is reduced as FlashFFTConv's benchmark does (B = 8, H = 768 at 64K
halving to 16 at 4M) and every time is scaled back to --batch x --heads.
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
    _fields_ = [("size", C.c_size_t), ("batch", C.c_int64), ("heads", C.c_int64), ("seqlen", C.c_int64),
                ("filter_len", C.c_int64), ("freq_keep", C.c_int64), ("dtype", C.c_int),
                ("mode", C.c_int), ("pre_gate", C.c_int), ("post_gate", C.c_int),
                ("skip_d", C.c_int)]


class CtxOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("device", C.c_int), ("arch", C.c_char_p), ("cache_path", C.c_char_p),
                ("no_cache", C.c_int), ("policy", C.c_int), ("bundle_path", C.c_char_p),
                ("bundle_image", C.c_void_p)]


class Args(C.Structure):
    _fields_ = [("size", C.c_size_t), ("u", C.c_void_p), ("pre", C.c_void_p),
                ("post", C.c_void_p), ("k_hat", C.c_void_p), ("y", C.c_void_p),
                ("workspace", C.c_void_p), ("workspace_bytes", C.c_size_t)]


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
        lib.fftconv_plan_workspace_bytes.restype = C.c_size_t
        lib.fftconv_plan_workspace_bytes.argtypes = [C.c_void_p]
        lib.fftconv_ctx_options_init.argtypes = [C.POINTER(CtxOptions)]
        lib.fftconv_args_init.argtypes = [C.POINTER(Args)]
        lib.fftconv_plan_destroy.argtypes = [C.c_void_p]
        lib.fftconv_prepare_filter.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_void_p,
                                               C.c_void_p]
        lib.fftconv_forward.argtypes = [C.c_void_p, C.POINTER(Args), C.c_void_p]
        self.lib = lib

    def context(self, cache=None, policy="fallback"):
        o = CtxOptions()
        self.lib.fftconv_ctx_options_init(C.byref(o))
        o.cache_path = cache.encode() if cache else None
        o.policy = POLICIES[policy]
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


# Above 32K the batch is reduced the way FlashFFTConv's own benchmark does (B = 8, H below)
# and every time is scaled back to --batch x --heads.
REDUCED_HEADS = {65536: 768, 131072: 384, 262144: 192, 524288: 96, 1048576: 48,
                 2097152: 32, 4194304: 16}


def kernel_summary(desc):
    """'monarch_tc 16x16x16 warps=4 pairs=1 [tuned]' from fftconv_plan_describe's text."""
    import json
    import re
    m = re.match(r"(\S+) r\d+ \(\w+\) (\{.*\}) \[([^;\]]+)", desc)
    if not m:
        return desc
    p = json.loads(m.group(2))
    rest = " ".join(f"{k}={p[k]}" for k in ("warps", "pairs", "seqs", "threads", "dft", "tile",
                                             "threads_cols", "threads_rows", "ws") if k in p)
    fac = "x".join(map(str, p.get("factors", [])))
    if "n2" in p:
        fac = f"{p['fft_size'] // p['n2']}x{p['n2']}"
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
    ap.add_argument("--flashfftconv", action="store_true",
                    help="also time FlashFFTConv (import flashfftconv; see ../shared/tools/ffc-kit)")
    ap.add_argument("--no-torch-fft", action="store_true", help="skip the torch.fft column")
    a = ap.parse_args()

    import torch  # imported here so that --help works without PyTorch

    if not torch.cuda.is_available():
        sys.exit("bench_torch: needs a CUDA device")
    torch.manual_seed(0)
    dev = torch.device("cuda")
    tdt = torch.float16 if a.dtype == "fp16" else torch.bfloat16
    fc = FFTConv(a.lib)
    FlashFFTConv = None
    if a.flashfftconv:
        from flashfftconv import FlashFFTConv
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
            if n > 32768 and n in REDUCED_HEADS:
                B, H = 8, min(a.heads, REDUCED_HEADS[n])
            scale = a.batch * a.heads / (B * H)
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
            ws = torch.empty(max(1, fc.lib.fftconv_plan_workspace_bytes(plan)), dtype=torch.uint8,
                             device=dev)
            args = Args()
            fc.lib.fftconv_args_init(C.byref(args))
            args.u, args.pre, args.post = u.data_ptr(), pre.data_ptr(), post.data_ptr()
            args.k_hat, args.y = k_hat.data_ptr(), out.data_ptr()
            args.workspace, args.workspace_bytes = ws.data_ptr(), ws.numel()

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

            def scaled(t):
                return tuple(x * scale for x in t)

            t_ours = scaled(timeit(ours))
            t_r32 = scaled(timeit(rfft32))
            t_tf = (math.nan,) * 3 if a.no_torch_fft else scaled(timeit(torch_fft))
            t_ffc, e_ffc, ffc_out = (math.nan,) * 3, math.nan, None
            if FlashFFTConv:
                ffc = FlashFFTConv(n, dtype=tdt).to(dev)

                def flash():
                    return ffc(u, k, pre, post)

                t_ffc = scaled(timeit(flash))
                ffc_out = flash()
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
            if ffc_out is not None:
                e_ffc = err(ffc_out)
            floor = a.batch * a.heads * L * 8 / (gbps * 1e9) * 1e3
            rows.append((mode, n, L, B, H, t_ours, t_r32, t_tf, t_ffc, floor, e_ours, e_r32,
                         e_ffc, desc))
            print(f"{mode:8s} N={n:7d} B={B} H={H}  fftconv {t_ours[0]:9.4f} ms  rfft32 "
                  f"{t_r32[0]:9.4f}  FFC {t_ffc[0]:9.4f}  err {e_ours:.1e} FFC {e_ffc:.1e}",
                  file=sys.stderr, flush=True)
            fc.lib.fftconv_plan_destroy(plan)
            del u, pre, post, k, out, k_hat, k_f, ws, ffc_out
            ffc = None
            torch.cuda.empty_cache()
    print(f"times in ms scaled to B={a.batch} H={a.heads}; above N=32768 measured at B x H as "
          "listed (FlashFFTConv's reduced batches)\n")
    print("| mode | N | L | measured B x H | fftconv ms | p10-p90 | FlashFFTConv ms | "
          "FFC/fftconv | rfft32 ms | rfft32/fftconv | torch.fft ms | floor ms | "
          "fftconv %floor | err fftconv | err FFC | err rfft32 | kernel |")
    print("|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    logs = []
    for mode, n, L, B, H, to, tr, tt, tf, fl, eo, er, ef, desc in rows:
        if not math.isnan(tf[0]):
            logs.append(math.log(tf[0] / to[0]))
        print(f"| {mode} | {n} | {L} | {B}x{H} | {to[0]:.4f} | {to[1]:.4f}-{to[2]:.4f} | "
              f"{tf[0]:.4f} | {tf[0] / to[0]:.2f}x | {tr[0]:.4f} | {tr[0] / to[0]:.2f}x | "
              f"{tt[0]:.4f} | {fl:.4f} | {100 * fl / to[0]:.1f}% | {eo:.1e} | {ef:.1e} | "
              f"{er:.1e} | {kernel_summary(desc)} |")
    if logs:
        print(f"\ngeometric mean of FlashFFTConv's time over fftconv's, {len(logs)} shapes: "
              f"{math.exp(sum(logs) / len(logs)):.2f}x; slowest ratio "
              f"{math.exp(min(logs)):.2f}x")
    fc.lib.fftconv_ctx_destroy(ctx)


if __name__ == "__main__":
    main()
