"""Sweeps (odeopt.sweep) and the linear stability theory (odeopt.stability).

The expected values are independent of the code under test: single runs
(``odeopt.run``) for the cells, the eigenvalues of each optimizer's iteration matrix
built in NumPy from the published update (PyTorch's SGD) for the spectral radii,
and the nearest declared minimum for the basins.
"""

from __future__ import annotations

import numpy as np
import pytest

import odeopt
from odeopt import stability
from odeopt.errors import InputError, UnknownNameError

xr = pytest.importorskip("xarray")

EIGENVALUES = (1.0, 2.0)


def iteration_matrix(optimizer: str, lam: float, lr: float, beta: float) -> np.ndarray:
    """The linear map of one step on L = λθ²/2, written from the update rule.

    gd: θ ← θ − ηλθ.  Heavy ball (PyTorch): b ← βb + λθ, θ ← θ − ηb, state (θ, b).
    Nesterov (PyTorch): g = λθ, b ← βb + g, θ ← θ − η(g + βb), state (θ, b).
    """
    if optimizer == "gd":
        return np.array([[1.0 - lr * lam]])
    if optimizer == "momentum":
        # b' = βb + λθ; θ' = θ − η b'
        return np.array([[1.0 - lr * lam, -lr * beta], [lam, beta]])
    # b' = βb + λθ; θ' = θ − η(λθ + β b') = θ − ηλθ − ηβ(βb + λθ)
    return np.array(
        [[1.0 - lr * lam - lr * beta * lam, -lr * beta * beta], [lam, beta]]
    )


