"""The CUDA sources themselves, run on the CPU (cuda_host.h, cuda_host.py),
behind the backend's own launchers in sparsecode/_cupy_backend.py with numpy
standing in for CuPy: every kernel's results against the CPU's, each launch
also run with its lanes in reverse order (a race between lanes fails it).
What this cannot see is what differs on a device (memory coherence across
warps, fused multiply-adds outside omp.cu, timing): tests/test_gpu.py runs
the same comparisons on a GPU where one exists."""

import warnings

import cuda_host
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_solves_lasso, make_problem
from test_gpu_glue import (
    AUTOENCODERS,
    HostGPU,
    _check_attention_glue,
    _gpu_arrays,
    _gpu_encode,
    _gpu_transform,
    _sae_data,
)

from sparsecode import SparseAutoencoder, _gpu, sparse_encode
from sparsecode._backend import use_backend


@pytest.fixture
def cuda_on_host():
    """The GPU backend's launchers and glue, numpy standing in for CuPy and
    the CUDA sources built for the host."""
    with use_backend(HostGPU(cpu_kernels=False, modules=cuda_host.module)) as backend:
        yield backend


def _encode(X, D, **kw):
    return _gpu_encode(X, D, return_n_iter=True, **kw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [dict(), dict(positive=True), dict(l2=0.3),
                                     dict(algorithm="ista", tol=1e-6), dict(sparse=True)])
def test_fista_kernels_solve_the_lasso(cuda_on_host, dtype, options):
    """fista.cu's step and gap kernels: the lasso's solution, and in float64
    the CPU's own iterates (the same codes and iteration counts)."""
    options = dict(options)
    sparse = options.pop("sparse", False)
    X, D, alpha = make_problem(n_samples=10, dtype=dtype)
    Z, n_iter = _encode(sp.csr_matrix(X) if sparse else X, D, alpha=alpha, **options)
    assert Z.dtype == dtype
    if "tol" not in options:  # (ISTA is held to the CPU's ISTA below)
        exact = assert_solves_lasso(X, D, Z, alpha, dtype, l2=options.get("l2", 0.0),
                                    positive=options.get("positive", False))
        np.testing.assert_allclose(Z, exact, atol=1e-3 if dtype == np.float64 else 1e-2)
    if dtype == np.float64:
        kw = {key: value for key, value in options.items() if key != "tol"}
        ref, ref_iter = sparse_encode(X, D, alpha=alpha, tol=options.get("tol", 1e-10),
                                      max_iter=20_000, return_n_iter=True,
                                      **{"algorithm": "fista", **kw})
        np.testing.assert_allclose(Z, ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(n_iter, ref_iter)


@pytest.mark.parametrize("positive", [False, True])
def test_threshold_kernel(cuda_on_host, positive):
    X, D, alpha = make_problem(n_samples=20)
    Z, _ = _encode(X, D, algorithm="threshold", alpha=alpha, positive=positive)
    # (the GPU path's X @ D.T, a transposed view, and the CPU's X @ a C copy
    # of D^T are other BLAS calls: the responses, and so |c| - alpha, agree
    # to an ulp of |c|, not bitwise)
    np.testing.assert_allclose(Z, sparse_encode(X, D, algorithm="threshold", alpha=alpha,
                                                positive=positive),
                               rtol=1e-12, atol=1e-12 * np.abs(X @ D.T).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [dict(n_nonzero_coefs=1), dict(n_nonzero_coefs=6),
                                     dict(alpha=0.5), dict(alpha=0.5, n_nonzero_coefs=2),
                                     dict(n_nonzero_coefs=40)])
def test_omp_kernel_is_the_cpu_pursuit_bit_for_bit(cuda_on_host, dtype, options):
    """omp.cu (compiled without fused multiply-adds, as NVRTC compiles it)
    takes the CPU's atoms in the CPU's order and rounds as the CPU does:
    equal codes and atom counts, including a dictionary with a repeated
    atom, whose second copy the pursuit must refuse as dependent."""
    X, D, _ = make_problem(n_samples=16, dtype=dtype, n_components=24)
    # on a grid of 1/64 every product and partial sum in X D^T and D D^T is
    # a multiple of 2^-12 below 2^5 (17 bits), exact even in float32: the GPU
    # path's and the CPU's GEMMs, however their BLAS blocks them, hand the
    # pursuits the same bits
    X, D = (np.round(A * 64) / 64 for A in (X, D))
    D = np.vstack([D, D[:1]])  # a dependent atom
    kw = dict(algorithm="omp", **options)
    warn = options.get("n_nonzero_coefs", 0) > 12  # more atoms than features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z, n_iter = _encode(X, D, **{**dict(alpha=None), **kw})
        ref, ref_iter = sparse_encode(X, D, return_n_iter=True, **kw)
    assert warn or n_iter.max() >= 1
    np.testing.assert_array_equal(Z, ref)
    np.testing.assert_array_equal(n_iter, ref_iter)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode, split, whiten", [
    ("soft", True, True), ("soft", False, False), ("hard", True, False),
    ("topk", True, True), ("topk", False, False), ("triangle", False, True)])
