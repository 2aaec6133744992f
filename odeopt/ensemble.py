r"""Ensembles: one noisy problem on M independent noise paths, as one batch.

With gradient noise a run is one sample path of a stochastic process; what the
continuous model predicts (the stochastic modified equation of Li, Tai & E 2017,
"Stochastic modified equations and adaptive stochastic gradient algorithms") are
laws: :math:`\mathbb E[L(\theta_k)]`, the spread of :math:`\theta_k`.
:func:`run_ensemble` runs the problem's start on paths ``first_path``,
``first_path + 1``, ... in the SIMD lanes of :func:`odeopt.run_batch` (each path
equal, bit for bit, to ``odeopt.run(problem.replace(path=p))``), records them on a
coarse grid of steps, and gives the per-record mean and quantiles and the law of the
final loss.  ``odeopt run --paths M`` prints :meth:`Ensemble.summary`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._problem import Problem
from .errors import RunError

#: Files an ensemble is saved to.
FORMATS = (".npz", ".json")
#: Quantiles reported by :meth:`Ensemble.summary`.
SUMMARY_QUANTILES = (0.05, 0.5, 0.95)
# Recorded paths are kept under this many bytes (θ of every path at every record).
_RECORD_BYTES = 256 * 2**20


def choose_records(steps: int, n_paths: int, dim: int, records: int) -> int:
    """The recording interval: about ``records`` records of every path, fewer when
    ``n_paths × records × dim`` doubles would pass 256 MiB."""
    if steps <= 0:
        return 1
    affordable = max(1, _RECORD_BYTES // (8 * max(1, n_paths) * (dim + 1)))
    wanted = max(1, min(int(records), affordable, steps))
    return max(1, -(-steps // wanted))


@dataclass
class Ensemble:
    """M noise paths of one problem, recorded at the same steps.

    Attributes
    ----------
    problem : Problem
        The problem (its ``path`` is the first path's).
    paths : ndarray, shape (M,)
        The noise path of each member.
    step, t : ndarray, shape (R,)
        The recorded steps and their times on the problem's model clock.
    theta : ndarray, shape (M, R, dim)
        The recorded iterates (NaN after a member stopped).
    loss : ndarray, shape (M, R)
        Their losses.
    final_theta : ndarray, shape (M, dim)
    final_loss, steps_done, status : ndarray, shape (M,)
        Where and how each member ended.
    wall_time_s : float
        Time spent stepping (compilation excluded).
    """

    problem: Problem
    paths: np.ndarray
    step: np.ndarray
    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    final_theta: np.ndarray
    final_loss: np.ndarray
    steps_done: np.ndarray
    status: np.ndarray
    wall_time_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_paths(self) -> int:
        """M, the number of members."""
        return int(self.paths.shape[0])

    def loss_mean(self) -> np.ndarray:
        """:math:`\\frac1M\\sum_m L(\\theta^{(m)}_k)` at each record (members that
        stopped before a record are left out of it)."""
        return np.nanmean(self.loss, axis=0)

    def loss_quantiles(self, q) -> np.ndarray:
        """Quantiles ``q`` of the loss at each record, shape ``(len(q), R)``."""
        return np.nanquantile(self.loss, np.atleast_1d(q), axis=0)

    def theta_mean(self) -> np.ndarray:
        """The mean iterate at each record, shape ``(R, dim)``."""
        return np.nanmean(self.theta, axis=0)

    def theta_quantiles(self, q) -> np.ndarray:
        """Quantiles ``q`` of each coordinate at each record, ``(len(q), R, dim)``."""
        return np.nanquantile(self.theta, np.atleast_1d(q), axis=0)

    def summary(self) -> dict[str, Any]:
        """The law of the final loss over the members that did not diverge.

        ``mean`` with its standard deviation ``std`` (the spread of the ensemble)
        and standard error ``sem = std/√M`` (the Monte-Carlo error of the mean), the
        ``SUMMARY_QUANTILES``, and the count of each status.
        """
        finite = self.final_loss[np.isfinite(self.final_loss)]
        diverged = self.status == "diverged"
        kept = self.final_loss[~diverged & np.isfinite(self.final_loss)]
        n = kept.size
        std = float(np.std(kept, ddof=1)) if n > 1 else float("nan")
        statuses, counts = np.unique(self.status, return_counts=True)
        return {
            "paths": self.n_paths,
            "first_path": int(self.paths[0]),
            "seed": self.problem.seed,
            "noise": None
            if self.problem.noise is None
            else self.problem.noise.as_dict(),
            "steps": self.problem.steps,
            "t_final": float(self.t[-1]),
            "final_loss": {
                "mean": float(np.mean(kept)) if n else float("nan"),
                "std": std,
                "sem": std / math.sqrt(n) if n > 1 else float("nan"),
                "quantiles": {
                    f"{q:g}": float(np.quantile(kept, q)) if n else float("nan")
                    for q in SUMMARY_QUANTILES
                },
                "min": float(np.min(finite)) if finite.size else float("nan"),
                "max": float(np.max(finite)) if finite.size else float("nan"),
                "members": int(n),
            },
            "final_theta_mean": np.mean(self.final_theta[~diverged], axis=0).tolist()
            if n
            else None,
            "status": {str(s): int(c) for s, c in zip(statuses, counts, strict=True)},
            "wall_time_s": self.wall_time_s,
            "path_steps_per_s": float(np.sum(self.steps_done)) / self.wall_time_s
            if self.wall_time_s > 0
            else None,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` (every array, the metadata as JSON text) or ``.json``
        (the metadata, :meth:`summary` and the per-record mean and quantiles),
        atomically."""
        from .trajectory import atomic_output, check_output_path, dumps

        path = check_output_path(path, FORMATS)
        quantiles = self.loss_quantiles(SUMMARY_QUANTILES)
        with atomic_output(path) as tmp:
            if path.suffix.lower() == ".npz":
                with open(tmp, "wb") as handle:
                    np.savez_compressed(
                        handle,
                        meta=np.array(dumps(self.meta)),
                        summary=np.array(dumps(self.summary())),
                        paths=self.paths,
                        step=self.step,
                        t=self.t,
                        theta=self.theta,
                        loss=self.loss,
                        final_theta=self.final_theta,
                        final_loss=self.final_loss,
                        steps_done=self.steps_done,
                        status=self.status.astype(str),
                    )
            else:
                record = {
                    "meta": self.meta,
                    "summary": self.summary(),
                    "step": self.step,
                    "t": self.t,
                    "loss_mean": self.loss_mean(),
                    "loss_quantiles": {
                        f"{q:g}": row
                        for q, row in zip(SUMMARY_QUANTILES, quantiles, strict=True)
                    },
                }
                tmp.write_text(dumps(record) + "\n")
        return path


def run_ensemble(
    problem: Problem,
    paths: int = 1000,
    *,
    first_path: int | None = None,
    records: int = 200,
) -> Ensemble:
    """Run ``problem`` on ``paths`` independent noise paths from its start.

    Parameters
    ----------
    problem : Problem
        A problem with noise (:func:`odeopt.problem` with ``noise=...``); its
        ``record_every`` is replaced by a grid of about ``records`` records.
    paths : int
        M >= 1, the number of members.
    first_path : int, optional
        The members follow paths ``first_path, ..., first_path + M - 1`` (default:
        the problem's own path), so member m equals
        ``odeopt.run(problem.replace(path=first_path + m))`` bit for bit.
    records : int
        About how many records of each member to keep.

    Raises
    ------
    RunError
        No noise (every path would be the same run), or ``paths`` < 1.
    """
    from ._random import MAX_PATH
    from .stepper import run_batch

    if isinstance(paths, bool) or int(paths) != paths or int(paths) < 1:
        raise RunError(f"paths must be a whole number >= 1, got {paths!r}")
    if problem.noise is None:
        raise RunError(
            "an ensemble needs gradient noise (noise='iso:0.5', ...): without it "
            "every path is the same run"
        )
    n = int(paths)
    first = problem.path if first_path is None else int(first_path)
    if first < 0 or first + n - 1 > MAX_PATH:
        raise RunError(f"paths {first}..{first + n - 1} leave [0, {MAX_PATH}]")
    every = choose_records(problem.steps, n, problem.dim, records)
    base = problem.replace(record_every=every)
    ids = np.arange(first, first + n, dtype=np.int64)
    batch = run_batch(base, np.tile(base.x0, (n, 1)), paths=ids)
    step = batch.step if batch.step is not None else np.array([0])
    model = base.chosen_model
    t = model.step_times(step, base.optimizer.full_hp)
    dim = base.dim
    theta = (
        batch.theta[0]
        if batch.theta is not None
        else np.broadcast_to(base.x0, (n, 1, dim)).copy()
    )
    loss = (
        batch.loss[0]
        if batch.loss is not None
        else np.full((n, 1), base.surface.value(base.x0))
    )
    meta = {**base.meta(), "paths": n, "first_path": first}
    meta["record_every"] = every
    return Ensemble(
        problem=base,
        paths=ids,
        step=np.asarray(step),
        t=np.asarray(t, dtype=float),
        theta=theta,
        loss=loss,
        final_theta=batch.final_theta[0],
        final_loss=batch.final_loss[0],
        steps_done=batch.steps_done[0],
        status=batch.status[0],
        wall_time_s=batch.wall_time_s,
        meta=meta,
    )


__all__ = ["Ensemble", "choose_records", "run_ensemble"]
