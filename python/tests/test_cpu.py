"""The Python package on a machine without a GPU (CI): it imports, finds libfftconv, answers
sizes from a problem alone, propagates shapes through fake tensors (forward and every
gradient), traces under torch.compile(fullgraph=True) with no graph break, matches
FlashFFTConv's module signature, and refuses bad input with a ValueError or TypeError naming
the argument."""
import inspect
import os

import pytest

import fftconv

torch = pytest.importorskip("torch")
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402


def test_imports_and_finds_its_library():
    from fftconv import _capi
    _capi.lib()  # raises, naming the places it looked, when libfftconv is missing
    assert fftconv.__version__


def test_a_missing_library_says_where_it_looked(monkeypatch, tmp_path):
    from fftconv import _capi
    monkeypatch.setattr(_capi, "_lib", None)
    monkeypatch.setattr(_capi, "package_dir", lambda: str(tmp_path))
    monkeypatch.setenv("FFTCONV_LIB", str(tmp_path / "nope.so"))
    with pytest.raises(RuntimeError, match="nope.so .no such file.*FFTCONV_LIB"):
        _capi.lib()


def test_sizes_from_the_problem_alone():
    s = fftconv.problem_sizes(64, 768, 4096, dtype="fp16", causal=False, pre=True, post=True)
    n, h = 4096, 768
    # the library's bounds (README, "sizes"): the forward's and the backward's filter layouts, each
    # after up to 10n bytes of twiddle tables (monarch_tc)
    assert s["filter"] == (10 * n + h * (12 * n + 8) + 255) // 256 * 256 + 10 * n + h * (8 * n + 8)
    assert s["forward"] == 4 * n + 1024 + 64 * h * 4 * n
    # up to n = 4096 a head may hold four shares of its batch (monarch_tc's split)
    assert s["backward"] == 64 * h * (8 * n + n // 16) + h * 4 * (8 * n + 4)
    with pytest.raises(ValueError, match="seqlen"):
        fftconv.problem_sizes(1, 1, 0)


def test_sizes_of_a_long_row_with_a_partial_filter():
    """Past the dense families' 2M (a causal row of 16M with 1024 taps, overlap_tc's): the
    spectrum bound is the short transforms', and the forward needs no workspace."""
    s = fftconv.problem_sizes(1, 8, 1 << 24, filter_len=1024, dtype="fp16", causal=True)
    assert 0 < s["filter"] < 8 * 20 * 32768 * 2 and s["forward"] == 0
    with pytest.raises(ValueError, match="with filter_len at most 16384"):
        fftconv.problem_sizes(1, 8, 1 << 24, filter_len=16385, dtype="fp16", causal=True)


def test_the_untuned_warning_names_the_whole_problem(monkeypatch):
    """The tune command the warning suggests is for this problem: a partial filter's taps and
    a frequency mask included (before, they were left out: it tuned K = L)."""
    from fftconv import _capi, _runtime
    for K, F, want, absent in ((1024, 0, "--filter-len 1024", "--freq-keep"),
                               (0, 37, "--freq-keep 37", "--filter-len"),
                               (65536, 0, "--pregate", "--filter-len")):
        monkeypatch.setattr(_runtime, "_warned", False)
        p = _capi.problem(2, 768, 65536, K, F, "fp16", True, True, True, False)
        with pytest.warns(RuntimeWarning) as rec:
            _runtime._warn_untuned(p, "direct r1 {} [heuristic; sm_90]")
        msg = str(rec[0].message)
        assert want in msg and absent not in msg, msg


def fake_inputs(B=3, H=5, L=1000, K=None, dtype=torch.float16, gates=True, D=True, grad=False,
                dev="cuda"):
    u = torch.empty(B, H, L, device=dev, dtype=dtype, requires_grad=grad)
    k = torch.empty(H, K or L, device=dev, requires_grad=grad)
    pre = torch.empty(B, H, L, device=dev, dtype=dtype, requires_grad=grad) if gates else None
    post = torch.empty(B, H, L, device=dev, dtype=dtype, requires_grad=grad) if gates else None
    d = torch.empty(H, device=dev, requires_grad=grad) if D else None
    return u, k, pre, post, d


# Fake CUDA tensors carry the forward; the autograd engine wants a real device for CUDA
# tensors, so the gradients' shapes are checked on the meta device (shape inference, which
# fft_conv accepts) and, for CUDA, through the backward op's fake implementation.
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("causal", [True, False])
def test_fake_shapes_forward_and_gradients(dtype, causal):
    L = 1000 if causal else 1024
    with FakeTensorMode():
        u, k, pre, post, d = fake_inputs(L=L, K=300, dtype=dtype)
        y = fftconv.fft_conv(u, k, pre, post, d, causal=causal)
        assert y.shape == u.shape and y.dtype == dtype and y.device == u.device
        _, k_hat = torch.ops.fftconv.conv_fwd(u, k, pre, post, d, causal, 0)
        du, dk, dpre, dpost, dd = torch.ops.fftconv.conv_bwd(y, u, k_hat, pre, post, 300, True,
                                                             causal, 0, [True] * 5)
        assert du.shape == u.shape and dk.shape == k.shape and dd.shape == d.shape
        assert dk.dtype == dd.dtype == torch.float32 and du.dtype == dtype
    u, k, pre, post, d = fake_inputs(L=L, K=300, dtype=dtype, grad=True, dev="meta")
    y = fftconv.fft_conv(u, k, pre, post, d, causal=causal)
    assert y.shape == u.shape and y.dtype == dtype and y.device == u.device
    gu, gk, gpre, gpost, gd = torch.autograd.grad(y.sum(), (u, k, pre, post, d))
    assert gu.shape == u.shape and gu.dtype == dtype
    assert gk.shape == k.shape and gk.dtype == torch.float32
    assert gpre.shape == pre.shape and gpost.shape == post.shape
    assert gd.shape == d.shape and gd.dtype == torch.float32


def test_only_the_gradients_asked_for():
    u, k, pre, post, d = fake_inputs(dev="meta")
    k.requires_grad_(True)
    y = fftconv.fft_conv(u, k, pre, post, d)
    (gk,) = torch.autograd.grad(y.sum(), (k,))
    assert gk.shape == k.shape
    with FakeTensorMode():  # an unwanted gradient comes back empty from the op
        u, k, pre, post, d = fake_inputs()
        y, k_hat = torch.ops.fftconv.conv_fwd(u, k, pre, post, d, True, 0)
        outs = torch.ops.fftconv.conv_bwd(y, u, k_hat, pre, post, 1000, True, True, 0,
                                          [False, True, False, False, False])
        assert [t.numel() for t in outs] == [0, 5 * 1000, 0, 0, 0]


def test_the_spectrum_is_computed_once_and_shared():
    """The forward op returns k_hat (sized from the problem alone) for the backward to reuse."""
    with FakeTensorMode():
        u, k, pre, post, d = fake_inputs()
        y, k_hat = torch.ops.fftconv.conv_fwd(u, k, pre, post, d, True, 0)
        assert k_hat.dtype == torch.uint8
        assert k_hat.numel() == fftconv.problem_sizes(3, 5, 1000, dtype="fp16", pre=True,
                                                      post=True, D=True)["filter"]


def test_torch_compile_fullgraph_traces_forward_and_backward():
    def block(u, k, pre, post, d):
        y = fftconv.fft_conv(torch.nn.functional.gelu(u), k, pre, post, d)
        return (y * 2).float().sum()

    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")
    with FakeTensorMode():  # CUDA tensors: the forward graph
        u, k, pre, post, d = fake_inputs()
        assert compiled(u, k, pre, post, d).shape == ()
    u, k, pre, post, d = fake_inputs(grad=True, dev="meta")  # and the joint graph
    loss = compiled(u, k, pre, post, d)
    loss.backward()
    assert k.grad is not None and k.grad.shape == k.shape and u.grad.shape == u.shape


def test_torch_compile_dynamic_shapes():
    """Symbolic B, H, L: the spectrum's size is left to run time (an unbacked size), so three
    lengths share one graph instead of specializing on each."""
    from torch._dynamo.utils import counters

    def f(u, k):
        return fftconv.fft_conv(u, k) * 2

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(f, fullgraph=True, backend="eager", dynamic=True)
    with FakeTensorMode():
        for L in (1000, 1500, 1700):
            u = torch.empty(2, 3, L, device="cuda", dtype=torch.float16)
            assert compiled(u, torch.empty(3, L, device="cuda")).shape == u.shape
    assert counters["stats"]["unique_graphs"] == 1


def test_flashfftconv_module_signature():
    init = inspect.signature(fftconv.FlashFFTConv.__init__)
    assert list(init.parameters) == ["self", "seqlen", "dtype", "use_32_butterfly"]
    assert init.parameters["dtype"].default is torch.float16
    assert init.parameters["use_32_butterfly"].default is True
    fwd = inspect.signature(fftconv.FlashFFTConv.forward)
    assert list(fwd.parameters) == ["self", "u", "k", "pregate", "postgate"]
    assert fwd.parameters["pregate"].default is None and fwd.parameters["postgate"].default is None


@pytest.mark.parametrize("L,K,n", [(1000, 1000, 2048), (2048, 2048, 2048), (1000, 1500, 2048),
                                   (4001, 4001, 8192), (300, 4000, 4096)])
def test_flashfftconv_module_shapes(L, K, n):
    """Causal (L + K - 1 <= seqlen), circular (L = seqlen) and the wrapped case (neither)."""
    m = fftconv.FlashFFTConv(n, dtype=torch.bfloat16)
    u = torch.empty(2, 3, L, device="meta", dtype=torch.bfloat16, requires_grad=True)
    k = torch.empty(3, K, device="meta", requires_grad=True)
    g = torch.empty(2, 3, L, device="meta", dtype=torch.bfloat16)
    y = m(u, k, g, g)
    assert y.shape == u.shape
    gu, gk = torch.autograd.grad(y.float().sum(), (u, k))
    assert gu.shape == u.shape and gk.shape == k.shape


def test_flashfftconv_module_refusals():
    with pytest.raises(ValueError, match="seqlen: 1000, must be a power of two"):
        fftconv.FlashFFTConv(1000)
    with pytest.raises(ValueError, match="seqlen: 8388608"):
        fftconv.FlashFFTConv(1 << 23)
    with pytest.raises(TypeError, match="dtype"):
        fftconv.FlashFFTConv(1024, dtype=torch.float32)
    with FakeTensorMode():
        m = fftconv.FlashFFTConv(1024)
        with pytest.raises(ValueError, match="u: length L = 2048 is more than seqlen = 1024"):
            m(torch.empty(1, 2, 2048, device="cuda", dtype=torch.float16),
              torch.empty(2, 100, device="cuda"))
        with pytest.raises(TypeError, match="this module was made for torch.float16"):
            m(torch.empty(1, 2, 512, device="cuda", dtype=torch.bfloat16),
              torch.empty(2, 100, device="cuda"))
        with pytest.raises(ValueError, match="k: length K = 2000, must be 1 to seqlen = 1024"):
            m(torch.empty(1, 2, 512, device="cuda", dtype=torch.float16),
              torch.empty(2, 2000, device="cuda"))


def test_depthwise_module_signature():
    init = inspect.signature(fftconv.FlashDepthWiseConv1d.__init__)
    assert list(init.parameters) == ["self", "channels", "kernel_size", "padding", "weights",
                                     "bias", "is_bhl", "device", "dtype"]
    assert init.parameters["is_bhl"].default is True
    assert list(inspect.signature(fftconv.FlashDepthWiseConv1d.forward).parameters) == ["self",
                                                                                       "x"]


def _causal64(u, k, causal=True):
    """The causal convolution by its definition, in float64: y[t] = sum_j k[j] u[t - j]."""
    assert causal
    L, K = u.shape[-1], k.shape[-1]
    assert K <= L, "fft_conv takes K <= L"
    y = torch.zeros(u.shape, dtype=torch.float64)
    for j in range(K):
        y[..., j:] += k[:, j, None].double() * u[..., :L - j].double()
    return y


@pytest.mark.parametrize("K,P,L", [(3, 2, 40), (4, 3, 17), (7, 0, 33), (7, 3, 33), (5, 9, 12),
                                   (3, 1, 1), (1, 0, 8), (64, 63, 100)])
def test_depthwise_is_conv1d_through_a_causal_convolution(K, P, L):
    """The module's mapping (flipped taps, the padding beyond the causal K - 1, the outputs
    before it dropped, the bias) against conv1d, with the causal convolution computed by its
    definition in float64: padding below, at and above K - 1, an input shorter than K."""
    from fftconv.module import depthwise
    g = torch.Generator().manual_seed(K * 100 + P * 10 + L)
    H = 5
    u = torch.randn(3, H, L, generator=g, dtype=torch.float64)
    w = torch.randn(H, K, generator=g, dtype=torch.float64)
    b = torch.randn(H, generator=g, dtype=torch.float64)
    want = torch.nn.functional.conv1d(u, w[:, None, :], b, padding=P, groups=H)
    got = depthwise(u, w, b, P, conv=_causal64)
    assert got.shape == want.shape
    # the taps go to fft_conv in fp32 (its filters are fp32): that rounding, no more
    assert torch.allclose(got, want, rtol=1e-6, atol=1e-6)


def test_depthwise_module_off_cuda_is_conv1d_and_refuses_bad_input():
    H, K = 4, 3
    w, b = torch.randn(H, 1, K), torch.randn(H)  # torch.nn.Conv1d's weight shape is accepted
    m = fftconv.FlashDepthWiseConv1d(H, K, K - 1, w, b)
    assert m.weights.shape == (H, K) and m.bias.shape == (H,)
    x = torch.randn(2, H, 50)
    want = torch.nn.functional.conv1d(x, w, b, padding=K - 1, groups=H)
    assert torch.allclose(m(x), want)
    t = fftconv.FlashDepthWiseConv1d(H, K, 1, w, b, is_bhl=False)
    assert torch.allclose(t(x.transpose(1, 2)),
                          torch.nn.functional.conv1d(x, w, b, padding=1, groups=H).transpose(1, 2))
    with pytest.raises(ValueError, match=r"weights: shape \(4, 2\), must be \(channels, kernel_size\)"):
        fftconv.FlashDepthWiseConv1d(H, K, 0, torch.randn(H, 2), b)
    with pytest.raises(ValueError, match=r"bias: shape \(3,\), must be \(channels,\)"):
        fftconv.FlashDepthWiseConv1d(H, K, 0, w, torch.randn(3))
    with pytest.raises(ValueError, match="padding -1"):
        fftconv.FlashDepthWiseConv1d(H, K, -1, w, b)
    with pytest.raises(TypeError, match="kernel_size: expected an int"):
        fftconv.FlashDepthWiseConv1d(H, 3.0, 0, w, b)
    with pytest.raises(ValueError, match="x: 5 channels, this module has 4"):
        m(torch.randn(2, 5, 50))
    with pytest.raises(ValueError, match="shorter than kernel_size"):
        fftconv.FlashDepthWiseConv1d(H, K, 0, w, b)(torch.randn(2, H, 2))


def _masked64(n):
    """fft_conv as fftconv defines it at FFT size n, in float64 torch.fft: the first L outputs
    of the circular convolution of the zero-padded x with k, the filter's bins f with min(f,
    n - f) >= freq_keep zeroed (none when freq_keep is None)."""
    def conv(x, k, causal=True, freq_keep=None):
        assert causal and k.dtype == torch.float32 and k.shape[-1] <= x.shape[-1]
        kf = torch.fft.rfft(k.double(), n=n)
        if freq_keep:
            kf = kf * (torch.arange(kf.shape[-1]) < freq_keep)
        return torch.fft.irfft(torch.fft.rfft(x.double(), n=n) * kf, n=n)[..., :x.shape[-1]]
    return conv


@pytest.mark.parametrize("L,K,NP", [(256, 256, 64), (256, 100, 300), (1024, 7, 3), (64, 64, 1)])
def test_sparse_modules_are_flashfftconvs_formulas(monkeypatch, L, K, NP):
    """PartialFFTConv and FrequencySparseFFTConv hand fft_conv what makes FlashFFTConv's
    formulas (an FFT of size 2L; the first N_partial taps; bins from N_partial // 2 zeroed):
    checked with fft_conv replaced by its definition in float64 at fftconv's FFT size for the
    problem (2L for these), against the formulas themselves."""
    from fftconv import module, ops
    g = torch.Generator().manual_seed(L + K + NP)
    x = torch.randn(2, 3, L, generator=g, dtype=torch.float64)
    k = torch.randn(3, K, generator=g)
    monkeypatch.setattr(ops, "fft_conv", _masked64(2 * L))
    cuda = torch.Tensor.is_cuda
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda t: True))
    try:
        part = module.PartialFFTConv(NP)(x, k)
        sparse = module.FrequencySparseFFTConv(NP)(x, k)
    finally:
        monkeypatch.setattr(torch.Tensor, "is_cuda", cuda)
    kp = k[..., :NP].double()
    want_part = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * torch.fft.rfft(kp, n=2 * L),
                                n=2 * L)[..., :L]
    kf = torch.fft.rfft(k.double(), n=2 * L)
    kf[..., NP // 2:] = 0
    want_sparse = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * kf, n=2 * L)[..., :L]
    assert torch.allclose(part.double(), want_part, atol=1e-9)
    assert torch.allclose(sparse.double(), want_sparse, atol=1e-9)


