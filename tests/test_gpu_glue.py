"""The GPU backend's Python side, run on the CPU: sparsecode/_gpu.py with
numpy standing in for CuPy, scipy.sparse for cupyx.scipy.sparse and the
Numba kernels for the CUDA ones (their CUDA twins compile in
test_cuda_sources.py and run against the CPU in test_gpu.py where a GPU
exists). What this checks is everything around the kernels: validation,
dtypes, the Gram and Lipschitz set-up, l2, init, CSR input, the shared
FISTA loop's bookkeeping and the refusals."""

import contextlib

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_solves_lasso, make_problem

from sparsecode import KLSparseEncoder, SparseAutoencoder, _dense, _gpu, sparse_encode
from sparsecode._backend import NUMPY, use_backend
from sparsecode._cupy_backend import CupyBackend
from sparsecode._kernels._fista import fista_step
from sparsecode._kernels._omp import omp_batch
from sparsecode._namespace import is_cupy_type
from sparsecode._solvers import _fista as fista_solver


def _threshold_cpu(C, alpha, positive):
    return (np.maximum(C - alpha, 0) if positive
            else np.sign(C) * np.maximum(np.abs(C) - alpha, 0)).astype(C.dtype)


def _omp_cpu(C, sq, gram64, n_nonzero, tol):
    """The CPU's batch OMP with omp.cu's signature."""
    assert gram64.dtype == np.float64 and sq.dtype == np.float64
    codes = np.zeros_like(C)
    n_iter = np.zeros(C.shape[0], dtype=np.int64)
    dependent = omp_batch(C, sq, gram64, n_nonzero, tol, codes, n_iter, 0, C.shape[0])
    return codes, n_iter, dependent


def _c_contiguous(kernel):
    """The CUDA kernels index rows as ``s * k + j``: every array the glue
    hands them must be C-contiguous (the Numba stand-ins would not care)."""
    def checked(*args, **kwargs):
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, "a kernel argument is not C-contiguous"
        return kernel(*args, **kwargs)

    return checked


class HostGPU(CupyBackend):
    """The GPU backend with numpy standing in for CuPy, scipy.sparse for
    ``cupyx.scipy.sparse`` and, with ``cpu_kernels``, the CPU kernels for
    the CUDA ones (replaced by ``kernels``; else the CUDA launchers run, on
    ``modules``). ``gpu_arrays(A)`` says which arrays count as GPU arrays:
    CuPy's at first, no numpy array (the glue's functions are called
    directly); ``moved``
    records the shapes ``to_device`` copied."""

    def __init__(self, cpu_kernels=True, modules=None, **kernels):
        if cpu_kernels:
            from sparsecode._autoencoder_xp import generic_fused

            kernels = {"step": _c_contiguous(fista_step), "gap": NUMPY.kernels().gap,
                       "threshold": _c_contiguous(_threshold_cpu),
                       "omp": _c_contiguous(_omp_cpu), "encode": _c_contiguous(_encode_cpu),
                       "attention": _c_contiguous(_window_cpu),
                       "pattern": _c_contiguous(_pattern_cpu),
                       **generic_fused(__import__("array_api_compat").numpy), **kernels}
        super().__init__(cupy=np, sparse=sp, kernels=kernels, modules=modules,
                         owns=lambda A: self.gpu_arrays(A))
        self.gpu_arrays = is_cupy_type
        self.moved = []

    def to_device(self, X):
        self.moved.append(X.shape)
        return super().to_device(X)


@pytest.fixture
def cpu_backend():
    with use_backend(HostGPU()) as backend:
        yield backend


def _gpu_transform(est, X, **kwargs):
    """``est.transform(X)`` with ``X`` taken for an array of the stand-in GPU
    backend: the GPU path, as a CuPy array reaches it."""
    backend = _gpu.current()
    marked = backend.gpu_arrays
    backend.gpu_arrays = lambda A: A is X or marked(A)
    try:
        return est.transform(X, **kwargs)
    finally:
        backend.gpu_arrays = marked


def _gpu_encode(X, D, **kw):
    args = dict(algorithm="fista", alpha=None, l2=0.0, positive=False, n_nonzero_coefs=None,
                max_iter=20_000, tol=1e-10, init=None, sparse_output=False, return_n_iter=False,
                gram=None)
    args.update(kw)
    return _gpu.sparse_encode_gpu(X, D, **args)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("options", [dict(), dict(positive=True), dict(l2=0.3),
                                     dict(algorithm="ista"), dict(algorithm="auto")])
def test_glue_solves_the_lasso(cpu_backend, dtype, sparse, options):
    X, D, alpha = make_problem(n_samples=30, dtype=dtype)
    Xin = sp.csr_matrix(X) if sparse else X
    Z, n_iter = _gpu_encode(Xin, D, alpha=alpha, return_n_iter=True, **options)
    assert Z.dtype == dtype and Z.shape == (30, D.shape[0])
    assert np.all(n_iter >= 1)
    exact = assert_solves_lasso(X, D, Z, alpha, dtype, l2=options.get("l2", 0.0),
                                positive=options.get("positive", False))
    np.testing.assert_allclose(Z, exact, atol=1e-3 if dtype == np.float64 else 1e-2)


def test_glue_threshold_init_gram_and_sparse_output(cpu_backend):
    X, D, alpha = make_problem()
    np.testing.assert_allclose(_gpu_encode(X, D, algorithm="threshold", alpha=alpha),
                               sparse_encode(X, D, algorithm="threshold", alpha=alpha))
    ref = sparse_encode(X, D, algorithm="fista", alpha=alpha, tol=1e-10, max_iter=5000)
    warm, n_iter = _gpu_encode(X, D, alpha=alpha, init=ref, return_n_iter=True)
    np.testing.assert_allclose(warm, ref, atol=1e-7)
    assert n_iter.max() <= 10  # started at the solution: stops at the first gap check
    gram = D @ D.T
    np.testing.assert_allclose(_gpu_encode(X, D, alpha=alpha, gram=gram), ref, atol=1e-7)
    assert sp.issparse(_gpu_encode(X, D, alpha=alpha, sparse_output=True))


@pytest.mark.parametrize("bad, match", [
    (dict(algorithm="lars"), "CPU only"),
    (dict(algorithm="cd"), "CPU only"),
    (dict(n_nonzero_coefs=3, algorithm="fista"), "applies to algorithm='omp' only"),
    (dict(algorithm="omp", positive=True), "positive=True"),
    (dict(algorithm="omp", l2=0.1), "l2 applies"),
    (dict(algorithm="threshold", l2=0.1), "l2"),
    (dict(init=np.zeros((2, 2))), "init has shape"),
    (dict(gram=np.eye(3)), "gram has shape"),
])
def test_glue_refusals(cpu_backend, bad, match):
    X, D, alpha = make_problem()
    with pytest.raises(ValueError, match=match):
        _gpu_encode(X, D, alpha=alpha, **bad)


