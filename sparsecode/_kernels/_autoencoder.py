"""Fused pieces of the sparse autoencoders: activations that select per row
or per batch, products with codes held as CSR (``indptr``, ``idx``, ``val``)
that cost ``nnz * d`` rather than ``b * m * d``, and the Adam update.

Kernels that end in ``start, stop`` work on those rows (or latents, or
entries) only; ``sparsecode._threads.run_blocks`` spreads them over threads.

Codes of a minibatch of ``b`` rows and ``m`` latents are CSR; ``W`` arrays
are ``(m, d)`` row-major, one latent per row, so every product walks rows.
"""

import numpy as np
from numba import njit

from ._threshold import _kth_largest


@njit(cache=True, nogil=True)
def topk_select(pre, k, mask, use_mask, idx, val, start, stop):
    """Per row of ``start:stop``, the ``k`` largest pre-activations (among
    ``mask`` latents when ``use_mask``; ties by lower index), ReLU applied:
    ``idx``/``val`` of shape (b, k), entries past the candidates get value 0
    and index 0."""
    m = pre.shape[1]
    cand = np.empty(m)
    for i in range(start, stop):
        # (not a plain 0: Numba would type the first pass's count as the
        # literal 0 and compile _kth_largest for it too, 0.1 s of the first fit)
        n_cand = np.int64(0)
        for j in range(m):
            if use_mask and not mask[j]:
                continue
            cand[n_cand] = pre[i, j]
            n_cand += 1
        kk = min(k, n_cand)
        t = -np.inf
        if kk > 0:
            t = _kth_largest(cand, n_cand, kk)
        filled = 0
        # strictly above t first, then ties at t in index order
        for j in range(m):
            if use_mask and not mask[j]:
                continue
            v = np.float64(pre[i, j])
            if v > t and filled < kk:
                idx[i, filled] = j
                val[i, filled] = max(pre[i, j], 0)
                filled += 1
        for j in range(m):
            if filled >= kk:
                break
            if use_mask and not mask[j]:
                continue
            if np.float64(pre[i, j]) == t:
                idx[i, filled] = j
                val[i, filled] = max(pre[i, j], 0)
                filled += 1
        for s in range(filled, k):
            idx[i, s] = 0
            val[i, s] = 0


@njit(cache=True, nogil=True)
def count_above(pre, threshold, counts, start, stop):
    m = pre.shape[1]
    for i in range(start, stop):
        c = 0
        for j in range(m):
            c += pre[i, j] > threshold
        counts[i] = c


@njit(cache=True, nogil=True)
def fill_above(pre, threshold, indptr, idx, val, start, stop):
    """CSR of the entries of ``pre`` above ``threshold`` (> 0 by caller)."""
    m = pre.shape[1]
    for i in range(start, stop):
        t = indptr[i]
        for j in range(m):
            v = pre[i, j]
            if v > threshold:
                idx[t] = j
                val[t] = v
                t += 1


@njit(cache=True, nogil=True)
def csr_decode(indptr, idx, val, W, bias, use_bias, out, start, stop):
    """``out[i] = bias + sum_t val[t] * W[idx[t]]`` over row ``i``'s entries."""
    d = out.shape[1]
    for i in range(start, stop):
        for c in range(d):
            out[i, c] = bias[c] if use_bias else 0
        for t in range(indptr[i], indptr[i + 1]):
            v = val[t]
            if v != 0:
                w = W[idx[t]]
                for c in range(d):
                    out[i, c] += v * w[c]


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def csr_row_dots(indptr, idx, R, W, scale, gate, out, start, stop):
    """``out[t] = scale * (R[i] . W[idx[t]])`` for stored entry ``t`` of row
    ``i``, zero where ``gate[t] <= 0`` (the ReLU after the selection).
    Reassociation lets LLVM vectorise the dot (as one chain of dependent
    additions it ran at 2.4 GFLOP/s on 10^4-long rows); it reorders the
    rounding as BLAS does, and tests/test_autoencoder.py holds it to 1e-12
    of numpy's dot."""
    d = R.shape[1]
    for i in range(start, stop):
        for t in range(indptr[i], indptr[i + 1]):
            if gate[t] > 0:
                w = W[idx[t]]
                acc = 0.0
                for c in range(d):
                    acc += R[i, c] * w[c]
                out[t] = scale * acc
            else:
                out[t] = 0


