"""The CUDA sources of the GPU backend compile with NVRTC (no GPU needed: the
``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-nvrtc`` (CUDA 13) wheels of the
test extra carry the compilers that CuPy's CUDA 12 and CUDA 13 builds use),
for the architectures the backend targets, with every kernel entry point that
sparsecode/_cupy_backend.py launches; a broken source fails here, on CI without a GPU."""

import re
from importlib import metadata

import pytest

from sparsecode import _cupy_backend
from sparsecode._cuda import (
    CompileError,
    _find_nvrtc,
    compile_ptx,
    nvrtc_libraries,
    nvrtc_version,
    options,
    sources,
)

if _find_nvrtc() is None:  # say why rather than pass silently
    pytest.skip("NVRTC (libnvrtc.so) is not installed: pip install nvidia-cuda-nvrtc-cu12 "
                "(part of the test extra on Linux x86_64)", allow_module_level=True)

NVRTC = nvrtc_libraries()


@pytest.mark.parametrize("major", sorted(NVRTC), ids=lambda m: f"nvrtc{m}")
@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("name", sorted(sources()))
def test_source_compiles_with_every_entry_point(name, arch, major):
    ptx = compile_ptx(sources()[name], f"{name}.cu", arch=arch, options=options(name),
                      lib=NVRTC[major])
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx))
    expected = {kernel for module, kernel in _cupy_backend.KERNELS if module == name}
    assert expected, f"sparsecode/_cupy_backend.py launches nothing from {name}.cu"
    assert expected <= entries, expected - entries


def test_every_launched_kernel_has_a_source():
    assert {module for module, _ in _cupy_backend.KERNELS} <= set(sources())


def test_a_broken_source_is_reported_with_the_compiler_log():
    broken = sources()["fista"].replace("double restart = 0.0;", "double restart = ;", 1)
    with pytest.raises(CompileError, match="error"):
        compile_ptx(broken, "fista.cu")


@pytest.mark.parametrize("dist, major", [("nvidia-cuda-nvrtc-cu12", 12),
                                         ("nvidia-cuda-nvrtc", 13)])
def test_every_installed_nvrtc_wheel_is_found(dist, major):
    """The wheels lay the library out differently (``nvidia/cuda_nvrtc/lib``,
    ``nvidia/cu13/lib``): each one installed is found, so the compile check
    above runs with it."""
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed")
    if int(version.split(".")[0]) != major:
        pytest.skip(f"{dist} {version} is not CUDA {major}'s")
    assert major in NVRTC, sorted(NVRTC)
    assert nvrtc_version(NVRTC[major])[0] == major
