"""Compiled code is cached on disk, reused by a second process, and never stale.

numba invalidates a cached function only when its own file changes; odeopt's runners
call kernels from other files, so an edited kernel must reach the runner through the
source-hash stamp in the runner's file name (odeopt/_codegen.py).  These tests edit a
kernel file between processes and check the new code runs.
"""

import ast
import hashlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    none = np.zeros(1)
    runner.advance(theta, state, none, hp, none, none, 0, 0, np.zeros(8), 0, 1, 1,
                   0.0, 1e100, *rec, 0)
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
    none = np.zeros(1)
    advance(theta, state, none, hp, none, none, 0, 0, 0, 1, 1, 0.0, 1e100, *rec, 0)
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
    | {n.module for n in registry.noise_models().values()}
    | {"odeopt._random", "odeopt._roles"}
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


# --- Damaged, foreign and concurrent cache entries (odeopt/_native.py) ---------------
#
# MCJIT links whatever bytes it is given, and a damaged object crashes the process
# (SIGSEGV).  Every entry below must be refused before it is linked, deleted and
# rebuilt, and the run must give the clean run's numbers.

ENTRY_PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    surface = importlib.import_module(sys.argv[2])
    import odeopt.optimizers.sgd as sgd
    from odeopt import _codegen
    advance = _codegen.get_advance(sgd, surface)
    theta = np.array([1.0]); state = np.zeros((1, 1))
    hp = np.zeros(len(sgd.HYPERPARAMETERS)); hp[0] = 0.1  # gd, lr = 0.1
    rec = (np.zeros(7, dtype=np.int64), np.zeros((7, 1)), np.zeros(7))
    none = np.zeros(1)
    out = advance(theta, state, none, hp, none, none, 0, 0, 0, 5, 1, 0.0, 1e100,
                  *rec, 0)
    # the numba dispatcher only
    stats = getattr(getattr(advance, "dispatcher", None), "stats", None)
    print(json.dumps({"theta": theta.tolist(), "records": rec[1].tolist(),
                      "out": list(out), "source": advance.source,
                      "hits": stats and sum(stats.cache_hits.values()),
                      "misses": stats and sum(stats.cache_misses.values())}))
    """
)
# Run first by ENTRY_PROBE's subprocess: what a numba release that renamed the
# internals _native.export uses would do to it.
BROKEN_EXPORT = "import odeopt._native\nodeopt._native.export = lambda *a, **k: False\n"


def run_entry_probe(folder, env, surface="cache_probe_surface", prelude=""):
    out = subprocess.run(
        [sys.executable, "-c", prelude + ENTRY_PROBE, str(folder), surface],
        check=False,  # the return code is asserted with the output that explains it
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def cache_entries(env, stem_part="cache_probe_surface"):
    """The object file and sidecar of each host key, by key."""
    folder = os.path.join(env["ODEOPT_CACHE_DIR"], "runners")
    entries = {}
    for name in sorted(os.listdir(folder)):
        if stem_part in name and name.endswith(".o"):
            key = name[: -len(".o")].rsplit("-", 1)[1]
            obj = os.path.join(folder, name)
            entries[key] = (obj, obj[: -len(".o")] + ".json")
    return entries


def assert_valid_entry(obj_path, meta_path):
    from odeopt import _native

    with open(obj_path, "rb") as f:
        code = f.read()
    with open(meta_path) as f:
        meta = json.load(f)
    assert meta["size"] == len(code)
    assert meta["sha256"] == hashlib.sha256(code).hexdigest()
    assert meta["object"] == os.path.basename(obj_path)
    assert _native._sidecar_problem(meta, code, Path(obj_path)) is None


@pytest.fixture(scope="module")
def clean_cache(tmp_path_factory):
    """A cache after clean runs: the probe pair, another pair (cache_probe_other) and
    the probe pair compiled for a generic CPU (another host key)."""
    root = tmp_path_factory.mktemp("clean")
    folder = root / "kernels"
    folder.mkdir()
    write_surface(folder, "2.0")
    (folder / "cache_probe_other.py").write_text(SURFACE_TEMPLATE.format(factor=3.0))
    env = dict(os.environ)
    env["ODEOPT_CACHE_DIR"] = str(root / "odeopt-cache")
    env["NUMBA_CACHE_DIR"] = str(root / "numba-cache")
    clean, _ = run_entry_probe(folder, env)
    assert clean["source"] == "compiled"
    run_entry_probe(folder, env, "cache_probe_other")
    (key,) = cache_entries(env)
    generic = dict(env, NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="")
    assert run_entry_probe(folder, generic)[0]["records"] == clean["records"]
    (foreign,) = set(cache_entries(env)) - {key}
    return folder, env, clean, key, foreign


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _edit_sidecar(meta_path, **changes):
    meta = json.loads(_read(meta_path))
    meta.update(changes)
    _write(meta_path, json.dumps(meta).encode())


def _copy_entry(source, obj, meta):
    _write(obj, _read(source[0]))
    _write(meta, _read(source[1]))


# Each damage(obj, meta, other, foreign): other and foreign are the (object, sidecar)
# of another pair and of the same pair compiled for another host.
DAMAGE = {
    "truncated object": lambda o, m, other, foreign: _write(o, _read(o)[:2000]),
    "garbage object": lambda o, m, other, foreign: _write(o, b"garbage" * 1000),
    "object of another pair": lambda o, m, other, foreign: _write(o, _read(other[0])),
    "object and sidecar of another pair": lambda o, m, other, foreign: _copy_entry(
        other, o, m
    ),
    "object and sidecar of another host": lambda o, m, other, foreign: _copy_entry(
        foreign, o, m
    ),
    "object without sidecar": lambda o, m, other, foreign: os.remove(m),
    "sidecar without object": lambda o, m, other, foreign: os.remove(o),
    "truncated sidecar": lambda o, m, other, foreign: _write(m, _read(m)[:40]),
    "garbage sidecar": lambda o, m, other, foreign: _write(m, b"\x00garbage"),
    "sidecar of an older odeopt (no digest)": lambda o, m, other, foreign: _write(
        m,
        json.dumps(
            {k: v for k, v in json.loads(_read(m)).items() if k != "sha256"}
        ).encode(),
    ),
    "sidecar with the wrong digest": lambda o, m, other, foreign: _edit_sidecar(
        m, sha256="0" * 64
    ),
    "sidecar from another numba": lambda o, m, other, foreign: _edit_sidecar(
        m, numba="0.0.0"
    ),
    # a sound object whose sidecar names a function it does not define (a prefix of
    # the real symbol, so the bytes hold the name): refused after linking
    "symbol not defined": lambda o, m, other, foreign: _edit_sidecar(
        m, symbol=json.loads(_read(m))["symbol"][:-6]
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_bad_cache_entry_is_rebuilt_never_linked(clean_cache, tmp_path, damage):
    import shutil

    folder, clean_env, clean, key, foreign = clean_cache
    env = dict(clean_env)
    for name in ("ODEOPT_CACHE_DIR", "NUMBA_CACHE_DIR"):
        env[name] = str(tmp_path / os.path.basename(clean_env[name]))
        shutil.copytree(clean_env[name], env[name])
    entries = cache_entries(env)
    obj, meta = entries[key]
    other = cache_entries(env, "cache_probe_other")[key]
    DAMAGE[damage](obj, meta, other, entries[foreign])
    damaged, _ = run_entry_probe(folder, env)  # a crash would fail here
    assert damaged["source"] == "compiled"  # refused, compiled again...
    assert (damaged["theta"], damaged["records"], damaged["out"]) == (
        clean["theta"],
        clean["records"],
        clean["out"],
    )
    assert_valid_entry(obj, meta)  # ... and written anew
    again, _ = run_entry_probe(folder, env)
    assert (again["source"], again["records"]) == ("object", clean["records"])


def test_canary_the_installed_numba_exports_object_code(clean_cache):
    # Fails when a numba release renames the private internals _native.export uses
    # (cfunc._library, _final_module, _codegen._tm.emit_object, magic_tuple): runs
    # would still be right, through numba's dispatcher, but each start ~0.2 s slower.
    folder, env, clean, key, _ = clean_cache
    assert clean["source"] == "compiled"
    assert_valid_entry(*cache_entries(env)[key])
    loaded, _ = run_entry_probe(folder, env)
    assert (loaded["source"], loaded["records"]) == ("object", clean["records"])


def test_a_failed_export_falls_back_to_numbas_disk_cache(isolated_cache):
    # Without object code every process used to compile the C twin again (17-26 s a
    # run): now the first process leaves a marker and uses runner.advance, which numba
    # caches, and later processes use that cache without compiling the C twin.
    folder, env = isolated_cache
    write_surface(folder, "2.0")
    first, stderr = run_entry_probe(folder, env, prelude=BROKEN_EXPORT)
    assert first["source"] == "numba"
    assert (first["misses"], first["hits"]) == (1, 0)
    assert "could not export the object code" in stderr
    runners = os.path.join(env["ODEOPT_CACHE_DIR"], "runners")
    assert [f for f in os.listdir(runners) if f.endswith(".use-numba")]
    second, stderr = run_entry_probe(folder, env)  # export works here: not tried
    assert second["source"] == "numba"
    assert (second["misses"], second["hits"]) == (0, 1)  # numba's cache, no compile
    assert not object_files(env)  # the C twin was never compiled, hence never written
    assert "could not export" not in stderr
    assert (second["theta"], second["records"]) == (first["theta"], first["records"])
    clean, _ = run_entry_probe(folder, dict(env, ODEOPT_CACHE_DIR=folder / "fresh"))
    assert (clean["source"], clean["records"]) == ("compiled", first["records"])


def test_concurrent_cold_starts_agree(isolated_cache):
    # Four processes on one empty cache: each compiles and writes the same runner,
    # object code and numba cache files at once.
    folder, env = isolated_cache
    write_surface(folder, "2.0")
    command = [sys.executable, "-c", ENTRY_PROBE, str(folder), "cache_probe_surface"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = []
    for process in processes:
        stdout, _ = process.communicate(timeout=600)
        assert process.returncode == 0
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert all(r["source"] in ("compiled", "object") for r in results)
    numbers = {json.dumps([r["theta"], r["records"], r["out"]]) for r in results}
    assert len(numbers) == 1
    runners = os.listdir(os.path.join(env["ODEOPT_CACHE_DIR"], "runners"))
    assert not [f for f in runners if f.endswith(".tmp")]
    (entry,) = cache_entries(env).values()
    assert_valid_entry(*entry)
    after, _ = run_entry_probe(folder, env)
    assert after["source"] == "object"
    assert json.dumps([after["theta"], after["records"], after["out"]]) in numbers


def _exec_module(factor):
    import types

    module = types.ModuleType("user_surface")
    exec(SURFACE_TEMPLATE.format(factor=factor), module.__dict__)  # noqa: S102 - no file
    return module


def test_kernels_without_source_are_stamped_by_their_code():
    # Modules made in memory have no source text to hash: their code objects are.
    sgd = registry.get_optimizer("gd").kernels
    two, four, two_again = _exec_module(2.0), _exec_module(4.0), _exec_module(2.0)
    stamps = [_codegen.runner_source(sgd, m)[1] for m in (two, four, two_again)]
    assert stamps[0] != stamps[1]
    assert stamps[0] == stamps[2]
    # ... and the same in another process (no ids, addresses or hash randomisation)
    code = (
        "import sys, types\n"
        "from odeopt import _codegen, registry\n"
        "m = types.ModuleType('user_surface')\n"
        "exec(sys.argv[1], m.__dict__)\n"
        "print(_codegen.runner_source(registry.get_optimizer('gd').kernels, m)[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, SURFACE_TEMPLATE.format(factor=2.0)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONHASHSEED="12345"),
        timeout=300,
    )
    assert out.stdout.strip() == stamps[0]


def test_code_digest_sees_constants_and_nested_code():
    from odeopt._stamp import source_digest

    def digest(text):
        import types

        module = types.ModuleType("user_module")
        exec(text, module.__dict__)  # noqa: S102 - a module without a file
        return source_digest(module)

    base = "SCALE = (1.0, 'a')\ndef f(x):\n    return [y * 2 for y in x]\n"
    assert digest(base) == digest(base)
    assert digest(base) != digest(base.replace("(1.0,", "(1,"))  # 1.0 is not 1
    assert digest(base) != digest(base.replace("y * 2", "y * 3"))  # nested code
    assert digest(base) != digest(base.replace("y * 2", "y + 2"))  # bytecode
    assert digest(base) != digest(base.replace("return", "x = 0\n    return"))


def test_the_test_run_never_writes_to_the_users_cache():
    # tests/conftest.py names both folders before numba is imported
    from numba.core import config

    assert str(_jit.cache_dir()) == os.environ["ODEOPT_CACHE_DIR"]
    assert os.environ["NUMBA_CACHE_DIR"] == config.CACHE_DIR


def test_a_grown_inline_label_counter_does_not_break_a_compile():
    # numba's block-label counter doubles with each nested inlining; in a long test
    # worker it passed a thousand digits and LLVM refused the block names.  odeopt
    # resets it before its compiles: a fresh runner compiles after it has grown.
    from numba.core import ir_utils

    import odeopt

    ir_utils._the_max_label._value = 10**1100
    surface = odeopt.get_surface("expr:(x - 0.123456)**2 + 3*y**2")  # a new runner
    traj = odeopt.run("nesterov", surface, lr=0.05, momentum=0.5, steps=20)
    assert traj.status is odeopt.Status.MAX_STEPS
    assert ir_utils._the_max_label._value < 2**60
