"""
===========================================================
Digits features: sparse encoders in a tuned Pipeline
===========================================================

Coates & Ng (2011) showed that a one-matrix-product encoder with a threshold,
on a decent dictionary, gives features as good as full sparse coding. Here a
:class:`sparsecode.ThresholdEncoder` (ZCA whitening, spherical k-means atoms,
soft threshold split by sign) feeds a logistic regression inside a
``Pipeline``, with the number of atoms and the target sparsity tuned by
``GridSearchCV``. It is compared with the raw pixels, with lasso codes of a
:class:`sparsecode.DictionaryLearner` dictionary and with the codes of a
:class:`sparsecode.SparseAutoencoder` (ReLU + L1 or TopK, chosen the same
way).
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from sparsecode import DictionaryLearner, SparseAutoencoder, ThresholdEncoder

warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3,
                                                    random_state=0, stratify=y)
classifier = LogisticRegression(max_iter=1000)

# %%
# Three feature sets, each tuned on the training set by 3-fold cross-validation.
searches = {
    "raw pixels": GridSearchCV(make_pipeline(classifier),
                               {"logisticregression__C": [0.1, 1.0]}, cv=3),
    "ThresholdEncoder": GridSearchCV(
        make_pipeline(ThresholdEncoder(whiten=True, random_state=0), classifier),
        {"thresholdencoder__n_components": [100, 300],
         "thresholdencoder__target_sparsity": [0.5, 0.9]}, cv=3),
    "DictionaryLearner": GridSearchCV(
        make_pipeline(DictionaryLearner(100, split_sign=True, max_iter=3, random_state=0),
                      classifier),
        {"dictionarylearner__alpha": [0.05, 0.2]}, cv=3),
    "SparseAutoencoder": GridSearchCV(
        make_pipeline(SparseAutoencoder(256, k=64, learning_rate=3e-3, max_iter=40,
                                        batch_size=64, random_state=0),
                      classifier),
        {"sparseautoencoder__activation": ["relu", "topk"]}, cv=3),
}
results = {}
for name, search in searches.items():
    start = time.perf_counter()
    search.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    front = search.best_estimator_[:-1]
    start = time.perf_counter()
    if len(front):
        front.transform(X_test)
    encode = time.perf_counter() - start
    results[name] = (search.score(X_test, y_test), elapsed, encode)
    print(f"{name:18s} test accuracy {results[name][0]:.4f}  grid search {elapsed:5.1f} s  "
          f"encoding the test set {encode * 1e3:6.2f} ms  best {search.best_params_}")

# %%
# The atoms k-means found (in the whitened space) and the accuracies.
try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    encoder = searches["ThresholdEncoder"].best_estimator_[0]
    fig, axes = plt.subplots(4, 10, figsize=(8, 3.6))
    for ax, atom in zip(axes.ravel(), encoder.components_):
        ax.imshow(atom.reshape(8, 8), cmap="gray")
        ax.axis("off")
    fig.suptitle("Spherical k-means atoms of whitened digits")

    fig, ax = plt.subplots(figsize=(6, 2.4))
    names = list(results)
    ax.barh(names, [results[n][0] for n in names])
    ax.set_xlim(0.9, 1.0)
    ax.set_xlabel("test accuracy")
    fig.tight_layout()
