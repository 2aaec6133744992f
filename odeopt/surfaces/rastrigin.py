r"""Rastrigin's function: a bowl covered in a regular egg-crate of local minima.

.. math::

    L(\theta) = A n + \sum_{i=1}^{n} \left[ \theta_i^2 - A \cos(2\pi\theta_i) \right]

With ``A = 10`` (the classic value) the unique global minimum is the origin with
value 0.  Near every integer point there is a local minimum (``10^n`` of them in the
usual domain ``[-5.12, 5.12]^n``), separated by barriers of height about ``2A``;
the Hessian is diagonal with entries ``2 + 4π²A cos(2πθᵢ)``, about 397 at the
minima.  This is the standard demonstration for noise and temperature (SGD as an
SDE): plain descent stops in the nearest crater.  No single classic start exists;
odeopt starts at ``(3.2, ..., 3.2)``, on the slope of the crater around 3.

References: L. A. Rastrigin, *Systems of extremal control*, Nauka (1974);
H. Mühlenbein, D. Schomisch, J. Born, *The parallel genetic algorithm as function
optimizer*, Parallel Computing 17 (1991); Surjanovic & Bingham, *Virtual Library of
Simulation Experiments* (sfu.ca/~ssurjano/rastr.html).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    a = p[0]
    total = a * x.shape[0]
    for i in range(x.shape[0]):
        total += x[i] * x[i] - a * math.cos(2.0 * math.pi * x[i])
    return total


@kernel
def grad(x, p, out):
    a = p[0]
    for i in range(x.shape[0]):
        out[i] = 2.0 * x[i] + 2.0 * math.pi * a * math.sin(2.0 * math.pi * x[i])


@kernel
def hess(x, p, out):
    a = p[0]
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        out[i, i] = 2.0 + 4.0 * math.pi * math.pi * a * math.cos(2.0 * math.pi * x[i])


def _minima(dim, params):
    return [Minimum(np.zeros(dim), 0.0)]


def _bounds(dim, params):
    return [-5.12] * dim, [5.12] * dim


def _x0(dim, params):
    return [3.2] * dim


def _check(dim, params):
    if params["A"] < 0.0:
        return f"A must be >= 0, got {params['A']:g}"
    return None


SURFACE = Surface(
    name="rastrigin",
    description="Rastrigin's egg-crate of local minima (n-D)",
    module=__name__,
    formula="A·n + Σ [θᵢ² − A cos(2πθᵢ)]",
    params=(Param("A", 10.0, "amplitude of the cosine ripples"),),
    dim=None,
    default_dim=2,
    min_dim=1,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
    check=_check,
)
