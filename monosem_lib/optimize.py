"""LAMB over stacked parameters, and the authors' periodic cosine learning-rate schedule.

Matches torch_optimizer.Lamb with its defaults (no bias correction, no weight decay,
weight norm clamped to [0, 10], trust ratio 1 where a norm is 0), with one trust ratio
per model per tensor: norms run over every axis but the leading model axis.

Two forms of the same step: the plain one, in place, op by op (the reference: every stored number
comes from it), and a compiled one (`fused=True`) that does the ten elementwise passes of a
tensor's update in one or two, equal to the plain step to rounding (tests/test_optimize.py).
"""
import functools
import math

import torch


def cosine_lr(base_lr: torch.Tensor, step: int, t_max: int) -> torch.Tensor:
    """CosineAnnealingLR(T_max, eta_min=0) stepped once per step; periodic with period 2·t_max."""
    return base_lr * (1 + math.cos(math.pi * step / t_max)) / 2


class StackedLamb:
    def __init__(self, params, betas=(0.9, 0.999), eps=1e-6, clamp_value=10.0, fused: bool = False):
        self.params = list(params)
        self.betas, self.eps, self.clamp_value, self.fused = betas, eps, clamp_value, fused
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.update = [torch.empty_like(p) for p in self.params]  # reused: the step allocates nothing big

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        """lr: (models,), this step's learning rate of each model."""
        if self.fused:
            for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
                new = fused_update()(p, p.grad, m, v, lr, *self.betas, self.eps, self.clamp_value)
                for old, value in zip((p, m, v), new):
                    old.copy_(value)
                p.grad = None
            return
        beta1, beta2 = self.betas
        for p, m, v, update in zip(self.params, self.exp_avg, self.exp_avg_sq, self.update):
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            torch.sqrt(v, out=update)
            torch.div(m, update.add_(self.eps), out=update)
            weight_norm = p.flatten(1).norm(dim=1).clamp(0, self.clamp_value)  # (models,)
            update_norm = update.flatten(1).norm(dim=1)
            trust = torch.where((weight_norm > 0) & (update_norm > 0),
                                weight_norm / update_norm, torch.ones_like(weight_norm))
            update.mul_((lr * trust).view(-1, *([1] * (p.dim() - 1))))
            p.sub_(update)
            p.grad = None


def lamb_update(p, grad, m, v, lr, beta1: float, beta2: float, eps: float, clamp_value: float):
    """The plain step's arithmetic out of place, for the compiler to fuse: p, grad, m, v
    (models, ...), lr (models,). Returns the new (p, m, v)."""
    m = m * beta1 + grad * (1 - beta1)
    v = v * beta2 + grad * grad * (1 - beta2)
    update = m / (v.sqrt() + eps)
    weight_norm = p.flatten(1).norm(dim=1).clamp(0, clamp_value)  # (models,)
    update_norm = update.flatten(1).norm(dim=1)
    trust = torch.where((weight_norm > 0) & (update_norm > 0), weight_norm / update_norm,
                        torch.ones_like(weight_norm))
    return p - update * (lr * trust).view(-1, *([1] * (p.dim() - 1))), m, v


@functools.cache
def fused_update():
    """lamb_update compiled once per process; dynamic shapes, so every stack shape shares it."""
    return torch.compile(lamb_update, dynamic=True)
