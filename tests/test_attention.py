"""SparseAttentionTransformer against dense masked softmax attention.

Two oracles, kept apart: each pattern's mask is rebuilt here from its
definition (by brute force over all pairs), and the output is the float64
softmax over that mask computed with numpy, with the scores written as the
docstring defines them (``-||q - k||^2 / h^2`` literally, not the folded form
the kernels use).
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sparsecode import SparseAttentionTransformer
from sparsecode._kernels._attention import exp_shifted, exp_shifted32

LENGTHS = [70, 1, 45, 84]  # 200 tokens, a one-token sequence among them


def _data(n=200, p=6, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, p)).astype(dtype)


def _bounds(n, lengths):
    lengths = [n] if lengths is None else lengths
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    seq = np.repeat(np.arange(len(lengths)), lengths)
    return starts[seq], seq


def _window_mask(n, lengths, window, dilation=1, causal=False):
    start, seq = _bounds(n, lengths)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    delta = j - i
    M = (seq[:, None] == seq[None, :]) & (np.abs(delta) <= window // 2 * dilation)
    M &= delta % dilation == 0
    if causal:
        M &= delta <= 0
    return M


def _global_mask(n, lengths, glob, causal=False):
    start, seq = _bounds(n, lengths)
    rel = np.arange(n) - start
    same = seq[:, None] == seq[None, :]
    is_g = np.isin(rel, glob)
    M = same & (is_g[None, :] | is_g[:, None])
    if causal:
        M &= np.arange(n)[None, :] <= np.arange(n)[:, None]
    return M


def _grid_mask(n, shape, window, dilation=1, causal=False):
    h, w = shape
    size = h * w
    seq, rel = np.arange(n) // size, np.arange(n) % size
    y, x = rel // w, rel % w
    dy, dx = y[None, :] - y[:, None], x[None, :] - x[:, None]
    half = window // 2 * dilation
    M = (seq[:, None] == seq[None, :]) & (np.abs(dy) <= half) & (np.abs(dx) <= half)
    M &= (dy % dilation == 0) & (dx % dilation == 0)
    if causal:
        M &= np.arange(n)[None, :] <= np.arange(n)[:, None]
    return M


def _qkv(est, X):
    """Queries, keys and values in float64 from the fitted projections."""
    X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)

    def proj(W):
        return X if W is None else X @ W

    Q, K, V = proj(est.query_projection_), proj(est.key_projection_), proj(est.value_projection_)
    if est.pattern == "lsh":
        K = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-300)
    return Q, K, V


def _lsh_mask(est, X, lengths):
    _, K, _ = _qkv(est, X)
    n = K.shape[0]
    start, seq = _bounds(n, lengths)
    M = np.zeros((n, n), dtype=bool)
    for R in est.lsh_rotations_:
        proj = K @ R
        bucket = np.argmax(np.hstack([proj, -proj]), axis=1)
        same = (bucket[:, None] == bucket[None, :]) & (seq[:, None] == seq[None, :])
        if est.lsh_mode == "chunked":
            chunk = np.empty(n, dtype=np.int64)
            for s in np.unique(seq):
                rows = np.flatnonzero(seq == s)
                order = rows[np.lexsort((rows, bucket[rows]))]
                chunk[order] = np.arange(order.size) // est.chunk_size
            c = chunk[None, :] - chunk[:, None]
            same &= (c == 0) | (c == -1)
        M |= same
    if est.causal:
        M &= np.arange(n)[None, :] <= np.arange(n)[:, None]
    alone = M.sum(1) == 1
    M[np.arange(n), np.arange(n)] = alone
    return M


def _dense_oracle(est, X, mask):
    Q, K, V = _qkv(est, X)
    if est.similarity == "dot":
        S = Q @ K.T / np.sqrt(Q.shape[1])
    else:
        S = -((Q[:, None, :] - K[None, :, :]) ** 2).sum(-1) / est.bandwidth_ ** 2
    S = np.where(mask, S, -np.inf)
    S -= S.max(axis=1, keepdims=True)
    W = np.exp(S)
    W /= W.sum(axis=1, keepdims=True)
    return W @ V


CONFIGS = {
    "window": dict(pattern="window", window=10),
    "window_dilated": dict(pattern="window", window=8, dilation=3),
    "window_causal": dict(pattern="window", window=10, dilation=2, causal=True),
    "longformer": dict(pattern="longformer", window=6, global_tokens=[0, 5, 60]),
    "longformer_causal": dict(pattern="longformer", window=6, global_tokens=3, causal=True),
    "bigbird": dict(pattern="bigbird", window=4, block_size=8, n_random=2, global_tokens=2),
    "bigbird_causal": dict(pattern="bigbird", window=4, block_size=8, n_random=2, dilation=2,
                           causal=True),
    "lsh_exact": dict(pattern="lsh", n_buckets=8, n_hashes=3, lsh_mode="exact"),
    "lsh_chunked": dict(pattern="lsh", n_buckets=4, n_hashes=2, chunk_size=8),
    "lsh_causal": dict(pattern="lsh", n_buckets=4, n_hashes=2, chunk_size=8, causal=True),
    "dense": dict(pattern="dense"),
    "dense_causal": dict(pattern="dense", causal=True),
    "window2d": dict(pattern="window2d", grid_shape=(8, 10), window=4),
    "window2d_dilated": dict(pattern="window2d", grid_shape=(8, 10), window=2, dilation=2,
                             causal=True),
    "neg_sq_dist": dict(pattern="window", window=8, similarity="neg_sq_dist", bandwidth=2.0),
    "pca": dict(pattern="longformer", window=8, projection="pca", n_components=3),
    "random": dict(pattern="bigbird", window=8, block_size=16, projection="random",
                   n_components=4),
}


def _mask(est, X, lengths):
    n = X.shape[0]
    pattern, causal, dil = est.pattern, est.causal, est.dilation
    if pattern == "window":
        return _window_mask(n, lengths, est.window_, dil, causal)
    if pattern == "longformer":
        return (_window_mask(n, lengths, est.window_, dil, causal)
                | _global_mask(n, lengths, est.global_tokens_, causal))
    if pattern == "dense":
        return _window_mask(n, lengths, 4 * n, 1, causal)
    if pattern == "window2d":
        return _grid_mask(n, est.grid_shape_, est.window_, dil, causal)
    if pattern == "lsh":
        return _lsh_mask(est, X, lengths)
    raise AssertionError(pattern)


def _lengths_for(name, use_lengths):
    if name.startswith("window2d"):
        return [80, 80] if use_lengths else None
    return LENGTHS if use_lengths else None


def _n_for(name):
    return 160 if name.startswith("window2d") else 200


@pytest.mark.parametrize("use_lengths", [False, True])
@pytest.mark.parametrize("name", [k for k in CONFIGS if not k.startswith(("bigbird", "random"))])
def test_pattern_is_the_definition(name, use_lengths):
    X = _data(_n_for(name))
    lengths = _lengths_for(name, use_lengths)
    est = SparseAttentionTransformer(**CONFIGS[name], random_state=0).fit(X, lengths=lengths)
    P = est.attention_pattern(X=X, lengths=lengths)
    assert isinstance(P, sp.csr_array) and P.indices.dtype == np.int64
    np.testing.assert_array_equal(P.toarray().astype(bool), _mask(est, X, lengths))
    if est.pattern != "lsh":
        np.testing.assert_array_equal(
            est.attention_pattern(X.shape[0], lengths=lengths).toarray(), P.toarray())


@pytest.mark.parametrize("causal", [False, True])
def test_bigbird_pattern_structure(causal):
    """Window and global keys as for Longformer; outside them, each query
    sees whole random blocks of ``block_size`` tokens (cut by causality),
    at most ``n_random`` of them, never its own, the same for every query
    of a block, and the same draw at fit and transform."""
    n, block, n_random = 200, 8, 2
    X = _data(n)
    est = SparseAttentionTransformer("bigbird", window=4, block_size=block, n_random=n_random,
                                     global_tokens=2, causal=causal, random_state=3)
    est.fit(X, lengths=LENGTHS)
    P = est.attention_pattern(n, lengths=LENGTHS).toarray().astype(bool)
    base = (_window_mask(n, LENGTHS, 4, 1, causal)
            | _global_mask(n, LENGTHS, est.global_tokens_, causal))
    assert np.all(P >= base)
    start, seq = _bounds(n, LENGTHS)
    rel = np.arange(n) - start
    extra = P & ~base
    assert extra.any()
    for i in range(n):
        if rel[i] in est.global_tokens_:
            continue
        js = np.flatnonzero(extra[i])
        assert np.all(seq[js] == seq[i])
        blocks = np.unique(rel[js] // block)
        assert blocks.size <= n_random
        assert rel[i] // block not in blocks
        for b in blocks:
            members = np.flatnonzero((seq == seq[i]) & (rel // block == b))
            if causal:
                members = members[members <= i]
            np.testing.assert_array_equal(np.sort(np.concatenate([js[rel[js] // block == b],
                                                                  members[base[i, members]]])),
                                          members)
        same_block = np.flatnonzero((seq == seq[i]) & (rel // block == rel[i] // block))
        for k in same_block:
            if rel[k] in est.global_tokens_:
                continue
            kb = np.unique(rel[np.flatnonzero(extra[k])] // block)
            if not causal:
                np.testing.assert_array_equal(kb, blocks)
    again = est.attention_pattern(n, lengths=LENGTHS).toarray().astype(bool)
    np.testing.assert_array_equal(again, P)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.attention_pattern(n, lengths=LENGTHS).toarray(),
                                  P.astype(np.int8))


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_lengths", [False, True])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_transform_is_dense_masked_softmax(name, use_lengths, dtype, fmt):
    n = _n_for(name)
    X = _data(n, dtype=dtype)
    X[np.random.default_rng(1).random(X.shape) < 0.3] = 0
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    lengths = _lengths_for(name, use_lengths)
    est = SparseAttentionTransformer(**CONFIGS[name], random_state=0).fit(Xin, lengths=lengths)
    out = est.transform(Xin, lengths=lengths)
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    if name.startswith(("bigbird", "random")):
        mask = est.attention_pattern(n, lengths=lengths).toarray().astype(bool)
    else:
        mask = _mask(est, X, lengths)
    ref = _dense_oracle(est, X, mask)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("name", ["longformer", "bigbird", "lsh_chunked", "window2d"])
def test_weights_rows_sum_to_one_and_give_transform(name):
    n = _n_for(name)
    X = _data(n)
    lengths = _lengths_for(name, True)
    est = SparseAttentionTransformer(**CONFIGS[name], random_state=0).fit(X, lengths=lengths)
    W = est.attention_weights(X, lengths=lengths)
    assert isinstance(W, sp.csr_array) and W.shape == (n, n)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(W.indices, est.attention_pattern(X=X, lengths=lengths).indices)
    _, _, V = _qkv(est, X)
    np.testing.assert_allclose(W @ V, est.transform(X, lengths=lengths), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pattern", ["window", "longformer", "bigbird", "lsh", "dense"])
def test_extreme_scores_stay_finite(pattern, dtype):
    """Scores of order 1e5 overflow a naive exp; the shifted softmax keeps
    every row finite and equal to the dense oracle (a near-one-hot row)."""
    X = _data(120, p=4, dtype=dtype) * dtype(300.0)
    kw = dict(window=6, block_size=8) if pattern in ("window", "longformer", "bigbird") else {}
    if pattern == "window":
        kw.pop("block_size")
    if pattern == "lsh":
        kw = dict(n_buckets=4, lsh_mode="exact")
    est = SparseAttentionTransformer(pattern, random_state=0, **kw).fit(X)
    out = est.transform(X)
    assert np.all(np.isfinite(out))
    mask = est.attention_pattern(X=X).toarray().astype(bool)
    ref = _dense_oracle(est, X, mask)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_float32_exp_kernel_matches_numpy():
    x = np.concatenate([-np.random.default_rng(0).uniform(0, 100, 100_000),
                        -np.random.default_rng(1).uniform(0, 2, 10_000), [0.0, -87.0]])
    x = x.astype(np.float32)
    for m in (0.0, 3.5):
        out = np.empty_like(x)
        exp_shifted32(x + np.float32(m), m, out, np.empty(x.size, dtype=np.int32))
        # the float32 difference x + m - m, exactly as the kernel forms it
        y = np.maximum((x + np.float32(m)) - np.float32(m), np.float32(-87.0))
        ref = np.exp(y.astype(np.float64))
        np.testing.assert_allclose(out, ref, rtol=4e-7, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("has_bias", [False, True])
def test_band_softmax_weights_flush_and_divide(dtype, has_bias):
    from sparsecode._kernels._attention import band_softmax, divide_rows, softmax_scratch_dtypes

    S = np.array([[0.0, 0.0, 0.0, 0.0, -200.0, -1e6, 5.0],
                  [1.0, 2.0, 3.0, -80.0, 0.0, 0.0, 0.0]], dtype=dtype)
    S0 = S.copy()
    # column j of row t holds key koff[t] + j; keys past hi are outside the band
    koff = np.array([10, 20])
    lo, hi = koff + [0, 0], koff + [6, 4]
    bias = np.zeros(30, dtype)
    if has_bias:
        bias[10:17] = [1, 0, 0, 0.5, 0, 0, 0.5]
        bias[20:27] = [0, -1, 2, 0, 0, 0, 0]
    sums, lse = np.empty(2), np.empty(2)
    work_dtype, bits_dtype = softmax_scratch_dtypes(dtype)
    band_softmax(S, bias, has_bias, lo, hi, koff, sums, lse,
                 np.full((2, 7), np.nan, work_dtype), np.empty(7, bits_dtype))
    W = S  # rewritten in place
    hi = hi - koff
    for t in range(2):
        x = S0[t, :hi[t]].astype(np.float64) + bias[koff[t]:koff[t] + hi[t]]
        ref = np.exp(x - x.max())
        # exp(-200) and the clamped exp(-1e6) are below 2^-125: 0; exp(-83)
        # (row 2) is above it and kept
        ref[ref < 2.0 ** -125] = 0
        np.testing.assert_allclose(W[t, :hi[t]], ref, rtol=1e-6, atol=0)
        assert np.all(W[t, hi[t]:] == 0)  # keys outside the band
        assert sums[t] == pytest.approx(ref.sum(), rel=1e-6)
        assert lse[t] == pytest.approx(x.max() + np.log(ref.sum()), rel=1e-6)
    assert W[0, 4] == 0 and W[0, 5] == 0 and W[1, 3] > 0
    out = np.ones((3, 2), dtype)
    divide_rows(out, np.array([4.0, 0.0, 0.5]))
    np.testing.assert_array_equal(out, [[0.25, 0.25], [1, 1], [2, 2]])


@pytest.mark.parametrize("name", ["window", "window_dilated", "window_causal", "longformer",
                                  "neg_sq_dist", "dense_causal"])
def test_stacked_band_tiles_match_the_oracle_and_any_thread_count(name, monkeypatch):
    # tiles of 4 queries: 50 tiles over 200 tokens, windows padded past both
    # ends and crossing the sequences' bounds, stacked by 25 tiles on one
    # thread, 13 on two (two batches a thread at least), 3 (chunks cut runs)
    import sparsecode._attention_plan as plan_module

    monkeypatch.setattr(plan_module, "_TILE", 4)
    monkeypatch.setattr(plan_module, "_DENSE_TILE", 4)
    X = _data(200)
    est = SparseAttentionTransformer(**CONFIGS[name], random_state=0).fit(X, lengths=LENGTHS)
    outs = []
    for batch, n_jobs in [(40, 1), (40, 2), (3, 1)]:
        monkeypatch.setattr(plan_module, "_BATCH", batch)
        outs.append(est.set_params(n_jobs=n_jobs).transform(X, lengths=LENGTHS))
    for other in outs[1:]:  # a tile's result depends on neither
        np.testing.assert_array_equal(outs[0], other)
    mask = _mask(est, X, LENGTHS)
    ref = _dense_oracle(est, X, mask)
    np.testing.assert_allclose(outs[0], ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_exp_kernel_matches_numpy():
    x = np.concatenate([-np.random.default_rng(0).uniform(0, 750, 100_000),
                        -np.random.default_rng(1).uniform(0, 2, 10_000), [0.0, -708.0]])
    out = np.empty_like(x)
    exp_shifted(x, 0.0, out, np.empty(x.size, dtype=np.int64))
    ref = np.exp(np.maximum(x, -708.0))
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=0)
    shifted = np.empty_like(x)
    exp_shifted(x + 3.0, 3.0, shifted, np.empty(x.size, dtype=np.int64))
    np.testing.assert_allclose(shifted, ref, rtol=1e-12, atol=0)


def _nearest_key_bandwidth(est, X, lengths):
    """bandwidth=None's definition over every token: the median of the
    distances from each token to its nearest other key (those at 0 aside)."""
    P = est.attention_pattern(X=X, lengths=lengths).toarray().astype(bool)
    np.fill_diagonal(P, False)
    Q, K, _ = _qkv(est, X)
    D2 = ((Q[:, None, :] - K[None, :, :]) ** 2).sum(-1)
    nearest = np.array([D2[i, P[i]].min() for i in range(len(X)) if P[i].any()])
    return np.sqrt(np.median(nearest[nearest > 0]))


@pytest.mark.parametrize("use_lengths", [False, True])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_bandwidth_none_is_the_median_distance_to_the_nearest_key(name, use_lengths):
    X = _data(_n_for(name))  # at most 256 tokens: every one is in the sample
    lengths = _lengths_for(name, use_lengths)
    kw = {**CONFIGS[name], "similarity": "neg_sq_dist", "bandwidth": None}
    est = SparseAttentionTransformer(**kw, random_state=0).fit(X, lengths=lengths)
    assert np.isclose(est.bandwidth_, _nearest_key_bandwidth(est, X, lengths), rtol=1e-12)
    # the pattern's draws are those of a given bandwidth
    given = SparseAttentionTransformer(**{**kw, "bandwidth": est.bandwidth_},
                                       random_state=0).fit(X, lengths=lengths)
    np.testing.assert_array_equal(given.transform(X, lengths=lengths),
                                  est.transform(X, lengths=lengths))


def test_default_bandwidth_denoises_where_sqrt_d_blurred():
    """Non-local means on a noisy crop of a sample image: the learned h
    beats the noisy input clearly and is near the best h of a grid, where
    the former default sqrt(d) averaged most of the window."""
    from sklearn.datasets import load_sample_image

    clean = load_sample_image("flower.jpg").astype(float).mean(axis=2)[150:214, 200:264] / 255
    noisy = clean + 0.08 * np.random.default_rng(0).standard_normal(clean.shape)
    patches = np.lib.stride_tricks.sliding_window_view(np.pad(noisy, 2, mode="reflect"),
                                                       (5, 5)).reshape(-1, 25)

    def psnr(h):
        est = SparseAttentionTransformer("window2d", grid_shape=clean.shape,
                                         similarity="neg_sq_dist", bandwidth=h,
                                         random_state=0)
        out = est.fit_transform(np.ascontiguousarray(patches))[:, 12].reshape(clean.shape)
        return -10 * np.log10(np.mean((out - clean) ** 2)), est.bandwidth_

    noisy_psnr = -10 * np.log10(np.mean((noisy - clean) ** 2))
    learned, h = psnr(None)
    best = max(psnr(g)[0] for g in (0.2, 0.3, 0.4, 0.5, 0.6, 0.8))
    # (sqrt(d) = 5 here: 24.2 dB against the noisy 22.0 and the best 27.0)
    assert learned > noisy_psnr + 3 and learned > best - 1.0, (learned, h, best)


def test_non_local_means_is_window2d_attention():
    """Buades et al.'s non-local means, u(i) = sum_j w_ij u(j) with
    w_ij proportional to exp(-||P_i - P_j||^2 / h^2) over a search window,
    written out pixel by pixel, equals the centre column of window2d
    attention over the patches with similarity="neg_sq_dist"."""
    rng = np.random.default_rng(0)
    H, W, r, search, h = 14, 12, 1, 3, 0.8
    clean = np.add.outer(np.linspace(0, 1, H), np.linspace(0, 1, W))
    img = clean + 0.2 * rng.normal(size=(H, W))
    padded = np.pad(img, r, mode="reflect")
    patches = np.array([padded[y:y + 2 * r + 1, x:x + 2 * r + 1].ravel()
                        for y in range(H) for x in range(W)])
    est = SparseAttentionTransformer("window2d", grid_shape=(H, W), window=2 * search,
                                     similarity="neg_sq_dist", bandwidth=h).fit(patches)
    denoised = est.transform(patches)[:, patches.shape[1] // 2].reshape(H, W)
    expected = np.empty((H, W))
    for y in range(H):
        for x in range(W):
            num = den = 0.0
            for yy in range(max(0, y - search), min(H, y + search + 1)):
                for xx in range(max(0, x - search), min(W, x + search + 1)):
                    dist = ((patches[y * W + x] - patches[yy * W + xx]) ** 2).sum()
                    weight = np.exp(-dist / h**2)
                    num += weight * img[yy, xx]
                    den += weight
            expected[y, x] = num / den
    np.testing.assert_allclose(denoised, expected, rtol=1e-10)
    assert np.abs(denoised - clean).mean() < 0.7 * np.abs(img - clean).mean()


def test_lsh_recall_of_true_top_keys():
    """With enough rounds, the LSH keys of each query hold most of its true
    top-8 keys (by score over its whole sequence). Measured: recall 0.85
    (exact, 8 rounds of 8 buckets) on clustered data; floor 0.7."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    X = centres[rng.integers(0, 20, 1000)] + 0.3 * rng.normal(size=(1000, 16))
    est = SparseAttentionTransformer("lsh", n_hashes=8, n_buckets=8, lsh_mode="exact",
                                     random_state=0).fit(X)
    P = est.attention_pattern(X=X).tocsr()
    Q, K, _ = _qkv(est, X)
    S = Q @ K.T
    np.fill_diagonal(S, -np.inf)  # Reformer's keys exclude the query itself
    top = np.argsort(-S, axis=1)[:, :8]
    hits = [np.isin(top[i], P.indices[P.indptr[i]:P.indptr[i + 1]]).mean() for i in range(1000)]
    assert np.mean(hits) > 0.7


