"""Small Numba helpers shared by the solvers: blocks of samples, Cholesky
append / solve on a growing active set, the lasso duality gap."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def block_bounds(block, n_blocks, n_samples):
    return block * n_samples // n_blocks, (block + 1) * n_samples // n_blocks


@njit(cache=True, nogil=True)
def chol_append(L, m, gram, active, j, rel_eps):
    """Add atom ``j`` as row ``m`` of the lower Cholesky factor ``L`` of
    ``gram[active[:m]][:, active[:m]]``.

    Returns False (and leaves ``L[:m, :m]`` valid) when the new pivot is not
    positive beyond ``rel_eps * gram[j, j]``: the atom is, numerically, a linear
    combination of the active ones.
    """
    row = gram[j]
    for i in range(m):
        s = row[active[i]]
        for t in range(i):
            s -= L[i, t] * L[m, t]
        L[m, i] = s / L[i, i]
    d = gram[j, j]
    for t in range(m):
        d -= L[m, t] * L[m, t]
    if not (d > rel_eps * gram[j, j]) or gram[j, j] <= 0.0:
        return False
    L[m, m] = np.sqrt(d)
    return True


@njit(cache=True, nogil=True)
def chol_solve(L, m, b, out):
    """Solve ``L L^T out = b`` with the leading ``m x m`` block of ``L``."""
    for i in range(m):
        s = b[i]
        for t in range(i):
            s -= L[i, t] * out[t]
        out[i] = s / L[i, i]
    for i in range(m - 1, -1, -1):
        s = out[i]
        for t in range(i + 1, m):
            s -= L[t, i] * out[t]
        out[i] = s / L[i, i]


@njit(cache=True, nogil=True)
def lasso_gap(z, c, corr, sq_norm, alpha, positive):
    """Duality gap of ``0.5 ||x - z D||^2 + alpha ||z||_1`` in Gram form.

    ``corr = c - G z`` with ``G`` already holding any ``l2`` term (the elastic
    net is a lasso on the augmented dictionary ``[D, sqrt(l2) I]``, whose Gram
    is ``G + l2 I`` and whose covariance is unchanged). The dual point is the
    residual scaled into the dual ball, so no dense ``x`` is needed:
    ``x.r = ||x||^2 - z.c`` and ``||r||^2 = ||x||^2 - z.c - z.corr``.
    """
    zc = 0.0
    zcorr = 0.0
    l1 = 0.0
    m = 0.0
    for j in range(z.shape[0]):
        zj = z[j]
        zc += zj * c[j]
        zcorr += zj * corr[j]
        l1 += abs(zj)
        v = corr[j] if positive else abs(corr[j])
        if v > m:
            m = v
    primal = 0.5 * sq_norm - 0.5 * zc - 0.5 * zcorr + alpha * l1
    scale = 1.0 if m <= alpha else alpha / m
    xr = sq_norm - zc
    rr = max(sq_norm - zc - zcorr, 0.0)
    dual = scale * xr - 0.5 * scale * scale * rr
    return primal - dual


@njit(cache=True, nogil=True)
def soft_threshold(u, thresh, positive):
    if positive:
        return u - thresh if u > thresh else 0.0
    if u > thresh:
        return u - thresh
    if u < -thresh:
        return u + thresh
    return 0.0
