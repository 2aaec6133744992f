"""Noisy runs from the command line: --noise, --batch-size, --seed, --paths.

The noise's bits are the generator's business (odeopt._random may change its
normals): these tests compare runs with runs, and ensemble statistics with the
exact moments of the linear recursion, never with hard-coded noisy numbers.
Stochastic tests state their significance level α.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

import odeopt
from odeopt import registry, sde
from odeopt.cli import main
from odeopt.ensemble import run_ensemble
from odeopt.registry import get_noise, get_optimizer, get_surface


def invoke(capsys, *args):
    """Run ``odeopt ARGS`` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


NOISY = ("-o", "gd", "-s", "booth", "--lr", "0.05", "--steps", "300")


def test_seed_and_noise_are_recorded_and_rebuild_the_run(capsys, tmp_path):
    out_file = tmp_path / "run.json"
    args = (*NOISY, "--noise", "iso:0.5", "--batch-size", "4", "--seed", "7")
    code, out, err = invoke(capsys, "run", *args, "--out", str(out_file))
    assert code == 0, err
    assert "noise" in out and "seed 7" in out and "B=4" in out
    meta = json.loads(out_file.read_text())["meta"]
    assert meta["seed"] == 7 and meta["path"] == 0
    assert meta["noise"]["model"] == "iso"
    assert meta["noise"]["params"] == {"sigma": 0.5}
    assert meta["noise"]["batch_size"] == 4
    # the saved metadata gives the run back, bit for bit
    saved = odeopt.Trajectory.load(out_file)
    again = odeopt.run(odeopt.Problem.from_meta(meta))
    assert np.array_equal(again.theta[-1], saved.theta[-1])
    direct = odeopt.run(
        "gd", "booth", lr=0.05, steps=300, noise="iso:0.5", batch_size=4, seed=7
    )
    assert np.array_equal(direct.theta[-1], saved.theta[-1])
    other = odeopt.run(
        "gd", "booth", lr=0.05, steps=300, noise="iso:0.5", batch_size=4, seed=8
    )
    assert not np.array_equal(other.theta[-1], saved.theta[-1])


def test_run_paths_prints_the_ensemble_mean_and_spread(capsys):
    code, out, err = invoke(
        capsys, "run", *NOISY, "--noise", "iso:0.5", "--paths", "64", "--seed", "3"
    )
    assert code == 0, err
    for text in (
        "ensemble of 64 noise paths",
        "mean",
        "± ",
        "spread (std)",
        "quantiles 5%",
        "path-steps/s",
    ):
        assert text in out


