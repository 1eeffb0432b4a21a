# Set-up and the two Quick-start commands. `make demo` runs the embedded default end to
# end; `make test` runs the whole test suite, `make test-fast` all but the tests marked
# `slow` (workflow runs); `make lint` the static checks listed in scripts/lint.py (the
# same list tests/test_quality.py runs). All create the virtual environment when needed.
# `make setup-mmpose` adds the OpenMMLab stack (MMPose/MMDetection models) to it; the
# tests need it, the default run does not.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.posebench-installed
MMPOSE_STAMP := $(VENV)/.posebench-mmpose-installed

.PHONY: setup setup-mmpose demo test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[mediapipe,vitpose,workflow,cluster,test]"
	touch $(STAMP)

setup: $(STAMP)

$(MMPOSE_STAMP): $(STAMP) scripts/setup_mmpose.sh
	bash scripts/setup_mmpose.sh $(BIN)/python
	touch $(MMPOSE_STAMP)

setup-mmpose: $(MMPOSE_STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP) $(MMPOSE_STAMP)
	$(BIN)/pytest

test-fast: $(STAMP) $(MMPOSE_STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/python scripts/lint.py

clean:
	rm -rf results logs benchmarks .snakemake
