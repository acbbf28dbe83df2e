"""The training step's intermediate tensors, kept from one step to the next.

At the quick preset's sizes a step is bound by memory passes, and a tensor allocated anew every step
costs fresh pages from the kernel; reusing one buffer per intermediate keeps the numbers bit for
bit (the same ops, written into existing memory).
"""
import torch


class Scratch:
    """`scratch(name, shape, like)`: the buffer named `name`, of `shape` and `like`'s dtype and
    device, made once and reused while the shape holds. `keep=False` makes a fresh tensor on every
    call (for callers outside the training loop, whose inputs must not be overwritten)."""

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.tensors: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, shape: tuple, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        tensor = self.tensors.get(name)
        if tensor is None or tensor.shape != shape or not self.keep:
            tensor = like.new_empty(shape, dtype=dtype or like.dtype)
            if self.keep:
                self.tensors[name] = tensor
        return tensor
