"""The paper's claims (SPEC §4), each checked against stored results.

A claim is gathered, then judged. Gathering loads the models it needs and reduces them to a small
summary (a frozen dataclass of numbers); judging is a pure function of that summary that returns
the checks, each with the paper's value, ours, the rule and whether it holds. One ladder turns the
checks into a verdict. `CLAIMS` is the registry; `evaluate` runs one claim at one preset and seed.
"""
import dataclasses
import math
import statistics
from typing import Callable

from . import batches, mechanism, metrics, store

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")
NOT_TRAINED = "not trained yet"
STILL_LEARNING = 0.02   # a model whose lowest loss still fell by more than this over its last quarter


# ------------------------------------------------------------------ checks and the verdict ladder

@dataclasses.dataclass(frozen=True)
class Check:
    """One row of a claim's table. `rule` is the test with its tolerance; `passed` is None for a
    row shown for context only. `quantity` names the row and holds no measured number, so the rows
    of several seeds or scales match by it; what was measured beside the value goes in `detail`."""
    quantity: str
    paper: str
    ours: float
    rule: str = ""
    passed: bool | None = None
    fmt: str = "{:.3f}"
    detail: str = ""

    def value(self) -> str:
        return "—" if isinstance(self.ours, float) and math.isnan(self.ours) else self.fmt.format(self.ours)

    def label(self) -> str:
        return labelled(self.quantity, self.detail)


def labelled(quantity: str, detail: str) -> str:
    return f"{quantity} ({detail})" if detail else quantity


def ladder(checks) -> str:
    """Every check holds: reproduced; at least half: partly reproduced; fewer: not reproduced."""
    tested = [c.passed for c in checks if c.passed is not None]
    if not tested:
        raise ValueError("a claim needs at least one check with a rule")
    passed = sum(tested)
    return VERDICTS[0] if passed == len(tested) else VERDICTS[1] if 2 * passed >= len(tested) else VERDICTS[2]


def _nan_safe(test: Callable, *values) -> bool:
    """A check on a missing value (nan) fails."""
    return not any(isinstance(v, float) and math.isnan(v) for v in values) and bool(test(*values))


# ------------------------------------------------------------------ gathering

def lacking(batch: str, what: str, only: str = "") -> store.StoreError:
    """The error `evaluate` reports as not trained, for a model a comparison needs that its sweep
    lacks here (a piecewise preset publishes a sweep in parts)."""
    flag = f" --only {only}" if only else ""
    return store.StoreError(f"{batch} lacks {what}: train it with python -m monosem_lib train {batch}{flag} "
                            f"at this preset and seed")


class Loader:
    """Loads batches for one claim at one preset and seed, and remembers what it loaded (for the
    still-learning note). At a piecewise preset a batch is the models of it that exist."""

    def __init__(self, preset: str, seed: int = 0, results_dir=None):
        self.preset, self.seed, self.results_dir = preset, seed, results_dir
        self.loaded: dict[str, list] = {}
        self._summaries = {}

    def __call__(self, batch: str) -> list:
        if batch not in self.loaded:
            try:
                self.loaded[batch] = store.load(batch, self.preset, self.seed, self.results_dir)
            except store.StoreError as error:
                raise store.StoreError(f"{batch} is not trained at preset {self.preset!r}, seed {self.seed}: "
                                       f"{error}") from None
        return self.loaded[batch]

    def existing(self, names) -> dict[str, list]:
        """The batches of `names` that have models (at a piecewise preset; StoreError if none has)."""
        if not batches.get_preset(self.preset).piecewise:
            return {name: self(name) for name in names}
        found = {}
        for name in names:
            models = store.available(name, self.preset, self.seed, self.results_dir)[0]
            if models:
                self.loaded[name] = found[name] = models
        if not found:
            raise store.StoreError(f"{', '.join(names)} are not trained at preset {self.preset!r}, seed {self.seed}: "
                                   f"no model of them is stored or published")
        return found

    def summary(self, model) -> dict:
        if id(model) not in self._summaries:
            self._summaries[id(model)] = metrics.summary(model)
        return self._summaries[id(model)]

    def steps(self) -> tuple[tuple[int, int], ...]:
        """The step counts of the loaded runs, each with the paper's for its batch: (ours, the paper's)."""
        paper = batches.get_preset("paper")
        return tuple(sorted({(m.config.steps, batches.get_batch(name).steps(paper))
                             for name, models in self.loaded.items() for m in models}))

    def still_learning(self) -> tuple[tuple[str, int], ...]:
        """The loaded models whose lowest loss still fell by more than STILL_LEARNING over their
        last quarter: (label 'batch field = value', steps) each."""
        out = []
        for name, models in self.loaded.items():
            fields = batches.get_batch(name).sweep_fields()
            for m in models:
                if metrics.late_improvement(m) > STILL_LEARNING:
                    out.append((f"{name} " + ", ".join(f"{f} = {getattr(m.config, f):g}" for f in fields),
                                m.config.steps))
        return tuple(out)


# ------------------------------------------------------------------ claim 1 (Section 4.1.1)

TAIL = 0.1             # the polysemantic tail: the tenth of the firing neurons with the lowest r
LOSS_SPREAD = 0.05     # "the same loss": at most 5 % between the lowest and highest loss of a sweep
ONE_MONO = 0.9         # 503 / 512 = 0.98 features with one mono neuron; at least 0.9 counts


@dataclasses.dataclass(frozen=True)
class BiasSplit:
    lr: float
    mono_bias: float   # mean bias of the monosemantic neurons (nan if none)
    tail_bias: float   # mean bias of the polysemantic tail (nan if no neuron fires)
    tail: int          # neurons in the tail


def bias_split(model) -> BiasSplit:
    """Fig. 5's two ends: the mean bias of the monosemantic neurons, and of the polysemantic tail,
    the tenth of the neurons that fire on some unit feature with the lowest r. Neurons that never
    fire (r = 0) and the small-weight transition region are neither (Fig. 5's text)."""
    h = metrics.response(model)                                   # (n, k)
    r = metrics.monosemanticity(h[None])[0]                       # (k,)
    mean = lambda x: x.mean().item() if len(x) else float("nan")
    firing = (h.max(dim=0).values > 0).nonzero()[:, 0]
    tail = firing[r[firing].argsort()[:math.ceil(TAIL * len(firing))]]
    return BiasSplit(model.config.lr, mean(model.b[r > metrics.MONO_THRESHOLD]), mean(model.b[tail]), len(tail))


@dataclasses.dataclass(frozen=True)
class Claim1:
    lr1: tuple      # (lr, mono / N, loss) per LR1 model, by lr
    lr2: tuple      # the same for LR2
    biases: tuple   # BiasSplit per LR1 model
    one_mono: float  # highest-lr LR1 model: features with exactly one mono neuron / N


