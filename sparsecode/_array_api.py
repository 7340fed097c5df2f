"""Inputs from any array namespace, under scikit-learn's array API dispatch.

Inside ``sklearn.config_context(array_api_dispatch=True)`` (which needs the
environment variable ``SCIPY_ARRAY_API=1`` set before SciPy is imported) the
estimators and :func:`~sparsecode.sparse_encode` take arrays of any namespace
``array_api_compat`` knows (PyTorch, CuPy, ``array_api_strict``, ...) and
give their results, and keep their fitted arrays, in the input's namespace
and on its device. Where the computation runs:

- numpy, ``scipy.sparse``, lists: on the CPU, as without dispatch;
- CuPy: the GPU backend where it covers the call (``sparse_encode`` with
  FISTA, ISTA, OMP or the threshold, every ``transform``, every fit with
  the settings the GPU covers: ``_gpu_supports``), the host for the rest;
- another namespace's arrays on the CPU (PyTorch CPU tensors): viewed as
  numpy (no copy where the library allows) for the Numba kernels;
- another namespace's arrays on another device (a PyTorch CUDA tensor):
  ``sparse_encode``'s FISTA, ISTA and threshold on dense input run there, in
  that namespace (:mod:`sparsecode._dense` with its generic kernels), where
  the device has float64; the estimators and the other algorithms copy to
  the host and back.

Without dispatch, arrays of other namespaces go through ``numpy.asarray``
as everywhere in scikit-learn.
"""

import copy
import functools

import array_api_compat
import numpy as np
from sklearn import config_context

from ._backend import get_backend
from ._encode_rules import check_arguments, check_shapes, solver_settings
from ._namespace import (
    NUMPY_WHERE,
    dispatching,
    has_float64,
    is_foreign,
    to_namespace,
    to_numpy,
    where,
)


def _state_arrays(est):
    """The estimator's own array state by name: fitted and private
    attributes, not its constructor parameters (``dict_init`` stays what the
    user gave, for ``get_params``, ``clone`` and the next fit)."""
    params = set(est._get_param_names())
    return {name: value for name, value in vars(est).items()
            if name not in params and array_api_compat.is_array_api_obj(value)}


def _converted(arrays, convert):
    """``convert`` each array once: arrays that are one object (a tied
    decoder and encoder) stay one object."""
    done = {}
    out = {}
    for name, value in arrays.items():
        if id(value) not in done:
            done[id(value)] = convert(value)
        out[name] = done[id(value)]
    return out


def _host_state(est):
    """The estimator's array state as numpy arrays, by name."""
    return _converted({name: value for name, value in _state_arrays(est).items()
                       if not isinstance(value, np.ndarray)}, to_numpy)


def _moved_state(est, xp, dev):
    """The estimator's numeric numpy state moved to ``xp`` on ``dev``."""
    return _converted({name: value for name, value in _state_arrays(est).items()
                       if isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
                       and name != "feature_names_in_"},
                      lambda value: to_namespace(value, xp, dev))


def host_view(est):
    """``est`` itself, or a shallow copy with numpy arrays when it was
    fitted on another namespace's arrays (for methods outside the
    dispatch, whose output is not an array of that namespace)."""
    if "_array_api_fit" not in vars(est):
        return est
    host = copy.copy(est)
    vars(host).update(_host_state(est))
    return host


def _check_same_namespace(est, X, method):
    fitted = vars(est).get("_array_api_fit", NUMPY_WHERE)
    given = where(X) if dispatching() else NUMPY_WHERE
    if given == fitted:
        return
    if not dispatching():
        raise ValueError(
            f"{type(est).__name__} was fitted on {fitted[0]} arrays (device {fitted[1]}) "
            f"under array_api_dispatch: call {method}() inside "
            "sklearn.config_context(array_api_dispatch=True) with such arrays, or refit.")
    raise ValueError(
        f"Inputs passed to {type(est).__name__}.{method}() must use the same namespace and "
        f"the same device as those passed to fit(): fit had {fitted[0]} arrays (device "
        f"{fitted[1]}), {method}() has {given[0]} (device {given[1]}). Refit, or move "
        "the estimator with sklearn.utils._array_api.move_estimator_to.")


def _is_fitted(est):
    return hasattr(est, "n_features_in_")


