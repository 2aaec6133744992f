"""The command line: output contracts, exit codes, one-line errors, lazy imports."""

import json
import subprocess
import sys

import numpy as np
import pytest

import odeopt
from odeopt.cli import main


def invoke(capsys, *args):
    """Run ``odeopt ARGS`` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_run_prints_the_summary_with_the_model(capsys):
    code, out, err = invoke(
        capsys,
        "run",
        "--optimizer",
        "nesterov",
        "--surface",
        "rosenbrock",
        "--steps",
        "2000",
    )
    assert code == 0, err
    for text in (
        "nesterov on rosenbrock",
        "θ̈ + λθ̇ + ∇L(θ) = 0",
        "friction",
        "t_k = k·√lr",
        "start",
        "final",
        "nearest min",
        "status",
        "ms stepping",
    ):
        assert text in out


def test_run_json_is_one_object_with_the_contract_keys(capsys):
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "adam",
        "-s",
        "booth",
        "--lr",
        "0.1",
        "--steps",
        "300",
        "--json",
    )
    assert code == 0
    payload = json.loads(out)  # exactly one JSON document on stdout
    assert {"status", "final_loss", "final_theta", "steps_done", "wall_time_s"} <= set(
        payload
    )
    traj = odeopt.run("adam", "booth", lr=0.1, steps=300)
    assert payload["final_theta"] == traj.final_theta.tolist()
    assert payload["status"] == "max_steps"
    assert payload["steps_done"] == 300


def test_run_options_reach_the_optimizer(capsys):
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "rmsprop",
        "-s",
        "quadratic",
        "--surface-param",
        "kappa=100",
        "--dim",
        "4",
        "--lr",
        "0.001",
        "--param",
        "alpha=0.9",
        "--param",
        "centered=true",
        "--param",
        "momentum=0.5",
        "--x0",
        "1,1,1,1",
        "--steps",
        "500",
        "--json",
    )
    assert code == 0
    payload = json.loads(out)
    traj = odeopt.run(
        "rmsprop",
        "quadratic",
        surface_params={"kappa": 100.0},
        dim=4,
        lr=0.001,
        alpha=0.9,
        centered=True,
        momentum=0.5,
        x0=[1, 1, 1, 1],
        steps=500,
    )
    assert payload["final_theta"] == traj.final_theta.tolist()
    assert payload["hyperparameters"]["centered"] is True


def test_negative_start_values_parse(capsys):
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "booth",
        "--x0",
        "-3,-4",
        "--steps",
        "0",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["x0"] == [-3.0, -4.0]


def test_diverged_run_is_exit_zero_with_status(capsys, tmp_path):
    out_file = tmp_path / "run.json"
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "rosenbrock",
        "--lr",
        "1",
        "--steps",
        "100",
        "--json",
        "--out",
        str(out_file),
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["status"] == "diverged"
    assert payload["diverged_at"] == payload["steps_done"] < 100
    assert json.loads(out_file.read_text())["meta"]["status"] == "diverged"


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".json"])
def test_out_writes_the_trajectory_and_quiet_prints_nothing(capsys, tmp_path, suffix):
    path = tmp_path / f"traj{suffix}"
    code, out, _err = invoke(
        capsys,
        "run",
        "-o",
        "momentum",
        "-s",
        "himmelblau",
        "--steps",
        "100",
        "--quiet",
        "--out",
        str(path),
    )
    assert (code, out) == (0, "")
    loaded = odeopt.Trajectory.load(path)
    assert loaded.steps_done == 100 and len(loaded) == 101


BAD_INPUTS = [
    (["-o", "sgdx", "-s", "booth"], ["unknown optimizer", "valid:", "nesterov"]),
    (["-o", "gd", "-s", "bowl"], ["unknown surface", "valid:", "rosenbrock"]),
    (
        ["-o", "gd", "-s", "booth", "--param", "beta1=0.9"],
        ["no hyperparameter", "valid:"],
    ),
    (
        ["-o", "gd", "-s", "booth", "--momentum", "0.9"],
        ["no hyperparameter 'momentum'"],
    ),
    (["-o", "gd", "-s", "booth", "--surface-param", "k=1"], ["no parameter 'k'"]),
    (["-o", "gd", "-s", "booth", "--x0", "1,2,3"], ["x0 has 3 numbers", "dimension 2"]),
    (["-o", "gd", "-s", "booth", "--x0", "1,nan"], ["x0 must be finite"]),
    (["-o", "gd", "-s", "booth", "--x0", "a,b"], ["--x0 must be"]),
    (["-o", "gd", "-s", "booth", "--x0", "1;2"], ["--x0 must be", "'1;2'"]),
    (["-o", "gd", "-s", "booth", "--x0", "1,,2"], ["--x0 must be"]),
    (["-o", "gd", "-s", "booth", "--steps", str(10**20)], ["steps must be <= "]),
    (["-o", "gd", "-s", "booth", "--method", "foo"], ["--method", "--reference"]),
    (["-o", "gd", "-s", "booth", "--rtol", "1e-6"], ["--rtol", "--reference"]),
    (["-o", "gd", "-s", "booth", "--lr", "0"], ["lr must be > 0"]),
    (["-o", "gd", "-s", "booth", "--lr", "-1"], ["lr must be > 0"]),
    (["-o", "gd", "-s", "booth", "--steps", "-5"], ["steps must be >= 0"]),
    (
        ["-o", "momentum", "-s", "booth", "--momentum", "-0.1"],
        ["momentum must be >= 0"],
    ),
    (["-o", "adam", "-s", "booth", "--param", "beta1=1"], ["beta1 must be < 1"]),
    (["-o", "adam", "-s", "booth", "--param", "beta2=-0.5"], ["beta2 must be >= 0"]),
    (["-o", "nesterov", "-s", "booth", "--param", "dampening=0.1"], ["zero dampening"]),
    (["-o", "nesterov", "-s", "booth", "--momentum", "0"], ["momentum > 0"]),
    (["-o", "adam", "-s", "booth", "--param", "amsgrad=maybe"], ["true or false"]),
    (["-o", "gd", "-s", "booth", "--record-every", "0"], ["record_every must be >= 1"]),
    (["-o", "gd", "-s", "booth", "--param", "lr"], ["NAME=VALUE"]),
    (["-o", "gd", "-s", "booth", "--lr", "0.1", "--param", "lr=0.2"], ["given twice"]),
    (["-o", "gd", "-s", "booth", "--dim", "3"], ["2-dimensional"]),
    (["-o", "gd", "-s", "quadratic", "--surface-param", "kappa=0.5"], ["kappa"]),
    (["-o", "gd", "-s", "booth", "--lr", "abc"], ["--lr", "abc"]),
    (["-o", "gd"], ["--surface"]),
]


@pytest.mark.parametrize(
    ("args", "needles"),
    BAD_INPUTS,
    ids=lambda v: (
        " ".join(v) if isinstance(v, list) and v and v[0].startswith("-") else None
    ),
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, args, needles):
    out_file = tmp_path / "never.npz"
    code, out, err = invoke(capsys, "run", *args, "--out", str(out_file))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]
    assert not out_file.exists()


@pytest.mark.parametrize(
    ("name", "needle"),
    [("run.txt", "unknown extension"), ("missing/run.npz", "does not exist")],
)
def test_bad_output_path_fails_before_running(capsys, tmp_path, name, needle):
    code, out, err = invoke(
        capsys, "run", "-o", "gd", "-s", "booth", "--out", str(tmp_path / name)
    )
    assert code == 2 and out == ""
    assert needle in err and ".npz" in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_output_path(capsys):
    code, _, err = invoke(
        capsys, "run", "-o", "gd", "-s", "booth", "--out", "/proc/x.npz"
    )
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_list_json_names_every_registered_item(capsys):
    code, out, _ = invoke(capsys, "list", "--json")
    assert code == 0
    payload = json.loads(out)
    assert [o["name"] for o in payload["optimizers"]] == odeopt.optimizer_names()
    assert [s["name"] for s in payload["surfaces"]] == odeopt.surface_names()
    nesterov = next(o for o in payload["optimizers"] if o["name"] == "nesterov")
    assert {h["name"] for h in nesterov["hyperparameters"]} >= {"lr", "momentum"}
    assert nesterov["models"][0]["name"] == "low-res"
    rosen = next(s for s in payload["surfaces"] if s["name"] == "rosenbrock")
    assert rosen["minima"][0]["theta"] == [1.0, 1.0]


def test_list_text(capsys):
    code, out, _ = invoke(capsys, "list", "surfaces")
    assert code == 0
    assert "rosenbrock" in out and "Optimizers" not in out
    code, out, _ = invoke(capsys, "list", "optimizers")
    assert "adagrad" in out and "t_k = k·lr²" in out


LAZY_PROBE = """
import sys
from odeopt.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print("LOADED", "numba" in sys.modules, "matplotlib" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["list"], ["list", "--json"], ["run", "-h"]]
)
def test_help_and_list_import_neither_numba_nor_matplotlib(args):
    result = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE.format(args=args)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "LOADED False False" in result.stderr


