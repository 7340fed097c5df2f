"""sparsecode on a Dask cluster: estimators that accept dask arrays.

``sparsecode.dask.DictionaryLearner`` and
``sparsecode.dask.SparseAttentionTransformer`` take the parameters of their
in-memory namesakes and behave the same on numpy and scipy.sparse input; given
a ``dask.array.Array`` of row blocks (dense or scipy.sparse chunks, any
number of row chunks), they run on the workers of the current
``dask.distributed`` client and return dask arrays from ``transform``. The
other estimators need no wrapper: their ``transform`` works block by block,
as ``dask_ml.wrappers.ParallelPostFit`` or :func:`transform` run it, and
``DictionaryLearner.partial_fit`` is what ``dask_ml.wrappers.Incremental``
calls.

Only the sufficient statistics of the dictionary update, ``A = Z^T Z``
(k x k) and ``B = Z^T X`` (k x p), travel to the driver, summed on the
workers by a tree reduction; the data and the codes stay where they are.

Importing this module needs ``dask[distributed]`` (the ``dask`` extra);
``import sparsecode`` does not.
"""

import time
from numbers import Integral

import numpy as np
import scipy.sparse as sp

try:
    import dask.array as da
    import distributed  # noqa: F401 (the extra, checked here for its message)
    from dask.array.overlap import ensure_minimum_chunksize
    from dask.base import is_dask_collection
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError("sparsecode.dask needs dask.distributed: pip install "
                      "'sparsecode[dask]'") from exc

from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted

from . import _attention, _dictionary
from ._attention_model import nearest_key_bandwidth
from ._dask_tasks import (
    Rows,
    batch_stats,
    check_n_features,
    current_client,
    encode_block,
    hold_dictionary,
    online_stats,
    row_blocks,
    tree_sum,
    worst,
)
from ._threads import kernel_threads
from ._validation import IntInterval, restore_on_error

__all__ = ["DictionaryLearner", "SparseAttentionTransformer", "transform"]

# SparseAttentionTransformer.fit learns bandwidth=None from this many first
# tokens of a dask array (whole grid rows for "window2d"), computed in memory.
_HEAD_TOKENS = 4096


