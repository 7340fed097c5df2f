"""The attention engine: which keys each query sees (the pattern's plan) and
the pass that computes the attention, apart from the estimator
(:mod:`sparsecode._attention`) that fits the projections and calls it.

How a call runs (``_attend``): the window part of a pattern goes through
query tiles, one BLAS product of the tile's queries with the band of keys
they can see, a Numba softmax masked to each query's range, and a second
product with the values; the keys outside the window (global tokens, BigBird
random blocks, LSH buckets, 2-D neighbourhoods) go through per-query key
lists; the two partial results merge exactly through their log-sum-exps;
global queries, which see their whole sequence, are done last by key blocks.
No ``n x n`` array exists at any point.
"""

import numpy as np

from ._chunks import Scratch, map_chunks
from ._kernels._attention import (
    band_softmax,
    divide_rows,
    extra_keys,
    full_keys,
    grid_keys,
    list_attention,
    lsh_keys,
    merge_lse,
    random_block_softmax,
    softmax_scratch_dtypes,
)
from ._threads import _effective_threads

# Queries per tile of the window path, and tiles per stacked product (at
# most; fewer where a batch's scores would pass 512 Ki entries). A tile
# computes its queries' scores against ``tile + window`` keys, of which each
# query uses ``window + 1``: smaller tiles waste less and run smaller
# products. Problem D (window 256, d = 64), two threads, useful GFLOP/s,
# tile x batch: float32 114 at 48 x 8, 119 at 48 x 32, 123 at 32 x 32, 118
# at 32 x 64; float64 63 at 32 x 32, 61 at 48 x 16, 48 at 64 x 16.
_TILE = 32
_BATCH = 32

# Queries per tile of "dense" (whose tiles are not stacked)
_DENSE_TILE = 128

# Entries per chunk of the key-list path's lists and scores.
_LIST_ENTRIES = 1 << 16


