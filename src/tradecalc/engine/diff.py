"""What changed between two regimes, or between two schedule files: a flat list of changes.

Pure: takes models, returns frozen :class:`Change` rows that ``render_data`` turns into a
table, JSON or CSV. A regime diff compares what is in force (rate, heading, base, scope);
a period boundary that changes none of those is not a change. A file diff compares the
files' structure: measures and their periods, each party's settings, fees and taxes, product
lists (code by code), regimes, scenarios and sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Literal, TypeVar

from tradecalc.core.records import record
from tradecalc.engine.assessment import RegimeView
from tradecalc.engine.snapshot import (
    InForce,
    direction,
    in_force,
    period_text,
    scope_text,
    table_of,
)
from tradecalc.schedule.models import (
    DutyThreshold,
    Fee,
    FeePeriod,
    Measure,
    Party,
    Period,
    ProductList,
    Regime,
    Scenario,
    Schedule,
    Source,
    Tax,
    format_when,
)

ChangeKind = Literal["added", "removed", "changed"]
T = TypeVar("T")


@record
class Change:
    """One difference: an item added or removed, or one field of it changed."""

    change: ChangeKind
    section: str
    """``measure``, ``period``, ``party``, ``fee``, ``tax``, ``list``, ``regime``,
    ``scenario`` or ``source``."""
    direction: str
    item: str
    field: str
    before: str
    after: str
    code: str = ""
    """The HS code, for a rate of a per-code table (``field`` is then ``rate``)."""


@record
class Diff:
    """Every change from ``a`` to ``b``."""

    a: str
    b: str
    kind: Literal["regimes", "files"]
    changes: tuple[Change, ...]


# ----------------------------------------------------------------------------- regimes


def diff_regimes(schedule: Schedule, a: RegimeView, b: RegimeView) -> Diff:
    """The measures whose rate, heading, base or scope differ between two regimes."""
    before, after = in_force(schedule, a), in_force(schedule, b)
    measures = {**before, **after}
    order = sorted(measures, key=lambda m: (direction(measures[m].measure), m))
    changes: list[Change] = []
    for ident in order:
        old, new = before.get(ident), after.get(ident)
        where = direction(measures[ident].measure)
        if old is None and new is not None:
            changes.append(Change("added", "measure", where, ident, "", "", _summary(new)))
        elif new is None and old is not None:
            changes.append(Change("removed", "measure", where, ident, "", _summary(old), ""))
        elif old is not None and new is not None:
            changes += _state_changes(old, new, where, ident)
    return Diff(a.id, b.id, "regimes", tuple(changes))


def _summary(state: InForce) -> str:
    parts = [state.rate or _table_size(state.table)]
    if state.heading:
        parts.append(state.heading)
    parts.append(state.period)
    return " · ".join(parts)


def _table_size(table: Mapping[str, object]) -> str:
    return f"{len(table):,} code rate{'s' if len(table) != 1 else ''}"


def _state_changes(old: InForce, new: InForce, where: str, ident: str) -> list[Change]:
    pairs = [
        ("rate", old.rate, new.rate),
        ("heading", old.heading or "", new.heading or ""),
        ("base", old.base, new.base),
        ("scope", old.scope, new.scope),
    ]
    rows = [Change("changed", "measure", where, ident, f, x, y) for f, x, y in pairs if x != y]
    if old.table != new.table:
        rows += _table_changes("measure", where, ident, old.table, new.table)
    if rows and old.period != new.period:
        rows.append(Change("changed", "measure", where, ident, "period", old.period, new.period))
    return rows


def _table_changes(
    section: str, where: str, ident: str, old: Mapping[str, str], new: Mapping[str, str]
) -> list[Change]:
    """A summary row (``rates``: counts), then one ``rate`` row per code added, removed or
    changed, in code order, with both rates."""
    per_code = []
    for code in sorted(old.keys() | new.keys()):
        before, after = old.get(code), new.get(code)
        if before == after:
            continue
        kind: ChangeKind = "added" if before is None else "removed" if after is None else "changed"
        per_code.append(
            Change(kind, section, where, ident, "rate", before or "", after or "", code)
        )
    counts = {kind: sum(c.change == kind for c in per_code) for kind in ("changed", "added")}
    removed = len(per_code) - counts["changed"] - counts["added"]
    detail = (
        f"{_table_size(new)} ({counts['changed']} changed, {counts['added']} added, "
        f"{removed} removed)"
    )
    summary = Change("changed", section, where, ident, "rates", _table_size(old), detail)
    return [summary, *per_code]


# ----------------------------------------------------------------------------- files


def diff_schedules(a: Schedule, b: Schedule, a_name: str, b_name: str) -> Diff:
    """Structural differences between two schedule files."""
    changes = [
        *_keyed(
            "measure",
            {m.id: m for m in a.measures},
            {m.id: m for m in b.measures},
            _measure_changes,
            lambda m: f"{len(m.periods)} period{'s' if len(m.periods) != 1 else ''}",
            direction,
        ),
        *_keyed("party", a.parties, b.parties, _party_changes, lambda p: p.name),
        *_keyed("list", a.product_lists, b.product_lists, _list_changes, lambda p: _list_size(p)),
        *_keyed(
            "regime",
            {r.id: r for r in a.regimes},
            {r.id: r for r in b.regimes},
            _regime_changes,
            lambda r: format_when(r.as_of),
        ),
        *_keyed(
            "scenario",
            {s.id: s for s in a.scenarios},
            {s.id: s for s in b.scenarios},
            _scenario_changes,
            lambda s: f"based on {s.based_on}",
        ),
        *_keyed("source", a.sources, b.sources, _source_changes, lambda s: s.title),
    ]
    return Diff(a_name, b_name, "files", tuple(changes))


def _keyed(
    section: str,
    old: Mapping[str, T],
    new: Mapping[str, T],
    compare: Callable[[str, T, T], Iterable[Change]],
    summary: Callable[[T], str],
    where: Callable[[T], str] = lambda _: "",
) -> Iterator[Change]:
    """Items added, removed, then compared field by field, in the old file's order."""
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            yield Change("removed", section, where(old[key]), key, "", summary(old[key]), "")
        elif key not in old:
            yield Change("added", section, where(new[key]), key, "", "", summary(new[key]))
        else:
            yield from compare(key, old[key], new[key])


