#!/usr/bin/env python3
"""bench_short.py: short filters (K taps, K <= 64), the depthwise convolutions Hyena blocks put
before the long one: fftconv against cuDNN's conv1d and FlashFFTConv's FlashDepthWiseConv1d on
the same tensors, in one run on one GPU.

For each K and L (x of shape (B, H, L), B x H x L about 2^27 elements, H = 768 where that
fits), it times with CUDA events after warm-up and a 256 MiB L2 scrub before each run
(median, 10th and 90th percentile of --runs):
  fftconv   fftconv.fft_conv(x, flip(w), causal=True), the causal depthwise convolution
            (conv1d with padding K - 1, its first L outputs), planned from --cache (tune the
            shapes first: --tune runs fftconv-tune on each, the direct family's candidates
            by default, --template all for every family) or the built-in choice
  conv1d    torch.nn.functional.conv1d(x, w, padding=K - 1, groups=H)[..., :L] (cuDNN)
  FFT       fftconv of the same problem with the filter zero-padded to L taps (the dense FFT
            families' built-in choice): what a short filter cost before the direct kernels
  FFC       with --flashfftconv: FlashDepthWiseConv1d(H, K, K - 1, w, b=0) from FlashFFTConv
            (its directory on PYTHONPATH; ../shared/tools/ffc-kit builds it); it takes odd K
            only ("Filter size must be odd number"), so even K shows n/a
and prints the shape, dtype, device, each time, each baseline's time over fftconv's, the
fraction of the memory floor (x read and y written once, over the copy bandwidth measured in
this run) and each method's relative L2 error against float64 conv1d on the first rows.

  python3 bench/bench_short.py --cache /tmp/short.db --tune build/fftconv-tune
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from bench_torch import copy_gbps, event_timer  # noqa: E402  (the same timing and floor)

TOTAL = 1 << 27


def shape(L):
    H = max(1, min(768, TOTAL // L))
    return max(1, TOTAL // (H * L)), H


def plan_of(fftconv, x, k):
    """The description of the plan fft_conv(x, k, causal=True) runs (its family and
    parameters, tuned or built in)."""
    from fftconv import _capi, _runtime
    B, H, L = x.shape
    for (dev, _, fields), sh in list(_runtime._shapes.items()):
        if dev == x.get_device() and fields[:4] == (B, H, L, k.shape[1]):
            return _capi.lib().fftconv_plan_describe(sh.plan).decode()
    return "no plan found"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--taps", default="3,4,7,16,64")
    ap.add_argument("--lengths", default="1024,16384,262144,1048576")
    ap.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="fp16")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cache", help="kernel cache (default: libfftconv's); sets FFTCONV_CACHE")
    ap.add_argument("--tune", metavar="FFTCONV_TUNE",
                    help="run this fftconv-tune on each shape (forward) into --cache first")
    ap.add_argument("--template", default="direct",
                    help="the family --tune searches (default direct: an FFT family's search "
                         "at every shape takes minutes; 'all' searches every family)")
    ap.add_argument("--flashfftconv", action="store_true")
    a = ap.parse_args()
    if a.cache:
        os.environ["FFTCONV_CACHE"] = a.cache
    import torch
    import fftconv
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
    dev = "cuda"
    FFC = None
    if a.flashfftconv:
        from flashfftconv import FlashDepthWiseConv1d as FFC
    timeit = event_timer(torch, a.runs, dev)
    gbps = copy_gbps(torch, timeit, dev)
    print(f"device {torch.cuda.get_device_name()}  dtype {a.dtype}  copy bandwidth {gbps:.0f} "
          f"GB/s  runs {a.runs}")
    print("| K | L | B x H | fftconv ms (p10-p90) | conv1d ms | conv1d/fftconv | FFT ms | "
          "FFT/fftconv | FFC ms | FFC/fftconv | fftconv %floor | err fftconv | err conv1d | "
          "err FFC |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for K in map(int, a.taps.split(",")):
        for L in map(int, a.lengths.split(",")):
            B, H = shape(L)
            if a.tune:
                subprocess.run([a.tune, "--op", "forward", "--batch", str(B), "--heads", str(H),
                                "--seqlen", str(L), "--filter-len", str(K), "--mode", "causal",
                                "--dtype", a.dtype, "--quiet"] +
                               (["--template", a.template] if a.template != "all" else []) +
                               (["--cache", a.cache] if a.cache else []), check=False)
            g = torch.Generator(device=dev).manual_seed(K * 7 + L)
            x = torch.randn(B, H, L, device=dev, generator=g).to(dt)
            w = torch.randn(H, K, device=dev, generator=g) / K
            kf = torch.flip(w, (-1,)).contiguous()
            wt = w.to(dt)[:, None, :]
            ours = lambda: fftconv.fft_conv(x, kf, causal=True)  # noqa: E731
            cud = lambda: torch.nn.functional.conv1d(x, wt, padding=K - 1, groups=H)[..., :L]  # noqa: E731
            t_o, t_c = timeit(ours), timeit(cud)
            rows = min(B, 2)
            ref = torch.nn.functional.conv1d(x[:rows].double(), w.double()[:, None, :],
                                             padding=K - 1, groups=H)[..., :L]

            def err(y):
                return ((y[:rows].double() - ref).norm() / ref.norm()).item()

            e_o, e_c = err(ours()), err(cud())
            print(f"K={K} L={L}: {plan_of(fftconv, x, kf)}", file=sys.stderr, flush=True)
            kd = torch.zeros(H, L, device=dev)
            kd[:, :K] = kf
            t_d = timeit(lambda: fftconv.fft_conv(x, kd, causal=True))
            del kd
            t_f, e_f = (float("nan"),) * 3, float("nan")
            if FFC is not None and K % 2:
                m = FFC(H, K, K - 1, w.to(dt), torch.zeros(H, device=dev, dtype=dt)).to(dev)
                ffc = lambda: m(x)  # noqa: E731
                t_f = timeit(ffc)
                e_f = err(ffc()[..., :L])
            floor_ms = 2 * x.numel() * x.element_size() / gbps / 1e6
            print(f"| {K} | {L} | {B}x{H} | {t_o[0]:.4f} ({t_o[1]:.4f}-{t_o[2]:.4f}) | "
                  f"{t_c[0]:.4f} | {t_c[0] / t_o[0]:.2f}x | {t_d[0]:.4f} | "
                  f"{t_d[0] / t_o[0]:.2f}x | {t_f[0]:.4f} | "
                  f"{t_f[0] / t_o[0]:.2f}x | {100 * floor_ms / t_o[0]:.1f}% | {e_o:.1e} | "
                  f"{e_c:.1e} | {e_f:.1e} |", flush=True)


if __name__ == "__main__":
    main()
