# collective.asyncreports: `make run` starts the whole system, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ZEO_PORT ?= 8100
HTTP_PORT ?= 8080
TEST_ARGS ?=
# One group of tests/ alone: unit, integration, system or browser.
GROUP ?=
# Test modules live in tests/ and its groups' folders.
TESTRUNNER = $(BIN)/zope-testrunner --path=$(CURDIR) --test-path=$(CURDIR) \
	--tests-pattern='^(tests|unit|integration|system|browser)$$'
QUICK ?=
STAMP := $(VENV)/.installed

.PHONY: install run stop test lint bench clean browser-deps font-deps buildout-check pip-check dist-check screenshots chaos

$(STAMP): setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -U pip setuptools wheel
	$(BIN)/pip install -q -c constraints.txt -e '.[test,plone,test-plone,release]'
	touch $(STAMP)

install: $(STAMP)

run: install font-deps
	$(BIN)/python -m collective.asyncreports.dev run --home . \
		--zeo-port $(ZEO_PORT) --http-port $(HTTP_PORT)

stop:
	$(BIN)/python -m collective.asyncreports.dev stop --home .

# Debian's chromium for the real-browser tests (tests/browser/test_browser.py); root only,
# otherwise those tests skip and say why.
browser-deps:
	scripts/install-chromium.sh

# Debian's DejaVu and WenQuanYi Zen Hei (CJK) fonts, which PDFs embed; root only, otherwise the
# fonts found are used and the log says which are missing.
font-deps:
	scripts/install-fonts.sh

test: install browser-deps font-deps
	$(TESTRUNNER) --all $(if $(GROUP),-m '^tests\.$(GROUP)\.',) $(TEST_ARGS)

# The README's images, from the real-browser tests (other test runs leave them alone).
screenshots: install browser-deps
	ASYNCREPORTS_SCREENSHOTS=$(CURDIR)/docs/screenshots \
		$(TESTRUNNER) --all -m '^tests\.browser\.'

bench: install
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

# A buildout from PyPI in a temporary directory: zeoserver, instance, worker, one job.
buildout-check: install
	$(BIN)/python tests/buildout_check.py

# The built wheel with pip in a fresh venv: mkwsgiinstance, runzeo, zconsole run, one job.
pip-check: install
	$(BIN)/python tests/pip_check.py

# The release files: sdist and wheel (build deps pinned too), twine, check-manifest,
# pyroma (8 of 10: no project URL or author email yet) and the changelog's draft.
DIST ?= dist
dist-check: install
	rm -rf $(DIST)
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*
	$(BIN)/check-manifest
	$(BIN)/pyroma --min 8 --skip-tests CheckManifest --directory .
	$(BIN)/towncrier build --draft --version "$$($(BIN)/python setup.py --version)" >/dev/null

# The chaos soak: workers, ZEO and a submitter under random faults, then the
# invariants checked (tests/chaos.py).
CHAOS_SECONDS ?= 600
CHAOS_SEED ?=
chaos: install font-deps
	$(BIN)/python tests/chaos.py --seconds $(CHAOS_SECONDS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED),)

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