def test_sparse_modules_signatures_and_refusals():
    for cls in (fftconv.PartialFFTConv, fftconv.FrequencySparseFFTConv):
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "N_partial"]
        assert list(inspect.signature(cls.forward).parameters) == ["self", "x", "k"]
        with pytest.raises(ValueError, match="N_partial: 0, must be >= 1"):
            cls(0)
        with pytest.raises(TypeError, match="N_partial: expected an int"):
            cls(2.5)
        # off CUDA: the formula itself, in x's dtype
        x, k = torch.randn(1, 2, 100, dtype=torch.bfloat16), torch.randn(2, 100)
        assert cls(40)(x, k).dtype == torch.bfloat16


def test_bad_inputs_name_the_argument():
    def cpu(*s, dtype=torch.float16):
        return torch.empty(*s, dtype=dtype)

    # CPU tensors: refused before any work, never copied
    with pytest.raises(ValueError, match="u: must be on a CUDA device, got cpu"):
        fftconv.fft_conv(cpu(2, 3, 64), cpu(3, 64, dtype=torch.float32))
    with pytest.raises(TypeError, match="u: expected a torch.Tensor"):
        fftconv.fft_conv([1, 2, 3], None)
    with FakeTensorMode():
        u, k, pre, post, d = fake_inputs()
        with pytest.raises(TypeError, match="k: dtype torch.float16, must be float32"):
            fftconv.fft_conv(u, k.half())
        with pytest.raises(TypeError, match="u: dtype torch.int32 is not one of"):
            fftconv.fft_conv(u.int(), k)
        with pytest.raises(TypeError, match="pre: dtype torch.bfloat16, must be u's"):
            fftconv.fft_conv(u, k, pre.bfloat16())
        with pytest.raises(ValueError, match=r"u: expected of shape \(B, H, L\) \(3 dimensions\)"):
            fftconv.fft_conv(u[0], k)
        with pytest.raises(ValueError, match="k: 4 heads, u has H = 5"):
            fftconv.fft_conv(u, k[:4])
        with pytest.raises(ValueError, match="k: length K = 1001, must be 1 to L = 1000"):
            fftconv.fft_conv(u, torch.empty(5, 1001, device="cuda"))
        with pytest.raises(ValueError, match=r"post: shape \(3, 5, 999\), must be u's"):
            fftconv.fft_conv(u, k, None, post[..., 1:].contiguous())
        with pytest.raises(ValueError, match="D: 4 heads"):
            fftconv.fft_conv(u, k, D=d[:4])
        with pytest.raises(ValueError, match="u: must be contiguous"):
            fftconv.fft_conv(u.transpose(0, 1), k[:3])
        with pytest.raises(ValueError, match="freq_keep"):
            fftconv.fft_conv(u, k, freq_keep=-1)
        # the library's own range checks, through the fake implementation: the field named
        with pytest.raises(ValueError, match="seqlen"):
            big = torch.empty(1, 1, 3 << 21, device="cuda", dtype=torch.float16)
            fftconv.fft_conv(big, torch.empty(1, 3 << 21, device="cuda"), causal=False)
        with pytest.raises(ValueError, match="freq_keep"):
            fftconv.fft_conv(u, k, freq_keep=1 << 20)


