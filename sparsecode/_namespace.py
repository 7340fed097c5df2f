"""Which array namespace and device an input lives in, without importing
CuPy or any other optional library: the one utility every layer may use
(README.md, "Developing"). The backend that computes on an input is chosen
from these by :func:`sparsecode._backend.get_backend`."""

import array_api_compat
import numpy as np
import scipy.sparse as sp
from sklearn import get_config

# the GPU backend in use when not CuPy's own: a stand-in installed by
# sparsecode._backend.use_backend (the tests run the GPU glue on numpy so)
_GPU_BACKEND = None


def installed_gpu_backend():
    """The stand-in GPU backend installed, or None (CuPy's)."""
    return _GPU_BACKEND


def install_gpu_backend(backend):
    """Make ``backend`` (None: CuPy's) the GPU backend; returns the one it
    replaces. Use :func:`sparsecode._backend.use_backend`."""
    global _GPU_BACKEND
    previous, _GPU_BACKEND = _GPU_BACKEND, backend
    return previous


def is_cupy_type(X):
    """Whether ``X`` is a CuPy array or ``cupyx.scipy.sparse`` matrix (without
    importing CuPy)."""
    return type(X).__module__.split(".")[0] in ("cupy", "cupyx")


def is_gpu_array(X):
    """Whether ``X`` is an array of the GPU backend: CuPy's (above), or the
    installed stand-in's."""
    if _GPU_BACKEND is not None:
        return _GPU_BACKEND.owns(X)
    return is_cupy_type(X)


def to_numpy(X):
    """An array of any namespace as a numpy array on the host (a view where
    the library allows: PyTorch CPU tensors, DLPack)."""
    if X is None or sp.issparse(X) or isinstance(X, np.ndarray):
        return X
    if not array_api_compat.is_array_api_obj(X):
        return X
    if array_api_compat.is_cupy_array(X):
        return X.get()
    if array_api_compat.is_torch_array(X):
        return X.detach().cpu().numpy()
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_array_api_strict_namespace(xp):
        return np.asarray(xp.asarray(X, device=xp.Device("CPU_DEVICE")))
    try:
        return np.from_dlpack(X)
    except (TypeError, ValueError, RuntimeError, BufferError):
        return np.asarray(X)


NUMPY_WHERE = ("numpy", None)


def dispatching():
    """Whether scikit-learn's array API dispatch is on."""
    return bool(get_config().get("array_api_dispatch", False))


def where(X):
    """``(namespace name, device name)`` of ``X`` for comparing fit and
    transform: ``NUMPY_WHERE`` for numpy, ``scipy.sparse`` and anything
    that is not an array-API array (lists, DataFrames)."""
    if sp.issparse(X) or array_api_compat.is_numpy_array(X) or \
            not array_api_compat.is_array_api_obj(X):
        return NUMPY_WHERE
    xp = array_api_compat.array_namespace(X)
    return xp.__name__.replace("array_api_compat.", ""), str(array_api_compat.device(X))


def is_foreign(X):
    """Under dispatch, whether ``X`` is an array of a namespace other than
    numpy's (CuPy included)."""
    return dispatching() and where(X) != NUMPY_WHERE


def on_host(X):
    """Whether a (non-numpy) array lives in host memory."""
    if array_api_compat.is_cupy_array(X):
        return False
    dev = array_api_compat.device(X)
    if array_api_compat.is_torch_array(X):
        return dev.type == "cpu"
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_array_api_strict_namespace(xp):
        return dev == xp.Device("CPU_DEVICE")
    return "cpu" in str(dev).lower()


def to_namespace(x, xp, dev):
    """A numpy result in ``xp`` on ``dev`` (sparse matrices, scalars and
    everything else unchanged: the array API has no sparse arrays)."""
    if isinstance(x, tuple):
        return tuple(to_namespace(v, xp, dev) for v in x)
    if not isinstance(x, np.ndarray):
        return x
    return xp.asarray(np.ascontiguousarray(x), device=dev)


def has_float64(xp, dev):
    """Whether ``dev`` holds float64 arrays (the gap and Gram are float64;
    PyTorch's MPS has none: computed on the host there)."""
    try:
        xp.zeros(1, dtype=xp.float64, device=dev)
    except (TypeError, ValueError, RuntimeError):
        return False
    return True
