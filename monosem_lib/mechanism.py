"""Section 5 (mechanistic interpretability) and the sweep figures of Sections 4.1.3-4.3.

Section 5 splits a feature decoder into its negative-bias ("mono") and positive-bias ("poly")
neurons and studies, for single-feature inputs a·F_j, how each part builds the output y_j
(Figs. 24, 25), and the linearised map of the poly part (Fig. 26).
"""
import math

import matplotlib.pyplot as plt
import torch

from . import metrics
from .model import ACTIVATIONS

AMPLITUDES = torch.linspace(0, 1, 201)
ON = 1e-3   # an activation or output above this counts as "on" (metrics.turn_on_amplitude's default)
MODELS = {"E1": 1 / 64, "E3": 1 / 256}  # Section 5's models: batch → eps (the only ones whose W2 is read)


# ---------------------------------------------------------------- choosing models and features

def nearest_eps(models, target: float):
    """The model of an eps sweep whose eps is nearest `target` (in log), and a sentence saying
    whether the sweep has exactly that eps."""
    model = min(models, key=lambda m: abs(math.log2(m.config.eps) - math.log2(target)))
    eps = model.config.eps
    if math.isclose(eps, target, rel_tol=1e-6):
        return model, f"eps = 1/{1 / target:.0f} is in the sweep"
    return model, (f"the sweep has no eps = 1/{1 / target:.0f}; using the nearest, "
                   f"eps = {eps:.4g} = 1/{1 / eps:.3g}")


def mono_neurons_by_feature(model) -> list[list[int]]:
    """For each feature, its monosemantic neurons (r_i > 0.999, assigned to the feature they answer
    most strongly, as metrics.feature_census counts them)."""
    h = metrics.response(model)
    mono = metrics.monosemanticity(h[None])[0] > metrics.MONO_THRESHOLD
    owner = h.argmax(dim=0)
    by_feature = [[] for _ in range(h.shape[0])]
    for i in mono.nonzero()[:, 0].tolist():
        by_feature[int(owner[i])].append(i)
    return by_feature


# ---------------------------------------------------------------- Figs. 24, 25: output vs amplitude

def curves(model, feature: int, amplitudes=AMPLITUDES) -> dict:
    """y_j(a·F_j) for the full model and its mono (b ≤ 0) and poly (b > 0) parts."""
    c = model.config
    return metrics.output_vs_amplitude(model.W1, model.b, model.W2, model.P, c.activation, feature, amplitudes)


def neuron_turn_on(model, feature: int, neuron: int, amplitudes=AMPLITUDES) -> float:
    """The amplitude where `neuron` starts to fire on a·F_j (nan if not within the range)."""
    pre = amplitudes * (model.W1[neuron] @ model.P[:, feature]) + model.b[neuron]
    return metrics.turn_on_amplitude(amplitudes, ACTIVATIONS[model.config.activation](pre), ON)


def kinks(model, feature: int, neurons: list[int], amplitudes=AMPLITUDES) -> dict:
    """For feature j and its mono neurons: where their output turns on (the first kink), where the
    second of them turns on (a two-neuron feature's second kink; nan unless two turn on within the
    amplitudes), and where the whole mono part (every b ≤ 0 neuron) turns on. The last can come much
    earlier: one polysemantic neuron with a bias just below zero is enough to make the whole part non-zero."""
    c = model.config
    x = amplitudes[:, None] * model.P[:, feature][None, :]
    h = ACTIVATIONS[c.activation](x @ model.W1[neurons].T + model.b[neurons])   # (A, len(neurons))
    own = (h * model.W2[feature, neurons][None, :]).sum(-1)
    ons = sorted(a for i in neurons if not math.isnan(a := neuron_turn_on(model, feature, i, amplitudes)))
    return {"turn_on": metrics.turn_on_amplitude(amplitudes, own, ON),
            "second_kink": ons[1] if len(ons) >= 2 else float("nan"),
            "mono_part_turn_on": metrics.turn_on_amplitude(amplitudes, curves(model, feature, amplitudes)["mono"], ON)}


def _median(values):
    values = [v for v in values if not math.isnan(v)]
    return float(torch.tensor(values).median()) if values else float("nan")


def kink_census(model, amplitudes=AMPLITUDES) -> dict:
    """Over all features with one (two) mono neurons: how many there are, the median amplitude where
    their own mono neurons' output turns on (and where the whole mono part does), and (two-neuron
    features) the median second kink. Also one example feature of each kind: the one whose turn-on
    is nearest the median (None if there is none)."""
    by_feature = mono_neurons_by_feature(model)
    out = {}
    for count, name in ((1, "one"), (2, "two")):
        features = [j for j, ns in enumerate(by_feature) if len(ns) == count]
        found = {j: kinks(model, j, by_feature[j], amplitudes) for j in features}
        turn_on = _median([v["turn_on"] for v in found.values()])
        second = _median([v["second_kink"] for v in found.values()])
        part = _median([v["mono_part_turn_on"] for v in found.values()])
        usable = [j for j in features if not math.isnan(found[j]["turn_on"])]
        example = min(usable, key=lambda j: (abs(found[j]["turn_on"] - turn_on), j)) if usable else None
        out[name] = {"features": len(features), "turn_on": turn_on, "second_kink": second,
                     "mono_part_turn_on": part,
                     "example": example, "neurons": by_feature[example] if example is not None else []}
    return out


