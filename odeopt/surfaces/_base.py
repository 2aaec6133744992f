"""The :class:`Surface` contract: one analytic loss function per file.

A surface file ``odeopt/surfaces/<name>.py`` defines three kernels and one object::

    @kernel
    def value(x, p):          # -> float, the loss at x (shape (dim,))
    @kernel
    def grad(x, p, out):      # writes the gradient into out (shape (dim,))
    @kernel
    def hess(x, p, out):      # writes the Hessian into out (shape (dim, dim))

    SURFACE = Surface(name="...", ...)

``p`` is the float64 parameter array made by :meth:`Surface.pack` (by default the
scalar parameters in declaration order).  Kernels are plain Python marked with
:func:`odeopt._jit.kernel`; they call only kernels of their own file, loop over
``x.shape[0]`` for n-dimensional surfaces, and allocate nothing.  The registry finds
the file by itself: adding a surface touches only that file.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .._jit import jit_module, python_function
from ..errors import SurfaceError


@dataclass(frozen=True)
class Param:
    """A surface parameter.

    ``kind`` is ``"float"``, ``"int"`` or ``"floats"`` (a comma-separated list on
    the command line).  A ``default`` of ``None`` means "not set".
    """

    name: str
    default: Any
    doc: str
    kind: str = "float"

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's kind."""
        try:
            if self.kind == "int":
                value = float(text)
                if not value.is_integer():
                    raise ValueError
                return int(value)
            if self.kind == "floats":
                return tuple(float(part) for part in text.split(",") if part.strip())
            return float(text)
        except ValueError:
            raise SurfaceError(
                f"surface parameter {self.name} must be "
                + {
                    "int": "an integer",
                    "floats": "a comma-separated list of numbers",
                    "float": "a number",
                }[self.kind]
                + f", got {text!r}"
            ) from None


@dataclass(frozen=True)
class Minimum:
    """A known minimum: its point and loss value."""

    theta: np.ndarray
    value: float
    kind: str = "global"  # "global" or "local"


Resolvable = Any  # a value, or a callable (dim, params) -> value


def _resolve(item: Resolvable, dim: int, params: dict[str, Any]) -> Any:
    return item(dim, params) if callable(item) else item


