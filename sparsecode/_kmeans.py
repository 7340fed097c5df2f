"""ZCA whitening kept as a factor beside the data, and k-means (spherical, as
Coates & Ng use it, or Euclidean) on the whitened rows in Gram form: a sparse
``X`` is never densified, and the whitened matrix is never formed.

The rows of a CuPy ``X`` are :class:`DeviceRows`: their products, sums and
assignments run on the GPU, and what comes back to the host is small (the
centroids' sums, labels and losses, the few rows and responses that seed
k-means or set a threshold), so the k-means loop and the threshold choice
here are the same code on either device."""

import numpy as np
import scipy.sparse as sp
from scipy import linalg

from . import _gpu
from ._chunks import gemm_into, map_chunks, rows_per_chunk
from ._dense import row_chunks
from ._encode import _row_sq_norms, canonical_csr
from ._kernels._kmeans import assign_euclidean, assign_spherical

# Entries of centred float64 rows per chunk of the covariance's sum (8 MiB).
_MOMENT_ENTRIES = 1 << 20


def zca(X, eps):
    """Mean and ZCA whitening matrix ``W = U (L + eps * mean(L))^{-1/2} U^T``
    of the (biased) covariance ``U L U^T`` of the rows of ``X``; ``eps`` is
    relative to the mean eigenvalue, so the whitening does not depend on the
    scale of ``X``. The covariance of a CuPy ``X`` is summed on its GPU; the
    ``p x p`` eigendecomposition runs on the host either way."""
    mean, cov = (_moments_gpu if _gpu.is_gpu_array(X) else _moments)(X)
    evals, evecs = linalg.eigh(cov)
    evals = np.maximum(evals, 0.0)
    reg = eps * max(evals.mean(), np.finfo(np.float64).tiny)
    W = (evecs / np.sqrt(evals + reg)) @ evecs.T
    return mean, W


def _moments(X):
    """Mean and (biased) covariance of the rows, in float64."""
    n = X.shape[0]
    if sp.issparse(X):
        X = X.astype(np.float64)  # float32 sums of squares lose the small covariances
        mean = np.asarray(X.mean(axis=0)).ravel()
        second = np.asarray((X.T @ X).todense()) / n
        return mean, second - np.outer(mean, mean)
    return _dense_moments(X, np)


def _dense_moments(X, xp):
    """Mean and covariance of a dense ``X`` (module ``xp``), the centred
    float64 rows summed a chunk at a time: no copy of ``X``."""
    n, p = X.shape
    mean = X.mean(axis=0, dtype=xp.float64)
    cov = xp.zeros((p, p))
    rows = rows_per_chunk(p, _MOMENT_ENTRIES)
    for start in range(0, n, rows):
        centred = X[start:start + rows] - mean
        cov += centred.T @ centred
    return mean, cov / n


def _moments_gpu(X):
    """:func:`_moments` of a CuPy array or ``cupyx`` CSR, summed on the GPU
    and returned on the host."""
    cp = _gpu.cupy()
    n = X.shape[0]
    if _gpu.cupyx_sparse().issparse(X):
        X = X.astype(cp.float64)
        mean = cp.asarray(X.sum(axis=0)).ravel() / n
        second = (X.T.tocsr() @ X).toarray() / n
        return _gpu.to_host((mean, second - cp.outer(mean, mean)))
    return _gpu.to_host(_dense_moments(X, cp))


