"""The library proper never imports the benchmark: every module of modern_llm outside modern_llm/bench/ is imported in a
fresh process, and no module of modern_llm.bench may come with it (the `bench` command imports it inside the command)."""
import json, subprocess, sys
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / 'modern_llm'
CORE = sorted(f'modern_llm.{p.stem}' for p in LIB.glob('*.py') if p.stem != '__init__')   # the top level only: bench/ is apart

def imported_after(modules: list) -> list:
    "The modern_llm.bench modules loaded in a fresh interpreter once `modules` are imported."
    code = ('import importlib, json, sys\n'
            f'for m in {modules!r}: importlib.import_module(m)\n'
            "print(json.dumps(sorted(m for m in sys.modules if m == 'modern_llm.bench' or m.startswith('modern_llm.bench.'))))")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.splitlines()[-1])

def test_core_never_imports_the_benchmark():
    assert 'modern_llm.cli' in CORE and 'modern_llm.train' in CORE and not any('bench' in m for m in CORE), CORE
    assert imported_after(CORE) == []

def test_the_check_sees_the_benchmark_when_it_is_imported():
    assert 'modern_llm.bench.harness' in imported_after(['modern_llm.bench.harness'])
