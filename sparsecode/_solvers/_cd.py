"""Coordinate descent on the Gram matrix with an active set and gap checks."""

from .._kernels._cd import cd_batch
from ._base import Solver, counts, rows, start


def solve(chunk):
    n_iter = counts(chunk)
    failed = rows(cd_batch, len(n_iter), chunk.cov, chunk.sq_norms, chunk.gram, chunk.alpha,
                  chunk.positive, chunk.max_iter, chunk.tol, start(chunk), chunk.out, n_iter)
    return n_iter, failed


CD = Solver("cd", solve, warm_start=True)
