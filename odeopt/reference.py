"""The continuous model, solved: a tight-tolerance scipy reference at the discrete times.

:func:`solve` integrates an optimizer's model (:class:`odeopt.optimizers.Model`) with
``scipy.integrate.solve_ivp`` and samples it exactly at the times ``t_k`` of the
discrete steps, so that ``θ_k − θ(t_k)`` is the discretisation error.  The default,
DOP853 at ``rtol = 1e-10``, ``atol = 1e-12``, is tight enough to be a reference for the
first- and second-order agreements odeopt measures; stiff problems can use ``Radau``,
``BDF`` or ``LSODA``.  The method and tolerances are recorded with every result.

Singular starts: a model whose field is singular at t = 0 (AdaGrad from S = 0) declares
a series solution at a small t₀ > 0 (``Model.start``); fields with a finite limit at
t = 0 (Adam's bias corrections) handle it in the field itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .optimizers._base import BoundOptimizer, Model, effective_gradient
from .surfaces._base import BoundSurface

METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
DEFAULT_METHOD = "DOP853"
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-12


class ReferenceError(RuntimeError):
    """The reference integrator did not reach the requested time."""


@dataclass
class Reference:
    """A solution of the continuous model sampled at given times.

    Attributes
    ----------
    t : ndarray, shape (n,)
    theta : ndarray, shape (n, dim)
    z : ndarray, shape (n, state size)
        The whole ODE state (θ and the auxiliary variables of the model).
    loss : ndarray, shape (n,)
    info : dict
        Method, tolerances, evaluations, wall time, model name.
    """

    t: np.ndarray
    theta: np.ndarray
    z: np.ndarray
    loss: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def check_method(method: str, rtol: float, atol: float) -> None:
    """Validate integrator settings (ValueError with the valid choices)."""
    if method not in METHODS:
        raise ValueError(f"unknown integrator {method!r} (valid: {', '.join(METHODS)})")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (value > 0.0 and np.isfinite(value)):
            raise ValueError(f"{name} must be a positive number, got {value}")


def solve(
    optimizer: BoundOptimizer,
    surface: BoundSurface,
    x0: np.ndarray,
    t: np.ndarray,
    model: Model | str | None = None,
    *,
    method: str = DEFAULT_METHOD,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> Reference:
    """Integrate the optimizer's model from ``x0`` and sample it at the times ``t``.

    Parameters
    ----------
    optimizer, surface : BoundOptimizer, BoundSurface
        The hyperparameters (mapped to ODE parameters by the model) and the loss.
    x0 : ndarray, shape (dim,)
        Start point (the discrete run's record 0).
    t : ndarray, shape (n,)
        Non-decreasing sample times, from 0.
    model : Model or str, optional
        Default: the optimizer's first model.
    method, rtol, atol
        ``solve_ivp`` settings.

    Raises
    ------
    ReferenceError
        When the integrator fails (its message is kept).
    """
    from scipy.integrate import solve_ivp

    check_method(method, rtol, atol)
    if not isinstance(model, Model):
        model = optimizer.optimizer.model(model)
    hp = optimizer.full_hp
    ode = model.parameters(hp)
    grad = effective_gradient(surface.grad, hp)
    x0 = np.asarray(x0, dtype=float)
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size == 0 or t[0] < 0 or np.any(np.diff(t) < 0):
        raise ValueError(
            "sample times must be a non-empty, non-decreasing array from 0"
        )
    z_initial = model.initial(x0, grad, ode)
    if model.start is not None:
        t_start, z_start = model.start(x0, grad, ode)
    else:
        t_start, z_start = 0.0, z_initial

    def rhs(time_, z):
        return model.field(time_, z, grad, ode)

    after = t > t_start
    z = np.empty((t.size, z_initial.size))
    z[~after] = z_initial  # t = 0 (and anything before a series start)
    tic = time.perf_counter()
    nfev = 0
    if np.any(after):
        # solve_ivp wants strictly increasing sample times: solve at the distinct ones.
        distinct, back = np.unique(t[after], return_inverse=True)
        with np.errstate(all="ignore"):
            solution = solve_ivp(
                rhs,
                (t_start, float(distinct[-1])),
                z_start,
                method=method,
                t_eval=distinct,
                rtol=rtol,
                atol=atol,
            )
        if solution.status != 0 or solution.y.shape[1] != distinct.size:
            raise ReferenceError(
                f"reference integrator {method} failed at t = {solution.t[-1]:.6g}: "
                f"{solution.message}"
            )
        z[after] = solution.y.T[back]
        nfev = int(solution.nfev)
    dim = x0.size
    theta = z[:, :dim]
    loss = np.array([surface.value(th) for th in theta])
    info = {
        "model": model.name,
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "t_start": t_start,
        "nfev": nfev,
        "wall_time_s": time.perf_counter() - tic,
        "ode_parameters": ode,
    }
    return Reference(t=t, theta=theta, z=z, loss=loss, info=info)


def discrepancy(theta: np.ndarray, reference_theta: np.ndarray) -> np.ndarray:
    """Euclidean distance between discrete and reference points at each record."""
    with np.errstate(all="ignore"):
        return np.linalg.norm(np.asarray(theta) - np.asarray(reference_theta), axis=1)


def describe(info: Mapping[str, Any]) -> str:
    """One line: ``DOP853, rtol 1e-10, atol 1e-12, 1234 evaluations``."""
    return (
        f"{info['method']}, rtol {info['rtol']:g}, atol {info['atol']:g}, "
        f"{info['nfev']} evaluations"
    )
