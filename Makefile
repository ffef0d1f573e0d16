VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv run test lint constraints

# Every dependency at the version in constraints.txt (the versions the suite passed on).
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The service with demo data, in the dev environment (development keys, in-process simulators).
# AlimTalk sending hours are opened to the whole day so the demo works at any hour.
DEMO_ENV := LETTERING_ENV=dev LETTERING_KAKAO__SEND_FROM=00:00 LETTERING_KAKAO__SEND_UNTIL=24:00 LETTERING_KAKAO__CARD_NEWS_BUTTON=true
run: venv
	$(DEMO_ENV) $(VENV)/bin/lettering demo setup
	$(DEMO_ENV) $(VENV)/bin/lettering serve --host 127.0.0.1 --port 8000

# The suite on TEST_WORKERS processes (CI has two cores), then the tests marked `serial` (they
# wait on real time: hold budgets, SIGKILLs, scheduler ticks, a browser) alone, so a neighbour's
# load does not decide them. Both parts run even if the first fails; either failing fails `test`.
TEST_WORKERS ?= 2
test: venv
	@status=0; \
	$(VENV)/bin/pytest tests -q -n $(TEST_WORKERS) -m "not serial" $(PYTEST_ARGS) || status=$$?; \
	$(VENV)/bin/pytest tests -q -m serial $(PYTEST_ARGS) || status=$$?; \
	exit $$status

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

# A fresh resolve of every dependency to the newest version pyproject.toml allows, written to
# constraints.txt (its comment header kept). Then run the suite on it (`make test` reinstalls)
# and commit constraints.txt if it is green.
CONSTRAINTS_VENV := .venv-constraints
constraints:
	rm -rf $(CONSTRAINTS_VENV)
	python3 -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q --upgrade pip
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q -e '.[dev]'
	{ sed -n '/^#/p' constraints.txt; $(CONSTRAINTS_VENV)/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(CONSTRAINTS_VENV)
