"""Command line: ``python -m sparsecode {demo,config} | --version``.

``demo`` denoises a bundled image (scikit-learn's sample images) by coding its
8x8 patches on a fixed overcomplete DCT dictionary with error-targeted OMP
(Elad & Aharon 2006, without the dictionary learning), then averaging the
overlapping reconstructions. It prints the noisy and denoised PSNR and the
time, and writes the clean | noisy | denoised images side by side to a PNG.
"""

import argparse
import sys
import time

import numpy as np

from ._config import show_config
from ._encode import sparse_encode
from ._version import __version__


def overcomplete_dct(patch_size=8, n_atoms_1d=16):
    """2-D overcomplete DCT dictionary of shape (n_atoms_1d**2, patch_size**2):
    Kronecker products of 1-D cosines, non-constant atoms made zero-mean,
    every atom of unit norm."""
    t = np.arange(patch_size)
    D1 = np.cos(np.outer(np.arange(n_atoms_1d), t) * np.pi / n_atoms_1d)
    D1[1:] -= D1[1:].mean(axis=1, keepdims=True)
    D1 /= np.linalg.norm(D1, axis=1, keepdims=True)
    D = np.kron(D1, D1)
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def psnr(reference, image):
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    mse = np.mean((np.asarray(reference) - np.asarray(image)) ** 2)
    return float(10.0 * np.log10(1.0 / mse))


def denoise(noisy, sigma, dictionary, *, gain=1.15, max_atoms=None, n_jobs=None):
    """Denoise a grey image in [0, 1] patch by patch with OMP on ``dictionary``.

    Each mean-removed 8x8 patch is coded until its squared residual is below
    ``n_pixels * (gain * sigma)**2``; overlapping reconstructions are averaged.
    """
    from sklearn.feature_extraction.image import (
        extract_patches_2d,
        reconstruct_from_patches_2d,
    )

    side = int(round(np.sqrt(dictionary.shape[1])))
    patches = extract_patches_2d(noisy, (side, side)).reshape(-1, side * side)
    means = patches.mean(axis=1, keepdims=True)
    patches -= means
    target = side * side * (gain * sigma) ** 2
    codes = sparse_encode(
        patches, dictionary, algorithm="omp", alpha=target,
        n_nonzero_coefs=max_atoms or side * side // 2, sparse_output=True, n_jobs=n_jobs,
    )
    recon = np.asarray(codes @ dictionary) + means
    image = reconstruct_from_patches_2d(recon.reshape(-1, side, side), noisy.shape)
    return np.clip(image, 0.0, 1.0), codes


def run_demo(output="demo_denoise.png", image="china.jpg", sigma=0.1, crop=None,
             seed=0, file=None):
    """Run the denoising demo; returns a dict of the measured numbers."""
    from sklearn.datasets import load_sample_image

    out = file or sys.stdout
    clean = load_sample_image(image).astype(np.float64).mean(axis=2) / 255.0
    if crop:
        h0 = (clean.shape[0] - crop) // 2
        w0 = (clean.shape[1] - crop) // 2
        clean = clean[max(h0, 0):max(h0, 0) + crop, max(w0, 0):max(w0, 0) + crop]
    rng = np.random.default_rng(seed)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    D = overcomplete_dct()

    start = time.perf_counter()
    denoised, codes = denoise(noisy, sigma, D)
    elapsed = time.perf_counter() - start

    result = {
        "image": image,
        "shape": clean.shape,
        "sigma": sigma,
        "psnr_noisy": psnr(clean, noisy),
        "psnr_denoised": psnr(clean, denoised),
        "n_patches": codes.shape[0],
        "mean_atoms": codes.nnz / codes.shape[0],
        "seconds": elapsed,
        "output": output,
    }
    print(f"sparsecode {__version__} demo: {image} in grey, {clean.shape[1]}x{clean.shape[0]}, "
          f"Gaussian noise sigma={sigma}", file=out)
    print(f"  dictionary: overcomplete 2-D DCT, {D.shape[0]} atoms of 8x8", file=out)
    print(f"  coded {result['n_patches']} overlapping patches with OMP, "
          f"{result['mean_atoms']:.2f} atoms per patch on average", file=out)
    print(f"  PSNR noisy:    {result['psnr_noisy']:.2f} dB", file=out)
    print(f"  PSNR denoised: {result['psnr_denoised']:.2f} dB", file=out)
    print(f"  time (patches, coding, reconstruction): {elapsed:.2f} s", file=out)
    if output:
        _save_png(output, [clean, np.clip(noisy, 0, 1), denoised])
        print(f"  wrote {output} (clean | noisy | denoised)", file=out)
    return result


def _save_png(path, images):
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("writing the demo image needs Pillow: pip install "
                          "'sparsecode[demo]'") from exc
    gap = np.ones((images[0].shape[0], 8))
    row = np.hstack([part for img in images for part in (img, gap)][:-1])
    Image.fromarray((255 * np.clip(row, 0, 1)).astype(np.uint8)).save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sparsecode",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"sparsecode {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="denoise a bundled image with sparse_encode")
    demo.add_argument("--output", default="demo_denoise.png", help="PNG to write ('' for none)")
    demo.add_argument("--image", default="china.jpg", choices=["china.jpg", "flower.jpg"])
    demo.add_argument("--sigma", type=float, default=0.1, help="noise level, image in [0, 1]")
    demo.add_argument("--crop", type=int, default=None, help="use a centred square of this side")
    demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("config", help="print versions, threading layer, BLAS and GPU status")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.sigma <= 0:
            parser.error("--sigma must be positive")
        run_demo(output=args.output, image=args.image, sigma=args.sigma, crop=args.crop,
                 seed=args.seed)
    elif args.command == "config":
        show_config()
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
