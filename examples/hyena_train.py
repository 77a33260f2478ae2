"""A small Hyena-style model trained on associative recall, with the long convolution from
fftconv, from torch.fft (the reference) and, when importable, from FlashFFTConv: the same seed,
data and steps for each, the loss curves side by side and the step time of each.

    python3 examples/hyena_train.py                      # L = 4096, 300 steps, every backend
    python3 examples/hyena_train.py --seqlen 65536 --steps 100 --batch 4
    python3 examples/hyena_train.py --backends torch --device cpu --steps 5 --seqlen 256

Each block: input projections to (q, k, v), a short causal depthwise convolution, an implicit
long filter (an MLP of positional features times a decaying window), then
y = q * (long_conv(k * v, h) + D * (k * v)): fft_conv(v, h, pre=k, post=q, D=D). The task: a
sequence of key-value pairs followed by one of the keys; predict its value (cross-entropy on
the last position). Inputs of the convolution are bf16 (fp32 filters), as in training.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_torch(u, k, pre, post, d):
    """The reference: fp32 torch.fft, causal, FFT size 2L."""
    L = u.shape[-1]
    v = u.float() * pre.float()
    z = torch.fft.irfft(torch.fft.rfft(v, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
    return ((z + d[:, None] * v) * post.float()).to(u.dtype)


def make_conv(name, L, dtype):
    if name == "torch":
        return conv_torch
    if name == "fftconv":
        import fftconv
        return lambda u, k, pre, post, d: fftconv.fft_conv(u, k, pre, post, d, causal=True)
    if name == "flashfftconv":
        from flashfftconv import FlashFFTConv
        m = FlashFFTConv(2 * L, dtype=dtype).cuda()
        return lambda u, k, pre, post, d: m(u, k, pre, post) + (d[:, None] * u.float() *
                                                                pre.float() * post.float()).to(dtype)
    raise ValueError(f"backend: {name!r}, one of torch, fftconv, flashfftconv")


class HyenaBlock(nn.Module):
    def __init__(self, d, L, conv, dtype, order_feats=16):
        super().__init__()
        self.L, self.conv, self.dtype = L, conv, dtype
        self.proj = nn.Linear(d, 3 * d)
        self.short = nn.Conv1d(3 * d, 3 * d, 3, groups=3 * d, padding=2)
        self.filt = nn.Sequential(nn.Linear(2 * order_feats + 1, 64), nn.SiLU(), nn.Linear(64, d))
        self.decay = nn.Parameter(torch.linspace(0.3, 3.0, d))
        self.D = nn.Parameter(torch.randn(d) * 0.1)
        self.out = nn.Linear(d, d)
        t = torch.linspace(0, 1, L)[:, None]
        f = torch.arange(1, order_feats + 1)[None, :]
        self.register_buffer("pos", torch.cat([t, torch.sin(math.pi * f * t),
                                               torch.cos(math.pi * f * t)], dim=-1))

    def filter(self):
        h = self.filt(self.pos).transpose(0, 1)  # (d, L)
        window = torch.exp(-self.decay[:, None].abs() * torch.linspace(0, 8, self.L,
                                                                        device=h.device))
        return (h * window / self.L).float().contiguous()

    def forward(self, x):  # x (B, L, d)
        B, L, d = x.shape
        z = self.proj(x).transpose(1, 2)                 # (B, 3d, L)
        z = self.short(z)[..., :L]                       # causal short convolution
        q, k, v = (t.to(self.dtype).contiguous() for t in z.split(d, dim=1))
        y = self.conv(v, self.filter(), k, q, self.D.float())
        return x + self.out(y.float().transpose(1, 2))


class Model(nn.Module):
    def __init__(self, vocab, d, L, layers, conv, dtype):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(HyenaBlock(d, L, conv, dtype) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.emb(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x[:, -1]))


def recall_batch(gen, B, L, vocab, device):
    """Key-value pairs (keys from the first half of the vocabulary, values from the second),
    then one of the keys; the target is its value."""
    half = vocab // 2
    npairs = (L - 1) // 2
    keys = torch.randint(0, half, (B, npairs), generator=gen)
    vals = torch.randint(half, vocab, (B, npairs), generator=gen)
    seq = torch.stack([keys, vals], dim=-1).reshape(B, 2 * npairs)
    pick = torch.randint(0, npairs, (B,), generator=gen)
    query = keys[torch.arange(B), pick]
    # the value of the last occurrence of the query key
    match = (keys == query[:, None]).float() * torch.arange(1, npairs + 1)[None, :]
    target = vals[torch.arange(B), match.argmax(dim=1)]
    pad = torch.zeros(B, L - 1 - 2 * npairs, dtype=torch.long)
    tokens = torch.cat([pad, seq, query[:, None]], dim=1)
    return tokens.to(device), target.to(device)


def train(backend, a):
    device = torch.device(a.device)
    dtype = torch.bfloat16
    torch.manual_seed(a.seed)
    model = Model(a.vocab, a.width, a.seqlen, a.layers, make_conv(backend, a.seqlen, dtype),
                  dtype).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(a.seed + 1)
    losses, times = [], []
    for step in range(a.steps):
        tokens, target = recall_batch(gen, a.batch, a.seqlen, a.vocab, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(tokens), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    return losses, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", default="fftconv,torch,flashfftconv",
                    help="comma-separated: fftconv, torch (the reference), flashfftconv "
                    "(skipped when not importable)")
    ap.add_argument("--seqlen", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=32)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    results = {}
    for name in a.backends.split(","):
        try:
            results[name] = train(name, a)
        except ImportError as ex:
            print(f"{name}: skipped ({ex}; fftconv: pip install . or PYTHONPATH=python)")
    if not results:
        return
    names = list(results)
    print(f"associative recall, L = {a.seqlen}, B = {a.batch}, width {a.width}, "
          f"{a.layers} layers, bf16 convolution inputs, device {a.device}")
    print("step  " + "  ".join(f"{n:>12s}" for n in names))
    every = max(1, a.steps // 15)
    for s in sorted(set(range(0, a.steps, every)) | {a.steps - 1}):
        print(f"{s:4d}  " + "  ".join(f"{results[n][0][s]:12.4f}" for n in names))
    if "torch" in results:
        ref = results["torch"][0]
        for n in names:
            if n != "torch":
                dev = max(abs(x - y) for x, y in zip(results[n][0], ref))
                print(f"{n}: largest loss difference from torch.fft over the run {dev:.4f}")
    skip = min(10, a.steps // 2)
    med = {n: sorted(t[skip:])[len(t[skip:]) // 2] * 1e3 for n, (_, t) in results.items()}
    for n in names:
        extra = (f"  ({med['torch'] / med[n]:.2f}x torch.fft)" if "torch" in med and n != "torch"
                 else "")
        print(f"step time {n:12s} {med[n]:9.3f} ms (median after {skip} warm-up steps){extra}")


if __name__ == "__main__":
    main()
