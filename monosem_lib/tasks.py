"""The three tasks (paper §2.2): feature decoder, random re-projector, absolute value."""
import torch

from . import features
from .scratch import Scratch

TASKS = ("decoder", "re-projector", "abs")


def output_dim(task: str, n: int, d: int) -> int:
    """The re-projector predicts Q f (d-dim); the other tasks predict N features."""
    return d if task == "re-projector" else n


def make_batch(task: str, freqs: torch.Tensor, P: torch.Tensor, Q: torch.Tensor | None,
               batch: int, generators: list, scratch=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets for one training step, in `scratch`'s tensors if given (model.Scratch:
    the training loop reuses them every step, so the caller may overwrite the target).

    freqs (models, n); P, Q (models, d, n). Returns x (models, batch, d), target (models, batch, out).
    """
    scratch = scratch or Scratch(keep=False)
    shape = (len(generators), batch, freqs.shape[1])  # (models, batch, n)
    if task == "abs":
        # f1 and f2 at eps/2 each, so that f1 - f2 has about the decoder's density.
        half = freqs / 2
        f = features.sample(half, batch, generators, scratch("f", shape, freqs))
        f.sub_(features.sample(half, batch, generators, scratch("f2", shape, freqs)))
        target = torch.abs(f, out=scratch("target", shape, freqs))
    else:
        f = features.sample(freqs, batch, generators, scratch("f", shape, freqs))
        target = f if task == "decoder" else torch.bmm(f, Q.transpose(1, 2), out=scratch(
            "target", (*shape[:2], Q.shape[1]), freqs))
    return torch.bmm(f, P.transpose(1, 2), out=scratch("x", (*shape[:2], P.shape[1]), freqs)), target
