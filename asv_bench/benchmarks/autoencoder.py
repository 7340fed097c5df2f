"""SparseAutoencoder and KLSparseEncoder: training throughput beside a plain
PyTorch SAE (when the ``bench`` extra is installed), transform time, and the
loss / explained variance reached. Mirrors ``benchmarks/autoencoder.py``."""

import os
import sys
import warnings

import numpy as np

from sparsecode import KLSparseEncoder, SparseAutoencoder

from .common import Benchmark

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "benchmarks"))

import autoencoder as ae  # noqa: E402

N_TRAIN = 8192


class SAETrain(Benchmark):
    params = (["relu", "topk", "batchtopk"],)
    param_names = ["activation"]

    def setup(self, activation):
        self.X = ae.make_data(n=N_TRAIN)
        self.kw = dict(activation=activation, k=ae.K, l1=ae.L1, batch_size=ae.BATCH,
                       learning_rate=ae.LR, max_iter=1, aux_k=0, shuffle=False,
                       early_stopping=False, random_state=0)  # every row trains, as torch's
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            SparseAutoencoder(64, activation=activation, k=4, batch_size=64, max_iter=1,
                              random_state=0).fit(self.X[:256])

    def _fit(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SparseAutoencoder(ae.LATENTS, **self.kw).fit(self.X)

    def time_epoch(self, activation):
        self._fit()

    def track_explained_variance(self, activation):
        return self._fit().score(self.X)


class TorchSAEPeer(Benchmark):
    """The same SAE written plainly in PyTorch (CPU), one epoch."""

    params = (["relu", "topk"],)
    param_names = ["activation"]

    def setup(self, activation):
        try:
            import torch  # noqa: F401
        except ImportError:
            raise NotImplementedError("PyTorch is a bench extra")
        self.X = ae.make_data(n=N_TRAIN)

    def time_epoch(self, activation):
        ae.run_torch(self.X, activation, 1)


class SAETransform(Benchmark):
    params = (["relu", "topk"], ["float64", "float32"])
    param_names = ["activation", "dtype"]

    def setup(self, activation, dtype):
        X = ae.make_data(n=4096).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.sae = SparseAutoencoder(512, activation=activation, k=16, max_iter=1,
                                         random_state=0).fit(X)
        self.X = np.tile(X, (4, 1))
        self.sae.transform(self.X[:10])

    def time_transform(self, activation, dtype):
        self.sae.transform(self.X)


class KLFit(Benchmark):
    params = ([25, 100],)
    param_names = ["hidden"]

    def setup(self, hidden):
        from problems import _grey_patches

        from sparsecode._kmeans import zca

        P = _grey_patches("china.jpg", 5000, 0)
        mean, W = zca(P, 0.1)
        self.X = (P - mean) @ W
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            KLSparseEncoder(hidden, max_iter=2, random_state=0).fit(self.X[:200])

    def _fit(self, hidden):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return KLSparseEncoder(hidden, max_iter=100, tol=0, random_state=0).fit(self.X)

    def time_fit(self, hidden):
        self._fit(hidden)

    def track_loss(self, hidden):
        return self._fit(hidden).loss_curve_[-1]
