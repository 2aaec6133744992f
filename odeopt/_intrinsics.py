"""numba intrinsics of the generated runners (imported by them only: it imports numba).

:func:`stack_array` gives the runners arrays that LLVM can keep in registers.  An
array of numba's own (``np.empty``) lives on the heap, so every step of a 2-D run
stored θ and the optimizer state to memory and loaded them back, and every
hyperparameter was reloaded (a store to θ might have changed it).  A fixed-size
``alloca`` in the function's entry block that never escapes is split into scalars by
LLVM's SROA pass instead; read through :func:`carray` (no meminfo, no reference
counts) the kernels still see ordinary arrays.

With ``NUMBA_DISABLE_JIT=1`` the runners are plain Python: ``stack_array`` then
returns a placeholder and ``carray`` turns it into a zeroed NumPy array.
"""

import math

import numba
import numpy as np

if numba.config.DISABLE_JIT:

    class _StackArray:
        """What stack_array returns in plain Python: carray allocates instead."""

    def stack_array(*sizes):
        return _StackArray()

    def stack_words(*sizes):
        return _StackWords()

    class _StackWords:
        """What stack_words returns in plain Python: carray allocates instead."""

    def carray(pointer, shape, dtype=None):
        if isinstance(pointer, _StackArray):
            return np.zeros(shape)
        if isinstance(pointer, _StackWords):
            return np.zeros(shape, dtype=np.uint64)
        return numba.carray(pointer, shape, dtype)

    def assume(condition):
        return None

else:
    from llvmlite import ir
    from numba import carray, types  # noqa: F401  (carray: the runners' import)
    from numba.extending import intrinsic

    def _stack(sizes, element, numba_type):
        # The typing and code of an alloca of prod(sizes) elements (see stack_array).
        if not sizes or not all(isinstance(s, types.IntegerLiteral) for s in sizes):
            return None  # typing fails: the sizes must be constants
        length = max(math.prod(int(s.literal_value) for s in sizes), 1)

        def codegen(context, builder, signature, args):
            # In the entry block, where SROA and mem2reg look for allocas to promote.
            with builder.goto_entry_block():
                slot = builder.alloca(ir.ArrayType(element, length))
            return builder.bitcast(slot, ir.PointerType(element))

        pointer = types.CPointer(numba_type)
        return pointer(types.StarArgTuple.from_types(sizes)), codegen

    @intrinsic(prefer_literal=True)
    def stack_array(typingctx, *sizes):
        """``stack_array(n, m, ...)`` -> a pointer to ``n·m·...`` float64 on the stack
        (each a literal int, such as a module constant; 0 gives room for one), valid
        for the whole calling function.  View it with ``carray(pointer, shape)``."""
        return _stack(sizes, ir.DoubleType(), types.float64)

    @intrinsic(prefer_literal=True)
    def stack_words(typingctx, *sizes):
        """:func:`stack_array` of uint64 (the lanes' noise paths)."""
        return _stack(sizes, ir.IntType(64), types.uint64)

    @intrinsic
    def assume(typingctx, condition):
        """``assume(c)``: tells LLVM that the boolean ``c`` holds (``llvm.assume``), so
        that it folds later tests of it.  The caller has checked it: a false
        assumption is undefined behaviour."""
        if not isinstance(condition, types.Boolean):
            return None

        def codegen(context, builder, signature, args):
            function = builder.module.declare_intrinsic(
                "llvm.assume", fnty=ir.FunctionType(ir.VoidType(), [ir.IntType(1)])
            )
            builder.call(function, [args[0]])
            return context.get_dummy_value()

        return types.none(condition), codegen
