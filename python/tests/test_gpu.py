"""The Python package on a GPU (run on the device; skips without CUDA): fft_conv and every
gradient against float64 autograd at odd shapes for every dtype and both modes, only the
gradients asked for, the FlashFFTConv-compatible module against torch.fft, the
FlashDepthWiseConv1d-compatible one against conv1d with gradients, PartialFFTConv and
FrequencySparseFFTConv against FlashFFTConv's formulas with gradients, torch.compile
fullgraph, CUDA graph capture and replay, torch.library.opcheck, and two streams."""
import math
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the GPU half runs on the device", allow_module_level=True)

import fftconv  # noqa: E402
from fftconv import _capi  # noqa: E402

TOL = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 8e-3}
DEV = "cuda"


def fft_size(B, H, L, K, F, dtype, causal):
    p = _capi.problem(B, H, L, K, F, {torch.float32: "fp32", torch.float16: "fp16",
                                       torch.bfloat16: "bf16"}[dtype], causal, True, True, True)
    return int(_capi.lib().fftconv_problem_fft_size(p))


def reference(u, k, pre, post, d, causal, F, n):
    """float64 torch.fft: y = post * (first L of (pre u) conv k + D pre u), the filter's bins
    with min(f, n - f) >= F zeroed (F = 0: none)."""
    L = u.shape[-1]
    v = u.double() * (pre.double() if pre is not None else 1)
    kf = torch.fft.rfft(k.double(), n=n)
    if F:
        kf = kf * (torch.arange(kf.shape[-1], device=kf.device) < F)
    z = torch.fft.irfft(torch.fft.rfft(v, n=n) * kf, n=n)[..., :L]
    if d is not None:
        z = z + d.double()[:, None] * v
    return z * (post.double() if post is not None else 1)


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def inputs(B, H, L, K, dtype, seed, gates=True, D=True):
    g = torch.Generator(device=DEV).manual_seed(seed)

    def r(*s, dt=dtype, scale=1.0):
        return (torch.randn(*s, device=DEV, generator=g) * scale).to(dt).requires_grad_(True)

    u = r(B, H, L)
    k = r(H, K, dt=torch.float32, scale=1 / math.sqrt(K))
    pre = r(B, H, L) if gates else None
    post = r(B, H, L) if gates else None
    d = r(H, dt=torch.float32) if D else None
    return u, k, pre, post, d