def test_lengths_are_routed_in_a_pipeline():
    X = _data()
    with sklearn.config_context(enable_metadata_routing=True):
        att = SparseAttentionTransformer("window", window=6)
        att.set_fit_request(lengths=True).set_transform_request(lengths=True)
        pipe = make_pipeline(att, StandardScaler())
        Z = pipe.fit_transform(X, lengths=LENGTHS)
        Z2 = pipe.transform(X, lengths=LENGTHS)
        Z_one = pipe.transform(X)
    direct = SparseAttentionTransformer("window", window=6).fit(X, lengths=LENGTHS)
    A = direct.transform(X, lengths=LENGTHS)
    np.testing.assert_allclose(Z, StandardScaler().fit_transform(A), rtol=1e-12)
    np.testing.assert_allclose(Z2, Z, rtol=1e-12)
    # without lengths the sequences run into each other: a different result
    assert not np.allclose(Z_one, Z)
    np.testing.assert_array_equal(direct.fit_transform(X, lengths=LENGTHS), A)


@pytest.mark.parametrize("output", ["concat", "residual"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_concat_and_residual_outputs(output, fmt):
    X = _data()
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    est = SparseAttentionTransformer("window", window=6, output=output).fit(Xin)
    A = SparseAttentionTransformer("window", window=6).fit(X).transform(X)
    out = est.transform(Xin)
    if output == "concat":
        assert sp.issparse(out) == (fmt == "csr")
        dense = out.toarray() if sp.issparse(out) else out
        np.testing.assert_allclose(dense, np.hstack([X, A]), rtol=1e-12)
        names = est.get_feature_names_out()
        assert list(names[:6]) == [f"x{i}" for i in range(6)]
        assert names[6] == "sparseattentiontransformer0" and len(names) == 12
    else:
        np.testing.assert_allclose(out, X + A, rtol=1e-12)
        assert list(est.get_feature_names_out()) == [f"x{i}" for i in range(6)]


def test_given_projections_and_n_jobs_invariance():
    rng = np.random.default_rng(0)
    X = _data(300, p=5)
    Wq, Wk, Wv = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    est = SparseAttentionTransformer("bigbird", window=8, block_size=16,
                                     projection=(Wq, Wk, Wv), random_state=0)
    one = est.set_params(n_jobs=1).fit(X).transform(X)
    two = est.set_params(n_jobs=2).transform(X)
    np.testing.assert_array_equal(one, two)
    assert one.shape == (300, 2)
    mask = est.attention_pattern(300).toarray().astype(bool)
    np.testing.assert_allclose(one, _dense_oracle(est, X, mask), rtol=1e-10)


BAD = [
    (dict(window=5), "even"),
    (dict(pattern="window", global_tokens=2), "global_tokens"),
    (dict(pattern="window2d"), "grid_shape"),
    (dict(pattern="window2d", grid_shape=(7, 7)), "whole number"),
    (dict(grid_shape=(2, 2)), "grid_shape applies"),
    (dict(pattern="lsh", n_buckets=5), "even"),
    (dict(pattern="dense", dilation=2), "dilation"),
    (dict(projection="pca", n_components=50), "n_components"),
    (dict(projection="pca", n_components=3, output="residual"), "residual"),
    (dict(projection=(np.ones((6, 2)), np.ones((6, 3)), np.ones((6, 2)))), "W_q and W_k"),
    (dict(projection=(np.ones((5, 2)),) * 3), "rows"),
]


@pytest.mark.parametrize("params, match", BAD)
def test_bad_parameters_are_refused(params, match):
    X = _data()
    est = SparseAttentionTransformer("window", window=4).fit(X)
    before = est.transform(X)
    with pytest.raises(ValueError, match=match):
        est.set_params(**params).fit(X)
    # a failed fit leaves the fitted estimator as it was
    assert est.window_ == 4
    np.testing.assert_array_equal(est.set_params(**SparseAttentionTransformer(
        "window", window=4).get_params()).transform(X), before)


@pytest.mark.parametrize("lengths, match", [
    ([100, 99], "sum to 199"), ([200, 0], "positive"), ([[100, 100]], "1-D"),
    ([100.5, 99.5], "integers"), (["a"], "integers"),
])
def test_bad_lengths_are_refused(lengths, match):
    X = _data()
    est = SparseAttentionTransformer("window", window=4).fit(X)
    with pytest.raises(ValueError, match=match):
        est.transform(X, lengths=lengths)
    with pytest.raises(ValueError, match=match):
        SparseAttentionTransformer().fit(X, lengths=lengths)


def test_dense_pattern_refuses_long_sequences_and_names_the_sparse_ones():
    X = np.zeros((9000, 2))
    est = SparseAttentionTransformer("dense").fit(X[:10])
    with pytest.raises(ValueError, match="'window'.*'lsh'"):
        est.transform(X)
    assert est.transform(X, lengths=[4500, 4500]).shape == (9000, 2)


def test_lsh_pattern_needs_the_data():
    X = _data()
    est = SparseAttentionTransformer("lsh").fit(X)
    with pytest.raises(ValueError, match="X="):
        est.attention_pattern(200)
    with pytest.raises(ValueError, match="n_tokens=10"):
        est.attention_pattern(10, X=X)


def test_verbose_reports_pairs(capsys):
    X = _data(50)
    SparseAttentionTransformer("window", window=4, verbose=1).fit(X).transform(X)
    assert "(query, key) pairs" in capsys.readouterr().out


def test_global_queries_of_long_sequences_by_key_blocks(monkeypatch):
    """Global queries of sequences longer than the list path's limit run by
    key blocks merged through the log-sum-exp: same result."""
    import sparsecode._attention_plan as module

    X = _data()
    est = SparseAttentionTransformer("longformer", window=6, global_tokens=[0, 5, 60],
                                     causal=True).fit(X)
    expected = est.transform(X, lengths=LENGTHS)
    monkeypatch.setattr(module, "_GLOBAL_LIST_LENGTH", 50)
    np.testing.assert_allclose(est.transform(X, lengths=LENGTHS), expected, rtol=1e-12)


@pytest.mark.parametrize("n_random", [1, 5, 8, 9, 20])
def test_bigbird_draws_distinct_other_blocks(n_random):
    """Even with n_random close to the number of blocks (a draw with
    repeats would loop for long), each query block gets min(n_random,
    n_blocks - 1) distinct blocks other than its own."""
    from sparsecode._attention_plan import _random_table

    table = _random_table(640, 64, n_random, seed=3)  # 10 blocks
    for qb, row in enumerate(table):
        picked = row[row >= 0]
        assert picked.size == min(n_random, 9)
        assert np.unique(picked).size == picked.size and qb not in picked
        assert picked.max() < 10


def test_reach_beyond_the_sequence_is_dense_within_it():
    X = _data()
    huge = SparseAttentionTransformer("window", window=2**64).fit(X)
    dense = SparseAttentionTransformer("dense").fit(X)
    np.testing.assert_allclose(huge.transform(X, lengths=LENGTHS),
                               dense.transform(X, lengths=LENGTHS), rtol=1e-12)
    grid = SparseAttentionTransformer("window2d", grid_shape=(8, 10), window=10**6).fit(X[:160])
    assert grid.attention_pattern(160).nnz == 2 * 80 * 80


def test_global_token_edge_cases():
    X = _data()
    none = SparseAttentionTransformer("longformer", window=6, global_tokens=[]).fit(X)
    window = SparseAttentionTransformer("window", window=6).fit(X)
    np.testing.assert_array_equal(none.transform(X), window.transform(X))
    with pytest.raises(ValueError, match="dense"):
        SparseAttentionTransformer("longformer", global_tokens=10**8).fit(X)


def test_float32_distance_scores_far_from_zero():
    """Pixel-like data (an offset of 100): the distance score is computed on
    centred queries and keys, so float32 keeps 1e-5 of the oracle."""
    X = (100 + _data(dtype=np.float64)).astype(np.float32)
    est = SparseAttentionTransformer("window", window=8, similarity="neg_sq_dist",
                                     bandwidth=2.0).fit(X)
    mask = est.attention_pattern(200).toarray().astype(bool)
    ref = _dense_oracle(est, X, mask)
    np.testing.assert_allclose(est.transform(X), ref, rtol=1e-5)


def test_set_params_without_refit_is_refused():
    X = _data()
    est = SparseAttentionTransformer("window", window=6).fit(X)
    est.set_params(causal=True)
    with pytest.raises(ValueError, match="causal changed since fit"):
        est.transform(X)
    with pytest.raises(ValueError, match="call fit again"):
        est.attention_pattern(200)
    est.set_params(n_jobs=1, verbose=0)  # not part of the pattern
    assert est.fit(X).transform(X).shape == (200, 6)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_overflowing_scores_are_refused_not_nan():
    X = _data(dtype=np.float32) * np.float32(1e19)
    est = SparseAttentionTransformer("window", window=6).fit(X)
    with pytest.raises(ValueError, match="Scale X down"):
        est.transform(X)


def test_lengths_that_would_overflow_are_refused():
    X = _data(n=3)
    with pytest.raises(ValueError, match="lengths must sum"):
        SparseAttentionTransformer().fit(X, lengths=[1, 2**62, 2**62, 2**62, 2**62 + 2])
