"""Bad input gets a clear error naming the problem; odd but valid input gets a
correct result. Property-based checks over shapes and values."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import kkt_violation, lasso_objective, make_problem
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecode import sparse_encode


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=-1.0), "alpha"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(l2=-0.1), "l2"),
        (dict(algorithm="lasso"), "algorithm"),
        (dict(max_iter=0), "max_iter"),
        (dict(tol=-1e-3), "tol"),
        (dict(n_nonzero_coefs=0, algorithm="omp"), "n_nonzero_coefs"),
        (dict(n_nonzero_coefs=3, algorithm="lars"), "n_nonzero_coefs applies to algorithm='omp'"),
        (dict(algorithm="omp", positive=True), "positive=True is not available"),
        (dict(algorithm="omp", l2=0.5), "l2 applies to the l1 algorithms"),
        (dict(algorithm="threshold", l2=0.5), "l2 applies to the l1 algorithms"),
        (dict(n_jobs=1.5), "n_jobs"),
        (dict(n_jobs=0), "n_jobs == 0"),
    ],
)
def test_bad_parameters(kwargs, match, problem):
    X, D, _ = problem
    with pytest.raises(ValueError, match=match):
        sparse_encode(X, D, **kwargs)


def test_bad_arrays(problem):
    X, D, alpha = problem
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        sparse_encode(bad, D)
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="X contains infinity"):
        sparse_encode(sp.csr_matrix(bad), D)
    badD = D.copy()
    badD[0, 0] = np.nan
    with pytest.raises(ValueError, match="dictionary contains NaN"):
        sparse_encode(X, badD)
    with pytest.raises(ValueError, match="Complex data not supported"):
        sparse_encode(X + 1j, D)
    with pytest.raises(ValueError, match="dtype='numeric' is not compatible|could not convert"):
        sparse_encode(np.array([["a", "b"]], dtype=object), D[:, :2])
    with pytest.raises(ValueError, match="0 sample"):
        sparse_encode(X[:0], D)
    with pytest.raises(ValueError, match="dictionary has 11 features per atom but X has 12"):
        sparse_encode(X, D[:, :11])
    with pytest.raises(ValueError, match="Expected 2D array"):
        sparse_encode(X[0], D)
    with pytest.raises(TypeError, match="dictionary. parameter of sparse_encode must be an"):
        sparse_encode(X, sp.csr_matrix(D))
    with pytest.raises(ValueError, match="init has shape"):
        sparse_encode(X, D, algorithm="cd", init=np.zeros((3, 3)))
    init = np.zeros((X.shape[0], D.shape[0]))
    init[0, 0] = np.nan
    with pytest.raises(ValueError, match="init contains NaN"):
        sparse_encode(X, D, algorithm="cd", init=init)


def test_inputs_are_not_modified(problem):
    X, D, alpha = problem
    Xs = sp.csc_matrix(X)
    copies = X.copy(), D.copy(), Xs.copy()
    for algorithm in ["lars", "cd", "fista", "omp", "threshold"]:
        kw = {} if algorithm == "omp" else dict(alpha=alpha)
        sparse_encode(X, D, algorithm=algorithm, **kw)
        sparse_encode(Xs, D, algorithm=algorithm, **kw)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(D, copies[1])
    assert (Xs != copies[2]).nnz == 0 and Xs.format == "csc"


def test_memory_mapped_input(tmp_path, problem):
    X, D, alpha = problem
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    np.testing.assert_allclose(sparse_encode(Xm, D, alpha=alpha), sparse_encode(X, D, alpha=alpha))


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(1, 12),
    n_features=st.integers(1, 9),
    n_components=st.integers(1, 14),
    alpha_scale=st.floats(0.0, 1.2),
    positive=st.booleans(),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    seed=st.integers(0, 2**16),
)
def test_lars_is_optimal_on_random_shapes(n_samples, n_features, n_components, alpha_scale,
                                          positive, scale, seed):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_components, n_features))
    X = scale * rng.standard_normal((n_samples, n_features))
    corr_max = np.abs(X @ D.T).max()
    alpha = max(alpha_scale * corr_max, 1e-3 * scale)
    Z = sparse_encode(X, D, algorithm="lars", alpha=alpha, positive=positive)
    assert Z.shape == (n_samples, n_components) and np.all(np.isfinite(Z))
    # optimality, scaled to the problem: corr and alpha grow with X
    assert kkt_violation(X, D, Z, alpha, positive=positive) <= 1e-7 * max(corr_max, alpha)
    ref = sparse_encode(X, D, algorithm="cd", alpha=alpha, positive=positive, tol=1e-13,
                        max_iter=100_000)
    ref_obj = lasso_objective(X, D, ref, alpha)
    assert np.all(lasso_objective(X, D, Z, alpha) <= ref_obj + 1e-9 * (scale**2 + ref_obj))


@settings(max_examples=25, deadline=None)
@given(
    n_samples=st.integers(1, 10),
    n_features=st.integers(2, 10),
    n_components=st.integers(1, 12),
    n_nonzero=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_omp_residual_decreases_with_atoms(n_samples, n_features, n_components, n_nonzero, seed):
    X, D, _ = make_problem(n_samples, n_features, n_components, seed=seed)
    n_nonzero = min(n_nonzero, n_components)
    fewer = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=max(n_nonzero - 1, 1))
    more = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero)
    res_fewer = ((X - fewer @ D) ** 2).sum(1)
    res_more = ((X - more @ D) ** 2).sum(1)
    assert np.all((more != 0).sum(1) <= n_nonzero)
    assert np.all(res_more <= res_fewer + 1e-10)
    # OMP's residual is orthogonal to the chosen atoms
    R = X - more @ D
    assert np.all(np.abs((R @ D.T)[more != 0]) < 1e-8)
