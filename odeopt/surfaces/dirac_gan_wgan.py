r"""The Dirac GAN with a WGAN discriminator of unit norm (and an L2 penalty μ).

Mescheder, Geiger & Nowozin (2018), "Which training methods for GANs do actually
converge?"; Arjovsky, Chintala & Bottou (2017), "Wasserstein GAN".  The data is 0,
the generator's sample θ ∈ ℝⁿ, the critic D(x) = φ·x/‖φ‖ (1-Lipschitz: weight
normalisation; spectral normalisation acts the same here).  With z = θ·φ and
r = ‖φ‖ the zero-sum value is f = −z/r − (μ/2)r², minimised by θ and maximised by φ:

F = (−φ/r,  θ/r − zφ/r³ + μφ)

The flow θ̇ = −F_θ = φ/‖φ‖ has speed ‖θ̇‖ ≡ 1 (claim C21): θ never settles.  The
Jacobian (``hess``, not symmetric):

.. math::

    J = \begin{pmatrix} 0 & −(I/r − φφ^T/r^3) \\ I/r − φφ^T/r^3 &
        −(θφ^T + φθ^T + zI)/r^3 + 3zφφ^T/r^5 + μI \end{pmatrix}.

The field is singular at φ = 0.  ``value`` is f.  ``--dim 2n``: the n-D Dirac GAN.
"""

import numpy as np

from .._jit import kernel
from ._base import Param, Surface
from .dirac_gan_ns import dirac_start, even_dim


@kernel
def value(x, p):
    n = x.shape[0] // 2
    z = 0.0
    r2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        r2 += x[n + i] * x[n + i]
    return -z / np.sqrt(r2) - 0.5 * p[0] * r2


@kernel
def grad(x, p, out):
    n = x.shape[0] // 2
    z = 0.0
    r2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        r2 += x[n + i] * x[n + i]
    r = np.sqrt(r2)
    r3 = r * r2
    for i in range(n):
        out[i] = -x[n + i] / r
        out[n + i] = x[i] / r - z * x[n + i] / r3 + p[0] * x[n + i]


@kernel
def hess(x, p, out):
    n = x.shape[0] // 2
    z = 0.0
    r2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        r2 += x[n + i] * x[n + i]
    r = np.sqrt(r2)
    r3 = r * r2
    r5 = r3 * r2
    for i in range(n):
        for j in range(n):
            eye = 1.0 if i == j else 0.0
            projector = eye / r - x[n + i] * x[n + j] / r3
            out[i, j] = 0.0
            out[i, n + j] = -projector
            out[n + i, j] = projector
            out[n + i, n + j] = (
                -(x[i] * x[n + j] + x[j] * x[n + i] + z * eye) / r3
                + 3.0 * z * x[n + i] * x[n + j] / r5
                + p[0] * eye
            )


SURFACE = Surface(
    name="dirac-gan-wgan",
    description="Dirac GAN, WGAN with a unit-norm critic: speed 1, never converges",
    module=__name__,
    formula="F = (−φ/‖φ‖, θ/‖φ‖ − (θ·φ)φ/‖φ‖³ + μφ)",
    params=(Param("mu", 0.0, "L2 penalty μ on the critic's weights"),),
    dim=None,
    default_dim=4,
    min_dim=2,
    check=even_dim,
    bounds=lambda dim, params: ([-0.6] * dim, [0.6] * dim),
    x0=dirac_start,
    minima=(),
    curvature=1.0,
    bounded_below=False,
    symmetric=False,
    players=("generator", "discriminator"),
    references="Mescheder, Geiger & Nowozin (2018); Arjovsky et al. (2017)",
)
