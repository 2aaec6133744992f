"""The stepping contract: what the generated runner calls, in which order, with what.

A run composes three plain-Python kernel modules, each from one file, into one
compiled loop (:mod:`odeopt._codegen` writes it; its body is :mod:`odeopt._runner`):

* a **problem** (a surface: ``odeopt/surfaces/<name>.py``, or a module outside the
  package) gives ``value(x, p)``, ``grad(x, p, out)`` and ``hess(x, p, out)``.  ``grad``
  may be any vector field F (a game's, a stop-gradient toy's) and ``hess`` its
  Jacobian, which need not be symmetric;
* an **optimizer family** (``odeopt/optimizers/<family>.py``) gives ``step`` and,
  optionally, ``stage_point`` and ``post``, and declares ``HYPERPARAMETERS`` (the
  layout of ``hp``), ``STATE_ROWS``, ``N_STAGES`` and, optionally, ``N_AUX``;
* a **noise model** (``odeopt/noise/<kind>.py``) gives ``perturb``; without one the
  gradients are exact.

Each step ``k = 1, 2, ...`` of a trajectory, the runner

1. for each stage ``s < N_STAGES``: asks ``stage_point`` for the point ``y`` where
   gradient ``s`` is evaluated (``θ`` itself when the family has no ``stage_point``),
   evaluates ``G[s] = grad(y)`` and, with noise, adds ``perturb``'s sample to it;
   with ``values`` in ``step``'s signature it also evaluates ``values[s] = value(y)``;
2. stops with status *converged* if ``‖G[0]‖ < tol``;
3. calls ``step``, which updates ``θ``, ``state`` and ``aux`` in place;
4. calls ``post`` (a projection onto a domain, an average kept beside θ);
5. stops with status *diverged* if some ``|θ_i| > max_norm`` or is not finite;
6. records ``θ`` and the loss every ``record_every`` steps.

The arguments, by name (a kernel's signature names the ones it uses, in this order;
``step`` may name ``values`` and ``aux`` after ``hp``):

``k``
    The step number, from 1 (PyTorch's ``state["step"]`` after its increment).
``theta``
    The iterate, shape ``(dim,)``, updated in place.
``state``
    The family's per-coordinate state, shape ``(STATE_ROWS, dim)``, zero at the
    start unless the family's ``initial_state`` says otherwise.
``G``
    The gradients of this step, shape ``(N_STAGES, dim)``.
``hp``
    The hyperparameters as a float64 array laid out as ``HYPERPARAMETERS``.
``values``
    The loss at each stage point, shape ``(N_STAGES,)`` (for steps that read it:
    Polyak-type steps).
``aux``
    The family's scalar state, shape ``(N_AUX,)`` (a step-size scale learnt online).
``y``
    Where ``stage_point`` writes the point of the next gradient.

**Games.**  A problem whose players own blocks of θ runs under a :class:`Play`: each
player runs the family on views of its block (θ, state columns, ``G`` columns, its
own copy of the ``hp`` layout and of ``aux``), so any family plays unchanged.
Simultaneous play runs steps 1–6 with every player's stage points in stage 1 and
every player's ``step`` and ``post`` in 3–4; alternating play runs 1 (the first
mover's gradients, the others at θ), 2, then for each turn in order the mover's
gradients (after the first) and its ``step`` and ``post``, then 5–6.

Noise is addressed, not consumed: the normals of gradient ``s`` of step ``k`` of
trajectory ``path`` under ``seed`` are a pure function of those numbers
(:mod:`odeopt._random`), so a run gives the same bits on any thread count, task split
or lane layout, alone or in a batch.

Kernels allocate nothing, call only kernels of their own file (the runner, stamped
with the content of every file it compiles, is what composes files), read
parameters from arrays, and never use ``fastmath``.  The functions below are the
defaults the runner uses when a module leaves an optional role out; they are also
what a reader of :mod:`odeopt._runner` sees under the role's name.
"""

from dataclasses import dataclass

from ._jit import kernel

#: Gradient evaluations a step may make in all (the noise counter's stage field).
MAX_EVALUATIONS = 256


