"""One bound problem: optimizer, surface, start, noise and run settings, checked once.

A :class:`Problem` is everything that fixes a run's numbers: the optimizer with its
hyperparameters (:class:`~odeopt.optimizers._base.BoundOptimizer`), the surface with
its dimension and parameters (:class:`~odeopt.surfaces._base.BoundSurface`), the
start, the gradient noise with its seed and path, and the stepping settings (steps,
recording, stopping rules, the model whose clock gives ``t``, the start-up).  It is
built and validated once, by :func:`problem` from names or objects, and every entry
point runs from it: :func:`odeopt.run`, :func:`odeopt.run_batch`, the command line,
comparisons, the explorer and the pictures.  :class:`~odeopt.Trajectory` and
:class:`~odeopt.BatchResult` carry the problem they were made from.

What a run adds and a problem does not hold: the reference solution (``reference``,
``method``, ``rtol``, ``atol``) and the progress callback, which change what is
returned, never the iterates.

A problem pickles (sweeps ship problems to worker processes): an optimizer, surface
or noise model travels by its registered name, or as the module-level object of the
module it declares (``Surface(module=__name__, ...)`` in an importable file), and the
bound values (hyperparameters, the packed parameter arrays, the start) as numbers, so
the unpickled problem runs to the same bits.  Importing this module imports neither
numba nor matplotlib.
"""

from __future__ import annotations

import dataclasses
import importlib
import pickle
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._random import MAX_PATH, MAX_SEED
from .errors import HyperparameterError, RunError, UnknownNameError
from .noise._base import BoundNoise, NoiseModel
from .optimizers._base import BoundOptimizer, Optimizer
from .registry import get_noise, get_optimizer, get_surface
from .surfaces._base import BoundSurface, Surface

DEFAULT_STEPS = 10_000
#: Start-ups: PyTorch's empty buffers, or the model's consistent two-step start.
INITS = ("pytorch", "consistent")
DEFAULT_INIT = "pytorch"
DEFAULT_MAX_NORM = 1e100
#: How a game's players move: all at once, or in turns (odeopt._roles.Play).
PLAYS = ("simultaneous", "alternating")


# -- binding the parts ---------------------------------------------------------------
def _expression_meta(surface: BoundSurface) -> dict[str, str]:
    spec = getattr(surface.surface, "spec", None)
    return {} if spec is None or spec == surface.name else {"surface_expression": spec}


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
    elif not isinstance(surface, Surface):
        raise RunError(
            f"surface must be a name, a Surface or a BoundSurface, got "
            f"{type(surface).__name__}"
        )
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
    elif not isinstance(optimizer, Optimizer):
        raise HyperparameterError(
            f"optimizer must be a name, an Optimizer or a BoundOptimizer, got "
            f"{type(optimizer).__name__}"
        )
    return optimizer.bind(surface, **hyperparameters)


def resolve_noise(
    noise: str | NoiseModel | BoundNoise | None,
    surface: BoundSurface,
    batch_size: int | None = None,
) -> BoundNoise | None:
    """Bound gradient noise from ``"iso:0.5"``-style text, a model or a bound model.

    ``batch_size`` (default 1) divides the noise's covariance; it needs a noise model.
    """
    if noise is None:
        if batch_size is not None:
            raise RunError("batch_size needs a noise model (noise='iso:0.5', ...)")
        return None
    if isinstance(noise, BoundNoise):
        if batch_size is not None:
            raise RunError("give batch_size to NoiseModel.bind, not run")
        if noise.dim != surface.dim:
            raise RunError(
                f"the noise is bound for dimension {noise.dim}, the surface has "
                f"{surface.dim}"
            )
        bound = noise
    elif isinstance(noise, NoiseModel):
        bound = noise.bind(surface.dim, 1 if batch_size is None else batch_size)
    elif isinstance(noise, str):
        model = get_noise(noise.partition(":")[0].strip())
        bound = model.parse(noise, surface.dim, 1 if batch_size is None else batch_size)
    else:
        raise TypeError(
            f"noise must be text such as 'iso:0.5', a NoiseModel or a BoundNoise, "
            f"got {type(noise).__name__}"
        )
    if bound.model.needs_hessian and not surface.surface.symmetric:
        raise RunError(
            f"noise {bound.name} needs the Hessian of a loss; surface {surface.name} "
            "is a vector field without one (use iso or diag)"
        )
    if bound.model.check_surface is not None:
        message = bound.model.check_surface(surface, bound.batch_size)
        if message:
            raise RunError(f"noise {bound.name}: {message}")
    return bound


