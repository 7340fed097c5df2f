"""The measurements behind ``algorithm="auto"``: homotopy (``lars``) against
coordinate descent (``cd``) as the dictionary's coherence and the support size
vary. Prints a markdown table.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/auto_rule.py
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import problem_a, problem_b  # noqa: E402

from sparsecode import sparse_encode  # noqa: E402
from sparsecode._encode_rules import mean_max_coherence, pick_algorithm  # noqa: E402

N = 5000


def synthetic(p, k, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((k, p))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = rng.standard_normal((N, k)) * (rng.random((N, k)) < 0.1)
    return Z @ D + 0.1 * rng.standard_normal((N, p)), D


def cases():
    X, D, alpha = problem_a(N)
    for f in (1.0, 0.3):
        yield "A (patches, p=64, k=256)", X, D, alpha * f
    for p, k in ((32, 256), (64, 256), (128, 128), (256, 512)):
        X, D = synthetic(p, k)
        base = float(np.median(np.abs(X @ D.T).max(axis=1)))
        for f in (0.5, 0.2, 0.05):
            yield f"Gaussian atoms, p={p}, k={k}", X, D, base * f
    X, D, alpha = problem_b(N)
    for f in (1.0, 0.5, 0.25):
        yield "B (sparse text-like, p=5000, k=128)", X, D, alpha * f


def best_time(X, D, algorithm, alpha, repeat=2):
    sparse_encode(X[:20], D, algorithm=algorithm, alpha=alpha)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, max_iter=5000)
        times.append(time.perf_counter() - start)
    return min(times), Z


def main():
    print(f"{N} samples per case; times in seconds (best of 2)\n")
    print("| problem | alpha | coherence | mean nnz | lars | cd | auto picks "
          "| auto's time / best |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for name, X, D, alpha in cases():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_lars, Z = best_time(X, D, "lars", alpha)
            t_cd, _ = best_time(X, D, "cd", alpha)
        coherence = mean_max_coherence(D)
        pick = pick_algorithm("auto", None, D @ D.T)
        ratio = (t_cd if pick == "cd" else t_lars) / min(t_cd, t_lars)
        nnz = np.count_nonzero(Z) / Z.shape[0]
        print(f"| {name} | {alpha:.3g} | {coherence:.2f} | {nnz:.1f} | {t_lars:.3f} | {t_cd:.3f} "
              f"| {pick} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
