"""Training with the authors' protocol (SPEC §2), many models at once.

Configs that share a stack key train as one StackedModel; each model keeps its own lr, decay (and
the remedies' strengths, remedies.py), offset, L1 strength, feature frequencies, projections and random streams, so a stacked run
gives the same numbers as training each model alone.
"""
import contextlib
import dataclasses
import hashlib
import io
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import features, metrics, projections, tasks
from .config import ModelConfig, config_hash
from .model import StackedModel, erdos_renyi_masks, init_params
from .optimize import StackedLamb, cosine_lr
from .remedies import BiasUpdate
from .scratch import Scratch

LOG_EVERY = 16
EVAL_BATCH = 4096
MAX_STACK = 8  # models per stack by default: memory grows with it, and a stack is stored only when it ends
STACK_LIMIT = 64  # the most a command may ask for: below paper scale a GPU's stack-step is mostly a fixed
                  # cost, so bigger stacks train more models a second there (runs.SPEEDS)


@dataclasses.dataclass
class ModelResult:
    """Everything stored about one trained model (tensors on the CPU)."""
    config: ModelConfig
    W1: torch.Tensor              # (k, d)
    b: torch.Tensor               # (k,)
    W2: torch.Tensor              # (out, k)
    P: torch.Tensor               # (d, n)
    Q: torch.Tensor | None        # (d, n), re-projector only
    checkpoints: dict             # step → {"W1", "b", "W2"}, at every power-of-two step
    loss_steps: torch.Tensor      # (L,) steps where the task loss was logged
    loss: torch.Tensor            # (L,) the task loss (train = test: fresh samples every step)
    trace: dict                   # "step", "loss" (held-out batch), "mono", "mean_bias": (C,) per checkpoint
    seconds: float                # this model's share of its stack's wall time
    provenance: dict = dataclasses.field(default_factory=dict)  # device, precision, torch, commit


def generator(*parts, device="cpu") -> torch.Generator:
    """A generator seeded from a tuple of labels, so every random stream is named, not ordered."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def train(configs: list[ModelConfig], device: str = "cpu", desc: str = "", progress: bool = True,
          position: int = 0, on_stack=None, max_stack: int = MAX_STACK, state_dir: Path | None = None
          ) -> list[ModelResult]:
    """Train every config; results come back in the order given. `position`: the progress bar's line.
    `on_stack(results)` is called as each stack finishes (to store it before the next one starts).
    `state_dir`: where each stack saves its state every SAVE_EVERY seconds, and where a stopped
    stack's state is found and resumed from (removed once `on_stack` has stored the stack)."""
    every = stacks(configs, max_stack)
    results: list = [None] * len(configs)
    for n, indices in enumerate(every):
        label = f"{desc} [{n + 1}/{len(every)}]" if len(every) > 1 else desc
        stack = [configs[i] for i in indices]
        saving = None if state_dir is None else Saving.for_stack(stack, Path(state_dir))
        done = train_stack(stack, device, label, progress, position, saving)
        for i, result in zip(indices, done):
            results[i] = result
        if on_stack is not None:
            on_stack(done)
        if saving is not None:
            saving.discard()
    return results


def stacks(configs: list[ModelConfig], max_stack: int) -> list[list[int]]:
    """The stacks `train` forms, as indices into `configs`: equal stack keys together, in the order
    of their first config, at most `max_stack` a stack."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.stack_key(), []).append(i)
    return [indices[start:start + max_stack] for indices in groups.values()
            for start in range(0, len(indices), max_stack)]


@contextlib.contextmanager
def matmul_precision(precision: str):
    """float32 matmuls on CUDA as fp32 ("ieee") or TF32; CPU matmuls ignore the setting."""
    before = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "tf32" if precision == "tf32" else "ieee"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.fp32_precision = before


def provenance(device: str, precision: str) -> dict:
    """Where and how a model was trained: stored with it and shown on the pages that use it."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": name, "device_kind": device, "precision": precision if device == "cuda" else "fp32",
            "torch": str(torch.__version__), "commit": LOADED_COMMIT}


