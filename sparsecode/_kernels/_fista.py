"""ISTA and FISTA with adaptive restart, in Gram form.

Two shapes of the same iteration ``z+ = prox(y - (G y - c) / L)``:

- ``fista_batch``: per sample, over blocks of samples, the gradient built from
  the rows of ``G`` on the support of ``y`` only (cost ``k * nnz(y)``), which
  wins when codes are sparse;
- ``fista_step`` / ``gap_batch``: the fused elementwise part of a GEMM-shaped
  iteration whose products ``Y @ G`` are BLAS calls made by the caller (the
  shape the GPU uses too), which wins when codes are dense.

Restart: O'Donoghue & Candes 2015 (gradient scheme), per sample. References:
Beck & Teboulle 2009 (FISTA); Daubechies, Defrise & De Mol 2004 (ISTA).
"""

import numpy as np
from numba import njit

from ._common import lasso_gap, soft_threshold

CHECK_EVERY = 10


@njit(cache=True, nogil=True, inline="always")
def fista_one(c, sq_norm, gram, inv_lip, alpha, positive, accelerate, max_iter,
              tol_abs, z, y, z_old, grad, corr):
    """Solve one sample in place in ``z`` (warm start); ``c`` is float64
    whatever the data's dtype, so this compiles once. Returns
    ``(n_iter, converged)``."""
    k = c.shape[0]
    for j in range(k):
        y[j] = z[j]
    t = 1.0
    thresh = alpha * inv_lip
    for it in range(1, max_iter + 1):
        for j in range(k):
            grad[j] = -c[j]
        for i in range(k):
            yi = y[i]
            if yi != 0.0:
                row = gram[i]
                for j in range(k):
                    grad[j] += yi * row[j]
        restart = 0.0
        for j in range(k):
            z_old[j] = z[j]
            zj = soft_threshold(y[j] - inv_lip * grad[j], thresh, positive)
            z[j] = zj
            restart += (y[j] - zj) * (zj - z_old[j])
        if accelerate and restart <= 0.0:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            t = t_new
            for j in range(k):
                y[j] = z[j] + beta * (z[j] - z_old[j])
        else:
            t = 1.0
            for j in range(k):
                y[j] = z[j]
        if it % CHECK_EVERY == 0 or it == max_iter:
            for j in range(k):
                corr[j] = c[j]
            for i in range(k):
                zi = z[i]
                if zi != 0.0:
                    row = gram[i]
                    for j in range(k):
                        corr[j] -= zi * row[j]
            if lasso_gap(z, c, corr, sq_norm, alpha, positive) <= tol_abs:
                return it, True
    return max_iter, False


@njit(cache=True, nogil=True)
def fista_batch(cov, sq_norms, gram, inv_lip, alpha, positive, accelerate,
                max_iter, tol, init, codes, n_iter, start, stop):
    """Support-restricted (F)ISTA for rows ``start:stop`` of ``cov``. Returns
    the number of samples not converged."""
    k = cov.shape[1]
    not_converged = 0
    z = np.empty(k)
    y = np.empty(k)
    z_old = np.empty(k)
    grad = np.empty(k)
    corr = np.empty(k)
    c = np.empty(k)
    for s in range(start, stop):
        for j in range(k):
            z[j] = init[s, j]
            c[j] = cov[s, j]
        its, conv = fista_one(c, sq_norms[s], gram, inv_lip, alpha,
                              positive, accelerate, max_iter,
                              tol * 0.5 * sq_norms[s], z, y, z_old, grad, corr)
        for j in range(k):
            codes[s, j] = z[j]
        n_iter[s] = its
        if not conv:
            not_converged += 1
    return not_converged


@njit(cache=True, nogil=True)
def fista_step(YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate):
    """Fused prox + momentum + restart for a batch, given ``YG = Y @ G``.

    Updates ``Z`` (codes), ``Y`` (extrapolated point) and ``T`` (momentum) in
    place, each row on its own restart schedule. Serial: the GEMM route runs
    it between BLAS calls, which hold the threads (see ``sparsecode._solvers._fista``)."""
    k = Z.shape[1]
    thresh = alpha * inv_lip
    for s in range(Z.shape[0]):
        restart = 0.0
        for j in range(k):
            zo = Z[s, j]
            zj = soft_threshold(Y[s, j] - inv_lip * (YG[s, j] - C[s, j]), thresh, positive)
            restart += (Y[s, j] - zj) * (zj - zo)
            # keep the previous code in YG's row: it is no longer needed
            YG[s, j] = zo
            Z[s, j] = zj
        if accelerate and restart <= 0.0:
            t = T[s]
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            T[s] = t_new
            for j in range(k):
                Y[s, j] = Z[s, j] + beta * (Z[s, j] - YG[s, j])
        else:
            T[s] = 1.0
            for j in range(k):
                Y[s, j] = Z[s, j]


@njit(cache=True, nogil=True)
def gap_batch(Z, C, ZG, sq_norms, alpha, positive, tol, done):
    """Per-row duality gap given ``ZG = Z @ G``; ``ZG`` is overwritten with
    the correlations ``C - Z G``. Sets ``done[s]`` where the gap is below
    ``tol * 0.5 ||x_s||^2``."""
    n, k = Z.shape
    for s in range(n):
        for j in range(k):
            ZG[s, j] = C[s, j] - ZG[s, j]
        gap = lasso_gap(Z[s], C[s], ZG[s], sq_norms[s], alpha, positive)
        done[s] = gap <= tol * 0.5 * sq_norms[s]
