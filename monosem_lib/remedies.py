"""The bias update after each optimizer step: the paper's bias decay and, beyond the paper, three
remedies for its fragility (paper §4.3 and §6; the chapter "Beyond the paper" states the reasoning).

Every model's biases b (models, k) move, with the base learning rate lr (as the authors' decay does):

    b ← b − lr·[ (λ + λ_s·s + λ_c·(1 − c))·b·[t < T/2]  +  ρ·(b − b*) ]

- λ  = decay: the paper's protocol, every bias towards 0 during the first half of training.
- λ_s = silent_decay (remedy a, per neuron): s_i = 1 where neuron i fired on no sample of the step's
  batch. Only neurons that are doing nothing decay, so a fast λ_s can revive dead neurons without
  pulling the bias of a neuron that is learning its feature.
- λ_c = tied_decay (remedy b, tied to the rest of the weights): c ∈ [0, 1] is the coherence of W1's
  and W2's recent movement, |EMA of ΔW| / EMA of |ΔW| over COHERENCE_HORIZON steps: near 1 while the
  weights move steadily one way (the model is learning), near 0 once their steps cancel (it has
  settled, or cannot learn). The decay waits for the model.
- ρ = bias_reg towards b* = bias_target (remedy c): a regulariser towards a negative bias for the
  whole run, from zero-mean initial biases (offset 0), in place of a negative start.

Each strength at 0 leaves exactly the paper's protocol: its term is skipped when no model of a stack
uses it, and is an exact no-op (b·1, b − 0) for the models of a stack that do not.
"""
import torch

COHERENCE_HORIZON = 64  # steps: the EMAs' time constant (1 / (1 − β))


class Coherence:
    """c (models,) = |EMA of ΔW| / EMA of |ΔW|, ΔW = this step's change of (W1, W2) of each model."""

    def __init__(self, weights: list[torch.Tensor], horizon: int = COHERENCE_HORIZON):
        self.beta = 1 - 1 / horizon
        self.previous = [w.detach().clone() for w in weights]
        self.drift = [torch.zeros_like(w) for w in weights]        # EMA of ΔW, each (models, ...)
        self.path = torch.zeros(weights[0].shape[0], device=weights[0].device)  # EMA of |ΔW| (models,)

    def state(self) -> dict:
        return {"previous": self.previous, "drift": self.drift, "path": self.path}

    def resume(self, state: dict) -> None:
        for mine, saved in ((self.previous, state["previous"]), (self.drift, state["drift"])):
            for tensor, value in zip(mine, saved, strict=True):
                tensor.copy_(value)
        self.path.copy_(state["path"])

    @torch.no_grad()
    def update(self, weights: list[torch.Tensor]) -> torch.Tensor:
        step_sq = torch.zeros_like(self.path)
        for w, previous, drift in zip(weights, self.previous, self.drift):
            delta = w - previous
            step_sq += delta.flatten(1).pow(2).sum(1)
            drift.mul_(self.beta).add_(delta, alpha=1 - self.beta)
            previous.copy_(w)
        self.path.mul_(self.beta).add_(step_sq.sqrt(), alpha=1 - self.beta)
        net = sum(d.flatten(1).pow(2).sum(1) for d in self.drift).sqrt()
        return torch.where(self.path > 0, net / self.path.clamp_min(1e-30), torch.zeros_like(net))


class BiasUpdate:
    """The update above for one stack. `per_model(field)` gives a config field as (models,)."""

    def __init__(self, per_model, weights: list[torch.Tensor], steps: int):
        self.lr = per_model("lr")
        self.shrink = (1 - per_model("decay") * self.lr)[:, None]  # (models, 1): the paper's, bit for bit
        self.half = steps // 2
        self.silent = self._rate(per_model("silent_decay"))
        self.tied = self._rate(per_model("tied_decay"))
        self.coherence = Coherence(weights) if self.tied is not None else None
        rho = per_model("bias_reg")
        self.pull = (rho * self.lr)[:, None] if bool(rho.any()) else None
        self.target = per_model("bias_target")[:, None]

    def _rate(self, strength: torch.Tensor):
        return (strength * self.lr)[:, None] if bool(strength.any()) else None  # (models, 1) or None

    def state(self) -> dict:
        """What a resumed run needs: the coherence's running averages (the rest follows from the configs)."""
        return {} if self.coherence is None else {key: [t.detach().cpu().clone() for t in v] if isinstance(v, list)
                                                  else v.detach().cpu().clone() for key, v in self.coherence.state().items()}

    def resume(self, state: dict) -> None:
        if self.coherence is not None:
            self.coherence.resume(state)

    @property
    def needs_firing(self) -> bool:
        return self.silent is not None

    @torch.no_grad()
    def apply(self, b: torch.Tensor, step: int, weights: list[torch.Tensor], fired: torch.Tensor | None) -> None:
        """b (models, k) in place, after the optimizer's step `step`; fired (models, k) where needed."""
        if step < self.half:
            b.mul_(self.shrink)
            if self.silent is not None:
                b.mul_(1 - self.silent * (~fired))
            if self.tied is not None:
                coherence = self.coherence.update(weights)  # (models,)
                b.mul_(1 - self.tied * (1 - coherence[:, None]))
        if self.pull is not None:
            b.sub_(self.pull * (b - self.target))


FIELDS = {"silent": "silent_decay", "tied": "tied_decay", "regulariser": "bias_reg"}  # protocol → its strength


def protocol(config) -> str:
    """Which bias protocol a model trained with: a remedy's name ("silent", "tied", "regulariser",
    joined with + when combined), "paper" (the paper's decay alone) or "none" (no decay, no remedy)."""
    used = [name for name, field in FIELDS.items() if getattr(config, field) > 0]
    return "+".join(used) if used else "paper" if config.decay > 0 else "none"


def strength(config) -> float:
    """The strength of a model's protocol: its remedy's rate or pull, else the paper's decay rate."""
    return getattr(config, FIELDS.get(protocol(config), "decay"))
