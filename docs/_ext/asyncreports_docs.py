"""Directives that show what the code declares, so the reference cannot drift from it.

- ``asyncreports-cli``: the help of every ``asyncreports`` command, from its argument
  parser (``collective.asyncreports.cli.arguments.parser``);
- ``asyncreports-settings``: the queue's settings table (``queue/settings.py``);
- ``asyncreports-openapi``: the REST API's operations, from ``restapi/openapi.json``;
- ``asyncreports-interface``: a zope.interface ``Interface``, its attributes and methods
  (autodoc cannot take the signature of an ``InterfaceClass``).
"""

import argparse
import importlib
import inspect
import json
import os
from importlib import resources

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


class _Rst(SphinxDirective):
    """A directive whose content is reStructuredText made by ``lines()``."""

    def run(self):
        container = nodes.container()
        self.state.nested_parse(StringList(list(self.lines())), self.content_offset, container)
        return container.children


def _commands(parser, prefix):
    """(command line, parser) of every command and sub-command, depth first."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}")


class CommandLine(_Rst):
    def lines(self):
        from collective.asyncreports.cli.arguments import parser

        # argparse wraps its help to $COLUMNS: the same width on every machine.
        os.environ["COLUMNS"] = "88"
        for command, sub in _commands(parser(), "asyncreports"):
            sub.prog = command
            yield f".. rubric:: ``{command}``"
            yield ""
            yield "::"
            yield ""
            for line in sub.format_help().splitlines():
                yield f"    {line}" if line else ""
            yield ""


def _cell(value):
    return str(value).replace("\n", " ")


class SettingsTable(_Rst):
    def lines(self):
        from collective.asyncreports.queue.settings import SETTINGS

        yield ".. list-table::"
        yield "   :header-rows: 1"
        yield "   :widths: 18 20 12 14 36"
        yield ""
        for row in (("Name", "Title", "Default", "Bounds", "What it does"),):
            yield f"   * - {row[0]}"
            for cell in row[1:]:
                yield f"     - {cell}"
        for setting in SETTINGS:
            if setting.kind == "int":
                bounds = f"{setting.minimum} to {setting.maximum}"
            elif setting.kind == "bool":
                bounds = "on or off"
            else:
                bounds = f"at most {setting.maximum} characters"
            default = repr(setting.default) if setting.default != "" else "empty"
            where = "" if setting.plone else " (plain Zope only: Plone uses its own)"
            yield f"   * - ``{setting.name}``"
            yield f"     - {_cell(setting.title)}"
            yield f"     - ``{default}``"
            yield f"     - {bounds}"
            yield f"     - {_cell(setting.description)}{where}"


class OpenAPIOperations(_Rst):
    def lines(self):
        document = json.loads(
            resources.files("collective.asyncreports.restapi").joinpath("openapi.json")
            .read_text(encoding="utf-8"))
        yield ".. list-table::"
        yield "   :header-rows: 1"
        yield "   :widths: 10 30 20 40"
        yield ""
        yield "   * - Method"
        yield "     - Path"
        yield "     - operationId"
        yield "     - Summary"
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                yield f"   * - ``{method.upper()}``"
                summary = operation.get("summary") or operation.get("description", "")
                yield f"     - ``{path}``"
                yield f"     - ``{operation.get('operationId', '')}``"
                yield f"     - {_cell(summary.split(chr(10))[0])}"


class InterfaceDoc(_Rst):
    required_arguments = 1

    def lines(self):
        from zope.interface.interface import Method

        module, _, name = self.arguments[0].rpartition(".")
        interface = getattr(importlib.import_module(module), name)
        yield f".. py:class:: {self.arguments[0]}"
        yield ""
        for line in inspect.cleandoc(interface.__doc__ or "").splitlines():
            yield f"   {line}" if line else ""
        for member, description in interface.namesAndDescriptions():
            yield ""
            if isinstance(description, Method):
                yield f"   .. py:method:: {member}{description.getSignatureString()}"
            else:
                yield f"   .. py:attribute:: {member}"
            yield ""
            for line in inspect.cleandoc(description.getDoc() or "").splitlines():
                yield f"      {line}" if line else ""


def setup(app):
    app.add_directive("asyncreports-cli", CommandLine)
    app.add_directive("asyncreports-settings", SettingsTable)
    app.add_directive("asyncreports-openapi", OpenAPIOperations)
    app.add_directive("asyncreports-interface", InterfaceDoc)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
