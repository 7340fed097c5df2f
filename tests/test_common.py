"""Every public estimator against scikit-learn's own estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecode import DictionaryLearner

ESTIMATORS = [
    DictionaryLearner(n_components=5, alpha=0.1, max_iter=5, random_state=0),
    DictionaryLearner(n_components=5, alpha=0.1, method="batch", max_iter=5, random_state=0),
    DictionaryLearner(n_components=5, method="ksvd", n_nonzero_coefs=2, max_iter=5,
                      transform_algorithm="omp", transform_n_nonzero_coefs=2, random_state=0),
]

# Checks an estimator is expected to fail, with the reason (none at present).
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
