"""Command line: list batches, train them, execute the book's chapters.

    python -m monosem_lib list
    python -m monosem_lib train LR3 [--preset quick] [--seed 0] [--device cpu|cuda]
    python -m monosem_lib train all [--seed 0,1,2] [--jobs 2]
    python -m monosem_lib train LR1 LR2 --seed 1,2
    python -m monosem_lib train LR1 LR3 --preset paper --only lr=0.003,0.01,0.03 --publish
    python -m monosem_lib plan all --preset paper [--json]       # the units of work, longest first; saved stacks
    python -m monosem_lib train all --preset paper --shard 3/31  # one share of the plan (or --shard auto)
    python -m monosem_lib train all --preset paper --gpus 4      # one worker a GPU
    python -m monosem_lib train all --preset paper --executor slurm --slurm-partition gpu --publish
    python -m monosem_lib train all --preset paper --budget 900  # what fits 15 minutes, the claims' first
    python -m monosem_lib import run.pt --device-name "NVIDIA H100 80GB HBM3" --torch-version 2.11.0+cu130 \
        --precision tf32 --commit 4f61423 --stack-seconds 333
    python -m monosem_lib verify LR3 [--preset quick]      # retrain, compare with the published models
    python -m monosem_lib seal                           # add digests to files written before them
    python -m monosem_lib execute 4.1.2 --batch LR3 --preset quick
    python -m monosem_lib execute all
"""
import argparse
import collections
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

import torch

