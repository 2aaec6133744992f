r"""Counter-based random numbers for the compiled loops: Philox4x32-10 and a ziggurat.

A noisy run must give the same bits whatever the number of threads, the split of a
batch into tasks, the layout of SIMD lanes, or whether a trajectory runs alone or in
a batch.  A generator with state (numba's per-thread ``np.random``) cannot promise
that; a *counter-based* one can: each random word is a pure function of a key and a
counter, so every draw is addressed, not consumed.

odeopt keys Philox with the run's 64-bit ``seed`` and addresses each pair of standard
normals by the counter ``(pair | retry << 24, stage | step_hi << 8, step_lo, path)``:
the pair index ``i // 2`` of the coordinate, the gradient evaluation (stage) within
the step, the step number ``k`` (up to :math:`2^{56}`) and the trajectory's ``path``
number.  One Philox block gives two 64-bit words; each becomes one normal
(coordinates ``2j`` and ``2j + 1``) by the ziggurat method: 7 bits choose one of 128
layers of equal area, 53 bits a signed uniform, and 98.8 % of words are accepted by
one comparison.  A rejected candidate draws further blocks, addressed by the same
counter with a retry tag ``(slot, retry)`` in its top byte, so the draw stays a pure
function of its address.  A Box–Muller pair costs a log, a square root, a sine and a
cosine; the ziggurat's common path costs a table read and a multiply (22 ns against
46 ns a pair, measured on the development machine).

References: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, *Parallel random
numbers: as easy as 1, 2, 3*, SC'11 (2011) — Philox and its known-answer vectors;
G. Marsaglia, W. W. Tsang, *The ziggurat method for generating random variables*,
J. Stat. Softw. 5(8) (2000) — the 128 layers, R and V; J. A. Doornik, *An improved
ziggurat method to generate normal random samples* (2005) — the table layout and the
wedge test; G. Marsaglia, *Generating a variable from the tail of the normal
distribution*, Technometrics 6 (1964) — the tail.
"""

import math

import numpy as np

from ._jit import kernel

#: Largest seed and path number (the counter and key fields hold them).
MAX_SEED = 2**63 - 1
MAX_PATH = 2**32 - 1
#: Most coordinates a noisy gradient may have (the counter's pair field has 24 bits).
MAX_DIM = 2**25


@kernel
def _philox_round(c0, c1, c2, c3, k0, k1):
    """One Philox4x32 round: two 32 × 32 → 64-bit products and a permutation."""
    # (uint64 throughout: numba types a plain int as int64, and uint64 × int64 is a
    # float64; no-ops when the words are uint64 already.)
    c0, c1, c2, c3 = np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    mask = np.uint64(0xFFFFFFFF)
    p0 = np.uint64(0xD2511F53) * c0
    p1 = np.uint64(0xCD9E8D57) * c2
    return (
        (p1 >> np.uint64(32)) ^ c1 ^ k0,
        p1 & mask,
        (p0 >> np.uint64(32)) ^ c3 ^ k1,
        p0 & mask,
    )


