"""The GPU check: every GPU result against the CPU result, and the GPU timings
of issue 7, in one run of under five minutes on one GPU.

    python benchmarks/gpu_check.py                  # on a machine with a CUDA GPU
    python benchmarks/gpu_check.py --signals 200000 --cpu-rate 25000

Checks (relative error ||Z_gpu - Z_cpu|| / ||Z_cpu|| under 1e-5 in float32,
objectives within 1e-5): ``sparse_encode`` with FISTA, ISTA and the
threshold, dense and CSR input, float32 and float64, on a slice of problem A;
``ThresholdEncoder.transform`` (whitened soft, hard, top-k, triangle); the
autoencoders' ``transform`` (ReLU, TopK, BatchTopK, KL with a threshold).

Timings (float32): FISTA on problem A scaled to ``--signals`` signals (8x8
patches of china.jpg, 256 atoms, alpha = 0.05), against the time of the
cuBLAS GEMMs the solver issues (one ``Y @ G`` per iteration and row still
running, one ``Z @ G`` per gap check, ``X @ D^T`` once; timed on their own
at the same shapes) and against the CPU throughput of this project
(``sparse_encode`` on ``--cpu-signals`` signals in the same run, or
``--cpu-rate`` signals/s measured elsewhere). Targets: within 3x of the
GEMMs, at least 50x the CPU throughput.

Then, each against the CPU in the same run and checked against the CPU's
fit or output: batch OMP; an online DictionaryLearner epoch; ThresholdEncoder's
whitened k-means fit; SparseAutoencoder training at batch 8192 and its
transform of one batch; window attention (problem D, n = 10^6, window 256)
and BigBird. With ``OUT`` set, the table is also written to
``$OUT/gpu_check.md``. Rows are printed (and the table rewritten) as each
section ends, and a section that raises leaves an ERROR row and lets the
others run: a device run cut short still returns what it measured.

``--quick`` runs every check and timing at toy sizes (seconds): a smoke run
of the script, whose timings mean nothing; tests/test_cuda_host.py runs it
so on the CPU through the CUDA sources' host harness.
"""

import argparse
import os
import sys
import time
import traceback
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from problems import lasso_objective, problem_a  # noqa: E402

from sparsecode import show_config, sparse_encode  # noqa: E402

# sizes of the timed problems: the issue's, and toy ones for --quick
FULL = SimpleNamespace(
    signals=1_000_000, check_rows=10_000, cpu_signals=20_000, train_rows=200_000, atoms=256,
    sae_latents=2048, sae_k=32, sae_aux=64, sae_batch=8192, sae_cpu_rows=40_000,
    sae_small=4000, sae_small_latents=256, dl_batch=4096, cpu_rows=20_000, warm=8192,
    attention_n=1_000_000, window=256, attention_head=20_000)
QUICK = SimpleNamespace(
    signals=600, check_rows=40, cpu_signals=200, train_rows=600, atoms=32,
    sae_latents=64, sae_k=4, sae_aux=8, sae_batch=128, sae_cpu_rows=300,
    sae_small=300, sae_small_latents=32, dl_batch=128, cpu_rows=300, warm=128,
    attention_n=1000, window=16, attention_head=300)


def _sync(cp):
    cp.cuda.Device().synchronize()


def _timed(cp, f, repeats=3):
    times = []
    for _ in range(repeats):
        _sync(cp)
        start = time.perf_counter()
        out = f()
        _sync(cp)
        times.append(time.perf_counter() - start)
    return min(times), out


# How each lasso solver is checked. The codes of a lasso on coherent patch
# atoms are far less determined than its objective: two float32 runs that
# stop at tol=1e-8 reach objectives 1e-10 apart with codes 3e-5 apart. So
# FISTA is run to tol=1e-11, where the codes of both devices are within
# 1e-6 of the one solution. ISTA needs about 10^5 iterations for that:
# in float64 it runs from zero for 5000 iterations (the CPU's iterates,
# rounding aside, whether or not converged), in float32 from the float64
# FISTA solution to tol=1e-8 (its step and gap kernels, near the optimum).
_SOLVES = {"fista": dict(tol=1e-11, max_iter=50_000), "ista": dict(tol=1e-8, max_iter=5000),
           "threshold": dict()}


