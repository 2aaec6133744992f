"""Games in the stepping contract: players own blocks of θ, with hyperparameters of
their own, and move simultaneously or in turns (odeopt._roles.Play).

The problem is ``tests/families/contract_bilinear.py``, the rotation field
F = (a·y, −b·x) of the bilinear game f = a·x·y; expected values are closed forms
(Zhang et al. 2022, "Near-optimal local convergence of alternating gradient
descent-ascent": simultaneous GDA's radius grows by √(1 + h²) per step; alternating
GDA conserves x² + y² − h·x·y) and NumPy transcriptions of the published updates.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from odeopt import _codegen
from odeopt._roles import Play
from odeopt.registry import get_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent / "families"))
import contract_bilinear

GAME = contract_bilinear.SURFACE
ROTATION = GAME.bind(a=1.0, b=1.0)


def play_hp(name, surface, per_player):
    """The runner's hp: the family's layout once per player, each bound on its own."""
    optimizer = get_optimizer(name)
    return np.concatenate(
        [optimizer.bind(surface, **h).kernel_hp() for h in per_player]
    )


def advance(name, play, per_player, x0, steps, surface=ROTATION, state_rows=1):
    """Run the game's runner; every state, rows 0 .. steps."""
    optimizer = get_optimizer(name)
    function = _codegen.get_advance(optimizer.kernels, GAME.kernels, None, play)
    theta = np.array(x0, dtype=float)
    state = np.zeros((state_rows, theta.size))
    rec_step = np.zeros(steps + 2, dtype=np.int64)
    rec_theta = np.zeros((steps + 2, theta.size))
    rec_loss = np.zeros(steps + 2)
    rec_theta[0] = theta
    status, k, n_rec = function(
        theta, state, np.zeros(1), play_hp(name, surface, per_player), surface.p,
        np.zeros(1), 0, 0, 0, steps, 1, 0.0, 1e100, rec_step, rec_theta, rec_loss, 1,
    )  # fmt: skip
    assert (status, k, n_rec) == (0, steps, steps + 1)
    return rec_theta[: steps + 1]


def test_simultaneous_gda_spirals_out_by_the_closed_form_factor():
    h, n = 0.1, 2000
    path = advance("gd", Play((1, 1)), [{"lr": h}, {"lr": h}], [1.0, 0.0], n)
    radius = np.hypot(path[:, 0], path[:, 1])
    np.testing.assert_allclose(
        radius, (1 + h * h) ** (np.arange(n + 1) / 2), rtol=1e-12
    )


def test_alternating_gda_is_bounded_and_conserves_its_invariant():
    h, n = 0.1, 100_000
    path = advance("gd", Play((1, 1), turns=(0, 1)), [{"lr": h}] * 2, [1.0, 0.0], n)
    x, y = path[:, 0], path[:, 1]
    invariant = x * x + y * y - h * x * y
    # To rounding: 10⁵ steps of a few roundings each, on a quantity of size 1.
    assert np.abs(invariant - 1.0).max() < 1e-11
    assert np.hypot(x, y).max() < 1.1


def test_turns_follow_the_listed_order_with_each_players_rate():
    # Player 1 (y) moves first, then x, with rates of their own: a NumPy transcription.
    hx, hy, n = 0.05, 0.2, 300
    a, b = 2.0, 0.5
    game = GAME.bind(a=a, b=b)
    path = advance("gd", Play((1, 1), (1, 0)), [{"lr": hx}, {"lr": hy}], [0.3, -1.0],
                   n, surface=game)  # fmt: skip
    x, y, expected = 0.3, -1.0, [(0.3, -1.0)]
    for _ in range(n):
        y = y - hy * (-b * x)
        x = x - hx * (a * y)
        expected.append((x, y))
    np.testing.assert_array_equal(path, np.array(expected))


