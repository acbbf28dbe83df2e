"""Command line: list batches, train them, execute the book's chapters.

    python -m monosem_lib list
    python -m monosem_lib train LR3 [--preset cpu] [--seed 0] [--device cpu|cuda]
    python -m monosem_lib train all [--seed 0,1,2] [--jobs 2]
    python -m monosem_lib train LR1 LR2 --seed 1,2
    python -m monosem_lib execute 4.1.2 --batch LR3 --preset cpu
    python -m monosem_lib execute all
"""
import argparse
import os
import sys
import time
from pathlib import Path

import torch

from . import batches, chapters, metrics, store
from .config import ConfigError


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, store.StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monosem_lib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(required=True, metavar="command")
    sub.add_parser("list", help="batches with their figures, and presets").set_defaults(run=cmd_list)
    train = sub.add_parser("train", help="train a batch (or all) unless already stored")
    train.add_argument("batch", nargs="+", help=f"one or more of {', '.join(batches.BATCHES)}, or all")
    train.add_argument("--force", action="store_true", help="retrain even if stored")
    train.add_argument("--seed", type=seed_list, default=[0], help="a seed or a comma-separated list (default 0)")
    train.add_argument("--jobs", type=int, default=None,
                       help="batches trained at once, each in its own process (default: 2 on a CPU with "
                            "2 or more cores, else 1)")
    common(train)
    train.set_defaults(run=cmd_train)
    execute = sub.add_parser("execute", help="execute a chapter's notebook into executed/ (papermill)")
    execute.add_argument("section", help=f"one of {', '.join(c.section for c in chapters.CHAPTERS)}, or all")
    execute.add_argument("--batch", default=None, help="only this batch (default: every batch of the chapter)")
    execute.add_argument("--out-dir", default=str(chapters.EXECUTED), help="where executed pages go (default executed/)")
    execute.add_argument("--seed", type=int, default=0, help="the seed whose figures the pages show")
    common(execute)
    execute.set_defaults(run=cmd_execute)
    return p


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", help=f"one of {', '.join(batches.PRESETS)} (default cpu)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--results-dir", default=None,
                   help=f"where results live (default ${store.ENV_VAR} or ./results)")


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed or a comma-separated list of seeds")
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be ≥ 0, got {text!r}")
    return seeds


def cmd_list(args) -> int:
    print(f"{'batch':6} {'figures':24} {'sweep':10} title")
    for b in batches.BATCHES.values():
        print(f"{b.name:6} {b.figures:24} {b.sweep:10} {b.title}")
    print("\npresets:")
    for p in batches.PRESETS.values():
        print(f"  {p.name:6} N={p.n} d={p.d} steps=2^{p.steps.bit_length() - 1} "
              f"(lr sweeps 2^{p.lr_sweep_steps.bit_length() - 1}) "
              f"batch={p.batch_work}/k  ({p.cost})")
    return 0


def resolve_device(name: str | None) -> str:
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; valid: cpu, cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but torch sees no CUDA GPU; valid here: cpu")
    return name


def default_jobs(device: str, batches_to_train: int) -> int:
    """Two one-thread processes on a CPU with two or more cores (see store.train_many), else one."""
    return 2 if device == "cpu" and batches_to_train > 1 and (os.cpu_count() or 1) >= 2 else 1


def cmd_train(args) -> int:
    batches.get_preset(args.preset)
    names = list(batches.BATCHES) if args.batch == ["all"] else [batches.get_batch(b).name for b in args.batch]
    device = resolve_device(args.device)
    work = [(name, seed) for seed in args.seed for name in names]
    jobs = args.jobs if args.jobs is not None else default_jobs(device, len(work))
    if jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {jobs}")
    start = time.perf_counter()
    cached = store.train_many(work, args.preset, device, args.results_dir, args.force, jobs)
    rows = [(name, seed, r, hit) for (name, seed), hit in zip(work, cached)
            for r in store.load(name, args.preset, seed, args.results_dir)]
    print_summary(rows)
    print(f"\n{len(work)} batch(es), {len(rows)} models, {time.perf_counter() - start:.1f} s wall "
          f"(preset {args.preset}, seed {','.join(map(str, args.seed))}, device {device}, {jobs} job(s))")
    return 0


def cmd_execute(args) -> int:
    sections = [c.section for c in chapters.CHAPTERS] if args.section == "all" else [args.section]
    if args.section == "all":
        chapters.write_build_info(args.preset, args.seed, args.results_dir, Path(args.out_dir))
    for section in sections:
        start = time.perf_counter()
        for path in chapters.execute(section, args.batch, args.preset, args.seed, args.results_dir,
                                     Path(args.out_dir)):
            print(f"{section}: {path} ({time.perf_counter() - start:.1f} s)")
    return 0


def print_summary(rows) -> None:
    print(f"\n{'batch':6} {'seed':>4} {'model':34} {'loss':>8} {'mono/N':>7} {'mean b':>7} {'band':>5} {'train s':>8}")
    for name, seed, r, cached in rows:
        s = metrics.summary(r)
        b = batches.BATCHES[name]
        label = ", ".join(f"{f}={getattr(r.config, f):.4g}" for f in b.sweep_fields())
        print(f"{name:6} {seed:4d} {label:34} {s['loss']:8.4f} {s['mono_per_feature']:7.3f} {s['mean_bias']:7.3f} "
              f"{s['band']:5d} {r.seconds:8.1f}{' (cached)' if cached else ''}")


if __name__ == "__main__":
    sys.exit(main())
