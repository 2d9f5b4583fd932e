# The project's interface: CI calls these same targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: install browser postgres libreoffice samples demo serve test test-future wheel-demo lint bench clean messages

install: $(VENV)/.installed

# The modules are compiled ahead, as pip does for an installed package: where
# PYTHONDONTWRITEBYTECODE is set, every command would otherwise compile them as it starts.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q importer
	touch $@

# The sample plannings, dated from tomorrow: made each time, so that they never age.
samples: install
	@$(BIN)/python samples/make_samples.py --out samples

demo: samples
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

# The tests start a throwaway PostgreSQL server of their own (initdb + pg_ctl on a temporary
# folder and a free loopback port): Debian's postgresql package brings the programs.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql; }

serve: samples
	$(BIN)/ocean-import serve --sandbox

# Generated plannings are opened and saved again by LibreOffice, as a dispatcher does (Debian's
# headless Calc: no window, no Java).
libreoffice:
	@command -v soffice >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui; }

# The whole suite, browser, PostgreSQL and LibreOffice tests included (installed when missing).
test: install browser postgres libreoffice
	$(BIN)/python -m pytest

# The whole suite again with the clock a year ahead: nothing may age. Playwright's driver and
# the browser keep the real clock. The libfaketime is built here from the source its PyPI
# package ships, faking the clock only (time, gettimeofday, clock_gettime) and under one lock
# (PTHREAD_SINGLETHREADED_TIME): the package's own build also takes over sleeps, polls,
# timers and condition waits, which the suite never needs faked (a year ahead, no speed-up),
# and its crashes were there: a getenv racing a setenv in another thread, then a segmentation
# fault in the sandbox's event loop mid-suite. The cache outlives the suite (no re-read).
FAKETIME_LIB = build/faketime/libfaketime.so.1
$(FAKETIME_LIB): $(VENV)/.installed
	@command -v cc >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev; }
	@mkdir -p $(@D)
	src=$$($(BIN)/python -c 'import libfaketime, pathlib; print(pathlib.Path(libfaketime.__file__).parent / "vendor/libfaketime/src")') && \
	cc -std=gnu99 -O2 -fPIC -shared -w -DFAKE_INTERNAL_CALLS -DPTHREAD_SINGLETHREADED_TIME \
		-D__EXTENSIONS__ -D_XOPEN_SOURCE=600 -DPREFIX='"/usr/local"' -DLIBDIRNAME='"/lib"' \
		-Wl,--version-script=$$src/libfaketime.map -o $@ $$src/libfaketime.c -ldl -lm -lrt -lpthread

test-future: install browser postgres libreoffice $(FAKETIME_LIB)
	FAKETIME=+365d FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_CACHE_DURATION=86400 \
		LD_PRELOAD=$(abspath $(FAKETIME_LIB)) $(BIN)/python -m pytest

# The wheel built from the repository, installed into a fresh virtual environment outside the
# source tree, validates, imports and serves the page: everything it needs is packaged.
wheel-demo: install
	bash .ci/wheel-demo.sh

# The translations: extract every message of the code into the template, then bring each
# catalog (importer/locale/LANG/LC_MESSAGES/messages.po) up to date with it; a translator
# then fills in the new msgstr lines and runs it again: each catalog is compiled beside it
# (messages.mo, what a command reads; tests/test_language.py fails when it is not current).
MESSAGES_POT = build/messages.pot
messages: install
	@mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k lazy -k count:2,3 --add-location=file --sort-by-file \
		--project=ocean-import --copyright-holder="ocean-import" -o $(MESSAGES_POT) importer
	$(BIN)/pybabel update -i $(MESSAGES_POT) -d importer/locale -D messages \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d importer/locale -D messages

lint: install
	$(BIN)/ruff check importer tests bench samples
	$(BIN)/ruff format --check importer tests bench samples
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
