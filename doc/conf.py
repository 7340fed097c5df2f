"""Sphinx configuration: numpydoc docstrings, autosummary API pages and the
sphinx-gallery built from ``examples/`` (each example runs during the build)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import sparsecode  # noqa: E402

project = "sparsecode"
author = "the sparsecode developers"
copyright = "2026, the sparsecode developers"
release = sparsecode.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
# scikit-learn's own mixin methods cite labels of scikit-learn's docs
autodoc_default_options = {
    "members": True,
    "inherited-members": True,
    "exclude-members": "get_metadata_routing,set_output,set_fit_request,set_transform_request,"
                       "set_partial_fit_request,set_score_request,set_inverse_transform_request",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# offline builds: no inventories are fetched, references stay plain text
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sparsecode {release}"
html_theme_options = {"navigation_with_keys": False}
templates_path = []
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
