"""The ``odeopt`` command.

Start-up matters: this module imports only click (and the import-free
:mod:`odeopt.errors`) at load time.  The registry (numpy), the steppers (numba) and
plotting (matplotlib) are imported inside the commands that need them, so
``odeopt --help`` and ``odeopt list`` never load numba or matplotlib.

Exit codes: 0 success (a diverged run is a result, not an error), 1 a failed check or
a failed reference solve, 2 bad usage or input (an :class:`~odeopt.errors.InputError`)
— one line that names the problem and the valid choices, no traceback and no partial
output file.  Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .errors import InputError, OdeoptError

#: The most noise paths ``odeopt animate --paths`` draws per optimizer.
ANIMATED_PATHS = 8

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Checks of at least this many steps in all report each level as it starts.
LONG_CHECK_STEPS = 10**8


class RegistryName(click.ParamType):
    """An optimizer or surface name, checked against the registry only when used."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = kind

    def _names(self) -> list[str]:
        from . import registry

        return (
            registry.optimizer_names()
            if self.kind == "optimizer"
            else registry.surface_names()
        )

    def convert(self, value, param, ctx):
        from .registry import unknown_name

        if self.kind == "surface" and value.startswith("expr:"):
            return value  # a formula: parsed (and refused) when it is used
        names = self._names()
        if value in names:
            return value
        self.fail(unknown_name(self.kind, value, names), param, ctx)

    def get_metavar(self, param, ctx=None):
        return "NAME"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in self._names() if n.startswith(incomplete)]


def _assignments(values: tuple[str, ...], option: str) -> dict[str, str]:
    """Parse repeated ``NAME=VALUE`` options."""
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_") if option == "--param" else name.strip()
        if not sep or not name or not value.strip():
            raise InputError(f"{option} expects NAME=VALUE, got {item!r}")
        if name in parsed:
            raise InputError(f"{option} {name} given twice")
        parsed[name] = value.strip()
    return parsed


def _parse_x0(text: str | None) -> list[float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        if not all(part.strip() for part in parts):
            raise ValueError
        return [float(part) for part in parts]
    except ValueError:
        raise InputError(
            f"--x0 must be comma-separated numbers such as 1.5,-0.5, got {text!r}"
        ) from None


def _refuse_without(flag: bool, flag_name: str, *names: str) -> None:
    """Refuse options given on the command line that have no effect without
    ``flag_name`` (one line, exit 2), instead of ignoring them."""
    if flag:
        return
    from click.core import ParameterSource

    ctx = click.get_current_context()
    for name in names:
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            option = "--" + name.replace("_", "-")
            raise InputError(f"{option} has no effect without {flag_name}")


def _fmt_point(x) -> str:
    return "(" + ", ".join(f"{float(v):.6g}" for v in x) + ")"


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="odeopt-sim", prog_name="odeopt")
def cli() -> None:
    """Machine-learning optimizers as discretisations of ODEs.

    Gradient descent is Euler's method on the gradient flow; momentum and Nesterov
    discretise damped oscillators; RMSprop, Adam and AdaGrad are semi-implicit Euler
    steps of coupled ODEs.  odeopt runs the discrete optimizers (equal to torch.optim
    step for step) and states the continuous model beside each run.

    \b
    Examples:
      odeopt list
      odeopt run --optimizer nesterov --surface rosenbrock
      odeopt run --optimizer adam --surface himmelblau --lr 0.01 --out run.npz
    """


# -- list -----------------------------------------------------------------------------


def _print_optimizers(records) -> None:
    from .optimizers._base import RULE_LEGEND

    click.secho("Optimizers", bold=True)
    for r in records:
        click.echo(f"  {click.style(r['name'], bold=True):<21} {r['description']}")
        click.echo(f"  {'':<12} = {r['torch']}")
        parts = []
        for h in r["hyperparameters"]:
            if h["default"] is None:
                parts.append(f"lr={h['default_rule']}")
            else:
                default = h["default"]
                if isinstance(default, bool):
                    default = "true" if default else "false"
                parts.append(
                    f"{h['name']}={default:g}"
                    if not isinstance(default, str)
                    else f"{h['name']}={default}"
                )
        click.echo(f"  {'':<12}   " + "; ".join(parts))
        for m in r["models"]:
            order = f"order {m['order']:g}"
            if "order_consistent" in m:
                order += f" ({m['order_consistent']:g} with --init consistent)"
            click.echo(
                f"  {'':<12}   model {m['name']}: {m['ode']},  {m['time']}  "
                f"[{m['scheme']}; {order}]"
            )
    click.echo(f"  default lr: {RULE_LEGEND}")


def _print_surfaces(records) -> None:
    click.secho("Surfaces", bold=True)
    for r in records:
        dim = (
            f"{r['dim']}-D" if r["dim"] != "n" else f"n-D (default {r['default_dim']})"
        )
        click.echo(
            f"  {click.style(r['name'], bold=True):<26} {r['description']}  [{dim}]"
        )
        params = ", ".join(
            f"{p['name']}={p['default']:g}"
            if isinstance(p["default"], float)
            else f"{p['name']}={p['default']}"
            for p in r["parameters"]
        )
        if "players" in r:  # a game: its field and players instead of a loss
            players = ", ".join(f"{p['name']} ({p['block']})" for p in r["players"])
            click.echo(f"  {'':<17} {r['field']}" + (f";  {params}" if params else ""))
            click.echo(f"  {'':<17} game: players {players}")
        else:
            click.echo(
                f"  {'':<17} L = {r['formula']}" + (f";  {params}" if params else "")
            )
        if r["minima"] and "players" in r:
            best = r["minima"][0]
            click.echo(
                f"  {'':<17} start {_fmt_point(r['x0'])};  equilibrium at "
                f"{_fmt_point(best['theta'])}"
            )
        elif r["minima"]:
            best = r["minima"][0]
            extra = f" (+{len(r['minima']) - 1} more)" if len(r["minima"]) > 1 else ""
            where = f"min {best['value']:.10g} at {_fmt_point(best['theta'])}{extra}"
        else:
            where = "no minimum" + ("" if r["bounded_below"] else " (unbounded below)")
        click.echo(f"  {'':<17} start {_fmt_point(r['x0'])};  {where}")


def _print_noise(records) -> None:
    click.secho(
        "Gradient noise (--noise KIND:VALUES, divided by --batch-size)", bold=True
    )
    for r in records:
        values = ",".join(p["name"] for p in r["params"])
        click.echo(
            f"  {click.style(r['name'], bold=True):<21} {r['description']}; "
            f"--noise {r['name']}:{values}"
        )


