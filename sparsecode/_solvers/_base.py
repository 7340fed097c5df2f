"""What every solver of the registry shares: its entry, the chunk it codes,
and the blocks of rows its kernel runs over."""

from typing import Callable, NamedTuple, Optional

import numpy as np

from .._threads import run_blocks

# Sample blocks per thread and chunk: enough to even out uneven per-sample cost
# (the threads take blocks as they come free), few enough that each block's
# workspaces pay off.
BLOCKS_PER_THREAD = 4


class Solver(NamedTuple):
    """A ``sparse_encode`` algorithm on numpy: ``solve(chunk)`` codes a
    :class:`Chunk` into ``chunk.out`` and returns ``(n_iter, n_failed)``.
    The flags say what ``sparse_encode`` prepares for it."""

    name: str
    solve: Callable
    #: takes ``init`` (a warm start)
    warm_start: bool = False
    #: reads the rows' squared norms (a duality gap, a residual target)
    sq_norms: bool = True
    #: needs the step 1 / L (the Gram's largest eigenvalue)
    lipschitz: bool = False
    #: BLAS threads while it runs: None (all) where BLAS does the work, 1
    #: where the kernels hold the threads
    blas_threads: Optional[int] = 1
    #: solves in float64 whatever the data's dtype (one compiled signature)
    in_float64: bool = True


class Chunk(NamedTuple):
    """One chunk of rows to code: ``cov = X D^T`` (C-contiguous), the rows'
    ``sq_norms`` (or None), the float64 ``gram`` (with ``l2`` on its
    diagonal), ``out`` (``cov``'s shape) and the settings."""

    cov: np.ndarray
    sq_norms: Optional[np.ndarray]
    gram: np.ndarray
    out: np.ndarray
    alpha: float
    positive: bool
    n_nonzero: Optional[int]
    omp_tol: float
    max_iter: int
    tol: float
    init: Optional[np.ndarray]
    max_active: int
    inv_lip: float
    fista_path: str


def rows(kernel, n, *args):
    """``kernel(*args, start, stop, ...)`` over blocks of ``n`` rows on the
    kernel threads; a few blocks per thread balance uneven per-sample cost,
    each block allocating its workspaces once."""
    return run_blocks(kernel, n, *args, blocks_per_thread=BLOCKS_PER_THREAD)


def start(chunk, copy=False):
    """The warm start as a C-contiguous float64 array (zeros without one);
    ``copy``: one the solver may write into, never the caller's."""
    if chunk.init is None:
        return np.zeros(chunk.cov.shape)
    if copy:
        return np.array(chunk.init, dtype=np.float64, order="C")
    return np.ascontiguousarray(chunk.init, dtype=np.float64)


def counts(chunk):
    """Iterations per row, zeroed."""
    return np.zeros(chunk.cov.shape[0], dtype=np.int64)
