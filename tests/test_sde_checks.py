"""``odeopt check --weak`` / ``--strong``: orders of SGD against its SDEs.

Weak orders come from exact moments (no Monte-Carlo error); the strong order from
shared Brownian paths on nested grids, whose discrete recursion is checked against
the engine's own noisy run.
"""

import json

import numpy as np
import pytest

import odeopt
from odeopt import _random, sde
from odeopt._jit import jit_module
from odeopt.cli import main
from odeopt.registry import get_noise, get_optimizer, get_surface

QUADRATIC = (
    "-s",
    "quadratic",
    "--dim",
    "2",
    "--surface-param",
    "rotate=1",
    "--surface-param",
    "kappa=4",
    "--lr",
    "0.1",
    "--noise",
    "hessian:0.5",
    "--horizon",
    "2",
)


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize(("model", "declared"), [("sme1", 1.0), ("sme2", 2.0)])
def test_check_weak_fits_the_orders_of_sme1_and_sme2(capsys, model, declared):
    code, out, err = invoke(
        capsys,
        "check",
        "--weak",
        "-o",
        "gd",
        *QUADRATIC,
        "--model",
        model,
        "--tolerance",
        "0.1",
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["passed"] and record["check"] == "weak"
    assert abs(record["fitted_order"] - declared) < 0.1
    assert record["declared_order"] == declared
    # the same numbers as the library's measurement
    surface = get_surface("quadratic").bind(2, rotate=1, kappa=4.0)
    noise = get_noise("hessian").parse("hessian:0.5", 2, 1)
    direct = sde.weak_order(
        model,
        get_optimizer("gd").bind(surface, lr=0.1),
        surface,
        noise,
        horizon=2.0,
        levels=6,
    )
    np.testing.assert_allclose(record["error"], direct.error, rtol=1e-12)


def test_check_weak_text_and_plot(capsys, tmp_path):
    picture = tmp_path / "weak.png"
    code, out, err = invoke(
        capsys,
        "check",
        "--weak",
        "-o",
        "momentum",
        *QUADRATIC[:-4],
        "--lr",
        "0.01",
        "--momentum",
        "0.9",
        "--noise",
        "iso:0.5",
        "--horizon",
        "2",
        "--plot",
        str(picture),
    )
    assert code == 0, err
    assert "momentum vs kramers" in out and "passed" in out and picture.exists()


def test_strong_paths_are_the_engines_sgd():
    # The strong check's recursion θ ← θ − h∇L + √h·S·ΔW, fed ΔW = −√h ξ with the
    # engine's own normals ξ, is the engine's noisy gd run (to rounding).
    surface = get_surface("rosenbrock").bind(2)
    lr, steps, seed = 1e-3, 200, 9
    run = odeopt.run("gd", surface, lr=lr, steps=steps, noise="diag:0.3,0.7", seed=seed)
    R = jit_module(_random)
    xi = np.empty((steps, 2))
    for k in range(1, steps + 1):
        R.fill_normals(xi[k - 1], seed, 0, k, 0)
    root = np.diag([0.3, 0.7])
    em = sde._paths_kernel()
    grad = jit_module(surface.surface.kernels).grad
    final = em(
        grad, surface.p, surface.x0, -np.sqrt(lr) * xi[None], lr, np.sqrt(lr), root
    )
    np.testing.assert_allclose(final[0], run.theta[-1], rtol=1e-12, atol=1e-14)


def test_strong_order_of_sgd_against_sme1_with_its_interval():
    surface = get_surface("booth").bind(2)
    noise = get_noise("diag").parse("diag:0.5,1", 2, 1)
    result = sde.strong_order(
        get_optimizer("gd").bind(surface, lr=0.02),
        surface,
        noise,
        levels=5,
        paths=400,
        seed=3,
    )
    assert abs(result.fitted_order - 1.0) < 0.1, result.table()
    lo, hi = result.interval
    assert lo <= result.fitted_order <= hi and hi - lo < 0.05
    assert np.all(np.diff(result.error) < 0)
    # the same paths give the same numbers; another seed, other paths
    again = sde.strong_order(
        get_optimizer("gd").bind(surface, lr=0.02),
        surface,
        noise,
        levels=5,
        paths=400,
        seed=3,
    )
    np.testing.assert_array_equal(again.error, result.error)


def test_check_strong_from_the_command_line(capsys):
    code, out, err = invoke(
        capsys,
        "check",
        "--strong",
        "-o",
        "gd",
        "-s",
        "booth",
        "--lr",
        "0.02",
        "--noise",
        "diag:0.5,1",
        "--paths",
        "200",
        "--levels",
        "4",
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["check"] == "strong" and record["passed"]
    assert record["interval"][0] <= record["fitted_order"] <= record["interval"][1]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--weak", "-o", "gd", "-s", "booth"), "need --noise"),
        (
            ("--weak", "-o", "gd", "-s", "rosenbrock", "--noise", "iso:1"),
            "no affine gradient",
        ),
        (
            ("--weak", "-o", "gd", "-s", "booth", "--noise", "iso:1", "--paths", "100"),
            "exact moments",
        ),
        (
            (
                "--weak",
                "-o",
                "gd",
                "-s",
                "booth",
                "--noise",
                "iso:1",
                "--model",
                "sme3",
            ),
            "unknown SDE model",
        ),
        (("--strong", "-o", "adam", "-s", "booth", "--noise", "iso:1"), "gd (SGD)"),
        (
            ("--strong", "-o", "gd", "-s", "booth", "--noise", "hessian"),
            "constant noise covariance",
        ),
        (
            ("--strong", "-o", "gd", "-s", "booth", "--noise", "iso:1", "--paths", "5"),
            "--paths must be >= 10",
        ),
        (("-o", "gd", "-s", "booth", "--noise", "iso:1"), "--weak or --strong"),
    ],
)
def test_bad_sde_checks_exit_2_in_one_line(capsys, args, words):
    code, _, err = invoke(capsys, "check", *args)
    assert code == 2 and words in err and err.count("\n") == 1, err
