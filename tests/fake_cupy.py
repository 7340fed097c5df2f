"""A stand-in for CuPy on the CPU, for running the GPU code paths as a user
would reach them (CuPy arrays in, ``benchmarks/gpu_check.py`` as written):
``cupy.ndarray`` is a numpy array whose type says it is CuPy's, so that
``sparsecode._gpu.is_gpu_array`` takes it for one; ``cupyx.scipy.sparse``
matrices are scipy's likewise; ``cupy.RawModule`` builds the CUDA source it
is given with the host harness (cuda_host.py), so the kernels that run are
the CUDA sources themselves.

``install(monkeypatch)`` puts ``cupy``, ``cupyx``, ``cupyx.scipy`` and
``cupyx.scipy.sparse`` in ``sys.modules`` for one test.

What it does not model: CuPy refuses to turn its arrays into numpy ones
implicitly (``np.asarray``, a numpy function given a CuPy array); these
arrays, being numpy's, never refuse. A host round trip the code forgot to
make explicit passes here and fails on a device.
"""

import functools
import sys
import types

import cuda_host
import numpy as np
import scipy.sparse as sp

from sparsecode._cuda import sources


class ndarray(np.ndarray):
    """A numpy array standing for a CuPy one (operations keep the type)."""

    def get(self):
        return np.array(self)


ndarray.__module__ = "cupy._core.core"


def _on_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    return value


def _returning_device_arrays(f):
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        return _on_device(f(*args, **kwargs))
    return wrapped


class csr_matrix(sp.csr_matrix):
    """A scipy CSR matrix standing for a ``cupyx`` one."""

    def get(self):
        return sp.csr_matrix(self)

    def toarray(self, *args, **kwargs):
        return _on_device(super().toarray(*args, **kwargs))


csr_matrix.__module__ = "cupyx.scipy.sparse._csr"


def _device_sparse(value):
    return csr_matrix(value) if sp.issparse(value) else _on_device(value)


class _Device:
    def __init__(self, device_id=0):
        self.id = device_id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass


class RawModule:
    """``cupy.RawModule(code=...)``: the backend's source of that text, built
    for the host."""

    def __init__(self, code, options=()):
        names = [name for name, text in sources().items() if text == code]
        assert len(names) == 1, "not one of sparsecode/_cuda's sources"
        self._module = cuda_host.module(names[0])

    def get_function(self, name):
        return self._module.get_function(name)


def _cupy():
    cp = types.ModuleType("cupy")
    for name in dir(np):
        if name.startswith("_"):
            continue
        value = getattr(np, name)
        if callable(value) and not isinstance(value, (type, np.ufunc)):
            value = _returning_device_arrays(value)
        setattr(cp, name, value)
    cp.ndarray = ndarray
    cp.linalg = types.SimpleNamespace(**{
        name: _returning_device_arrays(getattr(np.linalg, name))
        for name in ("qr", "svd", "norm", "eigh", "solve")})
    cp.asnumpy = np.array
    cp.RawModule = RawModule
    cp.cuda = types.SimpleNamespace(
        Device=_Device,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                      getDeviceProperties=lambda i: {"name": b"host harness"}))
    cp.__version__ = "(stand-in)"
    return cp


def _cupyx_sparse():
    csp = types.ModuleType("cupyx.scipy.sparse")
    csp.csr_matrix = csr_matrix
    csp.issparse = sp.issparse
    csp.isspmatrix_csr = sp.isspmatrix_csr
    csp.coo_matrix = sp.coo_matrix
    csp.hstack = lambda blocks, format=None: csr_matrix(sp.hstack(blocks, format="csr"))
    return csp


def install(monkeypatch):
    from sparsecode import _gpu

    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.sparse = _cupyx_sparse()
    for name, module in (("cupy", _cupy()), ("cupyx", cupyx), ("cupyx.scipy", cupyx.scipy),
                         ("cupyx.scipy.sparse", cupyx.scipy.sparse)):
        monkeypatch.setitem(sys.modules, name, module)
    # the array namespace the shared code computes in: numpy's, with
    # its results marked as CuPy's like every CuPy function's
    import array_api_compat

    compat = array_api_compat.array_namespace(np.empty(0))
    xp = types.SimpleNamespace(**{
        name: _returning_device_arrays(value) if callable(value) and not isinstance(
            value, type) else value
        for name, value in vars(compat).items() if not name.startswith("__")})
    monkeypatch.setattr(_gpu, "_xp", lambda: xp)
    _gpu._module.cache_clear()
    monkeypatch.setattr(_gpu, "_module", functools.lru_cache(maxsize=None)(
        _gpu._module.__wrapped__))
    return sys.modules["cupy"], sys.modules["cupyx.scipy.sparse"]
