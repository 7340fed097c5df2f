"""Row chunks on threads: one GEMM per chunk (BLAS on one thread) followed by
a serial Numba epilogue that releases the GIL.

This is the shape of the feed-forward encoders and of k-means: the GEMM
leaves a chunk's responses in cache and the epilogue reads them from there,
so the responses of all of ``X`` never exist at once. Python threads, not
``prange``, run the chunks: BLAS and Numba then never hold two thread pools
whose idle workers spin against each other on a small machine.
"""

from concurrent.futures import ThreadPoolExecutor

from ._encode import _effective_threads, blas_limit

# Responses per chunk: 32 Ki entries (256 KiB in float64) stay in a core's L2
# between the GEMM that writes them and the kernel that reads them.
_CHUNK_ENTRIES = 1 << 15


def rows_per_chunk(n_columns, entries=_CHUNK_ENTRIES):
    return max(1, entries // max(n_columns, 1))


def map_chunks(n_samples, rows, work, n_jobs=None):
    """Call ``work(start, stop)`` over consecutive row chunks of ``rows``
    rows, on up to ``n_jobs`` threads (``None``: Numba's thread count), with
    BLAS capped to one thread. Returns the results in chunk order."""
    bounds = [(s, min(s + rows, n_samples)) for s in range(0, n_samples, rows)]
    threads = min(_effective_threads(n_jobs), len(bounds))
    with blas_limit(1):
        if threads <= 1:
            return [work(s, e) for s, e in bounds]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda b: work(*b), bounds))