@njit(cache=True)
def csr_transpose(indptr, idx, m, t_indptr, t_rows, t_pos):
    """Column lists of a CSR pattern: for latent ``j``, the rows
    ``t_rows[t_indptr[j]:t_indptr[j+1]]`` and the entries ``t_pos`` they
    came from (so any values array of the pattern can be summed by column)."""
    b = indptr.shape[0] - 1
    t_indptr[:] = 0
    for t in range(indptr[b]):
        t_indptr[idx[t] + 1] += 1
    for j in range(m):
        t_indptr[j + 1] += t_indptr[j]
    fill = t_indptr[:m].copy()
    for i in range(b):
        for t in range(indptr[i], indptr[i + 1]):
            j = idx[t]
            p = fill[j]
            t_rows[p] = i
            t_pos[p] = t
            fill[j] = p + 1


@njit(cache=True, nogil=True)
def csc_accumulate(t_indptr, t_rows, t_pos, coef, Y, out, sums, start, stop):
    """``out[j] += sum coef[t] * Y[row]`` and ``sums[j] += sum coef[t]`` over
    latent ``j``'s entries: ``S^T Y`` for the sparse codes ``S``."""
    d = Y.shape[1]
    for j in range(start, stop):
        o = out[j]
        s = 0.0
        for p in range(t_indptr[j], t_indptr[j + 1]):
            a = coef[t_pos[p]]
            if a != 0:
                s += a
                y = Y[t_rows[p]]
                for c in range(d):
                    o[c] += a * y[c]
        sums[j] += s


@njit(cache=True, nogil=True)
def codes_times_csr(t_indptr, t_rows, t_pos, coef, x_indptr, x_idx, x_val, shift, out,
                    sums, start, stop):
    """``out[j] = sum_i coef_ij (x_i - shift)`` and ``sums[j] = sum_i
    coef_ij`` over latent ``j``'s codes (the column lists of the sparse codes
    ``S``) and the stored entries of the sparse rows ``x_i``: ``S^T (X -
    shift)`` at ``sum_i nnz(s_i) nnz(x_i)`` scattered multiply-adds plus one
    pass over ``out``. Latent by latent, so the scattered writes stay in one
    row of ``out`` (in cache) and the threads never share a row."""
    d = out.shape[1]
    for j in range(start, stop):
        o = out[j]
        s = 0.0
        for p in range(t_indptr[j], t_indptr[j + 1]):
            s += coef[t_pos[p]]
        sums[j] = s
        for c in range(d):
            o[c] = -s * shift[c]
        for p in range(t_indptr[j], t_indptr[j + 1]):
            a = coef[t_pos[p]]
            if a != 0:
                i = t_rows[p]
                for q in range(x_indptr[i], x_indptr[i + 1]):
                    o[x_idx[q]] += a * x_val[q]


@njit(cache=True, nogil=True)
def subtract_csr(R, start, indptr, idx, val):
    """``R[i - start] -= X[i]`` for the CSR rows ``start .. start + len(R)``
    of ``X`` (duplicate entries add up, as in the sparse matrix)."""
    for r in range(R.shape[0]):
        i = start + r
        for q in range(indptr[i], indptr[i + 1]):
            R[r, idx[q]] -= val[q]


# The ReLU path spends its time in BLAS, which keeps the threads: these two
# run serially, each one pass over the (b, m) activations.


@njit(cache=True, nogil=True)
def relu_forward(F, b_enc, colsum):
    """``F = max(F + b_enc, 0)`` in place; ``colsum[j] += sum_i F_ij``
    (float64), from which the caller has the decoder-norm-weighted L1 term
    ``l1 * colsum @ norms``. (A per-row sum here, one float64 chain per row,
    kept the loop from vectorising: 1.0 ms per 512 x 2048 block, not 0.2.)"""
    b, m = F.shape
    zero = F[0, 0] * 0
    for i in range(b):
        for j in range(m):
            v = F[i, j] + b_enc[j]
            v = v if v > zero else zero
            F[i, j] = v
            colsum[j] += v


@njit(cache=True, nogil=True)
def relu_backward(G, F, add, colsum):
    """``G = (G + add) * [F > 0]`` in place (``add``: the L1 term per latent);
    ``colsum[j] += sum_i G_ij``."""
    b, m = F.shape
    zero = G[0, 0] * 0
    for i in range(b):
        for j in range(m):
            g = G[i, j] + add[j] if F[i, j] > 0 else zero
            G[i, j] = g
            colsum[j] += g


