r"""Sweeps: one optimizer over an N-D grid of settings, as a labelled xarray Dataset.

``sweep("momentum", "quadratic", grid={"lr": ..., "momentum": ...})`` runs every cell of
the grid (the Cartesian product of the axes) and returns an :class:`xarray.Dataset`
whose dimensions are the axes.  An axis is any of

* a hyperparameter of the optimizer (``lr``, ``momentum``, ...): the cells of one
  surface share one :func:`~odeopt.run_batch` call, each cell's hyperparameters in
  its own SIMD lane;
* a surface parameter (``kappa``, ``a``, ...): one batch per value;
* a start coordinate ``start_0``, ``start_1``, ... (a grid of starts, for basins of
  attraction), or ``starts=`` a list of start points (axis ``start``);
* ``seed``, the noise seed (with ``noise=``), or ``seeds=`` a list.

Every cell is the run :func:`~odeopt.run` gives for its settings, bit for bit (the
cells are run_batch trajectories).  Per cell the Dataset holds

``status``, ``steps_done``
    how the run ended (``converged``, ``max_steps``, ``diverged``) and where;
``final_theta`` (dim ``coord``), ``final_loss``
    the end point;
``basin``, ``distance``
    the index of the declared minimum (``minimum_theta``) nearest the end point when
    it lies within ``basin_tol`` of it, else -1; and the distance to the nearest;
``rate``
    the linear rate ρ over the tail: with :math:`e_k = \|\theta_k - \theta^*\|`
    (θ* the minimum nearest the last finite point) recorded at steps
    :math:`k_j`, the valid records (finite, above the round-off floor) are cut to
    their second half, and two windows :math:`W_1, W_2` of a quarter of it each, one
    :math:`\Delta` steps after the other, give
    :math:`\rho = (\sum_{W_2} e_k^2 / \sum_{W_1} e_k^2)^{1/(2\Delta)}`.  For an error
    :math:`e_k = C\rho^k|\cos(k\varphi + \psi)|` (the complex roots of a momentum
    map) the sums of :math:`\cos^2` over the windows differ by O(1) against their
    length, so the estimate errs by :math:`O(1/(|W|\Delta))`, where a plain ratio
    of two points errs by :math:`O(1/\Delta)`;
``sharpness``, ``edge_ratio``
    the largest Hessian eigenvalue met at the recorded points, and
    :math:`\text{sharpness}\cdot\eta/2`: above 1 the run met curvature above the
    edge of stability :math:`2/\eta` of gradient descent (Cohen et al. 2021,
    "Gradient descent on neural networks typically occurs at the edge of
    stability").

The attrs carry every setting, the fixed hyperparameters and the versions, as JSON
where a value is not a number or a string.  :func:`save_sweep` writes NetCDF4
(``.nc``, h5netcdf engine), Zarr (``.zarr``) or a tidy CSV (``.csv``, one row per cell,
the attrs on a ``#`` first line); :func:`load_sweep` reads each back.

**Divergence for maps.**  A run above its stability edge grows geometrically, but
from a start near the minimum it passes ``max_norm`` (1e100) only after hundreds of
steps, or never within the steps given.  ``divergence="rate"`` (opt-in; a run's own
bits are never changed) also marks a cell ``diverged`` when its tail rate exceeds 1
and its final error exceeds its first: the error grows.

xarray and h5netcdf come with the optional extra ``sweep``
(``pip install 'odeopt-sim[sweep]'``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError, OutputError, RunError, UnknownNameError

#: Records per trajectory kept for the rate, the divergence test and the sharpness:
#: every step up to this many steps (a stride k > 1 samples an oscillating error
#: e_k ∝ ρ^k|cos(kφ + ψ)| at kφ, which aliases when kφ nears a multiple of π).
DEFAULT_RECORDS = 1000
#: Bytes of records one run_batch call may hold: bounds a chunk's trajectories
#: (and paces progress and Ctrl-C).
CHUNK_BYTES = 1 << 27
#: At most this many trajectories per run_batch call.
CHUNK_TRAJECTORIES = 65536
#: Valid errors lie above this fraction of the minimum's norm (round-off of θ near
#: θ* is about 1e-16·|θ*|) and above an absolute floor short of underflow.
RELATIVE_FLOOR = 1e-10
ABSOLUTE_FLOOR = 1e-250
#: Fewest valid records the rate estimate needs (two windows of 2).
MIN_RATE_RECORDS = 8

#: Passes of the envelope-flattened rate estimate (each shrinks its error ~10×).
RATE_PASSES = 6

STATUS_CODES = ("max_steps", "converged", "diverged")
_START_AXIS = re.compile(r"^start_(\d+)$")


def _require_xarray():
    try:
        import xarray
    except ImportError:
        raise InputError(
            "sweeps need xarray and h5netcdf: pip install 'odeopt-sim[sweep]'"
        ) from None
    return xarray


# -- axes ------------------------------------------------------------------------------
def _axis_values(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array[None]
    if array.ndim != 1:
        raise InputError(f"grid axis {name}: give a 1-D list of values")
    if array.size == 0:
        raise InputError(f"grid axis {name} is empty")
    if not np.all(np.isfinite(array)):
        raise InputError(f"grid axis {name}: values must be finite")
    return array


def _classify(name: str, optimizer, surface, dim: int) -> str:
    """``hp``, ``surface``, ``start`` or ``seed``; an unknown name raises."""
    hp_names = [h.name for h in optimizer.hyperparameters]
    if name in hp_names:
        return "hp"
    if name in surface.param_names():
        return "surface"
    if name == "seed":
        return "seed"
    match = _START_AXIS.match(name)
    if match and int(match.group(1)) < dim:
        return "start"
    from .registry import unknown_name

    valid = [*hp_names, *surface.param_names(), *(f"start_{i}" for i in range(dim))]
    valid.append("seed")
    raise UnknownNameError(
        unknown_name(f"grid axis for {optimizer.name} on {surface.name}", name, valid)
    )


# -- per-cell measurements ---------------------------------------------------------------
def _tail_rate(errors: np.ndarray, record_steps: np.ndarray, floor: np.ndarray):
    """The tail rate of each row of ``errors`` (n, R) recorded at ``record_steps``."""
    n, r = errors.shape
    rates = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        log_e = np.log(errors)
        valid = np.isfinite(log_e) & (errors > floor[:, None]) & (errors < 1e150)
    # The valid records form a prefix of the run (a converging error falls below
    # the floor for good; a diverging one overflows): its length per row.
    prefix = np.where(valid.all(axis=1), r, np.argmin(valid, axis=1))
    for length in np.unique(prefix):
        if length < MIN_RATE_RECORDS:
            continue
        rows = prefix == length
        tail = length - length // 2
        width = tail // 4
        first = length // 2
        second = length - width
        span = record_steps[second] - record_steps[first]
        if span <= 0:
            continue
        w1 = log_e[rows, first : first + width]
        w2 = log_e[rows, second : second + width]
        offsets = (record_steps[first : first + width] - record_steps[first])[None, :]
        # Flatten each window's envelope by the current estimate so that every
        # record weighs alike and cos² averages out (see the module docstring);
        # a fixed point reached in a few passes.
        log_rate = np.zeros(w1.shape[0])
        for _ in range(RATE_PASSES):
            flat = offsets * log_rate[:, None]
            l1 = _log_sum_exp(2.0 * (w1 - flat))
            l2 = _log_sum_exp(2.0 * (w2 - flat))
            log_rate = (l2 - l1) / (2.0 * span)
        rates[rows] = np.exp(log_rate)
    return rates


def _log_sum_exp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1)
    return top + np.log(np.exp(x - top[:, None]).sum(axis=1))


_HESSIAN_KERNELS: dict = {}
#: Hessians held at once while measuring the sharpness (doubles).
HESSIAN_BLOCK = 1 << 22


def _hessian_kernel(surface_module):
    """A jitted ``(points (n, R, dim), p, out (n, R, dim, dim))`` filling Hessians
    (NaN where a point is not finite)."""
    key = surface_module.__name__
    if key not in _HESSIAN_KERNELS:
        import numba

        from ._jit import jit_module

        hess = jit_module(surface_module).hess

        @numba.njit(nogil=True)
        def fill(points, p, out):  # pragma: no cover - compiled
            n, records, d = points.shape
            for i in range(n):
                for j in range(records):
                    finite = True
                    for k in range(d):
                        if not np.isfinite(points[i, j, k]):
                            finite = False
                    if finite:
                        hess(points[i, j], p, out[i, j])
                    else:
                        out[i, j, :, :] = np.nan

        _HESSIAN_KERNELS[key] = fill
    return _HESSIAN_KERNELS[key]


def _sharpness(theta: np.ndarray, bound_surface) -> np.ndarray:
    """Largest Hessian eigenvalue over each row's points ``theta`` (n, R, dim)."""
    n, records, dim = theta.shape
    fill = _hessian_kernel(bound_surface.surface.kernels)
    out = np.full(n, np.nan)
    rows = max(1, HESSIAN_BLOCK // max(1, records * dim * dim))
    for r0 in range(0, n, rows):
        block = np.ascontiguousarray(theta[r0 : r0 + rows])
        h = np.empty((*block.shape, dim))
        fill(block, bound_surface.p, h)
        with np.errstate(all="ignore"):
            if dim == 1:
                top = h[..., 0, 0]
            elif dim == 2:
                # The larger root of a symmetric 2x2 matrix, in closed form.
                mean = 0.5 * (h[..., 0, 0] + h[..., 1, 1])
                half = 0.5 * (h[..., 0, 0] - h[..., 1, 1])
                top = mean + np.sqrt(half * half + h[..., 0, 1] * h[..., 1, 0])
            else:
                sym = 0.5 * (h + np.swapaxes(h, -1, -2))
                good = np.isfinite(sym).all(axis=(-1, -2))
                top = np.full(good.shape, np.nan)
                top[good] = np.linalg.eigvalsh(sym[good])[..., -1]
            top = np.where(np.isfinite(top), top, -np.inf).max(axis=1)
        out[r0 : r0 + rows] = np.where(np.isfinite(top), top, np.nan)
    return out


def _measure(batch, bound_surface, record_steps, basin_tol, divergence, lrs):
    """Per-trajectory measurements of one run_batch result (rows = (h, s) flat)."""
    n_h, n_s, dim = batch.final_theta.shape
    if batch.theta is None:  # records=0: the start and the end point only
        theta = np.stack(
            [np.tile(batch.starts, (n_h, 1)), batch.final_theta.reshape(-1, dim)], 1
        )
    else:
        theta = batch.theta.reshape(n_h * n_s, -1, dim)
    final = batch.final_theta.reshape(n_h * n_s, dim)
    status = batch.status.reshape(-1).copy()
    minima = np.array([m.theta for m in bound_surface.minima], dtype=float)
    out: dict[str, np.ndarray] = {}
    n = final.shape[0]
    with np.errstate(all="ignore"):
        if minima.size:
            minima = minima.reshape(-1, dim)
            # The last finite record of each row picks the minimum that row nears.
            finite = np.isfinite(theta).all(axis=2)
            last = np.where(
                finite.any(axis=1),
                finite.shape[1] - 1 - np.argmax(finite[:, ::-1], 1),
                0,
            )
            anchor = theta[np.arange(n), last]
            to_final = np.linalg.norm(final[:, None, :] - minima[None], axis=2)
            nearest = np.argmin(np.where(np.isfinite(to_final), to_final, np.inf), 1)
            distance = to_final[np.arange(n), nearest]
            basin = np.where(
                (distance <= basin_tol) & (status != "diverged"), nearest, -1
            )
            to_anchor = np.linalg.norm(anchor[:, None, :] - minima[None], axis=2)
            target = minima[
                np.argmin(np.where(np.isnan(to_anchor), np.inf, to_anchor), 1)
            ]
            errors = np.linalg.norm(theta - target[:, None, :], axis=2)
            floor = np.maximum(
                ABSOLUTE_FLOOR, RELATIVE_FLOOR * np.linalg.norm(target, axis=1)
            )
            rate = _tail_rate(errors, record_steps, floor)
            if divergence == "rate":
                grows = (errors[:, -1] > errors[:, 0]) & (status != "converged")
                # With a rate, it decides; without (too few records), the growth.
                grows &= np.where(np.isnan(rate), True, rate > 1.0)
                grows |= ~np.isfinite(errors[:, -1]) & (status != "converged")
                status = np.where(grows, "diverged", status)
                basin = np.where(grows, -1, basin)
        else:
            basin = np.full(n, -1)
            distance = np.full(n, np.nan)
            rate = np.full(n, np.nan)
    sharp = _sharpness(theta, bound_surface)
    out["status"] = status
    out["steps_done"] = batch.steps_done.reshape(-1)
    out["final_theta"] = final
    out["final_loss"] = batch.final_loss.reshape(-1)
    out["basin"] = basin.astype(np.int64)
    out["distance"] = distance
    out["rate"] = rate
    out["sharpness"] = sharp
    out["edge_ratio"] = sharp * np.repeat(lrs, n_s) / 2.0
    return out


# -- the sweep -----------------------------------------------------------------------------
def run_chunk(task: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
    """One chunk of a sweep: a pure function of its task (picklable: names, settings
    and a slice of the grid), so it runs the same in-process or on a dask worker.

    Returns the per-trajectory measurements (rows = (set, start) flat) and the bound
    hyperparameters of the chunk's first set.
    """
    from .registry import get_optimizer, get_surface
    from .stepper import run_batch

    if task.get("threads"):
        import numba

        numba.set_num_threads(min(int(task["threads"]), numba.config.NUMBA_NUM_THREADS))
    surf = task["surface"]
    surf = get_surface(surf) if isinstance(surf, str) else surf
    opt = task["optimizer"]
    opt = get_optimizer(opt) if isinstance(opt, str) else opt
    bound_surface = surf.bind(task["dim"], **task["surface_params"])
    batch = run_batch(
        opt,
        bound_surface,
        task["starts"],
        task["hyperparameters"],
        steps=task["steps"],
        record_every=task["every"] or None,
        tol=task["tol"],
        max_norm=task["max_norm"],
        noise=task["noise"],
        batch_size=task["batch_size"],
        seed=task["seed"],
        paths=task["paths"],
    )
    lrs = np.array([h.get("lr", np.nan) for h in batch.hyperparameters], float)
    measured = _measure(batch, bound_surface, task["record_steps"], task["basin_tol"],
                        task["divergence"], lrs)  # fmt: skip
    return measured, batch.hyperparameters[0]


def _run_distributed(tasks, store, workers, scheduler) -> None:
    """Run ``tasks`` on a dask cluster, storing each result as it completes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(
            "--workers/--scheduler need dask.distributed: pip install 'odeopt-sim[sweep]'"
        ) from None
    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError(
                f"cannot reach the dask scheduler at {scheduler!r}: {error}"
            ) from None
    else:
        if int(workers) < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        cluster = LocalCluster(
            n_workers=int(workers), threads_per_worker=1, processes=True,
            dashboard_address=None,
        )  # fmt: skip
        client = Client(cluster)
    try:
        futures = {}
        for key, task in tasks:
            futures[client.submit(run_chunk, task, pure=False)] = key
        for future in as_completed(futures):
            store(futures[future], *future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def sweep(
    optimizer: str,
    surface: str,
    grid: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    *,
    starts: np.ndarray | Sequence[Sequence[float]] | None = None,
    seeds: Sequence[int] | None = None,
    steps: int = 1000,
    hyperparameters: Mapping[str, Any] | None = None,
    surface_params: Mapping[str, Any] | None = None,
    dim: int | None = None,
    noise: str | None = None,
    batch_size: int | None = None,
    tol: float = 0.0,
    max_norm: float | None = None,
    divergence: str | None = None,
    records: int = DEFAULT_RECORDS,
    basin_tol: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_bytes: float | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
):
    """Run ``optimizer`` on ``surface`` at every cell of ``grid``; an xarray Dataset.

    Parameters
    ----------
    optimizer, surface : str
        Registry names (``surface`` may be an ``expr:`` formula).
    grid : mapping name -> 1-D values
        The axes, in the order of the Dataset's dimensions: hyperparameters, surface
        parameters, ``start_0`` ... (start coordinates) and ``seed``.
    starts : (n, dim) array, optional
        Start points as one axis ``start`` (instead of ``start_i`` axes).  Default:
        the surface's classic start.
    seeds : sequence of int, optional
        Noise seeds as an axis ``seed`` (with ``noise``).
    steps, tol, max_norm, dim, noise, batch_size
        As for :func:`~odeopt.run`.
    hyperparameters, surface_params : mapping, optional
        Fixed values for what is not an axis.
    divergence : {None, "rate"}
        ``"rate"`` also marks a run diverged when its error grows (see the module).
    records : int
        Records per trajectory (every ``ceil(steps / records)`` steps) for the
        rate, the divergence test and the sharpness.  0 records nothing (the
        fastest sweep): no rate, the sharpness at the start and end points, and
        ``divergence="rate"`` marks a run whose final error exceeds its first.
    basin_tol : float, optional
        Distance within which an end point has reached a minimum (default 1e-3 of
        the diagonal of the surface's box).
    progress : callable (done, total), optional
        Called after each chunk of trajectories.
    max_bytes : float, optional
        Refuse a sweep whose result would need more memory (default: half of this
        machine's).
    workers : int, optional
        Run the chunks on a dask.distributed ``LocalCluster`` of this many worker
        processes (one thread each).
    scheduler : str, optional
        Run the chunks on an existing dask cluster at this address.  Each chunk is
        :func:`run_chunk` of a picklable task (the names, the settings and a slice of
        the grid), so the Dataset equals the in-process one bit for bit.  Workers
        compile the steppers once into the shared disk caches (``ODEOPT_CACHE_DIR``,
        ``NUMBA_CACHE_DIR``: give a cluster's workers one shared folder).
    threads : int, optional
        numba threads of each chunk (default: numba's; a worker of a cluster uses
        ``NUMBA_NUM_THREADS``, which the nanny does not set: give it here).

    Raises
    ------
    InputError
        On an unknown axis (with the closest valid name), an empty axis, or a
        result too large for memory.
    """
    xr = _require_xarray()
    from . import __name__ as _package  # noqa: F401  (import order: registry loads)
    from .registry import get_optimizer, get_surface
    from .stepper import DEFAULT_MAX_NORM, _versions
    from .surfaces._base import _memory_bytes

    opt = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    surf = get_surface(surface) if isinstance(surface, str) else surface
    fixed_hp = dict(hyperparameters or {})
    fixed_sp = dict(surface_params or {})
    base_surface = surf.bind(dim, **fixed_sp)
    dim_ = base_surface.dim
    if divergence not in (None, "rate"):
        raise InputError(f"divergence must be None or 'rate', got {divergence!r}")
    steps = int(steps)
    if steps < 1:
        raise RunError(f"steps must be >= 1, got {steps}")
    records = int(records)
    if records < 0:
        raise RunError(f"records must be >= 0, got {records}")
    max_norm = DEFAULT_MAX_NORM if max_norm is None else float(max_norm)

    axes: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, values in (grid or {}).items():
        kinds[name] = _classify(str(name), opt, surf, dim_)
        axes[name] = _axis_values(name, values)
        if kinds[name] == "seed":
            axes[name] = axes[name].astype(np.int64)
    if seeds is not None:
        if "seed" in axes:
            raise InputError("give seeds either as a grid axis or as seeds=, not both")
        axes["seed"] = _axis_values("seed", seeds).astype(np.int64)
        kinds["seed"] = "seed"
    if "seed" in axes and noise is None:
        raise InputError("a seed axis needs noise= (a noise model)")
    start_list = None
    if starts is not None:
        if any(kind == "start" for kind in kinds.values()):
            raise InputError("give starts either as start_i axes or as starts=")
        start_list = np.asarray(starts, dtype=np.float64).reshape(-1, dim_)
        if start_list.shape[0] == 0:
            raise InputError("starts is empty")
        axes["start"] = np.arange(start_list.shape[0])
        kinds["start"] = "start_list"
    for name in fixed_hp:
        if kinds.get(name) == "hp":
            raise InputError(f"{name} is both an axis and a fixed hyperparameter")

    dims = list(axes)
    shape = tuple(axes[d].size for d in dims)
    cells = int(np.prod(shape, dtype=np.int64))
    need = cells * (8 * (dim_ + 8))
    limit = max_bytes if max_bytes is not None else (_memory_bytes() or 8e9) / 2
    if need > limit:
        raise InputError(
            f"the sweep has {cells} cells and needs about {need / 1e9:.3g} GB for its "
            f"result; the limit is {limit / 1e9:.3g} GB (coarsen the grid)"
        )

    hp_dims = [d for d in dims if kinds[d] == "hp"]
    start_dims = [d for d in dims if kinds[d] in ("start", "start_list")]
    outer_dims = [d for d in dims if kinds[d] in ("surface", "seed")]
    hp_sets = [
        dict(zip(hp_dims, (float(v) for v in combo), strict=True))
        for combo in itertools.product(*(axes[d] for d in hp_dims))
    ]
    if start_list is not None:
        start_points = start_list
    elif start_dims:
        index = {int(_START_AXIS.match(d).group(1)): d for d in start_dims}
        columns = np.meshgrid(*(axes[d] for d in start_dims), indexing="ij")
        flat = [c.ravel() for c in columns]
        start_points = np.tile(base_surface.x0, (flat[0].size, 1))
        for i, d in index.items():
            start_points[:, i] = flat[start_dims.index(d)]
    else:
        start_points = base_surface.x0[None, :]
    n_s = start_points.shape[0]
    every = max(1, -(-steps // records)) if records else 0
    record_steps = (
        np.arange(0, steps // every + 1) * every if every else np.array([0, steps])
    )
    if basin_tol is None:
        lo, hi = base_surface.bounds
        basin_tol = 1e-3 * float(np.linalg.norm(np.asarray(hi) - np.asarray(lo)))

    inner = (len(hp_sets), n_s)
    fields = ("status", "steps_done", "final_theta", "final_loss", "basin",
              "distance", "rate", "sharpness", "edge_ratio")  # fmt: skip
    outer_shape = tuple(axes[d].size for d in outer_dims)
    results = {
        "status": np.empty((*outer_shape, *inner), dtype="<U9"),
        "steps_done": np.zeros((*outer_shape, *inner), dtype=np.int64),
        "final_theta": np.full((*outer_shape, *inner, dim_), np.nan),
        "basin": np.full((*outer_shape, *inner), -1, dtype=np.int64),
    }
    for name in ("final_loss", "distance", "rate", "sharpness", "edge_ratio"):
        results[name] = np.full((*outer_shape, *inner), np.nan)
    minima_by_outer = {}
    per_chunk = min(
        CHUNK_TRAJECTORIES,
        max(256, CHUNK_BYTES // (8 * (dim_ + 1) * record_steps.size)),
    )
    chunk_h = max(1, per_chunk // n_s)
    chunk_s = min(n_s, per_chunk)
    total = cells
    done = 0
    t0 = time.perf_counter()
    bound_lrs = None
    tasks = []
    for outer_index in itertools.product(*(range(s) for s in outer_shape)):
        outer = {d: axes[d][i] for d, i in zip(outer_dims, outer_index, strict=True)}
        sp = {**fixed_sp}
        sp.update({d: float(v) for d, v in outer.items() if kinds[d] == "surface"})
        bound_surface = surf.bind(dim, **sp)
        minima_by_outer[outer_index] = np.array(
            [m.theta for m in bound_surface.minima], dtype=float
        ).reshape(-1, dim_)
        for h0 in range(0, len(hp_sets), chunk_h):
            h1 = min(len(hp_sets), h0 + chunk_h)
            for s0 in range(0, n_s, chunk_s):
                s1 = min(n_s, s0 + chunk_s)
                key = (outer_index, h0, h1, s0, s1)
                tasks.append((key, {
                    "optimizer": opt.name if isinstance(optimizer, str) else opt,
                    "surface": surface, "dim": dim, "surface_params": sp,
                    "hyperparameters": [{**fixed_hp, **h} for h in hp_sets[h0:h1]],
                    "starts": start_points[s0:s1], "steps": steps, "every": every,
                    "tol": tol, "max_norm": max_norm, "noise": noise,
                    "batch_size": batch_size, "seed": int(outer.get("seed", 0)),
                    "paths": None if noise is None else np.arange(s0, s1),
                    "record_steps": record_steps, "basin_tol": basin_tol,
                    "divergence": divergence, "threads": threads,
                }))  # fmt: skip

    def store(key, measured, first_hp):
        nonlocal done, bound_lrs
        outer_index, h0, h1, s0, s1 = key
        if bound_lrs is None:  # the settings every cell shares, bound
            bound_lrs = first_hp
        for name in fields:
            value = measured[name]
            value = value.reshape(h1 - h0, s1 - s0, *value.shape[1:])
            results[name][(*outer_index, slice(h0, h1), slice(s0, s1))] = value
        done += (h1 - h0) * (s1 - s0)
        if progress is not None:
            progress(done, total)

    if workers is None and scheduler is None:
        for key, task in tasks:
            store(key, *run_chunk(task))
    else:
        _run_distributed(tasks, store, workers, scheduler)
    wall = time.perf_counter() - t0

    # Reorder (outer..., hp-product, start-product) into the declared dims.
    produced = [*outer_dims, *hp_dims, *start_dims]
    perm = [produced.index(d) for d in dims]
    data_vars = {}
    for name, array in results.items():
        extra = array.shape[len(outer_shape) + 2 :]
        full = array.reshape(*outer_shape, *(axes[d].size for d in hp_dims),
                             *(axes[d].size for d in start_dims), *extra)  # fmt: skip
        full = full.transpose(*perm, *range(len(dims), len(dims) + len(extra)))
        var_dims = [*dims, "coord"] if extra else dims
        data_vars[name] = (var_dims, np.ascontiguousarray(full))
    coords: dict[str, Any] = {d: axes[d] for d in dims}
    coords["coord"] = np.arange(dim_)
    if start_list is not None:
        coords["start_theta"] = (("start", "coord"), start_list)
    n_min = max(m.shape[0] for m in minima_by_outer.values())
    if n_min:
        minima_arr = np.full((*outer_shape, n_min, dim_), np.nan)
        for index, found in minima_by_outer.items():
            minima_arr[(*index, slice(0, found.shape[0]))] = found
        data_vars["minimum_theta"] = ([*outer_dims, "minimum", "coord"], minima_arr)
    ds = xr.Dataset(data_vars, coords=coords)
    units = {
        "status": "how the run ended: " + ", ".join(STATUS_CODES),
        "steps_done": "steps taken",
        "final_theta": "end point θ",
        "final_loss": "loss at the end point",
        "basin": "index of the minimum reached (minimum_theta), -1 none",
        "distance": "distance from the end point to the nearest declared minimum",
        "rate": "linear rate per step of ‖θ − θ*‖ over the tail",
        "sharpness": "largest Hessian eigenvalue met at the recorded points",
        "edge_ratio": "sharpness · lr / 2 (above 1: past the edge 2/lr)",
    }
    for name, text in units.items():
        ds[name].attrs["long_name"] = text
    fixed_all = {k: v for k, v in (bound_lrs or {}).items() if k not in hp_dims}
    ds.attrs.update(
        {
            "odeopt_sweep": 1,
            "optimizer": opt.name,
            "surface": surf.name,
            "dim": dim_,
            "axes": json.dumps({d: kinds[d] for d in dims}),
            "hyperparameters": json.dumps(fixed_all),
            "surface_params": json.dumps(_jsonable(fixed_sp)),
            "steps": steps,
            "record_every": every,
            "tol": float(tol),
            "max_norm": max_norm,
            "noise": json.dumps(noise),
            "batch_size": json.dumps(batch_size),
            "divergence": json.dumps(divergence),
            "basin_tol": float(basin_tol),
            "wall_time_s": wall,
            "versions": json.dumps(_versions()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    return ds


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- files ---------------------------------------------------------------------------------
def _suffix(path: str) -> str:
    lowered = str(path).rstrip("/").lower()
    for suffix in (".nc", ".zarr", ".csv"):
        if lowered.endswith(suffix):
            return suffix
    raise OutputError(
        f"cannot tell the format of {path!r}: use .nc (NetCDF4), .zarr or .csv"
    )


def save_sweep(ds, path: str) -> None:
    """Write a sweep: ``.nc`` NetCDF4 (h5netcdf), ``.zarr`` or ``.csv`` (tidy).

    NetCDF and CSV are written atomically (no partial file if writing fails).
    """
    from pathlib import Path

    from .trajectory import atomic_output

    suffix = _suffix(path)
    if suffix == ".zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise OutputError("writing .zarr needs zarr: pip install zarr") from None
        # Zarr v2: its format holds fixed-width strings (status) natively.
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {path}: no folder {str(target.parent)!r}")
    with atomic_output(target) as tmp:
        if suffix == ".nc":
            ds.to_netcdf(tmp, engine="h5netcdf")
        else:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write("# " + json.dumps(_attrs_for_csv(ds)) + "\n")
                _tidy(ds).to_csv(handle, index=False)


def is_sweep_file(path: str) -> bool:
    """Whether ``path`` names a saved sweep (a .nc or .zarr, or a sweep's .csv)."""
    lowered = str(path).rstrip("/").lower()
    if lowered.endswith((".nc", ".zarr")):
        return True
    if lowered.endswith(".csv"):
        try:
            with open(path, encoding="utf-8") as handle:
                return '"odeopt_sweep"' in handle.readline()
        except OSError:
            return False
    return False


def _attrs_for_csv(ds) -> dict:
    attrs = _jsonable(dict(ds.attrs))
    attrs["dims"] = list(ds["status"].dims)
    attrs["variable_attrs"] = {
        name: _jsonable(dict(ds[name].attrs)) for name in ds.data_vars if ds[name].attrs
    }
    if "minimum_theta" in ds:
        attrs["minimum_theta"] = ds["minimum_theta"].values.tolist()
        attrs["minimum_dims"] = list(ds["minimum_theta"].dims)
    if "start_theta" in ds.coords:
        attrs["start_theta"] = ds["start_theta"].values.tolist()
    return attrs


def _tidy(ds):
    """One row per cell: the axes, then the scalars, then theta_0 ... theta_{d-1}."""
    import pandas as pd

    dims = list(ds["status"].dims)
    frame = ds[[v for v in ds.data_vars if ds[v].dims == tuple(dims)]].to_dataframe()
    frame = frame.drop(columns=[c for c in frame.columns if c in ds.coords])
    theta = ds["final_theta"].values.reshape(-1, ds.sizes["coord"])
    for i in range(theta.shape[1]):
        frame[f"theta_{i}"] = theta[:, i]
    frame = frame.reset_index()
    return pd.DataFrame(frame)


def load_sweep(path: str):
    """Read a sweep written by :func:`save_sweep` (or ``odeopt sweep --out``)."""
    import os

    xr = _require_xarray()
    suffix = _suffix(path)
    if not os.path.exists(path):
        raise OutputError(f"no such file: {path}")
    if suffix == ".nc":
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            ds = opened.load()
    elif suffix == ".zarr":
        ds = xr.open_zarr(path, consolidated=True).load()
    else:
        ds = _load_csv(path, xr)
    if not ds.attrs.get("odeopt_sweep"):
        raise OutputError(f"{path} is not an odeopt sweep")
    return ds


def _load_csv(path: str, xr):
    import pandas as pd

    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
        if not first.startswith("# "):
            raise OutputError(f"{path} is not an odeopt sweep (no attrs line)")
        attrs = json.loads(first[2:])
        frame = pd.read_csv(handle)
    dims = attrs.pop("dims")
    theta_columns = sorted(
        (c for c in frame.columns if c.startswith("theta_")),
        key=lambda c: int(c.split("_")[1]),
    )
    frame = frame.set_index(dims)
    theta = frame[theta_columns].to_numpy()
    ds = frame.drop(columns=theta_columns).to_xarray()
    shape = tuple(ds.sizes[d] for d in dims)
    ds["final_theta"] = ([*dims, "coord"], theta.reshape(*shape, len(theta_columns)))
    ds = ds.assign_coords(coord=np.arange(len(theta_columns)))
    ds["status"] = ds["status"].astype("<U9")
    minimum = attrs.pop("minimum_theta", None)
    minimum_dims = attrs.pop("minimum_dims", None)
    if minimum is not None:
        ds["minimum_theta"] = (minimum_dims, np.asarray(minimum, dtype=float))
    start_theta = attrs.pop("start_theta", None)
    if start_theta is not None:
        ds = ds.assign_coords(start_theta=(("start", "coord"), np.asarray(start_theta)))
    for name, variable_attrs in attrs.pop("variable_attrs", {}).items():
        if name in ds:
            ds[name].attrs.update(variable_attrs)
    ds.attrs.update(attrs)
    return ds


# -- command-line axes ---------------------------------------------------------------------
def parse_axis(text: str) -> tuple[str, np.ndarray]:
    """``NAME=LO:HI:N`` (linear), ``NAME=LO:HI:log:N`` (geometric) or ``NAME=A,B,...``.

    Raises
    ------
    InputError
        On a malformed, empty or reversed range, or a log range through zero.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise InputError(
            f"--grid expects NAME=LO:HI:N, NAME=LO:HI:log:N or NAME=A,B,..., got {text!r}"
        )
    parts = [p.strip() for p in spec.split(":")]
    try:
        if len(parts) == 1:
            values = np.array([float(v) for v in spec.split(",") if v.strip()])
            if values.size == 0:
                raise InputError(f"--grid {name} is empty")
            return name, _axis_values(name, values)
        log = len(parts) == 4 and parts[2].lower() == "log"
        if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
            raise ValueError
        lo, hi, count = float(parts[0]), float(parts[1]), float(parts[-1])
    except ValueError:
        raise InputError(
            f"--grid {name}: expected LO:HI:N, LO:HI:log:N or A,B,..., got {spec!r}"
        ) from None
    if not count.is_integer() or count < 1:
        raise InputError(f"--grid {name} is empty: N must be a positive integer")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"--grid {name}: LO and HI must be finite")
    if hi < lo:
        raise InputError(f"--grid {name}: reversed range {lo:g} > {hi:g} (give LO:HI)")
    if hi == lo and count > 1:
        raise InputError(
            f"--grid {name}: empty range {lo:g}:{hi:g} with {int(count)} points"
        )
    if log:
        if lo <= 0.0:
            raise InputError(f"--grid {name}: a log range needs LO > 0, got {lo:g}")
        return name, np.geomspace(lo, hi, int(count))
    return name, np.linspace(lo, hi, int(count))


# -- pictures ------------------------------------------------------------------------------
def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around coordinates (midpoints; in log space for a log axis)."""
    v = np.log(values) if log else np.asarray(values, dtype=float)
    if v.size == 1:
        mid = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        inner = 0.5 * (v[1:] + v[:-1])
        mid = np.concatenate([[2 * v[0] - inner[0]], inner, [2 * v[-1] - inner[-1]]])
    return np.exp(mid) if log else mid


def _is_log(values: np.ndarray) -> bool:
    values = np.asarray(values, dtype=float)
    if values.size < 3 or np.any(values <= 0):
        return False
    ratios = values[1:] / values[:-1]
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6) and ratios[0] > 1.0 + 1e-9)


def _image(ax, ds, field, x, y, cmap, label, vmin=None, vmax=None):
    xs, ys = ds[x].values, ds[y].values
    xlog, ylog = _is_log(xs), _is_log(ys)
    data = ds[field].transpose(y, x).values.astype(float)
    mesh = ax.pcolormesh(
        _edges(xs, xlog), _edges(ys, ylog), data, cmap=cmap, vmin=vmin, vmax=vmax,
        shading="flat",
    )  # fmt: skip
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.figure.colorbar(mesh, ax=ax, label=label)
    return mesh


def _overlay_theory(ax, ds, x, y):
    """The predicted boundary ρ = 1 and critical damping, where theory applies."""
    from . import stability

    kinds = json.loads(ds.attrs["axes"])
    if ds.attrs["optimizer"] not in stability.LINEAR or kinds.get(x) != "hp":
        return None
    try:
        predicted = stability.predict(ds)
    except InputError:
        return None
    if y not in predicted.dims or x not in predicted.dims:
        return None
    rho = predicted.transpose(y, x).values
    ax.contour(ds[x].values, ds[y].values, rho, levels=[1.0], colors="white",
               linewidths=2.0)  # fmt: skip
    ax.contour(ds[x].values, ds[y].values, rho, levels=[1.0], colors="black",
               linewidths=1.0, linestyles="--")  # fmt: skip
    return predicted


def plot_sweep(ds):
    """The picture of a sweep, chosen by its axes; a matplotlib Figure.

    * two hyperparameter axes (e.g. lr × momentum): the phase diagram — the
      measured rate (diverged cells dark red) with the predicted boundary ρ = 1
      dashed, the predicted rate map, and the sharpness against 2/lr;
    * two start axes: the basins of attraction over the loss contour, the declared
      minima marked;
    * one axis: final loss against it, and the measured rate with the prediction;
    * otherwise the first two axes, as an image of the final loss.
    """
    from .plotting import new_figure

    dims = list(ds["status"].dims)
    kinds = json.loads(ds.attrs["axes"])
    title = (
        f"{ds.attrs['optimizer']} on {ds.attrs['surface']}, {ds.attrs['steps']} steps"
    )
    starts = [d for d in dims if kinds.get(d) == "start"]
    if len(starts) == 2 and len(dims) == 2:
        return _plot_basins(ds, starts, title)
    if len(dims) == 1:
        return _plot_line(ds, dims[0], title)
    x, y = dims[0], dims[1]
    extra = dict.fromkeys(dims[2:], 0)
    view = ds.isel(extra) if extra else ds
    if kinds.get(x) == "hp" and kinds.get(y) == "hp":
        return _plot_phase(view, x, y, title)
    figure = new_figure(6.4, 4.8)
    ax = figure.add_subplot()
    with np.errstate(all="ignore"):
        view = view.assign(log_loss=np.log10(np.abs(view.final_loss) + 1e-300))
    _image(ax, view, "log_loss", x, y, "viridis", "log10 final loss")
    ax.set_title(title)
    return figure


def _plot_phase(ds, x, y, title):
    import matplotlib.colors as mcolors
    from matplotlib import colormaps

    from .plotting import new_figure

    figure = new_figure(15.0, 4.4)
    axes = figure.subplots(1, 3)
    # Dark red for diverged cells (NaN) and rates above 1 (the error grows).
    cmap = colormaps["magma_r"].with_extremes(bad="#8b0000", over="#8b0000")
    measured = ds.rate.where(ds.status != "diverged")
    shown = ds.assign(measured_rate=measured)
    _image(axes[0], shown, "measured_rate", x, y, cmap, "measured rate ρ", 0.0, 1.0)
    axes[0].set_title("measured (dark red: diverged or growing)")
    predicted = _overlay_theory(axes[0], ds, x, y)
    if predicted is not None:
        shown = ds.assign(predicted_rate=predicted.where(predicted <= 1.0))
        _image(axes[1], shown, "predicted_rate", x, y, cmap, "predicted ρ", 0.0, 1.0)
        _overlay_theory(axes[1], ds, x, y)
        axes[1].set_title("linear theory at the minimum (dashed: ρ = 1)")
    else:
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, "no linear theory for this optimizer or these axes",
                     ha="center", va="center", transform=axes[1].transAxes)  # fmt: skip
    norm = mcolors.LogNorm(vmin=1e-2, vmax=1e2)
    with np.errstate(all="ignore"):
        shown = ds.assign(ratio=ds.edge_ratio.where(ds.edge_ratio > 0))
    xs, ys = ds[x].values, ds[y].values
    mesh = axes[2].pcolormesh(
        _edges(xs, _is_log(xs)), _edges(ys, _is_log(ys)),
        shown.ratio.transpose(y, x).values, cmap="coolwarm", norm=norm, shading="flat",
    )  # fmt: skip
    if _is_log(xs):
        axes[2].set_xscale("log")
    if _is_log(ys):
        axes[2].set_yscale("log")
    axes[2].set_xlabel(x)
    axes[2].set_ylabel(y)
    figure.colorbar(mesh, ax=axes[2], label="sharpness · lr / 2 (1: edge of stability)")
    axes[2].set_title("sharpness met against 2/lr")
    figure.suptitle(title)
    return figure


def _plot_basins(ds, starts, title):
    from matplotlib.colors import ListedColormap

    from .plotting import new_figure
    from .registry import get_surface

    x, y = sorted(starts, key=lambda d: int(_START_AXIS.match(d).group(1)))
    figure = new_figure(6.4, 5.6)
    ax = figure.add_subplot()
    n_min = ds.sizes.get("minimum", 0)
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860",
               "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]  # fmt: skip
    colors = ["#ffffff", "#000000"] + [palette[i % len(palette)] for i in range(n_min)]
    code = ds.basin.transpose(y, x).values + 2
    code = np.where((ds.status == "diverged").transpose(y, x).values, 1, code)
    xs, ys = ds[x].values, ds[y].values
    ax.pcolormesh(_edges(xs, False), _edges(ys, False), code,
                  cmap=ListedColormap(colors), vmin=-0.5, vmax=len(colors) - 0.5,
                  shading="flat")  # fmt: skip
    params = json.loads(ds.attrs["surface_params"])
    bound = get_surface(ds.attrs["surface"]).bind(int(ds.attrs["dim"]), **params)
    gx, gy = np.meshgrid(
        np.linspace(xs[0], xs[-1], 160), np.linspace(ys[0], ys[-1], 160)
    )
    value = bound.python_kernels()[0]
    base = bound.x0.copy()
    z = np.empty_like(gx)
    with np.errstate(all="ignore"):
        for index in np.ndindex(gx.shape):
            base[0], base[1] = gx[index], gy[index]
            z[index] = value(base, bound.p)
    finite = np.isfinite(z)
    if finite.any():
        levels = np.quantile(z[finite], np.linspace(0.02, 0.98, 14))
        ax.contour(gx, gy, z, levels=np.unique(levels), colors="k", linewidths=0.5,
                   alpha=0.6)  # fmt: skip
    if "minimum_theta" in ds:
        for i, point in enumerate(
            ds.minimum_theta.values.reshape(-1, ds.sizes["coord"])
        ):
            ax.plot(point[0], point[1], "*", ms=14, mec="k",
                    color=colors[i + 2])  # fmt: skip
    ax.set_xlabel(f"start θ₀ ({x})")
    ax.set_ylabel(f"start θ₁ ({y})")
    ax.set_title(f"basins: {title}\n(white: no minimum reached, black: diverged)")
    return figure


def _plot_line(ds, x, title):
    from .plotting import new_figure

    figure = new_figure(11.0, 4.2)
    axes = figure.subplots(1, 2)
    xs = ds[x].values
    log = _is_log(xs)
    diverged = (ds.status == "diverged").values
    loss = np.abs(ds.final_loss.values)
    axes[0].plot(xs[~diverged], loss[~diverged], "o-", ms=3, label="final loss")
    if diverged.any():
        top = np.nanmax(loss[~diverged]) if (~diverged).any() else 1.0
        axes[0].plot(xs[diverged], np.full(diverged.sum(), top), "x", color="#8b0000",
                     label="diverged")  # fmt: skip
    axes[0].set_yscale("log")
    axes[0].set_ylabel("final loss")
    axes[1].plot(xs, ds.rate.values, "o", ms=3, label="measured rate")
    from . import stability

    kinds = json.loads(ds.attrs["axes"])
    if ds.attrs["optimizer"] in stability.LINEAR and kinds.get(x) == "hp":
        with contextlib.suppress(InputError):
            axes[1].plot(xs, stability.predict(ds).values, "-", label="linear theory")
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[1].set_ylabel("rate ρ per step")
    for ax in axes:
        ax.set_xlabel(x)
        if log:
            ax.set_xscale("log")
        ax.legend()
    figure.suptitle(title)
    return figure
