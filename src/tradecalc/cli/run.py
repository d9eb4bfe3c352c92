"""Run one command line: parse it, dispatch to a command, map every failure to an exit code.

Results go to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 invalid data or a result
that needs review, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from tradecalc.cli import batch, data, duty, hts, refund  # noqa: F401  (registers the commands)
from tradecalc.cli.app import app
from tradecalc.errors import DataError, ExitCode, TradecalcError

__all__ = ["app", "run"]


def run() -> None:
    """Run the app on ``sys.argv`` and turn any failure into a clean exit."""
    try:
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
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(int(ExitCode.NEEDS_REVIEW)) from None
    except Exception as exc:
        _fail_plain(
            f"internal error: {type(exc).__name__}: {exc} (please report this)",
            ExitCode.NEEDS_REVIEW,
        )
    if code == ExitCode.INTERRUPTED:  # Ctrl-C: typer turns KeyboardInterrupt into exit 130
        _fail_plain("interrupted", ExitCode.INTERRUPTED)
    raise SystemExit(code if isinstance(code, int) else 0)


def _usage_message(exc: typer.TyperException) -> tuple[str, int]:
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    code = getattr(exc, "exit_code", ExitCode.USAGE)
    ctx = getattr(exc, "ctx", None)
    if message and code == ExitCode.USAGE:
        message += f" (see: {getattr(ctx, 'command_path', 'tradecalc')} --help)"
    return str(message), int(code)


def _fail_plain(message: str, code: int) -> NoReturn:
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")  # e.g. from a file name
    print(f"tradecalc: error: {one_line}", file=sys.stderr)
    raise SystemExit(int(code))