def test_tensors_on_two_devices():
    with FakeTensorMode():
        u, k, pre, post, d = fake_inputs()
        try:
            k1 = torch.empty(5, 1000, device="cuda:1")
        except Exception as ex:  # a fake second device needs torch to believe in it
            pytest.skip(f"no fake cuda:1 here: {ex}")
        with pytest.raises(ValueError, match="k: on cuda:1, but u is on cuda:0"):
            fftconv.fft_conv(u, k1)


def test_the_hyena_example_runs_its_reference():
    """examples/hyena_train.py's torch.fft path on the CPU (two steps): the script runs and
    prints its loss table and step time."""
    import os
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "hyena_train.py"),
                          "--backends", "torch", "--device", "cpu", "--steps", "2", "--seqlen",
                          "256", "--batch", "2", "--width", "16"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "associative recall, L = 256" in out.stdout and "step time torch" in out.stdout


def test_inference_skips_the_autograd_kernel():
    """No input requiring grad (or no_grad): the op without the autograd registration, whose
    Python kernel would cost about 4 us a call; otherwise the one with it."""
    from fftconv.ops import conv_fwd, conv_fwd_infer, forward_op
    u, k, pre, post, d = fake_inputs(dev="meta")
    assert forward_op(u, k, pre, post, d) is conv_fwd_infer
    k.requires_grad_(True)
    assert forward_op(u, k, pre, post, d) is conv_fwd
    with torch.no_grad():
        assert forward_op(u, k, pre, post, d) is conv_fwd_infer
        assert fftconv.fft_conv(u, k, pre, post, d).grad_fn is None
    assert fftconv.fft_conv(u, k, pre, post, d).grad_fn is not None


