"""Registry-wide checks of the analytic surfaces, plus independent spot values.

Every surface file is picked up through :func:`odeopt.registry.surfaces`, so a new
surface is covered by the parametrized tests without touching this file.  The
checks use the plain-Python kernels (fast, no compilation) except
:func:`test_jitted_kernels_agree_with_python`, which compiles every kernel once.

Expected numbers come from independent computations (central differences, scipy,
NumPy formulas written out here, closed forms), never from the kernels under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.optimize

from odeopt._jit import KERNEL_ATTR, python_function
from odeopt.registry import surfaces
from odeopt.surfaces import SurfaceError

# Loss surfaces; games (fields that are not a gradient) are checked in test_games.py.
SURFACES = {name: s for name, s in surfaces().items() if not s.players}
EPS = np.finfo(float).eps
RTOL_FD = 1e-6  # central differences with h = 1e-6 |x| are good to ~1e-10 here
N_POINTS = 60


# -- helpers ---------------------------------------------------------------------------
def _dims(surface) -> list[int | None]:
    """Dimensions to check: the fixed one, or every allowed n in 1..5."""
    if surface.dim is not None:
        return [None]
    return [d for d in range(1, 6) if d >= surface.min_dim]


def _fd_cases():
    """(name, dim, params) for the derivative checks."""
    cases = []
    for name, surface in SURFACES.items():
        if surface.dim is None:
            for dim in sorted({surface.default_dim, 3}):
                cases.append(pytest.param(name, dim, {}, id=f"{name}-{dim}d"))
        else:
            cases.append(pytest.param(name, None, {}, id=name))
    if "quadratic" in SURFACES:
        cases.append(
            pytest.param(
                "quadratic", 4, {"kappa": 100.0, "rotate": 7}, id="quadratic-4d-rotated"
            )
        )
    return cases


def _dim_cases():
    return [
        pytest.param(name, dim, id=name if dim is None else f"{name}-{dim}d")
        for name, surface in SURFACES.items()
        for dim in _dims(surface)
    ]


def _bind(name, dim=None, **params):
    return SURFACES[name].bind(dim=dim, **params)


def _kernels(bound):
    """Plain-Python value(x), grad(x), hess(x) closed over the bound parameters."""
    value, grad, hess = bound.python_kernels()
    p = bound.p
    n = bound.dim

    def f(x):
        return float(value(x, p))

    def g(x):
        out = np.empty(n)
        grad(x, p, out)
        return out

    def h(x):
        out = np.empty((n, n))
        hess(x, p, out)
        return out

    return f, g, h


def _points(bound, count=N_POINTS, seed=20240601):
    lo, hi = bound.bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=(count, bound.dim))


def _shifted(x, i):
    """x ± h e_i with h = 1e-6 max(1, |x_i|), and the exact spacing of the pair."""
    h = 1e-6 * max(1.0, abs(x[i]))
    xp = x.copy()
    xm = x.copy()
    xp[i] += h
    xm[i] -= h
    return xp, xm, xp[i] - xm[i]


def _gradient_scale(bound) -> float:
    """Typical gradient size over the plot box (median of max-norms)."""
    _, g, _ = _kernels(bound)
    return float(np.median([np.max(np.abs(g(x))) for x in _points(bound)]))


# -- registry and metadata -------------------------------------------------------------
EXPECTED = {
    "ackley",
    "beale",
    "booth",
    "goldstein-price",
    "himmelblau",
    "lessard",
    "levi13",
    "matyas",
    "mccormick",
    "monkey-saddle",
    "product-loss",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "six-hump-camel",
    "styblinski-tang",
    "su-double-well",
    "three-hump-camel",
}


def test_registry_holds_the_standard_surfaces():
    assert set(SURFACES) >= EXPECTED


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_metadata(name):
    surface = SURFACES[name]
    assert surface.name == name
    assert name == name.lower() and " " not in name and "_" not in name
    module = surface.kernels
    assert module.__name__ == "odeopt.surfaces." + name.replace("-", "_")
    assert surface.description and "\n" not in surface.description
    assert surface.formula and "\n" not in surface.formula
    assert ".. math::" in surface.doc
    for kernel_name in ("value", "grad", "hess"):
        function = python_function(getattr(module, kernel_name))
        assert getattr(function, KERNEL_ATTR, False), kernel_name
    if not surface.bounded_below:
        assert not surface.bind().minima


# -- derivatives -----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "dim", "params"), _fd_cases())
def test_gradient_matches_central_differences(name, dim, params):
    bound = _bind(name, dim, **params)
    f, g, _ = _kernels(bound)
    worst = 0.0
    for x in _points(bound):
        gx = g(x)
        fx = f(x)
        scale = np.max(np.abs(gx))
        for i in range(bound.dim):
            xp, xm, spacing = _shifted(x, i)
            fp, fm = f(xp), f(xm)
            fd = (fp - fm) / spacing
            # Rounding in the two loss values, divided by the spacing, is the floor.
            noise = 64.0 * EPS * max(1.0, abs(fx), abs(fp), abs(fm)) / spacing
            excess = abs(fd - gx[i]) / (RTOL_FD * scale + noise)
            worst = max(worst, excess)
            assert excess <= 1.0, (
                f"{name} at {x}: d/dx{i} analytic {gx[i]!r}, central difference {fd!r}"
            )
    assert worst <= 1.0


@pytest.mark.parametrize(("name", "dim", "params"), _fd_cases())
def test_hessian_matches_central_differences_and_is_symmetric(name, dim, params):
    bound = _bind(name, dim, **params)
    _, g, h = _kernels(bound)
    for x in _points(bound):
        hx = h(x)
        assert np.array_equal(hx, hx.T), f"{name}: Hessian not symmetric at {x}"
        scale = np.max(np.abs(hx))
        for j in range(bound.dim):
            xp, xm, spacing = _shifted(x, j)
            gp, gm = g(xp), g(xm)
            fd = (gp - gm) / spacing
            noise = (
                64.0 * EPS * max(1.0, np.max(np.abs(gp)), np.max(np.abs(gm))) / spacing
            )
            err = np.abs(fd - hx[:, j])
            assert np.all(err <= RTOL_FD * scale + noise), (
                f"{name} at {x}: column {j} analytic {hx[:, j]}, central difference {fd}"
            )


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_rosenbrock_matches_scipy(dim):
    bound = _bind("rosenbrock", dim)
    assert bound.params == {"a": 1.0, "b": 100.0}
    f, g, h = _kernels(bound)
    rng = np.random.default_rng(dim)
    for x in rng.uniform(-2.0, 2.0, size=(20, dim)):
        ref = scipy.optimize.rosen(x)
        assert f(x) == pytest.approx(ref, rel=1e-14, abs=1e-14)
        ref_grad = scipy.optimize.rosen_der(x)
        np.testing.assert_allclose(
            g(x), ref_grad, rtol=1e-13, atol=1e-13 * np.max(np.abs(ref_grad))
        )
        ref_hess = scipy.optimize.rosen_hess(x)
        np.testing.assert_allclose(
            h(x), ref_hess, rtol=1e-13, atol=1e-13 * np.max(np.abs(ref_hess))
        )


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_jitted_kernels_agree_with_python(name):
    surface = SURFACES[name]
    bound = surface.bind()
    jitted = surface.jitted()
    f, g, h = _kernels(bound)
    n = bound.dim
    points = np.vstack([bound.x0[None, :], _points(bound, count=4, seed=7)])
    for x in points:
        x = np.ascontiguousarray(x)
        value = jitted.value(x, bound.p)
        assert value == pytest.approx(f(x), rel=1e-13, abs=1e-13)
        grad = np.empty(n)
        jitted.grad(x, bound.p, grad)
        expected = g(x)
        np.testing.assert_allclose(
            grad, expected, rtol=1e-13, atol=1e-13 * max(1.0, np.max(np.abs(expected)))
        )
        hess = np.empty((n, n))
        jitted.hess(x, bound.p, hess)
        expected = h(x)
        np.testing.assert_allclose(
            hess, expected, rtol=1e-13, atol=1e-13 * max(1.0, np.max(np.abs(expected)))
        )


# -- dimensions, boxes, starts ---------------------------------------------------------
@pytest.mark.parametrize(("name", "dim"), _dim_cases())
def test_shapes_bounds_and_start(name, dim):
    surface = SURFACES[name]
    bound = surface.bind(dim=dim)
    n = bound.dim
    if dim is not None:
        assert n == dim
    lo, hi = bound.bounds
    assert lo.shape == hi.shape == (n,)
    assert np.all(lo < hi)
    x0 = bound.x0
    assert x0.shape == (n,)
    assert np.all((lo <= x0) & (x0 <= hi)), f"start {x0} outside the box"
    for minimum in bound.minima:
        assert minimum.theta.shape == (n,)
        assert np.all((lo <= minimum.theta) & (minimum.theta <= hi)), minimum
    f, g, h = _kernels(bound)
    assert math.isfinite(f(x0))
    assert np.all(np.isfinite(g(x0)))
    assert np.all(np.isfinite(h(x0)))
    curvature = bound.curvature()
    assert math.isfinite(curvature) and curvature > 0.0


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_dimension_errors(name):
    surface = SURFACES[name]
    if surface.dim is not None:
        assert surface.bind().dim == surface.dim
        with pytest.raises(SurfaceError):
            surface.bind(dim=surface.dim + 1)
    else:
        assert surface.bind().dim == surface.default_dim
        with pytest.raises(SurfaceError):
            surface.bind(dim=surface.min_dim - 1)


# -- minima ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "dim"), _dim_cases())
def test_declared_minima(name, dim):
    bound = _bind(name, dim)
    minima = bound.minima
    if not minima:
        return
    f, g, h = _kernels(bound)
    grad_scale = _gradient_scale(bound)
    rng = np.random.default_rng(11)
    for minimum in minima:
        theta = minimum.theta
        assert minimum.kind in ("global", "local")
        if bound.surface.domain == "positive":
            _check_kkt_minimum(bound, minimum, f, g, grad_scale, rng)
            continue
        # Stationary, relative to the surface's typical gradient ...
        grad = g(theta)
        assert np.max(np.abs(grad)) <= 1e-12 * grad_scale, (minimum, grad)
        # ... and within 1e-13 (relative) of a true stationary point: the Newton
        # step is at the level of the rounding of the declared coordinates.
        hess = h(theta)
        eig = np.linalg.eigvalsh(hess)
        assert eig[0] >= -1e-12 * np.max(np.abs(eig)), (minimum, eig)
        if eig[0] > 0.0:
            step = np.linalg.solve(hess, grad)
            assert np.max(np.abs(step)) <= 1e-13 * max(1.0, np.max(np.abs(theta)))
        # Declared value.
        assert f(theta) == pytest.approx(
            minimum.value, rel=1e-14, abs=1e-14 * max(1.0, abs(minimum.value))
        )
        # A minimum: no lower value nearby.
        for direction in rng.standard_normal((16, bound.dim)):
            step = 1e-4 * max(1.0, np.max(np.abs(theta))) * direction
            assert f(theta + step) >= f(theta), (minimum, step)
    globals_ = [m for m in minima if m.kind == "global"]
    assert globals_, "minima declared but none is global"
    best = min(m.value for m in globals_)
    for m in globals_:
        assert m.value == pytest.approx(best, rel=1e-13, abs=1e-13)
    for m in minima:
        assert m.value >= best - 1e-13 * max(1.0, abs(best))


def _check_kkt_minimum(bound, minimum, f, g, grad_scale, rng):
    """A minimum over θ ≥ 0 (a surface with the positive-orthant domain) is a KKT
    point: θ ≥ 0, ∂ᵢL = 0 where θᵢ > 0 and ∂ᵢL ≥ 0 where θᵢ = 0, and no feasible
    point nearby is lower."""
    theta = minimum.theta
    grad = g(theta)
    assert np.all(theta >= 0.0), minimum
    free = theta > 0.0
    assert np.max(np.abs(grad[free]), initial=0.0) <= 1e-12 * grad_scale, grad
    assert np.all(grad[~free] >= -1e-12 * grad_scale), grad
    assert f(theta) == pytest.approx(
        minimum.value, rel=1e-14, abs=1e-14 * max(1.0, abs(minimum.value))
    )
    for direction in rng.standard_normal((16, bound.dim)):
        trial = np.maximum(theta + 1e-4 * direction, 0.0)
        assert f(trial) >= f(theta) - 1e-15 * max(1.0, abs(f(theta))), (minimum, trial)


# -- the quadratic ---------------------------------------------------------------------
def _quad_matrix(bound):
    return bound.p.reshape(bound.dim, bound.dim)


def _haar(dim, seed):
    """Independent rebuild of the documented rotation."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q @ np.diag(np.sign(np.diag(r)))


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
@pytest.mark.parametrize("kappa", [1.0, 10.0, 1e4])
def test_quadratic_kappa(dim, kappa):
    bound = _bind("quadratic", dim, kappa=kappa)
    a = _quad_matrix(bound)
    expected = kappa ** (np.arange(dim) / (dim - 1)) if dim > 1 else np.ones(1)
    np.testing.assert_allclose(np.diag(a), expected, rtol=1e-14)
    assert np.array_equal(a, np.diag(np.diag(a)))
    np.testing.assert_allclose(np.linalg.eigvalsh(a), expected, rtol=1e-14)
    assert bound.curvature() == pytest.approx(expected.max(), rel=1e-14)
    hess = _kernels(bound)[2]
    assert np.array_equal(hess(bound.x0), a)


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_quadratic_rotated(seed):
    lam = np.array([0.5, 2.0, 3.0, 40.0])
    bound = _bind("quadratic", eigenvalues=tuple(lam), rotate=seed)
    assert bound.dim == 4
    a = _quad_matrix(bound)
    assert np.array_equal(a, a.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(a), np.sort(lam), rtol=1e-13)
    assert np.max(np.abs(a - np.diag(np.diag(a)))) > 0.1  # really rotated
    q = _haar(4, seed)
    np.testing.assert_allclose(a, q.T @ np.diag(lam) @ q, rtol=1e-13, atol=1e-13)
    assert bound.curvature() == pytest.approx(40.0)
    f, g, _ = _kernels(bound)
    rng = np.random.default_rng(seed)
    for x in rng.standard_normal((5, 4)):
        assert f(x) == pytest.approx(0.5 * x @ (q.T @ np.diag(lam) @ q) @ x, rel=1e-12)
        np.testing.assert_allclose(g(x), q.T @ (lam * (q @ x)), rtol=1e-12, atol=1e-12)
    # Reproducible, and seed-dependent.
    again = _quad_matrix(_bind("quadratic", eigenvalues=tuple(lam), rotate=seed))
    assert np.array_equal(a, again)
    other = _quad_matrix(_bind("quadratic", eigenvalues=tuple(lam), rotate=seed + 1))
    assert not np.allclose(a, other)


