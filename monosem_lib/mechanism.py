"""Section 5 (mechanistic interpretability) and the sweep figures of Sections 4.1.3-4.3.

Section 5 splits a feature decoder into its negative-bias ("mono") and positive-bias ("poly")
neurons and studies, for single-feature inputs a·F_j, how each part builds the output y_j
(Figs. 24, 25), and the linearised map of the poly part (Fig. 26). The sweep helpers draw a
final summary number against a swept field, one line per batch (Figs. 14, 17, 18), and training
traces with several batches on one set of axes (Figs. 14, 15).
"""
import math

import matplotlib.pyplot as plt
import torch

from . import metrics

AMPLITUDES = torch.linspace(0, 1, 201)
ON = 1e-3   # an activation or output above this counts as "on" (metrics.turn_on_amplitude's default)


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
    from .model import ACTIVATIONS
    pre = amplitudes * (model.W1[neuron] @ model.P[:, feature]) + model.b[neuron]
    return metrics.turn_on_amplitude(amplitudes, ACTIVATIONS[model.config.activation](pre), ON)


def kinks(model, feature: int, neurons: list[int], amplitudes=AMPLITUDES) -> dict:
    """For feature j and its mono neurons: where their output turns on (the first kink), where the
    second of them turns on (a two-neuron feature's second kink; nan with fewer than two), and where
    the whole mono part (every b ≤ 0 neuron) turns on. The last can come much earlier: one
    polysemantic neuron with a bias just below zero is enough to make the whole part non-zero."""
    from .model import ACTIVATIONS
    c = model.config
    x = amplitudes[:, None] * model.P[:, feature][None, :]
    h = ACTIVATIONS[c.activation](x @ model.W1[neurons].T + model.b[neurons])   # (A, len(neurons))
    own = (h * model.W2[feature, neurons][None, :]).sum(-1)
    ons = sorted(neuron_turn_on(model, feature, i, amplitudes) for i in neurons)
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


