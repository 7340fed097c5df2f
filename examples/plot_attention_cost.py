"""
================================================
Sparse attention's cost against sequence length
================================================

Dense attention scores every pair of tokens: its time and memory grow as
``n^2``. :class:`~sparsecode.SparseAttentionTransformer` with a window of 64
(65 keys per token) scores ``65 n`` pairs and never forms an ``n x n`` array,
so its time grows as ``n``. This example times both on random tokens (d = 32,
float32), the dense one in numpy with the window as a mask (the same output),
and draws the Longformer pattern of a short sequence with two global tokens.
``benchmarks/attention.py`` runs the full comparison (10^3 to 10^6 tokens,
PyTorch's ``scaled_dot_product_attention`` too).
"""

import time

import numpy as np

from sparsecode import SparseAttentionTransformer


def dense_window_attention(X, half):
    n = X.shape[0]
    i = np.arange(n)
    S = (X * np.float32(1 / np.sqrt(X.shape[1]))) @ X.T
    S[np.abs(i[:, None] - i[None, :]) > half] = -np.inf
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S @ X


def best_time(f, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return min(times), out


rng = np.random.default_rng(0)
att = SparseAttentionTransformer("window", window=64).fit(np.zeros((1, 32), np.float32))
sizes = [500, 1000, 2000, 4000, 16000, 64000]
sparse_t, dense_t = [], []
print("     n | sparse (ms) | dense (ms) | max difference")
for n in sizes:
    X = rng.standard_normal((n, 32)).astype(np.float32)
    ts, out = best_time(lambda: att.transform(X))
    sparse_t.append(ts)
    if n <= 4000:  # dense: n^2 scores, 64 MB at 4,000 tokens
        td, ref = best_time(lambda: dense_window_attention(X, 32))
        dense_t.append(td)
        print(f"{n:6d} | {1e3 * ts:11.2f} | {1e3 * td:10.2f} | {np.abs(out - ref).max():.1e}")
    else:
        print(f"{n:6d} | {1e3 * ts:11.2f} |          - |")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    from sparsecode.plotting import plot_attention

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.loglog(sizes, sparse_t, "o-", label="sparse window attention")
    ax1.loglog(sizes[:len(dense_t)], dense_t, "s-", label="dense, masked (numpy)")
    ax1.set_xlabel("tokens n")
    ax1.set_ylabel("seconds")
    ax1.legend()
    X = rng.standard_normal((120, 8))
    lf = SparseAttentionTransformer("longformer", window=8, global_tokens=[0, 60]).fit(X)
    plot_attention(lf.attention_weights(X), ax=ax2,
                   title="longformer: window 8, global tokens 0 and 60")
    fig.tight_layout()
    plt.show()
