"""The paper's figure types, drawn from stored results (training.ModelResult lists).

No backend is set here, so figures display inline in notebooks."""
import math

import matplotlib.ticker
import matplotlib.pyplot as plt
import torch

from . import metrics


def log_scale(results, field: str, log: bool | None = None) -> bool:
    """`log` if given, else whether every value of `field` is positive (offsets are not)."""
    return all(getattr(r.config, field) > 0 for r in results) if log is None else log


def _colours(results, field: str, log: bool | None = None):
    values = torch.tensor([float(getattr(r.config, field)) for r in results])
    log = log_scale(results, field, log)
    values = values.log10() if log else values
    span = (values.max() - values.min()).item() or 1.0
    cmap = plt.get_cmap("viridis")
    norm = plt.Normalize(values.min().item(), values.min().item() + span)
    return [cmap(norm(v.item())) for v in values], plt.cm.ScalarMappable(norm=norm, cmap=cmap)


def traces(results, field: str = "lr", log: bool | None = None, title: str = ""):
    """Figs. 1, 3, 6, 7, 12: loss, # mono / N and mean bias against log2 training steps. The colour
    scale is logarithmic unless some value of `field` is not positive (offsets), or `log` says."""
    fig, axes = plt.subplots(3, 1, figsize=(6, 6.5), sharex=True)
    log = log_scale(results, field, log)
    colours, mappable = _colours(results, field, log)
    for r, colour in zip(results, colours):
        steps = r.trace["step"].float().log2()
        smooth = metrics.smoothed_loss(r)
        # The smoothing window fills only after its first logs: before that, the raw log, so the
        # early decay (Fig. 19) is drawn too.
        early = len(r.loss) - len(smooth)
        loss = torch.cat([r.loss[:early], smooth])
        axes[0].plot((r.loss_steps[:len(loss)].float() + 1).log2(), loss, color=colour)
        axes[1].plot(steps, r.trace["mono"], color=colour)
        axes[2].plot(steps, r.trace["mean_bias"], color=colour)
    for ax, label in zip(axes, ("loss (smoothed)", "# mono neurons / N", "mean bias")):
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[-1].set_xlabel("log2 training steps")
    fig.colorbar(mappable, ax=axes, label=f"log10 {field}" if log else field)
    fig.suptitle(title)
    return fig


def activation_image(r, ax, W1=None, b=None):
    """Figs. 4, 7: h_i(F_j), neurons sorted by r_i, features by the neuron they activate most."""
    h = metrics.response(r, W1, b)
    neuron_order, feature_order = metrics.orderings(h)
    image = h[feature_order][:, neuron_order].T  # (neurons, features)
    shown = ax.imshow(image.clamp(min=0), aspect="auto", cmap="magma", interpolation="nearest",
                      vmin=0, vmax=max(float(image.max()), 1e-6))
    ax.set_xlabel("feature")
    ax.set_ylabel("neuron")
    return shown