#: Most steps a run may take (int64 counters, with room for the record countdown).
MAX_STEPS = 2**62


def whole_number(value: Any, name: str, largest: int = MAX_STEPS) -> int:
    """``value`` as an int in 0 .. ``largest``: 1.5, True or 10**20 are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)):
        raise RunError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise RunError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if number < 0:
        raise RunError(f"{name} must be >= 0, got {number}")
    if number > largest:
        raise RunError(f"{name} must be <= {largest}, got {number}")
    return number


def check_seed(value: Any, name: str, largest: int) -> int:
    """A seed or path number: a whole number in [0, largest]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise RunError(f"{name} must be a whole number, got {value!r}")
    if not 0 <= int(value) <= largest:
        raise RunError(f"{name} must be in [0, {largest}], got {value}")
    return int(value)


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


def check_init(init: str) -> str:
    """Validate an ``init`` name (RunError with the valid choices)."""
    if init not in INITS:
        raise RunError(f"unknown init {init!r} (valid: {', '.join(INITS)})")
    return init


def model_meta(
    bound: BoundOptimizer, model_name: str | None = None, init: str = DEFAULT_INIT
) -> dict[str, Any]:
    """The model's description and ODE parameters, for metadata and summaries.

    The declared order is the one for this start-up (``init``).
    """
    model = bound.optimizer.model(model_name)
    parameters = model.parameters(bound.full_hp)
    # PyTorch allows momentum > 1; its model then has negative friction: say so.
    negative = [
        f"{name} = {value:.4g} < 0"
        for name, value in parameters.items()
        if "friction" in name and isinstance(value, float) and value < 0
    ]
    return {
        "regime": (
            f"negative friction ({', '.join(negative)}): the model is anti-damped, "
            "its solutions grow"
            if negative
            else None
        ),
        "name": model.name,
        "ode": model.ode,
        "time": model.time,
        "scheme": model.scheme,
        "order": model.declared_order({**bound.full_hp, "init": init}),
        "state": list(model.state),
        "parameters": parameters,
        "note": model.note,
    }


# -- games -----------------------------------------------------------------------------
def _player_index(player: Any, players: Sequence[str]) -> int:
    """A player by name or number."""
    if isinstance(player, str):
        if player not in players:
            raise RunError(f"unknown player {player!r} (valid: {', '.join(players)})")
        return list(players).index(player)
    if isinstance(player, bool) or not isinstance(player, (int, np.integer)):
        raise RunError(f"a player is a name or a number, got {player!r}")
    if not 0 <= int(player) < len(players):
        raise RunError(
            f"player {player} does not exist (valid: 0 .. {len(players) - 1}, or "
            f"{', '.join(players)})"
        )
    return int(player)


