"""Pictures of dictionaries, codes and attention patterns.

Matplotlib is optional (``pip install 'sparsecode[plot]'``) and imported only
when a ``plot_*`` function is called; :func:`atom_grid`, which tiles atoms
into one image array, needs numpy alone (the demo writes it with Pillow).
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["atom_grid", "plot_atoms", "plot_codes", "plot_attention"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("sparsecode.plotting needs matplotlib: pip install "
                          "'sparsecode[plot]'") from exc
    return plt


def _components(estimator_or_components):
    """The atoms (rows) of an estimator or an array."""
    source = estimator_or_components
    if hasattr(source, "components_"):
        atoms = source.components_
    elif hasattr(source, "fit") and not hasattr(source, "shape"):
        raise ValueError(f"{type(source).__name__} has no components_: fit it first.")
    else:
        atoms = source
    atoms = np.asarray(atoms.toarray() if sp.issparse(atoms) else atoms, dtype=np.float64)
    if atoms.ndim != 2:
        raise ValueError(f"components must be 2-D (n_atoms, n_features), got shape "
                         f"{atoms.shape}.")
    return atoms


def atom_grid(estimator_or_components, patch_shape, *, n_cols=None, pad=1, scale="each"):
    """Tile atoms into one image: the canonical picture of a dictionary.

    Parameters
    ----------
    estimator_or_components : estimator with ``components_`` or array of \
            shape (n_atoms, n_features)
        Dictionary atoms, decoder rows or encoder filters, one per row.
    patch_shape : tuple of int
        ``(height, width)`` of one atom; ``height * width`` must equal
        ``n_features``.
    n_cols : int, default=None
        Atoms per row of the grid; None: a square-ish grid.
    pad : int, default=1
        Pixels between tiles (drawn at the maximum value, white in grey).
    scale : {"each", "all"}, default="each"
        Stretch each atom to [0, 1] on its own, or all atoms with one range.

    Returns
    -------
    grid : ndarray of shape (rows * (height + pad) + pad, n_cols * (width + pad) + pad)
        Values in [0, 1].
    """
    atoms = _components(estimator_or_components)
    h, w = (int(v) for v in patch_shape)
    if h * w != atoms.shape[1]:
        raise ValueError(f"patch_shape={tuple(patch_shape)} holds {h * w} pixels but the "
                         f"atoms have {atoms.shape[1]} features.")
    if scale not in ("each", "all"):
        raise ValueError(f"scale must be 'each' or 'all', got {scale!r}.")
    if int(pad) < 0:
        raise ValueError(f"pad must be non-negative, got {pad}.")
    n = atoms.shape[0]
    if n == 0:
        raise ValueError("There are no atoms to draw.")
    cols = int(np.ceil(np.sqrt(n))) if n_cols is None else int(n_cols)
    if cols < 1:
        raise ValueError(f"n_cols must be positive, got {n_cols}.")
    rows = max(1, -(-n // cols))
    tiles = atoms.reshape(n, h, w)
    if scale == "each":
        lo = tiles.min(axis=(1, 2), keepdims=True)
        hi = tiles.max(axis=(1, 2), keepdims=True)
    else:
        lo, hi = tiles.min(), tiles.max()
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-12)
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = tile
    return grid


def plot_atoms(estimator_or_components, patch_shape, *, n_atoms=None, n_cols=None,
               scale="each", cmap="gray", ax=None, title=None):
    """Show dictionary atoms (or decoder rows, or encoder filters) as a grid
    of image patches.

    Parameters
    ----------
    estimator_or_components : estimator with ``components_`` or array of \
            shape (n_atoms, n_features)
    patch_shape : tuple of int
        ``(height, width)`` of one atom.
    n_atoms : int, default=None
        Show only the first ``n_atoms``.
    n_cols : int, default=None
        Atoms per row; None: a square-ish grid.
    scale : {"each", "all"}, default="each"
        See :func:`atom_grid`.
    cmap : str, default="gray"
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    atoms = _components(estimator_or_components)
    if n_atoms is not None:
        atoms = atoms[:n_atoms]
    grid = atom_grid(atoms, patch_shape, n_cols=n_cols, scale=scale)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title if title is not None else f"{atoms.shape[0]} atoms")
    return ax


