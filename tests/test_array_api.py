"""Inputs of other array namespaces under scikit-learn's array API dispatch
(sparsecode/_array_api.py) and the GEMM route written against the array API
standard (sparsecode/_dense.py), run on array_api_strict: its "CPU_DEVICE"
stands for the host and its "device1" for an accelerator (what a PyTorch
CUDA tensor would take). The oracle is the numpy path: LARS for the lasso,
the numpy fit and transform for the estimators. (scikit-learn's own array
API checks of every estimator run in test_common.py.)"""

import array_api_compat
import array_api_compat.numpy as xnp
import array_api_strict as xs
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_solves_lasso, lasso_objective, make_problem
from sklearn import clone, config_context
from sklearn.exceptions import ConvergenceWarning

from sparsecode import (
    DictionaryLearner,
    KLSparseEncoder,
    SparseAttentionTransformer,
    SparseAutoencoder,
    ThresholdEncoder,
    sparse_encode,
)
from sparsecode._backend import NUMPY
from sparsecode._dense import fista_loop, generic_kernels

HOST, DEVICE = xs.Device("CPU_DEVICE"), xs.Device("device1")


def _strict(A, device=DEVICE):
    return xs.asarray(np.asarray(A), device=device)


def _numpy(A):
    return np.asarray(xs.asarray(A, device=HOST))


def _is_strict(A):
    return array_api_compat.is_array_api_obj(A) and \
        array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(A))


def _dispatch():
    return config_context(array_api_dispatch=True)


# ------------------------------------------------------------- the kernels
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("accelerate", [False, True])
def test_generic_kernels_equal_the_numba_ones(positive, accelerate):
    """The step and gap in the standard's operations do the arithmetic of
    the Numba kernels: same iterates, momenta and converged rows."""
    rng = np.random.default_rng(0)
    n, k = 40, 16
    B = rng.standard_normal((k, k))
    G = B @ B.T / k
    C = rng.standard_normal((n, k))
    Y, Z = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    T = 1.0 + rng.random(n) * 3
    inv_lip = 1.0 / np.linalg.eigvalsh(G)[-1]
    numba_args = [a.copy() for a in (Y @ G, C, Y, Z, T)]
    NUMPY.kernels().step(*numba_args, inv_lip, 0.3, positive, accelerate)
    strict_args = [_strict(a) for a in (Y @ G, C, Y, Z, T)]
    generic = generic_kernels(xs)
    generic.step(*strict_args, inv_lip, 0.3, positive, accelerate)
    for name, i in (("Y", 2), ("Z", 3), ("T", 4)):
        np.testing.assert_allclose(_numpy(strict_args[i]), numba_args[i], rtol=1e-12,
                                   atol=1e-14, err_msg=name)
    sq = (C ** 2).sum(1) * 3
    for tol in (1e-1, 1e-2, 1e-3):
        expected = NUMPY.kernels().gap(Z, C, G, sq, 0.3, positive, tol)
        got = _numpy(generic.gap(_strict(Z), _strict(C), _strict(G), _strict(sq), 0.3,
                                 positive, tol))
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(_numpy(generic.threshold(_strict(C), 0.3, positive)),
                               NUMPY.kernels().threshold(C, 0.3, positive), rtol=1e-15)


def test_fista_loop_is_the_same_on_every_namespace():
    """The loop every backend shares, on numpy with the Numba kernels and on
    array_api_strict with the generic ones: the same codes and counts."""
    X, D, alpha = make_problem(n_samples=30)
    G = D @ D.T
    C = X @ D.T
    sq = (X ** 2).sum(1)
    inv_lip = 1.0 / np.linalg.eigvalsh(G)[-1]
    args = (inv_lip, alpha, False, True, 500, 1e-8)
    ref, ref_iter, ref_failed = fista_loop(C.copy(), np.zeros_like(C), sq, G, *args, xp=xnp,
                                           kernels=NUMPY.kernels())
    got, got_iter, failed = fista_loop(_strict(C), _strict(np.zeros_like(C)), _strict(sq),
                                       _strict(G), *args, xp=xs, kernels=generic_kernels(xs))
    np.testing.assert_allclose(_numpy(got), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(_numpy(got_iter), ref_iter)
    assert failed == ref_failed == 0


# ---------------------------------------------------------- sparse_encode
@pytest.mark.parametrize("device", [HOST, DEVICE])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [dict(), dict(positive=True), dict(l2=0.3),
                                     dict(algorithm="ista"), dict(algorithm="auto")])
