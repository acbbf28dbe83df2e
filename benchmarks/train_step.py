"""Training-step benchmark: prints this machine's sgemm peak, the stacked trainer's throughput at
the cpu preset's dims, and a 6-lr sweep trained stacked against six runs of a plain per-model
loop written the way the authors did (nn.Sequential + torch_optimizer.Lamb + CosineAnnealingLR).

    python -m benchmarks.train_step [--steps 256] [--preset cpu]
"""
import argparse
import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import torch
import torch_optimizer

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


def stacked(configs) -> float:
    start = time.perf_counter()
    training.train(configs, progress=False)
    return time.perf_counter() - start


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
    args = parser.parse_args()
    sweep = [dataclasses.replace(c, steps=args.steps, lr=lr, stream=i)
             for i, (c, lr) in enumerate(zip(batches.configs("LR3", args.preset) * 6, batches.LRS))]
    c = sweep[0]
    peak = sgemm_gflops()
    print(f"threads: {torch.get_num_threads()}, preset {args.preset}: N={c.n} d={c.d} k={c.k} "
          f"batch={c.batch_size}, {args.steps} steps, 6 models")
    print(f"sgemm 2048^3 peak:           {peak:8.1f} GFLOP/s")
    t_stacked = stacked(sweep)
    gflops = len(sweep) * args.steps * step_flops(c) / t_stacked / 1e9
    print(f"stacked trainer:             {gflops:8.1f} GFLOP/s ({gflops / peak:.0%} of peak; "
          f"{1000 * t_stacked / args.steps / len(sweep):.2f} ms per model-step, incl. sampling and checkpoints)")
    t_jobs = stacked_in_processes(sweep, 2)
    gflops_jobs = len(sweep) * args.steps * step_flops(c) / t_jobs / 1e9
    print(f"stacked, 2 one-thread jobs:  {gflops_jobs:8.1f} GFLOP/s ({gflops_jobs / peak:.0%} of peak; "
          f"as `train all` runs: two 3-model stacks at once)")
    t_loop = sum(authors_loop(s) for s in sweep)
    print(f"6-lr sweep, stacked:         {t_stacked:8.1f} s")
    print(f"6-lr sweep, 2 jobs:          {t_jobs:8.1f} s")
    print(f"6-lr sweep, authors' loop:   {t_loop:8.1f} s")
    print(f"speed-up:                    {t_loop / t_stacked:8.2f} x (one process), {t_loop / t_jobs:.2f} x (2 jobs)")


if __name__ == "__main__":
    main()
