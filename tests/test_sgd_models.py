"""The SGD family's continuous models, start-ups and orders (brief §4.1–4.3, §5).

gd: the gradient flow (order 1) and the implicit-gradient-regularisation flow
(order 2; claims C1, C25, C26).  momentum/nesterov: the low-resolution oscillator
(order 1 with either start), the high-resolution ODEs of Shi et al. (order 2 from
the consistent start, 1 from PyTorch's; C5, C39) and the over-damped flow and its
modified equation (β fixed; C28).  Every expected value is computed here — closed
forms, the reference integrator, or fitted orders — none is copied from the brief.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.linalg import expm

import odeopt
from odeopt import reference as reference_module
from odeopt.check import check_order, fit_order
from odeopt.cli import main
from odeopt.optimizers import sgd
from odeopt.reference import solve
from odeopt.stepper import (
    RunError,
    consistent_start,
    previous_point,
    resolve_optimizer,
    resolve_surface,
)

PRODUCT = "product-loss"


def bound(optimizer, surface=PRODUCT, surface_params=None, **hp):
    s = resolve_surface(surface, None, surface_params or {})
    return resolve_optimizer(optimizer, s, hp), s


def final_gap(optimizer, steps, model, init="pytorch", surface=PRODUCT, **hp):
    """|θ_n − θ(t_n)| of a run against its model's reference."""
    traj = odeopt.run(
        optimizer,
        surface,
        steps=steps,
        record_every=steps,
        model=model,
        init=init,
        reference=True,
        **hp,
    )
    return traj.meta["reference"]["final_discrepancy"]


def run_from_buffer(optimizer, b0, steps, surface=PRODUCT, **hp):
    """The Python kernel from a given buffer b₀ (buffer_given = 1)."""
    opt, s = bound(optimizer, surface, **hp)
    kernel_hp = opt.kernel_hp()
    kernel_hp[sgd.HYPERPARAMETERS.index("buffer_given")] = 1.0
    theta = s.x0.copy()
    state = np.array(b0, dtype=float).reshape(1, -1).copy()
    G = np.zeros((1, theta.size))
    for k in range(1, steps + 1):
        G[0] = s.grad(theta)
        sgd.step(k, theta, state, G, kernel_hp)
    return theta


def assert_advantage_doubles(first_order, second_order):
    """Same runs: the second-order model's advantage doubles with every halving."""
    advantage = [
        a["error"] / b["error"]
        for a, b in zip(first_order.rows, second_order.rows, strict=True)
    ]
    assert advantage[0] > 2
    for coarse, fine in itertools.pairwise(advantage):
        assert 1.7 < fine / coarse < 2.3


# -- the start-up ----------------------------------------------------------------------


def test_init_is_recorded_and_pytorch_by_default():
    traj = odeopt.run("momentum", PRODUCT, steps=10)
    assert traj.meta["init"] == "pytorch"
    assert traj.meta["model"]["order"] == 1
    traj = odeopt.run(
        "momentum", PRODUCT, steps=10, model="high-res", init="consistent"
    )
    assert traj.meta["init"] == "consistent"
    assert traj.meta["model"]["order"] == 2
    assert odeopt.run("momentum", PRODUCT, steps=10, model="high-res").meta["model"][
        "order"
    ] == pytest.approx(1)


@pytest.mark.parametrize(
    ("optimizer", "hp"),
    [
        ("momentum", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
        ("momentum", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.2}),
        ("nesterov", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.2}),
        ("nesterov", {"lr": 0.02, "momentum": 0.6, "maximize": True}),
    ],
)
@pytest.mark.parametrize("model", ["low-res", "high-res", "overdamped-modified"])
def test_consistent_start_is_the_two_step_recursion_from_theta_minus_one(
    optimizer, hp, model
):
    # The given buffer b₀ makes step 1 the two-step formula with θ₋₁ = θ(−h); the
    # kernel then updates it as b = βb + (1 − τ)g from the first step on.
    opt, s = bound(optimizer, **hp)
    chosen = opt.optimizer.model(model)
    x0 = s.x0.copy()
    kernel_hp = opt.kernel_hp()
    state = consistent_start(opt, s, chosen, x0, kernel_hp)
    assert kernel_hp[sgd.HYPERPARAMETERS.index("buffer_given")] == 1.0
    prev = previous_point(opt, s, chosen, x0)
    sign = -1.0 if hp.get("maximize") else 1.0
    w = hp.get("weight_decay", 0.0)

    def g(x):
        return sign * s.grad(x) + w * x

    lr, beta, tau = hp["lr"], hp["momentum"], hp.get("dampening", 0.0)
    theta = odeopt.run(
        optimizer,
        PRODUCT,
        steps=3,
        record_every=1,
        model=model,
        init="consistent",
        **hp,
    ).theta
    two_step = [prev, x0]
    for _ in range(3):
        a, b = two_step[-2], two_step[-1]
        nxt = b + beta * (b - a) - lr * (1 - tau) * g(b)
        if optimizer == "nesterov":
            nxt = nxt - beta * lr * (g(b) - g(a))
        two_step.append(nxt)
    np.testing.assert_allclose(theta, np.array(two_step[1:]), rtol=1e-13, atol=1e-15)
    # and the kernel's own buffer recursion from b₀ gives the same iterates
    np.testing.assert_allclose(
        run_from_buffer(optimizer, state[0], 3, **hp), theta[-1], rtol=1e-13
    )


