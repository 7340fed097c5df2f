"""Shared set-up for the asv suite: the standard problems of DESIGN.md come
from ``benchmarks/problems.py`` (one definition for both suites), cached per
process because building them costs more than some timings."""

import functools
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "..", "benchmarks"))

import problems  # noqa: E402


@functools.lru_cache(maxsize=None)
def get_problem(name):
    return {"A": problems.problem_a, "B": problems.problem_b, "C": problems.problem_c}[name]()


def objective(X, D, Z, alpha):
    return problems.lasso_objective(X, D, Z, alpha)


class Benchmark:
    """Base class: one problem per instance, the JIT warmed in ``setup``."""

    timeout = 600
    repeat = (1, 5, 60)
    number = 1
    processes = 1
