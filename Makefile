# KAM Workspace. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAM := $(VENV)/bin/kam
STAMP := $(VENV)/.installed
QUARTER ?=

.DEFAULT_GOAL := help
.PHONY: help setup sample demo qbr test test-fast bench serve lab clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the workspace with its tools

sample: setup ## Generate the sample book of business into data/sample and load it into data/workspace
	$(KAM) sample

demo: sample ## Set up, build the sample book, render every client's QBR pack, say where to look
	$(KAM) qbr $(if $(QUARTER),--quarter $(QUARTER))
	@echo
	@echo "Open the book of business: $$($(KAM) where index $(if $(QUARTER),--quarter $(QUARTER)))"

test: setup ## Set up and run every test
	$(PY) -m pytest -q

bench: setup ## Run the benchmarks in benchmarks/ (prints ratios against baselines measured in the same run)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

lab: setup ## Open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks

clean: ## Remove generated data and reports (never the venv or source files)
	rm -rf data/sample data/workspace reports/20*
