"""
==============================================
Non-local means as sparse window attention
==============================================

Non-local means (Buades, Coll & Morel, 2005) replaces each pixel by an average
of the pixels around it, each weighted by how much its surrounding patch looks
like the pixel's own patch: :math:`w_{ij} \\propto \\exp(-\\|P_i - P_j\\|^2 / h^2)`
over a search window. That is softmax attention: tokens are the patches in
raster order, each attends to the patches of its 2-D window, the score is the
negative squared distance, and the values are the patches (whose centre column
is the pixel). :class:`~sparsecode.SparseAttentionTransformer` with
``pattern="window2d"`` computes it without ever forming the
``n_pixels x n_pixels`` weight matrix; ``attention_weights`` shows one row of
it.
"""

import time

import numpy as np
from sklearn.datasets import load_sample_image

from sparsecode import SparseAttentionTransformer
from sparsecode.__main__ import psnr

clean = load_sample_image("china.jpg").astype(float).mean(axis=2)[150:278, 200:360] / 255
sigma = 0.08
noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
H, W = noisy.shape

# one token per pixel: its 5 x 5 patch (edges mirrored)
r = 2
padded = np.pad(noisy, r, mode="reflect")
patches = np.lib.stride_tricks.sliding_window_view(padded, (2 * r + 1, 2 * r + 1))
patches = np.ascontiguousarray(patches.reshape(H * W, -1))

# a 21 x 21 search window (window=20: 10 neighbours each way along each axis)
# and h^2 proportional to the patch size and the noise variance
nlm = SparseAttentionTransformer("window2d", grid_shape=(H, W), window=20,
                                 similarity="neg_sq_dist",
                                 bandwidth=np.sqrt(patches.shape[1]) * sigma)
start = time.perf_counter()
denoised = nlm.fit_transform(patches)[:, patches.shape[1] // 2].reshape(H, W)
print(f"{H * W} tokens x {21 * 21} keys: {time.perf_counter() - start:.2f} s")
print(f"PSNR noisy {psnr(clean, noisy):.2f} dB -> non-local means {psnr(clean, denoised):.2f} dB")

# the weights of one pixel, a row of the sparse attention matrix
weights = nlm.attention_weights(patches)
pixel = 70 * W + 95
row = weights[[pixel], :].toarray().reshape(H, W)
print(f"pixel {pixel}: {weights[[pixel], :].nnz} keys, weights sum to {row.sum():.6f}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    panels = [(noisy, "noisy", "gray"), (denoised, "non-local means", "gray"),
              (clean, "clean", "gray"), (row, "weights of one pixel", "magma")]
    for ax, (img, title, cmap) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, **({"vmin": 0, "vmax": 1} if cmap == "gray" else {}))
        ax.set_title(title)
        ax.axis("off")
    axes[3].plot([95], [70], "c+", markersize=10)
    fig.tight_layout()

    # the pattern itself: the first 400 pixels' keys (raster order), each
    # query's 21 x 21 box cut by the image's top edge
    from sparsecode.plotting import plot_attention

    plot_attention(weights, max_tokens=400, title="window2d weights, first 400 pixels")
    plt.show()