@dataclass(frozen=True)
class Surface:
    """An analytic loss surface: its kernels plus everything a run needs to know.

    Parameters
    ----------
    name : str
        Registry and command-line name, lowercase with hyphens.
    description : str
        One line for ``odeopt list``.
    module : str
        Dotted name of the kernel module (``__name__`` of the surface file).
    formula : str
        The loss in Unicode math, shown by ``odeopt list``.
    dim : int or None
        Fixed dimension, or ``None`` for any ``n >= min_dim`` (default ``default_dim``).
    params : sequence of Param
        Parameters, packed into the kernels' ``p`` array by ``pack``.
    bounds : (lo, hi) or callable (dim, params) -> (lo, hi)
        Plot box, each a sequence of ``dim`` floats.
    x0 : sequence or callable (dim, params) -> sequence
        The classic start point.
    minima : sequence of Minimum or callable (dim, params) -> list of Minimum
        Known minima (empty for surfaces unbounded below).
    pack : callable (dim, params) -> ndarray, optional
        Builds ``p``; default: the parameters in declaration order.
    check : callable (dim, params) -> str or None, optional
        Extra validation; returns an error message.
    infer_dim : callable (params) -> int or None, optional
        The dimension implied by the parameters (used when no ``dim`` is given).
    curvature : float or callable (dim, params) -> float, optional
        Scale of the Hessian used to pick default learning rates; by default the
        largest |eigenvalue| of the Hessian where the loss is below its start value
        (see :meth:`BoundSurface.curvature`).
    symmetric : bool
        ``grad`` is a loss's gradient and ``hess`` its symmetric Hessian.  False for
        a vector field that is not a gradient (a game, a stop-gradient toy): ``hess``
        is then its Jacobian, whose eigenvalues may be complex, and the curvature
        is its spectral radius.
    """

    name: str
    description: str
    module: str
    formula: str
    params: Sequence[Param] = ()
    dim: int | None = 2
    default_dim: int = 2
    min_dim: int = 1
    bounds: Resolvable = None
    x0: Resolvable = None
    minima: Resolvable = ()
    pack: Callable[[int, dict[str, Any]], np.ndarray] | None = None
    check: Callable[[int, dict[str, Any]], str | None] | None = None
    infer_dim: Callable[[dict[str, Any]], int | None] | None = None
    curvature: Resolvable = None
    bounded_below: bool = True
    references: str = ""
    symmetric: bool = True

    @staticmethod
    def from_expression(
        text: str,
        *,
        params: dict[str, float] | None = None,
        bounds: Any = None,
        x0: Any = None,
        minima: Any = None,
        name: str | None = None,
        dim: int | None = None,
    ) -> Surface:
        """A surface from a formula such as ``"(x**2 + y - 11)**2 + 0.1*y**4"``.

        The text is parsed safely (never evaluated) and compiled like a surface
        file; see :func:`odeopt.expressions.from_expression` for the arguments and
        :mod:`odeopt.expressions` for what a formula may contain.
        """
        from ..expressions import from_expression

        return from_expression(
            text, params=params, bounds=bounds, x0=x0, minima=minima, name=name, dim=dim
        )

    # -- kernels -------------------------------------------------------------------
    @property
    def kernels(self) -> ModuleType:
        """The kernel module (plain Python until :meth:`jitted` is called)."""
        return importlib.import_module(self.module)

    def jitted(self) -> ModuleType:
        """The kernel module with its kernels compiled on demand by numba."""
        return jit_module(self.kernels)

    @property
    def doc(self) -> str:
        """The surface file's docstring (the math and its references)."""
        return (self.kernels.__doc__ or "").strip()

    # -- binding -------------------------------------------------------------------
    def param_names(self) -> list[str]:
        """Names of the parameters, in declaration order."""
        return [param.name for param in self.params]

    def bind(self, dim: int | None = None, **values: Any) -> BoundSurface:
        """Validate a dimension and parameter values and return a ready problem.

        Raises
        ------
        SurfaceError
            On an unknown parameter, a bad value or an unsupported dimension.
        """
        known = {param.name: param for param in self.params}
        for key in values:
            if key not in known:
                valid = ", ".join(known) or "none"
                raise SurfaceError(
                    f"surface {self.name} has no parameter {key!r} (valid: {valid})"
                )
        params = {param.name: param.default for param in self.params}
        params.update(values)
        if dim is None and self.infer_dim is not None:
            dim = self.infer_dim(params)
        if dim is None:
            dim = self.dim if self.dim is not None else self.default_dim
        dim = int(dim)
        if self.dim is not None and dim != self.dim:
            raise SurfaceError(
                f"surface {self.name} is {self.dim}-dimensional; --dim {dim} is not "
                f"possible (leave --dim out)"
            )
        if dim < self.min_dim:
            raise SurfaceError(
                f"surface {self.name} needs --dim >= {self.min_dim}, got {dim}"
            )
        for key, value in params.items():
            if known[key].kind == "float" and value is not None:
                if not math.isfinite(float(value)):
                    raise SurfaceError(f"surface parameter {key} must be finite")
                params[key] = float(value)
        if self.check is not None:
            message = self.check(dim, params)
            if message:
                raise SurfaceError(f"surface {self.name}: {message}")
        if self.pack is not None:
            p = np.asarray(self.pack(dim, params), dtype=np.float64)
        else:
            p = np.array([float(params[name]) for name in known], dtype=np.float64)
        return BoundSurface(
            surface=self, dim=dim, params=params, p=np.ascontiguousarray(p)
        )

    def as_dict(self) -> dict[str, Any]:
        """The surface as a JSON-ready record (as ``odeopt list --json`` prints it).

        Its formula and parameters, and the start, bounds and known minima at the
        default dimension and parameters.
        """
        bound = self.bind()
        return {
            "name": self.name,
            "description": self.description,
            "formula": self.formula,
            "dim": self.dim if self.dim is not None else "n",
            "default_dim": bound.dim,
            "parameters": [
                {"name": p.name, "default": p.default, "kind": p.kind, "doc": p.doc}
                for p in self.params
            ],
            "x0": bound.x0.tolist(),
            "bounds": [b.tolist() for b in bound.bounds],
            "minima": [
                {"theta": m.theta.tolist(), "value": m.value, "kind": m.kind}
                for m in bound.minima
            ],
            "bounded_below": self.bounded_below,
        }


