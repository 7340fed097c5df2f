"""Batch orthogonal matching pursuit with a progressive Cholesky factor.

Per sample, on the Gram form only: select the atom of largest absolute
correlation, append it to the Cholesky factor of ``G[A][:, A]``, solve for the
coefficients, update the correlations ``c - G[:, A] z_A`` and the squared
residual ``||x||^2 - z_A . c_A``. Reference: Rubinstein, Zibulevsky & Elad,
"Efficient implementation of the K-SVD algorithm using batch orthogonal
matching pursuit", Technion CS-2008-08.
"""

import numpy as np
from numba import njit

from ._common import backward_solve, chol_append, combine_rows, forward_solve

# Same numerical rules as scikit-learn's ``_gram_omp``: stop when the best
# correlation is negligible or the new atom is dependent on the chosen ones.
_EPS = np.finfo(np.float64).eps


@njit(cache=True, nogil=True, inline="always")
def omp_one(c, sq_norm, gram, n_nonzero, tol, corr, c_act, z_act, active, L, U):
    """Returns ``(n_active, dependent)``: ``dependent`` when the pursuit stopped
    on an atom linearly dependent on the chosen ones. ``tol < 0`` means no
    residual target. ``corr`` is a workspace of ``c``'s length; ``c`` is
    float64 whatever the data's dtype, so this compiles once."""
    k = c.shape[0]
    for j in range(k):
        corr[j] = c[j]
    residual = sq_norm
    m = np.int64(0)
    if tol >= 0.0 and residual <= tol:
        return 0, False
    while m < n_nonzero:
        # The residual is orthogonal to the chosen atoms, whose correlations
        # are set to exactly 0: a plain argmax never picks them again.
        best = -1.0
        lam = np.int64(-1)  # (a literal -1 made Numba compile chol_append twice)
        for j in range(k):
            v = abs(corr[j])
            if v > best:
                best = v
                lam = j
        if best * best < _EPS:
            # what is left of the signal is orthogonal to every atom
            return m, False
        if not chol_append(L, U, m, gram, active, lam, _EPS):
            return m, True
        active[m] = lam
        c_act[m] = c[lam]
        m += 1
        for i in range(m):
            z_act[i] = c_act[i]
        forward_solve(U, m, z_act)
        backward_solve(L, m, z_act)
        combine_rows(gram, active, z_act, m, corr)
        for j in range(k):
            corr[j] = c[j] - corr[j]
        for i in range(m):
            corr[active[i]] = 0.0
        residual = sq_norm
        for i in range(m):
            residual -= z_act[i] * c_act[i]
        if tol >= 0.0 and abs(residual) <= tol:
            break
    return m, False


@njit(cache=True, nogil=True)
def omp_batch(cov, sq_norms, gram, n_nonzero, tol, codes, n_iter, start, stop):
    """OMP for rows ``start:stop`` of ``cov``; ``n_iter`` receives the atoms
    used. Returns the number of samples that stopped early because the next
    atom was linearly dependent on the chosen ones."""
    k = cov.shape[1]
    premature = 0
    cap = max(1, n_nonzero)
    corr = np.empty(k)
    c = np.empty(k)
    c_act = np.empty(cap)
    z_act = np.empty(cap)
    active = np.empty(cap, dtype=np.int64)
    L = np.empty((cap, cap))
    U = np.empty((cap, cap))
    for s in range(start, stop):
        for j in range(k):
            c[j] = cov[s, j]
        m, early = omp_one(c, sq_norms[s], gram, n_nonzero, tol,
                           corr, c_act, z_act, active, L, U)
        for t in range(m):
            codes[s, active[t]] = z_act[t]
        n_iter[s] = m
        if early:
            premature += 1
    return premature