@dataclass(frozen=True)
class Play:
    """How the players of a game share θ and take their turns.

    Player ``j`` owns the block ``θ[start_j : start_j + blocks[j]]`` (blocks in order)
    and runs the family on it with hyperparameters of its own: the runner passes the
    family's kernels views of that block, of its state columns and of its slice of
    ``hp`` (``HYPERPARAMETERS`` once per player) and ``aux``.  The problem's field
    must point *downhill for every player*, ``F = (∇_x f, −∇_y f)`` for min over x,
    max over y.

    ``turns=None`` is simultaneous play: each step evaluates every gradient at the
    same point (each player's stage points in its own block), then every player
    steps.  Otherwise ``turns`` lists the players' moves within one step, in order
    (``(1, 0)``: player 1, then player 0; ``(1, 1, 0)``: two discriminator steps per
    generator step); each move evaluates the field after the moves before it, the
    other players where they stand, and a player's own step count ``k`` counts its
    moves (PyTorch's ``state["step"]`` of its optimizer).
    """

    blocks: tuple[int, ...]
    turns: tuple[int, ...] | None = None

    def __post_init__(self):
        blocks = tuple(int(b) for b in self.blocks)
        if len(blocks) < 2 or min(blocks) < 1:
            raise ValueError(f"a game needs >= 2 blocks of size >= 1, got {blocks}")
        object.__setattr__(self, "blocks", blocks)
        if self.turns is not None:
            turns = tuple(int(t) for t in self.turns)
            if not turns or not all(0 <= t < len(blocks) for t in turns):
                raise ValueError(
                    f"turns must name players 0 .. {len(blocks) - 1}, got {turns}"
                )
            object.__setattr__(self, "turns", turns)

    @property
    def dim(self) -> int:
        """The dimension of θ: the blocks together."""
        return sum(self.blocks)

    @property
    def starts(self) -> tuple[int, ...]:
        """Where each player's block begins."""
        return tuple(sum(self.blocks[:j]) for j in range(len(self.blocks)))

    @property
    def tag(self) -> str:
        """A short name for file names: ``g1_1s`` (simultaneous), ``g1_1a1_0``.

        Underscores, not hyphens: numba's symbol mangling keeps them, and the object
        cache (:mod:`odeopt._native`) finds a runner's file name in its symbol."""
        blocks = "_".join(map(str, self.blocks))
        turns = "s" if self.turns is None else "a" + "_".join(map(str, self.turns))
        return f"g{blocks}{turns}"

    def evaluations(self, n_stages: int) -> int:
        """Gradient evaluations per step."""
        return n_stages * (1 if self.turns is None else len(self.turns))

    def header(self) -> dict:
        """The runner's game constants (see :mod:`odeopt._runner`)."""
        turns = self.turns or (0,)
        occurrence = tuple(turns[:m].count(turns[m]) for m in range(len(turns)))
        return {
            "GAME": True,
            "ALTERNATING": self.turns is not None,
            "N_PLAYERS": len(self.blocks),
            "N_TURNS": len(turns),
            "GAME_DIM": self.dim,
            "BLOCK_START": self.starts,
            "BLOCK_STOP": tuple(
                a + b for a, b in zip(self.starts, self.blocks, strict=True)
            ),
            "TURNS": turns,
            "TURN_OCCURRENCE": occurrence,
            "TURN_COUNT": tuple(turns.count(j) for j in range(len(self.blocks))),
        }


#: The runner's game constants when the problem is one loss.
NO_GAME = {
    "GAME": False,
    "ALTERNATING": False,
    "N_PLAYERS": 1,
    "N_TURNS": 1,
    "GAME_DIM": 0,
    "BLOCK_START": (0,),
    "BLOCK_STOP": (0,),
    "TURNS": (0,),
    "TURN_OCCURRENCE": (0,),
    "TURN_COUNT": (1,),
}


#: Arguments a family's ``step`` may name, in this order.
STEP_ARGUMENTS = ("k", "theta", "state", "G", "hp", "values", "aux")


@kernel
def stage_point(stage, k, theta, state, G, hp, y):
    """The point of gradient ``stage``: θ itself (one gradient per step)."""
    for i in range(theta.shape[0]):
        y[i] = theta[i]


@kernel
def post(k, theta, state, hp):
    """After the step: nothing (a family with a domain projects here)."""
    return


@kernel
def perturb(out, x, xi, q, H):
    """Exact gradients: ``out`` is left as it is.

    A noise model adds its sample to the gradient ``out`` at ``x``, given standard
    normals ``xi`` (shape ``(dim,)``), its parameters ``q`` and, when it declares
    ``NEEDS_HESSIAN``, the Hessian ``H`` at ``x``.
    """
    return


@kernel
def no_hessian(x, p, out):
    """Stands for ``hess`` where no noise model asks for it."""
    return
