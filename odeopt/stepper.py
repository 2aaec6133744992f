"""Run an optimizer on a surface: validation, allocation, the jitted loop, the result.

Everything is validated in Python before the jit boundary; inside, the generated
runner (:mod:`odeopt._codegen`) takes every step without returning to Python, records
every ``record_every``-th state, and reports divergence as a status code.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _codegen, _jit
from ._problem import (
    DEFAULT_INIT,
    DEFAULT_MAX_NORM,
    DEFAULT_STEPS,
    INITS,
    Problem,
    check_init,
    check_seed,
    check_start,
    game_settings,
    model_meta,
    problem,
    resolve_noise,
    resolve_optimizer,
    resolve_surface,
    whole_number,
)
from ._random import MAX_PATH, MAX_SEED
from .errors import RunError
from .noise._base import BoundNoise, NoiseModel
from .optimizers._base import (
    BoundOptimizer,
    HyperparameterError,
    Model,
    Optimizer,
    effective_gradient,
)
from .registry import get_optimizer
from .surfaces._base import BoundSurface, Surface
from .trajectory import Status, Trajectory

# The binding helpers live with Problem; their historical names stay importable here.
__all__ = [
    "DEFAULT_INIT",
    "DEFAULT_MAX_NORM",
    "DEFAULT_STEPS",
    "INITS",
    "RECORD_MEMORY_CAP",
    "BatchResult",
    "HyperparameterError",
    "Problem",
    "RunError",
    "check_init",
    "check_seed",
    "check_start",
    "choose_record_every",
    "model_meta",
    "resolve_noise",
    "resolve_optimizer",
    "resolve_surface",
    "run",
    "run_batch",
]

#: Recorded arrays are kept under this size; beyond it record_every is raised.
RECORD_MEMORY_CAP = 256 * 2**20
_CHUNK = 2**20  # steps between progress updates

_STATUS = {
    _codegen.RUNNING: Status.MAX_STEPS,
    _codegen.CONVERGED: Status.CONVERGED,
    _codegen.DIVERGED: Status.DIVERGED,
}


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


def initial_aux(bound: BoundOptimizer) -> np.ndarray:
    """The kernel's scalar state at step 0 (``N_AUX`` numbers; the family's
    ``initial_aux(hp)`` when it has one, else zeros)."""
    module = bound.optimizer.kernels
    n_aux = int(getattr(module, "N_AUX", 0))
    factory = getattr(module, "initial_aux", None)
    if factory is None:
        return np.zeros(max(n_aux, 1))
    aux = np.zeros(max(n_aux, 1))
    aux[:n_aux] = np.asarray(factory(bound.full_hp), dtype=np.float64)
    return aux


def game_arrays(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A game's runner arrays: each player's state columns, ``aux`` and ``hp``
    layout side by side, in block order (see :class:`odeopt._roles.Play`)."""
    blocks = problem.surface.blocks
    players = problem.players
    state = np.concatenate(
        [initial_state(b, n) for b, n in zip(players, blocks, strict=True)], axis=1
    )
    n_aux = int(getattr(problem.optimizer.optimizer.kernels, "N_AUX", 0))
    aux = np.zeros(max(1, n_aux * len(players)))
    for j, bound in enumerate(players):
        aux[j * n_aux : (j + 1) * n_aux] = initial_aux(bound)[:n_aux]
    hp = np.concatenate([b.kernel_hp() for b in players])
    return np.ascontiguousarray(state), aux, hp


# The noise parameters of a noiseless run (the runner reads none).
_NO_NOISE_Q = np.zeros(1)


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
      (Shi, Du, Jordan & Su 2018); integrating a gradient flow backwards could blow up instead.
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


# run()'s keyword arguments that a Problem holds, with their defaults.
_PROBLEM_DEFAULTS = {
    "x0": None,
    "steps": DEFAULT_STEPS,
    "record_every": None,
    "tol": 0.0,
    "max_norm": DEFAULT_MAX_NORM,
    "dim": None,
    "surface_params": None,
    "model": None,
    "init": DEFAULT_INIT,
    "noise": None,
    "batch_size": None,
    "seed": 0,
    "path": 0,
    "play": None,
    "turns": None,
    "d_steps": None,
    "hp": None,
}


