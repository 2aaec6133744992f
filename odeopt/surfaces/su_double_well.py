r"""Su's double well: a quartic with a deep and a shallow minimum (post 三).

.. math::

    L(x) = x(x - 1)(x - 3)^2 + c, \qquad
    L'(x) = 4x^3 - 21x^2 + 30x - 9 = (x - 3)(4x^2 - 9x + 3)

The stationary points are ``x = 3`` and ``x = (9 ± √33)/8``:

* the global minimum ``x* = (9 - √33)/8 = 0.4069296691827464``, where
  ``x(x-1)(x-3)^2 = -1.6227594466382318`` (50-digit evaluation), so that with the
  default ``c = 1.62276`` the minimum value is ``L(x*) = 5.533617681076653e-7``,
  almost exactly 0 as in the post;
* a local maximum at ``(9 + √33)/8 = 1.8430703308172536``;
* a local minimum at ``x = 3`` with value ``c`` (``L'' = 12`` there).

From the classic start ``x0 = 4`` plain gradient descent settles in the shallow well
at 3, while the truncated Polyak-type flow of the post crosses the barrier and ends
near ``x*``.  Box ``[-0.5, 4.5]``.

References: Su Jianlin, *从动力学角度看优化算法（三）：一个更整体的视角*
(kexue.fm/archives/6261).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface

# (9 - sqrt(33))/8 and x(x-1)(x-3)^2 there, correctly rounded from 50 digits.
_XSTAR = 0.4069296691827464
_POLY_AT_XSTAR = -1.6227594466382318


@kernel
def value(x, p):
    t = x[0]
    return t * (t - 1.0) * (t - 3.0) * (t - 3.0) + p[0]


@kernel
def grad(x, p, out):
    t = x[0]
    out[0] = ((4.0 * t - 21.0) * t + 30.0) * t - 9.0


@kernel
def hess(x, p, out):
    t = x[0]
    out[0, 0] = (12.0 * t - 42.0) * t + 30.0


def _minima(dim, params):
    c = params["c"]
    return [
        Minimum(np.array([_XSTAR]), _POLY_AT_XSTAR + c),
        Minimum(np.array([3.0]), c, "local"),
    ]


SURFACE = Surface(
    name="su-double-well",
    description="Su's double well x(x−1)(x−3)² + c (1-D)",
    module=__name__,
    formula="x(x − 1)(x − 3)² + c",
    params=(Param("c", 1.62276, "vertical offset (1.62276 makes the minimum ≈ 0)"),),
    dim=1,
    bounds=([-0.5], [4.5]),
    x0=[4.0],
    minima=_minima,
)
