"""What the stepping contract added, timed against baselines in the same run.

    python benchmarks/bench_contract.py [--rounds 5] [--quick]

Prints medians of per-round ratios (round-robin, so machine load hits every
contender alike), in trajectory-steps per second of stepping (``wall_time_s``):

1. Hyperparameters per lane: a 256 x 256 lr x momentum grid of heavy ball on 2-D
   Rosenbrock, one start per cell, against a batch of the same size with one
   hyperparameter set (target: >= 0.8x).
2. Lanes in other dimensions: 3-D and 10-D Nesterov batches on Rosenbrock in lanes
   against the same batch one trajectory at a time (``advance_range``; target >= 3x).
3. Noisy gradients: SGD with isotropic Gaussian noise, 10^5 paths x 10^3 steps on 2-D
   Rosenbrock, against the same batch without noise and against a hand-written numba
   ``prange`` loop drawing with ``np.random.standard_normal`` (which, unlike
   odeopt's counter-based normals, depends on the thread count; target: >= 1x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba
import numpy as np

import odeopt
from odeopt import _codegen

LR, SIGMA = 1e-4, 0.5


@numba.njit(parallel=True, cache=True)
def hand_noisy_gd(thetas, lr, sigma, a, b, n):
    """Noisy GD on Rosenbrock, one start per prange iteration, numba's generator."""
    for s in numba.prange(thetas.shape[0]):
        x = thetas[s, 0]
        y = thetas[s, 1]
        for _ in range(n):
            r = y - x * x
            gx = -4.0 * b * x * r - 2.0 * (a - x) + sigma * np.random.standard_normal()  # noqa: NPY002
            gy = 2.0 * b * r + sigma * np.random.standard_normal()  # noqa: NPY002
            x = x - lr * gx
            y = y - lr * gy
        thetas[s, 0] = x
        thetas[s, 1] = y


def report(title, rates, subject, labels):
    """Each contender's median rate, and the subject's rate relative to it."""
    print(f"\n{title}")
    for name, label in labels.items():
        ratio = statistics.median(
            a / b for a, b in zip(rates[subject], rates[name], strict=True)
        )
        print(f"     {label:<44} {statistics.median(rates[name]):9.3g}   "
              f"{ratio:.2f}x")  # fmt: skip


def grid(side, steps, rounds):
    lrs = np.geomspace(1e-5, 1e-3, side)
    moms = np.linspace(0.0, 0.99, side)
    cells = [{"lr": lr, "momentum": m} for lr in lrs for m in moms]
    same = [{"lr": 1e-4, "momentum": 0.5}]
    start = np.array([[-1.2, 1.0]])
    starts = np.tile(start, (len(cells), 1))
    odeopt.run_batch("momentum", "rosenbrock", start, cells[:40], steps=5)
    odeopt.run_batch("momentum", "rosenbrock", starts[:40], same, steps=5)
    work = len(cells) * steps
    rates = {"grid": [], "same": []}
    for _ in range(rounds):
        r = odeopt.run_batch("momentum", "rosenbrock", start, cells, steps=steps)
        rates["grid"].append(work / r.wall_time_s)
        r = odeopt.run_batch("momentum", "rosenbrock", starts, same, steps=steps)
        rates["same"].append(work / r.wall_time_s)
    report(
        f"1. {side} x {side} lr x momentum grid, one start per cell, {steps} steps "
        "(trajectory-steps/s; the grid's rate relative to each)",
        rates,
        "grid",
        {"same": "one hyperparameter set, same size", "grid": "the grid, per lane"},
    )


def dimensions(n_starts, steps, rounds, dims=(3, 10)):
    hp = [{"lr": 1e-4, "momentum": 0.9}]
    for dim in dims:
        starts = np.random.default_rng(dim).uniform(-1, 1, size=(n_starts, dim))
        odeopt.run_batch("nesterov", "rosenbrock", starts[:40], hp, steps=5, dim=dim)
        work = n_starts * steps
        rates = {"lanes": [], "single": []}
        real = _codegen.MAX_LANE_DIM
        for _ in range(rounds):
            lanes = odeopt.run_batch("nesterov", "rosenbrock", starts, hp,
                                     steps=steps, dim=dim)  # fmt: skip
            rates["lanes"].append(work / lanes.wall_time_s)
            _codegen.MAX_LANE_DIM = 0  # every trajectory one at a time
            try:
                single = odeopt.run_batch("nesterov", "rosenbrock", starts, hp,
                                          steps=steps, dim=dim)  # fmt: skip
            finally:
                _codegen.MAX_LANE_DIM = real
            rates["single"].append(work / single.wall_time_s)
            assert np.array_equal(lanes.final_theta, single.final_theta)
        report(
            f"2. {dim}-D Nesterov on Rosenbrock, {n_starts} starts x {steps} steps "
            "(lanes' rate relative to each)",
            rates,
            "lanes",
            {"single": "one trajectory at a time", "lanes": "odeopt.run_batch, lanes"},
        )


def noise(n_paths, steps, rounds):
    starts = np.random.default_rng(0).uniform([-1.5, -0.5], [1.5, 2.0], (n_paths, 2))
    hp = [{"lr": LR}]
    kw = {"steps": steps}
    odeopt.run_batch("gd", "rosenbrock", starts[:40], hp, steps=5,
                     noise=f"iso:{SIGMA}")  # fmt: skip
    odeopt.run_batch("gd", "rosenbrock", starts[:40], hp, steps=5)
    hand_noisy_gd(starts[:4].copy(), LR, SIGMA, 1.0, 100.0, 5)
    work = n_paths * steps
    rates = {"noisy": [], "exact": [], "hand": []}
    for _ in range(rounds):
        r = odeopt.run_batch("gd", "rosenbrock", starts, hp, noise=f"iso:{SIGMA}",
                             seed=1, **kw)  # fmt: skip
        rates["noisy"].append(work / r.wall_time_s)
        r = odeopt.run_batch("gd", "rosenbrock", starts, hp, **kw)
        rates["exact"].append(work / r.wall_time_s)
        thetas = starts.copy()
        t = time.perf_counter()
        hand_noisy_gd(thetas, LR, SIGMA, 1.0, 100.0, steps)
        rates["hand"].append(work / (time.perf_counter() - t))
    report(
        f"3. Noisy SGD (iso:{SIGMA}), {n_paths} paths x {steps} steps, 2-D "
        f"Rosenbrock, {numba.get_num_threads()} threads (the noisy batch's rate "
        "relative to each)",
        rates,
        "noisy",
        {
            "hand": "hand prange + np.random.standard_normal",
            "exact": "odeopt.run_batch without noise",
            "noisy": "odeopt.run_batch, counter-based noise",
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    side, starts, paths, steps = (256, 20_000, 100_000, 1000)
    if args.quick:
        side, starts, paths, steps, args.rounds = 32, 2048, 4096, 200, 2
    print(f"odeopt contract benchmark — numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    grid(side, steps, args.rounds)
    dimensions(starts, steps, args.rounds)
    noise(paths, steps, args.rounds)


if __name__ == "__main__":
    main()