@dataclass(frozen=True, eq=False)
class BoundSurface:
    """A surface with its dimension and parameters fixed: what a run uses."""

    surface: Surface
    dim: int
    params: dict[str, Any]
    p: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The surface's registry name."""
        return self.surface.name

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The plot box ``(lo, hi)``."""
        lo, hi = _resolve(self.surface.bounds, self.dim, self.params)
        return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)

    @property
    def x0(self) -> np.ndarray:
        """The classic start point."""
        return np.asarray(_resolve(self.surface.x0, self.dim, self.params), dtype=float)

    @property
    def minima(self) -> list[Minimum]:
        """Known minima (global ones first)."""
        if "minima" not in self._cache:
            found = list(_resolve(self.surface.minima, self.dim, self.params))
            found.sort(key=lambda m: (m.kind != "global", m.value))
            self._cache["minima"] = found
        return self._cache["minima"]

    def _kernel(self, name: str):
        # Plain Python: single evaluations never wait for a numba compile.
        return python_function(getattr(self.surface.kernels, name))

    # Overflow is information here (a diverged run), not a warning to print.
    def value(self, x) -> float:
        """Loss at ``x``."""
        with np.errstate(all="ignore"):
            return float(self._kernel("value")(np.asarray(x, dtype=np.float64), self.p))

    def grad(self, x) -> np.ndarray:
        """Gradient at ``x``."""
        out = np.empty(self.dim)
        with np.errstate(all="ignore"):
            self._kernel("grad")(np.asarray(x, dtype=np.float64), self.p, out)
        return out

    def hess(self, x) -> np.ndarray:
        """Hessian at ``x``."""
        out = np.empty((self.dim, self.dim))
        with np.errstate(all="ignore"):
            self._kernel("hess")(np.asarray(x, dtype=np.float64), self.p, out)
        return out

    def python_kernels(self):
        """The plain-Python ``(value, grad, hess)`` (no compilation)."""
        module = self.surface.kernels
        return tuple(
            python_function(getattr(module, n)) for n in ("value", "grad", "hess")
        )

    def nearest_minimum(self, x) -> Minimum | None:
        """The known minimum closest to ``x`` (Euclidean), or None."""
        x = np.asarray(x, dtype=float)
        if not self.minima or not np.all(np.isfinite(x)):
            return None
        with np.errstate(all="ignore"):
            return min(self.minima, key=lambda m: float(np.linalg.norm(x - m.theta)))

    def curvature(self) -> float:
        """Hessian scale used for default learning rates.

        Unless the surface declares one, the largest |eigenvalue| of the Hessian (of
        the Jacobian, for a field that is not a gradient: its spectral radius) over
        the part of the plot box where the loss is at most its value at the start
        (the region a descent method explores), sampled on a grid (random points
        above 2-D) plus the start and the known minima.
        """
        if "curvature" not in self._cache:
            declared = _resolve(self.surface.curvature, self.dim, self.params)
            if declared is not None:
                self._cache["curvature"] = float(declared)
            else:
                self._cache["curvature"] = self._sublevel_curvature()
        return self._cache["curvature"]

    def _sublevel_curvature(self, samples: int = 4096) -> float:
        lo, hi = self.bounds
        if self.dim <= 2:
            per_axis = round(samples ** (1.0 / self.dim))
            axes = [np.linspace(a, b, per_axis) for a, b in zip(lo, hi, strict=True)]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
            points = grid.reshape(-1, self.dim)
        else:
            rng = np.random.default_rng(0)
            points = rng.uniform(lo, hi, size=(samples, self.dim))
        extra = [self.x0] + [m.theta for m in self.minima]
        points = np.vstack([points, *extra])
        level = self.value(self.x0)
        value, _, hess = self.python_kernels()
        hessians = []
        out = np.empty((self.dim, self.dim))
        with np.errstate(all="ignore"):
            for x in points:
                if value(x, self.p) <= level or any(x is e for e in extra):
                    hess(x, self.p, out)
                    hessians.append(out.copy())
        stack = np.array(hessians)
        stack = stack[np.all(np.isfinite(stack), axis=(1, 2))]
        eigenvalues = (
            np.linalg.eigvalsh if self.surface.symmetric else np.linalg.eigvals
        )
        return float(np.max(np.abs(eigenvalues(stack))))

    def describe_params(self) -> str:
        """``a=1, b=100`` style text of the parameter values."""
        parts = []
        for key, value in self.params.items():
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(f"{v:g}" for v in value)
            elif isinstance(value, float):
                value = f"{value:g}"
            parts.append(f"{key}={value}")
        return ", ".join(parts)
