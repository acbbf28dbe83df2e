"""The paper's own scale on every chapter page: the `paper` preset's models of the page's batches
that exist (published in git, or trained locally), next to the page's own preset.

The paper preset is filled in parts (GPU runs, a stack at a time), so a page shows the models
that exist, names the ones still missing, and gives the command that trains them with the
plan's estimate of its GPU time (runs.plan at preset paper on CUDA, runs.SPEEDS["cuda"]).
"""
import math

import matplotlib.pyplot as plt
from IPython.display import Markdown

from . import batches, claims, metrics, plots, runs, store

PRESET = "paper"
DEVICE = "cuda"


def gpu_seconds(missing: dict) -> float:
    """The plan's estimate of training the `missing` models ({batch: [config, …]}) on one GPU: the
    units `train` would run for their batches and seeds at the paper preset on CUDA, each timed over
    the models of it still missing (a unit trains only what the store lacks), by runs.SPEEDS."""
    names = [name for name, configs in missing.items() if configs]
    lacking = {store.file_name(c) for name in names for c in missing[name]}
    if not lacking:
        return 0.0
    seeds = tuple(sorted({c.seed for name in names for c in missing[name]}))
    request = runs.Request(tuple(names), PRESET, seeds, DEVICE)
    left = [tuple(m for m in u.models if store.file_name(m.config) in lacking) for u in runs.plan(request)]
    return sum(runs.Unit(models).seconds(DEVICE) for models in left if models)


def gpu_time(seconds: float) -> str:
    """An estimate as the pages write it: GPU-minutes, or GPU-hours from two hours on."""
    return f"{math.ceil(seconds / 60)} GPU-minutes" if seconds < 7200 else f"{seconds / 3600:.1f} GPU-hours"


def steps_text(names) -> str:
    """The paper preset's run length of these batches, e.g. "2^20 steps" or "2^17 steps (LR5), 2^20 steps (D1)"."""
    preset = batches.get_preset(PRESET)
    by_steps = {}
    for name in names:
        by_steps.setdefault(batches.get_batch(name).steps(preset), []).append(name)
    if len(by_steps) == 1:
        return f"{batches.pow2(next(iter(by_steps)))} steps"
    return ", ".join(f"{batches.pow2(s)} steps ({', '.join(ns)})" for s, ns in by_steps.items())


def _label(batch: str, model) -> str:
    return ", ".join(f"{f} = {getattr(model.config, f):g}" for f in batches.get_batch(batch).sweep_fields())


def numbers(found: dict) -> Markdown:
    """One row per model: the headline numbers and where the model was trained."""
    lines = ["| batch | model | loss | mono / N | band (d + 1) | features with 1 / 2+ mono neurons | trained on |",
             "|---|---|---|---|---|---|---|"]
    for name, models in found.items():
        for m in models:
            s, p = metrics.summary(m), m.provenance
            lines.append(f"| {name} | {_label(name, m)} | {s['loss']:.4f} | {s['mono_per_feature']:.3f} | "
                         f"{s['band']} ({m.config.d + 1}) | {s['features_with_1']} / "
                         f"{s['features_with_2'] + s['features_with_3+']} | {p.get('device', '?')}, "
                         f"{p.get('precision', '?')}, torch {p.get('torch', '?')}, {m.seconds:.0f} s |")
    return Markdown("\n".join(lines))


def missing_note(missing: dict) -> str:
    """The models still missing, and the command that trains and publishes them."""
    parts, commands = [], []
    for name, configs in missing.items():
        if not configs:
            continue
        if len(configs) == len(batches.configs(name, PRESET)):   # none trained: the whole batch
            parts.append(f"{name}: all {len(configs)}")
            commands.append(command(name))
            continue
        fields = batches.get_batch(name).sweep_fields()
        values = {f: sorted({getattr(c, f) for c in configs}) for f in fields}
        parts.append(f"{name}: {len(configs)} ({'; '.join(f'{f} = ' + ', '.join(f'{v:g}' for v in vs) for f, vs in values.items())})")
        only = " ".join(f"--only {f}={','.join(f'{v:g}' for v in vs)}" for f, vs in values.items())
        commands.append(f"python -m monosem_lib train {name} --preset paper {only} --publish")
    if not parts:
        return "Every model of these batches is in at paper scale."
    return (f"Not trained yet at paper scale: {'; '.join(parts)}. They take ≈ {gpu_time(gpu_seconds(missing))} "
            f"on {runs.SPEEDS[DEVICE].name}, by the plan's estimate:\n\n```bash\n"
            + "\n".join(commands) + "\n```")