def test_sparse_encode_solves_the_lasso_in_the_namespace(device, dtype, options):
    """On the host the Numba kernels run on a numpy view, on device1 the
    generic kernels in array_api_strict itself; either way the codes come
    back in array_api_strict on X's device, in X's dtype, and solve the
    lasso as well as LARS."""
    X, D, alpha = make_problem(n_samples=30, dtype=dtype)
    kwargs = dict(algorithm="fista", alpha=alpha, tol=1e-10, max_iter=20_000)
    kwargs.update(options)
    with _dispatch():
        Z, n_iter = sparse_encode(_strict(X, device), _strict(D, device), return_n_iter=True,
                                  **kwargs)
    assert _is_strict(Z) and Z.device == device and n_iter.device == device
    assert Z.dtype == (xs.float64 if dtype == np.float64 else xs.float32)
    Z, n_iter = _numpy(Z), _numpy(n_iter)
    assert np.all(n_iter >= 1)
    assert_solves_lasso(X, D, Z, alpha, dtype, l2=options.get("l2", 0.0),
                        positive=options.get("positive", False))


@pytest.mark.parametrize("device", [HOST, DEVICE])
@pytest.mark.parametrize("options", [dict(algorithm="threshold", alpha=0.2),
                                     dict(algorithm="lars"), dict(algorithm="cd"),
                                     dict(algorithm="omp", n_nonzero_coefs=3),
                                     dict(algorithm="fista", gram="given"),
                                     dict(algorithm="fista", init="given")])
def test_sparse_encode_equals_numpy(device, options):
    """Every algorithm and argument: the numpy result, in the namespace
    (the threshold on device1 by the generic kernel, OMP, LARS and CD on the
    host and back)."""
    X, D, alpha = make_problem(n_samples=20)
    kwargs = dict(alpha=alpha, tol=1e-12, max_iter=5000)
    kwargs.update(options)
    if options.get("gram") == "given":
        kwargs["gram"] = D @ D.T
    if options.get("init") == "given":
        kwargs["init"] = sparse_encode(X, D, alpha=2 * alpha)
    expected = sparse_encode(X, D, **kwargs)
    for name in ("gram", "init"):
        if name in kwargs:
            kwargs[name] = _strict(kwargs[name], device)
    with _dispatch():
        Z = sparse_encode(_strict(X, device), _strict(D, device), **kwargs)
    assert Z.device == device
    exact_algorithms = ("threshold", "lars", "cd", "omp")
    tol = 0 if options["algorithm"] in exact_algorithms and device == HOST else 1e-7
    np.testing.assert_allclose(_numpy(Z), expected, atol=tol, rtol=0)


def test_sparse_encode_on_the_device_chunks_and_warns(monkeypatch):
    from sparsecode import _dense

    X, D, alpha = make_problem(n_samples=30)
    monkeypatch.setattr(_dense, "CHUNK_ENTRIES", 7 * D.shape[0])  # chunks of 7 rows
    with _dispatch():
        Z = sparse_encode(_strict(X), _strict(D), alpha=alpha, tol=1e-10, max_iter=20_000)
    exact = sparse_encode(X, D, alpha=alpha, algorithm="lars")
    ours = lasso_objective(X, D, _numpy(Z), alpha).sum()
    assert ours <= lasso_objective(X, D, exact, alpha).sum() * (1 + 1e-8)
    with _dispatch(), pytest.warns(ConvergenceWarning, match="reached max_iter=3"):
        sparse_encode(_strict(X), _strict(D), alpha=alpha, max_iter=3)


@pytest.mark.parametrize("bad, match", [
    (dict(X=np.full((3, 4), np.nan)), "X contains NaN"),
    (dict(X=np.ones(4)), "Expected 2D array for X"),
    (dict(X=np.ones((0, 4))), "X needs at least one"),
    (dict(D=np.ones((5, 3))), "dictionary must have shape"),
    (dict(D=np.full((5, 4), np.inf)), "dictionary contains NaN"),
    (dict(init=np.ones((2, 5))), "init has shape"),
    (dict(gram=np.ones((4, 4))), "gram has shape"),
    (dict(l2=0.5, algorithm="threshold"), "l2 applies"),
    (dict(D="host"), "same array namespace and device as X"),
])
def test_sparse_encode_on_the_device_refuses_bad_input(bad, match):
    X = bad.pop("X", np.ones((3, 4)))
    D = bad.pop("D", np.eye(5, 4))
    Xs = _strict(X)
    Ds = _strict(D, HOST if isinstance(D, str) else DEVICE) if not isinstance(D, str) \
        else _strict(np.eye(5, 4), HOST)
    kwargs = {key: _strict(v) if isinstance(v, np.ndarray) else v for key, v in bad.items()}
    with _dispatch(), pytest.raises(ValueError, match=match):
        sparse_encode(Xs, Ds, alpha=0.1, **kwargs)


