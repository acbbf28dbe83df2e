"""Training with the authors' protocol (SPEC §2), many models at once.

Configs that share a stack key train as one StackedModel; each model keeps its own lr, decay (and
the remedies' strengths, remedies.py), offset, L1 strength, feature frequencies, projections and random streams, so a stacked run
gives the same numbers as training each model alone.
"""
import contextlib
import dataclasses
import hashlib
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import features, metrics, projections, tasks
from .config import ConfigError, ModelConfig
from .model import StackedModel, erdos_renyi_masks, init_params
from .optimize import StackedLamb, cosine_lr
from .remedies import BiasUpdate

LOG_EVERY = 16
EVAL_BATCH = 4096
MAX_STACK = 8  # models per stack: memory grows with it, and a stack is stored only when it ends


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
          position: int = 0, on_stack=None, max_stack: int = MAX_STACK) -> list[ModelResult]:
    """Train every config; results come back in the order given. `position`: the progress bar's line.
    `on_stack(results)` is called as each stack finishes (to store it before the next one starts)."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.stack_key(), []).append(i)
    stacks = [indices[start:start + max_stack] for indices in groups.values()
              for start in range(0, len(indices), max_stack)]
    results: list = [None] * len(configs)
    for n, indices in enumerate(stacks):
        label = f"{desc} [{n + 1}/{len(stacks)}]" if len(stacks) > 1 else desc
        done = train_stack([configs[i] for i in indices], device, label, progress, position)
        for i, result in zip(indices, done):
            results[i] = result
        if on_stack is not None:
            on_stack(done)
    return results


STEPS = ("plain", "fused")
STEP_ENV_VAR = "MONOSEM_STEP"


def step_kind() -> str:
    """Which form of the step (gradients and LAMB update) trains: "plain" (default, the reference
    every stored number comes from) or "fused" (compiled, its elementwise passes fused; equal to
    rounding, not bit-identical). An environment
    variable, so that the training processes `train --jobs` starts inherit it."""
    kind = os.environ.get(STEP_ENV_VAR, "plain")
    if kind not in STEPS:
        raise ConfigError(f"${STEP_ENV_VAR}={kind!r}; valid: {', '.join(STEPS)}")
    return kind


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


def train_stack(configs: list[ModelConfig], device: str, desc: str, progress: bool, position: int = 0
                ) -> list[ModelResult]:
    with matmul_precision(configs[0].precision):
        return _train_stack(configs, device, desc, progress, position)


def _train_stack(configs: list[ModelConfig], device: str, desc: str, progress: bool, position: int
                 ) -> list[ModelResult]:
    c0 = configs[0]
    model, P, Q, freqs = setup(configs, device)
    data = [generator("data", c.seed, c.stream, device=device) for c in configs]
    held_out = tasks.make_batch(c0.task, freqs, P, Q, EVAL_BATCH,
                                [generator("eval", c.seed, c.stream, device=device) for c in configs])
    lr, l1 = (per_model(configs, f, device) for f in ("lr", "l1"))
    l1 = l1 if any(c.l1 for c in configs) else None
    bias = BiasUpdate(lambda field: per_model(configs, field, device), [model.W1, model.W2], c0.steps)
    fused = step_kind() == "fused"
    optimizer = StackedLamb(model.parameters(), fused=fused)
    logged_steps, logged, checkpoints, trace = [], [], {}, []
    start = time.perf_counter()
    for step in tqdm(range(c0.steps), desc=desc, disable=not progress, mininterval=1.0, leave=False,
                     position=position):
        x, target = tasks.make_batch(c0.task, freqs, P, Q, c0.batch_size, data)
        task_loss = model.backward(x, target, l1, fused, firing=bias.needs_firing)  # (models,)
        optimizer.step(cosine_lr(lr, step, c0.t_max))
        bias.apply(model.b, step, [model.W1, model.W2], model.fired)
        if step % LOG_EVERY == 0:
            logged_steps.append(step)
            logged.append(task_loss.detach())
        done = step + 1
        if done & (done - 1) == 0:  # a power of two
            checkpoints[done] = snapshot(model)
            trace.append(evaluate(model, held_out, P, c0))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / len(configs)
    results = collect(configs, model, P, Q, checkpoints, logged_steps, logged, trace, seconds)
    origin = provenance(device, c0.precision) | {"stack": len(configs), "step": step_kind()}
    for r in results:
        r.provenance = origin
    return results


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
