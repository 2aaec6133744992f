r"""The Goldstein–Price function: a product of two quartics with steep walls.

.. math::

    L(x, y) = \left[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)\right]
              \left[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)\right]

In the domain ``[-2, 2]^2`` the global minimum is ``(0, -1)`` with value 3, and there
are three local minima, all at exact decimal points: ``(-0.6, -0.4)`` with value 30,
``(1.8, 0.2)`` with value 84 and ``(1.2, 0.8)`` with value 840 (all four verified
as stationary with positive definite Hessians by 40-digit Newton iterations; the
remaining stationary points are four saddles and a local maximum of value 1155 at
``(0.8, 0.2)``).  The loss spans 3 to about ``10^6`` over the domain and the Hessian
reaches about 26000 at ``(1.8, 0.2)``.  odeopt starts at ``(1, 0)`` (loss 726,
Hessian up to about 5200), from where the gradient flow reaches the global minimum.

References: A. A. Goldstein, J. F. Price, *On descent from local minima*, Math.
Comp. 25 (1971); Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/goldpr.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    a = x[0]
    b = x[1]
    u = a + b + 1.0
    v = 2.0 * a - 3.0 * b
    q = 19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b
    s = 18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b
    return (1.0 + u * u * q) * (30.0 + v * v * s)


@kernel
def grad(x, p, out):
    a = x[0]
    b = x[1]
    u = a + b + 1.0
    v = 2.0 * a - 3.0 * b
    q = 19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b
    s = 18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b
    # First factor F = 1 + u^2 q, second factor G = 30 + v^2 s.
    f = 1.0 + u * u * q
    g = 30.0 + v * v * s
    qx = -14.0 + 6.0 * a + 6.0 * b
    sx = -32.0 + 24.0 * a - 36.0 * b
    sy = 48.0 - 36.0 * a + 54.0 * b
    fx = 2.0 * u * q + u * u * qx
    fy = fx  # F depends on (a, b) only through a + b
    gx = 4.0 * v * s + v * v * sx
    gy = -6.0 * v * s + v * v * sy
    out[0] = fx * g + f * gx
    out[1] = fy * g + f * gy


@kernel
def hess(x, p, out):
    a = x[0]
    b = x[1]
    u = a + b + 1.0
    v = 2.0 * a - 3.0 * b
    q = 19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b
    s = 18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b
    f = 1.0 + u * u * q
    g = 30.0 + v * v * s
    qx = -14.0 + 6.0 * a + 6.0 * b
    sx = -32.0 + 24.0 * a - 36.0 * b
    sy = 48.0 - 36.0 * a + 54.0 * b
    fx = 2.0 * u * q + u * u * qx
    fy = fx
    gx = 4.0 * v * s + v * v * sx
    gy = -6.0 * v * s + v * v * sy
    # F = P Q with P = u^2: P_i = 2u, P_ij = 2, Q_ij = 6 for every pair i, j.
    fxx = 2.0 * q + 4.0 * u * qx + 6.0 * u * u
    fxy = fxx
    fyy = fxx
    # G = R S with R = v^2: R_x = 4v, R_y = -6v, R_xx = 8, R_xy = -12, R_yy = 18;
    # S_xx = 24, S_xy = -36, S_yy = 54.
    gxx = 8.0 * s + 8.0 * v * sx + 24.0 * v * v
    gxy = -12.0 * s + 4.0 * v * sy - 6.0 * v * sx - 36.0 * v * v
    gyy = 18.0 * s - 12.0 * v * sy + 54.0 * v * v
    out[0, 0] = fxx * g + 2.0 * fx * gx + f * gxx
    cross = fxy * g + fx * gy + fy * gx + f * gxy
    out[0, 1] = cross
    out[1, 0] = cross
    out[1, 1] = fyy * g + 2.0 * fy * gy + f * gyy


SURFACE = Surface(
    name="goldstein-price",
    description="Goldstein–Price: steep walls, three local minima (2-D)",
    module=__name__,
    formula=(
        "[1 + (x+y+1)²(19 − 14x + 3x² − 14y + 6xy + 3y²)]·"
        "[30 + (2x−3y)²(18 − 32x + 12x² + 48y − 36xy + 27y²)]"
    ),
    dim=2,
    bounds=([-2.0, -2.0], [2.0, 2.0]),
    x0=[1.0, 0.0],
    minima=[
        Minimum(np.array([0.0, -1.0]), 3.0),
        Minimum(np.array([-0.6, -0.4]), 30.0, "local"),
        Minimum(np.array([1.8, 0.2]), 84.0, "local"),
        Minimum(np.array([1.2, 0.8]), 840.0, "local"),
    ],
)
