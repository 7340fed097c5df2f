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
    """``(line, text)`` of each private name of a backend that ``source``
    reaches: ``from ._backend import _name`` (at any relative level, or
    through ``sparsecode.``), ``_backend._name`` after ``from . import
    _backend`` or ``import sparsecode._backend as b``, a ``"_name"`` given
    with such a module (``monkeypatch.setattr(_backend, "_name", ...)``),
    and a ``"sparsecode._backend._name"`` string."""
    tree = ast.parse(source)
    aliases, uses = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root, _, module = a.name.partition(".")
                if root == "sparsecode" and module in BACKENDS and a.asname:
                    aliases[a.asname] = module
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level >= 1:
            module, prefix = node.module or "", "." * node.level
        elif (node.module or "").split(".")[0] == "sparsecode":
            module, prefix = node.module.partition(".")[2], "sparsecode."
        else:
            continue
        if module in BACKENDS:
            uses += [(node.lineno, f"from {prefix}{module} import {a.name}")
                     for a in node.names if a.name.startswith("_")]
        elif module == "":
            aliases.update({a.asname or a.name: a.name for a in node.names
                            if a.name in BACKENDS})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")):
            uses.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif (isinstance(node, ast.Call) and len(node.args) >= 2
              and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases
              and isinstance(node.args[1], ast.Constant)
              and str(node.args[1].value).startswith("_")):
            uses.append((node.lineno, f"{node.args[0].id}.{node.args[1].value}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(".")
            if (len(parts) >= 3 and parts[0] == "sparsecode" and parts[1] in BACKENDS
                    and parts[2].startswith("_")):
                uses.append((node.lineno, node.value))
    return sorted(uses)


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
                                             (4, "g._cupy"), (5, "g._BACKEND")]
    source = ("from .._dense import _private\nimport sparsecode._gpu as g\n"
              "x = g._xp()\nmonkeypatch.setattr('sparsecode._gpu._cupy', None)\n")
    assert _private_backend_uses(source) == [(1, "from .._dense import _private"),
                                             (3, "g._xp"), (4, "sparsecode._gpu._cupy")]


def test_no_module_outside_the_backends_reaches_their_private_names():
    found = {str(path.relative_to(PACKAGE)): _private_backend_uses(path.read_text())
             for path in sorted(PACKAGE.rglob("*.py"))
             if path.parent != PACKAGE or path.stem not in BACKENDS}
    assert {name: uses for name, uses in found.items() if uses} == {}


def test_no_test_reaches_the_backends_private_names():
    found = {path.name: _private_backend_uses(path.read_text())
             for path in sorted(TESTS.glob("*.py"))}
    found.pop(pathlib.Path(__file__).name)  # (its own examples, in strings)
    assert {name: uses for name, uses in found.items() if uses} == {}
