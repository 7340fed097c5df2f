"""SparseAutoencoder: gradients against finite differences, the training
contract (top-k sparsity, unit decoder rows, decreasing loss, determinism,
resumable partial_fit) and sparse input."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import approx_fprime
from sklearn.exceptions import ConvergenceWarning

from sparsecode import KLSparseEncoder, SparseAutoencoder
from sparsecode._autoencoder_model import geometric_median, kl_loss_grad, sae_loss_grad

NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")


def _params(m=12, d=7, seed=0, tied=False, unit=False):
    rng = np.random.default_rng(seed)
    P = {"W_enc": rng.standard_normal((m, d)), "b_enc": 0.3 * rng.standard_normal(m),
         "W_dec": rng.standard_normal((m, d)) * rng.uniform(0.5, 2.0, (m, 1)),
         "b_dec": 0.2 * rng.standard_normal(d)}
    if unit:
        P["W_dec"] /= np.linalg.norm(P["W_dec"], axis=1, keepdims=True)
    if tied:
        P["W_dec"] = P["W_enc"]
    return P


def _flat(P, tied):
    names = [n for n in NAMES if not (tied and n == "W_dec")]
    return np.concatenate([P[n].ravel() for n in names]), names


def _unflat(v, P, names, tied):
    out, at = {}, 0
    for n in names:
        out[n] = v[at:at + P[n].size].reshape(P[n].shape)
        at += P[n].size
    if tied:
        out["W_dec"] = out["W_enc"]
    return out


def _check(P, Xb, tied=False, **kw):
    v0, names = _flat(P, tied)
    loss0, grads, _ = sae_loss_grad(P, Xb, **kw)

    def f(v):
        return sae_loss_grad(_unflat(v, P, names, tied), Xb, need_grad=False, **kw)[0]

    numeric = approx_fprime(v0, f, 1e-7)
    analytic = np.concatenate([grads[n].ravel() for n in names])
    assert np.isclose(f(v0), loss0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5 * np.abs(numeric).max())
    return grads


BASE = dict(k=3, l1=0.0, aux_k=0, aux_coef=1 / 32)


@pytest.mark.parametrize("tied", [False, True])
def test_relu_l1_gradient(tied):
    X = np.random.default_rng(1).standard_normal((9, 7))
    _check(_params(tied=tied), X, tied=tied, activation="relu", **{**BASE, "l1": 0.37})


@pytest.mark.parametrize("tied", [False, True])
def test_topk_gradient_straight_through(tied):
    X = np.random.default_rng(2).standard_normal((9, 7))
    _check(_params(tied=tied), X, tied=tied, activation="topk", **BASE)


def test_batchtopk_gradient():
    X = np.random.default_rng(3).standard_normal((9, 7))
    P = _params()
    _, _, info = sae_loss_grad(P, X, activation="batchtopk", **BASE)
    pre = (X - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    assert np.sum(pre > info["threshold"]) == 9 * 3
    # the batch threshold is piecewise constant in the parameters: hold it,
    # halfway between the last kept and the first dropped pre-activation
    s = np.sort(pre.ravel())[::-1]
    _check(P, X, activation="batchtopk", threshold=(s[26] + s[27]) / 2, **BASE)


def test_auxk_gradient():
    X = np.random.default_rng(4).standard_normal((9, 7))
    P = _params()
    dead = np.zeros(12, dtype=bool)
    dead[[1, 4, 5, 8, 11]] = True
    kw = dict(BASE, aux_k=2, aux_coef=0.5)
    loss_main = sae_loss_grad(P, X, activation="topk", **kw)[0]
    # the residual the dead latents fit is a constant (a stopped gradient)
    X_hat_residual = X - _decode(P, X, 3)
    loss, _, _ = sae_loss_grad(P, X, activation="topk", dead=dead, **kw)
    assert loss > loss_main
    _check(P, X, activation="topk", dead=dead, aux_residual=X_hat_residual, **kw)


def _decode(P, X, k):
    pre = (X - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    f = np.zeros_like(pre)
    top = np.argsort(-pre, axis=1, kind="stable")[:, :k]
    np.put_along_axis(f, top, np.maximum(np.take_along_axis(pre, top, axis=1), 0), axis=1)
    return f @ P["W_dec"] + P["b_dec"]


def test_topk_loss_matches_dense_reference():
    X = np.random.default_rng(5).standard_normal((20, 7))
    P = _params()
    loss = sae_loss_grad(P, X, activation="topk", need_grad=False, **BASE)[0]
    R = X - _decode(P, X, 3)
    assert np.isclose(loss, 0.5 * np.mean(np.sum(R**2, axis=1)))


def test_geometric_median():
    rng = np.random.default_rng(0)
    X = np.r_[rng.standard_normal((200, 3)), 1e3 + rng.standard_normal((20, 3))]
    y = geometric_median(X)
    # optimality: the unit vectors towards the points sum to (about) zero
    u = (X - y) / np.linalg.norm(X - y, axis=1, keepdims=True)
    assert np.linalg.norm(u.sum(axis=0)) < 1e-3 * len(X)
    assert np.linalg.norm(y) < 1.0  # unlike the mean, not dragged by the outliers


# ------------------------------------------------------------------ training
def _planted(n=2000, d=24, m=48, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((m, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = (rng.random((n, m)) < 0.08) * rng.exponential(1.0, (n, m))
    return (Z @ D + 0.01 * rng.standard_normal((n, d))).astype(dtype)


def _fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SparseAutoencoder(**{"n_components": 64, "max_iter": 15, "batch_size": 128,
                                    "random_state": 0, **kw}).fit(X)


@pytest.mark.parametrize("activation", ["relu", "topk", "batchtopk"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_contract(activation, dtype):
    X = _planted(dtype=dtype)
    sae = _fit(X, activation=activation, k=5, l1=3e-3)
    assert sae.components_.dtype == dtype and sae.transform(X).dtype == dtype
    np.testing.assert_allclose(np.linalg.norm(sae.components_, axis=1), 1.0, rtol=1e-5)
    curve = np.array(sae.loss_curve_)
    assert curve[-1] < 0.5 * curve[0]
    assert sae.score(X) > 0.6
    Z = sae.transform(X)
    if activation == "topk":
        nnz = np.count_nonzero(Z, axis=1)
        assert nnz.max() == 5 and np.mean(nnz == 5) > 0.95
    if activation == "batchtopk":
        assert sae.threshold_ > 0 and 2 < np.count_nonzero(Z, axis=1).mean() < 10
    # inverse_transform is the decoder; score is its explained variance
    X_hat = sae.inverse_transform(Z)
    ev = 1 - np.sum((X - X_hat) ** 2) / np.sum((X - X.mean(axis=0)) ** 2)
    assert np.isclose(ev, sae.score(X), rtol=1e-4)


def test_same_seed_same_result_and_sparse_input_matches_dense():
    X = _planted(n=600)
    a = _fit(X, activation="topk", k=4, max_iter=3)
    b = _fit(X, activation="topk", k=4, max_iter=3)
    np.testing.assert_array_equal(a.components_, b.components_)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.3, X, 0.0))
    dense = _fit(Xs.toarray(), activation="topk", k=4, max_iter=3)
    sparse = _fit(Xs, activation="topk", k=4, max_iter=3)
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.transform(Xs), dense.transform(Xs.toarray()),
                               rtol=1e-9, atol=1e-12)
    assert np.isclose(sparse.score(Xs), dense.score(Xs.toarray()))
    assert sp.issparse(sparse.set_params(sparse_output=True).transform(Xs))


def test_partial_fit_resumes_from_pickle_bit_for_bit():
    X = _planted(n=900)
    chunks = np.array_split(X, 3)
    straight = SparseAutoencoder(32, activation="topk", k=4, batch_size=100, random_state=0)
    for c in chunks:
        straight.partial_fit(c)
    resumed = SparseAutoencoder(32, activation="topk", k=4, batch_size=100, random_state=0)
    resumed.partial_fit(chunks[0])
    resumed = pickle.loads(pickle.dumps(resumed))
    for c in chunks[1:]:
        resumed.partial_fit(c)
    for name in ("components_", "encoder_weights_", "encoder_bias_", "decoder_bias_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name))
    assert resumed.loss_curve_ == straight.loss_curve_ and resumed.t_ == straight.t_ == 9


@pytest.mark.parametrize("activation", ["relu", "batchtopk"])
def test_early_stopping_keeps_the_best_validation_score(activation):
    X = _planted(n=1500)
    sae = _fit(X, activation=activation, k=5, early_stopping=True, max_iter=60,
               n_iter_no_change=3, learning_rate=3e-2)
    assert len(sae.validation_scores_) == sae.n_iter_ < 60
    # the validation rows, drawn as fit draws them: the restored estimator
    # scores on them what the best epoch scored
    perm = np.random.RandomState(0).permutation(len(X))
    X_val = X[np.sort(perm[:150])]
    assert np.isclose(sae.score(X_val), sae.best_validation_score_, rtol=1e-10)
    assert sae.best_validation_score_ == max(sae.validation_scores_)


@pytest.mark.parametrize("n,m,held_out", [(499, 100, False), (500, 100, True),
                                           (999, 100, True), (1000, 100, False)])
def test_early_stopping_auto_holds_out_rows_when_data_are_small_for_the_model(n, m, held_out):
    X = _planted(n=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sae = SparseAutoencoder(m, max_iter=2, random_state=0).fit(X)
        ref = SparseAutoencoder(m, max_iter=2, early_stopping=held_out, random_state=0).fit(X)
    assert (sae.validation_scores_ is not None) == held_out
    np.testing.assert_array_equal(sae.components_, ref.components_)
    # the steps: an epoch of the training rows only (the rest held out)
    n_train = n - round(0.1 * n) if held_out else n
    assert sae.t_ == 2 * -(-n_train // 256)


def test_memorisation_is_reported_with_what_to_do():
    # 600 rows of noise and 600 latents: the training rows are learnt by heart
    X = np.random.default_rng(0).standard_normal((600, 128))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="memorises its 540 training rows. Use fewer "
                                             "n_components"):
            sae = SparseAutoencoder(600, max_iter=60, random_state=0).fit(X)
    held_out = np.zeros(600, dtype=bool)
    held_out[np.random.RandomState(0).permutation(600)[:60]] = True  # as fit draws them
    assert np.isclose(sae.score(X[held_out]), sae.best_validation_score_, rtol=1e-10)
    assert sae.score(X[~held_out]) > sae.best_validation_score_ + 0.1
    # planted sparse structure generalises: no such warning
    X = _planted(n=600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        sae = SparseAutoencoder(600, max_iter=60, random_state=0).fit(X)
    assert sae.validation_scores_ is not None


def test_max_iter_warns_and_tied_weights_stay_one_array():
    X = _planted(n=300)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        sae = SparseAutoencoder(16, tied=True, max_iter=2, random_state=0).fit(X)
    assert sae.components_ is sae.encoder_weights_
    sae = pickle.loads(pickle.dumps(sae))
    assert sae.components_ is sae.encoder_weights_
    sae.partial_fit(X)
    assert sae.components_ is sae.encoder_weights_
    with pytest.warns(ConvergenceWarning, match="L-BFGS"):
        KLSparseEncoder(4, max_iter=2, random_state=0).fit(X)


def test_dead_latents_and_auxk():
    # far more latents than the data needs and k=1: many never fire
    X = _planted(n=1000, m=8)
    sae = _fit(X, n_components=64, activation="topk", k=1, aux_k=0, max_iter=10,
               dead_threshold=500)
    assert sae.dead_fraction_ > 0.3
    # AuxK gives the dead latents a gradient; without it they get none
    P = {"W_enc": sae.encoder_weights_, "b_enc": sae.encoder_bias_,
         "W_dec": sae.components_, "b_dec": sae.decoder_bias_}
    pre = (X[:200] - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    chosen = np.zeros(64, dtype=bool)
    chosen[np.argmax(pre, axis=1)] = True
    dead = ~chosen
    kw = dict(activation="topk", k=1, l1=0.0, aux_coef=1 / 32, dead=dead)
    g_off = sae_loss_grad(P, X[:200], aux_k=0, **kw)[1]
    g_on = sae_loss_grad(P, X[:200], aux_k=4, **kw)[1]
    assert np.all(g_off["W_enc"][dead] == 0) and np.all(g_off["W_dec"][dead] == 0)
    assert np.count_nonzero(np.abs(g_on["W_dec"][dead]).sum(axis=1)) >= 4


def test_bad_input_is_refused():
    X = _planted(n=50)
    with pytest.raises(ValueError, match="n_components"):
        SparseAutoencoder(0).fit(X)
    sae = _fit(X, max_iter=1)
    with pytest.raises(ValueError, match="features"):
        sae.transform(X[:, :5])
    with pytest.raises(ValueError, match="columns"):
        sae.inverse_transform(np.ones((2, 3)))


# ------------------------------------------------------------ KLSparseEncoder
def _kl_theta(m, d, seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[rng.uniform(-0.5, 0.5, 2 * m * d), 0.1 * rng.standard_normal(m + d)]


@pytest.mark.parametrize("sparse", [False, True])
def test_kl_gradient(sparse):
    X = np.random.default_rng(1).standard_normal((40, 7))
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    theta = _kl_theta(5, 7)

    def f(v):
        return kl_loss_grad(v, X, 5, 0.1, 3.0, 1e-3)[0]

    analytic = kl_loss_grad(theta, X, 5, 0.1, 3.0, 1e-3)[1]
    numeric = approx_fprime(theta, f, 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())


def test_kl_dense_and_gram_routes_agree():
    X = np.random.default_rng(2).standard_normal((301, 9))
    theta = _kl_theta(6, 9, seed=3)
    loss_d, grad_d, rho_d = kl_loss_grad(theta, X, 6, 0.05, 3.0, 1e-4)
    loss_s, grad_s, rho_s = kl_loss_grad(theta, sp.csr_matrix(X), 6, 0.05, 3.0, 1e-4)
    assert np.isclose(loss_d, loss_s, rtol=1e-10)
    np.testing.assert_allclose(grad_d, grad_s, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(rho_d, rho_s)


def _whitened_patches(n=3000):
    """UFLDL's recipe: mean-removed patches, whitened with a low-pass
    roll-off, clipped at 3 standard deviations and scaled to +-0.4."""
    from sklearn.datasets import load_sample_image
    from sklearn.feature_extraction.image import extract_patches_2d

    from sparsecode._kmeans import zca

    grey = load_sample_image("china.jpg").astype(float).mean(axis=2) / 255
    P = extract_patches_2d(grey, (8, 8), max_patches=n, random_state=0).reshape(n, -1)
    P -= P.mean(axis=1, keepdims=True)
    mean, W = zca(P, 10.0)
    P = (P - mean) @ W
    scale = 3 * P.std()
    return 0.4 * np.clip(P, -scale, scale) / scale


def test_kl_mean_activation_near_rho_on_whitened_patches():
    X = _whitened_patches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = KLSparseEncoder(25, rho=0.01, max_iter=400, random_state=0).fit(X)
    assert abs(enc.mean_activation_.mean() / 0.01 - 1) < 0.2
    A = enc.transform(X)
    np.testing.assert_allclose(A.mean(axis=0), enc.mean_activation_, rtol=1e-6)
    # transform and inverse_transform are the closed forms
    ref = 1 / (1 + np.exp(-(X @ enc.encoder_weights_.T + enc.encoder_bias_)))
    np.testing.assert_allclose(A, ref, rtol=1e-10)
    np.testing.assert_allclose(enc.inverse_transform(A),
                               A @ enc.components_ + enc.decoder_bias_, rtol=1e-10)
    curve = np.array(enc.loss_curve_)
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[:-1]))
    assert enc.score(X) > 0.3


def test_kl_lbfgs_stops_when_the_loss_flattens():
    # whitened to unit variance (UFLDL's +-0.4 scaling above converges slower:
    # its loss still falls 5e-5 per iteration at 400, and the default warns)
    from sklearn.datasets import load_sample_image
    from sklearn.feature_extraction.image import extract_patches_2d

    from sparsecode._kmeans import zca

    grey = load_sample_image("china.jpg").astype(float).mean(axis=2) / 255
    P = extract_patches_2d(grey, (8, 8), max_patches=3000, random_state=0).reshape(3000, -1)
    P -= P.mean(axis=1, keepdims=True)
    mean, W = zca(P, 0.1)
    X = (P - mean) @ W
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the defaults converge
        enc = KLSparseEncoder(25, random_state=0).fit(X)
    curve = np.array(enc.loss_curve_)
    assert len(curve) == enc.n_iter_ < 400

    def flat(i):  # the loss's fall over the 10 iterations before iteration i
        return curve[i - 11] - curve[i - 1] <= 10 * 1e-5 * abs(curve[i - 1])

    assert flat(len(curve)) and not any(flat(i) for i in range(11, len(curve)))
    # the rule alone: without it (tol=0) the same iterations, then on to max_iter
    with pytest.warns(ConvergenceWarning, match="max_iter=600"):
        longer = KLSparseEncoder(25, tol=0, max_iter=600, random_state=0).fit(X)
    np.testing.assert_allclose(longer.loss_curve_[:len(curve)], curve, rtol=1e-12)
    assert longer.score(X) - enc.score(X) < 0.01


def test_kl_adam_decreases_the_same_loss():
    X = _whitened_patches(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adam = KLSparseEncoder(16, solver="adam", max_iter=30, learning_rate=1e-2,
                               batch_size=100, random_state=0).fit(X)
        again = KLSparseEncoder(16, solver="adam", max_iter=30, learning_rate=1e-2,
                                batch_size=100, random_state=0).fit(X)
    assert adam.loss_curve_[-1] < 0.5 * adam.loss_curve_[0]
    np.testing.assert_array_equal(adam.components_, again.components_)
    theta = np.concatenate([adam.encoder_weights_.ravel(), adam.components_.ravel(),
                            adam.encoder_bias_, adam.decoder_bias_])
    full = kl_loss_grad(theta, X, 16, 0.05, 3.0, 1e-4)[0]
    assert full < adam.loss_curve_[0]


@pytest.mark.parametrize("sparse", [False, True])
def test_kl_fit_float32_and_sparse_match_dense_float64(sparse):
    X = _planted(n=400, d=12)
    X = np.where(np.abs(X) > 0.2, X, 0.0)
    ref = KLSparseEncoder(6, max_iter=30, random_state=0).fit(X)
    X32 = (sp.csr_matrix(X) if sparse else X).astype(np.float32)
    enc = KLSparseEncoder(6, max_iter=30, random_state=0).fit(X32)
    assert enc.components_.dtype == np.float32 and enc.transform(X32).dtype == np.float32
    # the fit runs in float64 whatever the input: same iterates up to rounding
    np.testing.assert_allclose(enc.components_, ref.components_, rtol=1e-3, atol=1e-4)
    assert np.isclose(enc.score(X32), ref.score(X), rtol=1e-4)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("activation, extra", [
    ("relu", dict(l1=0.3)), ("relu", dict(l1=0.3, dropout=0.3)),
    ("topk", dict(aux_k=3, aux_coef=0.5)), ("topk", dict(dropout=0.3)),
    ("batchtopk", dict(aux_k=2, aux_coef=0.25))])
def test_sparse_minibatch_gradients_equal_dense(activation, extra, tied):
    """A CSR minibatch (never densified: products with it and a rank-one
    shift by b_dec) gives the dense minibatch's loss and gradients."""
    P = _params(m=12, d=30, seed=3, tied=tied)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((17, 30)) * (rng.random((17, 30)) < 0.08)
    X[5] = 0.0  # an empty row
    dead = np.zeros(12, dtype=bool)
    dead[[0, 3, 7, 9]] = True
    kw = dict(activation=activation, k=3, l1=0.0, aux_k=0, aux_coef=0.0, dead=dead)
    kw.update(extra)
    dense = sae_loss_grad(P, X, rng=np.random.default_rng(9), **kw)
    # canonical CSR; non-canonical (duplicates split in halves, unsorted
    # indices, int64 indices); CSC (converted); a csr_array
    M = sp.csr_matrix(X)
    parts = [np.r_[M.indices[a:b], M.indices[a:b]][::-1]
             for a, b in zip(M.indptr[:-1], M.indptr[1:])]
    halves = [np.r_[M.data[a:b], M.data[a:b]][::-1] / 2
              for a, b in zip(M.indptr[:-1], M.indptr[1:])]
    odd = sp.csr_matrix((np.concatenate(halves), np.concatenate(parts), 2 * M.indptr),
                        shape=X.shape)
    assert not odd.has_canonical_format
    big = M.copy()
    big.indices, big.indptr = big.indices.astype(np.int64), big.indptr.astype(np.int64)
    for Xs in (M, odd, big, M.tocsc(), sp.csr_array(X)):
        sparse = sae_loss_grad(P, Xs, rng=np.random.default_rng(9), **kw)
        assert sparse[0] == pytest.approx(dense[0], rel=1e-12)
        for name in NAMES:
            np.testing.assert_allclose(sparse[1][name], dense[1][name], rtol=1e-10,
                                       atol=1e-13, err_msg=name)
        np.testing.assert_array_equal(sparse[2]["fired"], dense[2]["fired"])
    # float32 minibatch against float32 dense
    P32 = {name: value.astype(np.float32) for name, value in P.items()}
    if tied:
        P32["W_dec"] = P32["W_enc"]
    d32 = sae_loss_grad(P32, X.astype(np.float32), rng=np.random.default_rng(9), **kw)
    s32 = sae_loss_grad(P32, sp.csr_matrix(X.astype(np.float32)),
                        rng=np.random.default_rng(9), **kw)
    assert s32[0] == pytest.approx(d32[0], rel=1e-5)
    for name in NAMES:
        assert s32[1][name].dtype == np.float32
        np.testing.assert_allclose(s32[1][name], d32[1][name], rtol=1e-4,
                                   atol=1e-5 * np.abs(d32[1][name]).max(), err_msg=name)


