"""Machine code of the single-trajectory runners, kept on disk and loaded without numba's
compiler.

numba's own disk cache needs its full compiler context before it can hand back cached
code: a warm process spends ~0.22 s on that set-up (type registries, plug-in entry
points, ``scipy.linalg``) for a call that takes microseconds.  So each runner also has
a C-ABI twin (``advance_c``, a numba ``cfunc`` compiled on first use), whose object code
is written beside the generated runner and later loaded with llvmlite's MCJIT alone:
a warm ``odeopt run`` then never builds numba's compiler context.

Safety (MCJIT links whatever bytes it is given: a damaged object crashes the process,
so nothing reaches it unchecked):

* the file name carries the runner's source stamp (an edited kernel gives a new file)
  and a hash of the target triple, CPU name and CPU features numba compiled for (a
  cache folder shared between machines never loads foreign instructions);
* the JSON sidecar names the object file, its byte length and sha256, the host key and
  the numba and llvmlite versions that wrote it.  The object and then the sidecar are
  written atomically (unique temporary names, ``os.replace``), so an object without its
  sidecar is never loaded.  :func:`load` checks all of it before linking; an entry that
  fails (damaged, partial, copied from another pair or host, written by another
  numba or llvmlite, sidecar unreadable) is deleted and the caller rebuilds it;
* every symbol the object leaves undefined is listed in the sidecar and must resolve in
  this process before the object is linked, and the runner's symbol must be in it;
* :func:`export` reaches into numba's private code library (``cfunc._library``,
  ``_final_module``, ``_codegen._tm.emit_object``, ``magic_tuple``), which a numba
  release may rename (``pyproject.toml`` bounds numba to the tested releases).  When
  it fails, the caller writes a marker (:func:`mark_numba`) and this process and later
  ones use the numba dispatcher ``runner.advance``, which numba caches on disk and
  which gives the same numbers: a slower start (numba's compiler context), never a
  compile per process.  ``tests/test_cache.py`` has a canary that fails when export
  stops working.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import secrets
import threading
import warnings
from pathlib import Path

import numpy as np

_lock = threading.Lock()
_engine = None  # one MCJIT engine per process holds every loaded object
_loaded: dict[str, int] = {}  # object path -> function address

_P, _I, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
# advance_c(theta, state, aux, hp, p, q, work, dim, state_rows, n_aux, n_hp, n_p, n_q,
#           n_work, seed, path, k_start, n_steps, record_every, tol, max_norm,
#           rec_step, rec_theta, rec_loss, n_rec_cap, out): odeopt/_runner.py
PROTOTYPE = ctypes.CFUNCTYPE(None, *[_P] * 7, *[_I] * 12, _D, _D, _P, _P, _P, _I, _P)

# What a sidecar must hold, with the type of each value.
_SIDECAR = {
    "object": str,
    "size": int,
    "sha256": str,
    "host": str,
    "numba": str,
    "llvmlite": str,
    "symbol": str,
    "undefined": list,
}


def host_target() -> tuple[str, str, str]:
    """Triple, CPU name and CPU features, read as numba reads them for its JIT
    (``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` respected): numba's ``magic_tuple``."""
    import llvmlite.binding as ll
    from numba.core import codegen, config

    features = (
        config.CPU_FEATURES
        if config.CPU_FEATURES is not None
        else codegen.get_host_cpu_features()
    )
    return ll.get_process_triple(), config.CPU_NAME or ll.get_host_cpu_name(), features


@functools.cache
def host_key() -> str:
    """A hash of :func:`host_target`: what the machine code depends on (numba reads
    its CPU settings once, at import, so one value per process)."""
    return hashlib.sha256("\0".join(host_target()).encode()).hexdigest()[:12]


def versions() -> dict[str, str]:
    """The numba and llvmlite versions: an object or a marker from others is not used."""
    import llvmlite
    import numba

    return {"numba": numba.__version__, "llvmlite": llvmlite.__version__}


def object_paths(runner_path: Path, key: str) -> tuple[Path, Path]:
    """The object file and its JSON sidecar for a runner file and host key."""
    stem = runner_path.with_suffix("")
    return Path(f"{stem}-{key}.o"), Path(f"{stem}-{key}.json")


def marker_path(obj_path: Path) -> Path:
    """The file that says the object code of ``obj_path`` cannot be exported."""
    return obj_path.with_suffix(".use-numba")


def _write_atomic(path: Path, data: bytes) -> None:
    # The temporary name is unique per process, thread and call (two threads of one
    # process may export the same pair), and begins with the runner's name so that
    # _codegen's clean-up of superseded runners removes one left by a killed process.
    tmp = path.with_name(
        f"{path.name}.{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}.tmp"
    )
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export(cfunc, obj_path: Path, meta_path: Path) -> bool:
    """Write the object code of a compiled ``cfunc`` and its sidecar; True on success.

    Uses numba's code library (``_final_module``, ``_codegen``), private and liable to
    change between numba releases: False means no object code could be written, and
    the caller then falls back to the numba dispatcher (:func:`mark_numba`).
    """
    try:
        library = cfunc._library
        module = library._final_module
        if tuple(library._codegen.magic_tuple()) != host_target():
            return False  # numba compiled for another target than the key names
        undefined = sorted(
            {f.name for f in module.functions if f.is_declaration}
            | {g.name for g in module.global_variables if g.is_declaration}
        )
        code = bytes(library._codegen._tm.emit_object(module))
        meta = {
            "object": obj_path.name,
            "size": len(code),
            "sha256": hashlib.sha256(code).hexdigest(),
            "host": host_key(),
            **versions(),
            "symbol": cfunc.native_name,
            "undefined": undefined,
        }
        # The sidecar last: a reader trusts an object only once its sidecar is there.
        _write_atomic(obj_path, code)
        _write_atomic(meta_path, json.dumps(meta).encode())
        return True
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no error
        return False


def mark_numba(obj_path: Path) -> None:
    """Record that this runner's object code cannot be exported with this numba and
    llvmlite, so that later processes use the numba dispatcher at once instead of
    compiling the C twin again (and warn once, here: start-up is slower)."""
    # in an unwritable cache each process finds out for itself, compiling the C twin
    with contextlib.suppress(OSError):
        _write_atomic(marker_path(obj_path), json.dumps(versions()).encode())
    warnings.warn(
        f"odeopt could not export the object code of {obj_path.name} with numba "
        f"{versions()['numba']}; single runs use numba's cached dispatcher instead "
        "(same numbers, slower start)",
        RuntimeWarning,
        stacklevel=3,
    )


def use_numba(obj_path: Path) -> bool:
    """Whether a marker from this numba and llvmlite says to skip the C twin (a marker
    from other versions is removed: the new ones may export)."""
    path = marker_path(obj_path)
    try:
        marked = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        marked = None
    if marked == versions():
        return True
    with contextlib.suppress(OSError):  # another user's: ignored all the same
        path.unlink(missing_ok=True)
    return False


def _sidecar_problem(meta, code: bytes, obj_path: Path) -> str | None:
    """Why an object and its sidecar must not be linked, or None when they may be."""
    if not isinstance(meta, dict):
        return "the sidecar is not a JSON object"
    for name, kind in _SIDECAR.items():
        if not isinstance(meta.get(name), kind):
            return f"the sidecar has no valid {name!r}"
    if meta["object"] != obj_path.name:
        return f"the sidecar belongs to {meta['object']}"
    # the mangled symbol holds the runner's module name, stamp included
    if obj_path.name.rsplit("-", 1)[0] not in meta["symbol"]:
        return "the symbol is another runner's"
    if meta["host"] != host_key():
        return "the object was compiled for another host"
    if {"numba": meta["numba"], "llvmlite": meta["llvmlite"]} != versions():
        return "the object was written by another numba or llvmlite"
    if len(code) != meta["size"]:
        return f"the object has {len(code)} bytes, not {meta['size']}"
    if hashlib.sha256(code).hexdigest() != meta["sha256"]:
        return "the object's sha256 differs from the sidecar's"
    if meta["symbol"].encode() not in code:  # the linker would find no such function
        return "the object does not name the runner's symbol"
    if not all(isinstance(name, str) for name in meta["undefined"]):
        return "the sidecar's undefined symbols are not names"
    return None


def discard(obj_path: Path, meta_path: Path) -> None:
    """Delete a cache entry, sidecar first: a reader then finds no entry, not half."""
    for path in (meta_path, obj_path):
        with contextlib.suppress(OSError):  # not ours to delete: never linked anyway
            path.unlink(missing_ok=True)


def _resolvable(name: str, ll, process: ctypes.CDLL) -> bool:
    if name.startswith("llvm."):  # intrinsics: instructions or libm, always there
        return True
    if ll.address_of_symbol(name):
        return True
    try:  # the C API and libm, exported by the running interpreter
        process[name]
    except AttributeError:
        return False
    return True


def _get_engine():
    global _engine
    import llvmlite.binding as ll
    from numba import _helperlib
    from numba.core.runtime import _nrt_python

    if _engine is None:
        ll.initialize_native_target()
        ll.initialize_native_asmprinter()
        # numba's C helpers (raising, the GIL, the allocator) as numba registers them
        for name, address in _helperlib.c_helpers.items():
            ll.add_symbol(f"numba_{name}", address)
        for name, address in _nrt_python.c_helpers.items():
            ll.add_symbol(f"NRT_{name}", address)
        machine = ll.Target.from_default_triple().create_target_machine()
        _engine = ll.create_mcjit_compiler(ll.parse_assembly(""), machine)
    return _engine, ll


def load(obj_path: Path, meta_path: Path):
    """The C function in a cached object, or None when there is none to trust (a bad
    entry is deleted, for the caller to rebuild)."""
    key = str(obj_path)
    with _lock:
        if key in _loaded:
            return PROTOTYPE(_loaded[key])
        try:
            meta_text = meta_path.read_bytes()
        except OSError:
            return None  # nothing cached (an object alone is a write cut short)
        try:
            meta = json.loads(meta_text)
            code = obj_path.read_bytes()
        except (OSError, ValueError):  # not JSON, or a sidecar without its object
            meta, code = None, b""
        if _sidecar_problem(meta, code, obj_path) is not None:
            discard(obj_path, meta_path)
            return None
        engine, ll = _get_engine()
        process = ctypes.CDLL(None)
        if not all(_resolvable(name, ll, process) for name in meta["undefined"]):
            return None  # a sound object this process cannot link: compiled again
        try:
            engine.add_object_file(ll.ObjectFileRef.from_data(code))
            engine.finalize_object()
            address = engine.get_function_address(meta["symbol"])
        except Exception:  # noqa: BLE001 - llvmlite refused the object: rebuild it
            address = 0
        if not address:
            discard(obj_path, meta_path)
            return None
        _loaded[key] = address
        return PROTOTYPE(address)


def wrap(
    function,
    n_stages: int,
    needs_hessian: bool,
    n_hp: int,
    only_dim: int = 0,
    n_evals: int | None = None,
):
    """``advance`` with the numba runner's signature (less its scratch ``work``, which
    this allocates), calling the C function.  ``n_hp``: the length of the hp array the
    runner copies (the family's HYPERPARAMETERS, once per player of a game);
    ``only_dim``: the only dimension it runs (a game's), 0 for any; ``n_evals``: the
    gradient evaluations of a step (:func:`odeopt._codegen.work_size`)."""
    from ._codegen import work_size

    def advance(theta, state, aux, hp, p, q, seed, path, k_start, n_steps,
                record_every, tol, max_norm, rec_step, rec_theta, rec_loss, n_rec):  # fmt: skip
        dim = theta.shape[0]
        # Raw pointers: every array must be C-contiguous of the right type and shape.
        arrays = (theta, state, aux, hp, p, q, rec_theta, rec_loss)
        if not all(a.dtype == np.float64 and a.flags.c_contiguous for a in arrays):
            raise TypeError("advance needs C-contiguous float64 arrays")
        if not (rec_step.dtype == np.int64 and rec_step.flags.c_contiguous):
            raise TypeError("advance needs a C-contiguous int64 rec_step")
        if state.shape[1:] != (dim,) or rec_theta.shape[1:] != (dim,):
            raise ValueError("state and rec_theta must have dim columns")
        if hp.shape != (n_hp,):
            raise ValueError(f"hp must hold the family's {n_hp} HYPERPARAMETERS")
        if only_dim and dim != only_dim:
            raise ValueError(f"theta must have the game's dimension {only_dim}")
        work = np.zeros(work_size(n_stages, needs_hessian, dim, n_evals))
        out = np.array([0, 0, n_rec], dtype=np.int64)
        function(
            theta.ctypes.data, state.ctypes.data, aux.ctypes.data, hp.ctypes.data,
            p.ctypes.data, q.ctypes.data, work.ctypes.data,
            dim, state.shape[0], aux.shape[0], hp.shape[0], p.shape[0], q.shape[0],
            work.shape[0], int(seed), int(path), int(k_start), int(n_steps),
            int(record_every), float(tol), float(max_norm),
            rec_step.ctypes.data, rec_theta.ctypes.data, rec_loss.ctypes.data,
            rec_step.shape[0], out.ctypes.data,
        )  # fmt: skip
        return int(out[0]), int(out[1]), int(out[2])

    return advance