@kernel
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter (c0..c3) under the key (k0, k1), all uint32 held in
    uint64: the four output words."""
    # (Written out, the ten rounds did not vectorise a loop over lanes either: the
    # lanes' draw stays scalar, measured; its gain is in drawing outside the step.)
    mask = np.uint64(0xFFFFFFFF)
    c0, c1, c2, c3 = c0 & mask, c1 & mask, c2 & mask, c3 & mask
    for _ in range(9):
        c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, k0, k1)
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return _philox_round(c0, c1, c2, c3, k0, k1)


def _ziggurat_tables(
    layers: int = 128, r: float = 3.442619855899, v: float = 9.91256303526217e-3
) -> tuple[np.ndarray, np.ndarray]:
    """The layer edges ``x`` and acceptance ratios ``x[i+1]/x[i]`` of the ziggurat.

    Marsaglia & Tsang's 128 layers of equal area ``v`` under f(x) = exp(−x²/2), in
    Doornik's layout: layer 0 (the base strip with the tail) has the width ``v/f(r)``
    it would need as a rectangle, ``x[1] = r`` and ``x[i+1] = f⁻¹(v/x[i] + f(x[i]))``
    up to ``x[layers] = 0``.
    """
    x = np.empty(layers + 1)
    x[0] = v / math.exp(-0.5 * r * r)
    x[1] = r
    for i in range(2, layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + math.exp(-0.5 * x[i - 1] ** 2)))
    x[layers] = 0.0
    return x, x[1:] / x[:-1]


# Built once from the three numbers above: numba freezes global arrays into the
# compiled code, and the runner's stamp hashes this file, so they cannot go stale.
ZIGGURAT_X, ZIGGURAT_RATIO = _ziggurat_tables()
ZIGGURAT_R = ZIGGURAT_X[1]
#: Retry blocks one normal may draw before it returns its last candidate (each
#: retry happens with probability ≈ 0.012, so 127 in a row never does).
MAX_RETRIES = 127


@kernel
def _block(seed, path, k, stage, counter):
    """The Philox block of (seed, path, step k, stage, counter) as two 64-bit words."""
    mask = np.uint64(0xFFFFFFFF)
    key = np.uint64(seed)
    step = np.uint64(k)
    w0, w1, w2, w3 = philox4x32(
        counter,
        (np.uint64(stage) & np.uint64(0xFF))
        | ((step >> np.uint64(32)) << np.uint64(8)),
        step & mask,
        np.uint64(path) & mask,
        key & mask,
        key >> np.uint64(32),
    )
    return (w0 << np.uint64(32)) | w1, (w2 << np.uint64(32)) | w3


@kernel
def _ziggurat(word, seed, path, k, stage, pair, slot):
    """One standard normal from a 64-bit word; rejected candidates draw retry blocks
    tagged ``(slot, retry)`` in the counter's top byte."""
    scale = 1.0 / 9007199254740992.0  # 2**-53
    retry = 0
    while True:
        layer = np.int64(word & np.uint64(127))
        u = 2.0 * float(word >> np.uint64(11)) * scale - 1.0
        candidate = u * ZIGGURAT_X[layer]
        # Inside the layer's rectangle under the curve: 98.8 % of draws end here.
        if abs(u) < ZIGGURAT_RATIO[layer] or retry == MAX_RETRIES:
            return candidate
        retry += 1
        tag = np.uint64(slot * 128 + retry) << np.uint64(24)
        a, b = _block(seed, path, k, stage, np.uint64(pair) | tag)
        if layer == 0:
            # The tail beyond R (Marsaglia 1964): x = −ln(U₁)/R, accepted when
            # −2 ln U₂ ≥ x²; each try takes a block of its own.
            while True:
                x = -math.log((float(a >> np.uint64(11)) + 1.0) * scale) / ZIGGURAT_R
                y = -math.log((float(b >> np.uint64(11)) + 1.0) * scale)
                if y + y >= x * x or retry == MAX_RETRIES:
                    return ZIGGURAT_R + x if u > 0.0 else -(ZIGGURAT_R + x)
                retry += 1
                tag = np.uint64(slot * 128 + retry) << np.uint64(24)
                a, b = _block(seed, path, k, stage, np.uint64(pair) | tag)
        # The wedge between the layer's edges: accept when a uniform height between
        # f(x[i+1]) and f(x[i]) lies under f(candidate), all relative to f(candidate).
        f0 = math.exp(-0.5 * (ZIGGURAT_X[layer] ** 2 - candidate * candidate))
        f1 = math.exp(-0.5 * (ZIGGURAT_X[layer + 1] ** 2 - candidate * candidate))
        if f1 + float(a >> np.uint64(11)) * scale * (f0 - f1) < 1.0:
            return candidate
        word = b


@kernel
def normal_pair(seed, path, k, stage, pair):
    """Two independent standard normals addressed by (seed, path, step k, stage,
    pair): the ziggurat on each 64-bit half of one Philox block."""
    a, b = _block(seed, path, k, stage, np.uint64(pair))
    return (
        _ziggurat(a, seed, path, k, stage, pair, 0),
        _ziggurat(b, seed, path, k, stage, pair, 1),
    )


@kernel
def fill_normals(xi, seed, path, k, stage):
    """Standard normals for every coordinate of one gradient evaluation."""
    n = xi.shape[0]
    for j in range((n + 1) // 2):
        z0, z1 = normal_pair(seed, path, k, stage, j)
        xi[2 * j] = z0
        if 2 * j + 1 < n:
            xi[2 * j + 1] = z1


@kernel
def _accepted(word):
    """The ziggurat's common case: the candidate of ``word`` when it lies inside its
    layer's rectangle, NaN otherwise."""
    layer = np.int64(word & np.uint64(127))
    u = 2.0 * float(word >> np.uint64(11)) * (1.0 / 9007199254740992.0) - 1.0
    candidate = u * ZIGGURAT_X[layer]
    return candidate if abs(u) < ZIGGURAT_RATIO[layer] else np.nan


@kernel
def fill_normals_lanes(xi, seed, paths, k, stage):
    """:func:`fill_normals` for many paths at once: ``xi[i, lane]`` is coordinate ``i``
    of path ``paths[lane]`` (``paths``: uint64).  One pass over the lanes computes
    every Philox block and keeps the candidates accepted at once, a second redraws the
    rare rejected ones: the same numbers as one path at a time."""
    n, lanes = xi.shape
    for j in range((n + 1) // 2):
        for lane in range(lanes):
            a, b = _block(seed, paths[lane], k, stage, np.uint64(j))
            xi[2 * j, lane] = _accepted(a)
            if 2 * j + 1 < n:
                xi[2 * j + 1, lane] = _accepted(b)
    for j in range((n + 1) // 2):
        for lane in range(lanes):
            # NaN marks a candidate outside its rectangle (a normal never is NaN).
            first = np.isnan(xi[2 * j, lane])
            second = 2 * j + 1 < n and np.isnan(xi[2 * j + 1, lane])
            if first or second:
                a, b = _block(seed, paths[lane], k, stage, np.uint64(j))
                if first:
                    xi[2 * j, lane] = _ziggurat(a, seed, paths[lane], k, stage, j, 0)
                if second:
                    xi[2 * j + 1, lane] = _ziggurat(
                        b, seed, paths[lane], k, stage, j, 1
                    )
