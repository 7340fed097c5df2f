"""The kernels' thread pool (sparsecode._threads): blocks cover every row
once, results do not depend on the thread count, errors reach the caller,
nested calls cannot deadlock, and the thread count follows n_jobs."""

import threading
import time

import numpy as np
import pytest

from sparsecode import _threads
from sparsecode._threads import _effective_threads, current_threads, kernel_threads, run_blocks


def _mark(out, start, stop):
    out[start:stop] += 1
    return stop - start


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("per_thread", [1, 4])
def test_blocks_cover_each_row_once(n, threads, per_thread):
    out = np.zeros(n, dtype=np.int64)
    total = run_blocks(_mark, n, out, threads=threads, blocks_per_thread=per_thread)
    np.testing.assert_array_equal(out, np.ones(n, dtype=np.int64))
    assert total == n


def test_min_rows_limits_the_threads():
    seen = []

    def kernel(start, stop):
        seen.append((start, stop))

    assert run_blocks(kernel, 10, threads=2, min_rows=8) is None
    assert seen == [(0, 10)]  # 10 rows < 2 x 8: one call, on the caller
    seen.clear()
    run_blocks(kernel, 16, threads=2, min_rows=8)
    assert sorted(seen) == [(0, 8), (8, 16)]


def test_a_helper_error_reaches_the_caller():
    """Only the pool's threads fail, and the caller is slow enough that they
    take blocks: the error must travel back through the future."""
    def kernel(start, stop):
        if threading.current_thread().name.startswith(_threads._PREFIX):
            raise RuntimeError("block failed")
        time.sleep(0.05)
        return 0

    with pytest.raises(RuntimeError, match="block failed"):
        run_blocks(kernel, 100, threads=2, blocks_per_thread=4)


def test_nested_calls_from_pool_threads_finish():
    """A kernel that itself calls run_blocks (chunked estimators inside a
    pool thread) runs its part serially instead of waiting on a busy pool."""
    n = 64
    out = np.zeros((n, n), dtype=np.int64)

    def outer(start, stop):
        for i in range(start, stop):
            run_blocks(_mark, n, out[i], threads=2)

    done = threading.Event()

    def go():
        run_blocks(outer, n, threads=2, blocks_per_thread=4)
        done.set()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert done.is_set(), "nested run_blocks deadlocked"
    np.testing.assert_array_equal(out, 1)


def test_kernel_threads_is_per_thread_and_restored():
    before = current_threads()
    seen = {}

    def other():
        seen["other"] = current_threads()

    with kernel_threads(1, None):
        assert current_threads() == 1
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with kernel_threads(-1, None):
            assert current_threads() == _threads._available()
        assert current_threads() == 1
    assert current_threads() == before
    assert seen["other"] == before  # another thread keeps its own count


def test_effective_threads_reads_n_jobs_like_scikit_learn():
    available = _threads._available()
    assert _effective_threads(1) == 1
    assert _effective_threads(-1) == available
    assert _effective_threads(10**6) == available
    assert _effective_threads(-(10**6)) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        _effective_threads(0)


@pytest.mark.parametrize("name", ["lars", "omp", "cd"])
def test_solver_rows_do_not_depend_on_the_blocks(name):
    """The batch kernels over 1 and 3 threads, 1 and 4 blocks per thread
    (run_blocks' own threads, whatever NUMBA_NUM_THREADS): the same codes and
    iteration counts bit for bit."""
    from sparsecode._kernels._cd import cd_batch
    from sparsecode._kernels._lars import lars_batch
    from sparsecode._kernels._omp import omp_batch

    rng = np.random.default_rng(1)
    D = rng.standard_normal((12, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((97, 20))
    G, cov, sq = D @ D.T, X @ D.T, np.einsum("ij,ij->i", X, X)
    n, k = cov.shape
    outs = []
    for threads, per in ((1, 1), (3, 1), (3, 4)):
        codes, n_iter = np.zeros((n, k)), np.zeros(n, dtype=np.int64)
        if name == "lars":
            args = (lars_batch, n, cov, G, 0.3, False, 500, 12, codes, n_iter)
        elif name == "omp":
            args = (omp_batch, n, cov, sq, G, 4, -1.0, codes, n_iter)
        else:
            args = (cd_batch, n, cov, sq, G, 0.3, False, 500, 1e-8, np.zeros((n, k)), codes,
                    n_iter)
        failed = run_blocks(*args, threads=threads, blocks_per_thread=per)
        outs.append((codes, n_iter, failed))
    for codes, n_iter, failed in outs[1:]:
        np.testing.assert_array_equal(codes, outs[0][0])
        np.testing.assert_array_equal(n_iter, outs[0][1])
        assert failed == outs[0][2]
    assert np.count_nonzero(outs[0][0]) > n  # (not all zero: the test can fail)


def test_results_do_not_depend_on_the_thread_count():
    """The solvers write each row from one call and the covariances come
    from the same GEMM calls whatever n_jobs: the codes are the same bit for
    bit on one thread and on two."""
    from sparsecode import sparse_encode

    rng = np.random.default_rng(0)
    D = rng.standard_normal((12, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((300, 20))
    G = D @ D.T
    for algorithm in ("lars", "omp", "cd", "ista"):
        kw = dict(algorithm=algorithm, alpha=0.3, gram=G)
        if algorithm == "omp":
            kw = dict(algorithm="omp", n_nonzero_coefs=4, gram=G)
        one = sparse_encode(X, D, n_jobs=1, **kw)
        two = sparse_encode(X, D, n_jobs=2, **kw)
        np.testing.assert_array_equal(one, two, err_msg=algorithm)


def test_blocks_run_when_the_pool_refuses_work(monkeypatch):
    """At interpreter shutdown concurrent.futures refuses new work: the
    calling thread then does every block itself."""
    class Closed:
        def submit(self, *args):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(_threads, "pool", lambda: Closed())
    out = np.zeros(50, dtype=np.int64)
    assert run_blocks(_mark, 50, out, threads=3, blocks_per_thread=4) == 50
    np.testing.assert_array_equal(out, 1)
