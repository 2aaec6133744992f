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

A finite sum :math:`L = \\frac1n\\sum_i \\ell_i` (``least_squares.py``,
``logistic.py``) adds two kernels, which real minibatches
(:mod:`odeopt.noise.minibatch`) need::

    @kernel
    def n_samples(p):         # -> int, the number of samples n
    @kernel
    def sample_grad(x, p, i, out):   # adds the gradient of sample i to out
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
    domain : {"positive", "simplex"}, optional
        Where the problem is posed (non-negative least squares: θ ≥ 0; a
        distribution: the probability simplex).  Mirror-descent optimizers (``eg``,
        ``hedge``) run inside it; ``odeopt list`` shows it.
    players : sequence of str
        A game's players by name, in the order of their blocks of θ (empty for one
        loss).  The field must then be ``F = (∇_x f, −∇_y f)``: downhill for every
        player (see :class:`odeopt._roles.Play`), and ``hess`` its Jacobian.
    blocks : tuple of int or callable (dim, params) -> tuple of int, optional
        The players' block sizes (default: equal blocks of ``dim / len(players)``).
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
    domain: str | None = None
    players: Sequence[str] = ()
    blocks: Resolvable = None

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
        check_memory(dim)
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
            **({"domain": self.domain} if self.domain else {}),
            **(
                {
                    "players": [
                        {"name": n, "block": b}
                        for n, b in zip(self.players, bound.blocks, strict=True)
                    ],
                    "field": self.field_text(),
                }
                if self.players
                else {}
            ),
        }

    def field_text(self) -> str:
        """A game's field as its docstring states it (the first ``F = ...`` line)."""
        for line in self.doc.splitlines():
            if line.strip().startswith("F = "):
                return line.strip()
        return self.formula

    @property
    def is_game(self) -> bool:
        """Players own blocks of θ: the field is a game's, not one loss's gradient."""
        return bool(self.players)


#: Above this dimension the curvature for default learning rates comes from Lanczos
#: iterations on Hessian-vector products (O(dim) memory) instead of dense Hessians
#: (O(dim²): 0.5 MiB at 256, 80 GB at 10⁵).
DENSE_CURVATURE_MAX_DIM = 256

#: Relative accuracy of the Lanczos curvature (ample for a learning rate).
LANCZOS_TOL = 1e-4

#: Vectors of ``dim`` doubles that a run holds at once, about: ARPACK's Lanczos basis
#: (20 vectors) and work space (3), the finite differences (4), the optimizer's state
#: and the records (a few more).
WORKING_VECTORS = 32