def test_quadratic_eigenvalues_set_dimension():
    bound = _bind("quadratic", eigenvalues=(1.0, 4.0, 9.0))
    assert bound.dim == 3
    np.testing.assert_array_equal(_quad_matrix(bound), np.diag([1.0, 4.0, 9.0]))
    assert bound.x0.shape == (3,)
    assert bound.bounds[0].shape == (3,)
    assert bound.minima[0].theta.shape == (3,)
    assert _bind("quadratic", 3, eigenvalues=(1.0, 4.0, 9.0)).dim == 3
    # Parsed from the command line.
    param = {p.name: p for p in SURFACES["quadratic"].params}["eigenvalues"]
    assert param.parse("1, 4,9") == (1.0, 4.0, 9.0)


@pytest.mark.parametrize(
    ("dim", "params"),
    [
        (None, {"kappa": 0.5}),
        (3, {"kappa": -2.0}),
        (None, {"eigenvalues": (1.0, 0.0)}),
        (None, {"eigenvalues": (1.0, -3.0, 2.0)}),
        (None, {"eigenvalues": (1.0, math.inf)}),
        (2, {"eigenvalues": (1.0, 2.0, 3.0)}),
        (4, {"eigenvalues": (1.0,)}),
        (None, {"rotate": -1}),
        (None, {"kappa": math.nan}),
        (None, {"nonsense": 1.0}),
    ],
)
def test_quadratic_bad_input(dim, params):
    with pytest.raises(SurfaceError):
        _bind("quadratic", dim, **params)


