"""Games through the Python API: fields, Jacobians, every method against a NumPy
transcription of its published update, the problem's play settings, and the orders of
the methods' continuous models.

Expected values are independent: central differences for the Jacobians, plain NumPy
loops written from the papers for the updates (Korpelevich 1976 extragradient; optax's
``scale_by_optimistic_gradient`` for OGDA; Gidel et al. 2019 for negative momentum;
Kingma & Ba 2015 for Adam), and ``odeopt.check`` for the orders.
"""

import math
import pickle

import numpy as np
import pytest

import odeopt
from odeopt import games
from odeopt.errors import InputError
from odeopt.registry import get_surface, surfaces

GAMES = sorted(name for name, s in surfaces().items() if s.players)

# (surface, parameters) where the Jacobian is checked: every game and every option.
JACOBIAN_CASES = [
    ("dirac-gan-ns", 2, {}),
    ("dirac-gan-ns", 4, {"gamma": 0.3}),
    ("dirac-gan-wgan", 2, {}),
    ("dirac-gan-wgan", 4, {"mu": 0.2}),
    ("dirac-gan-wgan-gp", 4, {}),
    ("dirac-gan-wgan-gp", 4, {"c": 1.0, "mu": 0.1}),
    ("dirac-gan-wgan-gp", 6, {"c": 1.0, "lam": 0.7}),
    ("dirac-gan-qp", 4, {"mu": 0.2}),
    ("dirac-gan-qp", 2, {"lam": 0.5}),
    ("bilinear-game", None, {}),
    ("bilinear-game", None, {"a": (1.0, 2.0, -0.5, 0.3), "mu": 0.2}),
    ("bilinear-game", None, {"a": (1.0, 2.0, -0.5, 0.3), "gamma": 0.3, "sga": 0.7}),
    ("letcher-game", None, {}),
    ("letcher-game", None, {"gamma": 0.3, "sga": 0.5}),
]


def test_the_games_are_registered_with_players():
    assert set(GAMES) >= {
        "dirac-gan-ns", "dirac-gan-wgan", "dirac-gan-wgan-gp", "dirac-gan-qp",
        "bilinear-game", "letcher-game",
    }  # fmt: skip
    for name in GAMES:
        surface = get_surface(name)
        assert not surface.symmetric
        bound = surface.bind()
        assert sum(bound.blocks) == bound.dim
        assert surface.field_text().startswith("F = ")
        record = surface.as_dict()
        assert [p["name"] for p in record["players"]] == list(surface.players)


@pytest.mark.parametrize(("name", "dim", "params"), JACOBIAN_CASES)
def test_analytic_jacobian_matches_central_differences(name, dim, params):
    bound = get_surface(name).bind(dim, **params)
    rng = np.random.default_rng(7)
    for _ in range(8):
        x = rng.uniform(-1.0, 1.0, bound.dim)
        jacobian = bound.hess(x)
        numeric = np.empty_like(jacobian)
        for j in range(bound.dim):
            step = 1e-6 * max(1.0, abs(x[j]))
            plus, minus = x.copy(), x.copy()
            plus[j] += step
            minus[j] -= step
            numeric[:, j] = (bound.grad(plus) - bound.grad(minus)) / (
                plus[j] - minus[j]
            )
        scale = max(1.0, np.max(np.abs(jacobian)))
        # central differences: O(step²) truncation plus rounding/step
        np.testing.assert_allclose(jacobian, numeric, atol=2e-7 * scale)


@pytest.mark.parametrize(("name", "dim", "params"), JACOBIAN_CASES)
def test_jitted_field_equals_python(name, dim, params):
    bound = get_surface(name).bind(dim, **params)
    jitted = bound.surface.jitted()
    x = np.random.default_rng(3).uniform(-1.0, 1.0, bound.dim)
    out = np.empty(bound.dim)
    jitted.grad(x, bound.p, out)
    np.testing.assert_array_equal(out, bound.grad(x))


