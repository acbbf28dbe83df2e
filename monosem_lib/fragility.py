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
    once; where it holds the paper's decay at two rates (XA), the slower one is the paper's protocol compared (paper_config)."""
    chosen = [r for r in rows if r.setting == where and r.protocol == protocol and r.batch in SETTINGS]
    if protocol == "paper" and chosen:
        slowest = min(r.strength for r in chosen)
        chosen = [r for r in chosen if r.strength == slowest]
    return Cell.of(chosen) if chosen else None


def table(rows: list[Row]) -> dict:
    """{place: {protocol: Cell}} for the verdict batches, places in the chapter's order. A place whose
    every model is an earlier place's is left out, so that no model is judged or counted twice: XLS
    where XL already trains as long as LR3 holds XL's slowest-lr configs, the same stored files."""
    order = sorted({(list(SETTINGS).index(r.batch), r.setting) for r in rows if r.batch in SETTINGS})
    seen, places = set(), []
    for _, place in order:
        models = {r.model.config for r in rows if r.setting == place}
        if not models <= seen:
            places.append(place)
        seen |= models
    return {place: {p: cell for p in PROTOCOLS if (cell := at_setting(rows, p, place)) is not None}
            for place in places}


def paper_config(batch: str, lr: float, preset: str):
    """The paper's protocol at a place of a verdict batch, from the batch's definition: its config at `lr`
    with the slowest decay (XA also holds a fast one), or None where the batch trains none there."""
    found = [c for c in batches.configs(batch, preset) if remedies.protocol(c) == "paper" and math.isclose(c.lr, lr)]
    return min(found, key=remedies.strength) if found else None


def reference_setting(batch: str, lr: float, preset: str) -> tuple[str, str, float] | None:
    """Table 1's counterpart of a place, from the batch definitions: (Table 1's batch, the field it sweeps,
    the value the place's paper protocol runs at), e.g. ("D1", "decay", XA's slower decay)."""
    config = paper_config(batch, lr, preset)
    if config is None:
        return None
    name = SETTINGS[batch]
    field = batches.get_batch(name).sweep
    return name, field, getattr(config, field)


def reference(batch: str, lr: float, preset: str, results_dir=None):
    """Table 1's model for a place of `batch` at `preset`, seed 0 (its own training length), with its
    summary: (model, metrics.summary), or None where it is not stored or Table 1's sweep at `preset`
    does not hold the place's value."""
    setting_ = reference_setting(batch, lr, preset)
    if setting_ is None:
        return None
    name, field, value = setting_
    try:
        models = store.load(name, preset, 0, results_dir)
    except store.StoreError:
        return None
    found = [m for m in models if math.isclose(getattr(m.config, field), value)]
    return (found[0], metrics.summary(found[0])) if found else None


def table1_sweep(batch: str, preset: str, results_dir=None) -> list[tuple[float, dict]] | None:
    """The Table 1 batch a verdict batch is compared against, along the field it sweeps, at `preset`,
    seed 0: [(value, metrics.summary)], or None where it is not stored."""
    name = SETTINGS[batch]
    field = batches.get_batch(name).sweep
    try:
        models = store.load(name, preset, 0, results_dir)
    except store.StoreError:
        return None
    return [(getattr(m.config, field), metrics.summary(m)) for m in models]


@dataclasses.dataclass
class Counterpart:
    """Where a place's paper protocol sits in its Table 1 counterpart's sweep at a preset."""
    batch: str            # Table 1's batch: "D1", ...
    field: str            # the field it sweeps: "decay", ...
    value: float          # the value the place's paper protocol runs at
    others: list          # the place's other paper-protocol strengths (XA's fast decay)
    trained: bool         # Table 1's sweep at the preset holds the value
    highest: bool         # the value is the highest of that sweep
    summary: dict | None  # Table 1's model at the value (seed 0), where stored
    best: float | None    # the value of Table 1's most monosemantic stored model (ties: the lower loss)

    @property
    def is_best(self) -> bool:
        """The place runs at Table 1's most monosemantic stored value."""
        return self.best is not None and math.isclose(self.best, self.value)


def counterpart(batch: str, lr: float, preset: str, sweep) -> Counterpart | None:
    """A place's Counterpart, from the batch definitions and `sweep` (table1_sweep: [(value, summary)]
    or None); None where the place has no paper protocol."""
    found = reference_setting(batch, lr, preset)
    if found is None:
        return None
    name, field, value = found
    values = [getattr(c, field) for c in batches.configs(name, preset)]
    others = sorted(remedies.strength(c) for c in batches.configs(batch, preset)
                    if remedies.protocol(c) == "paper" and math.isclose(c.lr, lr)
                    and not math.isclose(getattr(c, field), value))
    at = [s for v, s in sweep or [] if math.isclose(v, value)]
    best = max(sweep, key=lambda vs: (vs[1]["mono_per_feature"], -vs[1]["loss"]))[0] if sweep else None
    return Counterpart(name, field, value, others, any(math.isclose(v, value) for v in values),
                       math.isclose(value, max(values)), at[0] if at else None, best)


