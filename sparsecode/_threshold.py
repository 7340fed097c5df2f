"""ThresholdEncoder: Coates & Ng feed-forward encoders as a pipeline step."""

import contextlib
import functools
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _gpu
from ._array_api import array_api_method
from ._backend import get_backend, run_on
from ._chunks import encode_rows
from ._kernels._threshold import (
    hard_encode,
    soft_encode,
    topk_encode,
    triangle_encode,
)
from ._kmeans import DeviceRows, Rows, kmeans, zca
from ._validation import IntInterval, restore_on_error, validate_data

# whiten="auto" whitens at most this many features: the covariance's
# eigendecomposition takes ~3 s at 2,048 on 2 cores and grows as p^3.
_AUTO_WHITEN_FEATURES = 2048

# Responses sampled from the training data to choose alpha for a target
# sparsity: the sample quantile of 2^20 values is within 0.1% of the true one.
_QUANTILE_ENTRIES = 1 << 20


class ThresholdEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Feed-forward sparse features: one matrix product and a threshold.

    With a dictionary ``D`` (atoms as rows) and the responses
    :math:`c = D x` of a sample (of its whitened version when whitened, see
    ``whiten``), the features are

    ========== ======================================= ==============================
    ``mode``   ``split_sign=False``                    ``split_sign=True``
    ========== ======================================= ==============================
    soft       :math:`\max(0, c - \alpha)`             :math:`[\max(0, c - \alpha),
                                                       \max(0, -c - \alpha)]`
    hard       :math:`c \, [|c| > \alpha]`             its positive and negative parts
    topk       the ``k`` entries of largest            its positive and negative parts
               :math:`|c|`, the rest zero
    triangle   :math:`\max(0, \bar z - z_j)`,          (same: the output is
               :math:`z_j = \|x - d_j\|_2`,            non-negative)
               :math:`\bar z` the mean of the
               :math:`z_j`
    ========== ======================================= ==============================

    Coates & Ng (2011) found that such an encoder, on a decent dictionary,
    rivals full sparse coding as features for a linear classifier, at the
    cost of a single GEMM.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms learned with ``dictionary="kmeans"`` or sampled with
        ``"patches"``; ``None`` means ``n_features``. With an estimator as
        ``dictionary`` it is set as the estimator's ``n_components`` before
        fitting it; with an array it must match the array's rows (or be
        ``None``).
    dictionary : {"kmeans", "patches"}, array-like or estimator, default="kmeans"
        ``"kmeans"``: k-means on the (whitened) training rows (Numba
        kernels, or the GPU for CuPy input):
        spherical (gain-shape) k-means with unit centroids for the soft, hard
        and top-k modes, as Coates & Ng (2012) use it, and Euclidean k-means
        for ``mode="triangle"``, as Coates, Lee & Ng (2011). ``"patches"``:
        ``n_components`` distinct random training rows, unit norm. An array
        of shape (n_components, n_features): the atoms, used as given. An
        estimator with ``components_`` after ``fit`` (a
        :class:`DictionaryLearner`): if already fitted its ``components_``
        are used as they are, else a clone is fitted on the (whitened)
        training data inside ``fit``.
    mode : {"soft", "hard", "topk", "triangle"}, default="soft"
        The non-linearity; see the table above.
    alpha : float, default=None
        Threshold of the soft and hard modes; ``None`` means 0, unless
        ``target_sparsity`` chooses it. Ignored by "topk" and "triangle".
    target_sparsity : float in [0, 1), default=None
        Choose ``alpha`` at ``fit`` so that this fraction of the output
        entries of ``transform`` is zero on the training data (measured on a
        sample of at most 2^20 responses). With ``split_sign=True`` at least
        half the entries are zero (one of each pair), so it must then be at
        least 0.5. With ``mode="soft", split_sign=False`` a target below the
        share of negative responses gives a negative ``alpha_``. Cannot be
        given with ``alpha``; ignored by "topk" and "triangle".
    split_sign : bool, default=True
        Return the positive and negative parts side by side
        (``2 * n_components`` features). Ignored by "triangle".
    whiten : bool or "auto", default="auto"
        Learn ZCA whitening at ``fit`` (centre, then
        :math:`W = U (\Lambda + \epsilon)^{-1/2} U^T`) and encode whitened
        rows. It is folded into the dictionary (``c = x W D^T - \mu W D^T``),
        so a sparse ``X`` stays sparse in ``transform`` and in k-means (which
        whiten one chunk of rows at a time where they need whitened rows, for
        the triangle distances). With float32 input the shift is subtracted
        after the float32 product: centre such data first when its mean is
        large against its spread. The covariance is summed over row chunks.
        Beyond those bounded chunks it must densify in two places, both
        refused with a ``ValueError`` above scikit-learn's ``working_memory``
        (see :func:`sklearn.config_context`) rather than exhausting memory:
        the ``n_features x n_features`` covariance, and the whitened copy of
        a sparse ``X`` that an estimator ``dictionary`` needs for its
        ``fit`` (of a dense ``X``, that copy is the size of ``X``).
        ``"auto"`` whitens where Coates & Ng's recipe applies: dense ``X``
        of at most 2,048 features (the eigendecomposition grows as the cube:
        3 s at 2,048 on 2 cores) whose covariance fits in ``working_memory``,
        with a dictionary learned here (``"kmeans"``, ``"patches"`` or an unfitted estimator).
        It does not whiten sparse ``X`` (counts, one-hot columns: centring
        has no meaning there and the covariance is dense), a single sample,
        nor an array or fitted estimator as ``dictionary`` (atoms in the
        space they were learned in). Whitening is what makes these features
        work on pixels: on digits (/ 16) in a Pipeline with
        LogisticRegression (stratified 5-fold, 400 atoms) accuracy rises
        from 0.923 without it to 0.953, where raw pixels give 0.928
        (benchmarks/README.md "Defaults"). ``whitening_`` says what was
        chosen.
    whiten_eps : float, default=0.1
        Regulariser :math:`\epsilon` added to the covariance eigenvalues,
        relative to their mean (Coates & Ng add 0.1 for normalised patches of
        unit variance).
    k : int, default=None
        Entries kept per sample by ``mode="topk"`` (all of them when ``k`` is
        at least the number of atoms); ``None`` means
        ``max(1, n_components // 10)``.
    sparse_output : bool, default=False
        ``transform`` returns a CSR matrix, built chunk by chunk (the dense
        features of all of ``X`` are never held).
    kmeans_max_iter : int, default=100
        Iterations of ``dictionary="kmeans"``.
    kmeans_n_init : int, default=1
        k-means runs from different k-means++ starts; the one of lowest
        objective is kept.
    kmeans_tol : float, default=1e-4
        k-means stops when the relative decrease of its objective is below
        ``kmeans_tol`` (or no label changes, for Euclidean k-means).
    verbose : int, default=0
        Print the k-means objective at each iteration.
    n_jobs : int, default=None
        Threads (row chunks, each one GEMM and one Numba pass); ``None``
        means Numba's thread count, -1 all threads.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means++ and the patches.
    device : {"cpu", "gpu"}, default=None
        Where ``fit`` and ``transform`` compute. None: where ``X`` lives (a
        CuPy array on its GPU: the features come back there, the fitted
        attributes are numpy arrays). "gpu": numpy / scipy.sparse input is
        copied to the current GPU, fitted or encoded there and the features
        copied back; needs the ``gpu`` extra. "cpu": CuPy input is refused
        (no silent copies).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms (centroids for "triangle"), in the whitened space when
        whitened (``whitening_`` is not None).
    alpha_ : float or None
        The threshold used by "soft" and "hard" (``None`` for the others).
    mean_ : ndarray of shape (n_features,) or None
        Mean removed before whitening.
    whitening_ : ndarray of shape (n_features, n_features) or None
        The ZCA matrix :math:`W`; ``None`` when not whitened.
    dictionary_estimator_ : estimator or None
        The clone fitted inside ``fit`` when ``dictionary`` is an unfitted
        estimator; its ``random_state``, when ``None``, is drawn from
        ``random_state``.
    objective_ : list of float
        Mean k-means loss per sample after each assignment (empty for other
        dictionaries): ``||x||^2 - max_j (d_j . x)^2`` (spherical) or the
        squared distance to the nearest centroid (Euclidean).
    n_iter_ : int
        k-means iterations run (0 for other dictionaries).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    DictionaryLearner : sparse codes by optimisation rather than a threshold.

    References
    ----------
    .. [1] A. Coates, A. Y. Ng, "The importance of encoding versus training
       with sparse coding and vector quantization", ICML 2011.
    .. [2] A. Coates, H. Lee, A. Y. Ng, "An analysis of single-layer
       networks in unsupervised feature learning", AISTATS 2011.
    .. [3] A. Coates, A. Y. Ng, "Learning feature representations with
       K-means", Neural Networks: Tricks of the Trade, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import ThresholdEncoder
    >>> X = np.random.default_rng(0).standard_normal((500, 16))
    >>> enc = ThresholdEncoder(32, target_sparsity=0.9, random_state=0).fit(X)
    >>> Z = enc.transform(X)
    >>> Z.shape
    (500, 64)
    >>> round(float((Z == 0).mean()), 2)
    0.9
    """

    _parameter_constraints = {
        "n_components": [IntInterval(Integral, 1, None, closed="left"), None],
        "dictionary": [StrOptions({"kmeans", "patches"}), HasMethods(["fit"]), "array-like"],
        "mode": [StrOptions({"soft", "hard", "topk", "triangle"})],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
        "target_sparsity": [Interval(Real, 0, 1, closed="left"), None],
        "split_sign": ["boolean"],
        "whiten": ["boolean", StrOptions({"auto"})],
        "whiten_eps": [Interval(Real, 0, None, closed="neither")],
        "k": [IntInterval(Integral, 1, None, closed="left"), None],
        "sparse_output": ["boolean"],
        "kmeans_max_iter": [IntInterval(Integral, 1, None, closed="left")],
        "kmeans_n_init": [IntInterval(Integral, 1, None, closed="left")],
        "kmeans_tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "n_jobs": [IntInterval(Integral, None, -1, closed="right"),
                   IntInterval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "gpu"}), None],
    }

    def __init__(self, n_components=None, *, dictionary="kmeans", mode="soft", alpha=None,
                 target_sparsity=None, split_sign=True, whiten="auto", whiten_eps=0.1, k=None,
                 sparse_output=False, kmeans_max_iter=100, kmeans_n_init=1,
                 kmeans_tol=1e-4, verbose=0, n_jobs=None,
                 random_state=None, device=None):
        self.n_components = n_components
        self.dictionary = dictionary
        self.mode = mode
        self.alpha = alpha
        self.target_sparsity = target_sparsity
        self.split_sign = split_sign
        self.whiten = whiten
        self.whiten_eps = whiten_eps
        self.k = k
        self.sparse_output = sparse_output
        self.kmeans_max_iter = kmeans_max_iter
        self.kmeans_n_init = kmeans_n_init
        self.kmeans_tol = kmeans_tol
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        thresholded = self.mode in ("soft", "hard")
        if thresholded and self.alpha is not None and self.target_sparsity is not None:
            raise ValueError("Give alpha or target_sparsity, not both: target_sparsity "
                             "chooses alpha.")
        if (thresholded and self.split_sign and self.target_sparsity is not None
                and self.target_sparsity < 0.5):
            raise ValueError(
                f"target_sparsity={self.target_sparsity} is unreachable with "
                "split_sign=True, which zeroes at least one entry of each (positive, "
                "negative) pair: use a target of at least 0.5 or split_sign=False."
            )

    def _whitens(self, X, gpu):
        """``whiten``, with "auto" resolved for ``X`` (see the docstring)."""
        if self.whiten != "auto":
            return self.whiten
        source = self.dictionary
        if not isinstance(source, str):
            if not (hasattr(source, "fit") and not hasattr(source, "shape")):
                return False  # an array of atoms
            try:
                check_is_fitted(source, "components_")
                return False
            except NotFittedError:
                pass
        p = X.shape[1]
        sparse = _gpu.cupyx_sparse().issparse(X) if gpu else sp.issparse(X)
        return (not sparse and X.shape[0] > 1 and p <= _AUTO_WHITEN_FEATURES
                and p * p * 8 * 3 <= get_config()["working_memory"] * 2**20)

    def _dictionary(self, X, rows, rng):
        """The atoms (float64), k-means' objective and iterations, and the
        estimator fitted here (if any)."""
        n, p = X.shape
        source = self.dictionary
        if isinstance(source, str):
            k = p if self.n_components is None else self.n_components
            if k > n:
                raise ValueError(
                    f"n_components={k} atoms from dictionary={source!r} need at least as "
                    f"many samples, got n_samples={n}."
                )
            if source == "patches":
                norms = rows.sq_norms(self.n_jobs)
                usable = np.flatnonzero(norms > 0)
                if usable.size < k:
                    raise ValueError(
                        f"dictionary='patches' needs n_components={k} non-zero rows, X has "
                        f"{usable.size}."
                    )
                picked = np.sort(rng.choice(usable, size=k, replace=False))
                D = rows.dense(picked)
                return D / np.sqrt(norms[picked])[:, None], [], 0, None
            D, objective, n_iter = kmeans(
                rows, k, spherical=self.mode != "triangle", max_iter=self.kmeans_max_iter,
                tol=self.kmeans_tol, rng=rng, n_init=self.kmeans_n_init, n_jobs=self.n_jobs,
                verbose=self.verbose)
            return D, objective, n_iter, None
        if hasattr(source, "fit") and not hasattr(source, "shape"):
            return self._fit_estimator(source, X, rows, rng)
        D = check_array(source, dtype=np.float64, input_name="dictionary")
        if D.shape[1] != p:
            raise ValueError(f"dictionary has {D.shape[1]} features, X has {p}.")
        if self.n_components is not None and self.n_components != D.shape[0]:
            raise ValueError(f"n_components={self.n_components} but the dictionary has "
                             f"{D.shape[0]} atoms.")
        return D.copy(), [], 0, None

    def _fit_estimator(self, source, X, rows, rng):
        try:
            check_is_fitted(source, "components_")
            fitted, inside = source, None
        except NotFittedError:
            fitted = clone(source)
            params = fitted.get_params()
            if self.n_components is not None and "n_components" in params:
                fitted.set_params(n_components=self.n_components)
            if params.get("random_state", 0) is None:
                fitted.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
            if isinstance(rows, DeviceRows) and not _fits_on_gpu(fitted):
                raise ValueError(
                    f"dictionary={type(source).__name__}(...) cannot learn on the GPU with "
                    "these settings: fit it on numpy data first (a fitted estimator's "
                    "components_ are used as they are), or give ThresholdEncoder numpy "
                    "input.")
            if rows.W is not None:
                if rows.sparse:
                    _check_memory(X.shape[0] * X.shape[1] * 8,
                                  "the whitened copy of a sparse X that the dictionary "
                                  "estimator is fitted on")
                Xw = rows.whitened()
            else:
                Xw = X
            fitted.fit(Xw)
            inside = fitted
        D = getattr(fitted, "components_", None)
        if D is None:
            raise TypeError(f"dictionary={type(source).__name__} has no components_ after fit.")
        D = check_array(_gpu.to_host(D), dtype=np.float64, input_name="dictionary.components_")
        if D.shape[1] != X.shape[1]:
            raise ValueError(f"dictionary.components_ has {D.shape[1]} features, X has "
                             f"{X.shape[1]}.")
        if self.n_components is not None and self.n_components != D.shape[0]:
            raise ValueError(f"n_components={self.n_components} but the fitted dictionary "
                             f"estimator has {D.shape[0]} atoms.")
        return D.copy(), [], 0, inside

    def _choose_alpha(self, rows, D, rng):
        if self.mode not in ("soft", "hard"):
            return None
        if self.target_sparsity is None:
            return 0.0 if self.alpha is None else float(self.alpha)
        n, k = rows.n_samples, D.shape[0]
        n_rows = min(n, max(1, _QUANTILE_ENTRIES // k))
        idx = np.sort(rng.choice(n, size=n_rows, replace=False)) if n_rows < n else slice(None)
        C = rows.responses(D.T, idx)
        t = self.target_sparsity
        if self.mode == "soft" and not self.split_sign:
            values, q = C.ravel(), t  # zero where c <= alpha
        else:
            # zero where |c| <= alpha; with split_sign each atom adds a zero
            values, q = np.abs(C).ravel(), (2 * t - 1 if self.split_sign else t)
        rank = int(np.ceil(q * values.size)) - 1
        if rank < 0:
            alpha = np.nextafter(values.min(), -np.inf)
        else:
            alpha = np.partition(values, rank)[rank]
        if self.mode == "hard" or self.split_sign:
            alpha = max(alpha, 0.0)
        return float(alpha)

    @_fit_context(prefer_skip_nested_validation=False)
    @array_api_method(fits=True, gpu=True)
    def fit(self, X, y=None):
        """Learn the whitening, the dictionary and the threshold from ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; a sparse matrix is never densified (see
            ``whiten`` for the two exceptions, which are bounded). A CuPy
            array or ``cupyx`` CSR matrix is learned from on its GPU: the
            covariance, k-means' products, assignments and sums and the
            threshold's responses there, the ``p x p`` eigendecomposition
            and k-means++'s draws on the host, from the same generator as
            on the CPU (an estimator ``dictionary`` is fitted on the GPU
            too, where its settings allow). The fitted attributes are numpy
            arrays.
        y : Ignored

        Returns
        -------
        self : ThresholdEncoder
        """
        with restore_on_error(self):
            return self._fit(X)

    def _fit(self, X):
        gpu = get_backend(X, self.device, caller=self).name == "cupy"
        if gpu:
            X = _gpu.validate(self, X, reset=True)[0]
        else:
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        self._check_params()
        rng = check_random_state(self.random_state)
        with _gpu.on_device(X) if gpu else contextlib.nullcontext():
            if self._whitens(X, gpu):
                p = X.shape[1]
                _check_memory(p * p * 8 * 3,
                              f"whitening's {p} x {p} covariance and eigenvectors")
                mean, W = zca(X, self.whiten_eps)
            else:
                mean, W = None, None
            rows = (DeviceRows if gpu else Rows)(X, mean, W)
            D, objective, n_iter, inside = self._dictionary(X, rows, rng)
            alpha = self._choose_alpha(rows, D, rng)
        self.components_ = D.astype(X.dtype)
        self.mean_, self.whitening_ = mean, W
        self.objective_, self.n_iter_ = objective, n_iter
        self.dictionary_estimator_ = inside
        self.alpha_ = alpha
        return self

    def _gpu_supports(self, method):
        """Whether the GPU backend covers ``method``: every ``fit`` but one
        that fits an estimator ``dictionary`` whose settings keep it on the
        CPU."""
        source = self.dictionary
        if method != "fit" or not hasattr(source, "fit") or hasattr(source, "shape"):
            return True
        return hasattr(source, "components_") or _fits_on_gpu(source)

    # ------------------------------------------------------------ transform
    @array_api_method(gpu=True)
    def transform(self, X):
        """Encode ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode; a sparse matrix is never densified. A CuPy array
            or ``cupyx.scipy.sparse`` matrix is encoded on its GPU and the
            features come back there.

        Returns
        -------
        features : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            ``n_features_out`` is ``2 * n_components`` with ``split_sign=True``
            (except for "triangle"), else ``n_components``; CSR with
            ``sparse_output=True``; in ``X``'s float dtype.
        """
        check_is_fitted(self)
        check = functools.partial(validate_data, self, accept_sparse="csr",
                                  dtype=[np.float64, np.float32], reset=False)
        backend = get_backend(X, self.device, caller=self)
        if backend.name == "cupy":  # CuPy input: the features stay on its GPU
            return run_on(backend, X, self._transform_gpu, check)
        X = check(X)
        dtype = X.dtype
        rows = Rows(X, self.mean_, self.whitening_)
        X = rows.X  # CSR without duplicate entries
        D = self.components_.astype(np.float64)
        M, b = rows.fold(D.T, dtype)
        k = D.shape[0]
        width = self._n_features_out
        alpha, n_keep, split = self._activation()
        mode = self.mode
        if mode == "triangle":
            sq_c = np.einsum("ij,ij->i", D, D)
        else:
            b = b.astype(dtype)
            alpha = dtype.type(alpha)
        def activate(cov, dest, Xc, scratch):
            if mode == "soft":
                soft_encode(cov, b, alpha, split, dest)
            elif mode == "hard":
                hard_encode(cov, b, alpha, split, dest)
            elif mode == "topk":
                topk_encode(cov, b, n_keep, split, dest, scratch.get("work", (3 * k,), np.float64))
            else:
                triangle_encode(cov, b, rows.sq_norms_of(Xc), sq_c, dest,
                                scratch.get("work", (k,), np.float64))

        return encode_rows(X, M, width, activate, sparse_output=self.sparse_output,
                           n_jobs=self.n_jobs)

    def _activation(self):
        """``(alpha, n_keep, split)``: the activation's threshold, the atoms
        "topk" keeps, and whether the sign is split."""
        k = self.components_.shape[0]
        alpha = 0.0 if self.alpha_ is None else float(self.alpha_)
        return alpha, min(self.k or max(1, k // 10), k), self._n_features_out == 2 * k

    def _transform_gpu(self, X):
        """CuPy input (or host input moved there, ``device="gpu"``): the
        features by the GPU's kernels, left there."""
        if self.mode == "triangle" and self.whitening_ is not None and \
                _gpu.cupyx_sparse().issparse(X):
            raise ValueError("mode='triangle' with whiten=True needs the whitened rows' "
                             "norms, which on sparse GPU input would densify X; pass dense "
                             "input or transform on the CPU.")
        X, _ = _gpu.device_matrix(self, X)
        alpha, n_keep, split = self._activation()
        return _gpu.threshold_transform_gpu(
            X, self.components_, whitening=self.whitening_, mean=self.mean_, mode=self.mode,
            alpha=alpha, n_keep=n_keep, split=split, sparse_output=self.sparse_output)

    @property
    def _n_features_out(self):
        k = self.components_.shape[0]
        return 2 * k if self.split_sign and self.mode != "triangle" else k

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # sparsecode._array_api; CSR output is not an array of the input's namespace
        tags.array_api_support = not getattr(self, "sparse_output", False)
        return tags


def _fits_on_gpu(estimator):
    """Whether a sparsecode estimator's ``fit`` runs on the GPU with its
    settings (not with ``device="cpu"``; other libraries' estimators are not
    known to)."""
    supports = getattr(estimator, "_gpu_supports", None)
    return (supports is not None and supports("fit")
            and getattr(estimator, "device", None) != "cpu")


def _check_memory(n_bytes, what):
    limit = get_config()["working_memory"] * 2**20
    if n_bytes > limit:
        raise ValueError(
            f"whiten=True needs {what}: {n_bytes / 2**20:.0f} MiB, above scikit-learn's "
            f"working_memory of {limit / 2**20:.0f} MiB. Raise it with "
            "sklearn.config_context(working_memory=...), whiten fewer features (for "
            "instance after TruncatedSVD), or use whiten=False."
        )