@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(param, grad, m1, m2, lr, beta1, beta2, eps, bias1, bias2, start, stop):
    """One Adam step on flat arrays, in place (``bias*``: 1 - beta**t).

    The loop runs over views of ``start:stop`` from 0: indexed from
    ``start`` itself LLVM cannot prove the index non-negative (Numba wraps
    negative ones), and with Python's error model each division checks for
    zero: either leaves the loop scalar, 6 ns per entry instead of about 1.
    (The same operations, so the same bits; the divisors are positive.)"""
    p = param[start:stop]
    gr = grad[start:stop]
    r1 = m1[start:stop]
    r2 = m2[start:stop]
    for s in range(p.shape[0]):
        g = gr[s]
        a = beta1 * r1[s] + (1 - beta1) * g
        v = beta2 * r2[s] + (1 - beta2) * g * g
        r1[s] = a
        r2[s] = v
        p[s] -= lr * (a / bias1) / (np.sqrt(v / bias2) + eps)


# The row reductions below are reassociated: LLVM then vectorises them (a
# float64 sum is otherwise one chain of dependent additions). For 2048 rows of
# 256 float32 entries, one thread: project 0.52 -> 0.26 ms, normalise 0.51 ->
# 0.21 ms, within 3e-7 of the ordered sums (in float32). The order of a row's
# sum depends on the vector width LLVM picks for this CPU, not on the threads.


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def project_out_rows(W, G, start, stop):
    """Remove from each ``G[j]`` its component along the unit row ``W[j]``:
    the part of the gradient that only changes the row's norm."""
    for j in range(start, stop):
        w = W[j]
        g = G[j]
        dot = 0.0
        nrm = 0.0
        for c in range(w.shape[0]):
            wc = np.float64(w[c])
            dot += np.float64(g[c]) * wc
            nrm += wc * wc
        if nrm > 0:
            s = dot / nrm
            for c in range(w.shape[0]):
                g[c] -= s * w[c]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def normalize_rows(W, start, stop):
    for j in range(start, stop):
        w = W[j]
        nrm = 0.0
        for c in range(w.shape[0]):
            wc = np.float64(w[c])
            nrm += wc * wc
        if nrm > 0:
            inv = 1.0 / np.sqrt(nrm)
            for c in range(w.shape[0]):
                w[c] *= inv


# Transform-time activations on a chunk of responses ``cov - offset`` (serial,
# GIL released; ``cov`` may be the output itself, read before written).


@njit(cache=True, nogil=True)
def topk_relu_encode(cov, offset, k, out, work):
    """Keep the ``k`` largest pre-activations per row (ties by lower index),
    ReLU applied, zero the rest. ``work``: float64, ``2 * cov.shape[1]``."""
    n, m = cov.shape
    zero = offset[0] - offset[0]
    values = work[:m]
    cand = work[m:]
    for i in range(n):
        for j in range(m):
            v = np.float64(cov[i, j] - offset[j])
            values[j] = v
            cand[j] = v
        t = _kth_largest(cand, m, k)
        above = 0
        for j in range(m):
            big = values[j] > t
            above += big
            out[i, j] = max(values[j], 0.0) if big else zero
        ties = k - above
        if ties > 0 and t > 0:
            for j in range(m):
                if values[j] == t:
                    out[i, j] = t
                    ties -= 1
                    if ties == 0:
                        break


@njit(cache=True, nogil=True)
def jump_relu_encode(cov, offset, theta, out):
    """``v`` where ``v = cov - offset > theta``, else 0 (BatchTopK at
    inference, with the threshold learned in training)."""
    n, m = cov.shape
    zero = offset[0] - offset[0]
    for i in range(n):
        for j in range(m):
            v = cov[i, j] - offset[j]
            out[i, j] = v if v > theta else zero


# The KL-sparse (UFLDL) autoencoder: sigmoid hidden units, full-batch passes.
# Serial kernels: L-BFGS spends its time in BLAS, which keeps the threads.


