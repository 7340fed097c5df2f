"""The package's layers beyond what ``lint-imports`` checks (its contracts
are in pyproject.toml and run first in ``make test``): no module outside
the backends reaches a backend's private names, and no test does: a test
stands a backend in with ``sparsecode._backend.use_backend``."""

import ast
import pathlib

import sparsecode

BACKENDS = {"_array_api", "_backend", "_chunks", "_cupy_backend", "_dense", "_gpu"}
PACKAGE = pathlib.Path(sparsecode.__file__).parent
TESTS = pathlib.Path(__file__).parent


def _private_backend_uses(source):
    """``(line, text)`` of each ``from ._backend import _name`` and each
    ``_backend._name`` (after ``from . import _backend``) in ``source``, or
    the same through ``sparsecode`` (a test's imports)."""
    tree = ast.parse(source)
    aliases, uses = {}, []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            module, prefix = node.module or "", "."
        elif node.level == 0 and (node.module or "").split(".")[0] == "sparsecode":
            module, prefix = node.module.partition(".")[2], "sparsecode."
        else:
            continue
        if module in BACKENDS:
            uses += [(node.lineno, f"from {prefix}{module} import {a.name}")
                     for a in node.names if a.name.startswith("_")]
        elif module == "":
            aliases.update({a.asname or a.name: a.name for a in node.names
                            if a.name in BACKENDS})
    uses += [(node.lineno, f"{node.value.id}.{node.attr}") for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and node.value.id in aliases and node.attr.startswith("_")]
    # monkeypatch.setattr(_gpu, "_name", ...) and the like
    uses += [(node.lineno, f"{node.args[0].id}.{node.args[1].value}")
             for node in ast.walk(tree)
             if isinstance(node, ast.Call) and len(node.args) >= 2
             and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases
             and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
             and node.args[1].value.startswith("_")]
    return uses


def test_the_scan_finds_private_uses():
    source = ("from . import _gpu\nfrom ._dense import _private, public\n"
              "x = _gpu._cupy()\ny = _gpu.cupy()\n")
    assert _private_backend_uses(source) == [(2, "from ._dense import _private"),
                                             (3, "_gpu._cupy")]
    source = ("from sparsecode import _gpu as g, sparse_encode\n"
              "from sparsecode._backend import _gap_cpu, use_backend\n"
              "from sparsecode._encode import _private\n"
              "monkeypatch.setattr(g, '_cupy', None)\nx = g._BACKEND['step']\n")
    assert _private_backend_uses(source) == [(2, "from sparsecode._backend import _gap_cpu"),
                                             (5, "g._BACKEND"), (4, "g._cupy")]


def test_no_module_outside_the_backends_reaches_their_private_names():
    found = {path.name: _private_backend_uses(path.read_text())
             for path in sorted(PACKAGE.glob("*.py")) if path.stem not in BACKENDS}
    assert {name: uses for name, uses in found.items() if uses} == {}


def test_no_test_reaches_the_backends_private_names():
    found = {path.name: _private_backend_uses(path.read_text())
             for path in sorted(TESTS.glob("*.py"))}
    found.pop(pathlib.Path(__file__).name)  # (its own examples, in strings)
    assert {name: uses for name, uses in found.items() if uses} == {}
