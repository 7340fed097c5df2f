"""The dictionary learner's model, apart from the estimator
(:mod:`sparsecode._dictionary`): the online stopping rule, the sufficient
statistics of a block of codes, the rows worst reconstructed, and the K-SVD
sweep, and the lasso objective they are judged by. :mod:`sparsecode.dask` uses
them too."""



import numpy as np
import scipy.sparse as sp

from . import _gpu

# Power iterations per atom in the K-SVD update: one is Rubinstein et al.'s
# approximate K-SVD; a few more come close to the exact rank-1 SVD (planted
# atoms recovered over 5 seeds: 87% with one step, 91% with five).
_POWER_STEPS = 5


class _OnlineStopping:
    """The stopping rule of online learning, fed each step's minibatch
    objective (mean over its samples, before the step's update) by
    ``update``, which says whether to stop (and sets ``reason``).

    ``sizes`` are the samples of each minibatch, in the order every epoch
    visits them. First pass: each minibatch is unseen, its objective an
    unbiased estimate of the current dictionary's, but noisy (one 256-patch
    batch: 9% relative spread from one step to the next on problem C). Stop
    only when consecutive windows of a quarter epoch (at least 2 steps) say
    that the objective decreases by less than ``tol`` per epoch with two
    standard errors to spare. Later passes: the mean over the last epoch's steps
    (weighted by ``sizes``) holds every sample once, and consecutive values
    differ by one minibatch's objective against its own one epoch earlier:
    a smooth curve (on problem C its longest run without a new minimum was
    2 steps). Stop when it decreased by less than ``tol`` over one epoch,
    or reached no new minimum in ``patience`` steps.
    """

    def __init__(self, sizes, tol, patience):
        self.sizes = np.asarray(sizes, dtype=np.float64)
        self.epoch = len(self.sizes)
        self.window = max(2, -(-self.epoch // 4))
        self.tol, self.patience = tol, patience
        self.costs = []
        self.latest = np.zeros(self.epoch)  # each minibatch's latest objective
        self.smoothed = []  # the epoch mean, from the end of the first pass
        self.best, self.stale = np.inf, 0
        self.reason = None

    def update(self, cost):
        step = len(self.costs)
        self.costs.append(cost)
        self.latest[step % self.epoch] = cost
        step += 1
        if step <= self.epoch and self._flattened(step):
            return True
        if step < self.epoch:
            return False
        # smoothed[k]: the epoch mean after step epoch + k
        mean = float(self.sizes @ self.latest) / self.sizes.sum()
        self.smoothed.append(mean)
        if self.tol > 0 and len(self.smoothed) > self.epoch:
            before = self.smoothed[-1 - self.epoch]
            if before - mean < self.tol * abs(mean):
                self.reason = (f"the objective decreased by {(before - mean) / _nonzero(mean):.2e}"
                               f" (relative) over the last epoch, less than tol={self.tol}")
                return True
        if mean < self.best:
            self.best, self.stale = mean, 0
        else:
            self.stale += 1
            if self.patience is not None and self.stale >= self.patience:
                self.reason = (f"no new minimum of the objective in {self.stale} steps "
                               f"(max_no_improvement={self.patience})")
                return True
        return False

    def _flattened(self, step):
        w = self.window
        if self.tol <= 0 or step < 2 * w or step % w:
            return False
        costs = np.asarray(self.costs[step - 2 * w:step])
        sizes = self.sizes[np.arange(step - 2 * w, step) % self.epoch]
        before = float(sizes[:w] @ costs[:w]) / sizes[:w].sum()
        now = float(sizes[w:] @ costs[w:]) / sizes[w:].sum()
        error = np.sqrt((costs[:w].var(ddof=1) + costs[w:].var(ddof=1)) / w)
        # windows w steps apart: their decrease times epoch / w is an epoch's
        per_epoch = self.epoch / w
        if (before - now + 2 * error) * per_epoch < self.tol * abs(now):
            self.reason = (f"the objective flattened in the first pass (decrease "
                           f"{(before - now) * per_epoch / _nonzero(now):.2e} +- "
                           f"{2 * error * per_epoch / _nonzero(now):.1e} per epoch, from "
                           f"windows of {w} steps; tol={self.tol})")
            return True
        return False


def _nonzero(x):
    """``|x|``, or the smallest positive float: a divisor for messages."""
    return max(abs(x), np.finfo(np.float64).tiny)


def lasso_objective(X, codes, dictionary, alpha, l2=0.0):
    """Per-sample ``0.5 ||x - z D||^2 + alpha ||z||_1 + 0.5 l2 ||z||^2`` in
    Gram form: a sparse ``X`` (and sparse codes) stay sparse."""
    D = np.asarray(dictionary, dtype=np.float64)
    if sp.issparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    else:
        Xd = np.asarray(X, dtype=np.float64)
        sq = np.einsum("ij,ij->i", Xd, Xd)
    C = np.asarray(X @ D.T, dtype=np.float64)
    if sp.issparse(codes):
        codes = codes.tocsr().astype(np.float64)
        ZG = np.asarray(codes @ (D @ D.T))
        zc = np.asarray(codes.multiply(C).sum(axis=1)).ravel()
        zgz = np.asarray(codes.multiply(ZG).sum(axis=1)).ravel()
        l1 = np.asarray(abs(codes).sum(axis=1)).ravel()
        zz = np.asarray(codes.multiply(codes).sum(axis=1)).ravel()
    else:
        Z = np.asarray(codes, dtype=np.float64)
        ZG = Z @ (D @ D.T)
        zc = np.einsum("ij,ij->i", Z, C)
        zgz = np.einsum("ij,ij->i", Z, ZG)
        l1 = np.abs(Z).sum(axis=1)
        zz = np.einsum("ij,ij->i", Z, Z)
    residual = np.maximum(sq - 2.0 * zc + zgz, 0.0)
    return 0.5 * residual + alpha * l1 + 0.5 * l2 * zz


def code_statistics(X, codes):
    """``(Z^T Z, Z^T X, sum ||x||^2, sum |z|)`` of a block in float64: the
    sufficient statistics of the dictionary update, which add up over row
    blocks (how the Dask fit reduces them)."""
    gpu = _gpu.is_gpu_array(codes)  # the products on the GPU, their results on the host
    xp = _gpu.cupy() if gpu else np
    sparse = (_gpu.cupyx_sparse() if gpu else sp).issparse(X)
    Z = codes.astype(xp.float64)
    ZtZ = Z.T @ Z
    ZtX = xp.asarray((X.T @ Z).T, dtype=xp.float64)
    values = (X.data if sparse else X.ravel()).astype(xp.float64)
    return (_gpu.to_host(ZtZ), _gpu.to_host(ZtX), float(values @ values),
            float(xp.abs(Z).sum()))


def worst_rows(X, codes, D, m):
    """The ``m`` rows of ``X`` worst reconstructed by ``codes @ D`` (largest
    residual first, ties by position): residuals, positions, and the rows as
    dense float64."""
    residual = lasso_objective(X, codes, D, 0.0)
    top = np.argsort(-residual, kind="stable")[:m]
    rows = X[top]
    rows = np.asarray(rows.todense() if sp.issparse(rows) else rows, dtype=np.float64)
    return residual[top], top, rows.reshape(top.size, X.shape[1])


def _near_duplicates(D, threshold):
    """Mask of atoms whose |cosine| with an earlier atom exceeds ``threshold``."""
    norms = np.maximum(np.linalg.norm(D, axis=1), 1e-300)
    cos = np.abs(D @ D.T) / np.outer(norms, norms)
    return np.tril(cos, -1).max(axis=1, initial=0.0) > threshold


def _ksvd_sweep(X, D, codes):
    """One approximate K-SVD sweep over the atoms, in place in ``D`` (float64)
    and in the CSR ``codes``; returns how many samples use each atom.

    For atom ``j`` and the samples ``I`` that use it, with ``g = Z[I, j]`` and
    ``R = X_I - Z_I D + g d_j^T`` the residual without the atom, one power
    step of the rank-1 SVD of ``R``: ``d = R^T g / ||R^T g||``, ``g = R d``,
    all from products with ``X_I`` and ``Z_I`` (Rubinstein et al. 2008, which
    never forms ``R``; a sparse ``X`` stays sparse).
    """
    k = D.shape[0]
    # where each column entry of the CSR codes sits in codes.data
    positions = sp.csr_matrix((np.arange(codes.nnz, dtype=np.float64), codes.indices,
                               codes.indptr), shape=codes.shape).tocsc()
    usage = np.diff(positions.indptr)
    for j in range(k):
        lo, hi = positions.indptr[j], positions.indptr[j + 1]
        if lo == hi:
            continue
        rows = positions.indices[lo:hi]
        where = positions.data[lo:hi].astype(np.int64)
        g = codes.data[where]
        XI = X[rows]
        ZI = codes[rows]
        dj = D[j].copy()
        # R = X_I - Z_I D + g dj^T, with Z_I still holding g in column j
        d = dj
        g_cur = g
        for _ in range(_POWER_STEPS):
            Rg = (np.asarray(XI.T @ g_cur).ravel() - D.T @ np.asarray(ZI.T @ g_cur).ravel()
                  + dj * (g @ g_cur))
            norm = np.linalg.norm(Rg)
            if norm == 0.0:
                break
            d = Rg / norm
            g_cur = np.asarray(XI @ d).ravel() - np.asarray(ZI @ (D @ d)).ravel() + g * (dj @ d)
        D[j] = d
        codes.data[where] = g_cur
    return usage
