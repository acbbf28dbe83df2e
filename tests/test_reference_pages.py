"""The nbval reference pages replay their own copy of each notebook's code: they must be the
current code, or `make test` would pass on code that the book no longer runs (`make reference`)."""
import jupytext
import nbformat
import pytest

from monosem_lib import chapters

REFERENCE = chapters.ROOT / "tests" / "notebooks"
PAGES = [(chapter, batch) for chapter in chapters.CHAPTERS for batch in chapter.batches or (None,)]


def code_cells(notebook) -> list[str]:
    return [c.source for c in notebook.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("chapter, batch", PAGES, ids=[chapters.page_name(c, b) for c, b in PAGES])
def test_reference_page_runs_the_current_code(chapter, batch):
    page = REFERENCE / f"{chapters.page_name(chapter, batch)}.ipynb"
    assert code_cells(nbformat.read(page, as_version=4)) == \
        code_cells(jupytext.read(chapters.NOTEBOOKS / chapter.notebook)), f"{page.name} is stale: run `make reference`"