# -- independent values ----------------------------------------------------------------
def _beale(x, y):
    return (
        (1.5 - x + x * y) ** 2
        + (2.25 - x + x * y**2) ** 2
        + (2.625 - x + x * y**3) ** 2
    )


def _goldstein_price(x, y):
    first = 1 + (x + y + 1) ** 2 * (
        19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2
    )
    second = 30 + (2 * x - 3 * y) ** 2 * (
        18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2
    )
    return first * second


def _ackley(x, y, a=20.0, b=0.2, c=2 * np.pi):
    return (
        -a * np.exp(-b * np.sqrt(0.5 * (x**2 + y**2)))
        - np.exp(0.5 * (np.cos(c * x) + np.cos(c * y)))
        + a
        + np.e
    )


def _levi13(x, y):
    return (
        np.sin(3 * np.pi * x) ** 2
        + (x - 1) ** 2 * (1 + np.sin(3 * np.pi * y) ** 2)
        + (y - 1) ** 2 * (1 + np.sin(2 * np.pi * y) ** 2)
    )


def _lessard(x):
    if x < 1:
        return 25 * x**2 / 2
    if x < 2:
        return x**2 / 2 + 24 * x - 12
    return 25 * x**2 / 2 - 24 * x + 36


# name, surface params, formula over the coordinates (x, y, ...) as a vector.
FORMULAS = [
    ("beale", {}, lambda t: _beale(*t)),
    ("booth", {}, lambda t: (t[0] + 2 * t[1] - 7) ** 2 + (2 * t[0] + t[1] - 5) ** 2),
    (
        "himmelblau",
        {},
        lambda t: (t[0] ** 2 + t[1] - 11) ** 2 + (t[0] + t[1] ** 2 - 7) ** 2,
    ),
    (
        "rastrigin",
        {},
        lambda t: 10 * t.size + np.sum(t**2 - 10 * np.cos(2 * np.pi * t)),
    ),
    (
        "rastrigin",
        {"A": 3.0},
        lambda t: 3 * t.size + np.sum(t**2 - 3 * np.cos(2 * np.pi * t)),
    ),
    ("ackley", {}, lambda t: _ackley(*t)),
    ("ackley", {"a": 10.0, "b": 0.5, "c": 3.0}, lambda t: _ackley(*t, 10.0, 0.5, 3.0)),
    ("styblinski-tang", {}, lambda t: 0.5 * np.sum(t**4 - 16 * t**2 + 5 * t)),
    ("goldstein-price", {}, lambda t: _goldstein_price(*t)),
    (
        "six-hump-camel",
        {},
        lambda t: (
            (4 - 2.1 * t[0] ** 2 + t[0] ** 4 / 3) * t[0] ** 2
            + t[0] * t[1]
            + (-4 + 4 * t[1] ** 2) * t[1] ** 2
        ),
    ),
    (
        "three-hump-camel",
        {},
        lambda t: (
            2 * t[0] ** 2 - 1.05 * t[0] ** 4 + t[0] ** 6 / 6 + t[0] * t[1] + t[1] ** 2
        ),
    ),
    ("matyas", {}, lambda t: 0.26 * (t[0] ** 2 + t[1] ** 2) - 0.48 * t[0] * t[1]),
    (
        "mccormick",
        {},
        lambda t: (
            np.sin(t[0] + t[1]) + (t[0] - t[1]) ** 2 - 1.5 * t[0] + 2.5 * t[1] + 1
        ),
    ),
    ("levi13", {}, lambda t: _levi13(*t)),
    ("saddle", {}, lambda t: t[0] ** 2 - t[1] ** 2),
    ("monkey-saddle", {}, lambda t: t[0] ** 3 - 3 * t[0] * t[1] ** 2),
    ("su-double-well", {}, lambda t: t[0] * (t[0] - 1) * (t[0] - 3) ** 2 + 1.62276),
    ("su-double-well", {"c": 0.0}, lambda t: t[0] * (t[0] - 1) * (t[0] - 3) ** 2),
    ("lessard", {}, lambda t: _lessard(t[0])),
    ("product-loss", {}, lambda t: 0.5 * (t[0] * t[1] - 1) ** 2 + 0.05 * t[0] ** 2),
    (
        "product-loss",
        {"c": 0.2},
        lambda t: 0.5 * (t[0] * t[1] - 1) ** 2 + 0.2 * t[0] ** 2,
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "formula"),
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(FORMULAS)],
)
def test_values_match_independent_formulas(name, params, formula):
    surface = SURFACES[name]
    bound = surface.bind(dim=3 if surface.dim is None else None, **params)
    f, _, _ = _kernels(bound)
    for x in _points(bound, count=25, seed=3):
        expected = formula(x)
        assert f(x) == pytest.approx(expected, rel=1e-12, abs=1e-12), x


