"""sparsecode: classical sparse coding with a scikit-learn API.

The public names load on first use (PEP 562): ``import sparsecode`` costs
milliseconds, and ``sparsecode.sparse_encode`` brings in what the encoder
needs (scikit-learn, SciPy, Numba) at that point, not the estimators' modules
besides. ``from sparsecode import X`` works as usual.
"""

import importlib

from ._version import __version__

# public name -> the private module defining it
_PUBLIC = {
    "DictionaryLearner": "._dictionary",
    "KLSparseEncoder": "._kl_encoder",
    "SparseAttentionTransformer": "._attention",
    "SparseAutoencoder": "._autoencoder",
    "ThresholdEncoder": "._threshold",
    "sparse_encode": "._encode",
    "show_config": "._config",
}

__all__ = ["DictionaryLearner", "KLSparseEncoder", "SparseAttentionTransformer",
           "SparseAutoencoder", "ThresholdEncoder", "sparse_encode", "show_config", "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
