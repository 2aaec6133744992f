r"""Real minibatches of a finite sum: :math:`\hat g = \frac1B\sum_{j<B}\nabla\ell_{i_j}`.

On a finite-sum surface :math:`L(\theta) = \frac1n\sum_{i<n}\ell_i(\theta)` (one that
declares the per-sample gradient ``sample_grad``: ``least-squares``, ``logistic``)
each step draws ``B`` indices and the optimizer sees the mean of their gradients —
what a practitioner's SGD computes.  The indices of step ``k`` of path ``p`` are a
pure function of ``(seed, p, k, j)`` through Philox4x32-10 (Salmon, Moraes, Dror &
Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3"), so a run gives the same
bits on any thread count, alone or in a batch's lanes.  Every stage of a step (the
look-ahead of a multi-stage method) uses the step's minibatch.

``--noise minibatch`` (``replacement = 0``, the default): sampling **without
replacement by epochs with shuffling**, as ``torch.utils.data.DataLoader(shuffle=True,
drop_last=True)`` does.  Epoch ``e`` covers steps ``e·m + 1 .. (e + 1)·m`` with
``m = ⌊n/B⌋``; step ``k`` takes positions ``rB .. rB + B − 1``
(``r = (k − 1) mod m``) of a random permutation :math:`\pi_e` of ``0 .. n − 1``,
drawn afresh each epoch; the ``n mod B`` samples at the end of a permutation are
left out of that epoch.  :math:`\pi_e(x)` is computed on its own, without storing
the permutation, in ``O(log n)`` Philox calls: the swap-or-not shuffle of Hoang,
Morris & Rogaway 2012, "An enciphering scheme based on a card shuffle", which works
on any domain size.  (A Feistel network walked back into range, the usual
alternative, was measured to pair consecutive positions unevenly on small ``n``.)  With ``B = n`` each step sees every sample once: full-batch gradient
descent, up to the order of the sum.

``--noise minibatch:1`` (``replacement = 1``): each index uniform on ``0 .. n − 1``,
independently: ``⌊u·n⌋`` for a 53-bit uniform ``u`` (its bias, at most
``n/2^{53}`` in any probability, is far below what any test resolves).

The gradient noise has mean zero; its covariance at θ is
:math:`\frac1B\,\Sigma(\theta)` with replacement and
:math:`\frac{n - B}{(n - 1)B}\,\Sigma(\theta)` without, where
:math:`\Sigma = \frac1n\sum_i (\nabla\ell_i - \nabla L)(\nabla\ell_i - \nabla L)^\top`
(:func:`gradient_covariance`).  Its diffusion approximation is the SME of
Li, Tai & E 2017, "Stochastic modified equations and adaptive stochastic gradient
algorithms", with this covariance.
"""

import numpy as np

from .._jit import kernel, python_function
from ..surfaces._base import Param
from ._base import NoiseError, NoiseModel

NEEDS_HESSIAN = False
#: The runner asks this model for indices and sums the surface's sample gradients.
SAMPLES_GRADIENT = True


@kernel
def perturb(out, x, xi, q, H):
    # Not called: the runner builds the minibatch gradient itself (SAMPLES_GRADIENT).
    return


@kernel
def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al. 2011), as ``odeopt._random.philox4x32``: a copy,
    because kernels are cached per file and may call only kernels of their own
    (``tests/test_noise_minibatch.py`` checks the two agree on the published
    known-answer vectors)."""
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0 = p0 >> np.uint64(32)
        hi1 = p1 >> np.uint64(32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, p1 & mask, hi0 ^ c3 ^ k1, p0 & mask
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return c0, c1, c2, c3


@kernel
def _word(seed, path, counter, stream, tweak):
    """One 64-bit random word addressed by (seed, path, counter, stream, tweak):
    stream 0xFF for indices drawn with replacement, 0xFE for the keys of the
    shuffle's rounds, the round number for its swap bits."""
    mask = np.uint64(0xFFFFFFFF)
    key = np.uint64(seed)
    c = np.uint64(counter)
    w0, w1, _w2, _w3 = philox(
        np.uint64(tweak) & mask,
        (np.uint64(stream) & np.uint64(0xFF)) | ((c >> np.uint64(32)) << np.uint64(8)),
        c & mask,
        np.uint64(path) & mask,
        key & mask,
        key >> np.uint64(32),
    )
    return (w0 << np.uint64(32)) | w1