def test_dirac_fields_are_the_posts_formulas():
    # The post's flows, written out for the 2-D Dirac GAN at one point.
    x = np.array([0.3, -0.2, 0.5, 0.4])
    theta, phi = x[:2], x[2:]
    z = theta @ phi
    sigma = 1.0 / (1.0 + math.exp(-z))
    ns = get_surface("dirac-gan-ns").bind()
    np.testing.assert_allclose(-ns.grad(x)[2:], -sigma * theta, rtol=1e-15)
    np.testing.assert_allclose(-ns.grad(x)[:2], (1 - sigma) * phi, rtol=1e-15)
    r = np.linalg.norm(phi)
    wgan = get_surface("dirac-gan-wgan").bind()
    np.testing.assert_allclose(-wgan.grad(x)[2:], -theta / r + z * phi / r**3,
                               rtol=1e-14)  # fmt: skip
    lam, c = 0.1, 1.0
    gp = get_surface("dirac-gan-wgan-gp").bind(c=c, lam=lam)
    np.testing.assert_allclose(-gp.grad(x)[2:], -theta - 2 * lam * (1 - c / r) * phi,
                               rtol=1e-14)  # fmt: skip
    qp = get_surface("dirac-gan-qp").bind(lam=1.0)
    s = np.linalg.norm(theta)
    np.testing.assert_allclose(-qp.grad(x)[2:], -theta - z * theta / s, rtol=1e-14)
    letcher = get_surface("letcher-game").bind()
    a, b = 0.3, -0.7
    # F = (∂L/∂x, −∂L/∂y) of L = xy − x²/2 + y²/2 + x⁴/4 − y⁴/4
    np.testing.assert_allclose(
        letcher.grad(np.array([a, b])), [b - a + a**3, -(a + b - b**3)], rtol=1e-15
    )


# -- the methods against NumPy transcriptions -----------------------------------------
def field(surface):
    return lambda x: surface.grad(x)


def test_simultaneous_gda_with_a_rate_per_player():
    s = get_surface("dirac-gan-ns").bind()
    traj = odeopt.run("gda", s, lr=0.05, hp={"discriminator": {"lr": 0.2}}, steps=300)
    x = s.x0.copy()
    rates = np.array([0.05, 0.05, 0.2, 0.2])
    for _ in range(300):
        x = x - rates * s.grad(x)
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-14, atol=1e-16)
    players = traj.meta["game"]["players"]
    assert [p["hyperparameters"]["lr"] for p in players] == [0.05, 0.2]
    assert traj.meta["game"]["play"] == "simultaneous"


def test_alternating_gda_with_discriminator_steps():
    s = get_surface("dirac-gan-wgan-gp").bind()
    traj = odeopt.run("alternating-gda", s, lr=0.1, d_steps=3, steps=200)
    x = s.x0.copy()
    for _ in range(200):
        x[:2] = x[:2] - 0.1 * s.grad(x)[:2]  # the generator
        for _ in range(3):  # then the discriminator, three times
            x[2:] = x[2:] - 0.1 * s.grad(x)[2:]
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-14, atol=1e-16)
    assert traj.meta["game"]["turns"] == ["generator"] + ["discriminator"] * 3


def test_extragradient_is_korpelevichs_update():
    s = get_surface("letcher-game").bind(gamma=0.1)
    traj = odeopt.run("extragradient", s, lr=0.07, steps=400)
    x = s.x0.copy()
    for _ in range(400):
        look = x - 0.07 * s.grad(x)
        x = x - 0.07 * s.grad(look)
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 1.0), (0.5, 0.8), (1.3, 0.0)])
def test_ogda_is_optax_generalised_form(alpha, beta):
    # optax.scale_by_optimistic_gradient: (α + β)g_t − βg_{t−1}, g_{t−1} = g_t at the
    # first step; then scale by −lr.
    s = get_surface("dirac-gan-ns").bind()
    lr, steps = 0.1, 300
    traj = odeopt.run("ogda", s, lr=lr, alpha=alpha, beta=beta, steps=steps)
    x = s.x0.copy()
    previous = None
    for _ in range(steps):
        g = s.grad(x)
        previous = g if previous is None else previous
        x = x - lr * ((alpha + beta) * g - beta * previous)
        previous = g
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-13, atol=1e-16)


