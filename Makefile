# The two commands of the README: `make report` and `make test`. Needs only python3, pip and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Optional extras to install beside dev (CI adds spark: EXTRAS=dev,spark).
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
DATA ?= data/sample
OUT ?= reports
PYTEST_ARGS ?=

.PHONY: report test lint unit nbval install clean sample bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(BIN)/cx run --data $(DATA) --out $(OUT)
	@echo "Open $(abspath $(OUT))/latest/index.html"

lint: $(STAMP)
	$(BIN)/ruff check cxlib tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=1800 notebooks/

test: lint unit nbval

sample: $(STAMP)
	$(BIN)/cx synth --customers 5000 --seed 42 --out data/sample

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
