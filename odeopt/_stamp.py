"""What a kernel module contributes to its runner's stamp (odeopt/_codegen.py).

The stamp must change whenever a kernel's code changes, or a runner, numba's cache and
the object code of the old kernels would be reused.  The module's source text is the
natural input; a module made in memory (``types.ModuleType`` with kernels exec'd from
strings, as a notebook may do) has none, and an empty string in its place would give
every such module of one name the same stamp.  Its functions' code objects stand in
for the text then: bytecode, constants and names say what the code computes, and they
are the same in every process that builds the same module (nothing in the digest
depends on ids, memory addresses or hash randomisation).
"""

from __future__ import annotations

import hashlib
import inspect
import types

# Code object fields that decide what the code does.  Positions (co_filename,
# co_firstlineno, the line table) only place it: a moved kernel computes the same.
_CODE_FIELDS = (
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_flags",
    "co_name",
    "co_code",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
)
_SIMPLE = (type(None), bool, int, float, complex, str, bytes)


def source_digest(module: types.ModuleType) -> str:
    """The source text of ``module`` when it can be read, else a sha256 of its
    functions' code and its simple constants (see the module docstring)."""
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):
        pass
    digest = hashlib.sha256()
    for name in sorted(vars(module)):
        if name.startswith("__") and name.endswith("__"):
            continue  # __name__, __builtins__, ...: the same for every such module
        encoded = _encode_value(getattr(module, name), module.__name__)
        if encoded is not None:
            digest.update(repr((name, encoded)).encode())
    return f"code of {module.__name__}: sha256 {digest.hexdigest()}"


def _encode_value(value, module_name: str):
    """A deterministic, printable stand-in for a module attribute, or None for what
    the stamp leaves out (imported modules, objects without a stable form)."""
    function = getattr(value, "py_func", value)  # a jitted kernel: its Python body
    if isinstance(function, types.FunctionType):
        if function.__module__ != module_name:  # imported: named, not read
            return ("function", function.__module__, function.__qualname__)
        return (
            "function",
            _encode_code(function.__code__),
            _encode_constant(function.__defaults__),
            _encode_constant(function.__kwdefaults__),
            _encode_constant(
                tuple(cell.cell_contents for cell in function.__closure__ or ())
            ),
        )
    return _encode_constant(value)


def _encode_code(code: types.CodeType) -> tuple:
    fields = [getattr(code, field) for field in _CODE_FIELDS]
    # the exception table (Python 3.11+) is part of the control flow
    fields.append(getattr(code, "co_exceptiontable", b""))
    fields.append(tuple(_encode_constant(c) for c in code.co_consts))
    return ("code", *fields)


def _encode_constant(value):
    """Numbers, strings and containers of them, tagged with their type (1, 1.0 and
    True differ); code objects recursively; anything else None."""
    if isinstance(value, types.CodeType):
        return _encode_code(value)
    if isinstance(value, _SIMPLE):
        # repr of a float is exact (shortest round trip) and -0.0 differs from 0.0
        return (type(value).__name__, repr(value))
    if isinstance(value, tuple | list):
        items = tuple(_encode_constant(item) for item in value)
        return None if None in items else (type(value).__name__, items)
    if isinstance(value, dict):
        items = [(_encode_constant(k), _encode_constant(v)) for k, v in value.items()]
        if any(None in item for item in items):
            return None
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(value, frozenset | set):
        items = [_encode_constant(item) for item in value]
        if None in items:
            return None
        return (type(value).__name__, tuple(sorted(items, key=repr)))
    return None