def gather_1(load: Loader) -> Claim1:
    def sweep(name):
        return tuple(sorted((m.config.lr, load.summary(m)["mono_per_feature"], load.summary(m)["loss"])
                            for m in load(name)))
    lr1 = sorted(load("LR1"), key=lambda m: m.config.lr)
    return Claim1(sweep("LR1"), sweep("LR2"), tuple(bias_split(m) for m in lr1),
                  load.summary(lr1[-1])["features_with_1"] / lr1[-1].config.n)


def _spread(values) -> float:
    return (max(values) - min(values)) / min(values)


def judge_1(s: Claim1) -> list[Check]:
    checks = []
    for name, sweep in (("LR1", s.lr1), ("LR2", s.lr2)):
        low, high = sweep[0], sweep[-1]
        spread = _spread([loss for _, _, loss in sweep])
        checks += [
            Check(f"{name}: relative loss spread across lr {low[0]:g}–{high[0]:g}", "≈ 0 (same loss, Figs. 3, 6)",
                  spread, f"≤ {LOSS_SPREAD:.0%}", spread <= LOSS_SPREAD, "{:.1%}"),
            Check(f"{name}: mono / N, lr {high[0]:g} minus lr {low[0]:g}", "rises with lr (Figs. 3, 6)",
                  high[1] - low[1], "> 0", high[1] > low[1], "{:+.3f}")]
    checks.append(Check("LR1 highest lr: features with one mono neuron / N", "503 / 512 = 0.982",
                        s.one_mono, f"≥ {ONE_MONO}", s.one_mono >= ONE_MONO))
    for b in s.biases:
        checks += [
            Check(f"LR1 lr {b.lr:g}: mean bias of the mono neurons", "moderate negative (Fig. 5)", b.mono_bias,
                  "< 0", _nan_safe(lambda x: x < 0, b.mono_bias), "{:+.3f}"),
            Check(f"LR1 lr {b.lr:g}: mean bias of the polysemantic tail", "small positive (§4.1.1 list)",
                  b.tail_bias, "> 0", _nan_safe(lambda x: x > 0, b.tail_bias), "{:+.3f}", f"{b.tail} neurons")]
    return checks


# ------------------------------------------------------------------ claims 2-5 (Section 4.1.2)

HIGH_MONO = 0.6        # "highly monosemantic": the lower end of Fig. 8's 0.6-1 mono neurons per feature
LOSS_TOLERANCE = 0.02  # "equal or slightly lower loss": at most 2 % above the zero-offset model


@dataclasses.dataclass(frozen=True)
class Claim2:
    sweeps: dict    # batch → {lr: (mono / N, loss)} for LR1-LR4


def gather_2(load: Loader) -> Claim2:
    return Claim2({name: {m.config.lr: (load.summary(m)["mono_per_feature"], load.summary(m)["loss"])
                          for m in load(name)} for name in ("LR1", "LR2", "LR3", "LR4")})


def judge_2(s: Claim2) -> list[Check]:
    checks = []
    for name, base in (("LR3", "LR1"), ("LR4", "LR2")):
        runs, zero = s.sweeps[name], s.sweeps[base]
        lr, (mono, _) = min(runs.items(), key=lambda item: item[1][0])
        checks.append(Check(f"{name}: mono / N at its least monosemantic lr", "high at every lr (Figs. 7, 10, 12)",
                            mono, f"≥ {HIGH_MONO}", mono >= HIGH_MONO, detail=f"lr {lr:g}"))
        # Compared at the lrs both sweeps have (a piecewise preset may hold part of a sweep).
        for lr in sorted(runs.keys() & zero.keys()):
            change = (runs[lr][1] - zero[lr][1]) / zero[lr][1]
            checks.append(Check(f"{name} vs {base} loss at lr {lr:g}, relative change",
                                "equal or slightly lower (≤ 0)", change, f"≤ +{LOSS_TOLERANCE:.0%}",
                                change <= LOSS_TOLERANCE, "{:+.1%}"))
    shared = s.sweeps["LR3"].keys() & s.sweeps["LR1"].keys()
    if not shared:   # a piecewise preset may hold the two sweeps at different lrs
        return checks + [Check("LR3 − LR1 mono / N at a shared lr", "large gain (Fig. 7 vs Fig. 3)", float("nan"),
                               "a shared lr", False)]
    low = min(shared)
    gain = s.sweeps["LR3"][low][0] - s.sweeps["LR1"][low][0]
    checks.append(Check(f"LR3 − LR1 mono / N at the lowest lr {low:g}", "large gain (Fig. 7 vs Fig. 3)", gain,
                        "> 0", gain > 0, "{:+.3f}"))
    return checks


BAND_TOLERANCE = 2     # "exactly d + 1": the paper's own d = 128 band is 130 = d + 2


@dataclasses.dataclass(frozen=True)
class Claim3:
    bands: tuple    # (label, d, band) per LR3 and BD model


def gather_3(load: Loader) -> Claim3:
    lr3 = [(f"LR3 lr {m.config.lr:g}", m) for m in load("LR3")]
    bd = [(f"BD d = {m.config.d}", m) for m in sorted(load("BD"), key=lambda m: m.config.d)]
    return Claim3(tuple((label, m.config.d, int(metrics.band_count(m.b[None]))) for label, m in lr3 + bd))


def judge_3(s: Claim3) -> list[Check]:
    paper = {32: "33 at d = 32", 64: "65 at d = 64", 128: "130 at d = 128"}
    return [Check(f"{label}: neurons with bias > 0.05 (d + 1 = {d + 1})", paper.get(d, "d + 1") + " (Fig. 11)", band,
                  f"|band − (d + 1)| ≤ {BAND_TOLERANCE}", abs(band - d - 1) <= BAND_TOLERANCE, "{:.0f}")
            for label, d, band in s.bands]


B_BATCHES = ("B1", "B2", "B3", "B4", "B5")
PER_FEATURE = (0.6, 1.0)   # Fig. 8 lower: mono neurons per feature below -sqrt(eps)
PER_FEATURE_TOLERANCE = 0.1
SHARP_DROP = 0.5           # offset 0 keeps at most half the monosemanticity below -sqrt(eps)


def offset_split(models) -> tuple[list, list]:
    """One eps's models, sorted by offset, split at the scale -sqrt(eps): (below, at or above)."""
    ordered = sorted(models, key=lambda m: m.config.offset)
    threshold = -math.sqrt(ordered[0].config.eps)
    return ([m for m in ordered if m.config.offset < threshold],
            [m for m in ordered if m.config.offset >= threshold])


