"""Training runs: which models a `train` command trains, in which units of work, where, and under
which locks. The store (store.py) only reads and writes models; this module decides what to train.

A run's work is planned as units: on CUDA the stacks training would run (models grouped by shape,
at most --max-stack a stack), on a CPU one batch and seed a unit (what one process trains).
The plan depends on the request alone, never on what is stored, so the shares of it (`--shard i/N`,
the tasks of a Slurm job array) are disjoint and together are the plan. Each unit trains only what
the store still lacks, each model under its own lock, so two processes never train one model.
"""
import contextlib
import ctypes
import dataclasses
import fcntl
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import batches, claims, store, tasks, training
from .config import ConfigError, ModelConfig, config_hash


@dataclasses.dataclass(frozen=True)
class Request:
    """What one `train` command asks for. Batches and seeds named twice count once."""
    batches: tuple
    preset: str = batches.DEFAULT_PRESET
    seeds: tuple = (0,)
    device: str = "cpu"
    results_dir: Path | None = None   # None: $MONOSEM_RESULTS_DIR or ./results
    force: bool = False               # retrain what is stored
    only: tuple = ()                  # --only: ((field, [v1, v2, …]), …)
    precision: str | None = None      # None: the preset's
    local: bool = False               # train what the local store lacks, published or not
    jobs: int = 1                     # processes on this machine; on CUDA one a GPU, each pinned to its own
    progress: bool = True
    max_stack: int = training.MAX_STACK  # models a stack: smaller stacks end (and are stored) sooner

    def __post_init__(self):
        batches.get_preset(self.preset)
        names = list(batches.BATCHES) if tuple(self.batches) == ("all",) else self.batches
        object.__setattr__(self, "batches", tuple(dict.fromkeys(batches.get_batch(b).name for b in names)))
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(self.seeds)))
        object.__setattr__(self, "only", tuple((field, list(values)) for field, values in self.only))
        object.__setattr__(self, "results_dir", store.results_dir(self.results_dir).resolve())
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be ≥ 1, got {self.jobs}")
        if not 1 <= self.max_stack <= training.STACK_LIMIT:
            raise ConfigError(f"--max-stack must lie in 1…{training.STACK_LIMIT}, got {self.max_stack}")

    def work(self) -> list[tuple[str, int]]:
        return [(name, seed) for seed in self.seeds for name in self.batches]

    def models(self) -> list["Model"]:
        """Every distinct model the request names, each once (LR3 and XLS, B3 and E3 share models),
        with the first batch that names it, in the request's order."""
        seen = {}
        for name, seed in self.work():
            for c in batches.select(name, self.preset, seed, list(self.only), self.precision):
                seen.setdefault(store.file_name(c), Model(name, c))
        return list(seen.values())


@dataclasses.dataclass(frozen=True)
class Model:
    batch: str
    config: ModelConfig

    @property
    def label(self) -> str:
        swept = ", ".join(f"{f}={getattr(self.config, f):.4g}" for f in batches.get_batch(self.batch).sweep_fields())
        return f"{self.batch} seed {self.config.seed} {swept}"


# ---------------------------------------------------------------- the plan and its estimates

def step_flops(c: ModelConfig) -> float:
    """Matmul FLOPs of one model's training step: forward through both layers, backward through the
    second to h, and both weight gradients (the input needs none)."""
    out = tasks.output_dim(c.task, c.n, c.d)
    return 2 * c.batch_size * (2 * c.d * c.k + 3 * c.k * out)


@dataclasses.dataclass(frozen=True)
class Speed:
    """A device's measured training rate: a fixed cost per stacked step (launches, the step's small
    passes), per model-step a cost per drawn feature value (batch × n: sampling and the passes over
    the data), and each model's matmul FLOPs at a rate."""
    name: str
    stack_step_ms: float
    model_tflops: float
    element_ns: float = 0.0

    def seconds(self, configs) -> float:
        per_step_ms = self.stack_step_ms + sum(c.batch_size * c.n for c in configs) * self.element_ns / 1e6
        return configs[0].steps * (per_step_ms / 1e3 + sum(map(step_flops, configs)) / (self.model_tflops * 1e12))


