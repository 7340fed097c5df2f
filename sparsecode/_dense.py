"""The GEMM route of ``sparse_encode``, written against the array API standard.

(F)ISTA and the soft threshold on a batch of dense codes as matrix products
plus one fused step per iteration. The loop and its set-up take an array
namespace ``xp`` (``array_api_compat``'s view of numpy, CuPy, PyTorch, ...,
or ``array_api_strict``) and a :class:`Kernels` bundle for the fused parts:
numpy brings the Numba kernels (``sparsecode._encode``), CuPy the CUDA ones
(``sparsecode._gpu``), and any other namespace the generic kernels below,
written in the standard itself. The generic kernels are also the reference
the tests hold the others to.

Kernel contracts (``Z``, ``Y``, ``YG``, ``C``: n x k in the codes' dtype;
``T``, ``sq``: float64 of length n):

- ``step(YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate)`` with
  ``YG = Y @ G``: the proximal gradient step from ``Y`` into ``Z``, the
  momentum into ``Y`` and ``T`` with adaptive restart, in place (``YG`` may
  be overwritten);
- ``gap(Z, C, gram, sq, alpha, positive, tol, gram64=None)``: a boolean
  mask of the rows whose duality gap is at most ``tol * 0.5 ||x||^2``,
  computed in float64 (``gram64``: the float64 Gram for float32 iterates);
- ``threshold(C, alpha, positive)``: the soft-thresholded correlations.
"""

import warnings
from typing import Callable, NamedTuple

import array_api_compat
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._chunks import rows_per_chunk
from ._kernels._fista import CHECK_EVERY
from ._namespace import to_numpy

# the tightest relative gap float32 iterates reach (measured: every row of a
# test problem at 1e-6, a fifth of them fail at 1e-7); tighter tolerances
# finish in float64 from the float32 solution
FLOAT32_TOL = 1e-6
# rows per chunk: at most this many codes (0.5 GiB per float32 n x k array;
# the solver holds six of them, the GPU activations one float64 workspace)
CHUNK_ENTRIES = 1 << 27


class Kernels(NamedTuple):
    """The fused parts of the GEMM route for one backend (see the module);
    ``omp(C, sq, gram64, n_nonzero, tol)``, batch OMP returning ``(codes,
    n_atoms, n_dependent)``, where the backend has one."""

    step: Callable
    gap: Callable
    threshold: Callable
    omp: Callable = None


def fista_loop(C, Z, sq, gram, inv_lip, alpha, positive, accelerate, max_iter, tol, *,
               xp, kernels, budget=None):
    """(F)ISTA from the start ``Z`` (n x k) on correlations ``C`` with the
    Gram ``gram``: the one loop of every backend. Converged rows leave the
    batch at each gap check; boolean masks (standard indexing) keep track of
    which rows are still in it. ``budget``: each row's most iterations (host
    integers up to ``max_iter``, default ``max_iter``); a row is checked when
    it reaches its budget and leaves there, converged or not. Returns
    ``(codes, n_iter, n_failed)``."""
    n = Z.shape[0]
    dev = array_api_compat.device(Z)
    budget = np.full(n, max_iter, dtype=np.int64) if budget is None else np.minimum(
        np.asarray(budget, dtype=np.int64), max_iter)
    stops = set(np.unique(budget).tolist())  # gap checks beyond every CHECK_EVERY-th
    Y = xp.asarray(Z, copy=True)
    T = xp.ones(n, dtype=xp.float64, device=dev)
    out = xp.zeros_like(Z)
    n_iter = xp.asarray(budget, device=dev)  # (a row that never converges: its budget)
    caps = xp.asarray(budget, device=dev)  # the budgets of the rows in the batch
    active = xp.ones(n, dtype=xp.bool, device=dev)
    n_failed = 0

    def leave(gone, done, it):
        """Rows ``gone`` (of the batch) leave it; ``done`` converged at ``it``."""
        nonlocal active, Z, Y, T, C, sq, caps, n_failed
        newly = xp.zeros_like(active)
        newly[active] = gone
        out[newly] = Z[gone]
        converged = xp.zeros_like(active)
        converged[active] = done
        n_iter[converged] = it
        n_failed += int(xp.sum(xp.astype(gone & ~done, xp.int64)))
        active = active & ~newly
        keep = ~gone
        Z, Y, T, C, sq, caps = Z[keep], Y[keep], T[keep], C[keep], sq[keep], caps[keep]

    spent = caps <= 0  # (nothing left to spend: as given)
    if bool(xp.any(spent)):
        leave(spent, xp.zeros_like(spent), 0)
    for it in range(1, int(budget.max(initial=0)) + 1):
        if Z.shape[0] == 0:
            break
        YG = Y @ gram
        kernels.step(YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate)
        if it % CHECK_EVERY and it not in stops:
            continue
        done = kernels.gap(Z, C, gram, sq, alpha, positive, tol)
        gone = done | (caps <= it)
        if bool(xp.any(gone)):
            leave(gone, done, it)
    return out, n_iter, n_failed


