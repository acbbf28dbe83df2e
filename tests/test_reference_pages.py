"""The nbval reference pages replay their own copy of each notebook's code: they must be the
current code, or `make test` would pass on code that the book no longer runs (`make reference`)."""
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "tests" / "notebooks").glob("*.ipynb"))


def code_cells(notebook) -> list[str]:
    return [c.source for c in notebook.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def source_of(page: Path) -> Path:
    """tests/notebooks/4-1-2-negative-bias-LR3.ipynb → notebooks/4-1-2-negative-bias.md"""
    matches = [md for md in (ROOT / "notebooks").glob("*.md") if page.stem.startswith(md.stem + "-")
               or page.stem == md.stem]
    assert matches, f"no notebook in notebooks/ for the reference page {page.name}"
    return max(matches, key=lambda md: len(md.stem))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_reference_page_runs_the_current_code(page):
    assert code_cells(nbformat.read(page, as_version=4)) == code_cells(jupytext.read(source_of(page))), \
        f"{page.name} is stale: run `make reference`"
