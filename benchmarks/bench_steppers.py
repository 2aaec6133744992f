"""Speed of odeopt's steppers against baselines measured in the same run.

    python benchmarks/bench_steppers.py [--steps 1000000] [--rounds 5] [--quick]

Prints medians of per-round ratios (round-robin, so machine load hits every contender
alike):

1. One trajectory, Nesterov (PyTorch form) on 2-D Rosenbrock, ns/step:
   odeopt's generated runner (called through numba, as the C-ABI code loaded from the
   object cache, and through ``odeopt.run``) against a hand-written
   ``@njit`` loop of the same update and a Python + NumPy loop.
2. Batched trajectory-steps per second: ``odeopt.run_batch`` (threads over blocks
   of starts stepped in SIMD lanes) against the same update in C with OpenMP + SIMD
   (``nesterov_blocks.c``, built here when a C compiler is found: design.md's
   anchor) and in hand-written numba ``prange`` loops, in SIMD blocks of starts and
   one start per iteration.
3. Start-up: ``odeopt --help``, ``odeopt list`` and a warm ``odeopt run`` against
   ``python -c "import numba, numpy"``.

Subnormal numbers are a trap for such timings: once Rosenbrock's iterates converge to
the last bit (lr = 1e-3 after ~10^5 steps) the updates underflow into subnormals and
every contender slows down ~10x.  The main timings therefore use lr = 1e-4; the
subnormal regime is shown on its own line.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time

# OpenMP's threads (numba's prange baselines, the C baseline) otherwise spin for a
# while after each parallel loop, on the cores that the next contender of the
# round-robin runs on.  Read when the OpenMP runtime loads: before importing numba.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba
import numpy as np

import odeopt
from odeopt import _codegen
from odeopt.registry import get_optimizer, get_surface

X0 = np.array([-1.2, 1.0])
MOMENTUM = 0.9


@numba.njit(cache=True)
def hand_nesterov(theta, lr, beta, a, b, n):
    """The hand-written loop: PyTorch's SGD(nesterov=True) on Rosenbrock, fused."""
    x = theta[0]
    y = theta[1]
    b0 = 0.0
    b1 = 0.0
    for k in range(1, n + 1):
        r = y - x * x
        g0 = -4.0 * b * x * r - 2.0 * (a - x)
        g1 = 2.0 * b * r
        if k == 1:
            b0 = g0
            b1 = g1
        else:
            b0 = beta * b0 + g0
            b1 = beta * b1 + g1
        x -= lr * (g0 + beta * b0)
        y -= lr * (g1 + beta * b1)
    theta[0] = x
    theta[1] = y


@numba.njit(cache=True, parallel=True)
def hand_nesterov_batch(thetas, lr, beta, a, b, n):
    """The same update over many starts, one start per prange iteration."""
    for j in numba.prange(thetas.shape[0]):
        hand_nesterov(thetas[j], lr, beta, a, b, n)


BLOCK = 32


