"""Whole-call rates of sweeps against C OpenMP+SIMD loops, in one process.

    python benchmarks/bench_sweep.py [--rounds 3] [--starts 100000] [--steps 1000]
                                     [--side 256]

Times what a user waits for (call to result), in trajectory-steps per second, as the
median over rounds taken round-robin (machine load hits every contender alike):

1. A batch: Nesterov on 2-D Rosenbrock from ``--starts`` starts, ``--steps`` steps:
   ``odeopt.run_batch`` and ``odeopt.sweep(starts=..., records=0)`` against the C loop of
   ``nesterov_blocks.c`` built with and without FMA (``-ffp-contract=off``).
2. A map: heavy ball on 2-D Rosenbrock over a ``--side`` x ``--side`` lr x momentum
   grid from one start: ``odeopt.sweep(..., records=0)`` (one run_batch call, each
   cell's hyperparameters in its own SIMD lane) and the default sweep (every step
   recorded for the rate and sharpness) against ``momentum_map.c`` (per-lane lr and
   momentum), with and without FMA.

The C libraries are built here with the system's C compiler (``-O3 -march=native
-fopenmp``); without one the C rows are skipped.  Note that other processes on the
machine (this project's machines are shared) lower every rate alike.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba
import numpy as np

import odeopt

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = 32
MOMENTUM = 0.9
D, L = ctypes.c_double, ctypes.c_long


def build(source, function, argtypes):
    """``{"FMA": f, "no FMA": f}`` from ``source``; {} without a C compiler."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return {}
    folder = tempfile.mkdtemp(prefix="odeopt-bench-")
    built = {}
    for label, flags in (("FMA", []), ("no FMA", ["-ffp-contract=off"])):
        library = os.path.join(folder, f"{function}{len(built)}.so")
        command = [compiler, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
        done = subprocess.run(
            [*command, *flags, os.path.join(HERE, source), "-o", library],
            check=False, capture_output=True,
        )  # fmt: skip
        if done.returncode != 0:
            return {}
        handle = getattr(ctypes.CDLL(library), function)
        handle.argtypes = argtypes
        built[label] = handle
    return built


def pointer(array):
    return array.ctypes.data_as(ctypes.POINTER(D))


def report(title, work, seconds):
    print(f"\n{title}")
    base = seconds.get("sweep, records=0", None)
    for name, times in seconds.items():
        rate = work / statistics.median(times)
        line = f"     {name:<40} {rate:9.3g} trajectory-steps/s"
        if base is not None and name.startswith("C"):
            ratio = statistics.median(c / s for c, s in zip(times, base, strict=True))
            line += f"   sweep (records=0) = {ratio:.2f}x this"
        print(line)


def batch(n_starts, n_steps, rounds):
    n_starts -= n_starts % BLOCK
    starts = np.random.default_rng(0).uniform([-1.5, -0.5], [1.5, 2.0], (n_starts, 2))
    hp = {"lr": 1e-4, "momentum": MOMENTUM}
    c = build("nesterov_blocks.c", "nesterov_blocks",
              [ctypes.POINTER(D), L, D, D, D, D, L, ctypes.c_int])  # fmt: skip
    odeopt.run_batch("nesterov", "rosenbrock", starts[:64], [hp], steps=10)
    odeopt.sweep("nesterov", "rosenbrock", starts=starts[:64], hyperparameters=hp,
                 steps=10, records=0)  # fmt: skip
    seconds = {"run_batch (whole call)": [], "sweep, records=0": []}
    seconds.update({f"C {k}": [] for k in c})
    for _ in range(rounds):
        t = time.perf_counter()
        result = odeopt.run_batch("nesterov", "rosenbrock", starts, [hp], steps=n_steps)
        seconds["run_batch (whole call)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ds = odeopt.sweep("nesterov", "rosenbrock", starts=starts, hyperparameters=hp,
                          steps=n_steps, records=0)  # fmt: skip
        seconds["sweep, records=0"].append(time.perf_counter() - t)
        assert np.array_equal(ds.final_theta.values, result.final_theta[0])
        for label, function in c.items():
            thetas = starts.copy()
            t = time.perf_counter()
            function(pointer(thetas), n_starts, 1e-4, MOMENTUM, 1.0, 100.0, n_steps,
                     numba.get_num_threads())  # fmt: skip
            seconds[f"C {label}"].append(time.perf_counter() - t)
            if label == "no FMA":  # the same roundings: the same bits
                assert np.array_equal(thetas, result.final_theta[0])
    report(
        f"1. Nesterov batch on Rosenbrock, {n_starts} starts x {n_steps} steps, "
        f"{numba.get_num_threads()} threads, whole calls",
        n_starts * n_steps, seconds,
    )  # fmt: skip


def lane_map(side, n_steps, rounds):
    lrs = np.geomspace(1e-5, 2e-3, side)
    betas = np.linspace(0.0, 0.99, side)
    grid = {"lr": lrs, "momentum": betas}
    c = build("momentum_map.c", "momentum_map",
              [ctypes.POINTER(D), ctypes.POINTER(D), ctypes.POINTER(D), L, D, D, L,
               ctypes.c_int])  # fmt: skip
    x0 = odeopt.get_surface("rosenbrock").bind().x0
    small = {"lr": lrs[:4], "momentum": betas[:4]}
    odeopt.sweep("momentum", "rosenbrock", grid=small, steps=10, records=0)
    odeopt.sweep("momentum", "rosenbrock", grid=small, steps=10)
    cells = side * side
    lr_lanes, beta_lanes = (
        a.ravel().copy() for a in np.meshgrid(lrs, betas, indexing="ij")
    )
    seconds = {"sweep, records=0": [], "sweep, every step recorded": []}
    seconds.update({f"C {k}": [] for k in c})
    for _ in range(rounds):
        t = time.perf_counter()
        ds = odeopt.sweep("momentum", "rosenbrock", grid=grid, steps=n_steps, records=0)
        seconds["sweep, records=0"].append(time.perf_counter() - t)
        t = time.perf_counter()
        odeopt.sweep("momentum", "rosenbrock", grid=grid, steps=n_steps)
        seconds["sweep, every step recorded"].append(time.perf_counter() - t)
        for label, function in c.items():
            thetas = np.tile(x0, (cells, 1))
            t = time.perf_counter()
            function(pointer(thetas), pointer(lr_lanes), pointer(beta_lanes), cells,
                     1.0, 100.0, n_steps, numba.get_num_threads())  # fmt: skip
            seconds[f"C {label}"].append(time.perf_counter() - t)
            if label == "no FMA":
                # Runs that diverged stop in odeopt and go on in C: compare the rest.
                kept = (ds.status != "diverged").values.ravel()
                assert np.array_equal(
                    thetas[kept], ds.final_theta.values.reshape(-1, 2)[kept]
                )
    report(
        f"2. Heavy-ball lr x momentum map on Rosenbrock, {side} x {side} cells x "
        f"{n_steps} steps, {numba.get_num_threads()} threads, whole calls",
        cells * n_steps, seconds,
    )  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--side", type=int, default=256)
    args = parser.parse_args()
    batch(args.starts, args.steps, args.rounds)
    lane_map(args.side, args.steps, args.rounds)


if __name__ == "__main__":
    main()
