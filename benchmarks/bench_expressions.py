"""Loss formulas against the built-in surfaces, timed in the same run.

    python benchmarks/bench_expressions.py [--rounds 7] [--steps 2000000]

1. Per step: Nesterov on Rosenbrock given as the formula
   ``b*(y - x**2)**2 + (a - x)**2`` (and as the n-D form
   ``sum(b*(x_next - x_i**2)**2 + (a - x_i)**2)``) against the built-in
   ``rosenbrock``, round-robin, stepping time only (``wall_time_s``); the median of
   the per-round ratios (target: <= 1.1x).
2. First use of a new formula (a random coefficient makes it new): the time to parse,
   derive, generate and check it, and the run's set-up (compiling the runner), in a
   fresh process; then a second process with the same formula, which loads the
   generated module and the compiled runner from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys

import odeopt

FORMULA = "b*(y - x**2)**2 + (a - x)**2"
FORMULA_ND = "sum(b*(x_next - x_i**2)**2 + (a - x_i)**2)"
PARAMS = {"a": 1.0, "b": 100.0}
HP = {"lr": 1e-4, "momentum": 0.9}


def per_step(rounds: int, steps: int) -> None:
    contenders = {
        "built-in rosenbrock": "rosenbrock",
        "formula (x, y)": odeopt.Surface.from_expression(FORMULA, params=PARAMS),
        "formula (sum, n-D)": odeopt.Surface.from_expression(FORMULA_ND, params=PARAMS),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for surface in contenders.values():  # compile outside the timing
        odeopt.run("nesterov", surface, x0=[-1.2, 1.0], steps=10, **HP)
    for _ in range(rounds):
        for name, surface in contenders.items():
            traj = odeopt.run(
                "nesterov",
                surface,
                x0=[-1.2, 1.0],
                steps=steps,
                record_every=steps,
                **HP,
            )
            times[name].append(traj.meta["wall_time_s"] / steps)
    base = times["built-in rosenbrock"]
    print(f"\n1. Nesterov on 2-D Rosenbrock, {steps} steps, {rounds} rounds")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(
            f"   {name:<22} {1e9 * statistics.median(values):7.2f} ns/step   "
            f"{ratio:5.3f}x the built-in (median of per-round ratios)"
        )


_CHILD = """
import json, time
t = time.perf_counter()
import odeopt
s = odeopt.Surface.from_expression({formula!r})
made = time.perf_counter() - t
traj = odeopt.run("nesterov", s, x0=[-1.2, 1.0], steps=1000, lr=1e-4, momentum=0.9)
print(json.dumps({{"from_expression_s": made, "setup_s": traj.meta["setup_time_s"],
                  "process_s": time.perf_counter() - t}}))
"""


def first_use() -> None:
    c = random.Random().randint(1, 10**9)
    formula = f"100*(y - x**2)**2 + (1 - x)**2 + {c}e-12*x**2"
    code = _CHILD.format(formula=formula)
    print("\n2. A new formula, then the same formula in a later process")
    for label in ("first use (compiles)", "later process (cache)"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(
            f"   {label:<22} parse+derive+check {result['from_expression_s']:6.2f} s"
            f"   run set-up {result['setup_s']:6.2f} s"
            f"   whole process {result['process_s']:6.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2_000_000)
    args = parser.parse_args()
    per_step(args.rounds, args.steps)
    first_use()


if __name__ == "__main__":
    main()
