"""sparsecode._backend: the one place an input's backend is chosen
(get_backend), host input sent to a device and back (run_on), and stand-in
GPU backends (use_backend)."""

import numpy as np
import pytest
import scipy.sparse as sp
from test_array_api import DEVICE, HOST, _dispatch, _strict

from sparsecode import DictionaryLearner, _gpu
from sparsecode._backend import NUMPY, NamespaceBackend, get_backend, run_on, use_backend
from sparsecode._cupy_backend import CupyBackend


class FakeCupyArray:
    shape, ndim = (3, 3), 2


FakeCupyArray.__module__ = "cupy._core.core"


def test_host_arrays_go_to_numpy_and_device_gpu_to_the_gpu_backend():
    X = np.ones((3, 2))
    for A in (X, sp.csr_matrix(X), X.tolist()):
        assert get_backend(A) is NUMPY
        assert get_backend(A, "cpu") is NUMPY
        assert get_backend(A, "gpu") is _gpu.current()
    assert NUMPY.owns(X) and NUMPY.owns(sp.csr_matrix(X)) and not NUMPY.owns(FakeCupyArray())


def test_gpu_arrays_go_to_the_gpu_backend_and_device_cpu_refuses_them():
    assert get_backend(FakeCupyArray()) is _gpu.current()
    assert get_backend(FakeCupyArray(), "gpu").name == "cupy"
    with pytest.raises(ValueError, match=r"^device='cpu' with CuPy input"):
        get_backend(FakeCupyArray(), "cpu")
    with pytest.raises(ValueError, match=r"DictionaryLearner\(device='cpu'\)"):
        get_backend(FakeCupyArray(), "cpu", caller=DictionaryLearner(device="cpu"))


def test_other_namespaces_off_the_host_get_their_own_backend():
    X = np.arange(6.0).reshape(3, 2)
    on_device, on_host = _strict(X, DEVICE), _strict(X, HOST)
    assert get_backend(on_device) is NUMPY  # (without dispatch: numpy.asarray, as sklearn)
    with _dispatch():
        backend = get_backend(on_device)
        assert isinstance(backend, NamespaceBackend) and backend.name == "namespace"
        assert backend.owns(on_device) and not backend.owns(on_host) and not backend.owns(X)
        assert get_backend(on_host) is NUMPY  # (viewed as numpy for the Numba kernels)
        moved = backend.to_device(X)
        assert backend.owns(moved)
        np.testing.assert_array_equal(backend.to_host((moved,))[0], X)
        assert set(backend.supports) == {"auto", "fista", "ista", "threshold"}
        assert backend.kernels().omp is None  # (batch OMP runs on the host)


def test_run_on_moves_host_input_there_and_back_and_leaves_its_own_arrays():
    calls = []

    class Recording(CupyBackend):
        def to_device(self, X):
            calls.append("to_device")
            return X * 1.0

        def to_host(self, result):
            calls.append("to_host")
            return result

    backend = Recording(cupy=np, sparse=sp, owns=lambda A: getattr(A, "mine", False))
    X = np.ones((2, 2))

    def prepare(A):
        calls.append("prepare")
        return A + 1

    assert run_on(backend, X, lambda A: A.sum(), prepare) == 8.0
    assert calls == ["prepare", "to_device", "to_host"]

    class Mine(np.ndarray):
        mine = True

    calls.clear()
    assert run_on(backend, X.view(Mine), lambda A: A.sum(), prepare) == 4.0
    assert calls == []


def test_use_backend_installs_a_stand_in_and_restores_on_error():
    standin = CupyBackend(cupy=np, sparse=sp, owns=lambda A: isinstance(A, np.ndarray))
    before = _gpu.current()
    with pytest.raises(RuntimeError):
        with use_backend(standin):
            assert _gpu.current() is standin
            assert get_backend(np.ones(2)) is standin  # its arrays, by its owns
            assert _gpu.cupy() is np
            raise RuntimeError
    assert _gpu.current() is before
    assert get_backend(np.ones(2)) is NUMPY


def test_a_stand_in_names_only_kernels_that_exist():
    with pytest.raises(ValueError, match="no GPU kernel has"):
        CupyBackend(kernels={"stepp": None})


# ------------------------------------------- one oracle test, every backend
def _encode_on(backend, X, D, **kwargs):
    """``sparse_encode`` with ``X`` and ``D`` as ``backend``'s arrays, the
    codes back as numpy: "cupy" is the GPU glue with numpy and the CPU
    kernels standing in (test_gpu_glue.HostGPU), "namespace" array_api_strict
    on a device under dispatch."""
    from sparsecode import sparse_encode

    if backend == "numpy":
        return sparse_encode(X, D, **kwargs)
    if backend == "cupy":
        from test_gpu_glue import HostGPU

        with use_backend(HostGPU()) as gpu:
            gpu.gpu_arrays = lambda A: A is X
            assert get_backend(X) is gpu  # (so sparse_encode takes the GPU glue)
            return sparse_encode(X, D, **kwargs)
    from test_array_api import _numpy

    with _dispatch():
        Z = sparse_encode(_strict(X, DEVICE), _strict(D, DEVICE), **kwargs)
    assert Z.device == DEVICE
    return _numpy(Z)


def _cases():
    from sparsecode._encode_rules import SUPPORTED

    return [(backend, algorithm) for backend in ("numpy", "cupy", "namespace")
            for algorithm in SUPPORTED[backend]]


@pytest.mark.parametrize("backend, algorithm", _cases())
def test_every_backend_solves_what_it_supports(backend, algorithm):
    """Each (backend, algorithm) pair SUPPORTED lists, against an oracle:
    the lasso's objective at LARS's optimum (and the KKT conditions), OMP's
    least-squares fit on its own support, the threshold's formula."""
    from conftest import assert_solves_lasso, kkt_violation, make_problem

    X, D, alpha = make_problem(n_samples=20)
    if algorithm == "omp":
        Z = _encode_on(backend, X, D, algorithm="omp", n_nonzero_coefs=3)
        assert ((Z != 0).sum(axis=1) <= 3).all() and (Z != 0).any()
        for x, z in zip(X, Z):
            support = np.flatnonzero(z)
            best = np.linalg.lstsq(D[support].T, x, rcond=None)[0]
            np.testing.assert_allclose(z[support], best, rtol=1e-8, atol=1e-10)
        return
    Z = _encode_on(backend, X, D, algorithm=algorithm, alpha=alpha, tol=1e-10,
                   max_iter=50_000)
    if algorithm == "threshold":
        C = X @ D.T
        np.testing.assert_allclose(Z, np.sign(C) * np.maximum(np.abs(C) - alpha, 0),
                                   rtol=1e-12, atol=1e-12)
        return
    assert_solves_lasso(X, D, Z, alpha, np.float64)
    assert kkt_violation(X, D, Z, alpha) < 1e-4