def test_consistent_heavy_ball_buffer_tends_to_sus_leapfrog_buffer():
    # brief §4.2(e): at rest the consistent buffer is b₀ = −∇L(θ₀)/(1 + β) to
    # leading order; ours integrates the ODE back exactly, so the gap is O(h).
    gaps = []
    for h in (0.2, 0.1, 0.05, 0.025):
        opt, s = bound("momentum", lr=h * h, momentum=(1 - h / 2) / (1 + h / 2))
        beta = opt.hp["momentum"]
        state = consistent_start(
            opt, s, opt.optimizer.model("high-res"), s.x0.copy(), opt.kernel_hp()
        )
        su = -s.grad(s.x0) / (1 + beta)
        gaps.append(np.linalg.norm(state[0] - su))
    assert fit_order([0.2, 0.1, 0.05, 0.025], gaps) == pytest.approx(1.0, abs=0.1)


def test_gd_consistent_start_changes_nothing():
    a = odeopt.run("gd", PRODUCT, lr=0.05, steps=50)
    b = odeopt.run("gd", PRODUCT, lr=0.05, steps=50, init="consistent")
    np.testing.assert_array_equal(a.theta, b.theta)
    assert b.meta["init"] == "consistent"


def test_init_errors():
    with pytest.raises(RunError, match="unknown init 'zero'"):
        odeopt.run("momentum", PRODUCT, steps=1, init="zero")
    with pytest.raises(RunError, match="adam has no consistent start-up"):
        odeopt.run("adam", PRODUCT, steps=1, init="consistent")
    with pytest.raises(odeopt.HyperparameterError, match="momentum < 1"):
        odeopt.run("momentum", PRODUCT, steps=1, momentum=1.0, model="overdamped")


# -- gd: C1, C25, C26 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surface", "hp"),
    [(PRODUCT, {"lr": 0.1, "horizon": 2.0, "levels": 3}), ("rosenbrock", {})],
)
def test_gd_is_order_1_to_the_flow_and_order_2_to_the_modified_flow(surface, hp):
    flow = check_order("gd", surface, model="flow", **hp)
    modified = check_order("gd", surface, model="modified", **hp)
    assert flow.passed and flow.fitted_order == pytest.approx(1, abs=0.1)
    assert modified.passed and modified.fitted_order == pytest.approx(2, abs=0.1)
    # the same discrete runs: the modified flow's advantage doubles per halving
    assert [r["steps"] for r in flow.rows] == [r["steps"] for r in modified.rows]
    assert_advantage_doubles(flow, modified)
    # the modified flow's coefficient lr/4 changes with h: one reference per level
    assert flow.reference["solves"] == 1
    assert modified.reference["solves"] == len(modified.rows)


def test_c26_quadratic_closed_forms():
    # L = ½λθ²: GD gives (1 − ηλ)ⁿ, the modified flow e^{−(λ + ηλ²/2)t}.
    lam, params = 1.0, {"eigenvalues": (1.0,)}
    errors_flow, errors_modified = [], []
    lrs = (0.1, 0.05, 0.025, 0.0125)
    for lr in lrs:
        n = round(1.0 / lr)
        traj = odeopt.run(
            "gd",
            "quadratic",
            surface_params=params,
            x0=[1.0],
            lr=lr,
            steps=n,
            record_every=n,
        )
        gd = (1 - lr * lam) ** n
        assert traj.final_theta[0] == pytest.approx(gd, rel=1e-12)
        opt, s = bound("gd", "quadratic", params, lr=lr)
        t = np.array([0.0, n * lr])
        modified = solve(opt, s, np.array([1.0]), t, "modified").theta[-1, 0]
        exact = np.exp(-(lam + lr * lam**2 / 2) * n * lr)
        assert modified == pytest.approx(exact, rel=1e-9)
        errors_modified.append(abs(gd - exact))
        errors_flow.append(abs(gd - np.exp(-lam * n * lr)))
    assert fit_order(lrs, errors_flow) == pytest.approx(1, abs=0.05)
    assert fit_order(lrs, errors_modified) == pytest.approx(2, abs=0.05)


