"""Command line: list batches, train them, execute the book's chapters.

    python -m monosem_lib list
    python -m monosem_lib train LR3 [--preset cpu] [--seed 0] [--device cpu|cuda]
    python -m monosem_lib train all
    python -m monosem_lib execute 4.1.2 --batch LR3 --preset cpu
    python -m monosem_lib execute all
"""
import argparse
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
    train.add_argument("batch", help=f"one of {', '.join(batches.BATCHES)}, or all")
    train.add_argument("--force", action="store_true", help="retrain even if stored")
    common(train)
    train.set_defaults(run=cmd_train)
    execute = sub.add_parser("execute", help="execute a chapter's notebook into executed/ (papermill)")
    execute.add_argument("section", help=f"one of {', '.join(c.section for c in chapters.CHAPTERS)}, or all")
    execute.add_argument("--batch", default=None, help="only this batch (default: every batch of the chapter)")
    execute.add_argument("--out-dir", default=str(chapters.EXECUTED), help="where executed pages go (default executed/)")
    common(execute)
    execute.set_defaults(run=cmd_execute)
    return p


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", help=f"one of {', '.join(batches.PRESETS)} (default cpu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--results-dir", default=None,
                   help=f"where results live (default ${store.ENV_VAR} or ./results)")


def cmd_list(args) -> int:
    print(f"{'batch':6} {'figures':24} {'sweep':10} title")
    for b in batches.BATCHES.values():
        print(f"{b.name:6} {b.figures:24} {b.sweep:10} {b.title}")
    print("\npresets:")
    for p in batches.PRESETS.values():
        print(f"  {p.name:6} N={p.n} d={p.d} steps=2^{p.steps.bit_length() - 1} "
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


def cmd_train(args) -> int:
    batches.get_preset(args.preset)
    names = list(batches.BATCHES) if args.batch == "all" else [batches.get_batch(args.batch).name]
    device = resolve_device(args.device)
    start = time.perf_counter()
    rows = []
    for name in names:
        results, cached = store.train_batch(name, args.preset, args.seed, device, args.results_dir, args.force)
        rows += [(name, r, cached) for r in results]
    print_summary(rows)
    print(f"\n{len(names)} batch(es), {len(rows)} models, {time.perf_counter() - start:.1f} s wall "
          f"(preset {args.preset}, seed {args.seed}, device {device})")
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
    print(f"\n{'batch':6} {'model':34} {'loss':>8} {'mono/N':>7} {'mean b':>7} {'band':>5} {'train s':>8}")
    for name, r, cached in rows:
        s = metrics.summary(r)
        b = batches.BATCHES[name]
        label = ", ".join(f"{f}={getattr(r.config, f):.4g}" for f in b.sweep_fields())
        print(f"{name:6} {label:34} {s['loss']:8.4f} {s['mono_per_feature']:7.3f} {s['mean_bias']:7.3f} "
              f"{s['band']:5d} {r.seconds:8.1f}{' (cached)' if cached else ''}")


if __name__ == "__main__":
    sys.exit(main())
