"""Autoencoder training on the GPU (CuPy input, or ``device="gpu"``):
SparseAutoencoder's minibatch steps, and below KLSparseEncoder's loss and
gradient (its optimiser stays on the host).

The epoch loop, the stopping rule, the initialisation and the bookkeeping
are the CPU's (``SparseAutoencoder._epoch_loop``, ``_rates``, ``_train``,
``_init_state``, ``_resume``),
with the same random draws, so a GPU fit follows the CPU fit step for step.
What differs is the minibatch step, written here against the array API on
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
from ._autoencoder_model import _check_diverged, _kl_terms, _unpack, dropout_scale
from ._dense import row_chunks
from ._validation import restore_on_error


def relu_forward(xp, P, b_enc, gates):
    """autoencoder.cu's ``relu_forward`` in the array API (not in place):
    ``(F, fired, mass)`` with ``F = max(P + b_enc, 0)`` (times ``gates``)
    and its column sums in float64 before and after the gates."""
    v = P + b_enc
    F = xp.where(v > 0, v, xp.zeros_like(v))
    fired = xp.sum(xp.astype(F, xp.float64), axis=0)
    if gates is None:
        return F, fired, fired
    F = F * gates
    return F, fired, xp.sum(xp.astype(F, xp.float64), axis=0)


def gate_backward(xp, G, F, add=None, div=None, scale=None):
    """autoencoder.cu's ``gate_backward`` in the array API: where ``F > 0``,
    ``G (+ add) (/ div) (* scale)``, else 0, and its column sums in
    float64."""
    g = G if add is None else G + add
    g = xp.where(F > 0, g, xp.zeros_like(g))
    if div is not None:
        g = g / div
    if scale is not None:
        g = g * scale
    return g, xp.sum(xp.astype(g, xp.float64), axis=0)


def generic_fused(xp):
    """The fused parts of a step (the GPU backend's "relu_forward",
    "gate_backward" and "adam") written in the array API, for namespaces
    without the CUDA kernels (the tests' numpy stand-in)."""
    import functools

    return {"relu_forward": functools.partial(relu_forward, xp),
            "gate_backward": functools.partial(gate_backward, xp),
            "adam": functools.partial(adam_update, xp)}


def sae_loss_grad(xp, select, P, Xb, *, activation, k, l1, aux_k, aux_coef, dead,
                  threshold=None, dropout=0.0, draw=None, fused=None):
    """The loss, gradients and minibatch statistics of
    :func:`sparsecode._autoencoder_model.sae_loss_grad` (same model, same
    straight-through gradients, AuxK, dropout) on a dense minibatch, with
    dense codes: ``select(pre, k)`` is the ReLU of each row's ``k`` largest
    entries (ties by lower index). ``draw(n)``: ``n`` dropout gates (0 or
    ``1 / (1 - dropout)``) on the device, drawn as the CPU draws them.
    ``fused``: the element-wise passes around the GEMMs (autoencoder.cu's
    kernels, default :func:`generic_fused`). Returns ``(loss, grads, info)``
    with ``info["fired"]`` a boolean array of the latents active in the
    batch (before dropout)."""
    fused = fused or generic_fused(xp)
    W_enc, b_enc, W_dec, b_dec = P["W_enc"], P["b_enc"], P["W_dec"], P["b_dec"]
    b, m = Xb.shape[0], W_enc.shape[0]
    Xc = Xb - b_dec
    pre = Xc @ W_enc.T
    info = {"threshold": None}
    aux = None
    keep = 1.0 / (1.0 - dropout) if dropout else None
    if activation == "relu":
        gates = xp.reshape(draw(b * m), (b, m)) if dropout else None
        F, fired, mass = fused["relu_forward"](pre, b_enc, gates)
        info["fired"] = fired > 0
        norms = xp.sqrt(xp.sum(W_dec * W_dec, axis=1))
        R = F @ W_dec + b_dec - Xb
        loss = (0.5 * float(xp.sum(R * R)) + l1 * float(xp.sum(F @ norms))) / b
        R = R / b
        # F > 0: the codes both active and kept (the ReLU's and dropout's gates)
        dpre, g_b_enc = fused["gate_backward"](R @ W_dec.T, F, (l1 / b) * norms, None, keep)
        g_W_dec = F.T @ R + xp.astype(
            l1 * (mass / b) / xp.maximum(xp.astype(norms, xp.float64), 1e-30),
            W_dec.dtype)[:, None] * W_dec
        R_sum = xp.sum(R, axis=0)
    else:
        pre = pre + b_enc
        zero = xp.zeros_like(pre)
        if activation == "topk":
            codes = select(pre, k)
        else:
            if threshold is None:
                threshold = batch_threshold(xp, pre, k)
            info["threshold"] = threshold
            codes = xp.where(pre > threshold, pre, zero)
        info["fired"] = xp.any(codes > 0, axis=0)
        if dropout:
            codes = codes * _gates(xp, pre, activation, k, threshold, draw)
        R = codes @ W_dec + b_dec - Xb
        loss = 0.5 * float(xp.sum(R * R)) / b
        n_dead = int(xp.sum(xp.astype(dead, xp.int64))) if aux_k else 0
        if n_dead:
            masked = xp.where(dead, pre, xp.full_like(pre, -xp.inf))
            aux = select(masked, min(aux_k, n_dead))
            R_aux = aux @ W_dec + R  # e_hat - e with e = x - x_hat = -R
            loss += 0.5 * aux_coef * float(xp.sum(R_aux * R_aux)) / b
        dpre, g_b_enc = fused["gate_backward"](R @ W_dec.T, codes, None, b, keep)
        g_W_dec = codes.T @ R / b
        if aux is not None:
            dpre_aux, g_aux = fused["gate_backward"](R_aux @ W_dec.T, aux, None, None,
                                                     aux_coef / b)
            g_W_dec = g_W_dec + aux.T @ R_aux * (aux_coef / b)
            dpre = dpre + dpre_aux
            g_b_enc = g_b_enc + g_aux
        R_sum = xp.sum(R, axis=0) / b
    g_W_enc = dpre.T @ Xc
    g_b_enc = xp.astype(g_b_enc, dpre.dtype)  # (summed in float64, as on the CPU)
    grads = {"W_enc": g_W_enc, "b_enc": g_b_enc, "W_dec": g_W_dec,
             "b_dec": R_sum - g_b_enc @ W_enc}
    if W_dec is W_enc:
        grads["W_enc"] = grads["W_dec"] = g_W_enc + g_W_dec
    return loss, grads, info


def _gates(xp, pre, activation, k, threshold, draw):
    """Dropout's gates of the selected codes, dense: the CPU draws one per
    entry of its sparse codes, row by row; within a row, TopK lists the
    entries above the row's ``k``-th largest pre-activation in index order,
    then the ties at it (by lower index, up to ``k``), and BatchTopK those
    above the threshold in index order. Each selected entry gets the draw of
    its place in that order; the others 0 (their codes are 0)."""
    b, m = pre.shape

    def running(mask):  # 1, 2, ... along each row where mask holds
        return xp.cumulative_sum(xp.astype(mask, xp.int64), axis=1)

    if activation == "topk":
        kk = min(k, m)
        t = xp.sort(pre, axis=1)[:, m - kk:m - kk + 1]
        above, tie = pre > t, pre == t
        n_above = xp.sum(xp.astype(above, xp.int64), axis=1)[:, None]
        slot = xp.where(above, running(above) - 1, n_above + running(tie) - 1)
        chosen = above | (tie & (slot < kk))
        first = xp.arange(b, dtype=xp.int64)[:, None] * k  # (the CPU's rows hold k slots)
        n_draws = b * k
    else:
        chosen = pre > threshold
        counts = xp.sum(xp.astype(chosen, xp.int64), axis=1)
        first = (xp.cumulative_sum(counts) - counts)[:, None]
        slot = running(chosen) - 1
        n_draws = int(xp.sum(counts))
    gates = draw(n_draws)
    where = xp.reshape(xp.where(chosen, first + slot, xp.zeros_like(slot)), (-1,))
    picked = xp.reshape(xp.take(gates, where), (b, m)) if n_draws else xp.zeros_like(pre)
    return xp.where(chosen, picked, xp.zeros_like(pre))


def batch_threshold(xp, pre, k):
    """:func:`sparsecode._autoencoder_model.batch_threshold`: the ``b * k``-th
    largest pre-activation of the batch, stepped just below, at least 0."""
    flat = xp.reshape(pre, (-1,))
    n_keep = min(pre.shape[0] * k, flat.shape[0])
    t = xp.sort(flat)[flat.shape[0] - n_keep]
    below = xp.nextafter(t, xp.asarray(-xp.inf, dtype=pre.dtype))
    return max(float(below), 0.0)


def adam_update(xp, param, grad, m1, m2, lr, beta1, beta2, eps, bias1, bias2):
    """One Adam step, in place (``bias*``: 1 - beta**t), in float64
    arithmetic rounded once to the parameters' dtype: autoencoder.cu's
    ``adam_step`` and the CPU's ``adam_update``, operation for operation."""
    f64 = xp.float64
    g = xp.astype(grad, f64)
    a = beta1 * xp.astype(m1, f64) + (1 - beta1) * g
    v = beta2 * xp.astype(m2, f64) + (1 - beta2) * g * g
    m1[...] = xp.astype(a, m1.dtype)
    m2[...] = xp.astype(v, m2.dtype)
    param[...] = xp.astype(xp.astype(param, f64) - lr * (a / bias1) / (xp.sqrt(v / bias2) + eps),
                           param.dtype)


def _row_norms_sq(xp, W):
    """The rows' squared norms, 1 in place of 0 (a zero row stays as it is)."""
    nrm = xp.sum(W * W, axis=1)
    return xp.where(nrm > 0, nrm, xp.ones_like(nrm))


def project_out_rows(xp, W, G):
    """``G[j] -= (G[j].W[j] / ||W[j]||^2) W[j]``, in place."""
    G[...] = G - (xp.sum(G * W, axis=1) / _row_norms_sq(xp, W))[:, None] * W


def normalize_rows(xp, W):
    W[...] = W * (1.0 / xp.sqrt(_row_norms_sq(xp, W)))[:, None]


def soft_threshold_inplace(xp, W, t):
    W[...] = xp.sign(W) * xp.maximum(xp.abs(W) - t, xp.zeros_like(W))


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


def kl_loss_grad_gpu(theta, X, m, rho, beta, weight_decay, dropout_scale=None):
    """:func:`sparsecode._autoencoder_model.kl_loss_grad` with ``X`` on the GPU
    (float64; a ``cupyx`` CSR ``X`` densified for the call): the products
    and the sigmoid's forward and backward passes there, ``theta`` (the
    optimiser's host vector) in and the gradient out. The optimiser (L-BFGS
    or Adam) stays on the host, as on the CPU."""
    cp = _gpu.cupy()
    if _gpu.cupyx_sparse().issparse(X):
        X = X.toarray()
    n, d = X.shape
    W1, W2, b1, b2 = _unpack(cp.asarray(theta), m, d)
    A = 1.0 / (1.0 + cp.exp(-(X @ W1.T + b1)))
    rho_hat, kl, kl_col = _kl_terms(_gpu.to_host(A.sum(axis=0)), n, rho, beta)
    scale = None if dropout_scale is None else cp.asarray(dropout_scale)
    Ad = A if scale is None else A * scale
    R = Ad @ W2 + b2 - X
    dA = R @ W2.T
    if scale is not None:
        dA *= scale
    dZ = (dA * (1.0 / n) + cp.asarray(kl_col)) * A * (1.0 - A)
    loss = (0.5 * float((R * R).sum()) / n
            + 0.5 * weight_decay * (float((W1 * W1).sum()) + float((W2 * W2).sum()))
            + beta * kl)
    grad = cp.concatenate([(dZ.T @ X + weight_decay * W1).ravel(),
                           (Ad.T @ R / n + weight_decay * W2).ravel(),
                           dZ.sum(axis=0), R.sum(axis=0) / n])
    return loss, _gpu.to_host(grad), rho_hat
