VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv run test lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Work in progress: the service app is not landed yet; this runs the carrier simulator.
run: venv
	LETTERING_ENV=dev $(PY) -c "from carriers.simulator.app import run_simulator; from lettering.settings import Settings; run_simulator('127.0.0.1', 8101, Settings())"

test: venv
	$(VENV)/bin/pytest tests -q

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy
