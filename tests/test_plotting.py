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


# -- animation ----------------------------------------------------------------------


def gif_frames(path):
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "GIF"
        return image.n_frames, image.size


@pytest.mark.parametrize(
    ("surface", "kwargs"),
    [
        ("himmelblau", {}),  # contour
        ("su-double-well", {"x0": [4.0], "momentum": 0.95, "lr": 1e-3}),  # 1-D curve
        ("rosenbrock", {"dim": 4}),  # first two coordinates
    ],
)
def test_animation_writes_a_gif_with_every_frame(tmp_path, surface, kwargs):
    traj = odeopt.run("momentum", surface, steps=400, reference=True, **kwargs)
    animation = plotting.animate(traj, frames=12)
    path = plotting.save_animation(animation, tmp_path / "a.gif", fps=10)
    assert gif_frames(path) == (12, (800, 336))
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]  # no temporary left
    # the last frame shows the whole run, inside the axes
    ax = animation._fig.axes[0]
    line = next(li for li in ax.get_lines() if li.get_label().startswith("momentum"))
    xy = line.get_xydata()
    np.testing.assert_array_equal(
        xy[-1],
        traj.theta[-1, :2] if traj.dim > 1 else [traj.theta[-1, 0], traj.loss[-1]],
    )
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert np.all((xy[:, 0] >= x0) & (xy[:, 0] <= x1))
    assert np.all((xy[:, 1] >= y0) & (xy[:, 1] <= y1))


def test_animation_frames_keep_runs_in_step_by_time():
    fast = odeopt.run("momentum", "booth", lr=0.01, steps=100)  # t = k·0.1
    slow = odeopt.run("gd", "booth", lr=0.01, steps=1000)  # t = k·0.01
    marks, shown = plotting._frame_counts([fast, slow], [fast.t, slow.t], 11, "uniform")
    np.testing.assert_allclose(marks, np.linspace(0, 10, 11))
    for m, (a, b) in zip(marks, shown, strict=True):
        assert fast.t[a - 1] <= m + 1e-12 and slow.t[b - 1] <= m + 1e-12
        assert abs(fast.t[a - 1] - slow.t[b - 1]) <= 0.1 + 1e-12
    _, paced = plotting._frame_counts([fast, slow], [fast.t, slow.t], 11, "motion")
    assert np.all(np.diff(paced, axis=0) >= 0) and paced[-1].tolist() == [101, 1001]


def test_animation_refuses_other_formats(tmp_path):
    with pytest.raises(plotting.PlotError, match=r"\.gif"):
        plotting.check_animation_path(tmp_path / "a.mp4")