def test_negative_momentum_alternates_heavy_ball_players():
    s = get_surface("bilinear-game").bind()
    lr, beta, steps = 0.1, -0.4, 300
    traj = odeopt.run("negative-momentum", s, lr=lr, momentum=beta, steps=steps)
    x, v = s.x0.copy(), np.zeros(2)
    for _ in range(steps):
        for j in (0, 1):  # x then y, each seeing the other's latest move
            v[j] = beta * v[j] - lr * s.grad(x)[j]
            x[j] = x[j] + v[j]
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-13, atol=1e-16)
    assert traj.meta["game"]["play"] == "alternating"


def numpy_adam(g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba (2015), Algorithm 1, in torch.optim.Adam's arrangement."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    step = lr / (1 - beta1**t) * m / (np.sqrt(v) / np.sqrt(1 - beta2**t) + eps)
    return step, m, v


@pytest.mark.parametrize("play", ["simultaneous", "alternating"])
def test_adam_for_both_players(play):
    s = get_surface("dirac-gan-ns").bind(gamma=0.5)
    rates = (1e-2, 3e-2)
    traj = odeopt.run("adam", s, lr=rates[0], hp={1: {"lr": rates[1]}}, play=play,
                      steps=200)  # fmt: skip
    x = s.x0.copy()
    m, v = np.zeros(4), np.zeros(4)
    for t in range(1, 201):
        g_all = s.grad(x)
        for j, block in enumerate((slice(0, 2), slice(2, 4))):
            g = s.grad(x)[block] if play == "alternating" else g_all[block]
            step, m[block], v[block] = numpy_adam(g, m[block], v[block], t, rates[j])
            x[block] = x[block] - step
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-13, atol=1e-16)


# -- the problem's play settings ---------------------------------------------------------
def test_a_game_problem_pickles_and_rebuilds_from_its_metadata():
    problem = odeopt.problem("adam", "dirac-gan-ns", play="alternating",
                             hp={"discriminator": {"lr": 0.01}}, lr=1e-3, steps=50)  # fmt: skip
    again = pickle.loads(pickle.dumps(problem))
    assert again == problem
    first, second = odeopt.run(problem), odeopt.run(again)
    np.testing.assert_array_equal(first.theta, second.theta)
    rebuilt = odeopt.Problem.from_meta(first.meta)
    assert rebuilt == problem
    assert "discriminator: lr=0.01" in repr(problem)


def test_replace_to_a_loss_drops_the_game_settings():
    problem = odeopt.problem("gda", "bilinear-game", d_steps=2, lr=0.1, steps=5)
    assert problem.turns == (0, 1, 1)
    loss = problem.replace(surface="rosenbrock")
    assert loss.play is None and loss.turns is None and not loss.is_game


def test_run_batch_of_a_game_equals_single_runs():
    s = get_surface("letcher-game").bind()
    rng = np.random.default_rng(5)
    starts = rng.uniform(-1, 1, size=(37, 2))
    sets = [{"lr": 0.05}, {"lr": 0.1}]
    batch = odeopt.run_batch("alternating-gda", s, starts, sets, steps=150, d_steps=2,
                             hp={"y": {"lr": 0.02}})  # fmt: skip
    for h, hp in enumerate(sets):
        for b in (0, 20, 36):
            single = odeopt.run("alternating-gda", s, x0=starts[b], steps=150,
                                d_steps=2, hp={"y": {"lr": 0.02}}, **hp)  # fmt: skip
            np.testing.assert_array_equal(batch.final_theta[h, b], single.final_theta)
            again = odeopt.run(batch.problem_of(b, h))
            np.testing.assert_array_equal(again.final_theta, single.final_theta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"surface": "rosenbrock", "play": "alternating"}, "needs a game"),
        ({"surface": "rosenbrock", "hp": {"x": {"lr": 1}}}, "needs a game"),
        ({"play": "sideways"}, "valid: simultaneous, alternating"),
        ({"hp": {"critic": {"lr": 0.1}}}, "unknown player 'critic'"),
        ({"hp": {5: {"lr": 0.1}}}, "does not exist"),
        ({"d_steps": 2, "play": "simultaneous"}, "d_steps needs"),
        ({"d_steps": 0}, "d_steps must be"),
        ({"turns": (0, 1)}, "turns need play='alternating'"),
        ({"hp": {"generator": {"lr": -1.0}}}, "lr must be > 0"),
        ({"hp": {"generator": {"momentum": 0.9}}}, "no hyperparameter 'momentum'"),
        ({"init": "consistent"}, "init='pytorch' only"),
    ],
)
def test_bad_game_settings_are_one_clear_line(kwargs, message):
    kwargs = {"surface": "dirac-gan-ns", **kwargs}
    with pytest.raises(InputError, match=message):
        odeopt.problem("gda", kwargs.pop("surface"), lr=0.1, **kwargs)


