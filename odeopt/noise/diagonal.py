r"""Diagonal Gaussian gradient noise: :math:`\hat g_i = \partial_i L + \frac{\sigma_i}{\sqrt B}\xi_i`.

One standard deviation per coordinate (``--noise diag:0.1,0.5``): the covariance of
one sample is :math:`\operatorname{diag}(\sigma_1^2, \dots, \sigma_n^2)`, anisotropic
noise as in the stochastic-modified-equation analyses of adaptive methods.

References: Q. Li, C. Tai, W. E, *Stochastic modified equations and adaptive
stochastic gradient algorithms*, ICML 2017.
"""

import math

import numpy as np

from .._jit import kernel
from ..surfaces._base import Param
from ._base import NoiseModel, positive

NEEDS_HESSIAN = False


@kernel
def perturb(out, x, xi, q, H):
    for i in range(out.shape[0]):
        out[i] = out[i] + q[i] * xi[i]  # q[i] = σ_i/√B


def _check(dim, params):
    sigma = params["sigma"]
    if len(sigma) != dim:
        return f"give {dim} standard deviations, got {len(sigma)}"
    return positive("sigma")(dim, params)


NOISE = NoiseModel(
    name="diag",
    description="diagonal Gaussian, covariance diag(σᵢ²) per sample",
    module=__name__,
    formula="diag(σ₁², …, σₙ²)",
    params=(Param("sigma", None, "one standard deviation per coordinate", "floats"),),
    pack=lambda dim, params, batch: np.array(params["sigma"]) / math.sqrt(batch),
    covariance=lambda theta, params, dim, hess: np.diag(np.square(params["sigma"])),
    check=_check,
)
