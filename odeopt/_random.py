r"""Counter-based random numbers for the compiled loops: Philox4x32-10 and Box–Muller.

A noisy run must give the same bits whatever the number of threads, the split of a
batch into tasks, the layout of SIMD lanes, or whether a trajectory runs alone or in
a batch.  A generator with state (numba's per-thread ``np.random``) cannot promise
that; a *counter-based* one can: each random word is a pure function of a key and a
counter, so every draw is addressed, not consumed.

odeopt keys Philox with the run's 64-bit ``seed`` and addresses each pair of standard
normals by the counter ``(pair, stage | step_hi << 8, step_lo, path)``: the pair
index ``i // 2`` of the coordinate, the gradient evaluation (stage) within the step,
the step number ``k`` (up to :math:`2^{56}`) and the trajectory's ``path`` number.
One Philox block gives 128 bits: two 53-bit uniforms, turned into two independent
normals by the Box–Muller transform (coordinates ``2j`` and ``2j + 1``).

References: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, *Parallel random
numbers: as easy as 1, 2, 3*, SC'11 (2011) — Philox and its known-answer vectors;
G. E. P. Box, M. E. Muller, *A note on the generation of random normal deviates*,
Ann. Math. Statist. 29 (1958).
"""

import math

import numpy as np

from ._jit import kernel

#: Largest seed and path number (the counter and key fields hold them).
MAX_SEED = 2**63 - 1
MAX_PATH = 2**32 - 1


@kernel
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter (c0..c3) under the key (k0, k1), all uint32 held in
    uint64: the four output words."""
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
def normal_pair(seed, path, k, stage, pair):
    """Two independent standard normals addressed by (seed, path, step k, stage,
    pair): Box–Muller on the two 53-bit uniforms of one Philox block."""
    mask = np.uint64(0xFFFFFFFF)
    key = np.uint64(seed)
    step = np.uint64(k)
    w0, w1, w2, w3 = philox4x32(
        np.uint64(pair) & mask,
        (np.uint64(stage) & np.uint64(0xFF))
        | ((step >> np.uint64(32)) << np.uint64(8)),
        step & mask,
        np.uint64(path) & mask,
        key & mask,
        key >> np.uint64(32),
    )
    # 53 bits each (MT19937's genrand_res53 layout); u1 in (0, 1] for the log.
    scale = 1.0 / 9007199254740992.0  # 2**-53
    n1 = (w0 >> np.uint64(5)) * np.uint64(67108864) + (w1 >> np.uint64(6))
    n2 = (w2 >> np.uint64(5)) * np.uint64(67108864) + (w3 >> np.uint64(6))
    u1 = (float(n1) + 1.0) * scale
    u2 = float(n2) * scale
    radius = math.sqrt(-2.0 * math.log(u1))
    angle = 6.283185307179586 * u2
    return radius * math.cos(angle), radius * math.sin(angle)


@kernel
def fill_normals(xi, seed, path, k, stage):
    """Standard normals for every coordinate of one gradient evaluation."""
    n = xi.shape[0]
    for j in range((n + 1) // 2):
        z0, z1 = normal_pair(seed, path, k, stage, j)
        xi[2 * j] = z0
        if 2 * j + 1 < n:
            xi[2 * j + 1] = z1
