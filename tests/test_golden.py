"""Engine changes keep every optimizer's numbers, bit for bit.

``golden.json`` holds SHA-256 digests of trajectories computed by the engine as it
was before the stepping contract was redesigned (commit 65a7418): the lockstep cases
of ``test_lockstep.py`` (every option of every optimizer, several surfaces and
dimensions), a sample of default runs (one of them diverging), and batches in lanes
and one at a time.  A digest that changes means some step now rounds differently.

Regenerate only for a change that is *meant* to alter numbers, and say why in the
commit: ``python tests/test_golden.py --write``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import odeopt
from odeopt import registry

# Each case compiles its runner from a cold cache: minutes in all.
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden.json"

DEFAULT_SURFACES = ("rosenbrock", "himmelblau", "saddle", "beale")
BATCH_STARTS = 37  # a block of 32 lanes and a block of 5


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _lockstep_cases():
    spec = importlib.util.spec_from_file_location(
        "_lockstep", HERE / "test_lockstep.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(p.id, p.values) for p in module.CASES]


def _starts(n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    return rng.uniform(-1.5, 1.5, size=(n, dim))


def cases() -> dict:
    """Every golden case: name -> a function giving its digest and a summary."""
    found = {}
    for case_id, (optimizer, surface, x0, steps, sp, hp) in _lockstep_cases():

        def lockstep(optimizer=optimizer, surface=surface, x0=x0, steps=steps, sp=sp,
                     hp=hp):  # fmt: skip
            traj = odeopt.run(optimizer, surface, x0=x0, steps=steps, record_every=1,
                              dim=len(x0), surface_params=sp or None, **hp)  # fmt: skip
            return _digest(traj.theta, traj.loss), traj.theta[-1].tolist()

        found[f"lockstep/{case_id}"] = lockstep
    for optimizer in _golden_optimizers():
        for surface in DEFAULT_SURFACES:

            def default(optimizer=optimizer, surface=surface):
                traj = odeopt.run(optimizer, surface, steps=500, record_every=1)
                return (
                    _digest(traj.theta, traj.loss, np.array([traj.steps_done])),
                    [traj.status.value, *traj.theta[-1].tolist()],
                )

            found[f"default/{optimizer}/{surface}"] = default

        def batch(optimizer=optimizer):
            hp = {"lr": 1e-3}
            if optimizer in ("momentum", "nesterov"):
                hp["momentum"] = 0.9
            sets = [hp, {**hp, "lr": 2e-3}]
            # The 2-D Rosenbrock batch only: its lane functions are the ones
            # test_batch_lanes compiles too (the suite's cache shares them); the 3-D
            # quadratic batch recorded after the "+" cost two more cold compiles per
            # optimizer, and its bits follow from lanes == single runs
            # (test_batch_lanes) and the single runs' digests here.
            result = odeopt.run_batch(optimizer, "rosenbrock", _starts(BATCH_STARTS, 2),
                                      sets, steps=300, dim=2)  # fmt: skip
            digest = _digest(result.final_theta, result.final_loss, result.steps_done)
            return digest, None

        found[f"batch/{optimizer}"] = batch
    return found


def _golden_optimizers() -> list[str]:
    """The optimizers whose bits golden.json fixes: those it has default runs of
    (an optimizer added later is checked by its own lockstep tests)."""
    if not GOLDEN.exists():
        return registry.optimizer_names()
    recorded = {name.split("/")[1] for name in _load() if name.startswith("default/")}
    return [name for name in registry.optimizer_names() if name in recorded]


def _load() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(_load()) if GOLDEN.exists() else [])
def test_same_bits_as_before(name):
    expected = _load()[name]
    digest, summary = cases()[name]()
    # A batch case's record is "<2-D digest>+<3-D digest>"; the 2-D one is checked.
    assert digest == expected["digest"].split("+")[0], (
        f"{name}: the numbers changed (was {expected['summary']}, now {summary})"
    )


def test_every_case_has_golden_data():
    assert sorted(cases()) == sorted(_load())


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write")
    data = {}
    for name, function in cases().items():
        digest, summary = function()
        data[name] = {"digest": digest, "summary": summary}
        print(name, digest[:12])
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
