"""DictionaryLearner on problem C (one epoch), paired with SPAMS trainDL on
the same data. Mirrors ``benchmarks/dictionary.py``."""

import numpy as np

from sparsecode import DictionaryLearner, sparse_encode

from .common import Benchmark, get_problem, objective


class OnlineDictionary(Benchmark):
    params = (["online", "batch", "ksvd"],)
    param_names = ["method"]

    def setup(self, method):
        self.X, self.X_test, self.alpha = get_problem("C")
        self.kw = dict(n_components=256, alpha=self.alpha, method=method, batch_size=256,
                       max_iter=1, tol=0, max_no_improvement=None, n_nonzero_coefs=8,
                       random_state=0)
        DictionaryLearner(**self.kw).fit(self.X[:512])

    def time_fit(self, method):
        DictionaryLearner(**self.kw).fit(self.X)

    def track_heldout_objective(self, method):
        D = DictionaryLearner(**self.kw).fit(self.X).components_
        codes = sparse_encode(self.X_test, D, algorithm="lars", alpha=self.alpha)
        return objective(self.X_test, D, codes, self.alpha)


class SpamsTrainDL(Benchmark):
    def setup(self):
        try:
            import spams
        except ImportError:
            raise NotImplementedError("spams-bin is not installed (bench extra)")
        self.spams = spams
        X, _, self.alpha = get_problem("C")
        self.Xf = np.asfortranarray(X.T)
        self.steps = int(np.ceil(X.shape[0] / 256))

    def time_fit(self):
        self.spams.trainDL(self.Xf, K=256, lambda1=self.alpha, mode=2, iter=self.steps,
                           batchsize=256, numThreads=-1, verbose=False)
