"""Monosemanticity (eq. 7) and the other measurements the paper's figures are made of."""
import torch

from .model import ACTIVATIONS

MONO_THRESHOLD = 0.999
MOSTLY_MONO = 0.9
BAND_BIAS = 0.05
DELTA = 1e-10


def single_feature_hidden(W1, b, P, activation: str, amplitude: float = 1.0) -> torch.Tensor:
    """h_i(F_j): activations when only feature j is on, at `amplitude`.

    W1 (models, k, d), b (models, k), P (models, d, n) → (models, n features, k neurons).
    """
    x = amplitude * P.transpose(1, 2)  # (models, n, d): row j is F_j = P e_j
    return ACTIVATIONS[activation](torch.baddbmm(b[:, None, :], x, W1.transpose(1, 2)))


def feature_response(W1, b, P, activation: str, task: str) -> torch.Tensor:
    """h_i(F_j), or h_i(F_j) + h_i(-F_j) for the abs task (neurons may learn negative inputs)."""
    h = single_feature_hidden(W1, b, P, activation)
    if task == "abs":
        h = h + single_feature_hidden(W1, b, P, activation, amplitude=-1.0)
    return h


def response(result, W1=None, b=None) -> torch.Tensor:
    """h_i(F_j) (or the abs variant) of one trained model (a training.ModelResult), by default with
    its final weights: (n features, k neurons)."""
    c = result.config
    W1 = result.W1 if W1 is None else W1
    b = result.b if b is None else b
    return feature_response(W1[None], b[None], result.P[None], c.activation, c.task)[0]


def monosemanticity(h: torch.Tensor) -> torch.Tensor:
    """Eq. 7: r_i = max_j h_i(F_j) / (δ + Σ_j max(0, h_i(F_j))). h (models, n, k) → r (models, k)."""
    return h.max(dim=1).values / (DELTA + h.clamp(min=0).sum(dim=1))


def mono_per_feature(h: torch.Tensor) -> torch.Tensor:
    """# monosemantic neurons / N, shape (models,)."""
    return (monosemanticity(h) > MONO_THRESHOLD).sum(-1) / h.shape[1]


def feature_census(h: torch.Tensor) -> dict:
    """Per model: how many features have 0, 1, 2, ≥3 monosemantic neurons, and how many
    neurons are mostly monosemantic (0.9 < r ≤ 0.999). Each value has shape (models,)."""
    r = monosemanticity(h)
    mono = r > MONO_THRESHOLD  # (models, k)
    owner = h.argmax(dim=1)     # (models, k): the feature each neuron answers most strongly
    counts = torch.zeros(h.shape[0], h.shape[1], dtype=torch.long, device=h.device)
    counts.scatter_add_(1, owner, mono.long())  # (models, n): mono neurons per feature
    return {
        "features_with_0": (counts == 0).sum(-1),
        "features_with_1": (counts == 1).sum(-1),
        "features_with_2": (counts == 2).sum(-1),
        "features_with_3+": (counts >= 3).sum(-1),
        "mostly_mono_neurons": ((r > MOSTLY_MONO) & ~mono).sum(-1),
        "mono_neurons": mono.sum(-1),
    }


def orderings(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron order (by r, most monosemantic first) and feature order (by the rank of the neuron
    each feature activates most strongly), as the paper's activation images use them.
    h (one model): (n, k) → (neuron order (k,), feature order (n,))."""
    r = monosemanticity(h[None])[0]
    neuron_order = torch.argsort(r, descending=True, stable=True)
    rank = torch.empty_like(neuron_order)
    rank[neuron_order] = torch.arange(len(neuron_order), device=h.device)
    strongest = h.argmax(dim=1)  # (n,)
    feature_order = torch.argsort(rank[strongest], stable=True)
    return neuron_order, feature_order


def band_count(b: torch.Tensor) -> torch.Tensor:
    """Neurons with bias > 0.05 (the positive-bias band of Fig. 11). b (models, k) → (models,)."""
    return (b > BAND_BIAS).sum(-1)


def poly_linear_map(W1, b, W2, P) -> dict:
    """Fig. 26, one model: the positive-bias neurons' linearised map W2_poly W1_poly P (n × n),
    its singular values, and the poly biases pushed through W2 (a constant output offset).

    W1 (k, d), b (k,), W2 (out, k), P (d, n)."""
    poly = b > 0
    linear = W2[:, poly] @ W1[poly] @ P
    return {
        "map": linear,
        "singular_values": torch.linalg.svdvals(linear),
        "bias_through_W2": W2[:, poly] @ b[poly],
        "poly_neurons": int(poly.sum()),
    }


def output_vs_amplitude(W1, b, W2, P, activation: str, feature: int, amplitudes: torch.Tensor) -> dict:
    """Figs. 24-25, one model: output y_j for input a·F_j against amplitude a, for the full model
    and its negative-bias ("mono", b ≤ 0) and positive-bias ("poly", b > 0) parts, which sum to it.

    amplitudes (A,) → each entry (A,)."""
    x = amplitudes[:, None] * P[:, feature][None, :]  # (A, d)
    h = ACTIVATIONS[activation](x @ W1.T + b)         # (A, k)
    contribution = h * W2[feature][None, :]           # (A, k): each neuron's share of y_j
    poly = b > 0
    return {
        "full": contribution.sum(-1),
        "mono": contribution[:, ~poly].sum(-1),
        "poly": contribution[:, poly].sum(-1),
    }


def turn_on_amplitude(amplitudes: torch.Tensor, part: torch.Tensor, threshold: float = 1e-3) -> float:
    """First amplitude where a part's output rises above `threshold` (nan if never)."""
    on = (part > threshold).nonzero()
    return float(amplitudes[on[0, 0]]) if len(on) else float("nan")


def smoothed_loss(result, window: int = 16) -> torch.Tensor:
    """The logged task loss, averaged over `window` consecutive logs (256 steps): (L - window + 1,)."""
    window = max(1, min(window, len(result.loss) // 4))  # short (smoke) runs keep a curve
    return result.loss.unfold(0, window, 1).mean(-1)


def late_improvement(result) -> float:
    """How far the lowest smoothed loss fell from the third to the last quarter of training, as a
    fraction of the former: about 0 once a model has converged, clearly above 0 while it still
    learns. Each quarter spans many periods of the cosine schedule, so its minimum is a trough."""
    loss = smoothed_loss(result)
    quarter = len(loss) // 4
    third, last = loss[2 * quarter:3 * quarter].min(), loss[3 * quarter:].min()
    return float((third - last) / third)


def summary(result) -> dict:
    """The headline numbers of one trained model (a training.ModelResult).

    "loss" is the paper's "Min. Loss": the lowest smoothed training loss (train = test here, as
    every step draws fresh samples); "final_loss" is the held-out loss of the final model, which
    the periodic schedule leaves at its peak learning rate."""
    h = response(result)[None]
    census = {key: int(v) for key, v in feature_census(h).items()}
    return {"loss": float(smoothed_loss(result).min()), "final_loss": float(result.trace["loss"][-1]),
            "mono_per_feature": float(mono_per_feature(h)),
            "mean_bias": float(result.b.mean()), "band": int(band_count(result.b[None])), **census}


def correlation(xs, ys) -> float:
    """Pearson correlation (nan when either side is constant)."""
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1])