def _fitted(name: str, single_ms: float, stack: int, stacked_ms: float) -> Speed:
    """The speed that gives a paper-scale LR3 model `single_ms` per model-step alone and
    `stacked_ms` per model-step in a stack of `stack` (the README's measurements)."""
    flops = step_flops(batches.configs("LR3", "paper")[0])
    per_model_ms = (stack * stacked_ms - single_ms) / (stack - 1)
    return Speed(name, single_ms - per_model_ms, flops / per_model_ms / 1e9)


# Measured (README, "Paper scale"): on one H100 with TF32 a paper model takes 1.58 ms per step
# alone and 0.40 ms per model-step in a stack of 7 (53 s a model). On a CPU, one of two one-thread
# jobs on the project's 2 cores (half preset, 2^17 steps, 2026-11-30): a stack of 8 models at k = 512,
# batch 128 took 1999 s (15.3 ms a stack-step); one of 3 at k = 16, batch 2048, 1644 s (12.5 ms).
# With 1 ms a stack-step that fits 68.5 GFLOP/s and 5.8 ns a drawn feature value. Alone on an idle
# core the step is about 20 % faster (README, "Training step"); shared cores vary 2-5×.
SPEEDS = {"cuda": _fitted("one H100 (TF32)", single_ms=1.58, stack=7, stacked_ms=0.40),
          "cpu": Speed("one of 2 one-thread jobs on 2 CPU cores like the project's", stack_step_ms=1.0,
                       model_tflops=0.0685, element_ns=5.8)}


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of work: models that train together (a stack on CUDA, a batch and seed on a CPU),
    in stacks of at most `max_stack` models."""
    models: tuple
    max_stack: int = training.MAX_STACK

    @property
    def configs(self) -> list[ModelConfig]:
        return [m.config for m in self.models]

    @property
    def name(self) -> str:
        counts = {}
        for m in self.models:
            counts[(m.batch, m.config.seed)] = counts.get((m.batch, m.config.seed), 0) + 1
        return ", ".join(f"{b} seed {s}" + (f" ×{n}" if len(counts) > 1 else "") for (b, s), n in counts.items())

    def flops(self) -> float:
        return sum(step_flops(c) * c.steps for c in self.configs)

    def stacks(self) -> list[list[ModelConfig]]:
        """The stacks training forms of the unit (training.stacks)."""
        configs = self.configs
        return [[configs[i] for i in s] for s in training.stacks(configs, self.max_stack)]

    def seconds(self, device: str) -> float:
        """Estimated wall time on the device's measured speed, each stack paying its own fixed cost a step."""
        return sum(SPEEDS[device].seconds(s) for s in self.stacks())


def units(models: list[Model], device: str, max_stack: int) -> list[Unit]:
    """The units training would run, in the order of their first model: on CUDA the stacks
    (training.stacks: models of equal stack key, at most `max_stack` a stack); on a CPU one batch
    and seed a unit."""
    if device == "cuda":
        parts = [[models[i] for i in s] for s in training.stacks([m.config for m in models], max_stack)]
    else:
        groups: dict = {}
        for m in models:
            groups.setdefault((m.batch, m.config.seed), []).append(m)
        parts = list(groups.values())
    return [Unit(tuple(part), max_stack) for part in parts]


def plan(request: Request) -> list[Unit]:
    """Every unit of the request, longest first (ties in the request's order): the same units on
    every call, whatever is stored."""
    return sorted(units(request.models(), request.device, request.max_stack), key=lambda u: -u.seconds(request.device))


def shard(plan_units: list[Unit], index: int, count: int, device: str) -> list[Unit]:
    """Share `index` of `count` (0-based) of a plan: each unit, longest first, goes to the share with
    the least estimated time so far (the lowest index on ties). Shares are disjoint and cover the plan."""
    if count < 1:
        raise ConfigError(f"the number of shards must be ≥ 1, got {count}")
    if not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: the index must lie in 0…{count - 1}")
    loads, shares = [0.0] * count, [[] for _ in range(count)]
    for u in plan_units:
        j = min(range(count), key=lambda i: (loads[i], i))
        shares[j].append(u)
        loads[j] += u.seconds(device)
    return shares[index]


