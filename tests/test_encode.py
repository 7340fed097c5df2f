"""sparse_encode against oracles: scikit-learn's solvers, KKT conditions,
dense references, and each other."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import kkt_violation, lasso_objective, make_problem
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, orthogonal_mp_gram

from sparsecode import _encode as encode_module
from sparsecode import sparse_encode
from sparsecode._encode_rules import (
    SUPPORTED,
    check_arguments,
    mean_max_coherence,
    pick_algorithm,
    solver_settings,
)

LASSO = ["lars", "cd", "fista", "ista"]
TIGHT = dict(tol=1e-12, max_iter=200_000)


def as_format(X, fmt):
    if fmt == "dense":
        return X
    if fmt == "fortran":
        return np.asfortranarray(X)
    if fmt == "strided":
        return np.repeat(X, 2, axis=1)[:, ::2]
    if fmt == "readonly":
        X = X.copy()
        X.flags.writeable = False
        return X
    return {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix,
            "csr_array": sp.csr_array, "csc_array": sp.csc_array}[fmt](X)


@pytest.fixture(scope="module")
def sk_reference():
    X, D, alpha = make_problem()
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha, max_iter=100_000)
    return X, D, alpha, lasso_objective(X, D, ref, alpha)


@pytest.mark.parametrize("algorithm", LASSO)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lasso_objective_matches_sklearn(algorithm, fmt, dtype, sk_reference):
    X, D, alpha, ref_obj = sk_reference
    Xd, Dd = X.astype(dtype), D.astype(dtype)
    Z = sparse_encode(as_format(Xd, fmt), Dd, algorithm=algorithm, alpha=alpha, **TIGHT)
    assert Z.dtype == dtype
    obj = lasso_objective(Xd, Dd, Z, alpha)
    ref = lasso_objective(Xd, Dd, sk_sparse_encode(Xd.astype(np.float64), Dd.astype(np.float64),
                                                   algorithm="lasso_cd", alpha=alpha,
                                                   max_iter=100_000), alpha)
    rtol = 1e-7 if dtype == np.float64 else 1e-4
    # never worse than scikit-learn's coordinate descent run to its tolerance
    np.testing.assert_array_less(obj, ref * (1 + rtol) + rtol)
    np.testing.assert_allclose(obj, ref_obj, rtol=100 * rtol, atol=rtol)


@pytest.mark.parametrize("algorithm", LASSO)
@pytest.mark.parametrize("positive", [False, True])
def test_kkt_conditions_hold(algorithm, positive, problem):
    X, D, alpha = problem
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, positive=positive, **TIGHT)
    assert kkt_violation(X, D, Z, alpha, positive=positive) < 1e-6
    assert np.count_nonzero(Z) > 0


@pytest.mark.parametrize("algorithm", LASSO)
def test_positive_matches_sklearn(algorithm, problem):
    X, D, alpha = problem
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, positive=True, **TIGHT)
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha, positive=True,
                           max_iter=100_000)
    assert Z.min() >= 0
    obj, ref_obj = lasso_objective(X, D, Z, alpha), lasso_objective(X, D, ref, alpha)
    np.testing.assert_allclose(obj, ref_obj, rtol=1e-6)
    np.testing.assert_array_less(obj, ref_obj + 1e-9)


@pytest.mark.parametrize("algorithm", LASSO)
@pytest.mark.parametrize("positive", [False, True])
def test_elastic_net_matches_sklearn(algorithm, positive, problem):
    X, D, _ = problem
    X = X[:8]
    n_features = X.shape[1]
    a, l1_ratio = 0.02, 0.6
    # scikit-learn: 1/(2 n) ||x - D^T z||^2 + a r ||z||_1 + a (1 - r) / 2 ||z||^2
    alpha, l2 = n_features * a * l1_ratio, n_features * a * (1 - l1_ratio)
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, l2=l2, positive=positive, **TIGHT)
    enet = ElasticNet(alpha=a, l1_ratio=l1_ratio, fit_intercept=False, positive=positive,
                      tol=1e-14, max_iter=1_000_000)
    ref = np.array([enet.fit(D.T, x).coef_ for x in X])
    # strongly convex: the codes themselves are unique
    np.testing.assert_allclose(Z, ref, atol=1e-6)
    assert kkt_violation(X, D, Z, alpha, l2=l2, positive=positive) < 1e-6


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_omp_matches_sklearn_n_nonzero(fmt, problem):
    X, D, _ = problem
    G, C = D @ D.T, X @ D.T
    ref = orthogonal_mp_gram(G, C.T, n_nonzero_coefs=5).T
    Z = sparse_encode(as_format(X, fmt), D, algorithm="omp", n_nonzero_coefs=5)
    np.testing.assert_array_equal(Z != 0, ref != 0)
    np.testing.assert_allclose(Z, ref, atol=1e-10)


def test_omp_residual_target_matches_sklearn(problem):
    X, D, _ = problem
    G, C = D @ D.T, X @ D.T
    sq = (X**2).sum(1)
    target = 0.2 * float(np.median(sq))
    ref = orthogonal_mp_gram(G, C.T, tol=target, norms_squared=sq).T
    # scikit-learn always takes one atom; a signal already within the target
    # needs none
    small = sq <= target
    assert small.any() and not small.all()
    ref[small] = 0
    Z = sparse_encode(X, D, algorithm="omp", alpha=target)
    np.testing.assert_array_equal(Z != 0, ref != 0)
    np.testing.assert_allclose(Z, ref, atol=1e-10)
    residual = ((X - Z @ D) ** 2).sum(1)
    assert np.all(residual <= target + 1e-10)
    # error-targeted OMP stops as soon as the target is met: one atom fewer misses it
    assert np.unique((Z != 0).sum(1)).size > 1


def test_omp_both_caps(problem):
    X, D, _ = problem
    Z = sparse_encode(X, D, algorithm="omp", alpha=1e-12, n_nonzero_coefs=3)
    assert (Z != 0).sum(1).max() == 3


def test_omp_default_matches_sklearn_default(problem):
    X, D, _ = problem
    Z = sparse_encode(X, D, algorithm="omp")
    ref = sk_sparse_encode(X, D, algorithm="omp")
    np.testing.assert_allclose(Z, ref, atol=1e-10)


def test_threshold_closed_form(problem):
    X, D, alpha = problem
    C = X @ D.T
    expected = np.sign(C) * np.maximum(np.abs(C) - alpha, 0)
    np.testing.assert_allclose(sparse_encode(X, D, algorithm="threshold", alpha=alpha), expected)
    np.testing.assert_allclose(
        sparse_encode(X, D, algorithm="threshold", alpha=alpha, positive=True),
        np.maximum(C - alpha, 0),
    )
    np.testing.assert_allclose(sk_sparse_encode(X, D, algorithm="threshold", alpha=alpha),
                               expected)


@pytest.mark.parametrize("algorithm", LASSO + ["omp", "threshold"])
@pytest.mark.parametrize("fmt", ["fortran", "strided", "readonly", "csr", "csc", "coo", "csr_array",
                                 "csc_array"])
def test_input_formats_give_the_same_codes(algorithm, fmt, problem):
    X, D, alpha = problem
    kw = dict(alpha=alpha, **TIGHT) if algorithm != "omp" else dict(n_nonzero_coefs=4)
    ref = sparse_encode(X, D, algorithm=algorithm, **kw)
    Z = sparse_encode(as_format(X, fmt), D, algorithm=algorithm, **kw)
    np.testing.assert_allclose(Z, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("algorithm", LASSO + ["omp"])
def test_float32_close_to_float64(algorithm, problem):
    X, D, alpha = problem
    if algorithm == "omp":
        kw = dict(n_nonzero_coefs=4)
    else:
        kw = dict(alpha=alpha, tol=1e-9, max_iter=100_000)
    Z64 = sparse_encode(X, D, algorithm=algorithm, **kw)
    Z32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), algorithm=algorithm, **kw)
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, Z64, atol=1e-4 * np.abs(Z64).max())


def test_non_contiguous_dictionary(problem):
    X, D, alpha = problem
    strided = np.repeat(D, 2, axis=1)[:, ::2]
    assert not strided.flags.c_contiguous
    # (copied to C order before any product: the same BLAS calls, bit for bit)
    np.testing.assert_array_equal(sparse_encode(X, strided, alpha=alpha),
                                  sparse_encode(X, D, alpha=alpha))
    # (a Fortran D makes the Gram D D^T another BLAS call, with other
    # transposes, which may round apart by an ulp)
    np.testing.assert_allclose(sparse_encode(X, np.asfortranarray(D), alpha=alpha),
                               sparse_encode(X, D, alpha=alpha), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", LASSO)
def test_alpha_zero_is_least_squares_without_nan(algorithm, problem):
    X, D, _ = problem
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=0.0, tol=1e-10, max_iter=100_000)
    assert np.all(np.isfinite(Z))
    # overcomplete and full rank: the residual vanishes
    np.testing.assert_allclose(Z @ D, X, atol=1e-3)


def test_integer_input_becomes_float64():
    rng = np.random.default_rng(0)
    X = rng.integers(-3, 4, size=(10, 6))
    D = rng.standard_normal((8, 6))
    Z = sparse_encode(X, D, alpha=0.5)
    assert Z.dtype == np.float64
    np.testing.assert_allclose(Z, sparse_encode(X.astype(float), D, alpha=0.5))


def test_dictionary_follows_x_dtype(problem):
    X, D, alpha = problem
    Z = sparse_encode(X.astype(np.float32), D, alpha=alpha)
    assert Z.dtype == np.float32
    Z = sparse_encode(X, D.astype(np.float32), alpha=alpha)
    assert Z.dtype == np.float64


@pytest.mark.parametrize("fmt,expected", [("dense", sp.csr_matrix), ("csr", sp.csr_matrix),
                                          ("csr_array", sp.csr_array)])
def test_sparse_output(fmt, expected, problem):
    X, D, alpha = problem
    Z = sparse_encode(as_format(X, fmt), D, alpha=alpha, sparse_output=True)
    assert isinstance(Z, expected) and Z.format == "csr"
    np.testing.assert_allclose(Z.toarray(), sparse_encode(X, D, alpha=alpha))
    assert Z.nnz == np.count_nonzero(Z.toarray())


@pytest.mark.parametrize("sparse_output", [False, True])
def test_chunking_does_not_change_results(monkeypatch, sparse_output, problem):
    X, D, alpha = problem
    ref = sparse_encode(X, D, alpha=alpha)
    # 3 rows per chunk: 25 samples make 9 chunks, the last one short
    monkeypatch.setattr(encode_module, "_CHUNK_ENTRIES", 3 * D.shape[0])
    Z = sparse_encode(sp.csr_matrix(X), D, alpha=alpha, sparse_output=sparse_output)
    Z = Z.toarray() if sparse_output else Z
    np.testing.assert_allclose(Z, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("algorithm", ["fista", "ista"])
def test_fista_gemm_and_support_paths_agree(algorithm, problem):
    X, D, alpha = problem
    kw = dict(algorithm=algorithm, alpha=alpha, l2=0.0, positive=False, n_nonzero=0,
              omp_tol=-1.0, max_iter=100_000, tol=1e-12, init=None, sparse_output=False)
    Zg, it_g, _ = encode_module._encode(X, D, fista_path="gemm", **kw)
    Zs, it_s, _ = encode_module._encode(X, D, fista_path="support", **kw)
    # same iteration, same restarts, same stopping checks: only rounding differs
    np.testing.assert_allclose(Zg, Zs, atol=1e-8)
    assert kkt_violation(X, D, Zg, alpha) < 1e-6


@pytest.mark.parametrize("algorithm", ["cd", "fista", "ista"])
def test_warm_start_from_the_solution_stops_at_the_first_check(algorithm, problem):
    X, D, alpha = problem
    Z = sparse_encode(X, D, algorithm="lars", alpha=alpha)
    Zw, n_iter = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, init=Z, tol=1e-8,
                               return_n_iter=True)
    assert n_iter.max() <= (1 if algorithm == "cd" else 10)
    np.testing.assert_allclose(Zw, Z, atol=1e-6)
    _, cold = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, tol=1e-8, max_iter=100_000,
                            return_n_iter=True)
    assert cold.sum() > n_iter.sum()


def test_return_n_iter_and_convergence_warning(problem):
    X, D, alpha = problem
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        Z, n_iter = sparse_encode(X, D, algorithm="fista", alpha=alpha, max_iter=2,
                                  return_n_iter=True)
    assert n_iter.shape == (X.shape[0],) and n_iter.max() == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, n_iter = sparse_encode(X, D, algorithm="lars", alpha=alpha, return_n_iter=True)
    assert n_iter.min() >= 1


def test_n_nonzero_coefs_clipped_with_warning(problem):
    X, D, _ = problem
    with pytest.warns(UserWarning, match="more than n_components"):
        Z = sparse_encode(X[:3], D[:5], algorithm="omp", n_nonzero_coefs=50)
    assert Z.shape == (3, 5)
    assert np.all(np.isfinite(Z))


def test_auto_rule(problem):
    X, D, alpha = problem
    rng = np.random.default_rng(0)
    # image-patch-like: coherent atoms -> homotopy
    assert mean_max_coherence(D) > 0.2
    np.testing.assert_array_equal(sparse_encode(X, D, alpha=alpha),
                                  sparse_encode(X, D, algorithm="lars", alpha=alpha))
    # random atoms in high dimension: incoherent -> coordinate descent
    Dh = rng.standard_normal((20, 2000))
    Xh = rng.standard_normal((5, 2000))
    assert mean_max_coherence(Dh) < 0.2
    np.testing.assert_array_equal(sparse_encode(Xh, Dh, alpha=1.0),
                                  sparse_encode(Xh, Dh, algorithm="cd", alpha=1.0))
    np.testing.assert_array_equal(sparse_encode(X, D, n_nonzero_coefs=3),
                                  sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3))


def test_one_auto_rule_for_every_backend(problem):
    """``"auto"`` is decided in one place: OMP for an L0 budget everywhere,
    FISTA for the l1 problem off the CPU, homotopy or coordinate descent by
    coherence on the CPU (once the Gram exists); each backend refuses what
    it does not run with the same message, before touching the data."""
    _, D, _ = problem
    G = D @ D.T
    for backend in SUPPORTED:
        assert pick_algorithm("auto", 3, G, backend=backend) == "omp"
        assert pick_algorithm("ista", None, G, backend=backend) == "ista"
    assert pick_algorithm("auto", None, G, backend="cupy") == "fista"
    assert pick_algorithm("auto", None, G, backend="namespace") == "fista"
    assert pick_algorithm("auto", None, None) == "auto"
    assert pick_algorithm("auto", None, G) == "lars"  # image patches: coherent
    Dh = np.random.default_rng(0).standard_normal((20, 2000))
    assert pick_algorithm("auto", None, Dh @ Dh.T) == "cd"
    kw = dict(l2=0.0, positive=False, n_nonzero_coefs=None)
    shapes = dict(n_features=64, n_components=256)
    assert check_arguments("auto", **kw) == "auto"
    assert check_arguments("auto", **kw, backend="cupy") == "fista"
    assert check_arguments("auto", **{**kw, "n_nonzero_coefs": 5}) == "omp"
    assert solver_settings("auto", alpha=None, n_nonzero_coefs=None, **shapes) == (1.0, 0, -1.0)
    assert solver_settings("fista", alpha=None, n_nonzero_coefs=None, **shapes) == (1.0, 0, -1.0)
    assert solver_settings("omp", alpha=None, n_nonzero_coefs=5, **shapes) == (None, 5, -1.0)
    for algorithm in ("lars", "cd"):
        with pytest.raises(ValueError, match="CPU only"):
            check_arguments(algorithm, **kw, backend="cupy")
    with pytest.raises(ValueError, match="CPU only"):
        check_arguments("omp", **kw, backend="namespace")


def test_mean_max_coherence():
    D = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    # cosines: atom 0 -> max(0, 1/sqrt2), atom 1 -> 1/sqrt2, atom 2 -> 1/sqrt2; zero atom ignored
    assert mean_max_coherence(D) == pytest.approx(1 / np.sqrt(2))
    assert mean_max_coherence(D[:1]) == 0.0


def test_n_jobs_does_not_change_results(problem):
    X, D, alpha = problem
    np.testing.assert_array_equal(sparse_encode(X, D, alpha=alpha, n_jobs=1),
                                  sparse_encode(X, D, alpha=alpha, n_jobs=-1))


@pytest.mark.parametrize("algorithm", LASSO + ["omp"])
def test_zero_norm_atoms_get_zero_codes(algorithm, problem):
    X, D, alpha = problem
    D = D.copy()
    D[[2, 7]] = 0.0
    kw = dict(alpha=alpha, **TIGHT) if algorithm != "omp" else dict(n_nonzero_coefs=4)
    Z = sparse_encode(X, D, algorithm=algorithm, **kw)
    assert np.all(np.isfinite(Z))
    assert np.all(Z[:, [2, 7]] == 0)
    if algorithm != "omp":
        assert kkt_violation(X, D, Z, alpha) < 1e-6


@pytest.mark.parametrize("algorithm", LASSO)
def test_duplicated_atoms_reach_the_optimum(algorithm, problem):
    # G is singular: lars must skip dependent atoms, the others must not care
    X, D, alpha = problem
    D = np.vstack([D, D[:4], -D[5:7]])
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, **TIGHT)
    ref = sparse_encode(X, D, algorithm="cd", alpha=alpha, **TIGHT)
    np.testing.assert_allclose(lasso_objective(X, D, Z, alpha), lasso_objective(X, D, ref, alpha),
                               rtol=1e-8)
    assert kkt_violation(X, D, Z, alpha) < 1e-6


def test_zero_rows_and_large_alpha(problem):
    X, D, alpha = problem
    X = X.copy()
    X[3] = 0
    for algorithm in LASSO + ["omp", "threshold"]:
        kw = {} if algorithm == "omp" else dict(alpha=alpha)
        Z = sparse_encode(X, D, algorithm=algorithm, **kw)
        assert np.all(Z[3] == 0)
    big = np.abs(X @ D.T).max() * 1.01
    for algorithm in LASSO:
        assert not sparse_encode(X, D, algorithm=algorithm, alpha=big).any()


def test_one_sample_and_one_atom():
    rng = np.random.default_rng(1)
    D = rng.standard_normal((1, 5))
    x = 3 * D + 0.01 * rng.standard_normal((1, 5))
    for algorithm in LASSO:
        z = sparse_encode(x, D, algorithm=algorithm, alpha=0.1, **TIGHT)
        c, g = (x @ D.T).item(), (D @ D.T).item()
        np.testing.assert_allclose(z, [[np.sign(c) * max(abs(c) - 0.1, 0) / g]], rtol=1e-9)


def test_int64_indexed_sparse(problem):
    X, D, alpha = problem
    Xs = sp.csr_matrix(X)
    Xs.indices = Xs.indices.astype(np.int64)
    Xs.indptr = Xs.indptr.astype(np.int64)
    np.testing.assert_allclose(sparse_encode(Xs, D, alpha=alpha), sparse_encode(X, D, alpha=alpha))


def test_sparse_output_never_holds_the_dense_codes(monkeypatch):
    import tracemalloc

    rng = np.random.default_rng(0)
    D = rng.standard_normal((64, 30))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = sp.random(20000, 30, density=0.1, random_state=0, format="csr")
    dense_bytes = 20000 * 64 * 8  # 10 MiB
    monkeypatch.setattr(encode_module, "_CHUNK_ENTRIES", 1 << 14)  # 256 rows per chunk
    sparse_encode(X[:10], D, alpha=0.3, sparse_output=True)  # compile outside the trace
    tracemalloc.start()
    try:
        Z = sparse_encode(X, D, alpha=0.3, sparse_output=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result_bytes = Z.data.nbytes + Z.indices.nbytes + Z.indptr.nbytes
    assert result_bytes < dense_bytes / 4
    # the result, one chunk's dense work arrays and the stacking of the pieces
    assert peak < 3 * result_bytes + dense_bytes / 8


@pytest.mark.parametrize("algorithm", LASSO + ["omp"])
def test_precomputed_gram_gives_the_same_codes(algorithm, problem):
    X, D, alpha = problem
    kw = dict(alpha=alpha, l2=0.1) if algorithm != "omp" else dict(n_nonzero_coefs=4)
    np.testing.assert_array_equal(
        sparse_encode(X, D, algorithm=algorithm, gram=D @ D.T, **kw),
        sparse_encode(X, D, algorithm=algorithm, **kw),
    )
    with pytest.raises(ValueError, match="gram has shape"):
        sparse_encode(X, D, algorithm=algorithm, gram=np.eye(3), **kw)


def test_the_registry_has_one_solver_per_algorithm_and_says_who_takes_init(problem):
    """sparse_encode dispatches through sparsecode._solvers: one entry per
    algorithm, and only the entries that take a warm start read ``init``
    (the others give the same codes from any start)."""
    from sparsecode._encode_rules import ALGORITHMS
    from sparsecode._solvers import SOLVERS

    assert set(SOLVERS) == set(ALGORITHMS) - {"auto"}
    assert all(solver.name == name for name, solver in SOLVERS.items())
    assert {name for name, s in SOLVERS.items() if s.warm_start} == {"cd", "fista", "ista"}
    X, D, alpha = problem
    garbage = np.full((X.shape[0], D.shape[0]), 1e3)
    for name, solver in SOLVERS.items():
        kw = dict(algorithm=name, alpha=alpha, max_iter=20_000, tol=1e-10)
        if name == "omp":
            kw = dict(algorithm=name, n_nonzero_coefs=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Z, n_iter = sparse_encode(X, D, return_n_iter=True, **kw)
            Zg, n_iter_g = sparse_encode(X, D, init=garbage, return_n_iter=True, **kw)
        if solver.warm_start:
            # (the same optimum from far away, by more iterations)
            assert n_iter_g.sum() > n_iter.sum()
            np.testing.assert_allclose(Zg, Z, atol=1e-5)
        else:
            np.testing.assert_array_equal(Zg, Z)
            np.testing.assert_array_equal(n_iter_g, n_iter)


@pytest.mark.parametrize("fista_path", ["gemm", "support"])
@pytest.mark.parametrize("algorithm", ["cd", "fista", "ista"])
def test_a_warm_start_is_read_not_written(algorithm, fista_path, problem):
    """The solvers that take ``init`` leave the caller's array as it was
    (the GEMM route iterates in a copy of it)."""
    X, D, alpha = problem
    init = np.full((X.shape[0], D.shape[0]), 0.01)
    before = init.copy()
    kw = dict(algorithm=algorithm, alpha=alpha, l2=0.0, positive=False, n_nonzero=0,
              omp_tol=-1.0, max_iter=500, tol=1e-8, init=init, sparse_output=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z, _, _ = encode_module._encode(X, D, fista_path=fista_path, **kw)
    np.testing.assert_array_equal(init, before)
    assert not np.array_equal(Z, init)