def _fields(
    section: str, where: str, item: str, pairs: Iterable[tuple[str, object, object]]
) -> list[Change]:
    return [
        Change("changed", section, where, item, name, _text(x), _text(y))
        for name, x, y in pairs
        if x != y
    ]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _measure_changes(_: str, old: Measure, new: Measure) -> list[Change]:
    where = direction(new)
    rows = _fields(
        "measure",
        where,
        new.id,
        [
            ("name", old.name, new.name),
            ("importer", old.importer, new.importer),
            ("origins", old.origins, new.origins),
            ("group", old.group, new.group),
            ("kind", old.kind, new.kind),
            ("scope", scope_text(old.scope), scope_text(new.scope)),
            ("base", old.base, new.base),
            ("metal", old.metal, new.metal),
            ("displaced_by", old.displaced_by, new.displaced_by),
            ("status", old.status, new.status),
        ],
    )
    olds = {format_when(p.from_): p for p in old.periods}
    news = {format_when(p.from_): p for p in new.periods}
    periods = _keyed("period", olds, news, _period_changes, _period_summary)
    return rows + [_name_period(row, new.id, where) for row in periods]


def _name_period(row: Change, measure: str, where: str) -> Change:
    """Period rows are keyed by their start; show them as ``measure @ start``."""
    return replace(row, direction=where, item=f"{measure} @ {row.item}")


def _period_summary(period: Period) -> str:
    rate = str(period.rate) if period.rate is not None else _table_size(period.rates)
    parts = [period_text(period), rate]
    if period.heading:
        parts.append(period.heading)
    return " · ".join(parts)


def _until(period: Period | FeePeriod) -> str:
    """A period's end as the diff shows it ("open" when it has none)."""
    return format_when(period.to) if period.to else "open"


def _period_changes(item: str, old: Period, new: Period) -> list[Change]:
    rows = _fields(
        "period",
        "",
        item,
        [
            ("to", _until(old), _until(new)),
            ("rate", old.rate, new.rate),
            ("heading", old.heading, new.heading),
            ("base", old.base, new.base),
            ("displaced_by", old.displaced_by, new.displaced_by),
            ("source", old.source, new.source),
            ("unconfirmed", old.unconfirmed, new.unconfirmed),
        ],
    )
    old_table, new_table = table_of(old), table_of(new)
    if old_table != new_table:
        rows += _table_changes("period", "", item, old_table, new_table)
    return rows


def _party_changes(key: str, old: Party, new: Party) -> list[Change]:
    """The party's own settings, then its fees and taxes with their periods."""
    threshold = (old.duty_threshold, new.duty_threshold)
    rows = _fields(
        "party",
        key,
        key,
        [
            ("name", old.name, new.name),
            ("currency", old.currency, new.currency),
            ("valuation", old.valuation, new.valuation),
            ("insurance_default", old.insurance_default, new.insurance_default),
            ("timezone", old.timezone, new.timezone),
            ("reporting_order", old.reporting_order, new.reporting_order),
            ("duty_threshold", _amount(threshold[0]), _amount(threshold[1])),
        ],
    )
    fees = _keyed(
        "fee", {f.id: f for f in old.fees}, {f.id: f for f in new.fees}, _fee_changes, _periods
    )
    taxes = _keyed(
        "tax", {x.id: x for x in old.taxes}, {x.id: x for x in new.taxes}, _tax_changes, _periods
    )
    return rows + [replace(row, direction=key) for row in (*fees, *taxes)]


