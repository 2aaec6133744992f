"""run_batch in SIMD lanes gives, bit for bit, the numbers of single runs.

In 2-D, run_batch steps the starts of a hyperparameter set side by side in blocks
of ``LANES`` (one compiled lane function per set of values held constant), and
trajectories that stop early are refilled with copies of live ones.  The reference
here is ``odeopt.run`` on each start alone (the scalar loop, itself checked against
NumPy re-implementations of PyTorch's algorithms in test_lockstep).
"""

import numba
import numpy as np
import pytest

import odeopt
from odeopt import _codegen
from odeopt.registry import get_optimizer, get_surface

# A block of LANES starts and a last block of 5 in lanes, for each set.
N_STARTS = _codegen.LANES + 5

# Per optimizer: hyperparameters of its fast path, and a set with its options on
# (which runs another lane function, the general one for most).
SETS = {
    "gd": [{"lr": 2e-4}, {"lr": 2e-4, "weight_decay": 0.1}],
    "momentum": [
        {"lr": 1e-4, "momentum": 0.8},
        {"lr": 1e-4, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
    ],
    "nesterov": [
        {"lr": 1e-4, "momentum": 0.9},
        {"lr": 1e-4, "momentum": 0.5, "weight_decay": 0.05},
    ],
    "rmsprop": [
        {"lr": 1e-3},
        {"lr": 1e-3, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    ],
    "adam": [{"lr": 1e-2}, {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1}],
    "adamw": [{"lr": 1e-2}, {"lr": 1e-2, "weight_decay": 0.0}],
    "adagrad": [
        {"lr": 0.1},
        {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.5},
    ],
    "nag-c": [{"lr": 1e-4}, {"lr": 1e-4, "r": 5.0, "weight_decay": 0.01}],
    "heun": [{"lr": 2e-4}, {"lr": 2e-4, "weight_decay": 0.1}],
}


def starts_in_box(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-1.5, -0.5], [1.5, 2.0], size=(n, 2))


def assert_batch_equals_single_runs(batch, optimizer, surface, sets, **kwargs):
    for h, hp in enumerate(sets):
        for s, start in enumerate(batch.starts):
            single = odeopt.run(optimizer, surface, x0=start, **hp, **kwargs)
            where = f"{optimizer} set {h} start {s}"
            assert batch.status[h, s] == single.status.value, where
            assert batch.steps_done[h, s] == single.steps_done, where
            np.testing.assert_array_equal(
                batch.final_theta[h, s], single.final_theta, err_msg=where
            )
            np.testing.assert_array_equal(
                batch.final_loss[h, s], single.final_loss, err_msg=where
            )
            if batch.theta is not None:
                # The batch records multiples of record_every up to the stop (NaN
                # after it; a step that diverged is not recorded); a single run
                # also records the step where it stopped.
                if single.status is odeopt.Status.DIVERGED:
                    n = int(np.sum(batch.step < single.steps_done))
                else:
                    n = int(np.sum(batch.step <= single.steps_done))
                np.testing.assert_array_equal(
                    batch.theta[h, s, :n], single.theta[:n], err_msg=where
                )
                np.testing.assert_array_equal(
                    batch.loss[h, s, :n], single.loss[:n], err_msg=where
                )
                assert np.all(np.isnan(batch.loss[h, s, n:])), where


# slow: compiles every optimizer's lane functions (10-25 s each from cold)
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", sorted(SETS))
def test_lanes_equal_single_runs_for_every_optimizer(optimizer):
    sets = SETS[optimizer]
    starts = starts_in_box(N_STARTS)
    kwargs = {"steps": 400, "record_every": 7}
    batch = odeopt.run_batch(optimizer, "rosenbrock", starts, sets, **kwargs)
    assert batch.final_theta.shape == (2, N_STARTS, 2)
    assert_batch_equals_single_runs(batch, optimizer, "rosenbrock", sets, **kwargs)


def test_statuses_mixed_inside_a_block():
    # GD on the saddle x² − y² at lr 0.05: y grows by 1.1 per step and x shrinks
    # by 0.9.  In 250 steps, starts on y = 0 converge (gradient below tol near step
    # 190), y in [1e-14, 1e-9] keep a gradient above tol and stay below max_norm,
    # and y in [0.1, 5] diverge (|θ| > max_norm), each at its own step.
    rng = np.random.default_rng(1)
    n = _codegen.LANES + 8
    kind = np.arange(n) % 3
    y = np.select(
        [kind == 0, kind == 1],
        [0.0, 10.0 ** -rng.uniform(9, 14, n)],
        rng.uniform(0.1, 5, n),
    )
    starts = np.column_stack([rng.uniform(-2, 2, n), y])
    sets = [{"lr": 0.05}]
    kwargs = {"steps": 250, "record_every": 9, "tol": 1e-8, "max_norm": 1e3}
    batch = odeopt.run_batch("gd", "saddle", starts, sets, **kwargs)
    assert set(batch.status[0]) == {"converged", "max_steps", "diverged"}
    assert len(set(batch.steps_done[0])) > 10
    assert_batch_equals_single_runs(batch, "gd", "saddle", sets, **kwargs)


@pytest.mark.parametrize("n_starts", [1, 3, 4, _codegen.LANES + 2, 2 * _codegen.LANES])
def test_blocks_and_one_at_a_time_trajectories_around_set_boundaries(n_starts):
    # Fewer than 4 left over run one at a time; blocks never mix two sets.
    starts = starts_in_box(n_starts, seed=2)
    sets = [{"lr": 1e-4, "momentum": m} for m in (0.9, 0.5, 0.0)]
    kwargs = {"steps": 300, "record_every": 50}
    batch = odeopt.run_batch("momentum", "rosenbrock", starts, sets, **kwargs)
    assert_batch_equals_single_runs(batch, "momentum", "rosenbrock", sets, **kwargs)


@pytest.mark.parametrize("dim", [3, 10, _codegen.MAX_LANE_DIM + 1])
def test_other_dimensions_in_lanes_up_to_max_lane_dim(dim):
    # 3-D and 10-D run in lanes of their own dimension; above MAX_LANE_DIM one
    # trajectory at a time.  Either way, the numbers of single runs.
    starts = np.random.default_rng(3).uniform(-1, 1, size=(38, dim))
    sets = [{"lr": 1e-4, "momentum": 0.9}, {"lr": 2e-4, "momentum": 0.5}]
    kwargs = {"steps": 300, "record_every": 25, "dim": dim}
    batch = odeopt.run_batch("nesterov", "rosenbrock", starts, sets, **kwargs)
    assert batch.final_theta.shape == (2, 38, dim)
    assert_batch_equals_single_runs(batch, "nesterov", "rosenbrock", sets, **kwargs)


def test_a_grid_of_hyperparameters_runs_in_lanes_each_with_its_own():
    # An lr x momentum grid with one start per cell: the cells share a block of
    # lanes (momentum 0 cells run the lane function that holds it at 0), each with
    # its own hyperparameters, and equal single runs bit for bit.
    from odeopt import stepper

    grid = [
        {"lr": lr, "momentum": m}
        for lr in np.geomspace(1e-4, 2e-3, 9)
        for m in (0.0, 0.3, 0.6, 0.9, 0.99)
    ]
    start = [[-1.2, 1.0]]
    kwargs = {"steps": 400, "record_every": 40}
    batch = odeopt.run_batch("momentum", "rosenbrock", start, grid, **kwargs)
    assert_batch_equals_single_runs(batch, "momentum", "rosenbrock", grid, **kwargs)
    # how the batch was laid out: per-lane blocks, none one at a time
    optimizer = get_optimizer("momentum")
    surface = get_surface("rosenbrock").bind()
    runner = _codegen.get_runner(optimizer.kernels, surface.surface.kernels)
    hps = np.stack([optimizer.bind(surface, **h).kernel_hp() for h in grid])
    order, path_of = stepper._lane_order(runner, hps)
    tasks = stepper._batch_tasks(runner, hps[order], path_of, True, 1)
    names = {function.__name__ for function, _, _ in tasks}
    assert "advance_range" not in names
    assert all(name.endswith("_each") for name in names)


def test_lanes_do_not_depend_on_thread_count_or_task_size(monkeypatch):
    from odeopt import stepper

    starts = starts_in_box(200, seed=4)
    sets = [{"lr": 1e-3}, {"lr": 3e-3, "momentum": 0.95}]
    results = []
    for threads, tasks_per_thread in (
        (1, 1),
        (numba.config.NUMBA_NUM_THREADS, 4),
        (2, 50),
    ):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        numba.set_num_threads(threads)
        monkeypatch.setattr(stepper, "_TASKS_PER_THREAD", tasks_per_thread)
        results.append(
            odeopt.run_batch("nesterov", "himmelblau", starts, sets, steps=2000)
        )
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    first = results[0]
    for other in results[1:]:
        np.testing.assert_array_equal(first.final_theta, other.final_theta)
        np.testing.assert_array_equal(first.status, other.status)
        np.testing.assert_array_equal(first.steps_done, other.steps_done)


def test_each_sgd_optimizer_gets_a_lane_function_holding_its_fixed_values():
    surface = get_surface("rosenbrock").bind()
    runner = None
    for name in ("gd", "momentum", "nesterov"):
        optimizer = get_optimizer(name)
        runner = _codegen.get_runner(optimizer.kernels, surface.surface.kernels)
        hp = optimizer.bind(surface, lr=1e-3).kernel_hp()
        function = runner.lanes_for(hp)
        held = dict(runner.LANE_PATHS[runner.LANE_FUNCTIONS.index(function)])
        layout = optimizer.kernels.HYPERPARAMETERS
        for key, value in optimizer.fixed.items():
            assert held[layout.index(key)] == value, (name, key)
        if name != "gd":
            assert held[layout.index("momentum")] is None  # held non-zero
    # A value the function does not hold is refused, not silently replaced.
    hp = get_optimizer("nesterov").bind(surface, lr=1e-3).kernel_hp()
    wrong = hp.copy()
    wrong[get_optimizer("nesterov").kernels.HYPERPARAMETERS.index("momentum")] = 0.0
    out = [np.zeros((1, 1), np.int64), np.zeros((1, 1, 2)), np.zeros((1, 1))]
    out += [np.zeros(1, np.int64)] * 3 + [np.zeros(1)]
    for per_lane in (False, True):
        with pytest.raises(ValueError, match="do not hold"):
            runner.lanes_for(hp, per_lane)(
                np.zeros((1, 2)), np.zeros((1, 1, 2)), np.zeros((1, 1)), wrong[None],
                surface.p, np.zeros(1), 0, np.zeros(1, np.int64), 0, 1, 10, 0, 0.0,
                1e100, *out,
            )  # fmt: skip
