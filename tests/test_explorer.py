"""The interactive explorer: runs, redraws in place, and its widgets drive it."""

import numpy as np
import pytest

import odeopt
from odeopt import plotting
from odeopt.explorer import Explorer, drawable_surfaces


def line(explorer, name):
    return explorer._lines[name]


def test_explorer_draws_the_run_and_its_ode(tmp_path):
    ex = Explorer("momentum", "booth", lr=0.01, momentum=0.8, steps=300)
    traj = ex.trajectory
    expected = odeopt.run("momentum", "booth", lr=0.01, momentum=0.8, steps=300)
    np.testing.assert_array_equal(traj.theta, expected.theta)
    np.testing.assert_array_equal(line(ex, "path").get_xydata(), traj.theta)
    np.testing.assert_array_equal(line(ex, "ode").get_xydata(), traj.ref_theta)
    assert ex.discrepancy == pytest.approx(
        np.max(np.linalg.norm(traj.theta - traj.ref_theta, axis=1))
    )
    path = plotting.save(ex.figure, tmp_path / "e.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_update_moves_the_lines_in_place_and_redraws_new_surfaces():
    ex = Explorer("gd", "product-loss", lr=0.1, steps=20)
    path_line = line(ex, "path")
    ex.update(lr=0.05, steps=40)
    assert line(ex, "path") is path_line  # same artist, new data
    assert ex.trajectory.meta["hyperparameters"]["lr"] == 0.05
    np.testing.assert_array_equal(path_line.get_xydata(), ex.trajectory.theta)
    ex.update(surface="su-double-well", optimizer="momentum", lr=1e-3, steps=100)
    xy = line(ex, "path").get_xydata()  # 1-D: the ball on the loss curve
    np.testing.assert_array_equal(xy[:, 0], ex.trajectory.theta[:, 0])
    np.testing.assert_array_equal(xy[:, 1], ex.trajectory.loss)
    assert len(ex.figure.axes) == 2  # the old colour bar went with the old surface


def test_switching_optimizer_or_surface_goes_back_to_its_default_lr():
    ex = Explorer("gd", "booth", lr=0.01, steps=10, reference=False)
    ex.update(optimizer="adam")
    assert ex.settings["lr"] is None
    assert ex.trajectory.meta["hyperparameters"]["lr"] == ex.default_lr()
    ex.update(lr=0.3)
    ex.update(steps=20)  # the same pair: the chosen lr stays
    assert ex.trajectory.meta["hyperparameters"]["lr"] == 0.3
    ex.update(surface="matyas", lr=0.02)  # an lr given with the switch is used
    assert ex.trajectory.meta["hyperparameters"]["lr"] == 0.02


def test_gd_gap_to_the_flow_halves_with_lr():
    # order 1 at a fixed ODE time T = 2 on the test loss
    ex = Explorer("gd", "product-loss", lr=0.025, steps=80)
    coarse = ex.discrepancy
    ex.update(lr=0.0125, steps=160)
    assert coarse / ex.discrepancy == pytest.approx(2.0, abs=0.1)


def test_diverging_runs_are_drawn_not_raised():
    # the default quadratic is ½(x² + 10y²): Euler is stable for lr < 2/10
    ex = Explorer("gd", "quadratic", lr=0.19, steps=400, reference=False)
    assert ex.trajectory.status.value == "max_steps"
    ex.update(lr=0.21)
    assert ex.trajectory.status.value == "diverged"
    assert np.all(np.isfinite(line(ex, "path").get_xydata()))


def test_bad_settings_name_the_valid_choices():
    ex = Explorer("gd", "booth", steps=10, reference=False)
    with pytest.raises(ValueError, match="valid: .*booth"):
        ex.update(surface="no-such")
    with pytest.raises(ValueError, match="valid: gd"):
        ex.update(optimizer="sgd2")
    with pytest.raises(TypeError, match="valid: optimizer"):
        ex.update(colour="red")
    assert "rosenbrock" in drawable_surfaces()


def test_widgets_drive_the_explorer():
    pytest.importorskip("ipywidgets")
    ex = Explorer("gd", "booth", lr=0.01, steps=50)
    box = ex.controls()
    (optimizer, surface, reference), (lr, momentum, steps), status = (
        list(box.children[0].children),
        list(box.children[1].children),
        box.children[2],
    )
    assert momentum.disabled  # gd has no momentum
    lr.value = 0.02
    assert ex.trajectory.meta["hyperparameters"]["lr"] == pytest.approx(0.02)
    optimizer.value = "momentum"  # re-centres lr on momentum's default
    assert not momentum.disabled
    default = (
        odeopt.get_optimizer("momentum")
        .bind(odeopt.get_surface("booth").bind())
        .hp["lr"]
    )
    assert lr.value == pytest.approx(default, rel=1e-9)
    assert ex.trajectory.meta["hyperparameters"]["lr"] == pytest.approx(lr.value)
    momentum.value = 0.5
    assert ex.trajectory.meta["hyperparameters"]["momentum"] == 0.5
    steps.value = 120
    assert ex.trajectory.steps_done == 120
    reference.value = False
    assert ex.trajectory.ref_theta is None and ex.discrepancy is None
    surface.value = "himmelblau"
    assert ex.trajectory.meta["surface"] == "himmelblau"
    assert "momentum" in status.value