@pytest.mark.parametrize(
    "hp", [{"weight_decay": 0.7}, {"maximize": True, "weight_decay": 5.0}]
)
def test_modified_flow_uses_the_effective_hessian(hp):
    # rotated 2-D quadratic: the modified flow is linear with matrix
    # B + (lr/2)B², B = ±A + wI the Jacobian of the effective gradient.
    params = {"eigenvalues": (0.5, 3.0), "rotate": 7}
    opt, s = bound("gd", "quadratic", params, lr=0.05, **hp)
    A = s.hess(np.zeros(2))
    B = (-A if hp.get("maximize") else A) + hp["weight_decay"] * np.eye(2)
    x0 = np.array([1.0, -0.5])
    t = np.linspace(0.0, 2.0, 5)
    ref = solve(opt, s, x0, t, "modified")
    exact = np.array([expm(-(B + 0.025 * B @ B) * tk) @ x0 for tk in t])
    np.testing.assert_allclose(ref.theta, exact, rtol=1e-9, atol=1e-12)


def test_modified_flow_order_needs_the_sign_of_maximize(monkeypatch):
    hp = {"lr": 0.05, "weight_decay": 0.5, "maximize": True, "horizon": 0.5}
    assert check_order("gd", PRODUCT, model="modified", **hp).passed

    def unsigned(hess, hp):  # the Hessian without maximize's sign: inconsistent
        return lambda theta: np.asarray(hess(theta)) + hp["weight_decay"] * np.eye(2)

    monkeypatch.setattr(reference_module, "effective_hessian", unsigned)
    wrong = check_order("gd", PRODUCT, model="modified", **hp)
    assert wrong.fitted_order == pytest.approx(1, abs=0.15)


# -- momentum and Nesterov: C5, C28, C39 ----------------------------------------------


def test_c5_leapfrog_mapping_is_second_order_from_a_consistent_buffer():
    # Su's mapping 1 at λ = 1: β = (1 − γ/2)/(1 + γ/2), η = γ²/(1 + γ/2), t = kγ
    # up to T = 3.  Heavy ball is then the leapfrog scheme for θ̈ + θ̇ + ∇L = 0,
    # which our high-res model is in the time unit √η.
    gammas = [0.1 / 2**j for j in range(4)]
    consistent, su, pytorch, low_res = [], [], [], []
    for gamma in gammas:
        hp = {
            "lr": gamma**2 / (1 + gamma / 2),
            "momentum": (1 - gamma / 2) / (1 + gamma / 2),
        }
        n = round(3.0 / gamma)
        consistent.append(final_gap("momentum", n, "high-res", "consistent", **hp))
        pytorch.append(final_gap("momentum", n, "high-res", **hp))
        low_res.append(final_gap("momentum", n, "low-res", "consistent", **hp))
        # the leapfrog buffer of the brief, b₀ = −∇L(θ₀)/(1 + β)
        opt, s = bound("momentum", **hp)
        theta = run_from_buffer(
            "momentum", -s.grad(s.x0) / (1 + hp["momentum"]), n, **hp
        )
        ref = solve(opt, s, s.x0, np.array([0.0, n * np.sqrt(hp["lr"])]), "high-res")
        su.append(np.linalg.norm(theta - ref.theta[-1]))
    assert fit_order(gammas, consistent) == pytest.approx(2, abs=0.1)
    assert fit_order(gammas, su) == pytest.approx(2, abs=0.1)
    assert fit_order(gammas, pytorch) == pytest.approx(1, abs=0.1)
    # the low-res (symplectic Euler) reading stays first order even when consistent
    assert fit_order(gammas, low_res) == pytest.approx(1, abs=0.1)
    assert consistent[-1] < pytorch[-1] / 50


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_low_res_is_first_order_with_either_start(optimizer):
    for init in ("pytorch", "consistent"):
        result = check_order(optimizer, PRODUCT, model="low-res", init=init)
        assert result.declared_order == 1
        assert result.fitted_order == pytest.approx(1, abs=0.1), result.table()


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_c28_overdamped_modified_flow(optimizer):
    # β = 0.5 fixed, lr = 0.02 … 0.0025, T = 2 (brief C28; Nesterov's coefficient
    # 1 − β + 2β² instead of 1 + β).
    hp = {"lr": 0.02, "momentum": 0.5, "horizon": 2.0, "levels": 3}
    modified = check_order(
        optimizer, PRODUCT, model="overdamped-modified", init="consistent", **hp
    )
    start_up = check_order(optimizer, PRODUCT, model="overdamped-modified", **hp)
    rescaled = check_order(
        optimizer, PRODUCT, model="overdamped", init="consistent", **hp
    )
    assert modified.fitted_order == pytest.approx(2, abs=0.05), modified.table()
    assert start_up.fitted_order == pytest.approx(1, abs=0.1), start_up.table()
    assert rescaled.fitted_order == pytest.approx(1, abs=0.1), rescaled.table()
    assert_advantage_doubles(rescaled, modified)


