"""
==============================================
Image denoising with an overcomplete DCT (OMP)
==============================================

Code every overlapping 8x8 patch of a noisy grey image on a fixed overcomplete
DCT dictionary with error-targeted orthogonal matching pursuit: atoms are added
until the patch residual falls below the noise level, ``n * (1.15 sigma)^2``.
Averaging the overlapping reconstructions gives the denoised image. This is
K-SVD denoising (Elad & Aharon, 2006) without the learning step; a learned
dictionary (``DictionaryLearner``) does better.
"""

import time

import numpy as np
from sklearn.datasets import load_sample_image

from sparsecode.__main__ import denoise, overcomplete_dct, psnr

clean = load_sample_image("flower.jpg").astype(float).mean(axis=2)[100:356, 200:456] / 255
sigma = 0.1
noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)

start = time.perf_counter()
denoised, codes = denoise(noisy, sigma, overcomplete_dct())
print(f"{codes.shape[0]} patches, {codes.nnz / codes.shape[0]:.2f} atoms each, "
      f"{time.perf_counter() - start:.2f} s")
print(f"PSNR noisy {psnr(clean, noisy):.2f} dB -> denoised {psnr(clean, denoised):.2f} dB")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    for ax, img, title in zip(axes, [clean, noisy, denoised], ["clean", "noisy", "denoised"]):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    plt.tight_layout()
    plt.show()
