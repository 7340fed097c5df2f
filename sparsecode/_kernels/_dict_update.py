"""Block coordinate descent on the atoms of a dictionary, given the
sufficient statistics of the codes (Mairal, Bach, Ponce & Sapiro, JMLR 2010,
Algorithm 2)."""

from numba import njit


@njit(cache=True, nogil=True)
def bcd_update(D, A, B, positive, min_diag, unused):
    """One sweep over the atoms, in place in ``D`` (n_components, n_features).

    ``A = sum z z^T`` (k x k) and ``B = sum z^T x`` (k x p): atom ``j`` moves to
    ``d_j + (B_j - A_j D) / A_jj``, is clipped at 0 when ``positive``, then
    projected on the unit ball. Atoms with ``A_jj <= min_diag`` (almost never
    used) are left as they are and flagged in ``unused``. Returns the largest
    change of an atom (Euclidean norm).
    """
    k, p = D.shape
    largest = 0.0
    for j in range(k):
        ajj = A[j, j]
        if ajj <= min_diag:
            unused[j] = True
            continue
        unused[j] = False
        new = B[j].copy()
        for i in range(k):
            aji = A[j, i]
            if aji != 0.0:
                row = D[i]
                for t in range(p):
                    new[t] -= aji * row[t]
        norm2 = 0.0
        for t in range(p):
            v = D[j, t] + new[t] / ajj
            if positive and v < 0.0:
                v = 0.0
            new[t] = v
            norm2 += v * v
        scale = 1.0 / max(norm2 ** 0.5, 1.0)
        change = 0.0
        for t in range(p):
            v = new[t] * scale
            change += (v - D[j, t]) ** 2
            D[j, t] = v
        change = change ** 0.5
        if change > largest:
            largest = change
    return largest
