# The project's interface: CI calls these same targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: install browser demo serve test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	@mkdir -p $(DEMO_OUT)
	@echo "== 1. Check the broken sample: every problem, located (exit 1 expected)"
	@$(BIN)/ocean-import validate samples/planning-broken.xlsx --config samples/ocean-import.toml \
		--report $(DEMO_OUT)/planning-broken.validation.xlsx \
		|| echo "(exit code $$?: the broken sample has invalid rows, as it should)"
	@echo
	@echo "== 2. Import the clean sample into a sandbox started for the demo"
	$(BIN)/ocean-import run samples/planning-clean.xlsx --config samples/ocean-import.toml \
		--sandbox --report $(DEMO_OUT)/planning-clean.results.xlsx

# The browser tests drive Debian's chromium package (Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

serve: install
	$(BIN)/ocean-import serve --sandbox

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check importer tests bench samples
	$(BIN)/ruff format --check importer tests bench samples
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
