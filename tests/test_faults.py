"""Fault injection: each failure of issue 20's "Why" that concerns the store's files, imports, disks
and `execute`, tried as a careless or hostile user would, and what must happen instead (README,
"Faults tried"). Commands run in-process through `main` (a bad input returns 2 with one line on
stderr), at the smoke preset."""
import dataclasses
import errno
import io
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
import torch

from monosem_lib import chapters, store, training
from monosem_lib.__main__ import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """LR1 at the smoke preset (2 models), stored in a results dir of its own."""
    directory = tmp_path_factory.mktemp("results")
    assert main(["train", "LR1", "--preset", "smoke", "--jobs", "1", "--results-dir", str(directory)]) == 0
    return directory, store.load("LR1", "smoke", 0, directory)


def retrained(capsys, directory: Path, path: Path) -> list:
    """`train` over a store where `path` is broken: it is set aside (never used) and retrained."""
    code, out, err = run(capsys, "train", "LR1", "--preset", "smoke", "--jobs", "1", "--results-dir", directory)
    assert code == 0 and f"setting it aside as {path.name}.corrupt and retraining" in out, err
    assert path.with_suffix(".pt.corrupt").exists() and path.is_file()
    return store.load("LR1", "smoke", 0, directory)


@pytest.fixture
def published(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "published"
    monkeypatch.setenv(store.PUBLISHED_ENV_VAR, str(directory))
    return directory


def run(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one command, argparse's own errors included."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


PROGRESS = re.compile(r"\d+%\|.*\|")  # a tqdm progress bar


def one_line_error(err: str) -> str:
    """The single error line of a refused command, beside progress bars (argparse puts its usage first)."""
    assert "Traceback" not in err, err
    if err.startswith("usage:"):
        lines = err.strip().splitlines()[-1:]
        assert ": error: " in lines[0], err
    else:
        lines = [line.strip() for line in re.split(r"[\r\n]", err) if line.strip() and not PROGRESS.search(line)]
    assert len(lines) == 1, err
    return lines[0]


def flip_a_bit(path: Path, tensor: torch.Tensor) -> None:
    """Bit rot: one bit of `tensor`'s bytes inside the file, the rest of the file untouched."""
    data = bytearray(path.read_bytes())
    raw = tensor.contiguous().numpy().tobytes()
    at = data.find(raw)
    assert at >= 0
    data[at + len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.exists() else {}


# ---------------------------------------------------------------- integrity

def test_the_digest_sees_one_bit_and_survives_a_round_trip(trained):
    _, models = trained
    payload = {"format": store.FORMAT, "W1": models[0].W1.clone(), "trace": dict(models[0].trace), "seconds": 1.5}
    again = torch.load(io.BytesIO(_saved(payload)), weights_only=True)
    assert store.digest(again) == store.digest(payload)
    flipped = payload["W1"].clone()
    flipped.view(torch.int32)[0, 0] ^= 1
    changes = [payload | {"W1": flipped}, payload | {"W1": payload["W1"].double()},
               payload | {"W1": payload["W1"].reshape(-1)}, payload | {"seconds": 1.25}]
    assert len({store.digest(p) for p in [payload, *changes]}) == 1 + len(changes)


def _saved(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_a_flipped_bit_in_a_stored_model_is_set_aside_and_retrained(trained, tmp_path, capsys):
    directory, models = trained
    (tmp_path / "models").mkdir()
    path = store.model_path(models[0].config, tmp_path)
    path.write_bytes(store.model_path(models[0].config, directory).read_bytes())
    flip_a_bit(path, models[0].W1)
    with pytest.raises(store.StoreError, match="does not match its digest"):
        store.read(path, models[0].config)
    assert torch.equal(retrained(capsys, tmp_path, path)[0].W1, models[0].W1)  # bit-identical, readable


def test_a_flipped_bit_in_a_published_model_names_git_checkout(trained, published, tmp_path, capsys):
    _, models = trained
    path = store.publish(models[1])
    flip_a_bit(path, models[1].W1)
    code, _, err = run(capsys, "train", "LR1", "--preset", "smoke", "--results-dir", tmp_path / "local")
    line = one_line_error(err)
    assert code == 2 and f"git checkout -- {path}" in line and "--force" not in line
    with pytest.raises(store.StoreError, match="git checkout"):
        store.write_index()


def test_a_hand_edited_published_weight_is_damaged_not_data(trained, published, capsys):
    directory, models = trained
    path = store.publish(models[0])
    payload = torch.load(path, weights_only=True)
    payload["W1"][0, 0] = 6.4e36  # edited in place, the old digest kept
    torch.save(payload, path)
    code, _, err = run(capsys, "verify", "LR1", "--preset", "smoke", "--only", "lr=0.003", "--results-dir", directory)
    assert code == 2 and "does not match its digest" in one_line_error(err) and "git checkout" in err


@pytest.mark.parametrize("altered, reason", [(6.4e36, "max |dW1|"), (float("nan"), "non-finite")])
def test_verify_with_one_altered_weight_reports_differs(trained, published, capsys, altered, reason):
    directory, models = trained
    for m in models:
        store.publish(m)
    code, out, _ = run(capsys, "verify", "LR1", "--preset", "smoke", "--results-dir", directory)
    assert code == 0 and out.count("identical") == 2
    W1 = models[0].W1.clone()
    W1[0, 0] = altered
    store.publish(dataclasses.replace(models[0], W1=W1))  # published through the project: a valid digest
    code, out, err = run(capsys, "verify", "LR1", "--preset", "smoke", "--results-dir", directory)
    assert code == 1 and f"DIFFERS ({reason}" in out and "LR1 seed 0 lr=0.003" in err and out.count("identical") == 1


SUMMARY = {"mono_per_feature": 0.5, "band": 10, "loss": 1.0}
SCALE = {"W1": 1.0, "b": 2.0}
SAME = {"W1": 0.0, "b": 0.0, "loss": 0.0}
NEAR = {"W1": 0.4, "b": 0.1, "loss": 0.001}


@pytest.mark.parametrize("diff, finite, ours, verdict, reason", [
    (SAME, True, SUMMARY, "identical", ""),
    (SAME, False, SUMMARY, "DIFFERS", "non-finite"),
    (NEAR, True, SUMMARY | {"mono_per_feature": 0.51, "band": 12, "loss": 1.009}, "agrees", ""),
    (NEAR | {"W1": 1.5}, True, SUMMARY, "DIFFERS", "max |dW1| 1.5 > 1 × max |W1| 1"),
    (NEAR | {"b": 2.5}, True, SUMMARY, "DIFFERS", "max |db|"),
    (NEAR, True, SUMMARY | {"mono_per_feature": 0.53}, "DIFFERS", "mono/N apart"),
    (NEAR, True, SUMMARY | {"band": 13}, "DIFFERS", "band apart"),
    (NEAR, True, SUMMARY | {"loss": 1.02}, "DIFFERS", "loss apart"),
])
def test_verdict_reaches_every_outcome(diff, finite, ours, verdict, reason):
    got, why = store.verdict(diff, SCALE, finite, ours, SUMMARY)
    assert got == verdict and why.startswith(reason)


def test_files_from_before_digests_are_sealed_bit_identical(trained, tmp_path, published):
    directory, models = trained
    (tmp_path / "models").mkdir()
    for place, path in ((tmp_path / "models", store.model_path(models[0].config, tmp_path)),
                        (published, store.publish(models[0]))):
        source = store.model_path(models[0].config, directory) if place != published else path
        payload = torch.load(source, weights_only=True)
        del payload["digest"]
        torch.save(payload | {"format": 3}, path)  # the layout before digests
        with pytest.raises(store.StoreError, match="written before digests.*seal"):
            store.checked_payload(path, "")
    store.migrate(tmp_path)  # what train, verify and execute run first: the local store is sealed
    assert torch.equal(store.read(store.model_path(models[0].config, tmp_path), models[0].config).W1, models[0].W1)
    assert [p.name for p in store.seal_published()] == [store.file_name(models[0].config)]
    assert torch.equal(store.read_published(path, models[0].config).W1, models[0].W1)
    assert store.seal_published() == []  # sealed once


# ---------------------------------------------------------------- imports

def stacked_run(models) -> dict:
    return {"configs": [m.config.to_dict() for m in models],
            **{key: torch.stack([getattr(m, key) for m in models]) for key in ("W1", "b", "W2", "loss")},
            "P": models[0].P, "loss_steps": models[0].loss_steps, "trace_step": models[0].trace["step"],
            "trace": {key: torch.stack([m.trace[key] for m in models]) for key in store.TRACE_KEYS}}


def imported(capsys, path, *extra, device="a GPU", torch_="2.0", commit="abc", seconds="10"):
    return run(capsys, "import", path, "--device-name", device, "--torch-version", torch_, "--precision", "fp32",
               "--commit", commit, "--stack-seconds", seconds, *extra)


def test_import_refuses_to_replace_a_published_model_without_force(trained, published, tmp_path, capsys):
    _, models = trained
    store.publish(models[0])
    before = snapshot(published)
    run_ = stacked_run(models)
    run_["W1"] = torch.zeros_like(run_["W1"])
    torch.save(run_, tmp_path / "zeros.pt")
    code, _, err = imported(capsys, tmp_path / "zeros.pt", device="Fake")
    assert code == 2 and "1 of the 2 models" in one_line_error(err) and "--force" in err
    assert snapshot(published) == before  # nothing written, not even the other model
    code, _, err = imported(capsys, tmp_path / "zeros.pt", "--force", device="Fake")
    assert code == 0, err
    assert store.load("LR1", "smoke", 0, tmp_path / "empty")[0].provenance["device"] == "Fake"


def _without(key):
    def change(r):
        del r[key]
    return change


def _set(key, value):
    def change(r):
        r[key] = value(r)
    return change


MALFORMED = {
    "wrong shapes": (_set("W1", lambda r: r["W1"][:, :-1]), "W1 must be a tensor of shape"),
    "float64 weights": (_set("b", lambda r: r["b"].double()), "b must be float32, got torch.float64"),
    "a missing W2": (_without("W2"), "it lacks W2"),
    "fewer tensors than configs": (_set("loss", lambda r: r["loss"][:1]), "loss must be a tensor of shape (2,"),
    "a wrong-length loss": (_set("loss", lambda r: r["loss"][:, :-1]), "loss must be a tensor of shape"),
    "NaN weights": (_set("W1", lambda r: r["W1"].index_fill(1, torch.tensor([0]), float("nan"))),
                    "W1 has"),
    "an infinite trace": (_set("trace", lambda r: r["trace"] | {"mono": r["trace"]["mono"] * float("inf")}),
                          "trace mono has"),
    "a model twice": (_set("configs", lambda r: [r["configs"][0]] * 2), "appears twice"),
    "no models": (_set("configs", lambda r: []), "no model"),
    "configs that are not configs": (_set("configs", lambda r: [{"colour": 1}] * 2), "cannot read"),
    "not a dict": (lambda r: r.clear(), "it lacks configs"),
}


@pytest.mark.parametrize("fault", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_run_file_is_one_line_and_writes_nothing(trained, published, tmp_path, capsys, fault):
    _, models = trained
    change, message = MALFORMED[fault]
    run_ = stacked_run(models)
    change(run_)
    torch.save(run_, tmp_path / "run.pt")
    code, _, err = imported(capsys, tmp_path / "run.pt")
    assert code == 2 and message in one_line_error(err) and not published.exists()


@pytest.mark.parametrize("option, value, message", [
    ("seconds", "-5", "--stack-seconds must be a finite number of seconds ≥ 0, got -5.0"),
    ("seconds", "nan", "--stack-seconds must be a finite number"),
    ("seconds", "inf", "--stack-seconds must be a finite number"),
    ("device", "A100 | fast", "without '|'"),
    ("device", "A100\nfast", "one printable line"),
    ("device", " ", "one printable line"),
    ("device", "x" * 101, "of 1 to 100 characters"),
    ("torch_", "2.0 | 2.1", "the torch '2.0 | 2.1' must be"),
    ("commit", "abc\r\n| x |", "the commit"),
])
def test_malformed_provenance_is_one_line_and_writes_nothing(trained, published, tmp_path, capsys, option, value,
                                                            message):
    _, models = trained
    torch.save(stacked_run(models), tmp_path / "run.pt")
    code, _, err = imported(capsys, tmp_path / "run.pt", **{option: value})
    assert code == 2 and message in one_line_error(err) and not published.exists()


def test_a_good_import_still_publishes(trained, published, tmp_path, capsys):
    _, models = trained
    torch.save(stacked_run(models), tmp_path / "run.pt")
    code, _, err = imported(capsys, tmp_path / "run.pt")
    assert code == 0, err
    assert [torch.equal(m.W1, p.W1) for m, p in zip(models, store.load("LR1", "smoke", 0, tmp_path / "e"))] == [True] * 2


# ---------------------------------------------------------------- disks

def refuse(error: int):
    def fail(*args, **kwargs):
        raise OSError(error, os.strerror(error))
    return fail


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "fsync", refuse(errno.ENOSPC))  # the bytes went out; the disk had no room
    code, _, err = run(capsys, "train", "LR1", "--preset", "smoke", "--jobs", "1", "--results-dir", tmp_path)
    line = one_line_error(err)
    assert code == 2 and "No space left on device" in line and str(tmp_path / "models" / "seed0-") in line
    assert list((tmp_path / "models").iterdir()) == []


def test_a_state_that_cannot_be_saved_is_a_warning_and_the_stack_trains_on(trained, tmp_path, monkeypatch, capsys):
    """A full disk where stacks save their state: one warning a save, no temporary file left behind,
    and the stack trains on to the numbers (and the store) of a run without the fault."""
    directory, models = trained
    states = store.states_dir(tmp_path)
    fsync = os.fsync

    def full_for_states(fd):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).parent == states:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)
    monkeypatch.setattr(os, "fsync", full_for_states)
    monkeypatch.setattr(training, "SAVE_EVERY", 0.0)  # a save after every step
    code, out, err = run(capsys, "train", "LR1", "--preset", "smoke", "--jobs", "1", "--results-dir", tmp_path)
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert code == 0 and warnings, err
    assert all(f"cannot write {states}" in w and "No space left on device" in w and "the stack trains on" in w
               for w in warnings)
    assert list(states.iterdir()) == []
    assert [torch.equal(m.W1, r.W1) for m, r in zip(store.load("LR1", "smoke", 0, tmp_path), models)] == [True] * 2


def test_a_read_only_published_dir_is_one_line(trained, published, monkeypatch, capsys):
    directory, models = trained
    store.publish(models[0])
    before = snapshot(published)
    monkeypatch.setattr(tempfile, "mkstemp", refuse(errno.EROFS))
    code, _, err = run(capsys, "publish", "LR1", "--preset", "smoke", "--results-dir", directory)
    line = one_line_error(err)
    assert code == 2 and "Read-only file system" in line and str(published) in line
    assert snapshot(published) == before
    with pytest.raises(store.StoreError, match="cannot write .*INDEX.md: Read-only"):
        store.write_index()


def test_leftover_temporary_files_are_removed_on_the_next_run(tmp_path, published):
    (tmp_path / "models").mkdir()
    published.mkdir()
    store.states_dir(tmp_path).mkdir(parents=True)
    old = [tmp_path / "models" / ".tmp-killed.pt", published / ".tmp-killed.pt", published / ".tmp-index.md",
           store.states_dir(tmp_path) / ".tmp-killed-stack-0123.pt"]
    for path in old:
        path.write_bytes(b"half a model")
        an_hour_ago = time.time() - 3600
        os.utime(path, (an_hour_ago, an_hour_ago))
    live = tmp_path / "models" / ".tmp-another-process-writing.pt"
    live.write_bytes(b"being written")
    store.migrate(tmp_path)
    assert not any(p.exists() for p in old) and live.exists()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_store_entry_that_is_no_regular_file_is_set_aside_never_opened(trained, tmp_path, capsys, kind):
    directory, models = trained
    path = store.model_path(models[0].config, tmp_path)
    path.parent.mkdir()
    os.mkfifo(path) if kind == "fifo" else path.mkdir()  # opening a FIFO would wait for a writer forever
    with pytest.raises(store.StoreError, match="not a regular file"):
        store.load_model(models[0].config, tmp_path)
    assert torch.equal(retrained(capsys, tmp_path, path)[0].W1, models[0].W1)


def test_a_second_set_aside_keeps_the_first(trained, tmp_path, capsys):
    """A file set aside earlier holds `X.pt.corrupt`: the next broken entry goes to `X.pt.corrupt-2`."""
    directory, models = trained
    path = store.model_path(models[0].config, tmp_path)
    path.parent.mkdir()
    earlier = path.with_name(path.name + ".corrupt")
    earlier.write_bytes(b"the first broken file")
    path.mkdir()
    assert not store.usable(models[0].config, tmp_path, published=False)
    assert earlier.read_bytes() == b"the first broken file" and path.with_name(path.name + ".corrupt-2").is_dir()
    assert "setting it aside as " + path.name + ".corrupt-2" in capsys.readouterr().out


def test_a_corrupt_published_file_makes_the_index_fail_naming_it(trained, published):
    _, models = trained
    path = store.publish(models[0])
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(store.StoreError, match=f"corrupt result file {path}: .* git checkout -- {path}"):
        store.write_index()


# ---------------------------------------------------------------- arguments and execute

@pytest.mark.parametrize("args, message", [
    (["train", "LR1", "--seed", "1" * 300], "seeds must be integers from 0 to 4294967295"),
    (["execute", "4.1.1", "--seed", "-5"], "seeds must be integers from 0"),
    (["execute", "4.1.1", "--seed", "9" * 300], "seeds must be integers from 0"),
    (["execute", "4.1.1", "--seed", "0,1"], "one seed"),
    (["execute", "4.1.1", "--device", "tpu"], "unknown device 'tpu'; valid: cpu, cuda"),
    (["execute", "4.1.1", "--batch", "LR3"], "§4.1.1 has no page for batch 'LR3'; its pages: LR1, LR2"),
    (["execute", "4.1.4", "--batch", "K1"], "its pages: K0,K1,K2"),
    (["execute", "claims", "--batch", "LR1"], "one over the whole store"),
    (["execute", "all", "--batch", "LR1"], "give the section, not all"),
])
def test_bad_parameters_are_refused_before_a_kernel_starts(capsys, monkeypatch, tmp_path, args, message):
    monkeypatch.setattr(chapters, "execute", refuse(errno.EPERM))  # reaching it would be the failure
    code, _, err = run(capsys, *args, "--out-dir" if args[0] == "execute" else "--results-dir", tmp_path)
    assert code == 2 and message in one_line_error(err) and not any(tmp_path.iterdir())


def test_a_failed_page_does_not_replace_the_last_good_one(tmp_path, monkeypatch):
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError
    page = tmp_path / "2-setup-LR1.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("the last good page")]), page)

    def failing(notebook, output, **kwargs):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), output)
        raise PapermillExecutionError(0, 1, "1 / 0", "ZeroDivisionError", "division by zero", [])
    monkeypatch.setattr(papermill, "execute_notebook", failing)
    with pytest.raises(PapermillExecutionError):
        chapters.execute("2", None, "smoke", out_dir=tmp_path)
    assert "the last good page" in page.read_text()
    assert "1 / 0" in chapters.failed_path("2", "LR1", tmp_path).read_text()

    def succeeding(notebook, output, **kwargs):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("a new page")]), output)
    monkeypatch.setattr(papermill, "execute_notebook", succeeding)
    assert chapters.execute("2", None, "smoke", out_dir=tmp_path) == [page]
    assert "a new page" in page.read_text() and sorted(p.name for p in tmp_path.iterdir()) == [page.name]


def test_a_page_half_written_by_a_killed_execute_is_removed(tmp_path):
    """kill -9 leaves `.running-<pid>-<page>`: the next execute removes a dead process's, never a live one's."""
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".running-{int(dead.stdout)}-2-setup-LR1.ipynb"
    live = tmp_path / f".running-{os.getpid()}-3-measuring-K1.ipynb"
    for path in (orphan, live):
        path.write_text("{}")
    chapters.remove_orphans(tmp_path)
    assert not orphan.exists() and live.exists()