@pytest.mark.parametrize("bad, match", [
    (dict(algorithm="lars"), "CPU only"),
    (dict(n_nonzero_coefs=3, algorithm="fista"), "applies to algorithm='omp' only"),
    (dict(algorithm="omp", positive=True), "positive=True"),
])
def test_glue_refuses_arguments_before_the_data(cpu_backend, bad, match):
    """The argument rules come first on the GPU path, as on the CPU's: the
    data (here a dictionary of the wrong width) is not read, nor copied to the
    device with device="gpu"."""
    X, D, alpha = make_problem()
    with pytest.raises(ValueError, match=match):
        _gpu_encode(X, D[:, :-1], alpha=alpha, **bad)
    with pytest.raises(ValueError, match=match):
        sparse_encode(X, D[:, :-1], alpha=alpha, device="gpu", **bad)
    assert cpu_backend.moved == []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("options", [dict(n_nonzero_coefs=1), dict(n_nonzero_coefs=4),
                                     dict(algorithm="auto", n_nonzero_coefs=3),
                                     dict(alpha=0.5), dict(alpha=0.5, n_nonzero_coefs=2),
                                     dict(n_nonzero_coefs=99), dict()])
def test_glue_omp(cpu_backend, dtype, sparse, options):
    """Batch OMP on the GPU path: the CPU's codes and atom counts, from the
    same settings (target residual, atom budget, clipping, default budget)."""
    # (all atoms, clipped from 99: fewer atoms than features, so that the
    # full pursuit stays well conditioned)
    X, D, _ = make_problem(n_samples=30, dtype=dtype,
                           n_components=8 if options.get("n_nonzero_coefs") == 99 else 24)
    kwargs = dict(algorithm="omp")
    kwargs.update(options)
    Xin = sp.csr_matrix(X) if sparse else X
    warns = pytest.warns(UserWarning, match="more than n_components") \
        if options.get("n_nonzero_coefs") == 99 else contextlib.nullcontext()
    with warns:
        Z, n_iter = _gpu_encode(Xin, D, return_n_iter=True, **kwargs)
    with contextlib.nullcontext() if options.get("n_nonzero_coefs") != 99 else \
            pytest.warns(UserWarning):
        ref, ref_iter = sparse_encode(X, D, return_n_iter=True, **kwargs)
    assert Z.dtype == dtype
    # (float32: the CSR product rounds X D^T apart from BLAS, by an ulp, which
    # the least-squares solve amplifies by the chosen atoms' conditioning)
    np.testing.assert_allclose(Z, ref, rtol=1e-10 if dtype == np.float64 else 1e-6,
                               atol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_array_equal(n_iter, ref_iter)
    assert n_iter.max() >= 1


def test_glue_omp_chunks_and_dependent_atoms(cpu_backend, monkeypatch):
    X, D, _ = make_problem(n_samples=30)
    monkeypatch.setattr(_dense, "CHUNK_ENTRIES", 7 * (D.shape[0] + 2 * 3 + 9))  # 7 rows
    calls = []
    omp = _c_contiguous(_omp_cpu)
    with use_backend(HostGPU(omp=lambda C, *a: calls.append(len(C)) or omp(C, *a))):
        np.testing.assert_allclose(_gpu_encode(X, D, algorithm="omp", n_nonzero_coefs=3),
                                   sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3),
                                   rtol=1e-10, atol=1e-12)
    assert calls == [7, 7, 7, 7, 2]
    # signals of norm 1e10 on 6 atoms in R^3: after 3 atoms the residual's
    # correlations (~1e-6) still beat the negligible level, and the 4th atom
    # is dependent on the first three; said as the CPU says it
    rng = np.random.default_rng(0)
    D3 = rng.standard_normal((6, 3))
    D3 /= np.linalg.norm(D3, axis=1, keepdims=True)
    X3 = 1e10 * rng.standard_normal((20, 3))
    with pytest.warns(RuntimeWarning, match="ended early on 19 of 20 samples"):
        Z, n_iter = _gpu_encode(X3, D3, algorithm="omp", n_nonzero_coefs=6,
                                return_n_iter=True)
    with pytest.warns(RuntimeWarning, match="ended early on 19 of 20 samples"):
        ref = sparse_encode(X3, D3, algorithm="omp", n_nonzero_coefs=6)
    np.testing.assert_array_equal(n_iter, 3)
    np.testing.assert_allclose(Z, ref, rtol=1e-10)


def test_glue_bad_arrays(cpu_backend):
    X, D, alpha = make_problem()
    with pytest.raises(ValueError, match="features"):
        _gpu_encode(X, D[:, :-1])
    with pytest.raises(ValueError, match="NaN"):
        _gpu_encode(np.where(X > 1, np.nan, X), D)
    with pytest.raises(ValueError, match="NaN"):
        _gpu_encode(X, np.where(D > 0.5, np.inf, D))
    with pytest.raises(ValueError, match="2D"):
        _gpu_encode(X[0], D)
    with pytest.raises(ValueError, match="one sample"):
        _gpu_encode(X[:0], D)
    with pytest.raises(ValueError, match="overflows float32"):
        _gpu_encode(np.full((2, X.shape[1]), 1e30, dtype=np.float32), 1e30 * D)


def test_cupy_input_is_recognised_without_importing_cupy():
    class FakeCupyArray:
        pass

    FakeCupyArray.__module__ = "cupy._core.core"
    assert _gpu.is_gpu_array(FakeCupyArray())
    assert not _gpu.is_gpu_array(np.zeros(2)) and not _gpu.is_gpu_array(sp.eye(2))


def test_importing_sparsecode_never_imports_cupy():
    import subprocess
    import sys

    code = ("import sys, numpy as np, sparsecode; "
            "sparsecode.sparse_encode(np.eye(3), np.eye(3), alpha=0.1); "
            "assert not any(m.split('.')[0] in ('cupy', 'cupyx') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("make", [
    lambda: __import__("sparsecode").DictionaryLearner(3, random_state=0),
    lambda: __import__("sparsecode").SparseAutoencoder(3, max_iter=1, random_state=0),
])
def test_estimators_refuse_gpu_arrays_by_saying_what_runs_where(make):
    """score runs on the CPU only: a CuPy array given to it is refused with a
    TypeError that says so (not CuPy's "Implicit conversion to a NumPy array
    is not allowed" from inside numpy). fit and transform take CuPy input
    (tested below)."""
    class FakeCupyArray:
        shape, ndim, dtype = (10, 3), 2, np.dtype(np.float32)

        def __len__(self):
            return 10

        def __array__(self, *args, **kwargs):
            raise TypeError("Implicit conversion to a NumPy array is not allowed.")

    FakeCupyArray.__module__ = "cupy._core.core"
    est = make().fit(np.random.default_rng(0).standard_normal((20, 3)))
    with pytest.raises(TypeError, match="call runs on the CPU only so far"):
        est.score(FakeCupyArray())