from . import batches, chapters, metrics, runs, store, training
from .config import PRECISIONS, ConfigError, ModelConfig


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, store.StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except runs.Stopped as stop:
        print(f"error: {stop}", file=sys.stderr)
        return stop.code
    except (KeyboardInterrupt, runs.Terminated) as stop:  # outside training: nothing is half-done
        signum = getattr(stop, "signum", signal.SIGINT)
        print(f"stopped by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monosem_lib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(required=True, metavar="command")
    sub.add_parser("list", help="batches with their figures, and presets").set_defaults(run=cmd_list)
    train = sub.add_parser("train", help="train a batch (or all) unless already stored")
    selection(train, "train only the sweep's models with these values (repeatable; each model keeps "
                     "its config and random stream from the full sweep)")
    train.add_argument("--force", action="store_true", help="retrain even if stored")
    train.add_argument("--jobs", type=int, default=None,
                       help="batches trained at once, each in its own process (default: 2 on a CPU with "
                            "2 or more cores, else 1)")
    train.add_argument("--precision", default=None, choices=PRECISIONS,
                       help="CUDA matmul precision (default: the preset's, tf32 at paper, else fp32); "
                            "part of each model's identity; on a CPU it changes no number")
    train.add_argument("--publish", action="store_true",
                       help="also put compact copies of these models into published/ (git)")
    train.add_argument("--local", action="store_true",
                       help="train what the local store lacks even where published/ has the model "
                            "(the book then shows your own training)")
    train.add_argument("--shard", default=None, metavar="i/N|auto",
                       help="train share i (0-based) of N of the plan (see `plan`), skipping what is stored; "
                            "auto: the array index of Slurm ($SLURM_ARRAY_TASK_ID) or Kubernetes "
                            "($JOB_COMPLETION_INDEX)")
    train.add_argument("--shards", type=int, default=None, help="N for --shard auto where the scheduler does not say")
    max_stack(train, "A stack is stored when it ends and saves its state as it goes; smaller stacks end sooner, so "
                     "a long run (2^20 steps) fits a session whose state does not outlive it")
    train.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                       help="train the missing units, the claims' first, that fit this many seconds by the plan's "
                            "estimates")
    train.add_argument("--executor", default="local", choices=("local", "slurm"),
                       help="local: this machine (default); slurm: one job array through submitit, one unit a task")
    train.add_argument("--gpus", type=int, default=None, help="GPUs of this machine to use, one worker each (CUDA)")
    train.add_argument("--slurm-partition", default=None, help="the Slurm partition (default: the cluster's)")
    train.add_argument("--slurm-time", type=int, default=60, metavar="MINUTES", help="a task's time limit (default 60)")
    train.add_argument("--array-parallelism", type=int, default=256, help="Slurm tasks running at once (default 256)")
    common(train)
    train.set_defaults(run=cmd_train)
    plan = sub.add_parser("plan", help="the units of work `train` would run, longest first, and the stacks "
                                       "saved midway (how far each got)")
    selection(plan, "plan only these models of each sweep (repeatable)")
    plan.add_argument("--precision", default=None, choices=PRECISIONS, help="as for train")
    plan.add_argument("--shards", type=int, default=None, help="also show how N shards split the plan")
    max_stack(plan, "as for train: the plan is of these stacks")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    common(plan)
    plan.set_defaults(run=cmd_plan)
    verify = sub.add_parser("verify", help="retrain published models (unless stored locally) and compare")
    selection(verify, "verify only these models of each sweep (repeatable)")
    verify.add_argument("--jobs", type=int, default=None, help="batches trained at once (as for train)")
    common(verify)
    verify.set_defaults(run=cmd_verify)
    pub = sub.add_parser("publish", help="put compact copies of stored models into published/ (git)")
    selection(pub, "publish only these models of each sweep (repeatable)")
    pub.add_argument("--force", action="store_true", help="overwrite models already published")
    common(pub)
    pub.set_defaults(run=cmd_publish)
    imp = sub.add_parser("import", help="publish the models of a stacked results file made elsewhere")
    imp.add_argument("file", help="a .pt file with configs, W1, b, W2, P, loss_steps, loss, trace")
    imp.add_argument("--device-name", required=True, help='e.g. "NVIDIA H100 80GB HBM3"')
    imp.add_argument("--torch-version", required=True, help="the torch that trained it, e.g. 2.11.0+cu130")
    imp.add_argument("--precision", required=True, choices=PRECISIONS, help="its matmul precision")
    imp.add_argument("--commit", required=True, help="the monosem_lib commit that trained it (and any change)")
    imp.add_argument("--stack-seconds", type=float, required=True, help="wall time of the whole stack")
    imp.add_argument("--force", action="store_true", help="replace models already published")
    imp.set_defaults(run=cmd_import)
    seal = sub.add_parser("seal", help="add digests to model files written before them (the local store's "
                                       "and published/'s; tensors unchanged), and regenerate published/INDEX.md")
    seal.add_argument("--results-dir", default=None,
                      help=f"where results live (default ${store.ENV_VAR} or ./results)")
    seal.set_defaults(run=cmd_seal)
    execute = sub.add_parser("execute", help="execute a chapter's notebook into executed/ (papermill)")
    execute.add_argument("section", help=f"one of {', '.join(c.section for c in chapters.CHAPTERS)}, or all")
    execute.add_argument("--batch", default=None, help="only this batch (default: every batch of the chapter)")
    execute.add_argument("--out-dir", default=str(chapters.EXECUTED), help="where executed pages go (default executed/)")
    execute.add_argument("--seed", type=one_seed, default=0, help="the seed whose figures the pages show")
    common(execute)
    execute.set_defaults(run=cmd_execute)
    return p


def selection(p: argparse.ArgumentParser, only_help: str) -> None:
    """Which models a command acts on: batches, seeds, and --only filters."""
    p.add_argument("batch", nargs="+", help=f"one or more of {', '.join(batches.BATCHES)}, or all")
    p.add_argument("--seed", type=seed_list, default=[0], help="a seed or a comma-separated list (default 0)")
    p.add_argument("--only", type=only_filter, action="append", default=[], metavar="FIELD=V1,V2", help=only_help)


def max_stack(p: argparse.ArgumentParser, why: str) -> None:
    p.add_argument("--max-stack", type=int, default=training.MAX_STACK, metavar="M",
                   help=f"at most M models a stack, 1…{training.STACK_LIMIT} (default {training.MAX_STACK}). {why}")


