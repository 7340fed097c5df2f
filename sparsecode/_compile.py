"""``python -m sparsecode compile``: fill Numba's cache ahead of use.

The CPU kernels are compiled by Numba on their first call and cached on disk
(``cache=True``); a fresh install, Docker image, CI job or Dask worker pays
that once per kernel and dtype. :func:`compile_kernels` pays it up front: it
runs every public entry point on tiny data, in float64 and float32, dense and
CSR, through each solver and mode that reaches its own kernels, and reports
any kernel left uncompiled (a job missing here) and where the cache is.
"""

import importlib
import os
import pkgutil
import sys
import time
import warnings

import numpy as np


def _data(dtype, sparse=False, n=48, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(dtype)
    if sparse:
        import scipy.sparse as sp

        # sparse enough that every estimator keeps it sparse (the autoencoders
        # densify rows above 5%)
        X[rng.random((n, p)) < 0.97] = 0
        X = sp.csr_matrix(X)
    return X


def _encode_jobs(dtype, sparse):
    from ._encode import _encode, sparse_encode

    X = _data(dtype, sparse)
    D = _data(dtype, n=16, seed=1)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    init = np.zeros((X.shape[0], D.shape[0]), dtype=dtype)
    for algorithm in ("lars", "cd", "ista", "threshold"):
        sparse_encode(X, D, algorithm=algorithm, alpha=0.1)
    sparse_encode(X, D, algorithm="cd", alpha=0.1, init=init)
    sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3)
    sparse_encode(X, D, algorithm="omp", alpha=0.5, sparse_output=True)
    for path in ("support", "gemm"):  # the two shapes of (F)ISTA
        _encode(X, D, algorithm="fista", alpha=0.1, l2=0.0, positive=False, n_nonzero=None,
                omp_tol=-1.0, max_iter=50, tol=1e-6, init=None, sparse_output=False,
                fista_path=path)


def _dictionary_jobs(dtype, sparse):
    from ._dictionary import DictionaryLearner

    X = _data(dtype, sparse)
    for method, algorithm in (("online", "lars"), ("batch", "cd"), ("ksvd", "auto")):
        est = DictionaryLearner(8, alpha=0.1, method=method, fit_algorithm=algorithm,
                                max_iter=2, batch_size=16, random_state=0)
        est.fit(X).transform(X)
    DictionaryLearner(8, alpha=0.1, max_iter=1, batch_size=16, random_state=0).partial_fit(X)


def _autoencoder_jobs(dtype, sparse):
    from ._autoencoder import SparseAutoencoder
    from ._kl_encoder import KLSparseEncoder

    X = _data(dtype, sparse)
    Xpos = abs(X)
    for activation, extra in (("relu", {}), ("topk", dict(k=3, aux_k=2, dead_threshold=1)),
                              ("batchtopk", dict(k=3))):
        for tied in (False, True):
            est = SparseAutoencoder(8, activation=activation, tied=tied, max_iter=2,
                                    batch_size=16, random_state=0, **extra)
            est.fit(X).transform(X)
            est.inverse_transform(est.transform(X))
    SparseAutoencoder(8, max_iter=2, batch_size=16, early_stopping=True, dropout=0.2,
                      random_state=0).fit(X)
    # sparse encoder weights (L1 step, pruning) and a cut on the codes
    est = SparseAutoencoder(8, max_iter=2, batch_size=16, weight_l1=0.01, prune=0.05,
                            prune_epochs=1, activation_threshold=0.1, random_state=0)
    est.fit(X).transform(X)
    for solver in ("lbfgs", "adam"):
        KLSparseEncoder(8, solver=solver, max_iter=2, random_state=0).fit(Xpos).transform(Xpos)


def _threshold_jobs(dtype, sparse):
    from ._threshold import ThresholdEncoder

    X = _data(dtype, sparse)
    for mode, extra in (("soft", dict(alpha=0.1)), ("hard", dict(alpha=0.1)),
                        ("topk", dict(k=3)), ("triangle", {})):
        for dictionary in ("kmeans", "patches"):
            est = ThresholdEncoder(8, dictionary=dictionary, mode=mode, kmeans_max_iter=2,
                                   random_state=0, **extra)
            est.fit_transform(X)
    ThresholdEncoder(8, mode="soft", alpha=0.1, split_sign=True, sparse_output=True,
                     random_state=0).fit(X).transform(X)


