"""Training with the authors' protocol (SPEC §2), many models at once.

Configs that share a stack key train as one StackedModel; each model keeps its own lr, decay,
offset, L1 strength, feature frequencies, projections and random streams, so a stacked run
gives the same numbers as training each model alone.
"""
import dataclasses
import hashlib
import time

import torch
from tqdm.auto import tqdm

from . import features, metrics, projections, tasks
from .config import ModelConfig
from .model import StackedModel, erdos_renyi_masks, init_params
from .optimize import StackedLamb, cosine_lr

LOG_EVERY = 16
EVAL_BATCH = 4096


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


def generator(*parts, device="cpu") -> torch.Generator:
    """A generator seeded from a tuple of labels, so every random stream is named, not ordered."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def train(configs: list[ModelConfig], device: str = "cpu", desc: str = "", progress: bool = True,
          position: int = 0) -> list[ModelResult]:
    """Train every config; results come back in the order given. `position`: the progress bar's line."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.stack_key(), []).append(i)
    results: list = [None] * len(configs)
    for indices in groups.values():
        label = f"{desc} k={configs[indices[0]].k}" if len(groups) > 1 else desc
        for i, result in zip(indices, train_stack([configs[i] for i in indices], device, label, progress, position)):
            results[i] = result
    return results


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
    c0 = configs[0]
    model, P, Q, freqs = setup(configs, device)
    data = [generator("data", c.seed, c.stream, device=device) for c in configs]
    held_out = tasks.make_batch(c0.task, freqs, P, Q, EVAL_BATCH,
                                [generator("eval", c.seed, c.stream, device=device) for c in configs])
    lr, decay, l1 = (per_model(configs, f, device) for f in ("lr", "decay", "l1"))
    l1 = l1 if any(c.l1 for c in configs) else None
    bias_shrink = (1 - decay * lr)[:, None]  # (models, 1): the base lr, as in the authors' code
    optimizer = StackedLamb(model.parameters())
    logged_steps, logged, checkpoints, trace = [], [], {}, []
    start = time.perf_counter()
    for step in tqdm(range(c0.steps), desc=desc, disable=not progress, mininterval=1.0, leave=False,
                     position=position):
        x, target = tasks.make_batch(c0.task, freqs, P, Q, c0.batch_size, data)
        task_loss = model.backward(x, target, l1)  # (models,)
        optimizer.step(cosine_lr(lr, step, c0.t_max))
        if step < c0.steps // 2:
            with torch.no_grad():
                model.b.mul_(bias_shrink)
        if step % LOG_EVERY == 0:
            logged_steps.append(step)
            logged.append(task_loss.detach())
        done = step + 1
        if done & (done - 1) == 0:  # a power of two
            checkpoints[done] = snapshot(model)
            trace.append(evaluate(model, held_out, P, c0))
    seconds = (time.perf_counter() - start) / len(configs)
    return collect(configs, model, P, Q, checkpoints, logged_steps, logged, trace, seconds)


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
    """Split the stacked tensors into one ModelResult per model."""
    final = snapshot(model)
    losses = torch.stack(logged).cpu()  # (L, models)
    steps = torch.tensor(logged_steps)
    trace_steps = torch.tensor(sorted(checkpoints))
    stacked_trace = {key: torch.stack([t[key] for t in trace]) for key in trace[0]}  # (C, models)
    return [ModelResult(
        config=c, W1=final["W1"][m], b=final["b"][m], W2=final["W2"][m], P=P[m].cpu(),
        Q=None if Q is None else Q[m].cpu(),
        checkpoints={s: {key: v[m] for key, v in ck.items()} for s, ck in checkpoints.items()},
        loss_steps=steps, loss=losses[:, m],
        trace={"step": trace_steps, **{key: v[:, m] for key, v in stacked_trace.items()}},
        seconds=seconds,
    ) for m, c in enumerate(configs)]
