"""Dictionary learning on problem C (or B's sparse matrix): sparsecode against scikit-learn's
MiniBatchDictionaryLearning and SPAMS trainDL at equal samples seen.

Every learned dictionary is judged the same way: the held-out patches are
coded by one exact solver (sparsecode's homotopy) and the mean lasso objective
is reported. Each (method, epochs) runs in a fresh process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/dictionary.py
    ... benchmarks/dictionary.py --problem B   # sparsecode on CSR, the peers on dense
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import lasso_objective, problem_b, problem_c  # noqa: E402

BATCH = 256


def problem(name):
    """(X_train, X_test, alpha, n_atoms). C as in DESIGN.md; B's sparse
    matrix split 16,000 / 4,000 with 128 atoms and B's alpha."""
    if name == "C":
        return (*problem_c(), 256)
    X, _, alpha = problem_b()
    return X[:16000], X[16000:], alpha, 128


METHODS = ["sparsecode-online", "sklearn-minibatch", "spams-trainDL"]


def _dense(X):
    return X.toarray() if hasattr(X, "toarray") else X


def learn(method, X, alpha, epochs, n_atoms, seed=0):
    steps = epochs * int(np.ceil(X.shape[0] / BATCH))
    # the same online problem for both minibatch learners: no early stopping
    common = dict(n_components=n_atoms, alpha=alpha, batch_size=BATCH, max_iter=epochs, tol=0,
                  max_no_improvement=None, random_state=seed)
    if method in ("sparsecode-online", "sklearn-minibatch"):
        if method == "sparsecode-online":
            from sparsecode import DictionaryLearner as Learner

            Learner(n_components=n_atoms, alpha=alpha, max_iter=1,
                    random_state=seed).fit(X[:512])  # compile the kernels
        else:
            from sklearn.decomposition import MiniBatchDictionaryLearning as Learner

            X = _dense(X)  # scikit-learn needs dense data here
        est = Learner(**common)
        start = time.perf_counter()
        est.fit(X)
        return est.components_, time.perf_counter() - start
    if method == "spams-trainDL":
        import spams

        Xf = np.asfortranarray(_dense(X).T)  # SPAMS' trainDL needs dense data
        start = time.perf_counter()
        D = spams.trainDL(Xf, K=n_atoms, lambda1=alpha, mode=2, iter=steps,
                          batchsize=BATCH, numThreads=-1, verbose=False)
        return np.ascontiguousarray(D.T), time.perf_counter() - start
    raise ValueError(method)


def worker(name, method, epochs):
    X, X_test, alpha, n_atoms = problem(name)
    try:
        D, seconds = learn(method, X, alpha, epochs, n_atoms)
    except ImportError as exc:
        return {"error": f"not installed: {exc.name}"}
    from sparsecode import sparse_encode

    norms = np.linalg.norm(D, axis=1, keepdims=True)
    D = D / np.maximum(norms, 1.0)  # the constraint ||d|| <= 1, whatever the learner returns
    codes = sparse_encode(X_test, D, algorithm="lars", alpha=alpha)
    return {"time": seconds, "heldout": lasso_objective(X_test, D, codes, alpha)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--problem", default="C", choices=["B", "C"])
    parser.add_argument("--epochs", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], int(args.worker[2]))))
        return
    print(f"Command: `{' '.join(['python'] + sys.argv)}`, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| method | epochs | time (s) | held-out objective |")
    print("| --- | ---: | ---: | ---: |")
    for epochs in args.epochs:
        for method in args.methods:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                  args.problem, method, str(epochs)],
                                 capture_output=True, text=True)
            if out.returncode:
                r = {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
            else:
                r = json.loads(out.stdout.strip().splitlines()[-1])
            if "error" in r:
                print(f"| {method} | {epochs} | {r['error']} | |", flush=True)
            else:
                print(f"| {method} | {epochs} | {r['time']:.2f} | {r['heldout']:.6f} |",
                      flush=True)


if __name__ == "__main__":
    main()
