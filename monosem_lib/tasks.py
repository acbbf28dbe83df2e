"""The three tasks (paper §2.2): feature decoder, random re-projector, absolute value."""
import torch

from . import features

TASKS = ("decoder", "re-projector", "abs")


def output_dim(task: str, n: int, d: int) -> int:
    """The re-projector predicts Q f (d-dim); the other tasks predict N features."""
    return d if task == "re-projector" else n


def make_batch(task: str, freqs: torch.Tensor, P: torch.Tensor, Q: torch.Tensor | None,
               batch: int, generators: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets for one training step.

    freqs (models, n); P, Q (models, d, n). Returns x (models, batch, d), target (models, batch, out).
    """
    if task == "abs":
        # f1 and f2 at eps/2 each, so that f1 - f2 has about the decoder's density.
        f = features.sample(freqs / 2, batch, generators) - features.sample(freqs / 2, batch, generators)
        target = f.abs()
    else:
        f = features.sample(freqs, batch, generators)
        target = f if task == "decoder" else torch.bmm(f, Q.transpose(1, 2))
    return torch.bmm(f, P.transpose(1, 2)), target
