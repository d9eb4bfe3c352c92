"""Turn assessments into a Rich comparison table, JSON or CSV. Reads results, computes nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from decimal import Decimal
from typing import Any

from tradecalc.core.money import effective_percent
from tradecalc.core.records import record
from tradecalc.core.status import NEEDS_REVIEW, OK, status, status_label
from tradecalc.engine.assessment import Assessment, Line, Shipment, Step
from tradecalc.schedule.models import format_when

DASH = "—"


@record
class Report:
    """Everything one ``duty`` call shows: the shipment, its assessments, the data used."""

    shipment: Shipment
    results: tuple[Assessment, ...]
    data_version: str
    data_sha256: str
    sources: dict[str, str]
    """Source id -> title, for citations."""
    urls: Mapping[str, str] = field(default_factory=dict)
    """Source id -> address, for citations (``--explain``)."""


def money(amount: Decimal) -> str:
    """``1234.5`` -> ``'1,234.50'``."""
    return f"{amount:,.2f}"


# ----------------------------------------------------------------------------- JSON


def _line_json(line: Line) -> dict[str, Any]:
    data: dict[str, Any] = {
        "measure": line.measure,
        "heading": line.heading,
        "rate": str(line.rate),
        "base": str(line.base),
        "amount": str(line.amount),
        "source": list(line.source),
    }
    if line.unconfirmed:
        data["unconfirmed"] = line.unconfirmed
    return data


def _step_json(step: Step) -> dict[str, Any]:
    return {"measure": step.measure, "applied": step.applied, "reason": step.reason}


def result_json(result: Assessment, explain: bool = False) -> dict[str, Any]:
    """One assessment in the JSON contract (amounts as decimal strings)."""
    data: dict[str, Any] = {
        "regime": result.regime,
        "as_of": format_when(result.as_of),
        "currency": result.currency,
        "customs_value": str(result.customs_value),
        "lines": [_line_json(line) for line in result.lines],
        "fee_lines": [_line_json(line) for line in result.fees],
        "tax_lines": [_line_json(line) for line in result.taxes],
        "duty": str(result.duty),
        "fees": str(result.fees_total),
        "taxes": str(result.taxes_total),
        "total": str(result.total),
        "effective_rate": str(result.effective_rate),
        "landed_cost": str(result.landed_cost),
        "hypothetical": result.hypothetical,
        "status": status(result.review),
        "needs_review": result.needs_review,
        "review": list(result.review),
        "notes": list(result.notes),
        "claims": list(result.claims),
        "claimable": list(result.claimable),
    }
    if explain:
        data["explain"] = [_step_json(step) for step in result.trace]
    return data


# ----------------------------------------------------------------------------- explain

BASE_RULES = {
    "full": "full value",
    "metal": "metal content",
    "remainder": "value remaining after metal content",
    "non-us-content": "value less the claimed US content",
}


@record
class Explained:
    """One measure's rule trace joined with the duty line it produced, if any."""

    step: Step
    line: Line | None
    position: int | None
    """1-based place of the line in the importer's reporting order."""


def explained(result: Assessment) -> list[Explained]:
    """Charged layers in reporting order, then the measures left out, in schedule order."""
    lines = {line.measure: (i, line) for i, line in enumerate(result.lines, start=1)}
    items = []
    for step in result.trace:
        position, line = lines.get(step.measure, (None, None)) if step.applied else (None, None)
        items.append(Explained(step, line, position))
    return sorted(items, key=lambda e: (e.position is None, e.position or 0, not e.step.applied))


def _citations(report: Report, ids: Sequence[str]) -> list[dict[str, str | None]]:
    return [{"id": i, "title": report.sources.get(i, i), "url": report.urls.get(i)} for i in ids]


def _cite_text(report: Report, ids: Sequence[str]) -> str:
    return "; ".join(
        report.sources.get(i, i) + (f" <{report.urls[i]}>" if i in report.urls else "") for i in ids
    )


