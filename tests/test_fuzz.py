"""A fuzz run with a fixed budget: hypothesis draws arguments of every kind
(wrong types, shapes, dtypes, NaN and infinities, odd sparse formats, out of
range parameters) for ``sparse_encode`` and for every estimator's
parameters. Each call either raises ``ValueError`` / ``TypeError`` with a
message, or returns finite output of the documented shape and dtype; no
other exception (a Numba typing error, an IndexError from a kernel, a
ZeroDivisionError) and no NaN from finite input.

The budget is ``SPARSECODE_FUZZ_EXAMPLES`` examples per test (default 300,
what CI runs in about 15 seconds, the same examples every run); a longer
run beside CI, drawing new examples each time::

    SPARSECODE_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/test_fuzz.py
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.utils._param_validation import StrOptions

from sparsecode import (
    DictionaryLearner,
    KLSparseEncoder,
    SparseAttentionTransformer,
    SparseAutoencoder,
    ThresholdEncoder,
    sparse_encode,
)

BUDGET = int(os.environ.get("SPARSECODE_FUZZ_EXAMPLES", "300"))
# CI's default budget replays the same examples every run (a gate should not
# fail by luck); a budget given explicitly explores new ones each time
FUZZ = settings(max_examples=BUDGET, deadline=None,
                derandomize="SPARSECODE_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# values of every kind a parameter might be given by mistake
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(["", "auto", "x", "0.1", "lars", "dense", "relu"]),
    st.just([0.1]), st.just((1, 2)), st.just(np.float32(0.5)), st.just(np.array([1.0, 2.0])),
)

FINITE = st.one_of(st.floats(-1e3, 1e3, width=64), st.just(0.0))
ELEMENTS = st.one_of(
    FINITE,
    st.sampled_from([0.0, -0.0, 1e-300, 1e30, -1e30, 1e200, np.nan, np.inf, -np.inf]),
)


def _sometimes(data, valid, odd, label, odds=10):
    """``valid`` most of the time, ``odd`` one draw in ``odds``: a call with
    one thing wrong reaches further than one with everything wrong."""
    # (not integers(...) == 0: hypothesis draws small integers, 0 most, far
    # more often than uniformly)
    if data.draw(st.sampled_from([False] * (odds - 1) + [True]), label=f"{label} is odd"):
        return data.draw(odd, label=label)
    return data.draw(valid, label=label)


def _finite(A):
    data = A.data if sp.issparse(A) else A
    try:
        return bool(np.all(np.isfinite(np.asarray(data, dtype=np.complex128))))
    except (TypeError, ValueError):  # ragged or non-numeric: nothing to compare
        return False


@st.composite
def matrices(draw, rows, cols, max_rows=6, max_cols=5, sparse=True):
    """A matrix of the drawn shape; usually well formed (float64 / float32,
    dense or CSR / CSC, finite), one in four times odd in its values, dtype
    or container (a list, 1-D, 3-D, COO / LIL, a sparse array, int64
    indices)."""
    n = draw(rows) if rows is not None else draw(st.integers(0, max_rows))
    p = draw(cols) if cols is not None else draw(st.integers(0, max_cols))
    odd = draw(st.sampled_from([False] * 7 + [True]))
    elements = ELEMENTS if odd and draw(st.booleans()) else FINITE
    values = np.array(draw(st.lists(elements, min_size=n * p, max_size=n * p)),
                      dtype=np.float64).reshape(n, p)
    zero = draw(st.floats(0, 1))
    if n * p:
        values[np.random.default_rng(n * 31 + p).random((n, p)) < zero] = 0.0
    dtypes = [np.float64, np.float32]
    kinds = ["array", "fortran"] + (["csr", "csc", "int64-indices"] if sparse else [])
    if odd:
        dtypes += [np.float16, np.int64, np.int8, bool, np.complex128, object]
        kinds += ["list", "coo", "lil", "csr_array", "1d", "3d", "csr", "int64-indices"]
    dtype = draw(st.sampled_from(dtypes))
    with np.errstate(all="ignore"):
        A = values.astype(dtype)
    kind = draw(st.sampled_from(kinds))
    if kind == "fortran":
        return np.asfortranarray(A)
    if kind == "list":
        return A.tolist()
    if kind == "1d":
        return A.ravel()
    if kind == "3d":
        return A[None]
    if dtype in (object, np.float16):
        return A
    if kind == "csr_array":
        return sp.csr_array(A)
    if kind == "int64-indices":
        M = sp.csr_matrix(A)
        M.indices = M.indices.astype(np.int64)
        M.indptr = M.indptr.astype(np.int64)
        return M
    if kind in ("csr", "csc", "coo", "lil"):
        return getattr(sp, f"{kind}_matrix")(A)
    return A


def _check_output(Z, n, k, X):
    Z = Z[0] if isinstance(Z, tuple) else Z
    assert Z.shape == (n, k)
    assert Z.dtype in (np.float32, np.float64)
    if _finite(X):
        assert _finite(Z), "NaN or infinity from finite input"


def _refused(error):
    """A refusal the user can read: ValueError / TypeError with a message,
    raised by our validation or scikit-learn's, not from inside a kernel."""
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    assert str(error).strip(), "an empty error message"
    assert "numba" not in type(error).__module__, repr(error)
    assert "Numba" not in str(error) and "nopython" not in str(error), str(error)