def test_spot_values():
    def value(name, x, **params):
        return _bind(name, **params).value(np.asarray(x, dtype=float))

    assert value("goldstein-price", [0.0, -1.0]) == 3.0
    assert value("goldstein-price", [-0.6, -0.4]) == pytest.approx(30.0, rel=1e-14)
    assert value("goldstein-price", [1.8, 0.2]) == pytest.approx(84.0, rel=1e-14)
    assert value("goldstein-price", [1.2, 0.8]) == pytest.approx(840.0, rel=1e-14)
    assert abs(value("ackley", [0.0, 0.0])) <= 1e-15
    assert value("beale", [3.0, 0.5]) == 0.0
    assert value("booth", [1.0, 3.0]) == 0.0
    assert value("himmelblau", [3.0, 2.0]) == 0.0
    assert value("rastrigin", [0.0, 0.0, 0.0]) == 0.0
    assert value("levi13", [1.0, 1.0]) <= 1e-30
    assert value("lessard", [3.3]) == pytest.approx(25 * 3.3**2 / 2 - 24 * 3.3 + 36)
    # McCormick's minimum in closed form: (1/2 - π/3, -1/2 - π/3), -√3/2 - π/3.
    mccormick = _bind("mccormick").minima[0]
    np.testing.assert_allclose(
        mccormick.theta, [0.5 - math.pi / 3, -0.5 - math.pi / 3], rtol=1e-15
    )
    assert mccormick.value == pytest.approx(-math.sqrt(3) / 2 - math.pi / 3, rel=1e-15)
    # Six-hump camel: the literature value of the global minimum.
    six = _bind("six-hump-camel").minima[0]
    assert six.value == pytest.approx(-1.0316284534898774, rel=1e-15)


