"""``tradecalc impact``: what regimes do to a whole trade flow, trade-weighted."""

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradecalc.cli.app import (
    DataOption,
    DatesOption,
    FxOption,
    NoHtsOption,
    RegimeOption,
    ScenarioOption,
    SetOption,
    app,
    load,
)
from tradecalc.core.errors import DataError, ExitCode, UsageError

if TYPE_CHECKING:
    from tradecalc.render.impact import ImpactReport


class Level(StrEnum):
    """Breakdowns of ``impact --by``."""

    section = "section"
    chapter = "chapter"
    heading = "heading"


class ImpactFormat(StrEnum):
    """Output formats of ``impact``."""

    table = "table"
    json = "json"
    csv = "csv"
    chart = "chart"


@app.command(
    epilog="Examples:\n\n"
    "  tradecalc impact                               # 2024 US imports from China\n\n"
    "  tradecalc impact --dest CN --by section        # 2024 US exports to China\n\n"
    "  tradecalc impact my-basket.csv --regime pre-geneva --regime geneva --top 10\n\n"
    "  tradecalc impact --timeline --from 2025-01-01 --format chart\n\n"
    "A basket is CSV or JSONL with hs and value (and optionally origin, dest, qty, unit, metal), "
    "like a batch input. Average = duty / customs value; increment = average minus the "
    "baseline's. Exit status: 1 when any value needs review, else 0.",
)
def impact(
    basket: Annotated[
        Path | None,
        typer.Argument(
            metavar="[BASKET]",
            help="CSV or JSONL basket (default: the bundled 2024 basket of --dest).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    dest: Annotated[
        str, typer.Option(help="Importer of the default basket: US or CN.", metavar="CC")
    ] = "US",
    regime: RegimeOption = None,
    scenario: ScenarioOption = None,
    set_: SetOption = None,
    date: DatesOption = None,
    timeline: Annotated[
        bool, typer.Option(help="Every change instant in the data from --from to today.")
    ] = False,
    start: Annotated[
        str, typer.Option("--from", metavar="DATE", help="Start of --timeline.")
    ] = "2025-01-01",
    baseline: Annotated[
        str | None,
        typer.Option(help="Regime the increment is measured from.", show_default="the first"),
    ] = None,
    by: Annotated[
        Level | None,
        typer.Option(help="Break down by section, chapter or heading.", show_default=False),
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="List the N codes whose duty changed most.")] = 0,
    metal_shares: Annotated[
        str | None,
        typer.Option(
            metavar="estimate",
            help="'estimate': BEA-based metal shares where a row declares none.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        ImpactFormat, typer.Option("--format", help="table, json, csv or chart.")
    ] = ImpactFormat.table,
    chart: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Also write a chart to FILE.svg or FILE.png (needs the chart extra).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    fx: FxOption = None,
    data: DataOption = None,
    no_hts: NoHtsOption = False,
) -> None:
    """Trade-weighted duty of a basket of goods under regimes, dates or a timeline."""
    from tradecalc.analysis.impact import (
        change_instants,
        default_basket,
        measure_impact,
        metal_estimates,
        open_impact_tables,
    )
    from tradecalc.analysis.impact import read_basket as read
    from tradecalc.batch.rows import RowError
    from tradecalc.engine.inputs import parse_fx
    from tradecalc.engine.selection import instant_view, select_views
    from tradecalc.hts.providers import imported_schedule
    from tradecalc.render.impact import ImpactReport

    dest = dest.upper()
    if dest not in ("US", "CN"):
        raise UsageError(f"--dest {dest!r}: use US (imports from China) or CN (exports to China)")
    if metal_shares not in (None, "estimate"):
        raise UsageError(f"--metal-shares {metal_shares!r}: the only choice is 'estimate'")
    if chart is not None and chart.suffix.lower() not in (".svg", ".png"):
        raise UsageError(f"--chart {chart}: name an .svg or .png file")
    loaded = load(data)
    schedule = loaded.schedule
    path = basket or default_basket(dest)
    name = path.name if basket is None else str(path)
    lines = _read_lines(path)
    fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    shipments, errors = [], []
    for item in read(lines, fmt):
        if isinstance(item, RowError):
            errors.append(item)
        else:
            shipments.append(item[1])
    if errors:
        first = errors[0]
        sys.stderr.write(
            f"tradecalc: {len(errors):,} basket rows skipped (row {first.row}: {first.reason})\n"
        )
    if not shipments:
        raise DataError(f"{name}: no shipments to assess")
    with imported_schedule(not no_hts) as imported:
        if timeline:
            end = datetime.now().replace(second=0, microsecond=0)
            first_instant = datetime.fromisoformat(start)
            views = [
                instant_view(t)
                for t in change_instants(schedule, shipments[0].dest, first_instant, end, imported)
            ]
        else:
            views = select_views(schedule, regime or [], scenario or [], set_ or [], date or [])
        impacts = measure_impact(
            schedule,
            shipments,
            views,
            fx=parse_fx(fx or ()),
            base_rates=imported,
            level=by.value if by else None,
            estimates=metal_estimates() if metal_shares else None,
            tables=open_impact_tables(schedule, imported, loaded.sha256),
        )
    chosen = next((i for i in impacts if i.view.id == baseline), None) if baseline else impacts[0]
    if chosen is None:
        raise UsageError(f"--baseline {baseline!r} is not one of the computed regimes")
    currency = schedule.parties[shipments[0].dest].currency
    report = ImpactReport(
        impacts,
        chosen,
        name,
        currency,
        schedule.version,
        loaded.sha256,
        by.value if by else None,
        top,
        metal_shares is not None,
    )
    _emit(report, output_format)
    if chart is not None:
        from tradecalc.render.impact import write_chart

        try:
            write_chart(report, chart)
        except ImportError:
            raise UsageError("--chart needs matplotlib: pip install 'tradecalc[chart]'") from None
    if errors or any(i.review_value for i in impacts):
        raise typer.Exit(int(ExitCode.NEEDS_REVIEW))


def _read_lines(path: Path) -> list[str]:
    from tradecalc.core.files import read_text

    return read_text(path).splitlines()


def _emit(report: "ImpactReport", output_format: ImpactFormat) -> None:
    from rich.console import Console

    from tradecalc.render.impact import impact_csv, impact_json, impact_table, terminal_chart

    if output_format is ImpactFormat.json:
        sys.stdout.write(impact_json(report))
    elif output_format is ImpactFormat.csv:
        sys.stdout.write(impact_csv(report))
    else:
        console = Console(highlight=False, emoji=False)
        chart = output_format is ImpactFormat.chart
        console.print(terminal_chart(report) if chart else impact_table(report, console.width))
