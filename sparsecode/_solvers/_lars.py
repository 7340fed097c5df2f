"""Lasso homotopy (LARS with the lasso modification), exact up to rounding."""

from .._kernels._lars import lars_batch
from ._base import Solver, counts, rows


def solve(chunk):
    chunk.out[:] = 0
    n_iter = counts(chunk)
    failed = rows(lars_batch, len(n_iter), chunk.cov, chunk.gram, chunk.alpha, chunk.positive,
                  chunk.max_iter, chunk.max_active, chunk.out, n_iter)
    return n_iter, failed


# (no ||x||^2: its first call compiles less)
LARS = Solver("lars", solve, sq_norms=False)
