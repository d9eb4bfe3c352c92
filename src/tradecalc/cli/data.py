"""Commands about the schedule data: ``validate``, ``schema``, ``diff``, ``regimes``, ``rates``."""

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradecalc.cli.app import (
    DataOption,
    DestOption,
    Format,
    FormatOption,
    NoHtsOption,
    OriginOption,
    app,
    examples,
    load,
)
from tradecalc.core.errors import DataError, ExitCode, UsageError

if TYPE_CHECKING:
    from tradecalc.schedule.load import LoadedSchedule


class ExportFormat(StrEnum):
    """File formats of ``rates export``."""

    csv = "csv"
    parquet = "parquet"


def _export(loaded: "LoadedSchedule", providers: Any, fmt: str, output: Path | None) -> None:
    """``rates export``: the whole table (codes the cache lacks are compiled first)."""
    if output is not None and str(output) == "-":
        output = None
    from tradecalc.batch.export import write_csv, write_parquet
    from tradecalc.engine.compiled import open_tables
    from tradecalc.schedule.load import cache_dir

    tables = open_tables(loaded.schedule, providers, loaded.sha256, cache_dir())
    if fmt == "parquet":
        if output is None:
            raise UsageError("--format parquet needs -o FILE")
        count = write_parquet(tables, output)
    elif output is None:
        count = write_csv(tables, sys.stdout)
    else:
        from tradecalc.core.files import atomic_text

        with atomic_text(output) as handle:
            count = write_csv(tables, handle)
    tables.save()
    if output is not None:
        typer.echo(f"wrote {count:,} rows to {output}", err=True)


class CheckFormat(StrEnum):
    """Output formats of ``validate``."""

    text = "text"
    github = "github"
    json = "json"


def _console() -> Any:
    """stdout's console: $COLUMNS wide, else the terminal's, else (in a pipe) Rich's 80."""
    from rich.console import Console

    return Console(highlight=False)


@app.command(
    epilog=examples(
        ("The bundled data", "tradecalc validate"),
        (
            "Your files, as GitHub annotations",
            "tradecalc validate my-rates.yaml scenarios/*.yaml --format github",
        ),
    )
    + "\n\nExit status: 0 when every file is clean, 1 when any problem is found."
)
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE",
            help="Schedule or scenario files. A file with a top-level 'scenario:' key is "
            "checked against --data.",
            show_default="the bundled data",
        ),
    ] = None,
    output_format: Annotated[
        CheckFormat, typer.Option("--format", help="text, github (annotations) or json.")
    ] = CheckFormat.text,
    data: DataOption = None,
    unconfirmed: Annotated[
        bool,
        typer.Option(
            "--unconfirmed",
            help="Also list every fact marked unconfirmed (file:line:col: owner: why).",
        ),
    ] = False,
) -> None:
    """Check data files: schema and semantic checks, every problem as file:line:col: message."""
    from tradecalc.render.data import diagnostics_github, diagnostics_json, diagnostics_text
    from tradecalc.schedule.load import default_path
    from tradecalc.schedule.validation import unconfirmed_facts, validate_files

    paths = files or [default_path()]
    found = validate_files(paths, lambda: load(data).schedule)
    render = {
        CheckFormat.text: diagnostics_text,
        CheckFormat.github: diagnostics_github,
        CheckFormat.json: diagnostics_json,
    }[output_format]
    if found or output_format is CheckFormat.json:
        sys.stdout.write(render(found))
    count, files_bad = len(found), len({d.location.file for d in found})
    if found:
        typer.echo(
            f"tradecalc: {count} problem{'s' if count != 1 else ''} in "
            f"{files_bad} of {len(paths)} file{'s' if len(paths) != 1 else ''}",
            err=True,
        )
        raise typer.Exit(int(ExitCode.NEEDS_REVIEW))
    facts = [f for path in paths for f in unconfirmed_facts(path)]
    if unconfirmed and facts:
        sys.stdout.write(diagnostics_text(facts))
    hint = "" if unconfirmed or not facts else " (list them with --unconfirmed)"
    typer.echo(
        f"tradecalc: {len(paths)} file{'s' if len(paths) != 1 else ''} OK; "
        f"{len(facts)} fact{'s' if len(facts) != 1 else ''} marked unconfirmed{hint}",
        err=True,
    )


