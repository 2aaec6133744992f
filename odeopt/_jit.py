"""The one place that knows about numba.

Kernel modules (one surface or optimizer family per file) are plain Python: their
kernels are marked with :func:`kernel` and stay ordinary functions until a run needs
them, so ``odeopt --help`` and ``odeopt list`` never import numba.  :func:`jit_module`
then swaps every marked function of a module for a numba dispatcher, in place, so
that kernels calling each other resolve to compiled code.

Rules that keep the disk cache correct:

* a kernel calls only kernels of its own file (numba invalidates a cached function
  only when *its own* file changes; ``tests/test_cache.py`` checks the rule);
* kernels read parameters from arrays, never module-level constants;
* no ``fastmath``: it would remove the NaN/inf checks the steppers rely on.

``NUMBA_DISABLE_JIT=1`` runs everything as plain Python (for debugging and coverage).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType

KERNEL_ATTR = "__odeopt_kernel__"

# numba options of every leaf kernel.  error_model="numpy" makes 1/0 an inf (as in
# NumPy) instead of an exception, so a diverging run ends as a status, not a crash.
KERNEL_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}

_lock = threading.Lock()


def kernel(function):
    """Mark ``function`` as a numba kernel of its module (it stays plain Python)."""
    setattr(function, KERNEL_ATTR, True)
    return function


def kernel_names(module: ModuleType) -> list[str]:
    """Names of the functions of ``module`` marked with :func:`kernel`."""
    names = []
    for name, obj in vars(module).items():
        function = getattr(obj, "py_func", obj)
        if getattr(function, KERNEL_ATTR, False) and function.__module__ == (
            module.__name__
        ):
            names.append(name)
    return names


def jit_module(module: ModuleType) -> ModuleType:
    """Compile-on-demand every kernel of ``module`` (idempotent, thread-safe)."""
    if getattr(module, "__odeopt_jitted__", False):
        return module
    with _lock:
        if getattr(module, "__odeopt_jitted__", False):
            return module
        import numba

        for name in kernel_names(module):
            function = getattr(module, name)
            setattr(module, name, numba.njit(**KERNEL_OPTIONS)(function))
        module.__odeopt_jitted__ = True
    return module


def python_function(function):
    """The plain-Python body of a kernel, jitted or not."""
    return getattr(function, "py_func", function)


def cache_dir() -> Path:
    """Folder for generated runner modules (and their numba cache).

    ``$ODEOPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/odeopt``, else ``~/.cache/odeopt``.
    """
    env = os.environ.get("ODEOPT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "odeopt"


#: numba labels the blocks of inlined functions from one process-wide counter, and
#: each inlining of a callee that itself inlines adds the counter to labels already
#: of its size: the counter doubles per nested inlining, and after some hundreds of
#: runner compiles in one process (a test worker) block names outgrow what LLVM
#: parses ("unable to create block named 'B3575...'", measured).  Labels only need
#: to be unique within one function's IR, so the counter is reset between compiles.
_LABEL_LIMIT = 2**40


def bound_inline_labels() -> None:
    """Reset numba's block-label counter when it has grown large (call before a
    compile, never from inside one)."""
    from numba.core import ir_utils
    from numba.core.compiler_lock import global_compiler_lock

    counter = ir_utils._the_max_label
    if counter._value > _LABEL_LIMIT:
        with global_compiler_lock:
            counter._value = 0
