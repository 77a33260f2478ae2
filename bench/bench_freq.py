#!/usr/bin/env python3
"""bench_freq.py: frequency-sparse convolutions (the filter spectrum kept on a low band, the
rest zero: freq_keep F, the bins f with min(f, N - f) < F), gated: fftconv against the dense
FFT of the same length and FlashFFTConv's FrequencySparseFFTConv on the same tensors, in one
run on one GPU.

For each L (u, pre, post of shape (B, H, L), B = 64 and H = 768 as in ../shared/TARGETS.md,
filters of L taps) and mode (causal: N = 2L; circular: N = L), with F = N * --keep / 2 (the
default 1/4 of the bins kept: F = N/8), it times with CUDA events after warm-up and a 256 MiB
L2 scrub before each run (median, 10th and 90th percentile of --runs):
  fftconv   fftconv.fft_conv(u, k, pre, post, causal=..., freq_keep=F), planned from --cache
            (--tune runs fftconv-tune on each shape first: every family, or --template's)
  dense     the same call without the mask, tuned too (its cost is the masked problem's
            before banded kernels: the mask is folded into the filter spectrum)
  FFC       with --flashfftconv or --flashfftconv-src: post * FrequencySparseFFTConv(2F)(pre * u,
            k) from FlashFFTConv's sparse_conv.py (a PyTorch example: an fp32 FFT of size 2L
            with the high bins zeroed; causal only)
and prints the shape, dtype, device, each time, each baseline's time over fftconv's, the
fraction of the memory floor (u, pre and post read and y written once, over the copy
bandwidth measured in this run) and each method's relative L2 error against a float64 FFT
reference on the first row.

  python3 bench/bench_freq.py --cache /tmp/freq.db --tune build/fftconv-tune
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from bench_partial import ffc_sparse, time_ffc  # noqa: E402
from bench_short import plan_of  # noqa: E402
from bench_torch import copy_gbps, event_timer  # noqa: E402  (the same timing and floor)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="2048,4096,8192,16384,32768")
    ap.add_argument("--modes", default="causal,circular")
    ap.add_argument("--keep", type=float, default=0.25, help="the fraction of bins kept")
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--heads", type=int, default=768)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cache", help="kernel cache (default: libfftconv's); sets FFTCONV_CACHE")
    ap.add_argument("--tune", metavar="FFTCONV_TUNE",
                    help="run this fftconv-tune on each shape (forward) into --cache first")
    ap.add_argument("--template", default="all", help="the family --tune searches (default all)")
    ap.add_argument("--rigor", default="measure", help="--tune's rigor (default measure)")
    ap.add_argument("--flashfftconv", action="store_true",
                    help="FlashFFTConv's FrequencySparseFFTConv from the installed package")
    ap.add_argument("--flashfftconv-src", metavar="DIR",
                    help="... or from DIR/flashfftconv/sparse_conv.py itself (PyTorch only)")
    a = ap.parse_args()
    if a.cache:
        os.environ["FFTCONV_CACHE"] = a.cache
    import torch
    import fftconv
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    dev = "cuda"
    FFC = ffc_sparse(a, "FrequencySparseFFTConv")
    timeit = event_timer(torch, a.runs, dev)
    gbps = copy_gbps(torch, timeit, dev)
    B, H = a.batch, a.heads
    print(f"device {torch.cuda.get_device_name()}  dtype {a.dtype}  gated (pre, post)  B x H "
          f"{B}x{H}  bins kept {a.keep}  copy bandwidth {gbps:.0f} GB/s  runs {a.runs}")
    print("| mode | L | N | F | fftconv ms (p10-p90) | fftconv %floor | dense ms | dense/fftconv | "
          "FFC ms | FFC/fftconv | err fftconv | err dense | err FFC |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in a.modes.split(","):
        causal = mode == "causal"
        for L in map(int, a.lengths.split(",")):
            N = 2 * L if causal else L
            F = max(1, int(N * a.keep / 2))
            for keep in ([F, 0] if a.tune else []):  # the masked shape and the dense one
                subprocess.run([a.tune, "--op", "forward", "--batch", str(B), "--heads", str(H),
                                "--seqlen", str(L), "--freq-keep", str(keep), "--mode", mode,
                                "--dtype", a.dtype, "--pregate", "--postgate", "--quiet",
                                "--rigor", a.rigor] +
                               (["--template", a.template] if a.template != "all" else []) +
                               (["--cache", a.cache] if a.cache else []), check=False)
            g = torch.Generator(device=dev).manual_seed(F * 7 + L)
            u = torch.randn(B, H, L, device=dev, generator=g).to(dt)
            pre = torch.randn(B, H, L, device=dev, generator=g).to(dt)
            post = torch.randn(B, H, L, device=dev, generator=g).to(dt)
            k = torch.randn(H, L, device=dev, generator=g) / L ** 0.5
            ours = lambda: fftconv.fft_conv(u, k, pre, post, causal=causal, freq_keep=F)  # noqa: E731
            t_o = timeit(ours)
            # the reference: row (0, 0) through a float64 FFT of size N, the filter's bins masked
            v0 = u[0, 0].double() * pre[0, 0].double()
            kf = torch.fft.fft(k[0].double(), n=N)
            f = torch.arange(N, device=dev)
            kf[torch.minimum(f, N - f) >= F] = 0
            z = torch.fft.ifft(torch.fft.fft(v0, n=N) * kf).real[:L]
            ref = z * post[0, 0].double()
            del v0, z, kf

            def err(y):
                return ((y[0, 0].double() - ref).norm() / ref.norm()).item()

            e_o = err(ours())
            print(f"{mode} L={L} F={F}: {plan_of(fftconv, u, k)}", file=sys.stderr, flush=True)
            dense = lambda: fftconv.fft_conv(u, k, pre, post, causal=causal)  # noqa: E731
            t_d = timeit(dense)
            t_f, e_f = (float("nan"),) * 3, float("nan")
            if FFC is not None and causal:
                t_f, e_f = time_ffc(torch, FFC(2 * F), u, k, pre, post, timeit, err, f"L={L}")
            floor_ms = 4 * u.numel() * u.element_size() / gbps / 1e6
            print(f"| {mode} | {L} | {N} | {F} | {t_o[0]:.4f} ({t_o[1]:.4f}-{t_o[2]:.4f}) | "
                  f"{100 * floor_ms / t_o[0]:.1f}% | {t_d[0]:.4f} | {t_d[0] / t_o[0]:.2f}x | "
                  f"{t_f[0]:.4f} | {t_f[0] / t_o[0]:.2f}x | {e_o:.1e} | (unmasked) | {e_f:.1e} |",
                  flush=True)
            del u, pre, post
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