def test_cli_animate(capsys, tmp_path):
    out = tmp_path / "race.gif"
    code, text, _ = invoke(
        capsys,
        "animate",
        "-o",
        "gd",
        "-o",
        "nesterov",
        "-s",
        "rosenbrock",
        "--steps",
        "500",
        "--reference",
        "--frames",
        "8",
        "--align",
        "time",
        "--out",
        str(out),
    )
    assert code == 0 and "animated:" in text and "nesterov" in text
    assert gif_frames(out)[0] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.mp4"], "valid: .gif"),
        (["--out", "missing/x.gif"], "does not exist"),
        (["--out", "x.gif", "--frames", "1"], "--frames"),
        (["--out", "x.gif", "--x0", "1,nan"], "x0"),
        (["--out", "x.gif", "--param", "betas=3"], "betas"),
    ],
)
def test_cli_animate_bad_input(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(capsys, "animate", "-o", "gd", "-s", "booth", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_save_animation_reports_each_frame(tmp_path):
    traj = odeopt.run("gd", "booth", lr=0.05, steps=50)
    calls = []
    plotting.save_animation(
        plotting.animate(traj, frames=5),
        tmp_path / "p.gif",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(j, 5) for j in range(1, 6)]


# -- runs that run away, losses below the reference ---------------------------------


@pytest.fixture(scope="module")
def runaway():
    # gd on x² − y² leaves the saddle along y: |y| doubles each step (lr 0.5), so the
    # loss −y² falls to about −3e200 and the reference ODE to about −1e292
    return odeopt.run("gd", "saddle", steps=2000, reference=True)


def loss_panel(figure):
    return figure.axes[1]  # the path's panel, the loss panel, then the colour bar


def test_a_runaway_run_is_drawn_and_says_what_is_not(runaway, tmp_path):
    assert runaway.status.value == "diverged"
    figure = plotting.plot_run(runaway)
    assert_image(plotting.save(figure, tmp_path / "x.png"), ".png")
    ax = loss_panel(figure)
    # the loss falls below 0 (the saddle has no minimum: 0 is the reference): the
    # axis is signed, and the drawn values are the loss itself, not its magnitude
    assert ax.get_yscale() == "symlog"
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    x, y = runaway.meta["x0"]
    assert np.nanmin(drawn) < -1e100 and np.nanmax(drawn) == x * x - y * y
    first = ax.get_lines()[0].get_ydata()
    finite = np.isfinite(first)
    np.testing.assert_array_equal(first[finite], runaway.loss[finite])
    # the reference's values past the drawable range are masked, and the figure says so
    assert np.nanmin(np.abs(drawn)) >= 0 and np.nanmax(np.abs(drawn)) <= 1e200
    notes = " ".join(t.get_text() for a in figure.axes for t in a.texts)
    assert "not drawn" in notes
    lost = np.sum(np.abs(runaway.ref_loss) > 1e200)
    assert lost > 0 and f"{lost} " in notes


def test_cli_draws_a_runaway_run_and_its_redraw(capsys, tmp_path):
    saved, picture = tmp_path / "x.npz", tmp_path / "x.png"
    code, out, err = invoke(
        capsys,
        *("run", "-o", "gd", "-s", "saddle", "--reference"),
        *("--out", str(saved), "--plot", str(picture)),
    )
    assert code == 0 and err == ""
    assert "diverged" in out and "drawn" in out
    assert_image(picture, ".png")
    code, out, err = invoke(
        capsys, "plot", str(saved), "--plot", str(tmp_path / "p.png")
    )
    assert code == 0 and err == ""
    assert_image(tmp_path / "p.png", ".png")
    code, out, err = invoke(
        capsys,
        *("compare", "-o", "gd", "-o", "momentum", "-s", "saddle", "--reference"),
        *("--steps", "500", "--plot", str(tmp_path / "c.png")),
    )
    assert code == 0 and err == ""
    assert_image(tmp_path / "c.png", ".png")


def test_loss_below_the_minimum_is_drawn_signed():
    # momentum slides out of McCormick's box, where the loss falls far below the
    # global minimum −1.9133 (McCormick 1976; Surjanovic & Bingham's value)
    traj = odeopt.run("momentum", "mccormick", steps=3000)
    least = -1.9132229549810367
    assert traj.loss.min() < least - 100
    ax = plotting.loss_curve(traj, surface=odeopt.get_surface("mccormick").bind())
    assert ax.get_yscale() == "symlog"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), traj.loss - least)
    assert "loss − min" in ax.get_ylabel() and "symmetric log" in ax.get_ylabel()


def test_loss_above_the_minimum_keeps_the_log_axis(himmelblau_run):
    ax = plotting.loss_curve(
        himmelblau_run, surface=odeopt.get_surface("himmelblau").bind()
    )
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), himmelblau_run.loss)


# -- saved files that are not runs --------------------------------------------------


def test_cli_plot_of_a_truncated_file_is_one_line(capsys, tmp_path):
    saved = tmp_path / "r.npz"
    odeopt.run("gd", "booth", steps=50).save(saved)
    data = saved.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    code, out, err = invoke(capsys, "plot", str(bad))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "bad.npz" in err and "not a complete" in err
    assert not (tmp_path / "bad.png").exists()


def test_cli_plot_of_a_compare_table_is_one_line(capsys, tmp_path):
    table = tmp_path / "c.json"
    code, _, _ = invoke(
        capsys,
        "compare",
        "-o",
        "gd",
        "-s",
        "booth",
        "--steps",
        "20",
        "--out",
        str(table),
    )
    assert code == 0
    code, out, err = invoke(capsys, "plot", str(table))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "compare" in err and "odeopt run --out" in err
    assert not (tmp_path / "c.png").exists()
