r"""The Dirac GAN with GAN-QP's quadratic potential (Su 2018, "GAN-QP").

Data 0, generator sample θ ∈ ℝⁿ, critic D(x) = φ·x.  GAN-QP's critic ascends
D(real) − D(fake) − (D(real) − D(fake))²/(2λ‖x_real − x_fake‖), here with
z = θ·φ and s = ‖θ‖: −z − z²/(2λs) − (μ/2)‖φ‖²; the generator ascends D(fake)
= z.  The field downhill for both:

F = (−φ,  θ + zθ/(λs) + μφ)

the post's formula φ̇ = −θ − (θ·φ)θ/(λ‖θ‖), θ̇ = φ (the post's code divides by ‖φ‖
instead; both only oscillate).  Jacobian (``hess``):

.. math::

    ∂F_θ/∂θ = 0,\quad ∂F_θ/∂φ = −I,\quad
    ∂F_{φ_i}/∂θ_j = δ_{ij} + (θ_iφ_j + zδ_{ij})/(λs) − zθ_iθ_j/(λs^3),\quad
    ∂F_{φ_i}/∂φ_j = θ_iθ_j/(λs) + μδ_{ij}.

Not zero-sum; ``value`` is the critic's objective.  Singular at θ = 0.
"""

import numpy as np

from .._jit import kernel
from ._base import Param, Surface
from .dirac_gan_ns import dirac_start, even_dim


@kernel
def value(x, p):
    lam, mu = p[0], p[1]
    n = x.shape[0] // 2
    z = 0.0
    s2 = 0.0
    r2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        s2 += x[i] * x[i]
        r2 += x[n + i] * x[n + i]
    return -z - z * z / (2.0 * lam * np.sqrt(s2)) - 0.5 * mu * r2


@kernel
def grad(x, p, out):
    lam, mu = p[0], p[1]
    n = x.shape[0] // 2
    z = 0.0
    s2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        s2 += x[i] * x[i]
    pull = 1.0 + z / (lam * np.sqrt(s2))
    for i in range(n):
        out[i] = -x[n + i]
        out[n + i] = pull * x[i] + mu * x[n + i]


@kernel
def hess(x, p, out):
    lam, mu = p[0], p[1]
    n = x.shape[0] // 2
    z = 0.0
    s2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        s2 += x[i] * x[i]
    s = np.sqrt(s2)
    for i in range(n):
        for j in range(n):
            eye = 1.0 if i == j else 0.0
            out[i, j] = 0.0
            out[i, n + j] = -eye
            out[n + i, j] = (
                eye
                + (x[i] * x[n + j] + z * eye) / (lam * s)
                - z * x[i] * x[j] / (lam * s * s2)
            )
            out[n + i, n + j] = x[i] * x[j] / (lam * s) + mu * eye


SURFACE = Surface(
    name="dirac-gan-qp",
    description="Dirac GAN, GAN-QP (quadratic potential): only oscillates",
    module=__name__,
    formula="F = (−φ, θ + (θ·φ)θ/(λ‖θ‖) + μφ)",
    params=(
        Param("lam", 1.0, "GAN-QP's λ"),
        Param("mu", 0.0, "L2 penalty μ on the critic's weights"),
    ),
    dim=None,
    default_dim=4,
    min_dim=2,
    check=even_dim,
    bounds=lambda dim, params: ([-0.4] * dim, [0.4] * dim),
    x0=dirac_start,
    minima=(),
    curvature=1.0,
    bounded_below=False,
    symmetric=False,
    players=("generator", "discriminator"),
    references="Su (2018), GAN-QP; Mescheder, Geiger & Nowozin (2018)",
)
