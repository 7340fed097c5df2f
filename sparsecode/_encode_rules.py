"""The rules of ``sparse_encode``'s arguments, in one place for every backend:
which algorithms a backend runs, what ``"auto"`` picks there, which
arguments go together, the shapes they must have, and OMP's settings.

The three entry points (:mod:`sparsecode._encode` for numpy and SciPy,
:mod:`sparsecode._gpu` for CuPy, :mod:`sparsecode._array_api` for other
namespaces on their device) each check their input's own dtype and device,
then call :func:`check_arguments` (the CuPy one before it copies anything
to the device), :func:`check_shapes` and :func:`solver_settings`; none
repeats these rules.
"""

import warnings

import numpy as np

ALGORITHMS = ("auto", "lars", "cd", "fista", "ista", "omp", "threshold")

# What each backend runs (by its name): "numpy" (numpy and SciPy: the Numba kernels), "cupy"
# (the CUDA kernels), "namespace" (any other array-API namespace on its own
# device: the generic kernels of sparsecode._dense).
SUPPORTED = {
    "numpy": ALGORITHMS,
    "cupy": ("auto", "fista", "ista", "omp", "threshold"),
    "namespace": ("auto", "fista", "ista", "threshold"),
}

# "auto" takes coordinate descent below this dictionary coherence (the mean
# over atoms of the largest |cosine| with another atom), homotopy above it.
# benchmarks/README.md has the measurements behind the threshold.
_CD_COHERENCE = 0.2


def mean_max_coherence(dictionary):
    """Mean over (non-zero) atoms of the largest absolute cosine with another
    atom: about 0.05 for Gaussian atoms in 5000 dimensions, 0.8 and more for
    image patches."""
    D = np.asarray(dictionary, dtype=np.float64)
    return _gram_coherence(D @ D.T)


def _gram_coherence(gram):
    norms = np.sqrt(np.diag(gram))
    keep = norms > 0
    if keep.sum() < 2:
        return 0.0
    if not keep.all():
        gram, norms = gram[np.ix_(keep, keep)], norms[keep]
    # max_j |G_ij| / (n_i n_j) = max_j (|G_ij| / n_j) / n_i: one k x k
    # temporary, not four (a dictionary-learning step asks for this each time)
    cos = np.abs(gram)
    cos /= norms
    np.fill_diagonal(cos, 0.0)
    return float((cos.max(axis=1) / norms).mean())


def pick_algorithm(algorithm, n_nonzero_coefs, gram=None, backend="numpy"):
    """The rule behind ``algorithm="auto"``, for every backend.

    An L0 budget asks for OMP. Off the CPU the l1 problem is FISTA's: the
    GEMM route is the one l1 solver there. On the CPU homotopy's cost grows
    with the square of the support and coordinate descent's with its
    conditioning: on coherent dictionaries (image patches, learned
    dictionaries) homotopy is 7-35x faster, on incoherent ones coordinate
    descent is as fast with small supports and up to 20x faster with large
    ones. Without ``gram`` (before it is formed) a CPU l1 "auto" stays
    "auto".
    """
    if algorithm != "auto":
        return algorithm
    if n_nonzero_coefs is not None:
        return "omp"
    if backend != "numpy":
        return "fista"
    if gram is None:
        return "auto"
    return "cd" if _gram_coherence(gram) < _CD_COHERENCE else "lars"


def check_arguments(algorithm, *, l2, positive, n_nonzero_coefs, backend="numpy"):
    """Refuse an algorithm the backend does not run and arguments that do
    not go together, before any data is read; returns :func:`pick_algorithm`'s
    algorithm (a CPU l1 "auto" stays "auto")."""
    if algorithm not in SUPPORTED[backend]:
        where = "CuPy input" if backend == "cupy" else "this namespace's device"
        raise ValueError(
            f"algorithm={algorithm!r} runs on the CPU only so far; on {where} use one of "
            f"{SUPPORTED[backend]}, or pass numpy arrays for the others.")
    algorithm = pick_algorithm(algorithm, n_nonzero_coefs, backend=backend)
    if algorithm != "omp" and n_nonzero_coefs is not None:
        raise ValueError(
            f"n_nonzero_coefs applies to algorithm='omp' only; got it with "
            f"algorithm={algorithm!r}. Use alpha to control sparsity.")
    if algorithm in ("omp", "threshold") and l2 > 0:
        raise ValueError(f"l2 applies to the l1 algorithms only, not algorithm={algorithm!r}.")
    if algorithm == "omp" and positive:
        raise ValueError("positive=True is not available with algorithm='omp'.")
    return algorithm


def solver_settings(algorithm, *, alpha, n_nonzero_coefs, n_features, n_components):
    """``(alpha, n_nonzero, omp_tol)`` for ``algorithm`` as
    :func:`check_arguments` returned it: ``alpha`` the l1 penalty (1.0 when
    None) for the l1 algorithms and the threshold, as given for OMP; for OMP
    ``n_nonzero`` and ``omp_tol`` are :func:`omp_settings`' (0 and -1.0
    otherwise)."""
    if algorithm != "omp":
        return 1.0 if alpha is None else float(alpha), 0, -1.0
    return (alpha, *omp_settings(alpha, n_nonzero_coefs, n_features, n_components))


def check_shapes(X_shape, D_shape, *, init_shape=None, gram_shape=None):
    """Refuse a dictionary, ``init`` or ``gram`` whose shape does not match
    ``X``'s (``n_samples, n_features``) and the dictionary's atoms."""
    n_samples, n_features = X_shape
    n_components = D_shape[0]
    if D_shape[1] != n_features:
        raise ValueError(
            f"dictionary has {D_shape[1]} features per atom but X has {n_features} "
            f"features: dictionary must have shape (n_components, {n_features}).")
    if gram_shape is not None and tuple(gram_shape) != (n_components, n_components):
        raise ValueError(
            f"gram has shape {tuple(gram_shape)}, expected (n_components, n_components) = "
            f"{(n_components, n_components)}.")
    if init_shape is not None and tuple(init_shape) != (n_samples, n_components):
        raise ValueError(
            f"init has shape {tuple(init_shape)}, expected (n_samples, n_components) = "
            f"{(n_samples, n_components)}.")


def omp_settings(alpha, n_nonzero_coefs, n_features, n_components):
    """OMP's ``(n_nonzero, tol)``: ``alpha`` is the target squared residual
    (``tol < 0``: none); without ``n_nonzero_coefs`` the pursuit takes a
    tenth of the features, or with a target up to ``min(k, p)`` atoms; more
    atoms than there are are clipped with a warning."""
    omp_tol = -1.0 if alpha is None else float(alpha)
    if n_nonzero_coefs is None:
        n_nonzero_coefs = (
            max(n_features // 10, 1) if alpha is None else min(n_components, n_features)
        )
    elif n_nonzero_coefs > n_components:
        warnings.warn(
            f"n_nonzero_coefs={n_nonzero_coefs} is more than n_components="
            f"{n_components}; using {n_components}.",
            UserWarning,
            stacklevel=5,
        )
        n_nonzero_coefs = n_components
    return int(n_nonzero_coefs), omp_tol


def warn_dependent(n_failed, n_samples):
    if n_failed:
        warnings.warn(
            f"Orthogonal matching pursuit ended early on {n_failed} of {n_samples} "
            "samples: the next atom was linearly dependent on those chosen. The "
            "requested residual or number of atoms may not have been reached.",
            RuntimeWarning,
            stacklevel=4,
        )
