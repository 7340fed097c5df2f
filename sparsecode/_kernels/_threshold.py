"""Elementwise kernels: soft thresholding of covariances, squared row norms of
a CSR matrix."""

import numpy as np
from numba import njit

from ._common import soft_threshold


@njit(cache=True, nogil=True)
def threshold_batch(cov, alpha, positive, codes, start, stop):
    """``codes = sign(cov) * max(|cov| - alpha, 0)`` (``max(cov - alpha, 0)``
    when ``positive``) on rows ``start:stop``, fused in one pass."""
    k = cov.shape[1]
    for s in range(start, stop):
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


# Feed-forward encoders (Coates & Ng 2011). Each takes one chunk of responses
# ``cov = X_chunk @ D.T - offset`` that the caller's GEMM left in cache and
# writes the chunk's features; they run serially and release the GIL, so the
# caller runs one chunk per thread with BLAS on one thread each.
# ``out`` has ``2 * k`` columns when ``split`` (positive parts, then negative
# parts), ``k`` otherwise. ``cov`` may be ``out[:, :k]`` itself (the GEMM
# wrote the responses where the features go): every kernel reads a response
# before it writes that place.


@njit(cache=True, nogil=True)
def soft_encode(cov, offset, alpha, split, out):
    """``max(0, c - alpha)``, and ``max(0, -c - alpha)`` beside it when
    ``split``."""
    n, k = cov.shape
    zero = alpha - alpha  # in alpha's dtype, which the caller makes cov's
    for i in range(n):
        if split:
            for j in range(k):
                c = cov[i, j] - offset[j]
                out[i, k + j] = max(-c - alpha, zero)
                out[i, j] = max(c - alpha, zero)
        else:
            for j in range(k):
                out[i, j] = max(cov[i, j] - offset[j] - alpha, zero)


@njit(cache=True, nogil=True)
def hard_encode(cov, offset, alpha, split, out):
    """``c`` where ``|c| > alpha``, else 0; split by sign when ``split``."""
    n, k = cov.shape
    zero = alpha - alpha
    for i in range(n):
        for j in range(k):
            c = cov[i, j] - offset[j]
            keep = c if abs(c) > alpha else zero
            if split:
                out[i, j] = max(keep, zero)
                out[i, k + j] = max(-keep, zero)
            else:
                out[i, j] = keep


@njit(cache=True, nogil=True)
def _kth_largest(values, m, kth):
    """The ``kth`` largest (1-based) of ``values[:m]``, by quickselect in
    place (the order of ``values`` is lost)."""
    lo, hi = 0, m - 1
    target = kth - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while values[i] > pivot:
                i += 1
            while values[j] < pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            break
    return values[target]


# Rows at least this many times wider than the number of entries kept find
# the threshold among candidates above a sampled bound instead of among all.
_SAMPLE_RATIO = 4
_SAMPLE = 128


@njit(cache=True, nogil=True)
def _topk_threshold(values, k, n_keep, cand):
    """The ``n_keep``-th largest of ``values[:k]`` (``values`` is left as it
    is; ``cand`` is a float64 buffer of ``k`` entries).

    Quickselect on a strided sample gives a bound that about 1.5 ``n_keep``
    values reach; a branch-free pass gathers those, and quickselect on them
    finishes. A heap or a plain quickselect over the whole row mispredicts a
    branch per step: 20-40 us per row of 1600 against about 3 here.
    """
    if k < _SAMPLE_RATIO * n_keep or k < 2 * _SAMPLE:
        for j in range(k):
            cand[j] = values[j]
        return _kth_largest(cand, k, n_keep)
    stride = k // _SAMPLE
    for s in range(_SAMPLE):
        cand[s] = values[s * stride]
    rank = min(_SAMPLE, (3 * n_keep * _SAMPLE) // (2 * k) + 2)
    # (np.int64, not the constant or a plain 0: Numba would compile
    # _kth_largest again for each literal it sees, 0.1 s of a first call each)
    bound = _kth_largest(cand, np.int64(_SAMPLE), rank)
    m = np.int64(0)
    for j in range(k):
        a = values[j]
        cand[m] = a
        m += a >= bound
    if m >= n_keep:
        return _kth_largest(cand, m, n_keep)
    for j in range(k):
        cand[j] = values[j]
    return _kth_largest(cand, k, n_keep)


@njit(cache=True, nogil=True)
def topk_encode(cov, offset, n_keep, split, out, work):
    """Keep the ``n_keep`` responses of largest ``|c|`` per row (ties broken
    by the lower index), zero the rest; split by sign when ``split``.
    ``work`` is a float64 workspace of ``3 * k`` entries."""
    n, k = cov.shape
    zero = offset[0] - offset[0]
    signed = work[:k]
    values = work[k:2 * k]
    cand = work[2 * k:]
    for i in range(n):
        for j in range(k):
            c = np.float64(cov[i, j] - offset[j])
            signed[j] = c
            values[j] = abs(c)
        t = _topk_threshold(values, k, n_keep, cand)
        # entries above t all stay (branch-free: the comparison is a coin
        # toss for the predictor); those equal to t fill the places left
        above = 0
        for j in range(k):
            big = values[j] > t
            above += big
            out[i, j] = signed[j] if big else zero
        ties = n_keep - above
        if ties > 0 and t > 0.0:
            for j in range(k):
                if values[j] == t:
                    out[i, j] = signed[j]
                    ties -= 1
                    if ties == 0:
                        break
        if split:
            for j in range(k):
                v = out[i, j]
                out[i, k + j] = max(-v, zero)
                out[i, j] = max(v, zero)


@njit(cache=True, nogil=True)
def triangle_encode(cov, offset, sq_x, sq_c, out, work):
    """``max(0, mean(z) - z_j)`` with ``z_j = ||x - c_j||`` computed as
    ``sqrt(||x||^2 - 2 x.c_j + ||c_j||^2)``; ``work`` holds ``k`` floats."""
    n, k = cov.shape
    for i in range(n):
        # the distances in a pass of their own, which vectorises (the running
        # sum, in order, is a chain that kept the square roots scalar)
        for j in range(k):
            d2 = sq_x[i] - 2.0 * (np.float64(cov[i, j]) - offset[j]) + sq_c[j]
            work[j] = np.sqrt(d2) if d2 > 0.0 else 0.0
        total = 0.0
        for j in range(k):
            total += work[j]
        mean = total / k
        for j in range(k):
            out[i, j] = max(mean - work[j], 0.0)


@njit(cache=True, nogil=True)
def count_nonzero_rows(dense, counts):
    n, m = dense.shape
    for i in range(n):
        c = 0
        for j in range(m):
            if dense[i, j] != 0:
                c += 1
        counts[i] = c


@njit(cache=True, nogil=True)
def fill_csr(dense, indptr, indices, data):
    """Write the non-zeros of ``dense`` into CSR arrays whose ``indptr`` is
    already filled (row ``i`` starts at ``indptr[i]``)."""
    n, m = dense.shape
    for i in range(n):
        t = indptr[i]
        for j in range(m):
            v = dense[i, j]
            if v != 0:
                indices[t] = j
                data[t] = v
                t += 1
