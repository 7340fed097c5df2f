"""The attention's model apart from its pattern: the sequences, the
projections learnt at fit, the queries, keys, values and score bias a
transform computes (on the CPU or the GPU), and the global tokens. The plan
of which keys each query sees is :mod:`sparsecode._attention_plan`."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.extmath import randomized_svd

from . import _gpu
from ._attention_plan import _keys_of, _Plan

# The "dense" pattern refuses more (query, key) pairs than this (2^26: one
# sequence of 8,192 tokens).
_DENSE_PAIRS = 1 << 26

# Tokens whose nearest-key distances set bandwidth=None's h: the median of 256
# is within a few percent of the whole image's for non-local means.
_BANDWIDTH_SAMPLE = 256

# More global tokens than this is dense attention by another name.
_MAX_GLOBAL = 1 << 16


def check_lengths(lengths, n):
    """The sequence lengths as int64 (one sequence of ``n`` tokens when None)
    and the sequences' first rows, ``offsets`` (length ``n_sequences + 1``)."""
    if lengths is None:
        lengths = np.array([n], dtype=np.int64)
    else:
        raw = np.asarray(lengths)
        if raw.ndim != 1 or raw.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-D array of sequence lengths, "
                             f"got shape {raw.shape}.")
        if not np.issubdtype(raw.dtype, np.integer):
            if not (np.issubdtype(raw.dtype, np.floating) and np.all(np.isfinite(raw))
                    and np.all(raw == np.round(raw))):
                raise ValueError(f"lengths must hold integers, got dtype {raw.dtype}.")
        if raw.size > n or np.any(raw > n):
            raise ValueError(f"lengths must sum to the {n} rows (tokens) of X, got "
                             f"{raw.size} lengths up to {raw.max()}.")
        lengths = raw.astype(np.int64)
        if lengths.min() < 1:
            raise ValueError("lengths must be positive: every sequence holds a token.")
        if lengths.sum() != n:
            raise ValueError(f"lengths sum to {int(lengths.sum())} but X has {n} rows "
                             "(tokens).")
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return lengths, offsets


def global_tokens(pattern, given):
    """The positions of the global tokens (longformer, bigbird), int64,
    unique; none for the other patterns."""
    if pattern not in ("longformer", "bigbird"):
        return np.zeros(0, dtype=np.int64)
    g = given
    if g is None:
        g = 1
    if isinstance(g, Integral):
        g = np.arange(min(int(g), _MAX_GLOBAL + 1), dtype=np.int64)
    g = np.asarray(g)
    if g.size == 0:
        return np.zeros(0, dtype=np.int64)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
        raise ValueError("global_tokens must be an int or a 1-D array of int positions.")
    if g.min() < 0:
        raise ValueError("global_tokens positions must be non-negative.")
    g = np.unique(g).astype(np.int64)
    if g.size > _MAX_GLOBAL:
        raise ValueError(f"global_tokens asks for {g.size} global tokens, more than "
                         f"{_MAX_GLOBAL}: each attends to its whole sequence, so that "
                         f"many make the attention dense; use pattern='dense'.")
    return g


def projections(X, projection, n_components, rng):
    """``(W_q, W_k, W_v)`` learnt from ``X`` for ``projection``: None each for
    "identity", one shared matrix for "pca" (randomized SVD, on the GPU for
    CuPy input) and "random", the given three (copied, checked) for a tuple."""
    p = X.shape[1]
    proj = projection
    if isinstance(proj, str):
        if proj == "identity":
            return None, None, None
        k = min(64, p) if n_components is None else n_components
        if proj == "pca":
            if k > min(X.shape):
                raise ValueError(f"n_components={k} must be at most min(n_samples, "
                                 f"n_features) for projection='pca', got n_samples = "
                                 f"{X.shape[0]} and n_features = {X.shape[1]}.")
            Vt = (_gpu.randomized_svd_gpu(X, k, rng) if _gpu.is_gpu_array(X)
                  else randomized_svd(X, k, random_state=rng)[2])
            W = np.ascontiguousarray(Vt.T, dtype=np.float64)
        else:
            W = rng.normal(scale=1 / np.sqrt(k), size=(p, k))
        return W, W, W
    if len(proj) != 3:
        raise ValueError("projection as a tuple must hold three arrays (W_q, W_k, W_v).")
    Ws = [check_array(W, dtype=np.float64, input_name=name)
          for W, name in zip(proj, ("W_q", "W_k", "W_v"))]
    for W, name in zip(Ws, ("W_q", "W_k", "W_v")):
        if W.shape[0] != p:
            raise ValueError(f"projection {name} has {W.shape[0]} rows, X has {p} "
                             f"features.")
    if Ws[0].shape[1] != Ws[1].shape[1]:
        raise ValueError(f"W_q and W_k must have as many columns, got {Ws[0].shape[1]} "
                         f"and {Ws[1].shape[1]}.")
    return tuple(W.copy() for W in Ws)