def parse_shard(text: str, shards: int | None = None, environ=os.environ) -> tuple[int, int]:
    """`i/N`, or `auto`: the scheduler's array index (Slurm's SLURM_ARRAY_TASK_ID, counted from
    SLURM_ARRAY_TASK_MIN, with SLURM_ARRAY_TASK_COUNT or `shards`; Kubernetes' JOB_COMPLETION_INDEX
    with `shards`)."""
    if text != "auto":
        index, _, count = text.partition("/")
        try:
            return int(index), int(count)
        except ValueError:
            raise ConfigError(f"--shard takes i/N (0 ≤ i < N) or auto, got {text!r}") from None
    if "SLURM_ARRAY_TASK_ID" in environ:
        index = env_int(environ, "SLURM_ARRAY_TASK_ID") - (env_int(environ, "SLURM_ARRAY_TASK_MIN") or 0)
        count = env_int(environ, "SLURM_ARRAY_TASK_COUNT") if shards is None else shards
    elif "JOB_COMPLETION_INDEX" in environ:
        index, count = env_int(environ, "JOB_COMPLETION_INDEX"), shards
    else:
        raise ConfigError("--shard auto needs $SLURM_ARRAY_TASK_ID (Slurm job array) or $JOB_COMPLETION_INDEX "
                          "(Kubernetes indexed job); elsewhere give --shard i/N")
    if count is None:
        raise ConfigError("--shard auto: the number of shards is unknown here; give --shards N")
    return index, count


def env_int(environ, name: str) -> int | None:
    """The integer in $name (None where it is unset), as --shard auto reads the scheduler's variables."""
    if name not in environ:
        return None
    try:
        return int(environ[name])
    except ValueError:
        raise ConfigError(f"--shard auto: ${name} must be an integer, got {environ[name]!r}") from None


def priority() -> list[str]:
    """Every batch, those the claims read first (in the claims' order: claims.Claim.batches), then
    the rest of Table 1, then the others."""
    return list(dict.fromkeys([b for claim in claims.CLAIMS for b in claim.batches] + list(batches.TABLE_1)
                              + list(batches.BATCHES)))


def within_budget(request: Request, budget: float, fits=lambda units: True) -> list[Unit]:
    """The units of what the store lacks, in the claims' order, that fit `budget` seconds by the
    plan's estimates: each unit in turn is taken if it fits what is left, and `fits` the units
    taken with it (a lent GPU's files, say)."""
    rank = {name: i for i, name in enumerate(priority())}
    missing = sorted((m for m in request.models() if not present(m.config, request)),
                     key=lambda m: rank[m.batch])
    chosen, left = [], budget
    for u in sorted(units(missing, request.device, request.max_stack),
                    key=lambda u: min(rank[m.batch] for m in u.models)):
        if u.seconds(request.device) <= left and fits(chosen + [u]):
            chosen.append(u)
            left -= u.seconds(request.device)
    return chosen


# ---------------------------------------------------------------- training, each model under its lock

def present(config: ModelConfig, request: Request) -> bool:
    """Whether a model is stored (or, unless `local`, published) and readable, without setting a
    corrupt file aside: that is done under the model's lock (store.usable)."""
    try:
        return store.load_model(config, request.results_dir, published=not request.local) is not None
    except store.StoreError:
        return False


def lock_path(config: ModelConfig, request: Request) -> Path:
    return request.results_dir / "locks" / f"{store.file_name(config)}.lock"


@contextlib.contextmanager
def claimed(configs, request: Request):
    """Locks what it can of `configs` without waiting (a lock per model, held by an open file:
    released when the process ends, however it ends). Yields (held, busy)."""
    held, busy, files = [], [], []
    try:
        for c in configs:
            path = lock_path(c, request)
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                busy.append(c)
                continue
            files.append(f)
            held.append(c)
        yield held, busy
    finally:
        for f in files:
            f.close()  # closing releases the lock


def wait_for(config: ModelConfig, request: Request) -> None:
    """Until the process training this model lets go of it."""
    with open(lock_path(config, request), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)