def numpy_radius(optimizer, lr, beta):
    return max(
        np.max(np.abs(np.linalg.eigvals(iteration_matrix(optimizer, lam, lr, beta))))
        for lam in EIGENVALUES
    )


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
def test_spectral_radius_is_that_of_the_update_matrix(optimizer):
    rng = np.random.default_rng(5)
    lrs = rng.uniform(0.001, 3.0, 64)
    betas = rng.uniform(0.0, 0.99, 64) if optimizer != "gd" else np.zeros(64)
    got = stability.spectral_radius(optimizer, EIGENVALUES, lr=lrs, momentum=betas)
    want = [numpy_radius(optimizer, lr, b) for lr, b in zip(lrs, betas, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_heun_radius_and_edges():
    # Heun on λθ²/2: p̃ = θ(1 − a), θ' = θ − (η/2)(λθ + λp̃) = θ(1 − a + a²/2).
    a = np.linspace(0.0, 2.5, 11)
    got = stability.spectral_radius("heun", [1.0], lr=a)
    np.testing.assert_allclose(got, np.abs(1 - a + a * a / 2), rtol=1e-12)
    beta = np.linspace(0.0, 0.99, 23)
    for optimizer in ("gd", "heun", "momentum", "nesterov"):
        edge = stability.edge(optimizer, 2.0, momentum=beta)
        inside = stability.spectral_radius(
            optimizer, EIGENVALUES, lr=edge * (1 - 1e-6), momentum=beta
        )
        outside = stability.spectral_radius(
            optimizer, EIGENVALUES, lr=edge * (1 + 1e-6), momentum=beta
        )
        assert np.all(inside < 1.0) and np.all(outside > 1.0), optimizer
    # Nesterov's edge is narrower than heavy ball's for every β > 0.
    hb = stability.edge("momentum", 1.0, momentum=beta[1:])
    nag = stability.edge("nesterov", 1.0, momentum=beta[1:])
    assert np.all(nag < hb)


def test_critical_damping_separates_real_and_complex_roots():
    beta = np.linspace(0.1, 0.9, 9)
    for optimizer in ("momentum", "nesterov"):
        low = stability.critical_damping(optimizer, 1.0, momentum=beta)[0]
        for lr, b in zip(low, beta, strict=True):
            for factor, complex_roots in ((0.99, False), (1.01, True)):
                roots = np.linalg.eigvals(
                    iteration_matrix(optimizer, 1.0, lr * factor, b)
                )
                assert (abs(roots[0].imag) > 1e-12) == complex_roots


def test_linearisation_refused_for_adaptive_methods():
    with pytest.raises(InputError, match="linearisable: gd, heun, momentum, nesterov"):
        stability.spectral_radius("adam", [1.0], lr=0.1)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_measured_map_agrees_with_linear_theory(optimizer):
    """Boundary cell for cell, rates to 1e-3, on ½θᵀdiag(1, 2)θ."""
    grid = {"lr": np.linspace(0.01, 2.5, 24), "momentum": np.linspace(0.05, 0.95, 16)}
    ds = odeopt.sweep(
        optimizer, "quadratic", grid=grid, steps=1000, divergence="rate",
        surface_params={"eigenvalues": EIGENVALUES},
    )  # fmt: skip
    predicted = stability.predict(ds)
    want = np.array(
        [
            [numpy_radius(optimizer, lr, b) for b in grid["momentum"]]
            for lr in grid["lr"]
        ]
    )
    np.testing.assert_allclose(predicted.values, want, rtol=1e-9)
    diverged = (ds.status == "diverged").values
    np.testing.assert_array_equal(diverged, want > 1.0)
    # Rates measurable in 1000 steps: above the round-off floor long enough, and
    # below 1 by more than the window's resolution.
    measurable = (want > 0.3) & (want < 0.995)
    assert measurable.sum() > 100
    error = np.abs(ds.rate.values - want)[measurable]
    assert error.max() < 1e-3


def test_cells_are_single_runs_bit_for_bit():
    grid = {"lr": [1e-4, 5e-4, 2e-3], "momentum": [0.0, 0.5, 0.9]}
    ds = odeopt.sweep("momentum", "rosenbrock", grid=grid, steps=300)
    for i, lr in enumerate(grid["lr"]):
        for j, beta in enumerate(grid["momentum"]):
            traj = odeopt.run("momentum", "rosenbrock", lr=lr, momentum=beta, steps=300)
            cell = ds.isel(lr=i, momentum=j)
            np.testing.assert_array_equal(cell.final_theta.values, traj.theta[-1])
            assert cell.status.item() == traj.status.value
            assert int(cell.steps_done) == traj.steps_done
    assert ds.attrs["optimizer"] == "momentum" and ds.attrs["steps"] == 300


def test_divergence_criterion_is_opt_in_and_keeps_the_bits():
    grid = {"lr": [0.5, 1.05, 1.2]}  # gd on λ_max = 2: edge at lr = 1
    kwargs = {
        "grid": grid,
        "steps": 200,
        "surface_params": {"eigenvalues": EIGENVALUES},
    }
    plain = odeopt.sweep("gd", "quadratic", **kwargs)
    marked = odeopt.sweep("gd", "quadratic", divergence="rate", **kwargs)
    # |1 − 2·1.05|^200 = 1.1^200 ≈ 2e8: far from max_norm, so a plain run ends.
    assert list(plain.status.values) == ["max_steps"] * 3
    assert list(marked.status.values) == ["max_steps", "diverged", "diverged"]
    np.testing.assert_array_equal(plain.final_theta.values, marked.final_theta.values)
    np.testing.assert_allclose(marked.rate.values[1:], [1.1, 1.4], rtol=1e-9)


def test_himmelblau_basins_are_the_nearest_minimum():
    axis = np.linspace(-5.0, 5.0, 12)
    ds = odeopt.sweep(
        "gd", "himmelblau", grid={"start_0": axis, "start_1": axis}, steps=2000,
        hyperparameters={"lr": 0.01},
    )  # fmt: skip
    minima = ds.minimum_theta.values
    final = ds.final_theta.values.reshape(-1, 2)
    nearest = np.argmin(np.linalg.norm(final[:, None] - minima[None], axis=2), axis=1)
    np.testing.assert_array_equal(ds.basin.values.ravel(), nearest)
    assert set(np.unique(ds.basin.values)) == {0, 1, 2, 3}
    # Each start is a run from that start.
    traj = odeopt.run("gd", "himmelblau", lr=0.01, steps=2000, x0=[axis[3], axis[7]])
    np.testing.assert_array_equal(ds.final_theta.values[3, 7], traj.theta[-1])
    # The Hessian at a minimum is its sharpness there (gd converges, λ_max < 2/lr).
    lam = [np.linalg.eigvalsh(odeopt.get_surface("himmelblau").bind().hess(m))[-1]
           for m in minima]  # fmt: skip
    assert np.all(ds.sharpness.values >= np.min(lam) - 1e-6)


def test_surface_parameter_and_start_list_axes():
    ds = odeopt.sweep(
        "gd", "quadratic", grid={"kappa": [2.0, 8.0], "lr": [0.1, 0.2]},
        starts=[[1.0, 1.0], [0.5, -1.0], [2.0, 0.0]], steps=150,
    )  # fmt: skip
    assert ds.status.dims == ("kappa", "lr", "start")
    traj = odeopt.run(
        "gd", "quadratic", lr=0.2, steps=150, x0=[0.5, -1.0],
        surface_params={"kappa": 8.0},
    )  # fmt: skip
    np.testing.assert_array_equal(
        ds.final_theta.sel(kappa=8.0, lr=0.2, start=1).values, traj.theta[-1]
    )
    predicted = stability.predict(ds)
    np.testing.assert_allclose(
        predicted.sel(kappa=8.0, lr=0.2).item(), max(abs(1 - 0.2), abs(1 - 0.2 * 8.0))
    )


def test_seed_axis_is_the_noise_seed():
    ds = odeopt.sweep("gd", "quadratic", grid={"lr": [0.1]}, seeds=[3, 11],
                      noise="iso:0.3", steps=50)  # fmt: skip
    for seed in (3, 11):
        traj = odeopt.run("gd", "quadratic", lr=0.1, steps=50, noise="iso:0.3",
                          seed=seed)  # fmt: skip
        np.testing.assert_array_equal(
            ds.final_theta.sel(seed=seed, lr=0.1).values, traj.theta[-1]
        )


@pytest.mark.parametrize("suffix", [".nc", ".csv", ".zarr"])
def test_save_and_load(tmp_path, suffix):
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    ds = odeopt.sweep(
        "momentum",
        "quadratic",
        grid={"lr": [0.1, 0.5, 3.5], "momentum": [0.0, 0.9]},
        steps=100,
    )
    path = str(tmp_path / f"map{suffix}")
    odeopt.save_sweep(ds, path)
    back = odeopt.load_sweep(path)
    xr.testing.assert_identical(back[list(ds.data_vars)], ds)
    assert back.attrs == ds.attrs
    assert back.steps_done.dtype == np.int64
    if suffix == ".nc":
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            assert opened.basin.dtype == np.int64


def test_bad_input_is_one_clear_error():
    with pytest.raises(UnknownNameError, match="did you mean 'momentum'"):
        odeopt.sweep("momentum", "quadratic", grid={"momentun": [0.1]})
    with pytest.raises(InputError, match="grid axis lr is empty"):
        odeopt.sweep("gd", "quadratic", grid={"lr": []})
    with pytest.raises(InputError, match="needs about .* GB"):
        odeopt.sweep("gd", "quadratic", grid={"lr": np.ones(1000)}, max_bytes=1e3)
    with pytest.raises(InputError, match="needs noise"):
        odeopt.sweep("gd", "quadratic", grid={"lr": [0.1]}, seeds=[1])


# -- the command line --------------------------------------------------------------------
def cli(*args):
    from odeopt.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def test_cli_sweep_writes_draws_and_equals_the_library(capsys, tmp_path):
    out, picture = tmp_path / "map.nc", tmp_path / "map.png"
    code = cli(
        "sweep", "-o", "momentum", "-s", "quadratic", "--grid", "lr=1e-2:3:log:6",
        "--grid", "momentum=0:0.9:4", "--steps", "200", "--divergence", "rate",
        "--out", str(out), "--plot", str(picture),
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "24 cells × 200 steps" in printed and picture.stat().st_size > 0
    saved = odeopt.load_sweep(str(out))
    library = odeopt.sweep(
        "momentum", "quadratic", steps=200, divergence="rate",
        grid={"lr": np.geomspace(1e-2, 3, 6), "momentum": np.linspace(0, 0.9, 4)},
    )  # fmt: skip
    for name in ("status", "final_theta", "rate", "basin", "steps_done"):
        xr.testing.assert_equal(saved[name], library[name])
    redrawn = tmp_path / "again.png"
    assert cli("plot", str(out), "--plot", str(redrawn)) == 0
    assert redrawn.stat().st_size > 0


@pytest.mark.parametrize(
    ("grid", "needle"),
    [
        ("lr=2:1:10", "reversed range 2 > 1"),
        ("lr=1:2:0", "lr is empty"),
        ("lr=1:1:5", "empty range"),
        ("momentun=0:1:3", "did you mean 'momentum'"),
        ("lr=0:1:log:5", "log range needs LO > 0"),
        ("lr", "--grid expects NAME=LO:HI:N"),
    ],
)
def test_cli_sweep_bad_input_is_one_line_exit_2(capsys, grid, needle):
    assert cli("sweep", "-o", "momentum", "-s", "quadratic", "--grid", grid) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_sweep_too_large_is_refused_before_running(capsys, tmp_path):
    out = tmp_path / "huge.nc"
    code = cli(
        "sweep", "-o", "gd", "-s", "quadratic", "--grid", "lr=1e-3:1:1000000",
        "--grid", "weight_decay=0:1:1000000", "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "coarsen the grid" in capsys.readouterr().err
    assert not out.exists()


def test_run_batch_sets_of_whole_blocks_keep_their_own_hyperparameters():
    """Blocks of lanes that each hold one set were merged across sets (a ValueError
    once a thread's share spanned several sets of 32 starts)."""
    starts = np.random.default_rng(0).normal(size=(32, 2))
    sets = [{"lr": 0.1, "momentum": m} for m in np.linspace(0.1, 0.9, 20)]
    batch = odeopt.run_batch("momentum", "quadratic", starts, sets, steps=10)
    for h in (0, 7, 19):
        traj = odeopt.run("momentum", "quadratic", x0=starts[5], steps=10, **sets[h])
        np.testing.assert_array_equal(batch.final_theta[h, 5], traj.theta[-1])


def test_cli_sweep_ctrl_c_writes_nothing(capsys, tmp_path, monkeypatch):
    import odeopt.sweeps

    def interrupted(*args, progress=None, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(odeopt.sweeps, "sweep", interrupted)
    out = tmp_path / "map.nc"
    code = cli("sweep", "-o", "gd", "-s", "quadratic", "--grid", "lr=0.1:0.5:3",
               "--out", str(out))  # fmt: skip
    assert code == 130 and not out.exists()
    assert "interrupted; nothing written" in capsys.readouterr().err


def test_sharpness_along_a_run():
    # On a quadratic the Hessian is constant: the sharpness is its largest eigenvalue.
    traj = odeopt.run("gd", "quadratic", lr=0.3, steps=20,
                      surface_params={"eigenvalues": EIGENVALUES})  # fmt: skip
    step, sharp, edge = stability.sharpness_along(traj)
    np.testing.assert_allclose(sharp, 2.0, rtol=1e-12)
    assert edge == pytest.approx(2.0 / 0.3) and step.shape == sharp.shape
    # On Rosenbrock, 200x^2 + ... : the Hessian at (1, 1) has λ_max = 501.6.
    traj = odeopt.run("gd", "rosenbrock", lr=1e-3, steps=30000)
    _, sharp, _ = stability.sharpness_along(traj)
    hess = np.array([[802.0, -400.0], [-400.0, 200.0]])
    assert sharp[-1] == pytest.approx(np.linalg.eigvalsh(hess)[-1], rel=1e-3)


def test_records_zero_is_the_same_runs_without_the_tail():
    kwargs = {"grid": {"lr": [0.5, 1.05, 1.2]}, "steps": 200, "divergence": "rate",
              "surface_params": {"eigenvalues": EIGENVALUES}}  # fmt: skip
    full = odeopt.sweep("gd", "quadratic", **kwargs)
    bare = odeopt.sweep("gd", "quadratic", records=0, **kwargs)
    np.testing.assert_array_equal(full.final_theta.values, bare.final_theta.values)
    assert np.all(np.isnan(bare.rate.values))
    # Without records, a run whose final error exceeds its first is diverged.
    assert list(bare.status.values) == ["max_steps", "diverged", "diverged"]


def test_a_two_worker_local_cluster_gives_the_same_dataset():
    pytest.importorskip("distributed")
    kwargs = {
        "grid": {"lr": np.geomspace(0.01, 2.5, 6), "momentum": [0.0, 0.5, 0.9]},
        "steps": 300, "divergence": "rate",
        "surface_params": {"eigenvalues": EIGENVALUES},
    }  # fmt: skip
    here = odeopt.sweep("momentum", "quadratic", **kwargs)
    odeopt.sweeps.CHUNK_TRAJECTORIES, saved = 8, odeopt.sweeps.CHUNK_TRAJECTORIES
    try:  # several chunks, so that the workers share the grid
        there = odeopt.sweep("momentum", "quadratic", workers=2, threads=1, **kwargs)
    finally:
        odeopt.sweeps.CHUNK_TRAJECTORIES = saved
    for name in here.data_vars:
        xr.testing.assert_identical(here[name], there[name])


def test_an_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot reach the dask scheduler"):
        odeopt.sweep("gd", "quadratic", grid={"lr": [0.1]}, steps=5,
                     scheduler="tcp://127.0.0.1:9")  # fmt: skip