CASES = [  # (B, H, L, K, F, causal)
    (3, 5, 1000, 1000, 0, True), (3, 5, 1000, 300, 0, True), (3, 5, 1024, 1024, 0, False),
    (3, 5, 256, 77, 40, False), (3, 5, 3001, 3001, 101, True), (2, 3, 40001, 30001, 0, True),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", CASES)
def test_forward_and_every_gradient_against_float64(dtype, case):
    B, H, L, K, F, causal = case
    u, k, pre, post, d = inputs(B, H, L, K, dtype, seed=L + K)
    n = fft_size(B, H, L, K, F, dtype, causal)
    y = fftconv.fft_conv(u, k, pre, post, d, causal=causal, freq_keep=F or None)
    leaves = [t.detach().double().requires_grad_(True) for t in (u, k, pre, post, d)]
    yr = reference(*leaves, causal, F, n)
    assert rel(y, yr) <= TOL[dtype]
    dy = torch.randn_like(y)  # in the I/O dtype, as autograd hands it over; fp64 from it
    got = torch.autograd.grad(y, (u, k, pre, post, d), dy)
    want = torch.autograd.grad(yr, leaves, dy.double())
    for name, a, b in zip(("du", "dk", "dpre", "dpost", "dD"), got, want):
        assert a.dtype == (torch.float32 if name in ("dk", "dD") else dtype), name
        assert rel(a, b) <= TOL[dtype], f"{name}: {rel(a, b):.3e}"


def test_only_the_gradients_asked_for():
    u, k, pre, post, d = inputs(2, 3, 1000, 1000, torch.float16, seed=1)
    u.requires_grad_(False)
    pre.requires_grad_(False)
    y = fftconv.fft_conv(u, k, pre, post, d)
    gk, gpost, gd = torch.autograd.grad(y.float().sum(), (k, post, d))
    assert gk.shape == k.shape and gpost.shape == post.shape and gd.shape == d.shape


@pytest.mark.parametrize("n", [1 << i for i in range(8, 23)])  # every size FlashFFTConv takes
def test_flashfftconv_module_against_torch_fft(n):
    B, H = (2, 4) if n <= 65536 else (1, 2)
    m = fftconv.FlashFFTConv(n, dtype=torch.bfloat16)
    for L, K in ((n // 2, n // 2), (n, n), (n // 2 + 7, n // 2)):
        u, k, pre, post, _ = inputs(B, H, L, K, torch.bfloat16, seed=n + L, D=False)
        y = m(u, k, pre, post)
        leaves = [t.detach().double() for t in (u, k, pre, post)]
        # FlashFFTConv's definition: circular of size n, cut to L
        yr = torch.fft.irfft(torch.fft.rfft(leaves[0] * leaves[2], n=n) *
                             torch.fft.rfft(leaves[1], n=n), n=n)[..., :L] * leaves[3]
        assert rel(y, yr) <= TOL[torch.bfloat16], (n, L, K)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("K,P,L,bhl", [(3, 2, 1000, True), (4, 3, 4096, False), (7, 0, 999, True),
                                       (64, 63, 2048, True), (16, 20, 301, False)])
def test_depthwise_module_against_conv1d_with_gradients(dtype, K, P, L, bhl):
    """FlashDepthWiseConv1d against float64 conv1d (groups = channels, bias, padding), the
    output and the gradients of x, weights and bias: padding at, below and above K - 1, L odd
    and not, both layouts, every dtype."""
    B, H = 3, 5
    g = torch.Generator(device=DEV).manual_seed(K * 1000 + P + L)
    w = torch.randn(H, K, device=DEV, generator=g) / K
    b = torch.randn(H, device=DEV, generator=g)
    m = fftconv.FlashDepthWiseConv1d(H, K, P, w, b, is_bhl=bhl)
    x = torch.randn(B, H, L, device=DEV, generator=g).to(dtype)
    xin = (x if bhl else x.transpose(1, 2).contiguous()).requires_grad_(True)
    y = m(xin)
    x64 = x.double().requires_grad_(True)
    w64, b64 = w.double().requires_grad_(True), b.double().requires_grad_(True)
    want = torch.nn.functional.conv1d(x64, w64[:, None, :], b64, padding=P, groups=H)
    got = y if bhl else y.transpose(1, 2)
    assert got.dtype == dtype and got.shape == want.shape
    assert rel(got, want) <= TOL[dtype]
    dy = torch.randn(want.shape, device=DEV, generator=g).to(dtype)
    gx, gw, gb = torch.autograd.grad(y, (xin, m.weights, m.bias), dy if bhl else dy.transpose(1, 2))
    wx, ww, wb = torch.autograd.grad(want, (x64, w64, b64), dy.double())
    assert rel(gx if bhl else gx.transpose(1, 2), wx) <= TOL[dtype]
    assert rel(gw, ww) <= TOL[dtype] and rel(gb, wb) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("L,K,NP", [(1024, 1024, 256), (4096, 4096, 64), (1000, 1000, 300),
                                    (2048, 500, 4000), (65536, 2048, 1024)])
def test_sparse_modules_against_the_formulas_with_gradients(dtype, L, K, NP):
    """PartialFFTConv and FrequencySparseFFTConv against FlashFFTConv's formulas in float64
    (an FFT of size 2L; the first N_partial taps; the bins from N_partial // 2 zeroed), the
    output and the gradients of x and k: fftconv's kernels where L is a power of two, the
    formula's fp32 path where it is not (L = 1000) or N_partial > L. At L = 64K the partial
    forward (1024 taps) is overlap_tc's by overlap-save, its backward the dense family's."""
    B, H = 3, 5
    g = torch.Generator(device=DEV).manual_seed(L + K + NP)
    x = torch.randn(B, H, L, device=DEV, generator=g).to(dtype).requires_grad_(True)
    k = (torch.randn(H, K, device=DEV, generator=g) / K ** 0.5).requires_grad_(True)
    dy = torch.randn(B, H, L, device=DEV, generator=g).to(dtype)
    x64, k64 = x.detach().double().requires_grad_(True), k.detach().double().requires_grad_(True)
    n = 2 * L
    want_p = torch.fft.irfft(torch.fft.rfft(x64, n=n) * torch.fft.rfft(k64[..., :NP], n=n),
                             n=n)[..., :L]
    mask = torch.arange(n // 2 + 1, device=DEV) < NP // 2
    want_s = torch.fft.irfft(torch.fft.rfft(x64, n=n) * torch.fft.rfft(k64, n=n) * mask,
                             n=n)[..., :L]
    for mod, want in ((fftconv.PartialFFTConv(NP), want_p),
                      (fftconv.FrequencySparseFFTConv(NP), want_s)):
        y = mod(x, k)
        assert y.dtype == dtype and rel(y, want) <= TOL[dtype], type(mod).__name__
        gx, gk = torch.autograd.grad(y, (x, k), dy)
        wx, wk = torch.autograd.grad(want, (x64, k64), dy.double())
        assert rel(gx, wx) <= TOL[dtype] and rel(gk, wk) <= TOL[dtype], type(mod).__name__


def test_torch_compile_fullgraph():
    u, k, pre, post, d = inputs(2, 3, 1000, 1000, torch.float16, seed=2)

    def f(u, k, pre, post, d):
        return fftconv.fft_conv(torch.tanh(u), k, pre, post, d).float().square().sum()

    eager = f(u, k, pre, post, d)
    ge = torch.autograd.grad(eager, (u, k))
    comp = torch.compile(f, fullgraph=True)(u, k, pre, post, d)
    gc = torch.autograd.grad(comp, (u, k))
    assert rel(comp, eager) < 1e-3
    for a, b in zip(gc, ge):
        assert rel(a, b) < 1e-3


def test_cuda_graph_capture_and_replay():
    u, k, pre, post, d = (t.detach() for t in inputs(2, 3, 1000, 1000, torch.float16, seed=3))
    y0 = fftconv.fft_conv(u, k, pre, post, d)  # the plan is made before the capture
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(s):
        with torch.cuda.graph(g, stream=s):
            y = fftconv.fft_conv(u, k, pre, post, d)
    torch.cuda.current_stream().wait_stream(s)
    u.copy_(torch.randn_like(u))
    g.replay()
    torch.cuda.synchronize()
    assert rel(y, fftconv.fft_conv(u, k, pre, post, d)) == 0.0
    assert rel(y0, y) > 0
    # a new shape cannot make its plan during a capture: said clearly
    g2 = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="cannot be made while a CUDA graph is being captured"):
        with torch.cuda.graph(g2):
            fftconv.fft_conv(u[:, :, :999].contiguous(), k[:, :999].contiguous())


def test_opcheck():
    u, k, pre, post, d = inputs(2, 3, 1000, 1000, torch.float16, seed=4)
    torch.library.opcheck(torch.ops.fftconv.conv_fwd.default, (u, k, pre, post, d, True, 0))
    plain = [t.detach() for t in (u, k, pre, post, d)]
    torch.library.opcheck(torch.ops.fftconv.conv_fwd_infer.default, (*plain, True, 0))
    y, k_hat = torch.ops.fftconv.conv_fwd_infer(*plain, True, 0)
    torch.library.opcheck(torch.ops.fftconv.conv_bwd.default,
                          (torch.randn_like(y), plain[0], k_hat, plain[2], plain[3], 1000, True,
                           True, 0, [True, True, True, True, True]))


def test_two_streams():
    a = inputs(2, 3, 1000, 1000, torch.float16, seed=5)
    b = inputs(2, 3, 1000, 1000, torch.float16, seed=6)
    a, b = [t.detach() for t in a], [t.detach() for t in b]
    ya, yb = fftconv.fft_conv(*a), fftconv.fft_conv(*b)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    s1.wait_stream(torch.cuda.current_stream())
    s2.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s1):
        y1 = fftconv.fft_conv(*a)
    with torch.cuda.stream(s2):
        y2 = fftconv.fft_conv(*b)
    torch.cuda.synchronize()
    assert torch.equal(y1, ya) and torch.equal(y2, yb)


def test_the_plain_call_and_the_op_agree_and_the_profiler_sees_the_op():
    """With no gradient, fft_conv runs the forward as a plain call (skipping the dispatcher);
    its result is the op's, bit for bit, and under the profiler it goes through the op."""
    u, k, pre, post, d = (t.detach() for t in inputs(3, 5, 1000, 700, torch.bfloat16, seed=7))
    y = fftconv.fft_conv(u, k, pre, post, d)
    y_op, _ = torch.ops.fftconv.conv_fwd_infer(u, k, pre, post, d, True, 0)
    assert torch.equal(y, y_op)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        y2 = fftconv.fft_conv(u, k, pre, post, d)
    assert torch.equal(y, y2)
    assert any("fftconv::conv_fwd_infer" in e.name for e in prof.events())


def test_every_byte_of_the_spectrum_is_a_function_of_the_filter():
    """k_hat (the problem's bound of bytes) holds the same bytes on every call, whatever the
    allocator hands out: what opcheck and a saved graph compare."""
    for L, K in ((1000, 1000), (16000, 5000), (1000, 3)):  # FFT layouts; the taps of direct
        u, k, pre, post, d = (t.detach() for t in inputs(2, 3, L, K, torch.float16, seed=L))
        nbytes = fftconv.problem_sizes(2, 3, L, filter_len=K, dtype="fp16", pre=True, post=True,
                                       D=True)["filter"]
        got = []
        for fill in (0x5A, 0xA5):  # the allocator hands k_hat this block, poisoned
            junk = torch.full((nbytes,), fill, dtype=torch.uint8, device=DEV)
            del junk
            _, k_hat = torch.ops.fftconv.conv_fwd_infer(u, k, pre, post, d, True, 0)
            assert k_hat.numel() == nbytes
            got.append(k_hat.cpu())
            del k_hat
        assert torch.equal(got[0], got[1]), L


def _tool(env, name):
    exe = os.environ.get(env) or os.path.join(_capi.package_dir(), "bin", name)
    if not os.path.exists(exe):
        pytest.skip(f"{name} not found (set {env} or install the package)")
    return exe


def test_a_bundle_with_no_nvrtc(tmp_path):
    """A shape tuned (built-in choice, both ops) into a cache, exported as a bundle, then run
    forward and backward from the bundle in a process where NVRTC cannot be loaded and no
    cache exists: same numbers as float64 torch.fft, no compile, no warning."""
    db, out = tmp_path / "tuned.db", tmp_path / "bundle"
    subprocess.run([_tool("FFTCONV_TUNE", "fftconv-tune"), "--batch", "2", "--heads", "3",
                    "--seqlen", "1000", "--dtype", "bf16", "--mode", "causal", "--pregate",
                    "--postgate", "--skip-d", "--op", "both", "--rigor", "estimate", "--cache",
                    str(db), "--quiet"], check=True, timeout=600)
    subprocess.run([_tool("FFTCONV_CACHE_BIN", "fftconv-cache"), "--cache", str(db), "export",
                    "--out", str(out)], check=True, timeout=600)
    child = textwrap.dedent("""
        import warnings, torch, fftconv
        from fftconv import _capi
        warnings.simplefilter("error")
        g = torch.Generator(device="cuda").manual_seed(1)
        r = lambda *s, dt=torch.bfloat16: torch.randn(*s, device="cuda", generator=g).to(dt)
        u, pre, post = (r(2, 3, 1000).requires_grad_(True) for _ in range(3))
        k = (r(3, 1000, dt=torch.float32) / 32).requires_grad_(True)
        d = r(3, dt=torch.float32).requires_grad_(True)
        y = fftconv.fft_conv(u, k, pre, post, d)
        gu, gk = torch.autograd.grad(y.float().square().sum(), (u, k))
        x = [t.detach().double().requires_grad_(True) for t in (u, k, pre, post, d)]
        v = x[0] * x[2]
        z = torch.fft.irfft(torch.fft.rfft(v, n=2048) * torch.fft.rfft(x[1], n=2048), n=2048)
        yr = (z[..., :1000] + x[4][:, None] * v) * x[3]
        ru, rk = torch.autograd.grad(yr.square().sum(), (x[0], x[1]))
        rel = lambda a, b: ((a.double() - b).norm() / b.norm()).item()
        errs = (rel(y, yr), rel(gu, ru), rel(gk, rk))
        assert max(errs) < 8e-3, errs
        from fftconv import _runtime
        (s,) = _runtime._shapes.values()
        desc = _capi.lib().fftconv_plan_describe(s.plan).decode()
        assert "bundle" in desc, desc
        print("ok", errs, desc)
    """)
    env = dict(os.environ, FFTCONV_NVRTC=str(tmp_path / "no-such-libnvrtc.so"),
               FFTCONV_BUNDLE=str(out), FFTCONV_CACHE=str(tmp_path / "no-cache.db"))
    if not os.environ.get("FFTCONV_TEST_INSTALLED"):  # this checkout's package, as here
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_the_plain_calls_scratch_across_streams_and_threads():
    """The plain call reuses a k_hat scratch per thread and stream: calls with two filters
    interleaved on two streams and from two threads give what one call each gives."""
    import threading
    a = [t.detach() for t in inputs(2, 3, 1000, 1000, torch.float16, seed=8)]
    b = [t.detach() for t in inputs(2, 3, 1000, 1000, torch.float16, seed=9)]
    ya, yb = fftconv.fft_conv(*a), fftconv.fft_conv(*b)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    outs = {}

    def work(name, args, stream):
        with torch.cuda.stream(stream):
            outs[name] = [fftconv.fft_conv(*args) for _ in range(20)]
        stream.synchronize()

    for st in (s1, s2):
        st.wait_stream(torch.cuda.current_stream())
    th = [threading.Thread(target=work, args=("a", a, s1)),
          threading.Thread(target=work, args=("b", b, s1)),
          threading.Thread(target=work, args=("c", a, s2))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    torch.cuda.synchronize()
    assert all(torch.equal(y, ya) for y in outs["a"] + outs["c"])
    assert all(torch.equal(y, yb) for y in outs["b"])
