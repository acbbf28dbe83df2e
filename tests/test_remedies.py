"""The three remedies for the fragile bias decay (remedies.py): each does what its equation says,
a zero strength is exactly the paper's protocol, and stacked runs equal single ones."""
import dataclasses

import pytest
import torch

from monosem_lib import batches, fragility, remedies, store
from monosem_lib.config import ConfigError, ModelConfig, REMEDY_DEFAULTS
from monosem_lib.training import train

BASE = ModelConfig(n=32, d=8, k=48, batch_size=32, steps=64, t_max=16, eps=1 / 8, lr=0.01, offset=-1.0)
REMEDY = {"silent_decay": 0.3, "tied_decay": 0.3, "bias_reg": 1.0}


def test_zero_strengths_are_exactly_the_papers_protocol_and_keep_every_key():
    paper = dataclasses.replace(BASE, decay=0.03)
    zero = dataclasses.replace(paper, silent_decay=0.0, tied_decay=0.0, bias_reg=0.0, bias_target=-1.0)
    assert zero.to_dict() == paper.to_dict() and not set(REMEDY_DEFAULTS) & set(paper.to_dict())
    assert store.model_key(zero) == store.model_key(paper)
    # A stack where a neighbour uses every remedy leaves the paper's model bit for bit as it was.
    alone = train([paper], progress=False)[0]
    neighbour = dataclasses.replace(paper, stream=1, silent_decay=0.3, tied_decay=0.3, bias_reg=1.0)
    stacked = train([paper, neighbour], progress=False, max_stack=2)[0]
    for name in ("W1", "b", "W2", "loss"):
        assert torch.equal(getattr(alone, name), getattr(stacked, name)), name


def test_a_remedy_field_away_from_its_default_changes_the_key():
    for field, value in {**REMEDY, "bias_target": -2.0}.items():
        other = dataclasses.replace(BASE, **{field: value})
        assert other.to_dict()[field] == value and store.model_key(other) != store.model_key(BASE)


@pytest.mark.parametrize("field", sorted(REMEDY))
def test_stacked_remedy_models_equal_single_runs(field):
    configs = [dataclasses.replace(BASE, stream=0, **{field: REMEDY[field]}),
               dataclasses.replace(BASE, stream=1, lr=0.03, **{field: REMEDY[field] / 3}),
               dataclasses.replace(BASE, stream=2, decay=0.03)]
    stacked = train(configs, progress=False)
    for c, s in zip(configs, stacked):
        alone = train([c], progress=False)[0]
        for name in ("W1", "b", "W2"):
            assert torch.allclose(getattr(s, name), getattr(alone, name), atol=1e-5), (field, name)


def silent_bias_update(silent_decay, fired, b):
    """One step of remedy (a) alone, through BiasUpdate."""
    values = {"lr": 0.1, "decay": 0.0, "silent_decay": silent_decay, "tied_decay": 0.0, "bias_reg": 0.0,
              "bias_target": -1.0}
    update = remedies.BiasUpdate(lambda f: torch.tensor([values[f]]), [torch.zeros(1, 2)], steps=10)
    update.apply(b, 0, [torch.zeros(1, 2)], fired)
    return b


def test_silent_decay_pulls_only_the_biases_of_neurons_that_did_not_fire():
    b = silent_bias_update(0.5, torch.tensor([[True, False, True, False]]), torch.tensor([[-1.0, -1.0, -2.0, -2.0]]))
    assert torch.allclose(b, torch.tensor([[-1.0, -0.95, -2.0, -1.9]]))  # silent: b·(1 − 0.5·0.1)


def test_a_dead_start_revives_under_silent_decay_and_stays_dead_under_the_papers():
    """Offset -3 kills every neuron; only the silent neurons' decay brings their biases back."""
    dead = dataclasses.replace(BASE, offset=-3.0, lr=0.01, decay=0.003, steps=512)
    revived = dataclasses.replace(dead, decay=0.0, silent_decay=3.0)
    paper, remedy = train([dead, revived], progress=False)
    assert paper.b.mean() < -2.9 and float(paper.loss[-1]) == pytest.approx(float(paper.loss[0]), rel=0.3)
    assert remedy.b.mean() > -1.0 and remedy.loss[-1] < 0.8 * paper.loss[-1]