@pytest.mark.parametrize("activation", ["relu", "topk"])
def test_fit_on_wide_sparse_input_matches_dense(activation):
    """Below 10% density the minibatches stay CSR through training; the fit
    equals the fit on the densified matrix to rounding."""
    import sparsecode._autoencoder as ae

    rng = np.random.default_rng(0)
    X = rng.random((300, 200)) * (rng.random((300, 200)) < 0.04)
    kw = dict(activation=activation, k=4, max_iter=3, batch_size=64)
    dense = _fit(X, **kw)
    densify = ae._dense_rows

    def refuse(rows, dtype, buffer=None):
        # (the start densifies a bounded sample for the geometric median,
        # without a buffer; minibatches come with the reused buffer)
        if buffer is not None:
            raise AssertionError("a minibatch of 4% density was densified")
        return densify(rows, dtype, buffer)

    ae._dense_rows = refuse
    try:
        sparse = _fit(sp.csr_matrix(X), **kw)
    finally:
        ae._dense_rows = densify
    # above the threshold the minibatches are densified (and the fit is the same)
    calls = []

    def spy(rows, dtype, buffer=None):
        if buffer is not None:
            calls.append(rows.shape)
        return densify(rows, dtype, buffer)

    ae._dense_rows = spy
    try:
        X_dense = np.where(rng.random(X.shape) < 0.3, rng.random(X.shape), 0.0)
        np.testing.assert_allclose(_fit(sp.csr_matrix(X_dense), **kw).components_,
                                   _fit(X_dense, **kw).components_, rtol=1e-9, atol=1e-12)
    finally:
        ae._dense_rows = densify
    assert len(calls) > 3  # every minibatch, not just the start's sample
    for name in ("components_", "encoder_weights_", "encoder_bias_", "decoder_bias_"):
        np.testing.assert_allclose(getattr(sparse, name), getattr(dense, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)


def test_reassociated_row_dots_match_numpy():
    """csr_row_dots sums with reassociation (fastmath): the same dots as
    numpy's to 1e-12, zero where the gate is closed."""
    from sparsecode._kernels._autoencoder import csr_row_dots

    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        R = rng.standard_normal((6, 1001)).astype(dtype)
        W = rng.standard_normal((9, 1001)).astype(dtype)
        idx = rng.integers(0, 9, 18)
        indptr = np.arange(0, 19, 3)
        gate = np.where(np.arange(18) % 4 == 0, 0.0, 1.0).astype(dtype)
        out = np.empty(18, dtype=dtype)
        csr_row_dots(indptr, idx, R, W, 0.5, gate, out, 0, R.shape[0])
        rows = np.repeat(np.arange(6), 3)
        ref = 0.5 * np.einsum("ij,ij->i", R[rows].astype(np.float64), W[idx].astype(np.float64))
        ref[gate == 0] = 0.0
        tol = 1e-12 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