def _error(exc):
    """An exception as one table cell (its first line of text)."""
    try:
        text = str(exc)
    except Exception:  # (an exception whose text itself fails)
        text = "<unprintable>"
    first = next((line for line in text.splitlines() if line.strip()), "")
    return f"ERROR {type(exc).__name__}: {first[:160].replace('|', '/')}"


def _guarded(compute):
    """``compute()``, or an ERROR cell (traceback printed) if it raises: one
    failed check must not take the timing in its row, or the rows after
    it, with it."""
    try:
        return compute()
    except Exception as exc:
        traceback.print_exc()
        return f"{_error(exc)} FAIL"


def checks(cp, csp, X, D, alpha, rows, sz=FULL, emit=None):
    """The GPU-against-CPU checks: each row passed to ``emit`` as it is done
    (and returned); a check that raises gives an ERROR row."""
    from sparsecode import KLSparseEncoder, SparseAutoencoder, ThresholdEncoder

    lines = []

    def _check_row(label, fmt, dtype, compute):
        # compute() gives the last three cells: relative error, objective gap, result
        cells = _guarded(compute)
        if cells.startswith("ERROR"):
            cells = cells[:-len(" FAIL")] + " | | FAIL"
        row = f"| {label} | {fmt} | {np.dtype(dtype).name} | {cells} |"
        lines.append(row)
        if emit is not None:
            emit([row])

    exact = sparse_encode(X[:rows], D, algorithm="fista", alpha=alpha, **_SOLVES["fista"])

    def device(Xd, fmt):
        return csp.csr_matrix(cp.asarray(Xd)) if fmt == "csr" else cp.asarray(Xd)

    def relative(gpu, cpu):
        return np.linalg.norm(gpu - cpu) / max(np.linalg.norm(cpu), 1e-300)

    def lasso(Xd, Dd, fmt, algorithm, init):
        Xc = sp.csr_matrix(Xd) if fmt == "csr" else Xd
        kw = dict(algorithm=algorithm, alpha=alpha, **_SOLVES[algorithm])
        cpu = sparse_encode(Xc, Dd, init=init, **kw)
        gpu = cp.asnumpy(sparse_encode(device(Xd, fmt), cp.asarray(Dd), init=init, **kw))
        rel = relative(gpu, cpu)
        obj = lasso_objective(Xd, Dd, gpu, alpha) / lasso_objective(Xd, Dd, cpu, alpha) - 1
        limit = 1e-5 if Xd.dtype == np.float32 else 1e-8
        return f"{rel:.1e} | {obj:+.1e} | {'ok' if rel < limit and obj < limit else 'FAIL'}"

    def omp(Xd, Dd, fmt):
        # batch OMP, 10 atoms (an L0 method: the codes, not an objective)
        Xc = sp.csr_matrix(Xd) if fmt == "csr" else Xd
        kw = dict(algorithm="omp", n_nonzero_coefs=10)
        cpu = sparse_encode(Xc, Dd, **kw)
        rel = relative(cp.asnumpy(sparse_encode(device(Xd, fmt), cp.asarray(Dd), **kw)), cpu)
        limit = 1e-5 if Xd.dtype == np.float32 else 1e-8
        return f"{rel:.1e} | | {'ok' if rel < limit else 'FAIL'}"

    def transform(est, Xd):
        # the encoders' transform on the GPU (fitted on the CPU)
        est.set_params(random_state=0).fit(Xd[:5000])
        rel = relative(cp.asnumpy(est.transform(cp.asarray(Xd))), est.transform(Xd))
        limit = 1e-5 if Xd.dtype == np.float32 else 1e-7
        return f"{rel:.1e} | | {'ok' if rel < limit else 'FAIL'}"

    for dtype in (np.float32, np.float64):
        Xd, Dd = X[:rows].astype(dtype), D.astype(dtype)
        for algorithm in ("fista", "ista", "threshold"):
            for fmt in ("dense", "csr"):
                warm = algorithm == "ista" and dtype == np.float32
                init = exact.astype(dtype) if warm else None
                _check_row(algorithm + (" (warm start)" if warm else ""), fmt, dtype,
                           lambda: lasso(Xd, Dd, fmt, algorithm, init))
        for fmt in ("dense", "csr"):
            _check_row("omp (10 atoms)", fmt, dtype, lambda: omp(Xd, Dd, fmt))
        encoders = [(f"ThresholdEncoder {mode}",
                     ThresholdEncoder(sz.atoms, mode=mode, split_sign=split, whiten=True,
                                      k=max(1, sz.atoms // 16)))
                    for mode, split in (("soft", True), ("hard", True), ("topk", False),
                                        ("triangle", False))]
        encoders += [
            ("SparseAutoencoder relu", SparseAutoencoder(2 * sz.atoms, max_iter=2)),
            ("SparseAutoencoder topk", SparseAutoencoder(2 * sz.atoms, activation="topk",
                                                         k=sz.sae_k // 2, max_iter=2)),
            ("SparseAutoencoder batchtopk",
             SparseAutoencoder(2 * sz.atoms, activation="batchtopk", k=sz.sae_k // 2,
                               max_iter=2)),
            ("KLSparseEncoder", KLSparseEncoder(sz.atoms // 4, max_iter=20))]
        for name, est in encoders:
            _check_row(f"{name} transform", "dense", dtype, lambda: transform(est, Xd))
    return lines


def sae_timing(cp, X, sz=FULL):
    """The SAE (2048 latents, TopK 32, AuxK) at batch 8192, float32: one
    training epoch over 200,000 rows and the transform of one batch, on the
    GPU and (the same run) on the CPU; then a float64 fit on the GPU and the
    CPU from the same start, their parameters compared (the GPU fit follows
    the CPU's draws step for step)."""
    from sparsecode import SparseAutoencoder

    X32 = X[:sz.train_rows].astype(np.float32)
    m, batch_size = sz.sae_latents, sz.sae_batch
    params = dict(activation="topk", k=sz.sae_k, aux_k=sz.sae_aux, batch_size=batch_size,
                  max_iter=1, random_state=0)
    Xg = cp.asarray(X32)
    SparseAutoencoder(m, **params).fit(Xg[:batch_size])  # compile, warm
    t_fit_gpu, sae = _timed(cp, lambda: SparseAutoencoder(m, **params).fit(Xg), repeats=1)
    cpu_rows = sz.sae_cpu_rows
    start = time.perf_counter()
    SparseAutoencoder(m, **params).fit(X32[:cpu_rows])
    t_fit_cpu = (time.perf_counter() - start) * X32.shape[0] / cpu_rows
    batch = X32[:batch_size]
    Xb = cp.asarray(batch)
    sae.transform(Xb)
    t_gpu, _ = _timed(cp, lambda: sae.transform(Xb), repeats=5)
    sae.transform(batch)
    start = time.perf_counter()
    for _ in range(3):
        sae.transform(batch)
    t_cpu = (time.perf_counter() - start) / 3

    def check():
        small = X[:sz.sae_small]
        same = dict(params, batch_size=256, max_iter=2, k=8, aux_k=16, dead_threshold=2000)
        ref = SparseAutoencoder(sz.sae_small_latents, **same).fit(small)
        got = SparseAutoencoder(sz.sae_small_latents, **same).fit(cp.asarray(small))
        rel = max(np.linalg.norm(getattr(got, a) - getattr(ref, a))
                  / np.linalg.norm(getattr(ref, a)) for a in ("encoder_weights_", "components_"))
        return f"float64 fit against the CPU's: {rel:.1e} {'ok' if rel < 1e-6 else 'FAIL'}"

    name = f"SparseAutoencoder({m:,}, topk {sz.sae_k})"
    return [f"| {name} training epoch, {X32.shape[0]:,} rows, batch {batch_size:,}, "
            f"float32 | {t_fit_gpu:.2f} s | {X32.shape[0] / t_fit_gpu:,.0f} samples/s | | "
            f"CPU {t_fit_cpu:.1f} s (from {cpu_rows:,} rows): {t_fit_cpu / t_fit_gpu:.0f}x | "
            f"{_guarded(check)} |",
            f"| {name} transform, batch {batch_size:,}, float32 | "
            f"{t_gpu * 1e3:.2f} ms | {batch_size / t_gpu:,.0f} samples/s | | "
            f"CPU {t_cpu * 1e3:.1f} ms: "
            f"{t_cpu / t_gpu:.0f}x | |"]


def dictionary_timing(cp, X, alpha, sz=FULL):
    """DictionaryLearner, online, FISTA codes, 256 atoms, batch 4096,
    float32: one epoch over 200,000 rows on the GPU, against the CPU on
    20,000 of them (scaled) in the same run; the objectives of the two fits
    of those 20,000 rows compared step by step."""
    from sparsecode import DictionaryLearner

    X32 = X[:sz.train_rows].astype(np.float32)
    params = dict(n_components=sz.atoms, alpha=alpha, fit_algorithm="fista",
                  batch_size=sz.dl_batch, max_iter=1, random_state=0)
    Xg = cp.asarray(X32)
    DictionaryLearner(**params).fit(Xg[:sz.warm])  # compile, warm
    t_gpu, est = _timed(cp, lambda: DictionaryLearner(**params).fit(Xg), repeats=1)
    cpu_rows = sz.cpu_rows
    start = time.perf_counter()
    ref = DictionaryLearner(**params).fit(X32[:cpu_rows])
    t_cpu = (time.perf_counter() - start) * X32.shape[0] / cpu_rows

    def check():
        same = DictionaryLearner(**params).fit(Xg[:cpu_rows])  # the CPU's rows and order
        gap = max(abs(a / b - 1) for a, b in zip(same.objective_, ref.objective_))
        return (f"objectives of {len(ref.objective_)} steps against the CPU's: {gap:.1e} "
                f"{'ok' if gap < 1e-3 else 'FAIL'}")

    return [f"| DictionaryLearner({sz.atoms}, online, FISTA) epoch, {X32.shape[0]:,} rows, "
            f"batch {sz.dl_batch:,}, "
            f"float32 | {t_gpu:.2f} s | {X32.shape[0] / t_gpu:,.0f} samples/s | | "
            f"CPU {t_cpu:.1f} s (from {cpu_rows:,} rows): {t_cpu / t_gpu:.0f}x | "
            f"{_guarded(check)} |"]


def threshold_fit_timing(cp, X, sz=FULL):
    """ThresholdEncoder(256, whiten=True): ZCA and 10 iterations of
    spherical k-means on 200,000 patches, float32, on the GPU and (scaled
    from 20,000 rows, the same run) on the CPU; then a float64 fit of 20,000
    rows on both, their atoms compared (same draws: the same k-means)."""
    from sparsecode import ThresholdEncoder

    X32 = X[:sz.train_rows].astype(np.float32)
    params = dict(n_components=sz.atoms, whiten=True, kmeans_max_iter=10, kmeans_tol=0.0,
                  random_state=0)
    Xg = cp.asarray(X32)
    ThresholdEncoder(**params).fit(Xg[:sz.cpu_rows])  # warm
    t_gpu, est = _timed(cp, lambda: ThresholdEncoder(**params).fit(Xg), repeats=1)
    cpu_rows = sz.cpu_rows
    start = time.perf_counter()
    ThresholdEncoder(**params).fit(X32[:cpu_rows])
    t_cpu = (time.perf_counter() - start) * X32.shape[0] / cpu_rows

    def check():
        small = X[:cpu_rows]
        ref = ThresholdEncoder(**params).fit(small)
        got = ThresholdEncoder(**params).fit(cp.asarray(small))
        rel = np.linalg.norm(got.components_ - ref.components_) / np.linalg.norm(ref.components_)
        # (a label flipped on a near-tie by the products' rounding would show
        # as a FAIL here with the objectives still close: both are printed)
        obj = got.objective_[-1] / ref.objective_[-1] - 1
        ok = "ok" if rel < 1e-7 and got.n_iter_ == ref.n_iter_ else "FAIL"
        return f"float64 fit against the CPU's: atoms {rel:.1e}, objective {obj:+.1e} {ok}"

    return [f"| ThresholdEncoder({sz.atoms}, whitened spherical k-means, {est.n_iter_} "
            f"iterations) fit, {X32.shape[0]:,} rows, float32 | {t_gpu:.2f} s | "
            f"{X32.shape[0] * est.n_iter_ / t_gpu:,.0f} row-iterations/s | | "
            f"CPU {t_cpu:.1f} s (from {cpu_rows:,} rows): {t_cpu / t_gpu:.0f}x | "
            f"{_guarded(check)} |"]


def fista_timing(cp, X, D, alpha, cpu_signals, cpu_rate):
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    Xg, Dg = cp.asarray(X32), cp.asarray(D32)
    n, k = X.shape[0], D.shape[0]
    sparse_encode(Xg[:1000], Dg, algorithm="fista", alpha=alpha)  # compile, warm
    t_gpu, (Z, n_iter) = _timed(cp, lambda: sparse_encode(
        Xg, Dg, algorithm="fista", alpha=alpha, return_n_iter=True), repeats=2)
    row_iterations = float(cp.asnumpy(n_iter).sum())
    Gg = Dg @ Dg.T
    Y = cp.asarray(np.random.default_rng(0).standard_normal((n, k)).astype(np.float32))
    t_step, _ = _timed(cp, lambda: Y @ Gg)
    t_cov, _ = _timed(cp, lambda: Xg @ Dg.T)
    # the GEMMs issued: Y @ G on the rows still running each iteration, Z @ G
    # on them every 10th (the gap check), X @ D^T once
    t_gemm = t_cov + (row_iterations / n) * t_step * 1.1
    if cpu_rate is None:
        sparse_encode(X32[:1000], D32, algorithm="fista", alpha=alpha)
        start = time.perf_counter()
        sparse_encode(X32[:cpu_signals], D32, algorithm="fista", alpha=alpha)
        cpu_rate = cpu_signals / (time.perf_counter() - start)
        cpu_source = f"this run, {cpu_signals:,} signals"
    else:
        cpu_source = "--cpu-rate"
    gpu_rate = n / t_gpu
    return [
        f"| FISTA, problem A, {n:,} signals, float32 | {t_gpu:.3f} s | "
        f"{gpu_rate:,.0f} signals/s | GEMMs issued {t_gemm:.3f} s: {t_gpu / t_gemm:.2f}x "
        f"(target <= 3x) | CPU {cpu_rate:,.0f} signals/s ({cpu_source}): "
        f"{gpu_rate / cpu_rate:.0f}x (target >= 50x) | "
        f"mean iterations {row_iterations / n:.1f} |",
    ]


def omp_timing(cp, X, D, cpu_signals):
    """Batch OMP with 10 atoms on problem A, float32: the GPU on every
    signal, the CPU on ``cpu_signals`` of them in the same run."""
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    Xg, Dg = cp.asarray(X32), cp.asarray(D32)
    kw = dict(algorithm="omp", n_nonzero_coefs=10)
    sparse_encode(Xg[:1000], Dg, **kw)  # compile, warm
    t_gpu, _ = _timed(cp, lambda: sparse_encode(Xg, Dg, **kw), repeats=2)
    sparse_encode(X32[:1000], D32, **kw)
    start = time.perf_counter()
    sparse_encode(X32[:cpu_signals], D32, **kw)
    cpu_rate = cpu_signals / (time.perf_counter() - start)
    gpu_rate = X.shape[0] / t_gpu
    return [f"| OMP (10 atoms), problem A, {X.shape[0]:,} signals, float32 | {t_gpu:.3f} s | "
            f"{gpu_rate:,.0f} signals/s | | CPU {cpu_rate:,.0f} signals/s (this run, "
            f"{cpu_signals:,} signals): {gpu_rate / cpu_rate:.0f}x | |"]


def attention_timing(cp, sz=FULL, d=64):
    """Window attention (problem D: one sequence, d = 64, window 256) at
    ``n`` tokens, float32: checked against the CPU on the first 20,000
    tokens and timed on the GPU and (the same run) on the CPU. Then BigBird
    (window 128, blocks of 64, 3 random blocks, 2 global tokens) at n / 10
    tokens through the CSR kernel, its key list built on the host."""
    from sparsecode import SparseAttentionTransformer

    n, w = sz.attention_n, sz.window
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    lines = []
    for name, est, m in (
            ("window attention", SparseAttentionTransformer("window", window=w), n),
            ("BigBird attention", SparseAttentionTransformer(
                "bigbird", window=w // 2, block_size=w // 4, n_random=3, global_tokens=2,
                random_state=0), n // 10)):
        lines.append(f"| {name}, {m:,} tokens, d = {d}, float32 | " + _guarded(
            lambda: _attention_row(cp, est, X, m, sz.attention_head)) + " |")
    return lines


def _attention_row(cp, est, X, m, n_head):
    est.fit(X[:1000])
    head = X[:n_head]
    ref = est.transform(head)
    got = cp.asnumpy(est.transform(cp.asarray(head)))
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    Xg = cp.asarray(X[:m])
    t_gpu, _ = _timed(cp, lambda: est.transform(Xg), repeats=2)
    start = time.perf_counter()
    est.transform(X[:m])
    t_cpu = time.perf_counter() - start
    ok = "ok" if rel < 1e-5 else "FAIL"
    return (f"{t_gpu:.3f} s | {m / t_gpu:,.0f} tokens/s | | CPU {t_cpu:.2f} s: "
            f"{t_cpu / t_gpu:.0f}x | check on {head.shape[0]:,} tokens: {rel:.1e} {ok}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=None)
    parser.add_argument("--check-rows", type=int, default=None)
    parser.add_argument("--cpu-signals", type=int, default=None)
    parser.add_argument("--cpu-rate", type=float, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes: a smoke run of the script (timings mean nothing)")
    args = parser.parse_args(argv)
    sz = QUICK if args.quick else FULL
    for name in ("signals", "check_rows", "cpu_signals"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(sz, name))
    try:
        import cupy as cp
        import cupyx.scipy.sparse as csp

        name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception as exc:
        print(f"no GPU to check: {type(exc).__name__}: {exc}")
        return 1
    started = time.perf_counter()
    show_config()
    name = name.decode() if isinstance(name, bytes) else name
    X, D, alpha = problem_a(n_samples=args.signals)
    table = os.path.join(os.environ["OUT"], "gpu_check.md") if os.environ.get("OUT") else None
    out = []

    def emit(rows):
        # each section's rows as it ends (a device run cut short by its time
        # limit keeps what it measured), the table under $OUT rewritten
        print("\n".join(rows), flush=True)
        out.extend(rows)
        if table:
            try:
                with open(table, "w") as fh:
                    fh.write("\n".join(out) + "\n")
            except OSError as exc:  # (the printed rows are still there)
                print(f"could not write {table}: {exc}", flush=True)

    emit([f"GPU check on {name}, CuPy {cp.__version__}", "",
          "| algorithm | input | dtype | relative error | objective gap | result |",
          "|---|---|---|---:|---:|---|"])
    def run_checks():
        checks(cp, csp, X, D, alpha, args.check_rows, sz, emit)
        return []  # (each row emitted as it was done)

    sections = [
        ("GPU against CPU checks", run_checks),
        (None, lambda: ["", "| timing | GPU | throughput | against cuBLAS | against the CPU | |",
                        "|---|---:|---:|---|---|---|"]),
        ("FISTA timing", lambda: fista_timing(cp, X, D, alpha, args.cpu_signals,
                                              args.cpu_rate)),
        ("OMP timing", lambda: omp_timing(cp, X, D, args.cpu_signals)),
        ("DictionaryLearner timing", lambda: dictionary_timing(cp, X, alpha, sz)),
        ("ThresholdEncoder fit timing", lambda: threshold_fit_timing(cp, X, sz)),
        ("SparseAutoencoder timing", lambda: sae_timing(cp, X, sz)),
        ("attention timing", lambda: attention_timing(cp, sz)),
    ]
    for title, section in sections:
        try:
            rows = section()
        except Exception as exc:  # one section's failure must not lose the others
            traceback.print_exc()
            rows = [f"| {title} | {_error(exc)} | | | | |"]
        emit(rows)
    emit(["", "", f"(whole check: {time.perf_counter() - started:.0f} s)"])
    text = "\n".join(out)
    return 1 if "FAIL" in text or "ERROR" in text else 0

if __name__ == "__main__":
    sys.exit(main())
