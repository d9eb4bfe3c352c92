"""Error types shared by every layer, and the exit codes the CLI maps them to."""

from __future__ import annotations

from enum import IntEnum

from tradecalc.core.records import record


class ExitCode(IntEnum):
    """Process exit codes: a documented contract for scripts and CI."""

    OK = 0
    NEEDS_REVIEW = 1  # invalid data, or a result that needs a human look
    USAGE = 2
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


_LINE_BREAKS = {"\n": "\\n", "\r": "\\r"} | {
    c: f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
    for c in "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
}
_ONE_LINE = str.maketrans(_LINE_BREAKS)


def one_line(text: str) -> str:
    """``text`` with every character that ends a line for ``str.splitlines`` written as its
    escape (a newline as backslash-n), so a message quoting user input stays one line."""
    return text.translate(_ONE_LINE)


@record
class SourceLocation:
    """A position in a data file, 1-based, for compiler-style messages."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@record
class Diagnostic:
    """One problem found in a data file."""

    location: SourceLocation
    message: str
    level: str = "error"

    def __str__(self) -> str:
        return one_line(f"{self.location}: {self.message}")


class TradecalcError(Exception):
    """Base class: every expected failure; the CLI turns it into one stderr line."""

    exit_code: ExitCode = ExitCode.NEEDS_REVIEW


class UsageError(TradecalcError, ValueError):
    """The caller asked for something malformed (bad code, bad number, unknown name)."""

    exit_code = ExitCode.USAGE


class DataError(TradecalcError):
    """A data or scenario file is unreadable or invalid; carries every diagnostic found."""

    exit_code = ExitCode.NEEDS_REVIEW

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class MissingFxRateError(TradecalcError, LookupError):
    """No exchange rate is known for a currency the shipment needs."""

    exit_code = ExitCode.NEEDS_REVIEW


class WriteError(TradecalcError):
    """A file could not be written (disk full, read-only, permissions, a bad path)."""

    exit_code = ExitCode.NEEDS_REVIEW


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (removing temporary files) and exit 128 + signal."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


MAX_MESSAGE_CHARS = 400
"""Longest message about one batch row or ``--stdin`` line; longer ones keep head and tail."""


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, or its start and end around ``…`` when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]}…{text[len(text) - (limit - head - 1) :]}"


def failure_reason(exc: Exception) -> str:
    """What to say about one batch row or ``--stdin`` line that raised ``exc``.

    A tradecalc error says what is wrong; a ValueError or ArithmeticError (a value the
    engine cannot compute with) says the row cannot be assessed; anything else is a bug,
    reported as an internal error of that row alone.
    """
    if isinstance(exc, TradecalcError):
        text = str(exc)
    elif isinstance(exc, ValueError | ArithmeticError):
        text = f"cannot be assessed: {type(exc).__name__}: {exc}"
    else:
        text = f"internal error: {type(exc).__name__}: {exc} (please report this)"
    return shorten(text)
