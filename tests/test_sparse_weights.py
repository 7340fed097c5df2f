"""Sparse weights, pruning, dropout and post-activation thresholds in the
autoencoders: gradients with dropout against finite differences, the
proximal step and the pruning schedule against their formulas, the sparse
encoder product against the dense one, and transform untouched by dropout."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import approx_fprime

from sparsecode import KLSparseEncoder, SparseAutoencoder
from sparsecode._autoencoder_model import (
    _sparsify,
    kl_loss_grad,
    prune_density,
    prune_mask,
    sae_loss_grad,
)
from sparsecode._kernels._autoencoder import csr_weight_product

NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")


def _params(m=12, d=7, seed=0):
    rng = np.random.default_rng(seed)
    return {"W_enc": rng.standard_normal((m, d)), "b_enc": 0.3 * rng.standard_normal(m),
            "W_dec": rng.standard_normal((m, d)), "b_dec": 0.2 * rng.standard_normal(d)}


@pytest.mark.parametrize("activation, extra", [("relu", dict(l1=0.37)),
                                               ("topk", dict(l1=0.0))])
def test_sae_gradient_with_dropout(activation, extra):
    """With the dropout mask fixed (same seed for every evaluation), the
    analytic gradient is the finite-difference one, and some codes were
    dropped."""
    P = _params()
    X = np.random.default_rng(1).standard_normal((9, 7))
    kw = dict(activation=activation, k=4, aux_k=0, aux_coef=0.0, dropout=0.4, **extra)
    sizes = [P[n].size for n in NAMES]
    v0 = np.concatenate([P[n].ravel() for n in NAMES])

    def unflat(v):
        parts = np.split(v, np.cumsum(sizes)[:-1])
        return {n: part.reshape(P[n].shape) for n, part in zip(NAMES, parts)}

    def f(v):
        return sae_loss_grad(unflat(v), X, rng=np.random.default_rng(5), need_grad=False,
                             **kw)[0]

    loss, grads, _ = sae_loss_grad(P, X, rng=np.random.default_rng(5), **kw)
    undropped = sae_loss_grad(P, X, rng=None, need_grad=False, **{**kw, "dropout": 0.0})[0]
    assert loss != undropped
    numeric = approx_fprime(v0, f, 1e-7)
    analytic = np.concatenate([grads[n].ravel() for n in NAMES])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize("sparse", [False, True])
def test_kl_gradient_with_dropout(sparse):
    """Both routes (dense rows; the Gram form for a sparse X) carry the fixed
    mask: the gradient is the finite-difference one, and the sparse route's
    loss and gradient equal the dense route's."""
    m, d = 5, 7
    rng = np.random.default_rng(0)
    theta = np.r_[rng.uniform(-0.5, 0.5, 2 * m * d), 0.1 * rng.standard_normal(m + d)]
    X = np.random.default_rng(1).standard_normal((40, d))
    X[np.abs(X) < 0.6] = 0.0
    Xin = sp.csr_matrix(X) if sparse else X
    scale = (np.random.default_rng(2).random((40, m)) >= 0.3) / 0.7

    def f(v):
        return kl_loss_grad(v, Xin, m, 0.1, 3.0, 1e-3, dropout_scale=scale)[0]

    loss, analytic, _ = kl_loss_grad(theta, Xin, m, 0.1, 3.0, 1e-3, dropout_scale=scale)
    numeric = approx_fprime(theta, f, 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())
    dense_loss, dense_grad, _ = kl_loss_grad(theta, X, m, 0.1, 3.0, 1e-3, dropout_scale=scale)
    assert loss == pytest.approx(dense_loss, rel=1e-12)
    np.testing.assert_allclose(analytic, dense_grad, rtol=1e-10, atol=1e-13)
    undropped = kl_loss_grad(theta, Xin, m, 0.1, 3.0, 1e-3)[0]
    assert loss != undropped


def test_proximal_step_and_mask():
    W = np.array([[0.5, -0.05, 0.2], [-0.3, 0.1, 0.0]])
    out = W.copy()
    _sparsify(out, 0.1, None)
    np.testing.assert_allclose(out, np.sign(W) * np.maximum(np.abs(W) - 0.1, 0))
    mask = np.array([[True, False, True], [False, True, True]])
    out = W.copy()
    _sparsify(out, 0.0, mask)
    np.testing.assert_array_equal(out, W * mask)


def test_pruning_schedule_and_mask():
    # Zhu & Gupta: s_t = s_f + (1 - s_f) (1 - t / T)^3, then flat
    for e in range(0, 7):
        expected = 0.1 + 0.9 * (1 - min(e, 5) / 5) ** 3
        assert np.isclose(prune_density(0.1, e, 5), expected)
    W = np.random.default_rng(0).standard_normal((20, 30))
    mask = prune_mask(W, 0.25)
    assert mask.sum() == 150
    assert np.abs(W[mask]).min() >= np.abs(W[~mask]).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_weight_product_equals_dense(dtype):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((40, 30)) * (rng.random((40, 30)) < 0.05)
    X = rng.standard_normal((17, 30)).astype(dtype)
    Wc = sp.csr_matrix(W.astype(dtype))
    out = np.empty((17, 40), dtype=dtype)
    csr_weight_product(X, Wc.indptr, Wc.indices, Wc.data, out)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, X.astype(np.float64) @ W.T, rtol=tol, atol=tol)


