"""The fixed random projections P (input) and Q (re-projector target), as in the authors' code."""
import torch


def projection(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """A d×n matrix whose n columns (feature embeddings) have unit norm.

    Gaussian n×d → thin SVD → U (n×d) → unit rows → transpose; U's orthonormal
    columns spread the features as evenly as d dimensions allow.
    """
    gaussian = torch.randn(n, d, generator=generator, dtype=torch.float64, device=generator.device)
    u, _, _ = torch.linalg.svd(gaussian, full_matrices=False)  # (n, d)
    u = u / u.norm(dim=1, keepdim=True)
    return u.T.contiguous().float()  # (d, n)
