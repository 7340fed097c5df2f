"""The GPU glue (CuPy): ``sparse_encode`` and every estimator's
``transform`` on CuPy arrays.

The solver is the one every backend shares (:mod:`sparsecode._dense`,
written against the array API standard); the matrix products go to cuBLAS /
cuSPARSE through CuPy and the fused inner kernels are the CUDA sources in
``sparsecode/_cuda`` (one warp per row), launched by
:mod:`sparsecode._cupy_backend`. Every function here reaches CuPy and the
kernels through the GPU backend in use (``current()``: CuPy's, or a
stand-in the tests install).

Covered so far: ``sparse_encode`` with ``algorithm`` "fista", "ista", "omp"
(batch OMP, a warp per row), "threshold" and "auto" (FISTA, or OMP with
``n_nonzero_coefs``) on dense or CSR ``cupy`` input, float32 kept float32,
every estimator's ``transform`` (below), SparseAttentionTransformer's fit
(``randomized_svd_gpu``); the other fits are in ``sparsecode._gpu_train``,
``sparsecode._kmeans.DeviceRows`` and the estimators. LARS and CD are not
written yet and say so.
"""

import numpy as np

from ._cupy_backend import (
    MAX_VALUE_DIM,
    cupy,
    cupyx_sparse,
    current,
    namespace,
    omp_entries,
)
from ._dense import encode, row_chunks, warn_failed
from ._encode_rules import check_arguments, check_shapes, solver_settings, warn_dependent
from ._namespace import is_gpu_array
from ._validation import validate_data


def to_device(X):
    """A numpy array or scipy.sparse matrix on the current GPU (CuPy array,
    or ``cupyx`` CSR)."""
    return current().to_device(X)


def to_host(result):
    """GPU results (arrays, ``cupyx`` sparse matrices, tuples of them) back
    on the host as numpy arrays / scipy CSR."""
    return current().to_host(result)


def rows_of(X, idx):
    """Rows ``idx`` (a numpy index) of ``X`` where ``X`` lives."""
    return X[cupy().asarray(idx)] if is_gpu_array(X) else X[idx]


def host_rows(X, idx):
    """Rows ``idx`` (a numpy index) of ``X`` on the host: copied over from
    a GPU ``X``, ``X[idx]`` otherwise."""
    return to_host(rows_of(X, idx))


def validate(est, X, *, reset):
    """``X`` for ``est`` on the GPU, as ``(X, is_sparse)``. CuPy input is
    checked there (2-D, finite, float32 / float64, CSR; ``device="cpu"`` was
    refused by the caller's ``get_backend``) and sets the feature count
    (``reset``) or is held to it; host input (``device="gpu"``) is validated
    by scikit-learn's rules and copied to the current GPU."""
    if not is_gpu_array(X):
        X = to_device(validate_data(est, X, accept_sparse="csr",
                                    dtype=[np.float64, np.float32], reset=reset))
        return X, cupyx_sparse().issparse(X)
    if not reset:
        return device_matrix(est, X)
    X, sparse = _as_float_matrix(cupy(), cupyx_sparse(), X)
    est.n_features_in_ = X.shape[1]
    vars(est).pop("feature_names_in_", None)
    return X, sparse


def device_matrix(est, X):
    """GPU input to a fitted ``est``: a 2-D float32 / float64 matrix (CSR
    canonical), finite, with the features ``est`` was fitted with; returns
    ``(X, is_sparse)``."""
    X, sparse = _as_float_matrix(cupy(), cupyx_sparse(), X)
    check_features(est, X.shape[1])
    return X, sparse


def check_features(est, n_features):
    """GPU input must have the features ``est`` was fitted with."""
    if n_features != est.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")


def check_device(est):
    """Refuse CuPy input to an estimator told ``device="cpu"``."""
    if getattr(est, "device", None) == "cpu":
        raise ValueError(f"{type(est).__name__}(device='cpu') was given a CuPy array: move "
                         "it to the host first (cupy.asnumpy(X)); sparsecode makes no "
                         "silent copies.")


# What the layers above use of this backend (README.md, "Developing": no
# module outside the backends reaches a backend's private names): with
# cupy(), cupyx_sparse() and namespace() (imported above), the parts of the
# backend in use, looked up at each call.

def on_device(X):
    """A context in which ``X``'s GPU is the current device."""
    return current().device_context(X)


def fused(name):
    """The fused GPU kernel ``name`` (see ``_LAUNCHERS``)."""
    return current().fused(name)


