"""GPU backend (CuPy): ``sparse_encode`` on CuPy arrays.

The solver loop is the CPU's (:func:`sparsecode._encode.fista_loop`, written
with operations numpy and CuPy share); the matrix products go to cuBLAS /
cuSPARSE through CuPy and the fused inner kernels are the CUDA sources in
``sparsecode/_cuda`` (one warp per row), compiled by NVRTC on first use and
memoised per device. ``import sparsecode`` never imports CuPy: this module
imports it when a CuPy array arrives.

Covered so far: ``algorithm`` "fista", "ista", "threshold" and "auto" (FISTA)
on dense or CSR ``cupy`` input, float32 kept float32. The other algorithms
and the estimators' GPU paths are not written yet and say so.
"""

import functools
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._cuda import sources

# (source, entry point) of every kernel this module launches; the test of
# the CUDA sources checks each is in its source's PTX.
KERNELS = tuple(("fista", f"{kernel}_{suffix}")
                for kernel in ("fista_step", "lasso_gap", "threshold")
                for suffix in ("f32", "f64"))

GPU_ALGORITHMS = ("auto", "fista", "ista", "threshold")
_WARPS_PER_BLOCK = 8
_THREADS = 256


def is_gpu_array(X):
    """Whether ``X`` is a CuPy array or ``cupyx.scipy.sparse`` matrix (without
    importing CuPy)."""
    return type(X).__module__.split(".")[0] in ("cupy", "cupyx")


def _cupy():
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - CuPy input implies CuPy
        raise ImportError("GPU input needs CuPy: pip install 'sparsecode[gpu]'") from exc
    return cupy


def _sparse():
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse


@functools.lru_cache(maxsize=None)
def _module(name, device_id):
    cp = _cupy()
    with cp.cuda.Device(device_id):
        return cp.RawModule(code=sources()[name], options=("--std=c++14",))


def _kernel(name, kernel, dtype):
    cp = _cupy()
    suffix = "f32" if np.dtype(dtype) == np.float32 else "f64"
    return _module(name, cp.cuda.Device().id).get_function(f"{kernel}_{suffix}")


