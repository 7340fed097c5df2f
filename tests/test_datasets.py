"""sparsecode.datasets: the synthetic feedback has the structure it
promises, and recall@k equals a brute-force count."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecode.datasets import make_implicit_feedback, recall_at_k


def test_implicit_feedback_structure():
    train, test = make_implicit_feedback(2000, 500, n_tastes=10, interactions_per_user=30,
                                         random_state=0)
    assert train.shape == test.shape == (2000, 500)
    assert train.dtype == np.float32 and np.all(train.data == 1) and np.all(test.data == 1)
    assert train.multiply(test).nnz == 0  # disjoint
    per_user = np.diff(train.indptr) + np.diff(test.indptr)
    assert np.all(np.diff(test.indptr) >= 1)
    assert abs(per_user.mean() - 30) < 3
    np.testing.assert_allclose(np.diff(test.indptr) / per_user, 0.2, atol=0.1)
    # popularity skew: the top 1% of items hold far more than 1% of interactions
    counts = np.sort(np.asarray((train + test).sum(axis=0)).ravel())[::-1]
    assert counts[:5].sum() / counts.sum() > 0.05
    # planted tastes: about taste_share (0.8) of a user's items come from
    # their own tastes, against the tastes' share of the catalogue by chance
    _, _, item_taste, user_tastes = make_implicit_feedback(
        2000, 500, n_tastes=10, interactions_per_user=30, return_tastes=True,
        random_state=0)
    X = (train + test).tocsr()
    own = [np.isin(item_taste[X[u].indices], user_tastes[u].indices).mean()
           for u in range(2000)]
    shuffled = user_tastes[np.random.default_rng(0).permutation(2000)]
    other = [np.isin(item_taste[X[u].indices], shuffled[u].indices).mean()
             for u in range(2000)]
    assert np.mean(own) > 0.8 and np.mean(other) < 0.35
    again = make_implicit_feedback(2000, 500, n_tastes=10, interactions_per_user=30,
                                   random_state=0)
    assert (again[0] != train).nnz == 0


def test_recall_at_k_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((50, 40)) < 0.2).astype(float))
    test = sp.csr_matrix(((rng.random((50, 40)) < 0.1) & (train.toarray() == 0)).astype(float))
    scores = rng.random((50, 40))
    got = recall_at_k(lambda a, b: scores[a:b], train, test, k=5, batch_size=7)
    total, users = 0.0, 0
    for u in range(50):
        s = scores[u].copy()
        s[train[u].indices] = -np.inf
        top = np.argsort(-s)[:5]
        truth = test[u].indices
        if truth.size:
            total += len(set(top) & set(truth)) / min(5, truth.size)
            users += 1
    assert got == pytest.approx(total / users)


@pytest.mark.parametrize("params, match", [
    (dict(n_items=3), "n_items"), (dict(tastes_per_user=(1, 30)), "tastes_per_user"),
    (dict(tastes_per_user=(0, 2)), "tastes_per_user"), (dict(test_fraction=1.0), "test_fraction"),
    (dict(n_users=0), "n_users"), (dict(taste_share=1.5), "taste_share"),
])
def test_feedback_parameters_are_checked(params, match):
    kw = dict(n_users=10, n_items=100, n_tastes=5, random_state=0)
    with pytest.raises(ValueError, match=match):
        make_implicit_feedback(**{**kw, **params})


def test_few_interactions_still_reach_five_distinct_items():
    train, test = make_implicit_feedback(300, 200, n_tastes=5, interactions_per_user=5,
                                         taste_share=0.0, random_state=0)
    assert (np.diff(train.indptr) + np.diff(test.indptr)).min() >= 5


def test_recall_at_k_edge_values():
    train = sp.csr_matrix(np.eye(4))
    test = sp.csr_matrix(np.roll(np.eye(4), 1, axis=1))
    scores = np.ones((4, 4))
    assert recall_at_k(lambda a, b: scores[a:b], train, test, k=10) == 1.0
    with pytest.raises(ValueError, match="k must"):
        recall_at_k(lambda a, b: scores[a:b], train, test, k=0)
