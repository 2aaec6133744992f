"""Run an optimizer on a surface: validation, allocation, the jitted loop, the result.

Everything is validated in Python before the jit boundary; inside, the generated
runner (:mod:`odeopt._codegen`) takes every step without returning to Python, records
every ``record_every``-th state, and reports divergence as a status code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _codegen
from .errors import RunError
from .optimizers._base import (
    BoundOptimizer,
    HyperparameterError,
    Model,
    Optimizer,
    effective_gradient,
)
from .registry import get_optimizer, get_surface
from .surfaces._base import BoundSurface, Surface
from .trajectory import Status, Trajectory

DEFAULT_STEPS = 10_000
#: Start-ups: PyTorch's empty buffers, or the model's consistent two-step start.
INITS = ("pytorch", "consistent")
DEFAULT_INIT = "pytorch"
DEFAULT_MAX_NORM = 1e100
#: Recorded arrays are kept under this size; beyond it record_every is raised.
RECORD_MEMORY_CAP = 256 * 2**20
_CHUNK = 2**20  # steps between progress updates

_STATUS = {
    _codegen.RUNNING: Status.MAX_STEPS,
    _codegen.CONVERGED: Status.CONVERGED,
    _codegen.DIVERGED: Status.DIVERGED,
}


def resolve_surface(
    surface: str | Surface | BoundSurface,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
    x0: Any = None,
) -> BoundSurface:
    """A bound surface from a name, a :class:`Surface` or a :class:`BoundSurface`.

    An n-dimensional surface given no ``dim`` takes the length of ``x0``.
    """
    if isinstance(surface, BoundSurface):
        if dim is not None or surface_params:
            raise RunError("give dim and surface_params to Surface.bind, not run")
        return surface
    if isinstance(surface, str):
        surface = get_surface(surface)
    if dim is None and x0 is not None and surface.dim is None:
        dim = int(np.size(x0))  # an n-D surface takes its dimension from the start
    return surface.bind(dim, **dict(surface_params or {}))


def resolve_optimizer(
    optimizer: str | Optimizer | BoundOptimizer,
    surface: BoundSurface,
    hyperparameters: Mapping[str, Any],
) -> BoundOptimizer:
    """A bound optimizer from a name or an :class:`Optimizer` plus hyperparameters."""
    if isinstance(optimizer, BoundOptimizer):
        if hyperparameters:
            raise HyperparameterError("give hyperparameters to Optimizer.bind, not run")
        return optimizer
    if isinstance(optimizer, str):
        optimizer = get_optimizer(optimizer)
    return optimizer.bind(surface, **hyperparameters)


def check_start(x0: Any, surface: BoundSurface) -> np.ndarray:
    """The start point as a float array of the surface's dimension."""
    if x0 is None:
        return surface.x0.copy()
    try:
        start = np.array(x0, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise RunError(f"x0 must be {surface.dim} numbers, got {x0!r}") from None
    if start.shape[0] != surface.dim:
        raise RunError(
            f"x0 has {start.shape[0]} numbers but surface {surface.name} has dimension "
            f"{surface.dim}"
        )
    if not np.all(np.isfinite(start)):
        raise RunError(f"x0 must be finite, got {start.tolist()}")
    return start


def choose_record_every(
    steps: int, dim: int, record_every: int | None
) -> tuple[int, str]:
    """The recording interval, raised if needed to stay under the memory cap."""
    if record_every is not None:
        if int(record_every) < 1:
            raise RunError(f"record_every must be >= 1, got {record_every}")
        return int(record_every), ""
    bytes_per_record = 8 * (dim + 3)
    max_records = max(2, RECORD_MEMORY_CAP // bytes_per_record)
    every = max(1, -(-steps // (max_records - 2)))
    if every == 1:
        return 1, ""
    return every, (
        f"recording every {every}th step to keep the trajectory under "
        f"{RECORD_MEMORY_CAP // 2**20} MiB (set record_every to choose)"
    )


def initial_state(bound: BoundOptimizer, dim: int) -> np.ndarray:
    """The kernel's state at step 0 (zeros: PyTorch's empty buffers)."""
    module = bound.optimizer.kernels
    factory = getattr(module, "initial_state", None)
    if factory is None:
        return np.zeros((bound.state_rows(), dim))
    return np.ascontiguousarray(factory(bound.full_hp, dim), dtype=np.float64)


def check_init(init: str) -> str:
    """Validate an ``init`` name (RunError with the valid choices)."""
    if init not in INITS:
        raise RunError(f"unknown init {init!r} (valid: {', '.join(INITS)})")
    return init


def previous_point(
    bound: BoundOptimizer,
    surface: BoundSurface,
    model: Model,
    theta0: np.ndarray,
) -> np.ndarray:
    """θ₋₁: the model's solution one step *before* the start, as a two-step start needs.

    * A model whose state is θ alone (a first-order ODE θ̇ = F(θ): the over-damped
      and gradient flows) takes one Euler step back, θ₋₁ = θ₀ − hF(θ₀).  Its two-step
      scheme has a fixed parasitic root β < 1, so this O(h²) start keeps second order
      (brief §4.2(e)); integrating a gradient flow backwards could blow up instead.
    * A model with a velocity (the oscillators) is integrated backwards by ``h`` from
      the state the reference starts in (``Model.initial``, at rest), DOP853 at
      rtol 1e-12: there β → 1 as h → 0 and an error ε in θ₋₁ is a velocity error ε/h
      (claim C39).
    """
    from .reference import model_rhs

    hp = bound.full_hp
    if model.start is not None:
        raise RunError(
            f"model {model.name} of {bound.name} starts singular at t = 0: it has no "
            "consistent start-up (use init='pytorch')"
        )
    ode = model.parameters(hp)
    h = float(ode["h"])
    grad = effective_gradient(surface.grad, hp)
    z0 = np.asarray(model.initial(theta0, grad, ode), dtype=float)
    rhs = model_rhs(model, surface, hp, ode)
    dim = theta0.size
    if z0.size == dim:
        with np.errstate(all="ignore"):
            previous = z0 - h * np.asarray(rhs(0.0, z0), dtype=float)
        failure = None
    else:
        from scipy.integrate import solve_ivp

        with np.errstate(all="ignore"):
            solution = solve_ivp(
                rhs, (0.0, -h), z0, method="DOP853", rtol=1e-12, atol=1e-14
            )
        previous = solution.y[:dim, -1]
        failure = solution.message if solution.status != 0 else None
    if failure is None and not np.all(np.isfinite(previous)):
        failure = "the state is not finite"
    if failure is not None:
        raise RunError(
            f"could not step model {model.name} back from the start: {failure}"
        )
    return previous


def consistent_start(
    bound: BoundOptimizer,
    surface: BoundSurface,
    model: Model,
    theta0: np.ndarray,
    hp: np.ndarray,
) -> np.ndarray:
    """The kernel state of a consistent start-up; sets its flags in ``hp`` in place.

    The family's ``consistent_start(hp, theta0, theta_prev, grad)`` turns the virtual
    previous iterate θ₋₁ = θ(−h) (:func:`previous_point`) into its initial state.
    """
    module = bound.optimizer.kernels
    hook = getattr(module, "consistent_start", None)
    if hook is None:
        raise RunError(
            f"optimizer {bound.name} has no consistent start-up (init='consistent' "
            "sets the momentum buffer of momentum and nesterov)"
        )
    previous = previous_point(bound, surface, model, theta0)
    grad = effective_gradient(surface.grad, bound.full_hp)
    state, flags = hook(bound.full_hp, theta0, previous, grad)
    layout = list(module.HYPERPARAMETERS)
    for name, value in flags.items():
        hp[layout.index(name)] = float(value)
    return np.ascontiguousarray(state, dtype=np.float64)


def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import numba

    try:
        odeopt_version = version("odeopt-sim")
    except PackageNotFoundError:
        odeopt_version = "unknown"
    return {
        "odeopt": odeopt_version,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "python": platform.python_version(),
    }


def model_meta(
    bound: BoundOptimizer, model_name: str | None = None, init: str = DEFAULT_INIT
) -> dict[str, Any]:
    """The model's description and ODE parameters, for metadata and summaries.

    The declared order is the one for this start-up (``init``).
    """
    model = bound.optimizer.model(model_name)
    return {
        "name": model.name,
        "ode": model.ode,
        "time": model.time,
        "scheme": model.scheme,
        "order": model.declared_order({**bound.full_hp, "init": init}),
        "state": list(model.state),
        "parameters": model.parameters(bound.full_hp),
        "note": model.note,
    }


def run(
    optimizer: str | Optimizer | BoundOptimizer,
    surface: str | Surface | BoundSurface,
    *,
    x0: Sequence[float] | np.ndarray | None = None,
    steps: int = DEFAULT_STEPS,
    record_every: int | None = None,
    tol: float = 0.0,
    max_norm: float = DEFAULT_MAX_NORM,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
    model: str | None = None,
    init: str = DEFAULT_INIT,
    reference: bool = False,
    method: str = "auto",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    progress: Callable[[int, int], None] | None = None,
    **hyperparameters: Any,
) -> Trajectory:
    """Run a discrete optimizer on a surface with a jitted, cached stepper.

    Parameters
    ----------
    optimizer : str or Optimizer or BoundOptimizer
        ``"gd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"`` ...
    surface : str or Surface or BoundSurface
        ``"rosenbrock"``, ``"quadratic"`` ...
    x0 : array_like, shape (dim,), optional
        Start point; default the surface's classic start.
    steps : int
        Steps to take (all of them unless ``tol`` stops the run or it diverges).
    record_every : int, optional
        Record every k-th step (record 0 is the start; the last step is always
        recorded).  Default 1, raised automatically above a 256 MiB trajectory.
    tol : float
        Stop with status ``converged`` when ‖∇L‖ at the current point < tol (0: off).
    max_norm : float
        A state with ``|θ_i| > max_norm`` (or non-finite) stops the run: ``diverged``.
    dim, surface_params
        Dimension and parameters of the surface (an n-D surface given no ``dim``
        takes the length of ``x0``).
    model : str, optional
        The continuous model whose clock gives ``t`` (default: the first declared).
    init : {"pytorch", "consistent"}
        Start-up.  ``"pytorch"``: PyTorch's empty buffers (momentum's b₁ = g₁).
        ``"consistent"``: the momentum buffer b₀ given at step 0 that starts the
        two-step recursion from θ₋₁ = θ(−h), the model's solution one step back from
        rest — no start-up transient, which the second-order models need (brief
        §4.2(e)).  The buffer then depends on ``model``; the kernel updates a given
        buffer as torch does a loaded ``momentum_buffer``.  Recorded as
        ``meta["init"]``.
    reference : bool
        Also solve the model with ``scipy.integrate.solve_ivp`` at the same ``t``
        (``ref_theta``, ``ref_loss``; the discrepancy goes to ``meta["reference"]``).
    method, rtol, atol
        The reference integrator and its tolerances.
    progress : callable (done, total), optional
        Called between chunks of 2**20 steps.
    **hyperparameters
        ``torch.optim`` keyword names (``lr``, ``momentum``, ``beta1``, ...).

    Returns
    -------
    Trajectory
    """
    bound_surface = resolve_surface(surface, dim, surface_params, x0)
    bound = resolve_optimizer(optimizer, bound_surface, hyperparameters)
    start = check_start(x0, bound_surface)
    if int(steps) < 0:
        raise RunError(f"steps must be >= 0, got {steps}")
    steps = int(steps)
    if not (tol >= 0.0 and np.isfinite(tol)):
        raise RunError(f"tol must be a finite number >= 0, got {tol}")
    if not max_norm > 0.0:
        raise RunError(f"max_norm must be > 0, got {max_norm}")
    chosen_model = bound.optimizer.model(model)
    check_init(init)
    # the model's parameters are validated (and its order read) before any stepping
    chosen_meta = model_meta(bound, chosen_model.name, init)
    every, record_note = choose_record_every(steps, bound_surface.dim, record_every)
    if reference:
        from .reference import check_method

        check_method(method, rtol, atol)

    t_setup = time.perf_counter()
    advance = _codegen.get_advance(
        bound.optimizer.kernels, bound_surface.surface.kernels
    )
    theta = start.copy()
    state = initial_state(bound, bound_surface.dim)
    hp = bound.kernel_hp()
    if init == "consistent":
        state = consistent_start(bound, bound_surface, chosen_model, start, hp)
    p = bound_surface.p
    n_max = steps // every + 2
    rec_step = np.zeros(n_max, dtype=np.int64)
    rec_theta = np.zeros((n_max, bound_surface.dim))
    rec_loss = np.zeros(n_max)
    rec_step[0], rec_theta[0], rec_loss[0] = 0, start, bound_surface.value(start)
    # A zero-step call loads (or compiles) the runner, so wall time is stepping only.
    advance(
        theta,
        state,
        hp,
        p,
        0,
        0,
        every,
        tol,
        max_norm,
        rec_step,
        rec_theta,
        rec_loss,
        1,
    )
    setup_s = time.perf_counter() - t_setup

    t_run = time.perf_counter()
    k, n_rec, code = 0, 1, _codegen.RUNNING
    while True:
        chunk = min(steps - k, _CHUNK if progress is not None else steps - k)
        code, k, n_rec = advance(
            theta,
            state,
            hp,
            p,
            k,
            chunk,
            every,
            tol,
            max_norm,
            rec_step,
            rec_theta,
            rec_loss,
            n_rec,
        )
        if progress is not None:
            progress(k, steps)
        if code != _codegen.RUNNING or k >= steps:
            break
    wall_s = time.perf_counter() - t_run
    if rec_step[n_rec - 1] != k:  # always keep the last state
        rec_step[n_rec], rec_theta[n_rec] = k, theta
        rec_loss[n_rec] = bound_surface.value(theta)
        n_rec += 1

    status = _STATUS[code]
    record_steps = rec_step[:n_rec].copy()
    meta = {
        "optimizer": bound.name,
        "torch": bound.optimizer.torch,
        "hyperparameters": dict(bound.hp),
        "lr_default_rule": bound.optimizer.default_lr_rule
        if bound.lr_is_default
        else None,
        "surface": bound_surface.name,
        "surface_params": dict(bound_surface.params),
        "dim": bound_surface.dim,
        "x0": start.tolist(),
        "steps": steps,
        "steps_done": int(k),
        "record_every": every,
        "record_note": record_note,
        "tol": tol,
        "max_norm": max_norm,
        "status": status.value,
        "diverged_at": int(k) if status is Status.DIVERGED else None,
        "model": chosen_meta,
        "init": init,
        "wall_time_s": wall_s,
        "setup_time_s": setup_s,
        "versions": _versions(),
    }
    traj = Trajectory(
        step=record_steps,
        t=chosen_model.step_times(record_steps, bound.full_hp),
        theta=rec_theta[:n_rec].copy(),
        loss=rec_loss[:n_rec].copy(),
        status=status,
        steps_done=int(k),
        meta=meta,
    )
    if reference:
        add_reference(traj, bound, bound_surface, chosen_model, method, rtol, atol)
    return traj


def add_reference(traj, bound, bound_surface, model, method, rtol, atol) -> None:
    """Solve the model at the trajectory's times; store it and the discrepancy."""
    from .reference import discrepancy, solve

    ref = solve(
        bound,
        bound_surface,
        traj.theta[0],
        traj.t,
        model,
        method=method,
        rtol=rtol,
        atol=atol,
    )
    traj.ref_theta, traj.ref_loss, traj.ref_state = ref.theta, ref.loss, ref.z
    gap = discrepancy(traj.theta, ref.theta)
    traj.meta["reference"] = {
        **ref.info,
        "max_discrepancy": float(np.max(gap)),
        "final_discrepancy": float(gap[-1]),
    }


@dataclass
class BatchResult:
    """Final states of many runs: arrays shaped (n_hyperparameter_sets, n_starts, ...).

    ``theta`` and ``loss`` hold the recorded trajectories when ``record_every`` was
    given (shape (H, S, n_records, dim)), else only the final state.
    """

    final_theta: np.ndarray  # (H, S, dim)
    final_loss: np.ndarray  # (H, S)
    status: np.ndarray  # (H, S) of Status values (str)
    steps_done: np.ndarray  # (H, S)
    hyperparameters: list[dict[str, Any]]
    starts: np.ndarray  # (S, dim)
    step: np.ndarray | None = None  # (n_records,) when recorded
    theta: np.ndarray | None = None  # (H, S, n_records, dim) when recorded
    loss: np.ndarray | None = None  # (H, S, n_records)
    wall_time_s: float = 0.0


# A block of lanes costs the same whatever number of its lanes hold trajectories;
# below this many, they run one at a time (break-even about 3, measured for Nesterov
# on Rosenbrock on one thread: a block step 23 ns, a step alone 8.7 ns).
_MIN_LANES = 4
# Tasks per thread: some trajectories stop early, so the threads take tasks from a
# queue; a few per thread balance them without the cost of many calls.
_TASKS_PER_THREAD = 4


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _batch_tasks(runner, hps, n_h: int, n_s: int, dim: int, threads: int) -> list:
    """The work of a batch as (function, hyperparameters, first, end) tasks.

    Each hyperparameter set's ``n_s`` trajectories are consecutive.  In
    ``runner.LANES_DIM`` dimensions they run in lanes (blocks of ``runner.LANES``
    with one hyperparameter set), except a last block of fewer than ``_MIN_LANES``;
    the others run one at a time (``advance_range``, each with its own row of hps).
    """
    lanes, singles = [], []
    for h in range(n_h):
        first, end = h * n_s, (h + 1) * n_s
        if dim == runner.LANES_DIM:
            in_lanes = (
                n_s if n_s % runner.LANES >= _MIN_LANES else n_s - n_s % runner.LANES
            )
            if in_lanes:
                lanes.append(
                    (runner.lanes_for(hps[first]), hps[first], first, first + in_lanes)
                )
            first += in_lanes
        if first < end and singles and singles[-1][3] == first:  # one range
            singles[-1] = (*singles[-1][:3], end)
        elif first < end:
            singles.append((runner.advance_range, hps, first, end))
    n_chunks = _TASKS_PER_THREAD * threads
    tasks = []
    for group, unit in ((lanes, runner.LANES), (singles, 1)):
        total = sum(end - first for _, _, first, end in group)
        # Chunks of whole units (blocks of lanes), about total / n_chunks each.
        size = max(unit, -(-total // (n_chunks * unit)) * unit)
        for function, hp, first, end in group:
            tasks.extend(
                (function, hp, start, min(start + size, end))
                for start in range(first, end, size)
            )
    return tasks


def _run_tasks(tasks: list, thetas, states, p, common: tuple) -> None:
    """Run the tasks, on a pool of ``_threads()`` threads when there are several (the
    runners release the GIL).  Every task writes rows of its own: the results do not
    depend on the number of threads or on the order."""

    def run(task):
        function, hp, first, end = task
        function(thetas, states, hp, p, first, end, *common)

    threads = min(_threads(), len(tasks))
    if threads <= 1:
        for task in tasks:
            run(task)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(run, tasks):
            pass  # re-raises the first error


def run_batch(
    optimizer: str | Optimizer,
    surface: str | Surface | BoundSurface,
    starts: np.ndarray | Sequence[Sequence[float]],
    hyperparameter_sets: Sequence[Mapping[str, Any]] = ({},),
    *,
    steps: int = DEFAULT_STEPS,
    record_every: int | None = None,
    tol: float = 0.0,
    max_norm: float = DEFAULT_MAX_NORM,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
) -> BatchResult:
    """Run every start with every hyperparameter set, in parallel threads.

    Each (set, start) pair is an independent trajectory with the numbers a run of its
    own gives, bit for bit, whatever the number of threads (numba's, i.e.
    ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``).  In 2-D the starts of a set
    are stepped side by side in SIMD lanes (blocks of 32), which is what makes a
    batch fast; the first call compiles each kind of block it needs (a few seconds,
    then cached on disk).  With ``record_every``,
    each trajectory is recorded at steps 0, k, 2k, ...; records after a run stopped
    (diverged or converged) are NaN.
    """
    bound_surface = resolve_surface(surface, dim, surface_params)
    if isinstance(optimizer, str):
        optimizer = get_optimizer(optimizer)
    bounds = [optimizer.bind(bound_surface, **dict(h)) for h in hyperparameter_sets]
    if not bounds:
        raise RunError("give at least one hyperparameter set")
    starts = np.array(starts, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[None, :]
    if starts.ndim != 2 or starts.shape[1] != bound_surface.dim:
        raise RunError(f"starts must have shape (n, {bound_surface.dim})")
    if not np.all(np.isfinite(starts)):
        raise RunError("starts must be finite")
    steps = int(steps)
    if steps < 0:
        raise RunError(f"steps must be >= 0, got {steps}")
    if record_every is not None and int(record_every) < 1:
        raise RunError(f"record_every must be >= 1, got {record_every}")
    n_h, n_s, dim_ = len(bounds), starts.shape[0], bound_surface.dim
    batch = n_h * n_s
    thetas = np.ascontiguousarray(np.tile(starts, (n_h, 1)))
    hps = np.ascontiguousarray(
        np.repeat(np.stack([b.kernel_hp() for b in bounds]), n_s, axis=0)
    )
    states = np.ascontiguousarray(
        np.repeat(np.stack([initial_state(b, dim_) for b in bounds]), n_s, axis=0)
    )
    every = int(record_every) if record_every is not None else 0
    n_rec = steps // every if every else 0
    rec_step = np.zeros((batch, max(n_rec, 1)), dtype=np.int64)
    rec_theta = np.full((batch, max(n_rec, 1), dim_), np.nan)
    rec_loss = np.full((batch, max(n_rec, 1)), np.nan)
    out_status = np.zeros(batch, dtype=np.int64)
    out_steps = np.zeros(batch, dtype=np.int64)
    out_nrec = np.zeros(batch, dtype=np.int64)
    out_loss = np.zeros(batch)
    runner = _codegen.get_runner(optimizer.kernels, bound_surface.surface.kernels)
    # What every task passes after its range: the settings and the outputs.
    common = (
        steps, every, tol, max_norm, rec_step, rec_theta, rec_loss, out_status,
        out_steps, out_nrec, out_loss,
    )  # fmt: skip
    tasks = _batch_tasks(runner, hps, n_h, n_s, dim_, _threads())
    for function, hp, _, _ in {task[0]: task for task in tasks}.values():
        # Compile (or load) each function before the clock starts: an empty range.
        function(thetas, states, hp, bound_surface.p, 0, 0, *common)
    t0 = time.perf_counter()
    _run_tasks(tasks, thetas, states, bound_surface.p, common)
    wall = time.perf_counter() - t0
    value = bound_surface.value
    final_loss = out_loss.reshape(n_h, n_s)
    status = np.array([_STATUS[int(c)].value for c in out_status]).reshape(n_h, n_s)
    result = BatchResult(
        final_theta=thetas.reshape(n_h, n_s, dim_),
        final_loss=final_loss,
        status=status,
        steps_done=out_steps.reshape(n_h, n_s),
        hyperparameters=[dict(b.hp) for b in bounds],
        starts=starts,
        wall_time_s=wall,
    )
    if every:
        step_axis = np.arange(0, n_rec + 1) * every
        first = np.broadcast_to(starts, (n_h, n_s, dim_))[:, :, None, :]
        loss0 = np.array([value(s) for s in starts])
        result.step = step_axis
        result.theta = np.concatenate(
            [first, rec_theta.reshape(n_h, n_s, -1, dim_)[:, :, :n_rec]], axis=2
        )
        result.loss = np.concatenate(
            [
                np.broadcast_to(loss0, (n_h, n_s))[:, :, None],
                rec_loss.reshape(n_h, n_s, -1)[:, :, :n_rec],
            ],
            axis=2,
        )
    return result
