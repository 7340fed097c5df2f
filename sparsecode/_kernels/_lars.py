"""Lasso homotopy (LARS with the lasso modification) in Gram form.

For each sample the path of ``argmin 0.5 z G z - z.c + lam ||z||_1`` is
followed from ``lam = max |c|`` down to ``lam = alpha``: an active set with a
growing Cholesky factor of ``G[A][:, A]``, one atom added or dropped per step.
Rows of ``G`` are read contiguously (``G`` is symmetric). References: Osborne,
Presnell & Turlach 2000; Efron, Hastie, Johnstone & Tibshirani 2004.
"""

import numpy as np
from numba import njit

from . import helper
from ._common import (
    backward_solve,
    chol_append,
    chol_delete,
    combine_rows,
    forward_solve,
)

# A new Cholesky pivot below this fraction of the atom's squared norm means
# the atom is (numerically) a combination of the active ones.
_DEGENERATE = 1e-10


@helper()
def _reaches_plus_first(aj, cj, lam):
    """Whether ``corr_j - g a_j`` meets ``+(lam - g)`` before ``-(lam - g)``
    as ``g`` grows: comparing the two crossing points
    ``(lam - c) / (1 - a)`` and ``(lam + c) / (1 + a)`` without dividing, which
    leaves one division per atom in the scan."""
    d1 = 1.0 - aj
    d2 = 1.0 + aj
    if not d1 > 0.0:
        return False
    if not d2 > 0.0:
        return True
    return lam * aj < cj


@helper(error_model="numpy")
def _seed(c, corr, positive, skip):
    """Largest correlation (signed when ``positive``) and its atom, over
    ``corr = c``, skipping atom ``skip``."""
    lam = 0.0
    first = -1
    for j in range(c.shape[0]):
        corr[j] = c[j]
        v = corr[j] if positive else abs(corr[j])
        if v > lam and j != skip:
            lam = v
            first = j
    return lam, first


@njit(cache=True, nogil=True, error_model="numpy")
def lars_batch(cov, gram, alpha, positive, max_iter, max_active, codes, n_iter, start, stop):
    """Homotopy for rows ``start:stop`` of ``cov``; writes ``codes`` (zeroed
    by the caller) and the step count per sample into ``n_iter``. Returns the
    number of samples that hit ``max_iter``.

    Per sample (``c``, a float64 copy of the row): the solution is
    ``z[active[:m]] = z_act[:m]``. ``blocked[j]`` is 0 for atoms free to join
    and +inf for the active ones, those found dependent on the active set,
    and the atom dropped at the previous step (by the lasso modification it
    leaves the boundary it was on, so only its opposite boundary is checked,
    separately). One function, not a batch loop around a per-sample one:
    Numba compiles, optimises and caches each function it calls, the callee's
    code again inside the caller's, which cost half a second more on a cold
    cache here.
    """
    k = cov.shape[1]
    not_converged = 0
    c = np.empty(k)
    corr = np.empty(k)
    a = np.empty(k)
    cand = np.empty(k)
    blocked = np.empty(k)
    w = np.empty(max_active)
    y = np.empty(max_active)
    z_act = np.empty(max_active)
    signs = np.empty(max_active)
    active = np.empty(max_active, dtype=np.int64)
    L = np.empty((max_active, max_active))
    U = np.empty((max_active, max_active))
    for s in range(start, stop):
        for j in range(k):
            c[j] = cov[s, j]
            blocked[j] = 0.0
        n_iter[s] = 0
        lam, idx = _seed(c, corr, positive, np.int64(-1))
        if lam <= alpha:
            continue
        m = np.int64(0)
        steps = 0
        converged = False
        just_added = -1
        just_dropped = -1
        dropped_sign = 0.0
        sign = 1.0 if corr[idx] > 0 else -1.0
        event = 1
        while True:
            if event == 1:
                if chol_append(L, U, m, gram, active, idx, _DEGENERATE):
                    # y = L^{-1} s grows by one entry: the rows above are unchanged
                    acc = sign
                    for t in range(m):
                        acc -= L[m, t] * y[t]
                    y[m] = acc / L[m, m]
                    active[m] = idx
                    signs[m] = sign
                    z_act[m] = 0.0
                    m += 1
                    just_added = idx
                blocked[idx] = np.inf
            elif event == 2:
                j = active[idx]
                just_dropped = j
                dropped_sign = signs[idx]
                chol_delete(L, U, m, idx, y)
                for t in range(idx, m - 1):
                    active[t] = active[t + 1]
                    signs[t] = signs[t + 1]
                    z_act[t] = z_act[t + 1]
                m -= 1
                if m == 0:
                    # Numerically the path emptied the active set (z = 0 again):
                    # re-seed from the largest correlation.
                    blocked[j] = 0.0
                    lam, idx = _seed(c, corr, positive, j)
                    if lam <= alpha:
                        converged = True
                        break
                    sign = 1.0 if corr[idx] > 0 else -1.0
                    event = 1
                    continue
            if steps >= max_iter:
                break
            steps += 1

            for i in range(m):
                w[i] = y[i]
            backward_solve(L, m, w)
            combine_rows(gram, active, w, m, a)

            # next event: reach alpha (0), an atom joins (1), an atom leaves (2)
            gamma = lam - alpha
            event = 0
            idx = -1
            if m < max_active:
                # Branch-free, vectorisable pass: the level drop at which each
                # free atom would join (blocked atoms get +inf), then one argmin.
                if positive:
                    for j in range(k):
                        d = 1.0 - a[j]
                        g = (lam - corr[j]) / d if d > 0.0 else np.inf
                        cand[j] = g + blocked[j]
                else:
                    for j in range(k):
                        aj = a[j]
                        cj = corr[j]
                        if _reaches_plus_first(aj, cj, lam):
                            num = lam - cj
                            den = 1.0 - aj
                        else:
                            num = lam + cj
                            den = 1.0 + aj
                        g = num / den if den > 0.0 else np.inf
                        cand[j] = g + blocked[j]
                for j in range(k):
                    if cand[j] < gamma:
                        gamma = cand[j]
                        idx = j
                if idx >= 0:
                    event = 1
                    sign = 1.0 if positive or _reaches_plus_first(a[idx], corr[idx], lam) else -1.0
                if just_dropped >= 0 and not positive:
                    # The atom that just left sits at its old boundary, which it
                    # leaves at once; it may still reach the opposite one.
                    aj = a[just_dropped]
                    cj = corr[just_dropped]
                    d = 1.0 + dropped_sign * aj
                    if d > 0.0:
                        g = (lam + dropped_sign * cj) / d
                        if g < gamma:
                            gamma = g
                            event = 1
                            idx = just_dropped
                            sign = -dropped_sign
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
            if just_dropped >= 0:
                blocked[just_dropped] = 0.0
                just_dropped = -1
            if event == 0:
                converged = True
                break

        if converged and m > 0:
            # Polish: on the final support and signs the solution is
            # G_AA z_A = c_A - alpha s_A; take it unless a sign disagrees.
            for i in range(m):
                w[i] = c[active[i]] - alpha * signs[i]
            forward_solve(U, m, w)
            backward_solve(L, m, w)
            ok = True
            for i in range(m):
                if w[i] * signs[i] <= 0.0:
                    ok = False
            if ok:
                for i in range(m):
                    z_act[i] = w[i]
        for t in range(m):
            codes[s, active[t]] = z_act[t]
        n_iter[s] = steps
        if not converged:
            not_converged += 1
    return not_converged
