"""The bad-input table of DESIGN.md over every public estimator: each case is
refused with a clear error naming the problem, or gives the documented
result; a call that raises leaves a fitted estimator as it was."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecode import (
    DictionaryLearner,
    KLSparseEncoder,
    SparseAttentionTransformer,
    SparseAutoencoder,
    ThresholdEncoder,
)


def _estimators():
    return {
        "DictionaryLearner": DictionaryLearner(4, alpha=0.1, max_iter=3, random_state=0),
        # (whiten="auto" whitens dense input only: each path is checked on its own)
        "ThresholdEncoder": ThresholdEncoder(4, whiten=False, random_state=0),
        "ThresholdEncoder-whiten": ThresholdEncoder(4, mode="triangle", whiten=True,
                                                    random_state=0),
        "SparseAutoencoder": SparseAutoencoder(6, activation="topk", k=2, max_iter=3,
                                               random_state=0),
        "KLSparseEncoder": KLSparseEncoder(3, max_iter=10, random_state=0),
        "SparseAttentionTransformer-bigbird": SparseAttentionTransformer(
            "bigbird", window=4, block_size=4, projection="pca", n_components=4,
            random_state=0),
        "SparseAttentionTransformer-lsh": SparseAttentionTransformer(
            "lsh", n_buckets=4, chunk_size=8, random_state=0),
    }


NAMES = list(_estimators())
FORMATS = ["dense", "csr", "csc"]


def _make(name):
    return _estimators()[name]


def _data(n=40, p=6, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, p))
    X[np.abs(X) < 0.3] = 0.0
    return X


def _as(X, fmt):
    return {"dense": np.asarray, "csr": sp.csr_matrix, "csc": sp.csc_matrix}[fmt](X)


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


def _dense(Z):
    return Z.toarray() if sp.issparse(Z) else np.asarray(Z)


def _fitted_state(est):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v)
            for k, v in vars(est).items() if k.endswith("_")}


def _assert_state(est, state):
    assert set(state) <= set(vars(est))
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(est, key), value)


BAD_FIT = {
    "nan": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
            ValueError, "NaN"),
    "inf": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
            ValueError, "infinity"),
    "empty": (lambda X: X[:0], ValueError, "0 sample"),
    "complex": (lambda X: X + 1j, ValueError, "[Cc]omplex"),
    "strings": (lambda X: X.astype(str).astype(object) + "x", ValueError, "convert|could not"),
    "1d": (lambda X: X[:, 0], ValueError, "2D array"),
}


@pytest.mark.parametrize("case", list(BAD_FIT))
@pytest.mark.parametrize("name", NAMES)
def test_bad_input_refused_and_fitted_state_kept(name, case):
    make_bad, error, match = BAD_FIT[case]
    est = _fit(_make(name), _data())
    state = _fitted_state(est)
    bad = make_bad(_data())
    with pytest.raises(error, match=match):
        _fit(est, bad)
    _assert_state(est, state)
    if case not in ("empty",):
        with pytest.raises((ValueError, TypeError)):
            est.transform(bad)
        _assert_state(est, state)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_number_of_features_at_transform(name):
    est = _fit(_make(name), _data())
    state = _fitted_state(est)
    with pytest.raises(ValueError, match="features"):
        est.transform(_data(p=5))
    _assert_state(est, state)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_formats_layouts_and_dtypes_agree(name, fmt):
    """CSR, CSC, Fortran order, read-only and int64-indexed input give the
    dense result; float32 gives float32; finite input gives finite codes."""
    X = _data()
    ref_est = _fit(_make(name), X)
    ref = _dense(ref_est.transform(X))
    assert np.all(np.isfinite(ref))
    Xf = _as(X, fmt)
    if fmt == "dense":
        variants = [np.asfortranarray(X), X.copy()]
        variants[1].setflags(write=False)
    else:
        big = Xf.copy()
        big.indices = big.indices.astype(np.int64)
        big.indptr = big.indptr.astype(np.int64)
        variants = [Xf, big]
    for V in variants:
        est = _fit(_make(name), V)
        np.testing.assert_allclose(_dense(est.transform(V)), ref, rtol=1e-7, atol=1e-9)
    est32 = _fit(_make(name), _as(X.astype(np.float32), fmt))
    Z32 = est32.transform(_as(X.astype(np.float32), fmt))
    assert Z32.dtype == np.float32 and np.all(np.isfinite(_dense(Z32)))


@pytest.mark.parametrize("name", NAMES)
def test_memory_mapped_input(name, tmp_path):
    X = _data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    ref = _dense(_fit(_make(name), X).transform(X))
    np.testing.assert_allclose(_dense(_fit(_make(name), Xm).transform(Xm)), ref,
                               rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_one_sample_and_constant_data(name):
    """One sample and all-equal rows: a clear refusal or finite codes."""
    for X in (_data(n=1), np.ones((30, 6))):
        est = _make(name)
        try:
            _fit(est, X)
        except ValueError as exc:
            assert str(exc)  # a message, not a bare error
            continue
        assert np.all(np.isfinite(_dense(est.transform(X))))


@pytest.mark.parametrize("name", NAMES)
def test_n_components_larger_than_possible(name):
    """More atoms than samples: refused by the estimators that draw atoms
    from the samples, handled by the others."""
    X = _data(n=5)
    est = _make(name).set_params(n_components=50)
    try:
        _fit(est, X)
    except ValueError as exc:
        assert "n_components" in str(exc) or "n_samples" in str(exc)
        return
    assert np.all(np.isfinite(_dense(est.transform(X))))


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_pickled_and_thread_safe(name):
    """Same random_state, same result; a pickled estimator transforms the
    same; two threads transforming at once match serial calls."""
    import pickle
    import threading

    X = _data(n=400, p=8)
    a, b = _fit(_make(name), X), _fit(_make(name), X)
    _assert_state(b, _fitted_state(a))
    ref = _dense(a.transform(X))
    np.testing.assert_array_equal(_dense(pickle.loads(pickle.dumps(a)).transform(X)), ref)
    out = [None, None]

    def run(i):
        for _ in range(3):
            out[i] = _dense(a.transform(X))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        np.testing.assert_array_equal(o, ref)


@pytest.mark.parametrize("name", [n for n in NAMES if "n_jobs" in _make(n).get_params()])
def test_n_jobs_does_not_change_results(name):
    """Work is split into the same chunks whatever the thread count (each
    thread takes whole chunks), so one and two threads give the same bits."""
    X = _data(n=600, p=8)
    one = _fit(_make(name).set_params(n_jobs=1), X)
    two = _fit(_make(name).set_params(n_jobs=2), X)
    _assert_state(two, _fitted_state(one))
    np.testing.assert_array_equal(_dense(one.transform(X)), _dense(two.transform(X)))


def test_grid_search_with_two_loky_workers():
    """Each estimator in a Pipeline under GridSearchCV(n_jobs=2): the joblib
    (loky) worker processes import sparsecode, load the cached kernels and
    give the same scores as the serial search."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    grids = [
        (DictionaryLearner(8, max_iter=2, random_state=0), {"enc__alpha": [0.1, 0.3]}),
        (ThresholdEncoder(16, random_state=0), {"enc__mode": ["soft", "triangle"]}),
        (SparseAutoencoder(16, max_iter=3, random_state=0), {"enc__l1": [1e-3, 1e-2]}),
        (KLSparseEncoder(8, max_iter=20, random_state=0), {"enc__rho": [0.05, 0.2]}),
        (SparseAttentionTransformer("window", window=4), {"enc__window": [2, 4]}),
    ]
    for est, grid in grids:
        pipe = Pipeline([("enc", est), ("clf", LogisticRegression(max_iter=200))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            serial = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X, y)
            parallel = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y)
        np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                                   serial.cv_results_["mean_test_score"], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_booleans_refused_for_integer_parameters(name):
    """``True`` is an ``Integral`` to Python: every integer parameter refuses
    it by name instead of failing inside numpy ("an integer is required")."""
    from sklearn.utils._param_validation import InvalidParameterError

    from sparsecode._validation import IntInterval

    est = _fit(_make(name), _data())
    state = _fitted_state(est)
    integer = [param for param, constraints in type(est)._parameter_constraints.items()
               if any(isinstance(c, IntInterval) for c in constraints)]
    assert integer
    for param in integer:
        bad = est.__class__(**{**est.get_params(), param: True})
        with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
            _fit(bad, _data())
    with pytest.raises(InvalidParameterError, match="n_components"):
        _fit(est.set_params(n_components=np.True_), _data())
    _assert_state(est, state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_encode_refuses_overflowing_products(dtype):
    """Finite data whose products overflow (1e30 * 1e30 in float32, 1e200 *
    1e200 in float64) is refused with a message, never coded as inf/NaN."""
    from sparsecode import sparse_encode

    big = 1e30 if dtype == np.float32 else 1e200
    X = np.array([[0.0, big], [1.0, 0.0]], dtype=dtype)
    D = np.array([[0.0, 1.0], [0.0, big]])
    for Xin in (X, sp.csr_matrix(X)):
        with pytest.raises(ValueError, match="overflow"):
            sparse_encode(Xin, D, alpha=0.1)
    D = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(sparse_encode(X, D, alpha=0.0, algorithm="lars"), X,
                               rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: SparseAutoencoder(4, learning_rate=1e200, max_iter=2, random_state=0),
    lambda: SparseAutoencoder(4, activation="topk", k=2, learning_rate=1e200, max_iter=2,
                              random_state=0),
    lambda: KLSparseEncoder(3, solver="adam", learning_rate=1e300, max_iter=2,
                            random_state=0),
])
def test_diverging_training_is_refused_and_state_kept(make):
    """A learning rate far too large for the data (found by the fuzz run:
    NaN codes from finite input) raises instead of keeping non-finite
    weights; a fitted estimator keeps its state, and partial_fit too."""
    X = 1e6 * _data()
    est = _fit(make().set_params(learning_rate=1e-3), X)
    state = _fitted_state(est)
    est.set_params(learning_rate=make().learning_rate)
    with pytest.raises(ValueError, match="diverged"):
        _fit(est, X)
    _assert_state(est, state)
    if hasattr(est, "partial_fit"):
        with pytest.raises(ValueError, match="diverged"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.partial_fit(X)
        _assert_state(est, state)


@pytest.mark.parametrize("algorithm", ["lars", "cd", "fista", "omp", "threshold"])
def test_sparse_encode_refuses_codes_that_overflow(algorithm):
    """Found by the fuzz run: a subnormal atom (1.4e-45 in float32) and
    alpha = 0 make the exact code 7e44, beyond float32; refused by name
    instead of returned as inf."""
    from sparsecode import sparse_encode

    X = np.array([[1.0], [0.0]], dtype=np.float32)
    D = np.array([[0.0], [1.4e-45]])
    kw = dict(n_nonzero_coefs=1) if algorithm == "omp" else dict(alpha=0.0)
    if algorithm in ("threshold", "omp"):
        # the threshold's codes are the (tiny) correlations; OMP takes an atom
        # of squared norm 2e-90 for a zero one and codes nothing: both finite
        assert np.all(np.isfinite(sparse_encode(X, D, algorithm=algorithm, **kw)))
        return
    with pytest.raises(ValueError, match="codes overflow float32"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sparse_encode(X, D, algorithm=algorithm, **kw)
    ok = sparse_encode(X.astype(np.float64), D, algorithm=algorithm, **kw)
    np.testing.assert_allclose(ok[0, 1], 1 / 1.4e-45, rtol=1e-6)  # fits in float64
