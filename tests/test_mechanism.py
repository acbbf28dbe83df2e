"""Section 5's kinks (monosemantic neurons turning on along a·F_j), on a hand-made model."""
import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from monosem_lib import mechanism


def model(biases: list[float]):
    """One feature, one dimension: neuron i fires from amplitude -b_i on (never, for b_i < -1)."""
    k = len(biases)
    return SimpleNamespace(config=SimpleNamespace(activation="relu"), W1=torch.ones(k, 1), b=torch.tensor(biases),
                           W2=torch.ones(1, k), P=torch.ones(1, 1))


@pytest.mark.parametrize("neurons", list(itertools.permutations(range(4))))
def test_the_second_kink_ignores_neurons_that_never_turn_on_in_any_order(neurons):
    m = model([-0.3, -5.0, -0.6, -7.0])   # neurons 1 and 3 stay off on [0, 1]
    found = mechanism.kinks(m, 0, list(neurons))
    assert found["second_kink"] == pytest.approx(0.605) and found["turn_on"] == pytest.approx(0.305)


def test_the_second_kink_is_nan_unless_two_neurons_turn_on():
    assert math.isnan(mechanism.kinks(model([-0.3, -5.0]), 0, [1, 0])["second_kink"])
