"""The docs site that `make docs` builds, in a real browser: served on loopback, Debian's chromium (driven by playwright)
opens the masking and training pages and finds the mask that `show_mask` printed and the loss curve drawn; the pages
ask for nothing outside the site."""
import functools, http.server, threading
from pathlib import Path
import pytest
from test_browser import ARGS, CHROMIUM

SITE = Path(__file__).resolve().parent.parent / '_site'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium not installed (make test installs it)')

@pytest.fixture(scope='module')
def site_url():
    assert (SITE / 'index.html').exists(), f'no docs site in {SITE}: build it with `make docs`'
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)   # port 0: a free one
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{server.server_address[1]}'
    finally: server.shutdown(); server.server_close()

def visit(url: str, page_js: str, profile: Path):
    "Open `url` and evaluate `page_js` there, once everything has loaded; (its value, the URLs requested)."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page, requested = browser.new_page(), []
            page.set_default_timeout(60_000)
            page.on('request', lambda r: requested.append(r.url))
            page.goto(url, wait_until='networkidle')
            return page.evaluate(page_js), requested
        finally: browser.close()

def outside(requested: list, base: str) -> list: return [u for u in requested if not (u.startswith(base) or u.startswith('data:'))]

def test_masking_page_shows_the_mask(site_url, tmp_path):
    js = "() => ['.cell_output', '.cell_input'].map(css => [...document.querySelectorAll(css)].map(o => o.innerText).join('\\n'))"
    (outputs, inputs), requested = visit(f'{site_url}/04_masking.html', js, tmp_path)
    assert '⟦5<|im_end|>⟧' in outputs and "trained  '5'" in outputs, outputs   # the chat example's mask and its token table
    assert 'def show_mask' in inputs and '#|' not in inputs                    # the code, without nbdev's directives
    assert not outside(requested, site_url), outside(requested, site_url)

def test_training_page_shows_the_loss_curve(site_url, tmp_path):
    js = "() => [...document.querySelectorAll('.cell_output img')].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    images, requested = visit(f'{site_url}/09_train.html', js, tmp_path)
    assert images and all(done and w > 300 and h > 100 for done, w, h in images), images   # loaded, the size of a plot
    assert not outside(requested, site_url), outside(requested, site_url)
