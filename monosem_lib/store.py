"""The result store: one file per model, named by a hash of its own fully resolved config.

Two places hold models, looked up in this order:
- the local store, `results/models/` (or $MONOSEM_RESULTS_DIR): everything training produced,
  power-of-two checkpoints and W2 included;
- the published set, `published/` in git: compact copies (W1, b, the loss log, the trace, W2 only
  where a figure needs it) with their provenance, so the book needs no training for them.

A model's key depends on its config alone, so a sweep can be trained in parts, on several
machines, and a thinned sweep's model is the full sweep's. Files are written atomically
(temporary file, then rename); a file whose content does not match its name is reported, never used.
"""
import functools
import os
import tempfile
from pathlib import Path

import torch

from . import batches, mechanism, metrics, projections
from .config import ConfigError, ModelConfig, config_hash
from .training import LOG_EVERY, ModelResult, generator

ENGINE = 2   # bump when the numbers a config trains to change (2: hand-written backward)
FORMAT = 3   # the file layout (3: one file per model)
ENV_VAR = "MONOSEM_RESULTS_DIR"
PUBLISHED_ENV_VAR = "MONOSEM_PUBLISHED_DIR"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "results"
PUBLISHED_DIR = ROOT / "published"
TENSORS = ("W1", "b", "W2", "P", "Q", "loss_steps", "loss", "trace", "checkpoints")
PUBLISHED_TENSORS = ("W1", "b", "loss", "trace")
FIG2_BATCH, FIG2_K = "K1", 1024  # Fig. 2: a K1 model with the paper's 1024 neurons, at every checkpoint


class StoreError(RuntimeError):
    """A stored result is missing, corrupt or stale; the message names the file."""


def results_dir(override: str | os.PathLike | None = None) -> Path:
    return Path(override or os.environ.get(ENV_VAR) or DEFAULT_DIR)


def published_dir() -> Path:
    return Path(os.environ.get(PUBLISHED_ENV_VAR) or PUBLISHED_DIR)


def model_key(config: ModelConfig) -> str:
    return config_hash({"engine": ENGINE, **config.to_dict()})


def file_name(config: ModelConfig) -> str:
    return f"seed{config.seed}-{model_key(config)}.pt"


def models_dir(directory=None) -> Path:
    return results_dir(directory) / "models"


def model_path(config: ModelConfig, directory=None) -> Path:
    return models_dir(directory) / file_name(config)


def published_path(config: ModelConfig) -> Path:
    return published_dir() / file_name(config)


# ---------------------------------------------------------------- reading

def load_model(config: ModelConfig, directory=None, published: bool = True) -> ModelResult | None:
    """One model from the local store, else (unless `published` is False) from the published set;
    None if neither has it."""
    places = ((model_path(config, directory), read), (published_path(config), read_published))
    for path, reader in places[:2 if published else 1]:
        if path.exists():
            return reader(path, config)
    return None


def available(batch: str, preset: str, seed: int = 0, directory=None, only=(), precision=None
              ) -> tuple[list, list]:
    """(the stored models of a sweep in sweep order, the configs of those still missing)."""
    found, missing = [], []
    for c in batches.select(batch, preset, seed, only, precision):
        model = load_model(c, directory)
        if model is None:
            missing.append(c)
        else:
            found.append(model)
    return found, missing


def load(batch: str, preset: str = "cpu", seed: int = 0, results_dir=None) -> list[ModelResult]:
    """Every model of a trained batch, in sweep order: config, final W1/b/W2, P (and Q),
    power-of-two checkpoints and traces. Raises StoreError if a model is missing or corrupt; at a
    piecewise preset, only if none of the sweep's models exists."""
    found, missing = available(batch, preset, seed, results_dir)
    if missing and not (batches.get_preset(preset).piecewise and found):
        raise StoreError(f"{len(missing)} of {len(found) + len(missing)} models of {batch} at preset {preset!r}, "
                         f"seed {seed} are not in {models_dir(results_dir)} or {published_dir()}; train them with: "
                         f"python -m monosem_lib train {batch} --preset {preset} --seed {seed}")
    return found


def read(path: Path, config: ModelConfig) -> ModelResult:
    payload = _payload(path, config)
    return ModelResult(config=config, seconds=payload["seconds"], provenance=payload["provenance"],
                       **{key: payload[key] for key in TENSORS})


def read_published(path: Path, config: ModelConfig) -> ModelResult:
    """A compact published model, completed from its config: P and Q follow from the seed and
    the loss was logged every LOG_EVERY steps; W2 is None and the checkpoints are empty unless a
    figure needs them (`keeps_W2`, `keeps_checkpoints`)."""
    payload = _payload(path, config)
    P, Q = fixed_projections(config.n, config.d, config.seed, config.task == "re-projector")
    return ModelResult(config=config, W2=payload.get("W2"), P=P, Q=Q, checkpoints=payload.get("checkpoints", {}),
                       loss_steps=torch.arange(0, config.steps, LOG_EVERY), seconds=payload["seconds"],
                       provenance=payload["provenance"], **{key: payload[key] for key in PUBLISHED_TENSORS})