def test_single_loss_metadata_has_no_game_entry():
    traj = odeopt.run("gd", "rosenbrock", lr=1e-3, steps=3)
    assert "game" not in traj.meta


# -- continuous models: the orders, asserted --------------------------------------------
ORDER_CASES = [
    ("gda", "flow", "dirac-gan-ns", {}, 1.0),
    ("gda", "modified", "dirac-gan-ns", {}, 2.0),
    ("alternating-gda", "flow", "letcher-game", {}, 1.0),
    ("alternating-gda", "modified", "letcher-game", {}, 2.0),
    ("alternating-gda", "modified", "dirac-gan-wgan-gp", {"c": 1.0}, 2.0),
    ("extragradient", "flow", "letcher-game", {}, 1.0),
    ("extragradient", "high-res", "dirac-gan-ns", {}, 2.0),
    ("ogda", "high-res", "letcher-game", {}, 2.0),
    ("ogda", "high-res", "dirac-gan-ns", {"alpha": 0.5, "beta": 0.8}, 2.0),
    ("negative-momentum", "flow", "bilinear-game", {}, 1.0),
]


@pytest.mark.parametrize(("optimizer", "model", "surface", "params", "order"),
                         ORDER_CASES)  # fmt: skip
def test_models_have_their_declared_order(optimizer, model, surface, params, order):
    hp = {k: v for k, v in params.items() if k in ("alpha", "beta")}
    sp = {k: v for k, v in params.items() if k not in hp}
    result = odeopt.check.check_order(optimizer, surface, model=model, surface_params=sp,
                                **hp)  # fmt: skip
    assert result.declared_order == order
    assert result.fitted_order == pytest.approx(order, abs=0.1), result.table()


def test_the_alternating_drift_needs_its_sign_flip():
    # Simultaneous GDA's modified flow, −F − (h/2)JF, is only first-order accurate
    # for alternating updates: the second mover's interaction term has the other sign.
    from odeopt.optimizers import gda

    s = get_surface("letcher-game").bind()
    errors = []
    for h in (0.02, 0.01, 0.005):
        steps = round(1.0 / h)
        traj = odeopt.run("alternating-gda", s, lr=h, steps=steps, record_every=steps)
        ode = {"h": h, "reg": h / 2}

        def solve(field, ode=ode):
            from scipy.integrate import solve_ivp

            return solve_ivp(lambda t, z: field(t, z, s.grad, ode, s.hess), (0, 1),
                             s.x0, rtol=1e-12, atol=1e-14).y[:, -1]  # fmt: skip

        errors.append([
            np.linalg.norm(traj.final_theta - solve(gda._alternating_modified)),
            np.linalg.norm(traj.final_theta - solve(gda._simultaneous_modified)),
        ])  # fmt: skip
    errors = np.array(errors)
    right = np.log2(errors[:-1, 0] / errors[1:, 0])
    wrong = np.log2(errors[:-1, 1] / errors[1:, 1])
    assert np.all(np.abs(right - 2.0) < 0.1)
    assert np.all(np.abs(wrong - 1.0) < 0.1)


# -- the local picture: predicted and measured growth ------------------------------------
@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("gda", {}), ("alternating-gda", {}), ("extragradient", {}), ("ogda", {}),
     ("ogda", {"alpha": 0.5, "beta": 0.8}), ("negative-momentum", {})],
)  # fmt: skip
def test_predicted_growth_is_measured_on_the_bilinear_game(method, kwargs):
    s = get_surface("bilinear-game").bind()
    h = 0.1
    jacobian = s.hess(np.zeros(2))
    predicted = games.growth(method, jacobian, h, **kwargs)
    traj = odeopt.run(method, s, lr=h, steps=4000, record_every=1, **kwargs)
    assert games.measured_growth(traj.theta) == pytest.approx(predicted, abs=2e-6)


