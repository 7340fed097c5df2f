"""Time to first result: each public entry point timed in a fresh process
with an empty Numba cache (cold), then again in a second process that finds
the cache the first one filled (warm).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/cold_start.py

Data: 500 x 32 Gaussian rows, 64 unit-norm atoms (seed 0); attention on 500
tokens. "cold" and "warm" are the first call's seconds (data made before the
clock starts; the import is timed on its own rows and not inside the calls:
``import sparsecode`` loads nothing heavy until the first public name is
used, so it is timed alone and with that first name). "tour" runs every
call in one process, import included: what a new user's first notebook
session costs. Also ``--tour-only`` and ``--repeat N`` (best of N, each in its
own empty cache).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

# Each entry: the statements timed (data are built by SETUP before the clock).
SETUP = """
import numpy as np
import scipy.sparse as sp
rng = np.random.default_rng(0)
X = rng.standard_normal((500, 32))
D = rng.standard_normal((64, 32)); D /= np.linalg.norm(D, axis=1, keepdims=True)
X32, D32 = X.astype(np.float32), D.astype(np.float32)
Xcsr = sp.random(500, 32, density=0.2, format="csr", random_state=0)
Xpos = np.abs(X)
"""

CALLS = {
    "sparse_encode lars": "sc.sparse_encode(X, D, algorithm='lars', alpha=0.1)",
    "sparse_encode omp": "sc.sparse_encode(X, D, algorithm='omp', n_nonzero_coefs=5)",
    "sparse_encode cd": "sc.sparse_encode(X, D, algorithm='cd', alpha=0.1)",
    "sparse_encode fista": "sc.sparse_encode(X, D, algorithm='fista', alpha=0.1)",
    "sparse_encode lars float32": "sc.sparse_encode(X32, D32, algorithm='lars', alpha=0.1)",
    "sparse_encode CSR": "sc.sparse_encode(Xcsr, D, alpha=0.1)",
    "DictionaryLearner.fit": "sc.DictionaryLearner(64, alpha=0.1, max_iter=2, "
                             "random_state=0).fit(X)",
    "SparseAutoencoder.fit": "sc.SparseAutoencoder(64, max_iter=2, random_state=0).fit(X)",
    "SparseAutoencoder.fit topk": "sc.SparseAutoencoder(64, activation='topk', k=8, "
                                  "max_iter=2, random_state=0).fit(X)",
    "KLSparseEncoder.fit": "sc.KLSparseEncoder(64, max_iter=2, random_state=0).fit(Xpos)",
    "ThresholdEncoder.fit_transform": "sc.ThresholdEncoder(64, random_state=0).fit_transform(X)",
    "SparseAttentionTransformer.fit_transform":
        "sc.SparseAttentionTransformer(random_state=0).fit_transform(X)",
}

CHILD = """
import json, time, warnings
warnings.simplefilter('ignore')
t0 = time.perf_counter()
import sparsecode as sc
t_import = time.perf_counter() - t0
sc.sparse_encode  # the first public name loads scikit-learn, SciPy, Numba
t_ready = time.perf_counter() - t0
{setup}
out = {{'import sparsecode': t_import, 'ready': t_ready}}
for name, code in {calls!r}:
    t = time.perf_counter()
    exec(code)
    out[name] = time.perf_counter() - t
out['total'] = time.perf_counter() - t0
print(json.dumps(out))
"""


def run_child(calls, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    code = CHILD.format(setup=SETUP, calls=list(calls.items()))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(repeat=1, tour_only=False):
    """{name: (cold, warm)} for each call on its own, plus the tour."""
    rows = {}
    names = [] if tour_only else list(CALLS)
    for name in names:
        best = None
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as cache:
                cold = run_child({name: CALLS[name]}, cache)
                warm = run_child({name: CALLS[name]}, cache)
            pair = (cold[name], warm[name], warm["import sparsecode"], warm["ready"])
            best = pair if best is None else tuple(map(min, best, pair))
        rows[name] = best
        print(f"{name:45s} cold {best[0]:7.2f} s  warm {best[1]:6.3f} s", flush=True)
    best = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            cold = run_child(CALLS, cache)
            warm = run_child(CALLS, cache)
        pair = (cold["total"], warm["total"], warm["import sparsecode"], warm["ready"])
        best = pair if best is None else tuple(map(min, best, pair))
    rows["whole tour (import + every call)"] = best
    print(f"{'whole tour':45s} cold {best[0]:7.2f} s  warm {best[1]:6.3f} s", flush=True)
    return rows, min(r[2] for r in rows.values()), min(r[3] for r in rows.values())


def sklearn_import():
    code = ("import time; t = time.perf_counter(); import sklearn.decomposition, "
            "sklearn.linear_model; print(time.perf_counter() - t)")
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tour-only", action="store_true")
    args = parser.parse_args(argv)
    rows, import_s, ready_s = measure(args.repeat, args.tour_only)
    anchor = sklearn_import()
    print()
    print("| first call | cold (s) | warm (s) |")
    print("| --- | ---: | ---: |")
    print(f"| `import sparsecode` (best of all runs) | | {import_s:.3f} |")
    print(f"| `import sparsecode; sparsecode.sparse_encode` (best of all runs) | | "
          f"{ready_s:.2f} |")
    print(f"| `import sklearn.decomposition, sklearn.linear_model` (anchor) | | {anchor:.2f} |")
    for name, (cold, warm, _, _) in rows.items():
        print(f"| {name} | {cold:.2f} | {warm:.3f} |")


if __name__ == "__main__":
    main()
