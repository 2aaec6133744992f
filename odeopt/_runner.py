"""The body of every generated runner module (read as text by :mod:`odeopt._codegen`).

This file is never imported to run: :mod:`odeopt._codegen` writes a header that binds
the names imported below under ``TYPE_CHECKING`` (the problem's, family's and noise
model's kernels, inlined, and the constants of the pair), then appends everything
after the ``# -- body --`` line, then the generated entry points (one per set of
hyperparameter values held as constants).  The contract the body follows, and the
order of its calls, is in :mod:`odeopt._roles`.

Speed notes (measured with ``benchmarks/bench_steppers.py``): in ``DIM``
dimensions the loops keep θ, the state and a copy of the hyperparameters in stack
arrays (:mod:`odeopt._intrinsics`), which LLVM turns into registers; batches step
``LANES`` trajectories side by side with the lane index last, so that LLVM
vectorises across trajectories instead of waiting on the chain of dependent
operations of one.  Lanes follow the scalar loop's operations in the same order,
so their numbers equal single runs bit for bit.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the generated header binds
    from numba import cfunc, njit, types

    from odeopt._intrinsics import assume, carray, stack_array, stack_words
    from odeopt._roles import no_hessian as hess
    from odeopt._roles import perturb, post, stage_point

    def grad(x, p, out): ...
    def value(x, p): ...
    def step(k, theta, state, G, hp, values, aux): ...
    def fill_normals(xi, seed, path, k, stage): ...
    def fill_normals_lanes(xi, seed, paths, k, stage): ...
    def _held_loop(theta, state, aux, hp, p, q, seed, path, G, F, y, xi, H, k_start,
                   n_steps, record_every, tol, max_norm, rec_step, rec_theta,
                   rec_loss, n_rec): ...  # fmt: skip

    N_STAGES = STATE_ROWS = N_HP = N_AUX = DIM = LANES = 1
    BY_POINT = NOISY = NEEDS_VALUE = NEEDS_HESSIAN = False
    # Games: the players' blocks of theta, and their turns within a step.
    GAME = ALTERNATING = False
    N_PLAYERS = N_TURNS = FAMILY_HP = FAMILY_AUX = GAME_DIM = 1
    BLOCK_START = BLOCK_STOP = TURNS = TURN_OCCURRENCE = TURN_COUNT = (0,)
    _OPTIONS: dict = {}

# -- body --

# Status codes (odeopt.trajectory.Status): still running, converged, diverged.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2


# Each role below comes in the variants a runner may need, and the header's constants
# pick one at import: code a runner does not need is never typed or compiled (a
# branch on a constant would still be, measured: twice the compile time).


@njit(inline="always", **_OPTIONS)
def _exact_gradient(y, p, q, out, xi, H, seed, path, k, stage):
    # The gradient oracle: the problem's field at y ...
    grad(y, p, out)


@njit(inline="always", **_OPTIONS)
def _noisy_gradient(y, p, q, out, xi, H, seed, path, k, stage):
    # ... plus the noise model's sample, from the normals xi[stage] that _draw gave
    # this evaluation of step k.
    grad(y, p, out)
    hess(y, p, H)  # odeopt._roles.no_hessian unless the noise model needs it
    perturb(out, y, xi[stage], q, H)


_gradient = _noisy_gradient if NOISY else _exact_gradient

# Gradient evaluations per step: each alternating turn evaluates the stages afresh.
N_EVALS = N_STAGES * N_TURNS if ALTERNATING else N_STAGES


@njit(inline="always", **_OPTIONS)
def _draw_normals(xi, seed, path, k):
    # The normals of every evaluation e of step k, xi[e], addressed by (seed, path,
    # k, e): the same bits wherever and in whatever order they are drawn.  They do
    # not depend on where the gradient is evaluated, so they are drawn before the
    # step, and for lanes in one pass over all of them: drawn inside each lane's
    # gradient they kept the whole lane loop scalar (measured; the pass itself is
    # scalar code, the step loop after it vectorises).
    for e in range(N_EVALS):
        fill_normals(xi[e], seed, path, k, e)


@njit(inline="always", **_OPTIONS)
def _draw_lane_normals(xi, seed, paths, k):
    for e in range(N_EVALS):
        fill_normals_lanes(xi[e], seed, paths, k, e)


@njit(inline="always", **_OPTIONS)
def _no_draw(xi, seed, path, k):
    return


_draw = _draw_normals if NOISY else _no_draw
_draw_lanes = _draw_lane_normals if NOISY else _no_draw


@njit(inline="always", **_OPTIONS)
def _value(y, p, F, stage):
    F[stage] = value(y, p)


@njit(inline="always", **_OPTIONS)
def _no_value(y, p, F, stage):
    return


_stage_value = _value if NEEDS_VALUE else _no_value


@njit(inline="always", **_OPTIONS)
def _gradients_at_points(k, theta, state, G, F, hp, p, q, y, xi, H, seed, path):
    # Every gradient of step k, each at the point the family chooses.
    for s in range(N_STAGES):
        stage_point(s, k, theta, state, G, hp, y)
        _gradient(y, p, q, G[s], xi, H, seed, path, k, s)
        _stage_value(y, p, F, s)


@njit(inline="always", **_OPTIONS)
def _gradient_at_theta(k, theta, state, G, F, hp, p, q, y, xi, H, seed, path):
    # The one gradient of step k, at theta.
    _gradient(theta, p, q, G[0], xi, H, seed, path, k, 0)
    _stage_value(theta, p, F, 0)


_gradients = _gradients_at_points if BY_POINT else _gradient_at_theta


@njit(inline="always", **_OPTIONS)
def _update(k, theta, state, G, F, hp, aux, p, q, y, xi, H, seed, path):
    # The family's step, then its post-step (one loss: every coordinate at once).
    step(k, theta, state, G, hp, F, aux)
    post(k, theta, state, hp)


# -- games --------------------------------------------------------------------------
# A game's players own the blocks BLOCK_START[j] .. BLOCK_STOP[j] of theta and each
# runs the family with its own FAMILY_HP hyperparameters (and FAMILY_AUX scalars), on
# views of its block: the family never knows it plays.  Simultaneous play evaluates
# every gradient at the same point, then every player steps; alternating play gives
# the players TURNS in order, each evaluating the field after the turns before it.


@njit(inline="always", **_OPTIONS)
def _player_step(j, k, theta, state, G, F, hp, aux):
    a, b = BLOCK_START[j], BLOCK_STOP[j]
    hp_j = hp[j * FAMILY_HP : (j + 1) * FAMILY_HP]
    aux_j = aux[j * FAMILY_AUX : (j + 1) * FAMILY_AUX]
    step(k, theta[a:b], state[:, a:b], G[:, a:b], hp_j, F, aux_j)
    post(k, theta[a:b], state[:, a:b], hp_j)


@njit(inline="always", **_OPTIONS)
def _player_point(s, j, k, theta, state, G, hp, y):
    a, b = BLOCK_START[j], BLOCK_STOP[j]
    hp_j = hp[j * FAMILY_HP : (j + 1) * FAMILY_HP]
    stage_point(s, k, theta[a:b], state[:, a:b], G[:, a:b], hp_j, y[a:b])


@njit(inline="always", **_OPTIONS)
def _simultaneous_gradients(k, theta, state, G, F, hp, p, q, y, xi, H, seed, path):
    # Gradient s of step k: every player's stage point, then the field there.
    for s in range(N_STAGES):
        for j in range(N_PLAYERS):
            _player_point(s, j, k, theta, state, G, hp, y)
        _gradient(y, p, q, G[s], xi, H, seed, path, k, s)
        _stage_value(y, p, F, s)


@njit(inline="always", **_OPTIONS)
def _simultaneous_update(k, theta, state, G, F, hp, aux, p, q, y, xi, H, seed, path):
    for j in range(N_PLAYERS):
        _player_step(j, k, theta, state, G, F, hp, aux)


@njit(inline="always", **_OPTIONS)
def _turn_step_number(turn, k):
    # The player's own step count (PyTorch's state["step"] of its optimizer).
    return (k - 1) * TURN_COUNT[TURNS[turn]] + TURN_OCCURRENCE[turn] + 1


@njit(inline="always", **_OPTIONS)
def _turn_gradients_at_points(turn, k, theta, state, G, F, hp, p, q, y, xi, H, seed,
                              path):  # fmt: skip
    # The mover's stage points, the other players where they stand.  Noise is keyed
    # by the evaluation's place in the step: each turn draws afresh.
    j = TURNS[turn]
    k_j = _turn_step_number(turn, k)
    for s in range(N_STAGES):
        for i in range(theta.shape[0]):
            y[i] = theta[i]
        _player_point(s, j, k_j, theta, state, G, hp, y)
        _gradient(y, p, q, G[s], xi, H, seed, path, k, turn * N_STAGES + s)
        _stage_value(y, p, F, s)


@njit(inline="always", **_OPTIONS)
def _turn_gradient_at_theta(turn, k, theta, state, G, F, hp, p, q, y, xi, H, seed,
                            path):  # fmt: skip
    _gradient(theta, p, q, G[0], xi, H, seed, path, k, turn)
    _stage_value(theta, p, F, 0)


_turn_gradients = _turn_gradients_at_points if BY_POINT else _turn_gradient_at_theta


@njit(inline="always", **_OPTIONS)
def _first_turn_gradients(k, theta, state, G, F, hp, p, q, y, xi, H, seed, path):
    _turn_gradients(0, k, theta, state, G, F, hp, p, q, y, xi, H, seed, path)


@njit(inline="always", **_OPTIONS)
def _alternating_update(k, theta, state, G, F, hp, aux, p, q, y, xi, H, seed, path):
    # The first turn's gradients were evaluated (and tested) before the update.
    for turn in range(N_TURNS):
        if turn > 0:
            _turn_gradients(turn, k, theta, state, G, F, hp, p, q, y, xi, H, seed,
                            path)  # fmt: skip
        _player_step(TURNS[turn], _turn_step_number(turn, k), theta, state, G, F, hp,
                     aux)  # fmt: skip


if GAME and ALTERNATING:
    _gradients, _update = _first_turn_gradients, _alternating_update
elif GAME:
    _gradients = _simultaneous_gradients if BY_POINT else _gradient_at_theta
    _update = _simultaneous_update


@njit(inline="always", **_OPTIONS)
def _loop(theta, state, aux, hp, p, q, seed, path, G, F, y, xi, H, k_start, n_steps,
          record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec):  # fmt: skip
    # Steps k_start+1 .. k_start+n_steps.  Returns (status, last step, records).
    dim = theta.shape[0]
    tol2 = tol * tol
    k_done = k_start
    status = RUNNING
    # The next step to record (a countdown, not k % record_every: an integer division
    # per step would cost as much as the update itself).
    if record_every > 0:
        next_record = (k_start // record_every + 1) * record_every
    else:
        next_record = -1
    for k in range(k_start + 1, k_start + n_steps + 1):
        _draw(xi, seed, path, k)
        _gradients(k, theta, state, G, F, hp, p, q, y, xi, H, seed, path)
        if tol > 0.0:
            norm2 = 0.0
            for i in range(dim):
                norm2 += G[0, i] * G[0, i]
            if norm2 < tol2:
                status = CONVERGED
                break
        _update(k, theta, state, G, F, hp, aux, p, q, y, xi, H, seed, path)
        k_done = k
        # NaN fails every comparison: one test catches NaN, inf and blow-up.
        exploded = False
        for i in range(dim):
            if not abs(theta[i]) <= max_norm:
                exploded = True
        if exploded:
            status = DIVERGED
            break
        if k == next_record:
            next_record += record_every
            rec_step[n_rec] = k
            # Element by element, and the loss from the copy: theta's address must
            # not escape (a slice copy or a call would keep it out of registers).
            for i in range(dim):
                rec_theta[n_rec, i] = theta[i]
            rec_loss[n_rec] = value(rec_theta[n_rec], p)
            n_rec += 1
    return status, k_done, n_rec


@njit(inline="always", **_OPTIONS)
def _stack_loop(theta_in, state_in, aux_in, hp, p, q, seed, path, k_start, n_steps,
                record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec):  # fmt: skip
    # _loop with its arrays on the stack, where SROA turns them into registers (no
    # store and reload of theta and the state at every step): dim = DIM only.  The
    # generated _held_loop runs the copy of _loop that holds hp's values.
    theta = carray(stack_array(DIM), (DIM,))
    state = carray(stack_array(STATE_ROWS, DIM), (STATE_ROWS, DIM))
    aux = carray(stack_array(N_AUX), (N_AUX,))
    G = carray(stack_array(N_STAGES, DIM), (N_STAGES, DIM))
    F = carray(stack_array(N_STAGES), (N_STAGES,))
    y = carray(stack_array(DIM), (DIM,))
    xi = carray(stack_array(N_EVALS, DIM), (N_EVALS, DIM))
    H = carray(stack_array(DIM, DIM), (DIM, DIM))
    for i in range(DIM):
        theta[i] = theta_in[i]
        y[i] = 0.0
        for s in range(N_STAGES):
            G[s, i] = 0.0
        for r in range(STATE_ROWS):
            state[r, i] = state_in[r, i]
    for j in range(N_AUX):
        aux[j] = aux_in[j]
    result = _held_loop(theta, state, aux, hp, p, q, seed, path, G, F, y, xi, H,
                        k_start, n_steps, record_every, tol, max_norm, rec_step,
                        rec_theta, rec_loss, n_rec)  # fmt: skip
    for i in range(DIM):
        theta_in[i] = theta[i]
        for r in range(STATE_ROWS):
            state_in[r, i] = state[r, i]
    for j in range(N_AUX):
        aux_in[j] = aux[j]
    return result


@njit(inline="always", **_OPTIONS)
def _carve(work, dim):
    # The scratch arrays of a run whose dimension is not DIM, from one buffer (laid
    # out as odeopt._codegen.work_size counts it): no allocation in the runner.
    a = N_STAGES * dim
    G = work[:a].reshape((N_STAGES, dim))
    F = work[a : a + N_STAGES]
    y = work[a + N_STAGES : a + N_STAGES + dim]
    b = a + N_STAGES + dim + N_EVALS * dim
    xi = work[a + N_STAGES + dim : b].reshape((N_EVALS, dim))
    n = dim if NEEDS_HESSIAN else 1
    H = work[b : b + n * n].reshape((n, n))
    return G, F, y, xi, H


@njit(inline="always", **_OPTIONS)
def _run(theta, state, aux, hp_in, p, q, seed, path, work, k_start, n_steps,
         record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec):  # fmt: skip
    # The loop reads a copy of hp on the stack: LLVM then knows its values are
    # constant over the run, and hoists them and the branches on them.
    hp = carray(stack_array(N_HP), (N_HP,))
    for j in range(N_HP):
        hp[j] = hp_in[j]
    dim = theta.shape[0]
    if dim != DIM:
        G, F, y, xi, H = _carve(work, dim)
        return _loop(theta, state, aux, hp, p, q, seed, path, G, F, y, xi, H, k_start,
                     n_steps, record_every, tol, max_norm, rec_step, rec_theta,
                     rec_loss, n_rec)  # fmt: skip
    return _stack_loop(theta, state, aux, hp, p, q, seed, path, k_start, n_steps,
                       record_every, tol, max_norm, rec_step, rec_theta, rec_loss,
                       n_rec)  # fmt: skip


@njit(**_OPTIONS)
def advance(theta, state, aux, hp, p, q, seed, path, work, k_start, n_steps,
            record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec):  # fmt: skip
    """One trajectory: theta, state and aux are advanced in place (work: scratch)."""
    if hp.shape[0] != N_HP or aux.shape[0] < N_AUX:
        raise ValueError("hp must hold the family's HYPERPARAMETERS, aux its N_AUX")
    if GAME and theta.shape[0] != GAME_DIM:
        raise ValueError("theta must have the dimension of the game's blocks")
    return _run(theta, state, aux, hp, p, q, seed, path, work, k_start, n_steps,
                record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec)  # fmt: skip


def _advance_c(theta_p, state_p, aux_p, hp_p, p_p, q_p, work_p, dim, state_rows, n_aux,
               n_hp, n_p, n_q, n_work, seed, path, k_start, n_steps, record_every, tol,
               max_norm, rec_step_p, rec_theta_p, rec_loss_p, n_rec_cap, out_p):  # fmt: skip
    # advance() over raw pointers (out: status, last step, records in and out).
    out = carray(out_p, (3,))
    status, k_done, n_rec = _run(
        carray(theta_p, (dim,)), carray(state_p, (state_rows, dim)),
        carray(aux_p, (n_aux,)), carray(hp_p, (n_hp,)), carray(p_p, (n_p,)),
        carray(q_p, (n_q,)), seed, path, carray(work_p, (n_work,)), k_start, n_steps,
        record_every, tol, max_norm, carray(rec_step_p, (n_rec_cap,)),
        carray(rec_theta_p, (n_rec_cap, dim)), carray(rec_loss_p, (n_rec_cap,)),
        out[2])  # fmt: skip
    out[0] = status
    out[1] = k_done
    out[2] = n_rec


def compile_advance_c():
    """The C-ABI twin of advance, for odeopt._native (a cfunc compiles when created,
    so this is called only when no cached object code can be used)."""
    f8p = types.CPointer(types.float64)
    i8p = types.CPointer(types.int64)
    i8, f8 = types.int64, types.float64
    signature = types.void(f8p, f8p, f8p, f8p, f8p, f8p, f8p, i8, i8, i8, i8, i8, i8,
                           i8, i8, i8, i8, i8, i8, f8, f8, i8p, f8p, f8p, i8, i8p)  # fmt: skip
    return cfunc(signature, error_model="numpy")(_advance_c)


@njit(**_OPTIONS)
def advance_range(thetas, states, auxs, hps, p, q, seed, paths, work, b_start, b_end,
                  n_steps, record_every, tol, max_norm, rec_step, rec_theta, rec_loss,
                  out_status, out_steps, out_nrec, out_loss):  # fmt: skip
    """Trajectories b_start .. b_end - 1 of a batch one after another, each with its
    own hyperparameters hps[b] and noise path paths[b], advanced in place: the
    numbers of a run of its own (work: scratch, as for advance)."""
    if hps.shape[1] != N_HP or auxs.shape[1] < N_AUX:
        raise ValueError("hps must hold the family's HYPERPARAMETERS, auxs its N_AUX")
    if GAME and thetas.shape[1] != GAME_DIM:
        raise ValueError("thetas must have the dimension of the game's blocks")
    for b in range(b_start, b_end):
        status, k_done, n_rec = _run(
            thetas[b], states[b], auxs[b], hps[b], p, q, seed, paths[b], work, 0, n_steps,
            record_every, tol, max_norm, rec_step[b], rec_theta[b], rec_loss[b], 0)  # fmt: skip
        out_status[b] = status
        out_steps[b] = k_done
        out_nrec[b] = n_rec
        out_loss[b] = value(thetas[b], p)


# -- batches in lanes ---------------------------------------------------------------
# LANES trajectories of one DIM-dimensional batch stepped side by side.  Each has its
# own noise path and, in the lane functions "with hyperparameters per lane", its own
# hyperparameters; the values a lane function holds as constants are the same for
# every lane.


@njit(inline="always", **_OPTIONS)
def _finish(lane, status, k_done, n_rec, theta, state, aux, p, b0, thetas, states,
            auxs, out_status, out_steps, out_nrec, out_loss):  # fmt: skip
    b = b0 + lane
    for i in range(DIM):
        thetas[b, i] = theta[i, lane]
        for r in range(STATE_ROWS):
            states[b, r, i] = state[r, i, lane]
    for j in range(N_AUX):
        auxs[b, j] = aux[j, lane]
    out_status[b] = status
    out_steps[b] = k_done
    out_nrec[b] = n_rec
    out_loss[b] = value(thetas[b], p)


@njit(inline="always", **_OPTIONS)
def _size(theta, lane):
    # |theta_0| + |theta_1| + ...: above max_norm whenever one |theta_i| is (or NaN).
    size = 0.0
    for i in range(DIM):
        size += abs(theta[i, lane])
    return size


@njit(inline="always", **_OPTIONS)
def _norm2(G, lane):
    norm2 = 0.0
    for i in range(DIM):
        norm2 += G[0, i, lane] * G[0, i, lane]
    return norm2


@njit(inline="always", **_OPTIONS)
def _mirror(theta, state, aux, hpl, lane_path, alive):
    # Every stopped lane takes a copy of the first live one (there is one): its
    # iterate, state, hyperparameters and noise path, so it repeats the live lane's
    # steps bit for bit, and the tests, which do not look at `alive`, fire for a
    # stopped lane only when they fire for a live one.
    source = 0
    while alive[source] == 0.0:
        source += 1
    for lane in range(LANES):
        if alive[lane] == 0.0:
            for i in range(DIM):
                theta[i, lane] = theta[i, source]
                for r in range(STATE_ROWS):
                    state[r, i, lane] = state[r, i, source]
            for j in range(N_AUX):
                aux[j, lane] = aux[j, source]
            for j in range(N_HP):
                hpl[j, lane] = hpl[j, source]
            lane_path[lane] = lane_path[source]


@njit(inline="always", **_OPTIONS)
def _lane_hp(hp, hpl, lane, per_lane, held):
    # The lane's hyperparameters into hp: those held as constants (held[j] == 1) stay
    # (LLVM folds their tests), the others are the lane's own (a SIMD load across
    # lanes).  A switch held non-zero (held[j] == 2; the lane function has checked
    # every row) is assumed so: LLVM folds the kernel's test of it as it does for one
    # set, where it would otherwise test it lane by lane (grid 0.84 -> 0.70 ns per
    # trajectory-step, one set 0.71: measured).
    if per_lane:
        for j in range(N_HP):
            if held[j] != 1:
                hp[j] = hpl[j, lane]
            if held[j] == 2:
                assume(hp[j] != 0.0)


@njit(inline="always", **_OPTIONS)
def _lanes(thetas, states, auxs, hps, hp, per_lane, held, p, q, seed, paths, b0,
           n_lanes, n_steps, record_every, tol, max_norm, rec_step, rec_theta,
           rec_loss, out_status, out_steps, out_nrec, out_loss):  # fmt: skip
    # Trajectories b0 .. b0 + n_lanes - 1 in stack arrays with the lane index last
    # (unit stride: whole SIMD vectors).  Lanes past n_lanes start as copies of the
    # first, and stopped lanes are refilled by _mirror: never recorded, they keep
    # computing the steps of a live lane.
    theta = carray(stack_array(DIM, LANES), (DIM, LANES))
    state = carray(stack_array(STATE_ROWS, DIM, LANES), (STATE_ROWS, DIM, LANES))
    aux = carray(stack_array(N_AUX, LANES), (N_AUX, LANES))
    hpl = carray(stack_array(N_HP, LANES), (N_HP, LANES))
    G = carray(stack_array(N_STAGES, DIM, LANES), (N_STAGES, DIM, LANES))
    F = carray(stack_array(N_STAGES, LANES), (N_STAGES, LANES))
    y = carray(stack_array(DIM, LANES), (DIM, LANES))
    alive = carray(stack_array(LANES), (LANES,))
    lane_path = carray(stack_words(LANES), (LANES,))
    xi = carray(stack_array(N_EVALS, DIM, LANES), (N_EVALS, DIM, LANES))
    # The hot loop's scratch, one lane at a time: SROA keeps it in registers.
    g = carray(stack_array(N_STAGES, DIM), (N_STAGES, DIM))
    f = carray(stack_array(N_STAGES), (N_STAGES,))
    z = carray(stack_array(DIM), (DIM,))
    H = carray(stack_array(DIM, DIM), (DIM, DIM))
    for lane in range(LANES):
        b = b0 + lane if lane < n_lanes else b0
        alive[lane] = 1.0 if lane < n_lanes else 0.0
        lane_path[lane] = paths[b]
        for i in range(DIM):
            theta[i, lane] = thetas[b, i]
            y[i, lane] = 0.0
            for s in range(N_STAGES):
                G[s, i, lane] = 0.0
            for r in range(STATE_ROWS):
                state[r, i, lane] = states[b, r, i]
        for j in range(N_AUX):
            aux[j, lane] = auxs[b, j]
        for j in range(N_HP):
            hpl[j, lane] = hps[b, j]
    tol2 = tol * tol
    n_alive = n_lanes
    n_rec = 0
    next_record = record_every if record_every > 0 else -1
    for k in range(1, n_steps + 1):
        # The tests are or-reductions over the lanes (no branch in a lane loop, so
        # LLVM vectorises it), looked into lane by lane only when one fires.  The
        # divergence test reads |theta_0| + |theta_1| + ... <= max_norm: false when
        # _loop's test (every |theta_i| <= max_norm) is, and otherwise only for
        # sums near max_norm, which the exact test then clears.
        _draw_lanes(xi, seed, lane_path, k)
        bad = False
        if k == 1 or tol > 0.0:
            split = True
        else:
            split = False
        if not split:
            # The hot path, one fused lane loop, where LLVM knows k != 1 (PyTorch's
            # first-step cases fold away).
            for lane in range(LANES):
                _lane_hp(hp, hpl, lane, per_lane, held)
                _gradients(k, theta[:, lane], state[:, :, lane], g, f, hp, p, q, z,
                           xi[:, :, lane], H, seed, lane_path[lane])  # fmt: skip
                _update(k, theta[:, lane], state[:, :, lane], g, f, hp, aux[:, lane], p,
                        q, z, xi[:, :, lane], H, seed, lane_path[lane])  # fmt: skip
                bad = bad | (not _size(theta, lane) <= max_norm)
        else:
            # Step 1, or a gradient-norm test: every gradient before any step.
            small = False
            for lane in range(LANES):
                _lane_hp(hp, hpl, lane, per_lane, held)
                _gradients(k, theta[:, lane], state[:, :, lane], G[:, :, lane],
                           F[:, lane], hp, p, q, y[:, lane], xi[:, :, lane], H,
                           seed, lane_path[lane])  # fmt: skip
                small = small | (_norm2(G, lane) < tol2)
            if small and tol > 0.0:
                for lane in range(n_lanes):
                    if alive[lane] != 0.0 and _norm2(G, lane) < tol2:
                        _finish(lane, CONVERGED, k - 1, n_rec, theta, state, aux, p,
                                b0, thetas, states, auxs, out_status, out_steps,
                                out_nrec, out_loss)  # fmt: skip
                        alive[lane] = 0.0
                        n_alive -= 1
                if n_alive == 0:
                    return
                _mirror(theta, state, aux, hpl, lane_path, alive)
            for lane in range(LANES):
                _lane_hp(hp, hpl, lane, per_lane, held)
                _update(k, theta[:, lane], state[:, :, lane], G[:, :, lane],
                        F[:, lane], hp, aux[:, lane], p, q, y[:, lane], xi[:, :, lane], H,
                        seed, lane_path[lane])  # fmt: skip
                bad = bad | (not _size(theta, lane) <= max_norm)
        if bad:
            stopped = False
            for lane in range(n_lanes):
                ok = True
                for i in range(DIM):
                    ok = ok & (abs(theta[i, lane]) <= max_norm)
                if alive[lane] != 0.0 and not ok:
                    _finish(lane, DIVERGED, k, n_rec, theta, state, aux, p, b0, thetas,
                            states, auxs, out_status, out_steps, out_nrec, out_loss)  # fmt: skip
                    alive[lane] = 0.0
                    n_alive -= 1
                    stopped = True
            if n_alive == 0:
                return
            if stopped:
                _mirror(theta, state, aux, hpl, lane_path, alive)
        if k == next_record:
            next_record += record_every
            for lane in range(n_lanes):
                if alive[lane] != 0.0:
                    b = b0 + lane
                    rec_step[b, n_rec] = k
                    for i in range(DIM):
                        rec_theta[b, n_rec, i] = theta[i, lane]
                    rec_loss[b, n_rec] = value(rec_theta[b, n_rec], p)
            n_rec += 1
    for lane in range(n_lanes):
        if alive[lane] != 0.0:
            _finish(lane, RUNNING, n_steps, n_rec, theta, state, aux, p, b0, thetas,
                    states, auxs, out_status, out_steps, out_nrec, out_loss)  # fmt: skip


@njit(inline="always", **_OPTIONS)
def _lane_blocks(thetas, states, auxs, hps, hp, per_lane, held, p, q, seed, paths,
                 b_start, b_end, n_steps, record_every, tol, max_norm, rec_step,
                 rec_theta, rec_loss, out_status, out_steps, out_nrec, out_loss):  # fmt: skip
    # The entry points' common part: checks, then blocks of LANES trajectories.
    if hps.shape[1] != N_HP or thetas.shape[1] != DIM or auxs.shape[1] < N_AUX:
        raise ValueError("lanes need the family's HYPERPARAMETERS, DIM and N_AUX")
    for b0 in range(b_start, b_end, LANES):
        _lanes(thetas, states, auxs, hps, hp, per_lane, held, p, q, seed, paths, b0,
               min(LANES, b_end - b0), n_steps, record_every, tol, max_norm, rec_step,
               rec_theta, rec_loss, out_status, out_steps, out_nrec, out_loss)  # fmt: skip