@dataclasses.dataclass(frozen=True)
class Claim4:
    below: tuple    # (batch, eps, offset, mono / k, mono / N) per model with offset < -sqrt(eps)
    at_zero: tuple  # (batch, eps, mono / N at offset 0) per batch that has offset 0


def gather_4(load: Loader) -> Claim4:
    below, at_zero = [], []
    for name, models in load.existing(B_BATCHES).items():
        lo, _ = offset_split(models)
        for m in lo:
            s = load.summary(m)
            below.append((name, m.config.eps, m.config.offset, s["mono_neurons"] / m.config.k, s["mono_per_feature"]))
        zero = [m for m in models if m.config.offset == 0]
        if zero:
            at_zero.append((name, zero[0].config.eps, load.summary(zero[0])["mono_per_feature"]))
    return Claim4(tuple(below), tuple(at_zero))


def judge_4(s: Claim4) -> list[Check]:
    """Every offset below -sqrt(eps) on its own (a dead model fails its row), and the drop at
    offset 0, which lies within sqrt(eps) ≤ 1/4 above the scale for every eps of Table 1 and is
    in every preset's grid, so the drop's size does not depend on which offsets were swept."""
    lo, hi = PER_FEATURE[0] - PER_FEATURE_TOLERANCE, PER_FEATURE[1] + PER_FEATURE_TOLERANCE
    checks = [Check(f"{name} (eps = 1/{1 / eps:g}) offset {offset:g}: mono / N",
                    "0.6 – 1 (30–50 % of neurons, Fig. 8)", per_feature, f"{lo:g} – {hi:g}",
                    lo <= per_feature <= hi, detail=f"mono / k {per_neuron:.2f}")
              for name, eps, offset, per_neuron, per_feature in s.below]
    for name, eps, zero in s.at_zero:
        below = [x for n, _, _, _, x in s.below if n == name]
        if not below:
            continue
        median = statistics.median(below)
        ratio = zero / median if median > 0 else float("nan")
        checks.append(Check(f"{name} (eps = 1/{1 / eps:g}): mono / N at offset 0 ÷ median below -sqrt(eps)",
                            "sharp drop above -sqrt(eps) (Figs. 8, 9)", ratio, f"≤ {SHARP_DROP}",
                            _nan_safe(lambda x: x <= SHARP_DROP, ratio), "{:.2f}"))
    if not checks:
        checks.append(Check("models below -sqrt(eps)", "30–50 % mono", float("nan"), "at least one", False))
    return checks


