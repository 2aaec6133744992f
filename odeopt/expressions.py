r"""Loss surfaces from formula text, parsed safely and compiled like the built-ins.

``odeopt run -s "expr:(x**2 + y - 11)**2 + 0.1*y**4"`` and
:meth:`odeopt.Surface.from_expression` turn a formula into a :class:`Surface` whose
kernels (value, gradient, Hessian) are generated Python source, written to the
compile cache and jitted by numba exactly like a surface file of the package.

What a formula may contain
--------------------------
* numbers (``2``, ``0.5``, ``1e-3``), the constants ``pi`` and ``e``;
* variables: ``x``, ``y``, ``z`` for a loss of one to three coordinates, or
  ``x0``, ``x1``, ... ``x{n-1}`` (not both styles in one formula);
* parameters, declared with their values (``params={"a": 1.0}`` in Python, or
  ``"expr:FORMULA; a=1, b=100"`` as a surface name; ``--surface-param a=2`` then
  changes one for a run);
* ``+ - * / **``, unary ``-`` and ``+``, parentheses;
* the functions of :data:`FUNCTIONS` (``sin``, ``exp``, ``log``, ``sqrt``, ``abs``,
  ``tanh``, ``arctan`` ...), called with positional arguments;
* ``sum(BODY)`` for a loss of any dimension n: the sum over the coordinates of a body
  written in the pseudo-variables ``x_i`` (coordinate i), ``x_next`` (coordinate
  i + 1) and ``i`` (the index, from 0).  Without ``x_next`` it runs over
  i = 0 ... n-1, with it over i = 0 ... n-2.  Rosenbrock in n dimensions is
  ``sum(100*(x_next - x_i**2)**2 + (1 - x_i)**2)``.  A sum may be added to the loss,
  times a constant or a parameter expression (``a*sum(x_i**2) + x0``), not put
  inside a function; sums do not nest; the body uses no other coordinate.  The
  dimension then comes from ``--dim`` or the start.

Why it is safe
--------------
The text is parsed by Python's own parser (:func:`ast.parse`, which builds a tree and
runs nothing) and the tree is walked against an allowlist: each node is one of the
forms above or the formula is refused with one line naming the construct
(attribute access, subscripts, lambdas, comprehensions, strings, keyword arguments,
unknown names and functions, with a close match where there is one).  Text longer
than :data:`MAX_LENGTH`, nested deeper than :data:`MAX_DEPTH`, with more than
:data:`MAX_NODES` nodes, exponents above :data:`MAX_EXPONENT` or any non-ASCII
character (look-alike letters that Python would fold into ASCII names) is refused
before it is parsed or evaluated.  The symbolic (sympy) tree is built node by node
from the walk: no ``eval``, ``exec``, ``sympify``, ``parse_expr`` or ``lambdify``
ever sees the text.  The generated kernels name coordinates ``t0, t1, ...`` and
parameters ``p0, p1, ...``: no name or character of the text reaches the source.

Derivatives
-----------
Gradient and Hessian are derived with sympy, shared subexpressions are pulled out
(:func:`sympy.cse`) and the result is printed as NumPy-scalar code (so plain-Python
evaluation gives ``nan`` where numba does, never a ``math`` domain error).  The
module is written to ``<cache dir>/expressions/odeopt_expr_<sha256>.py`` (named by
the hash of its content), imported, and jitted with ``cache=True``; the runner's stamp
reads its text (:mod:`odeopt._stamp`), so a changed formula can never reuse stale
code.  Before a surface is returned its derivatives are compared with central
differences at seeded random points of its box.  A formula that is undefined where a
run goes (``log`` of a negative number) gives ``nan``, and the run ends with the
``diverged`` status.

References: the allowlist walk follows the practice of safe expression evaluators
(e.g. A. Meurer et al., *SymPy: symbolic computing in Python*, PeerJ Comput. Sci. 3,
e103 (2017), whose documentation warns that ``sympify`` evaluates its input).
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib.util
import keyword
import math
import os
import re
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .errors import InputError, OdeoptError
from .surfaces._base import Minimum, Param, Surface

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "ExpressionError",
    "from_expression",
    "parse",
    "surface_from_spec",
]

#: Longest formula accepted, in characters.
MAX_LENGTH = 4000
#: Deepest nesting of the syntax tree (and of parentheses).
MAX_DEPTH = 60
#: Most nodes of the syntax tree.
MAX_NODES = 1000
#: Largest |exponent| of a power with a constant exponent.
MAX_EXPONENT = 100
#: Largest coordinate index (x0 ... x{MAX_INDEX}) and number of parameters.
MAX_INDEX = 999
MAX_PARAMS = 32
#: Numbers beyond this magnitude overflow float64.
_MAX_NUMBER = 1e308

#: Function name -> (sympy constructor name, number of arguments).
FUNCTIONS: dict[str, tuple[str, int]] = {
    "sin": ("sin", 1),
    "cos": ("cos", 1),
    "tan": ("tan", 1),
    "exp": ("exp", 1),
    "log": ("log", 1),
    "ln": ("log", 1),
    "log1p": ("log1p", 1),
    "expm1": ("expm1", 1),
    "log2": ("log2", 1),
    "log10": ("log10", 1),
    "sqrt": ("sqrt", 1),
    "abs": ("Abs", 1),
    "sinh": ("sinh", 1),
    "cosh": ("cosh", 1),
    "tanh": ("tanh", 1),
    "arcsin": ("asin", 1),
    "asin": ("asin", 1),
    "arccos": ("acos", 1),
    "acos": ("acos", 1),
    "arctan": ("atan", 1),
    "atan": ("atan", 1),
    "arctan2": ("atan2", 2),
    "atan2": ("atan2", 2),
    "arcsinh": ("asinh", 1),
    "asinh": ("asinh", 1),
    "arccosh": ("acosh", 1),
    "acosh": ("acosh", 1),
    "arctanh": ("atanh", 1),
    "atanh": ("atanh", 1),
}
#: Named constants.
CONSTANTS = ("pi", "e")
#: Pseudo-variables of a sum's body.
SUM_NAMES = ("x_i", "x_next", "i")
_INDEXED = re.compile(r"x(0|[1-9][0-9]*)\Z")
_XYZ = ("x", "y", "z")
_PARAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class ExpressionError(InputError):
    """A loss formula that is refused: not allowed, malformed or too large."""


class DerivativeError(OdeoptError, RuntimeError):
    """Derived derivatives disagree with finite differences (a bug, not bad input)."""


def _sympy():
    import sympy

    return sympy


# -- the parser ---------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """A formula parsed into sympy trees over canonical symbols.

    ``loss = explicit + sum_j coefficients[j] * sum_i bodies[j](x_i, x_next, i)``.
    """

    text: str
    params: tuple[str, ...]
    style: str  # "xyz" or "indexed"
    n_explicit: int  # coordinates 0 ... n_explicit-1 may appear outside sums
    explicit: Any  # sympy expression in t0 ..., p0 ...
    coefficients: tuple  # sympy expressions in p0 ...
    bodies: tuple  # sympy expressions in u (x_i), v (x_next), k (i), p0 ...
    uses_next: tuple[bool, ...]

    @property
    def has_sums(self) -> bool:
        return bool(self.bodies)

    def symbols(self) -> tuple:
        sp = _sympy()
        t = sp.symbols(f"t0:{max(self.n_explicit, 1)}", real=True)
        p = sp.symbols(f"p0:{max(len(self.params), 1)}", real=True)
        return t, p


def _fail(message: str) -> ExpressionError:
    return ExpressionError(f"expression: {message}")


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise _fail(f"the formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _fail(f"{len(text)} characters is too long (at most {MAX_LENGTH})")
    for position, char in enumerate(text):
        if not (" " <= char <= "~" or char in "\t\n"):
            folded = unicodedata.normalize("NFKC", char)
            hint = (
                f" (it looks like {folded!r})"
                if folded.isascii() and folded.isprintable() and folded != char
                else ""
            )
            raise _fail(
                f"character {char!r} (U+{ord(char):04X}) at position {position} is "
                f"not allowed{hint}; write the formula in ASCII"
            )
    text = text.strip()
    if not text:
        raise _fail("the formula is empty")
    depth = deepest = 0
    for char in text:  # before the parser: it recurses on nesting
        depth += char in "([{"
        depth -= char in ")]}"
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise _fail(f"parentheses nested {deepest} deep (at most {MAX_DEPTH})")
    return text


_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_OPERATORS = {
    ast.BitXor: "^ is not allowed; write powers as **",
    ast.Mod: "% is not allowed (allowed: + - * / **)",
    ast.FloorDiv: "// is not allowed (allowed: + - * / **)",
    ast.MatMult: "@ is not allowed (allowed: + - * / **)",
    ast.BitAnd: "& is not allowed (allowed: + - * / **)",
    ast.BitOr: "| is not allowed (allowed: + - * / **)",
    ast.LShift: "<< is not allowed (allowed: + - * / **)",
    ast.RShift: ">> is not allowed (allowed: + - * / **)",
}
_NODE_WORDS = {
    ast.Attribute: "attribute access (.{attr})",
    ast.Subscript: "subscripts ([...])",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.NamedExpr: "assignments (:=)",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.JoinedStr: "strings",
    ast.FormattedValue: "strings",
    ast.Starred: "* arguments",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}


class _Builder:
    """Walks the allowlisted tree and builds the sympy expression node by node."""

    def __init__(self, params: Sequence[str]):
        sp = _sympy()
        self.sp = sp
        self.params = tuple(params)
        self.param_symbols = {
            name: sp.Symbol(f"p{j}", real=True) for j, name in enumerate(self.params)
        }
        self.style: str | None = None
        self.n_explicit = 0
        self.sums: list = []  # (symbol s_j, body, uses_next)
        self.in_sum = False
        self.body_uses_next = False
        self.u, self.v, self.k = sp.symbols("u v k", real=True)

    # names ------------------------------------------------------------------
    def _valid_names(self) -> str:
        if self.in_sum:
            names = list(SUM_NAMES)
        elif self.style == "indexed":
            names = ["x0", "x1", "..."]
        else:
            names = ["x", "y", "z"]
        return ", ".join(names + list(self.params) + list(CONSTANTS))

    def name(self, node: ast.Name):
        sp = self.sp
        name = node.id
        if name.startswith("__"):
            raise _fail(f"name {name!r} is not allowed (no double-underscore names)")
        if name in self.param_symbols:
            return self.param_symbols[name]
        if name == "pi":
            return sp.pi
        if name == "e":
            return sp.E
        if name in SUM_NAMES:
            if not self.in_sum:
                raise _fail(f"{name} is defined only inside sum(...)")
            if name == "x_next":
                self.body_uses_next = True
            return {"x_i": self.u, "x_next": self.v, "i": self.k}[name]
        index = None
        style = None
        if name in _XYZ:
            index, style = _XYZ.index(name), "xyz"
        elif _INDEXED.match(name):
            index, style = int(name[1:]), "indexed"
            if index > MAX_INDEX:
                raise _fail(f"coordinate {name} is beyond x{MAX_INDEX}")
        if style is not None:
            if self.in_sum:
                raise _fail(
                    f"inside sum(...) write coordinates as x_i and x_next, not {name}"
                )
            if self.style is not None and self.style != style:
                raise _fail(
                    "use either x, y, z or x0, x1, ... for the coordinates, not both"
                )
            self.style = style
            self.n_explicit = max(self.n_explicit, index + 1)
            return sp.Symbol(f"t{index}", real=True)
        if name in FUNCTIONS or name == "sum":
            raise _fail(f"{name} is a function: call it as {name}(...)")
        close = difflib.get_close_matches(
            name, [*_XYZ, *self.params, *CONSTANTS, *SUM_NAMES], n=1
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(
            f"unknown name {name!r} (allowed: {self._valid_names()}){hint}; declare a "
            f"parameter with params={{'{name}': value}} or 'expr:FORMULA; {name}=value'"
        )

    # the walk ---------------------------------------------------------------
    def build(self, node: ast.AST, depth: int = 0):
        if depth > MAX_DEPTH:
            raise _fail(f"nested more than {MAX_DEPTH} deep")
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.number_check(-self.build(node.operand, depth + 1))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            word = "not" if isinstance(node.op, ast.Not) else "~"
            raise _fail(f"{word} is not allowed (allowed: + - * / **)")
        if isinstance(node, ast.BinOp):
            if type(node.op) in _REFUSED_OPERATORS:
                raise _fail(_REFUSED_OPERATORS[type(node.op)])
            left = self.build(node.left, depth + 1)
            right = self.build(node.right, depth + 1)
            if isinstance(node.op, ast.Add):
                result = left + right
            elif isinstance(node.op, ast.Sub):
                result = left - right
            elif isinstance(node.op, ast.Mult):
                result = left * right
            elif isinstance(node.op, ast.Div):
                if right.is_zero:
                    raise _fail("division by zero")
                result = left / right
            else:
                result = self.power(left, right)
            return self.number_check(result)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        word = _NODE_WORDS.get(type(node))
        if word is None:
            word = type(node).__name__
        elif isinstance(node, ast.Attribute):
            word = word.format(attr=node.attr)
        raise _fail(f"{word} not allowed in a formula")

    def constant(self, value):
        sp = self.sp
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise _fail(f"{value!r} is not a number")
        if isinstance(value, str | bytes):
            raise _fail("strings are not allowed in a formula")
        if isinstance(value, complex):
            raise _fail("complex numbers are not allowed")
        if isinstance(value, int):
            if abs(value) > _MAX_NUMBER:
                raise _fail("a number overflows float64")
            return sp.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _fail("a number overflows float64")
            return sp.Float(value, precision=53)
        raise _fail(f"{type(value).__name__} constants are not allowed")

    def power(self, base, exponent):
        if exponent.is_Number:
            if abs(exponent) > MAX_EXPONENT:
                raise _fail(
                    f"exponent {exponent} is too large (at most {MAX_EXPONENT} in "
                    "absolute value)"
                )
            # |base|**exponent is sized before sympy computes it exactly
            if (
                base.is_Number
                and not base.is_zero
                and float(exponent) * math.log10(abs(float(base))) > 308
            ):
                raise _fail(f"{base}**{exponent} overflows float64")
            if base.is_zero and exponent < 0:
                raise _fail("division by zero (0 to a negative power)")
        elif exponent.is_number and base.is_number:
            # e.g. 2**pi: numeric, but its size is checked numerically
            try:
                if float(exponent) * math.log10(abs(float(base)) or 1.0) > 308:
                    raise _fail("a power overflows float64")
            except (TypeError, ValueError):
                raise _fail("a power is not a real number") from None
        return base**exponent

    def number_check(self, value):
        sp = self.sp
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise _fail("the formula divides by zero or overflows")
        if value.has(sp.I):
            raise _fail(f"{value} is not a real number")
        if value.is_Number and abs(value) > _MAX_NUMBER:
            raise _fail("a number overflows float64")
        return value

    def call(self, node: ast.Call, depth: int):
        sp = self.sp
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise _fail(f"attribute access (.{node.func.attr}) not allowed")
            raise _fail("only calls of named functions are allowed")
        name = node.func.id
        if node.keywords:
            raise _fail(f"keyword arguments are not allowed (in {name}(...))")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _fail(f"* arguments are not allowed (in {name}(...))")
        if name == "sum":
            return self.sum(node, depth)
        if name not in FUNCTIONS:
            if name.startswith("__"):
                raise _fail(
                    f"name {name!r} is not allowed (no double-underscore names)"
                )
            close = difflib.get_close_matches(name, [*FUNCTIONS, "sum"], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise _fail(
                f"unknown function {name!r} (allowed: {', '.join(FUNCTIONS)}, sum)"
                + hint
            )
        sympy_name, arity = FUNCTIONS[name]
        if len(node.args) != arity:
            raise _fail(
                f"{name} takes {arity} argument{'s' if arity > 1 else ''}, "
                f"got {len(node.args)}"
            )
        args = [self.build(arg, depth + 1) for arg in node.args]
        if sympy_name in ("log1p", "expm1", "log2", "log10"):
            from sympy.codegen import cfunctions

            function = getattr(cfunctions, sympy_name)
        else:
            function = getattr(sp, sympy_name)
        return self.number_check(function(*args))

    def sum(self, node: ast.Call, depth: int):
        sp = self.sp
        if self.in_sum:
            raise _fail("sums do not nest")
        if len(node.args) != 1:
            raise _fail(f"sum takes 1 argument (its body), got {len(node.args)}")
        self.in_sum, self.body_uses_next = True, False
        try:
            body = self.build(node.args[0], depth + 1)
        finally:
            self.in_sum = False
        symbol = sp.Symbol(f"s{len(self.sums)}", real=True)
        self.sums.append((symbol, body, self.body_uses_next))
        return symbol


def parse(text: str, params: Sequence[str] = ()) -> Parsed:
    """Parse a formula into sympy trees over canonical symbols (nothing executed).

    Parameters
    ----------
    text : str
        The formula (see the module docstring for what it may contain).
    params : sequence of str
        Declared parameter names.

    Raises
    ------
    ExpressionError
        One line naming what is not allowed.
    """
    sp = _sympy()
    params = tuple(params)
    if len(params) > MAX_PARAMS:
        raise _fail(f"{len(params)} parameters is too many (at most {MAX_PARAMS})")
    reserved = {*_XYZ, *CONSTANTS, *SUM_NAMES, *FUNCTIONS, "sum"}
    for name in params:
        if (
            not isinstance(name, str)
            or not _PARAM_NAME.match(name)
            or keyword.iskeyword(name)
        ):
            raise _fail(f"parameter name {name!r} must be letters, digits and _")
        if name in reserved or _INDEXED.match(name):
            raise _fail(f"parameter name {name!r} is reserved")
    if len(set(params)) != len(params):
        raise _fail("a parameter is declared twice")
    text = _check_text(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise _fail(f"not a formula ({error.msg}{where})") from None
    except (RecursionError, MemoryError):
        raise _fail("the formula is nested too deeply") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise _fail(f"{nodes} syntax nodes is too many (at most {MAX_NODES})")
    builder = _Builder(params)
    expression = builder.build(tree)
    sums = builder.sums
    if sums and builder.style == "xyz":
        raise _fail("with sum(...) name coordinates x0, x1, ... (not x, y, z)")
    sum_symbols = [s for s, _, _ in sums]
    coefficients = []
    for symbol in sum_symbols:
        c = sp.diff(expression, symbol)
        if c.free_symbols - set(builder.param_symbols.values()):
            raise _fail(
                "a sum(...) may only be added to the loss, times a constant or a "
                "parameter expression (not inside a function or times a coordinate)"
            )
        coefficients.append(c)
    explicit = expression.subs(dict.fromkeys(sum_symbols, 0)) if sums else expression
    coordinates = {s for s in explicit.free_symbols if s.name.startswith("t")}
    if not coordinates and all(c.is_zero for c in coefficients):  # x - x + 1 too
        raise _fail("the formula has no variable (it is a constant)")
    for _, body, _ in sums:
        if not body.free_symbols & {builder.u, builder.v}:
            raise _fail("a sum's body uses neither x_i nor x_next")
    return Parsed(
        text=text,
        params=params,
        style=builder.style or "indexed",
        n_explicit=builder.n_explicit,
        explicit=explicit,
        coefficients=tuple(coefficients),
        bodies=tuple(b for _, b, _ in sums),
        uses_next=tuple(n for _, _, n in sums),
    )


# -- code generation ----------------------------------------------------------------


@functools.cache
def _printer_class():
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):
        """NumPy-scalar code; floats printed exactly, integers as int or float."""

        def _print_Float(self, expr):
            return repr(float(expr))

        def _print_Integer(self, expr):
            value = int(expr)
            return str(value) if abs(value) <= 2**31 else repr(float(value))

        def _print_Rational(self, expr):
            p, q = int(expr.p), int(expr.q)
            if abs(p) <= 2**31 and abs(q) <= 2**31:
                return f"({p}/{q})"
            return repr(float(expr))

        def _print_Half(self, expr):
            return "0.5"

    return Printer


def _clean(expr):
    """Derivatives almost everywhere: a Dirac delta (of abs, sign) counts as 0."""
    sp = _sympy()
    return expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def _print(printer, expr) -> str:
    text = printer.doprint(expr)
    if getattr(printer, "_not_supported", None):
        found = ", ".join(sorted(str(e.func) for e in printer._not_supported))
        raise _fail(f"cannot generate code for {found}")
    return text


def _block(exprs: list, indent: str, prefix: str = "c") -> tuple[list[str], list[str]]:
    """Lines computing shared subexpressions (named ``prefix0, ...``: loop bodies
    use ``d`` so they never overwrite the outer block's), and the printed outputs."""
    sp = _sympy()
    printer = _printer_class()()
    replacements, reduced = sp.cse(
        [_clean(e) for e in exprs], symbols=sp.numbered_symbols(prefix), order="none"
    )
    lines = [f"{indent}{sym} = {_print(printer, value)}" for sym, value in replacements]
    return lines, [_print(printer, e) for e in reduced]


def _used(exprs, prefix: str, count: int) -> list[int]:
    names = {str(s) for e in exprs for s in e.free_symbols}
    return [j for j in range(count) if f"{prefix}{j}" in names]


def _loads(exprs, parsed: Parsed, indent: str, inner=()) -> list[str]:
    """Loads of the coordinates and parameters used (``inner``: loop bodies)."""
    lines = [f"{indent}t{j} = x[{j}]" for j in _used(exprs, "t", parsed.n_explicit)]
    everything = [*exprs, *inner]
    lines += [
        f"{indent}p{j} = p[{j}]" for j in _used(everything, "p", len(parsed.params))
    ]
    return lines


def _body_loads(exprs, parsed: Parsed, indent: str) -> list[str]:
    names = {str(s) for e in exprs for s in e.free_symbols}
    lines = []
    if "u" in names:
        lines.append(f"{indent}u = x[i]")
    if "v" in names:
        lines.append(f"{indent}v = x[i + 1]")
    if "k" in names:
        lines.append(f"{indent}k = float(i)")
    return lines


def _as_float(text: str) -> str:
    """An integer literal as a float one (a float accumulator from the start)."""
    return f"{text}.0" if re.fullmatch(r"-?[0-9]+", text) else text


def _times(coefficient: str, text: str) -> str:
    """``coefficient * (text)``, without the product when the coefficient is 1."""
    if coefficient not in ("1", "1.0"):
        return f"{coefficient} * ({text})"
    return text


def generate(parsed: Parsed) -> str:
    """The source of the kernel module (value, grad, hess) of a parsed formula."""
    sp = _sympy()
    t, _ = parsed.symbols()
    u, v = sp.symbols("u v", real=True)
    n_exp = parsed.n_explicit
    fixed = not parsed.has_sums
    g = parsed.explicit
    grad_g = [sp.diff(g, t[j]) for j in range(n_exp)]
    hess_g = {
        (a, b): sp.diff(grad_g[a], t[b]) for a in range(n_exp) for b in range(a, n_exp)
    }
    printer = _printer_class()()
    out = [
        '"""Kernels generated by odeopt from a loss formula; do not edit.',
        "",
        "Coordinates are t0, t1, ..., parameters p0, p1, ...:",
        "",
        f"    explicit part: {sp.sstr(g)}",
    ]
    for j, (c, body) in enumerate(zip(parsed.coefficients, parsed.bodies, strict=True)):
        out.append(f"    plus ({sp.sstr(c)}) * sum {j} of {sp.sstr(body)}")
    out += [
        '"""',
        "",
        "import numpy",
        "",
        "from odeopt._jit import kernel",
        "",
        "",
    ]
    ind = "    "

    # value
    out += ["@kernel", "def value(x, p):"]
    pre, (g_text, *c_texts) = _block([g, *parsed.coefficients], ind)
    out += _loads([g, *parsed.coefficients], parsed, ind, parsed.bodies) + pre
    if fixed:
        out.append(f"{ind}return {g_text}")
    else:
        out.append(f"{ind}n = x.shape[0]")
        out.append(f"{ind}total = {_as_float(g_text)}")
        for j, body in enumerate(parsed.bodies):
            stop = "n - 1" if parsed.uses_next[j] else "n"
            lines, (b_text,) = _block([body], ind * 2, "d")
            out += [f"{ind}s = 0.0", f"{ind}for i in range({stop}):"]
            out += _body_loads([body], parsed, ind * 2) + lines
            out.append(f"{ind * 2}s += {b_text}")
            out.append(f"{ind}total += {_times(c_texts[j], 's')}")
        out.append(f"{ind}return total")
    out += ["", ""]

    # gradient
    out += ["@kernel", "def grad(x, p, out):"]
    pre, texts = _block([*grad_g, *parsed.coefficients], ind)
    out += _loads([*grad_g, *parsed.coefficients], parsed, ind, parsed.bodies) + pre
    # The first sum of a loss without explicit coordinates assigns each out[i] its
    # first term instead of adding it to 0.0, which IEEE forbids LLVM to drop (as
    # the built-in rosenbrock does: it sits on the step's chain of operations).
    assign_first = not fixed and n_exp == 0
    if not fixed:
        out.append(f"{ind}n = x.shape[0]")
    if not fixed and not assign_first:
        out.append(f"{ind}for i in range({n_exp}, n):")
        out.append(f"{ind * 2}out[i] = 0.0")
    for j in range(n_exp):
        out.append(f"{ind}out[{j}] = {texts[j]}")
    if fixed:
        out.append(f"{ind}for i in range({n_exp}, x.shape[0]):")
        out.append(f"{ind * 2}out[i] = 0.0")
    c_texts = texts[n_exp:]
    for j, body in enumerate(parsed.bodies):
        pieces = [sp.diff(body, u)] + (
            [sp.diff(body, v)] if parsed.uses_next[j] else []
        )
        stop = "n - 1" if parsed.uses_next[j] else "n"
        lines, b_texts = _block(pieces, ind * 2, "d")
        coefficient = c_texts[j]
        out.append(f"{ind}for i in range({stop}):")
        out += _body_loads(pieces, parsed, ind * 2) + lines
        first = _times(coefficient, b_texts[0])
        if j == 0 and assign_first:
            if parsed.uses_next[j]:  # out[i] holds the previous i's second term
                out.append(
                    f"{ind * 2}out[i] = out[i] + ({first}) if i > 0 else {first}"
                )
                out.append(f"{ind * 2}out[i + 1] = {_times(coefficient, b_texts[1])}")
            else:
                out.append(f"{ind * 2}out[i] = {first}")
            continue
        out.append(f"{ind * 2}out[i] += {first}")
        if parsed.uses_next[j]:
            out.append(f"{ind * 2}out[i + 1] += {_times(coefficient, b_texts[1])}")
    out += ["", ""]

    # Hessian
    keys = sorted(hess_g)
    out += ["@kernel", "def hess(x, p, out):"]
    pre, texts = _block([hess_g[key] for key in keys] + list(parsed.coefficients), ind)
    exprs = [hess_g[key] for key in keys] + list(parsed.coefficients)
    out += _loads(exprs, parsed, ind, parsed.bodies) + pre
    out += [
        f"{ind}n = x.shape[0]",
        f"{ind}for i in range(n):",
        f"{ind * 2}for j in range(n):",
        f"{ind * 3}out[i, j] = 0.0",
    ]
    for key, text in zip(keys, texts, strict=False):
        a, b = key
        out.append(f"{ind}out[{a}, {b}] = {text}")
        if a != b:
            out.append(f"{ind}out[{b}, {a}] = out[{a}, {b}]")
    c_texts = texts[len(keys) :]
    for j, body in enumerate(parsed.bodies):
        du = sp.diff(body, u)
        pieces = [sp.diff(du, u)]
        if parsed.uses_next[j]:
            dv = sp.diff(body, v)
            pieces += [sp.diff(du, v), sp.diff(dv, v)]
        stop = "n - 1" if parsed.uses_next[j] else "n"
        lines, b_texts = _block(pieces, ind * 2, "d")
        coefficient = c_texts[j]
        out.append(f"{ind}for i in range({stop}):")
        out += _body_loads(pieces, parsed, ind * 2) + lines
        out.append(f"{ind * 2}out[i, i] += {_times(coefficient, b_texts[0])}")
        if parsed.uses_next[j]:
            out.append(f"{ind * 2}out[i, i + 1] += {_times(coefficient, b_texts[1])}")
            out.append(f"{ind * 2}out[i + 1, i] += {_times(coefficient, b_texts[1])}")
            out.append(
                f"{ind * 2}out[i + 1, i + 1] += {_times(coefficient, b_texts[2])}"
            )
    out.append("")
    del printer
    return "\n".join(out)


# -- the cache file -----------------------------------------------------------------

_lock = threading.Lock()


def _folder() -> Path:
    from ._jit import cache_dir

    folder = cache_dir() / "expressions"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}-{threading.get_ident()}"
        probe.touch()
        probe.unlink()
    except OSError:  # read-only home: a private temporary folder
        folder = Path(tempfile.gettempdir()) / f"odeopt-{os.getuid()}" / "expressions"
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def module_name(source: str) -> str:
    """The import name of a generated kernel module: from the sha256 of its text."""
    return "odeopt_expr_" + hashlib.sha256(source.encode()).hexdigest()[:32]