@cli.command("list", context_settings=CONTEXT)
@click.argument(
    "what",
    required=False,
    default="all",
    type=click.Choice(["all", "optimizers", "surfaces", "noise"]),
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_command(what: str, as_json: bool) -> None:
    """List optimizers (with their hyperparameters and models), surfaces and
    gradient-noise models."""
    from . import registry
    from .trajectory import dumps

    out: dict[str, Any] = {}
    if what in ("all", "optimizers"):
        out["optimizers"] = [o.as_dict() for o in registry.optimizers().values()]
    if what in ("all", "surfaces"):
        out["surfaces"] = [s.as_dict() for s in registry.surfaces().values()]
    if what in ("all", "noise"):
        out["noise"] = [
            {
                "name": m.name,
                "description": m.description,
                "covariance": m.formula,
                "params": [
                    {"name": p.name, "default": p.default, "doc": p.doc}
                    for p in m.params
                ],
                "needs_hessian": m.needs_hessian,
            }
            for m in registry.noise_models().values()
        ]
    if as_json:
        click.echo(dumps(out, ensure_ascii=False))
        return
    if "optimizers" in out:
        _print_optimizers(out["optimizers"])
    if "surfaces" in out:
        if "optimizers" in out:
            click.echo()
        _print_surfaces(out["surfaces"])
    if "noise" in out:
        if len(out) > 1:
            click.echo()
        _print_noise(out["noise"])


# -- run ------------------------------------------------------------------------------


def _apply(function, options):
    for option in reversed(options):
        function = option(function)
    return function


def _problem_options(*, several: bool = False, lr_help: str, x0_help: str) -> list:
    """The options that pose the problem: optimizer(s), hyperparameters, surface, start.

    Shared by every command that runs something, in the same order (the commands'
    signatures rely on it); ``several`` makes ``--optimizer`` repeatable.
    """
    each = " for every optimizer that has it" if several else ""
    optimizer = (
        click.option(
            "--optimizer",
            "-o",
            "optimizers",
            multiple=True,
            required=True,
            type=RegistryName("optimizer"),
            help="An optimizer (repeat for each).",
        )
        if several
        else click.option(
            "--optimizer",
            "-o",
            required=True,
            type=RegistryName("optimizer"),
            help="Optimizer name (odeopt list optimizers).",
        )
    )
    return [
        optimizer,
        click.option(
            "--surface",
            "-s",
            required=True,
            type=RegistryName("surface"),
            help="Surface name (odeopt list surfaces).",
        ),
        click.option("--lr", type=float, default=None, help=lr_help),
        click.option("--momentum", type=float, default=None, help=f"Momentum β{each}."),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help=f"Any other hyperparameter, torch.optim names{each} (repeatable).",
        ),
        click.option(
            "--surface-param",
            "surface_params",
            multiple=True,
            metavar="NAME=VALUE",
            help="Surface parameter (repeatable).",
        ),
        click.option(
            "--dim", type=int, default=None, help="Dimension of n-D surfaces."
        ),
        click.option("--x0", default=None, metavar="A,B,...", help=x0_help),
        *_GAME_OPTIONS,
    ]


# A game's settings (surfaces with players, odeopt list surfaces): every command
# that poses a problem takes them and passes them on with _game_settings.
_GAME_OPTIONS = [
    click.option(
        "--play",
        type=click.Choice(["simultaneous", "alternating"]),
        default=None,
        help="A game's play [default: the optimizer's, else simultaneous].",
    ),
    click.option(
        "--d-steps",
        type=int,
        default=None,
        metavar="K",
        help="A game: the discriminator moves K times per generator move.",
    ),
    click.option(
        "--player-param",
        "player_params",
        multiple=True,
        metavar="PLAYER.NAME=VALUE",
        help="A game: one player's hyperparameter, e.g. discriminator.lr=0.1.",
    ),
]


def _game_settings(play, d_steps, player_params) -> dict[str, Any]:
    """run()'s game keywords from the command line (none given: none)."""
    settings: dict[str, Any] = {}
    if play is not None:
        settings["play"] = play
    if d_steps is not None:
        settings["d_steps"] = d_steps
    per_player: dict[str, dict[str, str]] = {}
    for key, value in _assignments(player_params, "--player-param").items():
        player, dot, name = key.partition(".")
        if not dot or not player or not name:
            raise InputError(
                f"--player-param takes PLAYER.NAME=VALUE (discriminator.lr=0.1), "
                f"got {key}={value}"
            )
        per_player.setdefault(player, {})[name] = value
    if per_player:
        settings["hp"] = per_player
    return settings


def _run_options(function):
    options = _problem_options(
        lr_help="Learning rate (default: chosen from the surface, see list).",
        x0_help="Start point (default: the surface's classic start).",
    ) + [
        click.option(
            "--steps",
            type=int,
            default=10_000,
            show_default=True,
            help="Steps to take.",
        ),
        click.option(
            "--record-every",
            type=int,
            default=None,
            metavar="K",
            help="Record every K-th step [default: 1, raised above 256 MiB].",
        ),
        click.option(
            "--tol",
            type=float,
            default=0.0,
            show_default=True,
            help="Stop (converged) when the gradient norm is below this.",
        ),
        click.option(
            "--max-norm",
            type=float,
            default=1e100,
            show_default=True,
            help="Stop (diverged) when some |θ_i| exceeds this.",
        ),
    ]
    return _apply(function, options)


def _noise_options(function):
    """``--noise``, ``--batch-size``, ``--seed``, ``--paths``: a stochastic run."""
    options = [
        click.option(
            "--noise",
            default=None,
            metavar="KIND[:VALUES]",
            help="Gradient noise: iso:σ, diag:σ1,σ2,..., hessian[:σ] (odeopt list "
            "noise).",
        ),
        click.option(
            "--batch-size",
            type=int,
            default=None,
            metavar="B",
            help="Minibatch size: the noise covariance is divided by B [default: 1].",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of the noise (recorded in the metadata).",
        ),
        click.option(
            "--paths",
            type=int,
            default=None,
            metavar="M",
            help="Run M independent noise paths as one batch and report the "
            "ensemble's mean and spread.",
        ),
    ]
    return _apply(function, options)


def _check_noise_settings(noise, batch_size, paths) -> None:
    """Refuse settings that make no sense together, before any work (InputError)."""
    if paths is not None and paths < 1:
        raise InputError(f"--paths must be >= 1, got {paths}")
    if noise is None and batch_size is not None:
        raise InputError("--batch-size needs --noise (e.g. --noise iso:0.5)")
    if noise is None and paths is not None:
        raise InputError(
            "--paths needs --noise (e.g. --noise iso:0.5): without noise every path "
            "is the same run"
        )


