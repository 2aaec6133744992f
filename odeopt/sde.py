r"""Stochastic gradients and their SDEs, in closed form on linear problems.

On a loss whose gradient is affine, :math:`\nabla L(\theta) = A\theta + b` (a
quadratic, least squares), with gradient noise of constant covariance
:math:`\Sigma/B`, SGD with or without momentum is a *linear* recursion driven by
Gaussian noise, and so are the SDEs that model it.  Their means and covariances then
propagate exactly — the discrete ones step by step, the continuous ones through matrix
exponentials (Van Loan 1978, "Computing integrals involving the matrix exponential")
— and weak errors carry no Monte-Carlo error at all.

Models (``t = k·lr`` unless said):

``sme1``
    :math:`d\Theta = -\nabla L\,dt + \sqrt{\eta/B}\,\Sigma^{1/2} dW`, weak order 1
    (Li, Tai & E 2017, "Stochastic modified equations and adaptive stochastic
    gradient algorithms").
``sme2``
    The drift of the modified loss :math:`L + \tfrac{\eta}{4}\|\nabla L\|^2`, the same
    diffusion: weak order 2 (ibid.).
``kramers``
    Heavy ball's underdamped Langevin equation, :math:`d\theta = u\,dt`,
    :math:`du = (-\lambda u - \nabla L)\,dt + \sqrt{h\Sigma/B}\,dW` with
    :math:`h = \sqrt{\eta(1-\tau)}`, :math:`\lambda = (1-\beta)/h`, ``t = k·h``; its
    θ-marginal temperature is :math:`\eta\sigma^2/(2B(1-\beta))` (Kramers 1940,
    "Brownian motion in a field of force and the diffusion model of chemical
    reactions").

Every optimizer of the ``sgd`` family (``gd``, ``momentum``, ``nesterov``, with
dampening, weight decay and ``maximize``) has exact discrete moments here, PyTorch's
first step (the buffer starts as the first gradient) included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import expm

from .errors import InputError
from .noise._base import BoundNoise
from .optimizers._base import BoundOptimizer
from .surfaces._base import BoundSurface

#: The SDE models, and the optimizers whose discrete moments each is compared with.
MODELS = {"sme1": "gd", "sme2": "gd", "kramers": "momentum"}
#: The weak order each model has with its optimizer.
WEAK_ORDERS = {"sme1": 1.0, "sme2": 2.0, "kramers": 1.0}


class LinearityError(InputError):
    """The problem is not linear-Gaussian, so its moments have no closed form here."""


@dataclass(frozen=True)
class Moments:
    """Means (n, dim) and covariances (n, dim, dim) of θ at times ``t`` (n,)."""

    t: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray

    @property
    def second_moment(self) -> np.ndarray:
        """E[θθᵀ] = P + mmᵀ, shape (n, dim, dim)."""
        return self.covariance + self.mean[:, :, None] * self.mean[:, None, :]


def affine_gradient(surface: BoundSurface, samples: int = 8, seed: int = 0):
    """(A, b) with ∇L(θ) = Aθ + b, checked at random points of the surface's box.

    Raises :class:`LinearityError` when the gradient is not affine (to 1e-10
    relative): the closed forms below would be wrong.
    """
    dim = surface.dim
    b = surface.grad(np.zeros(dim))
    A = surface.hess(np.zeros(dim))
    low, high = surface.bounds
    rng = np.random.default_rng(seed)
    for x in rng.uniform(low, high, size=(samples, dim)):
        expected = A @ x + b
        scale = max(1.0, float(np.abs(expected).max()))
        if not np.allclose(surface.grad(x), expected, rtol=0, atol=1e-10 * scale):
            raise LinearityError(
                f"surface {surface.name} has no affine gradient: exact moments need a "
                "quadratic loss (quadratic, or least squares)"
            )
    return A, b


def noise_covariance(noise: BoundNoise, surface: BoundSurface) -> np.ndarray:
    """Σ/B, checked to be the same everywhere (at the start and at the origin)."""
    at = [surface.x0, np.zeros(surface.dim)]
    values = [noise.covariance(x, surface.hess) for x in at]
    if not np.allclose(values[0], values[1], rtol=1e-12, atol=0):
        raise LinearityError(
            f"noise {noise.name} has a covariance that changes with θ: exact moments "
            "need a constant one"
        )
    return values[0]


def _sgd_maps(hp: Mapping[str, Any], A: np.ndarray, b: np.ndarray, fresh: bool):
    """One step of torch.optim.SGD on ∇L = Aθ + b plus noise ξ, as z' = Mz + c + Nξ
    with z = (θ, buffer)."""
    dim = A.shape[0]
    eye = np.eye(dim)
    sign = -1.0 if hp.get("maximize") else 1.0
    lr, beta = hp["lr"], hp.get("momentum", 0.0)
    tau, wd = hp.get("dampening", 0.0), hp.get("weight_decay", 0.0)
    # g = Gθ + s·b + s·ξ
    G, g0, gn = sign * A + wd * eye, sign * b, sign * eye
    zero = np.zeros((dim, dim))
    if beta == 0.0:
        rows = [(G, zero, g0, gn)]  # the direction d, in (θ, buffer, constant, ξ)
        buffer = (zero, eye, np.zeros(dim), zero)  # unused, kept as it is
    else:
        keep = 0.0 if fresh else beta
        weight = 1.0 if fresh else 1.0 - tau
        buffer = (weight * G, keep * eye, weight * g0, weight * gn)
        if hp.get("nesterov"):
            rows = [tuple(x + beta * y for x, y in zip((G, zero, g0, gn), buffer,
                                                        strict=True))]  # fmt: skip
        else:
            rows = [buffer]
    d_theta, d_buffer, d_const, d_noise = rows[0]
    M = np.block([[eye - lr * d_theta, -lr * d_buffer], [buffer[0], buffer[1]]])
    c = np.concatenate([-lr * d_const, buffer[2]])
    N = np.vstack([-lr * d_noise, buffer[3]])
    return M, c, N


def sgd_moments(
    optimizer: BoundOptimizer,
    surface: BoundSurface,
    noise: BoundNoise,
    x0: np.ndarray,
    steps: int,
) -> Moments:
    """Exact mean and covariance of θ_k, k = 0 .. steps, for an optimizer of the
    ``sgd`` family (PyTorch's update; t = k·lr)."""
    if optimizer.optimizer.module != "odeopt.optimizers.sgd":
        raise LinearityError(
            f"exact moments are for the sgd family (gd, momentum, nesterov), not "
            f"{optimizer.name}"
        )
    hp = optimizer.full_hp
    A, b = affine_gradient(surface)
    Q = noise_covariance(noise, surface)
    dim = surface.dim
    mean = np.concatenate([np.asarray(x0, float), np.zeros(dim)])
    cov = np.zeros((2 * dim, 2 * dim))
    means, covs = [mean[:dim].copy()], [cov[:dim, :dim].copy()]
    steady = _sgd_maps(hp, A, b, fresh=False)
    first = _sgd_maps(hp, A, b, fresh=not hp.get("buffer_given", False))
    for k in range(1, steps + 1):
        M, c, N = first if k == 1 else steady
        mean = M @ mean + c
        cov = M @ cov @ M.T + N @ Q @ N.T
        means.append(mean[:dim].copy())
        covs.append(cov[:dim, :dim].copy())
    t = np.arange(steps + 1) * hp["lr"]
    return Moments(t=t, mean=np.array(means), covariance=np.array(covs))


def _transition(F, f, D, dt: float):
    """The exact step of dz = (Fz + f)dt + D^{1/2}dW over ``dt``: (Φ, c, Q) with
    z(dt) = Φz(0) + c + N(0, Q).

    Van Loan's block exponentials are accurate only while ‖F‖·dt is small (their
    blocks grow like e^{‖F‖dt} and cancel), so the step is built from 2^j substeps
    of at most 1/(2‖F‖) by squaring: Φ₂ = Φ², Q₂ = ΦQΦᵀ + Q.
    """
    n = F.shape[0]
    norm = max(float(np.abs(F).sum(axis=1).max()), 1e-300)
    halvings = max(0, int(np.ceil(np.log2(max(2.0 * norm * dt, 1.0)))))
    small = dt / 2**halvings
    drift = np.zeros((n + 1, n + 1))
    drift[:n, :n], drift[:n, n] = F, f
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n], block[:n, n:], block[n:, n:] = -F, D, F.T
    step = expm(drift * small)  # [[Φ, c], [0, 1]]
    E = expm(block * small)
    Q = E[n:, n:].T @ E[:n, n:]
    for _ in range(halvings):
        Q = step[:n, :n] @ Q @ step[:n, :n].T + Q
        step = step @ step
    return step[:n, :n], step[:n, n], (Q + Q.T) / 2


