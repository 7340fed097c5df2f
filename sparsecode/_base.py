"""Shared pieces of the dictionary-based estimators: coding at transform time,
reconstruction, and the lasso objective as a score."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _gpu
from ._array_api import array_api_method
from ._backend import get_backend, run_on
from ._dictionary_model import lasso_objective
from ._encode import sparse_encode
from ._encode_rules import SUPPORTED, pick_algorithm
from ._validation import validate_data


class BaseSparseCoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Transform, inverse transform and score for estimators with a fitted
    ``components_`` (atoms as rows) and the ``transform_*`` parameters."""

    def _transform_alpha(self):
        if self.transform_alpha is not None:
            return self.transform_alpha
        if self._transform_algorithm_used() == "omp":
            return None
        return self.alpha

    def _transform_algorithm_used(self):
        # (an l1 "auto" stays "auto": sparse_encode decides it from the Gram)
        return pick_algorithm(self.transform_algorithm, self.transform_n_nonzero_coefs)

    def _encode(self, X, sparse_output=False):
        return sparse_encode(
            X, self.components_, algorithm=self.transform_algorithm,
            alpha=self._transform_alpha(), n_nonzero_coefs=self.transform_n_nonzero_coefs,
            positive=self.positive_code,
            l2=self.l2 if self._transform_algorithm_used() != "omp" else 0.0,
            sparse_output=sparse_output, n_jobs=self.n_jobs,
        )

    @array_api_method(gpu=True)
    def transform(self, X):
        """Encode ``X`` on the learned dictionary.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode. A CuPy array or ``cupyx`` CSR matrix is coded on
            its GPU with ``transform_algorithm`` "auto" (FISTA there, OMP
            with ``transform_n_nonzero_coefs``), "fista", "ista", "omp" or
            "threshold", and the codes stay there.

        Returns
        -------
        codes : {ndarray, sparse matrix} of shape (n_samples, n_components)
            The codes (CSR with ``sparse_output=True``); with ``split_sign=True``
            the positive and negative parts side by side, ``2 * n_components``
            columns.
        """
        check_is_fitted(self)
        backend = get_backend(X, getattr(self, "device", None), caller=self)
        if backend.name == "cupy":
            return run_on(backend, X, self._transform_gpu, self._validate_transform)
        X = self._validate_transform(X)
        codes = self._encode(X, sparse_output=self.sparse_output)
        if not self.split_sign:
            return codes
        if sp.issparse(codes):
            pos = codes.maximum(0)
            neg = (-codes).maximum(0)
            out = sp.hstack([pos, neg], format="csr")
            return out if not isinstance(codes, sp.sparray) else sp.csr_array(out)
        return np.hstack([np.maximum(codes, 0), np.maximum(-codes, 0)])

    def _validate_transform(self, X):
        return validate_data(self, X, accept_sparse=True, dtype=[np.float64, np.float32],
                             reset=False)

    def _gpu_supports(self, method):
        """Whether the GPU backend covers ``method`` with these settings
        (array API dispatch sends CuPy input to the host otherwise)."""
        return method != "transform" or self._transform_algorithm_used() in SUPPORTED["cupy"]

    def _transform_gpu(self, X):
        """CuPy input: ``sparse_encode`` on its GPU (``transform_algorithm``
        "auto", "fista", "ista", "omp" or "threshold"), the sign split there too;
        the codes stay on the GPU."""
        cp, csp = _gpu.cupy(), _gpu.cupyx_sparse()
        _gpu.check_features(self, X.shape[-1])
        codes = self._encode(X)
        if self.split_sign:
            codes = cp.hstack([cp.maximum(codes, 0), cp.maximum(-codes, 0)])
        return csp.csr_matrix(codes) if self.sparse_output else codes

    @array_api_method()
    def inverse_transform(self, X):
        """Reconstruct data from codes: ``X @ components_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_components)
            Codes, as returned by ``transform`` (``2 * n_components`` columns
            with ``split_sign=True``).

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        from sklearn.utils import check_array

        codes = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        k = self.components_.shape[0]
        width = 2 * k if self.split_sign else k
        if codes.shape[1] != width:
            raise ValueError(
                f"X has {codes.shape[1]} columns but codes of this estimator have {width}."
            )
        if self.split_sign:
            codes = codes[:, :k] - codes[:, k:]
        out = codes @ self.components_.astype(codes.dtype, copy=False)
        return np.asarray(out.todense() if sp.issparse(out) else out)

    @array_api_method()
    def score(self, X, y=None):
        """Minus the mean lasso objective of ``X`` coded with the transform
        settings: higher is better, so ``GridSearchCV`` can choose ``alpha``
        and ``n_components`` without labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, dtype=[np.float64, np.float32],
                          reset=False)
        codes = self._encode(X)
        if self._transform_algorithm_used() == "omp":
            # OMP's alpha is a residual target: score with the l1 weight learnt with
            alpha, l2 = self.alpha, 0.0
        else:
            alpha, l2 = self._transform_alpha(), self.l2
        return -float(np.mean(lasso_objective(X, codes, self.components_, alpha, l2)))

    @property
    def _n_features_out(self):
        k = self.components_.shape[0]
        return 2 * k if self.split_sign else k

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # sparsecode._array_api; CSR output is not an array of the input's namespace
        tags.array_api_support = not getattr(self, "sparse_output", False)
        return tags
