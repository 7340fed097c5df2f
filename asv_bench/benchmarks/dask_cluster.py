"""sparsecode.dask on a two-worker ``LocalCluster``: the batch and online fits
of problem C held as a dask array of row blocks, the blockwise transform, and
the payload per iteration; the in-memory fit of the same data as the peer.
Mirrors ``benchmarks/dask_scaling.py`` at a size asv can repeat. (Named
``dask_cluster`` so that it never shadows the ``dask`` package.)"""

import warnings

import numpy as np

from .common import Benchmark, get_problem


def _quiet():
    warnings.filterwarnings("ignore")


class DaskDictionary(Benchmark):
    params = (["batch", "online"],)
    param_names = ["method"]
    repeat = (1, 3, 120)

    def setup(self, method):
        try:
            import dask.array as da
            from distributed import Client, LocalCluster
        except ImportError:
            raise NotImplementedError("dask[distributed] is not installed (bench extra)")
        from sparsecode.dask import DictionaryLearner

        _quiet()
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                    dashboard_address=None)
        self.client = Client(self.cluster)
        X, _, self.alpha = get_problem("C")
        self.X = X
        self.dX = da.from_array(X, chunks=(X.shape[0] // 8, X.shape[1])).persist()
        self.kw = dict(n_components=256, alpha=self.alpha, method=method, batch_size=256,
                       max_iter=2, tol=0, random_state=0)
        self.estimator = DictionaryLearner
        self.fitted = DictionaryLearner(**self.kw).fit(self.dX)  # warm: JIT, workers

    def teardown(self, method):
        self.client.close()
        self.cluster.close()

    def time_fit(self, method):
        self.estimator(**self.kw).fit(self.dX)

    def time_transform(self, method):
        self.fitted.transform(self.dX).compute()

    def track_bytes_per_iteration(self, method):
        return self.fitted.bytes_per_iteration_

    track_bytes_per_iteration.unit = "bytes"

    def track_max_difference_from_in_memory(self, method):
        """The batch fit equals the in-memory fit (rounding); the online fit
        follows its own chunk order, so only batch is compared."""
        if method != "batch":
            return 0.0
        from sparsecode import DictionaryLearner

        local = DictionaryLearner(**self.kw).fit(self.X)
        return float(np.abs(local.components_ - self.fitted.components_).max())


class InMemoryDictionary(Benchmark):
    """The peer: the same fit on the numpy array in this process."""

    params = (["batch", "online"],)
    param_names = ["method"]

    def setup(self, method):
        from sparsecode import DictionaryLearner

        _quiet()
        self.X, _, alpha = get_problem("C")
        self.kw = dict(n_components=256, alpha=alpha, method=method, batch_size=256,
                       max_iter=2, tol=0, random_state=0)
        DictionaryLearner(**self.kw).fit(self.X[:512])

    def time_fit(self, method):
        from sparsecode import DictionaryLearner

        DictionaryLearner(**self.kw).fit(self.X)