def _as_problem(
    optimizer: Any, surface: Any, settings: dict[str, Any], hyperparameters: dict
) -> Problem:
    """The problem of a call: the one given, or one bound from the arguments.

    With a :class:`Problem` the settings it holds must be left out (they would be
    ignored otherwise); it is changed with :meth:`Problem.replace`.
    """
    if not isinstance(optimizer, Problem):
        if surface is None:
            raise RunError("give a surface (or a Problem alone)")
        return problem(optimizer, surface, **settings, **hyperparameters)
    if surface is not None:
        raise RunError("a Problem holds its surface: give the problem alone")
    given = [
        k
        for k, v in settings.items()
        if v is not _PROBLEM_DEFAULTS[k]
        and (k == "x0" or isinstance(v, np.ndarray) or v != _PROBLEM_DEFAULTS[k])
    ] + list(hyperparameters)
    if given:
        raise RunError(
            f"a Problem holds its settings: change them with "
            f"problem.replace({given[0]}=...), not as arguments of the run"
        )
    return optimizer


def run(
    optimizer: str | Optimizer | BoundOptimizer | Problem,
    surface: str | Surface | BoundSurface | None = None,
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
    noise: str | NoiseModel | BoundNoise | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    path: int = 0,
    play: str | None = None,
    turns: Sequence[Any] | None = None,
    d_steps: int | None = None,
    hp: Mapping[Any, Mapping[str, Any]] | None = None,
    **hyperparameters: Any,
) -> Trajectory:
    """Run a discrete optimizer on a surface with a jitted, cached stepper.

    ``run(problem)`` runs a :class:`~odeopt.Problem` (:func:`odeopt.problem`); the
    other forms bind one from their arguments first, the same way, so
    ``run(odeopt.problem(o, s, **kw))`` and ``run(o, s, **kw)`` give the same bits.

    Parameters
    ----------
    optimizer : str or Optimizer or BoundOptimizer or Problem
        ``"gd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"`` ...; or
        a whole problem, given alone (then only ``reference``, ``method``, ``rtol``,
        ``atol`` and ``progress`` may be given besides).
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
        rest — no start-up transient, which the second-order models need.  The buffer then depends on ``model``; the kernel updates a given
        buffer as torch does a loaded ``momentum_buffer``.  Recorded as
        ``meta["init"]``.
    reference : bool
        Also solve the model with ``scipy.integrate.solve_ivp`` at the same ``t``
        (``ref_theta``, ``ref_loss``; the discrepancy goes to ``meta["reference"]``).
    method, rtol, atol
        The reference integrator and its tolerances.
    progress : callable (done, total), optional
        Called between chunks of 2**20 steps.
    noise : str or NoiseModel or BoundNoise, optional
        Gradient noise (``"iso:0.5"``, ``"diag:0.1,0.3"``, ``"hessian"``; see
        ``odeopt.noise``): every gradient the optimizer sees gets a sample added.
    batch_size : int, optional
        Minibatch size B: the noise's covariance is divided by B (default 1).
    seed, path : int
        The noise of step k is a pure function of (seed, path, k): the same run gives
        the same bits on any machine and thread count, and ``path`` p of a batch
        (:func:`run_batch`) equals this run with ``path=p``.  Recorded in ``meta``.
    play : {"simultaneous", "alternating"}, optional
        On a game (a surface with players, ``odeopt list``): whether the players
        move at once or in turns; default the optimizer's (``alternating-gda``
        alternates), else simultaneously.  Each player runs the optimizer on its
        block of θ with its own state (:class:`odeopt._roles.Play`).
    turns : sequence of str or int, optional
        Alternating play's moves within one step, by player name or number
        (default: each player once, in block order).
    d_steps : int, optional
        Alternating play with the discriminator (the last player) moving
        ``d_steps`` times after each generator move.
    hp : mapping, optional
        Per-player hyperparameters on top of the common ones, e.g.
        ``hp={"discriminator": {"lr": 0.1}}`` (two time-scale updates).
        Recorded in ``meta["game"]``.
    **hyperparameters
        ``torch.optim`` keyword names (``lr``, ``momentum``, ``beta1``, ...).

    Returns
    -------
    Trajectory
        With ``problem``, the problem it ran.
    """
    settings = {
        "x0": x0, "steps": steps, "record_every": record_every, "tol": tol,
        "max_norm": max_norm, "dim": dim, "surface_params": surface_params,
        "model": model, "init": init, "noise": noise, "batch_size": batch_size,
        "seed": seed, "path": path, "play": play, "turns": turns,
        "d_steps": d_steps, "hp": hp,
    }  # fmt: skip
    return _run_problem(
        _as_problem(optimizer, surface, settings, hyperparameters),
        reference=reference,
        method=method,
        rtol=rtol,
        atol=atol,
        progress=progress,
    )


