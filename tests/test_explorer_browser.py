"""End-to-end check of the kernel-free explorer in a static Jupyter Book.

Builds a one-notebook book with the real ``_config.yml`` and the offline
widget bundle, opens it in headless Chromium and moves both sliders.  This is
the only way to prove that the widgets work with no kernel and no internet:
Python-side tests cannot see what the browser's widget manager does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, is_local, press_right, requested_urls, serve, visible

REPO = Path(__file__).resolve().parents[1]
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
    with serve(html) as base:
        yield f"{base}/executed/explorer.html"


def _near(rgb, colour: str) -> bool:
    """Pixel matches a named matplotlib colour (PNG rounding aside)."""
    from matplotlib.colors import to_rgb

    return all(abs(a - round(255 * b)) <= 3 for a, b in zip(rgb, to_rgb(colour)))


def test_sliders_switch_images_offline(book_url, browser):
    browser.get(book_url)
    rgb0, cap0 = visible(browser)
    assert cap0 == "cell 0,0 red" and _near(rgb0, "red")
    rgb1, cap1 = press_right(browser, 1, (rgb0, cap0))  # column slider: feature frequency
    assert cap1 == "cell 0,1 green" and _near(rgb1, "green")
    rgb2, cap2 = press_right(browser, 0, (rgb1, cap1))  # row slider: bias offset
    assert cap2 == "cell 1,1 purple" and _near(rgb2, "purple")
    browser.save_screenshot("/tmp/explorer_test.png")
    assert browser.find_elements("css selector", "mjx-container"), "MathJax did not typeset"

    urls = requested_urls(browser)
    assert any("/_static/embed.js" in u for u in urls), urls
    remote = sorted(u for u in urls if not is_local(u))
    assert not remote, f"requests left localhost: {remote}"
