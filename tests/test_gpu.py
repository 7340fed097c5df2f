"""The GPU backend on a GPU: every result against the CPU's. Skipped, with
the reason, where CuPy or a CUDA device is missing (CI has neither: the
sources compile there in test_cuda_sources.py, the Python side runs on
numpy in test_gpu_glue.py, and test_cuda_host.py runs this very file with
CuPy stood in and the CUDA sources run on the host)."""

import os

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import lasso_objective, make_problem

from sparsecode import sparse_encode

cp = pytest.importorskip("cupy", reason="CuPy is not installed (the gpu extra)")
try:
    _DEVICES = cp.cuda.runtime.getDeviceCount()
except Exception as exc:  # no driver: say why
    pytest.skip(f"no CUDA device: {type(exc).__name__}: {exc}", allow_module_level=True)
if _DEVICES == 0:
    pytest.skip("no CUDA device", allow_module_level=True)

import cupyx.scipy.sparse as csp  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("algorithm", ["fista", "ista", "auto"])
@pytest.mark.parametrize("sparse", [False, True])
def test_gpu_lasso_matches_cpu(dtype, algorithm, sparse):
    X, D, alpha = make_problem(n_samples=200, dtype=dtype)
    Xg = csp.csr_matrix(cp.asarray(X)) if sparse else cp.asarray(X)
    Z = sparse_encode(Xg, cp.asarray(D), algorithm=algorithm, alpha=alpha, tol=1e-10,
                      max_iter=20_000)
    assert isinstance(Z, cp.ndarray) and Z.dtype == dtype
    Z = cp.asnumpy(Z)
    exact = sparse_encode(X.astype(np.float64), D, algorithm="lars", alpha=alpha)
    ours = lasso_objective(X, D, Z, alpha).sum()
    best = lasso_objective(X, D, exact, alpha).sum()
    assert ours <= best * (1 + (1e-8 if dtype == np.float64 else 1e-5))
    cpu = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, tol=1e-10, max_iter=20_000)
    rel = np.linalg.norm(Z - cpu) / np.linalg.norm(cpu)
    assert rel < (1e-7 if dtype == np.float64 else 1e-5), rel


@pytest.mark.parametrize("positive", [False, True])
def test_gpu_threshold_positive_l2_init_and_sparse_output(positive):
    X, D, alpha = make_problem(n_samples=100)
    Xg, Dg = cp.asarray(X), cp.asarray(D)
    np.testing.assert_allclose(
        cp.asnumpy(sparse_encode(Xg, Dg, algorithm="threshold", alpha=alpha,
                                 positive=positive)),
        sparse_encode(X, D, algorithm="threshold", alpha=alpha, positive=positive))
    ref = sparse_encode(X, D, algorithm="lars", alpha=alpha, l2=0.2, positive=positive)
    Z = sparse_encode(Xg, Dg, algorithm="fista", alpha=alpha, l2=0.2, positive=positive,
                      tol=1e-12, max_iter=20_000, init=cp.asarray(ref))
    np.testing.assert_allclose(cp.asnumpy(Z), ref, atol=1e-6)
    out = sparse_encode(Xg, Dg, alpha=alpha, sparse_output=True)
    assert csp.isspmatrix_csr(out)


