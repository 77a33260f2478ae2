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
A plan whose forward runs several launches (the long family, from N = 65536) also gets each
launch timed alone (fftconv_forward_launch, the same scrub and runs) beside the bytes it
moves at the least (fftconv_plan_launch_bytes: each operand it reads or writes once) and the
bandwidth that makes, as a fraction of the copy bandwidth: a second table, one row a pass.

  python3 bench/bench_torch.py --lib build/libfftconv.so --cache /tmp/tuned.db

--backward times the backward pass instead (fftconv_backward; same tensors, batches and
scaling, plus dy), and prints one table of it:
  fftconv   fwd = prepare_filter + forward; bwd = backward alone with every gradient (du,
            dpre, dpost, dk); fwd+bwd = prepare_filter + forward + backward, a training step's
            (the filter changes every step); (fwd+bwd)/fwd; bwd %floor (u, dy, pre, post read
            and du, dpre, dpost written once over the copy bandwidth); whether dk is the same
            bits on two runs of the backward; the plan's backward kernel, or why it has none
            (its columns then NaN)
  rfft32    the fp32 torch.fft convolution with the filter spectrum computed inside, under
            autograd (u, pre, post, k requiring grad; the casts included): forward +
            torch.autograd.backward(dy) as one step
  FlashFFTConv  with --flashfftconv: forward(u, k, pre, post) + backward(dy) as one step, and
            its forward alone; its fwd+bwd time over fftconv's
and the relative L2 error of each gradient against float64 autograd, measured on a separate
small problem of the same N, mode and dtype (B = 2, H = min(--heads, 16), fftconv's own plan
for that shape; --check-rows is not used):

  python3 bench/bench_torch.py --lib build/libfftconv.so --cache /tmp/tuned.db --backward
(add --flashfftconv with FlashFFTConv on PYTHONPATH, as for the forward table)
"""
import argparse
import ctypes as C
import math
import os
import sys


# The C API's structs: the Python package's (python/fftconv/_capi.py), one definition
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from fftconv import _capi  # noqa: E402
from fftconv._capi import Args, BackwardArgs, CtxOptions, Problem  # noqa: E402


DTYPES = {"fp32": 0, "fp16": 1, "bf16": 2}
MODES = {"causal": 0, "circular": 1}
POLICIES = {"fallback": 0, "tuned-only": 1, "quick-tune": 2}


class FFTConv:
    """A thin ctypes binding of src/fftconv.h."""

    def __init__(self, path):
        self.lib = _capi.load(path)  # the package's prototypes of the C API

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


def shapes(a):
    """(mode, N, L, B, H, scale) of each table row: L = N circular, N/2 causal; B x H reduced
    above 32K as FlashFFTConv's benchmark does; scale takes times back to --batch x --heads."""
    for mode in a.modes.split(","):
        for n in map(int, a.sizes.split(",")):
            B, H = a.batch, a.heads
            if n > 32768 and n in REDUCED_HEADS:
                B, H = 8, min(a.heads, REDUCED_HEADS[n])
            yield mode, n, n if mode == "circular" else n // 2, B, H, a.batch * a.heads / (B * H)


def event_timer(torch, runs, dev):
    """timeit(fn) -> (median, p10, p90) ms of `runs` CUDA-event timings of fn, after 3 calls
    of warm-up, with a 256 MiB L2 scrub before each timed call."""
    scrub = torch.empty(256 << 20, dtype=torch.uint8, device=dev)

    def timeit(fn):
        for _ in range(3):
            fn()
        times = []
        for _ in range(runs):
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
    return timeit


def copy_gbps(torch, timeit, dev):
    """The device-to-device copy bandwidth (1 GiB read and written), GB/s: the floor's."""
    x = torch.empty(1 << 28, dtype=torch.float32, device=dev)
    y = torch.empty_like(x)
    ms = timeit(lambda: y.copy_(x))[0]
    return 2 * x.numel() * 4 / (ms * 1e-3) / 1e9