def test_threshold_encoder_kernels(cuda_on_host, mode, split, whiten, dtype):
    """threshold.cu's shrink, top-k and triangle kernels: the CPU
    transform's features."""
    from sparsecode import ThresholdEncoder

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((40, 8)) * (rng.random((40, 8)) < 0.6)).astype(dtype)
    X[5] = 0.0  # (a row of zeros: every response ties)
    est = ThresholdEncoder(40, mode=mode, split_sign=split, whiten=whiten, alpha=0.1, k=3,
                           random_state=0).fit(X)
    out = _gpu_transform(est, X)
    ref = est.transform(X)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    if mode == "triangle":  # (norm-wise: see test_gpu_glue)
        rel = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        assert rel < (1e-7 if dtype == np.float64 else 1e-5), rel
    else:
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    if mode == "topk":
        assert np.array_equal(out != 0, ref != 0)  # the same entries, ties included


@pytest.mark.parametrize("make", AUTOENCODERS)
def test_autoencoder_activation_kernels(cuda_on_host, make):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 10)) * (rng.random((50, 10)) < 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X)
    np.testing.assert_allclose(_gpu_transform(est, X), est.transform(X),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pattern, params", [
    ("window", dict(window=4)), ("window", dict(window=6, dilation=2, causal=True)),
    ("window", dict(window=1000)),
    ("longformer", dict(window=4, global_tokens=[0, 7])),
    ("bigbird", dict(window=2, block_size=4, n_random=2, random_state=0)),
    ("dense", dict(output="concat"))])
def test_attention_kernels(cuda_on_host, pattern, params, dtype):
    """attention.cu's window and CSR-pattern kernels (the online softmax):
    the CPU transform's output, over three sequences."""
    _check_attention_glue(pattern, params, False, dtype, 0, [25, 1, 34])


_TRAININGS = [dict(activation="relu", l1=1e-2), dict(activation="relu", l1=1e-2, dropout=0.3),
              dict(activation="topk", k=3, dropout=0.2),
              dict(activation="topk", k=2, aux_k=4, dead_threshold=20),
              dict(activation="batchtopk", k=2, aux_k=4, dead_threshold=20, weight_l1=1e-3)]


# float32 leaves out AuxK, as test_gpu_glue does: a choice between two
# near-equal pre-activations flips on float32 rounding, and from there the
# trainings differ (equally valid)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("params, dtype", [
    *[(params, np.float64) for params in _TRAININGS],
    *[(params, np.float32) for params in _TRAININGS if "aux_k" not in params]])