def gelu_minimum() -> float:
    """Where GeLU(x) = x·Φ(x) is smallest (≈ -0.752), by bisection on Φ(x) + x·φ(x) = 0."""
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    lo, hi = -2.0, 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) + mid * pdf(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def gelu_peaks(models) -> dict:
    """G1 per lr: the offset where mono / N peaks (the most negative one on a tie; nan if no model
    has a mono neuron), the peak value, the highest mono / N of the offsets at least 1 away from the
    peak (a sharp peak has no rival there), and the other offsets that tie with the peak."""
    by_lr = {}
    for m in models:
        by_lr.setdefault(m.config.lr, []).append(m)
    return {lr: peak_of([(m.config.offset, metrics.summary(m)["mono_per_feature"]) for m in ms])
            for lr, ms in sorted(by_lr.items())}


def peak_of(points) -> dict:
    """gelu_peaks' entry for one lr from its (offset, mono / N) points; no peak, so no ties, where
    no model has a mono neuron."""
    points = sorted(points)
    peak_offset, peak = max(points, key=lambda p: p[1])
    far = [y for x, y in points if abs(x - peak_offset) >= 1]
    return {"offset": peak_offset if peak > 0 else float("nan"), "peak": peak, "far": max(far) if far else float("nan"),
            "ties": tuple(x for x, y in points if y == peak and x != peak_offset) if peak > 0 else ()}


PEAK_WINDOW = (-1.5, -0.5)   # "≈ -1, near the GeLU minimum (-0.75)"


@dataclasses.dataclass(frozen=True)
class Claim5:
    peaks: dict     # lr → gelu_peaks' entry


def gather_5(load: Loader) -> Claim5:
    return Claim5(gelu_peaks(load("G1")))


def judge_5(s: Claim5) -> list[Check]:
    """A peak tied with an offset outside the window is not located at ≈ -1."""
    in_window = lambda x: PEAK_WINDOW[0] <= x <= PEAK_WINDOW[1]
    checks = []
    for lr, p in s.peaks.items():
        checks += [
            Check(f"lr {lr:g}: offset of the peak in mono / N", f"≈ -1 (GeLU minimum {gelu_minimum():.2f}, Fig. 13)",
                  p["offset"], f"{PEAK_WINDOW[0]:g} – {PEAK_WINDOW[1]:g}, every tie too",
                  _nan_safe(in_window, p["offset"]) and all(map(in_window, p["ties"])), "{:+.2f}",
                  detail=f"tied with {', '.join(f'{x:+g}' for x in p['ties'])}" if p["ties"] else ""),
            Check(f"lr {lr:g}: highest mono / N ≥ 1 away from the peak", "much lower (sharp peak)", p["far"],
                  "≤ half the peak", p["peak"] > 0 and _nan_safe(lambda x: x <= 0.5 * p["peak"], p["far"]),
                  detail=f"{p['peak']:.3f} at the peak")]
    return checks


# ------------------------------------------------------------------ claims 6-11 (Sections 4.1.3-5)

def rg1_split(models):
    """RG1: the L1 models (offset 0, L1 > 0), the best of them (most monosemantic, then lowest loss)
    and the unregularised offset -1 reference (not trained without either side)."""
    l1 = [m for m in models if m.config.l1 > 0]
    reference = [m for m in models if m.config.l1 == 0]
    if not reference:
        raise lacking("RG1", "the unregularised offset -1 model (l1 = 0) its L1 models are compared with", "l1=0")
    if not l1:
        raise lacking("RG1", "an L1 model (l1 > 0) to compare with its offset -1 model")
    scores = {id(m): metrics.summary(m) for m in l1}
    best = max(l1, key=lambda m: (round(scores[id(m)]["mono_per_feature"], 6), -scores[id(m)]["loss"]))
    return l1, best, reference[0]


COMPARABLE = 0.15   # "comparable monosemanticity": within 0.15 mono neurons per feature


@dataclasses.dataclass(frozen=True)
class Claim6:
    best_l1: float
    best: tuple       # (mono / N, loss) of the best L1 model
    reference: tuple  # the same for the offset -1 model without L1


def gather_6(load: Loader) -> Claim6:
    _, best, reference = rg1_split(load("RG1"))
    pair = lambda m: (load.summary(m)["mono_per_feature"], load.summary(m)["loss"])
    return Claim6(best.config.l1, pair(best), pair(reference))


def judge_6(s: Claim6) -> list[Check]:
    (b_mono, b_loss), (r_mono, r_loss) = s.best, s.reference
    gap = r_mono - b_mono
    return [
        Check("best L1 model: mono / N", "comparable to offset -1", b_mono, detail=f"L1 = {s.best_l1:.0e}"),
        Check("offset -1 minus best L1 model: mono / N", "comparable (Fig. 14)", gap,
              f"|·| ≤ {COMPARABLE}, and some monosemanticity", abs(gap) <= COMPARABLE and max(b_mono, r_mono) > 0,
              "{:+.3f}"),
        Check("offset -1 minus best L1 model: loss", "lower (Fig. 14 caption)", r_loss - b_loss, "< 0",
              r_loss < b_loss, "{:+.4f}")]


PLATEAU = 0.05   # "loss stops improving once k > N": under 5 % gain beyond the first k > N


def k_loss_gains(models, n: int) -> tuple[float, float]:
    """Relative loss gain from the smallest k to the first k > N, and from there to the largest k
    (nan where the sweep has no such pair)."""
    by_k = sorted((m.config.k, metrics.summary(m)["loss"]) for m in models)
    above = [loss for k, loss in by_k if k > n]
    if not above:
        return float("nan"), float("nan")
    first = above[0]
    gain_below = (by_k[0][1] - first) / by_k[0][1] if by_k[0][0] <= n else float("nan")
    gain_above = (first - above[-1]) / first if len(above) > 1 else float("nan")
    return gain_below, gain_above


def k_loss_difference(k0, k1) -> dict:
    """K1 minus K0 final loss at equal k (the middle panel of Fig. 15): k → difference."""
    loss0 = {m.config.k: metrics.summary(m)["loss"] for m in k0}
    return {m.config.k: metrics.summary(m)["loss"] - loss0[m.config.k] for m in k1 if m.config.k in loss0}


@dataclasses.dataclass(frozen=True)
class Claim7:
    n: int
    mono: tuple         # (k, # mono neurons) of K1 at its smallest and largest k
    gain_below: float   # relative loss gain, smallest k → first k > N
    gain_above: float   # first k > N → largest k
    difference: dict    # k → K1 − K0 loss
    dense_loss: float   # ER1's dense model (density 1)
    sparse_loss: tuple  # (density, loss) of ER1's sparse models, densest first


def gather_7(load: Loader) -> Claim7:
    er = load("ER1")
    dense = [m for m in er if m.config.density == 1]
    sparse = sorted((m for m in er if m.config.density < 1), key=lambda m: -m.config.density)
    if not dense:
        raise lacking("ER1", "the dense model (density 1) its sparse models are compared with", "density=1")
    if not sparse:
        raise lacking("ER1", "a sparse model (density < 1) to compare with its dense one")
    k0, k1 = load("K0"), load("K1")
    ordered = sorted(k1, key=lambda m: m.config.k)
    n = k1[0].config.n
    return Claim7(n, tuple((m.config.k, load.summary(m)["mono_neurons"]) for m in (ordered[0], ordered[-1])),
                  *k_loss_gains(k1, n), k_loss_difference(k0, k1), load.summary(dense[0])["loss"],
                  tuple((m.config.density, load.summary(m)["loss"]) for m in sparse))


def judge_7(s: Claim7) -> list[Check]:
    (k_small, small), (k_large, large) = s.mono
    checks = [
        Check(f"K1 # mono neurons, k = {k_large} minus k = {k_small}", "grows with k (Fig. 17)", large - small, "> 0",
              large > small, "{:+.0f}"),
        Check("K1 relative loss gain, smallest k → first k > N", "large (Fig. 15)", s.gain_below),
        Check("K1 relative loss gain, first k > N → largest k", "≈ 0 (stops improving once k > N)", s.gain_above,
              f"< {PLATEAU:.0%}", _nan_safe(lambda x: x < PLATEAU, s.gain_above), "{:.1%}")]
    checks += [Check(f"loss K1 − K0 at k = {k} (> N)", "< 0 (Fig. 15 middle)", v, "< 0", v < 0, "{:+.4f}")
               for k, v in sorted(s.difference.items()) if k > s.n]
    checks += [Check(f"loss K1 − K0 at k = {k} (N/2 – N)", "slightly > 0", v, fmt="{:+.4f}")
               for k, v in sorted(s.difference.items()) if s.n / 2 <= k <= s.n]
    checks += [Check(f"ER1 sparse (density {density:g}) minus dense loss", "> 0 (sparse loses at equal compute)",
                     loss - s.dense_loss, "> 0", loss > s.dense_loss, "{:+.4f}") for density, loss in s.sparse_loss]
    return checks


PEAK_LOG2_EPS = -5     # "peaks near eps = 2^-5", within one octave
ALMOST_NONE = 0.1      # "almost no monosemantic neurons" by N·eps ≈ 2d


@dataclasses.dataclass(frozen=True)
class Claim8:
    d: int
    e1: tuple        # (eps, N·eps, mono / N) per E1 model, sparsest first
    recovery: tuple  # (eps, E1 mono / N, E4 mono / N) at the sparsest eps both sweeps have


def gather_8(load: Loader) -> Claim8:
    e1 = sorted(load("E1"), key=lambda m: m.config.eps)
    e4 = {m.config.eps: m for m in load("E4")}   # the same eps grid as E1's (batches.Preset.e_eps)
    shared = [m for m in e1 if m.config.eps in e4]
    if not shared:   # a piecewise preset may hold the two sweeps at different eps
        raise lacking("E4", "a model at an eps E1 has, to compare their decays at")
    mono = lambda m: load.summary(m)["mono_per_feature"]
    eps = shared[0].config.eps
    return Claim8(e1[0].config.d, tuple((m.config.eps, m.config.n * m.config.eps, mono(m)) for m in e1),
                  (eps, mono(shared[0]), mono(e4[eps])))


def judge_8(s: Claim8) -> list[Check]:
    peak = max(s.e1, key=lambda x: x[2])
    dense = [x for x in s.e1 if x[1] >= 2 * s.d]
    peak_log2 = math.log2(peak[0])
    checks = [Check("E1: log2 eps of the peak in mono / N", "-5 (Fig. 18)", peak_log2, f"{PEAK_LOG2_EPS} ± 1",
                    abs(peak_log2 - PEAK_LOG2_EPS) <= 1, "{:.1f}", f"peak {peak[2]:.3f}")]
    checks += [Check(f"E1: mono / N at eps = 2^{math.log2(eps):g} (N·eps = {ne / s.d:g} d)",
                     "almost none by N·eps ≈ 2d", mono, f"< {ALMOST_NONE}", mono < ALMOST_NONE) for eps, ne, mono in dense]
    if not dense:
        checks.append(Check("E1 models with N·eps ≥ 2d", "almost none by N·eps ≈ 2d", float("nan"), "at least one",
                            False))
    eps, e1, e4 = s.recovery
    checks += [
        Check(f"E1 (decay 0.03): mono / N at eps = 2^{math.log2(eps):g}, the sparsest E1 and E4 share",
              "low (decay too fast)", e1),
        Check(f"E4 (decay 0.001) minus E1 mono / N at eps = 2^{math.log2(eps):g}",
              "> 0 (slower decay recovers, Fig. 18)", e4 - e1, "> 0", e4 > e1, "{:+.3f}")]
    return checks


ABOUT_ONE = (0.75, 1.5)   # "roughly one monosemantic neuron per feature"


@dataclasses.dataclass(frozen=True)
class Claim9:
    mono: tuple   # (lr, mono / N) per RP1 model


def gather_9(load: Loader) -> Claim9:
    return Claim9(tuple((m.config.lr, load.summary(m)["mono_per_feature"]) for m in load("RP1")))


def judge_9(s: Claim9) -> list[Check]:
    return [Check(f"RP1 lr {lr:g}: mono / N", "≈ 1 (Fig. 21)", x, f"{ABOUT_ONE[0]:g} – {ABOUT_ONE[1]:g}",
                  ABOUT_ONE[0] <= x <= ABOUT_ONE[1]) for lr, x in s.mono]


@dataclasses.dataclass(frozen=True)
class Claim10:
    lr5: tuple    # (lr, mono / N, loss) per LR5 model, by lr
    d1: tuple     # (decay, mono / N, loss) per D1 model, slowest decay first


def gather_10(load: Loader) -> Claim10:
    row = lambda m, field: (getattr(m.config, field), load.summary(m)["mono_per_feature"], load.summary(m)["loss"])
    return Claim10(tuple(sorted(row(m, "lr") for m in load("LR5"))), tuple(sorted(row(m, "decay") for m in load("D1"))))


def judge_10(s: Claim10) -> list[Check]:
    both = s.lr5 + s.d1
    corr = metrics.correlation([x[1] for x in both], [x[2] for x in both])
    return [
        Check("correlation of mono / N with loss (LR5 + D1 models)", "negative (Figs. 22, 23)", corr, "< 0",
              _nan_safe(lambda x: x < 0, corr), "{:+.2f}"),
        Check(f"LR5 mono / N, lr {s.lr5[-1][0]:g} minus lr {s.lr5[0][0]:g}", "rises with lr: offset alone is not "
              "enough (Fig. 22)", s.lr5[-1][1] - s.lr5[0][1], "> 0", s.lr5[-1][1] > s.lr5[0][1], "{:+.3f}"),
        Check(f"D1 mono / N, decay {s.d1[0][0]:.2g} minus decay {s.d1[-1][0]:.2g}", "slower decay is more "
              "monosemantic (Fig. 23)", s.d1[0][1] - s.d1[-1][1], "> 0", s.d1[0][1] > s.d1[-1][1], "{:+.3f}")]


KINK_TOLERANCE = 0.15   # amplitudes within 0.15 of the paper's
BIMODAL = 0.9           # "all either zero or near-unity": at least 90 % of the d meaningful values
BIAS_THROUGH_W2 = 0.005


@dataclasses.dataclass(frozen=True)
class Claim11:
    eps: tuple          # the eps of the E1 and E3 models used
    kinks: dict         # "E1" / "E3" → (turn-on, second kink, # two-neuron features); absent without W2
    d: int
    poly_neurons: int
    top: tuple          # the d largest singular values of E1's poly map (the rest are 0 by rank)
    bias_through_W2: float
    missing: str = ""   # which model lacks W2, and how to get it


def missing_W2(model, batch: str, preset: str) -> str:
    return (f"{batch} eps = 1/{1 / model.config.eps:g} at preset {preset!r} has no W2: its stored copy lacks it (a published "
            f"copy keeps W2 only for Section 5's models); retrain it with python -m monosem_lib train {batch} "
            f"--preset {preset} --only eps={model.config.eps:g} --publish")


def gather_11(load: Loader) -> Claim11:
    models = {name: mechanism.nearest_eps(load(name), eps)[0] for name, eps in mechanism.MODELS.items()}
    lacking = [missing_W2(m, name, load.preset) for name, m in models.items() if m.W2 is None]
    if models["E1"].W2 is None:
        raise store.StoreError(lacking[0])
    kinks = {}
    for name, m in models.items():
        if m.W2 is not None:
            census = mechanism.kink_census(m)
            kinks[name] = (census["one"]["turn_on"], census["two"]["second_kink"], census["two"]["features"])
    e1 = models["E1"]
    poly = mechanism.poly_summary(e1)
    top = tuple(float(x) for x in poly["singular_values"][:e1.config.d])
    return Claim11((e1.config.eps, models["E3"].config.eps), kinks, e1.config.d, poly["poly_neurons"], top,
                   poly["max_bias_through_W2"], "; ".join(lacking))


def judge_11(s: Claim11) -> list[Check]:
    paper = {"E1": (0.4, 0.8), "E3": (0.3, 0.6)}
    checks = [Check(f"{name} model's eps (nearest in the sweep)", f"1/{1 / target:g}", eps, fmt="{:.4g}")
              for (name, target), eps in zip(mechanism.MODELS.items(), s.eps)]
    for name, (turn_on, second, two) in s.kinks.items():
        on, kink = paper[name]
        close = lambda ours, target: _nan_safe(lambda x: abs(x - target) <= KINK_TOLERANCE, ours)
        checks += [
            Check(f"{name}: features with two mono neurons", "several (Figs. 24, 25)", two, fmt="{:.0f}"),
            Check(f"{name}: mono output turns on at amplitude (median, one-neuron features)", f"≈ {on}", turn_on,
                  f"± {KINK_TOLERANCE}", close(turn_on, on), "{:.2f}"),
            Check(f"{name}: second kink of two-neuron features (median)", f"≈ {kink}", second, f"± {KINK_TOLERANCE}",
                  close(second, kink), "{:.2f}")]
    if s.missing:
        checks.append(Check("kinks not checked", "", float("nan"), detail=s.missing))
    near_zero = sum(x < 0.1 for x in s.top)
    near_one = sum(abs(x - 1) <= 0.1 for x in s.top)
    share = (near_zero + near_one) / len(s.top)
    checks += [
        Check(f"E1 poly map: share of its {len(s.top)} largest singular values ≈ 0 (< 0.1) or ≈ 1 (0.9–1.1)",
              "all (0.99–1.03 or 0, Fig. 26)", share, f"≥ {BIMODAL:.0%}, some ≈ 1",
              share >= BIMODAL and near_one > 0, "{:.0%}", f"{near_one} ≈ 1, {near_zero} ≈ 0"),
        Check("E1: poly neurons / d", "≈ 1 (d + 1)", s.poly_neurons / s.d, fmt="{:.2f}"),
        Check("E1: largest poly bias through W2 (abs)", f"< {BIAS_THROUGH_W2}", s.bias_through_W2,
              f"< {BIAS_THROUGH_W2}", s.bias_through_W2 < BIAS_THROUGH_W2, "{:.4f}")]
    return checks


# ------------------------------------------------------------------ the registry

@dataclasses.dataclass(frozen=True)
class Claim:
    number: int
    section: str           # the chapter (chapters.Chapter.section) whose pages open with this claim
    page: str              # the executed page that shows it (without .ipynb)
    statement: str         # SPEC §4
    quote: str             # the paper's own sentence
    follows: str           # where the paper's text and a caption differ, which one the check follows
    gather: Callable       # Loader → summary
    judge: Callable        # summary → list[Check]
    batches: tuple         # the batches `gather` reads (runs.priority trains them first)


CLAIMS = (
    Claim(1, "4.1.1", "4-1-1-basins-LR1",
          "LR1/LR2: equal loss across lr, # mono neurons rises with lr; mono neurons have moderate negative bias, "
          "polysemantic ones small positive bias",
          "“The loss is indistinguishable between these basins … The monosemantic neurons are identifiable by "
          "their moderate negative bias, while the polysemantic neurons have a small positive bias.” (§4.1 list; "
          "Figs. 3, 5, 6)",
          "The list says the polysemantic neurons' bias is small positive, Fig. 5's caption moderate positive: "
          "the check asks only that it be positive, on the polysemantic tail (the tenth of the firing neurons "
          "with the lowest r) of every LR1 model, as Fig. 5 draws every LR1 model sorted by r.",
          gather_1, judge_1, ("LR1", "LR2")),
    Claim(2, "4.1.2", "4-1-2-negative-bias-LR3",
          "LR3/LR4: offset -1 and bias decay give highly monosemantic models at every lr, with equal or slightly "
          "lower loss than zero offset",
          "“Figure 7 shows that this approach indeed causes models to find very monosemantic basins even at very "
          "low learning rates. The loss is comparable [loss] to models trained without this intervention.” (§4.1.2)",
          "The text says comparable loss; SPEC reads Fig. 1 as equal or slightly lower: the check allows "
          f"{LOSS_TOLERANCE:.0%} above the zero-offset model.",
          gather_2, judge_2, ("LR1", "LR2", "LR3", "LR4")),
    Claim(3, "4.1.2", "4-1-2-negative-bias-LR3",
          "The positive-bias band (bias > 0.05) of LR3 models is exactly d + 1 neurons wide: 65 at d = 64, "
          "33 at d = 32, 130 at d = 128",
          "“Each model has exactly 65 neurons with positive biases … with embedding dimension 32 we see 33 "
          "polysemantic neurons, and with embedding dimension 128 we see 130.” (§4.1.2, Fig. 11)",
          f"“Exactly d + 1”, yet 130 = d + 2 at d = 128: the check allows ± {BAND_TOLERANCE}.",
          gather_3, judge_3, ("LR3", "BD")),
    Claim(4, "4.1.2-offsets", "4-1-2-offset-sweep-B1-B2-B3-B4-B5",
          "B1–B5: for offsets below ≈ -sqrt(eps), 30-50% of neurons are monosemantic with 0.6-1 mono neurons "
          "per feature; monosemanticity drops sharply above -sqrt(eps)",
          "“For initial mean biases less than ≈ -√ε we see that 30-50% of the neurons are monosemantic, with "
          "0.6-1 monosemantic neurons per feature. The number of monosemantic neurons drops off rapidly for "
          "greater (more-positive) biases.” (§4.1.2, Figs. 8, 9)",
          "Text and captions agree; the check judges every offset below -√ε on its own (k = 2N here, so "
          "0.6–1 per feature is 30–50 % of neurons) and the drop at offset 0.",
          gather_4, judge_4, B_BATCHES),
    Claim(5, "4.1.2-gelu", "4-1-2-gelu-G1",
          "GeLU (G1): monosemanticity peaks sharply at an initial bias of ≈ -1, near the GeLU minimum",
          "“The monosemanticity is sharply peaked towards an initial bias of −1, which lies very near the minimum "
          "in the GeLU.” (§4.1.2, Fig. 13)", "",
          gather_5, judge_5, ("G1",)),
    Claim(6, "4.1.3", "4-1-3-l1-RG1",
          "L1 regularisation of the activations reaches comparable monosemanticity; the unregularised offset -1 "
          "model has lower loss",
          "“The negative initial bias model achieves lower loss and comparable monosemanticity to the best model "
          "found with L1 regularization.” (Fig. 14 caption)",
          "The text says comparable task loss, Fig. 14's caption lower loss: the check follows the caption "
          "(SPEC), the stronger statement.",
          gather_6, judge_6, ("RG1",)),
    Claim(7, "4.1.4", "4-1-4-neurons-K0-K1-K2",
          "K0/K1/K2: # mono neurons grows with k; loss stops improving once k > N; for k > N the offset model has "
          "lower loss; Erdős–Rényi sparse layers lose to dense at equal compute",
          "“Models with more neurons learn more monosemantic solutions and achieve lower loss up until the number "
          "of neurons exceeds the number of features, at which point the loss sees sharply diminishing returns.” "
          "(Fig. 15 caption) “Dense layers were more performant than sparse ones at fixed compute cost.” (§4.1.4)",
          "The text says the offset model is slightly worse at 256–512 neurons: shown, not judged (“slightly” "
          "has no threshold); the plateau is measured from the first k above N.",
          gather_7, judge_7, ("K0", "K1", "ER1")),
    Claim(8, "4.1.5", "4-1-5-sparsity-E1-E2-E3-E4",
          "E1–E4: monosemanticity peaks near eps = 2^-5, falls as N·eps → d, almost none by N·eps ≈ 2d; slower "
          "bias decay recovers monosemanticity at the sparsest eps",
          "“This transition begins around ε = 2^-5, at which point Nε = d/4. By the time Nε ≈ 2d there are almost "
          "no monosemantic neurons left.” “With slower weight decay we see more monosemanticity in this very "
          "sparse regime.” (§4.1.5, Fig. 18)",
          "The text says the transition begins at 2^-5; SPEC reads Fig. 18 as the peak there: the check puts "
          "the peak within one octave of 2^-5.",
          gather_8, judge_8, ("E1", "E4")),
    Claim(9, "4.2", "4-2-reprojector-RP1",
          "RP1 (re-projector): about one monosemantic neuron per feature across learning rates",
          "“We are able to create models with roughly one monosemantic neuron per feature across a range of "
          "learning rates.” (§4.2, Fig. 21)", "",
          gather_9, judge_9, ("RP1",)),
    Claim(10, "4.3", "4-3-abs-LR5",
          "Abs task (LR5, D1): more monosemantic models have lower loss; offset -1 alone is not enough (mono rises "
          "with lr); slower bias decay makes models monosemantic",
          "“Models of different monosemanticity achieve different loss, with lower losses for more monosemantic "
          "models. Setting a negative initial bias is insufficient to robustly produce mostly-monosemantic models "
          "… using less weight decay produced more monosemantic models.” (§4.3, Figs. 22, 23)",
          "Fig. 22's caption reads “insufficient” as: the monosemanticity rises with increasing learning rate; the "
          "check asks that LR5 rise with lr.",
          gather_10, judge_10, ("LR5", "D1")),
    Claim(11, "5", "5-mechanism-E1-E3",
          "Mechanism (E1 at eps = 1/64, E3 at 1/256): the mono part turns on near amplitude 0.4 (0.3), two-neuron "
          "features kink again near 0.8 (0.6); the poly part is a low-rank identity with singular values ≈ 0 or "
          "≈ 1 and biases that cancel through W2",
          "“This is close to a representation of the identity, with singular values that are all either zero or "
          "nearly-unity (0.99−1.03).” (§5.2, Fig. 26)",
          f"The map has rank at most d, so N − d of its singular values are 0 by construction: the check counts "
          f"the d largest, ± 0.1 around the paper's 0.99–1.03.",
          gather_11, judge_11, tuple(mechanism.MODELS)),
)


def get_claim(number: int) -> Claim:
    for claim in CLAIMS:
        if claim.number == number:
            return claim
    raise ValueError(f"unknown claim {number!r}; valid: 1–{len(CLAIMS)}")


def for_section(section: str) -> list[Claim]:
    return [c for c in CLAIMS if c.section == section]


# ------------------------------------------------------------------ judging at a preset

@dataclasses.dataclass(frozen=True)
class Judgement:
    """One claim at one preset and seed: its checks and verdict, or why it could not be judged."""
    number: int
    preset: str
    seed: int
    verdict: str
    checks: tuple = ()
    still_learning: tuple = ()   # (label, steps) of the models read whose loss still fell > 2 % late
    missing: str = ""            # why it is not judged (verdict NOT_TRAINED)
    steps: tuple = ()            # (ours, the paper's) step counts of the runs read

    @property
    def claim(self) -> Claim:
        return get_claim(self.number)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]

    def reason(self) -> str:
        """One line: why this verdict."""
        if self.verdict == NOT_TRAINED:
            return self.missing.split(": ")[0]
        tested = [c for c in self.checks if c.passed is not None]
        failed = self.failed()
        if not failed:
            text = f"all {len(tested)} checks hold"
        else:
            first = failed[0]
            text = (f"{len(failed)} of {len(tested)} checks fail, e.g. {first.quantity} = {first.value()} "
                    f"(rule {first.rule})")
        if self.still_learning and failed:
            steps = " / ".join(batches.pow2(s) for s in sorted({s for _, s in self.still_learning}))
            text += f"; {len(self.still_learning)} of its models still learning at {steps} steps"
        if failed and (cut := batches.cuts(batches.get_preset(self.preset), self.steps)):
            text += f"; scaled down here: {', '.join(cut)}"
        return text

    def markdown(self) -> str:
        """The verdict, the paper's sentence, which reading the check follows, and every check."""
        head = f"**Claim {self.number} at preset `{self.preset}`: {badge(self.verdict)} {self.verdict}** ({self.reason()})."
        if self.verdict == NOT_TRAINED:
            return f"{head}\n\n{self.missing}"
        claim = self.claim
        follows = f"\n\n*How it is checked:* {claim.follows}" if claim.follows else ""
        return f"{head}\n\n> {claim.quote}{follows}\n\n" + checks_table(self.checks)

    def _repr_markdown_(self) -> str:
        return self.markdown()


