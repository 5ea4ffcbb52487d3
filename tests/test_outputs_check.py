"""tests/outputs.py, the kept-output check of `make nbtest`: a kept output that no longer matches fails, naming the
notebook, the cell and the difference; what varies from run to run (addresses, temporary paths, stderr, pixels) does
not; `store` (make outputs) writes the new outputs so that the check passes again."""
import json
from pathlib import Path
import outputs

def notebook(path: Path, cells: list) -> Path:
    "A notebook of code cells given as (id, source, stored stdout or None)."
    nb = {'cells': [{'cell_type': 'code', 'id': cid, 'metadata': {}, 'execution_count': None, 'source': src,
                     'outputs': [] if out is None else [{'output_type': 'stream', 'name': 'stdout', 'text': out}]}
                    for cid, src, out in cells],
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb))
    return path

def test_a_kept_output_that_differs_fails_with_the_cell_and_a_diff(tmp_path):
    nb = notebook(tmp_path / 'teach.ipynb', [('a1', 'x = 2', None), ('b2', 'print(x + 2)', '5\n')])
    ok, _, msgs = outputs.check_one(nb)
    assert not ok and len(msgs) == 1, msgs
    assert 'teach.ipynb cell b2' in msgs[0] and '-5' in msgs[0] and '+4' in msgs[0] and 'make outputs' in msgs[0], msgs[0]
    assert outputs.check_one(notebook(tmp_path / 'plain.ipynb', [('a1', 'assert 2 + 2 == 4', None)]))[0]

def check_in_fresh_process(nb: Path) -> tuple:
    """`outputs.check_one(nb)` in a new process, as `make nbtest` runs notebooks: in pytest's own process an
    earlier test may have switched matplotlib to Agg (the CLI does), and then a plot shows nothing inline."""
    import subprocess, sys
    code = (f"import json, sys; sys.path.insert(0, {str(Path(outputs.__file__).parent)!r}); import outputs; from pathlib import Path; "
            f"ok, _, msgs = outputs.check_one(Path({str(nb)!r})); print(json.dumps([ok, msgs]))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))

def test_what_varies_between_runs_is_not_compared(tmp_path):
    src = ("import sys, tempfile, matplotlib.pyplot as plt\nd = tempfile.mkdtemp()\n"
           "print(object(), d + '/run/x.pt')\nprint('57%|#### 4/7 [00:01<00:00, 2.7it/s]', file=sys.stderr)\n_ = plt.plot([1, 2])")
    stored = '<object object at 0x7f00deadbeef> /tmp/tmpabc123/run/x.pt\n'
    nb = notebook(tmp_path / 'teach.ipynb', [('c1', src, stored)])
    cells = json.loads(nb.read_text())['cells']
    cells[0]['outputs'].append({'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': 'iVBORw0KGgo=\n', 'text/plain': ['<Figure size 640x480 with 1 Axes>']}})
    nb.write_text(json.dumps({**json.loads(nb.read_text()), 'cells': cells}))
    ok, msgs = check_in_fresh_process(nb)
    assert ok, msgs
    cells[0]['outputs'].pop()                                  # a kept image that the code no longer draws is a difference
    nb.write_text(json.dumps({**json.loads(nb.read_text()), 'cells': cells}))
    ok, msgs = check_in_fresh_process(nb)
    assert not ok and '+<image/png>' in msgs[0], msgs

def test_a_failing_cell_fails_the_notebook(tmp_path):
    nb = notebook(tmp_path / 'teach.ipynb', [('a1', "raise ValueError('no such file: data.jsonl')", None)])
    ok, _, msgs = outputs.check_one(nb)
    assert not ok and 'ValueError' in msgs[0] and 'no such file' in msgs[0], msgs

def test_store_writes_the_new_outputs_and_keeps_new_cells(tmp_path):
    nb = notebook(tmp_path / 'teach.ipynb', [('a1', "print('kept')", 'old\n'), ('b2', "print('shown')", None), ('c3', "print('not kept')", None)])
    assert outputs.store(nb, keep_ids=['b2']) == ['a1', 'b2']
    cells = {c['id']: c['outputs'] for c in json.loads(nb.read_text())['cells']}
    assert [o['text'] for o in cells['a1']] == [['kept\n']] and [o['text'] for o in cells['b2']] == [['shown\n']] and cells['c3'] == []
    assert outputs.check_one(nb)[0]

def test_the_command_runs_notebooks_two_at_a_time(tmp_path):
    "As `make nbtest` runs it: a worker runs several notebooks in turn, and a failing one fails the command, named."
    import subprocess, sys
    nbs = [notebook(tmp_path / f'n{i}.ipynb', [('a1', f'assert {i} < 3', None)]) for i in range(4)]
    r = subprocess.run([sys.executable, str(Path(outputs.__file__)), 'check', *map(str, nbs), '--n_workers', '2'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'notebooks failed: n3.ipynb' in r.stderr and 'AssertionError' in r.stderr, r.stderr[-2000:]
    assert all(f'n{i}.ipynb: ' in r.stdout for i in range(4)), r.stdout