def test_run_paths_json_is_the_ensemble_of_single_runs(capsys):
    code, out, err = invoke(
        capsys,
        "run",
        *NOISY,
        "--noise",
        "diag:0.3,0.6",
        "--paths",
        "40",
        "--seed",
        "11",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["paths"] == 40 and summary["seed"] == 11
    assert summary["noise"]["model"] == "diag"
    singles = np.array(
        [
            odeopt.run(
                "gd", "booth", lr=0.05, steps=300, noise="diag:0.3,0.6", seed=11, path=p
            ).final_loss
            for p in range(40)
        ]
    )
    law = summary["final_loss"]
    assert law["mean"] == pytest.approx(singles.mean(), rel=1e-12)
    assert law["std"] == pytest.approx(singles.std(ddof=1), rel=1e-12)
    assert law["sem"] == pytest.approx(singles.std(ddof=1) / math.sqrt(40), rel=1e-12)
    assert law["quantiles"]["0.5"] == pytest.approx(np.median(singles), rel=1e-12)


def test_ensemble_mean_loss_matches_the_exact_moments():
    # L = a/2 θ², gd with isotropic noise: θ_k is Gaussian with the mean and variance
    # of the linear recursion (odeopt.sde.sgd_moments, a separate computation), so
    # E[L_k] = a/2 (m_k² + P_k) and Var[L_k] = a²/4 (2P_k² + 4 m_k² P_k).
    a, lr, sigma, batch, steps, n = 2.0, 0.1, 0.8, 2, 60, 4000
    surface = get_surface("quadratic").bind(1, eigenvalues=(a,))
    problem = odeopt.problem(
        "gd",
        surface,
        x0=[1.0],
        lr=lr,
        steps=steps,
        noise=f"iso:{sigma}",
        batch_size=batch,
        seed=5,
    )
    ensemble = run_ensemble(problem, n)
    noise = get_noise("iso").parse(f"iso:{sigma}", 1, batch)
    moments = sde.sgd_moments(
        get_optimizer("gd").bind(surface, lr=lr), surface, noise, [1.0], steps
    )
    m, P = moments.mean[-1, 0], moments.covariance[-1, 0, 0]
    expected = a / 2 * (m * m + P)
    sd = a / 2 * math.sqrt(2 * P * P + 4 * m * m * P)
    # α ≈ 6e-7: the sample mean of 4000 within 5 standard errors
    assert abs(ensemble.final_loss.mean() - expected) < 5 * sd / math.sqrt(n)
    # the mean path too (α ≈ 6e-7)
    assert abs(ensemble.final_theta.mean() - m) < 5 * math.sqrt(P / n)


def test_compare_and_animate_take_the_noise(capsys, tmp_path):
    table = tmp_path / "cmp.json"
    code, out, err = invoke(
        capsys,
        "compare",
        "-o",
        "gd",
        "-o",
        "momentum",
        "-s",
        "booth",
        "--lr",
        "0.02",
        "--steps",
        "400",
        "--noise",
        "iso:1",
        "--seed",
        "2",
        "--paths",
        "32",
        "--out",
        str(table),
    )
    assert code == 0, err
    assert "mean final loss" in out and "seed 2" in out
    record = json.loads(table.read_text())
    assert record["noise"]["seed"] == 2 and record["noise"]["model"] == "iso"
    row = record["rows"][1]
    members = [
        odeopt.run(
            "momentum", "booth", lr=0.02, steps=400, noise="iso:1", seed=2, path=p
        ).final_loss
        for p in range(32)
    ]
    assert row["mean_final_loss"] == pytest.approx(np.mean(members), rel=1e-12)
    # the row's own run is path 0
    assert row["final_loss"] == members[0]
    gif = tmp_path / "w.gif"
    code, out, err = invoke(
        capsys,
        "animate",
        "-o",
        "gd",
        "-s",
        "booth",
        "--lr",
        "0.02",
        "--steps",
        "200",
        "--noise",
        "iso:1",
        "--paths",
        "2",
        "--frames",
        "4",
        "--out",
        str(gif),
    )
    assert code == 0, err
    assert "noise path 0" in out and "noise path 1" in out and gif.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--noise", "iso:-0.5"), "sigma must be finite and >= 0"),
        (("--noise", "iso:0.5", "--batch-size", "0"), "batch size must be >= 1"),
        (("--noise", "iso:0.5", "--paths", "0"), "--paths must be >= 1"),
        (("--noise", "isso:0.5"), "did you mean 'iso'"),
        (("--noise", "gauss"), "valid: diag, hessian, iso"),
        (("--batch-size", "4"), "--batch-size needs --noise"),
        (("--paths", "10"), "--paths needs --noise"),
        (("--noise", "iso:0.5", "--seed", "-1"), "seed must be in [0,"),
        (("--noise", "hessian:x"), "noise hessian: sigma must be a number"),
        (("--noise", "diag:0.1,0.2,0.3"), "give 2 standard deviations"),
        (("--noise", "iso:1", "--paths", "5", "--reference"), "--reference"),
    ],
)
def test_bad_noise_input_is_one_line_and_exit_2(capsys, args, words):
    code, out, err = invoke(capsys, "run", *NOISY, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_animate_refuses_more_paths_than_it_draws(capsys, tmp_path):
    code, _, err = invoke(
        capsys,
        "animate",
        "-o",
        "gd",
        "-s",
        "booth",
        "--noise",
        "iso:1",
        "--paths",
        "100",
        "--out",
        str(tmp_path / "a.gif"),
    )
    assert code == 2 and "at most" in err and err.count("\n") == 1


def test_hessian_noise_needs_a_loss_with_a_hessian(capsys, monkeypatch):
    booth = get_surface("booth")
    field = dataclasses.replace(booth, name="booth-field", symmetric=False)
    with pytest.raises(odeopt.errors.InputError, match="needs the Hessian"):
        odeopt.problem("gd", field.bind(2), noise="hessian:0.5")
    odeopt.problem("gd", field.bind(2), noise="iso:0.5")  # other noise is fine
    table = {**registry.surfaces(), "booth-field": field}
    monkeypatch.setattr(registry, "surfaces", lambda: table)
    code, _, err = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "booth-field",
        "--noise",
        "hessian:0.5",
        "--steps",
        "5",
    )
    assert code == 2 and "needs the Hessian" in err and err.count("\n") == 1


def test_list_noise_names_every_model(capsys):
    code, out, _ = invoke(capsys, "list", "noise", "--json")
    assert code == 0
    names = [m["name"] for m in json.loads(out)["noise"]]
    assert names == sorted(registry.noise_models())
