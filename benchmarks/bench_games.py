"""A game step against a hand-written ``@njit`` loop of the same method.

    python benchmarks/bench_games.py [--rounds 5] [--steps 2000000]

Each contender takes the same steps from the same start on the 1-D Dirac GAN with the
non-saturating loss (θ, φ) and on the bilinear game θφ; odeopt's time is the run's
stepping time (``wall_time_s``, one record at the end), the loop's the call's.  The
loops are transcriptions of the updates with the field written inline, so they are
the fastest a plain numba loop does.  Rounds are round-robin (machine load hits every
contender alike); printed are the median ns per step and the median of the per-round
ratios odeopt / loop (target: <= 1.3).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numba
import numpy as np

import odeopt


@numba.njit(cache=True)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(cache=True)
def hand_alternating_ns(theta, phi, lr, n):
    """Alternating GDA on the 1-D non-saturating Dirac GAN (generator first)."""
    for _ in range(n):
        theta = theta + lr * (1.0 - _sigmoid(theta * phi)) * phi
        phi = phi - lr * _sigmoid(theta * phi) * theta
    return theta, phi


@numba.njit(cache=True)
def hand_extragradient_ns(theta, phi, lr, n):
    """Extragradient on the 1-D non-saturating Dirac GAN."""
    for _ in range(n):
        s = _sigmoid(theta * phi)
        t_look = theta + lr * (1.0 - s) * phi
        p_look = phi - lr * s * theta
        s = _sigmoid(t_look * p_look)
        theta, phi = theta + lr * (1.0 - s) * p_look, phi - lr * s * t_look
    return theta, phi


@numba.njit(cache=True)
def hand_simultaneous_bilinear(x, y, lr, n):
    """Simultaneous GDA on f = xy (F = (y, −x))."""
    for _ in range(n):
        x, y = x - lr * y, y + lr * x
    return x, y


CASES = {
    "alternating-gda, dirac-gan-ns (1-D)": (
        "alternating-gda", "dirac-gan-ns", 2, hand_alternating_ns, 1e-3
    ),
    "extragradient, dirac-gan-ns (1-D)": (
        "extragradient", "dirac-gan-ns", 2, hand_extragradient_ns, 1e-3
    ),
    "gda, bilinear-game": ("gda", "bilinear-game", None, hand_simultaneous_bilinear,
                           1e-6),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2_000_000)
    args = parser.parse_args()
    n = args.steps
    for title, (method, surface, dim, hand, lr) in CASES.items():
        problem = odeopt.problem(method, surface, dim=dim, lr=lr, steps=n,
                                 record_every=n)  # fmt: skip
        start = problem.x0
        odeopt.run(problem.replace(steps=10))  # load or compile
        hand(start[0], start[1], lr, 10)
        ours, theirs = [], []
        for _ in range(args.rounds):
            traj = odeopt.run(problem)
            ours.append(traj.meta["wall_time_s"] / n * 1e9)
            tic = time.perf_counter()
            end = hand(start[0], start[1], lr, n)
            theirs.append((time.perf_counter() - tic) / n * 1e9)
            # the same method: the same numbers
            assert np.allclose(traj.final_theta, end, rtol=1e-9, atol=1e-12), (
                traj.final_theta,
                end,
            )
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        print(
            f"{title:<40} odeopt {statistics.median(ours):6.2f} ns/step   "
            f"@njit loop {statistics.median(theirs):6.2f} ns/step   ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
