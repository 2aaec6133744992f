r"""Letcher's zero-sum game on which every simple method cycles.

Letcher (2021), "On the impossibility of global convergence in multi-loss
optimization": L(x, y) = xy − x²/2 + y²/2 + x⁴/4 − y⁴/4, min over x, max over y.
The only fixed point of the field is the origin, and it repels the gradient flow
(and GDA, extragradient, optimism, consensus, SGA ... with small steps): the
trajectories settle on a cycle.  The field downhill for both players, with
consensus optimisation's γJᵀF and symplectic gradient adjustment's λAᵀF (A = (J −
Jᵀ)/2 = [[0, 1], [−1, 0]] here) optional:

F = (y − x + x³, −x − y + y³) + γJᵀF + λAᵀF

.. math::

    L(x, y) = xy − \tfrac{x^2}{2} + \tfrac{y^2}{2} + \tfrac{x^4}{4} − \tfrac{y^4}{4}.

with J = [[3x² − 1, 1], [−1, 3y² − 1]]: eigenvalues −1 ± i at the origin, so
θ̇ = −F spirals out there, while the cubic terms pull it back from far away.  The
Jacobian of γJᵀF is γ(JᵀJ + diag(6x·F_x, 6y·F_y)), that of λAᵀF is λAᵀJ.
``value`` is L.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    a, b = x[0], x[1]
    return a * b - 0.5 * a * a + 0.5 * b * b + 0.25 * a**4 - 0.25 * b**4


@kernel
def grad(x, p, out):
    gamma, sga = p[0], p[1]
    a, b = x[0], x[1]
    f0 = b - a + a**3
    f1 = -a - b + b**3
    j00, j01, j10, j11 = 3.0 * a * a - 1.0, 1.0, -1.0, 3.0 * b * b - 1.0
    out[0] = f0 + gamma * (j00 * f0 + j10 * f1) - sga * f1
    out[1] = f1 + gamma * (j01 * f0 + j11 * f1) + sga * f0


@kernel
def hess(x, p, out):
    gamma, sga = p[0], p[1]
    a, b = x[0], x[1]
    f0 = b - a + a**3
    f1 = -a - b + b**3
    j00, j01, j10, j11 = 3.0 * a * a - 1.0, 1.0, -1.0, 3.0 * b * b - 1.0
    out[0, 0] = j00 + gamma * (j00 * j00 + j10 * j10 + 6.0 * a * f0) - sga * j10
    out[0, 1] = j01 + gamma * (j00 * j01 + j10 * j11) - sga * j11
    out[1, 0] = j10 + gamma * (j01 * j00 + j11 * j10) + sga * j00
    out[1, 1] = j11 + gamma * (j01 * j01 + j11 * j11 + 6.0 * b * f1) + sga * j01


SURFACE = Surface(
    name="letcher-game",
    description="Letcher's game xy − x²/2 + y²/2 + x⁴/4 − y⁴/4: every method cycles",
    module=__name__,
    formula="F = (y − x + x³, −x − y + y³) (+ γJᵀF + λAᵀF)",
    params=(
        Param("gamma", 0.0, "consensus optimisation's γ (adds γJᵀF)"),
        Param("sga", 0.0, "symplectic gradient adjustment's λ (adds λAᵀF)"),
    ),
    dim=2,
    bounds=([-1.5, -1.5], [1.5, 1.5]),
    x0=[0.1, 0.0],
    minima=[Minimum(np.zeros(2), 0.0)],
    curvature=1.5,
    bounded_below=False,
    symmetric=False,
    players=("x", "y"),
    references="Letcher (2021); Mescheder et al. (2017); Balduzzi et al. (2018)",
)
