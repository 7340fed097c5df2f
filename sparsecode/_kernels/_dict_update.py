"""Block coordinate descent on the atoms of a dictionary, given the
sufficient statistics of the codes (Mairal, Bach, Ponce & Sapiro, JMLR 2010,
Algorithm 2)."""

import numpy as np
from numba import njit

# Atoms per block: one matrix product per block brings ``A[block] @ D`` up to
# date, so the dictionary is streamed k / _BLOCK times per sweep instead of k
# times (which made the sweep memory-bound for thousands of features).
_BLOCK = 16


def bcd_update(D, A, B, positive, min_diag, unused):
    """One sweep over the atoms, in place in ``D`` (n_components, n_features),
    float64 and C-contiguous.

    ``A = sum z z^T`` (k x k) and ``B = sum z^T x`` (k x p): in turn, atom ``j``
    moves to ``d_j + (B_j - A_j D) / A_jj``, is clipped at 0 when
    ``positive``, then projected on the unit ball (Gauss-Seidel: each atom sees
    the ones updated before it). Atoms with ``A_jj <= min_diag`` (almost never
    used) are left as they are and flagged in ``unused``. Returns the largest
    change of an atom (Euclidean norm).

    The product per block is numpy's, between Numba calls: ``np.dot`` inside
    a kernel cost 0.5 s more to compile on a cold cache.
    """
    k, p = D.shape
    largest = 0.0
    delta = np.empty((_BLOCK, p))
    new = np.empty(p)
    for start in range(0, k, _BLOCK):
        stop = min(start + _BLOCK, k)
        # A[block] @ D with every atom before the block already updated
        E = A[start:stop] @ D
        largest = max(largest, _bcd_block(D, A, B, E, start, stop, positive, min_diag, unused,
                                          delta, new))
    return largest


@njit(cache=True, nogil=True)
def _bcd_block(D, A, B, E, start, stop, positive, min_diag, unused, delta, new):
    """Atoms ``start:stop`` of :func:`bcd_update`, given ``E = A[start:stop] @ D``;
    returns the largest change."""
    p = D.shape[1]
    largest = 0.0
    for j in range(start, stop):
        b = j - start
        ajj = A[j, j]
        if ajj <= min_diag:
            unused[j] = True
            for t in range(p):
                delta[b, t] = 0.0
            continue
        unused[j] = False
        for t in range(p):
            new[t] = B[j, t] - E[b, t]
        # the atoms of this block updated since E was formed
        for i in range(start, j):
            aji = A[j, i]
            if aji != 0.0:
                row = delta[i - start]
                for t in range(p):
                    new[t] -= aji * row[t]
        norm2 = 0.0
        for t in range(p):
            v = D[j, t] + new[t] / ajj
            if positive and v < 0.0:
                v = 0.0
            new[t] = v
            norm2 += v * v
        norm = norm2 ** 0.5
        # (a comparison, not the builtin max: its overload cost 0.14 s of the
        # first fit's compilation)
        scale = 1.0 / norm if norm > 1.0 else 1.0
        change = 0.0
        for t in range(p):
            v = new[t] * scale
            d = v - D[j, t]
            delta[b, t] = d
            change += d * d
            D[j, t] = v
        change = change ** 0.5
        if change > largest:
            largest = change
    return largest
