"""Settings shared by the whole test run."""

import os
import shutil
import tempfile

#: Compile caches this run created (and removes at the end).
_CREATED: list[str] = []


def pytest_configure(config):
    """Give the run its own compile cache, unless the environment names one.

    Runs before any test module is imported, so numba reads ``NUMBA_CACHE_DIR`` when
    it loads.  Tests never write to the user's ``~/.cache/odeopt``; subprocesses,
    notebook kernels and pytest-xdist's workers (started after this hook, in the
    controller) inherit the folders through ``os.environ``, so the whole run shares
    one compile cache.  CI sets both variables, which are kept.
    """
    unset = [
        name
        for name in ("ODEOPT_CACHE_DIR", "NUMBA_CACHE_DIR")
        if not os.environ.get(name)
    ]
    if not unset:
        return
    root = tempfile.mkdtemp(prefix="odeopt-tests-")
    _CREATED.append(root)
    for name in unset:
        os.environ[name] = os.path.join(root, name.lower())


def pytest_unconfigure(config):
    for root in _CREATED:
        shutil.rmtree(root, ignore_errors=True)
