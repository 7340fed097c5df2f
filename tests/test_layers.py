"""The package's layers beyond what ``lint-imports`` checks (its contracts
are in pyproject.toml and run first in ``make test``): no module outside
the backends reaches a backend's private names."""

import ast
import pathlib

import sparsecode

BACKENDS = {"_array_api", "_chunks", "_dense", "_gpu"}
PACKAGE = pathlib.Path(sparsecode.__file__).parent


def _private_backend_uses(source):
    """``(line, text)`` of each ``from ._backend import _name`` and each
    ``_backend._name`` (after ``from . import _backend``) in ``source``."""
    tree = ast.parse(source)
    aliases, uses = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module in BACKENDS:
                uses += [(node.lineno, f"from .{node.module} import {a.name}")
                         for a in node.names if a.name.startswith("_")]
            elif node.module is None:
                aliases.update({a.asname or a.name: a.name for a in node.names
                                if a.name in BACKENDS})
    uses += [(node.lineno, f"{node.value.id}.{node.attr}") for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and node.value.id in aliases and node.attr.startswith("_")]
    return uses


def test_the_scan_finds_private_uses():
    source = ("from . import _gpu\nfrom ._dense import _private, public\n"
              "x = _gpu._cupy()\ny = _gpu.cupy()\n")
    assert _private_backend_uses(source) == [(2, "from ._dense import _private"),
                                             (3, "_gpu._cupy")]


def test_no_module_outside_the_backends_reaches_their_private_names():
    found = {path.name: _private_backend_uses(path.read_text())
             for path in sorted(PACKAGE.glob("*.py")) if path.stem not in BACKENDS}
    assert {name: uses for name, uses in found.items() if uses} == {}
