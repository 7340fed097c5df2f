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
#   run(command="bash benchmarks/device_run.sh", carry=[".whl"], timeout_s=480)
#
# What it prints comes back under $OUT: versions.txt, gpu_check.txt and
# gpu_check.md (the table for benchmarks/README.md), pytest.txt. Each step has
# its own time limit, so a hang in one still returns the others' output, and
# the whole stays under eight minutes: with the machine's start, a session's
# fifteen minutes of device time leave room to rerun one step.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/sparsecode-site .whl/*.whl || exit 1
    export PYTHONPATH="$PWD:/tmp/sparsecode-site"
else
    export PYTHONPATH="$PWD"
fi

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 - <<'EOF'
from importlib import metadata
for name in ("numpy", "scipy", "scikit-learn", "numba", "cupy-cuda13x", "cupy-cuda12x",
             "array-api-compat", "pytest"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "(not installed)")
import sparsecode
sparsecode.show_config()
EOF
} 2>&1 | tee "$OUT/versions.txt"

status=0
# the issue's sizes: under five minutes on one GPU by its own targets
OUT="$OUT" timeout 300 python3 benchmarks/gpu_check.py 2>&1 | tee "$OUT/gpu_check.txt" \
    || status=1
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu.py \
    tests/test_cuda_sources.py 2>&1 | tee "$OUT/pytest.txt" || status=1
exit $status
