"""The CuPy backend's parts: CuPy itself, the NVRTC builds of the CUDA
sources in ``sparsecode/_cuda`` (memoised per device) and their launchers,
one per fused kernel. :class:`CupyBackend` holds them; :func:`current` is the
GPU backend in use (CuPy's, or a stand-in the tests install with
:func:`sparsecode._backend.use_backend`), through which every launcher and
the glue of :mod:`sparsecode._gpu` reach them. ``import sparsecode`` never
imports CuPy: a backend imports it at first use.
"""

import contextlib
import functools

import array_api_compat
import numpy as np
import scipy.sparse as sp

from ._cuda import options, sources
from ._dense import Kernels
from ._encode_rules import SUPPORTED
from ._namespace import installed_gpu_backend, is_cupy_type

# (source, entry point) of every kernel this module launches; the test of
# the CUDA sources checks each is in its source's PTX.
KERNELS = tuple((source, f"{kernel}_{suffix}")
                for source, kernels in (("fista", ("fista_step", "lasso_gap", "threshold")),
                                        ("omp", ("omp_batch",)),
                                        ("threshold", ("shrink", "topk", "triangle")),
                                        ("attention", ("window_attention",
                                                       "pattern_attention")),
                                        ("autoencoder", ("relu_forward", "gate_backward",
                                                         "adam_step")))
                for kernel in kernels for suffix in ("f32", "f64"))

_WARPS_PER_BLOCK = 8
_THREADS = 256


def current():
    """The GPU backend in use: CuPy's (:data:`CUPY`), or the stand-in that
    :func:`sparsecode._backend.use_backend` installed."""
    installed = installed_gpu_backend()
    return CUPY if installed is None else installed


def cupy():
    """The ``cupy`` module of the GPU backend in use, imported on first use."""
    return current().cupy()


def cupyx_sparse():
    """The ``cupyx.scipy.sparse`` module of the GPU backend in use."""
    return current().sparse()


def namespace():
    """``array_api_compat``'s namespace for the GPU backend's arrays."""
    return current().namespace()


