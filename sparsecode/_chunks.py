"""Row chunks on threads: one GEMM per chunk (BLAS on one thread) followed by
a serial Numba epilogue that releases the GIL.

This is the shape of the feed-forward encoders and of k-means: the GEMM
leaves a chunk's responses in cache and the epilogue reads them from there,
so the responses of all of ``X`` never exist at once. The chunks run on the
kernels' one thread pool (``_threads.pool``) with BLAS capped at one thread
inside each, so two pools never spin against each other on a small machine.
"""

import math
import threading
from concurrent.futures import wait

import numpy as np
import scipy.sparse as sp

from ._kernels._threshold import count_nonzero_rows, fill_csr
from ._threads import _effective_threads, blas_limit, pool

# Responses per chunk: 64 Ki entries (512 KiB in float64) stay in a core's
# L2 (1 MiB here) between the GEMM that writes them and the kernel that reads
# them; 16 and 32 Ki were 5-10% slower on problem A.
_CHUNK_ENTRIES = 1 << 16


def rows_per_chunk(n_columns, entries=_CHUNK_ENTRIES):
    """Rows of ``n_columns`` that make at most ``entries`` entries (at least
    one row). The package's three budgets differ by what they bound: 512 KiB
    of responses in a core's L2 here, a solver chunk's 4 MiB covariance in
    ``sparsecode._encode``, 0.5 GiB of device memory in
    ``sparsecode._dense``."""
    return max(1, entries // max(n_columns, 1))


class Scratch(threading.local):
    """Arrays kept per thread across the chunks of one call: a fresh buffer
    per chunk costs an mmap and its page faults once it passes malloc's
    threshold (a 256 x 256 float32 GEMM ran 2.6x slower that way)."""

    def get(self, name, shape, dtype):
        buffers = self.__dict__.setdefault("buffers", {})
        buf = buffers.get(name)
        # (math.prod: np.prod's wrapper cost 9 us a call, 36 us per attention tile)
        size = math.prod(shape)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = buffers[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


def gemm_into(scratch, A, B, dtype):
    """``A @ B`` in ``dtype``, into a per-thread buffer when ``A`` is dense."""
    if hasattr(A, "tocsr"):  # scipy.sparse: its product allocates anyway
        return np.ascontiguousarray(A @ B, dtype=dtype)
    out = scratch.get("gemm", (A.shape[0], B.shape[1]), dtype)
    return np.matmul(A, B, out=out)


def map_chunks(n_samples, rows, work, n_jobs=None):
    """Call ``work(start, stop, scratch)`` over consecutive row chunks of at
    most ``rows`` rows, with BLAS capped to one thread; ``scratch`` is a
    per-thread :class:`Scratch`. Each of up to ``n_jobs`` threads (``None``:
    the count in force, :func:`sparsecode._threads.current_threads`) takes
    one contiguous range of whole chunks, so that it writes (and first
    touches) its own part of the output, and the chunks do not depend on
    ``n_jobs``. Returns the results in chunk order."""
    n_chunks = -(-n_samples // rows) if n_samples else 0
    threads = max(1, min(_effective_threads(n_jobs), n_chunks))
    scratch = Scratch()

    def run(t):
        # whole chunks per thread: the chunks, and so every result, are the
        # same whatever the thread count
        lo = t * n_chunks // threads * rows
        hi = min(n_samples, (t + 1) * n_chunks // threads * rows)
        return [work(s, min(s + rows, hi), scratch) for s in range(lo, hi, rows)]

    with blas_limit(1):
        if threads == 1:
            return run(0)
        # the calling thread takes the first range while the pool runs the rest
        futures = [pool().submit(run, t) for t in range(1, threads)]
        try:
            first = run(0)
        finally:
            # every chunk has finished (or failed) before the call returns or
            # raises: none may write into the caller's arrays after that, nor
            # run without the BLAS cap
            wait(futures)
        parts = [first] + [f.result() for f in futures]
    return [r for part in parts for r in part]


def dense_to_csr(dense):
    """CSR of a dense chunk (two Numba passes; a chunk holds far fewer than
    2^31 entries, so 32-bit indices)."""
    counts = np.empty(dense.shape[0], dtype=np.int32)
    count_nonzero_rows(dense, counts)
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=dense.dtype)
    fill_csr(dense, indptr, indices, data)
    return sp.csr_matrix((data, indices, indptr), shape=dense.shape)


def encode_rows(X, M, width, activate, *, sparse_output=False, n_jobs=None, product=None):
    """Features of the rows of ``X``: per row chunk, ``cov = X_chunk @ M``
    and ``activate(cov, dest, X_chunk, scratch)`` writing the chunk's
    ``width`` features into ``dest``. For a dense ``X`` the product goes
    straight into the first ``M.shape[1]`` columns of ``dest``, so the
    activation rewrites the responses in cache (it must read a response
    before writing its place). Returns a dense array, or CSR built chunk by
    chunk with ``sparse_output`` (``csr_array`` for a sparse-array ``X``).
    ``product(X_chunk, out)``, when given, replaces the GEMM for dense
    chunks (sparse encoder weights)."""
    dtype = X.dtype
    n, k = X.shape[0], M.shape[1]
    out = None if sparse_output else np.empty((n, width), dtype=dtype)

    def work(start, stop, scratch):
        Xc = X[start:stop]
        if out is None:
            dest = scratch.get("dest", (stop - start, width), dtype)
        else:
            dest = out[start:stop]
        if sp.issparse(Xc):
            cov = np.ascontiguousarray(Xc @ M, dtype=dtype)
        elif product is not None:
            cov = product(Xc, dest[:, :k])
        else:
            cov = np.matmul(Xc, M, out=dest[:, :k])
        activate(cov, dest, Xc, scratch)
        return dense_to_csr(dest) if out is None else None

    pieces = map_chunks(n, rows_per_chunk(k), work, n_jobs)
    if out is not None:
        return out
    codes = sp.vstack(pieces, format="csr") if pieces else sp.csr_matrix((0, width))
    codes = codes.astype(dtype, copy=False)
    return sp.csr_array(codes) if isinstance(X, sp.sparray) else codes