class Rows:
    """The rows ``(X - mean) @ W`` (or just ``X``) without forming them.

    ``X @ M`` for any right factor ``M`` is ``X @ (W @ M) - (mean @ W) @ M``:
    one product with the stored ``X`` and a shift.
    """

    def __init__(self, X, mean=None, W=None):
        self.sparse, self.X = self._canonical(X)
        self.W = W
        self.shift = None if W is None else mean @ W

    @staticmethod
    def _canonical(X):
        """``(is_sparse, X)``, a sparse ``X`` without duplicate or unsorted
        entries."""
        sparse = sp.issparse(X)
        return sparse, canonical_csr(X) if sparse else X

    def subset(self, idx):
        out = type(self).__new__(type(self))
        vars(out).update(vars(self))
        out.X = self._take(idx)
        return out

    def _take(self, idx):
        return self.X[idx]

    @property
    def n_samples(self):
        return self.X.shape[0]

    def fold(self, right, dtype):
        """``(M, b)`` with rows ``X @ M - b`` equal to the whitened rows times
        ``right`` (``n_features x m``); ``M`` in ``dtype``, ``b`` float64."""
        if self.W is None:
            return np.ascontiguousarray(right, dtype=dtype), np.zeros(right.shape[1])
        return (np.ascontiguousarray(self.W @ right, dtype=dtype), self.shift @ right)

    def responses(self, right, idx=slice(None)):
        """The whitened rows ``idx`` times ``right``, in float64 (for the
        few columns of the seeding and the samples that set a threshold)."""
        M, b = self.fold(right, np.float64)
        return np.asarray(self.X[idx] @ M, dtype=np.float64) - b

    def dense(self, idx):
        """The whitened rows ``idx`` as a dense float64 array (on the host)."""
        return self.whiten_block(self.X[idx])

    def whitened(self):
        """All the whitened rows, dense, in ``X``'s dtype and where ``X``
        lives (what an estimator ``dictionary`` is fitted on)."""
        return self.dense(slice(None)).astype(self.X.dtype, copy=False)

    def whiten_block(self, block):
        """Whiten a block of raw rows (dense float64 out)."""
        rows = np.asarray(block.todense() if sp.issparse(block) else block, dtype=np.float64)
        if self.W is None:
            return rows
        return rows @ self.W - self.shift

    def sq_norms_of(self, block):
        """Squared norms of a block of raw rows once whitened."""
        if self.W is None:
            return _row_sq_norms(block)
        Z = self.whiten_block(block)
        return np.einsum("ij,ij->i", Z, Z)

    def sq_norms(self, n_jobs=None):
        """Squared norms of the whitened rows (chunk by chunk)."""
        if self.W is None:
            return _row_sq_norms(self.X)
        out = np.empty(self.n_samples)

        def work(start, stop, scratch):
            out[start:stop] = self.sq_norms_of(self.X[start:stop])

        map_chunks(self.n_samples, rows_per_chunk(self.X.shape[1]), work, n_jobs)
        return out

    def weighted_sums(self, labels, weights, n_clusters):
        """``S^T rows`` for ``S[i, labels[i]] = weights[i]``: the sums that
        update the centroids, through the stored ``X`` (sparse stays sparse)."""
        n = self.n_samples
        S = sp.csr_matrix((weights, labels, np.arange(n + 1)), shape=(n, n_clusters))
        sums = S.T @ self.X
        sums = np.asarray(sums.todense() if sp.issparse(sums) else sums, dtype=np.float64)
        return self._whiten_sums(sums, labels, weights, n_clusters)

    def _whiten_sums(self, sums, labels, weights, n_clusters):
        if self.W is None:
            return sums
        mass = np.bincount(labels, weights=weights, minlength=n_clusters)
        return sums @ self.W - np.outer(mass, self.shift)

    def assign(self, centers, sq_x, spherical, n_jobs):
        """Labels, codes (spherical) and losses of every row under
        ``centers`` (numpy arrays)."""
        n = self.n_samples
        dtype = self.X.dtype
        M, b = self.fold(centers.T, dtype)
        sq_c = np.einsum("ij,ij->i", centers, centers)
        labels = np.empty(n, dtype=np.int64)
        values = np.empty(n)
        loss = np.empty(n)

        def work(start, stop, scratch):
            cov = gemm_into(scratch, self.X[start:stop], M, dtype)
            if spherical:
                assign_spherical(cov, b, sq_x[start:stop], labels[start:stop],
                                 values[start:stop], loss[start:stop])
            else:
                assign_euclidean(cov, b, sq_x[start:stop], sq_c, labels[start:stop],
                                 loss[start:stop])

        map_chunks(n, rows_per_chunk(centers.shape[0]), work, n_jobs)
        return labels, values, loss