def test_sparse_autoencoder_training_kernels(cuda_on_host, monkeypatch, params, dtype):
    """The GPU training's kernels (autoencoder.cu's ReLU forward pass, the
    gradient through the codes' gate, Adam; threshold.cu's warp top-k for
    the codes and AuxK's): the CPU fit, step for step. In float32 too (to
    1e-4, where test_gpu_glue's array-API stand-ins of these kernels hold
    2e-3): they sum and step in float64 as the CPU's kernels do."""
    X = _sae_data(dtype, n=60)
    kw = dict(n_components=12, max_iter=2, batch_size=16, learning_rate=1e-2, random_state=0,
              **params)
    ref = SparseAutoencoder(**kw).fit(X)
    _gpu_arrays(monkeypatch)
    est = SparseAutoencoder(**kw).fit(X)
    tight = dtype == np.float64
    for name in ("encoder_weights_", "components_", "encoder_bias_", "decoder_bias_"):
        np.testing.assert_allclose(getattr(est, name), getattr(ref, name),
                                   rtol=1e-7 if tight else 1e-4, atol=1e-10 if tight else 1e-6,
                                   err_msg=name)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9 if tight else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_autoencoder_kernels_over_many_tiles(cuda_on_host, dtype):
    """autoencoder.cu's kernels on 300 rows x 600 latents (three blocks of
    columns, five tiles of rows, the last ones partial) against their
    array-API twins, which the glue tests hold to the CPU fit: the same
    codes and gradients bit for bit, the same float64 column sums up to
    their order of addition; Adam bit for bit with the CPU's Numba step."""
    import array_api_compat

    from sparsecode import _autoencoder_xp
    from sparsecode._kernels._autoencoder import adam_update

    xp = array_api_compat.numpy
    rng = np.random.default_rng(0)
    n, m = 300, 600
    P = rng.standard_normal((n, m)).astype(dtype)
    b_enc = (0.3 * rng.standard_normal(m)).astype(dtype)
    gates = ((rng.random((n, m)) > 0.25) / 0.75).astype(dtype)
    for g in (None, gates):
        got = _gpu.fused("relu_forward")(P.copy(), b_enc, g)
        want = _autoencoder_xp.relu_forward(xp, P, b_enc, g)
        np.testing.assert_array_equal(got[0], want[0])
        for a, b in zip(got[1:], want[1:]):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    F = np.maximum(P, 0).astype(dtype)
    G = rng.standard_normal((n, m)).astype(dtype)
    add = rng.random(m).astype(dtype)
    for options in (dict(add=add, scale=1 / 0.8), dict(div=150), dict(div=150, scale=1.25),
                    dict(scale=0.01)):
        got = _gpu.fused("gate_backward")(G.copy(), F, **options)
        want = _autoencoder_xp.gate_backward(xp, G, F, **options)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    size = 1000
    param, grad, m1, m2 = (rng.standard_normal(size).astype(dtype) for _ in range(4))
    m2 = np.abs(m2)
    arrays = [a.copy() for a in (param, grad, m1, m2)]
    twin = [a.copy() for a in (param, grad, m1, m2)]
    hyper = (1e-3, 0.9, 0.999, 1e-8, 1 - 0.9**7, 1 - 0.999**7)
    _gpu.fused("adam")(*arrays, *hyper)
    adam_update(*twin, *hyper, 0, size)
    for a, b in zip(arrays, twin):
        np.testing.assert_array_equal(a, b)
    numpy_twin = [a.copy() for a in (param, grad, m1, m2)]
    _autoencoder_xp.adam_update(xp, *numpy_twin, *hyper)
    for a, b in zip(arrays, numpy_twin):
        np.testing.assert_array_equal(a, b)


def test_canonical_csr_on_the_device(cuda_on_host):
    """_gpu.canonical_csr: a CSR whose indices rise within each row is kept
    as it is (CuPy seldom sets has_canonical_format), one with a duplicate
    or unsorted entry becomes a summed copy, the input untouched."""
    X = sp.random(30, 8, density=0.4, format="csr", random_state=0)
    X.has_canonical_format = False  # (as CuPy leaves it)
    assert _gpu.canonical_csr(X) is X
    dup = sp.csr_matrix((np.r_[1.0, 2.0, X.data], np.r_[3, 3, X.indices],
                         np.r_[0, X.indptr + 2]), shape=(31, 8))
    unsorted = sp.csr_matrix((np.array([1.0, 2.0]), np.array([5, 1]), np.array([0, 2])),
                             shape=(1, 8))
    for Y in (dup, unsorted):
        before = Y.indices.copy()
        got = _gpu.canonical_csr(Y)
        assert got is not Y and got.has_canonical_format
        np.testing.assert_array_equal(got.toarray(), Y.toarray())
        np.testing.assert_array_equal(Y.indices, before)