def _payload(path: Path, config: ModelConfig) -> dict:
    try:
        # Memory-mapped: checking a model's presence and config reads its header, not its tensors.
        payload = torch.load(path, weights_only=True, mmap=True)
        if payload.get("format") != FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {FORMAT}")
        if payload["config"] != config.to_dict():
            raise ValueError("its config is not the one its name stands for (stale)")
        return payload
    except Exception as error:  # any unreadable content means the same thing to the user
        raise StoreError(f"corrupt result file {path}: {error}. Delete it or retrain with --force.") from error


@functools.lru_cache(maxsize=16)
def fixed_projections(n: int, d: int, seed: int, reprojector: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """P and (re-projector) Q, drawn exactly as training draws them: (d, n) each."""
    P = projections.projection(n, d, generator("P", seed))
    return P, projections.projection(n, d, generator("Q", seed)) if reprojector else None


def seeds(batch: str, preset: str, results_dir=None) -> list[int]:
    """The seeds at which every model of `batch` at `preset` is stored (for a piecewise preset: any)."""
    names = [p.name for d in (models_dir(results_dir), published_dir()) if d.exists() for p in d.iterdir()]
    candidates = {int(n[4:].split("-")[0]) for n in names if n.startswith("seed") and n.endswith(".pt")}
    piecewise = batches.get_preset(preset).piecewise
    found = []
    for seed in sorted(candidates):
        present = [model_path(c, results_dir).exists() or published_path(c).exists()
                   for c in batches.configs(batch, preset, seed)]
        if any(present) and (piecewise or all(present)):
            found.append(seed)
    return found


# ---------------------------------------------------------------- writing

def atomic_save(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(result: ModelResult, directory=None) -> Path:
    path = model_path(result.config, directory)
    atomic_save({"format": FORMAT, "config": result.config.to_dict(), "seconds": result.seconds,
                 "provenance": result.provenance, **{key: getattr(result, key) for key in TENSORS}}, path)
    return path


def keeps_W2(config: ModelConfig) -> bool:
    """W2 is published only for Section 5's models, whose figures read it."""
    where = batches.locate(config)
    return where is not None and mechanism.MODELS.get(where[0]) == config.eps


def keeps_checkpoints(config: ModelConfig) -> bool:
    """The checkpoints are published only for the model of Fig. 2 (Section 3), which draws them."""
    where = batches.locate(config)
    return where is not None and where[0] == FIG2_BATCH and config.k == batches.get_preset(where[1]).k(FIG2_K)


def publish(result: ModelResult) -> Path:
    """A compact copy of a model into the published set (git): W1, b, loss log, trace, provenance,
    and W2 or the checkpoints where a figure reads them."""
    path = published_path(result.config)
    tensors = {key: getattr(result, key) for key in PUBLISHED_TENSORS}
    if keeps_W2(result.config):
        tensors["W2"] = result.W2
    if keeps_checkpoints(result.config):
        tensors["checkpoints"] = {step: {key: ck[key] for key in ("W1", "b")} for step, ck in result.checkpoints.items()}
    atomic_save({"format": FORMAT, "config": result.config.to_dict(), "seconds": result.seconds,
                 "provenance": result.provenance | {"seconds": round(result.seconds, 1)},
                 **tensors}, path)
    return path


def ensure_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ConfigError(f"results dir {directory} cannot be written ({error.strerror or error}); "
                          f"choose another with --results-dir or ${ENV_VAR}") from error


# ---------------------------------------------------------------- what training finds stored

def usable(config: ModelConfig, directory=None, published: bool = True) -> bool:
    """Whether a model is stored (or published) and readable. A corrupt local file is set aside
    (renamed *.corrupt), so the model counts as missing and is retrained; it is never used."""
    try:
        return load_model(config, directory, published) is not None
    except StoreError as error:
        path = model_path(config, directory)
        if not path.exists():
            raise  # the published copy is broken: git has the good one
        print(f"warning: {error}; setting it aside as {path.name}.corrupt and retraining")
        os.replace(path, path.with_suffix(".pt.corrupt"))
        return False


# ---------------------------------------------------------------- the store of format 2

def migrate(directory=None) -> int:
    """Split result files of format 2 (one file per batch) into per-model files; returns how many
    files were split. Each old file is removed only after all its models are stored."""
    split = 0
    for path in sorted(results_dir(directory).glob("*-seed*-*.pt")):
        try:
            payload = torch.load(path, weights_only=True)
            if payload.get("format") != 2:
                continue
            for m in payload["models"]:
                config = ModelConfig(**m["config"])
                save(ModelResult(config=config, seconds=m["seconds"], **{key: m[key] for key in TENSORS}),
                     directory)
        except Exception as error:
            print(f"warning: {path} could not be migrated ({error}); left in place")
            continue
        path.unlink()
        split += 1
    return split


# ---------------------------------------------------------------- the published set

def import_run(path: Path, provenance: dict, stack_seconds: float) -> list[ModelResult]:
    """Models from a stacked results file made outside the store (keys `configs`, `W1` (M, k, d),
    `b` (M, k), `W2` (M, out, k), `P` (d, n), `loss_steps` (L,), `loss` (M, L), `trace` of (M, C)
    entries at `trace_step` (C,)), with the provenance the file does not carry. Each model
    must be one of a preset's sweeps, trained from the seed's own P."""
    try:
        run = torch.load(path, weights_only=True)
        configs = [ModelConfig(**(c | {"precision": provenance["precision"]})) for c in run["configs"]]
    except Exception as error:
        raise StoreError(f"cannot read {path} as a stacked results file: {error}") from error
    results = []
    for m, c in enumerate(configs):
        if batches.locate(c) is None:
            raise StoreError(f"model {m} of {path} is no model of any batch at any preset: {c}")
        P, Q = fixed_projections(c.n, c.d, c.seed, c.task == "re-projector")
        if not torch.equal(run["P"], P) or not torch.equal(run["loss_steps"], torch.arange(0, c.steps, LOG_EVERY)):
            raise StoreError(f"{path}: its P or loss steps are not those of seed {c.seed}: not a run of this engine")
        # Copies, not views: a view would carry the whole stack into the model's file.
        trace = {"step": run["trace_step"], **{key: v[m].clone() for key, v in run["trace"].items()}}
        own = {key: run[key][m].clone() for key in ("W1", "b", "W2", "loss")}
        results.append(ModelResult(config=c, P=P, Q=Q, checkpoints={}, loss_steps=run["loss_steps"], **own,
                                   trace=trace, seconds=stack_seconds / len(configs),
                                   provenance=provenance | {"stack": len(configs)}))
    return results


def published_models() -> list[ModelResult]:
    """Every model in the published set."""
    models = []
    for path in sorted(published_dir().glob("seed*-*.pt")):
        config = ModelConfig(**torch.load(path, weights_only=True)["config"])
        if path.name != file_name(config):
            raise StoreError(f"{path} holds a model whose key is {file_name(config)} (stale)")
        models.append(read_published(path, config))
    return models


def write_index() -> Path:
    """published/INDEX.md: one row per published model (generated; never edit by hand)."""
    rows = []
    for m in published_models():
        batch, preset = batches.locate(m.config) or ("?", "?")
        fields = ", ".join(f"{f} = {getattr(m.config, f):g}" for f in batches.get_batch(batch).sweep_fields()) \
            if batch != "?" else ""
        p = m.provenance
        rows.append((preset, list(batches.BATCHES).index(batch) if batch in batches.BATCHES else 99, m.config.stream,
                     f"| {preset} | {batch} | {fields} | {m.config.seed} | {p['device']} | {p['precision']} | "
                     f"{p['torch']} | {p['commit']} | {m.seconds:.0f} | {'yes' if m.W2 is not None else 'no'} | "
                     f"`{file_name(m.config)}` |"))
    size = sum(p.stat().st_size for p in published_dir().glob("seed*-*.pt"))
    lines = ["# Published models", "",
             "Generated by `python -m monosem_lib train … --publish`, `publish` and `import`; never edit by "
             "hand. The README's \"Published results\" section gives the format and the size budgets.",
             "", f"{len(rows)} models, {size / 2 ** 20:.1f} MiB.", "",
             "| preset | batch | model | seed | device | precision | torch | commit | train s | W2 | file |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             *[r[-1] for r in sorted(rows)]]
    path = published_dir() / "INDEX.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- verifying the published set

# What `verify` calls agreement when two runs are not bit-identical (README, "Verifying").
AGREE_MONO, AGREE_BAND, AGREE_LOSS = 0.02, 2, 0.01   # mono / N (absolute), band (neurons), loss (relative)


def compare(ours: ModelResult, theirs: ModelResult) -> dict:
    """How far a retrained model is from its published copy: the largest differences of W1, b and
    the loss log, the headline numbers of both, and whether they are identical or agree."""
    diff = {key: float((getattr(ours, key) - getattr(theirs, key)).abs().max()) for key in ("W1", "b", "loss")}
    a, b = metrics.summary(ours), metrics.summary(theirs)
    agree = (abs(a["mono_per_feature"] - b["mono_per_feature"]) <= AGREE_MONO
             and abs(a["band"] - b["band"]) <= AGREE_BAND
             and abs(a["loss"] - b["loss"]) <= AGREE_LOSS * abs(b["loss"]))
    return {**diff, "ours": a, "published": b, "identical": not any(diff.values()), "agree": agree}


def published_configs(batch: str, preset: str, seed: int, only=()) -> list[ModelConfig]:
    """The models of a sweep that the published set holds."""
    return [c for c in batches.select(batch, preset, seed, only) if published_path(c).exists()]
