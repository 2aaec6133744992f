r"""Linear stability of the optimizers at a minimum: spectral radii, edges, rate maps.

Near a minimum θ* with Hessian H, the error :math:`e = \theta - \theta^*` of the
optimizers below evolves by a fixed linear map, which splits along the eigenvectors
of H: each eigenvalue λ (with weight decay w, the curvature is λ + w; with
``maximize`` the sign of λ flips) gives a scalar recursion in :math:`a = \eta\lambda`
with characteristic polynomial

=============  ==============================================================
``gd``         :math:`z - (1 - a)`
``heun``       :math:`z - (1 - a + a^2/2)` (the explicit trapezoid rule)
``momentum``   :math:`z^2 - (1 + \beta - (1-\tau) a) z + \beta`
               (PyTorch's heavy ball, dampening τ)
``nesterov``   :math:`z^2 - (1 + \beta)(1 - a) z + \beta (1 - a)`
=============  ==============================================================

The spectral radius ρ (the largest root modulus over the eigenvalues) is the
asymptotic rate: the error shrinks like :math:`\rho^k` when ρ < 1 and grows when
ρ > 1.  The edges (ρ = 1 at the largest eigenvalue λ) are

* gd and heun: :math:`\eta = 2/\lambda`;
* heavy ball: :math:`\eta = 2(1+\beta)/((1-\tau)\lambda)` (Polyak 1964, "Some methods
  of speeding up the convergence of iteration methods");
* Nesterov: :math:`\eta = 2(1+\beta)/((1+2\beta)\lambda)`, narrower than heavy
  ball's for every β > 0 (the Jury criteria on its polynomial);

and the critical-damping lines, where the two roots meet (the boundary between the
real and the complex roots in the α–β phase diagram of Goh 2017, "Why Momentum
Really Works", Distill), are :math:`a = (1 \pm \sqrt\beta)^2/(1-\tau)` for heavy
ball and :math:`a = ((1-\beta)/(1+\beta))^2` (and a = 1) for Nesterov.

:func:`spectral_radius` evaluates ρ for arrays of hyperparameters and eigenvalues;
:func:`predict` puts it on a sweep's grid from the Hessian at a declared minimum of
the sweep's surface (the quadratic's matrix itself), to overlay on the measured
``rate`` and ``status``.  Optimizers whose update is not a fixed linear map at a
minimum (adaptive ones, NAG-C's time-varying momentum) are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import InputError

#: Optimizers whose update linearises to a fixed map at a minimum.
LINEAR = ("gd", "heun", "momentum", "nesterov")
#: Hyperparameters each linear map reads (others must be at their defaults).
_READS = {
    "gd": ("lr", "weight_decay", "maximize"),
    "heun": ("lr", "weight_decay", "maximize"),
    "momentum": ("lr", "momentum", "dampening", "weight_decay", "maximize"),
    "nesterov": ("lr", "momentum", "dampening", "weight_decay", "maximize"),
}


def _check_linear(optimizer: str) -> None:
    if optimizer not in LINEAR:
        raise InputError(
            f"stability: optimizer {optimizer} has no fixed linear map at a minimum "
            f"(linearisable: {', '.join(LINEAR)})"
        )


def _curvatures(eigenvalues, weight_decay, maximize):
    lam = np.asarray(eigenvalues)
    sign = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    return sign[..., None] * lam + np.asarray(weight_decay, dtype=float)[..., None]


def _roots_modulus(p, q):
    """Largest |z| of z² − p z + q (complex coefficients allowed)."""
    root = np.sqrt(np.asarray(p * p - 4.0 * q, dtype=complex))
    return np.maximum(np.abs(0.5 * (p + root)), np.abs(0.5 * (p - root)))


def spectral_radius(
    optimizer: str,
    eigenvalues,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    maximize=False,
) -> np.ndarray:
    """ρ of ``optimizer``'s linear map at a minimum with Hessian eigenvalues given.

    The hyperparameters broadcast against each other; the result has their
    broadcast shape (the maximum over ``eigenvalues``, the last axis internally).

    Examples
    --------
    >>> float(spectral_radius("gd", [1.0, 10.0], lr=0.1))
    0.9
    """
    _check_linear(optimizer)
    lr, momentum, dampening, weight_decay, maximize = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lr, momentum, dampening,
                                                weight_decay, maximize))
    )  # fmt: skip
    curv = _curvatures(np.ravel(eigenvalues), weight_decay, maximize)
    a = lr[..., None] * curv
    beta = momentum[..., None]
    tau = dampening[..., None]
    if optimizer == "gd":
        modulus = np.abs(1.0 - a)
    elif optimizer == "heun":
        modulus = np.abs(1.0 - a + 0.5 * a * a)
    elif optimizer == "momentum":
        modulus = _roots_modulus(1.0 + beta - (1.0 - tau) * a, beta + 0.0 * a)
    else:
        modulus = _roots_modulus((1.0 + beta) * (1.0 - a), beta * (1.0 - a))
    return np.max(modulus, axis=-1)


def edge(optimizer: str, curvature, *, momentum=0.0, dampening=0.0) -> np.ndarray:
    """The largest stable lr for the largest curvature ``curvature`` (ρ = 1 there)."""
    _check_linear(optimizer)
    lam = np.asarray(curvature, dtype=float)
    beta = np.asarray(momentum, dtype=float)
    if optimizer in ("gd", "heun"):
        return 2.0 / lam + 0.0 * beta
    if optimizer == "momentum":
        return 2.0 * (1.0 + beta) / ((1.0 - np.asarray(dampening)) * lam)
    return 2.0 * (1.0 + beta) / ((1.0 + 2.0 * beta) * lam)


def critical_damping(
    optimizer: str, curvature, *, momentum, dampening=0.0
) -> tuple[np.ndarray, ...]:
    """The lrs where the roots for ``curvature`` meet (real ↔ complex), per β."""
    _check_linear(optimizer)
    lam = np.asarray(curvature, dtype=float)
    beta = np.asarray(momentum, dtype=float)
    if optimizer == "momentum":
        scale = (1.0 - np.asarray(dampening)) * lam
        return ((1.0 - np.sqrt(beta)) ** 2 / scale, (1.0 + np.sqrt(beta)) ** 2 / scale)
    if optimizer == "nesterov":
        return (((1.0 - beta) / (1.0 + beta)) ** 2 / lam, 1.0 / lam + 0.0 * beta)
    return ()


def hessian_eigenvalues(
    surface: str,
    *,
    minimum: int = 0,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Eigenvalues of the Hessian at declared minimum ``minimum`` of a surface."""
    from .registry import get_surface

    bound = get_surface(surface).bind(dim, **dict(surface_params or {}))
    if not bound.minima:
        raise InputError(f"stability: surface {surface} declares no minimum")
    if not 0 <= minimum < len(bound.minima):
        raise InputError(
            f"stability: surface {surface} has {len(bound.minima)} declared minima; "
            f"minimum {minimum} does not exist"
        )
    h = bound.hess(bound.minima[minimum].theta)
    if bound.surface.symmetric:
        return np.linalg.eigvalsh(0.5 * (h + h.T))
    return np.linalg.eigvals(h)


