"""The :class:`NoiseModel` contract: what a stochastic gradient adds to the exact one.

A noise model lives in one file ``odeopt/noise/<name>.py``, which defines::

    NEEDS_HESSIAN = False          # True: perturb receives the Hessian at x

    @kernel
    def perturb(out, x, xi, q, H):
        # out: the exact gradient at x, to which the sample is added in place;
        # xi: standard normals, one per coordinate (odeopt._random, addressed by
        # seed, path, step and stage); q: the parameters packed by NOISE.pack;
        # H: the Hessian at x when NEEDS_HESSIAN (else a placeholder).

    NOISE = NoiseModel(name="...", ...)

The sample has mean zero and covariance ``Σ(x)/B`` for the minibatch size ``B``
(:meth:`BoundNoise.covariance` gives ``Σ(x)/B``, the diffusion of the continuous
model).  The registry finds the file by itself: adding a noise model touches only
that file.

A model of real minibatches (``odeopt/noise/minibatch.py``) sets
``SAMPLES_GRADIENT = True`` and defines ``draw_index(seed, path, k, j, n, q)``, the
index of sample ``j`` of step ``k``'s minibatch; the runner then replaces the gradient
by the mean of the surface's ``sample_grad`` over the ``B = q[0]`` indices (the surface
must be a finite sum: ``NoiseModel.check_surface`` says so).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .._jit import python_function
from .._random import MAX_DIM
from ..errors import InputError
from ..surfaces._base import Param


class NoiseError(InputError):
    """Bad noise input: unknown model, bad parameter, batch size or seed."""


@dataclass(frozen=True)
class NoiseModel:
    """A model of gradient noise.

    Parameters
    ----------
    name : str
        Registry and command-line name (``--noise NAME:VALUES``).
    description : str
        One line for ``odeopt list``.
    module : str
        The kernel module (``__name__`` of the noise file).
    formula : str
        The covariance Σ(θ) of one sample, in Unicode.
    params : sequence of Param
        Parameters, in the order ``--noise NAME:a,b`` gives them.
    pack : callable (dim, params, batch_size) -> ndarray
        The kernel's ``q``.
    covariance : callable (theta, params, dim, hess) -> ndarray
        Σ(θ) of one sample (before dividing by the batch size); ``hess(θ)`` is the
        surface's Hessian.
    check : callable (dim, params) -> str or None, optional
        Extra validation; returns an error message.
    needs_hessian : bool
        The samples depend on the surface's Hessian.
    samples_gradient : bool
        The model replaces the gradient by a minibatch of a finite-sum surface's
        per-sample gradients (its module's ``draw_index`` kernel gives the indices;
        ``odeopt.noise.minibatch``).
    check_surface : callable (bound surface, batch_size) -> str or None, optional
        Validation against the surface a run binds it to (a minibatch needs a
        finite-sum surface with at least B samples); returns an error message.
    """

    name: str
    description: str
    module: str
    formula: str
    params: Sequence[Param]
    pack: Callable[[int, dict[str, Any], int], np.ndarray]
    covariance: Callable[..., np.ndarray]
    check: Callable[[int, dict[str, Any]], str | None] | None = None
    needs_hessian: bool = False
    samples_gradient: bool = False
    check_surface: Callable[[Any, int], str | None] | None = None

    @property
    def kernels(self) -> ModuleType:
        """The kernel module (plain Python)."""
        return importlib.import_module(self.module)

    def bind(self, dim: int, batch_size: int = 1, **values: Any) -> BoundNoise:
        """Validate parameters and a batch size for a ``dim``-dimensional problem."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise NoiseError(
                f"noise {self.name} has no parameter {unknown[0]!r} "
                f"(valid: {', '.join(known) or 'none'})"
            )
        params = {p.name: p.default for p in self.params}
        params.update(values)
        missing = [name for name, value in params.items() if value is None]
        if missing:
            raise NoiseError(f"noise {self.name} needs {', '.join(missing)}")
        if dim > MAX_DIM:
            raise NoiseError(
                f"noise is drawn for at most {MAX_DIM} coordinates, got {dim}"
            )
        if isinstance(batch_size, bool) or int(batch_size) != batch_size:
            raise NoiseError(f"batch size must be a whole number, got {batch_size!r}")
        if int(batch_size) < 1:
            raise NoiseError(f"batch size must be >= 1, got {batch_size}")
        if self.check is not None:
            message = self.check(dim, params)
            if message:
                raise NoiseError(f"noise {self.name}: {message}")
        q = np.ascontiguousarray(
            self.pack(dim, params, int(batch_size)), dtype=np.float64
        )
        return BoundNoise(self, dim, params, int(batch_size), q)

    def parse(self, text: str, dim: int, batch_size: int = 1) -> BoundNoise:
        """Bind from the command-line form ``NAME[:v1[,v2,...]]`` (values in the
        order of ``params``; a ``floats`` parameter takes all that remain)."""
        _, _, rest = text.partition(":")
        parts = [part.strip() for part in rest.split(",")] if rest.strip() else []
        values: dict[str, Any] = {}
        for i, param in enumerate(self.params):
            if i >= len(parts):
                break
            try:
                if param.kind == "floats":
                    values[param.name] = param.parse(",".join(parts[i:]))
                    parts = parts[: i + 1]
                    break
                values[param.name] = param.parse(parts[i])
            except InputError as error:  # Param words it for a surface
                message = str(error).replace("surface parameter ", "")
                raise NoiseError(f"noise {self.name}: {message}") from None
        if len(parts) > len(self.params):
            raise NoiseError(
                f"noise {self.name} takes {len(self.params)} value(s), got {rest!r}"
            )
        return self.bind(dim, batch_size, **values)