def train_models(request: Request, configs: list[ModelConfig], desc: str, position: int = 0) -> list[ModelConfig]:
    """Train those of `configs` the store lacks (all, with `force`), each under its lock. A stack is
    claimed as it starts and let go as it is stored, so commands that share work (the same `train`
    twice, on one machine or on several over one store) train different stacks. A model another
    process is training is waited for once nothing else is left, then taken from the store (or
    trained, if that process died first). Each stack saves its state as it goes, so a stopped run
    resumes it (training.Saving). Returns the configs trained here.
    Every model this module trains goes through here."""
    trained, waited = [], set()
    pending = [c for c in configs if request.force or not present(c, request)]
    while pending:
        stacks = stacks_to_train(pending, request)
        busy = []
        for n, (stack, cap) in enumerate(stacks):
            label = f"{desc} [{n + 1}/{len(stacks)}]" if len(stacks) > 1 else desc
            with claimed(stack, request) as (held, taken):
                todo = [c for c in held if (request.force and store.file_name(c) not in waited)
                        or not store.usable(c, request.results_dir, published=not request.local)]
                if todo:
                    training.train(todo, device=request.device, desc=label, progress=request.progress,
                                   position=position, max_stack=cap if todo == stack else request.max_stack,
                                   on_stack=lambda done: [store.save(r, request.results_dir) for r in done],
                                   state_dir=store.states_dir(request.results_dir))
                trained += todo
            busy += taken
        if len(busy) == len(pending):  # every model is another's: wait for one, then look again
            wait_for(busy[0], request)
            waited.add(store.file_name(busy[0]))
        pending = busy
    return trained


def stacks_to_train(pending: list[ModelConfig], request: Request) -> list[tuple[list[ModelConfig], int]]:
    """(stack, its --max-stack) in training order: first the saved stacks this process resumes
    (`resumed`), as they were saved, whatever batches, order or --max-stack formed them; then the
    rest as training.stacks forms them."""
    states = training.saved_states(store.states_dir(request.results_dir))  # read once: each is a file
    saved = resumed(pending, request, states)
    taken = {config_hash(c.to_dict()) for _, configs in saved for c in configs}
    rest = [c for c in pending if config_hash(c.to_dict()) not in taken]
    warn_of_unresumed(rest, states, [state for state, _ in saved], request)
    return ([(configs, len(configs)) for _, configs in saved]
            + [([rest[i] for i in indices], request.max_stack) for indices in training.stacks(rest, request.max_stack)])


def resumed(pending: list[ModelConfig], request: Request, states: list) -> list[tuple[training.SavedState, list[ModelConfig]]]:
    """The saved stacks a process given `pending` resumes, each with its models in saved order:
    those whose models are all pending, at most --max-stack of them (a smaller --max-stack gives up
    a stack too big for memory). None with --force, which trains afresh what it is given."""
    if request.force:
        return []
    by_key = {config_hash(c.to_dict()): c for c in pending}
    found, taken = [], set()
    for state in states:
        keys = [] if isinstance(state, tuple) else [config_hash(d) for d in state.configs]
        if keys and len(keys) <= request.max_stack and all(k in by_key and k not in taken for k in keys):
            found.append((state, [by_key[k] for k in keys]))
            taken.update(keys)
    return found


def warn_of_unresumed(rest: list[ModelConfig], states: list, resuming: list, request: Request) -> None:
    """Models about to train afresh that a saved state holds: which state, and why it is not resumed
    (--force asks for that)."""
    if request.force:
        return
    keys = {config_hash(c.to_dict()) for c in rest}
    for state in states:
        shared = [] if isinstance(state, tuple) or state in resuming else [d for d in state.configs
                                                                          if config_hash(d) in keys]
        if shared:
            print(f"warning: {len(shared)} of the models to train are in the saved state {state.path.name} (step "
                  f"{state.step} of {state.steps}), which is not resumed: {unresumed_reason(state, request)}; they "
                  f"train afresh.")


def unresumed_reason(state: training.SavedState, request: Request) -> str:
    stored = sum(1 for d in state.configs if stored_config(d, request))
    if stored:
        return (f"{stored} of its {len(state.configs)} models are stored since, so no `train` resumes it; delete it "
                f"to free its space")
    if len(state.configs) > request.max_stack:
        return f"it holds {len(state.configs)} models, more than --max-stack {request.max_stack}"
    return (f"not all of its {len(state.configs)} models train in this process; a `train` over all of them in one "
            f"process resumes it (on a CPU with --jobs 1 where they span batches)")


def stored_config(config: dict, request: Request) -> bool:
    try:
        return present(ModelConfig(**config), request)
    except (TypeError, ValueError):  # a config this code cannot build is no model of its store
        return False


# ---------------------------------------------------------------- on this machine

@dataclasses.dataclass
class Outcome:
    trained: list          # the configs trained by this command
    failed: list = dataclasses.field(default_factory=list)   # (unit name, why) of units that failed
    seconds: float = 0.0


