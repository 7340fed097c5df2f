"""Defaults audit: each estimator as a new user runs it (only the parameters
the problem dictates are set), against the best setting of a small grid and
against the nearest peer with *its* defaults, on public data.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/defaults.py
    ... benchmarks/defaults.py --parts threshold autoencoder

Parts: ``dictionary`` (problem C: 50,000 8x8 patches of china.jpg, judged on
10,000 of flower.jpg), ``encode`` (problem A, 4,000 rows), ``threshold``
(digits, stratified 5-fold, a Pipeline with LogisticRegression),
``autoencoder`` (digits; 1,500 rows of 384 features with 1,536 latents, a
stand-in for small sets of sentence embeddings, which cannot be downloaded
here; 20,000 patches of problem A), ``kl`` (whitened patches), ``attention``
(non-local means on a noisy crop of china.jpg), ``recommender``
(``make_implicit_feedback``, 10,000 users x 2,000 items). "Best of a grid"
rows pick their setting on the very numbers shown, so they are an upper
bound of what tuning gives, not a fair competitor.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import lasso_objective, problem_a, problem_c  # noqa: E402

PARTS = ["dictionary", "encode", "threshold", "autoencoder", "kl", "attention", "recommender"]


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def _table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |", flush=True)
    print()


def _caught(f):
    """``f()`` and the categories + first words of the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = f()
    said = sorted({f"{w.category.__name__}: {str(w.message)[:40]}..." for w in caught})
    return out, "; ".join(said) or "none"


# ------------------------------------------------------------- dictionary
def dictionary():
    from sklearn.decomposition import MiniBatchDictionaryLearning

    from sparsecode import DictionaryLearner, sparse_encode

    X, X_test, alpha = problem_c()
    k, batch = 256, 256
    steps = int(np.ceil(X.shape[0] / batch))

    def heldout(D):
        D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1.0)
        return lasso_objective(X_test, D, sparse_encode(X_test, D, algorithm="lars",
                                                        alpha=alpha), alpha)

    DictionaryLearner(k, alpha=alpha, max_iter=1, random_state=0).fit(X[:512])  # compile
    runs = [
        ("sparsecode, defaults, max_iter=1",
         lambda: DictionaryLearner(k, alpha=alpha, batch_size=batch, max_iter=1,
                                   random_state=0)),
        ("sparsecode, max_iter=1, tol=0, max_no_improvement=None",
         lambda: DictionaryLearner(k, alpha=alpha, batch_size=batch, max_iter=1, tol=0,
                                   max_no_improvement=None, random_state=0)),
        ("sparsecode, defaults (max_iter=10)",
         lambda: DictionaryLearner(k, alpha=alpha, batch_size=batch, random_state=0)),
        ("scikit-learn MiniBatchDictionaryLearning, defaults, max_iter=1",
         lambda: MiniBatchDictionaryLearning(k, alpha=alpha, batch_size=batch, max_iter=1,
                                             random_state=0)),
    ]
    rows = []
    spams_objective = None
    try:
        import spams

        Xf = np.asfortranarray(X.T)
        D, seconds = _timed(lambda: spams.trainDL(Xf, K=k, lambda1=alpha, mode=2, iter=steps,
                                                  batchsize=batch, numThreads=-1,
                                                  verbose=False))
        spams_objective = heldout(np.ascontiguousarray(D.T))
        spams_row = ["SPAMS trainDL, one epoch (iter=196)", steps, f"{seconds:.1f}",
                     f"{spams_objective:.6f}", "0.00%"]
    except ImportError:
        spams_row = ["SPAMS trainDL", "not installed", "", "", ""]
    for name, make in runs:
        est, seconds = _timed(lambda: make().fit(X))
        objective = heldout(est.components_)
        versus = ("" if spams_objective is None
                  else f"{100 * (objective / spams_objective - 1):+.2f}%")
        rows.append([name, est.n_steps_, f"{seconds:.1f}", f"{objective:.6f}", versus])
    rows.append(spams_row)
    print(f"DictionaryLearner, problem C ({X.shape[0]} patches, {k} atoms, alpha={alpha}, "
          f"batch_size={batch}: {steps} steps per epoch)\n")
    _table(["learner", "steps", "time (s)", "held-out objective", "vs SPAMS"], rows)


