"""Attention kernels: softmax over a band of keys (after a BLAS product), a
two-pass softmax over per-query key lists, the log-sum-exp merge of partial
results, and the key lists of the sparse patterns.

Every softmax here returns, beside its output (or, for the two that run
between BLAS products, its unnormalised weights and their sums), the log-sum-exp
``lse = m + log(sum_j exp(s_j - m))`` of its scores: two outputs over
disjoint key sets then merge exactly (``merge_lse``), which is how window,
global and random keys combine without ever forming a row of all keys.
Scores are shifted by their row maximum before ``exp``, so no score
overflows; sums are kept in float64 whatever the input dtype.

All kernels are serial and release the GIL: the caller runs query chunks on
threads whose BLAS is capped to one thread (see ``sparsecode._chunks``).
"""

import numpy as np
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import overload

from . import helper

_NEG_INF = -np.inf

# Softmax weights below 2^-125 (relative to the row's largest, 1) become 0
_FLUSH = 2.0 ** -125


# exp by range reduction, exp(y) = 2^k exp(r) with |r| <= ln(2) / 2, and a
# degree-11 Taylor polynomial (truncation 6.5e-15 relative): within 1e-14 of
# numpy's exp on [-708, 0] (tested), and, unlike a libm call, a loop of
# arithmetic that LLVM vectorises: the softmax took 5 ns per score with
# np.exp, the product of the scores with the values 2. fastmath "contract"
# only fuses multiply-adds (one rounding instead of two).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@njit(cache=True, nogil=True, fastmath={"contract"})
def exp_shifted(x, m, out, bits):
    """``out[j] = exp(x[j] - m)`` for ``x[j] <= m``; ``bits`` is int64
    scratch of ``x``'s length. Below ``exp(-708)`` the result is
    ``exp(-708)``, ``1e-308`` of the row's largest weight."""
    n = x.shape[0]
    for j in range(n):
        y = max(np.float64(x[j]) - m, -708.0)
        k = np.floor(y * _LOG2E + 0.5)
        r = (y - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        out[j] = p
        bits[j] = (np.int64(k) + 1023) << 52
    scale = bits[:n].view(np.float64)
    for j in range(n):
        out[j] *= scale[j]


# float32 scores: the same reduction in float32 arithmetic (8 lanes where
# float64 has 4), Cody & Waite's float32 split of ln 2, degree 7 (truncation
# 5e-9 relative, below float32's 6e-8 rounding); within 4e-7 of numpy's exp on
# [-87, 0] (tested). The softmax of a float32 window tile took 73 us with the
# float64 exp, the tile's two products about 140 us.
_LOG2E_32 = np.float32(1.4426950408889634)
_LN2_HI_32 = np.float32(0.693359375)
_LN2_LO_32 = np.float32(-2.12194440e-4)


@njit(cache=True, nogil=True, fastmath={"contract"})
def exp_shifted32(x, m, out, bits):
    """:func:`exp_shifted` for float32 ``x`` and ``out``; ``bits`` is int32.
    Below ``exp(-87)`` the result is ``exp(-87)``, ``1.6e-38`` of the row's
    largest weight."""
    n = x.shape[0]
    m32 = np.float32(m)
    for j in range(n):
        y = max(x[j] - m32, np.float32(-87.0))
        k = np.floor(y * _LOG2E_32 + np.float32(0.5))
        r = (y - k * _LN2_HI_32) - k * _LN2_LO_32
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        p = p * r + np.float32(1.0)
        out[j] = p
        bits[j] = (np.int32(k) + np.int32(127)) << 23
    scale = bits[:n].view(np.float32)
    for j in range(n):
        out[j] *= scale[j]


def _exp_rows(x, m, out, bits):
    """``exp_shifted`` or ``exp_shifted32``, chosen by ``out``'s dtype when
    a kernel is compiled (see the overload below)."""
    raise NotImplementedError("only called from compiled kernels")


@overload(_exp_rows)
def _exp_rows_impl(x, m, out, bits):
    if out.dtype == types.float32 and bits.dtype == types.int32:
        return lambda x, m, out, bits: exp_shifted32(x, m, out, bits)
    if out.dtype == types.float64 and bits.dtype == types.int64:
        return lambda x, m, out, bits: exp_shifted(x, m, out, bits)
    raise TypingError(f"_exp_rows: out {out.dtype} with bits {bits.dtype}; use "
                      "softmax_scratch_dtypes")


def softmax_scratch_dtypes(dtype):
    """``band_softmax``'s ``work`` and ``bits`` dtypes for scores of
    ``dtype``: float32 scores take the float32 exp."""
    if np.dtype(dtype) == np.float32:
        return np.float32, np.int32
    return np.float64, np.int64


@helper()
def _sum8(x):
    """Sum with eight accumulators (independent chains, and a fixed order,
    so the result does not depend on the compiler)."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    j = 0
    while j + 8 <= n:
        a0 += x[j]
        a1 += x[j + 1]
        a2 += x[j + 2]
        a3 += x[j + 3]
        a4 += x[j + 4]
        a5 += x[j + 5]
        a6 += x[j + 6]
        a7 += x[j + 7]
        j += 8
    while j < n:
        a0 += x[j]
        j += 1
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@helper()
def _max8(x):
    """Maximum with eight independent chains (one chain waits on each
    comparison: 1.3 ns per score)."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = x[0]
    j = 0
    while j + 8 <= n:
        a0 = max(a0, x[j])
        a1 = max(a1, x[j + 1])
        a2 = max(a2, x[j + 2])
        a3 = max(a3, x[j + 3])
        a4 = max(a4, x[j + 4])
        a5 = max(a5, x[j + 5])
        a6 = max(a6, x[j + 6])
        a7 = max(a7, x[j + 7])
        j += 8
    while j < n:
        a0 = max(a0, x[j])
        j += 1
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@helper(fastmath={"reassoc"})
def _flush_sum(w, out):
    """``out[j] = w[j]``, or 0 where ``w[j] < _FLUSH`` (NaN stays NaN), and
    the sum of ``out`` in float64. Reassociation lets LLVM vectorise the sum
    (1.6 us against 5.5 us for 64 rows of 257 float32 weights with
    ``_sum8``'s eight scalar chains); the order then follows the vector width
    LLVM picks for this CPU: the same on every run and thread count, not
    across machines."""
    s = 0.0
    for j in range(w.shape[0]):
        v = w[j]
        v = 0.0 if v < _FLUSH else v
        out[j] = v
        s += np.float64(v)
    return s


@njit(cache=True, nogil=True)
def band_softmax(S, bias, has_bias, lo, hi, koff, sums, lse, work, bits):
    """Rewrite row ``t`` of the scores ``S`` into its softmax weights over the
    keys ``lo[t] <= k < hi[t]``, not yet normalised. Column ``j`` of ``S``
    holds key ``k = koff[t] + j`` (the caller's products put each row's keys
    inside its columns); ``S[t, j]`` becomes ``exp(S[t, j] (+ bias[k]) -
    m_t)`` for those keys (``m_t`` the largest such score), 0 elsewhere;
    ``sums[t]`` gets their sum and ``lse[t]`` their log-sum-exp (0 and
    ``-inf`` for an empty band, whose row becomes 0). ``(S @ V) / sums`` is
    then the attention output: dividing the ``d_v`` outputs of a row costs
    less than its ``hi - lo`` weights (see :func:`divide_rows`). Weights
    below ``2^-125`` (scores more than 86.6 below the row's largest, 2e-38 of
    its weight) are 0 in either dtype: they count for nothing, and the
    clamped ``exp`` would make them ``exp(-87)`` in float32. ``work`` (two
    rows: the exp is written out of place, since in place, aliased, it ran
    six times slower) and ``bits`` are scratch of ``S.shape[1]`` entries, of
    ``softmax_scratch_dtypes(S.dtype)``: float64 and int64, or float32 and
    int32 for float32 scores (the float32 exp; sums stay float64)."""
    T, B = S.shape
    for t in range(T):
        a = lo[t] - koff[t]
        b = hi[t] - koff[t]
        row = S[t]
        for j in range(a):
            row[j] = 0.0
        for j in range(max(a, b), B):
            row[j] = 0.0
        if b <= a:
            sums[t] = 0.0
            lse[t] = _NEG_INF
            continue
        x = row[a:b]
        if has_bias:
            w = work[0, :b - a]
            k = lo[t]
            for j in range(b - a):
                w[j] = np.float64(x[j]) + np.float64(bias[k + j])
            x = w
        m = _max8(x)
        e = work[1, :b - a]
        _exp_rows(x, m, e, bits)
        total = _flush_sum(e, row[a:b])
        sums[t] = total
        lse[t] = m + np.log(total)


@njit(cache=True, nogil=True)
def divide_rows(out, sums):
    """``out[t] /= sums[t]`` where ``sums[t] > 0`` (an empty band's row is 0
    and stays so), in float64 arithmetic."""
    for t in range(out.shape[0]):
        s = sums[t]
        if s > 0.0:
            inv = 1.0 / s
            row = out[t]
            for c in range(row.shape[0]):
                row[c] = np.float64(row[c]) * inv


@helper(fastmath={"reassoc", "contract"})
def _dot(Q, i, K, j):
    """``Q[i] . K[j]`` in float64. Reassociation lets LLVM vectorise the sum
    (26 ns for d = 64 in order, as one chain of dependent additions; 5 ns
    reassociated); it reorders the rounding as BLAS does in the window path,
    and the tests hold the result to 1e-10 of the oracle."""
    s = 0.0
    for c in range(Q.shape[1]):
        s += np.float64(Q[i, c]) * np.float64(K[j, c])
    return s


@helper()
def random_key(r, g, half, dilation, causal, is_glob):
    """Whether key ``g`` of a random block is query ``r``'s through that
    block: not later (if causal), not global, not in the window (those keys
    belong to the other parts of the pattern)."""
    if causal and g > r:
        return False
    if g < is_glob.shape[0] and is_glob[g]:
        return False
    return not in_window(r, g, half, dilation, causal)


@njit(cache=True, nogil=True)
def random_block_softmax(S, q_rel, k_rel, half, dilation, causal, is_glob, bias, sums, lse,
                         work, bits):
    """BigBird's random blocks through a product: ``S`` holds the scores of
    a query block (rows, relative positions ``q_rel``) against its random
    blocks' keys (columns, relative positions ``k_rel``). Keys in a query's
    window, global keys (``is_glob``) and, if causal, later keys belong to
    the other parts of the pattern and get weight 0; the others get ``exp(s
    + bias - m)``. ``sums``, ``lse`` as in ``band_softmax``; ``work`` (two
    rows) and ``bits`` are scratch of ``S.shape[1]`` entries."""
    T, B = S.shape
    x = work[0]
    w = work[1]
    for t in range(T):
        r = q_rel[t]
        row = S[t]
        n = 0
        for j in range(B):
            g = k_rel[j]
            if not random_key(r, g, half, dilation, causal, is_glob):
                continue
            x[n] = np.float64(row[j]) + np.float64(bias[j])
            n += 1
        if n == 0:
            for j in range(B):
                row[j] = 0.0
            sums[t] = 0.0
            lse[t] = _NEG_INF
            continue
        m = _max8(x[:n])
        exp_shifted(x[:n], m, w, bits)
        n = 0
        for j in range(B):
            g = k_rel[j]
            if random_key(r, g, half, dilation, causal, is_glob):
                row[j] = w[n]
                n += 1
            else:
                row[j] = 0.0
        total = _sum8(w[:n])
        sums[t] = total
        lse[t] = m + np.log(total)


@njit(cache=True, nogil=True)
def list_attention(Q, K, V, bias, rows, keys, counts, out, lse):
    """Softmax attention of query ``rows[t]`` over the keys
    ``keys[t, :counts[t]]``: scores ``Q[i] . K[j] + bias[j]`` accumulated in
    float64, written to ``out[t]`` with their log-sum-exp in ``lse[t]``; an
    empty list gives a zero row and ``lse = -inf``."""
    dv = V.shape[1]
    cap = keys.shape[1]
    scores = np.empty(cap, dtype=np.float64)
    weights = np.empty(cap, dtype=np.float64)
    bits = np.empty(cap, dtype=np.int64)
    acc = np.empty(dv, dtype=np.float64)
    for t in range(rows.shape[0]):
        i = rows[t]
        n = counts[t]
        if n == 0:
            for c in range(dv):
                out[t, c] = 0.0
            lse[t] = _NEG_INF
            continue
        for p in range(n):
            scores[p] = _dot(Q, i, K, keys[t, p]) + bias[keys[t, p]]
        m = _max8(scores[:n])
        exp_shifted(scores[:n], m, weights, bits)
        acc[:] = 0.0
        for p in range(n):
            w = weights[p]
            j = keys[t, p]
            for c in range(dv):
                acc[c] += w * V[j, c]
        total = _sum8(weights[:n])
        for c in range(dv):
            out[t, c] = acc[c] / total
        lse[t] = m + np.log(total)


@njit(cache=True, nogil=True)
def csr_softmax(Q, K, bias, indptr, indices, data):
    """``data`` of the attention-weight CSR whose pattern is
    ``(indptr, indices)``: a softmax over each row's scores."""
    for i in range(indptr.shape[0] - 1):
        a = indptr[i]
        b = indptr[i + 1]
        m = _NEG_INF
        for p in range(a, b):
            j = indices[p]
            s = _dot(Q, i, K, j) + bias[j]
            data[p] = s
            if s > m:
                m = s
        total = 0.0
        for p in range(a, b):
            e = np.exp(data[p] - m)
            data[p] = e
            total += e
        for p in range(a, b):
            data[p] /= total


@njit(cache=True, nogil=True)
def merge_lse(out_a, lse_a, out_b, lse_b):
    """Merge the attention outputs of two disjoint key sets into ``out_a``,
    each weighted by its share ``exp(lse)`` of the softmax denominator."""
    for t in range(out_a.shape[0]):
        lb = lse_b[t]
        if lb == _NEG_INF:
            continue
        la = lse_a[t]
        if la == _NEG_INF:
            out_a[t, :] = out_b[t, :]
            lse_a[t] = lb
            continue
        m = max(la, lb)
        wa = np.exp(la - m)
        wb = np.exp(lb - m)
        total = wa + wb
        for c in range(out_a.shape[1]):
            out_a[t, c] = (wa * out_a[t, c] + wb * out_b[t, c]) / total
        lse_a[t] = m + np.log(total)


# ------------------------------------------------------------------ patterns
# Positions below are relative to the query's sequence: ``r`` the query's,
# ``g`` a key's, ``o`` the sequence's first row.


@helper()
def in_window(r, g, half, dilation, causal):
    """Whether key ``g`` lies in query ``r``'s 1-D window: ``|g - r|`` at most
    ``half * dilation`` and a multiple of ``dilation``; ``g <= r`` if causal."""
    delta = g - r
    if causal and delta > 0:
        return False
    if abs(delta) > half * dilation:
        return False
    return delta % dilation == 0


@njit(cache=True, nogil=True)
def extra_keys(rows, starts, lengths, seq, half, dilation, causal, glob, is_glob,
               rand_ptr, rand_blocks, n_random, block, keys, counts):
    """Longformer / BigBird keys outside the window of query ``rows[t]``:
    the global tokens ``glob`` (sorted relative positions; ``is_glob`` marks
    them) and, when ``n_random > 0``, the keys of the query block's random
    blocks ``rand_blocks[rand_ptr[s] + qb * n_random + k]`` (-1: none) that
    are neither in the window nor global. ``starts``, ``lengths`` and ``seq``
    give each row's sequence."""
    for t in range(rows.shape[0]):
        i = rows[t]
        s = seq[i]
        o = starts[i]
        L = lengths[i]
        r = i - o
        n = 0
        for q in range(glob.shape[0]):
            g = glob[q]
            if g >= L:
                break
            if causal and g > r:
                break
            if not in_window(r, g, half, dilation, causal):
                keys[t, n] = o + g
                n += 1
        if n_random > 0:
            base = rand_ptr[s] + (r // block) * n_random
            for q in range(n_random):
                blk = rand_blocks[base + q]
                if blk < 0:
                    continue
                for g in range(blk * block, min(L, (blk + 1) * block)):
                    if causal and g > r:
                        break  # the rest of the block is later still
                    if random_key(r, g, half, dilation, causal, is_glob):
                        keys[t, n] = o + g
                        n += 1
        counts[t] = n


@njit(cache=True, nogil=True)
def full_keys(rows, starts, lengths, causal, keys, counts):
    """Every key of query ``rows[t]``'s sequence (up to the query if
    causal): the keys of a global query."""
    for t in range(rows.shape[0]):
        i = rows[t]
        o = starts[i]
        end = i + 1 if causal else o + lengths[i]
        for j in range(o, end):
            keys[t, j - o] = j
        counts[t] = end - o


@njit(cache=True, nogil=True)
def grid_keys(rows, starts, width, height, half, dilation, causal, keys, counts):
    """2-D window over patches in raster order on a ``height x width`` grid:
    the keys ``(y + a*dilation, x + b*dilation)`` with ``|a|, |b| <= half``
    inside the grid (and before the query in raster order if causal)."""
    for t in range(rows.shape[0]):
        i = rows[t]
        o = starts[i]
        r = i - o
        y = r // width
        x = r - y * width
        n = 0
        for a in range(-half, half + 1):
            yy = y + a * dilation
            if yy < 0 or yy >= height:
                continue
            for b in range(-half, half + 1):
                xx = x + b * dilation
                if xx < 0 or xx >= width:
                    continue
                g = yy * width + xx
                if causal and g > r:
                    continue
                keys[t, n] = o + g
                n += 1
        counts[t] = n


@njit(cache=True, nogil=True)
def lsh_keys(rows, order, range_lo, range_hi, causal, stamp, keys, counts):
    """Reformer keys of query ``rows[t]``: over the hash rounds ``h``, the
    rows ``order[h, p]`` for ``range_lo[h, i] <= p < range_hi[h, i]`` (its
    same-bucket run in the sorted order, or that run cut to its own and the
    previous chunk), without repeats (``stamp`` is a per-thread array of
    ``n`` entries, -1 at first) and, as in Reformer, without the query
    itself unless it has no other key."""
    for t in range(rows.shape[0]):
        i = rows[t]
        n = 0
        has_self = False
        for h in range(order.shape[0]):
            for p in range(range_lo[h, i], range_hi[h, i]):
                j = order[h, p]
                if causal and j > i:
                    continue
                if stamp[j] == i:
                    continue
                stamp[j] = i
                if j == i:
                    has_self = True
                    continue
                keys[t, n] = j
                n += 1
        if n == 0 and has_self:
            keys[t, 0] = i
            n = 1
        counts[t] = n