def explain_json(report: Report, result: Assessment) -> list[dict[str, Any]]:
    """The ``explain`` list of one result: rule, base, heading, order and citations."""
    out = []
    for item in explained(result):
        data: dict[str, Any] = {**_step_json(item.step), "reporting_order": item.position}
        line = item.line
        if line is not None:
            data.update(
                group=line.group,
                heading=line.heading,
                rate=str(line.rate),
                base_rule=line.base_rule,
                base=str(line.base),
                amount=str(line.amount),
                citations=_citations(report, line.source),
            )
        out.append(data)
    out.extend(
        {
            "measure": line.measure,
            "applied": True,
            "reason": line.group,
            "reporting_order": None,
            "rate": str(line.rate),
            "base": str(line.base),
            "amount": str(line.amount),
            "citations": _citations(report, line.source),
        }
        for line in (*result.fees, *result.taxes)
    )
    return out


def explain_lines(report: Report, result: Assessment) -> list[str]:
    """The ``--explain`` footnotes of one result."""
    out = [f"explain [{result.regime} as of {format_when(result.as_of)}]:"]
    count = len(result.lines)
    for item in explained(result):
        step, line = item.step, item.line
        if line is None:
            mark = "+" if step.applied else "-"
            out.append(f"  {mark} {step.measure}: {step.reason}")
            continue
        heading = f" {line.heading}" if line.heading else ""
        rule = BASE_RULES.get(line.base_rule, line.base_rule)
        out.append(
            f"  + {item.position}/{count} {step.measure} ({line.group}){heading}: "
            f"{line.rate} on {rule} {money(line.base)} = {money(line.amount)}"
        )
        out.append(f"      rule: {step.reason}")
        out.append(f"      cites: {_cite_text(report, line.source)}")
    out.extend(
        f"  + {line.group} {line.measure}: {line.rate} on {money(line.base)} = "
        f"{money(line.amount)}; cites: {_cite_text(report, line.source)}"
        for line in (*result.fees, *result.taxes)
    )
    return out


def shipment_json(shipment: Shipment) -> dict[str, Any]:
    """The shipment as given, for provenance (``entry``, ``items`` and ``claims`` only when
    given)."""
    data: dict[str, Any] = {
        "hs": shipment.code,
        "origin": shipment.origin,
        "dest": shipment.dest,
        "value": str(shipment.value),
        "currency": shipment.currency,
        "date": format_when(shipment.entry) if shipment.entry else None,
        "mode": shipment.mode,
    }
    if shipment.entry_type is not None:
        data["entry"] = shipment.entry_type
    if shipment.items is not None:
        data["items"] = shipment.items
    if shipment.claims:
        data["claims"] = [
            claim if share is None else f"{claim}={(share * 100).normalize():f}%"
            for claim, share in shipment.claims
        ]
    return data


def to_json(report: Report, explain: bool = False) -> str:
    """The whole report as deterministic JSON text."""
    data = {
        "shipment": shipment_json(report.shipment),
        "results": [
            {**result_json(r), "explain": explain_json(report, r)} if explain else result_json(r)
            for r in report.results
        ],
        "data_version": report.data_version,
        "data_sha256": report.data_sha256,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "regime",
    "as_of",
    "currency",
    "kind",
    "measure",
    "heading",
    "rate",
    "base",
    "amount",
    "source",
    "data_version",
    "status",
    "review",
    "data_sha256",
    "claims",
    "claimable",
)


