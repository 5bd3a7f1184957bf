"""Sphinx configuration: numpydoc API pages and a sphinx-gallery of ../examples."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from skscreen import __version__  # noqa: E402

project = "skscreen"
author = "skscreen developers"
version = release = __version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
}
exclude_patterns = ["_build"]
html_theme = "alabaster"