def compared_places(preset: str) -> list[str]:
    """The places where a remedy is held against Table 1's own models, from the batch definitions: the
    decoder at each learning rate of the preset (XLS where it trains that lr longer than XL, as long as
    LR3: XLS stands for XL there; where XL already trains as long, XLS's models are XL's and table()
    keeps XL's place) and the abs task (XA)."""
    long = {} if xls_is_xl(preset) else {c.lr: setting("XLS", c) for c in batches.configs("XLS", preset)}
    lrs = sorted({c.lr: setting("XL", c) for c in batches.configs("XL", preset)}.items())
    return [long.get(lr, place) for lr, place in lrs] + ["XA"]


def xls_is_xl(preset: str) -> bool:
    """Whether XL already trains as long as LR3 at `preset`, so that XLS's models are XL's own (the
    same configs, the same stored files)."""
    return set(batches.configs("XLS", preset)) <= set(batches.configs("XL", preset))


def lengths(preset: str) -> dict:
    """Every beyond batch's training length against its Table 1 counterpart's at `preset`:
    batch → (its steps, Table 1's batch, that batch's steps). XS is set against LR3, as XL is."""
    p = batches.get_preset(preset)
    return {name: (batches.get_batch(name).steps(p), table1, batches.get_batch(table1).steps(p))
            for name in batches.BEYOND for table1 in [SETTINGS.get(name, "LR3")]}


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
    remedies: dict   # remedy → verdicts(): vs_paper, vs_table1, missing, answer


def verdicts(grid: dict, refs: dict, compared: list[str]) -> dict:
    """Per remedy (a pure function of the table, Table 1's summaries {place: metrics.summary} and the
    compared places): at which places it is at least as good as the paper's protocol at equal length
    ("vs_paper"), and as Table 1's model at the compared places ("vs_table1"); the compared places it
    cannot be judged at, for want of its model, the paper's or Table 1's ("missing"); and the answer
    to whether its one setting holds everywhere: "no" where it falls short at a compared place, else
    "yes" where it was judged at every one, else "open"."""
    out = {}
    for remedy in REMEDIES:
        judged = [place for place in grid if remedy in grid[place] and "paper" in grid[place]]
        vs_paper = [(place, at_least_as_good(grid[place][remedy], grid[place]["paper"].mono, grid[place]["paper"].loss))
                    for place in judged]
        vs_table1 = [(place, at_least_as_good(grid[place][remedy], refs[place]["mono_per_feature"], refs[place]["loss"]))
                     for place in compared if place in judged and place in refs]
        missing = [place for place in compared if place not in judged or place not in refs]
        answer = "no" if not all(ok for _, ok in vs_table1) else "open" if missing else "yes"
        out[remedy] = {"vs_paper": vs_paper, "vs_table1": vs_table1, "missing": missing, "answer": answer}
    return out


def judge(rows: list[Row], preset: str, results_dir=None) -> Judgement:
    """The table of `rows`, Table 1's references from the store, and verdicts() at the compared places
    of `preset` (decoder lr range and abs task)."""
    grid = table(rows)
    where = {r.setting: (r.batch, r.model.config.lr) for r in rows if r.setting in grid}
    refs = {place: ref for place, (batch, lr) in where.items()
            if (ref := reference(batch, lr, preset, results_dir)) is not None}
    summaries = {place: s for place, (_, s) in refs.items()}
    return Judgement(rows, where, grid, refs, verdicts(grid, summaries, compared_places(preset)))


@dataclasses.dataclass
class Reading:
    """The chapter's answer, decided from a Judgement; the page words it."""
    answer: str       # "yes": some remedy holds everywhere; "no": every remedy falls short somewhere;
                      # "open": none holds, but some could not be judged everywhere
    holding: list     # the remedies whose one setting holds everywhere
    undecided: dict   # remedy → the compared places it could not be judged at (answer "open")
    good: dict        # remedy → places where it is at least as good as the paper's protocol at equal length
    short: dict       # remedy → [(place, its Cell, the paper's Cell)] where it falls short of that
    sweep: dict       # best_strengths()


def reading(j: Judgement) -> Reading:
    """Per remedy, where it beats the paper's protocol at equal length and where it falls short; the
    strength sweep; and the answer over every remedy."""
    holding = [r for r, v in j.remedies.items() if v["answer"] == "yes"]
    undecided = {r: v["missing"] for r, v in j.remedies.items() if v["answer"] == "open"}
    answer = "yes" if holding else "open" if undecided else "no"
    good = {r: [place for place, ok in v["vs_paper"] if ok] for r, v in j.remedies.items()}
    short = {r: [(place, j.grid[place][r], j.grid[place]["paper"]) for place, ok in v["vs_paper"] if not ok]
             for r, v in j.remedies.items()}
    return Reading(answer, holding, undecided, good, short, best_strengths(j.rows))


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
        answer = v["answer"] + (f" (not judged at {', '.join(v['missing'])})" if v["answer"] == "open" else "")
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