def mark(passed: bool | None) -> str:
    return "" if passed is None else "✓ pass" if passed else "✗ fail"


def cell(text) -> str:
    return str(text).replace("|", "\\|")


def checks_table(checks) -> str:
    lines = ["| quantity | paper | ours | rule | |", "|---|---|---|---|---|"]
    lines += [f"| {cell(c.label())} | {cell(c.paper)} | {cell(c.value())} | {cell(c.rule or '(shown)')} | "
              f"{mark(c.passed)} |" for c in checks]
    return "\n".join(lines)


def evaluate(number: int, preset: str, seed: int = 0, results_dir=None) -> Judgement:
    """Gather claim `number`'s summary at `preset` and `seed`, and judge it."""
    claim = get_claim(number)
    load = Loader(preset, seed, results_dir)
    try:
        summary = claim.gather(load)
    except store.StoreError as error:
        return Judgement(number, preset, seed, NOT_TRAINED, missing=str(error))
    checks = tuple(claim.judge(summary))
    return Judgement(number, preset, seed, ladder(checks), checks, load.still_learning(), steps=load.steps())


# ------------------------------------------------------------------ over seeds, and over scales

@dataclasses.dataclass(frozen=True)
class SeedRow:
    quantity: str
    paper: str
    ours: str           # the mean, and the range over the seeds that have this row
    rule: str
    passes: int         # at how many seeds the check holds (of `seeds`; a seed without the row fails it)
    detail: str = ""    # the checks' details: one if every seed's agrees, else each seed's
    absent: tuple = ()  # the seeds whose judgement lacks this row (a piecewise preset's other models)