def activation_images(results, field: str = "lr", columns: int = 3):
    """One activation image per model, at most `columns` to a row so that each stays readable."""
    rows = math.ceil(len(results) / columns)
    width = min(columns, len(results))
    fig, axes = plt.subplots(rows, width, figsize=(3.2 * width, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.set_visible(False)
    for r, ax in zip(results, axes.flat):
        fig.colorbar(activation_image(r, ax), ax=ax, shrink=0.8, label="h_i(F_j)")
        s = metrics.summary(r)
        ax.set_title(f"{field}={getattr(r.config, field):.3g}\nmono/N={s['mono_per_feature']:.2f}", fontsize=9)
    fig.tight_layout()
    return fig


def bias_vs_monosemanticity(results, field: str = "lr"):
    """Fig. 5: each neuron's bias against its r_i: mono neurons sit at moderate negative bias."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3), squeeze=False, sharey=True)
    for r, ax in zip(results, axes[0]):
        rr = metrics.monosemanticity(metrics.response(r)[None])[0]
        ax.scatter(r.b, rr, s=3, alpha=0.5)
        ax.axhline(metrics.MONO_THRESHOLD, color="grey", lw=0.5)
        ax.set_xlabel("bias")
        ax.set_title(f"{field}={getattr(r.config, field):.3g}", fontsize=9)
    axes[0, 0].set_ylabel("r_i")
    fig.tight_layout()
    return fig


def bias_profile(results, field: str = "lr"):
    """Figs. 10, 11: neuron biases sorted, with the positive-bias band (b > 0.05) counted."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    colours, _ = _colours(results, field)
    for r, colour in zip(results, colours):
        band = int(metrics.band_count(r.b[None]))
        ax.plot(torch.sort(r.b, descending=True).values, color=colour,
                label=f"{field}={getattr(r.config, field):.3g}: band {band}")
    ax.axhline(metrics.BAND_BIAS, color="grey", lw=0.5, ls="--")
    ax.axvline(results[0].config.d + 1, color="red", lw=0.8, ls=":", label=f"d + 1 = {results[0].config.d + 1}")
    ax.set_xlim(0, 4 * results[0].config.d)
    ax.set_xlabel("neuron (sorted by bias)")
    ax.set_ylabel("bias")
    ax.legend(fontsize=7)
    return fig


def r_cdf(r, thresholds=None):
    """Fig. 2: the cumulative fraction of neurons with r_i < r_t, at every power-of-two checkpoint."""
    thresholds = torch.linspace(0, 1, 201) if thresholds is None else thresholds
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = sorted(r.checkpoints)
    cmap = plt.get_cmap("viridis")
    for i, step in enumerate(steps):
        ck = r.checkpoints[step]
        rr = metrics.monosemanticity(metrics.response(r, ck["W1"], ck["b"])[None])[0]
        cdf = (rr[None, :] < thresholds[:, None]).float().mean(-1)
        ax.plot(thresholds, cdf, color=cmap(i / max(1, len(steps) - 1)), label=f"2^{int(math.log2(step))}")
    ax.set_xlabel("threshold monosemanticity r_t")
    ax.set_ylabel("cumulative neurons with r_i < r_t")
    ax.legend(fontsize=6, ncol=2, title="step")
    return fig


# ------------------------------------------------------------------ §4.1.2 (negative bias, offsets, GeLU)
def band_vs_d(results):
    """Fig. 11 across d (batch BD): each model's sorted biases with its d + 1 marked (left), and the
    positive-bias band (b > 0.05) against d with the line band = d + 1 (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    ds = [r.config.d for r in results]
    bands = [int(metrics.band_count(r.b[None])) for r in results]
    cmap = plt.get_cmap("viridis")
    for i, (r, band) in enumerate(zip(results, bands)):
        colour = cmap(i / max(1, len(results) - 1))
        axes[0].plot(torch.sort(r.b, descending=True).values, color=colour, label=f"d={r.config.d}: band {band}")
        axes[0].axvline(r.config.d + 1, color=colour, lw=0.8, ls=":")
    axes[0].axhline(metrics.BAND_BIAS, color="grey", lw=0.5, ls="--")
    axes[0].set_xlim(0, 4 * max(ds))
    axes[0].set_xlabel("neuron (sorted by bias); dotted: d + 1")
    axes[0].set_ylabel("bias")
    axes[0].legend(fontsize=7)
    grid = torch.linspace(0, max(ds) * 1.1, 50)
    axes[1].plot(grid, grid + 1, color="red", lw=0.8, ls=":", label="d + 1")
    axes[1].plot(ds, bands, "o", label="band (bias > 0.05)")
    axes[1].set_xlabel("embedding dimension d")
    axes[1].set_ylabel("# neurons with bias > 0.05")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _mono_fractions(r):
    s = metrics.summary(r)
    return s["mono_neurons"] / r.config.k, s["mono_per_feature"]


def mono_vs_offset(groups: dict, marks: dict | None = None, mark_label: str = "", title: str = "",
                   vline: float | None = None, vline_label: str = ""):
    """Figs. 8, 13: # mono neurons / k (upper) and / N (lower) against the initial bias offset, one
    line per group; `marks` (group label → x) draws a vertical line in the group's colour, `vline`
    one black line for all, and the dashed black lines mark where the count equals k (upper) and
    N (lower)."""
    fig, axes = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True)
    cmap = plt.get_cmap("viridis")
    for i, (label, results) in enumerate(groups.items()):
        colour = cmap(i / max(1, len(groups) - 1))
        ordered = sorted(results, key=lambda r: r.config.offset)
        xs = [r.config.offset for r in ordered]
        fractions = [_mono_fractions(r) for r in ordered]
        for ax, ys in zip(axes, zip(*fractions)):
            ax.plot(xs, ys, "o-", color=colour, label=label, ms=4)
        if marks and label in marks:
            for ax in axes:
                ax.axvline(marks[label], color=colour, lw=0.8, ls=":")
    for ax, ylabel in zip(axes, ("# mono neurons / # neurons", "# mono neurons / # features")):
        ax.axhline(1, color="black", lw=0.8, ls="--")
        if vline is not None:
            ax.axvline(vline, color="black", lw=0.8, label=vline_label or None)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7, title=mark_label or None, title_fontsize=7)
    axes[-1].set_xlabel("initial mean bias (offset)")
    fig.suptitle(title)
    return fig


def offset_map(groups: dict):
    """Fig. 9: every B model as a point (offset, log2 eps) coloured by its # mono neurons, with the
    scale -sqrt(eps) as a black curve (left); # mono / N against offset / sqrt(eps), where the scale
    sits at -1 (right). `groups`: label → the models of one eps."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    models = [r for results in groups.values() for r in results]
    counts = torch.tensor([float(metrics.summary(r)["mono_neurons"]) for r in models])
    points = axes[0].scatter([r.config.offset for r in models], [math.log2(r.config.eps) for r in models],
                             c=counts, cmap="viridis", s=40, vmin=0, vmax=max(1.0, float(counts.max())))
    fig.colorbar(points, ax=axes[0], label="# mono neurons")
    log2_eps = torch.linspace(min(math.log2(r.config.eps) for r in models) - 0.5,
                              max(math.log2(r.config.eps) for r in models) + 0.5, 100)
    axes[0].plot(-(2 ** log2_eps).sqrt(), log2_eps, color="black", label="-sqrt(eps)")
    axes[0].set_xlabel("initial mean bias (offset)")
    axes[0].set_ylabel("log2 eps")
    axes[0].legend(fontsize=7)
    cmap = plt.get_cmap("viridis")
    for i, (label, results) in enumerate(groups.items()):
        ordered = sorted(results, key=lambda r: r.config.offset)
        axes[1].plot([r.config.offset / math.sqrt(r.config.eps) for r in ordered],
                     [metrics.summary(r)["mono_per_feature"] for r in ordered], "o-", ms=4,
                     color=cmap(i / max(1, len(groups) - 1)), label=label)
    axes[1].axvline(-1, color="black", lw=0.8, label="offset = -sqrt(eps)")
    axes[1].set_xscale("symlog", linthresh=1)
    ticks = [t for t in (-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16)
             if axes[1].get_xlim()[0] <= t <= axes[1].get_xlim()[1]]
    axes[1].set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes[1].set_xlabel("offset / sqrt(eps)")
    axes[1].set_ylabel("# mono neurons / N")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def activation_thumbnail(r, size: float = 3.0, title: str = ""):
    """A small Fig. 4/10-style activation image with its colour bar, for the explorer widget."""
    fig, ax = plt.subplots(figsize=(size * 1.25, size))
    bar = fig.colorbar(activation_image(r, ax), ax=ax, shrink=0.85)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("h_i(F_j)", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("feature (sorted)", fontsize=7)
    ax.set_ylabel("neuron (sorted by r)", fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
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


PROTOCOL_COLOURS = {"paper": "C3", "silent": "C0", "tied": "C2", "regulariser": "C1", "none": "C7"}
PROTOCOL_CMAPS = {"paper": "Reds", "silent": "Blues", "tied": "Greens", "regulariser": "Oranges", "none": "Greys"}


def _mean_and_range(values):
    mean = sum(values) / len(values)
    return mean, mean - min(values), max(values) - mean


def protocol_lines(rows, x_of, xlabel: str, keys=("mono", "loss"), references: dict | None = None,
                   log: bool = True, title: str = "", long_batch: str | None = None):
    """The chapter "Beyond the paper": mono/N and loss against `x_of(row)` (a strength, a learning
    rate), one line per protocol: mean over seeds, bars spanning min to max. Rows of `long_batch`
    (trained longer) are drawn apart, as diamonds. `references`: label → {x: (mono, loss)} drawn as
    dashed markers (Table 1's models)."""
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.6 * len(keys)), sharex=True, squeeze=False)
    groups = {}
    for r in rows:
        groups.setdefault((r.protocol, r.batch == long_batch), {}).setdefault(x_of(r), []).append(r)
    for ax, key in zip(axes[:, 0], keys):
        for (protocol, long), points in groups.items():
            xs = sorted(points)
            stats = [_mean_and_range([getattr(r, key) for r in points[x]]) for x in xs]
            ax.errorbar(xs, [s[0] for s in stats], yerr=[[s[1] for s in stats], [s[2] for s in stats]],
                        fmt="D" if long else "o-", ms=6 if long else 4, capsize=3, mfc="none" if long else None,
                        color=PROTOCOL_COLOURS.get(protocol), label=f"{protocol} ({long_batch})" if long else protocol)
        for i, (label, points) in enumerate((references or {}).items()):
            xs = sorted(points)
            ax.plot(xs, [points[x][0 if key == "mono" else 1] for x in xs], "s--", ms=5, mfc="none",
                    color="black", lw=0.8, label=label)
        ax.set_ylabel(LABELS["mono_per_feature" if key == "mono" else "loss"])
        if log:
            ax.set_xscale("log")
        ticks = sorted({x for points in groups.values() for x in points})
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])  # the swept values, not log-scale minor labels
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no point hidden
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def protocol_bars(grid: dict, references: dict | None = None, title: str = ""):
    """Mono/N and loss per protocol at each place (grid: place → protocol → fragility.Cell): mean
    over seeds, bars spanning min to max; `references`: place → (label, mono, loss) as a dashed line."""
    places = list(grid)
    protocols = [p for p in PROTOCOL_COLOURS if any(p in cells for cells in grid.values())]
    width = 0.8 / max(1, len(protocols))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, key in zip(axes, ("mono", "loss")):
        for j, protocol in enumerate(protocols):
            xs, means, low, high = [], [], [], []
            for i, place in enumerate(places):
                cell = grid[place].get(protocol)
                if cell is None:
                    continue
                value, (lo, hi) = (cell.mono, cell.mono_range) if key == "mono" else (cell.loss, cell.loss_range)
                xs.append(i + (j - (len(protocols) - 1) / 2) * width)
                means.append(value), low.append(value - lo), high.append(hi - value)
            ax.bar(xs, means, width, yerr=[low, high], capsize=2, color=PROTOCOL_COLOURS[protocol], label=protocol)
        drawn = [(i, references[place]) for i, place in enumerate(places) if place in (references or {})]
        for n, (i, (label, mono, loss)) in enumerate(drawn):
            ax.hlines(mono if key == "mono" else loss, i - 0.45, i + 0.45, colors="black", linestyles="--",
                      lw=1, label="Table 1's model (seed 0, its own steps)" if n == 0 else None)
        ax.set_xticks(range(len(places)), places, fontsize=8)
        ax.set_ylabel(LABELS["mono_per_feature" if key == "mono" else "loss"])
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
