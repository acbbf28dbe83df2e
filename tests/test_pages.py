"""What the pages are built from (issue 17): titles that name their batch, tables, the traces'
colour scale, the explorer's image width, the opening verdict table. No training."""
import json
import uuid

import nbformat

from monosem_lib import chapters, claims, explorer, plots


def test_a_page_per_batch_names_its_batch_in_its_title(tmp_path):
    path = tmp_path / "page.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 4.1.1 Basins\n\ntext")])
    nbformat.write(nb, path)
    chapters.title_page(path, "LR2")
    first = nbformat.read(path, as_version=4).cells[0].source
    assert first.startswith("# 4.1.1 Basins: LR2 (Learning-rate sweep, power-law features)\n") and first.endswith("text")


def test_table_escapes_pipes():
    text = chapters.table(["a", "b"], [["x|y", 1]]).data
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_traces_colour_offsets_on_a_linear_scale():
    """Negative offsets on a log scale gave nan colours: a blank figure."""
    class Config:
        def __init__(self, offset):
            self.offset = offset
    results = [type("R", (), {"config": Config(o)})() for o in (-2.0, -0.5, 0.0)]
    assert not plots.log_scale(results, "offset")
    colours, mappable = plots._colours(results, "offset")
    assert mappable.norm.vmin == -2.0 and all(0 <= c <= 1 for rgba in colours for c in rgba)
    positive = [type("R", (), {"config": Config(o)})() for o in (0.1, 1.0)]
    assert plots.log_scale(positive, "offset") and not plots.log_scale(positive, "offset", log=False)


def test_explorer_images_keep_their_pixel_width():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, _ = plt.subplots(figsize=(2, 1))
    png = explorer.figure_png(fig, dpi=50)
    panel = explorer._panel(png, "caption")
    import io
    width = plt.imread(io.BytesIO(png)).shape[1]
    assert explorer.png_width(png) == width and panel.children[0].layout.width == f"{width}px"


def test_the_verdict_table_marks_every_claim_and_links_its_page(tmp_path, monkeypatch):
    """With nothing stored or published, every cell says not trained and names the batch; beside the
    build's preset stand the presets that run the paper's protocol, once each."""
    from monosem_lib import store
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    table = claims.verdict_table([1, 11], "smoke", 0, tmp_path / "results", link_prefix="../executed/")
    lines = table.splitlines()
    assert lines[0] == "| claim | preset `smoke` | preset `half` | preset `paper` |"
    assert lines[2].startswith("| [1](../executed/4-1-1-basins-LR1.ipynb): ")
    assert lines[2].count("· **not trained yet**: LR1 is not trained at preset") == 3
    assert claims.verdict_table([1], "half", 0, tmp_path / "results").splitlines()[0] == \
        "| claim | preset `half` | preset `paper` |"
    assert lines[3].startswith("| [11](../executed/5-mechanism-E1-E3.ipynb): ") and len(lines) == 4


def test_every_banner_says_what_its_preset_runs():
    """A page at the quick preset says its run stops the bias decay early; one at half, that it runs the
    paper's protocol; each with the steps its batch trains for."""
    quick, half = (chapters.banner(p, 0, "B3").data for p in ("quick", "half"))
    assert "preset `quick`" in quick and "stop the first-half bias decay early" in quick and "16384 steps" in quick
    assert "the paper's protocol" in half and "131072 steps" in half
    assert "1048576 steps" in chapters.banner("half", 0, "E1").data


def test_an_executed_page_has_numbered_cells_no_clock_times_and_a_folded_injected_cell(tmp_path):
    """Re-executing a page with the same outputs must give the same file (the nbval references are in
    git): stable cell ids, no clock times, the parameters kept."""
    clock = {"execution": {"iopub.execute_input": "2026-11-30T14:07:13Z"},
             "papermill": {"duration": 1.5, "start_time": "2026-11-30T14:07:13Z"}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"),
                                         nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["injected-parameters"]}),
                                         nbformat.v4.new_code_cell("x", metadata=dict(clock))],
                                  metadata={"papermill": {"parameters": {"preset": "half"}, "duration": 4.8,
                                                          "input_path": {"cells": []}}})
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    chapters.tidy_page(path)
    folded = nbformat.read(path, as_version=4)
    assert folded.metadata.papermill == {"parameters": {"preset": "half"}}
    assert not set(clock) & set(folded.cells[2].metadata)
    assert [c.id for c in folded.cells] == ["cell-0", "cell-1", "cell-2"]
    assert folded.cells[1].metadata.tags == ["injected-parameters", "hide-cell"]
    assert "tags" not in folded.cells[2].metadata or folded.cells[2].metadata.tags == []


def widget_page(ids: list[str]):
    """A page with one widget output (ids[0]) whose state references ids[1], which references ids[2];
    ids[3] and ids[4] reference those but are referenced by none."""
    state = {ids[0]: {"state": {"children": [f"IPY_MODEL_{ids[1]}"]}},
             ids[1]: {"state": {"layout": f"IPY_MODEL_{ids[2]}"}}, ids[2]: {"state": {"width": "1px"}},
             ids[3]: {"state": {"source": f"IPY_MODEL_{ids[2]}"}},    # links: nothing refers to them
             ids[4]: {"state": {"source": f"IPY_MODEL_{ids[1]}"}}}
    view = nbformat.v4.new_output("display_data", data={chapters.WIDGET_VIEW: {"model_id": ids[0]}})
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w", outputs=[view], id="cell-0")],
                                    metadata={"widgets": {chapters.WIDGET_STATE: {"state": state}}})


def test_widget_models_get_the_same_ids_on_every_execution():
    """ipywidgets names its models at random; two executions of the same page must give one file."""
    first = chapters.stable_widget_ids(widget_page([uuid.uuid4().hex for _ in range(5)]))
    again = chapters.stable_widget_ids(widget_page([uuid.uuid4().hex for _ in range(5)]))
    assert first == again
    state = json.loads(first)["metadata"]["widgets"][chapters.WIDGET_STATE]["state"]
    assert state[f"{0:032x}"]["state"]["children"] == [f"IPY_MODEL_{1:032x}"]
    assert state[f"{1:032x}"]["state"]["layout"] == f"IPY_MODEL_{2:032x}"
    assert state[f"{3:032x}"]["state"]["source"] == f"IPY_MODEL_{1:032x}"   # the unreached, by renamed state
