"""The solvers of ``sparse_encode`` on numpy, by name: one module per
algorithm, each a :class:`~sparsecode._solvers._base.Solver` entry with its
batch kernel and what it needs prepared (warm start, row norms, the
Lipschitz step, BLAS threads).

:func:`sparsecode.sparse_encode` validates its arguments once
(:mod:`sparsecode._encode_rules`, which also says which backends run each
algorithm and what ``"auto"`` picks), then codes each chunk of rows through
:func:`solve_chunk`. The other backends run the GEMM route of
:mod:`sparsecode._dense` with their own kernels. Adding an algorithm:
``doc/contributing.rst``.
"""

import numpy as np

from ._base import Chunk, Solver
from ._cd import CD
from ._fista import FISTA, ISTA
from ._lars import LARS
from ._omp import OMP
from ._threshold import THRESHOLD

__all__ = ["Chunk", "SOLVERS", "Solver", "solve_chunk"]

SOLVERS = {solver.name: solver for solver in (LARS, CD, FISTA, ISTA, OMP, THRESHOLD)}


def solve_chunk(algorithm, chunk):
    """Code ``chunk`` with ``algorithm`` (not "auto": the caller resolves
    it); returns ``(n_iter, n_failed)``."""
    solver = SOLVERS[algorithm]
    if solver.in_float64 and chunk.cov.dtype != np.float64:
        # The solvers work in float64 whatever the data (DESIGN.md), and take
        # float64 only: one compiled signature each, so float32 data costs no
        # second compilation (seconds each, benchmarks/README.md, "Time to
        # first result"). The copies are one chunk's, at most 4 MiB.
        codes = np.empty(chunk.cov.shape)
        result = solver.solve(chunk._replace(cov=chunk.cov.astype(np.float64), out=codes))
        chunk.out[:] = codes
        return result
    return solver.solve(chunk)