def to_csv(report: Report) -> str:
    """One row per duty, fee and tax line, then the totals of each regime.

    Every row ends with its regime's status and review items (joined by ``; ``) and the
    data file's sha256.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.results:
        head = (r.regime, format_when(r.as_of), r.currency)
        tail = (
            report.data_version,
            status(r.review),
            "; ".join(r.review),
            report.data_sha256,
            "; ".join(r.claims),
            "; ".join(r.claimable),
        )
        for kind, lines in (("duty", r.lines), ("fee", r.fees), ("tax", r.taxes)):
            for line in lines:
                writer.writerow(
                    (
                        *head,
                        kind,
                        line.measure,
                        line.heading or "",
                        str(line.rate),
                        line.base,
                        line.amount,
                        " ".join(line.source),
                        *tail,
                    )
                )
        totals = (
            ("duty_total", r.duty),
            ("fees_total", r.fees_total),
            ("taxes_total", r.taxes_total),
            ("total", r.total),
            ("effective_rate", r.effective_rate),
            ("landed_cost", r.landed_cost),
        )
        for kind, amount in totals:
            writer.writerow((*head, kind, "", "", "", "", amount, "", *tail))
    return out.getvalue()


# ----------------------------------------------------------------------------- table


def _row_keys(results: Sequence[Assessment]) -> list[tuple[str, set[str]]]:
    """Duty layers (measure id, its headings) across all results, in reporting order."""
    rows: dict[str, tuple[int, set[str]]] = {}
    for result in results:
        rank = {group: i for i, group in enumerate(result.reporting_order)}
        for line in result.lines:
            _, headings = rows.setdefault(line.measure, (rank.get(line.group, len(rank)), set()))
            if line.heading:
                headings.add(line.heading)
    ordered = sorted(rows.items(), key=lambda item: (item[1][0], item[0]))
    return [(measure, headings) for measure, (_, headings) in ordered]


def _cell(lines: Sequence[Line], measure: str, with_heading: bool = False) -> str:
    for line in lines:
        if line.measure == measure:
            mark = " †" if line.unconfirmed else ""
            heading = f"\n[dim]{line.heading}[/dim]" if with_heading and line.heading else ""
            return f"{line.rate}{mark}\n{money(line.amount)}{heading}"
    return DASH


def pinned(table: Any) -> Any:
    """``table`` with each ``no_wrap`` column at least as wide as its widest line.

    Rich measures a cell's minimum as its longest word even in a ``no_wrap`` column, and
    cuts such a cell with "…" when space runs short; pinned, :func:`fits` sees the real need.
    """
    from rich.cells import cell_len
    from rich.text import Text

    for column in table.columns:
        if column.no_wrap:
            cells = [column.header, *column.cells]
            texts = [  # as the console draws them: markup read, emoji codes left as text
                c if isinstance(c, Text) else Text.from_markup(str(c), emoji=False) for c in cells
            ]
            lines = [line for text in texts for line in text.plain.splitlines()]
            column.min_width = max((cell_len(line) for line in lines), default=0)
    return table


def fits(renderable: Any, width: int) -> bool:
    """True when ``renderable`` fits ``width`` columns without cutting a word or a number
    (for a table: once :func:`pinned`)."""
    import io

    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=1_000_000, file=io.StringIO())
    return Measurement.get(console, console.options, renderable).minimum <= width


def fitted(table: Any, width: int | None, stacked: Sequence[str]) -> Any:
    """``table`` (pinned) when it fits ``width`` or no width is given, else its title and
    ``stacked``: one plain line per row, which wrap only at spaces."""
    from rich.console import Group
    from rich.text import Text

    if width is None or fits(pinned(table), width):
        return table
    title = table.title if isinstance(table.title, str) else ""
    return Group(*(Text(line) for line in [title, *stacked] if line))


def comparison_tables(report: Report, explain: bool = False, width: int | None = None) -> list[Any]:
    """The comparison table, or for a narrow ``width`` several, each with as many regimes
    side by side as fit (down to one per table). A cell is never wrapped or cut."""
    results = report.results
    for size in range(len(results), 0, -1):
        chunks = [results[i : i + size] for i in range(0, len(results), size)]
        tables = [
            comparison_table(report, explain, chunk, i == 0) for i, chunk in enumerate(chunks)
        ]
        if width is None or size == 1 or all(fits(table, width) for table in tables):
            return tables
    raise AssertionError("unreachable: one regime per table always returns")


def comparison_table(
    report: Report,
    explain: bool = False,
    columns: Sequence[Assessment] | None = None,
    titled: bool = True,
) -> Any:
    """A Rich table: one column per regime (``columns``, default all), one row per layer,
    totals, and the change of total against the report's first regime."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    first = report.results[0]
    results = tuple(columns) if columns is not None else report.results
    ship = report.shipment
    title = (
        f"HS {ship.code} · {ship.origin} → {ship.dest} · "
        f"customs value {money(first.customs_value)} {first.currency}"
    )
    table = Table(
        title=title if titled else None, box=box.SIMPLE_HEAVY, title_justify="left", pad_edge=False
    )
    table.add_column("Layer", style="bold", no_wrap=True)
    for r in results:
        star = "*" if r.hypothetical else ""
        when = format_when(r.as_of).replace("T", "\n")
        table.add_column(f"{r.regime}{star}\n{when}", justify="right", no_wrap=True)

    for measure, headings in _row_keys(results):
        (heading,) = headings if len(headings) == 1 else (None,)
        label = measure + (f"\n[dim]{heading}[/dim]" if heading else "")
        cells = (_cell(r.lines, measure, with_heading=len(headings) > 1) for r in results)
        table.add_row(label, *cells)
    table.add_section()
    table.add_row("Duty", *(money(r.duty) for r in results), style="bold")
    table.add_row("Effective rate", *(effective_percent(r.effective_rate) for r in results))
    for fee in dict.fromkeys(line.measure for r in results for line in r.fees):
        table.add_row(fee, *(_cell(r.fees, fee) for r in results))
    for tax in dict.fromkeys(line.measure for r in results for line in r.taxes):
        table.add_row(tax, *(_cell(r.taxes, tax) for r in results))
    table.add_section()
    table.add_row("Total", *(money(r.total) for r in results), style="bold")
    table.add_row("Landed cost", *(money(r.landed_cost) for r in results))
    if len(report.results) > 1:
        deltas = [DASH if r is first else _delta(r.total - first.total) for r in results]
        table.add_row(f"Total vs {first.regime}", *deltas)
    words = [status(r.review) for r in results]
    styled = (Text(status_label(w), style="green" if w == OK else "red") for w in words)
    table.add_row("Status", *styled)
    return pinned(table)