def _memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where it cannot be read)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes(n: float) -> str:
    """``2.6 PB`` style size (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000


def check_memory(dim: int) -> None:
    """Refuse a dimension whose working set exceeds this machine's memory.

    Raises
    ------
    SurfaceError
        With the size the run would need and the size the machine has.
    """
    need = WORKING_VECTORS * 8 * dim
    have = _memory_bytes()
    if have is not None and need > have:
        raise SurfaceError(
            f"--dim {dim} needs about {_bytes(need)} of memory ({WORKING_VECTORS} "
            f"vectors of {dim} doubles for the run and its default learning rate); "
            f"this machine has {_bytes(have)}"
        )


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
    def blocks(self) -> tuple[int, ...]:
        """A game's players' block sizes, in order (``()`` for one loss)."""
        players = self.surface.players
        if not players:
            return ()
        given = _resolve(self.surface.blocks, self.dim, self.params)
        if given is None:
            given = (self.dim // len(players),) * len(players)
        return tuple(int(b) for b in given)

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

    def _sublevel_curvature(self, samples: int = 4096, method: str = "auto") -> float:
        """The largest |eigenvalue| over the sampled sublevel set (see :meth:`curvature`).

        ``method`` ``"dense"`` takes the eigenvalues of each point's full Hessian,
        O(dim²) memory and O(dim³) work per point; ``"lanczos"`` (the default above
        :data:`DENSE_CURVATURE_MAX_DIM` dimensions) finds the extreme eigenvalue by
        ARPACK's implicitly restarted Lanczos (Arnoldi for a non-gradient field)
        iteration on Hessian-vector products, O(dim) memory (Lehoucq, Sorensen &
        Yang 1998, *ARPACK Users' Guide*).  Above that dimension the sample is
        smaller as well, at most 2²³/dim points, so that the random points and their
        losses stay within 64 MiB.
        """
        if method == "auto":
            method = "dense" if self.dim <= DENSE_CURVATURE_MAX_DIM else "lanczos"
        if method not in ("dense", "lanczos"):
            raise SurfaceError(f"method must be 'dense' or 'lanczos', got {method!r}")
        if self.dim > DENSE_CURVATURE_MAX_DIM:
            samples = min(samples, max(32, 2**23 // self.dim))
        radius = self._dense_radius if method == "dense" else self._lanczos_radius
        found = [radius(x) for x in self._sublevel_points(samples)]
        return float(np.nanmax(found))

    def _sublevel_points(self, samples: int):
        """The grid (random points above 2-D), start and minima, within the level."""
        lo, hi = self.bounds
        extra = [self.x0] + [m.theta for m in self.minima]
        level = self.value(self.x0)
        if self.dim > DENSE_CURVATURE_MAX_DIM:  # compiled: 10⁵ numbers per point
            value = jit_module(self.surface.kernels).value
        else:
            value = self.python_kernels()[0]
        if self.dim <= 2:
            per_axis = round(samples ** (1.0 / self.dim))
            axes = [np.linspace(a, b, per_axis) for a, b in zip(lo, hi, strict=True)]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
            chunks = [grid.reshape(-1, self.dim)]
        else:  # drawn in chunks: the same points as one draw, in bounded memory
            rng = np.random.default_rng(0)
            size = max(1, min(samples, 2**20 // self.dim))
            chunks = (
                rng.uniform(lo, hi, size=(min(size, samples - start), self.dim))
                for start in range(0, samples, size)
            )
        with np.errstate(all="ignore"):
            for chunk in chunks:
                for x in chunk:
                    if value(x, self.p) <= level:
                        yield x
        yield from extra

    def _dense_radius(self, x) -> float:
        """Largest |eigenvalue| of the full Hessian at ``x`` (NaN if not finite)."""
        out = np.empty((self.dim, self.dim))
        with np.errstate(all="ignore"):
            self.python_kernels()[2](x, self.p, out)
        if not np.all(np.isfinite(out)):
            return np.nan
        eigenvalues = (
            np.linalg.eigvalsh if self.surface.symmetric else np.linalg.eigvals
        )
        return float(np.max(np.abs(eigenvalues(out))))

    def _lanczos_radius(self, x) -> float:
        """Largest |eigenvalue| of the Hessian at ``x`` from Hessian-vector products.

        The products are central differences of the compiled gradient,
        ``(g(x + εv) − g(x − εv)) / 2ε`` with ``ε‖v‖ = 6·10⁻⁶ (1 + ‖x‖)`` (about the
        cube root of the machine epsilon, which balances the O(ε²) truncation error
        against rounding), exact for quadratics up to rounding.  ARPACK stops when
        the Ritz pair's residual is below :data:`LANCZOS_TOL` times the Ritz value,
        which bounds the eigenvalue's relative error by the same (Parlett 1980, *The
        Symmetric Eigenvalue Problem*, Thm. 4.5.1); a tighter tolerance costs ~60
        times the products on Rosenbrock at 10⁵ dimensions, whose top eigenvalues
        cluster.  NaN where the gradient is not finite or ARPACK does not converge.
        """
        from scipy.sparse.linalg import ArpackError, LinearOperator, eigs, eigsh

        grad = jit_module(self.surface.kernels).grad
        x = np.ascontiguousarray(x, dtype=np.float64)
        scale = 6e-6 * (1.0 + float(np.linalg.norm(x)))
        plus, minus = np.empty(self.dim), np.empty(self.dim)

        def product(v):
            v = np.ravel(v)
            norm = float(np.linalg.norm(v))
            if norm == 0.0:
                return np.zeros(self.dim)
            h = scale / norm
            grad(x + h * v, self.p, plus)
            grad(x - h * v, self.p, minus)
            return (plus - minus) / (2.0 * h)

        with np.errstate(all="ignore"):
            if not np.all(np.isfinite(product(np.ones(self.dim)))):
                return np.nan
            operator = LinearOperator((self.dim,) * 2, matvec=product, dtype=float)
            start = np.random.default_rng(1).standard_normal(self.dim)
            solve = eigsh if self.surface.symmetric else eigs
            try:
                found = solve(
                    operator,
                    k=1,
                    which="LM",
                    v0=start,
                    tol=LANCZOS_TOL,
                    return_eigenvectors=False,
                )
            except ArpackError:
                return np.nan
        return float(np.max(np.abs(found)))

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