def test_sparse_encode_on_the_device_takes_numpy_atoms_and_integers():
    X, D, alpha = make_problem(n_samples=10)
    Xi = np.rint(10 * X)
    with _dispatch():
        Z = sparse_encode(_strict(Xi.astype(np.int64)), D, alpha=alpha, tol=1e-10)
    assert Z.dtype == xs.float64 and Z.device == DEVICE
    np.testing.assert_allclose(_numpy(Z), sparse_encode(Xi, D, alpha=alpha, tol=1e-10),
                               atol=1e-7)


def test_numpy_input_under_dispatch_is_unchanged():
    X, D, alpha = make_problem(n_samples=10)
    with _dispatch():
        Z = sparse_encode(X, D, alpha=alpha)
    assert isinstance(Z, np.ndarray)
    np.testing.assert_array_equal(Z, sparse_encode(X, D, alpha=alpha))


# --------------------------------------------------------------- estimators
ESTIMATORS = [
    DictionaryLearner(n_components=6, alpha=0.1, max_iter=5, random_state=0),
    DictionaryLearner(n_components=6, alpha=0.1, method="batch", max_iter=3,
                      transform_algorithm="omp", transform_n_nonzero_coefs=2, random_state=0),
    ThresholdEncoder(n_components=5, mode="triangle", whiten=True, random_state=0),
    ThresholdEncoder(n_components=5, mode="topk", k=2, random_state=0),
    SparseAutoencoder(6, activation="topk", k=2, max_iter=3, random_state=0),
    KLSparseEncoder(4, solver="adam", max_iter=3, random_state=0),
    SparseAttentionTransformer("window", window=4, projection="pca", n_components=3,
                               random_state=0),
    SparseAttentionTransformer("bigbird", window=2, block_size=4, random_state=0),
]


def _ids(est):
    return type(est).__name__


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("device", [HOST, DEVICE])
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_estimators_fit_and_transform_in_the_namespace(estimator, device):
    """Fitted arrays, transform, inverse_transform and score from
    array_api_strict input equal the numpy ones exactly (the computation is
    numpy's), and live in array_api_strict on X's device."""
    X, _, _ = make_problem(n_samples=40, n_features=8)
    ref = clone(estimator).fit(X)
    est = clone(estimator)
    Xs = _strict(X, device)
    with _dispatch():
        assert est.fit(Xs) is est
        out = est.transform(Xs)
        assert _is_strict(out) and out.device == device
        np.testing.assert_array_equal(_numpy(out), ref.transform(X))
        for method in ("inverse_transform", "score"):
            if hasattr(est, method):
                arg = out if method == "inverse_transform" else Xs
                got = getattr(est, method)(arg)
                expected = getattr(ref, method)(ref.transform(X) if arg is out else X)
                if method == "score":
                    assert isinstance(got, float) and got == expected
                else:
                    assert got.device == device
                    np.testing.assert_array_equal(_numpy(got), expected)
    arrays = {key: value for key, value in vars(ref).items()
              if isinstance(value, np.ndarray) and value.dtype.kind in "biuf"}
    assert arrays
    for key, value in arrays.items():
        moved = getattr(est, key)
        assert _is_strict(moved) and moved.device == device, key
        np.testing.assert_array_equal(_numpy(moved), value, err_msg=key)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_and_fit_transform_in_the_namespace():
    X, _, _ = make_problem(n_samples=40, n_features=8)
    ref = SparseAutoencoder(5, max_iter=2, random_state=0).partial_fit(X).partial_fit(X)
    est = SparseAutoencoder(5, max_iter=2, random_state=0)
    with _dispatch():
        est.partial_fit(_strict(X)).partial_fit(_strict(X))
    np.testing.assert_array_equal(_numpy(est.encoder_weights_), ref.encoder_weights_)
    sat = SparseAttentionTransformer("window", window=4)
    with _dispatch():
        out = sat.fit_transform(_strict(X), lengths=_strict(np.array([15, 25])))
    np.testing.assert_array_equal(
        _numpy(out), SparseAttentionTransformer("window", window=4).fit_transform(
            X, lengths=np.array([15, 25])))