def _encode_cpu(C, offset, mode, alpha, split, n_keep, sq_x, sq_c, cut=None):
    """The CPU's activation kernels standing in for threshold.cu's."""
    from sparsecode._kernels._autoencoder import (
        jump_relu_encode,
        sigmoid_encode,
        topk_relu_encode,
        zero_below,
    )
    from sparsecode._kernels._threshold import (
        hard_encode,
        soft_encode,
        topk_encode,
        triangle_encode,
    )

    n, k = C.shape
    out = np.empty((n, 2 * k if split else k), dtype=C.dtype)
    b = offset.astype(C.dtype)
    if mode == "soft":
        soft_encode(C, b, C.dtype.type(alpha), split, out)
    elif mode == "hard":
        hard_encode(C, b, C.dtype.type(alpha), split, out)
    elif mode == "topk":
        topk_encode(C, b, n_keep, split, out, np.empty(3 * k))
    elif mode == "triangle":
        triangle_encode(C, offset, sq_x, sq_c, out, np.empty(k))
    elif mode == "jump":
        jump_relu_encode(C, b, C.dtype.type(alpha), out)
    elif mode == "topk_value":
        topk_relu_encode(C, b, n_keep, out, np.empty(2 * k))
    else:
        sigmoid_encode(C, offset, out)
    if cut is not None:
        zero_below(out, out.dtype.type(cut))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("mode, split", [("soft", True), ("soft", False), ("hard", True),
                                         ("topk", True), ("topk", False), ("triangle", False)])
def test_glue_threshold_encoder_transform(cpu_backend, monkeypatch, mode, split, whiten,
                                          sparse, dtype):
    """ThresholdEncoder.transform's GPU glue (responses with the whitening
    folded in, the triangle's norms, the split width) with the CPU kernels
    standing in: the CPU transform's features."""
    from sparsecode import ThresholdEncoder

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8)) * (rng.random((60, 8)) < 0.6)
    est = ThresholdEncoder(12, mode=mode, split_sign=split, whiten=whiten, alpha=0.1, k=3,
                           random_state=0).fit(X.astype(dtype))
    Xin = sp.csr_matrix(X.astype(dtype)) if sparse else X.astype(dtype)
    if mode == "triangle" and whiten and sparse:
        with pytest.raises(ValueError, match="densify"):
            _gpu_transform(est, Xin)
        return
    out = _gpu_transform(est, Xin)
    ref = est.transform(Xin)
    assert out.dtype == dtype and out.shape == ref.shape
    if mode == "triangle":
        # sqrt(||x||^2 - 2 x.c + ||c||^2) near a centroid amplifies the
        # products' rounding: held norm-wise, as benchmarks/gpu_check.py does
        rel = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        assert rel < (1e-7 if dtype == np.float64 else 1e-5), rel
    else:
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    est.set_params(sparse_output=True)
    assert sp.issparse(_gpu_transform(est, Xin))
    with pytest.raises(ValueError, match="features"):
        _gpu_transform(est, X[:, :5])


# every activation (and activation_threshold) of the autoencoders' transform
AUTOENCODERS = [
    lambda: SparseAutoencoder(16, activation="relu", max_iter=3, random_state=0),
    lambda: SparseAutoencoder(16, activation="topk", k=3, max_iter=3, random_state=0),
    lambda: SparseAutoencoder(16, activation="batchtopk", k=3, max_iter=3, random_state=0),
    lambda: SparseAutoencoder(16, activation="relu", activation_threshold=0.05, max_iter=3,
                              random_state=0),
    lambda: KLSparseEncoder(6, max_iter=20, activation_threshold=0.3, random_state=0),
    lambda: KLSparseEncoder(6, max_iter=20, random_state=0),
]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("make", AUTOENCODERS)
def test_glue_autoencoder_transform(cpu_backend, monkeypatch, make, sparse):
    """Both autoencoders' transform on the GPU side (the encoder product with
    the input shift folded in, each activation, activation_threshold) with
    the CPU kernels standing in: the CPU transform's codes."""
    import warnings

    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 10)) * (rng.random((80, 10)) < 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X)
    Xin = sp.csr_matrix(X) if sparse else X
    out = _gpu_transform(est, Xin)
    np.testing.assert_allclose(out, est.transform(Xin), rtol=1e-12, atol=1e-12)
    est.set_params(sparse_output=True)
    assert sp.issparse(_gpu_transform(est, Xin))
    with pytest.raises(ValueError, match="features"):
        _gpu_transform(est, X[:, :4])


