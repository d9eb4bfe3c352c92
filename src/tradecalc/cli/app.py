"""The Typer application object and what every command shares."""

import gc
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradecalc import __version__

if TYPE_CHECKING:
    from tradecalc.schedules import LoadedSchedule

app = typer.Typer(
    name="tradecalc",
    help="US–China tariff calculator: landed duty under pre-Geneva, Geneva, later and "
    "hypothetical regimes, from versioned, sourced schedules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Format(StrEnum):
    """Output formats of ``duty``."""

    table = "table"
    json = "json"
    csv = "csv"


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Schedule file (default: $TRADECALC_DATA or the bundled data).",
        show_default=False,
        dir_okay=False,
    ),
]


OriginOption = Annotated[
    str | None,
    typer.Option(help="Country of origin [default: CN, or US when --dest CN].", show_default=False),
]
DestOption = Annotated[
    str | None,
    typer.Option(
        help="Importing country [default: US, or CN when --origin US].", show_default=False
    ),
]
ScenarioOption = Annotated[
    list[Path] | None,
    typer.Option(help="Scenario file; repeatable.", show_default=False, dir_okay=False),
]
NoHtsOption = Annotated[
    bool,
    typer.Option(
        "--no-hts",
        help="Ignore the official US schedule (bundled and imported HTS revisions): "
        "curated data only.",
    ),
]
FxOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Exchange rate CUR=RATE (units per 1 USD), e.g. CNY=7.18.", show_default=False
    ),
]


def load(data: Path | None) -> "LoadedSchedule":
    """Load the schedule named by ``--data`` (or the default one)."""
    from tradecalc.schedules import load_schedule

    return load_schedule(data)


def streaming() -> None:
    """Turn cyclic garbage collection back on (``main`` turns it off).

    For the commands that read a stream of unbounded length (``batch``, ``duty --stdin``):
    their memory then stays flat however long they run. Everything else reads bounded
    input (files of at most 32 MiB) and creates no cyclic garbage worth collecting:
    validating a 10 MB schedule peaks at the same memory either way, in half the time.
    """
    gc.enable()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tradecalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """US–China tariff calculator."""