def one_kernel_summary(text):
    """'monarch_tc 16x16x16 warps=4 pairs=1 twiddle=table [tuned]' from one kernel's description
    ("template rN (hash) {params} [rung; arch]"); the text itself if it is not one."""
    import json
    import re
    m = re.match(r"(\S+) r\d+ \(\w+\) (\{.*\}) \[([^;\]]+)", text)
    if not m:
        return text
    p = json.loads(m.group(2))
    rest = " ".join(f"{k}={p[k]}" for k in ("warps", "pairs", "seqs", "threads", "dft", "tile",
                                             "threads_cols", "threads_rows", "ws", "twiddle",
                                             "acc", "p_smem", "split", "band", "segment", "seq")
                    if k in p)
    if p.get("group", "row") != "row":
        rest += f" group={p['group']}"
    fac = "x".join(map(str, p.get("factors", [])))
    if "n2" in p:
        fac = f"{p['fft_size'] // p['n2']}x{p['n2']}"
    return f"{m.group(1)} {fac} {rest} [{m.group(3).split(':')[0]}]"


def kernel_summary(desc):
    """The forward kernel's summary from fftconv_plan_describe's text: only the part before
    "; backward: " (the params regex is greedy and would reach into the backward's)."""
    return one_kernel_summary(desc.split("; backward: ", 1)[0])


def backward_kernel_summary(desc):
    """The backward kernel's summary (the part after "; backward: "), in kernel_summary's
    format, or "none" when the plan has no backward kernel."""
    parts = desc.split("; backward: ", 1)
    if len(parts) < 2 or parts[1].startswith("none"):
        return "none"
    return one_kernel_summary(parts[1])


class GatedRun:
    """One plan of the gated problem run on torch tensors, on torch's current stream: the filter
    spectrum (prepare), the forward into self.y and, when the plan has a backward kernel, the
    backward with every gradient (du, dpre, dpost and dk; no D term). k_hat, the workspace
    (one buffer for both directions: they run one after the other on one stream) and the
    outputs are torch allocations; self.why is the reason the plan has no backward, else None."""

    def __init__(self, fc, ctx, plan, u, pre, post, k, dy, stream):
        import torch
        lib, dev = fc.lib, u.device
        self.fc, self.ctx, self.plan, self.stream = fc, ctx, plan, stream
        self.inputs = (u, pre, post, k, dy)  # kept alive: the args hold their addresses
        self.bwd_ok = lib.fftconv_plan_backward_status(plan) == 0
        self.why = None if self.bwd_ok else lib.fftconv_ctx_error(ctx).decode()
        self.k_hat = torch.empty(lib.fftconv_plan_filter_bytes(plan), dtype=torch.uint8,
                                 device=dev)
        nws = lib.fftconv_plan_workspace_bytes(plan)
        if self.bwd_ok:
            nws = max(nws, lib.fftconv_plan_backward_workspace_bytes(plan))
        self.ws = torch.empty(max(1, nws), dtype=torch.uint8, device=dev)
        self.y = torch.empty_like(u)
        self.args = Args()
        lib.fftconv_args_init(C.byref(self.args))
        self.args.u, self.args.pre, self.args.post = u.data_ptr(), pre.data_ptr(), post.data_ptr()
        self.args.k_hat, self.args.y = self.k_hat.data_ptr(), self.y.data_ptr()
        self.args.workspace, self.args.workspace_bytes = self.ws.data_ptr(), self.ws.numel()
        self.du = self.dpre = self.dpost = self.dk = None
        if self.bwd_ok:
            self.du, self.dpre, self.dpost = (torch.empty_like(u) for _ in range(3))
            self.dk = torch.empty(k.shape, dtype=torch.float32, device=dev)  # (H, K), K = L
            b = self.bargs = BackwardArgs()
            lib.fftconv_backward_args_init(C.byref(b))
            b.u, b.pre, b.post, b.dy = u.data_ptr(), pre.data_ptr(), post.data_ptr(), dy.data_ptr()
            b.k_hat = self.k_hat.data_ptr()
            b.du, b.dpre, b.dpost = self.du.data_ptr(), self.dpre.data_ptr(), self.dpost.data_ptr()
            b.dk = self.dk.data_ptr()
            b.dd = None
            b.workspace, b.workspace_bytes = self.ws.data_ptr(), self.ws.numel()

    def prepare(self):
        k = self.inputs[3]
        self.fc.check(self.ctx, self.fc.lib.fftconv_prepare_filter(
            self.plan, k.data_ptr(), None, self.k_hat.data_ptr(), self.stream), "prepare")

    def forward(self):
        self.fc.check(self.ctx, self.fc.lib.fftconv_forward(self.plan, C.byref(self.args),
                                                            self.stream), "forward")

    def backward(self):
        self.fc.check(self.ctx, self.fc.lib.fftconv_backward(self.plan, C.byref(self.bargs),
                                                             self.stream), "backward")


