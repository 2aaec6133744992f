"""Loss formulas (odeopt/expressions.py): hostile text refused with nothing run,
derivatives checked against independent evaluation, runs equal to the built-ins."""

import builtins
import json
import math
import pickle
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import odeopt
from odeopt import expressions
from odeopt.cli import main
from odeopt.errors import InputError
from odeopt.expressions import ExpressionError, from_expression, parse


def invoke(capsys, *args):
    """Run ``odeopt ARGS`` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# -- hostile and broken text ------------------------------------------------------------

# (formula, words the one-line refusal must contain)
HOSTILE = [
    ("__import__('os').system('touch {canary}')", ["attribute access"]),
    ("__import__('os')", ["__import__", "not allowed"]),
    ("x.real + y", ["attribute access (.real)"]),
    ("().__class__.__bases__[0]", ["subscripts"]),
    ("x[0] + y", ["subscripts"]),
    ("(lambda: 1)() + x", ["named functions"]),
    ("sum([x_i for x_i in x0])", ["comprehensions"]),
    ("sum(x_i**2 for x_i in x)", ["comprehensions"]),
    ("sinn(x) + y", ["unknown function 'sinn'", "did you mean sin"]),
    ("exxp(x)", ["unknown function 'exxp'", "did you mean exp"]),
    ("eval('x')", ["unknown function 'eval'"]),
    ("__builtins__", ["double-underscore"]),
    ("x + __name__", ["double-underscore"]),
    ("sin(x=1)", ["keyword arguments"]),
    ("'x' + y", ["strings"]),
    ("x + b'y'", ["strings"]),
    ("9**9**9", ["exponent", "too large"]),
    ("(" * 10_000 + "x" + ")" * 10_000, ["too long"]),
    ("x+" * 500_000, ["too long"]),
    ("(" * 100 + "x" + ")" * 100, ["nested"]),
    ("\uff58**2 + y", ["U+FF58", "looks like 'x'", "ASCII"]),  # fullwidth x
    ("\u0445**2 + y", ["U+0445", "ASCII"]),  # Cyrillic x
    ("x + q", ["unknown name 'q'", "declare a parameter"]),
    ("2 + 3", ["no variable"]),
    ("x - x + 1", ["no variable"]),
    ("log(-1 - x**2 - y**2)", ["not finite at any"]),  # undefined everywhere
    ("x**2 + sqrt(-1 - y**2)", ["not finite at any"]),
    ("x ^ 2", ["write powers as **"]),
    ("x % 2", ["% is not allowed"]),
    ("x if y else 1", ["if/else"]),
    ("x < y", ["comparisons"]),
    ("[x, y]", ["lists"]),
    ("x = y", ["not a formula"]),
    ("1/0 + x", ["division by zero"]),
    ("1j*x", ["complex"]),
    ("True + x", ["not a number"]),
    ("sin(sum(x_i**2))", ["sum(...) may only be added"]),
    ("x_i + y", ["only inside sum"]),
    ("sin + x", ["is a function"]),
    ("x0 + y", ["either x, y, z or x0"]),
    ("", ["empty"]),
]


def _text(formula: str, tmp_path) -> str:
    return formula.replace("{canary}", str(tmp_path / "CANARY"))


@pytest.fixture
def no_text_evaluation(monkeypatch):
    """Fail the test if the formula's text reaches eval or sympy's parsers.

    Yields a list: append the text under test.  Other callers of eval (numpy's
    namedtuples) and sympy's own calls on objects go through untouched.
    """
    import sympy
    from sympy.parsing import sympy_parser

    watched: list[str] = []

    def refuse(name, original):
        def guard(*args, **kwargs):
            texts = [a for a in (*args, *kwargs.values()) if isinstance(a, str)]
            if any(w and w in text for w in watched for text in texts):
                raise AssertionError(f"{name} was called on the formula")
            if name == "sympify" and texts:
                raise AssertionError("sympify was called on text")
            return original(*args, **kwargs)

        return guard

    monkeypatch.setattr(builtins, "eval", refuse("eval", builtins.eval))
    monkeypatch.setattr(sympy, "sympify", refuse("sympify", sympy.sympify))
    monkeypatch.setattr(
        sympy_parser, "parse_expr", refuse("parse_expr", sympy_parser.parse_expr)
    )
    monkeypatch.setattr(sympy, "lambdify", refuse("lambdify", sympy.lambdify))
    return watched


@pytest.mark.parametrize(("formula", "needles"), HOSTILE, ids=lambda v: str(v)[:40])
def test_refused_from_python_in_one_line(
    formula, needles, tmp_path, monkeypatch, no_text_evaluation
):
    monkeypatch.chdir(tmp_path)
    text = _text(formula, tmp_path)
    no_text_evaluation.append(text.strip())
    with pytest.raises(ExpressionError) as info:
        from_expression(text)
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert not (tmp_path / "CANARY").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("formula", "needles"), HOSTILE, ids=lambda v: str(v)[:40])
def test_refused_from_the_command_line_exit_2(formula, needles, tmp_path, capsys):
    out_file = tmp_path / "never.npz"
    code, out, err = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "expr:" + _text(formula, tmp_path),
        "--steps",
        "10",
        "--out",
        str(out_file),
    )
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]
    assert not out_file.exists()
    assert not (tmp_path / "CANARY").exists()


def test_canary_in_a_subprocess_is_never_touched(tmp_path):
    """The shell command of the classic payload, through the real ``odeopt``."""
    canary = tmp_path / "pwned"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "odeopt",
            "run",
            "-o",
            "gd",
            "-s",
            f"expr:__import__('os').system('touch {canary}')",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert not canary.exists()


def test_generated_source_holds_no_name_or_text_of_the_formula():
    surface = from_expression(
        "alpha*(x - 1)**2 + beta_2*tanh(y)**2", params={"alpha": 2.0, "beta_2": 0.5}
    )
    source = surface.source
    for word in ("alpha", "beta_2", "tanh(y)", "x - 1"):
        assert word not in source
    assert "p0" in source and "t1" in source


def test_parameter_names_are_checked():
    for name in ("x", "sin", "e", "x3", "__a", "a b", "i", "lambda"):
        with pytest.raises(ExpressionError):
            parse("x**2 + y**2", (name,))


def test_parse_never_runs_python_on_the_text(no_text_evaluation):
    no_text_evaluation.append("x_next - x_i**2")
    parsed = parse("sum(b*(x_next - x_i**2)**2 + (1 - x_i)**2) + x0", ("b",))
    assert parsed.has_sums and parsed.n_explicit == 1


# -- derivatives against independent evaluation -------------------------------------------

# Each leaf/function: (text, mpmath function) — the mpmath side is a separate
# evaluator of the same tree, written from the functions' definitions.
_UNARY = [
    ("sin", mpmath.sin),
    ("cos", mpmath.cos),
    ("tanh", mpmath.tanh),
    ("arctan", mpmath.atan),
    ("exp", lambda v: mpmath.exp(v)),
]


@st.composite
def formulas(draw, depth=3):
    """A random allowed formula in x, y: (text, mpmath function of (x, y))."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["x", "y", "const"]))
        if kind == "const":
            c = draw(st.integers(-5, 5)) / 2
            return (f"({c!r})", lambda x, y, c=c: mpmath.mpf(c))
        return (kind, (lambda x, y: x) if kind == "x" else (lambda x, y: y))
    op = draw(st.sampled_from(["+", "-", "*", "**", "f", "log", "sqrt", "/"]))
    a_text, a = draw(formulas(depth=depth - 1))
    if op == "f":
        name, f = draw(st.sampled_from(_UNARY))
        if name == "exp":  # bounded argument: no overflow
            return (f"exp(sin({a_text}))", lambda x, y: mpmath.exp(mpmath.sin(a(x, y))))
        return (f"{name}({a_text})", lambda x, y: f(a(x, y)))
    if op == "log":
        return (f"log(1 + ({a_text})**2)", lambda x, y: mpmath.log(1 + a(x, y) ** 2))
    if op == "sqrt":
        return (
            f"sqrt(2 + cos({a_text}))",
            lambda x, y: mpmath.sqrt(2 + mpmath.cos(a(x, y))),
        )
    if op == "**":
        k = draw(st.integers(1, 4))
        return (f"({a_text})**{k}", lambda x, y: a(x, y) ** k)
    b_text, b = draw(formulas(depth=depth - 1))
    if op == "/":
        return (
            f"({a_text})/(1.5 + cos({b_text}))",
            lambda x, y: a(x, y) / (1.5 + mpmath.cos(b(x, y))),
        )
    function = {
        "+": lambda u, v: u + v,
        "-": lambda u, v: u - v,
        "*": lambda u, v: u * v,
    }[op]
    return (f"({a_text}) {op} ({b_text})", lambda x, y: function(a(x, y), b(x, y)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    formula=formulas(),
    point=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)),
)
def test_value_and_gradient_match_mpmath(formula, point):
    text, reference = formula
    # x and y both appear, so the surface is 2-D whatever the draw
    text = f"{text} + 0.25*(x**2 + y**2)"

    def f(x, y):
        return reference(x, y) + mpmath.mpf(0.25) * (x**2 + y**2)

    surface = from_expression(text).bind()
    x = np.array(point, dtype=float)
    mpmath.mp.dps = 40
    exact = f(mpmath.mpf(x[0]), mpmath.mpf(x[1]))
    value = surface.value(x)
    assert math.isclose(value, float(exact), rel_tol=1e-11, abs_tol=1e-11)
    gradient = surface.grad(x)
    for j, order in enumerate([(1, 0), (0, 1)]):
        d = mpmath.diff(f, (mpmath.mpf(x[0]), mpmath.mpf(x[1])), order)
        assert math.isclose(gradient[j], float(d), rel_tol=1e-9, abs_tol=1e-9)
    hessian = surface.hess(x)
    d_xy = mpmath.diff(f, (mpmath.mpf(x[0]), mpmath.mpf(x[1])), (1, 1))
    assert math.isclose(hessian[0, 1], float(d_xy), rel_tol=1e-8, abs_tol=1e-8)
    assert hessian[0, 1] == hessian[1, 0]


