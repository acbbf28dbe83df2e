"""The result store: one file per model, named by a hash of its own fully resolved config.

Two places hold models, looked up in this order:
- the local store, `results/models/` (or $MONOSEM_RESULTS_DIR): everything training produced,
  power-of-two checkpoints and W2 included;
- the published set, `published/` in git: compact copies (W1, b, the loss log, the trace, W2 only
  where a figure needs it) with their provenance, so the book needs no training for them.

A model's key depends on its config alone, so a sweep can be trained in parts, on several
machines, and a thinned sweep's model is the full sweep's. Files are written atomically
(temporary file, then rename) and carry a digest of their content, checked on every read; a file
whose content does not match its name or its digest, or that is not a regular file, is reported,
never used.
"""
import functools
import hashlib
import itertools
import io
import json
import math
import os
import stat
import tempfile
import time
from pathlib import Path

import torch

from . import batches, mechanism, metrics, projections, tasks
from .config import ConfigError, ModelConfig, config_hash
from .training import LOG_EVERY, ModelResult, generator

ENGINE = 2   # bump when the numbers a config trains to change (2: hand-written backward)
FORMAT = 4   # the file layout (3: one file per model; 4: with a digest of its content)
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


def states_dir(directory=None) -> Path:
    """Where stacks in training keep their saved state (training.Saving), by engine: a state saved
    by code that trains to other numbers is never resumed."""
    return results_dir(directory) / "states" / f"engine{ENGINE}"


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


def available(batch: str, preset: str, seed: int = 0, directory=None, only=()) -> tuple[list, list]:
    """(the stored models of a sweep in sweep order, the configs of those still missing)."""
    found, missing = [], []
    for c in batches.select(batch, preset, seed, only):
        model = load_model(c, directory)
        if model is None:
            missing.append(c)
        else:
            found.append(model)
    return found, missing


def load(batch: str, preset: str = batches.DEFAULT_PRESET, seed: int = 0, results_dir=None) -> list[ModelResult]:
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
    payload = _payload(path, config, "`train` sets it aside (*.corrupt) and retrains it; or delete it.")
    return ModelResult(config=config, seconds=payload["seconds"], provenance=payload["provenance"],
                       **{key: payload[key] for key in TENSORS})


def read_published(path: Path, config: ModelConfig) -> ModelResult:
    """A compact published model, completed from its config: P and Q follow from the seed and
    the loss was logged every LOG_EVERY steps; W2 is None and the checkpoints are empty unless a
    figure needs them (`keeps_W2`, `keeps_checkpoints`)."""
    return _published_result(_payload(path, config, restore_advice(path)), config)


def _published_result(payload: dict, config: ModelConfig) -> ModelResult:
    P, Q = fixed_projections(config.n, config.d, config.seed, config.task == "re-projector")
    return ModelResult(config=config, W2=payload.get("W2"), P=P, Q=Q, checkpoints=payload.get("checkpoints", {}),
                       loss_steps=torch.arange(0, config.steps, LOG_EVERY), seconds=payload["seconds"],
                       provenance=payload["provenance"], **{key: payload[key] for key in PUBLISHED_TENSORS})


def restore_advice(path: Path) -> str:
    """What fixes a damaged published file: git holds the good copy (a retrain would take hours)."""
    return f"Restore it with: git checkout -- {path}"


def _payload(path: Path, config: ModelConfig, advice: str) -> dict:
    payload = checked_payload(path, advice)
    if payload.get("config") != config.to_dict():
        raise StoreError(f"corrupt result file {path}: its config is not the one its name stands for (stale). {advice}")
    return payload


