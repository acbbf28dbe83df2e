"""Features (paper §2.1): N-dim vectors whose entry i is 0 with prob 1-eps_i, else Uniform[0, 1]."""
import torch

DISTRIBUTIONS = ("uniform", "power-law")


def frequencies(distribution: str, n: int, eps: float) -> torch.Tensor:
    """Per-feature frequencies eps_i, shape (n,), on the CPU; the mean frequency is eps."""
    if distribution == "uniform":
        return torch.full((n,), eps, device="cpu")
    if distribution == "power-law":
        # eps_i ∝ i^-1.1 (Zipf-like), scaled so sum_i eps_i = n·eps, then clipped at 1.
        weights = torch.arange(1, n + 1, dtype=torch.float64, device="cpu") ** -1.1
        return (weights * n * eps / weights.sum()).clamp(max=1.0).float()
    raise ValueError(f"unknown feature distribution {distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")


def sample(freqs: torch.Tensor, batch: int, generators: list, out: torch.Tensor | None = None) -> torch.Tensor:
    """Draw feature vectors, one generator per model, into `out` if given (reused from step to step).

    freqs: (models, n). Returns (models, batch, n).
    One uniform u per entry serves both draws: u < eps_i decides "active", and then
    u / eps_i is itself Uniform[0, 1], so half the random numbers are needed.
    """
    if out is None:
        out = freqs.new_empty(len(generators), batch, freqs.shape[1])
    for u, g in zip(out, generators):  # each model's own stream, drawn in place
        torch.rand(batch, freqs.shape[1], generator=g, device=g.device, out=u)
    eps = freqs[:, None, :]
    inactive = out >= eps
    return out.div_(eps).masked_fill_(inactive, 0)
