# collective.asyncreports: `make run` starts the whole system, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ZEO_PORT ?= 8100
HTTP_PORT ?= 8080
TEST_ARGS ?=
QUICK ?=
STAMP := $(VENV)/.installed

.PHONY: install run stop test lint bench clean

$(STAMP): setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -U pip setuptools wheel
	$(BIN)/pip install -q -c constraints.txt -e '.[test,plone]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m collective.asyncreports.devinstance run --home . \
		--zeo-port $(ZEO_PORT) --http-port $(HTTP_PORT)

stop:
	$(BIN)/python -m collective.asyncreports.devinstance stop --home .

test: install
	$(BIN)/zope-testrunner --path=$(CURDIR) --test-path=$(CURDIR) --all $(TEST_ARGS)

bench: install
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
