VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv run test lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
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
