"""The whole book as `make test` builds it (from the result store and the published set, Sphinx
warnings as errors): every page of the table of contents is there, executed without an error or a
warning in its outputs, says which preset drew its figures, and the explorer works in the browser
with no kernel and no internet. Run outside `make test` only when MONOSEM_BOOK_BUILT=1 says the
book in _build/html is fresh."""
import os
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.browser import CHROMIUM, is_local, press_right, requested_urls, serve, visible

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"

pytestmark = pytest.mark.skipif(os.environ.get("MONOSEM_BOOK_BUILT") != "1",
                                reason="the built book is checked by `make test`, which builds it first")


def toc_files() -> list[str]:
    def walk(entries):
        for entry in entries:
            yield entry["file"]
            yield from walk(entry.get("sections", []))
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [toc["root"], *(f for part in toc["parts"] for f in walk(part["chapters"]))]


def executed_pages() -> list[Path]:
    return [REPO / f"{f}.ipynb" for f in toc_files() if f.startswith("executed/")]


def test_every_page_of_the_toc_is_built():
    missing = [f for f in toc_files() if not (HTML / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.parametrize("page", executed_pages(), ids=lambda p: p.stem)
def test_page_ran_cleanly_and_names_its_preset(page):
    nb = nbformat.read(page, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    stderr = [o.text[:300] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not errors and not stderr, f"{page.name}: errors {errors}, stderr {stderr}"
    html = (HTML / "executed" / f"{page.stem}.html").read_text()
    named = re.findall(r'preset <code[^>]*><span class="pre">(\w+)</span>', html, re.IGNORECASE)
    assert build_preset() in named, f"{page.name} does not name the build's preset {build_preset()!r}"


def build_preset() -> str:
    """The preset the book was built with, from the line every page's build info opens with."""
    return re.search(r"preset `(\w+)`", (REPO / "executed" / "build-info.md").read_text()).group(1)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium chromium-driver)")
@pytest.mark.parametrize("stem", ["offset-sweep", "7-beyond"])  # sliders: (offset, eps), (protocol, strength)
def test_book_explorer_works_offline(browser, stem):
    page = next(f for f in toc_files() if stem in f)
    with serve(HTML) as base:
        browser.get(f"{base}/{page}.html")
        first = visible(browser)
        after_column = press_right(browser, 1, first)  # the second slider
        after_row = press_right(browser, 0, after_column)  # the first
        assert len({first[1], after_column[1], after_row[1]}) == 3, (first[1], after_column[1], after_row[1])
        remote = sorted(u for u in requested_urls(browser) if not is_local(u))
    assert not remote, f"requests left localhost: {remote}"
