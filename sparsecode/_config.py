"""``show_config``: what sparsecode runs on."""

import platform
import sys
from importlib import metadata

_PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "llvmlite", "joblib",
             "threadpoolctl", "array-api-compat", "cupy", "dask", "distributed")


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _gpu_status():
    try:
        import cupy
    except ImportError:
        return "no (cupy is not installed; pip install 'sparsecode[gpu]')"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device: say why
        return f"no ({type(exc).__name__}: {exc})"
    if n == 0:
        return "no (cupy sees no CUDA device)"
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    return f"yes ({n} device(s), 0: {name})"


def config_info():
    """The facts ``show_config`` prints, as a dict."""
    from threadpoolctl import threadpool_info

    from ._compile import cache_location
    from ._threads import current_threads
    from ._version import __version__

    return {
        "sparsecode": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        # the kernels run on sparsecode's own thread pool (_threads.py), not
        # on Numba's threading layer, which is never started
        "kernel_threads": current_threads(),
        "numba_cache": "{} ({})".format(*cache_location()),
        "blas": [
            {key: info.get(key) for key in ("internal_api", "version", "num_threads",
                                            "threading_layer", "architecture")}
            for info in threadpool_info()
        ],
        "gpu": _gpu_status(),
    }


def show_config(file=None):
    """Print versions, the kernels' thread count, where Numba caches them,
    the BLAS in use and whether a GPU is usable.

    Parameters
    ----------
    file : file-like, default=None
        Where to print; ``sys.stdout`` when None.
    """
    info = config_info()
    out = file or sys.stdout
    print(f"sparsecode {info['sparsecode']} on Python {info['python']} "
          f"({info['platform']})", file=out)
    print("packages:", file=out)
    for name, version in info["packages"].items():
        print(f"  {name:<14} {version or 'not installed'}", file=out)
    print(f"kernel threads: {info['kernel_threads']} (NUMBA_NUM_THREADS sets the default)",
          file=out)
    print(f"Numba cache: {info['numba_cache']}", file=out)
    print("BLAS / OpenMP libraries:", file=out)
    for lib in info["blas"]:
        print("  " + ", ".join(f"{k}={v}" for k, v in lib.items() if v is not None), file=out)
    print(f"GPU usable: {info['gpu']}", file=out)