def test_c28_heavy_ball_regulariser_is_one_plus_beta_over_one_minus_beta_gds():
    # the weight of ‖∇L‖² in the modified losses, GD taken at the effective
    # learning rate lr/(1 − β) of the over-damped flows
    for beta in (0.5, 0.9):
        lr = 0.01
        hb, _ = bound("momentum", lr=lr, momentum=beta)
        nag, _ = bound("nesterov", lr=lr, momentum=beta)
        gd, _ = bound("gd", lr=lr / (1 - beta))
        reg_hb = hb.optimizer.model("overdamped-modified").parameters(hb.full_hp)
        reg_nag = nag.optimizer.model("overdamped-modified").parameters(nag.full_hp)
        reg_gd = gd.optimizer.model("modified").parameters(gd.full_hp)
        assert reg_hb["reg"] / reg_gd["reg"] == pytest.approx((1 + beta) / (1 - beta))
        assert reg_nag["reg"] / reg_gd["reg"] == pytest.approx(
            (1 - beta + 2 * beta**2) / (1 - beta)
        )


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_c39_high_resolution_odes_are_second_order(optimizer):
    # c = 1, β = (1 − √s/2)/(1 + √s/2), s = 4e-3 / 4^j, t = n√s ≈ 3; each ODE
    # started at rest with its own consistent θ₋₁ (integrated back by √s).
    hs, high, low, high_pytorch = [], [], [], []
    for j in range(4):
        s = 4e-3 / 4**j
        h = np.sqrt(s)
        hp = {"lr": s, "momentum": (1 - h / 2) / (1 + h / 2)}
        n = round(3.0 / h)
        hs.append(h)
        high.append(final_gap(optimizer, n, "high-res", "consistent", **hp))
        low.append(final_gap(optimizer, n, "low-res", "consistent", **hp))
        high_pytorch.append(final_gap(optimizer, n, "high-res", **hp))
    assert fit_order(hs, high) == pytest.approx(2, abs=0.15)
    assert fit_order(hs, low) == pytest.approx(1, abs=0.15)
    assert fit_order(hs, high_pytorch) == pytest.approx(1, abs=0.1)
    assert high[-1] < low[-1] / 100
    # check_order's refinement keeps c fixed: the same family of runs and errors
    result = check_order(
        optimizer,
        PRODUCT,
        model="high-res",
        init="consistent",
        horizon=3.0,
        levels=3,
        lr=4e-3,
        momentum=(1 - hs[0] / 2) / (1 + hs[0] / 2),
    )
    for row, expected in zip(result.rows, high, strict=True):
        assert row["error"] == pytest.approx(expected, rel=1e-6)
    assert result.passed


# -- every model at its declared order ------------------------------------------------

ROSEN_HIGH_RES = {"lr": 1e-4, "levels": 7}
OVERDAMPED_PRODUCT = {"lr": 0.02, "momentum": 0.5, "horizon": 2.0}
OVERDAMPED_ROSEN = {"lr": 2e-5, "momentum": 0.5, "horizon": 0.5, "levels": 5}

