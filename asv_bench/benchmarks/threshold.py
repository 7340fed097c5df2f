"""ThresholdEncoder: transform per mode on problems A (dense patches) and B
(CSR) beside the bare GEMM ``X @ D.T`` it is built on, k-means fit time, and
digits accuracy. Mirrors ``benchmarks/threshold.py``."""

import numpy as np

from sparsecode import ThresholdEncoder

from .common import Benchmark, get_problem


class Transform(Benchmark):
    params = (["A", "B"], ["soft", "hard", "topk", "triangle"], ["float64", "float32"])
    param_names = ["problem", "mode", "dtype"]

    def setup(self, problem, mode, dtype):
        X, D, _ = get_problem(problem)
        self.X = X.astype(dtype)
        self.enc = ThresholdEncoder(dictionary=D, mode=mode, alpha=0.1, k=25).fit(self.X)
        self.enc.transform(self.X[:50])

    def time_transform(self, problem, mode, dtype):
        self.enc.transform(self.X)

    def peakmem_transform(self, problem, mode, dtype):
        self.enc.transform(self.X)


class BareGemm(Benchmark):
    """The peer of ``Transform``: the one product every mode starts from."""

    params = (["A", "B"], ["float64", "float32"])
    param_names = ["problem", "dtype"]

    def setup(self, problem, dtype):
        X, D, _ = get_problem(problem)
        self.X, self.DT = X.astype(dtype), np.ascontiguousarray(D.T, dtype=dtype)

    def time_gemm(self, problem, dtype):
        self.X @ self.DT


class KMeansFit(Benchmark):
    params = (["A"], ["soft", "triangle"])
    param_names = ["problem", "mode"]

    def setup(self, problem, mode):
        self.X = get_problem(problem)[0]
        ThresholdEncoder(8, mode=mode, kmeans_max_iter=2, random_state=0).fit(self.X[:500])

    # k-means on the raw rows, as the history measured (and sklearn's KMeans below)
    def time_fit(self, problem, mode):
        ThresholdEncoder(256, mode=mode, whiten=False, random_state=0).fit(self.X)

    def track_objective(self, problem, mode):
        return ThresholdEncoder(256, mode=mode, whiten=False,
                                random_state=0).fit(self.X).objective_[-1]


class SklearnKMeansPeer(Benchmark):
    """scikit-learn's KMeans (Lloyd, k-means++) on the same patches."""

    params = (["A"],)
    param_names = ["problem"]

    def setup(self, problem):
        self.X = get_problem(problem)[0]

    def time_fit(self, problem):
        from sklearn.cluster import KMeans

        KMeans(256, n_init=1, random_state=0).fit(self.X)


class DigitsAccuracy(Benchmark):
    """Held-out accuracy of a logistic regression on the features."""

    params = (["raw", "soft", "triangle"],)
    param_names = ["features"]

    def setup(self, features):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        self.split = train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)

    def track_accuracy(self, features):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        X_train, X_test, y_train, y_test = self.split
        steps = [] if features == "raw" else [
            ThresholdEncoder(400, mode=features, whiten=True, target_sparsity=(
                0.9 if features == "soft" else None), random_state=0)]
        pipe = make_pipeline(*steps, LogisticRegression(max_iter=2000))
        return pipe.fit(X_train, y_train).score(X_test, y_test)
