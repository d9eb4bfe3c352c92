"""Every measure touching one code over time, and the total ad valorem rate at each change.

Pure: the totals come from :func:`tradecalc.engine.assessment.assess` at each period boundary, so
displacement and value bases follow exactly the rules ``duty`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from tradecalc.core.money import effective_rate
from tradecalc.core.records import record
from tradecalc.engine.assessment import RegimeView, Shipment, assess, scope_matches, table_rate
from tradecalc.hts.base_rates import BaseRates, for_importer
from tradecalc.schedule.models import CodeRate, Measure, Schedule, code_digits, format_when

PROBE_VALUE = Decimal(1_000_000)
"""The shipment value the totals are computed on (large, so cents do not blur rates)."""


@record
class Entry:
    """One period of one measure that sets a rate for the code."""

    measure: Measure
    start: datetime
    end: datetime | None
    rate: str
    heading: str | None
    source: tuple[str, ...]
    unconfirmed: str | None


@record
class Point:
    """The total ad valorem duty rate from ``when`` until the next point."""

    when: datetime
    total: Decimal
    layers: tuple[str, ...]
    """The measures charged, in reporting order."""


@record
class Timeline:
    """What ``tradecalc rates CODE`` shows."""

    code: str
    origin: str
    dest: str
    entries: tuple[Entry, ...]
    points: tuple[Point, ...]


def timeline(
    schedule: Schedule,
    code: str,
    origin: str,
    dest: str,
    base_rates: BaseRates | None = None,
) -> Timeline:
    """The measures touching ``code`` on goods from ``origin`` into ``dest``, and totals.

    With ``base_rates`` (imported HTS revisions), a code the curated data has no base rate
    for takes it from the revision in force, and ``@hts:`` scopes follow its footnotes.
    """
    probe = Shipment(code, PROBE_VALUE, origin, dest)  # validates the code and parties
    imported = for_importer(base_rates, dest)
    headings = _imported_headings(imported, probe.digits)
    entries = _entries(schedule, probe.digits, origin, dest, headings)
    if imported is not None and not any(e.measure.group == "base" for e in entries):
        entries = sorted(
            [*entries, *_imported_entries(schedule, imported, probe.digits, dest)],
            key=lambda e: (e.start, e.measure.id),
        )
    edges = sorted({e.start for e in entries} | {e.end for e in entries if e.end is not None})
    points: list[Point] = []
    for when in edges:
        shipment = Shipment(code, PROBE_VALUE, origin, dest, entry=when, entry_is_date=False)
        view = RegimeView(format_when(when), "", when)
        result = assess(schedule, shipment, view, base_rates=imported)
        total = effective_rate(result.duty, result.customs_value)
        layers = tuple(line.measure for line in result.lines)
        if not points or points[-1].total != total:
            points.append(Point(when, total, layers))
    return Timeline(code, origin, dest, tuple(entries), tuple(points))


def _imported_headings(base_rates: BaseRates | None, digits: str) -> tuple[str, ...]:
    """Chapter 99 headings any imported revision's line for the code names."""
    if base_rates is None:
        return ()
    found: dict[str, None] = {}
    for start in base_rates.starts():
        hit = base_rates.lookup(digits, start)
        found.update(dict.fromkeys(hit.headings if hit else ()))
    return tuple(found)


def _imported_entries(
    schedule: Schedule, base_rates: BaseRates, digits: str, dest: str
) -> list[Entry]:
    """Base-rate periods from the imported revisions, under the schedule's base measure
    (one period per run of revisions that give the same rate from the same source)."""
    base = next((m for m in schedule.measures if m.importer == dest and m.group == "base"), None)
    if base is None:
        return []
    starts = base_rates.starts()
    entries: list[Entry] = []
    for start, end in zip(starts, (*starts[1:], None), strict=True):
        hit = base_rates.lookup(digits, start)
        if hit is None:
            continue
        last = entries[-1] if entries else None
        if last and last.end == start and (last.rate, last.source) == (hit.text, (hit.source,)):
            entries[-1] = replace(last, end=end)
            continue
        caveat = None if hit.rate is not None else "the rate text cannot be computed"
        entries.append(Entry(base, start, end, hit.text, None, (hit.source,), caveat))
    return entries


def _entries(
    schedule: Schedule, digits: str, origin: str, dest: str, headings: tuple[str, ...] = ()
) -> list[Entry]:
    found = []
    for measure in schedule.measures:
        if measure.importer != dest:
            continue
        if not measure.from_origin(origin):
            continue
        if not scope_matches(schedule, measure.scope, digits, headings):
            continue
        for period in measure.periods:
            rate = table_rate(period, digits)
            if measure.kind == "duty" and rate is None:
                continue
            entry = _code_entry(period.rates, digits)
            found.append(
                Entry(
                    measure,
                    period.from_,
                    period.to,
                    str(rate) if measure.kind == "duty" else "flag",
                    period.heading,
                    (entry.source if entry and entry.source else None) or period.source,
                    (entry.unconfirmed if entry else None) or period.unconfirmed,
                )
            )
    return sorted(found, key=lambda e: (e.start, e.measure.id))


def _code_entry(rates: Mapping[str, CodeRate], digits: str) -> CodeRate | None:
    """The table entry for the code (its own citation or caveat, if any), or None."""
    best = max(
        (key for key in rates if digits.startswith(code_digits(key))),
        key=lambda key: len(code_digits(key)),
        default=None,
    )
    return rates.get(best) if best is not None else None
