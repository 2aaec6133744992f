r"""Games: weight averages, the flow of a game's field, and the local stability picture.

A game is a surface whose players own blocks of θ (``Surface.players``); its kernels
give the field F = (∇ₓf, −∇_y f) that points downhill for every player and its
Jacobian J = ∂F/∂θ, which is not symmetric.  :func:`odeopt.run` plays one with
any optimizer per player (``play="simultaneous" | "alternating"``, ``d_steps``,
per-player ``hp``); this module adds what the analysis of min–max dynamics needs:

* :func:`ema` — the weight EMA Θ_k = αΘ_{k−1} + (1 − α)θ_k of recorded iterates (a
  low-pass filter: an oscillation of angular frequency ω per step is attenuated by
  |(1 − α)/(1 − αe^{−iω})|).  Computed from the trajectory, it does not change it
  (Polyak averaging's exponential form).
* :func:`flow` — the GDA flow θ̇ = −F(θ) by ``scipy.integrate.solve_ivp``.
* :func:`step_matrix` and :func:`growth` — each method's one-step map on a linear
  game F = Jθ (near an equilibrium), and its spectral radius: the predicted growth
  per step.  Simultaneous GDA is I − hJ: on purely imaginary eigenvalues ±iω its
  eigenvalues 1 ∓ ihω have modulus √(1 + h²ω²) > 1 and it spirals out;
  extragradient is I − hJ + h²J², modulus √(1 − h²ω² + h⁴ω⁴) < 1 for hω < 1.
* :func:`amplification` — the same for a scalar eigenvalue λ of J, whose region
  {hλ : |amplification| ≤ 1} is the method's stability region in the complex plane
  (:func:`plot_spectrum` draws J's eigenvalues, scaled by h, over the regions).

References: Mescheder, Geiger & Nowozin (2018), "Which training methods for GANs do
actually converge?"; Gidel, Berard, Vignoud, Vincent & Lacoste-Julien (2019), "A
variational inequality perspective on generative adversarial networks";
Daskalakis, Ilyas, Syrgkanis & Zeng (2018), "Training GANs with optimism";
Zhang, Wang, Lessard & Grosse (2022), "Near-optimal local convergence of alternating
gradient descent-ascent for minimax optimization".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import RunError

#: Methods whose one-step map on a linear game :func:`step_matrix` writes.
LINEAR_METHODS = (
    "gda",
    "alternating-gda",
    "extragradient",
    "ogda",
    "negative-momentum",
)


def ema(theta: np.ndarray, decay: float) -> np.ndarray:
    """The weight EMA of iterates recorded at every step.

    Θ₀ = θ₀ and Θ_k = αΘ_{k−1} + (1 − α)θ_k with α = ``decay``, row by row
    (a trajectory's ``theta``, recorded with ``record_every=1``).
    """
    if not 0.0 <= decay < 1.0:
        raise RunError(f"decay must be in [0, 1), got {decay}")
    theta = np.asarray(theta, dtype=float)
    out = np.empty_like(theta)
    out[0] = theta[0]
    keep = 1.0 - decay
    for k in range(1, theta.shape[0]):
        out[k] = decay * out[k - 1] + keep * theta[k]
    return out


def flow(surface, x0: Any, times: Sequence[float], *, method: str = "RK45",
         rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:  # fmt: skip
    """The GDA flow θ̇ = −F(θ) of a bound game at ``times`` (rows), from ``x0``."""
    from scipy.integrate import solve_ivp

    times = np.asarray(times, dtype=float)
    solution = solve_ivp(
        lambda t, z: -surface.grad(z),
        (0.0, float(times[-1])),
        np.asarray(x0, dtype=float),
        method=method,
        t_eval=times,
        rtol=rtol,
        atol=atol,
    )
    if solution.status != 0:
        raise RunError(f"the flow failed: {solution.message}")
    return solution.y.T


def step_matrix(
    method: str,
    jacobian: np.ndarray,
    h: float,
    blocks: Sequence[int] | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    momentum: float = -0.5,
) -> np.ndarray:
    """One step of ``method`` on the linear game F = Jθ, as a matrix.

    ``gda``: I − hJ.  ``extragradient``: I − hJ + h²J².  ``alternating-gda`` (the
    players of ``blocks`` in order, each seeing the moves before it): the product
    of the players' moves.  ``ogda`` (optax's α, β): the companion matrix of
    θ_{k+1} = θ_k − h((α + β)Jθ_k − βJθ_{k−1}) on (θ_k, θ_{k−1}).
    ``negative-momentum``: alternating heavy ball on (θ, v), v ← βv − hF, θ ← θ + v.
    """
    J = np.asarray(jacobian, dtype=float)
    n = J.shape[0]
    eye = np.eye(n)
    if method == "gda":
        return eye - h * J
    if method == "extragradient":
        return eye - h * J + h * h * (J @ J)
    if method == "ogda":
        top = np.hstack([eye - h * (alpha + beta) * J, h * beta * J])
        return np.vstack([top, np.hstack([eye, np.zeros((n, n))])])
    starts = np.cumsum([0, *(blocks or (n // 2, n - n // 2))])
    if method == "alternating-gda":
        total = eye
        for a, b in itertools.pairwise(starts):
            move = eye.copy()
            move[a:b] -= h * J[a:b]
            total = move @ total
        return total
    if method == "negative-momentum":
        total = np.eye(2 * n)  # state (θ, v)
        for a, b in itertools.pairwise(starts):
            move = np.eye(2 * n)
            # v_j ← βv_j − hJ_j θ ; θ_j ← θ_j + v_j (new v)
            move[n + a : n + b, :n] = -h * J[a:b]
            move[n + a : n + b, n + a : n + b] = momentum * np.eye(b - a)
            move[a:b] = move[a:b] + move[n + a : n + b]
            total = move @ total
        return total
    raise RunError(
        f"no linear step for {method!r} (valid: {', '.join(LINEAR_METHODS)})"
    )


def growth(method: str, jacobian: np.ndarray, h: float, **kwargs: Any) -> float:
    """The predicted growth per step near the equilibrium: the spectral radius of
    :func:`step_matrix` (< 1: converges locally; > 1: spirals out)."""
    matrix = step_matrix(method, jacobian, h, **kwargs)
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def amplification(
    method: str, z: np.ndarray, *, alpha: float = 1.0, beta: float = 1.0
) -> np.ndarray:
    """|growth| per step on the scalar test equation θ̇ = −λθ, as a function of
    z = hλ (λ an eigenvalue of J): the stability region is where it is ≤ 1.

    ``gda``: |1 − z|.  ``extragradient``: |1 − z + z²|.  ``ogda``: the larger
    root of ρ² − (1 − (α + β)z)ρ − βz = 0.
    """
    z = np.asarray(z, dtype=complex)
    if method == "gda":
        return np.abs(1.0 - z)
    if method == "extragradient":
        return np.abs(1.0 - z + z * z)
    if method == "ogda":
        b = 1.0 - (alpha + beta) * z
        root = np.sqrt(b * b + 4.0 * beta * z)
        return np.maximum(np.abs((b + root) / 2.0), np.abs((b - root) / 2.0))
    raise RunError(
        f"no scalar stability region for {method!r} (valid: gda, extragradient, ogda)"
    )


def measured_growth(theta: np.ndarray, equilibrium: Any = None) -> float:
    """The growth per step of iterates recorded at every step: exp of the
    least-squares slope of log ‖θ_k − θ*‖ against k over the second half of the
    record (past the start-up; the slope averages out the wobble of a radius on an
    ellipse, which a ratio of two radii would not)."""
    theta = np.asarray(theta, dtype=float)
    centre = (
        np.zeros(theta.shape[1]) if equilibrium is None else np.asarray(equilibrium)
    )
    radius = np.linalg.norm(theta - centre, axis=1)
    k = np.arange(theta.shape[0])[theta.shape[0] // 2 :]
    slope = np.polyfit(k, np.log(radius[k]), 1)[0]
    return float(np.exp(slope))


# -- pictures ------------------------------------------------------------------------
def plot_field(surface, trajectories=(), *, flows: Sequence[Any] = (), ax=None,
               axes: tuple[int, int] = (0, -1), resolution: int = 21,
               horizon: float | None = None):  # fmt: skip
    """The game's field −F as arrows in the plane of coordinates ``axes`` (the
    generator's first against the discriminator's first, by default; the other
    coordinates at their start values), with trajectories and flows over it.

    ``flows``: starts of GDA flows to draw (solved to ``horizon``, default the
    longest trajectory's time).
    """
    from .plotting import _axes, label, style

    ax = _axes(ax)
    i, j = (a % surface.dim for a in axes)
    lo, hi = surface.bounds
    base = trajectories[0].theta[0].copy() if trajectories else surface.x0.copy()
    xs = np.linspace(lo[i], hi[i], resolution)
    ys = np.linspace(lo[j], hi[j], resolution)
    U = np.zeros((resolution, resolution))
    V = np.zeros_like(U)
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            point = base.copy()
            point[i], point[j] = x, y
            with np.errstate(all="ignore"):
                field = -surface.grad(point)
            U[r, c], V[r, c] = field[i], field[j]
    ax.quiver(xs, ys, U, V, color="0.6", angles="xy", width=0.003)
    for index, traj in enumerate(trajectories):
        ax.plot(traj.theta[:, i], traj.theta[:, j], label=label(traj), **style(index))
    if horizon is None:
        horizon = max((float(t.t[-1]) for t in trajectories), default=10.0)
    times = np.linspace(0.0, horizon, 2001)
    for start in flows:
        path = flow(surface, start, times)
        ax.plot(path[:, i], path[:, j], "k--", lw=1.2, label="flow θ̇ = −F")
    names = surface.surface.players
    ax.set_xlabel(f"θ[{i}] ({names[0]})")
    ax.set_ylabel(f"θ[{j}] ({names[-1]})")
    ax.set_xlim(lo[i], hi[i])
    ax.set_ylim(lo[j], hi[j])
    if trajectories or flows:
        ax.legend(fontsize="small")
    return ax


def plot_spectrum(jacobian: np.ndarray, h: float, *, methods=("gda", "extragradient",
                  "ogda"), ax=None, extent: float = 2.0):  # fmt: skip
    """J's eigenvalues times h over each method's stability region
    {z : amplification(z) ≤ 1} in the complex plane."""
    from .plotting import _axes

    ax = _axes(ax)
    re = np.linspace(-extent, extent, 401)
    Z = re[None, :] + 1j * re[:, None]
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for color, method in zip(colors, methods, strict=False):
        ax.contour(re, re, amplification(method, Z), levels=[1.0], colors=color)
        ax.plot([], [], color=color, label=f"{method}: |growth| = 1")
    eigenvalues = np.linalg.eigvals(np.asarray(jacobian, dtype=float)) * h
    ax.plot(eigenvalues.real, eigenvalues.imag, "k*", ms=10, label="h·eig(J)")
    ax.axhline(0.0, color="0.8", lw=0.8)
    ax.axvline(0.0, color="0.8", lw=0.8)
    ax.set_xlabel("Re hλ")
    ax.set_ylabel("Im hλ")
    ax.set_aspect("equal")
    ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_ema(traj, decay: float, *, ax=None):
    """Distance to the equilibrium (0) of the iterate and of its weight EMA."""
    from .plotting import _axes

    ax = _axes(ax)
    average = ema(traj.theta, decay)
    ax.semilogy(traj.step, np.linalg.norm(traj.theta, axis=1), label="iterate ‖θ‖")
    ax.semilogy(traj.step, np.linalg.norm(average, axis=1),
                label=f"EMA({decay:g}) ‖Θ‖")  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("distance to the equilibrium")
    ax.legend(fontsize="small")
    return ax


__all__ = [
    "LINEAR_METHODS",
    "amplification",
    "ema",
    "flow",
    "growth",
    "measured_growth",
    "plot_ema",
    "plot_field",
    "plot_spectrum",
    "step_matrix",
]
