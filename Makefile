# collective.asyncreports: `make run` starts the whole system, `make test` runs the suite.
# STACK=plone6.2 or STACK=zope6 (and PYTHON=3.13) for the other supported stacks: stacks.mk.
include stacks.mk
BIN := $(VENV)/bin
ZEO_PORT ?= 8100
HTTP_PORT ?= 8080
TEST_ARGS ?=
# Groups of tests/ alone: unit, integration, system or browser (GROUP="unit integration").
GROUP ?=
# Test modules live in tests/ and its groups' folders.
TESTRUNNER = $(BIN)/zope-testrunner --path=$(CURDIR) --test-path=$(CURDIR) \
	--tests-pattern='^(tests|unit|integration|system|browser)$$'
QUICK ?=
STAMP := $(VENV)/.installed

.PHONY: constraints install run stop test lint bench clean browser-deps font-deps buildout-check pip-check dist-check screenshots chaos

$(STAMP): setup.py $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON_EXE) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -U pip setuptools wheel
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# Each stack's pins from Zope's and Plone's own and this project's additions in constraints.txt
# (scripts/make_constraints.py says how; zope6's set is resolved on Python 3.12).
constraints:
	$(PYTHON_EXE) scripts/make_constraints.py --python $(PYTHON_3.12)

run: install font-deps
	mkdir -p $(RUN_HOME)
	$(BIN)/python -m collective.asyncreports.dev run --home $(RUN_HOME) \
		--zeo-port $(ZEO_PORT) --http-port $(HTTP_PORT)

stop:
	$(BIN)/python -m collective.asyncreports.dev stop --home $(RUN_HOME)

# Debian's chromium for the real-browser tests (tests/browser/test_browser.py); root only,
# otherwise those tests skip and say why.
browser-deps:
	scripts/install-chromium.sh

# Debian's DejaVu and WenQuanYi Zen Hei (CJK) fonts, which PDFs embed; root only, otherwise the
# fonts found are used and the log says which are missing.
font-deps:
	scripts/install-fonts.sh

test: install browser-deps font-deps
	$(TESTRUNNER) --all $(if $(GROUP),-m '^tests\.($(GROUP_REGEX))\.',) $(TEST_ARGS)

# The docs' images (docs/screenshots/), from the real-browser tests (other test runs
# leave them alone).
screenshots: install browser-deps
	ASYNCREPORTS_SCREENSHOTS=$(CURDIR)/docs/screenshots \
		$(TESTRUNNER) --all -m '^tests\.browser\.'

bench: install
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

# A buildout from PyPI in a temporary directory: zeoserver, instance, worker, one job.
buildout-check: install
	$(BIN)/python tests/buildout_check.py --stack $(STACK)

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

# The translations in src/collective/asyncreports/locales (scripts/i18n.py): make i18n rebuilds
# the .pot with i18ndude, syncs the .po files and compiles their .mo; make i18n-check fails when
# the .pot or a .mo is not current or a .po does not compile (msgfmt -c when gettext is there).
.PHONY: i18n i18n-check
i18n: install
	$(BIN)/python scripts/i18n.py update

i18n-check: install
	$(BIN)/python scripts/i18n.py check

# The documentation site (docs/, Sphinx; the docs extra) with warnings as errors, into
# docs/_build/html.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS),docs]'
	touch $(DOCS_STAMP)

.PHONY: docs
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -n -b html docs docs/_build/html

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
