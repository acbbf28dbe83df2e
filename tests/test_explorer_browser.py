"""End-to-end check of the kernel-free explorer in a static Jupyter Book.

Builds a one-notebook book with the real ``_config.yml`` and the offline
widget bundle, opens it in headless Chromium and moves both sliders.  This is
the only way to prove that the widgets work with no kernel and no internet:
Python-side tests cannot see what the browser's widget manager does.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDGETS_JS = REPO / "book" / "widgets_js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium chromium-driver)"),
]

COLOURS = [["red", "green", "blue"], ["orange", "purple", "cyan"]]

# The notebook builds the widget itself, as the book's notebooks do, so that
# nbclient saves the widget state in the notebook metadata.
CELL = f"""
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
from monosem_lib.explorer import explorer, figure_png

def solid(colour):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow([[mcolors.to_rgb(colour)]])
    ax.axis("off")
    return figure_png(fig, dpi=40)

colours = {COLOURS!r}
images = [[solid(c) for c in row] for row in colours]
captions = [[f"cell {{i}},{{j}} {{c}}" for j, c in enumerate(row)] for i, row in enumerate(colours)]
explorer(images, [-1.0, 0.5], [0.1, 0.2, 0.3], "bias offset", "feature frequency", captions)
"""


def _execute_notebook(path: Path) -> None:
    """Run the one-cell notebook with nbclient (stores widget state by default)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    # The math checks that MathJax, too, comes from the book and not a CDN.
    nb.cells = [nbformat.v4.new_markdown_cell("Loss $L = x^2$."), nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # cwd = repo root, so the kernel imports this checkout's monosem_lib.
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(REPO)}}).execute()
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata.get("widgets", {})
    nbformat.write(nb, path)


def _build_book(root: Path) -> Path:
    """Build a tiny book with the real _config.yml; the page sits in a subfolder."""
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    shutil.copytree(WIDGETS_JS, root / "book" / "widgets_js")
    (root / "intro.md").write_text("# Test book\n\nIntro.\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/explorer\n")
    (root / "executed").mkdir()
    _execute_notebook(root / "executed" / "explorer.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", str(root)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"jupyter-book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return root / "_build" / "html"


@pytest.fixture(scope="module")
def book_url(tmp_path_factory):
    """Serve the built book on localhost; yield the explorer page URL."""
    # Idempotent and instant when book/widgets_js is already up to date.
    subprocess.run(["bash", str(REPO / "book" / "fetch_widget_js.sh")], check=True, capture_output=True)
    html = _build_book(tmp_path_factory.mktemp("book"))
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/executed/explorer.html"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium that logs every network request it makes."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
                 "--window-size=1000,900"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


# The panel on show (the Stack view renders only its selected child), read as
# the centre pixel of its image, so the test sees pixels, not just a new URL.
VISIBLE = """
const shown = e => e.offsetParent !== null;
const img = [...document.querySelectorAll('img.widget-image')].filter(shown);
const cap = [...document.querySelectorAll('.widget-html-content')].filter(shown);
const centre = e => {
  if (!e.complete || !e.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = e.naturalWidth; c.height = e.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(e, 0, 0);
  return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3));
};
return [img.map(centre), cap.map(e => e.textContent.trim())];
"""


def _visible(driver):
    """(centre RGB, caption) of the panel on show; waits until it has loaded."""
    from selenium.webdriver.support.ui import WebDriverWait

    def one_loaded(d):
        pixels, caps = d.execute_script(VISIBLE)
        return (pixels[0], caps[0]) if len(pixels) == len(caps) == 1 and pixels[0] else None

    return WebDriverWait(driver, 30).until(one_loaded)


def _press_right(driver, slider_index: int, before):
    """Arrow-right on a slider handle; wait for the panel to change."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    handles = driver.find_elements("css selector", ".widget-slider .noUi-handle")
    handles[slider_index].click()
    handles[slider_index].send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(driver, 10).until(lambda d: _visible(d)[0] != before)
    return _visible(driver)


def _requested_urls(driver) -> set[str]:
    """Every URL the page asked for: DevTools log plus resource timing."""
    urls = set(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def _near(rgb, colour: str) -> bool:
    """Pixel matches a named matplotlib colour (PNG rounding aside)."""
    from matplotlib.colors import to_rgb

    return all(abs(a - round(255 * b)) <= 3 for a, b in zip(rgb, to_rgb(colour)))


def _is_local(url: str) -> bool:
    parts = urlparse(url)
    # chrome:// pages are browser-internal resources, never network requests.
    return parts.scheme in ("data", "blob", "file", "chrome") or parts.hostname in ("127.0.0.1", "localhost")


def test_sliders_switch_images_offline(book_url, browser):
    browser.get(book_url)
    rgb0, cap0 = _visible(browser)
    assert cap0 == "cell 0,0 red" and _near(rgb0, "red")
    rgb1, cap1 = _press_right(browser, 1, rgb0)  # column slider: feature frequency
    assert cap1 == "cell 0,1 green" and _near(rgb1, "green")
    rgb2, cap2 = _press_right(browser, 0, rgb1)  # row slider: bias offset
    assert cap2 == "cell 1,1 purple" and _near(rgb2, "purple")
    browser.save_screenshot("/tmp/explorer_test.png")
    assert browser.find_elements("css selector", "mjx-container"), "MathJax did not typeset"

    urls = _requested_urls(browser)
    assert any("/_static/embed.js" in u for u in urls), urls
    remote = sorted(u for u in urls if not _is_local(u))
    assert not remote, f"requests left localhost: {remote}"