def test_glue_row_chunks_fortran_init_and_float32_convergence(cpu_backend, monkeypatch):
    """Row chunks (forced small) give the unchunked codes; a Fortran-ordered
    warm start is read as the codes it holds (the kernels need C order); in
    float32 the gap is taken in float64, so a tight tolerance is reached."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, D, alpha = make_problem(n_samples=40)
    whole = _gpu_encode(X, D, alpha=alpha)
    monkeypatch.setattr(_dense, "CHUNK_ENTRIES", 7 * D.shape[0])  # chunks of 7 rows
    # (the same codes up to the products' rounding, whose blocking moves)
    np.testing.assert_allclose(_gpu_encode(X, D, alpha=alpha), whole, rtol=1e-9, atol=1e-12)
    # (7-row GEMMs against one whole GEMM: BLAS blocks them apart, so the
    # responses, and the codes |c| - alpha, agree to an ulp of |c|, not bitwise)
    np.testing.assert_allclose(_gpu_encode(X, D, alpha=alpha, algorithm="threshold"),
                               sparse_encode(X, D, alpha=alpha, algorithm="threshold"),
                               rtol=1e-12, atol=1e-12 * np.abs(X @ D.T).max())
    warm = _gpu_encode(X, D, alpha=alpha, init=np.asfortranarray(whole),
                       return_n_iter=True)
    np.testing.assert_allclose(warm[0], whole, atol=1e-8)
    assert warm[1].max() <= 10
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        Z32 = _gpu_encode(X32, D32, alpha=alpha, tol=1e-8, max_iter=5000)
    assert Z32.dtype == np.float32


@pytest.mark.parametrize("max_iter", [7, 40, 5000])
def test_glue_float32_finish_keeps_to_max_iter(cpu_backend, max_iter):
    """A float32 solve to a tol below 1e-6 is finished in float64 with what
    each row's float32 pass left of max_iter: no row iterates more than
    max_iter in all (it once had max_iter again), the rows that reach it are
    the ones the ConvergenceWarning counts, and with room to spare the tight
    tol is reached."""
    import re
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, D, alpha = make_problem(n_samples=40, dtype=np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        Z, n_iter = _gpu_encode(X, D, alpha=alpha, tol=1e-10, max_iter=max_iter,
                                return_n_iter=True)
    assert n_iter.max() <= max_iter and n_iter.min() >= 1
    counted = [int(re.search(r"on (\d+) of", str(w.message)).group(1)) for w in caught
               if issubclass(w.category, ConvergenceWarning)]
    # (the rows counted stopped at max_iter; a row may also converge there)
    at_cap = int(np.sum(n_iter == max_iter))
    assert (counted == []) if at_cap == 0 else (len(counted) == 1
                                                and 1 <= counted[0] <= at_cap), counted
    if max_iter == 7:
        assert counted == [40]  # (no row converges in 7 iterations)
    if max_iter == 5000:
        assert at_cap == 0
        assert_solves_lasso(X, D, Z, alpha, np.float32)


def test_fista_loop_budgets():
    """Per-row budgets: each row stops at its own budget (checked there,
    not only every CHECK_EVERY iterations) with the iterates it would have
    had there, and a budget of 0 leaves the start as it is."""
    X, D, alpha = make_problem(n_samples=6)
    C, G = X @ D.T, D @ D.T
    sq = np.einsum("ij,ij->i", X, X)
    inv_lip = 1.0 / np.linalg.eigvalsh(G)[-1]
    xp = __import__("array_api_compat").numpy

    def run(max_iter, budget=None, Z0=None):
        Z0 = np.zeros_like(C) if Z0 is None else Z0
        return _dense.fista_loop(C.copy(), Z0.copy(), sq.copy(), G, inv_lip, alpha, False,
                                 True, max_iter, 1e-300, xp=xp, kernels=NUMPY.kernels(),
                                 budget=budget)

    budget = np.array([0, 1, 3, 13, 20, 20])
    Z, n_iter, failed = run(20, budget)
    np.testing.assert_array_equal(n_iter, budget)
    assert failed == 6  # (tol=1e-300: none converges)
    assert not Z[0].any()
    for row, b in enumerate(budget[1:], start=1):
        # (rows leave the batch at their budgets, so the two runs' Y @ G have
        # other row counts: BLAS may round them apart, by an ulp per step)
        np.testing.assert_allclose(Z[row], run(int(b))[0][row], rtol=1e-12,
                                   atol=1e-12 * np.abs(Z).max())


def test_glue_device_gpu_for_host_input(cpu_backend, monkeypatch):
    """device="gpu" on numpy / scipy.sparse input: validated on the host,
    computed through the GPU path, returned on the host in the input's kind;
    device="cpu" refuses GPU arrays rather than copying them."""
    from sparsecode import ThresholdEncoder

    X, D, alpha = make_problem(n_samples=30)
    kw = dict(algorithm="fista", alpha=alpha, tol=1e-10, max_iter=20_000)
    np.testing.assert_allclose(sparse_encode(X.tolist(), D, device="gpu", **kw),
                               sparse_encode(X, D, **kw), atol=1e-6)
    out = sparse_encode(sp.csr_matrix(X), D, device="gpu", sparse_output=True, **kw)
    assert sp.issparse(out)
    for est in (ThresholdEncoder(8, mode="topk", k=3, random_state=0),
                SparseAutoencoder(8, activation="topk", k=3, max_iter=2, random_state=0)):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
        ref = est.transform(X)
        moved = len(cpu_backend.moved)
        np.testing.assert_allclose(est.set_params(device="gpu").transform(X), ref,
                                   rtol=1e-12, atol=1e-12)
        assert cpu_backend.moved[moved:] == [X.shape]  # (through the GPU path)

    class FakeCupyArray:
        shape, ndim = (3, 3), 2

    FakeCupyArray.__module__ = "cupy._core.core"
    with pytest.raises(ValueError, match="device='cpu'"):
        sparse_encode(FakeCupyArray(), D[:, :3], device="cpu")
    with pytest.raises(ValueError, match="device='cpu'"):
        est.set_params(device="cpu").transform(FakeCupyArray())


def test_glue_attention_under_array_api_dispatch(cpu_backend):
    """device="gpu" inside the array API adapter: fitted on another
    namespace's arrays (array_api_strict on a device) by fit_transform, then
    transform, the attention through the GPU path both times, the output in
    that namespace and the CPU's."""
    import array_api_strict as xs
    from sklearn import config_context

    from sparsecode import SparseAttentionTransformer

    X = np.random.default_rng(0).standard_normal((30, 4))
    ref = SparseAttentionTransformer("window", window=4).fit_transform(X)
    device = xs.Device("device1")
    Xs = xs.asarray(X, device=device)
    est = SparseAttentionTransformer("window", window=4, device="gpu")
    with config_context(array_api_dispatch=True):
        outs = [est.fit_transform(Xs), est.transform(Xs)]
    assert cpu_backend.moved == [X.shape, X.shape]
    for out in outs:
        assert out.device == device
        np.testing.assert_allclose(np.asarray(xs.asarray(out, device=xs.Device("CPU_DEVICE"))),
                                   ref, rtol=1e-10, atol=1e-12)


