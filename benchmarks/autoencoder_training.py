"""Training costs of two autoencoder options, each against the same run without
it, in the same process:

1. Sparse input: SparseAutoencoder epochs on a CSR matrix with its minibatches
   kept sparse (products with the CSR rows and a rank-one shift by ``b_dec``)
   against the same epochs with each minibatch densified into a buffer (the
   route above ``_SPARSE_INPUT_DENSITY``), across densities. This is the
   measurement behind those thresholds.
2. Dropout: the time of an epoch with ``dropout=0.3`` against ``dropout=0``
   (SparseAutoencoder ReLU and TopK; KLSparseEncoder with ``solver="adam"`` on
   dense and on sparse input, whose Gram route carries the mask).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/autoencoder_training.py

Data: random CSR rows (uniform values at random positions), float32; the
autoencoders are timed on ``--epochs`` epochs after one warm-up epoch on a
slice (the JIT compiled), median of ``--repeats`` fits.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp

import sparsecode._autoencoder as ae
from sparsecode import KLSparseEncoder, SparseAutoencoder


def _random_csr(n, d, density, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", dtype=np.float32, random_state=rng)
    X.data = rng.random(X.data.size).astype(np.float32)
    return X


def _time_fit(make, X, repeats):
    times = []
    for _ in range(repeats):
        est = make()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), est


def sparse_input(args):
    print(f"## SparseAutoencoder on {args.n:,} x {args.d:,} CSR rows, float32, "
          f"{args.epochs} epoch(s), batch 256\n")
    print("| activation | density | nnz per row | sparse minibatches (s) | densified (s) | "
          "speed-up | loss gap |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    saved = ae._SPARSE_INPUT_DENSITY
    for activation, m in (("topk", 128), ("relu", 128)):
        for density in args.densities:
            X = _random_csr(args.n, args.d, density)

            def make():
                return SparseAutoencoder(m, activation=activation, k=8, l1=1e-3,
                                         max_iter=args.epochs, batch_size=256,
                                         b_dec_init="mean", random_state=0)

            try:
                for route in (1.0, 0.0):  # compile and warm both routes
                    ae._SPARSE_INPUT_DENSITY = dict.fromkeys(saved, route)
                    _time_fit(lambda: make().set_params(max_iter=1), X[:2048], 1)
                ae._SPARSE_INPUT_DENSITY = dict.fromkeys(saved, 1.0)
                sparse_t, a = _time_fit(make, X, args.repeats)
                ae._SPARSE_INPUT_DENSITY = dict.fromkeys(saved, 0.0)
                dense_t, b = _time_fit(make, X, args.repeats)
            finally:
                ae._SPARSE_INPUT_DENSITY = saved
            # the same training either way, to float32 rounding (which can
            # flip a top-k choice and move the path a little)
            gap = abs(a.loss_curve_[-1] / b.loss_curve_[-1] - 1)
            assert gap < 1e-2, gap
            print(f"| {activation} | {density:g} | {X.nnz / X.shape[0]:.0f} | "
                  f"{sparse_t:.2f} | {dense_t:.2f} | {dense_t / sparse_t:.2f}x | {gap:.1e} |")
    print()


def dropout_cost(args):
    print(f"## Dropout's training cost ({args.epochs} epoch(s), median of {args.repeats})\n")
    print("| model | input | dropout 0 (s) | dropout 0.3 (s) | ratio |")
    print("|---|---|---:|---:|---:|")
    rng = np.random.default_rng(1)
    dense = rng.standard_normal((args.n, 256)).astype(np.float32)
    wide = _random_csr(args.n, args.d, 0.005)
    cases = [
        ("SparseAutoencoder(1024, relu)", "dense 256",
         lambda p: SparseAutoencoder(1024, activation="relu", max_iter=args.epochs,
                                     batch_size=256, random_state=0, **p), dense),
        ("SparseAutoencoder(1024, topk 32)", "dense 256",
         lambda p: SparseAutoencoder(1024, activation="topk", k=32, max_iter=args.epochs,
                                     batch_size=256, random_state=0, **p), dense),
        ("KLSparseEncoder(256, adam)", "dense 256",
         lambda p: KLSparseEncoder(256, solver="adam", max_iter=args.epochs, batch_size=256,
                                   random_state=0, **p), dense),
        ("KLSparseEncoder(256, adam)", f"CSR {args.d:,}, 0.5%",
         lambda p: KLSparseEncoder(256, solver="adam", max_iter=args.epochs, batch_size=256,
                                   random_state=0, **p), wide),
    ]
    for name, data, make, X in cases:
        _time_fit(lambda: make({"dropout": 0.3}).set_params(max_iter=1), X[:2048], 1)
        plain, _ = _time_fit(lambda: make({}), X, args.repeats)
        dropped, _ = _time_fit(lambda: make({"dropout": 0.3}), X, args.repeats)
        print(f"| {name} | {data} | {plain:.2f} | {dropped:.2f} | {dropped / plain:.2f}x |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--densities", type=float, nargs="+",
                        default=[0.002, 0.005, 0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--part", choices=["sparse", "dropout", "all"], default="all")
    args = parser.parse_args()
    if args.part in ("sparse", "all"):
        sparse_input(args)
    if args.part in ("dropout", "all"):
        dropout_cost(args)


if __name__ == "__main__":
    main()
