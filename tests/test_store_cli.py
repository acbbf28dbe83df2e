"""The result store and the command line: caching, atomic writes, stale and corrupt entries, bad input."""
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from monosem_lib import batches, store
from monosem_lib.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env_dir=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if env_dir:
        env[store.ENV_VAR] = str(env_dir)
    return subprocess.run([sys.executable, "-m", "monosem_lib", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("results")
    results, cached = store.train_batch("LR3", "smoke", 0, results_dir=directory, progress=False)
    assert not cached
    return directory, results


def test_second_call_hits_the_cache_and_loads_fast(trained):
    directory, results = trained
    again, cached = store.train_batch("LR3", "smoke", 0, results_dir=directory, progress=False)
    assert cached
    start = time.perf_counter()
    loaded = store.load("LR3", "smoke", 0, results_dir=directory)
    assert time.perf_counter() - start < 1.0
    assert [r.config for r in loaded] == [r.config for r in results]
    assert torch.equal(loaded[1].W2, results[1].W2) and sorted(loaded[0].checkpoints) == sorted(results[0].checkpoints)


def test_seeds_lists_only_entries_of_the_current_config(trained):
    directory, _ = trained
    assert store.seeds("LR3", "smoke", directory) == [0]
    stale = directory / "LR3-smoke-seed7-0000000000000000.pt"
    stale.write_bytes(b"an entry of an older configuration")
    assert store.seeds("LR3", "smoke", directory) == [0]
    stale.unlink()


def test_changed_config_never_hits_an_old_entry(trained, monkeypatch):
    directory, _ = trained
    old = store.entry_path("LR3", "smoke", 0, directory)
    monkeypatch.setitem(batches.PRESETS, "smoke",
                        dataclasses.replace(batches.PRESETS["smoke"], lr_sweep_steps=2 ** 7))
    assert store.entry_path("LR3", "smoke", 0, directory) != old
    with pytest.raises(store.StoreError, match="not in"):
        store.load("LR3", "smoke", 0, results_dir=directory)


def test_corrupt_file_is_named_and_then_set_aside(tmp_path):
    path = store.entry_path("LR1", "smoke", 0, tmp_path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(store.StoreError, match=path.name):
        store.load("LR1", "smoke", 0, results_dir=tmp_path)
    results, cached = store.train_batch("LR1", "smoke", 0, results_dir=tmp_path, progress=False)
    assert not cached and path.with_suffix(".pt.corrupt").exists()
    assert len(store.load("LR1", "smoke", 0, results_dir=tmp_path)) == len(results)


def test_killed_write_leaves_nothing_that_reads_as_finished(tmp_path, monkeypatch):
    path = store.entry_path("LR1", "smoke", 0, tmp_path)
    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        store.save(path, [])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["train", "LR9"], "unknown batch 'LR9'; valid: LR1"),
    (["train", "LR1", "LR9"], "unknown batch 'LR9'; valid: LR1"),
    (["train", "LR1", "--preset", "huge"], "unknown preset 'huge'; valid: paper, cpu, smoke"),
    (["train", "LR1", "--device", "tpu"], "unknown device 'tpu'; valid: cpu, cuda"),
    (["execute", "9.9"], "unknown section '9.9'; valid: 2, 3, 4.1.1"),
    (["execute", "4.1.1", "--batch", "LR9"], "unknown batch 'LR9'"),
    (["execute", "4.1.1", "--preset", "huge"], "unknown preset 'huge'"),
    (["train", "LR1", "--jobs", "0"], "--jobs must be ≥ 1, got 0"),
    (["train", "LR1", "--seed", "0,x"], "is not a seed or a comma-separated list"),
])
def test_bad_input_gives_one_clear_message_and_exit_2(args, message):
    out = cli(*args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_unwritable_results_dir(tmp_path, trained):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = cli("train", "LR1", "--preset", "smoke", "--results-dir", str(blocker / "sub"))
    assert out.returncode == 2 and "cannot be written" in out.stderr and "Traceback" not in out.stderr
    directory, _ = trained
    assert store.load("LR3", "smoke", 0, results_dir=directory)  # nothing already stored was lost


@pytest.mark.parametrize("field, value, message", [
    ("k", 0, "k must be a positive integer"), ("eps", 1.5, "eps must lie in (0, 1]"),
    ("eps", 0.0, "eps must lie in (0, 1]"), ("lr", -0.1, "lr must be > 0"),
    ("task", "sort", "unknown task 'sort'; valid: decoder, re-projector, abs"),
])
def test_impossible_parameters(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        batches.ModelConfig(**{field: value})


def test_cli_train_uses_the_environment_results_dir_and_prints_a_summary(tmp_path):
    out = cli("train", "LR1", "--preset", "smoke", env_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mono/N" in out.stdout and "lr=0.03" in out.stdout
    assert any(p.name.startswith("LR1-smoke-seed0-") for p in tmp_path.iterdir())
    assert "(cached)" in cli("train", "LR1", "--preset", "smoke", env_dir=tmp_path).stdout


def test_parallel_jobs_give_the_numbers_of_one_process(tmp_path):
    work = [("LR1", 0), ("RP1", 0), ("LR1", 1)]
    assert store.train_many(work, "smoke", directory=tmp_path / "two", jobs=2) == [False] * 3
    store.train_many(work[:1], "smoke", directory=tmp_path / "one", jobs=1)
    for a, b in zip(store.load("LR1", "smoke", 0, tmp_path / "two"), store.load("LR1", "smoke", 0, tmp_path / "one")):
        assert torch.equal(a.W1, b.W1) and torch.equal(a.loss, b.loss)
    assert store.seeds("LR1", "smoke", tmp_path / "two") == [0, 1]
    assert store.train_many(work, "smoke", directory=tmp_path / "two", jobs=2) == [True] * 3


def test_list_shows_every_batch_with_figures_and_the_presets():
    out = cli("list").stdout
    for name in batches.BATCHES:
        assert f"\n{name} " in out
    assert "presets:" in out and "smoke" in out


def test_registry_has_table_1():
    assert len(batches.TABLE_1) == 21 and set(batches.BATCHES) - set(batches.TABLE_1) == {"BD", "ER1"}
    paper = {c.lr: c for c in batches.configs("LR3", "paper")}
    c = paper[0.03]
    assert (c.n, c.d, c.k, c.batch_size, c.eps, c.decay, c.offset, c.steps) == (512, 64, 1024, 8192, 1 / 64, 0.03, -1.0, 2 ** 17)
    assert {c.k for c in batches.configs("K1", "paper")} == {16, 32, 64, 128, 256, 384, 512, 1024, 2048}
    assert [c.decay for c in batches.configs(f"B1", "paper")][0] == 0.03
    assert all(c.task == "abs" and c.k == 2048 for c in batches.configs("LR5", "paper"))
