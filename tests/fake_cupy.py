"""A stand-in for CuPy on the CPU, for running the GPU code paths as a user
would reach them (CuPy arrays in, ``benchmarks/gpu_check.py`` as written):
``cupy.ndarray`` is a numpy array whose type says it is CuPy's, so that
``sparsecode._namespace.is_gpu_array`` takes it for one; ``cupyx.scipy.sparse``
matrices are scipy's likewise; ``cupy.RawModule`` builds the CUDA source it
is given with the host harness (cuda_host.py), so the kernels that run are
the CUDA sources themselves.

``install(monkeypatch)`` puts ``cupy``, ``cupyx``, ``cupyx.scipy`` and
``cupyx.scipy.sparse`` in ``sys.modules`` for one test.

What it models of CuPy's refusal of implicit host-device copies (CuPy
takes Python and numpy scalars beside its arrays, not numpy arrays, 0-d
ones included): a host array is refused (``TypeError``) in an operator or
numpy function with CuPy arrays (``Z_gpu * w_numpy``), in a ``cupy``
function or ufunc other than the conversions (``cp.concatenate([Z_gpu,
w_numpy])``, ``cp.exp(w_numpy)``; ``cp.asarray`` takes it), in
``ndarray.dot``, in a ``cupyx`` matrix's constructor (``csr_matrix`` of a
scipy matrix is a copy to the device and passes) or product (``X_gpu @
W_numpy``), and assigned into a CuPy array (``ValueError``, as CuPy's
``fill``; a 0-d one passes). Results stay on the "device": the ``cupyx``
stand-ins' products, transposes and conversions, their ``data`` /
``indices`` / ``indptr``, and full reductions (0-d arrays, as CuPy's, not
numpy scalars). Calls made inside numpy, scipy and array_api_compat are
exempt (they are the stand-ins' implementations). It refuses a little more
than CuPy (``cp.sum`` of a host array, say) and less in corners (a host
``out=`` or ``where=`` of an ndarray method), and it cannot refuse to turn
its arrays into numpy ones (``np.asarray(Z_gpu)``, which CuPy refuses):
these arrays, being numpy's, cannot, so a host round trip the code forgot
to make explicit there passes here and fails on a device.
"""

import functools
import sys
import types

import cuda_host
import numpy as np
import scipy.sparse as sp

from sparsecode._cuda import sources


def _host(value):
    """Whether ``value`` is a host array CuPy would refuse beside its own: a
    numpy array (not a stand-in CuPy one), 0-d too (CuPy takes Python and
    numpy scalars, ``np.float64(2)``, not ``np.array(2.0)``), also inside a
    list or tuple."""
    if isinstance(value, (list, tuple)):
        return any(_host(v) for v in value)
    return isinstance(value, np.ndarray) and not isinstance(value, ndarray)


def _refuse_host(where, values, error=TypeError):
    if any(_host(v) for v in values):
        raise error(f"{where}: a host (numpy) array given with CuPy arrays; CuPy makes no "
                    "implicit host-device copies (move it with cupy.asarray first)")


# frames passed over on the way to the code that made a call: this module's
# own, and numpy's dispatcher where it is written in Python (numpy < 1.25)
_PASSED = ("fake_cupy", "numpy._core.overrides", "numpy.core.overrides")


