"""
=========================================================
Filters of the UFLDL sparse autoencoder on image patches
=========================================================

:class:`sparsecode.KLSparseEncoder` is the sparse autoencoder of Andrew Ng's
CS294A notes: sigmoid hidden units whose mean activation is pulled towards
``rho`` by a KL penalty. Trained by L-BFGS on whitened 8x8 patches of a
natural image, following the UFLDL recipe (patches with their mean removed,
whitening that keeps a low-pass roll-off, values clipped at three standard
deviations and scaled to +-0.4, ``rho = 0.01``, ``beta = 3``, 25 hidden
units), its filters (the rows of ``encoder_weights_``) come out as localised,
oriented edge detectors, like the receptive fields of simple cells in V1.
The scale matters: on data six times more energetic the same ``beta`` is too
weak against the reconstruction term and the filters stay noisy.
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_sample_image
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.image import extract_patches_2d

from sparsecode import KLSparseEncoder
from sparsecode._kmeans import zca

grey = load_sample_image("china.jpg").astype(float).mean(axis=2) / 255
patches = extract_patches_2d(grey, (8, 8), max_patches=10_000, random_state=0)
X = patches.reshape(len(patches), -1)
X -= X.mean(axis=1, keepdims=True)  # remove each patch's brightness
# the whitening of ThresholdEncoder(whiten=True), with a large regulariser: a
# low-pass roll-off instead of amplified JPEG noise
mean, W = zca(X, 10.0)
X_white = (X - mean) @ W
scale = 3 * X_white.std()
X_white = 0.4 * np.clip(X_white, -scale, scale) / scale

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    encoder = KLSparseEncoder(25, rho=0.01, beta=3.0, max_iter=400, random_state=0)
    encoder.fit(X_white)
print(f"{encoder.n_iter_} L-BFGS iterations in {time.perf_counter() - start:.1f} s; "
      f"mean activation {encoder.mean_activation_.mean():.4f} (rho = 0.01); "
      f"explained variance {encoder.score(X_white):.3f}")

# %%
# How local are the filters? The share of each filter's energy in its 16
# strongest pixels (a quarter of the patch): 0.25 for a filter spread evenly.
filters = encoder.encoder_weights_
energy = np.sort(filters**2, axis=1)[:, ::-1]
share = energy[:, :16].sum(axis=1) / energy.sum(axis=1)
print(f"energy in the top 16 of 64 pixels: median {np.median(share):.2f}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    from sparsecode.plotting import plot_atoms

    plot_atoms(filters, (8, 8), title="KLSparseEncoder filters on whitened 8x8 patches")
