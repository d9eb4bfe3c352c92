"""``tradecalc refund`` and ``tradecalc audit``: past entries against the dated schedule."""

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradecalc.cli.app import DataOption, Format, FormatOption, app, load, streaming
from tradecalc.core.errors import ExitCode, UsageError
from tradecalc.core.files import CsvRecords, LineReader, atomic_text, open_stream

if TYPE_CHECKING:
    from tradecalc.analysis.refund import Report
    from tradecalc.schedule.load import LoadedSchedule

EntriesArgument = Annotated[
    Path,
    typer.Argument(
        metavar="ENTRIES",
        help="ACE ES-003 export (CSV), or tradecalc's own entries CSV; - for stdin.",
        show_default=False,
        dir_okay=False,
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Routes and deadlines as of DATE.",
        show_default="today",
    ),
]


LiquidationOption = Annotated[
    Path | None,
    typer.Option(
        "--liquidation",
        metavar="FILE",
        help="Liquidation date and status per entry number (ACE ES-701 export, CSV).",
        show_default=False,
        dir_okay=False,
    ),
]


def _report(
    entries: Path,
    as_of: str | None,
    corporate: bool,
    data: Path | None = None,
    liquidation: Path | None = None,
) -> "tuple[Report, LoadedSchedule]":
    from tradecalc.analysis.refund import build_report, parse_date, read_liquidation
    from tradecalc.hts.providers import imported_schedule

    when = parse_date(as_of, "--as-of") if as_of else date.today()
    loaded = load(data)
    streaming()  # an input of any length: memory stays flat
    bad: list[tuple[int, str]] = []
    known = None
    if liquidation is not None:
        stream, _ = open_stream(str(liquidation))
        with stream:
            lines = LineReader(stream, str(liquidation))
            known = read_liquidation(CsvRecords(lines, "liquidation file"), bad)
    stream, _ = open_stream(str(entries))
    with stream, imported_schedule() as base_rates:
        report = build_report(
            CsvRecords(
                LineReader(stream, "stdin" if str(entries) == "-" else str(entries)),
                "entries file",
            ),
            loaded.schedule,
            as_of=when,
            corporate=corporate,
            base_rates=base_rates,
            liquidation=known,
            bad_rows=bad,
        )
    return report, loaded


def _print(text_or_table: Any) -> None:
    if isinstance(text_or_table, str):
        sys.stdout.write(text_or_table)
        return
    if isinstance(text_or_table, Iterator):
        sys.stdout.writelines(text_or_table)  # a document in pieces, never whole
        return
    from rich.console import Console

    Console(highlight=False, emoji=False).print(text_or_table)


@app.command(
    epilog="Examples:\n\n"
    "  tradecalc refund es003.csv --as-of 2026-12-02\n\n"
    "  tradecalc refund es003.csv --cape-dir cape/ --format json > refund.json\n\n"
    "  tradecalc refund es003.csv --liquidation es701.csv\n\n"
    "Routes: cape, reconciliation, protest, finally-liquidated, excluded, none. "
    "Exit status: 0 when every entry computed cleanly, 1 when a row, an entry number or a "
    "line needs review.",
)
def refund(
    entries: EntriesArgument,
    as_of: AsOfOption = None,
    cape_dir: Annotated[
        Path | None,
        typer.Option(
            "--cape-dir",
            metavar="DIR",
            file_okay=False,
            help="Write CAPE upload files cape-001.csv, ... here.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = Format.table,
    non_corporate: Annotated[
        bool, typer.Option("--non-corporate", help="Interest at the non-corporate rate.")
    ] = False,
    data: DataOption = None,
    liquidation: LiquidationOption = None,
) -> None:
    """IEEPA refunds of past entries: paid vs expected, route, deadline, interest, CAPE files."""
    from tradecalc.analysis.refund import NOTICE
    from tradecalc.render.refund import report_csv_chunks, report_json_chunks, report_table

    report, loaded = _report(entries, as_of, not non_corporate, data, liquidation)
    version, sha = loaded.schedule.version, loaded.sha256
    with report:  # removes the run's temporary file however this ends
        if output_format is Format.json:
            _print(report_json_chunks(report, version, sha))
        elif output_format is Format.csv:
            _print(report_csv_chunks(report, version, sha))
            sys.stderr.write(f"{NOTICE}\n")  # once, outside the data
        else:
            _print(report_table(report))
        if cape_dir is not None:
            _write_cape(cape_dir, report)
        if report.bad_rows or report.summary.review:
            raise typer.Exit(ExitCode.NEEDS_REVIEW)


def _write_cape(folder: Path, report: "Report") -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
    for number, chunk in enumerate(report.cape_chunks(), start=1):
        with atomic_text(folder / f"cape-{number:03d}.csv") as stream:
            stream.write("Entry Number\n")
            stream.writelines(f"{entry}\n" for entry in chunk)


@app.command(
    epilog="Examples:\n\n"
    "  tradecalc audit es003.csv\n\n"
    "  tradecalc audit es003.csv --format csv > deviations.csv\n\n"
    "Kinds: missing (expected, not filed), extra (filed, not expected), wrong-period (a "
    "heading in force at other dates only), amount-off (> 0.5%). "
    "Exit status: 0 when every line matches, 1 when any deviates or needs review.",
)
def audit(
    entries: EntriesArgument,
    output_format: FormatOption = Format.table,
    data: DataOption = None,
) -> None:
    """Chapter 99 lines filed on past entries against those the schedule expects."""
    from tradecalc.analysis.refund import NOTICE
    from tradecalc.render.refund import audit_csv_chunks, audit_json_chunks, audit_table

    report, loaded = _report(entries, None, True, data)
    with report:
        if output_format is Format.json:
            _print(audit_json_chunks(report, loaded.schedule.version, loaded.sha256))
        elif output_format is Format.csv:
            _print(audit_csv_chunks(report))
            sys.stderr.write(f"{NOTICE}\n")  # once, outside the data
        else:
            _print(audit_table(report))
        if report.bad_rows or report.summary.flagged:
            raise typer.Exit(ExitCode.NEEDS_REVIEW)
