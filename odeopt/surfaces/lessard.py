r"""The Lessard–Recht–Packard piecewise quadratic: where heavy ball cycles.

.. math::

    L(x) = \begin{cases}
        \frac{25}{2} x^2 & x < 1 \\
        \frac12 x^2 + 24x - 12 & 1 \le x < 2 \\
        \frac{25}{2} x^2 - 24x + 36 & x \ge 2
    \end{cases}

The function is ``C^1`` and 1-strongly convex with a 25-Lipschitz gradient
(``μ = 1, L = 25``): ``L'`` is ``25x``, ``x + 24`` and ``25x - 24`` on the three
pieces, continuous at 1 (value 25) and 2 (value 26), and ``L''`` is piecewise
constant, 25, 1, 25 (the kernels use the right-hand value at the two kinks).  The
unique minimum is 0 with value 0.  Heavy ball with the quadratic-optimal tuning
``η = 1/9, β = 4/9``, started at rest at ``x0 = 3.3`` (the classic start, as are 3.1
and 3.2), falls into the period-3 cycle ``{0.6465, -1.8024, 2.1159}``, while
NAG-SC with step 1/L converges.  Box ``[-3, 4]``; curvature 25.

References: L. Lessard, B. Recht, A. Packard, *Analysis and design of optimization
algorithms via integral quadratic constraints*, SIAM J. Optim. 26 (2016).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    t = x[0]
    if t < 1.0:
        return 12.5 * t * t
    if t < 2.0:
        return 0.5 * t * t + 24.0 * t - 12.0
    return 12.5 * t * t - 24.0 * t + 36.0


@kernel
def grad(x, p, out):
    t = x[0]
    if t < 1.0:
        out[0] = 25.0 * t
    elif t < 2.0:
        out[0] = t + 24.0
    else:
        out[0] = 25.0 * t - 24.0


@kernel
def hess(x, p, out):
    t = x[0]
    if t < 1.0 or t >= 2.0:
        out[0, 0] = 25.0
    else:
        out[0, 0] = 1.0


SURFACE = Surface(
    name="lessard",
    description="Lessard–Recht–Packard piecewise quadratic, μ = 1, L = 25 (1-D)",
    module=__name__,
    formula="25x²/2 (x < 1); x²/2 + 24x − 12 (1 ≤ x < 2); 25x²/2 − 24x + 36 (x ≥ 2)",
    dim=1,
    bounds=([-3.0], [4.0]),
    x0=[3.3],
    minima=[Minimum(np.array([0.0]), 0.0)],
    curvature=25.0,
)
