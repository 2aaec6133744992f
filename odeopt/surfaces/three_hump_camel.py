r"""The three-hump camel function: a global minimum between two local ones.

.. math::

    L(x, y) = 2x^2 - 1.05x^4 + \frac{x^6}{6} + xy + y^2

The global minimum is the origin with value 0 (Hessian ``[[4, 1], [1, 2]]``).  The
two local minima are ``±(1.7475523458302888, -0.8737761729151444)`` with value
``0.2986384422368598`` (on the line ``y = -x/2``, where ``∂L/∂y = 0``; polished by
40-digit Newton iterations), separated from the origin by saddles near
``±(1.0705, -0.5353)`` with value 0.87736.  The usual domain is ``[-5, 5]^2``, where
the ``x^6`` wall (loss up to about 2000) hides everything; odeopt plots
``[-2, 2]^2``.  odeopt starts at ``(1, 1.5)``, from where the gradient flow reaches
the origin; starts with ``|x| ≥ 1.5`` mostly end in a local minimum.

References: Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/camel3.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    a = x[0]
    b = x[1]
    a2 = a * a
    return 2.0 * a2 - 1.05 * a2 * a2 + a2 * a2 * a2 / 6.0 + a * b + b * b


@kernel
def grad(x, p, out):
    a = x[0]
    b = x[1]
    a2 = a * a
    out[0] = a * (4.0 - 4.2 * a2 + a2 * a2) + b
    out[1] = a + 2.0 * b


@kernel
def hess(x, p, out):
    a2 = x[0] * x[0]
    out[0, 0] = 4.0 - 12.6 * a2 + 5.0 * a2 * a2
    out[0, 1] = 1.0
    out[1, 0] = 1.0
    out[1, 1] = 2.0


_LOCAL = np.array([1.7475523458302888, -0.8737761729151444])

SURFACE = Surface(
    name="three-hump-camel",
    description="Three-hump camel: one global, two local minima (2-D)",
    module=__name__,
    formula="2x² − 1.05x⁴ + x⁶/6 + xy + y²",
    dim=2,
    bounds=([-2.0, -2.0], [2.0, 2.0]),
    x0=[1.0, 1.5],
    minima=[
        Minimum(np.array([0.0, 0.0]), 0.0),
        Minimum(_LOCAL, 0.2986384422368598, "local"),
        Minimum(-_LOCAL, 0.2986384422368598, "local"),
    ],
)
