r"""The symmetric double well: two equal minima behind a barrier (1-D).

.. math::

    L(x) = h\,(x^2 - 1)^2, \qquad L'(x) = 4h\,x(x^2 - 1), \qquad
    L''(x) = 4h\,(3x^2 - 1)

Minima at ``x = ±1`` with value 0 and curvature ``8h``; a barrier of height ``h`` at
the origin.  The model problem of "SGD is a Langevin equation": gradient descent
stays in the well it starts in, while noisy gradients with covariance ``σ²/B`` hop
the barrier, and the iterates' stationary law approaches the Gibbs density
``∝ exp(−2B·L/(ησ²))`` of the SDE ``dΘ = −∇L dt + √(ησ²/B) dW`` as ``η → 0``
(Li, Tai & E 2017, "Stochastic modified equations and adaptive stochastic gradient
algorithms"; the factor 2 is that of the stationary solution ``∝ exp(−2L/s²)`` of
the Fokker–Planck equation of ``dΘ = −∇L dt + s dW``).
Start ``x0 = 1.5``; box ``[-2, 2]``.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    s = x[0] * x[0] - 1.0
    return p[0] * s * s


@kernel
def grad(x, p, out):
    t = x[0]
    out[0] = 4.0 * p[0] * t * (t * t - 1.0)


@kernel
def hess(x, p, out):
    t = x[0]
    out[0, 0] = 4.0 * p[0] * (3.0 * t * t - 1.0)


def _minima(dim, params):
    return [Minimum(np.array([1.0]), 0.0), Minimum(np.array([-1.0]), 0.0)]


def _check(dim, params):
    if not params["height"] > 0:
        return f"height must be > 0, got {params['height']}"
    return None


SURFACE = Surface(
    name="double-well",
    description="the symmetric double well h(x² − 1)² (1-D)",
    module=__name__,
    formula="h(x² − 1)²",
    params=(Param("height", 1.0, "barrier height h at x = 0"),),
    dim=1,
    bounds=([-2.0], [2.0]),
    x0=[1.5],
    minima=_minima,
    check=_check,
)
