"""Sphinx configuration of migrator's documentation (tox -e docs)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(HERE, '_exts'))
sys.path.insert(0, ROOT)

project = 'migrator'
copyright = 'the migrator authors'
author = 'the migrator authors'

extensions = [
    # Generated references: every option, every policy rule, every command, every operation.
    'oslo_config.sphinxext',
    'oslo_policy.sphinxext',
    'migrator_cli',
    'migrator_openapi',
    'migrator_samples',
    'migrator_releasenotes',
]

# show-options and show-policy read the generator files named in the pages
# (etc/migrator/...), relative to the working directory: make it the repository's root
# wherever sphinx-build is started from.
os.chdir(ROOT)

# Built offline: no intersphinx, nothing fetched.
templates_path = []
exclude_patterns = ['_build']
source_suffix = {'.rst': 'restructuredtext'}
root_doc = 'index'
language = 'en'
pygments_style = 'sphinx'
# Literal blocks are shell sessions, JSON, configuration and help text: shown as they are
# (a code-block that names its language is still highlighted).
highlight_language = 'none'
html_theme = 'alabaster'
html_static_path = []
html_title = 'migrator documentation'
# Long literal tables (CLI output) read better unwrapped.
html_theme_options = {'page_width': '1100px', 'sidebar_width': '240px'}
