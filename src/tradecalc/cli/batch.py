"""``tradecalc batch``: a file of shipments under one or more regimes, streamed to a file."""

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from tradecalc.cli.app import (
    DataOption,
    FxOption,
    NoHtsOption,
    ScenarioOption,
    app,
    examples,
    load,
    regime_option,
    streaming,
)
from tradecalc.core.errors import ExitCode, UsageError
from tradecalc.core.files import LineReader, atomic_text, open_stream

if TYPE_CHECKING:
    from tradecalc.batch.rows import RowError, Summary
    from tradecalc.core.money import FxTable
    from tradecalc.engine.assessment import RegimeView
    from tradecalc.hts.base_rates import BaseRates
    from tradecalc.schedule.load import LoadedSchedule

_PROGRESS_EVERY = 2048
_LOG_WIDTH = 160
"""Width of the summary when stderr is not a terminal and $COLUMNS is unset (Rich: 80)."""


@app.command(
    epilog=examples(
        ("Every named regime, to a CSV file", "tradecalc batch imports.csv -o results.csv"),
        (
            "Two regimes, as JSON lines",
            "tradecalc batch imports.csv -o out.jsonl --regime pre-geneva --regime geneva",
        ),
        (
            "JSON lines from a pipe; bad rows to their own file",
            "cat lines.jsonl | tradecalc batch - --input-format jsonl --errors bad.csv",
        ),
    )
    + "\n\nColumns in: hs, value, origin, dest, currency, date, freight, insurance, qty, unit, "
    "mode, metal, claims, entry, items (as duty --entry, --items); others (e.g. sku) are "
    "copied to the output. Columns out: row, the copied "
    "columns, hs, regime, as_of, currency, customs_value, duty, fees, taxes, total, "
    "effective_rate, landed_cost, status, review, origin, dest, data_version, data_sha256. "
    "Without --regime, a row with a date is assessed under the schedule in force on that date "
    "(regime entry-date), a row without one under every named regime. A regime or scenario "
    "is computed at its own moment (the as_of column): a row's date does not move it.",
)
def batch(
    input_: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="CSV or JSONL file of shipments, or - for stdin.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Result file, written atomically; - for stdout (the default).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    regime: Annotated[list[str] | None, regime_option("see below")] = None,
    scenario: ScenarioOption = None,
    fx: FxOption = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="[csv|jsonl]",
            help="Output format.",
            show_default="from the output file name, else csv",
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input-format",
            metavar="[csv|jsonl]",
            help="Input format.",
            show_default="from the input file name, else csv",
        ),
    ] = None,
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Write bad rows (row,error) to this CSV file instead of stderr.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    data: DataOption = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes; output and its order are the same for any number.",
        ),
    ] = 1,
    no_hts: NoHtsOption = False,
) -> None:
    """Assess a CSV or JSONL file of shipments: one result row per shipment and regime."""
    streaming()
    from tradecalc.batch.rows import block_bytes, format_for
    from tradecalc.engine.inputs import parse_fx
    from tradecalc.hts.providers import imported_schedule

    if output is not None and str(output) == "-":
        output = None
    out_fmt = _choose_format(output_format, format_for(str(output) if output else None))
    in_fmt = _choose_format(input_format, format_for(None if input_ == "-" else input_))
    _refuse_clashes(input_, output, errors)
    jobs = usable_jobs(jobs)
    loaded = load(data)
    views: list[RegimeView] = []
    if regime or scenario:
        from tradecalc.engine.selection import select_views

        views = select_views(loaded.schedule, regime or [], scenario or [])
    with contextlib.ExitStack() as stack:
        rates = (parse_fx(fx or ()), stack.enter_context(imported_schedule(not no_hts)))
        stream, size = open_stream(input_)
        if input_ != "-":
            stack.callback(stream.close)
        on_error: Callable[[RowError], None] = _echo_error
        if errors is not None:
            on_error = _error_writer(stack.enter_context(atomic_text(errors)))
        out = sys.stdout if output is None else stack.enter_context(atomic_text(output))
        with _progress(size, sys.stderr.isatty()) as on_read:
            name = "stdin" if input_ == "-" else input_
            first, later = block_bytes(len(views), jobs)
            lines = LineReader(stream, name, on_read=on_read, block=first, later_block=later)
            summary = _run(loaded, lines, in_fmt, out, out_fmt, views, rates, on_error, jobs)
    _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(int(ExitCode.NEEDS_REVIEW))


