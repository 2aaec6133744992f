"""``python -m odeopt`` is the ``odeopt`` command."""

from .cli import main

main()