def test_styblinski_tang_minima_are_roots_of_the_cubic():
    roots = np.sort(np.roots([4.0, 0.0, -32.0, 5.0]).real)
    bound = _bind("styblinski-tang", 4)
    deep, shallow = bound.minima
    assert deep.kind == "global" and shallow.kind == "local"
    np.testing.assert_allclose(deep.theta, roots[0], rtol=1e-14)
    np.testing.assert_allclose(shallow.theta, roots[2], rtol=1e-14)
    per_coordinate = 0.5 * (roots**4 - 16 * roots**2 + 5 * roots)
    assert deep.value == pytest.approx(4 * per_coordinate[0], rel=1e-13)
    assert shallow.value == pytest.approx(4 * per_coordinate[2], rel=1e-13)
    assert per_coordinate[0] == pytest.approx(-39.16616570377142, rel=1e-14)


def test_himmelblau_minima_zero_by_formula():
    for minimum in _bind("himmelblau").minima:
        x, y = minimum.theta
        assert abs(x**2 + y - 11) <= 1e-14 and abs(x + y**2 - 7) <= 1e-14
        assert minimum.value == 0.0
    assert len(_bind("himmelblau").minima) == 4


def test_su_double_well():
    bound = _bind("su-double-well")
    _, g, h = _kernels(bound)
    for x in np.linspace(-0.5, 4.5, 41):
        t = np.array([x])
        assert g(t)[0] == pytest.approx(4 * x**3 - 21 * x**2 + 30 * x - 9, abs=1e-12)
        assert g(t)[0] == pytest.approx((x - 3) * (4 * x**2 - 9 * x + 3), abs=1e-12)
        assert h(t)[0, 0] == pytest.approx(12 * x**2 - 42 * x + 30, abs=1e-12)
    xstar = (9 - math.sqrt(33)) / 8
    deep, shallow = bound.minima
    assert deep.theta[0] == pytest.approx(xstar, rel=1e-15)
    poly = xstar * (xstar - 1) * (xstar - 3) ** 2
    assert deep.value == pytest.approx(poly + 1.62276, abs=1e-15)
    assert 5.5e-7 < deep.value < 5.6e-7
    assert shallow.theta[0] == 3.0 and shallow.value == 1.62276
    assert bound.x0[0] == 4.0


