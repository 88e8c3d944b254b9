"""``python -m dctredact``."""

from .cli import main

main()
