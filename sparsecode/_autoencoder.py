"""SparseAutoencoder: the interpretability-style sparse autoencoder (ReLU + L1,
TopK, BatchTopK) trained by Adam, as a scikit-learn transformer.

The engine: numpy BLAS for the dense products, Numba for the activations,
for the products with the sparse codes (TopK and BatchTopK hold the codes of
a minibatch as CSR, so decoding and every gradient but the encoder's weight
gradient cost ``nnz * d`` instead of ``b * m * d``) and for Adam. The losses
and gradients are :mod:`sparsecode._autoencoder_model`, the transform is
:mod:`sparsecode._autoencoder_base`'s; this module holds the estimator's
parameters, training loop and early stopping.
"""

import copy
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions

from . import _gpu
from ._array_api import array_api_method
from ._autoencoder_base import _SPARSITY_CONSTRAINTS, _AutoencoderBase
from ._autoencoder_model import (
    _PARAMS,
    _check_diverged,
    _dense_rows,
    _density,
    _normalize_rows,
    _prune_epoch,
    _pruning,
    _rows,
    _sparsify,
    geometric_median,
    record_step,
    sae_loss_grad,
)
from ._backend import get_backend
from ._kernels._autoencoder import (
    adam_update,
    jump_relu_encode,
    project_out_rows,
    topk_relu_encode,
)
from ._kernels._threshold import soft_encode
from ._threads import blas_limit
from ._validation import IntInterval, restore_on_error, validate_data

# A sparse training minibatch is used as is (never densified) up to this
# density (benchmarks/autoencoder_training.py, 10^4 features, 128 latents:
# TopK 2.4x faster than densifying at 0.2%, 1.1x at 10%, 0.80x at 20%; the
# ReLU path, whose decoder products are dense anyway, 1.11x at 0.2%, 1.01x
# at 5%, 0.90x at 10%).
_SPARSE_INPUT_DENSITY = {"relu": 0.05, "topk": 0.10, "batchtopk": 0.10}


# early_stopping="auto" holds out validation rows from this many training rows
# (50 held out at validation_fraction=0.1) while there are fewer than
# 10 * n_components of them; and a training explained variance this much above
# the held-out one, with at most half its unexplained variance, is reported as
# memorisation (not a model that explains neither yet).
_AUTO_HOLD_OUT_MIN = 500
_MEMORISED_GAP = 0.1
_MEMORISED_ROWS = 10_000


