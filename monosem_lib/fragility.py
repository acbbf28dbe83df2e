"""Beyond the paper: is the bias decay still fragile under a remedy (remedies.py)? The chapter's
numbers: every model of the beyond batches over every stored seed, grouped by setting and protocol,
and the verdict against the paper's protocol at equal training length and against LR3 and D1.
"""
import dataclasses
import math
import statistics

from . import batches, metrics, remedies, store

REMEDIES = tuple(remedies.FIELDS)  # silent, tied, regulariser
PROTOCOLS = ("paper",) + REMEDIES
# The fragile places of the paper's protocol that the verdict batches test, and Table 1's batch each is
# compared against.
SETTINGS = {"XL": "LR3", "XLS": "LR3", "XA": "D1", "XE": "E1", "XB": "B3"}
MONO_TOLERANCE = 0.02   # as `verify`: mono/N within 0.02 counts as equal
LOSS_TOLERANCE = 0.01   # and the loss within 1 %


@dataclasses.dataclass
class Row:
    """One trained model of a beyond batch, reduced to what the chapter compares."""
    batch: str
    seed: int
    setting: str       # where it was trained: "XL lr 0.01", "XA", ...
    protocol: str      # remedies.protocol
    strength: float
    mono: float        # # mono neurons / N
    loss: float        # min. smoothed loss
    model: object


def setting(batch: str, config) -> str:
    return f"{batch} lr {config.lr:g}" if batch in ("XL", "XLS", "XS") else batch


def gather(preset: str, results_dir=None) -> tuple[list[Row], dict]:
    """(every stored model of the beyond batches at every stored seed, {batch: seeds found})."""
    rows, seeds = [], {}
    for name in batches.BEYOND:
        seeds[name] = store.seeds(name, preset, results_dir)
        for seed in seeds[name]:
            for m in store.load(name, preset, seed, results_dir):
                s = metrics.summary(m)
                rows.append(Row(name, seed, setting(name, m.config), remedies.protocol(m.config),
                                remedies.strength(m.config), s["mono_per_feature"], s["loss"], m))
    return rows, seeds


@dataclasses.dataclass
class Cell:
    """One protocol at one setting over seeds: mean and range of mono/N and loss."""
    mono: float
    mono_range: tuple
    loss: float
    loss_range: tuple
    seeds: int

    @classmethod
    def of(cls, rows):
        monos, losses = [r.mono for r in rows], [r.loss for r in rows]
        return cls(statistics.fmean(monos), (min(monos), max(monos)), statistics.fmean(losses),
                   (min(losses), max(losses)), len(rows))


def at_setting(rows: list[Row], protocol: str, where: str) -> Cell | None:
    """A protocol at one place of the verdict batches, over seeds. A verdict batch holds each remedy
    once; where it holds the paper's decay at two rates (XA), the slower one is Table 1's (D1's best)."""
    chosen = [r for r in rows if r.setting == where and r.protocol == protocol and r.batch in SETTINGS]
    if protocol == "paper" and chosen:
        slowest = min(r.strength for r in chosen)
        chosen = [r for r in chosen if r.strength == slowest]
    return Cell.of(chosen) if chosen else None


def table(rows: list[Row]) -> dict:
    """{place: {protocol: Cell}} for the verdict batches, places in the chapter's order."""
    order = sorted({(list(SETTINGS).index(r.batch), r.setting) for r in rows if r.batch in SETTINGS})
    return {place: {p: cell for p in PROTOCOLS if (cell := at_setting(rows, p, place)) is not None}
            for _, place in order}


def reference(batch: str, lr: float, preset: str, results_dir=None):
    """Table 1's model for a place of `batch` at `preset`, seed 0 (its own training length), with its
    summary: (model, metrics.summary), or None where it is not stored."""
    name = SETTINGS[batch]
    try:
        models = store.load(name, preset, 0, results_dir)
    except store.StoreError:
        return None
    match = {"LR3": lambda c: math.isclose(c.lr, lr),
             "D1": lambda c: math.isclose(c.decay, 10 ** -1.5),
             "E1": lambda c: math.isclose(c.eps, 2 ** -8),
             "B3": lambda c: c.offset == -2.0}[name]
    found = [m for m in models if match(m.config)]
    return (found[0], metrics.summary(found[0])) if found else None


def at_least_as_good(cell: Cell, mono: float, loss: float) -> bool:
    """At least as monosemantic (within MONO_TOLERANCE) at no higher loss (within LOSS_TOLERANCE)."""
    return cell.mono >= mono - MONO_TOLERANCE and cell.loss <= loss * (1 + LOSS_TOLERANCE)


