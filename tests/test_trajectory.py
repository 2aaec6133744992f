"""Trajectory files: the three formats round-trip, and bad paths fail before writing."""

import json
import os

import numpy as np
import pytest

import odeopt
from odeopt.trajectory import OutputError, Trajectory, check_output_path


@pytest.fixture(scope="module")
def traj():
    return odeopt.run("adam", "himmelblau", steps=50, lr=0.05, record_every=7)


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".json"])
def test_round_trip(traj, tmp_path, suffix):
    path = traj.save(tmp_path / f"run{suffix}")
    loaded = Trajectory.load(path)
    np.testing.assert_array_equal(loaded.step, traj.step)
    np.testing.assert_array_equal(loaded.t, traj.t)
    np.testing.assert_array_equal(loaded.theta, traj.theta)
    np.testing.assert_array_equal(loaded.loss, traj.loss)
    assert loaded.status is traj.status
    assert loaded.steps_done == traj.steps_done
    assert loaded.meta["hyperparameters"] == traj.meta["hyperparameters"]
    assert loaded.meta["model"]["parameters"] == traj.meta["model"]["parameters"]
    assert [p.name for p in tmp_path.iterdir()] == [f"run{suffix}"]  # no temp files


def test_npz_has_the_contract_arrays(traj, tmp_path):
    path = traj.save(tmp_path / "run.npz")
    with np.load(path) as data:
        assert set(data.files) == {"step", "t", "theta", "loss", "meta"}
        meta = json.loads(str(data["meta"]))
        assert data["theta"].shape == (len(traj), 2)
    for key in (
        "optimizer",
        "hyperparameters",
        "surface",
        "model",
        "status",
        "versions",
    ):
        assert key in meta
    assert meta["model"]["parameters"]["h"] == traj.meta["hyperparameters"]["lr"]


def test_csv_columns(traj, tmp_path):
    path = traj.save(tmp_path / "run.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# meta: {")
    assert lines[1] == "step,t,loss,theta_0,theta_1"
    assert len(lines) == 2 + len(traj)


def test_reference_columns_round_trip(traj, tmp_path):
    with_ref = Trajectory.from_arrays(
        {**traj.arrays(), "ref_theta": traj.theta * 2, "ref_loss": traj.loss + 1},
        traj.meta,
    )
    for suffix in (".npz", ".csv", ".json"):
        loaded = Trajectory.load(with_ref.save(tmp_path / f"ref{suffix}"))
        np.testing.assert_array_equal(loaded.ref_theta, with_ref.ref_theta)
        np.testing.assert_array_equal(loaded.ref_loss, with_ref.ref_loss)
    header = (tmp_path / "ref.csv").read_text().splitlines()[1]
    assert header.endswith("ref_loss,ref_theta_0,ref_theta_1")


def test_diverged_run_writes_strict_json_with_nulls(tmp_path):
    diverged = odeopt.run("gd", "rosenbrock", lr=1.0, steps=100)
    assert diverged.status is odeopt.Status.DIVERGED
    path = diverged.save(tmp_path / "bad.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    payload = json.loads(text)
    assert payload["meta"]["status"] == "diverged"
    loaded = Trajectory.load(path)
    assert loaded.status is odeopt.Status.DIVERGED
    assert (
        np.isnan(loaded.loss[-1])
        or np.isinf(loaded.loss[-1])
        or loaded.loss[-1] is None
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("run.txt", "unknown extension"),
        ("run", "unknown extension"),
        ("missing/run.npz", "does not exist"),
    ],
)
def test_bad_output_paths(tmp_path, name, message):
    with pytest.raises(OutputError, match=message):
        check_output_path(tmp_path / name)


def test_unwritable_folder(tmp_path):
    # /proc refuses new files even to root; a read-only folder refuses other users.
    with pytest.raises(OutputError, match="cannot write"):
        check_output_path("/proc/run.npz")
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        with pytest.raises(OutputError, match="cannot write"):
            check_output_path(folder / "run.npz")


def test_summary_names_the_nearest_minimum():
    surface = odeopt.get_surface("himmelblau").bind()
    traj = odeopt.run("adam", surface, lr=0.05, steps=400)
    summary = traj.summary(surface)
    nearest = surface.nearest_minimum(traj.final_theta)
    assert summary["nearest_minimum"]["theta"] == nearest.theta.tolist()
    assert summary["distance_to_minimum"] == pytest.approx(
        float(np.linalg.norm(traj.final_theta - nearest.theta))
    )
    assert summary["final_theta"] == traj.final_theta.tolist()
    assert (summary["optimizer"], summary["surface"]) == ("adam", "himmelblau")
    assert summary["records"] == len(traj) == 401
    saddle = odeopt.get_surface("monkey-saddle").bind()
    summary = odeopt.run("gd", saddle, lr=0.01, steps=5).summary(saddle)
    assert summary["nearest_minimum"] is None and summary["distance_to_minimum"] is None
