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
