"""The autoencoders' model written against the array API, for the GPU (and
any namespace): SparseAutoencoder's loss and gradients on a dense minibatch
with dense codes, the element-wise passes around its GEMMs (in the
reference form :func:`generic_fused`; the GPU backend brings them fused in
autoencoder.cu), Adam, the decoder's row operations, and KLSparseEncoder's
loss and gradient on the GPU.

The CPU computes the same model in :mod:`sparsecode._autoencoder_model`,
differently: sparse codes, row blocks on the kernel threads, Numba kernels,
and CSR minibatches never densified (this form densifies them). Written
once, the CPU would run this form on numpy: per TopK (k=32) minibatch step
of d=256, 2,048 latents, 1,024 rows, 1.5-1.8x slower (median 69 ms against
38-46 ms: the dense codes), giving back the CPU's lead over PyTorch; for
ReLU the two are even (benchmarks/autoencoder_forms.py, benchmarks/README.md).
The tests hold the two forms to each other (``tests/test_gpu_glue.py``,
``tests/test_cuda_host.py``).
"""

import functools

from . import _gpu
from ._autoencoder_model import _kl_terms, _unpack


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
            codes = codes * dropout_gates(xp, pre, activation, k, threshold, draw)
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


def dropout_gates(xp, pre, activation, k, threshold, draw):
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
