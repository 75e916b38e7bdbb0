# The supported stacks (included by the Makefile). STACK picks one:
#   plone6.1  Zope 5.14 + Plone 6.1 on Python 3.11: the default (.venv, constraints.txt)
#   plone6.2  Zope 6.3 + Plone 6.2 on Python 3.12 (.venv-plone6.2, constraints/plone6.2.txt)
#   zope6     Zope 6.3 alone on Python 3.12, no Plone (.venv-zope6, constraints/zope6.txt)
# PYTHON runs the stack on another Python: a version (PYTHON=3.13, found under pyenv, then on
# PATH; its own venv, e.g. .venv-plone6.2-py3.13) or an interpreter (PYTHON=python3.11).
STACK ?= plone6.1
STACKS := plone6.1 plone6.2 zope6
ifeq ($(filter $(STACK),$(STACKS)),)
$(error STACK=$(STACK) is not one of: $(STACKS))
endif

STACK_PYTHON_plone6.1 := 3.11
STACK_PYTHON_plone6.2 := 3.12
STACK_PYTHON_zope6 := 3.12
CONSTRAINTS_plone6.1 := constraints.txt
CONSTRAINTS_plone6.2 := constraints/plone6.2.txt
CONSTRAINTS_zope6 := constraints/zope6.txt
EXTRAS_plone6.1 := test,plone,test-plone,release
EXTRAS_plone6.2 := test,plone,test-plone,release
EXTRAS_zope6 := test,release

CONSTRAINTS := $(CONSTRAINTS_$(STACK))
EXTRAS := $(EXTRAS_$(STACK))
PYTHON ?= $(STACK_PYTHON_$(STACK))
# A bare version (3.13) names a Python to find; anything else is the interpreter itself.
find_python = $(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)) python$(1))
PYTHON_VERSION := $(shell echo '$(PYTHON)' | grep -E '^[0-9]+\.[0-9]+$$')
ifneq ($(PYTHON_VERSION),)
PYTHON_EXE := $(call find_python,$(PYTHON_VERSION))
else
PYTHON_EXE := $(PYTHON)
endif

# The default stack on its own Python keeps .venv and the repository's etc/ and var/ (make run);
# every other combination has its own venv and its own home under .stacks/.
STACK_NAME := $(STACK)$(if $(filter-out $(STACK_PYTHON_$(STACK)),$(or $(PYTHON_VERSION),$(STACK_PYTHON_$(STACK)))),-py$(PYTHON_VERSION),)
ifeq ($(STACK_NAME),plone6.1)
VENV := .venv
RUN_HOME := .
else
VENV := .venv-$(STACK_NAME)
RUN_HOME := .stacks/$(STACK_NAME)
endif

# make constraints resolves the zope6 set on this one.
PYTHON_3.12 := $(call find_python,3.12)

# GROUP="unit integration" -> unit|integration
space := $(subst ,, )
GROUP_REGEX = $(subst $(space),|,$(strip $(GROUP)))
