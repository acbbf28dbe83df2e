"""The book's chapters: which notebook replicates which section, for which batches, and how to
execute one with papermill into `executed/` (the pages Jupyter Book renders)."""
import dataclasses
import json
import os
import re
from pathlib import Path

from . import batches
from .config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "executed"


@dataclasses.dataclass(frozen=True)
class Chapter:
    section: str
    notebook: str            # jupytext source in notebooks/
    batches: tuple           # one executed page per entry; "B1,B2" means one page over several batches;
                             # empty: one page over the whole store (the claims chapter)


CHAPTERS = [
    Chapter("2", "2-setup.md", ("LR1",)),
    Chapter("3", "3-measuring.md", ("K1",)),
    Chapter("4.1.1", "4-1-1-basins.md", ("LR1", "LR2")),
    Chapter("4.1.2", "4-1-2-negative-bias.md", ("LR3", "LR4")),
    Chapter("4.1.2-offsets", "4-1-2-offset-sweep.md", ("B1,B2,B3,B4,B5",)),
    Chapter("4.1.2-gelu", "4-1-2-gelu.md", ("G1",)),
    Chapter("4.1.3", "4-1-3-l1.md", ("RG1",)),
    Chapter("4.1.4", "4-1-4-neurons.md", ("K0,K1,K2",)),
    Chapter("4.1.5", "4-1-5-sparsity.md", ("E1,E2,E3,E4",)),
    Chapter("4.2", "4-2-reprojector.md", ("RP1",)),
    Chapter("4.3", "4-3-abs.md", ("LR5", "D1")),
    Chapter("5", "5-mechanism.md", ("E1,E3",)),
    Chapter("beyond", "7-beyond.md", (",".join(batches.BEYOND),)),
    Chapter("claims", "6-claims.md", ()),
]


def get_chapter(section: str) -> Chapter:
    for chapter in CHAPTERS:
        if chapter.section == section:
            return chapter
    raise ConfigError(f"unknown section {section!r}; valid: {', '.join(c.section for c in CHAPTERS)}")


def page_name(chapter: Chapter, batch: str | None) -> str:
    stem = Path(chapter.notebook).stem
    return stem if batch is None else f"{stem}-{batch.replace(',', '-')}"


def pages(section: str, batch: str | None = None) -> list[tuple[str, str | None]]:
    """The (section, batch) pages that `execute SECTION [--batch B]` writes: a section's own batches
    (or the one named, which must be one of them); `all`: every page of every chapter."""
    if section == "all":
        if batch:
            raise ConfigError(f"--batch {batch} names a page of one section; give the section, not all")
        return [(c.section, b) for c in CHAPTERS for b in c.batches or (None,)]
    chapter = get_chapter(section)
    if batch is None:
        return [(section, b) for b in chapter.batches or (None,)]
    for part in batch.split(","):
        batches.get_batch(part.strip())
    if batch not in chapter.batches:
        raise ConfigError(f"§{section} has no page for batch {batch!r}; its pages: "
                          f"{', '.join(chapter.batches) or 'one over the whole store (no --batch)'}")
    return [(section, batch)]


def failed_path(section: str, batch: str | None, out_dir: Path = EXECUTED) -> Path:
    """Where a page whose execution failed is kept (beside the last good one, which it does not replace)."""
    return out_dir / f"{page_name(get_chapter(section), batch)}.failed.ipynb"


def running_path(out: Path, pid: int) -> Path:
    """Where process `pid` writes page `out` until every cell has run."""
    return out.with_name(f".running-{pid}-{out.name}")


def remove_orphans(out_dir: Path) -> None:
    """Remove the half-written pages of `execute` processes that died without cleaning up (kill -9):
    each is named after its process (running_path), so a live one's is left alone."""
    for path in out_dir.glob(running_path(Path("*.ipynb"), "*").name):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not alive(int(pid)):
            path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True