def _codes(est, X):
    """The transform's formula in numpy: act(W_enc (x - b_dec) + b_enc)."""
    pre = (X - getattr(est, "decoder_bias_", 0) * isinstance(est, SparseAutoencoder)) \
        @ est.encoder_weights_.T + est.encoder_bias_
    if isinstance(est, KLSparseEncoder):
        return 1 / (1 + np.exp(-pre))
    return np.maximum(pre, 0)


def test_pruned_sae_transform_uses_sparse_weights_and_matches_the_formula():
    X = np.random.default_rng(0).standard_normal((600, 40))
    est = SparseAutoencoder(64, l1=1e-3, prune=0.03, prune_epochs=3, max_iter=6,
                            random_state=0).fit(X)
    assert est.encoder_density_ <= 0.0301
    # pruned weights stay exactly zero once cut
    assert np.count_nonzero(est.encoder_weights_) <= round(0.03 * 64 * 40) + 1
    np.testing.assert_allclose(est.transform(X), _codes(est, X), rtol=1e-10, atol=1e-12)
    X32 = X.astype(np.float32)
    est32 = SparseAutoencoder(64, prune=0.03, prune_epochs=3, max_iter=6,
                              random_state=0).fit(X32)
    Z32 = est32.transform(X32)
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, _codes(est32, X32.astype(np.float64)), rtol=1e-4,
                               atol=1e-5)


def test_weight_l1_makes_exact_zeros():
    X = np.random.default_rng(1).standard_normal((500, 20))
    dense = SparseAutoencoder(32, max_iter=5, random_state=0).fit(X)
    sparse = SparseAutoencoder(32, weight_l1=20.0, max_iter=5, random_state=0).fit(X)
    assert dense.encoder_density_ == 1.0
    assert sparse.encoder_density_ < 0.5
    np.testing.assert_allclose(sparse.transform(X), _codes(sparse, X), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "topk"])
def test_dropout_trains_but_transform_is_deterministic(activation):
    X = np.random.default_rng(2).standard_normal((400, 16))
    est = SparseAutoencoder(24, activation=activation, k=4, dropout=0.3, max_iter=4,
                            random_state=0).fit(X)
    plain = SparseAutoencoder(24, activation=activation, k=4, max_iter=4,
                              random_state=0).fit(X)
    assert not np.allclose(est.encoder_weights_, plain.encoder_weights_)
    Z1, Z2 = est.transform(X), est.transform(X)
    np.testing.assert_array_equal(Z1, Z2)
    if activation == "relu":
        np.testing.assert_allclose(Z1, _codes(est, X), rtol=1e-10, atol=1e-12)


def test_kl_adam_sparsity_options_and_threshold():
    X = np.random.default_rng(3).standard_normal((300, 12))
    est = KLSparseEncoder(16, solver="adam", max_iter=6, weight_l1=1e-3, prune=0.04,
                          prune_epochs=3, dropout=0.2, activation_threshold=0.3,
                          sparse_output=True, random_state=0).fit(X)
    assert est.encoder_density_ <= round(0.04 * 16 * 12) / (16 * 12)
    Z = est.transform(X)
    assert sp.issparse(Z)
    expected = _codes(est, X)
    expected[expected < 0.3] = 0.0
    np.testing.assert_allclose(Z.toarray(), expected, rtol=1e-10, atol=1e-12)
    assert Z.nnz == np.count_nonzero(expected) < Z.shape[0] * Z.shape[1]


def test_activation_threshold_on_the_sae():
    X = np.random.default_rng(4).standard_normal((300, 12))
    est = SparseAutoencoder(16, activation_threshold=0.2, sparse_output=True, max_iter=3,
                            random_state=0).fit(X)
    expected = _codes(est, X)
    expected[expected < 0.2] = 0.0
    np.testing.assert_allclose(est.transform(X).toarray(), expected, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("param", [dict(weight_l1=0.1), dict(prune=0.5), dict(dropout=0.2)])
def test_lbfgs_refuses_stochastic_or_proximal_options(param):
    X = np.random.default_rng(5).standard_normal((50, 6))
    with pytest.raises(ValueError, match="solver='adam'"):
        KLSparseEncoder(4, **param).fit(X)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_pruning_schedule_is_not_cut_short_nor_undone(early_stopping):
    """Pruning raises the loss epoch after epoch: the stopping rules wait for
    the schedule to end, and early stopping never restores weights from
    before the last pruning step (which the mask would not match)."""
    X = np.random.default_rng(6).standard_normal((400, 12))
    est = SparseAutoencoder(32, max_iter=20, prune=0.1, prune_epochs=10, n_iter_no_change=2,
                            early_stopping=early_stopping, random_state=0).fit(X)
    assert est.n_iter_ >= 10
    assert est.encoder_density_ <= round(0.1 * 32 * 12) / (32 * 12)
    mask = est._state["mask"]
    assert np.count_nonzero(est.encoder_weights_[~mask]) == 0


def test_tied_pruning_keeps_unit_decoder_rows():
    X = np.random.default_rng(7).standard_normal((300, 10))
    est = SparseAutoencoder(16, tied=True, max_iter=3, prune=0.3, prune_epochs=3,
                            random_state=0).fit(X)
    norms = np.linalg.norm(est.components_, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-6)
