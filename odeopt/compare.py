"""Several optimizers from the same start on the same surface, side by side.

``align="steps"`` gives every optimizer the same number of steps; ``align="time"`` the
same ODE time (each optimizer's clock differs: t = k·lr for gd, k·√lr for momentum,
k·lr² for AdaGrad), which is the fair comparison of their continuous models.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._problem import problem, resolve_surface
from .optimizers._base import HyperparameterError
from .registry import get_optimizer
from .stepper import RunError, run
from .surfaces._base import BoundSurface
from .trajectory import Trajectory, atomic_output, check_output_path, dumps

#: Files a comparison is saved to.
FORMATS = (".json", ".csv")
#: The columns of the ``.csv`` file.
CSV_COLUMNS = (
    "optimizer",
    "lr",
    "steps_done",
    "t_final",
    "final_loss",
    "steps_to_tol",
    "status",
)


@dataclass
class Comparison:
    """Runs of several optimizers and their summary rows."""

    trajectories: list[Trajectory]
    rows: list[dict[str, Any]]
    align: str
    tol: float
    surface: BoundSurface
    noise: dict[str, Any] | None = None  # the noise settings, with the seed

    def table(self) -> str:
        """Readable table."""
        head = (
            f"{'optimizer':<10} {'lr':>10} {'steps':>8} {'ODE time':>10} "
            f"{'final loss':>12} {'to tol':>8}  status"
        )
        ensemble = bool(self.rows) and "mean_final_loss" in self.rows[0]
        if ensemble:
            head += f"   mean final loss ± sem over {self.rows[0]['paths']} paths"
        lines = [head]
        for r in self.rows:
            reach = "—" if r["steps_to_tol"] is None else str(r["steps_to_tol"])
            lines.append(
                f"{r['optimizer']:<10} {r['lr']:>10.4g} {r['steps_done']:>8d} "
                f"{r['t_final']:>10.4g} {r['final_loss']:>12.5g} {reach:>8}  {r['status']}"
                + (
                    f"   {r['mean_final_loss']:.5g} ± {r['final_loss_sem']:.2g}"
                    if ensemble
                    else ""
                )
            )
            if "final_distance" in r:  # a game: how far from its equilibrium
                lines[-1] += f"  ‖θ − θ*‖ = {r['final_distance']:.4g}"
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The alignment, the tolerance and the rows (``odeopt compare --json``)."""
        out = {"align": self.align, "tol": self.tol, "rows": self.rows}
        if self.noise is not None:
            out["noise"] = self.noise
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.json`` (:meth:`as_dict`) or ``.csv`` (one row per optimizer).

        Written atomically, like :meth:`Trajectory.save`; a ``.csv`` leaves a missing
        value (a tolerance never reached) empty.
        """
        path = check_output_path(path, FORMATS)
        with atomic_output(path) as tmp:
            if path.suffix.lower() == ".json":
                tmp.write_text(dumps(self.as_dict()) + "\n")
            else:
                lines = [",".join(CSV_COLUMNS)] + [
                    ",".join("" if r[k] is None else str(r[k]) for k in CSV_COLUMNS)
                    for r in self.rows
                ]
                tmp.write_text("\n".join(lines) + "\n")
        return path


def steps_to(traj: Trajectory, threshold: float) -> int | None:
    """First recorded step whose loss is at most ``threshold`` (None if never)."""
    hit = np.nonzero(traj.loss <= threshold)[0]
    return int(traj.step[hit[0]]) if hit.size else None


def compare(
    optimizers: Sequence[str],
    surface: str,
    *,
    steps: int = 10_000,
    align: str = "steps",
    tol: float = 1e-6,
    x0: Any = None,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    reference: bool = False,
    game: Mapping[str, Any] | None = None,
    noise: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    paths: int | None = None,
) -> Comparison:
    """Run ``optimizers`` on ``surface`` from one start.

    ``hyperparameters`` apply to every optimizer that has them (at least one must).
    With ``align="time"``, the first optimizer takes ``steps`` steps and the others as
    many as reach the same ODE time.  ``tol`` is the loss gap above the known minimum
    (or above 0) that "steps to tol" counts to.  On a game, ``game`` holds
    :func:`odeopt.run`'s ``play``, ``turns``, ``d_steps`` and ``hp`` for every
    optimizer (default: each optimizer's own play), and each row adds the final
    distance to the equilibrium.

    With ``noise`` (``"iso:0.5"``, divided by ``batch_size``) every optimizer meets
    the same noise (``seed``, path 0: common random numbers).  With ``paths`` = M,
    each optimizer also runs M paths as one ensemble
    (:func:`odeopt.ensemble.run_ensemble`) and its row gains the mean final loss
    (``mean_final_loss``), its spread (``final_loss_std``) and standard error
    (``final_loss_sem``); the trajectories drawn stay path 0's.
    """
    if paths is not None and noise is None:
        raise RunError("paths needs noise (noise='iso:0.5', ...)")
    if len(optimizers) < 1:
        raise RunError("give at least one optimizer")
    if align not in ("steps", "time"):
        raise RunError(f"align must be steps or time, got {align!r}")
    if not tol > 0:
        raise RunError(f"tol must be > 0, got {tol}")
    bound_surface = resolve_surface(surface, dim, surface_params, x0)
    hyperparameters = dict(hyperparameters or {})
    specs = [get_optimizer(name) for name in optimizers]
    unused = [k for k in hyperparameters if not any(k in s.names() for s in specs)]
    if unused:
        raise HyperparameterError(
            f"no optimizer given has hyperparameter {unused[0]!r}"
        )
    problems = [
        problem(
            spec,
            bound_surface,
            x0=x0,
            steps=steps,
            **dict(game or {}),
            noise=noise,
            batch_size=batch_size,
            seed=seed,
            **{k: v for k, v in hyperparameters.items() if k in spec.names()},
        )
        for spec in specs
    ]
    horizon = None
    trajs = []
    ensembles: list[dict[str, Any]] = []
    for each in problems:
        n = steps
        if align == "time":
            bound = each.optimizer
            model = bound.optimizer.default_model
            if horizon is None:
                horizon = float(model.step_times(np.array([steps]), bound.full_hp)[0])
            h = float(model.step_times(np.array([1]), bound.full_hp)[0])
            n = max(1, round(horizon / h))
        each = each.replace(steps=n, record_every=max(1, n // 20_000))
        trajs.append(run(each, reference=reference))
        if paths is not None:
            from .ensemble import run_ensemble

            ensembles.append(run_ensemble(each, paths).summary()["final_loss"])
    bounds = [each.optimizer for each in problems]
    floor = min((m.value for m in bound_surface.minima), default=0.0)
    rows = []
    for bound, traj in zip(bounds, trajs, strict=True):
        rows.append(
            {
                "optimizer": bound.name,
                "lr": bound.hp["lr"],
                "hyperparameters": dict(bound.hp),
                "steps_done": traj.steps_done,
                "t_final": float(traj.t[-1]),
                "final_loss": traj.final_loss,
                "steps_to_tol": steps_to(traj, floor + tol),
                "status": traj.status.value,
            }
        )
        if bound_surface.surface.players and bound_surface.minima:
            rows[-1]["final_distance"] = float(
                np.linalg.norm(traj.final_theta - bound_surface.minima[0].theta)
            )
    for row, law in zip(rows, ensembles, strict=False):
        row.update(
            paths=paths,
            mean_final_loss=law["mean"],
            final_loss_std=law["std"],
            final_loss_sem=law["sem"],
        )
    shared = problems[0].noise
    return Comparison(
        trajectories=trajs,
        rows=rows,
        align=align,
        tol=tol,
        surface=bound_surface,
        noise=None if shared is None else {**shared.as_dict(), "seed": seed},
    )
