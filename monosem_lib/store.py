"""The result store: one file per (batch, preset, seed), keyed by a hash of the resolved configs.

Files are written atomically (temporary file, then rename), so a killed run leaves nothing that
reads as finished; a changed config hashes to a new file name, so it never hits an old entry.
"""
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from . import batches, tasks
from .config import ConfigError, ModelConfig, config_hash
from .training import ModelResult, train

FORMAT_VERSION = 2  # 2: hand-written backward (numbers differ from 1 in rounding)
ENV_VAR = "MONOSEM_RESULTS_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "results"
TENSORS = ("W1", "b", "W2", "P", "Q", "loss_steps", "loss", "trace", "checkpoints")


class StoreError(RuntimeError):
    """A stored result is missing, corrupt or stale; the message names the file."""


def results_dir(override: str | os.PathLike | None = None) -> Path:
    return Path(override or os.environ.get(ENV_VAR) or DEFAULT_DIR)


def entry_path(batch: str, preset: str, seed: int, directory=None) -> Path:
    configs = batches.configs(batch, preset, seed)
    digest = config_hash({"format": FORMAT_VERSION, "configs": [c.to_dict() for c in configs]})
    return results_dir(directory) / f"{batch}-{preset}-seed{seed}-{digest}.pt"


def load(batch: str, preset: str = "cpu", seed: int = 0, results_dir=None) -> list[ModelResult]:
    """Every model of a trained batch, in sweep order: config, final W1/b/W2, P (and Q),
    power-of-two checkpoints and traces. Raises StoreError if it was not trained or is corrupt."""
    path = entry_path(batch, preset, seed, results_dir)
    if not path.exists():
        raise StoreError(f"{batch} at preset {preset!r}, seed {seed} is not in {path.parent}; "
                         f"train it with: python -m monosem_lib train {batch} --preset {preset} --seed {seed}")
    return read(path)


def read(path: Path) -> list[ModelResult]:
    try:
        payload = torch.load(path, weights_only=True)
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {payload.get('format')!r}, expected {FORMAT_VERSION}")
        return [ModelResult(config=ModelConfig(**m["config"]), seconds=m["seconds"],
                            **{key: m[key] for key in TENSORS}) for m in payload["models"]]
    except Exception as error:  # any unreadable content means the same thing to the user
        raise StoreError(f"corrupt result file {path}: {error}. Delete it or retrain with --force.") from error


def save(path: Path, results: list[ModelResult]) -> None:
    payload = {"format": FORMAT_VERSION, "models": [
        {"config": r.config.to_dict(), "seconds": r.seconds, **{key: getattr(r, key) for key in TENSORS}}
        for r in results]}
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ConfigError(f"results dir {directory} cannot be written ({error.strerror or error}); "
                          f"choose another with --results-dir or ${ENV_VAR}") from error


def train_batch(batch: str, preset: str = "cpu", seed: int = 0, device: str = "cpu", results_dir=None,
                force: bool = False, progress: bool = True, position: int = 0) -> tuple[list[ModelResult], bool]:
    """Load a batch from the store, or train and store it. Returns (results, came_from_cache).
    A corrupt entry is set aside (renamed *.corrupt) and retrained, never used."""
    path = entry_path(batch, preset, seed, results_dir)
    ensure_writable(path.parent)
    if path.exists() and not force:
        try:
            return read(path), True
        except StoreError as error:
            print(f"warning: {error}; setting it aside as {path.name}.corrupt and retraining")
            os.replace(path, path.with_suffix(".pt.corrupt"))
    start = time.perf_counter()
    results = train(batches.configs(batch, preset, seed), device=device, desc=f"{batch} seed {seed}",
                    progress=progress, position=position)
    save(path, results)
    print(f"{batch} seed {seed}: trained {len(results)} models in {time.perf_counter() - start:.1f} s → {path}")
    return results, False


def cost(batch: str, preset: str) -> int:
    """A batch's training work in multiply-adds (forward pass), to schedule the longest first."""
    return sum(c.steps * c.batch_size * c.k * (c.d + tasks.output_dim(c.task, c.n, c.d))
               for c in batches.configs(batch, preset))


def train_many(work: list[tuple[str, int]], preset: str = "cpu", device: str = "cpu", directory=None,
               force: bool = False, jobs: int = 1) -> list[bool]:
    """Train (batch, seed) pairs unless stored, `jobs` at a time in separate processes that share
    the cores (at the cpu preset's small matmuls two one-thread processes do 1.45× the work of one
    two-thread process), longest first. Returns, per pair, whether it came from the cache."""
    directory = results_dir(directory)
    ensure_writable(directory)
    if jobs <= 1:
        return [train_batch(b, preset, s, device, directory, force)[1] for b, s in work]
    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(jobs):
        slots.put(slot)
    cached = {}
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(slots, threads)) as pool:
        futures = {pool.submit(_train_in_worker, b, preset, s, device, directory, force): (b, s)
                   for b, s in sorted(work, key=lambda w: -cost(w[0], preset))}
        try:
            for future in as_completed(futures):
                cached[futures[future]] = future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # what finished is stored; the rest is not started
            raise
    return [cached[w] for w in work]


_SLOT = 0  # this worker's progress-bar line


def _start_worker(slots, threads: int) -> None:
    global _SLOT
    _SLOT = slots.get()
    torch.set_num_threads(threads)


def _train_in_worker(batch, preset, seed, device, directory, force) -> bool:
    return train_batch(batch, preset, seed, device, directory, force, position=_SLOT)[1]


def seeds(batch: str, preset: str, results_dir=None) -> list[int]:
    """The seeds for which `batch` at `preset` is stored under its current configuration."""
    found = []
    directory = entry_path(batch, preset, 0, results_dir).parent
    for path in directory.glob(f"{batch}-{preset}-seed*-*.pt"):
        seed = int(path.name[len(f"{batch}-{preset}-seed"):].split("-")[0])
        if path == entry_path(batch, preset, seed, results_dir):
            found.append(seed)
    return sorted(found)