def sequences(n, lengths, pattern, grid_shape):
    """``(lengths, offsets)`` of the sequences of ``n`` tokens, checked for
    ``pattern`` (``grid_shape``: window2d's fitted grid)."""
    if lengths is None and pattern == "window2d":
        size = grid_shape[0] * grid_shape[1]
        if n % size:
            raise ValueError(f"X has {n} rows, not a whole number of "
                             f"grid_shape={grid_shape} grids ({size} tokens "
                             f"each): give lengths or a matching grid_shape.")
        lengths = np.full(n // size, size, dtype=np.int64)
    lengths, offsets = check_lengths(lengths, n)
    if pattern == "window2d":
        size = grid_shape[0] * grid_shape[1]
        if np.any(lengths != size):
            raise ValueError(f"pattern='window2d': every sequence must hold the "
                             f"{size} tokens of grid_shape={grid_shape}.")
    if pattern == "dense":
        pairs = int((lengths.astype(np.float64) ** 2).sum())
        if pairs > _DENSE_PAIRS:
            raise ValueError(
                f"pattern='dense' would score {pairs} (query, key) pairs, over its "
                f"limit of {_DENSE_PAIRS}: use a sparse pattern ('window', "
                f"'longformer', 'bigbird' or 'lsh'), or shorter sequences.")
    return lengths, offsets


def _unit_rows(xp, Q):
    """The rows of ``Q`` scaled to unit norm (zero rows stay zero): LSH's
    keys, Reformer's shared query-key."""
    norms = xp.sqrt((Q * Q).sum(axis=1, keepdims=True))
    return xp.where(norms > 0, Q / xp.where(norms > 0, norms, 1), 0)


def qkv(X, W_q, W_k, W_v, *, lsh, similarity, bandwidth, xp=np):
    """Queries (scaled), keys, values and the per-key score bias, in
    ``X``'s dtype, under the projections ``W_q, W_k, W_v`` (None: ``X``
    as it is; one object for two of them: one product), Reformer's shared
    query-key (``lsh``) and the ``similarity`` ("dot", or "neg_sq_dist"
    with its ``bandwidth``); ``xp`` the array module ``X`` lives in (numpy,
    or CuPy for the GPU path)."""
    dtype = X.dtype

    def project(W):
        if W is None:
            return X.toarray() if hasattr(X, "toarray") else xp.ascontiguousarray(X)
        return xp.ascontiguousarray(X @ xp.asarray(W, dtype=dtype), dtype=dtype)

    Q = project(W_q)
    if lsh:
        # Reformer's shared query-key: the keys are the unit-norm queries
        K = _unit_rows(xp, Q).astype(Q.dtype)
    elif W_k is W_q:
        K = Q
    else:
        K = project(W_k)
    if W_v is W_q:
        V = Q
    elif W_v is W_k and not lsh:
        V = K
    else:
        V = project(W_v)
    d = Q.shape[1]
    if similarity == "dot":
        Qs = Q * dtype.type(1 / np.sqrt(d))
        bias = xp.zeros(K.shape[0], dtype=dtype)
    else:
        # -||q - k||^2 is the same for q - c and k - c: centring both on
        # the keys' mean keeps float32 exact when the data sit far from
        # zero (pixel values), where the folded 2 q.k - ||k||^2 cancels
        c = K.mean(axis=0, dtype=np.float64).astype(dtype)
        Q, K = Q - c, K - c
        h2 = bandwidth ** 2
        Qs = Q * dtype.type(2 / h2)
        sq = (np.einsum("ij,ij->i", K, K, dtype=np.float64) if xp is np
              else (K.astype(xp.float64) ** 2).sum(axis=1))
        bias = (-sq / h2).astype(dtype)
    return xp.ascontiguousarray(Qs), xp.ascontiguousarray(K), xp.ascontiguousarray(V), bias


def nearest_key_bandwidth(est, X, lengths, rng):
    """``bandwidth=None``: the median over up to ``_BANDWIDTH_SAMPLE``
    tokens of ``X`` of the distance to their nearest other key (the keys of
    ``est``'s pattern, fitted but for the bandwidth), in the projected space
    (``sqrt(d)`` when every such distance is 0)."""
    n = X.shape[0]
    lengths, offsets = sequences(n, lengths, est.pattern, est.grid_shape_)
    rows = np.sort(rng.choice(n, size=min(n, _BANDWIDTH_SAMPLE), replace=False))

    def project(Xr, W):
        Xr = Xr.toarray() if sp.issparse(Xr) else np.asarray(Xr)
        Xr = Xr.astype(np.float64)
        return Xr if W is None else Xr @ np.asarray(W, dtype=np.float64)

    if est.pattern == "lsh":  # the buckets need every key, as transform has them
        # (any bandwidth: the buckets do not depend on it)
        Qs, K, _, _ = qkv(_gpu.to_host(X), est.query_projection_, est.key_projection_,
                          est.value_projection_, lsh=True, similarity=est.similarity,
                          bandwidth=1.0)
        plan = _Plan(est, Qs, K, lengths, offsets)
    else:
        stand_in = np.zeros((n, 1))
        plan = _Plan(est, stand_in, stand_in, lengths, offsets)
    keys = _keys_of(plan, rows)
    used = np.unique(np.concatenate([rows, *keys]))
    Xu = _gpu.host_rows(X, used)
    Qu = project(Xu, est.query_projection_)
    Ku = (_unit_rows(np, Qu) if est.pattern == "lsh" else
          Qu if est.key_projection_ is est.query_projection_ else
          project(Xu, est.key_projection_))
    nearest = []
    for i, k in zip(rows, keys):
        k = k[k != i]
        if k.size:
            diff = Ku[np.searchsorted(used, k)] - Qu[np.searchsorted(used, i)]
            nearest.append(np.einsum("ij,ij->i", diff, diff).min())
    nearest = np.asarray(nearest)
    nearest = nearest[nearest > 0]
    if nearest.size == 0:
        return float(np.sqrt(Qu.shape[1]))
    return float(np.sqrt(np.median(nearest)))
