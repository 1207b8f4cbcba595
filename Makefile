# One command each, on a fresh machine: `make run` (set up + default job), `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run lint test test-fast bench

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# constraints.txt pins the tested torch/torchvision/hydra versions (see README).
	# The cluster (submitit) and search (Optuna) plugins too: their tests run in `make test`.
	# compat: the checkout goes on sys.path, so Hydra, which finds plugins by scanning the
	# hydra_plugins namespace, sees the project's sweeper and launchers from any folder.
	$(PY) -m pip install -c constraints.txt -e '.[dev,cluster,search]' --config-settings editable_mode=compat
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) -m mnist_hydra.run $(ARGS)

# Lint and type checks (settings in pyproject.toml); `make test` runs them first, so CI fails on them.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# One pytest worker per core, a test file to a worker (its module fixtures are built once), files in
# the order tests/conftest.py gives: the longest first, the SLURM tests (mostly waiting) at the head.
test: setup lint
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder $(ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(ARGS)

bench: setup
	$(PY) -m benchmarks $(ARGS)