def test_gpu_refuses_cpu_only_algorithms():  # lars, cd
    X, D, alpha = make_problem()
    with pytest.raises(ValueError, match="CPU only"):
        sparse_encode(cp.asarray(X), cp.asarray(D), algorithm="lars", alpha=alpha)
    assert not sp.issparse(cp.asnumpy(sparse_encode(cp.asarray(X), cp.asarray(D))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("mode, split", [("soft", True), ("soft", False), ("hard", True),
                                         ("topk", True), ("topk", False),
                                         ("triangle", False)])
def test_gpu_threshold_encoder_matches_cpu(mode, split, whiten, dtype):
    from sparsecode import ThresholdEncoder

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((500, 16)) * (rng.random((500, 16)) < 0.6)).astype(dtype)
    est = ThresholdEncoder(40, mode=mode, split_sign=split, whiten=whiten, alpha=0.1, k=5,
                           random_state=0).fit(X)
    ref = est.transform(X)
    for Xg in (cp.asarray(X), csp.csr_matrix(cp.asarray(X))):
        if mode == "triangle" and whiten and csp.issparse(Xg):
            continue
        out = est.transform(Xg)
        assert isinstance(out, cp.ndarray) and out.dtype == dtype
        rel = np.linalg.norm(cp.asnumpy(out) - ref) / np.linalg.norm(ref)
        assert rel < (1e-7 if dtype == np.float64 else 1e-5), rel


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("params", [dict(), dict(mode="triangle", whiten=True),
                                    dict(whiten=True, target_sparsity=0.8),
                                    dict(dictionary="patches", mode="hard",
                                         target_sparsity=0.7)])
def test_gpu_threshold_encoder_fit_matches_cpu(params, sparse):
    """k-means, whitening and the threshold learnt on the GPU: the CPU's
    fit (same draws; the products differ by rounding only, float64)."""
    from sparsecode import ThresholdEncoder

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 16)) * (rng.random((2000, 16)) < 0.6)
    # the CPU's fit of the same format (whiten="auto" whitens dense input only)
    ref = ThresholdEncoder(24, random_state=0, **params).fit(sp.csr_matrix(X) if sparse else X)
    Xg = csp.csr_matrix(cp.asarray(X)) if sparse else cp.asarray(X)
    est = ThresholdEncoder(24, random_state=0, **params).fit(Xg)
    assert isinstance(est.components_, np.ndarray)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-8, atol=1e-10)
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-9)
    if ref.alpha_ is not None:
        np.testing.assert_allclose(est.alpha_, ref.alpha_, rtol=1e-9)
    if sparse and params.get("mode") == "triangle" and params.get("whiten"):
        with pytest.raises(ValueError, match="densify"):  # (the whitened rows' norms)
            est.transform(Xg)
        return
    out = est.transform(Xg)
    np.testing.assert_allclose(cp.asnumpy(out), ref.transform(X), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [
    lambda: __import__("sparsecode").SparseAutoencoder(64, activation="relu", max_iter=3,
                                                       random_state=0),
    lambda: __import__("sparsecode").SparseAutoencoder(64, activation="topk", k=5,
                                                       max_iter=3, random_state=0),
    lambda: __import__("sparsecode").SparseAutoencoder(64, activation="batchtopk", k=5,
                                                       max_iter=3, random_state=0),
    lambda: __import__("sparsecode").KLSparseEncoder(16, max_iter=30,
                                                     activation_threshold=0.2,
                                                     random_state=0),
])
def test_gpu_autoencoder_transform_matches_cpu(make, dtype):
    import warnings

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((500, 24)) * (rng.random((500, 24)) < 0.6)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X)
    ref = est.transform(X)
    for Xg in (cp.asarray(X), csp.csr_matrix(cp.asarray(X))):
        out = est.transform(Xg)
        assert isinstance(out, cp.ndarray) and out.dtype == dtype
        rel = np.linalg.norm(cp.asnumpy(out) - ref) / max(np.linalg.norm(ref), 1e-300)
        assert rel < (1e-7 if dtype == np.float64 else 1e-5), rel


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", [dict(window=16), dict(window=8, dilation=3, causal=True),
                                    dict(window=8, similarity="neg_sq_dist", bandwidth=3.0),
                                    dict(window=8, projection="random", n_components=16,
                                         random_state=0)])
def test_gpu_window_attention_matches_cpu(params, dtype):
    from sparsecode import SparseAttentionTransformer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 32)).astype(dtype)
    lengths = [1000, 7, 1993]
    est = SparseAttentionTransformer("window", **params).fit(X, lengths=lengths)
    ref = est.transform(X, lengths=lengths)
    out = est.transform(cp.asarray(X), lengths=lengths)
    assert isinstance(out, cp.ndarray) and out.dtype == dtype
    rel = np.linalg.norm(cp.asnumpy(out) - ref) / np.linalg.norm(ref)
    assert rel < (1e-10 if dtype == np.float64 else 1e-5), rel


