"""Sphinx configuration of the docs site: `make docs` lays out the pages (docs/prepare.py) and builds _site/ from them."""
import re

project = 'modern_llm'
author = 'modern_llm developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc']
nb_execution_mode = 'off'                 # the notebooks are shown with the outputs they store
nb_output_stderr = 'remove'               # progress bars and timings, which kept outputs never hold
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
default_role = 'literal'                  # the docstrings' `name` is code, as in the notebooks' Markdown
html_theme = 'furo'                       # its fonts and scripts are served from the site itself: nothing is fetched
html_title = 'modern_llm'
html_show_sourcelink = False

_CODE = re.compile(r'(``?[^`]+``?)')
_MARKUP = re.compile(r'([|*])|(?<=\w)(_)(?=\W|$)')

def markdown_docstring(app, what, name, obj, options, lines):
    "Our docstrings are Markdown one-liners: outside `code`, escape what reStructuredText would read as markup."
    for i, line in enumerate(lines):
        lines[i] = ''.join(part if _CODE.fullmatch(part) else _MARKUP.sub(r'\\\1\2', part) for part in _CODE.split(line))

def setup(app): app.connect('autodoc-process-docstring', markdown_docstring)
