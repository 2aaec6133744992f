"""One bound problem (odeopt.Problem): built and checked once, picklable, carried by
the results, and the same numbers whichever way a run is asked for.

The user-defined surface is ``tests/families/problem_bowl.py``, the bowl
L = ½a(x − 1)² + ½b(y + ½)²; gradient descent on it has the closed form
x_k − 1 = (1 − ηa)^k (x_0 − 1), y_k + ½ = (1 − ηb)^k (y_0 + ½).
"""

import dataclasses
import multiprocessing
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import odeopt
from odeopt import plotting

sys.path.insert(0, str(Path(__file__).resolve().parent / "families"))
import problem_bowl

BOWL = problem_bowl.SURFACE

#: Settings of a run that are not timings or versions.
_VOLATILE = ("wall_time_s", "setup_time_s", "versions")


def assert_same_run(a, b):
    """Two trajectories with the same bits and the same settings."""
    for name in ("step", "t", "theta", "loss"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.status == b.status and a.steps_done == b.steps_done
    kept = [{k: v for k, v in t.meta.items() if k not in _VOLATILE} for t in (a, b)]
    assert kept[0] == kept[1]


#: (optimizer, surface, keywords): plain, adaptive, n-D with a start, noisy.
CASES = [
    ("gd", "booth", {"lr": 0.02, "steps": 300}),
    ("adam", "rosenbrock", {"lr": 0.01, "steps": 500, "beta1": 0.8}),
    ("nesterov", "quadratic", {"x0": [1.0, -2.0, 0.5, 3.0], "steps": 400}),
    (
        "momentum",
        "booth",
        {
            "lr": 0.01,
            "momentum": 0.8,
            "steps": 300,
            "noise": "iso:0.5",
            "batch_size": 4,
            "seed": 11,
            "path": 3,
        },
    ),
]


@pytest.mark.parametrize(("optimizer", "surface", "kwargs"), CASES)
def test_run_of_a_problem_equals_the_run_by_names(optimizer, surface, kwargs):
    problem = odeopt.problem(optimizer, surface, **kwargs)
    by_problem = odeopt.run(problem)
    by_names = odeopt.run(optimizer, surface, **kwargs)
    assert_same_run(by_problem, by_names)
    assert by_problem.problem == problem and by_names.problem == problem
    settings = problem.meta()
    assert {k: by_problem.meta[k] for k in settings} == settings


@pytest.mark.parametrize(
    ("optimizer", "surface", "kwargs"),
    [*CASES, ("gd", BOWL, {"lr": 0.1, "steps": 50, "surface_params": {"a": 2.0}})],
)
def test_a_pickled_problem_runs_to_the_same_bits(optimizer, surface, kwargs):
    problem = odeopt.problem(optimizer, surface, **kwargs)
    again = pickle.loads(pickle.dumps(problem))
    assert again == problem and again is not problem
    assert again.surface.surface is problem.surface.surface  # found again, not copied
    assert_same_run(odeopt.run(again), odeopt.run(problem))


def test_a_user_surface_problem_runs_in_a_worker_process():
    """What a sweep does: ship the problem to a fresh interpreter and run it there."""
    problem = odeopt.problem("momentum", BOWL, lr=0.05, momentum=0.5, steps=200)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        remote = pool.submit(odeopt.run, problem).result(timeout=300)
    assert_same_run(remote, odeopt.run(problem))
    assert remote.problem == problem


def test_gradient_descent_on_a_user_surface_follows_the_closed_form():
    a, b, lr, n = 2.0, 4.0, 0.1, 60
    traj = odeopt.run(
        odeopt.problem("gd", BOWL, lr=lr, steps=n, surface_params={"a": a, "b": b})
    )
    k = np.arange(n + 1)
    expected = np.column_stack(
        [1.0 + (1 - lr * a) ** k * (-2.0 - 1.0), -0.5 + (1 - lr * b) ** k * 2.5]
    )
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12, atol=1e-15)