@app.command()
def schema(
    scenario: Annotated[
        bool, typer.Option("--scenario", help="The schema of scenario files instead.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write to FILE instead of stdout (- is stdout).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of schedule files (or scenario files), for editors and CI."""
    import json

    from tradecalc.core.files import write_atomic
    from tradecalc.schedule.fields import json_schema
    from tradecalc.schedule.models import ScenarioFile, Schedule

    model = ScenarioFile if scenario else Schedule
    kind = "scenario" if scenario else "schedule"
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://tradecalc.invalid/{kind}.schema.json",
        **json_schema(model),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None or str(output) == "-":
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"))


@app.command(
    epilog=examples(
        ("Two regimes of the bundled data", "tradecalc diff pre-geneva geneva"),
        ("A regime and a scenario file", "tradecalc diff geneva my-scenario.yaml"),
        ("Two data files, as CSV", "tradecalc diff old/rates.yaml data/rates.yaml --format csv"),
    )
    + "\n\nExit status: 0 whatever changed; 2 when an input is unknown or invalid."
)
def diff(
    a: Annotated[
        str,
        typer.Argument(metavar="A", help="Regime or scenario id, scenario file or data file."),
    ],
    b: Annotated[
        str,
        typer.Argument(metavar="B", help="Regime or scenario id, scenario file or data file."),
    ],
    output_format: FormatOption = Format.table,
    data: DataOption = None,
) -> None:
    """Show what changed between two regimes, two scenarios or two data files."""
    from tradecalc.render.data import diff_csv, diff_json, diff_table

    try:
        result = _diff(a, b, data)
    except DataError as exc:
        exc.exit_code = ExitCode.USAGE  # a bad input, not a finding
        raise
    if output_format is Format.json:
        sys.stdout.write(diff_json(result))
    elif output_format is Format.csv:
        sys.stdout.write(diff_csv(result))
    else:
        console = _console()
        console.print(diff_table(result, console.width))


def _diff(a: str, b: str, data: Path | None) -> Any:
    from tradecalc.engine.diff import diff_regimes, diff_schedules
    from tradecalc.schedule.load import load_schedule

    kinds = [_file_kind(a), _file_kind(b)]
    if kinds == ["schedule", "schedule"]:
        if data is not None:
            raise UsageError("diff of two data files: --data does not apply")
        old, new = load_schedule(Path(a)).schedule, load_schedule(Path(b)).schedule
        return diff_schedules(old, new, a, b)
    if "schedule" in kinds:
        raise UsageError("diff compares two regimes (or scenarios) or two data files, not a mix")
    from tradecalc.engine.selection import known_views

    loaded = load(data)
    files = [Path(x) for x, k in zip((a, b), kinds, strict=True) if k]
    views = known_views(loaded.schedule, files)
    for name in (a, b):
        if _key(name) not in views:
            raise UsageError(f"unknown regime {name!r}; known: {', '.join(views)}")
    return diff_regimes(loaded.schedule, views[_key(a)], views[_key(b)])


def _file_kind(arg: str) -> str | None:
    """``schedule``, ``scenario`` or None (an id) for a diff argument."""
    path = Path(arg)
    if not path.is_file():
        return None
    from tradecalc.schedule.loader import read_document

    doc = read_document(path)
    return "scenario" if isinstance(doc.data, dict) and "scenario" in doc.data else "schedule"


def _key(arg: str) -> str:
    return str(Path(arg)) if Path(arg).is_file() else arg


@app.command()
def regimes(
    output_format: FormatOption = Format.table,
    data: DataOption = None,
) -> None:
    """List the named regimes and scenarios with their dates and headline rates."""
    from tradecalc.engine.assessment import regime_views
    from tradecalc.engine.snapshot import headlines
    from tradecalc.render.data import regimes_csv, regimes_json, regimes_table

    schedule = load(data).schedule
    rows = [(view, headlines(schedule, view)) for view in regime_views(schedule).values()]
    if output_format is Format.json:
        sys.stdout.write(regimes_json(schedule.version, rows))
    elif output_format is Format.csv:
        sys.stdout.write(regimes_csv(rows))
    else:
        console = _console()
        console.print(regimes_table(schedule.version, rows, console.width))


@app.command(
    epilog=examples(
        ("Toys from China into the US", "tradecalc rates 9503.00.0073"),
        ("US soybeans into China", "tradecalc rates 1201.90 --dest CN"),
        ("The compiled rate table", "tradecalc rates export --format parquet -o rates.parquet"),
    )
)
def rates(
    code: Annotated[
        str,
        typer.Argument(
            metavar="CODE", help="HS/HTS code, e.g. 9503.00.0073, or 'export' (the table)."
        ),
    ],
    origin: OriginOption = None,
    dest: DestOption = None,
    data: DataOption = None,
    no_hts: NoHtsOption = False,
    table_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="With 'export': the table's file format."),
    ] = "csv",  # type: ignore[assignment]
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="With 'export': where to write (- is stdout)."
        ),
    ] = None,
) -> None:
    """Show every measure touching a code over time, and a chart of the total rate.

    ``rates export`` writes the compiled rate table instead (docs/rate-table.md)."""
    from tradecalc.hts.providers import imported_schedule

    if code == "export":
        with imported_schedule(not no_hts) as providers:
            _export(load(data), providers, table_format, output)
        return
    from tradecalc.engine.timeline import timeline
    from tradecalc.render.data import timeline_chart, timeline_table

    dest = (dest or ("CN" if origin == "US" else "US")).upper()
    origin = (origin or ("US" if dest == "CN" else "CN")).upper()
    schedule = load(data).schedule
    with imported_schedule(not no_hts) as providers:
        line = timeline(schedule, code, origin, dest, providers)
    console = _console()
    console.print(timeline_table(line, console.width))
    if any(e.unconfirmed for e in line.entries):
        console.print("† rests on an unconfirmed fact", markup=False)
    for text in timeline_chart(line):
        console.print(text, markup=False, soft_wrap=True)