def test_lessard_is_c1_with_piecewise_constant_curvature():
    # The published pieces and their derivatives, written out independently.
    pieces = [
        (lambda x: 25 * x**2 / 2, lambda x: 25 * x),
        (lambda x: x**2 / 2 + 24 * x - 12, lambda x: x + 24),
        (lambda x: 25 * x**2 / 2 - 24 * x + 36, lambda x: 25 * x - 24),
    ]
    bound = _bind("lessard")
    f, g, h = _kernels(bound)
    for knot, (left, right) in zip((1.0, 2.0), itertools.pairwise(pieces), strict=True):
        # The formula is C^1: both pieces agree in value and slope at the knot ...
        assert left[0](knot) == right[0](knot)
        assert left[1](knot) == right[1](knot)
        # ... and the kernels follow the pieces on both sides.
        below = knot - 1e-7
        assert f(np.array([below])) == pytest.approx(left[0](below), rel=1e-14)
        assert g(np.array([below]))[0] == pytest.approx(left[1](below), rel=1e-14)
        assert f(np.array([knot])) == right[0](knot)
        assert g(np.array([knot]))[0] == right[1](knot)
        just_below = np.array([np.nextafter(knot, -np.inf)])
        assert f(just_below) == pytest.approx(f(np.array([knot])), rel=1e-14)
        assert g(just_below)[0] == pytest.approx(g(np.array([knot]))[0], rel=1e-14)
    for x, curvature in [
        (-2.0, 25.0),
        (0.5, 25.0),
        (1.5, 1.0),
        (2.5, 25.0),
        (3.3, 25.0),
    ]:
        assert h(np.array([x]))[0, 0] == curvature
    # At the knots the kernels use the right-hand curvature.
    assert h(np.array([1.0]))[0, 0] == 1.0
    assert h(np.array([2.0]))[0, 0] == 25.0
    assert bound.curvature() == 25.0
    assert bound.x0[0] == 3.3
    assert bound.minima[0].value == 0.0