@pytest.mark.parametrize("split_sign", [False, True])
def test_gpu_dictionary_learner_transform_matches_cpu(split_sign):
    from sparsecode import DictionaryLearner

    X, D, alpha = make_problem(n_samples=300)
    dl = DictionaryLearner(16, alpha=alpha, max_iter=3, transform_algorithm="fista",
                           split_sign=split_sign, random_state=0).fit(X)
    ref = dl.transform(X)
    out = dl.transform(cp.asarray(X))
    assert isinstance(out, cp.ndarray)
    rel = np.linalg.norm(cp.asnumpy(out) - ref) / np.linalg.norm(ref)
    assert rel < 1e-5, rel


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("options", [dict(n_nonzero_coefs=5), dict(alpha=0.5),
                                     dict(alpha=0.5, n_nonzero_coefs=3)])
def test_gpu_omp_matches_cpu(dtype, sparse, options):
    X, D, _ = make_problem(n_samples=300, dtype=dtype)
    Xg = csp.csr_matrix(cp.asarray(X)) if sparse else cp.asarray(X)
    Z, n_iter = sparse_encode(Xg, cp.asarray(D), algorithm="omp", return_n_iter=True,
                              **options)
    assert isinstance(Z, cp.ndarray) and Z.dtype == dtype
    ref, ref_iter = sparse_encode(X, D, algorithm="omp", return_n_iter=True, **options)
    np.testing.assert_array_equal(cp.asnumpy(n_iter), ref_iter)
    rel = np.linalg.norm(cp.asnumpy(Z) - ref) / np.linalg.norm(ref)
    assert rel < (1e-10 if dtype == np.float64 else 1e-5), rel


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("params", [dict(activation="relu", l1=1e-2),
                                    dict(activation="topk", k=3, aux_k=6, dead_threshold=200),
                                    dict(activation="batchtopk", k=3, tied=True),
                                    dict(activation="relu", dropout=0.2, prune=0.5,
                                         prune_epochs=2),
                                    dict(activation="topk", k=3, dropout=0.2,
                                         early_stopping=True, n_iter_no_change=1),
                                    dict(activation="batchtopk", k=3, dropout=0.1,
                                         early_stopping=True)])
