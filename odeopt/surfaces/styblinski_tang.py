r"""The Styblinski–Tang function: a separable double well in every coordinate.

.. math::

    L(\theta) = \frac{1}{2} \sum_{i=1}^{n} \left( \theta_i^4 - 16\theta_i^2
                + 5\theta_i \right)

Each coordinate sees the same quartic, whose stationary points are the roots of
``4t^3 - 32t + 5 = 0``: a deep well at ``t = -2.903534027771177`` (value
``-39.16616570377141``), a shallow well at ``t = 2.746802770990837`` (value
``-25.02944665528394``) and a local maximum at ``t = 0.1567312567803401``.  The
global minimum is ``(-2.9035..., ..., -2.9035...)`` with value ``-39.166165703771...
· n``; the ``2^n - 1`` other corners are local minima, of which the all-positive
one (declared here) is the highest.  Domain ``[-5, 5]^n``.  odeopt starts at
``(0.5, ..., 0.5)``, just right of the ridge, so that the gradient flow falls into the
shallow well (momentum, noise or a large step may carry a run to the deep one).

References: M. A. Styblinski, T.-S. Tang, *Experiments in nonconvex optimization:
stochastic approximation with function smoothing and simulated annealing*, Neural
Networks 3 (1990); Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/stybtang.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface

# Roots of 4t^3 - 32t + 5 and the per-coordinate values there (50-digit Newton,
# correctly rounded).
_DEEP = -2.903534027771177
_DEEP_VALUE = -39.16616570377141
_SHALLOW = 2.746802770990837
_SHALLOW_VALUE = -25.02944665528394


@kernel
def value(x, p):
    total = 0.0
    for i in range(x.shape[0]):
        t = x[i]
        total += t * t * t * t - 16.0 * t * t + 5.0 * t
    return 0.5 * total


@kernel
def grad(x, p, out):
    for i in range(x.shape[0]):
        t = x[i]
        out[i] = 2.0 * t * t * t - 16.0 * t + 2.5


@kernel
def hess(x, p, out):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        out[i, i] = 6.0 * x[i] * x[i] - 16.0


def _minima(dim, params):
    return [
        Minimum(np.full(dim, _DEEP), _DEEP_VALUE * dim),
        Minimum(np.full(dim, _SHALLOW), _SHALLOW_VALUE * dim, "local"),
    ]


def _bounds(dim, params):
    return [-5.0] * dim, [5.0] * dim


def _x0(dim, params):
    return [0.5] * dim


SURFACE = Surface(
    name="styblinski-tang",
    description="Styblinski–Tang separable double wells (n-D)",
    module=__name__,
    formula="½ Σ (θᵢ⁴ − 16θᵢ² + 5θᵢ)",
    dim=None,
    default_dim=2,
    min_dim=1,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
)
