"""The paper's claims (SPEC §4), each checked against stored results.

Every `claim_N(preset, seed, results_dir)` loads what it needs from the result store and returns
a Claim: the paper's numbers, ours, and a verdict computed from ours. Chapter pages show one seed;
the claims chapter aggregates several seeds.
"""
import dataclasses
import statistics

from . import metrics, store

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")


@dataclasses.dataclass
class Row:
    quantity: str
    paper: str
    ours: float
    fmt: str = "{:.3f}"


@dataclasses.dataclass
class Claim:
    number: int
    statement: str
    page: str                # the executed page that shows it (without .ipynb)
    rows: list
    verdict: str

    def markdown(self) -> str:
        table = "| quantity | paper | ours |\n|---|---|---|\n" + "\n".join(
            f"| {r.quantity} | {r.paper} | {r.fmt.format(r.ours)} |" for r in self.rows)
        return f"**Verdict: {self.verdict}.**\n\n{table}"

    def _repr_markdown_(self) -> str:
        return self.markdown()


def aggregate(claims: list[Claim]) -> dict:
    """One claim over several seeds: per row the mean and spread (min–max), and the verdicts' tally."""
    first = claims[0]
    rows = []
    for i, row in enumerate(first.rows):
        values = [c.rows[i].ours for c in claims]
        mean = statistics.fmean(values)
        spread = f" ({row.fmt.format(min(values))} – {row.fmt.format(max(values))})" if len(values) > 1 else ""
        rows.append((row.quantity, row.paper, row.fmt.format(mean) + spread))
    tally = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    verdict = max(VERDICTS, key=lambda v: (tally[v], -VERDICTS.index(v)))
    return {"number": first.number, "statement": first.statement, "page": first.page, "rows": rows,
            "verdict": verdict, "tally": tally, "seeds": len(claims)}


def _summaries(models):
    return [metrics.summary(m) for m in models]


def _relative_spread(values) -> float:
    return (max(values) - min(values)) / min(values)


def bias_of_mono_and_poly(model) -> tuple[float, float]:
    """Mean bias of the monosemantic neurons and of the rest (nan where there are none)."""
    c = model.config
    r = metrics.monosemanticity(metrics.feature_response(model.W1[None], model.b[None], model.P[None],
                                                         c.activation, c.task))[0]
    mono = r > metrics.MONO_THRESHOLD
    mean = lambda x: x.mean().item() if len(x) else float("nan")
    return mean(model.b[mono]), mean(model.b[~mono])


def claim_1(preset: str, seed: int = 0, results_dir=None) -> Claim:
    lr1 = store.load("LR1", preset, seed, results_dir)
    lr2 = store.load("LR2", preset, seed, results_dir)
    s1, s2 = _summaries(lr1), _summaries(lr2)
    mono_bias, poly_bias = bias_of_mono_and_poly(lr1[-1])
    spread = max(_relative_spread([s["loss"] for s in s1]), _relative_spread([s["loss"] for s in s2]))
    rising = s1[-1]["mono_per_feature"] > s1[0]["mono_per_feature"] and \
        s2[-1]["mono_per_feature"] > s2[0]["mono_per_feature"]
    biases = mono_bias < 0 < poly_bias
    verdict = VERDICTS[0] if rising and spread < 0.05 and biases else VERDICTS[1] if rising else VERDICTS[2]
    return Claim(1, "LR1/LR2: equal loss across lr, # mono neurons rises with lr; mono neurons have "
                    "moderate negative bias, polysemantic ones small positive bias", "4-1-1-basins-LR1", [
        Row("LR1 mono / N, lowest lr", "low (Fig. 3)", s1[0]["mono_per_feature"]),
        Row("LR1 mono / N, highest lr", "≈ 1 (503 / 512 features with one)", s1[-1]["mono_per_feature"]),
        Row("LR2 mono / N, lowest → highest lr", "rising (Fig. 6)",
            s2[-1]["mono_per_feature"] - s2[0]["mono_per_feature"], "{:+.3f}"),
        Row("largest relative loss spread across lr", "≈ 0", spread, "{:.1%}"),
        Row("LR1 highest lr: features with one mono neuron / N", "503 / 512 = 0.982",
            s1[-1]["features_with_1"] / lr1[-1].config.n),
        Row("LR1 highest lr: mean bias of mono neurons", "moderate negative", mono_bias, "{:+.3f}"),
        Row("LR1 highest lr: mean bias of other neurons", "small positive", poly_bias, "{:+.3f}"),
    ], verdict)
