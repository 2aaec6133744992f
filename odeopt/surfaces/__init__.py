"""Analytic loss surfaces, one per file (see :mod:`odeopt.surfaces._base`)."""

from ._base import BoundSurface, Minimum, Param, Surface, SurfaceError

__all__ = ["BoundSurface", "Minimum", "Param", "Surface", "SurfaceError"]
