"""FISTA (accelerated proximal gradient with adaptive restart) and ISTA,
in two shapes: per sample on the support when the codes are sparse, as
whole-batch matrix products (the loop every backend shares) when they are
dense."""

import array_api_compat.numpy
import numpy as np

from .._backend import NUMPY
from .._dense import fista_loop
from .._kernels._fista import fista_batch
from ._base import Solver, counts, rows, start

# Above this share of correlations beating alpha the (F)ISTA iteration is done
# as BLAS products on the whole batch; below it, per sample on the support.
# The share overestimates the final density (0.43 for 7.5% non-zeros on
# problem A, where the support path was still 1.1x faster).
GEMM_DENSITY = 0.5


def _gemm(chunk, accelerate):
    """(F)ISTA as BLAS products on the batch plus one fused kernel per step
    (:func:`sparsecode._dense.fista_loop`); converged rows leave the batch at
    each gap check."""
    C = np.array(chunk.cov, dtype=np.float64, order="C")
    Z = start(chunk, copy=True)  # (the loop writes into it)
    # One thread pool at a time: BLAS does the products, the fused kernels run
    # serially between them. Both pools at once on 2 cores spin against each
    # other (measured 16.4 s against 3.2 s on 4000 samples of problem A).
    codes, n_iter, failed = fista_loop(
        C, Z, chunk.sq_norms, chunk.gram, chunk.inv_lip, chunk.alpha,
        chunk.positive, accelerate, chunk.max_iter, chunk.tol, xp=array_api_compat.numpy,
        kernels=NUMPY.kernels())
    chunk.out[:] = codes
    return n_iter, failed


def _solve(chunk, accelerate):
    path = chunk.fista_path
    if path == "auto":
        # share of atoms whose correlation already beats alpha: a cheap proxy
        # for how dense the iterates will be
        density = np.mean(np.abs(chunk.cov) > chunk.alpha) if chunk.cov.size else 0.0
        path = "gemm" if density > GEMM_DENSITY else "support"
    if path == "gemm":
        return _gemm(chunk, accelerate)
    n_iter = counts(chunk)
    failed = rows(fista_batch, len(n_iter), chunk.cov, chunk.sq_norms, chunk.gram,
                  chunk.inv_lip, chunk.alpha, chunk.positive, accelerate, chunk.max_iter,
                  chunk.tol, start(chunk), chunk.out, n_iter)
    return n_iter, failed


def solve_fista(chunk):
    return _solve(chunk, accelerate=True)


def solve_ista(chunk):
    return _solve(chunk, accelerate=False)


# Only the GEMM route spends its time in BLAS; elsewhere BLAS makes a few
# products and its idle workers must not spin beside the kernels. (The route
# is chosen per chunk, so BLAS keeps its threads for both.)
FISTA = Solver("fista", solve_fista, warm_start=True, lipschitz=True, blas_threads=None)
ISTA = Solver("ista", solve_ista, warm_start=True, lipschitz=True, blas_threads=None)
