"""sparse_encode against scikit-learn and SPAMS on the standard problems A and B.

Each (problem, method) runs in a fresh subprocess, so that timings do not share
warm caches or thread pools and the peak memory can be read per method: the
peak resident set size is reset after the data is loaded and the JIT warmed,
and the number reported is how far the run pushed it above that baseline.

Usage (from the repository root; unset the OpenBLAS overrides for a fair
comparison with BLAS-based peers, as DESIGN.md asks):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/encode.py
    ... benchmarks/encode.py --problems A --methods sparsecode-lars spams-lasso --repeat 5

Peers are benchmark extras (``pip install -e '.[bench]'``); a missing peer is
reported as such, not silently dropped.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import lasso_objective, problem_a, problem_b  # noqa: E402

OMP_ATOMS = 10
PROBLEMS = {"A": problem_a, "B": problem_b}

# method name -> (kind, problems it runs on)
METHODS = {
    "sparsecode-lars": ("lasso", "AB"),
    "sparsecode-cd": ("lasso", "AB"),
    "sparsecode-fista": ("lasso", "AB"),
    "sparsecode-auto": ("lasso", "AB"),
    "sklearn-lasso_cd": ("lasso", "AB"),
    "sklearn-lasso_lars": ("lasso", "A"),
    "spams-lasso": ("lasso", "AB"),
    "sparsecode-omp": ("omp", "AB"),
    "sklearn-omp": ("omp", "AB"),
    "spams-omp": ("omp", "AB"),
}


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def _runner(method, X, D, alpha):
    """A zero-argument callable computing the codes, after any one-off setup
    (densifying for peers that need it, warming the JIT)."""
    lib, _, algo = method.partition("-")
    if lib == "sparsecode":
        from sparsecode import sparse_encode

        kw = dict(algorithm="omp", n_nonzero_coefs=OMP_ATOMS) if algo == "omp" else dict(
            algorithm=algo, alpha=alpha)
        sparse_encode(X[:50], D, **kw)  # compile or load the kernels
        return lambda: sparse_encode(X, D, **kw)
    if lib == "sklearn":
        from sklearn.decomposition import sparse_encode as sk_encode

        Xd = _dense(X)
        kw = dict(algorithm="omp", n_nonzero_coefs=OMP_ATOMS) if algo == "omp" else dict(
            algorithm=algo, alpha=alpha)
        if algo == "lasso_cd":
            kw["max_iter"] = 10_000
        return lambda: sk_encode(Xd, D, n_jobs=-1, **kw)
    if lib == "spams":
        import spams

        Xf = np.asfortranarray(_dense(X).T)
        Df = np.asfortranarray(D.T)
        if algo == "omp":
            return lambda: spams.omp(Xf, D=Df, L=OMP_ATOMS, numThreads=-1).T
        # mode=2: min 0.5 ||x - D a||^2 + lambda1 ||a||_1, our objective
        return lambda: spams.lasso(Xf, D=Df, lambda1=alpha, mode=2, numThreads=-1).T
    raise ValueError(method)


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def worker(problem, method, repeat):
    X, D, alpha = PROBLEMS[problem]()
    try:
        run = _runner(method, X, D, alpha)
    except ImportError as exc:
        return {"error": f"not installed: {exc.name}"}
    base = _rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS counter to the current RSS
        peak_ok = True
    except OSError:
        peak_ok = False
    times = []
    Z = None
    for _ in range(repeat):
        Z = None  # the previous result must not count in this run's peak
        start = time.perf_counter()
        Z = run()
        times.append(time.perf_counter() - start)
    peak = _rss_kib("VmHWM") - base if peak_ok else None
    Zd = _dense(Z)
    return {
        "time": min(times),
        "times": times,
        "objective": lasso_objective(X, D, Zd, alpha),
        "nnz": float(np.count_nonzero(Zd) / Zd.shape[0]),
        "peak_mib": None if peak is None else peak / 1024,
        "x_mib": (X.data.nbytes if sp.issparse(X) else X.nbytes) / 2**20,
        "codes_mib": Zd.nbytes / 2**20,
        "dtype": str(Zd.dtype),
    }


def run_one(problem, method, repeat, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", problem, method,
           "--repeat", str(repeat)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(problem, results):
    lines = [f"### Problem {problem}", "",
             "| method | time (s) | vs sparsecode | objective gap | mean nnz | peak extra MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind in ("lasso", "omp"):
        rows = {m: r for m, r in results.items() if METHODS[m][0] == kind}
        ok = {m: r for m, r in rows.items() if "error" not in r}
        if not ok:
            continue
        best = min(r["objective"] for r in ok.values())
        ours = ok.get("sparsecode-lars" if kind == "lasso" else "sparsecode-omp")
        for m, r in rows.items():
            if "error" in r:
                lines.append(f"| {m} | {r['error']} | | | | |")
                continue
            ratio = f"{r['time'] / ours['time']:.2f}x" if ours else ""
            gap = (r["objective"] - best) / abs(best)
            peak = "" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
            lines.append(f"| {m} | {r['time']:.3f} | {ratio} | {gap:.1e} | {r['nnz']:.2f} "
                         f"| {peak} |")
    sample = next((r for r in results.values() if "error" not in r), None)
    if sample:
        lines.append("")
        lines.append(f"X data: {sample['x_mib']:.1f} MiB; "
                     f"dense codes: {sample['codes_mib']:.1f} MiB. "
                     "'vs sparsecode': time over sparsecode-lars (lasso rows) or "
                     "sparsecode-omp (OMP rows); objective gap: relative to the best of its kind.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("PROBLEM", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--problems", nargs="+", default=["A", "B"], choices=sorted(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per method; the minimum is kept")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per method")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.repeat)))
        return
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i.get('architecture', '')} x{i['num_threads']}"
            for i in threadpool_info() if i["user_api"] == "blas"]
    header = (f"Command: `{' '.join(['python'] + sys.argv)}`, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
              f"BLAS: {', '.join(blas)}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print(header, flush=True)
    out = [header, ""]
    for problem in args.problems:
        results = {}
        for method in args.methods:
            if problem not in METHODS[method][1]:
                continue
            results[method] = run_one(problem, method, args.repeat, args.timeout)
            r = results[method]
            print(f"  {problem} {method}: " + (r["error"] if "error" in r else
                  f"{r['time']:.3f} s, objective {r['objective']:.8g}, nnz {r['nnz']:.2f}"),
                  flush=True)
        out += [table(problem, results), ""]
        print(out[-2], flush=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(out))


if __name__ == "__main__":
    main()