def _collect_hyperparameters(lr, momentum, params) -> dict[str, Any]:
    hp: dict[str, Any] = _assignments(params, "--param")
    for name, value in (("lr", lr), ("momentum", momentum)):
        if value is None:
            continue
        if name in hp:
            raise InputError(f"{name} given twice (--{name} and --param {name}=...)")
        hp[name] = value
    return hp


def _surface_values(surface: str, surface_params) -> dict[str, Any]:
    """Parse ``--surface-param NAME=VALUE`` options (SurfaceError on a bad one)."""
    from .registry import get_surface
    from .surfaces._base import SurfaceError

    known = {p.name: p for p in get_surface(surface).params}
    values = {}
    for key, text in _assignments(surface_params, "--surface-param").items():
        if key not in known:
            valid = ", ".join(known) or "none"
            raise SurfaceError(
                f"surface {surface} has no parameter {key!r} (valid: {valid})"
            )
        values[key] = known[key].parse(text)
    return values


def _bind(
    optimizer,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play=None,
    d_steps=None,
    player_params=(),
    **settings,
):
    """The problem from command-line strings (InputError); ``settings`` are the
    run settings :func:`odeopt.problem` takes (steps, tol, model, init ...)."""
    from ._problem import problem
    from .surfaces._base import SurfaceError

    values = _surface_values(surface, surface_params)
    if dim is not None and dim < 1:
        raise SurfaceError(f"--dim must be >= 1, got {dim}")
    return problem(
        optimizer,
        surface,
        x0=_parse_x0(x0),
        dim=dim,
        surface_params=values,
        **settings,
        **_game_settings(play, d_steps, player_params),
        **_collect_hyperparameters(lr, momentum, params),
    )


def _print_summary(s: dict[str, Any], bound, bound_surface, traj) -> None:
    from .optimizers._base import distance_scale
    from .trajectory import MESSAGES, Status

    status = Status(s["status"])
    colour = {"converged": "green", "max_steps": "cyan", "diverged": "red"}[
        status.value
    ]
    click.echo(
        f"{click.style(s['optimizer'], bold=True)} on {click.style(s['surface'], bold=True)}"
        f": {click.style(status.value, fg=colour, bold=True)}"
    )
    label = "  {:<12}"
    hp = bound.describe()
    click.echo(label.format("optimizer") + f"{bound.optimizer.torch}")
    click.echo(label.format("") + hp)
    if bound.lr_is_default:
        rule = bound.optimizer.default_lr_rule
        symbols = []
        if "L" in rule:
            symbols.append(f"L = {bound_surface.curvature():.6g}")
        if "D" in rule:
            symbols.append(f"D = {distance_scale(bound_surface):.6g}")
        click.echo(label.format("") + f"lr = {rule} (default), " + ", ".join(symbols))
    m = s["model"]
    click.echo(label.format("model") + f"{m['name']}: {m['ode']},  {m['time']}")
    ode = ",  ".join(
        f"{k} = {v:.6g}" for k, v in m["parameters"].items() if isinstance(v, float)
    )
    click.echo(label.format("") + ode)
    click.echo(
        label.format("") + f"{m['scheme']}; order {m['order']:g} (init {s['init']})"
    )
    if m.get("regime"):
        click.echo(label.format("") + click.style(m["regime"], fg="yellow"))
    params = traj.meta["surface_params"]
    desc = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in params.items()
        if v is not None
    )
    click.echo(
        label.format("surface")
        + f"{s['surface']} (dim {s['dim']}"
        + (f"; {desc}" if desc else "")
        + ")"
    )
    click.echo(
        label.format("start") + f"{_fmt_point(s['x0'])}   loss {s['initial_loss']:.6g}"
    )
    noise = traj.meta.get("noise")
    if noise:
        values = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in noise["params"].items()
        )
        click.echo(
            label.format("noise")
            + f"{noise['model']}: {values}, B={noise['batch_size']} (covariance "
            f"{noise['covariance']}/B); seed {traj.meta['seed']}, path "
            f"{traj.meta['path']}"
        )
    click.echo(
        label.format("steps")
        + f"{s['steps_done']} of {traj.meta['steps']}, t = {s['t_final']:.6g};"
        + f" {s['records']} records (every {s['record_every']})"
    )
    if traj.meta.get("record_note"):
        click.echo(label.format("") + traj.meta["record_note"])
    click.echo(
        label.format("final") + f"{_fmt_point(s['final_theta'])}   "
        f"loss {s['final_loss']:.6g}"
    )
    if s["nearest_minimum"] is not None and s["distance_to_minimum"] is not None:
        nm = s["nearest_minimum"]
        click.echo(
            label.format("nearest min") + f"{_fmt_point(nm['theta'])} ({nm['kind']}, "
            f"loss {nm['value']:.6g}): distance {s['distance_to_minimum']:.3g}"
        )
    if s.get("reference"):
        r = s["reference"]
        click.echo(
            label.format("reference") + f"{r['model']} model by {r['method']} (rtol "
            f"{r['rtol']:g}, atol {r['atol']:g}, {r['nfev']} evaluations)"
        )
        click.echo(
            label.format("") + f"|θ − θ(t)|: max {r['max_discrepancy']:.3g}, "
            f"final {r['final_discrepancy']:.3g}"
        )
    detail = MESSAGES[status]
    if status is Status.DIVERGED:
        detail += f" at step {s['diverged_at']}"
    click.echo(label.format("status") + f"{status.value} ({detail})")
    click.echo(
        label.format("time") + f"{s['wall_time_s'] * 1e3:.3g} ms stepping "
        f"({s['setup_time_s']:.2g} s to load or compile the stepper)"
    )
    if s["out"]:
        note = (
            " (overwrote the file that was there)" if s.get("out_overwritten") else ""
        )
        click.echo(label.format("saved") + s["out"] + note)
    if s.get("plot"):
        click.echo(label.format("drawn") + s["plot"])


def _progress_callback(
    total: int, quiet: bool, label: str = "stepping", least: int = 2**22
):
    """A click progress bar on stderr for long work at a terminal, else None."""
    if quiet or total < least or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=total, label=label, file=sys.stderr)
    bar.__enter__()
    state = {"done": 0}

    def update(done: int, _total: int) -> None:
        bar.update(done - state["done"])
        state["done"] = done

    return update, bar


