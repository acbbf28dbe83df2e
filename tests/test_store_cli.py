"""The result store and the command line: caching, atomic writes, stale and corrupt entries, bad input."""
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from monosem_lib import batches, metrics, runs, store, training
from monosem_lib.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env_dir=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if env_dir:
        env[store.ENV_VAR] = str(env_dir)
    return subprocess.run([sys.executable, "-m", "monosem_lib", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)


def train(batch: str, directory, seed: int = 0, **options):
    """(the batch's models, whether every one came from the store), trained through one request."""
    request = runs.Request((batch,), "smoke", (seed,), results_dir=directory, progress=False, **options)
    outcome = runs.train(request)
    return store.available(batch, "smoke", seed, directory, request.only)[0], not outcome.trained


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("results")
    results, cached = train("LR3", directory)
    assert not cached
    return directory, results


def test_second_call_hits_the_cache_and_loads_fast(trained):
    directory, results = trained
    again, cached = train("LR3", directory)
    assert cached
    start = time.perf_counter()
    loaded = store.load("LR3", "smoke", 0, results_dir=directory)
    assert time.perf_counter() - start < 1.0
    assert [r.config for r in loaded] == [r.config for r in results]
    assert torch.equal(loaded[1].W2, results[1].W2) and sorted(loaded[0].checkpoints) == sorted(results[0].checkpoints)


def test_seeds_lists_only_complete_sweeps_of_the_current_config(trained):
    directory, _ = trained
    assert store.seeds("LR3", "smoke", directory) == [0]
    stale = directory / "models" / "seed7-0000000000000000.pt"
    stale.write_bytes(b"a model of an older configuration")
    assert store.seeds("LR3", "smoke", directory) == [0]
    stale.unlink()


def test_changed_config_never_hits_an_old_entry(trained, monkeypatch):
    directory, _ = trained
    old = [store.model_path(c, directory) for c in batches.configs("LR3", "smoke")]
    monkeypatch.setitem(batches.PRESETS, "smoke",
                        dataclasses.replace(batches.PRESETS["smoke"], lr_sweep_steps=2 ** 7))
    assert not set(old) & {store.model_path(c, directory) for c in batches.configs("LR3", "smoke")}
    with pytest.raises(store.StoreError, match="2 of 2 models of LR3"):
        store.load("LR3", "smoke", 0, results_dir=directory)


def test_a_file_under_another_models_name_is_stale(trained, tmp_path):
    directory, results = trained
    (tmp_path / "models").mkdir()
    wrong = store.model_path(results[0].config, tmp_path)
    wrong.write_bytes(store.model_path(results[1].config, directory).read_bytes())
    with pytest.raises(store.StoreError, match="stale"):
        store.load("LR3", "smoke", 0, results_dir=tmp_path)


def test_corrupt_file_is_named_and_then_set_aside(tmp_path):
    path = store.model_path(batches.configs("LR1", "smoke")[0], tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"not a torch file")
    with pytest.raises(store.StoreError, match=path.name):
        store.load("LR1", "smoke", 0, results_dir=tmp_path)
    results, cached = train("LR1", tmp_path)
    assert not cached and path.with_suffix(".pt.corrupt").exists()
    assert len(store.load("LR1", "smoke", 0, results_dir=tmp_path)) == len(results)


def test_killed_write_leaves_nothing_that_reads_as_finished(tmp_path, monkeypatch, trained):
    _, results = trained
    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", killed)  # the bytes are written, the rename has not happened
    with pytest.raises(KeyboardInterrupt):
        store.save(results[0], tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_thinned_sweep_trains_the_full_sweeps_own_models(tmp_path, trained):
    directory, full = trained
    thin, cached = train("LR3", tmp_path, only=[("lr", [0.03])])
    assert not cached and [m.config for m in thin] == [full[1].config]
    assert torch.equal(thin[0].W1, full[1].W1) and torch.equal(thin[0].loss, full[1].loss)  # bit-identical
    assert store.seeds("LR3", "smoke", tmp_path) == []  # incomplete
    rest, cached = train("LR3", tmp_path)
    assert not cached and torch.equal(rest[0].W1, full[0].W1)


def test_published_models_are_found_compact_and_give_the_same_numbers(tmp_path, trained, monkeypatch):
    directory, full = trained
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    for m in full:
        store.publish(m)
    index = store.write_index().read_text()
    assert "| smoke | LR3 | lr = 0.003 |" in index and "2 models" in index
    loaded = store.load("LR3", "smoke", 0, results_dir=tmp_path / "empty")  # nothing local: the published set
    for a, b in zip(loaded, full):
        assert a.W2 is None and a.checkpoints == {} and a.provenance == b.provenance | {"seconds": round(b.seconds, 1)}
        assert torch.equal(a.P, b.P) and torch.equal(a.loss_steps, b.loss_steps)
        assert metrics.summary(a) == metrics.summary(b)
    assert train("LR3", tmp_path / "empty")[1]  # nothing to train


def test_verify_retrains_locally_and_compares_with_the_published_copy(tmp_path, trained):
    directory, full = trained
    published = tmp_path / "published"
    env = {store.PUBLISHED_ENV_VAR: str(published)}
    os.environ.update(env)
    try:
        for m in full:
            store.publish(m)
        # Nothing local: train finds everything published; --local and verify train it here.
        assert train("LR3", tmp_path / "local")[1]
        assert not (tmp_path / "local" / "models").exists() or not any((tmp_path / "local" / "models").iterdir())
        out = cli("verify", "LR3", "--preset", "smoke", "--results-dir", str(tmp_path / "local"))
        assert out.returncode == 0, out.stderr
        assert out.stdout.count("identical") == 2 and "every model agrees" in out.stdout
        assert len(list((tmp_path / "local" / "models").iterdir())) == 2  # retrained into the local store
        # A published copy that differs (here: holding the other lr's weights and loss) is named and fails.
        store.publish(dataclasses.replace(full[0], **{key: getattr(full[1], key) for key in ("W1", "b", "loss")}))
        out = cli("verify", "LR3", "--preset", "smoke", "--results-dir", str(tmp_path / "local"))
        assert out.returncode == 1 and "DIFFERS" in out.stdout and "LR3 seed 0 lr=0.003" in out.stderr
        out = cli("verify", "LR1", "--preset", "smoke", "--results-dir", str(tmp_path / "local"))
        assert out.returncode == 2 and "2 of 2 selected models of LR1" in out.stderr and "published: none" in out.stderr
    finally:
        for key in env:
            del os.environ[key]


def test_fig_2_model_keeps_its_checkpoints_when_published(tmp_path, monkeypatch):
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    k1 = {c.k: c for c in batches.configs(store.FIG2_BATCH, "smoke")}
    fig2 = k1[batches.get_preset("smoke").k(store.FIG2_K)]
    assert store.keeps_checkpoints(fig2) and sum(map(store.keeps_checkpoints, k1.values())) == 1
    [m], _ = train("K1", tmp_path, only=[("k", [fig2.k])])
    store.publish(m)
    p = store.read_published(store.published_path(fig2), fig2)
    assert sorted(p.checkpoints) == sorted(m.checkpoints) and p.W2 is None
    for step, ck in m.checkpoints.items():
        assert set(p.checkpoints[step]) == {"W1", "b"} and torch.equal(p.checkpoints[step]["W1"], ck["W1"])


def test_section_5_models_keep_W2_when_published():
    e1 = {c.eps: c for c in batches.configs("E1", "smoke")}
    assert store.keeps_W2(e1[1 / 64]) and not store.keeps_W2(e1[1 / 8])
    assert not store.keeps_W2(batches.configs("LR3", "smoke")[0])


def test_import_publishes_a_stacked_run_and_refuses_a_foreign_one(tmp_path, trained, monkeypatch):
    _, full = trained
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    run = {"configs": [dataclasses.replace(m.config, precision="fp32").to_dict() for m in full],
           **{key: torch.stack([getattr(m, key) for m in full]) for key in ("W1", "b", "W2", "loss")},
           "P": full[0].P, "loss_steps": full[0].loss_steps, "trace_step": full[0].trace["step"],
           "trace": {key: torch.stack([m.trace[key] for m in full]) for key in ("loss", "mono", "mean_bias")}}
    for c in run["configs"]:
        del c["precision"]  # files from before precision was part of a config
    torch.save(run, tmp_path / "run.pt")
    out = cli("import", str(tmp_path / "run.pt"), "--device-name", "a GPU", "--torch-version", "2.0",
              "--precision", "fp32", "--commit", "abc", "--stack-seconds", "10", env_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    published = store.load("LR3", "smoke", 0, results_dir=tmp_path / "empty")
    assert [m.provenance["device"] for m in published] == ["a GPU"] * 2 and published[0].seconds == 5
    assert torch.equal(published[1].W1, full[1].W1)
    run["P"] = run["P"] + 1
    torch.save(run, tmp_path / "foreign.pt")
    out = cli("import", str(tmp_path / "foreign.pt"), "--device-name", "x", "--torch-version", "2.0",
              "--precision", "fp32", "--commit", "abc", "--stack-seconds", "10", env_dir=tmp_path)
    assert out.returncode == 2 and "not a run of this engine" in out.stderr


def test_format_2_batch_files_are_split_into_models(tmp_path, trained):
    _, full = trained
    old = tmp_path / "LR3-smoke-seed0-0123456789abcdef.pt"
    torch.save({"format": 2, "models": [
        {"config": {k: v for k, v in m.config.to_dict().items() if k != "precision"}, "seconds": m.seconds,
         **{key: getattr(m, key) for key in store.TENSORS}} for m in full]}, old)
    assert store.migrate(tmp_path) == 1 and not old.exists()
    assert [torch.equal(a.W2, b.W2) for a, b in zip(store.load("LR3", "smoke", 0, tmp_path), full)] == [True, True]


@pytest.mark.parametrize("args, message", [
    (["train", "LR9"], "unknown batch 'LR9'; valid: LR1"),
    (["train", "LR1", "LR9"], "unknown batch 'LR9'; valid: LR1"),
    (["train", "LR1", "--preset", "huge"], "unknown preset 'huge'; valid: paper, quick, half, smoke"),
    (["train", "LR1", "--device", "tpu"], "unknown device 'tpu'; valid: cpu, cuda"),
    (["train", "LR1", "--preset", "cpu"], "unknown preset 'cpu' (preset 'cpu' is now 'quick'); valid: paper, quick"),
    (["execute", "9.9"], "unknown section '9.9'; valid: 2, 3, 4.1.1"),
    (["execute", "4.1.1", "--batch", "LR9"], "unknown batch 'LR9'"),
    (["execute", "4.1.1", "--preset", "huge"], "unknown preset 'huge'"),
    (["train", "LR1", "--jobs", "0"], "--jobs must be ≥ 1, got 0"),
    (["train", "LR1", "--seed", "0,x"], "is not a seed or a comma-separated list"),
    (["train", "LR1", "--preset", "quick", "--only", "lr=0.5"], "no model of LR1 at preset 'quick' matches lr in [0.5]; its values: lr = 0.003, 0.01"),
    (["train", "LR1", "--only", "colour=1"], "--only takes FIELD=V1,V2,… with FIELD one of n, d, k, eps"),
    (["train", "LR1", "--precision", "fp8"], "invalid choice: 'fp8' (choose from 'fp32', 'tf32')"),
    (["import", "/nonexistent.pt", "--device-name", "x", "--torch-version", "2", "--precision", "tf32",
      "--commit", "c", "--stack-seconds", "1"], "cannot read /nonexistent.pt"),
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
    assert "to train: 2 of the 2 models asked for, in 1 unit(s); about" in out.stdout   # said before it starts
    assert len([p for p in (tmp_path / "models").iterdir() if p.name.startswith("seed0-")]) == 2
    assert "nothing to train: all 2 models are in" in cli("train", "LR1", "--preset", "smoke", env_dir=tmp_path).stdout


def test_parallel_jobs_give_the_numbers_of_one_process(tmp_path):
    both = runs.Request(("LR1", "RP1"), "smoke", (0, 1), results_dir=tmp_path / "two", jobs=2, progress=False)
    assert len(runs.train(both).trained) == len(both.models())
    train("LR1", tmp_path / "one")
    for a, b in zip(store.load("LR1", "smoke", 0, tmp_path / "two"), store.load("LR1", "smoke", 0, tmp_path / "one")):
        assert torch.equal(a.W1, b.W1) and torch.equal(a.loss, b.loss)
    assert store.seeds("LR1", "smoke", tmp_path / "two") == [0, 1]
    assert runs.train(both).trained == []


SCHEDULER_VARIABLES = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX")


@pytest.mark.parametrize("args, environ, message", [
    (["plan", "LR1", "--shards", "0"], {}, "--shards must be ≥ 1, got 0"),
    (["train", "LR1", "--shard", "auto", "--shards", "0"], {"JOB_COMPLETION_INDEX": "0"}, "--shards must be ≥ 1, got 0"),
    (["train", "LR1", "--shard", "auto"], {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"},
     "--shard auto: $SLURM_ARRAY_TASK_ID must be an integer, got 'x'"),
    (["train", "LR1", "--shard", "auto"], {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "two"},
     "$SLURM_ARRAY_TASK_COUNT must be an integer, got 'two'"),
    (["train", "LR1", "--shard", "auto", "--shards", "2"], {"JOB_COMPLETION_INDEX": ""},
     "$JOB_COMPLETION_INDEX must be an integer, got ''"),
    (["train", "LR1", "--executor", "slurm", "--slurm-time", "0"], {}, "--slurm-time must be ≥ 1, got 0"),
    (["train", "LR1", "--executor", "slurm", "--array-parallelism", "-1"], {}, "--array-parallelism must be ≥ 1, got -1"),
])
def test_bad_counts_and_scheduler_indices_are_one_clear_message(args, environ, message, tmp_path, monkeypatch, capsys):
    from monosem_lib.__main__ import main
    for name in SCHEDULER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main([*args, "--preset", "smoke", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_plan_and_its_estimates_follow_max_stack(device):
    whole = runs.Request(("all",), "paper", (0,), device)
    single = dataclasses.replace(whole, max_stack=1)
    plan = runs.plan(single)
    assert runs.plan(single) == plan  # the request alone decides it
    assert sorted(store.file_name(c) for u in plan for c in u.configs) == sorted(store.file_name(m.config)
                                                                                 for m in whole.models())
    speed = runs.SPEEDS[device]
    for u in plan:  # one stack a model, each paying its own fixed cost a step
        assert u.seconds(device) == pytest.approx(sum(speed.seconds([c]) for c in u.configs))
    if device == "cuda":
        assert {len(u.models) for u in plan} == {1}
    else:
        assert len(plan) == len(runs.plan(whole))  # still one batch and seed a unit
    assert sum(u.seconds(device) for u in plan) > sum(u.seconds(device) for u in runs.plan(whole))


def test_training_forms_the_stacks_the_plan_counts(tmp_path, monkeypatch, capsys):
    formed = []
    train_stack = training.train_stack
    monkeypatch.setattr(training, "train_stack", lambda configs, *a, **k: formed.append(configs)
                        or train_stack(configs, *a, **k))
    r = runs.Request(("XA",), "smoke", results_dir=tmp_path, progress=False, max_stack=2)
    [unit] = runs.plan(r)
    assert [len(s) for s in unit.stacks()] == [2, 2, 1]
    runs.train(r)
    assert formed == unit.stacks()
    from monosem_lib.__main__ import main
    assert main(["plan", "XA", "--preset", "smoke", "--device", "cuda", "--max-stack", "2", "--json",
                 "--results-dir", str(tmp_path)]) == 0
    assert [len(u["models"]) for u in json.loads(capsys.readouterr().out)["units"]] == [2, 2, 1]


@pytest.mark.parametrize("args, message", [
    (["benchmarks.scale_probe", "LR3", "--only", "lr"], "--only takes FIELD=V1,V2"),
    (["benchmarks.scale_probe", "LR3", "--only", "lr=abc"], "--only lr= takes numbers, got 'abc'"),
    (["benchmarks.train_step", "--preset", "huge"], "unknown preset 'huge'"),
    (["benchmarks.train_step", "--rounds", "0"], "--steps and --rounds must be ≥ 1"),
    (["benchmarks.gpu_run", "OUT", "--preset", "huge", "--device", "cpu"], "unknown preset 'huge'"),
    (["benchmarks.gpu_run", "OUT", "--seed", "0,x", "--device", "cpu"], "is not a seed or a comma-separated list"),
    (["benchmarks.gpu_run", "OUT", "--max-stack", "65", "--device", "cpu"], "--max-stack must lie in 1…64"),
])
def test_the_benchmarks_refuse_bad_input_in_one_message(args, message, tmp_path):
    out = subprocess.run([sys.executable, "-m", *[str(tmp_path / "out") if a == "OUT" else a for a in args]],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "out").exists()


def test_list_shows_every_batch_with_figures_and_the_presets():
    out = cli("list").stdout
    for name in batches.BATCHES:
        assert f"\n{name} " in out
    assert "presets:" in out and "smoke" in out


def test_registry_has_table_1():
    assert len(batches.TABLE_1) == 21
    assert set(batches.BATCHES) - set(batches.TABLE_1) == {"BD", "ER1", *batches.BEYOND}
    paper = {c.lr: c for c in batches.configs("LR3", "paper")}
    c = paper[0.03]
    assert (c.n, c.d, c.k, c.batch_size, c.eps, c.decay, c.offset, c.steps) == (512, 64, 1024, 8192, 1 / 64, 0.03, -1.0, 2 ** 17)
    assert {c.k for c in batches.configs("K1", "paper")} == {16, 32, 64, 128, 256, 384, 512, 1024, 2048}
    assert [c.decay for c in batches.configs(f"B1", "paper")][0] == 0.03
    assert all(c.task == "abs" and c.k == 2048 for c in batches.configs("LR5", "paper"))


# README, "Published results": the whole paper preset at seed 0 would be ≈ 79 MiB; the half preset
# ≈ 25 MiB at seed 0 and ≈ 35 MiB more for seeds 1 and 2 of the claims' batches.
PUBLISHED_BUDGET_MIB = {"paper": 80, "quick": 25, "half": 64}


def test_published_set_is_within_its_budget_and_indexed():
    files = sorted(store.PUBLISHED_DIR.glob("seed*-*.pt"))
    index = (store.PUBLISHED_DIR / "INDEX.md").read_text()
    assert all(f"`{f.name}`" in index for f in files) and f"{len(files)} models" in index
    size = dict.fromkeys(PUBLISHED_BUDGET_MIB, 0)
    for m in store.published_models():
        path = store.published_path(m.config)
        size[batches.locate(m.config)[1]] += path.stat().st_size
        limit = (3 * 2 ** 20 if m.W2 is not None or m.checkpoints else
                 (m.config.k * m.config.d + m.config.steps // 8) * 4 + 2 ** 16)
        assert path.stat().st_size <= limit
        assert {"device", "precision", "torch", "commit", "seconds"} <= m.provenance.keys()
    assert all(size[p] <= PUBLISHED_BUDGET_MIB[p] * 2 ** 20 for p in size), size


def test_the_default_book_needs_no_training():
    """`make book` on a fresh clone renders the default preset (the Makefile's, the commands') from the
    published set (seed 0)."""
    root = Path(__file__).parents[1]
    assert re.search(r"^PRESET \?= (\w+)$", (root / "Makefile").read_text(), re.M).group(1) == batches.DEFAULT_PRESET
    assert re.findall(r"^\| `(\w+)` \(default\)", (root / "book" / "intro.md").read_text(), re.M) == [batches.DEFAULT_PRESET]
    missing = [f"{name} {c.stream}" for name in batches.BATCHES for c in batches.configs(name, batches.DEFAULT_PRESET)
               if not store.published_path(c).exists()]
    assert not missing, f"{batches.DEFAULT_PRESET}-preset models not published: {missing}"


def test_plan_lists_the_saved_stacks_and_what_they_train(tmp_path):
    """A long run's progress survives a stop in its saved state: `plan` says which batches each saved
    stack trains and how far it got, and names a state it cannot read rather than failing."""
    states = store.states_dir(tmp_path)
    states.mkdir(parents=True)
    b1 = batches.configs("B1", "smoke")
    torch.save({"configs": [c.to_dict() for c in b1] + [batches.configs("B2", "quick")[0].to_dict()], "step": 100},
               states / "stack-a.pt")
    (states / "stack-b.pt").write_bytes(b"not a state")
    out = cli("plan", "B1", "--preset", "smoke", "--results-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert f"stack-a.pt: {len(b1) + 1} models (B1 ×{len(b1)}, not of smoke, seed 0 ×1), step 100 of {b1[0].steps}" in out.stdout
    assert "stack-b.pt: unreadable (" in out.stdout and "`train` starts it afresh" in out.stdout
    saved = json.loads(cli("plan", "B1", "--preset", "smoke", "--json", "--results-dir", str(tmp_path)).stdout)["saved_stacks"]
    assert [s["file"] for s in saved] == ["stack-a.pt", "stack-b.pt"] and saved[0]["step"] == 100
    whole = runs.SPEEDS["cpu"].seconds(b1 + [batches.configs("B2", "quick")[0]])
    assert 0 < saved[0]["seconds_left"] < whole and saved[0]["seconds_left"] == pytest.approx(
        whole * (b1[0].steps - 100) / b1[0].steps, abs=0.1)


def test_plan_names_a_saved_stack_it_cannot_estimate(tmp_path):
    """A state written by another version of the code (a config field this one lacks) is listed, its
    time left unknown, rather than failing the listing."""
    states = store.states_dir(tmp_path)
    states.mkdir(parents=True)
    torch.save({"configs": [dict(batches.configs("B1", "smoke")[0].to_dict(), retired_field=1)], "step": 5},
               states / "stack-c.pt")
    out = cli("plan", "B1", "--preset", "smoke", "--results-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "stack-c.pt: 1 models (not of smoke, seed 0 ×1), step 5 of" in out.stdout and "time left unknown" in out.stdout