class _Plan:
    """The key sets of one call, in three parts whose keys are disjoint:

    - a band (``window``, ``longformer``, ``bigbird`` windows; ``dense``): the
      keys ``lo_i <= j < hi_i`` of each query in a row order where the
      window is contiguous (rows regrouped by residue when ``dilation > 1``);
    - per-query key lists (``extra``): global keys, BigBird random keys, the
      2-D window, LSH buckets;
    - global queries, which attend to their whole sequence and replace
      whatever the other parts gave them.
    """

    def __init__(self, est, Q, K, lengths, offsets):
        n = Q.shape[0]
        self.n = n
        self.lengths, self.offsets = lengths, offsets
        self.seq = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
        self.starts = offsets[:-1][self.seq]
        self.row_lengths = lengths[self.seq]
        pattern = est.pattern
        longest = int(lengths.max())
        self.causal = bool(est.causal)
        self.dilation = int(est.dilation)
        # a reach past the longest sequence sees nothing more
        self.half = min(est.window_ // 2, longest)
        self.perm = None
        self.random = None
        self.band = pattern in ("window", "longformer", "bigbird", "dense")
        self.full_band = pattern == "dense"
        self.extra = None
        self.glob = np.zeros(0, dtype=np.int64)
        if self.band:
            self._band_rows()
        if pattern in ("longformer", "bigbird"):
            self.glob = est.global_tokens_[est.global_tokens_ < longest]
            is_glob = np.zeros(int(self.glob.max()) + 1 if self.glob.size else 0, dtype=bool)
            is_glob[self.glob] = True
            if pattern == "bigbird":
                n_random, block = int(est.n_random), min(int(est.block_size), longest)
                rand_ptr, rand_blocks = _random_blocks(lengths, block, n_random,
                                                       est.random_seed_)
            else:
                rand_ptr = np.zeros(lengths.size, dtype=np.int64)
                rand_blocks = np.zeros(0, dtype=np.int64)
                n_random, block = 0, 1
            cap = min(self.glob.size + n_random * block, longest)
            if cap:
                def build(rows, keys, counts, scratch):
                    extra_keys(rows, self.starts, self.row_lengths, self.seq, self.half,
                               self.dilation, self.causal, self.glob, is_glob, rand_ptr,
                               rand_blocks, n_random, block, keys, counts)
                self.extra = (cap, build)
            if n_random:
                # transform runs the random blocks through products (below)
                # and only the global keys through lists; the pattern and the
                # weights take the full lists above
                self.random = (rand_ptr, rand_blocks, n_random, block, is_glob)
                cap_g = min(self.glob.size, longest)
                self.extra_transform = None
                if cap_g:
                    no_ptr = np.zeros(lengths.size, dtype=np.int64)
                    no_blocks = np.zeros(0, dtype=np.int64)

                    def build_globals(rows, keys, counts, scratch):
                        extra_keys(rows, self.starts, self.row_lengths, self.seq, self.half,
                                   self.dilation, self.causal, self.glob, is_glob, no_ptr,
                                   no_blocks, 0, 1, keys, counts)
                    self.extra_transform = (cap_g, build_globals)
        elif pattern == "window2d":
            height, width = est.grid_shape_
            side = 2 * self.half + 1

            def build(rows, keys, counts, scratch):
                grid_keys(rows, self.starts, width, height, self.half, self.dilation,
                          self.causal, keys, counts)
            self.extra = (min(side, height) * min(side, width), build)
        elif pattern == "lsh":
            order, lo, hi = _lsh_ranges(K, self.seq, offsets, est.lsh_rotations_,
                                        est.lsh_mode, est.chunk_size)
            cap = int(sum((hi[h] - lo[h]).max() for h in range(hi.shape[0])))
            cap = min(cap, longest)

            def build(rows, keys, counts, scratch):
                stamp = scratch.__dict__.get("stamp")
                if stamp is None or stamp.size < n:
                    stamp = scratch.__dict__["stamp"] = np.full(n, -1, dtype=np.int64)
                lsh_keys(rows, order, lo, hi, self.causal, stamp, keys, counts)
            self.extra = (cap, build)
        # global queries (sorted): every sequence's global positions
        inside = self.glob[None, :] < lengths[:, None]
        self.global_rows = (offsets[:-1, None] + self.glob[None, :])[inside]

    def _band_rows(self):
        """Row order and per-row sequence bounds for the band part."""
        d = self.dilation
        if d > 1 and not self.full_band:
            rel = np.arange(self.n, dtype=np.int64) - self.starts
            # group each sequence's rows by residue modulo the dilation: the
            # dilated window becomes a contiguous one within each group
            self.perm = np.lexsort((rel // d, rel % d, self.seq))
            residue = rel[self.perm] % d
            group = self.seq[self.perm] * d + residue
            change = np.flatnonzero(np.diff(group)) + 1
            bounds = np.concatenate(([0], change, [self.n]))
            glen = np.diff(bounds)
            self.band_starts = np.repeat(bounds[:-1], glen)
            self.band_ends = np.repeat(bounds[1:], glen)
        else:
            self.band_starts = self.starts
            self.band_ends = self.starts + self.row_lengths

    def band_range(self, a, b):
        """``lo, hi`` of band rows ``a:b`` (in band order)."""
        return self._band_bounds(np.arange(a, b, dtype=np.int64))

    def _band_bounds(self, idx):
        """``lo, hi`` of band rows ``idx``. Both rise with the row: row ``i``
        sees ``i`` itself, and its group's bounds and ``i -+ half`` rise."""
        lo = self.band_starts[idx]
        hi = idx + 1 if self.causal else self.band_ends[idx]
        if not self.full_band:
            np.maximum(lo, idx - self.half, out=lo)
            if not self.causal:
                np.minimum(hi, idx + self.half + 1, out=hi)
        return lo, hi

    def tile_keys(self, tile):
        """The most keys a band tile of ``tile`` rows (from row 0) spans:
        from its first row's ``lo`` to its last row's ``hi``."""
        first = np.arange(0, self.n, tile, dtype=np.int64)
        lo, _ = self._band_bounds(first)
        _, hi = self._band_bounds(np.minimum(first + tile, self.n) - 1)
        return int((hi - lo).max())

    def global_range(self, rows):
        """First key and end of keys of global queries ``rows``."""
        o = self.starts[rows]
        return o, (rows + 1 if self.causal else o + self.row_lengths[rows])

    def n_pairs(self):
        """The number of (query, key) pairs, counted without forming them."""
        counts = np.zeros(self.n, dtype=np.int64)
        chunk = 1 << 16
        if self.band:
            for a in range(0, self.n, chunk):
                b = min(self.n, a + chunk)
                lo, hi = self.band_range(a, b)
                rows = slice(a, b) if self.perm is None else self.perm[a:b]
                counts[rows] += hi - lo
        if self.extra is not None:
            for _, c, a, b in self.iter_lists(1 << 14):
                counts[a:b] += c
        if self.global_rows.size:
            lo, hi = self.global_range(self.global_rows)
            counts[self.global_rows] = hi - lo
        return int(counts.sum())

    def iter_lists(self, entries=_LIST_ENTRIES):
        """Serial walk over the key lists: ``(keys, counts, a, b)``."""
        cap, build = self.extra
        rows_per = max(1, entries // max(cap, 1))
        scratch = Scratch()
        for a in range(0, self.n, rows_per):
            b = min(self.n, a + rows_per)
            keys = np.empty((b - a, cap), dtype=np.int64)
            counts = np.empty(b - a, dtype=np.int64)
            build(np.arange(a, b, dtype=np.int64), keys, counts, scratch)
            yield keys, counts, a, b


def _keys_of(plan, rows):
    """The keys of tokens ``rows`` under ``plan``, one int64 array each."""
    parts = [[] for _ in rows]
    if plan.band:
        where = (rows if plan.perm is None
                 else np.argsort(plan.perm)[rows])  # band position of each token
        for t, r in enumerate(where):
            lo, hi = plan.band_range(r, r + 1)
            band = np.arange(lo[0], hi[0], dtype=np.int64)
            parts[t].append(band if plan.perm is None else plan.perm[band])
    if plan.extra is not None:
        cap, build = plan.extra
        keys = np.empty((rows.size, cap), dtype=np.int64)
        counts = np.empty(rows.size, dtype=np.int64)
        build(np.asarray(rows, dtype=np.int64), keys, counts, Scratch())
        for t in range(rows.size):
            parts[t].append(keys[t, :counts[t]])
    is_global = np.isin(rows, plan.global_rows)
    if is_global.any():
        lo, hi = plan.global_range(rows[is_global])
        for t, a, b in zip(np.flatnonzero(is_global), lo, hi):
            parts[t] = [np.arange(a, b, dtype=np.int64)]
    return [np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in parts]


def _expand_ranges(rows, lo, hi):
    """The (row, column) pairs of rows ``rows`` whose keys are the ranges
    ``lo[i] <= j < hi[i]``, as two int64 arrays."""
    counts = hi - lo
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.arange(counts.sum(), dtype=np.int64) - starts + np.repeat(lo, counts)
    return np.repeat(rows, counts), cols


def _random_blocks(lengths, block, n_random, seed):
    """BigBird's random key blocks: for each sequence and each of its query
    blocks, ``n_random`` distinct blocks other than its own (all of them when
    fewer exist; -1 pads). The draw depends only on the seed and the
    sequence's length, so a pattern is the same at fit and transform.
    Returns each sequence's offset into the flat table, and the table."""
    uniq, inverse = np.unique(lengths, return_inverse=True)
    tables = [_random_table(int(L), block, n_random, seed).ravel() for L in uniq]
    sizes = np.array([t.size for t in tables], dtype=np.int64)[inverse]
    ptr = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(sizes[:-1], out=ptr[1:])
    flat = np.concatenate([tables[i] for i in inverse]) if lengths.size else sizes
    return ptr, flat


def _random_table(L, block, n_random, seed):
    nb = -(-L // block)
    table = np.full((nb, n_random), -1, dtype=np.int64)
    if n_random == 0 or nb == 1:
        return table
    if nb - 1 <= n_random:
        others = np.arange(nb - 1)[None, :].repeat(nb, axis=0)
        table[:, :nb - 1] = others + (others >= np.arange(nb)[:, None])
        return table
    rng = np.random.default_rng([seed, L])
    # draws among the nb - 1 other blocks: rows with a repeat are drawn again
    # (rare when n_random^2 << nb); rows still repeating after a few rounds
    # are drawn without replacement one by one
    draw = rng.integers(0, nb - 1, size=(nb, n_random))
    for _ in range(8):
        srt = np.sort(draw, axis=1)
        bad = np.flatnonzero((np.diff(srt, axis=1) == 0).any(axis=1))
        if bad.size == 0:
            break
        draw[bad] = rng.integers(0, nb - 1, size=(bad.size, n_random))
    else:
        srt = np.sort(draw, axis=1)
        for row in np.flatnonzero((np.diff(srt, axis=1) == 0).any(axis=1)):
            draw[row] = rng.choice(nb - 1, size=n_random, replace=False)
    table[:] = draw + (draw >= np.arange(nb)[:, None])
    return table


def _lsh_ranges(K, seq, offsets, rotations, mode, chunk):
    """Reformer's hashing: per round ``h``, the bucket ``argmax([k R_h,
    -k R_h])`` of each key, the rows sorted by (sequence, bucket, position)
    in ``order[h]``, and for each row the range of sorted positions it
    attends to: its bucket's run (``"exact"``), or that run cut to its own
    and the previous chunk of ``chunk`` sorted positions (``"chunked"``)."""
    n = K.shape[0]
    n_rounds, _, half_buckets = rotations.shape
    order = np.empty((n_rounds, n), dtype=np.int64)
    lo = np.empty((n_rounds, n), dtype=np.int64)
    hi = np.empty((n_rounds, n), dtype=np.int64)
    positions = np.arange(n, dtype=np.int64)
    for h in range(n_rounds):
        proj = K @ rotations[h].astype(K.dtype)
        best = np.argmax(np.abs(proj), axis=1)
        negative = proj[positions, best] < 0
        bucket = best + half_buckets * negative
        key = seq * (2 * half_buckets) + bucket
        o = np.argsort(key, kind="stable")
        sorted_key = key[o]
        run_lo = np.searchsorted(sorted_key, sorted_key, side="left")
        run_hi = np.searchsorted(sorted_key, sorted_key, side="right")
        if mode == "chunked":
            s_seq = seq[o]
            first, end = offsets[s_seq], offsets[s_seq + 1]
            c = (positions - first) // chunk
            np.maximum(run_lo, first + np.maximum(c - 1, 0) * chunk, out=run_lo)
            np.minimum(run_hi, np.minimum(first + (c + 1) * chunk, end), out=run_hi)
        order[h] = o
        lo[h, o] = run_lo
        hi[h, o] = run_hi
    return order, lo, hi


def _band_pass(plan, Q, K, V, bias, has_bias, n_jobs):
    """The band part of every row (in band order): ``out`` and ``lse``.

    Rows go by tiles of ``tile`` queries. A tile's keys lie in a window of
    ``span = tile + left + right`` keys from ``left`` before its first row
    (``left = right = half``; ``right = 0`` if causal). Consecutive whole
    tiles go through BLAS together: one stacked product of each tile's
    queries with its window of the keys (strided views of one transposed
    copy of the batch's keys), one softmax over their rows, one stacked
    product with the values' windows (strided views of ``V``, or of a copy
    padded with zeros where the windows pass an end of ``[0, n)``; the
    softmax gives those keys weight 0). Each Python-level call then covers
    up to ``_BATCH`` tiles: per tile, the calls took 20 us of a 190 us tile
    of 128 queries, and made small tiles, which waste fewer keys, a loss.
    A last partial tile, and every tile of ``"dense"`` (whose keys are its
    sequences'), go one by one over the keys they span.
    """
    n, d, dv = Q.shape[0], Q.shape[1], V.shape[1]
    dtype = Q.dtype
    out = np.empty((n, dv), dtype=dtype)
    lse = np.empty(n, dtype=np.float64)
    work_dtype, bits_dtype = softmax_scratch_dtypes(dtype)
    left = plan.half
    right = 0 if plan.causal else plan.half
    if plan.full_band:
        # no stacking (the keys are the sequences'): larger tiles, fewer calls
        longest = int(plan.lengths.max())
        tile = max(1, min(_DENSE_TILE, (1 << 19) // (longest + _DENSE_TILE)))
        whole = 0  # tiles stacked
        keys = plan.tile_keys(tile)  # the most keys of a tile
        batch = 1
    else:
        tile = max(1, min(_TILE, (1 << 19) // (left + right + 1 + _TILE)))
        whole = n // tile
        keys = span = tile + left + right
        # a tile's result does not depend on its batch (each stacked item is
        # its own BLAS call of the same shapes; observed bit for bit, a BLAS
        # behaviour rather than a guarantee), so the batch may depend on the
        # thread count: two batches a thread at least (each call's scratch is
        # new, and its page faults cost more than the calls for small n: 1,000
        # float64 tokens took 2.4 ms in batches of 16 tiles, 1.2 ms in 8)
        threads = _effective_threads(n_jobs)
        batch = max(1, min(_BATCH, (1 << 19) // (tile * span), -(-whole // (2 * threads))))

    def softmax(scratch, r0, r1, S, koff, lo, hi):
        """``S`` (the rows ``r0:r1``) becomes their weights; returns their sums."""
        rows = r1 - r0
        sums = scratch.get("sums", (rows,), np.float64)
        band_softmax(S.reshape(rows, -1), bias, has_bias, lo, hi, koff, sums, lse[r0:r1],
                     scratch.get("work", (2, keys), work_dtype),
                     scratch.get("bits", (keys,), bits_dtype))
        return sums

    def one_tile(scratch, t):
        r0, r1 = t * tile, min(n, (t + 1) * tile)
        lo, hi = plan.band_range(r0, r1)
        k0, k1 = int(lo[0]), int(hi[-1])  # (both rise with the row: _band_bounds)
        S = scratch.get("scores", (r1 - r0, k1 - k0), dtype)
        np.matmul(Q[r0:r1], K[k0:k1].T, out=S)
        sums = softmax(scratch, r0, r1, S, np.full(r1 - r0, k0, dtype=np.int64), lo, hi)
        np.matmul(S, V[k0:k1], out=out[r0:r1])
        divide_rows(out[r0:r1], sums)

    def windows(M, scratch, name, k0, k1, c, transpose):
        """Strided views of the ``c`` windows of ``M[k0:k1]`` (rows outside
        ``[0, n)`` zero), each ``span`` rows from the last one's plus
        ``tile``, transposed (from one transposed copy) if asked."""
        a, b = max(k0, 0), min(k1, n)
        width = M.shape[1]
        if transpose or a > k0 or b < k1:
            # a copy: C holds rows k0:k1 of M (as C.T when transposed: q @ K.T
            # as a product of two row-major operands ran in 18 us against 29
            # us per tile, OpenBLAS packing the transposed one slower)
            C = scratch.get(name, (width, k1 - k0) if transpose else (k1 - k0, width), dtype)
            rows = C.T if transpose else C
            rows[:a - k0] = 0
            rows[a - k0:b - k0] = M[a:b]
            rows[b - k0:] = 0
        else:
            rows = M[k0:k1]
        step, along = rows.strides
        if transpose:
            return np.lib.stride_tricks.as_strided(
                rows, shape=(c, width, span), strides=(tile * step, along, step),
                writeable=False)
        return np.lib.stride_tricks.as_strided(
            rows, shape=(c, span, width), strides=(tile * step, step, along), writeable=False)

    def stacked(scratch, t0, t1):
        c, r0, r1 = t1 - t0, t0 * tile, t1 * tile
        k0, k1 = r0 - left, r1 + right
        S = scratch.get("scores", (c, tile, span), dtype)
        np.matmul(Q[r0:r1].reshape(c, tile, d), windows(K, scratch, "keys", k0, k1, c, True),
                  out=S)
        koff = np.repeat(np.arange(k0, r1 - left, tile), tile)
        sums = softmax(scratch, r0, r1, S, koff, *plan.band_range(r0, r1))
        np.matmul(S, windows(V, scratch, "values", k0, k1, c, False),
                  out=out[r0:r1].reshape(c, tile, dv))
        divide_rows(out[r0:r1], sums)

    def band_work(a, b, scratch):
        t0, t1 = a // tile, -(-b // tile)
        if min(t1, whole) > t0:
            stacked(scratch, t0, min(t1, whole))
        for t in range(max(t0, whole), t1):
            one_tile(scratch, t)

    # chunks of whole tiles: the results do not depend on the thread count
    map_chunks(n, tile * batch, band_work, n_jobs)
    return out, lse


def _attend(plan, Q, K, V, bias, n_jobs):
    """The attention output of every row under ``plan``'s key sets."""
    n, dv = Q.shape[0], V.shape[1]
    dtype = Q.dtype
    has_bias = bool(np.any(bias))
    out = lse = None
    if plan.band:
        if plan.perm is not None:
            Qb, Kb, Vb, biasb = Q[plan.perm], K[plan.perm], V[plan.perm], bias[plan.perm]
        else:
            Qb, Kb, Vb, biasb = Q, K, V, bias
        out, lse = _band_pass(plan, Qb, Kb, Vb, biasb, has_bias, n_jobs)
        if plan.perm is not None:
            inverse = np.empty_like(plan.perm)
            inverse[plan.perm] = np.arange(n)
            out, lse = out[inverse], lse[inverse]
    extra = plan.extra if plan.random is None else plan.extra_transform
    if extra is not None:
        cap, build = extra
        first = out is None
        if first:
            out = np.empty((n, dv), dtype=dtype)
            lse = np.empty(n, dtype=np.float64)

        def list_work(a, b, scratch):
            rows = np.arange(a, b, dtype=np.int64)
            keys = scratch.get("keys", (b - a, cap), np.int64)
            counts = scratch.get("counts", (b - a,), np.int64)
            build(rows, keys, counts, scratch)
            if first:
                list_attention(Q, K, V, bias, rows, keys, counts, out[a:b], lse[a:b])
                return
            part = scratch.get("part", (b - a, dv), dtype)
            part_lse = scratch.get("part_lse", (b - a,), np.float64)
            list_attention(Q, K, V, bias, rows, keys, counts, part, part_lse)
            merge_lse(out[a:b], lse[a:b], part, part_lse)

        map_chunks(n, max(1, _LIST_ENTRIES // max(cap, 1)), list_work, n_jobs)
    if plan.random is not None:
        _random_blocks_pass(plan, Q, K, V, bias, out, lse, n_jobs)
    if plan.global_rows.size:
        _global_rows(plan, Q, K, V, bias, out, n_jobs)
    return out


def _random_blocks_pass(plan, Q, K, V, bias, out, lse, n_jobs):
    """BigBird's random keys, one query block at a time: gather the keys of
    its random blocks, one product for the scores, the masked softmax, one
    product with the values, merged into ``out`` through the log-sum-exp.
    (Key lists cost 20 ns per pair; this, a few.)"""
    rand_ptr, rand_blocks, n_random, block, is_glob = plan.random
    lengths, offsets = plan.lengths, plan.offsets
    n_blocks = -(-lengths // block)
    seq_of = np.repeat(np.arange(lengths.size), n_blocks)
    qb_of = np.arange(n_blocks.sum()) - np.repeat(np.cumsum(n_blocks) - n_blocks, n_blocks)
    has_bias = bool(np.any(bias))
    zero_bias = np.zeros(n_random * block, dtype=Q.dtype)

    def work(a, b, scratch):
        for t in range(a, b):
            s, qb = int(seq_of[t]), int(qb_of[t])
            o, L = int(offsets[s]), int(lengths[s])
            q0, q1 = o + qb * block, o + min(L, (qb + 1) * block)
            picked = rand_blocks[rand_ptr[s] + qb * n_random: rand_ptr[s] + (qb + 1) * n_random]
            picked = picked[picked >= 0]
            if picked.size == 0:
                continue
            k_rel = np.concatenate([np.arange(p * block, min(L, (p + 1) * block))
                                    for p in picked.tolist()])
            keys = o + k_rel
            S = np.matmul(Q[q0:q1], K[keys].T)
            rows = q1 - q0
            sums = scratch.get("sums", (rows,), np.float64)
            part_lse = scratch.get("part_lse", (rows,), np.float64)
            random_block_softmax(S, np.arange(q0 - o, q1 - o), k_rel, plan.half, plan.dilation,
                                 plan.causal, is_glob, bias[keys] if has_bias else zero_bias,
                                 sums, part_lse, scratch.get("work", (2, k_rel.size), np.float64),
                                 scratch.get("bits", (k_rel.size,), np.int64))
            part = S @ V[keys]
            divide_rows(part, sums)  # (rows of empty blocks stay 0)
            merge_lse(out[q0:q1], lse[q0:q1], part, part_lse)

    map_chunks(int(n_blocks.sum()), 1, work, n_jobs)


# Global queries of sequences up to this long go through key lists, many
# sequences at once; longer ones by blocks of keys, one sequence at a time.
_GLOBAL_LIST_LENGTH = 4096


def _global_rows(plan, Q, K, V, bias, out, n_jobs):
    """Rows of the global queries: their whole sequence (up to themselves if
    causal), replacing what the other parts gave them."""
    rows = plan.global_rows
    short = plan.row_lengths[rows] <= _GLOBAL_LIST_LENGTH
    if short.any():
        few = rows[short]
        cap = int(plan.row_lengths[few].max())
        dtype, dv = Q.dtype, V.shape[1]

        def work(a, b, scratch):
            r = few[a:b]
            keys = scratch.get("keys", (b - a, cap), np.int64)
            counts = scratch.get("counts", (b - a,), np.int64)
            full_keys(r, plan.starts, plan.row_lengths, plan.causal, keys, counts)
            part = scratch.get("part", (b - a, dv), dtype)
            part_lse = scratch.get("part_lse", (b - a,), np.float64)
            list_attention(Q, K, V, bias, r, keys, counts, part, part_lse)
            out[r] = part

        map_chunks(few.size, max(1, _LIST_ENTRIES // cap), work, n_jobs)
    long_rows = rows[~short]
    if long_rows.size:
        _global_rows_blocked(plan, Q, K, V, bias, out, long_rows)


def _global_rows_blocked(plan, Q, K, V, bias, out, rows):
    """Global queries of long sequences, by key blocks merged through the
    log-sum-exp (the sequence's rows never form one block)."""
    seqs = plan.seq[rows]
    dtype = Q.dtype
    has_bias = bool(np.any(bias))
    bounds = np.flatnonzero(np.diff(seqs)) + 1
    for r in np.split(rows, bounds):
        s = plan.seq[r[0]]
        o, end = plan.offsets[s], plan.offsets[s + 1]
        hi_all = r + 1 if plan.causal else np.full(r.size, end)
        acc = np.zeros((r.size, V.shape[1]), dtype=dtype)
        acc_lse = np.full(r.size, -np.inf)
        block = max(1, (1 << 18) // r.size)
        work_dtype, bits_dtype = softmax_scratch_dtypes(dtype)
        Qr = Q[r]
        for k0 in range(o, end, block):
            k1 = min(end, k0 + block)
            S = np.ascontiguousarray(Qr @ K[k0:k1].T)
            koff = np.full(r.size, k0, dtype=np.int64)
            hi = np.clip(hi_all, k0, k1)
            sums = np.empty(r.size)
            part_lse = np.empty(r.size)
            band_softmax(S, bias, has_bias, koff, hi, koff, sums, part_lse,
                         np.empty((2, k1 - k0), dtype=work_dtype),
                         np.empty(k1 - k0, dtype=bits_dtype))
            part = S @ V[k0:k1]
            divide_rows(part, sums)  # (rows of empty bands stay 0)
            merge_lse(acc, acc_lse, part, part_lse)
        out[r] = acc


def pattern_csr(plan):
    """The pattern of ``plan`` as a CSR (int64 indices), rows sorted."""
    n = plan.n
    indptr = np.zeros(n + 1, dtype=np.int64)
    row_ids, col_ids = [], []
    if plan.band:
        for a in range(0, n, 1 << 14):
            b = min(n, a + (1 << 14))
            lo, hi = plan.band_range(a, b)
            rows, cols = _expand_ranges(np.arange(a, b, dtype=np.int64), lo, hi)
            if plan.perm is not None:
                rows, cols = plan.perm[rows], plan.perm[cols]
            row_ids.append(rows)
            col_ids.append(cols)
    if plan.extra is not None:
        for keys, counts, a, b in plan.iter_lists():
            mask = np.arange(keys.shape[1]) < counts[:, None]
            row_ids.append(np.repeat(np.arange(a, b, dtype=np.int64), counts))
            col_ids.append(keys[mask])
    rows = np.concatenate(row_ids) if row_ids else np.zeros(0, np.int64)
    cols = np.concatenate(col_ids) if col_ids else np.zeros(0, np.int64)
    if plan.global_rows.size:
        keep = ~np.isin(rows, plan.global_rows)
        g_rows, g_cols = _expand_ranges(plan.global_rows,
                                        *plan.global_range(plan.global_rows))
        rows = np.concatenate([rows[keep], g_rows])
        cols = np.concatenate([cols[keep], g_cols])
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols
