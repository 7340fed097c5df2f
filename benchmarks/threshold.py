"""ThresholdEncoder: transform throughput against the bare GEMM ``X @ D.T`` on
the same data, and digits features in a tuned Pipeline against raw pixels and
DictionaryLearner codes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/threshold.py
    ... benchmarks/threshold.py --part throughput   # or --part digits

Throughput: each timing is the median over alternating rounds of repeats
(encoder, GEMM, encoder, ...), so both see the same machine load; the ratio is
encoder time over GEMM time.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import problem_a  # noqa: E402

ROUNDS, REPEATS = 3, 7


def _alternating(f, g):
    """Median times of ``f`` and ``g`` over rounds of ``REPEATS`` calls of
    each in turn, so both see the same machine. A pause starts each block:
    OpenBLAS workers spin for tens of milliseconds after a multi-threaded
    call and would take a core from whatever runs next (see README)."""
    tf, tg = [], []
    for _ in range(ROUNDS):
        for fn, ts in ((f, tf), (g, tg)):
            time.sleep(0.3)
            fn()
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
    return float(np.median(tf)), float(np.median(tg))


def throughput():
    from sklearn.datasets import load_digits

    from sparsecode import ThresholdEncoder

    digits = load_digits().data / 16.0
    patches = problem_a()[0]
    print("| data | dtype | atoms | mode | split_sign | X @ D.T (ms) | transform (ms) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    # one call on the 1797 digits is latency; 20 copies of them, throughput
    for name, X0 in (("digits 1797x64", digits), ("digits x20 35940x64", np.tile(digits, (20, 1))),
                     ("problem A 20000x64", patches)):
        for dtype in (np.float64, np.float32):
            X = X0.astype(dtype)
            for k in (256, 1600):
                for mode, split in (("soft", True), ("soft", False), ("topk", True),
                                    ("triangle", False)):
                    enc = ThresholdEncoder(k, dictionary="patches", mode=mode, k=k // 10,
                                           split_sign=split, random_state=0).fit(X)
                    D = enc.components_
                    enc.transform(X)  # warm the JIT
                    t_enc, t_gemm = _alternating(lambda: enc.transform(X), lambda: X @ D.T)
                    print(f"| {name} | {np.dtype(dtype).name} | {k} | {mode} | {split} | "
                          f"{t_gemm * 1e3:.2f} | {t_enc * 1e3:.2f} | {t_enc / t_gemm:.2f} |",
                          flush=True)


def digits():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline

    from sparsecode import DictionaryLearner, ThresholdEncoder

    warnings.filterwarnings("ignore")  # lbfgs convergence notes on raw features
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3,
                                                        random_state=0, stratify=y)
    classifier = LogisticRegression(max_iter=2000)
    candidates = {
        "raw pixels": (make_pipeline(classifier), {"logisticregression__C": [0.1, 1.0, 10.0]}),
        "ThresholdEncoder (soft, whitened, k-means)": (
            make_pipeline(ThresholdEncoder(whiten=True, random_state=0), classifier),
            {"thresholdencoder__n_components": [200, 400],
             "thresholdencoder__target_sparsity": [0.5, 0.8, 0.95]}),
        "ThresholdEncoder (triangle, whitened)": (
            make_pipeline(ThresholdEncoder(mode="triangle", whiten=True, random_state=0),
                          classifier),
            {"thresholdencoder__n_components": [200, 400]}),
        "DictionaryLearner codes (lasso)": (
            make_pipeline(DictionaryLearner(200, split_sign=True, max_iter=5, random_state=0),
                          classifier),
            {"dictionarylearner__alpha": [0.05, 0.2]}),
    }
    print("| features | best parameters | CV accuracy | test accuracy | grid search (s) | "
          "fit (s) | transform of the test set (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, (pipe, grid) in candidates.items():
        t0 = time.perf_counter()
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X_train, y_train)
        t_search = time.perf_counter() - t0
        best = search.best_estimator_
        t0 = time.perf_counter()
        best.fit(X_train, y_train)
        t_fit = time.perf_counter() - t0
        front = best[:-1]
        t_transform = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            if len(front):
                front.transform(X_test)
            t_transform = min(t_transform, time.perf_counter() - t0)
        params = {k.split("__")[1]: v for k, v in search.best_params_.items()}
        print(f"| {name} | {params} | {search.best_score_:.4f} | "
              f"{best.score(X_test, y_test):.4f} | {t_search:.1f} | {t_fit:.2f} | "
              f"{t_transform * 1e3:.2f} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["throughput", "digits", "all"], default="all")
    part = parser.parse_args().part
    if part in ("throughput", "all"):
        throughput()
    if part in ("digits", "all"):
        digits()
