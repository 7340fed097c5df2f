"""SparseAttentionTransformer on problem D (DESIGN.md): one sequence of n
tokens, d = 64, window 256 (257 keys per query), against dense masked
attention in numpy and PyTorch's ``scaled_dot_product_attention`` (CPU) where
the n x n mask fits, and against this machine's GEMM rate measured in the
same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/attention.py
    ... benchmarks/attention.py --sizes 1000 10000 --patterns window dense

Each (method, pattern, n, dtype) runs in a fresh subprocess: the time is the
best of ``--repeat`` calls after a warm-up call on 2,048 tokens; "peak extra
MiB" is how far the call pushed the peak resident set above its level once
the data and the queries were in memory (VmHWM reset through
/proc/self/clear_refs), output included. "GFLOP/s" counts 4 d flops per
(query, key) pair (the two products), useful pairs only; "of GEMM" divides it
by a 2048^3 GEMM's rate in the same dtype, measured at the start of the run.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import reset_peak, rss_kib  # noqa: E402
from problems import problem_d  # noqa: E402

D_MODEL = 64
WINDOW = 256
PATTERNS = {
    "window": dict(pattern="window", window=WINDOW),
    "longformer": dict(pattern="longformer", window=WINDOW, global_tokens=1),
    "bigbird": dict(pattern="bigbird", window=WINDOW, global_tokens=1, n_random=3,
                    block_size=64),
    "lsh": dict(pattern="lsh", n_hashes=4, n_buckets=32, chunk_size=64),
    "dense": dict(pattern="dense"),
}


def _window_mask(n):
    i = np.arange(n)
    return np.abs(i[:, None] - i[None, :]) <= WINDOW // 2


def worker(method, pattern, n, dtype, repeat):
    dtype = np.dtype(dtype)
    X = problem_d(n, dtype)
    if method == "sparsecode":
        from sparsecode import SparseAttentionTransformer
        est = SparseAttentionTransformer(**PATTERNS[pattern], random_state=0).fit(X[:4096])
        est.transform(X[:2048])
        _, plan, *_ = est._prepare(X, None)
        pairs = plan.n_pairs()

        def run():
            return est.transform(X)
    elif method == "numpy":
        mask = _window_mask(n) if pattern == "window" else np.ones((n, n), dtype=bool)
        pairs = int(mask.sum())
        scale = dtype.type(1 / np.sqrt(D_MODEL))

        def run():
            S = (X * scale) @ X.T
            S[~mask] = -np.inf
            S -= S.max(axis=1, keepdims=True)
            np.exp(S, out=S)
            S /= S.sum(axis=1, keepdims=True)
            return S @ X
    elif method == "torch":
        import torch
        torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
        Xt = torch.from_numpy(X)[None, None]
        mask = torch.from_numpy(_window_mask(n) if pattern == "window"
                                else np.ones((n, n), dtype=bool))
        pairs = int(mask.sum())

        def run():
            with torch.no_grad():
                return torch.nn.functional.scaled_dot_product_attention(
                    Xt, Xt, Xt, attn_mask=mask).numpy()
    else:
        raise ValueError(method)
    base_ok = reset_peak()
    base = rss_kib("VmRSS")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
        del out
    peak = rss_kib("VmHWM") - base if base_ok else None
    print(json.dumps(dict(time=min(times), pairs=pairs,
                          peak_mib=None if peak is None else peak / 1024)))


def run_one(method, pattern, n, dtype, repeat, timeout=900):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, pattern, str(n),
           dtype, str(repeat)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"timeout {timeout}s")
    if out.returncode:
        return dict(error=out.stderr.strip().splitlines()[-1][:120])
    return json.loads(out.stdout.strip().splitlines()[-1])


def gemm_rate(dtype):
    A = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)
    C = np.empty_like(A)
    np.matmul(A, A, out=C)
    t0 = time.perf_counter()
    for _ in range(5):
        np.matmul(A, A, out=C)
    return 2 * 2048**3 * 5 / (time.perf_counter() - t0) / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--peers", nargs="*", default=["numpy", "torch"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=5)
    args = parser.parse_args()
    if args.worker:
        method, pattern, n, dtype, repeat = args.worker
        worker(method, pattern, int(n), dtype, int(repeat))
        return
    rates = {dt: gemm_rate(np.dtype(dt)) for dt in args.dtypes}
    print("GEMM 2048^3 in this run: " + ", ".join(f"{dt} {r:.0f} GFLOP/s"
                                                  for dt, r in rates.items()))
    print()
    print("| pattern | dtype | n | method | time (s) | pairs / query | GFLOP/s | of GEMM "
          "| peak extra MiB | X MiB |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for pattern in args.patterns:
        for dtype in args.dtypes:
            for n in args.sizes:
                if pattern == "dense" and n * n > 1 << 26:
                    continue
                methods = ["sparsecode"]
                if pattern in ("window", "dense") and n <= 10_000:
                    methods += args.peers
                for method in methods:
                    repeat = args.repeat if n < 1_000_000 else 2
                    r = run_one(method, pattern, n, dtype, repeat)
                    x_mib = n * D_MODEL * np.dtype(dtype).itemsize / 2**20
                    if "error" in r:
                        print(f"| {pattern} | {dtype} | {n} | {method} | {r['error']} "
                              f"| | | | | {x_mib:.0f} |")
                        continue
                    gflops = 4 * D_MODEL * r["pairs"] / r["time"] / 1e9
                    peak = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
                    print(f"| {pattern} | {dtype} | {n} | {method} | {r['time']:.4f} | "
                          f"{r['pairs'] / n:.1f} | {gflops:.1f} | "
                          f"{gflops / rates[dtype]:.0%} | {peak} | {x_mib:.0f} |", flush=True)


if __name__ == "__main__":
    main()
