"""Render what a batch did: the per-regime totals, as a table when it fits, else as lines."""

from __future__ import annotations

from typing import Any

from tradecalc.batch.rows import Summary
from tradecalc.core.money import effective_percent
from tradecalc.render.duty import fits, money, pinned

__all__ = ["summary_footer", "summary_totals"]

_COLUMNS = ("Regime", "Currency", "Shipments", "Customs value", "Duty", "Rate", "Review")


def summary_totals(summary: Summary, width: int) -> list[Any]:
    """The totals per regime: a Rich table when it fits ``width`` without cutting a
    figure, else a title and one plain line per regime (print strings without markup)."""
    from rich.table import Table

    rows = [
        (
            totals.regime,
            totals.currency,
            f"{totals.shipments:,}",
            money(totals.customs_value),
            money(totals.duty),
            effective_percent(totals.effective_rate),
            f"{totals.needs_review:,}",
        )
        for totals in summary.totals.values()
    ]
    table = Table(title="Batch summary", title_justify="left")
    for column in _COLUMNS:
        left = column in ("Regime", "Currency")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if fits(pinned(table), width):
        return [table]
    lines: list[Any] = ["Batch summary"]
    for regime, currency, *figures in rows:
        named = ", ".join(f"{k.lower()} {v}" for k, v in zip(_COLUMNS[2:], figures, strict=True))
        lines.append(f"  {regime} ({currency}): {named}")
    return lines


def summary_footer(summary: Summary) -> str:
    """The counts of a batch on one line."""
    return (
        f"{summary.rows:,} rows, {summary.results:,} results, {summary.errors:,} bad rows, "
        f"{summary.needs_review:,} results need review"
    )
