"""Window attention, one line per (dtype, n): ``transform`` best of 7 and its
share of a 2048^3 GEMM measured right after, for the sparsecode on
``PYTHONPATH``. Run it alternately for two trees to compare them in the same
minutes (this machine's speed drifts by tens of percent over minutes)::

    git worktree add /tmp/base <commit>
    for r in 1 2 3 4; do
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=/tmp/base \\
          .venv/bin/python benchmarks/attention_ab.py base
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. \\
          .venv/bin/python benchmarks/attention_ab.py new
    done

One sequence of standard normal tokens, d = 64, window 256 (257 keys per
query); flops counted as in benchmarks/attention.py (4 d per useful pair).
"""

import sys
import time

import numpy as np

from sparsecode import SparseAttentionTransformer


def main(label):
    results = {}
    for dtype in (np.float32, np.float64):
        for n in (10_000, 100_000):
            X = np.random.default_rng(0).standard_normal((n, 64)).astype(dtype)
            est = SparseAttentionTransformer("window", window=256).fit(X)
            est.transform(X)
            times = []
            for _ in range(7):
                start = time.perf_counter()
                est.transform(X)
                times.append(time.perf_counter() - start)
            results[(np.dtype(dtype).name, n)] = min(times)
    gemm = {}
    for dtype in (np.float32, np.float64):
        a = np.ones((2048, 2048), dtype)
        a @ a
        start = time.perf_counter()
        a @ a
        gemm[np.dtype(dtype).name] = 2 * 2048**3 / (time.perf_counter() - start) / 1e9
    for (name, n), seconds in results.items():
        pairs = sum(min(i + 128, n - 1) - max(i - 128, 0) + 1 for i in range(n))
        rate = 4 * 64 * pairs / seconds / 1e9
        print(f"{label} {name} n={n}: {seconds * 1e3:.1f} ms, {rate:.1f} GFLOP/s, "
              f"{100 * rate / gemm[name]:.0f}% of GEMM ({gemm[name]:.0f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
