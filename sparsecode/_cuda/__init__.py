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


def _find_nvrtc():
    """``libnvrtc.so``: from the ``nvidia-cuda-nvrtc-cu12`` wheel, a CUDA
    toolkit (``CUDA_PATH`` / ``CUDA_HOME``) or the loader's path; None if
    there is none."""
    candidates = []
    for base in sys.path:
        candidates += glob.glob(os.path.join(base, "nvidia", "cuda_nvrtc", "lib",
                                             "libnvrtc.so*"))
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            candidates += glob.glob(os.path.join(os.environ[var], "lib64", "libnvrtc.so*"))
    candidates += ["libnvrtc.so.12", "libnvrtc.so"]
    for name in candidates:
        if "builtins" in os.path.basename(name) or ".alt." in os.path.basename(name):
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


class CompileError(RuntimeError):
    """NVRTC refused a source; the message holds its log."""


def compile_ptx(source, name="source.cu", arch="compute_90", options=("--std=c++14",)):
    """Compile ``source`` to PTX with NVRTC through ctypes (no GPU, no CuPy).

    Returns the PTX text; raises :class:`CompileError` with NVRTC's log when
    the source does not compile, and ``OSError`` when NVRTC is not found.
    """
    lib = _find_nvrtc()
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
