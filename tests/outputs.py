"""Run the notebooks' tests, and keep the notebooks' stored outputs honest.

    python tests/outputs.py check [NB ...]      # run every notebook once, as nbdev_test does (`make nbtest`); fail
                                                # where a kept output differs from the one the code produces now
    python tests/outputs.py refresh [NB ...]    # re-run the notebooks that keep outputs and store the new ones (`make outputs`)
    python tests/outputs.py keep NB CELL_ID ... # start keeping (storing and checking) the outputs of those cells
    python tests/outputs.py teaching            # list the notebooks that keep outputs

A notebook keeps the outputs a reader should see on the docs site: those of the cells that hold outputs after
nbdev_clean. Every kept output is checked: it must equal what the code produces now. Compared: stdout,
text results (text/plain, text/html, text/markdown) and errors (name and message), after nbdev_clean's own
normalisation (no `at 0x...` addresses) and with temporary directories written as `<tmp>`; images by presence and type
only (their pixels vary with fonts and versions). stderr is neither kept nor compared: it carries progress bars and
timings. Cells run exactly as under nbdev_test: the same processor, shell, flags (`--flags slow`) and `#| eval: false`.
"""
import argparse, difflib, json, os, re, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFRESH_HINT = ('If the new output is right, store it: `make outputs` (re-runs the notebooks that keep outputs, stores their '
                'outputs and runs nbdev_clean), then commit the notebook.')

def config():
    from nbdev.config import get_config
    return get_config(path=ROOT)

def teaching_nbs() -> list:
    "The notebooks that keep outputs (any code cell holding one), as paths."
    return [p for p in all_nbs() if any(c.get('outputs') for c in read(p)['cells'] if c['cell_type'] == 'code')]

def all_nbs() -> list:
    "Every notebook nbdev_test would run, less the papermill job (tests/test_papermill_run.py runs it small)."
    from nbdev.doclinks import nbglob
    return sorted(Path(p) for p in nbglob(config().nbs_path, skip_file_glob='sft_run.ipynb'))