# ----------------------------------------------------------------- encode
def encode():
    from sklearn.decomposition import sparse_encode as sk_encode

    from sparsecode import sparse_encode
    from sparsecode._encode_rules import pick_algorithm

    X, D, alpha = problem_a()
    X = X[:4000]
    rows = []
    picked = pick_algorithm("auto", None, D @ D.T)
    for algo in ("auto", "lars", "cd", "fista"):
        sparse_encode(X[:50], D, algorithm=algo, alpha=alpha)  # compile
        Z, seconds = _timed(lambda: sparse_encode(X, D, algorithm=algo, alpha=alpha))
        name = (f"sparsecode sparse_encode, defaults (auto: {picked})" if algo == "auto"
                else f"sparsecode algorithm={algo!r}")
        rows.append([name, f"{seconds:.2f}", f"{lasso_objective(X, D, Z, alpha):.7f}"])
    for algo in ("lasso_lars", "lasso_cd"):
        (Z, said), seconds = _timed(lambda: _caught(
            lambda: sk_encode(X, D, algorithm=algo, alpha=alpha)))
        rows.append([f"scikit-learn sparse_encode algorithm={algo!r}, defaults "
                     f"(warnings: {said})", f"{seconds:.2f}",
                     f"{lasso_objective(X, D, Z, alpha):.7f}"])
    print(f"sparse_encode, problem A ({X.shape[0]} rows, {D.shape[0]} atoms, "
          f"alpha={alpha})\n")
    _table(["call", "time (s)", "objective"], rows)


# -------------------------------------------------------------- threshold
def threshold():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    from sparsecode import ThresholdEncoder

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels in [0, 1]
    cv = StratifiedKFold(5)

    def classifier():
        return LogisticRegression(max_iter=5000)

    def score(pipe):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, seconds = _timed(lambda: cross_val_score(pipe, X, y, cv=cv))
        return f"{scores.mean():.4f} +- {scores.std():.4f}", f"{seconds:.1f}"

    rows = [["ThresholdEncoder(400), defaults (whiten='auto': whitened)",
             *score(make_pipeline(ThresholdEncoder(400, random_state=0), classifier()))],
            ["ThresholdEncoder(400, whiten=False) (the default before)",
             *score(make_pipeline(ThresholdEncoder(400, whiten=False, random_state=0),
                                  classifier()))]]
    best = None
    for params in (dict(target_sparsity=0.5), dict(target_sparsity=0.8),
                   dict(mode="triangle")):
        s = score(make_pipeline(ThresholdEncoder(400, random_state=0, **params), classifier()))
        if best is None or s[0] > best[1][0]:
            best = (params, s)
    rows.append([f"ThresholdEncoder(400, {best[0]}), best of a grid", *best[1]])
    rows.append(["raw pixels, LogisticRegression", *score(make_pipeline(classifier()))])
    print("ThresholdEncoder on digits (1797 x 64, / 16), Pipeline with "
          "LogisticRegression(max_iter=5000), stratified 5-fold\n")
    _table(["features", "accuracy", "time (s)"], rows)