def positive(value: int | None, option: str) -> int | None:
    """A count given with `option`, which must be ≥ 1 (None where not given)."""
    if value is not None and value < 1:
        raise ConfigError(f"{option} must be ≥ 1, got {value}")
    return value


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=batches.DEFAULT_PRESET,
                   help=f"one of {', '.join(batches.PRESETS)} (default {batches.DEFAULT_PRESET})")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--results-dir", default=None,
                   help=f"where results live (default ${store.ENV_VAR} or ./results)")


MAX_SEED = 2 ** 32 - 1  # a seed is part of every file name: a few digits, not hundreds


def seed_list(text: str) -> list[int]:
    if len(text) > 1000:
        raise argparse.ArgumentTypeError(f"a list of {len(text)} characters is not a list of seeds")
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a seed or a comma-separated list of seeds")
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be integers from 0 to {MAX_SEED}, got {text[:40]!r}")
    return seeds


def one_seed(text: str) -> int:
    seeds = seed_list(text)
    if len(seeds) != 1:
        raise argparse.ArgumentTypeError(f"one seed, got {text[:40]!r}")
    return seeds[0]


def only_filter(text: str) -> tuple[str, list[float]]:
    try:
        return batches.parse_only(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error))


def cmd_list(args) -> int:
    presets = list(batches.PRESETS.values())
    print(f"{'batch':6} {'figures':24} {'sweep':10} {'log2 steps at':16} title")
    print(f"{'':6} {'':24} {'':10} {' / '.join(p.name for p in presets)}")
    for b in batches.BATCHES.values():
        steps = " / ".join(f"{b.steps(p).bit_length() - 1}" for p in presets)
        print(f"{b.name:6} {b.figures:24} {b.sweep:10} {steps:16} {b.title}")
    print("\npresets:")
    published = {p.name for p in store.published_dir().glob("seed*-*.pt")}
    for p in batches.PRESETS.values():
        every = {store.file_name(c) for b in batches.BATCHES for c in batches.configs(b, p.name)}  # a model two batches share counts once
        print(f"  {p.name:6} N={p.n} d={p.d}, {p.steps_text()}, batch={p.batch_work}/k, {p.precision}: "
              f"{p.protocol} ({p.cost}); published: {len(every & published)} of {len(every)} distinct models (seed 0)")
    return 0


def resolve_device(name: str | None, here: bool = True) -> str:
    """cpu or cuda (None: cuda where torch sees a GPU). `here`: the device must be this machine's
    (not so for a plan, or for Slurm's tasks)."""
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; valid: cpu, cuda")
    if here and name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but torch sees no CUDA GPU; valid here: cpu")
    return name


def default_jobs(device: str, units: int) -> int:
    """Two one-thread processes on a CPU with two or more cores (see runs._in_processes), else one."""
    return 2 if device == "cpu" and units > 1 and (os.cpu_count() or 1) >= 2 else 1


def batch_names(args) -> list[str]:
    batches.get_preset(args.preset)
    return list(batches.BATCHES) if args.batch == ["all"] else [batches.get_batch(b).name for b in args.batch]


def request_of(args, device: str, local: bool = False) -> runs.Request:
    """The command's request; bad --only values fail here, before anything trains."""
    request = runs.Request(tuple(batch_names(args)), args.preset, tuple(args.seed), device, args.results_dir,
                           getattr(args, "force", False), tuple(args.only), getattr(args, "precision", None),
                           local or getattr(args, "local", False),
                           max_stack=getattr(args, "max_stack", training.MAX_STACK))
    request.models()
    gpus = getattr(args, "gpus", None)
    if gpus is not None:
        count = torch.cuda.device_count()
        if device != "cuda" or count == 0:
            raise ConfigError(f"--gpus needs CUDA GPUs (device cuda); torch sees {count} here")
        if not 1 <= gpus <= count:
            raise ConfigError(f"--gpus {gpus}: this machine has {count} CUDA GPU(s); valid: 1…{count}")
        jobs = gpus
    elif args.jobs is not None:
        jobs = args.jobs
    else:
        jobs = default_jobs(device, len(runs.plan(dataclasses.replace(request, device=device))))
    return dataclasses.replace(request, jobs=jobs)


