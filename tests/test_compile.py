"""``python -m sparsecode compile`` and where the kernels are cached: the
command leaves nothing to compile for later calls, and an install whose
folders are not writable still runs and says where the cache went."""

import os
import subprocess
import sys
import textwrap

import sparsecode
import sparsecode._compile

# A fresh process's calls across the estimators, dtypes and input formats,
# counting what Numba had to compile (a cache hit fires no compile event).
TOUR = """
import warnings
import numpy as np, scipy.sparse as sp
from numba.core import event
import sparsecode as sc
warnings.simplefilter("ignore")
rng = np.random.default_rng(3)
X = rng.standard_normal((200, 20)); D = rng.standard_normal((30, 20))
D /= np.linalg.norm(D, axis=1, keepdims=True)
X32, Xcsr = X.astype(np.float32), sp.random(200, 20, density=0.3, format="csr", random_state=0)
with event.install_recorder("numba:compile") as rec:
    for data in (X, X32, Xcsr):
        for algorithm in ("lars", "omp", "cd", "fista", "ista", "threshold"):
            sc.sparse_encode(data, D.astype(data.dtype), algorithm=algorithm, alpha=0.1)
        sc.DictionaryLearner(16, alpha=0.1, max_iter=2, random_state=0).fit(data)
        sc.SparseAutoencoder(16, activation="topk", k=4, max_iter=2, random_state=0).fit(data)
        sc.SparseAutoencoder(16, max_iter=2, random_state=0).fit(data)
        sc.KLSparseEncoder(16, max_iter=2, random_state=0).fit(abs(data))
        sc.ThresholdEncoder(16, mode="triangle", random_state=0).fit_transform(data)
        sc.SparseAttentionTransformer(pattern="bigbird", window=4, global_tokens=1,
                                      n_random=2, random_state=0).fit_transform(data)
print("compiled", len(rec.buffer) // 2)
"""


def _run(code_or_args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(env_extra)
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)


# The command, then the signatures Numba compiled a kernel for with a literal
# argument type (a kernel passing a plain ``0`` to another gets a second
# compilation of the callee for ``Literal[int](0)``: 0.1 s of a first call).
COMPILE = """
import sys
from numba.core import types
import sparsecode._compile
from sparsecode.__main__ import main
code = main(["compile", "--quiet"])
print("literal signatures:", sorted(
    f"{name}{sig}" for name, kernel in sparsecode._compile.kernels().items()
    for sig in kernel.signatures if any(isinstance(t, types.Literal) for t in sig)))
sys.exit(code)
"""


def test_compile_leaves_nothing_to_compile(tmp_path):
    cache = tmp_path / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    out = _run(COMPILE, env, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "literal signatures: []" in out.stdout, out.stdout
    assert f"Numba cache: {cache}" in out.stdout
    assert "(NUMBA_CACHE_DIR)" in out.stdout
    n_kernels = int(out.stdout.split(": ")[1].split()[0])
    assert n_kernels == len(sparsecode._compile.kernels()) > 50
    assert len(list(cache.rglob("*.nbi"))) >= n_kernels
    tour = _run(TOUR, env, tmp_path)
    assert tour.returncode == 0, tour.stderr
    assert tour.stdout.split()[-1] == "0", tour.stdout
    # again, on the filled cache: the kernels that only other kernels call are
    # then never compiled alone, and must still count as done
    again = _run(["-m", "sparsecode", "compile", "--quiet"], env, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "never compiled" not in again.stdout


# Simulates a folder without write permission the way the OS reports it to
# Numba (the tests run as root, for whom chmod does not stop writes).
READ_ONLY = """
import os, sys
from numba.core import caching

def ensure_cache_path(self, _orig=caching._CacheLocator.ensure_cache_path):
    path = os.path.abspath(self.get_cache_path())
    if not any(path.startswith(w) for w in WRITABLE):
        raise PermissionError(13, "Permission denied", path)
    return _orig(self)

caching._CacheLocator.ensure_cache_path = ensure_cache_path
import warnings
warnings.simplefilter("always")
import numpy as np
import sparsecode
from sparsecode.__main__ import main
main(["config"])
X = np.random.default_rng(0).standard_normal((50, 8))
codes = sparsecode.sparse_encode(X, np.eye(8), algorithm="threshold", alpha=0.5)
np.testing.assert_allclose(codes, np.sign(X) * np.maximum(abs(X) - 0.5, 0))
print("codes ok")
"""


def test_read_only_install_caches_in_the_user_folder(tmp_path):
    """Package folder not writable, no NUMBA_CACHE_DIR: Numba's user-wide
    folder takes the kernels, and show_config says so."""
    user = tmp_path / "user-cache"
    code = f"WRITABLE = [{str(user)!r}]\n" + READ_ONLY
    # (the user's cache folder: XDG_CACHE_HOME on Linux, under HOME on macOS,
    # LOCALAPPDATA on Windows)
    out = _run(code, {"XDG_CACHE_HOME": str(user), "HOME": str(user),
                      "LOCALAPPDATA": str(user)}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "codes ok" in out.stdout
    assert f"Numba cache: {user}" in out.stdout
    assert "the package's folder is not writable" in out.stdout
    assert list(user.rglob("*.nbi"))


def test_no_writable_cache_folder_warns_and_still_runs(tmp_path):
    """Nothing writable but the temporary directory: the kernels are cached
    there, with a warning that names the folder and NUMBA_CACHE_DIR."""
    code = textwrap.dedent("""
        import tempfile
        WRITABLE = [tempfile.gettempdir() + "/sparsecode-numba-cache-"]
    """) + READ_ONLY
    out = _run(code, {"TMPDIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "no")},
               tmp_path)
    assert out.returncode == 0, out.stderr
    assert "codes ok" in out.stdout
    folder = tmp_path / f"sparsecode-numba-cache-{os.getuid()}"
    assert "RuntimeWarning" in out.stderr and str(folder) in out.stderr
    assert "NUMBA_CACHE_DIR" in out.stderr
    assert f"Numba cache: {folder}" in out.stdout
    assert list(folder.rglob("*.nbi"))
    assert folder.stat().st_mode & 0o077 == 0  # private: Numba unpickles what is there


def test_lazy_import():
    """``import sparsecode`` loads none of the heavy dependencies; the first
    public name brings in what it needs, and dir() lists the names."""
    code = ("import sys, sparsecode\n"
            "print(sorted(m for m in ('numba', 'sklearn', 'scipy') if m in sys.modules))\n"
            "sparsecode.sparse_encode\n"
            "print(sorted(m for m in ('numba', 'sklearn', 'scipy') if m in sys.modules))\n"
            "print('sparse_encode' in dir(sparsecode))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[:3] == ["[]", "['numba', 'scipy', 'sklearn']", "True"]
    for name in sparsecode.__all__:
        assert getattr(sparsecode, name) is not None
    try:
        sparsecode.not_a_name
    except AttributeError as exc:
        assert "not_a_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")
