"""Assignment steps of k-means on a chunk of responses ``cov = X_chunk @ C.T``
(serial, GIL released: the caller runs one chunk per thread)."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def assign_spherical(cov, offset, sq_x, labels, values, loss):
    """Gain-shape (spherical) k-means with unit centroids, as Coates & Ng
    use it: each sample takes the centroid of largest ``|c_j|``; its code is
    ``c_j`` and its loss ``||x||^2 - c_j^2``."""
    n, k = cov.shape
    for i in range(n):
        best, arg = -1.0, 0
        for j in range(k):
            a = abs(np.float64(cov[i, j]) - offset[j])
            if a > best:
                best, arg = a, j
        labels[i] = arg
        values[i] = np.float64(cov[i, arg]) - offset[arg]
        loss[i] = max(sq_x[i] - best * best, 0.0)


@njit(cache=True, nogil=True)
def assign_euclidean(cov, offset, sq_x, sq_c, labels, loss):
    """Lloyd's assignment: the centroid of least ``||c_j||^2 - 2 x.c_j``; the
    loss is the squared distance ``||x - c_j||^2``."""
    n, k = cov.shape
    for i in range(n):
        best, arg = np.inf, 0
        for j in range(k):
            d = sq_c[j] - 2.0 * (np.float64(cov[i, j]) - offset[j])
            if d < best:
                best, arg = d, j
        labels[i] = arg
        loss[i] = max(sq_x[i] + best, 0.0)
