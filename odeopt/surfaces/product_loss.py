r"""The product loss: a scalar factorisation with a weight penalty on one factor.

.. math::

    L(a, b) = \tfrac12 (ab - 1)^2 + c\, a^2

    \nabla L = \bigl((ab - 1) b + 2ca,\; (ab - 1) a\bigr), \qquad
    \nabla^2 L = \begin{pmatrix} b^2 + 2c & 2ab - 1 \\ 2ab - 1 & a^2 \end{pmatrix}

This is odeopt's standard nonlinear test loss (``c = 0.05``, start ``(2, 0.3)``),
used for every order-of-convergence check.

**Critical points.**  ``∂L/∂b = (ab - 1) a = 0`` needs ``a = 0`` or ``ab = 1``.  If
``ab = 1`` then ``∂L/∂a = 2ca = 0`` forces ``a = 0``, a contradiction (for
``c > 0``).  So ``a = 0``, and then ``∂L/∂a = -b = 0``: the only critical point is
the origin, with ``L = 1/2`` and Hessian ``[[2c, -1], [-1, 0]]`` of determinant -1,
a saddle.  The infimum is 0 but it is **not attained**: along ``b = 1/a``,
``L = ca^2 -> 0`` as ``a -> 0`` and ``b -> ∞``, while ``L > 0`` everywhere (both
terms vanish only if ``a = 0`` and ``ab = 1``).  So the surface has no minima;
trajectories drift slowly along the hyperbola ``ab ≈ 1`` towards large ``b``.  (With
``c = 0`` the whole hyperbola ``ab = 1`` is a valley of global minima.)

Box ``a ∈ [-0.5, 2.5], b ∈ [-0.5, 3]``, which holds the start and the early path
onto the hyperbola.  The curvature for default learning rates is the default, the
largest Hessian eigenvalue at the start (about 4.01).
"""

from .._jit import kernel
from ._base import Param, Surface


@kernel
def value(x, p):
    c = p[0]
    r = x[0] * x[1] - 1.0
    return 0.5 * r * r + c * x[0] * x[0]


@kernel
def grad(x, p, out):
    c = p[0]
    r = x[0] * x[1] - 1.0
    out[0] = r * x[1] + 2.0 * c * x[0]
    out[1] = r * x[0]


@kernel
def hess(x, p, out):
    c = p[0]
    cross = 2.0 * x[0] * x[1] - 1.0
    out[0, 0] = x[1] * x[1] + 2.0 * c
    out[0, 1] = cross
    out[1, 0] = cross
    out[1, 1] = x[0] * x[0]


def _check(dim, params):
    if params["c"] < 0.0:
        return f"c must be >= 0, got {params['c']:g}"
    return None


SURFACE = Surface(
    name="product-loss",
    description="½(ab − 1)² + c·a²: the standard nonlinear test loss (2-D)",
    module=__name__,
    formula="½(ab − 1)² + c·a²",
    params=(Param("c", 0.05, "weight penalty on a"),),
    dim=2,
    bounds=([-0.5, -0.5], [2.5, 3.0]),
    x0=[2.0, 0.3],
    minima=(),
    check=_check,
)
