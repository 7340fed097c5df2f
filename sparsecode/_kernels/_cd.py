"""Coordinate descent on the Gram form with an active set.

Each outer iteration is one full pass over the atoms followed by cheap passes
over the current support until they stop making progress; the duality gap is
checked after every full pass. References: Friedman, Hastie & Tibshirani 2010
(coordinate descent); Massias, Gramfort & Salmon 2018 (celer: working sets and
gap-based stopping).
"""

import numpy as np
from numba import njit

from . import helper
from ._common import lasso_gap, soft_threshold

_MAX_INNER = 100


@helper()
def _update(j, z, corr, gram, alpha, positive):
    gjj = gram[j, j]
    if gjj <= 0.0:
        return 0.0
    old = z[j]
    new = soft_threshold(corr[j] + gjj * old, alpha, positive) / gjj
    delta = new - old
    if delta != 0.0:
        z[j] = new
        row = gram[j]
        for t in range(z.shape[0]):
            corr[t] -= delta * row[t]
    return delta * delta * gjj


@njit(cache=True, nogil=True, inline="always")
def cd_one(c, sq_norm, gram, alpha, positive, max_iter, tol_abs, z, corr, support):
    """Solve one sample in place in ``z`` (warm start); ``c`` is float64
    whatever the data's dtype, so this compiles once. Returns
    ``(n_iter, converged)``."""
    k = c.shape[0]
    for j in range(k):
        corr[j] = c[j]
    for i in range(k):
        if z[i] != 0.0:
            row = gram[i]
            zi = z[i]
            for j in range(k):
                corr[j] -= zi * row[j]
    for it in range(1, max_iter + 1):
        largest = 0.0
        for j in range(k):
            d = _update(j, z, corr, gram, alpha, positive)
            if d > largest:
                largest = d
        if lasso_gap(z, c, corr, sq_norm, alpha, positive) <= tol_abs:
            return it, True
        n_supp = 0
        for j in range(k):
            if z[j] != 0.0:
                support[n_supp] = j
                n_supp += 1
        # Inner passes restricted to the support: each coordinate step lowers
        # the objective by at least 0.5 G_jj delta^2, so stop once that is
        # negligible against the gap target or the full pass's progress.
        for _ in range(_MAX_INNER):
            inner = 0.0
            for t in range(n_supp):
                d = _update(support[t], z, corr, gram, alpha, positive)
                if d > inner:
                    inner = d
            if inner <= 0.1 * tol_abs or inner <= 1e-3 * largest:
                break
    return max_iter, False


@njit(cache=True, nogil=True)
def cd_batch(cov, sq_norms, gram, alpha, positive, max_iter, tol, init, codes, n_iter,
             start, stop):
    """Coordinate descent for rows ``start:stop`` of ``cov``; ``init``
    (float64, same shape) warm-starts. Stops a sample when its gap is below
    ``tol * 0.5 * ||x||^2``. Returns the number of samples not converged."""
    k = cov.shape[1]
    not_converged = 0
    z = np.empty(k)
    corr = np.empty(k)
    c = np.empty(k)
    support = np.empty(k, dtype=np.int64)
    for s in range(start, stop):
        for j in range(k):
            z[j] = init[s, j]
            c[j] = cov[s, j]
        its, conv = cd_one(c, sq_norms[s], gram, alpha, positive, max_iter,
                           tol * 0.5 * sq_norms[s], z, corr, support)
        for j in range(k):
            codes[s, j] = z[j]
        n_iter[s] = its
        if not conv:
            not_converged += 1
    return not_converged