def test_batch_rows_equal_the_runs_of_their_problems():
    problem = odeopt.problem(
        "momentum", "himmelblau", lr=0.01, momentum=0.9, steps=400,
        noise="iso:0.5", seed=7,
    )  # fmt: skip
    starts = np.random.default_rng(3).uniform(-4.0, 4.0, size=(5, 2))
    batch = odeopt.run_batch(
        problem, starts=starts, hyperparameter_sets=[{}, {"momentum": 0.5}]
    )
    assert batch.problem == dataclasses.replace(problem, x0=starts[0], path=0)
    for h in range(2):
        for s in range(5):
            one = batch.problem_of(s, h)
            assert one.optimizer.hp["momentum"] == (0.9, 0.5)[h]
            np.testing.assert_array_equal(one.x0, starts[s])
            traj = odeopt.run(one)
            np.testing.assert_array_equal(traj.final_theta, batch.final_theta[h, s])
            assert traj.final_loss == batch.final_loss[h, s]
    # and by names: the same batch
    names = odeopt.run_batch(
        "momentum", "himmelblau", starts, [{"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "momentum": 0.5}], steps=400, noise="iso:0.5", seed=7,
    )  # fmt: skip
    np.testing.assert_array_equal(names.final_theta, batch.final_theta)
    np.testing.assert_array_equal(
        odeopt.run(names.problem_of(2, 1)).final_theta, names.final_theta[1, 2]
    )
    # a problem alone is one trajectory: its own start on its own path
    alone = odeopt.run_batch(problem.replace(path=5))
    single = odeopt.run(problem.replace(path=5))
    np.testing.assert_array_equal(alone.final_theta[0, 0], single.final_theta)
    with pytest.raises(odeopt.RunError, match="no trajectory"):
        batch.problem_of(5)


def test_a_run_on_a_user_surface_draws_and_animates(tmp_path):
    traj = odeopt.run(odeopt.problem("gd", BOWL, lr=0.1, steps=40))
    path = plotting.save(plotting.plot_run(traj), tmp_path / "bowl.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    animation = plotting.animate(traj, frames=4)
    gif = plotting.save_animation(animation, tmp_path / "bowl.gif", fps=4)
    assert gif.read_bytes().startswith(b"GIF8")


def test_a_saved_user_surface_run_loads_without_its_problem(tmp_path):
    traj = odeopt.run(odeopt.problem("gd", BOWL, lr=0.1, steps=40))
    loaded = odeopt.Trajectory.load(traj.save(tmp_path / "bowl.npz"))
    np.testing.assert_array_equal(loaded.theta, traj.theta)
    assert loaded.problem is None
    with pytest.raises(odeopt.InputError) as error:
        plotting.plot_run(loaded)
    assert "'problem-bowl' is not registered" in str(error.value)
    assert "\n" not in str(error.value)
    drawn = plotting.save(
        plotting.plot_run(loaded, traj.problem.surface), tmp_path / "again.png"
    )
    assert drawn.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_a_saved_run_gives_its_problem_back(tmp_path, suffix):
    problem = odeopt.problem(
        "adam", "quadratic", x0=[1.0, 2.0, -1.0], steps=120, noise="diag:0.1,0.2,0.3",
        seed=5, path=2, surface_params={"kappa": 4.0},
    )  # fmt: skip
    traj = odeopt.run(problem)
    loaded = odeopt.Trajectory.load(traj.save(tmp_path / f"run{suffix}"))
    assert loaded.problem == problem
    assert loaded.problem.optimizer.lr_is_default  # the default rule survives
    assert_same_run(odeopt.run(loaded.problem), traj)


def test_a_bad_problem_is_refused_in_one_line():
    with pytest.raises(odeopt.UnknownNameError) as error:
        odeopt.problem("adamm", "booth")
    message = str(error.value)
    assert "did you mean 'adam'?" in message and "valid: gd" in message
    assert "\n" not in message
    with pytest.raises(odeopt.RunError, match=r"^x0 has 3 numbers but surface booth "
                       r"has dimension 2$"):  # fmt: skip
        odeopt.problem("gd", "booth", x0=[1.0, 2.0, 3.0])
    with pytest.raises(odeopt.HyperparameterError, match="no hyperparameter 'beta'"):
        odeopt.problem("adam", "booth", beta=0.9)
    with pytest.raises(odeopt.RunError, match="steps must be >= 0"):
        odeopt.problem("gd", "booth", lr=0.1, steps=-1)


def test_a_problem_holds_its_settings():
    problem = odeopt.problem("gd", "booth", lr=0.1, steps=20)
    with pytest.raises(odeopt.RunError, match=r"problem.replace\(steps=...\)"):
        odeopt.run(problem, steps=30)
    with pytest.raises(odeopt.RunError, match=r"problem.replace\(lr=...\)"):
        odeopt.run(problem, lr=0.2)
    with pytest.raises(odeopt.RunError, match="holds its surface"):
        odeopt.run(problem, "booth")


def test_replace_checks_again_and_derives_what_follows():
    problem = odeopt.problem("gd", BOWL, steps=30)
    assert problem.optimizer.lr_is_default
    assert problem.optimizer.hp["lr"] == 1.0 / 4.0  # 1/L, L = max(a, b) = 4
    stiffer = problem.replace(surface_params={"b": 10.0})
    assert stiffer.optimizer.hp["lr"] == 1.0 / 10.0  # the default rule again
    assert stiffer.surface.params == {"a": 1.0, "b": 10.0}
    np.testing.assert_array_equal(stiffer.x0, problem.x0)
    set_lr = problem.replace(lr=0.05)
    assert set_lr.optimizer.hp["lr"] == 0.05 and not set_lr.optimizer.lr_is_default
    assert set_lr.replace(surface_params={"b": 10.0}).optimizer.hp["lr"] == 0.05
    moved = problem.replace(surface="booth")  # the classic start follows the surface
    np.testing.assert_array_equal(moved.x0, [-5.0, -5.0])
    kept = problem.replace(x0=[0.5, 0.5]).replace(surface="booth")
    np.testing.assert_array_equal(kept.x0, [0.5, 0.5])
    momentum = set_lr.replace(optimizer="momentum", momentum=0.9)
    assert momentum.optimizer.hp["lr"] == 0.05
    assert momentum.optimizer.hp["momentum"] == 0.9
    wider = odeopt.problem("gd", "quadratic", lr=0.1).replace(x0=[1.0, 2.0, 3.0])
    assert wider.dim == 3
    with pytest.raises(odeopt.RunError, match="x0 has 3 numbers"):
        problem.replace(x0=[1.0, 2.0, 3.0])
    with pytest.raises(odeopt.RunError, match="steps must be >= 0"):
        dataclasses.replace(problem, steps=-1)
    with pytest.raises(odeopt.HyperparameterError, match="momentum must be"):
        momentum.replace(momentum=-0.5)
    with pytest.raises(odeopt.RunError, match="init"):
        problem.replace(init="warm")
    noisy = problem.replace(noise="iso:0.5", batch_size=8, seed=3)
    assert noisy.noise.batch_size == 8
    assert noisy.replace(noise="iso:0.1").noise.batch_size == 8
    assert noisy.replace(noise=None).noise is None


def test_repr_and_meta_describe_the_problem():
    problem = odeopt.problem(
        "nesterov", "rosenbrock", momentum=0.9, steps=300, noise="iso:0.1", seed=2
    )
    text = repr(problem)
    assert text.startswith("Problem(nesterov on rosenbrock (dim 2; a=1, b=100): lr=")
    assert "(lr by default rule)" in text and "seed=2" in text and "steps=300" in text
    meta = problem.meta()
    assert meta["optimizer"] == "nesterov" and meta["surface"] == "rosenbrock"
    assert meta["x0"] == [-1.2, 1.0] and meta["seed"] == 2 and meta["path"] == 0
    assert meta["lr_default_rule"] == problem.optimizer.optimizer.default_lr_rule
    assert meta["noise"]["model"] == "iso"


@pytest.mark.parametrize("steps", [1.5, True, "10", 2**63])
def test_steps_must_be_a_representable_whole_number(steps):
    with pytest.raises(odeopt.RunError, match="steps must be"):
        odeopt.problem("gd", "booth", steps=steps)
    with pytest.raises(odeopt.RunError, match="steps must be"):
        odeopt.run_batch("gd", "booth", [[0.0, 0.0]], [{"lr": 0.1}], steps=steps)


def test_whole_float_steps_are_accepted():
    assert odeopt.problem("gd", "booth", steps=10.0).steps == 10


def test_public_namespaces_hold_the_public_api_only():
    import odeopt.plotting

    for module in (odeopt, odeopt.plotting):
        names = dir(module)
        assert not {"Any", "TYPE_CHECKING", "np", "os", "annotations"} & set(names)
    assert {"run", "run_batch", "problem", "plotting"} <= set(dir(odeopt))
    assert {"plot_run", "contour", "animate"} <= set(dir(odeopt.plotting))


def test_betas_is_accepted_as_torch_spells_it():
    adam = odeopt.get_optimizer("adam")
    spelled = adam.bind(None, lr=0.1, betas=(0.8, 0.95)).hp
    assert (spelled["beta1"], spelled["beta2"]) == (0.8, 0.95)
    with pytest.raises(odeopt.HyperparameterError, match="not both"):
        adam.bind(None, lr=0.1, betas=(0.8, 0.95), beta1=0.7)
    with pytest.raises(odeopt.HyperparameterError, match="pair"):
        adam.bind(None, lr=0.1, betas=0.9)
