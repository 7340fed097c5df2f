"""Time to first result, each timing a fresh interpreter (asv ``timeraw_``):
``import sparsecode`` with its first public name against scikit-learn's
import, and one first call on an empty Numba cache against scikit-learn's
first call on the same data (which compiles nothing). Mirrors
``benchmarks/cold_start.py``, whose table is in benchmarks/README.md."""

# an empty Numba cache per timing, removed when the child exits; the data are
# made before the clock starts
_COLD = """
import atexit, os, shutil, tempfile, warnings
warnings.simplefilter("ignore")  # tiny problems: convergence warnings say nothing here
cache = tempfile.mkdtemp(prefix="asv-numba-")
os.environ["NUMBA_CACHE_DIR"] = cache
atexit.register(shutil.rmtree, cache, True)
import numpy as np
rng = np.random.default_rng(0)
X = rng.standard_normal((500, 32))
D = rng.standard_normal((64, 32)); D /= np.linalg.norm(D, axis=1, keepdims=True)
"""


class ColdStart:
    repeat = 3
    number = 1
    timeout = 300

    def timeraw_import_sparsecode(self):
        # the first public name loads the encoder and its dependencies
        return "import sparsecode; sparsecode.sparse_encode"

    def timeraw_import_sklearn_peer(self):
        return "import sklearn.decomposition, sklearn.linear_model"

    def timeraw_cold_sparse_encode_lars(self):
        return ("import sparsecode; sparsecode.sparse_encode(X, D, algorithm='lars', alpha=0.1)",
                _COLD)

    def timeraw_cold_sparse_encode_cd(self):
        return ("import sparsecode; sparsecode.sparse_encode(X, D, algorithm='cd', alpha=0.1)",
                _COLD)

    def timeraw_cold_sklearn_lasso_cd_peer(self):
        return ("from sklearn.decomposition import sparse_encode\n"
                "sparse_encode(X, D, algorithm='lasso_cd', alpha=0.1)", _COLD)