def _delta(amount: Decimal) -> str:
    sign = "+" if amount > 0 else ""
    return f"{sign}{money(amount)}"


def review_lines(results: Sequence[Assessment]) -> list[str]:
    """Each distinct review item once, naming the columns it applies to.

    Items that differ only by their column's own date (``... on 2025-05-13 ...``) are one
    item, shown with "each column's date" in place of the dates.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in results:
        when = format_when(r.as_of)
        for item in r.review:
            groups.setdefault(item.replace(when, "\0"), []).append((r.regime, item))
    out = []
    for key, members in groups.items():
        texts = {text for _, text in members}
        text = texts.pop() if len(texts) == 1 else key.replace("\0", "each column's date")
        regimes = list(dict.fromkeys(regime for regime, _ in members))
        every = len(results) > 1 and len(regimes) == len(results)
        where = "every column" if every else ", ".join(regimes)
        out.append(f"{status_label(NEEDS_REVIEW)} [{where}]: {text}")
    return out


def claim_lines(results: Sequence[Assessment]) -> list[str]:
    """The claims applied and the claims that would change the result, once each."""
    out: list[str] = []
    for label, items in (
        ("claim applied", [(r.regime, c) for r in results for c in r.claims]),
        (
            "claims that would change this",
            [(r.regime, ", ".join(r.claimable)) for r in results if r.claimable],
        ),
    ):
        grouped: dict[str, list[str]] = {}
        for regime, text in items:
            grouped.setdefault(text, []).append(regime)
        for text, regimes in grouped.items():
            where = (
                "every column"
                if len(results) > 1 and len(regimes) == len(results)
                else ", ".join(regimes)
            )
            out.append(f"{label} [{where}]: {text}")
    return out


def footnotes(report: Report, explain: bool = False) -> list[str]:
    """Plain lines printed under the table: review items, unconfirmed facts, notes."""
    out: list[str] = []
    if any(r.hypothetical for r in report.results):
        out.append("* hypothetical scenario, not law")
    if any(line.unconfirmed for r in report.results for line in (*r.lines, *r.fees, *r.taxes)):
        out.append("† rests on an unconfirmed fact (see notes)")
    out.extend(review_lines(report.results))
    out.extend(claim_lines(report.results))
    seen = {item for r in report.results for item in r.review}
    for r in report.results:
        for note in r.notes:
            if note not in seen:
                seen.add(note)
                out.append(f"note: {note}")
    if explain:
        for r in report.results:
            out.extend(explain_lines(report, r))
    out.append(f"data {report.data_version} (sha256 {report.data_sha256[:12]})")
    return out
