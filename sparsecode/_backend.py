"""The backends, and the one place that picks one for an input.

A backend is where arrays live and what computes on them:

- :data:`NUMPY`: numpy and ``scipy.sparse``; BLAS and SciPy for the
  products, the Numba kernels of ``_kernels/``;
- CuPy's (``sparsecode._cupy_backend.CUPY``): CuPy arrays and ``cupyx`` CSR; cuBLAS
  and cuSPARSE, the CUDA kernels of ``_cuda/`` compiled by NVRTC;
- :class:`NamespaceBackend`: another array-API namespace's arrays on a
  device (a PyTorch CUDA tensor, under scikit-learn's array API dispatch);
  the namespace's products, the generic kernels of :mod:`sparsecode._dense`.

Every backend runs the one GEMM route of :mod:`sparsecode._dense` with its
own fused kernels; the generic kernels are the reference the others are
tested against. :func:`get_backend` is where an input's backend is chosen
(its arrays, or ``device="gpu"``), and :func:`use_backend` installs a
stand-in for the GPU backend: the tests run the GPU glue on numpy so.
"""

import contextlib
from typing import Protocol

import array_api_compat
import numpy as np

from . import _gpu
from ._dense import Kernels, generic_kernels
from ._encode_rules import SUPPORTED
from ._kernels._fista import fista_step, gap_batch
from ._kernels._threshold import threshold_batch
from ._namespace import (
    NUMPY_WHERE,
    install_gpu_backend,
    is_foreign,
    on_host,
    to_namespace,
    to_numpy,
    where,
)


class Backend(Protocol):
    """What a backend offers the layers above it."""

    #: "numpy", "cupy" or "namespace"
    name: str
    #: the ``sparse_encode`` algorithms it runs itself
    supports: tuple

    def owns(self, X) -> bool:
        """Whether ``X`` is one of its arrays."""

    def namespace(self):
        """``array_api_compat``'s namespace of its arrays (the glue's ``xp``)."""

    def to_device(self, X):
        """A host array (numpy, ``scipy.sparse``) as one of its arrays."""

    def to_host(self, result):
        """Its arrays (or tuples of them) as numpy / ``scipy.sparse``."""

    def device_context(self, X):
        """A context in which ``X``'s device is the current one."""

    def kernels(self) -> Kernels:
        """The fused parts of the GEMM route."""


def _gap_cpu(Z, C, gram, sq, alpha, positive, tol, gram64=None):
    """Converged rows by their duality gap, in float64 (``gram64``: the
    float64 Gram when the iterates are float32, as the GPU path passes)."""
    if Z.dtype != np.float64:
        Z, C = Z.astype(np.float64), C.astype(np.float64)
        gram = gram64 if gram64 is not None else gram.astype(np.float64)
    done = np.empty(Z.shape[0], dtype=np.bool_)
    gap_batch(Z, C, Z @ gram, sq, alpha, positive, tol, done)
    return done


def _threshold_cpu(C, alpha, positive):
    codes = np.empty_like(C)
    threshold_batch(C, alpha, positive, codes, 0, C.shape[0])
    return codes


class NumpyBackend:
    """numpy and ``scipy.sparse`` on the host, with the Numba kernels."""

    name = "numpy"
    supports = SUPPORTED["numpy"]
    _KERNELS = Kernels(fista_step, _gap_cpu, _threshold_cpu)

    def owns(self, X):
        return not _gpu.is_gpu_array(X) and where(X) == NUMPY_WHERE

    def namespace(self):
        return array_api_compat.numpy

    def to_device(self, X):
        return X

    def to_host(self, result):
        return result

    def device_context(self, X):
        return contextlib.nullcontext()

    def kernels(self):
        return self._KERNELS


class NamespaceBackend:
    """Arrays of another array-API namespace ``xp`` on ``device``, computed
    there with the generic kernels (under scikit-learn's array API
    dispatch; see :mod:`sparsecode._array_api`)."""

    name = "namespace"
    supports = SUPPORTED["namespace"]

    def __init__(self, xp, device):
        self.xp, self.device = xp, device

    def owns(self, X):
        return (where(X) != NUMPY_WHERE
                and array_api_compat.array_namespace(X) is self.xp
                and array_api_compat.device(X) == self.device)

    def namespace(self):
        return self.xp

    def to_device(self, X):
        return to_namespace(np.asarray(X), self.xp, self.device)

    def to_host(self, result):
        if isinstance(result, tuple):
            return tuple(self.to_host(r) for r in result)
        return to_numpy(result)

    def device_context(self, X):
        return contextlib.nullcontext()

    def kernels(self):
        return generic_kernels(self.xp)


NUMPY = NumpyBackend()


def get_backend(X, device=None, *, caller=None):
    """The backend that computes on ``X``: the GPU backend for its arrays or
    with ``device="gpu"`` (host ``X`` is then the caller's to move, see
    :func:`run_on`), a :class:`NamespaceBackend` for another namespace's
    arrays off the host under array API dispatch, else :data:`NUMPY`.

    ``device="cpu"`` with GPU arrays is refused: sparsecode makes no silent
    copies. ``caller``, the estimator asking, names it in that message.
    """
    gpu = _gpu.current()
    if gpu.owns(X):
        if device == "cpu":
            if caller is not None:
                _gpu.check_device(caller)  # (its message names the estimator)
            raise ValueError("device='cpu' with CuPy input: move X to the host first "
                             "(cupy.asnumpy(X)); sparsecode makes no silent copies.")
        return gpu
    if device == "gpu":
        return gpu
    if is_foreign(X) and not on_host(X):
        return NamespaceBackend(array_api_compat.array_namespace(X),
                                array_api_compat.device(X))
    return NUMPY


def run_on(backend, X, compute, prepare):
    """``compute(X)`` on ``backend``: its own arrays as they are; host ``X``
    checked by ``prepare``, moved there, and the result moved back."""
    if backend.owns(X):
        return compute(X)
    return backend.to_host(compute(backend.to_device(prepare(X))))


@contextlib.contextmanager
def use_backend(backend):
    """Within the block, ``backend`` (a :class:`sparsecode._cupy_backend.CupyBackend`
    with stand-in parts) is the GPU backend, for every call that asks
    :func:`get_backend` or the GPU glue; the previous one comes back after."""
    previous = install_gpu_backend(backend)
    try:
        yield backend
    finally:
        install_gpu_backend(previous)