def compare(page: dict, paper: dict, field: str):
    """mono / N, band / (d + 1) and loss / N against the swept field: the page's preset (open
    markers) and the paper's scale (filled), per batch. Each quantity is per feature or per band
    width, so the two scales share an axis."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    quantities = (("mono / N", lambda m, s: s["mono_per_feature"]),
                  ("band / (d + 1)", lambda m, s: s["band"] / (m.config.d + 1)),
                  ("min. loss / N", lambda m, s: s["loss"] / m.config.n))
    for i, name in enumerate(paper):
        colour = plt.get_cmap("tab10")(i)
        for models, style, scale in ((page.get(name, []), "o--", "this page"), (paper[name], "s-", "ours at paper scale")):
            if not models:
                continue
            ordered = sorted(models, key=lambda m: getattr(m.config, field))
            xs = [getattr(m.config, field) for m in ordered]
            summaries = [metrics.summary(m) for m in ordered]
            for ax, (label, value) in zip(axes, quantities):
                ax.plot(xs, [value(m, s) for m, s in zip(ordered, summaries)], style, color=colour,
                        mfc="none" if scale == "this page" else colour, label=f"{name}, {scale}")
                ax.set_ylabel(label)
    for ax in axes:
        ax.set_xlabel(field)
        if field in ("lr", "eps", "l1", "decay"):
            ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def command(batch: str) -> str:
    return f"python -m monosem_lib train {batch.replace(',', ' ')} --preset paper --publish"


def show(batch: str, preset: str, seed: int = 0, results_dir=None, checks=()) -> list:
    """The "At paper scale" part of a chapter page for `batch` ("B1,B2" for several), as a list of
    things to display in order: what exists, a figure against this page's preset, the verdicts of
    the claims numbered in `checks` over those models, and what is missing. With nothing trained
    yet, one line with the command that trains it."""
    names = [b.strip() for b in batch.split(",")]
    if preset == PRESET:
        return [Markdown("This page is itself at the paper's scale.")]
    found, missing = {}, {}
    for name in names:
        found[name], missing[name] = store.available(name, PRESET, seed, results_dir)
    found = {name: models for name, models in found.items() if models}
    total = sum(len(m) for m in found.values()) + sum(len(m) for m in missing.values())
    p = batches.get_preset(PRESET)
    scale = f"preset `paper`: N = {p.n}, d = {p.d}, batch size {p.batch_work}/k, {steps_text(names)}"
    if not found:
        return [Markdown(f"Not trained yet at paper scale ({scale}; 0 of {total} models; ≈ "
                         f"{gpu_time(gpu_seconds(missing))} on {runs.SPEEDS[DEVICE].name} by the plan's "
                         f"estimate): `{command(batch)}`")]
    count = sum(len(m) for m in found.values())
    parts = [Markdown(f"**Paper scale ({scale}), seed {seed}: {count} of {total} models of "
                      f"{batch.replace(',', ', ')}.**"),
             numbers(found)]
    field = batches.get_batch(names[0]).sweep_fields()[0]
    page = {name: store.available(name, preset, seed, results_dir)[0] for name in found}
    figure = compare(page, found, field)
    plt.close(figure)
    trace = plots.traces([m for models in found.values() for m in models], field,
                         title=f"ours at paper scale: {', '.join(found)}, colour = {field}")
    plt.close(trace)
    parts += [figure, trace]
    parts += [verdict(number, seed, results_dir) for number in checks]
    parts.append(Markdown(missing_note(missing)))
    return parts


def verdict(number: int, seed: int = 0, results_dir=None) -> Markdown:
    """Claim `number`'s check over the paper-scale models that exist, or which batches it still needs."""
    return Markdown(claims.evaluate(number, PRESET, seed, results_dir).markdown())


def status(seed: int = 0, results_dir=None) -> str:
    """Markdown for the intro: how much of the paper preset exists, per batch of the paper's (the
    beyond batches are our own), and how to train the rest."""
    rows, done, total, lacking = [], 0, 0, {}
    for name in (n for n in batches.BATCHES if n not in batches.BEYOND):
        found, missing = store.available(name, PRESET, seed, results_dir)
        done, total, lacking[name] = done + len(found), total + len(found) + len(missing), missing
        devices = sorted({f"{m.provenance.get('device', '?')} ({m.provenance.get('precision', '?')})" for m in found})
        rows.append(f"| {name} | {len(found)} of {len(found) + len(missing)} | {', '.join(devices) or '—'} |")
    return "\n".join([
        f"**{done} of the paper preset's {total} models (seed {seed}) are published or stored.** The preset "
        f"runs {batches.get_preset(PRESET).steps_text()}; the rest take ≈ {gpu_time(gpu_seconds(lacking))} on "
        f"{runs.SPEEDS[DEVICE].name} by the estimates of `python -m monosem_lib plan`:",
        "", "```bash",
        "python -m monosem_lib train LR5 --preset paper --publish                 # one batch, then commit published/",
        "python -m monosem_lib train E1 E3 --preset paper --only eps=0.015625,0.00390625 --publish  # part of a sweep",
        "python -m monosem_lib train all --preset paper --publish                 # everything still missing",
        "```", "",
        "| batch | models at paper scale | trained on |", "|---|---|---|", *rows])
