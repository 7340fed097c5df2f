# Two commands do all set-up on a fresh machine with Python 3.11 and make:
#   make demo   denoise a bundled image: DCT vs a learned dictionary
#   make test   run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench bench-tables docs clean clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.test-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.demo-stamp
	$(BIN)/python -m sparsecode demo --output demo_denoise.png

# the import contracts of pyproject.toml (the package's layers), then the suite
test: $(VENV)/.test-stamp
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q tests

# Peers (SPAMS, PyTorch CPU, ...) are benchmark extras, never runtime dependencies.
$(VENV)/.bench-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $@

# The Airspeed Velocity suite on this checkout, one pass each, in this
# environment (offline), then the HTML report in asv_bench/html. One pass as
# attributes, not --quick: asv saves no results of a --quick run, nor of a
# --python=same run without the commit named, so publish would show nothing.
# BLAS peers run with the machine's own BLAS settings: both unset here alone.
ASV_ONE_PASS := --python=same --set-commit-hash=$$(git rev-parse HEAD) -a repeat=1 -a rounds=1 -a warmup_time=0
bench: $(VENV)/.bench-stamp
	cd asv_bench && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ../$(BIN)/asv machine --yes
	cd asv_bench && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ../$(BIN)/asv run $(ASV_ONE_PASS) --show-stderr
	cd asv_bench && ../$(BIN)/asv publish

# The tables of benchmarks/README.md (sparse_encode against its peers).
bench-tables: $(VENV)/.bench-stamp
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/encode.py

$(VENV)/.docs-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

# The HTML documentation, warnings as errors; the gallery runs every example.
docs: $(VENV)/.docs-stamp
	MPLBACKEND=Agg $(BIN)/python -m sphinx -W --keep-going -b html doc doc/_build/html

# Numba keys a cached kernel on its own file only: after editing a helper that
# other kernel files call (sparsecode/_kernels/_common.py), drop the caches.
clean-cache:
	find sparsecode -name __pycache__ -type d -prune -exec rm -rf {} +

clean: clean-cache
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis doc/_build doc/generated doc/auto_examples
