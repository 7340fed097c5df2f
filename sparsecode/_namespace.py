"""Which array namespace and device an input lives in, without importing
CuPy or any other optional library: the one utility every layer may use
(README.md, "Developing")."""

import array_api_compat
import numpy as np
import scipy.sparse as sp

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