KINDS = {"one": "one-neuron", "two": "two-neuron"}


def amplitude_examples(models, target: float) -> dict:
    """For Figs. 24, 25 from one eps sweep: per kind ("one", "two"), the model nearest `target` (in
    log eps) that has W2 and a feature of that kind, with its kink census; None where no model of
    the sweep does."""
    usable = sorted((m for m in models if m.W2 is not None),
                    key=lambda m: abs(math.log2(m.config.eps) - math.log2(target)))
    found = {}
    for m in usable:
        census = kink_census(m)
        for kind in KINDS:
            if kind not in found and census[kind]["example"] is not None:
                found[kind] = (m, census)
        if len(found) == len(KINDS):
            break
    return {kind: found.get(kind) for kind in KINDS}


def plot_feature(ax, model, feature, neurons, amplitudes=AMPLITUDES):
    """One panel of Figs. 24, 25: full model, mono part, poly part and the truth y = a."""
    y = curves(model, feature, amplitudes)
    ax.plot(amplitudes, y["full"], label="full model", color="C0")
    ax.plot(amplitudes, y["mono"], label="mono part (b ≤ 0)", color="C1")
    ax.plot(amplitudes, y["poly"], label="poly part (b > 0)", color="C2")
    ax.plot(amplitudes, amplitudes, ":", color="black", label="truth")
    for i in neurons:
        a = neuron_turn_on(model, feature, i, amplitudes)
        if not math.isnan(a):
            ax.axvline(a, color="C1", lw=0.6, ls="--")
    ax.set_xlim(0, 1)


def plot_amplitude_grid(examples: dict):
    """Figs. 24, 25: one row per sweep (label → amplitude_examples), columns: a one- and a
    two-neuron feature, each from the model nearest the sweep's target eps that has one. Dashed
    orange lines mark where each of the feature's mono neurons turns on."""
    fig, axes = plt.subplots(len(examples), 2, figsize=(7.5, 3.2 * len(examples)), squeeze=False, sharex=True)
    for (label, kinds), row in zip(examples.items(), axes):
        for ax, kind in zip(row, KINDS):
            if kinds[kind] is None:
                ax.text(0.5, 0.5, f"no model of {label} with W2\nhas a {KINDS[kind]} feature", ha="center",
                        va="center", transform=ax.transAxes, fontsize=9)
                ax.set_axis_off()
                continue
            model, census = kinds[kind]
            plot_feature(ax, model, census[kind]["example"], census[kind]["neurons"])
            ax.set_title(f"{label}, eps = 1/{1 / model.config.eps:g}: feature {census[kind]['example']}, "
                         f"{KINDS[kind]}", fontsize=9)
        row[0].set_ylabel("output amplitude y_j")
    for ax in axes[-1]:
        ax.set_xlabel("input feature amplitude a")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Fig. 26: the poly part's linear map

def poly_summary(model) -> dict:
    """Fig. 26 in numbers: the poly neurons' linearised map W2_poly W1_poly P (n × n), its singular
    values binned as ≈ 0 (< 0.1), ≈ 1 (0.9-1.1) or other, and the poly biases through W2."""
    m = metrics.poly_linear_map(model.W1, model.b, model.W2, model.P)
    s = m["singular_values"]
    near_zero, near_one = s < 0.1, (s - 1).abs() <= 0.1
    ones = s[near_one]
    return {
        "map": m["map"], "singular_values": s, "poly_neurons": m["poly_neurons"],
        "near_zero": int(near_zero.sum()), "near_one": int(near_one.sum()),
        "other": int((~near_zero & ~near_one).sum()),
        "near_one_range": (float(ones.min()), float(ones.max())) if len(ones) else (float("nan"),) * 2,
        "max_bias_through_W2": float(m["bias_through_W2"].abs().max()),
        "diagonal": m["map"].diagonal(),
    }


def plot_poly_map(model, title: str = ""):
    """Fig. 26: the linearised map of the poly neurons, and its singular values."""
    s = poly_summary(model)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw={"width_ratios": [1.1, 1]})
    vmax = float(s["map"].abs().max()) or 1.0
    image = left.imshow(s["map"], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=left, shrink=0.8)
    left.set_xlabel("input feature")
    left.set_ylabel("output feature")
    left.set_title(f"linearised map of the {s['poly_neurons']} poly neurons", fontsize=9)
    right.plot(s["singular_values"], "o", ms=3)
    right.axhspan(0.99, 1.03, color="C1", alpha=0.3, label="paper: 0.99-1.03")
    right.axvline(model.config.d - 0.5, color="grey", lw=0.6, ls="--", label=f"d = {model.config.d}")
    right.set_xlabel("index")
    right.set_ylabel("singular value")
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
