"""LAMB over stacked parameters, and the authors' periodic cosine learning-rate schedule.

Matches torch_optimizer.Lamb with its defaults (no bias correction, no weight decay,
weight norm clamped to [0, 10], trust ratio 1 where a norm is 0), with one trust ratio
per model per tensor: norms run over every axis but the leading model axis.

The update runs in place, op by op, into buffers made once. It is bit-identical to the plain
formula: sqrt(v) is taken of max(v, TINY), because torch's CPU sqrt is several times slower on the
exact zeros a sparse gradient leaves in v, and sqrt(x) + eps == eps in float32 for every x <= TINY.
"""
import math

import torch


def cosine_lr(base_lr: torch.Tensor, step: int, t_max: int) -> torch.Tensor:
    """CosineAnnealingLR(T_max, eta_min=0) stepped once per step; periodic with period 2·t_max."""
    return base_lr * (1 + math.cos(math.pi * step / t_max)) / 2


TINY = torch.finfo(torch.float32).tiny  # sqrt(TINY) = 1.1e-19, lost in sqrt(v) + 1e-6


class StackedLamb:
    def __init__(self, params, betas=(0.9, 0.999), eps=1e-6, clamp_value=10.0):
        self.params = list(params)
        self.betas, self.eps, self.clamp_value = betas, eps, clamp_value
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.update = [torch.empty_like(p) for p in self.params]  # reused: the step allocates nothing big

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        """lr: (models,), this step's learning rate of each model."""
        beta1, beta2 = self.betas
        for p, m, v, update in zip(self.params, self.exp_avg, self.exp_avg_sq, self.update):
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            torch.clamp_min(v, TINY, out=update).sqrt_()
            torch.div(m, update.add_(self.eps), out=update)
            weight_norm = p.flatten(1).norm(dim=1).clamp(0, self.clamp_value)  # (models,)
            update_norm = update.flatten(1).norm(dim=1)
            trust = torch.where((weight_norm > 0) & (update_norm > 0),
                                weight_norm / update_norm, torch.ones_like(weight_norm))
            update.mul_((lr * trust).view(-1, *([1] * (p.dim() - 1))))
            p.sub_(update)
            p.grad = None