def _window_cpu(Q, K, V, bias, start, end, half, dilation, causal):
    """attention.cu's semantics in numpy: each query's dilated window inside
    its sequence, a float64 softmax of q.k + bias."""
    def keys(i):
        below = min(half, (i - start[i]) // dilation)
        above = 0 if causal else min(half, (end[i] - 1 - i) // dilation)
        return i + dilation * np.arange(-below, above + 1)

    return _softmax_rows(Q, K, V, bias, keys)


def _softmax_rows(Q, K, V, bias, keys_of):
    """Each query's float64 softmax of q.k + bias over ``keys_of(i)``."""
    out = np.empty((Q.shape[0], V.shape[1]), dtype=Q.dtype)
    for i in range(Q.shape[0]):
        keys = keys_of(i)
        s = K[keys].astype(np.float64) @ Q[i].astype(np.float64) + bias[keys]
        w = np.exp(s - s.max())
        out[i] = (w @ V[keys].astype(np.float64)) / w.sum()
    return out


def _check_attention_glue(pattern, params, sparse, dtype, seed, lengths):
    """The GPU glue's transform of ``pattern`` against the CPU transform."""
    from sparsecode import SparseAttentionTransformer

    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((60, 5)) * (rng.random((60, 5)) < 0.7)).astype(dtype)
    est = SparseAttentionTransformer(pattern, **params).fit(X, lengths=lengths)
    Xin = sp.csr_matrix(X) if sparse else X
    ref = est.transform(Xin, lengths=lengths)
    out = _gpu_transform(est, Xin, lengths=np.array(lengths))
    assert out.dtype == dtype and out.shape == ref.shape and sp.issparse(out) == sp.issparse(ref)
    ref = ref.toarray() if sp.issparse(ref) else ref
    out = out.toarray() if sp.issparse(out) else out
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("params", [
    dict(window=4), dict(window=6, dilation=2), dict(window=8, causal=True),
    dict(window=4, similarity="neg_sq_dist", bandwidth=2.0),
    dict(window=4, projection="random", n_components=3, random_state=0),
    dict(window=4, projection="pca", n_components=3),
    dict(window=4, output="residual"),
    dict(window=2, output="concat"),
    dict(window=1000),  # reach past every sequence
])
def test_glue_window_attention(cpu_backend, monkeypatch, params, sparse, dtype):
    """SparseAttentionTransformer.transform's GPU glue (projections, the
    similarity's scale and bias, sequence bounds, outputs) with attention.cu's
    semantics in numpy: the CPU transform's output."""
    _check_attention_glue("window", params, sparse, dtype, 0, [25, 1, 34])


def _pattern_cpu(Q, K, V, bias, indptr, indices):
    """attention.cu's pattern_attention in numpy: each query's CSR row of
    keys, a float64 softmax of q.k + bias."""
    return _softmax_rows(Q, K, V, bias, lambda i: indices[indptr[i]:indptr[i + 1]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("pattern, params", [
    ("longformer", dict(window=4, global_tokens=[0, 7])),
    ("longformer", dict(window=4, global_tokens=2, causal=True, dilation=2)),
    ("bigbird", dict(window=2, block_size=4, n_random=2, random_state=0)),
    ("bigbird", dict(window=4, block_size=3, similarity="neg_sq_dist", output="residual",
                     random_state=0)),
    ("window2d", dict(window=2, grid_shape=(4, 5))),
    ("lsh", dict(lsh_mode="exact", projection="random", n_components=3, random_state=0)),
    ("lsh", dict(n_hashes=2, chunk_size=4, random_state=0)),
    ("dense", dict(output="concat")),
])
def test_glue_pattern_attention(cpu_backend, monkeypatch, pattern, params, sparse, dtype):
    """Every pattern but the window through the CSR kernel, its keys from
    the CPU's own plan: the CPU transform's output."""
    _check_attention_glue(pattern, params, sparse, dtype, 1,
                          [20, 20, 20] if pattern == "window2d" else [25, 1, 34])


def test_glue_attention_refusals(cpu_backend):
    from sparsecode import SparseAttentionTransformer

    X = np.random.default_rng(0).standard_normal((30, 4))
    est = SparseAttentionTransformer("window", window=4).fit(X)
    with pytest.raises(ValueError, match="features"):
        _gpu_transform(est, X[:, :3])
    with pytest.raises(ValueError, match="lengths"):
        _gpu_transform(est, X, lengths=[10, 10])


@pytest.mark.parametrize("split_sign", [False, True])
@pytest.mark.parametrize("sparse_output", [False, True])
def test_glue_dictionary_learner_transform(cpu_backend, monkeypatch, split_sign,
                                           sparse_output):
    """DictionaryLearner.transform of GPU input goes through sparse_encode's
    GPU path with the estimator's transform parameters; the sign split and
    CSR output are made there. (The numpy stand-in is marked as a GPU array
    for the dispatch.)"""
    from sparsecode import DictionaryLearner

    X, D, alpha = make_problem(n_samples=40)
    dl = DictionaryLearner(8, alpha=alpha, max_iter=2, transform_algorithm="fista",
                           split_sign=split_sign, sparse_output=sparse_output,
                           random_state=0).fit(X)
    ref = dl.transform(X)
    _mark_gpu(monkeypatch, lambda A: isinstance(A, np.ndarray))
    out = dl.transform(X)
    assert sp.issparse(out) == sparse_output
    dense = out.toarray() if sparse_output else out
    np.testing.assert_allclose(dense, ref.toarray() if sparse_output else ref, atol=1e-5)
    with pytest.raises(ValueError, match="features"):
        dl.transform(X[:, :4])
    omp = dict(transform_algorithm="omp", transform_n_nonzero_coefs=3)
    _mark_gpu(monkeypatch, lambda A: False)
    ref = dl.set_params(**omp).transform(X)
    _mark_gpu(monkeypatch, lambda A: isinstance(A, np.ndarray))
    out = dl.transform(X)
    np.testing.assert_allclose(out.toarray() if sparse_output else out,
                               ref.toarray() if sparse_output else ref, rtol=1e-10)
    with pytest.raises(ValueError, match="CPU only"):
        dl.set_params(transform_algorithm="lars").transform(X)


# ------------------------------------------------- SparseAutoencoder training
def _mark_gpu(monkeypatch, test):
    """Which arrays count as the stand-in backend's GPU arrays: for the
    estimators (``get_backend``) and for ``validate_data``'s refusal alike,
    as with real CuPy arrays, so a GPU path that fell through to the CPU's
    validation would fail here as it would on a device."""
    monkeypatch.setattr(_gpu.current(), "gpu_arrays", test)


def _gpu_arrays(monkeypatch):
    """Mark the numpy (and scipy.sparse) stand-ins as GPU arrays, so that
    fit and partial_fit take the GPU path (sparsecode/_gpu_train.py)."""
    _mark_gpu(monkeypatch, lambda A: isinstance(A, np.ndarray) or sp.issparse(A))


def _sae_data(dtype=np.float64, sparse=False, n=120, d=10):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < (0.3 if sparse else 1.0))
    X = X.astype(dtype)
    return sp.csr_matrix(X) if sparse else X


_SAE_CASES = {
    "relu": dict(activation="relu", l1=1e-2),
    "relu tied warmups": dict(activation="relu", l1=5e-2, tied=True, lr_warmup=5,
                              l1_warmup=7),
    "relu weight_l1": dict(activation="relu", weight_l1=1e-3),
    "relu free decoder": dict(activation="relu", normalize_decoder=False,
                              b_dec_init="mean"),
    "topk auxk": dict(activation="topk", k=1, aux_k=4, dead_threshold=20),
    "topk tied": dict(activation="topk", k=3, tied=True, shuffle=False),
    "batchtopk auxk": dict(activation="batchtopk", k=1, aux_k=3, dead_threshold=20),
    "relu dropout": dict(activation="relu", l1=1e-2, dropout=0.3),
    "topk dropout": dict(activation="topk", k=3, dropout=0.25),
    "batchtopk dropout auxk": dict(activation="batchtopk", k=1, dropout=0.2, aux_k=3,
                                   dead_threshold=20),
    "relu prune weight_l1": dict(activation="relu", prune=0.5, prune_epochs=2,
                                 weight_l1=1e-3),
    "topk prune tied": dict(activation="topk", k=3, tied=True, prune=0.4, prune_epochs=3),
    "relu early stopping": dict(activation="relu", early_stopping=True,
                                validation_fraction=0.25, n_iter_no_change=1, tol=0.5),
    "batchtopk early stopping prune": dict(activation="batchtopk", k=2, early_stopping=True,
                                           prune=0.6, prune_epochs=2, n_iter_no_change=1),
}


# float32 with the k = 1 AuxK cases is left out: a top-1 choice between two
# near-equal pre-activations flips on float32 rounding, and from there the
# two trajectories are different (equally valid) trainings
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case, dtype, sparse", [
    *[(case, np.float64, sparse) for case in _SAE_CASES for sparse in (False, True)],
    *[(case, np.float32, False) for case in _SAE_CASES if "auxk" not in case]])