_FORBIDDEN = [
    "x.real",
    "x[0]",
    "'s'",
    "foo(x)",
    "__import__",
    "(lambda: x)",
    "(x if y else x)",
    "[x]",
    "(x % 2)",
    "sin(x=y)",
    "(x for x in y)",
    "os.system",
    "x.__class__",
    "{x: 1}",
    "q",
    "(x < y)",
    "(x and y)",
    "f'{x}'",
]


@settings(max_examples=60, deadline=None)
@given(formula=formulas(), bad=st.sampled_from(_FORBIDDEN), data=st.data())
def test_a_forbidden_piece_anywhere_is_refused(formula, bad, data):
    text = formula[0]
    spots = [i for i, c in enumerate(text) if c in "xy"]
    if spots:  # put the forbidden piece in place of one variable
        i = data.draw(st.sampled_from(spots))
        text = text[:i] + bad + text[i + 1 :]
    else:
        text = f"{text} + {bad}"
    with pytest.raises(ExpressionError):
        parse(text)


@pytest.mark.parametrize("cross", [True, False])
def test_n_dimensional_sums_against_numpy(cross):
    surface = from_expression(
        "sum((i + 1)*x_i**2) + a*sum(cos(x_next - x_i))"
        + (" + x0*x1" if cross else ""),
        params={"a": 0.5},
    )
    assert surface.dim is None
    rng = np.random.default_rng(3)
    for dim in (2, 3, 7):
        bound = surface.bind(dim)
        x = rng.normal(size=dim)
        idx = np.arange(dim)
        d = x[1:] - x[:-1]
        value = np.sum((idx + 1) * x**2) + 0.5 * np.sum(np.cos(d)) + cross * x[0] * x[1]
        grad = 2 * (idx + 1) * x
        grad[:-1] += 0.5 * np.sin(d)
        grad[1:] -= 0.5 * np.sin(d)
        grad[0] += cross * x[1]
        grad[1] += cross * x[0]
        hess = np.diag(2.0 * (idx + 1))
        c = 0.5 * np.cos(d)
        for k in range(dim - 1):
            hess[k, k] -= c[k]
            hess[k + 1, k + 1] -= c[k]
            hess[k, k + 1] += c[k]
            hess[k + 1, k] += c[k]
        hess[0, 1] += cross
        hess[1, 0] += cross
        assert bound.value(x) == pytest.approx(value, rel=1e-13)
        np.testing.assert_allclose(bound.grad(x), grad, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(bound.hess(x), hess, rtol=1e-13, atol=1e-14)


def test_derivative_check_catches_a_wrong_gradient():
    surface = from_expression("x**3 + y**2")
    bound = surface.bind()

    class Wrong:
        def __getattr__(self, name):
            return getattr(bound, name)

        def python_kernels(self):
            value, grad, hess = bound.python_kernels()

            def bad_grad(x, p, out):
                grad(x, p, out)
                out[0] *= 1.001

            return value, bad_grad, hess

    with pytest.raises(expressions.DerivativeError, match="central differences"):
        expressions.check_derivatives(Wrong())


# -- the cache file -------------------------------------------------------------------


def test_the_module_file_is_named_by_the_hash_of_its_content():
    import hashlib

    surface = from_expression("(x - 2)**2 + 3*(y + 1)**2")
    path = surface.kernels.__file__
    digest = hashlib.sha256(surface.source.encode()).hexdigest()[:32]
    assert path.endswith(f"odeopt_expr_{digest}.py")
    with open(path) as handle:
        assert handle.read() == surface.source


def test_different_formulas_get_different_runner_stamps():
    from odeopt import _codegen
    from odeopt.registry import get_optimizer

    family = sys.modules[get_optimizer("gd").module]
    a = from_expression("(x - 2)**2 + y**2").kernels
    b = from_expression("(x - 2)**2 + 2*y**2").kernels
    assert _codegen.runner_source(family, a)[1] != _codegen.runner_source(family, b)[1]


def test_a_pickled_surface_rebuilds_its_module():
    surface = from_expression("(x - 1)**4 + y**2")
    clone = pickle.loads(pickle.dumps(surface))
    del sys.modules[surface.module]
    bound = clone.bind()
    assert bound.value([2.0, 3.0]) == 10.0
    np.testing.assert_array_equal(bound.grad([2.0, 3.0]), [4.0, 6.0])


# -- runs on formula surfaces -----------------------------------------------------------

ROSENBROCK = "b*(y - x**2)**2 + (a - x)**2"
ROSENBROCK_ND = "sum(b*(x_next - x_i**2)**2 + (a - x_i)**2)"


@pytest.mark.parametrize(
    ("optimizer", "hp"),
    [
        ("gd", {"lr": 1e-3}),
        ("nesterov", {"lr": 1e-3, "momentum": 0.9}),
        ("adam", {"lr": 1e-2}),
    ],
)
def test_rosenbrock_formula_runs_like_the_builtin(optimizer, hp):
    surface = odeopt.Surface.from_expression(ROSENBROCK, params={"a": 1.0, "b": 100.0})
    ref = odeopt.run(optimizer, "rosenbrock", x0=[-1.2, 1.0], steps=500, **hp)
    got = odeopt.run(optimizer, surface, x0=[-1.2, 1.0], steps=500, **hp)
    assert got.status == ref.status
    scale = np.maximum(np.abs(ref.theta), 1e-300)
    assert np.max(np.abs(got.theta - ref.theta) / scale) <= 1e-12


def test_n_dimensional_rosenbrock_formula_runs_like_the_builtin():
    x0 = [-1.2, 1.0, -1.2, 1.0]
    ref = odeopt.run("nesterov", "rosenbrock", x0=x0, steps=500, lr=5e-4, momentum=0.9)
    got = odeopt.run(
        "nesterov",
        f"expr:{ROSENBROCK_ND}; a=1, b=100",
        x0=x0,
        steps=500,
        lr=5e-4,
        momentum=0.9,
    )
    scale = np.maximum(np.abs(ref.theta), 1e-300)
    assert np.max(np.abs(got.theta - ref.theta) / scale) <= 1e-12


def test_run_batch_equals_single_runs():
    name = "expr:(x**2 + y - 11)**2 + 0.1*y**4"
    starts = np.array([[1.0, 1.0], [-2.0, 0.5], [0.0, -3.0]])
    batch = odeopt.run_batch("gd", name, starts, [{"lr": 2e-3}], steps=300)
    for s, start in enumerate(starts):
        single = odeopt.run("gd", name, x0=start, steps=300, lr=2e-3)
        np.testing.assert_array_equal(batch.final_theta[0, s], single.final_theta)


def test_undefined_where_the_run_goes_ends_as_diverged():
    # sqrt(x) pulls x through 0: from x = 1, one step of lr 4 lands at x = -1
    traj = odeopt.run("gd", "expr:sqrt(x) + y**2", x0=[1.0, 1.0], steps=50, lr=4.0)
    assert traj.status.value == "diverged"
    assert traj.steps_done < 50


def test_parameters_from_the_name_and_surface_param(capsys):
    code, out, _ = invoke(
        capsys,
        "run",
        "-o",
        "gd",
        "-s",
        "expr:a*(x - 1)**2 + (y + 2)**2; a=2",
        "--surface-param",
        "a=3",
        "--x0",
        "0,0",
        "--steps",
        "5",
        "--lr",
        "0.01",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["surface_params"] == {"a": 3.0}
    assert result["initial_loss"] == 3.0 + 4.0


@pytest.mark.parametrize(("model", "order"), [("flow", 1.0), ("modified", 2.0)])
def test_check_runs_on_a_formula(capsys, model, order):
    """The reference solve uses the formula's gradient (and its Hessian for the
    modified flow of backward error analysis, whose order is 2)."""
    code, out, err = invoke(
        capsys,
        "check",
        "-o",
        "gd",
        "-s",
        "expr:(x - 1)**2 + 2*(y + 0.5)**2 + 0.1*x**4",
        "--x0",
        "0,0",
        "--model",
        model,
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["passed"]
    assert result["declared_order"] == order
    assert abs(result["fitted_order"] - order) < 0.25


def test_save_load_plot_round_trip(capsys, tmp_path):
    saved = tmp_path / "run.npz"
    picture = tmp_path / "run.png"
    name = "expr:(x**2 + y - 11)**2 + 0.1*y**4"
    code, _, err = invoke(
        capsys,
        "run",
        "-o",
        "adam",
        "-s",
        name,
        "--x0",
        "1,1",
        "--steps",
        "300",
        "--lr",
        "0.05",
        "--out",
        str(saved),
        "-q",
    )
    assert code == 0, err
    traj = odeopt.Trajectory.load(saved)
    assert traj.meta["surface"] == name
    from odeopt.plotting import _surface_of

    bound = _surface_of(traj)
    x = traj.final_theta
    assert bound.value(x) == (x[0] ** 2 + x[1] - 11) ** 2 + 0.1 * x[1] ** 4
    code, _, err = invoke(capsys, "plot", str(saved), "--plot", str(picture))
    assert code == 0, err
    assert picture.stat().st_size > 10_000


def test_a_named_formula_surface_travels_in_the_meta(tmp_path):
    surface = odeopt.Surface.from_expression(
        "a*(x - 1)**2 + y**2",
        params={"a": 4.0},
        name="my-bowl",
        bounds=([-3, -3], [3, 3]),
    )
    traj = odeopt.run("gd", surface, x0=[2.0, 2.0], steps=20, lr=0.01)
    assert traj.meta["surface"] == "my-bowl"
    assert traj.meta["surface_expression"] == "expr:a*(x - 1)**2 + y**2; a=4.0"
    traj.save(tmp_path / "bowl.json")
    from odeopt.plotting import _surface_of, plot_run

    bound = _surface_of(odeopt.Trajectory.load(tmp_path / "bowl.json"))
    assert bound.value([2.0, 2.0]) == 8.0
    plot_run(traj)
