"""Threads for the CPU kernels: how many, the one pool that runs them, and the
BLAS cap while they run.

The Numba kernels are serial and release the GIL (``nogil=True``); Python
threads from one pool run them over blocks of rows. ``prange`` kernels did
the same work, but each one cost 1-4 s of extra compilation on a cold cache
(the parfor passes and the outlined gufunc: ``lars_batch`` took 4.6 s to
compile against 0.9 s for its serial twin, benchmarks/README.md, "Time to
first result"), and they brought in Numba's threading layer, a second pool
beside BLAS's.
"""

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

_LOCAL = threading.local()


def _available():
    # NUMBA_NUM_THREADS (the environment variable) still sets the default, as
    # it did when the kernels ran on Numba's pool
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def current_threads():
    """Threads the kernels called from this thread may use: the innermost
    :func:`kernel_threads` in force here, else every available one."""
    return getattr(_LOCAL, "threads", None) or _available()


def _effective_threads(n_jobs):
    """``n_jobs`` (scikit-learn's meaning) as a thread count; ``None`` is the
    count in force (:func:`current_threads`)."""
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning: use None or -1 for all threads, "
                         "or a positive count.")
    if n_jobs is None:
        return current_threads()
    available = _available()
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return min(n_jobs, available)


_CONTROLLER = None
_BLAS_LOCK = threading.Lock()
_BLAS_HOLDERS = 0
_BLAS_LIMITER = None


@contextmanager
def blas_limit(threads):
    """Context capping BLAS to ``threads`` (None: no cap). OpenBLAS workers
    spin for a while after each call, and on a 2-core machine a spinning
    worker takes a core from the Numba kernels that run next.

    The cap is process-wide, so it is counted: the first caller to enter sets
    it and the last to leave restores it, whatever the threads the calls come
    from (saving and restoring per call left BLAS on one thread for good
    after two overlapping calls). While calls overlap, the first one's cap
    holds; this module only ever asks for 1.
    """
    global _CONTROLLER, _BLAS_HOLDERS, _BLAS_LIMITER
    if threads is None:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_HOLDERS == 0:
            if _CONTROLLER is None:
                _CONTROLLER = ThreadpoolController()
            _BLAS_LIMITER = _CONTROLLER.limit(limits=threads, user_api="blas")
        _BLAS_HOLDERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HOLDERS -= 1
            if _BLAS_HOLDERS == 0:
                _BLAS_LIMITER.restore_original_limits()
                _BLAS_LIMITER = None


@contextmanager
def kernel_threads(n_jobs, blas_threads):
    """Run the kernels called from this thread on ``n_jobs`` threads (as
    :func:`_effective_threads` reads it), BLAS on ``blas_threads``."""
    previous = getattr(_LOCAL, "threads", None)
    _LOCAL.threads = _effective_threads(n_jobs)
    try:
        with blas_limit(blas_threads):
            yield
    finally:
        _LOCAL.threads = previous


_POOL = None
_POOL_LOCK = threading.Lock()
_PREFIX = "sparsecode-kernels"


def _after_fork_in_child():
    # a lock held by another thread at the fork would stay held in the child
    global _BLAS_LOCK, _POOL_LOCK
    _BLAS_LOCK = threading.Lock()
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def pool():
    """One pool of idle worker threads for the process (starting threads cost
    about 1 ms per call here, more than encoding the digits); made anew in a
    forked child, which inherits the object but not its threads."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            size = _available()
            _POOL = (os.getpid(), ThreadPoolExecutor(size, thread_name_prefix=_PREFIX))
        return _POOL[1]


def run_blocks(kernel, n, *args, blocks_per_thread=1, min_rows=1, threads=None):
    """``kernel(*args, start, stop)`` over blocks of ``range(n)`` on up to
    ``threads`` threads (None: :func:`current_threads`); returns the sum of
    what the calls return (None when they return nothing).

    The calling thread takes blocks too, and the pool's threads take the
    rest as they come free (dynamic: ``blocks_per_thread > 1`` evens out
    uneven per-row costs). The blocks depend on ``n`` and the thread count
    only and each row is written by one call, so for kernels whose rows are
    independent the result does not depend on the threads at all. A helper
    that has not started by the time the caller ran out of blocks is
    cancelled, so that calls nested in other pool work cannot deadlock; a
    pool thread runs its call alone.
    """
    threads = current_threads() if threads is None else threads
    threads = max(1, min(threads, n // max(min_rows, 1)))
    if threads == 1 or threading.current_thread().name.startswith(_PREFIX):
        # (a pool thread is one of the threads already: it runs its part alone)
        return kernel(*args, 0, n)
    n_blocks = min(n, threads * blocks_per_thread)
    blocks = itertools.count()  # next() on a count is atomic under the GIL
    results = []

    def work():
        while True:
            b = next(blocks)
            if b >= n_blocks:
                return
            results.append(kernel(*args, b * n // n_blocks, (b + 1) * n // n_blocks))

    helpers = []
    try:
        for _ in range(threads - 1):
            helpers.append(pool().submit(work))
    except RuntimeError:
        # the interpreter is shutting down (concurrent.futures refuses new
        # work then): this thread and the helpers already started do it all
        pass
    try:
        work()
    finally:
        for h in helpers:
            h.cancel()
        for h in helpers:
            if not h.cancelled():
                h.result()  # (re-raises a helper's error)
    if results and results[0] is not None:
        return sum(results)
    return None
