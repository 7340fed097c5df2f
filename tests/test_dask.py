"""sparsecode.dask on a real dask.distributed LocalCluster (2 workers on
loopback): threads for most tests, processes for the worker-loss test. Every
result is compared with the in-memory estimator on the same data."""

import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

import sparsecode  # noqa: E402
from sparsecode._attention_model import nearest_key_bandwidth  # noqa: E402
from sparsecode.dask import (  # noqa: E402
    DictionaryLearner,
    SparseAttentionTransformer,
    transform,
)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _data(n=600, p=10, seed=0, density=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if density is not None:
        X[rng.random(X.shape) > density] = 0.0
    return X


# scattered data lives as long as its futures: the graph holds only keys
_SCATTERED = []


def _scattered(client, X, rows):
    """A dask array of row blocks scattered to the workers (from_array would
    embed the data in the graph)."""
    parts = [X[i:i + rows] for i in range(0, X.shape[0], rows)]
    futures = client.scatter(parts)
    _SCATTERED.append(futures)
    meta = sp.csr_matrix((0, X.shape[1])) if sp.issparse(X) else np.empty((0, X.shape[1]))
    blocks = [da.from_delayed(f, shape=part.shape, dtype=X.dtype, meta=meta)
              for f, part in zip(futures, parts)]
    return da.concatenate(blocks, axis=0)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_batch_fit_equals_in_memory(client, fmt):
    X = _data(density=0.5)
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    kw = dict(n_components=8, alpha=0.3, method="batch", max_iter=6, tol=0, random_state=0)
    local = sparsecode.DictionaryLearner(**kw).fit(Xin)
    dist = DictionaryLearner(**kw).fit(_scattered(client, Xin, 130))
    np.testing.assert_allclose(dist.components_, local.components_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(dist.objective_, local.objective_, rtol=1e-10)
    assert dist.n_steps_ == local.n_steps_ == 6
    assert dist.bytes_per_iteration_ == 8 * (8 * 8 + 2 * 8 * 10 + 3)


def test_batch_fit_resamples_unused_atoms_as_in_memory(client):
    """A large alpha leaves atoms unused; the replacement rows (the worst
    reconstructed overall, found per worker) match the in-memory fit's."""
    X = _data(n=300, p=6, seed=2)
    kw = dict(n_components=24, alpha=3.0, method="batch", max_iter=4, tol=0, random_state=1)
    local = sparsecode.DictionaryLearner(**kw).fit(X)
    assert local.n_resampled_ > 0
    dist = DictionaryLearner(**kw).fit(_scattered(client, X, 70))
    assert dist.n_resampled_ == local.n_resampled_
    np.testing.assert_allclose(dist.components_, local.components_, rtol=0, atol=1e-8)


def test_one_step_equals_partial_fit_on_the_concatenation(client):
    X = _data(n=900, seed=3)
    kw = dict(n_components=8, alpha=0.3, random_state=0, batch_size=50)
    dist, local = DictionaryLearner(**kw), sparsecode.DictionaryLearner(**kw)
    for step in range(3):
        part = X[step * 300:(step + 1) * 300]
        dist.partial_fit(_scattered(client, part, 70))  # 5 chunks per step
        local.partial_fit(part)
        np.testing.assert_allclose(dist.components_, local.components_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(dist._A, local._A, rtol=1e-12, atol=1e-14)
    assert dist.n_steps_ == local.n_steps_ == 3


def test_online_fit_steps_over_seeded_chunk_groups(client):
    """fit(method="online") takes chunks_per_step chunks per step in an
    order drawn from random_state each epoch: the same as in-memory
    partial_fit calls on those groups."""
    X = _data(n=800, seed=4)
    D0 = np.linalg.qr(np.random.default_rng(5).normal(size=(10, 6)))[0].T
    kw = dict(n_components=6, alpha=0.2, batch_size=40, dict_init=D0, random_state=7)
    dist = DictionaryLearner(**kw, max_iter=2, chunks_per_step=2).fit(_scattered(client, X, 100))
    assert dist.n_resampled_ == 0
    local = sparsecode.DictionaryLearner(**kw)
    rng = np.random.RandomState(7)
    for _ in range(2):
        order = rng.permutation(8)
        for s in range(0, 8, 2):
            rows = np.concatenate([np.arange(b * 100, (b + 1) * 100) for b in order[s:s + 2]])
            local.partial_fit(X[rows])
    np.testing.assert_allclose(dist.components_, local.components_, rtol=0, atol=1e-10)
    assert dist.n_steps_ == 8


def test_incremental_wrapper_calls_partial_fit_per_block(client):
    from dask_ml.wrappers import Incremental

    X = _data(n=400, seed=6)
    kw = dict(n_components=5, alpha=0.2, batch_size=100, random_state=0)
    inc = Incremental(sparsecode.DictionaryLearner(**kw), shuffle_blocks=False)
    inc.fit(da.from_array(X, chunks=(100, 10)))
    local = sparsecode.DictionaryLearner(**kw)
    for i in range(4):
        local.partial_fit(X[i * 100:(i + 1) * 100])
    np.testing.assert_allclose(inc.estimator_.components_, local.components_, rtol=1e-12)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_blockwise_transform(client, fmt):
    from dask_ml.wrappers import ParallelPostFit

    X = _data(density=0.4)
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    Xd = _scattered(client, Xin, 128)
    estimators = [
        DictionaryLearner(6, alpha=0.2, max_iter=2, random_state=0).fit(Xin),
        sparsecode.ThresholdEncoder(8, random_state=0, sparse_output=True).fit(Xin),
        sparsecode.SparseAutoencoder(8, activation="topk", k=2, max_iter=2,
                                     random_state=0).fit(Xin),
    ]
    for est in estimators:
        expected = est.transform(Xin)
        expected = expected.toarray() if sp.issparse(expected) else expected
        out = transform(est, Xd)
        computed = out.compute()
        assert sp.issparse(computed) == getattr(est, "sparse_output", False)
        computed = computed.toarray() if sp.issparse(computed) else computed
        np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-12)
        wrapped = ParallelPostFit(est).transform(Xd).compute()
        wrapped = wrapped.toarray() if sp.issparse(wrapped) else wrapped
        np.testing.assert_allclose(wrapped, expected, rtol=1e-12, atol=1e-12)
    # the dask DictionaryLearner's own transform gives a dask array
    out = estimators[0].transform(Xd)
    assert isinstance(out, da.Array)


@pytest.mark.parametrize("kw", [dict(pattern="window", window=32),
                                dict(pattern="window", window=16, dilation=3),
                                dict(pattern="window", window=20, causal=True),
                                dict(pattern="window", window=10, projection="random",
                                     n_components=4, random_state=0),
                                dict(pattern="window2d", grid_shape=(6, 7), window=4)])
def test_attention_over_chunks_equals_in_memory(client, kw):
    X = _data(n=840, p=5)
    sat = SparseAttentionTransformer(**kw).fit(X)
    expected = sat.transform(X)
    for rows in (100, 7, 420):  # chunks shorter than the reach are merged
        out = sat.transform(da.from_array(X, chunks=(rows, 5)))
        assert isinstance(out, da.Array)
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-13, atol=1e-14)


def test_attention_refuses_patterns_with_global_reach(client):
    X = da.from_array(_data(n=200), chunks=(50, 10))
    with pytest.raises(ValueError, match="whole sequence"):
        SparseAttentionTransformer("longformer", window=8).fit(X).transform(X)
    with pytest.raises(TypeError, match="mixes rows"):
        transform(sparsecode.SparseAttentionTransformer(window=4).fit(_data()), X)


def test_attention_pca_fit_on_dask(client):
    X = _data(n=500, p=8)
    sat = SparseAttentionTransformer("window", window=8, projection="pca", n_components=3,
                                     random_state=0).fit(da.from_array(X, chunks=(100, 8)))
    W = sat.query_projection_
    assert W.shape == (8, 3)
    # orthonormal columns spanning the top right singular vectors of X
    np.testing.assert_allclose(W.T @ W, np.eye(3), atol=1e-8)
    top = np.linalg.svd(X, full_matrices=False)[2][:3]
    np.testing.assert_allclose(np.linalg.svd(top @ W)[1], 1.0, atol=1e-6)
    Xd = da.from_array(X, chunks=(100, 8))
    np.testing.assert_allclose(sat.transform(Xd).compute(), sat.transform(X), rtol=1e-12)


@pytest.mark.parametrize("kw,n", [(dict(pattern="window", window=8), 200),
                                  (dict(pattern="window", window=8), 6000),
                                  (dict(pattern="window2d", grid_shape=(100, 60), window=4),
                                   6000)])
def test_attention_learns_the_bandwidth_from_the_head_of_a_dask_array(client, kw, n):
    """bandwidth=None: the in-memory rule on the first 4096 tokens (68 whole
    grid rows of 60 for window2d), computed; the rest never gathered."""
    from sklearn.utils import check_random_state

    X = _data(n=n, p=5)
    kw = dict(kw, similarity="neg_sq_dist", random_state=0)
    sat = SparseAttentionTransformer(**kw).fit(da.from_array(X, chunks=(1000, 5)))
    head = 4096 if kw["pattern"] == "window" else 68 * 60
    grid = dict(grid_shape=(68, 60)) if kw["pattern"] == "window2d" else {}
    ref = sparsecode.SparseAttentionTransformer(**{**kw, **grid}).fit(X[:head])
    rule = nearest_key_bandwidth(ref, X[:head], None, check_random_state(0))
    assert sat.bandwidth_ == rule != np.sqrt(5)
    if n <= 4096:  # the whole array, each token sampled: the in-memory fit's h
        assert sat.bandwidth_ == ref.bandwidth_
        Xd = da.from_array(X, chunks=(50, 5))
        np.testing.assert_allclose(sat.transform(Xd).compute(), ref.transform(X), rtol=1e-12)


def test_bad_input_is_refused_and_fitted_state_kept(client):
    X = _data()
    est = DictionaryLearner(5, alpha=0.2, method="batch", max_iter=2, random_state=0)
    est.fit(_scattered(client, X, 200))
    before = est.components_.copy()
    bad = X.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(_scattered(client, bad, 200))
    np.testing.assert_array_equal(est.components_, before)
    online = DictionaryLearner(5, alpha=0.2, random_state=0).partial_fit(
        _scattered(client, X, 200))
    with pytest.raises(ValueError, match="features"):
        online.partial_fit(_scattered(client, X[:, :4], 200))
    assert online.n_steps_ == 1
    assert not hasattr(est, "partial_fit")  # method="batch", as in memory
    with pytest.raises(ValueError, match="ksvd"):
        DictionaryLearner(method="ksvd").fit(_scattered(client, X, 200))


def test_no_client_gives_a_clear_error(monkeypatch):
    from sparsecode import _dask_tasks

    def no_client():  # what distributed.default_client does without a client
        raise ValueError("No clients found")

    monkeypatch.setattr(_dask_tasks, "default_client", no_client)
    X = da.from_array(_data(), chunks=(100, 10))
    with pytest.raises(ValueError, match="Client"):
        DictionaryLearner(4, method="batch").fit(X)


def _make_block(i, rows, p):
    return np.random.default_rng(100 + i).normal(size=(rows, p))


def _killer(client, at_iteration, killed):
    """A callback that kills one worker process at the given iteration."""
    def callback(state):
        if state["it"] == at_iteration:
            worker = sorted(client.scheduler_info()["workers"])[0]
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return callback


def test_fit_survives_a_worker_lost_mid_fit():
    """A worker process killed in the middle of a batch fit: the nanny
    restarts it, its blocks and codes are recomputed from the graph, and the
    dictionary equals the undisturbed run's."""
    p, rows, n_blocks = 8, 150, 4
    blocks = [da.from_delayed(dask.delayed(_make_block)(i, rows, p), shape=(rows, p),
                              dtype=np.float64) for i in range(n_blocks)]
    X = da.concatenate(blocks)
    kw = dict(n_components=6, alpha=0.2, method="batch", max_iter=5, tol=0, random_state=0,
              fit_algorithm="cd")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_dashboard_address=None)
    try:
        with distributed.Client(cluster) as c:
            undisturbed = DictionaryLearner(**kw).fit(X)
            killed = []
            disturbed = DictionaryLearner(**kw, callback=_killer(c, 2, killed)).fit(X)
            assert len(killed) == 1
    finally:
        cluster.close()
    np.testing.assert_allclose(disturbed.components_, undisturbed.components_, rtol=0,
                               atol=1e-12)
    local = sparsecode.DictionaryLearner(**kw).fit(X.compute())
    np.testing.assert_allclose(undisturbed.components_, local.components_, rtol=0, atol=1e-8)