def cmd_plan(args) -> int:
    device = resolve_device(args.device, here=False)
    request = runs.Request(tuple(batch_names(args)), args.preset, tuple(args.seed), device, args.results_dir,
                           only=tuple(args.only), precision=args.precision, max_stack=args.max_stack)
    units = runs.plan(request)
    shards = positive(args.shards, "--shards") or 1
    share = {id(u): i for i in range(shards) for u in runs.shard(units, i, shards, device)}
    speed = runs.SPEEDS[device]
    rows = [{"unit": n, "shard": share[id(u)], "name": u.name, "models": [m.label for m in u.models],
             "files": [store.file_name(m.config) for m in u.models], "flops": u.flops(),
             "seconds": round(u.seconds(device), 1)} for n, u in enumerate(units)]
    batches_by_config = batch_of(request)
    states = [state_row(s, request, batches_by_config, speed) for s in training.saved_states(store.states_dir(args.results_dir))]
    if args.json:
        print(json.dumps({"preset": args.preset, "device": device, "speed": speed.name, "shards": shards,
                          "units": rows, "saved_stacks": states}, indent=1))
        return 0
    print(f"{'unit':>4} {'shard':>5} {'models':>6} {'FLOP':>9} {'est. s':>8}  what")
    for r in rows:
        print(f"{r['unit']:4d} {r['shard']:5d} {len(r['models']):6d} {r['flops']:9.2e} {r['seconds']:8.0f}  {r['name']}")
    total = sum(r["seconds"] for r in rows)
    longest = max((r["seconds"] for r in rows), default=0)
    print(f"\n{len(rows)} units, {sum(len(r['models']) for r in rows)} models, {sum(r['flops'] for r in rows):.2e} "
          f"FLOP; estimated on {speed.name}: {duration(total)} in one process, the longest unit {duration(longest)}"
          + (f" (with --jobs 2, about {duration(runs.estimate(dataclasses.replace(request, jobs=2), units))})"
             if device == "cpu" else ""))
    if states:
        print(f"\nsaved stacks in {store.states_dir(args.results_dir)} (`train` resumes each where it was saved):")
    for r in states:
        print(f"  {r['file']}: " + (f"unreadable ({r['error']}); `train` starts it afresh" if "error" in r else
                                   f"{r['models']} models ({r['batches']}), step {r['step']} of {r['steps']}, "
                                   f"saved {duration(time.time() - r['saved'])} ago, "
                                   + (f"about {duration(r['seconds_left'])} left" if r["seconds_left"] is not None
                                      else "time left unknown")))
    return 0


def batch_of(request: runs.Request) -> dict:
    """Each model of the request's preset and seeds, by its config (as JSON), to its batch."""
    return {json.dumps(c.to_dict(), sort_keys=True): name for name in batches.BATCHES for seed in request.seeds
            for c in batches.configs(name, request.preset, seed)}


def state_row(state, request: runs.Request, batch_of: dict, speed: runs.Speed) -> dict:
    """A saved stack for `plan`: which batches of the plan's preset and seeds its models are (a
    state of another preset's or seed's models says so), and its remaining steps' estimated time."""
    if isinstance(state, tuple):
        return {"file": state[0].name, "error": state[1]}
    counts = collections.Counter(batch_of.get(json.dumps(c, sort_keys=True), f"not of {request.preset}, seed "
                                              f"{','.join(map(str, request.seeds))}") for c in state.configs)
    return {"file": state.path.name, "models": len(state.configs), "step": state.step, "steps": state.steps,
            "saved": state.saved, "batches": ", ".join(f"{b} ×{n}" for b, n in counts.items()),
            "seconds_left": seconds_left(state, speed)}


def seconds_left(state, speed: runs.Speed) -> float | None:
    """The estimated time of a saved stack's remaining steps (None for configs this code cannot
    build: a state written by another version of it)."""
    whole = stack_seconds(state, speed)
    return None if whole is None else round(whole * (state.steps - state.step) / state.steps, 1)