class DeviceRows(Rows):
    """:class:`Rows` of a CuPy array or ``cupyx`` CSR matrix: the products
    (cuBLAS / cuSPARSE), the centroid sums and the assignments run on its
    GPU by row chunks; labels, codes, losses, norms and sums come back to
    the host as numpy arrays, as do the few rows :meth:`dense` and the
    responses :meth:`responses` give (k-means++ seeding, the threshold's
    sample). Each step computes what :class:`Rows` computes, in the same
    precision: float64 responses for the seeding and the threshold, the
    assignments from products in ``X``'s dtype."""

    @staticmethod
    def _canonical(X):
        sparse = _gpu.cupyx_sparse().issparse(X)
        return sparse, _gpu.canonical_csr(X) if sparse else X

    def _take(self, idx):
        return self.X[idx] if isinstance(idx, slice) else _gpu.rows_of(self.X, idx)

    def _whiten_device(self, block):
        """Whitened float64 rows of a block of raw rows, on the GPU."""
        cp = _gpu.cupy()
        block = block.astype(cp.float64)
        rows = block.toarray() if self.sparse else block
        if self.W is None:
            return rows
        return rows @ cp.asarray(self.W) - cp.asarray(self.shift)

    def _chunks(self, width):
        return row_chunks(self.n_samples, width)

    def responses(self, right, idx=slice(None)):
        cp, csp = _gpu.cupy(), _gpu.cupyx_sparse()
        M, b = self.fold(right, np.float64)
        rows = self._take(idx).astype(cp.float64)
        return _gpu.to_host(_gpu.responses(cp, csp, rows, M)) - b

    def dense(self, idx):
        return _gpu.to_host(self._whiten_device(self._take(idx)))

    def whitened(self):
        return self._whiten_device(self.X).astype(self.X.dtype)

    def sq_norms(self, n_jobs=None):
        cp = _gpu.cupy()
        out = cp.empty(self.n_samples)
        for start, stop in self._chunks(self.X.shape[1]):
            block = self.X[start:stop]
            if self.W is None:
                out[start:stop] = _gpu.row_sq_norms(cp, block, self.sparse)
            else:
                out[start:stop] = (self._whiten_device(block) ** 2).sum(axis=1)
        return _gpu.to_host(out)

    def weighted_sums(self, labels, weights, n_clusters):
        """``S^T rows`` as :meth:`Rows.weighted_sums`, the sums of each row
        chunk as one sparse product ``S_chunk^T @ X_chunk`` on the GPU (in
        float64)."""
        cp, csp = _gpu.cupy(), _gpu.cupyx_sparse()
        labels_d, weights_d = cp.asarray(labels), cp.asarray(weights, dtype=cp.float64)
        sums = cp.zeros((n_clusters, self.X.shape[1]))
        for start, stop in self._chunks(self.X.shape[1]):
            m = stop - start
            St = csp.coo_matrix((weights_d[start:stop], (labels_d[start:stop], cp.arange(m))),
                                shape=(n_clusters, m)).tocsr()
            part = St @ self.X[start:stop].astype(cp.float64)
            sums += part.toarray() if csp.issparse(part) else part
        return self._whiten_sums(_gpu.to_host(sums), labels, weights, n_clusters)

    def assign(self, centers, sq_x, spherical, n_jobs):
        """:meth:`Rows.assign` on the GPU: the responses of a row chunk by
        one product in ``X``'s dtype, the argmax / argmin and the losses in
        float64 (first index on ties, as the CPU kernels)."""
        cp, csp = _gpu.cupy(), _gpu.cupyx_sparse()
        n = self.n_samples
        M, b = self.fold(centers.T, self.X.dtype)
        b = cp.asarray(b)
        sq = cp.asarray(sq_x)
        sq_c = cp.asarray(np.einsum("ij,ij->i", centers, centers))
        labels = cp.empty(n, dtype=cp.int64)
        values = cp.empty(n)
        loss = cp.empty(n)
        for start, stop in self._chunks(centers.shape[0]):
            V = _gpu.responses(cp, csp, self.X[start:stop], M).astype(cp.float64) - b
            score = cp.abs(V) if spherical else sq_c - 2.0 * V
            picked = cp.argmax(score, axis=1) if spherical else cp.argmin(score, axis=1)
            best = cp.take_along_axis(score, picked[:, None], axis=1)[:, 0]
            labels[start:stop] = picked
            if spherical:
                values[start:stop] = cp.take_along_axis(V, picked[:, None], axis=1)[:, 0]
                loss[start:stop] = cp.maximum(sq[start:stop] - best * best, 0.0)
            else:
                loss[start:stop] = cp.maximum(sq[start:stop] + best, 0.0)
        return _gpu.to_host((labels, values, loss))


