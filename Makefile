# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench screenshots clusters-up clusters-down clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP)

run: $(STAMP)
	$(VENV)/bin/batchdeck

# Starts the test daemons that are installed (never installs them: .ci/run does),
# then runs the whole suite; tests whose daemon is missing are skipped with the reason.
test: $(TEST_STAMP)
	-@bash tests/clusters/up.sh --installed-only
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -ra $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

bench: $(TEST_STAMP)
	$(PY) tests/bench_tui.py
	$(PY) tests/bench_journal.py
	-$(PY) tests/bench_ssh.py

screenshots: $(TEST_STAMP)
	$(PY) -m batchdeck.tui.screenshots screenshots/

clusters-up:
	bash tests/clusters/up.sh

clusters-down:
	bash tests/clusters/down.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
