"""Speed of the continuous side: reference solves and order checks.

    python benchmarks/bench_reference.py [--rounds 3]

1. A reference solve (DOP853, rtol 1e-10) of a 10⁴-step trajectory, sampled at every
   step, for each optimizer's default model on Rosenbrock and product-loss, against the
   discrete run of the same trajectory.
2. A default ``odeopt check`` (warm: compiled steppers loaded) for each optimizer, and
   the whole ``odeopt check`` process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import odeopt
from odeopt.check import check_order
from odeopt.reference import solve
from odeopt.stepper import resolve_optimizer, resolve_surface


def reference_solves(rounds: int) -> None:
    print("1. Reference solve of a 10^4-step trajectory (every step sampled)")
    for surface in ("rosenbrock", "product-loss"):
        for name in odeopt.optimizer_names():
            traj = odeopt.run(name, surface, steps=10_000)
            bound_surface = resolve_surface(surface)
            bound = resolve_optimizer(name, bound_surface, traj.meta["hyperparameters"])
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                ref = solve(bound, bound_surface, traj.theta[0], traj.t)
                times.append(time.perf_counter() - t)
            print(
                f"   {name:<9} {surface:<13} t_end = {traj.t[-1]:9.4g}  "
                f"{statistics.median(times):6.3f} s  ({ref.info['nfev']} evaluations; "
                f"discrete run {traj.meta['wall_time_s'] * 1e3:.2f} ms)"
            )


def checks(rounds: int) -> None:
    print("2. Default odeopt check, warm (in process)")
    for name in odeopt.optimizer_names():
        check_order(name, "product-loss")  # warm: compile or load the steppers
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            check_order(name, "product-loss")
            times.append(time.perf_counter() - t)
        print(f"   {name:<9} product-loss  {statistics.median(times):6.3f} s")
    argv = [
        sys.executable,
        "-m",
        "odeopt",
        "check",
        "-o",
        "nesterov",
        "-s",
        "rosenbrock",
    ]
    subprocess.run(argv, check=False, capture_output=True)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(argv, check=False, capture_output=True)
        times.append(time.perf_counter() - t)
    print(
        f"   whole process `odeopt check -o nesterov -s rosenbrock`: "
        f"{statistics.median(times):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reference_solves(args.rounds)
    checks(args.rounds)


if __name__ == "__main__":
    main()