def _from_library():
    """Whether the code that called the caller (past this module's frames)
    is numpy's, scipy's or array_api_compat's own: the stand-ins'
    implementations, which may mix freely (the namespaces' entry points
    check what the code gives)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in _PASSED:
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    return module == "numpy" or module.startswith(("numpy.", "scipy.", "array_api_compat"))


class ndarray(np.ndarray):
    """A numpy array standing for a CuPy one (operations keep the type; a
    host array mixed in is refused)."""

    def get(self):
        return np.array(self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        if not _from_library():
            _refuse_host(f"numpy.{ufunc.__name__}", inputs + tuple(out))
        plain = [i.view(np.ndarray) if isinstance(i, ndarray) else i for i in inputs]
        if out:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ndarray) else o
                                  for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out:  # (in place: the arrays given, as numpy returns them)
            return out[0] if len(out) == 1 else out
        return _on_device(result)

    def __array_function__(self, func, types, args, kwargs):
        if not _from_library():
            _refuse_host(f"numpy.{func.__name__}", tuple(args) + tuple(kwargs.values()))
        return super().__array_function__(func, types, args, kwargs)

    def __setitem__(self, key, value):
        if not _from_library() and not (isinstance(value, np.ndarray) and value.ndim == 0):
            _refuse_host("assigning into a CuPy array", (value,), error=ValueError)
        super().__setitem__(key, value)

    def dot(self, b, out=None):
        if not _from_library():
            _refuse_host("cupy.ndarray.dot", (b, out))
        return _on_device(super().dot(b, out=out))


ndarray.__module__ = "cupy._core.core"


def _on_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, np.generic):  # CuPy's reductions give 0-d arrays
        return np.asarray(value).view(ndarray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    return value


def _returning_device_arrays(f, converts=False):
    """A numpy function as ``cupy``'s: results on the "device"; host arrays
    refused unless ``f`` converts them (``asarray``, ``array``)."""
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        if not converts:
            _refuse_host(f"cupy.{getattr(f, '__name__', f)}", tuple(args) +
                         tuple(kwargs.values()))
        return _on_device(f(*args, **kwargs))
    return wrapped


# the cupy functions that take host arrays (conversions, properties)
_CONVERTS = ("asarray", "array", "asanyarray", "ndim", "shape", "size", "result_type",
             "isscalar")


class _DeviceUfunc:
    """A numpy ufunc as ``cupy``'s: host arrays refused, results on the
    "device"."""

    def __init__(self, ufunc):
        self._ufunc, self.__name__ = ufunc, ufunc.__name__

    def __call__(self, *args, **kwargs):
        _refuse_host(f"cupy.{self.__name__}", args + tuple(kwargs.values()))
        return _on_device(self._ufunc(*args, **kwargs))

    def __getattr__(self, name):  # reduce, outer, nin, ...
        value = getattr(self._ufunc, name)
        return _returning_device_arrays(value) if callable(value) else value


class _DeviceSparse:
    """What the ``cupyx`` matrices' stand-ins share: results of their
    products, transposes and conversions stay on the "device", and a host
    array given to one of those (from outside numpy / scipy) is refused."""

    def __init__(self, arg1, *args, **kwargs):
        if not _from_library():  # (a scipy matrix passes: a copy to the device)
            _refuse_host(f"cupyx.scipy.sparse.{self.format}_matrix", (arg1,))
        super().__init__(arg1, *args, **kwargs)

    def get(self):
        return getattr(sp, f"{self.format}_matrix")(self)


def _device_attribute(name):
    """``data`` / ``indices`` / ``indptr``: device arrays (kept as numpy's
    underneath, for scipy's compiled routines)."""
    key = f"_host_{name}"

    def get(self):
        try:
            value = self.__dict__[key]
        except KeyError:
            raise AttributeError(name) from None
        return _on_device(value)

    def set(self, value):
        self.__dict__[key] = value.view(np.ndarray) if isinstance(value, ndarray) else value

    return property(get, set)


for _name in ("data", "indices", "indptr"):
    setattr(_DeviceSparse, _name, _device_attribute(_name))


def _device_method(name):
    @functools.wraps(getattr(sp.csr_matrix, name))
    def wrapped(self, *args, **kwargs):
        if not _from_library():
            _refuse_host(f"cupyx {self.format}_matrix.{name}", tuple(args) +
                         tuple(kwargs.values()))
        # (scipy's method of this format: the next class after this one)
        return _device_sparse(getattr(super(_DeviceSparse, self), name)(*args, **kwargs))
    return wrapped


for _name in ("__matmul__", "__rmatmul__", "__mul__", "__rmul__", "__add__", "__radd__",
              "__sub__", "__rsub__", "__truediv__", "__neg__", "__getitem__", "dot",
              "multiply", "maximum", "minimum", "power", "sum", "mean", "max", "min",
              "astype", "copy", "tocsr", "tocsc", "tocoo", "transpose", "toarray", "todense",
              "sorted_indices"):
    setattr(_DeviceSparse, _name, _device_method(_name))


class csr_matrix(_DeviceSparse, sp.csr_matrix):
    """A scipy CSR matrix standing for a ``cupyx`` one."""


class csc_matrix(_DeviceSparse, sp.csc_matrix):
    """A scipy CSC matrix standing for a ``cupyx`` one (a CSR's transpose)."""


class coo_matrix(_DeviceSparse, sp.coo_matrix):
    """A scipy COO matrix standing for a ``cupyx`` one."""


for _cls, _module in ((csr_matrix, "_csr"), (csc_matrix, "_csc"), (coo_matrix, "_coo")):
    _cls.__module__ = f"cupyx.scipy.sparse.{_module}"


def _device_sparse(value):
    if sp.issparse(value) and not isinstance(value, _DeviceSparse):
        return {"csr": csr_matrix, "csc": csc_matrix, "coo": coo_matrix}[value.format](value)
    return value if sp.issparse(value) else _on_device(value)


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
        if isinstance(value, np.ufunc):
            value = _DeviceUfunc(value)
        elif callable(value) and not isinstance(value, type):
            value = _returning_device_arrays(value, converts=name in _CONVERTS)
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
    csp.csc_matrix = csc_matrix
    csp.coo_matrix = coo_matrix
    csp.hstack = lambda blocks, format=None: csr_matrix(sp.hstack(blocks, format="csr"))
    return csp


def install(monkeypatch):
    """Stand-ins for ``cupy`` and ``cupyx.scipy.sparse`` in ``sys.modules``
    (undone with ``monkeypatch``). Returns ``(cupy, cupyx.scipy.sparse,
    backend)``: ``backend`` is the GPU backend on them, its CUDA sources
    built for the host, to install with ``sparsecode._backend.use_backend``."""
    from sparsecode._cupy_backend import CupyBackend

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
        name: _returning_device_arrays(value, converts=name == "asarray")
        if callable(value) and not isinstance(value, type) else value
        for name, value in vars(compat).items() if not name.startswith("__")})
    return sys.modules["cupy"], sys.modules["cupyx.scipy.sparse"], CupyBackend(namespace=xp)
