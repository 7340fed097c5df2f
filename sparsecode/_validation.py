"""Parameter constraints shared by the estimators; a failed call leaves an
estimator as it was."""

from contextlib import contextmanager
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data as _sk_validate_data

from . import _namespace


class IntInterval(Interval):
    """scikit-learn's ``Interval(Integral, ...)`` without booleans: ``True``
    is an ``Integral`` to Python, and ``n_components=True`` would otherwise
    pass validation and fail later inside numpy with "an integer is
    required"."""

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)


class _AnyInt(IntInterval):
    def __str__(self):
        return "an int"


# any integer (n_jobs: the meaning of its sign is checked where it is used)
ANY_INT = _AnyInt(Integral, None, None, closed="neither")


def validate_data(estimator, X="no_validation", *args, **kwargs):
    """scikit-learn's ``validate_data``, refusing GPU arrays first with a
    message that says what runs where (numpy's conversion would otherwise
    fail inside CuPy with "Implicit conversion to a NumPy array is not
    allowed")."""
    if _namespace.is_gpu_array(X):  # (a stand-in GPU backend's arrays too, in the tests)
        raise TypeError(
            f"This {type(estimator).__name__} call runs on the CPU only so far: pass numpy "
            "or scipy.sparse data (cupy.asnumpy(X)). CuPy arrays go so far to "
            "sparse_encode (FISTA, ISTA, OMP, threshold) and to every estimator's fit "
            "and transform (with the settings each documents). Inside "
            "sklearn.config_context(array_api_dispatch=True) the other calls run on the "
            "host and return their results on the GPU.")
    return _sk_validate_data(estimator, X, *args, **kwargs)


@contextmanager
def restore_on_error(estimator):
    """A ``fit`` that raises leaves the estimator's attributes as they were,
    ``n_features_in_`` (which validation resets first) included. Shallow: the
    fits create their arrays anew rather than writing into fitted ones."""
    state = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(state)
        raise
