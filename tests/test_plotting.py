"""Pictures: every plotting path runs headless and writes a real file of its type."""

import numpy as np
import pytest

import odeopt
from odeopt import plotting
from odeopt.check import check_order
from odeopt.cli import main

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


def assert_image(path, suffix):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(MAGIC[suffix])


@pytest.fixture(scope="module")
def himmelblau_run():
    return odeopt.run("adam", "himmelblau", lr=0.05, steps=300, reference=True)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_run_writes_each_format(himmelblau_run, tmp_path, suffix):
    path = plotting.save(plotting.plot_run(himmelblau_run), tmp_path / f"run{suffix}")
    assert_image(path, suffix)
    assert [p.name for p in tmp_path.iterdir()] == [f"run{suffix}"]


def test_path_lies_inside_the_axes(himmelblau_run):
    figure = plotting.plot_run(himmelblau_run)
    ax = figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    theta = himmelblau_run.theta
    assert np.all((theta[:, 0] >= x0) & (theta[:, 0] <= x1))
    assert np.all((theta[:, 1] >= y0) & (theta[:, 1] <= y1))
    drawn = [line for line in ax.get_lines() if len(line.get_xdata()) == len(theta)]
    assert any(np.allclose(line.get_xydata(), theta) for line in drawn)
    assert any(
        np.allclose(line.get_xydata(), himmelblau_run.ref_theta) for line in drawn
    )


def test_view_widens_when_the_path_leaves_the_box():
    traj = odeopt.run("momentum", "mccormick", steps=3000)  # slides out of the box
    figure = plotting.plot_run(traj)
    ax = figure.axes[0]
    lo, _ = odeopt.get_surface("mccormick").bind().bounds
    assert ax.get_xlim()[0] < lo[0] or ax.get_ylim()[0] < lo[1]


@pytest.mark.parametrize(
    ("optimizer", "surface", "kwargs"),
    [
        ("momentum", "su-double-well", {"lr": 1e-3, "momentum": 0.95}),
        ("gd", "rosenbrock", {"dim": 4}),
    ],
)
def test_one_and_n_dimensional_runs_draw(tmp_path, optimizer, surface, kwargs):
    traj = odeopt.run(optimizer, surface, steps=2000, record_every=10, **kwargs)
    assert_image(plotting.save(plotting.plot_run(traj), tmp_path / "a.png"), ".png")


def test_order_plot_shows_both_slopes(tmp_path):
    result = check_order("gd", "product-loss", levels=3)
    ax = plotting.order_plot(result)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("fitted" in text for text in labels)
    assert any("declared" in text for text in labels)
    assert_image(plotting.save(ax.figure, tmp_path / "o.svg"), ".svg")


def test_surface_3d_and_energy(tmp_path, himmelblau_run):
    bound = odeopt.get_surface("himmelblau").bind()
    ax = plotting.surface_3d(bound, trajs=[himmelblau_run], resolution=30)
    assert_image(plotting.save(ax.figure, tmp_path / "s.png"), ".png")
    hb = odeopt.run("momentum", "booth", lr=0.01, steps=500, reference=True)
    ax = plotting.energy(hb)
    energy = ax.get_lines()[0].get_ydata()
    assert np.all(np.diff(energy) <= 1e-6 * energy[0])  # friction dissipates energy


def test_contour_uses_log_levels_on_rosenbrock():
    ax = plotting.contour(odeopt.get_surface("rosenbrock").bind(), resolution=60)
    assert "log" in ax.figure.axes[-1].get_ylabel()


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_plot_paths(capsys, tmp_path):
    saved, picture = tmp_path / "r.npz", tmp_path / "r.png"
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "nesterov",
        "-s",
        "booth",
        "--steps",
        "200",
        "--reference",
        "--out",
        str(saved),
        "--plot",
        str(picture),
    )
    assert code == 0 and "drawn" in out
    assert_image(picture, ".png")
    code, _, _ = invoke(
        capsys, "plot", str(saved), "--plot", str(tmp_path / "again.pdf")
    )
    assert code == 0
    assert_image(tmp_path / "again.pdf", ".pdf")
    code, _, _ = invoke(
        capsys,
        "check",
        "-o",
        "gd",
        "-s",
        "product-loss",
        "--levels",
        "3",
        "--plot",
        str(tmp_path / "order.svg"),
    )
    assert code == 0
    assert_image(tmp_path / "order.svg", ".svg")


@pytest.mark.parametrize("name", ["x.gif", "missing/x.png"])
def test_cli_bad_picture_path_is_one_line_and_no_file(capsys, tmp_path, name):
    out_file = tmp_path / "never.npz"
    code, out, err = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "booth",
        "--out",
        str(out_file),
        "--plot",
        str(tmp_path / name),
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and ".png" in err
    assert not out_file.exists()
    code, _, err = invoke(capsys, "plot", str(tmp_path / "nope.npz"))
    assert code == 2 and "no such file" in err