def fused_kernels():
    """Every fused GPU kernel by name."""
    return current().fused_kernels()


def _check_finite(cp, values, name):
    if values.size and not bool(cp.isfinite(values).all()):
        raise ValueError(f"Input {name} contains NaN or infinity.")


def canonical_csr(X):
    """A ``cupyx`` CSR ``X`` without duplicate or unsorted entries: ``X``
    itself when its indices rise within each row (one pass on the device:
    CuPy's ``has_canonical_format`` is a flag it rarely sets), else a copy
    with the duplicates summed (as ``sparsecode._encode.canonical_csr`` does
    on the host)."""
    if X.has_canonical_format or X.nnz < 2:
        return X
    cp = cupy()
    idx, starts = X.indices, X.indptr[:-1]
    first = cp.zeros(idx.shape[0], dtype=cp.bool_)
    first[starts[starts < idx.shape[0]]] = True
    if bool(((idx[1:] > idx[:-1]) | first[1:]).all()):
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def _as_float_matrix(cp, csp, X, name="X"):
    """A 2-D CuPy array or CSR matrix in float32 / float64 (others become
    float64), finite and not empty, a CSR one canonical; returns ``(X,
    is_sparse)``."""
    sparse = csp.issparse(X)
    if sparse:
        X = canonical_csr(X.tocsr())
    elif X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
    dtype = np.dtype(X.dtype) if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if X.dtype != dtype:  # (cupyx sparse astype takes no copy= in older CuPy)
        X = X.astype(dtype)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"Found array with shape {X.shape}: {name} needs at least one "
                         "sample and one feature.")
    _check_finite(cp, X.data if sparse else X, name)
    return X, sparse


