r"""Pictures of noisy runs: ensemble fans, stationary laws, weak and strong orders.

Object-oriented matplotlib, as :mod:`odeopt.plotting`: functions that draw on an
``Axes`` take ``ax=None`` and return it; those that lay out panels return the
``Figure``.

- :func:`plot_ensemble` — M noise paths over the contour with the mean path, and the
  loss's mean and quantile band against time beside the SDE's exact
  :math:`\mathbb E[L(t)]` where the problem is linear (Li, Tai & E 2017,
  "Stochastic modified equations and adaptive stochastic gradient algorithms").
- :func:`stationary_histogram` — a histogram of iterates against a Gibbs density
  :math:`\propto e^{-L/T}`.
- :func:`expected_loss_plot` — exact :math:`\mathbb E[L]` of SGD against SME1/SME2.
- :func:`weak_order_plot` / :func:`strong_order_plot` — error against h, log-log,
  with the fitted and declared slopes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .plotting import PALETTE, _axes, contour, new_figure, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .ensemble import Ensemble

#: The quantile band of a fan.
BAND = (0.05, 0.95)


def _sde_expected_loss(ensemble: Ensemble):
    """(model name, E[L(t)] at the ensemble's times) from the exact moments of the
    optimizer's SDE, or None when the problem has no closed form (not linear, or an
    optimizer without an SDE model here)."""
    from . import sde

    problem = ensemble.problem
    bound, surface, noise = problem.optimizer, problem.surface, problem.noise
    name = {"gd": "sme1", "momentum": "kramers"}.get(bound.name)
    if name is None or noise is None:
        return None
    try:
        A, b = sde.affine_gradient(surface)
        times = ensemble.t
        moments = sde.sde_moments(name, bound, surface, noise, problem.x0, times)
    except sde.LinearityError:
        return None
    except Exception as error:  # a model that does not fit these hyperparameters
        from .errors import InputError

        if isinstance(error, InputError):
            return None
        raise
    # L(θ) = ½θᵀAθ + bᵀθ + c with c from the surface at 0: E[L] from the moments
    c = float(surface.value(np.zeros(surface.dim)))
    second = moments.second_moment
    expected = 0.5 * np.einsum("ij,nji->n", A, second) + moments.mean @ b + c
    return name, expected


def plot_ensemble(ensemble: Ensemble, shown: int = 30) -> Figure:
    """An ensemble's fan: paths over the contour and the loss's law against time.

    Left (2-D): ``shown`` member paths, thin, over the contour, the mean path
    :math:`\\frac1M\\sum_m\\theta^{(m)}_k` bold, and the final iterates of all
    members as dots; (1-D or n-D): the first coordinate's median and 5–95 % band
    against time.  Right: the loss's mean, median and 5–95 % band against the
    model's time; for gd and heavy ball on a linear problem, the exact
    :math:`\\mathbb E[L(t)]` of its SDE (SME1, Kramers) beside it.
    """
    problem = ensemble.problem
    surface = problem.surface
    figure = new_figure(11.5, 4.8)
    left, right = figure.subplots(1, 2, width_ratios=(1.15, 1))
    lo_q, hi_q = BAND
    if surface.dim == 2:
        theta = ensemble.theta
        finite = theta[np.isfinite(theta).all(axis=2)]
        spread = np.quantile(finite, [0.005, 0.995], axis=0)
        lo, hi = surface.bounds
        lo = np.minimum(lo, spread[0])
        hi = np.maximum(hi, spread[1])
        contour(surface, left, bounds=(lo, hi))
        for m in range(min(shown, ensemble.n_paths)):
            left.plot(theta[m, :, 0], theta[m, :, 1], color="white", lw=0.5, alpha=0.45)
        mean = ensemble.theta_mean()
        left.plot(
            mean[:, 0],
            mean[:, 1],
            color=PALETTE[1],
            lw=2.0,
            label=f"mean of {ensemble.n_paths} paths",
        )
        final = ensemble.final_theta
        left.plot(
            final[:, 0],
            final[:, 1],
            ".",
            color=PALETTE[5],
            ms=2,
            alpha=0.5,
            label="final iterates",
        )
        left.plot(*problem.x0, "o", color="white", mec="k", ms=6, label="start")
        left.legend(loc="upper left", fontsize=7, framealpha=0.85)
    else:
        q = ensemble.theta_quantiles([lo_q, 0.5, hi_q])[:, :, 0]
        left.fill_between(
            ensemble.t,
            q[0],
            q[2],
            color=PALETTE[0],
            alpha=0.25,
            label=f"{lo_q:.0%}–{hi_q:.0%} of θ₀",
        )
        left.plot(ensemble.t, q[1], color=PALETTE[0], label="median θ₀")
        for m in range(min(5, ensemble.n_paths)):
            left.plot(ensemble.t, ensemble.theta[m, :, 0], color="0.4", lw=0.4)
        left.set_xlabel("ODE time t")
        left.set_ylabel("θ₀")
        left.legend(fontsize=7)
        left.grid(alpha=0.3)
    fan = ensemble.loss_quantiles([lo_q, 0.5, hi_q])
    t = ensemble.t
    right.fill_between(
        t,
        fan[0],
        fan[2],
        color=PALETTE[0],
        alpha=0.25,
        label=f"{lo_q:.0%}–{hi_q:.0%} quantile band",
    )
    right.plot(t, fan[1], color=PALETTE[0], lw=1.0, ls="--", label="median")
    right.plot(
        t,
        ensemble.loss_mean(),
        color=PALETTE[0],
        lw=1.8,
        label=f"mean over {ensemble.n_paths} paths",
    )
    exact = _sde_expected_loss(ensemble)
    if exact is not None:
        name, expected = exact
        right.plot(
            t,
            expected,
            color="k",
            lw=1.0,
            ls=":",
            label=f"E[L(t)] of the SDE ({name}, exact)",
        )
    positive = fan[0][np.isfinite(fan[0])]
    if positive.size and positive.min() > 0:
        right.set_yscale("log")
    right.set_xlabel("ODE time t")
    right.set_ylabel("loss")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    figure.suptitle(
        f"{problem.optimizer.name} on {surface.name} with noise "
        f"{problem.noise.describe()}, seed {problem.seed}: {ensemble.n_paths} paths",
        fontsize=10,
    )
    return figure


def stationary_histogram(
    samples: np.ndarray,
    loss: Callable[[np.ndarray], np.ndarray],
    temperature: float,
    ax: Axes | None = None,
    *,
    bins: int = 60,
    label: str = "iterates",
    span: tuple[float, float] | None = None,
    index: int = 0,
) -> Axes:
    r"""A histogram of 1-D samples against the Gibbs density
    :math:`p(x) = e^{-L(x)/T}/Z`, :math:`Z` by quadrature on ``span``.

    For SGD with noise of covariance :math:`\sigma^2/B` per step at learning rate
    :math:`\eta`, :math:`T = \eta\sigma^2/(2B)` (the SME's stationary law; Mandt,
    Hoffman & Blei 2017, "Stochastic gradient descent as approximate Bayesian
    inference").
    """
    from scipy import integrate

    ax = _axes(ax)
    samples = np.asarray(samples, float).ravel()
    if span is None:
        span = (float(samples.min()) - 0.5, float(samples.max()) + 0.5)
    total = integrate.quad(
        lambda x: np.exp(-loss(np.array(x)) / temperature), *span, limit=200
    )[0]
    grid = np.linspace(*span, 600)
    colour = style(index)["color"]
    ax.hist(
        samples,
        bins=bins,
        range=span,
        density=True,
        alpha=0.45,
        color=colour,
        label=f"{label} ({samples.size})",
    )
    ax.plot(
        grid,
        np.exp(-loss(grid) / temperature) / total,
        color=colour,
        lw=1.6,
        label=f"Gibbs e^(−L/T), T = {temperature:.3g}",
    )
    ax.set_xlabel("θ")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def expected_loss_plot(
    t: np.ndarray,
    curves: dict[str, np.ndarray],
    ax: Axes | None = None,
    *,
    reference: str | None = None,
) -> Axes:
    """E[L(t)] curves (``{label: values}``) on one axis; with ``reference`` (one of
    the labels), an inset of each other curve's gap to it on a log scale, which
    shows the O(η) agreement of SME1 and the O(η²) of SME2."""
    ax = _axes(ax)
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(t, values, lw=1.6 if i == 0 else 1.2, label=name, **style(i))
    ax.set_xlabel("t = kη")
    ax.set_ylabel("E[L(t)]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if reference is not None:
        gaps = ax.inset_axes([0.55, 0.45, 0.42, 0.3])
        base = curves[reference]
        for i, (name, values) in enumerate(curves.items()):
            if name == reference:
                continue
            gaps.semilogy(t[1:], np.abs(values - base)[1:] + 1e-300, lw=1.0, **style(i))
        gaps.set_title(f"|E[L] − {reference}|", fontsize=7)
        gaps.tick_params(labelsize=6)
    return ax


def _order_axes(
    h: np.ndarray,
    error: np.ndarray,
    fitted: float,
    declared: float,
    ax: Axes | None,
    label: str,
    index: int,
    interval: Sequence[float] | None = None,
) -> Axes:
    ax = _axes(ax)
    colour = style(index)["color"]
    text = f"{label}: fitted {fitted:.2f}"
    if interval is not None:
        text += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    ax.loglog(h, error, "o-", color=colour, label=text)
    anchor = error[-1] / h[-1] ** declared
    ax.loglog(
        h,
        anchor * h**declared,
        color=colour,
        lw=0.8,
        ls=":",
        label=f"slope {declared:g}",
    )
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # the decades only: no overlap
    ax.set_xlabel("step h")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return ax


def weak_order_plot(results: Sequence[Any], ax: Axes | None = None) -> Axes:
    """Weak error against h for :class:`odeopt.sde.WeakOrder` results."""
    for i, result in enumerate(results):
        ax = _order_axes(
            result.h,
            result.error,
            result.fitted_order,
            result.declared_order,
            ax,
            result.model,
            i,
        )
    ax.set_ylabel("weak error (mean and second moment)")
    return ax


def strong_order_plot(results: Sequence[Any], ax: Axes | None = None) -> Axes:
    """Strong error against h for :class:`odeopt.sde.StrongOrder` results, with the
    confidence interval of each fitted slope."""
    for i, result in enumerate(results):
        ax = _order_axes(
            result.h,
            result.error,
            result.fitted_order,
            result.declared_order,
            ax,
            result.label,
            i,
            result.interval,
        )
    ax.set_ylabel("strong error (E|θ_n − Θ(nh)|²)^½")
    return ax


__all__ = [
    "expected_loss_plot",
    "plot_ensemble",
    "stationary_histogram",
    "strong_order_plot",
    "weak_order_plot",
]
