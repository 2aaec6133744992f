"""Compiled code is cached on disk, reused by a second process, and never stale.

numba invalidates a cached function only when its own file changes; odeopt's runners
call kernels from other files, so an edited kernel must reach the runner through the
source-hash stamp in the runner's file name (odeopt/_codegen.py).  These tests edit a
kernel file between processes and check the new code runs.
"""

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from odeopt import _codegen, _jit, registry

SURFACE_TEMPLATE = '''
"""A throwaway surface for the cache tests: L = c·x², gradient {factor}·x."""
from odeopt._jit import kernel


@kernel
def value(x, p):
    return 0.5 * {factor} * x[0] * x[0]


@kernel
def grad(x, p, out):
    out[0] = {factor} * x[0]


@kernel
def hess(x, p, out):
    out[0, 0] = {factor}
'''

PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import cache_probe_surface as surface
    import odeopt.optimizers.sgd as sgd
    from odeopt import _codegen
    runner = _codegen.get_runner(sgd, surface)
    theta = np.array([1.0]); state = np.zeros((1, 1))
    hp = np.zeros(len(sgd.HYPERPARAMETERS)); hp[0] = 0.1  # gd, lr = 0.1
    rec = (np.zeros(2, dtype=np.int64), np.zeros((2, 1)), np.zeros(2))
    runner.advance(theta, state, hp, np.zeros(1), 0, 1, 1, 0.0, 1e100, *rec, 0)
    stats = runner.advance.stats
    print(json.dumps({"theta": theta[0], "hits": sum(stats.cache_hits.values()),
                      "misses": sum(stats.cache_misses.values()),
                      "file": runner.__file__}))
    """
)


def run_probe(folder, env, script=PROBE):
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# Tests using it start cold subprocesses that compile into an empty cache (4-10 s
# each, warm or not): they are marked slow.
@pytest.fixture
def isolated_cache(tmp_path):
    env = dict(os.environ)
    env["ODEOPT_CACHE_DIR"] = str(tmp_path / "odeopt-cache")
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    folder = tmp_path / "kernels"
    folder.mkdir()
    return folder, env


def write_surface(folder, factor):
    path = folder / "cache_probe_surface.py"
    path.write_text(SURFACE_TEMPLATE.format(factor=factor))
    return path


@pytest.mark.slow
def test_second_process_loads_from_disk_without_compiling(isolated_cache):
    folder, env = isolated_cache
    write_surface(folder, "2.0")
    first = run_probe(folder, env)
    second = run_probe(folder, env)
    assert first["theta"] == pytest.approx(1.0 - 0.1 * 2.0)
    assert (first["misses"], first["hits"]) == (1, 0)
    assert (second["misses"], second["hits"]) == (0, 1)
    assert second["file"] == first["file"]


@pytest.mark.slow
def test_editing_a_kernel_file_never_runs_stale_code(isolated_cache):
    folder, env = isolated_cache
    path = write_surface(folder, "2.0")
    before = run_probe(folder, env)
    run_probe(folder, env)  # now cached
    path.write_text(path.read_text().replace("2.0", "4.0"))  # same size on purpose
    after = run_probe(folder, env)
    assert before["theta"] == pytest.approx(0.8)
    assert after["theta"] == pytest.approx(1.0 - 0.1 * 4.0)  # the edit took effect
    assert after["misses"] == 1  # ... by a fresh compile
    assert after["file"] != before["file"]
    assert not os.path.exists(before["file"])  # the superseded runner was removed
    again = run_probe(folder, env)
    assert (again["hits"], again["theta"]) == (1, after["theta"])


NATIVE_PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import cache_probe_surface as surface
    import odeopt.optimizers.sgd as sgd
    from odeopt import _codegen
    advance = _codegen.get_advance(sgd, surface)
    theta = np.array([1.0]); state = np.zeros((1, 1))
    hp = np.zeros(len(sgd.HYPERPARAMETERS)); hp[0] = 0.1  # gd, lr = 0.1
    rec = (np.zeros(2, dtype=np.int64), np.zeros((2, 1)), np.zeros(2))
    advance(theta, state, hp, np.zeros(1), 0, 1, 1, 0.0, 1e100, *rec, 0)
    print(json.dumps({"theta": theta[0], "source": advance.source,
                      # built only when numba's compiler context is set up
                      "compiler": "numba.np.arraymath" in sys.modules}))
    """
)


def run_native_probe(folder, env):
    return run_probe(folder, env, NATIVE_PROBE)


def object_files(env):
    folder = os.path.join(env["ODEOPT_CACHE_DIR"], "runners")
    return sorted(f for f in os.listdir(folder) if f.endswith(".o"))