def test_glue_sparse_autoencoder_fit(cpu_backend, monkeypatch, case, dtype, sparse):
    """The GPU fit follows the CPU fit step for step (same draws, same
    model, dense minibatches and dense codes in place of the CPU's sparse
    ones): equal parameters, losses, dead latents and BatchTopK threshold."""
    X = _sae_data(dtype, sparse)
    params = dict(n_components=12, max_iter=4, batch_size=32, learning_rate=1e-2,
                  random_state=0, **_SAE_CASES[case])
    ref = SparseAutoencoder(**params).fit(X)
    _gpu_arrays(monkeypatch)
    from sparsecode import _gpu_train

    dead_seen = []
    loss_grad = _gpu_train.sae_loss_grad

    def recording(*args, dead, **kwargs):
        dead_seen.append(int(dead.sum()))
        return loss_grad(*args, dead=dead, **kwargs)

    monkeypatch.setattr(_gpu_train, "sae_loss_grad", recording)
    est = SparseAutoencoder(**params).fit(X)
    tight = dtype == np.float64
    for name in ("encoder_weights_", "encoder_bias_", "components_", "decoder_bias_"):
        got, want = getattr(est, name), getattr(ref, name)
        assert isinstance(got, np.ndarray) and got.dtype == dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-7 if tight else 2e-3,
                                   atol=1e-10 if tight else 1e-4, err_msg=name)
    if params.get("tied"):
        assert est.components_ is est.encoder_weights_
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9 if tight else 1e-4)
    assert est.t_ == ref.t_ and est.n_iter_ == ref.n_iter_
    assert est.dead_fraction_ == ref.dead_fraction_
    assert est.encoder_density_ == ref.encoder_density_
    if "prune" in case:
        assert ref.encoder_density_ < 0.7  # the schedule ran
        np.testing.assert_array_equal(est._state["mask"], ref._state["mask"])
        assert isinstance(est._state["mask"], np.ndarray)
    if ref.validation_scores_ is None:
        assert est.validation_scores_ is None
    else:
        np.testing.assert_allclose(est.validation_scores_, ref.validation_scores_,
                                   rtol=1e-9 if tight else 1e-4)
        np.testing.assert_allclose(est.best_validation_score_, ref.best_validation_score_,
                                   rtol=1e-9 if tight else 1e-4)
    if ref.threshold_ is not None:
        np.testing.assert_allclose(est.threshold_, ref.threshold_, rtol=1e-9 if tight else 1e-4)
    else:
        assert est.threshold_ is None
    if "auxk" in case:  # the AuxK term was exercised: some latents were dead
        assert max(dead_seen) > 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_glue_sparse_autoencoder_partial_fit(cpu_backend, monkeypatch):
    """partial_fit resumes on the GPU from a CPU fit (and the CPU from a GPU
    one) with the stored moments, counters and generator."""
    X = _sae_data()
    params = dict(n_components=12, activation="topk", k=2, aux_k=3, dead_threshold=40,
                  batch_size=32, max_iter=2, random_state=0)
    ref = SparseAutoencoder(**params).fit(X).partial_fit(X[:60]).partial_fit(X[60:])
    est = SparseAutoencoder(**params).fit(X)
    _gpu_arrays(monkeypatch)
    est.partial_fit(X[:60])
    _mark_gpu(monkeypatch, lambda A: False)
    est.partial_fit(X[60:])
    np.testing.assert_allclose(est.encoder_weights_, ref.encoder_weights_, rtol=1e-7,
                               atol=1e-10)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert est.t_ == ref.t_
    # a first partial_fit on the GPU is a one-epoch fit
    _gpu_arrays(monkeypatch)
    first = SparseAutoencoder(**params).partial_fit(X)
    _mark_gpu(monkeypatch, lambda A: False)
    np.testing.assert_allclose(first.components_,
                               SparseAutoencoder(**params).partial_fit(X).components_,
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("activation", ["topk", "batchtopk"])
def test_glue_dropout_gates_follow_the_cpu_codes_order(activation):
    """Dropout draws one gate per entry of the CPU's sparse codes, in their
    order (TopK: above the k-th largest by index, then its ties; BatchTopK:
    above the threshold by index): the GPU's dense gates put each draw on
    the entry the CPU gives it, on rows full of ties and negatives."""
    from sparsecode._autoencoder_model import _select_above, _select_topk
    from sparsecode._autoencoder_xp import dropout_gates as _gates

    rng = np.random.default_rng(0)
    pre = rng.integers(-2, 3, size=(40, 9)).astype(np.float64)  # many ties
    pre[0] = -1.0  # every candidate tied and negative
    k, threshold = 4, 0.5
    codes = _select_topk(pre, k) if activation == "topk" else _select_above(pre, threshold)
    draws = np.arange(1.0, codes.val.size + 1)  # a distinct value per draw
    want = np.zeros_like(pre)
    rows = np.repeat(np.arange(pre.shape[0]), np.diff(codes.indptr))
    want[rows, codes.idx] = draws
    xp = __import__("array_api_compat").array_namespace(pre)
    got = _gates(xp, pre, activation, k, threshold, lambda n: draws[:n])
    np.testing.assert_array_equal(got, want)


# (numpy, standing in for CuPy, warns of the overflow it is refusing)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                            "ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_glue_sparse_autoencoder_fit_diverges_and_keeps_the_model(cpu_backend, monkeypatch):
    X = _sae_data()
    _gpu_arrays(monkeypatch)
    est = SparseAutoencoder(6, max_iter=2, random_state=0).fit(X)
    before = est.encoder_weights_.copy()
    with pytest.raises(ValueError, match="training diverged"):
        est.set_params(learning_rate=1e200).partial_fit(1e200 * X)
    np.testing.assert_array_equal(est.encoder_weights_, before)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :4])
    # one step whose loss is still finite but leaves weights of 1e200: the
    # weights and pre-activations are checked, as on the CPU
    step = dict(max_iter=1, batch_size=len(X), learning_rate=1e200, random_state=0)
    for marked in (False, True):
        if not marked:
            _mark_gpu(monkeypatch, lambda A: False)
        else:
            _gpu_arrays(monkeypatch)
        with pytest.raises(ValueError, match="training diverged"):
            SparseAutoencoder(6, **step).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_glue_sparse_autoencoder_device_gpu(cpu_backend, monkeypatch):
    """device="gpu" trains numpy input on the GPU: the stand-in's to_device
    is the identity, the result the CPU's."""
    X = _sae_data()
    calls = []
    from sparsecode import _gpu_train

    fit = _gpu_train.autoencoder_fit_gpu
    monkeypatch.setattr(_gpu_train, "autoencoder_fit_gpu",
                        lambda *a: calls.append(1) or fit(*a))
    est = SparseAutoencoder(8, max_iter=2, random_state=0, device="gpu").fit(X)
    assert calls == [1]
    ref = SparseAutoencoder(8, max_iter=2, random_state=0).fit(X)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-7, atol=1e-10)