def _reference_options(function):
    options = [
        click.option(
            "--model",
            default=None,
            metavar="NAME",
            help="Continuous model (default: the optimizer's first; see list).",
        ),
        click.option(
            "--init",
            type=click.Choice(["pytorch", "consistent"]),
            default="pytorch",
            show_default=True,
            help="Start-up: PyTorch's empty momentum buffer (b₁ = g₁), or the buffer "
            "that starts the two-step recursion from the model's own θ(−h) "
            "(second-order models need it).",
        ),
        click.option(
            "--method",
            default="auto",
            show_default=True,
            help="Reference integrator: auto (DOP853, or Radau once it proves stiff), "
            "DOP853, RK45, RK23, Radau, BDF, LSODA.",
        ),
        click.option(
            "--rtol",
            type=float,
            default=1e-10,
            show_default=True,
            help="Reference relative tolerance.",
        ),
        click.option(
            "--atol",
            type=float,
            default=1e-12,
            show_default=True,
            help="Reference absolute tolerance.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _check_plot_path(plot: str | None) -> str | None:
    """Validate a picture's path before any work (PlotError)."""
    if plot is None:
        return None
    from .plotting import check_image_path

    return str(check_image_path(plot))


@cli.command("run", context_settings=CONTEXT)
@_run_options
@click.option(
    "--reference",
    is_flag=True,
    help="Also solve the continuous model with scipy at the same times.",
)
@_reference_options
@click.option(
    "--out",
    default=None,
    metavar="FILE",
    help="Save the trajectory: .npz, .csv or .json.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (status, final_loss, ...) instead of the summary.",
)
@click.option(
    "--plot",
    default=None,
    metavar="FILE",
    help="Draw the run (and the ODE with --reference): .png, .svg or .pdf.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary or progress bar.")
@_noise_options
def run_command(
    optimizer,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play,
    d_steps,
    player_params,
    steps,
    record_every,
    tol,
    max_norm,
    reference,
    model,
    init,
    method,
    rtol,
    atol,
    out,
    as_json,
    plot,
    quiet,
    noise,
    batch_size,
    seed,
    paths,
) -> None:
    """Run an optimizer on a surface and state the ODE it discretises.

    Hyperparameters use torch.optim's names: --lr, --momentum, and --param for the
    rest (dampening, weight_decay, maximize, alpha, eps, centered, beta1, beta2,
    amsgrad, decoupled_weight_decay, lr_decay, initial_accumulator_value).

    \b
    Examples:
      odeopt run --optimizer nesterov --surface rosenbrock
      odeopt run -o adam -s quadratic --surface-param kappa=100 --dim 10 --lr 0.01
      odeopt run -o momentum -s lessard --lr 0.1111 --momentum 0.4444 --json
      odeopt run -o gd -s booth --lr 0.05 --noise iso:0.5 --batch-size 4 --seed 7
      odeopt run -o gd -s booth --lr 0.05 --noise iso:0.5 --steps 1000 --paths 1000
    """
    from .trajectory import check_output_path

    _refuse_without(reference, "--reference", "method", "rtol", "atol")
    _check_noise_settings(noise, batch_size, paths)
    if paths is not None and reference:
        raise InputError(
            "--reference solves the noiseless ODE of one run; with --paths use "
            "odeopt.sde for the moments of the SDE"
        )

    # The problem checks the start and every setting before anything is compiled.
    problem = _bind(
        optimizer,
        surface,
        lr,
        momentum,
        params,
        surface_params,
        dim,
        x0,
        play,
        d_steps,
        player_params,
        steps=steps,
        record_every=record_every,
        tol=tol,
        max_norm=max_norm,
        model=model,
        init=init,
        noise=noise,
        batch_size=batch_size,
        seed=seed,
    )
    bound, bound_surface = problem.optimizer, problem.surface
    if paths is not None:
        _run_ensemble(problem, paths, out, plot, as_json, quiet)
        return
    out_path = str(check_output_path(out)) if out is not None else None
    plot_path = _check_plot_path(plot)

    from .errors import ReferenceError
    from .reference import check_method
    from .stepper import add_reference, run

    if reference:
        check_method(method, rtol, atol)
    callback, bar = _progress_callback(steps, quiet or as_json)
    try:
        traj = run(problem, progress=callback)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    # The reference after the run: when it fails, the run it was for is still shown.
    reference_failure = None
    if reference:
        try:
            add_reference(
                traj, bound, bound_surface, problem.chosen_model, method, rtol, atol
            )
        except ReferenceError as error:
            reference_failure = str(error)
            traj.meta["reference_failure"] = reference_failure
    overwritten = out_path is not None and os.path.exists(out_path)
    if out_path is not None:
        traj.save(out_path)
    if plot_path is not None:
        from .plotting import plot_run, save

        save(plot_run(traj, bound_surface), plot_path)
    summary = traj.summary(bound_surface)
    summary["out"] = out_path
    summary["out_overwritten"] = overwritten
    summary["plot"] = plot_path
    summary["reference_failure"] = reference_failure
    if as_json:
        from .trajectory import dumps

        click.echo(dumps(summary, ensure_ascii=False))
    elif not quiet:
        _print_summary(summary, bound, bound_surface, traj)
    if reference_failure is not None:
        click.echo(f"odeopt: {reference_failure}", err=True)
        sys.exit(1)


def _run_ensemble(problem, paths, out, plot, as_json, quiet) -> None:
    """``odeopt run --paths M``: the M paths as one batch, and the law of the
    final loss."""
    from .ensemble import FORMATS, run_ensemble
    from .trajectory import check_output_path, dumps

    out_path = str(check_output_path(out, FORMATS)) if out is not None else None
    plot_path = _check_plot_path(plot)
    ensemble = run_ensemble(problem, paths)
    if out_path is not None:
        ensemble.save(out_path)
    if plot_path is not None:
        from .plotting import save
        from .sde_plots import plot_ensemble

        save(plot_ensemble(ensemble), plot_path)
    summary = ensemble.summary()
    summary.update(
        optimizer=problem.optimizer.name,
        surface=problem.surface.name,
        hyperparameters=dict(problem.optimizer.hp),
        out=out_path,
        plot=plot_path,
    )
    if as_json:
        click.echo(dumps(summary, ensure_ascii=False))
        return
    if quiet:
        return
    loss = summary["final_loss"]
    label = "  {:<12}"
    click.echo(
        f"{click.style(problem.optimizer.name, bold=True)} on "
        f"{click.style(problem.surface.name, bold=True)}: ensemble of {paths} noise "
        f"paths"
    )
    click.echo(label.format("optimizer") + problem.optimizer.describe())
    click.echo(
        label.format("noise")
        + f"{problem.noise.describe()}; seed {problem.seed}, paths "
        f"{summary['first_path']}..{summary['first_path'] + paths - 1}"
    )
    click.echo(label.format("steps") + f"{problem.steps}, t = {summary['t_final']:.6g}")
    q = loss["quantiles"]
    click.echo(
        label.format("final loss")
        + f"mean {loss['mean']:.6g} ± {loss['sem']:.2g} (standard error), "
        f"spread (std) {loss['std']:.6g}"
    )
    click.echo(
        label.format("")
        + f"quantiles 5% {q['0.05']:.6g}, 50% {q['0.5']:.6g}, 95% {q['0.95']:.6g}"
        f" over {loss['members']} paths"
    )
    if summary["final_theta_mean"] is not None:
        click.echo(label.format("mean final") + _fmt_point(summary["final_theta_mean"]))
    status = ", ".join(f"{k} {v}" for k, v in summary["status"].items())
    click.echo(label.format("status") + status)
    rate = summary["path_steps_per_s"]
    click.echo(
        label.format("time")
        + f"{summary['wall_time_s'] * 1e3:.3g} ms stepping"
        + (f" ({rate:.3g} path-steps/s)" if rate else "")
    )
    for name, value in (("saved", out_path), ("drawn", plot_path)):
        if value:
            click.echo(label.format(name) + value)


def _check_problem_options(function):
    return _apply(
        function,
        _problem_options(
            lr_help="Learning rate of the coarsest level (fixes the ODE parameters).",
            x0_help="Start point.",
        ),
    )


@cli.command("check", context_settings=CONTEXT)
@_check_problem_options
@click.option(
    "--horizon",
    type=float,
    default=None,
    help="ODE time T of the comparison [default: the model's regime, else 1].",
)
@click.option(
    "--levels",
    type=int,
    default=None,
    help="Number of step halvings [default: the model's regime, else 6].",
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="Largest accepted |fitted order − declared order| [default: a quarter of "
    "the declared order, at most 0.25].",
)
@_reference_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plot",
    default=None,
    metavar="FILE",
    help="Draw error against h with the fitted and declared slopes.",
)
@click.option(
    "--weak",
    is_flag=True,
    help="Weak order of the noisy optimizer against its SDE (--model sme1, sme2, "
    "kramers), from exact moments (linear problems).",
)
@click.option(
    "--strong",
    is_flag=True,
    help="Strong order of SGD against SME1 on shared Brownian paths (Monte Carlo, "
    "with a confidence interval of the slope).",
)
@_noise_options
def check_command(
    optimizer,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play,
    d_steps,
    player_params,
    horizon,
    levels,
    tolerance,
    model,
    init,
    method,
    rtol,
    atol,
    as_json,
    plot,
    weak,
    strong,
    noise,
    batch_size,
    seed,
    paths,
) -> None:
    """Measure the order of agreement of an optimizer with its continuous model.

    The model's time step h is halved LEVELS times at fixed ODE parameters; at each
    level the discrete optimizer runs n = round(T/h) steps and is compared with a
    tight-tolerance scipy solution at t = n·h.  The order is fitted on the finest
    levels; the command exits with code 1 when it differs from the declared order by
    more than --tolerance.

    \b
    Examples:
      odeopt check --optimizer gd --surface product-loss
      odeopt check -o momentum -s rosenbrock --lr 1e-3 --momentum 0.9 --json
      odeopt check -o nesterov -s product-loss --model high-res --init consistent
      odeopt check --weak -o gd -s quadratic --dim 2 --surface-param rotate=1 \\
          --surface-param kappa=4 --lr 0.1 --noise hessian:0.5 --model sme2
      odeopt check --strong -o gd -s booth --lr 0.02 --noise diag:0.5,1 --paths 1000
    """
    plot_path = _check_plot_path(plot)
    if weak or strong:
        _check_sde(
            weak, optimizer, surface, lr, momentum, params, surface_params, dim, x0,
            horizon, levels, tolerance, model, as_json, plot_path, noise,
            batch_size, seed, paths,
        )  # fmt: skip
        return
    if noise is not None or paths is not None or batch_size is not None:
        raise InputError("--noise, --batch-size and --paths go with --weak or --strong")
    from .check import check_order
    from .reference import check_method

    # The model and start-up are checked by check_order, at its own levels.
    game = _game_settings(play, d_steps, player_params)
    problem = _bind(optimizer, surface, lr, momentum, params, surface_params, dim, x0,
                    play, d_steps, player_params)  # fmt: skip
    check_method(method, rtol, atol)

    def progress(level: int, n_levels: int, steps: int, total: int) -> None:
        # Checks of many steps take minutes: say what is being done, on stderr.
        if total >= LONG_CHECK_STEPS and not as_json:
            if level == 0:
                click.echo(f"check: {total:,} steps over {n_levels} levels", err=True)
            click.echo(f"  level {level + 1}/{n_levels}: {steps:,} steps", err=True)

    result = check_order(
        problem.optimizer.optimizer,
        problem.surface,
        progress=progress,
        model=model,
        init=init,
        horizon=horizon,
        levels=levels,
        tolerance=tolerance,
        x0=problem.x0,
        method=method,
        rtol=rtol,
        atol=atol,
        # only what the user set: the model's regime may choose the rest
        **_collect_hyperparameters(lr, momentum, params),
        **({"game": game} if game else {}),
    )
    if as_json:
        from .trajectory import dumps

        click.echo(dumps(result.as_dict(), ensure_ascii=False))
    else:
        verdict = click.style(
            "passed" if result.passed else "FAILED",
            bold=True,
            fg="green" if result.passed else "red",
        )
        click.echo(
            f"{click.style(result.optimizer, bold=True)} on "
            f"{click.style(result.surface, bold=True)}: model {result.model}, "
            f"{result.ode}, horizon T = {result.horizon:g}, init {result.init}"
        )
        click.echo(f"reference: {result.reference['description']}")
        if result.note:
            click.echo(f"note: {result.note}")
        click.echo(result.table())
        click.echo(
            f"declared order {result.declared_order:g}, fitted "
            f"{result.fitted_order:.3f} on the finest {result.fit_levels} levels "
            f"(tolerance ±{result.tolerance:g}): {verdict}"
        )
        for reason in result.why:
            click.echo(f"  why: {reason}")
    if plot_path is not None:
        from .plotting import order_plot, save

        save(order_plot(result).figure, plot_path)
        if not as_json:
            click.echo(f"drawn: {plot_path}")
    if not result.passed:
        sys.exit(1)


def _check_sde(
    weak, optimizer, surface, lr, momentum, params, surface_params, dim, x0, horizon,
    levels, tolerance, model, as_json, plot_path, noise, batch_size, seed, paths,
) -> None:  # fmt: skip
    """``odeopt check --weak`` / ``--strong``: the order of a noisy optimizer
    against its SDE (odeopt.sde); exit 1 when it is off by more than the
    tolerance."""
    import math

    from . import sde
    from .trajectory import dumps

    if noise is None:
        raise InputError("--weak and --strong need --noise (e.g. --noise iso:0.5)")
    if paths is not None and paths < 10:
        raise InputError(f"--paths must be >= 10 for the strong check, got {paths}")
    problem = _bind(
        optimizer, surface, lr, momentum, params, surface_params, dim, x0,
        noise=noise, batch_size=batch_size, seed=seed,
    )  # fmt: skip
    bound, bound_surface, bound_noise = (
        problem.optimizer,
        problem.surface,
        problem.noise,
    )
    horizon = 1.0 if horizon is None else horizon
    interval = None
    if weak:
        if paths is not None:
            raise InputError("--weak uses exact moments: leave --paths out")
        name = model or {"gd": "sme1", "momentum": "kramers"}.get(bound.name, "sme1")
        if name not in sde.MODELS:
            raise InputError(
                f"unknown SDE model {name!r} (valid: {', '.join(sde.MODELS)})"
            )
        result = sde.weak_order(
            name, bound, bound_surface, bound_noise, problem.x0,
            horizon=horizon, levels=levels or 6,
        )  # fmt: skip
        kind, label = "weak", f"{bound.name} vs {name}"
    else:
        if model not in (None, "sme1"):
            raise InputError("--strong compares SGD with SME1 (leave --model out)")
        result = sde.strong_order(
            bound, bound_surface, bound_noise, problem.x0, horizon=horizon,
            levels=levels or 5, paths=paths or 1000, seed=seed,
        )  # fmt: skip
        kind, label, interval = "strong", result.label, result.interval
    off = abs(result.fitted_order - result.declared_order)
    if tolerance is None:
        from .check import default_tolerance

        tolerance = default_tolerance(result.declared_order)
    passed = off <= tolerance
    resolved = interval is None or (interval[1] - interval[0]) / 2 < tolerance
    passed = passed and resolved
    if as_json:
        record = {
            "check": kind, "optimizer": bound.name, "surface": bound_surface.name,
            "noise": bound_noise.as_dict(), "seed": seed, "label": label,
            "h": result.h, "steps": result.steps, "error": result.error,
            "fitted_order": result.fitted_order,
            "declared_order": result.declared_order, "tolerance": tolerance,
            "interval": interval, "passed": passed,
        }  # fmt: skip
        click.echo(dumps(record, ensure_ascii=False))
    else:
        verdict = click.style(
            "passed" if passed else "FAILED", bold=True,
            fg="green" if passed else "red",
        )  # fmt: skip
        click.echo(
            f"{click.style(label, bold=True)} on {bound_surface.name}: {kind} order, "
            f"noise {bound_noise.describe()}, horizon T = {horizon:g}"
        )
        click.echo(result.table())
        extra = "" if resolved else " (the interval is wider than the tolerance)"
        click.echo(
            f"|fitted − declared| = {off:.3f} (tolerance ±{tolerance:g}): "
            f"{verdict}{extra}"
        )
    if plot_path is not None:
        from .plotting import new_figure, save
        from .sde_plots import strong_order_plot, weak_order_plot

        ax = new_figure(5.5, 4.2).add_subplot()
        (weak_order_plot if weak else strong_order_plot)([result], ax)
        save(ax.figure, plot_path)
        if not as_json:
            click.echo(f"drawn: {plot_path}")
    if not passed or not math.isfinite(result.fitted_order):
        sys.exit(1)


def _several_options(function):
    """Options shared by ``compare`` and ``animate``: several optimizers, one start."""
    options = _problem_options(
        several=True,
        lr_help="Learning rate for every optimizer.",
        x0_help="The common start point.",
    ) + [
        click.option(
            "--steps",
            type=int,
            default=10_000,
            show_default=True,
            help="Steps (of the first optimizer, with --align time).",
        ),
        click.option(
            "--align",
            type=click.Choice(["steps", "time"]),
            default="steps",
            show_default=True,
            help="Same number of steps, or the same ODE time for every optimizer.",
        ),
        click.option(
            "--reference", is_flag=True, help="Also draw each optimizer's ODE."
        ),
    ]
    return _apply(function, options)


def _run_several(
    optimizers,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play,
    d_steps,
    player_params,
    steps,
    align,
    reference,
    tol=1e-6,
    noise=None,
    batch_size=None,
    seed=0,
    paths=None,
):
    """compare() from command-line strings."""
    from .compare import compare

    _check_noise_settings(noise, batch_size, paths)

    return compare(
        list(optimizers),
        surface,
        steps=steps,
        align=align,
        tol=tol,
        x0=_parse_x0(x0),
        dim=dim,
        surface_params=_surface_values(surface, surface_params),
        hyperparameters=_collect_hyperparameters(lr, momentum, params),
        reference=reference,
        game=_game_settings(play, d_steps, player_params),
        noise=noise,
        batch_size=batch_size,
        seed=seed,
        paths=paths,
    )


@cli.command("compare", context_settings=CONTEXT)
@_several_options
@click.option(
    "--tol",
    type=float,
    default=1e-6,
    show_default=True,
    help="Loss gap above the minimum that 'to tol' counts steps to.",
)
@click.option(
    "--plot", default=None, metavar="FILE", help="One figure: .png, .svg, .pdf."
)
@click.option("--out", default=None, metavar="FILE", help="The table: .json or .csv.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_noise_options
def compare_command(
    optimizers,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play,
    d_steps,
    player_params,
    steps,
    align,
    reference,
    tol,
    plot,
    out,
    as_json,
    noise,
    batch_size,
    seed,
    paths,
) -> None:
    """Run several optimizers from the same start and compare them.

    \b
    Examples:
      odeopt compare -o gd -o momentum -o nesterov -o adam -s rosenbrock --plot cmp.png
      odeopt compare -o gd -o momentum -s quadratic --surface-param kappa=100 --align time
      odeopt compare -o gd -o momentum -s booth --lr 0.02 --noise iso:1 --paths 500
    """
    from .compare import FORMATS
    from .trajectory import check_output_path, dumps

    plot_path = _check_plot_path(plot)
    out_path = check_output_path(out, FORMATS) if out is not None else None
    result = _run_several(
        optimizers,
        surface,
        lr,
        momentum,
        params,
        surface_params,
        dim,
        x0,
        play,
        d_steps,
        player_params,
        steps,
        align,
        reference,
        tol,
        noise,
        batch_size,
        seed,
        paths,
    )
    if out_path is not None:
        result.save(out_path)
    if plot_path is not None:
        from .plotting import plot_compare, save

        save(
            plot_compare(
                result.trajectories,
                result.surface,
                x="t" if align == "time" else "step",
            ),
            plot_path,
        )
    if as_json:
        click.echo(dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{len(result.rows)} optimizers on {surface}, same start, align {align}; "
        f"'to tol': first step with loss within {tol:g} of the minimum"
    )
    if result.noise is not None:
        click.echo(
            f"noise {result.trajectories[0].problem.noise.describe()}, seed {seed}: "
            "the same noise path 0 for every optimizer"
            + (f"; ensembles of {paths} paths" if paths is not None else "")
        )
    click.echo(result.table())
    for label_, value in (("saved", out), ("drawn", plot_path)):
        if value:
            click.echo(f"{label_}: {value}")


@cli.command("animate", context_settings=CONTEXT)
@_several_options
@click.option(
    "--out",
    required=True,
    metavar="FILE.gif",
    help="The animation (GIF, written with Pillow: no ffmpeg needed).",
)
@click.option(
    "--frames",
    type=click.IntRange(2, 2000),
    default=60,
    show_default=True,
    help="Number of frames.",
)
@click.option(
    "--fps",
    type=click.FloatRange(0.1, 100.0),
    default=15.0,
    show_default=True,
    help="Frames per second.",
)
@click.option(
    "--pace",
    type=click.Choice(["motion", "uniform"]),
    default="motion",
    show_default=True,
    help="Frames evenly spaced in distance travelled, or in time/steps.",
)
@click.option(
    "--dpi",
    type=click.IntRange(30, 300),
    default=80,
    show_default=True,
    help="Resolution (80 gives 800 × 336 pixels).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing.")
@_noise_options
def animate_command(
    optimizers,
    surface,
    lr,
    momentum,
    params,
    surface_params,
    dim,
    x0,
    play,
    d_steps,
    player_params,
    steps,
    align,
    reference,
    out,
    frames,
    fps,
    pace,
    dpi,
    quiet,
    noise,
    batch_size,
    seed,
    paths,
) -> None:
    """Animate one or more optimizers from the same start (a GIF).

    The iterates move over the contour (2-D), along the loss curve (1-D) or in the
    first two coordinates (n-D), beside the loss against ODE time (--align time) or
    step; with --reference the ODE curve grows under each run.

    \b
    Examples:
      odeopt animate -o nesterov -s rosenbrock --reference --out nesterov.gif
      odeopt animate -o gd -o momentum -o adam -s himmelblau --align time --out race.gif
      odeopt animate -o gd -s double-well --lr 0.01 --noise iso:1 --paths 4 --out w.gif

    With --noise every optimizer meets the same noise; --paths M (at most
    ANIMATED_PATHS) animates noise paths 0 .. M−1 of each.
    """
    from .plotting import check_animation_path

    _check_noise_settings(noise, batch_size, paths)
    if paths is not None and paths > ANIMATED_PATHS:
        raise InputError(
            f"--paths for animate draws each path: at most {ANIMATED_PATHS}, got "
            f"{paths} (odeopt run --paths M summarises large ensembles)"
        )
    out_path = str(check_animation_path(out))
    result = _run_several(
        optimizers,
        surface,
        lr,
        momentum,
        params,
        surface_params,
        dim,
        x0,
        play,
        d_steps,
        player_params,
        steps,
        align,
        reference,
        noise=noise,
        batch_size=batch_size,
        seed=seed,
    )
    from .plotting import animate, save_animation

    trajectories = list(result.trajectories)
    if paths is not None and paths > 1:
        from .stepper import run

        trajectories = [
            traj if p == 0 else run(traj.problem.replace(path=p), reference=reference)
            for traj in result.trajectories
            for p in range(paths)
        ]
    animation = animate(
        trajectories,
        result.surface,
        x="t" if align == "time" else "step",
        frames=frames,
        pace=pace,
    )
    callback, bar = _progress_callback(frames, quiet, "drawing frames", least=1)
    try:
        save_animation(animation, out_path, fps=fps, dpi=dpi, progress=callback)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if not quiet:
        for traj in trajectories:
            path = f", noise path {traj.meta['path']}" if traj.meta.get("noise") else ""
            click.echo(
                f"{traj.meta['optimizer']}{path}: {traj.steps_done} steps to t = "
                f"{float(traj.t[-1]):.4g}, final loss {traj.final_loss:.6g}, "
                f"{traj.status.value}"
            )
        click.echo(f"animated: {out_path} ({frames} frames, {frames / fps:.1f} s)")


@cli.command("sweep", context_settings=CONTEXT)
@click.option("--optimizer", "-o", required=True, type=RegistryName("optimizer"),
              help="Optimizer name (odeopt list optimizers).")  # fmt: skip
@click.option("--surface", "-s", required=True, type=RegistryName("surface"),
              help="Surface name (odeopt list surfaces).")  # fmt: skip
@click.option(
    "--grid",
    "grids",
    multiple=True,
    required=True,
    metavar="NAME=SPEC",
    help="An axis: NAME=LO:HI:N, NAME=LO:HI:log:N or NAME=A,B,... over a "
    "hyperparameter, a surface parameter, start_0/start_1/... or seed (repeatable; "
    "the order of the dimensions).",
)
@click.option("--lr", type=float, default=None, help="Fixed learning rate.")
@click.option("--momentum", type=float, default=None, help="Fixed momentum β.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any other fixed hyperparameter (repeatable).")  # fmt: skip
@click.option("--surface-param", "surface_params", multiple=True, metavar="NAME=VALUE",
              help="Fixed surface parameter (repeatable).")  # fmt: skip
@click.option("--dim", type=int, default=None, help="Dimension of n-D surfaces.")
@click.option(
    "--steps", type=int, default=1000, show_default=True, help="Steps per run."
)
@click.option("--tol", type=float, default=0.0, show_default=True,
              help="Stop (converged) when the gradient norm is below this.")  # fmt: skip
@click.option(
    "--divergence",
    type=click.Choice(["none", "rate"]),
    default="none",
    show_default=True,
    help="rate: also mark a run diverged when its error grows over the tail (runs "
    "above their stability edge, before they pass 1e100); none: only |θ| > 1e100.",
)
@click.option(
    "--records",
    type=int,
    default=1000,
    show_default=True,
    help="Records per run for the rate, sharpness and divergence test (every step "
    "up to this many); 0: none, the fastest sweep (no rate).",
)
@click.option("--noise", default=None, metavar="NAME:SIGMA",
              help="Gradient noise (e.g. iso:0.5); seed can then be an axis.")  # fmt: skip
@click.option("--out", default=None, metavar="FILE",
              help="Write the result: .nc (NetCDF4), .zarr or .csv.")  # fmt: skip
@click.option("--plot", default=None, metavar="FILE",
              help="Draw the phase diagram, basin map or curve (.png, .svg, .pdf).")  # fmt: skip
@click.option("--workers", type=int, default=None, metavar="N",
              help="Run on a dask LocalCluster of N worker processes.")  # fmt: skip
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on the dask cluster at ADDRESS (tcp://host:port).")  # fmt: skip
@click.option("--threads", type=int, default=None, metavar="N",
              help="numba threads per chunk (per worker with --workers/--scheduler).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No summary or progress bar.")
def sweep_command(
    optimizer, surface, grids, lr, momentum, params, surface_params, dim, steps, tol,
    divergence, records, noise, out, plot, workers, scheduler, threads, quiet,
) -> None:  # fmt: skip
    """Run an optimizer over a grid of settings or starts; save and draw the map.

    Every cell is a run of its own (bit for bit what odeopt run gives); the result
    holds per cell the status, end point, basin, tail rate and sharpness, with the
    linear theory's boundary drawn over the measured phase diagram.

    \b
    Examples:
      odeopt sweep -o momentum -s quadratic --grid lr=1e-3:2:log:256 \\
          --grid momentum=0:0.999:256 --steps 1000 --out map.nc --plot map.png
      odeopt sweep -o gd -s himmelblau --lr 0.01 --grid start_0=-5:5:200 \\
          --grid start_1=-5:5:200 --steps 2000 --plot basins.png
    """
    from .sweeps import _suffix, parse_axis

    if out is not None:
        _suffix(out)
    plot_path = _check_plot_path(plot)
    axes: dict[str, Any] = {}
    for text in grids:
        name, values = parse_axis(text)
        if name in axes:
            raise InputError(f"--grid {name} given twice")
        axes[name] = values
    hp = _collect_hyperparameters(lr, momentum, params)
    sp = _surface_values(surface, surface_params)
    update, bar = None, None
    from .sweeps import save_sweep, sweep

    total = 1
    for values in axes.values():
        total *= len(values)
    update, bar = _progress_callback(total * steps, quiet, "sweeping")
    try:
        ds = sweep(
            optimizer, surface, grid=axes, steps=steps, hyperparameters=hp,
            surface_params=sp, dim=dim, tol=tol, noise=noise,
            divergence=None if divergence == "none" else divergence, records=records,
            workers=workers, scheduler=scheduler, threads=threads,
            progress=None if update is None else (
                lambda done, all_: update(done * steps, all_ * steps)
            ),
        )  # fmt: skip
    except KeyboardInterrupt:
        if bar is not None:
            bar.__exit__(None, None, None)
        click.echo("odeopt: interrupted; nothing written", err=True)
        sys.exit(130)
    if bar is not None:
        bar.__exit__(None, None, None)
    if out is not None:
        save_sweep(ds, out)
    if plot_path is not None:
        from .plotting import save
        from .sweeps import plot_sweep

        save(plot_sweep(ds), plot_path)
    if not quiet:
        import numpy as np

        statuses = ", ".join(
            f"{int(np.sum(ds.status.values == name))} {name}"
            for name in ("converged", "max_steps", "diverged")
        )
        cells = int(ds.status.size)
        wall = float(ds.attrs["wall_time_s"])
        click.echo(f"sweep:   {optimizer} on {surface}, {cells} cells × {steps} steps "
                   f"({' × '.join(f'{d} {len(v)}' for d, v in axes.items())})")  # fmt: skip
        click.echo(f"status:  {statuses}")
        click.echo(f"time:    {wall:.3g} s ({cells * steps / max(wall, 1e-9):.3g} "
                   "trajectory-steps/s, measurements included)")  # fmt: skip
        if out is not None:
            click.echo(f"saved:   {out}")
        if plot_path is not None:
            click.echo(f"drawn:   {plot_path}")


@cli.command("plot", context_settings=CONTEXT)
@click.argument("saved", metavar="SAVED")
@click.option(
    "--plot",
    default=None,
    metavar="FILE",
    help="Picture to write (.png, .svg, .pdf) [default: SAVED with .png].",
)
def plot_command(saved: str, plot: str | None) -> None:
    """Redraw a saved run (.npz, .csv or .json written by odeopt run --out) or a
    saved sweep (.nc, .zarr or .csv written by odeopt sweep --out).

    \b
    Example:
      odeopt run -o adam -s himmelblau --reference --out run.npz
      odeopt plot run.npz --plot run.svg
      odeopt plot map.nc
    """
    from pathlib import Path

    from .trajectory import Trajectory

    plot_path = _check_plot_path(plot or str(Path(saved).with_suffix(".png")))
    from .sweeps import is_sweep_file

    if is_sweep_file(saved):
        from .plotting import save
        from .sweeps import load_sweep, plot_sweep

        save(plot_sweep(load_sweep(saved)), plot_path)
        click.echo(f"drawn: {plot_path}")
        return
    traj = Trajectory.load(saved)
    from .plotting import plot_run, save

    save(plot_run(traj), plot_path)
    click.echo(f"drawn: {plot_path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: click, with every usage error reduced to one line and exit code 2.

    The one place that maps exceptions to exit codes: click's usage errors and
    :class:`~odeopt.errors.InputError` give 2, any other
    :class:`~odeopt.errors.OdeoptError` (a failed reference solve) gives 1, each as one
    line; anything else is a bug and propagates with its traceback.
    """
    try:
        code = cli.main(args=argv, prog_name="odeopt", standalone_mode=False)
    except click.UsageError as error:
        message = error.format_message()
        if isinstance(error, click.BadParameter):
            message = message.replace("\n", " ")
        click.echo(f"odeopt: error: {message}", err=True)
        sys.exit(2)
    except InputError as error:
        click.echo(f"odeopt: error: {error}", err=True)
        sys.exit(2)
    except click.ClickException as error:
        click.echo(f"odeopt: error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except OdeoptError as error:
        click.echo(f"odeopt: error: {error}", err=True)
        sys.exit(1)
    except click.Abort:
        click.echo("odeopt: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def console_main() -> None:
    """The ``odeopt`` command: :func:`main`, then a prompt exit.

    Once numba is loaded, the interpreter's ordinary shutdown (tearing down ~10^5
    objects of numba's type registries and LLVM) takes ~0.13 s, a quarter of a warm
    ``odeopt run`` (measured: 0.66 s -> 0.53 s).  Every file asked for is complete by
    now (written atomically) and nothing registers exit handlers, so the process
    flushes its streams and leaves with ``os._exit``.  In-process callers (tests,
    notebooks) use :func:`main`, which ends with ``sys.exit`` as usual.
    """
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
        if not isinstance(code, int):
            if code is not None:  # sys.exit("message") prints it, as Python does
                print(code, file=sys.stderr)
            code = 0 if code is None else 1
    if "numba" not in sys.modules:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        code = code or 1
    os._exit(code)


if __name__ == "__main__":
    console_main()