class Stopped(Exception):
    """Training stopped by a signal or a lost worker; the message names what stopped and what is kept."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class Terminated(BaseException):
    """SIGTERM (from `timeout`, CI cancellation, `docker stop`), raised where the process is."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


def raise_on_sigterm() -> None:
    def handler(signum, frame):
        raise Terminated(signum)
    signal.signal(signal.SIGTERM, handler)


def train(request: Request, share: list[Unit] | None = None) -> Outcome:
    """Train what the store lacks of the request (or of `share`, some units of its plan) on this
    machine: in this process with one job, else in `jobs` worker processes, a unit at a time."""
    store.ensure_writable(store.models_dir(request.results_dir))
    start = time.perf_counter()
    todo = pending(request, plan(request) if share is None else share)
    if request.jobs > 1 and len(todo) > 1:
        return Outcome(_in_processes(request, todo), seconds=time.perf_counter() - start)
    configs = [c for u in todo for c in u.configs]
    try:
        trained = train_models(request, configs, f"{len(configs)} models") if configs else []
    except (KeyboardInterrupt, Terminated) as stop:
        raise stopped(stop, todo, request) from None
    return Outcome(trained, seconds=time.perf_counter() - start)


def pending(request: Request, share: list[Unit]) -> list[Unit]:
    """The units of `share` that have a model to train: one the store lacks, or any with --force."""
    return [u for u in share if request.force or not all(present(c, request) for c in u.configs)]


def missing(request: Request, share: list[Unit]) -> list[Unit]:
    """The models of `share` that `train` trains (those the store lacks; all with --force), formed
    into units as the plan would form them."""
    models = [m for u in share for m in u.models if request.force or not present(m.config, request)]
    return units(models, request.device, request.max_stack)


def resumable(request: Request, share: list[Unit]) -> list[training.SavedState]:
    """The saved stacks that training `share` resumes: train sends each pending unit to its own
    process when it runs several jobs, else all of them to one (train, train_models)."""
    todo = pending(request, share)
    missing_of = [[c for c in u.configs if request.force or not present(c, request)] for u in todo]
    groups = missing_of if request.jobs > 1 and len(todo) > 1 else [[c for group in missing_of for c in group]]
    states = training.saved_states(store.states_dir(request.results_dir))
    return [state for group in groups for state, _ in resumed(group, request, states)]


def estimate(request: Request, todo: list[Unit]) -> float:
    """Estimated wall seconds of `todo` on this machine: its units spread over the jobs (the longest
    unit bounds it), as measured for the device (SPEEDS); saved states are not counted."""
    seconds = [u.seconds(request.device) for u in todo]
    return max(sum(seconds) / min(request.jobs, max(1, len(todo))), max(seconds, default=0.0))


def stopped(stop: BaseException, units: list[Unit], request: Request) -> "Stopped":
    signum = getattr(stop, "signum", signal.SIGINT)
    names = ", ".join(u.name for u in units[:4]) + (f" and {len(units) - 4} more units" if len(units) > 4 else "")
    return Stopped(f"stopped by {signal.Signals(signum).name} while training {names}: every finished stack is "
                   f"kept in {store.models_dir(request.results_dir)}, a stack in training resumes from its last "
                   f"saved state in {store.states_dir(request.results_dir)}; the same command trains the rest",
                   128 + signum)


def _in_processes(request: Request, todo: list[Unit]) -> list[ModelConfig]:
    """One unit a worker, longest first. A CPU's threads are shared between the workers (at the
    quick preset's small matmuls two one-thread processes do 1.45× the work of one two-thread
    process); on CUDA worker i trains on GPU i."""
    jobs = min(request.jobs, len(todo))
    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(jobs):
        slots.put(slot)
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                               initargs=(slots, threads, request.device, os.getpid()))
    # The workers start while Ctrl-C is ignored, and inherit that: the whole group gets the
    # signal, and the parent alone handles it (by ending them).
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        futures = {pool.submit(_train_unit, request, u): u for u in todo}
    finally:
        signal.signal(signal.SIGINT, before)
    trained = []
    try:
        for future in as_completed(futures):
            trained += future.result()
    except BrokenProcessPool:
        lost = [futures[f].name for f in futures if f.running() or (f.done() and f.exception() is not None)]
        _stop(pool)
        raise Stopped(f"a training process died (killed from outside, e.g. out of memory) while training "
                      f"{', '.join(lost)}: every finished stack is kept in {store.models_dir(request.results_dir)}; "
                      f"the same command trains the rest", 1) from None
    except (KeyboardInterrupt, Terminated) as stop:
        running = [futures[f] for f in futures if f.running()][:jobs]  # the next one waits in the call queue
        _stop(pool)
        raise stopped(stop, running, request) from None
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()
    return trained


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now: what they were training is lost, what they stored is kept. A second
    Ctrl-C or SIGTERM meanwhile changes nothing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in multiprocessing.active_children():
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


