"""The standard problems of DESIGN.md ("Measuring"), seeded. Shared by
``benchmarks/*.py`` and ``asv_bench/``."""

import numpy as np
import scipy.sparse as sp


def _grey_patches(image_name, n_patches, seed):
    from sklearn.datasets import load_sample_image
    from sklearn.feature_extraction.image import extract_patches_2d

    image = load_sample_image(image_name).astype(np.float64) / 255.0
    grey = image.mean(axis=2)
    patches = extract_patches_2d(grey, (8, 8), max_patches=n_patches, random_state=seed)
    X = patches.reshape(len(patches), -1)
    return X - X.mean(axis=1, keepdims=True)


def problem_a(n_samples=20000, n_components=256, seed=0):
    """Image patches: 8x8 grey patches of china.jpg, mean removed per patch;
    atoms are random (non-flat) patches scaled to unit norm; alpha = 0.05."""
    X = _grey_patches("china.jpg", n_samples, seed)
    rng = np.random.default_rng(seed)
    norms = np.linalg.norm(X, axis=1)
    candidates = np.flatnonzero(norms > 1e-3 * norms.max())
    D = X[rng.choice(candidates, n_components, replace=False)].copy()
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return X, D, 0.05


def problem_b(n_samples=20000, n_features=5000, n_components=128, seed=0):
    """Sparse text-like: CSR with density 0.005 and unit-norm rows; 128
    unit-norm Gaussian atoms; alpha = 0.6 x median over samples of max_k |c_ik|."""
    X = sp.random(n_samples, n_features, density=0.005, random_state=seed, format="csr")
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X = sp.csr_matrix(sp.diags(1.0 / norms) @ X)
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = X @ D.T
    alpha = 0.6 * float(np.median(np.abs(C).max(axis=1)))
    return X, D, alpha


def lasso_objective(X, D, Z, alpha):
    """Mean over samples of ``0.5 ||x - z D||^2 + alpha ||z||_1``, in Gram form
    so that a sparse X (or sparse codes) stays sparse: the one definition
    sparsecode itself scores with."""
    from sparsecode._dictionary_model import lasso_objective as per_sample

    return float(np.mean(per_sample(X, Z, D, alpha)))


def problem_c(n_train=50000, n_test=10000, seed=0):
    """Dictionary learning: 8x8 patches of china.jpg to train, of flower.jpg
    held out (mean removed per patch); 256 atoms, alpha = 0.05, batch 256."""
    return (_grey_patches("china.jpg", n_train, seed),
            _grey_patches("flower.jpg", n_test, seed + 1), 0.05)


def problem_d(n_tokens, dtype=np.float64, seed=0):
    """Attention: one sequence of ``n_tokens`` standard normal tokens, d = 64
    (window 256: each token sees 257 keys)."""
    return np.random.default_rng(seed).standard_normal((n_tokens, 64)).astype(dtype)