def _call(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except (ValueError, TypeError) as error:
            _refused(error)
            return None, error
        except ImportError as error:
            # device="gpu" without CuPy: the missing extra, named
            assert "sparsecode[gpu]" in str(error), repr(error)
            return None, None


@FUZZ
@given(data=st.data())
def test_fuzz_sparse_encode(data):
    n = _sometimes(data, st.integers(1, 6), st.just(0), "n")
    p = _sometimes(data, st.integers(1, 5), st.just(0), "p")
    k = _sometimes(data, st.integers(1, 6), st.just(0), "k")
    same = st.just(p)
    X = data.draw(matrices(st.just(n), same), label="X")
    dictionary = data.draw(matrices(st.just(k), st.one_of(*[same] * 7, st.integers(0, 6)),
                                    sparse=False), label="dictionary")
    kwargs = {}
    for name, valid in {
        "algorithm": st.sampled_from(["auto", "lars", "cd", "fista", "ista", "omp",
                                      "threshold"]),
        "alpha": st.one_of(st.floats(0, 5), st.none()),
        "l2": st.floats(0, 2),
        "positive": st.booleans(),
        "n_nonzero_coefs": st.one_of(st.integers(1, 8), st.none()),
        "max_iter": st.integers(1, 300),
        "tol": st.floats(0, 1e-2),
        "init": st.one_of(st.none(), matrices(st.just(n), st.just(k), sparse=False)),
        "sparse_output": st.booleans(),
        "n_jobs": st.sampled_from([None, 1, 2, -1]),
        "return_n_iter": st.booleans(),
        "gram": st.one_of(st.none(), st.just("exact"),
                          matrices(st.just(k), st.just(k), sparse=False)),
        "device": st.sampled_from([None, "cpu", "gpu"]),
    }.items():
        if data.draw(st.sampled_from([True, False, False]), label=f"set {name}"):
            kwargs[name] = _sometimes(data, valid, ODD, name)
    if isinstance(kwargs.get("gram"), str) and kwargs["gram"] == "exact":
        try:
            D = np.asarray(dictionary.toarray() if sp.issparse(dictionary) else dictionary,
                           dtype=np.float64)
            kwargs["gram"] = D @ D.T
        except (TypeError, ValueError):
            kwargs["gram"] = None
    Z, error = _call(sparse_encode, X, dictionary, **kwargs)
    event(f"refused: {str(error)[:50]}" if error is not None else "solved")
    if Z is not None:
        _check_output(Z, n, k, X)


ESTIMATORS = {
    "DictionaryLearner": DictionaryLearner(3, alpha=0.1, max_iter=3, random_state=0),
    "ThresholdEncoder": ThresholdEncoder(3, kmeans_max_iter=5, random_state=0),
    "SparseAutoencoder": SparseAutoencoder(4, max_iter=2, random_state=0),
    "KLSparseEncoder": KLSparseEncoder(3, max_iter=5, random_state=0),
    "SparseAttentionTransformer": SparseAttentionTransformer("window", window=4,
                                                             random_state=0),
}
# every parameter but the progress output (verbose=40 prints, it does not fail)
QUIET = {"verbose", "callback"}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@FUZZ
@given(data=st.data())
def test_fuzz_estimator_parameters(name, data):
    est = clone(ESTIMATORS[name])
    names = sorted(set(est.get_params()) - QUIET)
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True),
                       label="params")
    for param in chosen:
        current = est.get_params()[param]
        near = st.nothing()
        options = [option for constraint in est._parameter_constraints.get(param, [])
                   if isinstance(constraint, StrOptions) for option in constraint.options]
        if options:
            near = st.sampled_from(sorted(options))
        elif isinstance(current, bool):
            near = st.booleans()
        elif isinstance(current, int):
            near = st.integers(max(current - 3, 0), current + 3)
        elif isinstance(current, float):
            near = st.floats(0, 2 * current + 1)
        # a value near the default (a valid one, mostly) or any odd value
        est.set_params(**{param: _sometimes(data, st.one_of(near, ODD), ODD, param, odds=2)})
    n = data.draw(st.integers(1, 24), label="n")
    p = data.draw(st.integers(1, 5), label="p")
    scale = data.draw(st.sampled_from([1.0, 1.0, 1e-100, 1e-6, 1e6, 1e15]), label="scale")
    X = scale * np.random.default_rng(n * 7 + p).standard_normal((n, p))
    if data.draw(st.booleans(), label="sparse"):
        X[np.abs(X) < 0.5] = 0.0
        X = sp.csr_matrix(X)
    fitted, error = _call(est.fit, X)
    event(f"refused: {str(error)[:50]}" if error is not None else "fitted")
    if fitted is None and error is None:  # the gpu extra is missing
        return
    if error is not None:
        # the data are always valid here: the refusal is of the parameters,
        # and says which (not "an integer is required" from inside numpy)
        # (or the few samples: n_samples is drawn as low as 1)
        assert any(word in str(error) for word in [*chosen, "n_samples", "sample"]), (
            chosen, str(error))
        return
    out, error = _call(fitted.transform, X)
    if out is None:
        event(f"transform refused: {str(error)[:60]}")
        return
    out = out.toarray() if sp.issparse(out) else np.asarray(out)
    assert out.shape[0] == n
    assert np.all(np.isfinite(out)), f"{name}: NaN or infinity from finite input"
