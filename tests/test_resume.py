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


def stopped_b1(tmp_path, monkeypatch) -> runs.Request:
    """B1 at the smoke preset (two models, one stack), stopped after its state at step 100 is saved."""
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    r = runs.Request(("B1",), "smoke", results_dir=tmp_path / "store", progress=False)
    with monkeypatch.context() as patch:
        interrupted_at(100, patch)
        with pytest.raises(Stop):
            runs.train(r)
    return r


def test_any_command_over_a_saved_stacks_models_resumes_it(tmp_path, monkeypatch, capsys):
    """Another batch first stacks the models otherwise (B2 and B1 share a shape: one stack of
    four); the saved stack is still trained first, as it was saved, to the numbers of an
    uninterrupted run."""
    first = stopped_b1(tmp_path, monkeypatch)
    uninterrupted = dataclasses.replace(first, results_dir=tmp_path / "whole")
    runs.train(uninterrupted)
    capsys.readouterr()
    assert main(["train", "B2", "B1", "--preset", "smoke", "--jobs", "1", "--results-dir", str(first.results_dir)]) == 0
    out = capsys.readouterr().out
    assert "work that 1 saved stack(s) already did (they resume)" in out and "resuming stack-" in out
    assert "warning" not in out and not list(store.states_dir(first.results_dir).glob("stack-*.pt"))
    for m in first.models():
        ours = store.read(store.model_path(m.config, first.results_dir), m.config)
        theirs = store.read(store.model_path(m.config, uninterrupted.results_dir), m.config)
        for name, value in tensors(ours).items():
            assert torch.equal(value, tensors(theirs)[name]), name


def test_a_saved_stack_is_not_resumed_by_part_of_it_and_then_is_obsolete(tmp_path, monkeypatch, capsys):
    r = stopped_b1(tmp_path, monkeypatch)
    [saved] = store.states_dir(r.results_dir).glob("stack-*.pt")
    capsys.readouterr()
    runs.train(dataclasses.replace(r, only=(("offset", [-1.0]),)))   # one of its two models
    out = capsys.readouterr().out
    assert f"1 of the models to train are in the saved state {saved.name} (step 100 of 256)" in out
    assert "not all of its 2 models train in this process" in out and "resuming" not in out
    runs.train(r)                                                      # the other: the state can never resume
    out = capsys.readouterr().out
    assert "1 of its 2 models are stored since, so no `train` resumes it; delete it" in out and saved.exists()


def test_a_saved_stack_above_max_stack_is_given_up(tmp_path, monkeypatch, capsys):
    """A smaller --max-stack is how a stack too big for memory is given up."""
    r = stopped_b1(tmp_path, monkeypatch)
    capsys.readouterr()
    runs.train(dataclasses.replace(r, max_stack=1))
    out = capsys.readouterr().out
    assert "it holds 2 models, more than --max-stack 1" in out and "resuming" not in out


def saved_states(r: runs.Request) -> list:
    return training.saved_states(store.states_dir(r.results_dir))


def test_force_trains_afresh_what_a_saved_stack_holds(tmp_path, monkeypatch, capsys):
    r = stopped_b1(tmp_path, monkeypatch)
    assert runs.resumed([m.config for m in r.models()], r, saved_states(r)) and runs.resumable(r, runs.plan(r))
    forced = dataclasses.replace(r, force=True, batches=("B2", "B1"))
    assert runs.resumed([m.config for m in forced.models()], forced, saved_states(r)) == []


def test_a_saved_stack_across_batches_is_resumed_by_one_job_only(tmp_path, monkeypatch, capsys):
    """With one job B1 and B2 train as one stack; with two, each batch trains in its own process."""
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    r = runs.Request(("B1", "B2"), "smoke", results_dir=tmp_path, progress=False)
    with monkeypatch.context() as patch:
        interrupted_at(100, patch)
        with pytest.raises(Stop):
            runs.train(r)
    assert [len(s.configs) for s in runs.resumable(r, runs.plan(r))] == [4]
    two = dataclasses.replace(r, jobs=2)
    assert runs.resumable(two, runs.plan(two)) == []
    capsys.readouterr()
    runs.train_models(two, [m.config for m in two.models() if m.batch == "B1"], "B1")   # what a worker does
    out = capsys.readouterr().out
    assert "not all of its 4 models train in this process" in out and "resuming" not in out