def test_stability_regions_explain_gda_and_extragradient():
    h, omega = 0.1, 1.0
    z = np.array([1j * h * omega, -1j * h * omega])  # h·eig(J) of the rotation
    np.testing.assert_allclose(games.amplification("gda", z), math.sqrt(1 + h * h))
    np.testing.assert_allclose(
        games.amplification("extragradient", z), math.sqrt(1 - h**2 + h**4)
    )
    assert np.all(games.amplification("ogda", z) < 1.0)
    # the scalar regions agree with the matrices on the rotation
    jacobian = np.array([[0.0, 1.0], [-1.0, 0.0]])
    for method in ("gda", "extragradient", "ogda"):
        assert games.growth(method, jacobian, h) == pytest.approx(
            float(np.max(games.amplification(method, z))), rel=1e-12
        )


def test_ema_is_the_recursive_average():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((50, 3))
    average = games.ema(theta, 0.9)
    expected = theta[0].copy()
    for k in range(1, 50):
        expected = 0.9 * expected + 0.1 * theta[k]
        np.testing.assert_allclose(average[k], expected, rtol=1e-14)
    with pytest.raises(InputError, match="decay"):
        games.ema(theta, 1.0)


# -- the command line ------------------------------------------------------------------
def run_cli(args, capsys):
    from odeopt.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cli_runs_a_game_with_per_player_settings(capsys):
    import json

    code, out, _ = run_cli(
        ["run", "-o", "gda", "-s", "dirac-gan-ns", "--lr", "0.05", "--steps", "300",
         "--player-param", "discriminator.lr=0.2", "--json"], capsys
    )  # fmt: skip
    assert code == 0
    final = json.loads(out)["final_theta"]
    expected = odeopt.run("gda", "dirac-gan-ns", lr=0.05, steps=300,
                          hp={"discriminator": {"lr": 0.2}})  # fmt: skip
    np.testing.assert_array_equal(final, expected.final_theta)


def test_cli_compare_lists_distances_to_the_equilibrium(capsys):
    code, out, _ = run_cli(
        ["compare", "-o", "gda", "-o", "extragradient", "-s", "bilinear-game",
         "--lr", "0.1", "--steps", "100", "--d-steps", "1"], capsys
    )  # fmt: skip
    assert code == 0 and out.count("‖θ − θ*‖") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--player-param", "lr=0.1"], "PLAYER.NAME=VALUE"),
        (["--player-param", "critic.lr=0.1"], "unknown player 'critic'"),
        (["-s", "rosenbrock", "--play", "alternating"], "needs a game"),
    ],
)
def test_cli_bad_game_settings_exit_2(args, message, capsys):
    surface = [] if "-s" in args else ["-s", "dirac-gan-ns"]
    code, _, err = run_cli(
        ["run", "-o", "gda", *surface, *args, "--steps", "3"], capsys
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_lists_games_with_their_fields(capsys):
    code, out, _ = run_cli(["list", "surfaces"], capsys)
    assert code == 0
    assert "F = (−φ,  θ + 2λ(1 − c/r)φ + μφ)" in out
    assert "players generator (2), discriminator (2)" in out


def test_weight_clipping_is_a_projection_of_the_discriminator():
    # WGAN with a clipped linear critic: the Dirac WGAN field F = (−φ, θ) (WGAN-GP at
    # λ = 0), the discriminator projected onto [−c, c]² after each of its moves.
    s = get_surface("dirac-gan-wgan-gp").bind(lam=0.0)
    lr, c, steps = 0.1, 0.05, 300
    traj = odeopt.run("alternating-gda", s, lr=lr, hp={"discriminator": {"clip": c}},
                      steps=steps, record_every=1)  # fmt: skip
    x = s.x0.copy()
    for _ in range(steps):
        x[:2] = x[:2] - lr * s.grad(x)[:2]
        x[2:] = np.clip(x[2:] - lr * s.grad(x)[2:], -c, c)
    np.testing.assert_allclose(traj.final_theta, x, rtol=1e-14, atol=1e-16)
    assert np.abs(traj.theta[1:, 2:]).max() <= c
    assert traj.meta["game"]["players"][0]["hyperparameters"]["clip"] == 0.0