@dataclass(frozen=True, eq=False)
class BoundNoise:
    """A noise model with its parameters and batch size fixed: what a run uses."""

    model: NoiseModel
    dim: int
    params: dict[str, Any]
    batch_size: int
    q: np.ndarray

    @property
    def name(self) -> str:
        """The model's registry name."""
        return self.model.name

    def covariance(self, theta, hess: Callable | None = None) -> np.ndarray:
        """Σ(θ)/B: the covariance of the gradient noise at ``theta``."""
        sigma = self.model.covariance(np.asarray(theta, float), self.params, self.dim,
                                      hess)  # fmt: skip
        return np.asarray(sigma, dtype=float) / self.batch_size

    def sample(self, theta, xi, hess: Callable | None = None) -> np.ndarray:
        """The noise the kernel adds at ``theta`` given normals ``xi`` (plain Python,
        for tests and plots)."""
        out = np.zeros(self.dim)
        H = hess(theta) if self.model.needs_hessian else np.zeros((1, 1))
        perturb = python_function(self.model.kernels.perturb)
        perturb(out, np.asarray(theta, float), np.asarray(xi, float), self.q, H)
        return out

    def describe(self) -> str:
        """``iso:σ=0.5, B=8`` style text."""
        parts = []
        for key, value in self.params.items():
            if isinstance(value, tuple):
                value = ",".join(f"{v:g}" for v in value)
            elif isinstance(value, float):
                value = f"{value:g}"
            parts.append(f"{key}={value}")
        parts.append(f"B={self.batch_size}")
        return f"{self.name}:" + ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The settings, for a run's metadata."""
        return {
            "model": self.name,
            "params": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in self.params.items()
            },
            "batch_size": self.batch_size,
            "covariance": self.model.formula,
        }


def positive(name: str):
    """A check that a float parameter is > 0 and finite."""

    def check(dim: int, params: dict[str, Any]) -> str | None:
        value = params[name]
        values = value if isinstance(value, tuple) else (value,)
        if not all(math.isfinite(v) and v >= 0.0 for v in values):
            return f"{name} must be finite and >= 0, got {value}"
        return None

    return check