def _attention_jobs(dtype, sparse):
    from ._attention import SparseAttentionTransformer

    X = _data(dtype, sparse, n=64, p=8)
    for pattern, extra in (("window", dict(window=4)), ("window2d", dict(grid_shape=(8, 8))),
                           ("longformer", dict(window=4, global_tokens=2)),
                           ("bigbird", dict(window=4, global_tokens=2, n_random=2,
                                            block_size=8)),
                           ("lsh", dict(lsh_mode="chunked")), ("lsh", dict(lsh_mode="exact")),
                           ("dense", {})):
        for similarity in ("dot", "neg_sq_dist"):
            est = SparseAttentionTransformer(pattern=pattern, similarity=similarity,
                                             random_state=0, **extra)
            est.fit_transform(X)
    est = SparseAttentionTransformer(pattern="window", window=4, causal=True, random_state=0)
    est.fit_transform(X, lengths=[40, 24])
    est.attention_weights(X, lengths=[40, 24])


# (name, function of (dtype, sparse)); every job runs for both dtypes, dense and CSR
JOBS = (
    ("sparse_encode", _encode_jobs),
    ("DictionaryLearner", _dictionary_jobs),
    ("SparseAutoencoder, KLSparseEncoder", _autoencoder_jobs),
    ("ThresholdEncoder", _threshold_jobs),
    ("SparseAttentionTransformer", _attention_jobs),
)


def kernels():
    """Every Numba kernel of the package, as ``{"module.name": dispatcher}``
    (not those inlined into their callers, which are never compiled alone)."""
    from numba.core.registry import CPUDispatcher

    from . import _kernels

    found = {}
    for info in pkgutil.iter_modules(_kernels.__path__):
        module = importlib.import_module(f"{_kernels.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__
                    and obj.targetoptions.get("inline") != "always"):
                found[f"{info.name.lstrip('_')}.{name}"] = obj
    return found


def _cached(kernel):
    """Whether ``kernel`` is compiled in this process or has entries in the
    cache on disk: a kernel loaded from the cache brings the code of the
    kernels it calls with it, and those are then never compiled alone."""
    if kernel.signatures:
        return True
    try:
        return os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:  # another Numba's internals: trust the signatures
        return False


def cache_location():
    """``(folder, why)``: where Numba caches the kernels in this process and
    why there (Numba picks the first writable of ``NUMBA_CACHE_DIR``, the
    package's own ``__pycache__`` folders and a user-wide cache folder)."""
    from ._kernels import _common

    try:
        cache = _common.soft_threshold._cache
        locator = type(cache._impl.locator).__name__
        path = cache.cache_path
    except AttributeError:  # NUMBA_DISABLE_JIT, or another Numba's internals
        return "unknown", "Numba's cache is not reachable here"
    folder = os.path.dirname(path) if "InTree" not in locator else path
    why = {
        "UserProvidedCacheLocator": "NUMBA_CACHE_DIR",
        "InTreeCacheLocator": "next to the package's sources (one __pycache__ per folder)",
        "UserWideCacheLocator": "the user-wide cache: the package's folder is not writable",
    }.get(locator.lstrip("_"), locator)
    return folder, why


def compile_kernels(progress=True, file=None):
    """Compile (or load from the cache) every CPU kernel for float64 and
    float32, dense and CSR input. Returns ``{"seconds": ..., "kernels": n,
    "missing": [names never compiled], "cache": folder, "why": reason}``."""
    out = file or sys.stderr
    steps = [(name, job, dtype, sparse) for name, job in JOBS
             for dtype in (np.float64, np.float32) for sparse in (False, True)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="compiling sparsecode kernels", unit="job", file=out)
    start = time.perf_counter()
    for name, job, dtype, sparse in steps:
        if bar is not None:
            bar.set_postfix_str(f"{name} {np.dtype(dtype).name}{' CSR' if sparse else ''}")
        with warnings.catch_warnings():
            # tiny problems, two iterations: convergence warnings say nothing here
            warnings.simplefilter("ignore")
            job(dtype, sparse)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    found = kernels()
    folder, why = cache_location()
    return {"seconds": time.perf_counter() - start, "kernels": len(found),
            "missing": sorted(name for name, k in found.items() if not _cached(k)),
            "cache": folder, "why": why}
