"""sparse_encode's memory on a CSR matrix with int64 indices and 10^7
non-zeros (the hardening issue's load case), against the foundation's bound:
peak memory under 3x the bytes of X's data plus the codes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/memory_csr.py

X: ``scipy.sparse.random(500_000, 20_000, density=0.001)`` (10^7 non-zeros,
20 per row) as CSR with int64 indices and indptr, rows unit norm; 64 unit
Gaussian atoms; alpha = 0.6 x the median over rows of max |x . d| (problem B's
rule). Each case runs in a fresh process; the peak is how far the call pushed
the resident set above its level with X, the dictionary and the warmed JIT in
memory (VmHWM reset through /proc/self/clear_refs), the returned codes
included.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import reset_peak, rss_kib  # noqa: E402

N, P, DENSITY, K = 500_000, 20_000, 0.001, 64


def _problem():
    X = sp.random(N, P, density=DENSITY, format="csr", dtype=np.float64,
                  random_state=np.random.default_rng(0))
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    X = sp.csr_matrix(X)
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    D = np.random.default_rng(0).standard_normal((K, P))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = np.asarray(X[:20_000] @ D.T)
    alpha = 0.6 * float(np.median(np.abs(C).max(axis=1)))
    return X, D, alpha


def worker(algorithm, sparse_output):
    from sparsecode import sparse_encode

    X, D, alpha = _problem()
    sparse_encode(X[:2000], D, algorithm=algorithm, alpha=alpha)  # JIT warm-up
    base = rss_kib("VmRSS")
    ok = reset_peak()
    t0 = time.perf_counter()
    Z = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, sparse_output=sparse_output)
    seconds = time.perf_counter() - t0
    peak = (rss_kib("VmHWM") - base) * 1024 if ok else None
    codes = (Z.data.nbytes + Z.indices.nbytes + Z.indptr.nbytes) if sp.issparse(Z) else Z.nbytes
    print(json.dumps(dict(seconds=seconds, peak=peak, x_data=X.data.nbytes,
                          x_all=X.data.nbytes + X.indices.nbytes + X.indptr.nbytes,
                          codes=codes, nnz=X.nnz, index=str(X.indices.dtype),
                          mean_nnz=float(Z.getnnz() / Z.shape[0]) if sp.issparse(Z)
                          else float(np.count_nonzero(Z) / Z.shape[0]))))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3] == "1")
        return
    print(f"X: {N} x {P} CSR, {int(N * P * DENSITY):,} non-zeros, int64 indices; {K} atoms")
    print()
    print("| algorithm | output | time (s) | codes nnz / row | peak extra MiB | X data MiB | "
          "codes MiB | peak / (X data + codes) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for algorithm in ("lars", "cd"):
        for sparse_output in (False, True):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                  algorithm, "1" if sparse_output else "0"],
                                 capture_output=True, text=True, timeout=1800)
            if out.returncode:
                print(f"| {algorithm} | {'CSR' if sparse_output else 'dense'} | failed: "
                      f"{out.stderr.strip().splitlines()[-1][:100]} | | | | | |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mib = 2**20
            print(f"| {algorithm} | {'CSR' if sparse_output else 'dense'} | {r['seconds']:.1f} | "
                  f"{r['mean_nnz']:.1f} | {r['peak'] / mib:.0f} | {r['x_data'] / mib:.0f} | "
                  f"{r['codes'] / mib:.0f} | {r['peak'] / (r['x_data'] + r['codes']):.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
