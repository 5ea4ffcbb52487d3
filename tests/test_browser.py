"""Once in a real browser: JupyterLab serves a notebook that builds the generation UI, Debian's chromium (driven by
playwright) runs the cell, types an instruction, clicks Generate, and the streamed answer appears."""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

CHROMIUM = '/usr/bin/chromium'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium not installed (make test installs it)')
NOTEBOOK = {'cells': [{'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'outputs': [], 'source':
            "from modern_llm.widgets import GenerateUI\nfrom modern_llm.train import tiny_pretrained\n"
            "ui = GenerateUI({'tiny': tiny_pretrained()})\nui.max_new_tokens.value = 6\nui.widget"}],
            'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}},
            'nbformat': 4, 'nbformat_minor': 5}

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_lab(root: Path, port: int):
    exe = str(Path(sys.executable).parent / 'jupyter')
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1'}
    proc = subprocess.Popen([exe, 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1', '--allow-root',
                             "--ServerApp.token=", "--ServerApp.password=", f'--ServerApp.root_dir={root}'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/api', timeout=2); return proc
        except OSError: time.sleep(0.5)
    proc.kill(); raise RuntimeError('JupyterLab did not start in 60 s')

def click_generate(root: Path, port: int):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
            '--disable-sync'])   # playwright gives each launch a fresh temporary profile
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f'http://127.0.0.1:{port}/lab/tree/ui.ipynb')
            page.locator('.jp-Notebook .jp-Cell').first.click()
            page.locator('.jp-Notebook .jp-Cell').first.press('Shift+Enter')
            box = page.locator('textarea[placeholder="Instruction"]')
            box.wait_for(timeout=90_000)
            box.fill('Name a colour.')
            page.get_by_role('button', name='Generate').click()
            # the answer panes are the textareas that are not the two input boxes
            panes = ("[...document.querySelectorAll('.jp-OutputArea textarea')]"
                     ".filter(t => !['Instruction', 'Input (optional)'].includes(t.placeholder))")
            page.get_by_text('stopped on').wait_for(timeout=60_000)   # the status line written when generation ends
            return page.evaluate(f"() => {panes}.map(t => t.value)")
        finally: browser.close()

def test_generate_button_streams_text_in_jupyterlab(tmp_path):
    (tmp_path / 'ui.ipynb').write_text(json.dumps(NOTEBOOK))
    port = free_port()
    lab = start_lab(tmp_path, port)
    try:
        try: answers = click_generate(tmp_path, port)
        except Exception: answers = click_generate(tmp_path, port)   # one retry: a cold kernel can miss the first timeout
    finally:
        lab.terminate(); lab.wait(timeout=30)
    from modern_llm.data import Example, Turn
    from modern_llm.generate import generate
    from modern_llm.train import tiny_pretrained
    expected = generate(tiny_pretrained(), [Example([Turn('user', 'Name a colour.')])], max_new_tokens=6, seed=0)[0].text
    assert answers == [expected] and expected, (answers, expected)   # exactly the model's greedy answer, streamed to the page
