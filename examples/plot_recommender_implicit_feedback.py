"""
=====================================================
Recommending items from implicit feedback
=====================================================

Who interacted with what, as a sparse user x item matrix: here synthetic
(:func:`sparsecode.datasets.make_implicit_feedback`: planted tastes and a Zipf
popularity skew), 20% of each user's interactions held out. A
:class:`~sparsecode.DictionaryLearner` with non-negative codes and atoms codes
each user as a few "tastes" (atoms are item profiles); a TopK
:class:`~sparsecode.SparseAutoencoder` does the same with an amortised encoder.
Items are scored by reconstructing each user's row, and recall@20 of the
held-out items is compared with popularity, ``TruncatedSVD`` and item-kNN. The
matrix stays sparse throughout; ``benchmarks/recommender.py`` runs the same at
100,000 users x 10,000 items.
"""

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning

from sparsecode import DictionaryLearner, SparseAutoencoder
from sparsecode.datasets import make_implicit_feedback, recall_at_k

train, test = make_implicit_feedback(8000, 1500, n_tastes=30, random_state=0)
print(f"{train.shape[0]} users x {train.shape[1]} items, {train.nnz} training and "
      f"{test.nnz} held-out interactions")


def fit_dictionary():
    dl = DictionaryLearner(48, alpha=0.1, positive_code=True, positive_dict=True,
                           batch_size=256, max_iter=3, random_state=0).fit(train)
    Z = dl.transform(train)
    print(f"  (DictionaryLearner: {np.mean((Z != 0).sum(axis=1)):.1f} tastes per user)")
    return lambda a, b: Z[a:b] @ dl.components_


def fit_autoencoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sae = SparseAutoencoder(96, activation="topk", k=8, max_iter=5, batch_size=256,
                                random_state=0).fit(train)
    return lambda a, b: sae.inverse_transform(sae.transform(train[a:b]))


def fit_svd():
    svd = TruncatedSVD(48, random_state=0).fit(train)
    U = svd.transform(train)
    return lambda a, b: U[a:b] @ svd.components_


def fit_item_knn():
    norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel()) + 1e-12  # binary data
    Xn = sp.csr_matrix(train @ sp.diags(1.0 / norms))
    S = (Xn.T @ Xn).toarray()  # 1,500 x 1,500 here; the benchmark keeps it sparse
    np.fill_diagonal(S, 0.0)
    return lambda a, b: train[a:b] @ S


def fit_popularity():
    pop = np.asarray(train.sum(axis=0)).ravel()
    return lambda a, b: np.broadcast_to(pop, (b - a, pop.size))


results = {}
for name, fit in (("popularity", fit_popularity), ("TruncatedSVD", fit_svd),
                  ("item-kNN", fit_item_knn), ("DictionaryLearner", fit_dictionary),
                  ("TopK SAE", fit_autoencoder)):
    start = time.perf_counter()
    score_rows = fit()
    results[name] = recall_at_k(score_rows, train, test, k=20)
    print(f"{name:18s} recall@20 {results[name]:.3f}  ({time.perf_counter() - start:.1f} s)")

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(list(results), list(results.values()), color="tab:blue")
    ax.set_xlabel("recall@20 of held-out interactions")
    ax.invert_yaxis()
    fig.tight_layout()
    plt.show()