@kernel
def permuted(x, n, seed, path, epoch):
    r""":math:`\pi_{epoch}(x)`: a pseudorandom permutation of ``0 .. n − 1``, the
    swap-or-not shuffle (Hoang, Morris & Rogaway 2012) with ``6⌈log₂ n⌉ + 6``
    rounds: round ``r`` draws a key ``K_r`` uniform on ``0 .. n − 1`` and pairs
    ``x`` with ``K_r − x mod n``; a random bit of the pair decides the swap."""
    if n <= 1:
        return np.int64(0)
    bits = 0
    while (1 << bits) < n:
        bits += 1
    value = np.int64(x)
    size = np.int64(n)
    for r in range(6 * bits + 6):
        key = np.int64(_word(seed, path, epoch, 0xFE, r) % np.uint64(size))
        partner = (key - value) % size
        top = max(value, partner)  # the pair's name: the same for both members
        if _word(seed, path, epoch, r, top) >> np.uint64(63):
            value = partner
    return value


@kernel
def draw_index(seed, path, k, j, n, q):
    """Index ``j`` of step ``k``'s minibatch (q = (B, replacement))."""
    batch = int(q[0])
    if q[1] != 0.0:
        w = _word(seed, path, k, 0xFF, j)
        u = float(w >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        index = np.int64(u * n)
        return index if index < n else np.int64(n - 1)
    per_epoch = n // batch
    epoch = (k - 1) // per_epoch
    position = ((k - 1) % per_epoch) * batch + j
    return permuted(position, n, seed, path, epoch)


def sample_count(surface) -> int:
    """``n``, the number of samples of a finite-sum surface (NoiseError if it is
    not one)."""
    kernels = surface.surface.kernels
    if not hasattr(kernels, "sample_grad"):
        raise NoiseError(
            f"noise minibatch needs a finite-sum surface (least-squares, logistic); "
            f"{surface.name} has no per-sample gradient"
        )
    return int(python_function(kernels.n_samples)(surface.p))


def sample_gradients(surface, theta) -> np.ndarray:
    """The per-sample gradients :math:`\\nabla\\ell_i(\\theta)`, shape (n, dim)."""
    n = sample_count(surface)
    grad = python_function(surface.surface.kernels.sample_grad)
    theta = np.asarray(theta, dtype=float)
    out = np.zeros((n, surface.dim))
    for i in range(n):
        grad(theta, surface.p, i, out[i])
    return out


def gradient_covariance(
    surface, theta, batch_size: int, replacement: bool
) -> np.ndarray:
    r"""The covariance of the minibatch gradient at ``theta``:
    :math:`\Sigma/B` with replacement, :math:`\frac{n-B}{n-1}\Sigma/B` without
    (the finite-population correction; Cochran 1977, "Sampling techniques")."""
    g = sample_gradients(surface, theta)
    n = g.shape[0]
    centred = g - g.mean(axis=0)
    sigma = centred.T @ centred / n
    factor = 1.0 if replacement else (n - batch_size) / max(n - 1, 1)
    return factor * sigma / batch_size


def _check_surface(surface, batch_size):
    if not hasattr(surface.surface.kernels, "sample_grad"):
        return (
            f"needs a finite-sum surface (least-squares, logistic); {surface.name} "
            "has no per-sample gradient"
        )
    n = sample_count(surface)
    if batch_size > n:
        return f"batch size {batch_size} is larger than the data set (n = {n})"
    return None


def _check(dim, params):
    if params["replacement"] not in (0, 1):
        return f"replacement must be 0 (epochs, shuffled) or 1, got {params['replacement']}"
    return None


def _no_covariance(theta, params, dim, hess):
    raise NoiseError(
        "the minibatch covariance depends on the data: use "
        "odeopt.noise.minibatch.gradient_covariance(surface, theta, B, replacement)"
    )


NOISE = NoiseModel(
    name="minibatch",
    description="real minibatches of a finite-sum surface (epochs, or with replacement)",
    module=__name__,
    formula="(1/n)Σᵢ(∇ℓᵢ − ∇L)(∇ℓᵢ − ∇L)ᵀ",
    params=(
        Param(
            "replacement",
            0,
            "0: without replacement, by shuffled epochs; 1: with replacement",
            kind="int",
        ),
    ),
    pack=lambda dim, params, batch: np.array(
        [float(batch), float(params["replacement"])]
    ),
    covariance=_no_covariance,
    check=_check,
    samples_gradient=True,
    check_surface=_check_surface,
)
