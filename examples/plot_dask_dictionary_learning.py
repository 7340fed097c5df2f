"""
===========================================================
Dictionary learning on a Dask cluster
===========================================================

:mod:`sparsecode.dask` fits a :class:`sparsecode.DictionaryLearner` on a
``dask.array`` of row blocks held by the workers of a ``dask.distributed``
cluster. Each batch iteration sends the dictionary out once; each worker codes
its blocks and sends back two small sums (``Z^T Z`` and ``Z^T X``), so the
traffic does not grow with the number of samples. The fit equals the
in-memory fit on the same data and seed.

Here the cluster is a :class:`distributed.LocalCluster` of two workers in this
process (``processes=False``, so the example runs anywhere); on a real cluster
one writes ``Client("tcp://scheduler:8786")`` instead, and nothing else
changes. The data are 8x8 patches of a photograph, cut on the workers block by
block from the image (a graph the cluster can recompute if a worker is lost).
"""

import time
import warnings

import dask.array as da
import numpy as np
from dask import delayed
from distributed import Client, LocalCluster
from sklearn.datasets import load_sample_image
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.image import extract_patches_2d

import sparsecode
import sparsecode.dask

warnings.filterwarnings("ignore", category=ConvergenceWarning)
image = load_sample_image("china.jpg").mean(axis=2) / 255.0


def patches(seed, n=2_000):
    """One block of centred 8x8 patches, cut where the task runs."""
    P = extract_patches_2d(image, (8, 8), max_patches=n, random_state=seed)
    P = P.reshape(n, 64)
    return P - P.mean(axis=1, keepdims=True)


# %%
# A cluster, and a dask array of eight blocks of 2,000 patches each: nothing
# is computed yet, each block is a task.
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=None)
client = Client(cluster)
blocks = [da.from_delayed(delayed(patches)(seed), shape=(2_000, 64), dtype=float)
          for seed in range(8)]
X = da.concatenate(blocks).persist()  # cut once, kept on the workers
print(f"{X.shape[0]:,} patches in {X.numblocks[0]} blocks on "
      f"{len(client.scheduler_info()['workers'])} workers")

# %%
# The batch fit on the cluster, and the same fit in memory.
params = dict(n_components=64, alpha=0.1, method="batch", max_iter=10, random_state=0)
start = time.perf_counter()
dl = sparsecode.dask.DictionaryLearner(**params).fit(X)
on_cluster = time.perf_counter() - start

X_local = X.compute()
start = time.perf_counter()
local = sparsecode.DictionaryLearner(**params).fit(X_local)
in_memory = time.perf_counter() - start
gap = np.abs(dl.components_ - local.components_).max()
print(f"cluster fit {on_cluster:.2f} s, in-memory fit {in_memory:.2f} s; "
      f"largest difference between the dictionaries {gap:.1e}")
print(f"bytes sent per iteration: {dl.bytes_per_iteration_:,} "
      "(the same for 10^3 or 10^9 patches)")

# %%
# ``transform`` on a dask array gives a dask array of code blocks, computed
# where the blocks live; here the codes' sparsity per block.
codes = dl.transform(X)
nonzeros = (codes != 0).sum(axis=1).mean().compute()
print(f"codes: {codes.shape}, {codes.numblocks[0]} blocks, "
      f"{nonzeros:.1f} non-zero coefficients per patch on average")

# %%
# The atoms learned on the cluster.
try:
    import matplotlib.pyplot as plt
except ImportError:  # the example also runs as a plain script
    plt = None
if plt is not None:
    from sparsecode.plotting import plot_atoms

    plot_atoms(dl, (8, 8), title="64 atoms learned on a two-worker Dask cluster")

client.close()
cluster.close()
