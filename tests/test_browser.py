"""Once in a real browser: JupyterLab serves a notebook that builds the generation UI, Debian's chromium (driven by
playwright) runs the cell, types an instruction, clicks Generate, and the streamed answer appears on the page."""
import json, os, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

CHROMIUM = '/usr/bin/chromium'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium not installed (make test installs it)')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']
# The tiny random model answers gibberish, but real tokens through the real generation loop; sampling with a seed gives
# visible words (its greedy answers are mostly newlines) and stays reproducible.
SAMPLING = dict(max_new_tokens=6, temperature=1.0, seed=0)
NOTEBOOK = {'cells': [{'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'outputs': [], 'source':
            "from modern_llm.widgets import GenerateUI\nfrom modern_llm.testing import tiny_pretrained\n"
            "ui = GenerateUI({'tiny': tiny_pretrained()})\n"
            f"ui.sampling.max_new_tokens.value, ui.sampling.temperature.value, ui.sampling.seed.value = "
            f"{SAMPLING['max_new_tokens']}, {SAMPLING['temperature']}, {SAMPLING['seed']}\nui.widget"}],
            'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}},
            'nbformat': 4, 'nbformat_minor': 5}

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_lab(root: Path, port: int):
    "JupyterLab on loopback, without a token, in its own process group so that its kernels go with it."
    exe = str(Path(sys.executable).parent / 'jupyter')
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1'}
    proc = subprocess.Popen([exe, 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1', '--allow-root',
                             '--ServerApp.token=', '--ServerApp.password=', f'--ServerApp.root_dir={root}'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/api', timeout=2); return proc
        except OSError: time.sleep(0.5)
    stop_lab(proc); raise RuntimeError('JupyterLab did not start in 60 s')

def stop_lab(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try: proc.wait(timeout=20)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()

def click_generate(port: int, profile: Path) -> list:
    "Open the notebook, run its cell, type an instruction, click Generate; the answer panes' text."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f'http://127.0.0.1:{port}/lab/tree/ui.ipynb')
            cell = page.locator('.jp-Notebook .jp-Cell').first
            cell.click(); cell.press('Shift+Enter')
            box = page.locator('textarea[placeholder="Instruction"]')
            box.wait_for()
            box.fill('Name a colour.')
            page.get_by_role('button', name='Generate').click()
            page.get_by_text('stopped on').wait_for()   # the status line written when generation ends
            return page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea textarea[disabled]')].map(t => t.value)")
        finally: browser.close()

def test_generate_button_streams_text_in_jupyterlab(tmp_path):
    (tmp_path / 'nb').mkdir()
    (tmp_path / 'nb' / 'ui.ipynb').write_text(json.dumps(NOTEBOOK))
    port = free_port()
    lab = start_lab(tmp_path / 'nb', port)
    try:
        try: answers = click_generate(port, tmp_path / 'profile1')
        except Exception: answers = click_generate(port, tmp_path / 'profile2')   # one retry: a cold kernel can miss the first timeout
    finally: stop_lab(lab)
    from modern_llm.data import Example, Turn
    from modern_llm.generate import generate
    from modern_llm.testing import tiny_pretrained
    expected = generate(tiny_pretrained(), [Example([Turn('user', 'Name a colour.')])], **SAMPLING)[0].text
    assert expected.strip() and answers == [expected], (answers, expected)   # exactly the model's answer, streamed to the page