def execute(path: Path, flags: str = 'slow'):
    "Run notebook `path` as nbdev's `test_nb` does; (cells with their new outputs, error text or None, seconds)."
    from fastcore.basics import str2bool
    from fastcore.xtras import working_directory
    from nbdev.process import NBProcessor, nb_lang
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    cfg = config()
    skip = set(cfg.tst_flags.split()) - set(flags.split())
    os.environ['IN_TEST'] = '1'
    if str(cfg.config_path) not in sys.path: sys.path.insert(0, str(cfg.config_path))
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    if str2bool(getattr(nb, 'frontmatter_', {}).get('skip_exec', False)) or nb_lang(nb) != 'python': return nb.cells, None, 0.0
    def no_eval(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return skip & direc.keys()
    for cell in nb.cells:
        if cell.cell_type == 'code': cell.outputs = []   # a skipped cell produces nothing
    # PNG at the figure's size (nbdev_test's retina doubles it): the kept images stay small
    shell, start, err = CaptureShell(path, mpl_format='png'), time.time(), None
    try:
        with working_directory(path.parent): shell.run_all(nb, exc_stop=True, preproc=no_eval)
    except BaseException: err = shell.prettytb(fname=path)
    return nb.cells, err, time.time() - start

def storable(outputs) -> list:
    "Outputs as they are stored: plain dicts, stderr left out."
    return [json.loads(json.dumps(o)) for o in outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]

_TMP = re.compile(f'(?:{re.escape(tempfile.gettempdir())}|/tmp)/tmp[\\w-]+')   # tempfile's directories

def normalise(outputs) -> list:
    "The comparable text of outputs: one line list per output."
    from nbdev.clean import _skip_or_sub
    text = lambda v: [_TMP.sub('<tmp>', _skip_or_sub(l)) for l in ''.join(v).splitlines()]
    res = []
    for o in storable(outputs):
        kind = o['output_type']
        if kind == 'stream': res.append([f"[{o['name']}]", *text(o['text'])])
        elif kind == 'error': res.append(['[error]', *text(f"{o['ename']}: {o['evalue']}")])
        else:
            data, item = o.get('data', {}), ['[result]' if kind == 'execute_result' else '[display]']
            for mime in sorted(data):
                if mime.startswith('image/'): item.append(f'<{mime}>')
                elif mime.startswith('text/'): item += [f'{mime}:', *text(data[mime])]
            res.append(item)
    return res

def differences(stored_cells, new_cells, nb_name: str) -> list:
    "A message per kept cell whose stored outputs differ from the new ones: notebook, cell id and a short diff."
    new = {c.get('id'): c for c in new_cells}
    msgs = []
    for c in stored_cells:
        if c.get('cell_type') != 'code' or not c.get('outputs'): continue
        kept, now = normalise(c['outputs']), normalise(new.get(c['id'], {}).get('outputs', []))
        if kept == now: continue
        flat = lambda outs: [l for o in outs for l in o]
        diff = list(difflib.unified_diff(flat(kept), flat(now), 'kept', 'now', n=1, lineterm=''))
        shown = diff[:25] + ([f'... ({len(diff) - 25} more diff lines)'] if len(diff) > 25 else [])
        msgs.append(f"{nb_name} cell {c['id']}: the kept output differs from what the code produces now:\n  " +
                    '\n  '.join(shown) + f'\n{REFRESH_HINT}')
    return msgs

def read(path: Path) -> dict: return json.loads(Path(path).read_text(encoding='utf-8'))

def check_one(path: Path, flags: str = 'slow'):
    "(ok, seconds, messages) for one notebook: its tests pass and the outputs it keeps hold."
    stored = read(path)['cells']
    cells, err, secs = execute(path, flags)
    msgs = [f'{path.name}: a cell failed:\n{err}'] if err else []
    if not err: msgs += differences(stored, cells, f'nbs/{path.name}')
    return not msgs, secs, msgs

def store(path: Path, keep_ids=(), flags: str = 'slow') -> list:
    "Re-run `path`; store the new outputs of the cells that keep outputs, and of `keep_ids`; nbdev_clean it. The changed ids."
    from nbdev.clean import nbdev_clean
    nb = read(path)
    cells, err, _ = execute(path, flags)
    if err: raise SystemExit(f'{path.name}: a cell failed, so no outputs were stored:\n{err}')
    ids = {c.get('id') for c in nb['cells']}
    unknown = [i for i in keep_ids if i not in ids]
    if unknown: raise SystemExit(f'{path.name} has no cells {unknown}: give ids of its code cells')
    new, changed = {c.get('id'): c for c in cells}, []
    for c in nb['cells']:
        if c['cell_type'] != 'code' or not (c.get('outputs') or c['id'] in keep_ids): continue
        outs = storable(new.get(c['id'], {}).get('outputs', []))
        if normalise(outs) != normalise(c['outputs']) or c['id'] in keep_ids: changed.append(c['id'])
        c['outputs'] = outs
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    nbdev_clean(str(path))
    return changed

def _check_task(item, flags):
    "One notebook in a worker: (path, ok, seconds, messages)."
    return (item, *check_one(item, flags))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('command', choices=['check', 'refresh', 'keep', 'teaching'])
    p.add_argument('args', nargs='*', help='notebooks (check, refresh) or a notebook and cell ids (keep)')
    p.add_argument('--n_workers', type=int, default=1)
    p.add_argument('--flags', default='slow', help='test flags to run, as nbdev_test --flags')
    a = p.parse_args(argv)
    if a.command == 'teaching': return print('\n'.join(str(n.relative_to(ROOT)) for n in teaching_nbs()))
    teaching = {n.resolve() for n in teaching_nbs()}
    if a.command == 'keep':
        if len(a.args) < 2: raise SystemExit('keep NB CELL_ID ...: a notebook and the ids of the cells to keep')
        path = Path(a.args[0]).resolve()
        return print(f"{path.name}: outputs stored; changed in cells {' '.join(store(path, a.args[1:], a.flags))}")
    if a.command == 'refresh':
        for path in [Path(n).resolve() for n in a.args] or sorted(teaching):
            changed = store(path, (), a.flags)
            print(f"{path.name}: kept outputs stored again; {'changed in cells ' + ' '.join(changed) if changed else 'none changed'}")
        return
    from fastcore.parallel import parallel
    nbs = [Path(n).resolve() for n in a.args] or all_nbs()
    # the longest notebooks first, so that two workers finish together; sizes are a good enough guess of run time
    nbs = sorted(nbs, key=lambda n: -n.stat().st_size)
    # the task by its module's name, not __main__'s: a notebook's shell takes over __main__ in the worker that runs it
    import outputs
    results = parallel(outputs._check_task, nbs, flags=a.flags, n_workers=a.n_workers)
    failed = [(path, msgs) for path, ok, secs, msgs in results if not ok]
    for path, ok, secs, msgs in sorted(results, key=lambda r: -r[2]):
        print(f"{path.name}: {secs:.0f} s{' (outputs checked)' if path in teaching else ''}{'' if ok else ' FAILED'}")
    for path, msgs in failed: print('\n'.join(msgs), file=sys.stderr)
    if failed: sys.exit(f"notebooks failed: {' '.join(p.name for p, _ in failed)}")
    print('Success.')

if __name__ == '__main__': main()
