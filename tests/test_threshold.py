"""ThresholdEncoder against closed forms, k-means against scikit-learn."""

import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from sparsecode import DictionaryLearner, ThresholdEncoder, _threshold
from sparsecode._kmeans import zca

MODES = ["soft", "hard", "topk", "triangle"]


def _data(n=300, p=12, seed=0, dtype=np.float64, density=None):
    rng = np.random.default_rng(seed)
    if density is None:
        return rng.standard_normal((n, p)).astype(dtype)
    return sp.random(n, p, density=density, format="csr", random_state=seed, dtype=dtype)


def _reference(X, D, mode, alpha, k, split):
    """The features by their definitions, in float64 on dense arrays."""
    X = np.asarray(X.todense() if sp.issparse(X) else X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    C = X @ D.T
    if mode == "triangle":
        z = cdist(X, D)
        return np.maximum(z.mean(axis=1, keepdims=True) - z, 0.0)
    if mode == "soft":
        pos, neg = np.maximum(C - alpha, 0), np.maximum(-C - alpha, 0)
        return np.hstack([pos, neg]) if split else pos
    if mode == "hard":
        Z = np.where(np.abs(C) > alpha, C, 0.0)
    else:
        Z = np.zeros_like(C)
        top = np.argsort(-np.abs(C), axis=1, kind="stable")[:, :k]
        np.put_along_axis(Z, top, np.take_along_axis(C, top, axis=1), axis=1)
    return np.hstack([np.maximum(Z, 0), np.maximum(-Z, 0)]) if split else Z


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_closed_forms(mode, split, sparse, dtype):
    X = _data(dtype=dtype, density=0.5 if sparse else None)
    D = np.random.default_rng(1).standard_normal((20, X.shape[1]))
    enc = ThresholdEncoder(dictionary=D, mode=mode, alpha=0.7, k=5, split_sign=split)
    Z = enc.fit(X).transform(X)
    assert Z.dtype == dtype and isinstance(Z, np.ndarray)
    expected = _reference(X, D, mode, 0.7, 5, split)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(Z, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    assert enc.get_feature_names_out().shape == (Z.shape[1],)

    Zs = enc.set_params(sparse_output=True).transform(X)
    assert sp.issparse(Zs) and Zs.format == "csr" and Zs.dtype == dtype
    np.testing.assert_array_equal(Zs.toarray(), Z)
    assert Zs.nnz == np.count_nonzero(Z)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("sparse,dtype", [(False, np.float64), (True, np.float32)])
def test_closed_forms_many_atoms_and_chunks(mode, split, sparse, dtype):
    # 600 atoms: the sampled top-k threshold; 2000 rows: many chunks per thread
    X = _data(n=2000, p=16, dtype=dtype, density=0.5 if sparse else None)
    D = np.random.default_rng(4).standard_normal((600, 16))
    enc = ThresholdEncoder(dictionary=D, mode=mode, alpha=1.5, k=37, split_sign=split)
    Z = enc.fit(X).transform(X)
    expected = _reference(X, D, mode, 1.5, 37, split)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(Z, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    np.testing.assert_array_equal(enc.set_params(sparse_output=True).transform(X).toarray(), Z)


def test_duplicate_csr_entries_are_summed():
    # the same matrix with every stored entry split into two halves
    X = _data(n=50, p=6, density=0.5)
    indices = np.empty(2 * X.nnz, dtype=X.indices.dtype)
    data = np.empty(2 * X.nnz)
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        indices[2 * lo:2 * hi] = np.r_[X.indices[lo:hi], X.indices[lo:hi]]
        data[2 * lo:2 * hi] = np.r_[X.data[lo:hi], X.data[lo:hi]] / 2
    dup = sp.csr_matrix((data, indices, 2 * X.indptr), shape=X.shape)
    assert not dup.has_canonical_format
    for mode in MODES:
        enc = ThresholdEncoder(8, mode=mode, whiten=mode == "triangle", random_state=0)
        np.testing.assert_allclose(enc.fit(dup).transform(dup), enc.fit(X).transform(X),
                                   atol=1e-12)
    assert not dup.has_canonical_format  # the caller's matrix is not touched


def test_topk_keeps_exactly_k_largest():
    X = _data(n=200, p=10)
    enc = ThresholdEncoder(dictionary=np.random.default_rng(2).standard_normal((30, 10)),
                           mode="topk", k=7, split_sign=False).fit(X)
    Z = enc.transform(X)
    assert np.all(np.count_nonzero(Z, axis=1) == 7)
    C = X @ enc.components_.T
    kept_min = np.where(Z != 0, np.abs(C), np.inf).min(axis=1)
    dropped_max = np.where(Z == 0, np.abs(C), -np.inf).max(axis=1)
    assert np.all(kept_min >= dropped_max)
    # ties: a row of equal responses still gets exactly k entries
    tied = ThresholdEncoder(dictionary=np.ones((9, 3)), mode="topk", k=4).fit(X[:5, :3])
    assert np.all(np.count_nonzero(tied.transform(np.ones((2, 3))), axis=1) == 4)


def test_sparse_output_keeps_sparse_array_type():
    X = sp.csr_array(_data(density=0.3))
    enc = ThresholdEncoder(6, sparse_output=True, random_state=0).fit(X)
    assert isinstance(enc.transform(X), sp.csr_array)
    assert isinstance(enc.transform(sp.csr_matrix(X)), sp.csr_matrix)


@pytest.mark.parametrize("mode", MODES)
def test_threads_give_identical_features(mode):
    X = _data(n=3000, p=16)
    enc = ThresholdEncoder(64, mode=mode, random_state=0, n_jobs=1).fit(X)
    ref = enc.transform(X)
    np.testing.assert_array_equal(enc.set_params(n_jobs=2).transform(X), ref)
    # chunks split the rows: the result does not depend on where they fall
    # (up to rounding: the chunks' GEMMs then have other row counts, which
    # BLAS may block apart)
    np.testing.assert_allclose(enc.transform(X[1234:]), ref[1234:], rtol=1e-12,
                               atol=1e-12 * np.abs(ref).max())


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_concurrent_transforms_match_serial_and_restore_blas():
    X = _data(n=4000, p=16)
    enc = ThresholdEncoder(200, mode="topk", random_state=0).fit(X)
    ref = enc.transform(X)
    before = _blas_threads()
    results = [None] * 4

    def run(i):
        for _ in range(5):
            results[i] = enc.transform(X)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, ref)
    assert _blas_threads() == before


def test_chunk_failure_waits_for_every_chunk_and_restores_blas():
    from sparsecode._chunks import map_chunks
    from sparsecode._threads import _available

    before = _blas_threads()
    done = []

    def work(start, stop, scratch):
        if start == 0:
            raise RuntimeError("chunk 0")
        time.sleep(0.01)
        done.append(start)

    with pytest.raises(RuntimeError, match="chunk 0"):
        map_chunks(100, 10, work, n_jobs=2)
    # the caller's range stopped at its failed chunk; the worker's range had
    # finished by the time the call raised (n_jobs is capped at the kernels'
    # threads, NUMBA_NUM_THREADS: with one, the caller's range is every chunk)
    assert sorted(done) == ([50, 60, 70, 80, 90] if _available() >= 2 else [])
    assert _blas_threads() == before


# ----------------------------------------------------------------- whitening
def test_zca_whitens():
    X = _data(n=2000, p=8) @ np.random.default_rng(3).standard_normal((8, 8))
    mean, W = zca(X, 1e-10)
    Xw = (X - mean) @ W
    np.testing.assert_allclose(Xw.T @ Xw / len(X), np.eye(8), atol=1e-6)
    np.testing.assert_allclose(W, W.T)  # ZCA: symmetric, the closest whitening to X
    mean_s, W_s = zca(sp.csr_matrix(X), 1e-10)
    np.testing.assert_allclose(mean_s, mean)
    np.testing.assert_allclose(W_s, W, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_whitened_features_match_explicit_whitening(mode):
    X = _data(n=400, p=10, density=0.4)
    enc = ThresholdEncoder(15, mode=mode, whiten=True, alpha=0.3, k=4, random_state=0).fit(X)
    Xw = (X.toarray() - enc.mean_) @ enc.whitening_
    expected = _reference(Xw, enc.components_, mode, 0.3, 4, True)
    np.testing.assert_allclose(enc.transform(X), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(enc.transform(X.toarray()), expected, rtol=1e-9, atol=1e-9)


def test_whitened_float32_matches_float64():
    X = _data(n=500, p=10)
    ref = ThresholdEncoder(20, whiten=True, mode="triangle", random_state=0).fit(X)
    enc = ThresholdEncoder(dictionary=ref.components_, mode="triangle", whiten=True)
    Z32 = enc.fit(X.astype(np.float32)).transform(X.astype(np.float32))
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, ref.transform(X), rtol=1e-4, atol=1e-4)


def test_whiten_auto_whitens_dense_input_with_a_dictionary_learned_here(monkeypatch):
    X = _data(n=400, p=12)
    dense = ThresholdEncoder(10, random_state=0).fit(X)
    ref = ThresholdEncoder(10, whiten=True, random_state=0).fit(X)
    assert dense.whitening_ is not None
    np.testing.assert_array_equal(dense.whitening_, ref.whitening_)
    np.testing.assert_array_equal(dense.transform(X), ref.transform(X))
    # sparse input, given atoms, a fitted estimator, one sample: not whitened
    Xs = sp.csr_matrix(X * (np.abs(X) > 0.5))
    auto = ThresholdEncoder(10, random_state=0).fit(Xs)
    assert auto.whitening_ is None
    plain = ThresholdEncoder(10, whiten=False, random_state=0).fit(Xs)
    np.testing.assert_array_equal(auto.transform(Xs), plain.transform(Xs))
    assert ThresholdEncoder(dictionary=ref.components_).fit(X).whitening_ is None
    fitted = DictionaryLearner(6, alpha=0.3, max_iter=1, random_state=0).fit(X)
    assert ThresholdEncoder(dictionary=fitted).fit(X).whitening_ is None
    unfitted = DictionaryLearner(alpha=0.3, max_iter=1, random_state=0)
    assert ThresholdEncoder(6, dictionary=unfitted).fit(X).whitening_ is not None
    assert ThresholdEncoder(1, dictionary="patches").fit(X[:1]).whitening_ is None
    # more features than _AUTO_WHITEN_FEATURES (2,048; lowered here to keep eigh cheap)
    monkeypatch.setattr(_threshold, "_AUTO_WHITEN_FEATURES", 12)
    wide = np.random.default_rng(1).standard_normal((40, 13))
    assert ThresholdEncoder(2, dictionary="patches").fit(wide).whitening_ is None
    assert ThresholdEncoder(2, dictionary="patches").fit(wide[:, :12]).whitening_ is not None
    # a covariance above working_memory: "auto" does without, True refuses
    with config_context(working_memory=12 * 12 * 8 * 3 / 2**20 * 0.99):
        assert ThresholdEncoder(10, random_state=0).fit(X).whitening_ is None
        with pytest.raises(ValueError, match="whiten=True needs"):
            ThresholdEncoder(10, whiten=True, random_state=0).fit(X)


def test_whitening_refuses_above_working_memory():
    X = _data(n=50, p=40, density=0.2)
    with config_context(working_memory=0.01):
        with pytest.raises(ValueError, match="whiten=True needs whitening's 40 x 40"):
            ThresholdEncoder(4, whiten=True).fit(X)
    # the whitened copy that a dictionary estimator is fitted on
    X = _data(n=2000, p=40, density=0.01)
    with config_context(working_memory=0.5):
        with pytest.raises(ValueError, match="whitened copy of a sparse X"):
            ThresholdEncoder(4, whiten=True, dictionary=DictionaryLearner(max_iter=1)).fit(X)
        ThresholdEncoder(4, whiten=True, dictionary="kmeans", random_state=0).fit(X)


# ------------------------------------------------------------------- k-means
@pytest.mark.parametrize("spherical_mode", ["soft", "triangle"])
@pytest.mark.parametrize("sparse", [False, True])
def test_kmeans_objective_decreases(spherical_mode, sparse):
    X = _data(n=2000, p=20, density=0.3 if sparse else None)
    enc = ThresholdEncoder(32, mode=spherical_mode, kmeans_tol=0, kmeans_max_iter=30,
                           random_state=0).fit(X)
    obj = np.array(enc.objective_)
    assert enc.n_iter_ == len(obj) >= 5
    assert np.all(np.diff(obj) <= 1e-12 * obj[:-1])
    assert obj[-1] < obj[0]


def _normalized_blobs(seed, n=3000, centers=8, p=10, positive=True):
    X, _ = make_blobs(n_samples=n, centers=centers, n_features=p, cluster_std=1.5,
                      center_box=(-10, 10), random_state=seed)
    if positive:
        # directions, not positions, tell these clusters apart: non-negative
        # centres at random gains, plus noise
        rng = np.random.default_rng(seed)
        dirs = rng.random((centers, p)) ** 4
        labels = rng.integers(centers, size=n)
        X = np.abs(dirs[labels] * rng.uniform(0.5, 2.0, (n, 1))
                   + 0.02 * rng.standard_normal((n, p)))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_euclidean_kmeans_matches_scikit_learn(seed):
    X = _normalized_blobs(seed, positive=False)
    ours = ThresholdEncoder(8, mode="triangle", whiten=False, kmeans_n_init=5,
                            random_state=seed).fit(X)
    ref = KMeans(8, n_init=5, random_state=seed).fit(X)
    assert ours.objective_[-1] * len(X) <= 1.01 * ref.inertia_
    # the same centroids, up to their order
    cost = cdist(ours.components_, ref.cluster_centers_)
    r, c = linear_sum_assignment(cost)
    assert cost[r, c].max() < 1e-2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spherical_kmeans_matches_scikit_learn_on_normalized_data(seed):
    # on unit-norm, non-negative data the gain-shape k-means of Coates & Ng
    # and Euclidean k-means find the same clusters (centroids up to scale)
    X = _normalized_blobs(seed)
    ours = ThresholdEncoder(8, whiten=False, kmeans_n_init=5, random_state=seed).fit(X)
    ref = KMeans(8, n_init=5, random_state=seed).fit(X)
    ref_dirs = ref.cluster_centers_ / np.linalg.norm(ref.cluster_centers_, axis=1)[:, None]
    np.testing.assert_allclose(np.linalg.norm(ours.components_, axis=1), 1.0)
    cos = ours.components_ @ ref_dirs.T
    r, c = linear_sum_assignment(-cos)
    assert cos[r, c].min() > 0.999
    # and the spherical objective of ours is no worse than that of theirs
    theirs = np.mean(1.0 - np.max(X @ ref_dirs.T, axis=1) ** 2)
    assert ours.objective_[-1] <= theirs * 1.01 + 1e-12


@pytest.mark.parametrize("mode", ["soft", "triangle"])
def test_kmeans_refills_empty_clusters(mode, monkeypatch):
    # a start with every centroid on one row leaves all clusters but one empty
    from sparsecode import _kmeans

    X = np.repeat(_data(n=6, p=4), 5, axis=0)
    first = X[0] / (np.linalg.norm(X[0]) if mode == "soft" else 1.0)
    monkeypatch.setattr(_kmeans, "_seed", lambda rows, k, *a: np.tile(first, (k, 1)))
    enc = ThresholdEncoder(6, mode=mode, kmeans_tol=0, random_state=0).fit(X)
    assert enc.objective_[-1] < 1e-12 * enc.objective_[0]


# ---------------------------------------------------------- target sparsity
@pytest.mark.parametrize("mode,split,target", [
    ("soft", True, 0.9), ("soft", False, 0.3), ("soft", False, 0.95), ("hard", True, 0.75),
    ("hard", False, 0.6),
])
@pytest.mark.parametrize("sparse", [False, True])
def test_target_sparsity_is_met(mode, split, target, sparse):
    X = _data(n=3000, p=30, density=0.5 if sparse else None)
    enc = ThresholdEncoder(40, mode=mode, split_sign=split, target_sparsity=target,
                           whiten=False, random_state=0).fit(X)
    Z = enc.transform(X)
    assert abs(np.mean(Z == 0) - target) <= 0.01
    held_out = _data(n=3000, p=30, seed=5, density=0.5 if sparse else None)
    assert abs(np.mean(enc.transform(held_out) == 0) - target) <= 0.01


# ----------------------------------------------------------- dictionaries
def test_patches_are_unit_norm_training_rows():
    X = _data(n=100, p=6)
    enc = ThresholdEncoder(10, dictionary="patches", whiten=False, random_state=0).fit(X)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    matches = np.isclose(enc.components_ @ unit.T, 1.0).sum(axis=1)
    assert np.all(matches == 1)
    assert len({tuple(r) for r in enc.components_.round(12)}) == 10


def test_estimator_dictionary_fitted_inside_or_used_as_is():
    X = _data(n=200, p=8)
    dl = DictionaryLearner(alpha=0.3, max_iter=3, random_state=0)
    enc = ThresholdEncoder(12, dictionary=dl, whiten=False).fit(X)
    assert not hasattr(dl, "components_")  # the parameter is not touched
    assert enc.dictionary_estimator_.n_components == 12
    np.testing.assert_array_equal(enc.components_, enc.dictionary_estimator_.components_)
    np.testing.assert_allclose(
        enc.dictionary_estimator_.components_,
        DictionaryLearner(12, alpha=0.3, max_iter=3, random_state=0).fit(X).components_)

    fitted = DictionaryLearner(5, alpha=0.3, max_iter=2, random_state=1).fit(X[:50])
    before = fitted.components_.copy()
    enc = ThresholdEncoder(dictionary=fitted).fit(X)
    assert enc.dictionary_estimator_ is None
    np.testing.assert_array_equal(enc.components_, before)
    np.testing.assert_array_equal(fitted.components_, before)


@pytest.mark.parametrize("params,X,error,match", [
    (dict(alpha=0.1, target_sparsity=0.9), None, ValueError, "not both"),
    (dict(target_sparsity=0.3), None, ValueError, "unreachable with split_sign=True"),
    (dict(dictionary=np.ones((3, 5))), None, ValueError, "dictionary has 5 features"),
    (dict(n_components=4, dictionary=np.ones((3, 12))), None, ValueError, "has 3 atoms"),
    (dict(n_components=50), np.ones((20, 3)), ValueError, "n_samples=20"),
    (dict(dictionary="patches", n_components=3), np.zeros((20, 3)), ValueError,
     "non-zero rows"),
    (dict(dictionary=np.full((3, 12), np.nan)), None, ValueError, "NaN"),
    (dict(mode="fancy"), None, ValueError, "'mode' parameter"),
    (dict(target_sparsity=1.5), None, ValueError, "'target_sparsity' parameter"),
    (dict(n_jobs=0), None, ValueError, "'n_jobs' parameter"),
    (dict(dictionary=DictionaryLearner(3, max_iter=1).fit(np.eye(12)), n_components=4), None,
     ValueError, "has 3 atoms"),
])
def test_bad_parameters(params, X, error, match):
    X = _data() if X is None else X
    with pytest.raises(error, match=match):
        ThresholdEncoder(**params).fit(X)


def test_estimator_without_components_is_refused():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="no components_ after fit"):
        ThresholdEncoder(dictionary=StandardScaler()).fit(_data())


def test_failed_fit_leaves_fitted_estimator_unchanged():
    X = _data()
    enc = ThresholdEncoder(5, random_state=0).fit(X)
    state = {k: np.copy(v) for k, v in vars(enc).items() if k.endswith("_")}
    for bad, data in ((dict(target_sparsity=0.2), X), (dict(dictionary=np.ones((5, 3))), X),
                      (dict(dictionary=DictionaryLearner(9, max_iter=1).fit(X)), X),
                      (dict(n_components=50), _data(n=20, p=7))):
        with pytest.raises(ValueError):
            enc.set_params(**bad).fit(data)
        enc.set_params(**ThresholdEncoder(5, random_state=0).get_params())
        for key, value in state.items():
            np.testing.assert_array_equal(getattr(enc, key), value)
        np.testing.assert_array_equal(enc.transform(X), ThresholdEncoder(
            5, random_state=0).fit(X).transform(X))


# ------------------------------------------------------------- in a pipeline
def test_digits_pipeline_grid_search_beats_raw_pixels():
    X, y = load_digits(return_X_y=True)
    X, y = X[:900] / 16.0, y[:900]
    pipe = make_pipeline(ThresholdEncoder(100, whiten=True, random_state=0),
                         LogisticRegression(max_iter=1000))
    search = GridSearchCV(pipe, {"thresholdencoder__target_sparsity": [0.5, 0.9]}, cv=3)
    search.fit(X, y)
    raw = cross_val_score(LogisticRegression(max_iter=1000), X, y, cv=3).mean()
    assert search.best_score_ > raw + 0.01
    assert search.best_estimator_[0].alpha_ >= 0
