"""sparsecode: classical sparse coding with a scikit-learn API."""

from ._attention import SparseAttentionTransformer
from ._autoencoder import KLSparseEncoder, SparseAutoencoder
from ._config import show_config
from ._dictionary import DictionaryLearner
from ._encode import sparse_encode
from ._threshold import ThresholdEncoder
from ._version import __version__

__all__ = ["DictionaryLearner", "KLSparseEncoder", "SparseAttentionTransformer",
           "SparseAutoencoder", "ThresholdEncoder", "sparse_encode", "show_config", "__version__"]
