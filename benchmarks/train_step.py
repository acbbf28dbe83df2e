"""Training-step benchmark. For a 6-lr LR3 sweep trained as one stack (the quick preset's dims by
default) it prints:

- the step's ceiling: the same five matmuls of one step, timed alone at the stack's shapes;
- the step, early (the first --steps steps) and late (after --warm steps, where a run spends its
  time and LAMB's moments hold subnormal floats), at one and two threads: ms per stack-step, each
  phase's share (sampling, forward/backward, LAMB and the bias update, bookkeeping: the loss log,
  checkpoints, the held-out trace) and the step as a fraction of the ceiling; the median of
  --rounds interleaved rounds, so that a busy machine slows every variant alike;
- the subnormal share of LAMB's first moments at each point, and (on a CPU, one thread) the late
  point once more with subnormals kept, as the step ran before it flushed them ("kept");
- on a CPU: six runs of a per-model loop written the way the authors did (nn.Sequential +
  torch_optimizer.Lamb + CosineAnnealingLR), against the stacked trainer;
- on CUDA: the projected GPU-hours for the whole paper preset.

    python -m benchmarks.train_step [--steps 256] [--warm 8192] [--rounds 3] [--preset quick]
    python -m benchmarks.train_step --device cuda --preset paper --steps 512 --warm 0
"""
import argparse
import contextlib
import dataclasses
import statistics
import sys
import time

import torch

from monosem_lib import batches, features, projections, runs, training
from monosem_lib.__main__ import resolve_device
from monosem_lib.config import ConfigError
from monosem_lib.training import generator


PHASES = ("sample", "learn", "update", "record")


def measure(run: training.Run, steps: int, device: str, flush: bool = True) -> dict:
    """ms per stack-step of each phase of the trainer's own step, over `steps` steps of `run`
    (`flush`: subnormals flushed, as the trainer runs; else kept, as the step ran before)."""
    seconds = dict.fromkeys(PHASES, 0.0)
    with training.flush_denormal() if flush else keep_subnormals():
        for _ in range(steps):
            t0 = time.perf_counter()
            batch = run.sample()
            t1 = time.perf_counter()
            loss = run.learn(*batch)
            sync(device)
            t2 = time.perf_counter()
            run.update()
            sync(device)
            t3 = time.perf_counter()
            run.record(loss)
            sync(device)
            t4 = time.perf_counter()
            for phase, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                seconds[phase] += dt
    return {phase: 1000 * s / steps for phase, s in seconds.items()}


@contextlib.contextmanager
def keep_subnormals():
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_flush_denormal(True)


def subnormal_share(run: training.Run) -> float:
    m = torch.cat([t.flatten() for t in run.optimizer.exp_avg])
    return float(((m != 0) & (m.abs() < torch.finfo(torch.float32).tiny)).float().mean())


def ceiling(configs, device: str, repeats: int = 50) -> float:
    """Seconds per stacked step of the step's five matmuls alone (forward e and y, dh, the weight
    gradients), at the stack's shapes: what no rewrite of the rest of the step can beat."""
    c, m = configs[0], len(configs)
    g = torch.Generator(device=device).manual_seed(0)
    def rand(*shape):
        return torch.rand(*shape, generator=g, device=device)
    x, b, W1, W2 = rand(m, c.batch_size, c.d), rand(m, c.k), rand(m, c.k, c.d), rand(m, c.n, c.k)
    target = rand(m, c.batch_size, c.n)
    def step():
        e = torch.baddbmm(b[:, None, :], x, W1.transpose(1, 2))
        residual = torch.baddbmm(target, e, W2.transpose(1, 2), beta=-1)
        torch.bmm(residual.transpose(1, 2), e), torch.bmm(torch.bmm(residual, W2).transpose(1, 2), x)
    with training.matmul_precision(c.precision):
        step()
        sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        sync(device)
    return (time.perf_counter() - start) / repeats


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def profile(configs, device: str, rows: int = 15) -> None:
    """The step's time by operator (self time), over 256 steps of a fresh stack."""
    from torch.profiler import ProfilerActivity
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    run = training.Run(configs, device)
    with torch.profiler.profile(activities=activities) as prof:
        measure(run, 256, device)
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=rows))


