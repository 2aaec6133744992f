r"""The six-hump camel function: two global and four local minima.

.. math::

    L(x, y) = \left(4 - 2.1x^2 + \frac{x^4}{3}\right) x^2 + xy + (-4 + 4y^2)\, y^2

The function is symmetric under ``(x, y) -> (-x, -y)``.  Its two global minima are
``±(0.08984201310031806, -0.7126564030207396)`` with value
``-1.0316284534898774``; the other minima are ``±(-1.703606714969981,
0.7960835686726251)`` (value ``-0.21546382438371764``) and
``±(1.6071047529201972, 0.5686514548841314)`` (value ``2.1042503103112584``), all
polished by 40-digit Newton iterations.  The origin is a saddle.  The usual search
domain is ``x ∈ [-3, 3], y ∈ [-2, 2]``, but there the ``x^6`` and ``y^4`` walls
(loss up to about 160) flatten every contour plot; odeopt plots the box
``x ∈ [-2, 2], y ∈ [-1, 1]`` (loss up to 5.7), which holds all six minima.  odeopt starts at
``(-1, -0.5)``, from where the gradient flow reaches the global minimum
``(0.0898..., -0.7127...)``; starts with ``|x| ≥ 1.5`` end in the outer local minima.

References: L. C. W. Dixon, G. P. Szegő, *The global optimisation problem: an
introduction*, in *Towards Global Optimisation 2*, North-Holland (1978);
Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/camel6.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    a = x[0]
    b = x[1]
    a2 = a * a
    b2 = b * b
    return (4.0 - 2.1 * a2 + a2 * a2 / 3.0) * a2 + a * b + (-4.0 + 4.0 * b2) * b2


@kernel
def grad(x, p, out):
    a = x[0]
    b = x[1]
    a2 = a * a
    out[0] = a * (8.0 - 8.4 * a2 + 2.0 * a2 * a2) + b
    out[1] = a + b * (-8.0 + 16.0 * b * b)


@kernel
def hess(x, p, out):
    a2 = x[0] * x[0]
    out[0, 0] = 8.0 - 25.2 * a2 + 10.0 * a2 * a2
    out[0, 1] = 1.0
    out[1, 0] = 1.0
    out[1, 1] = -8.0 + 48.0 * x[1] * x[1]


_GLOBAL = np.array([0.08984201310031806, -0.7126564030207396])
_LOW = np.array([-1.703606714969981, 0.7960835686726251])
_HIGH = np.array([1.6071047529201972, 0.5686514548841314])

SURFACE = Surface(
    name="six-hump-camel",
    description="Six-hump camel: two global, four local minima (2-D)",
    module=__name__,
    formula="(4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²",
    dim=2,
    bounds=([-2.0, -1.0], [2.0, 1.0]),
    x0=[-1.0, -0.5],
    minima=[
        Minimum(_GLOBAL, -1.0316284534898774),
        Minimum(-_GLOBAL, -1.0316284534898774),
        Minimum(_LOW, -0.21546382438371764, "local"),
        Minimum(-_LOW, -0.21546382438371764, "local"),
        Minimum(_HIGH, 2.1042503103112584, "local"),
        Minimum(-_HIGH, 2.1042503103112584, "local"),
    ],
)
