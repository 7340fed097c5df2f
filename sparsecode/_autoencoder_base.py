"""The base class of the autoencoders (:mod:`sparsecode._autoencoder`,
:mod:`sparsecode._kl_encoder`): encoding at transform time, sparse or dense
encoder weights, inverse transform, explained variance, score and tags."""


from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from . import _gpu
from ._array_api import array_api_method
from ._backend import get_backend, run_on
from ._chunks import encode_rows, rows_per_chunk
from ._kernels._autoencoder import (
    csr_weight_product,
    zero_below,
)
from ._validation import IntInterval, validate_data

_SPARSITY_CONSTRAINTS = {
    "weight_l1": [Interval(Real, 0, None, closed="left")],
    "prune": [Interval(Real, 0, 1, closed="neither"), None],
    "prune_epochs": [IntInterval(Integral, 1, None, closed="left"), None],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "activation_threshold": [Interval(Real, 0, None, closed="left"), None],
}

# transform multiplies by the encoder weights as CSR when at most this share
# of them is non-zero: the CSR product broke even with the dense GEMM at 10%
# density (1.07x and 1.44x on the two problems of benchmarks/sparse_weights.py,
# 0.64x and 0.70x at 30%).
_SPARSE_ENCODER_DENSITY = 0.10


class _AutoencoderBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Transform (chunked GEMM + a fused activation), decoding and the
    explained-variance score shared by the autoencoders; a subclass gives
    ``_activate``, ``_params`` and ``_threshold``. ``_params`` names the
    encoder input shift ``b_dec`` (the SAE subtracts its decoder bias before
    encoding) and, when the decoder adds another bias, ``b_out``."""

    sparse_output = False

    def _gpu_supports(self, method):
        """Whether the GPU covers ``method`` with these settings: every
        method, with every setting."""
        return True

    # ------------------------------------------------------------ transform
    def _encode(self, X, P, threshold, sparse_output=False):
        """Codes of ``X`` (chunk by chunk: one GEMM straight into the output
        rows, one Numba pass over them)."""
        dtype = X.dtype
        W_enc = P["W_enc"].astype(dtype, copy=False)
        M = np.ascontiguousarray(W_enc.T)
        # the pre-activation is cov - offset, with the encoder's input shift
        offset = (P["b_dec"].astype(np.float64) @ W_enc.T.astype(np.float64)
                  - P["b_enc"].astype(np.float64))

        cut = self.activation_threshold

        def activate(cov, dest, Xc, scratch):
            self._activate(cov, offset, dest, scratch, threshold)
            if cut is not None:
                zero_below(dest, dest.dtype.type(cut))

        product = None
        density = np.count_nonzero(W_enc) / max(W_enc.size, 1)
        if density <= _SPARSE_ENCODER_DENSITY and not sp.issparse(X):
            W = sp.csr_matrix(W_enc)

            def product(Xc, out):
                csr_weight_product(Xc, W.indptr, W.indices, W.data, out)
                return out

        return encode_rows(X, M, W_enc.shape[0], activate, sparse_output=sparse_output,
                           product=product)

    @array_api_method(gpu=True)
    def transform(self, X):
        """Encode ``X``: ``act(W_enc (x - b_dec) + b_enc)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data; a sparse matrix is never densified. A CuPy array or
            ``cupyx.scipy.sparse`` matrix is encoded on its GPU and the codes
            come back there.

        Returns
        -------
        codes : {ndarray, sparse matrix} of shape (n_samples, n_components)
            Dense, or CSR with ``sparse_output=True``; in ``X``'s dtype.
        """
        check_is_fitted(self)
        backend = get_backend(X, self.device, caller=self)
        if backend.name == "cupy":  # CuPy input: the codes stay on its GPU
            return run_on(backend, X,
                          lambda X: self._encode_gpu(_gpu.device_matrix(self, X)[0]),
                          self._validate_transform)
        X = self._validate_transform(X)
        return self._encode(X, self._params(), self._threshold(), self.sparse_output)

    def _validate_transform(self, X):
        return validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                             reset=False)

    def _encode_gpu(self, X, P=None, threshold=None, sparse_output=None):
        """The codes of checked GPU input by the GPU's kernels, left there.
        ``P`` (host parameters, with BatchTopK's ``threshold``) and
        ``sparse_output`` replace the fitted ones (the validation score of a
        fit in progress)."""
        if P is None:
            P, threshold = self._params(), self._threshold()
        activation = getattr(self, "activation", "sigmoid")
        return _gpu.autoencoder_transform_gpu(
            X, P, activation=activation, n_keep=self._k() if activation == "topk" else 0,
            threshold=threshold, cut=self.activation_threshold,
            sparse_output=self.sparse_output if sparse_output is None else sparse_output)

    @array_api_method()
    def inverse_transform(self, X):
        """Decode codes: ``codes @ components_ + decoder_bias_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        from sklearn.utils import check_array

        codes = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        m = self.components_.shape[0]
        if codes.shape[1] != m:
            raise ValueError(f"X has {codes.shape[1]} columns, the codes of this estimator "
                             f"have {m}.")
        W = self.components_.astype(codes.dtype, copy=False)
        return np.asarray(codes @ W) + self.decoder_bias_.astype(codes.dtype)

    def _explained_variance(self, X, P, threshold):
        """``1 - sum ||x - x_hat||^2 / sum ||x - mean||^2`` by chunks; for a
        sparse ``X`` the squares come from the Gram identity
        ``||x - x_hat||^2 = ||x||^2 - 2 x.x_hat + ||x_hat||^2``."""
        # blocks of about 4 Mi code entries: each is encoded (itself in
        # cache-sized chunks) and decoded in one go
        rows = rows_per_chunk(max(P["W_enc"].shape), 1 << 22)
        res, sq, total = 0.0, 0.0, np.zeros(X.shape[1])
        W = P["W_dec"].astype(np.float64)
        for start in range(0, X.shape[0], rows):
            Xc = X[start:start + rows]
            # dense codes made CSR by SciPy, not by encode_rows' sparse_output:
            # a fit's validation score then compiles no CSR kernels (0.3 s of
            # a cold first fit; the conversion is small beside the encoding's
            # GEMM that made the codes)
            codes = sp.csr_matrix(self._encode(Xc, P, threshold))
            X_hat = np.asarray(codes @ W) + P.get("b_out", P["b_dec"])
            if sp.issparse(Xc):
                x_sq = float(Xc.multiply(Xc).sum())
                cross = float(Xc.multiply(X_hat).sum())
                res += x_sq - 2 * cross + float(np.einsum("ij,ij->", X_hat, X_hat))
                total += np.asarray(Xc.sum(axis=0)).ravel()
                sq += x_sq
            else:
                Xd = Xc.astype(np.float64)
                D = Xd - X_hat
                res += float(np.einsum("ij,ij->", D, D))
                total += Xd.sum(axis=0)
                sq += float(np.einsum("ij,ij->", Xd, Xd))
        n = X.shape[0]
        centred = sq - float(total @ total) / n
        return 1.0 - res / centred if centred > 0 else 0.0

    @array_api_method()
    def score(self, X, y=None):
        """Explained variance of ``X``'s reconstruction:
        ``1 - sum ||x - x_hat||^2 / sum ||x - mean(X)||^2``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                          reset=False)
        return self._explained_variance(X, self._params(), self._threshold())

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # sparsecode._array_api; CSR output is not an array of the input's namespace
        tags.array_api_support = not getattr(self, "sparse_output", False)
        return tags
