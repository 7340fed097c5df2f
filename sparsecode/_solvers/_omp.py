"""Batch orthogonal matching pursuit with progressive Cholesky (an L0
method): ``n_nonzero`` atoms at most, or until the residual meets
``omp_tol``."""

from .._kernels._omp import omp_batch
from ._base import Solver, counts, rows


def solve(chunk):
    chunk.out[:] = 0
    n_iter = counts(chunk)
    dependent = rows(omp_batch, len(n_iter), chunk.cov, chunk.sq_norms, chunk.gram,
                     chunk.n_nonzero, chunk.omp_tol, chunk.out, n_iter)
    return n_iter, dependent


OMP = Solver("omp", solve)