def numpy_adam(g, m, v, t, lr, beta1, beta2, eps):
    """Kingma & Ba (2015), Algorithm 1, in torch.optim.Adam's arrangement."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
    step = lr / bias1 * m / (np.sqrt(v) / np.sqrt(bias2) + eps)
    return step, m, v


def test_adam_per_player_with_two_discriminator_moves_per_generator_move():
    # Two time-scale Adam (Heusel et al. 2017) on the rotation game, the discriminator
    # (player 1) moving twice per step: each player's step count counts its moves.
    hp = [
        {"lr": 1e-2, "beta1": 0.5, "beta2": 0.9},
        {"lr": 4e-2, "beta1": 0.8, "beta2": 0.99},
    ]
    n = 200
    optimizer = get_optimizer("adam")
    bound = [optimizer.bind(ROTATION, **h).full_hp for h in hp]
    path = advance("adam", Play((1, 1), (1, 1, 0)), hp, [1.0, 0.5], n, state_rows=
                   optimizer.bind(ROTATION).state_rows())  # fmt: skip
    theta = np.array([1.0, 0.5])
    m, v, moves = np.zeros(2), np.zeros(2), [0, 0]
    expected = [theta.copy()]
    for _ in range(n):
        for j in (1, 1, 0):
            g = ROTATION.grad(theta)[j]
            moves[j] += 1
            c = bound[j]
            step, m[j], v[j] = numpy_adam(g, m[j], v[j], moves[j], c["lr"], c["beta1"],
                                          c["beta2"], c["eps"])  # fmt: skip
            theta[j] -= step
        expected.append(theta.copy())
    np.testing.assert_allclose(path, np.array(expected), rtol=1e-13, atol=1e-15)


def test_a_game_runner_refuses_another_dimension():
    play = Play((1, 1))
    with pytest.raises(ValueError, match="dimension"):
        advance("gd", play, [{"lr": 0.1}] * 2, [1.0, 0.0, 0.0], 3)


@pytest.mark.parametrize(
    ("blocks", "turns", "message"),
    [
        ((2,), None, "2 blocks"),
        ((1, 0), None, "size >= 1"),
        ((1, 1), (0, 2), "players"),
    ],
)
def test_bad_plays_are_refused(blocks, turns, message):
    with pytest.raises(ValueError, match=message):
        Play(blocks, turns)


def test_look_ahead_stages_per_player():
    # Heun's method (one predictor stage per step) in each block, simultaneously, on
    # the rotation F = Jθ, J² = −I: θ' = ((1 − h²/2)I − hJ)θ, so the radius grows by
    # √(1 + h⁴/4) per step.
    h, n = 0.2, 500
    play = Play((1, 1))
    path = advance("heun", play, [{"lr": h}] * 2, [1.0, 0.0], n, state_rows=
                   get_optimizer("heun").bind(ROTATION).state_rows())  # fmt: skip
    radius = np.hypot(path[:, 0], path[:, 1])
    expected = (1 + h**4 / 4) ** (np.arange(n + 1) / 2)
    np.testing.assert_allclose(radius, expected, rtol=1e-12)


def lanes(name, play, hps, starts, steps):
    """A batch of games through the runner's lane function (hyperparameters per lane)."""
    runner = _codegen.get_runner(get_optimizer(name).kernels, GAME.kernels, None,
                                 play.dim, play)  # fmt: skip
    n = len(starts)
    thetas = np.array(starts, dtype=float)
    states = np.zeros((n, 1, play.dim))
    out = [np.zeros(n, dtype=np.int64) for _ in range(3)] + [np.zeros(n)]
    record = (np.zeros((n, 1), dtype=np.int64), np.zeros((n, 1, play.dim)),
              np.zeros((n, 1)))  # fmt: skip
    function = runner.lanes_for(hps[0], per_lane=True)
    function(thetas, states, np.zeros((n, 1)), np.ascontiguousarray(hps), ROTATION.p,
             np.zeros(1), 0, np.arange(n), 0, n, steps, 0, 0.0, 1e100, *record, *out)  # fmt: skip
    return thetas, out[0]


@pytest.mark.parametrize("turns", [None, (1, 0)])
def test_games_in_lanes_equal_single_runs(turns):
    play = Play((1, 1), turns)
    rng = np.random.default_rng(3)
    n, steps = 37, 400
    rates = rng.uniform(0.01, 0.3, size=(n, 2))
    starts = rng.uniform(-1, 1, size=(n, 2))
    per_player = [[{"lr": r[0]}, {"lr": r[1]}] for r in rates]
    hps = np.stack([play_hp("gd", ROTATION, p) for p in per_player])
    thetas, status = lanes("gd", play, hps, starts, steps)
    for b in (0, 17, 36):
        single = advance("gd", play, per_player[b], starts[b], steps)
        np.testing.assert_array_equal(thetas[b], single[-1])
    assert np.all(status == 0)
