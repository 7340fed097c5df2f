"""SparseAutoencoder's training on the GPU (CuPy input, or
``device="gpu"``): its minibatch steps and epochs, the model's loss and
gradients being :mod:`sparsecode._autoencoder_xp`'s (which also holds
KLSparseEncoder's, whose optimiser stays on the host).

The epoch loop, the stopping rule, the initialisation and the bookkeeping
are the CPU's (``SparseAutoencoder._epoch_loop``, ``_rates``, ``_train``,
``_init_state``, ``_resume``),
with the same random draws, so a GPU fit follows the CPU fit step for step.
What differs is the minibatch step, written against the array API on
dense minibatches (a CSR minibatch is densified on the GPU, where the
products are cuBLAS GEMMs): the forward and backward passes as GEMMs with
their element-wise parts fused in autoencoder.cu (the ReLU with its bias and
dropout gates, the gradient through the codes' gate with the L1 term and
the bias gradient's column sums, Adam; in float64 arithmetic as on the
CPU), the top-k selection by threshold.cu's warp kernel, the decoder's
normalisation and the L1 proximal step, the pruning
schedule's masks, and the validation score of ``early_stopping``.
``dropout``'s gates are drawn on the host from the fit's generator, in the
CPU's order (for TopK and BatchTopK, one per selected code in the order of
the CPU's sparse codes), and copied over: the GPU fit with dropout is the
CPU's, at the cost of a host draw and a copy per step (a minibatch's ``b x
n_components`` gates for ReLU, ``b x k`` for TopK).
"""

import numpy as np

from . import _gpu
from ._autoencoder_model import _check_diverged, dropout_scale
from ._autoencoder_xp import normalize_rows, project_out_rows, sae_loss_grad, soft_threshold_inplace
from ._dense import row_chunks
from ._validation import restore_on_error


def _select(cp):
    """TopK then ReLU per row (threshold.cu's warp top-k, "topk_value")."""
    def select(pre, k):
        offset = cp.zeros(pre.shape[1], dtype=cp.float64)
        return _gpu.fused("encode")(cp.ascontiguousarray(pre), offset, "topk_value", 0.0,
                                       False, k, None, None, None)
    return select


def _step(est, xp, cp, select, P, moments, Xb, t, dead, rng, mask):
    """``SparseAutoencoder._step`` on the GPU (``mask``: the pruning mask)."""
    lr, l1, bias1, bias2 = est._rates(t)

    def draw(n):  # the CPU's draws from the fit's generator, copied over
        return cp.asarray(dropout_scale(rng, (n,), est.dropout, np.dtype(Xb.dtype)))

    loss, grads, info = sae_loss_grad(
        xp, select, P, Xb, activation=est.activation, k=est._k(), l1=l1,
        aux_k=est._aux_k(), aux_coef=est.aux_coef, dead=dead, dropout=est.dropout,
        draw=draw, fused=_gpu.fused_kernels())
    if est.normalize_decoder:
        project_out_rows(xp, P["W_dec"], grads["W_dec"])
    for name, (m1, m2) in moments.items():
        _gpu.fused("adam")(P[name], grads[name], m1, m2, lr, est.beta_1, est.beta_2,
                              est.epsilon, bias1, bias2)
    if est.weight_l1 > 0:
        soft_threshold_inplace(xp, P["W_enc"], lr * est.weight_l1)
    if mask is not None:
        P["W_enc"][...] = P["W_enc"] * mask
    if est.normalize_decoder:
        normalize_rows(xp, P["W_dec"])
    return loss, info


def _epoch(est, xp, cp, X, sparse, P, moments, state, rng):
    """``SparseAutoencoder._epoch`` on the GPU: the same minibatch order
    (drawn from the host ``rng``), each minibatch dense on the device."""
    select = _select(cp)

    def rows_of(rows):  # (a CSR minibatch densified on the device)
        Xb = _gpu.rows_of(X, rows)
        return cp.ascontiguousarray(Xb.toarray()) if sparse else Xb

    def step(Xb, t, dead, mask):
        return _step(est, xp, cp, select, P, moments, Xb, t, dead, rng, mask)

    loss = est._epoch_loop(X.shape[0], sparse, P, state, rng, rows_of, step,
                           lambda W: normalize_rows(xp, W))
    # the weights, and the pre-activations of a few rows (finite weights of
    # 1e200 still overflow them)
    head = X[:256]
    head = head.toarray() if sparse else head
    pre = (head - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    finite = all(bool(xp.all(xp.isfinite(a))) for a in (*P.values(), pre))
    _check_diverged(est, loss if finite else float("nan"), [])
    return loss


def explained_variance_gpu(est, X, P, threshold):
    """``SparseAutoencoder._explained_variance`` of a CuPy ``X`` (the
    validation rows of ``early_stopping``) under the parameters ``P`` being
    trained: the codes by the transform's kernels, the reconstruction and
    the sums in float64 on the device, by row chunks (a CSR chunk densified
    there)."""
    cp = _gpu.cupy()
    sparse = _gpu.cupyx_sparse().issparse(X)
    host = {name: _gpu.to_host(P[name]) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    W = cp.asarray(host["W_dec"], dtype=cp.float64)
    bias = cp.asarray(host["b_dec"], dtype=cp.float64)
    n, d = X.shape
    res, sq, total = 0.0, 0.0, cp.zeros(d)
    for start, stop in row_chunks(n, max(W.shape)):
        rows = X[start:stop]
        codes = est._encode_gpu(rows, host, threshold, sparse_output=False)
        Xd = (rows.toarray() if sparse else rows).astype(cp.float64)
        D = Xd - (codes.astype(cp.float64) @ W + bias)
        res += float((D * D).sum())
        total += Xd.sum(axis=0)
        sq += float((Xd * Xd).sum())
    centred = sq - float(total @ total) / n
    return 1.0 - res / centred if centred > 0 else 0.0


def autoencoder_fit_gpu(est, X, partial):
    """``SparseAutoencoder.fit`` (``partial``: ``partial_fit``) of CuPy
    input: the fitted parameters come back to the host, as after a CPU fit."""
    cp = _gpu.cupy()
    xp = _gpu.namespace()
    first = not partial or not hasattr(est, "components_")
    with restore_on_error(est):
        X, sparse = _gpu.validate(est, X, reset=first)
        with _gpu.on_device(X):
            if partial:
                rng, P, moments, state, previous = est._resume(X, first)
            else:
                rng, X, X_val, P, moments, state = est._start_fit(X)
            P = {name: cp.asarray(P[name]) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
            if est.tied:
                P["W_dec"] = P["W_enc"]
            moments = {name: (cp.asarray(a), cp.asarray(b))
                       for name, (a, b) in moments.items()}
            state["since_fired"] = cp.asarray(state["since_fired"])
            if state.get("mask") is not None:
                state["mask"] = cp.asarray(state["mask"])

            def run(X_, P_, moments_, state_, rng_):
                return _epoch(est, xp, cp, X_, sparse, P_, moments_, state_, rng_)

            if partial:
                loss = run(X, P, moments, state, rng)
                est._finish_partial(P, moments, state, rng, previous, loss)
            else:
                est._train(X, X_val, P, moments, state, rng, est.max_iter, epoch=run,
                           score=lambda X_, P_, t: explained_variance_gpu(est, X_, P_, t))
    return est
