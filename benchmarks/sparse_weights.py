"""Sparse encoder weights: transform time with the weights as CSR against the
dense GEMM on the same pruned model, and the explained variance lost to
pruning, across weight densities.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/sparse_weights.py

Models: SparseAutoencoder (ReLU + L1) trained with ``prune=density`` (Zhu &
Gupta's schedule over the first half of the epochs) on
- problem A (20,000 8x8 patches of china.jpg, d = 64), 1,024 latents;
- 20,000 synthetic signals, d = 256, each a sum of 8 of 2,048 planted unit atoms plus
  noise, 2,048 latents.
The transform of 20,000 held-out rows is timed twice on each model, once with
the CSR product forced and once with the dense GEMM (median of 5, both in the
same process, alternating); explained variance is on the held-out rows.
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import problem_a  # noqa: E402

DENSITIES = [1.0, 0.3, 0.1, 0.05, 0.02, 0.01]


def _synthetic(n, d=256, m=2048, k=8, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((m, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    X = np.zeros((n, d))
    for i in range(n):
        X[i] = rng.standard_normal(k) @ atoms[rng.choice(m, k, replace=False)]
    return X + 0.05 * rng.standard_normal((n, d))


def _median_times(f, g, repeats=5):
    tf, tg = [], []
    for _ in range(repeats):
        for fn, ts in ((f, tf), (g, tg)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return float(np.median(tf)), float(np.median(tg))


def main():
    import sparsecode._autoencoder_base as ae
    from sparsecode import SparseAutoencoder

    warnings.simplefilter("ignore")
    patches = problem_a(n_samples=40000)[0]
    problems = {
        "A d=64 m=1024": (patches[:20000], patches[20000:], 1024),
        "synthetic d=256 m=2048": (_synthetic(20000), _synthetic(20000, seed=1), 2048),
    }
    print("| data | density | explained variance | dense GEMM (ms) | CSR product (ms) | "
          "speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (train, test, m) in problems.items():
        for density in DENSITIES:
            est = SparseAutoencoder(m, l1=1e-3, max_iter=8, batch_size=256,
                                    early_stopping=False,  # all rows train, as measured
                                    prune=None if density == 1.0 else density,
                                    prune_epochs=4, random_state=0).fit(train)
            score = est.score(test)

            def with_threshold(value):
                def run():
                    ae._SPARSE_ENCODER_DENSITY = value
                    est.transform(test)
                return run

            with_threshold(2.0)()
            with_threshold(-1.0)()
            t_sparse, t_dense = _median_times(with_threshold(2.0), with_threshold(-1.0))
            print(f"| {name} | {est.encoder_density_:.3f} | {score:.4f} | "
                  f"{1e3 * t_dense:.1f} | {1e3 * t_sparse:.1f} | {t_dense / t_sparse:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
