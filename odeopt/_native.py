"""Machine code of the single-trajectory runners, kept on disk and loaded without numba's
compiler.

numba's own disk cache needs its full compiler context before it can hand back cached
code: a warm process spends ~0.22 s on that set-up (type registries, plug-in entry
points, ``scipy.linalg``) for a call that takes microseconds.  So each runner also has
a C-ABI twin (``advance_c``, a numba ``cfunc`` compiled on first use), whose object code
is written beside the generated runner and later loaded with llvmlite's MCJIT alone:
a warm ``odeopt run`` then never builds numba's compiler context.

Safety:

* the file name carries the runner's source stamp (an edited kernel gives a new file)
  and a hash of the target triple, CPU name and CPU features numba compiled for (a
  cache folder shared between machines never loads foreign instructions);
* every symbol the object leaves undefined is listed beside it and must resolve in this
  process before the object is linked; otherwise, or if anything else fails, the caller
  falls back to the numba dispatcher (``runner.advance``), which gives the same numbers;
* the JSON sidecar is written last, atomically: an object without it is never loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import threading
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


def host_key() -> str:
    """A hash of :func:`host_target`: what the machine code depends on."""
    return hashlib.sha256("\0".join(host_target()).encode()).hexdigest()[:12]


def object_paths(runner_path: Path, key: str) -> tuple[Path, Path]:
    """The object file and its JSON sidecar for a runner file and host key."""
    stem = runner_path.with_suffix("")
    return Path(f"{stem}-{key}.o"), Path(f"{stem}-{key}.json")


def export(cfunc, obj_path: Path, meta_path: Path) -> bool:
    """Write the object code of a compiled ``cfunc`` and its sidecar; True on success.

    Uses numba's code library (``_final_module``, ``_codegen``): the stamp includes the
    numba version, and any failure here only means the next process compiles again.
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
        code = library._codegen._tm.emit_object(module)
        meta = {"symbol": cfunc.native_name, "undefined": undefined}
        for path, data in ((obj_path, code), (meta_path, json.dumps(meta).encode())):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return True
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no error
        return False


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
    """The C function in a cached object, or None when there is none to trust."""
    key = str(obj_path)
    with _lock:
        if key in _loaded:
            return PROTOTYPE(_loaded[key])
        try:
            meta = json.loads(meta_path.read_text())
            code = obj_path.read_bytes()
        except (OSError, ValueError):
            return None
        engine, ll = _get_engine()
        process = ctypes.CDLL(None)
        undefined = meta.get("undefined", ())
        if not all(_resolvable(name, ll, process) for name in undefined):
            return None
        engine.add_object_file(ll.ObjectFileRef.from_data(code))
        engine.finalize_object()
        address = engine.get_function_address(meta["symbol"])
        if not address:
            return None
        _loaded[key] = address
        return PROTOTYPE(address)


def wrap(function, n_stages: int, needs_hessian: bool, n_hp: int):
    """``advance`` with the numba runner's signature (less its scratch ``work``, which
    this allocates), calling the C function.  ``n_hp``: the length of the family's
    HYPERPARAMETERS, which the runner copies."""
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
        work = np.zeros(work_size(n_stages, needs_hessian, dim))
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