@dataclasses.dataclass(frozen=True)
class Aggregate:
    """One claim over several seeds: per check the mean and range, and the verdicts' tally."""
    number: int
    seeds: int
    rows: tuple
    verdict: str
    tally: dict     # verdict → count


def aggregate(judgements: list[Judgement]) -> Aggregate:
    """The most common verdict (the worse on a tie), and a row per check, matched across seeds by
    its quantity: a piecewise preset may hold other models, and so other rows, at each seed."""
    judged = [j for j in judgements if j.verdict != NOT_TRAINED]
    if not judged:
        raise ValueError("no judged seed to aggregate")
    tally = {v: sum(j.verdict == v for j in judged) for v in VERDICTS}
    verdict = max(VERDICTS, key=lambda v: (tally[v], VERDICTS.index(v)))
    columns: dict = {}   # quantity → [(seed, check)], in the order the seeds first show them
    for j in judged:
        names = [c.quantity for c in j.checks]
        if len(set(names)) < len(names):
            raise ValueError(f"claim {j.number} at seed {j.seed} names two checks alike: its rows cannot be matched "
                             f"across seeds")
        for c in j.checks:
            columns.setdefault(c.quantity, []).append((j.seed, c))
    rows = tuple(seed_row(column, [j.seed for j in judged]) for column in columns.values())
    return Aggregate(judged[0].number, len(judged), rows, verdict, tally)