def stack_seconds(state, speed: runs.Speed) -> float | None:
    """The estimated time of a saved stack's whole run (None where its configs cannot be built)."""
    try:
        configs = [ModelConfig(**c) for c in state.configs]
    except (TypeError, ValueError):  # ConfigError is a ValueError
        return None
    return speed.seconds(configs) if configs else None


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def share_of(args, request: runs.Request) -> list:
    """The units this command trains: the whole plan, one shard of it, or what fits a budget."""
    if args.shard is not None and args.budget is not None:
        raise ConfigError("--shard and --budget exclude each other; give one")
    if args.shard is not None:
        index, count = runs.parse_shard(args.shard, positive(args.shards, "--shards"))
        units = runs.plan(request)
        share = runs.shard(units, index, count, request.device)
        print(f"shard {index}/{count}: {len(share)} of the plan's {len(units)} units")
        return share
    if args.budget is not None:
        if not args.budget > 0:
            raise ConfigError(f"--budget must be a positive number of seconds, got {args.budget}")
        share = runs.within_budget(request, args.budget)
        estimate = sum(u.seconds(request.device) for u in share)
        print(f"budget {args.budget:.0f} s: {len(share)} units, {sum(len(u.models) for u in share)} models, "
              f"estimated {estimate:.0f} s on {runs.SPEEDS[request.device].name}")
        return share
    return runs.plan(request)


def where_to_train(args) -> tuple[str, runs.Slurm | None]:
    """The device, and with --executor slurm the job array's options (else None: this machine)."""
    if args.executor != "slurm":
        return resolve_device(args.device), None
    device = resolve_device(args.device or "cuda", here=False)  # the tasks': the submitting machine may have no GPU
    if args.shard is not None or args.gpus is not None:
        raise ConfigError("--executor slurm runs one task a unit, one GPU a task: it takes no --shard or --gpus")
    return device, runs.Slurm(args.slurm_partition, args.slurm_time, args.array_parallelism,
                            1 if device == "cuda" else 0)


def announce(request: runs.Request, todo: list, share: list) -> None:
    """Before a long run: what it trains and about how long it takes, and that a stop loses little."""
    if not todo:
        return
    models = sum(len(u.models) for u in todo)
    speed = runs.SPEEDS[request.device]
    print(f"to train: {models} of the {sum(len(u.models) for u in share)} models asked for, in {len(todo)} unit(s); "
          f"about {duration(runs.estimate(request, todo))} on {speed.name} with {min(request.jobs, len(todo))} "
          f"job(s){work_done(runs.resumable(request, share), speed)}. Every stack saves its state every "
          f"{training.SAVE_EVERY:.0f} s: stop it at will; the same command resumes it.",
          flush=True)  # before the progress bars, which go to stderr


def work_done(saved: list, speed: runs.Speed) -> str:
    """What the saved stacks a run resumes already trained, as the announcement's clause."""
    if not saved:
        return ""
    whole = [(stack_seconds(s, speed), s) for s in saved]
    done = sum(seconds * s.step / s.steps for seconds, s in whole if seconds is not None)
    return f", less about {duration(done)} of work that {len(saved)} saved stack(s) already did (they resume)"


def cmd_train(args) -> int:
    device, slurm = where_to_train(args)
    request = request_of(args, device)
    start = time.perf_counter()
    store.migrate(args.results_dir)
    share = share_of(args, request)
    if slurm is None:
        announce(request, runs.missing(request, share), share)
    outcome = runs.train(request, share) if slurm is None else on_slurm(slurm, request, share)
    trained = {store.file_name(c) for c in outcome.trained}
    models = [m for u in share for m in u.models]
    if not trained and not outcome.failed and not args.publish:  # no table: loading every model takes a while
        where = f"{store.models_dir(request.results_dir)}{'' if args.local else ' or ' + str(store.published_dir())}"
        print(f"nothing to train: all {len(models)} models are in {where}")
        return 0
    rows = [(m.batch, m.config.seed, r, store.file_name(m.config) not in trained) for m in models
            if (r := store.load_model(m.config, request.results_dir, published=not args.local)) is not None]
    print_summary(rows)
    if args.publish:
        publish([r for *_, r, _ in rows], args.force)
    print(f"\n{len(models)} models in {len(share)} unit(s), {len(trained)} trained, {time.perf_counter() - start:.1f} s "
          f"wall (preset {args.preset}, seed {','.join(map(str, request.seeds))}, device {device}, "
          f"{'Slurm' if args.executor == 'slurm' else f'{min(request.jobs, max(1, len(share)))} job(s)'})")
    for name, why in outcome.failed:
        print(f"error: {name} failed: {why}", file=sys.stderr)
    return 1 if outcome.failed else 0


