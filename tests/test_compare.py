"""odeopt compare: one start, several optimizers, a table and a figure."""

import json

import numpy as np
import pytest

import odeopt
from odeopt.cli import main
from odeopt.compare import compare, steps_to
from odeopt.trajectory import dumps


def test_compare_equals_separate_runs_from_the_same_start():
    result = compare(
        ["gd", "momentum", "adam"],
        "himmelblau",
        steps=500,
        hyperparameters={"lr": 0.002},
    )
    for name, traj in zip(["gd", "momentum", "adam"], result.trajectories, strict=True):
        single = odeopt.run(name, "himmelblau", lr=0.002, steps=500)
        np.testing.assert_array_equal(traj.final_theta, single.final_theta)
        np.testing.assert_array_equal(traj.theta[0], single.theta[0])


def test_align_time_gives_every_optimizer_the_same_ode_time():
    result = compare(
        ["gd", "momentum", "adagrad"],
        "booth",
        steps=1000,
        align="time",
        hyperparameters={"lr": 0.01},
    )
    times = [row["t_final"] for row in result.rows]
    # gd: t = k·lr; momentum: k·√lr; adagrad: k·lr² (rounded to whole steps)
    assert times[0] == pytest.approx(10.0)
    assert [r["steps_done"] for r in result.rows] == [1000, 100, 100_000]
    np.testing.assert_allclose(times, 10.0, rtol=1e-12)


def test_steps_to_tolerance_is_the_first_step_below_it():
    traj = odeopt.run(
        "gd",
        "quadratic",
        lr=0.1,
        steps=200,
        surface_params={"eigenvalues": (1.0,)},
        x0=[1.0],
    )
    # loss_k = ½·0.9^(2k): first k with loss ≤ 1e-6
    expected = int(np.ceil(np.log(2e-6) / (2 * np.log(0.9))))
    assert steps_to(traj, 1e-6) == expected
    assert steps_to(traj, 1e-300) is None


def test_compare_cli_table_json_out_and_plot(capsys, tmp_path):
    out, picture = tmp_path / "t.csv", tmp_path / "c.png"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "compare",
                "-o",
                "gd",
                "-o",
                "nesterov",
                "-s",
                "rosenbrock",
                "--steps",
                "2000",
                "--out",
                str(out),
                "--plot",
                str(picture),
            ]
        )
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "nesterov" in text and "to tol" in text
    assert out.read_text().splitlines()[0].startswith("optimizer,lr,steps_done")
    assert picture.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(SystemExit):
        main(
            [
                "compare",
                "-o",
                "gd",
                "-o",
                "adam",
                "-s",
                "booth",
                "--steps",
                "100",
                "--json",
            ]
        )
    payload = json.loads(capsys.readouterr().out)
    assert [r["optimizer"] for r in payload["rows"]] == ["gd", "adam"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--param", "beta1=0.5"], "no optimizer given has hyperparameter"),
        (["--out", "x.txt"], "valid: .json, .csv"),
        (["--plot", "x.gif"], ".png"),
        (["--align", "sideways"], "sideways"),
    ],
)
def test_compare_bad_input_is_one_line(capsys, tmp_path, args, needle):
    with pytest.raises(SystemExit) as info:
        main(["compare", "-o", "gd", "-s", "booth", *args])
    err = capsys.readouterr().err
    assert info.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_save_writes_the_rows_as_json_or_csv(tmp_path):
    result = compare(["gd", "adam"], "booth", steps=200, hyperparameters={"lr": 0.05})
    assert json.loads(result.save(tmp_path / "c.json").read_text()) == json.loads(
        dumps(result.as_dict())
    )
    lines = result.save(tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "optimizer,lr,steps_done,t_final,final_loss,steps_to_tol,status"
    assert [line.split(",")[0] for line in lines[1:]] == ["gd", "adam"]
    assert lines[1].split(",")[4] == str(result.rows[0]["final_loss"])
    with pytest.raises(odeopt.OutputError, match="valid: .json, .csv"):
        result.save(tmp_path / "c.npz")