# ------------------------------------------------------------ autoencoder
def embedding_like(n_train=1500, n_new=3000, p=384, rank=96, seed=0):
    """Rows on a union of sparse combinations of ``rank`` directions plus
    isotropic noise, unit norm: the geometry of sentence embeddings, in
    miniature."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((rank, p)) / np.sqrt(p)

    def make(n):
        Z = rng.standard_normal((n, rank)) * (rng.random((n, rank)) < 0.2) * 3
        X = Z @ M + np.sqrt(rank * 0.2 * 9 / p) * 0.5 * rng.standard_normal((n, p))
        return X / np.linalg.norm(X, axis=1, keepdims=True)

    return make(n_train), make(n_new)


def autoencoder():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor

    from sparsecode import SparseAutoencoder

    A = problem_a(25000)[0]
    datasets = [
        ("digits / 16, 1,257 + 540 new", *train_test_split(load_digits().data / 16.0,
                                                            test_size=0.3, random_state=0),
         256),
        ("embedding-like, 1,500 x 384 + 3,000 new", *embedding_like(), 1536),
        ("problem A patches, 20,000 + 5,000 new", A[:20000], A[20000:], 256),
    ]
    SparseAutoencoder(16, max_iter=1).fit(A[:300])  # compile
    for name, X, X_new, m in datasets:
        rows = []

        def run(label, make):
            (est, said), seconds = _timed(lambda: _caught(lambda: make().fit(X)))
            rows.append([label, f"{est.score(X):.3f}", f"{est.score(X_new):.3f}",
                         est.n_iter_, f"{seconds:.1f}", said])
            return est.score(X_new)

        run(f"SparseAutoencoder({m}), defaults", lambda: SparseAutoencoder(m, random_state=0))
        run(f"SparseAutoencoder({m}, early_stopping=False) (the default before)",
            lambda: SparseAutoencoder(m, early_stopping=False, random_state=0))
        best = None
        for size in (m, m // 4):
            for l1 in (1e-3, 1e-2):
                est = _caught(lambda: SparseAutoencoder(size, l1=l1, random_state=0).fit(X))[0]
                if best is None or est.score(X_new) > best[0]:
                    best = (est.score(X_new), size, l1)
        run(f"SparseAutoencoder({best[1]}, l1={best[2]}), best of a grid",
            lambda: SparseAutoencoder(best[1], l1=best[2], random_state=0))

        def mlp():
            est = MLPRegressor(hidden_layer_sizes=(m,), random_state=0)
            # the explained variance SparseAutoencoder.score reports
            est.score = lambda Z: 1 - (((Z - est.predict(Z)) ** 2).sum()
                                       / ((Z - Z.mean(axis=0)) ** 2).sum())
            fit = est.fit
            est.fit = lambda Z: fit(Z, Z)
            return est

        run(f"scikit-learn MLPRegressor(({m},)) X -> X, defaults (dense code)", mlp)
        print(f"SparseAutoencoder, {name}: explained variance\n")
        _table(["model", "training rows", "new rows", "epochs", "time (s)", "warnings"], rows)


# --------------------------------------------------------------------- kl
def kl():
    from sparsecode import KLSparseEncoder
    from sparsecode._kmeans import zca

    A = problem_a(12000)[0]
    mean, W = zca(A[:10000], 0.1)
    Xw = (A - mean) @ W
    X, X_new = Xw[:10000], Xw[10000:]
    rows = []
    for label, kw in (("KLSparseEncoder(25), defaults", {}),
                      ("KLSparseEncoder(25, tol=0): 400 iterations, as before",
                       dict(tol=0)),
                      ("KLSparseEncoder(25, tol=0, max_iter=1600)", dict(tol=0, max_iter=1600)),
                      ("KLSparseEncoder(25, beta=1)", dict(beta=1.0))):
        (est, said), seconds = _timed(lambda: _caught(
            lambda: KLSparseEncoder(25, random_state=0, **kw).fit(X)))
        rows.append([label, f"{est.score(X):.4f}", f"{est.score(X_new):.4f}",
                     f"{est.transform(X_new).mean():.3f}", est.n_iter_, f"{seconds:.1f}", said])
    print("KLSparseEncoder on 10,000 whitened 8x8 patches of problem A (+ 2,000 new; "
          "rho=0.05; no Python peer: UFLDL's is MATLAB)\n")
    _table(["model", "score, training rows", "score, new rows", "mean activation, new rows",
            "iterations", "time (s)", "warnings"], rows)


# -------------------------------------------------------------- attention
def attention():
    from scipy.ndimage import gaussian_filter
    from sklearn.datasets import load_sample_image

    from sparsecode import SparseAttentionTransformer
    from sparsecode.__main__ import psnr

    clean = load_sample_image("china.jpg").astype(float).mean(axis=2)[150:278, 200:360] / 255
    sigma = 0.08
    noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
    H, W = noisy.shape
    padded = np.pad(noisy, 2, mode="reflect")
    patches = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(
        padded, (5, 5)).reshape(H * W, -1))
    tuned_h = np.sqrt(patches.shape[1]) * sigma
    rows = [["noisy", f"{psnr(clean, noisy):.2f}", ""]]
    runs = [("SparseAttentionTransformer('window2d', similarity='neg_sq_dist'), defaults",
             dict()),
            ("... bandwidth=sqrt(d) = 5 (the default before)", dict(bandwidth=5.0)),
            (f"... bandwidth=sqrt(d) sigma = {tuned_h:.2f} (knowing the noise)",
             dict(bandwidth=tuned_h)),
            (f"... window=20 (21 x 21), bandwidth={tuned_h:.2f}",
             dict(window=20, bandwidth=tuned_h))]
    for h in (0.3, 0.5, 0.6):
        runs.append((f"... bandwidth={h} (grid)", dict(bandwidth=h)))
    for label, kw in runs:
        est = SparseAttentionTransformer("window2d", grid_shape=(H, W),
                                         similarity="neg_sq_dist", random_state=0, **kw)
        out, seconds = _timed(lambda: est.fit_transform(patches))
        rows.append([label + (f" (h = {est.bandwidth_:.3f})" if not kw else ""),
                     f"{psnr(clean, out[:, 12].reshape(H, W)):.2f}", f"{seconds:.2f}"])
    for s in (0.5, 1.0):
        out, seconds = _timed(lambda: gaussian_filter(noisy, s))
        rows.append([f"scipy.ndimage.gaussian_filter(sigma={s})", f"{psnr(clean, out):.2f}",
                     f"{seconds:.3f}"])
    print(f"Non-local means as attention: {H} x {W} crop of china.jpg, noise sigma={sigma}, "
          "5 x 5 patches as tokens\n")
    _table(["denoiser", "PSNR (dB)", "time (s)"], rows)


# ------------------------------------------------------------ recommender
def recommender():
    from sklearn.decomposition import NMF, TruncatedSVD

    from sparsecode import DictionaryLearner, SparseAutoencoder
    from sparsecode.datasets import make_implicit_feedback, recall_at_k

    train, test = make_implicit_feedback(10_000, 2_000, random_state=0)
    rows = []

    def run(label, fit_scorer):
        (scorer, said), seconds = _timed(lambda: _caught(fit_scorer))
        rows.append([label, f"{recall_at_k(scorer, train, test):.4f}", f"{seconds:.1f}", said])

    def codes_times_atoms(est):
        Z = est.fit_transform(train)
        return lambda a, b: np.asarray(Z[a:b] @ est.components_)

    run("DictionaryLearner(64, positive_code=True, positive_dict=True), defaults",
        lambda: codes_times_atoms(DictionaryLearner(64, positive_code=True,
                                                    positive_dict=True, random_state=0)))
    run("... alpha=0.1, max_iter=3 (benchmarks/recommender.py)",
        lambda: codes_times_atoms(DictionaryLearner(64, alpha=0.1, positive_code=True,
                                                    positive_dict=True, max_iter=3,
                                                    random_state=0)))

    def sae(**kw):
        est = SparseAutoencoder(128, activation="topk", k=8, random_state=0, **kw).fit(train)
        return lambda a, b: est.inverse_transform(est.transform(train[a:b]))

    run("SparseAutoencoder(128, activation='topk', k=8), defaults", sae)
    run("... max_iter=5 (benchmarks/recommender.py)", lambda: sae(max_iter=5))
    run("scikit-learn TruncatedSVD(64), defaults",
        lambda: codes_times_atoms(TruncatedSVD(64, random_state=0)))
    run("scikit-learn NMF(64), defaults", lambda: codes_times_atoms(NMF(64, random_state=0)))
    print(f"Implicit feedback, make_implicit_feedback(10000, 2000): recall@20 of held-out "
          f"items ({train.nnz} training interactions)\n")
    _table(["model", "recall@20", "fit + scoring (s)", "warnings"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=PARTS, choices=PARTS)
    args = parser.parse_args()
    print(f"Command: `{' '.join(['python'] + sys.argv)}`, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    for part in args.parts:
        globals()[part]()


if __name__ == "__main__":
    main()
