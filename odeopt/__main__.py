"""``python -m odeopt`` is the ``odeopt`` command."""

from .cli import console_main

console_main()
