"""
==================================================
Dropout and pruning in a sparse autoencoder
==================================================

Two other ways to sparsity beside the L1 penalty on the codes. Dropout
(Srivastava et al., 2014) zeroes each hidden unit with probability ``p`` in
training, so no code can lean on one other unit; pruning (Zhu & Gupta, 2017)
removes the encoder weights of smallest magnitude along a cubic schedule until
a target density is left, which makes ``transform`` a sparse product. Here a
ReLU :class:`~sparsecode.SparseAutoencoder` with 128 latents is trained on the
8x8 digits, and the held-out explained variance and the activation sparsity
are measured for several dropout rates and weight densities.
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sparsecode import SparseAutoencoder

X = load_digits().data / 16.0
X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)


def train(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # every training row trains (no rows held out): the settings alone differ
        return SparseAutoencoder(128, l1=3e-3, max_iter=40, batch_size=128,
                                 early_stopping=False, random_state=0, **params).fit(X_train)


def active_share(sae):
    return float(np.mean(sae.transform(X_test) > 0))


print("dropout | held-out explained variance | share of active codes")
dropout_rows = []
for p in (0.0, 0.1, 0.3, 0.5):
    sae = train(dropout=p)
    dropout_rows.append((p, sae.score(X_test), active_share(sae)))
    print(f"{p:7.1f} | {dropout_rows[-1][1]:27.4f} | {dropout_rows[-1][2]:.3f}")

print("\nweight density | held-out explained variance | share of active codes")
prune_rows = []
for density in (1.0, 0.3, 0.1, 0.03):
    sae = train(prune=None if density == 1.0 else density, prune_epochs=20)
    prune_rows.append((sae.encoder_density_, sae.score(X_test), active_share(sae)))
    print(f"{prune_rows[-1][0]:14.3f} | {prune_rows[-1][1]:27.4f} | {prune_rows[-1][2]:.3f}")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    p, ev, active = zip(*dropout_rows)
    ax1.plot(p, ev, "o-", label="held-out explained variance")
    ax1.plot(p, active, "s--", label="share of active codes")
    ax1.set_xlabel("dropout rate")
    ax1.legend()
    d, ev, active = zip(*prune_rows)
    ax2.plot(d, ev, "o-", label="held-out explained variance")
    ax2.plot(d, active, "s--", label="share of active codes")
    ax2.set_xscale("log")
    ax2.set_xlabel("encoder weight density")
    ax2.legend()
    fig.tight_layout()
    plt.show()
