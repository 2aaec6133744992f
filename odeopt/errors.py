"""The exceptions odeopt raises on purpose.

Every one is an :class:`OdeoptError`.  Bad usage or input is an :class:`InputError`,
which is also a :class:`ValueError` (so ``except ValueError`` keeps working); the
``odeopt`` command reports it as one line with exit code 2.  Any other exception,
a bare ``ValueError`` included, is a bug and surfaces with its traceback.

The classes keep their historical homes as well (``odeopt.stepper.RunError`` is
``odeopt.errors.RunError``).  This module imports nothing, so the command can load it
at start-up.
"""

from __future__ import annotations

__all__ = [
    "HyperparameterError",
    "InputError",
    "OdeoptError",
    "OutputError",
    "PlotError",
    "ReferenceError",
    "RunError",
    "SurfaceError",
    "UnknownNameError",
]


class OdeoptError(Exception):
    """Base class of the exceptions odeopt raises on purpose."""


class InputError(OdeoptError, ValueError):
    """Bad usage or input: a name, value, setting or path the caller can fix."""


class UnknownNameError(InputError):
    """An optimizer or surface name that is not registered."""


class SurfaceError(InputError):
    """Bad surface input: unknown parameter, bad value or dimension."""


class HyperparameterError(InputError):
    """Bad optimizer input: unknown hyperparameter or a value out of range."""


class RunError(InputError):
    """Bad run settings (start point, steps, recording, reference integrator)."""


class OutputError(InputError):
    """A file that cannot be written or read (bad extension, bad path)."""


#: Picture and animation paths are output paths: one class serves both.
PlotError = OutputError


class ReferenceError(OdeoptError, RuntimeError):  # shadows the builtin: historical
    """The reference integrator did not reach the requested time."""
