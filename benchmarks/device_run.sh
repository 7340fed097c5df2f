#!/usr/bin/env bash
# The GPU run of issue 7 in one call of the device tool: the GPU-against-CPU
# checks with their timings (benchmarks/gpu_check.py), then the GPU tests.
#
# The H200 machine has CuPy (cupy-cuda13x), numba, scipy, scikit-learn and
# pytest, and reaches no package registry; what sparsecode needs beside
# them travels as wheels in .whl/ (git-ignored through .git/info/exclude).
# Here, once:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl array-api-compat==1.16.0
#
# then, through the device tool:
#
#   run(command="bash benchmarks/device_run.sh", carry=[".whl"], timeout_s=590)
#
# What it prints comes back under $OUT (seven files): install.txt, gpu.txt
# (nvidia-smi), versions.txt, gpu_check.txt and gpu_check.md (the table for
# benchmarks/README.md, rewritten as each section ends), pytest.txt, and
# status.txt with each step's exit status (124, or 137 if it had to be
# killed: its time limit). Each step has its own limit, so a hang in one still returns
# the others' output; the whole stays under nine and a half minutes, about
# eleven with the machine's start, of a session's fifteen.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
: >"$OUT/status.txt"
step() {  # step NAME SECONDS COMMAND...: run under a limit, output to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "$name $rc" | tee -a "$OUT/status.txt"
    return "$rc"
}

export PYTHONPATH="$PWD"
if compgen -G ".whl/*.whl" >/dev/null; then
    # (a failure is recorded and the run goes on: the GPU's and the versions'
    # output still say what the machine has)
    step install 30 python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/sparsecode-site .whl/*.whl
    export PYTHONPATH="$PWD:/tmp/sparsecode-site"
fi
cat >/tmp/sparsecode-versions.py <<'EOF'
from importlib import metadata

for name in ("numpy", "scipy", "scikit-learn", "numba", "cupy-cuda13x", "cupy-cuda12x",
             "array-api-compat", "pytest", "pytest-timeout"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "(not installed)")
import sparsecode

sparsecode.show_config()
EOF
step gpu 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step versions 60 python3 /tmp/sparsecode-versions.py

status=0
# the issue's sizes, under five minutes on one GPU by the issue (each
# section's rows are kept as it ends, should the limit cut it short)
step gpu_check 300 python3 benchmarks/gpu_check.py || status=1
# every GPU test, not the first failure alone (one try); a hung test is ended
timeout_flag=$(python3 -c "import pytest_timeout" 2>/dev/null && echo "--timeout=60")
step pytest 120 python3 -m pytest -q --maxfail=20 -p no:cacheprovider $timeout_flag \
    tests/test_gpu.py tests/test_cuda_sources.py || status=1
exit $status
