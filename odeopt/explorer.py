"""An interactive explorer: one optimizer on one surface, redrawn as settings change.

:class:`Explorer` owns a figure with two panels, the path over the contour (or the
loss curve of a 1-D surface) with the ODE solution under it, and the loss against ODE
time for both.  :meth:`Explorer.update` re-runs the optimizer and its reference and
moves the lines in place (``set_data``), so that in Jupyter with ipympl
(``%matplotlib widget``) the picture follows a slider without being rebuilt.
:meth:`Explorer.controls` builds the ipywidgets (optimizer, surface, lr, momentum,
steps, reference) wired to :meth:`update`; ipywidgets is only imported there.

>>> from odeopt.explorer import Explorer
>>> ex = Explorer("momentum", "booth", lr=0.01, steps=200)
>>> ex.trajectory.status.value
'max_steps'
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from . import plotting
from ._problem import Problem, resolve_surface
from ._problem import problem as pose
from .errors import InputError, UnknownNameError
from .registry import get_optimizer, optimizer_names, surface_names
from .stepper import run
from .trajectory import Trajectory


@functools.cache
def drawable_surfaces() -> tuple[str, ...]:
    """Surfaces the explorer can draw: dimension 1 or 2 at their defaults."""
    return tuple(
        name for name in surface_names() if resolve_surface(name).dim in (1, 2)
    )


class Explorer:
    """A live picture of ``optimizer`` on ``surface`` (see the module docstring).

    Parameters
    ----------
    optimizer, surface : str
        Registry names; the surface must be 1-D or 2-D.
    lr : float, optional
        Learning rate; the optimizer's default for the surface when None.
    momentum : float, optional
        Momentum β, for optimizers that have it (ignored by the others).
    steps : int
        Steps per run.
    reference : bool
        Also solve and draw the continuous model.
    figure : matplotlib Figure, optional
        Where to draw (e.g. ``plt.figure()`` under ipympl); a new headless one if
        None.
    """

    def __init__(
        self,
        optimizer: str = "momentum",
        surface: str = "rosenbrock",
        lr: float | None = None,
        momentum: float | None = None,
        steps: int = 500,
        reference: bool = True,
        figure=None,
    ):
        self.figure = figure if figure is not None else plotting.new_figure(11.0, 4.6)
        if figure is not None:
            self.figure.set_size_inches(11.0, 4.6)
            self.figure.set_layout_engine("constrained")
        self.left = self.right = None
        self.settings: dict[str, Any] = {
            "optimizer": optimizer,
            "surface": surface,
            "lr": lr,
            "momentum": momentum,
            "steps": int(steps),
            "reference": bool(reference),
        }
        self.trajectory: Trajectory | None = None
        self._drawn_surface: str | None = None
        self._lines: dict[str, Any] = {}
        self.update()

    # -- running ------------------------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters the next run uses (lr and momentum where set)."""
        spec = get_optimizer(self.settings["optimizer"])
        hp: dict[str, Any] = {}
        if self.settings["lr"] is not None:
            hp["lr"] = float(self.settings["lr"])
        if self.settings["momentum"] is not None and "momentum" in spec.names():
            hp["momentum"] = float(self.settings["momentum"])
        return hp

    def problem(self) -> Problem:
        """The problem the settings pose (what :meth:`update` runs)."""
        return pose(
            self.settings["optimizer"],
            self.settings["surface"],
            steps=self.settings["steps"],
            max_norm=1e6,
            **self.hyperparameters(),
        )

    def default_lr(self) -> float:
        """The optimizer's default learning rate on the current surface."""
        spec = get_optimizer(self.settings["optimizer"])
        bound = spec.bind(resolve_surface(self.settings["surface"]))
        return float(bound.hp["lr"])

    def update(self, **changes: Any) -> Trajectory:
        """Apply ``changes`` to the settings, re-run, and redraw in place."""
        unknown = set(changes) - set(self.settings)
        if unknown:
            raise TypeError(
                f"unknown setting {min(unknown)!r} (valid: {', '.join(self.settings)})"
            )
        if (
            changes.get("optimizer", self.settings["optimizer"])
            not in optimizer_names()
        ):
            raise UnknownNameError(
                f"unknown optimizer {changes['optimizer']!r} "
                f"(valid: {', '.join(optimizer_names())})"
            )
        if "surface" in changes and changes["surface"] not in drawable_surfaces():
            raise InputError(
                f"the explorer draws 1-D and 2-D surfaces; {changes['surface']!r} is "
                f"not one (valid: {', '.join(drawable_surfaces())})"
            )
        switched = any(
            name in changes and changes[name] != self.settings[name]
            for name in ("optimizer", "surface")
        )
        if switched and "lr" not in changes:
            # An lr chosen for one optimizer or surface means little for another: back
            # to the new pair's default, as the widgets' slider does.
            changes = {**changes, "lr": None}
        self.settings.update(changes)
        posed = self.problem()
        self.trajectory = run(posed, reference=self.settings["reference"])
        self._draw(posed.surface, self.trajectory)
        return self.trajectory

    @property
    def discrepancy(self) -> float | None:
        """max_k ‖θ_k − θ(t_k)‖ between the iterates and the ODE (None without it)."""
        ref = (self.trajectory.meta or {}).get("reference")
        return None if ref is None else float(ref["max_discrepancy"])

    # -- drawing ------------------------------------------------------------------------

    def _draw(self, surface, traj: Trajectory) -> None:
        if self._drawn_surface != surface.name:
            self._background(surface)
        lines = self._lines
        finite = np.all(np.isfinite(traj.theta), axis=1) & np.isfinite(traj.loss)
        theta, loss, t = traj.theta[finite], traj.loss[finite], traj.t[finite]
        if surface.dim == 1:
            px, py = theta[:, 0], loss
        else:
            px, py = theta[:, 0], theta[:, 1]
        lines["path"].set_data(px, py)
        lines["path"].set_marker("o" if len(px) <= 300 else "")
        lines["head"].set_data(px[-1:], py[-1:])
        lines["start"].set_data(px[:1], py[:1])
        gap = np.abs(loss - self._floor)
        lines["loss"].set_data(t, gap)
        if traj.ref_theta is not None:
            rx = traj.ref_theta[:, 0]
            ry = traj.ref_loss if surface.dim == 1 else traj.ref_theta[:, 1]
            lines["ode"].set_data(rx, ry)
            lines["ode_loss"].set_data(traj.t, np.abs(traj.ref_loss - self._floor))
        else:
            lines["ode"].set_data([], [])
            lines["ode_loss"].set_data([], [])
        lines["path"].set_label(plotting.label(traj))
        model = traj.meta["model"]
        lines["ode"].set_label(f"ODE ({model['name']}): {model['ode']}")
        self.left.legend(loc="upper left", fontsize=7, framealpha=0.85)
        # loss panel: rescale to what is drawn
        values = np.concatenate(
            [gap, np.abs(traj.ref_loss - self._floor)]
            if traj.ref_loss is not None
            else [gap]
        )
        values = values[np.isfinite(values) & (values > 0)]
        right = self.right
        right.set_xlim(0.0, max(float(traj.t[-1]), 1e-12))
        if values.size:
            right.set_ylim(values.min() / 2.0, values.max() * 2.0)
        ode = (
            ""
            if self.discrepancy is None
            else (f"; max ‖θ_k − θ(t_k)‖ = {self.discrepancy:.3g}")
        )
        right.set_title(
            f"{traj.status.value} after {traj.steps_done} steps, t = "
            f"{traj.t[-1]:.4g}{ode}",
            fontsize=8,
        )
        self.figure.suptitle(
            f"{traj.meta['optimizer']} on {surface.name} — model {model['name']}, "
            f"{model['time']}",
            fontsize=10,
        )
        self.figure.canvas.draw_idle()

    def _background(self, surface) -> None:
        # a fresh pair of axes: the old surface's colour bar and its space go too
        self.figure.clear()
        left, right = self.figure.subplots(1, 2, width_ratios=(1.15, 1))
        self.left, self.right = left, right
        plotting.contour(surface, left, resolution=150)
        self._floor = min((m.value for m in surface.minima), default=0.0)
        colour = plotting.PALETTE[0]
        (ode,) = left.plot(
            [],
            [],
            color="white" if surface.dim == 2 else "k",
            lw=5.0 if surface.dim == 2 else 1.3,
            ls="-" if surface.dim == 2 else "--",
            alpha=0.75,
            zorder=2,
            solid_capstyle="round",
        )
        (path,) = left.plot([], [], color=colour, lw=1.5, ms=2.5, zorder=3)
        (start,) = left.plot(
            [],
            [],
            marker="o",
            ms=8,
            mfc="white",
            mec=colour,
            mew=2,
            ls="none",
            zorder=6,
        )
        (head,) = left.plot(
            [], [], marker="X", ms=8, color=colour, mec="k", ls="none", zorder=6
        )
        (loss,) = right.plot([], [], color=colour, lw=1.6, label="iterates")
        (ode_loss,) = right.plot(
            [], [], color="k", lw=1.0, ls="--", label="ODE at the same t"
        )
        right.set_yscale("log")
        right.set_xlabel("ODE time t")
        right.set_ylabel("loss − min" if surface.minima else "loss")
        right.grid(which="both", alpha=0.3)
        right.legend(fontsize=7, loc="upper right")
        self._lines = {
            "ode": ode,
            "path": path,
            "start": start,
            "head": head,
            "loss": loss,
            "ode_loss": ode_loss,
        }
        self._drawn_surface = surface.name

    # -- widgets ------------------------------------------------------------------------

    def controls(self):
        """ipywidgets controls wired to :meth:`update` (needs the notebooks extra).

        The learning-rate slider is logarithmic and re-centred on the default learning
        rate whenever the optimizer or the surface changes; the momentum slider is
        disabled for optimizers without momentum.  Sliders act on release
        (``continuous_update=False``): each change runs the optimizer and its ODE.
        """
        import ipywidgets as widgets

        s = self.settings
        optimizer = widgets.Dropdown(
            options=optimizer_names(), value=s["optimizer"], description="optimizer"
        )
        surface = widgets.Dropdown(
            options=drawable_surfaces(), value=s["surface"], description="surface"
        )
        lr_value = s["lr"] if s["lr"] is not None else self.default_lr()
        centre = math.log10(lr_value)
        lr = widgets.FloatLogSlider(
            value=lr_value,
            base=10,
            min=centre - 2.5,
            max=centre + 1.5,
            step=0.05,
            description="lr",
            readout_format=".3g",
            continuous_update=False,
        )
        momentum = widgets.FloatSlider(
            value=s["momentum"] if s["momentum"] is not None else 0.9,
            min=0.0,
            max=0.999,
            step=0.001,
            description="momentum",
            readout_format=".3f",
            continuous_update=False,
        )
        steps = widgets.IntSlider(
            value=s["steps"],
            min=10,
            max=5000,
            step=10,
            description="steps",
            continuous_update=False,
        )
        reference = widgets.Checkbox(value=s["reference"], description="ODE")
        status = widgets.HTML()
        busy = {"on": False}

        def has_momentum(name: str) -> bool:
            return "momentum" in get_optimizer(name).names()

        def report():
            d = self.discrepancy
            status.value = (
                f"<code>{plotting.label(self.trajectory)}</code>: "
                f"{self.trajectory.status.value}, final loss "
                f"{self.trajectory.final_loss:.4g}"
                + (
                    ""
                    if d is None
                    else f", max ‖θ<sub>k</sub> − θ(t<sub>k</sub>)‖ = {d:.3g}"
                )
            )

        def recentre():
            default = self.default_lr()
            c = math.log10(default)
            lr.min, lr.max = -30.0, 30.0  # widen first: min ≤ max at every moment
            lr.value = default
            lr.min, lr.max = c - 2.5, c + 1.5

        def changed(change):
            if busy["on"]:
                return
            busy["on"] = True
            try:
                if change["owner"] in (optimizer, surface):
                    self.settings.update(
                        optimizer=optimizer.value, surface=surface.value
                    )
                    recentre()
                momentum.disabled = not has_momentum(optimizer.value)
                self.update(
                    optimizer=optimizer.value,
                    surface=surface.value,
                    lr=lr.value,
                    momentum=None if momentum.disabled else momentum.value,
                    steps=steps.value,
                    reference=reference.value,
                )
                report()
            finally:
                busy["on"] = False

        for widget in (optimizer, surface, lr, momentum, steps, reference):
            widget.observe(changed, names="value")
        momentum.disabled = not has_momentum(optimizer.value)
        report()
        return widgets.VBox(
            [
                widgets.HBox([optimizer, surface, reference]),
                widgets.HBox([lr, momentum, steps]),
                status,
            ]
        )