# ------------------------------------------------- benchmarks/gpu_check.py
def _gpu_check_module():
    """benchmarks/gpu_check.py, loaded (with CuPy stood in: ``fake_gpu``)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    return gpu_check


def test_gpu_check_script_runs_through(fake_gpu, capsys):
    """The device run's one script, benchmarks/gpu_check.py --quick, end to
    end with CuPy stood in by numpy and the CUDA sources run on the host
    (fake_cupy.py): every check row present and ok, every timing row
    printed. (This found the script's first bug before a device was lent:
    it summed a float, and its float32 lasso checks compared codes that
    tol=1e-8 does not determine to 1e-5.)"""
    gpu_check = _gpu_check_module()
    assert gpu_check.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    # 32 checks (2 dtypes x (6 lasso + 2 OMP + 8 encoders)) and 5 checked timings
    assert out.count(" ok |") == 37, out
    for row in ("| FISTA, problem A", "| OMP (10 atoms)", "| DictionaryLearner(",
                "| ThresholdEncoder(", "training epoch", "transform, batch",
                "| window attention", "| BigBird attention"):
        assert row in out, row



def test_gpu_check_keeps_going_past_a_failing_section(fake_gpu, monkeypatch, capsys,
                                                      tmp_path):
    """The device run has one try: a check or a timing that raises leaves an
    ERROR row, the others still run, the table under $OUT holds every row
    printed, and the exit status says it failed."""
    gpu_check = _gpu_check_module()
    monkeypatch.setenv("OUT", str(tmp_path))

    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("no text")

    def encode(X, D, **kw):
        if kw.get("algorithm") == "omp":
            raise RuntimeError("\nplanted | failure")
        if kw.get("algorithm") == "threshold":
            raise Unprintable()
        return sparse_encode(X, D, **kw)

    def broken_timing(*args):
        raise MemoryError("planted")

    monkeypatch.setattr(gpu_check, "sparse_encode", encode)
    monkeypatch.setattr(gpu_check, "omp_timing", broken_timing)
    for name in ("fista_timing", "dictionary_timing", "threshold_fit_timing", "sae_timing",
                 "attention_timing"):
        monkeypatch.setattr(gpu_check, name, lambda *args, name=name: [f"| {name} | done |"])
    assert gpu_check.main(["--quick"]) == 1
    out = capsys.readouterr().out
    assert out.count("| omp (10 atoms) |") == 4 and out.count("planted / failure") == 4, out
    assert out.count("ERROR Unprintable: <unprintable> | | FAIL |") == 4, out
    assert "| OMP timing | ERROR MemoryError: planted |" in out
    assert out.count(" ok |") == 32 - 8, out  # the other checks ran and passed
    for name in ("fista_timing", "dictionary_timing", "attention_timing"):
        assert f"| {name} | done |" in out
    assert out.index("| omp (10 atoms) |") < out.index("| fista_timing | done |")
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| OMP timing | ERROR" in table and "(whole check:" in table

def test_the_gpu_tests_pass_on_the_host_harness():
    """tests/test_gpu.py, the GPU tests a device run executes, here with CuPy
    stood in (fake_cupy.py) and the CUDA sources run on the host: every test
    collected passes, none skips (a bug in those tests, or in a GPU path as
    a CuPy user reaches it, shows before a device is lent)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, SPARSECODE_FAKE_CUPY="1")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-W", "ignore::sklearn.exceptions.ConvergenceWarning", "tests/test_gpu.py"],
        cwd=root, env=env, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "skipped" not in summary and "passed" in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 100, summary



