#!/usr/bin/env python3
"""fp16_model.py: a CPU model of the tensor-core kernels' rounding, to predict their errors
before a GPU run (bench/NOTES.md 29).

Each pass of an N = r1 x r2 x ... transform is modelled as the kernels run it: an r-point DFT
on fp16 operands with an fp16 DFT matrix, accumulated in fp32, twiddles applied in fp32, the
result stored as fp16 for the next pass. `transform` prints the relative error of such
transforms against numpy's fft; `overlap-backward` models overlap_tc's backward (segments of M
points as complex pairs, P summed in fp32, dk by an fp32 inverse, outputs rounded to fp16) on
random inputs, with one line a seed of each gradient's relative error against float64.

  python3 bench/fp16_model.py transform
  python3 bench/fp16_model.py overlap-backward --factors 8,8,16,8 --taps 1 --seeds 20
It needs numpy only, and models the arithmetic, not the kernels' order of operations (the
H100's dense 8K backward measures about 1.35x the model's error).
"""
import argparse

import numpy as np


def h(a):
    return a.astype(np.float16).astype(np.float64)


def hc(z):
    return h(z.real) + 1j * h(z.imag)


def f32(z):
    return z.real.astype(np.float32).astype(np.float64) + 1j * z.imag.astype(np.float32).astype(np.float64)


def transform(x, factors, sign=-1):
    """The unscaled DFT (sign -1) or its inverse (+1) of x's last axis, pass by pass."""
    n = x.shape[-1]
    if len(factors) == 1:
        w = hc(np.exp(sign * 2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n))
        return hc(f32(x @ w.T))
    r, m = factors[0], n // factors[0]
    w = hc(np.exp(sign * 2j * np.pi * np.outer(np.arange(r), np.arange(r)) / r))
    y = f32(np.einsum("kn,...nm->...km", w, x.reshape(x.shape[:-1] + (r, m))))
    tw = np.exp(sign * 2j * np.pi * np.outer(np.arange(r), np.arange(m)) / n)
    z = transform(hc(f32(y * f32(tw))), factors[1:], sign)
    return np.swapaxes(z, -1, -2).reshape(x.shape[:-1] + (n,))


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def overlap_backward(factors, batch, heads, seqlen, taps, seed):
    """Each gradient's relative error for overlap_tc's backward modelled at one problem (causal,
    gated, with D). M = the product of factors; segments keep M - round8(taps - 1) outputs."""
    m = int(np.prod(factors))
    rng = np.random.default_rng(seed)
    u, pre, post, dy = (h(rng.uniform(-1, 1, (batch, heads, seqlen))) for _ in range(4))
    k = (rng.uniform(-1, 1, (heads, taps)) / np.sqrt(taps)).astype(np.float32).astype(np.float64)
    d = rng.uniform(-1, 1, heads).astype(np.float32).astype(np.float64)
    v, g = pre * u, dy * post
    z_ref, dv_ref = np.zeros_like(v), np.zeros_like(g)
    for j in range(taps):
        z_ref[..., j:] += k[None, :, j, None] * v[..., :seqlen - j]
        dv_ref[..., :seqlen - j] += k[None, :, j, None] * g[..., j:]
    dvt = dv_ref + d[None, :, None] * g
    ref = {"du": dvt * pre, "dpre": dvt * u, "dpost": dy * (z_ref + d[None, :, None] * v),
           "dk": np.stack([np.einsum("bht,bht->h", g[..., j:], v[..., :seqlen - j])
                           for j in range(taps)], -1)}
    seg = m - (taps - 1 + 7) // 8 * 8
    edge = m - seg
    pairs = -(-(-(-(seqlen + edge) // seg)) // 2)
    khat = f32(np.fft.fft(np.concatenate([k, np.zeros((heads, m - taps))], 1), axis=1) + d[:, None])
    vh, gh = h(v), h(g)
    z, dv, p = np.zeros_like(v), np.zeros_like(g), np.zeros((heads, m), complex)

    def window(x, s, own=False):
        w = np.zeros((batch, heads, m))
        t0 = s * seg - edge
        lo, hi = max(t0, 0), min(t0 + m, seqlen)
        if own:
            lo = max(lo, t0 + edge)
        if hi > lo:
            w[..., lo - t0:hi - t0] = x[..., lo:hi]
        return w

    for sp in range(pairs):
        zv = transform(window(vh, 2 * sp) + 1j * window(vh, 2 * sp + 1), factors)
        zg = transform(window(gh, 2 * sp) + 1j * window(gh, 2 * sp + 1), factors)
        zo = transform(window(gh, 2 * sp, True) + 1j * window(gh, 2 * sp + 1, True), factors)
        p += f32(np.conj(zv) * zo).sum(0)
        zz = transform(hc(f32(zv * khat[None] / m)), factors, +1)
        dd = transform(hc(f32(zg * np.conj(khat)[None] / m)), factors, +1)
        for pl, part in ((0, np.real), (1, np.imag)):
            t0 = (2 * sp + pl) * seg
            n = min(seg, seqlen - t0)
            if n > 0:
                z[..., t0:t0 + n] = part(zz)[..., edge:edge + n]
            lo, hi = max(t0 - edge, 0), min(t0 - edge + seg, seqlen)
            if hi > lo:
                dv[..., lo:hi] = part(dd)[..., lo - (t0 - edge):hi - (t0 - edge)]
    got = {"du": h(h(dv) * pre), "dpre": h(h(dv) * u), "dpost": h(h(z) * dy),
           "dk": np.real(np.fft.ifft(p, axis=1))[:, :taps].astype(np.float32)}
    return {name: rel(got[name], ref[name]) for name in ref}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["transform", "overlap-backward"])
    ap.add_argument("--factors", default="8,8,16,8", help="overlap-backward: M's factors")
    ap.add_argument("--taps", type=int, default=1)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--heads", type=int, default=5)
    ap.add_argument("--seqlen", type=int, default=10001)
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    if a.what == "transform":
        rng = np.random.default_rng(0)
        for fs in ([16, 16], [16, 8, 8], [16, 16, 16], [8, 8, 16, 8], [32, 16, 16]):
            n = int(np.prod(fs))
            x = hc(rng.uniform(-1, 1, (64, n)) + 0j)
            print(f"N={n:6d} {'x'.join(map(str, fs)):12s} {rel(transform(x, fs), np.fft.fft(x, axis=-1)):.2e}")
        return
    fs = [int(f) for f in a.factors.split(",")]
    errs = []
    for s in range(a.seeds):
        e = overlap_backward(fs, a.batch, a.heads, a.seqlen, a.taps, s)
        errs.append(e)
        print(f"seed {s:3d}  " + "  ".join(f"{k} {v:.2e}" for k, v in e.items()))
    for k in errs[0]:
        col = [e[k] for e in errs]
        print(f"{k:6s} median {np.median(col):.2e}  largest {max(col):.2e}  over 1e-3: {sum(c > 1e-3 for c in col)}")


if __name__ == "__main__":
    main()