def execute(section: str, batch: str | None, preset: str, seed: int = 0, results_dir=None,
            out_dir: Path = EXECUTED) -> list[Path]:
    """Execute a chapter's notebook once per batch it covers (or for `batch` only). Each page is
    executed into a temporary file that replaces the page only when every cell ran; a failed one
    is kept as `failed_path` for its traceback."""
    import jupytext
    import papermill
    from jupyter_client.manager import KernelManager
    from papermill.exceptions import PapermillExecutionError
    wanted = pages(section, batch)
    chapter = get_chapter(section)
    batches.get_preset(preset)
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"the seed must be an integer ≥ 0, got {seed!r}")
    written = []
    remove_orphans(out_dir)
    for _, name in wanted:
        out = out_dir / f"{page_name(chapter, name)}.ipynb"
        parameters = {"batch": name, "preset": preset, "seed": seed,
                      "results_dir": str(results_dir) if results_dir else None}
        running = running_path(out, os.getpid())
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            kernel = KernelManager(kernel_name="python3", transport_encryption=encryption())
            try:
                papermill.execute_notebook(jupytext.read(NOTEBOOKS / chapter.notebook), str(running), km=kernel,
                                           parameters=parameters, cwd=str(ROOT), progress_bar=False,
                                           kernel_name="python3")
            except PapermillExecutionError:
                os.replace(running, failed_path(section, name, out_dir))
                raise
            finally:
                if kernel.is_alive():  # papermill leaves a kernel it was given running
                    kernel.shutdown_kernel(now=True)
            tidy_page(running)
            if len(chapter.batches) > 1:
                title_page(running, name)
            os.replace(running, out)
        except OSError as error:
            raise ConfigError(f"cannot write the page {out}: {error.strerror or error}; the last good page "
                              f"is kept (free some space or make {out_dir} writable, or choose --out-dir)") from error
        finally:
            if running.exists():  # an interrupted page
                running.unlink()
        failed_path(section, name, out_dir).unlink(missing_ok=True)
        written.append(out)
    return written


def encryption() -> str:
    """CurveZMQ between papermill and the kernel where pyzmq has it: ipykernel warns on every page
    that an unencrypted TCP kernel can be read by other processes on the machine."""
    import zmq
    return "auto" if zmq.has("curve") else "disabled"


def write_build_info(preset: str, seed: int, results_dir=None, out_dir: Path = EXECUTED) -> Path:
    """executed/build-info.md, included by the book's non-notebook pages: the preset and seed of
    this build, and how long each stored batch took to train; and executed/paper-scale.md: how
    much of the paper preset exists."""
    from . import paper_scale, store
    p = batches.get_preset(preset)
    lines = [f"**This build: preset `{p.name}` (N = {p.n}, d = {p.d}, {p.steps_text()}, batch size "
             f"{p.batch_work}/k), seed {seed}: {p.protocol}.**", "",
             "| batch | models | steps | training time (s) | seeds stored |", "|---|---|---|---|---|"]
    for name in batches.BATCHES:
        try:
            models = store.load(name, preset, seed, results_dir)
        except store.StoreError:
            continue
        stored = ", ".join(map(str, store.seeds(name, preset, results_dir)))
        lines.append(f"| {name} | {len(models)} | {models[0].config.steps} | "
                     f"{sum(m.seconds for m in models):.0f} | {stored} |")
    path = out_dir / "build-info.md"
    store.atomic_write(("\n".join(lines) + "\n").encode(), path)
    store.atomic_write((paper_scale.status(0, results_dir) + "\n").encode(), out_dir / "paper-scale.md")
    write_verdicts(preset, seed, results_dir, out_dir)
    return path


def write_verdicts(preset: str, seed: int, results_dir=None, out_dir: Path = EXECUTED) -> Path:
    """executed/verdicts.md, the intro's first table: every claim at this build's preset, at `half`
    and at the paper's scale, each with a one-line reason and a link to its page."""
    from . import claims, store
    path = out_dir / "verdicts.md"
    table = claims.verdict_table([c.number for c in claims.CLAIMS], preset, seed, results_dir,
                                 link_prefix="../executed/")
    store.atomic_write((table + "\n").encode(), path)
    return path


