"""Registries of surfaces and optimizers, discovered from their files.

Every module ``odeopt/surfaces/<name>.py`` exporting ``SURFACE``, every module
``odeopt/optimizers/<family>.py`` exporting ``OPTIMIZERS`` and every module
``odeopt/noise/<name>.py`` exporting ``NOISE`` is picked up here, so adding one
touches that one file.  Importing this module imports numpy but never numba.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from .errors import UnknownNameError

#: A surface name starting so is a loss formula (odeopt/expressions.py).
EXPRESSION_PREFIX = "expr:"

if TYPE_CHECKING:
    from .noise._base import NoiseModel
    from .optimizers._base import Optimizer
    from .surfaces._base import Surface


def _modules(package: str):
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package}.{info.name}")


@cache
def surfaces() -> dict[str, Surface]:
    """All registered surfaces by name, sorted by name."""
    found = {}
    for module in _modules("odeopt.surfaces"):
        surface = getattr(module, "SURFACE", None)
        if surface is not None:
            found[surface.name] = surface
    return dict(sorted(found.items()))


@cache
def optimizers() -> dict[str, Optimizer]:
    """All registered optimizers by name, in the families' declared order."""
    found = {}
    for module in _modules("odeopt.optimizers"):
        for optimizer in getattr(module, "OPTIMIZERS", ()):
            found[optimizer.name] = optimizer
    order = getattr(importlib.import_module("odeopt.optimizers"), "ORDER", ())
    rank = {name: i for i, name in enumerate(order)}
    return dict(
        sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    )


@cache
def noise_models() -> dict[str, NoiseModel]:
    """All registered noise models by name, sorted by name."""
    found = {}
    for module in _modules("odeopt.noise"):
        noise = getattr(module, "NOISE", None)
        if noise is not None:
            found[noise.name] = noise
    return dict(sorted(found.items()))


def unknown_name(kind: str, name: str, names) -> str:
    """``unknown surface 'rosenbrok'; did you mean 'rosenbrock'? (valid: ...)``.

    The suggestion is the closest name by :func:`difflib.get_close_matches`
    (Ratcliff–Obershelp similarity at least 0.6), when there is one.
    """
    import difflib

    names = list(names)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (valid: {', '.join(names)})"


def _get(kind: str, table: dict, name: str):
    try:
        return table[name]
    except (KeyError, TypeError):
        raise UnknownNameError(unknown_name(kind, str(name), table)) from None


def get_surface(name: str) -> Surface:
    """The surface registered as ``name``, or a formula ``"expr:..."``.

    ``"expr:FORMULA"`` or ``"expr:FORMULA; a=1, b=2"`` (parameters with their
    values) is parsed safely by :mod:`odeopt.expressions`.
    """
    if name.startswith(EXPRESSION_PREFIX):
        from .expressions import surface_from_spec

        return surface_from_spec(name)
    return _get("surface", surfaces(), name)


def get_optimizer(name: str) -> Optimizer:
    """The optimizer registered as ``name``."""
    return _get("optimizer", optimizers(), name)


def get_noise(name: str) -> NoiseModel:
    """The noise model registered as ``name``."""
    return _get("noise", noise_models(), name)


def optimizer_names() -> list[str]:
    """Registered optimizer names, in display order."""
    return list(optimizers())


def surface_names() -> list[str]:
    """Registered surface names, sorted."""
    return list(surfaces())
