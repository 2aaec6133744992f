r"""The quadratic saddle: the simplest critical point that is not a minimum.

.. math::

    L(x, y) = x^2 - y^2

Unbounded below, no minima; the only critical point is the origin, with Hessian
``diag(2, -2)``.  Gradient descent with step ``η`` multiplies ``x`` by ``1 - 2η`` and
``y`` by ``1 + 2η``, so from ``y_0 = 10^{-8}`` it needs ``ln(10^8)/ln(1 + 2η)`` steps
(about 930 for ``η = 0.01``) to escape to ``|y| > 1``; gradient noise shortens this
to ``O(log(1/σ))``.  Box ``[-2, 2]^2``; odeopt starts at ``(1, 10^{-3})``, close to
the stable manifold ``y = 0``, so that a run first approaches the saddle and then
escapes along ``y``.  Curvature (for default learning rates): 2.
"""

from .._jit import kernel
from ._base import Surface


@kernel
def value(x, p):
    return x[0] * x[0] - x[1] * x[1]


@kernel
def grad(x, p, out):
    out[0] = 2.0 * x[0]
    out[1] = -2.0 * x[1]


@kernel
def hess(x, p, out):
    out[0, 0] = 2.0
    out[0, 1] = 0.0
    out[1, 0] = 0.0
    out[1, 1] = -2.0


SURFACE = Surface(
    name="saddle",
    description="The quadratic saddle x² − y², unbounded below (2-D)",
    module=__name__,
    formula="x² − y²",
    dim=2,
    bounds=([-2.0, -2.0], [2.0, 2.0]),
    x0=[1.0, 1e-3],
    minima=(),
    curvature=2.0,
    bounded_below=False,
)
