"""The CUDA sources of the GPU backend compile with NVRTC (no GPU needed: the
``nvidia-cuda-nvrtc-cu12`` wheel of the test extra carries the compiler), for
the architectures the backend targets, with every kernel entry point that
sparsecode/_gpu.py launches; a broken source fails here, on CI without a GPU."""

import re

import pytest

from sparsecode import _gpu
from sparsecode._cuda import CompileError, _find_nvrtc, compile_ptx, options, sources

if _find_nvrtc() is None:  # say why rather than pass silently
    pytest.skip("NVRTC (libnvrtc.so) is not installed: pip install nvidia-cuda-nvrtc-cu12 "
                "(part of the test extra on Linux x86_64)", allow_module_level=True)


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("name", sorted(sources()))
def test_source_compiles_with_every_entry_point(name, arch):
    ptx = compile_ptx(sources()[name], f"{name}.cu", arch=arch, options=options(name))
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx))
    expected = {kernel for module, kernel in _gpu.KERNELS if module == name}
    assert expected, f"sparsecode/_gpu.py launches nothing from {name}.cu"
    assert expected <= entries, expected - entries


def test_every_launched_kernel_has_a_source():
    assert {module for module, _ in _gpu.KERNELS} <= set(sources())


def test_a_broken_source_is_reported_with_the_compiler_log():
    broken = sources()["fista"].replace("double restart = 0.0;", "double restart = ;", 1)
    with pytest.raises(CompileError, match="error"):
        compile_ptx(broken, "fista.cu")
