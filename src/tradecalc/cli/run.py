"""Run one command line: parse it, dispatch to a command, map every failure to an exit code.

Results go to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 invalid data or a result
that needs review, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from tradecalc.cli.app import traceback_wanted
from tradecalc.core.errors import DataError, ExitCode, Terminated, TradecalcError, one_line
from tradecalc.core.files import install_signal_cleanup

__all__ = ["registered", "run"]

MODULES = {
    "duty": "duty",
    "batch": "batch",
    "impact": "impact",
    "refund": "refund",
    "audit": "refund",
    "hts": "hts",
    "validate": "data",
    "schema": "data",
    "diff": "data",
    "regimes": "data",
    "rates": "data",
}
"""The module that declares each command."""


def registered(argv: Sequence[str] = ()) -> typer.Typer:
    """The app with its commands: only the module of the command ``argv`` names (a one-shot
    call then imports and builds one command family), else every command (for help,
    completion, an unknown or missing command)."""
    from tradecalc.cli.app import app

    words = [arg for arg in argv[1:] if not arg.startswith("-")]
    named = MODULES.get(words[0]) if words else None
    completing = any(key.endswith("_COMPLETE") for key in os.environ)
    for module in sorted(set(MODULES.values())) if named is None or completing else [named]:
        importlib.import_module(f"tradecalc.cli.{module}")
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the app with every command, e.g. for tests and documentation tools
        return registered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Run the app on ``sys.argv`` and turn any failure into a clean exit."""
    install_signal_cleanup()
    try:
        app = registered(sys.argv)
        code = app(prog_name="tradecalc", standalone_mode=False)
    except typer.Abort:
        _fail_plain("interrupted", ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # Click's usage errors: unknown option, missing value
        message, status = _usage_message(exc)
        if not message:  # no arguments at all: the help was shown
            raise SystemExit(status) from None
        _fail_plain(message, status)
    except TradecalcError as exc:
        if isinstance(exc, DataError):
            for diagnostic in exc.diagnostics[:20]:
                typer.echo(str(diagnostic), err=True)
        _fail_plain(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail_plain("interrupted", ExitCode.INTERRUPTED)
    except Terminated as exc:  # SIGTERM/SIGHUP: temporary files are gone; 143 or 129
        name = signal.Signals(exc.signal_number).name
        _fail_plain(f"stopped by {name}", 128 + exc.signal_number)
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(int(ExitCode.NEEDS_REVIEW)) from None
    except BaseException as exc:
        if not _unexpected(exc):
            raise
        if traceback_wanted():
            import traceback

            traceback.print_exc()
            hint = "please report this with the trace above"
        else:
            hint = "please report this; rerun with --traceback for the trace"
        _fail_plain(f"internal error: {type(exc).__name__}: {exc} ({hint})", ExitCode.NEEDS_REVIEW)
    if code == ExitCode.INTERRUPTED:  # Ctrl-C: typer turns KeyboardInterrupt into exit 130
        _fail_plain("interrupted", ExitCode.INTERRUPTED)
    raise SystemExit(code if isinstance(code, int) else 0)


def _unexpected(exc: BaseException) -> bool:
    """A bug, ours or a library's: any Exception, or a panic in compiled code (pyo3's
    ``PanicException``, as polars raises, derives from BaseException, not Exception)."""
    return isinstance(exc, Exception) or type(exc).__module__ == "pyo3_runtime"


def _usage_message(exc: typer.TyperException) -> tuple[str, int]:
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    message = str(message).replace("Value error, ", "")  # pydantic's prefix, via Typer's coercion
    code = getattr(exc, "exit_code", ExitCode.USAGE)
    ctx = getattr(exc, "ctx", None)
    if message and code == ExitCode.USAGE:
        message += f" (see: {getattr(ctx, 'command_path', 'tradecalc')} --help)"
    return str(message), int(code)


def _fail_plain(message: str, code: int) -> NoReturn:
    print(f"tradecalc: error: {one_line(message)}", file=sys.stderr)  # e.g. from a file name
    raise SystemExit(int(code))
