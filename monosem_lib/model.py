"""The two-layer model (paper §2.3), stacked: M independent models share one set of tensors.

e = W1 x + b,  h = act(e),  y = W2 h   (no output bias)
"""
import math

import torch
import torch.nn.functional as F

from .scratch import Scratch

ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    "solu": lambda e: e * torch.exp(e),  # the paper's "SoLU" variant x·exp(x), tried and dropped
}

# dL/de from dL/dh: (dh, e, h) → de, each (models, batch, k); relu's and gelu's overwrite dh.
ACTIVATION_GRADS = {
    "relu": lambda dh, e, h: dh.masked_fill_(h <= 0, 0),
    "gelu": lambda dh, e, h: torch.ops.aten.gelu_backward.grad_input(dh, e, grad_input=dh),
    "solu": lambda dh, e, h: dh * (1 + e) * torch.exp(e),
}


class StackedModel(torch.nn.Module):
    """M models of one shape; every parameter has a leading model axis.

    W1: (models, k, d), b: (models, k), W2: (models, out, k).
    masks: optional fixed 0/1 Erdős–Rényi masks of W1's and W2's shapes (sparse layers, §4.1.4).
    """

    def __init__(self, W1, b, W2, activation: str, masks=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        self.W1 = torch.nn.Parameter(W1)
        self.b = torch.nn.Parameter(b)
        self.W2 = torch.nn.Parameter(W2)
        self.activation = activation
        self.masks = masks
        if masks is not None:
            with torch.no_grad():  # masked weights start and stay at zero, so LAMB's norms ignore them
                self.W1.mul_(masks[0])
                self.W2.mul_(masks[1])

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.masks is None:
            return self.W1, self.W2
        return self.W1 * self.masks[0], self.W2 * self.masks[1]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """x (models, batch, d) → h (models, batch, k)."""
        W1, _ = self.weights()
        return ACTIVATIONS[self.activation](torch.baddbmm(self.b[:, None, :], x, W1.transpose(1, 2)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (models, batch, d) → (h (models, batch, k), y (models, batch, out))."""
        h = self.hidden(x)
        _, W2 = self.weights()
        return h, torch.bmm(h, W2.transpose(1, 2))

    @torch.no_grad()
    def backward(self, x: torch.Tensor, target: torch.Tensor, l1: torch.Tensor | None,
                 firing: bool = False, loss: bool = True, scratch=None) -> torch.Tensor | None:
        """Forward and backward by hand: autograd's bookkeeping (graph, transposed-gradient copies)
        costs about a fifth of a step at the quick preset's sizes. Sets the .grad of W1, b, W2 for
        the loss sum over models of  mean_batch |y - target|² + l1 · mean_batch |h|₁.
        `firing`: also set .fired (models, k): whether each neuron fired (e > 0) on any sample.
        `loss`: also return the task loss (the training loop logs it every 16th step only).
        `scratch`: a Scratch whose buffers hold the intermediates and gradients from step to step;
        the target is then overwritten.

        x (models, batch, d), target (models, batch, out), l1 (models,) or None for no penalty.
        Returns the task loss (models,), or None when not `loss`."""
        W1, W2 = self.weights()
        grad_W1, grad_b, grad_W2, task_loss, self.fired = gradients(W1, self.b, W2, x, target, l1, self.activation,
                                                                   firing, loss, scratch)
        if self.masks is not None:
            grad_W1.mul_(self.masks[0])
            grad_W2.mul_(self.masks[1])
        self.W1.grad, self.b.grad, self.W2.grad = grad_W1, grad_b, grad_W2
        return task_loss


def activate(activation: str, e: torch.Tensor, buffer: Scratch) -> torch.Tensor:
    """h = act(e), (models, batch, k): ReLU in place (its gradient needs h alone), GeLU into a
    buffer (its gradient needs e)."""
    if activation == "relu":
        return e.relu_()
    if activation == "gelu":
        return torch.ops.aten.gelu.out(e, out=buffer("h", e.shape, e))
    return ACTIVATIONS[activation](e)


def gradients(W1, b, W2, x, target, l1, activation: str, firing: bool = False, loss: bool = True,
              scratch: Scratch | None = None):
    """The gradients of one step: W1 (models, k, d), b (models, k), W2 (models, out, k), x (models,
    batch, d), target (models, batch, out), l1 (models,) or None. Returns (grad W1, grad b,
    grad W2, task loss (models,) if `loss` else None, fired (models, k) if `firing` else None).
    With a `scratch` every big tensor is one of its buffers and the target is overwritten."""
    models, batch, out = target.shape
    k = W1.shape[1]
    buffer = scratch or Scratch(keep=False)
    e = torch.baddbmm(b[:, None, :], x, W1.transpose(1, 2), out=buffer("e", (models, batch, k), x))
    fired = (e > 0).any(1) if firing else None
    h = activate(activation, e, buffer)
    # y - target (models, batch, out), into the target's own memory when it is scratch
    residual = (target.baddbmm_(h, W2.transpose(1, 2), beta=-1) if scratch is not None
                else torch.baddbmm(target, h, W2.transpose(1, 2), beta=-1))
    task_loss = residual.pow(2).sum(-1).mean(-1) if loss else None
    dy = residual.mul_(2 / batch)
    grad_W2 = torch.bmm(dy.transpose(1, 2), h, out=buffer("grad_W2", W2.shape, W2))  # (models, out, k)
    dh = torch.bmm(dy, W2, out=buffer("dh", (models, batch, k), x))  # (models, batch, k)
    if l1 is not None:
        dh.add_(torch.sign(h, out=buffer("sign", h.shape, h)).mul_((l1 / batch)[:, None, None]))
    de = ACTIVATION_GRADS[activation](dh, e, h)
    return (torch.bmm(de.transpose(1, 2), x, out=buffer("grad_W1", W1.shape, W1)),  # (models, k, d)
            torch.sum(de, 1, out=buffer("grad_b", b.shape, b)), grad_W2, task_loss, fired)


def init_params(d: int, k: int, out: int, offset: float, generator: torch.Generator):
    """One model's parameters, drawn like torch.nn.Linear's default init, then b += offset.

    Returns W1 (k, d), b (k,), W2 (out, k).
    """
    def uniform(shape, fan_in):
        bound = 1 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=generator, device=generator.device) * 2 - 1) * bound
    W1 = uniform((k, d), d)
    b = uniform((k,), d) + offset
    W2 = uniform((out, k), k)
    return W1, b, W2


def erdos_renyi_masks(d: int, k: int, out: int, density: float, generator: torch.Generator):
    """Fixed random 0/1 masks (each edge kept with probability `density`) for W1 (k, d) and W2 (out, k)."""
    return ((torch.rand(k, d, generator=generator, device=generator.device) < density).float(),
            (torch.rand(out, k, generator=generator, device=generator.device) < density).float())
