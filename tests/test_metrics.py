"""Eq. 7 and the figure measurements on hand-made examples."""
import types

import torch

from monosem_lib import features, metrics, projections
from monosem_lib.training import generator


def test_eq7_on_a_hand_made_example():
    # 3 features, 4 neurons: neuron 0 answers only feature 1; neuron 1 answers features 0 and 2
    # equally; neuron 2 is never active; neuron 3 answers feature 2, and feature 0 a little.
    h = torch.tensor([[0.0, 1.0, 0.0, 0.001],
                      [1.0, 0.0, -0.5, 0.0],
                      [0.0, 1.0, 0.0, 0.9]])[None]  # (models, features, neurons)
    r = metrics.monosemanticity(h)[0]
    assert r[0] == 1.0
    assert abs(r[1] - 0.5) < 1e-6
    assert r[2] == 0.0
    assert abs(r[3] - 0.9 / 0.901) < 1e-6
    assert abs(metrics.mono_per_feature(h).item() - 1 / 3) < 1e-6
    census = metrics.feature_census(h)
    assert census["features_with_1"].item() == 1 and census["features_with_0"].item() == 2
    assert census["mostly_mono_neurons"].item() == 1


def test_orderings_put_mono_neurons_first_and_features_by_their_neuron():
    h = torch.tensor([[0.3, 0.0, 1.0], [0.5, 0.5, 0.0]])  # (features, neurons); r = 0.625, 1, 1
    neuron_order, feature_order = metrics.orderings(h)
    assert neuron_order.tolist() == [1, 2, 0]
    assert feature_order.tolist() == [0, 1]


def test_frequencies():
    uniform = features.frequencies("uniform", 512, 1 / 64)
    assert torch.allclose(uniform, torch.full((512,), 1 / 64))
    power = features.frequencies("power-law", 512, 1 / 64)
    # Scaled to sum N·eps = 8, then clipped: feature 1 would get 1.53, so it is capped at 1.
    assert power[0] == 1.0 and (power[:-1] >= power[1:]).all()
    assert abs((power[1:].sum() + 1.53).item() - 8) < 0.01
    assert abs((power[2] / power[1]).item() - (2 / 3) ** 1.1) < 1e-5


def test_sampled_density_and_range():
    freqs = torch.tensor([[0.1] * 200])
    f = features.sample(freqs, 2000, [generator("t")])
    assert abs((f > 0).float().mean().item() - 0.1) < 0.005
    active = f[f > 0]
    assert active.max() <= 1 and abs(active.mean().item() - 0.5) < 0.02


def test_projection_has_unit_columns():
    P = projections.projection(512, 64, generator("P"))
    assert P.shape == (64, 512)
    assert torch.allclose(P.norm(dim=0), torch.ones(512), atol=1e-5)


def test_band_and_poly_map_and_amplitude_parts():
    g = generator("m")
    W1, b, W2, P = torch.randn(6, 4, generator=g), torch.tensor([-1, -0.5, 0.01, 0.2, 0.3, 0.5]), \
        torch.randn(8, 6, generator=g), torch.randn(4, 8, generator=g)
    assert metrics.band_count(b[None]).item() == 3
    poly = metrics.poly_linear_map(W1, b, W2, P)
    assert poly["map"].shape == (8, 8) and poly["poly_neurons"] == 4
    assert (poly["singular_values"] > 1e-5).sum() <= 4  # rank ≤ d
    amps = torch.linspace(0, 1, 11)
    parts = metrics.output_vs_amplitude(W1, b, W2, P, "relu", 3, amps)
    assert torch.allclose(parts["full"], parts["mono"] + parts["poly"], atol=1e-6)
    assert metrics.turn_on_amplitude(amps, torch.tensor([0.0] * 4 + [0.1] * 7)) == amps[4].item()


def test_late_improvement_separates_a_falling_loss_from_a_flat_one():
    steps = torch.arange(4096, dtype=torch.float32)
    falling = types.SimpleNamespace(loss=1 / (1 + steps / 512))
    flat = types.SimpleNamespace(loss=torch.full((4096,), 0.5))
    assert metrics.late_improvement(falling) > 0.1
    assert metrics.late_improvement(flat) == 0.0
