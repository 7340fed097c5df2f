"""Problem A with ``algorithm="lars"`` on one and two kernel threads, with the
machine idle and with one core taken by a busy loop (DESIGN.md: spinning
thread pools collapse when another process holds a core).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/threads_under_load.py

Prints best and median of ``--repeat`` timings (after a warm-up) per cell.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import problem_a  # noqa: E402


def timings(X, D, alpha, n_jobs, repeat):
    from sparsecode import sparse_encode

    sparse_encode(X[:200], D, algorithm="lars", alpha=alpha, n_jobs=n_jobs)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        sparse_encode(X, D, algorithm="lars", alpha=alpha, n_jobs=n_jobs)
        out.append(time.perf_counter() - t)
    return min(out), statistics.median(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    X, D, alpha = problem_a()
    cells = {}
    for busy in (False, True):
        hog = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None)
        try:
            for n_jobs in (1, 2):
                cells[busy, n_jobs] = timings(X, D, alpha, n_jobs, args.repeat)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    print("| idle, n_jobs=1 | idle, n_jobs=2 | busy, n_jobs=1 | busy, n_jobs=2 |")
    print("| ---: | ---: | ---: | ---: |")
    print("| " + " | ".join(f"{cells[b, j][0]:.3f} / {cells[b, j][1]:.3f}"
                            for b in (False, True) for j in (1, 2)) + " |")


if __name__ == "__main__":
    main()
