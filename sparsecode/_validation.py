"""Parameter constraints shared by the estimators."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval


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
