"""Every public estimator against scikit-learn's own estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecode import DictionaryLearner, KLSparseEncoder, SparseAutoencoder, ThresholdEncoder

ESTIMATORS = [
    DictionaryLearner(n_components=5, alpha=0.1, max_iter=5, random_state=0),
    DictionaryLearner(n_components=5, alpha=0.1, method="batch", max_iter=5, random_state=0),
    DictionaryLearner(n_components=5, method="ksvd", n_nonzero_coefs=2, max_iter=5,
                      transform_algorithm="omp", transform_n_nonzero_coefs=2, random_state=0),
    ThresholdEncoder(random_state=0),
    ThresholdEncoder(n_components=3, mode="topk", k=2, split_sign=False, dictionary="patches",
                     random_state=0),
    ThresholdEncoder(n_components=3, mode="triangle", whiten=True, random_state=0),
    ThresholdEncoder(mode="hard", target_sparsity=0.8, sparse_output=True, random_state=0),
    ThresholdEncoder(n_components=4, dictionary=DictionaryLearner(alpha=0.1, max_iter=2),
                     random_state=0),
    SparseAutoencoder(6, max_iter=5, random_state=0),
    SparseAutoencoder(6, activation="topk", k=2, tied=True, max_iter=5, random_state=0),
    SparseAutoencoder(6, activation="batchtopk", k=2, early_stopping=True, sparse_output=True,
                      max_iter=5, random_state=0),
    KLSparseEncoder(4, max_iter=20, random_state=0),
    KLSparseEncoder(4, solver="adam", max_iter=3, random_state=0),
]

# Checks an estimator is expected to fail, with the reason (none at present).
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
