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
# STORAGE=postgresql: RelStorage on a PostgreSQL server of the home's own instead of ZEO, for
# make run, make test (the system tests' servers) and make chaos (docs/admin/postgresql.rst).
STORAGE ?= zeo
ifeq ($(filter $(STORAGE),zeo postgresql),)
$(error STORAGE=$(STORAGE) is not one of: zeo postgresql)
endif
PG_PORT ?= 8432
PG_STAMP := $(VENV)/.installed-postgresql
# What STORAGE=postgresql adds: the [postgresql] extra and Debian's PostgreSQL server.
STORAGE_DEPS := $(if $(filter postgresql,$(STORAGE)),$(PG_STAMP) postgresql-deps,)
DB_PORT := $(if $(filter postgresql,$(STORAGE)),$(PG_PORT),$(ZEO_PORT))

.PHONY: constraints install run stop test lint bench clean browser-deps font-deps buildout-check pip-check dist-check screenshots chaos postgresql-deps

$(STAMP): setup.py $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON_EXE) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -U pip setuptools wheel
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	touch $(STAMP)

# RelStorage and psycopg2-binary (setup.py's [postgresql] extra), once per venv.
$(PG_STAMP): $(STAMP)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[postgresql]'
	touch $(PG_STAMP)

install: $(STAMP) $(filter $(PG_STAMP),$(STORAGE_DEPS))

# Each stack's pins from Zope's and Plone's own and this project's additions in constraints.txt
# (scripts/make_constraints.py says how; zope6's set is resolved on Python 3.12).
constraints:
	$(PYTHON_EXE) scripts/make_constraints.py --python $(PYTHON_3.12)

run: install font-deps $(STORAGE_DEPS)
	mkdir -p $(RUN_HOME)
	$(BIN)/python -m collective.asyncreports.dev run --home $(RUN_HOME) --storage $(STORAGE) \
		--zeo-port $(DB_PORT) --http-port $(HTTP_PORT)

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

# Debian's PostgreSQL server for STORAGE=postgresql; root only, otherwise a message says what
# to install and the PostgreSQL tests skip and say why.
postgresql-deps:
	scripts/install-postgresql.sh

test: install browser-deps font-deps $(STORAGE_DEPS)
	STORAGE=$(STORAGE) $(TESTRUNNER) --all $(if $(GROUP),-m '^tests\.($(GROUP_REGEX))\.',) $(TEST_ARGS)

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
chaos: install font-deps $(STORAGE_DEPS)
	STORAGE=$(STORAGE) $(BIN)/python tests/chaos.py --seconds $(CHAOS_SECONDS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED),)

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
	$(BIN)/sphinx-build -E -W --keep-going -n -b html docs docs/_build/html

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info docs/_build