def test_ackley_origin_convention():
    bound = _bind("ackley")
    _, g, h = _kernels(bound)
    origin = np.zeros(2)
    assert np.array_equal(g(origin), np.zeros(2))
    c = 2 * math.pi
    np.testing.assert_allclose(h(origin), 0.5 * c**2 * math.e * np.eye(2), rtol=1e-15)
    assert bound.curvature() == pytest.approx(0.5 * c**2 * math.e, rel=1e-15)
    # Off the origin the cone's slope tends to a*b/sqrt(2) along an axis.
    slope = g(np.array([1e-9, 0.0]))[0]
    assert slope == pytest.approx(20.0 * 0.2 / math.sqrt(2), rel=1e-6)


def test_product_loss_has_a_saddle_and_no_minimum():
    bound = _bind("product-loss")
    assert bound.minima == []
    assert bound.surface.bounded_below
    _, g, h = _kernels(bound)
    # The origin is the only critical point, a saddle with L = 1/2.
    origin = np.zeros(2)
    assert bound.value(origin) == 0.5
    assert np.array_equal(g(origin), np.zeros(2))
    hess = h(origin)
    np.testing.assert_array_equal(hess, [[0.1, -1.0], [-1.0, 0.0]])
    assert np.linalg.det(hess) < 0
    # Newton from a grid of starts never finds another critical point.
    grid = np.linspace(-3.0, 3.0, 9)
    found = 0
    for x0 in itertools.product(grid, grid):
        sol = scipy.optimize.root(g, np.array(x0), jac=h, tol=1e-14)
        if sol.success and np.max(np.abs(g(sol.x))) < 1e-12:
            found += 1
            np.testing.assert_allclose(sol.x, 0.0, atol=1e-8)
    assert found > 0
    # The infimum 0 is approached along b = 1/a, a -> 0, but never attained.
    for a in [1.0, 0.1, 0.01, 0.001]:
        point = np.array([a, 1.0 / a])
        assert bound.value(point) == pytest.approx(0.05 * a**2, rel=1e-12)
    rng = np.random.default_rng(5)
    assert all(bound.value(x) > 0.0 for x in rng.uniform(-3, 3, size=(200, 2)))
    np.testing.assert_array_equal(bound.x0, [2.0, 0.3])