# ---------------------------------------------------- DictionaryLearner.fit
@pytest.mark.parametrize("method", ["online", "batch"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("options", [dict(fit_algorithm="fista"),
                                     dict(fit_algorithm="ista", positive_code=True,
                                          positive_dict=True),
                                     dict(fit_algorithm="auto", l2=0.1, n_components=30)])
def test_glue_dictionary_learner_fit(cpu_backend, monkeypatch, method, sparse, options):
    """The GPU fit (codes and their statistics on the device, the atom
    updates on the host) against the CPU fit with FISTA forced onto the same
    GEMM route: the same dictionary and objectives up to the solver's
    stopping point. n_components=30 > 12 features leaves atoms unused in the
    online fit: resampling from the device's rows is exercised too."""
    from sparsecode import DictionaryLearner

    monkeypatch.setattr(fista_solver, "GEMM_DENSITY", -1.0)  # every CPU FISTA: GEMM route
    X, _, alpha = make_problem(n_samples=80)
    Xin = sp.csr_matrix(X) if sparse else X
    params = dict(n_components=10, alpha=alpha, method=method, max_iter=3, batch_size=16,
                  random_state=0)
    params.update(options)
    cpu_options = dict(fit_algorithm="fista") if options["fit_algorithm"] == "auto" else {}
    ref = DictionaryLearner(**params).set_params(**cpu_options).fit(Xin)
    _gpu_arrays(monkeypatch)
    est = DictionaryLearner(**params).fit(Xin)
    assert isinstance(est.components_, np.ndarray)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-6)
    assert est.n_resampled_ == ref.n_resampled_
    if options.get("n_components") == 30 and method == "online":
        assert ref.n_resampled_ > 0  # (the batch method used all 30 atoms)


def test_glue_dictionary_learner_partial_fit_and_refusals(cpu_backend, monkeypatch):
    from sparsecode import DictionaryLearner

    monkeypatch.setattr(fista_solver, "GEMM_DENSITY", -1.0)
    X, _, alpha = make_problem(n_samples=60)
    params = dict(n_components=8, alpha=alpha, fit_algorithm="fista", random_state=0)
    ref = DictionaryLearner(**params).partial_fit(X[:30]).partial_fit(X[30:])
    _gpu_arrays(monkeypatch)
    est = DictionaryLearner(**params).partial_fit(X[:30]).partial_fit(X[30:])
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est._A, ref._A, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :5])
    for bad in (dict(method="ksvd", n_nonzero_coefs=2), dict(fit_algorithm="lars"),
                dict(fit_algorithm="cd")):
        fresh = DictionaryLearner(**{**params, **bad})
        with pytest.raises(ValueError, match="learns on the CPU only so far"):
            fresh.fit(X)
        assert not hasattr(fresh, "components_")


# ------------------------------------------------------------------ device=
def test_glue_device_parameter_on_dictionary_learner_and_attention(cpu_backend, monkeypatch):
    """device="gpu" sends host input through the GPU path (to_device, the
    GPU glue, to_host) and gives the CPU's result; device="cpu" refuses GPU
    input; device="gpu" without CuPy names the missing extra."""
    from sparsecode import DictionaryLearner, SparseAttentionTransformer

    moved = cpu_backend.moved
    X, _, alpha = make_problem(n_samples=40)
    dl = DictionaryLearner(8, alpha=alpha, max_iter=2, transform_algorithm="fista",
                           random_state=0).fit(X)
    ref = dl.transform(X)
    np.testing.assert_allclose(dl.set_params(device="gpu").transform(X), ref, atol=1e-5)
    assert moved == [X.shape]
    att = SparseAttentionTransformer("window", window=4).fit(X)
    np.testing.assert_allclose(att.set_params(device="gpu").transform(X), att.transform(X),
                               rtol=1e-10)
    assert moved[-1] == X.shape
    with pytest.raises(ValueError, match="device='cpu'"):
        _gpu_arrays(monkeypatch)
        DictionaryLearner(8, device="cpu").fit(X)

    class NoCupy(CupyBackend):
        def cupy(self):
            raise ImportError("GPU input needs CuPy: pip install 'sparsecode[gpu]'")

    with use_backend(NoCupy()):
        for est in (DictionaryLearner(8, device="gpu"), SparseAutoencoder(4, device="gpu"),
                    KLSparseEncoder(4, device="gpu")):
            with pytest.raises(ImportError, match=r"sparsecode\[gpu\]"):
                est.fit(X)
            assert not hasattr(est, "components_")


# ------------------------------------------------------- KLSparseEncoder.fit
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("options", [dict(solver="lbfgs", max_iter=15),
                                     dict(solver="adam", max_iter=3, batch_size=32),
                                     dict(solver="adam", max_iter=3, batch_size=32, dropout=0.2,
                                          weight_l1=1e-3, prune=0.5, prune_epochs=2)])
def test_glue_kl_sparse_encoder_fit(cpu_backend, monkeypatch, sparse, options, dtype):
    """The GPU loss and gradient under the host's optimiser: the CPU fit's
    parameters (in X's dtype), losses and mean activations (same draws)."""
    X = _sae_data(dtype=dtype, sparse=sparse, n=100, d=8)
    params = dict(n_components=5, random_state=0, **options)
    ref = KLSparseEncoder(**params).fit(X)
    _gpu_arrays(monkeypatch)
    est = KLSparseEncoder(**params).fit(X)
    for name in ("encoder_weights_", "components_", "encoder_bias_", "decoder_bias_",
                 "mean_activation_"):
        got, want = getattr(est, name), getattr(ref, name)
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert est.n_iter_ == ref.n_iter_


def test_glue_kl_loss_gradient_matches_the_cpu(cpu_backend):
    """kl_loss_grad_gpu against the CPU's kl_loss_grad on the same theta,
    with and without a dropout scale, dense and CSR."""
    from sparsecode._autoencoder_model import kl_loss_grad
    from sparsecode._autoencoder_xp import kl_loss_grad_gpu

    rng = np.random.default_rng(0)
    m, d = 4, 7
    theta = rng.standard_normal(2 * m * d + m + d) * 0.3
    for sparse in (False, True):
        X = _sae_data(sparse=sparse, n=30, d=d)
        for scale in (None, (rng.random((30, m)) > 0.3) / 0.7):
            want = kl_loss_grad(theta, X, m, 0.05, 3.0, 1e-3, dropout_scale=scale)
            got = kl_loss_grad_gpu(theta, X, m, 0.05, 3.0, 1e-3, dropout_scale=scale)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(got[2], want[2], rtol=1e-12)


# ---------------------------------------------- SparseAttentionTransformer.fit
# (300, 40): 7 power iterations (k < 0.1 min(n, p)); (300, 12): 4; (10, 40)
# transposes
@pytest.mark.parametrize("shape", [(300, 40), (300, 12), (10, 40)])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_glue_randomized_svd_gpu_matches_scikit_learn(cpu_backend, shape, sparse, dtype):
    """randomized_svd_gpu against scikit-learn's randomized_svd: the same
    components (QR for LU changes only rounding on a well-separated
    spectrum), the same signs, and the generator left in the same state."""
    from sklearn.utils.extmath import randomized_svd

    rng = np.random.default_rng(0)
    n, p = shape
    X = (rng.standard_normal((n, 5)) * [8, 6, 4, 2, 1]) @ rng.standard_normal((5, p))
    X = (X + 0.01 * rng.standard_normal((n, p))).astype(dtype)
    Xin = sp.csr_matrix(X) if sparse else X
    ours, theirs = np.random.RandomState(3), np.random.RandomState(3)
    got = _gpu.randomized_svd_gpu(Xin, 3, ours)
    want = randomized_svd(Xin, 3, random_state=theirs)[2]
    np.testing.assert_allclose(got, want, atol=1e-6 if dtype == np.float64 else 1e-4)
    assert ours.randint(1 << 30) == theirs.randint(1 << 30)


