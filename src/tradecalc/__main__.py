"""``python -m tradecalc``."""

from tradecalc.cli import main

main()