def linear_sde_moments(F, f, D, z0, P0, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of dz = (Fz + f)dt + D^{1/2}dW at times ``t`` ≥ 0 (in
    any order), from mean ``z0`` and covariance ``P0`` at time 0.

    Exact: the flow between consecutive times is :func:`_transition` (matrix
    exponentials, Van Loan 1978), so long horizons cost no more than short ones.
    """
    t = np.asarray(t, dtype=float)
    if np.any(t < 0):
        raise InputError("times must be >= 0")
    order = np.argsort(t, kind="stable")
    n = F.shape[0]
    means, covs = np.zeros((t.size, n)), np.zeros((t.size, n, n))
    mean, cov, now = np.asarray(z0, float), np.asarray(P0, float), 0.0
    cache: dict[float, tuple] = {}
    for i in order:
        dt = float(t[i] - now)
        if dt > 0:
            if dt not in cache:
                cache[dt] = _transition(F, f, D, dt)
            phi, c, Q = cache[dt]
            mean, cov = phi @ mean + c, phi @ cov @ phi.T + Q
            now = float(t[i])
        means[i], covs[i] = mean, cov
    return means, covs


def sde_moments(
    model: str,
    optimizer: BoundOptimizer,
    surface: BoundSurface,
    noise: BoundNoise,
    x0: np.ndarray,
    t: np.ndarray,
) -> Moments:
    """Exact mean and covariance of θ(t) under ``model`` (see the module docstring),
    with the optimizer's hyperparameters setting its parameters."""
    if model not in MODELS:
        raise InputError(f"unknown SDE model {model!r} (valid: {', '.join(MODELS)})")
    hp = optimizer.full_hp
    A, b = affine_gradient(surface)
    Q = noise_covariance(noise, surface)
    dim = surface.dim
    sign = -1.0 if hp.get("maximize") else 1.0
    G = sign * A + hp.get("weight_decay", 0.0) * np.eye(dim)
    g0 = sign * b
    lr = hp["lr"]
    x0 = np.asarray(x0, float)
    if model in ("sme1", "sme2"):
        if hp.get("momentum", 0.0) != 0.0:
            raise InputError(f"{model} models SGD without momentum (use kramers)")
        F, f = -G, -g0
        if model == "sme2":  # −∇(L + (η/4)‖∇L‖²) = −(Gθ + g0) − (η/2)Gᵀ(Gθ + g0)
            F = F - lr / 2 * G.T @ G
            f = f - lr / 2 * G.T @ g0
        mean, cov = linear_sde_moments(F, f, lr * Q, x0, np.zeros((dim, dim)), t)
        return Moments(t=np.asarray(t, float), mean=mean, covariance=cov)
    # kramers: z = (θ, u), at rest
    beta, tau = hp.get("momentum", 0.0), hp.get("dampening", 0.0)
    if hp.get("nesterov") or beta == 0.0:
        raise InputError("kramers models heavy ball (momentum > 0, nesterov off)")
    h = np.sqrt(lr * (1.0 - tau))
    friction = (1.0 - beta) / h
    zero, eye = np.zeros((dim, dim)), np.eye(dim)
    F = np.block([[zero, eye], [-G, -friction * eye]])
    f = np.concatenate([np.zeros(dim), -g0])
    D = np.block([[zero, zero], [zero, h * Q]])
    z0 = np.concatenate([x0, np.zeros(dim)])
    mean, cov = linear_sde_moments(F, f, D, z0, np.zeros((2 * dim, 2 * dim)), t)
    return Moments(t=np.asarray(t, float), mean=mean[:, :dim],
                   covariance=cov[:, :dim, :dim])  # fmt: skip


def weak_error(a: Moments, b: Moments) -> np.ndarray:
    """The larger of the mean's and the second moment's largest deviations, at each
    time: |E φ(θ)| differences for the linear and quadratic test functions φ."""
    mean = np.abs(a.mean - b.mean).max(axis=1)
    second = np.abs(a.second_moment - b.second_moment).max(axis=(1, 2))
    return np.maximum(mean, second)


@dataclass(frozen=True)
class WeakOrder:
    """A weak-order measurement: the error of the discrete moments against the
    model's at t = n·h for halving h, and the slope fitted on the finest levels."""

    model: str
    h: np.ndarray
    steps: np.ndarray
    error: np.ndarray
    fitted_order: float
    declared_order: float

    def table(self) -> str:
        """The measurement as text, one level per line."""
        lines = [f"{'h':>12} {'steps':>8} {'weak error':>12} {'local order':>12}"]
        for i, (h, n, e) in enumerate(zip(self.h, self.steps, self.error,
                                          strict=True)):  # fmt: skip
            local = f"{np.log2(self.error[i - 1] / e):12.3f}" if i else " " * 12
            lines.append(f"{h:12.5g} {n:8d} {e:12.4e} {local}")
        lines.append(
            f"declared weak order {self.declared_order:g}, fitted "
            f"{self.fitted_order:.3f}"
        )
        return "\n".join(lines)


def weak_order(
    model: str,
    optimizer: BoundOptimizer,
    surface: BoundSurface,
    noise: BoundNoise,
    x0: np.ndarray | None = None,
    horizon: float = 1.0,
    levels: int = 6,
    fit_levels: int = 3,
) -> WeakOrder:
    """Halve the learning rate ``levels - 1`` times from the optimizer's, at fixed
    ODE parameters (β = 1 − λh for ``kramers``), and measure the weak error at
    t = n·h, n = round(horizon/h), from exact moments."""
    from .check import fit_order

    hp = dict(optimizer.full_hp)
    x0 = surface.x0 if x0 is None else np.asarray(x0, float)
    kramers = model == "kramers"
    h0 = np.sqrt(hp["lr"] * (1 - hp.get("dampening", 0.0))) if kramers else hp["lr"]
    friction = (1 - hp.get("momentum", 0.0)) / h0 if kramers else 0.0
    rows = []
    for level in range(levels):
        h = h0 / 2**level
        changed = dict(hp)
        if kramers:
            changed["lr"] = h * h / (1 - hp.get("dampening", 0.0))
            changed["momentum"] = 1 - friction * h
        else:
            changed["lr"] = h
        bound = optimizer.optimizer.bind(
            surface, **{k: v for k, v in changed.items() if k in optimizer.hp}
        )
        n = max(1, round(horizon / h))
        discrete = sgd_moments(bound, surface, noise, x0, n)
        continuous = sde_moments(model, bound, surface, noise, x0,
                                 np.array([n * h]))  # fmt: skip
        last = Moments(t=discrete.t[-1:], mean=discrete.mean[-1:],
                       covariance=discrete.covariance[-1:])  # fmt: skip
        rows.append((h, n, float(weak_error(last, continuous)[0])))
    h, steps, error = (np.array(c) for c in zip(*rows, strict=True))
    fitted = fit_order(h[-fit_levels:], error[-fit_levels:])
    return WeakOrder(model=model, h=h, steps=steps.astype(int), error=error,
                     fitted_order=float(fitted), declared_order=WEAK_ORDERS[model])  # fmt: skip


# -- strong order on a shared Brownian path --------------------------------------------
@dataclass(frozen=True)
class StrongOrder:
    r"""A strong-order measurement: the root-mean-square distance
    :math:`\mathbb E[|\theta_n - \Theta(nh)|^2]^{1/2}` between SGD and its SDE on
    the same Brownian paths for halving h, the slope fitted on the finest levels and
    its bootstrap confidence interval."""

    label: str
    h: np.ndarray
    steps: np.ndarray
    error: np.ndarray
    fitted_order: float
    interval: tuple[float, float]
    confidence: float
    declared_order: float
    paths: int
    fine_steps: int

    def table(self) -> str:
        """The measurement as text, one level per line."""
        lines = [f"{'h':>12} {'steps':>8} {'strong error':>13} {'local order':>12}"]
        for i, (h, n, e) in enumerate(zip(self.h, self.steps, self.error,
                                          strict=True)):  # fmt: skip
            local = f"{np.log2(self.error[i - 1] / e):12.3f}" if i else " " * 12
            lines.append(f"{h:12.5g} {n:8d} {e:13.4e} {local}")
        lo, hi = self.interval
        lines.append(
            f"declared strong order {self.declared_order:g}, fitted "
            f"{self.fitted_order:.3f} ({self.confidence:.0%} interval "
            f"[{lo:.3f}, {hi:.3f}], {self.paths} paths)"
        )
        return "\n".join(lines)


def _euler_maruyama_paths(grad, p, x0, increments, dt, scale, root):
    """θ ← θ − dt·∇L(θ) + scale·root·ΔW for each path (rows of ``increments``,
    shape (paths, steps, dim)); the final θ of each path."""
    paths, steps, dim = increments.shape
    out = np.empty((paths, dim))
    theta = np.empty(dim)
    g = np.empty(dim)
    for m in range(paths):
        for i in range(dim):
            theta[i] = x0[i]
        for k in range(steps):
            grad(theta, p, g)
            for i in range(dim):
                kick = 0.0
                for j in range(dim):
                    kick += root[i, j] * increments[m, k, j]
                theta[i] = theta[i] - dt * g[i] + scale * kick
        for i in range(dim):
            out[m, i] = theta[i]
    return out


_compiled_paths = None


def _paths_kernel():
    """:func:`_euler_maruyama_paths` compiled (once per process; the surface's
    ``grad`` kernel is its argument)."""
    global _compiled_paths
    if _compiled_paths is None:
        import numba

        _compiled_paths = numba.njit(nogil=True, error_model="numpy")(
            _euler_maruyama_paths
        )
    return _compiled_paths


def strong_order(
    optimizer: BoundOptimizer,
    surface: BoundSurface,
    noise: BoundNoise,
    x0: np.ndarray | None = None,
    horizon: float = 1.0,
    levels: int = 5,
    paths: int = 1000,
    seed: int = 0,
    refine: int = 16,
    fit_levels: int = 3,
    confidence: float = 0.95,
    resamples: int = 400,
) -> StrongOrder:
    r"""The strong order of SGD against SME1 on shared Brownian paths.

    With step ``h`` (the learning rate, halved ``levels − 1`` times from the
    optimizer's) and constant noise covariance :math:`S S^\top = \Sigma/B`, SGD is
    :math:`\theta_{k+1} = \theta_k - h\nabla L(\theta_k) + \sqrt h\,S\,\Delta W_k`
    (its normals :math:`\xi_k = \Delta W_k/\sqrt h`, up to their sign, which does
    not change the law), the Euler–Maruyama scheme of SME1,
    :math:`d\Theta = -\nabla L\,dt + \sqrt h\,S\,dW` (Li, Tai & E 2017).  The
    reference solves SME1 by Euler–Maruyama on a grid ``refine`` times finer than
    the finest level, and every level's increments are sums of the fine ones: one
    Brownian path per sample, shared by every level (Kloeden & Platen 1992,
    "Numerical solution of stochastic differential equations", §9.3).  With
    additive noise Euler–Maruyama has strong order 1 (ibid., §10.2).

    The slope is fitted on the finest ``fit_levels`` levels; its ``confidence``
    interval resamples the paths (``resamples`` bootstrap draws, percentile
    interval; Efron & Tibshirani 1993, "An introduction to the bootstrap").
    The Brownian increments come from ``np.random.default_rng(seed)``.
    """
    from .check import fit_order
    from .surfaces._base import Surface  # noqa: F401 (the type of surface.surface)

    if optimizer.name != "gd":
        raise InputError(
            f"the strong order is measured for gd (SGD) against SME1, not "
            f"{optimizer.name}"
        )
    if noise.model.needs_hessian or noise.model.samples_gradient:
        raise InputError(
            f"the strong check needs a constant noise covariance (iso, diag), not "
            f"{noise.name}"
        )
    if int(levels) < fit_levels or int(paths) < 10 or int(refine) < 2:
        raise InputError(
            f"strong order needs levels >= {fit_levels}, paths >= 10, refine >= 2"
        )
    hp = optimizer.full_hp
    if hp.get("weight_decay", 0.0) or hp.get("maximize"):
        raise InputError("the strong check runs plain SGD (no weight_decay, maximize)")
    x0 = surface.x0 if x0 is None else np.asarray(x0, float)
    dim = surface.dim
    root = np.linalg.cholesky(noise.covariance(x0) + 0.0 * np.eye(dim))
    h0 = float(hp["lr"])
    n0 = max(1, round(horizon / h0))
    finest = n0 * 2 ** (levels - 1) * refine
    rng = np.random.default_rng(seed)
    h_fine = h0 / (2 ** (levels - 1) * refine)
    fine = rng.standard_normal((paths, finest, dim)) * np.sqrt(h_fine)
    from ._jit import jit_module

    grad = jit_module(surface.surface.kernels).grad
    em = _paths_kernel()
    rows, squared = [], []
    for level in range(levels):
        h = h0 / 2**level
        block = finest // (n0 * 2**level)
        coarse = fine.reshape(paths, n0 * 2**level, block, dim).sum(axis=2)
        discrete = em(grad, surface.p, x0, coarse, h, np.sqrt(h), root)
        reference = em(grad, surface.p, x0, fine, h_fine, np.sqrt(h), root)
        distance2 = np.sum((discrete - reference) ** 2, axis=1)
        squared.append(distance2)
        rows.append((h, n0 * 2**level, float(np.sqrt(distance2.mean()))))
    h, steps, error = (np.array(c) for c in zip(*rows, strict=True))
    fitted = fit_order(h[-fit_levels:], error[-fit_levels:])
    squared = np.array(squared)  # (levels, paths)
    boot = np.random.default_rng(seed + 1)
    slopes = []
    for _ in range(resamples):
        pick = boot.integers(0, paths, size=paths)
        resampled = np.sqrt(squared[:, pick].mean(axis=1))
        slopes.append(fit_order(h[-fit_levels:], resampled[-fit_levels:]))
    tail = (1.0 - confidence) / 2
    lo, hi = np.quantile(slopes, [tail, 1.0 - tail])
    return StrongOrder(label="gd vs sme1 (strong)", h=h, steps=steps.astype(int),
                       error=error, fitted_order=float(fitted),
                       interval=(float(lo), float(hi)), confidence=confidence,
                       declared_order=1.0, paths=int(paths),
                       fine_steps=int(finest))  # fmt: skip
