r"""A problem that is not a loss's gradient: the bilinear game f(x, y) = a·x·y.

Its field is simultaneous gradient descent–ascent's, F = (∂f/∂x, −∂f/∂y), scaled
per player: F = (a·y, −b·x), with Jacobian [[0, a], [−b, 0]] and
eigenvalues ±i√(ab): a rotation, so gradient descent on it (simultaneous GDA) spirals
out by √(1 + h²ab) per step.  ``value`` is f = x·y.  Used by tests/test_contract.py.
"""

import numpy as np

from odeopt._jit import kernel
from odeopt.surfaces._base import Minimum, Param, Surface


@kernel
def value(x, p):
    return x[0] * x[1]


@kernel
def grad(x, p, out):
    out[0] = p[0] * x[1]
    out[1] = -p[1] * x[0]


@kernel
def hess(x, p, out):
    out[0, 0] = 0.0
    out[0, 1] = p[0]
    out[1, 0] = -p[1]
    out[1, 1] = 0.0


SURFACE = Surface(
    name="contract-bilinear",
    description="the bilinear game's rotation field (contract test)",
    module=__name__,
    formula="F = (a·y, −b·x)",
    params=(Param("a", 4.0, "coupling of x"), Param("b", 1.0, "coupling of y")),
    bounds=([-2.0, -2.0], [2.0, 2.0]),
    x0=[1.0, 0.0],
    minima=[Minimum(np.zeros(2), 0.0)],
    bounded_below=False,
    symmetric=False,
)