def test_persisted_input_survives_fits_and_failures(client):
    """The blocks of a persisted array are the user's futures: a fit (or a
    failing one) releases its own references and never cancels them."""
    X = _data()
    Xd = da.from_array(X, chunks=(130, 10)).persist()
    distributed.wait(Xd)
    kw = dict(n_components=5, alpha=0.2, random_state=0)
    DictionaryLearner(**kw, method="batch", max_iter=2).fit(Xd)
    DictionaryLearner(**kw).partial_fit(Xd)
    future = client.submit(sum, [1, 2, 3])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DictionaryLearner(**kw, method="batch").fit(da.from_array(bad, chunks=(130, 10)))
    np.testing.assert_allclose(Xd.sum().compute(), X.sum())
    assert future.result() == 6
    # and the next fit runs
    DictionaryLearner(**kw, method="batch", max_iter=2).fit(Xd)


def test_attention_edge_layouts(client):
    X = _data(n=10, p=5)
    sat = SparseAttentionTransformer("window", window=32).fit(da.from_array(X, chunks=(5, 5)))
    np.testing.assert_allclose(sat.transform(da.from_array(X, chunks=(5, 5))).compute(),
                               sat.transform(X), rtol=1e-13)
    G = _data(n=40, p=5)
    grid = SparseAttentionTransformer("window2d", grid_shape=(4, 5), window=2)
    grid.fit(da.from_array(G, chunks=(40, 5)))
    np.testing.assert_allclose(grid.transform(da.from_array(G, chunks=(20, 5))).compute(),
                               grid.transform(G), rtol=1e-13)
    with pytest.raises(ValueError, match="n_components=7"):
        SparseAttentionTransformer(projection="pca", n_components=7).fit(
            da.from_array(X, chunks=(5, 5)))
    with pytest.raises(TypeError, match="dask.array.Array"):
        transform(sparsecode.ThresholdEncoder(2, random_state=0).fit(X), [[1.0] * 5])
