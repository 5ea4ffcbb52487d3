"""Lay out the docs site's pages for Sphinx and myst-nb (`make docs`; docs/conf.py configures the build): the README as
the index, one page per notebook in reading order, shown as nbdev shows it, with the outputs it stores (nothing is
executed), and an API page per module (autodoc).

nbdev's directives are applied here, since myst-nb does not know them: `#| hide` and `#| include: false` cells
are left out, `#| echo: false` shows the output alone, `#| output: false` the code alone, and the directive lines
themselves (`#| export`, `#| slow`, ...) are not shown. Cells that only call `nbdev_export()` are left out too.
"""
import json, re, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / 'build' / 'docs'
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')

def directives(source: str):
    "(directives as {name: value}, the source without its leading directive lines)."
    lines, found = source.splitlines(), {}
    while lines and (m := DIRECTIVE.match(lines[0])):
        name, _, value = m[1].partition(':') if ':' in m[1] else m[1].partition(' ')
        found[name.strip()] = value.strip().lower()
        lines.pop(0)
    return found, '\n'.join(lines)

def page_cell(cell: dict):
    "The cell as the page shows it, or None for a cell the page leaves out."
    source = ''.join(cell['source'])
    if cell['cell_type'] != 'code': return cell if source.strip() else None
    found, code = directives(source)
    if 'hide' in found or found.get('include') == 'false' or 'default_exp' in found: return None
    if 'nbdev_export(' in code and len(code.strip().splitlines()) <= 2: return None
    cell = {**cell, 'source': code, 'metadata': {**cell.get('metadata', {})}}
    if found.get('output') == 'false': cell['outputs'] = []
    if found.get('echo') == 'false': cell['metadata']['tags'] = [*cell['metadata'].get('tags', []), 'remove-input']
    if not code.strip() and not cell.get('outputs'): return None
    return cell

def page(nb_path: Path, dest: Path):
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    nb['cells'] = [c for c in map(page_cell, nb['cells']) if c is not None]
    nb['metadata'].pop('widgets', None)
    dest.write_text(json.dumps(nb, ensure_ascii=False), encoding='utf-8')

def modules() -> list:
    "The library's modules, by name under `modern_llm`; those of a sub-package dotted (`bench.harness`)."
    lib = ROOT / 'modern_llm'
    return sorted('.'.join(p.relative_to(lib).with_suffix('').parts) for p in lib.rglob('*.py') if not p.name.startswith('_'))

def notebooks() -> list:
    "The notebooks in reading order: the numbered ones by name, then the run notebook."
    nbs = sorted((ROOT / 'nbs').glob('*.ipynb'))
    return [n for n in nbs if n.name[0].isdigit()] + [n for n in nbs if not n.name[0].isdigit()]

def main():
    if OUT.exists(): shutil.rmtree(OUT)
    (OUT / 'api').mkdir(parents=True)
    pages = []
    for nb in notebooks():
        page(nb, OUT / nb.name)
        pages.append(nb.stem)
    for m in modules():
        title = f'modern_llm.{m}'   # reStructuredText: autodoc writes it, and MyST would show it as text
        (OUT / 'api' / f'{m}.rst').write_text(f'{title}\n{"=" * len(title)}\n\n.. automodule:: {title}\n   :members:\n', encoding='utf-8')
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    toc = lambda caption, entries, glob='': f'\n```{{toctree}}\n:caption: {caption}\n:hidden:\n{glob}\n' + '\n'.join(entries) + '\n```\n'
    (OUT / 'index.md').write_text(readme + toc('Notebooks', pages) + toc('API', ['api/*'], ':glob:'), encoding='utf-8')
    print(f'docs sources in {OUT.relative_to(ROOT)}: {len(pages)} notebooks, {len(modules())} modules')

if __name__ == '__main__': main()