def plot_codes(codes, *, axes=None, bins=None):
    """Activation frequency per latent (sorted, dead latents marked) and the
    histogram of non-zeros per sample (L0).

    Parameters
    ----------
    codes : {ndarray, sparse matrix} of shape (n_samples, n_components)
        Codes from any encoder's ``transform``.
    axes : sequence of two matplotlib Axes, default=None
        None: a new figure with two panels.
    bins : int, default=None
        Histogram bins; None: one per L0 value up to 50, else 50.

    Returns
    -------
    axes : tuple of two matplotlib Axes
    """
    plt = _pyplot()
    if sp.issparse(codes):
        Z = sp.csr_matrix(codes)
        nonzero = Z != 0  # explicit zeros are not activations
        fired = np.asarray(nonzero.sum(axis=0)).ravel()
        l0 = np.asarray(nonzero.sum(axis=1)).ravel()
    else:
        Z = np.asarray(codes)
        if Z.ndim != 2:
            raise ValueError(f"codes must be 2-D (n_samples, n_components), got shape "
                             f"{Z.shape}.")
        nonzero = Z != 0
        fired, l0 = nonzero.sum(axis=0), nonzero.sum(axis=1)
    n, k = Z.shape
    if n == 0:
        raise ValueError("codes has no samples.")
    freq = np.sort(fired / n)[::-1]
    dead = int((fired == 0).sum())
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3))
    ax_f, ax_h = axes
    ax_f.plot(np.arange(k), np.maximum(freq, 1 / (10 * n)), lw=1)
    ax_f.set_yscale("log")
    if dead:
        ax_f.axvspan(k - dead - 0.5, k - 0.5, color="tab:red", alpha=0.25,
                     label=f"{dead} dead")
        ax_f.legend(loc="upper right")
    ax_f.set_xlabel("latent (by frequency)")
    ax_f.set_ylabel("activation frequency")
    ax_f.set_title(f"{k} latents, {dead} never active")
    top = int(l0.max()) if l0.size else 0
    if bins is None:
        bins = np.arange(top + 2) - 0.5 if top <= 50 else 50
    ax_h.hist(l0, bins=bins)
    ax_h.set_xlabel("non-zeros per sample (L0)")
    ax_h.set_ylabel("samples")
    ax_h.set_title(f"mean L0 {l0.mean():.2f}")
    return ax_f, ax_h


def plot_attention(weights, *, ax=None, max_tokens=2000, cmap="viridis", title=None):
    """The sparse attention pattern: each non-zero weight ``(query, key)`` as
    a point coloured by its value.

    Parameters
    ----------
    weights : sparse matrix of shape (n_tokens, n_tokens)
        From ``SparseAttentionTransformer.attention_weights`` (or
        ``attention_pattern``).
    ax : matplotlib Axes, default=None
    max_tokens : int, default=2000
        Show the leading ``max_tokens x max_tokens`` block only.
    cmap : str, default="viridis"
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if not sp.issparse(weights):
        raise TypeError("weights must be a scipy.sparse matrix (attention_weights or "
                        "attention_pattern): a dense n x n array is what sparse attention "
                        "avoids.")
    W = sp.coo_matrix(sp.csr_matrix(weights)[:max_tokens, :max_tokens])
    if min(W.shape) == 0:
        raise ValueError("weights has no tokens to draw.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    points = ax.scatter(W.col, W.row, c=W.data, s=max(0.2, 2000 / max(W.shape[0], 1) ** 1.2),
                        marker="s", cmap=cmap, linewidths=0)
    ax.set_xlim(-0.5, W.shape[1] - 0.5)
    ax.set_ylim(W.shape[0] - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title if title is not None else
                 f"{W.nnz / max(W.shape[0], 1):.1f} keys per query")
    plt.colorbar(points, ax=ax, fraction=0.046, pad=0.04)
    return ax
