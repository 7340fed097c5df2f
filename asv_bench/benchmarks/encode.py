"""sparse_encode on problems A (image patches) and B (sparse text-like), each
timing paired with a peer's on the same data (scikit-learn; SPAMS when the
``bench`` extra is installed). Mirrors ``benchmarks/encode.py``."""

import numpy as np
import scipy.sparse as sp

from sparsecode import sparse_encode

from .common import Benchmark, get_problem, objective

OMP_ATOMS = 10


def _kwargs(algorithm, alpha):
    if algorithm == "omp":
        return dict(algorithm="omp", n_nonzero_coefs=OMP_ATOMS)
    return dict(algorithm=algorithm, alpha=alpha)


class SparseEncode(Benchmark):
    params = (["A", "B"], ["lars", "cd", "fista", "omp", "threshold"])
    param_names = ["problem", "algorithm"]

    def setup(self, problem, algorithm):
        self.X, self.D, self.alpha = get_problem(problem)
        self.kw = _kwargs(algorithm, self.alpha)
        sparse_encode(self.X[:50], self.D, **self.kw)

    def time_encode(self, problem, algorithm):
        sparse_encode(self.X, self.D, **self.kw)

    def peakmem_encode(self, problem, algorithm):
        sparse_encode(self.X, self.D, **self.kw)

    def track_objective(self, problem, algorithm):
        return objective(self.X, self.D, sparse_encode(self.X, self.D, **self.kw), self.alpha)


class SklearnPeer(Benchmark):
    """scikit-learn on the same problems (densified: it needs dense X here)."""

    params = (["A", "B"], ["lasso_cd", "omp"])
    param_names = ["problem", "algorithm"]

    def setup(self, problem, algorithm):
        X, self.D, self.alpha = get_problem(problem)
        self.X = X.toarray() if sp.issparse(X) else X
        self.kw = _kwargs(algorithm, self.alpha)

    def time_encode(self, problem, algorithm):
        from sklearn.decomposition import sparse_encode as sk_encode

        sk_encode(self.X, self.D, n_jobs=-1, **self.kw)


class SpamsPeer(Benchmark):
    """SPAMS ``lasso`` (LARS/homotopy, C++) and ``omp``."""

    params = (["A", "B"], ["lasso", "omp"])
    param_names = ["problem", "algorithm"]

    def setup(self, problem, algorithm):
        try:
            import spams
        except ImportError:
            raise NotImplementedError("spams-bin is not installed (bench extra)")
        self.spams = spams
        X, D, self.alpha = get_problem(problem)
        X = X.toarray() if sp.issparse(X) else X
        self.Xf = np.asfortranarray(X.T)
        self.Df = np.asfortranarray(D.T)

    def time_encode(self, problem, algorithm):
        if algorithm == "omp":
            self.spams.omp(self.Xf, D=self.Df, L=OMP_ATOMS, numThreads=-1)
        else:
            self.spams.lasso(self.Xf, D=self.Df, lambda1=self.alpha, mode=2, numThreads=-1)
