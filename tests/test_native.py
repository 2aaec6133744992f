"""The C-ABI runner (cached object code, odeopt._native) gives the numba dispatcher's
numbers bit for bit: same records, same final state, same status and step.

The dispatcher (``runner.advance``) is the independent computation here: it is the
runner as numba compiles it for Python callers, and the lockstep tests tie it to NumPy
re-implementations of the published algorithms.
"""

import numpy as np
import pytest

import odeopt
from odeopt import _codegen

CASES = [
    # (optimizer, surface, run options): dims 1, 2 and n; every status; recording
    (
        "adam",
        "rosenbrock",
        {"amsgrad": True, "weight_decay": 0.01, "steps": 500, "record_every": 7},
    ),
    ("nesterov", "beale", {"steps": 800, "record_every": 3, "weight_decay": 1e-3}),
    (
        "rmsprop",
        "rastrigin",
        {"dim": 3, "centered": True, "momentum": 0.5, "steps": 400},
    ),
    ("heun", "quadratic", {"dim": 5, "surface_params": {"kappa": 50.0}, "steps": 300}),
    ("nag-c", "su-double-well", {"steps": 600, "record_every": 5}),
    ("adagrad", "booth", {"lr": 1.0, "tol": 1e-6, "steps": 100_000}),  # converged
    ("gd", "quadratic", {"lr": 0.3, "surface_params": {"eigenvalues": (1.0, 10.0)}}),
]


def run_with_dispatcher(monkeypatch, optimizer, surface, options):
    with monkeypatch.context() as patch:
        patch.setattr(
            _codegen,
            "get_advance",
            _codegen.dispatcher_advance,
        )
        return odeopt.run(optimizer, surface, **options)


@pytest.mark.parametrize(("optimizer", "surface", "options"), CASES)
def test_native_runner_equals_the_numba_dispatcher(
    monkeypatch, optimizer, surface, options
):
    native = odeopt.run(optimizer, surface, **options)
    dispatcher = run_with_dispatcher(monkeypatch, optimizer, surface, options)
    assert native.status is dispatcher.status
    assert native.steps_done == dispatcher.steps_done
    np.testing.assert_array_equal(native.step, dispatcher.step)
    np.testing.assert_array_equal(native.theta, dispatcher.theta)
    np.testing.assert_array_equal(native.loss, dispatcher.loss)


def test_the_cases_cover_every_status():
    statuses = {odeopt.run(o, s, **opts).status for o, s, opts in CASES}
    assert statuses == set(odeopt.Status)


def test_native_runner_is_used_and_checks_its_arrays():
    from odeopt.registry import get_optimizer, get_surface

    kernels = get_optimizer("gd").kernels
    advance = _codegen.get_advance(kernels, get_surface("booth").kernels)
    assert advance.source in ("compiled", "object")
    hp = np.zeros(len(kernels.HYPERPARAMETERS))
    theta = np.array([0.0, 0.0])
    rec = (np.zeros(2, dtype=np.int64), np.zeros((2, 2)), np.zeros(2))
    p, aux, q = np.zeros(0), np.zeros(1), np.zeros(1)
    tail = (0, 1, 0, 0.0, 1e100, *rec, 0)
    with pytest.raises(TypeError, match="C-contiguous float64"):
        advance(theta.astype(np.float32), np.zeros((1, 2)), aux, hp, p, q, 0, 0, *tail)
    with pytest.raises(ValueError, match="dim columns"):
        advance(theta, np.zeros((1, 3)), aux, hp, p, q, 0, 0, *tail)
    # the runner copies exactly the family's hyperparameters: a short hp is refused
    with pytest.raises(ValueError, match="HYPERPARAMETERS"):
        advance(theta, np.zeros((1, 2)), aux, hp[:-1], p, q, 0, 0, *tail)


