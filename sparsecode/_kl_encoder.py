"""KLSparseEncoder: the sparse autoencoder of Ng's CS294A notes (UFLDL),
sigmoid hidden units pulled to a target mean activation by a KL penalty,
trained by L-BFGS or Adam. Its loss and gradient are
:mod:`sparsecode._autoencoder_model`'s ``kl_loss_grad``."""


import warnings
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
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
    _check_diverged,
    _prune_epoch,
    _pruning,
    _rows,
    _sparsify,
    _unpack,
    dropout_scale,
    kl_loss_grad,
)
from ._backend import get_backend
from ._kernels._autoencoder import (
    adam_update,
    sigmoid_encode,
)
from ._threads import kernel_threads
from ._validation import IntInterval, restore_on_error, validate_data

# KLSparseEncoder's L-BFGS judges the loss's decrease over this many iterations
_LBFGS_WINDOW = 10


class _Flat(Exception):
    """Raised by the L-BFGS callback to stop: the loss has flattened."""


class KLSparseEncoder(_AutoencoderBase):
    r"""The sparse autoencoder of Ng's CS294A notes (UFLDL): sigmoid hidden
    units whose mean activation is pulled to ``rho`` by a KL penalty.

    .. math::

        \min \frac{1}{2n} \sum_i \|x_i - \hat x_i\|^2
        + \frac{\lambda}{2} (\|W_1\|^2 + \|W_2\|^2)
        + \beta \sum_j \mathrm{KL}(\rho \,\|\, \hat\rho_j),

    with :math:`a = \sigma(W_1 x + b_1)`, :math:`\hat x = W_2^T a + b_2` (a
    linear decoder, as UFLDL uses for whitened data) and
    :math:`\hat\rho_j` the mean of unit ``j`` over the data (over the
    minibatch with ``solver="adam"``). The loss is evaluated in Gram form
    (``n x m`` and ``m x m`` products only), so a sparse ``X`` is never
    densified.

    Parameters
    ----------
    n_components : int
        Hidden units ``m``.
    rho : float in (0, 1), default=0.05
        Target mean activation.
    beta : float, default=3.0
        Weight of the KL penalty.
    weight_decay : float, default=1e-4
        :math:`\lambda`.
    solver : {"lbfgs", "adam"}, default="lbfgs"
        Full-batch L-BFGS (``scipy.optimize``, analytic gradient) or
        minibatch Adam.
    max_iter : int, default=400
        L-BFGS iterations, or Adam epochs.
    batch_size : int, default=None
        Adam minibatch; ``None`` means ``min(256, n_samples)``.
    learning_rate : float, default=1e-3
        Adam step size.
    tol : float, default=1e-5
        L-BFGS: stop when the loss fell by at most ``tol`` (relative) per
        iteration over the last 10 iterations, or the projected gradient is
        below ``tol`` (``gtol``); 0 runs to ``max_iter`` (or scipy's own
        stop on a loss that no longer moves). The gradient alone never got there: on
        whitened patches it falls to 1e-3 of its start in 1,200 iterations
        while the held-out score stops moving after 300 (every default fit
        warned; benchmarks/README.md "Defaults"). Adam: stop after 10 epochs
        without a loss decrease of ``tol``.
    weight_l1 : float, default=0.0
        L1 penalty on the encoder weights :math:`W_1`, as a proximal step
        after each Adam step (exact zeros); needs ``solver="adam"``.
    prune : float, default=None
        Target density of :math:`W_1` by magnitude pruning on Zhu & Gupta's
        cubic schedule over ``prune_epochs`` epochs; needs ``solver="adam"``.
    prune_epochs : int, default=None
        None: ``max(1, max_iter // 2)``.
    dropout : float, default=0.0
        Inverted dropout on the hidden units in training (the decoder sees
        :math:`a \odot s`, :math:`\hat\rho` the undropped :math:`a`); needs
        ``solver="adam"``; a sparse minibatch stays sparse (the Gram route
        carries the mask). ``transform`` never drops.
    activation_threshold : float, default=None
        Codes below this value become zero after the sigmoid (which is never
        exactly zero), so that the codes are sparse.
    sparse_output : bool, default=False
        ``transform`` returns CSR codes (use with ``activation_threshold``).
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
        Seeds the UFLDL initialisation (uniform in
        :math:`\pm\sqrt{6 / (m + d + 1)}`) and the Adam minibatches.
    device : {"cpu", "gpu"}, default=None
        Where ``fit`` and ``transform`` compute. None: where ``X`` lives (a
        CuPy array on its GPU: the loss and gradient of the fit there, the
        model coming back to the host; the codes of ``transform`` staying
        there). "gpu": numpy / scipy.sparse input is copied to the current
        GPU and the result copied back; needs the ``gpu`` extra. "cpu": CuPy
        input is refused (no silent copies).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Decoder weights :math:`W_2` (one row per hidden unit).
    encoder_weights_ : ndarray of shape (n_components, n_features)
        :math:`W_1`: the filters.
    encoder_bias_ : ndarray of shape (n_components,)
    decoder_bias_ : ndarray of shape (n_features,)
    mean_activation_ : ndarray of shape (n_components,)
        :math:`\hat\rho` on the training data.
    encoder_density_ : float
        Share of non-zero encoder weights (sparse products in ``transform``
        at 10% or less).
    loss_curve_ : list of float
        Loss per L-BFGS iteration or Adam epoch.
    n_iter_ : int
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    References
    ----------
    .. [1] A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
    .. [2] UFLDL tutorial, "Sparse Autoencoder" and "Linear Decoders".

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import KLSparseEncoder
    >>> X = np.random.default_rng(0).standard_normal((300, 16))
    >>> enc = KLSparseEncoder(10, rho=0.1, max_iter=50, random_state=0).fit(X)
    >>> enc.transform(X).shape
    (300, 10)
    """

    _parameter_constraints = {
        "n_components": [IntInterval(Integral, 1, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"lbfgs", "adam"})],
        "max_iter": [IntInterval(Integral, 1, None, closed="left")],
        "batch_size": [IntInterval(Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        **_SPARSITY_CONSTRAINTS,
        "sparse_output": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "gpu"}), None],
    }

    def __init__(self, n_components, *, rho=0.05, beta=3.0, weight_decay=1e-4,
                 solver="lbfgs", max_iter=400, batch_size=None, learning_rate=1e-3,
                 tol=1e-5, weight_l1=0.0, prune=None, prune_epochs=None, dropout=0.0,
                 activation_threshold=None, sparse_output=False, verbose=0,
                 random_state=None, device=None):
        self.n_components = n_components
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.tol = tol
        self.weight_l1 = weight_l1
        self.prune = prune
        self.prune_epochs = prune_epochs
        self.dropout = dropout
        self.activation_threshold = activation_threshold
        self.sparse_output = sparse_output
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    def _loss(self, theta, X, scale=None):
        if _gpu.is_gpu_array(X):
            from ._autoencoder_xp import kl_loss_grad_gpu

            return kl_loss_grad_gpu(theta, X, self.n_components, self.rho, self.beta,
                                    self.weight_decay, dropout_scale=scale)
        return kl_loss_grad(theta, X, self.n_components, self.rho, self.beta,
                            self.weight_decay, dropout_scale=scale)

    @_fit_context(prefer_skip_nested_validation=True)
    @array_api_method(fits=True, gpu=True)
    def fit(self, X, y=None):
        """Train on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (whitened patches, typically); never densified on
            the CPU. A CuPy array or ``cupyx`` CSR matrix trains on its GPU:
            the loss and gradient there (a CSR ``X`` densified on the
            device), the optimiser on the host; the fitted parameters come
            back to the host.
        y : Ignored

        Returns
        -------
        self : KLSparseEncoder
        """
        with restore_on_error(self):
            X = self._validate_fit(X)
            rng = check_random_state(self.random_state)
            n, d = X.shape
            m = self.n_components
            r = np.sqrt(6.0 / (m + d + 1))
            theta = np.concatenate([rng.uniform(-r, r, 2 * m * d), np.zeros(m + d)])
            if self.solver == "lbfgs":
                given = [name for name, off in (("weight_l1", 0.0), ("prune", None),
                                                ("dropout", 0.0))
                         if getattr(self, name) != off]
                if given:
                    raise ValueError(f"{', '.join(given)} need(s) solver='adam': L-BFGS "
                                     "takes no proximal, pruning or random steps.")
            X64 = X if X.dtype == np.float64 else X.astype(np.float64)
            gpu = _gpu.is_gpu_array(X64)
            if gpu and self.solver == "lbfgs" and _gpu.cupyx_sparse().issparse(X64):
                # every L-BFGS evaluation takes all of X: densified once on
                # the device rather than at each call
                X64 = X64.toarray()
            # serial Numba kernels; BLAS on one thread (per row block on the
            # dense route; the sparse Gram route runs on one thread); on the
            # GPU, X's device current
            with kernel_threads(1, 1), (_gpu.on_device(X64) if gpu else nullcontext()):
                if self.solver == "lbfgs":
                    theta, curve, n_iter = self._lbfgs(theta, X64)
                else:
                    theta, curve, n_iter = self._adam(theta, X64, rng)
                _, _, rho_hat = self._loss(theta, X64)
                _check_diverged(self, curve[-1] if curve else 0.0, [theta, rho_hat])
            W1, W2, b1, b2 = (a.astype(X.dtype) for a in _unpack(theta, m, d))
            self.encoder_weights_, self.components_ = W1, W2
            self.encoder_bias_, self.decoder_bias_ = b1, b2
            self.mean_activation_ = rho_hat
            self.loss_curve_, self.n_iter_ = curve, n_iter
            self.encoder_density_ = float(np.count_nonzero(W1) / W1.size)
            return self

    def _validate_fit(self, X):
        """``X`` for a fit: numpy / scipy.sparse by scikit-learn's rules, or
        on the GPU (CuPy input, ``device="gpu"``): the loss and its gradient
        computed there, the optimiser on the host."""
        if get_backend(X, self.device, caller=self).name == "cupy":
            return _gpu.validate(self, X, reset=True)[0]
        return validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])

    def _lbfgs(self, theta, X):
        from scipy.optimize import minimize

        curve = []

        def fun(v):
            loss, grad, _ = self._loss(v, X)
            return loss, grad

        last = []

        def callback(intermediate_result):
            curve.append(float(intermediate_result.fun))
            last[:] = [np.array(intermediate_result.x)]
            if self.verbose:
                print(f"[KLSparseEncoder] iteration {len(curve)}: loss {curve[-1]:.6g}")
            w = _LBFGS_WINDOW
            if len(curve) > w and curve[-1 - w] - curve[-1] <= w * self.tol * abs(curve[-1]):
                if self.verbose:
                    print(f"[KLSparseEncoder] stopped: the loss fell by at most tol="
                          f"{self.tol} per iteration over the last {w} iterations")
                raise _Flat

        try:
            result = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                              options={"maxiter": self.max_iter, "gtol": self.tol})
        except _Flat:
            return last[0], curve, len(curve)
        if result.nit >= self.max_iter and not result.success:
            warnings.warn(f"KLSparseEncoder: L-BFGS reached max_iter={self.max_iter} "
                          "iterations without converging.", ConvergenceWarning)
        return result.x, curve, int(result.nit)

    def _adam(self, theta, X, rng):
        n, d = X.shape
        m = self.n_components
        batch = min(self.batch_size or 256, n)
        m1, m2 = np.zeros_like(theta), np.zeros_like(theta)
        curve, best, stale, t = [], np.inf, 0, 0
        W1 = theta[: m * d].reshape(m, d)  # a view: the steps update it
        state = {}
        epoch = 0
        for epoch in range(1, self.max_iter + 1):
            order = rng.permutation(n)
            total = 0.0
            for sl in gen_batches(n, batch):
                rows = np.sort(order[sl])
                Xb = _gpu.rows_of(X, rows)
                scale = None
                if self.dropout:
                    scale = dropout_scale(rng, (len(rows), m), self.dropout, np.dtype(np.float64))
                loss, grad, _ = self._loss(theta, Xb, scale)
                t += 1
                _rows(adam_update, theta.size, theta, grad, m1, m2, self.learning_rate, 0.9,
                      0.999, 1e-8, 1 - 0.9**t, 1 - 0.999**t)
                _sparsify(W1, self.learning_rate * self.weight_l1, state.get("mask"))
                total += loss * len(rows)
            _prune_epoch(self, W1, state)
            curve.append(total / n)
            if self.verbose:
                print(f"[KLSparseEncoder] epoch {epoch}: loss {curve[-1]:.6g}")
            if not _pruning(self, state):  # the schedule raises the loss on purpose
                stale = stale + 1 if curve[-1] > best - self.tol else 0
                best = min(best, curve[-1])
            if stale >= 10:
                break
        else:
            warnings.warn(f"KLSparseEncoder: max_iter={self.max_iter} epochs reached and "
                          "the loss is still improving.", ConvergenceWarning)
        return theta, curve, epoch

    def _activate(self, cov, offset, dest, scratch, threshold):
        sigmoid_encode(cov, offset, dest)

    def _params(self):
        return {"W_enc": self.encoder_weights_, "b_enc": self.encoder_bias_,
                "W_dec": self.components_, "b_dec": np.zeros_like(self.decoder_bias_),
                "b_out": self.decoder_bias_}

    def _threshold(self):
        return None
