"""Train some models of a batch at another batch size or step count, and print their headline
numbers: the one-off measurements behind the quick preset's rule (README, "The quick preset").
Nothing is stored.

    python -m benchmarks.scale_probe LR3 --batch-size 2048 --steps 16384 --only lr=0.03
    python -m benchmarks.scale_probe B3 --steps 65536 --only offset=-1,-0.5
"""
import argparse
import dataclasses
import json
import time

from monosem_lib import batches, metrics, training
from monosem_lib.config import ConfigError


def configs(args) -> list:
    batch = batches.get_batch(args.batch)
    only = [] if args.only is None else [batches.parse_only(args.only)]
    for field, _ in only:
        if field not in batch.sweep_fields():
            raise ConfigError(f"{batch.name} sweeps {batch.sweep}, not {field!r}")
    chosen = batches.select(batch.name, args.preset, args.seed, only)
    changes = {key: value for key, value in (("batch_size", args.batch_size), ("steps", args.steps))
               if value is not None}
    return [dataclasses.replace(c, **changes) for c in chosen]


def late_trace(result, checkpoints: int = 4) -> list:
    """[step, held-out loss, mono / N] at the last few power-of-two checkpoints: still moving or not."""
    t = result.trace
    return [[int(step), round(float(loss), 4), round(float(mono), 3)]
            for step, loss, mono in zip(t["step"], t["loss"], t["mono"])][-checkpoints:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batch")
    parser.add_argument("--preset", default=batches.DEFAULT_PRESET)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--only", metavar="FIELD=V1,V2", help="train only the models with these swept values")
    args = parser.parse_args()
    try:
        chosen = configs(args)
    except ConfigError as error:
        parser.error(str(error))
    start = time.perf_counter()
    results = training.train(chosen, desc=args.batch)
    seconds = time.perf_counter() - start
    fields = batches.get_batch(args.batch).sweep_fields()
    for r in results:
        s = metrics.summary(r)
        print(json.dumps({**{f: getattr(r.config, f) for f in fields}, "batch_size": r.config.batch_size,
                          "steps": r.config.steps, "loss": round(s["loss"], 4),
                          "mono_per_feature": round(s["mono_per_feature"], 3), "band": s["band"],
                          "mean_bias": round(s["mean_bias"], 3),
                          "late_improvement": round(metrics.late_improvement(r), 4),
                          "trace": late_trace(r)}))
    print(f"{len(results)} model(s) in {seconds:.0f} s")


if __name__ == "__main__":
    main()
