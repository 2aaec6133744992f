"""odeopt: machine-learning optimizers as discretisations of ODEs.

Each optimizer is written as its continuous model plus the explicit scheme that turns
it into the familiar update; the discrete optimizer runs in numba-jitted steppers equal
to ``torch.optim`` step for step.

>>> import odeopt
>>> traj = odeopt.run("nesterov", "rosenbrock", steps=2000)
>>> traj.status.value, traj.theta.shape
('max_steps', (2001, 2))

The names below load on first use, so ``import odeopt`` (and the ``odeopt`` command's
start-up) imports neither numpy, numba nor matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "run": "stepper",
    "Problem": "_problem",
    "problem": "_problem",
    "run_batch": "stepper",
    "BatchResult": "stepper",
    "Trajectory": "trajectory",
    "Status": "trajectory",
    "get_optimizer": "registry",
    "get_surface": "registry",
    "optimizer_names": "registry",
    "surface_names": "registry",
    "Optimizer": "optimizers._base",
    "Hyperparameter": "optimizers._base",
    "Model": "optimizers._base",
    "Surface": "surfaces._base",
    "Param": "surfaces._base",
    "Minimum": "surfaces._base",
    "OdeoptError": "errors",
    "InputError": "errors",
    "HyperparameterError": "errors",
    "OutputError": "errors",
    "RunError": "errors",
    "SurfaceError": "errors",
    "UnknownNameError": "errors",
    "get_noise": "registry",
    "NoiseModel": "noise._base",
    "NoiseError": "noise._base",
    "sweep": "sweeps",
    "save_sweep": "sweeps",
    "load_sweep": "sweeps",
}

__all__ = [
    "BatchResult",
    "Hyperparameter",
    "HyperparameterError",
    "InputError",
    "Minimum",
    "Model",
    "NoiseError",
    "NoiseModel",
    "OdeoptError",
    "Optimizer",
    "OutputError",
    "Param",
    "Problem",
    "RunError",
    "Status",
    "Surface",
    "SurfaceError",
    "Trajectory",
    "UnknownNameError",
    "get_noise",
    "get_optimizer",
    "get_surface",
    "load_sweep",
    "optimizer_names",
    "problem",
    "run",
    "run_batch",
    "save_sweep",
    "surface_names",
    "sweep",
]


assert sorted(__all__) == sorted(_EXPORTS)


#: Submodules loaded on first attribute access (``odeopt.plotting.energy(...)``).
_SUBMODULES = (
    "check",
    "compare",
    "errors",
    "explorer",
    "games",
    "plotting",
    "reference",
    "scaling",
    "sde",
    "stability",
    "sweeps",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'odeopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public API only (not the names this module imports for itself).
    return sorted(set(__all__) | set(_SUBMODULES))


if TYPE_CHECKING:
    from ._problem import Problem, problem
    from .errors import (
        HyperparameterError,
        InputError,
        OdeoptError,
        OutputError,
        RunError,
        SurfaceError,
        UnknownNameError,
    )
    from .noise._base import NoiseError, NoiseModel
    from .optimizers._base import Hyperparameter, Model, Optimizer
    from .registry import (
        get_noise,
        get_optimizer,
        get_surface,
        optimizer_names,
        surface_names,
    )
    from .stepper import BatchResult, run, run_batch
    from .surfaces._base import Minimum, Param, Surface
    from .sweeps import load_sweep, save_sweep, sweep
    from .trajectory import Status, Trajectory
