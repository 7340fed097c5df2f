"""SparseAttentionTransformer on problem D (one sequence, d = 64, window
256) per pattern, beside dense masked attention in numpy where the n x n
scores fit. Mirrors ``benchmarks/attention.py``."""

import numpy as np

from sparsecode import SparseAttentionTransformer

from .common import Benchmark, problems

PATTERNS = {
    "window": dict(pattern="window", window=256),
    "longformer": dict(pattern="longformer", window=256, global_tokens=1),
    "bigbird": dict(pattern="bigbird", window=256, global_tokens=1, n_random=3,
                    block_size=64),
    "lsh": dict(pattern="lsh", n_hashes=4, n_buckets=32, chunk_size=64),
}


class Transform(Benchmark):
    params = ([10_000, 100_000], list(PATTERNS), ["float64", "float32"])
    param_names = ["n_tokens", "pattern", "dtype"]

    def setup(self, n, pattern, dtype):
        self.X = problems.problem_d(n, dtype)
        self.est = SparseAttentionTransformer(**PATTERNS[pattern], random_state=0)
        self.est.fit(self.X[:2048]).transform(self.X[:2048])

    def time_transform(self, n, pattern, dtype):
        self.est.transform(self.X)

    def peakmem_transform(self, n, pattern, dtype):
        self.est.transform(self.X)


class DenseNumpy(Benchmark):
    """The peer: softmax over the window-masked n x n scores in numpy."""

    params = ([2_000, 10_000], ["float64", "float32"])
    param_names = ["n_tokens", "dtype"]

    def setup(self, n, dtype):
        self.X = problems.problem_d(n, dtype)
        i = np.arange(n)
        self.mask = np.abs(i[:, None] - i[None, :]) <= 128

    def time_dense_masked(self, n, dtype):
        X = self.X
        S = (X * X.dtype.type(0.125)) @ X.T
        S[~self.mask] = -np.inf
        S -= S.max(axis=1, keepdims=True)
        np.exp(S, out=S)
        S /= S.sum(axis=1, keepdims=True)
        S @ X
