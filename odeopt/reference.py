"""The continuous model, solved: a tight-tolerance scipy reference at the discrete times.

:func:`solve` integrates an optimizer's model (:class:`odeopt.optimizers.Model`) with
``scipy.integrate.solve_ivp`` and samples it exactly at the times ``t_k`` of the
discrete steps, so that ``θ_k − θ(t_k)`` is the discretisation error.  The default,
DOP853 at ``rtol = 1e-10``, ``atol = 1e-12``, is tight enough to be a reference for the
first- and second-order agreements odeopt measures.  The default method ``auto`` runs
DOP853 and switches to Radau when the problem turns out stiff (adaptive methods near a
minimum behave like the discontinuous sign flow; DOP853 then needs millions of steps,
Radau thousands); ``Radau``, ``BDF``, ``LSODA`` and the explicit methods can be chosen.
The method actually used and the tolerances are recorded with every result.

Singular starts: a model whose field is singular at t = 0 (AdaGrad from S = 0) declares
a series solution at a small t₀ > 0 (``Model.start``); fields with a finite limit at
t = 0 (Adam's bias corrections) handle it in the field itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ReferenceError, RunError
from .optimizers._base import BoundOptimizer, Model, effective_gradient
from .surfaces._base import BoundSurface

METHODS = ("auto", "DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
DEFAULT_METHOD = "auto"
#: ``auto`` runs DOP853 and, past this many field evaluations per unit of the
#: integration interval (and at least EVALUATION_FLOOR), treats the problem as stiff
#: and solves it again with Radau (implicit; LSODA was faster on some of these problems
#: but stalled for minutes on others, and Radau, unlike LSODA, can be stopped).
STIFF_EVALUATIONS = 20_000
EVALUATION_FLOOR = 200_000


class _TooManyEvaluations(Exception):
    pass


DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-12


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
    """Validate integrator settings (RunError with the valid choices)."""
    if method not in METHODS:
        raise RunError(f"unknown integrator {method!r} (valid: {', '.join(METHODS)})")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (value > 0.0 and np.isfinite(value)):
            raise RunError(f"{name} must be a positive number, got {value}")


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
    rhs = model_rhs(model, surface, hp, ode)
    x0 = np.asarray(x0, dtype=float)
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size == 0 or t[0] < 0 or np.any(np.diff(t) < 0):
        raise RunError("sample times must be a non-empty, non-decreasing array from 0")
    z_initial = model.initial(x0, grad, ode)
    if model.start is not None:
        t_start, z_start = model.start(x0, grad, ode)
    else:
        t_start, z_start = 0.0, z_initial

    after = t > t_start
    z = np.empty((t.size, z_initial.size))
    z[~after] = z_initial  # t = 0 (and anything before a series start)
    tic = time.perf_counter()
    nfev = 0
    used, note = ("DOP853" if method == "auto" else method), ""
    if np.any(after):
        # solve_ivp wants strictly increasing sample times: solve at the distinct ones.
        distinct, back = np.unique(t[after], return_inverse=True)
        span = (t_start, float(distinct[-1]))

        def integrate(name, fun):
            with np.errstate(all="ignore"):
                return solve_ivp(
                    fun,
                    span,
                    z_start,
                    method=name,
                    t_eval=distinct,
                    rtol=rtol,
                    atol=atol,
                )

        if method == "auto" and model.preferred_method is not None:
            used = model.preferred_method
            note = f"model {model.name} prefers {used} (stiff near minima)"
            solution = integrate(used, rhs)
        elif method == "auto":
            # DOP853 first; a stiff or sliding (sign-flow-like) problem makes it take
            # tiny steps for ever: past a budget, switch to Radau.
            budget = max(EVALUATION_FLOOR, int(STIFF_EVALUATIONS * (span[1] - span[0])))
            count = [0]

            def counted(time_, z_):
                count[0] += 1
                if count[0] > budget:
                    raise _TooManyEvaluations
                return rhs(time_, z_)

            try:
                solution = integrate("DOP853", counted)
            except _TooManyEvaluations:
                used = "Radau"
                note = f"DOP853 stopped after {budget} evaluations (stiff): Radau"
                count[0], budget = 0, 10 * budget
                try:
                    solution = integrate("Radau", counted)
                except _TooManyEvaluations:
                    raise ReferenceError(
                        "reference integrator: DOP853 and Radau both exceeded their "
                        "evaluation budgets; try --method LSODA or a shorter run"
                    ) from None
        else:
            solution = integrate(method, rhs)
        if solution.status != 0 or solution.y.shape[1] != distinct.size:
            reached = solution.t[-1] if len(solution.t) else span[0]
            raise ReferenceError(
                f"reference integrator {used} failed after t = {reached:.6g} (last "
                f"sample reached; the flow may blow up): {solution.message}"
            )
        z[after] = solution.y.T[back]
        nfev = int(solution.nfev)
    dim = x0.size
    theta = z[:, :dim]
    if model.observe is not None:  # integrated in another coordinate (log θ)
        theta = np.asarray(model.observe(theta, ode), dtype=float)
    loss = np.array([surface.value(th) for th in theta])
    info = {
        "model": model.name,
        "method": used,
        "requested_method": method,
        "stiffness_note": note,
        "rtol": rtol,
        "atol": atol,
        "t_start": t_start,
        "nfev": nfev,
        "wall_time_s": time.perf_counter() - tic,
        "ode_parameters": ode,
    }
    return Reference(t=t, theta=theta, z=z, loss=loss, info=info)


def effective_hessian(hess: Callable[[np.ndarray], np.ndarray], hp: Mapping[str, Any]):
    """The Jacobian of :func:`~odeopt.optimizers._base.effective_gradient`.

    ``±∇²L + w·I``: the sign of ``maximize`` and the L2 ``weight_decay`` (not the
    decoupled one), consistently with the effective gradient ``±∇L + wθ``.
    """
    sign = -1.0 if hp.get("maximize", False) else 1.0
    decay = (
        0.0 if hp.get("decoupled_weight_decay") else float(hp.get("weight_decay", 0.0))
    )

    def effective(theta: np.ndarray) -> np.ndarray:
        h = sign * np.asarray(hess(theta), dtype=float)
        if decay:
            h = h + decay * np.eye(h.shape[0])
        return h

    return effective


def model_rhs(
    model: Model,
    surface: BoundSurface,
    hp: Mapping[str, Any],
    ode: Mapping[str, Any] | None = None,
) -> Callable[[float, np.ndarray], np.ndarray]:
    """The model's right-hand side ``rhs(t, z)`` on ``surface`` at hyperparameters
    ``hp``: the field with the effective gradient (and, for a model that
    ``needs_hessian``, the effective Hessian).  The gradient carries the loss as
    ``grad.value`` for fields that read it."""
    if ode is None:
        ode = model.parameters(hp)
    grad = effective_gradient(surface.grad, hp)
    grad.value = surface.value  # for fields that read the loss (Polyak-type flows)
    if model.needs_hessian:
        hess = effective_hessian(surface.hess, hp)

        def rhs(time_, z):
            return model.field(time_, z, grad, ode, hess)

    else:

        def rhs(time_, z):
            return model.field(time_, z, grad, ode)

    return rhs


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
