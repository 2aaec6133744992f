"""Gradient-noise models: one file per model, each a ``perturb`` kernel and a ``NOISE``.

See :mod:`odeopt.noise._base` for the contract.
"""
