r"""Scaling rules: changes of learning rate, batch size and noise that keep the SDE.

A rule maps one setting to another whose stochastic modified equation (odeopt.sde)
is the same, so that E[L(t)] agrees to the SDE's weak order:

:func:`linear_rule`
    SGD, :math:`(\eta, B) \to (\kappa\eta, \kappa B)`: the drift's clock and the
    diffusion :math:`\eta\Sigma/B` are unchanged (Goyal et al. 2017, "Accurate, large
    minibatch SGD: training ImageNet in 1 hour"; Jastrzębski et al. 2017, "Three
    factors influencing minima in SGD"; Smith & Le 2018, "A Bayesian perspective on
    generalization and stochastic gradient descent").
:func:`square_root_rule`
    Adam and RMSprop, :math:`B \to \kappa B`, :math:`\eta \to \sqrt\kappa\,\eta`,
    :math:`1-\beta_i \to \kappa(1-\beta_i)`, :math:`\epsilon \to \epsilon/\sqrt\kappa`
    (Malladi, Lyu, Panigrahi & Arora 2022, "On the SDEs and scaling rules for adaptive
    gradient algorithms").
:func:`svag`
    Stochastic variance amplified gradient: two independent gradients combined with
    weights :math:`\tfrac12(1 \pm \sqrt{2\ell^2-1})` keep the mean and multiply the
    noise's variance by :math:`\ell^2`; with the learning rate divided by
    :math:`\ell^2` the SDE is the same and SGD converges to it as :math:`\ell \to
    \infty` (Li, Malladi & Arora 2021, "On the validity of modeling SGD with
    stochastic differential equations (SDEs)").  For Gaussian noise the combination
    *is* Gaussian noise with its σ multiplied by ℓ, which is what :func:`svag` returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import InputError
from .noise._base import BoundNoise


def _check_factor(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number > 0, got {value}")
    return value


def _scaled_batch(batch_size: int, kappa: float) -> int:
    scaled = batch_size * kappa
    if abs(scaled - round(scaled)) > 1e-9 * scaled or round(scaled) < 1:
        raise InputError(
            f"batch size {batch_size} × {kappa:g} = {scaled:g} is not a whole number >= 1"
        )
    return round(scaled)


def linear_rule(
    hp: Mapping[str, Any], batch_size: int, kappa: float
) -> tuple[dict[str, Any], int]:
    """SGD's linear scaling rule: ``lr`` and the batch size both times ``kappa``.

    Returns the new hyperparameters and batch size; the others are unchanged.
    """
    kappa = _check_factor("kappa", kappa)
    return {**hp, "lr": kappa * float(hp["lr"])}, _scaled_batch(batch_size, kappa)


def square_root_rule(
    hp: Mapping[str, Any], batch_size: int, kappa: float
) -> tuple[dict[str, Any], int]:
    """Adam's and RMSprop's square-root scaling rule (Malladi et al. 2022).

    ``lr`` times √κ, each of ``beta1``, ``beta2`` (Adam) or ``alpha`` (RMSprop) moved
    to ``1 − κ(1 − β)``, ``eps`` divided by √κ, the batch size times κ.  A β pushed to
    or below 0 is refused: κ is too large for it.
    """
    kappa = _check_factor("kappa", kappa)
    root = math.sqrt(kappa)
    new = dict(hp)
    new["lr"] = root * float(hp["lr"])
    for name in ("beta1", "beta2", "alpha"):
        if name in hp:
            value = 1.0 - kappa * (1.0 - float(hp[name]))
            if not 0.0 <= value < 1.0:
                raise InputError(
                    f"{name} = {hp[name]} scaled by kappa = {kappa:g} gives {value:g}, "
                    "outside [0, 1)"
                )
            new[name] = value
    if "eps" in hp:
        new["eps"] = float(hp["eps"]) / root
    return new, _scaled_batch(batch_size, kappa)


def svag(
    hp: Mapping[str, Any], noise: BoundNoise, ell: float
) -> tuple[dict[str, Any], BoundNoise]:
    """SVAG(ℓ) for Gaussian gradient noise: ``lr`` divided by ℓ², every σ of the
    noise model times ℓ (the noise models' covariances are quadratic in their σ).

    The SDE is unchanged: drift clock ℓ²·(η/ℓ²) and diffusion (η/ℓ²)·ℓ²Σ/B.
    """
    ell = _check_factor("ell", ell)
    if ell < 1:
        raise InputError(f"ell must be >= 1 (2ℓ² − 1 >= 1), got {ell}")
    params = {
        key: tuple(ell * v for v in value) if isinstance(value, tuple) else ell * value
        for key, value in noise.params.items()
    }
    scaled = noise.model.bind(noise.dim, noise.batch_size, **params)
    return {**hp, "lr": float(hp["lr"]) / ell**2}, scaled


def svag_weights(ell: float) -> tuple[float, float]:
    """The weights ½(1 ± √(2ℓ² − 1)) of SVAG's two gradients: they sum to 1 and their
    squares to ℓ²."""
    ell = _check_factor("ell", ell)
    if ell < 1:
        raise InputError(f"ell must be >= 1, got {ell}")
    root = math.sqrt(2 * ell**2 - 1)
    return (1 + root) / 2, (1 - root) / 2
