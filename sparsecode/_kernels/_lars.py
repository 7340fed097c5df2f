"""Lasso homotopy (LARS with the lasso modification) in Gram form.

For each sample the path of ``argmin 0.5 z G z - z.c + lam ||z||_1`` is
followed from ``lam = max |c|`` down to ``lam = alpha``: an active set with a
growing Cholesky factor of ``G[A][:, A]``, one atom added or dropped per step.
Rows of ``G`` are read contiguously (``G`` is symmetric). References: Osborne,
Presnell & Turlach 2000; Efron, Hastie, Johnstone & Tibshirani 2004.
"""

import numpy as np
from numba import njit, prange

from ._common import block_bounds, chol_append, chol_solve

# A new Cholesky pivot below this fraction of the atom's squared norm means
# the atom is (numerically) a combination of the active ones.
_DEGENERATE = 1e-10


@njit(cache=True, nogil=True)
def _rebuild(L, m, gram, active):
    for t in range(m):
        chol_append(L, t, gram, active, active[t], 0.0)


@njit(cache=True, nogil=True)
def lars_one(c, gram, alpha, positive, max_iter, max_active,
             corr, a, w, z_act, signs, active, position, excluded, L):
    """Solve one sample. Returns ``(n_active, n_steps, converged)``; the
    solution is ``z[active[:n_active]] = z_act[:n_active]``."""
    k = c.shape[0]
    lam = 0.0
    first = -1
    for j in range(k):
        corr[j] = c[j]
        position[j] = -1
        excluded[j] = False
        v = corr[j] if positive else abs(corr[j])
        if v > lam:
            lam = v
            first = j
    if lam <= alpha:
        return 0, 0, True

    m = 0
    L[0, 0] = np.sqrt(gram[first, first])
    active[0] = first
    signs[0] = 1.0 if corr[first] > 0 else -1.0
    z_act[0] = 0.0
    position[first] = 0
    m = 1
    just_added = first
    just_dropped = -1
    steps = 0
    converged = False
    while steps < max_iter:
        steps += 1
        chol_solve(L, m, signs, w)
        for j in range(k):
            a[j] = 0.0
        for i in range(m):
            wi = w[i]
            row = gram[active[i]]
            for j in range(k):
                a[j] += wi * row[j]

        # next event: reach alpha (0), an atom joins (1), an atom leaves (2)
        gamma = lam - alpha
        event = 0
        idx = -1
        sign = 0.0
        if m < max_active:
            for j in range(k):
                if position[j] >= 0 or excluded[j] or j == just_dropped:
                    continue
                aj = a[j]
                cj = corr[j]
                if aj < 1.0:
                    g = (lam - cj) / (1.0 - aj)
                    if g < gamma:
                        gamma = g
                        event = 1
                        idx = j
                        sign = 1.0
                if not positive and aj > -1.0:
                    g = (lam + cj) / (1.0 + aj)
                    if g < gamma:
                        gamma = g
                        event = 1
                        idx = j
                        sign = -1.0
        for i in range(m):
            if active[i] == just_added:
                continue
            if z_act[i] * w[i] < 0.0:
                g = -z_act[i] / w[i]
                if g < gamma:
                    gamma = g
                    event = 2
                    idx = i
        if gamma < 0.0:
            gamma = 0.0

        for i in range(m):
            z_act[i] += gamma * w[i]
        for j in range(k):
            corr[j] -= gamma * a[j]
        lam -= gamma
        just_added = -1
        just_dropped = -1

        if event == 0:
            converged = True
            break
        if event == 1:
            if chol_append(L, m, gram, active, idx, _DEGENERATE):
                active[m] = idx
                signs[m] = sign
                z_act[m] = 0.0
                position[idx] = m
                m += 1
                just_added = idx
            else:
                excluded[idx] = True
        else:
            j = active[idx]
            position[j] = -1
            just_dropped = j
            for t in range(idx, m - 1):
                active[t] = active[t + 1]
                signs[t] = signs[t + 1]
                z_act[t] = z_act[t + 1]
                position[active[t]] = t
            m -= 1
            _rebuild(L, m, gram, active)
            if m == 0:
                # Numerically the path emptied the active set (z = 0 again):
                # re-seed from the atom with the largest correlation.
                lam = 0.0
                for j2 in range(k):
                    corr[j2] = c[j2]
                    v = corr[j2] if positive else abs(corr[j2])
                    if v > lam and j2 != just_dropped:
                        lam = v
                        idx = j2
                if lam <= alpha:
                    converged = True
                    break
                L[0, 0] = np.sqrt(gram[idx, idx])
                active[0] = idx
                signs[0] = 1.0 if corr[idx] > 0 else -1.0
                z_act[0] = 0.0
                position[idx] = 0
                m = 1
                just_added = idx

    if converged and m > 0:
        # Polish: on the final support and signs the solution is
        # G_AA z_A = c_A - alpha s_A; take it unless a sign disagrees.
        for i in range(m):
            a[i] = c[active[i]] - alpha * signs[i]
        chol_solve(L, m, a, w)
        ok = True
        for i in range(m):
            if w[i] * signs[i] <= 0.0:
                ok = False
        if ok:
            for i in range(m):
                z_act[i] = w[i]
    return m, steps, converged


@njit(parallel=True, cache=True, nogil=True)
def lars_batch(cov, gram, alpha, positive, max_iter, max_active, codes, n_iter, n_blocks):
    """Homotopy for every row of ``cov``; writes ``codes`` (zeroed by the
    caller) and the step count per sample into ``n_iter``. Returns the number
    of samples that hit ``max_iter``."""
    n, k = cov.shape
    not_converged = np.zeros(n_blocks, dtype=np.int64)
    for b in prange(n_blocks):
        start, stop = block_bounds(b, n_blocks, n)
        corr = np.empty(k)
        a = np.empty(k)
        w = np.empty(max_active)
        z_act = np.empty(max_active)
        signs = np.empty(max_active)
        active = np.empty(max_active, dtype=np.int64)
        position = np.empty(k, dtype=np.int64)
        excluded = np.empty(k, dtype=np.bool_)
        L = np.empty((max_active, max_active))
        for s in range(start, stop):
            m, steps, conv = lars_one(cov[s], gram, alpha, positive, max_iter,
                                      max_active, corr, a, w, z_act, signs,
                                      active, position, excluded, L)
            for t in range(m):
                codes[s, active[t]] = z_act[t]
            n_iter[s] = steps
            if not conv:
                not_converged[b] += 1
    return not_converged.sum()