def test_a_plan_says_why_it_cannot_be_made():
    """Without a GPU driver the plan's context fails with the library's reason; during a CUDA
    graph capture no plan is made at all, and the error says to run the shape first."""
    from fftconv import _capi, _runtime
    fields = (2, 3, 1000, 1000, 0, "fp16", True, True, True, False)
    with pytest.raises(RuntimeError, match="cannot be made while a CUDA graph is being captured"):
        _runtime.shape(0, fields, True)
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the plan would be made")
    with pytest.raises(_capi.FFTConvError, match="fftconv context on cuda:0: .*driver"):
        _runtime.shape(0, fields, False)


def test_nvrtc_is_found_in_torchs_wheels(monkeypatch, tmp_path):
    """No NVRTC on the loader's path or in a toolkit: the copy of torch's CUDA wheels (site-
    packages/nvidia/*/lib) is named to the library; one on the loader's path, or
    FFTCONV_NVRTC set, is left to the library."""
    from fftconv import _capi
    wheel = tmp_path / "site" / "nvidia" / "cu13" / "lib"
    wheel.mkdir(parents=True)
    (wheel / _capi.NVRTC).write_bytes(b"")
    monkeypatch.delenv("FFTCONV_NVRTC", raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setattr(_capi.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(_capi, "_toolkit_dirs", lambda: [str(tmp_path / "no-toolkit")])
    monkeypatch.setattr(_capi.sys, "path", [str(tmp_path / "site")])
    assert _capi.find_nvrtc() == str(wheel / _capi.NVRTC)
    toolkit = tmp_path / "cuda" / "lib64"
    toolkit.mkdir(parents=True)
    (toolkit / _capi.NVRTC).write_bytes(b"")
    monkeypatch.setattr(_capi, "_toolkit_dirs", lambda: [str(toolkit)])
    assert _capi.find_nvrtc() == str(toolkit / _capi.NVRTC)  # the toolkit's first
    monkeypatch.setenv("LD_LIBRARY_PATH", str(wheel))
    assert _capi.find_nvrtc() is None  # the loader finds it
    monkeypatch.setenv("FFTCONV_NVRTC", "/x/libnvrtc.so.13")
    assert _capi.find_nvrtc() is None


def test_the_library_compiles_with_torchs_nvrtc(tmp_path):
    """torch's own NVRTC (its CUDA wheels' copy, where installed) compiles fftconv's kernels:
    fftconv-tune --dry-run with FFTCONV_NVRTC pointing at it, no GPU needed."""
    import subprocess
    from fftconv import _capi
    found = [os.path.join(d, _capi.NVRTC) for d in _capi._wheel_dirs()
             if os.path.exists(os.path.join(d, _capi.NVRTC))]
    tune = os.environ.get("FFTCONV_TUNE")
    if not found or not tune:
        pytest.skip("no NVRTC 13 in torch's wheels here, or no FFTCONV_TUNE")
    r = subprocess.run([tune, "--dry-run", "--template", "monarch_tc", "--seqlen", "1000",
                        "--batch", "1", "--heads", "2", "--rigor", "estimate", "--op", "forward",
                        "--cache", str(tmp_path / "c.db"), "--quiet"],
                       env=dict(os.environ, FFTCONV_NVRTC=found[0]), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compiled 1 of 1" in r.stdout, r.stdout + r.stderr
