"""Synthetic data with planted sparse structure, and the ranking metric the
recommender example and benchmark share."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

__all__ = ["make_implicit_feedback", "recall_at_k"]


def make_implicit_feedback(n_users=100_000, n_items=10_000, *, n_tastes=40,
                           interactions_per_user=50, tastes_per_user=(1, 3),
                           popularity_exponent=1.0, taste_share=0.8, test_fraction=0.2,
                           return_tastes=False, random_state=None):
    """Synthetic implicit feedback (who interacted with what) with planted
    tastes and a popularity skew, split into train and held-out parts.

    Each taste favours a random set of items (``n_items / n_tastes`` on
    average); each item has a Zipf popularity ``rank^-popularity_exponent``.
    A user holds 1 to 3 tastes and interacts with a Poisson number (mean
    ``interactions_per_user``, at least 5, at most half the catalogue) of
    distinct items: about ``taste_share`` of them from the user's tastes
    (weighted by popularity within the taste; fewer if a taste holds fewer
    items), the rest from the whole catalogue by popularity. Synthetic data, not
    a real service's logs: the planted tastes are what a good model recovers.

    Parameters
    ----------
    n_users, n_items : int
    n_tastes : int, default=40
    interactions_per_user : float, default=50
        Mean interactions per user.
    tastes_per_user : tuple of int, default=(1, 3)
        Fewest and most tastes per user.
    popularity_exponent : float, default=1.0
        Zipf exponent of item popularity (0: uniform).
    taste_share : float, default=0.8
        Share of a user's interactions drawn from their tastes.
    test_fraction : float, default=0.2
        Share of each user's interactions held out (at least one).
    return_tastes : bool, default=False
        Also return the planted structure.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    train, test : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Binary float32 matrices with disjoint non-zeros.
    item_taste : ndarray of shape (n_items,)
        With ``return_tastes``: the taste each item belongs to.
    user_tastes : scipy.sparse.csr_matrix of shape (n_users, n_tastes)
        With ``return_tastes``: the tastes each user holds (ones).
    """
    _check_feedback_params(n_users, n_items, n_tastes, interactions_per_user,
                           tastes_per_user, popularity_exponent, taste_share, test_fraction)
    rng = check_random_state(random_state)
    popularity = 1.0 / np.arange(1, n_items + 1) ** popularity_exponent
    popularity = popularity[rng.permutation(n_items)]
    taste_of_item = rng.randint(0, n_tastes, n_items)
    members = [np.flatnonzero(taste_of_item == t) for t in range(n_tastes)]
    member_p = [popularity[m] / popularity[m].sum() for m in members]
    all_p = popularity / popularity.sum()
    lo, hi = tastes_per_user
    rows, cols, is_test, held_tastes = [], [], [], []
    for u in range(n_users):
        tastes = rng.choice(n_tastes, size=rng.randint(lo, hi + 1), replace=False)
        held_tastes.append(tastes)
        count = min(max(5, rng.poisson(interactions_per_user)), n_items // 2)
        per_taste = rng.multinomial(rng.binomial(count, taste_share),
                                    np.full(tastes.size, 1.0 / tastes.size))
        picked = set()
        for t, c in zip(tastes, per_taste):
            c = min(c, members[t].size)
            if c:
                picked.update(rng.choice(members[t], size=c, replace=False,
                                         p=member_p[t]).tolist())
        while len(picked) < count:  # catalogue draws repeat: draw until enough
            for item in rng.choice(n_items, size=count, p=all_p):
                if len(picked) >= count:
                    break
                picked.add(int(item))
        items = np.fromiter(picked, dtype=np.int64)
        held = np.zeros(items.size, dtype=bool)
        held[rng.choice(items.size, size=max(1, int(round(test_fraction * items.size))),
                        replace=False)] = True
        rows.append(np.full(items.size, u))
        cols.append(items)
        is_test.append(held)
    rows, cols, is_test = np.concatenate(rows), np.concatenate(cols), np.concatenate(is_test)

    def csr(mask):
        data = np.ones(int(mask.sum()), dtype=np.float32)
        return sp.csr_matrix((data, (rows[mask], cols[mask])), shape=(n_users, n_items))

    if not return_tastes:
        return csr(~is_test), csr(is_test)
    lengths = [t.size for t in held_tastes]
    user_tastes = sp.csr_matrix(
        (np.ones(sum(lengths)), np.concatenate(held_tastes),
         np.concatenate(([0], np.cumsum(lengths)))), shape=(n_users, n_tastes))
    return csr(~is_test), csr(is_test), taste_of_item, user_tastes


def _check_feedback_params(n_users, n_items, n_tastes, interactions_per_user,
                           tastes_per_user, popularity_exponent, taste_share, test_fraction):
    def check(ok, message):
        if not ok:
            raise ValueError(message)

    check(int(n_users) >= 1, f"n_users must be at least 1, got {n_users}.")
    check(int(n_items) >= 10, f"n_items must be at least 10, got {n_items}.")
    check(int(n_tastes) >= 1, f"n_tastes must be at least 1, got {n_tastes}.")
    check(interactions_per_user > 0,
          f"interactions_per_user must be positive, got {interactions_per_user}.")
    lo, hi = tastes_per_user
    check(1 <= lo <= hi <= n_tastes,
          f"tastes_per_user must be (lo, hi) with 1 <= lo <= hi <= n_tastes={n_tastes}, got "
          f"{tastes_per_user}.")
    check(popularity_exponent >= 0,
          f"popularity_exponent must be non-negative, got {popularity_exponent}.")
    check(0 <= taste_share <= 1, f"taste_share must be in [0, 1], got {taste_share}.")
    check(0 < test_fraction < 1, f"test_fraction must be in (0, 1), got {test_fraction}.")


def recall_at_k(score_rows, train, test, *, k=20, batch_size=2048):
    """Mean recall@k of held-out items: per user, the share of their held-out
    items among the ``k`` best-scored items they have not interacted with in
    ``train``, over at most ``min(k, n_held_out)`` (users without held-out
    items are skipped).

    Parameters
    ----------
    score_rows : callable
        ``score_rows(start, stop)`` returns the dense scores of users
        ``start:stop`` for every item (called per batch of users, so the
        ``n_users x n_items`` scores never exist at once).
    train, test : sparse matrix of shape (n_users, n_items)
    k : int, default=20
    batch_size : int, default=2048

    Returns
    -------
    recall : float
    """
    train, test = sp.csr_matrix(train), sp.csr_matrix(test)
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    total, users = 0.0, 0
    for start in range(0, train.shape[0], batch_size):
        stop = min(train.shape[0], start + batch_size)
        scores = np.array(score_rows(start, stop), dtype=np.float64)
        seen = train[start:stop]
        scores[np.repeat(np.arange(stop - start), np.diff(seen.indptr)), seen.indices] = -np.inf
        if k < scores.shape[1]:
            top = np.argpartition(-scores, k, axis=1)[:, :k]
        else:  # every item is a recommendation
            top = np.argsort(-scores, axis=1)
        held = test[start:stop]
        for r in range(stop - start):
            truth = held.indices[held.indptr[r]:held.indptr[r + 1]]
            if truth.size == 0:
                continue
            total += np.isin(top[r], truth).sum() / min(k, truth.size)
            users += 1
    return total / max(users, 1)