def checked_payload(path: Path, advice: str) -> dict:
    """A file's content, after checking that it is a regular file (a FIFO or a directory is never
    opened), of this format, and that its content matches its digest."""
    try:
        if not is_regular(path):
            raise ValueError("not a regular file")
        # Memory-mapped: only the pages of the tensors are read, by the digest.
        payload = torch.load(path, weights_only=True, mmap=True)
        found = payload.get("format")
        if found == FORMAT and payload.get("digest") != digest(payload):
            raise ValueError("its content does not match its digest (damaged)")
    except Exception as error:  # any unreadable content means the same thing to the user
        raise StoreError(f"corrupt result file {path}: {error}. {advice}") from error
    if found == 3:
        raise StoreError(f"{path} was written before digests (format 3): `python -m monosem_lib seal` adds "
                         f"them, tensors unchanged")
    if found != FORMAT:
        raise StoreError(f"corrupt result file {path}: format {found!r}, expected {FORMAT}. {advice}")
    return payload


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def digest(payload: dict) -> str:
    """sha256 of a file's content but the digest itself: each tensor's name, dtype, shape and bytes,
    every other field as JSON, in the order of their sorted names (so a flipped bit shows)."""
    h = hashlib.sha256()
    _digest_into(h, "", {key: value for key, value in payload.items() if key != "digest"})
    return h.hexdigest()