def game_settings(
    surface: BoundSurface,
    play: str | None,
    turns: Sequence[Any] | None,
    d_steps: int | None,
    hp: Mapping[Any, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """A game's play, turns and per-player hyperparameters, from run()'s keywords.

    ``d_steps=k`` is alternating play in which the generator (the first player)
    moves, then the discriminator (the last) ``k`` times; ``turns`` lists the moves
    of one step by player name or number; ``hp`` maps a player (name or number) to
    the hyperparameters it sets besides the common ones.
    """
    players = tuple(surface.surface.players)
    if not players:
        given = [
            name
            for name, value in (("play", play), ("turns", turns), ("d_steps", d_steps),
                                ("hp", hp))
            if value is not None
        ]  # fmt: skip
        if given:
            raise RunError(
                f"{given[0]} needs a game (a surface with players, such as "
                f"dirac-gan-ns); surface {surface.name} is one loss"
            )
        return {}
    if d_steps is not None:
        if turns is not None:
            raise RunError("give turns or d_steps, not both")
        if isinstance(d_steps, bool) or int(d_steps) != d_steps or d_steps < 1:
            raise RunError(f"d_steps must be a whole number >= 1, got {d_steps!r}")
        if play == "simultaneous":
            raise RunError("d_steps needs play='alternating'")
        play = "alternating"
        turns = (0,) + (len(players) - 1,) * int(d_steps)
    player_hp: list[dict[str, Any]] = [{} for _ in players]
    for player, values in (hp or {}).items():
        if not isinstance(values, Mapping):
            raise RunError(
                f"hp[{player!r}] must map hyperparameter names to values, got "
                f"{values!r}"
            )
        player_hp[_player_index(player, players)].update(values)
    return {
        "play": play,
        "turns": None if turns is None else tuple(turns),
        "player_hp": tuple(player_hp),
    }


# -- the problem ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Problem:
    """An optimizer on a surface from a start, with every setting of its run, checked.

    Build one with :func:`odeopt.problem` (names, as :func:`odeopt.run` takes them);
    change a setting with :meth:`replace`, or ``dataclasses.replace`` for a field as
    it is (both check the result again).  ``odeopt.run(problem)`` runs it,
    ``odeopt.run_batch(problem, starts=...)`` runs it from many starts.

    Attributes
    ----------
    optimizer : BoundOptimizer
        The optimizer with its hyperparameters.
    surface : BoundSurface
        The surface with its dimension and parameters.
    x0 : ndarray, shape (dim,)
        The start (read-only); given as None, the surface's classic start.
    steps, record_every, tol, max_norm, model, init
        As in :func:`odeopt.run`.
    noise : BoundNoise or None
        Gradient noise with its minibatch size.
    seed, path : int
        The noise's key (recorded only with noise).
    play : {"simultaneous", "alternating"} or None
        A game's play (default: the optimizer's, else simultaneous); None for one
        loss.
    turns : tuple of int or None
        Alternating play's moves within one step, by player number (default: each
        player once, in order).
    player_hp : tuple of dict
        A game's per-player hyperparameters, each on top of the common ones
        (``optimizer``'s); :attr:`players` holds each player's bound optimizer.

    Raises
    ------
    InputError
        On construction, one line naming the bad setting (a start of the wrong
        dimension, noise bound for another dimension, a negative step count, an
        unknown model or start-up ...).
    """

    optimizer: BoundOptimizer
    surface: BoundSurface
    x0: np.ndarray | Sequence[float] | None = None
    steps: int = DEFAULT_STEPS
    record_every: int | None = None
    tol: float = 0.0
    max_norm: float = DEFAULT_MAX_NORM
    model: str | None = None
    init: str = DEFAULT_INIT
    noise: BoundNoise | None = None
    seed: int = 0
    path: int = 0
    play: str | None = None
    turns: tuple[int, ...] | None = None
    player_hp: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.surface, BoundSurface):
            raise RunError(
                f"Problem.surface must be a BoundSurface, got "
                f"{type(self.surface).__name__} (odeopt.problem binds names)"
            )
        if not isinstance(self.optimizer, BoundOptimizer):
            raise HyperparameterError(
                f"Problem.optimizer must be a BoundOptimizer, got "
                f"{type(self.optimizer).__name__} (odeopt.problem binds names)"
            )
        start = check_start(self.x0, self.surface)
        self.optimizer.optimizer.check_start(start)  # its domain (EG: θ > 0)
        start.setflags(write=False)
        set_ = object.__setattr__  # frozen: the checked values replace the given
        set_(self, "x0", start)
        if self.noise is not None:
            if not isinstance(self.noise, BoundNoise):
                raise RunError(
                    f"Problem.noise must be a BoundNoise or None, got "
                    f"{type(self.noise).__name__} (odeopt.problem binds text)"
                )
            resolve_noise(self.noise, self.surface)  # its dimension
        set_(self, "seed", check_seed(self.seed, "seed", MAX_SEED))
        set_(self, "path", check_seed(self.path, "path", MAX_PATH))
        set_(self, "steps", whole_number(self.steps, "steps"))
        if not (self.tol >= 0.0 and np.isfinite(self.tol)):
            raise RunError(f"tol must be a finite number >= 0, got {self.tol}")
        set_(self, "tol", float(self.tol))
        if not self.max_norm > 0.0:
            raise RunError(f"max_norm must be > 0, got {self.max_norm}")
        set_(self, "max_norm", float(self.max_norm))
        check_init(self.init)
        self._check_game(set_)
        # The model's parameters and order are checked here, before any stepping.
        set_(self, "_model_meta", model_meta(self.optimizer, self.model, self.init))
        if self.record_every is not None:
            if int(self.record_every) < 1:
                raise RunError(f"record_every must be >= 1, got {self.record_every}")
            set_(self, "record_every", int(self.record_every))

    def _check_game(self, set_) -> None:
        names = self.surface.surface.players
        if not names:
            if self.play is not None or self.turns is not None or self.player_hp:
                raise RunError(
                    f"play, turns and per-player hyperparameters need a game; surface "
                    f"{self.surface.name} is one loss"
                )
            set_(self, "player_hp", ())
            set_(self, "_players", ())
            return
        play = self.play or self.optimizer.optimizer.play or "simultaneous"
        if play not in PLAYS:
            raise RunError(f"unknown play {play!r} (valid: {', '.join(PLAYS)})")
        turns = None
        if play == "alternating":
            given = self.turns if self.turns is not None else range(len(names))
            turns = tuple(_player_index(t, names) for t in given)
            if not turns:
                raise RunError("turns must list at least one move")
        elif self.turns is not None:
            raise RunError("turns need play='alternating'")
        if self.init != DEFAULT_INIT:
            raise RunError(f"a game starts with init='{DEFAULT_INIT}' only")
        player_hp = tuple(dict(h) for h in (self.player_hp or [{}] * len(names)))
        if len(player_hp) != len(names):
            raise RunError(
                f"player_hp must hold one mapping per player ({len(names)}), got "
                f"{len(player_hp)}"
            )
        common = self.optimizer
        players = tuple(
            common
            if not h
            else common.optimizer.bind(self.surface, **{**common.hp, **h})
            for h in player_hp
        )
        set_(self, "play", play)
        set_(self, "turns", turns)
        set_(self, "player_hp", player_hp)
        set_(self, "_players", players)

    # -- reading -------------------------------------------------------------------
    @property
    def is_game(self) -> bool:
        """The surface is a game: its players own blocks of θ."""
        return bool(self.surface.surface.players)

    @property
    def players(self) -> tuple[BoundOptimizer, ...]:
        """Each player's bound optimizer, in block order (``()`` for one loss)."""
        return self._players

    def game_play(self):
        """The runner's :class:`odeopt._roles.Play` (None for one loss)."""
        if not self.is_game:
            return None
        from ._roles import Play

        return Play(self.surface.blocks, self.turns)

    @property
    def dim(self) -> int:
        """The dimension of the surface."""
        return self.surface.dim

    @property
    def chosen_model(self):
        """The :class:`~odeopt.optimizers._base.Model` whose clock gives ``t``."""
        return self.optimizer.optimizer.model(self.model)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Every hyperparameter the optimizer runs with (defaults filled in)."""
        return dict(self.optimizer.hp)

    @property
    def given_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters that do not follow the surface: all but a default
        learning rate (which :meth:`replace` derives again for a new surface)."""
        return {
            k: v
            for k, v in self.optimizer.hp.items()
            if not (k == "lr" and self.optimizer.lr_is_default)
        }

    def recording(self) -> tuple[int, str]:
        """The recording interval a run uses, and a note when it was raised (the
        run's memory cap, :func:`odeopt.stepper.choose_record_every`)."""
        from .stepper import choose_record_every

        return choose_record_every(self.steps, self.dim, self.record_every)

    def meta(self) -> dict[str, Any]:
        """The settings part of a run's metadata (``Trajectory.meta``).

        The optimizer, its hyperparameters and the default-lr rule when the learning
        rate is the default; the surface, its parameters and dimension; the start;
        the steps and recording; the stopping rules; the model and start-up; the
        noise with its seed and path.  A run adds what happened (status, steps done,
        timings, versions).
        """
        bound, surface, noise = self.optimizer, self.surface, self.noise
        every, note = self.recording()
        return {
            "optimizer": bound.name,
            "torch": bound.optimizer.torch,
            "hyperparameters": dict(bound.hp),
            "lr_default_rule": bound.optimizer.default_lr_rule
            if bound.lr_is_default
            else None,
            "surface": surface.name,
            # a formula surface under a name of its own: what rebuilds it on load
            **_expression_meta(surface),
            "surface_params": dict(surface.params),
            "dim": surface.dim,
            "x0": self.x0.tolist(),
            "steps": self.steps,
            "record_every": every,
            "record_note": note,
            "tol": self.tol,
            "max_norm": self.max_norm,
            "model": dict(self._model_meta),
            "init": self.init,
            "noise": None if noise is None else noise.as_dict(),
            "seed": self.seed if noise is not None else None,
            "path": self.path if noise is not None else None,
            **({"game": self.game_meta()} if self.is_game else {}),
        }

    def game_meta(self) -> dict[str, Any]:
        """A game's play, turns and players (name, block, hyperparameters)."""
        names = self.surface.surface.players
        return {
            "play": self.play,
            "turns": None if self.turns is None else [names[t] for t in self.turns],
            "players": [
                {
                    "name": name,
                    "block": block,
                    "hyperparameters": dict(bound.hp),
                    "given": dict(given),
                }
                for name, block, bound, given in zip(
                    names,
                    self.surface.blocks,
                    self.players,
                    self.player_hp,
                    strict=True,
                )
            ],
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Problem:
        """The problem of a saved run, bound again from its metadata.

        Raises
        ------
        UnknownNameError
            When the run's optimizer, surface or noise model is not registered
            (a user-defined one): the metadata holds only its name.
        """
        surface = get_surface(meta.get("surface_expression") or meta["surface"])
        kinds = {p.name: p.kind for p in surface.params}
        params = {
            k: tuple(v) if kinds.get(k) == "floats" and v is not None else v
            for k, v in (meta.get("surface_params") or {}).items()
        }
        bound_surface = surface.bind(meta["dim"], **params)
        bound = get_optimizer(meta["optimizer"]).bind(
            bound_surface, **meta["hyperparameters"]
        )
        if meta.get("lr_default_rule") is not None:
            bound = dataclasses.replace(bound, lr_is_default=True)
        noise = None
        if meta.get("noise"):
            record = meta["noise"]
            model = get_noise(record["model"])
            kinds = {p.name: p.kind for p in model.params}
            values = {
                k: tuple(v) if kinds.get(k) == "floats" and v is not None else v
                for k, v in record["params"].items()
            }
            noise = model.bind(bound_surface.dim, record["batch_size"], **values)
        # What the run chose by default is left to choose again (the same run).
        model_name = (meta.get("model") or {}).get("name")
        if model_name == bound.optimizer.default_model.name:
            model_name = None
        record_every = meta.get("record_every")
        if record_every is not None:
            from .stepper import choose_record_every

            auto = choose_record_every(int(meta["steps"]), bound_surface.dim, None)[0]
            if int(record_every) == auto:
                record_every = None
        return cls(
            optimizer=bound,
            surface=bound_surface,
            x0=meta["x0"],
            steps=meta["steps"],
            record_every=record_every,
            tol=meta.get("tol", 0.0),
            max_norm=meta.get("max_norm", DEFAULT_MAX_NORM),
            model=model_name,
            init=meta.get("init", DEFAULT_INIT),
            noise=noise,
            seed=meta.get("seed") or 0,
            path=meta.get("path") or 0,
            **_game_from_meta(meta.get("game"), bound_surface),
        )

    # -- changing ------------------------------------------------------------------
    def replace(self, **changes: Any) -> Problem:
        """A copy with some settings changed, checked again.

        Takes the keywords of :func:`odeopt.problem`.  What follows from a changed
        setting is derived again: a new surface, dimension or surface parameters
        rebind the optimizer (a default learning rate is recomputed for the new
        surface) and the noise, and a start that was the old surface's classic start
        becomes the new one's; a new optimizer keeps the given hyperparameters it
        also has.  Hyperparameters are changed by name (``replace(lr=0.01)``).

        Raises
        ------
        InputError
            When the changed problem is not valid (one line, as on construction).
        """
        changes = dict(changes)
        settings = ("steps", "record_every", "tol", "max_norm", "model", "init",
                    "seed", "path", "play", "turns", "player_hp")  # fmt: skip
        direct = {k: changes.pop(k) for k in settings if k in changes}
        x0_given = "x0" in changes
        x0 = changes.pop("x0", None)
        surface_keys = {
            k: changes.pop(k)
            for k in ("surface", "dim", "surface_params")
            if k in changes
        }
        noise_keys = {
            k: changes.pop(k) for k in ("noise", "batch_size") if k in changes
        }
        optimizer = changes.pop("optimizer", None)
        hp_changes = changes  # what is left names hyperparameters

        surface = self.surface
        spec = surface.surface
        # A start of another length on an n-D surface changes its dimension.
        resize = (
            x0 is not None
            and spec.dim is None
            and not surface_keys
            and int(np.size(x0)) != surface.dim
        )
        if surface_keys or resize:
            given = surface_keys.get("surface", spec)
            if isinstance(given, str):
                given = get_surface(given)
            if isinstance(given, BoundSurface):
                surface = resolve_surface(
                    given, surface_keys.get("dim"), surface_keys.get("surface_params")
                )
            else:
                same = given is spec
                params = dict(surface.params) if same else {}
                params.update(surface_keys.get("surface_params") or {})
                dim = surface_keys.get("dim")
                if dim is None and same and not resize:
                    # keep the dimension unless the new parameters imply one
                    implied = given.infer_dim(params) if given.infer_dim else None
                    dim = surface.dim if implied is None else None
                surface = resolve_surface(given, dim, params, x0)
        rebound = surface is not self.surface
        if not x0_given:
            follows = rebound and np.array_equal(self.x0, self.surface.x0)
            x0 = None if follows else self.x0

        if isinstance(optimizer, BoundOptimizer):
            if hp_changes:
                raise HyperparameterError(
                    "give hyperparameters to Optimizer.bind, not replace"
                )
            bound = optimizer
        elif optimizer is not None or hp_changes or rebound:
            if isinstance(optimizer, str):
                optimizer = get_optimizer(optimizer)
            spec_o = self.optimizer.optimizer if optimizer is None else optimizer
            kept = {
                k: v
                for k, v in self.given_hyperparameters.items()
                if isinstance(spec_o, Optimizer) and k in spec_o.names()
            }
            bound = resolve_optimizer(spec_o, surface, {**kept, **hp_changes})
        else:
            bound = self.optimizer

        if rebound and not surface.surface.players:
            # a game's settings do not carry over to one loss
            for key in ("play", "turns", "player_hp"):
                direct.setdefault(key, None if key != "player_hp" else ())

        noise = self.noise
        if "noise" in noise_keys:
            given_noise = noise_keys["noise"]
            batch = noise_keys.get("batch_size")
            if (
                batch is None
                and noise is not None
                and isinstance(given_noise, str | NoiseModel)
            ):
                batch = noise.batch_size  # a new noise keeps the minibatch size
            noise = resolve_noise(given_noise, surface, batch)
        elif noise_keys:  # batch_size alone
            if noise is None:
                resolve_noise(None, surface, noise_keys["batch_size"])  # refuses
            noise = noise.model.bind(
                surface.dim, noise_keys["batch_size"], **noise.params
            )
        elif noise is not None and noise.dim != surface.dim:
            noise = noise.model.bind(surface.dim, noise.batch_size, **noise.params)
        return dataclasses.replace(
            self, optimizer=bound, surface=surface, x0=x0, noise=noise, **direct
        )

    # -- identity ------------------------------------------------------------------
    def _key(self) -> tuple:
        bound, surface, noise = self.optimizer, self.surface, self.noise
        return (
            _spec_key(bound.optimizer),
            tuple(bound.hp.items()),
            bound.lr_is_default,
            _spec_key(surface.surface),
            surface.dim,
            repr(sorted(surface.params.items())),
            surface.p.tobytes(),
            self.x0.tobytes(),
            None
            if noise is None
            else (
                _spec_key(noise.model),
                repr(sorted(noise.params.items())),
                noise.batch_size,
                noise.q.tobytes(),
            ),
            self.steps,
            self.record_every,
            self.tol,
            self.max_norm,
            self.model,
            self.init,
            self.seed,
            self.path,
            self.play,
            self.turns,
            repr(self.player_hp),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        bound, surface = self.optimizer, self.surface
        params = surface.describe_params()
        where = f"{surface.name} (dim {surface.dim}" + (
            f"; {params})" if params else ")"
        )
        hp = bound.describe() + (" (lr by default rule)" if bound.lr_is_default else "")
        start = ", ".join(f"{v:.6g}" for v in self.x0)
        parts = [f"x0=[{start}]", f"steps={self.steps}"]
        if self.record_every is not None:
            parts.append(f"record_every={self.record_every}")
        if self.tol:
            parts.append(f"tol={self.tol:g}")
        if self.max_norm != DEFAULT_MAX_NORM:
            parts.append(f"max_norm={self.max_norm:g}")
        if self.model is not None:
            parts.append(f"model={self.model}")
        if self.init != DEFAULT_INIT:
            parts.append(f"init={self.init}")
        if self.noise is not None:
            parts.append(
                f"noise {self.noise.describe()}, seed={self.seed}, path={self.path}"
            )
        if self.is_game:
            parts.append(f"play={self.play}")
            if self.turns is not None:
                parts.append(f"turns={self.turns}")
            for name, given in zip(self.surface.surface.players, self.player_hp,
                                   strict=True):  # fmt: skip
                if given:
                    values = ", ".join(f"{k}={v}" for k, v in given.items())
                    parts.append(f"{name}: {values}")
        return f"Problem({bound.name} on {where}: {hp}; {', '.join(parts)})"

    # -- pickling ------------------------------------------------------------------
    def __reduce__(self):
        bound, surface, noise = self.optimizer, self.surface, self.noise
        state = {
            "optimizer": (
                _reference(bound.optimizer),
                dict(bound.hp),
                bound.lr_is_default,
            ),
            "surface": (
                _reference(surface.surface),
                surface.dim,
                dict(surface.params),
                surface.p,
            ),
            "noise": None
            if noise is None
            else (
                _reference(noise.model),
                noise.dim,
                dict(noise.params),
                noise.batch_size,
                noise.q,
            ),
            "settings": {
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if f.name not in ("optimizer", "surface", "noise")
            },
        }
        return (_restore, (state,))


def _game_from_meta(game: Mapping[str, Any] | None, surface: BoundSurface) -> dict:
    """Problem keywords of a saved game run (none for one loss)."""
    if not game:
        return {}
    names = surface.surface.players
    turns = game.get("turns")
    return {
        "play": game.get("play"),
        "turns": None if turns is None else tuple(names.index(t) for t in turns),
        "player_hp": tuple(dict(p.get("given", {})) for p in game["players"]),
    }


def _spec_key(spec: Any) -> tuple:
    return (type(spec).__name__, spec.name, spec.module)


_REGISTRIES = {
    "Surface": get_surface,
    "Optimizer": get_optimizer,
    "NoiseModel": get_noise,
}


def _reference(spec: Any) -> tuple:
    """How a surface, optimizer or noise model travels in a pickle.

    By registered name when the registry holds this very object; else as an
    attribute (or an item of a tuple attribute, like a family's ``OPTIMIZERS``) of
    the module it names, found again on import; else as itself, which needs every
    field to pickle (no lambdas).
    """
    kind = next(
        (k for k, c in (("Surface", Surface), ("Optimizer", Optimizer),
                        ("NoiseModel", NoiseModel)) if isinstance(spec, c)),
        type(spec).__name__,
    )  # fmt: skip
    try:
        if _REGISTRIES[kind](spec.name) is spec:
            return ("registry", kind, spec.name)
    except (KeyError, UnknownNameError):
        pass
    module = sys.modules.get(spec.module)
    if module is not None:
        for attribute, value in vars(module).items():
            if value is spec:
                return ("attribute", spec.module, attribute, None)
            if isinstance(value, tuple):
                for index, item in enumerate(value):
                    if item is spec:
                        return ("attribute", spec.module, attribute, index)
    try:
        pickle.dumps(spec)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise pickle.PicklingError(
            f"cannot pickle {kind.lower()} {spec.name!r}: it is not registered, not a "
            f"module-level object of its module {spec.module!r}, and not picklable "
            f"itself ({error})"
        ) from None
    return ("object", spec)


def _dereference(reference: tuple) -> Any:
    if reference[0] == "registry":
        return _REGISTRIES[reference[1]](reference[2])
    if reference[0] == "attribute":
        _, module, attribute, index = reference
        value = getattr(importlib.import_module(module), attribute)
        return value if index is None else value[index]
    return reference[1]


def _restore(state: dict[str, Any]) -> Problem:
    """Unpickle a :class:`Problem`: the bound parts from their numbers, unchanged."""
    reference, hp, lr_is_default = state["optimizer"]
    bound = BoundOptimizer(_dereference(reference), dict(hp), lr_is_default)
    reference, dim, params, p = state["surface"]
    surface = BoundSurface(_dereference(reference), dim, dict(params), p)
    noise = None
    if state["noise"] is not None:
        reference, dim, params, batch_size, q = state["noise"]
        noise = BoundNoise(_dereference(reference), dim, dict(params), batch_size, q)
    return Problem(optimizer=bound, surface=surface, noise=noise, **state["settings"])


def problem(
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
    noise: str | NoiseModel | BoundNoise | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    path: int = 0,
    play: str | None = None,
    turns: Sequence[Any] | None = None,
    d_steps: int | None = None,
    hp: Mapping[Any, Mapping[str, Any]] | None = None,
    **hyperparameters: Any,
) -> Problem:
    """Bind and check a problem once: what :func:`odeopt.run` runs.

    Takes :func:`odeopt.run`'s arguments that fix the iterates (all but the
    reference and the progress callback), with the same meaning and defaults; on a
    game, ``play``, ``turns``, ``d_steps`` and per-player ``hp`` as well
    (:func:`game_settings`).

    >>> import odeopt
    >>> p = odeopt.problem("momentum", "booth", lr=0.02, momentum=0.9, steps=300)
    >>> p.replace(momentum=0.5).optimizer.hp["momentum"]
    0.5
    >>> odeopt.run(p).status.value
    'max_steps'

    Raises
    ------
    InputError
        One line naming what is wrong: an unknown name (with the valid ones), a
        hyperparameter or surface parameter out of range, a start of the wrong
        dimension, a bad setting.
    """
    bound_surface = resolve_surface(surface, dim, surface_params, x0)
    bound = resolve_optimizer(optimizer, bound_surface, hyperparameters)
    start = check_start(x0, bound_surface)
    bound_noise = resolve_noise(noise, bound_surface, batch_size)
    game = game_settings(bound_surface, play, turns, d_steps, hp)
    return Problem(
        optimizer=bound,
        surface=bound_surface,
        x0=start,
        steps=steps,
        record_every=record_every,
        tol=tol,
        max_norm=max_norm,
        model=model,
        init=init,
        noise=bound_noise,
        seed=seed,
        path=path,
        **game,
    )


__all__ = ["Problem", "problem"]
