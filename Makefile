# KAM Workspace. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAM := $(VENV)/bin/kam
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.10
STAMP := $(VENV)/.installed
QUARTER ?=
SCALE ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup lock sample demo test test-fast lint docs bench lab clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# A changed lock or pyproject.toml gives a fresh .venv with exactly the locked packages (uv's cache keeps it fast).
# Bytecode is compiled at install (as pip does, uv does not by default): where PYTHONDONTWRITEBYTECODE is set,
# every process, batch worker and kernel would otherwise compile pandas, altair and statsmodels again.
$(STAMP): pyproject.toml requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --python $(PY) --require-hashes --compile-bytecode -r requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the workspace with its tools, exactly as locked in requirements.lock

lock: ## Re-resolve requirements.lock from pyproject.toml's ranges (then commit it)
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q uv==$(UV_VERSION); }
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.10 --generate-hashes -q \
		--custom-compile-command "make lock" -o requirements.lock

sample: setup ## Generate the sample book of business into data/sample and load it into data/workspace
	$(KAM) sample

demo: sample ## Set up, build the sample book, render every client's QBR pack, say where to look
	$(KAM) qbr $(if $(QUARTER),--quarter $(QUARTER))
	@echo
	@echo "Open the book of business: $$($(KAM) where index $(if $(QUARTER),--quarter $(QUARTER)))"

lint: setup ## ruff (lint and format check), mypy, the layer contracts and the import-cycle check
	$(VENV)/bin/ruff check kam_helpers tests benchmarks tools
	$(VENV)/bin/ruff format --check kam_helpers tests benchmarks tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/import_cycles.py

test: lint ## Set up, lint and run every test
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup ## Every test but the slow kinds (browser, office, postgres, batch, slow), on every core: under a minute
	$(PY) -m pytest -m "not (browser or office or postgres or batch or slow)" -n auto $(PYTEST_ARGS)

docs: setup ## Regenerate the generated documents (data model, Python API reference, forecast accuracy and its README summary)
	$(KAM) schema > docs/DATA_MODEL.md
	$(PY) -m kam_helpers.devtools.api_docs
	$(PY) -m kam_helpers.devtools.forecast_docs

bench: setup ## Run the benchmarks in benchmarks/ (ratios against baselines of the same run); SCALE=10m: the 10M-shipment tier
	KAM_BENCH_SCALE=$(SCALE) $(PY) benchmarks/run.py $(BENCH_ARGS)

lab: setup ## Open JupyterLab on the notebooks (127.0.0.1, with a token; its Voilà pages use the offline template)
	$(PY) -m kam_helpers.apps.lab notebooks

clean: ## Remove generated data and reports (never the venv or source files)
	rm -rf data/sample data/workspace reports/20*
