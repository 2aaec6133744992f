r"""The Dirac GAN with WGAN-GP: a gradient penalty λ(‖∇D‖ − c)², centred at c.

Gulrajani et al. (2017), "Improved training of Wasserstein GANs" (c = 1);
Mescheder, Geiger & Nowozin (2018) (c = 0, zero-centred).  Data 0, generator
sample θ ∈ ℝⁿ, critic D(x) = φ·x, whose input gradient is φ everywhere, so the
penalty is λ(‖φ‖ − c)².  The zero-sum value f = −θ·φ − λ(‖φ‖ − c)² − (μ/2)‖φ‖²
(min over θ, max over φ) gives, with r = ‖φ‖,

F = (−φ,  θ + 2λ(1 − c/r)φ + μφ)

and the post's flow φ̇ = −θ − 2λ(1 − c/‖φ‖)φ, θ̇ = φ.  Jacobian (``hess``):

.. math::

    J = \begin{pmatrix} 0 & −I \\ I & 2λ(1 − c/r)I + 2λc\,φφ^T/r^3 + μI
        \end{pmatrix}.

With c = 0 the field is linear, θ̈ + 2λθ̇ + θ = 0: the flow's eigenvalues
−λ ± i√(1 − λ²) (−0.1 ± 0.99499i at λ = 0.1), it converges.  With c = 1 the flow
settles on a circle ‖θ‖ = ‖φ‖ = 1 (a limit cycle).  ``--dim 2n``: the n-D Dirac GAN.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface
from .dirac_gan_ns import dirac_start, even_dim


@kernel
def value(x, p):
    lam, c, mu = p[0], p[1], p[2]
    n = x.shape[0] // 2
    z = 0.0
    r2 = 0.0
    for i in range(n):
        z += x[i] * x[n + i]
        r2 += x[n + i] * x[n + i]
    r = np.sqrt(r2)
    return -z - lam * (r - c) * (r - c) - 0.5 * mu * r2


@kernel
def grad(x, p, out):
    lam, c, mu = p[0], p[1], p[2]
    n = x.shape[0] // 2
    shrink = 2.0 * lam + mu
    if c != 0.0:  # c = 0: a linear field, defined at φ = 0 too
        r2 = 0.0
        for i in range(n):
            r2 += x[n + i] * x[n + i]
        shrink -= 2.0 * lam * c / np.sqrt(r2)
    for i in range(n):
        out[i] = -x[n + i]
        out[n + i] = x[i] + shrink * x[n + i]


@kernel
def hess(x, p, out):
    lam, c, mu = p[0], p[1], p[2]
    n = x.shape[0] // 2
    shrink = 2.0 * lam + mu
    r3 = 1.0
    if c != 0.0:
        r2 = 0.0
        for i in range(n):
            r2 += x[n + i] * x[n + i]
        r = np.sqrt(r2)
        shrink -= 2.0 * lam * c / r
        r3 = r * r2
    for i in range(n):
        for j in range(n):
            eye = 1.0 if i == j else 0.0
            out[i, j] = 0.0
            out[i, n + j] = -eye
            out[n + i, j] = eye
            out[n + i, n + j] = shrink * eye
            if c != 0.0:
                out[n + i, n + j] += 2.0 * lam * c * x[n + i] * x[n + j] / r3


def _bounds(dim, params):
    half = 0.4 if params["c"] == 0.0 else 1.5
    return [-half] * dim, [half] * dim


SURFACE = Surface(
    name="dirac-gan-wgan-gp",
    description="Dirac GAN, WGAN-GP: converges at c = 0, a limit cycle at c = 1",
    module=__name__,
    formula="F = (−φ, θ + 2λ(1 − c/‖φ‖)φ + μφ)",
    params=(
        Param("lam", 0.1, "penalty weight λ"),
        Param("c", 0.0, "penalty centre c (0: zero-centred; 1: Gulrajani et al.)"),
        Param("mu", 0.0, "L2 penalty μ on the critic's weights"),
    ),
    dim=None,
    default_dim=4,
    min_dim=2,
    check=even_dim,
    bounds=_bounds,
    x0=dirac_start,
    minima=lambda dim, params: (
        [Minimum(np.zeros(dim), -params["lam"] * params["c"] ** 2)]
        if params["c"] == 0.0
        else []
    ),
    curvature=1.0,
    bounded_below=False,
    symmetric=False,
    players=("generator", "discriminator"),
    references="Gulrajani et al. (2017); Mescheder, Geiger & Nowozin (2018)",
)
