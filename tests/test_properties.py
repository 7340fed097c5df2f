"""Property-based tests (hypothesis, fixed budgets) over shapes, dtypes,
sparsity and degenerate dictionaries: duplicate atoms, zero atoms, more
atoms than features. Solvers stop, outputs are finite, and the documented
optimality holds."""

import numpy as np
import scipy.sparse as sp
from conftest import kkt_violation
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecode import (
    DictionaryLearner,
    SparseAttentionTransformer,
    ThresholdEncoder,
    sparse_encode,
)


def _degenerate(rng, k, p, kind):
    D = rng.standard_normal((k, p))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    if kind == "duplicate" and k >= 2:
        D[1] = D[0]
    elif kind == "zero":
        D[k - 1] = 0.0
    return D


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 10), p=st.integers(1, 8), k=st.integers(1, 14),
       kind=st.sampled_from(["plain", "duplicate", "zero"]),
       algorithm=st.sampled_from(["lars", "cd", "fista"]),
       dtype=st.sampled_from([np.float64, np.float32]), sparse=st.booleans(),
       alpha_scale=st.floats(0.05, 1.2), seed=st.integers(0, 2**16))
def test_lasso_on_degenerate_dictionaries(n, p, k, kind, algorithm, dtype, sparse,
                                          alpha_scale, seed):
    rng = np.random.default_rng(seed)
    D = _degenerate(rng, k, p, kind)
    X = rng.standard_normal((n, p))
    if sparse:
        X[rng.random(X.shape) < 0.5] = 0.0
    corr = np.abs(X @ D.T).max()
    alpha = max(alpha_scale * corr, 1e-3)
    Xin = sp.csr_matrix(X.astype(dtype)) if sparse else X.astype(dtype)
    Z = sparse_encode(Xin, D.astype(dtype), algorithm=algorithm, alpha=alpha, max_iter=20_000,
                      tol=1e-10)
    assert Z.dtype == dtype and np.all(np.isfinite(Z))
    if kind == "zero":
        assert np.all(Z[:, k - 1] == 0)  # a zero atom never helps and costs alpha
    tol = (1e-6 if dtype == np.float64 else 2e-3) * max(corr, alpha, 1.0)
    if algorithm != "fista":  # FISTA stops on its gap, not at machine precision
        assert kkt_violation(X, D, Z, alpha) <= tol


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 30), p=st.integers(1, 6), k=st.integers(1, 8),
       kind=st.sampled_from(["plain", "duplicate", "zero"]),
       mode=st.sampled_from(["soft", "hard", "topk", "triangle"]), split=st.booleans(),
       seed=st.integers(0, 2**16))
def test_threshold_encoder_on_degenerate_dictionaries(n, p, k, kind, mode, split, seed):
    rng = np.random.default_rng(seed)
    D = _degenerate(rng, k, p, kind)
    X = rng.standard_normal((n, p))
    enc = ThresholdEncoder(dictionary=D, mode=mode, split_sign=split, alpha=0.2,
                           k=min(2, k)).fit(X)
    F = enc.transform(X)
    assert np.all(np.isfinite(F))
    C = X @ D.T
    if mode == "soft" and not split:
        np.testing.assert_allclose(F, np.maximum(C - 0.2, 0), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(4, 40), p=st.integers(1, 6), k=st.integers(1, 8),
       kind=st.sampled_from(["duplicate", "zero"]),
       method=st.sampled_from(["online", "batch"]), seed=st.integers(0, 2**16))
def test_dictionary_learner_from_degenerate_starts(n, p, k, kind, method, seed):
    rng = np.random.default_rng(seed)
    D0 = _degenerate(rng, k, p, kind)
    X = rng.standard_normal((n, p))
    dl = DictionaryLearner(k, alpha=0.1, method=method, dict_init=D0, max_iter=3,
                           batch_size=8, random_state=0).fit(X)
    assert np.all(np.isfinite(dl.components_))
    assert np.all(np.linalg.norm(dl.components_, axis=1) <= 1 + 1e-9)
    assert np.all(np.isfinite(dl.transform(X)))


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=5),
       window=st.integers(0, 12).map(lambda w: 2 * w), dilation=st.integers(1, 4),
       causal=st.booleans(), n_global=st.integers(0, 3),
       pattern=st.sampled_from(["window", "longformer"]), seed=st.integers(0, 2**16))
def test_attention_equals_dense_softmax_on_random_layouts(lengths, window, dilation, causal,
                                                          n_global, pattern, seed):
    n = sum(lengths)
    X = np.random.default_rng(seed).standard_normal((n, 3))
    kw = dict(global_tokens=n_global) if pattern == "longformer" else {}
    est = SparseAttentionTransformer(pattern, window=window, dilation=dilation, causal=causal,
                                     **kw).fit(X, lengths=lengths)
    out = est.transform(X, lengths=lengths)
    # the dense oracle over the mask written from the definition
    seq = np.repeat(np.arange(len(lengths)), lengths)
    start = np.concatenate(([0], np.cumsum(lengths)[:-1]))[seq]
    rel = np.arange(n) - start
    delta = np.arange(n)[None, :] - np.arange(n)[:, None]
    M = (seq[:, None] == seq[None, :]) & (np.abs(delta) <= window // 2 * dilation)
    M &= delta % dilation == 0
    if pattern == "longformer":
        g = rel < n_global
        M |= (seq[:, None] == seq[None, :]) & (g[:, None] | g[None, :])
    if causal:
        M &= delta <= 0
    S = np.where(M, X @ X.T / np.sqrt(3), -np.inf)
    W = np.exp(S - S.max(axis=1, keepdims=True))
    W /= W.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, W @ X, rtol=1e-10, atol=1e-12)
