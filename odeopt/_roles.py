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

from ._jit import kernel

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
