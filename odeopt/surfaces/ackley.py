r"""Ackley's function: a cone at the origin under a lattice of cosine ripples.

.. math::

    L(x, y) = -a \exp\!\left(-b\sqrt{\tfrac12 (x^2 + y^2)}\right)
              - \exp\!\left(\tfrac12 (\cos cx + \cos cy)\right) + a + e

With the classic ``a = 20, b = 0.2, c = 2π`` the unique global minimum is the origin
with value 0, surrounded by a local minimum near every integer point.  Domain
``[-5, 5]^2`` (``[-32.768, 32.768]^2`` is also common); odeopt starts at
``(-3.3, 2.7)``, away from the lattice points, so that descent visibly stalls in a
ripple.

**The origin is a corner.**  With ``s = \sqrt{(x^2 + y^2)/2}``, the first term is
``-a + ab\,s + O(s^2)``: a cone, not differentiable at 0, whose Hessian grows like
``1/s`` nearby.  odeopt defines, at the origin exactly,

* the gradient as 0: the minimal-norm element of the subdifferential (0 is the
  minimum, so 0 is a subgradient), which makes the origin a fixed point;
* the Hessian as ``(c^2 e/2) I``, the Hessian of the smooth cosine term alone (the
  cone has no finite second derivative there).

Because of the ``1/s`` blow-up the curvature used for default learning rates is
declared as ``c^2 e/2 ≈ 53.7``: the curvature of the ripples at every lattice point
(and the Hessian at the origin as defined above).

References: D. H. Ackley, *A connectionist machine for genetic hillclimbing*,
Kluwer (1987); Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/ackley.html).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    a = p[0]
    b = p[1]
    c = p[2]
    s = math.sqrt(0.5 * (x[0] * x[0] + x[1] * x[1]))
    e = math.exp(0.5 * (math.cos(c * x[0]) + math.cos(c * x[1])))
    return -a * math.exp(-b * s) - e + a + math.e


@kernel
def grad(x, p, out):
    a = p[0]
    b = p[1]
    c = p[2]
    s = math.sqrt(0.5 * (x[0] * x[0] + x[1] * x[1]))
    if s == 0.0:
        out[0] = 0.0
        out[1] = 0.0
        return
    u = a * b * math.exp(-b * s) / (2.0 * s)
    e = math.exp(0.5 * (math.cos(c * x[0]) + math.cos(c * x[1])))
    out[0] = u * x[0] + 0.5 * c * e * math.sin(c * x[0])
    out[1] = u * x[1] + 0.5 * c * e * math.sin(c * x[1])


@kernel
def hess(x, p, out):
    a = p[0]
    b = p[1]
    c = p[2]
    s = math.sqrt(0.5 * (x[0] * x[0] + x[1] * x[1]))
    e = math.exp(0.5 * (math.cos(c * x[0]) + math.cos(c * x[1])))
    sx = math.sin(c * x[0])
    sy = math.sin(c * x[1])
    # Cosine term: d/dx of (c e sin(cx) / 2).
    hxx = 0.5 * c * c * e * (math.cos(c * x[0]) - 0.5 * sx * sx)
    hyy = 0.5 * c * c * e * (math.cos(c * x[1]) - 0.5 * sy * sy)
    hxy = -0.25 * c * c * e * sx * sy
    if s > 0.0:
        # Cone term: gradient u(s) x with u = a b exp(-b s) / (2 s) and
        # u'(s) = -u (b + 1/s), ds/dx = x / (2 s).
        u = a * b * math.exp(-b * s) / (2.0 * s)
        w = u * (b + 1.0 / s) / (2.0 * s)
        hxx += u - w * x[0] * x[0]
        hyy += u - w * x[1] * x[1]
        hxy -= w * x[0] * x[1]
    out[0, 0] = hxx
    out[0, 1] = hxy
    out[1, 0] = hxy
    out[1, 1] = hyy


def _curvature(dim, params):
    c = params["c"]
    return 0.5 * c * c * math.e


SURFACE = Surface(
    name="ackley",
    description="Ackley's cone under a lattice of ripples (2-D)",
    module=__name__,
    formula="−a·exp(−b√(½(x² + y²))) − exp(½(cos cx + cos cy)) + a + e",
    params=(
        Param("a", 20.0, "depth of the central cone"),
        Param("b", 0.2, "decay rate of the cone"),
        Param("c", 2.0 * math.pi, "angular frequency of the ripples"),
    ),
    dim=2,
    bounds=([-5.0, -5.0], [5.0, 5.0]),
    x0=[-3.3, 2.7],
    minima=[Minimum(np.array([0.0, 0.0]), 0.0)],
    curvature=_curvature,
)
