"""CUDA sources of the GPU backend (``*.cu``, compiled at run time by NVRTC
through CuPy) and a compile-only check that needs neither CuPy nor a GPU."""

import ctypes
import glob
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent


# NVRTC options by source, beyond the language standard: OMP's pursuit and
# the autoencoder's Adam step must round as the CPU kernels do (no fused
# multiply-adds; see omp.cu, autoencoder.cu)
OPTIONS = {"omp": ("--fmad=false",), "autoencoder": ("--fmad=false",)}


def options(name):
    """The NVRTC options ``name``.cu is compiled with."""
    return ("--std=c++14", *OPTIONS.get(name, ()))


def sources():
    """The ``.cu`` files of the backend, by name."""
    return {path.stem: path.read_text() for path in sorted(HERE.glob("*.cu"))}


def _nvrtc_candidates():
    """Paths and names ``libnvrtc.so`` may be loaded by: the NVRTC wheels
    (``nvidia-cuda-nvrtc-cu12`` lays it out as ``nvidia/cuda_nvrtc/lib``,
    CUDA 13's ``nvidia-cuda-nvrtc`` as ``nvidia/cu13/lib``), a CUDA toolkit
    (``CUDA_PATH`` / ``CUDA_HOME``), then the loader's path."""
    candidates = []
    for base in sys.path:
        for layout in (("cuda_nvrtc", "lib"), ("cu[0-9]*", "lib")):
            candidates += sorted(glob.glob(os.path.join(base, "nvidia", *layout,
                                                        "libnvrtc.so*")))
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            candidates += glob.glob(os.path.join(os.environ[var], "lib64", "libnvrtc.so*"))
    return candidates + ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]


def nvrtc_version(lib):
    """``(major, minor)`` of a loaded NVRTC."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def nvrtc_libraries():
    """Every NVRTC that loads here, one per major version (the first found
    of each), by major version: the compile check runs with each, since a
    CUDA 12 and a CUDA 13 CuPy compile the sources with their own."""
    found = {}
    for name in _nvrtc_candidates():
        if "builtins" in os.path.basename(name) or ".alt." in os.path.basename(name):
            continue
        try:
            lib = ctypes.CDLL(name)
            major = nvrtc_version(lib)[0]
        except (OSError, AttributeError):  # (not there; not an NVRTC)
            continue
        found.setdefault(major, lib)
    return dict(sorted(found.items()))


def _find_nvrtc():
    """An NVRTC (the newest found), or None if there is none."""
    libraries = nvrtc_libraries()
    return libraries[max(libraries)] if libraries else None


class CompileError(RuntimeError):
    """NVRTC refused a source; the message holds its log."""


def compile_ptx(source, name="source.cu", arch="compute_90", options=("--std=c++14",),
                lib=None):
    """Compile ``source`` to PTX with NVRTC through ctypes (no GPU, no CuPy).

    ``lib`` is a loaded NVRTC (one of :func:`nvrtc_libraries`); the newest
    found by default. Returns the PTX text; raises :class:`CompileError`
    with NVRTC's log when the source does not compile, and ``OSError`` when
    NVRTC is not found.
    """
    lib = _find_nvrtc() if lib is None else lib
    if lib is None:
        raise OSError("NVRTC (libnvrtc.so) not found: pip install nvidia-cuda-nvrtc-cu12")
    prog = ctypes.c_void_p()
    status = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0,
                                    None, None)
    if status != 0:
        raise CompileError(f"nvrtcCreateProgram failed with status {status}")
    try:
        opts = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in options)]
        array = (ctypes.c_char_p * len(opts))(*opts)
        status = lib.nvrtcCompileProgram(prog, len(opts), array)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if status != 0:
            raise CompileError(f"{name} does not compile:\n{log.value.decode(errors='replace')}")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, ptx)
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