def _row_grid(n):
    return (max(1, -(-n // _WARPS_PER_BLOCK)),), (32 * _WARPS_PER_BLOCK,)


def _step_gpu(YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate):
    n, k = Z.shape
    grid, block = _row_grid(n)
    _kernel("fista", "fista_step", Z.dtype)(
        grid, block, (C, YG, Y, Z, T, np.int64(n), np.int64(k), np.float64(inv_lip),
                      np.float64(alpha), np.int32(bool(positive)), np.int32(bool(accelerate))))


def _gap_gpu(Z, C, ZG, sq, alpha, positive, tol):
    cp = _cupy()
    n, k = Z.shape
    done = cp.empty(n, dtype=cp.uint8)
    grid, block = _row_grid(n)
    _kernel("fista", "lasso_gap", Z.dtype)(
        grid, block, (Z, C, ZG, sq, np.int64(n), np.int64(k), np.float64(alpha),
                      np.int32(bool(positive)), np.float64(tol), done))
    return done.astype(cp.bool_)


def _threshold_gpu(C, alpha, positive):
    codes = _cupy().empty_like(C)
    _kernel("fista", "threshold", C.dtype)(
        (max(1, -(-C.size // _THREADS)),), (_THREADS,),
        (C, codes, np.int64(C.size), np.float64(alpha), np.int32(bool(positive))))
    return codes


# the fused kernels the shared loop calls (a test swaps in the CPU ones to run
# this module's glue on numpy)
_BACKEND = {"step": _step_gpu, "gap": _gap_gpu, "threshold": _threshold_gpu}


def _check_finite(cp, values, name):
    if values.size and not bool(cp.isfinite(values).all()):
        raise ValueError(f"Input {name} contains NaN or infinity.")


def sparse_encode_gpu(X, dictionary, *, algorithm, alpha, l2, positive, n_nonzero_coefs,
                      max_iter, tol, init, sparse_output, return_n_iter, gram):
    """``sparse_encode`` for CuPy input; codes come back as CuPy arrays
    (``cupyx.scipy.sparse`` CSR with ``sparse_output=True``)."""
    cp, csp = _cupy(), _sparse()
    if algorithm not in GPU_ALGORITHMS:
        raise ValueError(
            f"algorithm={algorithm!r} runs on the CPU only so far; on CuPy input use one of "
            f"{GPU_ALGORITHMS}, or pass numpy arrays (cupy.asnumpy) for the others.")
    if n_nonzero_coefs is not None:
        raise ValueError("n_nonzero_coefs applies to algorithm='omp', which runs on the CPU "
                         "only so far.")
    sparse = csp.issparse(X)
    if sparse:
        X = X.tocsr()
    elif X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
    dtype = np.dtype(X.dtype) if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X = X.astype(dtype, copy=False)
    n, p = X.shape
    if n == 0 or p == 0:
        raise ValueError(f"Found array with shape {X.shape}: X needs at least one sample and "
                         "one feature.")
    _check_finite(cp, X.data if sparse else X, "X")
    D = cp.asarray(dictionary, dtype=dtype)
    if D.ndim != 2 or D.shape[1] != p:
        raise ValueError(f"dictionary has shape {D.shape} but X has {p} features: dictionary "
                         f"must have shape (n_components, {p}).")
    if D.shape[0] == 0:
        raise ValueError("dictionary has 0 atoms.")
    _check_finite(cp, D, "dictionary")
    alpha = 1.0 if alpha is None else float(alpha)
    k = D.shape[0]

    with np.errstate(over="ignore", invalid="ignore"):  # (numpy stand-in) refused below
        C = X @ D.T
    C = cp.ascontiguousarray(C.toarray() if csp.issparse(C) else C, dtype=dtype)
    if not bool(cp.isfinite(C).all()):
        raise ValueError(f"X @ dictionary.T overflows {dtype.name}: rescale X or the "
                         "dictionary" + (", or pass float64 data." if dtype == np.float32
                                         else "."))
    n_iter = cp.zeros(n, dtype=cp.int64)
    n_failed = 0
    if algorithm == "threshold":
        if l2 > 0:
            raise ValueError("l2 applies to the l1 algorithms only, not algorithm='threshold'.")
        codes = _BACKEND["threshold"](C, alpha, positive)
    else:
        if gram is None:
            D64 = D.astype(cp.float64)
            G = D64 @ D64.T
        else:
            G = cp.array(gram, dtype=cp.float64)
            if G.shape != (k, k):
                raise ValueError(f"gram has shape {G.shape}, expected {(k, k)}.")
        if l2 > 0:
            G[cp.arange(k), cp.arange(k)] += l2
        top = float(cp.linalg.eigvalsh(G)[-1])
        inv_lip = 1.0 / top if top > 0 else 1.0
        G = G.astype(dtype)
        if sparse:
            sq = cp.asarray(X.multiply(X).sum(axis=1), dtype=cp.float64).ravel()
        else:
            sq = (X.astype(cp.float64) ** 2).sum(axis=1)
        if init is None:
            Z = cp.zeros((n, k), dtype=dtype)
        else:
            Z = cp.array(init, dtype=dtype)
            if Z.shape != (n, k):
                raise ValueError(f"init has shape {Z.shape}, expected {(n, k)}.")
        from ._encode import fista_loop

        codes, n_iter, n_failed = fista_loop(
            C, Z, Z.copy(), cp.ones(n), sq, cp.arange(n), cp.empty_like(Z),
            cp.full(n, max_iter, dtype=cp.int64), G, inv_lip, alpha, positive,
            algorithm != "ista", max_iter, tol, step=_BACKEND["step"], gap=_BACKEND["gap"])
    if n_failed:
        warnings.warn(f"sparse_encode(algorithm={algorithm!r}) reached max_iter={max_iter} "
                      f"on {n_failed} of {n} samples before the tolerance; increase "
                      "max_iter or tol.", ConvergenceWarning, stacklevel=3)
    if sparse_output:
        codes = csp.csr_matrix(codes)
    return (codes, n_iter) if return_n_iter else codes