@pytest.mark.parametrize("params", [dict(pattern="window", window=4, random_state=0),
                                    dict(pattern="lsh", random_state=0, projection="pca",
                                         n_components=3),
                                    dict(pattern="bigbird", window=2, block_size=4,
                                         projection="random", n_components=3, random_state=0)])
def test_glue_attention_fit_on_the_gpu(cpu_backend, monkeypatch, params):
    """fit of GPU input: the CPU fit's projections and random draws (the
    pattern), so the transform is the CPU's."""
    from sparsecode import SparseAttentionTransformer

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((80, 5)) * [8, 6, 4, 2, 1]) @ rng.standard_normal((5, 6))
    ref = SparseAttentionTransformer(**params).fit(X)
    _gpu_arrays(monkeypatch)
    est = SparseAttentionTransformer(**params).fit(X)
    for name in ("query_projection_", "lsh_rotations_"):
        if getattr(ref, name) is None:
            assert getattr(est, name) is None
        else:
            np.testing.assert_allclose(getattr(est, name), getattr(ref, name), atol=1e-6)
    assert est.random_seed_ == ref.random_seed_
    assert est.n_features_in_ == ref.n_features_in_ == 6
    _mark_gpu(monkeypatch, lambda A: False)
    np.testing.assert_allclose(est.transform(X), ref.transform(X), atol=1e-5)
    # lengths may come as a GPU array (never converted implicitly)

    class DeviceLengths:
        def __init__(self, values):
            self.values = np.asarray(values)

        def get(self):
            return self.values

        def __array__(self, *args, **kwargs):
            raise TypeError("Implicit conversion to a NumPy array is not allowed.")

    _gpu_arrays(monkeypatch)
    est.fit(X, lengths=DeviceLengths([30, 50]))
    _mark_gpu(monkeypatch, lambda A: False)
    np.testing.assert_allclose(est.transform(X, lengths=[30, 50]),
                               ref.fit(X, lengths=[30, 50]).transform(X, lengths=[30, 50]),
                               atol=1e-5)


# ---------------------------------------------------- ThresholdEncoder.fit
_THRESHOLD_FITS = {
    "spherical kmeans": dict(),
    "euclidean kmeans": dict(mode="triangle"),
    "whitened, target sparsity": dict(whiten=True, target_sparsity=0.8),
    "patches, hard": dict(dictionary="patches", whiten=True, mode="hard",
                          target_sparsity=0.7),
    "triangle, two starts": dict(whiten=True, mode="triangle", kmeans_n_init=2),
    "soft without split": dict(split_sign=False, target_sparsity=0.3, kmeans_max_iter=3),
    "given atoms": dict(dictionary=np.random.default_rng(1).standard_normal((8, 12)),
                        target_sparsity=0.6),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("case", list(_THRESHOLD_FITS))
def test_glue_threshold_encoder_fit(cpu_backend, monkeypatch, case, sparse, dtype):
    """The GPU fit (covariance, k-means' products, assignments and centroid
    sums and the threshold's responses on the device; eigendecomposition
    and draws on the host) against the CPU fit: the same whitening, atoms,
    k-means objective and iterations, and threshold."""
    from sparsecode import ThresholdEncoder

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((300, 12)) * (rng.random((300, 12)) < 0.5)).astype(dtype)
    X[:, 3] *= 4.0  # (whitening has something to undo)
    Xin = sp.csr_matrix(X) if sparse else X
    if sparse:  # the first entry split in two (a duplicate the fit must sum)
        half = Xin.data[:1] / 2
        Xin = sp.csr_matrix((np.r_[half, half, Xin.data[1:]].astype(dtype),
                             np.r_[Xin.indices[:1], Xin.indices],
                             Xin.indptr + (np.arange(Xin.indptr.size) > 0)), shape=X.shape)
        assert not Xin.has_canonical_format
    params = dict(n_components=8, random_state=0, **_THRESHOLD_FITS[case])
    ref = ThresholdEncoder(**params).fit(Xin)
    _gpu_arrays(monkeypatch)
    est = ThresholdEncoder(**params).fit(Xin)
    tight = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for name in ("components_", "mean_", "whitening_"):
        got, want = getattr(est, name), getattr(ref, name)
        if want is None:
            assert got is None, name
            continue
        assert isinstance(got, np.ndarray), name
        np.testing.assert_allclose(got, want, err_msg=name, **tight)
    assert est.components_.dtype == dtype
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-9)
    if ref.alpha_ is None:
        assert est.alpha_ is None
    else:
        np.testing.assert_allclose(est.alpha_, ref.alpha_, rtol=1e-9)
    if "kmeans" in case or "two starts" in case:
        assert est.n_iter_ > 1


@pytest.mark.parametrize("whiten", [False, True])
def test_glue_threshold_encoder_fits_its_dictionary_estimator_on_the_gpu(
        cpu_backend, monkeypatch, whiten):
    """An estimator dictionary is fitted on the GPU (on the whitened rows,
    made there) and its atoms come back to the host; one whose settings keep
    it on the CPU, or from another library, is refused with a message, and
    the estimator is left unfitted. device="gpu" takes host input there."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    from sparsecode import DictionaryLearner, ThresholdEncoder

    monkeypatch.setattr(fista_solver, "GEMM_DENSITY", -1.0)  # the CPU's FISTA on the GEMM route
    X, _, _ = make_problem(n_samples=60)
    inner = DictionaryLearner(6, alpha=0.1, max_iter=2, fit_algorithm="fista", random_state=0)
    params = dict(dictionary=inner, whiten=whiten, target_sparsity=0.7)
    ref = ThresholdEncoder(**params).fit(X)
    gpu_host_input = ThresholdEncoder(device="gpu", **params).fit(X)
    _gpu_arrays(monkeypatch)
    est = ThresholdEncoder(**params).fit(X)
    for got in (est, gpu_host_input):
        np.testing.assert_allclose(got.components_, ref.components_, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(got.alpha_, ref.alpha_, rtol=1e-6)
        assert isinstance(got.dictionary_estimator_.components_, np.ndarray)
    assert est._gpu_supports("fit")
    for source in (DictionaryLearner(6, method="ksvd", n_nonzero_coefs=2),
                   MiniBatchDictionaryLearning(6)):
        bad = ThresholdEncoder(dictionary=source)
        assert not bad._gpu_supports("fit")
        with pytest.raises(ValueError, match="cannot learn on the GPU"):
            bad.fit(X)
        assert not hasattr(bad, "components_")
    fitted = MiniBatchDictionaryLearning(6, random_state=0, max_iter=2).fit(X)
    assert ThresholdEncoder(dictionary=fitted)._gpu_supports("fit")
    np.testing.assert_allclose(ThresholdEncoder(dictionary=fitted).fit(X).components_,
                               fitted.components_)