def generic_kernels(xp):
    """The fused parts written with standard operations only, for a
    namespace without kernels of its own (PyTorch, ``array_api_strict``;
    not JAX, whose arrays cannot be written in place): the arithmetic of the
    Numba and CUDA kernels as whole-array expressions."""

    def shrink(V, thresh, positive):
        if positive:
            return xp.maximum(V - thresh, xp.zeros_like(V))
        return xp.sign(V) * xp.maximum(xp.abs(V) - thresh, xp.zeros_like(V))

    def step(YG, C, Y, Z, T, inv_lip, alpha, positive, accelerate):
        # Python floats: a numpy scalar would make some namespaces convert
        inv_lip, alpha = float(inv_lip), float(alpha)
        Z_new = shrink(Y - inv_lip * (YG - C), alpha * inv_lip, positive)
        if accelerate:
            # restart where the step went against the momentum
            restart = xp.sum((Y - Z_new) * (Z_new - Z), axis=1)
            go = restart <= 0.0
            t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * T * T))
            beta = xp.where(go, (T - 1.0) / t_new, xp.zeros_like(T))
            T[...] = xp.where(go, t_new, xp.ones_like(T))
            Y[...] = Z_new + xp.astype(beta, Z.dtype)[:, None] * (Z_new - Z)
        else:
            T[...] = xp.ones_like(T)
            Y[...] = Z_new
        Z[...] = Z_new

    def gap(Z, C, gram, sq, alpha, positive, tol, gram64=None):
        alpha, tol = float(alpha), float(tol)
        if Z.dtype != xp.float64:
            Z, C = xp.astype(Z, xp.float64), xp.astype(C, xp.float64)
            gram = gram64 if gram64 is not None else xp.astype(gram, xp.float64)
        corr = C - Z @ gram
        zc = xp.sum(Z * C, axis=1)
        zcorr = xp.sum(Z * corr, axis=1)
        l1 = xp.sum(xp.abs(Z), axis=1)
        m = xp.maximum(xp.max(corr if positive else xp.abs(corr), axis=1), xp.zeros_like(sq))
        ones = xp.ones_like(sq)
        scale = xp.where(m <= alpha, ones, alpha / xp.where(m > 0.0, m, ones))
        primal = 0.5 * sq - 0.5 * zc - 0.5 * zcorr + alpha * l1
        rr = xp.maximum(sq - zc - zcorr, xp.zeros_like(sq))
        dual = scale * (sq - zc) - 0.5 * scale * scale * rr
        return primal - dual <= tol * 0.5 * sq

    def threshold(C, alpha, positive):
        return shrink(C, float(alpha), positive)

    return Kernels(step, gap, threshold)


def lipschitz(xp, gram64):
    """``1 / L`` with ``L`` the largest eigenvalue of the float64 Gram."""
    top = float(xp.linalg.eigvalsh(gram64)[-1])
    return 1.0 / top if top > 0 else 1.0


def gram64(xp, D, gram, l2):
    """The float64 Gram ``D D^T + l2 I`` (``gram``: one given by the caller,
    its shape checked by ``_encode_rules.check_shapes``, ``l2`` added to
    it)."""
    k = D.shape[0]
    dev = array_api_compat.device(D)
    if gram is None:
        D64 = xp.astype(D, xp.float64)
        G = D64 @ D64.T
    else:
        G = xp.asarray(gram, dtype=xp.float64, device=dev, copy=True)
    if l2 > 0:
        G = G + l2 * xp.eye(k, dtype=xp.float64, device=dev)
    return G


def solve_rows(xp, kernels, C, Z, sq, G, G64, inv_lip, *, alpha, positive, accelerate,
               max_iter, tol):
    """(F)ISTA on one chunk of rows, in the codes' dtype. In float32 a
    ``tol`` below :data:`FLOAT32_TOL` is unreachable (the iterates' rounding
    stalls the gap near 1e-7): solved to there in float32, then finished in
    float64 from that solution. Returns ``(codes, n_iter, n_failed)``."""

    def solve(C, Z, G, tol, budget=None):
        gap = kernels.gap
        if Z.dtype != xp.float64:
            def gap(*args):
                return kernels.gap(*args, gram64=G64)
        return fista_loop(C, Z, sq, G, inv_lip, alpha, positive, accelerate, max_iter, tol,
                          xp=xp, kernels=kernels._replace(gap=gap), budget=budget)

    if Z.dtype == xp.float32 and tol < FLOAT32_TOL:
        Z, it, _ = solve(C, Z, G, FLOAT32_TOL)
        # the float64 finish has what each row's float32 pass left of max_iter
        left = max_iter - np.asarray(to_numpy(it), dtype=np.int64)
        Z64, more, failed = solve(xp.astype(C, xp.float64), xp.astype(Z, xp.float64), G64,
                                  tol, left)
        return xp.astype(Z64, xp.float32), it + more, failed
    return solve(C, Z, G, tol)


