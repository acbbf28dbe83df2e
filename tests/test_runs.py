"""Training runs (monosem_lib/runs.py): the plan, shards, the budget, per-model locks, executors
(submitit's local and debug executors, a mocked Slurm job array), and signals. Smoke preset only."""
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from monosem_lib import batches, runs, store, training

ROOT = Path(__file__).resolve().parent.parent
SMALL = ("B1", "B2")  # two CPU units of two models, 256 steps each at the smoke preset: seconds


def request(directory, names=SMALL, **options) -> runs.Request:
    return runs.Request(names, "smoke", results_dir=directory, progress=False, **options)


def cli(*args, **popen):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    return subprocess.Popen([sys.executable, "-m", "monosem_lib", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, **popen)


def same_tensors(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_tensors(a[k], b[k]) for k in a)
    return (a is None and b is None) or torch.equal(a, b)


def assert_same_models(request_, directory, reference):
    """Every model of the request is stored in both places with bit-identical tensors."""
    for m in request_.models():
        ours, theirs = (store.read(store.model_path(m.config, d), m.config) for d in (directory, reference))
        assert all(same_tensors(getattr(ours, key), getattr(theirs, key)) for key in store.TENSORS), m.label


def fill(directory, reference, units) -> None:
    """Store the units' models by copying them from `reference` (a store filled without training)."""
    for u in units:
        for c in u.configs:
            path = store.model_path(c, directory)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store.model_path(c, reference).read_bytes())


def leftovers(directory) -> list[str]:
    return [p.name for p in (Path(directory) / "models").iterdir() if not p.name.startswith("seed") or
            not p.name.endswith(".pt")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """SMALL trained in this process: what every executor must reproduce."""
    directory = tmp_path_factory.mktemp("reference")
    outcome = runs.train(request(directory))
    assert len(outcome.trained) == len(request(directory).models())
    return directory


# ---------------------------------------------------------------- the plan

def test_the_plan_is_the_same_on_every_call_whatever_is_stored(tmp_path, reference):
    for device in ("cpu", "cuda"):
        r = runs.Request(("all",), "paper", (0, 1), device)
        first = runs.plan(r)
        assert runs.plan(r) == first
        estimates = [u.seconds(device) for u in first]
        assert estimates == sorted(estimates, reverse=True)  # longest first
        every = [store.file_name(c) for u in first for c in u.configs]
        assert len(every) == len(set(every)) == len(r.models())
        if device == "cuda":
            assert max(len(u.models) for u in first) == training.MAX_STACK
            assert all(len({c.stack_key() for c in u.configs}) == 1 for u in first)
        else:
            assert all(len({(m.batch, m.config.seed) for m in u.models}) == 1 for u in first)
    small = request(tmp_path)
    before = runs.plan(small)
    fill(tmp_path, reference, before[:1])
    assert runs.plan(small) == before


def test_the_plan_command_prints_the_same_units_every_time(tmp_path, reference, capsys):
    from monosem_lib.__main__ import main
    args = ["plan", *SMALL, "--preset", "smoke", "--device", "cpu", "--results-dir", str(tmp_path), "--json"]
    printed = []
    for trained in (False, True):
        if trained:
            fill(tmp_path, reference, runs.plan(request(tmp_path))[:1])
        assert main(args) == 0
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] == printed[1]
    assert [u["files"] for u in printed[0]["units"]] == [[store.file_name(c) for c in u.configs]
                                                          for u in runs.plan(request(tmp_path))]


def test_each_distinct_model_is_named_once():
    assert len(runs.Request(("LR3", "LR3"), "smoke", (0, 0)).models()) == len(batches.configs("LR3", "smoke"))
    shared = runs.Request(("LR3", "XLS", "B3", "E3"), "smoke").models()
    named = sum(len(batches.configs(b, "smoke")) for b in ("LR3", "XLS", "B3", "E3"))
    assert len({store.file_name(m.config) for m in shared}) == len(shared) < named


@pytest.mark.parametrize("device, count", [("cuda", 1), ("cuda", 4), ("cuda", 31), ("cpu", 3), ("cpu", 100)])
def test_shards_are_disjoint_and_together_are_the_plan(device, count):
    plan = runs.plan(runs.Request(("all",), "paper", (0,), device))
    shares = [runs.shard(plan, i, count, device) for i in range(count)]
    units = [u for share in shares for u in share]
    assert len(units) == len(plan) and set(units) == set(plan)
    loads = [sum(u.seconds(device) for u in share) for share in shares]
    assert max(loads) - min(loads) <= max(u.seconds(device) for u in plan)  # balanced within one unit