def seed_row(column, seeds) -> SeedRow:
    """One check over the seeds that have it ((seed, Check) each): mean and range of its value, at
    how many it holds, its details, and which of `seeds` lack it."""
    first = column[0][1]
    values = [c.ours for _, c in column if not (isinstance(c.ours, float) and math.isnan(c.ours))]
    mean = first.fmt.format(statistics.fmean(values)) if values else "—"
    spread = f" ({first.fmt.format(min(values))} – {first.fmt.format(max(values))})" if len(values) > 1 else ""
    details = [(seed, c.detail) for seed, c in column if c.detail]
    same = len(column) == len(seeds) and len(details) == len(column) and len({d for _, d in details}) == 1
    detail = details[0][1] if same else "; ".join(f"seed {seed}: {d}" for seed, d in details)
    present = {seed for seed, _ in column}
    return SeedRow(first.quantity, first.paper, mean + spread, first.rule, sum(c.passed is True for _, c in column),
                   detail, tuple(s for s in seeds if s not in present))


def disagreement(a: Judgement, b: Judgement) -> str:
    """One sentence on why two scales' verdicts differ ("" if they agree or one is not judged): the
    checks that hold at one scale and fail at the other, or else each scale's failures, and how many
    of the worse scale's models were still learning."""
    if a.verdict == b.verdict or NOT_TRAINED in (a.verdict, b.verdict):
        return ""
    worse, better = sorted((a, b), key=lambda j: -VERDICTS.index(j.verdict))
    theirs = {c.quantity: c for c in better.checks}
    flipped = [(c, theirs[c.quantity]) for c in worse.checks
               if c.passed is False and c.quantity in theirs and theirs[c.quantity].passed]
    if flipped:
        parts = [f"{x.quantity}: {x.value()} at `{worse.preset}`, {y.value()} at `{better.preset}` (rule {x.rule})"
                 for x, y in flipped[:2]]
        text = f"The scales differ on {'; '.join(parts)}" + (f", and {len(flipped) - 2} more" if len(flipped) > 2 else "")
    else:
        tested = lambda j: sum(c.passed is not None for c in j.checks)
        first = worse.failed()[0]
        text = (f"At `{worse.preset}` {len(worse.failed())} of {tested(worse)} checks fail (e.g. {first.quantity} = "
                f"{first.value()}, rule {first.rule}), at `{better.preset}` {len(better.failed())} of {tested(better)}")
    if worse.still_learning:
        text += f"; {len(worse.still_learning)} of the models `{worse.preset}` judges are still learning"
    return text + "."


