"""Implicit-feedback recommendation: DictionaryLearner (non-negative codes and
atoms) and a TopK SparseAutoencoder against TruncatedSVD, item-kNN and
popularity, on a synthetic user x item CSR matrix (planted tastes, Zipf
popularity; ``sparsecode.datasets.make_implicit_feedback``), never densified.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/recommender.py
    ... benchmarks/recommender.py --users 10000 --items 2000

Each model scores every item for every user (in batches of users), the items
a user already has are excluded, and recall@20 of the held-out 20% is
averaged over users. Time is fit plus scoring; "peak MiB" is tracemalloc's
peak over both (numpy allocations included), the data excluded.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp

K = 20


def _item_knn(train, neighbours=100, block=1000):
    """Item-item cosine similarities, the ``neighbours`` largest per item,
    computed a block of items at a time (never the dense items x items)."""
    norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel()) + 1e-12
    Xn = sp.csr_matrix(train @ sp.diags(1.0 / norms))
    XnT = sp.csr_matrix(Xn.T)
    n_items = train.shape[1]
    rows, cols, vals = [], [], []
    for a in range(0, n_items, block):
        b = min(n_items, a + block)
        S = (XnT[a:b] @ Xn).toarray()
        S[np.arange(b - a), np.arange(a, b)] = 0.0
        top = np.argpartition(-S, neighbours, axis=1)[:, :neighbours]
        rows.append(np.repeat(np.arange(a, b), neighbours))
        cols.append(top.ravel())
        vals.append(np.take_along_axis(S, top, axis=1).ravel())
    S = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_items, n_items))
    return S.T.tocsr()  # score = x_user @ S^T: items similar to the user's items


def run(name, fit_and_scorer, train, test):
    from sparsecode.datasets import recall_at_k

    tracemalloc.start()
    t0 = time.perf_counter()
    score_rows = fit_and_scorer()
    fitted = time.perf_counter() - t0
    recall = recall_at_k(score_rows, train, test, k=K, batch_size=1024)
    total = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"| {name} | {recall:.4f} | {fitted:.1f} | {total:.1f} | {peak:.0f} |", flush=True)


def main():
    from sklearn.decomposition import TruncatedSVD

    from sparsecode import DictionaryLearner, SparseAutoencoder
    from sparsecode.datasets import make_implicit_feedback

    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    train, test = make_implicit_feedback(args.users, args.items, random_state=0)
    print(f"{args.users} users x {args.items} items: {train.nnz} training and {test.nnz} "
          f"held-out interactions ({train.nnz / args.users:.1f} + {test.nnz / args.users:.1f} "
          f"per user, CSR {train.data.nbytes + train.indices.nbytes >> 20} MiB; made in "
          f"{time.perf_counter() - t0:.1f} s)")
    print()
    print(f"| model | recall@{K} | fit (s) | fit + scoring (s) | peak MiB |")
    print("|---|---:|---:|---:|---:|")

    def popularity():
        pop = np.asarray(train.sum(axis=0)).ravel()
        return lambda a, b: np.broadcast_to(pop, (b - a, pop.size))

    def svd():
        model = TruncatedSVD(64, random_state=0).fit(train)
        U = model.transform(train)
        return lambda a, b: U[a:b] @ model.components_

    def knn():
        S = _item_knn(train)
        return lambda a, b: (train[a:b] @ S).toarray()

    def dictionary():
        dl = DictionaryLearner(64, alpha=0.1, positive_code=True, positive_dict=True,
                               batch_size=256, max_iter=3, random_state=0).fit(train)
        Z = dl.transform(train)
        return lambda a, b: Z[a:b] @ dl.components_

    def autoencoder():
        sae = SparseAutoencoder(128, activation="topk", k=8, max_iter=5, batch_size=256,
                                random_state=0).fit(train)
        return lambda a, b: sae.inverse_transform(sae.transform(train[a:b]))

    for name, model in (("popularity", popularity), ("TruncatedSVD(64)", svd),
                        ("item-kNN (cosine, 100 neighbours)", knn),
                        ("DictionaryLearner(64, positive)", dictionary),
                        ("SparseAutoencoder(128, TopK k=8)", autoencoder)):
        run(name, model, train, test)


if __name__ == "__main__":
    main()