def _row_grid(n):
    """A warp per row."""
    return (max(1, -(-n // _WARPS_PER_BLOCK)),), (32 * _WARPS_PER_BLOCK,)


def _entry_grid(size):
    """A thread per entry."""
    return (max(1, -(-size // _THREADS)),), (_THREADS,)


def _step_gpu(backend, YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate):
    n, k = Z.shape
    grid, block = _row_grid(n)
    backend.kernel("fista", "fista_step", Z.dtype)(
        grid, block, (C, YG, Y, Z, T, np.int64(n), np.int64(k), np.float64(inv_lip),
                      np.float64(alpha), np.int32(bool(positive)), np.int32(bool(accelerate))))


def _gap_gpu(backend, Z, C, gram, sq, alpha, positive, tol, gram64=None):
    """Converged rows by their duality gap, computed in float64 whatever the
    iterates' dtype (``gram64``: the float64 Gram): in float32 the gap's own
    rounding, ~1e-7 ||x||^2, would otherwise hide convergence below that."""
    cp = backend.cupy()
    n, k = Z.shape
    if Z.dtype != np.float64:
        Z, C = Z.astype(cp.float64), C.astype(cp.float64)
        gram = gram64 if gram64 is not None else gram.astype(cp.float64)
    ZG = Z @ gram
    done = cp.empty(n, dtype=cp.uint8)
    grid, block = _row_grid(n)
    backend.kernel("fista", "lasso_gap", np.float64)(
        grid, block, (Z, C, ZG, sq, np.int64(n), np.int64(k), np.float64(alpha),
                      np.int32(bool(positive)), np.float64(tol), done))
    return done.astype(cp.bool_)


def _threshold_gpu(backend, C, alpha, positive):
    codes = backend.cupy().empty_like(C)
    backend.kernel("fista", "threshold", C.dtype)(
        *_entry_grid(C.size),
        (C, codes, np.int64(C.size), np.float64(alpha), np.int32(bool(positive))))
    return codes


_SHRINK_KINDS = {"soft": 0, "hard": 1, "jump": 2, "sigmoid": 3}


def _omp_gpu(backend, C, sq, gram64, n_nonzero, tol):
    """Batch OMP, a warp per row (omp.cu): ``(codes, n_atoms, n_dependent)``;
    the workspace is :func:`omp_entries` doubles a row."""
    cp = backend.cupy()
    n, k = C.shape
    codes = cp.zeros((n, k), dtype=C.dtype)
    n_iter = cp.zeros(n, dtype=cp.int64)
    dependent = cp.zeros(n, dtype=cp.uint8)
    work = cp.empty(n * omp_entries(k, n_nonzero), dtype=cp.float64)
    active = cp.empty(n * n_nonzero, dtype=cp.int64)
    grid, block = _row_grid(n)
    backend.kernel("omp", "omp_batch", C.dtype)(
        grid, block, (C, sq, gram64, np.int64(n), np.int64(k), np.int64(n_nonzero),
                      np.float64(tol), codes, n_iter, dependent, work, active))
    return codes, n_iter, int(dependent.sum())


def omp_entries(k, n_nonzero):
    """Doubles of OMP workspace a row: correlations, the chosen atoms'
    correlations and coefficients, the Cholesky factor."""
    return k + 2 * n_nonzero + n_nonzero * n_nonzero


def _encode_gpu(backend, C, offset, mode, alpha, split, n_keep, sq_x, sq_c, cut=None):
    """The activation of the responses ``C`` (shifted by ``offset``) on the
    GPU, sparsecode/_cuda/threshold.cu: ThresholdEncoder's modes ("soft",
    "hard", "topk", "triangle") and the autoencoders' ("jump": ReLU or
    BatchTopK's threshold ``alpha``; "topk_value": TopK then ReLU;
    "sigmoid"); codes below ``cut`` become 0 when it is given."""
    cp = backend.cupy()
    n, k = C.shape
    out = cp.empty((n, 2 * k if split else k), dtype=C.dtype)
    use_cut, cut = np.int32(cut is not None), np.float64(0.0 if cut is None else cut)
    if mode in _SHRINK_KINDS:
        backend.kernel("threshold", "shrink", C.dtype)(
            *_entry_grid(n * k), (C, offset, out, np.int64(n), np.int64(k), np.float64(alpha),
             np.int32(_SHRINK_KINDS[mode]), np.int32(bool(split)), use_cut, cut))
        return out
    work = cp.empty((n, k), dtype=cp.float64)
    grid, block = _row_grid(n)
    if mode in ("topk", "topk_value"):
        backend.kernel("threshold", "topk", C.dtype)(
            grid, block, (C, offset, out, work, np.int64(n), np.int64(k), np.int64(n_keep),
                          np.int32(bool(split)), np.int32(mode == "topk_value"), use_cut, cut))
    else:
        backend.kernel("threshold", "triangle", C.dtype)(
            grid, block, (C, offset, sq_x, sq_c, out, work, np.int64(n), np.int64(k)))
    return out


MAX_VALUE_DIM = 32 * 32  # attention.cu: MAX_PER_LANE values in each of 32 lanes


def _attention_gpu(backend, kernel, Q, K, V, bias, keys_a, keys_b, *scalars):
    """An attention kernel of attention.cu, a warp per query: its arguments
    are ``Q, K, V, bias``, two int64 arrays that give the keys, the output,
    ``n, d, dv`` and the kernel's own ``scalars``."""
    cp = backend.cupy()
    n, d = Q.shape
    dv = V.shape[1]
    out = cp.empty((n, dv), dtype=Q.dtype)
    grid, block = _row_grid(n)
    backend.kernel("attention", kernel, Q.dtype)(
        grid, block, (Q, K, V, bias, keys_a, keys_b, out, np.int64(n), np.int64(d),
                      np.int64(dv), *scalars))
    return out


def _window_gpu(backend, Q, K, V, bias, start, end, half, dilation, causal):
    """Window attention: the keys of each query's window inside its
    sequence ``[start, end)``."""
    return _attention_gpu(backend, "window_attention", Q, K, V, bias, start, end,
                          np.int64(half), np.int64(dilation), np.int32(bool(causal)))


def _pattern_gpu(backend, Q, K, V, bias, indptr, indices):
    """Attention over each query's keys given as a CSR row."""
    return _attention_gpu(backend, "pattern_attention", Q, K, V, bias, indptr, indices)


_ROWS = 64  # autoencoder.cu: rows a thread sums one column of


def _column_tiles(n, m):
    """autoencoder.cu's tiles: ``(grid, block, n_tiles)``, blocks of
    _THREADS columns, then tiles of _ROWS rows, each tile writing one row of
    partial column sums."""
    tiles = max(1, -(-n // _ROWS))
    return ((-(-m // _THREADS)) * tiles,), (_THREADS,), tiles


def _relu_forward_gpu(backend, P, b_enc, gates):
    """The ReLU codes in place of the pre-activations ``P`` (``P + b_enc``,
    then the dropout ``gates`` when given): ``(F, fired, mass)``, the column
    sums in float64 before and after the gates (the tiles' partial sums
    added in a fixed order: the same bits run to run)."""
    cp = backend.cupy()
    n, m = P.shape
    grid, block, tiles = _column_tiles(n, m)
    fired, mass = cp.empty((tiles, m)), cp.empty((tiles, m))
    backend.kernel("autoencoder", "relu_forward", P.dtype)(
        grid, block, (P, cp.ascontiguousarray(b_enc), P if gates is None else gates,
                      np.int64(n), np.int64(m), np.int32(gates is not None), fired, mass))
    return P, fired.sum(axis=0), mass.sum(axis=0)


def _gate_backward_gpu(backend, G, F, add=None, div=None, scale=None):
    """The gradient through the codes' gate, in place of ``G``: where ``F >
    0``, ``G (+ add) (/ div) (* scale)``, else 0; returns ``(G, column sums
    in float64)``."""
    cp = backend.cupy()
    n, m = G.shape
    grid, block, tiles = _column_tiles(n, m)
    colsum = cp.empty((tiles, m))
    backend.kernel("autoencoder", "gate_backward", G.dtype)(
        grid, block, (G, F, G if add is None else cp.ascontiguousarray(add), np.int64(n),
                      np.int64(m), np.int32(add is not None), np.int32(div is not None),
                      np.float64(div or 1.0), np.int32(scale is not None),
                      np.float64(1.0 if scale is None else scale), colsum))
    return G, colsum.sum(axis=0)


def _adam_gpu(backend, param, grad, m1, m2, lr, beta1, beta2, eps, bias1, bias2):
    """One Adam step in place (C-contiguous arrays of one dtype), in float64
    arithmetic as the CPU's."""
    size = param.size
    backend.kernel("autoencoder", "adam_step", param.dtype)(
        *_entry_grid(size), (param, grad, m1, m2, np.int64(size), *(np.float64(v) for v in (
            lr, beta1, beta2, eps, bias1, bias2))))


# the fused kernels the shared code calls, by name (a stand-in backend may
# replace any of them: the tests run this module's glue on numpy so)
_LAUNCHERS = {"step": _step_gpu, "gap": _gap_gpu, "threshold": _threshold_gpu,
              "omp": _omp_gpu, "encode": _encode_gpu, "attention": _window_gpu,
              "pattern": _pattern_gpu, "relu_forward": _relu_forward_gpu,
              "gate_backward": _gate_backward_gpu, "adam": _adam_gpu}


class CupyBackend:
    """The CuPy backend (the protocol is :class:`sparsecode._backend.Backend`):
    CuPy's arrays, cuBLAS / cuSPARSE products through CuPy, and the fused
    kernels of ``sparsecode/_cuda`` compiled by NVRTC on first use,
    memoised per device.

    Each part may be stood in for, which is how the tests run this module's
    glue without a GPU (installed by :func:`sparsecode._backend.use_backend`):

    Parameters
    ----------
    cupy, sparse : module, default=None
        What serves as ``cupy`` and ``cupyx.scipy.sparse``; None imports
        those at each use (so a stand-in module in ``sys.modules`` is found).
    namespace : namespace, default=None
        ``array_api_compat``'s namespace of the arrays; None: derived from
        ``cupy``.
    kernels : dict, default=None
        Fused kernels by name (keys of ``_LAUNCHERS``) in place of the CUDA
        launchers.
    modules : callable, default=None
        ``modules(source)``: a compiled source with ``get_function``, in place
        of NVRTC (the tests' host build of the CUDA sources).
    owns : callable, default=None
        ``owns(X)``: whether ``X`` is one of the backend's arrays; None: CuPy
        arrays and ``cupyx`` sparse matrices.
    """

    name = "cupy"
    supports = SUPPORTED["cupy"]

    def __init__(self, *, cupy=None, sparse=None, namespace=None, kernels=None, modules=None,
                 owns=None):
        unknown = sorted(set(kernels or ()) - set(_LAUNCHERS))
        if unknown:
            raise ValueError(f"kernels has names no GPU kernel has: {unknown}; the kernels "
                             f"are {sorted(_LAUNCHERS)}.")
        self._cupy, self._sparse, self._namespace = cupy, sparse, namespace
        # the launchers launch on this backend, whichever is in use
        self._launchers = {name: functools.partial(launch, self)
                           for name, launch in _LAUNCHERS.items()}
        self._launchers.update(kernels or {})
        self._load, self._owns = modules, owns
        self._modules = {}  # (source, device id) -> compiled module

    def cupy(self):
        """The ``cupy`` module (or its stand-in)."""
        if self._cupy is not None:
            return self._cupy
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - CuPy input implies CuPy
            raise ImportError("GPU input needs CuPy: pip install 'sparsecode[gpu]'") from exc
        return cupy

    def sparse(self):
        """The ``cupyx.scipy.sparse`` module (or its stand-in)."""
        if self._sparse is not None:
            return self._sparse
        self.cupy()  # (without CuPy: the error that names the extra)
        import cupyx.scipy.sparse

        return cupyx.scipy.sparse

    def namespace(self):
        """``array_api_compat``'s namespace for the backend's arrays."""
        if self._namespace is not None:
            return self._namespace
        return array_api_compat.array_namespace(self.cupy().empty(0))

    def owns(self, X):
        """Whether ``X`` is one of the backend's arrays."""
        return self._owns(X) if self._owns is not None else is_cupy_type(X)

    def to_device(self, X):
        """A numpy array or scipy.sparse matrix on the current GPU (dense, or
        CSR)."""
        if sp.issparse(X):
            return self.sparse().csr_matrix(X.tocsr())
        return self.cupy().asarray(X)

    def to_host(self, result):
        """Results (arrays, sparse matrices, tuples of them) on the host as
        numpy arrays / scipy CSR."""
        if isinstance(result, tuple):
            return tuple(self.to_host(r) for r in result)
        if hasattr(result, "get"):
            return result.get()  # cupy.ndarray and cupyx sparse both have .get()
        return result

    def device_context(self, X):
        """The device ``X`` lives on, as a context (kernels launch on the
        current device); a null context for arrays without one."""
        dev = getattr(X, "device", None)
        if dev is None:
            dev = getattr(X.data, "device", None)
        return dev if hasattr(dev, "__enter__") else contextlib.nullcontext()

    def fused(self, name):
        """The fused kernel ``name``."""
        return self._launchers[name]

    def fused_kernels(self):
        """Every fused kernel by name."""
        return dict(self._launchers)

    def kernels(self):
        """The fused parts of the GEMM route (:class:`sparsecode._dense.Kernels`)."""
        return Kernels(*(self._launchers[name] for name in ("step", "gap", "threshold", "omp")))

    def kernel(self, source, entry, dtype):
        """The entry point ``entry`` of ``source``.cu for ``dtype``, compiled
        for the current device on first use."""
        suffix = "f32" if np.dtype(dtype) == np.float32 else "f64"
        return self._module(source).get_function(f"{entry}_{suffix}")

    def _module(self, source):
        if self._load is not None:
            return self._load(source)
        cp = self.cupy()
        key = (source, cp.cuda.Device().id)
        if key not in self._modules:  # (two threads at once compile it twice: harmless)
            with cp.cuda.Device(key[1]):
                self._modules[key] = cp.RawModule(code=sources()[source],
                                                  options=options(source))
        return self._modules[key]


# CuPy's backend, the GPU backend unless a stand-in is installed
CUPY = CupyBackend()
