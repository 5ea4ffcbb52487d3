"""The shape of the library: notebooks read in import order, modules import without cycles, and no module outgrows
one concern. A notebook that imports from one numbered after it sends the reader forward to code not yet explained;
a cycle between modules means neither can be read first."""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))
LIBRARY_NBS = [p for p in NBS if not p.name.startswith(('15', 'sft_run'))]   # the benchmark and the papermill job aside
MAX_MODULE_LINES = 350

def cells(path):
    return [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']

def exported_module(path):
    for s in cells(path):
        if m := re.search(r'#\|\s*default_exp\s+(\S+)', s): return m.group(1)

def notebook_of_module():
    return {mod: p for p in NBS if (mod := exported_module(p))}

def imported_modules(path):
    "Every `modern_llm` module a notebook's code cells import, exported or test cells, at the top or inside a function."
    return {m for s in cells(path) for m in re.findall(r'(?:from|import) modern_llm\.([\w.]+)', s)}

def test_notebooks_import_only_from_earlier_notebooks():
    where, order = notebook_of_module(), {p: i for i, p in enumerate(NBS)}
    forward = [f'{p.name} imports {m} ({where[m].name})' for p in LIBRARY_NBS for m in sorted(imported_modules(p))
               if m in where and order[where[m]] > order[p]]
    assert not forward, 'notebooks import from later notebooks:\n' + '\n'.join(forward)

def module_graph():
    graph = {}
    for f in (ROOT / 'modern_llm').rglob('*.py'):
        if f.name == '_modidx.py': continue
        name = '.'.join(f.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__')
        deps = set()
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module is not None:
                deps.add(f"{name.rsplit('.', n.level)[0]}.{n.module}" if n.level else n.module)
            elif isinstance(n, ast.Import): deps |= {a.name for a in n.names}
        graph[name] = {d for d in deps if d.startswith('modern_llm.') and d != name}
    return graph

def cycle_from(graph, start):
    "A path start -> ... -> start through the import graph, or None."
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for d in graph.get(node, ()):
            if d == start: return path + [start]
            if d not in seen: seen.add(d); stack.append((d, path + [d]))

def test_no_import_cycles():
    graph = module_graph()
    cycles = {' -> '.join(c) for m in graph if (c := cycle_from(graph, m))}
    assert not cycles, 'import cycles:\n' + '\n'.join(sorted(cycles))

def test_cycle_finder_finds_a_cycle():
    test_graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycle_from(test_graph, 'a') == ['a', 'b', 'c', 'a'] and cycle_from(test_graph, 'd') is None

def test_modules_stay_small():
    sizes = {f.name: len(f.read_text().splitlines()) for f in (ROOT / 'modern_llm').rglob('*.py') if f.name != '_modidx.py'}
    big = {n: s for n, s in sizes.items() if s > MAX_MODULE_LINES}
    assert not big, f'modules over {MAX_MODULE_LINES} lines (split them by concern): {big}'
