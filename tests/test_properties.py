"""Property-based tests (hypothesis, fixed budgets) over shapes, dtypes,
sparsity and degenerate dictionaries and data: duplicate atoms, zero atoms,
more atoms than features; zero, constant, duplicate and rank-one rows.
Solvers stop, outputs are finite, and the documented optimality (or
formula) holds."""

import warnings

import numpy as np
import scipy.sparse as sp
from conftest import kkt_violation
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sparsecode import (
    DictionaryLearner,
    KLSparseEncoder,
    SparseAttentionTransformer,
    SparseAutoencoder,
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


def _degenerate_data(rng, n, d, kind, sparse, dtype, density=0.5):
    X = rng.standard_normal((n, d))
    if kind == "zero_rows":
        X[: (n + 1) // 2] = 0.0
    elif kind == "constant_column":
        X[:, 0] = 3.0
    elif kind == "duplicate_rows":
        X[:] = X[0]
    elif kind == "rank_one":
        X = np.outer(rng.standard_normal(n), rng.standard_normal(d))
    elif kind == "all_zero":
        X[:] = 0.0
    if sparse:  # 3% keeps the autoencoder's minibatches CSR, 50% densifies them
        X[rng.random(X.shape) >= density] = 0.0
        return sp.csr_matrix(X.astype(dtype)), X.astype(dtype)
    return X.astype(dtype), X.astype(dtype)


DATA_KINDS = ["plain", "zero_rows", "constant_column", "duplicate_rows", "rank_one",
              "all_zero"]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), d=st.integers(1, 7), m=st.integers(1, 10),
       kind=st.sampled_from(DATA_KINDS),
       activation=st.sampled_from(["relu", "topk", "batchtopk"]), tied=st.booleans(),
       b_dec_init=st.sampled_from(["geometric_median", "mean", "zeros"]),
       batch_size=st.integers(1, 40), max_iter=st.integers(1, 3),
       dtype=st.sampled_from([np.float64, np.float32]), sparse=st.booleans(),
       density=st.sampled_from([0.03, 0.5]), seed=st.integers(0, 2**16))
def test_sparse_autoencoder_on_degenerate_data(n, d, m, kind, activation, tied, b_dec_init,
                                               batch_size, max_iter, dtype, sparse, density,
                                               seed):
    rng = np.random.default_rng(seed)
    Xin, X = _degenerate_data(rng, n, d, kind, sparse, dtype, density)
    k = int(rng.integers(1, m + 1))
    sae = SparseAutoencoder(m, activation=activation, k=k, tied=tied, b_dec_init=b_dec_init,
                            batch_size=batch_size, max_iter=max_iter, learning_rate=1e-2,
                            random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sae.fit(Xin)
    assert 1 <= sae.n_iter_ <= max_iter and len(sae.loss_curve_) == sae.n_iter_
    assert np.all(np.isfinite(sae.loss_curve_))
    for name in ("encoder_weights_", "encoder_bias_", "components_", "decoder_bias_"):
        assert getattr(sae, name).dtype == dtype
        assert np.all(np.isfinite(getattr(sae, name))), name
    # unit decoder rows (the default normalize_decoder=True)
    np.testing.assert_allclose(np.linalg.norm(sae.components_.astype(np.float64), axis=1), 1.0,
                               rtol=1e-4 if dtype == np.float32 else 1e-10)
    Z = sae.transform(Xin)
    assert Z.dtype == dtype and Z.shape == (n, m)
    # the documented formula, in float64 numpy
    pre = ((X.astype(np.float64) - sae.decoder_bias_) @ sae.encoder_weights_.T.astype(np.float64)
           + sae.encoder_bias_)
    tol = (1e-4 if dtype == np.float32 else 1e-10) * (1.0 + np.abs(pre).max())
    if activation == "relu":
        np.testing.assert_allclose(Z, np.maximum(pre, 0.0), atol=tol)
    elif activation == "batchtopk":
        theta = sae.threshold_ or 0.0
        expected = np.where(pre > theta, np.maximum(pre, 0.0), 0.0)
        clear = np.abs(pre - theta) > tol  # entries at the cut may fall either side
        np.testing.assert_allclose(Z[clear], expected[clear], atol=tol)
    else:
        assert np.all(np.count_nonzero(Z, axis=1) <= k)
        ranked = -np.sort(-pre, axis=1)
        expected = np.maximum(ranked[:, :k], 0.0)
        # the k largest pre-activations, rectified, whichever of tied ones is kept
        np.testing.assert_allclose(-np.sort(-Z, axis=1)[:, :k], expected, atol=tol)
        if k < m:  # rows whose k-th and (k+1)-th values are apart: the same positions
            clear = ranked[:, k - 1] - ranked[:, k] > 2 * tol
            full = np.where(pre >= ranked[:, [k - 1]], np.maximum(pre, 0.0), 0.0)
            np.testing.assert_allclose(Z[clear], full[clear], atol=tol)
    assert np.all(np.isfinite(sae.inverse_transform(Z)))
    assert np.isfinite(sae.score(Xin))
    if sparse:  # the same codes from the dense form of the same data
        np.testing.assert_allclose(sae.transform(X), Z, atol=tol)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 25), d=st.integers(1, 6), m=st.integers(1, 8),
       kind=st.sampled_from(DATA_KINDS), solver=st.sampled_from(["lbfgs", "adam"]),
       max_iter=st.integers(1, 15), dtype=st.sampled_from([np.float64, np.float32]),
       sparse=st.booleans(), density=st.sampled_from([0.03, 0.5]), seed=st.integers(0, 2**16))
def test_kl_sparse_encoder_on_degenerate_data(n, d, m, kind, solver, max_iter, dtype, sparse,
                                              density, seed):
    rng = np.random.default_rng(seed)
    Xin, X = _degenerate_data(rng, n, d, kind, sparse, dtype, density)
    kl = KLSparseEncoder(m, solver=solver, max_iter=max_iter, batch_size=8, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        kl.fit(Xin)
    assert kl.n_iter_ <= max_iter and np.all(np.isfinite(kl.loss_curve_))
    for name in ("encoder_weights_", "encoder_bias_", "components_", "decoder_bias_",
                 "mean_activation_"):
        assert np.all(np.isfinite(getattr(kl, name))), name
    A = kl.transform(Xin)
    assert A.dtype == dtype and A.shape == (n, m)
    assert np.all((A >= 0) & (A <= 1))
    pre = X.astype(np.float64) @ kl.encoder_weights_.T.astype(np.float64) + kl.encoder_bias_
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(A, 1.0 / (1.0 + np.exp(-pre)), atol=tol)
    assert np.isfinite(kl.score(Xin))
