r"""The Dirac GAN with the non-saturating loss (and an R1 / L2 penalty γ).

Mescheder, Geiger & Nowozin (2018), "Which training methods for GANs do actually
converge?": the data is the point 0, the generator's sample is θ ∈ ℝⁿ and the
discriminator is linear, D(x) = φ·x.  θ = (θ, φ) holds the generator's block first.
With z = θ·φ and σ the logistic function, the discriminator ascends
log σ(D(0)) + log(1 − σ(D(θ))) − (γ/2)‖φ‖² and the generator ascends log σ(D(θ))
(the non-saturating loss of Goodfellow et al. 2014), so the field that points
downhill for both is

F = (−(1 − σ(z))·φ,  σ(z)·θ + γ·φ)

and the flow θ̇ = −F is the post's φ̇ = −σ(θ·φ)θ − γφ, θ̇ = (1 − σ(θ·φ))φ.  Its
Jacobian (``hess``, not symmetric), with σ' = σ(1 − σ),

.. math::

    J = \begin{pmatrix} σ'φφ^T & −(1−σ)I + σ'φθ^T \\ σI + σ'θφ^T & σ'θθ^T + γI
        \end{pmatrix},

is ``[[0, −I/2], [I/2, γI]]`` at the equilibrium 0: eigenvalues
(γ ± √(γ² − 1))/2, purely imaginary ±i/2 without the penalty, so the flow only
circles (θ̈ ≈ −θ/4) while E = ½(‖θ‖² + ‖φ‖²) decreases, dE/dt = z(1 − 2σ(z)) ≤ 0,
and with γ > 0 it converges (θ̈ + γθ̇ + θ/4 = 0 near 0).  In the Dirac GAN the
gradient penalty R1 = (γ/2)‖∇ₓD(0)‖² = (γ/2)‖φ‖² *is* the L2 penalty on the
discriminator's weights (claim C22's μ).

``value`` is the discriminator's objective −softplus(z) − log 2 − (γ/2)‖φ‖²
(the game is not zero-sum: the generator's loss is another).  ``--dim 2n`` is the
n-dimensional Dirac GAN (default n = 2, the post's version; start
(θ₁, θ₂, φ₁, φ₂) = (0.2, 0.1, 0.1, 0.2), the post's code's).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def sigmoid(z):
    # Both branches are exact in floating point where they are used (no overflow).
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@kernel
def softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@kernel
def value(x, p):
    n = x.shape[0] // 2
    z = 0.0
    phi2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        phi2 += x[n + i] * x[n + i]
    return -softplus(z) - math.log(2.0) - 0.5 * p[0] * phi2


@kernel
def grad(x, p, out):
    n = x.shape[0] // 2
    z = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
    s = sigmoid(z)
    for i in range(n):
        out[i] = -(1.0 - s) * x[n + i]
        out[n + i] = s * x[i] + p[0] * x[n + i]


@kernel
def hess(x, p, out):
    n = x.shape[0] // 2
    z = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
    s = sigmoid(z)
    ds = s * (1.0 - s)
    for i in range(n):
        for j in range(n):
            eye = 1.0 if i == j else 0.0
            out[i, j] = ds * x[n + i] * x[n + j]
            out[i, n + j] = -(1.0 - s) * eye + ds * x[n + i] * x[j]
            out[n + i, j] = s * eye + ds * x[i] * x[n + j]
            out[n + i, n + j] = ds * x[i] * x[j] + p[0] * eye


def dirac_start(dim, params):
    """The post's start (θ, φ) = ((0.2, 0.1), (0.1, 0.2)); 1-D: (0.2, 0.1)."""
    n = dim // 2
    if n == 1:
        return [0.2, 0.1]
    theta = np.where(np.arange(n) % 2 == 0, 0.2, 0.1)
    phi = np.where(np.arange(n) % 2 == 0, 0.1, 0.2)
    return np.concatenate([theta, phi])


def even_dim(dim, params):
    """A Dirac GAN has a generator and a discriminator block of one size."""
    return None if dim % 2 == 0 else f"the dimension must be even (2n), got {dim}"


SURFACE = Surface(
    name="dirac-gan-ns",
    description="Dirac GAN, non-saturating loss (+ R1/L2 penalty γ): only circles",
    module=__name__,
    formula="F = (−(1 − σ(θ·φ))φ, σ(θ·φ)θ + γφ)",
    params=(Param("gamma", 0.0, "R1 penalty γ (= L2 on φ in the Dirac GAN)"),),
    dim=None,
    default_dim=4,
    min_dim=2,
    check=even_dim,
    bounds=lambda dim, params: ([-0.4] * dim, [0.4] * dim),
    x0=dirac_start,
    minima=lambda dim, params: [Minimum(np.zeros(dim), -2.0 * math.log(2.0))],
    curvature=0.5,
    bounded_below=False,
    symmetric=False,
    players=("generator", "discriminator"),
    references="Mescheder, Geiger & Nowozin (2018); Goodfellow et al. (2014)",
)