CASES = [("gd", "modified", "pytorch", PRODUCT, {})]
CASES.append(("gd", "modified", "pytorch", "rosenbrock", {}))
for _opt in ("momentum", "nesterov"):
    for _init in ("pytorch", "consistent"):
        CASES += [
            (_opt, "high-res", _init, PRODUCT, {}),
            (_opt, "high-res", _init, "rosenbrock", ROSEN_HIGH_RES),
            (_opt, "overdamped", _init, PRODUCT, OVERDAMPED_PRODUCT),
            (_opt, "overdamped", _init, "rosenbrock", OVERDAMPED_ROSEN),
            (_opt, "overdamped-modified", _init, PRODUCT, OVERDAMPED_PRODUCT),
            (_opt, "overdamped-modified", _init, "rosenbrock", OVERDAMPED_ROSEN),
        ]
    CASES.append((_opt, "low-res", "consistent", "rosenbrock", ROSEN_HIGH_RES))
# weight decay, maximize and dampening through the effective gradient and Hessian
CASES += [
    ("gd", "modified", "pytorch", PRODUCT, {"lr": 0.05, "weight_decay": 0.5}),
    (
        "momentum",
        "high-res",
        "consistent",
        PRODUCT,
        {"lr": 0.1, "dampening": 0.3, "weight_decay": 0.2},
    ),
    (
        "nesterov",
        "high-res",
        "consistent",
        PRODUCT,
        {"lr": 0.01, "weight_decay": 0.5, "maximize": True, "horizon": 0.5},
    ),
    (
        "momentum",
        "overdamped-modified",
        "consistent",
        PRODUCT,
        {**OVERDAMPED_PRODUCT, "dampening": 0.3},
    ),
    (
        "nesterov",
        "overdamped-modified",
        "consistent",
        PRODUCT,
        {
            "lr": 0.005,
            "momentum": 0.5,
            "weight_decay": 0.5,
            "maximize": True,
            "horizon": 0.25,
        },
    ),
]


@pytest.mark.parametrize(
    ("optimizer", "model", "init", "surface", "hp"),
    CASES,
    ids=[
        f"{o}-{m}-{i}-{s}" + ("-" + "-".join(sorted(hp)) if hp else "")
        for o, m, i, s, hp in CASES
    ],
)
def test_model_passes_its_declared_order(optimizer, model, init, surface, hp):
    result = check_order(optimizer, surface, model=model, init=init, **hp)
    second = model == "modified" or (
        model in ("high-res", "overdamped-modified") and init == "consistent"
    )
    expected = 2 if second else 1
    assert result.declared_order == expected
    assert result.init == init
    assert result.passed, result.table()


# -- command line ----------------------------------------------------------------------


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_run_and_check_take_init(capsys):
    code, out, err = invoke(
        capsys,
        "run",
        "-o",
        "nesterov",
        "-s",
        PRODUCT,
        "--model",
        "high-res",
        "--init",
        "consistent",
        "--steps",
        "20",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["init"] == "consistent" and summary["model"]["order"] == 2
    code, out, err = invoke(
        capsys,
        "check",
        "-o",
        "momentum",
        "-s",
        PRODUCT,
        "--model",
        "high-res",
        "--init",
        "consistent",
        "--levels",
        "4",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["init"] == "consistent" and result["passed"]
    code, out, err = invoke(
        capsys, "check", "-o", "momentum", "-s", PRODUCT, "--model", "high-res"
    )
    assert code == 0, err
    assert "init pytorch" in out and "declared order 1" in out


def test_cli_init_errors_are_one_line(capsys):
    code, out, err = invoke(
        capsys, "run", "-o", "momentum", "-s", PRODUCT, "--init", "zero"
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    code, out, err = invoke(
        capsys, "run", "-o", "adam", "-s", PRODUCT, "--init", "consistent"
    )
    assert code == 2 and "no consistent start-up" in err
    assert len(err.strip().splitlines()) == 1


def test_list_shows_the_models_and_their_orders(capsys):
    code, out, _ = invoke(capsys, "list", "optimizers", "--json")
    assert code == 0
    models = {
        o["name"]: {m["name"]: m for m in o["models"]}
        for o in json.loads(out)["optimizers"]
    }
    assert list(models["gd"]) == ["flow", "modified"]
    for name in ("momentum", "nesterov"):
        assert list(models[name]) == [
            "low-res",
            "high-res",
            "overdamped",
            "overdamped-modified",
        ]
        assert models[name]["high-res"]["order"] == 1
        assert models[name]["high-res"]["order_consistent"] == 2
        assert "order_consistent" not in models[name]["low-res"]
    code, out, _ = invoke(capsys, "list", "optimizers")
    assert "order 1 (2 with --init consistent)" in out
