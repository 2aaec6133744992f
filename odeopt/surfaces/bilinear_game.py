r"""The bilinear game f(x, y) = xᵀAy (min over x, max over y), with the usual cures.

x, y ∈ ℝⁿ (θ = (x, y), ``--dim 2n``), A an n×n matrix (``a``, row-major; default
the scalar 1: f = θφ of the post's discrete example).  Optional: an L2 penalty
−(μ/2)‖y‖² on the max player (claim C22), consensus optimisation's
regulariser γ·∇½‖F‖² = γJᵀF (Mescheder, Nowozin & Geiger 2017, "The numerics of
GANs") and symplectic gradient adjustment's λAᵀF, A = (J − Jᵀ)/2 the field's
antisymmetric part (Balduzzi et al. 2018, "The mechanics of n-player
differentiable games").  The plain field is F = Mz with M = [[0, A], [−Aᵀ, μI]];
with both cures

F = (M + γMᵀM + λSᵀM)·(x, y),  S = (M − Mᵀ)/2

.. math::

    J = M + γM^TM + λS^TM,\qquad M = \begin{pmatrix} 0 & A \\ −A^T & μI \end{pmatrix}.

whose Jacobian (``hess``) is that matrix.  Without cures, M's eigenvalues are ±i
times A's singular values: the gradient flow circles, simultaneous GDA spirals out
by √(1 + h²σ²) per step (Zhang et al. 2022, "Near-optimal local convergence of
alternating gradient descent-ascent"), alternating GDA stays on a conserved
ellipse.  With μ > 0 (n = 1): θ̈ + μθ̇ + θ = 0, eigenvalues (−μ ± √(μ² − 4))/2.
``value`` is f = xᵀAy − (μ/2)‖y‖² (the cures change the field, not the game).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def plain(i, j, n, p):
    # M[i, j] of the plain field F = Mz; p = (mu, gamma, sga, A row-major).
    if i < n:
        if j < n:
            return 0.0
        return p[3 + i * n + (j - n)]
    if j < n:
        return -p[3 + j * n + (i - n)]
    return p[0] if i == j else 0.0


@kernel
def field_matrix(i, j, n, p):
    # T[i, j] = M[i, j] + Σ_k (γ M[k, i] + λ S[k, i]) M[k, j]
    total = plain(i, j, n, p)
    gamma, sga = p[1], p[2]
    if gamma != 0.0 or sga != 0.0:
        for k in range(2 * n):
            m_ki = plain(k, i, n, p)
            weight = gamma * m_ki + sga * 0.5 * (m_ki - plain(i, k, n, p))
            total += weight * plain(k, j, n, p)
    return total


@kernel
def value(x, p):
    n = x.shape[0] // 2
    f = 0.0
    for i in range(n):
        for j in range(n):
            f += x[i] * p[3 + i * n + j] * x[n + j]
        f -= 0.5 * p[0] * x[n + i] * x[n + i]
    return f


@kernel
def grad(x, p, out):
    n = x.shape[0] // 2
    if p[1] != 0.0 or p[2] != 0.0:  # with the cures: the whole matrix, O(n³)
        for i in range(2 * n):
            total = 0.0
            for j in range(2 * n):
                total += field_matrix(i, j, n, p) * x[j]
            out[i] = total
        return
    # the plain field (Ay, −Aᵀx + μy), O(n²)
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += p[3 + i * n + j] * x[n + j]
        out[i] = total
    for i in range(n):
        total = p[0] * x[n + i]
        for j in range(n):
            total -= p[3 + j * n + i] * x[j]
        out[n + i] = total


@kernel
def hess(x, p, out):
    n = x.shape[0] // 2
    for i in range(2 * n):
        for j in range(2 * n):
            out[i, j] = field_matrix(i, j, n, p)


def _n(params):
    size = len(params["a"])
    n = math.isqrt(size)
    return n if n * n == size else None


def _check(dim, params):
    n = _n(params)
    if n is None:
        return (
            f"a must hold n² numbers (an n×n matrix, row-major), got {len(params['a'])}"
        )
    if dim != 2 * n:
        return f"a is {n}×{n}: the dimension must be {2 * n}, got {dim}"
    return None


def _pack(dim, params):
    return np.concatenate(
        [[params["mu"], params["gamma"], params["sga"]], np.asarray(params["a"], float)]
    )


SURFACE = Surface(
    name="bilinear-game",
    description="The bilinear game xᵀAy (+ L2 μ, consensus γ, SGA λ): a rotation",
    module=__name__,
    formula="F = (Ay, −Aᵀx + μy) (+ γJᵀF + λSᵀF)",
    params=(
        Param("a", (1.0,), "A, n×n row-major", kind="floats"),
        Param("mu", 0.0, "L2 penalty μ on y"),
        Param("gamma", 0.0, "consensus optimisation's γ (adds γJᵀF)"),
        Param("sga", 0.0, "symplectic gradient adjustment's λ (adds λSᵀF)"),
    ),
    dim=None,
    default_dim=2,
    min_dim=2,
    infer_dim=lambda params: None if _n(params) is None else 2 * _n(params),
    check=_check,
    pack=_pack,
    bounds=lambda dim, params: ([-1.5] * dim, [1.5] * dim),
    x0=lambda dim, params: np.concatenate([np.ones(dim // 2), np.zeros(dim // 2)]),
    minima=lambda dim, params: [Minimum(np.zeros(dim), 0.0)],
    curvature=lambda dim, params: float(
        np.max(np.abs(np.linalg.svd(np.reshape(params["a"], (dim // 2,) * 2))[1]))
        + abs(params["mu"])
    ),
    bounded_below=False,
    symmetric=False,
    players=("x", "y"),
    references="Zhang et al. (2022); Mescheder et al. (2017); Balduzzi et al. (2018)",
)
