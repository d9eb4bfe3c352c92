"""The ``tradecalc`` command line: parse, call the library, render, map errors to exit codes.

Results go to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 invalid data or a result
that needs review, 2 usage error. Each command family lives in its own module; heavy
modules are imported inside the commands so ``--help`` and simple calls stay fast.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from tradecalc.cli import batch, data, duty, hts  # noqa: F401  (registers the commands)
from tradecalc.cli.app import app
from tradecalc.errors import DataError, ExitCode, TradecalcError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the app and turn any failure into a clean exit."""
    try:
        app()
    except TradecalcError as exc:
        if isinstance(exc, DataError):
            for diagnostic in exc.diagnostics[:20]:
                typer.echo(str(diagnostic), err=True)
        _fail_plain(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail_plain("interrupted", ExitCode.NEEDS_REVIEW)
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(int(ExitCode.NEEDS_REVIEW)) from None
    except Exception as exc:
        _fail_plain(
            f"internal error: {type(exc).__name__}: {exc} (please report this)",
            ExitCode.NEEDS_REVIEW,
        )


def _fail_plain(message: str, code: ExitCode) -> NoReturn:
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")  # e.g. from a file name
    print(f"tradecalc: error: {one_line}", file=sys.stderr)
    raise SystemExit(int(code))
