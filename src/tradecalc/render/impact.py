"""Trade-flow impacts as a Rich table, a chart, JSON or CSV. Reads results, computes nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tradecalc.analysis.impact import ESTIMATE_NOTE, RegimeImpact, top_changes
from tradecalc.core.records import record
from tradecalc.render.duty import fits, fitted, pinned
from tradecalc.schedule.models import format_when

RATE_PLACES = Decimal("0.000001")
COLUMNS = (
    "regime",
    "as_of",
    "customs_value",
    "duty",
    "average_rate",
    "increment",
    "review_value",
    "shipments",
)


@record
class ImpactReport:
    """What ``tradecalc impact`` prints: the impacts and their context."""

    impacts: Sequence[RegimeImpact]
    baseline: RegimeImpact
    basket: str
    currency: str
    data_version: str
    data_sha256: str
    level: str | None = None
    top: int = 0
    estimated: bool = False


def _rate(value: Decimal) -> str:
    return str(value.quantize(RATE_PLACES))


def _pct(value: Decimal) -> str:
    return f"{value * 100:.2f}%"


def _points(value: Decimal) -> str:
    return f"{value * 100:+.2f}"


def _scale(report: ImpactReport) -> tuple[Decimal, str]:
    """Amounts in millions when the basket is worth a billion or more (table only)."""
    if max(i.total.value for i in report.impacts) >= 10**9:
        return Decimal(10**6), f"{report.currency} millions"
    return Decimal(1), report.currency


def _increment(report: ImpactReport, impact: RegimeImpact) -> Decimal:
    return impact.total.rate - report.baseline.total.rate


def _record(report: ImpactReport, impact: RegimeImpact) -> dict[str, Any]:
    record: dict[str, Any] = {
        "regime": impact.view.id,
        "title": impact.view.title,
        "as_of": format_when(impact.as_of),
        "customs_value": str(impact.total.value),
        "duty": str(impact.total.duty),
        "average_rate": _rate(impact.total.rate),
        "increment": _rate(_increment(report, impact)),
        "review_value": str(impact.review_value),
        "unpriced_value": str(impact.unpriced_value),
        "review": {k: str(v) for k, v in sorted(impact.review.items(), key=lambda kv: -kv[1])},
        "shipments": impact.shipments,
        "measures": {
            m: {
                "value": str(s.value),
                "duty": str(s.duty),
                "share_of_value": _rate(
                    s.value / impact.total.value if impact.total.value else Decimal(0)
                ),
            }
            for m, s in sorted(impact.measures.items())
        },
    }
    if report.level:
        record["by"] = {
            key: {"customs_value": str(s.value), "duty": str(s.duty), "average_rate": _rate(s.rate)}
            for key, s in sorted(impact.groups.items())
        }
    if report.top and impact is not report.baseline:
        record["top"] = [
            {"hs": code, "duty_change": str(change)}
            for code, change in top_changes(impact, report.baseline, report.top)
        ]
    if report.estimated:
        record["estimated_metal_value"] = str(impact.estimated_metal_value)
    return record


def impact_json(report: ImpactReport) -> str:
    """``--format json``: one object per regime, with the data version and sha256."""
    document = {
        "basket": report.basket,
        "currency": report.currency,
        "baseline": report.baseline.view.id,
        "results": [_record(report, i) for i in report.impacts],
        "metal_shares": ESTIMATE_NOTE if report.estimated else "declared only",
        "data_version": report.data_version,
        "data_sha256": report.data_sha256,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def impact_csv(report: ImpactReport) -> str:
    """``--format csv``: a row per regime (and per group with ``--by``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    group = ("group",) if report.level else ()
    writer.writerow((*COLUMNS, *group, "data_version", "data_sha256"))
    for impact in report.impacts:
        record = _record(report, impact)
        base = [record[c] for c in COLUMNS]
        writer.writerow((*base, *(("",) if group else ()), report.data_version, report.data_sha256))
        for key, sums in sorted(impact.groups.items()) if report.level else ():
            writer.writerow(
                (
                    impact.view.id,
                    record["as_of"],
                    sums.value,
                    sums.duty,
                    _rate(sums.rate),
                    "",
                    "",
                    "",
                    key,
                    report.data_version,
                    report.data_sha256,
                )
            )
    return out.getvalue()


def impact_table(report: ImpactReport, width: int | None = None) -> Group:
    """The regimes side by side, then the breakdown, top changes and review reasons.

    Within ``width`` columns nothing is cut: the regime column wraps, then the moment shows
    its time below its date, and if the table still does not fit, each regime is one line.
    """
    table: Any = _regimes_table(report, split_time=False)
    if width is not None:
        for split_time in (False, True):  # a regime id may wrap down to 8 columns
            if fits(pinned(_regimes_table(report, split_time, probe=True)), width):
                table = pinned(_regimes_table(report, split_time))
                break
        else:
            table = fitted(table, width, _regime_lines(report))
    parts: list[Any] = [table]
    last = report.impacts[-1]
    if report.level and last.groups:
        by = Table(title=f"By {report.level} ({last.view.id})", title_justify="left")
        by.add_column(report.level, overflow="fold")
        for name in ("customs value", "duty", "average"):
            by.add_column(name, justify="right", no_wrap=True)
        groups = [
            (key, f"{sums.value:,.0f}", f"{sums.duty:,.0f}", _pct(sums.rate))
            for key, sums in sorted(last.groups.items(), key=lambda kv: -kv[1].duty)
        ]
        for row in groups:
            by.add_row(*row)
        lines = [f"  {k}: customs value {v}, duty {d}, average {a}" for k, v, d, a in groups]
        parts.append(fitted(by, width, lines))
    if report.top and last is not report.baseline:
        top = Table(
            title=f"Largest duty changes, {report.baseline.view.id} -> {last.view.id}",
            title_justify="left",
        )
        top.add_column("HS", no_wrap=True)
        top.add_column("duty change", justify="right", no_wrap=True)
        changes = [
            (code, f"{change:+,.0f}")
            for code, change in top_changes(last, report.baseline, report.top)
        ]
        for code, change in changes:
            top.add_row(code, change)
        parts.append(fitted(top, width, [f"  {code}: {change}" for code, change in changes]))
    notes = []
    for impact in report.impacts:
        if impact.review_value:
            reason, value = max(impact.review.items(), key=lambda kv: kv[1])
            notes.append(
                f"{impact.view.id}: {impact.review_value:,.0f} needs review; "
                f"largest reason ({value:,.0f}): {reason}"
            )
    if report.estimated:
        notes.append(ESTIMATE_NOTE)
    if notes:
        parts.append(Text("\n".join(notes)))
    return Group(*parts)


def _regimes_table(report: ImpactReport, split_time: bool, probe: bool = False) -> Table:
    """The regimes side by side; a ``probe`` cuts the ids to the 8 columns they may wrap to
    (what :func:`~tradecalc.render.duty.fits` must check)."""
    scale, unit = _scale(report)
    table = Table(
        title=f"{report.basket} · {unit} · change in points over {report.baseline.view.id}",
        title_justify="left",
    )
    table.add_column("regime", overflow="fold", min_width=8)
    table.add_column("as of", no_wrap=True)
    for name in ("value", "duty", "average", "change", "review"):
        table.add_column(name, justify="right", no_wrap=True)
    for impact in report.impacts:
        when = format_when(impact.as_of)
        table.add_row(
            impact.view.id[:8] if probe else impact.view.id,
            when.replace("T", "\n") if split_time else when,
            *_figures(report, impact, scale),
        )
    return table


def _figures(report: ImpactReport, impact: RegimeImpact, scale: Decimal) -> list[str]:
    """Value, duty, average, change and review value of one regime, as the table shows them."""
    return [
        f"{impact.total.value / scale:,.0f}",
        f"{impact.total.duty / scale:,.0f}",
        _pct(impact.total.rate),
        _points(_increment(report, impact)),
        f"{impact.review_value / scale:,.0f}",
    ]


def _regime_lines(report: ImpactReport) -> list[str]:
    """One plain line per regime, for a width too narrow for the table."""
    scale, _ = _scale(report)
    names = ("value", "duty", "average", "change", "review")
    return [
        f"  {impact.view.id} (as of {format_when(impact.as_of)}): "
        + ", ".join(f"{k} {v}" for k, v in zip(names, _figures(report, impact, scale), strict=True))
        for impact in report.impacts
    ]


def terminal_chart(report: ImpactReport, width: int = 40) -> Table:
    """The average rate at each regime or instant as bars, for a terminal."""
    top = max((i.total.rate for i in report.impacts), default=Decimal(0)) or Decimal(1)
    chart = Table(title="Trade-weighted average duty", title_justify="left", box=None)
    chart.add_column("as of", no_wrap=True)
    chart.add_column("average", justify="right", no_wrap=True)
    chart.add_column("", no_wrap=True)
    for impact in report.impacts:
        cells = int(impact.total.rate / top * width)
        chart.add_row(format_when(impact.as_of), _pct(impact.total.rate), "█" * cells)
    return chart


def write_chart(report: ImpactReport, target: Path) -> None:
    """An SVG or PNG line chart of the average over time (needs the ``chart`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    epoch = datetime(1970, 1, 1)  # matplotlib's date axis counts days from its epoch
    xs = [(i.as_of - epoch).total_seconds() / 86400 for i in report.impacts]
    ys = [float(i.total.rate * 100) for i in report.impacts]
    axes.step(xs, ys, where="post", color="#b22222", linewidth=2, marker="o", markersize=3)
    axes.xaxis_date()
    axes.set_ylabel("trade-weighted average duty (%)")
    axes.set_title(f"{report.basket}: duty / customs value")
    axes.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(target, format=target.suffix.lstrip(".").lower(), metadata=_metadata(target))
    plt.close(figure)


def _metadata(target: Path) -> dict[str, Any]:
    """Reproducible files: no creation date in the SVG or PNG."""
    return {"Date": None} if target.suffix.lower() == ".svg" else {}