def title_page(path: Path, batch: str) -> None:
    """Name the page's batch in its title, where one notebook gives a page per batch (LR1 and LR2):
    the title is what the sidebar and the browser show."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            first, _, rest = cell.source.partition("\n")
            cell.source = f"{first}: {batch} ({batches.get_batch(batch).title})" + (f"\n{rest}" if rest else "")
            break
    nbformat.write(nb, path)


def tidy_page(path: Path) -> None:
    """Fold papermill's injected-parameters cell away in the book, like the parameters cell, and
    make a re-execution with the same outputs the same file: number the cells (jupytext and
    papermill give them random ids, ipywidgets its models), and drop the run's clock times and
    papermill's copy of the source notebook, keeping the parameters the page ran with."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {"parameters": nb.metadata.get("papermill", {}).get("parameters", {})}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
        for volatile in ("execution", "papermill"):
            cell.metadata.pop(volatile, None)
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    Path(path).write_text(stable_widget_ids(nb) + "\n", encoding="utf-8")  # as nbformat.write ends a file


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stable_widget_ids(nb) -> str:
    """The notebook as JSON text with its widget models renamed 0, 1, 2, … (32 hex digits, as
    ipywidgets' random ids): in the order the outputs show them, then each model's references in
    the order its sorted state names them; the models nothing reaches come last, ordered by their
    states as renamed so far."""
    import nbformat
    text = nbformat.writes(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    if not state:
        return text
    roots = [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells for o in c.get("outputs", [])
             if WIDGET_VIEW in o.get("data", {})]
    order: dict[str, None] = {}
    queue = [m for m in roots if m in state]
    while queue:
        model = queue.pop(0)
        if model not in order:
            order[model] = None
            queue += [m for m in re.findall(r"IPY_MODEL_([0-9a-f]{32})", json.dumps(state[model], sort_keys=True))
                      if m in state]
    names = {model: f"{n:032x}" for n, model in enumerate(order)}
    renamed = lambda m: re.sub(r"[0-9a-f]{32}", lambda x: names.get(x.group(), x.group()),
                               json.dumps(state[m], sort_keys=True))
    rest = sorted(set(state) - set(order), key=renamed)   # e.g. jslink's links: they reach models, none reach them
    names |= {model: f"{n:032x}" for n, model in enumerate(rest, len(order))}
    text = re.sub(r"[0-9a-f]{32}", lambda x: names.get(x.group(), x.group()), text)  # at once: no rename of a rename
    return nbformat.writes(nbformat.reads(text, as_version=4))  # the state's keys sorted by their new ids


def table(header, rows):
    """A Markdown table for a page: `header` a list of column names, `rows` lists of cells."""
    from IPython.display import Markdown
    cell = lambda x: str(x).replace("|", "\\|")
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    return Markdown("\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]))


COLUMNS = {"loss": ("min. loss", "{:.4f}"), "mono_per_feature": ("mono / N", "{:.3f}"),
           "mean_bias": ("mean bias", "{:+.3f}"), "band": ("band (bias > 0.05)", "{}"),
           "mono_neurons": ("mono neurons", "{}"), "features_with_1": ("features with 1 mono neuron", "{}"),
           "features_with_2": ("with 2", "{}"), "features_with_0": ("with 0", "{}")}


def models_table(models, fields, columns=("loss", "mono_per_feature", "mean_bias")):
    """One row per model: its swept `fields`, then the metrics.summary `columns` (keys of COLUMNS)."""
    from . import metrics
    rows = []
    for m in models:
        s = metrics.summary(m)
        rows.append([*(f"{getattr(m.config, f):g}" for f in fields), *(COLUMNS[c][1].format(s[c]) for c in columns)])
    return table([*fields, *(COLUMNS[c][0] for c in columns)], rows)


def banner(preset: str, seed: int, batch: str):
    """The line every page opens with: which preset, seed and batch produced its figures."""
    from IPython.display import Markdown
    p = batches.get_preset(preset)
    steps = sorted({c.steps for name in batch.split(",") for c in batches.configs(name.strip(), preset)})
    return Markdown(f"**Figures on this page: batch {batch.replace(',', ', ')}, preset `{p.name}` "
                    f"(N = {p.n}, d = {p.d}, {' or '.join(map(str, steps))} steps, batch size "
                    f"{p.batch_work}/k), seed {seed}: {p.protocol}.**"
                    + ("" if p.name == "paper" or set(batch.split(",")) <= set(batches.BEYOND) else
                       " The paper's own scale (preset `paper`) is shown, where trained, at the end of the page."))

