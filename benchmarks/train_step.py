"""Training-step benchmark. Prints, for a 6-lr LR3 sweep trained as one stack:

- the step's ceiling: the same five matmuls of one step, timed alone at the stack's shapes;
- the trainer's rate with the plain step and with the fused (compiled) optimizer step, in model
  FLOP/s, ms per model-step and as a fraction of the ceiling;
- on a CPU: this machine's sgemm peak, two one-thread jobs, and six runs of a per-model loop
  written the way the authors did (nn.Sequential + torch_optimizer.Lamb + CosineAnnealingLR);
- on CUDA: fp32 and TF32 matmuls, and the projected GPU-hours for the whole paper preset;
- with --profile: where the plain step's time goes (torch.profiler, by operator).

    python -m benchmarks.train_step [--steps 256] [--preset cpu] [--profile]
    python -m benchmarks.train_step --device cuda --preset paper --steps 512
"""
import argparse
import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from monosem_lib import batches, features, projections, training
from monosem_lib.training import generator


def sgemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return repeats * 2 * n ** 3 / (time.perf_counter() - start) / 1e9


def step_flops(c) -> float:
    """Matmul FLOPs of one model's training step: forward (both layers), backward through W2 to h,
    and the weight gradients of both layers (the input needs no gradient)."""
    return 2 * c.batch_size * (2 * c.d * c.k + 3 * c.k * c.n)


def stacked(configs, device: str = "cpu", step: str = "plain") -> float:
    """Wall time of training the configs as one stack, after a warm-up (which compiles the fused step)."""
    os.environ[training.STEP_ENV_VAR] = step
    training.train([dataclasses.replace(c, steps=2) for c in configs], device, progress=False)
    start = time.perf_counter()
    training.train(configs, device, progress=False)
    return time.perf_counter() - start


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
    """The plain step's time by operator (self time), over the configs' steps."""
    from torch.profiler import ProfilerActivity
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    os.environ[training.STEP_ENV_VAR] = "plain"
    with torch.profiler.profile(activities=activities) as prof:
        training.train(configs, device, progress=False)
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=rows))


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def stacked_in_processes(configs, jobs: int) -> float:
    """The sweep split over `jobs` one-thread processes, as `train all` runs batches."""
    parts = [configs[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_set_threads, initargs=(max(1, torch.get_num_threads() // jobs),)) as pool:
        list(pool.map(time.sleep, [0.5] * jobs))  # start every worker before the clock
        start = time.perf_counter()
        list(pool.map(stacked, parts))
    return time.perf_counter() - start


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--profile", action="store_true", help="also print where the plain step's time goes")
    args = parser.parse_args()
    sweep = [dataclasses.replace(c, steps=args.steps, lr=lr, stream=i)
             for i, (c, lr) in enumerate(zip(batches.configs("LR3", args.preset) * 6, batches.LRS))]
    c = sweep[0]
    print(f"device {args.device}{'' if args.device == 'cpu' else ' ' + torch.cuda.get_device_name()}, "
          f"threads {torch.get_num_threads()}, torch {torch.__version__}; preset {args.preset}: N={c.n} d={c.d} "
          f"k={c.k} batch={c.batch_size}, {args.steps} steps, a stack of {len(sweep)} models")
    flops = len(sweep) * args.steps * step_flops(c)  # model FLOPs of the whole run
    precisions = ("fp32",) if args.device == "cpu" else ("fp32", "tf32")
    rates = {}
    for precision in precisions:
        configs = [dataclasses.replace(s, precision=precision) for s in sweep]
        roof = ceiling(configs, args.device) * args.steps
        print(f"\n{precision} matmuls: ceiling (the step's matmuls alone) {flops / roof / 1e9:9.1f} GFLOP/s, "
              f"{1000 * roof / args.steps / len(sweep):.3f} ms per model-step")
        for step in training.STEPS:
            seconds = stacked(configs, args.device, step)
            rates[precision, step] = seconds / args.steps / len(sweep)
            print(f"  trainer, {step:5} step: {flops / seconds / 1e9:9.1f} GFLOP/s, {1000 * rates[precision, step]:.3f} ms "
                  f"per model-step, {roof / seconds:.0%} of the ceiling (incl. sampling, logging, checkpoints)")
    if args.device == "cuda":
        paper = [cfg for name in batches.BATCHES for cfg in batches.configs(name, "paper")]
        work = sum(cfg.steps * step_flops(cfg) for cfg in paper) / (args.steps * step_flops(c))
        for (precision, step), rate in rates.items():
            print(f"projected, whole paper preset ({len(paper)} models), {precision} {step}: "
                  f"{work * args.steps * rate / 3600:.1f} GPU-hours (scaled by model FLOPs from this benchmark)")
    else:
        cpu_extras(sweep, flops)
    if args.profile:
        profile(sweep, args.device)


def cpu_extras(sweep, flops: float) -> None:
    """The sgemm peak, two one-thread jobs, and the authors' loop, at the plain step."""
    os.environ[training.STEP_ENV_VAR] = "plain"
    peak = sgemm_gflops()
    print(f"\nsgemm 2048^3 peak:           {peak:8.1f} GFLOP/s")
    t_stacked = stacked(sweep)
    print(f"stacked trainer:             {flops / t_stacked / 1e9:8.1f} GFLOP/s ({flops / t_stacked / 1e9 / peak:.0%} of peak)")
    t_jobs = stacked_in_processes(sweep, 2)
    print(f"stacked, 2 one-thread jobs:  {flops / t_jobs / 1e9:8.1f} GFLOP/s ({flops / t_jobs / 1e9 / peak:.0%} of peak; "
          f"as `train all` runs: two 3-model stacks at once)")
    t_loop = sum(authors_loop(s) for s in sweep)
    print(f"6-lr sweep, stacked:         {t_stacked:8.1f} s")
    print(f"6-lr sweep, 2 jobs:          {t_jobs:8.1f} s")
    print(f"6-lr sweep, authors' loop:   {t_loop:8.1f} s")
    print(f"speed-up:                    {t_loop / t_stacked:8.2f} x (one process), {t_loop / t_jobs:.2f} x (2 jobs)")


if __name__ == "__main__":
    main()