@dataclasses.dataclass
class Judgement:
    """The chapter's verdict, computed once: the table, Table 1's references and each remedy's tally."""
    rows: list
    where: dict      # place → (its batch, its lr)
    grid: dict       # place → protocol → Cell
    refs: dict       # place → (Table 1's model, its summary), where stored
    remedies: dict   # remedy → {"vs_paper": [(place, ok)], "vs_table1": [(place, ok)], "everywhere": bool}


def judge(rows: list[Row], preset: str, results_dir=None) -> Judgement:
    """Per remedy: at which places it is at least as good as the paper's protocol at equal length,
    and (decoder lr range and abs task) as Table 1's LR3 and D1 models; and whether one setting of it
    does so everywhere. At the lr XLS trains as long as LR3, XLS stands for XL."""
    grid = table(rows)
    where = {r.setting: (r.batch, r.model.config.lr) for r in rows if r.setting in grid}
    refs = {place: ref for place, (batch, lr) in where.items()
            if (ref := reference(batch, lr, preset, results_dir)) is not None}
    long_lrs = {lr for batch, lr in where.values() if batch == "XLS"}
    compared = [place for place, (batch, lr) in where.items()
                if batch in ("XLS", "XA") or (batch == "XL" and lr not in long_lrs)]
    verdicts = {}
    for remedy in REMEDIES:
        judged = [place for place in grid if remedy in grid[place] and "paper" in grid[place]]
        vs_paper = [(place, at_least_as_good(grid[place][remedy], grid[place]["paper"].mono, grid[place]["paper"].loss))
                    for place in judged]
        vs_table1 = [(place, at_least_as_good(grid[place][remedy], refs[place][1]["mono_per_feature"],
                                              refs[place][1]["loss"]))
                     for place in judged if place in compared and place in refs]
        everywhere = (any(place == "XA" for place, _ in vs_table1)
                      and all(place in refs for place in compared if place in judged)
                      and all(ok for _, ok in vs_table1))
        verdicts[remedy] = {"vs_paper": vs_paper, "vs_table1": vs_table1, "everywhere": everywhere}
    return Judgement(rows, where, grid, refs, verdicts)


def verdict_markdown(j: Judgement) -> str:
    """The chapter's verdict table: mean mono/N and loss over seeds per place and protocol, and each
    remedy's tally."""
    head = ("| setting | reference (Table 1, seed 0) | " + " | ".join(PROTOCOLS) + " |\n"
            + "|---" * (len(PROTOCOLS) + 2) + "|\n")
    lines = []
    for place, cells in j.grid.items():
        ref_text = "–"
        if place in j.refs:
            model, s = j.refs[place]
            name = SETTINGS[j.where[place][0]]
            ref_text = f"{name}: {s['mono_per_feature']:.3f} / {s['loss']:.3f} ({model.config.steps} steps)"
        holds = {remedy: dict(v["vs_paper"]).get(place) for remedy, v in j.remedies.items()}
        mark = lambda p: "" if holds.get(p) is None else " ✓" if holds[p] else " ✗"
        cols = [f"{c.mono:.3f} / {c.loss:.3f} (n={c.seeds}){mark(p)}" if (c := cells.get(p)) else "–"
                for p in PROTOCOLS]
        lines.append(f"| {place} | {ref_text} | " + " | ".join(cols) + " |")
    tally = []
    for remedy, v in j.remedies.items():
        wins = sum(ok for _, ok in v["vs_paper"])
        t1 = sum(ok for _, ok in v["vs_table1"])
        answer = "yes" if v["everywhere"] else "no"
        tally.append(f"- **{remedy}**: at least as good as the paper's protocol at equal length at {wins} of "
                     f"{len(v['vs_paper'])} settings, and as Table 1's LR3 / D1 models at {t1} of "
                     f"{len(v['vs_table1'])}; one setting across the decoder's lr range and the abs task: **{answer}**")
    return ("Each cell: mean # mono / N and mean min. loss over the seeds (n) at the preset's steps; ✓ where "
            "the remedy is at least as good as the paper's protocol there, ✗ where not.\n\n"
            + head + "\n".join(lines) + "\n\n" + "\n".join(tally))


def best_strengths(rows: list[Row]) -> dict:
    """Per protocol, the strength of the strength sweep (XS with XL's lr 0.01 models) with the highest
    mean mono/N over seeds: protocol → (strength, Cell)."""
    sweep = [r for r in rows if r.batch in ("XS", "XL") and r.setting.endswith("lr 0.01") and r.protocol in PROTOCOLS]
    best = {}
    for protocol in PROTOCOLS:
        strengths = sorted({r.strength for r in sweep if r.protocol == protocol})
        cells = [(x, Cell.of([r for r in sweep if r.protocol == protocol and r.strength == x])) for x in strengths]
        if cells:
            best[protocol] = max(cells, key=lambda xc: xc[1].mono)
    return best
