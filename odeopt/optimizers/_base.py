"""The :class:`Optimizer` contract: a discrete update *and* the ODEs it discretises.

An optimizer family lives in one file ``odeopt/optimizers/<family>.py``, which
defines the kernel and the registry entries::

    HP = layout("lr", "momentum", ...)          # the kernel's hp array, by name
    HYPERPARAMETERS = HP._fields
    SWITCHES = ("momentum", ...)                # hyperparameters whose zero
                                                # switches a feature off
    STATE_ROWS = 1                              # rows of the (rows, dim) state array
    N_STAGES = 1                                # gradient evaluations per step

    @kernel
    def step(k, theta, state, G, hp):
        lr = hp[HP.lr]
        # k: step number (1-based); theta, state: updated in place;
        # G[s]: gradient of the loss at the point of stage s (G[0] at theta).

    @kernel                                     # only when N_STAGES > 1
    def stage_point(stage, k, theta, state, G, hp, y):
        # writes into y the point where gradient ``stage`` is evaluated,
        # knowing G[:stage].

    OPTIMIZERS = (Optimizer(name=..., module=__name__, ...), ...)

Optional roles (a step that reads the loss value or keeps scalar state ``aux``, a
``post`` step after each update, ``initial_state`` and ``initial_aux``) and the order in
which the runner calls them are in :mod:`odeopt._roles`.

Several optimizers may share a kernel (``gd``, ``momentum`` and ``nesterov`` are all
``torch.optim.SGD``) and then differ by the hyperparameters they expose and those they
fix.  The runner compiles the loops with the ``SWITCHES`` held as constants where the
optimizers' defaults hold them (:mod:`odeopt._codegen` derives which): a feature
switched off by a runtime value still costs a select in the chain of dependent
operations of every step, and in SIMD lanes for every trajectory.  The state starts
at zero (PyTorch's empty buffers), except where ``initial_state`` says otherwise.
"""

from __future__ import annotations

import importlib
import math
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .._jit import jit_module
from ..errors import HyperparameterError

if TYPE_CHECKING:
    from ..surfaces._base import BoundSurface