def load_module(source: str) -> ModuleType:
    """Write (once) and import the generated kernel module with this text.

    The file is named by the hash of its content and rewritten only when it is
    missing or differs, so numba's cache (keyed by the file's time stamp) stays
    valid across processes.
    """
    name = module_name(source)
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        path = _folder() / f"{name}.py"
        try:
            current = path.read_text()
        except OSError:
            current = None
        if current != source:
            tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba re-imports it by name for cached code
        spec.loader.exec_module(module)
        return module


# -- the surface ----------------------------------------------------------------------


def _broadcast(value, dim: int, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.size == 1:
        array = np.full(dim, float(array[0]))
    if array.size != dim:
        raise InputError(
            f"{what} has {array.size} numbers, the loss has dimension {dim}"
        )
    return array


def _x0_of(x0, bounds, dim, params):
    if x0 is not None:
        return _broadcast(x0, dim, "x0")
    if bounds is not None:
        lo, hi = _bounds_of(bounds, None, dim, params)
        return 0.5 * (lo + hi)
    return np.zeros(dim)


def _bounds_of(bounds, x0, dim, params):
    if bounds is None:  # a box around the start; plots widen it to the run
        centre = _x0_of(x0, None, dim, params)
        return centre - 2.0, centre + 2.0
    lo, hi = bounds
    return _broadcast(lo, dim, "bounds[0]"), _broadcast(hi, dim, "bounds[1]")


def _minima_of(minima, dim, params):
    found = []
    for item in minima or ():
        if isinstance(item, Minimum):
            found.append(item)
        else:
            found.append(Minimum(_broadcast(item, dim, "a minimum"), math.nan))
    return found


def _kind_spec(params: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={float(v)!r}" for k, v in params.items())


@dataclass(frozen=True)
class ExpressionSurface(Surface):
    """A :class:`~odeopt.Surface` whose kernels are generated from a formula.

    ``source`` is the generated kernel module; it travels with the object, so a
    pickled surface rebuilds its module in another process.
    """

    expression: str = ""
    source: str = field(default="", repr=False)
    #: No box was given: plots draw a box around the run.
    auto_bounds: bool = False

    @property
    def kernels(self) -> ModuleType:
        """The generated kernel module (written to the cache and imported once)."""
        return load_module(self.source)

    @property
    def spec(self) -> str:
        """The surface name that rebuilds this formula: ``expr:TEXT[; a=1.0]``."""
        values = {p.name: p.default for p in self.params}
        return "expr:" + self.expression + (f"; {_kind_spec(values)}" if values else "")


def from_expression(
    text: str,
    *,
    params: Mapping[str, float] | None = None,
    bounds=None,
    x0=None,
    minima=None,
    name: str | None = None,
    dim: int | None = None,
):
    """A :class:`~odeopt.Surface` from a formula (see the module docstring).

    Parameters
    ----------
    text : str
        The loss, e.g. ``"(x**2 + y - 11)**2 + 0.1*y**4"``.
    params : mapping of str to float, optional
        Parameter names and default values.
    bounds : (lo, hi), optional
        Plot box, each a number or ``dim`` numbers; by default a box of half-width 2
        around the start, which plots widen to the run.
    x0 : number or sequence, optional
        Default start (default: the box centre, else the origin).
    minima : sequence, optional
        Known minimum points (or :class:`~odeopt.Minimum` objects).
    name : str, optional
        Registry-style name; by default ``"expr:TEXT[; a=1.0, ...]"``, which
        :func:`odeopt.get_surface` (and a saved run's ``meta``) parses back.
    dim : int, optional
        Dimension: at least the highest coordinate used (x, y, z / x0 ...); for a
        formula with ``sum(...)`` the default dimension (any n works).

    Raises
    ------
    ExpressionError
        The formula is refused (one line saying why).
    """
    sp = _sympy()
    params = dict(params or {})
    for key, value in params.items():
        try:
            params[key] = float(value)
        except (TypeError, ValueError):
            raise _fail(f"parameter {key} must be a number, got {value!r}") from None
        if not math.isfinite(params[key]):
            raise _fail(f"parameter {key} must be finite")
    parsed = parse(text, tuple(params))
    source = generate(parsed)
    return _make_surface(parsed, source, params, bounds, x0, minima, name, dim, sp)


def _make_surface(parsed, source, params, bounds, x0, minima, name, dim, sp):
    cls = ExpressionSurface
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise _fail(f"dim must be a whole number >= 1, got {dim!r}")
        dim = int(dim)
    least = max(parsed.n_explicit, 1)
    if parsed.has_sums:
        least = max(least, 2 if any(parsed.uses_next) else 1)
        fixed_dim, default_dim = None, dim or max(least, 2)
    else:
        fixed_dim = dim or least
        default_dim = fixed_dim
    if (dim or default_dim) < least:
        raise _fail(f"the formula uses {least} coordinates; dim {dim} is too small")
    spec_params = _kind_spec(params)
    default_name = "expr:" + parsed.text + (f"; {spec_params}" if params else "")
    surface = cls(
        name=name or default_name,
        description="loss given as a formula",
        module=module_name(source),
        formula=parsed.text,
        params=tuple(
            Param(k, v, "parameter of the formula") for k, v in params.items()
        ),
        dim=fixed_dim,
        default_dim=default_dim,
        min_dim=least,
        bounds=functools.partial(_bounds_pair, bounds, x0),
        x0=functools.partial(_x0_resolved, x0, bounds),
        minima=functools.partial(_minima_of, minima),
        bounded_below=True,
        expression=parsed.text,
        source=source,
        auto_bounds=bounds is None,
    )
    load_module(source)
    check_derivatives(surface.bind(default_dim if fixed_dim is None else None))
    return surface


def _bounds_pair(bounds, x0, dim, params):
    return _bounds_of(bounds, x0, dim, params)


def _x0_resolved(x0, bounds, dim, params):
    return _x0_of(x0, bounds, dim, params)


def check_derivatives(bound, points: int = 24, seed: int = 0) -> int:
    """Compare the derived gradient and Hessian with central differences.

    At ``points`` seeded uniform points of the surface's box; coordinates where the
    one-sided differences disagree (a kink, e.g. of ``abs``) are skipped.  Returns the
    number of points where the loss and gradient are finite.

    Raises
    ------
    ExpressionError
        The loss or its gradient is finite at none of the points.
    DerivativeError
        A derivative disagrees with the differences.
    """
    rng = np.random.default_rng(seed)
    lo, hi = bound.bounds
    dim = bound.dim
    value, grad, hess = bound.python_kernels()
    p = bound.p
    good = 0
    with np.errstate(all="ignore"):
        for x in [bound.x0, *rng.uniform(lo, hi, size=(points, dim))]:
            x = np.asarray(x, dtype=float)
            f = float(value(x, p))
            g = np.empty(dim)
            grad(x, p, g)
            if not (math.isfinite(f) and np.all(np.isfinite(g))):
                continue
            H = np.empty((dim, dim))
            hess(x, p, H)
            good += 1
            for j in range(dim):
                h = 1e-5 * max(1.0, abs(x[j]))
                e = np.zeros(dim)
                e[j] = h
                fp, fm = float(value(x + e, p)), float(value(x - e, p))
                gp, gm = np.empty(dim), np.empty(dim)
                grad(x + e, p, gp)
                grad(x - e, p, gm)
                if not (math.isfinite(fp) and math.isfinite(fm)):
                    continue
                noise = 1e-13 * (abs(f) + 1.0) / h  # rounding, a few hundred ulps
                forward, backward = (fp - f) / h, (f - fm) / h
                tol = 1e-4 * (1.0 + abs(g[j])) + noise
                if abs(forward - backward) > 1e3 * h * (1.0 + abs(H[j, j])) + 2 * tol:
                    continue  # a kink within h: differences say nothing here
                # Central differences err by O(h² f‴): on a fast oscillation (cos((xy)⁴)
                # far out) that exceeds the tolerance at the first h, so a disagreement
                # is refused only if it persists as h shrinks 4³-fold (a wrong
                # derivative's error stays; a truncation error falls 16x a time).
                central_ok = column_ok = False
                for shrink in range(4):
                    hs = h / 4**shrink
                    e = np.zeros(dim)
                    e[j] = hs
                    fp, fm = float(value(x + e, p)), float(value(x - e, p))
                    grad(x + e, p, gp)
                    grad(x - e, p, gm)
                    noise = 1e-13 * (abs(f) + 1.0) / hs
                    central = (fp - fm) / (2 * hs)
                    central_ok = central_ok or abs(central - g[j]) <= (
                        1e-4 * (1.0 + abs(g[j])) + noise
                    )
                    if not (np.all(np.isfinite(gp)) and np.all(np.isfinite(gm))):
                        column_ok = True
                    else:
                        column = (gp - gm) / (2 * hs)
                        scale = (
                            1e-4 * (1.0 + np.abs(H[:, j]))
                            + 1e-13 * (1.0 + np.abs(g)) / hs
                        )
                        column_ok = column_ok or bool(
                            np.all(np.abs(column - H[:, j]) <= scale)
                        )
                    if central_ok and column_ok:
                        break
                if not central_ok:
                    raise DerivativeError(
                        f"expression {bound.surface.formula}: derived gradient "
                        f"{g[j]:.9g} disagrees with central differences {central:.9g} "
                        f"in coordinate {j} at {x.tolist()}"
                    )
                if not column_ok:
                    raise DerivativeError(
                        f"expression {bound.surface.formula}: derived Hessian "
                        f"column {j} disagrees with differences of the gradient "
                        f"at {x.tolist()}"
                    )
    if good == 0:
        raise _fail(
            f"the loss or its gradient is not finite at any of {points + 1} points "
            f"sampled in the box {lo.tolist()} .. {hi.tolist()} (the formula is "
            "undefined there)"
        )
    return good


def _parse_spec_params(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, number = item.partition("=")
        key = key.strip()
        if not sep or not _PARAM_NAME.match(key):
            raise _fail(f"parameters after ';' are NAME=NUMBER, got {item.strip()!r}")
        try:
            value = float(number)  # float() reads a number and nothing else
        except ValueError:
            raise _fail(
                f"parameter {key} must be a number, got {number.strip()!r}"
            ) from None
        if key in values:
            raise _fail(f"parameter {key} given twice")
        values[key] = value
    return values


@functools.lru_cache(maxsize=64)
def surface_from_spec(spec: str):
    """The surface of a name ``"expr:FORMULA"`` or ``"expr:FORMULA; a=1, b=2"``."""
    if not spec.startswith("expr:"):
        raise _fail(f"{spec!r} does not start with 'expr:'")
    body = spec[len("expr:") :]
    if len(body) > MAX_LENGTH + 1000:  # refuse before splitting a huge text
        raise _fail(f"{len(body)} characters is too long (at most {MAX_LENGTH})")
    text, _, declared = body.partition(";")
    return from_expression(text, params=_parse_spec_params(declared))