def bench_backward(a, torch, fc, ctx, stream, timeit, gbps, FlashFFTConv, tdt):
    """--backward: for each (mode, N), forward and backward times of fftconv, FlashFFTConv and
    rfft32 autograd on the forward table's tensors and batches, the backward's memory floor,
    dk's determinism, and each gradient's error on a separate small problem; one table."""
    dev = torch.device("cuda")
    nan3 = (math.nan,) * 3
    es = torch.finfo(tdt).bits // 8
    hs = min(a.heads, 16)
    print(f"problem  gated (pre, post), {a.dtype} I/O, B={a.batch} H={a.heads}, forward and "
          f"backward with every gradient (du, dpre, dpost, dk), median of {a.runs} runs, L2 "
          "scrubbed")
    print("timed    fftconv fwd = prepare_filter + forward; bwd = backward alone; fwd+bwd = "
          "prepare_filter + forward + backward (a training step's: the filter changes every "
          "step); FlashFFTConv and rfft32 (fp32 torch.fft autograd, the casts included): "
          "forward + torch.autograd.backward(dy) as one step")
    print(f"errors   on a separate small problem of the same N, mode and dtype, B=2 H={hs} "
          "(fftconv's own plan for that shape, FlashFFTConv, rfft32), every row, each gradient "
          "against float64 autograd (relative L2); --check-rows is not used")
    print(f"floor    backward: u, dy, pre, post read and du, dpre, dpost written once, "
          f"B x H x L x {es} x 7 bytes over the copy bandwidth\n")

    def leaves(*ts):
        """Tensors sharing ts's storage that require grad (autograd's leaves)."""
        return [t.detach().requires_grad_() for t in ts]

    def rfft32_step(n, L, ul, pl, ql, kl, dy):
        for t in (ul, pl, ql, kl):
            t.grad = None
        v = ul.float() * pl.float()
        z = torch.fft.irfft(torch.fft.rfft(v, n=n) * torch.fft.rfft(kl, n=n), n=n)[..., :L]
        torch.autograd.backward((z * ql.float()).to(tdt), dy)

    def ffc_step(ffc, ul, pl, ql, kl, dy):
        for t in (ul, pl, ql, kl):
            t.grad = None
        torch.autograd.backward(ffc(ul, kl, pl, ql), dy)

    def reference(n, L, u, pre, post, k, dy):
        """float64 autograd's du, dpre, dpost, dk."""
        ud, pd, qd, kd = (t.detach().double().requires_grad_() for t in (u, pre, post, k))
        z = torch.fft.irfft(torch.fft.rfft(ud * pd, n=n) * torch.fft.rfft(kd, n=n), n=n)[..., :L]
        torch.autograd.backward(z * qd, dy.double())
        return ud.grad, pd.grad, qd.grad, kd.grad

    def rel(x, r):
        if x is None:
            return math.nan
        return ((x.double() - r).norm() / r.norm()).item()

    def errors(mode, n, L, ffc, notes):
        """Each gradient's (du, dpre, dpost, dk) relative L2 error of fftconv, FlashFFTConv and
        rfft32 on the small problem B=2 H=hs."""
        B, H = 2, hs
        u, pre, post, dy = (torch.randn(B, H, L, device=dev).to(tdt) for _ in range(4))
        k = torch.randn(H, L, device=dev) / math.sqrt(L)
        ref = reference(n, L, u, pre, post, k, dy)
        e_ours = e_ffc = e_r32 = (math.nan,) * 4
        plan = None
        try:
            plan = fc.plan(ctx, B, H, L, a.dtype, mode)
            run = GatedRun(fc, ctx, plan, u, pre, post, k, dy, stream)
            if run.bwd_ok:
                run.prepare()
                run.backward()
                torch.cuda.synchronize()
                e_ours = tuple(rel(x, r) for x, r in
                               zip((run.du, run.dpre, run.dpost, run.dk), ref))
            else:
                notes.append(f"{mode} N={n} errors' B=2 H={hs} plan: no backward ({run.why})")
            del run
        except RuntimeError as ex:
            notes.append(f"{mode} N={n} errors' B=2 H={hs} plan: {ex}")
        torch.cuda.synchronize()
        if plan is not None:
            fc.lib.fftconv_plan_destroy(plan)
        if ffc is not None:
            try:
                ls = leaves(u, pre, post, k)
                ffc_step(ffc, *ls, dy)
                e_ffc = tuple(rel(t.grad, r) for t, r in zip(ls, ref))
            except Exception as ex:  # FlashFFTConv's: an unsupported shape, or its own failure
                notes.append(f"{mode} N={n} FlashFFTConv at B=2 H={hs}: {ex}")
        ls = leaves(u, pre, post, k)
        rfft32_step(n, L, *ls, dy)
        e_r32 = tuple(rel(t.grad, r) for t, r in zip(ls, ref))
        return e_ours, e_ffc, e_r32

    def cell(text):
        """text fit for one markdown table cell."""
        return " ".join(str(text).split()).replace("|", "\\|")

    rows, notes = [], []
    for mode, n, L, B, H, scale in shapes(a):
        def scaled(t):
            return tuple(x * scale for x in t)

        u, pre, post, dy = (torch.randn(B, H, L, device=dev).to(tdt) for _ in range(4))
        k = torch.randn(H, L, device=dev) / math.sqrt(L)
        plan = fc.plan(ctx, B, H, L, a.dtype, mode)
        desc = fc.lib.fftconv_plan_describe(plan).decode()
        run = GatedRun(fc, ctx, plan, u, pre, post, k, dy, stream)
        why = run.why

        def fwd():
            run.prepare()
            run.forward()

        def fwd_bwd():
            run.prepare()
            run.forward()
            run.backward()

        t_fwd = scaled(timeit(fwd))  # also leaves k_hat prepared for the backward alone
        t_bwd, t_fb, same = nan3, nan3, None
        if run.bwd_ok:
            try:
                t_bwd = scaled(timeit(run.backward))
                t_fb = scaled(timeit(fwd_bwd))
                # determinism: dk of two backward runs, bit for bit
                run.backward()
                dk1 = run.dk.clone()
                run.backward()
                same = torch.equal(dk1.view(torch.int32), run.dk.view(torch.int32))
                del dk1
            except RuntimeError as ex:
                why = f"backward failed: {ex}"
                t_bwd, t_fb, same = nan3, nan3, None
        torch.cuda.synchronize()
        del run
        fc.lib.fftconv_plan_destroy(plan)
        torch.cuda.empty_cache()

        t_ffc_f, t_ffc_fb, ffc = nan3, nan3, None
        if FlashFFTConv:
            try:
                ffc = FlashFFTConv(n, dtype=tdt).to(dev)
                t_ffc_f = scaled(timeit(lambda: ffc(u, k, pre, post)))
                ls = leaves(u, pre, post, k)
                t_ffc_fb = scaled(timeit(lambda: ffc_step(ffc, *ls, dy)))
            except Exception as ex:  # FlashFFTConv's: an unsupported size, out of memory
                notes.append(f"{mode} N={n} FlashFFTConv: {ex}")
            ls = None
            torch.cuda.empty_cache()
        t_r32 = nan3
        try:
            ls = leaves(u, pre, post, k)
            t_r32 = scaled(timeit(lambda: rfft32_step(n, L, *ls, dy)))
        except torch.cuda.OutOfMemoryError as ex:
            notes.append(f"{mode} N={n} rfft32 autograd: {ex}")
        ls = None
        del u, pre, post, dy, k
        torch.cuda.empty_cache()

        e_ours, e_ffc, e_r32 = errors(mode, n, L, ffc, notes)
        ffc = None
        torch.cuda.empty_cache()
        floor = a.batch * a.heads * L * es * 7 / (gbps * 1e9) * 1e3
        rows.append((mode, n, L, B, H, t_fwd, t_bwd, t_fb, floor, t_ffc_f, t_ffc_fb, t_r32,
                     e_ours, e_ffc, e_r32, same, desc, why))
        print(f"{mode:8s} N={n:7d} B={B} H={H}  fftconv fwd {t_fwd[0]:9.4f} ms  bwd "
              f"{t_bwd[0]:9.4f}  fwd+bwd {t_fb[0]:9.4f}  FFC fwd+bwd {t_ffc_fb[0]:9.4f}  "
              f"rfft32 {t_r32[0]:9.4f}  err du {e_ours[0]:.1e} dk {e_ours[3]:.1e}"
              + (f"  no backward: {' '.join(why.split())}" if why else ""), file=sys.stderr,
              flush=True)
    print(f"times in ms scaled to B={a.batch} H={a.heads}; above N=32768 measured at B x H as "
          f"listed (FlashFFTConv's reduced batches); errors on B=2 H={hs}\n")
    print("| mode | N | L | measured B x H | fftconv fwd ms | fftconv bwd ms | "
          "fftconv fwd+bwd ms | p10-p90 | (fwd+bwd)/fwd | bwd %floor | FFC fwd+bwd ms | p10-p90 | "
          "FFC (fwd+bwd)/fwd | FFC/fftconv | rfft32 fwd+bwd ms | rfft32/fftconv | "
          "err du/dpre/dpost/dk fftconv | err du/dk FFC | err du/dk rfft32 | dk bitwise-equal | "
          "kernels (fwd ; bwd) |")
    print("|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
          "---:|---|---|")
    logs = []
    for (mode, n, L, B, H, tf, tb, tfb, fl, xf, xfb, tr, eo, ex, er, same, desc,
         why) in rows:
        if not math.isnan(xfb[0]) and not math.isnan(tfb[0]):
            logs.append(math.log(xfb[0] / tfb[0]))
        bwd = backward_kernel_summary(desc)
        if why is not None:
            bwd = f"none ({' '.join(why.split())[:300]})"
        eq = "-" if same is None else ("yes" if same else "NO")
        print(f"| {mode} | {n} | {L} | {B}x{H} | {tf[0]:.4f} | {tb[0]:.4f} | {tfb[0]:.4f} | "
              f"{tfb[1]:.4f}-{tfb[2]:.4f} | "
              f"{tfb[0] / tf[0]:.2f}x | {100 * fl / tb[0]:.1f}% | {xfb[0]:.4f} | "
              f"{xfb[1]:.4f}-{xfb[2]:.4f} | "
              f"{xfb[0] / xf[0]:.2f}x | {xfb[0] / tfb[0]:.2f}x | {tr[0]:.4f} | "
              f"{tr[0] / tfb[0]:.2f}x | {eo[0]:.1e}/{eo[1]:.1e}/{eo[2]:.1e}/{eo[3]:.1e} | "
              f"{ex[0]:.1e}/{ex[3]:.1e} | {er[0]:.1e}/{er[3]:.1e} | {eq} | "
              f"{cell(kernel_summary(desc))} ; {cell(bwd)} |")
    if logs:
        print(f"\ngeometric mean of FlashFFTConv's fwd+bwd time over fftconv's, {len(logs)} "
              f"shapes: {math.exp(sum(logs) / len(logs)):.2f}x; slowest ratio "
              f"{math.exp(min(logs)):.2f}x")
    for note in notes:
        print(f"\nnote: {' '.join(note.split())}")