def layout(*names: str):
    """The layout of a family's ``hp`` array: ``layout("lr", "momentum").momentum == 1``.

    A named tuple of indices: kernels read ``hp[HP.momentum]``, which numba folds to
    a constant index, so the names are declared once.
    """
    if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
        raise ValueError(f"layout needs distinct identifiers, got {names}")
    return namedtuple("Hyperparameters", names)(*range(len(names)))


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, named as in ``torch.optim``.

    ``default=None`` means the default depends on the surface (the learning rate);
    ``low``/``high`` are bounds, inclusive unless ``low_open``/``high_open``.
    """

    name: str
    default: float | bool | None
    doc: str
    kind: str = "float"  # "float" or "bool"
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False

    def convert(self, value: Any) -> float | bool:
        """Parse and range-check a value (strings come from the command line)."""
        if self.kind == "bool":
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off"):
                    return False
                raise HyperparameterError(
                    f"{self.name} must be true or false, got {value!r}"
                )
            if isinstance(value, (bool, int, np.bool_)) and value in (0, 1):
                return bool(value)
            raise HyperparameterError(
                f"{self.name} must be true or false, got {value!r}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise HyperparameterError(
                f"{self.name} must be a number, got {value!r}"
            ) from None
        if not math.isfinite(number):
            raise HyperparameterError(f"{self.name} must be finite, got {value!r}")
        if self.low is not None and (
            number < self.low or (self.low_open and number == self.low)
        ):
            op = ">" if self.low_open else ">="
            raise HyperparameterError(
                f"{self.name} must be {op} {self.low:g}, got {number:g}"
            )
        if self.high is not None and (
            number > self.high or (self.high_open and number == self.high)
        ):
            op = "<" if self.high_open else "<="
            raise HyperparameterError(
                f"{self.name} must be {op} {self.high:g}, got {number:g}"
            )
        return number

    def describe_range(self) -> str:
        """The valid range in words (for ``odeopt list``)."""
        if self.kind == "bool":
            return "true|false"
        lo = (
            ""
            if self.low is None
            else ("(" if self.low_open else "[") + f"{self.low:g}"
        )
        hi = (
            ""
            if self.high is None
            else f"{self.high:g}" + (")" if self.high_open else "]")
        )
        if lo and hi:
            return f"{lo}, {hi}"
        if lo:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if hi:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any"


# Shared hyperparameters, with torch.optim's validation rules.
def learning_rate(doc: str = "learning rate η") -> Hyperparameter:
    """The learning rate: positive; its default depends on the surface."""
    return Hyperparameter("lr", None, doc, low=0.0, low_open=True)


WEIGHT_DECAY = Hyperparameter(
    "weight_decay", 0.0, "L2 penalty w (adds w·θ to g)", low=0.0
)
MAXIMIZE = Hyperparameter("maximize", False, "ascend instead of descend", kind="bool")


@dataclass(frozen=True)
class Model:
    """A continuous-time model that an optimizer discretises.

    Parameters
    ----------
    name : str
        ``--model`` name (``flow``, ``low-res``, ``coupled`` ...).
    ode : str
        The equations, Unicode.
    time : str
        The time of step k, e.g. ``"t_k = k·√lr"``.
    scheme : str
        The explicit scheme that turns the ODE into the optimizer's update.
    order : float or callable (hp) -> float
        Declared order of agreement in the model's own step ``h`` (a callable when it
        depends on the hyperparameters, e.g. AdaGrad from S = 0).
    state : tuple of str
        Names of the ODE state blocks, each of length ``dim`` (``("θ", "u")``).
    parameters : callable (hp) -> dict
        The hyperparameter → ODE-parameter map; always contains ``"h"``, the ODE
        time advanced by one step.
    field : callable (t, z, grad, ode) -> dz
        The vector field on the flat state ``z`` (blocks of ``dim``); ``grad(θ)`` is
        the optimizer's effective gradient (maximize and L2 weight decay applied).
        With ``needs_hessian`` it is called ``field(t, z, grad, ode, hess)``, where
        ``hess(θ)`` is the Jacobian of that effective gradient (``±∇²L + w·I``).
    initial : callable (theta0, grad, ode) -> z0
        Initial ODE state for a run started at ``theta0``.
    inverse : callable (h, ode, hp) -> dict
        The map back: hyperparameters that give time step ``h`` with the ODE
        parameters ``ode`` (other entries of ``hp`` kept).  ``odeopt check`` uses it
        to refine the step at fixed ODE parameters.
    times : callable (steps, hp) -> t, optional
        ODE time of each step; default ``steps * h``.
    start : callable (theta0, grad, ode) -> (t0, z0), optional
        Where the reference integration starts when the field is singular at t = 0
        (a series solution at a small t0 > 0); default ``(0, initial(...))``.
    note : str
        Caveats (singular starts, start-up transients).
    needs_hessian : bool
        The field takes the effective Hessian as a fifth argument (modified
        equations such as ``θ̇ = −(g + (h/2)Hg)``).
    preferred_method : str, optional
        The integrator ``auto`` starts with (e.g. ``"Radau"`` for models that turn
        stiff near a minimum); default DOP853.
    check_regime : callable (given, surface) -> dict, optional
        Where the model holds, for ``odeopt check``: given the hyperparameters the
        user set, defaults for the others (``"hp"``) and for ``"horizon"`` and
        ``"levels"`` (e.g. the over-damped limits need lr·L ≪ (1 − β)²).
    lyapunov : callable (t, theta, velocity, gap, x_star, ode) -> E, optional
        An energy or Lyapunov function of the ODE, evaluated row-wise on arrays of
        times (n,), points and velocities (n, dim) and loss gaps L − L* (n,), for
        :func:`odeopt.plotting.energy`.
    lyapunov_text : str
        That function as a formula, with what it proves.
    observe : callable (z_theta, ode) -> theta, optional
        The map from the first ``dim`` components of the ODE state to θ, for models
        integrated in another coordinate (the mirror flow in log θ: ``exp``);
        default the identity.  ``initial`` and ``start`` then return that coordinate.
    """

    name: str
    ode: str
    time: str
    scheme: str
    order: float | Callable[[Mapping[str, Any]], float]
    state: tuple[str, ...]
    parameters: Callable[[Mapping[str, Any]], dict[str, float]]
    field: Callable[..., np.ndarray]
    initial: Callable[..., np.ndarray]
    inverse: Callable[[float, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    times: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray] | None = None
    start: Callable[..., tuple[float, np.ndarray]] | None = None
    note: str = ""
    needs_hessian: bool = False
    check_regime: Callable[..., dict[str, Any]] | None = None
    preferred_method: str | None = None
    lyapunov: Callable[..., np.ndarray] | None = None
    lyapunov_text: str = ""
    observe: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray] | None = None

    def declared_order(self, hp: Mapping[str, Any]) -> float:
        """The order of agreement at these hyperparameters."""
        return float(self.order(hp) if callable(self.order) else self.order)

    def step_times(self, steps: np.ndarray, hp: Mapping[str, Any]) -> np.ndarray:
        """ODE time of each discrete step number in ``steps``."""
        steps = np.asarray(steps, dtype=float)
        if self.times is not None:
            return np.asarray(self.times(steps, hp), dtype=float)
        return steps * self.parameters(hp)["h"]

    def as_dict(
        self, hp: Mapping[str, Any], consistent_start: bool = False
    ) -> dict[str, Any]:
        """The model as a JSON-ready record (as ``odeopt list --json`` prints it).

        Parameters
        ----------
        hp : mapping
            Hyperparameters the order is read at (the optimizer's defaults).
        consistent_start : bool
            The optimizer has a consistent start-up: ``order_consistent`` is added
            when it changes the order.
        """
        record = {
            "name": self.name,
            "ode": self.ode,
            "time": self.time,
            "scheme": self.scheme,
            "order": self.declared_order({**hp, "init": "pytorch"}),
            "note": self.note,
        }
        if consistent_start:
            consistent = self.declared_order({**hp, "init": "consistent"})
            if consistent != record["order"]:
                record["order_consistent"] = consistent
        return record


@dataclass(frozen=True)
class Optimizer:
    """An optimizer: its hyperparameters, its kernel and its continuous models.

    Parameters
    ----------
    name : str
        Registry and command-line name.
    description : str
        One line for ``odeopt list``.
    module : str
        The kernel module (the family file).
    torch : str
        The ``torch.optim`` call it reproduces step for step.
    hyperparameters : sequence of Hyperparameter
        What the user may set, with defaults and ranges.
    fixed : mapping
        Kernel hyperparameters this optimizer pins (``nesterov=1`` ...).
    models : sequence of Model
        Continuous models; the first is the default.
    check : callable (hp) -> str or None, optional
        Cross-parameter validation (e.g. Nesterov needs zero dampening).
    domain : {"positive", "simplex"}, optional
        Where the iterates live (exponentiated gradient keeps θ > 0, Hedge keeps θ on
        the probability simplex): a run refuses a start outside it.
    default_lr : callable (BoundSurface, hp) -> float
        The learning rate used when none is given.
    default_lr_rule : str, optional
        That rule as a formula in ``L`` (the surface's curvature,
        :meth:`BoundSurface.curvature`) and ``D`` (:func:`distance_scale`); taken
        from ``default_lr.rule`` (:func:`lr_from_curvature`, :func:`lr_from_distance`)
        when not given.
    play : {"simultaneous", "alternating"}, optional
        How the players of a game move under this optimizer by default (see
        :class:`odeopt._roles.Play`); None: simultaneously.  One loss ignores it.
    """

    name: str
    description: str
    module: str
    torch: str
    hyperparameters: Sequence[Hyperparameter]
    models: Sequence[Model]
    default_lr: Callable[[BoundSurface, Mapping[str, Any]], float]
    default_lr_rule: str = ""
    fixed: Mapping[str, float] = field(default_factory=dict)
    check: Callable[[Mapping[str, Any]], str | None] | None = None
    domain: str | None = None
    play: str | None = None

    def __post_init__(self) -> None:
        if not self.default_lr_rule:
            rule = getattr(self.default_lr, "rule", "")
            if not rule:
                raise ValueError(f"optimizer {self.name}: state the default-lr rule")
            object.__setattr__(self, "default_lr_rule", rule)

    def check_start(self, theta0: np.ndarray) -> None:
        """Refuse a start outside the optimizer's ``domain`` (RunError, one line)."""
        from ..errors import RunError

        theta0 = np.asarray(theta0, dtype=float)
        if self.domain is None:
            return
        if self.domain == "positive" and not np.all(theta0 > 0.0):
            raise RunError(
                f"{self.name} needs a start in the positive orthant (every x0 > 0), "
                f"got {theta0.tolist()}"
            )
        if self.domain == "simplex" and not (
            np.all(theta0 > 0.0) and abs(float(np.sum(theta0)) - 1.0) <= 1e-12
        ):
            raise RunError(
                f"{self.name} needs a start in the open probability simplex (every "
                f"x0 > 0, sum 1), got {theta0.tolist()}"
            )

    @property
    def kernels(self) -> ModuleType:
        """The family's kernel module (plain Python)."""
        return importlib.import_module(self.module)

    def jitted(self) -> ModuleType:
        """The kernel module with its kernels compiled on demand by numba."""
        return jit_module(self.kernels)

    @property
    def doc(self) -> str:
        """The family file's docstring (updates, ODEs, maps, references)."""
        return (self.kernels.__doc__ or "").strip()

    @property
    def default_model(self) -> Model:
        """The first declared model."""
        return self.models[0]

    def model(self, name: str | None = None) -> Model:
        """The model called ``name`` (default: the first)."""
        if name is None:
            return self.default_model
        for model in self.models:
            if model.name == name:
                return model
        valid = ", ".join(m.name for m in self.models)
        raise HyperparameterError(
            f"optimizer {self.name} has no model {name!r} (valid: {valid})"
        )

    def names(self) -> list[str]:
        """The user-settable hyperparameter names."""
        return [h.name for h in self.hyperparameters]

    def as_dict(self) -> dict[str, Any]:
        """The optimizer as a JSON-ready record (as ``odeopt list --json`` prints it).

        Its hyperparameters with defaults, ranges and the default-lr rule, and its
        models with their orders at the default hyperparameters.
        """
        defaults = {
            **self.fixed,
            **{h.name: h.default for h in self.hyperparameters},
        }
        consistent_start = hasattr(self.kernels, "consistent_start")
        return {
            "name": self.name,
            "description": self.description,
            "torch": self.torch,
            "hyperparameters": [
                {
                    "name": h.name,
                    "default": h.default,
                    "range": h.describe_range(),
                    "doc": h.doc,
                    **(
                        {"default_rule": self.default_lr_rule}
                        if h.default is None
                        else {}
                    ),
                }
                for h in self.hyperparameters
            ],
            "models": [m.as_dict(defaults, consistent_start) for m in self.models],
        }

    def bind(
        self, surface: BoundSurface | None = None, **values: Any
    ) -> BoundOptimizer:
        """Validate hyperparameters and fill defaults (``lr`` from ``surface``).

        Raises
        ------
        HyperparameterError
            On an unknown name, a value out of range or an inconsistent set.
        """
        known = {h.name: h for h in self.hyperparameters}
        if "betas" in values and {"beta1", "beta2"} <= set(known):
            # torch.optim's spelling, betas=(beta1, beta2), as well as ours.
            values = dict(values)
            betas = values.pop("betas")
            try:
                beta1, beta2 = betas
            except (TypeError, ValueError):
                raise HyperparameterError(
                    f"betas must be a pair (beta1, beta2), got {betas!r}"
                ) from None
            for name, value in (("beta1", beta1), ("beta2", beta2)):
                if values.get(name) is not None:
                    raise HyperparameterError(f"give betas or {name}, not both")
                values[name] = value
        for key in values:
            if key not in known:
                raise HyperparameterError(
                    f"optimizer {self.name} has no hyperparameter {key!r} "
                    f"(valid: {', '.join(known)})"
                )
        hp: dict[str, Any] = {}
        for name, spec in known.items():
            if values.get(name) is not None:
                hp[name] = spec.convert(values[name])
            elif spec.default is not None:
                hp[name] = spec.default
        if self.check is not None:
            message = self.check(hp)
            if message:
                raise HyperparameterError(f"{self.name}: {message}")
        lr_is_default = "lr" in known and "lr" not in hp
        if lr_is_default:
            if surface is None:
                raise HyperparameterError(
                    f"{self.name}: give lr (its default depends on the surface)"
                )
            hp["lr"] = float(self.default_lr(surface, hp))
        hp = {name: hp[name] for name in known if name in hp}  # declaration order
        return BoundOptimizer(optimizer=self, hp=hp, lr_is_default=lr_is_default)


@dataclass(frozen=True, eq=False)
class BoundOptimizer:
    """An optimizer with all hyperparameters fixed: what a run uses."""

    optimizer: Optimizer
    hp: dict[str, Any]
    lr_is_default: bool = False

    @property
    def name(self) -> str:
        """The optimizer's registry name."""
        return self.optimizer.name

    @property
    def full_hp(self) -> dict[str, Any]:
        """The user's hyperparameters plus those the optimizer pins."""
        return {**self.optimizer.fixed, **self.hp}

    def kernel_hp(self) -> np.ndarray:
        """The float64 array the kernel reads, in the family's HYPERPARAMETERS order."""
        layout = self.optimizer.kernels.HYPERPARAMETERS
        merged = self.full_hp
        missing = [name for name in layout if name not in merged]
        if missing:
            raise HyperparameterError(f"{self.name}: no value for {', '.join(missing)}")
        return np.array([float(merged[name]) for name in layout], dtype=np.float64)

    def state_rows(self) -> int:
        """Rows of the kernel's state array."""
        return int(self.optimizer.kernels.STATE_ROWS)

    def describe(self) -> str:
        """``lr=0.001, momentum=0.9`` style text."""
        parts = []
        for key, value in self.hp.items():
            if isinstance(value, bool):
                parts.append(f"{key}={'true' if value else 'false'}")
            else:
                parts.append(f"{key}={value:.6g}")
        return ", ".join(parts)


def effective_gradient(grad: Callable[[np.ndarray], np.ndarray], hp: Mapping[str, Any]):
    """∇L with PyTorch's ``maximize`` sign and L2 ``weight_decay`` applied.

    Decoupled decay (AdamW) is not included: it is a separate term of the ODE.
    """
    sign = -1.0 if hp.get("maximize", False) else 1.0
    decay = (
        0.0 if hp.get("decoupled_weight_decay") else float(hp.get("weight_decay", 0.0))
    )

    def effective(theta: np.ndarray) -> np.ndarray:
        g = sign * grad(theta)
        return g + decay * theta if decay else g

    return effective


def sqrt_start_travel(size: np.ndarray, t0: float, eps: float) -> np.ndarray:
    """∫₀^t0 dt / (size·√t + eps): how far θ moves in a singular start.

    Adaptive fields started from a zero second moment behave like
    θ̇ = −g/(|g|·c·√t + ε) near t = 0 (v ≈ c²g²t): this integral is the exact travel
    for frozen g, used as a series start at a small t₀ > 0 by the reference.
    """
    size = np.asarray(size, dtype=float)
    root = np.sqrt(t0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if eps > 0.0:
            out = (2.0 / size) * (root - (eps / size) * np.log1p(size * root / eps))
            return np.where(size > 0.0, out, t0 / eps)
        return np.where(size > 0.0, 2.0 * root / size, 0.0)


#: What the symbols of the default-lr rules mean (odeopt list, run summaries).
RULE_LEGEND = (
    "L = largest |Hessian eigenvalue| where the loss is at most its start value; "
    "D = ∞-distance from the start to the nearest known minimum (box/10 if none)"
)


def sign_regime(betas: tuple[tuple[str, float], ...], horizon: float = 0.1):
    """``check_regime`` of the sign-flow limits (moment decays fixed, lr → 0).

    The moment averages must relax within a tenth of the horizon, and the horizon must
    end before the flow reaches a switching surface (a component of g vanishing).
    """

    def regime(given: Mapping[str, Any], surface: BoundSurface) -> dict[str, Any]:
        slowest = max(float(given.get(name, default)) for name, default in betas)
        return {"hp": {"lr": 0.1 * horizon * (1.0 - slowest)}, "horizon": horizon}

    return regime


def lr_from_curvature(divisor: float = 1.0):
    """The default-lr rule ``1/(divisor·(L + weight_decay))``; its text is ``.rule``."""

    def default_lr(surface: BoundSurface, hp: Mapping[str, Any]) -> float:
        return 1.0 / (divisor * (surface.curvature() + hp.get("weight_decay", 0.0)))

    default_lr.rule = (
        "1/(L + weight_decay)"
        if divisor == 1.0
        else f"1/({divisor:g}(L + weight_decay))"
    )
    return default_lr


def lr_from_distance(divisor: float):
    """The default-lr rule ``D/divisor`` (see :func:`distance_scale`); text ``.rule``."""

    def default_lr(surface: BoundSurface, hp: Mapping[str, Any]) -> float:
        return distance_scale(surface) / divisor

    default_lr.rule = f"D/{divisor:g}"
    return default_lr


def distance_scale(surface: BoundSurface) -> float:
    """How far a default run must travel: ∞-distance from the start to the nearest
    known minimum, or a tenth of the plot box when no minimum is known."""
    x0 = surface.x0
    nearest = surface.nearest_minimum(x0)
    if nearest is not None:
        d = float(np.max(np.abs(x0 - nearest.theta)))
        if d > 0:
            return d
    lo, hi = surface.bounds
    return float(np.max(hi - lo)) / 10.0
