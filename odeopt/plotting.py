"""Pictures of runs: contours with the discrete iterates and the continuous curve.

Object-oriented matplotlib (``matplotlib.figure.Figure``, never pyplot), so everything
works headless and nothing leaks between calls.  Functions that draw on an ``Axes``
take ``ax=None`` and return the ``Axes``; functions that lay out several panels return
the ``Figure``.  Colours come from the Okabe–Ito colour-blind-safe palette, and every
curve also gets its own line style.
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, PlotError  # noqa: F401 (PlotError: its old home)
from .trajectory import atomic_output, check_output_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .check import OrderCheck
    from .surfaces._base import BoundSurface
    from .trajectory import Trajectory

#: Okabe & Ito (2008), colour-blind safe; black last.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
IMAGE_FORMATS = (".png", ".svg", ".pdf")

#: The largest magnitude drawn.  matplotlib's log tickers overflow on an axis that
#: reaches about 1e290 (an OverflowError in its LogFormatter, matplotlib 3.11), and a
#: value of 1e200 already says that the run ran away: larger values are masked, and
#: the figure says how many (:func:`_note_hidden`).
DRAWABLE = 1e200


def _drawable(values) -> tuple[np.ndarray, int]:
    """A copy of ``values`` with what cannot be drawn set to NaN, and how many.

    Non-finite values and those beyond :data:`DRAWABLE` in magnitude are masked; for
    an array of points (2-D) the whole point goes when one coordinate does.
    """
    v = np.array(values, dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (np.abs(v) > DRAWABLE)
    if v.ndim == 2:
        bad = np.any(bad, axis=1)
        v[bad, :] = np.nan
    else:
        v[bad] = np.nan
    return v, int(np.count_nonzero(bad))


def _note_hidden(ax: Axes, hidden: dict[str, int]) -> None:
    """Say on the axes which values were masked as undrawable (nothing if none)."""
    parts = [f"{n} {what if n > 1 else what[:-1]}" for what, n in hidden.items() if n]
    if not parts:
        return
    ax.text(
        0.99,
        0.01,
        "not drawn (not finite or beyond ±1e200, the run ran away): "
        + ", ".join(parts),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6.5,
        color="#D55E00",
        wrap=True,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
        zorder=10,
    )


def _symlog_ticks(ax: Axes, linthresh: float, low: float, high: float) -> None:
    """Ticks for a symmetric log axis: 0 and at most about ten decades.

    matplotlib's own locator ticks ``±linthresh`` and 0, a few pixels apart when the
    axis spans a hundred decades, and its labels overprint.  These ticks stride
    through the decades alike on both sides and leave the first stride next to the
    linear range empty.
    """
    from matplotlib import ticker

    bottom = np.log10(linthresh)
    tops = [np.floor(np.log10(-low)) if low < -linthresh else None]
    tops.append(np.floor(np.log10(high)) if high > linthresh else None)
    decades = sum(top - bottom for top in tops if top is not None)
    stride = max(1.0, np.ceil(decades / 9.0))
    ticks = [0.0]
    for sign, top in zip((-1.0, 1.0), tops, strict=True):
        if top is not None:
            exponents = np.arange(top, bottom + stride - 0.5, -stride)
            ticks += [sign * 10.0**e for e in exponents]
    ax.yaxis.set_major_locator(ticker.FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def _loss_scale(ax: Axes, curves: Sequence[np.ndarray]) -> str:
    """Set a log axis for positive loss gaps, a signed one when some fall below 0.

    A loss gap that goes below zero (a loss under the reference value: a surface
    unbounded below, or a run that left the minimum's basin) cannot be shown on a log
    axis, and drawing its magnitude would show a fall as a rise.  Such panels get a
    symmetric log axis (log in both directions, linear within ±``linthresh``, the
    decade of the smallest non-zero gap drawn).  Returns the scale's description
    for the axis label.
    """
    values = np.concatenate([np.ravel(c) for c in curves]) if curves else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size and values.min() < 0:
        smallest = np.abs(values[values != 0]).min()
        linthresh = 10.0 ** np.floor(np.log10(max(smallest, 1e-300)))
        ax.set_yscale("symlog", linthresh=linthresh)
        _symlog_ticks(ax, linthresh, values.min(), values.max())
        return f"symmetric log scale, linear within ±{linthresh:.0e}"
    if np.any(values > 0):
        ax.set_yscale("log")
        return "log scale"
    return ""


def style(index: int) -> dict[str, Any]:
    """Colour and line style of the ``index``-th curve."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }


def check_image_path(path: str | os.PathLike) -> Path:
    """Validate a picture's path before any work is done (PlotError)."""
    return check_output_path(path, IMAGE_FORMATS)


def save(figure: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``figure`` atomically (no partial file if drawing fails)."""
    path = check_image_path(path)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A figure not attached to any GUI (safe without a display)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _axes(ax: Axes | None, projection: str | None = None) -> Axes:
    if ax is not None:
        return ax
    return new_figure().add_subplot(projection=projection)


def _grid(surface: BoundSurface, bounds, resolution: int):
    lo, hi = bounds if bounds is not None else surface.bounds
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    X, Y = np.meshgrid(xs, ys)
    value = surface.python_kernels()[0]
    Z = np.empty_like(X)
    point = np.empty(2)
    with np.errstate(all="ignore"):
        for i in range(resolution):
            for j in range(resolution):
                point[0], point[1] = X[i, j], Y[i, j]
                Z[i, j] = value(point, surface.p)
    return X, Y, Z


def contour(
    surface: BoundSurface,
    ax: Axes | None = None,
    *,
    bounds: tuple[Sequence[float], Sequence[float]] | None = None,
    resolution: int = 200,
    levels: int = 25,
    log: bool | None = None,
) -> Axes:
    """Filled contours of a 2-D surface (a curve for a 1-D one), minima marked.

    ``log`` spaces the levels logarithmically above the minimum; by default when the
    values span more than three decades.
    """
    from matplotlib import colors

    ax = _axes(ax)
    if surface.dim == 1:
        lo, hi = bounds if bounds is not None else surface.bounds
        xs = np.linspace(lo[0], hi[0], 1000)
        value = surface.python_kernels()[0]
        with np.errstate(all="ignore"):
            ys = [value(np.array([x]), surface.p) for x in xs]
        ax.plot(xs, ys, color="0.35", lw=1.2, zorder=1)
        for m in surface.minima:
            ax.plot(
                m.theta[0],
                m.value,
                marker="*",
                ms=12,
                color="#F0E442",
                mec="k",
                zorder=5,
                ls="none",
            )
        ax.set_xlabel("θ")
        ax.set_ylabel("loss")
        ax.set_title(surface.name)
        return ax
    if surface.dim != 2:
        raise InputError(
            f"contours need a 1-D or 2-D surface, {surface.name} has "
            f"dimension {surface.dim}"
        )
    X, Y, Z = _grid(surface, bounds, resolution)
    finite = Z[np.isfinite(Z)]
    low, high = float(finite.min()), float(finite.max())
    quarter = float(np.quantile(finite, 0.25)) - low
    if log is None:  # most of the box sits far below the top: log levels show it
        log = high - low > 20.0 * max(quarter, 1e-300)
    if log:
        shift = low - max(1e-4 * (high - low), 1e-12)
        Zs = Z - shift
        edges = np.geomspace(
            Zs[np.isfinite(Zs)].min(), Zs[np.isfinite(Zs)].max(), levels
        )
        filled = ax.contourf(
            X, Y, Zs, levels=edges, norm=colors.LogNorm(), cmap="cividis", alpha=0.85
        )
        ax.contour(X, Y, Zs, levels=edges, colors="white", linewidths=0.3, alpha=0.6)
    else:
        filled = ax.contourf(X, Y, Z, levels=levels, cmap="cividis", alpha=0.85)
        ax.contour(X, Y, Z, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    bar = ax.figure.colorbar(
        filled,
        ax=ax,
        shrink=0.85,
        label="loss − its least value in view (log scale)" if log else "loss",
    )
    if log:
        from matplotlib import ticker

        bar.locator = ticker.LogLocator()
        bar.formatter = ticker.LogFormatterSciNotation()
        bar.update_ticks()
    for m in surface.minima:
        ax.plot(
            *m.theta,
            marker="*",
            ms=13,
            color="#F0E442",
            mec="k",
            zorder=5,
            ls="none",
            label="_min",
        )
    if surface.surface.players:  # a game: its field −F, which is not −∇(value)
        _field_arrows(surface, ax, X, Y)
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    ax.set_aspect("equal" if _square(X, Y) else "auto")
    ax.set_xlabel("θ₀")
    ax.set_ylabel("θ₁")
    ax.set_title(surface.name)
    return ax


def _field_arrows(surface: BoundSurface, ax: Axes, X, Y, count: int = 17) -> None:
    """A game's field −F (where the players move) as arrows over its 2-D box."""
    grad = surface.python_kernels()[1]
    xs = np.linspace(X.min(), X.max(), count)
    ys = np.linspace(Y.min(), Y.max(), count)
    U, V = np.zeros((count, count)), np.zeros((count, count))
    out = np.empty(2)
    with np.errstate(all="ignore"):
        for r, y in enumerate(ys):
            for c, x in enumerate(xs):
                grad(np.array([x, y]), surface.p, out)
                U[r, c], V[r, c] = -out[0], -out[1]
    ax.quiver(xs, ys, U, V, color="white", alpha=0.7, angles="xy", width=0.003)


def _square(X, Y) -> bool:
    ratio = (X.max() - X.min()) / max(Y.max() - Y.min(), 1e-300)
    return 0.4 < ratio < 2.5


def label(traj: Trajectory) -> str:
    """``nesterov (lr=0.001, momentum=0.9)`` from a trajectory's metadata."""
    meta = traj.meta
    hp = meta.get("hyperparameters", {})
    shown = [
        f"{k}={v:.3g}"
        for k, v in hp.items()
        if k in ("lr", "momentum", "beta1", "beta2", "alpha")
        and not isinstance(v, bool)
    ]
    text = f"{meta.get('optimizer', '?')} ({', '.join(shown)})"
    if meta.get("noise"):  # noisy runs of one optimizer differ by their path
        text += f", path {meta.get('path', 0)}"
    return text


def _mark_start(ax: Axes, x: float, y: float, color: str) -> None:
    """The start point: a hollow circle in the trajectory's colour."""
    ax.plot(x, y, marker="o", ms=8, mfc="white", mec=color, mew=2, ls="none", zorder=6)


def path(
    traj: Trajectory,
    ax: Axes,
    *,
    index: int = 0,
    reference: bool = True,
    markers: bool | None = None,
) -> Axes:
    """Draw a trajectory (and its reference ODE curve) on a contour (or 1-D curve)."""
    st = style(index)
    theta = _drawable(traj.theta)[0]
    finite = np.all(np.isfinite(theta), axis=1)
    theta = theta[finite]
    ref_theta = None if traj.ref_theta is None else _drawable(traj.ref_theta)[0]
    if markers is None:
        markers = len(theta) <= 300
    if traj.dim == 1:
        loss = _drawable(traj.loss)[0][finite]
        ax.plot(
            theta[:, 0],
            loss,
            color=st["color"],
            lw=1.0,
            alpha=0.7,
            marker="o" if markers else None,
            ms=3,
            label=label(traj),
        )
        _mark_start(ax, theta[0, 0], loss[0], st["color"])
        if reference and ref_theta is not None:
            ax.plot(
                ref_theta[:, 0],
                _drawable(traj.ref_loss)[0],
                color="k",
                lw=1.5,
                ls="--",
                label=f"ODE: {traj.meta['model']['name']}",
            )
        return ax
    if reference and ref_theta is not None:
        # the ODE underneath, wide and light, so that the iterates stay visible on it
        model = traj.meta.get("model", {})
        ax.plot(
            ref_theta[:, 0],
            ref_theta[:, 1],
            color="white",
            lw=5.0,
            alpha=0.75,
            solid_capstyle="round",
            zorder=2,
            # the name only: the ODE itself is long and goes in the figure's title
            label=f"ODE ({model.get('name', 'model')})",
        )
    ax.plot(
        theta[:, 0],
        theta[:, 1],
        color=st["color"],
        linestyle=st["linestyle"],
        lw=1.6,
        marker="o" if markers else None,
        ms=2.5,
        label=label(traj),
        zorder=3,
    )
    _mark_start(ax, theta[0, 0], theta[0, 1], st["color"])
    ax.plot(
        theta[-1, 0],
        theta[-1, 1],
        marker="X",
        ms=8,
        color=st["color"],
        mec="k",
        ls="none",
        zorder=6,
    )
    return ax


def loss_curve(
    trajs: Trajectory | Sequence[Trajectory],
    ax: Axes | None = None,
    *,
    x: str = "t",
    distance: bool = False,
    surface: BoundSurface | None = None,
) -> Axes:
    """Loss (or distance to the nearest minimum) against ODE time or step.

    The loss is drawn as ``loss − min`` when the surface has known minima, else as
    the loss itself, on a log axis while it stays above zero and on a symmetric log
    axis (signed) once it goes below (see :func:`_loss_scale`).  Values that cannot
    be drawn (a run that ran away) are masked and the panel says how many.
    """
    ax = _axes(ax)
    if not isinstance(trajs, (list, tuple)):
        trajs = [trajs]
    least = None
    if surface is not None and surface.minima:
        least = min(m.value for m in surface.minima)
    curves, hidden = [], {"records": 0, "reference values": 0}
    for i, traj in enumerate(trajs):
        xs = traj.t if x == "t" else traj.step
        if distance:
            if surface is None or not surface.minima:
                raise InputError(
                    "distance to a minimum needs a surface with known minima"
                )
            target = surface.nearest_minimum(traj.final_theta)
            target = surface.minima[0] if target is None else target
            with np.errstate(all="ignore"):
                ys = np.linalg.norm(traj.theta - target.theta, axis=1)
        else:
            ys = _gap(traj.loss, least)
        ys, lost = _drawable(ys)
        hidden["records"] += lost
        ax.plot(xs, ys, lw=1.6, label=label(traj), **style(i))
        curves.append(ys)
        if traj.ref_theta is not None and not distance:
            ref, lost = _drawable(_gap(traj.ref_loss, least))
            hidden["reference values"] += lost
            ax.plot(
                xs,
                ref,
                color=style(i)["color"],
                lw=1.0,
                alpha=0.6,
                ls=":",
                label=f"ODE ({traj.meta['model']['name']})",
            )
            curves.append(ref)
    scale = _loss_scale(ax, curves)
    ax.set_xlabel("ODE time t" if x == "t" else "step k")
    what = "distance to the minimum" if distance else "loss"
    if not distance and least is not None:
        what = "loss − min"
    ax.set_ylabel(f"{what} ({scale})" if scale else what)
    ax.grid(which="both", alpha=0.3)
    _note_hidden(ax, hidden)
    return ax


def _gap(loss: np.ndarray, least: float | None) -> np.ndarray:
    """``loss − least`` (the loss itself without a known minimum).

    A gap below zero by no more than the rounding of the stored minimum's value
    (1e-12 of it) is the minimum reached, drawn as 0 rather than as a fall below it.
    """
    if least is None:
        return np.asarray(loss, dtype=float)
    with np.errstate(all="ignore"):
        gap = np.asarray(loss, dtype=float) - least
        rounding = 1e-12 * max(1.0, abs(least))
        return np.where((gap < 0) & (gap >= -rounding), 0.0, gap)


def _surface_of(traj: Trajectory) -> BoundSurface:
    """The surface a run was made on: its problem's, else bound again from ``meta``
    (a saved run whose surface is not registered names it only)."""
    if traj.problem is not None:
        return traj.problem.surface
    from .errors import UnknownNameError
    from .registry import surface_names
    from .stepper import resolve_surface

    meta = traj.meta
    name = meta.get("surface_expression") or meta.get("surface")
    if not str(name).startswith("expr:") and name not in surface_names():
        raise UnknownNameError(
            f"the saved run's surface {name!r} is not registered "
            "(draw it from Python: plotting.plot_run(traj, bound_surface))"
        )
    return resolve_surface(name, traj.dim, meta.get("surface_params") or {})


def plot_run(traj: Trajectory, surface: BoundSurface | None = None) -> Figure:
    """The standard picture of a run: path on the contour and the loss against time."""
    if surface is None:
        surface = _surface_of(traj)
    figure = new_figure(11.5, 4.8)
    left, right = figure.subplots(1, 2, width_ratios=(1.15, 1))
    if surface.dim == 2:
        box = _run_box(surface, [traj])
        contour(surface, left, bounds=box)
        path(traj, left)
        if box is None:
            _fit_view(left, traj, surface)
        left.legend(loc="upper left", fontsize=7, framealpha=0.85)
    elif surface.dim == 1:  # θ against time shows barrier crossings at a glance
        theta = _drawable(traj.theta)[0]
        left.plot(traj.t, theta[:, 0], lw=1.4, label=label(traj), **style(0))
        if traj.ref_theta is not None:
            left.plot(
                traj.t,
                _drawable(traj.ref_theta)[0][:, 0],
                color="k",
                lw=1.0,
                ls="--",
                label=f"ODE ({traj.meta['model']['name']})",
            )
        for m in surface.minima:
            left.axhline(m.theta[0], color="0.5", lw=0.8, ls=":")
            left.annotate(
                f"{m.kind} min",
                (traj.t[-1], m.theta[0]),
                fontsize=7,
                ha="right",
                va="bottom",
                color="0.35",
            )
        left.set_xlabel("ODE time t")
        left.set_ylabel("θ")
        left.legend(fontsize=7)
        left.grid(alpha=0.3)
    else:
        theta = _drawable(traj.theta)[0]
        for i in range(min(surface.dim, 6)):
            left.plot(traj.t, theta[:, i], lw=1.2, label=f"θ{i}", **style(i))
        left.set_xlabel("ODE time t")
        left.set_ylabel("coordinates")
        left.legend(fontsize=7)
    loss_curve(traj, right, surface=surface)
    right.legend(fontsize=7)
    model = traj.meta.get("model", {})
    figure.suptitle(
        f"{label(traj)} on {surface.name} — {traj.status.value}; model "
        f"{model.get('name', '')}: {model.get('ode', '')}",
        fontsize=10,
    )
    return figure


def _run_box(surface: BoundSurface, trajs: Sequence[Trajectory]):
    """For a surface that declares no plot box (a formula given without bounds): a
    box around the runs' points, else None (the surface's own box is used)."""
    if not getattr(surface.surface, "auto_bounds", False):
        return None
    points = np.vstack([tr.theta[:, :2] for tr in trajs])
    points = points[np.all(np.isfinite(points), axis=1)]
    if not points.size:
        return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 0.2 * (1.0 + np.abs(lo) + np.abs(hi)))
    return lo - pad, hi + pad


def _fit_view(ax: Axes, traj: Trajectory, surface: BoundSurface) -> None:
    """Widen the view if the path leaves the plot box (never shrink it)."""
    if surface.dim != 2:
        return
    pts = _drawable(traj.theta)[0]
    if traj.ref_theta is not None:
        pts = np.vstack([pts, _drawable(traj.ref_theta)[0]])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not len(pts):
        return
    lo, hi = surface.bounds
    box_lo, box_hi = pts.min(axis=0), pts.max(axis=0)
    span = hi - lo
    if np.any(box_lo < lo) or np.any(box_hi > hi):
        new_lo = np.maximum(np.minimum(lo, box_lo), lo - 2 * span)
        new_hi = np.minimum(np.maximum(hi, box_hi), hi + 2 * span)
        ax.set_xlim(new_lo[0], new_hi[0])
        ax.set_ylim(new_lo[1], new_hi[1])


def order_plot(result: OrderCheck, ax: Axes | None = None) -> Axes:
    """Error against step size on log–log axes with the fitted and declared slopes."""
    ax = _axes(ax)
    h = np.array([r["h"] for r in result.rows])
    err = np.array([r["error"] for r in result.rows])
    ax.loglog(h, err, "o-", color=PALETTE[0], lw=1.6, label="measured error")
    fit_h = h[-result.fit_levels :]
    fit_e = err[-result.fit_levels :]
    anchor_h, anchor_e = fit_h[-1], fit_e[-1]
    for slope, colour, ls, text in (
        (
            result.fitted_order,
            PALETTE[1],
            "--",
            f"fitted slope {result.fitted_order:.3f}",
        ),
        (result.declared_order, "k", ":", f"declared order {result.declared_order:g}"),
    ):
        ax.loglog(
            h,
            anchor_e * (h / anchor_h) ** slope,
            color=colour,
            ls=ls,
            lw=1.2,
            label=text,
        )
    ax.set_xlabel("time step h")
    ax.set_ylabel("|θ_n − θ(n·h)|")
    verdict = "passed" if result.passed else "FAILED"
    ax.set_title(
        f"{result.optimizer} vs model {result.model} on {result.surface}: {verdict}",
        fontsize=10,
    )
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def surface_3d(
    surface: BoundSurface,
    ax: Axes | None = None,
    *,
    resolution: int = 80,
    trajs: Sequence[Trajectory] = (),
) -> Axes:
    """A 3-D view of a 2-D surface, with trajectories lifted onto it."""
    ax = _axes(ax, projection="3d")
    X, Y, Z = _grid(surface, None, resolution)
    ax.plot_surface(X, Y, Z, cmap="cividis", alpha=0.8, linewidth=0, antialiased=True)
    for i, traj in enumerate(trajs):
        ax.plot(
            traj.theta[:, 0],
            traj.theta[:, 1],
            traj.loss,
            lw=1.8,
            label=label(traj),
            **style(i),
        )
    ax.set_xlabel("θ₀")
    ax.set_ylabel("θ₁")
    ax.set_zlabel("loss")
    ax.set_title(surface.name)
    return ax


def lyapunov_values(
    traj: Trajectory, surface: BoundSurface | None = None
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The model's energy or Lyapunov function along the reference and the iterates.

    Returns ``(E_reference, E_iterates, formula)``.  Along the reference the velocity
    is the ODE state's own; for the iterates it is the backward difference
    (θ_k − θ_{k−1})/(t_k − t_{k−1}) (``E_iterates[0]`` uses velocity 0, the start at
    rest).  ``L*`` and ``x*`` are the known minimum nearest the reference's end.

    Raises
    ------
    InputError
        If the model has no such function, the run has no reference state, the
        objective is changed by ``weight_decay`` or ``maximize``, or the surface has
        no known minimum.
    """
    from .registry import get_optimizer, optimizers

    meta = traj.meta
    name = meta.get("model", {}).get("name")
    optimizer = (
        traj.problem.optimizer.optimizer
        if traj.problem is not None
        else get_optimizer(meta["optimizer"])
    )
    model = next((m for m in optimizer.models if m.name == name), None)
    if model is None or model.lyapunov is None:
        have = sorted(
            f"{o.name}/{m.name}"
            for o in optimizers().values()
            for m in o.models
            if m.lyapunov is not None
        )
        raise InputError(
            f"no energy or Lyapunov function is known for {meta['optimizer']}/{name}; "
            f"models that have one: {', '.join(have)}"
        )
    if traj.ref_state is None:
        raise InputError(
            "energy curves need the reference ODE state: run with reference=True "
            "(it is not stored in saved files)"
        )
    hp = meta["hyperparameters"]
    if hp.get("weight_decay", 0.0) or hp.get("maximize", False):
        raise InputError(
            "energy curves are for the plain loss: weight_decay must be 0 and "
            "maximize off"
        )
    if surface is None:
        surface = _surface_of(traj)
    best = surface.nearest_minimum(traj.ref_theta[-1])
    if best is None:
        raise InputError(f"energy curves need a known minimum; {surface.name} has none")
    dim = traj.dim
    ode = meta["model"]["parameters"]
    velocity = traj.ref_state[:, dim : 2 * dim]
    e_ref = model.lyapunov(
        traj.t, traj.ref_theta, velocity, traj.ref_loss - best.value, best.theta, ode
    )
    e_it = None
    if np.all(np.isfinite(traj.theta)) and len(traj.t) > 1:
        v = np.zeros_like(traj.theta)
        v[1:] = np.diff(traj.theta, axis=0) / np.diff(traj.t)[:, None]
        e_it = model.lyapunov(
            traj.t, traj.theta, v, traj.loss - best.value, best.theta, ode
        )
    return e_ref, e_it, model.lyapunov_text


def energy(
    traj: Trajectory,
    ax: Axes | None = None,
    surface: BoundSurface | None = None,
    iterates: bool = True,
) -> Axes:
    """Energy or Lyapunov curve of the model, where it has one (log scale).

    Heavy ball and Nesterov (``low-res``): E = ½‖θ̇‖² + L − L*, which friction makes
    non-increasing.  NAG-C (``sbc``): Su–Boyd–Candès' t²(L − L*) + 2‖θ − x* + tθ̇/2‖²
    (r = 3; its generalisation for other r), non-increasing on convex losses, which
    gives L − L* ≤ 2‖x₀ − x*‖²/t².  The reference curve uses the ODE's own
    velocity; ``iterates`` adds the same function on the discrete iterates with
    backward-difference velocities.  That is the continuous function on discrete
    data, not a discrete Lyapunov function: for SBC its t² and t weights multiply
    the O(√s) gap between iterates and ODE, so the two curves part at large t even
    for small s.  See :func:`lyapunov_values`.
    """
    ax = _axes(ax)
    e_ref, e_it, text = lyapunov_values(traj, surface)
    model = traj.meta["model"]["name"]
    ax.plot(traj.t, e_ref, color="k", lw=1.6, label=f"ODE ({model}), its own velocity")
    if iterates and e_it is not None:
        stride = max(1, len(traj.t) // 80)
        ax.plot(
            traj.t[::stride],
            e_it[::stride],
            ls="none",
            marker="o",
            ms=3.5,
            color=PALETTE[0],
            label=f"{label(traj)} (velocity by backward difference)",
        )
    ax.set_xlabel("ODE time t")
    ax.set_ylabel("energy / Lyapunov function")
    shown = e_ref if e_it is None or not iterates else np.concatenate([e_ref, e_it])
    ax.set_yscale("log" if np.all(shown > 0) else "linear")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title("\n".join(textwrap.wrap(text, 80)), fontsize=8)
    return ax


def plot_compare(
    trajs: Sequence[Trajectory], surface: BoundSurface, x: str = "t"
) -> Figure:
    """Several runs on one contour (2-D) or θ/coordinates panel, plus their losses."""
    figure = new_figure(11.5, 4.8)
    left, right = figure.subplots(1, 2, width_ratios=(1.15, 1))
    if surface.dim == 2:
        box = _run_box(surface, trajs)
        contour(surface, left, bounds=box)
        for i, traj in enumerate(trajs):
            path(traj, left, index=i)
            if box is None:
                _fit_view(left, traj, surface)
        left.legend(loc="best", fontsize=7, framealpha=0.85)
    else:
        for i, traj in enumerate(trajs):
            xs = traj.t if x == "t" else traj.step
            theta = _drawable(traj.theta)[0]
            left.plot(xs, theta[:, 0], lw=1.4, label=label(traj), **style(i))
        left.set_xlabel("ODE time t" if x == "t" else "step k")
        left.set_ylabel("θ₀")
        left.legend(fontsize=7)
        left.grid(alpha=0.3)
    loss_curve(list(trajs), right, x=x, surface=surface)
    right.legend(fontsize=7)
    figure.suptitle(
        f"{len(trajs)} optimizers on {surface.name} from the same start", fontsize=10
    )
    return figure


# -- animation --------------------------------------------------------------------------

ANIMATION_FORMATS = (".gif",)


def check_animation_path(path: str | os.PathLike) -> Path:
    """Validate an animation's path before any work is done (PlotError)."""
    return check_output_path(path, ANIMATION_FORMATS)


def _frame_counts(
    trajs: Sequence[Trajectory], xs: Sequence[np.ndarray], frames: int, pace: str
) -> tuple[np.ndarray, np.ndarray]:
    """Frame times and the records each run shows at each frame.

    ``pace="uniform"`` spaces frames evenly in x; ``pace="motion"`` mostly evenly in
    the distance travelled (each run's path length, normalised, averaged over the
    runs), so that the quick early moves and the slow crawl both get frames.
    """
    end = max(float(x[-1]) for x in xs)
    if pace == "uniform" or end == 0.0:
        marks = np.linspace(0.0, end, frames)
    else:
        grid = np.unique(np.concatenate(xs))
        progress = np.zeros_like(grid)
        moving = 0
        for tr, x in zip(trajs, xs, strict=True):
            theta = np.where(np.isfinite(tr.theta), tr.theta, np.nan)
            step = np.linalg.norm(np.diff(theta, axis=0), axis=1)
            length = np.concatenate([[0.0], np.cumsum(np.nan_to_num(step))])
            if length[-1] > 0:
                progress += np.interp(grid, x, length / length[-1])
                moving += 1
        # time counts as much, so that the clock keeps moving through a slow crawl
        progress = 0.5 * progress / max(moving, 1) + 0.5 * grid / end
        marks = np.interp(np.linspace(0.0, 1.0, frames), progress, grid)
    counts = np.array(
        [[np.searchsorted(x, m, side="right") for x in xs] for m in marks], dtype=int
    )
    return marks, counts


def animate(
    trajs: Trajectory | Sequence[Trajectory],
    surface: BoundSurface | None = None,
    *,
    x: str = "t",
    frames: int = 60,
    pace: str = "motion",
    reference: bool = True,
):
    """An animation of one or more runs: the iterates move along the contour.

    Left, the surface (contour for 2-D, the loss curve for 1-D, the first two
    coordinates for n-D) with each path growing and a marker at its current point;
    with ``reference`` and a run that has one, the ODE solution grows beside it as a
    black dashed curve.  Right, the loss gap against ODE time (``x="t"``) or step.
    Every run is shown at the same ``x`` in each frame, so runs with different
    clocks stay in step; ``pace`` spaces the frames evenly in distance travelled
    (``"motion"``) or in ``x`` (``"uniform"``).

    Returns a :class:`PathAnimation`, a :class:`matplotlib.animation.FuncAnimation`
    (``to_jshtml()`` shows it in Jupyter); write it with :func:`save_animation`
    (GIF through Pillow, no ffmpeg needed).
    """

    if not isinstance(trajs, (list, tuple)):
        trajs = [trajs]
    if not trajs:
        raise InputError("nothing to animate")
    if x not in ("t", "step"):
        raise InputError(f"x must be 't' or 'step', got {x!r}")
    if frames < 2:
        raise InputError(f"frames must be >= 2, got {frames}")
    if pace not in ("motion", "uniform"):
        raise InputError(f"pace must be 'motion' or 'uniform', got {pace!r}")
    if surface is None:
        surface = _surface_of(trajs[0])
    figure = new_figure(10.0, 4.2)
    left, right = figure.subplots(1, 2, width_ratios=(1.15, 1))
    xs = [np.asarray(tr.t if x == "t" else tr.step, dtype=float) for tr in trajs]
    marks, shown = _frame_counts(trajs, xs, frames, pace)
    offset = min((m.value for m in surface.minima), default=None)

    if surface.dim == 2:
        box = _run_box(surface, trajs)
        contour(surface, left, bounds=box, resolution=120)
        for tr in trajs if box is None else ():
            _fit_view(left, tr, surface)
    elif surface.dim == 1:  # the loss curve, widened to every point the runs visit
        lo, hi = surface.bounds
        points = np.concatenate([tr.theta[:, 0] for tr in trajs])
        points = points[np.isfinite(points)]
        a = min(lo[0], points.min()) if points.size else lo[0]
        b = max(hi[0], points.max()) if points.size else hi[0]
        contour(surface, left, bounds=([a], [b]))
        left.grid(alpha=0.3)
    else:
        left.set_xlabel("θ₀")
        left.set_ylabel("θ₁")
        left.set_title(f"first two of {surface.dim} coordinates", fontsize=9)
        both = np.vstack([tr.theta[:, :2] for tr in trajs])
        both = both[np.all(np.isfinite(both), axis=1)]
        pad = 0.05 * (np.ptp(both, axis=0) + 1e-12)
        left.set_xlim(both[:, 0].min() - pad[0], both[:, 0].max() + pad[0])
        left.set_ylim(both[:, 1].min() - pad[1], both[:, 1].max() + pad[1])
        left.grid(alpha=0.3)

    def coords(theta, loss):
        if surface.dim == 1:
            return theta[:, 0], loss
        return theta[:, 0], theta[:, 1]

    artists = []
    for i, tr in enumerate(trajs):
        st = style(i)
        ref = None
        if reference and tr.ref_theta is not None:
            # as in path(): the ODE underneath, wide and light
            (ref,) = left.plot(
                [],
                [],
                color="white" if surface.dim == 2 else "k",
                lw=5.0 if surface.dim == 2 else 1.3,
                ls="-" if surface.dim == 2 else "--",
                alpha=0.75 if surface.dim == 2 else 1.0,
                solid_capstyle="round",
                zorder=4,
                label="ODE of each run's model" if i == 0 else None,
            )
        (line,) = left.plot([], [], lw=1.5, zorder=5, label=label(tr), **st)
        (head,) = left.plot(
            [], [], marker="o", ms=7, mec="k", color=st["color"], ls="none", zorder=7
        )
        px, py = coords(tr.theta, tr.loss)
        _mark_start(left, px[0], py[0], st["color"])
        gap = _drawable(_gap(tr.loss, offset))[0]
        (curve,) = right.plot([], [], lw=1.5, label=label(tr), **st)
        artists.append((tr, ref, line, head, curve, gap))
    left.legend(loc="upper left", fontsize=7, framealpha=0.85)

    finite = np.concatenate([a[-1][np.isfinite(a[-1])] for a in artists])
    right.set_xlim(0.0, max(float(v[-1]) for v in xs) or 1.0)
    scale = _loss_scale(right, [finite])
    if scale.startswith("log"):
        positive = finite[finite > 0]
        right.set_ylim(positive.min() / 2, positive.max() * 2)
    elif scale:  # symmetric log: a decade beyond the ends, 0 kept in view
        right.set_ylim(min(2.0 * finite.min(), 0.0), max(2.0 * finite.max(), 0.0))
    right.set_xlabel("ODE time t" if x == "t" else "step k")
    what = "loss − min" if surface.minima else "loss"
    right.set_ylabel(f"{what} ({scale})" if scale else what)
    right.grid(which="both", alpha=0.3)
    clock = right.set_title("", fontsize=9)
    figure.suptitle(
        f"{', '.join(tr.meta['optimizer'] for tr in trajs)} on {surface.name}",
        fontsize=10,
    )

    def upto(n, stride):
        # every stride-th record up to n, and always the n-th itself
        return np.r_[np.arange(0, n - 1, stride), n - 1]

    def update(j):
        for n, (tr, ref, line, head, curve, gap) in zip(shown[j], artists, strict=True):
            n = max(int(n), 1)
            keep = upto(n, max(1, len(tr.t) // 2000))  # enough points for 800 px
            px, py = coords(tr.theta[keep], tr.loss[keep])
            line.set_data(px, py)
            head.set_data(px[-1:], py[-1:])
            if ref is not None:
                rx, ry = coords(tr.ref_theta[keep], tr.ref_loss[keep])
                ref.set_data(rx, ry)
            curve.set_data(tr.t[keep] if x == "t" else tr.step[keep], gap[keep])
        ks = [
            int(tr.step[max(int(n), 1) - 1])
            for n, (tr, *_rest) in zip(shown[j], artists, strict=True)
        ]
        if x == "step" or len(artists) == 1:
            clock.set_text(
                f"t = {marks[j]:.4g}, step {ks[0]}" if x == "t" else f"step {ks[0]}"
            )
        else:
            clock.set_text(
                f"t = {marks[j]:.4g}   (steps: "
                + ", ".join(
                    f"{a[0].meta['optimizer']} {k}"
                    for a, k in zip(artists, ks, strict=True)
                )
                + ")"
            )
        return [a for row in artists for a in row[1:5] if a is not None] + [clock]

    # lay out once: the constrained layout would otherwise be solved on every frame
    update(frames - 1)
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    return _path_animation_class()(figure, update, frames)


@functools.cache
def _path_animation_class():
    from matplotlib.animation import FuncAnimation

    class PathAnimation(FuncAnimation):
        """A FuncAnimation whose frames :func:`save_animation` renders by blitting."""

        def __init__(self, figure, update, frames: int):
            self.update = update
            self.frame_count = frames
            super().__init__(figure, update, frames=frames, blit=False, repeat=False)

        def render(self, dpi: int, progress=None) -> list:
            """Every frame as a Pillow image: the still parts are drawn once.

            ``progress(done, total)`` is called after each frame.
            """
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from PIL import Image

            figure = self._fig
            moving = self.update(0)
            for artist in moving:
                artist.set_animated(True)
            try:
                figure.set_dpi(dpi)
                canvas = FigureCanvasAgg(figure)
                canvas.draw()
                background = canvas.copy_from_bbox(figure.bbox)
                images = []
                for j in range(self.frame_count):
                    canvas.restore_region(background)
                    for artist in self.update(j):
                        figure.draw_artist(artist)
                    width, height = canvas.get_width_height()
                    images.append(
                        Image.frombuffer(
                            "RGBA", (width, height), bytes(canvas.buffer_rgba())
                        ).convert("RGB")
                    )
                    if progress is not None:
                        progress(j + 1, self.frame_count)
            finally:
                for artist in moving:
                    artist.set_animated(False)
            # one palette for all frames, no dithering: still pixels stay identical
            # from frame to frame, which keeps the GIF small
            palette = images[-1].quantize(colors=255, dither=Image.Dither.NONE)
            return [
                image.quantize(palette=palette, dither=Image.Dither.NONE)
                for image in images
            ]

    return PathAnimation


def __getattr__(name: str):
    # PathAnimation subclasses a matplotlib class: built on first use, so that
    # importing this module does not import matplotlib.animation
    if name == "PathAnimation":
        return _path_animation_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save_animation(
    animation,
    path: str | os.PathLike,
    fps: float = 15.0,
    dpi: int = 80,
    progress=None,
) -> Path:
    """Write an animation as a GIF with Pillow, atomically (no partial file).

    A :class:`PathAnimation` is rendered by blitting (the contour and axes are drawn
    once); any other FuncAnimation goes through matplotlib's PillowWriter.
    """
    path = check_animation_path(path)
    with atomic_output(path) as tmp:
        if isinstance(animation, _path_animation_class()):
            images = animation.render(dpi, progress)
            images[0].save(
                tmp,
                save_all=True,
                append_images=images[1:],
                duration=round(1000.0 / fps),
                loop=0,
                optimize=False,
            )
        else:
            from matplotlib.animation import PillowWriter

            animation.save(tmp, writer=PillowWriter(fps=fps), dpi=dpi)
    return path


def __dir__() -> list[str]:
    # The public API only: what this module defines, not what it imports.
    return sorted(
        name
        for name, value in globals().items()
        if not name.startswith("_") and getattr(value, "__module__", None) == __name__
    )