def print_passes(passes, gbps, a):
    """The per-pass table: each forward launch timed alone (scaled to --batch x --heads as the
    main table), the bytes it moves at the least and the bandwidth over the copy's."""
    print(f"\neach pass of a multi-launch forward timed alone (ms scaled to B={a.batch} "
          f"H={a.heads}); GB: the least it moves (each operand read or written once); "
          f"% copy: its GB/s over the {gbps:.0f} GB/s copy bandwidth measured above\n")
    print("| mode | N | measured B x H | pass | kernel | ms | p10-p90 | GB | GB/s | % copy |")
    print("|---|---:|---|---:|---|---:|---|---:|---:|---:|")
    total = {}
    for mode, n, B, H, i, name, t, nbytes, whole in passes:
        bw = nbytes / (t[0] * 1e-3) / 1e9
        print(f"| {mode} | {n} | {B}x{H} | {i} | {name} | {t[0]:.4f} | {t[1]:.4f}-{t[2]:.4f} | "
              f"{nbytes / 1e9:.3f} | {bw:.0f} | {100 * bw / gbps:.0f}% |")
        s = total.setdefault((mode, n, B, H), [0.0, 0.0, whole])
        s[0] += t[0]
        s[1] += nbytes
    for (mode, n, B, H), (ms, nbytes, whole) in total.items():
        bw = nbytes / (ms * 1e-3) / 1e9
        print(f"| {mode} | {n} | {B}x{H} | all | (the forward whole: {whole[0]:.4f} ms) | "
              f"{ms:.4f} | | {nbytes / 1e9:.3f} | {bw:.0f} | {100 * bw / gbps:.0f}% |")


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
                    help="rows compared with the float64 reference (forward table; --backward "
                         "checks a small problem of its own)")
    ap.add_argument("--flashfftconv", action="store_true",
                    help="also time FlashFFTConv (import flashfftconv; see ../shared/tools/ffc-kit)")
    ap.add_argument("--no-torch-fft", action="store_true", help="skip the torch.fft column")
    ap.add_argument("--backward", action="store_true",
                    help="time the backward pass (fftconv, FlashFFTConv, rfft32 autograd) and "
                         "check every gradient, instead of the forward table")
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
    timeit = event_timer(torch, a.runs, dev)
    gbps = copy_gbps(torch, timeit, dev)
    print(f"device   {fc.lib.fftconv_ctx_device(ctx).decode()}; torch {torch.__version__}")
    print(f"cache    {fc.lib.fftconv_ctx_cache(ctx).decode()} (policy {a.policy})")
    print(f"copy     {gbps:.0f} GB/s device-to-device (read + write): the floor's bandwidth")
    if a.backward:
        bench_backward(a, torch, fc, ctx, stream, timeit, gbps, FlashFFTConv, tdt)
        fc.lib.fftconv_ctx_destroy(ctx)
        return
    print(f"problem  gated (pre, post), {a.dtype} I/O, B={a.batch} H={a.heads}, median of "
          f"{a.runs} runs, L2 scrubbed\n")
    rows, passes = [], []
    for mode, n, L, B, H, scale in shapes(a):
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
        launches = fc.lib.fftconv_plan_forward_launches(plan)
        for i in range(launches if launches > 1 else 0):  # a one-pass kernel: the table above

            def one(i=i):
                fc.check(ctx, fc.lib.fftconv_forward_launch(plan, C.byref(args), i, stream),
                         f"forward launch {i}")
            passes.append((mode, n, B, H, i, fc.lib.fftconv_plan_launch_name(plan, i).decode(),
                           scaled(timeit(one)), fc.lib.fftconv_plan_launch_bytes(plan, i) * scale,
                           t_ours))
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
    if passes:
        print_passes(passes, gbps, a)
    fc.lib.fftconv_ctx_destroy(ctx)


if __name__ == "__main__":
    main()
