"""Optimizers, one family per file (see :mod:`odeopt.optimizers._base`)."""

from ._base import (
    BoundOptimizer,
    Hyperparameter,
    HyperparameterError,
    Model,
    Optimizer,
)

# Display order of `odeopt list optimizers`; names not listed follow alphabetically.
ORDER = (
    "gd",
    "momentum",
    "nesterov",
    "rmsprop",
    "adam",
    "adamw",
    "adagrad",
    "nag-c",
    "heun",
    "gda",
    "alternating-gda",
    "extragradient",
    "ogda",
    "negative-momentum",
)

__all__ = [
    "BoundOptimizer",
    "Hyperparameter",
    "HyperparameterError",
    "Model",
    "Optimizer",
]