@numba.njit(cache=True, parallel=True)
def hand_nesterov_blocks(thetas, lr, beta, a, b, n):
    """The same update over blocks of BLOCK starts, lane loops innermost: the layout of
    design.md's fastest numba anchor (LLVM vectorises the lane loop).  Assumes the
    number of starts is a multiple of BLOCK."""
    for block in numba.prange(thetas.shape[0] // BLOCK):
        x = np.empty(BLOCK)
        y = np.empty(BLOCK)
        b0 = np.zeros(BLOCK)
        b1 = np.zeros(BLOCK)
        for j in range(BLOCK):
            x[j] = thetas[block * BLOCK + j, 0]
            y[j] = thetas[block * BLOCK + j, 1]
        for k in range(1, n + 1):
            first = k == 1
            for j in range(BLOCK):
                r = y[j] - x[j] * x[j]
                g0 = -4.0 * b * x[j] * r - 2.0 * (a - x[j])
                g1 = 2.0 * b * r
                c0 = g0 if first else beta * b0[j] + g0
                c1 = g1 if first else beta * b1[j] + g1
                b0[j] = c0
                b1[j] = c1
                x[j] -= lr * (g0 + beta * c0)
                y[j] -= lr * (g1 + beta * c1)
        for j in range(BLOCK):
            thetas[block * BLOCK + j, 0] = x[j]
            thetas[block * BLOCK + j, 1] = y[j]


def numpy_nesterov(theta, lr, beta, a, b, n):
    """A Python loop over NumPy operations (what a notebook user might write)."""
    theta = theta.copy()
    buf = np.zeros(2)
    g = np.empty(2)
    for k in range(1, n + 1):
        r = theta[1] - theta[0] ** 2
        g[0] = -4.0 * b * theta[0] * r - 2.0 * (a - theta[0])
        g[1] = 2.0 * b * r
        buf = g.copy() if k == 1 else beta * buf + g
        theta -= lr * (g + beta * buf)
    return theta


def odeopt_runner():
    sgd = get_optimizer("nesterov")
    rosen = get_surface("rosenbrock").bind()
    dispatcher = _codegen.dispatcher_advance(sgd.kernels, rosen.surface.kernels)
    native = _codegen.get_advance(sgd.kernels, rosen.surface.kernels)
    return dispatcher, native, rosen.p


def time_raw_runner(advance, p, lr, n):
    theta = X0.copy()
    state = np.zeros((1, 2))
    hp = np.array([lr, MOMENTUM, 0.0, 0.0, 1.0, 0.0, 0.0])
    rec = (np.zeros(2, dtype=np.int64), np.zeros((2, 2)), np.zeros(2))
    t = time.perf_counter()
    none = np.zeros(1)
    advance(theta, state, none, hp, p, none, 0, 0, 0, n, 0, 0.0, 1e100, *rec, 0)
    return time.perf_counter() - t, theta


def time_hand(lr, n):
    theta = X0.copy()
    t = time.perf_counter()
    hand_nesterov(theta, lr, MOMENTUM, 1.0, 100.0, n)
    return time.perf_counter() - t, theta


def time_api(lr, n):
    traj = odeopt.run(
        "nesterov", "rosenbrock", lr=lr, momentum=MOMENTUM, steps=n, record_every=n
    )
    return traj.meta["wall_time_s"], traj.final_theta


def single_trajectory(steps, rounds):
    runner, native, p = odeopt_runner()
    for lr in (1e-4, 1e-3):  # warm every contender (compile or cache load)
        time_raw_runner(runner, p, lr, 10)
        time_raw_runner(native, p, lr, 10)
        time_hand(lr, 10)
        time_api(lr, 10)
    print(
        f"\n1. One trajectory: Nesterov on Rosenbrock, {steps:.0e} steps, "
        f"median of {rounds} rounds"
    )
    for lr, label in ((1e-4, "normal numbers"), (1e-3, "subnormal tail")):
        rows = {"hand": [], "raw": [], "native": [], "api": []}
        for _ in range(rounds):
            t_hand, th_hand = time_hand(lr, steps)
            t_raw, th_raw = time_raw_runner(runner, p, lr, steps)
            t_native, th_native = time_raw_runner(native, p, lr, steps)
            t_api, th_api = time_api(lr, steps)
            assert np.array_equal(th_raw, th_api)
            assert np.array_equal(th_raw, th_native)
            rows["native"].append(t_native)
            assert np.allclose(th_raw, th_hand, rtol=1e-9, atol=1e-12)
            rows["hand"].append(t_hand)
            rows["raw"].append(t_raw)
            rows["api"].append(t_api)
        ns = {k: statistics.median(v) / steps * 1e9 for k, v in rows.items()}
        ratio_raw = statistics.median(
            r / h for r, h in zip(rows["raw"], rows["hand"], strict=True)
        )
        ratio_api = statistics.median(
            a / h for a, h in zip(rows["api"], rows["hand"], strict=True)
        )
        ratio_native = statistics.median(
            a / h for a, h in zip(rows["native"], rows["hand"], strict=True)
        )
        print(f"   lr={lr:g} ({label}):")
        print(f"     hand-written @njit loop       {ns['hand']:8.2f} ns/step   1.00x")
        print(
            f"     odeopt runner, numba call     {ns['raw']:8.2f} ns/step   {ratio_raw:.2f}x"
        )
        print(
            f"     odeopt runner, cached object  {ns['native']:8.2f} ns/step   "
            f"{ratio_native:.2f}x"
        )
        print(
            f"     odeopt.run(record_every=n)    {ns['api']:8.2f} ns/step   {ratio_api:.2f}x"
        )
    n_np = max(steps // 20, 10_000)
    numpy_nesterov(X0, 1e-4, MOMENTUM, 1.0, 100.0, 10)
    ratios = []
    for _ in range(max(1, rounds // 2)):
        t = time.perf_counter()
        numpy_nesterov(X0, 1e-4, MOMENTUM, 1.0, 100.0, n_np)
        t_np = (time.perf_counter() - t) / n_np
        t_r, _ = time_raw_runner(runner, p, 1e-4, steps)
        ratios.append(t_np / (t_r / steps))
    print(
        f"     Python + NumPy loop           {t_np * 1e9:8.0f} ns/step   "
        f"(odeopt is {statistics.median(ratios):.0f}x faster; {n_np:.0e} steps)"
    )


def c_baselines():
    """The C loop of nesterov_blocks.c built twice with the system's C compiler:
    ``-O3 -march=native -fopenmp`` (as design.md's anchor; the compiler may fuse a
    multiply and an add into one FMA) and the same with ``-ffp-contract=off`` (the
    same roundings as numba, hence the same bits).  {} when there is no compiler."""
    import shutil
    import tempfile

    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return {}
    source = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "nesterov_blocks.c"
    )
    folder = tempfile.mkdtemp(prefix="odeopt-bench-")
    functions = {}
    for label, flags in (("FMA", []), ("no FMA", ["-ffp-contract=off"])):
        library = os.path.join(folder, f"blocks{len(functions)}.so")
        command = [compiler, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
        built = subprocess.run(
            [*command, *flags, source, "-o", library], check=False, capture_output=True
        )
        if built.returncode != 0:
            return {}
        function = ctypes.CDLL(library).nesterov_blocks
        double, long = ctypes.c_double, ctypes.c_long
        function.argtypes = [
            ctypes.POINTER(double), long, double, double, double, double, long,
            ctypes.c_int,
        ]  # fmt: skip
        functions[label] = function
    return functions


def time_c(function, thetas, n_steps):
    pointer = thetas.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    t = time.perf_counter()
    function(pointer, thetas.shape[0], 1e-4, MOMENTUM, 1.0, 100.0, n_steps,
             numba.get_num_threads())  # fmt: skip
    return time.perf_counter() - t


def batched(n_starts, n_steps, rounds):
    n_starts -= n_starts % BLOCK  # whole blocks for the SIMD baseline
    rng = np.random.default_rng(0)
    starts = rng.uniform([-1.5, -0.5], [1.5, 2.0], size=(n_starts, 2))
    hp = {"lr": 1e-4, "momentum": MOMENTUM}
    odeopt.run_batch("nesterov", "rosenbrock", starts[:4], [hp], steps=10)
    hand_nesterov_batch(starts[:4].copy(), 1e-4, MOMENTUM, 1.0, 100.0, 10)
    hand_nesterov_blocks(starts[:BLOCK].copy(), 1e-4, MOMENTUM, 1.0, 100.0, 10)
    c_functions = c_baselines()
    for function in c_functions.values():
        time_c(function, starts[:BLOCK].copy(), 10)
    work = n_starts * n_steps
    rates = {"ode": [], "hand": [], "blocks": [], **{k: [] for k in c_functions}}
    ratios = {k: [] for k in rates}
    for _ in range(rounds):
        result = odeopt.run_batch("nesterov", "rosenbrock", starts, [hp], steps=n_steps)
        times = {"ode": result.wall_time_s}
        thetas = starts.copy()
        t = time.perf_counter()
        hand_nesterov_batch(thetas, 1e-4, MOMENTUM, 1.0, 100.0, n_steps)
        times["hand"] = time.perf_counter() - t
        blocks = starts.copy()
        t = time.perf_counter()
        hand_nesterov_blocks(blocks, 1e-4, MOMENTUM, 1.0, 100.0, n_steps)
        times["blocks"] = time.perf_counter() - t
        # Same roundings, same bits: odeopt's lanes, the hand-written loops and C
        # without FMA; with FMA, C rounds differently.
        assert np.array_equal(result.final_theta[0], thetas)
        assert np.array_equal(blocks, thetas)
        for label, function in c_functions.items():
            in_c = starts.copy()
            times[label] = time_c(function, in_c, n_steps)
            if label == "no FMA":
                assert np.array_equal(in_c, thetas)
            else:
                assert np.allclose(in_c, thetas, rtol=1e-6, atol=1e-9)
        for name, seconds in times.items():
            rates[name].append(work / seconds)
            ratios[name].append(times["ode"] / seconds)  # odeopt's time / theirs
    rate = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"\n2. Batched: {n_starts:.0e} starts x {n_steps:.0e} steps, "
        f"{numba.get_num_threads()} threads (trajectory-steps/s; odeopt's rate "
        "relative to each)"
    )
    labels = {
        "FMA": "C, OpenMP + SIMD blocks (gcc -O3)",
        "no FMA": "C, the same, -ffp-contract=off",
        "blocks": f"hand-written prange, SIMD blocks of {BLOCK}",
        "hand": "hand-written prange, one start each",
        "ode": "odeopt.run_batch",
    }
    for name, label in labels.items():
        if name in rate:
            relative = 1.0 / statistics.median(ratios[name])
            print(f"     {label:<38} {rate[name]:9.3g}   odeopt {relative:.2f}x")
    if not c_functions:
        print("     (no C compiler with OpenMP found: the C baselines were skipped)")


def _time_command(argv, env):
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def startup(rounds):
    env = dict(os.environ)
    # As a user's shell would: Python caches bytecode (some sandboxes turn that off,
    # which would time odeopt compiling its own sources on every start).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    odeopt_cmd = [sys.executable, "-m", "odeopt"]
    commands = {
        "import numba, numpy": [sys.executable, "-c", "import numba, numpy"],
        "odeopt --help": [*odeopt_cmd, "--help"],
        "odeopt list": [*odeopt_cmd, "list"],
        "odeopt run (warm)": [
            *odeopt_cmd,
            "run",
            "--optimizer",
            "nesterov",
            "--surface",
            "rosenbrock",
            "--quiet",
        ],
    }
    _time_command(commands["odeopt run (warm)"], env)  # make sure the cache is warm
    times = {k: [] for k in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(_time_command(argv, env))
    base = times["import numba, numpy"]
    print(f"\n3. Start-up (whole processes, median of {rounds})")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(f"     {name:<28}  {statistics.median(values):6.3f} s   {ratio:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=100_000)
    parser.add_argument("--batch-steps", type=int, default=1000)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (a smoke run)"
    )
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds, args.starts, args.batch_steps = 100_000, 2, 2_048, 200
    print(
        f"odeopt benchmark — numba {numba.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    single_trajectory(args.steps, args.rounds)
    batched(args.starts, args.batch_steps, args.rounds)
    startup(args.rounds)


if __name__ == "__main__":
    main()
