# The two commands of the README: `make report` and `make test`. Needs only python3, pip and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Optional extras to install beside dev (CI adds spark: EXTRAS=dev,spark).
EXTRAS ?= dev
comma := ,
empty :=
space := $(empty) $(empty)
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# The exact tested set, with hashes (README "Dependencies"): requirements.lock holds cxlib's
# dependencies with the dev extra, requirements-spark.lock the same pins plus pyspark and py4j.
LOCK := $(if $(filter spark,$(subst $(comma),$(space),$(EXTRAS))),requirements-spark.lock,requirements.lock)
DATA ?= data/sample
OUT ?= reports
PYTEST_ARGS ?=

.PHONY: report test lint unit nbval install clean sample bench newest lock

# The locked set first (every file checked against its hash), then cxlib itself in editable mode
# without dependencies, so nothing outside the lock is resolved.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(BIN)/cx run --data $(DATA) --out $(OUT)
	@echo "Open $(abspath $(OUT))/latest/index.html"

lint: $(STAMP)
	$(BIN)/ruff check cxlib tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 $(PYTEST_ARGS) tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=1800 notebooks/

# ruff first, then pytest and nbval two at a time: the notebooks run beside the unit tests
# instead of after them (each part's output printed whole when it ends). The variables given on
# the command line (EXTRAS, PYTEST_ARGS) reach the inner make.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory -j2 --output-sync=target unit nbval

sample: $(STAMP)
	$(BIN)/cx synth --customers 5000 --seed 42 --out data/sample

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# CI's "newest" job: cxlib's ranges (pyproject.toml, no lock) installed into a fresh venv that
# already holds an analyst's JupyterLab packages at their newest versions. Fails when installing
# cxlib downgrades or removes any package that was there (.ci/newest.py), runs `cx run` from the
# installed package alone, then the unit tests: every test that needs no Spark, no real data and
# no large synthetic set (those run in the lock job). Spark is not installed here, so it is
# dropped from CX_REQUIRE_BACKENDS; PostgreSQL tests run when CX_PG_URL names a server;
# CX_REALDATA is emptied.
NEWEST_VENV ?= .venv-newest
ANALYST_PACKAGES ?= pandas numpy scipy scikit-learn matplotlib jupyterlab
NEWEST_PYTEST_ARGS ?= -m "not slow and not spark and not realdata"
NEWEST_REQUIRE := $(subst $(space),$(comma),$(filter-out spark,$(subst $(comma),$(space),$(CX_REQUIRE_BACKENDS))))

newest:
	rm -rf $(NEWEST_VENV) build
	$(PY) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade $(ANALYST_PACKAGES)
	$(NEWEST_VENV)/bin/python .ci/newest.py record $(NEWEST_VENV)/before.json $(ANALYST_PACKAGES)
	$(NEWEST_VENV)/bin/python -m pip install --quiet ".[dev]"
	$(NEWEST_VENV)/bin/python .ci/newest.py compare $(NEWEST_VENV)/before.json
	$(NEWEST_VENV)/bin/python -m pip check
	# the installed package on its own (not the checkout): `cx run` finds the notebooks the
	# wheel installed in <venv>/share/cxlib/notebooks and writes a report
	rm -rf $(NEWEST_VENV)/smoke
	cd $(NEWEST_VENV) && bin/cx run --data "$(CURDIR)/$(DATA)" --only 01 --out smoke
	test -f $(NEWEST_VENV)/smoke/latest/01_data_audit.html
	CX_REQUIRE_BACKENDS=$(NEWEST_REQUIRE) CX_REALDATA= $(NEWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=10 --basetemp=$(NEWEST_VENV)/pytest-tmp $(NEWEST_PYTEST_ARGS) tests

# Regenerates both lock files from pyproject.toml with uv (in a throw-away venv). Pins already in
# requirements.lock are kept; move one with LOCK_ARGS="--upgrade-package numpy", all with
# LOCK_ARGS=--upgrade. requirements-spark.lock is constrained to requirements.lock's pins.
UV_VERSION := 0.13.8
LOCK_VENV ?= .venv-lock
LOCK_ARGS ?=
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11.5 --generate-hashes --quiet

lock:
	@test -x $(LOCK_VENV)/bin/uv || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION); }
	$(UV_COMPILE) --extra dev $(LOCK_ARGS) -o requirements.lock
	$(UV_COMPILE) --extra dev --extra spark -c requirements.lock -o requirements-spark.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
