"""
===========================================================
Sparse coding on the GPU
===========================================================

:func:`sparsecode.sparse_encode` runs on the GPU when given CuPy arrays:
FISTA's products go to cuBLAS and its soft threshold, momentum and restart
run in one fused CUDA kernel, one warp per signal. The codes come back on the
GPU. This example codes image patches on both devices and compares the
objective reached and the time.

It needs an NVIDIA GPU and the ``gpu`` extra (``pip install
'sparsecode[gpu]'``); elsewhere it says so and stops, so the gallery built
without a GPU shows that message rather than numbers.
"""

import time

import numpy as np
from sklearn.datasets import load_sample_image
from sklearn.feature_extraction.image import extract_patches_2d

from sparsecode import sparse_encode


def gpu_or_reason():
    try:
        import cupy as cp
    except ImportError:
        return None, "CuPy is not installed (pip install 'sparsecode[gpu]')"
    try:
        if cp.cuda.runtime.getDeviceCount() == 0:
            return None, "CuPy sees no CUDA device"
    except Exception as exc:  # no driver
        return None, f"no CUDA device ({type(exc).__name__})"
    return cp, None


image = load_sample_image("china.jpg").mean(axis=2) / 255.0
X = extract_patches_2d(image, (8, 8), max_patches=200_000, random_state=0).reshape(-1, 64)
X = (X - X.mean(axis=1, keepdims=True)).astype(np.float32)
rng = np.random.default_rng(0)
D = X[rng.choice(len(X), 256, replace=False)]
D /= np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
alpha = 0.05


def objective(Z):
    R = X - Z @ D
    return 0.5 * float(np.einsum("ij,ij->", R, R)) + alpha * float(np.abs(Z).sum())


cp, reason = gpu_or_reason()
if cp is None:
    print(f"No GPU here: {reason}. This example runs where CuPy sees a CUDA device.")
else:
    # %%
    # The CPU (Numba kernels, all cores) and the GPU on the same 200,000 patches.
    sparse_encode(X[:1000], D, algorithm="fista", alpha=alpha)  # compile the CPU kernels
    start = time.perf_counter()
    Z_cpu = sparse_encode(X, D, algorithm="fista", alpha=alpha)
    t_cpu = time.perf_counter() - start

    Xg, Dg = cp.asarray(X), cp.asarray(D)
    sparse_encode(Xg[:1000], Dg, algorithm="fista", alpha=alpha)  # compile the CUDA kernels
    cp.cuda.Device().synchronize()
    start = time.perf_counter()
    Zg = sparse_encode(Xg, Dg, algorithm="fista", alpha=alpha)
    cp.cuda.Device().synchronize()
    t_gpu = time.perf_counter() - start
    Z_gpu = cp.asnumpy(Zg)

    print(f"CPU: {t_cpu:.2f} s, objective {objective(Z_cpu):.6g}")
    print(f"GPU: {t_gpu:.3f} s, objective {objective(Z_gpu):.6g} ({t_cpu / t_gpu:.0f}x)")
    print(f"codes agree to {np.linalg.norm(Z_gpu - Z_cpu) / np.linalg.norm(Z_cpu):.1e} "
          "(relative)")

    # %%
    # Time per 100,000 signals on each device.
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # the example also runs as a plain script
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.barh(["CPU", "GPU"], [t_cpu / len(X) * 1e5, t_gpu / len(X) * 1e5])
        ax.set_xlabel("seconds per 100,000 patches (FISTA, 256 atoms)")
        fig.tight_layout()
