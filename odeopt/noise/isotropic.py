r"""Isotropic Gaussian gradient noise: :math:`\hat g = \nabla L + \frac{\sigma}{\sqrt B}\xi`.

Each gradient the optimizer sees is the exact gradient plus
:math:`\sigma\xi/\sqrt{B}`, :math:`\xi \sim N(0, I)`: a minibatch of ``B`` samples whose
gradient noise has covariance :math:`\sigma^2 I` each.  With this noise, SGD is the
Euler–Maruyama scheme of :math:`d\Theta = -\nabla L\,dt + \sqrt{\eta/B}\,\sigma\,dW`
at :math:`t = k\eta`.

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
    scale = q[0]  # σ/√B
    for i in range(out.shape[0]):
        out[i] = out[i] + scale * xi[i]


NOISE = NoiseModel(
    name="iso",
    description="isotropic Gaussian, covariance σ²I per sample",
    module=__name__,
    formula="σ²I",
    params=(Param("sigma", None, "standard deviation σ of one sample's gradient"),),
    pack=lambda dim, params, batch: np.array([params["sigma"] / math.sqrt(batch)]),
    covariance=lambda theta, params, dim, hess: params["sigma"] ** 2 * np.eye(dim),
    check=positive("sigma"),
)