def test_saddles_are_unbounded_with_a_critical_point_at_zero():
    saddle = _bind("saddle")
    monkey = _bind("monkey-saddle")
    for bound in (saddle, monkey):
        assert not bound.surface.bounded_below
        assert bound.minima == []
        _, g, _ = _kernels(bound)
        assert np.array_equal(g(np.zeros(2)), np.zeros(2))
    assert saddle.value(np.array([0.0, -1e3])) == -1e6
    assert monkey.value(np.array([-1e3, 0.0])) == -1e9
    np.testing.assert_array_equal(
        _kernels(saddle)[2](np.zeros(2)), np.diag([2.0, -2.0])
    )
    np.testing.assert_array_equal(_kernels(monkey)[2](np.zeros(2)), np.zeros((2, 2)))
    assert saddle.curvature() == 2.0
    np.testing.assert_array_equal(saddle.x0, [1.0, 1e-3])
    np.testing.assert_array_equal(monkey.x0, [1.0, 0.1])


def test_booth_and_matyas_hessians():
    h = _kernels(_bind("booth"))[2]
    np.testing.assert_array_equal(h(np.zeros(2)), [[10.0, 8.0], [8.0, 10.0]])
    h = _kernels(_bind("matyas"))[2]
    np.testing.assert_allclose(
        np.linalg.eigvalsh(h(np.zeros(2))), [0.04, 1.0], rtol=1e-14
    )
