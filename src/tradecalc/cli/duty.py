"""``tradecalc duty``: one shipment under one or more regimes."""

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tradecalc.cli.app import (
    DataOption,
    DestOption,
    Format,
    FormatOption,
    FxOption,
    NoHtsOption,
    OriginOption,
    RegimeOption,
    ScenarioOption,
    SetOption,
    app,
    examples,
    load,
    streaming,
)
from tradecalc.core.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from tradecalc.render.duty import Report


PIPE_WIDTH = 160
"""Table width when stdout is not a terminal and $COLUMNS is unset (Rich would use 80)."""


@app.command(
    epilog=examples(
        ("Toys from China under every named regime", "tradecalc duty 1000 --hs 9503.00.0073"),
        (
            "Before and after the Geneva truce",
            "tradecalc duty 1000 --hs 9503.00.0073 --regime pre-geneva --regime geneva",
        ),
        ("US chips into China", "tradecalc duty 5000 --hs 8542.31 --dest CN --freight 120"),
        (
            "What if the reciprocal tariff were 50%",
            "tradecalc duty 1000 --hs 9503.00.0073 --regime geneva \\\n"
            "  --set us-ieepa-reciprocal=50%",
        ),
        (
            "A battery that is not a vehicle part (note 33(h))",
            "tradecalc duty 1000 --hs 8507.60.0020 --date 2026-09-01 \\\n"
            "  --claim not-vehicle-part",
        ),
        (
            "A parcel of 3 postal items from China, charged per item",
            "tradecalc duty 120 --hs 6109.10.0012 --date 2025-06-01 \\\n"
            "  --entry postal-specific --items 3",
        ),
        (
            "Steel articles, 60% steel by value, as JSON",
            "tradecalc duty 1000 --hs 7326.90.8688 --metal steel=60% --format json",
        ),
    ),
)
def duty(
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="VALUE",
            help="Shipment value (transaction value; for China "
            "the goods value before freight and insurance).",
            show_default=False,
        ),
    ] = None,
    hs: Annotated[
        str | None,
        typer.Option("--hs", metavar="CODE", help="HS/HTS code, e.g. 9503.00.0073."),
    ] = None,
    origin: OriginOption = None,
    dest: DestOption = None,
    date: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Entry date, YYYY-MM-DD or YYYY-MM-DDTHH:MM (importer's local time). With "
            "--regime or --scenario, each is computed at its own moment and the date is only "
            "noted.",
            show_default=False,
        ),
    ] = None,
    regime: RegimeOption = None,
    scenario: ScenarioOption = None,
    set_: SetOption = None,
    currency: Annotated[
        str | None,
        typer.Option(metavar="CUR", help="Currency of the value.", show_default="the importer's"),
    ] = None,
    freight: Annotated[
        str | None,
        typer.Option(metavar="AMOUNT", help="International freight.", show_default=False),
    ] = None,
    insurance: Annotated[
        str | None,
        typer.Option(
            metavar="AMOUNT",
            help="Insurance.",
            show_default="none; into China 0.3% of cost and freight",
        ),
    ] = None,
    qty: Annotated[
        str | None,
        typer.Option(metavar="NUMBER", help="Quantity, for specific rates.", show_default=False),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            metavar="UNIT",
            help="Unit of --qty: kg, g, t, l, m2, m3, item, pair, doz, head, bbl.",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option(metavar="MODE", help="Transport: ocean, air, truck, rail, postal.")
    ] = "ocean",
    metal: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METAL=SHARE",
            help="Metal content: steel=40% (share) or steel=USD400 (amount); repeatable.",
            show_default=False,
        ),
    ] = None,
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim",
            metavar="ID",
            help="Declare a claim (e.g. civil-aircraft, not-vehicle-part, us-content=30%); "
            "repeatable; the README section Claims lists them.",
            show_default=False,
        ),
    ] = None,
    entry: Annotated[
        str | None,
        typer.Option(
            "--entry",
            metavar="TYPE",
            help="Entry type: formal, informal, de-minimis, postal (ad valorem postal duty) "
            "or postal-specific (per postal item, with --items).",
            show_default="formal",
        ),
    ] = None,
    items: Annotated[
        str | None,
        typer.Option(
            "--items",
            metavar="N",
            help="Postal items in the shipment, for --entry postal-specific.",
            show_default=False,
        ),
    ] = None,
    fx: FxOption = None,
    output_format: FormatOption = Format.table,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show why each layer applied or not, with citations.")
    ] = False,
    no_hts: NoHtsOption = False,
    stdin: Annotated[
        bool,
        typer.Option(
            "--stdin",
            help="Read one JSON shipment per line (batch column names) and answer each with "
            "one JSON line; options give the regimes and defaults.",
        ),
    ] = False,
    data: DataOption = None,
) -> None:
    """Compute the duty, fees and taxes on a shipment under one or more regimes."""
    from tradecalc.engine.assessment import assess
    from tradecalc.engine.inputs import ShipmentText, build_shipment, parse_fx
    from tradecalc.engine.selection import select_views
    from tradecalc.hts.providers import imported_schedule
    from tradecalc.render.duty import Report

    loaded = load(data)
    chosen = (regime or [], scenario or [], set_ or [])
    if stdin:
        streaming()
        from tradecalc.cli.serve import serve
        from tradecalc.engine.inputs import parse_overrides

        if value is not None or hs is not None:
            raise UsageError("--stdin reads the shipments from stdin: give no value or --hs")
        if claim:
            raise UsageError('--stdin reads claims from each line\'s "claims": give no --claim')
        if entry is not None or items is not None:
            raise UsageError(
                '--stdin reads the entry type from each line\'s "entry" and "items": '
                "give no --entry or --items"
            )
        views = select_views(loaded.schedule, *chosen, entry=date)
        explicit = bool(regime or scenario or date)
        overrides = parse_overrides(set_ or [])
        with imported_schedule(not no_hts) as imported:
            ok = serve(loaded, views, explicit, overrides, parse_fx(fx or ()), explain, imported)
        if not ok:
            raise typer.Exit(int(ExitCode.NEEDS_REVIEW))
        return
    shipment = build_shipment(
        ShipmentText(
            hs=hs or "",
            value=value or "",
            origin=origin,
            dest=dest,
            currency=currency,
            date=date,
            freight=freight,
            insurance=insurance,
            qty=qty,
            unit=unit,
            mode=mode,
            metal=tuple(metal or ()),
            claims=tuple(claim or ()),
            entry=entry,
            items=items,
        )
    )
    fx_table = parse_fx(fx or ())
    views = select_views(loaded.schedule, *chosen, entry=date)
    with imported_schedule(not no_hts) as imported:
        results = tuple(assess(loaded.schedule, shipment, v, fx_table, imported) for v in views)
    sources = {k: s.title for k, s in loaded.schedule.sources.items()}
    report = Report(
        shipment,
        results,
        loaded.schedule.version,
        loaded.sha256,
        {**(imported.sources() if imported else {}), **sources},
        {k: s.url for k, s in loaded.schedule.sources.items() if s.url},
    )
    _emit(report, output_format, explain)
    if any(r.needs_review for r in results):
        raise typer.Exit(int(ExitCode.NEEDS_REVIEW))


def _emit(report: "Report", output_format: Format, explain: bool) -> None:
    from tradecalc.render.duty import comparison_tables, footnotes, to_csv, to_json

    if output_format is Format.json:
        sys.stdout.write(to_json(report, explain))
    elif output_format is Format.csv:
        sys.stdout.write(to_csv(report))
    else:
        from rich.console import Console

        console = Console(highlight=False, emoji=False)
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = PIPE_WIDTH
        for table in comparison_tables(report, explain, console.width):
            console.print(table)
        for line in footnotes(report, explain):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