def test_numba_disable_jit_runs_the_same_steps_as_plain_python(tmp_path):
    # The README's debugging switch: every kernel and the runner as plain Python.
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_DISABLE_JIT="1", ODEOPT_CACHE_DIR=str(tmp_path))
    code = (
        "import json, odeopt\n"
        "import odeopt.optimizers.heun as heun, odeopt.surfaces.booth as booth\n"
        "from odeopt import _codegen\n"
        "t = odeopt.run('heun', 'booth', steps=50)\n"
        "source = _codegen.get_advance(heun, booth).source\n"
        "print(json.dumps({'theta': t.final_theta.tolist(), 'source': source}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    plain = json.loads(out.stdout.strip().splitlines()[-1])
    jitted = odeopt.run("heun", "booth", steps=50)
    assert plain["source"] == "numba"
    np.testing.assert_allclose(plain["theta"], jitted.final_theta, rtol=1e-14)


def test_fast_path_copy_equals_the_general_copy():
    # Nesterov with PyTorch's fresh buffer (b1 = g1) runs the fast-path copy of the 2-D
    # loop; "buffer given" with a zero buffer runs the general copy and computes the
    # same numbers (b1 = 0*beta + 1*g1 = g1), bit for bit.
    from odeopt.registry import get_optimizer, get_surface

    surface = get_surface("rosenbrock").bind()
    optimizer = get_optimizer("nesterov")
    runner = _codegen.get_runner(optimizer.kernels, surface.surface.kernels)
    defaults = optimizer.bind(surface, lr=1e-3, momentum=0.9).kernel_hp()
    given = optimizer.kernels.HYPERPARAMETERS.index("buffer_given")
    results = []
    for buffer_given in (0.0, 1.0):
        hp = defaults.copy()
        hp[given] = buffer_given
        theta, state = np.array([-1.2, 1.0]), np.zeros((1, 2))
        rec = (np.zeros(50, dtype=np.int64), np.zeros((50, 2)), np.zeros(50))
        out = runner.advance(
            theta, state, np.zeros(1), hp, surface.p, np.zeros(1), 0, 0, np.zeros(8),
            0, 500, 10, 0.0, 1e100, *rec, 0,
        )  # fmt: skip
        results.append((out, theta, state, *rec))
    fast, general = results
    assert fast[0] == general[0] == (0, 500, 50)
    for a, b in zip(fast[1:], general[1:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_switches_must_name_hyperparameters():
    from types import SimpleNamespace

    optimizer = SimpleNamespace(hyperparameters=(), fixed={})
    family = SimpleNamespace(
        __name__="fake",
        HYPERPARAMETERS=("lr", "beta"),
        SWITCHES=("gamma",),
        OPTIMIZERS=(optimizer,),
    )
    with pytest.raises(ValueError, match="gamma"):
        _codegen._fast_paths(family)


def test_held_values_follow_each_optimizers_defaults():
    # torch.optim.SGD's defaults: gd has momentum, dampening, weight decay, nesterov
    # and maximize off; momentum has momentum on (held non-zero) and nesterov off;
    # nesterov has it on; none has weight decay, dampening or maximize on.
    from odeopt.registry import get_optimizer

    sgd = get_optimizer("gd").kernels
    names = sgd.HYPERPARAMETERS
    paths = [{names[i]: v for i, v in pairs} for pairs in _codegen._lane_paths(sgd)]
    off = {"dampening": 0.0, "weight_decay": 0.0, "maximize": 0.0, "buffer_given": 0.0}
    assert paths == [
        {**off, "momentum": 0.0, "nesterov": 0.0},
        {**off, "momentum": None, "nesterov": 0.0},
        {**off, "momentum": None, "nesterov": 1.0},
        off,
        {},
    ]
    assert _codegen._fast_path(sgd) == off
    # AdamW's default weight decay is on: only what Adam and AdamW both leave off
    adam = get_optimizer("adam").kernels
    assert _codegen._fast_path(adam) == {"amsgrad": 0.0, "maximize": 0.0}