PAPER = "paper"
FAITHFUL = ("half", PAPER)  # the presets that run the paper's protocol: every verdict table shows them


def verdict_table(numbers, preset: str, seed: int = 0, results_dir=None, link_prefix: str = "") -> str:
    """Markdown: one row per claim, its verdict with a one-line reason at `preset` and at each
    FAITHFUL preset, and a sentence where `preset` and the paper's scale disagree. Each row links to
    its page (`link_prefix` + page)."""
    scales = list(dict.fromkeys([preset, *FAITHFUL]))
    header = "| claim | " + " | ".join(f"preset `{s}`" for s in scales) + " |"
    lines = [header, "|---|" + "---|" * len(scales)]
    notes = []
    for number in numbers:
        claim = get_claim(number)
        judged = [evaluate(number, s, seed, results_dir) for s in scales]
        cells = [f"{badge(j.verdict)} **{j.verdict}**: {cell(j.reason())}" for j in judged]
        lines.append(f"| [{number}]({link_prefix}{claim.page}.ipynb): {cell(claim.statement)} | " + " | ".join(cells)
                     + " |")
        if len(judged) > 1 and (sentence := disagreement(judged[0], judged[-1])):
            notes.append(f"- Claim {number}: {sentence}")
    return "\n".join(lines + ([""] + notes if notes else []))


def badge(verdict: str) -> str:
    return {VERDICTS[0]: "✓", VERDICTS[1]: "◐", VERDICTS[2]: "✗"}.get(verdict, "·")


def seeds_table(aggregates: dict) -> str:
    """Markdown: claim number → Aggregate, one row per check, mean and range over seeds, and at how
    many seeds it holds."""
    lines = ["| # | quantity | paper | ours (mean, range) | rule | holds at |", "|---|---|---|---|---|---|"]
    for number, summary in aggregates.items():
        claim = get_claim(number)
        tally = ", ".join(f"{v} {k}" for k, v in summary.tally.items() if v)
        lines.append(f"| [{number}]({claim.page}.ipynb) | **{cell(claim.statement)}** | | | | "
                     f"{badge(summary.verdict)} **{summary.verdict}** ({tally}) |")
        lines += [f"| | {cell(labelled(row.quantity, row.detail))} | {cell(row.paper)} | {cell(row.ours)} | "
                  f"{cell(row.rule or '(shown)')} | {held(row, summary.seeds)} |" for row in summary.rows]
    return "\n".join(lines)


def held(row: SeedRow, seeds: int) -> str:
    """At how many of `seeds` a check holds (nothing for a row shown only), and the seeds that lack it."""
    parts = [f"{'✓' if row.passes == seeds else '✗'} {row.passes} of {seeds} seeds"] if row.rule else []
    if row.absent:
        parts.append(f"absent at seed {', '.join(map(str, row.absent))}")
    return "; ".join(parts)


def opening(section: str, preset: str, seed: int = 0, results_dir=None):
    """What a chapter page opens with: the verdicts of its claims at its preset and at paper scale."""
    from IPython.display import Markdown
    numbers = [c.number for c in for_section(section)]
    return Markdown("**Verdicts on this page** (the checks are in the Verdict section below):\n\n"
                    + verdict_table(numbers, preset, seed, results_dir))
