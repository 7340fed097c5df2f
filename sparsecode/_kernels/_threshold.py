"""Elementwise kernels: soft thresholding of covariances, squared row norms of
a CSR matrix."""

import numpy as np
from numba import njit, prange

from ._common import soft_threshold


@njit(parallel=True, cache=True, nogil=True)
def threshold_batch(cov, alpha, positive, codes):
    """``codes = sign(cov) * max(|cov| - alpha, 0)`` (``max(cov - alpha, 0)``
    when ``positive``), fused in one pass."""
    n, k = cov.shape
    for s in prange(n):
        for j in range(k):
            codes[s, j] = soft_threshold(cov[s, j], alpha, positive)


# The row norms are cheap and memory-bound: serial, so that small batches do
# not pay for waking a thread pool.


@njit(cache=True, nogil=True)
def row_sq_norms_sparse(data, indptr, out):
    """``out[i] = sum of data[indptr[i]:indptr[i+1]] ** 2`` in float64."""
    for i in range(out.shape[0]):
        acc = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            v = np.float64(data[t])
            acc += v * v
        out[i] = acc


@njit(cache=True, nogil=True)
def row_sq_norms_dense(X, out):
    n, p = X.shape
    for i in range(n):
        acc = 0.0
        for j in range(p):
            v = np.float64(X[i, j])
            acc += v * v
        out[i] = acc
