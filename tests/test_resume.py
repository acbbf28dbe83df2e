"""A stopped run resumes from its saved state to the very numbers of an uninterrupted run."""
import dataclasses

import pytest
import torch

from monosem_lib import runs, store, training
from monosem_lib.__main__ import main
from monosem_lib.config import ModelConfig
from monosem_lib.training import train

BASE = ModelConfig(n=32, d=8, k=48, batch_size=32, steps=64, t_max=16, eps=1 / 8)
STACKS = {
    "decoder": [dataclasses.replace(BASE, lr=0.01, decay=0.3, offset=-1.0),
                dataclasses.replace(BASE, lr=0.03, l1=0.01, distribution="power-law", stream=1)],
    "remedies": [dataclasses.replace(BASE, lr=0.01, tied_decay=3.0, stream=2),
                 dataclasses.replace(BASE, lr=0.01, silent_decay=3.0, bias_reg=1.0, stream=3)],
    "abs": [dataclasses.replace(BASE, task="abs", k=64, lr=0.01, stream=4)],
    "re-projector, sparse": [dataclasses.replace(BASE, task="re-projector", density=0.5, lr=0.01, stream=5)],
}


class Stop(Exception):
    pass


def interrupted_at(step: int, monkeypatch):
    """Saving.maybe_save that saves every step and stops the run once it has saved `step`."""
    save = training.Saving.maybe_save

    def save_then_stop(self, run, start):
        save(self, run, start)
        if run.step == step:
            raise Stop
    monkeypatch.setattr(training, "SAVE_EVERY", 0.0)
    monkeypatch.setattr(training.Saving, "maybe_save", save_then_stop)


def saved_midway(configs, step: int, state_dir, monkeypatch):
    """Train `configs` until their stack has saved its state at `step`; that state's file."""
    with monkeypatch.context() as patch:
        interrupted_at(step, patch)
        with pytest.raises(Stop):
            train(configs, progress=False, state_dir=state_dir)
    [saved] = state_dir.glob("stack-*.pt")
    return saved


def tensors(result) -> dict:
    out = {name: getattr(result, name) for name in ("W1", "b", "W2", "loss", "loss_steps")}
    out |= {f"trace {key}": value for key, value in result.trace.items()}
    out |= {f"checkpoint {s} {key}": v for s, ck in result.checkpoints.items() for key, v in ck.items()}
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_a_stopped_run_resumes_bit_for_bit(stack, tmp_path, monkeypatch):
    configs = STACKS[stack]
    whole = train(configs, progress=False)
    with monkeypatch.context() as patch:
        interrupted_at(37, patch)
        with pytest.raises(Stop):
            train(configs, progress=False, state_dir=tmp_path)
    [saved] = tmp_path.glob("stack-*.pt")
    assert torch.load(saved, weights_only=True)["step"] == 37
    resumed = train(configs, progress=False, state_dir=tmp_path)
    for a, b in zip(whole, resumed):
        ours, theirs = tensors(a), tensors(b)
        assert ours.keys() == theirs.keys()
        for name in ours:
            assert torch.equal(ours[name], theirs[name]), name
    assert not list(tmp_path.iterdir())  # the state is removed once the stack is done


def test_a_state_of_other_configs_is_not_resumed(tmp_path, monkeypatch, capsys):
    configs = STACKS["decoder"]
    saved = saved_midway(configs, 20, tmp_path, monkeypatch)
    other = [dataclasses.replace(c, lr=c.lr * 2) for c in configs]
    (tmp_path / training.Saving.for_stack(other, tmp_path).path.name).write_bytes(saved.read_bytes())
    fresh = train(other, progress=False, state_dir=tmp_path)
    assert "not used (its configs are not this stack's)" in capsys.readouterr().out
    assert torch.equal(fresh[0].W1, train(other, progress=False)[0].W1)


def test_a_corrupt_state_is_set_aside_and_the_stack_starts_afresh(tmp_path, capsys):
    configs = STACKS["abs"]
    training.Saving.for_stack(configs, tmp_path).path.write_bytes(b"not a state")
    result = train(configs, progress=False, state_dir=tmp_path)[0]
    assert "starting the stack afresh" in capsys.readouterr().out
    assert torch.equal(result.W1, train(configs, progress=False)[0].W1)


def test_a_stack_that_starts_afresh_names_the_saved_state_that_holds_its_models(tmp_path, monkeypatch, capsys):
    """A stack of some of a saved stack's models is not that stack: it starts afresh, and says which
    state holds its models and what resumes it."""
    configs = STACKS["decoder"]
    saved = saved_midway(configs, 20, tmp_path, monkeypatch)
    train(configs[:1], progress=False, state_dir=tmp_path)         # the first model alone: another stack
    out = capsys.readouterr().out
    assert f"1 of this stack's models are in the saved state {saved.name} (step 20 of 64)" in out
    assert "A `train` over all of them with --jobs 1 resumes it" in out and saved.exists()
    train(configs[1:], progress=False, state_dir=tmp_path / "elsewhere")
    assert "saved state" not in capsys.readouterr().out                # nothing saved holds it there


def test_any_command_over_a_saved_stacks_models_resumes_it(tmp_path, monkeypatch, capsys):
    """Other batches first and another --max-stack stack the models otherwise; the saved stack is
    still trained as it was saved, to the numbers of an uninterrupted run."""
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    first = runs.Request(("B1",), "smoke", results_dir=tmp_path / "store", progress=False)
    uninterrupted = dataclasses.replace(first, results_dir=tmp_path / "whole")
    runs.train(uninterrupted)
    with monkeypatch.context() as patch:
        interrupted_at(100, patch)
        with pytest.raises(Stop):
            runs.train(first)
    capsys.readouterr()
    assert main(["train", "B2", "B1", "--preset", "smoke", "--max-stack", "1", "--jobs", "1",
                 "--results-dir", str(first.results_dir)]) == 0
    out = capsys.readouterr().out
    assert "work that 1 saved stack(s) already did (they resume first)" in out and "resuming stack-" in out
    assert not list(store.states_dir(first.results_dir).glob("stack-*.pt"))
    for m in first.models():
        ours = store.read(store.model_path(m.config, first.results_dir), m.config)
        theirs = store.read(store.model_path(m.config, uninterrupted.results_dir), m.config)
        for name, value in tensors(ours).items():
            assert torch.equal(value, tensors(theirs)[name]), name


def test_a_saved_stack_across_batches_is_resumed_by_one_job_only(tmp_path, monkeypatch):
    """With one job B1 and B2 train as one stack; with two, each batch trains apart and cannot."""
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    r = runs.Request(("B1", "B2"), "smoke", results_dir=tmp_path, progress=False)
    with monkeypatch.context() as patch:
        interrupted_at(100, patch)
        with pytest.raises(Stop):
            runs.train(r)
    todo = runs.missing(r, runs.plan(r))
    assert len(todo) == 2 and [len(s.configs) for s in runs.resumable(r, todo)] == [4]
    assert runs.resumable(dataclasses.replace(r, jobs=2), todo) == []
