"""The SparseAutoencoder's loss and gradients in its two forms, on the CPU:
the CPU's own (sparse codes, row blocks on the kernel threads, Numba
kernels: sparsecode._autoencoder_model) against the array-API form the GPU
runs (dense codes, whole-batch expressions: sparsecode._autoencoder_xp) run
on numpy. One minibatch step of DESIGN.md's setting (d = 256, 2048 latents,
batch 1024, float32), ReLU + L1 and TopK (k = 32); the two alternated in
each round, best and median of the rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/autoencoder_forms.py

Why it exists: issue 21 asked for the losses written once for both devices;
this is the price that would cost the CPU (benchmarks/README.md).
"""

import argparse
import time

import array_api_compat.numpy as xp
import numpy as np

from sparsecode._autoencoder_model import sae_loss_grad as cpu_form
from sparsecode._autoencoder_xp import sae_loss_grad as xp_form

D_IN, LATENTS, BATCH, K = 256, 2048, 1024, 32


def topk_relu(pre, k):
    """The ReLU of each row's ``k`` largest entries, dense (what the GPU's
    warp kernel gives the array-API form)."""
    idx = np.argpartition(-pre, k - 1, axis=1)[:, :k]
    rows = np.arange(pre.shape[0])[:, None]
    out = np.zeros_like(pre)
    out[rows, idx] = np.maximum(pre[rows, idx], 0)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, D_IN)).astype(np.float32)
    W = (rng.standard_normal((LATENTS, D_IN)) / np.sqrt(D_IN)).astype(np.float32)
    P = {"W_enc": W, "b_enc": np.zeros(LATENTS, np.float32), "W_dec": W.copy(),
         "b_dec": np.zeros(D_IN, np.float32)}
    dead = np.zeros(LATENTS, dtype=bool)
    print("| activation | CPU form (ms) | array-API form on numpy (ms) | ratio (medians) | "
          "loss, CPU / array-API |")
    print("| --- | ---: | ---: | ---: | --- |")
    for activation, k, l1 in (("relu", 0, 1e-3), ("topk", K, 0.0)):
        common = dict(activation=activation, k=k, l1=l1, aux_k=0, aux_coef=0.0, dead=dead)
        forms = {"cpu": lambda: cpu_form(P, X, **common),
                 "xp": lambda: xp_form(xp, topk_relu, P, X, **common)}
        losses = {name: f()[0] for name, f in forms.items()}  # (and compile)
        times = {name: [] for name in forms}
        for _ in range(args.rounds):
            for name, f in forms.items():
                start = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - start)
        cpu, other = (np.array(times[name]) * 1e3 for name in ("cpu", "xp"))
        print(f"| {activation} | {cpu.min():.1f} (median {np.median(cpu):.1f}) | "
              f"{other.min():.1f} (median {np.median(other):.1f}) | "
              f"{np.median(other) / np.median(cpu):.2f}x | "
              f"{losses['cpu']:.6g} / {losses['xp']:.6g} |")


if __name__ == "__main__":
    main()