def plot_feature(ax, model, feature, neurons, amplitudes=AMPLITUDES):
    """One panel of Figs. 24, 25: full model, mono part, poly part and the truth y = a."""
    if feature is None:
        ax.text(0.5, 0.5, "no such feature\nin this model", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        return
    y = curves(model, feature, amplitudes)
    ax.plot(amplitudes, y["full"], label="full model", color="C0")
    ax.plot(amplitudes, y["mono"], label="mono part (b ≤ 0)", color="C1")
    ax.plot(amplitudes, y["poly"], label="poly part (b > 0)", color="C2")
    ax.plot(amplitudes, amplitudes, ":", color="black", label="truth")
    for i in neurons:
        a = neuron_turn_on(model, feature, i, amplitudes)
        if not math.isnan(a):
            ax.axvline(a, color="C1", lw=0.6, ls="--")
    ax.set_title(f"feature {feature}: {len(neurons)} mono neuron{'s' if len(neurons) != 1 else ''}", fontsize=9)
    ax.set_xlim(0, 1)


def plot_amplitude_grid(rows: dict):
    """Figs. 24, 25: one row per model (label → model), columns: a one- and a two-neuron feature.
    Dashed orange lines mark where each of the feature's mono neurons turns on."""
    fig, axes = plt.subplots(len(rows), 2, figsize=(7.5, 3.2 * len(rows)), squeeze=False, sharex=True)
    for (label, model), row in zip(rows.items(), axes):
        census = kink_census(model)
        for ax, kind in zip(row, ("one", "two")):
            plot_feature(ax, model, census[kind]["example"], census[kind]["neurons"])
            ax.set_title(f"{label}\n{ax.get_title()}", fontsize=9)
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


# ---------------------------------------------------------------- sweeps (Figs. 14-23)

def value(model, key: str, summary=None):
    """A final number of one model: any metrics.summary key, or "mono_per_neuron" (# mono / k)."""
    s = summary or metrics.summary(model)
    if key == "mono_per_neuron":
        return s["mono_neurons"] / model.config.k
    return s[key]


LABELS = {"mono_per_feature": "# mono neurons / N", "mono_per_neuron": "# mono neurons / k",
          "mono_neurons": "# mono neurons", "loss": "min. loss (smoothed)", "final_loss": "final loss"}


def sweep_panels(groups: dict, x: str, keys, log_base: int | None = 2, vline=None, references: dict = None,
                 unit_lines: bool = False, xlabel: str | None = None):
    """Figs. 14, 17, 18: final numbers against a swept config field, one line per group
    (label → models); `vline` (value, label) marks e.g. k = N; `references` (label → model) adds
    horizontal lines; `unit_lines` draws the dashed y = 1 of Figs. 17, 18."""
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.6 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for label, models in groups.items():
            pairs = sorted((float(getattr(m.config, x)), value(m, key)) for m in models)
            ax.plot(*zip(*pairs), "o-", ms=4, label=label)
        for i, (label, model) in enumerate((references or {}).items()):
            ax.axhline(value(model, key), color="red" if i == 0 else f"C{i + 3}", ls="--", lw=1, label=label)
        if vline is not None:
            ax.axvline(vline[0], color="red", ls=":", lw=1, label=vline[1])
        if unit_lines and key.startswith("mono_per"):
            ax.axhline(1.0, color="black", ls="--", lw=0.6)
        ax.set_ylabel(LABELS.get(key, key))
        if log_base:
            ax.set_xscale("log", base=log_base)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel(xlabel or x)
    fig.tight_layout()
    return fig


def traces_groups(groups: dict, field: str, title: str = ""):
    """Figs. 14, 15: loss, # mono / N and mean bias against log2 training steps for several
    batches on one set of axes; each group (label → (models, colormap name)) is shaded by the
    position of its models in the sweep of `field`."""
    fig, axes = plt.subplots(3, 1, figsize=(6.5, 6.5), sharex=True)
    for label, (models, cmap_name) in groups.items():
        cmap = plt.get_cmap(cmap_name)
        ordered = sorted(models, key=lambda m: getattr(m.config, field))
        for i, m in enumerate(ordered):
            colour = cmap(0.4 + 0.6 * i / max(1, len(ordered) - 1))
            steps = m.trace["step"].float().log2()
            axes[0].plot(steps, m.trace["loss"], color=colour, label=label if i == len(ordered) - 1 else None)
            axes[1].plot(steps, m.trace["mono"], color=colour)
            axes[2].plot(steps, m.trace["mean_bias"], color=colour)
    for ax, label in zip(axes, ("loss", "# mono neurons / N", "mean bias")):
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[-1].set_xlabel("log2 training steps")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_loss_difference(difference: dict, n: int, title: str = ""):
    """Fig. 15, middle panel: the loss difference (offset -1 minus offset 0) at equal k."""
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ks = sorted(difference)
    ax.plot(ks, [difference[k] for k in ks], "o-", ms=4)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(n, color="red", ls=":", lw=1, label=f"k = N = {n}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (neurons)")
    ax.set_ylabel("loss difference")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def bars(models, labels, keys=("loss", "mono_per_feature"), title: str = ""):
    """A bar chart of final numbers, one bar per model (the Erdős–Rényi comparison of §4.1.4)."""
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.2))
    for ax, key in zip(axes, keys):
        ax.bar(range(len(models)), [value(m, key) for m in models], color=[f"C{i}" for i in range(len(models))])
        ax.set_xticks(range(len(models)), labels, fontsize=7)
        ax.set_ylabel(LABELS.get(key, key))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_loss_mono(groups: dict, title: str = ""):
    """Figs. 22, 23 in one view: each model's loss against its # mono / N. `groups` maps a label
    to (models, the swept field each point is annotated with)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (label, (models, field)) in enumerate(groups.items()):
        xs = [value(m, "mono_per_feature") for m in models]
        ys = [value(m, "loss") for m in models]
        ax.scatter(xs, ys, color=f"C{i}", label=f"{label} (labels: {field})", zorder=3)
        for m, x_, y_ in zip(models, xs, ys):
            ax.annotate(f"{getattr(m.config, field):.2g}", (x_, y_), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("# mono neurons / N")
    ax.set_ylabel(LABELS["loss"])
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def correlation(xs, ys) -> float:
    """Pearson correlation (nan when either side is constant)."""
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1])