def array_api_method(*, fits=False, gpu=False):
    """Run an estimator method on inputs of any array namespace (see the
    module): check the input's namespace against the fit's, compute on
    numpy (or on CuPy where ``gpu``), and return the result, and after a
    fit (``fits``) the fitted arrays, in the input's namespace and device.
    A fit that raises leaves the estimator as it was."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, X, *args, **kwargs):
            name = method.__name__
            refit = name in ("fit", "fit_transform") or not _is_fitted(self)
            if not refit:
                _check_same_namespace(self, X, name)
            if not dispatching() and "_array_api_fit" not in vars(self):
                return method(self, X, *args, **kwargs)
            foreign = is_foreign(X)
            # the method computes on numpy (or CuPy by its own GPU path) as
            # without dispatch: scikit-learn helpers it calls (randomized_svd)
            # would otherwise take other routes on the same numpy arrays
            with config_context(array_api_dispatch=False):
                return _call(self, method, fits, gpu, foreign, X, args, kwargs)

        return wrapper

    return decorate


def _call(self, method, fits, gpu, foreign, X, args, kwargs):
    # CuPy goes to the GPU path where it covers the estimator's settings
    # (_gpu_supports), else to the host like the other namespaces
    native = (foreign and gpu and get_backend(X).name == "cupy"
              and getattr(self, "_gpu_supports", lambda name: True)(method.__name__))
    Xin = X if native or not foreign else to_numpy(X)
    # y, lengths: numpy whatever their namespace (the fits ignore y)
    args = [to_numpy(a) for a in args]
    kwargs = {key: to_numpy(a) for key, a in kwargs.items()}
    if not fits:
        # self is not touched (a copy if it holds another namespace's
        # arrays), so two threads may transform at once
        result = method(host_view(self), Xin, *args, **kwargs)
    else:
        state = dict(vars(self))
        try:
            vars(self).update(_host_state(self))
            vars(self).pop("_array_api_fit", None)
            result = method(self, Xin, *args, **kwargs)
            if foreign:
                xp, dev = array_api_compat.array_namespace(X), array_api_compat.device(X)
                vars(self).update(_moved_state(self, xp, dev))
                self._array_api_fit = where(X)
        except BaseException:
            vars(self).clear()
            vars(self).update(state)
            raise
    if result is self or not foreign or native:
        return result
    return to_namespace(result, array_api_compat.array_namespace(X), array_api_compat.device(X))


def sparse_encode_any(sparse_encode, backend, X, dictionary, *, init, gram, **kwargs):
    """``sparse_encode`` of a non-numpy ``X`` under dispatch (CuPy's with an
    algorithm the GPU does not run): the dense FISTA, ISTA and threshold in
    ``X``'s namespace on its device when ``backend`` (``get_backend(X)``) is
    that namespace's, with its kernels (the generic ones of
    :mod:`sparsecode._dense`); otherwise, and for the other algorithms and
    CSR output, on numpy and back. Codes (and ``n_iter``) in ``X``'s
    namespace."""
    from . import _dense

    xp = array_api_compat.array_namespace(X)
    dev = array_api_compat.device(X)
    on_device = (backend.name == "namespace" and kwargs["device"] is None
                 and kwargs["algorithm"] in backend.supports
                 and kwargs["n_nonzero_coefs"] is None and not kwargs["sparse_output"]
                 and has_float64(xp, dev))
    if not on_device:
        result = sparse_encode(to_numpy(X), to_numpy(dictionary), init=to_numpy(init),
                               gram=to_numpy(gram), **kwargs)
        return to_namespace(result, xp, dev)
    X = _device_matrix(xp, dev, X, "X")
    D = _device_matrix(xp, dev, dictionary, "dictionary", dtype=X.dtype)
    n, p = X.shape
    k = D.shape[0]
    check_shapes(X.shape, D.shape)
    algorithm = check_arguments(kwargs["algorithm"], l2=kwargs["l2"],
                                positive=kwargs["positive"], n_nonzero_coefs=None,
                                backend=backend.name)
    alpha, _, _ = solver_settings(algorithm, alpha=kwargs["alpha"], n_nonzero_coefs=None,
                                  n_features=p, n_components=k)
    if init is not None:
        init = _device_matrix(xp, dev, init, "init", dtype=X.dtype)
    if gram is not None:
        gram = _device_matrix(xp, dev, gram, "gram", dtype=xp.float64)
    check_shapes(X.shape, D.shape, init_shape=None if init is None else init.shape,
                 gram_shape=None if gram is None else gram.shape)
    codes, n_iter, n_failed = _dense.encode(
        backend.namespace(), backend.kernels(), X, D, algorithm=algorithm, alpha=alpha,
        l2=kwargs["l2"], positive=kwargs["positive"], max_iter=kwargs["max_iter"],
        tol=kwargs["tol"], init=init,
        gram=gram, responses=lambda rows: rows @ D.T,
        sq_norms=lambda rows: xp.sum(xp.astype(rows, xp.float64) ** 2, axis=1),
        chunks=_dense.row_chunks(n, k))
    _dense.warn_failed(algorithm, kwargs["max_iter"], n_failed, n)
    return (codes, n_iter) if kwargs["return_n_iter"] else codes


def _device_matrix(xp, dev, A, name, dtype=None):
    """``A`` as a finite, non-empty 2-D floating array of ``xp`` on ``dev``
    (numpy input moved there; integers become float64)."""
    if where(A) == NUMPY_WHERE:
        A = np.asarray(A)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{name} has dtype {A.dtype}: a real-valued array is needed.")
        A = to_namespace(A, xp, dev)
    elif array_api_compat.array_namespace(A) is not xp or array_api_compat.device(A) != dev:
        raise ValueError(f"{name} must use the same array namespace and device as X.")
    if A.ndim != 2:
        raise ValueError(f"Expected 2D array for {name}, got {A.ndim}D array instead.")
    if dtype is None:
        if xp.isdtype(A.dtype, "real floating"):
            dtype = A.dtype if A.dtype == xp.float32 else xp.float64
        elif xp.isdtype(A.dtype, ("integral", "bool")):
            dtype = xp.float64
        else:
            raise TypeError(f"{name} has dtype {A.dtype}: a real-valued array is needed.")
    A = xp.astype(A, dtype)
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"Found array with shape {tuple(A.shape)}: {name} needs at least "
                         "one row and one column.")
    if not bool(xp.all(xp.isfinite(A))):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return A