@pytest.mark.slow
def test_second_process_runs_cached_object_code_without_numbas_compiler(isolated_cache):
    folder, env = isolated_cache
    write_surface(folder, "2.0")
    first = run_native_probe(folder, env)
    second = run_native_probe(folder, env)
    assert (first["source"], first["compiler"]) == ("compiled", True)
    assert (second["source"], second["compiler"]) == ("object", False)
    assert first["theta"] == second["theta"] == pytest.approx(1.0 - 0.1 * 2.0)
    assert len(object_files(env)) == 1


@pytest.mark.slow
def test_editing_a_kernel_file_never_runs_stale_object_code(isolated_cache):
    folder, env = isolated_cache
    path = write_surface(folder, "2.0")
    run_native_probe(folder, env)
    before = object_files(env)
    path.write_text(path.read_text().replace("2.0", "4.0"))  # same size on purpose
    after = run_native_probe(folder, env)
    assert after["source"] == "compiled"
    assert after["theta"] == pytest.approx(1.0 - 0.1 * 4.0)
    assert len(object_files(env)) == 1 and object_files(env) != before
    again = run_native_probe(folder, env)
    assert (again["source"], again["theta"]) == ("object", after["theta"])


@pytest.mark.slow
def test_object_code_with_an_unresolvable_symbol_is_not_loaded(isolated_cache):
    folder, env = isolated_cache
    write_surface(folder, "2.0")
    run_native_probe(folder, env)
    runners = os.path.join(env["ODEOPT_CACHE_DIR"], "runners")
    (sidecar,) = [f for f in os.listdir(runners) if f.endswith(".json")]
    meta_path = os.path.join(runners, sidecar)
    with open(meta_path) as f:
        meta = json.load(f)
    meta["undefined"].append("odeopt_no_such_symbol")
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    probe = run_native_probe(folder, env)  # compiles instead of linking the object
    assert probe["source"] == "compiled"
    assert probe["theta"] == pytest.approx(0.8)


LANES_PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import odeopt
    from odeopt import _codegen
    from odeopt.registry import get_optimizer, get_surface
    batch = odeopt.run_batch("gd", "booth", np.zeros((8, 2)), [{"lr": 0.01}], steps=5)
    optimizer, surface = get_optimizer("gd"), get_surface("booth").bind()
    runner = _codegen.get_runner(optimizer.kernels, surface.surface.kernels)
    lanes = runner.lanes_for(optimizer.bind(surface, lr=0.01).kernel_hp())
    print(json.dumps({"theta": batch.final_theta[0, 0].tolist(),
                      "hits": sum(lanes.stats.cache_hits.values()),
                      "misses": sum(lanes.stats.cache_misses.values())}))
    """
)


@pytest.mark.slow
def test_second_process_loads_the_batch_lanes_from_disk(isolated_cache):
    folder, env = isolated_cache
    first = run_probe(folder, env, LANES_PROBE)
    second = run_probe(folder, env, LANES_PROBE)
    assert (first["misses"], first["hits"]) == (1, 0)
    assert (second["misses"], second["hits"]) == (0, 1)
    assert second["theta"] == first["theta"]


def test_stamp_covers_the_template_and_both_kernel_files():
    sgd = registry.get_optimizer("gd").kernels
    rosen = registry.get_surface("rosenbrock").kernels
    source, stamp = _codegen.runner_source(sgd, rosen)
    assert stamp in source
    booth = registry.get_surface("booth").kernels
    assert _codegen.runner_source(sgd, booth)[1] != stamp
    adam = registry.get_optimizer("adam").kernels
    assert _codegen.runner_source(adam, rosen)[1] != stamp


def _kernel_callees(function):
    """Global names a kernel's body calls."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(_jit.python_function(function))))
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


KERNEL_MODULES = sorted(
    {s.module for s in registry.surfaces().values()}
    | {o.module for o in registry.optimizers().values()}
)


@pytest.mark.parametrize("module_name", KERNEL_MODULES)
def test_kernels_call_only_kernels_of_their_own_file(module_name):
    # Leaf kernels are cached per file: a call into another file could go stale.
    module = __import__(module_name, fromlist=["_"])
    names = _jit.kernel_names(module)
    assert names, f"{module_name} has no kernels"
    allowed = set(names) | {"range", "abs", "min", "max", "float", "int", "len"}
    for name in names:
        function = getattr(module, name)
        for callee in _kernel_callees(function):
            if callee in allowed:
                continue
            target = getattr(module, callee, None)
            assert target is None or not callable(target) or callee in names, (
                f"{module_name}.{name} calls {callee}, which is not a kernel of its file"
            )


def test_the_test_run_never_writes_to_the_users_cache():
    # tests/conftest.py names both folders before numba is imported
    from numba.core import config

    assert str(_jit.cache_dir()) == os.environ["ODEOPT_CACHE_DIR"]
    assert os.environ["NUMBA_CACHE_DIR"] == config.CACHE_DIR