def _amount(threshold: DutyThreshold | None) -> object:
    return threshold.amount if threshold else None


def _periods(item: Fee | Tax) -> str:
    return f"{len(item.periods)} period{'s' if len(item.periods) != 1 else ''}"


def _fee_changes(_: str, old: Fee, new: Fee) -> list[Change]:
    rows = _fields(
        "fee", "", new.id, [("name", old.name, new.name), ("modes", old.modes, new.modes)]
    )
    olds = {format_when(p.from_): p for p in old.periods}
    news = {format_when(p.from_): p for p in new.periods}
    periods = _keyed("period", olds, news, _fee_period_changes, _fee_period_summary)
    return rows + [_name_period(row, new.id, "") for row in periods]


def _fee_period_summary(period: FeePeriod) -> str:
    start = format_when(period.from_)
    span = f"from {start}" if period.to is None else f"{start} to {format_when(period.to)}"
    return f"{span} · {period.rate}"


def _fee_period_changes(item: str, old: FeePeriod, new: FeePeriod) -> list[Change]:
    return _fields(
        "period",
        "",
        item,
        [
            ("to", _until(old), _until(new)),
            ("rate", old.rate, new.rate),
            ("min", old.min, new.min),
            ("max", old.max, new.max),
            ("source", old.source, new.source),
            ("unconfirmed", old.unconfirmed, new.unconfirmed),
        ],
    )


def _tax_changes(_: str, old: Tax, new: Tax) -> list[Change]:
    rows = _fields(
        "tax",
        "",
        new.id,
        [
            ("name", old.name, new.name),
            ("kind", old.kind, new.kind),
            ("scope", scope_text(old.scope), scope_text(new.scope)),
        ],
    )
    olds = {format_when(p.from_): p for p in old.periods}
    news = {format_when(p.from_): p for p in new.periods}
    periods = _keyed("period", olds, news, _period_changes, _period_summary)
    return rows + [_name_period(row, new.id, "") for row in periods]


def _membership(plist: ProductList) -> dict[str, str]:
    """Each listed code with when it is listed (``always`` for an inline code)."""
    spans: dict[str, list[str]] = {code: ["always"] for code in plist.codes}
    for row in plist.rows:
        start = format_when(row.start) if row.start else None
        end = format_when(row.end) if row.end else None
        span = (
            (f"{start} to {end}" if end else f"from {start}")
            if start
            else (f"until {end}" if end else "always")
        )
        spans.setdefault(row.digits, []).append(span)
    return {code: "; ".join(sorted(found)) for code, found in spans.items()}


def _list_size(plist: ProductList) -> str:
    count = len(_membership(plist))
    return f"{count:,} code{'s' if count != 1 else ''}"


def _list_changes(key: str, old: ProductList, new: ProductList) -> list[Change]:
    """The list's fields, then a summary row and one row per code added, removed or moved."""
    rows = _fields(
        "list",
        "",
        key,
        [
            ("name", old.name, new.name),
            ("file", old.file, new.file),
            ("source", old.source, new.source),
            ("unconfirmed", old.unconfirmed, new.unconfirmed),
        ],
    )
    before, after = _membership(old), _membership(new)
    if before == after:
        return rows
    per_code = []
    for code in sorted(before.keys() | after.keys()):
        x, y = before.get(code), after.get(code)
        if x != y:
            kind: ChangeKind = "added" if x is None else "removed" if y is None else "changed"
            per_code.append(Change(kind, "list", "", key, "code", x or "", y or "", code))
    summary = Change("changed", "list", "", key, "codes", _list_size(old), _list_size(new))
    return [*rows, summary, *per_code]


def _regime_changes(_: str, old: Regime, new: Regime) -> list[Change]:
    return _fields(
        "regime",
        "",
        new.id,
        [
            ("as_of", format_when(old.as_of), format_when(new.as_of)),
            ("title", old.title, new.title),
            ("description", old.description, new.description),
        ],
    )


def _overrides_text(scenario: Scenario) -> str:
    return "; ".join(
        f"{o.measure}={'off' if o.off else o.rate}" + (f" ({o.heading})" if o.heading else "")
        for o in scenario.overrides
    )


def _scenario_changes(_: str, old: Scenario, new: Scenario) -> list[Change]:
    return _fields(
        "scenario",
        "",
        new.id,
        [
            ("based_on", old.based_on, new.based_on),
            ("as_of", _when(old), _when(new)),
            ("title", old.title, new.title),
            ("overrides", _overrides_text(old), _overrides_text(new)),
            ("add", tuple(m.id for m in old.add), tuple(m.id for m in new.add)),
        ],
    )


def _when(scenario: Scenario) -> str:
    return format_when(scenario.as_of) if scenario.as_of else ""


def _source_changes(key: str, old: Source, new: Source) -> list[Change]:
    return _fields(
        "source",
        "",
        key,
        [("title", old.title, new.title), ("url", old.url, new.url), ("kind", old.kind, new.kind)],
    )