def test_stand_in_refuses_host_arrays_mixed_with_device_ones(fake_gpu):
    """fake_cupy refuses what CuPy refuses, so the runs above would catch a
    host array the GPU code forgot to move (CuPy makes no implicit
    host-device copies), and lets through what CuPy takes."""
    cp, csp = fake_gpu
    rng = np.random.default_rng(0)
    host = rng.standard_normal((4, 3))
    Z = cp.asarray(host)
    X = csp.csr_matrix(cp.asarray(np.where(host > 0, host, 0.0)))
    refused = {
        "operator": lambda: Z * host,
        "0-d array": lambda: Z + np.array(1.0),
        "host times a reduction": lambda: host * Z.sum(),
        "numpy function": lambda: np.concatenate([Z, host]),
        "cupy function": lambda: cp.concatenate([Z, host]),
        "cupy ufunc": lambda: cp.exp(host),
        "cupy.linalg": lambda: cp.linalg.qr(host),
        "ndarray.dot": lambda: Z.dot(host.T),
        "sparse product": lambda: X @ host.T,
        "sparse multiply": lambda: X.multiply(host),
        "sparse from host arrays": lambda: csp.coo_matrix(
            (host[0], (np.arange(3), np.arange(3))), shape=(3, 3)),
        "sparse from a host dense": lambda: csp.csr_matrix(host),
        "sparse arrays": lambda: np.diff(X.indptr) + np.ones(4, dtype=X.indptr.dtype),
    }
    for what, call in refused.items():
        with pytest.raises(TypeError, match="host .numpy. array"):
            call()
            pytest.fail(what)
    with pytest.raises(ValueError, match="host .numpy. array"):  # CuPy's fill refuses
        Z[:1] = host[:1]
    # what CuPy takes: scalars (numpy's too), a 0-d array assigned, cupy.asarray
    # of a host array, a scipy matrix copied to the device, device arrays
    # together; results stay on the device
    Z[0] = np.array(1.0)
    Z[1] = np.float64(2.0)
    for result in (Z * 2.0, Z * np.float64(2.0), Z + np.sum(host), cp.asarray(host) - Z,
                   cp.exp(Z), Z.sum(), Z.max(), X.data, X.indptr, csp.csr_matrix(sp.eye(3)),
                   X @ Z.T, X.T @ X, X.multiply(X), X.sum(axis=1), X.T.tocsr().toarray()):
        assert _gpu.is_gpu_array(result), type(result)
    assert type(Z.get()) is np.ndarray and sp.issparse(X.T.get())
    np.testing.assert_allclose((X.T @ X).toarray().get(), (X.get().T @ X.get()).toarray())

# ------------------------------------------------------- the harness itself
_BAD = r'''
extern "C" __global__ void early_exit(double* out) {
    int lane = threadIdx.x % 32;
    if (lane == 3) return;  // a lane leaves, the others shuffle
    out[lane] = __shfl_xor_sync(0xffffffffu, (double)lane, 1);
}
extern "C" __global__ void racy(double* out) {
    int lane = threadIdx.x % 32;
    out[lane] = lane;
    out[lane] += out[(lane + 1) % 32];  // no __syncwarp between the write and the read
}
extern "C" __global__ void narrow(double* out) {
    int lane = threadIdx.x % 32;
    out[lane] = __shfl_xor_sync(0xffffffffu, (double)lane, 1, 16);  // a width of 16
}
extern "C" __global__ void fine(double* out, long long n) {
    int lane = threadIdx.x % 32;
    out[lane] = lane;
    __syncwarp();
    double v = out[(lane + 1) % 32] + n;
    __syncwarp();
    out[lane] = __shfl_sync(0xffffffffu, v, 0);
}
'''


def test_the_host_harness_catches_what_cuda_would_not():
    """A lane leaving while the others shuffle, and lanes racing without
    __syncwarp, fail the launch; a kernel that keeps the rules runs; a
    wrong argument type is refused."""
    module = cuda_host.Module("bad", source=_BAD)
    out = np.full(32, -1.0)
    with pytest.raises(cuda_host.LaunchError, match="left the kernel"):
        module.get_function("early_exit")((1,), (32,), (out,))
    with pytest.raises(cuda_host.LaunchError, match="reverse order"):
        module.get_function("racy")((1,), (32,), (out,))
    with pytest.raises(cuda_host.LaunchError, match="width"):
        module.get_function("narrow")((1,), (32,), (out,))
    with pytest.raises(cuda_host.LaunchError, match="warp's lanes"):  # a partial warp
        module.get_function("fine")((1,), (20,), (out, np.int64(5)))
    module.get_function("fine")((1,), (32,), (out, np.int64(5)))
    np.testing.assert_array_equal(out, np.full(32, 6.0))
    with pytest.raises(TypeError, match="long long needs a int64"):
        module.get_function("fine")((1,), (32,), (out, 5))
    with pytest.raises(TypeError, match="double\\* needs a numpy array of float64"):
        module.get_function("fine")((1,), (32,), (out.astype(np.float32), np.int64(5)))