def commit() -> str:
    """The code's git commit (`-dirty` with uncommitted changes), or $MONOSEM_COMMIT where the
    checkout has no .git (e.g. a copy sent to a GPU machine)."""
    if os.environ.get("MONOSEM_COMMIT"):
        return os.environ["MONOSEM_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "monosem_lib"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


# Read once, when the code is imported: a long run must record the code it runs, not the
# checkout as it is when a stack ends (a commit or an edit made meanwhile is not in this process).
LOADED_COMMIT = commit()


def setup(configs: list[ModelConfig], device: str):
    """The stacked model, P, Q (models, d, n), frequencies (models, n) and per-model data streams."""
    c0 = configs[0]
    out = tasks.output_dim(c0.task, c0.n, c0.d)
    params = [init_params(c.d, c.k, out, c.offset, generator("init", c.seed, c.stream)) for c in configs]
    W1, b, W2 = (torch.stack(p).to(device) for p in zip(*params))
    masks = None
    if c0.density < 1:
        pairs = [erdos_renyi_masks(c.d, c.k, out, c.density, generator("mask", c.seed, c.stream))
                 for c in configs]
        masks = tuple(torch.stack(m).to(device) for m in zip(*pairs))
    model = StackedModel(W1, b, W2, c0.activation, masks)
    P = torch.stack([projections.projection(c.n, c.d, generator("P", c.seed)) for c in configs]).to(device)
    Q = None
    if c0.task == "re-projector":
        Q = torch.stack([projections.projection(c.n, c.d, generator("Q", c.seed)) for c in configs]).to(device)
    freqs = torch.stack([features.frequencies(c.distribution, c.n, c.eps) for c in configs]).to(device)
    return model, P, Q, freqs


def per_model(configs, field: str, device) -> torch.Tensor:
    return torch.tensor([getattr(c, field) for c in configs], dtype=torch.float32, device=device)


def train_stack(configs: list[ModelConfig], device: str, desc: str, progress: bool, position: int = 0,
                saving=None) -> list[ModelResult]:
    with matmul_precision(configs[0].precision), flush_denormal():
        return _train_stack(configs, device, desc, progress, position, saving)


@contextlib.contextmanager
def flush_denormal():
    """Subnormal floats as zero on the CPU while a stack trains. Late in a run up to 41 % of LAMB's
    first moments are subnormal, and the CPU computes with them several times slower; a moment
    below 1.2e-38 divided by sqrt(v) + 1e-6 is below 1e-32, which no weight of the model can hold,
    so the weights come out the same bit for bit (tested over whole runs: README). On CPUs
    without the flag it does nothing. Intra-op threads started before the flag keep theirs: the
    numbers are the same either way, only the speed differs."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class Run:
    """One stack in training: the model, its optimizer, its data streams and what it has recorded.
    `advance()` takes one step of the protocol; its three phases (`sample`, `learn`, `update`) are
    separate so that the step benchmark times each. `state()` / `resume(state)` carry everything a
    stopped run needs to go on to the very numbers of an uninterrupted one."""

    def __init__(self, configs: list[ModelConfig], device: str):
        self.configs, self.device, c0 = configs, device, configs[0]
        self.model, self.P, self.Q, self.freqs = setup(configs, device)
        self.data = [generator("data", c.seed, c.stream, device=device) for c in configs]
        self.held_out = tasks.make_batch(c0.task, self.freqs, self.P, self.Q, EVAL_BATCH,
                                         [generator("eval", c.seed, c.stream, device=device) for c in configs])
        self.lr = per_model(configs, "lr", device)
        self.l1 = per_model(configs, "l1", device) if any(c.l1 for c in configs) else None
        self.bias = BiasUpdate(lambda field: per_model(configs, field, device), self.weights, c0.steps)
        self.optimizer = StackedLamb(self.model.parameters())
        self.scratch = Scratch()
        self.step, self.seconds = 0, 0.0  # steps taken; training time before this process resumed it
        self.logged_steps, self.logged, self.checkpoints, self.trace = [], [], {}, []

    @property
    def weights(self) -> list[torch.Tensor]:
        return [self.model.W1, self.model.W2]

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        c0 = self.configs[0]
        return tasks.make_batch(c0.task, self.freqs, self.P, self.Q, c0.batch_size, self.data, self.scratch)

    def learn(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """The gradients; the task loss (models,) on the steps that log it, else None."""
        return self.model.backward(x, target, self.l1, firing=self.bias.needs_firing,
                                   loss=self.step % LOG_EVERY == 0, scratch=self.scratch)

    def update(self) -> None:
        self.optimizer.step(cosine_lr(self.lr, self.step, self.configs[0].t_max))
        self.bias.apply(self.model.b, self.step, self.weights, self.model.fired)

    def record(self, task_loss: torch.Tensor | None) -> None:
        """The loss every LOG_EVERY steps; a checkpoint and the held-out trace at powers of two."""
        if task_loss is not None:
            self.logged_steps.append(self.step)
            self.logged.append(task_loss)
        self.step += 1
        if self.step & (self.step - 1) == 0:
            self.checkpoints[self.step] = snapshot(self.model)
            self.trace.append(evaluate(self.model, self.held_out, self.P, self.configs[0]))

    def advance(self) -> None:
        task_loss = self.learn(*self.sample())
        self.update()
        self.record(task_loss)

    def state(self) -> dict:
        """Everything that changes as the run goes on, as CPU tensors and plain values."""
        def cpu(tensors):
            return [t.detach().cpu().clone() for t in tensors]
        return {"step": self.step, "seconds": self.seconds, "params": cpu(self.model.parameters()),
                "exp_avg": cpu(self.optimizer.exp_avg), "exp_avg_sq": cpu(self.optimizer.exp_avg_sq),
                "data": [g.get_state() for g in self.data], "bias": self.bias.state(),
                "logged_steps": list(self.logged_steps), "logged": cpu(self.logged),
                "checkpoints": self.checkpoints, "trace": self.trace}

    @torch.no_grad()
    def resume(self, state: dict) -> None:
        for tensors, saved in ((list(self.model.parameters()), state["params"]),
                               (self.optimizer.exp_avg, state["exp_avg"]),
                               (self.optimizer.exp_avg_sq, state["exp_avg_sq"])):
            for tensor, value in zip(tensors, saved, strict=True):
                tensor.copy_(value)
        for g, value in zip(self.data, state["data"], strict=True):
            g.set_state(value)
        self.bias.resume(state["bias"])
        self.step, self.seconds = state["step"], state["seconds"]
        self.logged_steps = list(state["logged_steps"])
        self.logged = [t.to(self.device) for t in state["logged"]]
        self.checkpoints, self.trace = state["checkpoints"], state["trace"]


def _train_stack(configs: list[ModelConfig], device: str, desc: str, progress: bool, position: int,
                 saving=None) -> list[ModelResult]:
    run = Run(configs, device)
    if saving is not None:
        saving.restore(run)
    start = time.perf_counter()
    for _ in tqdm(range(run.step, configs[0].steps), desc=desc, disable=not progress, mininterval=1.0,
                  leave=False, position=position, initial=run.step, total=configs[0].steps):
        run.advance()
        if saving is not None:
            saving.maybe_save(run, start)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (run.seconds + time.perf_counter() - start) / len(configs)
    results = collect(configs, run.model, run.P, run.Q, run.checkpoints, run.logged_steps, run.logged, run.trace,
                      seconds)
    origin = provenance(device, configs[0].precision) | {"stack": len(configs)}
    for r in results:
        r.provenance = origin
    return results


SAVE_EVERY = 300.0  # seconds between saved states of a stack: at most this much work is lost to a stop


@dataclasses.dataclass
class SavedState:
    """A stack's state as `train` left it: what it trains, how far it got, when it was saved."""
    path: Path
    configs: list       # the stack's configs, as ModelConfig.to_dict()
    step: int
    steps: int
    saved: float        # the file's time (seconds since the epoch)


def saved_states(directory: Path) -> list[SavedState | tuple[Path, str]]:
    """The stacks saved in a store's states folder, each read lazily (mmap: no weights are read); a
    state that cannot be read comes back as (path, why): `train` starts that stack afresh."""
    found = []
    for path in sorted(Path(directory).glob("stack-*.pt")):
        try:
            state = torch.load(path, mmap=True, weights_only=True)
            found.append(SavedState(path, state["configs"], state["step"], state["configs"][0]["steps"],
                                    path.stat().st_mtime))
        except Exception as error:  # a listing must not fail on the state it is asked about
            found.append((path, str(error).splitlines()[0]))
    return found


@dataclasses.dataclass
class Saving:
    """A stack's saved state, written atomically every `every` seconds of training."""
    path: Path
    configs: list
    every: float = SAVE_EVERY
    last: float = dataclasses.field(default_factory=time.perf_counter)

    @classmethod
    def for_stack(cls, configs: list[ModelConfig], directory: Path) -> "Saving":
        return cls(directory / f"stack-{config_hash([c.to_dict() for c in configs])}.pt", configs, SAVE_EVERY)

    def restore(self, run: Run) -> None:
        if not self.path.is_file():
            return
        try:
            state = torch.load(self.path, weights_only=True)
            if state["configs"] != [c.to_dict() for c in self.configs]:
                raise ValueError("its configs are not this stack's")
            run.resume(state)
        except Exception as error:  # a state that cannot be resumed costs only the time it saved
            print(f"warning: saved state {self.path} not used ({error}); starting the stack afresh")
            self.path.unlink(missing_ok=True)
            return
        print(f"resuming {self.path.name} at step {run.step}")

    def maybe_save(self, run: Run, start: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.every or run.step == self.configs[0].steps:
            return
        from . import store  # here: the store imports this module
        state = run.state() | {"configs": [c.to_dict() for c in self.configs], "seconds": run.seconds + now - start}
        buffer = io.BytesIO()  # serialised in memory, so that only the write can fail (full or read-only disk)
        torch.save(state, buffer)
        try:
            store.atomic_write(buffer.getbuffer(), self.path)
        except store.StoreError as error:  # hours of training are worth more than this save
            print(f"warning: {error}; the stack trains on, and a stop before the next save resumes from an "
                  f"earlier saved state, if any")
        self.last = time.perf_counter()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def snapshot(model: StackedModel) -> dict:
    W1, W2 = model.weights()
    return {"W1": W1.detach().cpu().clone(), "b": model.b.detach().cpu().clone(), "W2": W2.detach().cpu().clone()}


@torch.no_grad()
def evaluate(model: StackedModel, held_out, P, c0: ModelConfig) -> dict:
    """Loss on a fixed held-out batch, # mono / N and mean bias, each (models,)."""
    x, target = held_out
    _, y = model(x)
    W1, _ = model.weights()
    h = metrics.feature_response(W1, model.b, P, c0.activation, c0.task)
    return {"loss": (y - target).pow(2).sum(-1).mean(-1).cpu(),
            "mono": metrics.mono_per_feature(h).cpu(),
            "mean_bias": model.b.mean(-1).cpu()}


def collect(configs, model, P, Q, checkpoints, logged_steps, logged, trace, seconds) -> list[ModelResult]:
    """Split the stacked tensors into one ModelResult per model. Each model's tensors are copies
    with their own storage: a view would carry the whole stack into the model's file."""
    final = snapshot(model)
    losses = torch.stack(logged, dim=1).cpu()  # (models, L)
    steps = torch.tensor(logged_steps, device="cpu")
    trace_steps = torch.tensor(sorted(checkpoints), device="cpu")
    stacked_trace = {key: torch.stack([t[key] for t in trace], dim=1) for key in trace[0]}  # (models, C)

    def own(stacked: dict, m: int) -> dict:
        return {key: v[m].clone() for key, v in stacked.items()}
    return [ModelResult(
        config=c, P=P[m].cpu().clone(), Q=None if Q is None else Q[m].cpu().clone(),
        checkpoints={s: own(ck, m) for s, ck in checkpoints.items()},
        loss_steps=steps, loss=losses[m].clone(), trace={"step": trace_steps, **own(stacked_trace, m)},
        seconds=seconds, **own(final, m),
    ) for m, c in enumerate(configs)]