def test_gpu_sparse_autoencoder_fit_matches_cpu(params):
    """float64: the GPU fit follows the CPU's draws step for step."""
    from sparsecode import SparseAutoencoder

    X, _, _ = make_problem(n_samples=600, n_features=20)
    kw = dict(n_components=32, max_iter=3, batch_size=64, random_state=0, **params)
    ref = SparseAutoencoder(**kw).fit(X)
    est = SparseAutoencoder(**kw).fit(cp.asarray(X))
    for name in ("encoder_weights_", "components_", "encoder_bias_", "decoder_bias_"):
        got = getattr(est, name)
        assert isinstance(got, np.ndarray)
        rel = np.linalg.norm(got - getattr(ref, name)) / np.linalg.norm(getattr(ref, name))
        assert rel < 1e-7, (name, rel)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert est.encoder_density_ == ref.encoder_density_
    if ref.validation_scores_ is not None:
        np.testing.assert_allclose(est.validation_scores_, ref.validation_scores_, rtol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("params", [dict(activation="relu", dropout=0.2),
                                    dict(activation="topk", k=8)])
def test_gpu_sparse_autoencoder_fit_over_many_tiles(params):
    """300 latents and minibatches of 150 rows: autoencoder.cu's kernels over
    several blocks of columns and tiles of rows (its column sums added over
    the tiles)."""
    from sparsecode import SparseAutoencoder

    X, _, _ = make_problem(n_samples=300, n_features=20)
    kw = dict(n_components=300, max_iter=1, batch_size=150, random_state=0, **params)
    ref = SparseAutoencoder(**kw).fit(X)
    est = SparseAutoencoder(**kw).fit(cp.asarray(X))
    for name in ("encoder_weights_", "components_", "encoder_bias_", "decoder_bias_"):
        got, want = getattr(est, name), getattr(ref, name)
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-7, name


# tokens a sequence (fewer where the kernels run on the host: test_cuda_host.py)
_SEQUENCE = 400 if os.environ.get("SPARSECODE_FAKE_CUPY") == "1" else 1000


@pytest.mark.parametrize("pattern, params", [
    ("longformer", dict(window=16, global_tokens=[0, 5])),
    ("bigbird", dict(window=8, block_size=16, n_random=2, random_state=0)),
    ("window2d", dict(window=4, grid_shape=(20, _SEQUENCE // 20))),
    ("lsh", dict(lsh_mode="exact", random_state=0)),
    ("dense", dict()),
])
def test_gpu_pattern_attention_matches_cpu(pattern, params):
    from sparsecode import SparseAttentionTransformer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3 * _SEQUENCE, 32))
    lengths = [_SEQUENCE] * 3
    est = SparseAttentionTransformer(pattern, **params).fit(X, lengths=lengths)
    ref = est.transform(X, lengths=lengths)
    out = est.transform(cp.asarray(X), lengths=lengths)
    assert isinstance(out, cp.ndarray)
    rel = np.linalg.norm(cp.asnumpy(out) - ref) / np.linalg.norm(ref)
    assert rel < 1e-10, rel


@pytest.mark.parametrize("method", ["online", "batch"])
def test_gpu_dictionary_learner_fit_close_to_cpu(method):
    """The GPU's FISTA codes stop at the same duality gap as the CPU's, by
    another route: the learned dictionaries and objectives agree closely."""
    from sparsecode import DictionaryLearner

    X, _, alpha = make_problem(n_samples=400)
    params = dict(n_components=16, alpha=alpha, method=method, fit_algorithm="fista",
                  max_iter=3, batch_size=64, random_state=0)
    ref = DictionaryLearner(**params).fit(X)
    est = DictionaryLearner(**params).fit(cp.asarray(X))
    assert isinstance(est.components_, np.ndarray)
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-4)
    np.testing.assert_allclose(est.components_, ref.components_, atol=1e-3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_gpu_kl_sparse_encoder_fit_matches_cpu(solver, sparse):
    from sparsecode import KLSparseEncoder

    X, _, _ = make_problem(n_samples=500, n_features=16)
    X[np.abs(X) < 0.5] = 0
    params = dict(n_components=8, solver=solver, max_iter=20, random_state=0)
    ref = KLSparseEncoder(**params).fit(sp.csr_matrix(X) if sparse else X)
    est = KLSparseEncoder(**params).fit(csp.csr_matrix(cp.asarray(X)) if sparse
                                        else cp.asarray(X))
    rel = (np.linalg.norm(est.encoder_weights_ - ref.encoder_weights_)
           / np.linalg.norm(ref.encoder_weights_))
    assert rel < 1e-6, rel
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-8)


@pytest.mark.parametrize("shape, sparse", [((3000, 32), False), ((3000, 32), True),
                                           ((20, 64), False), ((20, 64), True)])
@pytest.mark.parametrize("projection", ["pca", "random"])
def test_gpu_attention_fit_matches_cpu(projection, shape, sparse):
    """Dense and CSR, tall and wide (the randomized SVD transposes)."""
    from sparsecode import SparseAttentionTransformer

    rng = np.random.default_rng(0)
    n, p = shape
    X = (rng.standard_normal((n, 8)) * np.arange(8, 0, -1)) @ rng.standard_normal((8, p))
    X[np.abs(X) < 1.0] = 0
    Xh = sp.csr_matrix(X) if sparse else X
    Xg = csp.csr_matrix(cp.asarray(X)) if sparse else cp.asarray(X)
    params = dict(window=16, projection=projection, n_components=4, random_state=0)
    ref = SparseAttentionTransformer("bigbird", block_size=16, **params).fit(Xh)
    est = SparseAttentionTransformer("bigbird", block_size=16, **params).fit(Xg)
    np.testing.assert_allclose(est.query_projection_, ref.query_projection_, atol=1e-6)
    assert est.random_seed_ == ref.random_seed_
    rel = (np.linalg.norm(cp.asnumpy(est.transform(cp.asarray(X))) - ref.transform(X))
           / np.linalg.norm(ref.transform(X)))
    assert rel < 1e-6, rel