def responses(cp, csp, X, M):
    """``X @ M`` on the GPU (cuBLAS, or cuSPARSE for CSR ``X``), C-contiguous
    in ``X``'s dtype; ``M`` may live on the host."""
    M = cp.asarray(M, dtype=X.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # (numpy stand-in) overflow: refused
        C = X @ M
    return cp.ascontiguousarray(C.toarray() if csp.issparse(C) else C, dtype=X.dtype)


def row_sq_norms(cp, X, sparse):
    """Squared row norms in float64 (a float64 copy of a sparse X: squaring
    in float32 would add its rounding to the gap and the triangle)."""
    X64 = X.astype(cp.float64)
    if sparse:
        return cp.ascontiguousarray(cp.asarray(X64.multiply(X64).sum(axis=1)).ravel())
    return (X64 ** 2).sum(axis=1)


def _transform_rows(X, M, width, activate, sparse_output):
    """An encoder's ``transform`` of checked GPU input (:func:`device_matrix`)
    by row chunks: the responses ``X @ M`` (cuBLAS / cuSPARSE), refused if
    they overflow, then ``activate(C, rows, sparse)``; dense or ``cupyx`` CSR
    out, on ``X``'s device."""
    cp, csp = cupy(), cupyx_sparse()
    sparse = csp.issparse(X)
    n = X.shape[0]
    with on_device(X):
        out = cp.empty((n, width), dtype=X.dtype)
        for start, stop in row_chunks(n, width):
            rows = X[start:stop]
            C = responses(cp, csp, rows, M)
            if not bool(cp.isfinite(C).all()):
                raise ValueError(f"The responses of X overflow {X.dtype.name}: rescale X.")
            out[start:stop] = activate(C, rows, sparse)
    return csp.csr_matrix(out) if sparse_output else out


def threshold_transform_gpu(X, components, *, whitening, mean, mode, alpha, n_keep, split,
                            sparse_output):
    """``ThresholdEncoder.transform`` of checked GPU input
    (:func:`device_matrix`): the responses by one cuBLAS / cuSPARSE product
    with the whitening ``(X - mean) @ whitening`` folded in, the activation
    ``mode`` by the kernels of threshold.cu (the ``split`` sign, ``n_keep``
    atoms for "topk"); features come back on the GPU (``cupyx`` CSR with
    ``sparse_output``)."""
    cp = cupy()
    D = components.astype(np.float64)
    k = D.shape[0]
    W = whitening
    if W is None:
        M, offset = D.T, np.zeros(k)
    else:
        shift = mean @ W
        M, offset = W @ D.T, shift @ D.T
    triangle = mode == "triangle"

    with on_device(X):  # the constants on X's device, once for every chunk
        offset = cp.asarray(offset, dtype=cp.float64)
        sq_c = cp.asarray(np.einsum("ij,ij->i", D, D)) if triangle else None
        whiten = (cp.asarray(W), cp.asarray(shift)) if triangle and W is not None else None

        def activate(C, rows, sparse):
            sq_x = None
            if triangle:
                if whiten is None:
                    sq_x = row_sq_norms(cp, rows, sparse)
                else:
                    Xw = rows.astype(cp.float64) @ whiten[0] - whiten[1]
                    sq_x = (Xw ** 2).sum(axis=1)
            return fused("encode")(C, offset, mode, alpha, split, n_keep, sq_x, sq_c)

        return _transform_rows(X, M, 2 * k if split else k, activate, sparse_output)


def sparse_encode_gpu(X, dictionary, *, algorithm, alpha, l2, positive, n_nonzero_coefs,
                      max_iter, tol, init, sparse_output, return_n_iter, gram):
    """``sparse_encode`` for CuPy input; codes come back as CuPy arrays
    (``cupyx.scipy.sparse`` CSR with ``sparse_output=True``). The solver is
    :func:`sparsecode._dense.encode` with the CUDA kernels; what is CuPy's
    own here is the CSR input (cuSPARSE products, sparse row norms)."""
    algorithm = check_arguments(algorithm, l2=l2, positive=positive,
                                n_nonzero_coefs=n_nonzero_coefs, backend="cupy")
    cp, csp = cupy(), cupyx_sparse()
    X, sparse = _as_float_matrix(cp, csp, X)
    dtype = X.dtype
    n, p = X.shape
    D = cp.asarray(dictionary, dtype=dtype)
    if D.ndim != 2:
        raise ValueError(f"dictionary has shape {D.shape}: dictionary must have shape "
                         f"(n_components, {p}).")
    check_shapes(X.shape, D.shape)
    if D.shape[0] == 0:
        raise ValueError("dictionary has 0 atoms.")
    _check_finite(cp, D, "dictionary")
    k = D.shape[0]
    alpha, n_nonzero, omp_tol = solver_settings(
        algorithm, alpha=alpha, n_nonzero_coefs=n_nonzero_coefs, n_features=p, n_components=k)
    width = k
    if algorithm == "omp":
        alpha = omp_tol  # the kernel's target squared residual
        width = omp_entries(k, n_nonzero)
    if init is not None:
        # C order: the kernels index rows as s * k + j
        init = cp.ascontiguousarray(cp.asarray(init))
    if gram is not None:
        gram = cp.asarray(gram)
    check_shapes(X.shape, D.shape, init_shape=None if init is None else init.shape,
                 gram_shape=None if gram is None else gram.shape)
    kernels = current().kernels()
    with on_device(X):
        codes, n_iter, n_failed = encode(
            namespace(), kernels, X, D, algorithm=algorithm, alpha=alpha, l2=l2,
            positive=positive, max_iter=max_iter, tol=tol,
            init=init if algorithm != "omp" else None, gram=gram,
            responses=lambda rows: responses(cp, csp, rows, D.T),
            sq_norms=lambda rows: row_sq_norms(cp, rows, sparse),
            chunks=row_chunks(n, width), n_nonzero=n_nonzero)
    if algorithm == "omp":
        warn_dependent(n_failed, n)
    else:
        warn_failed(algorithm, max_iter, n_failed, n)
    if sparse_output:
        codes = csp.csr_matrix(codes)
    return (codes, n_iter) if return_n_iter else codes


def autoencoder_transform_gpu(X, P, *, activation, n_keep, threshold, cut, sparse_output):
    """The codes of a SparseAutoencoder or KLSparseEncoder with host
    parameters ``P`` for checked GPU input (:func:`device_matrix`): one
    cuBLAS / cuSPARSE product with the encoder weights, then the kernel of
    ``activation`` ("relu", "topk" keeping ``n_keep``, "batchtopk" with its
    ``threshold``, "sigmoid"), codes below ``cut`` zeroed when it is given;
    codes come back on the GPU (``cupyx`` CSR with ``sparse_output``)."""
    cp = cupy()
    W = np.asarray(P["W_enc"], dtype=np.float64)
    # the pre-activation is X W^T - offset, the encoder's input shift folded in
    offset = P["b_dec"].astype(np.float64) @ W.T - P["b_enc"].astype(np.float64)
    mode = {"relu": "jump", "topk": "topk_value", "batchtopk": "jump",
            "sigmoid": "sigmoid"}[activation]
    alpha = 0.0
    if activation == "batchtopk" and threshold is not None:
        alpha = float(threshold)
    with on_device(X):  # the offset on X's device, once for every chunk
        offset = cp.asarray(offset)

        def activate(C, rows, sparse):
            return fused("encode")(C, offset, mode, alpha, False, n_keep, None, None, cut)

        return _transform_rows(X, W.T, W.shape[0], activate, sparse_output)


def check_value_width(V):
    """The GPU attention kernels' limit on the values' width."""
    if V.shape[1] > MAX_VALUE_DIM:
        raise ValueError(f"the values have {V.shape[1]} columns; the GPU attention "
                         f"kernels take at most {MAX_VALUE_DIM} (use a projection).")


def attention_transform_gpu(X, Q, K, V, bias, *, lengths, offsets, output, half=None,
                            dilation=1, causal=False, csr=None):
    """``SparseAttentionTransformer.transform`` of checked GPU input
    (:func:`device_matrix`) with its projections ``Q, K, V, bias`` on the
    device, by attention.cu: each query's keys found in the kernel (window
    of ``half`` keys each side, ``dilation``, ``causal``, inside the
    sequences of ``lengths`` starting at ``offsets``) or given as the CSR
    rows ``csr = (indptr, indices)`` (built on the host, so the keys are the
    CPU's exactly); ``output`` "attention", "residual" or "concat". The
    output stays on the GPU. ``V``'s width is the caller's to check
    (:func:`check_value_width`), before it plans any key set."""
    cp, csp = cupy(), cupyx_sparse()
    if csr is None:
        seq = np.repeat(np.arange(lengths.size), lengths)
        start = offsets[:-1][seq]
        out = fused("attention")(Q, K, V, bias, cp.asarray(start),
                                 cp.asarray(start + lengths[seq]), half, dilation, causal)
    else:
        out = fused("pattern")(Q, K, V, bias, cp.asarray(csr[0]), cp.asarray(csr[1]))
    if not bool(cp.isfinite(out).all()):
        raise ValueError("The attention output is not finite: the scores overflow "
                         f"{X.dtype} (q.k near its largest value). Scale X down.")
    if output == "attention":
        return out
    sparse = csp.issparse(X)
    if output == "residual":
        return out + (X.toarray() if sparse else X)
    if sparse:
        return csp.hstack([X, csp.csr_matrix(out)], format="csr")
    return cp.hstack([X, out])


def randomized_svd_gpu(X, k, rng):
    """The top ``k`` right singular vectors of ``X`` (CuPy, dense or CSR) as
    scikit-learn's ``randomized_svd(X, k, random_state=rng)`` finds them:
    the same oversampling (10), power iterations, transposition rule, draws
    from ``rng`` (so later draws match the CPU's) and sign convention, with
    QR in place of LU between the power iterations (CuPy has no LU with
    permuted L); the products on the GPU. Returns ``Vt[:k]`` on the host."""
    with on_device(X):
        return _randomized_svd_gpu(X, k, rng)


def _randomized_svd_gpu(X, k, rng):
    cp, csp = cupy(), cupyx_sparse()
    n_random = k + 10
    n_iter = 7 if k < 0.1 * min(X.shape) else 4
    transpose = X.shape[0] < X.shape[1]
    M = X.T if transpose else X
    Q = rng.normal(size=(M.shape[1], n_random))
    Q = cp.asarray(Q.astype(np.float32) if X.dtype == np.float32 else Q)

    def orth(A):
        return cp.linalg.qr(A.toarray() if csp.issparse(A) else A)[0]

    for _ in range(n_iter):  # (4 or 7: normalised, as scikit-learn does past 2)
        Q = orth(M.T @ orth(M @ Q))
    Q = orth(M @ Q)
    B = cp.ascontiguousarray((M.T @ Q).T)
    Uhat, _, Vt = cp.linalg.svd(B, full_matrices=False)
    U = Q @ Uhat
    # the sign that makes each component's largest |entry| on X's rows
    # positive (svd_flip: on U's columns, or Vt's rows when transposed)
    left = Vt if transpose else U.T
    signs = cp.sign(left[cp.arange(left.shape[0]), cp.argmax(cp.abs(left), axis=1)])
    right = U.T if transpose else Vt
    return to_host(right[:k] * signs[:k, None])

