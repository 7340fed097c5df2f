"""A pruned SparseAutoencoder's transform through the sparse (CSR) encoder
product and through the dense GEMM, per weight density. Mirrors
``benchmarks/sparse_weights.py``."""

import warnings

import numpy as np

import sparsecode._autoencoder_base as ae
from sparsecode import SparseAutoencoder

from .common import Benchmark, get_problem


class PrunedTransform(Benchmark):
    params = ([1.0, 0.1, 0.02], ["csr", "dense"])
    param_names = ["density", "product"]

    def setup(self, density, product):
        X = get_problem("A")[0]
        self.X = np.ascontiguousarray(X[:10000])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.est = SparseAutoencoder(512, max_iter=4, prune_epochs=2, random_state=0,
                                         early_stopping=False,  # as the history measured
                                         prune=None if density == 1.0 else density)
            self.est.fit(X[:5000])
        self.threshold = 2.0 if product == "csr" else -1.0
        self._saved = ae._SPARSE_ENCODER_DENSITY
        ae._SPARSE_ENCODER_DENSITY = self.threshold
        self.est.transform(self.X[:100])

    def teardown(self, density, product):
        ae._SPARSE_ENCODER_DENSITY = self._saved

    def time_transform(self, density, product):
        self.est.transform(self.X)

    def track_explained_variance(self, density, product):
        return self.est.score(self.X)
