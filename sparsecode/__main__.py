"""Command line: ``python -m sparsecode {demo,config,compile} | --version``.

``demo`` denoises a bundled image (scikit-learn's sample images): every
overlapping 8x8 patch is coded with error-targeted OMP and the reconstructions
are averaged (Elad & Aharon 2006), once on a fixed overcomplete DCT dictionary
and once on a dictionary learned by ``DictionaryLearner`` from the noisy image
itself. It prints the PSNRs and times and writes the images and the learned
atoms side by side to a PNG.

``compile`` fills Numba's cache with every CPU kernel for float64 and float32
ahead of use (Docker images, CI, Dask workers): see ``sparsecode._compile``.
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


def learn_dictionary(noisy, n_components=256, n_patches=20000, alpha=None, seed=0,
                     n_jobs=None):
    """Learn atoms (rows, unit norm) on random mean-removed 8x8 patches of the
    noisy image itself, one online epoch."""
    from sklearn.feature_extraction.image import extract_patches_2d

    from ._dictionary import DictionaryLearner

    P = extract_patches_2d(noisy, (8, 8), max_patches=n_patches, random_state=seed)
    P = P.reshape(len(P), -1)
    P -= P.mean(axis=1, keepdims=True)
    if alpha is None:
        alpha = 0.1 * float(np.median(np.linalg.norm(P, axis=1)))
    learner = DictionaryLearner(n_components=n_components, alpha=alpha, batch_size=256,
                                max_iter=1, random_state=seed, n_jobs=n_jobs)
    return learner.fit(P).components_


def run_demo(output="demo_denoise.png", image="china.jpg", sigma=20 / 255, crop=None,
             seed=0, file=None):
    """Denoise a bundled image with the DCT and with a dictionary learned on
    the noisy image itself; print PSNRs and times, write a PNG of the images
    and the learned atoms. Returns the measured numbers."""
    from sklearn.datasets import load_sample_image

    out = file or sys.stdout
    clean = load_sample_image(image).astype(np.float64).mean(axis=2) / 255.0
    if crop:
        h0 = max((clean.shape[0] - crop) // 2, 0)
        w0 = max((clean.shape[1] - crop) // 2, 0)
        clean = clean[h0:h0 + crop, w0:w0 + crop]
    rng = np.random.default_rng(seed)
    noisy = clean + sigma * rng.standard_normal(clean.shape)

    start = time.perf_counter()
    dct_image, dct_codes = denoise(noisy, sigma, overcomplete_dct())
    dct_seconds = time.perf_counter() - start

    start = time.perf_counter()
    learned = learn_dictionary(noisy, n_patches=min(20000, noisy.size // 4), seed=seed)
    learn_seconds = time.perf_counter() - start
    start = time.perf_counter()
    dl_image, dl_codes = denoise(noisy, sigma, learned)
    dl_seconds = time.perf_counter() - start

    result = {
        "image": image, "shape": clean.shape, "sigma": sigma,
        "psnr_noisy": psnr(clean, noisy),
        "psnr_dct": psnr(clean, dct_image), "seconds_dct": dct_seconds,
        "psnr_learned": psnr(clean, dl_image), "seconds_learn": learn_seconds,
        "seconds_learned_denoise": dl_seconds,
        "n_patches": dl_codes.shape[0], "output": output,
    }
    print(f"sparsecode {__version__} demo: {image} in grey, {clean.shape[1]}x{clean.shape[0]}, "
          f"Gaussian noise sigma={255 * sigma:.0f}/255", file=out)
    print(f"  {result['n_patches']} overlapping 8x8 patches, each coded by error-targeted OMP",
          file=out)
    print(f"  PSNR noisy:                      {result['psnr_noisy']:.2f} dB", file=out)
    print(f"  PSNR overcomplete DCT (256):     {result['psnr_dct']:.2f} dB   "
          f"({dct_seconds:.2f} s, {dct_codes.nnz / dct_codes.shape[0]:.2f} atoms/patch)",
          file=out)
    print(f"  PSNR learned dictionary (256):   {result['psnr_learned']:.2f} dB   "
          f"(learning {learn_seconds:.2f} s on the noisy image, denoising {dl_seconds:.2f} s, "
          f"{dl_codes.nnz / dl_codes.shape[0]:.2f} atoms/patch)", file=out)
    if output:
        _save_png(output, [clean, np.clip(noisy, 0, 1), dct_image, dl_image], learned)
        print(f"  wrote {output} (clean | noisy | DCT | learned, and the learned atoms)",
              file=out)
    return result


def _atom_mosaic(atoms, height):
    """Atoms as 8x8 tiles on a square grid, scaled to the given height."""
    from .plotting import atom_grid

    grid = atom_grid(atoms, (8, 8))
    reps = max(1, height // grid.shape[0])
    grid = np.kron(grid, np.ones((reps, reps)))
    pad = np.ones((height, grid.shape[1]))
    pad[:min(height, grid.shape[0])] = grid[:height]
    return pad


def _save_png(path, images, atoms=None):
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("writing the demo image needs Pillow: pip install "
                          "'sparsecode[demo]'") from exc
    parts = list(images)
    if atoms is not None:
        parts.append(_atom_mosaic(atoms, images[0].shape[0]))
    gap = np.ones((images[0].shape[0], 8))
    row = np.hstack([p for img in parts for p in (img, gap)][:-1])
    Image.fromarray((255 * np.clip(row, 0, 1)).astype(np.uint8)).save(path)


def run_compile(progress=True, file=None):
    """``python -m sparsecode compile``: returns the exit status (1 when a
    kernel was left uncompiled, which would be a bug in the job list)."""
    from ._compile import compile_kernels

    out = file or sys.stdout
    result = compile_kernels(progress=progress)
    print(f"sparsecode {__version__}: {result['kernels']} kernels compiled or loaded in "
          f"{result['seconds']:.1f} s (float64 and float32, dense and CSR input)", file=out)
    print(f"Numba cache: {result['cache']} ({result['why']})", file=out)
    if result["missing"]:
        print("never compiled: " + ", ".join(result["missing"]), file=out)
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sparsecode",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"sparsecode {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="denoise a bundled image with sparse_encode")
    demo.add_argument("--output", default="demo_denoise.png", help="PNG to write ('' for none)")
    demo.add_argument("--image", default="china.jpg", choices=["china.jpg", "flower.jpg"])
    demo.add_argument("--sigma", type=float, default=20 / 255,
                      help="noise level, image in [0, 1] (default 20/255)")
    demo.add_argument("--crop", type=int, default=None, help="use a centred square of this side")
    demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("config", help="print versions, kernel threads, BLAS and GPU status")
    comp = sub.add_parser("compile", help="compile every CPU kernel into Numba's cache now")
    comp.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.sigma <= 0:
            parser.error("--sigma must be positive")
        run_demo(output=args.output, image=args.image, sigma=args.sigma, crop=args.crop,
                 seed=args.seed)
    elif args.command == "config":
        show_config()
    elif args.command == "compile":
        return run_compile(progress=not args.quiet)
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