def test_coherence_is_one_for_steady_steps_and_small_for_cancelling_ones():
    w = [torch.zeros(2, 3)]
    c = remedies.Coherence(w, horizon=8)
    for t in range(200):
        w[0][0] += 0.1                           # model 0 walks one way
        w[0][1] += 0.1 * (-1) ** t               # model 1 steps back and forth
        coherence = c.update(w)
    assert coherence[0] == pytest.approx(1.0) and coherence[1] < 0.1
    still = remedies.Coherence([torch.zeros(1, 3)])
    assert still.update([torch.zeros(1, 3)]).item() == 0  # nothing moved: no coherence, full decay


def test_tied_decay_waits_while_the_weights_move_steadily():
    """b ← b·(1 − lr·λ_c·(1 − c)): with c = 1 (steady movement) the bias does not decay at all."""
    values = {"lr": 0.1, "decay": 0.0, "silent_decay": 0.0, "tied_decay": 0.5, "bias_reg": 0.0, "bias_target": -1.0}
    w = [torch.zeros(1, 2)]
    update = remedies.BiasUpdate(lambda f: torch.tensor([values[f]]), w, steps=10)
    b = torch.tensor([[-1.0, -2.0]])
    w[0] += 1.0
    update.apply(b, 0, w, None)
    assert torch.equal(b, torch.tensor([[-1.0, -2.0]]))
    w[0] -= 1.0
    update.apply(b, 1, w, None)  # a step back: the movement cancels, c falls, the decay starts
    assert (b > torch.tensor([[-1.0, -2.0]])).all()


def test_bias_regulariser_pulls_towards_its_target_for_the_whole_run():
    """b ← b − lr·ρ·(b − b*), every step: with lr tiny, the bias relaxes exactly as the equation says."""
    c = dataclasses.replace(BASE, lr=1e-9, offset=0.0, bias_reg=1e6, bias_target=-0.5)  # ρ·lr = 1e-3
    r = train([c], progress=False)[0]
    b1 = r.checkpoints[1]["b"]
    expected = -0.5 + (b1 + 0.5) * (1 - 1e-3) ** 63
    assert torch.allclose(r.b, expected, atol=1e-5)  # the second half too


@pytest.mark.parametrize("fields, message", [
    (dict(silent_decay=-0.1), "silent_decay must be >= 0"),
    (dict(tied_decay=-1.0), "tied_decay must be >= 0"),
    (dict(bias_reg=-1.0), "bias_reg must be >= 0"),
    (dict(decay=50.0, silent_decay=60.0), r"\(decay \+ silent_decay \+ tied_decay\)·lr < 1"),
    (dict(bias_reg=200.0), "bias_reg must satisfy bias_reg·lr < 1"),
    (dict(bias_target=float("nan")), "bias_target must be a finite number"),
])
def test_impossible_remedy_settings_are_refused_with_the_rule(fields, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(BASE, **fields)


def test_the_beyond_batches_hold_each_remedy_at_its_one_setting():
    for name in ("XL", "XA", "XE", "XB"):
        kinds = [remedies.protocol(c) for c in batches.configs(name, "quick")]
        assert {"paper", "silent", "tied", "regulariser"} <= set(kinds), name
    xl = batches.configs("XL", "quick")
    assert {c.lr for c in xl} == set(batches.PRESETS["quick"].lrs)
    assert {remedies.strength(c) for c in xl if remedies.protocol(c) != "paper"} == {0.3, 1.0}


def fake_row(batch, where, protocol, strength, mono, loss, seed=0):
    return fragility.Row(batch, seed, where, protocol, strength, mono, loss, model=None)


def test_the_verdict_table_averages_seeds_and_takes_d1s_decay_as_the_papers_on_abs():
    rows = [fake_row("XA", "XA", "paper", 10 ** -1.5, 0.30, 0.90, seed) for seed in (0, 1)] + \
           [fake_row("XA", "XA", "paper", 0.3, 0.0, 1.3)] + \
           [fake_row("XA", "XA", "silent", 0.3, mono, 0.89, seed) for seed, mono in ((0, 0.2), (1, 0.4))]
    grid = fragility.table(rows)["XA"]
    assert grid["paper"].mono == pytest.approx(0.30) and grid["paper"].seeds == 2
    assert grid["silent"].mono == pytest.approx(0.30) and grid["silent"].mono_range == (0.2, 0.4)
    assert fragility.at_least_as_good(grid["silent"], 0.31, 0.89 / 1.005)     # within both tolerances
    assert not fragility.at_least_as_good(grid["silent"], 0.33, 0.90)         # 0.03 less monosemantic
    assert not fragility.at_least_as_good(grid["silent"], 0.30, 0.87)         # 2.3 % higher loss
