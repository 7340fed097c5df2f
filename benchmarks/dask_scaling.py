"""Dictionary learning on a Dask cluster: problem C scaled to 10^6 patches,
streamed from a chunked dask array whose blocks are cut from china.jpg on the
workers (nothing is gathered to the driver).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/dask_scaling.py
    ... benchmarks/dask_scaling.py --samples 200000 --workers 1 2

For each worker count: a LocalCluster of that many single-threaded worker
processes, then one epoch of the online fit (``chunks_per_step`` = the number
of workers, 10^4 patches per chunk) and two batch iterations (the first codes
all samples and updates the atoms, the second codes them again). Reported:
samples coded per second, and the payload between the driver and the cluster
per iteration (the dictionary and its Gram out, A = Z^T Z, B = Z^T X and
three sums back, reduced on the workers), at two sample counts.
"""

import argparse
import time

import numpy as np

K_ATOMS, ALPHA, PATCH = 256, 0.05, 8


def _patch_block(i, rows):
    """``rows`` random 8x8 grey patches of china.jpg, mean removed per patch
    (problem C's training data, seeded per block)."""
    from sklearn.datasets import load_sample_image
    from sklearn.feature_extraction.image import extract_patches_2d

    image = load_sample_image("china.jpg").astype(np.float64).mean(axis=2) / 255.0
    patches = extract_patches_2d(image, (PATCH, PATCH), max_patches=rows, random_state=i)
    X = patches.reshape(rows, -1)
    return X - X.mean(axis=1, keepdims=True)


def _stream(n, chunk):
    import dask
    import dask.array as da

    blocks = [da.from_delayed(dask.delayed(_patch_block)(i, min(chunk, n - s)),
                              shape=(min(chunk, n - s), PATCH * PATCH), dtype=np.float64)
              for i, s in enumerate(range(0, n, chunk))]
    return da.concatenate(blocks)


def run(workers, n, chunk):
    from distributed import Client, LocalCluster

    from sparsecode.dask import DictionaryLearner

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, worker_dashboard_address=None)
    rows = []
    with Client(cluster):
        X = _stream(n, chunk)
        # warm the workers: imports, JIT caches, the image
        DictionaryLearner(K_ATOMS, alpha=ALPHA, method="batch", max_iter=1,
                          random_state=0).fit(X[:2 * chunk])
        for method, kw in (("online", dict(max_iter=1, chunks_per_step=workers)),
                           ("batch", dict(max_iter=2, tol=0))):
            est = DictionaryLearner(K_ATOMS, alpha=ALPHA, method=method, batch_size=256,
                                    random_state=0, **kw)
            t0 = time.perf_counter()
            est.fit(X)
            elapsed = time.perf_counter() - t0
            coded = n * (1 if method == "online" else 2)
            rows.append(dict(method=method, workers=workers, n=n, seconds=elapsed,
                             rate=coded / elapsed, steps=est.n_steps_,
                             objective=est.objective_[-1],
                             bytes=est.bytes_per_iteration_))
    cluster.close()
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    print("| method | n | workers | time (s) | samples/s | steps | last objective | "
          "driver bytes / iteration |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.samples:
        for w in args.workers:
            for r in run(w, n, args.chunk):
                print(f"| {r['method']} | {r['n']} | {r['workers']} | {r['seconds']:.1f} | "
                      f"{r['rate']:,.0f} | {r['steps']} | {r['objective']:.5f} | "
                      f"{r['bytes']:,} |", flush=True)


if __name__ == "__main__":
    main()
