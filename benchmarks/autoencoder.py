"""SparseAutoencoder against the same SAE written plainly in PyTorch (CPU),
same data, same initial weights, same number of Adam steps: samples/s and
final loss for both, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/autoencoder.py

The setting of DESIGN.md: d = 256 inputs, 2048 latents, batch 1024, float32,
ReLU + L1 (decoder-norm weighted) and TopK (k = 32), unit-norm decoder rows
with the parallel gradient component removed. AuxK is off on both sides (the
plain PyTorch SAE has none). The data: 40,960 samples of a planted sparse
dictionary (4096 unit atoms, 16 active per sample) plus noise.
"""

import argparse
import time
import warnings

import numpy as np

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--activations", nargs="+", default=["relu", "topk"])
    args = parser.parse_args()
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