def _choose_format(given: str | None, default: str) -> str:
    fmt = (given or default).lower()
    if fmt not in ("csv", "jsonl"):
        raise UsageError(f"--format {given!r}: use csv or jsonl")
    return fmt


def _refuse_clashes(input_: str, output: Path | None, errors: Path | None) -> None:
    """Refuse an output that is the input, or results and errors in one file (exit 2)."""
    if output is not None and errors is not None and _same_file(output, errors):
        raise UsageError(
            f"--output and --errors are the same file ({output}): the results would be lost"
        )
    if input_ == "-":
        return
    for option, path in (("--output", output), ("--errors", errors)):
        if path is not None and _same_file(Path(input_), path):
            raise UsageError(f"{option} {path} is the input file: it would be overwritten")


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one regular file, or one path not created yet.

    Existing files are compared by device and inode (hard links, symlinks, ``..``); a
    device such as /dev/null may well be both.
    """
    try:
        return os.path.samefile(a, b) and stat.S_ISREG(os.stat(b).st_mode)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def usable_jobs(jobs: int) -> int:
    """``jobs``, capped at the CPUs this process may run on (with a note on stderr)."""
    available = available_cpus()
    if jobs <= available:
        return jobs
    print(
        f"tradecalc: note: --jobs {jobs:,} is more than the {available} CPUs available; "
        f"using {available}",
        file=sys.stderr,
    )
    return available


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def _run(
    loaded: "LoadedSchedule",
    lines: LineReader,
    in_fmt: str,
    out: IO[str],
    out_fmt: str,
    views: "Sequence[RegimeView]",
    rates: "tuple[FxTable, BaseRates | None]",
    on_error: "Callable[[RowError], None]",
    jobs: int = 1,
) -> "Summary":
    from tradecalc.batch.rows import read_rows, run

    rows = read_rows(lines, in_fmt)
    fx, base_rates = rates
    schedule, sha256 = loaded.schedule, loaded.sha256
    return run(schedule, rows, out, out_fmt, views, fx, on_error, jobs, base_rates, sha256)


def _echo_error(error: "RowError") -> None:
    sys.stderr.write(f"tradecalc: {error}\n")  # one write a line


@contextlib.contextmanager
def _progress(size: int, show: bool) -> "Iterator[Callable[[LineReader], None] | None]":
    """A Rich progress bar on stderr, fed by the input reader after each read.

    With the input's ``size`` known (a regular file) the bar is the share of its bytes read;
    otherwise (a pipe) it counts the lines read. Input is read as rows are assessed (ahead
    by a block, or a few chunks with ``--jobs``), so either follows the work done. Nothing is
    shown when ``show`` is false (stderr is not a terminal).
    """
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[lines]:,} lines"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("assessing", total=size or None, lines=0)

        def update(reader: LineReader) -> None:
            progress.update(task, completed=reader.consumed, lines=reader.lines)

        yield update


def _error_writer(stream: IO[str]) -> "Callable[[RowError], None]":
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(("row", "error"))
    return lambda error: writer.writerow((error.row, error.reason))


def _print_summary(summary: "Summary") -> None:
    """The per-regime totals on stderr: a table when it fits the width, else one line each.

    Off a terminal the width is $COLUMNS, else wide enough for a line of a log file.
    """
    from rich.console import Console

    from tradecalc.render.batch import summary_footer, summary_totals

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _LOG_WIDTH
    for item in summary_totals(summary, console.width):
        console.print(item, markup=False)
    console.print(summary_footer(summary), markup=False, soft_wrap=True)