def on_slurm(slurm: runs.Slurm, request: runs.Request, share: list) -> runs.Outcome:
    """One job array through submitit; waits for it, then says what each task did."""
    folder = request.results_dir / "slurm"
    jobs = runs.submit(request, share, slurm.executor(folder))
    if jobs:
        array = jobs[0][1].job_id.split("_")[0]
        print(f"submitted job array {array}: {len(jobs)} tasks, logs in {folder}; waiting (Ctrl-C stops waiting, "
              f"not the array: scancel {array})", flush=True)
    return runs.gather(request, jobs)


def publish(models, force: bool) -> None:
    fresh = [m for m in models if force or not store.published_path(m.config).exists()]
    for m in fresh:
        store.publish(m)
    index = store.write_index()
    print(f"published {len(fresh)} models ({len(models) - len(fresh)} already were) → {index.parent}; see {index}")


def cmd_publish(args) -> int:
    """Publish what the local store holds of the named batches (what is missing is named, not trained)."""
    store.migrate(args.results_dir)
    models = []
    for name in batch_names(args):
        for seed in args.seed:
            found, missing = store.available(name, args.preset, seed, args.results_dir, args.only)
            models += [m for m in found if store.model_path(m.config, args.results_dir).exists()]
            if missing:
                print(f"{name} seed {seed}: {len(missing)} of {len(found) + len(missing)} models not stored yet")
    publish(models, args.force)
    return 0


def cmd_import(args) -> int:
    """Publish a stacked run made elsewhere: every check passes before anything is written, and a
    published model is replaced only with --force."""
    origin = {"device": args.device_name, "device_kind": "cuda" if "cpu" not in args.device_name.lower() else "cpu",
              "precision": args.precision, "torch": args.torch_version, "commit": args.commit}
    store.remove_stale_temporaries(store.published_dir())
    models = store.import_run(Path(args.file), origin, args.stack_seconds)
    published = [store.file_name(m.config) for m in models if store.published_path(m.config).exists()]
    if published and not args.force:
        raise ConfigError(f"{len(published)} of the {len(models)} models of {args.file} are published already "
                          f"({', '.join(published[:3])}{', …' if len(published) > 3 else ''}); --force replaces them")
    print_summary([(batches.locate(m.config)[0], m.config.seed, m, False) for m in models])
    publish(models, force=True)
    return 0


def cmd_seal(args) -> int:
    local = store.seal(store.models_dir(args.results_dir))
    published = store.seal_published()
    print(f"added digests to {len(local)} files in {store.models_dir(args.results_dir)} and {len(published)} in "
          f"{store.published_dir()} (the others had one); {store.published_dir() / 'INDEX.md'} regenerated")
    return 0


