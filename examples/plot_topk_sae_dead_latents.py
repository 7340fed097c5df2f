"""
=====================================================
TopK sparse autoencoder: features and dead latents
=====================================================

A :class:`sparsecode.SparseAutoencoder` with ``activation="topk"`` (Gao et al.
2024) keeps the ``k`` largest pre-activations of each sample. Trained on data
made from a planted sparse dictionary, its decoder rows should recover the
planted atoms. Latents that stop firing are *dead*; the AuxK loss has the
largest dead pre-activations reconstruct the residual, which gives them a
gradient again. Training by ``partial_fit`` over a stream records the loss and
the dead fraction as they evolve, with and without AuxK.

Here twice as many latents as planted atoms capture the data, so the residual
is noise: AuxK fits that noise and leaves *more* latents dead (36% against 16%
at the end). AuxK pays where the residual holds structure the live latents
miss, as at the scales Gao et al. train at; measure before turning it on.
"""

import numpy as np

from sparsecode import SparseAutoencoder

rng = np.random.default_rng(0)
n_atoms, d = 64, 32
atoms = rng.standard_normal((n_atoms, d))
atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)


def stream(n):
    codes = (rng.random((n, n_atoms)) < 4 / n_atoms) * rng.exponential(1.0, (n, n_atoms))
    return codes @ atoms + 0.02 * rng.standard_normal((n, d))


X_chunks = [stream(2048) for _ in range(60)]
curves = {}
for aux_k in (0, 32):
    sae = SparseAutoencoder(128, activation="topk", k=4, aux_k=aux_k, batch_size=256,
                            learning_rate=3e-3, dead_threshold=4096, random_state=0)
    loss, dead = [], []
    for X in X_chunks:
        sae.partial_fit(X)
        loss.append(sae.loss_curve_[-1])
        dead.append(sae.dead_fraction_)
    # how well the decoder rows recover the planted atoms
    recovery = np.abs(sae.components_ @ atoms.T).max(axis=0)
    curves[aux_k] = (loss, dead)
    print(f"aux_k={aux_k:2d}: final loss {loss[-1]:.4f}, dead latents {dead[-1]:.0%}, "
          f"planted atoms recovered with |cos| > 0.95: {np.mean(recovery > 0.95):.0%}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for aux_k, (loss, dead) in curves.items():
        ax1.plot(loss, label=f"aux_k={aux_k}")
        ax2.plot(dead, label=f"aux_k={aux_k}")
    ax1.set_xlabel("chunks of 2048 samples")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax2.set_xlabel("chunks of 2048 samples")
    ax2.set_ylabel("dead fraction")
    ax2.legend()
    fig.tight_layout()

    # the last model's codes: activation frequency per latent, dead ones
    # marked, and the number of active latents per sample (k = 4 here, fewer
    # where the ReLU after the top-k zeroes some)
    from sparsecode.plotting import plot_codes

    plot_codes(sae.transform(X_chunks[-1]))
