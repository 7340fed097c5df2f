"""The driver's helpers and the workers' tasks of :mod:`sparsecode.dask`:
dask arrays checked as row blocks, rows drawn from block futures, the
statistics summed by a tree on the workers, and the tasks that encode a
block and return its statistics. Importing it needs ``dask[distributed]``;
only :mod:`sparsecode.dask` imports it."""

import numpy as np
import scipy.sparse as sp
from dask import array as da
from distributed import default_client
from sklearn.utils import check_array

from . import _gpu
from ._dictionary_model import code_statistics, lasso_objective, worst_rows
from ._encode import sparse_encode
from ._threads import kernel_threads

# Fan-in of the tree that sums the statistics on the workers.
_FAN_IN = 4


def current_client():
    """The current ``dask.distributed`` client, or a ValueError that says
    to create one."""
    try:
        return default_client()
    except ValueError:
        raise ValueError("sparsecode.dask works on a dask.distributed cluster: create a "
                         "distributed.Client first (a LocalCluster will do).") from None


def row_blocks(X, name="X"):
    """``X`` as a 2-D dask array with one chunk across the columns and a
    float dtype (int becomes float64)."""
    if not isinstance(X, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array of row blocks, got "
                        f"{type(X).__name__} (for a dask DataFrame: "
                        f".to_dask_array(lengths=True)).")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D dask array of row blocks, got {X.ndim} "
                         "dimensions.")
    if np.issubdtype(X.dtype, np.complexfloating) or not (
            np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
            or X.dtype == np.bool_):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes: call {name}.compute_chunk_sizes() "
                         "first.")
    return X


def check_n_features(estimator, X):
    """``X`` if it has the features ``estimator`` was fitted on (scikit-learn's
    message), else a ValueError."""
    _gpu.check_features(estimator, X.shape[1])
    return X


def check_block(X):
    """The worker-side check of a block: finite, 2-D, CSR when sparse."""
    return check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])


def tree_sum(client, futures):
    """Sum a list of futures of tuples of arrays/floats on the workers, in a
    fixed order (so the result does not depend on timing)."""
    while len(futures) > 1:
        futures = [client.submit(_sum_tuples, *futures[i:i + _FAN_IN], pure=False)
                   for i in range(0, len(futures), _FAN_IN)]
    return futures[0]


def _sum_tuples(*parts):
    total = list(parts[0])
    for part in parts[1:]:
        for i, value in enumerate(part):
            total[i] = total[i] + value
    return tuple(total)


class Rows:
    """Row access to a list of block futures, for the dictionary's
    initialisation (which draws rows of ``X``)."""

    def __init__(self, client, blocks, sizes, n_features, dtype):
        self.client, self.blocks = client, blocks
        self.offsets = np.concatenate(([0], np.cumsum(sizes)))
        self.shape = (int(self.offsets[-1]), n_features)
        self.dtype = dtype

    def __getitem__(self, rows):
        rows = np.asarray(rows)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        out = np.empty((rows.size, self.shape[1]), dtype=self.dtype)
        used = np.unique(which)
        takes = [np.flatnonzero(which == b) for b in used]
        parts = self.client.gather([
            self.client.submit(_take_rows, self.blocks[b], rows[take] - self.offsets[b],
                               pure=False) for b, take in zip(used, takes)])
        for take, part in zip(takes, parts):
            out[take] = part
        return out


def _take_rows(X, rows):
    part = X[rows]
    return np.asarray(part.todense() if sp.issparse(part) else part)


# ------------------------------------------------------------ worker tasks
def hold_dictionary(client, D):
    """The step's dictionary as one task that holds it: sent to the
    scheduler once per step (not once per block) and fetched once per
    worker; being a task, not scattered data, it is recomputed if the
    worker holding it dies, and so are the codes that depend on it."""
    return client.submit(_identity, np.asarray(D, dtype=np.float64), pure=False)


def _identity(value):
    return value


def encode_block(X, D64, params, init):
    """Worker task: the codes of block ``X`` under the float64 dictionary
    ``D64`` (``sparse_encode`` with ``params``, warm-started from ``init``),
    on one thread."""
    X = check_block(X)
    D = D64.astype(X.dtype, copy=False)
    gram = D64 @ D64.T
    with kernel_threads(1, 1):
        return sparse_encode(X, D, gram=gram, init=init, n_jobs=1, **params)


def batch_stats(X, codes, D64, alpha, l2):
    """Worker task: the block's sufficient statistics ``(Z^T Z, Z^T X, sum
    ||x||^2, sum |z|)`` and its summed lasso objective, for the batch
    update."""
    X = check_block(X)
    ZtZ, ZtX, sq, l1 = code_statistics(X, codes)
    return ZtZ, ZtX, sq, l1, float(lasso_objective(X, codes, D64, alpha, l2).sum())


def online_stats(X, codes):
    """Worker task: the block's statistics for the online update."""
    return code_statistics(check_block(X), codes)


def worst(X, codes, D, m):
    """Worker task: the block's ``m`` worst-fitted rows (for resampling
    unused atoms)."""
    return worst_rows(check_block(X), codes, D, m)
