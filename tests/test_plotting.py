"""sparsecode.plotting, headless (Agg): each function draws what it says and
writes a file; atom_grid places every atom where the grid says."""

import numpy as np
import pytest
import scipy.sparse as sp

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sparsecode import DictionaryLearner, SparseAttentionTransformer  # noqa: E402
from sparsecode.plotting import atom_grid, plot_atoms, plot_attention, plot_codes  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_atom_grid_places_scaled_atoms():
    atoms = np.random.default_rng(0).normal(size=(7, 12))
    grid = atom_grid(atoms, (3, 4), n_cols=3, pad=1)
    assert grid.shape == (3 * 4 + 1, 3 * 5 + 1)
    for i, atom in enumerate(atoms):
        r, c = divmod(i, 3)
        tile = grid[1 + 4 * r:4 + 4 * r, 1 + 5 * c:5 + 5 * c]
        expected = (atom - atom.min()) / (atom.max() - atom.min())
        np.testing.assert_allclose(tile, expected.reshape(3, 4))
    # the two unused cells and the padding stay white
    assert np.all(grid[9:12, 11:15] == 1.0) and np.all(grid[0] == 1.0)
    together = atom_grid(atoms, (3, 4), scale="all")
    assert together.min() == 0.0 and together.max() == 1.0


def test_atom_grid_refuses_a_wrong_patch_shape():
    with pytest.raises(ValueError, match="12 features"):
        atom_grid(np.zeros((2, 12)), (3, 3))
    with pytest.raises(ValueError, match="fit it first"):
        atom_grid(DictionaryLearner(4), (2, 2))


def test_plot_atoms_from_an_estimator(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 16))
    dl = DictionaryLearner(9, alpha=0.1, max_iter=2, random_state=0).fit(X)
    ax = plot_atoms(dl, (4, 4))
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image, atom_grid(dl, (4, 4)))
    ax.figure.savefig(tmp_path / "atoms.png")
    assert (tmp_path / "atoms.png").stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_plot_codes_marks_dead_latents(tmp_path, fmt):
    Z = np.zeros((50, 6))
    Z[:, 0] = 1.0
    Z[::2, 2] = 3.0
    Z[0, 4] = -1.0
    codes = sp.csr_matrix(Z) if fmt == "csr" else Z
    ax_f, ax_h = plot_codes(codes)
    assert "3 never active" in ax_f.get_title()
    counts = [p.get_height() for p in ax_h.patches]
    # L0: the 25 odd rows have 1 non-zero, 24 even rows 2, row 0 has 3
    assert counts == [0, 25, 24, 1]
    ax_f.figure.savefig(tmp_path / "codes.png")
    assert (tmp_path / "codes.png").stat().st_size > 1000


def test_plot_attention_draws_each_weight(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 4))
    att = SparseAttentionTransformer("longformer", window=4).fit(X)
    W = att.attention_weights(X)
    ax = plot_attention(W)
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == W.nnz
    ax.figure.savefig(tmp_path / "attention.png")
    assert (tmp_path / "attention.png").stat().st_size > 1000
    with pytest.raises(TypeError, match="sparse"):
        plot_attention(W.toarray())


def test_plotting_refuses_empty_or_bad_input():
    with pytest.raises(ValueError, match="no atoms"):
        atom_grid(np.zeros((0, 4)), (2, 2))
    with pytest.raises(ValueError, match="pad"):
        atom_grid(np.zeros((2, 4)), (2, 2), pad=-1)
    with pytest.raises(ValueError, match="no tokens"):
        plot_attention(sp.csr_matrix((0, 0)))