def authors_loop(c) -> float:
    """One model at a time: nn.Sequential, torch_optimizer.Lamb, CosineAnnealingLR(T_max=512)."""
    import torch_optimizer
    torch.manual_seed(c.stream)
    net = torch.nn.Sequential(torch.nn.Linear(c.d, c.k), torch.nn.ReLU(), torch.nn.Linear(c.k, c.n, bias=False))
    with torch.no_grad():
        net[0].bias += c.offset
    opt = torch_optimizer.Lamb(net.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.t_max)
    P = projections.projection(c.n, c.d, generator("P", c.seed))
    freqs = features.frequencies(c.distribution, c.n, c.eps)[None]
    data = [generator("data", c.seed, c.stream)]
    start = time.perf_counter()
    for step in range(c.steps):
        f = features.sample(freqs, c.batch_size, data)[0]
        opt.zero_grad()
        loss = ((net(f @ P.T) - f) ** 2).sum(-1).mean()
        loss.backward()
        opt.step()
        sched.step()
        if step < c.steps // 2:
            with torch.no_grad():
                net[0].bias.mul_(1 - c.decay * c.lr)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=256, help="steps timed at each point (default 256)")
    parser.add_argument("--warm", type=int, default=8192, help="steps trained before the late point (default 8192)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is shown")
    parser.add_argument("--preset", default=batches.DEFAULT_PRESET)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--profile", action="store_true", help="also print where the step's time goes, by operator")
    args = parser.parse_args()
    try:  # bad input: one line, before anything runs
        batches.get_preset(args.preset)
        resolve_device(args.device)
        if args.steps < 1 or args.rounds < 1 or args.warm < 0:
            raise ConfigError(f"--steps and --rounds must be ≥ 1 and --warm ≥ 0; got --steps {args.steps}, "
                              f"--rounds {args.rounds}, --warm {args.warm}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch.set_flush_denormal(True)  # before the intra-op pool starts, so its threads inherit the flag
    threads = (1, 2) if args.device == "cpu" and torch.get_num_threads() >= 2 else (torch.get_num_threads(),)
    sweep = [dataclasses.replace(c, lr=lr, stream=i)
             for i, (c, lr) in enumerate(zip(batches.configs("LR3", args.preset) * 6, batches.LRS))]
    c = sweep[0]
    print(f"device {args.device}{'' if args.device == 'cpu' else ' ' + torch.cuda.get_device_name()}, "
          f"torch {torch.__version__}; preset {args.preset}: N={c.n} d={c.d} k={c.k} batch={c.batch_size}, "
          f"a stack of {len(sweep)} models; {args.steps} steps timed early and after {args.warm} steps, "
          f"median of {args.rounds} interleaved rounds")
    with training.matmul_precision(c.precision):
        points = {"early": training.Run(sweep, args.device), "late": training.Run(sweep, args.device)}
        measure(points["late"], args.warm, args.device)
        if args.device == "cpu":  # the same late point with subnormals kept: what flushing them saves
            points["kept"] = training.Run(sweep, args.device)
            measure(points["kept"], args.warm, args.device, flush=False)
        table = point_table(points, threads, args)
    print_table(table, sweep, points, args)
    if args.device == "cuda":
        project_paper(table, sweep)
    else:
        authors_comparison(sweep, args.steps, table)
    if args.profile:
        profile(sweep, args.device)
    return 0


def point_table(points: dict, threads: tuple, args) -> dict:
    """{(point, threads): (ceiling ms, phases ms)} per stack-step, medians over interleaved rounds.
    The early point restarts from step 0 each round; the late one goes on from where it was."""
    samples = {}
    for _ in range(args.rounds):
        for n in threads:
            torch.set_num_threads(n)
            for point in points:
                if point == "early":
                    points[point] = training.Run(points[point].configs, args.device)
                if point == "kept" and n > 1:
                    continue  # the flag is per thread, and the pool's threads took it when they started
                roof = 1000 * ceiling(points[point].configs, args.device)
                phases = measure(points[point], args.steps, args.device, flush=point != "kept")
                samples.setdefault((point, n), []).append((roof, phases))
    def median(values):
        return statistics.median(values)
    return {key: (median([r for r, _ in rows]), {p: median([ph[p] for _, ph in rows]) for p in PHASES})
            for key, rows in samples.items()}


def print_table(table: dict, sweep, points, args) -> None:
    print("\nms per stack-step. step = sample + learn (forward, backward) + update (LAMB, bias update);"
          "\nbookkeeping (loss log, power-of-two checkpoints, held-out trace) is apart: early it is a large"
          "\nshare of few steps, over a whole run a small one.")
    print(f"{'point':6} {'threads':>7} {'subnormal m':>11} {'ceiling':>8} {'step':>7} {'of ceiling':>10}  "
          f"{' / '.join(PHASES[:3])} (share of the step)   bookkeeping")
    for (point, n), (roof, phases) in table.items():
        step = proper(phases)
        print(f"{point:6} {n:7} {subnormal_share(points[point]):11.3f} {roof:8.2f} {step:7.2f} {roof / step:10.0%}  "
              + " / ".join(f"{phases[p]:.2f} ({phases[p] / step:.0%})" for p in PHASES[:3])
              + f"   {phases['record']:.2f}")
    flops = runs.step_flops(sweep[0]) * len(sweep)
    best = min(proper(p) for _, p in table.values())
    print(f"model FLOPs per stack-step {flops / 1e9:.3f} G: the fastest point runs at {flops / best / 1e6:.1f} GFLOP/s")


def proper(phases: dict) -> float:
    """The step without the bookkeeping."""
    return sum(phases[p] for p in PHASES[:3])


def project_paper(table: dict, sweep) -> None:
    paper = [cfg for name in batches.BATCHES for cfg in batches.configs(name, "paper")]
    per_flop = proper(table[("late", torch.get_num_threads())][1]) / 1000 / (runs.step_flops(sweep[0]) * len(sweep))
    hours = sum(cfg.steps * runs.step_flops(cfg) for cfg in paper) * per_flop / 3600
    print(f"projected, whole paper preset ({len(paper)} models): {hours:.1f} GPU-hours (by model FLOPs, late step)")


def authors_comparison(sweep, steps: int, table: dict) -> None:
    """The stacked trainer's early step against six runs of the authors' loop, one thread."""
    torch.set_num_threads(1)
    loop = sum(authors_loop(dataclasses.replace(s, steps=steps)) for s in sweep) / steps * 1000
    ours = proper(table[("early", 1)][1])
    print(f"\nauthors' loop, six models one after another, one thread: {loop:.2f} ms per 6 model-steps; "
          f"the stacked step {ours:.2f} ms: {loop / ours:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
