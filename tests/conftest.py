import os

# scikit-learn's array API dispatch needs SciPy's array API mode, read when
# SciPy is first imported: set here, before any test module imports it
# (tests/test_array_api.py and scikit-learn's array API estimator checks).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

if os.environ.get("SPARSECODE_FAKE_CUPY") == "1":
    # test_cuda_host.py runs test_gpu.py so: CuPy stood in by numpy, the CUDA
    # sources run on the host (fake_cupy.py), for the whole session
    import fake_cupy

    from sparsecode._namespace import install_gpu_backend

    install_gpu_backend(fake_cupy.install(pytest.MonkeyPatch())[2])


def make_problem(n_samples=25, n_features=12, n_components=24, seed=0, dtype=np.float64):
    """A small overcomplete problem with unit-norm atoms and an alpha that
    leaves a few atoms active per sample."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    mask = rng.random((n_samples, n_components)) < 0.2
    Z = rng.standard_normal((n_samples, n_components)) * mask
    X = Z @ D + 0.1 * rng.standard_normal((n_samples, n_features))
    alpha = 0.2 * float(np.median(np.abs(X @ D.T).max(axis=1)))
    return X.astype(dtype), D.astype(dtype), alpha


@pytest.fixture
def fake_gpu(monkeypatch):
    """CuPy stood in (fake_cupy.py) and its GPU backend installed, for one
    test: yields the stand-in ``cupy`` and ``cupyx.scipy.sparse``."""
    import fake_cupy

    from sparsecode._backend import use_backend

    cp, csp, backend = fake_cupy.install(monkeypatch)
    with use_backend(backend):
        yield cp, csp


@pytest.fixture
def problem():
    return make_problem()


def lasso_objective(X, D, Z, alpha, l2=0.0):
    """Per-sample objective 0.5 ||x - zD||^2 + alpha ||z||_1 + 0.5 l2 ||z||^2,
    in float64 on dense arrays (the oracle side of the tests)."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    Z = np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    R = X - Z @ D
    return 0.5 * (R**2).sum(1) + alpha * np.abs(Z).sum(1) + 0.5 * l2 * (Z**2).sum(1)


def kkt_violation(X, D, Z, alpha, l2=0.0, positive=False):
    """Largest violation of the lasso optimality conditions: with
    corr = D (x - zD) - l2 z, corr_j = alpha sign(z_j) where z_j != 0 and
    |corr_j| <= alpha (corr_j <= alpha if positive) where z_j == 0."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    Z = np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    corr = (X - Z @ D) @ D.T - l2 * Z
    nz = Z != 0
    on = np.abs(corr - alpha * np.sign(Z))[nz]
    off = corr[~nz] if positive else np.abs(corr[~nz])
    worst = max(on.max(initial=0.0), (off - alpha).max(initial=0.0))
    if positive:
        worst = max(worst, (-Z).max(initial=0.0))
    return worst


def assert_solves_lasso(X, D, Z, alpha, dtype, l2=0.0, positive=False):
    """``Z`` solves the (elastic-net, positive) lasso as well as LARS does:
    FISTA stops on its duality gap, so the objective, not the codes, is what
    it guarantees (within 1e-8 relative in float64, 1e-5 in float32). Returns
    LARS's codes."""
    from sparsecode import sparse_encode

    exact = sparse_encode(np.asarray(X, dtype=np.float64), D, algorithm="lars", alpha=alpha,
                          l2=l2, positive=positive)
    ours = lasso_objective(X, D, Z, alpha, l2).sum()
    best = lasso_objective(X, D, exact, alpha, l2).sum()
    assert ours <= best * (1 + (1e-8 if dtype == np.float64 else 1e-5))
    if positive:
        assert Z.min() >= 0
    return exact
