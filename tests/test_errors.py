"""One exception hierarchy: every error odeopt raises on purpose is an OdeoptError."""

import importlib

import pytest

import odeopt
from odeopt import errors

ERRORS = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_every_error_is_an_odeopt_error(error):
    assert issubclass(error, odeopt.OdeoptError)


@pytest.mark.parametrize(
    "error",
    [e for e in ERRORS if e not in (errors.OdeoptError, errors.ReferenceError)],
    ids=lambda e: e.__name__,
)
def test_input_errors_are_value_errors(error):
    # `except ValueError` written before the hierarchy keeps catching them
    assert issubclass(error, odeopt.InputError)
    assert issubclass(error, ValueError)


def test_a_failed_solve_is_not_an_input_error():
    assert issubclass(errors.ReferenceError, RuntimeError)
    assert not issubclass(errors.ReferenceError, errors.InputError)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("odeopt.registry", "UnknownNameError"),
        ("odeopt.surfaces._base", "SurfaceError"),
        ("odeopt.optimizers._base", "HyperparameterError"),
        ("odeopt.stepper", "RunError"),
        ("odeopt.trajectory", "OutputError"),
        ("odeopt.plotting", "PlotError"),
        ("odeopt.reference", "ReferenceError"),
    ],
)
def test_old_import_paths_name_the_same_classes(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: odeopt.get_surface("no-such"), errors.UnknownNameError),
        (lambda: odeopt.get_surface("booth").bind(zz=1), errors.SurfaceError),
        (
            lambda: odeopt.get_optimizer("gd").bind("booth", lr=-1),
            errors.HyperparameterError,
        ),
        (lambda: odeopt.reference.check_method("nope", 1e-8, 1e-8), errors.RunError),
        (lambda: odeopt.Trajectory.load("missing.npz"), errors.OutputError),
        (lambda: odeopt.plotting.check_image_path("a.txt"), errors.PlotError),
    ],
    ids=["name", "surface", "hyperparameter", "integrator", "load", "picture"],
)
def test_bad_input_raises_an_input_error(call, error):
    with pytest.raises(errors.InputError) as info:
        call()
    assert isinstance(info.value, error)
