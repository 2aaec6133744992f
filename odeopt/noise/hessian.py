r"""Hessian-shaped gradient noise: the sampled-loss model, covariance :math:`\sigma^2 H^2`.

A sample of the loss is :math:`\ell(\theta) = \tfrac12(\theta - \gamma)^\top H
(\theta - \gamma)` with :math:`\gamma \sim N(0, \sigma^2 I)` around a quadratic's
minimum; its gradient :math:`H(\theta - \gamma)` is the exact one plus
:math:`-\sigma H \xi`, whose covariance :math:`\sigma^2 H^2` has the shape of the
curvature, as the gradient noise of a network near a minimum does.  On any surface
``H`` is the Hessian at the point of the gradient; divided by :math:`\sqrt B` for a
minibatch of ``B``.

References: Z. Zhu, J. Wu, B. Yu, L. Wu, J. Ma, *The anisotropic noise in stochastic
gradient descent*, ICML 2019; Q. Li, C. Tai, W. E, *Stochastic modified equations
and adaptive stochastic gradient algorithms*, ICML 2017.
"""

import math

import numpy as np

from .._jit import kernel
from ..surfaces._base import Param
from ._base import NoiseModel, positive

NEEDS_HESSIAN = True


@kernel
def perturb(out, x, xi, q, H):
    scale = q[0]  # σ/√B
    n = out.shape[0]
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += H[i, j] * xi[j]
        out[i] = out[i] - scale * total


def _covariance(theta, params, dim, hess):
    H = hess(theta)
    return params["sigma"] ** 2 * (H @ H)


NOISE = NoiseModel(
    name="hessian",
    description="sampled-loss noise, covariance σ²H² (the curvature's shape)",
    module=__name__,
    formula="σ²H(θ)²",
    params=(Param("sigma", 1.0, "scale σ of the sampled minimum's spread"),),
    pack=lambda dim, params, batch: np.array([params["sigma"] / math.sqrt(batch)]),
    covariance=_covariance,
    check=positive("sigma"),
    needs_hessian=True,
)