def _digest_into(h, name: str, value) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _digest_into(h, f"{name}/{key}", value[key])
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name} {t.dtype} {tuple(value.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy())
    else:
        h.update(f"{name} {json.dumps(value, sort_keys=True, default=str)}\n".encode())


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
    """`payload` with its digest into `path`, atomically. Serialised in memory first, so that only
    the write itself can fail on a full or read-only disk (StoreError naming the path)."""
    buffer = io.BytesIO()
    torch.save(payload | {"digest": digest(payload)}, buffer)
    atomic_write(buffer.getbuffer(), path)


def atomic_write(data, path: Path) -> None:
    """Bytes into `path` through a temporary file and a rename: the old file (or none) stays until
    the new one is complete on disk. An OSError (ENOSPC, EROFS, EACCES, …) becomes one StoreError."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX, suffix=path.suffix)
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}; nothing was written there "
                         f"(free some space or make {path.parent} writable, or choose another directory)") from error
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


TEMPORARY_PREFIX = ".tmp-"
STARTED = time.time()
TEMPORARY_GRACE = 60  # s: no live write's temporary file is older than its process's start by this much


def remove_stale_temporaries(directory: Path) -> int:
    """Remove the temporary files that a killed write left in `directory`: those last written
    before this process started (by a margin), so another process's write in progress is spared."""
    removed = 0
    for tmp in directory.glob(f"{TEMPORARY_PREFIX}*") if directory.is_dir() else ():
        try:
            if is_regular(tmp) and tmp.stat().st_mtime < STARTED - TEMPORARY_GRACE:
                tmp.unlink()
                removed += 1
        except OSError:
            pass  # gone already, or a read-only store: nothing to tidy there
    return removed


def save(result: ModelResult, directory=None) -> Path:
    path = model_path(result.config, directory)
    atomic_save({"format": FORMAT, "config": result.config.to_dict(), "seconds": result.seconds,
                 "provenance": result.provenance, **{key: getattr(result, key) for key in TENSORS}}, path)
    return path


def keeps_W2(config: ModelConfig) -> bool:
    """W2 is published only for Section 5's models, whose figures read it: for a model any of whose
    batches is one of them (a model can sit in two sweeps)."""
    return any(mechanism.MODELS.get(name) == config.eps for name, _ in batches.holders(config))


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
        aside = set_aside_name(path)
        print(f"warning: {error}; setting it aside as {aside.name} and retraining")
        os.rename(path, aside)
        return False


def set_aside_name(path: Path) -> Path:
    """`X.pt.corrupt`, or `X.pt.corrupt-2`, -3 … when earlier set-asides hold those names (each is kept)."""
    names = (path.with_name(f"{path.name}.corrupt" + (f"-{i}" if i > 1 else "")) for i in itertools.count(1))
    return next(p for p in names if not os.path.lexists(p))


# ---------------------------------------------------------------- the store of format 2

def migrate(directory=None) -> int:
    """Bring the local store up to date before a command uses it: remove the temporary files of
    killed or failed writes (of models, saved states and the published set), add digests to files
    written before them (`seal`), and split result files of format 2 (one file per batch) into
    per-model files. Returns how many format-2 files were split; each is removed only after all its
    models are stored."""
    for place in (models_dir(directory), states_dir(directory), published_dir()):
        remove_stale_temporaries(place)
    seal(models_dir(directory))
    split = 0
    for path in sorted(results_dir(directory).glob("*-seed*-*.pt")):
        if not is_regular(path):
            continue
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


def seal(directory: Path) -> list[Path]:
    """Add a digest to each model file of `directory` written before digests (format 3). The content
    is re-saved unchanged: the file read back must have the digest of what was read (bit-identical
    tensors). A file that cannot be read is left for reading to report. Returns the files sealed."""
    sealed = []
    for path in sorted(directory.glob("seed*-*.pt")) if directory.is_dir() else ():
        try:
            if not is_regular(path) or torch.load(path, weights_only=True, mmap=True).get("format") != 3:
                continue
            payload = torch.load(path, weights_only=True) | {"format": FORMAT}
        except Exception:
            continue
        atomic_save(payload, path)
        if checked_payload(path, "")["digest"] != digest(payload):
            raise StoreError(f"{path} did not read back as written while adding its digest")
        sealed.append(path)
    return sealed


# ---------------------------------------------------------------- the published set

def import_run(path: Path, provenance: dict, stack_seconds: float) -> list[ModelResult]:
    """Models from a stacked results file made outside the store (keys `configs`, `W1` (M, k, d),
    `b` (M, k), `W2` (M, out, k), `P` (d, n), `loss_steps` (L,), `loss` (M, L), `trace` of (M, C)
    float32 entries at `trace_step` (C,)), with the provenance the file does not carry. Each model
    must be one of a preset's sweeps, trained from the seed's own P; every tensor must have its
    model's shape, be float32 and finite. Anything else is a StoreError or ConfigError naming it."""
    check_provenance(provenance, stack_seconds)
    if not is_regular(path):
        raise StoreError(f"cannot read {path} as a stacked results file: not a regular file")
    try:
        run = torch.load(path, weights_only=True)
        missing = [key for key in RUN_KEYS if key not in run]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
        configs = [ModelConfig(**(c | {"precision": provenance["precision"]})) for c in run["configs"]]
    except Exception as error:
        raise StoreError(f"cannot read {path} as a stacked results file: {error}") from error
    _check_run(path, run, configs)
    results = []
    for m, c in enumerate(configs):
        P, Q = fixed_projections(c.n, c.d, c.seed, c.task == "re-projector")
        # Copies, not views: a view would carry the whole stack into the model's file.
        trace = {"step": run["trace_step"], **{key: v[m].clone() for key, v in run["trace"].items()}}
        own = {key: run[key][m].clone() for key in ("W1", "b", "W2", "loss")}
        results.append(ModelResult(config=c, P=P, Q=Q, checkpoints={}, loss_steps=run["loss_steps"], **own,
                                   trace=trace, seconds=stack_seconds / len(configs),
                                   provenance=provenance | {"stack": len(configs)}))
    return results


RUN_KEYS = ("configs", "W1", "b", "W2", "P", "loss_steps", "loss", "trace_step", "trace")
TRACE_KEYS = ("loss", "mono", "mean_bias")
PROVENANCE_TEXT = ("device", "torch", "commit")
PROVENANCE_LENGTH = 100  # characters: a device name, a version, a commit with a note


def check_provenance(provenance: dict, stack_seconds: float) -> None:
    """Provenance fields are one printable line without `|` (they are cells of INDEX.md's table)."""
    for field in PROVENANCE_TEXT:
        text = provenance[field]
        if not text.strip() or not text.isprintable() or "|" in text or len(text) > PROVENANCE_LENGTH:
            raise ConfigError(f"the {field} {text!r} must be one printable line of 1 to {PROVENANCE_LENGTH} "
                              f"characters without '|'")
    if not math.isfinite(stack_seconds) or stack_seconds < 0:
        raise ConfigError(f"--stack-seconds must be a finite number of seconds ≥ 0, got {stack_seconds}")


def _check_run(path: Path, run: dict, configs: list[ModelConfig]) -> None:
    """Every model of a stacked run: a model of a preset's sweep, once; its P and loss steps the
    seed's own; W1, b, W2, the loss log and the trace of its shapes, float32 and finite."""
    count = len(configs)
    if count == 0:
        raise StoreError(f"{path} holds no model (its configs are empty)")
    seen = set()
    for m, c in enumerate(configs):
        if batches.locate(c) is None:
            raise StoreError(f"model {m} of {path} is no model of any batch at any preset: {c}")
        if c in seen:
            raise StoreError(f"model {m} of {path} appears twice: {c}")
        seen.add(c)
    c = configs[0]
    if any(_stack_shape(x) != _stack_shape(c) for x in configs):
        raise StoreError(f"{path}: its models differ in N, d, k, output size or steps, so they were not one stack")
    P, _ = fixed_projections(c.n, c.d, c.seed, False)
    steps = torch.arange(0, c.steps, LOG_EVERY)
    if any(x.seed != c.seed for x in configs) or not _equal(run["P"], P) or not _equal(run["loss_steps"], steps):
        raise StoreError(f"{path}: its P or loss steps are not those of seed {c.seed}: not a run of this engine")
    trace_step = run["trace_step"]
    if not isinstance(trace_step, torch.Tensor) or trace_step.dim() != 1 or not isinstance(run["trace"], dict) \
            or sorted(run["trace"]) != sorted(TRACE_KEYS):
        raise StoreError(f"{path}: its trace must be {', '.join(TRACE_KEYS)} at trace_step (C,) steps")
    shapes = {"W1": (count, c.k, c.d), "b": (count, c.k), "W2": (count, tasks.output_dim(c.task, c.n, c.d), c.k),
              "loss": (count, len(steps)), **{f"trace {key}": (count, len(trace_step)) for key in TRACE_KEYS}}
    tensors = {key: run[key] for key in ("W1", "b", "W2", "loss")} | {f"trace {key}": run["trace"][key]
                                                                      for key in TRACE_KEYS}
    for name, shape in shapes.items():
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            raise StoreError(f"{path}: {name} must be a tensor of shape {shape} "
                             f"(models, …), got {tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__}")
        if tensor.dtype != torch.float32:
            raise StoreError(f"{path}: {name} must be float32, got {tensor.dtype}")
        if not torch.isfinite(tensor).all():
            raise StoreError(f"{path}: {name} has {int((~torch.isfinite(tensor)).sum())} non-finite values "
                             f"(first in model {int((~torch.isfinite(tensor)).flatten(1).any(1).nonzero()[0])})")


def _stack_shape(c: ModelConfig) -> tuple:
    """What the models of one stack share: their tensors' shapes and their steps."""
    return c.n, c.d, c.k, tasks.output_dim(c.task, c.n, c.d), c.steps


def _equal(value, tensor: torch.Tensor) -> bool:
    return isinstance(value, torch.Tensor) and value.shape == tensor.shape and torch.equal(value, tensor)


def published_models() -> list[ModelResult]:
    """Every model in the published set (StoreError naming the first damaged or stale file)."""
    models = []
    for path in sorted(published_dir().glob("seed*-*.pt")):
        payload = checked_payload(path, restore_advice(path))
        try:
            config = ModelConfig(**payload["config"])
        except (ConfigError, TypeError, KeyError) as error:
            raise StoreError(f"corrupt result file {path}: its config cannot be read ({error}). "
                             f"{restore_advice(path)}") from error
        if path.name != file_name(config):
            raise StoreError(f"{path} holds a model whose key is {file_name(config)} (stale)")
        models.append(_published_result(payload, config))
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
             "Generated by `python -m monosem_lib train … --publish`, `publish`, `import` and `seal`; never edit "
             "by hand. The README's \"Published results\" section gives the format and the size budgets.",
             "", f"{len(rows)} models, {size / 2 ** 20:.1f} MiB.", "",
             "| preset | batch | model | seed | device | precision | torch | commit | train s | W2 | file |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             *[r[-1] for r in sorted(rows)]]
    path = published_dir() / "INDEX.md"
    atomic_write(("\n".join(lines) + "\n").encode(), path)
    return path


def seal_published() -> list[Path]:
    """Add digests to the published files written before them, and regenerate INDEX.md."""
    sealed = seal(published_dir())
    write_index()
    return sealed


# ---------------------------------------------------------------- verifying the published set

# What `verify` calls agreement when two runs are not bit-identical (README, "Verifying").
AGREE_MONO, AGREE_BAND, AGREE_LOSS = 0.02, 2, 0.01   # mono / N (absolute), band (neurons), loss (relative)
# ... and a large weight difference: max |dW1| (|db|) above this fraction of the smaller of the two
# models' largest |W1| (|b|), i.e. a difference as large as the weights themselves. Runs that part at
# rounding on another instruction set stayed below 0.41 in W1 (README, "Verifying"), where B3's models
# that were not identical have a largest |W1| of 0.54–1.12.
AGREE_WEIGHTS = 1.0
COMPARED = ("W1", "b", "loss")


def compare(ours: ModelResult, theirs: ModelResult) -> dict:
    """How far a retrained model is from its published copy: the largest differences of W1, b and
    the loss log, the headline numbers of both, and the verdict (`verdict`)."""
    diff = {key: float((getattr(ours, key) - getattr(theirs, key)).abs().max()) for key in COMPARED}
    scale = {key: min(float(getattr(m, key).abs().max()) for m in (ours, theirs)) for key in ("W1", "b")}
    finite = all(bool(torch.isfinite(getattr(m, key)).all()) for m in (ours, theirs) for key in COMPARED)
    a, b = metrics.summary(ours), metrics.summary(theirs)
    outcome, reason = verdict(diff, scale, finite, a, b)
    return {**diff, "ours": a, "published": b, "verdict": outcome, "reason": reason}


def verdict(diff: dict, scale: dict, finite: bool, ours: dict, published: dict) -> tuple[str, str]:
    """("identical" | "agrees" | "DIFFERS", why). Non-finite weights or loss differ whatever else holds;
    every difference 0 is identical; agreement needs the weights within AGREE_WEIGHTS of their scale
    and mono / N, band and loss within AGREE_MONO, AGREE_BAND and AGREE_LOSS."""
    if not finite:
        return "DIFFERS", "non-finite W1, b or loss"
    if not any(diff.values()):
        return "identical", ""
    large = [key for key in scale if diff[key] > AGREE_WEIGHTS * scale[key]]
    if large:
        return "DIFFERS", f"max |d{large[0]}| {diff[large[0]]:.3g} > {AGREE_WEIGHTS:g} × max |{large[0]}| {scale[large[0]]:.3g}"
    apart = [name for name, off in (
        ("mono/N", abs(ours["mono_per_feature"] - published["mono_per_feature"]) > AGREE_MONO),
        ("band", abs(ours["band"] - published["band"]) > AGREE_BAND),
        ("loss", abs(ours["loss"] - published["loss"]) > AGREE_LOSS * abs(published["loss"]))) if off]
    return ("DIFFERS", f"{', '.join(apart)} apart") if apart else ("agrees", "")


def published_configs(batch: str, preset: str, seed: int, only=()) -> list[ModelConfig]:
    """The models of a sweep that the published set holds."""
    return [c for c in batches.select(batch, preset, seed, only) if published_path(c).exists()]
