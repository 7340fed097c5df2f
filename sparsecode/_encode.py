"""``sparse_encode``: validation, Gram / covariance, chunking over samples,
and dispatch to the backend and, on numpy, to the solver registry
(:mod:`sparsecode._solvers`, one module per algorithm, whose kernels live in
``sparsecode/_kernels``)."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from . import _array_api, _gpu
from ._backend import get_backend
from ._chunks import rows_per_chunk
from ._dense import (
    check_codes_finite,
    check_gram_finite,
    check_responses_finite,
    warn_failed,
)
from ._encode_rules import (
    ALGORITHMS,
    check_arguments,
    check_shapes,
    pick_algorithm,
    solver_settings,
    warn_dependent,
)
from ._kernels._threshold import row_sq_norms_dense, row_sq_norms_sparse
from ._namespace import is_foreign
from ._solvers import SOLVERS, Chunk, solve_chunk
from ._threads import kernel_threads
from ._validation import ANY_INT, IntInterval

# Rows per chunk are chosen so that one chunk's dense covariance holds about
# this many entries (4 MiB in float64): memory stays bounded for any n_samples,
# and the kernels read each covariance row while the GEMM left it in cache.
_CHUNK_ENTRIES = 1 << 19

# sparse_encode's iteration budget and tolerance, also what a
# dictionary-learning step codes with (through encode_checked)
MAX_ITER, TOL = 1000, 1e-6


def canonical_csr(X):
    """``X`` as CSR without duplicate entries (summed on a copy when there
    are): kernels that walk the triplet, like the squared row norms, would
    otherwise square each duplicate apart."""
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _row_sq_norms(X):
    out = np.empty(X.shape[0])
    if sp.issparse(X):
        X = canonical_csr(X)
        row_sq_norms_sparse(X.data, X.indptr, out)
    else:
        row_sq_norms_dense(X, out)
    return out


def _lipschitz(gram):
    k = gram.shape[0]
    top = linalg.eigh(gram, eigvals_only=True, subset_by_index=[k - 1, k - 1])[0]
    return top if top > 0 else 1.0


def _encode(X, dictionary, *, algorithm, alpha, l2, positive, n_nonzero, omp_tol,
            max_iter, tol, init, sparse_output, fista_path="auto", gram=None):
    """The work of ``sparse_encode`` on validated inputs: returns the codes
    (dense or CSR, before the sparse-array wrapping), iterations per sample and
    the number of samples that failed to converge."""
    n_samples, n_features = X.shape
    n_components = dictionary.shape[0]
    dtype = X.dtype
    if gram is None:
        D64 = dictionary.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, by name
            gram = D64 @ D64.T
    else:
        gram = np.array(gram, dtype=np.float64, order="C")  # a copy: l2 is added below
    check_gram_finite(gram, dictionary, np)
    algorithm = pick_algorithm(algorithm, None, gram)
    solver = SOLVERS[algorithm]
    if l2 > 0:
        gram[np.diag_indices_from(gram)] += l2
    # Without a ridge term at most rank(D) <= n_features atoms can be active.
    max_active = n_components if l2 > 0 else min(n_components, n_features)
    inv_lip = 1.0 / _lipschitz(gram) if solver.lipschitz else 0.0

    if sp.issparse(X):
        X = X.tocsr()
    DT = np.ascontiguousarray(dictionary.T)
    chunk = rows_per_chunk(n_components, _CHUNK_ENTRIES)
    pieces = []
    codes_out = None if sparse_output else np.empty((n_samples, n_components), dtype=dtype)
    n_iter = np.empty(n_samples, dtype=np.int64)
    n_failed = 0
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        Xc = X[start:stop]
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, by name
            cov = np.ascontiguousarray(Xc @ DT, dtype=dtype)
        check_responses_finite(cov, Xc, dictionary, np)
        sq_norms = _row_sq_norms(Xc) if solver.sq_norms else None
        out = np.empty(cov.shape, dtype=dtype) if sparse_output else codes_out[start:stop]
        it, failed = solve_chunk(algorithm, Chunk(
            cov, sq_norms, gram, out, alpha=alpha, positive=positive, n_nonzero=n_nonzero,
            omp_tol=omp_tol, max_iter=max_iter, tol=tol,
            init=None if init is None or not solver.warm_start else init[start:stop],
            max_active=max_active, inv_lip=inv_lip, fista_path=fista_path))
        n_iter[start:stop] = it
        n_failed += failed
        if sparse_output:
            pieces.append(sp.csr_matrix(out))

    if sparse_output:
        if pieces:
            codes_out = sp.vstack(pieces, format="csr").astype(dtype, copy=False)
        else:
            codes_out = sp.csr_matrix((0, n_components), dtype=dtype)
    return codes_out, n_iter, n_failed


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "dictionary": ["array-like"],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
        "l2": [Interval(Real, 0, None, closed="left")],
        "positive": ["boolean"],
        "n_nonzero_coefs": [IntInterval(Integral, 1, None, closed="left"), None],
        "max_iter": [IntInterval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": ["array-like", None],
        "sparse_output": ["boolean"],
        "n_jobs": [ANY_INT, None],
        "return_n_iter": ["boolean"],
        "gram": ["array-like", None],
        "device": [StrOptions({"cpu", "gpu"}), None],
    },
    prefer_skip_nested_validation=True,
)
def sparse_encode(X, dictionary, *, algorithm="auto", alpha=None, l2=0.0, positive=False,
                  n_nonzero_coefs=None, max_iter=MAX_ITER, tol=TOL, init=None,
                  sparse_output=False, n_jobs=None, return_n_iter=False, gram=None,
                  device=None):
    r"""Sparse coding: find codes ``Z`` such that ``X ~= Z @ dictionary``.

    For the l1 algorithms each row ``x`` of ``X`` is coded by solving

    .. math::

        \min_z \; \frac{1}{2} \| x - z D \|_2^2 + \alpha \| z \|_1
        + \frac{l_2}{2} \| z \|_2^2 \quad (\text{and } z \ge 0 \text{ if positive}),

    the objective (and the meaning of ``alpha``) of scikit-learn's
    :func:`sklearn.decomposition.sparse_encode`. Everything works on the Gram
    form ``G = D D^T``, ``C = X D^T``: a sparse ``X`` costs one sparse-dense
    product and is never densified.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data. Any scipy.sparse format; float32 stays float32, other numeric
        types become float64. Fortran order and read-only arrays are fine.
        A CuPy array or ``cupyx.scipy.sparse`` matrix runs on its GPU and the
        codes come back there (``algorithm`` "auto", "fista", "ista", "omp" or
        "threshold" so far; needs the ``gpu`` extra).

    dictionary : array-like of shape (n_components, n_features)
        The atoms, one per row. Cast to ``X``'s dtype. Atoms need not have unit
        norm; an all-zero atom always gets a zero code.

    algorithm : {"auto", "lars", "cd", "fista", "ista", "omp", "threshold"}, default="auto"
        - ``"lars"``: lasso homotopy (LARS with the lasso modification), exact
          up to rounding; its cost follows the size of the support.
        - ``"cd"``: coordinate descent on the Gram matrix with an active set.
        - ``"fista"``: accelerated proximal gradient with adaptive restart;
          ``"ista"``: the same without momentum. Done per sample on the
          support when codes are sparse, as whole-batch matrix products when
          they are dense.
        - ``"omp"``: batch orthogonal matching pursuit (an L0 method).
        - ``"threshold"``: ``sign(c) * max(|c| - alpha, 0)`` of ``c = x D^T``;
          not a solution of the lasso unless the atoms are orthonormal.
        - ``"auto"``: ``"omp"`` when ``n_nonzero_coefs`` is given; else
          ``"cd"`` when the dictionary is incoherent (the mean over atoms of
          the largest absolute cosine with another atom is below 0.2, as for
          random atoms in high dimension) and ``"lars"`` otherwise (image
          patches, learned dictionaries). ``benchmarks/README.md`` has the
          measurements behind the rule.

    alpha : float, default=None
        For the l1 algorithms and ``"threshold"``, the penalty above; ``None``
        means 1.0. For ``"omp"``, the target squared residual norm
        ``||x - z D||^2`` of each sample (error-targeted OMP, as K-SVD
        denoising uses): atoms are added until it is met, so a sample already
        within it gets none (scikit-learn's ``orthogonal_mp`` always takes
        one); ``None`` means no target.

    l2 : float, default=0.0
        Ridge term of the elastic net, for the l1 algorithms only.

    positive : bool, default=False
        Constrain codes to be non-negative (l1 algorithms and ``"threshold"``).

    n_nonzero_coefs : int, default=None
        For ``"omp"``: the most atoms per sample. When neither it nor
        ``alpha`` is given, ``max(n_features // 10, 1)`` as in scikit-learn.
        Values above ``n_components`` are clipped with a warning.

    max_iter : int, default=1000
        Most iterations per sample: homotopy steps for ``"lars"``, full passes
        for ``"cd"``, proximal steps for ``"fista"``/``"ista"``. A
        :class:`~sklearn.exceptions.ConvergenceWarning` says how many samples
        reached it.

    tol : float, default=1e-6
        For ``"cd"``, ``"fista"`` and ``"ista"``: a sample stops when its
        duality gap is below ``tol * 0.5 * ||x||^2``. ``"lars"`` is exact and
        needs none.

    init : array-like of shape (n_samples, n_components), default=None
        Starting codes for ``"cd"``, ``"fista"`` and ``"ista"`` (warm start);
        the exact and greedy methods do not need one and ignore it.

    sparse_output : bool, default=False
        Return the codes as a CSR matrix (``csr_array`` when ``X`` is a sparse
        array, else ``csr_matrix``), built chunk by chunk: no dense array of
        the full size is made.

    n_jobs : int, default=None
        Threads for the Numba kernels. ``None`` and ``-1`` use all of Numba's
        threads (``NUMBA_NUM_THREADS``); ``-2`` all but one, and so on.

    return_n_iter : bool, default=False
        Also return the iterations each sample used (atoms chosen for
        ``"omp"``, 0 for ``"threshold"``).

    gram : array-like of shape (n_components, n_components), default=None
        ``dictionary @ dictionary.T`` when the caller has it already (a
        dictionary learner codes each minibatch on the same atoms); it is
        trusted to match ``dictionary``. ``l2`` is added to a copy.

    device : {"cpu", "gpu"}, default=None
        Where to compute. None: where ``X`` lives (a CuPy array on its GPU,
        anything else on the CPU). "gpu": numpy or scipy.sparse input is
        validated here, copied to the current GPU, coded there and the codes
        copied back (numpy, or scipy CSR with ``sparse_output=True``); needs
        the ``gpu`` extra. "cpu" with CuPy input is refused (move it with
        ``cupy.asnumpy``: no silent copies).

    Returns
    -------
    codes : {ndarray, sparse matrix} of shape (n_samples, n_components)
        The codes, in ``X``'s float dtype.

    n_iter : ndarray of shape (n_samples,)
        Iterations per sample; only when ``return_n_iter`` is True.

    References
    ----------
    .. [1] B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least angle
       regression", Annals of Statistics 32(2), 2004.
    .. [2] A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding
       algorithm for linear inverse problems", SIAM J. Imaging Sci. 2(1), 2009.
    .. [3] J. Friedman, T. Hastie, R. Tibshirani, "Regularization paths for
       generalized linear models via coordinate descent", J. Stat. Softw.
       33(1), 2010.
    .. [4] R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of
       the K-SVD algorithm using batch orthogonal matching pursuit",
       Technion CS-2008-08, 2008.
    .. [5] J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online learning for matrix
       factorization and sparse coding", JMLR 11, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode import sparse_encode
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((8, 5))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> X = 2.0 * D[[1, 6]]
    >>> Z = sparse_encode(X, D, alpha=0.1)
    >>> Z.shape
    (2, 8)
    """
    gpu_kwargs = dict(algorithm=algorithm, alpha=alpha, l2=l2, positive=positive,
                      n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter, tol=tol,
                      sparse_output=sparse_output, return_n_iter=return_n_iter)
    # under array API dispatch, what the GPU backend does not run goes to
    # the namespaces' route (on their device, or the host and back)
    if is_foreign(X):
        backend = get_backend(X)
        if not (backend.name == "cupy" and algorithm in backend.supports):
            return _array_api.sparse_encode_any(sparse_encode, backend, X, dictionary,
                                                init=init, gram=gram, n_jobs=n_jobs,
                                                device=device, **gpu_kwargs)
    backend = get_backend(X, device)
    if backend.name == "cupy":
        if backend.owns(X):
            return _gpu.sparse_encode_gpu(X, dictionary, init=init, gram=gram, **gpu_kwargs)
        # device="gpu": the arguments are refused before any data is read, the
        # host arrays checked here, then copied there and the codes back
        check_arguments(algorithm, l2=l2, positive=positive, n_nonzero_coefs=n_nonzero_coefs,
                        backend="cupy")
        X = check_array(X, accept_sparse=True, accept_large_sparse=True,
                        dtype=[np.float64, np.float32], input_name="X")
        dictionary = check_array(dictionary, dtype=[np.float64, np.float32],
                                 input_name="dictionary")
        if init is not None:
            init = backend.to_device(check_array(init, dtype=[np.float64, np.float32],
                                                 input_name="init"))
        return backend.to_host(_gpu.sparse_encode_gpu(backend.to_device(X), dictionary,
                                                      init=init, gram=gram, **gpu_kwargs))
    X_was_sparray = isinstance(X, sp.sparray) if hasattr(sp, "sparray") else False
    X = check_array(X, accept_sparse=True, accept_large_sparse=True,
                    dtype=[np.float64, np.float32], input_name="X")
    dictionary = check_array(dictionary, dtype=[np.float64, np.float32],
                             input_name="dictionary")
    check_shapes(X.shape, dictionary.shape)
    algorithm = check_arguments(algorithm, l2=l2, positive=positive,
                                n_nonzero_coefs=n_nonzero_coefs)
    if gram is not None:
        gram = check_array(gram, dtype=np.float64, input_name="gram")
    if init is not None:
        init = check_array(init, dtype=[np.float64, np.float32], input_name="init")
    codes_out, n_iter = encode_checked(
        X, dictionary, algorithm=algorithm, alpha=alpha, l2=l2, positive=positive,
        n_nonzero_coefs=n_nonzero_coefs, max_iter=max_iter, tol=tol, init=init,
        sparse_output=sparse_output, n_jobs=n_jobs, gram=gram)
    if sparse_output and X_was_sparray:
        codes_out = sp.csr_array(codes_out)
    if return_n_iter:
        return codes_out, n_iter
    return codes_out


def encode_checked(X, dictionary, *, algorithm, alpha, l2, positive, n_nonzero_coefs,
                   max_iter, tol, init, sparse_output, n_jobs, gram):
    """``sparse_encode`` on the host after its checks: ``X`` and
    ``dictionary`` as ``check_array`` returns them, ``algorithm`` as
    ``check_arguments`` does, ``gram`` (float64) and ``init`` checked when
    given. Returns the codes and the iterations per sample. For callers whose
    arrays are already checked (a dictionary-learning step: the three
    ``check_array`` calls cost 0.3 ms of a 6 ms minibatch)."""
    dtype = X.dtype
    n_samples, n_features = X.shape
    n_components = dictionary.shape[0]
    # X's dtype decides the result's; the Gram is formed in float64 anyway.
    dictionary = dictionary.astype(dtype, copy=False)
    alpha, n_nonzero, omp_tol = solver_settings(
        algorithm, alpha=alpha, n_nonzero_coefs=n_nonzero_coefs, n_features=n_features,
        n_components=n_components)
    check_shapes(X.shape, dictionary.shape, init_shape=None if init is None else init.shape,
                 gram_shape=None if gram is None else gram.shape)
    if algorithm != "auto" and not SOLVERS[algorithm].warm_start:
        init = None

    # (auto picks lars or cd, whose kernels hold the threads)
    blas_threads = 1 if algorithm == "auto" else SOLVERS[algorithm].blas_threads
    with kernel_threads(n_jobs, blas_threads):
        codes_out, n_iter, n_failed = _encode(
            X, dictionary, algorithm=algorithm, alpha=alpha, l2=l2, positive=positive,
            n_nonzero=n_nonzero, omp_tol=omp_tol, max_iter=max_iter, tol=tol, init=init,
            sparse_output=sparse_output, gram=gram,
        )

    check_codes_finite(codes_out, dtype, np)
    if algorithm == "omp":
        warn_dependent(n_failed, n_samples)
    else:
        warn_failed(algorithm, max_iter, n_failed, n_samples)
    return codes_out, n_iter
