"""The ``tradecalc`` command line: parse, call the library, render, map errors to exit codes.

Each command family lives in its own module (``duty``, ``batch``, ``data``, ``hts``,
``impact``, ``refund``); they never import each other (an import-linter contract): what they
share is in ``cli.app``, the rest in the library. A one-shot call imports only the module of
its command (:func:`tradecalc.cli.run.registered`), and heavy modules are imported inside the
commands, so ``--help`` and one-shot calls stay fast.
The command modules do without ``from __future__ import annotations``: with it, Typer
would evaluate every option's annotation from text on each start (about 6 ms).
"""

import gc
import sys

__all__ = ["main"]


def main() -> None:
    """Console-script entry point: run one command line and exit with its status.

    Cyclic garbage collection is off while the command runs, and what is alive at the end
    is frozen: start-up creates tens of thousands of objects that live until exit
    (modules, classes, the schedule), and collecting them over and over, then once more
    at exit, cost a fifth of a one-shot ``duty`` call. Commands that stream input turn
    it back on (:func:`tradecalc.cli.app.streaming`).

    Ctrl-C at any point, even during the first imports, ends with one line and status 130
    (also when it lands in a callback whose exceptions Python ignores).
    """
    previous_hook, sys.unraisablehook = sys.unraisablehook, _interrupt_again
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from tradecalc.cli.run import run

        run()
    except KeyboardInterrupt:  # Ctrl-C while the command line machinery is still importing
        print("tradecalc: error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        sys.unraisablehook = previous_hook
        gc.freeze()
        if was_enabled:
            gc.enable()


def _interrupt_again(unraisable: "sys.UnraisableHookArgs") -> None:
    """A Ctrl-C that landed in a callback Python ignores (an import lock's, during start-up)
    is raised again 50 ms later, from a timer, instead of printing a trace and running on.

    Not from here: a signal raised inside the hook would be ignored too."""
    import signal

    if isinstance(unraisable.exc_value, KeyboardInterrupt) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _raise_interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        return
    sys.__unraisablehook__(unraisable)


def _raise_interrupt(_number: int, _frame: object) -> None:
    raise KeyboardInterrupt
