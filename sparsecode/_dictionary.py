"""DictionaryLearner: online (Mairal et al. 2010) and batch dictionary learning."""

import copy
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_array, check_random_state, gen_batches
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions

from . import _gpu
from ._array_api import array_api_method
from ._backend import get_backend
from ._base import BaseSparseCoder
from ._dictionary_model import (
    _ksvd_sweep,
    _near_duplicates,
    _OnlineStopping,
    code_statistics,
    lasso_objective,
    worst_rows,
)
from ._encode import MAX_ITER, TOL, encode_checked, sparse_encode
from ._encode_rules import ALGORITHMS, check_arguments, pick_algorithm
from ._kernels._dict_update import bcd_update
from ._threads import blas_limit
from ._validation import ANY_INT, IntInterval, restore_on_error, validate_data

# An atom whose squared code mass A_jj is below this is "unused" and resampled
# (the threshold of SPAMS and scikit-learn).
_UNUSED = 1e-6

class DictionaryLearner(BaseSparseCoder, BaseEstimator):
    r"""Learn a dictionary whose atoms code the data sparsely.

    Solves

    .. math::

        \min_{D, Z} \frac{1}{n} \sum_i \frac{1}{2} \| x_i - z_i D \|_2^2
        + \alpha \| z_i \|_1 + \frac{l_2}{2} \| z_i \|_2^2
        \quad \text{s.t. } \| d_k \|_2 \le 1,

    the objective of scikit-learn's ``MiniBatchDictionaryLearning``, with
    the codes from :func:`sparsecode.sparse_encode`.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``n_features``.
    alpha : float, default=1.0
        l1 penalty of the codes while learning.
    method : {"online", "batch", "ksvd"}, default="online"
        ``"online"``: minibatches, sufficient statistics ``A = sum z z^T`` and
        ``B = sum z^T x`` with Mairal's forgetting schedule, one block
        coordinate descent sweep over the atoms per minibatch, codes
        warm-started from the previous epoch when the coding algorithm can use
        a start (an ``n_samples x n_components`` array); ``partial_fit``
        continues where it stopped. ``"batch"``: alternate coding all of ``X``
        (warm-started) and updating the atoms until the objective settles.
        ``"ksvd"``: K-SVD with L0 codes from batch OMP (``n_nonzero_coefs``
        atoms per sample) and the approximate rank-1 atom update of
        Rubinstein et al.; ``alpha``, ``l2`` and the positivity constraints do
        not apply to its learning.
    fit_algorithm : str, default="auto"
        ``sparse_encode`` algorithm while learning (an l1 one).
    transform_algorithm : str, default="auto"
        ``sparse_encode`` algorithm in ``transform`` and ``score``.
    transform_alpha : float, default=None
        ``alpha`` in ``transform``; ``None`` means ``alpha`` (for OMP: no
        residual target).
    transform_n_nonzero_coefs : int, default=None
        Atoms per sample for ``transform_algorithm="omp"``.
    n_nonzero_coefs : int, default=None
        Atoms per sample while learning with ``method="ksvd"``; ``None`` means
        ``max(n_features // 10, 1)``.
    positive_code, positive_dict : bool, default=False
        Non-negative codes / atoms.
    l2 : float, default=0.0
        Ridge term on the codes (elastic net).
    batch_size : int, default=256
        Samples per minibatch (online).
    max_iter : int, default=10
        Epochs (online) or alternations (batch).
    tol : float, default=1e-3
        Batch: stop when the objective's relative decrease is below ``tol``.
        Online: stop when the objective of the samples, smoothed over a
        window that scales with the data, decreased by less than ``tol``
        (relative) over an epoch; 0 disables it. Online learning is never
        stopped inside the first pass over ``X`` unless the objective has
        flattened beyond doubt (its decrease between quarter-epoch windows,
        scaled to an epoch, is below ``tol`` by two standard errors), so
        ``max_iter=1`` runs the epoch it asks for. From the end of the first
        pass the smoothed objective is the mean, over the last epoch's
        steps, of each minibatch's objective: every sample once, and each
        step changes it by one minibatch's objective against the same
        samples' one epoch earlier, so it carries no sampling noise; learning
        stops when it decreased by less than ``tol`` over the last epoch
        (checked from the end of the second pass). (scikit-learn's rule, the
        atoms' change per step, falls as the statistics accumulate whether
        or not the objective does: it stopped the 50,000 patches of problem
        C after 101 of 196 steps with a 1.3% worse held-out objective than
        the full epoch's, benchmarks/README.md "Defaults".)
    max_no_improvement : int, default=10
        Online, after the first pass: stop after this many steps in which
        the smoothed objective (above) reached no new minimum; ``None``
        disables it.
    dict_init : array-like of shape (n_components, n_features), default=None
        Starting atoms; by default random samples of ``X``, unit norm.
    shuffle : bool, default=True
        Shuffle the samples before making minibatches.
    split_sign : bool, default=False
        ``transform`` returns ``[max(z, 0), max(-z, 0)]``.
    sparse_output : bool, default=False
        ``transform`` returns CSR codes.
    callback : callable, default=None
        Called with ``locals()`` after every step.
    verbose : int, default=0
        1: a progress bar (tqdm) with the running objective; 2: also a line
        per epoch (online) or iteration (batch, K-SVD).
    n_jobs : int, default=None
        Threads for the coding kernels (see ``sparse_encode``).
    random_state : int, RandomState instance or None, default=None
    device : {"cpu", "gpu"}, default=None
        Where ``fit``, ``partial_fit`` and ``transform`` compute. None: where
        ``X`` lives (a CuPy array on its GPU: the codes and their statistics
        there, the dictionary coming back to the host; the codes of
        ``transform`` staying there). "gpu": numpy / scipy.sparse input is
        copied to the current GPU, learned from or coded there, and the
        result copied back; needs the ``gpu`` extra. "cpu": CuPy input is
        refused (no silent copies).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms, unit norm (or zero).
    n_iter_ : int
        Epochs (online) or alternations (batch) run.
    n_steps_ : int
        Minibatch steps (online) or alternations (batch).
    objective_ : list of float
        Mean objective of each minibatch before its update (online) or of
        ``X`` after each coding (batch).
    n_resampled_ : int
        Atoms replaced by badly reconstructed samples because no code used
        them.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    References
    ----------
    .. [1] J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online learning for
       matrix factorization and sparse coding", JMLR 11, 2010.
    .. [2] M. Aharon, M. Elad, A. Bruckstein, "K-SVD: an algorithm for
       designing overcomplete dictionaries for sparse representation", IEEE
       Trans. Signal Processing 54(11), 2006.
    .. [3] R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of
       the K-SVD algorithm using batch orthogonal matching pursuit", Technion
       CS-2008-08, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import DictionaryLearner
    >>> X = np.random.default_rng(0).standard_normal((200, 16))
    >>> dl = DictionaryLearner(n_components=24, alpha=0.5, random_state=0).fit(X)
    >>> dl.components_.shape
    (24, 16)
    """

    _parameter_constraints = {
        "n_components": [IntInterval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "method": [StrOptions({"online", "batch", "ksvd"})],
        "fit_algorithm": [StrOptions({"auto", "lars", "cd", "fista", "ista"})],
        "transform_algorithm": [StrOptions(set(ALGORITHMS))],
        "transform_alpha": [Interval(Real, 0, None, closed="left"), None],
        "transform_n_nonzero_coefs": [IntInterval(Integral, 1, None, closed="left"), None],
        "n_nonzero_coefs": [IntInterval(Integral, 1, None, closed="left"), None],
        "positive_code": ["boolean"],
        "positive_dict": ["boolean"],
        "l2": [Interval(Real, 0, None, closed="left")],
        "batch_size": [IntInterval(Integral, 1, None, closed="left")],
        "max_iter": [IntInterval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [IntInterval(Integral, 0, None, closed="left"), None],
        "dict_init": [np.ndarray, None],
        "shuffle": ["boolean"],
        "split_sign": ["boolean"],
        "sparse_output": ["boolean"],
        "callback": [callable, None],
        "verbose": ["verbose"],
        "n_jobs": [ANY_INT, None],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "gpu"}), None],
    }

    def __init__(self, n_components=None, *, alpha=1.0, method="online", fit_algorithm="auto",
                 transform_algorithm="auto", transform_alpha=None,
                 transform_n_nonzero_coefs=None, n_nonzero_coefs=None, positive_code=False,
                 positive_dict=False,
                 l2=0.0, batch_size=256, max_iter=10, tol=1e-3, max_no_improvement=10,
                 dict_init=None, shuffle=True, split_sign=False, sparse_output=False,
                 callback=None, verbose=0, n_jobs=None, random_state=None, device=None):
        self.n_components = n_components
        self.alpha = alpha
        self.method = method
        self.fit_algorithm = fit_algorithm
        self.transform_algorithm = transform_algorithm
        self.transform_alpha = transform_alpha
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.n_nonzero_coefs = n_nonzero_coefs
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.l2 = l2
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.dict_init = dict_init
        self.shuffle = shuffle
        self.split_sign = split_sign
        self.sparse_output = sparse_output
        self.callback = callback
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ set-up
    def _n_atoms(self, n_features):
        return n_features if self.n_components is None else self.n_components

    def _init_dictionary(self, X, rng):
        k = self._n_atoms(X.shape[1])
        if self.dict_init is not None:
            D = check_array(self.dict_init, dtype=X.dtype, input_name="dict_init").copy()
            if D.shape != (k, X.shape[1]):
                raise ValueError(
                    f"dict_init has shape {D.shape}, expected (n_components, n_features) = "
                    f"{(k, X.shape[1])}."
                )
        else:
            rows = rng.choice(X.shape[0], size=k, replace=X.shape[0] < k)
            D = _gpu.host_rows(X, rows)
            D = np.asarray(D.todense() if sp.issparse(D) else D, dtype=X.dtype).copy()
            # repeated or empty rows get a random direction: atoms must differ
            seen = set()
            for j, r in enumerate(rows):
                if r in seen or not np.any(D[j]):
                    D[j] = rng.standard_normal(X.shape[1])
                seen.add(r)
            if self.positive_dict:
                D = np.abs(D)
        norms = np.linalg.norm(D, axis=1, keepdims=True)
        return np.divide(D, np.maximum(norms, 1e-300), out=np.zeros_like(D), where=norms > 0)

    def _encode_fit(self, X, D, init=None, gram=None):
        settings = dict(alpha=self.alpha, l2=self.l2, positive=self.positive_code, init=init,
                        n_jobs=self.n_jobs, gram=gram)
        if not get_backend(X).name == get_backend(D).name == "numpy":
            return sparse_encode(X, D, algorithm=self.fit_algorithm, **settings)
        # host arrays that fit() checked (validate_data: numpy or CSR):
        # sparse_encode's checks of them skipped
        algorithm = check_arguments(self.fit_algorithm, l2=self.l2, positive=self.positive_code,
                                    n_nonzero_coefs=None)
        return encode_checked(X, D, algorithm=algorithm, n_nonzero_coefs=None,
                              max_iter=MAX_ITER, tol=TOL, sparse_output=False, **settings)[0]

    def _resample(self, D, unused, X, codes, rng):
        """Replace unused atoms by the worst reconstructed samples of ``X``."""
        idx = np.flatnonzero(unused)
        if idx.size == 0:
            return 0
        # (on the GPU: the minibatch and its codes come to the host, rarely)
        X, codes = _gpu.to_host(X), _gpu.to_host(codes)
        # a minibatch smaller than the number of unused atoms replaces what it can
        idx = idx[: X.shape[0]]
        _, _, rows = worst_rows(X, codes, D, idx.size)
        self._replace_atoms(D, idx, rows, rng)
        return idx.size

    def _replace_atoms(self, D, idx, rows, rng):
        """Atoms ``idx`` become the rows ``rows`` (float64, dense), slightly
        perturbed so that two copies of a sample do not make equal atoms."""
        for j, row in zip(idx, rows):
            row = row + 0.01 * (row.std() or 1.0) * rng.standard_normal(row.size)
            if self.positive_dict:
                row = np.abs(row)
            D[j] = row / max(np.linalg.norm(row), 1e-300)

    # -------------------------------------------------------------- online
    def _online_step(self, X, D, A, B, step, rng, init=None):
        """Code the minibatch ``X`` on ``D``, fold its statistics into ``A``
        and ``B`` (step ``step`` of the forgetting schedule), update ``D``; all
        in place. ``init`` warm-starts the codes (cd / fista / ista). Returns
        the minibatch's mean objective before the update, the largest atom
        change, the number of atoms resampled and the codes."""
        n = X.shape[0]
        D64 = D.astype(np.float64)
        G = D64 @ D64.T
        codes = self._encode_fit(X, D, init=init, gram=G)
        cost, change, unused = self._online_update(code_statistics(X, codes), n, D64, G, A, B,
                                                   step)
        resampled = self._resample(D64, unused, X, codes, rng)
        D[:] = D64
        return cost, change, resampled, codes

    def _online_update(self, stats, n, D64, G, A, B, step):
        """Fold a minibatch's statistics (``code_statistics``, summed over
        its blocks) into ``A`` and ``B`` (step ``step`` of the forgetting
        schedule) and update the atoms ``D64``; in place. Returns the
        minibatch's mean objective before the update, the largest atom change
        and the mask of unused atoms."""
        ZtZ, ZtX, sq, l1 = stats
        cost = self._stats_objective(stats, n, D64, G)
        # Mairal et al.'s forgetting schedule, as in scikit-learn
        if step < self.batch_size - 1:
            theta = (step + 1) * self.batch_size
        else:
            theta = self.batch_size**2 + step + 1 - self.batch_size
        beta = (theta + 1 - self.batch_size) / (theta + 1)
        A *= beta
        A += ZtZ / n
        B *= beta
        B += ZtX / n
        unused = np.zeros(D64.shape[0], dtype=np.bool_)
        change = bcd_update(D64, A, B, self.positive_dict, _UNUSED, unused)
        return cost, change, unused

    def _stats_objective(self, stats, n, D64, G):
        """The mean objective of ``n`` rows from their statistics (Gram
        form): sum 0.5 ||x||^2 - z.(x D^T) + 0.5 z G z + alpha |z| + 0.5 l2
        |z|^2, over ``n``."""
        ZtZ, ZtX, sq, l1 = stats
        return (0.5 * sq - float(np.einsum("ij,ij->", ZtX, D64))
                + 0.5 * float(np.einsum("ij,ij->", ZtZ, G))
                + self.alpha * l1 + 0.5 * self.l2 * float(np.trace(ZtZ))) / n

    def _fit_online(self, X, D, rng):
        n = X.shape[0]
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = list(gen_batches(n, self.batch_size))
        steps_per_epoch = len(batches)
        stopping = _OnlineStopping([b.stop - b.start for b in batches], self.tol,
                                   self.max_no_improvement)
        started = time.perf_counter()
        step = 0
        bar = _progress(self.verbose, self.max_iter * steps_per_epoch, "online steps")
        # Each sample's codes from the previous epoch warm-start the solvers
        # that can use them (n_samples x n_components floats); homotopy cannot.
        warm = None
        gpu = _gpu.is_gpu_array(X)
        if self.max_iter > 1:
            D64 = D.astype(np.float64)
            # (on the GPU "auto" is FISTA)
            if gpu or pick_algorithm(self.fit_algorithm, None, D64 @ D64.T) in (
                    "cd", "fista", "ista"):
                warm = (_gpu.cupy() if gpu else np).zeros((n, D.shape[0]))
        for epoch in range(self.max_iter):
            stop = False
            for batch in batches:
                rows = _gpu.cupy().asarray(order[batch]) if gpu else order[batch]
                Xb = X[rows]
                init = warm[rows] if warm is not None and epoch > 0 else None
                cost, change, resampled, codes = self._online_step(Xb, D, self._A, self._B,
                                                                   step, rng, init=init)
                if warm is not None:
                    warm[rows] = codes
                self.objective_.append(cost)
                self.n_resampled_ += resampled
                step += 1
                self._step = step
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(objective=f"{cost:.5g}", epoch=epoch + 1, refresh=False)
                if self.verbose > 1:
                    print(f"[DictionaryLearner] step {step}: batch objective {cost:.6g}")
                if self.callback is not None:
                    self.callback(locals())
                stop = stopping.update(cost)
                if stop:
                    break
            if self.verbose > 1:
                print(f"[DictionaryLearner] epoch {epoch + 1}: objective "
                      f"{np.mean(self.objective_[-steps_per_epoch:]):.6g}, "
                      f"{time.perf_counter() - started:.2f} s")
            if stop:
                break
        if bar is not None:
            bar.close()
        if stopping.reason and self.verbose:
            print(f"[DictionaryLearner] stopped after step {step} of "
                  f"{self.max_iter * steps_per_epoch}: {stopping.reason}")
        self.n_steps_ = step
        self.n_iter_ = int(np.ceil(step / steps_per_epoch)) if steps_per_epoch else 0

    # -------------------------------------------------------------- batch
    def _alternate(self, X, D, rng, code, update, unit):
        """The loop shared by the batch methods: code all of ``X`` with
        ``code(D, previous_codes)``, record the objective, stop when its
        relative decrease is below ``tol``, else ``update(D64, codes)`` the
        atoms (returning a mask of atoms to resample) and resample."""
        codes = None
        previous = np.inf
        it = 0
        bar = _progress(self.verbose, self.max_iter, unit)
        for it in range(1, self.max_iter + 1):
            codes, cost = code(D, codes)
            self.objective_.append(cost)
            _report(self.verbose, bar, f"{unit[:-1]} {it}", cost)
            if self.callback is not None:
                self.callback(locals())
            if previous - cost <= self.tol * abs(cost):
                break
            previous = cost
            D64 = D.astype(np.float64)
            stale = update(D64, codes)
            self.n_resampled_ += self._resample(D64, stale, X, codes, rng)
            D[:] = D64
        if bar is not None:
            bar.close()
        self.n_steps_ = it
        self.n_iter_ = it

    def _fit_batch(self, X, D, rng):
        n = X.shape[0]

        def code(D, previous):
            # warm start (used by cd / fista / ista, ignored by lars)
            codes = self._encode_fit(X, D, init=previous)
            if _gpu.is_gpu_array(codes):  # the objective from the GPU's products
                D64 = D.astype(np.float64)
                return codes, self._stats_objective(code_statistics(X, codes), n, D64,
                                                    D64 @ D64.T)
            return codes, float(np.mean(lasso_objective(X, codes, D, self.alpha, self.l2)))

        def update(D64, codes):
            ZtZ, ZtX, _, _ = code_statistics(X, codes)
            return self._batch_update(D64, ZtZ / n, ZtX / n)

        self._alternate(X, D, rng, code, update, "iterations")

    def _batch_update(self, D64, A, B):
        """Block coordinate descent on the atoms to (near) convergence, in
        place; returns the mask of unused atoms."""
        unused = np.zeros(D64.shape[0], dtype=np.bool_)
        for _ in range(10):
            if bcd_update(D64, A, B, self.positive_dict, _UNUSED, unused) < 1e-6:
                break
        return unused

    # ---------------------------------------------------------------- K-SVD
    def _fit_ksvd(self, X, D, rng):
        if self.positive_code or self.positive_dict or self.l2 > 0:
            raise ValueError("method='ksvd' learns with OMP codes: positive_code, "
                             "positive_dict and l2 do not apply to it.")
        n, p = X.shape
        n_nonzero = min(self.n_nonzero_coefs or max(p // 10, 1), D.shape[0])

        def code(D, previous):
            codes = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero,
                                  sparse_output=True, n_jobs=self.n_jobs)
            codes = sp.csr_matrix(codes, dtype=np.float64)
            return codes, float(np.mean(lasso_objective(X, codes, D, 0.0)))

        def update(D64, codes):
            usage = _ksvd_sweep(X, D64, codes)
            # K-SVD's dictionary cleaning: atoms used by fewer than 4 samples or
            # within 0.99 of another atom are replaced (Aharon et al.'s code)
            return (usage < min(4, n)) | _near_duplicates(D64, 0.99)

        self._alternate(X, D, rng, code, update, "K-SVD iterations")

    # ---------------------------------------------------------------- API
    @_fit_context(prefer_skip_nested_validation=True)
    @array_api_method(fits=True, gpu=True)
    def fit(self, X, y=None):
        """Learn the dictionary from ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; a sparse matrix is never densified. A CuPy array
            or ``cupyx`` CSR matrix is learned from on its GPU (the codes and
            their statistics there, the atom updates on the host; methods
            "online" and "batch" with FISTA or ISTA); the dictionary comes
            back to the host.
        y : Ignored

        Returns
        -------
        self : DictionaryLearner
        """
        with restore_on_error(self):
            return self._fit(X)

    def _fit(self, X):
        X = self._validate(X, reset=True)
        D, rng = self._start(X)
        # the products here are small: one BLAS thread, none left spinning
        # beside the coding kernels
        with blas_limit(1):
            if self.method == "online":
                self._fit_online(X, D, rng)
            elif self.method == "batch":
                self._fit_batch(X, D, rng)
            else:
                self._fit_ksvd(X, D, rng)
        self.components_ = D
        return self

    @available_if(lambda self: self.method == "online")
    @_fit_context(prefer_skip_nested_validation=True)
    @array_api_method(fits=True, gpu=True)
    def partial_fit(self, X, y=None):
        """One online step on the minibatch ``X``; only with ``method="online"``.

        The first call initialises the dictionary from ``X`` (or
        ``dict_init``); later calls continue from the stored statistics, which
        pickle with the estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : DictionaryLearner
        """
        first = not hasattr(self, "components_")
        X = self._validate(X, reset=first)
        rng, D, A, B, step = self._resume(X, first)
        with blas_limit(1):
            cost, _, n_new, _ = self._online_step(X, D, A, B, step, rng)
        return self._commit_step(rng, D, A, B, step, cost, n_new, first)

    def _gpu_supports(self, method):
        if method in ("fit", "partial_fit"):
            return self.method != "ksvd" and self.fit_algorithm in ("auto", "fista", "ista")
        return super()._gpu_supports(method)

    def _validate(self, X, reset):
        """``X`` checked for a fit: numpy / scipy.sparse by scikit-learn's
        rules, a CuPy array or ``cupyx`` CSR by the GPU backend's (learning
        with the codes and their statistics on the GPU: the online and batch
        methods with FISTA or ISTA)."""
        # (device="cpu" with CuPy input is refused before the settings are judged)
        if get_backend(X, self.device, caller=self).name != "cupy":
            return validate_data(self, X, accept_sparse="csr",
                                 dtype=[np.float64, np.float32], reset=reset)
        if not self._gpu_supports("fit"):
            raise ValueError(
                f"DictionaryLearner(method={self.method!r}, fit_algorithm="
                f"{self.fit_algorithm!r}) learns on the CPU only so far: on CuPy input use "
                "method 'online' or 'batch' with fit_algorithm 'auto' (FISTA there), "
                "'fista' or 'ista', or pass numpy data (cupy.asnumpy).")
        return _gpu.validate(self, X, reset=reset)[0]

    def _start(self, rows):
        """A fit's initial dictionary (drawn from ``rows``: ``X`` or anything
        with its ``shape``, ``dtype`` and row indexing), generator and empty
        online statistics."""
        rng = check_random_state(self.random_state)
        D = self._init_dictionary(rows, rng)
        k = D.shape[0]
        self._A = np.zeros((k, k))
        self._B = np.zeros((k, rows.shape[1]))
        self._step = 0
        self._rng = rng
        self.objective_ = []
        self.n_resampled_ = 0
        return D, rng

    def _resume(self, rows, first):
        """The online state a ``partial_fit`` step continues from, as copies:
        the step works on them and ``_commit_step`` stores them at the end,
        so a failed call leaves a fitted estimator as it was, and the state
        (with the random generator) pickles and resumes bit for bit. On the
        first call the dictionary is drawn from ``rows`` (``X``, or anything
        with its ``shape``, ``dtype`` and row indexing)."""
        if first:
            rng = check_random_state(self.random_state)
            D = self._init_dictionary(rows, rng)
            A = np.zeros((D.shape[0], D.shape[0]))
            B = np.zeros((D.shape[0], rows.shape[1]))
            return rng, D, A, B, 0
        D = self.components_.astype(rows.dtype, copy=True)
        return copy.deepcopy(self._rng), D, self._A.copy(), self._B.copy(), self._step

    def _commit_step(self, rng, D, A, B, step, cost, n_resampled, first):
        objective = [] if first else list(self.objective_)
        previous = 0 if first else self.n_resampled_
        self._rng, self._A, self._B, self._step = rng, A, B, step + 1
        self.objective_ = objective + [cost]
        self.n_resampled_ = previous + n_resampled
        self.components_ = D
        self.n_steps_ = self._step
        self.n_iter_ = self._step
        return self


def _progress(verbose, total, unit):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"DictionaryLearner ({unit})", unit="")


def _report(verbose, bar, what, cost):
    if bar is not None:
        bar.update(1)
        bar.set_postfix(objective=f"{cost:.5g}", refresh=False)
    if verbose > 1:
        print(f"[DictionaryLearner] {what}: objective {cost:.6g}")
