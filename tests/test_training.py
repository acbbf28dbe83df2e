"""Stacked training equals single runs; the protocol's pieces do what SPEC §2 says."""
import contextlib
import dataclasses

import pytest
import torch

from monosem_lib.config import ConfigError, ModelConfig
from monosem_lib import training
from monosem_lib.training import train

BASE = ModelConfig(n=32, d=8, k=48, batch_size=32, steps=64, t_max=16, eps=1 / 8)


def sweep():
    return [dataclasses.replace(BASE, lr=0.003, stream=0),
            dataclasses.replace(BASE, lr=0.03, decay=0.3, offset=-1.0, stream=1),
            dataclasses.replace(BASE, lr=0.01, l1=0.01, eps=1 / 4, distribution="power-law", stream=2)]


def test_stacked_models_equal_single_runs():
    configs = sweep()
    stacked = train(configs, progress=False)
    for c, s in zip(configs, stacked):
        alone = train([c], progress=False)[0]
        for name in ("W1", "b", "W2"):
            assert torch.allclose(getattr(s, name), getattr(alone, name), atol=1e-5), name
        assert torch.allclose(s.loss, alone.loss, rtol=1e-4)


def test_a_stack_above_the_default_size_trains_the_models_of_smaller_stacks():
    """--max-stack up to training.STACK_LIMIT (a GPU's bigger stacks) changes how models are
    grouped, not what they learn."""
    configs = [dataclasses.replace(BASE, offset=-0.1 * i, decay=0.3, stream=i) for i in range(training.MAX_STACK + 3)]
    big = train(configs, progress=False, max_stack=training.STACK_LIMIT)
    assert big[0].provenance["stack"] == len(configs)
    for a, b in zip(big, train(configs, progress=False)):
        assert b.provenance["stack"] <= training.MAX_STACK
        assert torch.allclose(a.W1, b.W1, atol=1e-5) and torch.allclose(a.loss, b.loss, rtol=1e-4)


def test_flushing_subnormals_changes_no_number(monkeypatch):
    """A run long enough for LAMB's moments to go subnormal, with and without flushing them."""
    configs = [dataclasses.replace(BASE, steps=1024, lr=0.01, decay=0.3, offset=-1.0),
               dataclasses.replace(BASE, steps=1024, lr=0.03, eps=1 / 32, stream=1)]
    flushed = train(configs, progress=False)
    monkeypatch.setattr(training, "flush_denormal", contextlib.nullcontext)
    run = training.Run(configs, "cpu")
    for _ in range(1024):
        run.advance()
    m = torch.cat([t.flatten() for t in run.optimizer.exp_avg])
    assert ((m != 0) & (m.abs() < torch.finfo(torch.float32).tiny)).any()  # there were subnormals to flush
    for a, b in zip(flushed, train(configs, progress=False)):
        for name in ("W1", "b", "W2", "loss"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_provenance_names_the_code_this_process_loaded(monkeypatch):
    """A checkout that moves during a long run (a commit, an edit) does not change what it records."""
    monkeypatch.setenv("MONOSEM_COMMIT", "moved-meanwhile")
    [result] = train([BASE], progress=False)
    assert result.provenance["commit"] == training.LOADED_COMMIT != "moved-meanwhile"


def test_same_seed_same_numbers_and_other_seed_differs():
    a, b = train([BASE], progress=False)[0], train([BASE], progress=False)[0]
    assert torch.equal(a.W1, b.W1) and torch.equal(a.loss, b.loss)
    c = train([dataclasses.replace(BASE, seed=1)], progress=False)[0]
    assert not torch.equal(a.P, c.P)


def test_checkpoints_at_powers_of_two_and_loss_every_16_steps():
    r = train([BASE], progress=False)[0]
    assert sorted(r.checkpoints) == [1, 2, 4, 8, 16, 32, 64]
    assert r.loss_steps.tolist() == [0, 16, 32, 48]
    assert r.trace["step"].tolist() == [1, 2, 4, 8, 16, 32, 64]
    assert torch.equal(r.checkpoints[64]["W1"], r.W1)
    assert r.loss[-1] < r.loss[0]  # it learns


def test_bias_decay_only_in_first_half():
    # With lr tiny, the bias moves almost only by decay: b *= (1 - decay·lr) for steps/2 steps.
    c = dataclasses.replace(BASE, lr=1e-9, decay=1e6, offset=-1.0)  # decay·lr = 1e-3 per step
    r = train([c], progress=False)[0]
    b0 = r.checkpoints[1]["b"] / (1 - 1e-3)
    expected_half = b0 * (1 - 1e-3) ** 32
    assert torch.allclose(r.checkpoints[32]["b"], expected_half, atol=1e-5)
    assert torch.allclose(r.b, r.checkpoints[32]["b"], atol=1e-5)  # no decay in the second half


def test_sparse_masks_stay_sparse():
    c = dataclasses.replace(BASE, density=0.25)
    r = train([c], progress=False)[0]
    zero_fraction = (r.W2 == 0).float().mean().item()
    assert 0.6 < zero_fraction < 0.9
    assert torch.equal(r.checkpoints[1]["W2"] == 0, r.W2 == 0)