def predict(ds, *, minimum: int = 0):
    """The predicted ρ on a sweep's grid (a DataArray named ``predicted_rate``).

    Hyperparameter axes vary the map; surface-parameter axes vary the Hessian; the
    fixed hyperparameters come from the sweep's attrs.  Start and seed axes do not
    change the prediction (it is broadcast over them).
    """
    import xarray as xr

    optimizer = ds.attrs["optimizer"]
    _check_linear(optimizer)
    kinds = json.loads(ds.attrs["axes"])
    fixed = json.loads(ds.attrs["hyperparameters"])
    base_params = json.loads(ds.attrs["surface_params"])
    surface_dims = [d for d, k in kinds.items() if k == "surface"]
    hp = {}
    for name in _READS[optimizer]:
        if kinds.get(name) == "hp":
            hp[name] = ds[name]
        else:
            hp[name] = xr.DataArray(float(fixed.get(name, 0.0)))
    unread = [d for d, k in kinds.items() if k == "hp" and d not in _READS[optimizer]]
    if unread:
        raise InputError(
            f"stability: the linear map of {optimizer} does not read {unread[0]}"
        )
    grid = xr.broadcast(*hp.values())
    shape_dims = grid[0].dims

    def radius(eigenvalues):
        values = spectral_radius(
            optimizer,
            eigenvalues,
            **{k: np.asarray(v.values) for k, v in zip(hp, grid, strict=True)},
        )
        return xr.DataArray(
            values, dims=shape_dims, coords={d: ds[d].values for d in shape_dims}
        )

    if not surface_dims:
        eig = hessian_eigenvalues(
            ds.attrs["surface"], minimum=minimum, dim=int(ds.attrs["dim"]),
            surface_params=base_params,
        )  # fmt: skip
        out = radius(eig)
    else:
        stacked = ds[surface_dims].to_dataframe().reset_index()[surface_dims]
        pieces = []
        for _, row in stacked.drop_duplicates().iterrows():
            params = {**base_params, **{d: float(row[d]) for d in surface_dims}}
            eig = hessian_eigenvalues(
                ds.attrs["surface"], minimum=minimum, dim=int(ds.attrs["dim"]),
                surface_params=params,
            )  # fmt: skip
            piece = radius(eig)
            for d in surface_dims:
                piece = piece.expand_dims({d: [row[d]]})
            pieces.append(piece)
        out = xr.combine_by_coords([p.to_dataset(name="r") for p in pieces])["r"]
    out = out.rename("predicted_rate")
    out.attrs["long_name"] = f"spectral radius of {optimizer}'s linear map at a minimum"
    return out


def sharpness_along(traj) -> tuple[np.ndarray, np.ndarray, float]:
    """The edge of stability along one run: ``(step, sharpness, 2/lr)``.

    ``sharpness[i]`` is the largest eigenvalue of the Hessian at the recorded point
    ``traj.theta[i]`` (NaN where it is not finite); gradient descent on a quadratic
    with that curvature is stable only below ``2/lr``.  Cohen, Kaur, Li, Kolter and
    Talwalkar (2021), "Gradient descent on neural networks typically occurs at the
    edge of stability", find full-batch GD's sharpness rising to 2/lr and hovering
    there.
    """
    problem = getattr(traj, "problem", None)
    if problem is None:
        raise InputError("sharpness_along needs a run with its problem (odeopt.run)")
    surface = problem.surface
    lr = problem.optimizer.hp.get("lr")
    if lr is None:
        raise InputError(f"optimizer {problem.optimizer.name} has no lr")
    values = np.full(traj.theta.shape[0], np.nan)
    for i, point in enumerate(traj.theta):
        if np.all(np.isfinite(point)):
            h = surface.hess(point)
            if np.all(np.isfinite(h)):
                values[i] = np.linalg.eigvalsh(0.5 * (h + h.T))[-1]
    return np.asarray(traj.step), values, 2.0 / float(lr)
