"""Pictures of noisy runs (odeopt.sde_plots): what each figure holds."""

import numpy as np
from scipy import stats

import odeopt
from odeopt import sde, sde_plots
from odeopt.ensemble import run_ensemble
from odeopt.plotting import new_figure, save
from odeopt.registry import get_noise, get_optimizer, get_surface


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_ensemble_fan_on_a_quadratic_shows_the_sdes_mean(tmp_path):
    surface = get_surface("quadratic").bind(2, eigenvalues=(1.0, 4.0))
    problem = odeopt.problem("gd", surface, lr=0.05, steps=200, noise="iso:0.4", seed=2)
    ensemble = run_ensemble(problem, 64)
    figure = sde_plots.plot_ensemble(ensemble, shown=10)
    left, right = figure.axes[:2]  # then the contour's colour bar
    assert "mean of 64 paths" in labels(left)
    assert any("E[L(t)] of the SDE (sme1" in name for name in labels(right))
    # the drawn mean is the ensemble's
    mean_line = next(
        ln for ln in right.get_lines() if ln.get_label().startswith("mean")
    )
    np.testing.assert_allclose(mean_line.get_ydata(), ensemble.loss_mean())
    save(figure, tmp_path / "fan.png")
    assert (tmp_path / "fan.png").stat().st_size > 10_000


def test_ensemble_fan_without_a_closed_form_and_in_one_dimension():
    problem = odeopt.problem("gd", "double-well", lr=0.01, steps=100, noise="iso:1")
    figure = sde_plots.plot_ensemble(run_ensemble(problem, 16))
    left, right = figure.axes
    assert "median θ₀" in labels(left)
    assert not any("SDE" in name for name in labels(right))  # not linear: no E[L]


def test_stationary_histogram_integrates_the_gibbs_density_to_one():
    ax = new_figure().add_subplot()
    samples = np.random.default_rng(0).normal(0.0, 0.5, 2000)
    sde_plots.stationary_histogram(
        samples, lambda x: 2 * x**2, 0.5, ax, span=(-3.0, 3.0)
    )
    density = ax.get_lines()[0]
    x, y = density.get_xdata(), density.get_ydata()
    # e^{−2x²/0.5} = e^{−4x²} normalised is the N(0, 1/8) density
    np.testing.assert_allclose(y, stats.norm.pdf(x, 0.0, np.sqrt(1 / 8)), rtol=1e-7)


def test_expected_loss_and_order_plots():
    surface = get_surface("quadratic").bind(2, kappa=4.0, rotate=1)
    noise = get_noise("hessian").parse("hessian:0.5", 2, 1)
    gd = get_optimizer("gd").bind(surface, lr=0.05)
    discrete = sde.sgd_moments(gd, surface, noise, surface.x0, 40)
    A = surface.hess(np.zeros(2))
    curves = {
        name: 0.5 * np.einsum("ij,nji->n", A, moments.second_moment)
        for name, moments in (
            ("SGD", discrete),
            (
                "SME1",
                sde.sde_moments("sme1", gd, surface, noise, surface.x0, discrete.t),
            ),
        )
    }
    ax = sde_plots.expected_loss_plot(discrete.t, curves, reference="SGD")
    assert labels(ax) == ["SGD", "SME1"] and len(ax.child_axes) == 1
    weak = sde.weak_order("sme1", gd, surface, noise, levels=4)
    ax = sde_plots.weak_order_plot([weak])
    assert labels(ax)[0].startswith("sme1: fitted") and "slope 1" in labels(ax)
