"""Order of agreement between a discrete optimizer and its continuous model.

:func:`check_order` halves the model's time step ``h`` (at fixed ODE parameters, through
``Model.inverse``) ``levels`` times, runs the discrete optimizer for ``n = round(T/h)``
steps, and compares it with the reference solution at ``t = n·h`` — not at ``T``, so
that rounding ``n`` does not pollute the orders.  Models whose ODE has
coefficients of order ``h`` (modified equations, high-resolution ODEs) list them among
their parameters: levels with different parameters (other than ``h``) get their own
reference solve, each level against the ODE at its own hyperparameters.  Two-step
optimizers can start consistently (``init="consistent"``, see :func:`odeopt.run`),
which second-order models need.  The observed order is the
least-squares slope of log error against log h over the finest levels, where the
asymptotic regime holds, and it passes when it is within ``tolerance`` of the order the
model declares: by default a quarter of the declared order, at most 0.25 (an absolute
±0.25 would accept anything from 0.25 to 0.75 for a method of order 0.5).  A failed
check says why when it can tell: levels longer than the horizon, runs that diverged,
or errors that grow as h shrinks (steps past the method's stability limit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .optimizers._base import HyperparameterError
from .reference import DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, describe, solve
from .stepper import (
    DEFAULT_INIT,
    check_init,
    check_start,
    resolve_optimizer,
    resolve_surface,
    run,
)

DEFAULT_LEVELS = 6
#: The largest default tolerance, and its fraction of the declared order.
DEFAULT_TOLERANCE = 0.25
RELATIVE_TOLERANCE = 0.25
DEFAULT_HORIZON = 1.0


@dataclass
class OrderCheck:
    """The result of :func:`check_order`.

    ``rows`` holds one dict per level: ``h``, ``steps``, ``t`` (= steps·h), ``error``,
    ``ratio`` (previous error / this error) and ``local_order`` (log₂ of the ratio).
    """

    optimizer: str
    surface: str
    model: str
    ode: str
    init: str
    declared_order: float
    fitted_order: float
    tolerance: float
    fit_levels: int
    passed: bool
    horizon: float
    rows: list[dict[str, float]]
    reference: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    hyperparameters: list[dict[str, Any]] = field(default_factory=list)
    why: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "optimizer": self.optimizer,
            "surface": self.surface,
            "model": self.model,
            "ode": self.ode,
            "init": self.init,
            "declared_order": self.declared_order,
            "fitted_order": self.fitted_order,
            "tolerance": self.tolerance,
            "fit_levels": self.fit_levels,
            "passed": self.passed,
            "horizon": self.horizon,
            "rows": self.rows,
            "reference": self.reference,
            "note": self.note,
            "hyperparameters": self.hyperparameters,
            "why": self.why,
        }

    def table(self) -> str:
        """The human-readable table."""
        lines = [
            (
                f"{'h':>12} {'steps':>9} {'t = n·h':>10} {'error':>12} {'ratio':>8} "
                f"{'local order':>12}"
            )
        ]
        for row in self.rows:
            ratio = "" if row["ratio"] is None else f"{row['ratio']:8.3f}"
            local = "" if row["local_order"] is None else f"{row['local_order']:12.3f}"
            lines.append(
                f"{row['h']:12.5g} {row['steps']:9d} {row['t']:10.5g} "
                f"{row['error']:12.4e} {ratio:>8} {local:>12}"
            )
        return "\n".join(lines)


def fit_order(h: np.ndarray, error: np.ndarray) -> float:
    """Least-squares slope of log(error) against log(h)."""
    h, error = np.asarray(h, dtype=float), np.asarray(error, dtype=float)
    slope, _ = np.polyfit(np.log(h), np.log(error), 1)
    return float(slope)


def default_tolerance(declared: float) -> float:
    """The accepted ``|fitted − declared|``: ``RELATIVE_TOLERANCE`` of the declared
    order, at most ``DEFAULT_TOLERANCE``."""
    return min(DEFAULT_TOLERANCE, RELATIVE_TOLERANCE * abs(declared))


def diagnose(rows: list[dict[str, Any]], horizon: float, n_fit: int) -> list[str]:
    """Why a check's levels cannot show the order, in sentences (empty when no
    reason shows in the rows)."""
    why = []
    long = [r for r in rows if r["steps"] == 1 and r["t"] > 1.5 * horizon]
    if long:
        hs = ", ".join(f"{r['h']:.3g}" for r in long)
        why.append(
            f"h = {hs} {'is' if len(long) == 1 else 'are'} longer than the horizon "
            f"T = {horizon:g}: one step each, compared at t = n·h ≠ T; choose a "
            "smaller coarsest step (--lr) or a longer horizon"
        )
    bad = [r for r in rows if r.get("status") == "diverged" or not r["error"] < 1e300]
    if bad:
        hs = ", ".join(f"{r['h']:.3g}" for r in bad)
        why.append(
            f"the runs at h = {hs} diverged: past the method's stability limit; "
            "choose a smaller coarsest step (--lr)"
        )
    growing = [
        r
        for r in rows[-n_fit:][1:]
        if r["local_order"] is not None and r["local_order"] < 0
    ]
    if growing:
        hs = ", ".join(f"{r['h']:.3g}" for r in growing)
        why.append(
            f"the error grows as h shrinks (to h = {hs}) among the fitted levels: "
            "the coarse steps are outside the asymptotic regime (past the stability "
            "limit, or transients); choose a smaller coarsest step (--lr) or more "
            "levels"
        )
    return why


def _same_parameters(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal ODE parameters apart from the step ``h`` (to rounding)."""
    keys = set(a) - {"h"}
    if keys != set(b) - {"h"}:
        return False
    for key in keys:
        x, y = a[key], b[key]
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-300):
                return False
        elif x != y:
            return False
    return True


