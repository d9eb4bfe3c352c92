"""Render what the data commands found: diagnostics, diffs, regimes and rate timelines.

Reads results, computes nothing. Tables are Rich renderables; text formats are strings.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradecalc.core.errors import Diagnostic
from tradecalc.core.money import percent
from tradecalc.engine.assessment import RegimeView
from tradecalc.engine.diff import Diff
from tradecalc.engine.snapshot import Headline
from tradecalc.engine.timeline import Timeline
from tradecalc.render.duty import fitted
from tradecalc.schedule.models import format_when

if TYPE_CHECKING:
    from tradecalc.hts.store import Revision

DASH = "—"
CHART_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"

# ----------------------------------------------------------------------------- validate


def diagnostics_text(found: Sequence[Diagnostic]) -> str:
    """``file:line:col: message``, one per line."""
    return "".join(f"{d}\n" for d in found)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def diagnostics_github(found: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,col=C::message``."""
    out = []
    for d in found:
        where = [f"file={_escape_property(d.location.file)}"]
        if d.location.line > 0:
            where.append(f"line={d.location.line}")
        if d.location.column > 0:
            where.append(f"col={d.location.column}")
        out.append(f"::{d.level} {','.join(where)}::{_escape_data(d.message)}\n")
    return "".join(out)


def diagnostics_json(found: Sequence[Diagnostic]) -> str:
    """A JSON list of ``{file, line, column, message}``."""
    items = [
        {
            "file": d.location.file,
            "line": d.location.line,
            "column": d.location.column,
            "message": d.message,
        }
        for d in found
    ]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------- diff

DIFF_COLUMNS = ("change", "section", "direction", "item", "field", "before", "after", "code")


def diff_json(diff: Diff) -> str:
    """The diff as JSON: ``{a, b, kind, changes: [...]}``."""
    data = {
        "a": diff.a,
        "b": diff.b,
        "kind": diff.kind,
        "changes": [asdict(change) for change in diff.changes],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def diff_csv(diff: Diff) -> str:
    """One CSV row per change."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DIFF_COLUMNS)
    for c in diff.changes:
        writer.writerow(
            (c.change, c.section, c.direction, c.item, c.field, c.before, c.after, c.code)
        )
    return out.getvalue()


_MARKS = {"added": "+", "removed": "-", "changed": "~"}


def diff_table(diff: Diff, width: int | None = None) -> Any:
    """A Rich table of the changes, or a one-line message when there are none.

    Narrower than the table needs (see :func:`tradecalc.render.duty.fitted`): one line per change.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"Changes from {diff.a} to {diff.b}"
    if not diff.changes:
        return Text(f"{title}: none")
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("Direction" if diff.kind == "regimes" else "Section", no_wrap=True)
    table.add_column("Item", no_wrap=True)
    table.add_column("Field", no_wrap=True)
    table.add_column(diff.a, overflow="fold")
    table.add_column(diff.b, overflow="fold")
    styles = {"added": "green", "removed": "red", "changed": "yellow"}
    stacked = []
    for c in diff.changes:
        where = c.direction if diff.kind == "regimes" else c.section
        if diff.kind == "files" and c.direction:
            where = f"{c.section} {c.direction}"
        field = f"{c.field} {c.code}" if c.code else c.field or c.change
        before, after = c.before or DASH, c.after or DASH
        table.add_row(
            Text(_MARKS[c.change], style=styles[c.change]), where, c.item, field, before, after
        )
        stacked.append(f"{_MARKS[c.change]} {where} {c.item} {field}: {before} → {after}")
    return fitted(table, width, stacked)


# ----------------------------------------------------------------------------- regimes


def headline_text(found: Sequence[Headline]) -> str:
    """``US←CN 145% · CN←US 125%``."""
    return " · ".join(f"{h.direction} {percent(h.rate)}" for h in found)


REGIME_COLUMNS = ("regime", "as_of", "hypothetical", "importer", "origin", "headline", "title")


def regimes_json(version: str, views: Sequence[tuple[RegimeView, Sequence[Headline]]]) -> str:
    """``{data_version, regimes: [{id, title, description, as_of, hypothetical, headline}]}``.

    ``headline`` lists ``{importer, origin, rate}``, the rate a decimal fraction as text.
    """
    regimes = [
        {
            "id": view.id,
            "title": view.title,
            "description": view.description,
            "as_of": format_when(view.as_of),
            "hypothetical": view.hypothetical,
            "headline": [
                {"importer": h.importer, "origin": h.origin, "rate": str(h.rate)} for h in found
            ],
        }
        for view, found in views
    ]
    data = {"data_version": version, "regimes": regimes}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def regimes_csv(views: Sequence[tuple[RegimeView, Sequence[Headline]]]) -> str:
    """One row per regime and direction (one row with blank rates if it has no headline)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REGIME_COLUMNS)
    for view, found in views:
        head = (view.id, format_when(view.as_of), str(view.hypothetical).lower())
        rates = [(h.importer, h.origin, str(h.rate)) for h in found] or [("", "", "")]
        writer.writerows((*head, *rate, view.title) for rate in rates)
    return out.getvalue()


def regimes_table(
    version: str, views: Sequence[tuple[RegimeView, Sequence[Headline]]], width: int | None = None
) -> Any:
    """Named regimes and scenarios with their date, headline rates and description."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"Regimes in data {version}",
        caption="Headline: all-goods ad valorem duties on top of MFN; * hypothetical scenario",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
    )
    table.add_column("Regime", no_wrap=True)
    table.add_column("As of", no_wrap=True)
    table.add_column("Headline", no_wrap=True)
    table.add_column("Title and description", overflow="fold")
    stacked = []
    for view, found in views:
        star = "*" if view.hypothetical else ""
        when = format_when(view.as_of)
        table.add_row(
            f"{view.id}{star}",
            when,
            headline_text(found).replace(" · ", "\n"),
            Text.assemble(view.title, "\n", (view.description, "dim")),
        )
        stacked += [f"{view.id}{star}  {when}  {headline_text(found)}", f"  {view.title}"]
        stacked += [f"  {view.description}"] if view.description else []
    stacked.append(str(table.caption))
    return fitted(table, width, stacked)