class SparseAutoencoder(_AutoencoderBase):
    r"""Sparse autoencoder trained by Adam: a dictionary with an amortised,
    one-GEMM encoder.

    .. math::

        f(x) = \mathrm{act}(W_{enc} (x - b_{dec}) + b_{enc}), \qquad
        \hat x = f(x) W_{dec} + b_{dec},

    trained on minibatches to minimise the mean of

    - ``activation="relu"``: :math:`\frac12 \|x - \hat x\|^2 + l_1 \sum_j
      f_j(x) \|W_{dec,j}\|` (the L1 weighted by the decoder row norms, so
      that shrinking codes cannot be bought by growing rows);
    - ``"topk"``: :math:`\frac12 \|x - \hat x\|^2` with the ``k`` largest
      pre-activations of each sample kept (then ReLU), plus the AuxK term
      :math:`\frac{c}{2} \|e - \hat e\|^2` that has the ``aux_k`` largest
      *dead* latents reconstruct the residual :math:`e = x - \hat x`
      (Gao et al. 2024);
    - ``"batchtopk"``: as "topk" but the ``batch_size * k`` largest
      pre-activations of the whole minibatch are kept; at ``transform`` a
      threshold learned in training replaces the batch (Bussmann et al.
      2024).

    Parameters
    ----------
    n_components : int
        Number of latents ``m``.
    activation : {"relu", "topk", "batchtopk"}, default="relu"
    l1 : float, default=1e-3
        L1 coefficient of "relu" (after ``l1_warmup``).
    k : int, default=None
        Latents per sample for "topk" / "batchtopk" (mean per sample for the
        latter); ``None`` means ``max(1, n_components // 16)``.
    tied : bool, default=False
        One weight matrix for encoder and decoder (``W_dec = W_enc``).
    normalize_decoder : bool, default=True
        Keep the decoder rows at unit norm: the gradient component along each
        row is removed before the step and the rows are rescaled after it.
    b_dec_init : {"geometric_median", "mean", "zeros"}, default="geometric_median"
        Initial decoder bias: Weiszfeld's geometric median of (up to 10,000,
        and at most 2^24 / n_features) training rows, their mean, or zero.
    batch_size : int, default=256
        Rows per minibatch (at most the training rows).
    learning_rate : float, default=1e-3
        Adam step size after ``lr_warmup``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decays and denominator guard.
    max_iter : int, default=200
        Epochs.
    lr_warmup : int, default=0
        Steps of linear learning-rate warm-up from 0.
    l1_warmup : int, default=0
        Steps of linear L1 warm-up from 0 ("relu").
    dead_threshold : int, default=None
        A latent that fired on none of the last ``dead_threshold`` training
        samples is dead (AuxK trains it; ``dead_fraction_`` counts it);
        ``None`` means one epoch of training samples.
    aux_k : int, default=None
        Dead latents in the AuxK term; ``None`` means ``min(2 k,
        n_components)``, 0 switches the term off.
    aux_coef : float, default=1/32
        Weight ``c`` of the AuxK term.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of ``fit``'s rows and stop when their
        explained variance has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, keeping the best parameters (as
        ``MLPRegressor``: weights and the BatchTopK threshold; Adam's moments
        continue from the last epoch); otherwise the same rule on the
        training loss. ``"auto"`` holds out rows when the data are small for
        the model: from 500 rows (50 held out) up to fewer than
        ``10 * n_components`` rows, where an autoencoder can memorise its
        training rows and the training loss says nothing about new ones
        (1,500 rows of 384 features, 1,536 latents: training explained
        variance 0.99, new rows 0.82; benchmarks/README.md "Defaults"). With
        held-out rows, ``fit`` also warns when the training rows' explained
        variance exceeds theirs by more than 0.1 and leaves at most half as
        much unexplained: then use fewer ``n_components``, a larger ``l1``
        (a smaller ``k``), ``dropout``, or more data.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    weight_l1 : float, default=0.0
        L1 penalty on the encoder weights, applied as a proximal step after
        each Adam step (``W_enc <- sign(W) max(|W| - lr * weight_l1, 0)``),
        so that weights become exactly zero. Adam moves a weight by about
        ``lr`` per step whatever its gradient's scale, so ``weight_l1`` is in
        those units: values of order 1 and above zero weights (20 left 36%
        of them on 20-feature Gaussian data), small ones do little.
    prune : float, default=None
        Target density of the encoder weights (share of non-zeros), reached
        by magnitude pruning on Zhu & Gupta's cubic schedule over
        ``prune_epochs`` epochs (one per ``partial_fit`` call); pruned
        weights stay zero, and the stopping rules (early stopping or the
        training loss) do not judge the epochs of the schedule. With
        ``tied=True`` the decoder is pruned with the encoder (its rows are
        renormalised). None: no pruning.
    prune_epochs : int, default=None
        Epochs of the pruning schedule; None: ``max(1, max_iter // 2)``.
    dropout : float, default=0.0
        Inverted dropout on the hidden units in training (each code is
        zeroed with this probability and the others scaled by ``1 / (1 -
        dropout)`` before decoding and the L1 term); ``transform`` never
        drops. The masks follow each minibatch's row order, which is sorted
        for sparse input: a dense and a sparse copy of the same data draw
        different masks (without dropout they train the same model).
    activation_threshold : float, default=None
        After the activation, codes below this value become zero (in
        ``transform``, ``score`` and the validation score).
    sparse_output : bool, default=False
        ``transform`` returns CSR codes.
    verbose : int, default=0
        Print the loss every epoch.
    random_state : int, RandomState instance or None, default=None
    device : {"cpu", "gpu"}, default=None
        Where ``fit``, ``partial_fit`` and ``transform`` compute. None: where
        ``X`` lives (a CuPy array on its GPU, the codes coming back there;
        a model trained there comes back to the host). "gpu": numpy /
        scipy.sparse input is copied to the current GPU, trained on or
        encoded there, and the result copied back; needs the ``gpu`` extra.
        "cpu": CuPy input is refused (no silent copies).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Decoder rows ``W_dec``.
    encoder_weights_ : ndarray of shape (n_components, n_features)
    encoder_bias_ : ndarray of shape (n_components,)
    decoder_bias_ : ndarray of shape (n_features,)
    threshold_ : float or None
        BatchTopK's inference threshold (running mean of the batch
        thresholds).
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_scores_ : list of float or None
        Explained variance of the validation rows per epoch; None when no
        rows were held out (``early_stopping``).
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run.
    t_ : int
        Adam steps taken.
    dead_fraction_ : float
        Share of latents dead at the end of training.
    encoder_density_ : float
        Share of non-zero encoder weights; at most 10%, ``transform``
        multiplies by them as a sparse matrix.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    References
    ----------
    .. [1] A. Ng, "Sparse autoencoder", CS294A lecture notes, 2011.
    .. [2] A. Makhzani, B. Frey, "k-Sparse autoencoders", ICLR 2014.
    .. [3] L. Gao et al., "Scaling and evaluating sparse autoencoders", 2024.
    .. [4] B. Bussmann, P. Leask, N. Nanda, "BatchTopK sparse
       autoencoders", 2024.
    .. [5] D. P. Kingma, J. Ba, "Adam: a method for stochastic
       optimization", ICLR 2015.
    .. [6] M. Zhu, S. Gupta, "To prune, or not to prune: exploring the
       efficacy of pruning for model compression", 2017.
    .. [7] N. Srivastava et al., "Dropout: a simple way to prevent neural
       networks from overfitting", JMLR 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import SparseAutoencoder
    >>> X = np.random.default_rng(0).standard_normal((512, 16))
    >>> sae = SparseAutoencoder(32, activation="topk", k=4, max_iter=5, random_state=0)
    >>> Z = sae.fit_transform(X)
    >>> int((Z != 0).sum(axis=1).max())
    4
    """

    _parameter_constraints = {
        "n_components": [IntInterval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "topk", "batchtopk"})],
        "l1": [Interval(Real, 0, None, closed="left")],
        "k": [IntInterval(Integral, 1, None, closed="left"), None],
        "tied": ["boolean"],
        "normalize_decoder": ["boolean"],
        "b_dec_init": [StrOptions({"geometric_median", "mean", "zeros"})],
        "batch_size": [IntInterval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [IntInterval(Integral, 1, None, closed="left")],
        "lr_warmup": [IntInterval(Integral, 0, None, closed="left")],
        "l1_warmup": [IntInterval(Integral, 0, None, closed="left")],
        "dead_threshold": [IntInterval(Integral, 1, None, closed="left"), None],
        "aux_k": [IntInterval(Integral, 0, None, closed="left"), None],
        "aux_coef": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [IntInterval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        **_SPARSITY_CONSTRAINTS,
        "sparse_output": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "gpu"}), None],
    }

    def __init__(self, n_components, *, activation="relu", l1=1e-3, k=None, tied=False,
                 normalize_decoder=True, b_dec_init="geometric_median", batch_size=256,
                 learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8, max_iter=200,
                 lr_warmup=0, l1_warmup=0, dead_threshold=None, aux_k=None, aux_coef=1 / 32,
                 early_stopping="auto", validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, shuffle=True, weight_l1=0.0, prune=None, prune_epochs=None,
                 dropout=0.0, activation_threshold=None, sparse_output=False, verbose=0,
                 random_state=None, device=None):
        self.n_components = n_components
        self.activation = activation
        self.l1 = l1
        self.k = k
        self.tied = tied
        self.normalize_decoder = normalize_decoder
        self.b_dec_init = b_dec_init
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.lr_warmup = lr_warmup
        self.l1_warmup = l1_warmup
        self.dead_threshold = dead_threshold
        self.aux_k = aux_k
        self.aux_coef = aux_coef
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.weight_l1 = weight_l1
        self.prune = prune
        self.prune_epochs = prune_epochs
        self.dropout = dropout
        self.activation_threshold = activation_threshold
        self.sparse_output = sparse_output
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------ helpers
    def _k(self):
        return min(self.k or max(1, self.n_components // 16), self.n_components)

    def _aux_k(self):
        if self.activation == "relu":
            return 0
        if self.aux_k is None:
            return min(2 * self._k(), self.n_components)
        return min(self.aux_k, self.n_components)

    def _init_state(self, X, rng):
        n, d = X.shape
        m = self.n_components
        dtype = X.dtype
        W_dec = rng.standard_normal((m, d)).astype(dtype)
        _normalize_rows(W_dec)
        # at most 16 Mi entries densified for the median (wide tf-idf rows)
        size = min(n, 10_000, max(1, (1 << 24) // d))
        sub = _gpu.host_rows(X, rng.choice(n, size=size, replace=False))
        if self.b_dec_init == "geometric_median":
            b_dec = geometric_median(_dense_rows(sub, np.float64))
        elif self.b_dec_init == "mean":
            b_dec = np.asarray(sub.mean(axis=0, dtype=np.float64)).ravel()
        else:
            b_dec = np.zeros(d)
        state = {
            "W_enc": W_dec if self.tied else W_dec.copy(),
            "b_enc": np.zeros(m, dtype=dtype),
            "W_dec": W_dec,
            "b_dec": b_dec.astype(dtype),
        }
        moments = {name: (np.zeros_like(state[name]), np.zeros_like(state[name]))
                   for name in _PARAMS if not (self.tied and name == "W_dec")}
        return state, moments

    def _rates(self, t):
        """Step ``t``'s learning rate and L1 weight (after their warm-ups)
        and Adam's bias corrections ``1 - beta**t`` (both devices' steps)."""
        lr = self.learning_rate * (min(1.0, t / self.lr_warmup) if self.lr_warmup else 1.0)
        l1 = self.l1 * (min(1.0, t / self.l1_warmup) if self.l1_warmup else 1.0)
        return lr, l1, 1.0 - self.beta_1**t, 1.0 - self.beta_2**t

    def _step(self, P, moments, Xb, t, dead, rng=None, mask=None):
        """One Adam step on the minibatch ``Xb``; returns its loss and info."""
        lr, l1, bias1, bias2 = self._rates(t)
        loss, grads, info = sae_loss_grad(
            P, Xb, activation=self.activation, k=self._k(), l1=l1, aux_k=self._aux_k(),
            aux_coef=self.aux_coef, dead=dead, dropout=self.dropout, rng=rng)
        if self.normalize_decoder:
            W_dec = P["W_dec"]
            _rows(project_out_rows, W_dec.shape[0], W_dec, grads["W_dec"], width=W_dec.shape[1])
        for name, (m1, m2) in moments.items():
            _rows(adam_update, P[name].size, P[name].reshape(-1), grads[name].reshape(-1),
                  m1.reshape(-1), m2.reshape(-1), lr, self.beta_1, self.beta_2, self.epsilon,
                  bias1, bias2)
        _sparsify(P["W_enc"], lr * self.weight_l1, mask)
        if self.normalize_decoder:
            _normalize_rows(P["W_dec"])
        return loss, info

    def _epoch(self, X, P, moments, state, rng):
        """One pass over ``X`` in minibatches; returns the mean loss."""
        # Never both pools at once: the idle workers of one spin while the
        # other runs (a ReLU step of 128 latents took 36 ms instead of 1).
        # BLAS stays on one thread: ReLU runs one block of rows per Python
        # thread (25,000 samples/s, against 16,000-20,000 with BLAS threads),
        # TopK its sparse products in Numba's threads.
        with blas_limit(1):
            loss = self._epoch_inner(X, P, moments, state, rng)
        # the weights, and the codes of a few rows (finite weights of 1e200
        # still overflow the pre-activations)
        _check_diverged(self, loss, [*P.values(),
                                     self._encode(X[:256], P, state["threshold"])])
        return loss

    def _epoch_inner(self, X, P, moments, state, rng):
        # sparse rows stay sparse up to _SPARSE_INPUT_DENSITY (products with
        # them and a rank-one shift); denser ones are densified per minibatch
        # into one reused buffer, where BLAS beats the sparse products
        limit = _SPARSE_INPUT_DENSITY[self.activation]
        densify = sp.issparse(X) and _density(X) > limit
        batch = min(self.batch_size, X.shape[0])
        buffer = np.empty(batch * X.shape[1], dtype=X.dtype) if densify else None

        def rows_of(rows):
            return _dense_rows(X[rows], X.dtype, buffer) if densify else X[rows]

        def step(Xb, t, dead, mask):
            return self._step(P, moments, Xb, t, dead, rng, mask)

        return self._epoch_loop(X.shape[0], sp.issparse(X), P, state, rng, rows_of, step,
                                _normalize_rows)

    def _epoch_loop(self, n, sparse, P, state, rng, rows_of, step, normalize):
        """An epoch's minibatch loop, on either device: the order drawn from
        ``rng`` (each minibatch's rows sorted when ``X`` is sparse),
        ``step(rows_of(rows), t, dead, mask)`` on each and the latents'
        counters after it, then the pruning schedule's step (``normalize``:
        the device's row normalisation, for a pruned tied decoder). Returns
        the mean loss."""
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        total = 0.0
        dead_after = self.dead_threshold or state["n_train"]
        for sl in gen_batches(n, min(self.batch_size, n)):
            Xb = rows_of(np.sort(order[sl]) if sparse else order[sl])
            state["t"] += 1
            dead = state["since_fired"] >= dead_after
            loss, info = step(Xb, state["t"], dead, state.get("mask"))
            record_step(state, Xb.shape[0], info)
            total += loss * Xb.shape[0]
        _prune_epoch(self, P["W_enc"], state)
        if self.prune is not None and self.tied and self.normalize_decoder:
            normalize(P["W_dec"])  # the same array: pruning shrank its rows
        return total / n

    # ------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @array_api_method(fits=True, gpu=True)
    def fit(self, X, y=None):
        """Train on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. A sparse matrix of density up to 10% (5% with
            ``activation="relu"``) is never densified: its minibatches enter
            the products as CSR. A denser one is densified one minibatch at
            a time, where BLAS is faster. A CuPy array or ``cupyx`` CSR
            matrix is trained on on its GPU (dense minibatches there, every
            option; the same draws as on the CPU); the fitted parameters
            come back to the host.
        y : Ignored

        Returns
        -------
        self : SparseAutoencoder
        """
        if get_backend(X, self.device, caller=self).name == "cupy":
            return self._fit_gpu(X, partial=False)
        with restore_on_error(self):
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
            rng, X_train, X_val, P, moments, state = self._start_fit(X)
            self._train(X_train, X_val, P, moments, state, rng, self.max_iter)
            return self

    def _start_fit(self, X):
        """Where a fit starts: ``(rng, X_train, X_val, P, moments, state)``,
        the validation rows held out first with ``early_stopping`` (None
        otherwise), then the parameters drawn from the training rows (of
        ``X`` wherever it lives)."""
        rng = check_random_state(self.random_state)
        X_train, X_val = X, None
        if self._holds_out(X.shape[0]):
            n_val = max(1, int(round(self.validation_fraction * X.shape[0])))
            if X.shape[0] - n_val < 1:
                raise ValueError(
                    f"early_stopping needs at least 2 samples, got n_samples={X.shape[0]}.")
            perm = rng.permutation(X.shape[0])
            X_val = _gpu.rows_of(X, np.sort(perm[:n_val]))
            X_train = _gpu.rows_of(X, np.sort(perm[n_val:]))
        P, moments = self._init_state(X_train, rng)
        return rng, X_train, X_val, P, moments, self._new_state(X_train.shape[0])

    def _holds_out(self, n_samples):
        """``early_stopping``, with "auto" resolved for ``n_samples`` rows."""
        if self.early_stopping != "auto":
            return self.early_stopping
        return _AUTO_HOLD_OUT_MIN <= n_samples < 10 * self.n_components

    def _train(self, X, X_val, P, moments, state, rng, epochs, epoch=None, score=None):
        """The epochs, the stopping rule and the commit; ``epoch`` runs one
        epoch and ``score`` scores the validation rows (defaults
        ``self._epoch`` and ``self._explained_variance``; the GPU's from
        sparsecode._gpu_train)."""
        epoch_fn = epoch or self._epoch
        score_fn = score or self._explained_variance
        loss_curve = []
        val_scores = [] if X_val is not None else None
        best_val, best_loss, best_params, no_improve = -np.inf, np.inf, None, 0
        best_threshold = None
        started = time.perf_counter()
        epoch = 0
        for epoch in range(1, epochs + 1):
            loss = epoch_fn(X, P, moments, state, rng)
            loss_curve.append(loss)
            message = f"[SparseAutoencoder] epoch {epoch}: loss {loss:.6g}"
            pruning = _pruning(self, state)
            if X_val is not None:
                score = score_fn(X_val, P, state["threshold"])
                val_scores.append(score)
                message += f", validation explained variance {score:.5f}"
                if pruning:
                    # the schedule removes weights every epoch: neither the
                    # stopping rule nor the best snapshot judge it before it ends
                    pass
                elif score < best_val + self.tol:
                    no_improve += 1
                else:
                    no_improve = 0
                if score > best_val and not pruning:
                    best_val = score
                    best_params = {name: P[name].copy() for name in _PARAMS}
                    best_threshold = state["threshold"]
            elif not pruning:
                no_improve = no_improve + 1 if loss > best_loss - self.tol else 0
                best_loss = min(best_loss, loss)
            if self.verbose:
                print(f"{message} ({time.perf_counter() - started:.2f} s)")
            if no_improve > self.n_iter_no_change:
                break
        else:
            warnings.warn(f"SparseAutoencoder: max_iter={epochs} epochs reached and the "
                          "loss is still improving.", ConvergenceWarning)
        if best_params is not None:
            # the parameters (and BatchTopK threshold) of the best validation
            # epoch; Adam's moments and the step count go on from the last
            P.update(best_params)
            state["threshold"] = best_threshold
            if self.tied:
                P["W_dec"] = P["W_enc"]
        if X_val is not None and best_val > -np.inf:
            # (at most max(validation rows, 10,000) training rows, spread out)
            cap = max(X_val.shape[0], _MEMORISED_ROWS)
            seen = X if X.shape[0] <= cap else _gpu.rows_of(
                X, np.linspace(0, X.shape[0] - 1, cap).astype(np.int64))
            train_score = score_fn(seen, P, state["threshold"])
            if (train_score - best_val > _MEMORISED_GAP
                    and 1 - best_val > 2 * (1 - train_score)):
                warnings.warn(
                    f"SparseAutoencoder explains {train_score:.3f} of the training rows' "
                    f"variance but {best_val:.3f} of the held-out validation rows': it "
                    f"memorises its {X.shape[0]} training rows. Use fewer n_components "
                    f"(now {self.n_components}), a larger l1 (a smaller k), dropout, or "
                    "more data.", UserWarning)
        self._commit(P, moments, state, rng, loss_curve, val_scores, best_val, epoch)

    def _commit(self, P, moments, state, rng, loss_curve, val_scores, best_val, epochs):
        # a GPU fit's arrays come to the host: the fitted model is numpy's
        # wherever it was trained (the tied decoder stays the encoder)
        P = {name: _gpu.to_host(value) for name, value in P.items()}
        if self.tied:
            P["W_dec"] = P["W_enc"]
        moments = {name: _gpu.to_host(pair) for name, pair in moments.items()}
        state["since_fired"] = _gpu.to_host(state["since_fired"])
        if state.get("mask") is not None:
            state["mask"] = _gpu.to_host(state["mask"])
        self.encoder_weights_ = P["W_enc"]
        self.encoder_bias_ = P["b_enc"]
        self.components_ = P["W_dec"]
        self.decoder_bias_ = P["b_dec"]
        self.threshold_ = state["threshold"]
        self.loss_curve_ = loss_curve
        self.validation_scores_ = val_scores
        self.best_validation_score_ = None if val_scores is None else best_val
        self.n_iter_ = epochs
        self.t_ = state["t"]
        dead_after = self.dead_threshold or state["n_train"]
        self.dead_fraction_ = float(np.mean(state["since_fired"] >= dead_after))
        self.encoder_density_ = float(np.count_nonzero(P["W_enc"]) / P["W_enc"].size)
        # a copy: a generator the caller passed in and draws from later must
        # not change how partial_fit resumes
        self._moments, self._state, self._rng = moments, state, copy.deepcopy(rng)

    @_fit_context(prefer_skip_nested_validation=True)
    @array_api_method(fits=True, gpu=True)
    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (a chunk of a stream), continuing from the
        stored parameters, Adam moments and dead-latent counters, which
        pickle with the estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : SparseAutoencoder
        """
        if get_backend(X, self.device, caller=self).name == "cupy":
            return self._fit_gpu(X, partial=True)
        first = not hasattr(self, "components_")
        with restore_on_error(self):
            X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                              reset=first)
            rng, P, moments, state, previous = self._resume(X, first)
            loss = self._epoch(X, P, moments, state, rng)
            self._finish_partial(P, moments, state, rng, previous, loss)
            return self

    def _fit_gpu(self, X, partial):
        from ._gpu_train import autoencoder_fit_gpu

        return autoencoder_fit_gpu(self, X, partial)

    def _new_state(self, n_train):
        """The bookkeeping of a new training: Adam's step count, each
        latent's rows since it last fired, BatchTopK's running threshold."""
        return {"t": 0, "since_fired": np.zeros(self.n_components, dtype=np.int64),
                "threshold": None, "n_train": n_train}

    def _resume(self, X, first):
        """Where training starts: ``(rng, P, moments, state, loss_curve)``,
        new (a fit, or a first partial_fit) or copies of the fitted ones (a
        failed call leaves the estimator as it was)."""
        if first:
            rng = check_random_state(self.random_state)
            P, moments = self._init_state(X, rng)
            return rng, P, moments, self._new_state(X.shape[0]), []
        rng = copy.deepcopy(self._rng)
        P = {name: self._params()[name].astype(X.dtype, copy=True) for name in _PARAMS}
        if self.tied:
            P["W_dec"] = P["W_enc"]
        moments = {name: (a.astype(X.dtype, copy=True), b.astype(X.dtype, copy=True))
                   for name, (a, b) in self._moments.items()}
        return rng, P, moments, copy.deepcopy(self._state), list(self.loss_curve_)

    def _finish_partial(self, P, moments, state, rng, previous, loss):
        self._commit(P, moments, state, rng, [], None, None, 1)
        self.loss_curve_ = previous + [loss]
        self.n_iter_ = len(self.loss_curve_)

    # ------------------------------------------------------------ transform
    def _activate(self, cov, offset, dest, scratch, threshold):
        dtype = cov.dtype
        if self.activation == "relu":
            soft_encode(cov, offset.astype(dtype), dtype.type(0.0), False, dest)
        elif self.activation == "topk":
            topk_relu_encode(cov, offset.astype(dtype), self._k(), dest,
                             scratch.get("work", (2 * cov.shape[1],), np.float64))
        else:
            theta = dtype.type(0.0 if threshold is None else threshold)
            jump_relu_encode(cov, offset.astype(dtype), theta, dest)

    def _params(self):
        return {"W_enc": self.encoder_weights_, "b_enc": self.encoder_bias_,
                "W_dec": self.components_, "b_dec": self.decoder_bias_}

    def _threshold(self):
        return self.threshold_