_SLOT = 0  # this worker's progress-bar line (and, on CUDA, its GPU)


def _start_worker(slots, threads: int, device: str, parent: int) -> None:
    global _SLOT
    die_with_parent(parent)
    # tqdm's default lock is a named semaphore; a worker killed mid-run never releases it and the
    # resource tracker then warns of a leak. Across spawned processes it guards nothing anyway.
    tqdm.set_lock(threading.RLock())
    _SLOT = slots.get()
    torch.set_num_threads(threads)
    if device == "cuda":
        torch.cuda.set_device(_SLOT)


def die_with_parent(parent: int) -> None:
    """End this process when `parent` ends, however it ends (kill -9 included): on Linux the kernel
    sends SIGKILL (PR_SET_PDEATHSIG); elsewhere a thread watches the parent's pid."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the request above
        os._exit(1)


def _train_unit(request: Request, unit: Unit) -> list[ModelConfig]:
    return train_models(request, unit.configs, unit.name, position=_SLOT)


def train_unit(request: Request, unit: Unit) -> list[str]:
    """A unit in a process of its own (a Slurm task): the file names of the models it trained."""
    return [store.file_name(c) for c in train_models(request, unit.configs, unit.name)]


# ---------------------------------------------------------------- on a cluster (submitit)

def submitit():
    """submitit, an optional extra (only the Slurm executor needs it)."""
    try:
        import submitit as module
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install submitit (1.5 or later)") from None
    return module


@dataclasses.dataclass(frozen=True)
class Slurm:
    """Slurm options, passed to submitit: one job array, one unit a task, one GPU a task."""
    partition: str | None = None
    minutes: int = 60
    parallelism: int = 256    # tasks running at once
    gpus: int = 1             # a task's GPUs (0 on a CPU-only partition)

    def __post_init__(self):
        for option, value in (("--slurm-time", self.minutes), ("--array-parallelism", self.parallelism)):
            if value < 1:
                raise ConfigError(f"{option} must be ≥ 1, got {value}")

    def executor(self, folder: Path):
        executor = submitit().SlurmExecutor(folder=folder / "%j")
        parameters = {"time": self.minutes, "array_parallelism": self.parallelism, "gpus_per_node": self.gpus,
                      "cpus_per_task": 2, "job_name": "monosem"}
        if self.partition:
            parameters["partition"] = self.partition
        executor.update_parameters(**parameters)
        return executor


def submit(request: Request, share: list[Unit], executor) -> list[tuple[Unit, object]]:
    """The units that lack a model, one a task, as one job array of `executor` (submitit's
    SlurmExecutor, or its LocalExecutor / DebugExecutor). Returns (unit, job) pairs."""
    store.ensure_writable(store.models_dir(request.results_dir))
    todo = [u for u in share if request.force or not all(present(c, request) for c in u.configs)]
    if not todo:
        return []
    quiet = dataclasses.replace(request, progress=False, jobs=1)
    return list(zip(todo, executor.map_array(train_unit, [quiet] * len(todo), todo)))


def gather(request: Request, jobs: list[tuple[Unit, object]]) -> Outcome:
    """Wait for every task; what each trained, and why a failed one failed (its error's last line)."""
    by_name = {store.file_name(m.config): m.config for u, _ in jobs for m in u.models}
    outcome = Outcome([])
    for unit, job in jobs:
        try:
            outcome.trained += [by_name[name] for name in job.result()]
        except Exception as error:
            outcome.failed.append((unit.name, reason(error)))
    return outcome


def reason(error: Exception) -> str:
    """A failed task's error in one line: the last line of its traceback, which submitit puts
    between two rules of dashes, else the error's own last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    rules = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    if len(rules) >= 2 and rules[-1] > rules[-2] + 1:
        return lines[rules[-1] - 1]
    return lines[-1] if lines else type(error).__name__