# ------------------------------------------------------------- estimators
class DictionaryLearner(_dictionary.DictionaryLearner):
    """:class:`sparsecode.DictionaryLearner` that also fits on a dask array.

    Same parameters and, on numpy or scipy.sparse input, the same behaviour.
    On a ``dask.array.Array`` of row blocks it runs on the current
    ``dask.distributed`` client:

    - ``method="batch"``: every iteration, each worker codes its blocks on
      the current dictionary (warm-started from its previous codes, which
      stay on the worker) and returns the sums ``A = Z^T Z``, ``B = Z^T X``
      and its objective; the sums are reduced by a tree on the workers and
      the driver updates the atoms by block coordinate descent. The result
      equals the in-memory batch fit on the same data and seed (to rounding:
      the sums are added in another order). Each iteration's codes start
      from the last ones, so to recompute codes lost with a worker the
      scheduler keeps every iteration's dictionary task: ``O(max_iter k p)``
      floats on the scheduler during the fit, released after it.
    - ``method="online"``: each step codes ``chunks_per_step`` row chunks
      (in an order drawn from ``random_state`` each epoch) on the workers and
      makes one online update with the step's total sample count: one step
      equals an in-memory ``partial_fit`` on the concatenation of its chunks.
    - ``partial_fit`` on a dask array is one such step over all its chunks.
      The online fit on a dask array runs ``max_iter`` epochs: the in-memory
      stopping rules (``tol``, ``max_no_improvement``) are not applied.

    Unused atoms are replaced by the worst-reconstructed rows, found by each
    worker among its blocks and fetched one by one. A worker lost in the
    middle of a fit is replaced by the cluster and its blocks recomputed from
    the graph of ``X``: the fit completes with the same dictionary.
    ``method="ksvd"`` is in-memory only.

    Parameters
    ----------
    chunks_per_step : int, default=None
        ``method="online"`` on a dask array: row chunks per online step;
        None: the number of workers.
    **params
        The parameters of :class:`sparsecode.DictionaryLearner`.

    Attributes
    ----------
    bytes_per_iteration_ : int
        On a dask fit: bytes between the driver and the cluster per iteration
        (the dictionary out, ``A``, ``B`` and three sums back): ``O(k^2 + k
        p)``, whatever the number of samples or blocks.
    """

    _parameter_constraints = {
        **_dictionary.DictionaryLearner._parameter_constraints,
        "chunks_per_step": [IntInterval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, n_components=None, *, alpha=1.0, method="online", fit_algorithm="auto",
                 positive_code=False, positive_dict=False, n_nonzero_coefs=None,
                 transform_algorithm="auto", transform_alpha=None,
                 transform_n_nonzero_coefs=None, l2=0.0, batch_size=256, max_iter=10,
                 tol=1e-3, max_no_improvement=10, dict_init=None, shuffle=True,
                 split_sign=False, sparse_output=False, callback=None, verbose=0,
                 n_jobs=None, random_state=None, device=None, chunks_per_step=None):
        super().__init__(
            n_components, alpha=alpha, method=method, fit_algorithm=fit_algorithm,
            positive_code=positive_code, positive_dict=positive_dict,
            n_nonzero_coefs=n_nonzero_coefs, transform_algorithm=transform_algorithm,
            transform_alpha=transform_alpha, transform_n_nonzero_coefs=transform_n_nonzero_coefs,
            l2=l2, batch_size=batch_size, max_iter=max_iter, tol=tol,
            max_no_improvement=max_no_improvement, dict_init=dict_init, shuffle=shuffle,
            split_sign=split_sign, sparse_output=sparse_output, callback=callback,
            verbose=verbose, n_jobs=n_jobs, random_state=random_state, device=device)
        self.chunks_per_step = chunks_per_step

    # -------------------------------------------------------------- API
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (a dask array runs on the cluster).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : DictionaryLearner
        """
        if not is_dask_collection(X):
            return super().fit(X)
        self._validate_params()
        if self.method == "ksvd":
            raise ValueError("method='ksvd' runs in memory only; use 'batch' or 'online' on "
                             "a dask array.")
        with restore_on_error(self):
            return self._fit_dask(X)

    @available_if(lambda self: self.method == "online")
    def partial_fit(self, X, y=None):
        """One online step on ``X``; a dask array's chunks are coded on the
        workers and the step equals an in-memory ``partial_fit`` on their
        concatenation.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : DictionaryLearner
        """
        if not is_dask_collection(X):
            return super().partial_fit(X)
        self._validate_params()
        with restore_on_error(self):
            return self._partial_fit_dask(X)

    def transform(self, X):
        """Codes of ``X``: a dask array gives a dask array of code blocks.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        codes : {ndarray, sparse matrix, dask array} of shape (n_samples, n_features_out)
        """
        if is_dask_collection(X):
            return transform(self, X)
        return super().transform(X)

    # --------------------------------------------------------- internals
    def _setup(self, X, reset=True):
        X = row_blocks(X)
        client = current_client()
        blocks = client.compute(X.to_delayed().ravel().tolist())
        if reset:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            check_n_features(self, X)
        return X, client, blocks, np.asarray(X.chunks[0], dtype=np.int64)

    def _encode_params(self):
        return dict(algorithm=self.fit_algorithm, alpha=self.alpha, l2=self.l2,
                    positive=self.positive_code)

    def _fit_dask(self, X):
        start = time.perf_counter()
        X, client, blocks, sizes = self._setup(X)
        n = int(sizes.sum())
        if n == 0:
            raise ValueError("Found array with 0 sample(s) (shape=(0, "
                             f"{X.shape[1]})) while a minimum of 1 is required.")
        D, rng = self._start(Rows(client, blocks, sizes, X.shape[1], X.dtype))
        k = D.shape[0]
        # to the cluster: the dictionary; back: A, B and 3 sums
        self.bytes_per_iteration_ = 8 * (k * k + 2 * k * X.shape[1] + 3)
        # the block futures are released when they go out of scope, never
        # cancelled: their keys may be the user's persisted chunks
        if self.method == "batch":
            self._batch_dask(client, blocks, sizes, D, rng)
        else:
            self._online_dask(client, blocks, sizes, D, rng)
        self.components_ = D
        if self.verbose:
            print(f"[DictionaryLearner] dask fit: {len(blocks)} blocks, {n} samples, "
                  f"{self.n_steps_} steps, {time.perf_counter() - start:.2f} s")
        return self

    def _batch_dask(self, client, blocks, sizes, D, rng):
        n = int(sizes.sum())
        params = self._encode_params()
        codes = [None] * len(blocks)
        previous = np.inf
        it = 0
        for it in range(1, self.max_iter + 1):
            D64 = D.astype(np.float64)
            held = hold_dictionary(client, D64)
            codes = [client.submit(encode_block, b, held, params, c, pure=False)
                     for b, c in zip(blocks, codes)]
            stats = [client.submit(batch_stats, b, c, held, self.alpha, self.l2, pure=False)
                     for b, c in zip(blocks, codes)]
            ZtZ, ZtX, _, _, objective = tree_sum(client, stats).result()
            cost = objective / n
            self.objective_.append(cost)
            if self.verbose > 1:
                print(f"[DictionaryLearner] iteration {it}: objective {cost:.6g}")
            if self.callback is not None:
                self.callback(locals())
            if previous - cost <= self.tol * abs(cost):
                break
            previous = cost
            unused = self._batch_update(D64, ZtZ / n, ZtX / n)
            self.n_resampled_ += _resample(self, client, blocks, codes, sizes, D64, unused, rng)
            D[:] = D64
        del codes, stats  # released, not cancelled: cancelling shared keys hurts others
        self.n_steps_ = it
        self.n_iter_ = it

    def _online_dask(self, client, blocks, sizes, D, rng):
        per_step = self.chunks_per_step or len(client.scheduler_info()["workers"]) or 1
        n_blocks = len(blocks)
        step = 0
        for epoch in range(self.max_iter):
            order = rng.permutation(n_blocks) if self.shuffle else np.arange(n_blocks)
            for s in range(0, n_blocks, per_step):
                group = order[s:s + per_step]
                cost, n_new = self._dask_step(client, [blocks[i] for i in group],
                                              sizes[group], D, self._A, self._B, step, rng)
                self.objective_.append(cost)
                self.n_resampled_ += n_new
                step += 1
                self._step = step
                if self.verbose > 1:
                    print(f"[DictionaryLearner] step {step}: batch objective {cost:.6g}")
                if self.callback is not None:
                    self.callback(locals())
        self.n_steps_ = step
        self.n_iter_ = self.max_iter

    def _dask_step(self, client, blocks, sizes, D, A, B, step, rng):
        """One online step over ``blocks``: the in-memory ``_online_step`` on
        their concatenation, with the coding and the statistics on the
        workers. Updates ``D``, ``A``, ``B`` in place; returns the cost and
        the number of atoms resampled."""
        n = int(sizes.sum())
        D64 = D.astype(np.float64)
        gram = D64 @ D64.T
        params = self._encode_params()
        held = hold_dictionary(client, D64)
        codes = [client.submit(encode_block, b, held, params, None, pure=False)
                 for b in blocks]
        stats = [client.submit(online_stats, b, c, pure=False) for b, c in zip(blocks, codes)]
        total = tree_sum(client, stats).result()
        cost, _, unused = self._online_update(total, n, D64, gram, A, B, step)
        n_new = _resample(self, client, blocks, codes, sizes, D64, unused, rng)
        D[:] = D64
        return cost, n_new

    def _partial_fit_dask(self, X):
        first = not hasattr(self, "components_")
        X, client, blocks, sizes = self._setup(X, reset=first)
        # the block futures are released with this frame, never cancelled
        rows = Rows(client, blocks, sizes, X.shape[1], X.dtype)
        rng, D, A, B, step = self._resume(rows, first)
        cost, n_new = self._dask_step(client, blocks, sizes, D, A, B, step, rng)
        return self._commit_step(rng, D, A, B, step, cost, n_new, first)


def _resample(est, client, blocks, codes, sizes, D64, unused, rng):
    """The in-memory ``_resample`` over blocks held by the workers: each
    returns its ``m`` worst rows, the driver keeps the ``m`` worst overall
    (ties by global position, as the in-memory stable sort does) and replaces
    the atoms in the same order with the same random draws."""
    n = int(sizes.sum())
    idx = np.flatnonzero(unused)[:n]
    if idx.size == 0:
        return 0
    m = idx.size
    held = hold_dictionary(client, D64)
    parts = client.gather([client.submit(worst, b, c, held, m, pure=False)
                           for b, c in zip(blocks, codes)])
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    residual = np.concatenate([p[0] for p in parts])
    position = np.concatenate([offsets[i] + p[1] for i, p in enumerate(parts)])
    rows = np.concatenate([p[2] for p in parts])
    best = np.lexsort((position, -residual))[:m]
    est._replace_atoms(D64, idx, rows[best], rng)
    return m


def transform(estimator, X):
    """Transform a dask array of row blocks with a fitted estimator, block by
    block on the workers (or dask's local scheduler without a client).

    Parameters
    ----------
    estimator : fitted sparsecode estimator whose rows are independent
        ``DictionaryLearner``, ``ThresholdEncoder``, ``SparseAutoencoder``,
        ``KLSparseEncoder`` (attention mixes rows: see
        :class:`SparseAttentionTransformer` here).
    X : dask array of shape (n_samples, n_features)
        Dense or scipy.sparse chunks.

    Returns
    -------
    Y : dask array of shape (n_samples, n_features_out)
        Chunks as ``estimator.transform`` returns them (scipy.sparse with
        ``sparse_output=True``).
    """
    if isinstance(estimator, _attention.SparseAttentionTransformer):
        raise TypeError("Attention mixes rows: use sparsecode.dask.SparseAttentionTransformer, "
                        "which adds the pattern's reach around each block.")
    check_is_fitted(estimator)
    X = check_n_features(estimator, row_blocks(X))
    sample = estimator.transform(np.zeros((1, X.shape[1]), dtype=X.dtype))
    n_out = sample.shape[1]
    if sp.issparse(sample):
        meta = sp.csr_matrix((0, n_out), dtype=sample.dtype)
    else:
        meta = np.empty((0, n_out), dtype=sample.dtype)
    return X.map_blocks(_transform_block, estimator, dtype=sample.dtype,
                        chunks=(X.chunks[0], (n_out,)), meta=meta)


def _transform_block(X, estimator):
    with kernel_threads(1, 1):
        return estimator.transform(X)


class SparseAttentionTransformer(_attention.SparseAttentionTransformer):
    """:class:`sparsecode.SparseAttentionTransformer` over a long sequence held
    as a dask array of row chunks.

    Same parameters. ``transform`` of a dask array runs each chunk with the
    rows its window can reach on either side (``dask.array.map_overlap``,
    depth = the pattern's reach), so the result equals the in-memory
    transform of the whole sequence exactly. Patterns with a local reach
    only: ``"window"`` (reach ``window // 2 * dilation`` tokens) and
    ``"window2d"`` (reach that many grid rows and columns, in raster order);
    global tokens, random blocks, LSH buckets and dense attention reach the
    whole sequence and are refused. A dask array is one sequence (or, for
    ``"window2d"``, consecutive grids); ``fit`` on a dask array learns a
    ``"pca"`` projection with ``dask.array.linalg.svd_compressed``.
    """

    def fit(self, X, y=None, lengths=None):
        """Fit; a dask ``X`` is used for its shape (and a ``"pca"``
        projection), never gathered.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_tokens, n_features)
        y : Ignored
        lengths : array-like of int, default=None
            In-memory ``X`` only.

        Returns
        -------
        self : SparseAttentionTransformer
        """
        if not is_dask_collection(X):
            return super().fit(X, lengths=lengths)
        if lengths is not None:
            raise ValueError("A dask array is one sequence: lengths applies to in-memory X.")
        with restore_on_error(self):
            return self._fit_dask(X)

    def _fit_dask(self, X):
        X = row_blocks(X)
        # the projections need only the number of features (and one grid)
        rows = 1
        if self.pattern == "window2d" and self.grid_shape is not None:
            rows = int(np.prod(self.grid_shape))
        stand_in = np.zeros((rows, X.shape[1]), dtype=X.dtype)
        if self.projection != "pca":
            super().fit(stand_in, lengths=None)
            return self._learn_bandwidth(X)
        k = min(64, X.shape[1]) if self.n_components is None else self.n_components
        if k > min(X.shape):
            raise ValueError(f"n_components={k} must be at most min(n_samples, "
                             f"n_features) for projection='pca', got n_samples = "
                             f"{X.shape[0]} and n_features = {X.shape[1]}.")
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        _, _, Vt = da.linalg.svd_compressed(X, k, seed=seed, compute=True)
        W = np.ascontiguousarray(np.asarray(Vt).T, dtype=np.float64)
        params = dict(projection=(W, W, W), n_components=None)
        saved = {name: getattr(self, name) for name in params}
        self.set_params(**params)
        try:
            super().fit(stand_in)
        finally:
            self.set_params(**saved)
        self._fit_params = self._pattern_params()
        return self._learn_bandwidth(X)

    def _learn_bandwidth(self, X):
        """``bandwidth=None`` with ``similarity="neg_sq_dist"``: learned as
        in memory, from the sequence's first ``_HEAD_TOKENS`` tokens (whole
        grid rows for ``"window2d"``), the only rows ``fit`` computes."""
        if self.similarity != "neg_sq_dist" or self.bandwidth is not None:
            return self
        rng = check_random_state(self.random_state)
        if self.pattern == "window2d":
            height, width = self.grid_shape_
            grid = (max(1, min(height, _HEAD_TOKENS // width)), width)
        else:
            grid = None
        head = min(X.shape[0], _HEAD_TOKENS) if grid is None else grid[0] * grid[1]
        Xh = np.asarray(X[:head].compute())
        saved = self.grid_shape_
        try:
            if grid is not None:
                self.grid_shape_ = grid
            self.bandwidth_ = nearest_key_bandwidth(self, Xh, None, rng)
        finally:
            self.grid_shape_ = saved
        return self

    def _reach(self):
        half = self.window_ // 2 * self.dilation
        if self.pattern == "window":
            return half
        if self.pattern == "window2d":
            return half * self.grid_shape_[1] + half
        raise ValueError(f"pattern={self.pattern!r} reaches the whole sequence: on a dask "
                         "array only 'window' and 'window2d' run (blockwise with overlap).")

    def transform(self, X, lengths=None):
        """Attention output; a dask array gives a dask array, equal to the
        in-memory transform of the whole sequence.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_tokens, n_features)
        lengths : array-like of int, default=None
            In-memory ``X`` only.

        Returns
        -------
        X_new : {ndarray, dask array} of shape (n_tokens, n_features_out)
        """
        if not is_dask_collection(X):
            return super().transform(X, lengths=lengths)
        check_is_fitted(self)
        if lengths is not None:
            raise ValueError("A dask array is one sequence: lengths applies to in-memory X.")
        if self.output == "concat":
            raise ValueError("output='concat' is in-memory only; use 'attention' or "
                             "'residual' on a dask array.")
        X = check_n_features(self, row_blocks(X))
        reach = self._reach()
        if self.pattern == "window2d":
            size = self.grid_shape_[0] * self.grid_shape_[1]
            if X.shape[0] % size:
                raise ValueError(f"X has {X.shape[0]} rows, not a whole number of "
                                 f"grid_shape={self.grid_shape_} grids.")
            # a chunk must hold whole grids: the grid's rows start again at 0
            X = X.rechunk({0: _grid_chunks(X.chunks[0], size)})
            reach = 0
        elif reach >= X.shape[0] - 1 or len(X.chunks[0]) == 1:
            # the reach spans the sequence: one chunk sees it all
            X = X.rechunk({0: -1})
            reach = 0
        elif reach and min(X.chunks[0]) < reach:
            # every chunk at least as long as the reach (map_overlap's rule)
            X = X.rechunk({0: ensure_minimum_chunksize(reach, X.chunks[0])})
        n_out = self._n_features_out
        dtype = X.dtype
        fn = _Overlap(self, reach)
        if reach == 0:
            return X.map_blocks(fn, dtype=dtype, chunks=(X.chunks[0], (n_out,)),
                                meta=np.empty((0, n_out), dtype=dtype))
        return X.map_overlap(fn, depth={0: reach, 1: 0}, boundary="none", trim=False,
                             dtype=dtype, chunks=(X.chunks[0], (n_out,)),
                             meta=np.empty((0, n_out), dtype=dtype))


def _grid_chunks(chunks, size):
    """Row chunks of whole grids, near the given ones."""
    target = max(size, int(np.median(chunks)) // size * size)
    n = int(sum(chunks))
    out = [target] * (n // target)
    if n % target:
        out.append(n % target)
    return tuple(out)


class _Overlap:
    """The per-chunk work of the dask attention: transform the chunk with its
    overlap and keep the chunk's own rows."""

    def __init__(self, estimator, reach):
        self.estimator, self.reach = estimator, reach

    def __call__(self, X, block_info=None):
        est = _attention.SparseAttentionTransformer.transform
        with kernel_threads(1, 1):
            out = est(self.estimator, X)
        if self.reach == 0 or block_info is None:
            return out
        info = block_info[0]
        index, count = info["chunk-location"][0], info["num-chunks"][0]
        lo = self.reach if index > 0 else 0
        hi = out.shape[0] - (self.reach if index < count - 1 else 0)
        return out[lo:hi]