@njit(cache=True, nogil=True)
def sigmoid_colsum(Z, colsum):
    """``Z = 1 / (1 + exp(-Z))`` in place; ``colsum[j] = sum_i Z[i, j]``."""
    n, m = Z.shape
    colsum[:] = 0.0
    for i in range(n):
        for j in range(m):
            a = 1.0 / (1.0 + np.exp(-Z[i, j]))
            Z[i, j] = a
            colsum[j] += a


@njit(cache=True, nogil=True)
def kl_backward(A, S, scaled, AG, XW2, c, kl_col, inv_n, colsum):
    """With the decoder's codes ``Ad = A * S`` (``S`` the dropout scale when
    ``scaled``, else 1), ``AG = Ad G`` and ``dA = S (AG + c - X W2^T) / n +
    kl_col`` (the reconstruction and KL terms), write ``dZ = dA * A * (1 -
    A)`` over ``AG`` and return ``sum(Ad * (AG + 2 c - 2 X W2^T))``, the part
    of ``sum ||x_hat||^2 - 2 x.x_hat`` that depends on the codes; ``colsum``
    gets ``dZ``'s column sums."""
    n, m = A.shape
    colsum[:] = 0.0
    total = 0.0
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            s = S[i, j] if scaled else 1.0
            ag = AG[i, j]
            xw = XW2[i, j]
            total += a * s * (ag + 2.0 * c[j] - 2.0 * xw)
            dz = ((ag + c[j] - xw) * s * inv_n + kl_col[j]) * a * (1.0 - a)
            AG[i, j] = dz
            colsum[j] += dz
    return total


@njit(cache=True, nogil=True)
def sigmoid_encode(cov, offset, out):
    """``1 / (1 + exp(-(cov - offset)))`` (transform; ``cov`` may be ``out``)."""
    n, m = cov.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = 1.0 / (1.0 + np.exp(-(np.float64(cov[i, j]) - offset[j])))


@njit(cache=True, nogil=True)
def sigmoid_backward(dA, A, inv_n, kl_col, colsum):
    """``dZ = (dA * inv_n + kl_col) * A * (1 - A)`` written over ``dA``;
    ``colsum`` gets its column sums."""
    n, m = A.shape
    colsum[:] = 0.0
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            dz = (dA[i, j] * inv_n + kl_col[j]) * a * (1.0 - a)
            dA[i, j] = dz
            colsum[j] += dz


# ------------------------------------------------------------ sparse weights
@njit(cache=True, nogil=True)
def soft_threshold_inplace(w, t):
    """``w = sign(w) * max(|w| - t, 0)``: the proximal step of ``t * ||w||_1``,
    which leaves weights exactly zero."""
    for i in range(w.shape[0]):
        v = w[i]
        if v > t:
            w[i] = v - t
        elif v < -t:
            w[i] = v + t
        else:
            w[i] = 0.0


@njit(cache=True, nogil=True, fastmath={"contract"})
def csr_weight_product(X, indptr, indices, data, out):
    """``out = X @ W.T`` for a dense row chunk ``X`` (rows, d) and sparse
    weights ``W`` (m, d) in CSR, eight samples at a time: the group's inputs
    transposed (d, 8), so that each non-zero weight multiplies one short
    contiguous vector into eight register accumulators (0.22 ns per
    multiply-add, against 0.6 gathering one sample's inputs at a time)."""
    rows, d = X.shape
    m = indptr.shape[0] - 1
    Xt = np.zeros((d, 8), dtype=np.float64)
    for r0 in range(0, rows, 8):
        g = min(8, rows - r0)
        for c in range(d):
            for r in range(8):
                Xt[c, r] = X[r0 + r, c] if r < g else 0.0
        for j in range(m):
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                w = np.float64(data[p])
                col = Xt[indices[p]]
                a0 += w * col[0]
                a1 += w * col[1]
                a2 += w * col[2]
                a3 += w * col[3]
                a4 += w * col[4]
                a5 += w * col[5]
                a6 += w * col[6]
                a7 += w * col[7]
            vals = (a0, a1, a2, a3, a4, a5, a6, a7)
            for r in range(g):
                out[r0 + r, j] = vals[r]


@njit(cache=True, nogil=True)
def zero_below(codes, threshold):
    """Post-activation thresholding: codes below ``threshold`` become 0."""
    rows, m = codes.shape
    for i in range(rows):
        for j in range(m):
            if codes[i, j] < threshold:
                codes[i, j] = 0.0
