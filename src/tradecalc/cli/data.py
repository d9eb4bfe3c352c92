"""Commands about the schedule data: ``regimes`` and ``validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradecalc.cli.app import DataOption, app, load
from tradecalc.errors import DataError, ExitCode


@app.command()
def regimes(data: DataOption = None) -> None:
    """List the named regimes and scenarios of the schedule."""
    from rich.console import Console
    from rich.table import Table

    from tradecalc.engine import regime_views
    from tradecalc.models import format_when

    loaded = load(data)
    table = Table(title=f"Regimes in data {loaded.schedule.version}", title_justify="left")
    for column in ("Regime", "As of", "Title", "Description"):
        table.add_column(column)
    for view in regime_views(loaded.schedule).values():
        star = "*" if view.hypothetical else ""
        table.add_row(f"{view.id}{star}", format_when(view.as_of), view.title, view.description)
    Console(highlight=False).print(table)


@app.command()
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Schedule files (default: the bundled data).", show_default=False),
    ] = None,
) -> None:
    """Check schedule files: schema and semantic checks, as file:line:col: message."""
    from tradecalc.loader import read_text
    from tradecalc.schedules import compile_schedule, default_path

    failed = False
    for path in files or [default_path()]:
        try:
            compile_schedule(read_text(path), str(path))
        except DataError as exc:
            failed = True
            for diagnostic in exc.diagnostics or ():
                typer.echo(str(diagnostic))
            if not exc.diagnostics:
                typer.echo(str(exc))
    if failed:
        raise typer.Exit(int(ExitCode.NEEDS_REVIEW))
