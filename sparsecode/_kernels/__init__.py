"""Numba kernels. They take validated, C-contiguous arrays and scalars and
return arrays; they know nothing of scikit-learn (see DESIGN.md, "Layers").

Conventions shared by every kernel:

- ``cov`` is ``X @ D.T`` of shape (n_samples, n_components), float32 or float64;
- ``gram`` is ``D @ D.T + l2 * I`` of shape (n_components, n_components), always
  float64 (it is small, and the exact solvers need the precision);
- ``sq_norms`` holds ``||x_i||^2`` in float64;
- per-sample work happens in float64 workspaces whatever the input dtype;
- outputs are written into arrays the caller allocated, codes in ``cov``'s dtype.
"""

import os
import stat
import tempfile
import warnings

from numba import njit


def helper(**options):
    """``njit`` for the kernels only other kernels call: Numba builds no
    CPython or C wrapper for them, which is less to compile on a cold cache
    (0.2 s of lars' 3 s here)."""
    return njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True,
                **options)


def _probe():
    """Stands in for a kernel when checking where Numba can cache."""


def _private_folder():
    """``sparsecode-numba-cache-<uid>`` under the temporary directory, made
    with mode 0700, when this user owns it and nobody else can write to it;
    else a fresh private folder (Numba unpickles its cache index: a folder
    another user could write to must not be reused)."""
    uid = getattr(os, "getuid", None)
    if uid is not None:
        folder = os.path.join(tempfile.gettempdir(), f"sparsecode-numba-cache-{uid()}")
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            st = os.lstat(folder)
            if (st.st_uid == uid() and not stat.S_ISLNK(st.st_mode)
                    and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
                return folder
        except OSError:
            pass
    return tempfile.mkdtemp(prefix="sparsecode-numba-cache-")


def _ensure_cache_folder():
    """Numba caches each kernel in the first writable of ``NUMBA_CACHE_DIR``,
    the package's ``__pycache__`` and a user-wide folder; when none is
    writable (a read-only install, no home folder) ``cache=True`` fails at
    import. Then cache in a folder under the temporary directory, and say so."""
    try:
        from numba.core import caching, config

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (older Numba)
        locators = impl._locator_classes
    except (ImportError, AttributeError):  # another Numba: let it decide
        return
    if any(cls.from_function(_probe, __file__) is not None for cls in locators):
        return
    folder = _private_folder()
    # (the environment too: Numba reloads its configuration from it and would
    # drop a CACHE_DIR set only in numba.config)
    os.environ["NUMBA_CACHE_DIR"] = config.CACHE_DIR = folder
    warnings.warn(
        f"Numba has no writable cache folder (NUMBA_CACHE_DIR is unset or read-only, and so "
        f"are the package's folder and the user's cache folder): sparsecode's kernels are "
        f"cached in {folder} for now. Set NUMBA_CACHE_DIR to a writable folder to keep them.",
        RuntimeWarning, stacklevel=2)


_ensure_cache_folder()