# ----------------------------------------------------------------------------- rates


def timeline_table(line: Timeline, width: int | None = None) -> Any:
    """Every period of every measure touching the code, citing source ids."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"HS {line.code} · {line.origin} → {line.dest}: measures over time",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        pad_edge=False,
    )
    table.add_column("From", no_wrap=True)
    table.add_column("To", no_wrap=True)
    table.add_column("Measure", no_wrap=True)
    table.add_column("Heading", no_wrap=True)
    table.add_column("Rate", justify="right", no_wrap=True)
    table.add_column("Source", overflow="fold")
    stacked = []
    for e in line.entries:
        mark = " †" if e.unconfirmed else ""
        cells = (
            format_when(e.start),
            format_when(e.end) if e.end else "open",
            e.measure.id,
            e.heading or DASH,
            f"{e.rate}{mark}",
            ", ".join(e.source),
        )
        table.add_row(*cells)
        start, end, measure, heading, rate, source = cells
        stacked += [f"{start} to {end}  {measure}  {heading}  {rate}", f"  source: {source}"]
    return fitted(table, width, stacked)


def bar(value: Decimal, scale: Decimal, width: int = CHART_WIDTH) -> str:
    """A horizontal bar of ``value / scale`` of ``width`` cells, in eighths of a cell."""
    if scale <= 0 or value <= 0:
        return ""
    eighths = int(value / scale * width * 8)
    full, part = divmod(min(eighths, width * 8), 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def timeline_chart(line: Timeline) -> list[str]:
    """One line per change date: the date, the total ad valorem rate and a bar."""
    if not line.points:
        return ["no ad valorem duty found for this code"]
    scale = max(p.total for p in line.points)
    label = max(len(format_when(p.when)) for p in line.points)
    out = [f"Total ad valorem duty on {line.code} from {line.origin} into {line.dest}:"]
    out.extend(
        f"  {format_when(p.when):<{label}}  {percent(p.total):>7}  {bar(p.total, scale)}"
        for p in line.points
    )
    return out


# ----------------------------------------------------------------------------- hts list


def revisions_table(folder: str, revs: Sequence[Revision]) -> Any:
    """The imported HTS revisions of ``folder``: name, date, size, import time, digest, origin."""
    from rich.table import Table

    table = Table(title=f"Imported HTS revisions in {folder}", title_justify="left")
    for column in ("Revision", "Effective", "Tariff lines", "Imported", "sha256", "From"):
        table.add_column(column)
    for rev in revs:
        meta = rev.meta()
        table.add_row(
            rev.name,
            rev.effective.isoformat(),
            meta.get("tariff_lines", "?"),
            meta.get("imported", "?"),
            meta.get("sha256", "?")[:12],
            meta.get("origin", "?"),
        )
    return table
