"""SparseAttentionTransformer: softmax attention over a sparse set of keys per
token, at a cost linear in the number of tokens. The estimator: parameters,
the fitted projections, the checks; the plan of which keys each query sees
and the pass that computes the attention are :mod:`sparsecode._attention_plan`.
"""

import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from . import _gpu
from ._array_api import array_api_method, host_view, to_numpy
from ._attention_model import (
    global_tokens,
    nearest_key_bandwidth,
    projections,
    qkv,
    sequences,
)
from ._attention_plan import _attend, _Plan, pattern_csr
from ._backend import get_backend, run_on
from ._kernels._attention import csr_softmax
from ._validation import IntInterval, restore_on_error, validate_data

# Parameters that define the pattern and the scores: changed after fit, they
# would mix with fitted attributes drawn under the old values.
_FIT_TIME = ("pattern", "window", "dilation", "causal", "global_tokens", "n_random",
             "block_size", "n_hashes", "n_buckets", "lsh_mode", "chunk_size", "grid_shape",
             "projection", "n_components", "similarity", "bandwidth", "output",
             "random_state")

_PATTERNS = ("window", "window2d", "longformer", "bigbird", "lsh", "dense")


class SparseAttentionTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                                 BaseEstimator):
    r"""Softmax attention over a sparse pattern of keys, as a transformer step.

    The rows of ``X`` are tokens in order (time steps, image patches in
    raster order, positions of a sequence); ``lengths`` splits them into
    independent sequences. Each token ``i`` attends to a set of keys
    :math:`N(i)` of its own sequence fixed by ``pattern``:

    .. math::

        \mathrm{out}_i = \sum_{j \in N(i)} w_{ij} v_j, \qquad
        w_{ij} = \frac{\exp s_{ij}}{\sum_{l \in N(i)} \exp s_{il}},

    with :math:`q = x W_q`, :math:`k = x W_k`, :math:`v = x W_v` and the score
    :math:`s_{ij} = q_i \cdot k_j / \sqrt{d}` (``similarity="dot"``, :math:`d`
    the query dimension) or :math:`s_{ij} = -\|q_i - k_j\|^2 / h^2`
    (``similarity="neg_sq_dist"``, bandwidth :math:`h`; computed as
    :math:`2 q_i \cdot k_j / h^2 - \|k_j\|^2 / h^2`, the query's own norm
    cancelling in the softmax). Window attention over image patches with
    the latter score is non-local means denoising (Buades et al. 2005).

    The cost is proportional to the number of (query, key) pairs, linear in
    the number of tokens for every pattern but ``"dense"``; no
    ``n_tokens x n_tokens`` array is formed.

    Parameters
    ----------
    pattern : {"window", "window2d", "longformer", "bigbird", "lsh", "dense"}, default="window"
        The keys of each query (its sequence's tokens only):

        - ``"window"``: the tokens ``j = i + m * dilation`` with
          ``|m| <= window // 2`` (``m <= 0`` if ``causal``);
        - ``"window2d"``: the same box in two dimensions over a grid of
          ``grid_shape`` tokens in raster order (each sequence is one grid);
        - ``"longformer"``: the window plus ``global_tokens``, which every
          token attends to and which attend to every token (Beltagy et al.
          2020);
        - ``"bigbird"``: the longformer keys plus, for each block of
          ``block_size`` queries, the keys of ``n_random`` random other
          blocks (Zaheer et al. 2020);
        - ``"lsh"``: Reformer's shared-query-key hashing (Kitaev et al.
          2020), see ``lsh_mode``;
        - ``"dense"``: every token of the sequence (causal: up to itself), a
          reference refused above 2^26 (query, key) pairs.

    window : int, default=None
        The window's total width, both sides together, as Hugging Face's
        Longformer ``attention_window``: an even number; a token sees
        ``window // 2`` neighbours on each side and itself (``window + 1``
        tokens, ``window // 2 + 1`` when causal). For ``"window2d"`` the
        same along each axis: a ``(window + 1) x (window + 1)`` box. None:
        256 for the 1-D patterns, 10 (an 11 x 11 box) for ``"window2d"``;
        non-local means' classic 21 x 21 search window (``window=20``) scores
        3.6 times the (query, key) pairs for 0.2 dB more on
        benchmarks/README.md's "Defaults" image.

    dilation : int, default=1
        Gap between the window's neighbours (Longformer's dilated window).

    causal : bool, default=False
        Keep only the keys at or before the query (in raster order for
        ``"window2d"``), for every part of the pattern.

    global_tokens : int or array-like of int, default=None
        ``"longformer"`` and ``"bigbird"``: the positions, within each
        sequence, of the global tokens; an int ``g`` stands for the first
        ``g`` positions. None: the first token only (a [CLS]-like token).
        Positions past a sequence's end are ignored for that sequence.

    n_random : int, default=3
        ``"bigbird"``: random key blocks per block of queries.

    block_size : int, default=64
        ``"bigbird"``: tokens per block.

    n_hashes : int, default=4
        ``"lsh"``: rounds of hashing; a key seen in several rounds counts
        once.

    n_buckets : int, default=32
        ``"lsh"``: buckets per round (even): random rotations ``R`` of shape
        ``(d, n_buckets // 2)`` and the bucket ``argmax([k R, -k R])``.

    lsh_mode : {"chunked", "exact"}, default="chunked"
        ``"lsh"``: ``"exact"`` attends to every key that shares a bucket
        with the query in some round (cost grows with the square of the
        bucket sizes); ``"chunked"`` sorts each round's tokens by bucket and
        keeps the same-bucket keys in the query's own and the previous chunk
        of ``chunk_size`` sorted tokens (Reformer's linear-cost scheme, with
        a same-bucket mask). The query itself is a key only when it has no
        other (as in Reformer, where it would dominate the shared-QK
        scores). Keys are the unit-norm queries (so ``W_k`` of a given
        projection tuple is not used).

    chunk_size : int, default=64
        ``"lsh"`` with ``lsh_mode="chunked"``: sorted tokens per chunk.

    grid_shape : tuple of (int, int), default=None
        ``"window2d"``: (height, width) of each sequence's grid; each
        sequence (``lengths``, or ``X`` cut into ``height * width`` rows)
        must hold ``height * width`` tokens.

    projection : {"identity", "pca", "random"} or tuple of 3 arrays, default="identity"
        ``W_q, W_k, W_v``: ``"identity"`` uses ``X`` itself;
        ``"pca"`` one projection on the top ``n_components`` right singular
        vectors of ``X`` (randomized SVD, not centred, so sparse ``X`` stays
        sparse) for all three; ``"random"`` one Gaussian projection scaled
        by ``1 / sqrt(n_components)`` (distances kept up to the
        Johnson-Lindenstrauss error) for all three; a tuple ``(W_q, W_k,
        W_v)`` of arrays of shapes ``(n_features, d)``, ``(n_features, d)``
        and ``(n_features, d_v)``, e.g. taken from a trained model.

    n_components : int, default=None
        Dimension of ``"pca"`` and ``"random"`` projections; None:
        ``min(64, n_features)``. Ignored by ``"identity"`` and given arrays,
        whose dimensions are fixed.

    similarity : {"dot", "neg_sq_dist"}, default="dot"
        The score function, see above. (Not named ``score``, which would
        hide scikit-learn's ``score`` method name.)

    bandwidth : float, default=None
        ``h`` of ``similarity="neg_sq_dist"``. None: learned at ``fit``, the
        median over up to 256 tokens (drawn by ``random_state``) of the
        distance from each to the nearest other key its pattern gives it
        (queries and keys projected). Weights then fall off at the scale of
        a token's closest neighbours: neither one key nor a flat average.
        For non-local means on two sample images at three noise levels it
        comes within 0.1-1.2 dB of the best ``h`` of a grid, where the
        ``sqrt(d)`` of earlier versions blurs the image below the noisy
        input's PSNR (benchmarks/README.md "Defaults").

    output : {"attention", "concat", "residual"}, default="attention"
        ``transform`` returns the attention output, ``[X, attention]``, or
        ``X + attention`` (needs ``d_v == n_features``).

    n_jobs : int, default=None
        Threads over queries; None: Numba's thread count.

    random_state : int, RandomState instance or None, default=None
        Draws the ``"random"`` projection, the PCA's random sketch, BigBird's
        blocks and the LSH rotations, all at ``fit``.

    device : {"cpu", "gpu"}, default=None
        Where ``transform`` computes (a fit of numpy input runs on the CPU;
        of CuPy input, on its GPU). None: where ``X`` lives (a CuPy array on
        its GPU, the output staying there).
        "gpu": numpy / scipy.sparse input is copied to the current GPU,
        attended there and the output copied back; needs the ``gpu`` extra.
        "cpu": CuPy input is refused (no silent copies).

    verbose : int, default=0
        Print the pattern's number of (query, key) pairs and the time of
        each ``transform``.

    Attributes
    ----------
    query_projection_, key_projection_, value_projection_ : ndarray or None
        ``W_q`` (n_features, d), ``W_k`` (n_features, d) and ``W_v``
        (n_features, d_v); None for ``projection="identity"``.

    window_ : int
        The window width in use.

    global_tokens_ : ndarray of int64
        Global token positions (empty unless longformer or bigbird).

    grid_shape_ : tuple of int or None
        The grid of ``"window2d"``.

    bandwidth_ : float or None
        ``h`` in use with ``similarity="neg_sq_dist"`` (learned when
        ``bandwidth`` is None).

    lsh_rotations_ : ndarray of shape (n_hashes, d, n_buckets // 2) or None
        The LSH random rotations.

    random_seed_ : int
        Seed of BigBird's random blocks (drawn per sequence length).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of str
        Names of the features seen during ``fit``, when they are all strings.

    See Also
    --------
    ThresholdEncoder : feed-forward features, one product and a threshold.

    Notes
    -----
    Two sequences are never mixed: a token's keys all come from its own
    sequence. ``lengths`` is a ``fit``, ``transform`` and ``fit_transform``
    parameter; in a Pipeline request it with metadata routing
    (``set_fit_request(lengths=True).set_transform_request(lengths=True)``
    under ``sklearn.set_config(enable_metadata_routing=True)``).

    References
    ----------
    Beltagy, Peters & Cohan (2020), Longformer: the long-document
    transformer. arXiv:2004.05150.

    Zaheer et al. (2020), Big Bird: transformers for longer sequences.
    NeurIPS.

    Kitaev, Kaiser & Levskaya (2020), Reformer: the efficient transformer.
    ICLR.

    Buades, Coll & Morel (2005), A non-local algorithm for image denoising.
    CVPR.

    Milakov & Gimelshein (2018), Online normalizer calculation for softmax.
    arXiv:1805.02867.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import SparseAttentionTransformer
    >>> X = np.random.default_rng(0).normal(size=(1000, 16))
    >>> att = SparseAttentionTransformer(pattern="window", window=8).fit(X)
    >>> att.transform(X).shape
    (1000, 16)
    >>> att.attention_pattern(1000).sum(axis=1)[:6]
    array([5, 6, 7, 8, 9, 9])
    """

    _parameter_constraints = {
        "pattern": [StrOptions(set(_PATTERNS))],
        "window": [IntInterval(Integral, 0, None, closed="left"), None],
        "dilation": [IntInterval(Integral, 1, None, closed="left")],
        "causal": ["boolean"],
        "global_tokens": [IntInterval(Integral, 0, None, closed="left"), "array-like", None],
        "n_random": [IntInterval(Integral, 0, None, closed="left")],
        "block_size": [IntInterval(Integral, 1, None, closed="left")],
        "n_hashes": [IntInterval(Integral, 1, None, closed="left")],
        "n_buckets": [IntInterval(Integral, 2, None, closed="left")],
        "lsh_mode": [StrOptions({"chunked", "exact"})],
        "chunk_size": [IntInterval(Integral, 1, None, closed="left")],
        "grid_shape": [tuple, list, None],
        "projection": [StrOptions({"identity", "pca", "random"}), tuple, list],
        "n_components": [IntInterval(Integral, 1, None, closed="left"), None],
        "similarity": [StrOptions({"dot", "neg_sq_dist"})],
        "bandwidth": [Interval(Real, 0, None, closed="neither"), None],
        "output": [StrOptions({"attention", "concat", "residual"})],
        "n_jobs": [IntInterval(Integral, None, -1, closed="right"),
                   IntInterval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [StrOptions({"cpu", "gpu"}), None],
    }

    def __init__(self, pattern="window", *, window=None, dilation=1, causal=False,
                 global_tokens=None, n_random=3, block_size=64, n_hashes=4, n_buckets=32,
                 lsh_mode="chunked", chunk_size=64, grid_shape=None, projection="identity",
                 n_components=None, similarity="dot", bandwidth=None, output="attention",
                 n_jobs=None, random_state=None, verbose=0, device=None):
        self.pattern = pattern
        self.window = window
        self.dilation = dilation
        self.causal = causal
        self.global_tokens = global_tokens
        self.n_random = n_random
        self.block_size = block_size
        self.n_hashes = n_hashes
        self.n_buckets = n_buckets
        self.lsh_mode = lsh_mode
        self.chunk_size = chunk_size
        self.grid_shape = grid_shape
        self.projection = projection
        self.n_components = n_components
        self.similarity = similarity
        self.bandwidth = bandwidth
        self.output = output
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        pattern = self.pattern
        if self.window is not None and self.window % 2:
            raise ValueError(f"window={self.window} must be even: it is the total width, "
                             f"window // 2 neighbours on each side (Hugging Face "
                             f"Longformer's convention).")
        if self.global_tokens is not None and pattern not in ("longformer", "bigbird"):
            raise ValueError(f"global_tokens applies to pattern='longformer' or 'bigbird', "
                             f"not {pattern!r}.")
        if pattern == "window2d":
            shape = self.grid_shape
            if (shape is None or len(shape) != 2
                    or not all(isinstance(v, Integral) and v >= 1 for v in shape)):
                raise ValueError(f"pattern='window2d' needs grid_shape=(height, width) of "
                                 f"positive ints, got {shape!r}.")
        elif self.grid_shape is not None:
            raise ValueError(f"grid_shape applies to pattern='window2d', not {pattern!r}.")
        if pattern == "lsh" and self.n_buckets % 2:
            raise ValueError(f"n_buckets={self.n_buckets} must be even: the buckets are "
                             f"argmax([kR, -kR]) over n_buckets // 2 rotations.")
        if pattern == "dense" and self.dilation != 1:
            raise ValueError("dilation applies to windows, not to pattern='dense'.")

    def _global_tokens(self):
        return global_tokens(self.pattern, self.global_tokens)

    @array_api_method(fits=True, gpu=True)
    def fit(self, X, y=None, lengths=None):
        """Learn the projections and draw the random parts of the pattern.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_tokens, n_features)
            Tokens, in order; a sparse matrix is never densified here. A
            CuPy array or ``cupyx`` CSR matrix stays on its GPU: only its
            shape is read, and for ``projection="pca"`` the randomized SVD's
            products run there (QR in place of scikit-learn's LU between the
            power iterations; the same draws and signs). Learning
            ``bandwidth`` (None, ``similarity="neg_sq_dist"``) reads up to
            256 tokens and their keys (every token for ``"lsh"``).
        y : Ignored
        lengths : array-like of int, default=None
            Lengths of the consecutive sequences in ``X`` (summing to
            ``n_tokens``); None: one sequence (or, for ``"window2d"``, grids
            of ``grid_shape`` one after another).

        Returns
        -------
        self : SparseAttentionTransformer
        """
        with restore_on_error(self):
            return self._fit(X, lengths)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, lengths):
        backend = get_backend(X, self.device, caller=self)
        if backend.name == "cupy" and backend.owns(X):
            # read on its GPU (device="gpu" does not move host X for a fit):
            # the PCA's products, else its shape
            X, _ = _gpu.validate(self, X, reset=True)
        else:
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        self._check_params()
        rng = check_random_state(self.random_state)
        Wq, Wk, Wv = projections(X, self.projection, self.n_components, rng)
        d = X.shape[1] if Wq is None else Wq.shape[1]
        dv = X.shape[1] if Wv is None else Wv.shape[1]
        if self.output == "residual" and dv != X.shape[1]:
            raise ValueError(f"output='residual' adds the attention to X: it needs d_v == "
                             f"n_features, got d_v={dv} and n_features={X.shape[1]}.")
        window = self.window
        if window is None:
            window = 10 if self.pattern == "window2d" else 256
        self.window_ = int(window)
        self.grid_shape_ = (tuple(int(v) for v in self.grid_shape)
                            if self.pattern == "window2d" else None)
        self.global_tokens_ = self._global_tokens()
        self.bandwidth_ = (None if self.similarity == "dot" else
                           float(np.sqrt(d) if self.bandwidth is None else self.bandwidth))
        self.random_seed_ = int(rng.randint(np.iinfo(np.int32).max))
        self.lsh_rotations_ = (rng.normal(size=(self.n_hashes, d, self.n_buckets // 2))
                               if self.pattern == "lsh" else None)
        self.query_projection_, self.key_projection_, self.value_projection_ = Wq, Wk, Wv
        self._fit_params = self._pattern_params()
        # the check, at fit time too (lengths may come as a CuPy array)
        lengths = None if lengths is None else _gpu.to_host(lengths)
        self._sequences(X.shape[0], lengths)
        if self.similarity == "neg_sq_dist" and self.bandwidth is None:
            # (drawn after the pattern's draws, which stay those of a given h)
            self.bandwidth_ = nearest_key_bandwidth(self, X, lengths, rng)
        return self

    def _pattern_params(self):
        return {name: repr(getattr(self, name)) for name in _FIT_TIME}

    # ------------------------------------------------------------ transform
    def _sequences(self, n, lengths):
        return sequences(n, lengths, self.pattern, self.grid_shape_)

    def _qkv(self, X, xp=np):
        """Queries (scaled), keys, values and the score bias of ``X``."""
        return qkv(X, self.query_projection_, self.key_projection_, self.value_projection_,
                   lsh=self.pattern == "lsh", similarity=self.similarity,
                   bandwidth=self.bandwidth_, xp=xp)

    def _check_fitted(self):
        check_is_fitted(self)
        changed = [name for name, value in self._pattern_params().items()
                   if self._fit_params.get(name) != value]
        if changed:
            raise ValueError(f"{', '.join(changed)} changed since fit: they define the "
                             f"pattern drawn at fit; call fit again.")

    def _validate_transform(self, X):
        self._check_fitted()
        return validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                             reset=False)

    def _prepare(self, X, lengths):
        X = self._validate_transform(X)
        lengths, offsets = self._sequences(X.shape[0], lengths)
        Q, K, V, bias = self._qkv(X)
        return X, _Plan(self, Q, K, lengths, offsets), Q, K, V, bias

    @array_api_method(gpu=True)
    def transform(self, X, lengths=None):
        """Each token's attention output.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_tokens, n_features)
            Tokens, in order. With ``projection="identity"`` a sparse ``X``
            is densified (the output has its shape and is dense anyway). A
            CuPy array or ``cupyx`` CSR matrix runs on its GPU (every
            pattern; the keys of all but ``"window"`` are listed on the host)
            and the output stays there.
        lengths : array-like of int, default=None
            Lengths of the consecutive sequences in ``X``.

        Returns
        -------
        X_new : ndarray of shape (n_tokens, n_features_out)
            The attention output (``d_v`` columns), ``[X, attention]``
            (sparse when ``X`` is) or ``X + attention``, in ``X``'s dtype.
        """
        backend = get_backend(X, self.device, caller=self)
        if backend.name == "cupy":  # CuPy input (or device="gpu"): on the GPU
            return run_on(backend, X, lambda X: self._transform_gpu(X, lengths),
                          self._validate_transform)
        start = time.perf_counter()
        X, plan, Q, K, V, bias = self._prepare(X, lengths)
        out = _attend(plan, Q, K, V, bias, self.n_jobs)
        if not np.isfinite(out).all():
            raise ValueError("The attention output is not finite: the scores overflow "
                             f"{X.dtype} (q.k near its largest value). Scale X down.")
        if self.verbose:
            print(f"[SparseAttentionTransformer] pattern={self.pattern!r}: {plan.n} tokens, "
                  f"{plan.n_pairs()} (query, key) pairs, "
                  f"{time.perf_counter() - start:.3f} s")
        if self.output == "attention":
            return out
        if self.output == "residual":
            return out + (X.toarray() if sp.issparse(X) else X)
        if sp.issparse(X):
            return sp.hstack([X, sp.csr_matrix(out)], format="csr", dtype=X.dtype)
        return np.hstack([X, out])

    def _transform_gpu(self, X, lengths):
        """CuPy input (or host input moved there): the projections in cuBLAS /
        cuSPARSE, the attention by the GPU's kernels, the output left there.
        ``pattern="window"`` finds each query's keys in the kernel; the
        other patterns take them as CSR rows built on the host (for "lsh"
        from the keys' buckets), the CPU's keys exactly."""
        self._check_fitted()
        X, _ = _gpu.device_matrix(self, X)
        n = X.shape[0]
        lengths, offsets = self._sequences(n, None if lengths is None else _gpu.to_host(lengths))
        with _gpu.on_device(X):
            Q, K, V, bias = self._qkv(X, xp=_gpu.cupy())
            _gpu.check_value_width(V)  # (before any key set is planned)
            if self.pattern == "window":
                keys = dict(half=min(self.window_ // 2, int(lengths.max())),
                            dilation=int(self.dilation), causal=bool(self.causal))
            else:
                # the plan reads the keys for LSH's buckets only
                host = _gpu.to_host(K) if self.pattern == "lsh" else np.zeros((n, 1), K.dtype)
                keys = dict(csr=self._keys_csr(host, lengths, offsets))
            return _gpu.attention_transform_gpu(X, Q, K, V, bias, lengths=lengths,
                                                offsets=offsets, output=self.output, **keys)

    @array_api_method(fits=True, gpu=True)
    def fit_transform(self, X, y=None, lengths=None):
        """``fit(X, lengths=lengths).transform(X, lengths=lengths)``: unlike
        scikit-learn's default, ``lengths`` reaches ``transform`` too.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_tokens, n_features)
        y : Ignored
        lengths : array-like of int, default=None

        Returns
        -------
        X_new : ndarray of shape (n_tokens, n_features_out)
        """
        return self.fit(X, lengths=lengths).transform(X, lengths=lengths)

    def _keys_csr(self, keys, lengths, offsets):
        """The pattern's key sets as a CSR, planned on the host for ``keys``
        (the GPU transform's: the backend takes the rows, not the plan)."""
        return pattern_csr(_Plan(self, keys, keys, lengths, offsets))

    def attention_pattern(self, n_tokens=None, *, X=None, lengths=None):
        """The pattern as a sparse matrix: entry ``(i, j)`` is 1 when token
        ``i`` attends to token ``j``.

        Parameters
        ----------
        n_tokens : int, default=None
            Number of tokens; enough for every pattern but ``"lsh"``, whose
            keys depend on the data.
        X : {array-like, sparse matrix} of shape (n_tokens, n_features), \
                default=None
            The tokens (needed for ``"lsh"``).
        lengths : array-like of int, default=None
            Lengths of the consecutive sequences.

        Returns
        -------
        pattern : scipy.sparse.csr_array of shape (n_tokens, n_tokens)
            int8 ones, int64 indices, columns sorted in each row.
        """
        # fitted under array API dispatch: its numpy twin (the pattern is a
        # scipy.sparse array whatever the namespace)
        self, X = host_view(self), to_numpy(X)
        self._check_fitted()
        if X is None:
            if self.pattern == "lsh":
                raise ValueError("pattern='lsh' depends on the data: pass X=.")
            if n_tokens is None:
                raise ValueError("Pass n_tokens or X.")
            if not isinstance(n_tokens, Integral) or n_tokens < 1:
                raise ValueError(f"n_tokens must be a positive int, got {n_tokens!r}.")
            n = int(n_tokens)
            lengths, offsets = self._sequences(n, lengths)
            Q = np.zeros((n, 1))
            plan = _Plan(self, Q, Q, lengths, offsets)
        else:
            X, plan, *_ = self._prepare(X, lengths)
            if n_tokens is not None and n_tokens != X.shape[0]:
                raise ValueError(f"n_tokens={n_tokens} but X has {X.shape[0]} rows.")
            n = X.shape[0]
        indptr, indices = pattern_csr(plan)
        data = np.ones(indices.size, dtype=np.int8)
        return sp.csr_array((data, indices, indptr), shape=(n, n))

    @array_api_method()
    def attention_weights(self, X, lengths=None):
        """The attention weights as a sparse matrix whose rows sum to 1:
        ``transform(X)`` (``output="attention"``) equals
        ``attention_weights(X) @ V`` with ``V = X @ value_projection_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_tokens, n_features)
        lengths : array-like of int, default=None

        Returns
        -------
        weights : scipy.sparse.csr_array of shape (n_tokens, n_tokens)
            float64, int64 indices.
        """
        X, plan, Q, K, V, bias = self._prepare(X, lengths)
        indptr, indices = pattern_csr(plan)
        data = np.empty(indices.size, dtype=np.float64)
        csr_softmax(Q, K, bias.astype(np.float64), indptr, indices, data)
        return sp.csr_array((data, indices, indptr), shape=(plan.n, plan.n))

    # ------------------------------------------------------------ metadata
    @property
    def _n_features_out(self):
        dv = (self.n_features_in_ if self.value_projection_ is None
              else self.value_projection_.shape[1])
        return dv + (self.n_features_in_ if self.output == "concat" else 0)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``sparseattentiontransformer0, ...`` for the
        attention, after the input names with ``output="concat"``, the input
        names with ``output="residual"``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        if self.output == "residual":
            return names
        dv = (self.n_features_in_ if self.value_projection_ is None
              else self.value_projection_.shape[1])
        prefix = self.__class__.__name__.lower()
        att = np.asarray([f"{prefix}{i}" for i in range(dv)], dtype=object)
        if self.output == "concat":
            return np.concatenate([names, att])
        return att

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # sparsecode._array_api; CSR output is not an array of the input's namespace
        tags.array_api_support = not getattr(self, "sparse_output", False)
        return tags