def test_shard_auto_reads_the_schedulers_index():
    assert runs.parse_shard("3/31") == (3, 31)
    assert runs.parse_shard("auto", environ={"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "8"}) == (4, 8)
    assert runs.parse_shard("auto", environ={"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1"}, shards=9) == (4, 9)
    assert runs.parse_shard("auto", 6, environ={"JOB_COMPLETION_INDEX": "2"}) == (2, 6)
    for text, environ, message in [("x/2", {}, "takes i/N"), ("auto", {}, "needs $SLURM_ARRAY_TASK_ID"),
                                   ("auto", {"JOB_COMPLETION_INDEX": "2"}, "give --shards N")]:
        with pytest.raises(runs.ConfigError, match=message.replace("$", r"\$")):
            runs.parse_shard(text, environ=environ)
    with pytest.raises(runs.ConfigError, match="must lie in 0…1"):
        runs.shard([], 2, 2, "cpu")


def test_shards_train_exactly_their_share(tmp_path, reference):
    r = request(tmp_path)
    plan = runs.plan(r)
    trained = [store.file_name(c) for i in range(2) for c in runs.train(r, runs.shard(plan, i, 2, "cpu")).trained]
    assert sorted(trained) == sorted(store.file_name(m.config) for m in r.models())
    assert_same_models(r, tmp_path, reference)


def test_the_budget_takes_the_claims_first_and_fits(tmp_path):
    r = runs.Request(("all",), "smoke", results_dir=tmp_path)
    first = runs.within_budget(r, 1e9)  # everything, in the claims' order
    rank = {name: i for i, name in enumerate(runs.priority())}
    order = [min(rank[m.batch] for m in u.models) for u in first]
    assert order == sorted(order) and first[0].models[0].batch == "LR1"
    assert runs.priority()[:2] == ["LR1", "LR2"] and set(runs.priority()) == set(batches.BATCHES)
    budget = first[0].seconds("cpu") + first[1].seconds("cpu") / 2
    chosen = runs.within_budget(r, budget)
    assert chosen[0] == first[0] and first[1] not in chosen
    assert sum(u.seconds("cpu") for u in chosen) <= budget
    for i, u in enumerate(first):  # each unit left out did not fit what the units before it left
        spent = sum(v.seconds("cpu") for v in first[:i] if v in chosen)
        assert (u in chosen) == (u.seconds("cpu") <= budget - spent)


# ---------------------------------------------------------------- the store as it is filled

def test_a_half_filled_store_trains_only_the_missing_half(tmp_path, reference):
    half = request(tmp_path, ("B1",), only=(("offset", [-1.0]),))
    [kept] = [m.config for m in half.models()]
    assert [store.file_name(c) for c in runs.train(half).trained] == [store.file_name(kept)]
    before = store.model_path(kept, tmp_path).stat()
    whole = request(tmp_path, ("B1",))
    trained = runs.train(whole).trained
    assert [store.file_name(c) for c in trained] == [store.file_name(m.config) for m in whole.models()
                                                     if m.config != kept]
    after = store.model_path(kept, tmp_path).stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert_same_models(whole, tmp_path, reference)


def test_max_stack_splits_the_stacks_and_bad_values_are_refused(tmp_path, monkeypatch):
    sizes = []
    train_stack = training.train_stack
    monkeypatch.setattr(training, "train_stack", lambda configs, *a, **k: sizes.append(len(configs))
                        or train_stack(configs, *a, **k))
    trained = runs.train(request(tmp_path, ("B1",), max_stack=1)).trained
    assert len(trained) == 2 and sizes == [1, 1]
    for bad in ("0", str(training.STACK_LIMIT + 1)):
        result = cli("train", "B1", "--preset", "smoke", "--max-stack", bad, "--results-dir", str(tmp_path))
        out, err = result.communicate(timeout=120)
        assert result.returncode == 2 and f"--max-stack must lie in 1…{training.STACK_LIMIT}" in err, err


def test_a_model_being_trained_elsewhere_is_waited_for_then_taken_from_the_store(tmp_path, reference):
    r = request(tmp_path, ("B1",))
    mine, theirs = [m.config for m in r.models()]
    result = {}
    with runs.claimed([theirs], r) as (held, busy):  # "another process" holds `theirs`
        assert held == [theirs] and busy == []
        worker = threading.Thread(target=lambda: result.update(outcome=runs.train(r)))
        worker.start()
        deadline = time.time() + 60
        while not store.model_path(mine, tmp_path).exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert worker.is_alive() and not store.model_path(theirs, tmp_path).exists()  # it waits
        # the other process finishes its model:
        store.save(store.read(store.model_path(theirs, reference), theirs), tmp_path)
    worker.join(60)
    assert [store.file_name(c) for c in result["outcome"].trained] == [store.file_name(mine)]


def test_a_model_whose_trainer_died_is_trained_by_the_waiter(tmp_path):
    r = request(tmp_path, ("B1",))
    configs = [m.config for m in r.models()]
    result = {}
    with runs.claimed(configs, r):
        worker = threading.Thread(target=lambda: result.update(outcome=runs.train(r)))
        worker.start()
        time.sleep(1)
        assert worker.is_alive()
    worker.join(120)  # the lock is free, nothing was stored: the waiter trains both
    assert len(result["outcome"].trained) == 2 and store.load("B1", "smoke", 0, tmp_path)


def test_two_writers_of_one_unit_leave_one_valid_file_each_and_no_leftovers(tmp_path, reference):
    r = request(tmp_path, ("B1",))
    for m in r.models():  # a store of truncated files: both runs find them, one sets each aside
        path = store.model_path(m.config, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.model_path(m.config, reference).read_bytes()[:1000])
    processes = [cli("train", "B1", "--preset", "smoke", "--results-dir", str(tmp_path)) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    trained = sum(int(out.split(" trained, ")[0].rsplit(" ", 1)[-1]) for out, _ in outputs if " trained, " in out)
    assert trained == 2  # each model once, by one of the two
    assert_same_models(r, tmp_path, reference)
    assert sorted(leftovers(tmp_path)) == sorted(store.file_name(m.config) + ".corrupt" for m in r.models())


# ---------------------------------------------------------------- executors

def test_submitit_local_and_debug_executors_give_the_in_process_files(tmp_path, reference):
    submitit = pytest.importorskip("submitit")
    # The local executor starts a process a task (torch imported in each): one unit keeps it short.
    for name, executor, names in [("local", submitit.LocalExecutor(folder=tmp_path / "local-logs"), ("B1",)),
                                  ("debug", submitit.DebugExecutor(folder=tmp_path / "debug-logs"), SMALL)]:
        r = request(tmp_path / name, names)
        jobs = runs.submit(r, runs.plan(r), executor)
        outcome = runs.gather(r, jobs)
        assert len(jobs) == len(names) and not outcome.failed and len(outcome.trained) == len(r.models())
        assert_same_models(r, tmp_path / name, reference)
        assert runs.submit(r, runs.plan(r), executor) == []  # nothing left to do


def test_a_mocked_slurm_job_array_gives_the_in_process_files(tmp_path, reference):
    submitit = pytest.importorskip("submitit")
    from submitit.core import submission
    from submitit.slurm.test_slurm import mocked_slurm
    r = request(tmp_path)
    with mocked_slurm() as mock:
        executor = runs.Slurm(partition="gpu", minutes=30, parallelism=2, gpus=0).executor(tmp_path / "slurm")
        jobs = runs.submit(r, runs.plan(r), executor)
        array = jobs[0][1].job_id.split("_")[0]
        assert [job.job_id for _, job in jobs] == [f"{array}_{i}" for i in range(len(jobs))] and len(jobs) == 2
        script = next((tmp_path / "slurm").rglob("*_submission.sh")).read_text()
        assert "#SBATCH --array=0-1%2" in script and "#SBATCH --partition=gpu" in script and "--time=30" in script
        for _, job in jobs:
            with mock.job_context(job.job_id):
                submission.process_job(job.paths.folder)
        outcome = runs.gather(r, jobs)
    assert not outcome.failed and len(outcome.trained) == len(r.models())
    assert_same_models(r, tmp_path, reference)


def test_train_with_the_slurm_executor_waits_reports_and_publishes(tmp_path, reference, monkeypatch, capsys):
    pytest.importorskip("submitit")
    from submitit.core import submission
    from submitit.slurm.test_slurm import mocked_slurm
    from monosem_lib.__main__ import main
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    submit = runs.submit

    def submit_and_run(*args):  # the cluster runs each task as it is submitted
        jobs = submit(*args)
        for _, job in jobs:
            with mock.job_context(job.job_id):
                submission.process_job(job.paths.folder)
        return jobs
    monkeypatch.setattr(runs, "submit", submit_and_run)
    with mocked_slurm() as mock:
        assert main(["train", *SMALL, "--preset", "smoke", "--device", "cpu", "--executor", "slurm",
                     "--results-dir", str(tmp_path), "--publish"]) == 0
    out = capsys.readouterr().out
    assert "submitted job array 12: 2 tasks" in out and ", 4 trained," in out and "published 4 models" in out
    assert_same_models(request(tmp_path), tmp_path, reference)


def test_a_failed_task_is_reported_with_its_reason(tmp_path):
    pytest.importorskip("submitit")
    from submitit.core import submission
    from submitit.slurm.test_slurm import mocked_slurm
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    r = runs.Request(("B1",), "smoke", device="cuda", results_dir=tmp_path, progress=False)
    with mocked_slurm() as mock:
        jobs = runs.submit(r, runs.plan(r), runs.Slurm().executor(tmp_path / "slurm"))
        for _, job in jobs:
            with mock.job_context(job.job_id), pytest.raises(Exception):
                submission.process_job(job.paths.folder)
        outcome = runs.gather(r, jobs)
    [(unit, why)] = outcome.failed
    assert unit == "B1 seed 0" and "CUDA" in why and outcome.trained == []


def test_without_submitit_the_slurm_executor_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(runs.ConfigError, match="needs submitit: pip install submitit"):
        runs.Slurm().executor(Path("/nonexistent"))


# ---------------------------------------------------------------- signals

def workers(children) -> list:
    """The pool's worker processes among `children` (not the resource tracker, not a passing `git`)."""
    found = []
    for c in children:
        with contextlib.suppress(psutil.Error):
            line = " ".join(c.cmdline())
            if "spawn_main" in line:
                found.append(c)
    return found


def started_workers(process, count: int = 2, timeout: float = 90) -> list:
    """Every process under `process` once `count` workers train (torch imported, a unit begun)."""
    parent = psutil.Process(process.pid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = []
        for c in workers(parent.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                if c.cpu_percent(0.2) > 10:
                    busy.append(c)
        if len(busy) >= count:
            time.sleep(1)
            return parent.children(recursive=True)
    raise AssertionError(f"no {count} busy workers after {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_stopped_train_leaves_no_process_behind(tmp_path, signum):
    process = cli("train", "all", "--preset", "smoke", "--jobs", "2", "--results-dir", str(tmp_path),
                  start_new_session=True)
    children = started_workers(process)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # Ctrl-C reaches the whole foreground group
    else:
        os.kill(process.pid, signum)
    _, err = process.communicate(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [c.cmdline() for c in alive]
    assert process.returncode == (-signum if signum == signal.SIGKILL else 128 + signum)
    if signum != signal.SIGKILL:
        assert err.count("error: ") == 1 and "Traceback" not in err and "Warning" not in err  # besides progress bars
        assert f"stopped by {signal.Signals(signum).name} while training" in err and "every finished stack is kept" in err


def test_a_worker_ends_with_its_parent_even_mid_unit():
    child = ("import sys, time; from monosem_lib import runs; runs.die_with_parent(int(sys.argv[1])); "
             "print('ready', flush=True); time.sleep(120)")  # a worker deep in a long unit
    parent = ("import os, subprocess, sys, time; "
              f"c = subprocess.Popen([sys.executable, '-c', {child!r}, str(os.getpid())]); "
              "print(c.pid, flush=True); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    worker = psutil.Process(int(process.stdout.readline()))
    assert process.stdout.readline().strip() == "ready"
    process.kill()
    process.wait()
    worker.wait(timeout=3)  # raises psutil.TimeoutExpired if it outlives its parent


def test_a_killed_worker_gives_one_line_and_stops_the_others(tmp_path):
    process = cli("train", "all", "--preset", "smoke", "--jobs", "2", "--results-dir", str(tmp_path))
    children = started_workers(process)
    workers(children)[0].kill()  # as the out-of-memory killer would
    _, err = process.communicate(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive and process.returncode == 1
    assert err.count("error: ") == 1 and "Traceback" not in err and "Warning" not in err
    assert "a training process died" in err


# ---------------------------------------------------------------- the one-call GPU run, on a CPU

def test_the_gpu_run_trains_within_its_budget_and_import_takes_it_back(tmp_path, monkeypatch):
    from benchmarks import gpu_run
    out, results = tmp_path / "out", tmp_path / "store"
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(tmp_path / "published"))
    r = runs.Request(("all",), "smoke", (0, 1), results_dir=results)
    budget = sum(u.seconds("cpu") for u in runs.within_budget(r, 1e9)[:2]) * 1.0001  # LR1's units, the first claim's
    assert gpu_run.main([str(out), "--preset", "smoke", "--seed", "0,1", "--device", "cpu", "--budget", str(budget),
                         "--results-dir", str(results), "--skip-benchmark"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= gpu_run.MAX_FILES and all((out / f).stat().st_size <= gpu_run.MAX_BYTES for f in files)
    report = (out / "report.txt").read_text()
    assert "## CUDA tests" in report and "passed" in report
    trained = [m for m in r.models() if store.model_path(m.config, results).exists()]
    assert {(m.batch, m.config.seed) for m in trained} == {("LR1", 0), ("LR1", 1)}
    assert len([f for f in files if f.startswith("run-")]) == 2  # one stacked file a seed
    out_ = subprocess.run(["sh", str(out / "import.sh")], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)})
    assert out_.returncode == 0, out_.stderr
    for m in trained:
        published = store.read_published(store.published_path(m.config), m.config)
        ours = store.read(store.model_path(m.config, results), m.config)
        assert torch.equal(published.W1, ours.W1) and torch.equal(published.loss, ours.loss)


def test_the_gpu_run_trains_only_what_its_files_can_bring_back(tmp_path, monkeypatch):
    """A stacked file holds one seed and shape: a unit needing a file beyond the limit is passed
    over for one that shares the files already chosen."""
    from benchmarks import gpu_run
    r = runs.Request(("LR1", "LR3"), "smoke", (0, 1), results_dir=tmp_path)
    monkeypatch.setattr(gpu_run, "RUN_FILES", 1)
    chosen = runs.within_budget(r, 1e9, fits=gpu_run.exportable)  # LR1 and LR3 share a shape, not a seed
    assert [(u.models[0].batch, u.models[0].config.seed) for u in chosen] == [("LR1", 0), ("LR3", 0)]
    c = chosen[0].models[0].config
    monkeypatch.setattr(gpu_run, "MAX_BYTES", c.d * c.n * 4 + gpu_run.model_bytes(c) * 3)
    assert [u.models[0].batch for u in runs.within_budget(r, 1e9, fits=gpu_run.exportable)] == ["LR1"]  # 3 fill it


def test_a_command_claims_each_stack_as_it_starts_it(tmp_path, monkeypatch):
    """So a second command over the same batches (another process, another machine on the same
    store) takes the stacks this one has not started, rather than waiting for the whole command."""
    r = request(tmp_path, ("B1",), max_stack=1)
    names = [store.file_name(m.config) for m in r.models()]
    others_free = []
    train_stack = training.train_stack

    def spy(configs, *a, **k):
        other = next(m.config for m in r.models() if store.file_name(m.config) != store.file_name(configs[0]))
        with runs.claimed([other], r) as (held, busy):
            others_free.append(held == [other])
        return train_stack(configs, *a, **k)

    monkeypatch.setattr(training, "train_stack", spy)
    trained = runs.train(r).trained
    assert sorted(store.file_name(c) for c in trained) == sorted(names)
    assert others_free == [True, True]


def test_the_estimate_spreads_units_over_the_jobs_and_is_bounded_by_the_longest():
    request = runs.Request(("LR1", "RP1", "B1"), "quick", (0,), jobs=2)
    units = runs.plan(request)
    seconds = [u.seconds("cpu") for u in units]
    assert runs.estimate(request, units) == pytest.approx(max(sum(seconds) / 2, max(seconds)))
    assert runs.estimate(dataclasses.replace(request, jobs=1), units) == pytest.approx(sum(seconds))
    assert runs.estimate(request, []) == 0.0
