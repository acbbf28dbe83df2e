"""Command line: list batches, train them, execute the book's chapters.

    python -m monosem_lib list
    python -m monosem_lib train LR3 [--preset cpu] [--seed 0] [--device cpu|cuda]
    python -m monosem_lib train all [--seed 0,1,2] [--jobs 2]
    python -m monosem_lib train LR1 LR2 --seed 1,2
    python -m monosem_lib train LR1 LR3 --preset paper --only lr=0.003,0.01,0.03 --publish
    python -m monosem_lib import run.pt --device-name "NVIDIA H100 80GB HBM3" --torch-version 2.11.0+cu130 \
        --precision tf32 --commit 4f61423 --stack-seconds 333
    python -m monosem_lib verify LR3 [--preset cpu]      # retrain, compare with the published models
    python -m monosem_lib seal                           # add digests to files written before them
    python -m monosem_lib execute 4.1.2 --batch LR3 --preset cpu
    python -m monosem_lib execute all
"""
import argparse
import os
import sys
import time
from pathlib import Path

import torch

from . import batches, chapters, metrics, store, training
from .config import PRECISIONS, ConfigError


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
    common(train)
    train.set_defaults(run=cmd_train)
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


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", help=f"one of {', '.join(batches.PRESETS)} (default cpu)")
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
        every = [c for b in batches.BATCHES for c in batches.configs(b, p.name)]
        done = sum(store.file_name(c) in published for c in every)
        print(f"  {p.name:6} N={p.n} d={p.d} steps=2^{p.steps.bit_length() - 1} "
              f"(lr sweeps 2^{p.lr_sweep_steps.bit_length() - 1}, E1-E4 and D1 2^{p.long_steps.bit_length() - 1}) "
              f"batch={p.batch_work}/k, {p.precision}  ({p.cost}); published: {done} of {len(every)} models")
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


def batch_names(args) -> list[str]:
    batches.get_preset(args.preset)
    return list(batches.BATCHES) if args.batch == ["all"] else [batches.get_batch(b).name for b in args.batch]


def job_count(args, device: str, work: list) -> int:
    jobs = args.jobs if args.jobs is not None else default_jobs(device, len(work))
    if jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {jobs}")
    return jobs


def cmd_train(args) -> int:
    names = batch_names(args)
    device = resolve_device(args.device)
    work = [(name, seed) for seed in args.seed for name in names]
    jobs = job_count(args, device, work)
    for name, seed in work:  # bad --only values fail here, before anything trains
        batches.select(name, args.preset, seed, args.only)
    start = time.perf_counter()
    store.migrate(args.results_dir)
    cached = store.train_many(work, args.preset, device, args.results_dir, args.force, jobs, args.only,
                              args.precision, args.local)
    if all(cached) and not args.publish:  # no table: loading every model to print it takes a while
        count = sum(len(batches.select(name, args.preset, seed, args.only, args.precision)) for name, seed in work)
        where = f"{store.models_dir(args.results_dir)}{'' if args.local else ' or ' + str(store.published_dir())}"
        print(f"nothing to train: all {count} models are in {where}")
        return 0
    rows = [(name, seed, r, hit) for (name, seed), hit in zip(work, cached)
            for r in store.available(name, args.preset, seed, args.results_dir, args.only, args.precision)[0]]
    print_summary(rows)
    if args.publish:
        publish([r for *_, r, _ in rows], args.force)
    print(f"\n{len(work)} batch(es), {len(rows)} models, {time.perf_counter() - start:.1f} s wall "
          f"(preset {args.preset}, seed {','.join(map(str, args.seed))}, device {device}, {jobs} job(s))")
    return 0


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
    store.train_many(work, args.preset, device, args.results_dir, False, job_count(args, device, work), args.only,
                     local=True)
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
    sys.exit(main())
