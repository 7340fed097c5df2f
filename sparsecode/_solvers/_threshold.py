"""The soft threshold of the correlations: one GEMM (done by the caller)
and one fused pass, in the data's dtype."""

from .._kernels._threshold import threshold_batch
from ._base import Solver, counts, rows


def solve(chunk):
    n_iter = counts(chunk)
    rows(threshold_batch, len(n_iter), chunk.cov, chunk.alpha, chunk.positive, chunk.out)
    return n_iter, 0


THRESHOLD = Solver("threshold", solve, sq_norms=False, in_float64=False)