def dtype_name(dtype):
    """"float32" for numpy's, CuPy's, PyTorch's or array_api_strict's float32."""
    return getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]


def _largest(xp, values):
    values = values.data if hasattr(values, "nnz") else values
    return float(xp.max(xp.abs(values))) if values.size else 0.0


def check_gram_finite(gram, dictionary, xp):
    """The float64 Gram of finite atoms can still overflow (atoms of 1e200)."""
    if not bool(xp.all(xp.isfinite(gram))):
        raise ValueError(
            "The dictionary's Gram matrix overflows float64: its atoms' norms are too "
            f"large (largest |entry| {_largest(xp, dictionary):.3g}). Rescale the "
            "dictionary.")


def check_responses_finite(cov, X, dictionary, xp):
    """``X @ dictionary.T`` of finite data can overflow its dtype (1e30 x
    1e30 in float32): refused by name rather than solved into inf codes."""
    if not bool(xp.all(xp.isfinite(cov))):
        name = dtype_name(cov.dtype)
        raise ValueError(
            f"X @ dictionary.T overflows {name}: the data and atoms are too large for "
            f"it (largest |X| {_largest(xp, X):.3g}, largest |atom entry| "
            f"{_largest(xp, dictionary):.3g}). Rescale them"
            + (", or pass float64 data." if name == "float32" else "."))


def check_codes_finite(codes, dtype, xp):
    """Finite data can still have codes too large for the dtype: an atom of
    norm 1e-45 in float32 with alpha = 0 codes a unit signal by 1e45."""
    values = codes.data if hasattr(codes, "nnz") else codes
    if values.size and not bool(xp.all(xp.isfinite(values))):
        raise ValueError(
            f"The codes overflow {dtype_name(dtype)}: the dictionary has atoms so small "
            "(or nearly dependent) that the solution does not fit. Rescale the dictionary "
            "to unit-norm atoms, raise alpha, or pass float64 data.")


def encode(xp, kernels, X, D, *, algorithm, alpha, l2, positive, max_iter, tol, init, gram,
           responses, sq_norms, chunks, n_nonzero=0):
    """FISTA, ISTA, the soft threshold or (where ``kernels.omp`` exists)
    batch OMP of the rows of ``X`` (validated, any layout the backend's
    ``responses`` takes) on the atoms ``D`` (in ``X``'s dtype, on its
    device), by row chunks ``chunks`` (``(start, stop)`` pairs):
    ``responses(rows)`` is ``rows @ D.T``, ``sq_norms(rows)`` the float64
    squared row norms. For OMP, ``alpha`` is the target squared residual
    (negative: none) and ``n_nonzero`` the most atoms. Returns ``(codes,
    n_iter, n_failed)``, codes in ``X``'s dtype; for OMP ``n_failed``
    counts the pursuits stopped by a dependent atom."""
    n, k = X.shape[0], D.shape[0]
    dev = array_api_compat.device(D)
    dtype = D.dtype
    if algorithm != "threshold":
        G64 = gram64(xp, D, gram, l2)
        check_gram_finite(G64, D, xp)
    if algorithm in ("fista", "ista"):
        inv_lip = lipschitz(xp, G64)
        G = xp.astype(G64, dtype)
    codes = xp.empty((n, k), dtype=dtype, device=dev)
    n_iter = xp.zeros(n, dtype=xp.int64, device=dev)
    n_failed = 0
    for start, stop in chunks:
        rows = X[start:stop, ...]
        C = responses(rows)
        check_responses_finite(C, rows, D, xp)
        if algorithm == "threshold":
            codes[start:stop, ...] = kernels.threshold(C, alpha, positive)
            continue
        if algorithm == "omp":
            out, it, failed = kernels.omp(C, sq_norms(rows), G64, n_nonzero, alpha)
        else:
            Z = (xp.zeros((stop - start, k), dtype=dtype, device=dev) if init is None
                 else xp.asarray(init[start:stop, ...], dtype=dtype, copy=True))
            out, it, failed = solve_rows(
                xp, kernels, C, Z, sq_norms(rows), G, G64, inv_lip, alpha=alpha,
                positive=positive, accelerate=algorithm != "ista", max_iter=max_iter,
                tol=tol)
        codes[start:stop, ...] = out
        n_iter[start:stop] = it
        n_failed += failed
    check_codes_finite(codes, dtype, xp)
    return codes, n_iter, n_failed


def row_chunks(n, k):
    """``(start, stop)`` row chunks of at most :data:`CHUNK_ENTRIES` codes."""
    step = rows_per_chunk(k, CHUNK_ENTRIES)
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def warn_failed(algorithm, max_iter, n_failed, n):
    if n_failed:
        warnings.warn(f"sparse_encode(algorithm={algorithm!r}) reached max_iter={max_iter} "
                      f"on {n_failed} of {n} samples before the tolerance; increase "
                      "max_iter or tol.", ConvergenceWarning, stacklevel=4)