def test_python_dash_m_and_version():
    result = subprocess.run(
        [sys.executable, "-m", "odeopt", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "odeopt" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "odeopt", "run", "-o", "nope", "-s", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_cli_run_equals_library_run(capsys, tmp_path):
    path = tmp_path / "a.npz"
    invoke(
        capsys,
        "run",
        "-o",
        "adagrad",
        "-s",
        "beale",
        "--steps",
        "400",
        "--record-every",
        "50",
        "--out",
        str(path),
        "--quiet",
    )
    loaded = odeopt.Trajectory.load(path)
    direct = odeopt.run("adagrad", "beale", steps=400, record_every=50)
    np.testing.assert_array_equal(loaded.theta, direct.theta)
    np.testing.assert_array_equal(loaded.t, direct.t)


def _raise(error):
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("odeopt.cli._bind", ["run", "-o", "gd", "-s", "booth"]),
        ("odeopt.check.check_order", ["check", "-o", "gd", "-s", "booth"]),
        ("odeopt.compare.compare", ["compare", "-o", "gd", "-s", "booth"]),
    ],
)
def test_a_bug_is_a_traceback_not_a_usage_error(capsys, monkeypatch, target, args):
    # a bare ValueError is a programming error: it must not become exit code 2
    monkeypatch.setattr(target, _raise(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        main(args)
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (odeopt.InputError("bad input"), 2),
        (odeopt.RunError("bad input"), 2),
        (odeopt.reference.ReferenceError("bad input"), 1),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_odeopt_errors_are_one_line(capsys, monkeypatch, error, code):
    monkeypatch.setattr("odeopt.cli._bind", _raise(error))
    status, out, err = invoke(capsys, "run", "-o", "gd", "-s", "booth")
    assert status == code and out == ""
    assert err == "odeopt: error: bad input\n"


def test_a_huge_dimension_is_refused_in_one_line(capsys):
    code, out, err = invoke(
        capsys, "run", "-o", "gd", "-s", "rosenbrock", "--dim", "10000000000000"
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "needs about" in err and "PB" in err and "this machine has" in err


@pytest.mark.parametrize(
    ("option", "typo", "meant"),
    [("-o", "adma", "adam"), ("-s", "rosenbrok", "rosenbrock")],
)
def test_an_unknown_name_suggests_the_close_one(capsys, option, typo, meant):
    args = {"-o": "gd", "-s": "booth"}
    args[option] = typo
    code, out, err = invoke(capsys, "run", "-o", args["-o"], "-s", args["-s"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"did you mean {meant!r}?" in err and "valid:" in err


def test_python_names_suggest_the_close_one_too():
    with pytest.raises(odeopt.InputError, match="did you mean 'himmelblau'"):
        odeopt.get_surface("himmelblua")
    with pytest.raises(odeopt.InputError, match="valid:") as info:
        odeopt.get_optimizer("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_out_onto_an_existing_file_says_it_overwrote_it(capsys, tmp_path):
    path = tmp_path / "run.npz"
    args = ("run", "-o", "gd", "-s", "booth", "--steps", "5", "--out", str(path))
    code, out, _ = invoke(capsys, *args)
    assert code == 0 and "overwrote" not in out
    code, out, _ = invoke(capsys, *args)
    assert code == 0 and f"{path} (overwrote the file that was there)" in out


def test_negative_friction_is_said_in_the_summary_and_meta(capsys):
    # PyTorch allows momentum > 1; the model's friction (1 − β)/h is then negative.
    args = ("run", "-o", "momentum", "-s", "booth", "--lr", "0.01", "--steps", "20")
    code, out, _ = invoke(capsys, *args, "--momentum", "1.5")
    assert code == 0 and "negative friction" in out
    code, out, _ = invoke(capsys, *args, "--momentum", "1.5", "--json")
    assert "negative friction" in json.loads(out)["model"]["regime"]
    code, out, _ = invoke(capsys, *args, "--momentum", "0.5")
    assert code == 0 and "negative friction" not in out


def test_a_failed_reference_keeps_the_runs_summary(capsys, tmp_path):
    # gd on the monkey saddle runs away in a few steps; the flow blows up in finite
    # time, so the reference fails: both are reported, the run is saved, exit 1.
    path = tmp_path / "run.npz"
    code, out, err = invoke(capsys, "run", "-o", "gd", "-s", "monkey-saddle",
                            "--reference", "--out", str(path))  # fmt: skip
    assert code == 1
    assert "gd on monkey-saddle: diverged" in out and "final" in out
    assert "reference integrator" in err and len(err.strip().splitlines()) == 1
    assert "reference_failure" in odeopt.Trajectory.load(path).meta
