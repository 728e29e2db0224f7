# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench screenshots clusters-up clusters-down clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip > /dev/null 2>&1 || $(PY) -m pip install --upgrade pip

# pip's log goes to a file and is shown only when the install fails: setuptools'
# editable-install notice is not something a user of `make run` needs to read.
$(STAMP): pyproject.toml | $(PY)
	@echo "installing batchdeck into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --quiet -e . > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	@echo "installing batchdeck[test] into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --quiet -e ".[test]" > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@ $(STAMP)

run: $(STAMP)
	$(VENV)/bin/batchdeck

# Starts the test daemons that are installed (never installs them: .ci/run does),
# then runs the whole suite; tests whose daemon is missing are skipped with the reason.
test: $(TEST_STAMP)
	-@bash tests/clusters/up.sh --installed-only
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -ra $(PYTEST_ARGS)

# mypy cannot follow package-dir (backends/ installs as batchdeck.backends): it checks
# the package through a tree of links under .mypy-src/batchdeck.
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	@mkdir -p .mypy-src/batchdeck
	@for d in backends tui themes; do ln -sfn ../../$$d .mypy-src/batchdeck/$$d; done
	$(VENV)/bin/mypy

# Every case against its plain-tool anchor, paired, median of several (BENCHMARKS.md records a run);
# then the app's own UI stalls with 10,000 jobs. Cases whose daemon is missing say "skipped".
bench: $(TEST_STAMP)
	$(PY) tests/bench.py $(BENCH_ARGS)
	$(PY) tests/bench_tui.py

screenshots: $(TEST_STAMP)
	$(PY) -m batchdeck.tui.screenshots screenshots/

clusters-up:
	bash tests/clusters/up.sh

clusters-down:
	bash tests/clusters/down.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
