"""``python -m cli``: the same as the ``leadhook`` console script."""

from cli import main

main()
