"""docs/prepare.py shows a notebook's cells as nbdev would: hidden cells left out, directive lines not shown."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location('prepare', Path(__file__).resolve().parent.parent / 'docs' / 'prepare.py')
prepare = importlib.util.module_from_spec(spec); spec.loader.exec_module(prepare)

def code(src, outputs=()): return {'cell_type': 'code', 'id': 'x', 'metadata': {}, 'source': src, 'outputs': list(outputs)}
OUT = {'output_type': 'stream', 'name': 'stdout', 'text': ['4\n']}

def test_directives_are_applied_and_not_shown():
    assert prepare.page_cell(code('#| export\ndef f(): return 1'))['source'] == 'def f(): return 1'
    assert prepare.page_cell(code('#|slow\n#| gpu\nf()', [OUT]))['source'] == 'f()'
    for hidden in ('#| hide\nimport os', '#| default_exp train', '#| include: false\nx = 1', '#| hide\nimport nbdev; nbdev.nbdev_export()',
                   'import nbdev; nbdev.nbdev_export()'):
        assert prepare.page_cell(code(hidden)) is None, hidden
    assert prepare.page_cell(code('#| echo: false\nprint(4)', [OUT]))['metadata']['tags'] == ['remove-input']
    assert prepare.page_cell(code('#| output: false\nprint(4)', [OUT]))['outputs'] == []
    assert prepare.page_cell(code('x = 1  # |not a directive'))['source'] == 'x = 1  # |not a directive'
    assert prepare.page_cell({'cell_type': 'markdown', 'id': 'm', 'metadata': {}, 'source': ['  \n']}) is None

def test_pages_follow_the_reading_order():
    names = [n.name for n in prepare.notebooks()]
    assert names[0] == '00_config.ipynb' and names[-1] == 'sft_run.ipynb' and names == sorted(names[:-1]) + ['sft_run.ipynb']
