"""The CUDA sources of sparsecode/_cuda run on the CPU (see cuda_host.h):
each ``.cu`` file is compiled by g++ after that header into a shared
library with one launcher per kernel, so that the backend's own Python
launchers (sparsecode/_cupy_backend.py, with numpy standing in for CuPy) drive the
kernels' own code in CI, where there is no GPU.

``module(name)`` is a stand-in for ``cupy.RawModule`` (``get_function``),
its kernels for ``cupy.RawKernel`` (``kernel(grid, block, args)``). Each
argument is checked against the kernel's parameter: a pointer takes a
C-contiguous numpy array of the pointed type, a value the matching numpy
scalar (what CuPy would otherwise reinterpret silently). Each launch runs
twice, its lanes in order on copies of the arrays and in reverse order on
the arrays themselves, and fails unless both leave the same bytes: a
kernel whose lanes race between warp operations fails here.
"""

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sparsecode._cuda import sources

HEADER = Path(__file__).with_name("cuda_host.h")

_POINTED = {"float": np.float32, "double": np.float64, "long long": np.int64,
            "unsigned char": np.uint8, "int": np.int32}
_VALUES = {"long long": (ctypes.c_longlong, np.int64), "int": (ctypes.c_int, np.int32),
           "double": (ctypes.c_double, np.float64), "float": (ctypes.c_float, np.float32)}
_SIGNATURE = re.compile(r'extern\s+"C"\s+EMU_KERNEL\s+void\s+(\w+)\s*\(([^)]*)\)')


def compiler():
    """The C++ compiler, or None."""
    return shutil.which("g++") or shutil.which("c++")


class LaunchError(RuntimeError):
    """A launch broke a warp rule (see cuda_host.h)."""


def _parse(params):
    """``[(type, is_pointer), ...]`` of a parameter list."""
    out = []
    for param in params.split(","):
        words = param.replace("*", " * ").replace("__restrict__", " ").split()
        pointer = "*" in words
        words = [w for w in words if w not in ("*", "const")][:-1]  # drop the name
        out.append((" ".join(words), pointer))
    return out


class Kernel:
    def __init__(self, lib, name, params):
        self.name, self.params = name, params
        self._fn = getattr(lib, f"emu_{name}")
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int] + [
            ctypes.c_void_p if pointer else _VALUES[kind][0] for kind, pointer in params]
        self._error = lib.emu_last_error
        self._error.restype = ctypes.c_char_p

    def __call__(self, grid, block, args):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        values = []
        for i, ((kind, pointer), arg) in enumerate(zip(self.params, args)):
            if pointer:
                if not isinstance(arg, np.ndarray) or arg.dtype != _POINTED[kind]:
                    raise TypeError(f"{self.name} argument {i}: {kind}* needs a numpy array "
                                    f"of {np.dtype(_POINTED[kind]).name}, got "
                                    f"{getattr(arg, 'dtype', type(arg).__name__)}")
                if not arg.flags.c_contiguous:
                    raise TypeError(f"{self.name} argument {i} is not C-contiguous")
                values.append(arg.ctypes.data)
            else:
                if type(arg) is not _VALUES[kind][1]:
                    raise TypeError(f"{self.name} argument {i}: {kind} needs a "
                                    f"{_VALUES[kind][1].__name__}, got {type(arg).__name__}")
                values.append(arg.item())
        (gx,), (bx,) = grid, block
        # (keyed by identity: an array passed twice stays one array)
        copies = {id(a): a.copy() for a in args if isinstance(a, np.ndarray)}
        forward = [copies[id(a)].ctypes.data if isinstance(a, np.ndarray) else v
                   for a, v in zip(args, values)]
        for reverse, pointers in ((0, forward), (1, values)):
            if self._fn(gx, bx, reverse, *pointers):
                raise LaunchError(f"{self.name}: {self._error().decode()}")
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray) and a.tobytes() != copies[id(a)].tobytes():
                raise LaunchError(f"{self.name}: argument {i} differs when the lanes run in "
                                  "reverse order (lanes race between warp operations)")


class Module:
    """One ``.cu`` source compiled for the host: ``get_function(name)``."""

    def __init__(self, name, source=None):
        source = sources()[name] if source is None else source
        # (no _FORTIFY_SOURCE: its longjmp check refuses a jump to another
        # stack; no CET shadow stack, which a jump between stacks breaks)
        flags = ["-std=c++17", "-O2", "-fPIC", "-shared", "-ffp-contract=off",
                 "-U_FORTIFY_SOURCE", "-fcf-protection=none"]
        version = subprocess.run([compiler(), "--version"], capture_output=True,
                                 text=True).stdout
        key = hashlib.sha256("\0".join([source, HEADER.read_text(), Path(__file__).read_text(),
                                         version, *flags]).encode()).hexdigest()[:16]
        build = Path(tempfile.gettempdir()) / f"sparsecode-cuda-host-{os.getuid()}"
        build.mkdir(exist_ok=True)
        # the kernels' signatures, read off the preprocessed source (they are
        # written through macros)
        expanded = subprocess.run(
            [compiler(), "-E", "-P", "-x", "c++", "-D__global__=EMU_KERNEL", "-"],
            input=source, capture_output=True, text=True, check=True).stdout
        self.kernels = {m.group(1): _parse(m.group(2)) for m in _SIGNATURE.finditer(expanded)}
        library = build / f"{name}-{key}.so"
        if not library.exists():
            wrappers = []
            for kernel, params in self.kernels.items():
                decl = ", ".join(f"{'const ' if p else ''}{k}{'*' if p else ''} a{i}"
                                 for i, (k, p) in enumerate(params))
                call = ", ".join(f"({k}{'*' if p else ''})a{i}"
                                 for i, (k, p) in enumerate(params))
                wrappers.append(
                    f'extern "C" int emu_{kernel}(unsigned grid, unsigned block, int reverse'
                    f'{", " if decl else ""}{decl}) {{\n'
                    f"    std::function<void()> body = [=]() {{ {kernel}({call}); }};\n"
                    f"    return emu::launch(grid, block, reverse, body);\n}}\n")
            # (per process: test workers may build the same source at once)
            unit = build / f"{name}-{key}-{os.getpid()}.cpp"
            unit.write_text(f'#include "{HEADER}"\n#line 1 "{name}.cu"\n{source}\n'
                            + "\n".join(wrappers))
            partial = build / f"{name}-{key}-{os.getpid()}.so"
            done = subprocess.run([compiler(), *flags, str(unit), "-o", str(partial)],
                                  capture_output=True, text=True)
            unit.unlink()
            if done.returncode:
                raise RuntimeError(f"g++ could not build {name}.cu for the host:\n"
                                   f"{done.stderr}")
            partial.replace(library)
        # PyDLL: a launch keeps the GIL, so two threads cannot launch at once
        # (the harness's state is one per process)
        self._lib = ctypes.PyDLL(str(library))

    def get_function(self, name):
        return Kernel(self._lib, name, self.kernels[name])


@functools.lru_cache(maxsize=None)
def module(name):
    return Module(name)