def cmd_verify(args) -> int:
    """Retrain the published models of the named batches into the local store (what it already holds
    is reused) and compare each with its published copy; exit 1 if any does not agree."""
    work = [(name, seed) for seed in args.seed for name in batch_names(args)]
    for name, seed in work:
        selected = batches.select(name, args.preset, seed, args.only)
        unpublished = [c for c in selected if not store.published_path(c).exists()]
        if unpublished:
            raise ConfigError(f"{len(unpublished)} of {len(selected)} selected models of {name} at preset "
                              f"{args.preset!r}, seed {seed} are not published, so there is nothing to compare "
                              f"them with; published: {published_labels(name, args.preset, seed)} (choose with --only)")
    device = resolve_device(args.device)
    store.migrate(args.results_dir)
    runs.train(request_of(args, device, local=True))
    print(f"\n{'batch':6} {'seed':>4} {'model':22} {'max|dW1|':>9} {'max|db|':>9} {'max|dloss|':>10} "
          f"{'mono/N ours/pub':>16} {'band':>9} {'loss ours/pub':>17}  verdict")
    failed = []
    for name, seed in work:
        for c in batches.select(name, args.preset, seed, args.only):
            d = store.compare(store.read(store.model_path(c, args.results_dir), c),
                              store.read_published(store.published_path(c), c))
            label = model_label(name, c)
            verdict = d["verdict"]
            a, b = d["ours"], d["published"]
            print(f"{name:6} {seed:4d} {label:22} {d['W1']:9.2e} {d['b']:9.2e} {d['loss']:10.2e} "
                  f"{a['mono_per_feature']:7.3f}/{b['mono_per_feature']:<8.3f} {a['band']:4d}/{b['band']:<4d} "
                  f"{a['loss']:8.4f}/{b['loss']:<8.4f}  {verdict}{' (' + d['reason'] + ')' if d['reason'] else ''}")
            if verdict == "DIFFERS":
                failed.append(f"{name} seed {seed} {label}")
    if failed:
        print(f"\n{len(failed)} model(s) do not agree with the published set (finite, max |dW1| and |db| within "
              f"{store.AGREE_WEIGHTS:g} × the weights' largest, mono/N within {store.AGREE_MONO}, band within "
              f"{store.AGREE_BAND}, loss within {store.AGREE_LOSS:.0%}): "
              f"{'; '.join(failed)}", file=sys.stderr)
        return 1
    print("\nevery model agrees with its published copy")
    return 0


def model_label(batch: str, config) -> str:
    return ", ".join(f"{f}={getattr(config, f):.4g}" for f in batches.get_batch(batch).sweep_fields())


def published_labels(batch: str, preset: str, seed: int) -> str:
    kept = store.published_configs(batch, preset, seed)
    return "; ".join(model_label(batch, c) for c in kept) or "none"


def cmd_execute(args) -> int:
    from papermill.exceptions import PapermillExecutionError  # only here: GPU machines lack papermill
    pages = chapters.pages(args.section, args.batch)  # every parameter is checked before a kernel starts
    batches.get_preset(args.preset)
    resolve_device(args.device)
    store.migrate(args.results_dir)
    if args.section == "all":
        chapters.write_build_info(args.preset, args.seed, args.results_dir, Path(args.out_dir))
    begin = time.perf_counter()
    for i, (section, batch) in enumerate(pages, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(pages)}] §{section}{' ' + batch if batch else ''} at preset {args.preset} …",
              end=" ", flush=True)
        try:
            path, = chapters.execute(section, batch, args.preset, args.seed, args.results_dir, Path(args.out_dir))
        except PapermillExecutionError as error:
            failed = chapters.failed_path(section, batch, Path(args.out_dir))
            print(f"\nerror: a cell of §{section} failed ({error.ename}: {error.evalue}); the page as far as "
                  f"it ran, with the traceback, is {failed}; the last good page is kept", file=sys.stderr)
            return 1
        print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    print(f"executed {len(pages)} pages in {time.perf_counter() - begin:.0f} s → {args.out_dir}")
    return 0


def print_summary(rows) -> None:
    print(f"\n{'batch':6} {'seed':>4} {'model':34} {'loss':>8} {'mono/N':>7} {'mean b':>7} {'band':>5} {'train s':>8}")
    for name, seed, r, cached in rows:
        s = metrics.summary(r)
        label = model_label(name, r.config)
        print(f"{name:6} {seed:4d} {label:34} {s['loss']:8.4f} {s['mono_per_feature']:7.3f} {s['mean_bias']:7.3f} "
              f"{s['band']:5d} {r.seconds:8.1f}{' (cached)' if cached else ''}")


if __name__ == "__main__":
    runs.raise_on_sigterm()  # SIGTERM stops a run as Ctrl-C does: workers ended, one line
    sys.exit(main())
