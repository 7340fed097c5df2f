"""Small Numba helpers shared by the solvers: Cholesky append / delete and
triangular solves on a growing active set, the lasso duality gap.

Each helper is compiled, optimised and turned into machine code on its own, then
again inside every kernel that calls it: a helper is worth its cold-cache cost
(0.05-0.2 s each) only where it saves real code. So a solve with the factor is
``forward_solve`` then ``backward_solve`` at the call site, not a third helper.
"""

import numpy as np

from . import helper

# The Cholesky factor of G[A][:, A] is kept twice, as L (lower) and U = L^T,
# both row-major: every triangular solve then runs as row axpys, which
# vectorise, instead of dot products, whose latency chains do not.


@helper()
def chol_append(L, U, m, gram, active, j, rel_eps):
    """Add atom ``j`` as row ``m`` of ``L`` (column ``m`` of ``U``), the
    Cholesky factor of ``gram[active[:m]][:, active[:m]]``.

    Returns False (and leaves the leading ``m x m`` blocks valid) when the new
    pivot is not positive beyond ``rel_eps * gram[j, j]``: the atom is,
    numerically, a linear combination of the active ones.
    """
    gjj = gram[j, j]
    if gjj <= 0.0:
        return False
    row = gram[j]
    v = L[m]
    for i in range(m):
        v[i] = row[active[i]]
    forward_solve(U, m, v)
    d = gjj
    for t in range(m):
        d -= v[t] * v[t]
    if not d > rel_eps * gjj:
        return False
    v[m] = np.sqrt(d)
    for t in range(m + 1):
        U[t, m] = v[t]
    return True


@helper()
def forward_solve(U, m, b):
    """In place, ``b <- L^{-1} b`` with ``L = U^T`` (rows of U: axpy form)."""
    for i in range(m):
        bi = b[i] / U[i, i]
        b[i] = bi
        row = U[i]
        for t in range(i + 1, m):
            b[t] -= row[t] * bi


@helper()
def backward_solve(L, m, b):
    """In place, ``b <- L^{-T} b`` (rows of L: axpy form)."""
    for i in range(m - 1, -1, -1):
        bi = b[i] / L[i, i]
        b[i] = bi
        row = L[i]
        for t in range(i):
            b[t] -= row[t] * bi


@helper()
def chol_delete(L, U, m, idx, y):
    """Remove atom ``idx`` (of ``m``) from the factor: delete column ``idx`` of
    ``U``, restore the triangle with Givens rotations on rows of ``U``
    (contiguous), apply the same rotations to ``y = L^{-1} s`` so that it stays
    the forward solve of the shortened ``s``, and refresh the changed rows of
    ``L``. Cost O(m^2), against O(m^3) for refactoring."""
    for r in range(m):
        row = U[r]
        for t in range(idx, m - 1):
            row[t] = row[t + 1]
    for t in range(idx, m - 1):
        a = U[t, t]
        b = U[t + 1, t]
        r = np.hypot(a, b)
        c = a / r
        s = b / r
        top = U[t]
        bottom = U[t + 1]
        for q in range(t, m - 1):
            u1 = top[q]
            u2 = bottom[q]
            top[q] = c * u1 + s * u2
            bottom[q] = c * u2 - s * u1
        bottom[t] = 0.0
        y1 = y[t]
        y2 = y[t + 1]
        y[t] = c * y1 + s * y2
        y[t + 1] = c * y2 - s * y1
    for r in range(idx, m - 1):
        row = L[r]
        for t in range(r + 1):
            row[t] = U[t, r]


@helper()
def combine_rows(gram, active, w, m, a):
    """``a = sum_i w[i] * gram[active[i]]``, four (then one) rows per sweep of
    ``a``: fewer passes over ``a`` for the same reads of ``gram``. (An eight-row
    sweep before the four ran no faster on problem A and cost 0.15 s more of
    lars' and OMP's first compilation, benchmarks/README.md.)"""
    k = a.shape[0]
    for j in range(k):
        a[j] = 0.0
    i = 0
    while i + 4 <= m:
        r0 = gram[active[i]]
        r1 = gram[active[i + 1]]
        r2 = gram[active[i + 2]]
        r3 = gram[active[i + 3]]
        w0 = w[i]
        w1 = w[i + 1]
        w2 = w[i + 2]
        w3 = w[i + 3]
        for j in range(k):
            a[j] += w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j]
        i += 4
    while i < m:
        r0 = gram[active[i]]
        w0 = w[i]
        for j in range(k):
            a[j] += w0 * r0[j]
        i += 1


@helper()
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


@helper()
def soft_threshold(u, thresh, positive):
    if positive:
        return u - thresh if u > thresh else 0.0
    if u > thresh:
        return u - thresh
    if u < -thresh:
        return u + thresh
    return 0.0