def _run_problem(
    problem: Problem,
    *,
    reference: bool = False,
    method: str = "auto",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    progress: Callable[[int, int], None] | None = None,
) -> Trajectory:
    """Run a checked problem (see :func:`run`)."""
    bound, bound_surface, bound_noise = (
        problem.optimizer, problem.surface, problem.noise
    )  # fmt: skip
    start, steps, tol, max_norm = (
        problem.x0,
        problem.steps,
        problem.tol,
        problem.max_norm,
    )
    seed, path, init = problem.seed, problem.path, problem.init
    chosen_model = problem.chosen_model
    settings_meta = problem.meta()
    every = settings_meta["record_every"]
    if reference:
        from .reference import check_method

        check_method(method, rtol, atol)

    t_setup = time.perf_counter()
    play = problem.game_play()
    advance = _codegen.get_advance(
        bound.optimizer.kernels,
        bound_surface.surface.kernels,
        None if bound_noise is None else bound_noise.model.kernels,
        *(() if play is None else (play,)),
    )
    theta = start.copy()
    if play is None:
        state = initial_state(bound, bound_surface.dim)
        aux = initial_aux(bound)
        hp = bound.kernel_hp()
    else:
        state, aux, hp = game_arrays(problem)
    q = _NO_NOISE_Q if bound_noise is None else bound_noise.q
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
        aux,
        hp,
        p,
        q,
        seed,
        path,
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
            aux,
            hp,
            p,
            q,
            seed,
            path,
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
        **settings_meta,
        "steps_done": int(k),
        "status": status.value,
        "diverged_at": int(k) if status is Status.DIVERGED else None,
        "wall_time_s": wall_s,
        "setup_time_s": setup_s,
        "versions": _versions(),
    }
    n_aux = int(getattr(bound.optimizer.kernels, "N_AUX", 0))
    if n_aux:  # the family's scalar state at the end (a learnt step-size scale)
        meta["final_aux"] = [float(a) for a in aux[:n_aux]]
    traj = Trajectory(
        step=record_steps,
        t=chosen_model.step_times(record_steps, bound.full_hp),
        theta=rec_theta[:n_rec].copy(),
        loss=rec_loss[:n_rec].copy(),
        status=status,
        steps_done=int(k),
        meta=meta,
        problem=problem,
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
    noise: dict[str, Any] | None = None  # the noise settings (BoundNoise.as_dict)
    seed: int | None = None  # with noise: the seed, and each start's path
    paths: np.ndarray | None = None  # (S,)
    #: The problem of set 0 from start 0 (what every trajectory shares but its
    #: start, path and hyperparameters): see :meth:`problem_of`.
    problem: Problem | None = field(default=None, repr=False)
    optimizers: list[BoundOptimizer] = field(default_factory=list, repr=False)

    def problem_of(self, start: int, hyperparameter_set: int = 0) -> Problem:
        """The problem of one trajectory: ``run(batch.problem_of(s, h))`` gives, bit
        for bit, the trajectory that ends in ``final_theta[h, s]``."""
        if self.problem is None:
            raise RunError("this batch result carries no problem")
        n_h, n_s = self.final_loss.shape
        if not (0 <= start < n_s and 0 <= hyperparameter_set < n_h):
            raise RunError(
                f"no trajectory ({hyperparameter_set}, {start}): the batch has "
                f"{n_h} hyperparameter set(s) and {n_s} start(s)"
            )
        changes: dict[str, Any] = {
            "optimizer": self.optimizers[hyperparameter_set],
            "x0": self.starts[start],
        }
        if self.paths is not None:
            changes["path"] = int(self.paths[start])
        return dataclasses.replace(self.problem, **changes)


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


def _lane_order(runner, hps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of the trajectories in which those of one lane function are
    consecutive (stable: a batch keeps its order within each), and their function."""
    index = runner.path_index(hps)
    order = np.argsort(index, kind="stable")
    return order, index[order]


def _segments(hps: np.ndarray, path_of: np.ndarray, width: int) -> list:
    """The (first, end) ranges of rows that are cut into blocks of lanes on their own.

    A group of rows of one lane function is one segment, unless each of its
    hyperparameter sets has at least ``width`` rows: then each set is one, so that no
    block mixes two sets and the function reading each lane's own row (another cold
    compile of several seconds) is needed only where sets are small (sweeps).
    """
    found = []
    first, n = 0, hps.shape[0]
    while first < n:
        end = first + int(np.searchsorted(path_of[first:], path_of[first], "right"))
        new_set = np.flatnonzero(
            np.any(hps[first + 1 : end] != hps[first : end - 1], axis=1)
        )
        cuts = [first, *(first + 1 + new_set).tolist(), end]
        if min(np.diff(cuts)) >= width:
            found.extend(itertools.pairwise(cuts))
        else:
            found.append((first, end))
        first = end
    return found


def _batch_tasks(runner, hps, path_of, lanes: bool, threads: int) -> list:
    """The work of a batch as (function, first, end) tasks over its rows.

    With ``lanes`` the rows (ordered so that ``path_of``, each row's lane function,
    is grouped) run in blocks of ``runner.LANES`` (see :func:`_segments`): a block
    whose rows share one
    hyperparameter set runs the lane function that holds it, others the one reading
    each lane's own row (``_each``); a group's last block of fewer than
    ``_MIN_LANES`` rows, and every row without ``lanes``, runs one at a time
    (``advance_range``).
    """
    n = hps.shape[0]
    width = runner.LANES
    blocks, singles = [], []  # (function, first, end)
    first = 0
    for first, end in _segments(hps, path_of, width) if lanes else ():
        in_lanes = (end - first) - (end - first) % width
        if (end - first) % width >= _MIN_LANES:
            in_lanes = end - first
        for b0 in range(first, first + in_lanes, width):
            b1 = min(b0 + width, end)
            uniform = bool(np.all(hps[b0:b1] == hps[b0]))
            table = runner.LANE_FUNCTIONS if uniform else runner.LANE_FUNCTIONS_EACH
            function = table[int(path_of[first])]
            # A lane function that holds one set may run only blocks of that set.
            if (
                blocks
                and blocks[-1][0] is function
                and blocks[-1][2] == b0
                and (not uniform or np.array_equal(hps[blocks[-1][1]], hps[b0]))
            ):
                blocks[-1] = (function, blocks[-1][1], b1)
            else:
                blocks.append((function, b0, b1))
        if first + in_lanes < end:
            singles.append((runner.advance_range, first + in_lanes, end))
    if not lanes:
        singles.append((runner.advance_range, 0, n))
    n_chunks = _TASKS_PER_THREAD * threads
    tasks = []
    for group, unit in ((blocks, width), (singles, 1)):
        total = sum(end - first for _, first, end in group)
        # Chunks of whole units (blocks of lanes), about total / n_chunks each.
        size = max(unit, -(-total // (n_chunks * unit)) * unit)
        for function, first, end in group:
            tasks.extend(
                (function, start, min(start + size, end))
                for start in range(first, end, size)
            )
    return tasks


def _run_tasks(tasks: list, arrays: tuple, common: tuple, work_length: int) -> None:
    """Run the tasks, on a pool of ``_threads()`` threads when there are several (the
    runners release the GIL).  Every task writes rows of its own: the results do not
    depend on the number of threads or on the order."""

    def run(task):
        function, first, end = task
        extra = (np.zeros(work_length),) if function.__name__ == "advance_range" else ()
        function(*arrays, *extra, first, end, *common)

    threads = min(_threads(), len(tasks))
    if threads <= 1:
        for task in tasks:
            run(task)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(run, tasks):
            pass  # re-raises the first error


def run_batch(
    optimizer: str | Optimizer | Problem,
    surface: str | Surface | BoundSurface | None = None,
    starts: np.ndarray | Sequence[Sequence[float]] | None = None,
    hyperparameter_sets: Sequence[Mapping[str, Any]] = ({},),
    *,
    steps: int = DEFAULT_STEPS,
    record_every: int | None = None,
    tol: float = 0.0,
    max_norm: float = DEFAULT_MAX_NORM,
    dim: int | None = None,
    surface_params: Mapping[str, Any] | None = None,
    noise: str | NoiseModel | BoundNoise | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    paths: Sequence[int] | np.ndarray | None = None,
    play: str | None = None,
    turns: Sequence[Any] | None = None,
    d_steps: int | None = None,
    hp: Mapping[Any, Mapping[str, Any]] | None = None,
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

    With ``noise``, start ``s`` follows noise path ``paths[s]`` (default ``s``) in
    every set, so the sets meet the same noise (common random numbers), and each
    trajectory equals ``run(..., seed=seed, path=paths[s])`` bit for bit.  Repeat a
    start to run an ensemble of independent paths from it.

    ``run_batch(problem, starts=...)`` runs a :class:`~odeopt.Problem` from many
    starts (default: its own start, on its own path); each hyperparameter set then
    changes the problem's hyperparameters, and the settings come from the problem
    (leave ``steps`` ... ``seed`` out).  The result's ``problem_of(s, h)`` is each
    trajectory's problem.

    On a game, ``play``, ``turns``, ``d_steps`` and ``hp`` are :func:`run`'s (a
    problem's own with a :class:`~odeopt.Problem`); each hyperparameter set changes
    the common hyperparameters, under each player's own.
    """
    game: dict[str, Any] = {}
    if isinstance(optimizer, Problem):
        if (
            starts is None
            and surface is not None
            and not isinstance(surface, str | Surface | BoundSurface)
        ):
            surface, starts = None, surface  # run_batch(problem, starts)
        settings = {
            "steps": steps, "record_every": record_every, "tol": tol,
            "max_norm": max_norm, "dim": dim, "surface_params": surface_params,
            "noise": noise, "batch_size": batch_size, "seed": seed,
        }  # fmt: skip
        settings.update(play=play, turns=turns, d_steps=d_steps, hp=hp)
        base = _as_problem(optimizer, surface, settings, {})
        if base.is_game:
            game = {"play": base.play, "turns": base.turns,
                    "player_hp": base.player_hp}  # fmt: skip
        if base.init != DEFAULT_INIT:
            raise RunError(
                f"run_batch starts as PyTorch does; init={base.init!r} is for run"
            )
        bound_surface, bound_noise, seed = base.surface, base.noise, base.seed
        steps, record_every = base.steps, base.record_every
        tol, max_norm = base.tol, base.max_norm
        spec = base.optimizer.optimizer
        given = base.given_hyperparameters
        bounds = [
            spec.bind(bound_surface, **{**given, **dict(h)}) if h else base.optimizer
            for h in hyperparameter_sets
        ]
        if starts is None:
            starts = base.x0[None, :]
            if paths is None:
                paths = [base.path]
    else:
        if surface is None or starts is None:
            raise RunError("give a surface and starts (or a Problem)")
        base = None
        bound_surface = resolve_surface(surface, dim, surface_params)
        game = game_settings(bound_surface, play, turns, d_steps, hp)
        bound_noise = resolve_noise(noise, bound_surface, batch_size)
        seed = check_seed(seed, "seed", MAX_SEED)
        if isinstance(optimizer, str):
            optimizer = get_optimizer(optimizer)
        bounds = [optimizer.bind(bound_surface, **dict(h)) for h in hyperparameter_sets]
    if not bounds:
        raise RunError("give at least one hyperparameter set")
    optimizer = bounds[0].optimizer
    starts = np.array(starts, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[None, :]
    if starts.ndim != 2 or starts.shape[1] != bound_surface.dim:
        raise RunError(f"starts must have shape (n, {bound_surface.dim})")
    if not np.all(np.isfinite(starts)):
        raise RunError("starts must be finite")
    for start in starts:  # the optimizer's domain (EG: θ > 0)
        optimizer.check_start(start)
    steps = whole_number(steps, "steps")
    if record_every is not None and int(record_every) < 1:
        raise RunError(f"record_every must be >= 1, got {record_every}")
    if paths is None:
        start_paths = np.arange(starts.shape[0], dtype=np.int64)
    else:
        start_paths = np.array(
            [check_seed(p, "path", MAX_PATH) for p in np.asarray(paths).ravel()],
            dtype=np.int64,
        )
        if start_paths.shape != (starts.shape[0],):
            raise RunError(f"give one path per start ({starts.shape[0]})")
    # The problem every trajectory shares (settings checked once, here).
    base = Problem(
        optimizer=bounds[0],
        surface=bound_surface,
        x0=starts[0],
        steps=steps,
        record_every=record_every,
        tol=tol,
        max_norm=max_norm,
        model=None if base is None else base.model,
        noise=bound_noise,
        seed=seed,
        path=int(start_paths[0]),
        **game,
    )
    game_play = base.game_play()
    noise_module = None if bound_noise is None else bound_noise.model.kernels
    n_h, n_s, dim_ = len(bounds), starts.shape[0], bound_surface.dim
    batch = n_h * n_s
    optimizer_module = optimizer.kernels
    lanes = dim_ <= _codegen.MAX_LANE_DIM
    runner = _codegen.get_runner(
        optimizer_module,
        bound_surface.surface.kernels,
        noise_module,
        dim=dim_ if lanes else _codegen.STACK_DIM,
        **({} if game_play is None else {"play": game_play}),
    )
    if game_play is None:
        per_set = [(initial_state(b, dim_), initial_aux(b), b.kernel_hp())
                   for b in bounds]  # fmt: skip
    else:  # each set's players: their state, aux and hp side by side
        per_set = [game_arrays(dataclasses.replace(base, optimizer=b)) for b in bounds]
    hps = np.repeat(np.stack([h for _, _, h in per_set]), n_s, axis=0)
    # Rows in lane order (see _lane_order); `order` maps them back at the end.
    order, path_of = (
        _lane_order(runner, hps) if lanes else (np.arange(batch), np.zeros(batch))
    )
    hps = np.ascontiguousarray(hps[order])
    thetas = np.ascontiguousarray(np.tile(starts, (n_h, 1))[order])
    states = np.ascontiguousarray(
        np.repeat(np.stack([s for s, _, _ in per_set]), n_s, axis=0)[order]
    )
    auxs = np.ascontiguousarray(
        np.repeat(np.stack([a for _, a, _ in per_set]), n_s, axis=0)[order]
    )
    paths = np.ascontiguousarray(np.tile(start_paths, n_h)[order])
    q = _NO_NOISE_Q if bound_noise is None else bound_noise.q
    every = int(record_every) if record_every is not None else 0
    n_rec = steps // every if every else 0
    rec_step = np.zeros((batch, max(n_rec, 1)), dtype=np.int64)
    rec_theta = np.full((batch, max(n_rec, 1), dim_), np.nan)
    rec_loss = np.full((batch, max(n_rec, 1)), np.nan)
    out_status = np.zeros(batch, dtype=np.int64)
    out_steps = np.zeros(batch, dtype=np.int64)
    out_nrec = np.zeros(batch, dtype=np.int64)
    out_loss = np.zeros(batch)
    arrays = (thetas, states, auxs, hps, bound_surface.p, q, seed, paths)
    # What every task passes after its range: the settings and the outputs.
    common = (
        steps, every, tol, max_norm, rec_step, rec_theta, rec_loss, out_status,
        out_steps, out_nrec, out_loss,
    )  # fmt: skip
    work_length = _codegen.work_size(
        _codegen._n_stages(optimizer_module),
        bound_noise is not None and bound_noise.model.needs_hessian,
        dim_,
    )
    tasks = _batch_tasks(runner, hps, path_of, lanes, _threads())
    for function, first, _ in {task[0]: task for task in tasks}.values():
        # Compile (or load) each function before the clock starts: an empty range.
        _jit.bound_inline_labels()
        _run_tasks([(function, first, first)], arrays, common, work_length)
    t0 = time.perf_counter()
    _run_tasks(tasks, arrays, common, work_length)
    wall = time.perf_counter() - t0
    # Back to the batch's order.
    back = np.empty_like(order)
    back[order] = np.arange(batch)
    thetas, out_loss, out_status, out_steps = (
        thetas[back], out_loss[back], out_status[back], out_steps[back]
    )  # fmt: skip
    rec_theta, rec_loss = rec_theta[back], rec_loss[back]
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
        noise=None if bound_noise is None else bound_noise.as_dict(),
        seed=None if bound_noise is None else seed,
        paths=None if bound_noise is None else start_paths,
        problem=base,
        optimizers=bounds,
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