def _seed(rows, n_clusters, sq_x, spherical, rng):
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's
    ``2 + log k`` candidates per centre) on a subsample of the rows."""
    n = rows.n_samples
    n_sub = min(n, max(10_000, 50 * n_clusters))
    sub = np.sort(rng.choice(n, size=n_sub, replace=False)) if n_sub < n else np.arange(n)
    view = rows.subset(sub)
    sq = sq_x[sub]
    n_trials = 2 + int(np.log(n_clusters))

    def unit(C):
        norms = np.linalg.norm(C, axis=1, keepdims=True)
        return np.divide(C, norms, out=np.zeros_like(C), where=norms > 0)

    def losses(C):
        R = view.responses(C.T)
        if spherical:
            return sq[:, None] - R**2
        return sq[:, None] - 2.0 * R + np.einsum("ij,ij->i", C, C)

    nonzero = np.flatnonzero(sq > 0)
    first = rng.choice(nonzero if nonzero.size else np.arange(n_sub))
    centers = np.empty((n_clusters, rows.X.shape[1]))
    C = view.dense([first])
    centers[0] = unit(C)[0] if spherical else C[0]
    potential = np.maximum(losses(centers[:1])[:, 0], 0.0)
    for c in range(1, n_clusters):
        total = potential.sum()
        if total > 0:
            cands = rng.choice(n_sub, size=n_trials, p=potential / total)
        else:
            cands = rng.choice(n_sub, size=n_trials)
        C = view.dense(cands)
        if spherical:
            C = unit(C)
        trial = np.minimum(potential[:, None], np.maximum(losses(C), 0.0))
        best = int(np.argmin(trial.sum(axis=0)))
        centers[c] = C[best]
        potential = trial[:, best]
    return centers



def kmeans(rows, n_clusters, *, spherical, max_iter, tol, rng, n_init=1, n_jobs=None,
           verbose=0):
    """Lloyd iterations from ``n_init`` greedy k-means++ starts; the run of
    lowest final objective wins.

    ``spherical=True``: gain-shape k-means of Coates & Ng (2012), unit
    centroids minimising ``sum_i ||x_i||^2 - max_j (c_j . x_i)^2``, each
    updated to ``normalize(sum_{i in j} (c_j . x_i) x_i + c_j)``: one power
    step on the cluster's scatter matrix plus the identity, which cannot
    increase the objective. ``spherical=False``: Euclidean k-means (inertia).

    Clusters left empty take the worst represented rows. Returns the centres
    (float64) of the last assignment, the mean loss after each assignment
    (so the last one is the returned centres'), and the iterations run.
    """
    sq_x = rows.sq_norms(n_jobs)
    best = None
    for run in range(n_init):
        if verbose and n_init > 1:
            print(f"[ThresholdEncoder] k-means start {run + 1} of {n_init}")
        result = _lloyd(rows, n_clusters, sq_x, spherical, max_iter, tol, rng, n_jobs, verbose)
        if best is None or result[1][-1] < best[1][-1]:
            best = result
    return best


def _lloyd(rows, n_clusters, sq_x, spherical, max_iter, tol, rng, n_jobs, verbose):
    centers = _seed(rows, n_clusters, sq_x, spherical, rng)
    objective = []
    previous_labels = None
    it = 0
    scored = centers
    for it in range(1, max_iter + 1):
        labels, values, loss = rows.assign(centers, sq_x, spherical, n_jobs)
        scored = centers
        objective.append(float(loss.mean()))
        if verbose:
            print(f"[ThresholdEncoder] k-means iteration {it}: objective {objective[-1]:.6g}")
        if previous_labels is not None and (
            np.array_equal(labels, previous_labels) and not spherical
            or objective[-2] - objective[-1] <= tol * abs(objective[-1])
        ):
            break
        previous_labels = labels
        counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
        empty = counts == 0
        if spherical:
            sums = rows.weighted_sums(labels, values, n_clusters) + centers
            norms = np.linalg.norm(sums, axis=1)
            empty |= ~(norms > 0)
            centers = sums / np.where(empty, 1.0, norms)[:, None]
        else:
            sums = rows.weighted_sums(labels, np.ones(rows.n_samples), n_clusters)
            centers = sums / np.where(empty, 1.0, counts)[:, None]
        if empty.any():
            worst = np.argsort(-loss, kind="stable")[: int(empty.sum())]
            fresh = rows.dense(worst)
            if spherical:
                fresh /= np.maximum(np.linalg.norm(fresh, axis=1, keepdims=True), 1e-300)
            centers[np.flatnonzero(empty)[: fresh.shape[0]]] = fresh
    # the centres the last objective belongs to (an update after the last
    # assignment is not scored, and the n_init runs are compared by score)
    return scored, objective, it
