#!/usr/bin/env python3
"""bench_partial.py: partial convolutions (a causal filter of K taps, K much shorter than L),
gated: fftconv against the dense FFT of the same problem and FlashFFTConv's PartialFFTConv on
the same tensors, in one run on one GPU.

For each K and L (u, pre, post of shape (B, H, L), B x H x L about 2^27 elements), it times
with CUDA events after warm-up and a 256 MiB L2 scrub before each run (median, 10th and 90th
percentile of --runs):
  fftconv   fftconv.fft_conv(u, k, pre, post, causal=True) with k of K taps, planned from
            --cache (tune the shapes first: --tune runs fftconv-tune on each, the overlap_tc
            family's candidates by default, --template all for every family) or the built-in
            choice
  dense     fftconv of the same problem with the filter zero-padded to L taps (the dense FFT
            families' built-in choice; only where their FFT of 2L fits, L <= 2M): what a
            partial filter cost before
  FFC       with --flashfftconv: post * PartialFFTConv(K)(pre * u, k) from FlashFFTConv's
            sparse_conv.py (a PyTorch example: an fp32 FFT of size 2L; its directory on
            PYTHONPATH, ../shared/tools/ffc-kit builds it), or with --flashfftconv-src DIR that
            file alone from FlashFFTConv's source tree (it needs no CUDA extension)
and prints the shape, dtype, device, each time, each baseline's time over fftconv's, the
fraction of the memory floor (u, pre and post read and y written once, over the copy
bandwidth measured in this run) and each method's relative L2 error against a float64 FFT
reference on the first row.

--backward times a training step instead: the forward and torch.autograd.backward(dy) with
every gradient (u, pre, post and k), as one step, for fftconv (--tune tunes both ops), the
dense problem (the filter zero-padded to L taps, its gradient through the padding) and
FlashFFTConv's PartialFFTConv; the floor is the forward's four arrays and the backward's seven
(u, pre, post, dy read, du, dpre, dpost written) once; the errors are du's on row (0, 0) and
dk's on head 0 (summed over the batch) against float64.

  python3 bench/bench_partial.py --cache /tmp/partial.db --tune build/fftconv-tune
  python3 bench/bench_partial.py --backward --cache /tmp/partial.db --tune build/fftconv-tune
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from bench_short import plan_of, shape  # noqa: E402
from bench_torch import copy_gbps, event_timer  # noqa: E402  (the same timing and floor)


def ffc_sparse(a, name):
    """FlashFFTConv's sparse_conv.py class `name` (PartialFFTConv, FrequencySparseFFTConv): from
    the installed package with --flashfftconv, from the file in --flashfftconv-src's tree (it
    needs no CUDA extension), else None."""
    if a.flashfftconv:
        import flashfftconv.sparse_conv as mod
        return getattr(mod, name)
    if a.flashfftconv_src:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "ffc_sparse_conv", os.path.join(a.flashfftconv_src, "flashfftconv", "sparse_conv.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return getattr(mod, name)
    return None


def time_ffc(torch, m, u, k, pre, post, timeit, err, what):
    """FlashFFTConv's module m on the gated problem post * m(pre * u, k): its timing and error,
    NaN where it runs out of memory (said on stderr, naming `what`)."""
    ffc = lambda: post * m(pre * u, k)  # noqa: E731
    try:
        return timeit(ffc), err(ffc())
    except torch.OutOfMemoryError:
        print(f"{what}: FFC out of memory", file=sys.stderr)
        return (float("nan"),) * 3, float("nan")
    finally:
        torch.cuda.empty_cache()


def tune(a, op, B, H, L, K):
    """fftconv-tune (--tune) on the gated causal problem, op forward or both, into --cache."""
    subprocess.run([a.tune, "--op", op, "--batch", str(B), "--heads", str(H), "--seqlen", str(L),
                    "--filter-len", str(K), "--mode", "causal", "--dtype", a.dtype, "--pregate",
                    "--postgate", "--quiet", "--rigor", a.rigor] +
                   (["--template", a.template] if a.template != "all" else []) +
                   (["--cache", a.cache] if a.cache else []), check=False)


def problems(a, torch, dev, op):
    """Each (K, L) of --taps and --lengths with K <= L: its B and H, tuned for `op` first with
    --tune, and a generator seeded from K and L (the same tensors in every run)."""
    for K in map(int, a.taps.split(",")):
        for L in map(int, a.lengths.split(",")):
            if K > L:
                continue
            B, H = shape(L)
            if a.tune:
                tune(a, op, B, H, L, K)
            yield K, L, B, H, torch.Generator(device=dev).manual_seed(K * 7 + L)


def bench_backward(a, torch, fftconv, dt, dev, FFC, timeit, gbps):
    """--backward: a training step (forward + backward with every gradient) of fftconv, the
    dense problem and PartialFFTConv on the same tensors."""
    F = torch.nn.functional
    print("| K | L | B x H | fftconv fwd+bwd ms (p10-p90) | %floor | dense ms | dense/fftconv | "
          "FFC ms | FFC/fftconv | err du, dk fftconv | err du, dk dense | backward kernel |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for K, L, B, H, g in problems(a, torch, dev, "both"):
        def leaf(*size):
            return torch.randn(*size, device=dev, generator=g).to(dt).requires_grad_()

        u, pre, post = leaf(B, H, L), leaf(B, H, L), leaf(B, H, L)
        k = (torch.randn(H, K, device=dev, generator=g) / K ** 0.5).requires_grad_()
        dy = torch.randn(B, H, L, device=dev, generator=g).to(dt)

        def step(f):
            def run():
                for t in (u, pre, post, k):
                    t.grad = None
                torch.autograd.backward(f(), dy)
            return run

        ours = step(lambda: fftconv.fft_conv(u, k, pre, post, causal=True))
        t_o = timeit(ours)
        ours()
        # float64 references: du on row (0, 0) (the correlation of post dy with k, times
        # pre) and dk on head 0 (the batch's correlations of g = post dy with v = pre u)
        n = 1 << (L + K - 2).bit_length()
        rf, irf = torch.fft.rfft, torch.fft.irfft
        g0 = post[:, 0].detach().double() * dy[:, 0].double()
        v0 = pre[:, 0].detach().double() * u[:, 0].detach().double()
        kk = k[0].detach().double()
        dv = irf(rf(g0[0], n=n) * rf(kk, n=n).conj(), n=n)[:L]
        du_ref = dv * pre[0, 0].detach().double()
        dk_ref = irf((rf(g0, n=n) * rf(v0, n=n).conj()).sum(0), n=n)[:K]
        del g0, v0, dv

        def errs():
            rel = lambda x, r: ((x.double() - r).norm() / r.norm()).item()  # noqa: E731
            return f"{rel(u.grad[0, 0], du_ref):.1e}, {rel(k.grad[0], dk_ref):.1e}"

        e_o = errs()
        desc = plan_of(fftconv, u, k)
        print(f"K={K} L={L}: {desc}", file=sys.stderr, flush=True)
        bwd = desc.split("; backward: ", 1)[-1][:60] if "; backward: " in desc else "?"
        t_d, e_d = (float("nan"),) * 3, "-"
        if 2 * L <= 4194304:
            dense = step(lambda: fftconv.fft_conv(u, F.pad(k, (0, L - K)), pre, post,
                                                  causal=True))
            t_d = timeit(dense)
            dense()
            e_d = errs()
        t_f = (float("nan"),) * 3
        if FFC is not None:
            m = FFC(K)
            try:
                t_f = timeit(step(lambda: post * m(pre * u, k)))
            except torch.OutOfMemoryError:
                print(f"K={K} L={L}: FlashFFTConv ran out of memory", file=sys.stderr)
        floor_ms = 11 * u.numel() * u.element_size() / gbps / 1e6
        print(f"| {K} | {L} | {B}x{H} | {t_o[0]:.4f} ({t_o[1]:.4f}-{t_o[2]:.4f}) | "
              f"{100 * floor_ms / t_o[0]:.1f}% | {t_d[0]:.4f} | {t_d[0] / t_o[0]:.2f}x | "
              f"{t_f[0]:.4f} | {t_f[0] / t_o[0]:.2f}x | {e_o} | {e_d} | {bwd} |", flush=True)
        del u, pre, post, k, dy
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--taps", default="1024,4096,16384")
    ap.add_argument("--lengths", default="65536,1048576,2300000,16777216")
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cache", help="kernel cache (default: libfftconv's); sets FFTCONV_CACHE")
    ap.add_argument("--tune", metavar="FFTCONV_TUNE",
                    help="run this fftconv-tune on each shape (the forward; with --backward "
                         "both ops) into --cache first")
    ap.add_argument("--template", default="overlap_tc",
                    help="the family --tune searches (default overlap_tc; 'all': every family)")
    ap.add_argument("--rigor", default="measure", help="--tune's rigor (default measure)")
    ap.add_argument("--flashfftconv", action="store_true",
                    help="FlashFFTConv's PartialFFTConv from the installed package")
    ap.add_argument("--flashfftconv-src", metavar="DIR",
                    help="... or from DIR/flashfftconv/sparse_conv.py itself (PyTorch only: "
                         "no build of FlashFFTConv's CUDA extension needed)")
    ap.add_argument("--backward", action="store_true",
                    help="time forward + backward (a training step) instead of the forward")
    a = ap.parse_args()
    if a.cache:
        os.environ["FFTCONV_CACHE"] = a.cache
    import torch
    import fftconv
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    dev = "cuda"
    FFC = ffc_sparse(a, "PartialFFTConv")
    timeit = event_timer(torch, a.runs, dev)
    gbps = copy_gbps(torch, timeit, dev)
    print(f"device {torch.cuda.get_device_name()}  dtype {a.dtype}  gated (pre, post)  copy "
          f"bandwidth {gbps:.0f} GB/s  runs {a.runs}")
    if a.backward:
        return bench_backward(a, torch, fftconv, dt, dev, FFC, timeit, gbps)
    print("| K | L | B x H | fftconv ms (p10-p90) | fftconv %floor | dense ms | dense/fftconv | "
          "FFC ms | FFC/fftconv | err fftconv | err dense | err FFC |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for K, L, B, H, g in problems(a, torch, dev, "forward"):
        u = torch.randn(B, H, L, device=dev, generator=g).to(dt)
        pre = torch.randn(B, H, L, device=dev, generator=g).to(dt)
        post = torch.randn(B, H, L, device=dev, generator=g).to(dt)
        k = torch.randn(H, K, device=dev, generator=g) / K ** 0.5
        ours = lambda: fftconv.fft_conv(u, k, pre, post, causal=True)  # noqa: E731
        t_o = timeit(ours)
        # the reference: row (0, 0) through a float64 FFT of a power of two >= L + K - 1
        n = 1 << (L + K - 2).bit_length()
        v0 = u[0, 0].double() * pre[0, 0].double()
        z = torch.fft.irfft(torch.fft.rfft(v0, n=n) * torch.fft.rfft(k[0].double(), n=n),
                            n=n)[:L]
        ref = z * post[0, 0].double()
        del v0, z

        def err(y):
            return ((y[0, 0].double() - ref).norm() / ref.norm()).item()

        e_o = err(ours())
        print(f"K={K} L={L}: {plan_of(fftconv, u, k)}", file=sys.stderr, flush=True)
        t_d, e_d = (float("nan"),) * 3, float("nan")
        if 2 * L <= 4194304:
            kd = torch.zeros(H, L, device=dev)
            kd[:, :K] = k
            dense = lambda: fftconv.fft_conv(u, kd, pre, post, causal=True)  # noqa: E731
            t_d, e_d = timeit(dense), err(dense())
            del kd
        t_f, e_f = (float("nan"),) * 3, float("nan")
        if FFC is not None:
            t_f, e_f = time_ffc(torch, FFC(K), u, k, pre, post, timeit, err, f"K={K} L={L}")
        floor_ms = 4 * u.numel() * u.element_size() / gbps / 1e6
        print(f"| {K} | {L} | {B}x{H} | {t_o[0]:.4f} ({t_o[1]:.4f}-{t_o[2]:.4f}) | "
              f"{100 * floor_ms / t_o[0]:.1f}% | {t_d[0]:.4f} | {t_d[0] / t_o[0]:.2f}x | "
              f"{t_f[0]:.4f} | {t_f[0] / t_o[0]:.2f}x | {e_o:.1e} | {e_d:.1e} | {e_f:.1e} |",
              flush=True)
        del u, pre, post
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