def check_order(
    optimizer: Any,
    surface: Any,
    *,
    model: str | None = None,
    init: str = DEFAULT_INIT,
    horizon: float | None = None,
    levels: int | None = None,
    h0: float | None = None,
    tolerance: float | None = None,
    fit_levels: int | None = None,
    x0: Any = None,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
    method: str = DEFAULT_METHOD,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    progress: Callable[[int, int, int, int], None] | None = None,
    game: Mapping[str, Any] | None = None,
    **hyperparameters: Any,
) -> OrderCheck:
    """Measure the order of agreement of ``optimizer`` with its ``model``.

    Parameters
    ----------
    optimizer, surface : str
        Names (or registry objects).
    model : str, optional
        The model to check (default: the optimizer's first).
    init : {"pytorch", "consistent"}
        The start-up of every discrete run (see :func:`odeopt.run`); the declared
        order may depend on it.
    horizon : float, optional
        ODE time ``T`` of the comparison (default: the model's regime, else 1).
    levels : int, optional
        Number of halvings: ``levels + 1`` step sizes ``h0, h0/2, ...`` (default: the
        model's regime, else 6).
    h0 : float, optional
        The coarsest step; default the model's step at the given (or default)
        hyperparameters.
    tolerance : float, optional
        Largest accepted ``|fitted − declared|`` (default
        :func:`default_tolerance` of the declared order).
    fit_levels : int, optional
        How many of the finest levels the fit uses (default: the finer half, at least 3).
    x0, dim, surface_params, **hyperparameters
        The problem and the hyperparameters that fix the ODE parameters.
    method, rtol, atol
        The reference integrator.
    progress : callable, optional
        Called before each level's run as ``progress(level, n_levels, steps,
        total_steps)`` (the command line reports long checks with it).
    game : mapping, optional
        On a game, :func:`odeopt.run`'s ``play``, ``turns``, ``d_steps`` and ``hp``
        for every level (default: the optimizer's play, one rate for all players).
    """
    if tolerance is not None and not (tolerance > 0):
        raise HyperparameterError(f"tolerance must be > 0, got {tolerance}")
    check_init(init)
    bound_surface = resolve_surface(surface, dim, surface_params, x0)
    base = resolve_optimizer(optimizer, bound_surface, hyperparameters)
    chosen = base.optimizer.model(model)
    if chosen.check_regime is not None:
        # the model's regime fills in what the user left unset
        given = {k: v for k, v in base.hp.items() if hyperparameters.get(k) is not None}
        regime = chosen.check_regime(given, bound_surface)
        settings = {**regime.get("hp", {}), **hyperparameters}
        base = resolve_optimizer(base.optimizer, bound_surface, settings)
        horizon = regime.get("horizon") if horizon is None else horizon
        levels = regime.get("levels") if levels is None else levels
    horizon_is_default = horizon is None
    horizon = DEFAULT_HORIZON if horizon is None else horizon
    levels = DEFAULT_LEVELS if levels is None else levels
    if levels < 2:
        raise HyperparameterError(f"levels must be >= 2, got {levels}")
    if not (horizon > 0 and math.isfinite(horizon)):
        raise HyperparameterError(f"horizon must be a positive number, got {horizon}")
    start = check_start(x0, bound_surface)
    ode = chosen.parameters(base.full_hp)
    h0 = float(ode["h"]) if h0 is None else float(h0)
    if not (h0 > 0 and math.isfinite(h0)):
        raise HyperparameterError(f"h0 must be a positive number, got {h0}")
    n_fit = fit_levels if fit_levels is not None else max(3, (levels + 2) // 2)
    n_fit = min(n_fit, levels + 1)

    def measure(horizon):
        runs, settings, bounds = [], [], []
        counts = [max(1, round(horizon / (h0 / 2**j))) for j in range(levels + 1)]
        for j in range(levels + 1):
            h = h0 / 2**j
            steps = counts[j]
            if progress is not None:
                progress(j, levels + 1, steps, sum(counts))
            try:
                level = base.optimizer.bind(
                    bound_surface, **chosen.inverse(h, ode, base.hp)
                )
            except HyperparameterError as error:
                raise HyperparameterError(
                    f"h = {h:.3g} maps to invalid hyperparameters ({error}); choose a "
                    f"smaller h0 or a shorter horizon"
                ) from None
            traj = run(
                level,
                bound_surface,
                x0=start,
                steps=steps,
                record_every=steps,
                model=chosen.name,
                init=init,
                **dict(game or {}),
            )
            runs.append((h, steps, traj))
            settings.append(dict(level.hp))
            bounds.append(level)

        # One reference per distinct set of ODE parameters (one in all when the
        # refinement keeps them fixed), each sampled at the final times of its levels.
        groups: list[tuple[dict[str, Any], Any, list[int]]] = []
        for j, level in enumerate(bounds):
            params = chosen.parameters(level.full_hp)
            for group_params, _, members in groups:
                if _same_parameters(params, group_params):
                    members.append(j)
                    break
            else:
                groups.append((params, level, [j]))
        ref_at = np.empty((len(runs), bound_surface.dim))
        ref_infos = []
        for _, owner, members in groups:
            times = np.array([runs[j][2].t[-1] for j in members])
            order = np.argsort(times, kind="stable")
            ref = solve(
                owner,
                bound_surface,
                start,
                np.concatenate([[0.0], times[order]]),
                chosen,
                method=method,
                rtol=rtol,
                atol=atol,
            )
            ref_at[np.asarray(members)[order]] = ref.theta[1:]
            ref_infos.append(ref.info)
        info = dict(ref_infos[0])
        if len(ref_infos) > 1:
            info["nfev"] = sum(i["nfev"] for i in ref_infos)
            info["wall_time_s"] = sum(i["wall_time_s"] for i in ref_infos)
            info["ode_parameters"] = [i["ode_parameters"] for i in ref_infos]
        info["solves"] = len(ref_infos)

        rows = []
        for j, (h, steps, traj) in enumerate(runs):
            with np.errstate(all="ignore"):
                error = float(np.linalg.norm(traj.final_theta - ref_at[j]))
            row = {
                "h": h,
                "steps": steps,
                "t": float(traj.t[-1]),
                "error": error,
                "ratio": None,
                "local_order": None,
                "status": traj.status.value,
            }
            if j > 0 and error > 0 and rows[-1]["error"] > 0:
                row["ratio"] = rows[-1]["error"] / error
                row["local_order"] = (
                    math.log2(row["ratio"]) if row["ratio"] > 0 else None
                )
            rows.append(row)
        return rows, info, settings

    rows, info, settings = measure(horizon)
    note = ""
    if horizon_is_default:
        # Runs that reach the minimum long before T leave errors at rounding level,
        # where no order can be measured: shorten the horizon instead.
        scale = max(1.0, float(np.linalg.norm(start)))
        for _ in range(3):
            if not rows[0]["error"] < 1e-7 * scale:
                break
            horizon /= 8.0
            rows, info, settings = measure(horizon)
            note = (
                f"horizon shortened to T = {horizon:.3g}: at longer horizons the runs "
                "reach the minimum and the errors sit at rounding level"
            )

    finest = rows[-n_fit:]
    errors = np.array([r["error"] for r in finest])
    if np.all(np.isfinite(errors)) and np.all(errors > 0):
        fitted = fit_order([r["h"] for r in finest], errors)
    else:
        fitted = float("nan")
    declared = chosen.declared_order({**base.full_hp, "init": init})
    if tolerance is None:
        tolerance = default_tolerance(declared)
    passed = bool(abs(fitted - declared) <= tolerance)
    return OrderCheck(
        optimizer=base.name,
        surface=bound_surface.name,
        model=chosen.name,
        ode=chosen.ode,
        init=init,
        declared_order=declared,
        fitted_order=fitted,
        tolerance=tolerance,
        fit_levels=n_fit,
        passed=passed,
        horizon=horizon,
        rows=rows,
        reference={
            **info,
            "description": describe(info)
            + (f" in {info['solves']} solves" if info["solves"] > 1 else ""),
        },
        hyperparameters=settings,
        note=note,
        why=[] if passed else diagnose(rows, horizon, n_fit),
    )