def test_transform_in_another_namespace_is_refused():
    X, _, _ = make_problem(n_samples=30, n_features=8)
    est = DictionaryLearner(n_components=4, alpha=0.1, max_iter=2, random_state=0)
    with _dispatch():
        est.fit(_strict(X))
        with pytest.raises(ValueError, match=r"DictionaryLearner.transform\(\) must use the "
                                             "same namespace"):
            est.transform(X)
        with pytest.raises(ValueError, match="same namespace and the same device"):
            est.transform(_strict(X, HOST))
        with pytest.raises(ValueError, match="same namespace"):
            est.partial_fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="under array_api_dispatch"):
        est.transform(X)
    # a numpy refit takes it back to numpy, with or without dispatch
    est.fit(X)
    assert isinstance(est.components_, np.ndarray) and "_array_api_fit" not in vars(est)
    est.transform(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_failed_fit_in_the_namespace_keeps_the_fitted_estimator():
    X, _, _ = make_problem(n_samples=30, n_features=8)
    est = SparseAutoencoder(4, max_iter=2, random_state=0)
    with _dispatch():
        est.fit(_strict(X))
        before = {key: _numpy(v) for key, v in vars(est).items() if _is_strict(v)}
        with pytest.raises(ValueError):
            est.partial_fit(_strict(np.ones((5, 3))))  # wrong number of features
        with pytest.raises(ValueError):
            est.fit(_strict(np.full((5, 8), np.nan)))
    after = {key: v for key, v in vars(est).items() if _is_strict(v)}
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(_numpy(after[key]), value)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_constructor_arrays_and_tied_weights_keep_their_identity():
    """A fit under dispatch moves the fitted state, not the parameters the
    user gave (dict_init stays numpy: get_params, clone and a second fit
    work); a tied decoder stays the encoder's array."""
    X, D, _ = make_problem(n_samples=30, n_features=8, n_components=5)
    dl = DictionaryLearner(n_components=5, alpha=0.1, max_iter=2, dict_init=D,
                           random_state=0)
    with _dispatch():
        dl.fit(_strict(X))
        assert isinstance(dl.get_params()["dict_init"], np.ndarray)
        dl.fit(_strict(X))
        clone(dl).fit(_strict(X))
    assert _is_strict(dl.components_)
    sae = SparseAutoencoder(4, tied=True, max_iter=2, random_state=0)
    with _dispatch():
        sae.fit(_strict(X))
        assert sae.components_ is sae.encoder_weights_
        sae.partial_fit(_strict(X))
        assert sae.components_ is sae.encoder_weights_


def test_attention_pattern_and_weights_after_a_fit_in_the_namespace():
    X, _, _ = make_problem(n_samples=30, n_features=6)
    ref = SparseAttentionTransformer("bigbird", window=2, block_size=4, projection="pca",
                                     n_components=3, random_state=0).fit(X)
    est = clone(ref)
    with _dispatch():
        est.fit(_strict(X))
        weights = est.attention_weights(_strict(X))
        pattern = est.attention_pattern(X=_strict(X))
    assert sp.issparse(weights) and sp.issparse(pattern)
    np.testing.assert_array_equal(weights.toarray(), ref.attention_weights(X).toarray())
    np.testing.assert_array_equal(pattern.toarray(), ref.attention_pattern(X=X).toarray())
    np.testing.assert_array_equal(est.attention_pattern(30).toarray(),
                                  ref.attention_pattern(30).toarray())


def test_a_device_without_float64_codes_on_the_host(monkeypatch):
    """The device route needs float64 (the gap, the Gram): where the device
    has none (PyTorch's MPS) the codes are made on the host and moved back."""
    from sparsecode import _array_api, _dense

    X, D, alpha = make_problem(n_samples=10)
    monkeypatch.setattr(_array_api, "has_float64", lambda xp, dev: False)

    def not_here(*args, **kwargs):
        raise AssertionError("the device route ran")

    monkeypatch.setattr(_dense, "encode", not_here)
    with _dispatch():
        Z = sparse_encode(_strict(X), _strict(D), alpha=alpha)
    assert Z.device == DEVICE
    np.testing.assert_array_equal(_numpy(Z), sparse_encode(X, D, alpha=alpha))


def test_what_the_gpu_covers_decides_cupy_input_under_dispatch():
    """Under dispatch, CuPy input goes to the GPU path where it covers the
    estimator's settings and to the host otherwise (_gpu_supports)."""
    assert DictionaryLearner()._gpu_supports("fit")
    assert not DictionaryLearner(method="ksvd")._gpu_supports("fit")
    assert not DictionaryLearner(fit_algorithm="lars")._gpu_supports("partial_fit")
    assert DictionaryLearner(fit_algorithm="lars")._gpu_supports("transform")
    assert not DictionaryLearner(transform_algorithm="cd")._gpu_supports("transform")
    assert DictionaryLearner(transform_n_nonzero_coefs=3)._gpu_supports("transform")
    assert SparseAutoencoder(4)._gpu_supports("fit")
    assert SparseAutoencoder(4, dropout=0.1, prune=0.5, early_stopping=True)._gpu_supports(
        "fit")
    assert KLSparseEncoder(4)._gpu_supports("fit")
    assert ThresholdEncoder(4, whiten=True)._gpu_supports("fit")
    assert ThresholdEncoder(dictionary=DictionaryLearner(3))._gpu_supports("fit")
    assert not ThresholdEncoder(
        dictionary=DictionaryLearner(3, fit_algorithm="lars"))._gpu_supports("fit")
