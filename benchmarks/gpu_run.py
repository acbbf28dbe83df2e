"""One call on a GPU machine lent for minutes: the CUDA tests, the step benchmark, then the models the
paper-scale claims still miss that fit the budget, written as a few compact stacked files that
`python -m monosem_lib import` takes back. Needs torch, tqdm, numpy, matplotlib and pytest only.

    PYTHONPATH=. python3 -m benchmarks.gpu_run OUT --budget 420            # on the GPU machine
    sh OUT/import.sh                                                        # back here: publish them

OUT receives at most 8 files of at most 16 MB: report.txt (what ran, what it printed, what was
trained), import.sh (one `import` line per file) and run-NN.pt (stacked results: configs, W1 (M, k, d),
b (M, k), W2 (M, out, k), P (d, n), loss_steps (L,), loss (M, L), trace of (M, C) at trace_step (C,)).
Models that trained but do not fit are named in the report; they stay in the machine's store.
"""
import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from monosem_lib import batches, runs, store, tasks, training
from monosem_lib.__main__ import max_stack, resolve_device, seed_list
from monosem_lib.config import ConfigError

MAX_FILES, MAX_BYTES = 8, 16 * 2 ** 20
RUN_FILES = MAX_FILES - 2  # besides report.txt and import.sh
TRACE = ("loss", "mono", "mean_bias")


def stacked_file(models: list) -> dict:
    """Models of one seed and one stack key as import_run reads them."""
    first = models[0]
    return {"configs": [m.config.to_dict() for m in models],
            **{key: torch.stack([getattr(m, key) for m in models]) for key in ("W1", "b", "W2", "loss")},
            "P": first.P, "loss_steps": first.loss_steps, "trace_step": first.trace["step"],
            "trace": {key: torch.stack([m.trace[key] for m in models]) for key in TRACE}}


def model_bytes(c) -> int:
    """A model's share of a stacked file: W1, b, W2 and its loss log in float32, and room for its
    config and trace (the file's one P is counted apart, in files_of)."""
    return (c.k * c.d + c.k + tasks.output_dim(c.task, c.n, c.d) * c.k + c.steps // training.LOG_EVERY) * 4 + 2 ** 12


def files_of(models: list) -> list[list]:
    """Models (anything with a `config`) grouped as one stacked file needs them (one seed, one stack
    key), each file under MAX_BYTES."""
    groups: dict = {}
    for m in models:
        groups.setdefault((m.config.seed, m.config.stack_key()), []).append(m)
    files = []
    for group in groups.values():
        shared = group[0].config.d * group[0].config.n * 4  # P, once a file
        current, size = [], shared
        for m in group:
            if current and size + model_bytes(m.config) > MAX_BYTES:
                files.append(current)
                current, size = [], shared
            current.append(m)
            size += model_bytes(m.config)
        files.append(current)
    return files


def exportable(units: list) -> bool:
    """Whether the models of `units` fit RUN_FILES files: what would not would stay on the lent
    machine, and be lost with it."""
    return len(files_of([m for u in units for m in u.models])) <= RUN_FILES


def import_line(name: str, models: list) -> str:
    p = models[0].provenance
    return " ".join(["${PYTHON:-python} -m monosem_lib import", f'"$DIR/{name}"', "--device-name", shlex.quote(p["device"]),
                     "--torch-version", shlex.quote(p["torch"]), "--precision", models[0].config.precision,
                     "--commit", shlex.quote(p["commit"]), "--stack-seconds", f"{sum(m.seconds for m in models):.1f}"])


def step(report, title: str, command: list[str]) -> None:
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    report.write(f"\n## {title}: {' '.join(command)} (exit {out.returncode}, {time.perf_counter() - start:.0f} s)\n\n")
    report.write((out.stdout + out.stderr)[-20_000:])
    report.flush()


def export(models: list, out: Path, report) -> None:
    files = files_of(models)
    lines = []
    for i, group in enumerate(files[:RUN_FILES]):
        path = out / f"run-{i:02d}.pt"
        torch.save(stacked_file(group), path)
        lines.append(import_line(path.name, group))
    (out / "import.sh").write_text("# run from a checkout of the code: sh PATH/import.sh\nset -e\n"
                                   "DIR=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n" + "\n".join(lines) + "\n")
    report.write(f"\n## results\n\n{sum(map(len, files[:RUN_FILES]))} models in {min(len(files), RUN_FILES)} files; "
                 f"import them with: sh import.sh\n")
    for group in files[RUN_FILES:]:
        report.write(f"not written (more than {RUN_FILES} files): {', '.join(store.file_name(m.config) for m in group)}\n")


def main(argv=None) -> int:
    args = arguments().parse_args(argv)
    try:  # a bad preset, seed or device: one line, before anything runs
        resolve_device(args.device)
        request = runs.Request(("all",), args.preset, tuple(args.seed), args.device, args.results_dir, progress=False,
                               max_stack=args.max_stack)
        request.models()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "report.txt", "w") as report:
        report.write(f"# gpu_run: preset {args.preset}, seed {','.join(map(str, request.seeds))}, "
                     f"at most {args.max_stack} models a stack, device {args.device}, budget {args.budget:.0f} s, "
                     f"torch {torch.__version__}, code {training.LOADED_COMMIT}\n")
        step(report, "CUDA tests", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_devices.py"])
        if not args.skip_benchmark:
            step(report, "step benchmark", [sys.executable, "-m", "benchmarks.train_step", "--device", args.device,
                                            "--preset", args.preset])
        outcome = train_within(request, args.budget, report)
        models = stored_here(request, report)
        report.write(f"trained {len(outcome.trained)} models in {outcome.seconds:.0f} s; {len(models)} stored here "
                     f"and not published\n")
        export(models, args.out, report)
    return 0


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where the compact results go (created)")
    parser.add_argument("--budget", type=float, default=420, help="seconds of training (default 420)")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--seed", type=seed_list, default=[0], help="a seed or a comma-separated list (default 0)")
    max_stack(parser, "Below paper scale a GPU trains more models a second in bigger stacks")
    parser.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    parser.add_argument("--results-dir", default=None, help="the machine's store (default ./results)")
    parser.add_argument("--skip-benchmark", action="store_true", help="no step benchmark (a test on a CPU)")
    return parser


def train_within(request: runs.Request, budget: float, report) -> runs.Outcome:
    """The missing units, the claims' first, that fit the budget and the files that bring them back."""
    share = runs.within_budget(request, budget, fits=exportable)
    report.write(f"\n## training: {len(share)} units, estimated {sum(u.seconds(request.device) for u in share):.0f} s\n\n")
    try:
        return runs.train(request, share)
    except Exception as error:  # e.g. out of memory: what finished is stored, and exported after
        report.write(f"training failed: {type(error).__name__}: {error}\n")
        return runs.Outcome([])


def stored_here(request: runs.Request, report) -> list:
    """What this machine's store holds that the published set lacks (a rerun's earlier models too)."""
    models = [store.load_model(m.config, request.results_dir, published=False) for m in request.models()
              if store.model_path(m.config, request.results_dir).exists()
              and not store.published_path(m.config).exists()]
    for m in models:
        where = batches.locate(m.config)
        report.write(f"{where[0] if where else '?'} {store.file_name(m.config)}: {m.seconds:.1f} s, "
                     f"stack of {m.provenance.get('stack')}\n")
    return models


if __name__ == "__main__":
    sys.exit(main())
