"""SparseAutoencoder against the same SAE written plainly in PyTorch (CPU),
same data, same initial weights, same number of Adam steps: samples/s and
final loss for both, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/autoencoder.py
    ... benchmarks/autoencoder.py --part kl   # KLSparseEncoder against numpy + scipy L-BFGS

SAE part. The setting of DESIGN.md: d = 256 inputs, 2048 latents, batch 1024, float32,
ReLU + L1 (decoder-norm weighted) and TopK (k = 32), unit-norm decoder rows
with the parallel gradient component removed. AuxK is off on both sides (the
plain PyTorch SAE has none). The data: 40,960 samples of a planted sparse
dictionary (4096 unit atoms, 16 active per sample) plus noise.

KL part: KLSparseEncoder (L-BFGS) against the UFLDL sparse autoencoder written
plainly in numpy and minimised by the same scipy L-BFGS-B, same initial
weights, same iterations, on ZCA-whitened 8x8 patches of china.jpg.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

D_IN, LATENTS, BATCH, K, L1, LR = 256, 2048, 1024, 32, 3e-4, 1e-3


def make_data(n=40_960, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((4096, D_IN)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    X = np.zeros((n, D_IN), dtype=np.float32)
    for start in range(0, n, 4096):
        stop = min(start + 4096, n)
        idx = rng.integers(0, 4096, size=(stop - start, 16))
        coef = rng.exponential(1.0, size=(stop - start, 16)).astype(np.float32)
        X[start:stop] = np.einsum("nk,nkd->nd", coef, atoms[idx])
    X += 0.05 * rng.standard_normal(X.shape).astype(np.float32)
    return X


def init_weights(seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((LATENTS, D_IN)).astype(np.float32)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W


def run_sparsecode(X, activation, epochs):
    from sparsecode import SparseAutoencoder

    sae = SparseAutoencoder(LATENTS, activation=activation, k=K, l1=L1, batch_size=BATCH,
                            learning_rate=LR, max_iter=epochs, aux_k=0, b_dec_init="zeros",
                            n_iter_no_change=10**6, shuffle=False, random_state=0)
    # warm the JIT on a slice, then time the whole run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SparseAutoencoder(64, activation=activation, k=4, batch_size=64, max_iter=1,
                          random_state=0).fit(X[:256])
        W = init_weights()
        sae._init_state = _fixed_init(sae, W, X.shape[1])
        start = time.perf_counter()
        sae.fit(X)
    elapsed = time.perf_counter() - start
    return elapsed, sae.loss_curve_[-1]


def _fixed_init(sae, W, d):
    def init(X, rng):
        state = {"W_enc": W.copy(), "b_enc": np.zeros(LATENTS, np.float32), "W_dec": W.copy(),
                 "b_dec": np.zeros(d, np.float32)}
        moments = {name: (np.zeros_like(a), np.zeros_like(a)) for name, a in state.items()}
        return state, moments
    return init


def run_torch(X, activation, epochs):
    import torch

    W = torch.from_numpy(init_weights())
    W_enc = torch.nn.Parameter(W.clone())
    W_dec = torch.nn.Parameter(W.clone())
    b_enc = torch.nn.Parameter(torch.zeros(LATENTS))
    b_dec = torch.nn.Parameter(torch.zeros(D_IN))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=LR)
    data = torch.from_numpy(X)
    n = data.shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        total = 0.0
        for s in range(0, n, BATCH):
            x = data[s:s + BATCH]
            pre = (x - b_dec) @ W_enc.T + b_enc
            if activation == "relu":
                f = torch.relu(pre)
                penalty = L1 * (f * W_dec.norm(dim=1)).sum(dim=1).mean()
            else:
                top = torch.topk(pre, K, dim=1)
                f = torch.zeros_like(pre).scatter(1, top.indices, torch.relu(top.values))
                penalty = 0.0
            x_hat = f @ W_dec + b_dec
            loss = 0.5 * ((x_hat - x) ** 2).sum(dim=1).mean() + penalty
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                g = W_dec.grad
                g -= (g * W_dec).sum(dim=1, keepdim=True) * W_dec
            opt.step()
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=1, keepdim=True)
            total += float(loss.detach()) * x.shape[0]
    elapsed = time.perf_counter() - start
    return elapsed, total / n


def plain_kl_loss_grad(theta, X, m, rho, beta, wd):
    """The UFLDL sparse autoencoder (linear decoder) in plain numpy."""
    n, d = X.shape
    W1 = theta[:m * d].reshape(m, d)
    W2 = theta[m * d:2 * m * d].reshape(m, d)
    b1, b2 = theta[2 * m * d:2 * m * d + m], theta[2 * m * d + m:]
    A = 1.0 / (1.0 + np.exp(-(X @ W1.T + b1)))
    R = A @ W2 + b2 - X
    rho_hat = A.mean(axis=0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    loss = 0.5 * np.sum(R**2) / n + 0.5 * wd * (np.sum(W1**2) + np.sum(W2**2)) + beta * kl
    dA = R @ W2.T / n + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / n
    dZ = dA * A * (1 - A)
    grad = np.concatenate([(dZ.T @ X + wd * W1).ravel(), (A.T @ R / n + wd * W2).ravel(),
                           dZ.sum(axis=0), R.sum(axis=0) / n])
    return loss, grad


def kl_part(n_patches=10_000, hidden=(25, 100), iters=400):
    from problems import _grey_patches
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    from sparsecode import KLSparseEncoder
    from sparsecode._kmeans import zca

    P = _grey_patches("china.jpg", n_patches, 0)
    mean, W = zca(P, 0.1)
    X = (P - mean) @ W
    print(f"\nKL encoder: {n_patches} whitened 8x8 patches, rho 0.05, beta 3, "
          f"weight decay 1e-4, {iters} L-BFGS iterations")
    print("| hidden units | implementation | time (s) | final loss | mean activation |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for m in hidden:
        KLSparseEncoder(m, max_iter=2, random_state=0).fit(X[:500])  # warm the JIT
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            enc = KLSparseEncoder(m, max_iter=iters, tol=0, random_state=0).fit(X)
            ours = time.perf_counter() - start
        rng = np.random.RandomState(0)
        r = np.sqrt(6.0 / (m + X.shape[1] + 1))
        theta = np.concatenate([rng.uniform(-r, r, 2 * m * X.shape[1]),
                                np.zeros(m + X.shape[1])])
        print(f"| {m} | sparsecode | {ours:.2f} | {enc.loss_curve_[-1]:.5f} | "
              f"{enc.mean_activation_.mean():.4f} |", flush=True)
        for label, threads in (("numpy + scipy", None), ("numpy + scipy, BLAS on 1 thread", 1)):
            with threadpool_limits(threads, user_api="blas"):
                start = time.perf_counter()
                res = minimize(plain_kl_loss_grad, theta, args=(X, m, 0.05, 3.0, 1e-4),
                               jac=True, method="L-BFGS-B",
                               options={"maxiter": iters, "gtol": 0})
                plain = time.perf_counter() - start
            W1 = res.x[:m * X.shape[1]].reshape(m, -1)
            b1 = res.x[2 * m * X.shape[1]:2 * m * X.shape[1] + m]
            act = (1 / (1 + np.exp(-(X @ W1.T + b1)))).mean()
            print(f"| {m} | {label} | {plain:.2f} | {res.fun:.5f} | {act:.4f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--activations", nargs="+", default=["relu", "topk"])
    parser.add_argument("--part", choices=["sae", "kl", "all"], default="all")
    args = parser.parse_args()
    if args.part in ("kl", "all"):
        kl_part()
    if args.part == "kl":
        return
    X = make_data()
    n_samples = X.shape[0] * args.epochs
    print(f"{X.shape[0]} samples x {args.epochs} epochs, batch {BATCH}, "
          f"{X.shape[0] * args.epochs // BATCH} steps")
    print("| activation | implementation | time (s) | samples/s | last-epoch loss |")
    print("| --- | --- | ---: | ---: | ---: |")
    for activation in args.activations:
        for name, fn in (("sparsecode", run_sparsecode), ("PyTorch (CPU)", run_torch)):
            elapsed, loss = fn(X, activation, args.epochs)
            print(f"| {activation} | {name} | {elapsed:.2f} | {n_samples / elapsed:,.0f} | "
                  f"{loss:.5f} |", flush=True)


if __name__ == "__main__":
    main()
